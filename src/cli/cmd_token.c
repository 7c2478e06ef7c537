/* cli/cmd_token.c: `jobengine token`: asks a running server's /token for an access token.
 * Justifications come from flags, else the STELLAOPS_ORCH_* environment variables. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"

static const cli_optspec opts[] = {
    {"url", 1},
    {"client-id", 1},
    {"client-secret", 1},
    {"scope", 1},
    {"tenant", 1},
    {"quota-reason", 1},
    {"quota-ticket", 1},
    {"backfill-reason", 1},
    {"backfill-ticket", 1},
    {"operator-reason", 1},
    {"operator-ticket", 1},
    {"json", 0},
    {NULL, 0},
};

/* flag, form parameter, environment variable */
static const char *const params[][3] = {
    {"client-id", "client_id", "JOBENGINE_CLIENT_ID"},
    {"client-secret", "client_secret", "JOBENGINE_CLIENT_SECRET"},
    {"scope", "scope", "JOBENGINE_SCOPE"},
    {"tenant", "tenant", "JOBENGINE_TENANT"},
    {"quota-reason", "quota_reason", "STELLAOPS_ORCH_QUOTA_REASON"},
    {"quota-ticket", "quota_ticket", "STELLAOPS_ORCH_QUOTA_TICKET"},
    {"backfill-reason", "backfill_reason", "STELLAOPS_ORCH_BACKFILL_REASON"},
    {"backfill-ticket", "backfill_ticket", "STELLAOPS_ORCH_BACKFILL_TICKET"},
    {"operator-reason", "operator_reason", "STELLAOPS_ORCH_OPERATOR_REASON"},
    {"operator-ticket", "operator_ticket", "STELLAOPS_ORCH_OPERATOR_TICKET"},
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    je_buf_append(ctx, p, size * n);
    return size * n;
}

static void token_usage(void) {
    printf("usage: jobengine token --client-id ID --client-secret S --scope \"SCOPES\"\n"
           "                       [--tenant T] [--quota-reason R] [--quota-ticket T]\n"
           "                       [--backfill-reason R] [--backfill-ticket T]\n"
           "                       [--operator-reason R] [--operator-ticket T]\n"
           "                       [--url URL] [--json]\n\n"
           "Prints the access token (--json: the whole response). Each flag falls back to an\n"
           "environment variable: JOBENGINE_URL, JOBENGINE_CLIENT_ID, JOBENGINE_CLIENT_SECRET,\n"
           "JOBENGINE_SCOPE, JOBENGINE_TENANT, STELLAOPS_ORCH_QUOTA_REASON, ..._QUOTA_TICKET,\n"
           "..._BACKFILL_REASON, ..._BACKFILL_TICKET, ..._OPERATOR_REASON, ..._OPERATOR_TICKET.\n");
}

static int token_result(const cli_args *a, long status, je_buf *body) {
    json_error_t jerr;
    json_t *j = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    int rc = 0;
    if (status == 200 && tok) {
        printf("%s\n", cli_has(a, "json") ? body->data : tok);
    } else {
        const char *code = json_string_value(json_object_get(j, "error"));
        const char *desc = json_string_value(json_object_get(j, "error_description"));
        rc = cli_fail("token", "%s: %s (HTTP %ld)", code ? code : "error",
                      desc ? desc : "unexpected answer", status);
    }
    json_decref(j);
    return rc;
}

int cmd_token(int argc, char **argv) {
    cli_args a;
    if (cli_parse("token", argc, argv, opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return token_usage(), 0;
    const char *url = cli_get_env(&a, "url", "JOBENGINE_URL", JE_DEFAULT_URL);
    CURL *c = curl_easy_init();
    if (!c) return cli_fail("token", "cannot start libcurl");
    je_buf form = JE_BUF_INIT, body = JE_BUF_INIT;
    je_buf_puts(&form, "grant_type=client_credentials");
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        const char *v = cli_get_env(&a, params[i][0], params[i][2], NULL);
        if (!v) continue;
        char *enc = curl_easy_escape(c, v, (int)strlen(v));
        je_buf_printf(&form, "&%s=%s", params[i][1], enc);
        curl_free(enc);
    }
    char endpoint[1024];
    snprintf(endpoint, sizeof endpoint, "%s/token", url);
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    int rc = cr != CURLE_OK ? cli_fail("token", "cannot reach %s: %s", url, curl_easy_strerror(cr))
                            : token_result(&a, status, &body);
    curl_easy_cleanup(c);
    je_buf_free(&form);
    je_buf_free(&body);
    return rc;
}

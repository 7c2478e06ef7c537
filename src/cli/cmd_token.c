/* cli/cmd_token.c: `jobengine token`: asks a running server's /token for an access token.
 * Justifications come from flags, else the STELLAOPS_ORCH_* environment variables. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_http.h"

const cli_optspec cli_token_opts[] = {
    {"url", 1},
    {"cacert", 1},
    {"allow-http", 0},
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
    {"governance-reason", 1},
    {"governance-ticket", 1},
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
    {"governance-reason", "governance_reason", "STELLAOPS_ORCH_GOVERNANCE_REASON"},
    {"governance-ticket", "governance_ticket", "STELLAOPS_ORCH_GOVERNANCE_TICKET"},
};

void cli_token_help(FILE *out) {
    fprintf(out,
            "usage: jobengine token --client-id ID --client-secret S --scope \"SCOPES\"\n"
            "                       [--tenant T] [--quota-reason R] [--quota-ticket T]\n"
            "                       [--backfill-reason R] [--backfill-ticket T]\n"
            "                       [--operator-reason R] [--operator-ticket T]\n"
            "                       [--governance-reason R] [--governance-ticket T]\n"
            "                       [--url URL] [--cacert FILE] [--allow-http] [--json]\n\n"
            "Prints the access token (--json: the whole response). Each flag falls back to an\n"
            "environment variable: JOBENGINE_URL, JOBENGINE_CLIENT_ID, JOBENGINE_CLIENT_SECRET,\n"
            "JOBENGINE_SCOPE, JOBENGINE_TENANT, STELLAOPS_ORCH_QUOTA_REASON, ..._QUOTA_TICKET,\n"
            "..._BACKFILL_REASON, ..._BACKFILL_TICKET, ..._OPERATOR_REASON, ..._OPERATOR_TICKET,\n"
            "..._GOVERNANCE_REASON, ..._GOVERNANCE_TICKET.\n"
            "An https:// server's certificate is verified against --cacert FILE\n"
            "(JOBENGINE_CACERT; default: the system's CAs); plain http:// is sent only to a\n"
            "loopback host unless --allow-http (JOBENGINE_ALLOW_HTTP=1).\n");
}

static int token_result(const cli_args *a, const cli_resp *r) {
    const char *tok = json_string_value(json_object_get(r->json, "access_token"));
    if (r->status == 200 && tok) {
        printf("%s\n", cli_has(a, "json") ? r->body.data : tok);
        return 0;
    }
    const char *code = json_string_value(json_object_get(r->json, "error"));
    const char *desc = json_string_value(json_object_get(r->json, "error_description"));
    return cli_fail("token", "%s: %s (HTTP %ld)", code ? code : "error",
                    desc ? desc : "unexpected answer", r->status);
}

int cmd_token(int argc, char **argv) {
    cli_args a;
    if (cli_parse("token", argc, argv, cli_token_opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return cli_token_help(stdout), 0;
    cli_http h;
    int rc = cli_http_open(&h, "token", &a);
    const char *form[sizeof params / sizeof params[0]][2];
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        form[i][0] = params[i][1];
        form[i][1] = cli_get_env(&a, params[i][0], params[i][2], NULL);
    }
    cli_resp r;
    if (rc == 0) rc = cli_http_token_request(&h, form, sizeof form / sizeof form[0], &r);
    if (rc == 0) {
        rc = token_result(&a, &r);
        cli_resp_free(&r);
    }
    cli_http_close(&h);
    return rc;
}

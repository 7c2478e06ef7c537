/* cli/cli_http.c: the HTTP client of the server-talking subcommands (see cli_http.h). */
#include "cli/cli_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/b64url.h"
#include "core/jcs.h"

const char cli_http_usage[] =
    "Server and credentials (each flag falls back to its environment variable):\n"
    "  --url URL              the server (JOBENGINE_URL; default " JE_DEFAULT_URL ")\n"
    "  --cacert FILE          PEM CA certificates an https:// server's certificate is\n"
    "                         verified against (JOBENGINE_CACERT; default: the system's)\n"
    "  --allow-http           send over plain http:// to a host that is not loopback\n"
    "                         (JOBENGINE_ALLOW_HTTP=1; refused otherwise: tokens would\n"
    "                         cross the network in clear)\n"
    "  --token TOKEN          a bearer token to use as is (JOBENGINE_TOKEN); otherwise one is\n"
    "                         requested for just the scope the call needs, with\n"
    "  --client-id ID         (JOBENGINE_CLIENT_ID)\n"
    "  --client-secret S      (JOBENGINE_CLIENT_SECRET)\n"
    "  --tenant T             the tenant to act for (JOBENGINE_TENANT); also sent as\n"
    "                         X-StellaOps-Tenant, so a token of another tenant is refused\n"
    "  --token-reason R       the justification put into a requested token for a scope that\n"
    "  --token-ticket T       needs one (STELLAOPS_ORCH_QUOTA_REASON / _TICKET, ...);\n"
    "                         default: the command's --reason / --ticket\n"
    "  --json                 print the server's JSON instead of text for people\n"
    "Errors: \"jobengine CMD: CODE: message\" on stderr, exit 1; usage errors exit 2.\n";

const cli_scope cli_scope_read = {"orch:read", NULL, NULL, NULL, NULL};
const cli_scope cli_scope_jobs = {"orch:jobs", NULL, NULL, NULL, NULL};
const cli_scope cli_scope_quota = {"orch:quota", "quota_reason", "quota_ticket",
                                   "STELLAOPS_ORCH_QUOTA_REASON", "STELLAOPS_ORCH_QUOTA_TICKET"};
const cli_scope cli_scope_backfill = {"orch:backfill", "backfill_reason", "backfill_ticket",
                                      "STELLAOPS_ORCH_BACKFILL_REASON",
                                      "STELLAOPS_ORCH_BACKFILL_TICKET"};
const cli_scope cli_scope_operate = {"orch:operate", "operator_reason", "operator_ticket",
                                     "STELLAOPS_ORCH_OPERATOR_REASON",
                                     "STELLAOPS_ORCH_OPERATOR_TICKET"};
const cli_scope cli_scope_governance = {"orch:governance", "governance_reason", "governance_ticket",
                                        "STELLAOPS_ORCH_GOVERNANCE_REASON",
                                        "STELLAOPS_ORCH_GOVERNANCE_TICKET"};

static int has_line_break(const char *s) {
    return s && strpbrk(s, "\r\n") != NULL;
}

static void wipe_free(char *p, size_t n) {
    if (!p) return;
    explicit_bzero(p, n);
    free(p);
}

/* 1 when host (without a port; IPv6 without brackets) is this machine's loopback. */
static int is_loopback(const char *host, size_t n) {
    if ((n == 9 && strncasecmp(host, "localhost", 9) == 0) || (n == 3 && !strncmp(host, "::1", 3)))
        return 1;
    if (n < 4 || strncmp(host, "127.", 4) != 0) return 0;
    for (size_t i = 4; i < n; i++)
        if (!isdigit((unsigned char)host[i]) && host[i] != '.') return 0;
    return 1;
}

int cli_http_check_scheme(const char *cmd, const char *url, const cli_args *a) {
    if (strncasecmp(url, "https://", 8) == 0) return 0;
    if (strncasecmp(url, "http://", 7) != 0)
        return cli_fail(cmd, "the server URL '%s' must start with https:// or http://", url), 2;
    const char *host = url + 7, *end;
    size_t n;
    if (*host == '[') { /* [v6]:port */
        end = strchr(host, ']');
        if (!end) return cli_fail(cmd, "the server URL '%s' is not usable", url), 2;
        host++;
        n = (size_t)(end - host);
    } else {
        n = strcspn(host, ":/?#");
    }
    if (is_loopback(host, n)) return 0;
    const char *allow = getenv("JOBENGINE_ALLOW_HTTP");
    if (cli_has(a, "allow-http") || (allow && strcmp(allow, "1") == 0)) return 0;
    return cli_fail(cmd,
                    "refusing plain http:// to %.*s, which is not loopback: tokens and secrets "
                    "would cross the network in clear. Use https:// (with --cacert for a private "
                    "CA), or --allow-http (JOBENGINE_ALLOW_HTTP=1) to send anyway",
                    (int)n, host),
           2;
}

int cli_http_open(cli_http *h, const char *cmd, const cli_args *a) {
    memset(h, 0, sizeof *h);
    h->cmd = cmd;
    const char *url = cli_get_env(a, "url", "JOBENGINE_URL", JE_DEFAULT_URL);
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--; /* "http://host/" + "/token" */
    if (n == 0 || n >= sizeof h->url_buf || has_line_break(url))
        return cli_fail(cmd, "the server URL '%s' is not usable", url), 2;
    memcpy(h->url_buf, url, n);
    h->url_buf[n] = '\0';
    h->url = h->url_buf;
    if (cli_http_check_scheme(cmd, h->url, a) != 0) return 2;
    h->cacert = cli_get_env(a, "cacert", "JOBENGINE_CACERT", NULL);
    h->tenant = cli_get_env(a, "tenant", "JOBENGINE_TENANT", NULL);
    if (has_line_break(h->tenant)) return cli_fail(cmd, "--tenant holds a line break"), 2;
    if (!(h->curl = curl_easy_init())) return cli_fail(cmd, "cannot start libcurl");
    return 0;
}

void cli_http_close(cli_http *h) {
    if (h->token) wipe_free(h->token, strlen(h->token));
    h->token = NULL;
    if (h->curl) curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

void cli_resp_free(cli_resp *r) {
    json_decref(r->json);
    r->json = NULL;
    wipe_free(r->body.data, r->body.cap); /* a /token answer holds a token */
    r->body = (je_buf)JE_BUF_INIT;
}

void cli_http_escape(je_buf *out, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            je_buf_putc(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            je_buf_append(out, e, 3);
        }
    }
}

/* ---- one exchange ------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    je_buf_append(ctx, p, size * n);
    return size * n;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    while (n > 0 && (*v == ' ' || *v == '\t')) v++, n--;
    while (n > 0 && isspace((unsigned char)v[n - 1])) n--;
    snprintf(dst, cap, "%.*s", (int)n, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
    cli_resp *r = ctx;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new answer (after a 100): start over */
        r->retry_after[0] = r->etag[0] = r->location[0] = '\0';
        r->ratelimit_limit[0] = r->ratelimit_remaining[0] = r->ratelimit_reset[0] = '\0';
        return len;
    }
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {
        {"Retry-After", offsetof(cli_resp, retry_after), sizeof((cli_resp *)0)->retry_after},
        {"ETag", offsetof(cli_resp, etag), sizeof((cli_resp *)0)->etag},
        {"Location", offsetof(cli_resp, location), sizeof((cli_resp *)0)->location},
        {"X-RateLimit-Limit", offsetof(cli_resp, ratelimit_limit),
         sizeof((cli_resp *)0)->ratelimit_limit},
        {"X-RateLimit-Remaining", offsetof(cli_resp, ratelimit_remaining),
         sizeof((cli_resp *)0)->ratelimit_remaining},
        {"X-RateLimit-Reset", offsetof(cli_resp, ratelimit_reset),
         sizeof((cli_resp *)0)->ratelimit_reset},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t k = strlen(wanted[i].name);
        if (len > k && p[k] == ':' && strncasecmp(p, wanted[i].name, k) == 0)
            copy_value((char *)r + wanted[i].off, wanted[i].cap, p + k + 1, len - k - 1);
    }
    return len;
}

static int add_header(struct curl_slist **list, const char *line) {
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l) return -1;
    *list = l;
    return 0;
}

static struct curl_slist *request_headers(const cli_http *h, const char *ctype,
                                          const char *const *extra, int *bad) {
    struct curl_slist *l = NULL;
    char line[4096];
    *bad = 0;
    int rc = add_header(&l, "Accept: application/json");
    rc |= add_header(&l, "Expect:"); /* no 100-continue round trip */
    if (ctype) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        rc |= add_header(&l, line);
    }
    if (h->token) {
        je_buf auth = JE_BUF_INIT;
        je_buf_printf(&auth, "Authorization: Bearer %s", h->token);
        rc |= add_header(&l, auth.data);
        wipe_free(auth.data, auth.cap);
    }
    if (h->tenant) {
        snprintf(line, sizeof line, "X-StellaOps-Tenant: %s", h->tenant);
        rc |= add_header(&l, line);
    }
    for (; extra && *extra; extra++) {
        *bad |= has_line_break(*extra);
        rc |= add_header(&l, *extra);
    }
    *bad |= rc != 0;
    return l;
}

/* One transfer on h's handle: what it holds until it ends (the headers hold the bearer token). */
typedef struct xfer {
    struct curl_slist *hdrs;
    je_buf url;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

/* Clears out and sets up h's handle for h->url + path with the request's headers, catching the
 * answer's headers into out; the caller adds the rest. 0, or 1 after a message (bad: why a header
 * could not be built). */
static int xfer_begin(xfer *x, cli_http *h, const char *path, const char *ctype,
                      const char *const *extra, cli_resp *out, const char *bad) {
    memset(out, 0, sizeof *out);
    int broken;
    x->hdrs = request_headers(h, ctype, extra, &broken);
    if (broken) {
        curl_slist_free_all(x->hdrs);
        return cli_fail(h->cmd, "a request header could not be built (%s)", bad);
    }
    x->url = (je_buf)JE_BUF_INIT;
    je_buf_printf(&x->url, "%s%s", h->url, path);
    x->errbuf[0] = '\0';
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, x->url.data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    /* https only, certificate and host name always verified; no redirect is followed */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (h->cacert) curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
    return 0;
}

/* Runs the transfer, sets out->status and frees what x held. */
static CURLcode xfer_perform(xfer *x, cli_http *h, cli_resp *out) {
    CURLcode cr = curl_easy_perform(h->curl);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(x->hdrs); /* held the bearer token: freed, no longer referenced */
    je_buf_free(&x->url);
    return cr;
}

/* "cannot reach URL: what curl said", or after an answer began "the answer from URL broke off:
 * ...". Returns 1. */
static int xfer_fail(const xfer *x, const cli_http *h, CURLcode cr, int broke_off) {
    const char *e = x->errbuf;
    return cli_fail(h->cmd, "%s%s%s: %s%s%s%s", broke_off ? "the answer from " : "cannot reach ",
                    h->url, broke_off ? " broke off" : "", curl_easy_strerror(cr), e[0] ? " (" : "",
                    e, e[0] ? ")" : "");
}

/* Sends method url with payload (or none); fills out. 0, or 1 after a message. */
static int exchange(cli_http *h, const char *method, const char *path, const char *ctype,
                    const char *payload, const char *const *extra, cli_resp *out) {
    xfer x;
    if (xfer_begin(&x, h, path, ctype, extra, out, "line break or no memory") != 0) return 1;
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    if (payload || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(payload ? strlen(payload) : 0));
    }
    if (strcmp(method, "GET") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cr = xfer_perform(&x, h, out);
    if (cr != CURLE_OK) return cli_resp_free(out), xfer_fail(&x, h, cr, 0);
    json_error_t jerr;
    if (out->body.len) out->json = je_json_loadb(out->body.data, out->body.len, 0, &jerr);
    return 0;
}

int cli_http_request(cli_http *h, const char *method, const char *path, const json_t *body,
                     const char *const *headers, cli_resp *out) {
    char *payload = NULL;
    if (body && !(payload = je_json_dumps_ordered(body, NULL)))
        return cli_fail(h->cmd, "the request body could not be written as JSON");
    int rc = exchange(h, method, path, body ? "application/json" : NULL, payload, headers, out);
    free(payload);
    return rc;
}

int cli_http_token_request(cli_http *h, const char *const (*params)[2], size_t n, cli_resp *out) {
    je_buf form = JE_BUF_INIT;
    je_buf_puts(&form, "grant_type=client_credentials");
    for (size_t i = 0; i < n; i++) {
        if (!params[i][0] || !params[i][1]) continue;
        je_buf_printf(&form, "&%s=", params[i][0]);
        cli_http_escape(&form, params[i][1]);
    }
    /* the client authenticates itself: no bearer, and the tenant goes in the form */
    char *saved = h->token;
    const char *tenant = h->tenant;
    h->token = NULL;
    h->tenant = NULL;
    int rc =
        exchange(h, "POST", "/token", "application/x-www-form-urlencoded", form.data, NULL, out);
    h->token = saved;
    h->tenant = tenant;
    wipe_free(form.data, form.cap); /* holds the client secret */
    return rc;
}

/* ---- credentials -------------------------------------------------------------------------- */

static int use_given_token(cli_http *h, const char *tok) {
    if (!*tok || has_line_break(tok) || strchr(tok, ' '))
        return cli_fail(h->cmd, "the token given (--token or JOBENGINE_TOKEN) is malformed"), 2;
    if (!(h->token = strdup(tok))) return cli_fail(h->cmd, "out of memory");
    return 0;
}

int cli_http_authorize(cli_http *h, const cli_args *a, const cli_scope *s, const char *reason,
                       const char *ticket) {
    const char *tok = cli_get_env(a, "token", "JOBENGINE_TOKEN", NULL);
    if (tok) return use_given_token(h, tok);
    const char *id = cli_get_env(a, "client-id", "JOBENGINE_CLIENT_ID", NULL);
    const char *secret = cli_get_env(a, "client-secret", "JOBENGINE_CLIENT_SECRET", NULL);
    if (!id || !secret)
        return cli_fail(h->cmd, "no credentials: give --token (or JOBENGINE_TOKEN), or "
                                "--client-id and --client-secret (or JOBENGINE_CLIENT_ID and "
                                "JOBENGINE_CLIENT_SECRET)"),
               2;
    const char *r = NULL, *t = NULL;
    if (s->reason_param) {
        r = cli_get_env(a, "token-reason", s->reason_env, reason);
        t = cli_get_env(a, "token-ticket", s->ticket_env, ticket);
        if (!r)
            return cli_fail(h->cmd, "scope %s needs a reason: give --reason, --token-reason or %s",
                            s->scope, s->reason_env),
                   2;
    }
    const char *const params[][2] = {{"client_id", id},    {"client_secret", secret},
                                     {"scope", s->scope},  {"tenant", h->tenant},
                                     {s->reason_param, r}, {s->ticket_param, t}};
    cli_resp resp;
    int rc = cli_http_token_request(h, params, sizeof params / sizeof params[0], &resp);
    if (rc != 0) return rc;
    const char *at = json_string_value(json_object_get(resp.json, "access_token"));
    if (resp.status == 200 && at && !has_line_break(at))
        rc = (h->token = strdup(at)) ? 0 : cli_fail(h->cmd, "out of memory");
    else
        rc = cli_http_fail(h, &resp);
    cli_resp_free(&resp);
    return rc;
}

int cli_http_connect(cli_http *h, const cli_args *a, const cli_scope *s, const char *reason,
                     const char *ticket) {
    int rc = cli_http_open(h, a->cmd, a);
    if (rc == 0) rc = cli_http_authorize(h, a, s, reason, ticket);
    return rc;
}

int cli_http_renew(cli_http *h, const cli_args *a, const cli_scope *s) {
    char *old = h->token;
    h->token = NULL;
    int rc = cli_http_authorize(h, a, s, NULL, NULL);
    char *fresh = h->token;
    h->token = old;
    if (rc == 0) {
        if (old) wipe_free(old, strlen(old));
        h->token = fresh;
    }
    return rc;
}

long long cli_http_token_expiry(const cli_http *h) {
    const char *p = h->token ? strchr(h->token, '.') : NULL, *end = p ? strchr(p + 1, '.') : NULL;
    if (!end || end - p - 1 > 8192) return 0;
    unsigned char claims[8192];
    size_t n = 0;
    if (je_b64url_decode(p + 1, (size_t)(end - p - 1), claims, &n) != 0) return 0;
    json_t *c = json_loadb((const char *)claims, n, 0, NULL);
    json_t *exp = json_object_get(c, "exp");
    long long v = json_is_integer(exp) ? (long long)json_integer_value(exp) : 0;
    json_decref(c);
    return v;
}

/* ---- answers ------------------------------------------------------------------------------ */

int cli_http_fail(const cli_http *h, const cli_resp *r) {
    const json_t *e = json_object_get(r->json, "error");
    const char *code = NULL, *msg = NULL;
    if (json_is_object(e)) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
    } else if (json_is_string(e)) {
        code = json_string_value(e);
        msg = json_string_value(json_object_get(r->json, "error_description"));
    }
    char retry[64] = "";
    if (r->retry_after[0]) snprintf(retry, sizeof retry, "; retry after %s s", r->retry_after);
    if (code) return cli_fail(h->cmd, "%s: %s%s", code, msg ? msg : "(no message)", retry);
    const char *text = r->body.data && r->body.data[0] ? r->body.data : "unexpected answer";
    int n = (int)strcspn(text, "\r\n");
    return cli_fail(h->cmd, "HTTP %ld: %.*s%s", r->status, n > 200 ? 200 : n, text, retry);
}

void cli_http_print_json(const json_t *v) {
    char *s = je_json_dumps_ordered(v, NULL);
    if (s) printf("%s\n", s);
    free(s);
}

void cli_http_print_body(const cli_resp *r) {
    if (!r->body.len) return;
    fwrite(r->body.data, 1, r->body.len, stdout);
    if (r->body.data[r->body.len - 1] != '\n') putchar('\n');
}

/* One page into items; *cont becomes the next page's token, or NULL on the last page. */
static int get_page(cli_http *h, const char *path, json_t *items, char **cont) {
    cli_resp r;
    if (cli_http_request(h, "GET", path, NULL, NULL, &r) != 0) return 1;
    json_t *page = json_object_get(r.json, "items");
    const char *next = json_string_value(json_object_get(r.json, "continuationToken"));
    int rc = 0;
    free(*cont);
    *cont = NULL;
    if (r.status != 200 || !json_is_array(page))
        rc = cli_http_fail(h, &r);
    else if (json_array_extend(items, page) != 0 || (next && !(*cont = strdup(next))))
        rc = cli_fail(h->cmd, "out of memory");
    cli_resp_free(&r);
    return rc;
}

int cli_http_get_all(cli_http *h, const char *path, json_t *items) {
    char *cont = NULL;
    je_buf p = JE_BUF_INIT;
    int rc = 0;
    for (long pages = 0; rc == 0; pages++) {
        je_buf_reset(&p);
        je_buf_puts(&p, path);
        if (cont) je_buf_puts(&p, "&continuationToken="), cli_http_escape(&p, cont);
        if (pages > 100000) rc = cli_fail(h->cmd, "the list does not end (server fault?)");
        if (rc == 0) rc = get_page(h, p.data, items, &cont);
        if (!cont) break;
    }
    free(cont);
    je_buf_free(&p);
    return rc;
}

/* ---- streaming download (audit export) ---------------------------------------------------- */

typedef struct download_ctx {
    CURL *curl;
    cli_resp *out;
    cli_http_sink_fn sink;
    void *ctx;
    int sink_failed;
} download_ctx;

static size_t on_download(char *p, size_t size, size_t n, void *ctx) {
    download_ctx *d = ctx;
    long status = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) return on_body(p, size, n, &d->out->body);
    if (d->sink(d->ctx, p, size * n) != 0) {
        d->sink_failed = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return size * n;
}

int cli_http_download(cli_http *h, const char *path, cli_http_sink_fn sink, void *ctx,
                      cli_resp *out) {
    xfer x;
    if (xfer_begin(&x, h, path, NULL, NULL, out, "no memory") != 0) return 1;
    CURL *c = h->curl;
    download_ctx d = {c, out, sink, ctx, 0};
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* no overall limit, but no stall either */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_download);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    CURLcode cr = xfer_perform(&x, h, out);
    if (cr != CURLE_OK) {
        cli_resp_free(out);
        return d.sink_failed ? 1 : xfer_fail(&x, h, cr, out->status != 0);
    }
    if (out->body.len) out->json = json_loadb(out->body.data, out->body.len, 0, NULL);
    return 0;
}

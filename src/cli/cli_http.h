/* cli/cli_http.h: the client every server-talking subcommand shares (quota, job, backfill, audit,
 * token): where the server is, how a bearer token is obtained, one request function, and one
 * error form ("jobengine CMD: CODE: message" on stderr, exit 1).
 *
 * Where the server is: --url, else JOBENGINE_URL, else JE_DEFAULT_URL.
 * The bearer token: --token / JOBENGINE_TOKEN as given; else a client credentials grant
 * (--client-id/--client-secret or JOBENGINE_CLIENT_ID/JOBENGINE_CLIENT_SECRET, --tenant or
 * JOBENGINE_TENANT) asking only for the scope the call needs, with the justification that scope
 * requires (--token-reason/--token-ticket, else the scope's STELLAOPS_ORCH_* variables, else the
 * command's own --reason/--ticket). A tenant given is also sent as X-StellaOps-Tenant, so a token
 * of another tenant is refused by the server instead of acting elsewhere.
 * Tokens and secrets are never printed; their buffers are wiped when freed. */
#ifndef JE_CLI_CLI_HTTP_H
#define JE_CLI_CLI_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "cli/cli.h"
#include "core/buf.h"

/* The options every server-talking command accepts, to merge with its own. */
#define CLI_HTTP_OPTS                                                                              \
    {"url", 1}, {"cacert", 1}, {"allow-http", 0}, {"token", 1}, {"client-id", 1},                  \
        {"client-secret", 1}, {"tenant", 1}, {"token-reason", 1}, {"token-ticket", 1}, {           \
        "json", 0                                                                                  \
    }

/* Usage text of those options, for --help. */
extern const char cli_http_usage[];

/* A scope and the justification the Authority requires with it (api.md §2.2). */
typedef struct cli_scope {
    const char *scope;        /* "orch:quota" */
    const char *reason_param; /* "quota_reason", or NULL when the scope needs none */
    const char *ticket_param; /* "quota_ticket" */
    const char *reason_env;   /* "STELLAOPS_ORCH_QUOTA_REASON" */
    const char *ticket_env;   /* "STELLAOPS_ORCH_QUOTA_TICKET" */
} cli_scope;

extern const cli_scope cli_scope_read, cli_scope_jobs, cli_scope_quota, cli_scope_backfill,
    cli_scope_operate, cli_scope_governance;

typedef struct cli_http {
    const char *cmd;    /* "quota set": the prefix of every message */
    const char *url;    /* base URL, without a trailing slash */
    const char *tenant; /* --tenant / JOBENGINE_TENANT, or NULL */
    const char *cacert; /* --cacert / JOBENGINE_CACERT: the CAs an https server is checked
                           against (default: the system's), or NULL */
    char *token;        /* the bearer token (owned, wiped on close), or NULL */
    void *curl;         /* CURL * */
    char url_buf[1024];
} cli_http;

/* One answer. Header values are "" when absent. */
typedef struct cli_resp {
    long status;
    je_buf body;  /* the raw body, NUL-terminated */
    json_t *json; /* the parsed body, or NULL (empty or not JSON) */
    char retry_after[32];
    char etag[64];
    char location[256];
    char ratelimit_limit[32];
    char ratelimit_remaining[32];
    char ratelimit_reset[32];
} cli_resp;

/* Resolves the base URL from a: http:// or https://; plain http:// only to a loopback host
 * unless --allow-http (JOBENGINE_ALLOW_HTTP=1): a token or secret would cross the network in
 * clear. An https server's certificate is always verified (--cacert / JOBENGINE_CACERT, else the
 * system's CAs). Returns 0, or 2 after printing a message. */
int cli_http_open(cli_http *h, const char *cmd, const cli_args *a);
/* The scheme rule of cli_http_open for url alone. 0, or 2 after printing why. */
int cli_http_check_scheme(const char *cmd, const char *url, const cli_args *a);
void cli_http_close(cli_http *h);

/* Sets h->token for scope s: --token / JOBENGINE_TOKEN, else a client credentials grant.
 * reason/ticket: the command's own --reason/--ticket (last fallback for the justification), or
 * NULL. Returns 0; 1 when the server refused or could not be reached; 2 when credentials or a
 * required reason are missing (each after printing a message). */
int cli_http_authorize(cli_http *h, const cli_args *a, const cli_scope *s, const char *reason,
                       const char *ticket);

/* One request to h->url + path (path already percent-encoded where needed), with the bearer
 * token when h has one, body as application/json when not NULL, and extra "Name: value" headers
 * (NULL-terminated list, or NULL). Returns 0 when the server answered (any status; out filled,
 * free it with cli_resp_free), or 1 after printing why it could not be reached. */
int cli_http_request(cli_http *h, const char *method, const char *path, const json_t *body,
                     const char *const *headers, cli_resp *out);

/* A new token for scope s in h->token (a long-running command refreshing a token that expires
 * or was refused), asked for as cli_http_authorize does (no command's --reason); when that fails,
 * h keeps the token it had. Returns as cli_http_authorize. */
int cli_http_renew(cli_http *h, const cli_args *a, const cli_scope *s);

/* The exp claim of h->token in seconds since the epoch, read without verifying the token (the
 * server does that); 0 when there is no token or it is not a JWT with a numeric exp. */
long long cli_http_token_expiry(const cli_http *h);

/* cli_http_open, then cli_http_authorize for scope s: the usual start of a command. 0, 1 or 2 as
 * those; close h whatever it returns. */
int cli_http_connect(cli_http *h, const cli_args *a, const cli_scope *s, const char *reason,
                     const char *ticket);

/* POST /token with grant_type=client_credentials and the given form parameters ({name, value}
 * pairs; a NULL value is left out). Returns as cli_http_request. */
int cli_http_token_request(cli_http *h, const char *const (*params)[2], size_t n, cli_resp *out);

/* Percent-encodes s (RFC 3986 unreserved kept) onto out, for paths and queries. */
void cli_http_escape(je_buf *out, const char *s);

/* Prints the answer's error in the common form and returns 1: "CODE: message" from the JSON
 * envelope (error.code, error.message) or the OAuth form (error, error_description), else the
 * HTTP status and the start of the body. */
int cli_http_fail(const cli_http *h, const cli_resp *r);

/* Prints v on stdout as the server writes JSON (members in order, shortest numbers). */
void cli_http_print_json(const json_t *v);

void cli_resp_free(cli_resp *r);

/* Prints the answer's body on stdout as the server wrote it, ending in one newline (--json). */
void cli_http_print_body(const cli_resp *r);

/* GETs path (holding its query already, "...?limit=50") and every following page
 * (continuationToken), appending each page's items to items. Returns 0, or 1 after printing the
 * server's refusal or why it could not be reached. */
int cli_http_get_all(cli_http *h, const char *path, json_t *items);

/* Streams GET path (audit export): each piece of a 2xx body goes to sink(ctx, data, n) as it
 * arrives (sink returns 0, or -1 to stop: it has printed why), with no overall time limit (a
 * transfer that stalls for 60 s fails); any other answer is kept in out as cli_http_request keeps
 * it, for cli_http_fail. Returns 0 when the server answered completely (out filled, its body
 * empty after a 2xx; free it), or 1 after printing why not (unreachable, cut off, sink). */
typedef int (*cli_http_sink_fn)(void *ctx, const char *data, size_t n);
int cli_http_download(cli_http *h, const char *path, cli_http_sink_fn sink, void *ctx,
                      cli_resp *out);

#endif

/* cli/cmd_quota.c: `jobengine quota list|get|create|set|pause|resume|delete|summary|acquire|
 * release`, the quota routes of api.md §3.3 on a running server. Each subcommand checks its
 * arguments first (a bad one is exit 2 and nothing is sent), builds one request, gets a token for
 * just the scope it needs (cli_http.h), and prints the answer: text for people, or with --json
 * the server's JSON as it came. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "core/jcs.h"
#include "core/quota.h"
#include "core/timefmt.h"

#define MAX_INT53 9007199254740991LL
#define QUOTAS "/jobengine/quotas"

/* The one request a subcommand makes (list: its first page). */
typedef struct qreq {
    const char *method;
    je_buf path;
    json_t *body;       /* owned, or NULL */
    const char *hdr[3]; /* NULL-terminated */
    size_t n_hdr;
    char hdr_buf[2][320];
    const char *reason, *ticket; /* the command's --reason / --ticket, for the token too */
} qreq;

typedef struct quota_sub quota_sub;
struct quota_sub {
    const char *name;
    const cli_scope *scope;
    int takes_id;
    const cli_optspec *opts;
    const char *synopsis, *about;
    int (*prep)(const cli_args *a, qreq *q); /* 0, or 2 after a usage error */
    void (*show)(const cli_args *a, const cli_resp *r);
    int (*run)(cli_http *h, const cli_args *a, const quota_sub *s, qreq *q); /* NULL: one call */
};

/* ---- checking arguments ------------------------------------------------------------------- */

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n) return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int bad_int(const cli_args *a, const char *opt, int64_t lo, int64_t hi) {
    cli_fail(a->cmd, "--%s must be a whole number from %lld to %lld", opt, (long long)lo,
             (long long)hi);
    return 2;
}

/* --opt N (lo..hi) into body[field] when given. 0, or 2. */
static int put_int(const cli_args *a, json_t *body, const char *opt, const char *field, int64_t lo,
                   int64_t hi) {
    const char *v = cli_get(a, opt);
    int64_t n;
    if (!v) return 0;
    if (parse_int(v, lo, hi, &n) != 0) return bad_int(a, opt, lo, hi);
    json_object_set_new(body, field, json_integer(n));
    return 0;
}

/* --refill X: a positive finite decimal number. */
static int put_refill(const cli_args *a, json_t *body) {
    const char *v = cli_get(a, "refill");
    if (!v) return 0;
    char *end = NULL;
    size_t n = strlen(v);
    double d = n && strspn(v, "0123456789.eE+-") == n ? strtod(v, &end) : NAN;
    if (!end || *end || !isfinite(d) || d <= 0)
        return cli_fail(a->cmd, "--refill must be a positive number of tokens per second"), 2;
    json_object_set_new(body, "refillPerSecond", json_real(d));
    return 0;
}

static const char *const limit_opts[][2] = {
    {"max-active", "maxActive"}, {"max-per-hour", "maxPerHour"}, {"burst", "burstCapacity"}};

static int put_limits(const cli_args *a, json_t *body) {
    for (size_t i = 0; i < 3; i++)
        if (put_int(a, body, limit_opts[i][0], limit_opts[i][1], 1, MAX_INT53) != 0) return 2;
    return put_refill(a, body);
}

/* --reason / --ticket into the body (api.md §3.2: the body is the first source). */
static void put_justification(const cli_args *a, json_t *body, qreq *q) {
    q->reason = cli_get(a, "reason");
    q->ticket = cli_get(a, "ticket");
    if (q->reason) json_object_set_new(body, "reason", json_string(q->reason));
    if (q->ticket) json_object_set_new(body, "ticket", json_string(q->ticket));
}

/* Adds "name: value" (value through fmt) to the request's headers. Returns 0. */
static int add_header(qreq *q, const char *name, const char *fmt, const char *v) {
    char *line = q->hdr_buf[q->n_hdr];
    int n = snprintf(line, sizeof q->hdr_buf[0], "%s: ", name);
    snprintf(line + n, sizeof q->hdr_buf[0] - (size_t)n, fmt, v);
    q->hdr[q->n_hdr++] = line;
    return 0;
}

/* --idempotency-key K: printable ASCII, 1-255 characters. */
static int put_idempotency_key(const cli_args *a, qreq *q) {
    const char *k = cli_get(a, "idempotency-key");
    if (!k) return 0;
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e) n = 0;
    if (n == 0 || n > 255)
        return cli_fail(a->cmd, "--idempotency-key must be 1-255 printable ASCII characters"), 2;
    return add_header(q, "Idempotency-Key", "%s", k);
}

/* --if-match VERSION (or *): sent as If-Match: "VERSION". */
static int put_if_match(const cli_args *a, qreq *q) {
    const char *v = cli_get(a, "if-match");
    int64_t n;
    if (!v) return 0;
    if (strcmp(v, "*") == 0) return add_header(q, "If-Match", "%s", v);
    if (parse_int(v, 0, MAX_INT53, &n) != 0)
        return cli_fail(a->cmd, "--if-match must be a version number (or *)"), 2;
    return add_header(q, "If-Match", "\"%s\"", v);
}

/* q->path = /jobengine/quotas/ID + suffix */
static void id_path(const cli_args *a, qreq *q, const char *suffix) {
    je_buf_puts(&q->path, QUOTAS "/");
    cli_http_escape(&q->path, a->pos[0]);
    je_buf_puts(&q->path, suffix);
}

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_list(const cli_args *a, qreq *q) {
    const char *jt = cli_get(a, "job-type"), *paused = cli_get(a, "paused");
    int64_t limit = 500;
    if (cli_has(a, "limit") && parse_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return bad_int(a, "limit", 1, 500);
    if (jt && !*jt) return cli_fail(a->cmd, "--job-type must not be empty"), 2;
    if (paused && strcmp(paused, "true") != 0 && strcmp(paused, "false") != 0)
        return cli_fail(a->cmd, "--paused must be true or false"), 2;
    q->method = "GET";
    je_buf_printf(&q->path, QUOTAS "?limit=%lld", (long long)limit);
    if (jt) je_buf_puts(&q->path, "&jobType="), cli_http_escape(&q->path, jt);
    if (paused) je_buf_printf(&q->path, "&paused=%s", paused);
    return 0;
}

static int prep_get(const cli_args *a, qreq *q) {
    q->method = "GET";
    id_path(a, q, "");
    return 0;
}

static int prep_summary(const cli_args *a, qreq *q) {
    q->method = "GET";
    je_buf_puts(&q->path, QUOTAS "/summary");
    return 0;
}

static int prep_create(const cli_args *a, qreq *q) {
    static const char *const required[] = {"job-type", "max-active", "max-per-hour", "burst",
                                           "refill"};
    for (size_t i = 0; i < 5; i++)
        if (!cli_has(a, required[i]))
            return cli_fail(a->cmd, "--%s is required (see --help)", required[i]), 2;
    if (!*cli_get(a, "job-type")) return cli_fail(a->cmd, "--job-type must not be empty"), 2;
    q->method = "POST";
    je_buf_puts(&q->path, QUOTAS);
    q->body = json_pack("{s:s}", "jobType", cli_get(a, "job-type"));
    if (put_limits(a, q->body) != 0 || put_idempotency_key(a, q) != 0) return 2;
    put_justification(a, q->body, q);
    return 0;
}

static int prep_set(const cli_args *a, qreq *q) {
    q->method = "PUT";
    id_path(a, q, "");
    q->body = json_object();
    if (put_limits(a, q->body) != 0 || put_if_match(a, q) != 0) return 2;
    const char *at = cli_get(a, "expires-at");
    int64_t ms;
    if (at && je_time_parse(at, &ms) != 0)
        return cli_fail(a->cmd, "--expires-at must be an RFC 3339 date-time "
                                "(2026-11-28T09:00:00Z)"),
               2;
    if (at) json_object_set_new(q->body, "expiresAt", json_string(at));
    if (cli_has(a, "allow-decrease-below-usage"))
        json_object_set_new(q->body, "allowDecreaseBelowUsage", json_true());
    put_justification(a, q->body, q);
    return 0;
}

/* pause, resume, delete: a body only when there is a justification to send. */
static int prep_state(const cli_args *a, qreq *q, const char *method, const char *suffix) {
    q->method = method;
    id_path(a, q, suffix);
    q->body = json_object();
    put_justification(a, q->body, q);
    if (json_object_size(q->body) == 0) json_decref(q->body), q->body = NULL;
    return put_if_match(a, q);
}

static int prep_pause(const cli_args *a, qreq *q) {
    return prep_state(a, q, "POST", "/pause");
}
static int prep_resume(const cli_args *a, qreq *q) {
    return prep_state(a, q, "POST", "/resume");
}
static int prep_delete(const cli_args *a, qreq *q) {
    return prep_state(a, q, "DELETE", "");
}

static int prep_acquire(const cli_args *a, qreq *q) {
    q->method = "POST";
    id_path(a, q, "/acquire");
    q->body = json_object();
    if (put_int(a, q->body, "ttl-seconds", "ttlSeconds", 1, 86400) != 0) return 2;
    return put_idempotency_key(a, q);
}

static int prep_release(const cli_args *a, qreq *q) {
    const char *permit = cli_get(a, "permit");
    if (!permit || !*permit) return cli_fail(a->cmd, "--permit PERMIT is required"), 2;
    q->method = "POST";
    id_path(a, q, "/release");
    q->body = json_pack("{s:s}", "permitId", permit);
    return 0;
}

/* ---- text for people ---------------------------------------------------------------------- */

/* A member's value as text: null "-", numbers as the server wrote them. */
static const char *text_of(const json_t *v, char *buf, size_t cap) {
    if (!v || json_is_null(v)) return snprintf(buf, cap, "-"), buf;
    if (json_is_string(v)) return snprintf(buf, cap, "%s", json_string_value(v)), buf;
    if (json_is_integer(v)) return snprintf(buf, cap, "%lld", json_integer_value(v)), buf;
    if (json_is_real(v)) return je_num_decimal(json_real_value(v), buf, cap);
    if (json_is_boolean(v)) return snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no"), buf;
    char *s = je_json_dumps_ordered(v, NULL);
    snprintf(buf, cap, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* "key: value" lines in the server's order; objects indented under their key. */
static void print_fields(const json_t *o, int indent) {
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach((json_t *)o, k, v) {
        if ((int)strlen(k) > w) w = (int)strlen(k);
    }
    json_object_foreach((json_t *)o, k, v) {
        if (json_is_object(v) && json_object_size(v) > 0) {
            printf("%*s%s:\n", indent, "", k);
            print_fields(v, indent + 2);
            continue;
        }
        char buf[1024];
        printf("%*s%s:%*s %s\n", indent, "", k, w - (int)strlen(k), "",
               text_of(v, buf, sizeof buf));
    }
}

static void show_quota(const cli_args *a, const cli_resp *r) {
    if (json_is_object(r->json)) print_fields(r->json, 0);
}

/* A member of a list item (the quota) or of its usage; summary items are flat. */
static const json_t *item_get(const json_t *it, const char *k) {
    const json_t *v = json_object_get(it, k);
    return v ? v : json_object_get(json_object_get(it, "usage"), k);
}

static const char *const columns[] = {"JOBTYPE", "QUOTA ID", "ACTIVE/MAX", "PER HOUR",
                                      "TOKENS",  "REFILL/S", "PAUSED",     "THROTTLED"};
#define NCOLS (sizeof columns / sizeof columns[0])

static const char *cell(const json_t *it, size_t col, char *buf, size_t cap) {
    static const char *const one[NCOLS] = {"jobType", "quotaId",         NULL,     NULL,
                                           NULL,      "refillPerSecond", "paused", "throttled"};
    static const char *const pair[NCOLS][2] = {[2] = {"active", "maxActive"},
                                               [3] = {"hourCount", "maxPerHour"},
                                               [4] = {"availableTokens", "burstCapacity"}};
    if (one[col]) return text_of(item_get(it, one[col]), buf, cap);
    char x[64], y[64];
    snprintf(buf, cap, "%s/%s", text_of(item_get(it, pair[col][0]), x, sizeof x),
             text_of(item_get(it, pair[col][1]), y, sizeof y));
    return buf;
}

/* One row (the header when it is NULL) in columns of widths w; the last column unpadded. */
static void print_row(const json_t *it, const int *w) {
    char buf[512];
    for (size_t c = 0; c < NCOLS; c++) {
        const char *v = it ? cell(it, c, buf, sizeof buf) : columns[c];
        printf("%-*s%s", c + 1 < NCOLS ? w[c] : 0, v, c + 1 < NCOLS ? "  " : "\n");
    }
}

static void print_table(const json_t *items) {
    if (json_array_size(items) == 0) return (void)printf("no quotas\n");
    int w[NCOLS];
    char buf[512];
    size_t i;
    json_t *it;
    for (size_t c = 0; c < NCOLS; c++) w[c] = (int)strlen(columns[c]);
    json_array_foreach(items, i, it) {
        for (size_t c = 0; c < NCOLS; c++) {
            int n = (int)strlen(cell(it, c, buf, sizeof buf));
            if (n > w[c]) w[c] = n;
        }
    }
    print_row(NULL, w);
    json_array_foreach(items, i, it) print_row(it, w);
}

static void show_table(const cli_args *a, const cli_resp *r) {
    print_table(json_object_get(r->json, "items"));
}

static void show_deleted(const cli_args *a, const cli_resp *r) {
    printf("deleted quota %s\n", a->pos[0]);
}

static void show_acquired(const cli_args *a, const cli_resp *r) {
    char p[128], e[64];
    printf("permitId:  %s\n", text_of(json_object_get(r->json, "permitId"), p, sizeof p));
    printf("expiresAt: %s\n", text_of(json_object_get(r->json, "expiresAt"), e, sizeof e));
    if (r->ratelimit_remaining[0] && r->ratelimit_limit[0])
        printf("remaining: %s of %s active slots\n", r->ratelimit_remaining, r->ratelimit_limit);
}

static void show_released(const cli_args *a, const cli_resp *r) {
    printf("released permit %s\n", cli_get(a, "permit"));
}

/* ---- running ------------------------------------------------------------------------------ */

static int run_one(cli_http *h, const cli_args *a, const quota_sub *s, qreq *q) {
    cli_resp r;
    if (cli_http_request(h, q->method, q->path.data, q->body, q->hdr, &r) != 0) return 1;
    int rc = 0;
    if (r.status < 200 || r.status > 299) {
        rc = cli_http_fail(h, &r);
    } else if (!cli_has(a, "json")) {
        s->show(a, &r);
    } else if (r.body.len) { /* the server's JSON as it came */
        fwrite(r.body.data, 1, r.body.len, stdout);
        if (r.body.data[r.body.len - 1] != '\n') putchar('\n');
    }
    cli_resp_free(&r);
    return rc;
}

/* One page of the list into items; *cont becomes the next page's token or NULL. */
static int fetch_page(cli_http *h, const char *path, json_t *items, char **cont) {
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

/* list: every page (following continuationToken), then one table or one JSON document. */
static int run_list(cli_http *h, const cli_args *a, const quota_sub *s, qreq *q) {
    json_t *items = json_array();
    char *cont = NULL;
    je_buf path = JE_BUF_INIT;
    int rc = 0;
    for (long pages = 0; rc == 0; pages++) {
        je_buf_reset(&path);
        je_buf_puts(&path, q->path.data);
        if (cont) je_buf_puts(&path, "&continuationToken="), cli_http_escape(&path, cont);
        if (pages > 100000) rc = cli_fail(h->cmd, "the list does not end (server fault?)");
        if (rc == 0) rc = fetch_page(h, path.data, items, &cont);
        if (!cont) break;
    }
    if (rc == 0 && cli_has(a, "json")) {
        json_t *all = json_pack("{s:O, s:n}", "items", items, "continuationToken");
        cli_http_print_json(all);
        json_decref(all);
    } else if (rc == 0) {
        print_table(items);
    }
    free(cont);
    je_buf_free(&path);
    json_decref(items);
    return rc;
}

/* ---- the subcommands ---------------------------------------------------------------------- */

#define JUST_OPTS                                                                                  \
    {"reason", 1}, {                                                                               \
        "ticket", 1                                                                                \
    }

static const cli_optspec list_opts[] = {
    CLI_HTTP_OPTS, {"job-type", 1}, {"paused", 1}, {"limit", 1}, {NULL, 0}};
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};
static const cli_optspec create_opts[] = {
    CLI_HTTP_OPTS,          {"job-type", 1}, {"max-active", 1},
    {"max-per-hour", 1},    {"burst", 1},    {"refill", 1},
    {"idempotency-key", 1}, JUST_OPTS,       {NULL, 0}};
static const cli_optspec set_opts[] = {CLI_HTTP_OPTS,
                                       {"max-active", 1},
                                       {"max-per-hour", 1},
                                       {"burst", 1},
                                       {"refill", 1},
                                       {"expires-at", 1},
                                       {"allow-decrease-below-usage", 0},
                                       {"if-match", 1},
                                       JUST_OPTS,
                                       {NULL, 0}};
static const cli_optspec state_opts[] = {CLI_HTTP_OPTS, {"if-match", 1}, JUST_OPTS, {NULL, 0}};
static const cli_optspec acquire_opts[] = {
    CLI_HTTP_OPTS, {"ttl-seconds", 1}, {"idempotency-key", 1}, {NULL, 0}};
static const cli_optspec release_opts[] = {CLI_HTTP_OPTS, {"permit", 1}, {NULL, 0}};

#define ABOUT_CHANGE                                                                               \
    "A change, with scope orch:quota: --reason/--ticket go into the request body and are\n"        \
    "audited with it; a token requested for it carries --token-reason/--token-ticket, else\n"      \
    "STELLAOPS_ORCH_QUOTA_REASON/_TICKET, else --reason/--ticket.\n"

static const quota_sub subs[] = {
    {"list", &cli_scope_read, 0, list_opts,
     "quota list [--job-type T] [--paused true|false] [--limit N]",
     "Lists the tenant's quotas by job type, fetching every page (--limit: page size, 1-500,\n"
     "default 500); --json prints one {\"items\": [...], \"continuationToken\": null} holding\n"
     "them all. Scope orch:read.\n",
     prep_list, show_table, run_list},
    {"get", &cli_scope_read, 1, plain_opts, "quota get ID",
     "Shows one quota: limits, usage, elevation, version. Scope orch:read.\n", prep_get, show_quota,
     NULL},
    {"create", &cli_scope_quota, 0, create_opts,
     "quota create --job-type T --max-active N --max-per-hour N --burst N --refill X\n"
     "                              [--reason R] [--ticket T] [--idempotency-key K]",
     "Creates the quota of a job type ('*': the tenant-wide default).\n" ABOUT_CHANGE, prep_create,
     show_quota, NULL},
    {"set", &cli_scope_quota, 1, set_opts,
     "quota set ID [--max-active N] [--max-per-hour N] [--burst N] [--refill X]\n"
     "                              [--expires-at RFC3339] [--allow-decrease-below-usage]\n"
     "                              [--if-match VERSION] [--reason R] [--ticket T]",
     "Adjusts limits (others keep their value); --expires-at makes it a temporary elevation.\n"
     "--if-match refuses the change unless the quota is still at that version.\n" ABOUT_CHANGE,
     prep_set, show_quota, NULL},
    {"pause", &cli_scope_quota, 1, state_opts,
     "quota pause ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Stops granting work for the job type.\n" ABOUT_CHANGE, prep_pause, show_quota, NULL},
    {"resume", &cli_scope_quota, 1, state_opts,
     "quota resume ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Grants work again.\n" ABOUT_CHANGE, prep_resume, show_quota, NULL},
    {"delete", &cli_scope_quota, 1, state_opts,
     "quota delete ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Deletes the quota and its permits (--json: prints nothing).\n" ABOUT_CHANGE, prep_delete,
     show_deleted, NULL},
    {"summary", &cli_scope_read, 0, plain_opts, "quota summary",
     "Limits and usage of every job type. Scope orch:read.\n", prep_summary, show_table, NULL},
    {"acquire", &cli_scope_jobs, 1, acquire_opts,
     "quota acquire ID [--ttl-seconds N] [--idempotency-key K]",
     "Takes one unit of the quota for an external scheduler and prints the permit and its\n"
     "expiry (--ttl-seconds 1-86400, default 300). A refusal prints its code and when to retry\n"
     "and exits 1. --idempotency-key makes a retried call return the same permit. Scope\n"
     "orch:jobs.\n",
     prep_acquire, show_acquired, NULL},
    {"release", &cli_scope_jobs, 1, release_opts, "quota release ID --permit PERMIT",
     "Gives a permit's unit back before it expires. Scope orch:jobs.\n", prep_release,
     show_released, NULL},
};
#define NSUBS (sizeof subs / sizeof subs[0])

static void quota_usage(FILE *f) {
    for (size_t i = 0; i < NSUBS; i++)
        fprintf(f, "%s jobengine %s\n", i ? "      " : "usage:", subs[i].synopsis);
    fprintf(f,
            "\nQuotas of a running server (api.md §3.3): tables for people, --json for\n"
            "scripts. 'jobengine quota <sub> --help' describes one.\n\n%s",
            cli_http_usage);
}

static void sub_usage(const quota_sub *s) {
    printf("usage: jobengine %s\n\n%s\n%s", s->synopsis, s->about, cli_http_usage);
}

static int quota_run(const quota_sub *s, const cli_args *a) {
    qreq q;
    memset(&q, 0, sizeof q);
    cli_http h;
    int rc = s->prep(a, &q);
    if (rc == 0) {
        rc = cli_http_open(&h, a->cmd, a);
        if (rc == 0) rc = cli_http_authorize(&h, a, s->scope, q.reason, q.ticket);
        if (rc == 0) rc = (s->run ? s->run : run_one)(&h, a, s, &q);
        cli_http_close(&h);
    }
    json_decref(q.body);
    je_buf_free(&q.path);
    return rc;
}

int cmd_quota(int argc, char **argv) {
    if (argc == 0) return quota_usage(stderr), 2;
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) return quota_usage(stdout), 0;
    const quota_sub *s = NULL;
    for (size_t i = 0; i < NSUBS && !s; i++)
        if (strcmp(argv[0], subs[i].name) == 0) s = &subs[i];
    if (!s && argv[0][0] == '-')
        return cli_fail("quota", "the subcommand comes first: jobengine quota <sub> [options] "
                                 "(see --help)"),
               2;
    if (!s) return cli_fail("quota", "unknown subcommand '%s' (see --help)", argv[0]), 2;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "quota %s", s->name);
    cli_args a;
    if (cli_parse(cmd, argc - 1, argv + 1, s->opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return sub_usage(s), 0;
    if (a.n_pos != (size_t)s->takes_id)
        return cli_fail(cmd, "usage: jobengine %s (see --help)", s->synopsis), 2;
    if (s->takes_id && !*a.pos[0]) return cli_fail(cmd, "the quota ID must not be empty"), 2;
    return quota_run(s, &a);
}

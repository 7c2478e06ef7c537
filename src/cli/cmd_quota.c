/* cli/cmd_quota.c: `jobengine quota list|get|create|set|pause|resume|delete|summary|ceilings|
 * acquire|release`, the quota routes of api.md §3.3 on a running server. Each subcommand checks its
 * arguments first (a bad one is exit 2 and nothing is sent), builds one request, gets a token for
 * just the scope it needs (cli_http.h), and prints the answer: text for people, or with --json
 * the server's JSON as it came. The frame that does this for every such command is cli_sub.h;
 * this file holds the quota's own part: the requests and the text. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "core/jcs.h"
#include "core/quota.h"
#include "core/timefmt.h"

#define QUOTAS "/jobengine/quotas"

/* ---- checking arguments ------------------------------------------------------------------- */

/* --opt N (lo..hi) into body[field] when given. 0, or 2. */
static int put_int(const cli_args *a, json_t *body, const char *opt, const char *field,
                   long long lo, long long hi) {
    const char *v = cli_get(a, opt);
    long long n;
    if (!v) return 0;
    if (cli_int(v, lo, hi, &n) != 0) return cli_bad_int(a, opt, lo, hi);
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
        if (put_int(a, body, limit_opts[i][0], limit_opts[i][1], 1, JE_MAX_INT53) != 0) return 2;
    return put_refill(a, body);
}

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_list(const cli_args *a, cli_req *q) {
    const char *jt = cli_get(a, "job-type"), *paused = cli_get(a, "paused");
    long long limit = 500;
    if (cli_has(a, "limit") && cli_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return cli_bad_int(a, "limit", 1, 500);
    if (jt && !*jt) return cli_fail(a->cmd, "--job-type must not be empty"), 2;
    if (paused && strcmp(paused, "true") != 0 && strcmp(paused, "false") != 0)
        return cli_fail(a->cmd, "--paused must be true or false"), 2;
    q->method = "GET";
    je_buf_printf(&q->path, QUOTAS "?limit=%lld", limit);
    if (jt) je_buf_puts(&q->path, "&jobType="), cli_http_escape(&q->path, jt);
    if (paused) je_buf_printf(&q->path, "&paused=%s", paused);
    return 0;
}

static int prep_get(const cli_args *a, cli_req *q) {
    q->method = "GET";
    cli_req_id_path(a, q, QUOTAS, "");
    return 0;
}

static int prep_summary(const cli_args *a, cli_req *q) {
    q->method = "GET";
    je_buf_puts(&q->path, QUOTAS "/summary");
    return 0;
}

static int prep_ceilings(const cli_args *a, cli_req *q) {
    const char *jt = cli_get(a, "job-type");
    if (!jt || !*jt) return cli_fail(a->cmd, "--job-type T is required"), 2;
    q->method = "GET";
    je_buf_puts(&q->path, QUOTAS "/ceilings?jobType=");
    cli_http_escape(&q->path, jt);
    return 0;
}

static int prep_create(const cli_args *a, cli_req *q) {
    static const char *const required[] = {"job-type", "max-active", "max-per-hour", "burst",
                                           "refill"};
    for (size_t i = 0; i < 5; i++)
        if (!cli_has(a, required[i]))
            return cli_fail(a->cmd, "--%s is required (see --help)", required[i]), 2;
    if (!*cli_get(a, "job-type")) return cli_fail(a->cmd, "--job-type must not be empty"), 2;
    q->method = "POST";
    je_buf_puts(&q->path, QUOTAS);
    q->body = json_pack("{s:s}", "jobType", cli_get(a, "job-type"));
    if (put_limits(a, q->body) != 0 || cli_req_idempotency_key(a, q) != 0) return 2;
    cli_req_justification(a, q->body, q);
    return 0;
}

static int prep_set(const cli_args *a, cli_req *q) {
    q->method = "PUT";
    cli_req_id_path(a, q, QUOTAS, "");
    q->body = json_object();
    if (put_limits(a, q->body) != 0 || cli_req_if_match(a, q) != 0) return 2;
    const char *at = cli_get(a, "expires-at");
    int64_t ms;
    if (at && je_time_parse(at, &ms) != 0)
        return cli_fail(a->cmd, "--expires-at must be an RFC 3339 date-time "
                                "(2026-11-28T09:00:00Z)"),
               2;
    if (at) json_object_set_new(q->body, "expiresAt", json_string(at));
    if (cli_has(a, "allow-decrease-below-usage"))
        json_object_set_new(q->body, "allowDecreaseBelowUsage", json_true());
    cli_req_justification(a, q->body, q);
    return 0;
}

/* pause, resume, delete: a body only when there is a justification to send. */
static int prep_pause(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", QUOTAS, "/pause");
}
static int prep_resume(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", QUOTAS, "/resume");
}
static int prep_delete(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "DELETE", QUOTAS, "");
}

static int prep_acquire(const cli_args *a, cli_req *q) {
    q->method = "POST";
    cli_req_id_path(a, q, QUOTAS, "/acquire");
    q->body = json_object();
    if (put_int(a, q->body, "ttl-seconds", "ttlSeconds", 1, 86400) != 0) return 2;
    return cli_req_idempotency_key(a, q);
}

static int prep_release(const cli_args *a, cli_req *q) {
    const char *permit = cli_get(a, "permit");
    if (!permit || !*permit) return cli_fail(a->cmd, "--permit PERMIT is required"), 2;
    q->method = "POST";
    cli_req_id_path(a, q, QUOTAS, "/release");
    q->body = json_pack("{s:s}", "permitId", permit);
    return 0;
}

/* ---- text for people ---------------------------------------------------------------------- */

static void show_quota(const cli_args *a, const cli_resp *r) {
    if (json_is_object(r->json)) cli_print_fields(r->json, 0, NULL);
}

/* A member of a list item (the quota) or of its usage; summary items are flat. */
static const json_t *item_get(const json_t *it, const char *k) {
    const json_t *v = json_object_get(it, k);
    return v ? v : json_object_get(json_object_get(it, "usage"), k);
}

static const char *const columns[] = {"JOBTYPE", "QUOTA ID", "ACTIVE/MAX", "PER HOUR",
                                      "TOKENS",  "REFILL/S", "PAUSED",     "THROTTLED"};
#define NCOLS (sizeof columns / sizeof columns[0])

static const char *cell(const cli_table *t, const json_t *it, size_t col, char *buf, size_t cap) {
    static const char *const one[NCOLS] = {"jobType", "quotaId",         NULL,     NULL,
                                           NULL,      "refillPerSecond", "paused", "throttled"};
    static const char *const pair[NCOLS][2] = {[2] = {"active", "maxActive"},
                                               [3] = {"hourCount", "maxPerHour"},
                                               [4] = {"availableTokens", "burstCapacity"}};
    if (!it) return columns[col];
    if (one[col]) return cli_text(item_get(it, one[col]), buf, cap);
    char x[64], y[64];
    snprintf(buf, cap, "%s/%s", cli_text(item_get(it, pair[col][0]), x, sizeof x),
             cli_text(item_get(it, pair[col][1]), y, sizeof y));
    return buf;
}

static const cli_table table = {NCOLS, cell, NULL, 512, "no quotas"};

static void show_table(const cli_args *a, const cli_resp *r) {
    cli_table_print(&table, json_object_get(r->json, "items"));
}

static const char *const ceiling_cols[] = {"JOBTYPE", "MAX ACTIVE", "PER HOUR", "BURST",
                                           "REFILL/S"};

static const char *ceiling_cell(const cli_table *t, const json_t *it, size_t col, char *buf,
                                size_t cap) {
    static const char *const keys[] = {"jobType", "maxActive", "maxPerHour", "burstCapacity",
                                       "refillPerSecond"};
    return it ? cli_text(json_object_get(it, keys[col]), buf, cap) : ceiling_cols[col];
}

static const cli_table ceiling_table = {5, ceiling_cell, NULL, 256, "no ceilings"};

/* The ceilings of one job type: a table of one row. */
static void show_ceilings(const cli_args *a, const cli_resp *r) {
    json_t *rows = json_pack("[O]", r->json);
    cli_table_print(&ceiling_table, rows);
    json_decref(rows);
}

static void show_deleted(const cli_args *a, const cli_resp *r) {
    printf("deleted quota %s\n", a->pos[0]);
}

static void show_acquired(const cli_args *a, const cli_resp *r) {
    char p[128], e[64];
    printf("permitId:  %s\n", cli_text(json_object_get(r->json, "permitId"), p, sizeof p));
    printf("expiresAt: %s\n", cli_text(json_object_get(r->json, "expiresAt"), e, sizeof e));
    if (r->ratelimit_remaining[0] && r->ratelimit_limit[0])
        printf("remaining: %s of %s active slots\n", r->ratelimit_remaining, r->ratelimit_limit);
}

static void show_released(const cli_args *a, const cli_resp *r) {
    printf("released permit %s\n", cli_get(a, "permit"));
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static const cli_optspec list_opts[] = {
    CLI_HTTP_OPTS, {"job-type", 1}, {"paused", 1}, {"limit", 1}, {NULL, 0}};
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};
static const cli_optspec ceilings_opts[] = {CLI_HTTP_OPTS, {"job-type", 1}, {NULL, 0}};
static const cli_optspec create_opts[] = {
    CLI_HTTP_OPTS,          {"job-type", 1}, {"max-active", 1},
    {"max-per-hour", 1},    {"burst", 1},    {"refill", 1},
    {"idempotency-key", 1}, CLI_JUST_OPTS,   {NULL, 0}};
static const cli_optspec set_opts[] = {CLI_HTTP_OPTS,
                                       {"max-active", 1},
                                       {"max-per-hour", 1},
                                       {"burst", 1},
                                       {"refill", 1},
                                       {"expires-at", 1},
                                       {"allow-decrease-below-usage", 0},
                                       {"if-match", 1},
                                       CLI_JUST_OPTS,
                                       {NULL, 0}};
static const cli_optspec state_opts[] = {CLI_HTTP_OPTS, {"if-match", 1}, CLI_JUST_OPTS, {NULL, 0}};
static const cli_optspec acquire_opts[] = {
    CLI_HTTP_OPTS, {"ttl-seconds", 1}, {"idempotency-key", 1}, {NULL, 0}};
static const cli_optspec release_opts[] = {CLI_HTTP_OPTS, {"permit", 1}, {NULL, 0}};

#define ABOUT_CHANGE                                                                               \
    "A change, with scope orch:quota: --reason/--ticket go into the request body and are\n"        \
    "audited with it; a token requested for it carries --token-reason/--token-ticket, else\n"      \
    "STELLAOPS_ORCH_QUOTA_REASON/_TICKET, else --reason/--ticket.\n"

static const cli_sub subs[] = {
    {"list", &cli_scope_read, 0, list_opts,
     "quota list [--job-type T] [--paused true|false] [--limit N]",
     "Lists the tenant's quotas by job type, fetching every page (--limit: page size, 1-500,\n"
     "default 500); --json prints one {\"items\": [...], \"continuationToken\": null} holding\n"
     "them all. Scope orch:read.\n",
     prep_list, show_table, cli_sub_run_list, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "quota get ID",
     "Shows one quota: limits, usage, elevation, version. Scope orch:read.\n", prep_get, show_quota,
     NULL, NULL},
    {"create", &cli_scope_quota, 0, create_opts,
     "quota create --job-type T --max-active N --max-per-hour N --burst N --refill X\n"
     "                              [--reason R] [--ticket T] [--idempotency-key K]",
     "Creates the quota of a job type ('*': the tenant-wide default).\n" ABOUT_CHANGE, prep_create,
     show_quota, NULL, NULL},
    {"set", &cli_scope_quota, 1, set_opts,
     "quota set ID [--max-active N] [--max-per-hour N] [--burst N] [--refill X]\n"
     "                              [--expires-at RFC3339] [--allow-decrease-below-usage]\n"
     "                              [--if-match VERSION] [--reason R] [--ticket T]",
     "Adjusts limits (others keep their value); --expires-at makes it a temporary elevation.\n"
     "--if-match refuses the change unless the quota is still at that version.\n" ABOUT_CHANGE,
     prep_set, show_quota, NULL, NULL},
    {"pause", &cli_scope_quota, 1, state_opts,
     "quota pause ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Stops granting work for the job type.\n" ABOUT_CHANGE, prep_pause, show_quota, NULL, NULL},
    {"resume", &cli_scope_quota, 1, state_opts,
     "quota resume ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Grants work again.\n" ABOUT_CHANGE, prep_resume, show_quota, NULL, NULL},
    {"delete", &cli_scope_quota, 1, state_opts,
     "quota delete ID [--reason R] [--ticket T] [--if-match VERSION]",
     "Deletes the quota and its permits (--json: prints nothing).\n" ABOUT_CHANGE, prep_delete,
     show_deleted, NULL, NULL},
    {"summary", &cli_scope_read, 0, plain_opts, "quota summary",
     "Limits and usage of every job type. Scope orch:read.\n", prep_summary, show_table, NULL,
     NULL},
    {"ceilings", &cli_scope_read, 0, ceilings_opts, "quota ceilings --job-type T",
     "The policy ceilings that apply to the tenant and job type ('*' too): no quota of it may\n"
     "be created or adjusted above them. Scope orch:read.\n",
     prep_ceilings, show_ceilings, NULL, NULL},
    {"acquire", &cli_scope_jobs, 1, acquire_opts,
     "quota acquire ID [--ttl-seconds N] [--idempotency-key K]",
     "Takes one unit of the quota for an external scheduler and prints the permit and its\n"
     "expiry (--ttl-seconds 1-86400, default 300). A refusal prints its code and when to retry\n"
     "and exits 1. --idempotency-key makes a retried call return the same permit. Scope\n"
     "orch:jobs.\n",
     prep_acquire, show_acquired, NULL, NULL},
    {"release", &cli_scope_jobs, 1, release_opts, "quota release ID --permit PERMIT",
     "Gives a permit's unit back before it expires. Scope orch:jobs.\n", prep_release,
     show_released, NULL, NULL},
};

const cli_family cli_quota_family = {
    "quota",
    "quota",
    "Quotas of a running server (api.md §3.3): tables for people, --json for\n"
    "scripts. 'jobengine quota <sub> --help' describes one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    NULL};

int cmd_quota(int argc, char **argv) {
    return cli_sub_main(&cli_quota_family, argc, argv);
}

/* cli/cmd_pool.c: `jobengine pool list|get|set|delete`, the capacity pools of issue 15 (api.md
 * "Pools") on a running server. Reads ask for orch:read: the platform administrator (a client of
 * _system) sees every tenant's terms and use, a tenant only its own entitlement. set and delete
 * ask for orch:governance, whose token needs a governance reason: --governance-reason (as
 * --token-reason), else STELLAOPS_ORCH_GOVERNANCE_REASON, else --reason. The frame (arguments,
 * token, one call, --json, errors and exit codes) is cli_sub.h's; this file holds the requests
 * and the text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "core/jcs.h"
#include "core/pool.h"

#define POOLS "/jobengine/pools"
#define MAX_SHARE_ARG 512

/* ---- checking arguments ------------------------------------------------------------------- */

/* A positive finite decimal number (a weight). 0, or -1. */
static int parse_positive(const char *v, double *out) {
    size_t n = strlen(v);
    char *end = NULL;
    double d = n && strspn(v, "0123456789.eE+-") == n ? strtod(v, &end) : NAN;
    if (!end || *end || !isfinite(d) || d <= 0 || d > 1e9) return -1;
    *out = d;
    return 0;
}

/* One key=value of a --share into share. 0, or 2 after a usage error. */
static int share_member(const cli_args *a, const char *arg, const char *kv, json_t *share) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || !eq[1])
        return cli_fail(a->cmd, "--share %s: '%s' is not key=value", arg, kv), 2;
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    const char *v = eq + 1;
    long long n;
    double d;
    if (strcmp(key, "weight") == 0) {
        if (parse_positive(v, &d) != 0)
            return cli_fail(a->cmd, "--share %s: weight must be a number above 0 (at most 1e9)",
                            arg),
                   2;
        json_object_set_new(share, "weight", json_real(d));
    } else if (strcmp(key, "tier") == 0) {
        if (cli_int(v, -1000, 1000, &n) != 0)
            return cli_fail(a->cmd, "--share %s: tier must be a whole number from -1000 to 1000",
                            arg),
                   2;
        json_object_set_new(share, "tier", json_integer(n));
    } else if (strcmp(key, "reserved") == 0 || strcmp(key, "max-active") == 0) {
        long long lo = key[0] == 'r' ? 0 : 1;
        if (cli_int(v, lo, 1000000000, &n) != 0)
            return cli_fail(a->cmd, "--share %s: %s must be a whole number from %lld to 1000000000",
                            arg, key, lo),
                   2;
        json_object_set_new(share, key[0] == 'r' ? "reserved" : "maxActive", json_integer(n));
    } else {
        return cli_fail(a->cmd, "--share %s: unknown key '%s' (weight, tier, reserved, max-active)",
                        arg, key),
               2;
    }
    return 0;
}

/* --share TENANT[:key=value,...] into a share object appended to shares. 0, or 2. */
static int put_share(const cli_args *a, const char *arg, json_t *shares) {
    char buf[MAX_SHARE_ARG];
    if (strlen(arg) >= sizeof buf) return cli_fail(a->cmd, "--share is too long"), 2;
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strchr(buf, ':');
    if (colon) *colon = '\0';
    if (!buf[0]) return cli_fail(a->cmd, "--share %s: the tenant comes first (TENANT:...)", arg), 2;
    json_t *share = json_pack("{s:s}", "tenantId", buf);
    json_array_append_new(shares, share);
    if (!colon) return 0;
    if (!colon[1]) return cli_fail(a->cmd, "--share %s: nothing after ':'", arg), 2;
    for (char *kv = colon + 1, *next; kv; kv = next) {
        next = strchr(kv, ',');
        if (next) *next++ = '\0';
        if (share_member(a, arg, kv, share) != 0) return 2;
    }
    return 0;
}

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_list(const cli_args *a, cli_req *q) {
    q->method = "GET";
    je_buf_puts(&q->path, POOLS);
    return 0;
}

static int prep_get(const cli_args *a, cli_req *q) {
    q->method = "GET";
    cli_req_id_path(a, q, POOLS, "");
    return 0;
}

static int prep_set(const cli_args *a, cli_req *q) {
    const char *strategy = cli_get(a, "strategy");
    long long n;
    if (!strategy) return cli_fail(a->cmd, "--strategy is required (see --help)"), 2;
    if (je_pool_strategy_parse(strategy) < 0)
        return cli_fail(a->cmd, "--strategy must be unlimited, proportional, priority, reserved "
                                "or max-limit"),
               2;
    if (!cli_has(a, "max-active")) return cli_fail(a->cmd, "--max-active is required"), 2;
    if (cli_int(cli_get(a, "max-active"), 1, 1000000000, &n) != 0)
        return cli_bad_int(a, "max-active", 1, 1000000000);
    q->method = "PUT";
    cli_req_id_path(a, q, POOLS, "");
    q->body = json_pack("{s:s, s:I}", "strategy", strategy, "maxActive", (json_int_t)n);
    if (cli_has(a, "max-per-hour")) {
        if (cli_int(cli_get(a, "max-per-hour"), 1, 1000000000000LL, &n) != 0)
            return cli_bad_int(a, "max-per-hour", 1, 1000000000000LL);
        json_object_set_new(q->body, "maxPerHour", json_integer(n));
    }
    const char *given[JE_POOL_MAX_SHARES + 1];
    size_t count = cli_all(a, "share", given, JE_POOL_MAX_SHARES + 1);
    if (count > JE_POOL_MAX_SHARES)
        return cli_fail(a->cmd, "at most %d --share", JE_POOL_MAX_SHARES), 2;
    json_t *shares = json_array();
    json_object_set_new(q->body, "shares", shares);
    for (size_t i = 0; i < count; i++)
        if (put_share(a, given[i], shares) != 0) return 2;
    if (cli_req_if_match(a, q) != 0) return 2;
    cli_req_justification(a, q->body, q);
    return 0;
}

static int prep_delete(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "DELETE", POOLS, "");
}

/* ---- text for people ---------------------------------------------------------------------- */

/* A table of objects: titles, and the member each column shows. */
typedef struct cols {
    const char *const *titles, *const *keys;
} cols;

static const char *member_cell(const cli_table *t, const json_t *it, size_t col, char *buf,
                               size_t cap) {
    const cols *c = t->ctx;
    return it ? cli_text(json_object_get(it, c->keys[col]), buf, cap) : c->titles[col];
}

static const char *const share_titles[] = {"TENANT", "WEIGHT", "TIER", "RESERVED", "MAX ACTIVE"};
static const char *const share_keys[] = {"tenantId", "weight", "tier", "reserved", "maxActive"};
static const cols share_cols = {share_titles, share_keys};
static const cli_table share_table = {5, member_cell, &share_cols, 128, "(no shares)"};

static const char *const use_titles[] = {"TENANT",   "ACTIVE",     "DEMAND",
                                         "ENTITLED", "GUARANTEED", "CAP"};
static const char *const use_keys[] = {"tenantId", "active",     "demand",
                                       "entitled", "guaranteed", "cap"};
static const cols use_cols = {use_titles, use_keys};
static const cli_table use_table = {6, member_cell, &use_cols, 128, "(no tenant uses it)"};

/* The pool's shares and usage tenants are tables of their own (show_pool). */
static int not_scalar(const char *key, const json_t *v, int indent) {
    return json_is_object(v) || json_is_array(v);
}

static void show_pool(const cli_args *a, const cli_resp *r) {
    const json_t *p = r->json, *usage = json_object_get(p, "usage");
    if (!json_is_object(p)) return;
    cli_print_fields(p, 0, not_scalar);
    if (json_is_array(json_object_get(p, "shares"))) {
        printf("shares:\n");
        cli_table_print(&share_table, json_object_get(p, "shares"));
    }
    if (json_is_object(usage)) {
        printf("usage:\n");
        cli_print_fields(usage, 2, not_scalar);
        cli_table_print(&use_table, json_object_get(usage, "tenants"));
    }
    const json_t *you = json_object_get(p, "you");
    if (json_is_object(you)) {
        json_t *rows = json_pack("[O]", you);
        printf("you:\n");
        cli_table_print(&use_table, rows);
        json_decref(rows);
    }
}

static const char *const list_titles[] = {"JOBTYPE",  "STRATEGY",  "ACTIVE/MAX",
                                          "PER HOUR", "THROTTLED", "VERSION"};

/* The platform's rows show the pool's use; a tenant's its own (hour figures: "-"). */
static const char *list_cell(const cli_table *t, const json_t *it, size_t col, char *buf,
                             size_t cap) {
    if (!it) return list_titles[col];
    const json_t *usage = json_object_get(it, "usage");
    const json_t *use = usage ? usage : json_object_get(it, "you");
    char x[64], y[64];
    switch (col) {
    case 0:
        return cli_text(json_object_get(it, "jobType"), buf, cap);
    case 1:
        return cli_text(json_object_get(it, "strategy"), buf, cap);
    case 2:
        snprintf(buf, cap, "%s/%s", cli_text(json_object_get(use, "active"), x, sizeof x),
                 cli_text(json_object_get(it, "maxActive"), y, sizeof y));
        return buf;
    case 3:
        snprintf(buf, cap, "%s/%s", cli_text(json_object_get(usage, "hourCount"), x, sizeof x),
                 cli_text(json_object_get(it, "maxPerHour"), y, sizeof y));
        return buf;
    case 4:
        return cli_text(json_object_get(usage, "throttled"), buf, cap);
    default:
        return cli_text(json_object_get(it, "version"), buf, cap);
    }
}

static const cli_table list_table = {6, list_cell, NULL, 256, "no pools"};

static void show_list(const cli_args *a, const cli_resp *r) {
    cli_table_print(&list_table, json_object_get(r->json, "items"));
}

static void show_deleted(const cli_args *a, const cli_resp *r) {
    printf("deleted pool %s\n", a->pos[0]);
}

/* ---- the subcommands ---------------------------------------------------------------------- */

/* set and delete: --governance-reason / --governance-ticket are --token-reason / --token-ticket
 * (the names `jobengine token` gives them), then the usual run. */
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};
static const cli_optspec set_opts[] = {CLI_HTTP_OPTS,       {"strategy", 1}, {"max-active", 1},
                                       {"max-per-hour", 1}, {"share", 1},    {"if-match", 1},
                                       CLI_GOVERNANCE_OPTS, {NULL, 0}};
static const cli_optspec delete_opts[] = {
    CLI_HTTP_OPTS, {"if-match", 1}, CLI_GOVERNANCE_OPTS, {NULL, 0}};

static const cli_sub subs[] = {
    {"list", &cli_scope_read, 0, plain_opts, "pool list",
     "Lists the pools by job type: the platform administrator sees each pool's use, a tenant\n"
     "its own. Scope orch:read.\n",
     prep_list, show_list, NULL, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "pool get JOBTYPE",
     "Shows a job type's pool: settings, and the platform administrator every tenant's terms,\n"
     "use and entitlement; a tenant only its own ('you'). Scope orch:read.\n",
     prep_get, show_pool, NULL, NULL},
    {"set", &cli_scope_governance, 1, set_opts,
     "pool set JOBTYPE --strategy S --max-active N [--max-per-hour N]\n"
     "                              [--share TENANT[:key=value,...]]... [--if-match VERSION]\n"
     "                              [--reason R] [--ticket T]",
     "Creates the job type's pool or replaces all its settings and shares (a PUT: what is not\n"
     "given takes its default). S: unlimited, proportional, priority, reserved, max-limit.\n"
     "One --share per tenant, keys weight (a number > 0), tier (-1000..1000), reserved and\n"
     "max-active, e.g. --share acme:weight=2,reserved=3. A set of what is there already\n"
     "changes nothing.\n" CLI_ABOUT_GOVERNANCE,
     prep_set, show_pool, NULL, cli_sub_governance_main},
    {"delete", &cli_scope_governance, 1, delete_opts,
     "pool delete JOBTYPE [--if-match VERSION] [--reason R] [--ticket T]",
     "Deletes the job type's pool: its work is then decided by the tenants' quotas alone\n"
     "(--json: prints nothing).\n" CLI_ABOUT_GOVERNANCE,
     prep_delete, show_deleted, NULL, cli_sub_governance_main},
};

const cli_family cli_pool_family = {
    "pool",
    "pool",
    "Capacity pools of a running server (api.md \"Pools\"), one per job type: tables for\n"
    "people, --json for scripts. 'jobengine pool <sub> --help' describes one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    NULL};

int cmd_pool(int argc, char **argv) {
    return cli_sub_main(&cli_pool_family, argc, argv);
}

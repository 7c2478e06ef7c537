/* cli/cmd_breaker.c: `jobengine breaker list|get|set|force|delete`, the circuit breakers of issue
 * 15 (api.md "Circuit breakers") on a running server. Reads ask for orch:read: the platform
 * administrator (a client of _system) sees every row, a tenant the job types' rows and its own.
 * set and delete ask for orch:governance (--governance-reason, else
 * STELLAOPS_ORCH_GOVERNANCE_REASON, else --reason). force asks for orch:governance when the
 * client acts for _system (--tenant / JOBENGINE_TENANT, or no tenant given and a
 * --governance-reason/--governance-ticket), else for orch:operate, whose token needs an operator
 * reason (--operator-reason, else STELLAOPS_ORCH_OPERATOR_REASON, else --reason). The frame is
 * cli_sub.h's, as for `jobengine pool`; this file holds the requests and the text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "core/jcs.h"
#include "core/ids.h"

#define BREAKERS "/jobengine/breakers"

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_list(const cli_args *a, cli_req *q) {
    q->method = "GET";
    je_buf_puts(&q->path, BREAKERS);
    return 0;
}

static int prep_get(const cli_args *a, cli_req *q) {
    q->method = "GET";
    cli_req_id_path(a, q, BREAKERS, "");
    return 0;
}

/* A failure rate: a decimal number above 0 and at most 1. 0, or -1. */
static int parse_rate(const char *v, double *out) {
    size_t n = strlen(v);
    char *end = NULL;
    double d = n && strspn(v, "0123456789.eE+-") == n ? strtod(v, &end) : NAN;
    if (!end || *end || !(d > 0 && d <= 1)) return -1;
    *out = d;
    return 0;
}

/* --opt as a whole number within lo..hi into body[member] when given. 0, or 2. */
static int int_opt(const cli_args *a, const char *opt, const char *member, long long lo,
                   long long hi, json_t *body) {
    long long n;
    if (!cli_has(a, opt)) return 0;
    if (cli_int(cli_get(a, opt), lo, hi, &n) != 0) return cli_bad_int(a, opt, lo, hi);
    json_object_set_new(body, member, json_integer(n));
    return 0;
}

static int prep_set(const cli_args *a, cli_req *q) {
    q->method = "PUT";
    cli_req_id_path(a, q, BREAKERS, "");
    q->body = json_object();
    if (cli_has(a, "failure-rate")) {
        double r;
        if (parse_rate(cli_get(a, "failure-rate"), &r) != 0)
            return cli_fail(a->cmd, "--failure-rate must be a number above 0 and at most 1"), 2;
        json_object_set_new(q->body, "failureRate", json_real(r));
    }
    if (int_opt(a, "min-samples", "minSamples", 1, 1000000, q->body) ||
        int_opt(a, "window-seconds", "windowSeconds", 10, 86400, q->body) ||
        int_opt(a, "open-seconds", "openSeconds", 1, 86400, q->body) ||
        int_opt(a, "probes", "probes", 1, 100, q->body))
        return 2;
    json_object_set_new(q->body, "perTenant", json_boolean(cli_has(a, "per-tenant")));
    if (cli_req_if_match(a, q) != 0) return 2;
    cli_req_justification(a, q->body, q);
    return 0;
}

static int check_state(const cli_args *a) {
    const char *state = a->pos[1];
    if (strcmp(state, "open") != 0 && strcmp(state, "closed") != 0 && strcmp(state, "auto") != 0)
        return cli_fail(a->cmd, "the state must be open, closed or auto"), 2;
    return 0;
}

static int prep_force(const cli_args *a, cli_req *q) {
    const char *state = a->pos[1];
    if (check_state(a) != 0) return 2;
    q->method = "POST";
    cli_req_id_path(a, q, BREAKERS, "/force");
    q->body = json_pack("{s:s}", "state", state);
    if (cli_req_if_match(a, q) != 0) return 2;
    cli_req_justification(a, q->body, q);
    return 0;
}

static int prep_delete(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "DELETE", BREAKERS, "");
}

/* ---- text for people ---------------------------------------------------------------------- */

static const char *const row_titles[] = {"JOBTYPE",   "TENANT",   "STATE",  "FORCE",
                                         "OK/FAILED", "RETRY AT", "VERSION"};

/* One breaker row: the job type's row shows tenant "*" (every tenant, or the settings). */
static const char *row_cell(const cli_table *t, const json_t *it, size_t col, char *buf,
                            size_t cap) {
    if (!it) return row_titles[col];
    const json_t *w = json_object_get(it, "window");
    const json_t *tenant = json_object_get(it, "tenantId");
    char x[32], y[32];
    switch (col) {
    case 0:
        return cli_text(json_object_get(it, "jobType"), buf, cap);
    case 1:
        return json_is_string(tenant) ? cli_text(tenant, buf, cap) : "*";
    case 2:
        return cli_text(json_object_get(it, "state"), buf, cap);
    case 3:
        return cli_text(json_object_get(it, "force"), buf, cap);
    case 4:
        snprintf(buf, cap, "%s/%s", cli_text(json_object_get(w, "ok"), x, sizeof x),
                 cli_text(json_object_get(w, "failed"), y, sizeof y));
        return buf;
    case 5:
        return cli_text(json_object_get(it, "retryAt"), buf, cap);
    default:
        return cli_text(json_object_get(it, "version"), buf, cap);
    }
}

static const cli_table row_table = {7, row_cell, NULL, 256, "no breakers"};

static void show_rows(const cli_args *a, const cli_resp *r) {
    cli_table_print(&row_table, json_object_get(r->json, "items"));
}

static void show_breaker(const cli_args *a, const cli_resp *r) {
    if (json_is_object(r->json)) cli_print_fields(r->json, 0, NULL);
}

static void show_deleted(const cli_args *a, const cli_resp *r) {
    printf("deleted the breakers of %s\n", a->pos[0]);
}

/* ---- the subcommands ---------------------------------------------------------------------- */

/* Runs s with --PREFIX-reason / --PREFIX-ticket taken as --token-reason / --token-ticket (the
 * names `jobengine token` gives them) and the token asked for scope. */
/* force: the platform administrator forces the job type's row with orch:governance; anyone else
 * is a tenant's operator forcing its own row with orch:operate. */
static int force_main(const cli_family *f, const cli_sub *s, const cli_args *a) {
    if (check_state(a) != 0) return 2;
    const char *tenant = cli_get_env(a, "tenant", "JOBENGINE_TENANT", NULL);
    int platform = tenant && *tenant
                       ? strcmp(tenant, JE_TENANT_SYSTEM) == 0
                       : cli_has(a, "governance-reason") || cli_has(a, "governance-ticket");
    if (platform) {
        if (cli_has(a, "operator-reason") || cli_has(a, "operator-ticket"))
            return cli_fail(a->cmd, "--operator-reason/--operator-ticket are a tenant "
                                    "operator's; the platform gives --governance-reason"),
                   2;
        return cli_sub_governance_main(f, s, a);
    }
    if (cli_has(a, "governance-reason") || cli_has(a, "governance-ticket"))
        return cli_fail(a->cmd, "--governance-reason/--governance-ticket are the platform's "
                                "(--tenant _system); a tenant's operator gives --operator-reason"),
               2;
    /* the Authority grants orch:operate only with a ticket: say so before sending anything */
    const char *ticket = cli_get(a, "operator-ticket");
    if (!ticket) ticket = cli_get(a, "token-ticket");
    if (!ticket) ticket = cli_get_env(a, "ticket", "STELLAOPS_ORCH_OPERATOR_TICKET", NULL);
    if (!cli_has(a, "token") && !getenv("JOBENGINE_TOKEN") && !(ticket && *ticket))
        return cli_fail(a->cmd, "a tenant's operator needs a ticket for its orch:operate token: "
                                "--operator-ticket, STELLAOPS_ORCH_OPERATOR_TICKET or --ticket"),
               2;
    return cli_sub_run_as(f, s, a, &cli_scope_operate, "operator-reason", "operator-ticket");
}

static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};
static const cli_optspec set_opts[] = {CLI_HTTP_OPTS,       {"failure-rate", 1},
                                       {"min-samples", 1},  {"window-seconds", 1},
                                       {"open-seconds", 1}, {"probes", 1},
                                       {"per-tenant", 0},   {"if-match", 1},
                                       CLI_GOVERNANCE_OPTS, {NULL, 0}};
static const cli_optspec force_opts[] = {CLI_HTTP_OPTS,          {"if-match", 1},
                                         {"operator-reason", 1}, {"operator-ticket", 1},
                                         CLI_GOVERNANCE_OPTS,    {NULL, 0}};
static const cli_optspec delete_opts[] = {
    CLI_HTTP_OPTS, {"if-match", 1}, CLI_GOVERNANCE_OPTS, {NULL, 0}};

static const cli_sub subs[] = {
    {"list", &cli_scope_read, 0, plain_opts, "breaker list",
     "Lists the breakers by job type, then tenant (TENANT '*': the job type's own row): the\n"
     "platform administrator sees every row, a tenant the job types' rows and its own.\n"
     "Scope orch:read.\n",
     prep_list, show_rows, NULL, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "breaker get JOBTYPE",
     "Shows a job type's breaker rows (its own, and the tenants' of a per-tenant job type) as\n"
     "list does. Scope orch:read.\n",
     prep_get, show_rows, NULL, NULL},
    {"set", &cli_scope_governance, 1, set_opts,
     "breaker set JOBTYPE [--failure-rate R] [--min-samples N] [--window-seconds N]\n"
     "                                 [--open-seconds N] [--probes N] [--per-tenant]\n"
     "                                 [--if-match VERSION] [--reason R] [--ticket T]",
     "Creates the job type's breaker (closed) or replaces its settings (a PUT: what is not\n"
     "given takes its default: failure rate 0.5 (above 0, at most 1), min samples 20\n"
     "(1..1000000), window 60 s (10..86400), open 30 s (1..86400), probes 3 (1..100)).\n"
     "--per-tenant gives each tenant's work of the job type a breaker of its "
     "own.\n" CLI_ABOUT_GOVERNANCE,
     prep_set, show_breaker, NULL, cli_sub_governance_main},
    {"force", &cli_scope_operate, 2, force_opts,
     "breaker force JOBTYPE open|closed|auto [--if-match VERSION] [--reason R] [--ticket T]\n"
     "                                 [--operator-reason R --operator-ticket T |\n"
     "                                  --governance-reason R --governance-ticket T]",
     "Forces a breaker open or closed until released; auto releases it (it resumes closed with\n"
     "an empty window). A client acting for _system (--tenant _system, or no --tenant and a\n"
     "--governance-reason/--governance-ticket) forces the job type's breaker with scope\n"
     "orch:governance (its token's reason: --governance-reason, else\n"
     "STELLAOPS_ORCH_GOVERNANCE_REASON/_TICKET, else --reason/--ticket). Any other client is\n"
     "a tenant's operator forcing its own tenant's breaker of a per-tenant job type, with scope\n"
     "orch:operate (its token's reason: --operator-reason/--operator-ticket, else\n"
     "STELLAOPS_ORCH_OPERATOR_REASON/_TICKET, else --reason/--ticket). Audited in the\n"
     "caller's chain.\n",
     prep_force, show_breaker, NULL, force_main},
    {"delete", &cli_scope_governance, 1, delete_opts,
     "breaker delete JOBTYPE [--if-match VERSION] [--reason R] [--ticket T]",
     "Deletes the job type's breaker and its tenants' rows: its work then goes through\n"
     "unchecked (--json: prints nothing).\n" CLI_ABOUT_GOVERNANCE,
     prep_delete, show_deleted, NULL, cli_sub_governance_main},
};

const cli_family cli_breaker_family = {
    "breaker",
    "breaker",
    "Circuit breakers of a running server (api.md \"Circuit breakers\"), per job type and\n"
    "optionally per tenant: tables for people, --json for scripts. 'jobengine breaker <sub>\n"
    "--help' describes one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    NULL};

int cmd_breaker(int argc, char **argv) {
    return cli_sub_main(&cli_breaker_family, argc, argv);
}

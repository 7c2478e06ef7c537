/* cli/cmd_job.c: `jobengine job submit|get|list|summary`, the job routes of api.md §3.4 that
 * people and scripts use (leasing is `jobengine worker`, cmd_worker.c). As cmd_quota.c: each
 * subcommand checks its arguments first (a bad one is exit 2 and nothing is sent), builds one
 * request, gets a token for just the scope it needs, and prints text for people or, with --json,
 * the server's JSON as it came. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "core/jcs.h"
#include "core/timefmt.h"

#define JOBS "/jobengine/jobs"

/* ---- checking arguments ------------------------------------------------------------------- */

/* Reads all of f into b. 0, or -1 on a read error. */
static int read_all(FILE *f, je_buf *b) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) je_buf_append(b, chunk, n);
    je_buf_putc(b, '\0'); /* an empty input still has data */
    b->len--;
    return ferror(f) ? -1 : 0;
}

/* The payload: --payload JSON, --payload - (stdin), --payload-file F, else {}. NULL after a
 * usage error. */
static json_t *read_payload(const cli_args *a) {
    const char *text = cli_get(a, "payload"), *file = cli_get(a, "payload-file");
    if (text && file) return cli_fail(a->cmd, "give --payload or --payload-file, not both"), NULL;
    if (!text && !file) return json_object();
    je_buf b = JE_BUF_INIT;
    const char *from = file ? file : strcmp(text, "-") == 0 ? "stdin" : NULL;
    if (from) {
        FILE *f = file ? fopen(file, "rb") : stdin;
        int rc = f ? read_all(f, &b) : -1;
        if (f && f != stdin) fclose(f);
        if (rc != 0) {
            cli_fail(a->cmd, "cannot read the payload from %s: %s", from, strerror(errno));
            return je_buf_free(&b), NULL;
        }
        text = b.data;
    }
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        cli_fail(a->cmd, "the payload%s%s is not JSON: %s (line %d, column %d)",
                 from ? " from " : "", from ? from : "", jerr.text, jerr.line, jerr.column);
    je_buf_free(&b);
    return v;
}

/* --opt S into body[field] when given; it must not be empty. 0, or 2. */
static int put_text(const cli_args *a, json_t *body, const char *opt, const char *field) {
    const char *v = cli_get(a, opt);
    if (!v) return 0;
    if (!*v) return cli_fail(a->cmd, "--%s must not be empty", opt), 2;
    json_object_set_new(body, field, json_string(v));
    return json_object_get(body, field) ? 0 : (cli_fail(a->cmd, "--%s is not UTF-8", opt), 2);
}

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_submit(const cli_args *a, cli_req *q) {
    const char *jt = cli_get(a, "job-type"), *et = cli_get(a, "event-time");
    long long prio = 0;
    int64_t ms;
    if (!jt || !*jt) return cli_fail(a->cmd, "--job-type T is required (see --help)"), 2;
    if (cli_has(a, "priority") && cli_int(cli_get(a, "priority"), -1000, 1000, &prio) != 0)
        return cli_bad_int(a, "priority", -1000, 1000);
    if (et && je_time_parse(et, &ms) != 0)
        return cli_fail(a->cmd, "--event-time must be an RFC 3339 date-time "
                                "(2026-11-28T09:00:00Z)"),
               2;
    q->method = "POST";
    je_buf_puts(&q->path, JOBS);
    q->body = json_object();
    if (put_text(a, q->body, "job-type", "jobType") != 0) return 2;
    json_t *payload = read_payload(a);
    if (!payload) return 2;
    json_object_set_new(q->body, "payload", payload);
    if (cli_has(a, "priority")) json_object_set_new(q->body, "priority", json_integer(prio));
    if (put_text(a, q->body, "source-id", "sourceId") != 0 ||
        put_text(a, q->body, "event-key", "eventKey") != 0 ||
        put_text(a, q->body, "event-time", "eventTime") != 0)
        return 2;
    return cli_req_idempotency_key(a, q);
}

static int prep_get(const cli_args *a, cli_req *q) {
    q->method = "GET";
    cli_req_id_path(a, q, JOBS, "");
    return 0;
}

static int prep_list(const cli_args *a, cli_req *q) {
    static const char *const statuses[] = {"pending", "leased", "succeeded", "failed", "canceled"};
    const char *st = cli_get(a, "status"), *jt = cli_get(a, "job-type");
    long long limit = 500;
    if (cli_has(a, "limit") && cli_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return cli_bad_int(a, "limit", 1, 500);
    int known = !st;
    for (size_t i = 0; st && i < 5; i++) known |= strcmp(st, statuses[i]) == 0;
    if (!known)
        return cli_fail(a->cmd, "--status must be pending, leased, succeeded, failed or canceled"),
               2;
    if (jt && !*jt) return cli_fail(a->cmd, "--job-type must not be empty"), 2;
    q->method = "GET";
    je_buf_printf(&q->path, JOBS "?limit=%lld", limit);
    if (st) je_buf_printf(&q->path, "&status=%s", st);
    if (jt) je_buf_puts(&q->path, "&jobType="), cli_http_escape(&q->path, jt);
    return 0;
}

static int prep_summary(const cli_args *a, cli_req *q) {
    q->method = "GET";
    je_buf_puts(&q->path, JOBS "/summary");
    return 0;
}

/* ---- text for people ---------------------------------------------------------------------- */

/* "key: value" lines in the server's order. */
static void show_job(const cli_args *a, const cli_resp *r) {
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach(r->json, k, v) {
        if ((int)strlen(k) > w) w = (int)strlen(k);
    }
    json_object_foreach(r->json, k, v) {
        char buf[4096];
        printf("%s:%*s %s\n", k, w - (int)strlen(k), "", cli_text(v, buf, sizeof buf));
    }
}

typedef struct column {
    const char *title, *field;
    int max; /* widest a cell may be (longer text is cut), 0: no bound */
} column;

static const column job_cols[] = {{"JOB ID", "jobId", 0},    {"JOBTYPE", "jobType", 0},
                                  {"STATUS", "status", 0},   {"PRIORITY", "priority", 0},
                                  {"ATTEMPT", "attempt", 0}, {"CREATED", "createdAt", 0},
                                  {"ERROR", "error", 60}};
static const column summary_cols[] = {{"JOBTYPE", "jobType", 0}, {"PENDING", "pending", 0},
                                      {"LEASED", "leased", 0},   {"SUCCEEDED", "succeeded", 0},
                                      {"FAILED", "failed", 0},   {"CANCELED", "canceled", 0},
                                      {"TOTAL", "total", 0}};

static const char *cell(const cli_table *t, const json_t *it, size_t col, char *buf, size_t cap) {
    const column *c = (const column *)t->ctx + col;
    if (!it) return c->title;
    if (strcmp(c->field, "attempt") == 0) { /* attempt/maxAttempts */
        char x[32], y[32];
        snprintf(buf, cap, "%s/%s", cli_text(json_object_get(it, "attempt"), x, sizeof x),
                 cli_text(json_object_get(it, "maxAttempts"), y, sizeof y));
        return buf;
    }
    cli_text(json_object_get(it, c->field), buf, cap);
    if (c->max && (int)strlen(buf) > c->max) strcpy(buf + c->max - 3, "...");
    return buf;
}

static const cli_table job_table = {sizeof job_cols / sizeof job_cols[0], cell, job_cols, 4096,
                                    "no jobs"};
static const cli_table summary_table = {sizeof summary_cols / sizeof summary_cols[0], cell,
                                        summary_cols, 4096, "no jobs"};

static void show_summary(const cli_args *a, const cli_resp *r) {
    cli_table_print(&summary_table, json_object_get(r->json, "items"));
}

static void show_list(const cli_args *a, const cli_resp *r) {
    cli_table_print(&job_table, json_object_get(r->json, "items"));
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static const cli_optspec submit_opts[] = {
    CLI_HTTP_OPTS,    {"job-type", 1},  {"payload", 1},    {"payload-file", 1},    {"priority", 1},
    {"source-id", 1}, {"event-key", 1}, {"event-time", 1}, {"idempotency-key", 1}, {NULL, 0}};
static const cli_optspec list_opts[] = {
    CLI_HTTP_OPTS, {"status", 1}, {"job-type", 1}, {"limit", 1}, {NULL, 0}};
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};

static const cli_sub subs[] = {
    {"submit", &cli_scope_jobs, 0, submit_opts,
     "job submit --job-type T [--payload JSON | --payload - | --payload-file F]\n"
     "                            [--priority N] [--source-id S] [--event-key K]\n"
     "                            [--event-time RFC3339] [--idempotency-key K]",
     "Submits a job and prints it. The payload is any JSON value: --payload JSON, --payload -\n"
     "(read from stdin) or --payload-file F; default {}. --priority -1000..1000 (default 0,\n"
     "higher first). --idempotency-key makes a retried submit return the first job instead of\n"
     "a second one. Scope orch:jobs.\n",
     prep_submit, show_job, NULL, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "job get ID",
     "Shows one job: status, attempt, lease, error, payload. Scope orch:read.\n", prep_get,
     show_job, NULL, NULL},
    {"list", &cli_scope_read, 0, list_opts,
     "job list [--status pending|leased|succeeded|failed|canceled] [--job-type T] [--limit N]",
     "Lists the tenant's jobs, oldest first, fetching every page (--limit: page size, 1-500,\n"
     "default 500); --json prints one {\"items\": [...], \"continuationToken\": null} holding\n"
     "them all. Scope orch:read.\n",
     prep_list, show_list, cli_sub_run_list, NULL},
    {"summary", &cli_scope_read, 0, plain_opts, "job summary",
     "Counts the tenant's jobs per job type and status. Scope orch:read.\n", prep_summary,
     show_summary, NULL, NULL},
};

const cli_family cli_job_family = {
    "job",
    "job",
    "Jobs of a running server (api.md §3.4): tables for people, --json for scripts.\n"
    "'jobengine worker' leases and runs them. 'jobengine job <sub> --help' describes\n"
    "one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    NULL};

int cmd_job(int argc, char **argv) {
    return cli_sub_main(&cli_job_family, argc, argv);
}

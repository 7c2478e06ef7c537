/* cli/cmd_backfill.c: `jobengine backfill preview|create|start|pause|resume|cancel|get|list|
 * watch`, the backfill routes of api.md §3.5 on a running server. As cmd_quota.c: each
 * subcommand checks its arguments first (a bad one is exit 2 and nothing is sent), builds one
 * request, gets a token for just the scope it needs (cli_http.h), and prints text for people or,
 * with --json, the server's JSON as it came. `watch` polls one backfill until it is finished,
 * drawing its progress. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/timefmt.h"

#define BACKFILLS "/jobengine/backfills"

/* ---- checking arguments ------------------------------------------------------------------- */

/* --opt NAME (a source id or job type, not "*") into body[field]. 0, or 2. */
static int put_name(const cli_args *a, json_t *body, const char *opt, const char *field) {
    const char *v = cli_get(a, opt);
    if (!v) return cli_fail(a->cmd, "--%s is required (see --help)", opt), 2;
    if (!je_id_job_type_valid(v, strlen(v)) || strcmp(v, "*") == 0)
        return cli_fail(a->cmd, "--%s must be 1-128 of [A-Za-z0-9._:-]", opt), 2;
    json_object_set_new(body, field, json_string(v));
    return 0;
}

/* --opt RFC3339 into body[field], as written (the server normalises it). 0, or 2. */
static int put_time(const cli_args *a, json_t *body, const char *opt, const char *field) {
    const char *v = cli_get(a, opt);
    int64_t ms;
    if (!v) return cli_fail(a->cmd, "--%s is required (see --help)", opt), 2;
    if (je_time_parse(v, &ms) != 0)
        return cli_fail(a->cmd, "--%s must be an RFC 3339 date-time (2026-11-01T00:00:00Z)", opt),
               2;
    json_object_set_new(body, field, json_string(v));
    return 0;
}

/* ---- preparing each request --------------------------------------------------------------- */

/* The body of preview and create (api.md §3.5). */
static int prep_plan_body(const cli_args *a, cli_req *q) {
    long long secs;
    const char *bs = cli_get(a, "batch-seconds"), *hash = cli_get(a, "plan-hash");
    q->method = "POST";
    q->body = json_object();
    if (put_name(a, q->body, "source-id", "sourceId") != 0 ||
        put_name(a, q->body, "job-type", "jobType") != 0 ||
        put_time(a, q->body, "window-start", "windowStart") != 0 ||
        put_time(a, q->body, "window-end", "windowEnd") != 0)
        return 2;
    if (bs && cli_int(bs, 1, 366LL * 86400, &secs) != 0)
        return cli_bad_int(a, "batch-seconds", 1, 366LL * 86400);
    if (bs) json_object_set_new(q->body, "batchSeconds", json_integer(secs));
    if (cli_has(a, "force-reprocess")) json_object_set_new(q->body, "forceReprocess", json_true());
    if (hash && !cli_printable_ascii(hash, 256))
        return cli_fail(a->cmd, "--plan-hash must be the planHash a preview printed"), 2;
    if (hash) json_object_set_new(q->body, "planHash", json_string(hash));
    return 0;
}

/* preview: the same body without justification (it changes nothing) and without the
 * Idempotency-Key (checked all the same, so that the command line of a preview can become a
 * create); --reason and --ticket still serve the token, as orch:backfill needs a reason. */
static int prep_preview(const cli_args *a, cli_req *q) {
    const char *k = cli_get(a, "idempotency-key");
    je_buf_puts(&q->path, BACKFILLS "/preview");
    if (prep_plan_body(a, q) != 0) return 2;
    if (k && !cli_printable_ascii(k, 255))
        return cli_fail(a->cmd, "--idempotency-key must be 1-255 printable ASCII characters"), 2;
    q->reason = cli_get(a, "reason");
    q->ticket = cli_get(a, "ticket");
    return 0;
}

static int prep_create(const cli_args *a, cli_req *q) {
    je_buf_puts(&q->path, BACKFILLS);
    if (prep_plan_body(a, q) != 0 || cli_req_idempotency_key(a, q) != 0) return 2;
    cli_req_justification(a, q->body, q);
    return 0;
}

/* start, pause, resume, cancel: a body only when there is a justification to send. */
static int prep_start(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", BACKFILLS, "/start");
}
static int prep_pause(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", BACKFILLS, "/pause");
}
static int prep_resume(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", BACKFILLS, "/resume");
}
static int prep_cancel(const cli_args *a, cli_req *q) {
    return cli_req_move(a, q, "POST", BACKFILLS, "/cancel");
}

static int prep_get(const cli_args *a, cli_req *q) {
    q->method = "GET";
    cli_req_id_path(a, q, BACKFILLS, "");
    return 0;
}

static const char *const statuses[] = {"pending",   "running", "paused",
                                       "completed", "failed",  "canceled"};

static int prep_list(const cli_args *a, cli_req *q) {
    const char *st = cli_get(a, "status");
    long long limit = 500;
    int known = 0;
    if (cli_has(a, "limit") && cli_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return cli_bad_int(a, "limit", 1, 500);
    for (size_t i = 0; st && i < sizeof statuses / sizeof statuses[0]; i++)
        known |= strcmp(st, statuses[i]) == 0;
    if (st && !known)
        return cli_fail(a->cmd, "--status must be pending, running, paused, completed, failed "
                                "or canceled"),
               2;
    q->method = "GET";
    je_buf_printf(&q->path, BACKFILLS "?limit=%lld", limit);
    if (st) je_buf_printf(&q->path, "&status=%s", st);
    return 0;
}

/* --interval SECONDS: 0.1 to 3600, default 1. */
static int prep_watch(const cli_args *a, cli_req *q) {
    const char *v = cli_get(a, "interval");
    q->interval = 1;
    if (v) {
        char *end = NULL;
        size_t n = strlen(v);
        double d = n && n < 16 && strspn(v, "0123456789.") == n ? strtod(v, &end) : NAN;
        if (!end || *end || !isfinite(d) || d < 0.1 || d > 3600)
            return cli_fail(a->cmd, "--interval must be a number of seconds from 0.1 to 3600"), 2;
        q->interval = d;
    }
    return prep_get(a, q);
}

/* ---- text for people ---------------------------------------------------------------------- */

static long long int_of(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* "  PASS  window_order" per safety check. */
static void print_checks(FILE *f, const json_t *checks, int indent) {
    size_t i;
    const json_t *c;
    json_array_foreach(checks, i, c) {
        char name[256];
        fprintf(f, "%*s%s  %s\n", indent, "",
                json_is_true(json_object_get(c, "passed")) ? "PASS" : "FAIL",
                cli_text(json_object_get(c, "check"), name, sizeof name));
    }
}

/* A backfill's safety checks, one a line. */
static int own_checks(const char *key, const json_t *v, int indent) {
    if (strcmp(key, "safetyChecks") != 0 || json_array_size(v) == 0) return 0;
    printf("%*s%s:\n", indent, "", key);
    print_checks(stdout, v, indent + 2);
    return 1;
}

static void show_backfill(const cli_args *a, const cli_resp *r) {
    if (json_is_object(r->json)) cli_print_fields(r->json, 0, own_checks);
}

/* The plan and checks, then what create would answer (in the order of api.md §3.5). */
static void show_preview(const cli_args *a, const cli_resp *r) {
    const json_t *checks = json_object_get(r->json, "safetyChecks"), *c;
    const char *hash =
        json_string_value(json_object_get(json_object_get(r->json, "plan"), "planHash"));
    const char *given = cli_get(a, "plan-hash"), *dup = NULL;
    char failed[1024] = "";
    size_t i, n = 0;
    show_backfill(a, r);
    json_array_foreach(checks, i, c) {
        const char *name = json_string_value(json_object_get(c, "check"));
        if (json_is_true(json_object_get(c, "passed")) || !name) continue;
        if (strcmp(name, "no_overlap") == 0) dup = name;
        n += (size_t)snprintf(failed + n, n < sizeof failed ? sizeof failed - n : 0, "%s%s",
                              n ? ", " : "", name);
    }
    if (dup) {
        char id[128];
        printf("create would be refused: BACKFILL_DUPLICATE (overlaps or repeats backfill %s)\n",
               cli_text(json_object_get(r->json, "existingBackfillId"), id, sizeof id));
    } else if (n) {
        printf("create would be refused: BACKFILL_UNSAFE (failed: %s)\n", failed);
    } else if (given && hash && strcmp(given, hash) != 0) {
        printf("create would be refused: PLAN_CHANGED (the plan is now %s)\n", hash);
    } else {
        printf("create would be accepted; give it --plan-hash %s to refuse a changed plan\n",
               hash ? hash : "-");
    }
}

/* The details a refusal of create carries, under the "CODE: message" line (stderr). */
static void print_refusal_details(const cli_resp *r) {
    const json_t *d = json_object_get(json_object_get(r->json, "error"), "details");
    char buf[256];
    if (json_object_get(d, "existingBackfillId"))
        fprintf(stderr, "  existing backfill: %s\n",
                cli_text(json_object_get(d, "existingBackfillId"), buf, sizeof buf));
    if (json_object_get(d, "planHash"))
        fprintf(stderr, "  current planHash:  %s\n",
                cli_text(json_object_get(d, "planHash"), buf, sizeof buf));
    if (json_array_size(json_object_get(d, "safetyChecks")) > 0) {
        fprintf(stderr, "  safety checks:\n");
        print_checks(stderr, json_object_get(d, "safetyChecks"), 4);
    }
}

/* "2026-11-01T00:00:00Z": the server's time without a zero millisecond part. */
static const char *short_time(const json_t *v, char *buf, size_t cap) {
    cli_text(v, buf, cap);
    size_t n = strlen(buf);
    if (n == 24 && strcmp(buf + 19, ".000Z") == 0) strcpy(buf + 19, "Z");
    return buf;
}

static const char *const columns[] = {
    "BACKFILL ID", "SOURCE", "JOB TYPE", "WINDOW", "STATUS", "BATCHES", "EVENTS PROC/DUP/FAIL"};
#define NCOLS (sizeof columns / sizeof columns[0])

static const char *cell(const cli_table *t, const json_t *it, size_t col, char *buf, size_t cap) {
    static const char *const one[NCOLS] = {"backfillId", "sourceId", "jobType", NULL, "status"};
    if (!it) return columns[col];
    const json_t *prog = json_object_get(it, "progress"), *plan = json_object_get(it, "plan");
    char x[64], y[64];
    if (one[col]) return cli_text(json_object_get(it, one[col]), buf, cap);
    if (col == 3)
        snprintf(buf, cap, "%s/%s", short_time(json_object_get(it, "windowStart"), x, sizeof x),
                 short_time(json_object_get(it, "windowEnd"), y, sizeof y));
    else if (col == 5)
        snprintf(buf, cap, "%lld/%lld", int_of(prog, "batchesDone"), int_of(plan, "batches"));
    else
        snprintf(buf, cap, "%lld/%lld/%lld", int_of(prog, "eventsProcessed"),
                 int_of(prog, "duplicatesSkipped"), int_of(prog, "eventsFailed"));
    return buf;
}

static const cli_table table = {NCOLS, cell, NULL, 512, "no backfills"};

static void show_list(const cli_args *a, const cli_resp *r) {
    cli_table_print(&table, json_object_get(r->json, "items"));
}

/* ---- watch -------------------------------------------------------------------------------- */

#define WATCH_RETRY_MS 60000 /* how long an unreachable or unavailable server is waited for */
#define BAR_WIDTH 30

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) {
    stop_signal = sig;
}

static int64_t mono_ms(void) {
    return je_mono_ns() / 1000000;
}

/* Sleeps ms, or less when a stop signal comes (no SA_RESTART: nanosleep returns EINTR). */
static void nap(int64_t ms) {
    int64_t until = mono_ms() + ms;
    for (int64_t left = ms; left > 0 && !stop_signal; left = until - mono_ms()) {
        struct timespec t = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        if (nanosleep(&t, NULL) != 0 && errno != EINTR) break;
    }
}

typedef struct watch {
    cli_http *h;
    const cli_args *a;
    const char *path;
    int tty, json, given_token;
    int answered;    /* a poll has succeeded */
    char shown[512]; /* the progress line last shown ("" after the line was ended) */
} watch;

/* "running    [#######-------]  40/168 batches  23%  events: 1200 processed, ..." */
static void progress_line(const json_t *b, char *out, size_t cap) {
    const json_t *prog = json_object_get(b, "progress");
    long long done = int_of(prog, "batchesDone"),
              total = int_of(json_object_get(b, "plan"), "batches");
    int pct = total > 0 ? (int)(done * 100 / total) : 0,
        fill = total > 0 ? (int)(done * BAR_WIDTH / total) : 0;
    char bar[BAR_WIDTH + 1], st[32];
    if (pct > 100) pct = 100, fill = BAR_WIDTH;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = '\0';
    snprintf(out, cap,
             "%-9s [%s] %lld/%lld batches %3d%%  events: %lld processed, %lld duplicates, %lld "
             "failed",
             cli_text(json_object_get(b, "status"), st, sizeof st), bar, done, total, pct,
             int_of(prog, "eventsProcessed"), int_of(prog, "duplicatesSkipped"),
             int_of(prog, "eventsFailed"));
}

/* Shows the backfill when its status or progress changed: a TTY redraws one line, anything
 * else gets one line per change (--json: the server's JSON, one document a line). */
static void watch_show(watch *w, const cli_resp *r) {
    char line[sizeof w->shown];
    progress_line(r->json, line, sizeof line);
    if (strcmp(line, w->shown) == 0) return;
    snprintf(w->shown, sizeof w->shown, "%s", line);
    if (w->json)
        cli_http_print_body(r);
    else if (w->tty)
        printf("\r%s\033[K", line);
    else
        printf("%s\n", line);
    fflush(stdout);
}

/* Ends the TTY's progress line before anything else is written. */
static void watch_end_line(watch *w) {
    if (w->tty && !w->json && w->shown[0]) printf("\n");
    w->shown[0] = '\0';
    fflush(stdout);
}

/* A new token before the current one (obtained here) expires or after it was refused. */
static int watch_renew(watch *w, int refused) {
    long long exp = cli_http_token_expiry(w->h);
    if (w->given_token || (!refused && (exp == 0 || exp - 30 > (long long)(je_now_ms() / 1000))))
        return 0;
    return cli_http_renew(w->h, w->a, &cli_scope_read) == 0 ? 0 : 1;
}

static int transient(long status) {
    return status == 502 || status == 503 || status == 504;
}

/* The end of a watch: 0 completed, 1 failed or canceled (with the backfill's error). */
static int watch_finished(watch *w, const json_t *b) {
    const char *st = json_string_value(json_object_get(b, "status"));
    char id[128], err[2048];
    cli_text(json_object_get(b, "backfillId"), id, sizeof id);
    cli_text(json_object_get(b, "error"), err, sizeof err);
    watch_end_line(w);
    if (strcmp(st, "completed") == 0) {
        if (!w->json) printf("backfill %s completed\n", id);
        return 0;
    }
    return cli_fail(w->h->cmd, "backfill %s %s%s%s", id,
                    strcmp(st, "failed") == 0 ? "failed" : "was canceled",
                    strcmp(err, "-") != 0 ? ": " : "", strcmp(err, "-") != 0 ? err : "");
}

static int is_finished(const json_t *b) {
    const char *st = json_string_value(json_object_get(b, "status"));
    return st && (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
                  strcmp(st, "canceled") == 0);
}

/* One poll. Returns -1 to poll again, else the exit status. */
static int watch_poll(watch *w, int64_t *failing_since) {
    cli_resp r;
    int reached = cli_http_request(w->h, "GET", w->path, NULL, NULL, &r) == 0;
    if (reached && r.status == 401 && !w->given_token) { /* expired or revoked: once more */
        cli_resp_free(&r);
        if (watch_renew(w, 1) != 0) return 1;
        reached = cli_http_request(w->h, "GET", w->path, NULL, NULL, &r) == 0;
    }
    int rc = -1;
    if (reached && r.status == 200 && json_is_object(r.json)) {
        *failing_since = 0;
        w->answered = 1;
        watch_show(w, &r);
        if (is_finished(r.json)) rc = watch_finished(w, r.json);
    } else if (!reached || transient(r.status)) {
        /* the first poll must succeed; later a restarting server is waited for a while */
        if (reached)
            watch_end_line(w), cli_http_fail(w->h, &r);
        else
            w->shown[0] = '\0'; /* after the message, show the line again */
        if (!*failing_since) *failing_since = mono_ms();
        if (!w->answered || mono_ms() - *failing_since > WATCH_RETRY_MS) rc = 1;
    } else {
        watch_end_line(w);
        rc = cli_http_fail(w->h, &r);
    }
    if (reached) cli_resp_free(&r);
    return rc;
}

static int run_watch(cli_http *h, const cli_args *a, const cli_sub *s, cli_req *q) {
    watch w = {.h = h,
               .a = a,
               .path = q->path.data,
               .tty = isatty(STDOUT_FILENO),
               .json = cli_has(a, "json"),
               .given_token = cli_get_env(a, "token", "JOBENGINE_TOKEN", NULL) != NULL};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: the sleep between polls ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t failing_since = 0;
    int rc = -1;
    while (rc < 0 && !stop_signal) {
        int64_t next = mono_ms() + (int64_t)(q->interval * 1000);
        if (watch_renew(&w, 0) != 0) return 1;
        rc = watch_poll(&w, &failing_since);
        if (rc < 0) nap(next - mono_ms());
    }
    if (rc >= 0) return rc;
    /* stopped by Ctrl-C: the backfill itself is left alone */
    watch_end_line(&w);
    cli_fail(h->cmd, "stopped watching; backfill %s goes on", a->pos[0]);
    return 128 + stop_signal;
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static const cli_optspec plan_opts[] = {
    CLI_HTTP_OPTS,          {"source-id", 1},  {"job-type", 1},
    {"window-start", 1},    {"window-end", 1}, {"batch-seconds", 1},
    {"force-reprocess", 0}, {"plan-hash", 1},  {"idempotency-key", 1},
    CLI_JUST_OPTS,          {NULL, 0}};
static const cli_optspec move_opts[] = {CLI_HTTP_OPTS, {"if-match", 1}, CLI_JUST_OPTS, {NULL, 0}};
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};
static const cli_optspec list_opts[] = {CLI_HTTP_OPTS, {"status", 1}, {"limit", 1}, {NULL, 0}};
static const cli_optspec watch_opts[] = {CLI_HTTP_OPTS, {"interval", 1}, {NULL, 0}};

#define PLAN_SYNOPSIS                                                                              \
    " --source-id S --job-type T --window-start RFC3339\n"                                         \
    "                                 --window-end RFC3339 [--batch-seconds N] "                   \
    "[--force-reprocess]\n"                                                                        \
    "                                 [--plan-hash H] [--reason R] [--ticket T]\n"                 \
    "                                 [--idempotency-key K]"

#define ABOUT_CHANGE                                                                               \
    "A change, with scope orch:backfill: --reason/--ticket go into the request body and are\n"     \
    "audited with it; a token requested for it carries --token-reason/--token-ticket, else\n"      \
    "STELLAOPS_ORCH_BACKFILL_REASON/_TICKET, else --reason/--ticket.\n"

#define MOVE_SYNOPSIS " ID [--reason R] [--ticket T] [--if-match VERSION]"

static const cli_sub subs[] = {
    {"preview", &cli_scope_backfill, 0, plan_opts, "backfill preview" PLAN_SYNOPSIS,
     "Shows the plan (batches, known and already processed events, planHash) and every safety\n"
     "check with PASS or FAIL, then whether create would accept it; creates nothing and exits 0\n"
     "even when a check fails. --batch-seconds: 1 to 31622400, default 3600. Scope\n"
     "orch:backfill, whose token needs a reason (--token-reason, STELLAOPS_ORCH_BACKFILL_REASON\n"
     "or --reason) although the preview itself records none.\n",
     prep_preview, show_preview, NULL, NULL},
    {"create", &cli_scope_backfill, 0, plan_opts, "backfill create" PLAN_SYNOPSIS,
     "Creates a backfill in 'pending' (start it with 'backfill start'). A refusal prints its\n"
     "code (BACKFILL_DUPLICATE, BACKFILL_UNSAFE, PLAN_CHANGED) and every safety check on\n"
     "stderr and exits 1. --plan-hash refuses the create when the plan differs from the one a\n"
     "preview showed.\n" ABOUT_CHANGE,
     prep_create, show_backfill, NULL, NULL},
    {"start", &cli_scope_backfill, 1, move_opts, "backfill start" MOVE_SYNOPSIS,
     "pending -> running: the engine submits the batch jobs.\n" ABOUT_CHANGE, prep_start,
     show_backfill, NULL, NULL},
    {"pause", &cli_scope_backfill, 1, move_opts, "backfill pause" MOVE_SYNOPSIS,
     "running -> paused: no new batches are submitted.\n" ABOUT_CHANGE, prep_pause, show_backfill,
     NULL, NULL},
    {"resume", &cli_scope_backfill, 1, move_opts, "backfill resume" MOVE_SYNOPSIS,
     "paused -> running.\n" ABOUT_CHANGE, prep_resume, show_backfill, NULL, NULL},
    {"cancel", &cli_scope_backfill, 1, move_opts, "backfill cancel" MOVE_SYNOPSIS,
     "Ends an unfinished backfill; its pending batch jobs are canceled.\n" ABOUT_CHANGE,
     prep_cancel, show_backfill, NULL, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "backfill get ID",
     "Shows one backfill: window, status, plan, progress, safety checks, version. Scope\n"
     "orch:read.\n",
     prep_get, show_backfill, NULL, NULL},
    {"list", &cli_scope_read, 0, list_opts, "backfill list [--status S] [--limit N]",
     "Lists the tenant's backfills, newest first, fetching every page (--status: pending,\n"
     "running, paused, completed, failed or canceled; --limit: page size, 1-500, default 500);\n"
     "--json prints one {\"items\": [...], \"continuationToken\": null}\n"
     "holding them all. Scope orch:read.\n",
     prep_list, show_list, cli_sub_run_list, NULL},
    {"watch", &cli_scope_read, 1, watch_opts, "backfill watch ID [--interval SECONDS]",
     "Polls the backfill every --interval seconds (0.1-3600, default 1) until it is finished,\n"
     "showing its batches as a progress bar and its event counters: on a terminal one line\n"
     "redrawn, otherwise one line per change (--json: the server's JSON, one document a line).\n"
     "Exits 0 when it completed, 1 when it failed or was canceled (its error on stderr) or the\n"
     "server stays unreachable for 60 s; Ctrl-C stops watching (exit 130) and leaves the\n"
     "backfill alone. Scope orch:read.\n",
     prep_watch, NULL, run_watch, NULL},
};

const cli_family cli_backfill_family = {
    "backfill",
    "backfill",
    "Backfills of a running server (api.md §3.5): text for people, --json for\n"
    "scripts. 'jobengine backfill <sub> --help' describes one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    print_refusal_details};

int cmd_backfill(int argc, char **argv) {
    return cli_sub_main(&cli_backfill_family, argc, argv);
}

/* cli/cmd_worker.c: `jobengine worker`, a process that leases jobs (api.md §3.4) and runs a
 * shell command for each one.
 *
 * One thread, one loop: lease into free slots, start `/bin/sh -c COMMAND` per job (cli_child.h:
 * payload JSON on stdin, JOBENGINE_JOB_ID/_JOB_TYPE/_ATTEMPT/_LEASE_ID in the environment, each
 * child in its own process group), heartbeat every leaseSeconds/3, reap and complete. The
 * loop sleeps in poll() on the children's pipes and a self-pipe that the signal handlers
 * (SIGCHLD, SIGTERM, SIGINT) write to, so it wakes for a child that ends, a stop request, or the
 * next deadline (lease, heartbeat, kill, retry, idle exit), whichever comes first.
 *
 * Stopping: the first SIGTERM/SIGINT stops leasing; running commands finish and are reported,
 * then exit 0. A second one kills the commands (SIGTERM, SIGKILL after a grace) and abandons
 * their jobs, whose leases expire and return them to pending (a job the worker gave up is not a
 * failed attempt); exit 1. Tokens and secrets are never printed, nor passed to the commands. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_child.h"
#include "cli/cli_http.h"
#include "core/jcs.h"
#include "core/text.h"
#include "core/timefmt.h"

#define MAX_TYPES 32
#define POLL_MS 1000    /* lease again after an answer that gave no hint */
#define HINT_MIN_MS 200 /* bounds of a wait on nextEligibleAt / Retry-After */
#define HINT_MAX_MS 5000
#define RETRY_MS 1000 /* a heartbeat or completion that did not get through */
#define LEASE_PATH "/jobengine/jobs/lease"

extern char **environ;

enum { FREE, RUNNING, REPORTING };

typedef struct slot {
    int state;
    cli_child child; /* the job's command; its payload is the command's stdin */
    char job_id[128], job_type[160], lease_id[64], why[160]; /* why: could not start */
    long long attempt;
    int lost, abandoned;
    int64_t started, ended, next_beat, lease_end, next_try; /* monotonic ms */
} slot;

typedef struct worker {
    const cli_args *a;
    cli_http h;
    int can_refresh;    /* client credentials (not a given token): a new token can be had */
    int64_t refresh_at; /* wall ms when the token is renewed before it expires; 0: unknown */
    const char *types[MAX_TYPES];
    size_t n_types;
    char id[160];
    const char *exec;
    long long concurrency, lease_s, max_jobs, idle_ms; /* max_jobs 0: unbounded; idle_ms -1 */
    int json;
    slot *slots;
    char **env; /* environ without credentials, then 4 job variables and NULL */
    size_t n_env;
    long long leased, succeeded, failed, other;
    int64_t next_lease, idle_since;
    int lease_broken; /* the last lease call did not get an answer */
    int fatal;        /* the server refused to lease for good: exit 1 once the rest is done */
    int forced;       /* a second stop signal: commands killed, their jobs abandoned */
} worker;

static volatile sig_atomic_t stop_signals;
static int wake_fd[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    if (sig != SIGCHLD) stop_signals++;
    if (write(wake_fd[1], "x", 1) < 0) { /* full: the loop is awake anyway */
    }
    errno = saved;
}

static int64_t mono_ms(void) {
    return je_mono_ns() / 1000000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "jobengine worker: %s\n", line);
}

/* "CODE: message" of an error answer, else "HTTP status". */
static const char *describe(const cli_resp *r, char *buf, size_t cap) {
    const json_t *e = json_object_get(r->json, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code)
        snprintf(buf, cap, "%s: %s", code, msg ? msg : "");
    else
        snprintf(buf, cap, "HTTP %ld", r->status);
    return buf;
}

static const char *error_code(const cli_resp *r) {
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

/* Worth trying again later: the server is busy, restarting or failing. */
static int transient(long status) {
    return status == 429 || status >= 500 || status == 0;
}

/* ---- tokens ------------------------------------------------------------------------------- */

/* Renews the token before it expires: a quarter of its life early, at most 2 minutes. */
static void plan_refresh(worker *w) {
    long long exp = cli_http_token_expiry(&w->h);
    int64_t left = exp * 1000 - je_now_ms();
    w->refresh_at = exp <= 0 ? 0 : exp * 1000 - (left / 4 < 120000 ? left / 4 : 120000);
}

/* Asks for a new token; the old one stays in use when that fails. 0 or non-zero. */
static int renew(worker *w) {
    int rc = cli_http_renew(&w->h, w->a, &cli_scope_jobs);
    plan_refresh(w);
    return rc;
}

/* One request with a token that is renewed when it nears its end, and once more on a 401. */
static int call(worker *w, const char *path, const json_t *body, cli_resp *r) {
    if (w->can_refresh && w->refresh_at && je_now_ms() >= w->refresh_at) renew(w);
    int rc = cli_http_request(&w->h, "POST", path, body, NULL, r);
    if (rc == 0 && r->status == 401 && w->can_refresh && renew(w) == 0) {
        cli_resp_free(r);
        rc = cli_http_request(&w->h, "POST", path, body, NULL, r);
    }
    return rc;
}

/* call() to /jobengine/jobs/ID/what with body (which it frees). */
static int call_job(worker *w, const slot *s, const char *what, json_t *body, cli_resp *r) {
    je_buf path = JE_BUF_INIT;
    je_buf_puts(&path, "/jobengine/jobs/");
    cli_http_escape(&path, s->job_id);
    je_buf_printf(&path, "/%s", what);
    int rc = call(w, path.data, body, r);
    json_decref(body);
    je_buf_free(&path);
    return rc;
}

/* ---- the commands ------------------------------------------------------------------------- */

/* Starts the job's command with the job's variables in its environment. 0, or -1 with errno. */
static int spawn(worker *w, slot *s, char *payload, size_t len) {
    char vars[4][256];
    snprintf(vars[0], sizeof vars[0], "JOBENGINE_JOB_ID=%s", s->job_id);
    snprintf(vars[1], sizeof vars[1], "JOBENGINE_JOB_TYPE=%s", s->job_type);
    snprintf(vars[2], sizeof vars[2], "JOBENGINE_ATTEMPT=%lld", s->attempt);
    snprintf(vars[3], sizeof vars[3], "JOBENGINE_LEASE_ID=%s", s->lease_id);
    for (int i = 0; i < 4; i++) w->env[w->n_env + (size_t)i] = vars[i];
    return cli_child_start(&s->child, w->exec, w->env, payload, len);
}

/* ---- outcomes ----------------------------------------------------------------------------- */

/* Why it did not start, else "exit status N" / "killed by signal S (SIGNAME)". */
static const char *how_it_ended(const slot *s, char *buf, size_t cap) {
    if (!s->why[0]) return cli_child_ended(&s->child, buf, cap);
    snprintf(buf, cap, "%s", s->why);
    return buf;
}

/* The failure's error for the server: how it ended, then the end of its stderr. */
static json_t *failure_text(const slot *s) {
    char how[256];
    je_buf b = JE_BUF_INIT;
    je_buf_puts(&b, how_it_ended(s, how, sizeof how));
    cli_child_put_tail(&s->child, "; stderr: ", &b);
    json_t *v = json_stringn(b.data, b.len);
    je_buf_free(&b);
    return v;
}

/* The job's line on stderr (and its record on stdout with --json); frees the slot. */
static void finish(worker *w, slot *s, const char *outcome, const char *detail) {
    int64_t ms = (s->ended ? s->ended : mono_ms()) - s->started;
    say("job %s (%s, attempt %lld): %s in %.2f s%s%s%s", s->job_id, s->job_type, s->attempt,
        outcome, (double)ms / 1000.0, detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
    if (w->json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "jobId", s->job_id, "jobType",
                              s->job_type, "attempt", (json_int_t)s->attempt, "outcome", outcome,
                              "durationMs", (json_int_t)ms);
        if (detail) json_object_set_new(o, "detail", json_string(detail));
        cli_http_print_json(o);
        fflush(stdout);
        json_decref(o);
    }
    if (strcmp(outcome, "succeeded") == 0)
        w->succeeded++;
    else if (strcmp(outcome, "failed") == 0)
        w->failed++;
    else
        w->other++;
    cli_child_release(&s->child);
    s->state = FREE;
    w->next_lease = mono_ms(); /* a slot is free: look for work now */
}

/* Reports the exit of the command: succeeded or failed, with its error. */
static void report(worker *w, slot *s) {
    int ok = !s->why[0] && cli_child_succeeded(&s->child);
    json_t *body =
        json_pack("{s:s, s:s}", "leaseId", s->lease_id, "status", ok ? "succeeded" : "failed");
    if (!ok) json_object_set_new(body, "error", failure_text(s));
    cli_resp r;
    int rc = call_job(w, s, "complete", body, &r);
    int64_t now = mono_ms();
    char how[256], why[512], detail[600];
    how_it_ended(s, how, sizeof how);
    if (rc == 0 && r.status == 200) {
        const char *st = json_string_value(json_object_get(r.json, "status"));
        int again = !ok && st && strcmp(st, "pending") == 0;
        snprintf(detail, sizeof detail, "%s%s", how, again ? "; it will be retried" : "");
        finish(w, s, ok ? "succeeded" : "failed", ok ? NULL : detail);
    } else if (rc == 0 && r.status == 409 && strcmp(error_code(&r), "LEASE_LOST") == 0) {
        snprintf(detail, sizeof detail, "%s, but the lease had ended: not recorded", how);
        finish(w, s, "lease_lost", detail);
    } else if ((rc != 0 || transient(r.status)) && now < s->lease_end && !w->forced) {
        s->next_try = now + RETRY_MS; /* try again while the lease may still hold */
        if (rc == 0)
            say("job %s: completion not accepted yet (%s); retrying", s->job_id,
                describe(&r, why, sizeof why));
    } else {
        snprintf(detail, sizeof detail, "%s; the completion was not recorded (%s)", how,
                 rc ? "the server could not be reached" : describe(&r, why, sizeof why));
        finish(w, s, "unreported", detail);
    }
    if (rc == 0) cli_resp_free(&r);
}

/* Heartbeats come every leaseSeconds/3, so two may fail before the lease ends. */
static int64_t beat_ms(const worker *w) {
    return w->lease_s * 1000 / 3;
}

static void heartbeat(worker *w, slot *s, int64_t now) {
    json_t *body =
        json_pack("{s:s, s:I}", "leaseId", s->lease_id, "extendSeconds", (json_int_t)w->lease_s);
    cli_resp r;
    int rc = call_job(w, s, "heartbeat", body, &r);
    char why[512];
    s->next_beat = mono_ms() + (RETRY_MS < beat_ms(w) ? RETRY_MS : beat_ms(w));
    if (rc == 0 && r.status == 200) {
        s->lease_end = now + w->lease_s * 1000;
        s->next_beat = now + beat_ms(w);
    } else if (rc == 0 && (r.status == 409 || r.status == 404)) {
        say("job %s: lease lost (%s); stopping its command", s->job_id,
            describe(&r, why, sizeof why));
        s->lost = 1;
        cli_child_stop(&s->child, mono_ms());
    } else if (rc == 0) {
        say("job %s: heartbeat not accepted (%s); retrying", s->job_id,
            describe(&r, why, sizeof why));
    }
    if (rc == 0) cli_resp_free(&r);
}

/* ---- leasing ------------------------------------------------------------------------------ */

static size_t count(const worker *w, int state) {
    size_t n = 0;
    for (long long i = 0; i < w->concurrency; i++) n += w->slots[i].state == state;
    return n;
}

static slot *free_slot(worker *w) {
    for (long long i = 0; i < w->concurrency; i++)
        if (w->slots[i].state == FREE) return &w->slots[i];
    return NULL;
}

/* Copies a string member of j into dst. 0, or -1 when absent or too long. */
static int take(const json_t *j, const char *name, char *dst, size_t cap) {
    const char *v = json_string_value(json_object_get(j, name));
    if (!v || !*v || strlen(v) >= cap) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static void start_job(worker *w, const json_t *j, int64_t now) {
    slot *s = free_slot(w);
    const json_t *att = json_object_get(j, "attempt");
    const char *id = json_string_value(json_object_get(j, "jobId"));
    if (!s) {
        say("job %s: leased beyond the free slots; its lease will expire", id ? id : "?");
        return;
    }
    memset(s, 0, sizeof *s);
    cli_child_init(&s->child);
    if (take(j, "jobId", s->job_id, sizeof s->job_id) ||
        take(j, "jobType", s->job_type, sizeof s->job_type) ||
        take(j, "leaseId", s->lease_id, sizeof s->lease_id) || !json_is_integer(att)) {
        say("the server leased a job without jobId, jobType, leaseId or attempt");
        return;
    }
    w->leased++;
    s->attempt = (long long)json_integer_value(att);
    s->started = now;
    s->next_beat = now + beat_ms(w);
    s->lease_end = now + w->lease_s * 1000;
    const json_t *p = json_object_get(j, "payload");
    size_t len = 0;
    char *payload = je_json_dumps_ordered(p ? p : json_null(), &len);
    if (payload) payload[len++] = '\n'; /* a line, for `read` and friends */
    s->state = RUNNING;
    if (payload && spawn(w, s, payload, len) == 0) return;
    snprintf(s->why, sizeof s->why, "the command could not be started: %s",
             payload ? strerror(errno) : "out of memory");
    s->state = REPORTING;
    s->ended = s->next_try = now;
}

/* How long to wait after an answer without jobs: nextEligibleAt, else Retry-After (bounded),
 * else a short poll. */
static int64_t wait_hint(const cli_resp *r) {
    const char *at = json_string_value(json_object_get(r->json, "nextEligibleAt"));
    int64_t t, ms;
    size_t n = strlen(r->retry_after);
    if (at && je_time_parse(at, &t) == 0)
        ms = t - je_now_ms();
    else if (n > 0 && n < 10 && strspn(r->retry_after, "0123456789") == n)
        ms = atoll(r->retry_after) * 1000;
    else
        return POLL_MS;
    return ms < HINT_MIN_MS ? HINT_MIN_MS : ms > HINT_MAX_MS ? HINT_MAX_MS : ms;
}

static void lease(worker *w, int64_t now) {
    long long want = (long long)count(w, FREE);
    if (w->max_jobs && w->max_jobs - w->leased < want) want = w->max_jobs - w->leased;
    json_t *types = json_array();
    for (size_t i = 0; i < w->n_types; i++) json_array_append_new(types, json_string(w->types[i]));
    json_t *body = json_pack("{s:o, s:s, s:I, s:I}", "jobTypes", types, "workerId", w->id, "max",
                             (json_int_t)want, "leaseSeconds", (json_int_t)w->lease_s);
    cli_resp r;
    int rc = call(w, LEASE_PATH, body, &r);
    json_decref(body);
    now = mono_ms();
    const json_t *jobs = rc == 0 ? json_object_get(r.json, "jobs") : NULL;
    size_t n = json_array_size(jobs), i;
    json_t *j;
    char why[512];
    w->lease_broken = !(rc == 0 && r.status == 200 && json_is_array(jobs));
    if (!w->lease_broken) {
        json_array_foreach(jobs, i, j) start_job(w, j, now);
        w->next_lease = n == 0 ? now + wait_hint(&r) : (long long)n < want ? now + POLL_MS : now;
    } else if (rc != 0 || transient(r.status)) {
        if (rc == 0) say("lease not granted (%s); retrying", describe(&r, why, sizeof why));
        w->next_lease = now + HINT_MAX_MS;
    } else { /* refused for good (scope, tenant, a bad job type): say it in the CLI's form */
        cli_http_fail(&w->h, &r);
        w->fatal = 1;
    }
    if (n > 0)
        w->idle_since = 0;
    else if (count(w, FREE) == (size_t)w->concurrency && !w->idle_since)
        w->idle_since = now;
    if (rc == 0) cli_resp_free(&r);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void reap(worker *w, int64_t now) {
    for (long long i = 0; i < w->concurrency; i++) {
        slot *s = &w->slots[i];
        if (s->state != RUNNING) continue;
        int ended = cli_child_reap(&s->child);
        if (ended == 0) continue;
        if (ended < 0)
            snprintf(s->why, sizeof s->why, "its exit status was lost: %s", strerror(errno));
        s->ended = now;
        char how[256];
        if (s->lost)
            finish(w, s, "lease_lost", "the command was stopped");
        else if (s->abandoned)
            finish(w, s, "abandoned", how_it_ended(s, how, sizeof how));
        else
            s->state = REPORTING, s->next_try = now;
    }
}

static int leasing(const worker *w) {
    return !stop_signals && !w->fatal && (!w->max_jobs || w->leased < w->max_jobs);
}

static int idle_over(const worker *w, int64_t now) {
    return w->idle_ms >= 0 && w->idle_since && now - w->idle_since >= w->idle_ms;
}

/* The work due now: kills, reaping, reports, heartbeats. */
static void tend(worker *w, int64_t now) {
    if (stop_signals >= 2 && !w->forced) {
        w->forced = 1;
        say("stopping now: killing %zu running command(s); their jobs return to pending when "
            "their leases expire",
            count(w, RUNNING));
        for (long long i = 0; i < w->concurrency; i++)
            if (w->slots[i].state == RUNNING && !w->slots[i].child.kill_at)
                w->slots[i].abandoned = 1, cli_child_stop(&w->slots[i].child, now);
    }
    reap(w, now);
    for (long long i = 0; i < w->concurrency; i++) {
        slot *s = &w->slots[i];
        if (s->state == REPORTING && s->next_try <= mono_ms()) report(w, s);
        if (s->state != RUNNING) continue;
        cli_child_tend(&s->child, mono_ms());
        if (!s->lost && !s->abandoned && s->next_beat <= mono_ms()) heartbeat(w, s, mono_ms());
    }
}

/* Sleeps until a pipe, a signal or the next deadline; then moves payloads and stderr. */
static void wait_events(worker *w, int64_t now) {
    int64_t due = now + POLL_MS;
#define SOONER(t) (due = (t) < due ? (t) : due)
    if (leasing(w) && count(w, FREE) > 0) SOONER(w->next_lease);
    if (w->idle_ms >= 0 && w->idle_since) SOONER(w->idle_since + w->idle_ms);
    struct pollfd fds[1 + 2 * 100];
    slot *who[1 + 2 * 100];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = wake_fd[0], .events = POLLIN};
    for (long long i = 0; i < w->concurrency; i++) {
        slot *s = &w->slots[i];
        if (s->state == REPORTING) SOONER(s->next_try);
        if (s->state != RUNNING) continue;
        if (cli_child_kill_due(&s->child)) SOONER(cli_child_kill_due(&s->child));
        if (!s->lost && !s->abandoned) SOONER(s->next_beat);
        for (size_t k = cli_child_pollfds(&s->child, &fds[n]); k > 0; k--) who[n++] = s;
    }
#undef SOONER
    int timeout = due <= now ? 0 : (int)(due - now);
    if (stop_signals >= 2 && !w->forced) timeout = 0;
    if (poll(fds, n, timeout) <= 0) return;
    char drain[64];
    if (fds[0].revents)
        while (read(wake_fd[0], drain, sizeof drain) > 0) {
        }
    for (nfds_t k = 1; k < n; k++)
        if (fds[k].revents) cli_child_ready(&who[k]->child, &fds[k]);
}

static int run(worker *w) {
    int announced_stop = 0;
    for (;;) {
        int64_t now = mono_ms();
        tend(w, now);
        now = mono_ms();
        size_t busy = (size_t)w->concurrency - count(w, FREE);
        if (busy) w->idle_since = 0;
        if (stop_signals && !announced_stop++)
            say("stopping: no new leases; waiting for %zu running command(s)", busy);
        if (busy == 0 && (!leasing(w) || idle_over(w, now))) break;
        if (leasing(w) && count(w, FREE) > 0 && now >= w->next_lease) {
            lease(w, now);
            continue;
        }
        wait_events(w, now);
    }
    say("stopped: %lld job(s) leased, %lld succeeded, %lld failed, %lld other", w->leased,
        w->succeeded, w->failed, w->other);
    return w->fatal || w->forced || (idle_over(w, mono_ms()) && w->lease_broken) ? 1 : 0;
}

/* ---- setting up --------------------------------------------------------------------------- */

static int bad_int(const char *opt, long long lo, long long hi) {
    cli_fail("worker", "--%s must be a whole number from %lld to %lld", opt, lo, hi);
    return 2;
}

/* --opt N within lo..hi into *out (left as is when absent). 0, or 2. */
static int opt_int(const cli_args *a, const char *opt, long long lo, long long hi, long long *out) {
    const char *v = cli_get(a, opt);
    if (!v) return 0;
    size_t n = strlen(v);
    if (n == 0 || n > 12 || strspn(v, "0123456789") != n) return bad_int(opt, lo, hi);
    long long x = atoll(v);
    if (x < lo || x > hi) return bad_int(opt, lo, hi);
    *out = x;
    return 0;
}

static int printable(const char *s, size_t max) {
    size_t off, len, n = strlen(s);
    return je_text_check(s, n, max, &off, &len) == JE_TEXT_OK && off == 0 && len == n;
}

static int configure(worker *w, const cli_args *a) {
    w->a = a;
    w->concurrency = 1;
    w->lease_s = 60;
    w->idle_ms = -1;
    w->json = cli_has(a, "json");
    w->n_types = cli_all(a, "job-type", w->types, MAX_TYPES);
    w->exec = cli_get(a, "exec");
    const char *id = cli_get(a, "worker-id");
    long long idle = -1;
    if (a->n_pos) return cli_fail("worker", "unexpected argument '%s' (see --help)", a->pos[0]), 2;
    if (w->n_types == 0) return cli_fail("worker", "--job-type T is required (see --help)"), 2;
    const char *all[MAX_TYPES + 1];
    if (cli_all(a, "job-type", all, MAX_TYPES + 1) > MAX_TYPES)
        return cli_fail("worker", "at most %d --job-type", MAX_TYPES), 2;
    for (size_t i = 0; i < w->n_types; i++)
        if (!*w->types[i] || strcmp(w->types[i], "*") == 0)
            return cli_fail("worker", "--job-type must name a job type (not empty, not *)"), 2;
    if (!w->exec || !*w->exec) return cli_fail("worker", "--exec 'command' is required"), 2;
    if (opt_int(a, "concurrency", 1, 100, &w->concurrency) ||
        opt_int(a, "lease-seconds", 1, 3600, &w->lease_s) ||
        opt_int(a, "max-jobs", 1, 1000000000, &w->max_jobs) ||
        opt_int(a, "idle-exit", 0, 31536000, &idle))
        return 2;
    w->idle_ms = idle < 0 ? -1 : idle * 1000;
    if (id && !printable(id, 128))
        return cli_fail("worker", "--worker-id must be 1-128 printable characters"), 2;
    char host[128] = "worker";
    if (!id && gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    if (id)
        snprintf(w->id, sizeof w->id, "%s", id);
    else
        snprintf(w->id, sizeof w->id, "%.100s-%ld", host, (long)getpid());
    return 0;
}

/* The commands' environment: ours without credentials or stale job variables. */
static int build_env(worker *w) {
    static const char *const hidden[] = {
        "JOBENGINE_TOKEN=",    "JOBENGINE_CLIENT_SECRET=", "JOBENGINE_JOB_ID=",
        "JOBENGINE_JOB_TYPE=", "JOBENGINE_ATTEMPT=",       "JOBENGINE_LEASE_ID="};
    size_t n = 0;
    while (environ[n]) n++;
    if (!(w->env = calloc(n + 5, sizeof *w->env))) return -1;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; k++)
            keep &= strncmp(environ[i], hidden[k], strlen(hidden[k])) != 0;
        if (keep) w->env[w->n_env++] = environ[i];
    }
    return 0;
}

/* Signals wake the loop through a pipe; children's exits too. */
static int install_signals(void) {
    if (pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
        sigaction(SIGINT, &sa, NULL))
        return -1;
    signal(SIGPIPE, SIG_IGN); /* a command that does not read its payload */
    return 0;
}

const cli_optspec cli_worker_opts[] = {CLI_HTTP_OPTS,    {"job-type", 1},    {"exec", 1},
                                       {"worker-id", 1}, {"concurrency", 1}, {"lease-seconds", 1},
                                       {"max-jobs", 1},  {"idle-exit", 1},   {NULL, 0}};

void cli_worker_help(FILE *out) {
    fprintf(out,
            "usage: jobengine worker --job-type T [--job-type T2 ...] --exec 'COMMAND'\n"
            "                        [--worker-id ID] [--concurrency N] [--lease-seconds N]\n"
            "                        [--max-jobs N] [--idle-exit SECONDS] [--json]\n\n"
            "Leases jobs of the given types (scope orch:jobs) and runs COMMAND with /bin/sh -c\n"
            "for each: the job's payload as one line of JSON on stdin; JOBENGINE_JOB_ID,\n"
            "JOBENGINE_JOB_TYPE, JOBENGINE_ATTEMPT and JOBENGINE_LEASE_ID in its environment\n"
            "(JOBENGINE_TOKEN and JOBENGINE_CLIENT_SECRET are not passed on). Its stdout and\n"
            "stderr go to the worker's stderr. Exit 0 completes the job as succeeded; anything\n"
            "else as failed, with \"exit status N\" or \"killed by signal S\" and the last 1 KiB\n"
            "of its stderr as the error (the server retries it after a backoff).\n\n"
            "  --worker-id ID         sent with each lease (default HOSTNAME-PID)\n"
            "  --concurrency N        commands at once, 1-100 (default 1); quotas still apply\n"
            "  --lease-seconds N      lease length, 1-3600 (default 60); heartbeats every N/3 s\n"
            "                         keep it while the command runs; a lease lost stops it\n"
            "  --max-jobs N           lease at most N jobs, then exit when they are done\n"
            "  --idle-exit SECONDS    exit after that long with no command running and nothing\n"
            "                         to lease (0 when the server answered, 1 when it could not\n"
            "                         be reached)\n"
            "  --json                 one JSON record per finished job on stdout\n\n"
            "One line per job on stderr: id, type, attempt, outcome, duration. SIGTERM or SIGINT\n"
            "stops leasing, lets running commands finish and be reported, then exits 0; a second\n"
            "one kills them (their jobs go back to pending when their leases expire), exit 1.\n\n"
            "%s",
            cli_http_usage);
}

int cmd_worker(int argc, char **argv) {
    cli_args a;
    if (cli_parse("worker", argc, argv, cli_worker_opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return cli_worker_help(stdout), 0;
    worker w;
    memset(&w, 0, sizeof w);
    int rc = configure(&w, &a);
    if (rc != 0) return rc;
    cli_child_prepare();
    if (build_env(&w) != 0 || !(w.slots = calloc((size_t)w.concurrency, sizeof *w.slots)))
        return free(w.env), cli_fail("worker", "out of memory");
    for (long long i = 0; i < w.concurrency; i++) cli_child_init(&w.slots[i].child);
    rc = cli_http_connect(&w.h, &a, &cli_scope_jobs, NULL, NULL);
    w.can_refresh = !cli_get_env(&a, "token", "JOBENGINE_TOKEN", NULL);
    if (rc == 0 && install_signals() != 0) rc = cli_fail("worker", "cannot set up signals");
    if (rc == 0) {
        plan_refresh(&w);
        je_buf types = JE_BUF_INIT;
        for (size_t i = 0; i < w.n_types; i++)
            je_buf_printf(&types, "%s%s", i ? ", " : "", w.types[i]);
        say("worker %s leasing %s (concurrency %lld, lease %lld s)", w.id, types.data,
            w.concurrency, w.lease_s);
        je_buf_free(&types);
        rc = run(&w);
    }
    cli_http_close(&w.h);
    free(w.slots);
    free(w.env);
    return rc;
}

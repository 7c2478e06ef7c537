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
#include "core/jcs.h"
#include "core/timefmt.h"

#define JOBS "/jobengine/jobs"

/* The one request a subcommand makes (list: its first page). */
typedef struct jreq {
    const char *method;
    je_buf path;
    json_t *body;       /* owned, or NULL */
    const char *hdr[2]; /* NULL-terminated */
    char hdr_buf[320];
} jreq;

typedef struct job_sub job_sub;
struct job_sub {
    const char *name;
    const cli_scope *scope;
    int takes_id;
    const cli_optspec *opts;
    const char *synopsis, *about;
    int (*prep)(const cli_args *a, jreq *q); /* 0, or 2 after a usage error */
    void (*show)(const cli_resp *r);
    int (*run)(cli_http *h, const cli_args *a, const job_sub *s, jreq *q); /* NULL: one call */
};

/* ---- checking arguments ------------------------------------------------------------------- */

/* A whole number, optionally negative, within lo..hi. */
static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t n = strlen(d);
    if (n == 0 || n > 18 || strspn(d, "0123456789") != n) return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int bad_int(const cli_args *a, const char *opt, long long lo, long long hi) {
    cli_fail(a->cmd, "--%s must be a whole number from %lld to %lld", opt, lo, hi);
    return 2;
}

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

/* --idempotency-key K: printable ASCII, 1-255 characters. */
static int put_idempotency_key(const cli_args *a, jreq *q) {
    const char *k = cli_get(a, "idempotency-key");
    if (!k) return 0;
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e) n = 0;
    if (n == 0 || n > 255)
        return cli_fail(a->cmd, "--idempotency-key must be 1-255 printable ASCII characters"), 2;
    snprintf(q->hdr_buf, sizeof q->hdr_buf, "Idempotency-Key: %s", k);
    q->hdr[0] = q->hdr_buf;
    return 0;
}

/* ---- preparing each request --------------------------------------------------------------- */

static int prep_submit(const cli_args *a, jreq *q) {
    const char *jt = cli_get(a, "job-type"), *et = cli_get(a, "event-time");
    long long prio = 0;
    int64_t ms;
    if (!jt || !*jt) return cli_fail(a->cmd, "--job-type T is required (see --help)"), 2;
    if (cli_has(a, "priority") && parse_int(cli_get(a, "priority"), -1000, 1000, &prio) != 0)
        return bad_int(a, "priority", -1000, 1000);
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
    return put_idempotency_key(a, q);
}

static int prep_get(const cli_args *a, jreq *q) {
    q->method = "GET";
    je_buf_puts(&q->path, JOBS "/");
    cli_http_escape(&q->path, a->pos[0]);
    return 0;
}

static int prep_list(const cli_args *a, jreq *q) {
    static const char *const statuses[] = {"pending", "leased", "succeeded", "failed", "canceled"};
    const char *st = cli_get(a, "status"), *jt = cli_get(a, "job-type");
    long long limit = 500;
    if (cli_has(a, "limit") && parse_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return bad_int(a, "limit", 1, 500);
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

static int prep_summary(const cli_args *a, jreq *q) {
    q->method = "GET";
    je_buf_puts(&q->path, JOBS "/summary");
    return 0;
}

/* ---- text for people ---------------------------------------------------------------------- */

/* A member's value as one line of text: null "-", other values as compact JSON. */
static const char *text_of(const json_t *v, char *buf, size_t cap) {
    if (!v || json_is_null(v)) return snprintf(buf, cap, "-"), buf;
    if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else {
        char *s = je_json_dumps_ordered(v, NULL);
        snprintf(buf, cap, "%s", s ? s : "?");
        free(s);
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    return buf;
}

/* "key: value" lines in the server's order. */
static void show_job(const cli_resp *r) {
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach(r->json, k, v) {
        if ((int)strlen(k) > w) w = (int)strlen(k);
    }
    json_object_foreach(r->json, k, v) {
        char buf[4096];
        printf("%s:%*s %s\n", k, w - (int)strlen(k), "", text_of(v, buf, sizeof buf));
    }
}

typedef struct column {
    const char *title, *field;
    int max; /* widest a cell may be (longer text is cut), 0: no bound */
} column;

static const column job_cols[] = {{"JOB ID", "jobId", 0},    {"JOBTYPE", "jobType", 0},
                                  {"STATUS", "status", 0},   {"PRIORITY", "priority", 0},
                                  {"ATTEMPT", "attempt", 0}, {"CREATED", "createdAt", 0},
                                  {"ERROR", "error", 60},    {NULL, NULL, 0}};
static const column summary_cols[] = {{"JOBTYPE", "jobType", 0}, {"PENDING", "pending", 0},
                                      {"LEASED", "leased", 0},   {"SUCCEEDED", "succeeded", 0},
                                      {"FAILED", "failed", 0},   {"CANCELED", "canceled", 0},
                                      {"TOTAL", "total", 0},     {NULL, NULL, 0}};

static const char *cell(const json_t *it, const column *c, char *buf, size_t cap) {
    if (strcmp(c->field, "attempt") == 0) { /* attempt/maxAttempts */
        char x[32], y[32];
        snprintf(buf, cap, "%s/%s", text_of(json_object_get(it, "attempt"), x, sizeof x),
                 text_of(json_object_get(it, "maxAttempts"), y, sizeof y));
        return buf;
    }
    text_of(json_object_get(it, c->field), buf, cap);
    if (c->max && (int)strlen(buf) > c->max) strcpy(buf + c->max - 3, "...");
    return buf;
}

static void print_table(const json_t *items, const column *cols, const char *none) {
    if (json_array_size(items) == 0) return (void)printf("%s\n", none);
    int w[16];
    char buf[4096];
    size_t i, n = 0;
    json_t *it;
    for (; cols[n].title; n++) w[n] = (int)strlen(cols[n].title);
    json_array_foreach(items, i, it) {
        for (size_t c = 0; c < n; c++) {
            int len = (int)strlen(cell(it, &cols[c], buf, sizeof buf));
            if (len > w[c]) w[c] = len;
        }
    }
    for (size_t c = 0; c < n; c++)
        printf("%-*s%s", c + 1 < n ? w[c] : 0, cols[c].title, c + 1 < n ? "  " : "\n");
    json_array_foreach(items, i, it) {
        for (size_t c = 0; c < n; c++)
            printf("%-*s%s", c + 1 < n ? w[c] : 0, cell(it, &cols[c], buf, sizeof buf),
                   c + 1 < n ? "  " : "\n");
    }
}

static void show_summary(const cli_resp *r) {
    print_table(json_object_get(r->json, "items"), summary_cols, "no jobs");
}

/* ---- running ------------------------------------------------------------------------------ */

static int run_one(cli_http *h, const cli_args *a, const job_sub *s, jreq *q) {
    cli_resp r;
    if (cli_http_request(h, q->method, q->path.data, q->body, q->hdr, &r) != 0) return 1;
    int rc = 0;
    if (r.status < 200 || r.status > 299) {
        rc = cli_http_fail(h, &r);
    } else if (!cli_has(a, "json")) {
        s->show(&r);
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
static int run_list(cli_http *h, const cli_args *a, const job_sub *s, jreq *q) {
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
        print_table(items, job_cols, "no jobs");
    }
    free(cont);
    je_buf_free(&path);
    json_decref(items);
    return rc;
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static const cli_optspec submit_opts[] = {
    CLI_HTTP_OPTS,    {"job-type", 1},  {"payload", 1},    {"payload-file", 1},    {"priority", 1},
    {"source-id", 1}, {"event-key", 1}, {"event-time", 1}, {"idempotency-key", 1}, {NULL, 0}};
static const cli_optspec list_opts[] = {
    CLI_HTTP_OPTS, {"status", 1}, {"job-type", 1}, {"limit", 1}, {NULL, 0}};
static const cli_optspec plain_opts[] = {CLI_HTTP_OPTS, {NULL, 0}};

static const job_sub subs[] = {
    {"submit", &cli_scope_jobs, 0, submit_opts,
     "job submit --job-type T [--payload JSON | --payload - | --payload-file F]\n"
     "                            [--priority N] [--source-id S] [--event-key K]\n"
     "                            [--event-time RFC3339] [--idempotency-key K]",
     "Submits a job and prints it. The payload is any JSON value: --payload JSON, --payload -\n"
     "(read from stdin) or --payload-file F; default {}. --priority -1000..1000 (default 0,\n"
     "higher first). --idempotency-key makes a retried submit return the first job instead of\n"
     "a second one. Scope orch:jobs.\n",
     prep_submit, show_job, NULL},
    {"get", &cli_scope_read, 1, plain_opts, "job get ID",
     "Shows one job: status, attempt, lease, error, payload. Scope orch:read.\n", prep_get,
     show_job, NULL},
    {"list", &cli_scope_read, 0, list_opts,
     "job list [--status pending|leased|succeeded|failed|canceled] [--job-type T] [--limit N]",
     "Lists the tenant's jobs, oldest first, fetching every page (--limit: page size, 1-500,\n"
     "default 500); --json prints one {\"items\": [...], \"continuationToken\": null} holding\n"
     "them all. Scope orch:read.\n",
     prep_list, NULL, run_list},
    {"summary", &cli_scope_read, 0, plain_opts, "job summary",
     "Counts the tenant's jobs per job type and status. Scope orch:read.\n", prep_summary,
     show_summary, NULL},
};
#define NSUBS (sizeof subs / sizeof subs[0])

static void job_usage(FILE *f) {
    for (size_t i = 0; i < NSUBS; i++)
        fprintf(f, "%s jobengine %s\n", i ? "      " : "usage:", subs[i].synopsis);
    fprintf(f,
            "\nJobs of a running server (api.md §3.4): tables for people, --json for scripts.\n"
            "'jobengine worker' leases and runs them. 'jobengine job <sub> --help' describes\n"
            "one.\n\n%s",
            cli_http_usage);
}

static void sub_usage(const job_sub *s) {
    printf("usage: jobengine %s\n\n%s\n%s", s->synopsis, s->about, cli_http_usage);
}

static int job_run(const job_sub *s, const cli_args *a) {
    jreq q;
    memset(&q, 0, sizeof q);
    cli_http h;
    int rc = s->prep(a, &q);
    if (rc == 0) {
        rc = cli_http_open(&h, a->cmd, a);
        if (rc == 0) rc = cli_http_authorize(&h, a, s->scope, NULL, NULL);
        if (rc == 0) rc = (s->run ? s->run : run_one)(&h, a, s, &q);
        cli_http_close(&h);
    }
    json_decref(q.body);
    je_buf_free(&q.path);
    return rc;
}

int cmd_job(int argc, char **argv) {
    if (argc == 0) return job_usage(stderr), 2;
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) return job_usage(stdout), 0;
    const job_sub *s = NULL;
    for (size_t i = 0; i < NSUBS && !s; i++)
        if (strcmp(argv[0], subs[i].name) == 0) s = &subs[i];
    if (!s && argv[0][0] == '-')
        return cli_fail("job", "the subcommand comes first: jobengine job <sub> [options] "
                               "(see --help)"),
               2;
    if (!s) return cli_fail("job", "unknown subcommand '%s' (see --help)", argv[0]), 2;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "job %s", s->name);
    cli_args a;
    if (cli_parse(cmd, argc - 1, argv + 1, s->opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return sub_usage(s), 0;
    if (a.n_pos != (size_t)s->takes_id)
        return cli_fail(cmd, "usage: jobengine %s (see --help)", s->synopsis), 2;
    if (s->takes_id && !*a.pos[0]) return cli_fail(cmd, "the job ID must not be empty"), 2;
    return job_run(s, &a);
}

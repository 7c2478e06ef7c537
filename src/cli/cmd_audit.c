/* cli/cmd_audit.c: `jobengine audit list|verify|export`, the audit routes of api.md §3.6 on a
 * running server, and `jobengine audit verify --file EXPORT --jwks JWKS`, which checks an export
 * offline (domain.md §6) with no server and no store: core/audit_export.c's verifier with the
 * signature check done against the keys of the JWKS file.
 *
 * Exit status: 0 success (valid); 1 the server refused or could not be reached, or the chain or
 * the export is not valid ("BROKEN ..." / "line L: ..." on stdout); 2 a usage error, or a file
 * that cannot be used at all (unreadable export, JWKS that is not a JWKS with an Ed25519 key),
 * found before anything is verified or sent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/checkpoint.h"
#include "auth/keys.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/cli_http.h"
#include "cli/cli_sub.h"
#include "cli/cmd_audit_offline.h"
#include "core/audit_export.h"
#include "core/timefmt.h"

#define AUDIT "/jobengine/audit"

/* ---- list --------------------------------------------------------------------------------- */

static const char *const filters[][2] = {{"event-type", "eventType"},
                                         {"resource-type", "resourceType"},
                                         {"resource-id", "resourceId"},
                                         {"actor", "actor"},
                                         {"since", "since"},
                                         {"until", "until"}};
#define NFILTERS (sizeof filters / sizeof filters[0])

static int prep_list(const cli_args *a, cli_req *q) {
    je_buf *path = &q->path;
    long long limit = 500;
    if (cli_has(a, "limit") && cli_int(cli_get(a, "limit"), 1, 500, &limit) != 0)
        return cli_bad_int(a, "limit", 1, 500);
    q->method = "GET";
    je_buf_printf(path, AUDIT "?limit=%lld", limit);
    for (size_t i = 0; i < NFILTERS; i++) {
        const char *v = cli_get(a, filters[i][0]);
        int64_t ms;
        if (!v) continue;
        if (!*v) return cli_fail(a->cmd, "--%s must not be empty", filters[i][0]), 2;
        if (strcmp(filters[i][1], "since") == 0 || strcmp(filters[i][1], "until") == 0)
            if (je_time_parse(v, &ms) != 0)
                return cli_fail(a->cmd,
                                "--%s must be an RFC 3339 date-time "
                                "(2026-11-28T09:00:00Z)",
                                filters[i][0]),
                       2;
        je_buf_printf(path, "&%s=", filters[i][1]);
        cli_http_escape(path, v);
    }
    return 0;
}

/* Width on a terminal: UTF-8 continuation bytes take no column. */
static int width_of(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static const char *const columns[] = {"SEQ",   "TIME",   "EVENT", "RESOURCE",
                                      "ACTOR", "REASON", "TICKET"};
#define NCOLS (sizeof columns / sizeof columns[0])

static const char *cell(const json_t *e, size_t col, char *buf, size_t cap) {
    static const char *const member[NCOLS] = {"sequence", "occurredAt", "eventType", NULL,
                                              "actorId",  "reason",     "ticket"};
    if (member[col]) return cli_text(json_object_get(e, member[col]), buf, cap);
    char t[256], id[512];
    cli_text(json_object_get(e, "resourceType"), t, sizeof t);
    cli_text(json_object_get(e, "resourceId"), id, sizeof id);
    if (strcmp(id, "-") == 0) return snprintf(buf, cap, "%s", t), buf;
    snprintf(buf, cap, "%s/%s", t, id);
    return buf;
}

static void print_row(const json_t *e, const int *w) {
    char buf[1024];
    for (size_t c = 0; c < NCOLS; c++) {
        const char *v = e ? cell(e, c, buf, sizeof buf) : columns[c];
        int pad = c + 1 < NCOLS ? w[c] - width_of(v) : 0;
        printf("%s%*s%s", v, pad > 0 ? pad : 0, "", c + 1 < NCOLS ? "  " : "\n");
    }
}

static void print_table(const json_t *items) {
    if (json_array_size(items) == 0) return (void)printf("no audit entries\n");
    int w[NCOLS];
    char buf[1024];
    size_t i;
    json_t *e;
    for (size_t c = 0; c < NCOLS; c++) w[c] = width_of(columns[c]);
    json_array_foreach(items, i, e) {
        for (size_t c = 0; c < NCOLS; c++) {
            int n = width_of(cell(e, c, buf, sizeof buf));
            if (n > w[c]) w[c] = n;
        }
    }
    print_row(NULL, w);
    json_array_foreach(items, i, e) print_row(e, w);
}

static void show_list(const cli_args *a, const cli_resp *r) {
    print_table(json_object_get(r->json, "items"));
}

/* ---- verify on the server ------------------------------------------------------------------ */

static int prep_verify(const cli_args *a, cli_req *q) {
    q->method = "GET";
    je_buf_puts(&q->path, AUDIT "/verify");
    return 0;
}

/* Exit 1 when the chain is broken, as the offline check. */
static int run_verify_server(cli_http *h, const cli_args *a, const cli_sub *s, cli_req *q) {
    cli_resp r;
    int rc = cli_http_request(h, q->method, q->path.data, NULL, NULL, &r);
    if (rc != 0) return rc;
    json_t *valid = json_object_get(r.json, "valid");
    if (r.status != 200 || !json_is_boolean(valid)) {
        rc = cli_http_fail(h, &r);
    } else if (cli_has(a, "json")) {
        cli_http_print_body(&r);
        rc = json_is_true(valid) ? 0 : 1;
    } else if (json_is_true(valid)) {
        char hash[80];
        printf("valid: %lld entries, head %lld %s\n",
               (long long)json_integer_value(json_object_get(r.json, "entries")),
               (long long)json_integer_value(json_object_get(r.json, "headSequence")),
               cli_text(json_object_get(r.json, "headHash"), hash, sizeof hash));
    } else {
        printf("BROKEN at sequence %lld\n",
               (long long)json_integer_value(json_object_get(r.json, "firstBrokenSequence")));
        rc = 1;
    }
    cli_resp_free(&r);
    return rc;
}

/* Offline (no server, no credentials) when given --file or --jwks. */
static int run_verify(const cli_family *f, const cli_sub *s, const cli_args *a) {
    if (cli_has(a, "file") || cli_has(a, "jwks")) return cli_audit_verify_offline(a);
    return cli_sub_run(f, s, a);
}

/* ---- export ------------------------------------------------------------------------------- */

typedef struct export_sink {
    FILE *f;
    const char *name; /* for messages */
    const char *cmd;
    unsigned long long bytes, lines;
    char cur[16], last[16]; /* the start of the line being written, and of the last whole one */
    size_t cur_n, last_n;
    int progress;           /* stderr is a terminal */
    int64_t started, shown; /* monotonic ns */
    int shown_any;
} export_sink;

static double since(int64_t t_ns) {
    return (double)(je_mono_ns() - t_ns) / 1e9;
}

static void show_progress(export_sink *x, int done) {
    if (!x->progress) return;
    if (!done) {
        if (since(x->started) < 1.0 || (x->shown_any && since(x->shown) < 0.25)) return;
    } else if (!x->shown_any) {
        return; /* small exports print nothing */
    }
    x->shown = je_mono_ns();
    x->shown_any = 1;
    fprintf(stderr, "\r%llu lines, %.1f MiB%s", x->lines, (double)x->bytes / (1024.0 * 1024.0),
            done ? "\n" : "");
    fflush(stderr);
}

static int export_write(void *ctx, const char *data, size_t n) {
    export_sink *x = ctx;
    if (fwrite(data, 1, n, x->f) != n)
        return cli_fail(x->cmd, "cannot write %s: %s", x->name, strerror(errno)), -1;
    x->bytes += n;
    for (const char *p = data, *end = data + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *seg = nl ? nl : end;
        size_t take = sizeof x->cur - x->cur_n;
        if (take > (size_t)(seg - p)) take = (size_t)(seg - p);
        memcpy(x->cur + x->cur_n, p, take);
        x->cur_n += take;
        if (!nl) break;
        memcpy(x->last, x->cur, x->cur_n);
        x->last_n = x->cur_n;
        x->cur_n = 0;
        x->lines++;
        p = nl + 1;
    }
    show_progress(x, 0);
    return 0;
}

/* The export ended with a whole checkpoint line (else it was cut off somewhere). */
static int export_complete(const export_sink *x) {
    static const char start[] = "{\"checkpoint\":";
    return x->cur_n == 0 && x->last_n >= sizeof start - 1 &&
           memcmp(x->last, start, sizeof start - 1) == 0;
}

/* Not cli_sub_run: the output file is opened before connecting. */
static int run_export(const cli_family *f, const cli_sub *s, const cli_args *a) {
    long long from = 1;
    const char *out = cli_get(a, "output");
    if (cli_has(a, "from-sequence") &&
        cli_int(cli_get(a, "from-sequence"), 1, JE_MAX_INT53, &from) != 0)
        return cli_bad_int(a, "from-sequence", 1, JE_MAX_INT53);
    if (out && !*out) return cli_fail(a->cmd, "--output must not be empty"), 2;
    if (cli_has(a, "json"))
        return cli_fail(a->cmd, "--json does not apply: an export is NDJSON already"), 2;
    int to_stdout = !out || strcmp(out, "-") == 0;
    export_sink x = {.f = stdout, .name = "stdout", .cmd = a->cmd, .progress = isatty(2)};
    char tmp[4096] = "";
    if (!to_stdout) {
        /* written beside the target and renamed when complete: never a partial FILE */
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial-%ld", out, (long)getpid()) >= sizeof tmp)
            return cli_fail(a->cmd, "--output is too long"), 2;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 || !(x.f = fdopen(fd, "w"))) {
            cli_fail(a->cmd, "cannot write %s: %s", out, strerror(errno));
            if (fd >= 0) close(fd), unlink(tmp);
            return 2;
        }
        x.name = out;
    }
    cli_http h;
    int rc = cli_http_connect(&h, a, s->scope, NULL, NULL);
    if (rc == 0) {
        je_buf path = JE_BUF_INIT;
        je_buf_printf(&path, AUDIT "/export?fromSequence=%lld", from);
        x.started = je_mono_ns();
        cli_resp r;
        rc = cli_http_download(&h, path.data, export_write, &x, &r);
        show_progress(&x, 1);
        if (rc == 0) {
            if (r.status != 200)
                rc = cli_http_fail(&h, &r);
            else if (!export_complete(&x))
                rc = cli_fail(a->cmd, "the export ended without its checkpoint line (cut off)");
            cli_resp_free(&r);
        }
        je_buf_free(&path);
    }
    cli_http_close(&h);
    if (to_stdout) {
        if (fflush(stdout) != 0 && rc == 0)
            rc = cli_fail(a->cmd, "cannot write stdout: %s", strerror(errno));
        return rc;
    }
    if (rc == 0 && (fflush(x.f) != 0 || fsync(fileno(x.f)) != 0))
        rc = cli_fail(a->cmd, "cannot write %s: %s", out, strerror(errno));
    if (fclose(x.f) != 0 && rc == 0)
        rc = cli_fail(a->cmd, "cannot write %s: %s", out, strerror(errno));
    if (rc == 0 && rename(tmp, out) != 0)
        rc = cli_fail(a->cmd, "cannot write %s: %s", out, strerror(errno));
    if (rc != 0) unlink(tmp);
    if (rc == 0)
        printf("exported %llu entries and a checkpoint to %s\n", x.lines ? x.lines - 1 : 0, out);
    return rc;
}

/* ---- the subcommands ---------------------------------------------------------------------- */

static const cli_optspec list_opts[] = {CLI_HTTP_OPTS,      {"event-type", 1}, {"resource-type", 1},
                                        {"resource-id", 1}, {"actor", 1},      {"since", 1},
                                        {"until", 1},       {"limit", 1},      {NULL, 0}};
static const cli_optspec verify_opts[] = {CLI_HTTP_OPTS, {"file", 1}, {"jwks", 1}, {NULL, 0}};
static const cli_optspec export_opts[] = {
    CLI_HTTP_OPTS, {"from-sequence", 1}, {"output", 1}, {NULL, 0}};

static const cli_sub subs[] = {
    {"list", &cli_scope_read, 0, list_opts,
     "audit list [--event-type T] [--resource-type T] [--resource-id ID] [--actor A]\n"
     "                              [--since RFC3339] [--until RFC3339] [--limit N]",
     "Lists the tenant's audit entries in ascending sequence, fetching every page (--limit:\n"
     "page size, 1-500, default 500). --since is inclusive, --until exclusive; --actor matches\n"
     "actorId. --json prints one {\"items\": [...], \"continuationToken\": null} holding them\n"
     "all, each entry as the server lists it. Scope orch:read.\n",
     prep_list, show_list, cli_sub_run_list, NULL},
    {"verify", &cli_scope_read, 0, verify_opts, "audit verify [--file EXPORT --jwks JWKS]",
     "Without --file: asks the server to recompute the tenant's chain and its signed\n"
     "checkpoints; prints \"valid: N entries, head N HASH\", or \"BROKEN at sequence K\" and\n"
     "exits 1. Scope orch:read.\n"
     "With --file EXPORT --jwks JWKS: verifies an export ('audit export') offline, with no\n"
     "server and no store: every line an entry but the last, the signed checkpoint; every\n"
     "hash and link, gapless sequences from the checkpoint's fromSequence/fromPreviousHash to\n"
     "its head, one tenant, and the checkpoint's Ed25519 signature by a key of JWKS (the\n"
     "server's /jwks document). Prints \"valid: N entries (sequences A..B) of tenant T,\n"
     "checkpoint signed by KID\", or \"line L: what is wrong\" (with the broken sequence when\n"
     "there is one) and exits 1. An unreadable EXPORT or a JWKS without an Ed25519 key exits\n"
     "2. '-' reads stdin. --url and credentials are not used.\n"
     "--json: the server's answer, or {\"valid\", ...} of the offline check.\n",
     prep_verify, NULL, run_verify_server, run_verify},
    {"export", &cli_scope_read, 0, export_opts, "audit export [--from-sequence N] [--output FILE]",
     "Streams the tenant's chain from sequence N (default 1) to its head as NDJSON, one entry\n"
     "a line, then a checkpoint line signed by the server now (domain.md §6), to stdout or\n"
     "FILE (written whole or not at all). Shows progress on stderr when it is a terminal.\n"
     "'audit verify --file FILE --jwks JWKS' checks it offline. Scope orch:read.\n",
     NULL, NULL, NULL, run_export},
};

const cli_family cli_audit_family = {
    "audit",
    "audit",
    "The audit chain of a running server (api.md §3.6), and offline verification of\n"
    "an export. 'jobengine audit <sub> --help' describes one.\n",
    subs,
    sizeof subs / sizeof subs[0],
    NULL};

int cmd_audit(int argc, char **argv) {
    return cli_sub_main(&cli_audit_family, argc, argv);
}

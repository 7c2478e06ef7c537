/* cli/cli_sub.c: the frame of the subcommand families (see cli_sub.h). */
#include "cli/cli_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/quota.h"

/* ---- usage -------------------------------------------------------------------------------- */

void cli_family_usage(const cli_family *f, FILE *out) {
    for (size_t i = 0; i < f->n_subs; i++)
        fprintf(out, "%s jobengine %s\n", i ? "      " : "usage:", f->subs[i].synopsis);
    fprintf(out, "\n%s\n%s", f->intro, cli_http_usage);
}

void cli_sub_usage(const cli_sub *s, FILE *out) {
    fprintf(out, "usage: jobengine %s\n\n%s\n%s", s->synopsis, s->about, cli_http_usage);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

int cli_sub_main(const cli_family *f, int argc, char **argv) {
    if (argc == 0) return cli_family_usage(f, stderr), 2;
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
        return cli_family_usage(f, stdout), 0;
    const cli_sub *s = NULL;
    for (size_t i = 0; i < f->n_subs && !s; i++)
        if (strcmp(argv[0], f->subs[i].name) == 0) s = &f->subs[i];
    if (!s && argv[0][0] == '-')
        return cli_fail(f->name,
                        "the subcommand comes first: jobengine %s <sub> [options] (see --help)",
                        f->name),
               2;
    if (!s) return cli_fail(f->name, "unknown subcommand '%s' (see --help)", argv[0]), 2;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "%s %s", f->name, s->name);
    cli_args a;
    if (cli_parse(cmd, argc - 1, argv + 1, s->opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return cli_sub_usage(s, stdout), 0;
    if (a.n_pos != (size_t)s->takes_id)
        return cli_fail(cmd, "usage: jobengine %s (see --help)", s->synopsis), 2;
    if (s->takes_id && !*a.pos[0]) return cli_fail(cmd, "the %s ID must not be empty", f->thing), 2;
    return s->main ? s->main(f, s, &a) : cli_sub_run(f, s, &a);
}

/* ---- running ------------------------------------------------------------------------------ */

/* One call: the answer shown (text, or the server's JSON as it came), or the refusal. */
static int run_one(const cli_family *f, cli_http *h, const cli_args *a, const cli_sub *s,
                   cli_req *q) {
    cli_resp r;
    if (cli_http_request(h, q->method, q->path.data, q->body, q->hdr, &r) != 0) return 1;
    int rc = 0;
    if (r.status < 200 || r.status > 299) {
        rc = cli_http_fail(h, &r);
        if (f->refused) f->refused(&r);
    } else if (cli_has(a, "json")) {
        cli_http_print_body(&r);
    } else {
        s->show(a, &r);
    }
    cli_resp_free(&r);
    return rc;
}

int cli_sub_run(const cli_family *f, const cli_sub *s, const cli_args *a) {
    cli_req q;
    memset(&q, 0, sizeof q);
    cli_http h;
    int rc = s->prep(a, &q);
    if (rc == 0) {
        rc = cli_http_connect(&h, a, s->scope, q.reason, q.ticket);
        if (rc == 0) rc = s->run ? s->run(&h, a, s, &q) : run_one(f, &h, a, s, &q);
        cli_http_close(&h);
    }
    json_decref(q.body);
    je_buf_free(&q.path);
    return rc;
}

int cli_sub_run_list(cli_http *h, const cli_args *a, const cli_sub *s, cli_req *q) {
    json_t *items = json_array();
    int rc = cli_http_get_all(h, q->path.data, items);
    if (rc == 0) {
        json_t *all = json_pack("{s:O, s:n}", "items", items, "continuationToken");
        cli_resp r = {.status = 200, .json = all};
        if (cli_has(a, "json"))
            cli_http_print_json(all);
        else
            s->show(a, &r);
        json_decref(all);
    }
    json_decref(items);
    return rc;
}

/* ---- text for people ---------------------------------------------------------------------- */

static void print_row(const cli_table *t, const json_t *item, const int *w, char *buf) {
    for (size_t c = 0; c < t->n_cols; c++) {
        const char *v = t->cell(t, item, c, buf, t->cap);
        printf("%-*s%s", c + 1 < t->n_cols ? w[c] : 0, v, c + 1 < t->n_cols ? "  " : "\n");
    }
}

void cli_table_print(const cli_table *t, const json_t *items) {
    if (json_array_size(items) == 0) return (void)printf("%s\n", t->none);
    int w[16];
    char buf[4096];
    size_t i;
    json_t *it;
    for (size_t c = 0; c < t->n_cols; c++) w[c] = (int)strlen(t->cell(t, NULL, c, buf, t->cap));
    json_array_foreach(items, i, it) {
        for (size_t c = 0; c < t->n_cols; c++) {
            int n = (int)strlen(t->cell(t, it, c, buf, t->cap));
            if (n > w[c]) w[c] = n;
        }
    }
    print_row(t, NULL, w, buf);
    json_array_foreach(items, i, it) print_row(t, it, w, buf);
}

/* ---- building a request ------------------------------------------------------------------- */

int cli_int(const char *s, long long lo, long long hi, long long *out) {
    const char *d = lo < 0 && s[0] == '-' ? s + 1 : s;
    size_t n = strlen(d);
    if (n == 0 || n > 18 || strspn(d, "0123456789") != n) return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_bad_int(const cli_args *a, const char *opt, long long lo, long long hi) {
    cli_fail(a->cmd, "--%s must be a whole number from %lld to %lld", opt, lo, hi);
    return 2;
}

int cli_printable_ascii(const char *s, size_t max) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return 0;
    return n > 0 && n <= max;
}

int cli_req_header(cli_req *q, const char *name, const char *fmt, const char *v) {
    char *line = q->hdr_buf[q->n_hdr];
    int n = snprintf(line, sizeof q->hdr_buf[0], "%s: ", name);
    snprintf(line + n, sizeof q->hdr_buf[0] - (size_t)n, fmt, v);
    q->hdr[q->n_hdr++] = line;
    return 0;
}

int cli_req_idempotency_key(const cli_args *a, cli_req *q) {
    const char *k = cli_get(a, "idempotency-key");
    if (!k) return 0;
    if (!cli_printable_ascii(k, 255))
        return cli_fail(a->cmd, "--idempotency-key must be 1-255 printable ASCII characters"), 2;
    return cli_req_header(q, "Idempotency-Key", "%s", k);
}

int cli_req_if_match(const cli_args *a, cli_req *q) {
    const char *v = cli_get(a, "if-match");
    long long n;
    if (!v) return 0;
    if (strcmp(v, "*") == 0) return cli_req_header(q, "If-Match", "%s", v);
    if (cli_int(v, 0, JE_MAX_INT53, &n) != 0)
        return cli_fail(a->cmd, "--if-match must be a version number (or *)"), 2;
    return cli_req_header(q, "If-Match", "\"%s\"", v);
}

void cli_req_justification(const cli_args *a, json_t *body, cli_req *q) {
    q->reason = cli_get(a, "reason");
    q->ticket = cli_get(a, "ticket");
    if (q->reason) json_object_set_new(body, "reason", json_string(q->reason));
    if (q->ticket) json_object_set_new(body, "ticket", json_string(q->ticket));
}

int cli_req_move(const cli_args *a, cli_req *q, const char *method, const char *base,
                 const char *suffix) {
    q->method = method;
    cli_req_id_path(a, q, base, suffix);
    q->body = json_object();
    cli_req_justification(a, q->body, q);
    if (json_object_size(q->body) == 0) json_decref(q->body), q->body = NULL;
    return cli_req_if_match(a, q);
}

void cli_req_id_path(const cli_args *a, cli_req *q, const char *base, const char *suffix) {
    je_buf_puts(&q->path, base);
    je_buf_putc(&q->path, '/');
    cli_http_escape(&q->path, a->pos[0]);
    je_buf_puts(&q->path, suffix);
}

int cli_sub_run_as(const cli_family *f, const cli_sub *s, const cli_args *a, const cli_scope *scope,
                   const char *reason_opt, const char *ticket_opt) {
    const char *alias[2][2] = {{reason_opt, "token-reason"}, {ticket_opt, "token-ticket"}};
    cli_args b = *a;
    for (size_t i = 0; i < 2; i++) {
        const char *v = cli_get(a, alias[i][0]);
        if (!v) continue;
        if (b.n >= sizeof b.o / sizeof b.o[0]) return cli_fail(a->cmd, "too many options"), 2;
        b.o[b.n].name = alias[i][1];
        b.o[b.n++].value = v;
    }
    cli_sub t = *s;
    t.scope = scope;
    return cli_sub_run(f, &t, &b);
}

int cli_sub_governance_main(const cli_family *f, const cli_sub *s, const cli_args *a) {
    return cli_sub_run_as(f, s, a, &cli_scope_governance, "governance-reason", "governance-ticket");
}

/* ---- values and fields as text ------------------------------------------------------------ */

const char *cli_text(const json_t *v, char *buf, size_t cap) {
    if (!v || json_is_null(v)) {
        snprintf(buf, cap, "-");
    } else if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        je_num_decimal(json_real_value(v), buf, cap);
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
    } else {
        char *s = je_json_dumps_ordered(v, NULL);
        snprintf(buf, cap, "%s", s ? s : "?");
        free(s);
    }
    for (unsigned char *p = (unsigned char *)buf; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
    return buf;
}

static int is_section(const json_t *v) {
    return json_is_object(v) && json_object_size(v) > 0;
}

void cli_print_fields(const json_t *o, int indent, cli_field_fn own) {
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach((json_t *)o, k, v) {
        if (!is_section(v) && (int)strlen(k) > w) w = (int)strlen(k);
    }
    json_object_foreach((json_t *)o, k, v) {
        if (own && own(k, v, indent)) continue;
        if (is_section(v)) {
            printf("%*s%s:\n", indent, "", k);
            cli_print_fields(v, indent + 2, own);
            continue;
        }
        char buf[4096];
        printf("%*s%s:%*s %s\n", indent, "", k, w - (int)strlen(k), "",
               cli_text(v, buf, sizeof buf));
    }
}

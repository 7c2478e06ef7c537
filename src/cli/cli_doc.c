/* cli/cli_doc.c: the registry of commands (cli_doc.h), what it tells about each one (help text,
 * options, the values a flag takes), and `jobengine __doc`, the build's tool: man pages in roff,
 * serve's settings as Markdown, and every option of every table as one line each. */
#include "cli/cli_doc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const cli_optspec no_opts[] = {{NULL, 0}};
static const char *const doc_words[] = {"man", "settings", "options", NULL};
static void doc_help(FILE *out);

const cli_command cli_commands[] = {
    {"serve", cmd_serve, "run the Authority and the API", NULL, cli_serve_help, NULL, NULL},
    {"migrate", cmd_migrate, "create or upgrade the store's schema", NULL, cli_migrate_help,
     cli_migrate_opts, NULL},
    {"client", cmd_client, "add, list, remove clients; rotate a secret; bootstrap from a file",
     NULL, cli_client_help, cli_client_opts, cli_client_words},
    {"keys", cmd_keys, "rotate and list the signing keys", NULL, cli_keys_help, cli_keys_opts,
     cli_keys_words},
    {"token", cmd_token, "get an access token from a running server", NULL, cli_token_help,
     cli_token_opts, NULL},
    {"quota", cmd_quota, "list, change, pause quotas; acquire and release permits (server)",
     &cli_quota_family, NULL, NULL, NULL},
    {"pool", cmd_pool, "list the capacity pools; set and delete them as the platform (server)",
     &cli_pool_family, NULL, NULL, NULL},
    {"breaker", cmd_breaker, "list the circuit breakers; set, force and delete them (server)",
     &cli_breaker_family, NULL, NULL, NULL},
    {"backfill", cmd_backfill, "preview, create, start, pause, watch backfills (server)",
     &cli_backfill_family, NULL, NULL, NULL},
    {"job", cmd_job, "submit, get, list and count jobs (server)", &cli_job_family, NULL, NULL,
     NULL},
    {"worker", cmd_worker, "lease jobs and run a command for each (server)", NULL, cli_worker_help,
     cli_worker_opts, NULL},
    {"audit", cmd_audit, "list, verify and export the audit chain (server); verify an export",
     &cli_audit_family, NULL, NULL, NULL},
    {"completion", cmd_completion, "print a shell completion script (bash, zsh)", NULL,
     cli_completion_help, no_opts, cli_completion_words},
    {"__doc", cmd_doc, NULL, NULL, doc_help, no_opts, doc_words},
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];

const cli_command *cli_command_find(const char *name) {
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(name, cli_commands[i].name) == 0) return &cli_commands[i];
    return NULL;
}

void cli_main_usage(FILE *out) {
    int w = 0;
    for (size_t i = 0; i < cli_n_commands; i++)
        if (cli_commands[i].summary && (int)strlen(cli_commands[i].name) > w)
            w = (int)strlen(cli_commands[i].name);
    fprintf(out, "usage: jobengine <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        if (cli_commands[i].summary)
            fprintf(out, "  %-*s %s\n", w, cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n'jobengine <command> --help' describes a command.\n");
}

void cli_command_help(const cli_command *c, FILE *out) {
    if (c->family)
        cli_family_usage(c->family, out);
    else
        c->help(out);
}

char *cli_help_text(const cli_command *c, const cli_sub *sub) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return NULL;
    if (sub)
        cli_sub_usage(sub, f);
    else
        cli_command_help(c, f);
    if (fclose(f) != 0) return free(text), NULL;
    return text;
}

/* ---- options ------------------------------------------------------------------------------ */

static int flag_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

/* serve's options: its help's option lines ("  --flag[ ARG]  text"). A flag takes a value when
 * the line names one (--config FILE) or its next line gives the setting's environment variable
 * ("env JOBENGINE_..."): every setting is a flag with a value (cmd_serve.c). */
static void options_from_help(const char *text, cli_opt_fn fn, void *ctx) {
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        if (strncmp(p, "  --", 4) == 0) {
            const char *f = p + 4, *e = f;
            while (e < end && flag_char(*e)) e++;
            char flag[64];
            snprintf(flag, sizeof flag, "%.*s", (int)(e - f), f);
            int value = e + 1 < end && e[0] == ' ' && e[1] != ' ';
            const char *next = *end ? end + 1 : end;
            while (*next == ' ') next++;
            if (strncmp(next, "env ", 4) == 0) value = 1;
            fn(ctx, flag, value);
        }
        p = *end ? end + 1 : end;
    }
}

void cli_command_options(const cli_command *c, const cli_sub *sub, cli_opt_fn fn, void *ctx) {
    const cli_optspec *o = sub ? sub->opts : c->opts;
    if (!o && !c->family) {
        char *text = cli_help_text(c, NULL);
        options_from_help(text, fn, ctx);
        free(text);
        return;
    }
    for (; o && o->name; o++) fn(ctx, o->name, o->has_value);
}

int cli_flag_values(const char *help, const char *flag, char *out, size_t cap) {
    size_t n = strlen(flag);
    for (const char *p = strstr(help, "--"); p; p = strstr(p + 2, "--")) {
        if (strncmp(p + 2, flag, n) != 0 || p[2 + n] != ' ') continue;
        const char *v = p + 3 + n, *e = v;
        while (flag_char(*e) || *e == '|') e++;
        if (e == v || !memchr(v, '|', (size_t)(e - v)) || (size_t)(e - v) >= cap) continue;
        if (*e != ']' && *e != ' ' && *e != '\n' && *e) continue;
        for (size_t i = 0; v + i < e; i++) out[i] = v[i] == '|' ? ' ' : v[i];
        out[e - v] = 0;
        return 1;
    }
    return 0;
}

/* ---- roff ----------------------------------------------------------------------------------- */

/* Text for a roff line: a leading '.' or '\'' made literal, '\' and '-' escaped, UTF-8 as \[u..].
 */
static void roff_esc(FILE *out, const char *s, size_t n) {
    if (n && (s[0] == '.' || s[0] == '\'')) fputs("\\&", out);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\') {
            fputs("\\e", out);
        } else if (ch == '-') {
            fputs("\\-", out);
        } else if (ch < 0x80) {
            fputc(ch, out);
        } else if (ch < 0xc0) { /* a stray continuation byte: not UTF-8 */
            fputc('?', out);
        } else {
            size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
            unsigned cp = ch & (0x7fu >> len);
            for (size_t k = 1; k < len && i + 1 < n; k++)
                cp = cp << 6 | ((unsigned char)s[++i] & 0x3f);
            fprintf(out, "\\[u%04X]", cp);
        }
    }
}

static void roff_line(FILE *out, const char *s) {
    roff_esc(out, s, strlen(s));
    fputc('\n', out);
}

/* The lines of a text, each NUL-terminated (the copy is changed in place). */
typedef struct doc_lines {
    char *buf;
    char **line;
    size_t n;
} doc_lines;

static int lines_split(doc_lines *l, const char *text) {
    memset(l, 0, sizeof *l);
    if (!text || !(l->buf = strdup(text))) return -1;
    size_t cap = 1;
    for (const char *p = text; *p; p++) cap += *p == '\n';
    if (!(l->line = calloc(cap, sizeof *l->line))) return free(l->buf), -1;
    for (char *p = l->buf; *p;) {
        l->line[l->n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    return 0;
}

static void lines_free(doc_lines *l) {
    free(l->line);
    free(l->buf);
}

static const char *skip_spaces(const char *s) {
    while (*s == ' ') s++;
    return s;
}

static int is_option_line(const char *s) {
    return strncmp(s, "  --", 4) == 0;
}

/* "  --flag ARG   text": the tag (flag in bold, its argument in italics) and the text. */
static void roff_option(FILE *out, const char *s) {
    const char *tag = s + 2, *gap = strstr(tag, "  ");
    size_t n = gap ? (size_t)(gap - tag) : strlen(tag);
    size_t f = 0;
    while (f < n && tag[f] != ' ') f++;
    fputs(".TP\n\\fB", out);
    roff_esc(out, tag, f);
    fputs("\\fR", out);
    if (f < n) {
        fputs(" \\fI", out);
        roff_esc(out, tag + f + 1, n - f - 1);
        fputs("\\fR", out);
    }
    fputc('\n', out);
    if (gap) roff_line(out, skip_spaces(gap));
}

enum { PARA_TEXT = 1, PARA_OPTIONS = 2 };

/* The paragraphs (between blank lines) of lines[from..] of the kinds asked for, in order: text
 * as a filled paragraph, option lines as .TP items (other lines among them as paragraphs). */
static void roff_body(FILE *out, const doc_lines *l, size_t from, int kinds) {
    for (size_t i = from; i < l->n;) {
        while (i < l->n && !*l->line[i]) i++;
        size_t end = i;
        int kind = PARA_TEXT;
        while (end < l->n && *l->line[end])
            kind = is_option_line(l->line[end++]) ? PARA_OPTIONS : kind;
        if (kind & kinds) {
            int in_item = 0, verbatim = 0;
            fputs(".PP\n", out);
            for (size_t k = i; k < end; k++) {
                const char *s = l->line[k];
                if (verbatim && *s != ' ') fputs(".fi\n", out), verbatim = 0;
                if (is_option_line(s)) {
                    roff_option(out, s);
                    in_item = 1;
                } else if (*s == ' ' && in_item) {
                    /* serve's second line of a setting: where else it comes from */
                    if (strncmp(skip_spaces(s), "env ", 4) == 0) fputs(".br\n", out);
                    roff_line(out, skip_spaces(s));
                } else if (*s == ' ') {
                    if (!verbatim) fputs(".nf\n", out), verbatim = 1;
                    roff_line(out, s);
                } else {
                    if (in_item) fputs(".PP\n", out);
                    roff_line(out, s);
                    in_item = 0;
                }
            }
            if (verbatim) fputs(".fi\n", out);
        }
        i = end;
    }
}

/* The usage lines at the top of a help text: "usage: X" then "       Y" and deeper lines, as
 * "X", "Y" (each without its first seven columns, so continuations keep their alignment). */
static size_t roff_synopsis(FILE *out, const doc_lines *l) {
    size_t i = 0;
    fputs(".SH SYNOPSIS\n.nf\n", out);
    for (; i < l->n && *l->line[i]; i++) {
        const char *s = l->line[i];
        roff_line(out, strlen(s) >= 7 ? s + 7 : skip_spaces(s)); /* "usage: ", or 7 spaces */
    }
    fputs(".fi\n", out);
    return i;
}

/* Whether lines[from..] hold a paragraph of that kind. */
static int has_para(const doc_lines *l, size_t from, int kind) {
    for (size_t i = from; i < l->n;) {
        while (i < l->n && !*l->line[i]) i++;
        if (i == l->n) break;
        int k = PARA_TEXT;
        while (i < l->n && *l->line[i]) k = is_option_line(l->line[i++]) ? PARA_OPTIONS : k;
        if (k == kind) return 1;
    }
    return 0;
}

static void roff_header(FILE *out, const char *name, const char *summary) {
    char up[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof up; i++)
        up[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
    up[i] = 0;
    fputs(".\\\" Generated by `jobengine __doc man` from the --help text; do not edit.\n.TH ", out);
    roff_esc(out, up, strlen(up));
    fputs(" 1 \"\" \"JobEngine " JE_VERSION "\" \"JobEngine Manual\"\n.nh\n.ad l\n.SH NAME\n", out);
    roff_esc(out, name, strlen(name));
    fputs(" \\- ", out);
    roff_line(out, summary);
}

static int man_command(FILE *out, const cli_command *c) {
    char name[64];
    snprintf(name, sizeof name, "jobengine-%s", c->name);
    char *text = cli_help_text(c, NULL);
    doc_lines l;
    if (lines_split(&l, text) != 0) return free(text), -1;
    free(text);
    roff_header(out, name, c->summary);
    size_t body = roff_synopsis(out, &l);
    fputs(".SH DESCRIPTION\n", out);
    if (has_para(&l, body, PARA_TEXT))
        roff_body(out, &l, body, PARA_TEXT);
    else
        fprintf(out, ".PP\n%c%s.\n", c->summary[0] - 32, c->summary + 1);
    if (c->family) {
        fputs(".SH SUBCOMMANDS\n", out);
        for (size_t i = 0; i < c->family->n_subs; i++) {
            const cli_sub *s = &c->family->subs[i];
            fprintf(out, ".SS \"%s %s\"\n.nf\n", c->name, s->name);
            doc_lines syn, about;
            if (lines_split(&syn, s->synopsis) != 0) return lines_free(&l), -1;
            for (size_t k = 0; k < syn.n; k++) {
                fputs(k ? "" : "jobengine ", out);
                roff_line(out, k && strlen(syn.line[k]) >= 7 ? syn.line[k] + 7 : syn.line[k]);
            }
            lines_free(&syn);
            fputs(".fi\n", out);
            if (lines_split(&about, s->about) != 0) return lines_free(&l), -1;
            roff_body(out, &about, 0, PARA_TEXT | PARA_OPTIONS);
            lines_free(&about);
        }
    }
    if (has_para(&l, body, PARA_OPTIONS)) {
        fputs(".SH OPTIONS\n", out);
        roff_body(out, &l, body, PARA_OPTIONS);
    }
    fputs(".SH SEE ALSO\n.BR jobengine (1)\n", out);
    lines_free(&l);
    return 0;
}

/* The variables the commands read (each is also in the --help of the commands that use it). */
static const char *const environment[][2] = {
    {"JOBENGINE_URL", "The server of the commands that talk to one (--url); default "
                      "http://127.0.0.1:8440."},
    {"JOBENGINE_TOKEN", "A bearer token to use as is (--token)."},
    {"JOBENGINE_CLIENT_ID", "The client whose credentials get a token for just the scope a call "
                            "needs (--client-id)."},
    {"JOBENGINE_CLIENT_SECRET", "Its secret (--client-secret)."},
    {"JOBENGINE_TENANT", "The tenant to act for (--tenant); also sent as X-StellaOps-Tenant."},
    {"JOBENGINE_SCOPE", "The scopes jobengine token asks for (--scope)."},
    {"JOBENGINE_STORE", "The store of serve, migrate, client and keys (--store), sqlite:PATH or "
                        "postgres://USER@HOST:PORT/DB; default " JE_DEFAULT_STORE "."},
    {"JOBENGINE_CONFIG", "The JSON config file of serve (--config)."},
    {"JOBENGINE_LISTEN", "And every other setting of serve: its variable is given in "
                         "jobengine-serve(1)."},
    {"STELLAOPS_ORCH_QUOTA_REASON", "The justification put into a requested token for a scope "
                                    "that needs one (and _TICKET; likewise BACKFILL, OPERATOR, "
                                    "GOVERNANCE), when --token-reason/--token-ticket are not "
                                    "given."},
};

static int man_main(FILE *out) {
    roff_header(out, "jobengine", "the JobEngine control plane: server, administration, client");
    fputs(".SH SYNOPSIS\n.nf\n", out);
    roff_line(out, "jobengine <command> [options]");
    roff_line(out, "jobengine <command> --help");
    roff_line(out, "jobengine --help | --version");
    fputs(".fi\n.SH DESCRIPTION\n.PP\n", out);
    roff_line(out, "JobEngine decides how much work each tenant of a job platform may run and "
                   "keeps a verifiable, hash-chained audit trail of every change to that "
                   "capacity. One binary serves the Authority and the API (serve), administers "
                   "the store (migrate, client, keys) and talks to a running server (the "
                   "commands marked \"server\"). 'jobengine <command> --help' describes a "
                   "command; each has a page of its own.");
    fputs(".SH COMMANDS\n", out);
    for (size_t i = 0; i < cli_n_commands; i++) {
        if (!cli_commands[i].summary) continue;
        fputs(".TP\n.BR jobengine\\-", out);
        roff_esc(out, cli_commands[i].name, strlen(cli_commands[i].name));
        fputs(" (1)\n", out);
        roff_line(out, cli_commands[i].summary);
    }
    fputs(".SH ENVIRONMENT\n", out);
    for (size_t i = 0; i < sizeof environment / sizeof environment[0]; i++) {
        fprintf(out, ".TP\n.B %s\n", environment[i][0]);
        roff_line(out, environment[i][1]);
    }
    fputs(".SH EXIT STATUS\n.TP\n.B 0\nSuccess.\n.TP\n.B 1\n", out);
    roff_line(out, "A failure or a refusal: \"jobengine CMD: message\" (from a server: "
                   "\"jobengine CMD: CODE: message\") on standard error.");
    fputs(".TP\n.B 2\n", out);
    roff_line(out, "A usage error (an unknown command, subcommand or option, a missing or "
                   "malformed argument); nothing was done.");
    fputs(".SH SEE ALSO\n", out);
    for (size_t i = 0, first = 1; i < cli_n_commands; i++) {
        if (!cli_commands[i].summary) continue;
        fprintf(out, "%s.BR jobengine\\-", first ? "" : ",\n");
        roff_esc(out, cli_commands[i].name, strlen(cli_commands[i].name));
        fputs(" (1)", out);
        first = 0;
    }
    fputs("\n", out);
    return 0;
}

/* ---- jobengine __doc ------------------------------------------------------------------------ */

static void doc_help(FILE *out) {
    fprintf(out, "usage: jobengine __doc man DIR\n"
                 "       jobengine __doc settings\n"
                 "       jobengine __doc options\n\n"
                 "The build's tool (docs/operations.md): man writes jobengine.1 and one\n"
                 "jobengine-CMD.1 a command into DIR (made if absent); settings prints serve's\n"
                 "settings as a Markdown table; options prints every option of every command,\n"
                 "one \"CMD [SUB] --flag\" a line, from the tables the commands parse with.\n");
}

static int write_page(const char *dir, const char *file, const cli_command *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("__doc", "cannot write %s: %s", path, strerror(errno));
    int rc = c ? man_command(f, c) : man_main(f);
    if (fclose(f) != 0 || rc != 0) return cli_fail("__doc", "cannot write %s", path);
    return 0;
}

static int doc_man(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cli_fail("__doc", "cannot make %s: %s", dir, strerror(errno));
    int rc = write_page(dir, "jobengine.1", NULL);
    for (size_t i = 0; i < cli_n_commands && rc == 0; i++) {
        if (!cli_commands[i].summary) continue;
        char file[64];
        snprintf(file, sizeof file, "jobengine-%s.1", cli_commands[i].name);
        rc = write_page(dir, file, &cli_commands[i]);
    }
    return rc;
}

typedef struct opt_line {
    const char *cmd, *sub;
} opt_line;

static void print_option(void *ctx, const char *flag, int has_value) {
    const opt_line *o = ctx;
    printf("%s%s%s --%s\n", o->cmd, o->sub ? " " : "", o->sub ? o->sub : "", flag);
}

static int doc_options(void) {
    for (size_t i = 0; i < cli_n_commands; i++) {
        const cli_command *c = &cli_commands[i];
        if (!c->summary) continue;
        opt_line o = {c->name, NULL};
        if (!c->family) cli_command_options(c, NULL, print_option, &o);
        for (size_t k = 0; c->family && k < c->family->n_subs; k++) {
            o.sub = c->family->subs[k].name;
            cli_command_options(c, &c->family->subs[k], print_option, &o);
        }
    }
    return 0;
}

int cmd_doc(int argc, char **argv) {
    cli_args a;
    if (cli_parse("__doc", argc, argv, no_opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return doc_help(stdout), 0;
    const char *what = a.n_pos ? a.pos[0] : "";
    size_t want = strcmp(what, "man") == 0 ? 2 : 1;
    if (a.n_pos != want ||
        (strcmp(what, "man") && strcmp(what, "settings") && strcmp(what, "options")))
        return doc_help(stderr), 2;
    if (strcmp(what, "man") == 0) return doc_man(a.pos[1]);
    if (strcmp(what, "settings") == 0) return cli_serve_settings_markdown(stdout), 0;
    return doc_options();
}

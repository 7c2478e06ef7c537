/* cli/cli_common.c: option parsing and shared helpers for subcommands. */
#include "cli/cli.h"
#include "engine/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_optspec *spec_find(const cli_optspec *spec, const char *name, size_t n) {
    for (; spec->name; spec++)
        if (strlen(spec->name) == n && strncmp(spec->name, name, n) == 0) return spec;
    return NULL;
}

static int add_opt(cli_args *a, const char *name, const char *value) {
    if (a->n >= sizeof a->o / sizeof a->o[0]) return -1;
    a->o[a->n].name = name;
    a->o[a->n].value = value;
    a->n++;
    return 0;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_optspec *spec, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (a->n_pos >= 16) return cli_fail(cmd, "too many arguments"), 2;
            a->pos[a->n_pos++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        if (n == 4 && strncmp(name, "help", 4) == 0) {
            add_opt(a, "help", "");
            continue;
        }
        const cli_optspec *s = spec_find(spec, name, n);
        if (!s) return cli_fail(cmd, "unknown option --%.*s (see --help)", (int)n, name), 2;
        const char *value = "";
        if (s->has_value && eq)
            value = eq + 1;
        else if (s->has_value && i + 1 < argc)
            value = argv[++i];
        else if (s->has_value)
            return cli_fail(cmd, "option --%s needs a value", s->name), 2;
        else if (eq)
            return cli_fail(cmd, "option --%s takes no value", s->name), 2;
        if (add_opt(a, s->name, value) != 0) return cli_fail(cmd, "too many options"), 2;
    }
    return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
    const char *v = NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->o[i].name, name) == 0) v = a->o[i].value;
    return v;
}

int cli_has(const cli_args *a, const char *name) {
    return cli_get(a, name) != NULL;
}

size_t cli_all(const cli_args *a, const char *name, const char **out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->o[i].name, name) == 0 && k < cap) out[k++] = a->o[i].value;
    return k;
}

const char *cli_get_env(const cli_args *a, const char *name, const char *env,
                        const char *fallback) {
    const char *v = cli_get(a, name);
    if (v) return v;
    v = env ? getenv(env) : NULL;
    return (v && *v) ? v : fallback;
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "jobengine %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

je_store *cli_open_store(const cli_args *a) {
    const char *url = cli_get_env(a, "store", "JOBENGINE_STORE", JE_DEFAULT_STORE);
    je_err err;
    je_err_clear(&err);
    je_store *s = je_store_open(url, &err);
    /* times this command writes (a key's createdAt) are on the database's clock, as a node's */
    if (s && je_clock_sync(s, NULL, &err) < 0) {
        je_store_close(s);
        s = NULL;
    }
    if (!s) {
        char shown[512];
        je_store_url_safe(url, shown, sizeof shown);
        cli_fail(a->cmd, "cannot open store %s: %s", shown, err.message);
    }
    return s;
}

/* cli/cmd_client.c: `jobengine client add|list|remove|rotate-secret|bootstrap`, on the store
 * (no server needed; a running server sees changes at once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/seed.h"
#include "core/timefmt.h"
#include "http/http.h"

const cli_optspec cli_client_opts[] = {{"store", 1}, {"json", 0},   {"tenant", 1},
                                       {"role", 1},  {"secret", 1}, {NULL, 0}};
/* Its subcommands, for completion (cli_doc.h); cmd_client dispatches on the same words. */
const char *const cli_client_words[] = {"add",           "list",      "remove",
                                        "rotate-secret", "bootstrap", NULL};

static void print_secret(const cli_args *a, const char *id, const char *secret) {
    if (cli_has(a, "json")) {
        json_t *j = json_pack("{s:s, s:s}", "clientId", id, "clientSecret", secret);
        char *s = json_dumps(j, JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("client %s\nsecret %s\n(the secret is shown only now)\n", id, secret);
    }
}

static int client_add(const cli_args *a, je_store *s) {
    if (a->n_pos != 2) return cli_fail("client add", "usage: client add ID --tenant T --role R");
    const char *t[JE_MAX_TENANTS + 1], *r[JE_MAX_ROLES + 1];
    size_t nt = cli_all(a, "tenant", t, JE_MAX_TENANTS + 1);
    size_t nr = cli_all(a, "role", r, JE_MAX_ROLES + 1);
    je_client c;
    char secret[JE_SECRET_MAX + 1];
    je_err err;
    je_err_clear(&err);
    int rc = JE_STORE_ERROR;
    if (je_client_make(&c, a->pos[1], t, nt, r, nr, cli_get(a, "secret"), secret, &err) != 0 ||
        (rc = s->ops->client_put(s, &c, 1, &err)) != JE_STORE_OK)
        return cli_fail("client add", "%s%s", rc == JE_STORE_CONFLICT ? "CONFLICT: " : "",
                        err.message);
    print_secret(a, c.id, secret);
    return 0;
}

static int print_client(void *ctx, const je_client *c) {
    json_t *arr = ctx;
    json_t *t = json_array(), *r = json_array();
    for (size_t i = 0; i < c->n_tenants; i++) json_array_append_new(t, json_string(c->tenants[i]));
    for (size_t i = 0; i < c->n_roles; i++) json_array_append_new(r, json_string(c->roles[i]));
    char ts[JE_TIME_BUF];
    json_array_append_new(arr,
                          json_pack("{s:s, s:o, s:o, s:s}", "clientId", c->id, "tenants", t,
                                    "roles", r, "createdAt", je_time_format(c->created_ms, ts)));
    return 0;
}

static int client_list(const cli_args *a, je_store *s) {
    json_t *arr = json_array();
    je_err err;
    if (s->ops->client_list(s, print_client, arr, &err) != 0) {
        json_decref(arr);
        return cli_fail("client list", "%s", err.message);
    }
    if (cli_has(a, "json")) {
        char *out = json_dumps(arr, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", out);
        free(out);
    } else {
        printf("%-32s %-24s %s\n", "CLIENT", "TENANTS", "ROLES");
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c) {
            char *t = json_dumps(json_object_get(c, "tenants"), JSON_COMPACT);
            char *r = json_dumps(json_object_get(c, "roles"), JSON_COMPACT);
            printf("%-32s %-24s %s\n", json_string_value(json_object_get(c, "clientId")), t, r);
            free(t);
            free(r);
        }
    }
    json_decref(arr);
    return 0;
}

static int client_rotate(const cli_args *a, je_store *s) {
    if (a->n_pos != 2) return cli_fail("client rotate-secret", "usage: client rotate-secret ID");
    je_client c;
    je_err err;
    je_err_clear(&err);
    int found = s->ops->client_get(s, a->pos[1], &c, &err);
    if (found != JE_STORE_OK)
        return cli_fail("client rotate-secret", "%s",
                        found < 0 ? err.message : "NOT_FOUND: no such client");
    char secret[JE_SECRET_MAX + 1];
    c.updated_ms = je_now_ms();
    if (je_client_set_secret(&c, cli_get(a, "secret"), secret, &err) != 0 ||
        s->ops->client_put(s, &c, 0, &err) != 0)
        return cli_fail("client rotate-secret", "%s", err.message);
    print_secret(a, c.id, secret);
    return 0;
}

static int client_remove(const cli_args *a, je_store *s) {
    if (a->n_pos != 2) return cli_fail("client remove", "usage: client remove ID");
    je_err err;
    int rc = s->ops->client_remove(s, a->pos[1], &err);
    if (rc < 0) return cli_fail("client remove", "%s", err.message);
    if (rc == JE_STORE_NOT_FOUND)
        return cli_fail("client remove", "NOT_FOUND: no such client '%s'", a->pos[1]);
    if (!cli_has(a, "json")) printf("removed client %s\n", a->pos[1]);
    return 0;
}

void cli_client_help(FILE *out) {
    fprintf(out,
            "usage: jobengine client add ID --tenant T [--tenant T2...] --role R [--role R2...]\n"
            "                           [--secret S] [--store URL] [--json]\n"
            "       jobengine client list [--store URL] [--json]\n"
            "       jobengine client remove ID [--store URL]\n"
            "       jobengine client rotate-secret ID [--secret S] [--store URL] [--json]\n"
            "       jobengine client bootstrap FILE [--store URL]\n\n"
            "Roles: Orch.Viewer, Orch.Worker, Orch.Operator, Orch.Admin, and Orch.PlatformAdmin,\n"
            "which goes only with tenant _system (the platform), alone: --tenant _system --role\n"
            "Orch.PlatformAdmin. A secret is printed once; only its SHA-256 is stored.\n");
}

int cmd_client(int argc, char **argv) {
    cli_args a;
    if (cli_parse("client", argc, argv, cli_client_opts, &a) != 0) return 2;
    const char *sub = a.n_pos ? a.pos[0] : NULL;
    if (cli_has(&a, "help") || !sub)
        return cli_client_help(stdout), sub || cli_has(&a, "help") ? 0 : 2;
    static const struct {
        const char *name;
        int (*fn)(const cli_args *, je_store *);
    } subs[] = {{"add", client_add},
                {"list", client_list},
                {"remove", client_remove},
                {"rotate-secret", client_rotate}};
    je_store *s = NULL;
    int rc = -1;
    for (size_t i = 0; i < 4 && rc == -1; i++) {
        if (strcmp(sub, subs[i].name) != 0) continue;
        if (!(s = cli_open_store(&a))) return 1;
        rc = subs[i].fn(&a, s);
    }
    if (rc == -1 && strcmp(sub, "bootstrap") == 0) {
        if (a.n_pos != 2) return cli_fail("client bootstrap", "usage: client bootstrap FILE"), 2;
        if (!(s = cli_open_store(&a))) return 1;
        je_err err;
        rc = je_seed_bootstrap(s, a.pos[1], &err) == 0
                 ? 0
                 : cli_fail("client bootstrap", "%s: %s: %s", a.pos[1], err.field, err.message);
    }
    if (s) je_store_close(s);
    if (rc == -1) return cli_fail("client", "unknown subcommand '%s' (see --help)", sub), 2;
    return rc;
}

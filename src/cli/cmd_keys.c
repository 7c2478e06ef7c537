/* cli/cmd_keys.c: `jobengine keys rotate|list`, on the store. A running server signs with the
 * new key within a second; earlier keys stay published in /jwks. */
#include <stdio.h>
#include <string.h>

#include "auth/keyring.h"
#include "cli/cli.h"
#include "core/timefmt.h"
#include "http/http.h"

const cli_optspec cli_keys_opts[] = {{"store", 1}, {"json", 0}, {NULL, 0}};
const char *const cli_keys_words[] = {"rotate", "list", NULL};

void cli_keys_help(FILE *out) {
    fprintf(out, "usage: jobengine keys rotate|list [--store URL] [--json]\n");
}

static int keys_list(je_store *s, int json) {
    static je_key keys[JE_MAX_KEYS];
    size_t n = 0;
    je_err err;
    if (s->ops->key_list(s, keys, JE_MAX_KEYS, &n, &err) != 0)
        return cli_fail("keys list", "%s", err.message);
    if (json) printf("[");
    for (size_t i = 0; i < n; i++) {
        char t[JE_TIME_BUF];
        je_time_format(keys[i].created_ms, t);
        if (json)
            printf("%s{\"kid\": \"%s\", \"createdAt\": \"%s\", \"current\": %s}", i ? ", " : "",
                   keys[i].kid, t, keys[i].current ? "true" : "false");
        else
            printf("%-44s %s%s\n", keys[i].kid, t, keys[i].current ? "  current" : "");
    }
    if (json) printf("]\n");
    return 0;
}

int cmd_keys(int argc, char **argv) {
    cli_args a;
    if (cli_parse("keys", argc, argv, cli_keys_opts, &a) != 0) return 2;
    const char *sub = a.n_pos ? a.pos[0] : NULL;
    if (cli_has(&a, "help") || !sub)
        return cli_keys_help(stdout), sub || cli_has(&a, "help") ? 0 : 2;
    if (strcmp(sub, "rotate") != 0 && strcmp(sub, "list") != 0)
        return cli_fail("keys", "unknown subcommand '%s' (rotate, list)", sub), 2;
    je_store *s = cli_open_store(&a);
    if (!s) return 1;
    int rc = 0;
    if (strcmp(sub, "list") == 0) {
        rc = keys_list(s, cli_has(&a, "json"));
    } else {
        je_key k;
        je_err err;
        rc = je_keyring_rotate_store(s, je_now_ms(), &k, &err);
        if (rc != 0)
            rc = cli_fail("keys rotate", "%s", err.message);
        else if (cli_has(&a, "json"))
            printf("{\"kid\": \"%s\"}\n", k.kid);
        else
            printf("new signing key %s\n", k.kid);
    }
    je_store_close(s);
    return rc;
}

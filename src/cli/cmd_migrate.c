/* cli/cmd_migrate.c: `jobengine migrate`: create or upgrade the store's schema, and say where it
 * stands. Opening a store migrates it, so this is opening it on purpose. */
#include <stdio.h>

#include "cli/cli.h"

const cli_optspec cli_migrate_opts[] = {{"store", 1}, {"json", 0}, {NULL, 0}};

void cli_migrate_help(FILE *out) {
    fprintf(out, "usage: jobengine migrate [--store URL] [--json]\n\n"
                 "Creates the store when absent and applies every pending migration.\n");
}

int cmd_migrate(int argc, char **argv) {
    cli_args a;
    if (cli_parse("migrate", argc, argv, cli_migrate_opts, &a) != 0) return 2;
    if (cli_has(&a, "help")) return cli_migrate_help(stdout), 0;
    je_store *s = cli_open_store(&a);
    if (!s) return 1;
    int v = s->ops->schema_version(s);
    if (cli_has(&a, "json"))
        printf("{\"schemaVersion\": %d, \"backend\": \"%s\"}\n", v, s->ops->name);
    else
        printf("store is at schema version %d (%s)\n", v, s->ops->name);
    je_store_close(s);
    return 0;
}

/* cli/main.c: the jobengine binary: one table of subcommands, as git's (cli_doc.c: the same
 * table makes the man pages and the shell completion). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_doc.h"

/* generated/version.c (scripts/version.cmake) */
extern const char je_version[], je_build_commit[], je_build_options[];

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f, RLIMIT_FSIZE) reached by a write fails that write with EFBIG,
     * which the store answers as it answers a full disk (503 STORE_UNAVAILABLE), instead of
     * killing the process (as PostgreSQL does). A worker's commands get the default back. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        cli_main_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli_main_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("jobengine %s\ncommit %s\nbuild %s\n", je_version, je_build_commit,
               je_build_options);
        return 0;
    }
    const cli_command *c = cli_command_find(argv[1]);
    if (c) return c->fn(argc - 2, argv + 2);
    fprintf(stderr, "jobengine: '%s' is not a command\n", argv[1]);
    cli_main_usage(stderr);
    return 2;
}

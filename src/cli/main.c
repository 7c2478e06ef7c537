/* cli/main.c: the jobengine binary: one table of subcommands, as git's. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* generated/version.c (scripts/version.cmake) */
extern const char je_version[], je_build_commit[], je_build_options[];

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "run the Authority and the API"},
    {"migrate", cmd_migrate, "create or upgrade the store's schema"},
    {"client", cmd_client, "add, list, remove clients; rotate a secret; bootstrap from a file"},
    {"keys", cmd_keys, "rotate and list the signing keys"},
    {"token", cmd_token, "get an access token from a running server"},
    {"quota", cmd_quota, "list, change, pause quotas; acquire and release permits (server)"},
    {"pool", cmd_pool, "list the capacity pools; set and delete them as the platform (server)"},
    {"breaker", cmd_breaker, "list the circuit breakers; set, force and delete them (server)"},
    {"backfill", cmd_backfill, "preview, create, start, pause, watch backfills (server)"},
    {"job", cmd_job, "submit, get, list and count jobs (server)"},
    {"worker", cmd_worker, "lease jobs and run a command for each (server)"},
    {"audit", cmd_audit, "list, verify and export the audit chain (server); verify an export"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: jobengine <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'jobengine <command> --help' describes a command.\n");
}

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f, RLIMIT_FSIZE) reached by a write fails that write with EFBIG,
     * which the store answers as it answers a full disk (503 STORE_UNAVAILABLE), instead of
     * killing the process (as PostgreSQL does). A worker's commands get the default back. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("jobengine %s\ncommit %s\nbuild %s\n", je_version, je_build_commit,
               je_build_options);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "jobengine: '%s' is not a command\n", argv[1]);
    usage(stderr);
    return 2;
}

/* cli/cli.h: what every subcommand shares (as git's builtin/ share parse-options): one option
 * parser, one error form ("jobengine CMD: message" on stderr, exit 1; usage errors exit 2), and
 * opening the store. */
#ifndef JE_CLI_CLI_H
#define JE_CLI_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "store/store.h"

#define JE_DEFAULT_STORE "sqlite:./jobengine-data/jobengine.db"
#define JE_DEFAULT_URL "http://127.0.0.1:8440"

typedef struct cli_optspec {
    const char *name; /* without the leading "--" */
    int has_value;
} cli_optspec;

typedef struct cli_args {
    const char *cmd; /* "client add", for messages */
    size_t n_pos;
    const char *pos[16];
    size_t n;
    struct {
        const char *name;
        const char *value;
    } o[64];
} cli_args;

/* Parses argv (after the subcommand words) against spec; --help is always allowed.
 * Returns 0, or 2 after printing a usage error. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_optspec *spec, cli_args *a);
const char *cli_get(const cli_args *a, const char *name); /* last value, or NULL */
int cli_has(const cli_args *a, const char *name);
size_t cli_all(const cli_args *a, const char *name, const char **out, size_t cap);
/* Option, else environment variable, else fallback. */
const char *cli_get_env(const cli_args *a, const char *name, const char *env, const char *fallback);

/* Prints "jobengine CMD: message" to stderr; returns 1 (the exit status). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens --store (or JOBENGINE_STORE, or the default), creating and migrating it. */
je_store *cli_open_store(const cli_args *a);

/* serve's --help text, and its settings as a Markdown table (docs/operations.md "Configuration
 * reference"): both from the one settings table of cmd_serve.c. */
void cli_serve_help(FILE *out);
void cli_serve_settings_markdown(FILE *out);

/* The other commands' options and --help text, for the registry of commands (cli_doc.h);
 * words: the subcommands of one that has some (client add, keys list), NULL-terminated. */
extern const cli_optspec cli_migrate_opts[], cli_client_opts[], cli_keys_opts[], cli_token_opts[],
    cli_worker_opts[];
extern const char *const cli_client_words[], *const cli_keys_words[];
void cli_migrate_help(FILE *out);
void cli_client_help(FILE *out);
void cli_keys_help(FILE *out);
void cli_token_help(FILE *out);
void cli_worker_help(FILE *out);

typedef int (*cli_cmd_fn)(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_quota(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_breaker(int argc, char **argv);
int cmd_backfill(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_completion(int argc, char **argv); /* cli_doc_complete.c */
int cmd_doc(int argc, char **argv);        /* `jobengine __doc`, the build's (cli_doc.c) */

#endif

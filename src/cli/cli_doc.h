/* cli/cli_doc.h: the one registry of jobengine's commands, which the binary (main.c: dispatch
 * and `jobengine --help`), the man pages (`jobengine __doc man DIR`) and the shell completion
 * (`jobengine completion bash|zsh`) all read, so that none of them can drift from --help:
 *
 *   a family (quota, pool, ...)  its cli_family: the subs' names, option tables, synopses, about
 *   another command              its --help printer, its option table, its first words if any
 *   serve                        cli_serve_help only: its options are read from that text (its
 *                                option table is built from the same settings table, cmd_serve.c)
 *
 * The man pages are --help text turned into roff: "usage:" lines become the SYNOPSIS, option
 * lines ("  --flag ARG   text", continued by deeper-indented lines) OPTIONS items, the rest
 * DESCRIPTION; a family's subs each get a SUBCOMMANDS entry. */
#ifndef JE_CLI_CLI_DOC_H
#define JE_CLI_CLI_DOC_H

#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_sub.h"

typedef struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary; /* the line of `jobengine --help`; NULL: hidden (__doc) */
    const cli_family *family;
    void (*help)(FILE *out);  /* not a family: what --help prints */
    const cli_optspec *opts;  /* not a family: its options; NULL: read from its help (serve) */
    const char *const *words; /* not a family: its subcommands (client add), or NULL */
} cli_command;

extern const cli_command cli_commands[];
extern const size_t cli_n_commands;

const cli_command *cli_command_find(const char *name);
/* What `jobengine --help` prints: every command that is not hidden, with its summary. */
void cli_main_usage(FILE *out);
/* What `jobengine NAME --help` prints. */
void cli_command_help(const cli_command *c, FILE *out);

/* The options of a command (sub NULL) or of a family's sub, in table order, each as "--flag"
 * with has_value. Calls fn for each; serve's come from its help text. */
typedef void (*cli_opt_fn)(void *ctx, const char *flag, int has_value);
void cli_command_options(const cli_command *c, const cli_sub *sub, cli_opt_fn fn, void *ctx);
/* The values a flag takes when its help says "--flag a|b|c" (in a synopsis or a line): copies
 * "a b c" into out and returns 1, else 0. help is the text of the command's or sub's --help. */
int cli_flag_values(const char *help, const char *flag, char *out, size_t cap);
/* --help of a command, or of its sub, as a string (malloc'd, NUL-terminated), or NULL. */
char *cli_help_text(const cli_command *c, const cli_sub *sub);

/* `jobengine completion` (cli_doc_complete.c): its --help, options and words (the shells). */
void cli_completion_help(FILE *out);
extern const char *const cli_completion_words[];

#endif

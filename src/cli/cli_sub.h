/* cli/cli_sub.h: the frame of a server-talking command made of subcommands (quota, job, backfill,
 * audit), as git's parse-options is the frame of its builtins: a command is a table of
 * subcommands (cli_sub) in a family (cli_family), and cli_sub_main does the rest the same way for
 * all of them:
 *
 *   jobengine CMD [--help | -h]          the family's usage (stdout, exit 0; none given: stderr, 2)
 *   jobengine CMD SUB [options] [ID]     options parsed against the sub's table (cli_parse);
 *                                        --help prints the sub's usage; a wrong number of
 *                                        arguments or an empty ID is a usage error (exit 2)
 *
 * then runs the subcommand (cli_sub_run): prep checks the arguments and builds the one request
 * (a bad argument is exit 2 and nothing is sent), then a connection with a token for just the
 * sub's scope, then run: by default one call whose 2xx answer is shown as text for people (show),
 * or with --json printed as the server wrote it; a refusal is "jobengine CMD SUB: CODE: message"
 * on stderr, exit 1 (cli_http.h). */
#ifndef JE_CLI_CLI_SUB_H
#define JE_CLI_CLI_SUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_http.h"
#include "core/buf.h"
#include "core/limits.h"

/* The one request a subcommand makes (list: its first page; watch: each poll). */
typedef struct cli_req {
    const char *method;
    je_buf path;        /* already percent-encoded where needed */
    json_t *body;       /* owned, or NULL */
    const char *hdr[3]; /* NULL-terminated */
    size_t n_hdr;
    char hdr_buf[2][320];
    const char *reason, *ticket; /* the command's --reason / --ticket, for the token too */
    double interval;             /* a sub that polls (backfill watch): seconds between polls */
} cli_req;

typedef struct cli_sub cli_sub;
typedef struct cli_family cli_family;

struct cli_sub {
    const char *name;
    const cli_scope *scope; /* the token asked for */
    int takes_id;           /* 1: exactly one argument, the ID (not empty); 0: none */
    const cli_optspec *opts;
    const char *synopsis, *about; /* "quota get ID" (after "jobengine "), and what --help says */
    int (*prep)(const cli_args *a, cli_req *q); /* 0, or 2 after a usage error */
    /* Text for people of a 2xx answer (not called with --json). */
    void (*show)(const cli_args *a, const cli_resp *r);
    /* After the connection is open and authorized; NULL: one call (see the top). */
    int (*run)(cli_http *h, const cli_args *a, const cli_sub *s, cli_req *q);
    /* Instead of cli_sub_run, for a sub that may not need the server (audit verify --file) or
     * must do something before connecting (audit export); NULL for the rest. */
    int (*main)(const cli_family *f, const cli_sub *s, const cli_args *a);
};

struct cli_family {
    const char *name;  /* "quota" */
    const char *thing; /* what the ID names: "the quota ID must not be empty" */
    const char *intro; /* the usage's text between the synopses and the server options */
    const cli_sub *subs;
    size_t n_subs;
    /* More about a refusal of a one-call sub, after its "CODE: message" line; or NULL. */
    void (*refused)(const cli_resp *r);
};

/* The families, for the registry of commands (cli_doc.h). */
extern const cli_family cli_quota_family, cli_pool_family, cli_breaker_family, cli_backfill_family,
    cli_job_family, cli_audit_family;

/* What `jobengine CMD --help` prints (every sub's synopsis, the intro, the server options), and
 * `jobengine CMD SUB --help` (its synopsis, about, the server options). */
void cli_family_usage(const cli_family *f, FILE *out);
void cli_sub_usage(const cli_sub *s, FILE *out);

/* `jobengine <f->name> argv...`: the whole command. Returns the exit status. */
int cli_sub_main(const cli_family *f, int argc, char **argv);

/* prep, connect (cli_http_connect with the sub's scope and q's reason/ticket), run, close. */
int cli_sub_run(const cli_family *f, const cli_sub *s, const cli_args *a);
/* cli_sub_run with scope instead of the sub's, the options reason_opt / ticket_opt standing for
 * --token-reason / --token-ticket (the token's justification). */
int cli_sub_run_as(const cli_family *f, const cli_sub *s, const cli_args *a, const cli_scope *scope,
                   const char *reason_opt, const char *ticket_opt);
/* The platform administrator's changes (pool, breaker): orch:governance, its token's reason from
 * --governance-reason / --governance-ticket. A cli_sub main. */
int cli_sub_governance_main(const cli_family *f, const cli_sub *s, const cli_args *a);
#define CLI_GOVERNANCE_OPTS {"governance-reason", 1}, {"governance-ticket", 1}, CLI_JUST_OPTS
#define CLI_ABOUT_GOVERNANCE                                                                       \
    "The platform administrator only (a client of _system), with scope orch:governance:\n"         \
    "--reason/--ticket go into the request body and are audited in _system's chain; the\n"         \
    "token carries --governance-reason/--governance-ticket (or --token-reason/--token-ticket),\n"  \
    "else STELLAOPS_ORCH_GOVERNANCE_REASON/_TICKET, else --reason/--ticket.\n"

/* A run for lists: GETs q->path and every following page, then prints one
 * {"items": [...], "continuationToken": null} holding them all (--json), or gives that document
 * to s->show as the answer's json (no body, no headers). */
int cli_sub_run_list(cli_http *h, const cli_args *a, const cli_sub *s, cli_req *q);

/* ---- text for people ---------------------------------------------------------------------- */

/* A table of list items: a header of titles, then one row an item, each column as wide as its
 * widest text (in bytes), two spaces apart, the last one unpadded. */
typedef struct cli_table cli_table;
struct cli_table {
    size_t n_cols; /* at most 16 */
    /* Column col of item as text (in buf, or a constant); its title when item is NULL. */
    const char *(*cell)(const cli_table *t, const json_t *item, size_t col, char *buf, size_t cap);
    const void *ctx;  /* for cell */
    size_t cap;       /* the buffer cell gets (at most 4096): its longest text + 1 */
    const char *none; /* the line printed instead when there are no items */
};

void cli_table_print(const cli_table *t, const json_t *items);

/* A JSON value as one line of text for people: absent or null "-", a string as it is, numbers
 * as the server wrote them (reals in plain decimal), booleans "yes"/"no", arrays and objects as
 * compact JSON; control characters (which a terminal would act on) become '?'. Returns buf. */
const char *cli_text(const json_t *v, char *buf, size_t cap);

/* Shows one member itself, or leaves it out: returns 1; 0 for the usual line. */
typedef int (*cli_field_fn)(const char *key, const json_t *v, int indent);
/* "key: value" lines of o's members in the server's order, the values aligned; a non-empty
 * object member as "key:" with its own members indented under it. own (or NULL) sees each
 * member first. */
void cli_print_fields(const json_t *o, int indent, cli_field_fn own);

/* ---- building a request: each returns 0, or 2 after a usage error ------------------------- */

/* The options of a change's justification (cli_req_justification), to merge with a sub's. */
#define CLI_JUST_OPTS                                                                              \
    {"reason", 1}, {                                                                               \
        "ticket", 1                                                                                \
    }

/* A whole number within lo..hi ('-' only when lo < 0; at most 18 digits) into *out. 0, or -1. */
int cli_int(const char *s, long long lo, long long hi, long long *out);
/* "--opt must be a whole number from lo to hi"; returns 2. */
int cli_bad_int(const cli_args *a, const char *opt, long long lo, long long hi);
/* 1 when s is 1..max characters of printable ASCII. */
int cli_printable_ascii(const char *s, size_t max);

/* Adds "name: value" (value through fmt) to q's headers (two at the most). */
int cli_req_header(cli_req *q, const char *name, const char *fmt, const char *v);
/* --idempotency-key K (printable ASCII, 1-255 characters) as Idempotency-Key. */
int cli_req_idempotency_key(const cli_args *a, cli_req *q);
/* --if-match VERSION (or *), sent as If-Match: "VERSION". */
int cli_req_if_match(const cli_args *a, cli_req *q);
/* --reason / --ticket into body and q (api.md §3.2: the body is the first source). */
void cli_req_justification(const cli_args *a, json_t *body, cli_req *q);
/* q->path = base "/" ID suffix, the ID (the first argument) percent-encoded. */
void cli_req_id_path(const cli_args *a, cli_req *q, const char *base, const char *suffix);
/* A move of the resource ID (pause, resume, delete, ...): method to base "/" ID suffix, with a
 * body only when there is a justification to send, and --if-match. */
int cli_req_move(const cli_args *a, cli_req *q, const char *method, const char *base,
                 const char *suffix);

#endif

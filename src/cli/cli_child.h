/* cli/cli_child.h: one shell command run as a child process, for a caller that runs several at
 * once from one poll() loop (jobengine worker): `/bin/sh -c COMMAND` in its own process group
 * (so a terminal's Ctrl-C reaches only the caller, and a kill reaches the command's whole
 * pipeline), killed with the caller (PR_SET_PDEATHSIG), an input written to its stdin as the
 * pipe takes it, its stdout and stderr passed on to the caller's stderr with the end of its stderr
 * kept, a stop that is SIGTERM and then SIGKILL after a grace, and reaping without blocking.
 * Every call but cli_child_start is non-blocking. The caller ignores SIGPIPE (a command that does
 * not read its input) and wakes on SIGCHLD. */
#ifndef JE_CLI_CLI_CHILD_H
#define JE_CLI_CLI_CHILD_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define CLI_CHILD_TAIL_MAX 1024 /* the end of its stderr that is kept */

typedef struct cli_child {
    pid_t pid;
    int in_fd, err_fd; /* our ends of its stdin and stderr, -1 when closed */
    char *input;       /* owned; written to its stdin, then stdin is closed */
    size_t input_len, input_off;
    char tail[CLI_CHILD_TAIL_MAX]; /* the end of its stderr */
    size_t tail_len;
    int tail_cut;    /* the tail lost its beginning */
    int wstatus;     /* after cli_child_reap */
    int hard_killed; /* SIGKILL sent */
    int64_t kill_at; /* after cli_child_stop: when SIGKILL follows (monotonic ms); else 0 */
} cli_child;

/* Once, before the first start: a closed 0, 1 or 2 would be reused by a pipe and lost across
 * exec, so they get /dev/null. */
void cli_child_prepare(void);

/* An empty child (no process, no pipes). */
void cli_child_init(cli_child *c);

/* Starts `/bin/sh -c command` with environment envp (passed as is) and writes what its stdin
 * takes of input[0..len) (c owns input from now on, also on failure). 0, or -1 with errno. */
int cli_child_start(cli_child *c, const char *command, char *const envp[], char *input, size_t len);

/* The pipes to wait on: up to two entries into fds. Returns how many. */
size_t cli_child_pollfds(const cli_child *c, struct pollfd *fds);
/* After poll() reported an entry cli_child_pollfds gave: moves stderr or stdin on. */
void cli_child_ready(cli_child *c, const struct pollfd *p);

/* SIGTERM to its process group; SIGKILL follows from cli_child_tend after a grace. */
void cli_child_stop(cli_child *c, int64_t now);
/* When cli_child_tend has a SIGKILL to send, or 0. */
int64_t cli_child_kill_due(const cli_child *c);
void cli_child_tend(cli_child *c, int64_t now);

/* 0 while it runs; once it ended, passes on the last of its stderr, closes both pipes (a
 * background process of the command may hold them: not waited for) and returns 1 with
 * c->wstatus set, or -1 with errno when its exit status was lost. */
int cli_child_reap(cli_child *c);

/* "exit status N", "killed by signal S (SIGNAME)" from c->wstatus. */
const char *cli_child_ended(const cli_child *c, char *buf, size_t cap);
int cli_child_succeeded(const cli_child *c); /* exit status 0 */

/* When it wrote to stderr: label ("..." after it when the tail lost its beginning), then the kept
 * end of its stderr as valid UTF-8 without NULs (invalid bytes become '?') and without the
 * newlines and spaces it ended with, onto out. */
void cli_child_put_tail(const cli_child *c, const char *label, je_buf *out);

/* Closes its pipes and frees its input; the process, if any, is not waited for. */
void cli_child_release(cli_child *c);

#endif

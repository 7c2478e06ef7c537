/* cli/cli_child.c: a shell command as a child process (see cli_child.h). */
#include "cli/cli_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/text.h"

#define KILL_GRACE_MS 3000 /* SIGTERM, then SIGKILL this much later */

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void cli_child_prepare(void) {
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) return;
}

void cli_child_init(cli_child *c) {
    memset(c, 0, sizeof *c);
    c->in_fd = c->err_fd = -1;
}

/* ---- starting ----------------------------------------------------------------------------- */

/* In the child: its own process group (so a terminal's Ctrl-C reaches the caller, which lets it
 * finish, and a kill reaches its whole pipeline), killed with the caller, default signals. */
__attribute__((noreturn)) static void exec_child(const char *command, char *const envp[], int in_r,
                                                 int err_w, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    if (dup2(in_r, 0) < 0 || dup2(2, 1) < 0 || dup2(err_w, 2) < 0) _exit(127);
    static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGQUIT, SIGHUP, SIGXFSZ};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (close_range(3, ~0U, 0) != 0)
        for (int fd = 3; fd < 1024; fd++) close(fd);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    execve("/bin/sh", argv, envp);
    _exit(127);
}

/* Writes what the pipe takes of the input; closes stdin when done or not read. */
static void feed_stdin(cli_child *c) {
    while (c->in_fd >= 0 && c->input_off < c->input_len) {
        ssize_t n = write(c->in_fd, c->input + c->input_off, c->input_len - c->input_off);
        if (n > 0)
            c->input_off += (size_t)n;
        else if (n < 0 && errno == EAGAIN)
            return;
        else if (!(n < 0 && errno == EINTR))
            break; /* EPIPE: the command does not read it */
    }
    close_fd(&c->in_fd);
}

int cli_child_start(cli_child *c, const char *command, char *const envp[], char *input,
                    size_t len) {
    c->input = input;
    c->input_len = len;
    c->input_off = 0;
    int in[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0) return -1;
    if (pipe2(err, O_CLOEXEC) != 0) return close(in[0]), close(in[1]), -1;
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) exec_child(command, envp, in[0], err[1], parent);
    int saved = errno;
    close(in[0]);
    close(err[1]);
    if (pid < 0) return close(in[1]), close(err[0]), errno = saved, -1;
    setpgid(pid, pid); /* also here, so a kill right away reaches the group */
    c->pid = pid;
    c->in_fd = in[1];
    c->err_fd = err[0];
    fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
    feed_stdin(c);
    return 0;
}

/* ---- its pipes ---------------------------------------------------------------------------- */

static void keep_tail(cli_child *c, const char *p, size_t n) {
    if (n >= CLI_CHILD_TAIL_MAX) {
        c->tail_cut |= c->tail_len > 0 || n > CLI_CHILD_TAIL_MAX;
        memcpy(c->tail, p + n - CLI_CHILD_TAIL_MAX, CLI_CHILD_TAIL_MAX);
        c->tail_len = CLI_CHILD_TAIL_MAX;
        return;
    }
    size_t drop = c->tail_len + n > CLI_CHILD_TAIL_MAX ? c->tail_len + n - CLI_CHILD_TAIL_MAX : 0;
    if (drop) memmove(c->tail, c->tail + drop, c->tail_len - drop), c->tail_cut = 1;
    memcpy(c->tail + c->tail_len - drop, p, n);
    c->tail_len += n - drop;
}

/* Passes the command's stderr on to ours and keeps its end. */
static void read_stderr(cli_child *c) {
    char buf[4096];
    for (int i = 0; i < 16 && c->err_fd >= 0; i++) {
        ssize_t n = read(c->err_fd, buf, sizeof buf);
        if (n > 0) {
            if (write(2, buf, (size_t)n) < 0) { /* our stderr is gone: keep going */
            }
            keep_tail(c, buf, (size_t)n);
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else if (!(n < 0 && errno == EINTR)) {
            close_fd(&c->err_fd);
        }
    }
}

size_t cli_child_pollfds(const cli_child *c, struct pollfd *fds) {
    size_t n = 0;
    if (c->err_fd >= 0) fds[n++] = (struct pollfd){c->err_fd, POLLIN, 0};
    if (c->in_fd >= 0) fds[n++] = (struct pollfd){c->in_fd, POLLOUT, 0};
    return n;
}

void cli_child_ready(cli_child *c, const struct pollfd *p) {
    if (p->events == POLLIN)
        read_stderr(c);
    else
        feed_stdin(c);
}

/* ---- stopping and reaping ----------------------------------------------------------------- */

/* SIGTERM or SIGKILL to the command's process group. */
static void signal_child(cli_child *c, int sig, int64_t now) {
    if (kill(-c->pid, sig) != 0) kill(c->pid, sig);
    if (sig == SIGTERM)
        c->kill_at = now + KILL_GRACE_MS;
    else
        c->hard_killed = 1;
}

void cli_child_stop(cli_child *c, int64_t now) {
    signal_child(c, SIGTERM, now);
}

int64_t cli_child_kill_due(const cli_child *c) {
    return c->kill_at && !c->hard_killed ? c->kill_at : 0;
}

void cli_child_tend(cli_child *c, int64_t now) {
    if (c->kill_at && !c->hard_killed && now >= c->kill_at) signal_child(c, SIGKILL, now);
}

int cli_child_reap(cli_child *c) {
    int st = 0;
    pid_t p = waitpid(c->pid, &st, WNOHANG);
    if (p == 0 || (p < 0 && errno == EINTR)) return 0;
    int lost = p < 0 ? errno : 0;
    c->wstatus = st;
    read_stderr(c);
    close_fd(&c->err_fd); /* a background process of the command may hold it: not waited */
    close_fd(&c->in_fd);
    if (lost) return errno = lost, -1;
    return 1;
}

void cli_child_release(cli_child *c) {
    free(c->input);
    c->input = NULL;
    close_fd(&c->in_fd);
    close_fd(&c->err_fd);
}

/* ---- how it ended ------------------------------------------------------------------------- */

const char *cli_child_ended(const cli_child *c, char *buf, size_t cap) {
    int ws = c->wstatus;
    if (WIFEXITED(ws))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(ws));
    else if (WIFSIGNALED(ws))
        snprintf(buf, cap, "killed by signal %d (SIG%s)", WTERMSIG(ws),
                 sigabbrev_np(WTERMSIG(ws)) ? sigabbrev_np(WTERMSIG(ws)) : "?");
    else
        snprintf(buf, cap, "ended with wait status %d", ws);
    return buf;
}

int cli_child_succeeded(const cli_child *c) {
    return WIFEXITED(c->wstatus) && WEXITSTATUS(c->wstatus) == 0;
}

/* Valid UTF-8 of s[0..n) without NULs (invalid bytes become '?'), onto out. */
static void put_utf8(je_buf *out, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++; /* the tail began mid-character */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (c != 0 && i + k <= n && je_utf8_valid(s + i, k))
            je_buf_append(out, s + i, k), i += k;
        else
            je_buf_putc(out, '?'), i++;
    }
}

void cli_child_put_tail(const cli_child *c, const char *label, je_buf *out) {
    size_t n = c->tail_len;
    while (n > 0 && (c->tail[n - 1] == '\n' || c->tail[n - 1] == '\r' || c->tail[n - 1] == ' '))
        n--;
    if (n == 0) return;
    je_buf_puts(out, label);
    if (c->tail_cut) je_buf_puts(out, "...");
    put_utf8(out, c->tail, n);
}

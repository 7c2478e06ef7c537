/* cli/cmd_audit_offline.c: `jobengine audit verify --file EXPORT --jwks JWKS`, the offline check
 * of an export (domain.md §6) with no server and no store: core/audit_export.c's verifier, the
 * checkpoint's signature checked against the keys of the JWKS file (auth/checkpoint.c).
 *
 * A regular file is read in blocks (pread, BLOCK bytes, grown only for a longer line): first its
 * last line, the checkpoint, found from the end; then the entry lines from the start, whole lines
 * fed to je_export_feed as each block arrives. The blocks stay in the cache, so the verifier reads
 * them from there, and memory stays flat whatever the size of the export. A pipe ("-" for stdin)
 * is read whole, then verified as one text. Verdicts and messages are je_export_verify's. */
#include "cli/cmd_audit_offline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/checkpoint.h"
#include "auth/keys.h"
#include "cli/cli_http.h"
#include "core/audit_export.h"
#include "core/buf.h"

#define MAX_JWKS_BYTES (1 << 20)
#define BLOCK (256 * 1024) /* fits a core's L2 cache with room to spare */

/* Reads all of fd (up to max bytes) into b: 0, or -1 with errno. */
static int read_fd(int fd, je_buf *b, size_t max) {
    char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        if (b->len + (size_t)n > max) return errno = EFBIG, -1;
        je_buf_append(b, chunk, (size_t)n);
    }
}

/* The file (or stdin for "-"), opened: its fd (*is_stdin set), or -1 after a message (exit 2). */
static int open_input(const cli_args *a, const char *path, struct stat *st, int *is_stdin) {
    *is_stdin = strcmp(path, "-") == 0;
    int fd = *is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0) {
        cli_fail(a->cmd, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0 && !*is_stdin) close(fd);
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        cli_fail(a->cmd, "cannot read %s: it is a directory", path);
        if (!*is_stdin) close(fd);
        return -1;
    }
    return fd;
}

/* All of a file, at most max bytes, into out: 0, or 2 after a message. */
static int load_all(const cli_args *a, const char *path, size_t max, je_buf *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    int is_stdin, rc = 0;
    int fd = open_input(a, path, &st, &is_stdin);
    if (fd < 0) return 2;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        rc = (cli_fail(a->cmd, "cannot read %s: larger than %zu bytes", path, max), 2);
    else if (read_fd(fd, out, max) != 0)
        rc = (cli_fail(a->cmd, "cannot read %s: %s", path, strerror(errno)), 2);
    if (!is_stdin) close(fd);
    if (rc) je_buf_free(out);
    return rc;
}

/* The Ed25519 keys of a JWKS document {"keys": [...]} (others are skipped). 0, or 2. */
static int load_jwks(const cli_args *a, const char *path, je_key **keys, size_t *n) {
    je_buf b;
    int rc = load_all(a, path, MAX_JWKS_BYTES, &b);
    if (rc != 0) return rc;
    json_error_t jerr;
    json_t *doc = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
    je_buf_free(&b);
    json_t *list = json_object_get(doc, "keys");
    if (!json_is_array(list)) {
        json_decref(doc);
        return cli_fail(a->cmd, "%s is not a JWKS (a JSON object {\"keys\": [...]})", path), 2;
    }
    *keys = calloc(json_array_size(list) + 1, sizeof **keys);
    *n = 0;
    if (!*keys) return json_decref(doc), cli_fail(a->cmd, "out of memory"), 2;
    size_t i;
    json_t *jwk;
    json_array_foreach(list, i, jwk) {
        je_err err;
        if (je_key_from_jwk(jwk, &(*keys)[*n], &err) == 0) ++*n;
    }
    json_decref(doc);
    if (*n > 0) return 0;
    free(*keys);
    *keys = NULL;
    return cli_fail(a->cmd, "%s holds no OKP/Ed25519 signing key", path), 2;
}

/* je_sig_verify_fn over the JWKS keys, remembering the kid the checkpoint names. */
typedef struct offline_ctx {
    je_keyset keys;
    char kid[128];
} offline_ctx;

static int offline_verify_sig(void *ctx, const char *kid, const void *msg, size_t len,
                              const unsigned char *sig, size_t sig_len) {
    offline_ctx *o = ctx;
    snprintf(o->kid, sizeof o->kid, "%s", kid);
    return je_keyset_verify(&o->keys, kid, msg, len, sig, sig_len);
}

static void print_offline(const cli_args *a, const je_export_result *r, const offline_ctx *o) {
    int64_t from = r->head_sequence - r->entries + 1;
    if (cli_has(a, "json")) {
        json_t *v =
            r->valid ? json_pack("{s:b, s:I, s:I, s:I, s:s, s:s, s:s}", "valid", 1, "entries",
                                 (json_int_t)r->entries, "fromSequence", (json_int_t)from,
                                 "headSequence", (json_int_t)r->head_sequence, "headHash",
                                 r->head_hash, "tenantId", r->tenant, "kid", o->kid)
                     : json_pack("{s:b, s:I, s:o, s:s}", "valid", 0, "line",
                                 (json_int_t)r->first_bad_line, "firstBrokenSequence",
                                 r->first_broken_sequence ? json_integer(r->first_broken_sequence)
                                                          : json_null(),
                                 "message", r->message);
        cli_http_print_json(v);
        json_decref(v);
    } else if (r->valid && r->entries == 0) {
        printf("valid: 0 entries (the range from sequence %lld is empty) of tenant %s, "
               "checkpoint signed by %s\n",
               (long long)from, r->tenant, o->kid);
    } else if (r->valid) {
        printf("valid: %lld entries (sequences %lld..%lld) of tenant %s, checkpoint signed by "
               "%s\n",
               (long long)r->entries, (long long)from, (long long)r->head_sequence, r->tenant,
               o->kid);
    } else if (r->first_broken_sequence) {
        printf("line %lld: %s; BROKEN at sequence %lld\n", (long long)r->first_bad_line, r->message,
               (long long)r->first_broken_sequence);
    } else {
        printf("line %lld: %s\n", (long long)r->first_bad_line, r->message);
    }
}

/* n bytes at offset off: 0, or -1 (errno; EIO when the file ended early, having shrunk). */
static int pread_full(int fd, char *buf, size_t n, off_t off) {
    while (n > 0) {
        ssize_t got = pread(fd, buf, n, off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got == 0 ? (errno = EIO, -1) : -1;
        buf += got, n -= (size_t)got, off += got;
    }
    return 0;
}

/* Where the last line is, read from the end: [*cp, *end) with the final newlines left out (*end
 * 0: the file holds nothing else). 0, or -1 with errno. */
static int find_last_line(int fd, off_t size, off_t *cp, off_t *end) {
    char buf[8192];
    *cp = 0, *end = -1;
    for (off_t pos = size; pos > 0;) {
        size_t n = pos < (off_t)sizeof buf ? (size_t)pos : sizeof buf;
        pos -= (off_t)n;
        if (pread_full(fd, buf, n, pos) != 0) return -1;
        for (size_t i = n; i-- > 0;) {
            if (*end < 0 && buf[i] != '\n') *end = pos + (off_t)i + 1;
            if (*end >= 0 && buf[i] == '\n') return *cp = pos + (off_t)i + 1, 0;
        }
    }
    if (*end < 0) *end = 0;
    return 0;
}

/* The number of the line that starts at off (1 + the newlines before it). */
static int64_t line_at(int fd, off_t off, char *buf, size_t cap) {
    int64_t lines = 1;
    for (off_t pos = 0; pos < off;) {
        size_t n = off - pos < (off_t)cap ? (size_t)(off - pos) : cap;
        if (pread_full(fd, buf, n, pos) != 0) break;
        for (const char *p = buf, *e = buf + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
            lines++;
        pos += (off_t)n;
    }
    return lines;
}

/* The entry lines [0, cp): each block's whole lines are fed, the rest carried to the next. */
static int feed_entries(int fd, off_t cp, je_export_stream *x, char **bufp, size_t *capp) {
    size_t have = 0;
    for (off_t pos = 0; pos < cp && x->rc == 0;) {
        if (have == *capp) { /* one line longer than the buffer */
            char *bigger = realloc(*bufp, *capp * 2);
            if (!bigger) return errno = ENOMEM, -1;
            *bufp = bigger, *capp *= 2;
        }
        size_t want = *capp - have;
        if ((off_t)want > cp - pos) want = (size_t)(cp - pos);
        if (pread_full(fd, *bufp + have, want, pos) != 0) return -1;
        pos += (off_t)want, have += want;
        const char *nl = memrchr(*bufp, '\n', have);
        if (!nl) continue;
        size_t whole = (size_t)(nl - *bufp) + 1;
        je_export_feed(x, *bufp, whole);
        memmove(*bufp, *bufp + whole, have - whole);
        have -= whole;
    }
    return 0;
}

/* A regular file, in blocks. 0 (r filled: valid or not), or 2 after a message. */
static int verify_file(const cli_args *a, const char *path, int fd, off_t size, offline_ctx *o,
                       je_export_result *r) {
    off_t cp, end;
    size_t cap = BLOCK;
    errno = 0;
    char *buf = malloc(cap);
    int rc = buf && find_last_line(fd, size, &cp, &end) == 0 ? 0 : -1;
    char *line = rc == 0 && end > 0 ? malloc((size_t)(end - cp)) : NULL;
    if (rc == 0 && end == 0) {
        je_export_verify("", 0, offline_verify_sig, o, r); /* "the export is empty" */
    } else if (rc == 0 && line && pread_full(fd, line, (size_t)(end - cp), cp) == 0) {
        je_export_stream x;
        if (je_export_begin(&x, line, (size_t)(end - cp), offline_verify_sig, o, r) != 0)
            r->first_bad_line = line_at(fd, cp, buf, cap);
        else if ((rc = feed_entries(fd, cp, &x, &buf, &cap)) == 0)
            je_export_end(&x);
        else
            x.rc = -1, je_export_end(&x);
    } else {
        rc = -1;
    }
    if (rc != 0) cli_fail(a->cmd, "cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
    free(line);
    free(buf);
    return rc == 0 ? 0 : 2;
}

int cli_audit_verify_offline(const cli_args *a) {
    const char *file = cli_get(a, "file"), *jwks = cli_get(a, "jwks");
    if (!file || !*file || !jwks || !*jwks)
        return cli_fail(a->cmd, "offline verification needs both --file EXPORT and --jwks JWKS"), 2;
    if (strcmp(file, "-") == 0 && strcmp(jwks, "-") == 0)
        return cli_fail(a->cmd, "--file and --jwks cannot both be read from stdin"), 2;
    offline_ctx o;
    memset(&o, 0, sizeof o);
    je_key *keys = NULL;
    int rc = load_jwks(a, jwks, &keys, &o.keys.n);
    if (rc != 0) return rc;
    o.keys.keys = keys;
    je_export_result r;
    struct stat st;
    int is_stdin, fd = open_input(a, file, &st, &is_stdin);
    if (fd < 0) {
        rc = 2;
    } else if (S_ISREG(st.st_mode)) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        rc = verify_file(a, file, fd, st.st_size, &o, &r);
    } else {
        je_buf b = {0};
        rc = read_fd(fd, &b, (size_t)-1 / 2) == 0
                 ? 0
                 : (cli_fail(a->cmd, "cannot read %s: %s", file, strerror(errno)), 2);
        if (rc == 0) je_export_verify(b.data ? b.data : "", b.len, offline_verify_sig, &o, &r);
        je_buf_free(&b);
    }
    if (fd >= 0 && !is_stdin) close(fd);
    if (rc == 0) {
        print_offline(a, &r, &o);
        rc = r.valid ? 0 : 1;
    }
    free(keys);
    return rc;
}

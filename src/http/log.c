/* http/log.c: JSON-lines logger. One write(2) per line so lines from threads never interleave. */
#include "http/log.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/text.h"
#include "core/timefmt.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static atomic_int min_level = 1; /* info */

static int level_of(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

int je_log_set_level(const char *name) {
    int l = name ? level_of(name) : -1;
    if (l < 0) return -1;
    atomic_store(&min_level, l);
    return 0;
}

const char *je_log_level(void) {
    return level_names[atomic_load(&min_level)];
}

void je_log_set_quiet(int quiet) {
    atomic_store(&min_level, quiet ? 2 : 1);
}

void je_log(const char *level, const char *msg, json_t *fields) {
    int l = level_of(level);
    if (l >= 0 && l < atomic_load(&min_level)) {
        json_decref(fields);
        return;
    }
    char t[JE_TIME_BUF];
    je_time_format(je_now_ms(), t);
    json_t *o = json_pack("{s:s, s:s, s:s}", "time", t, "level", level, "msg", msg);
    if (fields) json_object_update(o, fields);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) return;
    size_t n = strlen(line);
    line[n] = '\n'; /* json_dumps leaves room: we replace the NUL and write n + 1 bytes */
    ssize_t w = write(STDERR_FILENO, line, n + 1);
    (void)w; /* nowhere to report a failed log write */
    free(line);
}

/* The access-log line is written into a buffer on the stack, without printf: */
typedef struct logline {
    char *p, *end;
    int full; /* something did not fit: the caller takes the long path */
} logline;

static void put(logline *l, const char *s, size_t n) {
    if (l->full || (size_t)(l->end - l->p) < n) {
        l->full = 1;
        return;
    }
    memcpy(l->p, s, n);
    l->p += n;
}

#define PUT_LIT(l, s) put(l, s, sizeof s - 1)

/* The length of the UTF-8 sequence at s when it is a valid one, else 0. */
static size_t utf8_seq(const char *s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) return 0;
    return n && je_utf8_valid(s, n) ? n : 0;
}

/* s as the body of a JSON string (quotes not included); a path is bytes a client chose: valid
 * UTF-8 stays as sent; controls, DEL and every byte that is not part of valid UTF-8 are
 * \u-escaped (as the code point of that byte), so a line is always valid JSON. */
static void put_escaped(logline *l, const char *s) {
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80) {
            size_t n = utf8_seq(s);
            if (n) {
                s += n - 1;
                continue;
            }
        } else if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\') {
            continue;
        }
        put(l, run, (size_t)(s - run));
        run = s + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(l, u, 6);
        }
    }
    put(l, run, (size_t)(s - run));
}

static void put_uint(logline *l, uint64_t v, int min_digits) {
    char t[24];
    int i = (int)sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v || (int)sizeof t - i < min_digits);
    put(l, t + i, sizeof t - (size_t)i);
}

/* The line into l; returns its length, or 0 when it did not fit. */
static size_t format_request(logline *l, char *start, const char *trace_id, const char *client,
                             const char *method, const char *path, const char *route, int status,
                             double latency_ms) {
    char t[JE_TIME_BUF];
    PUT_LIT(l, "{\"time\":\"");
    const char *ts = je_time_format(je_now_ms(), t);
    put(l, ts, strlen(ts));
    PUT_LIT(l, "\",\"level\":\"info\",\"msg\":\"request\",\"trace_id\":\"");
    put(l, trace_id, strlen(trace_id));
    if (client) {
        PUT_LIT(l, "\",\"client\":\"");
        put_escaped(l, client);
    }
    PUT_LIT(l, "\",\"method\":\"");
    put_escaped(l, method);
    PUT_LIT(l, "\",\"path\":\"");
    put_escaped(l, path);
    PUT_LIT(l, "\",\"route\":\"");
    put_escaped(l, route);
    PUT_LIT(l, "\",\"status\":");
    put_uint(l, status > 0 ? (uint64_t)status : 0, 1);
    PUT_LIT(l, ",\"latency_ms\":");
    /* %.3f of a non-negative latency: microseconds, rounded, as ms with three decimals */
    uint64_t us = latency_ms > 0 && latency_ms < 9e15 ? (uint64_t)llround(latency_ms * 1000) : 0;
    put_uint(l, us / 1000, 1);
    PUT_LIT(l, ".");
    put_uint(l, us % 1000, 3);
    PUT_LIT(l, "}\n");
    return l->full ? 0 : (size_t)(l->p - start);
}

/* The same line through a growable buffer, for requests whose path is too long for the stack. */
static void log_request_long(const char *trace_id, const char *client, const char *method,
                             const char *path, const char *route, int status, double latency_ms) {
    size_t cap =
        256 + 6 * (strlen(method) + strlen(path) + strlen(route) + (client ? strlen(client) : 0));
    char *buf = malloc(cap);
    if (!buf) return;
    logline l = {buf, buf + cap, 0};
    size_t n = format_request(&l, buf, trace_id, client, method, path, route, status, latency_ms);
    ssize_t w = n ? write(STDERR_FILENO, buf, n) : 0;
    (void)w; /* nowhere to report a failed log write */
    free(buf);
}

void je_log_request(const char *trace_id, const char *client, const char *method, const char *path,
                    const char *route, int status, double latency_ms) {
    if (atomic_load_explicit(&min_level, memory_order_relaxed) > 1) return;
    char buf[1024];
    logline l = {buf, buf + sizeof buf, 0};
    size_t n = format_request(&l, buf, trace_id, client, method, path, route, status, latency_ms);
    if (n == 0) return log_request_long(trace_id, client, method, path, route, status, latency_ms);
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w; /* nowhere to report a failed log write */
}

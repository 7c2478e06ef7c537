/* http/log.c: JSON-lines logger. One write(2) per line so lines from threads never interleave. */
#include "http/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/buf.h"
#include "core/timefmt.h"

static int log_quiet;

void je_log_set_quiet(int quiet) {
    log_quiet = quiet;
}

void je_log(const char *level, const char *msg, json_t *fields) {
    if (log_quiet && (strcmp(level, "info") == 0 || strcmp(level, "debug") == 0)) {
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

/* Appends s as the body of a JSON string (quotes not included). */
static void put_escaped(je_buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            je_buf_putc(b, '\\');
            je_buf_putc(b, (char)c);
        } else if (c < 0x20 || c == 0x7f) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            je_buf_append(b, u, 6);
        } else {
            je_buf_putc(b, (char)c); /* a path is bytes: non-ASCII stays as sent */
        }
    }
}

void je_log_request(const char *trace_id, const char *method, const char *path, const char *route,
                    int status, double latency_ms) {
    if (log_quiet) return;
    char t[JE_TIME_BUF];
    je_time_format(je_now_ms(), t);
    je_buf b = JE_BUF_INIT;
    je_buf_printf(&b,
                  "{\"time\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"trace_id\":\"%s\","
                  "\"method\":\"",
                  t, trace_id);
    put_escaped(&b, method);
    je_buf_puts(&b, "\",\"path\":\"");
    put_escaped(&b, path);
    je_buf_puts(&b, "\",\"route\":\"");
    put_escaped(&b, route);
    je_buf_printf(&b, "\",\"status\":%d,\"latency_ms\":%.3f}\n", status, latency_ms);
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w; /* nowhere to report a failed log write */
    je_buf_free(&b);
}

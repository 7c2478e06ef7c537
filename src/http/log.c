/* http/log.c: JSON-lines logger. One write(2) per line so lines from threads never interleave. */
#include "http/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char t[JE_TIME_BUF];
    je_time_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, t);
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

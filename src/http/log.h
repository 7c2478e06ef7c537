/* http/log.h: structured logs, one JSON object per line on stderr. Never pass a secret or a
 * token in fields: callers are responsible, and reviewers check. */
#ifndef JE_HTTP_LOG_H
#define JE_HTTP_LOG_H

#include <jansson.h>

/* level: "debug", "info", "warn", "error". fields (stolen, may be NULL) are merged in. */
void je_log(const char *level, const char *msg, json_t *fields);
/* The access-log line of one request, formatted directly (it is on every request's path). */
void je_log_request(const char *trace_id, const char *method, const char *path, const char *route,
                    int status, double latency_ms);
/* Quiet mode for CLI commands that print their own output (only warn and error remain). */
void je_log_set_quiet(int quiet);

#endif

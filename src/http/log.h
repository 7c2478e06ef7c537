/* http/log.h: structured logs, one JSON object per line on stderr. Never pass a secret or a
 * token in fields: callers are responsible, and reviewers check. */
#ifndef JE_HTTP_LOG_H
#define JE_HTTP_LOG_H

#include <jansson.h>

/* level: "debug", "info", "warn", "error". fields (stolen, may be NULL) are merged in. Lines
 * below the current level are dropped. */
void je_log(const char *level, const char *msg, json_t *fields);
/* The access-log line of one request (level info), formatted directly (it is on every request's
 * path). client: the client's address, or NULL. */
void je_log_request(const char *trace_id, const char *client, const char *method, const char *path,
                    const char *route, int status, double latency_ms);
/* The lowest level written: "debug", "info" (the default), "warn" or "error". -1 when name is
 * none of them (nothing changed). */
int je_log_set_level(const char *name);
const char *je_log_level(void);
/* Quiet mode for CLI commands that print their own output: level warn. */
void je_log_set_quiet(int quiet);

#endif

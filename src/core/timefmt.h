/* core/timefmt.h: time as int64 milliseconds since the Unix epoch, UTC, and its RFC 3339 form
 * (api.md §1: "2026-11-28T09:00:00.000Z"). No clock here: callers pass time in. */
#ifndef JE_CORE_TIMEFMT_H
#define JE_CORE_TIMEFMT_H

#include <stdint.h>

#define JE_TIME_BUF 32

/* Writes the normalised form (UTC, milliseconds, 'Z') into buf and returns it. */
const char *je_time_format(int64_t ms, char buf[JE_TIME_BUF]);
/* Parses an RFC 3339 date-time ('T' or 't', 'Z'/'z' or +hh:mm/-hh:mm, optional fraction, digits
 * past milliseconds truncated) into UTC ms. Returns 0, or -1 when malformed or out of range
 * (years 0001-9999). */
int je_time_parse(const char *s, int64_t *ms);

#endif

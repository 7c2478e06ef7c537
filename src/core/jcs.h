/* core/jcs.h: RFC 8785 JSON Canonicalization Scheme over jansson values.
 * Object members sorted by their names' UTF-16 code units, no whitespace, strings escaped as
 * ECMAScript's JSON.stringify does, numbers in ECMAScript Number.prototype.toString form
 * (integers as their decimal digits; reals in shortest round-trip form). */
#ifndef JE_CORE_JCS_H
#define JE_CORE_JCS_H

#include <stdint.h>
#include <jansson.h>
#include "core/buf.h"

/* Appends the canonical form of v to out. Returns 0, or -1 when v holds a non-finite real or a
 * string that is not valid UTF-8 (nothing useful is left in out then). */
int je_jcs_append(const json_t *v, je_buf *out);

/* The pieces, for writers that render without a tree (api/quota_view.c): a string (quoted,
 * escaped; -1 when s[0..len) is not valid UTF-8), a real (-1 when not finite) and an integer,
 * each exactly as je_jcs_append writes it. */
int je_jcs_string(const char *s, size_t len, je_buf *out);
int je_jcs_real(double d, je_buf *out);
void je_jcs_int(int64_t v, je_buf *out);

/* Canonical form as a new malloc'd NUL-terminated string (len optional); NULL on error. */
char *je_jcs_dumps(const json_t *v, size_t *len);

/* The same text rules (escaping, shortest round-trip numbers) with members in insertion order:
 * for responses people read ("refillPerSecond": 0.1, not 0.10000000000000001). */
char *je_json_dumps_ordered(const json_t *v, size_t *len);

/* Reads JSON text as json_loadb does (same flags and error), and also the one thing this
 * module writes that jansson alone cannot read: an integer beyond +-2^63. ECMAScript, so JCS,
 * writes a real from 2^63 up to 1e21 in plain digits (1e20 is 100000000000000000000), which
 * json_loadb refuses as "too big integer"; such a token is read as the real it stands for.
 * Every other integer stays an integer, exactly. */
json_t *je_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error);

#endif

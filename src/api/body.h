/* api/body.h: reading JSON request bodies and their fields. Readers do not reply: they fill a
 * je_err (VALIDATION_FAILED or PAYLOAD_TOO_LARGE, with the field) so that the caller can audit
 * the refusal before replying with je_api_reply_err. */
#ifndef JE_API_BODY_H
#define JE_API_BODY_H

#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "http/http.h"

/* The body as a JSON object ({} when empty). NULL with err set when too large, malformed, not
 * an object, or when it has a member not in allowed (NULL-terminated). */
json_t *je_body_object(je_req *r, const char *const *allowed, je_err *err);

/* Optional integer member within [lo, hi]; integral reals (5.0) accepted. 1 present, 0 absent
 * (or null), -1 invalid (err set). */
int je_body_int(const json_t *o, const char *name, int64_t lo, int64_t hi, int64_t *out,
                je_err *err);
/* Optional positive finite number <= hi. Same returns. */
int je_body_positive(const json_t *o, const char *name, double hi, double *out, je_err *err);
/* Optional boolean. Same returns. */
int je_body_bool(const json_t *o, const char *name, int *out, je_err *err);
/* Optional string (not checked further). Same returns. */
int je_body_string(const json_t *o, const char *name, const char **out, size_t *len, je_err *err);

/* Replies with the envelope for err: status by code (400, 404, 409, 412, 413, 422, 423...). */
void je_api_reply_err(je_req *r, const je_err *err, json_t *details);
/* Hands j to the request: it is released when the request ends (je_arena_defer). Returns j. */
json_t *je_api_keep(je_req *r, json_t *j);
/* HTTP status for an error code. */
int je_api_status_for(const char *code);

/* SHA-256 hex of the canonical (JCS) form of body ("" body hashes as {}). */
void je_body_hash(const json_t *body, char out[65]);

#endif

/* http/params.h: the list conventions of api.md §1: ?limit= (1-500, default 50) and the opaque
 * ?continuationToken=. Each parser replies 400 VALIDATION_FAILED itself and returns -1. */
#ifndef JE_HTTP_PARAMS_H
#define JE_HTTP_PARAMS_H

#include <stdint.h>
#include "http/http.h"

#define JE_LIMIT_DEFAULT 50
#define JE_LIMIT_MAX 500

int je_params_limit(je_req *r, int *limit);
/* The position a continuation token stands for (0 when none was given). */
int je_params_continuation(je_req *r, int64_t *after);
/* Writes the token for a position into out (>= 64 bytes). */
void je_params_continuation_make(int64_t after, char out[64]);
/* The same for positions that are strings (list ordered by a name): out gets the string
 * (cap >= 256), "" when no token was given. */
int je_params_continuation_str(je_req *r, char *out, size_t cap);
/* A token for a string position; allocated in the request's arena. */
const char *je_params_continuation_make_str(je_req *r, const char *after);

#endif

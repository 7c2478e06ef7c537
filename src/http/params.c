/* http/params.c: limit and continuation tokens. A token is base64url("c1:<position>"), opaque to
 * clients; anything else is refused rather than guessed at. */
#include "http/params.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64url.h"
#include "core/text.h"

int je_params_limit(je_req *r, int *limit) {
    const char *v = je_req_query_nonempty(r, "limit");
    *limit = JE_LIMIT_DEFAULT;
    if (!v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v || v[0] == '+' || v[0] == ' ' || n < 1 || n > JE_LIMIT_MAX) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "limit",
                             "limit must be an integer from 1 to 500");
        return -1;
    }
    *limit = (int)n;
    return 0;
}

int je_params_continuation(je_req *r, int64_t *after) {
    const char *v = je_req_query_nonempty(r, "continuationToken");
    *after = 0;
    if (!v) return 0;
    unsigned char raw[64];
    size_t n = strlen(v), len = 0;
    char text[64];
    if (n < 64 && je_b64url_decode(v, n, raw, &len) == 0 && len < sizeof text) {
        memcpy(text, raw, len);
        text[len] = '\0';
        char *end;
        if (strncmp(text, "c1:", 3) == 0 && text[3] >= '0' && text[3] <= '9') {
            long long pos = strtoll(text + 3, &end, 10);
            if (!*end && pos >= 0) {
                *after = pos;
                return 0;
            }
        }
    }
    je_reply_field_error(r, 400, "VALIDATION_FAILED", "continuationToken",
                         "continuationToken is not one this server issued");
    return -1;
}

void je_params_continuation_make(int64_t after, char out[64]) {
    char text[32];
    int n = snprintf(text, sizeof text, "c1:%" PRId64, after);
    je_b64url_encode((const unsigned char *)text, (size_t)n, out);
}

int je_params_continuation_str(je_req *r, char *out, size_t cap) {
    const char *v = je_req_query_nonempty(r, "continuationToken");
    out[0] = '\0';
    if (!v) return 0;
    size_t n = strlen(v), len = 0;
    unsigned char raw[512];
    if (n < 600 && je_b64url_decode(v, n, raw, &len) == 0 && len > 3 && len - 3 < cap &&
        memcmp(raw, "c2:", 3) == 0 && !memchr(raw, 0, len) &&
        je_utf8_valid((const char *)raw + 3, len - 3)) { /* a name this server wrote: UTF-8 */
        memcpy(out, raw + 3, len - 3);
        out[len - 3] = '\0';
        return 0;
    }
    je_reply_field_error(r, 400, "VALIDATION_FAILED", "continuationToken",
                         "continuationToken is not one this server issued");
    return -1;
}

const char *je_params_continuation_make_str(je_req *r, const char *after) {
    char *text = je_arena_printf(r->arena, "c2:%s", after);
    size_t n = strlen(text);
    char *out = je_arena_alloc(r->arena, je_b64url_len(n) + 1);
    je_b64url_encode((const unsigned char *)text, n, out);
    return out;
}

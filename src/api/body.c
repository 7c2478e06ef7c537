/* api/body.c: JSON request bodies, field readers, and the mapping from error codes to status. */
#include "api/body.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jcs.h"

static const struct {
    const char *code;
    int status;
} statuses[] = {
    {"VALIDATION_FAILED", 400},
    {"REASON_REQUIRED", 400},
    {"NOT_FOUND", 404},
    {"QUOTA_EXISTS", 409},
    {"QUOTA_DECREASE_BELOW_USAGE", 409},
    {"IDEMPOTENCY_KEY_REUSED", 409},
    {"VERSION_MISMATCH", 412},
    {"PAYLOAD_TOO_LARGE", 413},
    {"UNSUPPORTED_MEDIA_TYPE", 415},
    {"QUOTA_POLICY_VIOLATION", 422},
    {"QUOTA_PAUSED", 423},
    {"QUOTA_EXHAUSTED", 429},
    {"STORE", 503},
    {"BACKFILL_DUPLICATE", 409},
    {"BACKFILL_UNSAFE", 422},
    {"PLAN_CHANGED", 409},
    {"INVALID_STATE", 409},
    {"LEASE_LOST", 409},
};

int je_api_status_for(const char *code) {
    for (size_t i = 0; code && i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i].code, code) == 0) return statuses[i].status;
    return 500;
}

void je_api_reply_err(je_req *r, const je_err *err, json_t *details) {
    if (!details) details = json_object();
    if (err->field[0] && !json_object_get(details, "field"))
        json_object_set_new(details, "field", json_string(err->field));
    const char *code = err->code ? err->code : "INTERNAL";
    if (strcmp(code, "STORE") == 0) code = "STORE_UNAVAILABLE";
    je_reply_error(r, je_api_status_for(err->code), code, err->message, details);
}

static void keep_release(void *j) {
    json_decref(j);
}

json_t *je_api_keep(je_req *r, json_t *j) {
    return je_arena_defer(r->arena, keep_release, j);
}

static int member_allowed(const char *key, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (strcmp(*allowed, key) == 0) return 1;
    return 0;
}

/* application/json or application/<anything>+json, parameters (charset) allowed, any case. */
static int json_media_type(const char *ct) {
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    while (n && (*ct == ' ' || *ct == '\t')) ct++, n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return 1;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0 && !memchr(ct + 12, '/', n - 12);
}

json_t *je_body_object(je_req *r, const char *const *allowed, je_err *err) {
    if (r->body_too_large)
        return je_err_set(
                   err, "PAYLOAD_TOO_LARGE",
                   "the body is larger than this server's limit of %zu bytes (max-body-bytes)",
                   r->max_body),
               NULL;
    if (r->body_len == 0) return json_object();
    const char *ct = je_req_header(r, "Content-Type");
    if (!ct || !json_media_type(ct))
        return je_err_set(err, "UNSUPPORTED_MEDIA_TYPE",
                          "the body must be sent as Content-Type: application/json"),
               NULL;
    json_error_t jerr;
    json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return je_err_field(err, "VALIDATION_FAILED", "body", "malformed JSON: %s", jerr.text),
               NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return je_err_field(err, "VALIDATION_FAILED", "body", "the body must be a JSON object"),
               NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (member_allowed(key, allowed)) continue;
        je_err_field(err, "VALIDATION_FAILED", key, "unknown field '%.64s'", key);
        json_decref(o);
        return NULL;
    }
    return o;
}

int je_body_int(const json_t *o, const char *name, int64_t lo, int64_t hi, int64_t *out,
                je_err *err) {
    const json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    double d = json_is_real(v) ? json_real_value(v) : 0;
    int integral_real = json_is_real(v) && isfinite(d) && d == floor(d) && fabs(d) < 9.0e15;
    if (!json_is_integer(v) && !integral_real)
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be an integer", name);
    int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)d;
    if (n < lo || n > hi)
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be from %lld to %lld", name,
                            (long long)lo, (long long)hi);
    *out = n;
    return 1;
}

int je_body_positive(const json_t *o, const char *name, double hi, double *out, je_err *err) {
    const json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v))
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be a number", name);
    double d = json_number_value(v);
    if (!isfinite(d) || d <= 0 || d > hi)
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be a positive finite number",
                            name);
    *out = d;
    return 1;
}

int je_body_bool(const json_t *o, const char *name, int *out, je_err *err) {
    const json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be true or false", name);
    *out = json_is_true(v);
    return 1;
}

int je_body_string(const json_t *o, const char *name, const char **out, size_t *len, je_err *err) {
    const json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return je_err_field(err, "VALIDATION_FAILED", name, "%s must be a string", name);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 1;
}

void je_body_hash(const json_t *body, char out[65]) {
    size_t len = 0;
    char *text = body ? je_jcs_dumps(body, &len) : NULL;
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(text ? text : "{}", text ? len : 2, d, &dl, EVP_sha256(), NULL);
    free(text);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

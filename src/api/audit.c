/* api/audit.c: GET /jobengine/audit (filters, pagination) and GET /jobengine/audit/verify,
 * always confined to the caller's tenant. Entries go out exactly as stored and hashed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes.h"
#include "auth/b64url.h"
#include "auth/principal.h"
#include "core/audit.h"
#include "core/buf.h"
#include "core/timefmt.h"
#include "http/params.h"

typedef struct list_acc {
    je_buf out;
    int count, limit;
    int64_t last_sequence;
    int more;
} list_acc;

static int list_visit(void *ctx, int64_t sequence, const char *json, size_t len) {
    list_acc *a = ctx;
    if (a->count == a->limit) {
        a->more = 1;
        return 1;
    }
    if (a->count) je_buf_putc(&a->out, ',');
    je_buf_append(&a->out, json, len);
    a->count++;
    a->last_sequence = sequence;
    return 0;
}

static int parse_time_param(je_req *r, const char *name, int64_t *out) {
    const char *v = je_req_query_nonempty(r, name);
    if (!v) return 0;
    if (je_time_parse(v, out) == 0) return 0;
    je_reply_field_error(r, 400, "VALIDATION_FAILED", name,
                         je_arena_printf(r->arena, "%s must be an RFC 3339 date-time", name));
    return -1;
}

void je_api_audit_list(je_req *r, je_app *app) {
    je_audit_filter f = {.since_ms = INT64_MIN, .until_ms = INT64_MAX};
    int limit;
    if (je_params_limit(r, &limit) != 0 || je_params_continuation(r, &f.after_sequence) != 0 ||
        parse_time_param(r, "since", &f.since_ms) != 0 ||
        parse_time_param(r, "until", &f.until_ms) != 0)
        return;
    f.event_type = je_req_query_nonempty(r, "eventType");
    f.resource_type = je_req_query_nonempty(r, "resourceType");
    f.resource_id = je_req_query_nonempty(r, "resourceId");
    f.actor = je_req_query_nonempty(r, "actor");
    f.limit = limit + 1; /* one more tells whether another page exists */
    list_acc acc = {.limit = limit};
    je_buf_puts(&acc.out, "{\"items\":[");
    je_err err;
    if (app->store->ops->audit_list(app->store, r->principal->tenant, &f, list_visit, &acc, &err) !=
        0) {
        je_buf_free(&acc.out);
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store failed", NULL);
    }
    je_buf_puts(&acc.out, "],\"continuationToken\":");
    if (acc.more) {
        char tok[64];
        je_params_continuation_make(acc.last_sequence, tok);
        je_buf_printf(&acc.out, "\"%s\"}", tok);
    } else {
        je_buf_puts(&acc.out, "null}");
    }
    je_reply_raw(r, 200, "application/json", acc.out.data, acc.out.len);
    je_buf_free(&acc.out);
}

static int verify_visit(void *ctx, int64_t sequence, const char *json, size_t len) {
    return je_audit_verifier_feed_text(ctx, json, len) != 0; /* stop at the first break */
}

void je_api_audit_verify(je_req *r, je_app *app) {
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    je_err err;
    if (app->store->ops->audit_scan(app->store, r->principal->tenant, 1, verify_visit, &v, &err) !=
        0)
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store failed", NULL);
    if (!v.valid)
        return je_reply_json(
            r, 200,
            json_pack("{s:b, s:I}", "valid", 0, "firstBrokenSequence", (json_int_t)v.first_broken));
    json_t *head = v.entries ? json_string(v.prev_hash) : json_null();
    je_reply_json(r, 200,
                  json_pack("{s:b, s:I, s:I, s:o}", "valid", 1, "entries", (json_int_t)v.entries,
                            "headSequence", (json_int_t)(v.next_sequence - 1), "headHash", head));
}

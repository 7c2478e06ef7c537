/* api/audit.c: GET /jobengine/audit (filters, pagination) and GET /jobengine/audit/verify,
 * always confined to the caller's tenant. Entries go out exactly as stored and hashed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/routes.h"
#include "auth/checkpoint.h"
#include "base/b64url.h"
#include "auth/principal.h"
#include "core/audit.h"
#include "core/buf.h"
#include "core/text.h"
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

/* A filter matched against stored text: absent, or valid UTF-8 (else 400: no entry holds it, and
 * PostgreSQL refuses such text). */
static int text_param(je_req *r, const char *name, const char **out) {
    *out = je_req_query_nonempty(r, name);
    if (!*out || je_utf8_valid(*out, strlen(*out))) return 0;
    je_reply_field_error(r, 400, "VALIDATION_FAILED", name,
                         je_arena_printf(r->arena, "%s must be UTF-8 text", name));
    return -1;
}

void je_api_audit_list(je_req *r, je_app *app) {
    je_audit_filter f = {.since_ms = INT64_MIN, .until_ms = INT64_MAX};
    int limit;
    if (je_params_limit(r, &limit) != 0 || je_params_continuation(r, &f.after_sequence) != 0 ||
        parse_time_param(r, "since", &f.since_ms) != 0 ||
        parse_time_param(r, "until", &f.until_ms) != 0)
        return;
    if (text_param(r, "eventType", &f.event_type) != 0 ||
        text_param(r, "resourceType", &f.resource_type) != 0 ||
        text_param(r, "resourceId", &f.resource_id) != 0 || text_param(r, "actor", &f.actor) != 0)
        return;
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

/* ---- verify: the chain, then the stored checkpoints ---------------------------------------- */

#define MAX_CHECKPOINTS 4096

typedef struct cp_view {
    int64_t head;
    char hash[JE_AUDIT_HASH_LEN + 1];
    int signed_ok;
} cp_view;

typedef struct verify_ctx {
    je_audit_verifier v;
    cp_view *cps;
    size_t n_cps, next_cp;
    int64_t cp_broken; /* a checkpoint disagrees with the chain at this sequence */
    je_keyset keys;
} verify_ctx;

static int collect_cp(void *ctx, const je_checkpoint_record *c) {
    verify_ctx *vc = ctx;
    if (vc->n_cps >= MAX_CHECKPOINTS) return 1;
    json_t *o = json_loads(c->checkpoint_json, 0, NULL);
    cp_view *cv = &vc->cps[vc->n_cps++];
    /* the signed object speaks, not the columns beside it */
    cv->head = json_integer_value(json_object_get(o, "headSequence"));
    snprintf(cv->hash, sizeof cv->hash, "%s",
             json_string_value(json_object_get(o, "headHash"))
                 ? json_string_value(json_object_get(o, "headHash"))
                 : "");
    cv->signed_ok = o && je_checkpoint_valid(c, vc->keys.keys, vc->keys.n);
    json_decref(o);
    return 0;
}

static int verify_visit(void *ctx, int64_t sequence, const char *json, size_t len) {
    verify_ctx *vc = ctx;
    if (je_audit_verifier_feed_text(&vc->v, json, len) != 0) return 1; /* stop at the break */
    while (vc->next_cp < vc->n_cps && vc->cps[vc->next_cp].head <= sequence) {
        const cp_view *cv = &vc->cps[vc->next_cp++];
        if (cv->head == sequence && cv->signed_ok && strcmp(cv->hash, vc->v.prev_hash) == 0)
            continue;
        if (!vc->cp_broken) vc->cp_broken = cv->head < 1 ? 1 : cv->head;
    }
    return 0;
}

/* The first sequence the stored checkpoints prove broken, after the chain itself verified. */
static int64_t checkpoint_break(const verify_ctx *vc) {
    if (vc->cp_broken) return vc->cp_broken;
    int64_t head = vc->v.next_sequence - 1;
    for (size_t i = vc->next_cp; i < vc->n_cps; i++) /* checkpoints beyond the head */
        if (vc->cps[i].signed_ok && vc->cps[i].head > head) return head + 1; /* tail cut off */
    return 0;
}

void je_api_audit_verify(je_req *r, je_app *app) {
    static _Thread_local je_key keys[JE_MAX_KEYS];
    verify_ctx *vc = calloc(1, sizeof *vc);
    vc->cps = calloc(MAX_CHECKPOINTS, sizeof *vc->cps);
    je_audit_verifier_init(&vc->v, 1, JE_AUDIT_ZERO_HASH);
    je_err err;
    je_store *s = app->store;
    const char *tenant = r->principal->tenant;
    int rc = s->ops->key_list(s, keys, JE_MAX_KEYS, &vc->keys.n, &err);
    vc->keys.keys = keys;
    if (rc == 0) rc = s->ops->checkpoint_list(s, tenant, collect_cp, vc, &err);
    if (rc == 0) rc = s->ops->audit_scan(s, tenant, 1, verify_visit, vc, &err);
    int64_t cp_break = rc == 0 && vc->v.valid ? checkpoint_break(vc) : 0;
    if (rc != 0)
        je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store failed", NULL);
    else if (!vc->v.valid || cp_break)
        je_reply_json(r, 200,
                      json_pack("{s:b, s:I}", "valid", 0, "firstBrokenSequence",
                                (json_int_t)(vc->v.valid ? cp_break : vc->v.first_broken)));
    else
        je_reply_json(r, 200,
                      json_pack("{s:b, s:I, s:I, s:o}", "valid", 1, "entries",
                                (json_int_t)vc->v.entries, "headSequence",
                                (json_int_t)(vc->v.next_sequence - 1), "headHash",
                                vc->v.entries ? json_string(vc->v.prev_hash) : json_null()));
    free(vc->cps);
    free(vc);
}

/* ---- export: NDJSON entries, then a checkpoint signed now ---------------------------------- */

typedef struct export_ctx {
    je_store *store;
    char tenant[JE_TENANT_MAX + 1];
    int64_t next, head;
    je_buf pending;
    size_t sent;
    char *checkpoint; /* the last line, once the entries are out */
    int done;
} export_ctx;

static int export_visit(void *ctx, int64_t sequence, const char *json, size_t len) {
    export_ctx *x = ctx;
    if (sequence > x->head) return 1;
    je_buf_append(&x->pending, json, len);
    je_buf_putc(&x->pending, '\n');
    x->next = sequence + 1;
    return 0;
}

static int export_refill(export_ctx *x) {
    je_buf_reset(&x->pending);
    x->sent = 0;
    if (x->next <= x->head) {
        je_audit_filter f = {.since_ms = INT64_MIN,
                             .until_ms = INT64_MAX,
                             .after_sequence = x->next - 1,
                             .limit = 512};
        je_err err;
        int64_t before = x->next;
        if (x->store->ops->audit_list(x->store, x->tenant, &f, export_visit, x, &err) != 0 ||
            x->next == before)
            return -1; /* the store failed, or entries vanished under us */
        return 0;
    }
    if (x->checkpoint) {
        je_buf_puts(&x->pending, x->checkpoint);
        je_buf_putc(&x->pending, '\n');
        free(x->checkpoint);
        x->checkpoint = NULL;
        return 0;
    }
    x->done = 1;
    return 0;
}

static long export_fill(void *ctx, char *buf, size_t max) {
    export_ctx *x = ctx;
    while (x->sent >= x->pending.len && !x->done)
        if (export_refill(x) != 0) return -1;
    if (x->done) return 0;
    size_t n = x->pending.len - x->sent;
    if (n > max) n = max;
    memcpy(buf, x->pending.data + x->sent, n);
    x->sent += n;
    return (long)n;
}

static void export_free(void *ctx) {
    export_ctx *x = ctx;
    je_buf_free(&x->pending);
    free(x->checkpoint);
    free(x);
}

static int parse_from(je_req *r, int64_t head, int64_t *from) {
    const char *v = je_req_query_nonempty(r, "fromSequence");
    *from = 1;
    if (!v) return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end == '\0' && end != v && v[0] != '+' && v[0] != ' ' && n >= 1 && n <= head + 1) {
        *from = n;
        return 0;
    }
    je_reply_field_error(
        r, 400, "VALIDATION_FAILED", "fromSequence",
        je_arena_printf(r->arena, "fromSequence must be from 1 to %lld", (long long)head + 1));
    return -1;
}

void je_api_audit_export(je_req *r, je_app *app) {
    je_store *s = app->store;
    const char *tenant = r->principal->tenant;
    int64_t head = 0, from = 1;
    char head_hash[65], from_prev[65];
    je_err err;
    je_err_clear(&err);
    if (s->ops->audit_head(s, tenant, &head, head_hash, &err) != 0)
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store failed", NULL);
    if (parse_from(r, head, &from) != 0) return;
    memcpy(from_prev, JE_AUDIT_ZERO_HASH, 65);
    if (from > 1 && s->ops->audit_hash_at(s, tenant, from - 1, from_prev, &err) != JE_STORE_OK)
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store failed", NULL);
    const char *end_hash = from > head ? from_prev : head_hash;
    /* signed with the key /jwks publishes now: the keyring, refreshed, serves both */
    je_checkpoint_record cp;
    je_key key;
    if (je_keyring_refresh(&app->keyring, je_now_ms(), 1, &err) != 0 ||
        je_keyring_current(&app->keyring, &key, &err) != 0 ||
        je_checkpoint_sign(&key, tenant, from, from_prev, from > head ? from - 1 : head, end_hash,
                           je_now_ms(), &cp, &err) != 0)
        return je_api_reply_err(r, &err, NULL);
    export_ctx *x = calloc(1, sizeof *x);
    if (!x) abort();
    x->store = s;
    snprintf(x->tenant, sizeof x->tenant, "%s", tenant);
    x->next = from;
    x->head = head;
    x->checkpoint = je_checkpoint_line(&cp);
    je_reply_header(r, "Content-Disposition",
                    je_arena_printf(r->arena, "attachment; filename=\"audit-%s.ndjson\"", tenant));
    je_reply_stream(r, 200, "application/x-ndjson", export_fill, x, export_free);
}

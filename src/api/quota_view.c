/* api/quota_view.c: JSON forms of quotas and their audit entries; the resource also written
 * straight into a buffer for the read routes (no tree, same bytes). */
#include "api/quota_view.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/random.h"
#include "core/audit.h"
#include "core/jcs.h"
#include "core/timefmt.h"

json_t *je_audit_value(const json_t *v) {
    char buf[400];
    if (json_is_real(v)) return json_string(je_num_decimal(json_real_value(v), buf, sizeof buf));
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n > JE_MAX_INT53 || n < -JE_MAX_INT53) {
            snprintf(buf, sizeof buf, "%lld", (long long)n);
            return json_string(buf);
        }
        return json_integer(n);
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, je_audit_value(json_array_get(v, i)));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) json_object_set_new(o, k, je_audit_value(m));
        return o;
    }
    return json_deep_copy(v);
}

static json_t *opt_str(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

static json_t *time_str(int64_t ms) {
    char t[JE_TIME_BUF];
    return json_string(je_time_format(ms, t));
}

/* Limits as numbers (resource) or with refillPerSecond as a decimal string (audit). */
static json_t *limits_json(const je_quota_limits *l, int for_audit) {
    char d[400];
    json_t *refill = for_audit ? json_string(je_num_decimal(l->refill_per_second, d, sizeof d))
                               : json_real(l->refill_per_second);
    return json_pack("{s:I, s:I, s:I, s:o}", "maxActive", (json_int_t)l->max_active, "maxPerHour",
                     (json_int_t)l->max_per_hour, "burstCapacity", (json_int_t)l->burst_capacity,
                     "refillPerSecond", refill);
}

static json_t *elevation_json(const je_quota *q, int for_audit) {
    if (q->elevation_expires_ms == JE_NO_TIME) return json_null();
    json_t *e = limits_json(&q->limits, for_audit);
    json_object_set_new(e, "expiresAt", time_str(q->elevation_expires_ms));
    json_object_set_new(e, "previous", limits_json(&q->previous, for_audit));
    return e;
}

static json_t *usage_json(const je_quota_record *r, int64_t now_ms, int64_t pending) {
    je_quota q = r->q; /* a copy: reading shows refill and rollover without storing them */
    je_quota_advance(&q, now_ms);
    return json_pack("{s:I, s:I, s:o, s:f, s:I, s:I}", "active", (json_int_t)q.state.active,
                     "hourCount", (json_int_t)q.state.hour_count, "hourStartedAt",
                     time_str(q.state.hour_start_ms), "availableTokens",
                     round(q.state.tokens * 1000) / 1000, /* shown to the millitoken */
                     "pending", (json_int_t)pending, "throttled", (json_int_t)q.state.throttled);
}

json_t *je_quota_json(const je_quota_record *r, int64_t now_ms, int64_t pending) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "quotaId", r->quota_id, "tenantId", r->tenant_id,
                          "jobType", r->job_type);
    json_t *l = limits_json(&r->q.limits, 0);
    json_object_update(o, l);
    json_decref(l);
    json_object_set_new(o, "paused", json_boolean(r->q.paused));
    json_object_set_new(o, "pauseReason", opt_str(r->pause_reason));
    json_object_set_new(o, "pauseTicket", opt_str(r->pause_ticket));
    json_object_set_new(o, "usage", usage_json(r, now_ms, pending));
    json_object_set_new(o, "elevation", elevation_json(&r->q, 0));
    json_object_set_new(o, "version", json_integer(r->version));
    json_object_set_new(o, "createdAt", time_str(r->created_ms));
    json_object_set_new(o, "createdBy", json_string(r->created_by));
    json_object_set_new(o, "updatedAt", time_str(r->updated_ms));
    json_object_set_new(o, "updatedBy", json_string(r->updated_by));
    json_object_set_new(o, "lastReason", opt_str(r->last_reason));
    json_object_set_new(o, "lastTicket", opt_str(r->last_ticket));
    return o;
}

/* ---- the resource without a tree ---------------------------------------------------------- */

static int put_str(je_buf *b, const char *s) {
    return je_jcs_string(s, strlen(s), b);
}

static int put_opt(je_buf *b, const char *s) {
    if (*s) return put_str(b, s);
    je_buf_append(b, "null", 4);
    return 0;
}

static void put_time(je_buf *b, int64_t ms) {
    char t[JE_TIME_BUF];
    je_buf_putc(b, '"');
    je_buf_puts(b, je_time_format(ms, t));
    je_buf_putc(b, '"');
}

/* key is the literal text before a value: ",\"name\":" */
#define PUT_KEY(b, key) je_buf_append(b, key, sizeof key - 1)

static int put_limits(je_buf *b, const je_quota_limits *l) {
    PUT_KEY(b, "\"maxActive\":");
    je_jcs_int(l->max_active, b);
    PUT_KEY(b, ",\"maxPerHour\":");
    je_jcs_int(l->max_per_hour, b);
    PUT_KEY(b, ",\"burstCapacity\":");
    je_jcs_int(l->burst_capacity, b);
    PUT_KEY(b, ",\"refillPerSecond\":");
    return je_jcs_real(l->refill_per_second, b);
}

static int put_elevation(je_buf *b, const je_quota *q) {
    if (q->elevation_expires_ms == JE_NO_TIME) {
        je_buf_append(b, "null", 4);
        return 0;
    }
    je_buf_putc(b, '{');
    int rc = put_limits(b, &q->limits);
    PUT_KEY(b, ",\"expiresAt\":");
    put_time(b, q->elevation_expires_ms);
    PUT_KEY(b, ",\"previous\":{");
    rc |= put_limits(b, &q->previous);
    je_buf_append(b, "}}", 2);
    return rc;
}

/* The pending count, or the cut where it goes. */
static void put_pending(je_buf *b, int64_t pending, size_t *cut) {
    if (cut)
        *cut = b->len;
    else
        je_jcs_int(pending, b);
}

static int put_usage(je_buf *b, const je_quota *adv, int64_t pending, size_t *cut) {
    PUT_KEY(b, "{\"active\":");
    je_jcs_int(adv->state.active, b);
    PUT_KEY(b, ",\"hourCount\":");
    je_jcs_int(adv->state.hour_count, b);
    PUT_KEY(b, ",\"hourStartedAt\":");
    put_time(b, adv->state.hour_start_ms);
    PUT_KEY(b, ",\"availableTokens\":");
    int rc = je_jcs_real(round(adv->state.tokens * 1000) / 1000, b);
    PUT_KEY(b, ",\"pending\":");
    put_pending(b, pending, cut);
    PUT_KEY(b, ",\"throttled\":");
    je_jcs_int(adv->state.throttled, b);
    je_buf_putc(b, '}');
    return rc;
}

int je_quota_text(je_buf *b, const je_quota_record *r, int64_t now_ms, int64_t pending,
                  size_t *cut) {
    je_quota adv = r->q; /* a copy: reading shows refill and rollover without storing them */
    je_quota_advance(&adv, now_ms);
    PUT_KEY(b, "{\"quotaId\":");
    int rc = put_str(b, r->quota_id);
    PUT_KEY(b, ",\"tenantId\":");
    rc |= put_str(b, r->tenant_id);
    PUT_KEY(b, ",\"jobType\":");
    rc |= put_str(b, r->job_type);
    je_buf_putc(b, ',');
    rc |= put_limits(b, &r->q.limits);
    je_buf_puts(b, r->q.paused ? ",\"paused\":true" : ",\"paused\":false");
    PUT_KEY(b, ",\"pauseReason\":");
    rc |= put_opt(b, r->pause_reason);
    PUT_KEY(b, ",\"pauseTicket\":");
    rc |= put_opt(b, r->pause_ticket);
    PUT_KEY(b, ",\"usage\":");
    rc |= put_usage(b, &adv, pending, cut);
    PUT_KEY(b, ",\"elevation\":");
    rc |= put_elevation(b, &r->q);
    PUT_KEY(b, ",\"version\":");
    je_jcs_int(r->version, b);
    PUT_KEY(b, ",\"createdAt\":");
    put_time(b, r->created_ms);
    PUT_KEY(b, ",\"createdBy\":");
    rc |= put_str(b, r->created_by);
    PUT_KEY(b, ",\"updatedAt\":");
    put_time(b, r->updated_ms);
    PUT_KEY(b, ",\"updatedBy\":");
    rc |= put_str(b, r->updated_by);
    PUT_KEY(b, ",\"lastReason\":");
    rc |= put_opt(b, r->last_reason);
    PUT_KEY(b, ",\"lastTicket\":");
    rc |= put_opt(b, r->last_ticket);
    je_buf_putc(b, '}');
    return rc ? -1 : 0;
}

int je_quota_summary_text(je_buf *b, const je_quota_record *r, int64_t now_ms, size_t *cut) {
    je_quota adv = r->q;
    je_quota_advance(&adv, now_ms);
    PUT_KEY(b, "{\"jobType\":");
    int rc = put_str(b, r->job_type);
    PUT_KEY(b, ",\"quotaId\":");
    rc |= put_str(b, r->quota_id);
    je_buf_putc(b, ',');
    rc |= put_limits(b, &r->q.limits);
    je_buf_puts(b, r->q.paused ? ",\"paused\":true" : ",\"paused\":false");
    PUT_KEY(b, ",\"active\":");
    je_jcs_int(adv.state.active, b);
    PUT_KEY(b, ",\"hourCount\":");
    je_jcs_int(adv.state.hour_count, b);
    PUT_KEY(b, ",\"availableTokens\":");
    rc |= je_jcs_real(round(adv.state.tokens * 1000) / 1000, b);
    PUT_KEY(b, ",\"utilisation\":");
    rc |= je_jcs_real((double)adv.state.active / (double)r->q.limits.max_active, b);
    PUT_KEY(b, ",\"throttled\":");
    je_jcs_int(adv.state.throttled, b);
    PUT_KEY(b, ",\"pending\":");
    put_pending(b, 0, cut);
    je_buf_putc(b, '}');
    return rc ? -1 : 0;
}

json_t *je_quota_audit_view(const je_quota_record *r) {
    if (!r) return json_null();
    json_t *o = json_pack("{s:s, s:s}", "quotaId", r->quota_id, "jobType", r->job_type);
    json_t *l = limits_json(&r->q.limits, 1);
    json_object_update(o, l);
    json_decref(l);
    json_object_set_new(o, "paused", json_boolean(r->q.paused));
    json_object_set_new(o, "pauseReason", opt_str(r->pause_reason));
    json_object_set_new(o, "pauseTicket", opt_str(r->pause_ticket));
    json_object_set_new(o, "elevation", elevation_json(&r->q, 1));
    json_object_set_new(o, "version", json_integer(r->version));
    return o;
}

json_t *je_token_details(const je_principal *p, int reason_claim) {
    return json_pack("{s:s, s:o, s:o}", "jti", p->jti, "reason", opt_str(p->claims[reason_claim]),
                     "ticket", opt_str(p->claims[reason_claim + 1]));
}

json_t *je_caller_entry(const je_principal *p, const char *event_type, const char *resource_type,
                        const char *resource_id, const char *reason, const char *ticket,
                        int64_t now_ms, json_t *details) {
    char id[37];
    je_uuid7(now_ms, id);
    je_audit_fields f = {.entry_id = id,
                         .tenant_id = p->tenant,
                         .event_type = event_type,
                         .resource_type = resource_type,
                         .resource_id = resource_id && *resource_id ? resource_id : NULL,
                         .actor_id = p->client_id,
                         .actor_type = "client",
                         .reason = reason && *reason ? reason : NULL,
                         .ticket = ticket && *ticket ? ticket : NULL,
                         .occurred_ms = now_ms,
                         .details = details};
    return je_audit_entry_new(&f);
}

json_t *je_quota_entry(const je_principal *p, const char *event_type, const char *quota_id,
                       const char *reason, const char *ticket, int64_t now_ms, json_t *details) {
    return je_caller_entry(p, event_type, "quota", quota_id, reason, ticket, now_ms, details);
}

json_t *je_quota_elevation_expired_entry(const je_quota_record *before,
                                         const je_quota_record *after, int64_t now_ms) {
    char id[37];
    je_uuid7(now_ms, id);
    json_t *details = json_pack("{s:o, s:o}", "before", je_quota_audit_view(before), "after",
                                je_quota_audit_view(after));
    je_audit_fields f = {.entry_id = id,
                         .tenant_id = after->tenant_id,
                         .event_type = "quota.elevation.expired",
                         .resource_type = "quota",
                         .resource_id = after->quota_id,
                         .actor_id = "jobengine",
                         .actor_type = "system",
                         .reason = "temporary elevation expired",
                         .ticket = NULL,
                         .occurred_ms = now_ms,
                         .details = details};
    return je_audit_entry_new(&f);
}

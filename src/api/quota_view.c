/* api/quota_view.c: JSON forms of quotas and their audit entries. */
#include "api/quota_view.h"

#include <math.h>
#include <stdio.h>

#include "base/random.h"
#include "core/audit.h"
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

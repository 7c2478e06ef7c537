/* store/backend.c: see backend.h. */
#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/random.h"
#include "core/audit.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "core/timefmt.h"

json_t *je_store_names_json(const char *names, size_t n, size_t stride, size_t max) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        const char *s = names + i * stride;
        json_array_append_new(a, json_stringn(s, strnlen(s, max)));
    }
    return a;
}

int je_store_names_parse(const char *text, char *names, size_t *n, size_t cap, size_t stride,
                         size_t max) {
    json_t *a = json_loads(text ? text : "", 0, NULL);
    int rc = json_is_array(a) && json_array_size(a) <= cap ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) || json_string_length(v) > max)
            rc = -1;
        else
            memcpy(names + i * stride, json_string_value(v), json_string_length(v) + 1);
    }
    *n = rc == 0 ? json_array_size(a) : 0;
    json_decref(a);
    return rc;
}

static const char *member_str(const json_t *entry, const char *key) {
    return json_string_value(json_object_get(entry, key)); /* NULL when absent or not a string */
}

int je_audit_row_of(const json_t *entry, je_audit_row *row, je_err *err) {
    memset(row, 0, sizeof *row);
    const char *at = member_str(entry, "occurredAt");
    if (!at || je_time_parse(at, &row->occurred_ms) < 0)
        return je_err_field(err, "AUDIT_INVALID", "occurredAt", "audit entry has no valid time");
    row->entry_id = member_str(entry, "entryId");
    row->event_type = member_str(entry, "eventType");
    if (!row->entry_id || !row->event_type)
        return je_err_set(err, "AUDIT_INVALID", "audit entry lacks entryId or eventType");
    row->tenant = member_str(entry, "tenantId");
    row->resource_type = member_str(entry, "resourceType");
    row->resource_id = member_str(entry, "resourceId");
    row->actor_id = member_str(entry, "actorId");
    row->hash = member_str(entry, "hash");
    row->sequence = json_integer_value(json_object_get(entry, "sequence"));
    row->text = je_jcs_dumps(entry, &row->len);
    if (!row->text) return je_err_set(err, "AUDIT_INVALID", "audit entry cannot be canonicalised");
    return 0;
}

void je_store_buckets_format(const int64_t *v, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < JE_BREAKER_BUCKETS && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? "," : "", (long long)v[i]);
}

void je_store_buckets_parse(const char *text, int64_t *v) {
    const char *p = text ? text : "";
    for (int i = 0; i < JE_BREAKER_BUCKETS; i++) {
        char *end;
        long long n = strtoll(p, &end, 10);
        v[i] = end == p || n < 0 ? 0 : n;
        p = *end == ',' ? end + 1 : end;
    }
}

json_t *je_store_breaker_entry(const je_breaker_row *r, je_breaker_state before, int64_t now_ms) {
    je_breaker_state after = je_breaker_effective(&r->b);
    if (after == before || after == JE_BREAKER_HALF_OPEN) return NULL; /* half-open: lazily */
    int64_t ok = 0, failed = 0;
    je_breaker_window(&r->b, &ok, &failed);
    char id[JE_UUID_BUF], reason[160];
    je_uuid7(now_ms, id);
    if (after == JE_BREAKER_OPEN)
        snprintf(reason, sizeof reason, "%lld of %lld completed jobs failed in the window",
                 (long long)failed, (long long)(ok + failed));
    else
        snprintf(reason, sizeof reason, "%lld probe jobs succeeded", (long long)r->b.s.probes);
    json_t *details =
        json_pack("{s:s, s:s, s:s, s:{s:I, s:I}}", "jobType", r->job_type, "before",
                  je_breaker_state_name(before), "after", je_breaker_state_name(after), "window",
                  "ok", (json_int_t)ok, "failed", (json_int_t)failed);
    je_audit_fields f = {.entry_id = id,
                         .tenant_id = r->tenant_id[0] ? r->tenant_id : JE_TENANT_SYSTEM,
                         .event_type =
                             after == JE_BREAKER_OPEN ? "breaker.opened" : "breaker.closed",
                         .resource_type = "breaker",
                         .resource_id = r->job_type,
                         .actor_id = "jobengine",
                         .actor_type = "system",
                         .reason = reason,
                         .ticket = NULL,
                         .occurred_ms = now_ms,
                         .details = details};
    return je_audit_entry_new(&f);
}

void je_lease_out_breaker(je_lease_out *out, const char *job_type, int64_t retry_at) {
    if (out->breaker_held) return;
    out->breaker_held = 1;
    snprintf(out->breaker_job_type, sizeof out->breaker_job_type, "%s", job_type);
    out->breaker_retry_ms = retry_at == INT64_MIN ? JE_NO_TIME : retry_at;
}

int je_lease_out_pool(je_lease_out *out, const je_pool_gate *g) {
    if (out->pool_held) return 0;
    out->pool_held = 1;
    snprintf(out->pool_job_type, sizeof out->pool_job_type, "%s", g->pool.job_type);
    out->pool_cap = g->last_cap;
    if (g->last_cap != JE_POOL_CAP_HOURLY) return 1;
    out->pool_next_ms = g->pool.hour_start_ms + JE_HOUR_MS;
    return 0;
}

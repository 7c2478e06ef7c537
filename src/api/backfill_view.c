/* api/backfill_view.c: JSON forms of backfills and their audit entries. */
#include "api/backfill_view.h"

#include "api/quota_view.h"

#include "base/random.h"
#include "core/audit.h"
#include "core/timefmt.h"

static json_t *t_or_null(int64_t ms) {
    char t[JE_TIME_BUF];
    return ms == JE_NO_TIME ? json_null() : json_string(je_time_format(ms, t));
}

static json_t *s_or_null(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

json_t *je_backfill_checks_json(const je_backfill_plan *p) {
    json_t *a = json_array();
    for (int i = 0; i < JE_BF_CHECKS; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:b}", "check", p->checks[i].name, "passed", p->checks[i].passed));
    return a;
}

json_t *je_backfill_plan_json(const je_backfill_plan *p) {
    return json_pack("{s:I, s:I, s:I, s:s}", "batches", (json_int_t)p->batches, "knownEvents",
                     (json_int_t)p->known_events, "alreadyProcessed",
                     (json_int_t)p->already_processed, "planHash", p->plan_hash);
}

json_t *je_backfill_json(const je_backfill_record *b) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:b, s:s}", "backfillId",
                          b->backfill_id, "tenantId", b->tenant_id, "sourceId", b->source_id,
                          "jobType", b->job_type, "windowStart", t_or_null(b->window_start_ms),
                          "windowEnd", t_or_null(b->window_end_ms), "batchSeconds",
                          (json_int_t)(b->batch_ms / 1000), "forceReprocess", b->force_reprocess,
                          "status", je_backfill_state_name(b->status));
    json_object_set_new(o, "reason", json_string(b->reason));
    json_object_set_new(o, "ticket", s_or_null(b->ticket));
    json_object_set_new(o, "plan",
                        json_pack("{s:I, s:I, s:I, s:s}", "batches", (json_int_t)b->plan_batches,
                                  "knownEvents", (json_int_t)b->plan_known, "alreadyProcessed",
                                  (json_int_t)b->plan_processed, "planHash", b->plan_hash));
    json_object_set_new(
        o, "progress",
        json_pack("{s:I, s:I, s:I, s:I, s:I}", "batchesSubmitted", (json_int_t)b->batches_submitted,
                  "batchesDone", (json_int_t)b->batches_done, "eventsProcessed",
                  (json_int_t)b->events_processed, "duplicatesSkipped",
                  (json_int_t)b->duplicates_skipped, "eventsFailed", (json_int_t)b->events_failed));
    json_t *checks = json_loads(b->safety_checks, 0, NULL);
    json_object_set_new(o, "safetyChecks", checks ? checks : json_array());
    json_object_set_new(o, "createdAt", t_or_null(b->created_ms));
    json_object_set_new(o, "createdBy", json_string(b->created_by));
    json_object_set_new(o, "startedAt", t_or_null(b->started_ms));
    json_object_set_new(o, "completedAt", t_or_null(b->completed_ms));
    json_object_set_new(o, "error", s_or_null(b->error));
    json_object_set_new(o, "version", json_integer(b->version));
    return o;
}

json_t *je_backfill_audit_view(const je_backfill_record *b) {
    if (!b) return json_null();
    json_t *o = je_backfill_json(b);
    json_object_del(o, "tenantId");
    return o; /* all members are strings, integers, booleans or null */
}

json_t *je_backfill_entry(const je_principal *p, const char *event_type, const char *backfill_id,
                          const char *reason, const char *ticket, int64_t now_ms, json_t *details) {
    return je_caller_entry(p, event_type, "backfill", backfill_id, reason, ticket, now_ms, details);
}

json_t *je_backfill_engine_entry(const je_backfill_record *before, const je_backfill_record *after,
                                 int64_t now_ms) {
    const char *event_type =
        after->status == JE_BF_COMPLETED ? "backfill.completed" : "backfill.failed";
    char id[37];
    je_uuid7(now_ms, id);
    /* the engine acts on the operator's request: the entry keeps its reason and ticket */
    je_audit_fields f = {.entry_id = id,
                         .tenant_id = after->tenant_id,
                         .event_type = event_type,
                         .resource_type = "backfill",
                         .resource_id = after->backfill_id,
                         .actor_id = "jobengine",
                         .actor_type = "system",
                         .reason = after->reason[0] ? after->reason : NULL,
                         .ticket = after->ticket[0] ? after->ticket : NULL,
                         .occurred_ms = now_ms,
                         .details =
                             json_pack("{s:o, s:o}", "before", je_backfill_audit_view(before),
                                       "after", je_backfill_audit_view(after))};
    return je_audit_entry_new(&f);
}

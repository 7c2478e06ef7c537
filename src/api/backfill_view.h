/* api/backfill_view.h: the JSON forms of a backfill (api.md §3.5) and its audit entries. */
#ifndef JE_API_BACKFILL_VIEW_H
#define JE_API_BACKFILL_VIEW_H

#include <jansson.h>
#include "auth/principal.h"
#include "store/store.h"

json_t *je_backfill_json(const je_backfill_record *b);
/* safetyChecks as reported: [{"check", "passed"}] */
json_t *je_backfill_checks_json(const je_backfill_plan *p);
/* {"batches", "knownEvents", "alreadyProcessed", "planHash"} */
json_t *je_backfill_plan_json(const je_backfill_plan *p);
/* A backfill audit entry by the caller; details stolen. */
json_t *je_backfill_entry(const je_principal *p, const char *event_type, const char *backfill_id,
                          const char *reason, const char *ticket, int64_t now_ms, json_t *details);
/* Snapshot for details.before / after (NULL → null). */
json_t *je_backfill_audit_view(const je_backfill_record *b);
/* The store hook for engine transitions: backfill.completed or backfill.failed, by after's
 * status. */
json_t *je_backfill_engine_entry(const je_backfill_record *before, const je_backfill_record *after,
                                 int64_t now_ms);

#endif

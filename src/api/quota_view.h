/* api/quota_view.h: the JSON forms of a quota — the resource of api.md §3.3 and the snapshot
 * audit entries hold (numbers that are not integers by nature as decimal strings, domain.md §6)
 * — and the audit entries of quota events. */
#ifndef JE_API_QUOTA_VIEW_H
#define JE_API_QUOTA_VIEW_H

#include <stdint.h>
#include <jansson.h>
#include "core/buf.h"
#include "auth/principal.h"
#include "store/store.h"

/* A deep copy of v fit for an audit entry (domain.md §6): reals and integers beyond
 * +-(2^53-1) become decimal strings. */
json_t *je_audit_value(const json_t *v);

/* The quota resource, usage as of now_ms, with pending jobs of its type. */
json_t *je_quota_json(const je_quota_record *r, int64_t now_ms, int64_t pending);
/* The same resource written straight into b, without a tree: the bytes
 * je_json_dumps_ordered(je_quota_json(r, now_ms, pending)) gives. With cut non-NULL, pending is
 * left out and *cut gets the offset in b where its digits belong (lists splice them in once
 * they are counted). Returns 0, or -1 when a string is not valid UTF-8 or a real is not finite
 * (where the tree would drop members; b then holds a partial item). */
int je_quota_text(je_buf *b, const je_quota_record *r, int64_t now_ms, int64_t pending,
                  size_t *cut);
/* An item of GET /jobengine/quotas/summary, written like je_quota_text (pending always cut). */
int je_quota_summary_text(je_buf *b, const je_quota_record *r, int64_t now_ms, size_t *cut);

/* The configuration snapshot for details.before / details.after (NULL record → null). */
json_t *je_quota_audit_view(const je_quota_record *r);

/* details.token: {"jti", "reason", "ticket"} of the caller's token for a route family
 * (claims index of its reason: JE_CLAIM_QUOTA_REASON or JE_CLAIM_BACKFILL_REASON). */
json_t *je_token_details(const je_principal *p, int reason_claim);

/* An audit entry by the caller (actor = the client, actorType "client"); details stolen; empty
 * strings are written as null. */
json_t *je_caller_entry(const je_principal *p, const char *event_type, const char *resource_type,
                        const char *resource_id, const char *reason, const char *ticket,
                        int64_t now_ms, json_t *details);
/* A quota audit entry by the caller. details stolen. */
json_t *je_quota_entry(const je_principal *p, const char *event_type, const char *quota_id,
                       const char *reason, const char *ticket, int64_t now_ms, json_t *details);

/* quota.elevation.expired, by the engine (actorType "system"), for the store's sweeps. */
json_t *je_quota_elevation_expired_entry(const je_quota_record *before,
                                         const je_quota_record *after, int64_t now_ms);

#endif

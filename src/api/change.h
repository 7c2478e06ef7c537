/* api/change.h: what every change route shares (api.md §3.2): the effective reason and ticket
 * from body, headers or token claims; If-Match; Idempotency-Key; and the one builder of the
 * audit entry of a refused change (quota.change.denied, backfill.rejected), with the refusal
 * answered after it is recorded. */
#ifndef JE_API_CHANGE_H
#define JE_API_CHANGE_H

#include <jansson.h>
#include "api/app.h"
#include "core/justify.h"
#include "core/quota_change.h" /* If-Match: JE_IF_MATCH_NONE, JE_IF_MATCH_ANY */
#include "store/store.h"

/* A family of change routes: what its refusals are recorded as. */
typedef struct je_change_kind {
    const char *refused_event; /* "quota.change.denied", "backfill.rejected" */
    const char *resource_type; /* "quota", "backfill" */
    int reason_claim;          /* JE_CLAIM_QUOTA_REASON, JE_CLAIM_BACKFILL_REASON */
} je_change_kind;
extern const je_change_kind je_change_quota, je_change_backfill;

/* Resolves the justification of a change. Returns 0, or -1 with err (REASON_REQUIRED /
 * VALIDATION_FAILED). */
int je_change_justify(je_req *r, const json_t *body, const je_change_kind *k, je_justification *j,
                      je_err *err);
/* The reason and ticket "as sent when valid" for the audit of a refusal (body, then headers,
 * then token, each value on its own); "" when none. */
void je_change_sent_justification(je_req *r, const json_t *body, const je_change_kind *k,
                                  je_justification *j);

/* If-Match: JE_IF_MATCH_NONE, JE_IF_MATCH_ANY or the version. -1 with err when malformed. */
int je_change_if_match(je_req *r, int64_t *out, je_err *err);

/* Fills idem from the Idempotency-Key header (1-255 printable ASCII, else err) and the body. */
int je_change_idem(je_req *r, const json_t *body, je_idem *idem, je_err *err);

/* The audit entry of a refused change: details {code, message, field?, ...extra (audit form),
 * request (the body, audit form), token, before: null, after: null}; reason and ticket are the
 * effective justification when one was resolved (just->reason set), else those "as sent when
 * valid". resource_id NULL or "" for none. */
json_t *je_change_refusal_entry(je_req *r, const je_change_kind *k, const json_t *body,
                                const je_justification *just, const je_err *e, const json_t *extra,
                                const char *resource_id, int64_t now_ms);
/* A refusal found before the store: records its entry on its own, then answers e with
 * reply_details (stolen); 503 when it could not be recorded. */
void je_change_refuse(je_req *r, je_app *app, const je_change_kind *k, const json_t *body,
                      const je_justification *just, const je_err *e, const json_t *extra,
                      const char *resource_id, json_t *reply_details);
/* The answers every change route gives before its own: a failure's (503 STORE_UNAVAILABLE for
 * the store's, QUOTA_EXISTS when a unique key was taken meanwhile...), 409 for an
 * Idempotency-Key used with another body, the first answer for a replay. 1 when it replied. */
int je_change_reply_common(je_req *r, int rc, je_idem *idem, const je_err *err);

#endif

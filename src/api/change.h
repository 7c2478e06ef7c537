/* api/change.h: what every change route shares (api.md §3.2): the effective reason and ticket
 * from body, headers or token claims; If-Match; Idempotency-Key; and the audit entry of a
 * refused change. */
#ifndef JE_API_CHANGE_H
#define JE_API_CHANGE_H

#include <jansson.h>
#include "api/app.h"
#include "core/justify.h"
#include "store/store.h"

#define JE_IF_MATCH_NONE (-1)
#define JE_IF_MATCH_ANY (-2)

/* Resolves the justification of a change; reason_claim is JE_CLAIM_QUOTA_REASON or
 * JE_CLAIM_BACKFILL_REASON. Returns 0, or -1 with err (REASON_REQUIRED / VALIDATION_FAILED). */
int je_change_justify(je_req *r, const json_t *body, int reason_claim, je_justification *j,
                      je_err *err);
/* The reason and ticket "as sent when valid" for the audit of a refusal (body, then headers,
 * then token, each value on its own); "" when none. */
void je_change_sent_justification(je_req *r, const json_t *body, int reason_claim,
                                  je_justification *j);

/* If-Match: JE_IF_MATCH_NONE, JE_IF_MATCH_ANY or the version. -1 with err when malformed. */
int je_change_if_match(je_req *r, int64_t *out, je_err *err);
/* 1 when the If-Match value admits version. */
int je_change_version_matches(int64_t if_match, int64_t version);

/* Fills idem from the Idempotency-Key header (1-255 printable ASCII, else err) and the body. */
int je_change_idem(je_req *r, const json_t *body, je_idem *idem, je_err *err);

#endif

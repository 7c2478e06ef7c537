/* core/justify.h: the effective reason and ticket of a change (api.md §3.2). Sources in order:
 * the body, the headers, the token's claims; the first that gives a reason supplies both reason
 * and ticket. A value present in the body or headers but invalid is refused, never replaced by a
 * later source. */
#ifndef JE_CORE_JUSTIFY_H
#define JE_CORE_JUSTIFY_H

#include <stddef.h>
#include "core/err.h"

#define JE_REASON_MAX 256 /* code points */
#define JE_TICKET_MAX 128
#define JE_REASON_BUF (JE_REASON_MAX * 4 + 1)
#define JE_TICKET_BUF (JE_TICKET_MAX * 4 + 1)

typedef struct je_text_in {
    const char *s; /* NULL when absent */
    size_t len;
} je_text_in;

typedef struct je_justify_source {
    je_text_in reason, ticket;
} je_justify_source;

typedef struct je_justification {
    char reason[JE_REASON_BUF]; /* trimmed; "" only when refused */
    char ticket[JE_TICKET_BUF]; /* trimmed; "" when none */
    int has_ticket;
    int source; /* 0 body, 1 headers, 2 token */
} je_justification;

/* Resolves from sources[0..2] (body, headers, token). Returns 0, or -1 with err code
 * "REASON_REQUIRED" (field "reason") or "VALIDATION_FAILED" (field "ticket"). The token's
 * claims were checked when the token was issued, and are taken as they are. */
int je_justify(const je_justify_source sources[3], je_justification *out, je_err *err);

/* Checks one optional value on its own (for the audit of refusals: "as sent when valid"):
 * writes the trimmed value into out and returns 1 when valid, 0 otherwise. */
int je_justify_valid(je_text_in v, size_t max_chars, char *out, size_t cap);

#endif

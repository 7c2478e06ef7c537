/* auth/principal.h: who is calling, as the gate established it from a verified token. */
#ifndef JE_AUTH_PRINCIPAL_H
#define JE_AUTH_PRINCIPAL_H

#include <stdint.h>
#include <jansson.h>
#include "store/store.h"

/* Indexes of the justification claims a token may carry. */
enum {
    JE_CLAIM_QUOTA_REASON,
    JE_CLAIM_QUOTA_TICKET,
    JE_CLAIM_BACKFILL_REASON,
    JE_CLAIM_BACKFILL_TICKET,
    JE_CLAIM_OPERATOR_REASON,
    JE_CLAIM_OPERATOR_TICKET,
    JE_CLAIM_GOVERNANCE_REASON,
    JE_CLAIM_GOVERNANCE_TICKET,
    JE_CLAIM_COUNT
};
/* "quota.reason", ... by index. */
extern const char *const je_claim_names[JE_CLAIM_COUNT];

typedef struct je_principal je_principal;
struct je_principal {
    char client_id[JE_ID_MAX + 1];
    char tenant[JE_TENANT_MAX + 1]; /* "" when the token names no (valid) tenant */
    unsigned scopes;
    char jti[64];
    int64_t exp_s, nbf_s;
    const char *claims[JE_CLAIM_COUNT]; /* NULL when absent; owned by the holder */
};

#endif

/* core/pool_change.h: what a change of a capacity pool does (issue 15): create or replace its
 * settings and shares (PUT), delete it, with If-Match, validation (core/pool.h) and the audit
 * event of each outcome. The hour's counters of a replaced pool carry over. Pure. */
#ifndef JE_CORE_POOL_CHANGE_H
#define JE_CORE_POOL_CHANGE_H

#include "core/pool.h"
#include "core/quota_change.h" /* JE_IF_MATCH_NONE, JE_IF_MATCH_ANY */

/* A capacity pool as stored: settings, counters, shares and bookkeeping. */
typedef struct je_pool_record {
    je_pool pool;
    je_pool_share shares[JE_POOL_MAX_SHARES]; /* by tenant id in byte order (the store's) */
    size_t n_shares;
    int64_t version;
    int64_t created_ms, updated_ms;
    char created_by[JE_ID_MAX + 1], updated_by[JE_ID_MAX + 1];
    char last_reason[JE_REASON_BUF], last_ticket[JE_TICKET_BUF];
} je_pool_record;

typedef enum je_pool_op { JE_POOL_PUT = 0, JE_POOL_DELETE } je_pool_op;

typedef struct je_pool_change_req {
    je_pool_op op;
    int64_t if_match; /* JE_IF_MATCH_NONE, JE_IF_MATCH_ANY or a version */
    /* PUT: the new settings (job type, strategy, max_active, max_per_hour) and shares */
    je_pool settings;
    const je_pool_share *shares;
    size_t n_shares;
    const char *actor, *reason, *ticket; /* the caller and the change's effective justification */
} je_pool_change_req;

typedef enum je_pool_verdict {
    JE_POOL_CREATED = 0,
    JE_POOL_REPLACED,
    JE_POOL_DELETED,
    JE_POOL_UNCHANGED, /* a PUT of what is there already: nothing stored, no entry */
    JE_POOL_REFUSED,
} je_pool_verdict;

typedef struct je_pool_outcome {
    je_pool_verdict verdict;
    const char *event_type; /* "pool.created", "pool.updated", "pool.deleted", NULL */
    je_err refusal;         /* when refused: VALIDATION_FAILED, VERSION_MISMATCH, NOT_FOUND */
} je_pool_outcome;

/* Applies req to rec (exists: a pool is stored; rec holds it) at now. A PUT's shares are a set
 * keyed by tenant: listed in another order they are the same settings (JE_POOL_UNCHANGED), and
 * rec gets them sorted by tenant id. */
void je_pool_apply(const je_pool_change_req *req, je_pool_record *rec, int exists, int64_t now_ms,
                   je_pool_outcome *out);

#endif

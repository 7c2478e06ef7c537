/* core/lease.h: the decisions of one lease call (domain.md §2). A call may lease jobs of several
 * job types; each type is limited by its own quota, else the tenant's "*" quota, else nothing.
 * The store loads each quota involved into a slot (after freeing what expired), then asks the
 * slot about each candidate job in leasing order: a quota that denies once is not asked again in
 * the same call (one call counts one throttle per quota), and the backfill lane may hold at most
 * its share of maxActive while live work keeps the rest. */
#ifndef JE_CORE_LEASE_H
#define JE_CORE_LEASE_H

#include <stdint.h>
#include "core/quota.h"

typedef struct je_lease_slot {
    je_quota_record rec;   /* the quota, as it will be saved */
    int blocked;           /* it denied once in this call */
    int64_t earliest;      /* earliest expiry of its permits and leases; JE_NO_TIME when none */
    int64_t backfill_held; /* live leases of backfill-lane jobs charged to it */
    int64_t backfill_cap;  /* what the backfill lane may hold of it */
} je_lease_slot;

/* What held work back in a call: the first quota that did, preferring one that is not paused
 * (a paused quota says nothing about when work can go). */
typedef struct je_lease_held {
    int held;
    je_decision decision;
    je_quota_limits limits;
    int paused, other; /* some quota held work back because it was paused / for another cause */
} je_lease_held;

/* A slot for rec, whose expired permits, leases and elevation are already freed. */
void je_lease_slot_open(je_lease_slot *sl, const je_quota_record *rec, int64_t earliest,
                        int64_t backfill_held, double backfill_share);
/* Decides one candidate job of lane on sl at now: 1 granted (the quota took a unit; lease the
 * job, then call je_lease_slot_leased, or je_lease_slot_undo when the job was gone), 0 held back
 * (noted in held). */
int je_lease_slot_decide(je_lease_slot *sl, int lane, int64_t now_ms, je_lease_held *held);
void je_lease_slot_leased(je_lease_slot *sl, int lane, int64_t lease_until_ms);
void je_lease_slot_undo(je_lease_slot *sl);
/* 1 when every quota that held work back was paused (the answer is 423, not 429). */
int je_lease_held_only_paused(const je_lease_held *h);

#endif

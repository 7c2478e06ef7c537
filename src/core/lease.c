/* core/lease.c: see lease.h. */
#include "core/lease.h"

#include <string.h>

#include "core/jobs.h"

void je_lease_slot_open(je_lease_slot *sl, const je_quota_record *rec, int64_t earliest,
                        int64_t backfill_held, double backfill_share) {
    memset(sl, 0, sizeof *sl);
    sl->rec = *rec;
    sl->earliest = earliest;
    sl->backfill_held = backfill_held;
    sl->backfill_cap = je_backfill_slots(rec->q.limits.max_active, backfill_share);
}

static void note_held(je_lease_held *h, const je_lease_slot *sl, const je_decision *d) {
    if (d->kind == JE_DECISION_PAUSED)
        h->paused = 1;
    else
        h->other = 1;
    if (h->held && !(h->decision.kind == JE_DECISION_PAUSED && d->kind != JE_DECISION_PAUSED))
        return;
    h->held = 1;
    h->decision = *d;
    h->limits = sl->rec.q.limits;
}

int je_lease_slot_decide(je_lease_slot *sl, int lane, int64_t now_ms, je_lease_held *held) {
    if (sl->blocked) return 0;
    /* a paused quota answers "paused", whatever else applies */
    if (lane == JE_LANE_BACKFILL && sl->backfill_held >= sl->backfill_cap && !sl->rec.q.paused) {
        /* the backfill share is full: live work keeps the rest of the quota */
        je_decision d = {JE_DECISION_EXHAUSTED,
                         sl->earliest != JE_NO_TIME ? sl->earliest : now_ms + 1000, 0};
        note_held(held, sl, &d);
        return 0;
    }
    je_decision d = je_quota_decide(&sl->rec.q, now_ms, sl->earliest);
    if (d.kind == JE_DECISION_GRANT) return 1;
    sl->blocked = 1;
    note_held(held, sl, &d);
    return 0;
}

void je_lease_slot_leased(je_lease_slot *sl, int lane, int64_t lease_until_ms) {
    if (sl->earliest == JE_NO_TIME || lease_until_ms < sl->earliest) sl->earliest = lease_until_ms;
    if (lane == JE_LANE_BACKFILL) sl->backfill_held++;
}

void je_lease_slot_undo(je_lease_slot *sl) {
    je_quota_release(&sl->rec.q, 1);
}

int je_lease_held_only_paused(const je_lease_held *h) {
    return h->paused && !h->other;
}

/* store/postgres_rows_quota.c: quota rows (postgres_rows.h), and the steps on a quota that
 * several operations take inside their transaction: freeing expired permits, reverting an
 * expired elevation, giving slots back, reading what a decision needs. A quota row is loaded
 * FOR UPDATE: every change of its `active` (permits granted or freed, leases charged or ended)
 * happens under that lock, so the count stays exact however many nodes decide at once. */
#include "store/postgres_rows.h"

#include <stdio.h>
#include <string.h>

void je_pg_quota_from_row(const PGresult *r, int row, je_quota_record *q) {
    memset(q, 0, sizeof *q);
    je_pg_get_text(r, row, 0, q->tenant_id, sizeof q->tenant_id);
    je_pg_get_text(r, row, 1, q->quota_id, sizeof q->quota_id);
    je_pg_get_text(r, row, 2, q->job_type, sizeof q->job_type);
    je_quota *x = &q->q;
    x->limits = (je_quota_limits){je_pg_get_int(r, row, 3), je_pg_get_int(r, row, 4),
                                  je_pg_get_int(r, row, 5), je_pg_get_real(r, row, 6)};
    x->paused = (int)je_pg_get_int(r, row, 7);
    je_pg_get_text(r, row, 8, q->pause_reason, sizeof q->pause_reason);
    je_pg_get_text(r, row, 9, q->pause_ticket, sizeof q->pause_ticket);
    x->state = (je_quota_state){je_pg_get_int(r, row, 10), je_pg_get_int(r, row, 11),
                                je_pg_get_int(r, row, 12), je_pg_get_real(r, row, 13),
                                je_pg_get_int(r, row, 14), je_pg_get_int(r, row, 15),
                                je_pg_get_int(r, row, 16)};
    x->elevation_expires_ms = je_pg_get_opt(r, row, 17);
    x->previous = (je_quota_limits){je_pg_get_int(r, row, 18), je_pg_get_int(r, row, 19),
                                    je_pg_get_int(r, row, 20), je_pg_get_real(r, row, 21)};
    q->version = je_pg_get_int(r, row, 22);
    q->created_ms = je_pg_get_int(r, row, 23);
    je_pg_get_text(r, row, 24, q->created_by, sizeof q->created_by);
    q->updated_ms = je_pg_get_int(r, row, 25);
    je_pg_get_text(r, row, 26, q->updated_by, sizeof q->updated_by);
    je_pg_get_text(r, row, 27, q->last_reason, sizeof q->last_reason);
    je_pg_get_text(r, row, 28, q->last_ticket, sizeof q->last_ticket);
}

static const char load_by_id[] = "SELECT " JE_PG_QUOTA_COLS " FROM quotas WHERE tenant_id=$1 AND "
                                 "quota_id=$2 FOR UPDATE";
static const char load_by_type[] = "SELECT " JE_PG_QUOTA_COLS " FROM quotas WHERE tenant_id=$1 "
                                   "AND job_type=$2 FOR UPDATE";

int je_pg_quota_load(je_pg_tx *tx, const char *tenant, const char *key, int by_job_type,
                     je_quota_record *out, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_text(&p, key);
    PGresult *r = je_pg_exec(tx, by_job_type ? load_by_type : load_by_id, &p, err);
    if (!r) return JE_STORE_ERROR;
    int found = PQntuples(r) > 0 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_quota_from_row(r, 0, out);
    PQclear(r);
    return found;
}

/* An upsert on the primary key that writes nothing when another quota of the tenant holds the
 * job type (no row back: QUOTA_EXISTS), so the transaction is never aborted by the unique
 * (tenant_id, job_type) index in the usual case. A quota of that job type created meanwhile by
 * a transaction not yet committed still trips the index (23505): QUOTA_EXISTS too. */
static const char save_sql[] =
    "INSERT INTO quotas(" JE_PG_QUOTA_COLS ") SELECT $1::text, $2::text, $3::text, $4::bigint, "
    "$5::bigint, $6::bigint, $7::double precision, $8::integer, $9::text, $10::text, $11::bigint, "
    "$12::bigint, $13::bigint, $14::double precision, $15::bigint, $16::bigint, $17::bigint, "
    "$18::bigint, $19::bigint, $20::bigint, $21::bigint, $22::double precision, $23::bigint, "
    "$24::bigint, $25::text, $26::bigint, $27::text, $28::text, $29::text "
    "WHERE NOT EXISTS (SELECT 1 FROM quotas WHERE tenant_id=$1 AND job_type=$3 AND quota_id<>$2) "
    "ON CONFLICT (tenant_id, quota_id) DO UPDATE SET job_type=excluded.job_type, "
    "max_active=excluded.max_active, max_per_hour=excluded.max_per_hour, "
    "burst_capacity=excluded.burst_capacity, refill_per_second=excluded.refill_per_second, "
    "paused=excluded.paused, pause_reason=excluded.pause_reason, "
    "pause_ticket=excluded.pause_ticket, active=excluded.active, "
    "hour_count=excluded.hour_count, hour_start_ms=excluded.hour_start_ms, "
    "tokens=excluded.tokens, last_refill_ms=excluded.last_refill_ms, "
    "throttled=excluded.throttled, throttled_hour_ms=excluded.throttled_hour_ms, "
    "elevation_expires_ms=excluded.elevation_expires_ms, "
    "prev_max_active=excluded.prev_max_active, prev_max_per_hour=excluded.prev_max_per_hour, "
    "prev_burst_capacity=excluded.prev_burst_capacity, "
    "prev_refill_per_second=excluded.prev_refill_per_second, version=excluded.version, "
    "created_ms=excluded.created_ms, created_by=excluded.created_by, "
    "updated_ms=excluded.updated_ms, updated_by=excluded.updated_by, "
    "last_reason=excluded.last_reason, last_ticket=excluded.last_ticket RETURNING 1";

static void quota_params(je_pg_params *p, const je_quota_record *q) {
    const je_quota *x = &q->q;
    je_pg_text(p, q->tenant_id);
    je_pg_text(p, q->quota_id);
    je_pg_text(p, q->job_type);
    je_pg_int(p, x->limits.max_active);
    je_pg_int(p, x->limits.max_per_hour);
    je_pg_int(p, x->limits.burst_capacity);
    je_pg_real(p, x->limits.refill_per_second);
    je_pg_int(p, x->paused);
    je_pg_text(p, q->pause_reason);
    je_pg_text(p, q->pause_ticket);
    je_pg_int(p, x->state.active);
    je_pg_int(p, x->state.hour_count);
    je_pg_int(p, x->state.hour_start_ms);
    je_pg_real(p, x->state.tokens);
    je_pg_int(p, x->state.last_refill_ms);
    je_pg_int(p, x->state.throttled);
    je_pg_int(p, x->state.throttled_hour_ms);
    je_pg_opt_int(p, x->elevation_expires_ms);
    je_pg_int(p, x->previous.max_active);
    je_pg_int(p, x->previous.max_per_hour);
    je_pg_int(p, x->previous.burst_capacity);
    je_pg_real(p, x->previous.refill_per_second);
    je_pg_int(p, q->version);
    je_pg_int(p, q->created_ms);
    je_pg_text(p, q->created_by);
    je_pg_int(p, q->updated_ms);
    je_pg_text(p, q->updated_by);
    je_pg_text(p, q->last_reason);
    je_pg_text(p, q->last_ticket);
}

int je_pg_quota_save(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    je_pg_params p = {0};
    quota_params(&p, q);
    PGresult *r = je_pg_exec(tx, save_sql, &p, err);
    int saved = r && PQntuples(r) == 1;
    PQclear(r);
    if (saved) return 0;
    if (r || je_pg_failed_with(tx, "23505"))
        return je_err_set(err, "QUOTA_EXISTS", "a quota for this job type exists already");
    return -1;
}

int je_pg_quota_delete(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant_id);
    je_pg_text(&p, q->quota_id);
    if (je_pg_run(tx, "DELETE FROM permits WHERE tenant_id=$1 AND quota_id=$2", &p, NULL, err))
        return -1;
    return je_pg_run(tx, "DELETE FROM quotas WHERE tenant_id=$1 AND quota_id=$2", &p, NULL, err);
}

int je_pg_permits_release_expired(je_pg_tx *tx, je_quota_record *q, int64_t now, int64_t *freed,
                                  je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant_id);
    je_pg_text(&p, q->quota_id);
    je_pg_int(&p, now);
    int64_t n = 0;
    /* the permit is live while expires_ms > now (je_permit_live), stated as a predicate */
    if (je_pg_run(tx,
                  "DELETE FROM permits WHERE tenant_id=$1 AND quota_id=$2 AND "
                  "expires_ms <= $3::bigint",
                  &p, &n, err) != 0)
        return -1;
    je_quota_release(&q->q, n);
    if (freed) *freed = n;
    return 0;
}

int je_pg_elevation_expire_tx(je_pg_tx *tx, je_quota_record *q, int64_t now, je_err *err) {
    je_quota_record before = *q;
    if (!je_quota_record_elevation_expire(q, now)) return 0;
    je_store *s = tx->s;
    json_t *entry = s && s->hooks && s->hooks->elevation_audit
                        ? s->hooks->elevation_audit(&before, q, now)
                        : NULL;
    int rc = entry ? je_pg_audit_append_tx(tx, entry, err) : 0;
    json_decref(entry);
    return rc;
}

int je_pg_quota_release_slots(je_pg_tx *tx, const char *tenant, const char *quota_id, int64_t n,
                              je_err *err) {
    if (!quota_id || !*quota_id || n <= 0) return 0;
    je_quota_record q;
    int found = je_pg_quota_load(tx, tenant, quota_id, 0, &q, err);
    if (found != JE_STORE_OK) return found == JE_STORE_NOT_FOUND ? 0 : -1;
    je_quota_release(&q.q, n);
    return je_pg_quota_save(tx, &q, err);
}

/* The earliest expiry among q's permits and live leases, and (backfill not NULL) how many of
 * its leases are of the backfill lane: one statement. */
static int64_t expiry_and_backfill(je_pg_tx *tx, const je_quota_record *q, int64_t *backfill,
                                   je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, q->tenant_id);
    je_pg_text(&p, q->quota_id);
    PGresult *r = je_pg_exec(
        tx,
        "SELECT least((SELECT min(expires_ms) FROM permits WHERE tenant_id=$1 AND quota_id=$2), "
        "l.until), l.backfill FROM (SELECT min(lease_until_ms) AS until, count(*) FILTER (WHERE "
        "lane=1) AS backfill FROM jobs WHERE tenant_id=$1 AND quota_id=$2 AND status=1) AS l",
        &p, err);
    if (!r) return INT64_MAX;
    int64_t v = PQntuples(r) == 1 ? je_pg_get_opt(r, 0, 0) : JE_NO_TIME;
    if (backfill) *backfill = PQntuples(r) == 1 ? je_pg_get_int(r, 0, 1) : 0;
    PQclear(r);
    return v;
}

int64_t je_pg_quota_earliest_expiry(je_pg_tx *tx, const je_quota_record *q, je_err *err) {
    return expiry_and_backfill(tx, q, NULL, err);
}

int64_t je_pg_quota_lease_facts(je_pg_tx *tx, const je_quota_record *q, int64_t *backfill,
                                je_err *err) {
    return expiry_and_backfill(tx, q, backfill, err);
}

/* ---- sweeps per quota ---------------------------------------------------------------------- */

typedef struct pairs_arg {
    const char *sql;
    int64_t now;
    PGresult *r;
} pairs_arg;

static int read_pairs(je_pg_tx *tx, void *argp, je_err *err) {
    pairs_arg *a = argp;
    je_pg_params p = {0};
    je_pg_int(&p, a->now);
    PQclear(a->r); /* a read run again after a lost connection starts afresh */
    a->r = je_pg_exec(tx, a->sql, &p, err);
    return a->r ? 0 : JE_STORE_ERROR;
}

typedef struct step_arg {
    je_pg_quota_step step;
    const char *tenant, *quota_id;
    int64_t now, count;
} step_arg;

static int run_step(je_pg_tx *tx, void *argp, je_err *err) {
    step_arg *a = argp;
    a->count = 0; /* a retried transaction counts afresh */
    return a->step(tx, a->tenant, a->quota_id, a->now, &a->count, err);
}

int64_t je_pg_sweep_quotas(je_store *s, const char *pairs_sql, int64_t now, je_pg_quota_step step,
                           je_err *err) {
    pairs_arg pa = {pairs_sql, now, NULL};
    if (je_pg_read(s, read_pairs, &pa, err) < 0) return PQclear(pa.r), JE_STORE_ERROR;
    int64_t total = 0;
    for (int i = 0; i < PQntuples(pa.r); i++) {
        step_arg a = {step, PQgetvalue(pa.r, i, 0), PQgetvalue(pa.r, i, 1), now, 0};
        int rc = je_pg_write(s, run_step, &a, err);
        if (rc < 0) {
            PQclear(pa.r);
            return rc;
        }
        total += a.count;
    }
    PQclear(pa.r);
    return total;
}

/* store/sqlite_rows_breaker.c: circuit breaker rows (sqlite_rows.h), and what a decision or a
 * completion does with a breaker inside its transaction: find the breaker that governs a
 * tenant's work of a job type (making a tenant's own row from the job type's settings on first
 * use), and save it with the audit entry of an opening or closing. */
#include "store/sqlite_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BREAKER_COLS                                                                               \
    "job_type, tenant_id, per_tenant, failure_rate, min_samples, window_ms, open_ms, probes, "     \
    "state, force, opened_ms, bucket_ms, ok, failed, probes_admitted, probes_ok, version, "        \
    "updated_ms, updated_by, last_reason, last_ticket"

static void breaker_from_row(sqlite3_stmt *st, je_breaker_row *r) {
    memset(r, 0, sizeof *r);
    je_sqlite_col_text(st, 0, r->job_type, sizeof r->job_type);
    je_sqlite_col_text(st, 1, r->tenant_id, sizeof r->tenant_id);
    r->per_tenant = sqlite3_column_int(st, 2);
    je_breaker *b = &r->b;
    b->s = (je_breaker_settings){sqlite3_column_double(st, 3), sqlite3_column_int64(st, 4),
                                 sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6),
                                 sqlite3_column_int64(st, 7)};
    b->state = (je_breaker_state)sqlite3_column_int(st, 8);
    b->force = (je_breaker_force)sqlite3_column_int(st, 9);
    b->opened_ms = sqlite3_column_int64(st, 10);
    b->bucket_ms = sqlite3_column_int64(st, 11);
    je_store_buckets_parse((const char *)sqlite3_column_text(st, 12), b->ok);
    je_store_buckets_parse((const char *)sqlite3_column_text(st, 13), b->failed);
    b->probes_admitted = sqlite3_column_int64(st, 14);
    b->probes_ok = sqlite3_column_int64(st, 15);
    r->version = sqlite3_column_int64(st, 16);
    r->updated_ms = sqlite3_column_int64(st, 17);
    je_sqlite_col_text(st, 18, r->updated_by, sizeof r->updated_by);
    je_sqlite_col_text(st, 19, r->last_reason, sizeof r->last_reason);
    je_sqlite_col_text(st, 20, r->last_ticket, sizeof r->last_ticket);
}

int je_sqlite_breaker_load(sqlite3 *db, const char *job_type, const char *tenant,
                           je_breaker_row *out, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db, "SELECT " BREAKER_COLS " FROM breakers WHERE job_type=?1 AND tenant_id=?2", err);
    if (!st) return JE_STORE_ERROR;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) breaker_from_row(st, out);
    je_sqlite_done(st);
    if (step == SQLITE_ROW) return JE_STORE_OK;
    if (step == SQLITE_DONE) return JE_STORE_NOT_FOUND;
    return je_sqlite_fail(err, db, "breaker load"), JE_STORE_ERROR;
}

int je_sqlite_breaker_list_tx(sqlite3 *db, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                              je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "SELECT " BREAKER_COLS " FROM breakers WHERE ?1 IS NULL "
                                         "OR job_type=?1 ORDER BY job_type, tenant_id",
                                         err);
    if (!st) return -1;
    if (job_type) sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    je_breaker_row r;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        breaker_from_row(st, &r);
        if (fn(ctx, &r) != 0) break;
    }
    je_sqlite_done(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "breaker list");
}

int je_sqlite_breaker_save(sqlite3 *db, const je_breaker_row *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(
        db,
        "INSERT OR REPLACE INTO breakers(" BREAKER_COLS
        ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
        err);
    if (!st) return -1;
    const je_breaker *b = &r->b;
    char ok[256], failed[256];
    je_store_buckets_format(b->ok, ok, sizeof ok);
    je_store_buckets_format(b->failed, failed, sizeof failed);
    sqlite3_bind_text(st, 1, r->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->tenant_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->per_tenant);
    sqlite3_bind_double(st, 4, b->s.failure_rate);
    sqlite3_bind_int64(st, 5, b->s.min_samples);
    sqlite3_bind_int64(st, 6, b->s.window_ms);
    sqlite3_bind_int64(st, 7, b->s.open_ms);
    sqlite3_bind_int64(st, 8, b->s.probes);
    sqlite3_bind_int(st, 9, (int)b->state);
    sqlite3_bind_int(st, 10, (int)b->force);
    sqlite3_bind_int64(st, 11, b->opened_ms);
    sqlite3_bind_int64(st, 12, b->bucket_ms);
    sqlite3_bind_text(st, 13, ok, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, failed, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 15, b->probes_admitted);
    sqlite3_bind_int64(st, 16, b->probes_ok);
    sqlite3_bind_int64(st, 17, r->version);
    sqlite3_bind_int64(st, 18, r->updated_ms);
    sqlite3_bind_text(st, 19, r->updated_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 20, r->last_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 21, r->last_ticket, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "breaker save");
}

int je_sqlite_breaker_settings_spread(sqlite3 *db, const je_breaker_row *r, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db,
                                         "UPDATE breakers SET per_tenant=?2, failure_rate=?3, "
                                         "min_samples=?4, window_ms=?5, open_ms=?6, probes=?7 "
                                         "WHERE job_type=?1 AND tenant_id <> ''",
                                         err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, r->job_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, r->per_tenant);
    sqlite3_bind_double(st, 3, r->b.s.failure_rate);
    sqlite3_bind_int64(st, 4, r->b.s.min_samples);
    sqlite3_bind_int64(st, 5, r->b.s.window_ms);
    sqlite3_bind_int64(st, 6, r->b.s.open_ms);
    sqlite3_bind_int64(st, 7, r->b.s.probes);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "breaker settings");
}

int je_sqlite_breaker_delete_all(sqlite3 *db, const char *job_type, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, "DELETE FROM breakers WHERE job_type=?1", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, job_type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? 0 : je_sqlite_fail(err, db, "breaker delete");
}

int je_sqlite_breaker_gate(sqlite3 *db, const char *job_type, const char *tenant, int64_t now,
                           je_breaker_row **out, je_err *err) {
    *out = NULL;
    je_breaker_row *r = malloc(sizeof *r);
    if (!r) return je_err_set(err, "STORE", "out of memory");
    int found = je_sqlite_breaker_load(db, job_type, "", r, err);
    if (found != JE_STORE_OK) return free(r), found == JE_STORE_NOT_FOUND ? 0 : -1;
    /* a forced job type's row holds for every tenant, per tenant or not: the platform's word */
    if (r->per_tenant && r->b.force == JE_BREAKER_AUTO) {
        je_breaker_row own;
        found = je_sqlite_breaker_load(db, job_type, tenant, &own, err);
        if (found < 0) return free(r), -1;
        if (found == JE_STORE_OK) {
            *r = own;
        } else { /* the tenant's first use: a closed breaker with the job type's settings */
            snprintf(r->tenant_id, sizeof r->tenant_id, "%s", tenant);
            je_breaker_settings settings = r->b.s; /* init clears r->b first */
            je_breaker_init(&r->b, &settings, now);
            r->version = 1;
            r->updated_ms = now;
            snprintf(r->updated_by, sizeof r->updated_by, "jobengine");
            r->last_reason[0] = r->last_ticket[0] = '\0';
        }
    }
    je_breaker_advance(&r->b, now);
    *out = r;
    return 0;
}

int je_sqlite_breaker_settle(sqlite3 *db, je_breaker_row *r, je_breaker_state before, int64_t now,
                             je_err *err) {
    json_t *entry = je_store_breaker_entry(r, before, now);
    int rc = je_sqlite_breaker_save(db, r, err);
    if (rc == 0 && entry) rc = je_sqlite_audit_append_tx(db, entry, err);
    json_decref(entry);
    return rc;
}

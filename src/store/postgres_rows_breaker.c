/* store/postgres_rows_breaker.c: circuit breaker rows (postgres_rows.h), as on SQLite
 * (sqlite_rows_breaker.c): the breaker governing a tenant's work of a job type, locked FOR
 * UPDATE, and its save with the audit entry of an opening or closing. */
#include "store/postgres_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BREAKER_COLS                                                                               \
    "job_type, tenant_id, per_tenant, failure_rate, min_samples, window_ms, open_ms, probes, "     \
    "state, force, opened_ms, bucket_ms, ok, failed, probes_admitted, probes_ok, version, "        \
    "updated_ms, updated_by, last_reason, last_ticket"

static void breaker_from_row(const PGresult *res, int row, je_breaker_row *r) {
    memset(r, 0, sizeof *r);
    je_pg_get_text(res, row, 0, r->job_type, sizeof r->job_type);
    je_pg_get_text(res, row, 1, r->tenant_id, sizeof r->tenant_id);
    r->per_tenant = (int)je_pg_get_int(res, row, 2);
    je_breaker *b = &r->b;
    b->s = (je_breaker_settings){je_pg_get_real(res, row, 3), je_pg_get_int(res, row, 4),
                                 je_pg_get_int(res, row, 5), je_pg_get_int(res, row, 6),
                                 je_pg_get_int(res, row, 7)};
    b->state = (je_breaker_state)je_pg_get_int(res, row, 8);
    b->force = (je_breaker_force)je_pg_get_int(res, row, 9);
    b->opened_ms = je_pg_get_int(res, row, 10);
    b->bucket_ms = je_pg_get_int(res, row, 11);
    je_store_buckets_parse(PQgetvalue(res, row, 12), b->ok);
    je_store_buckets_parse(PQgetvalue(res, row, 13), b->failed);
    b->probes_admitted = je_pg_get_int(res, row, 14);
    b->probes_ok = je_pg_get_int(res, row, 15);
    r->version = je_pg_get_int(res, row, 16);
    r->updated_ms = je_pg_get_int(res, row, 17);
    je_pg_get_text(res, row, 18, r->updated_by, sizeof r->updated_by);
    je_pg_get_text(res, row, 19, r->last_reason, sizeof r->last_reason);
    je_pg_get_text(res, row, 20, r->last_ticket, sizeof r->last_ticket);
}

int je_pg_breaker_load(je_pg_tx *tx, const char *job_type, const char *tenant, int lock,
                       je_breaker_row *out, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    je_pg_text(&p, tenant);
    PGresult *res =
        lock
            ? je_pg_exec(tx,
                         "SELECT " BREAKER_COLS
                         " FROM breakers WHERE job_type=$1 AND tenant_id=$2 FOR UPDATE",
                         &p, err)
            : je_pg_exec(tx,
                         "SELECT " BREAKER_COLS " FROM breakers WHERE job_type=$1 AND tenant_id=$2",
                         &p, err);
    if (!res) return JE_STORE_ERROR;
    int found = PQntuples(res) > 0;
    if (found) breaker_from_row(res, 0, out);
    PQclear(res);
    return found ? JE_STORE_OK : JE_STORE_NOT_FOUND;
}

int je_pg_breaker_list_tx(je_pg_tx *tx, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                          je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    PGresult *res =
        je_pg_exec(tx,
                   "SELECT " BREAKER_COLS " FROM breakers WHERE $1::text IS NULL OR "
                   "job_type=$1 ORDER BY job_type COLLATE \"C\", tenant_id COLLATE \"C\"",
                   &p, err);
    if (!res) return -1;
    je_breaker_row r;
    for (int i = 0; i < PQntuples(res); i++) {
        breaker_from_row(res, i, &r);
        if (fn(ctx, &r) != 0) break;
    }
    PQclear(res);
    return 0;
}

int je_pg_breaker_save(je_pg_tx *tx, const je_breaker_row *r, je_err *err) {
    const je_breaker *b = &r->b;
    char ok[256], failed[256];
    je_store_buckets_format(b->ok, ok, sizeof ok);
    je_store_buckets_format(b->failed, failed, sizeof failed);
    je_pg_params p = {0};
    je_pg_text(&p, r->job_type);
    je_pg_text(&p, r->tenant_id);
    je_pg_int(&p, r->per_tenant);
    je_pg_real(&p, b->s.failure_rate);
    je_pg_int(&p, b->s.min_samples);
    je_pg_int(&p, b->s.window_ms);
    je_pg_int(&p, b->s.open_ms);
    je_pg_int(&p, b->s.probes);
    je_pg_int(&p, (int64_t)b->state);
    je_pg_int(&p, (int64_t)b->force);
    je_pg_int(&p, b->opened_ms);
    je_pg_int(&p, b->bucket_ms);
    je_pg_text(&p, ok);
    je_pg_text(&p, failed);
    je_pg_int(&p, b->probes_admitted);
    je_pg_int(&p, b->probes_ok);
    je_pg_int(&p, r->version);
    je_pg_int(&p, r->updated_ms);
    je_pg_text(&p, r->updated_by);
    je_pg_text(&p, r->last_reason);
    je_pg_text(&p, r->last_ticket);
    return je_pg_run(tx,
                     "INSERT INTO breakers(" BREAKER_COLS
                     ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,"
                     "$20,$21) ON CONFLICT (job_type, tenant_id) DO UPDATE SET per_tenant=$3, "
                     "failure_rate=$4, min_samples=$5, window_ms=$6, open_ms=$7, probes=$8, "
                     "state=$9, force=$10, opened_ms=$11, bucket_ms=$12, ok=$13, failed=$14, "
                     "probes_admitted=$15, probes_ok=$16, version=$17, updated_ms=$18, "
                     "updated_by=$19, last_reason=$20, last_ticket=$21",
                     &p, NULL, err);
}

int je_pg_breaker_settings_spread(je_pg_tx *tx, const je_breaker_row *r, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, r->job_type);
    je_pg_int(&p, r->per_tenant);
    je_pg_real(&p, r->b.s.failure_rate);
    je_pg_int(&p, r->b.s.min_samples);
    je_pg_int(&p, r->b.s.window_ms);
    je_pg_int(&p, r->b.s.open_ms);
    je_pg_int(&p, r->b.s.probes);
    return je_pg_run(tx,
                     "UPDATE breakers SET per_tenant=$2, failure_rate=$3, min_samples=$4, "
                     "window_ms=$5, open_ms=$6, probes=$7 WHERE job_type=$1 AND tenant_id <> ''",
                     &p, NULL, err);
}

int je_pg_breaker_delete_all(je_pg_tx *tx, const char *job_type, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, job_type);
    return je_pg_run(tx, "DELETE FROM breakers WHERE job_type=$1", &p, NULL, err);
}

int je_pg_breaker_gate(je_pg_tx *tx, const char *job_type, const char *tenant, int64_t now,
                       je_breaker_row **out, je_err *err) {
    *out = NULL;
    je_breaker_row *r = malloc(sizeof *r);
    if (!r) return je_err_set(err, "STORE", "out of memory");
    int found = je_pg_breaker_load(tx, job_type, "", 1, r, err);
    if (found != JE_STORE_OK) return free(r), found == JE_STORE_NOT_FOUND ? 0 : -1;
    /* a forced job type's row holds for every tenant, per tenant or not: the platform's word */
    if (r->per_tenant && r->b.force == JE_BREAKER_AUTO) {
        je_breaker_row own;
        found = je_pg_breaker_load(tx, job_type, tenant, 1, &own, err);
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

int je_pg_breaker_settle(je_pg_tx *tx, je_breaker_row *r, je_breaker_state before, int64_t now,
                         je_err *err) {
    json_t *entry = je_store_breaker_entry(r, before, now);
    int rc = je_pg_breaker_save(tx, r, err);
    if (rc == 0 && entry) rc = je_pg_audit_append_tx(tx, entry, err);
    json_decref(entry);
    return rc;
}

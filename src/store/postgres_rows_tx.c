/* store/postgres_rows_tx.c: steps every kind of write takes inside its PostgreSQL transaction
 * (the port of sqlite_rows_tx.c): remembering and replaying Idempotency-Keys (api.md §1),
 * serialised per key by a transaction-scoped advisory lock so that two nodes answering the same
 * key at once answer alike, and appending to a tenant's audit chain (domain.md §6), serialised
 * per tenant on its audit_heads row, locked last: the head read FOR UPDATE, the entry sealed by
 * core/audit.h, inserted, the head moved. The head row is the chain's head here; it always
 * agrees with the chain's last entry (both change in the same transaction). */
#include "store/postgres_rows.h"

#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/jcs.h"
#include "core/timefmt.h"

/* ---- idempotency ---- */

#define IDEM_TTL_MS (24LL * 3600 * 1000)

/* First in the lock order: requests with one key wait for each other, whatever they touch. */
static const char IDEM_LOCK[] =
    "SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(31) || $2::text || chr(31) || "
    "$3::text || chr(31) || $4::text, 0))";

static void idem_key_params(je_pg_params *p, const char *tenant, const je_idem *idem) {
    je_pg_text(p, tenant);
    je_pg_text(p, idem->method);
    je_pg_text(p, idem->path);
    je_pg_text(p, idem->key);
}

/* 1 when the key was seen (replayed or mismatch set), 0 when new, -1 error. */
int je_pg_idem_lookup(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    if (!idem || !idem->key) return 0;
    /* a transaction body may run again: this run's answer only */
    free(idem->body);
    idem->body = NULL;
    idem->replayed = idem->mismatch = idem->status = 0;
    je_pg_params p = {0};
    idem_key_params(&p, tenant, idem);
    if (je_pg_run(tx, IDEM_LOCK, &p, NULL, err) < 0) return -1;
    je_pg_int(&p, now - IDEM_TTL_MS);
    PGresult *r = je_pg_exec(tx,
                             "SELECT request_hash, status, body FROM idempotency WHERE "
                             "tenant_id=$1 AND method=$2 AND path=$3 AND idem_key=$4 AND "
                             "created_ms > $5::bigint",
                             &p, err);
    if (!r) return -1;
    int seen = PQntuples(r) > 0;
    if (seen && strcmp(PQgetvalue(r, 0, 0), idem->request_hash) != 0) {
        idem->mismatch = 1;
    } else if (seen) {
        idem->status = (int)je_pg_get_int(r, 0, 1);
        idem->body = strdup(PQgetvalue(r, 0, 2));
        idem->replayed = idem->body != NULL;
        if (!idem->body) seen = je_err_set(err, "STORE", "out of memory");
    }
    PQclear(r);
    return seen;
}

int je_pg_idem_store(je_pg_tx *tx, const char *tenant, je_idem *idem, int64_t now, je_err *err) {
    if (!idem || !idem->key || !idem->render) return 0;
    int status = 0;
    char *body = idem->render(idem->render_ctx, &status);
    if (!body) return je_err_set(err, "STORE", "idempotent response could not be rendered");
    je_pg_params p = {0};
    idem_key_params(&p, tenant, idem);
    je_pg_text(&p, idem->request_hash);
    je_pg_int(&p, status);
    je_pg_text(&p, body);
    je_pg_int(&p, now);
    /* an expired row of the same key is replaced, as SQLite's INSERT OR REPLACE does */
    int rc = je_pg_run(tx,
                       "INSERT INTO idempotency(tenant_id, method, path, idem_key, request_hash, "
                       "status, body, created_ms) VALUES($1,$2,$3,$4,$5,$6::integer,$7,$8::bigint) "
                       "ON CONFLICT (tenant_id, method, path, idem_key) DO UPDATE SET "
                       "request_hash=excluded.request_hash, status=excluded.status, "
                       "body=excluded.body, created_ms=excluded.created_ms",
                       &p, NULL, err);
    free(body);
    return rc;
}

/* ---- audit ---- */

static const char *member_str(const json_t *entry, const char *key) {
    return json_string_value(json_object_get(entry, key)); /* NULL when absent or not a string */
}

/* Locks the tenant's head row (created at sequence 0 when the chain is empty) and reads it. */
static int audit_head_lock(je_pg_tx *tx, const char *tenant, int64_t *seq,
                           char hash[JE_AUDIT_HASH_LEN + 1], je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    if (je_pg_run(tx,
                  "INSERT INTO audit_heads(tenant_id, head_sequence, head_hash) "
                  "VALUES($1, 0, '" JE_AUDIT_ZERO_HASH "') ON CONFLICT DO NOTHING",
                  &p, NULL, err) < 0)
        return -1;
    PGresult *r = je_pg_exec(
        tx, "SELECT head_sequence, head_hash FROM audit_heads WHERE tenant_id=$1 FOR UPDATE", &p,
        err);
    if (!r) return -1;
    int ok = 0;
    if (PQntuples(r) != 1 || PQgetlength(r, 0, 1) != JE_AUDIT_HASH_LEN) {
        ok = je_err_set(err, "STORE", "corrupt audit head of %s", tenant);
    } else {
        *seq = je_pg_get_int(r, 0, 0);
        je_pg_get_text(r, 0, 1, hash, JE_AUDIT_HASH_LEN + 1);
    }
    PQclear(r);
    return ok;
}

static int audit_insert(je_pg_tx *tx, const je_audit_row *row, je_err *err) {
    je_pg_params p = {0};
    je_pg_text(&p, row->tenant);
    je_pg_int(&p, row->sequence);
    je_pg_text(&p, row->entry_id);
    je_pg_text(&p, row->event_type);
    je_pg_text(&p, row->resource_type);
    je_pg_text(&p, row->resource_id);
    je_pg_text(&p, row->actor_id);
    je_pg_int(&p, row->occurred_ms);
    je_pg_text(&p, row->hash);
    je_pg_text(&p, row->text);
    return je_pg_run(tx,
                     "INSERT INTO audit_entries(tenant_id, sequence, entry_id, event_type, "
                     "resource_type, resource_id, actor_id, occurred_ms, hash, entry_json) "
                     "VALUES($1,$2::bigint,$3,$4,$5,$6,$7,$8::bigint,$9,$10)",
                     &p, NULL, err);
}

int je_pg_audit_append_tx(je_pg_tx *tx, json_t *entry, je_err *err) {
    int64_t head = 0;
    char head_hash[JE_AUDIT_HASH_LEN + 1];
    const char *tenant = member_str(entry, "tenantId");
    if (!tenant) return je_err_field(err, "AUDIT_INVALID", "tenantId", "audit entry has no tenant");
    if (audit_head_lock(tx, tenant, &head, head_hash, err) < 0) return -1;
    if (je_audit_entry_seal(entry, head + 1, head_hash, err) < 0) return -1;
    je_audit_row row;
    if (je_audit_row_of(entry, &row, err) != 0) return -1;
    int rc = audit_insert(tx, &row, err);
    je_pg_params p = {0};
    je_pg_text(&p, tenant);
    je_pg_int(&p, head + 1);
    je_pg_text(&p, row.hash);
    if (rc == 0)
        rc = je_pg_run(tx,
                       "UPDATE audit_heads SET head_sequence=$2::bigint, head_hash=$3 WHERE "
                       "tenant_id=$1",
                       &p, NULL, err);
    if (rc == 0) je_pg_note_event(tx, row.event_type);
    free(row.text);
    return rc;
}

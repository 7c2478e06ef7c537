/* store/postgres_audit.c: the PostgreSQL backend's audit chains (domain.md §6; the port of
 * sqlite_audit.c and of the head reads of sqlite_checkpoint.c): appends on their own (the
 * append itself, shared with every write that audits, is postgres_rows_tx.c), lists, scans, a
 * chain's head and the hash at a sequence. entry_json holds the canonical (JCS) form of the
 * whole entry; the other columns are copies for filtering. */
#include "store/postgres_ops.h"

#include <string.h>

#include "core/audit.h"

static int audit_append_tx(je_pg_tx *tx, void *entry, je_err *err) {
    return je_pg_audit_append_tx(tx, entry, err);
}

int je_pg_audit_append(je_store *s, json_t *entry, je_err *err) {
    if (!json_is_object(entry))
        return je_err_set(err, "AUDIT_INVALID", "audit entry not an object");
    return je_pg_write(s, audit_append_tx, entry, err);
}

/* Visits the rows (sequence, entry_json) of r until fn stops it: 1 when it stopped. *last gets
 * the last sequence visited. */
static int visit_entries(const PGresult *r, je_audit_visit_fn fn, void *ctx, int64_t *last) {
    for (int i = 0; i < PQntuples(r); i++) {
        *last = je_pg_get_int(r, i, 0);
        if (fn(ctx, *last, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1)) != 0) return 1;
    }
    return 0;
}

typedef struct audit_list_arg {
    const char *tenant;
    const je_audit_filter *f;
    je_audit_visit_fn fn;
    void *ctx;
} audit_list_arg;

/* One statement for every filter: an unused filter is a NULL parameter (or the full range). */
static int audit_list_fn(je_pg_tx *tx, void *arg, je_err *err) {
    audit_list_arg *a = arg;
    const je_audit_filter *f = a->f;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_int(&p, f->after_sequence);
    if (f->limit < 0)
        je_pg_text(&p, NULL); /* LIMIT NULL: no limit (SQLite's LIMIT -1) */
    else
        je_pg_int(&p, f->limit);
    je_pg_text(&p, f->event_type);
    je_pg_text(&p, f->resource_type);
    je_pg_text(&p, f->resource_id);
    je_pg_text(&p, f->actor);
    je_pg_int(&p, f->since_ms);
    je_pg_int(&p, f->until_ms);
    PGresult *r = je_pg_exec(tx,
                             "SELECT sequence, entry_json FROM audit_entries WHERE tenant_id=$1 "
                             "AND sequence > $2::bigint "
                             "AND ($4::text IS NULL OR event_type=$4::text) "
                             "AND ($5::text IS NULL OR resource_type=$5::text) "
                             "AND ($6::text IS NULL OR resource_id=$6::text) "
                             "AND ($7::text IS NULL OR actor_id=$7::text) "
                             "AND occurred_ms >= $8::bigint AND occurred_ms < $9::bigint "
                             "ORDER BY sequence LIMIT $3::bigint",
                             &p, err);
    if (!r) return -1;
    int64_t last = 0;
    visit_entries(r, a->fn, a->ctx, &last);
    PQclear(r);
    return 0;
}

int je_pg_audit_list(je_store *s, const char *tenant, const je_audit_filter *filter,
                     je_audit_visit_fn fn, void *ctx, je_err *err) {
    je_audit_filter all = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, 0, -1};
    audit_list_arg a = {tenant, filter ? filter : &all, fn, ctx};
    return je_pg_read(s, audit_list_fn, &a, err) < 0 ? -1 : 0;
}

/* A chain is scanned a page at a time (memory stays bounded for long chains); each page is a
 * read of its own, visited once its rows are all in. */
#define SCAN_PAGE 1000

typedef struct audit_scan_arg {
    const char *tenant;
    int64_t from;
    je_audit_visit_fn fn;
    void *ctx;
    int rows, stopped;
    int64_t last;
} audit_scan_arg;

static int audit_scan_fn(je_pg_tx *tx, void *arg, je_err *err) {
    audit_scan_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_int(&p, a->from);
    je_pg_int(&p, SCAN_PAGE);
    PGresult *r = je_pg_exec(tx,
                             "SELECT sequence, entry_json FROM audit_entries WHERE tenant_id=$1 "
                             "AND sequence >= $2::bigint ORDER BY sequence LIMIT $3::bigint",
                             &p, err);
    if (!r) return -1;
    a->rows = PQntuples(r);
    a->stopped = visit_entries(r, a->fn, a->ctx, &a->last);
    PQclear(r);
    return 0;
}

int je_pg_audit_scan(je_store *s, const char *tenant, int64_t from_sequence, je_audit_visit_fn fn,
                     void *ctx, je_err *err) {
    audit_scan_arg a = {tenant, from_sequence, fn, ctx, 0, 0, 0};
    for (;;) {
        if (je_pg_read(s, audit_scan_fn, &a, err) < 0) return -1;
        if (a.stopped || a.rows < SCAN_PAGE) return 0;
        a.from = a.last + 1;
    }
}

typedef struct seq_hash_arg {
    const char *tenant;
    int64_t *seq;
    char *hash;
} seq_hash_arg;

/* The head row (the one appends lock and move); none: the empty chain. */
static int audit_head_fn(je_pg_tx *tx, void *arg, je_err *err) {
    seq_hash_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    PGresult *r = je_pg_exec(
        tx, "SELECT head_sequence, head_hash FROM audit_heads WHERE tenant_id=$1", &p, err);
    if (!r) return -1;
    *a->seq = 0;
    memcpy(a->hash, JE_AUDIT_ZERO_HASH, JE_AUDIT_HASH_LEN + 1);
    if (PQntuples(r) == 1 && je_pg_get_int(r, 0, 0) > 0) {
        *a->seq = je_pg_get_int(r, 0, 0);
        je_pg_get_text(r, 0, 1, a->hash, JE_AUDIT_HASH_LEN + 1);
    }
    PQclear(r);
    return 0;
}

int je_pg_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65], je_err *err) {
    seq_hash_arg a = {tenant, seq, hash};
    return je_pg_read(s, audit_head_fn, &a, err) < 0 ? -1 : 0;
}

static int audit_hash_at_fn(je_pg_tx *tx, void *arg, je_err *err) {
    seq_hash_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    je_pg_int(&p, *a->seq);
    PGresult *r = je_pg_exec(
        tx, "SELECT hash FROM audit_entries WHERE tenant_id=$1 AND sequence=$2::bigint", &p, err);
    if (!r) return -1;
    int found = PQntuples(r) == 1 ? JE_STORE_OK : JE_STORE_NOT_FOUND;
    if (found == JE_STORE_OK) je_pg_get_text(r, 0, 0, a->hash, JE_AUDIT_HASH_LEN + 1);
    PQclear(r);
    return found;
}

int je_pg_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65], je_err *err) {
    seq_hash_arg a = {tenant, &seq, hash};
    int found = je_pg_read(s, audit_hash_at_fn, &a, err);
    return found < 0 ? -1 : found;
}

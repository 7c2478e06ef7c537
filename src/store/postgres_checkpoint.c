/* store/postgres_checkpoint.c: the PostgreSQL backend's signed checkpoints (the port of
 * sqlite_checkpoint.c; the head reads are postgres_audit.c). A checkpoint of a (tenant,
 * head_sequence) is stored once: when every node signs the same head at once, the first one
 * stays and the others change nothing, so a chain's checkpoints never fork. */
#include "store/postgres_ops.h"

#include <stdlib.h>

static int put_tx(je_pg_tx *tx, void *arg, je_err *err) {
    const je_checkpoint_record *c = arg;
    je_pg_params p = {0};
    je_pg_text(&p, c->tenant_id);
    je_pg_int(&p, c->head_sequence);
    je_pg_text(&p, c->head_hash);
    je_pg_text(&p, c->checkpoint_json);
    je_pg_text(&p, c->signature);
    je_pg_text(&p, c->kid);
    je_pg_int(&p, c->issued_ms);
    return je_pg_run(tx,
                     "INSERT INTO audit_checkpoints(tenant_id, head_sequence, head_hash, "
                     "checkpoint_json, signature, kid, issued_ms) "
                     "VALUES($1,$2::bigint,$3,$4,$5,$6,$7::bigint) "
                     "ON CONFLICT (tenant_id, head_sequence) DO NOTHING",
                     &p, NULL, err);
}

/* 0 whether this checkpoint was stored or one of the same head already was (SQLite's INSERT OR
 * IGNORE). */
int je_pg_checkpoint_put(je_store *s, const je_checkpoint_record *c, je_err *err) {
    return je_pg_write(s, put_tx, (void *)c, err);
}

typedef struct list_arg {
    const char *tenant;
    je_checkpoint_visit_fn fn;
    void *ctx;
} list_arg;

static int list_fn(je_pg_tx *tx, void *arg, je_err *err) {
    list_arg *a = arg;
    je_pg_params p = {0};
    je_pg_text(&p, a->tenant);
    PGresult *r = je_pg_exec(tx,
                             "SELECT tenant_id, head_sequence, head_hash, checkpoint_json, "
                             "signature, kid, issued_ms FROM audit_checkpoints WHERE tenant_id=$1 "
                             "ORDER BY head_sequence",
                             &p, err);
    if (!r) return -1;
    je_checkpoint_record c;
    for (int i = 0; i < PQntuples(r); i++) {
        je_pg_get_text(r, i, 0, c.tenant_id, sizeof c.tenant_id);
        c.head_sequence = je_pg_get_int(r, i, 1);
        je_pg_get_text(r, i, 2, c.head_hash, sizeof c.head_hash);
        je_pg_get_text(r, i, 3, c.checkpoint_json, sizeof c.checkpoint_json);
        je_pg_get_text(r, i, 4, c.signature, sizeof c.signature);
        je_pg_get_text(r, i, 5, c.kid, sizeof c.kid);
        c.issued_ms = je_pg_get_int(r, i, 6);
        if (a->fn(a->ctx, &c)) break;
    }
    PQclear(r);
    return 0;
}

int je_pg_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                          je_err *err) {
    list_arg a = {tenant, fn, ctx};
    return je_pg_read(s, list_fn, &a, err) < 0 ? -1 : 0;
}

typedef struct due_head {
    char tenant[JE_TENANT_MAX + 1];
    int64_t seq;
    char hash[65];
} due_head;

typedef struct due_arg {
    int64_t every_n, every_ms, now_ms;
    due_head *heads;
    int n;
} due_arg;

/* Per tenant: its head against its last checkpoint. A head row still at 0 is an empty chain
 * (SQLite has no head row for one). The heads are copied out: the visitor stores checkpoints,
 * on a connection of its own, once this one is back in the pool. */
static int due_fn(je_pg_tx *tx, void *arg, je_err *err) {
    due_arg *a = arg;
    free(a->heads);
    a->heads = NULL;
    a->n = 0;
    je_pg_params p = {0};
    je_pg_int(&p, a->every_n);
    je_pg_int(&p, a->every_ms);
    je_pg_int(&p, a->now_ms);
    PGresult *r = je_pg_exec(
        tx,
        "SELECT h.tenant_id, h.head_sequence, h.head_hash FROM audit_heads h LEFT JOIN "
        "(SELECT tenant_id, max(head_sequence) AS cs, max(issued_ms) AS ci FROM "
        "audit_checkpoints GROUP BY tenant_id) c ON c.tenant_id=h.tenant_id "
        "WHERE h.head_sequence > 0 AND (c.cs IS NULL OR h.head_sequence - c.cs >= $1::bigint "
        "OR (h.head_sequence > c.cs AND $3::bigint - c.ci >= $2::bigint)) "
        "ORDER BY h.tenant_id COLLATE \"C\"",
        &p, err);
    if (!r) return -1;
    int n = PQntuples(r);
    a->heads = n ? calloc((size_t)n, sizeof *a->heads) : NULL;
    if (n && !a->heads) {
        PQclear(r);
        return je_err_set(err, "STORE", "out of memory");
    }
    for (a->n = 0; a->n < n; a->n++) {
        due_head *h = &a->heads[a->n];
        je_pg_get_text(r, a->n, 0, h->tenant, sizeof h->tenant);
        h->seq = je_pg_get_int(r, a->n, 1);
        je_pg_get_text(r, a->n, 2, h->hash, sizeof h->hash);
    }
    PQclear(r);
    return 0;
}

int je_pg_checkpoints_due(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                          je_head_visit_fn fn, void *ctx, je_err *err) {
    due_arg a = {every_n, every_ms, now_ms, NULL, 0};
    int rc = je_pg_read(s, due_fn, &a, err) < 0 ? -1 : 0;
    for (int i = 0; rc == 0 && i < a.n; i++)
        if (fn(ctx, a.heads[i].tenant, a.heads[i].seq, a.heads[i].hash)) break;
    free(a.heads);
    return rc;
}

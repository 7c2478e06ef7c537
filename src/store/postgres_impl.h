/* store/postgres_impl.h: the first tier of the PostgreSQL backend (not a public header).
 * postgres.c owns the connections (a pool: a connection serves one thread at a time, libpq
 * connections are never shared), statements prepared once per connection, reconnection with
 * backoff, migrations under an advisory lock, and the transaction runner that retries a whole
 * transaction after a deadlock or a serialization failure. Above it, postgres_rows.h (records
 * to rows, shared transaction steps), then the operations (postgres_ops.h).
 *
 * Isolation is READ COMMITTED with explicit row locks, always taken in one order: quota rows
 * (sorted by id), then capacity pool rows (sorted by job type), then job rows, then the tenant's
 * audit head. */
#ifndef JE_STORE_POSTGRES_IMPL_H
#define JE_STORE_POSTGRES_IMPL_H

#include <libpq-fe.h>
#include "store/store.h"

typedef struct je_pg_conn je_pg_conn;

#define JE_PG_MAX_EVENTS 16

/* One transaction (or one read) on one borrowed connection. */
typedef struct je_pg_tx {
    je_store *s;
    je_pg_conn *c;
    PGconn *conn;
    char sqlstate[6];  /* of the last failed statement ("" when none) */
    int begin_pending; /* BEGIN goes out with the first statement, in one round trip */
    int lost;          /* the connection broke under a statement */
    /* audit entries appended, reported to hooks->audit_appended after COMMIT */
    int n_events;
    char events[JE_PG_MAX_EVENTS][64];
} je_pg_tx;

/* A transaction body. Returns a result >= 0 (committed, then returned by je_pg_write) or < 0
 * with err set (rolled back). It may run more than once (see je_pg_write): it sets every output
 * from scratch. */
typedef int (*je_pg_tx_fn)(je_pg_tx *tx, void *arg, je_err *err);

/* Runs fn inside BEGIN ... COMMIT on a borrowed connection. A deadlock (40P01), a serialization
 * failure (40001) or a connection lost before COMMIT rolls back and runs fn again, a bounded
 * number of times (then JE_STORE_RETRY). A connection lost during COMMIT is
 * JE_STORE_UNKNOWN_OUTCOME. Returns fn's result, or a negative je_store_rc with err set. */
int je_pg_write(je_store *s, je_pg_tx_fn fn, void *arg, je_err *err);
/* Runs fn outside a transaction (each statement on its own): reads. Retried once on a
 * connection lost. */
int je_pg_read(je_store *s, je_pg_tx_fn fn, void *arg, je_err *err);

/* Parameters, all sent as text. */
#define JE_PG_MAX_PARAMS 32
typedef struct je_pg_params {
    int n;
    const char *v[JE_PG_MAX_PARAMS];
    char buf[JE_PG_MAX_PARAMS][32];
    char *owned[4]; /* hex of bytea parameters, freed by je_pg_params_free */
    int n_owned;
} je_pg_params;

void je_pg_text(je_pg_params *p, const char *s);     /* NULL: SQL NULL */
void je_pg_opt_text(je_pg_params *p, const char *s); /* NULL or "": SQL NULL */
void je_pg_int(je_pg_params *p, int64_t v);
void je_pg_opt_int(je_pg_params *p, int64_t v); /* JE_NO_TIME: SQL NULL */
void je_pg_real(je_pg_params *p, double v);
void je_pg_bytea(je_pg_params *p, const unsigned char *b, size_t n);
void je_pg_params_free(je_pg_params *p);

/* Executes sql (a string literal: it is prepared once per connection, keyed by its address)
 * with p (NULL: none). Returns the result (PQclear it) when it succeeded, NULL with err set
 * (code "STORE") and tx->sqlstate/tx->lost set when it failed. */
PGresult *je_pg_exec(je_pg_tx *tx, const char *sql, const je_pg_params *p, je_err *err);
/* As je_pg_exec for a statement whose rows are not needed: 0 (*changes, optional, gets the rows
 * changed) or -1. */
int je_pg_run(je_pg_tx *tx, const char *sql, const je_pg_params *p, int64_t *changes, je_err *err);
/* Whether the last failed statement failed with SQLSTATE code (e.g. "23505"). */
int je_pg_failed_with(const je_pg_tx *tx, const char *code);

/* Values of a result, by row and column. */
void je_pg_get_text(const PGresult *r, int row, int col, char *dst, size_t cap); /* NULL: "" */
int64_t je_pg_get_int(const PGresult *r, int row, int col);                      /* NULL: 0 */
int64_t je_pg_get_opt(const PGresult *r, int row, int col); /* NULL: JE_NO_TIME */
double je_pg_get_real(const PGresult *r, int row, int col);
/* A bytea column into exactly n bytes: 0, or -1 when its length differs. */
int je_pg_get_bytea(const PGresult *r, int row, int col, unsigned char *out, size_t n);

/* Reports an audit entry appended in this transaction (hooks->audit_appended after COMMIT). */
void je_pg_note_event(je_pg_tx *tx, const char *event_type);

/* The lifecycle (postgres.c), for the ops table (postgres_ops.c): connects to the database
 * named by conninfo (a postgres:// or postgresql:// URL, or "" for libpq's PG* environment),
 * migrates it; NULL with err set. */
je_store *je_pg_open(const char *conninfo, const je_store_ops *ops, je_err *err);
void je_pg_close(je_store *s);
int je_pg_ping(je_store *s, je_err *err);
int je_pg_schema_version(je_store *s);
int je_pg_db_clock(je_store *s, int64_t *db_ms, je_err *err);

#endif

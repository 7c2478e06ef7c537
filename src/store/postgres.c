/* store/postgres.c: the PostgreSQL backend's connections and lifecycle. Owns the pool of
 * connections (each serves one thread at a time), statements prepared once per connection,
 * reconnection with backoff, the migrations of store/migrations/postgres/ applied under an
 * advisory lock, and the transaction runner (postgres_impl.h). The operations live in the files
 * of postgres_ops.h, over the rows of postgres_rows.h. */
#include "store/postgres_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/random.h"
#include "core/quota.h"

/* Generated from src/store/migrations/postgres/NNN_name.sql by scripts/embed_files.cmake. */
struct je_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct je_migration je_pg_migrations[];

#define POOL_DEFAULT 32
#define POOL_LIMIT 1000
#define POOL_WAIT_MS 10000 /* a thread waits this long for a free connection, then 503 */
#define STMT_MAX 256
#define TX_ATTEMPTS 8 /* runs of one transaction body before JE_STORE_RETRY */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* Nothing waits on the database past these (then the route answers 503). */
#define SESSION_SETTINGS                                                                           \
    "SET statement_timeout = 15000; SET lock_timeout = 10000; "                                    \
    "SET idle_in_transaction_session_timeout = 60000"
/* One key for the migrations of every JobEngine node of a database ("JobEng" in ASCII). */
#define MIGRATE_LOCK "74565427818087"

struct je_pg_conn {
    PGconn *conn;
    int n_stmts;
    const char *stmts[STMT_MAX]; /* the SQL (by address) of statement "jeN" */
};

typedef struct je_pg {
    je_store store; /* store.impl points back here */
    char *conninfo;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    je_pg_conn **idle;
    int n_idle, n_open, max;
    int64_t retry_at_ns; /* no new connection is tried before this (backoff) */
    int backoff_ms;
    char last_error[512];
} je_pg;

static je_pg *impl(je_store *s) {
    return (je_pg *)s->impl;
}

/* The first line of a libpq message, without its trailing newline. */
static void first_line(const char *msg, char *dst, size_t cap) {
    if (!msg) msg = "";
    size_t n = strcspn(msg, "\n");
    if (n >= cap) n = cap - 1;
    memcpy(dst, msg, n);
    dst[n] = 0;
}

/* ---- connections ------------------------------------------------------------------------- */

/* Notices ("relation already exists, skipping") would go to stderr, where the logs are JSON
 * lines: they are dropped. */
static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const char *conninfo, je_err *err) {
    /* Defaults first: the URL's own settings (expanded from dbname) override them. */
    const char *keys[] = {"connect_timeout",
                          "application_name",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          NULL};
    const char *vals[] = {"5", "jobengine", "1", "5", "2", "3", "10000", conninfo, NULL};
    if (!conninfo || !*conninfo) keys[7] = NULL; /* libpq's PG* environment names the database */
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char line[256];
        first_line(c ? PQerrorMessage(c) : "out of memory", line, sizeof line);
        je_err_set(err, "STORE", "cannot connect to PostgreSQL: %s", line);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    PGresult *r = PQexec(c, SESSION_SETTINGS);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        je_err_set(err, "STORE", "cannot configure the PostgreSQL session");
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void conn_free(je_pg_conn *c) {
    if (!c) return;
    PQfinish(c->conn);
    free(c);
}

/* A new connection, unless the last attempt failed less than the backoff ago. */
static je_pg_conn *conn_open(je_pg *q, je_err *err) {
    int64_t now = je_mono_ns();
    pthread_mutex_lock(&q->mu);
    int wait = now < q->retry_at_ns;
    char last[sizeof q->last_error];
    memcpy(last, q->last_error, sizeof last);
    pthread_mutex_unlock(&q->mu);
    if (wait) {
        je_err_set(err, "STORE", "PostgreSQL is unreachable (%s); retrying", last);
        return NULL;
    }
    je_pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        je_err_set(err, "STORE", "out of memory");
        return NULL;
    }
    c->conn = connect_db(q->conninfo, err);
    pthread_mutex_lock(&q->mu);
    if (!c->conn) {
        q->backoff_ms = q->backoff_ms ? q->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (q->backoff_ms > BACKOFF_MAX_MS) q->backoff_ms = BACKOFF_MAX_MS;
        q->retry_at_ns = je_mono_ns() + (int64_t)q->backoff_ms * 1000000;
        snprintf(q->last_error, sizeof q->last_error, "%s", err->message);
    } else {
        q->backoff_ms = 0;
        q->retry_at_ns = 0;
    }
    pthread_mutex_unlock(&q->mu);
    if (!c->conn) {
        free(c);
        return NULL;
    }
    return c;
}

/* Borrows a connection for the calling thread: an idle one, a new one while the pool has room,
 * else waits (bounded) for one to come back. NULL with err set. */
static je_pg_conn *borrow(je_pg *q, je_err *err) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->n_idle > 0) {
            je_pg_conn *c = q->idle[--q->n_idle];
            pthread_mutex_unlock(&q->mu);
            return c;
        }
        if (q->n_open < q->max) {
            q->n_open++;
            pthread_mutex_unlock(&q->mu);
            je_pg_conn *c = conn_open(q, err);
            if (!c) {
                pthread_mutex_lock(&q->mu);
                q->n_open--;
                pthread_cond_signal(&q->cv);
                pthread_mutex_unlock(&q->mu);
            }
            return c;
        }
        if (pthread_cond_timedwait(&q->cv, &q->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&q->mu);
            je_err_set(err, "STORE", "all %d PostgreSQL connections stayed busy for %d ms", q->max,
                       POOL_WAIT_MS);
            return NULL;
        }
    }
}

/* Gives a connection back; a broken one (or one left inside a transaction) is closed. */
static void give_back(je_pg *q, je_pg_conn *c) {
    int broken = PQstatus(c->conn) != CONNECTION_OK || PQtransactionStatus(c->conn) != PQTRANS_IDLE;
    pthread_mutex_lock(&q->mu);
    if (broken) {
        q->n_open--;
    } else {
        q->idle[q->n_idle++] = c;
        c = NULL;
    }
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    conn_free(c);
}

/* ---- statements -------------------------------------------------------------------------- */

/* What a SQLSTATE says about the database server's disk, as the SQLite backend says it. */
static const char *disk_problem(const char *state) {
    if (strcmp(state, "53100") == 0) return "the disk holding the store is full; ";
    if (strcmp(state, "58030") == 0) return "the store's files could not be read or written; ";
    return "";
}

static void note_failure(je_pg_tx *tx, PGresult *r, const char *sql, je_err *err) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(tx->sqlstate, sizeof tx->sqlstate, "%s", state ? state : "");
    tx->lost = PQstatus(tx->conn) != CONNECTION_OK;
    char line[300];
    first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(tx->conn), line, sizeof line);
    if (!*line) snprintf(line, sizeof line, "%s", "no answer from the server");
    /* the statement's first words say which one failed; parameters are never shown */
    je_err_set(err, "STORE", "%sPostgreSQL: %s (in: %.48s)", disk_problem(tx->sqlstate), line, sql);
}

/* BEGIN and a transaction's first statement in one round trip (libpq's pipeline mode): the
 * statement's result, or NULL when the connection failed; a failed BEGIN fails the statement
 * (PGRES_PIPELINE_ABORTED). */
static PGresult *begin_with(je_pg_tx *tx, const char *name, const char *sql, int n,
                            const char *const *vals) {
    PGconn *c = tx->conn;
    if (PQenterPipelineMode(c) != 1) return NULL;
    int sent = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
               (name ? PQsendQueryPrepared(c, name, n, vals, NULL, NULL, 0)
                     : PQsendQueryParams(c, sql, n, NULL, vals, NULL, NULL, 0)) == 1 &&
               PQpipelineSync(c) == 1;
    PGresult *begin = NULL, *stmt = NULL;
    for (int step = 0; sent && step < 2; step++) { /* each query's result, then its NULL */
        PGresult *r = PQgetResult(c);
        if (!r) break;
        if (step == 0)
            begin = r;
        else
            stmt = r;
        while ((r = PQgetResult(c)) != NULL) PQclear(r);
    }
    for (PGresult *r; sent && (r = PQgetResult(c)) != NULL;) { /* up to the sync */
        int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync) break;
    }
    PQexitPipelineMode(c);
    if (begin && PQresultStatus(begin) != PGRES_COMMAND_OK && stmt) {
        PQclear(stmt); /* aborted: the BEGIN's own error says why */
        stmt = begin;
        begin = NULL;
    }
    PQclear(begin);
    return stmt;
}

PGresult *je_pg_exec(je_pg_tx *tx, const char *sql, const je_pg_params *p, je_err *err) {
    je_pg_conn *c = tx->c;
    int i = 0;
    while (i < c->n_stmts && c->stmts[i] != sql) i++;
    char name[16];
    snprintf(name, sizeof name, "je%d", i);
    int n = p ? p->n : 0;
    const char *const *vals = p ? p->v : NULL;
    PGresult *r;
    if (i == c->n_stmts && i < STMT_MAX) {
        r = PQprepare(c->conn, name, sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            note_failure(tx, r, sql, err);
            PQclear(r);
            return NULL;
        }
        PQclear(r);
        c->stmts[c->n_stmts++] = sql;
    }
    if (tx->begin_pending) {
        tx->begin_pending = 0;
        r = begin_with(tx, i < STMT_MAX ? name : NULL, sql, n, vals);
    } else if (i < STMT_MAX) {
        r = PQexecPrepared(c->conn, name, n, vals, NULL, NULL, 0);
    } else {
        r = PQexecParams(c->conn, sql, n, NULL, vals, NULL, NULL, 0);
    }
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    note_failure(tx, r, sql, err);
    PQclear(r);
    return NULL;
}

int je_pg_run(je_pg_tx *tx, const char *sql, const je_pg_params *p, int64_t *changes, je_err *err) {
    PGresult *r = je_pg_exec(tx, sql, p, err);
    if (!r) return -1;
    if (changes) *changes = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int je_pg_failed_with(const je_pg_tx *tx, const char *code) {
    return strcmp(tx->sqlstate, code) == 0;
}

/* A statement of the runner itself (BEGIN, COMMIT, ROLLBACK): 0 or -1 with err set. */
static int simple(je_pg_tx *tx, const char *sql, je_err *err) {
    PGresult *r = PQexec(tx->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    /* COMMIT of a transaction that had failed answers ROLLBACK: nothing was committed */
    if (ok && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        je_err_set(err, "STORE", "PostgreSQL rolled the transaction back");
        ok = 0;
        tx->lost = 0;
        tx->sqlstate[0] = 0;
    } else if (!ok) {
        note_failure(tx, r, sql, err);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* ---- parameters and values --------------------------------------------------------------- */

static void push(je_pg_params *p, const char *v) {
    if (p->n < JE_PG_MAX_PARAMS) p->v[p->n++] = v;
}

void je_pg_text(je_pg_params *p, const char *s) {
    push(p, s);
}

void je_pg_opt_text(je_pg_params *p, const char *s) {
    push(p, s && *s ? s : NULL);
}

void je_pg_int(je_pg_params *p, int64_t v) {
    if (p->n >= JE_PG_MAX_PARAMS) return;
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%" PRId64, v);
    push(p, p->buf[p->n]);
}

void je_pg_opt_int(je_pg_params *p, int64_t v) {
    if (v == JE_NO_TIME)
        push(p, NULL);
    else
        je_pg_int(p, v);
}

void je_pg_real(je_pg_params *p, double v) {
    if (p->n >= JE_PG_MAX_PARAMS) return;
    snprintf(p->buf[p->n], sizeof p->buf[p->n], "%.17g", v);
    push(p, p->buf[p->n]);
}

void je_pg_bytea(je_pg_params *p, const unsigned char *b, size_t n) {
    char *hex = p->n_owned < 4 ? malloc(2 * n + 3) : NULL;
    if (!hex) {
        push(p, NULL); /* a NOT NULL column refuses it: the statement fails, nothing is stored */
        return;
    }
    hex[0] = '\\';
    hex[1] = 'x';
    for (size_t i = 0; i < n; i++) snprintf(hex + 2 + 2 * i, 3, "%02x", b[i]);
    hex[2 + 2 * n] = 0;
    p->owned[p->n_owned++] = hex;
    push(p, hex);
}

void je_pg_params_free(je_pg_params *p) {
    for (int i = 0; i < p->n_owned; i++) free(p->owned[i]);
    p->n_owned = 0;
}

void je_pg_get_text(const PGresult *r, int row, int col, char *dst, size_t cap) {
    const char *v = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
    snprintf(dst, cap, "%s", v);
}

int64_t je_pg_get_int(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int64_t je_pg_get_opt(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? JE_NO_TIME : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double je_pg_get_real(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? 0.0 : strtod(PQgetvalue(r, row, col), NULL);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int je_pg_get_bytea(const PGresult *r, int row, int col, unsigned char *out, size_t n) {
    const char *v = PQgetvalue(r, row, col);
    if (PQgetisnull(r, row, col) || strncmp(v, "\\x", 2) != 0 || strlen(v) != 2 + 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(v[2 + 2 * i]), lo = hexval(v[3 + 2 * i]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void je_pg_note_event(je_pg_tx *tx, const char *event_type) {
    if (tx->n_events < JE_PG_MAX_EVENTS && event_type)
        snprintf(tx->events[tx->n_events++], sizeof tx->events[0], "%s", event_type);
}

/* ---- transactions ------------------------------------------------------------------------ */

static int transient(const je_pg_tx *tx) {
    return je_pg_failed_with(tx, "40P01") || je_pg_failed_with(tx, "40001");
}

static void pause_before_retry(int attempt) {
    unsigned char r = 0;
    je_random_bytes(&r, 1);
    int64_t us = (int64_t)(1000 << (attempt < 6 ? attempt : 6)) + r * 8;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void report(je_store *s, const je_pg_tx *tx, int64_t t0, int ok) {
    if (!s->hooks) return;
    if (s->hooks->batch_committed)
        s->hooks->batch_committed((double)(je_mono_ns() - t0) / 1e9, 1, ok);
    if (ok && s->hooks->audit_appended)
        for (int i = 0; i < tx->n_events; i++) s->hooks->audit_appended(tx->events[i]);
}

int je_pg_write(je_store *s, je_pg_tx_fn fn, void *arg, je_err *err) {
    je_pg *q = impl(s);
    int64_t t0 = je_mono_ns();
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        je_pg_tx tx = {.s = s};
        if (!(tx.c = borrow(q, err))) return report(s, &tx, t0, 0), JE_STORE_ERROR;
        tx.conn = tx.c->conn;
        tx.begin_pending = 1;
        int rc = fn(&tx, arg, err);
        if (rc >= 0) {
            int result = rc;
            /* a body that ran no statement opened no transaction: nothing to commit */
            if (tx.begin_pending || simple(&tx, "COMMIT", err) == 0) {
                give_back(q, tx.c);
                report(s, &tx, t0, 1);
                return result;
            }
            int lost = tx.lost, again = transient(&tx);
            give_back(q, tx.c);
            if (lost) {
                report(s, &tx, t0, 0);
                je_err_set(err, "STORE",
                           "the connection to PostgreSQL was lost during COMMIT: the change may "
                           "or may not have been stored");
                return JE_STORE_UNKNOWN_OUTCOME;
            }
            if (!again) return report(s, &tx, t0, 0), JE_STORE_ERROR;
            pause_before_retry(attempt);
            continue;
        }
        int lost = tx.lost, again = transient(&tx);
        if (!lost && !tx.begin_pending) {
            je_err keep = *err; /* ROLLBACK must not replace the body's own error */
            je_pg_tx rb = tx;
            simple(&rb, "ROLLBACK", err);
            *err = keep;
        }
        give_back(q, tx.c);
        /* a lost connection rolled the transaction back on the server: run it again */
        if (!lost && !again) return report(s, &tx, t0, 0), rc;
        if (attempt + 1 < TX_ATTEMPTS && (again || attempt == 0)) {
            if (again) pause_before_retry(attempt);
            continue;
        }
        break;
    }
    report(s, &(je_pg_tx){0}, t0, 0);
    if (strcmp(err->code ? err->code : "", "STORE") == 0 && !strstr(err->message, "retried"))
        je_err_set(err, "STORE", "PostgreSQL transaction retried %d times without success",
                   TX_ATTEMPTS);
    return JE_STORE_RETRY;
}

int je_pg_read(je_store *s, je_pg_tx_fn fn, void *arg, je_err *err) {
    je_pg *q = impl(s);
    for (int attempt = 0; attempt < 2; attempt++) {
        je_pg_tx tx = {.s = s};
        if (!(tx.c = borrow(q, err))) return JE_STORE_ERROR;
        tx.conn = tx.c->conn;
        int rc = fn(&tx, arg, err);
        give_back(q, tx.c);
        if (rc >= 0 || !tx.lost) return rc;
    }
    return JE_STORE_ERROR;
}

/* ---- migrations -------------------------------------------------------------------------- */

static int exec_simple(PGconn *c, const char *sql, const char *what, je_err *err) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char line[300];
        first_line(PQresultErrorMessage(r), line, sizeof line);
        je_err_set(err, "STORE", "%s: %s", what, line);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int current_version(PGconn *c, int *v, je_err *err) {
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM je_schema_migrations");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        *v = atoi(PQgetvalue(r, 0, 0));
    else
        je_err_set(err, "STORE", "cannot read the schema version");
    PQclear(r);
    return ok ? 0 : -1;
}

static int apply_migration(PGconn *c, const struct je_migration *m, je_err *err) {
    char sql[200];
    if (exec_simple(c, "BEGIN", "begin migration", err) < 0) return -1;
    if (exec_simple(c, m->sql, m->name, err) < 0) goto fail;
    snprintf(sql, sizeof sql,
             "INSERT INTO je_schema_migrations(version, name, applied_at) "
             "VALUES(%d, '%s', clock_timestamp())",
             m->version, m->name);
    if (exec_simple(c, sql, "record migration", err) < 0) goto fail;
    if (exec_simple(c, "COMMIT", "commit migration", err) < 0) goto fail;
    return 0;
fail:
    exec_simple(c, "ROLLBACK", "rollback", &(je_err){0});
    return -1;
}

/* Under a session advisory lock: two nodes starting at once apply each migration once. */
static int migrate(PGconn *c, je_err *err) {
    int known = 0, current = 0, rc = -1;
    for (const struct je_migration *m = je_pg_migrations; m->sql; m++)
        if (m->version > known) known = m->version;
    if (exec_simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", "migration lock", err) < 0)
        return -1;
    if (exec_simple(c,
                    "CREATE TABLE IF NOT EXISTS je_schema_migrations (version INTEGER PRIMARY "
                    "KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
                    "create the migrations table", err) < 0 ||
        current_version(c, &current, err) < 0)
        goto out;
    if (current > known) {
        je_err_set(err, "STORE",
                   "database schema version %d is newer than this jobengine knows (%d): "
                   "upgrade jobengine to open it",
                   current, known);
        goto out;
    }
    rc = 0;
    for (const struct je_migration *m = je_pg_migrations; m->sql && rc == 0; m++)
        if (m->version > current) rc = apply_migration(c, m, err);
out:
    exec_simple(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", "migration unlock", &(je_err){0});
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void pg_free(je_pg *q) {
    for (int i = 0; i < q->n_idle; i++) conn_free(q->idle[i]);
    free(q->idle);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->conninfo);
    free(q);
}

void je_pg_close(je_store *s) {
    pg_free(impl(s));
}

/* The pool's size: JOBENGINE_PG_POOL_SIZE (1..1000), else POOL_DEFAULT. */
static int pool_size(je_err *err) {
    const char *v = getenv("JOBENGINE_PG_POOL_SIZE");
    if (!v || !*v) return POOL_DEFAULT;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 1 || n > POOL_LIMIT)
        return je_err_set(err, "STORE", "JOBENGINE_PG_POOL_SIZE must be 1..%d, not '%.16s'",
                          POOL_LIMIT, v);
    return (int)n;
}

je_store *je_pg_open(const char *conninfo, const je_store_ops *ops, je_err *err) {
    int max = pool_size(err);
    if (max < 0) return NULL;
    je_pg *q = calloc(1, sizeof *q);
    if (!q || !(q->conninfo = strdup(conninfo ? conninfo : "")) ||
        !(q->idle = calloc((size_t)max, sizeof *q->idle))) {
        if (q) free(q->conninfo);
        free(q);
        return je_err_set(err, "STORE", "out of memory"), NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max = max;
    q->store.ops = ops;
    q->store.impl = q;
    je_pg_conn *c = borrow(q, err);
    if (!c) {
        pg_free(q);
        return NULL;
    }
    int rc = migrate(c->conn, err);
    give_back(q, c);
    if (rc < 0) {
        pg_free(q);
        return NULL;
    }
    return &q->store;
}

static int ping_fn(je_pg_tx *tx, void *arg, je_err *err) {
    return je_pg_run(tx, "SELECT 1", NULL, NULL, err);
}

int je_pg_ping(je_store *s, je_err *err) {
    return je_pg_read(s, ping_fn, NULL, err) < 0 ? -1 : 0;
}

static int version_fn(je_pg_tx *tx, void *arg, je_err *err) {
    PGresult *r =
        je_pg_exec(tx, "SELECT coalesce(max(version), 0) FROM je_schema_migrations", NULL, err);
    if (!r) return -1;
    *(int *)arg = (int)je_pg_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int je_pg_schema_version(je_store *s) {
    je_err err;
    int v = -1;
    return je_pg_read(s, version_fn, &v, &err) < 0 ? -1 : v;
}

static int clock_fn(je_pg_tx *tx, void *arg, je_err *err) {
    PGresult *r =
        je_pg_exec(tx, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", NULL, err);
    if (!r) return -1;
    *(int64_t *)arg = je_pg_get_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int je_pg_db_clock(je_store *s, int64_t *db_ms, je_err *err) {
    return je_pg_read(s, clock_fn, db_ms, err) < 0 ? -1 : 0;
}

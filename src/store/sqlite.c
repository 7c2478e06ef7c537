/* store/sqlite.c: the SQLite backend's connections and lifecycle. Owns opening the database
 * file (parent directory created, file mode 0600, PRAGMA quick_check before any write: see
 * sqlite_check.c, WAL, synchronous=FULL), applying the embedded migrations, the pool of read
 * connections, and the one writer thread that runs every write as an op of a group commit: each op
 * in its own SAVEPOINT, one COMMIT (one fsync) per batch. The operations live in the files of
 * sqlite_ops.h, over the rows of sqlite_rows.h. */
#include "store/sqlite_impl.h"

#include "base/fiber.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Generated from src/store/migrations/NNN_name.sql by scripts/embed_files.cmake. */
struct je_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct je_migration je_migrations[];

#define READ_POOL_MAX 16
#define BUSY_TIMEOUT_MS 10000

typedef struct write_op {
    je_sqlite_write_fn fn;
    void *arg;
    je_err *err;
    int rc;
    int done;
    pthread_cond_t cv; /* a blocked caller waits here ... */
    je_fiber *fiber;   /* ... or a parked fiber is woken */
    struct write_op *next;
} write_op;

struct je_sqlite {
    je_store store; /* store.impl points back here */
    char *path;
    sqlite3 *wdb; /* the writer's connection: used by the writer thread only */
    pthread_t writer;
    pthread_mutex_t wmu; /* guards the queue, stopping and every op's done flag */
    pthread_cond_t wcv;
    write_op *head, *tail;
    int stopping;
    pthread_mutex_t rmu; /* guards the read pool */
    pthread_cond_t rcv;
    sqlite3 *rfree[READ_POOL_MAX];
    int nfree, nopen;
};

static je_sqlite *impl(je_store *s) {
    return (je_sqlite *)s->impl;
}

/* Statements are prepared once per connection and kept (SQLITE_PREPARE_PERSISTENT): a
 * connection's idle statement with the same text is reused. Parsing SQL cost as much as the
 * rest of a write together. A statement in use (stepped, not yet reset) is never handed out
 * twice; callers give statements back with je_sqlite_done, and close finalizes them. */
sqlite3_stmt *je_sqlite_prepare(sqlite3 *db, const char *sql, je_err *err) {
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        if (!sqlite3_stmt_busy(st) && strcmp(sqlite3_sql(st), sql) == 0) return st;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        je_sqlite_fail(err, db, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

void je_sqlite_done(sqlite3_stmt *st) {
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void je_sqlite_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, t, n);
    dst[n] = '\0';
}

int64_t je_sqlite_col_opt(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? JE_NO_TIME : sqlite3_column_int64(st, i);
}

void je_sqlite_bind_opt_text(sqlite3_stmt *st, int i, const char *s) {
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void je_sqlite_bind_opt_int(sqlite3_stmt *st, int i, int64_t v) {
    if (v == JE_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* Runs one cached statement to its end (transaction control on the writer). */
static int exec_cached(sqlite3 *db, const char *sql) {
    je_err err;
    sqlite3_stmt *st = je_sqlite_prepare(db, sql, &err);
    if (!st) return SQLITE_ERROR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    je_sqlite_done(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Finalizes every statement of db, then closes it. */
static void close_db(sqlite3 *db) {
    if (!db) return;
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(db, NULL)) != NULL) sqlite3_finalize(st);
    sqlite3_close(db);
}

static int exec(sqlite3 *db, const char *sql, const char *what, je_err *err) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return je_sqlite_fail(err, db, what);
    return 0;
}

/* ---- opening ---------------------------------------------------------------------------- */

/* mkdir -p of path's parent directory. */
static int make_parents(const char *path, je_err *err) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return je_err_set(err, "STORE", "database path too long");
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return je_err_set(err, "STORE", "cannot create directory %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return je_err_set(err, "STORE", "cannot create directory %s: %s", dir, strerror(errno));
    return 0;
}

/* Creates the file with mode 0600 when absent (it holds private keys); SQLite gives its -wal
 * and -shm files the same mode. */
static int create_file(const char *path, je_err *err) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return je_err_set(err, "STORE",
                          "cannot open %s for writing (%s): the store must be writable", path,
                          strerror(errno));
    close(fd);
    return 0;
}

static sqlite3 *open_conn(const char *path, int readonly, je_err *err) {
    sqlite3 *db = NULL;
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        je_err_set(err, "STORE", "cannot open database %s: %s", path,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    if (exec(db, "PRAGMA foreign_keys=ON", "foreign_keys", err) < 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int writer_pragmas(sqlite3 *db, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, "PRAGMA journal_mode=WAL", err);
    if (!st) return -1;
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    je_sqlite_done(st);
    if (!ok) return je_sqlite_fail(err, db, "cannot switch the database to WAL mode");
    /* Each op runs in a SAVEPOINT, so a statement that may change several rows keeps a
     * statement journal; in memory, it never spills to a file in /var/tmp (which made such
     * statements several times slower). */
    if (exec(db, "PRAGMA temp_store=MEMORY", "temp_store", err) < 0) return -1;
    return exec(db, "PRAGMA synchronous=FULL", "synchronous", err);
}

static int user_version(sqlite3 *db, int *v, je_err *err) {
    sqlite3_stmt *st = je_sqlite_prepare(db, "PRAGMA user_version", err);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
    je_sqlite_done(st);
    return rc == SQLITE_ROW ? 0 : je_sqlite_fail(err, db, "read schema version");
}

/* Applies one migration in its own transaction (another process may have done it meanwhile). */
static int apply_migration(sqlite3 *db, const struct je_migration *m, je_err *err) {
    int v = 0;
    char sql[64];
    if (exec(db, "BEGIN IMMEDIATE", "begin migration", err) < 0) return -1;
    if (user_version(db, &v, err) < 0) goto fail;
    if (v >= m->version) return exec(db, "COMMIT", "commit migration", err);
    if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
        je_err_set(err, "STORE", "migration %s failed: %s", m->name, sqlite3_errmsg(db));
        goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", m->version);
    if (exec(db, sql, "set schema version", err) < 0) goto fail;
    if (exec(db, "COMMIT", "commit migration", err) < 0) goto fail;
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int migrate(sqlite3 *db, je_err *err) {
    int known = 0, current = 0;
    for (const struct je_migration *m = je_migrations; m->sql; m++)
        if (m->version > known) known = m->version;
    if (user_version(db, &current, err) < 0) return -1;
    if (current > known)
        return je_err_set(err, "STORE",
                          "database schema version %d is newer than this jobengine knows (%d): "
                          "upgrade jobengine to open it",
                          current, known);
    for (const struct je_migration *m = je_migrations; m->sql; m++)
        if (m->version > current && apply_migration(db, m, err) < 0) return -1;
    return 0;
}

/* ---- the writer thread: group commit ----------------------------------------------------- */

/* Fails every op of the batch that has not failed on its own, with msg (je_sqlite_errtext). */
static void fail_batch(write_op *batch, const char *msg) {
    for (write_op *op = batch; op; op = op->next) {
        if (op->rc == 0) op->rc = je_err_set(op->err, "STORE", "%s", msg);
    }
}

static void run_op(sqlite3 *db, write_op *op) {
    if (exec_cached(db, "SAVEPOINT op") != SQLITE_OK) {
        op->rc = je_sqlite_fail(op->err, db, "savepoint");
        return;
    }
    op->rc = op->fn(db, op->arg, op->err) == 0 ? 0 : -1;
    if (op->rc == 0 && exec_cached(db, "RELEASE op") == SQLITE_OK) return;
    if (op->rc == 0) op->rc = je_sqlite_fail(op->err, db, "release savepoint");
    if (!op->err->code) je_err_set(op->err, "STORE", "write failed");
    if (sqlite3_get_autocommit(db)) return; /* SQLite already rolled the transaction back */
    exec_cached(db, "ROLLBACK TO op");
    exec_cached(db, "RELEASE op");
}

static int run_batch_tx(sqlite3 *db, write_op *batch);

_Thread_local je_store *je_sqlite_tx_store; /* the store whose batch this thread runs */

/* One batch, timed for the metrics hook. */
static void run_batch(je_sqlite *q, write_op *batch) {
    je_sqlite_tx_store = &q->store;
    int64_t a = je_mono_ns();
    int ok = run_batch_tx(q->wdb, batch);
    int64_t b = je_mono_ns();
    const je_store_hooks *h = q->store.hooks;
    if (!h || !h->batch_committed) return;
    int64_t n = 0;
    for (write_op *op = batch; op; op = op->next) n++;
    h->batch_committed((double)(b - a) / 1e9, n, ok);
}

/* 1 when the batch committed. */
static int run_batch_tx(sqlite3 *db, write_op *batch) {
    char msg[512];
    if (exec_cached(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        fail_batch(batch, je_sqlite_errtext(db, "begin", msg, sizeof msg));
        return 0;
    }
    for (write_op *op = batch; op; op = op->next) {
        run_op(db, op);
        if (sqlite3_get_autocommit(db)) {
            fail_batch(batch, je_sqlite_errtext(db, "transaction aborted", msg, sizeof msg));
            return 0;
        }
    }
    if (exec_cached(db, "COMMIT") != SQLITE_OK) {
        je_sqlite_errtext(db, "commit", msg, sizeof msg); /* before ROLLBACK resets the error */
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        fail_batch(batch, msg);
        return 0;
    }
    return 1;
}

/* Answers every op of a committed (or failed) batch. An op lives on its caller's stack, or its
 * fiber's: gone once its caller is signalled or its fiber woken, so next is read first. */
static void complete_batch(je_sqlite *q, write_op *batch) {
    write_op *parked = NULL;
    pthread_mutex_lock(&q->wmu);
    for (write_op *op = batch, *next; op; op = next) {
        next = op->next;
        if (op->fiber) {
            op->next = parked;
            parked = op;
            continue;
        }
        op->done = 1;
        pthread_cond_signal(&op->cv);
    }
    pthread_mutex_unlock(&q->wmu);
    for (write_op *op = parked, *next; op; op = next) {
        next = op->next;
        je_fiber_wake(op->fiber); /* its host resumes it: the resume orders op->rc before */
    }
}

static void *writer_main(void *arg) {
    je_sqlite *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->wmu);
        while (!q->head && !q->stopping) pthread_cond_wait(&q->wcv, &q->wmu);
        write_op *batch = q->head;
        q->head = q->tail = NULL;
        pthread_mutex_unlock(&q->wmu);
        if (!batch) return NULL; /* stopping and drained */
        run_batch(q, batch);
        complete_batch(q, batch);
    }
}

/* Queues op for the writer and waits until its batch is committed: a fiber parks (its thread
 * serves other requests meanwhile), a plain thread blocks. */
int je_sqlite_write(je_store *s, je_sqlite_write_fn fn, void *arg, je_err *err) {
    je_sqlite *q = impl(s);
    je_err local;
    write_op op = {fn,  arg, err ? err : &local, 0, 0, PTHREAD_COND_INITIALIZER, je_fiber_self(),
                   NULL};
    je_err_clear(op.err);
    pthread_mutex_lock(&q->wmu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->wmu);
        return je_err_set(err, "STORE", "the store is closing");
    }
    if (q->tail)
        q->tail->next = &op;
    else
        q->head = &op;
    q->tail = &op;
    pthread_cond_signal(&q->wcv);
    if (op.fiber) {
        pthread_mutex_unlock(&q->wmu);
        je_fiber_park();
        return op.rc;
    }
    while (!op.done) pthread_cond_wait(&op.cv, &q->wmu);
    pthread_mutex_unlock(&q->wmu);
    pthread_cond_destroy(&op.cv);
    return op.rc;
}

/* ---- the read pool ---------------------------------------------------------------------- */

sqlite3 *je_sqlite_read_get(je_store *s, je_err *err) {
    je_sqlite *q = impl(s);
    pthread_mutex_lock(&q->rmu);
    for (;;) {
        if (q->nfree > 0) {
            sqlite3 *db = q->rfree[--q->nfree];
            pthread_mutex_unlock(&q->rmu);
            return db;
        }
        if (q->nopen < READ_POOL_MAX) break;
        pthread_cond_wait(&q->rcv, &q->rmu);
    }
    q->nopen++;
    pthread_mutex_unlock(&q->rmu);
    sqlite3 *db = open_conn(q->path, 1, err);
    if (!db) {
        pthread_mutex_lock(&q->rmu);
        q->nopen--;
        pthread_cond_signal(&q->rcv);
        pthread_mutex_unlock(&q->rmu);
    }
    return db;
}

void je_sqlite_read_put(je_store *s, sqlite3 *db) {
    je_sqlite *q = impl(s);
    pthread_mutex_lock(&q->rmu);
    q->rfree[q->nfree++] = db;
    pthread_cond_signal(&q->rcv);
    pthread_mutex_unlock(&q->rmu);
}

/* ---- lifecycle and small ops ------------------------------------------------------------ */

static void sq_free(je_sqlite *q) {
    for (int i = 0; i < q->nfree; i++) close_db(q->rfree[i]);
    close_db(q->wdb); /* the last connection: checkpoints and removes the WAL */
    pthread_mutex_destroy(&q->wmu);
    pthread_cond_destroy(&q->wcv);
    pthread_mutex_destroy(&q->rmu);
    pthread_cond_destroy(&q->rcv);
    free(q->path);
    free(q);
}

void je_sqlite_close(je_store *s) {
    je_sqlite *q = impl(s);
    pthread_mutex_lock(&q->wmu);
    q->stopping = 1;
    pthread_cond_signal(&q->wcv);
    pthread_mutex_unlock(&q->wmu);
    pthread_join(q->writer, NULL); /* the writer drains the queue first */
    sq_free(q);
}

int je_sqlite_ping(je_store *s, je_err *err) {
    sqlite3 *db = je_sqlite_read_get(s, err);
    if (!db) return -1;
    int rc = exec(db, "SELECT 1", "ping", err);
    je_sqlite_read_put(s, db);
    return rc;
}

int je_sqlite_schema_version(je_store *s) {
    je_err err;
    int v = -1;
    sqlite3 *db = je_sqlite_read_get(s, &err);
    if (!db) return -1;
    if (user_version(db, &v, &err) < 0) v = -1;
    je_sqlite_read_put(s, db);
    return v;
}

/* Opens the writer's connection, migrates, starts the writer thread. */
static int sq_start(je_sqlite *q, je_err *err) {
    if (make_parents(q->path, err) < 0 || create_file(q->path, err) < 0) return -1;
    q->wdb = open_conn(q->path, 0, err);
    if (!q->wdb) return -1;
    if (je_sqlite_check_file(q->wdb, q->path, err) < 0) return -1; /* before any write */
    if (writer_pragmas(q->wdb, err) < 0 || migrate(q->wdb, err) < 0) return -1;
    if (pthread_create(&q->writer, NULL, writer_main, q) != 0)
        return je_err_set(err, "STORE", "cannot start the writer thread");
    return 0;
}

/* Before SQLite initializes: no memory statistics, so its allocations take no global mutex. */
static void sqlite_config_once(void) {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

je_store *je_sqlite_open(const char *path, const je_store_ops *ops, je_err *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_config_once);
    if (!path || !*path) return je_err_set(err, "STORE", "empty SQLite database path"), NULL;
    if (strcmp(path, ":memory:") == 0)
        return je_err_set(err, "STORE", "an in-memory SQLite store is not supported"), NULL;
    je_sqlite *q = calloc(1, sizeof *q);
    if (!q || !(q->path = strdup(path))) {
        free(q);
        return je_err_set(err, "STORE", "out of memory"), NULL;
    }
    pthread_mutex_init(&q->wmu, NULL);
    pthread_cond_init(&q->wcv, NULL);
    pthread_mutex_init(&q->rmu, NULL);
    pthread_cond_init(&q->rcv, NULL);
    q->store.ops = ops;
    q->store.impl = q;
    if (sq_start(q, err) < 0) {
        sq_free(q);
        return NULL;
    }
    return &q->store;
}

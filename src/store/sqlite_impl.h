/* store/sqlite_impl.h: the first tier of the SQLite backend (not a public header): sqlite.c owns
 * the connections, a pool of read connections and one writer thread that runs every write as
 * an op of a group commit. Above it, sqlite_rows.h (records to rows, shared transaction steps),
 * then the operations (sqlite_ops.h). */
#ifndef JE_STORE_SQLITE_IMPL_H
#define JE_STORE_SQLITE_IMPL_H

#include <sqlite3.h>
#include "base/clock.h"
#include "store/store.h"

typedef struct je_sqlite je_sqlite;

/* A write op: runs on the writer thread inside its own SAVEPOINT of a batch transaction.
 * Returns 0, or -1 with err set (its changes are then rolled back, the batch goes on). */
typedef int (*je_sqlite_write_fn)(sqlite3 *db, void *arg, je_err *err);

/* The store whose write batch the calling thread (the writer) is running, for its hooks. */
extern _Thread_local je_store *je_sqlite_tx_store;

/* Queues fn and blocks until its batch committed (0) or failed (-1, err set). */
int je_sqlite_write(je_store *s, je_sqlite_write_fn fn, void *arg, je_err *err);

/* Borrows a read connection (thread-confined until given back); NULL with err set. */
sqlite3 *je_sqlite_read_get(je_store *s, je_err *err);
void je_sqlite_read_put(je_store *s, sqlite3 *db);

/* Sets err to code "STORE" with what failed and SQLite's message; returns -1. A full disk, a
 * file that cannot be written or read, a damaged file are named as such, with the operating
 * system's reason (sqlite_check.c). je_sqlite_errtext writes the same text into buf. */
int je_sqlite_fail(je_err *err, sqlite3 *db, const char *what);
const char *je_sqlite_errtext(sqlite3 *db, const char *what, char *buf, size_t cap);

/* PRAGMA quick_check of the file db has open, before anything writes to it: 0, or -1 with err
 * naming path and what is wrong (sqlite_check.c). */
int je_sqlite_check_file(sqlite3 *db, const char *path, je_err *err);

/* A prepared statement for sql on db, reused from the connection's cache when one is idle;
 * NULL with err set. Give it back with je_sqlite_done (never sqlite3_finalize). */
sqlite3_stmt *je_sqlite_prepare(sqlite3 *db, const char *sql, je_err *err);
void je_sqlite_done(sqlite3_stmt *st);

/* Column i as text into dst ("" for NULL); as an optional time (JE_NO_TIME for NULL). Binding
 * the same way back: "" and JE_NO_TIME as NULL. */
void je_sqlite_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap);
int64_t je_sqlite_col_opt(sqlite3_stmt *st, int i);
void je_sqlite_bind_opt_text(sqlite3_stmt *st, int i, const char *s);
void je_sqlite_bind_opt_int(sqlite3_stmt *st, int i, int64_t v);

/* The lifecycle (sqlite.c), for the ops table (sqlite_ops.c): opens the database at path,
 * migrates it and starts the writer, serving ops; NULL with err set. */
je_store *je_sqlite_open(const char *path, const je_store_ops *ops, je_err *err);
void je_sqlite_close(je_store *s);
int je_sqlite_ping(je_store *s, je_err *err);
int je_sqlite_schema_version(je_store *s);

#endif

/* bench/bench_sqlite.h: helpers shared by the SQLite peers (bench/sqlite_commit.c,
 * bench/claim_floor.c): a monotonic clock, exec with an error message, removal of a database's
 * files, a PRAGMA read-back check, and the fresh WAL + synchronous=FULL database they write. Define
 * BENCH_PROG (the message prefix) before including.
 */
#ifndef BENCH_SQLITE_H
#define BENCH_SQLITE_H

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_PROG
#error "define BENCH_PROG before including bench_sqlite.h"
#endif

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fprintf(stderr, BENCH_PROG ": %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static inline void remove_files(const char *path) {
    char p[4200];
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* Checks that a PRAGMA query reads back as want ("wal"; "2" is synchronous=FULL). */
static inline int pragma_is(sqlite3 *db, const char *sql, const char *want) {
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        ok = v && strcmp((const char *)v, want) == 0;
    }
    sqlite3_finalize(st);
    if (!ok) fprintf(stderr, BENCH_PROG ": %s did not give %s\n", sql, want);
    return ok ? 0 : -1;
}

/* Sets path to DIR/BENCH_PROG.PID.db and removes that database's files; -1 when DIR is too long. */
static inline int db_path(char *path, size_t size, const char *dir) {
    int n = snprintf(path, size, "%s/" BENCH_PROG ".%ld.db", dir, (long)getpid());
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, BENCH_PROG ": DIR too long\n");
        return -1;
    }
    remove_files(path);
    return 0;
}

/* Opens path as the store does: journal_mode=WAL, synchronous=FULL, both read back. Sets *db
 * even on failure (for sqlite3_close). */
static inline int open_wal(const char *path, sqlite3 **db) {
    if (sqlite3_open(path, db) != SQLITE_OK) {
        fprintf(stderr, BENCH_PROG ": open %s: %s\n", path, sqlite3_errmsg(*db));
        return -1;
    }
    if (exec(*db, "PRAGMA journal_mode=WAL") || exec(*db, "PRAGMA synchronous=FULL") ||
        pragma_is(*db, "PRAGMA journal_mode", "wal") || pragma_is(*db, "PRAGMA synchronous", "2"))
        return -1;
    return 0;
}

#endif

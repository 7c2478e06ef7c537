/* bench/sqlite_commit.c: the raw fsync'd commit rate of this disk, the peer token_bench.sh
 * prints next to /token issuance. One thread, one connection, a fresh SQLite file in DIR
 * (journal_mode=WAL, synchronous=FULL, as the store), then single-row INSERTs in autocommit
 * mode (one transaction, so one WAL fsync, each) for SECONDS seconds. Prints commits/second on
 * stdout, details on stderr, and removes its files.
 *
 *   usage: sqlite_commit DIR [SECONDS]     (SECONDS defaults to 5)
 *   build: cc -O2 bench/sqlite_commit.c -lsqlite3 -o sqlite_commit
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fprintf(stderr, "sqlite_commit: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

static void remove_files(const char *path) {
    char p[4200];
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* Checks that a PRAGMA query reads back as want ("wal"; "2" is synchronous=FULL). */
static int pragma_is(sqlite3 *db, const char *sql, const char *want) {
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        ok = v && strcmp((const char *)v, want) == 0;
    }
    sqlite3_finalize(st);
    if (!ok) fprintf(stderr, "sqlite_commit: %s did not give %s\n", sql, want);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: sqlite_commit DIR [SECONDS]\n");
        return 2;
    }
    double seconds = argc == 3 ? atof(argv[2]) : 5.0;
    if (!(seconds > 0 && seconds <= 3600)) {
        fprintf(stderr, "sqlite_commit: SECONDS must be in (0, 3600]\n");
        return 2;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/sqlite_commit.%ld.db", argv[1], (long)getpid());
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "sqlite_commit: DIR too long\n");
        return 2;
    }
    remove_files(path);

    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = 1;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "sqlite_commit: open %s: %s\n", path, sqlite3_errmsg(db));
        goto out;
    }
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
        pragma_is(db, "PRAGMA journal_mode", "wal") || pragma_is(db, "PRAGMA synchronous", "2") ||
        exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, at REAL NOT NULL, payload TEXT NOT "
                 "NULL)"))
        goto out;
    if (sqlite3_prepare_v2(db, "INSERT INTO t (at, payload) VALUES (?1, ?2)", -1, &ins, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "sqlite_commit: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    /* A payload about the size of one audit entry. */
    char payload[600];
    memset(payload, 'x', sizeof payload - 1);
    payload[sizeof payload - 1] = '\0';

    long commits = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        sqlite3_bind_double(ins, 1, t);
        sqlite3_bind_text(ins, 2, payload, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) { /* autocommit: one transaction, one fsync */
            fprintf(stderr, "sqlite_commit: insert: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(ins);
        commits++;
        t = now_s();
    }
    double elapsed = t - start;
    fprintf(stderr, "sqlite_commit: %ld commits in %.2f s (%.3f ms each) in %s\n", commits, elapsed,
            elapsed * 1e3 / (double)commits, argv[1]);
    printf("%.1f\n", (double)commits / elapsed);
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    remove_files(path);
    return rc;
}

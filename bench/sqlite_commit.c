/* bench/sqlite_commit.c: the raw fsync'd commit rate of this disk, the peer token_bench.sh
 * prints next to /token issuance. One thread, one connection, a fresh SQLite file in DIR
 * (journal_mode=WAL, synchronous=FULL, as the store), then single-row INSERTs in autocommit
 * mode (one transaction, so one WAL fsync, each) for SECONDS seconds. Prints commits/second on
 * stdout, details on stderr, and removes its files.
 *
 *   usage: sqlite_commit DIR [SECONDS]     (SECONDS defaults to 5)
 *   build: cc -O2 bench/sqlite_commit.c -lsqlite3 -o sqlite_commit
 */
#define BENCH_PROG "sqlite_commit"
#include "bench_sqlite.h"

#include <stdlib.h>

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
    if (db_path(path, sizeof path, argv[1])) return 2;

    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = 1;
    if (open_wal(path, &db) ||
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

/* bench/claim_floor.c: the floor of claiming events on this store, the peer claim_bench.sh
 * prints next to POST /jobengine/dedup/claim: raw `INSERT OR IGNORE` of the same key shape into a
 * fresh table with the ledger's columns and primary key (tenant_id, source_id, event_key),
 * WITHOUT ROWID, STRICT, as in src/store/migrations/004_backfills.sql, in transactions of BATCH
 * rows (default 1,000, one claim call's worth), journal_mode=WAL, synchronous=FULL (one fsync per
 * commit), one thread, for SECONDS seconds. Each row is what a claim writes for a new event:
 * tenant, source, key "evt-%08d" counting up from FIRST_KEY, an event time that grows with the
 * key, processed=0 and the claiming job's id. With "indexes" the table also gets the ledger's
 * two secondary indexes (ledger_time, ledger_claims): the same schema, not just the same key.
 * Prints rows/second on stdout, details on stderr, and removes its files.
 *
 *   usage: claim_floor DIR [SECONDS [FIRST_KEY [BATCH [indexes]]]]
 *          (defaults: 5 s, first key 10000000, batch 1000, no secondary index)
 *   build: cc -O2 bench/claim_floor.c -lsqlite3 -o claim_floor
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
    fprintf(stderr, "claim_floor: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
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
    if (!ok) fprintf(stderr, "claim_floor: %s did not give %s\n", sql, want);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: claim_floor DIR [SECONDS [FIRST_KEY [BATCH [indexes]]]]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 5.0;
    long long key = argc > 3 ? atoll(argv[3]) : 10000000LL;
    long batch = argc > 4 ? atol(argv[4]) : 1000;
    int indexes = argc > 5 && strcmp(argv[5], "indexes") == 0;
    if (!(seconds > 0 && seconds <= 3600) || key < 0 || batch < 1 || batch > 1000000 ||
        (argc > 5 && !indexes)) {
        fprintf(stderr, "claim_floor: bad arguments\n");
        return 2;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/claim_floor.%ld.db", argv[1], (long)getpid());
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "claim_floor: DIR too long\n");
        return 2;
    }
    remove_files(path);

    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = 1;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "claim_floor: open %s: %s\n", path, sqlite3_errmsg(db));
        goto out;
    }
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
        pragma_is(db, "PRAGMA journal_mode", "wal") || pragma_is(db, "PRAGMA synchronous", "2") ||
        exec(db, "CREATE TABLE ledger (tenant_id TEXT NOT NULL, source_id TEXT NOT NULL, "
                 "event_key TEXT NOT NULL, event_time_ms INTEGER NOT NULL, processed INTEGER NOT "
                 "NULL, processed_digest TEXT, claim_job_id TEXT, claim_digest TEXT, PRIMARY KEY "
                 "(tenant_id, source_id, event_key)) STRICT, WITHOUT ROWID"))
        goto out;
    if (indexes &&
        (exec(db, "CREATE INDEX ledger_time ON ledger(tenant_id, source_id, event_time_ms)") ||
         exec(db, "CREATE INDEX ledger_claims ON ledger(tenant_id, claim_job_id) WHERE "
                  "claim_job_id IS NOT NULL")))
        goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO ledger(tenant_id, source_id, event_key, "
                           "event_time_ms, processed, claim_job_id) VALUES(?1, ?2, ?3, ?4, 0, ?5)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "claim_floor: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    static const char job[] = "01a22007-627d-7b61-8cd5-500b2d0ae23b"; /* a job id's shape */
    long long base_ms = (long long)time(NULL) * 1000;
    char k[32];
    long long rows = 0, commits = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        if (exec(db, "BEGIN")) goto out;
        for (long i = 0; i < batch; i++, key++) {
            snprintf(k, sizeof k, "evt-%08lld", key);
            sqlite3_bind_text(ins, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, "bench-source", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, k, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 4, base_ms + key);
            sqlite3_bind_text(ins, 5, job, -1, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE) {
                fprintf(stderr, "claim_floor: insert: %s\n", sqlite3_errmsg(db));
                goto out;
            }
            sqlite3_reset(ins);
        }
        if (exec(db, "COMMIT")) goto out; /* one WAL fsync */
        rows += batch;
        commits++;
        t = now_s();
    }
    double elapsed = t - start;
    fprintf(stderr, "claim_floor: %lld rows in %lld commits in %.2f s (%.3f ms per commit)%s\n",
            rows, commits, elapsed, elapsed * 1e3 / (double)commits,
            indexes ? " with the ledger's indexes" : "");
    printf("%.1f\n", (double)rows / elapsed);
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    remove_files(path);
    return rc;
}

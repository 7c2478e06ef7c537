/* bench/claim_floor.c: the floor of claiming events on this store, the peer claim_bench.sh
 * prints next to POST /jobengine/dedup/claim: raw `INSERT OR IGNORE` of the same key shape into a
 * fresh table with the ledger's key (source INTEGER, event_key TEXT), WITHOUT ROWID, STRICT, and
 * the columns a claim of a new event writes (src/store/migrations/007_ledger_split.sql: the
 * claiming job's id, the event time, the digest), in transactions of BATCH rows (default 1,000,
 * one claim call's worth), journal_mode=WAL, synchronous=FULL (one fsync per commit), one
 * thread, for SECONDS seconds. Each row: source 1, key "evt-%08d" counting up from FIRST_KEY,
 * an event time that grows with the key, the claiming job's id, no digest. With "indexes" the
 * table also gets the claims' secondary index (ledger_claims_job, on the job id): the same
 * schema, not just the same key. Prints "rows/second CPU-microseconds/row" on stdout (the CPU
 * time of the inserts and commits, which a shared machine disturbs less than the rate), details
 * on stderr, and removes its files.
 *
 *   usage: claim_floor DIR [SECONDS [FIRST_KEY [BATCH [indexes]]]]
 *          (defaults: 5 s, first key 10000000, batch 1000, no secondary index)
 *   build: cc -O2 bench/claim_floor.c -lsqlite3 -o claim_floor
 */
#define BENCH_PROG "claim_floor"
#include "bench_sqlite.h"

#include <stdlib.h>
#include <sys/resource.h>

static double cpu_s(void) { /* this process's user + system CPU time */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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
    if (db_path(path, sizeof path, argv[1])) return 2;

    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = 1;
    if (open_wal(path, &db) ||
        exec(db, "CREATE TABLE ledger_claims (source INTEGER NOT NULL, event_key TEXT NOT NULL, "
                 "job_id TEXT NOT NULL, event_time_ms INTEGER NOT NULL, digest TEXT, PRIMARY KEY "
                 "(source, event_key)) STRICT, WITHOUT ROWID"))
        goto out;
    if (indexes && exec(db, "CREATE INDEX ledger_claims_job ON ledger_claims(job_id)")) goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO ledger_claims(source, event_key, job_id, "
                           "event_time_ms, digest) VALUES(?1, ?2, ?3, ?4, NULL)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "claim_floor: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    static const char job[] = "01a22007-627d-7b61-8cd5-500b2d0ae23b"; /* a job id's shape */
    long long base_ms = (long long)time(NULL) * 1000;
    char k[32];
    long long rows = 0, commits = 0;
    double start = now_s(), end = start + seconds, t = start, cpu0 = cpu_s();
    while (t < end) {
        if (exec(db, "BEGIN")) goto out;
        for (long i = 0; i < batch; i++, key++) {
            snprintf(k, sizeof k, "evt-%08lld", key);
            sqlite3_bind_int64(ins, 1, 1);
            sqlite3_bind_text(ins, 2, k, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 3, job, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 4, base_ms + key);
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
            indexes ? " with the claims' job index" : "");
    printf("%.1f %.2f\n", (double)rows / elapsed, (cpu_s() - cpu0) * 1e6 / (double)rows);
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    remove_files(path);
    return rc;
}

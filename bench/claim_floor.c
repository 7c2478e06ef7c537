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
#define BENCH_PROG "claim_floor"
#include "bench_sqlite.h"

#include <stdlib.h>

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

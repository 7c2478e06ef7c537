/* bench/claim_gen.c: fills the event ledger of a JobEngine store (schema of
 * src/store/migrations/007_ledger_split.sql, created by `jobengine migrate`) with N processed
 * events of one tenant and source, as years of backfills would have left it: the source's
 * integer id in ledger_sources, then keys "evt-%08d" from 0 to N-1 in ledger, event times spread
 * evenly over the DAYS days before START_MS (key order is time order), processed=1, no digest,
 * no claim (ledger_claims stays empty). claim_bench.sh runs it before starting the server,
 * which is far faster than claiming N events through the API.
 *
 * The store must not be open elsewhere: the rows go in with the journal off and
 * synchronous=OFF (nothing to protect: the file is made for the benchmark), in sorted order,
 * in transactions of 1,000,000; the file is put back in WAL mode, as the server wants it, at
 * the end. Prints "rows seconds" on stdout.
 *
 *   usage: claim_gen DB TENANT SOURCE N START_MS [DAYS]     (DAYS defaults to 30)
 *   build: cc -O2 bench/claim_gen.c -lsqlite3 -o claim_gen
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fprintf(stderr, "claim_gen: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: claim_gen DB TENANT SOURCE N START_MS [DAYS]\n");
        return 2;
    }
    const char *path = argv[1], *tenant = argv[2], *source = argv[3];
    long long n = atoll(argv[4]);
    long long start_ms = atoll(argv[5]);
    double days = argc == 7 ? atof(argv[6]) : 30.0;
    if (n < 1 || n > 99999999 || start_ms <= 0 || !(days > 0)) {
        fprintf(stderr, "claim_gen: N must be 1-99999999, START_MS and DAYS positive\n");
        return 2;
    }
    long long span_ms = (long long)(days * 86400000.0);
    long long first_ms = start_ms - span_ms;

    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = 1;
    double t0 = now_s();
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "claim_gen: open %s: %s\n", path, sqlite3_errmsg(db));
        goto out;
    }
    if (exec(db, "PRAGMA journal_mode=OFF") || exec(db, "PRAGMA synchronous=OFF") ||
        exec(db, "PRAGMA cache_size=-524288") || exec(db, "PRAGMA temp_store=MEMORY"))
        goto out;
    if (sqlite3_prepare_v2(db, "INSERT INTO ledger_sources(tenant_id, source_id) VALUES(?1, ?2)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "claim_gen: prepare: %s (run `jobengine migrate` first)\n",
                sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, source, -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        fprintf(stderr, "claim_gen: source: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_finalize(ins);
    long long src = sqlite3_last_insert_rowid(db);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO ledger(source, event_key, event_time_ms, processed, "
                           "processed_digest) VALUES(?1, ?2, ?3, 1, NULL)",
                           -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "claim_gen: prepare: %s (run `jobengine migrate` first)\n",
                sqlite3_errmsg(db));
        goto out;
    }
    char key[32];
    for (long long i = 0; i < n; i++) {
        if (i % 1000000 == 0 && exec(db, "BEGIN")) goto out;
        snprintf(key, sizeof key, "evt-%08lld", i);
        sqlite3_bind_int64(ins, 1, src);
        sqlite3_bind_text(ins, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, first_ms + (long long)((double)i * (double)span_ms / (double)n));
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "claim_gen: insert %s: %s\n", key, sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(ins);
        if ((i + 1) % 1000000 == 0 || i + 1 == n) {
            if (exec(db, "COMMIT")) goto out;
            fprintf(stderr, "claim_gen: %lld rows, %.1f s\n", i + 1, now_s() - t0);
        }
    }
    sqlite3_finalize(ins);
    ins = NULL;
    if (exec(db, "PRAGMA journal_mode=WAL")) goto out;
    printf("%lld %.2f\n", n, now_s() - t0);
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}

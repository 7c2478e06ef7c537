/* tests/unit/test_store_sqlite.c: the SQLite backend. Runs the shared conformance cases
 * (store_conformance.h) on a fresh database file per test under $JE_TEST_TMP, then the cases
 * only SQLite has: file mode and directories, refusing a newer schema, tampering detected,
 * a store of schema 6 upgraded with its ledger, and je_store_open's URL dispatch. */
#include "store_conformance.h"
#include "conformance/fiber.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct sqlite_paths {
    char top[1024];  /* the test's own directory */
    char sub[1040];  /* a directory the store must create */
    char path[1060]; /* the database file */
} sqlite_paths;

static int sqlite_setup(void **state) {
    static int counter;
    const char *tmp = getenv("JE_TEST_TMP");
    conf_fx *fx = calloc(1, sizeof *fx);
    sqlite_paths *p = calloc(1, sizeof *p);
    if (!fx || !p) return -1;
    if (!tmp || !*tmp) tmp = "/tmp";
    mkdir(tmp, 0700);
    snprintf(p->top, sizeof p->top, "%s/je-store-%d-%d-%ld", tmp, (int)getpid(), ++counter,
             (long)time(NULL));
    snprintf(p->sub, sizeof p->sub, "%s/data", p->top);
    snprintf(p->path, sizeof p->path, "%s/store.db", p->sub);
    snprintf(fx->url, sizeof fx->url, "sqlite:%s", p->path);
    fx->backend = p;
    je_err err;
    fx->s = je_store_open(fx->url, &err);
    if (!fx->s) print_error("open %s: %s\n", fx->url, err.message);
    *state = fx;
    return fx->s ? 0 : -1;
}

static int sqlite_teardown(void **state) {
    conf_fx *fx = *state;
    sqlite_paths *p = fx->backend;
    char f[1100];
    if (fx->s) je_store_close(fx->s);
    unlink(p->path);
    snprintf(f, sizeof f, "%s-wal", p->path);
    unlink(f);
    snprintf(f, sizeof f, "%s-shm", p->path);
    unlink(f);
    rmdir(p->sub);
    rmdir(p->top);
    free(p);
    free(fx);
    return 0;
}

static sqlite3 *raw_open(conf_fx *fx) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(((sqlite_paths *)fx->backend)->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* The embedded migrations (generated from src/store/migrations). */
struct je_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct je_migration je_migrations[];

static int newest_migration(void) {
    int v = 0;
    for (int i = 0; je_migrations[i].sql; i++)
        if (je_migrations[i].version > v) v = je_migrations[i].version;
    return v;
}

static void sqlite_file_mode(void **state) {
    conf_fx *fx = *state;
    struct stat st;
    assert_int_equal(stat(((sqlite_paths *)fx->backend)->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_string_equal(fx->s->ops->name, "sqlite");
    assert_true(newest_migration() >= 2);
    assert_int_equal(fx->s->ops->schema_version(fx->s), newest_migration());
    je_err err;
    assert_int_equal(fx->s->ops->ping(fx->s, &err), 0);
}

static void sqlite_newer_schema_refused(void **state) {
    conf_fx *fx = *state;
    je_err err;
    je_store_close(fx->s);
    fx->s = NULL;
    sqlite3 *db = raw_open(fx);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(je_store_open(fx->url, &err));
    assert_string_equal(err.code, "STORE");
    assert_non_null(strstr(err.message, "newer"));
    assert_non_null(strstr(err.message, "999"));
}

static void sqlite_tamper_detected(void **state) {
    conf_fx *fx = *state;
    je_err err;
    for (int i = 0; i < 5; i++) assert_int_equal(conf_append(fx->s, "T", 1000 + i, &err), 0);
    assert_true(conf_verify(fx->s, "T").valid);
    sqlite3 *db = raw_open(fx);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE audit_entries SET entry_json = replace(entry_json, "
                                  "'ops-bot', 'mallory') WHERE tenant_id='T' AND sequence=3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    je_audit_verifier v = conf_verify(fx->s, "T");
    assert_false(v.valid);
    assert_int_equal(v.first_broken, 3);
}

/* A store file at schema 6 (one ledger table) with entries in every state opens at the newest
 * schema with the same entries: settled ones, given-up ones, and claims still held by a job, of
 * several tenants and sources; claims and counts answer as they did. */
static void sqlite_upgrade_ledger(void **state) {
    conf_fx *fx = *state;
    sqlite_paths *p = fx->backend;
    je_store_close(fx->s);
    fx->s = NULL;
    unlink(p->path);
    sqlite3 *db = raw_open(fx);
    for (int i = 0; je_migrations[i].sql; i++)
        if (je_migrations[i].version <= 6)
            assert_int_equal(sqlite3_exec(db, je_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "PRAGMA user_version=6; INSERT INTO ledger(tenant_id, source_id, event_key, "
        "event_time_ms, processed, processed_digest, claim_job_id, claim_digest) VALUES "
        "('T','src','e1',%lld,1,'sha-1',NULL,NULL), ('T','src','e2',%lld,1,NULL,NULL,NULL), "
        "('T','src','e3',%lld,0,NULL,NULL,NULL), ('T','src','e4',%lld,0,NULL,'j-old','sha-4'), "
        "('T','src','e5',%lld,1,'sha-5','j-old','sha-5b'), "
        "('T','src','e6',%lld,1,NULL,NULL,NULL), ('T','other','e1',%lld,1,NULL,NULL,NULL), "
        "('U','src','e1',%lld,1,NULL,NULL,NULL)",
        CONF_W0, CONF_W0, CONF_W0, CONF_W0, CONF_W0, CONF_W0 + CONF_H, CONF_W0, CONF_W0);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    je_err err;
    fx->s = je_store_open(fx->url, &err);
    assert_non_null(fx->s);
    assert_int_equal(fx->s->ops->schema_version(fx->s), newest_migration());
    je_store *s = fx->s;
    int64_t t = conf_future(), w = CONF_W0;
    je_backfill_store_facts f = conf_facts(s, "src", w, w + 1, t);
    assert_int_equal(f.known_events, 5);
    assert_int_equal(f.already_processed, 3);
    assert_int_equal(conf_facts(s, "other", w, w + 1, t).known_events, 1);
    conf_quota_new(s, "T", "scan", conf_limits(10, 100000, 1000, 10), 0);
    conf_submit(s, "T", "scan", "j-old", 0, 1000);
    conf_submit(s, "T", "scan", "j-new", 0, 1001);
    je_lease_out out = conf_lease(s, "T", "scan", 2, 60000, t);
    assert_int_equal(out.n, 2);
    /* e3 was given up; e4, e5 are held by j-old, whose lease is live again */
    assert_string_equal(conf_claims(s, "j-new", "e1,e2,e3,e4,e5,e6", w, NULL, t + 1), "DDNDDD");
    assert_string_equal(conf_claims(s, "j-new", "e1", w, "sha-x", t + 1), "N");
    assert_string_equal(conf_claims(s, "j-new", "r1,e2,r1,e2", w, NULL, t + 1), "NDND");
    conf_complete(s, "j-old", conf_leased(&out, "j-old")->lease_id, 1, t + 2);
    assert_string_equal(conf_claims(s, "j-new", "e4", w, "sha-4", t + 3), "D");
    assert_string_equal(conf_claims(s, "j-new", "e5", w, "sha-5b", t + 3), "D");
    assert_string_equal(conf_claims(s, "j-new", "e5", w, "sha-5", t + 3), "N");
    f = conf_facts(s, "src", w, w + 1, t + 4);
    assert_int_equal(f.known_events, 6); /* r1 too */
    assert_int_equal(f.already_processed, 4);
    conf_lease_free(&out);
    db = raw_open(fx);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM ledger_sources), (SELECT "
                                        "count(*) FROM ledger), (SELECT group_concat(event_key) "
                                        "FROM ledger_claims WHERE job_id='j-new')",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    assert_int_equal(sqlite3_column_int(st, 1), 8);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "e1,e3,e5,r1");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sqlite_open_urls(void **state) {
    (void)state;
    je_err err;
    assert_null(je_store_open("mysql://user:hunter2@db/x", &err));
    assert_string_equal(err.code, "STORE");
    assert_non_null(strstr(err.message, "mysql"));
    assert_null(strstr(err.message, "hunter2"));
    assert_null(je_store_open("postgres://user:hunter2@127.0.0.1:1/x", &err));
    assert_string_equal(err.code, "STORE");
    assert_null(strstr(err.message, "hunter2"));
    assert_null(je_store_open("sqlite:", &err));
    assert_string_equal(err.code, "STORE");
    assert_null(je_store_open("no-scheme", &err));
    assert_string_equal(err.code, "STORE");
    assert_null(je_store_open("sqlite:/proc/nope/x.db", &err));
    assert_string_equal(err.code, "STORE");
    /* a URL as logs and errors show it: no password */
    char shown[128];
    je_store_url_safe("postgres://app:hunter2@db:5432/je?sslmode=require", shown, sizeof shown);
    assert_string_equal(shown, "postgres://app:***@db:5432/je?sslmode=require");
    je_store_url_safe("postgresql://db/je?user=app&password=hunter2&sslmode=require", shown,
                      sizeof shown);
    assert_string_equal(shown, "postgresql://db/je?user=app&password=***&sslmode=require");
    je_store_url_safe("postgres://app@db/je", shown, sizeof shown);
    assert_string_equal(shown, "postgres://app@db/je");
    je_store_url_safe("sqlite:/var/lib/jobengine/je.db", shown, sizeof shown);
    assert_string_equal(shown, "sqlite:/var/lib/jobengine/je.db");
    je_store_url_safe("postgres://app:hunter2@db/"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                      shown, 24);
    assert_null(strstr(shown, "hunter2"));
}

/* Run last: the fiber cases parked on SQLite's writer and were woken by its commits (at least
 * once per case, as every case writes). */
static void sqlite_fibers_parked(void **state) {
    (void)state;
    assert_true(atomic_load(&conf_fiber_parks) >= 50);
}

int main(void) {
    conf_fiber_backend_setup = sqlite_setup;
    const struct CMUnitTest tests[] = {
        JE_STORE_CONFORMANCE_TESTS(sqlite_setup, sqlite_teardown),
        cmocka_unit_test_setup_teardown(sqlite_file_mode, sqlite_setup, sqlite_teardown),
        cmocka_unit_test_setup_teardown(sqlite_newer_schema_refused, sqlite_setup, sqlite_teardown),
        cmocka_unit_test_setup_teardown(sqlite_tamper_detected, sqlite_setup, sqlite_teardown),
        cmocka_unit_test_setup_teardown(sqlite_upgrade_ledger, sqlite_setup, sqlite_teardown),
        cmocka_unit_test(sqlite_open_urls),
#undef cmocka_unit_test_setup_teardown
#define cmocka_unit_test_setup_teardown CONF_FIBER_TEST
        JE_STORE_CONFORMANCE_TESTS(conf_fiber_setup, sqlite_teardown),
        cmocka_unit_test(sqlite_fibers_parked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

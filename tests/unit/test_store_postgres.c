/* tests/unit/test_store_postgres.c: the PostgreSQL backend. Runs the shared conformance cases
 * (store_conformance.h) against the throwaway PostgreSQL that ctest starts (fixture "pg":
 * scripts/pg_tmp.sh, its URL in $JE_TEST_PG_STATE/url), each test in a schema of its own,
 * then the cases only PostgreSQL has: refusing a newer schema, tampering detected, two nodes
 * migrating at once, an unreachable server, and je_store_open's URL handling. */
#include "store_conformance.h"
#include "conformance/fiber.h"

#include <libpq-fe.h>
#include <unistd.h>

typedef struct pg_fx {
    char schema[64];
} pg_fx;

/* The throwaway server's URL (postgres://postgres@127.0.0.1:PORT/postgres). */
static const char *pg_url(void) {
    static char url[512];
    if (url[0]) return url;
    const char *state = getenv("JE_TEST_PG_STATE");
    char path[600];
    snprintf(path, sizeof path, "%s/url", state ? state : "");
    FILE *f = state ? fopen(path, "r") : NULL;
    if (!f || !fgets(url, sizeof url, f)) {
        print_error("no PostgreSQL for the tests: %s is missing (ctest's pg.start fixture writes "
                    "it: run the whole suite, or ctest -R 'pg|postgres')\n",
                    path);
        if (f) fclose(f);
        url[0] = 0;
        return NULL;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = 0;
    return url;
}

/* Runs sql on a connection of its own; 0 when it succeeded. */
static int pg_admin(const char *sql) {
    PGconn *c = PQconnectdb(pg_url());
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok) print_error("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        print_error("connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* A fresh schema per test: the store's URL puts it first on the search path. Its sessions commit
 * without waiting for the WAL flush (synchronous_commit=off): these cases check what the SQL
 * decides, alone and under concurrency, not what survives a crash of PostgreSQL (the api-pg
 * durability and crash-loop tests do, with the default, on). Their ~18,000 commits each waited
 * for an fsync on a server the api-pg tests share (alone 31.6 s before, 26.5 s after; the wait
 * grew with the load beside it: 185 s at ctest -j6). */
static int pg_setup(void **state) {
    static int counter;
    conf_fx *fx = calloc(1, sizeof *fx);
    pg_fx *p = calloc(1, sizeof *p);
    if (!fx || !p || !pg_url()) return -1;
    snprintf(p->schema, sizeof p->schema, "conf_%d_%d", (int)getpid(), ++counter);
    char sql[200];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", p->schema,
             p->schema);
    if (pg_admin(sql) != 0) return -1;
    snprintf(fx->url, sizeof fx->url,
             "%s?options=-csearch_path%%3D%s%%20-csynchronous_commit%%3Doff", pg_url(), p->schema);
    fx->backend = p;
    je_err err;
    fx->s = je_store_open(fx->url, &err);
    if (!fx->s) print_error("open %s: %s\n", fx->url, err.message);
    *state = fx;
    return fx->s ? 0 : -1;
}

static int pg_teardown(void **state) {
    conf_fx *fx = *state;
    pg_fx *p = fx->backend;
    if (fx->s) je_store_close(fx->s);
    char sql[200];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", p->schema);
    pg_admin(sql);
    free(p);
    free(fx);
    return 0;
}

struct je_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct je_migration je_pg_migrations[];

static int newest_migration(void) {
    int v = 0;
    for (int i = 0; je_pg_migrations[i].sql; i++)
        if (je_pg_migrations[i].version > v) v = je_pg_migrations[i].version;
    return v;
}

static void pg_basics(void **state) {
    conf_fx *fx = *state;
    je_err err;
    assert_string_equal(fx->s->ops->name, "postgres");
    assert_true(newest_migration() >= 1);
    assert_int_equal(fx->s->ops->schema_version(fx->s), newest_migration());
    assert_int_equal(fx->s->ops->ping(fx->s, &err), 0);
    /* the database's clock is readable and is today's */
    int64_t db = 0;
    assert_non_null(fx->s->ops->db_clock);
    assert_int_equal(fx->s->ops->db_clock(fx->s, &db, &err), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t here = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    assert_true(db > here - 60000 && db < here + 60000);
}

static void pg_newer_schema_refused(void **state) {
    conf_fx *fx = *state;
    pg_fx *p = fx->backend;
    je_err err;
    char sql[300];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.je_schema_migrations(version, name, applied_at) "
             "VALUES(999, 'future', now())",
             p->schema);
    assert_int_equal(pg_admin(sql), 0);
    je_store *again = je_store_open(fx->url, &err);
    assert_null(again);
    assert_string_equal(err.code, "STORE");
    assert_non_null(strstr(err.message, "newer"));
    assert_non_null(strstr(err.message, "999"));
}

static void pg_tamper_detected(void **state) {
    conf_fx *fx = *state;
    pg_fx *p = fx->backend;
    je_err err;
    for (int i = 0; i < 5; i++) assert_int_equal(conf_append(fx->s, "T", 1000 + i, &err), 0);
    assert_true(conf_verify(fx->s, "T").valid);
    char sql[300];
    snprintf(sql, sizeof sql,
             "UPDATE %s.audit_entries SET entry_json = replace(entry_json, 'ops-bot', 'mallory') "
             "WHERE tenant_id='T' AND sequence=3",
             p->schema);
    assert_int_equal(pg_admin(sql), 0);
    je_audit_verifier v = conf_verify(fx->s, "T");
    assert_false(v.valid);
    assert_int_equal(v.first_broken, 3);
}

/* Several nodes starting at once on an empty database: each migration is applied once (the
 * advisory lock), every node opens, and all see the same version. */
typedef struct opener {
    const char *url;
    je_store *s;
    char error[512];
} opener;

static void *open_one(void *arg) {
    opener *o = arg;
    je_err err;
    o->s = je_store_open(o->url, &err);
    if (!o->s) snprintf(o->error, sizeof o->error, "%s", err.message);
    return NULL;
}

static void pg_concurrent_migrate(void **state) {
    conf_fx *fx = *state;
    pg_fx *p = fx->backend;
    char schema[80], url[1200], sql[300];
    snprintf(schema, sizeof schema, "%s_m", p->schema);
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    assert_int_equal(pg_admin(sql), 0);
    snprintf(url, sizeof url, "%s?options=-csearch_path%%3D%s", pg_url(), schema);
    enum { N = 6 };
    opener o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        o[i].url = url;
        assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        if (!o[i].s) {
            print_error("node %d: %s\n", i, o[i].error);
            continue;
        }
        ok++;
        assert_int_equal(o[i].s->ops->schema_version(o[i].s), newest_migration());
        je_store_close(o[i].s);
    }
    assert_int_equal(ok, N);
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF (SELECT count(*) FROM %s.je_schema_migrations) <> %d THEN "
             "RAISE EXCEPTION 'migrations applied more than once'; END IF; END $$",
             schema, newest_migration());
    assert_int_equal(pg_admin(sql), 0);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    pg_admin(sql);
}

static void pg_urls(void **state) {
    (void)state;
    je_err err;
    /* nothing listens on port 1: a clear STORE error, quickly, naming no password */
    assert_null(je_store_open("postgres://user:hunter2@127.0.0.1:1/x", &err));
    assert_string_equal(err.code, "STORE");
    assert_non_null(strstr(err.message, "PostgreSQL"));
    assert_null(strstr(err.message, "hunter2"));
    assert_null(je_store_open("postgresql://user:hunter2@127.0.0.1:1/x", &err));
    assert_null(strstr(err.message, "hunter2"));
    /* libpq's environment names the server when the URL is the bare scheme */
    char port[16] = "";
    const char *u = pg_url();
    const char *colon = strrchr(u, ':');
    assert_non_null(colon);
    snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    setenv("PGHOST", "127.0.0.1", 1);
    setenv("PGPORT", port, 1);
    setenv("PGUSER", "postgres", 1);
    setenv("PGDATABASE", "postgres", 1);
    setenv("PGOPTIONS", "-csearch_path=conf_env", 1);
    assert_int_equal(pg_admin("DROP SCHEMA IF EXISTS conf_env CASCADE; CREATE SCHEMA conf_env"), 0);
    je_store *s = je_store_open("postgres:", &err);
    if (!s) print_error("postgres: %s\n", err.message);
    assert_non_null(s);
    assert_int_equal(s->ops->ping(s, &err), 0);
    je_store_close(s);
    unsetenv("PGOPTIONS");
    assert_int_equal(pg_admin("DROP SCHEMA conf_env CASCADE"), 0);
    /* an unknown libpq setting is refused, not ignored */
    char bad[700];
    snprintf(bad, sizeof bad, "%s?nonsense=1", u);
    assert_null(je_store_open(bad, &err));
    assert_string_equal(err.code, "STORE");
}

/* Run last: PostgreSQL completes on the calling thread, so the fiber cases never parked. Only
 * the domains of the hot paths run on fibers here: on this backend the fiber form is the plain
 * form on another stack, and the whole suite twice would cost a minute of CI. */
static void pg_fibers_inline(void **state) {
    (void)state;
    assert_int_equal(atomic_load(&conf_fiber_parks), 0);
}

int main(void) {
    conf_fiber_backend_setup = pg_setup;
    const struct CMUnitTest tests[] = {
        JE_STORE_CONFORMANCE_TESTS(pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(pg_basics, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(pg_newer_schema_refused, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(pg_tamper_detected, pg_setup, pg_teardown),
        cmocka_unit_test_setup_teardown(pg_concurrent_migrate, pg_setup, pg_teardown),
        cmocka_unit_test(pg_urls),
#undef cmocka_unit_test_setup_teardown
#define cmocka_unit_test_setup_teardown CONF_FIBER_TEST
        JE_CONF_QUOTA_DECISION_TESTS(conf_fiber_setup, pg_teardown),
        JE_CONF_JOB_LEASING_TESTS(conf_fiber_setup, pg_teardown),
        cmocka_unit_test(pg_fibers_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/conformance/common.h: what the conformance domains share: the includes, the
 * fixture conf_fx that a backend's setup fills, building audit entries and verifying a chain
 * (conf_entry, conf_verify), conf_now, the client and key builders, the revoked-token
 * collector and CONF_THREADS. Worker threads never call cmocka asserts: they count failures
 * and the main thread checks. */
#ifndef JE_TESTS_CONFORMANCE_COMMON_H
#define JE_TESTS_CONFORMANCE_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/audit.h"
#include "core/jcs.h"
#include "store/store.h"

typedef struct conf_fx {
    je_store *s;
    char url[1200];                   /* je_store_open(url) reopens the same database */
    void *backend;                    /* the backend test's own data */
    void (*fiber_test)(void **state); /* the case conformance/fiber.h runs on a fiber */
} conf_fx;

/* ---- helpers ---------------------------------------------------------------------------- */

static atomic_long conf_entry_counter;

typedef struct conf_ev {
    const char *tenant, *event_type, *resource_type, *resource_id, *actor;
    int64_t occurred_ms;
} conf_ev;

static json_t *conf_entry(const conf_ev *e) {
    char id[64];
    snprintf(id, sizeof id, "entry-%ld", atomic_fetch_add(&conf_entry_counter, 1) + 1);
    je_audit_fields f = {id,
                         e->tenant,
                         e->event_type,
                         e->resource_type,
                         e->resource_id,
                         e->actor,
                         "client",
                         NULL,
                         NULL,
                         e->occurred_ms,
                         json_pack("{s:i}", "n", 1)};
    return je_audit_entry_new(&f);
}

static int conf_feed(void *ctx, int64_t sequence, const char *json, size_t len) {
    (void)sequence;
    je_audit_verifier_feed_text(ctx, json, len);
    return 0;
}

/* Verifies tenant's whole chain through audit_scan. */
static je_audit_verifier conf_verify(je_store *s, const char *tenant) {
    je_audit_verifier v;
    je_err err;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    assert_int_equal(s->ops->audit_scan(s, tenant, 1, conf_feed, &v, &err), 0);
    return v;
}

static double conf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static je_client conf_client(const char *id, unsigned char fill, const char *tenant) {
    je_client c;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    memset(c.secret_sha256, fill, sizeof c.secret_sha256);
    c.n_tenants = 2;
    snprintf(c.tenants[0], sizeof c.tenants[0], "%s", tenant);
    snprintf(c.tenants[1], sizeof c.tenants[1], "shared");
    c.n_roles = 1;
    snprintf(c.roles[0], sizeof c.roles[0], "operator");
    c.created_ms = 1000;
    c.updated_ms = 1000;
    return c;
}

/* Worker threads of the concurrency cases (audit, quotas, jobs). */
#define CONF_THREADS 8

static je_key conf_key(const char *kid, int64_t created, unsigned char fill) {
    je_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.kid, sizeof k.kid, "%s", kid);
    memset(k.priv, fill, sizeof k.priv);
    memset(k.pub, fill ^ 0xFF, sizeof k.pub);
    k.created_ms = created;
    return k;
}

static int conf_collect_jti(void *ctx, const char *jti, int64_t exp_ms) {
    char *out = ctx;
    char one[64];
    snprintf(one, sizeof one, "%s@%lld ", jti, (long long)exp_ms);
    strcat(out, one);
    return 0;
}

#endif

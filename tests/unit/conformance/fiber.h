/* tests/unit/conformance/fiber.h: the conformance cases again, each run on a fiber
 * (base/fiber.h) hosted by the test thread, the way the HTTP server runs a request that may
 * write. This is store.h's second form of waiting: a backend that commits on a thread of its
 * own (SQLite's writer) parks the fiber and wakes it from the commit; one that completes on the
 * calling thread (PostgreSQL) never parks. Worker threads of a case stay plain threads, so the
 * two forms also meet in one transaction stream.
 *
 * A backend's test lists, after its plain cases:
 *     conf_fiber_backend_setup = its_setup;   (in main, before running)
 *     #undef cmocka_unit_test_setup_teardown
 *     #define cmocka_unit_test_setup_teardown CONF_FIBER_TEST
 *     JE_STORE_CONFORMANCE_TESTS(conf_fiber_setup, its_teardown)
 * and may check conf_fiber_parks afterwards. */
#ifndef JE_TESTS_CONFORMANCE_FIBER_H
#define JE_TESTS_CONFORMANCE_FIBER_H

#include "common.h"
#include "base/fiber.h"

static CMFixtureFunction conf_fiber_backend_setup;
static atomic_long conf_fiber_parks; /* wakes seen: each ended one park */

typedef struct conf_fiber_host {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken;
} conf_fiber_host;

static void conf_fiber_wake(void *arg) {
    conf_fiber_host *h = arg;
    pthread_mutex_lock(&h->mu);
    h->woken = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

typedef struct conf_fiber_call {
    CMUnitTestFunction fn;
    void **state;
} conf_fiber_call;

static void conf_fiber_body(void *arg) {
    conf_fiber_call *c = arg;
    c->fn(c->state);
}

/* initial_state carries the case (CONF_FIBER_TEST): kept in the fixture the setup makes. */
static int conf_fiber_setup(void **state) {
    union {
        void *p;
        CMUnitTestFunction fn;
    } test = {*state};
    int rc = conf_fiber_backend_setup(state);
    if (rc == 0) ((conf_fx *)*state)->fiber_test = test.fn;
    return rc;
}

/* Runs the case on a fiber; after each park, waits on this thread for the wake, then resumes
 * (a wake may come before the park has switched away: the flag keeps it). */
static void conf_fiber_run(void **state) {
    conf_fx *fx = *state;
    conf_fiber_host h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    conf_fiber_call c = {fx->fiber_test, state};
    int failed = 0;
    je_fiber *f = je_fiber_start(conf_fiber_body, &c, conf_fiber_wake, &h, &failed);
    assert_false(failed);
    while (f) {
        pthread_mutex_lock(&h.mu);
        while (!h.woken) pthread_cond_wait(&h.cv, &h.mu);
        h.woken = 0;
        pthread_mutex_unlock(&h.mu);
        atomic_fetch_add(&conf_fiber_parks, 1);
        if (je_fiber_resume(f)) f = NULL;
    }
}

#define CONF_FIBER_TEST(f, setup, teardown)                                                        \
    { "fiber:" #f, conf_fiber_run, setup, teardown, (void *)(f) }

#endif

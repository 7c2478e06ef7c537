/* tests/unit/test_fiber.c: base/fiber.h. A fiber that never waits finishes inside start; one
 * that parks gives its thread back and goes on after its wake, whether the wake comes from
 * another thread after the park or before the park has switched away; many fibers parked at
 * once each resume with their own stack; thread-locals stay the host thread's. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "base/fiber.h"

typedef struct host {
    atomic_int woken;
    int wakes;
} host;

static void on_wake(void *arg) {
    host *h = arg;
    atomic_store(&h->woken, 1);
    h->wakes++;
}

static void count_up(void *arg) {
    int *n = arg;
    assert_non_null(je_fiber_self());
    (*n)++;
}

static void no_wait_finishes_in_start(void **state) {
    (void)state;
    int n = 0, failed = 1;
    host h = {0};
    assert_null(je_fiber_self());
    for (int i = 0; i < 200; i++) /* stacks are reused */
        assert_null(je_fiber_start(count_up, &n, on_wake, &h, &failed));
    assert_int_equal(failed, 0);
    assert_int_equal(n, 200);
    assert_null(je_fiber_self());
    assert_int_equal(h.wakes, 0);
}

/* ---- a wake from another thread ---------------------------------------------------------- */

typedef struct job {
    je_fiber *fiber;
    int input, output;
    char stack_mark[64]; /* lives on the fiber's stack while parked */
} job;

static void *waker(void *arg) {
    job *j = arg;
    j->output = j->input * 2; /* the "commit": result first, then the wake */
    je_fiber_wake(j->fiber);
    return NULL;
}

static _Thread_local int thread_mark;

typedef struct parked_ctx {
    int input, result, steps, mark_seen;
    int early; /* 1: the waker runs before the park */
} parked_ctx;

static void parks_twice(void *arg) {
    parked_ctx *c = arg;
    for (int step = 0; step < 2; step++) {
        job j = {je_fiber_self(), c->input + step, 0, "on the fiber's stack"};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, waker, &j), 0);
        if (c->early) pthread_join(t, NULL); /* woken before it parks */
        je_fiber_park();
        if (!c->early) pthread_join(t, NULL);
        assert_string_equal(j.stack_mark, "on the fiber's stack");
        c->result += j.output;
        c->steps++;
    }
    c->mark_seen = thread_mark;
}

static void run_parked(int early) {
    host h = {0};
    parked_ctx c = {.input = 20, .early = early};
    int failed = 0;
    thread_mark = 7;
    je_fiber *f = je_fiber_start(parks_twice, &c, on_wake, &h, &failed);
    assert_non_null(f);
    int resumes = 0;
    while (f) {
        while (!atomic_load(&h.woken)) sched_yield();
        atomic_store(&h.woken, 0);
        assert_int_equal(c.steps, resumes); /* parked: nothing ran past the wait */
        resumes++;
        if (je_fiber_resume(f)) f = NULL;
    }
    assert_int_equal(resumes, 2);
    assert_int_equal(c.steps, 2);
    assert_int_equal(c.result, 40 + 42);
    assert_int_equal(c.mark_seen, 7);
    assert_null(je_fiber_self());
}

static void park_then_wake(void **state) {
    (void)state;
    run_parked(0);
}

static void wake_before_park(void **state) {
    (void)state;
    run_parked(1);
}

/* ---- many parked at once ------------------------------------------------------------------ */

#define MANY 100

typedef struct many_ctx {
    int id;
    host *h;
    int done;
} many_ctx;

static void park_once(void *arg) {
    many_ctx *c = arg;
    char buf[4096]; /* each fiber's own stack */
    memset(buf, c->id & 0xff, sizeof buf);
    je_fiber_park();
    for (size_t i = 0; i < sizeof buf; i++)
        if ((unsigned char)buf[i] != (c->id & 0xff)) return;
    c->done = 1;
}

static void many_parked(void **state) {
    (void)state;
    static many_ctx ctx[MANY];
    static host hosts[MANY];
    je_fiber *f[MANY];
    int failed = 0;
    for (int i = 0; i < MANY; i++) {
        ctx[i] = (many_ctx){i, &hosts[i], 0};
        f[i] = je_fiber_start(park_once, &ctx[i], on_wake, &hosts[i], &failed);
        assert_non_null(f[i]);
    }
    for (int i = MANY - 1; i >= 0; i--) { /* resumed in another order than parked */
        je_fiber_wake(f[i]);
        assert_int_equal(hosts[i].wakes, 1);
        assert_int_equal(je_fiber_resume(f[i]), 1);
        assert_int_equal(ctx[i].done, 1);
    }
    je_fiber_pool_drain();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_wait_finishes_in_start),
        cmocka_unit_test(park_then_wake),
        cmocka_unit_test(wake_before_park),
        cmocka_unit_test(many_parked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

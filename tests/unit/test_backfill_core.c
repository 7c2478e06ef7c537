/* Unit tests for core/backfill.c: event-time windows (domain.md §3), the state machine and the
 * safety checks with the plan hash (§5), and the ledger's duplicate rule (§4). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/backfill.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1795824000000LL /* 2026-11-28T00:00:00.000Z */

static void test_windows_overlap_half_open(void **state) {
    je_window a = {T0, T0 + HOUR}, b = {T0 + HOUR, T0 + 2 * HOUR}, c = {T0 + HOUR - 1, T0 + HOUR};
    assert_false(je_window_overlaps(a, b)); /* touching ends do not overlap */
    assert_false(je_window_overlaps(b, a));
    assert_true(je_window_overlaps(a, c));
    assert_true(je_window_overlaps(c, a));
    assert_true(je_window_overlaps(a, a));
    je_window inner = {T0 + 10, T0 + 20};
    assert_true(je_window_overlaps(a, inner));
    assert_true(je_window_empty((je_window){T0, T0}));
    assert_true(je_window_empty((je_window){T0, T0 - 1}));
    assert_false(je_window_empty((je_window){T0, T0 + 1}));
}

static void test_batches_aligned_to_start_last_partial(void **state) {
    je_window w = {T0 + 5, T0 + 5 + 2 * HOUR + 30};
    assert_int_equal(je_window_batches(w, HOUR), 3);
    je_window b0 = je_window_batch(w, HOUR, 0), b2 = je_window_batch(w, HOUR, 2);
    assert_int_equal(b0.start, T0 + 5);
    assert_int_equal(b0.end, T0 + 5 + HOUR);
    assert_int_equal(b2.start, T0 + 5 + 2 * HOUR);
    assert_int_equal(b2.end, w.end); /* the last one ends at the window's end */
    /* consecutive: each batch starts where the previous ended */
    for (int64_t i = 1; i < 3; i++)
        assert_int_equal(je_window_batch(w, HOUR, i).start, je_window_batch(w, HOUR, i - 1).end);
    assert_int_equal(je_window_batches((je_window){T0, T0 + 2 * HOUR}, HOUR), 2); /* exact */
    assert_int_equal(je_window_batches((je_window){T0, T0 + 1}, HOUR), 1);        /* 1 ms */
    je_window one = je_window_batch((je_window){T0, T0 + 1}, HOUR, 0);
    assert_int_equal(one.end - one.start, 1);
    assert_int_equal(je_window_batches((je_window){T0, T0}, HOUR), 0); /* empty */
    assert_int_equal(je_window_batches((je_window){T0, T0 + HOUR}, 0), 0);
}

static void test_state_machine(void **state) {
    const int ok[][2] = {{JE_BF_PENDING, JE_BF_RUNNING}, {JE_BF_PENDING, JE_BF_CANCELED},
                         {JE_BF_RUNNING, JE_BF_PAUSED},  {JE_BF_RUNNING, JE_BF_COMPLETED},
                         {JE_BF_RUNNING, JE_BF_FAILED},  {JE_BF_RUNNING, JE_BF_CANCELED},
                         {JE_BF_PAUSED, JE_BF_RUNNING},  {JE_BF_PAUSED, JE_BF_FAILED},
                         {JE_BF_PAUSED, JE_BF_CANCELED}};
    int allowed = 0;
    for (int from = 0; from < JE_BF_STATE_COUNT; from++)
        for (int to = 0; to < JE_BF_STATE_COUNT; to++) {
            int expect = 0;
            for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
                expect |= ok[i][0] == from && ok[i][1] == to;
            assert_int_equal(je_backfill_can_move(from, to), expect);
            allowed += expect;
        }
    assert_int_equal(allowed, 9); /* finished states never change again */
    assert_true(je_backfill_unfinished(JE_BF_PAUSED));
    assert_false(je_backfill_unfinished(JE_BF_COMPLETED));
    for (int s = 0; s < JE_BF_STATE_COUNT; s++)
        assert_int_equal(je_backfill_state_parse(je_backfill_state_name(s)), s);
    assert_int_equal(je_backfill_state_parse("done"), -1);
}

static const je_backfill_limits limits = {31 * DAY, 10000, DAY};

static je_backfill_plan evaluate(je_window w, int64_t batch, const je_backfill_facts *f,
                                 int force) {
    je_backfill_request q = {"acme", "nvd", "advisory.ingest", w, batch, force};
    je_backfill_plan p;
    je_backfill_evaluate(&q, f, &limits, T0 + 10 * DAY, &p);
    return p;
}

static int check(const je_backfill_plan *p, const char *name) {
    for (int i = 0; i < JE_BF_CHECKS; i++)
        if (strcmp(p->checks[i].name, name) == 0) return p->checks[i].passed;
    fail_msg("no check %s", name);
    return -1;
}

static void test_safety_checks(void **state) {
    je_backfill_facts ok = {1, 0, NULL, NULL, 0, 0};
    je_backfill_plan p = evaluate((je_window){T0, T0 + DAY}, HOUR, &ok, 0);
    assert_true(p.all_passed);
    assert_int_equal(p.batches, 24);
    p = evaluate((je_window){T0 + DAY, T0}, HOUR, &ok, 0);
    assert_false(check(&p, "window_order"));
    p = evaluate((je_window){T0, T0 + 11 * DAY}, HOUR, &ok, 0); /* ends after now */
    assert_false(check(&p, "window_not_future"));
    assert_true(check(&p, "window_order"));
    p = evaluate((je_window){T0 - 30 * DAY, T0 + DAY + 1}, DAY, &ok, 0); /* 31 d + 1 ms */
    assert_false(check(&p, "window_within_limit"));
    p = evaluate((je_window){T0 - 30 * DAY, T0 + DAY}, DAY, &ok, 0); /* exactly 31 d */
    assert_true(check(&p, "window_within_limit"));
    p = evaluate((je_window){T0, T0 + DAY}, 8, &ok, 0); /* 10.8 M batches */
    assert_false(check(&p, "batch_count_within_limit"));
    je_backfill_facts none = {0, 0, NULL, NULL, 0, 0}, paused = {1, 1, NULL, NULL, 0, 0};
    p = evaluate((je_window){T0, T0 + DAY}, HOUR, &none, 0);
    assert_false(check(&p, "quota_exists"));
    assert_false(check(&p, "quota_not_paused")); /* passes only when a quota exists */
    p = evaluate((je_window){T0, T0 + DAY}, HOUR, &paused, 0);
    assert_true(check(&p, "quota_exists"));
    assert_false(check(&p, "quota_not_paused"));
    assert_false(p.all_passed);
}

static void test_no_overlap_and_force(void **state) {
    je_backfill_facts overlap = {1, 0, "bf-running", NULL, 0, 0};
    je_backfill_plan p = evaluate((je_window){T0, T0 + DAY}, HOUR, &overlap, 1);
    assert_false(p.no_overlap_passed); /* an unfinished overlap is refused even with force */
    assert_string_equal(p.duplicate_of, "bf-running");
    je_backfill_facts repeat = {1, 0, NULL, "bf-done", 0, 0};
    p = evaluate((je_window){T0, T0 + DAY}, HOUR, &repeat, 0);
    assert_false(p.no_overlap_passed);
    assert_string_equal(p.duplicate_of, "bf-done");
    p = evaluate((je_window){T0, T0 + DAY}, HOUR, &repeat, 1); /* a repeat passes with force */
    assert_true(p.no_overlap_passed);
    assert_null(p.duplicate_of);
}

/* planHash = "sha256:" + hex(SHA-256(JCS({...}))), computed here from a hand-written JCS text. */
static void test_plan_hash_is_the_documented_one(void **state) {
    je_backfill_facts f = {1, 0, NULL, NULL, 90211, 90002};
    je_backfill_plan p = evaluate((je_window){T0, T0 + 7 * DAY}, HOUR, &f, 0);
    const char *jcs = "{\"alreadyProcessed\":90002,\"batchSeconds\":3600,\"batches\":168,"
                      "\"forceReprocess\":false,\"jobType\":\"advisory.ingest\",\"knownEvents\":"
                      "90211,\"sourceId\":\"nvd\",\"tenantId\":\"acme\",\"windowEnd\":"
                      "\"2026-12-05T00:00:00.000Z\",\"windowStart\":\"2026-11-28T00:00:00.000Z\"}";
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(jcs, strlen(jcs), d, &dl, EVP_sha256(), NULL);
    char want[72] = "sha256:";
    for (int i = 0; i < 32; i++) snprintf(want + 7 + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(p.plan_hash, want);
    je_backfill_facts more = {1, 0, NULL, NULL, 90212, 90002}; /* one new event */
    je_backfill_plan q = evaluate((je_window){T0, T0 + 7 * DAY}, HOUR, &more, 0);
    assert_string_not_equal(q.plan_hash, p.plan_hash);
}

static void test_ledger_rule(void **state) {
    int keep = 0;
    je_ledger_entry none = {0};
    assert_int_equal(je_ledger_decide(&none, NULL, 0, &keep), JE_CLAIM_NEW);
    je_ledger_entry done = {1, 1, "d1", 0}, done_nodigest = {1, 1, NULL, 0};
    assert_int_equal(je_ledger_decide(&done, "d1", 0, &keep), JE_CLAIM_DUPLICATE);
    assert_int_equal(je_ledger_decide(&done, NULL, 0, &keep), JE_CLAIM_DUPLICATE);
    assert_int_equal(je_ledger_decide(&done, "d2", 0, &keep), JE_CLAIM_NEW); /* changed */
    assert_int_equal(je_ledger_decide(&done, "d1", 1, &keep), JE_CLAIM_NEW); /* forced */
    assert_int_equal(je_ledger_decide(&done_nodigest, "d1", 0, &keep), JE_CLAIM_DUPLICATE);
    assert_true(keep); /* the digest given is kept */
    je_ledger_entry inflight = {1, 0, NULL, 1}, inflight_done = {1, 1, "d1", 1};
    assert_int_equal(je_ledger_decide(&inflight, NULL, 0, &keep), JE_CLAIM_DUPLICATE);
    assert_int_equal(je_ledger_decide(&inflight_done, "d2", 1, &keep), JE_CLAIM_DUPLICATE);
    je_ledger_entry released = {1, 0, NULL, 0}; /* claimed once, given up */
    assert_int_equal(je_ledger_decide(&released, NULL, 0, &keep), JE_CLAIM_NEW);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_overlap_half_open),
        cmocka_unit_test(test_batches_aligned_to_start_last_partial),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_safety_checks),
        cmocka_unit_test(test_no_overlap_and_force),
        cmocka_unit_test(test_plan_hash_is_the_documented_one),
        cmocka_unit_test(test_ledger_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

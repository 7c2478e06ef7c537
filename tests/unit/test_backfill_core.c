/* Unit tests for core/backfill.c: event-time windows (domain.md §3), the state machine and the
 * safety checks with the plan hash (§5), and the ledger's duplicate rule (§4); and for
 * core/backfill_run.c, a backfill's life after create: operator moves, batch accounting, the
 * engine's advance and the shape of a batch job. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/backfill.h"
#include "core/quota.h" /* JE_NO_TIME */

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

/* ---- life after create (core/backfill_run.c) -------------------------------------------- */

#define NOW (T0 + 10 * DAY)

/* A backfill of acme/nvd over [T0, T0 + 10 h) in 1 h batches, version 2, in state st, never
 * started, nothing done. */
static je_backfill_record backfill(int st) {
    je_backfill_record b;
    memset(&b, 0, sizeof b);
    strcpy(b.backfill_id, "bf-1");
    strcpy(b.tenant_id, "acme");
    strcpy(b.source_id, "nvd");
    strcpy(b.job_type, "advisory.ingest");
    b.window_start_ms = T0;
    b.window_end_ms = T0 + 10 * HOUR;
    b.batch_ms = HOUR;
    b.status = st;
    b.plan_batches = 10;
    b.created_ms = T0 + 9 * DAY;
    b.started_ms = b.completed_ms = JE_NO_TIME;
    b.version = 2;
    return b;
}

static void test_backfill_canceled_error(void **state) {
    assert_string_equal(JE_BACKFILL_CANCELED_ERROR, "backfill canceled");
}

/* start, pause, resume, cancel: startedAt on the first start only, completedAt on cancel. */
static void test_move_operator_path(void **state) {
    je_backfill_record b = backfill(JE_BF_PENDING);
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_backfill_move(&b, JE_BF_PENDING, JE_BF_RUNNING, NOW, &err), 0);
    assert_int_equal(b.status, JE_BF_RUNNING);
    assert_true(b.started_ms == NOW);
    assert_true(b.completed_ms == JE_NO_TIME);
    assert_int_equal(b.version, 3);
    assert_null(err.code);
    assert_int_equal(je_backfill_move(&b, JE_BF_RUNNING, JE_BF_PAUSED, NOW + 1000, &err), 0);
    assert_int_equal(b.status, JE_BF_PAUSED);
    assert_true(b.started_ms == NOW);
    assert_int_equal(b.version, 4);
    assert_int_equal(je_backfill_move(&b, JE_BF_PAUSED, JE_BF_RUNNING, NOW + 2000, &err), 0);
    assert_int_equal(b.status, JE_BF_RUNNING);
    assert_true(b.started_ms == NOW); /* a resume is not a first start */
    assert_true(b.completed_ms == JE_NO_TIME);
    assert_int_equal(b.version, 5);
    assert_int_equal(je_backfill_move(&b, JE_BF_STATE_COUNT, JE_BF_CANCELED, NOW + 3000, &err), 0);
    assert_int_equal(b.status, JE_BF_CANCELED);
    assert_true(b.completed_ms == NOW + 3000);
    assert_true(b.started_ms == NOW);
    assert_int_equal(b.version, 6);
    /* cancel of a pending one: completed, never started */
    je_backfill_record p = backfill(JE_BF_PENDING);
    assert_int_equal(je_backfill_move(&p, JE_BF_STATE_COUNT, JE_BF_CANCELED, NOW, &err), 0);
    assert_true(p.completed_ms == NOW);
    assert_true(p.started_ms == JE_NO_TIME);
    assert_int_equal(p.version, 3);
}

/* A refused move changes nothing and names both states. */
static void assert_move_refused(int from, int required, int to, const char *from_name,
                                const char *to_name) {
    je_backfill_record b = backfill(from), before = b;
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_backfill_move(&b, required, to, NOW, &err), -1);
    assert_string_equal(err.code, "INVALID_STATE");
    assert_non_null(strstr(err.message, from_name));
    assert_non_null(strstr(err.message, to_name));
    assert_memory_equal(&before, &b, sizeof b);
}

static void test_move_refused(void **state) {
    /* the machine allows pending -> running, but resume requires paused */
    assert_move_refused(JE_BF_PENDING, JE_BF_PAUSED, JE_BF_RUNNING, "pending", "running");
    /* start of a paused one: start requires pending */
    assert_move_refused(JE_BF_PAUSED, JE_BF_PENDING, JE_BF_RUNNING, "paused", "running");
    assert_move_refused(JE_BF_PENDING, JE_BF_RUNNING, JE_BF_PAUSED, "pending", "paused");
    assert_move_refused(JE_BF_PAUSED, JE_BF_RUNNING, JE_BF_PAUSED, "paused", "paused");
    /* finished ones never move, even with any state admitted */
    assert_move_refused(JE_BF_COMPLETED, JE_BF_STATE_COUNT, JE_BF_CANCELED, "completed",
                        "canceled");
    assert_move_refused(JE_BF_FAILED, JE_BF_STATE_COUNT, JE_BF_RUNNING, "failed", "running");
    assert_move_refused(JE_BF_CANCELED, JE_BF_STATE_COUNT, JE_BF_CANCELED, "canceled", "canceled");
}

static void test_finish(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    je_backfill_finish(&b, JE_BF_COMPLETED, NULL, NOW);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_true(b.completed_ms == NOW);
    assert_int_equal(b.version, 3);
    assert_string_equal(b.error, "");
    je_backfill_record f = backfill(JE_BF_PAUSED);
    je_backfill_finish(&f, JE_BF_FAILED, "batch 3 failed its last attempt", NOW + 5);
    assert_int_equal(f.status, JE_BF_FAILED);
    assert_true(f.completed_ms == NOW + 5);
    assert_int_equal(f.version, 3);
    assert_string_equal(f.error, "batch 3 failed its last attempt");
}

static void test_batch_done_counts_and_completes(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    b.plan_batches = 3;
    b.batches_submitted = 3;
    assert_int_equal(je_backfill_batch_done(&b, 0, 1, 0, 10, NOW), JE_BF_RUNNING);
    assert_int_equal(b.batches_done, 1);
    assert_int_equal(b.events_processed, 10);
    assert_int_equal(b.version, 2); /* counting is not a state change */
    /* a failed attempt that will be retried counts nothing */
    assert_int_equal(je_backfill_batch_done(&b, 1, 0, 0, 7, NOW), JE_BF_RUNNING);
    assert_int_equal(b.batches_done, 1);
    assert_int_equal(b.events_processed, 10);
    assert_int_equal(b.events_failed, 0);
    assert_int_equal(je_backfill_batch_done(&b, 1, 1, 0, 7, NOW + 1), JE_BF_RUNNING);
    assert_true(b.completed_ms == JE_NO_TIME);
    /* the last one: completed */
    assert_int_equal(je_backfill_batch_done(&b, 2, 1, 0, 0, NOW + 2), JE_BF_COMPLETED);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_int_equal(b.batches_done, 3);
    assert_int_equal(b.events_processed, 17);
    assert_true(b.completed_ms == NOW + 2);
    assert_int_equal(b.version, 3);
    assert_string_equal(b.error, "");
}

/* A paused backfill whose last batch succeeds stays paused (it completes on resume). */
static void test_batch_done_while_paused(void **state) {
    je_backfill_record b = backfill(JE_BF_PAUSED);
    b.plan_batches = 2;
    b.batches_submitted = 2;
    b.batches_done = 1;
    assert_int_equal(je_backfill_batch_done(&b, 1, 1, 0, 5, NOW), JE_BF_PAUSED);
    assert_int_equal(b.status, JE_BF_PAUSED);
    assert_int_equal(b.batches_done, 2);
    assert_int_equal(b.events_processed, 5);
    assert_true(b.completed_ms == JE_NO_TIME);
    assert_int_equal(b.version, 2);
    /* on resume the engine's step completes it */
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_backfill_move(&b, JE_BF_PAUSED, JE_BF_RUNNING, NOW + 10, &err), 0);
    int64_t first = -1, count = -1;
    assert_int_equal(je_backfill_advance(&b, 4, NOW + 20, &first, &count), JE_BF_COMPLETED);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_int_equal(count, 0);
    assert_true(b.completed_ms == NOW + 20);
}

static void test_batch_done_final_failure(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    b.batches_submitted = 4;
    b.batches_done = 1;
    b.events_processed = 3;
    assert_int_equal(je_backfill_batch_done(&b, 2, 0, 1, 6, NOW), JE_BF_FAILED);
    assert_int_equal(b.status, JE_BF_FAILED);
    assert_int_equal(b.events_failed, 6);
    assert_int_equal(b.batches_done, 1); /* not done */
    assert_int_equal(b.events_processed, 3);
    assert_true(b.completed_ms == NOW);
    assert_int_equal(b.version, 3);
    assert_string_equal(b.error, "batch 2 failed its last attempt");
    /* paused: fails too (the machine allows paused -> failed) */
    je_backfill_record p = backfill(JE_BF_PAUSED);
    assert_int_equal(je_backfill_batch_done(&p, 0, 0, 1, 0, NOW), JE_BF_FAILED);
    assert_string_equal(p.error, "batch 0 failed its last attempt");
    /* canceled: a late final failure is counted but changes no state */
    je_backfill_record c = backfill(JE_BF_CANCELED);
    c.completed_ms = NOW - 100;
    assert_int_equal(je_backfill_batch_done(&c, 9, 0, 1, 4, NOW), JE_BF_CANCELED);
    assert_int_equal(c.events_failed, 4);
    assert_true(c.completed_ms == NOW - 100);
    assert_int_equal(c.version, 2);
    assert_string_equal(c.error, "");
    /* a late success on a canceled one does not complete it */
    c.batches_done = 9;
    assert_int_equal(je_backfill_batch_done(&c, 8, 1, 0, 2, NOW), JE_BF_CANCELED);
    assert_int_equal(c.batches_done, 10);
    assert_int_equal(c.version, 2);
    /* after it failed, a later final failure of another batch keeps the first error */
    assert_int_equal(je_backfill_batch_done(&b, 3, 0, 1, 1, NOW + 1), JE_BF_FAILED);
    assert_string_equal(b.error, "batch 2 failed its last attempt");
    assert_int_equal(b.version, 3);
    assert_true(b.completed_ms == NOW);
}

static void test_note_duplicates(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    je_backfill_note_duplicates(&b, 3);
    je_backfill_note_duplicates(&b, 0);
    je_backfill_note_duplicates(&b, 4);
    assert_int_equal(b.duplicates_skipped, 7);
    assert_int_equal(b.version, 2);
    assert_int_equal(b.status, JE_BF_RUNNING);
}

static void assert_advance(je_backfill_record *b, int64_t in_flight, int64_t want_first,
                           int64_t want_count, int64_t want_submitted) {
    int64_t first = -1, count = -1;
    assert_int_equal(je_backfill_advance(b, in_flight, NOW, &first, &count), JE_BF_RUNNING);
    assert_int_equal(count, want_count);
    if (want_count > 0) assert_int_equal(first, want_first);
    assert_int_equal(b->batches_submitted, want_submitted);
    assert_int_equal(b->status, JE_BF_RUNNING);
}

/* 10 batches, 4 in flight: submissions follow completions and stop at the plan. */
static void test_advance_keeps_in_flight(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    assert_advance(&b, 4, 0, 4, 4);
    assert_advance(&b, 4, 4, 0, 4); /* nothing done yet: nothing more */
    b.batches_done = 2;
    assert_advance(&b, 4, 4, 2, 6);
    b.batches_done = 7; /* out of order completions do not matter, only the count */
    assert_advance(&b, 4, 6, 4, 10);
    b.batches_done = 9;
    assert_advance(&b, 4, 10, 0, 10); /* never beyond the plan */
    assert_int_equal(b.version, 2);
    assert_true(b.completed_ms == JE_NO_TIME);
    /* the last batches: fewer left than room */
    je_backfill_record c = backfill(JE_BF_RUNNING);
    c.batches_submitted = 9;
    c.batches_done = 7;
    assert_advance(&c, 4, 9, 1, 10);
}

static void test_advance_edges(void **state) {
    /* in_flight 0: nothing is ever submitted */
    je_backfill_record b = backfill(JE_BF_RUNNING);
    assert_advance(&b, 0, 0, 0, 0);
    /* in_flight lowered below what is outstanding: none, and never a negative count */
    b.batches_submitted = 6;
    b.batches_done = 1;
    assert_advance(&b, 2, 6, 0, 6);
    /* one at a time */
    je_backfill_record one = backfill(JE_BF_RUNNING);
    assert_advance(&one, 1, 0, 1, 1);
    assert_advance(&one, 1, 1, 0, 1);
    one.batches_done = 1;
    assert_advance(&one, 1, 1, 1, 2);
    /* in_flight above the whole plan: all of it */
    je_backfill_record all = backfill(JE_BF_RUNNING);
    assert_advance(&all, 100, 0, 10, 10);
}

static void test_advance_completes(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    b.batches_submitted = b.batches_done = 10;
    int64_t first = -1, count = -1;
    assert_int_equal(je_backfill_advance(&b, 4, NOW, &first, &count), JE_BF_COMPLETED);
    assert_int_equal(count, 0);
    assert_int_equal(b.status, JE_BF_COMPLETED);
    assert_true(b.completed_ms == NOW);
    assert_int_equal(b.version, 3);
    assert_int_equal(b.batches_submitted, 10);
    assert_string_equal(b.error, "");
}

/* The shape of a batch job; the payload is compared with a hand-written JCS text. */
static void test_batch_job_shape(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    je_job j;
    assert_int_equal(je_backfill_batch_job(&b, 3, "job-3", 5, NOW, &j), 0);
    assert_string_equal(j.job_id, "job-3");
    assert_string_equal(j.tenant_id, "acme");
    assert_string_equal(j.job_type, "advisory.ingest");
    assert_string_equal(j.source_id, "nvd");
    assert_string_equal(j.backfill_id, "bf-1");
    assert_int_equal(j.status, JE_JOB_PENDING);
    assert_int_equal(j.lane, JE_LANE_BACKFILL);
    assert_int_equal(j.batch, 3);
    assert_true(j.window_start_ms == T0 + 3 * HOUR);
    assert_true(j.window_end_ms == T0 + 4 * HOUR);
    assert_string_equal(j.event_key, "");
    assert_true(j.event_time_ms == JE_NO_TIME);
    assert_int_equal(j.max_attempts, 5);
    assert_int_equal(j.attempt, 0);
    assert_int_equal(j.failures, 0);
    assert_true(j.available_ms == NOW && j.created_ms == NOW && j.updated_ms == NOW);
    assert_true(j.completed_ms == JE_NO_TIME);
    assert_string_equal(j.lease_id, "");
    assert_string_equal(j.worker_id, "");
    assert_string_equal(j.quota_id, "");
    assert_true(j.lease_until_ms == JE_NO_TIME && j.lease_ms == JE_NO_TIME);
    assert_string_equal(j.error, "");
    assert_string_equal(j.payload, "{\"backfillId\":\"bf-1\",\"batch\":3,"
                                   "\"windowEnd\":\"2026-11-28T04:00:00.000Z\","
                                   "\"windowStart\":\"2026-11-28T03:00:00.000Z\"}");
    je_job_free(&j);
    assert_null(j.payload);
}

/* The last batch of a window that is not a whole number of batches is clipped at its end;
 * milliseconds show in the times. */
static void test_batch_job_clipped(void **state) {
    je_backfill_record b = backfill(JE_BF_RUNNING);
    int64_t jan1 = 1767225600000LL; /* 2026-01-01T00:00:00.000Z: 20454 days after the epoch */
    b.window_start_ms = jan1 + 250;
    b.window_end_ms = jan1 + 250 + 2 * HOUR + 30 * 60000; /* 02:30:00.250 */
    b.plan_batches = 3;
    je_job j;
    assert_int_equal(je_backfill_batch_job(&b, 2, "job-2", 3, NOW, &j), 0);
    assert_int_equal(j.batch, 2);
    assert_true(j.window_start_ms == jan1 + 250 + 2 * HOUR);
    assert_true(j.window_end_ms == b.window_end_ms);
    assert_string_equal(j.payload, "{\"backfillId\":\"bf-1\",\"batch\":2,"
                                   "\"windowEnd\":\"2026-01-01T02:30:00.250Z\","
                                   "\"windowStart\":\"2026-01-01T02:00:00.250Z\"}");
    je_job_free(&j);
    assert_int_equal(je_backfill_batch_job(&b, 0, "job-0", 3, NOW, &j), 0);
    assert_true(j.window_start_ms == jan1 + 250);
    assert_true(j.window_end_ms == jan1 + 250 + HOUR);
    assert_string_equal(j.payload, "{\"backfillId\":\"bf-1\",\"batch\":0,"
                                   "\"windowEnd\":\"2026-01-01T01:00:00.250Z\","
                                   "\"windowStart\":\"2026-01-01T00:00:00.250Z\"}");
    je_job_free(&j);
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
        cmocka_unit_test(test_backfill_canceled_error),
        cmocka_unit_test(test_move_operator_path),
        cmocka_unit_test(test_move_refused),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_batch_done_counts_and_completes),
        cmocka_unit_test(test_batch_done_while_paused),
        cmocka_unit_test(test_batch_done_final_failure),
        cmocka_unit_test(test_note_duplicates),
        cmocka_unit_test(test_advance_keeps_in_flight),
        cmocka_unit_test(test_advance_edges),
        cmocka_unit_test(test_advance_completes),
        cmocka_unit_test(test_batch_job_shape),
        cmocka_unit_test(test_batch_job_clipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_quota_text.c: the quota resource and summary item written without a tree
 * (api/quota_view.c je_quota_text, je_quota_summary_text) are byte for byte what the jansson
 * tree dumped in insertion order gave (je_json_dumps_ordered of je_quota_json, and of the
 * summary item as api/quotas.c built it before), over many generated records: unicode, escapes
 * and control characters in the free-text fields, INT64 extremes, optional fields absent and
 * present, elevations, reals of every magnitude. The splice point (cut) of the lists too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/quota_view.h"
#include "core/jcs.h"

#define T10 1795860000000LL /* 2026-11-28T10:00:00.000Z */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t pick_int(void) {
    static const int64_t edge[] = {0,
                                   1,
                                   -1,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   9007199254740991LL,
                                   9007199254740992LL,
                                   -9007199254740993LL,
                                   1000000000,
                                   42};
    if (next() % 3) return edge[next() % (sizeof edge / sizeof edge[0])];
    return (int64_t)next();
}

static double pick_real(void) {
    static const double edge[] = {
        0.0,      -0.0,          0.1, 1.0,   1e-7,       1e21, 1e300,      5e-324,
        2.5e-308, 123456789.125, 1e6, 0.001, 999999.999, 4.35, 1e15 + 0.5, 9007199254740993.0};
    switch (next() % 4) {
    case 0:
        return edge[next() % (sizeof edge / sizeof edge[0])];
    case 1: { /* any finite double */
        uint64_t bits = next();
        double d;
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? d : 1.5;
    }
    case 2:
        return (double)(next() % 100000000) / 1000.0;
    default:
        return (double)(next() % 1000000) * pow(10, (int)(next() % 40) - 20);
    }
}

/* Valid UTF-8 with quotes, backslashes, every control character, 2-4 byte sequences. */
static void pick_text(char *dst, size_t cap, int may_be_empty) {
    static const char *const parts[] = {"a",
                                        "Z",
                                        " ",
                                        "\"",
                                        "\\",
                                        "/",
                                        "\x01",
                                        "\x1f",
                                        "\x7f",
                                        "\n",
                                        "\t",
                                        "\b",
                                        "\f",
                                        "\r",
                                        "\xc3\xa9",
                                        "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80",
                                        "\xef\xbf\xbf",
                                        "<>&'",
                                        "\xc2\x80"};
    size_t n = next() % 12, len = 0;
    if (!may_be_empty && n == 0) n = 1;
    dst[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = parts[next() % (sizeof parts / sizeof parts[0])];
        if (len + strlen(p) + 1 > cap) break;
        memcpy(dst + len, p, strlen(p) + 1);
        len += strlen(p);
    }
    if (!may_be_empty && len == 0) memcpy(dst, "x", 2);
}

static void pick_limits(je_quota_limits *l) {
    l->max_active = pick_int();
    l->max_per_hour = pick_int();
    l->burst_capacity = pick_int();
    l->refill_per_second = pick_real();
}

static void make_record(je_quota_record *r) {
    memset(r, 0, sizeof *r);
    pick_text(r->quota_id, sizeof r->quota_id, 0);
    pick_text(r->tenant_id, sizeof r->tenant_id, 0);
    pick_text(r->job_type, sizeof r->job_type, 0);
    pick_limits(&r->q.limits);
    r->q.limits.refill_per_second = fabs(r->q.limits.refill_per_second); /* validated > 0 */
    if (r->q.limits.max_active == 0) r->q.limits.max_active = 7;         /* the summary divides */
    r->q.paused = (int)(next() % 2);
    r->q.state.active = pick_int();
    r->q.state.hour_count = pick_int();
    r->q.state.hour_start_ms = T10 - (int64_t)(next() % 3) * 3600000;
    r->q.state.tokens = fmod(fabs(pick_real()), 1e12);
    r->q.state.last_refill_ms = T10 - (int64_t)(next() % 100000);
    r->q.state.throttled = pick_int();
    r->q.state.throttled_hour_ms = r->q.state.hour_start_ms;
    r->q.elevation_expires_ms = next() % 2 ? JE_NO_TIME : T10 + (int64_t)(next() % 100000000);
    pick_limits(&r->q.previous);
    pick_text(r->pause_reason, sizeof r->pause_reason, 1);
    pick_text(r->pause_ticket, sizeof r->pause_ticket, 1);
    r->version = pick_int();
    r->created_ms = T10 - (int64_t)(next() % 1000000000000LL);
    r->updated_ms = T10 + (int64_t)(next() % 1000);
    pick_text(r->created_by, sizeof r->created_by, 0);
    pick_text(r->updated_by, sizeof r->updated_by, 0);
    pick_text(r->last_reason, sizeof r->last_reason, 1);
    pick_text(r->last_ticket, sizeof r->last_ticket, 1);
}

static char *tree_text(json_t *j) {
    assert_non_null(j);
    char *s = je_json_dumps_ordered(j, NULL);
    json_decref(j);
    assert_non_null(s);
    return s;
}

/* The summary item as api/quotas.c built it with jansson before it wrote text. */
static json_t *summary_tree(const je_quota_record *q, int64_t now, int64_t pending) {
    json_t *full = je_quota_json(q, now, 0);
    json_t *u = json_object_get(full, "usage");
    double active = (double)json_integer_value(json_object_get(u, "active"));
    json_t *o = json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:b, s:O, s:O, s:O, s:f, s:O, s:O}", "jobType", q->job_type,
        "quotaId", q->quota_id, "maxActive", json_object_get(full, "maxActive"), "maxPerHour",
        json_object_get(full, "maxPerHour"), "burstCapacity",
        json_object_get(full, "burstCapacity"), "refillPerSecond",
        json_object_get(full, "refillPerSecond"), "paused", q->q.paused, "active",
        json_object_get(u, "active"), "hourCount", json_object_get(u, "hourCount"),
        "availableTokens", json_object_get(u, "availableTokens"), "utilisation",
        active / (double)q->q.limits.max_active, "throttled", json_object_get(u, "throttled"),
        "pending", json_object_get(u, "pending"));
    json_decref(full);
    json_object_set_new(o, "pending", json_integer(pending)); /* as fill_pending did */
    return o;
}

/* b with pending's digits put at cut. */
static char *spliced(const je_buf *b, size_t cut, int64_t pending) {
    je_buf o = JE_BUF_INIT;
    je_buf_append(&o, b->data, cut);
    je_jcs_int(pending, &o);
    je_buf_append(&o, b->data + cut, b->len - cut);
    return o.data;
}

static void test_resource_matches_tree(void **state) {
    (void)state;
    je_quota_record *r = malloc(sizeof *r);
    for (int i = 0; i < 20000; i++) {
        make_record(r);
        int64_t now = T10 + (int64_t)(next() % 7200000), pending = pick_int();
        char *want = tree_text(je_quota_json(r, now, pending));
        je_buf b = JE_BUF_INIT;
        assert_int_equal(je_quota_text(&b, r, now, pending, NULL), 0);
        if (strcmp(b.data, want) != 0) fail_msg("record %d:\n tree %s\n text %s", i, want, b.data);
        je_buf_reset(&b);
        size_t cut = 0;
        assert_int_equal(je_quota_text(&b, r, now, 0, &cut), 0);
        char *got = spliced(&b, cut, pending);
        assert_string_equal(got, want);
        free(got);
        free(want);
        je_buf_free(&b);
    }
    free(r);
}

static void test_summary_matches_tree(void **state) {
    (void)state;
    je_quota_record *r = malloc(sizeof *r);
    for (int i = 0; i < 20000; i++) {
        make_record(r);
        int64_t now = T10 + (int64_t)(next() % 7200000), pending = pick_int();
        char *want = tree_text(summary_tree(r, now, pending));
        je_buf b = JE_BUF_INIT;
        size_t cut = 0;
        assert_int_equal(je_quota_summary_text(&b, r, now, &cut), 0);
        char *got = spliced(&b, cut, pending);
        if (strcmp(got, want) != 0) fail_msg("record %d:\n tree %s\n text %s", i, want, got);
        free(got);
        free(want);
        je_buf_free(&b);
    }
    free(r);
}

/* What the tree cannot hold, the text refuses (the routes then fall back or answer 500). */
static void test_refuses_what_the_tree_drops(void **state) {
    (void)state;
    je_quota_record *r = malloc(sizeof *r);
    make_record(r);
    je_buf b = JE_BUF_INIT;
    size_t cut;
    static const char bad[] = "bad \xff utf-8";
    memcpy(r->last_reason, bad, sizeof bad);
    assert_int_equal(je_quota_text(&b, r, T10, 0, NULL), -1);
    memcpy(r->last_reason, "ok", 3);
    r->q.limits.refill_per_second = NAN;
    je_buf_reset(&b);
    assert_int_equal(je_quota_text(&b, r, T10, 0, NULL), -1);
    je_buf_reset(&b);
    assert_int_equal(je_quota_summary_text(&b, r, T10, &cut), -1);
    je_buf_free(&b);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_matches_tree),
        cmocka_unit_test(test_summary_matches_tree),
        cmocka_unit_test(test_refuses_what_the_tree_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_audit.c: audit entries (domain.md §6) — shape, sealing rules, a golden hash
 * computed independently from a hand-written canonical string, and chain verification against
 * every kind of tampering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/audit.h"

#define CHAIN_LEN 10

static json_t *make_entry(int i, const char *reason) {
    char id[32];
    snprintf(id, sizeof id, "entry-%d", i);
    je_audit_fields f = {
        .entry_id = id,
        .tenant_id = "acme",
        .event_type = "quota.updated",
        .resource_type = "quota",
        .resource_id = "q-1",
        .actor_id = "ops-bot",
        .actor_type = "client",
        .reason = reason,
        .ticket = i % 2 ? "OPS-4411" : NULL,
        .occurred_ms = 1795856400000 + i * 1000,
        .details = json_pack("{s:{s:i},s:{s:i},s:s}", "before", "maxActive", i, "after",
                             "maxActive", i + 1, "refillPerSecond", "0.5"),
    };
    json_t *e = je_audit_entry_new(&f);
    assert_non_null(e);
    return e;
}

static const char *hash_of(const json_t *e) {
    return json_string_value(json_object_get(e, "hash"));
}

/* A sealed chain of CHAIN_LEN entries, sequences 1..CHAIN_LEN. */
static json_t *make_chain(void) {
    json_t *chain = json_array();
    const char *prev = JE_AUDIT_ZERO_HASH;
    for (int i = 1; i <= CHAIN_LEN; i++) {
        json_t *e = make_entry(i, "black friday scan surge");
        je_err err;
        assert_int_equal(je_audit_entry_seal(e, i, prev, &err), 0);
        json_array_append_new(chain, e);
        prev = hash_of(e);
    }
    return chain;
}

static je_audit_verifier verify(const json_t *chain) {
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    for (size_t i = 0; i < json_array_size(chain); i++)
        je_audit_verifier_feed(&v, json_array_get(chain, i));
    return v;
}

static void assert_broken_at(const json_t *chain, int64_t seq) {
    je_audit_verifier v = verify(chain);
    assert_int_equal(v.valid, 0);
    assert_int_equal(v.first_broken, seq);
}

static int setup(void **state) {
    *state = make_chain();
    return 0;
}

static int teardown(void **state) {
    json_decref(*state);
    return 0;
}

static json_t *copy_chain(void **state) {
    json_t *c = json_deep_copy(*state);
    assert_non_null(c);
    return c;
}

static void test_entry_shape(void **state) {
    (void)state;
    je_audit_fields f = {.entry_id = "e",
                         .tenant_id = "t",
                         .event_type = "quota.created",
                         .actor_type = "client",
                         .occurred_ms = -1};
    json_t *e = je_audit_entry_new(&f);
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 11);
    assert_true(json_is_null(json_object_get(e, "resourceType")));
    assert_true(json_is_null(json_object_get(e, "resourceId")));
    assert_true(json_is_null(json_object_get(e, "actorId")));
    assert_true(json_is_null(json_object_get(e, "reason")));
    assert_true(json_is_null(json_object_get(e, "ticket")));
    assert_string_equal(json_string_value(json_object_get(e, "occurredAt")),
                        "1969-12-31T23:59:59.999Z");
    json_t *d = json_object_get(e, "details");
    assert_true(json_is_object(d) && json_object_size(d) == 0);
    assert_null(json_object_get(e, "sequence"));
    assert_null(json_object_get(e, "hash"));
    json_decref(e);
}

static void test_entry_required_fields(void **state) {
    (void)state;
    je_audit_fields f = {.entry_id = "e",
                         .tenant_id = "t",
                         .event_type = "x",
                         .actor_type = NULL,
                         .details = json_object()};
    assert_null(je_audit_entry_new(&f)); /* details freed: ASan would report a leak */
    f.actor_type = "client";
    f.tenant_id = NULL;
    f.details = json_object(); /* the first call took the first one */
    assert_null(je_audit_entry_new(&f));
    assert_null(je_audit_entry_new(NULL));
}

static void sha256_hex(const char *s, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
    for (unsigned i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The hash is checked against a canonical string written by hand, not against our own JCS. */
static void test_golden_hash(void **state) {
    (void)state;
    je_audit_fields f = {
        .entry_id = "e-1",
        .tenant_id = "acme",
        .event_type = "quota.updated",
        .resource_type = "quota",
        .resource_id = "q-1",
        .actor_id = "ops-bot",
        .actor_type = "client",
        .reason = "black friday",
        .ticket = NULL,
        .occurred_ms = 1795856400000,
        .details = json_pack("{s:n,s:{s:i},s:s}", "before", "after", "maxActive", 10, "note",
                             "\xc3\xa9\n\x7f"),
    };
    json_t *e = je_audit_entry_new(&f);
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, 1, JE_AUDIT_ZERO_HASH, &err), 0);
    const char *canon =
        "{\"actorId\":\"ops-bot\",\"actorType\":\"client\",\"details\":{\"after\":{\"maxActive\":"
        "10},\"before\":null,\"note\":\"\xc3\xa9\\n\x7f\"},\"entryId\":\"e-1\",\"eventType\":"
        "\"quota.updated\",\"occurredAt\":\"2026-11-28T09:00:00.000Z\",\"previousHash\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"reason\":"
        "\"black friday\",\"resourceId\":\"q-1\",\"resourceType\":\"quota\",\"sequence\":1,"
        "\"tenantId\":\"acme\",\"ticket\":null}";
    char want[65], got[JE_AUDIT_HASH_LEN + 1];
    sha256_hex(canon, want);
    assert_int_equal(je_audit_entry_hash(e, got), 0);
    assert_string_equal(got, want);
    assert_string_equal(hash_of(e), want);
    json_decref(e);
}

static void test_hash_ignores_hash_member(void **state) {
    json_t *e = json_deep_copy(json_array_get(*state, 2));
    char a[JE_AUDIT_HASH_LEN + 1], b[JE_AUDIT_HASH_LEN + 1];
    assert_int_equal(je_audit_entry_hash(e, a), 0);
    assert_string_equal(a, hash_of(e));
    json_object_set_new(e, "hash", json_string("whatever"));
    assert_int_equal(je_audit_entry_hash(e, b), 0);
    assert_string_equal(a, b);
    json_object_del(e, "hash");
    assert_int_equal(je_audit_entry_hash(e, b), 0);
    assert_string_equal(a, b);
    json_decref(e);
    assert_int_equal(je_audit_entry_hash(NULL, a), -1);
}

static void assert_seal_refused(json_t *details) {
    json_t *e = make_entry(1, "r");
    json_object_set_new(e, "details", details);
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_audit_entry_seal(e, 1, JE_AUDIT_ZERO_HASH, &err), -1);
    assert_string_equal(err.code, "AUDIT_INVALID");
    assert_null(json_object_get(e, "hash"));
    json_decref(e);
}

static void test_seal_value_rules(void **state) {
    (void)state;
    assert_seal_refused(json_pack("{s:f}", "rate", 0.5));
    assert_seal_refused(json_pack("{s:[i,{s:f}]}", "a", 1, "b", 2.0));
    assert_seal_refused(json_pack("{s:I}", "n", (json_int_t)9007199254740992LL));
    assert_seal_refused(json_pack("{s:I}", "n", (json_int_t)-9007199254740992LL));
    json_t *bad = json_object();
    json_object_set_new(bad, "s", json_stringn_nocheck("\xed\xa0\x80", 3));
    assert_seal_refused(bad);
    bad = json_object();
    json_object_setn_new_nocheck(bad, "\xff", 1, json_true());
    assert_seal_refused(bad);
}

static void test_seal_accepts_limits(void **state) {
    (void)state;
    json_t *e = make_entry(1, "r");
    json_object_set_new(e, "details",
                        json_pack("{s:I,s:I,s:s#,s:b,s:[]}", "max", (json_int_t)9007199254740991LL,
                                  "min", (json_int_t)-9007199254740991LL, "nul", "a\0b", (int)3,
                                  "t", 1, "empty"));
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, 1, JE_AUDIT_ZERO_HASH, &err), 0);
    /* round trip through text with the NUL inside still verifies */
    char *text = json_dumps(e, JSON_COMPACT);
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    assert_int_equal(je_audit_verifier_feed_text(&v, text, strlen(text)), 0);
    assert_int_equal(v.valid, 1);
    free(text);
    json_decref(e);
}

static void test_seal_bad_arguments(void **state) {
    (void)state;
    json_t *e = make_entry(1, "r");
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, 0, JE_AUDIT_ZERO_HASH, &err), -1);
    assert_string_equal(err.code, "AUDIT_INVALID");
    assert_int_equal(je_audit_entry_seal(e, 1, "00", &err), -1);
    assert_int_equal(je_audit_entry_seal(e, 1, NULL, &err), -1);
    char upper[] = "A000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(je_audit_entry_seal(e, 1, upper, &err), -1);
    json_t *arr = json_array();
    assert_int_equal(je_audit_entry_seal(arr, 1, JE_AUDIT_ZERO_HASH, &err), -1);
    json_decref(arr);
    json_decref(e);
}

static void test_chain_valid(void **state) {
    je_audit_verifier v = verify(*state);
    assert_int_equal(v.valid, 1);
    assert_int_equal(v.first_broken, 0);
    assert_int_equal(v.entries, CHAIN_LEN);
    assert_int_equal(v.next_sequence, CHAIN_LEN + 1);
    assert_string_equal(v.prev_hash, hash_of(json_array_get(*state, CHAIN_LEN - 1)));
    /* links are really there */
    for (int i = 1; i < CHAIN_LEN; i++) {
        const char *p =
            json_string_value(json_object_get(json_array_get(*state, i), "previousHash"));
        assert_string_equal(p, hash_of(json_array_get(*state, i - 1)));
    }
}

static void test_tamper_detail(void **state) {
    json_t *c = copy_chain(state);
    json_t *after = json_object_get(json_object_get(json_array_get(c, 4), "details"), "after");
    json_object_set_new(after, "maxActive", json_integer(5000));
    assert_broken_at(c, 5);
    json_decref(c);
}

static void test_tamper_reason(void **state) {
    json_t *c = copy_chain(state);
    json_object_set_new(json_array_get(c, 6), "reason", json_string("black friday scan surgE"));
    assert_broken_at(c, 7);
    json_decref(c);
}

static void test_delete_first(void **state) {
    json_t *c = copy_chain(state);
    json_array_remove(c, 0);
    assert_broken_at(c, 1);
    json_decref(c);
}

static void test_delete_middle(void **state) {
    json_t *c = copy_chain(state);
    json_array_remove(c, 4);
    assert_broken_at(c, 5);
    json_decref(c);
}

/* Truncating the tail is invisible to the chain alone (checkpoints catch it elsewhere). */
static void test_delete_last_not_detectable(void **state) {
    json_t *c = copy_chain(state);
    json_array_remove(c, CHAIN_LEN - 1);
    je_audit_verifier v = verify(c);
    assert_int_equal(v.valid, 1);
    assert_int_equal(v.entries, CHAIN_LEN - 1);
    assert_int_equal(v.next_sequence, CHAIN_LEN);
    json_decref(c);
}

static void test_reorder(void **state) {
    json_t *c = copy_chain(state);
    json_t *e4 = json_incref(json_array_get(c, 3));
    json_array_set(c, 3, json_array_get(c, 4));
    json_array_set_new(c, 4, e4);
    assert_broken_at(c, 4);
    json_decref(c);
}

static void test_duplicate(void **state) {
    json_t *c = copy_chain(state);
    json_array_insert(c, 3, json_array_get(c, 2)); /* 1 2 3 3 4 ... */
    assert_broken_at(c, 4);
    json_decref(c);
}

static void test_flip_hash_char(void **state) {
    json_t *c = copy_chain(state);
    json_t *e = json_array_get(c, 5);
    char h[JE_AUDIT_HASH_LEN + 1];
    memcpy(h, hash_of(e), sizeof h);
    h[17] = h[17] == 'a' ? 'b' : 'a';
    json_object_set_new(e, "hash", json_string(h));
    assert_broken_at(c, 6);
    json_decref(c);
}

static void test_change_previous_hash(void **state) {
    json_t *c = copy_chain(state);
    json_object_set_new(json_array_get(c, 2), "previousHash",
                        json_string(hash_of(json_array_get(c, 0))));
    assert_broken_at(c, 3);
    json_decref(c);
    /* resealed with the wrong link: its own hash is right, the link is not */
    c = copy_chain(state);
    je_err err;
    assert_int_equal(je_audit_entry_seal(json_array_get(c, 2), 3, JE_AUDIT_ZERO_HASH, &err), 0);
    assert_broken_at(c, 3);
    json_decref(c);
}

/* Rewriting an entry and recomputing its hash breaks the next link. */
static void test_tamper_and_reseal(void **state) {
    json_t *c = copy_chain(state);
    json_t *e = json_array_get(c, 4);
    json_object_set_new(e, "actorId", json_string("mallory"));
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, 5, hash_of(json_array_get(c, 3)), &err), 0);
    assert_broken_at(c, 6);
    json_decref(c);
}

static void test_feed_after_break_ignored(void **state) {
    json_t *c = *state;
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    assert_int_equal(je_audit_verifier_feed(&v, json_array_get(c, 0)), 0);
    assert_int_equal(je_audit_verifier_feed(&v, json_array_get(c, 2)), -1);
    assert_int_equal(v.first_broken, 2);
    assert_int_equal(je_audit_verifier_feed(&v, json_array_get(c, 1)), -1);
    assert_int_equal(v.first_broken, 2);
    assert_int_equal(v.entries, 1);
    assert_int_equal(je_audit_verifier_feed(&v, NULL), -1);
}

static void test_partial_range(void **state) {
    json_t *c = *state;
    je_audit_verifier v;
    je_audit_verifier_init(&v, 4, hash_of(json_array_get(c, 2)));
    for (int i = 3; i < CHAIN_LEN; i++)
        assert_int_equal(je_audit_verifier_feed(&v, json_array_get(c, i)), 0);
    assert_int_equal(v.entries, CHAIN_LEN - 3);
    je_audit_verifier_init(&v, 4, JE_AUDIT_ZERO_HASH);
    assert_int_equal(je_audit_verifier_feed(&v, json_array_get(c, 3)), -1);
    assert_int_equal(v.first_broken, 4);
}

static void test_feed_text(void **state) {
    json_t *c = *state;
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    for (int i = 0; i < CHAIN_LEN; i++) {
        /* member order and whitespace of the text do not matter */
        char *t = json_dumps(json_array_get(c, i), i % 2 ? JSON_INDENT(2) : JSON_COMPACT);
        assert_int_equal(je_audit_verifier_feed_text(&v, t, strlen(t)), 0);
        free(t);
    }
    assert_int_equal(v.entries, CHAIN_LEN);
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    assert_int_equal(je_audit_verifier_feed_text(&v, "{not json", 9), -1);
    assert_int_equal(v.first_broken, 1);
}

/* Replaces the first occurrence of from in s with to (same or shorter buffers are fine). */
static char *replace(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    assert_non_null(p);
    char *r = malloc(strlen(s) + strlen(to) + 1);
    size_t pre = (size_t)(p - s);
    memcpy(r, s, pre);
    strcpy(r + pre, to);
    strcat(r, p + strlen(from));
    return r;
}

/* 3 -> 3.0 keeps the JCS bytes (and so the hash) but breaks the no-reals rule. */
static void assert_text_broken(void **state, const char *from, const char *to) {
    json_t *c = *state;
    je_audit_verifier v;
    je_audit_verifier_init(&v, 1, JE_AUDIT_ZERO_HASH);
    for (int i = 0; i < 2; i++) je_audit_verifier_feed(&v, json_array_get(c, i));
    char *t = json_dumps(json_array_get(c, 2), JSON_COMPACT | JSON_SORT_KEYS);
    char *bad = replace(t, from, to);
    assert_int_equal(je_audit_verifier_feed_text(&v, bad, strlen(bad)), -1);
    assert_int_equal(v.first_broken, 3);
    free(bad);
    free(t);
}

static void test_feed_text_rules(void **state) {
    assert_text_broken(state, "\"sequence\":3", "\"sequence\":3.0");
    assert_text_broken(state, "\"maxActive\":4", "\"maxActive\":4.0");
    assert_text_broken(state, "{\"actorId\"", "{\"actorId\":\"x\",\"actorId\"");
    assert_text_broken(state, "\"sequence\":3", "\"sequence\":\"3\"");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_shape),
        cmocka_unit_test(test_entry_required_fields),
        cmocka_unit_test(test_golden_hash),
        cmocka_unit_test(test_seal_value_rules),
        cmocka_unit_test(test_seal_accepts_limits),
        cmocka_unit_test(test_seal_bad_arguments),
        cmocka_unit_test_setup_teardown(test_hash_ignores_hash_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_detail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_last_not_detectable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flip_hash_char, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_previous_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_and_reseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_after_break_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_text_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

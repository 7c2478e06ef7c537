/* Unit tests for core/audit_fast.c: the one-pass check must agree with the full path (parse +
 * JCS + SHA-256) on every canonical line, and refuse (hand back to the full path) every line it
 * cannot vouch for: escapes, controls, multi-byte and invalid UTF-8 in every string position, at
 * every offset across 8- and 16-byte blocks, and random canonical lines with random bytes changed
 * (whenever the fast path vouches for a line, the full path computes the same hash for it).
 * test_audit_fast_swar.c runs the same tests on the word-at-a-time scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/audit_fast.h"
#include "core/jcs.h"
#include "core/text.h"

/* A sealed entry as the store writes it: canonical text with its hash. */
static char *sealed_line(int64_t seq, const char *prev, json_t *details, char hash[65]) {
    je_audit_fields f = {"01a2202f-459a-76cf-a918-b86eef8794b9",
                         "acme",
                         "quota.updated",
                         "quota",
                         "q-1",
                         "ops-bot",
                         "client",
                         "black friday",
                         "OPS-1",
                         1795836298000LL,
                         details};
    json_t *e = je_audit_entry_new(&f);
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, seq, prev, &err), 0);
    snprintf(hash, 65, "%s", json_string_value(json_object_get(e, "hash")));
    char *line = je_jcs_dumps(e, NULL);
    json_decref(e);
    return line;
}

static void test_agrees_with_the_full_path(void **state) {
    static const char *const details[] = {
        "{}",
        "{\"before\":null,\"after\":{\"maxActive\":10,\"refillPerSecond\":\"0.5\"}}",
        "{\"request\":{\"reason\":\"  \",\"x\":[1,-2,true,false,null,\"\\u0001\\n\\u007f\"]}}",
        "{\"text\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\\"quoted\\\" back\\\\slash\"}",
        "{\"big\":9007199254740991,\"neg\":-9007199254740991,\"zero\":0}",
    };
    char prev[65] = JE_AUDIT_ZERO_HASH;
    for (size_t i = 0; i < sizeof details / sizeof details[0]; i++) {
        json_t *d = json_loads(details[i], 0, NULL);
        assert_non_null(d);
        char hash[65];
        char *line = sealed_line((int64_t)i + 1, prev, d, hash);
        je_fast_entry f;
        assert_int_equal(je_audit_line_fast(line, strlen(line), NULL, &f), 1);
        assert_string_equal(f.computed, hash); /* the same digest the full path computed */
        assert_int_equal(f.sequence, (int64_t)i + 1);
        assert_memory_equal(f.previous_hash, prev, 64);
        assert_memory_equal(f.hash, hash, 64);
        assert_int_equal(f.tenant_len, 4);
        memcpy(prev, hash, 65);
        free(line);
    }
}

/* Lines that are not canonical, or hold what the fast path leaves to the full one. */
static void test_hands_back_what_it_cannot_vouch_for(void **state) {
    char hash[65];
    char *line = sealed_line(1, JE_AUDIT_ZERO_HASH, json_object(), hash);
    size_t n = strlen(line);
    je_fast_entry f;
    /* a space after the first colon */
    char *spaced = malloc(n + 2);
    const char *colon = strchr(line, ':');
    size_t at = (size_t)(colon - line) + 1;
    memcpy(spaced, line, at);
    spaced[at] = ' ';
    memcpy(spaced + at + 1, line + at, n - at + 1);
    assert_int_equal(je_audit_line_fast(spaced, n + 1, NULL, &f), 0);
    free(spaced);
    /* members out of order, a real, an escaped slash, uppercase hex, a trailing byte */
    static const char *const bad[] = {
        "{\"sequence\":1,\"hash\":\"" JE_AUDIT_ZERO_HASH "\"}",
        "{\"details\":{\"x\":1.5},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":\"a\\/b\"},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":\"\\u001F\"},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":\"\\u000a\"},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":01},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":9007199254740992},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"a\":1,\"a\":2},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"\\u00e9\":1},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{\"x\":\"\xc3\x28\"},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}",
        "{\"details\":{},\"hash\":\"" JE_AUDIT_ZERO_HASH "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"sequence\":1,\"tenantId\":\"a\"} ",
        "{\"details\":{},\"hash\":\"abc\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"sequence\":1,\"tenantId\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(je_audit_line_fast(bad[i], strlen(bad[i]), NULL, &f), 0);
    /* the same shape, canonical, is accepted: the table above fails for its one fault only */
    static const char good[] =
        "{\"details\":{\"x\":\"\\u001f\"},\"hash\":\"" JE_AUDIT_ZERO_HASH
        "\",\"previousHash\":\"" JE_AUDIT_ZERO_HASH "\",\"sequence\":1,\"tenantId\":\"a\"}";
    assert_int_equal(je_audit_line_fast(good, strlen(good), NULL, &f), 1);
    free(line);
}

/* ---- strings in every position ------------------------------------------------------------ */

/* Where a test string goes: a member of the entry, or in its details. */
enum { AT_ACTOR, AT_REASON, AT_TICKET, AT_TENANT, AT_DETAIL, AT_ARRAY, AT_NESTED, AT_COUNT };

/* A sealed line with s (raw UTF-8, sn bytes, may hold controls and NUL) at position at; pad
 * shifts everything after the first members by pad bytes. hash gets the full path's hash. */
static char *line_with(int at, const char *s, size_t sn, size_t pad, char hash[65]) {
    char actor[64];
    memset(actor, 'p', pad);
    actor[pad] = '\0';
    je_audit_fields f = {"01a2202f-459a-76cf-a918-b86eef8794b9",
                         "acme",
                         "quota.updated",
                         "quota",
                         "q-1",
                         actor,
                         "client",
                         "r",
                         "t",
                         1795836298000LL,
                         NULL};
    json_t *str = json_stringn_nocheck(s, sn), *d = json_object();
    json_object_set_new(d, "k", json_string("v"));
    json_object_set_new(d, "z", json_pack("[i, s, {s:s}]", 1, "e", "n", "f"));
    if (at == AT_DETAIL) json_object_set(d, "k", str);
    if (at == AT_ARRAY) json_array_set(json_object_get(d, "z"), 1, str);
    if (at == AT_NESTED) json_object_set(json_array_get(json_object_get(d, "z"), 2), "n", str);
    f.details = d;
    char *copy = malloc(sn + 1);
    memcpy(copy, s, sn);
    copy[sn] = '\0';
    if (at == AT_ACTOR) f.actor_id = copy;
    if (at == AT_REASON) f.reason = copy;
    if (at == AT_TICKET) f.ticket = copy;
    if (at == AT_TENANT) f.tenant_id = copy;
    json_t *e = je_audit_entry_new(&f);
    if (at <= AT_TENANT) { /* NUL and the like: set as the raw string, not as a C string */
        static const char *const names[] = {"actorId", "reason", "ticket", "tenantId"};
        json_object_set(e, names[at], str);
    }
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, 7, JE_AUDIT_ZERO_HASH, &err), 0);
    snprintf(hash, 65, "%s", json_string_value(json_object_get(e, "hash")));
    char *line = je_jcs_dumps(e, NULL);
    json_decref(e);
    json_decref(str);
    free(copy);
    return line;
}

/* The fast path on line: 1 with the full path's hash, or 0. */
static int fast_agrees(const char *line, size_t n, const char *hash) {
    je_fast_entry f;
    if (!je_audit_line_fast(line, n, NULL, &f)) return 0;
    assert_string_equal(f.computed, hash);
    return 1;
}

static void test_valid_strings_everywhere(void **state) {
    static const char *const vals[] = {"",
                                       "\"",
                                       "\\",
                                       "\x01",
                                       "\x1f",
                                       "\n\t\b\f\r",
                                       "\x7f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xef\xbf\xbf",
                                       "a/b",
                                       "\xf4\x8f\xbf\xbf",
                                       "\xc2\x80\"x\\",
                                       "\xe0\xa0\x80\x1e",
                                       "\xed\x9f\xbf"};
    je_fast_hasher h;
    assert_int_equal(je_fast_hasher_init(&h), 0);
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++)
        for (int at = 0; at < AT_COUNT; at++)
            for (size_t pad = 0; pad < 34; pad++) {
                /* the value with pad bytes before and after it: each offset in a block */
                char s[128];
                size_t vn = strlen(vals[v]) + (v == 0 ? 0 : 0), n = 0;
                memset(s, 'a', pad);
                n = pad;
                memcpy(s + n, vals[v], vn);
                n += vn;
                memset(s + n, 'b', pad % 7);
                n += pad % 7;
                char hash[65];
                char *line = line_with(at, s, n, pad % 19, hash);
                size_t len = strlen(line);
                int ok = fast_agrees(line, len, hash);
                /* a tenant with an escape is left to the full path; everything else is taken */
                if (!ok && !(at == AT_TENANT && memchr(line, '\\', len)))
                    fail_msg("not taken: value %zu at %d pad %zu: %s", v, at, pad, line);
                je_fast_entry f;
                assert_int_equal(je_audit_line_fast(line, len, &h, &f), ok);
                free(line);
            }
    je_fast_hasher_free(&h);
}

/* Replaces the first "MARK" in line (a copy) with body[0..bn): raw bytes inside a string. */
static char *replace_mark(const char *line, const char *body, size_t bn, size_t *out_n) {
    const char *m = strstr(line, "MARK");
    assert_non_null(m);
    size_t n = strlen(line), at = (size_t)(m - line);
    char *t = malloc(n - 4 + bn + 1);
    memcpy(t, line, at);
    memcpy(t + at, body, bn);
    memcpy(t + at + bn, m + 4, n - at - 4 + 1);
    *out_n = n - 4 + bn;
    return t;
}

static void test_bad_strings_everywhere(void **state) {
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"\x01", 1},
        {"\n", 1},
        {"\x1f", 1},
        {"\0", 1},
        {"\\u001F", 6},
        {"\\u0041", 6},
        {"\\/", 2},
        {"\\u000a", 6},
        {"\\u00", 4},
        {"\\x", 2},
        {"\\U0001", 6},
        {"\\u0100", 6},
        {"\xc0\xaf", 2},
        {"\xc1\xbf", 2},
        {"\xe0\x80\xaf", 3},
        {"\xf0\x80\x80\xaf", 4},
        {"\xed\xa0\x80", 3},
        {"\xed\xbf\xbf", 3},
        {"\xf4\x90\x80\x80", 4},
        {"\xf5\x80\x80\x80", 4},
        {"\x80", 1},
        {"\xbf", 1},
        {"\xc3", 1},
        {"\xe2\x82", 2},
        {"\xf0\x9f\x98", 3},
        {"\xff", 1},
        {"\xc3\x28", 2},
        {"\xe2\x28\xa1", 3},
        {"\x7f\x01", 2},
        {"\\", 1},
    };
    for (int at = 0; at < AT_COUNT; at++) {
        char hash[65];
        char *line = line_with(at, "MARK", 4, 3, hash);
        assert_int_equal(fast_agrees(line, strlen(line), hash), 1);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            for (size_t pad = 0; pad < 34; pad++) {
                char body[64];
                memset(body, 'a', pad);
                memcpy(body + pad, bad[i].b, bad[i].n);
                memset(body + pad + bad[i].n, 'c', pad % 5);
                size_t n;
                char *t = replace_mark(line, body, pad + bad[i].n + pad % 5, &n);
                je_fast_entry f;
                if (je_audit_line_fast(t, n, NULL, &f))
                    fail_msg("taken: bad %zu at %d pad %zu", i, at, pad);
                free(t);
            }
        free(line);
    }
}

/* ---- random canonical lines, then random bytes changed ------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static json_t *random_string(void) {
    static const char *const pieces[] = {"a",
                                         "Z",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\x01",
                                         "\x1f",
                                         "\n",
                                         "\t",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "0123456789abcdef",
                                         "\0"};
    char s[256];
    size_t n = 0, parts = rnd(12);
    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
        size_t k = *p ? strlen(p) : 1;
        memcpy(s + n, p, k);
        n += k;
    }
    return json_stringn(s, n);
}

static json_t *random_value(int depth) {
    static const char *const keys[] = {"a", "b", "client_id", "jti", "scope", "x-y", "Z", "_"};
    switch (rnd(depth > 2 ? 4 : 6)) {
    case 0:
        return random_string();
    case 1:
        return json_integer((json_int_t)rnd(2000000) - 1000000);
    case 2:
        return rnd(2) ? json_true() : json_false();
    case 3:
        return json_null();
    case 4: {
        json_t *a = json_array();
        for (unsigned i = rnd(4); i > 0; i--) json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = rnd(5); i > 0; i--)
            json_object_set_new(o, keys[rnd(8)], random_value(depth + 1));
        return o;
    }
    }
}

static void test_random_lines_agree(void **state) {
    static const unsigned char bytes[] = {'"', '\\', ',',  ':',  '{',  '}',  '[',  ']',  '0',  '9',
                                          'a', 'u',  0x01, '\n', 0x7f, 0x80, 0xc3, 0xe2, 0xff, ' '};
    je_fast_hasher h;
    assert_int_equal(je_fast_hasher_init(&h), 0);
    for (int i = 0; i < 1500; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "v", random_value(0));
        json_object_set_new(d, "w", random_string());
        char prev[65] = JE_AUDIT_ZERO_HASH, hash[65];
        char *line = sealed_line(1 + i, prev, d, hash);
        size_t n = strlen(line);
        je_fast_entry f;
        assert_int_equal(je_audit_line_fast(line, n, &h, &f), 1);
        assert_string_equal(f.computed, hash);
        for (int m = 0; m < 8; m++) { /* one byte changed: never vouched for with its hash */
            size_t at = rnd((unsigned)n);
            unsigned char was = (unsigned char)line[at], b = bytes[rnd(sizeof bytes)];
            if (b == was) continue;
            line[at] = (char)b;
            if (je_audit_line_fast(line, n, &h, &f)) {
                assert_true(memcmp(f.hash, f.computed, 64) != 0);
                json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
                char full[65];
                assert_non_null(e);
                assert_int_equal(je_audit_entry_hash(e, full), 0); /* the same hash either way */
                assert_string_equal(full, f.computed);
                json_decref(e);
            }
            line[at] = (char)was;
        }
        free(line);
    }
    je_fast_hasher_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_the_full_path),
        cmocka_unit_test(test_hands_back_what_it_cannot_vouch_for),
        cmocka_unit_test(test_valid_strings_everywhere),
        cmocka_unit_test(test_bad_strings_everywhere),
        cmocka_unit_test(test_random_lines_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

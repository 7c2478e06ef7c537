/* Unit tests for core/audit_fast.c: the one-pass check must agree with the full path (parse +
 * JCS + SHA-256) on every canonical line, and refuse (hand back to the full path) every line it
 * cannot vouch for. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_the_full_path),
        cmocka_unit_test(test_hands_back_what_it_cannot_vouch_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

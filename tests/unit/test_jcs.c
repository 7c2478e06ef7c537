/* tests/unit/test_jcs.c: RFC 8785 canonicalization — the RFC's own examples (§3.2.2, §3.2.3,
 * Appendix B), the reference structures sample, string escaping and error cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"

static json_t *parse(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!v) fail_msg("parse error: %s in %s", e.text, text);
    return v;
}

static void assert_canon_value(const json_t *v, const char *expected) {
    size_t len = 0;
    char *got = je_jcs_dumps(v, &len);
    assert_non_null(got);
    assert_string_equal(got, expected);
    assert_int_equal(len, strlen(expected));
    free(got);
}

static void assert_canon(const char *input, const char *expected) {
    json_t *v = parse(input);
    assert_canon_value(v, expected);
    json_decref(v);
}

/* RFC 8785 §3.2.2 (and §3.2.4): numbers, string escaping and literals. */
static void test_rfc_values_example(void **state) {
    (void)state;
    assert_canon("{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, "
                 "0.000000000000000000000000001],\n"
                 "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
                 "  \"literals\": [null, true, false]\n}",
                 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,"
                 "1e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

/* RFC 8785 §3.2.3: sorting by UTF-16 code units (U+1F600 before U+FB33). */
static void test_rfc_sorting_example(void **state) {
    (void)state;
    assert_canon("{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", "
                 "\"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", \"1\": \"One\", "
                 "\"\\ud83d\\ude00\": \"Emoji: Grinning Face\", \"\\u0080\": \"Control\", "
                 "\"\\u00f6\": \"Latin Small Letter O With Diaeresis\"}",
                 "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
                 "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro "
                 "Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                 "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

/* The reference implementation's "weird" sample: adds "\n", "</script>" and a DEL value. */
static void test_reference_weird_sample(void **state) {
    (void)state;
    assert_canon("{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", \"\\u000a\": "
                 "\"Newline\", \"1\": \"One\", \"\\u0080\": \"Control\\u007f\", "
                 "\"\\ud83d\\ude02\": \"Smiley\", \"\\u00f6\": \"Latin Small Letter O With "
                 "Diaeresis\", \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", "
                 "\"</script>\": \"Browser Challenge\"}",
                 "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\","
                 "\"</script>\":\"Browser Challenge\",\"\xc2\x80\":\"Control\x7f\","
                 "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro "
                 "Sign\",\"\xf0\x9f\x98\x82\":\"Smiley\","
                 "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

/* The reference implementation's "structures" sample: nested objects, empty key, 56.0 -> 56. */
static void test_reference_structures_sample(void **state) {
    (void)state;
    assert_canon("{\"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0}, \"10\": { }, "
                 "\"\": \"empty\", \"a\": { }, \"111\": [ {\"e\": \"yes\",\"E\": \"no\" } ], "
                 "\"A\": { }}",
                 "{\"\":\"empty\",\"1\":{\"\\n\":56,\"f\":{\"F\":5,\"f\":\"hi\"}},\"10\":{},"
                 "\"111\":[{\"E\":\"no\",\"e\":\"yes\"}],\"A\":{},\"a\":{}}");
}

static double from_bits(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* RFC 8785 Appendix B: every finite IEEE 754 sample. */
static void test_rfc_appendix_b_numbers(void **state) {
    (void)state;
    static const struct {
        uint64_t bits;
        const char *text;
    } cases[] = {
        {0x0000000000000000ULL, "0"},
        {0x8000000000000000ULL, "0"},
        {0x0000000000000001ULL, "5e-324"},
        {0x8000000000000001ULL, "-5e-324"},
        {0x7fefffffffffffffULL, "1.7976931348623157e+308"},
        {0xffefffffffffffffULL, "-1.7976931348623157e+308"},
        {0x4340000000000000ULL, "9007199254740992"},
        {0xc340000000000000ULL, "-9007199254740992"},
        {0x4430000000000000ULL, "295147905179352830000"},
        {0x44b52d02c7e14af5ULL, "9.999999999999997e+22"},
        {0x44b52d02c7e14af6ULL, "1e+23"},
        {0x44b52d02c7e14af7ULL, "1.0000000000000001e+23"},
        {0x444b1ae4d6e2ef4eULL, "999999999999999700000"},
        {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
        {0x444b1ae4d6e2ef50ULL, "1e+21"},
        {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
        {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
        {0x41b3de4355555553ULL, "333333333.3333332"},
        {0x41b3de4355555554ULL, "333333333.33333325"},
        {0x41b3de4355555555ULL, "333333333.3333333"},
        {0x41b3de4355555556ULL, "333333333.3333334"},
        {0x41b3de4355555557ULL, "333333333.33333343"},
        {0xbecbf647612f3696ULL, "-0.0000033333333333333333"},
        {0x43143ff3c1cb0959ULL, "1424953923781206.2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_real(from_bits(cases[i].bits));
        assert_non_null(v);
        assert_canon_value(v, cases[i].text);
        json_decref(v);
    }
}

/* Layout boundaries of Number::toString: exponent form from 1e21 and below 1e-6. */
static void test_number_layout_boundaries(void **state) {
    (void)state;
    assert_canon("[1e20, 1e21, 1.5e21, 123e18, 1e-6, 1e-7, 1.25e-7, 0.1, -0.0, 0.5, 2.0, -1.5]",
                 "[100000000000000000000,1e+21,1.5e+21,123000000000000000000,0.000001,1e-7,"
                 "1.25e-7,0.1,0,0.5,2,-1.5]");
}

static void test_integers(void **state) {
    (void)state;
    assert_canon("[0, -1, 42, 9007199254740991, -9007199254740991, 9223372036854775807]",
                 "[0,-1,42,9007199254740991,-9007199254740991,9223372036854775807]");
}

static void test_string_escapes(void **state) {
    (void)state;
    /* every C0 control: short escapes where JSON.stringify has them, else \u00xx lowercase */
    char raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (char)i;
    json_t *v = json_stringn(raw, sizeof raw);
    assert_non_null(v);
    assert_canon_value(v,
                       "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
                       "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015"
                       "\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
    json_decref(v);
    /* DEL, U+2028, U+2029, '/', '<' and non-ASCII stay literal */
    assert_canon("\"\\u007f\\u2028\\u2029/<>&\\u00e9\"",
                 "\"\x7f\xe2\x80\xa8\xe2\x80\xa9/<>&\xc3\xa9\"");
    assert_canon("\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\"");
}

static void test_literals_and_empty(void **state) {
    (void)state;
    assert_canon("null", "null");
    assert_canon("true", "true");
    assert_canon("{}", "{}");
    assert_canon("[]", "[]");
    assert_canon("\"\"", "\"\"");
    assert_canon(" [ { } , [ ] , { \"b\" : [ 1 , { \"z\":1, \"y\":2 } ] } ] ",
                 "[{},[],{\"b\":[1,{\"y\":2,\"z\":1}]}]");
}

/* Code points above U+FFFF sort by their leading surrogate: U+10000 before U+FFFF. */
static void test_sort_surrogates(void **state) {
    (void)state;
    assert_canon(
        "{\"\\uffff\":1,\"\\ud800\\udc00\":2,\"\\ue000\":3,\"\\ud7ff\":4,\"ab\":5,\"a\":6}",
        "{\"a\":6,\"ab\":5,\"\xed\x9f\xbf\":4,\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":3,"
        "\"\xef\xbf\xbf\":1}");
}

static void test_append_to_existing_buffer(void **state) {
    (void)state;
    je_buf b = JE_BUF_INIT;
    je_buf_puts(&b, "x=");
    json_t *v = parse("{\"b\":1,\"a\":[true]}");
    assert_int_equal(je_jcs_append(v, &b), 0);
    assert_string_equal(b.data, "x={\"a\":[true],\"b\":1}");
    json_decref(v);
    je_buf_free(&b);
}

static void test_errors(void **state) {
    (void)state;
    assert_null(json_real(NAN)); /* jansson refuses non-finite reals at construction */
    assert_null(je_jcs_dumps(NULL, NULL));
    json_t *bad = json_stringn_nocheck("\xc0\xaf", 2);
    assert_null(je_jcs_dumps(bad, NULL));
    json_t *arr = json_pack("[i,O]", 1, bad);
    assert_null(je_jcs_dumps(arr, NULL));
    json_decref(arr);
    json_decref(bad);
    json_t *obj = json_object();
    json_object_setn_new_nocheck(obj, "\xed\xa0\x80", 3, json_true());
    je_buf b = JE_BUF_INIT;
    assert_int_equal(je_jcs_append(obj, &b), -1);
    je_buf_free(&b);
    json_decref(obj);
}

/* A NUL inside a string (JSON_ALLOW_NUL) is written as \u0000, not truncated. */
static void test_embedded_nul(void **state) {
    (void)state;
    assert_canon("{\"k\":\"a\\u0000b\"}", "{\"k\":\"a\\u0000b\"}");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_values_example),
        cmocka_unit_test(test_rfc_sorting_example),
        cmocka_unit_test(test_reference_weird_sample),
        cmocka_unit_test(test_reference_structures_sample),
        cmocka_unit_test(test_rfc_appendix_b_numbers),
        cmocka_unit_test(test_number_layout_boundaries),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_literals_and_empty),
        cmocka_unit_test(test_sort_surrogates),
        cmocka_unit_test(test_append_to_existing_buffer),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_embedded_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

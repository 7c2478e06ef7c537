/* Unit tests for http/form.c: form-urlencoded bodies and HTTP Basic credentials. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "http/form.h"

static void test_form_decodes_escapes_and_plus(void **state) {
    je_arena *a = je_arena_new();
    je_form f;
    const char *body = "grant_type=client_credentials&quota_reason=black+friday%20surge&x=a%00b";
    assert_int_equal(je_form_parse(body, strlen(body), a, &f), 0);
    assert_int_equal(f.n, 3);
    assert_string_equal(je_form_get(&f, "quota_reason")->value, "black friday surge");
    const je_form_param *x = je_form_get(&f, "x");
    assert_int_equal(x->value_len, 3); /* the NUL stays inside the value */
    assert_memory_equal(x->value, "a\0b", 3);
    assert_null(je_form_get(&f, "missing"));
    assert_string_equal(f.dup, "");
    je_arena_free(a);
}

static void test_form_notes_repeated_parameter(void **state) {
    je_arena *a = je_arena_new();
    je_form f;
    const char *body = "scope=a&scope=b";
    assert_int_equal(je_form_parse(body, strlen(body), a, &f), 0);
    assert_string_equal(f.dup, "scope");
    je_arena_free(a);
}

static void test_form_refuses_bad_escapes(void **state) {
    static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "%=1", "a=b&=c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        je_arena *a = je_arena_new();
        je_form f;
        assert_int_equal(je_form_parse(bad[i], strlen(bad[i]), a, &f), -1);
        je_arena_free(a);
    }
}

static void test_form_empty_value_and_empty_pairs(void **state) {
    je_arena *a = je_arena_new();
    je_form f;
    const char *body = "&&a=&b&";
    assert_int_equal(je_form_parse(body, strlen(body), a, &f), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(je_form_get(&f, "a")->value_len, 0);
    assert_int_equal(je_form_get(&f, "b")->value_len, 0);
    je_arena_free(a);
}

static void test_basic_credentials(void **state) {
    je_arena *a = je_arena_new();
    char *id, *secret;
    size_t il, sl;
    /* "ops%3Abot:s3cr%25t" : the id holds an escaped colon, the secret an escaped percent */
    assert_int_equal(je_basic_parse("Basic b3BzJTNBYm90OnMzY3IlMjV0", a, &id, &il, &secret, &sl),
                     1);
    assert_string_equal(id, "ops:bot");
    assert_string_equal(secret, "s3cr%t");
    assert_int_equal(je_basic_parse("bearer abc", a, &id, &il, &secret, &sl), 0);
    assert_int_equal(je_basic_parse("Basic !!!", a, &id, &il, &secret, &sl), -1);
    assert_int_equal(je_basic_parse("Basic bm9jb2xvbg==", a, &id, &il, &secret, &sl), -1);
    je_arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_decodes_escapes_and_plus),
        cmocka_unit_test(test_form_notes_repeated_parameter),
        cmocka_unit_test(test_form_refuses_bad_escapes),
        cmocka_unit_test(test_form_empty_value_and_empty_pairs),
        cmocka_unit_test(test_basic_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

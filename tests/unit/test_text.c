/* tests/unit/test_text.c: the reason/ticket rules (api.md §2.2) — trimming of Unicode
 * White_Space, blank, Cc control characters, code-point length limits and UTF-8 validity. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/text.h"

/* s repeated n times, as a new string. */
static char *repeat(const char *s, size_t n) {
    size_t l = strlen(s);
    char *r = malloc(l * n + 1);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++) memcpy(r + i * l, s, l);
    r[l * n] = '\0';
    return r;
}

static je_text_status check(const char *s, size_t max) {
    size_t off = 99, len = 99;
    return je_text_check(s, s ? strlen(s) : 0, max, &off, &len);
}

/* Asserts s is OK and its trimmed slice equals want. */
static void assert_trimmed(const char *s, size_t slen, const char *want) {
    size_t off = 99, len = 99;
    assert_int_equal(je_text_check(s, slen, 256, &off, &len), JE_TEXT_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s + off, want, len);
}

static void test_limits_with_multibyte(void **state) {
    (void)state;
    const char *chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < 4; i++) {
        char *s256 = repeat(chars[i], 256), *s257 = repeat(chars[i], 257);
        char *s128 = repeat(chars[i], 128), *s129 = repeat(chars[i], 129);
        assert_int_equal(check(s256, 256), JE_TEXT_OK);
        assert_int_equal(check(s257, 256), JE_TEXT_TOO_LONG);
        assert_int_equal(check(s128, 128), JE_TEXT_OK);
        assert_int_equal(check(s129, 128), JE_TEXT_TOO_LONG);
        free(s256), free(s257), free(s128), free(s129);
    }
}

static void test_trim_not_counted(void **state) {
    (void)state;
    char *body = repeat("\xc3\xa9", 256);
    size_t bl = strlen(body);
    char *s = malloc(bl + 32);
    assert_non_null(s);
    strcpy(s, " \t\xe3\x80\x80\xc2\xa0");
    strcat(s, body);
    strcat(s, "\xc2\xa0\xe3\x80\x80\n ");
    size_t off = 0, len = 0;
    assert_int_equal(je_text_check(s, strlen(s), 256, &off, &len), JE_TEXT_OK);
    assert_int_equal(off, 7);
    assert_int_equal(len, bl);
    assert_memory_equal(s + off, body, bl);
    free(s);
    free(body);
}

static void test_trim_unicode_and_ascii(void **state) {
    (void)state;
    assert_trimmed("  hello world  ", 15, "hello world");
    assert_trimmed("\xe3\x80\x80"
                   "a b"
                   "\xe3\x80\x80",
                   9, "a b");
    assert_trimmed("\xc2\xa0x\xc2\xa0", 5, "x");
    assert_trimmed("\t\n\r\v\fx\r\n\t", 9, "x");
    assert_trimmed("\xe2\x80\xa8\xe2\x80\x83x\xe2\x80\xaf\xe2\x81\x9f", 13, "x");
    assert_trimmed("\xc2\x85x\xc2\x85", 5, "x"); /* NEL is White_Space: trimmed at the ends */
    assert_trimmed("a\xe3\x80\x80\xc2\xa0 b", 8, "a\xe3\x80\x80\xc2\xa0 b"); /* inner kept */
    /* U+200B ZERO WIDTH SPACE is not White_Space: kept */
    assert_trimmed("\xe2\x80\x8bx", 4, "\xe2\x80\x8bx");
}

static void test_blank(void **state) {
    (void)state;
    assert_int_equal(check("", 10), JE_TEXT_BLANK);
    assert_int_equal(check("   ", 10), JE_TEXT_BLANK);
    assert_int_equal(check("\xe3\x80\x80", 10), JE_TEXT_BLANK);
    assert_int_equal(check(" \t\n\xc2\xa0\xe1\x9a\x80\xe2\x80\xa9 ", 10), JE_TEXT_BLANK);
}

static void test_missing(void **state) {
    (void)state;
    assert_int_equal(je_text_check(NULL, 0, 10, NULL, NULL), JE_TEXT_MISSING);
}

static void test_control_inside(void **state) {
    (void)state;
    assert_int_equal(check("a\x01"
                           "b",
                           10),
                     JE_TEXT_CONTROL);
    assert_int_equal(check("a\x7f"
                           "b",
                           10),
                     JE_TEXT_CONTROL);
    assert_int_equal(check("a\xc2\x85"
                           "b",
                           10),
                     JE_TEXT_CONTROL); /* U+0085 inside */
    assert_int_equal(check("a\xc2\x9f"
                           "b",
                           10),
                     JE_TEXT_CONTROL); /* U+009F */
    assert_int_equal(check("a\tb", 10), JE_TEXT_CONTROL);
    assert_int_equal(check("a\nb", 10), JE_TEXT_CONTROL);
    assert_int_equal(check("\x1b", 10), JE_TEXT_CONTROL);
    assert_int_equal(je_text_check("a\0b", 3, 10, NULL, NULL), JE_TEXT_CONTROL);
    assert_int_equal(je_text_check("ab\0", 3, 10, NULL, NULL), JE_TEXT_CONTROL); /* NUL at end */
    /* U+00A0 is not Cc; U+00A1 after U+009F boundary is fine */
    assert_int_equal(check("a\xc2\xa0"
                           "b\xc2\xa1",
                           10),
                     JE_TEXT_OK);
}

static void test_bad_utf8(void **state) {
    (void)state;
    assert_int_equal(check("a\x80", 10), JE_TEXT_BAD_UTF8);            /* lone continuation */
    assert_int_equal(check("\xc0\xaf", 10), JE_TEXT_BAD_UTF8);         /* overlong '/' */
    assert_int_equal(check("\xe0\x80\xaf", 10), JE_TEXT_BAD_UTF8);     /* overlong 3-byte */
    assert_int_equal(check("\xf0\x80\x80\xaf", 10), JE_TEXT_BAD_UTF8); /* overlong 4-byte */
    assert_int_equal(check("\xed\xa0\x80", 10), JE_TEXT_BAD_UTF8);     /* surrogate D800 */
    assert_int_equal(check("\xed\xbf\xbf", 10), JE_TEXT_BAD_UTF8);     /* surrogate DFFF */
    assert_int_equal(check("\xf4\x90\x80\x80", 10), JE_TEXT_BAD_UTF8); /* > U+10FFFF */
    assert_int_equal(check("\xf5\x80\x80\x80", 10), JE_TEXT_BAD_UTF8);
    assert_int_equal(check("ab\xe2\x82", 10), JE_TEXT_BAD_UTF8); /* truncated */
    assert_int_equal(check("\xe2\x82x", 10), JE_TEXT_BAD_UTF8);  /* bad continuation */
    assert_int_equal(check("\xff", 10), JE_TEXT_BAD_UTF8);
    /* bad UTF-8 wins over blank, control and length: checked on the whole input first */
    assert_int_equal(check("   \x80", 10), JE_TEXT_BAD_UTF8);
    assert_int_equal(check("\x01\x80", 10), JE_TEXT_BAD_UTF8);
    /* a truncated sequence hidden by a length that cuts a valid one */
    assert_int_equal(je_text_check("\xc3\xa9", 1, 10, NULL, NULL), JE_TEXT_BAD_UTF8);
}

static void test_order_of_checks(void **state) {
    (void)state;
    /* control beats length */
    char *s = repeat("a", 300);
    s[150] = '\x01';
    assert_int_equal(check(s, 256), JE_TEXT_CONTROL);
    free(s);
}

static void test_utf8_helpers(void **state) {
    (void)state;
    assert_true(je_utf8_valid("", 0));
    assert_true(je_utf8_valid("a\0b", 3));
    assert_true(je_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    assert_true(je_utf8_valid("\xee\x80\x80", 3));     /* U+E000 */
    assert_false(je_utf8_valid("\xc1\xbf", 2));
    assert_int_equal(je_utf8_count("", 0), 0);
    assert_int_equal(je_utf8_count("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 4);
}

static void test_phrases(void **state) {
    (void)state;
    char buf[64];
    assert_string_equal(je_text_status_phrase(JE_TEXT_MISSING, 256, buf, sizeof buf),
                        "is required");
    assert_string_equal(je_text_status_phrase(JE_TEXT_BAD_UTF8, 256, buf, sizeof buf),
                        "is not valid UTF-8");
    assert_string_equal(je_text_status_phrase(JE_TEXT_BLANK, 256, buf, sizeof buf), "is blank");
    assert_string_equal(je_text_status_phrase(JE_TEXT_CONTROL, 256, buf, sizeof buf),
                        "contains a control character");
    assert_string_equal(je_text_status_phrase(JE_TEXT_TOO_LONG, 128, buf, sizeof buf),
                        "is longer than 128 characters");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_with_multibyte),
        cmocka_unit_test(test_trim_not_counted),
        cmocka_unit_test(test_trim_unicode_and_ascii),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_control_inside),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_order_of_checks),
        cmocka_unit_test(test_utf8_helpers),
        cmocka_unit_test(test_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

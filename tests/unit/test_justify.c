/* tests/unit/test_justify.c: the effective reason and ticket of a change (api.md §3.2,
 * docs/api.md "Justification of changes") — body before headers before token, reason and ticket
 * taken together from the source that gives the reason, invalid values refused and never
 * replaced by a later source, a ticket that cannot stand alone, trimming and length limits in
 * code points; and je_justify_valid. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/justify.h"

/* s repeated n times, as a new string. */
static char *repeat(const char *s, size_t n) {
    size_t l = strlen(s);
    char *r = malloc(l * n + 1);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++) memcpy(r + i * l, s, l);
    r[l * n] = '\0';
    return r;
}

static je_text_in txt(const char *s) {
    je_text_in t = {s, s ? strlen(s) : 0};
    return t;
}

static je_justify_source src(const char *reason, const char *ticket) {
    je_justify_source s = {txt(reason), txt(ticket)};
    return s;
}

/* The three sources (body, headers, token), each a reason and a ticket (NULL: absent). */
typedef struct case3 {
    const char *br, *bt, *hr, *ht, *tr, *tt;
} case3;

static int run(const case3 *c, je_justification *out, je_err *err) {
    je_justify_source s[3] = {src(c->br, c->bt), src(c->hr, c->ht), src(c->tr, c->tt)};
    memset(out, 0x5A, sizeof *out); /* garbage: je_justify must reset every member */
    je_err_clear(err);
    return je_justify(s, out, err);
}

static void expect_ok(const case3 *c, int source, const char *reason, const char *ticket) {
    je_justification out;
    je_err err;
    assert_int_equal(run(c, &out, &err), 0);
    assert_int_equal(out.source, source);
    assert_string_equal(out.reason, reason);
    if (ticket) {
        assert_int_equal(out.has_ticket, 1);
        assert_string_equal(out.ticket, ticket);
    } else {
        assert_int_equal(out.has_ticket, 0);
        assert_string_equal(out.ticket, "");
    }
}

/* Refused with code and field; the message names where (when not NULL) and holds phrase. */
static void expect_err(const case3 *c, const char *code, const char *field, const char *where,
                       const char *phrase) {
    je_justification out;
    je_err err;
    assert_int_equal(run(c, &out, &err), -1);
    assert_non_null(err.code);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
    if (where) assert_non_null(strstr(err.message, where));
    if (phrase) assert_non_null(strstr(err.message, phrase));
}

/* ---- order of sources --------------------------------------------------------------------- */

static void test_body_beats_headers_beats_token(void **state) {
    (void)state;
    case3 all = {"body reason", "B-1", "header reason", "H-1", "token reason", "T-1"};
    expect_ok(&all, 0, "body reason", "B-1");
    case3 no_body = {NULL, NULL, "header reason", "H-1", "token reason", "T-1"};
    expect_ok(&no_body, 1, "header reason", "H-1");
    case3 token_only = {NULL, NULL, NULL, NULL, "token reason", "T-1"};
    expect_ok(&token_only, 2, "token reason", "T-1");
    case3 token_no_ticket = {NULL, NULL, NULL, NULL, "token reason", NULL};
    expect_ok(&token_no_ticket, 2, "token reason", NULL);
    case3 body_only = {"body reason", NULL, NULL, NULL, NULL, NULL};
    expect_ok(&body_only, 0, "body reason", NULL);
    case3 headers_only = {NULL, NULL, "header reason", NULL, NULL, NULL};
    expect_ok(&headers_only, 1, "header reason", NULL);
}

/* The ticket comes from the source that gave the reason, never from another one. */
static void test_ticket_taken_with_its_reason(void **state) {
    (void)state;
    /* a header ticket has no reason beside it in its own source: refused, never dropped */
    case3 body_reason_header_ticket = {"body reason", NULL, NULL, "H-1", NULL, NULL};
    expect_err(&body_reason_header_ticket, "VALIDATION_FAILED", "ticket", "headers", NULL);
    /* valid headers beside a body reason: the body wins, with its own (absent) ticket */
    case3 body_reason_headers_both = {"body reason", NULL, "header reason", "H-1", NULL, NULL};
    expect_ok(&body_reason_headers_both, 0, "body reason", NULL);
    case3 body_reason_token_ticket = {"body reason", NULL, NULL, NULL, "token reason", "T-1"};
    expect_ok(&body_reason_token_ticket, 0, "body reason", NULL);
    case3 header_reason_token_ticket = {NULL, NULL, "header reason", NULL, "token reason", "T-1"};
    expect_ok(&header_reason_token_ticket, 1, "header reason", NULL);
}

/* Every source the request supplied is checked, even when the body gives the reason: an
 * invalid header value is refused rather than silently ignored (docs/api.md). */
static void test_later_sources_examined(void **state) {
    (void)state;
    case3 blank_header_reason = {"body reason", NULL, "   ", NULL, NULL, NULL};
    expect_err(&blank_header_reason, "REASON_REQUIRED", "reason", "headers", "is blank");
    case3 blank_header_ticket = {"body reason", "B-1", "header reason", " ", NULL, NULL};
    expect_err(&blank_header_ticket, "VALIDATION_FAILED", "ticket", "headers", "is blank");
    case3 header_ticket_invalid = {"body reason", NULL, "header reason", "bad\x01", NULL, NULL};
    expect_err(&header_ticket_invalid, "VALIDATION_FAILED", "ticket", "headers", NULL);
    /* the token's claims are not the request's: they are never examined when a reason is given */
    case3 body_and_token = {"body reason", "B-1", NULL, NULL, "", NULL};
    expect_ok(&body_and_token, 0, "body reason", "B-1");
}

/* ---- invalid values are refused, never replaced -------------------------------------------- */

static void test_invalid_body_reason_refused(void **state) {
    (void)state;
    char *long_reason = repeat("a", 257);
    const struct {
        const char *reason;
        const char *phrase;
    } bad[] = {
        {"", "is blank"},
        {"   \t\n ", "is blank"},
        {"\xc2\xa0\xe3\x80\x80", "is blank"}, /* NBSP, ideographic space */
        {long_reason, "is longer than 256 characters"},
        {"line\x01break", "contains a control character"},
        {"tab\tinside", "contains a control character"},
        {"del\x7f", "contains a control character"},
        {"c1\xc2\x85x", "contains a control character"}, /* U+0085 inside, not at the end */
        {"bad \xc3\x28 utf8", "is not valid UTF-8"},
        {"overlong \xc0\xaf", "is not valid UTF-8"},
        {"surrogate \xed\xa0\x80", "is not valid UTF-8"},
        {"truncated \xe2\x82", "is not valid UTF-8"},
        {"above \xf4\x90\x80\x80", "is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        case3 c = {bad[i].reason, NULL, "header reason", "H-1", "token reason", "T-1"};
        expect_err(&c, "REASON_REQUIRED", "reason", "body", bad[i].phrase);
        case3 h = {NULL, NULL, bad[i].reason, "H-1", "token reason", "T-1"};
        expect_err(&h, "REASON_REQUIRED", "reason", "headers", bad[i].phrase);
    }
    free(long_reason);
}

static void test_nul_inside_reason_refused(void **state) {
    (void)state;
    je_justify_source s[3] = {
        {{"a\0b", 3}, {NULL, 0}}, src("header reason", NULL), src("token reason", NULL)};
    je_justification out;
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_justify(s, &out, &err), -1);
    assert_string_equal(err.code, "REASON_REQUIRED");
    assert_string_equal(err.field, "reason");
}

static void test_invalid_ticket_refused(void **state) {
    (void)state;
    char *long_ticket = repeat("T", 129);
    const char *bad[] = {"", "  ", long_ticket, "OPS\x1b-1", "OPS-\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        case3 c = {"body reason", bad[i], "header reason", "H-1", "token reason", "T-1"};
        expect_err(&c, "VALIDATION_FAILED", "ticket", "body", NULL);
        case3 h = {NULL, NULL, "header reason", bad[i], "token reason", "T-1"};
        expect_err(&h, "VALIDATION_FAILED", "ticket", "headers", NULL);
    }
    case3 too_long = {"body reason", long_ticket, NULL, NULL, NULL, NULL};
    expect_err(&too_long, "VALIDATION_FAILED", "ticket", "body", "is longer than 128 characters");
    /* Both invalid: the reason is reported. */
    case3 both = {" ", " ", NULL, NULL, "token reason", NULL};
    expect_err(&both, "REASON_REQUIRED", "reason", "body", "is blank");
    free(long_ticket);
}

static void test_ticket_without_reason(void **state) {
    (void)state;
    case3 body = {NULL, "B-1", "header reason", "H-1", "token reason", "T-1"};
    expect_err(&body, "VALIDATION_FAILED", "ticket", "body", "needs a reason");
    case3 headers = {NULL, NULL, NULL, "H-1", "token reason", "T-1"};
    expect_err(&headers, "VALIDATION_FAILED", "ticket", "headers", "needs a reason");
    case3 nothing_else = {NULL, "B-1", NULL, NULL, NULL, NULL};
    expect_err(&nothing_else, "VALIDATION_FAILED", "ticket", "body", NULL);
    /* An invalid lone ticket: still the ticket that is refused. */
    case3 invalid_alone = {NULL, " ", "header reason", NULL, NULL, NULL};
    expect_err(&invalid_alone, "VALIDATION_FAILED", "ticket", "body", "is blank");
}

static void test_no_reason_anywhere(void **state) {
    (void)state;
    case3 none = {NULL, NULL, NULL, NULL, NULL, NULL};
    expect_err(&none, "REASON_REQUIRED", "reason", NULL, NULL);
    case3 empty_token = {NULL, NULL, NULL, NULL, "", "T-1"};
    expect_err(&empty_token, "REASON_REQUIRED", "reason", NULL, NULL);
    case3 token_ticket_only = {NULL, NULL, NULL, NULL, NULL, "T-1"};
    expect_err(&token_ticket_only, "REASON_REQUIRED", "reason", NULL, NULL);
}

/* ---- the token's claims -------------------------------------------------------------------- */

/* The claims were checked (and trimmed) when the token was issued: taken as they are. */
static void test_token_claims_as_they_are(void **state) {
    (void)state;
    case3 c = {NULL, NULL, NULL, NULL, "black friday scan surge", "OPS-4411"};
    expect_ok(&c, 2, "black friday scan surge", "OPS-4411");
    case3 empty_ticket = {NULL, NULL, NULL, NULL, "token reason", ""};
    expect_ok(&empty_ticket, 2, "token reason", NULL);
    char *longest = repeat("\xf0\x9f\x98\x80", 256);
    case3 multi = {NULL, NULL, NULL, NULL, longest, NULL};
    expect_ok(&multi, 2, longest, NULL);
    free(longest);
    char *too_big = repeat("a", JE_REASON_BUF); /* cannot fit the buffer */
    case3 big = {NULL, NULL, NULL, NULL, too_big, NULL};
    expect_err(&big, "REASON_REQUIRED", "reason", NULL, NULL);
    free(too_big);
}

/* ---- trimming and lengths ------------------------------------------------------------------ */

static void test_trimming(void **state) {
    (void)state;
    case3 body = {"  \t scheduled  maintenance \xc2\xa0\xe3\x80\x80\n",
                  "\r\n OPS-1 \t",
                  NULL,
                  NULL,
                  NULL,
                  NULL};
    expect_ok(&body, 0, "scheduled  maintenance", "OPS-1");
    case3 headers = {NULL, NULL, "\xe2\x80\x83header reason\xe2\x80\xa8", " H-2 ", NULL, NULL};
    expect_ok(&headers, 1, "header reason", "H-2");
    /* U+0085 (a control that is also White_Space) at the ends is trimmed away. */
    case3 nel = {"\xc2\x85reason\xc2\x85", NULL, NULL, NULL, NULL, NULL};
    expect_ok(&nel, 0, "reason", NULL);
}

static void test_lengths_in_code_points(void **state) {
    (void)state;
    const char *chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < 4; i++) {
        char *r256 = repeat(chars[i], 256), *r257 = repeat(chars[i], 257);
        char *t128 = repeat(chars[i], 128), *t129 = repeat(chars[i], 129);
        case3 ok = {r256, t128, NULL, NULL, NULL, NULL};
        expect_ok(&ok, 0, r256, t128);
        case3 long_reason = {r257, t128, NULL, NULL, NULL, NULL};
        expect_err(&long_reason, "REASON_REQUIRED", "reason", "body", "256");
        case3 long_ticket = {r256, t129, NULL, NULL, NULL, NULL};
        expect_err(&long_ticket, "VALIDATION_FAILED", "ticket", "body", "128");
        /* Counted after trimming. */
        size_t n = strlen(r256);
        char *padded = malloc(n + 5);
        assert_non_null(padded);
        snprintf(padded, n + 5, "  %s  ", r256);
        case3 pad = {padded, NULL, NULL, NULL, NULL, NULL};
        expect_ok(&pad, 0, r256, NULL);
        free(padded);
        free(r256);
        free(r257);
        free(t128);
        free(t129);
    }
}

/* ---- je_justify_valid ---------------------------------------------------------------------- */

static void test_justify_valid(void **state) {
    (void)state;
    char out[JE_REASON_BUF];
    je_text_in absent = {NULL, 0};
    assert_int_equal(je_justify_valid(absent, JE_REASON_MAX, out, sizeof out), 0);
    strcpy(out, "x");
    assert_int_equal(je_justify_valid(txt("  why not \t"), JE_REASON_MAX, out, sizeof out), 1);
    assert_string_equal(out, "why not");
    assert_int_equal(je_justify_valid(txt("   "), JE_REASON_MAX, out, sizeof out), 0);
    assert_int_equal(je_justify_valid(txt(""), JE_REASON_MAX, out, sizeof out), 0);
    assert_int_equal(je_justify_valid(txt("a\x01"), JE_REASON_MAX, out, sizeof out), 0);
    assert_int_equal(je_justify_valid(txt("\xc3\x28"), JE_REASON_MAX, out, sizeof out), 0);
    /* max_chars is the limit in code points */
    assert_int_equal(je_justify_valid(txt("abc"), 2, out, sizeof out), 0);
    assert_int_equal(je_justify_valid(txt("\xc3\xa9\xc3\xa9"), 2, out, sizeof out), 1);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9");
    char *t128 = repeat("\xf0\x9f\x98\x80", 128), *t129 = repeat("\xf0\x9f\x98\x80", 129);
    char tout[JE_TICKET_BUF];
    assert_int_equal(je_justify_valid(txt(t128), JE_TICKET_MAX, tout, sizeof tout), 1);
    assert_string_equal(tout, t128);
    assert_int_equal(je_justify_valid(txt(t129), JE_TICKET_MAX, tout, sizeof tout), 0);
    free(t128);
    free(t129);
    /* The output buffer must hold the trimmed value and its NUL. */
    char small[5];
    assert_int_equal(je_justify_valid(txt(" abcd "), 100, small, sizeof small), 1);
    assert_string_equal(small, "abcd");
    assert_int_equal(je_justify_valid(txt("abcde"), 100, small, sizeof small), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_beats_headers_beats_token),
        cmocka_unit_test(test_ticket_taken_with_its_reason),
        cmocka_unit_test(test_later_sources_examined),
        cmocka_unit_test(test_invalid_body_reason_refused),
        cmocka_unit_test(test_nul_inside_reason_refused),
        cmocka_unit_test(test_invalid_ticket_refused),
        cmocka_unit_test(test_ticket_without_reason),
        cmocka_unit_test(test_no_reason_anywhere),
        cmocka_unit_test(test_token_claims_as_they_are),
        cmocka_unit_test(test_trimming),
        cmocka_unit_test(test_lengths_in_code_points),
        cmocka_unit_test(test_justify_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

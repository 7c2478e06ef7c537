/* tests/unit/test_b64url.c: base64url (RFC 4648 §5, unpadded) and standard base64 decoding,
 * against the RFC 4648 §10 vectors, plus refusal of padding, foreign alphabets and bad lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/b64url.h"

/* RFC 4648 §10 with the padding removed (base64url of these inputs equals base64). */
static const char *const PLAIN[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const ENCODED[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
static const char *const PADDED[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static int decode_url(const char *s, unsigned char *out, size_t *n) {
    return je_b64url_decode(s, strlen(s), out, n);
}

static void test_encode_rfc4648_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(PLAIN[i]);
        assert_int_equal(je_b64url_len(n), strlen(ENCODED[i]));
        assert_int_equal(je_b64url_encode((const unsigned char *)PLAIN[i], n, out),
                         strlen(ENCODED[i]));
        assert_string_equal(out, ENCODED[i]);
    }
}

static void test_decode_rfc4648_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        unsigned char out[16];
        size_t n = 99;
        assert_int_equal(decode_url(ENCODED[i], out, &n), 0);
        assert_int_equal(n, strlen(PLAIN[i]));
        assert_memory_equal(out, PLAIN[i], n);
    }
}

static void test_url_alphabet(void **state) {
    (void)state;
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char out[8];
    je_b64url_encode(bytes, 3, out);
    assert_string_equal(out, "-_-_");
    unsigned char back[8];
    size_t n = 0;
    assert_int_equal(decode_url("-_-_", back, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(back, bytes, 3);
}

static void test_url_refuses_bad_input(void **state) {
    (void)state;
    const char *bad[] = {"Zg==",   "Zm8=",   "Zg=",  "=", "Zm9v=", "+_-_", "-/-_",       "Zm9 v",
                         "Zm9v\n", "Zm9v\t", "Zm.v", "Z", "Zm9vY", "Zh",   "Zm9\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char out[16];
        size_t n = 0;
        assert_int_equal(decode_url(bad[i], out, &n), -1);
    }
    /* An embedded NUL within the given length is not part of the alphabet. */
    unsigned char out[16];
    size_t n = 0;
    assert_int_equal(je_b64url_decode("Zm\0v", 4, out, &n), -1);
}

static void test_b64_basic_credentials(void **state) {
    (void)state;
    const char *s = "QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
    unsigned char out[32];
    size_t n = 0;
    assert_int_equal(je_b64_decode(s, strlen(s), out, &n), 0);
    assert_int_equal(n, strlen("Aladdin:open sesame"));
    assert_memory_equal(out, "Aladdin:open sesame", n);
}

static void test_b64_vectors_padded_and_not(void **state) {
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        unsigned char out[16];
        size_t n = 99;
        assert_int_equal(je_b64_decode(PADDED[i], strlen(PADDED[i]), out, &n), 0);
        assert_int_equal(n, strlen(PLAIN[i]));
        assert_memory_equal(out, PLAIN[i], n);
        assert_int_equal(je_b64_decode(ENCODED[i], strlen(ENCODED[i]), out, &n), 0);
        assert_int_equal(n, strlen(PLAIN[i]));
    }
    unsigned char out[8];
    size_t n = 0;
    assert_int_equal(je_b64_decode("+/+/", 4, out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0xfb);
}

static void test_b64_refuses_bad_input(void **state) {
    (void)state;
    const char *bad[] = {"Zg=",  "Zg===", "Z===",  "====", "Zm9v====", "Zg==Zg==",
                         "Zm=8", "-_-_",  "Zm9 v", "Zh==", "Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char out[16];
        size_t n = 0;
        assert_int_equal(je_b64_decode(bad[i], strlen(bad[i]), out, &n), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648_vectors),
        cmocka_unit_test(test_decode_rfc4648_vectors),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_url_refuses_bad_input),
        cmocka_unit_test(test_b64_basic_credentials),
        cmocka_unit_test(test_b64_vectors_padded_and_not),
        cmocka_unit_test(test_b64_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

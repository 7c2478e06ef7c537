/* tests/fuzz/fuzz_jcs.c: JCS canonicalisation (src/core/jcs.c, RFC 8785) of any JSON jansson
 * reads. Properties (abort() when broken): every value read has a canonical form; that form
 * reads back (je_json_loadb: jansson, and the integers beyond +-2^63 JCS writes for reals such
 * as 1e20) as an equal value, and canonicalising it again gives the same bytes (a fixed point);
 * the ordered form of responses (je_json_dumps_ordered) also reads back as an equal value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"

#define FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

static void check(int cond, const char *what) {
    if (cond) return;
    fprintf(stderr, "fuzz_jcs: %s\n", what);
    abort();
}

/* Equal as JSON values: numbers by value (an integral real and an integer alike), objects as
 * sets of members, strings byte for byte. */
static int same(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    if (json_is_string(a))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kl, v) {
            json_t *w = json_object_getn(b, k, kl);
            if (!w || !same(v, w)) return 0;
        }
        return 1;
    }
    return 1; /* true, false, null */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *v = json_loadb((const char *)data, size, FLAGS, NULL);
    if (!v) return 0;
    size_t n1 = 0, n2 = 0, no = 0;
    char *c1 = je_jcs_dumps(v, &n1);
    check(c1 != NULL, "a value jansson read has no canonical form");
    json_error_t e;
    json_t *back = je_json_loadb(c1, n1, FLAGS, &e);
    if (!back) fprintf(stderr, "%s: %.*s\n", e.text, (int)n1, c1);
    check(back != NULL, "the canonical form does not read back");
    check(same(v, back), "the canonical form reads back as another value");
    char *c2 = je_jcs_dumps(back, &n2);
    check(c2 && n1 == n2 && memcmp(c1, c2, n1) == 0, "the canonical form is not a fixed point");
    char *o = je_json_dumps_ordered(v, &no);
    check(o != NULL, "a value jansson read has no ordered form");
    json_t *oback = je_json_loadb(o, no, FLAGS, NULL);
    check(oback && same(v, oback), "the ordered form does not read back as the same value");
    json_decref(oback);
    free(o);
    free(c2);
    json_decref(back);
    free(c1);
    json_decref(v);
    return 0;
}

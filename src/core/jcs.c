/* core/jcs.c: RFC 8785 canonical JSON over jansson values. Owns member ordering by UTF-16 code
 * units, ECMAScript JSON.stringify string escaping and Number.prototype.toString layout of reals,
 * and reading that layout back (je_json_loadb). Pure: writes into the caller's je_buf only. */
#include "core/jcs.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

typedef struct jcs_member {
    const char *key;
    size_t len;
    json_t *value;
} jcs_member;

static int jcs_value(const json_t *v, je_buf *out, int sort);

/* Decodes one code point of valid UTF-8 at s[*i] and advances *i. */
static unsigned utf8_next(const unsigned char *s, size_t *i) {
    unsigned c = s[*i];
    size_t n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    unsigned cp = n == 0 ? c : c & (0x3Fu >> n);
    (*i)++;
    for (size_t k = 0; k < n; k++, (*i)++) cp = (cp << 6) | (s[*i] & 0x3Fu);
    return cp;
}

/* The first UTF-16 code unit of cp: itself in the BMP, its high surrogate above. */
static unsigned utf16_lead(unsigned cp) {
    return cp < 0x10000 ? cp : 0xD800 + ((cp - 0x10000) >> 10);
}

static int cmp_cp_utf16(unsigned a, unsigned b) {
    if (a >= 0x10000 && b >= 0x10000) return a < b ? -1 : a > b;
    unsigned ka = utf16_lead(a), kb = utf16_lead(b);
    return ka < kb ? -1 : ka > kb;
}

static int member_cmp(const void *pa, const void *pb) {
    const jcs_member *a = pa, *b = pb;
    const unsigned char *sa = (const unsigned char *)a->key, *sb = (const unsigned char *)b->key;
    size_t i = 0, j = 0;
    while (i < a->len && j < b->len) {
        int c = cmp_cp_utf16(utf8_next(sa, &i), utf8_next(sb, &j));
        if (c) return c;
    }
    if (i < a->len) return 1;
    return j < b->len ? -1 : 0;
}

/* The escape of c per JSON.stringify, or NULL when c is written as itself. */
static const char *escape_of(unsigned char c, char u[7]) {
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '\b':
        return "\\b";
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\f':
        return "\\f";
    case '\r':
        return "\\r";
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    default:
        break;
    }
    if (c >= 0x20) return NULL;
    memcpy(u, "\\u00", 4);
    u[4] = hex[c >> 4];
    u[5] = hex[c & 0xF];
    u[6] = '\0';
    return u;
}

int je_jcs_string(const char *s, size_t len, je_buf *out) {
    if (!je_utf8_valid(s, len)) return -1;
    je_buf_putc(out, '"');
    size_t run = 0; /* start of the bytes not yet written, all written as themselves */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        char u[7];
        je_buf_append(out, s + run, i - run);
        je_buf_puts(out, escape_of(c, u));
        run = i + 1;
    }
    je_buf_append(out, s + run, len - run);
    je_buf_putc(out, '"');
    return 0;
}

/* The first p in [from, 17] whose "%.*e" rendering of d reads back as d, left in tmp. */
static int round_trip_from(double d, int from, char *tmp, size_t cap) {
    int p = from;
    for (; p <= 17; p++) {
        snprintf(tmp, cap, "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    return p;
}

/* Shortest round-trip digits of d > 0 (finite) into digits, returning the decimal exponent e
 * such that d = 0.d1d2... x 10^(e+1), i.e. d1.d2... x 10^e. The shortest is the first p of
 * 1..17 that reads back. For a normal double, trying 15 first gives the same: two decimals
 * of at most 15 significant digits never read as one double (DBL_DIG), so when the 15-digit
 * rendering reads back it is the shortest one padded with zeros (trimmed below). */
static int shortest_digits(double d, char *digits, size_t *ndigits) {
    char tmp[40];
    if (d < DBL_MIN || round_trip_from(d, 15, tmp, sizeof tmp) > 15)
        round_trip_from(d, d < DBL_MIN ? 1 : 16, tmp, sizeof tmp);
    size_t n = 0;
    const char *q = tmp;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[n++] = *q;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = '\0';
    *ndigits = n;
    return *q == 'e' ? atoi(q + 1) : 0;
}

/* Lays out digits (k of them) with n = e + 1 per ECMA-262 Number::toString. */
static void number_layout(const char *dg, int k, int n, je_buf *out) {
    if (k <= n && n <= 21) {
        je_buf_append(out, dg, (size_t)k);
        for (int i = k; i < n; i++) je_buf_putc(out, '0');
    } else if (0 < n && n <= 21) {
        je_buf_append(out, dg, (size_t)n);
        je_buf_putc(out, '.');
        je_buf_append(out, dg + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        je_buf_puts(out, "0.");
        for (int i = 0; i < -n; i++) je_buf_putc(out, '0');
        je_buf_append(out, dg, (size_t)k);
    } else {
        je_buf_putc(out, dg[0]);
        if (k > 1) {
            je_buf_putc(out, '.');
            je_buf_append(out, dg + 1, (size_t)(k - 1));
        }
        je_buf_printf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

int je_jcs_real(double d, je_buf *out) {
    if (!isfinite(d)) return -1;
    if (d == 0) {
        je_buf_putc(out, '0');
        return 0;
    }
    if (d < 0) {
        je_buf_putc(out, '-');
        d = -d;
    }
    if (d < 9007199254740992.0 && d == floor(d)) { /* an integer below 2^53: its digits */
        je_jcs_int((int64_t)d, out);
        return 0;
    }
    char digits[32];
    size_t k = 0;
    int e = shortest_digits(d, digits, &k);
    number_layout(digits, (int)k, e + 1, out);
    return 0;
}

void je_jcs_int(int64_t v, je_buf *out) {
    char t[24];
    size_t i = sizeof t;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) t[--i] = '-';
    je_buf_append(out, t + i, sizeof t - i);
}

static int jcs_object(const json_t *v, je_buf *out, int sort) {
    size_t n = json_object_size(v), i = 0;
    jcs_member *m = n ? malloc(n * sizeof *m) : NULL;
    if (n && !m) abort();
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)v, key, klen, val) {
        m[i++] = (jcs_member){key, klen, val};
    }
    for (i = 0; i < n; i++) {
        if (!je_utf8_valid(m[i].key, m[i].len)) break;
    }
    int rc = i < n ? -1 : 0;
    if (rc == 0 && n > 1 && sort) qsort(m, n, sizeof *m, member_cmp);
    je_buf_putc(out, '{');
    for (i = 0; rc == 0 && i < n; i++) {
        if (i) je_buf_putc(out, ',');
        rc = je_jcs_string(m[i].key, m[i].len, out);
        je_buf_putc(out, ':');
        if (rc == 0) rc = jcs_value(m[i].value, out, sort);
    }
    je_buf_putc(out, '}');
    free(m);
    return rc;
}

static int jcs_array(const json_t *v, je_buf *out, int sort) {
    je_buf_putc(out, '[');
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) je_buf_putc(out, ',');
        if (jcs_value(json_array_get(v, i), out, sort) != 0) return -1;
    }
    je_buf_putc(out, ']');
    return 0;
}

static int jcs_value(const json_t *v, je_buf *out, int sort) {
    if (!v) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return jcs_object(v, out, sort);
    case JSON_ARRAY:
        return jcs_array(v, out, sort);
    case JSON_STRING:
        return je_jcs_string(json_string_value(v), json_string_length(v), out);
    case JSON_INTEGER:
        je_jcs_int((int64_t)json_integer_value(v), out);
        return 0;
    case JSON_REAL:
        return je_jcs_real(json_real_value(v), out);
    case JSON_TRUE:
        je_buf_puts(out, "true");
        return 0;
    case JSON_FALSE:
        je_buf_puts(out, "false");
        return 0;
    case JSON_NULL:
        je_buf_puts(out, "null");
        return 0;
    }
    return -1;
}

int je_jcs_append(const json_t *v, je_buf *out) {
    return jcs_value(v, out, 1);
}

static char *dumps_mode(const json_t *v, size_t *len, int sort) {
    je_buf b = JE_BUF_INIT;
    if (jcs_value(v, &b, sort) != 0) {
        je_buf_free(&b);
        return NULL;
    }
    if (!b.data) je_buf_append(&b, "", 0);
    if (len) *len = b.len;
    return b.data;
}

char *je_jcs_dumps(const json_t *v, size_t *len) {
    return dumps_mode(v, len, 1);
}

char *je_json_dumps_ordered(const json_t *v, size_t *len) {
    return dumps_mode(v, len, 0);
}

/* 1 when the integer digits d[0..n) (no sign, no leading zeros but "0") exceed what an int64
 * holds: 9223372036854775807, or 9223372036854775808 after a minus. */
static int int64_overflows(const char *d, size_t n, int neg) {
    if (n != 19) return n > 19;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* The length of the number token at s[0..n) (JSON grammar, loosely: what jansson's lexer
 * takes); *integer is 1 when it has no fraction and no exponent. */
static size_t number_token(const char *s, size_t n, int *integer) {
    size_t i = s[0] == '-';
    *integer = 1;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && (s[i - 1] | 32) == 'e'))
            *integer = 0;
        else if (c < '0' || c > '9')
            break;
    }
    return i;
}

/* text with ".0" after every integer token beyond int64 (outside strings), or NULL when it has
 * none. Strings are skipped with their escapes; nothing else needs to be understood, as the
 * result goes to json_loadb. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len) {
    je_buf b = JE_BUF_INIT;
    size_t done = 0, i = 0;
    int changed = 0;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
            i++;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            i++;
            continue;
        }
        int integer;
        size_t n = number_token(text + i, len - i, &integer), neg = c == '-';
        if (integer && n > neg && int64_overflows(text + i + neg, n - neg, (int)neg)) {
            je_buf_append(&b, text + done, i + n - done);
            je_buf_puts(&b, ".0");
            done = i + n;
            changed = 1;
        }
        i += n ? n : 1;
    }
    if (!changed) return je_buf_free(&b), NULL;
    je_buf_append(&b, text + done, len - done);
    *out_len = b.len;
    return b.data;
}

json_t *je_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error) {
    json_error_t own;
    json_error_t *e = error ? error : &own;
    json_t *v = json_loadb(text, len, flags, e);
    if (v || json_error_code(e) != json_error_numeric_overflow) return v;
    size_t wide_len = 0;
    char *wide = widen_big_integers(text, len, &wide_len);
    if (!wide) return NULL;
    v = json_loadb(wide, wide_len, flags, e);
    free(wide);
    return v;
}

/* http/form.c: form-urlencoded parsing (RFC 6749 appendix B) and HTTP Basic decoding. */
#include "http/form.h"

#include <string.h>
#include <strings.h>

#include "base/b64url.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int je_form_decode(const char *s, size_t n, je_arena *a, char **out, size_t *out_len) {
    char *d = je_arena_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[j++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    *out_len = j;
    return 0;
}

static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

static int form_add(je_form *f, const char *pair, size_t n, je_arena *a) {
    const char *eq = memchr(pair, '=', n);
    size_t name_n = eq ? (size_t)(eq - pair) : n;
    char *name, *value;
    size_t nl, vl;
    if (je_form_decode(pair, name_n, a, &name, &nl) != 0 || !name_ok(name, nl)) return -1;
    if (eq) {
        if (je_form_decode(eq + 1, n - name_n - 1, a, &value, &vl) != 0) return -1;
    } else {
        value = je_arena_strdup(a, "");
        vl = 0;
    }
    if (je_form_get(f, name) && !f->dup[0]) memcpy(f->dup, name, nl + 1);
    if (f->n >= JE_FORM_MAX_PARAMS) return -1;
    f->p[f->n++] = (je_form_param){name, value, vl};
    return 0;
}

int je_form_parse(const char *body, size_t len, je_arena *a, je_form *f) {
    memset(f, 0, sizeof *f);
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        if (end > i && form_add(f, body + i, end - i, a) != 0) return -1;
        i = end + 1;
    }
    return 0;
}

const je_form_param *je_form_get(const je_form *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->p[i].name, name) == 0) return &f->p[i];
    return NULL;
}

int je_basic_parse(const char *header, je_arena *a, char **id, size_t *id_len, char **secret,
                   size_t *secret_len) {
    if (strncasecmp(header, "Basic ", 6) != 0) return 0;
    const char *b = header + 6;
    while (*b == ' ') b++;
    size_t n = strlen(b);
    while (n && b[n - 1] == ' ') n--;
    if (n == 0 || n > 4096) return -1;
    unsigned char *raw = je_arena_alloc(a, n);
    size_t raw_len;
    if (je_b64_decode(b, n, raw, &raw_len) != 0) return -1;
    const char *colon = memchr(raw, ':', raw_len);
    if (!colon) return -1;
    size_t il = (size_t)(colon - (const char *)raw);
    if (je_form_decode((const char *)raw, il, a, id, id_len) != 0) return -1;
    return je_form_decode(colon + 1, raw_len - il - 1, a, secret, secret_len) == 0 ? 1 : -1;
}

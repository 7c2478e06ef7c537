/* core/text.c: UTF-8 validation, repair and counting, and the reason/ticket rules of api.md §2.2:
 * trim Unicode White_Space at both ends, then refuse blank, Cc control characters and text
 * longer than a number of code points. Pure: no allocation, no I/O. */
#include "core/text.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[i..len), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len, unsigned *cp) {
    unsigned c = s[i];
    size_t n;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    c &= 0x7Fu >> n; /* payload bits of the lead byte */
    if (len - i < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i + k] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

int je_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u, i, len, &cp);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

void je_utf8_scrub(char *s) {
    unsigned char *u = (unsigned char *)s;
    size_t len = strlen(s);
    unsigned cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u, i, len, &cp);
        if (n == 0) u[i++] = '?';
        i += n;
    }
}

size_t je_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    }
    return n;
}

static int is_white_space(unsigned cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static int is_control(unsigned cp) {
    return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F);
}

/* Trims White_Space off both ends of valid UTF-8 s[*b..*e). */
static void trim(const unsigned char *s, size_t *b, size_t *e) {
    unsigned cp;
    while (*b < *e) {
        size_t n = utf8_seq(s, *b, *e, &cp);
        if (!is_white_space(cp)) break;
        *b += n;
    }
    while (*e > *b) {
        size_t start = *e - 1;
        while (start > *b && (s[start] & 0xC0) == 0x80) start--;
        utf8_seq(s, start, *e, &cp);
        if (!is_white_space(cp)) break;
        *e = start;
    }
}

static int has_control(const unsigned char *s, size_t b, size_t e) {
    unsigned cp;
    for (size_t i = b; i < e;) {
        i += utf8_seq(s, i, e, &cp);
        if (is_control(cp)) return 1;
    }
    return 0;
}

je_text_status je_text_check(const char *s, size_t len, size_t max_chars, size_t *off,
                             size_t *out_len) {
    if (!s) return JE_TEXT_MISSING;
    if (!je_utf8_valid(s, len)) return JE_TEXT_BAD_UTF8;
    const unsigned char *u = (const unsigned char *)s;
    size_t b = 0, e = len;
    trim(u, &b, &e);
    if (b == e) return JE_TEXT_BLANK;
    if (has_control(u, b, e)) return JE_TEXT_CONTROL;
    if (je_utf8_count(s + b, e - b) > max_chars) return JE_TEXT_TOO_LONG;
    if (off) *off = b;
    if (out_len) *out_len = e - b;
    return JE_TEXT_OK;
}

const char *je_text_status_phrase(je_text_status st, size_t max_chars, char *buf, size_t cap) {
    const char *p = "is invalid";
    switch (st) {
    case JE_TEXT_OK:
        p = "is valid";
        break;
    case JE_TEXT_MISSING:
        p = "is required";
        break;
    case JE_TEXT_BAD_UTF8:
        p = "is not valid UTF-8";
        break;
    case JE_TEXT_BLANK:
        p = "is blank";
        break;
    case JE_TEXT_CONTROL:
        p = "contains a control character";
        break;
    case JE_TEXT_TOO_LONG:
        snprintf(buf, cap, "is longer than %zu characters", max_chars);
        return buf;
    }
    snprintf(buf, cap, "%s", p);
    return buf;
}

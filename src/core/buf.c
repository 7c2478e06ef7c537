/* core/buf.c: growable byte buffer. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void buf_reserve(je_buf *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) abort();
    b->data = p;
    b->cap = cap;
}

void je_buf_append(je_buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void je_buf_puts(je_buf *b, const char *s) {
    je_buf_append(b, s, strlen(s));
}

void je_buf_putc(je_buf *b, char c) {
    je_buf_append(b, &c, 1);
}

void je_buf_printf(je_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void je_buf_reset(je_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void je_buf_free(je_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* core/buf.h: a growable byte buffer, NUL-terminated at all times. The owner frees it. */
#ifndef JE_CORE_BUF_H
#define JE_CORE_BUF_H

#include <stddef.h>

typedef struct je_buf {
    char *data; /* NULL until the first append; always NUL-terminated after */
    size_t len;
    size_t cap;
} je_buf;

#define JE_BUF_INIT                                                                                \
    { NULL, 0, 0 }

void je_buf_append(je_buf *b, const void *p, size_t n); /* aborts on out-of-memory */
void je_buf_puts(je_buf *b, const char *s);
void je_buf_putc(je_buf *b, char c);
void je_buf_printf(je_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void je_buf_reset(je_buf *b); /* len = 0, keeps memory */
void je_buf_free(je_buf *b);

#endif

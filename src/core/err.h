/* core/err.h: errors as values. Every fallible function returns -1 (or a negative status) and
 * fills a je_err with a stable code (the wire code where one exists), a message for people, and
 * the offending field when there is one. */
#ifndef JE_CORE_ERR_H
#define JE_CORE_ERR_H

#include <stdarg.h>

typedef struct je_err {
    const char *code;  /* static string: "VALIDATION_FAILED", "NOT_FOUND", "STORE", ... */
    char message[512]; /* human-readable, never holds a secret */
    char field[64];    /* offending field or parameter, "" when none */
} je_err;

void je_err_clear(je_err *e);
/* Sets code and a printf-style message; returns -1 so callers can `return je_err_set(...)`. */
int je_err_set(je_err *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, naming the field. */
int je_err_field(je_err *e, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

/* core/err.c: filling je_err values. A message and a field are always valid UTF-8, whatever
 * was formatted into them (a client's bytes quoted by jansson, a name cut at a byte count):
 * replies and audit entries carry them as JSON strings. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"

void je_err_clear(je_err *e) {
    if (!e) return;
    e->code = NULL;
    e->message[0] = '\0';
    e->field[0] = '\0';
}

static void err_vset(je_err *e, const char *code, const char *field, const char *fmt, va_list ap) {
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    je_utf8_scrub(e->message);
    je_utf8_scrub(e->field);
}

int je_err_set(je_err *e, const char *code, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int je_err_field(je_err *e, const char *code, const char *field, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, field, fmt, ap);
    va_end(ap);
    return -1;
}

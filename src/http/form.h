/* http/form.h: application/x-www-form-urlencoded bodies and HTTP Basic credentials.
 * Values keep their length: a %00 decodes to a NUL byte inside the value, for the text rules to
 * refuse. */
#ifndef JE_HTTP_FORM_H
#define JE_HTTP_FORM_H

#include <stddef.h>
#include "base/arena.h"

#define JE_FORM_MAX_PARAMS 64

typedef struct je_form_param {
    char *name;
    char *value;
    size_t value_len;
} je_form_param;

typedef struct je_form {
    size_t n;
    je_form_param p[JE_FORM_MAX_PARAMS];
    char dup[64]; /* name of a parameter given twice, "" when none */
} je_form;

/* Parses body into f (strings in arena). Returns 0, or -1 when an escape is malformed, there are
 * too many parameters, or a name is not printable ASCII. */
int je_form_parse(const char *body, size_t len, je_arena *a, je_form *f);
/* The parameter's value, or NULL. */
const je_form_param *je_form_get(const je_form *f, const char *name);
/* Percent-decodes s[0..n) ('+' is a space) into the arena; -1 when malformed. */
int je_form_decode(const char *s, size_t n, je_arena *a, char **out, size_t *out_len);

/* "Basic <b64(urlenc(id):urlenc(secret))>": 1 parsed, 0 not a Basic header, -1 malformed. */
int je_basic_parse(const char *header, je_arena *a, char **id, size_t *id_len, char **secret,
                   size_t *secret_len);

#endif

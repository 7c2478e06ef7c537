/* core/text.h: the justification text rules (api.md §2.2, §3.2) and UTF-8 helpers.
 * A reason or ticket is trimmed of Unicode White_Space at both ends; then it must be valid UTF-8,
 * non-blank, hold no control character (general category Cc) and be at most max code points. */
#ifndef JE_CORE_TEXT_H
#define JE_CORE_TEXT_H

#include <stddef.h>

typedef enum je_text_status {
    JE_TEXT_OK = 0,
    JE_TEXT_MISSING,  /* s == NULL */
    JE_TEXT_BAD_UTF8, /* not valid UTF-8 (overlongs, surrogates, > U+10FFFF, truncated) */
    JE_TEXT_BLANK,    /* empty after trimming */
    JE_TEXT_CONTROL,  /* a Cc code point remains after trimming (NUL included) */
    JE_TEXT_TOO_LONG, /* more than max code points after trimming */
} je_text_status;

/* Checks s[0..len) (may hold NUL bytes). On JE_TEXT_OK, *off and *out_len give the trimmed
 * slice of s. Checked in the order of the enum. */
je_text_status je_text_check(const char *s, size_t len, size_t max_chars, size_t *off,
                             size_t *out_len);

/* Phrase for a message after the parameter's name: "is required", "is not valid UTF-8",
 * "is blank", "contains a control character", "is longer than N characters" (N = max). Writes
 * into buf (>= 64 bytes) and returns it. */
const char *je_text_status_phrase(je_text_status st, size_t max_chars, char *buf, size_t cap);

/* 1 when s[0..len) is valid UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
int je_utf8_valid(const char *s, size_t len);
/* Makes NUL-terminated s valid UTF-8 in place: every byte that is not part of a valid sequence
 * becomes '?' (a client's bytes quoted in a message, a name cut inside a character). */
void je_utf8_scrub(char *s);
/* Number of code points of valid UTF-8 s[0..len). */
size_t je_utf8_count(const char *s, size_t len);

#endif

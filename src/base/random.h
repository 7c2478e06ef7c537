/* base/random.h: the OS's secure random source and the identifiers made from it (UUIDv7).
 * Every floor above core/ takes its randomness from here; core/ takes ids as arguments. */
#ifndef JE_BASE_RANDOM_H
#define JE_BASE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n bytes from the OS's secure random source (OpenSSL RAND_bytes); 0 or -1. */
int je_random_bytes(void *buf, size_t n);
/* A UUIDv7 string (36 chars + NUL) for time now_ms. Aborts when no randomness can be had: a
 * predictable id would make token ids guessable. */
void je_uuid7(int64_t now_ms, char out[37]);

#endif

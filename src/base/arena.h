/* base/arena.h: per-request memory, freed all at once when the request ends (as nginx's pools).
 * Handlers allocate from the request's arena and never free one by one. */
#ifndef JE_BASE_ARENA_H
#define JE_BASE_ARENA_H

#include <stddef.h>

typedef struct je_arena je_arena;

je_arena *je_arena_new(void);
void je_arena_free(je_arena *a);
void *je_arena_alloc(je_arena *a, size_t n); /* zeroed, 16-byte aligned; aborts on OOM */
char *je_arena_strndup(je_arena *a, const char *s, size_t n);
char *je_arena_strdup(je_arena *a, const char *s);
char *je_arena_printf(je_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(ptr) when the arena is freed (as nginx's pool cleanups), latest first: what a request
 * holds outside the arena (a JSON tree, a malloc'd string) goes with it. Returns ptr. */
void *je_arena_defer(je_arena *a, void (*fn)(void *), void *ptr);

#endif

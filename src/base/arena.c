/* base/arena.c: bump allocator over a list of chunks, with cleanups run when it is freed. */
#include "base/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 8192

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} chunk;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *ptr;
} cleanup;

struct je_arena {
    chunk *head;
    cleanup *cleanups;
};

je_arena *je_arena_new(void) {
    je_arena *a = calloc(1, sizeof *a);
    if (!a) abort();
    return a;
}

void je_arena_free(je_arena *a) {
    if (!a) return;
    for (cleanup *k = a->cleanups; k; k = k->next) k->fn(k->ptr); /* they live in the chunks */
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *je_arena_alloc(je_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) abort();
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *je_arena_strndup(je_arena *a, const char *s, size_t n) {
    char *p = je_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *je_arena_strdup(je_arena *a, const char *s) {
    return je_arena_strndup(a, s, strlen(s));
}

char *je_arena_printf(je_arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = je_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void *je_arena_defer(je_arena *a, void (*fn)(void *), void *ptr) {
    if (!ptr) return NULL;
    cleanup *k = je_arena_alloc(a, sizeof *k);
    k->fn = fn;
    k->ptr = ptr;
    k->next = a->cleanups;
    a->cleanups = k;
    return ptr;
}

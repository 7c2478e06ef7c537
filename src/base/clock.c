/* base/clock.c: see clock.h. */
#include "base/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_llong offset;
static atomic_llong skew = INT64_MIN; /* INT64_MIN: not read yet */

#define SKEW_LIMIT_MS (24LL * 3600 * 1000)

/* JOBENGINE_CLOCK_SKEW_MS, read once: a signed integer within a day, else 0. */
static int64_t injected_skew(void) {
    long long v = atomic_load(&skew);
    if (v != INT64_MIN) return v;
    const char *s = getenv("JOBENGINE_CLOCK_SKEW_MS");
    long long n = 0;
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno || *end || n < -SKEW_LIMIT_MS || n > SKEW_LIMIT_MS) n = 0;
    }
    atomic_store(&skew, n);
    return n;
}

int64_t je_system_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + injected_skew();
}

int64_t je_now_ms(void) {
    return je_system_ms() + atomic_load(&offset);
}

void je_clock_set_offset_ms(int64_t offset_ms) {
    atomic_store(&offset, offset_ms);
}

int64_t je_clock_offset_ms(void) {
    return atomic_load(&offset);
}

int64_t je_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

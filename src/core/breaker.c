/* core/breaker.c: see breaker.h. The window is JE_BREAKER_BUCKETS buckets aligned to multiples of
 * their width since the epoch, so two nodes holding the same outcomes agree on the window. State
 * transitions happen only while the breaker follows its outcomes (AUTO); a forced breaker keeps
 * counting so the operator's view stays truthful. */
#include "core/breaker.h"

#include <string.h>

const char *je_breaker_state_name(je_breaker_state s) {
    switch (s) {
    case JE_BREAKER_CLOSED:
        return "closed";
    case JE_BREAKER_OPEN:
        return "open";
    case JE_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "?";
}

const char *je_breaker_force_name(je_breaker_force f) {
    switch (f) {
    case JE_BREAKER_AUTO:
        return "auto";
    case JE_BREAKER_FORCED_OPEN:
        return "forced-open";
    case JE_BREAKER_FORCED_CLOSED:
        return "forced-closed";
    }
    return "?";
}

je_breaker_settings je_breaker_defaults(void) {
    je_breaker_settings s = {0.5, 20, 60000, 30000, 3};
    return s;
}

/* Whole seconds within [lo_ms, hi_ms]: the API speaks seconds. */
static int check_seconds(const char *field, int64_t ms, int64_t lo_ms, int64_t hi_ms, je_err *err) {
    if (ms < lo_ms || ms > hi_ms || ms % 1000 != 0) {
        return je_err_field(err, "VALIDATION_FAILED", field,
                            "%s must be a whole number of seconds from %lld to %lld", field,
                            (long long)(lo_ms / 1000), (long long)(hi_ms / 1000));
    }
    return 0;
}

static int check_count(const char *field, int64_t v, int64_t lo, int64_t hi, je_err *err) {
    if (v < lo || v > hi) {
        return je_err_field(err, "VALIDATION_FAILED", field, "%s must be from %lld to %lld", field,
                            (long long)lo, (long long)hi);
    }
    return 0;
}

int je_breaker_settings_validate(const je_breaker_settings *s, je_err *err) {
    /* written so that NaN fails too */
    if (!(s->failure_rate > 0.0 && s->failure_rate <= 1.0)) {
        return je_err_field(err, "VALIDATION_FAILED", "failureRate",
                            "failureRate must be above 0 and at most 1");
    }
    if (check_count("minSamples", s->min_samples, 1, 1000000, err) < 0) return -1;
    if (check_seconds("windowSeconds", s->window_ms, 10000, 86400000, err) < 0) return -1;
    if (check_seconds("openSeconds", s->open_ms, 1000, 86400000, err) < 0) return -1;
    if (check_count("probes", s->probes, 1, 100, err) < 0) return -1;
    return 0;
}

static int64_t bucket_width(const je_breaker *b) {
    int64_t w = b->s.window_ms / JE_BREAKER_BUCKETS;
    return w > 0 ? w : 1; /* unvalidated settings must not divide by zero */
}

/* The start of the bucket holding t: floor, also before the epoch. */
static int64_t bucket_start(int64_t t, int64_t width) {
    int64_t r = t % width;
    return r < 0 ? t - r - width : t - r;
}

static void clear_window(je_breaker *b) {
    memset(b->ok, 0, sizeof b->ok);
    memset(b->failed, 0, sizeof b->failed);
}

void je_breaker_init(je_breaker *b, const je_breaker_settings *s, int64_t now_ms) {
    memset(b, 0, sizeof *b);
    b->s = *s;
    b->state = JE_BREAKER_CLOSED;
    b->force = JE_BREAKER_AUTO;
    b->opened_ms = INT64_MIN;
    b->bucket_ms = bucket_start(now_ms, bucket_width(b));
}

static void slide(je_breaker *b, int64_t now_ms) {
    int64_t width = bucket_width(b);
    int64_t start = bucket_start(now_ms, width);
    /* a clock that went back (another node's, a late record) counts into the newest bucket */
    if (start <= b->bucket_ms) return;
    int64_t n = (start - b->bucket_ms) / width;
    if (n >= JE_BREAKER_BUCKETS) {
        clear_window(b);
    } else {
        for (int i = JE_BREAKER_BUCKETS - 1; i >= (int)n; i--) {
            b->ok[i] = b->ok[i - n];
            b->failed[i] = b->failed[i - n];
        }
        for (int i = 0; i < (int)n; i++) b->ok[i] = b->failed[i] = 0;
    }
    b->bucket_ms = start;
}

static void open_at(je_breaker *b, int64_t now_ms) {
    b->state = JE_BREAKER_OPEN;
    b->opened_ms = now_ms;
    b->probes_admitted = 0;
    b->probes_ok = 0;
}

static void close_empty(je_breaker *b) {
    b->state = JE_BREAKER_CLOSED;
    b->probes_admitted = 0;
    b->probes_ok = 0;
    clear_window(b);
}

void je_breaker_advance(je_breaker *b, int64_t now_ms) {
    slide(b, now_ms);
    if (b->force == JE_BREAKER_AUTO && b->state == JE_BREAKER_OPEN &&
        now_ms >= b->opened_ms + b->s.open_ms) {
        b->state = JE_BREAKER_HALF_OPEN;
        b->probes_admitted = 0;
        b->probes_ok = 0;
    }
}

int je_breaker_admit(je_breaker *b, int64_t now_ms, int64_t *retry_at_ms) {
    int64_t retry = INT64_MIN;
    int yes = 0;
    je_breaker_advance(b, now_ms);
    if (b->force == JE_BREAKER_FORCED_CLOSED) {
        yes = 1;
    } else if (b->force == JE_BREAKER_FORCED_OPEN) {
        yes = 0; /* until an operator releases it: unknown */
    } else if (b->state == JE_BREAKER_CLOSED) {
        yes = 1;
    } else if (b->state == JE_BREAKER_OPEN) {
        retry = b->opened_ms + b->s.open_ms;
    } else if (b->probes_admitted < b->s.probes) {
        b->probes_admitted++;
        yes = 1;
    }
    if (retry_at_ms) *retry_at_ms = retry;
    return yes;
}

void je_breaker_unadmit(je_breaker *b) {
    if (b->force == JE_BREAKER_AUTO && b->state == JE_BREAKER_HALF_OPEN && b->probes_admitted > 0)
        b->probes_admitted--;
}

static void check_threshold(je_breaker *b, int64_t now_ms) {
    int64_t ok, failed;
    je_breaker_window(b, &ok, &failed);
    int64_t total = ok + failed;
    /* a quotient, not failed >= rate * total: 55 of 100 at 0.55 must open, and 0.55 * 100
     * rounds up past 55 while 55.0 / 100 rounds to the same double as 0.55 */
    if (total >= b->s.min_samples && total > 0 &&
        (double)failed / (double)total >= b->s.failure_rate)
        open_at(b, now_ms);
}

void je_breaker_record(je_breaker *b, int success, int64_t now_ms) {
    je_breaker_advance(b, now_ms);
    if (success)
        b->ok[0]++;
    else
        b->failed[0]++;
    if (b->force != JE_BREAKER_AUTO) return;
    switch (b->state) {
    case JE_BREAKER_CLOSED:
        check_threshold(b, now_ms);
        break;
    case JE_BREAKER_OPEN:
        break; /* a job leased before it opened: only the window sees it */
    case JE_BREAKER_HALF_OPEN:
        /* any outcome counts, also one of a job leased before the breaker opened: it ran
         * against the same downstream, so it is as good a probe as one admitted now */
        if (!success) {
            open_at(b, now_ms);
        } else if (++b->probes_ok >= b->s.probes) {
            close_empty(b);
        }
        break;
    }
}

void je_breaker_set_force(je_breaker *b, je_breaker_force f, int64_t now_ms) {
    je_breaker_advance(b, now_ms);
    b->force = f;
    if (f == JE_BREAKER_AUTO) close_empty(b);
}

je_breaker_state je_breaker_effective(const je_breaker *b) {
    if (b->force == JE_BREAKER_FORCED_OPEN) return JE_BREAKER_OPEN;
    if (b->force == JE_BREAKER_FORCED_CLOSED) return JE_BREAKER_CLOSED;
    return b->state;
}

void je_breaker_window(const je_breaker *b, int64_t *ok, int64_t *failed) {
    int64_t o = 0, f = 0;
    for (int i = 0; i < JE_BREAKER_BUCKETS; i++) {
        o += b->ok[i];
        f += b->failed[i];
    }
    *ok = o;
    *failed = f;
}

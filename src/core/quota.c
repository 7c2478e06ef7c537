/* core/quota.c: the quota rules of domain.md §2 and api.md §3.3 — token-bucket refill, UTC hour
 * windows (grants and denials), grant/deny decisions with nextEligibleAt, release, limit changes,
 * policy ceilings, decrease safety, temporary elevation, and the exponent-free shortest decimal
 * form of numbers (domain.md §6). Pure: time comes in as UTC ms; no I/O, no clock, no globals. */
#include "core/quota.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens within this of 1 count as 1, so that refills which are exact on paper but accumulate
 * floating-point error (0.1 added ten times) are not lost. */
#define TOKEN_EPSILON 1e-9
/* When the concurrency cap holds and nothing is known to expire, only a release frees a slot;
 * nextEligibleAt is then this polling hint after now. Also used when the bucket can never
 * reach one token (refill <= 0 or burst < 1, refused by validation). */
#define POLL_HINT_MS 1000

static int64_t add_sat(int64_t a, int64_t b) {
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

int64_t je_hour_floor(int64_t t_ms) {
    int64_t r = t_ms % JE_HOUR_MS;
    if (r >= 0) return t_ms - r;
    /* Below the first whole hour representable: saturate rather than overflow. */
    if (t_ms < INT64_MIN + (JE_HOUR_MS + r)) return INT64_MIN;
    return t_ms - r - JE_HOUR_MS;
}

void je_quota_init(je_quota *q, const je_quota_limits *limits, int64_t now_ms) {
    memset(q, 0, sizeof *q);
    q->limits = *limits;
    q->previous = *limits;
    q->paused = 0;
    q->elevation_expires_ms = JE_NO_TIME;
    q->state.tokens = (double)limits->burst_capacity;
    q->state.last_refill_ms = now_ms;
    q->state.hour_start_ms = je_hour_floor(now_ms);
    q->state.throttled_hour_ms = je_hour_floor(now_ms);
}

/* The bucket after dt_ms of refill: min(burst, tokens + dt/1000 * refill). decide() and the
 * nextEligibleAt computation both use this, so they agree to the bit. */
static double refilled(const je_quota *q, double tokens, uint64_t dt_ms) {
    double t = tokens + (double)dt_ms / 1000.0 * q->limits.refill_per_second;
    double burst = (double)q->limits.burst_capacity;
    return t < burst ? t : burst;
}

void je_quota_advance(je_quota *q, int64_t now_ms) {
    je_quota_state *s = &q->state;
    if (now_ms >= s->last_refill_ms) {
        /* now >= last, so the unsigned difference is exact even across the int64 range. */
        uint64_t dt = (uint64_t)now_ms - (uint64_t)s->last_refill_ms;
        if (dt > 0) s->tokens = refilled(q, s->tokens, dt);
        s->last_refill_ms = now_ms;
    }
    int64_t hour = je_hour_floor(now_ms);
    if (hour > s->hour_start_ms) {
        s->hour_count = 0;
        s->hour_start_ms = hour;
    }
    if (hour > s->throttled_hour_ms) {
        s->throttled = 0;
        s->throttled_hour_ms = hour;
    }
}

static int64_t later(int64_t a, int64_t b) {
    return a > b ? a : b;
}

static int has_token(double tokens) {
    return tokens >= 1.0 - TOKEN_EPSILON;
}

/* The first ms at which the bucket holds a token. Refill runs from last_refill, which is now
 * after advance() unless the clock went backwards (then refill resumes only once the clock is
 * back at last_refill). */
static int64_t token_time(const je_quota *q, int64_t now_ms) {
    int64_t base = later(now_ms, q->state.last_refill_ms);
    double refill = q->limits.refill_per_second;
    double tokens = q->state.tokens;
    if (!(refill > 0) || q->limits.burst_capacity < 1) return add_sat(base, POLL_HINT_MS);
    double wait = ceil((1.0 - tokens) / refill * 1000.0);
    if (!(wait < 9.0e18)) return INT64_MAX;
    uint64_t w = wait > 1 ? (uint64_t)wait : 1;
    /* Rounding in the division may put the ceiling one ms early or late; settle it with the
     * very expression a decision uses. */
    if (w > 1 && has_token(refilled(q, tokens, w - 1))) w--;
    if (!has_token(refilled(q, tokens, w))) w++;
    return add_sat(base, (int64_t)w);
}

/* nextEligibleAt of a non-paused denial: the latest of the causes that apply. */
static int64_t next_eligible(const je_quota *q, int64_t now_ms, int64_t earliest_expiry_ms) {
    const je_quota_state *s = &q->state;
    int64_t next = JE_NO_TIME;
    if (!has_token(s->tokens)) next = later(next, token_time(q, now_ms));
    if (s->hour_count >= q->limits.max_per_hour) {
        next = later(next, add_sat(s->hour_start_ms, JE_HOUR_MS));
    }
    if (s->active >= q->limits.max_active) {
        /* Unknown expiry: only a release frees the slot, so give a polling hint. An expiry
         * already past means the slot frees as soon as it is swept: now. */
        int64_t at = earliest_expiry_ms == JE_NO_TIME ? add_sat(now_ms, POLL_HINT_MS)
                                                      : later(earliest_expiry_ms, now_ms);
        next = later(next, at);
    }
    return next;
}

static int64_t free_slots(const je_quota *q) {
    int64_t r = q->limits.max_active - q->state.active;
    return r > 0 ? r : 0;
}

je_decision je_quota_decide(je_quota *q, int64_t now_ms, int64_t earliest_expiry_ms) {
    je_quota_advance(q, now_ms);
    je_quota_state *s = &q->state;
    je_decision d = {JE_DECISION_GRANT, JE_NO_TIME, 0};
    if (q->paused) {
        s->throttled++;
        d.kind = JE_DECISION_PAUSED;
        d.remaining = free_slots(q);
        return d;
    }
    if (s->active < q->limits.max_active && s->hour_count < q->limits.max_per_hour &&
        has_token(s->tokens)) {
        /* Within epsilon of 1 counts as 1; never leave a tiny negative balance. */
        s->tokens = s->tokens - 1.0 > 0 ? s->tokens - 1.0 : 0;
        s->active++;
        s->hour_count++;
        d.remaining = free_slots(q);
        return d;
    }
    s->throttled++;
    d.kind = JE_DECISION_EXHAUSTED;
    d.next_eligible_ms = next_eligible(q, now_ms, earliest_expiry_ms);
    d.remaining = free_slots(q);
    return d;
}

void je_quota_release(je_quota *q, int64_t n) {
    if (n <= 0) return;
    q->state.active = q->state.active > n ? q->state.active - n : 0;
}

void je_quota_set_limits(je_quota *q, const je_quota_limits *limits) {
    q->limits = *limits;
    double burst = (double)limits->burst_capacity;
    if (q->state.tokens > burst) q->state.tokens = burst;
}

static int int_violation(const char *field, int64_t value, int64_t ceiling, double *requested,
                         double *ceiling_value, je_err *err) {
    if (requested) *requested = (double)value;
    if (ceiling_value) *ceiling_value = (double)ceiling;
    return je_err_field(err, "QUOTA_POLICY_VIOLATION", field,
                        "%s %lld exceeds the policy ceiling %lld", field, (long long)value,
                        (long long)ceiling);
}

int je_quota_check_ceiling(const je_quota_limits *l, const je_quota_limits *ceiling,
                           double *requested, double *ceiling_value, je_err *err) {
    if (l->max_active > ceiling->max_active) {
        return int_violation("maxActive", l->max_active, ceiling->max_active, requested,
                             ceiling_value, err);
    }
    if (l->max_per_hour > ceiling->max_per_hour) {
        return int_violation("maxPerHour", l->max_per_hour, ceiling->max_per_hour, requested,
                             ceiling_value, err);
    }
    if (l->burst_capacity > ceiling->burst_capacity) {
        return int_violation("burstCapacity", l->burst_capacity, ceiling->burst_capacity, requested,
                             ceiling_value, err);
    }
    if (l->refill_per_second > ceiling->refill_per_second) {
        char a[400], b[400];
        if (requested) *requested = l->refill_per_second;
        if (ceiling_value) *ceiling_value = ceiling->refill_per_second;
        return je_err_field(err, "QUOTA_POLICY_VIOLATION", "refillPerSecond",
                            "refillPerSecond %.100s exceeds the policy ceiling %.100s",
                            je_num_decimal(l->refill_per_second, a, sizeof a),
                            je_num_decimal(ceiling->refill_per_second, b, sizeof b));
    }
    return 0;
}

int je_quota_check_decrease(const je_quota *q, const je_quota_limits *l, int allow, je_err *err) {
    /* only lowering maxActive is refused: a quota already above its cap (after an allowed
     * decrease) may still have its other limits changed */
    if (allow || l->max_active >= q->state.active || l->max_active >= q->limits.max_active)
        return 0;
    return je_err_field(err, "QUOTA_DECREASE_BELOW_USAGE", "maxActive",
                        "maxActive %lld is below the current active count %lld",
                        (long long)l->max_active, (long long)q->state.active);
}

void je_quota_elevate(je_quota *q, const je_quota_limits *l, int64_t expires_ms) {
    if (q->elevation_expires_ms == JE_NO_TIME) q->previous = q->limits;
    je_quota_set_limits(q, l);
    q->elevation_expires_ms = expires_ms;
}

void je_quota_adjust(je_quota *q, const je_quota_limits *l) {
    q->elevation_expires_ms = JE_NO_TIME;
    je_quota_set_limits(q, l);
    q->previous = *l;
}

int je_quota_elevation_expire(je_quota *q, int64_t now_ms) {
    if (q->elevation_expires_ms == JE_NO_TIME || now_ms < q->elevation_expires_ms) return 0;
    je_quota_limits prev = q->previous;
    je_quota_set_limits(q, &prev);
    q->elevation_expires_ms = JE_NO_TIME;
    return 1;
}

/* The shortest significant digits of v > 0 that strtod reads back as v, with trailing zeros
 * removed: v = 0.DIGITS * 10^point. Returns the digit count. */
static int shortest_digits(double v, char digits[18], int *point) {
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v || p == 17) break;
    }
    int n = 0;
    const char *c = tmp;
    for (; *c && *c != 'e' && *c != 'E'; c++) {
        if (*c >= '0' && *c <= '9' && n < 17) digits[n++] = *c;
    }
    int exp10 = *c ? (int)strtol(c + 1, NULL, 10) : 0;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = '\0';
    *point = exp10 + 1;
    return n;
}

/* Non-finite values have no decimal form; callers never pass them, and they come out as "0"
 * (as does -0). A cap below the needed length truncates (buf stays NUL-terminated). */
const char *je_num_decimal(double v, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    if (!isfinite(v) || v == 0) {
        snprintf(buf, cap, "0");
        return buf;
    }
    char out[400], digits[18];
    int point = 0;
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    int n = shortest_digits(fabs(v), digits, &point);
    if (point <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -point; i++) out[o++] = '0';
        for (int i = 0; i < n; i++) out[o++] = digits[i];
    } else {
        for (int i = 0; i < n || i < point; i++) {
            if (i == point) out[o++] = '.';
            out[o++] = i < n ? digits[i] : '0';
        }
    }
    out[o] = '\0';
    snprintf(buf, cap, "%s", out);
    return buf;
}

int je_quota_record_elevation_expire(je_quota_record *r, int64_t now_ms) {
    if (!je_quota_elevation_expire(&r->q, now_ms)) return 0;
    r->version++;
    r->updated_ms = now_ms;
    snprintf(r->updated_by, sizeof r->updated_by, "jobengine");
    return 1;
}

void je_quota_record_stamp(je_quota_record *r, const char *actor, const char *reason,
                           const char *ticket, int64_t now_ms) {
    r->version++;
    r->updated_ms = now_ms;
    snprintf(r->updated_by, sizeof r->updated_by, "%s", actor ? actor : "");
    snprintf(r->last_reason, sizeof r->last_reason, "%s", reason ? reason : "");
    snprintf(r->last_ticket, sizeof r->last_ticket, "%s", ticket ? ticket : "");
}

int je_permit_live(int64_t expires_ms, int64_t now_ms) {
    return expires_ms > now_ms;
}

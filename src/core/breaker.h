/* core/breaker.h: circuit breakers per job type, optionally per tenant (issue 15). Closed, a
 * breaker counts the outcomes of completed jobs over a sliding window (JE_BREAKER_BUCKETS
 * buckets of window_ms / JE_BREAKER_BUCKETS each); it opens when the window holds at least
 * min_samples outcomes and the failed share reaches failure_rate. Open, it admits nothing until
 * open_ms have passed; then half-open, it admits at most `probes` jobs: when that many succeed it
 * closes (the window starts empty), when one fails it opens again. An operator may force it open
 * or closed (it stays so until released); a forced breaker still counts outcomes. Pure: time
 * comes in as UTC ms. */
#ifndef JE_CORE_BREAKER_H
#define JE_CORE_BREAKER_H

#include <stdint.h>
#include "core/err.h"
#include "core/limits.h"

#define JE_BREAKER_BUCKETS 10

typedef enum je_breaker_state {
    JE_BREAKER_CLOSED = 0,
    JE_BREAKER_OPEN,
    JE_BREAKER_HALF_OPEN,
} je_breaker_state;

typedef enum je_breaker_force {
    JE_BREAKER_AUTO = 0,     /* follows its outcomes */
    JE_BREAKER_FORCED_OPEN,  /* an operator opened it */
    JE_BREAKER_FORCED_CLOSED /* an operator closed it */
} je_breaker_force;

typedef struct je_breaker_settings {
    double failure_rate; /* 0 < r <= 1 (default 0.5) */
    int64_t min_samples; /* 1..1e6 (default 20) */
    int64_t window_ms;   /* 10 s .. 1 day (default 60 s) */
    int64_t open_ms;     /* 1 s .. 1 day (default 30 s) */
    int64_t probes;      /* 1..100 (default 3) */
} je_breaker_settings;

typedef struct je_breaker {
    je_breaker_settings s;
    je_breaker_state state;
    je_breaker_force force;
    int64_t opened_ms; /* when it last opened (JE_NO_TIME-like INT64_MIN when never) */
    int64_t bucket_ms; /* start of the newest bucket */
    /* outcomes per bucket, [0] the newest */
    int64_t ok[JE_BREAKER_BUCKETS], failed[JE_BREAKER_BUCKETS];
    int64_t probes_admitted; /* half-open: probes let through */
    int64_t probes_ok;       /* half-open: probes that succeeded */
} je_breaker;

/* "closed", "open", "half-open"; "auto", "forced-open", "forced-closed". */
const char *je_breaker_state_name(je_breaker_state s);
const char *je_breaker_force_name(je_breaker_force f);

/* The defaults above. */
je_breaker_settings je_breaker_defaults(void);
/* 0, or -1 with VALIDATION_FAILED naming the field (failureRate, minSamples, windowSeconds,
 * openSeconds, probes). */
int je_breaker_settings_validate(const je_breaker_settings *s, je_err *err);

/* A new closed breaker with settings s at now. */
void je_breaker_init(je_breaker *b, const je_breaker_settings *s, int64_t now_ms);

/* Moves the breaker to now: old buckets slide out; open turns half-open after open_ms. */
void je_breaker_advance(je_breaker *b, int64_t now_ms);

/* May one job be leased (or a permit acquired) now? 1 yes (a half-open breaker counts it as a
 * probe), 0 no, with *retry_at_ms when it may next admit (open: opened + open_ms; half-open with
 * its probes out: INT64_MIN, unknown until they end). Advances first. */
int je_breaker_admit(je_breaker *b, int64_t now_ms, int64_t *retry_at_ms);
/* Gives back a probe admitted but not used (the job went away), in the same decision as the
 * admit that answered 1; a no-op unless the breaker is half-open in AUTO with probes out. */
void je_breaker_unadmit(je_breaker *b);

/* A job of the breaker's job type completed (success 1) or failed (0) at now. Advances first;
 * may open (closed: the window passes the threshold; half-open: a probe failed) or close
 * (half-open: every probe succeeded). Every outcome goes into the window, whatever the state or
 * force; transitions happen only in AUTO. Half-open, any outcome counts as a probe's, also one
 * of a job leased before the breaker opened. */
void je_breaker_record(je_breaker *b, int success, int64_t now_ms);

/* An operator forces it open or closed, or releases it to follow its outcomes (AUTO: it
 * resumes closed with an empty window, also when it was AUTO already: a reset). */
void je_breaker_set_force(je_breaker *b, je_breaker_force f, int64_t now_ms);

/* The state a client sees: forced states win. */
je_breaker_state je_breaker_effective(const je_breaker *b);

/* Outcomes in the window as of the last advance (advance to now first): ok and failed totals. */
void je_breaker_window(const je_breaker *b, int64_t *ok, int64_t *failed);

#endif

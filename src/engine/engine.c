/* engine/engine.c: the sweep thread (see engine.h). */
#include "engine/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/checkpoint.h"
#include "base/clock.h"
#include "core/audit.h"
#include "http/log.h"

#define PRUNE_EVERY_MS (10LL * 60 * 1000)
#define CLOCK_SYNC_EVERY_NS (10LL * 1000 * 1000 * 1000)
#define CLOCK_SAMPLES 3
#define IDEM_KEEP_MS (24LL * 3600 * 1000)

static void log_sweep(const je_engine *e, const char *what, int64_t n, const je_err *err) {
    if (e->cfg.observe) e->cfg.observe(what, n);
    if (n < 0)
        je_log("error", "engine sweep failed",
               json_pack("{s:s, s:s}", "sweep", what, "error", err->message));
    else if (n > 0)
        je_log("info", "engine sweep",
               json_pack("{s:s, s:I}", "sweep", what, "count", (json_int_t)n));
}

typedef struct due_ctx {
    je_engine *e;
    je_store *store;
    int64_t now, made;
} due_ctx;

static int checkpoint_one(void *ctx, const char *tenant, int64_t head, const char *hash) {
    due_ctx *d = ctx;
    je_engine *e = d->e;
    je_checkpoint_record c;
    je_key key;
    je_err err;
    je_err_clear(&err);
    if (je_store_current_key(d->store, &key, &err) != 0 ||
        je_checkpoint_sign(&key, tenant, 1, JE_AUDIT_ZERO_HASH, head, hash, d->now, &c, &err) ||
        d->store->ops->checkpoint_put(d->store, &c, &err) != 0) {
        log_sweep(e, "checkpoints", -1, &err);
        return 1;
    }
    d->made++;
    return 0;
}

/* Signed checkpoints of every chain that grew enough (or long enough ago). */
static int64_t checkpoints(je_engine *e, int64_t now_ms) {
    if (e->cfg.checkpoint_every_n <= 0) return 0;
    due_ctx d = {e, e->store, now_ms, 0};
    je_err err;
    je_err_clear(&err);
    if (e->store->ops->checkpoints_due(e->store, e->cfg.checkpoint_every_n,
                                       e->cfg.checkpoint_every_ms, now_ms, checkpoint_one, &d,
                                       &err) != 0)
        return -1;
    return d.made;
}

int je_clock_sync(je_store *s, int64_t *rtt_ns, je_err *err) {
    if (!s->ops->db_clock) return 0;
    int64_t best_rtt = INT64_MAX, best = 0;
    for (int i = 0; i < CLOCK_SAMPLES; i++) {
        int64_t m0 = je_mono_ns(), t0 = je_system_ms(), db = 0;
        if (s->ops->db_clock(s, &db, err) != 0) return -1;
        int64_t rtt = je_mono_ns() - m0;
        if (rtt < best_rtt) {
            best_rtt = rtt;
            best = db - (t0 + rtt / 2000000);
        }
    }
    je_clock_set_offset_ms(best);
    if (rtt_ns) *rtt_ns = best_rtt;
    return 1;
}

/* The engine's part: again every 10 s, logged when the offset moved. */
static void clock_sync(je_engine *e) {
    if (!e->store->ops->db_clock) return;
    if (e->clock_synced && je_mono_ns() - e->clock_sync_ns < CLOCK_SYNC_EVERY_NS) return;
    je_err err;
    je_err_clear(&err);
    int64_t was = je_clock_offset_ms(), rtt = 0;
    if (je_clock_sync(e->store, &rtt, &err) < 0) {
        log_sweep(e, "clock", -1, &err);
        return;
    }
    int64_t now = je_clock_offset_ms();
    e->clock_sync_ns = je_mono_ns();
    if (!e->clock_synced || llabs(now - was) >= 50)
        je_log("info", "clock in step with the database",
               json_pack("{s:I, s:I}", "offsetMs", (json_int_t)now, "roundTripUs",
                         (json_int_t)(rtt / 1000)));
    e->clock_synced = 1;
}

int je_engine_run_once(je_engine *e, int64_t now_ms) {
    je_err err;
    je_err_clear(&err);
    je_store *s = e->store;
    int64_t n = s->ops->permits_expire(s, now_ms, &err);
    log_sweep(e, "permits", n, &err);
    int64_t l = s->ops->leases_expire(s, now_ms, &err);
    log_sweep(e, "leases", l, &err);
    int64_t m = s->ops->elevations_expire(s, now_ms, &err);
    log_sweep(e, "elevations", m, &err);
    int64_t b =
        s->ops->backfills_advance(s, now_ms, e->cfg.backfill_in_flight, e->cfg.max_attempts, &err);
    log_sweep(e, "backfill batches", b, &err);
    int64_t c = checkpoints(e, now_ms);
    if (c > 0) log_sweep(e, "checkpoints", c, &err);
    if (now_ms - e->last_prune_ms >= PRUNE_EVERY_MS) {
        int64_t k = s->ops->idem_prune(s, now_ms - IDEM_KEEP_MS, &err);
        log_sweep(e, "idempotency", k, &err);
        k = s->ops->ledger_prune(s, now_ms - e->cfg.ledger_retention_ms, &err);
        log_sweep(e, "ledger", k, &err);
        e->last_prune_ms = now_ms;
    }
    return n < 0 || m < 0 || l < 0 || b < 0 ? -1 : 0;
}

static void *engine_main(void *arg) {
    je_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        pthread_mutex_unlock(&e->mu);
        clock_sync(e);
        je_engine_run_once(e, je_now_ms());
        pthread_mutex_lock(&e->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (e->cfg.tick_ms % 1000) * 1000000;
        until.tv_sec += e->cfg.tick_ms / 1000 + ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!e->stopping && pthread_cond_timedwait(&e->cv, &e->mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int je_engine_start(je_engine *e, je_store *store, const je_engine_config *cfg) {
    memset(e, 0, sizeof *e);
    e->store = store;
    e->cfg = *cfg;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    clock_sync(e);
    je_engine_run_once(e, je_now_ms()); /* catch up on what expired while we were down */
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) return -1;
    e->started = 1;
    return 0;
}

void je_engine_stop(je_engine *e) {
    if (!e->started) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    e->started = 0;
}

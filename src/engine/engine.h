/* engine/engine.h: background work of the service, on one thread: freeing the slots of expired
 * permits and leases, reverting expired quota elevations (with their audit entries, built by
 * the store's hooks), submitting backfill batches, signing audit checkpoints, and forgetting
 * idempotency keys older than 24 h and ledger entries past their retention. It runs at start (so a
 * restart that spans an expiry catches up at once) and then every tick. Every sweep is an atomic
 * store operation, so several nodes may run engines over one store. When the store is shared
 * (it has db_clock), the thread also keeps the node's clock in step with the database's. */
#ifndef JE_ENGINE_ENGINE_H
#define JE_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdint.h>
#include "store/store.h"

typedef struct je_engine_config {
    int64_t tick_ms;
    int64_t backfill_in_flight; /* batch jobs outstanding per running backfill */
    int64_t max_attempts;       /* of batch jobs */
    int64_t ledger_retention_ms;
    int64_t checkpoint_every_n, checkpoint_every_ms; /* signed audit checkpoints */
    /* told the outcome of every sweep (how many, or a negative je_store_rc); may be NULL. The
     * service counts them in its metrics: the engine knows nothing of api/. */
    void (*observe)(const char *sweep, int64_t n);
} je_engine_config;

typedef struct je_engine {
    je_store *store;
    je_engine_config cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, started;
    int64_t last_prune_ms;
    int clock_synced;      /* the clock was set in step with the database's once */
    int64_t clock_sync_ns; /* when (je_mono_ns) */
} je_engine;

/* Sets this process's clock in step with the store's database clock (base/clock.h), when the
 * store has one (db_clock): of a few round trips, the shortest gives the offset, read at its
 * middle, so nodes agree to within half a round trip. Returns 1 (set), 0 (the store has no
 * clock of its own: nothing to do), or -1 with err set. *rtt_ns (optional) gets that round
 * trip. Serve and every command that writes call it right after opening the store; the engine
 * again every 10 s. */
int je_clock_sync(je_store *s, int64_t *rtt_ns, je_err *err);
/* One pass of every sweep at now_ms (also used by tests and at start). */
int je_engine_run_once(je_engine *e, int64_t now_ms);
int je_engine_start(je_engine *e, je_store *store, const je_engine_config *cfg);
void je_engine_stop(je_engine *e);

#endif

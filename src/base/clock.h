/* base/clock.h: the program's one clock. Wall time (UTC ms) for everything that is recorded or
 * compared with stored times, monotonic time for durations. core/ never reads a clock: callers
 * read this one and pass the time in, and so do store operations (store.h).
 *
 * Nodes that share a database keep this clock in step with the database's own (engine/: the
 * offset measured against store->ops->db_clock), so that expiry of leases, permits and
 * elevations does not depend on which node's system clock is fast (docs/architecture.md). */
#ifndef JE_BASE_CLOCK_H
#define JE_BASE_CLOCK_H

#include <stdint.h>

/* UTC milliseconds since the epoch: the system clock plus the offset set below. */
int64_t je_now_ms(void);
/* The system clock alone (plus JOBENGINE_CLOCK_SKEW_MS, which tests set to play a node whose
 * clock is wrong): what the offset is measured from. */
int64_t je_system_ms(void);
/* Sets the offset added to the system clock (0 at start). */
void je_clock_set_offset_ms(int64_t offset_ms);
int64_t je_clock_offset_ms(void);
/* Monotonic nanoseconds (durations only). */
int64_t je_mono_ns(void);

#endif

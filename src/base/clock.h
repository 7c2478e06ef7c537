/* base/clock.h: the program's one clock. Wall time (UTC ms) for everything that is recorded or
 * compared with stored times, monotonic time for durations. core/ never reads a clock: callers
 * read this one and pass the time in, and so do store operations (store.h). */
#ifndef JE_BASE_CLOCK_H
#define JE_BASE_CLOCK_H

#include <stdint.h>

/* UTC milliseconds since the epoch. */
int64_t je_now_ms(void);
/* Monotonic nanoseconds (durations only). */
int64_t je_mono_ns(void);

#endif

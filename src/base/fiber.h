/* base/fiber.h: fibers, so that a call which waits for another thread (a write waiting for its
 * group commit) gives its thread back instead of blocking it. A host (the HTTP server) runs a
 * handler on a fiber; when the handler reaches a wait, the fiber parks and the host's thread
 * goes on serving other requests; the thread that finishes the work wakes the fiber, and the
 * host resumes it, on the thread that started it, where the wait returns as if it had blocked.
 *
 * Code that waits asks je_fiber_self(): NULL means a plain thread, which blocks as usual (the
 * engine, the CLI, tests). The protocol of one wait, by the waiting code:
 *     f = je_fiber_self();   hand f to the thread that will finish the work;   je_fiber_park();
 * and by that thread, once the work's outcome is final: je_fiber_wake(f), after which it must
 * not touch anything on the fiber's stack. Exactly one wake per park; the wake may come before
 * the park has switched away (the host then resumes at once).
 *
 * A fiber always runs on the thread of its host: thread-locals stay valid across a park. */
#ifndef JE_BASE_FIBER_H
#define JE_BASE_FIBER_H

typedef struct je_fiber je_fiber;
typedef void (*je_fiber_fn)(void *arg);
/* Called by je_fiber_wake, on the waking thread: the host arranges for je_fiber_resume. */
typedef void (*je_fiber_wake_fn)(void *host);

/* Runs fn(arg) on a new fiber until it returns or parks. Returns NULL when fn returned (the
 * fiber is gone), else the parked fiber, to be resumed after its wake. NULL with *failed = 1
 * when no fiber could be made: fn did not run (the caller runs it on the thread). */
je_fiber *je_fiber_start(je_fiber_fn fn, void *arg, je_fiber_wake_fn on_wake, void *host,
                         int *failed);
/* Continues a parked fiber after its wake; same thread as je_fiber_start. Returns 1 when fn
 * returned (the fiber is gone), 0 when it parked again. */
int je_fiber_resume(je_fiber *f);
/* The fiber running on this thread, or NULL. */
je_fiber *je_fiber_self(void);
/* In a fiber: switches back to the host until je_fiber_wake(f) and je_fiber_resume(f). */
void je_fiber_park(void);
/* Any thread: the parked (or parking) fiber's wait is over. */
void je_fiber_wake(je_fiber *f);
/* Frees the stacks kept for reuse (at shutdown; fibers still alive keep theirs). */
void je_fiber_pool_drain(void);

#endif

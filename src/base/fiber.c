/* base/fiber.c: fibers (base/fiber.h). Each fiber has its own mmap'd stack with a guard page
 * below it (an overflow faults instead of writing over memory); finished fibers are kept, up to
 * POOL_MAX, and reused. Under AddressSanitizer every switch is announced to it
 * (__sanitizer_start/finish_switch_fiber), so it knows which stack is live.
 *
 * Switching: on x86-64, a few instructions that save the callee-saved registers and swap stack
 * pointers (the System V ABI leaves every other register to the caller). Elsewhere, ucontext,
 * whose swapcontext also saves the signal mask with a system call each way: a few microseconds
 * per write on a virtual machine, which the x86-64 path saves. Fibers never change the signal
 * mask or the floating-point environment, so neither needs saving. */
#include "base/fiber.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define JE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JE_ASAN 1
#endif
#endif

#ifdef JE_ASAN
#include <sanitizer/common_interface_defs.h>
/* Sanitizers make frames several times larger. */
#define STACK_SIZE (4u << 20)
#else
/* Virtual size: only the pages a handler touches become resident. jansson's parser recurses
 * up to 2048 levels on a hostile body, which needs about 0.5 MiB. */
#define STACK_SIZE (1u << 20)
#endif
#define POOL_MAX 64

#if defined(__x86_64__) && !defined(JE_FIBER_UCONTEXT)
/* A parked side is its stack pointer; its registers are pushed on its stack. */
typedef struct ctx {
    void *sp;
} ctx;
void je_fiber_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl je_fiber_switch\n"
        ".hidden je_fiber_switch\n"
        ".type je_fiber_switch,@function\n"
        "je_fiber_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size je_fiber_switch, .-je_fiber_switch\n");

/* A new stack that je_fiber_switch "returns" into entry, aligned as after a call. */
static int ctx_make(ctx *c, void *bottom, size_t size, void (*entry)(void)) {
    uintptr_t top = ((uintptr_t)bottom + size) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL; /* entry's return address: entry never returns */
    *--sp = (void *)(uintptr_t)entry;
    for (int i = 0; i < 6; i++) *--sp = NULL; /* rbp rbx r12 r13 r14 r15 */
    c->sp = sp;
    return 0;
}

static void ctx_swap(ctx *save, ctx *load) {
    je_fiber_switch(&save->sp, load->sp);
}
#else
typedef ucontext_t ctx;

/* getcontext only fills the context that makecontext then redirects: it never returns twice
 * here. Apart, so that the caller's locals are not thought clobbered. */
__attribute__((noinline)) static int context_init(ucontext_t *c) {
    return getcontext(c);
}

static int ctx_make(ctx *c, void *bottom, size_t size, void (*entry)(void)) {
    if (context_init(c) != 0) return -1;
    c->uc_stack.ss_sp = bottom;
    c->uc_stack.ss_size = size;
    c->uc_link = NULL;
    makecontext(c, entry, 0);
    return 0;
}

static void ctx_swap(ctx *save, ctx *load) {
    swapcontext(save, load);
}
#endif

struct je_fiber {
    ctx ctx;  /* the fiber's registers while it is parked */
    ctx host; /* the host's while the fiber runs */
    je_fiber_fn fn;
    void *arg;
    je_fiber_wake_fn on_wake;
    void *host_arg;
    char *map; /* guard page + stack */
    size_t map_len;
    int finished;
    void *asan_fake; /* the fiber's fake stack while parked (ASan) */
    const void *host_bottom;
    size_t host_size;
    je_fiber *next_free;
};

static _Thread_local je_fiber *current;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static je_fiber *pool;
static int pool_n;

static void asan_start(void **fake, const void *bottom, size_t size) {
#ifdef JE_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void asan_finish(void *fake, const void **bottom, size_t *size) {
#ifdef JE_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static je_fiber *fiber_new(void) {
    pthread_mutex_lock(&pool_mu);
    je_fiber *f = pool;
    if (f) {
        pool = f->next_free;
        pool_n--;
    }
    pthread_mutex_unlock(&pool_mu);
    if (f) return f;
    f = calloc(1, sizeof *f);
    if (!f) return NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    f->map_len = STACK_SIZE + page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (f->map == MAP_FAILED || mprotect(f->map, page, PROT_NONE) != 0) {
        if (f->map != MAP_FAILED) munmap(f->map, f->map_len);
        free(f);
        return NULL;
    }
    return f;
}

static void fiber_free(je_fiber *f) {
    munmap(f->map, f->map_len);
    free(f);
}

static void fiber_release(je_fiber *f) {
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_MAX) {
        f->next_free = pool;
        pool = f;
        pool_n++;
        f = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    if (f) fiber_free(f);
}

void je_fiber_pool_drain(void) {
    pthread_mutex_lock(&pool_mu);
    je_fiber *f = pool;
    pool = NULL;
    pool_n = 0;
    pthread_mutex_unlock(&pool_mu);
    while (f) {
        je_fiber *next = f->next_free;
        fiber_free(f);
        f = next;
    }
}

static void stack_span(const je_fiber *f, const void **bottom, size_t *size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *bottom = f->map + page;
    *size = f->map_len - page;
}

static void trampoline(void) {
    je_fiber *f = current;
    asan_finish(NULL, &f->host_bottom, &f->host_size);
    f->fn(f->arg);
    f->finished = 1;
    asan_start(NULL, f->host_bottom, f->host_size); /* NULL: this stack dies */
    ctx_swap(&f->ctx, &f->host);                    /* never resumed */
}

/* Runs f on this thread until it parks or finishes; 1 when finished (f released). */
static int switch_in(je_fiber *f) {
    const void *bottom;
    size_t size;
    stack_span(f, &bottom, &size);
    je_fiber *prev = current;
    current = f;
    void *fake = NULL;
    asan_start(&fake, bottom, size);
    ctx_swap(&f->host, &f->ctx);
    asan_finish(fake, NULL, NULL);
    current = prev;
    if (!f->finished) return 0;
    fiber_release(f);
    return 1;
}

je_fiber *je_fiber_start(je_fiber_fn fn, void *arg, je_fiber_wake_fn on_wake, void *host,
                         int *failed) {
    *failed = 0;
    je_fiber *f = fiber_new();
    const void *bottom;
    size_t size;
    if (f) stack_span(f, &bottom, &size);
    if (!f || ctx_make(&f->ctx, (void *)bottom, size, trampoline) != 0) {
        if (f) fiber_release(f);
        *failed = 1;
        return NULL;
    }
    f->fn = fn;
    f->arg = arg;
    f->on_wake = on_wake;
    f->host_arg = host;
    f->finished = 0;
    f->asan_fake = NULL;
    return switch_in(f) ? NULL : f;
}

int je_fiber_resume(je_fiber *f) {
    return switch_in(f);
}

je_fiber *je_fiber_self(void) {
    return current;
}

void je_fiber_park(void) {
    je_fiber *f = current;
    asan_start(&f->asan_fake, f->host_bottom, f->host_size);
    ctx_swap(&f->ctx, &f->host);
    asan_finish(f->asan_fake, &f->host_bottom, &f->host_size);
}

void je_fiber_wake(je_fiber *f) {
    f->on_wake(f->host_arg);
}

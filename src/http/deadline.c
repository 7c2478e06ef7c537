/* http/deadline.c: the request deadline's sweeper (see deadline.h). Each open connection is on
 * one list with the time its request must be read by (0: none, being answered). Every 100 ms
 * the sweeper shuts down the socket of each connection past it; libmicrohttpd then reads the end
 * of the stream and closes the connection itself, on its own thread. The list's lock is held
 * from the check to the shutdown, and libmicrohttpd takes a connection off the list (its close
 * notification) before it closes the fd, so a shutdown never reaches an fd reused by another
 * connection. */
#include "http/deadline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"

struct je_conn_clock {
    je_conn_clock *prev, *next;
    int fd;
    atomic_llong due_ns; /* 0: no deadline */
};

struct je_deadlines {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stop;
    int64_t timeout_ns;
    je_conn_clock head; /* sentinel of a circular list */
    atomic_ullong closed;
};

static void sweep(je_deadlines *d) {
    int64_t now = je_mono_ns();
    for (je_conn_clock *c = d->head.next; c != &d->head; c = c->next) {
        long long due = atomic_load(&c->due_ns);
        if (!due || now < due) continue;
        atomic_store(&c->due_ns, 0);
        shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add(&d->closed, 1);
    }
}

static void *sweeper(void *arg) {
    je_deadlines *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&d->wake, &d->lock, &until);
        if (!d->stop) sweep(d);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

je_deadlines *je_deadlines_start(unsigned timeout_s) {
    if (!timeout_s) return NULL;
    je_deadlines *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->timeout_ns = (int64_t)timeout_s * 1000000000LL;
    d->head.next = d->head.prev = &d->head;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, sweeper, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    return d;
}

void je_deadlines_stop(je_deadlines *d) {
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    d->stop = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    for (je_conn_clock *c = d->head.next, *n; c != &d->head; c = n) n = c->next, free(c);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

uint64_t je_deadlines_closed(const je_deadlines *d) {
    return d ? atomic_load(&((je_deadlines *)d)->closed) : 0;
}

je_conn_clock *je_deadline_open(je_deadlines *d, int fd) {
    if (!d) return NULL;
    je_conn_clock *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    atomic_store(&c->due_ns, je_mono_ns() + d->timeout_ns);
    pthread_mutex_lock(&d->lock);
    c->next = d->head.next;
    c->prev = &d->head;
    d->head.next->prev = c;
    d->head.next = c;
    pthread_mutex_unlock(&d->lock);
    return c;
}

void je_deadline_close(je_deadlines *d, je_conn_clock *c) {
    if (!d || !c) return;
    pthread_mutex_lock(&d->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    pthread_mutex_unlock(&d->lock);
    free(c);
}

void je_deadline_received(je_conn_clock *c) {
    if (c) atomic_store(&c->due_ns, 0);
}

void je_deadline_replied(je_deadlines *d, je_conn_clock *c) {
    if (d && c) atomic_store(&c->due_ns, je_mono_ns() + d->timeout_ns);
}

/* store/backend.h: what every backend does alike before SQL (not a public header): a client's
 * tenants and roles as the JSON arrays the backends store, and the columns of an audit entry.
 * Backends include it; nothing above store/ does. */
#ifndef JE_STORE_BACKEND_H
#define JE_STORE_BACKEND_H

#include "core/pool_gate.h"
#include "store/store.h"

/* n names of at most max bytes each, stride bytes apart, as a JSON array (NULL: no memory). */
json_t *je_store_names_json(const char *names, size_t n, size_t stride, size_t max);
/* Reads a JSON array of at most cap strings of at most max bytes into names: 0, or -1 (then
 * *n is 0). */
int je_store_names_parse(const char *text, char *names, size_t *n, size_t cap, size_t stride,
                         size_t max);

/* The columns of a sealed audit entry. The strings point into the entry; text is its canonical
 * (JCS) form, malloc'd: the caller frees it. */
typedef struct je_audit_row {
    const char *tenant, *entry_id, *event_type, *resource_type, *resource_id, *actor_id, *hash;
    int64_t sequence, occurred_ms;
    char *text;
    size_t len;
} je_audit_row;

/* Fills row from entry: 0, or -1 with err set ("AUDIT_INVALID") when the entry has no valid
 * time, no entryId or eventType, or cannot be canonicalised. */
int je_audit_row_of(const json_t *entry, je_audit_row *row, je_err *err);

/* What held a lease call's work back, noted for its answer (the first breaker, the first pool
 * that did). je_lease_out_pool returns 1 when the backend must still find when a slot of the
 * pool frees (out->pool_next_ms: its earliest live lease or permit), 0 when nothing is left to
 * do (noted already, or the hourly cap: the next hour). */
void je_lease_out_breaker(je_lease_out *out, const char *job_type, int64_t retry_at);
int je_lease_out_pool(je_lease_out *out, const je_pool_gate *g);

/* A breaker's window buckets as stored ("3,0,1,..."; JE_BREAKER_BUCKETS counts), and back (a
 * malformed list reads as zeros). */
void je_store_buckets_format(const int64_t *v, char *out, size_t cap);
void je_store_buckets_parse(const char *text, int64_t *v);
/* The audit entry of a breaker that opened or closed by itself (by the engine, in the chain of
 * its tenant, or of _system for a job type's breaker), or NULL when its effective state did not
 * move from before. */
json_t *je_store_breaker_entry(const je_breaker_row *r, je_breaker_state before, int64_t now_ms);

#endif

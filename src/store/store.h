/* store/store.h: the one storage interface. A backend fills a je_store_ops table (as SQLite's
 * VFS is filled by each OS layer); nothing above this header knows which backend runs.
 *
 * Every operation is atomic and, when it writes, durable (fsync'd) before it returns: callers
 * reply to clients only after that. Operations are made of whole decisions, never of
 * get-then-put pairs, so each backend can make them exact across processes and nodes.
 * All functions are safe to call from many threads at once.
 *
 * Completion: how a caller waits for its commit. An operation returns only once its outcome is
 * final and, when it wrote, durable; how the caller waits depends on the caller. A plain thread
 * blocks. A fiber (base/fiber.h: the HTTP server runs every request that may write on one) is
 * parked by a backend that commits on another thread and woken by that commit, so the caller's
 * thread serves other requests meanwhile and one commit answers every request waiting on it:
 * SQLite's writer thread does this. A backend may instead complete on the calling thread
 * (PostgreSQL does: the caller's thread runs the transaction), and then a fiber never parks.
 * Either way the operation's results are in place when it returns; the conformance suite runs
 * its cases in both forms (tests/unit/conformance/fiber.h).
 *
 * A backend keeps rows and nothing else: every rule is core/'s. Inside its transaction it loads
 * rows, calls the rules (core/) or the caller's callback, and saves what they return. Callbacks
 * and the hooks below are pure: they read only their arguments and what their context holds,
 * change nothing outside the record and entries they hand back, and may run more than once for
 * one operation (a backend may retry a whole transaction after a deadlock or a serialization
 * failure; only the last run's results count).
 *
 * Time: every operation that compares or records a time takes now_ms from its caller (one clock
 * for the program, base/clock.h); no backend reads a clock of its own.
 *
 * Results are named (je_store_rc): negative values are failures with err set; 0 and the positive
 * values are answers. Sweeps and counts return how many (>= 0) or a negative je_store_rc. */
#ifndef JE_STORE_STORE_H
#define JE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/random.h"
#include "core/err.h"
#include "core/justify.h"
#include "core/backfill.h"
#include "core/jobs.h"
#include "core/breaker.h"
#include "core/pool_change.h"
#include "core/quota.h"

typedef enum je_store_rc {
    JE_STORE_OK = 0,
    JE_STORE_NOT_FOUND = 1,  /* no such row (of the caller's tenant): nothing changed */
    JE_STORE_LEASE_LOST = 2, /* the lease named is not live: nothing changed */
    JE_STORE_CONFLICT = 3,   /* a unique key is taken (create_only of an existing client) */
    /* The outcome of a change operation: what its callback decided, carried out. */
    JE_CHANGE_APPLY = 10,  /* the record was stored (created or updated) */
    JE_CHANGE_DELETE = 11, /* the record was deleted */
    JE_CHANGE_DENY = 12,   /* nothing changed (an audit entry may still have been appended) */
    /* Failures (err set). */
    JE_STORE_ERROR = -1, /* the store failed (err->code "STORE") or a callback refused */
    JE_STORE_RETRY = -2, /* a transient conflict (deadlock, serialization) outlasted the retries:
                            nothing changed, the caller may try again */
    JE_STORE_UNKNOWN_OUTCOME = -3, /* the connection was lost during COMMIT: the change may or
                                      may not be durable (an Idempotency-Key retry finds out) */
} je_store_rc;

/* The name of a result ("OK", "NOT_FOUND", ...). */
const char *je_store_rc_name(int rc);

#define JE_MAX_TENANTS 16
#define JE_MAX_ROLES 8
#define JE_MAX_KEYS 64

/* A signing key as stored (its operations are auth/keys.h). */
typedef struct je_key {
    char kid[64];
    unsigned char priv[32]; /* raw Ed25519 private key (seed); all zero when only public known */
    unsigned char pub[32];
    int64_t created_ms;
    int current; /* 1 for the one key that signs */
} je_key;

typedef struct je_client {
    char id[JE_ID_MAX + 1];
    unsigned char secret_sha256[32];
    size_t n_tenants;
    char tenants[JE_MAX_TENANTS][JE_TENANT_MAX + 1];
    size_t n_roles;
    char roles[JE_MAX_ROLES][32];
    int64_t created_ms;
    int64_t updated_ms;
} je_client;

typedef struct je_audit_filter {
    const char *event_type;    /* NULL: any */
    const char *resource_type; /* NULL: any */
    const char *resource_id;   /* NULL: any */
    const char *actor;         /* NULL: any; matches actorId */
    int64_t since_ms;          /* inclusive; INT64_MIN when unset */
    int64_t until_ms;          /* exclusive; INT64_MAX when unset */
    int64_t after_sequence;    /* only entries with sequence > this (0 for all) */
    int limit;                 /* at most this many entries */
} je_audit_filter;

/* Visitor for audit entries; entry_json is the stored canonical JSON of the whole entry
 * (hash included). Return 0 to go on, non-zero to stop. */
typedef int (*je_audit_visit_fn)(void *ctx, int64_t sequence, const char *entry_json, size_t len);
typedef int (*je_client_visit_fn)(void *ctx, const je_client *c);
typedef int (*je_jti_visit_fn)(void *ctx, const char *jti, int64_t exp_ms);

typedef struct je_quota_filter {
    const char *job_type;       /* NULL: any */
    int paused;                 /* -1 any, 0, 1 */
    const char *after_job_type; /* pagination: job types > this ("" for the start) */
    int limit;
} je_quota_filter;

typedef int (*je_quota_visit_fn)(void *ctx, const je_quota_record *q);

/* A quota change callback, run inside the store's write transaction with the current record
 * (exists = 0: none, rec zeroed but for tenant). It may set *audit to an entry (core/audit.h)
 * that the store appends in the same transaction, whatever the outcome. Returns JE_CHANGE_APPLY
 * (store *rec), JE_CHANGE_DELETE (delete the quota and its permits), JE_CHANGE_DENY (change
 * nothing), or JE_STORE_ERROR with err set. Pure, and may run again (see above). */
typedef int (*je_quota_change_fn)(void *ctx, je_quota_record *rec, int exists, int64_t now_ms,
                                  json_t **audit, je_err *err);

/* Idempotency (api.md §1): keys scoped to (tenant, method, path), remembered 24 h, only for
 * successful responses, stored in the same transaction as the change they answer. */
typedef struct je_idem {
    const char *key; /* NULL: the request had no Idempotency-Key */
    const char *method, *path;
    char request_hash[65]; /* SHA-256 hex of the canonical request body */
    /* renders the response to remember, after a successful change, inside the transaction */
    char *(*render)(void *ctx, int *status);
    void *render_ctx;
    /* out: replayed = the key was seen with the same body: status/body are the first response
     * (body malloc'd, the caller frees); mismatch = seen with another body */
    int replayed, mismatch, status;
    char *body;
} je_idem;

/* Result of an acquire. */
typedef struct je_acquire {
    je_decision decision;
    char permit_id[37];
    int64_t expires_ms;
    je_quota_record rec; /* the quota after the decision */
    /* the quota granted but the job type's capacity pool refused (issue 15): decision is then
     * a denial, pool_cap says which cap, pool_next_ms when a slot of the pool frees at the
     * latest known (JE_NO_TIME unknown) */
    je_pool_cap pool_cap;
    int64_t pool_next_ms;
    /* the job type's circuit breaker admitted nothing (issue 15): decision is then a denial */
    int breaker_open;
    je_breaker_state breaker_state;
    int64_t breaker_retry_ms; /* JE_NO_TIME unknown */
} je_acquire;

typedef struct je_job_filter {
    int status;           /* -1 any */
    const char *job_type; /* NULL any */
    int64_t after_created_ms;
    const char *after_job_id; /* pagination: (created, id) > this; "" from the start */
    int limit;
    /* > 0: the caller stops reading once the rows' payloads pass this many bytes, so a backend
     * may stop sending rows past the first that passes it (the visitor still decides) */
    int64_t max_payload_bytes;
} je_job_filter;
typedef int (*je_job_visit_fn)(void *ctx, const je_job *j);
typedef int (*je_job_count_fn)(void *ctx, const char *job_type, int status, int64_t count);

/* A lease request and its outcome. */
typedef struct je_lease_req {
    const char *const *job_types;
    size_t n_job_types;
    const char *worker_id;
    int max;
    int64_t lease_ms;
    int64_t now_ms;
    double backfill_share;
    int unlimited_when_no_quota; /* 1: a job type with no quota is not limited */
} je_lease_req;

typedef struct je_lease_out {
    je_job *jobs; /* malloc'd array of n (je_job_free each, then free) */
    size_t n;
    int held;               /* some work was held back by a quota */
    je_decision decision;   /* of the first quota that held work back */
    je_quota_limits limits; /* its limits */
    int only_paused;        /* every quota that held work back was paused */
    /* a capacity pool held work back (issue 15): which one, which cap, and when a slot of it
     * frees at the latest known (its earliest live lease or permit; JE_NO_TIME unknown) */
    int pool_held;
    char pool_job_type[JE_JOBTYPE_MAX + 1];
    je_pool_cap pool_cap;
    int64_t pool_next_ms;
    /* a circuit breaker held work back (issue 15): which job type, and when it next admits
     * (JE_NO_TIME unknown) */
    int breaker_held;
    char breaker_job_type[JE_JOBTYPE_MAX + 1];
    int64_t breaker_retry_ms;
} je_lease_out;

/* A circuit breaker as stored (issue 15; core/breaker.h). The row of tenant "" is the job
 * type's: its settings, and its state when per_tenant is 0; with per_tenant each tenant's work
 * of the job type has a row of its own (same settings), made on first use. */
typedef struct je_breaker_row {
    char job_type[JE_JOBTYPE_MAX + 1];
    char tenant_id[JE_TENANT_MAX + 1];
    int per_tenant;
    je_breaker b;
    int64_t version, updated_ms;
    char updated_by[JE_ID_MAX + 1], last_reason[JE_REASON_BUF], last_ticket[JE_TICKET_BUF];
} je_breaker_row;
typedef int (*je_breaker_visit_fn)(void *ctx, const je_breaker_row *b);
/* As je_pool_change_fn, on one breaker row (exists 0: none; rec zeroed but for its keys). For
 * the job type's row (tenant ""), JE_CHANGE_APPLY also gives its settings and per_tenant to
 * every tenant row, and JE_CHANGE_DELETE deletes them all. */
typedef int (*je_breaker_change_fn)(void *ctx, je_breaker_row *rec, int exists, int64_t now_ms,
                                    json_t **audit, je_err *err);

typedef int (*je_pool_visit_fn)(void *ctx, const je_pool_record *p);
/* A pool change callback, run inside the write transaction with the current record (exists 0:
 * none, rec zeroed but for its job type): as je_quota_change_fn (JE_CHANGE_APPLY stores *rec,
 * JE_CHANGE_DELETE deletes the pool, JE_CHANGE_DENY changes nothing; *audit is appended). */
typedef int (*je_pool_change_fn)(void *ctx, je_pool_record *rec, int exists, int64_t now_ms,
                                 json_t **audit, je_err *err);

typedef struct je_backfill_filter {
    int status;                /* -1 any */
    int64_t before_created_ms; /* pagination, newest first: (created, id) < this */
    const char *before_id;     /* "" from the start (with before_created_ms INT64_MAX) */
    int limit;
} je_backfill_filter;
typedef int (*je_backfill_visit_fn)(void *ctx, const je_backfill_record *b);

/* Facts the safety checks need, read inside the transaction that creates. */
typedef struct je_backfill_store_facts {
    int quota_exists, quota_paused;
    char overlapping_id[37]; /* "" when none */
    char repeated_id[37];    /* "" when none */
    int64_t known_events, already_processed;
} je_backfill_store_facts;

/* A create callback: given the facts, fills rec (APPLY) or refuses (DENY); may set *audit.
 * Pure, and may run again. */
typedef int (*je_backfill_create_fn)(void *ctx, const je_backfill_store_facts *facts,
                                     je_backfill_record *rec, int64_t now_ms, json_t **audit,
                                     je_err *err);
/* A change callback on an existing backfill (start, pause, resume, cancel); as above. */
typedef int (*je_backfill_change_fn)(void *ctx, je_backfill_record *rec, int exists, int64_t now_ms,
                                     json_t **audit, je_err *err);
/* Builds the audit entry of an engine transition (after->status: completed or failed). */
typedef json_t *(*je_backfill_audit_fn)(const je_backfill_record *before,
                                        const je_backfill_record *after, int64_t now_ms);

/* One event of a claim and its answer. */
typedef struct je_claim_event {
    const char *event_key;
    int64_t event_time_ms;
    const char *digest; /* NULL when none */
    int is_new;         /* out */
} je_claim_event;

/* A stored checkpoint (domain.md §6). */
typedef struct je_checkpoint_record {
    char tenant_id[JE_TENANT_MAX + 1];
    int64_t head_sequence;
    char head_hash[65];
    char checkpoint_json[1024]; /* JCS of the signed object */
    char signature[128];
    char kid[64];
    int64_t issued_ms;
} je_checkpoint_record;
typedef int (*je_checkpoint_visit_fn)(void *ctx, const je_checkpoint_record *c);
/* A tenant whose chain needs a new checkpoint: its head now. */
typedef int (*je_head_visit_fn)(void *ctx, const char *tenant, int64_t head_sequence,
                                const char *head_hash);

/* Builds the quota.elevation.expired entry for a reverted elevation. */
typedef json_t *(*je_elevation_audit_fn)(const je_quota_record *before,
                                         const je_quota_record *after, int64_t now_ms);

typedef struct je_store je_store;

typedef struct je_store_ops {
    const char *name; /* "sqlite" */
    void (*close)(je_store *s);
    /* A cheap round trip proving the store answers (readyz). */
    int (*ping)(je_store *s, je_err *err);
    /* The schema version (the highest migration applied). */
    int (*schema_version)(je_store *s);

    /* Clients. put: create (create_only = 1: JE_STORE_CONFLICT if the id exists) or replace.
     * get and remove: JE_STORE_OK or JE_STORE_NOT_FOUND. */
    int (*client_put)(je_store *s, const je_client *c, int create_only, je_err *err);
    int (*client_get)(je_store *s, const char *id, je_client *out, je_err *err);
    int (*client_list)(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err);
    int (*client_remove)(je_store *s, const char *id, je_err *err);
    int64_t (*client_count)(je_store *s, je_err *err);

    /* Signing keys. key_add makes k the current key and every other key not current. */
    int (*key_add)(je_store *s, const je_key *k, je_err *err);
    /* All keys, newest first, at most cap; *n gets the count. */
    int (*key_list)(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err);

    /* Revoked token ids, kept until their token's expiry. */
    int (*revoke_add)(je_store *s, const char *jti, int64_t exp_ms, je_err *err);
    /* Every revoked jti whose exp_ms > now_ms. */
    int (*revoked_list)(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx, je_err *err);

    /* Appends entry (built by je_audit_entry_new: no sequence, previousHash or hash yet) to the
     * chain of its tenantId: assigns the next sequence, links and seals it (core/audit.h) and
     * stores it, atomically and durably. On return entry holds sequence, previousHash, hash. */
    int (*audit_append)(je_store *s, json_t *entry, je_err *err);
    /* Entries of tenant matching filter, ascending sequence, at most filter->limit. */
    int (*audit_list)(je_store *s, const char *tenant, const je_audit_filter *filter,
                      je_audit_visit_fn fn, void *ctx, je_err *err);
    /* Every entry of tenant from from_sequence on, ascending (for verify and export). */
    int (*audit_scan)(je_store *s, const char *tenant, int64_t from_sequence, je_audit_visit_fn fn,
                      void *ctx, je_err *err);

    /* Quotas. get: JE_STORE_OK or JE_STORE_NOT_FOUND (by id within tenant). */
    int (*quota_get)(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                     je_err *err);
    /* quota_get and the count of its pending jobs (usage.pending), read at one moment: what
     * GET /jobengine/quotas/{id} shows. */
    int (*quota_view)(je_store *s, const char *tenant, const char *quota_id, je_quota_record *out,
                      int64_t *pending, je_err *err);
    /* Ordered by job type. */
    int (*quota_list)(je_store *s, const char *tenant, const je_quota_filter *f,
                      je_quota_visit_fn fn, void *ctx, je_err *err);
    /* Atomic read-decide-write of one quota found by quota_id, or (quota_id NULL) by job_type.
     * Returns the callback's JE_CHANGE_* value (out holds the record after it), or a failure.
     * With idem->key set, a key seen before answers without calling fn: JE_CHANGE_APPLY with
     * idem->replayed, or JE_CHANGE_DENY with idem->mismatch (see je_idem). */
    int (*quota_change)(je_store *s, const char *tenant, const char *quota_id, const char *job_type,
                        int64_t now_ms, je_quota_change_fn fn, void *ctx, je_idem *idem,
                        je_quota_record *out, je_err *err);
    /* One decision (domain.md §2) and, when granted, a permit living ttl_ms, stored together.
     * Expired permits of the quota are released and an expired elevation reverted first (with
     * its audit entry, hooks->elevation_audit). JE_STORE_OK (decided: out filled) or
     * JE_STORE_NOT_FOUND. */
    int (*quota_acquire)(je_store *s, const char *tenant, const char *quota_id, int64_t ttl_ms,
                         int64_t now_ms, je_idem *idem, je_acquire *out, je_err *err);
    /* Releases a live permit: JE_STORE_OK, or JE_STORE_NOT_FOUND for a permit unknown, already
     * released or expired. */
    int (*quota_release)(je_store *s, const char *tenant, const char *quota_id,
                         const char *permit_id, int64_t now_ms, je_err *err);
    /* Engine sweeps: free the slots of expired permits; revert expired elevations (each with
     * its quota.elevation.expired entry, hooks->elevation_audit). Return how many. */
    int64_t (*permits_expire)(je_store *s, int64_t now_ms, je_err *err);
    int64_t (*elevations_expire)(je_store *s, int64_t now_ms, je_err *err);
    /* Jobs. submit: stores j (status pending) with idempotency as quota_change does. */
    int (*job_submit)(je_store *s, je_job *j, je_idem *idem, je_err *err);
    /* JE_STORE_OK or JE_STORE_NOT_FOUND. */
    int (*job_get)(je_store *s, const char *tenant, const char *job_id, je_job *out, je_err *err);
    /* Ordered by (createdAt, jobId). */
    int (*job_list)(je_store *s, const char *tenant, const je_job_filter *f, je_job_visit_fn fn,
                    void *ctx, je_err *err);
    /* Counts per (job type, status). */
    int (*job_counts)(je_store *s, const char *tenant, je_job_count_fn fn, void *ctx, je_err *err);
    /* Leases up to req->max pending jobs of the given types in leasing order, each only when
     * its quota (own, else the tenant's "*") grants it, decisions and leases in one durable
     * transaction (core/lease.h decides). Expired leases and permits of the quotas involved
     * are freed first. */
    int (*jobs_lease)(je_store *s, const char *tenant, const je_lease_req *req, je_lease_out *out,
                      je_err *err);
    /* Extends a live lease: JE_STORE_OK (out), JE_STORE_NOT_FOUND, JE_STORE_LEASE_LOST. */
    int (*job_heartbeat)(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                         int64_t extend_ms, int64_t now_ms, je_job *out, je_err *err);
    /* Completes a live lease (core: je_job_finish; a batch job also counts on its backfill,
     * je_backfill_batch_done): JE_STORE_OK (out), JE_STORE_NOT_FOUND, JE_STORE_LEASE_LOST. The
     * slot is released and the job's ledger claims settle. */
    /* Capacity pools (issue 15; core/pool.h). get: JE_STORE_OK or JE_STORE_NOT_FOUND. list:
     * ordered by job type. change: atomic read-decide-write as quota_change. usage: every
     * tenant's use of the pool now as a decision would count it (live leases of the job type,
     * live permits of its quotas, its pending jobs), malloc'd into *out. A lease or
     * acquire on a job type with a pool decides on the pool too, in its own transaction. */
    int (*pool_get)(je_store *s, const char *job_type, je_pool_record *out, je_err *err);
    int (*pool_list)(je_store *s, je_pool_visit_fn fn, void *ctx, je_err *err);
    int (*pool_change)(je_store *s, const char *job_type, int64_t now_ms, je_pool_change_fn fn,
                       void *ctx, je_pool_record *out, je_err *err);
    int (*pool_usage)(je_store *s, const char *job_type, int64_t now_ms, je_pool_use **out,
                      size_t *n, je_err *err);
    /* Circuit breakers (issue 15). get: the row of (job_type, tenant; "" the job type's),
     * JE_STORE_OK or JE_STORE_NOT_FOUND. list: every row of job_type (NULL: all), ordered by
     * job type then tenant. change: atomic read-decide-write of one row. A lease, acquire or
     * complete of a job type with a breaker admits through it or records its outcome in the same
     * transaction (opening or closing it, with its audit entry). */
    int (*breaker_get)(je_store *s, const char *job_type, const char *tenant, je_breaker_row *out,
                       je_err *err);
    int (*breaker_list)(je_store *s, const char *job_type, je_breaker_visit_fn fn, void *ctx,
                        je_err *err);
    int (*breaker_change)(je_store *s, const char *job_type, const char *tenant, int64_t now_ms,
                          je_breaker_change_fn fn, void *ctx, je_breaker_row *out, je_err *err);
    int (*job_complete)(je_store *s, const char *tenant, const char *job_id, const char *lease_id,
                        int succeeded, const char *error, int64_t now_ms, je_job *out, je_err *err);
    /* Engine: expired leases go back to pending and free their slots. Returns how many. */
    int64_t (*leases_expire)(je_store *s, int64_t now_ms, je_err *err);
    /* Pending jobs of a job type (for usage.pending). */
    int64_t (*jobs_pending)(je_store *s, const char *tenant, const char *job_type, je_err *err);

    /* Backfills. facts: what the checks need for (tenant, source, job type, window) at now. */
    int (*backfill_facts)(je_store *s, const char *tenant, const char *source_id,
                          const char *job_type, int64_t start_ms, int64_t end_ms,
                          int64_t suppression_ms, int64_t now_ms, je_backfill_store_facts *out,
                          je_err *err);
    /* Creates atomically: facts read and the callback run in one write transaction, so two
     * overlapping requests can never both pass no_overlap. Returns JE_CHANGE_* (idempotency as
     * quota_change), or a failure. */
    int (*backfill_create)(je_store *s, const char *tenant, const char *source_id,
                           const char *job_type, int64_t start_ms, int64_t end_ms,
                           int64_t suppression_ms, int64_t now_ms, je_backfill_create_fn fn,
                           void *ctx, je_idem *idem, je_backfill_record *out, je_err *err);
    /* JE_STORE_OK or JE_STORE_NOT_FOUND. */
    int (*backfill_get)(je_store *s, const char *tenant, const char *backfill_id,
                        je_backfill_record *out, je_err *err);
    int (*backfill_list)(je_store *s, const char *tenant, const je_backfill_filter *f,
                         je_backfill_visit_fn fn, void *ctx, je_err *err);
    /* Start, pause, resume, cancel: read-decide-write; a cancel also cancels the backfill's
     * batch jobs not yet leased. Returns JE_CHANGE_*, or a failure. */
    int (*backfill_change)(je_store *s, const char *tenant, const char *backfill_id, int64_t now_ms,
                           je_backfill_change_fn fn, void *ctx, je_backfill_record *out,
                           je_err *err);
    /* Engine: submits the next batch jobs of running backfills (at most in_flight outstanding
     * per backfill), each batch exactly once. Returns how many jobs were submitted. */
    int64_t (*backfills_advance)(je_store *s, int64_t now_ms, int64_t in_flight,
                                 int64_t max_attempts, je_err *err);
    /* The ledger: claims every event for job_id atomically (core: je_ledger_decide).
     * JE_STORE_OK, JE_STORE_NOT_FOUND (no such job), JE_STORE_LEASE_LOST. */
    int (*ledger_claim)(je_store *s, const char *tenant, const char *source_id, const char *job_id,
                        je_claim_event *events, size_t n, int64_t now_ms, je_err *err);
    /* Drops processed, unclaimed entries with event time before before_ms. */
    int64_t (*ledger_prune)(je_store *s, int64_t before_ms, je_err *err);

    /* Audit heads and checkpoints. head: 0 and 64 zeros for an empty chain. hash_at: the
     * hash of entry seq (JE_STORE_OK or JE_STORE_NOT_FOUND). */
    int (*audit_head)(je_store *s, const char *tenant, int64_t *seq, char hash[65], je_err *err);
    int (*audit_hash_at)(je_store *s, const char *tenant, int64_t seq, char hash[65], je_err *err);
    int (*checkpoint_put)(je_store *s, const je_checkpoint_record *c, je_err *err);
    /* Ascending head_sequence. */
    int (*checkpoint_list)(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                           je_err *err);
    /* Tenants whose head passed their last checkpoint by at least every_n entries, or by any
     * entry when the last checkpoint is older than every_ms (or there is none). */
    int (*checkpoints_due)(je_store *s, int64_t every_n, int64_t every_ms, int64_t now_ms,
                           je_head_visit_fn fn, void *ctx, je_err *err);

    /* Forgets idempotency keys older than before_ms. */
    int64_t (*idem_prune)(je_store *s, int64_t before_ms, je_err *err);

    /* The database's own clock (UTC ms), for backends that several nodes share: each node
     * keeps its clock (base/clock.h) in step with it. NULL when the store lives in this
     * process (SQLite), whose clock is the node's. */
    int (*db_clock)(je_store *s, int64_t *db_ms, je_err *err);
} je_store_ops;

/* What the store calls inside a transaction: builders of the audit entries of changes it makes
 * on its own (an elevation reverted on the way to a decision, a backfill finished by its last
 * batch), and observers for metrics. Set by the service (api/app.c); pure like the callbacks. */
typedef struct je_store_hooks {
    je_elevation_audit_fn elevation_audit; /* NULL: no entry */
    je_backfill_audit_fn backfill_audit;   /* NULL: no entry */
    /* a batch of writes committed (or failed) after seconds, for metrics; may be NULL */
    void (*batch_committed)(double seconds, int64_t writes, int ok);
    /* an audit entry was appended in a transaction that goes on to commit; may be NULL */
    void (*audit_appended)(const char *event_type);
} je_store_hooks;

struct je_store {
    const je_store_ops *ops;
    void *impl;
    const je_store_hooks *hooks; /* NULL: no audit entries for such transitions */
};

/* Opens (creating and migrating when absent) the store named by url: "sqlite:PATH", or
 * "postgres://..." / "postgresql://..." (a libpq URL), or "postgres:" alone (libpq's PG*
 * environment variables name the database). Returns NULL with err set ("STORE" code) on
 * failure; err never holds the URL's password. */
je_store *je_store_open(const char *url, je_err *err);
/* url as it may be shown (logs, errors): a password in its userinfo (user:PASSWORD@) or in a
 * password= parameter is replaced by "***". */
void je_store_url_safe(const char *url, char *out, size_t cap);
/* Backend constructors (je_store_open dispatches on the URL's scheme). */
je_store *je_store_sqlite_open(const char *path, je_err *err);
je_store *je_store_postgres_open(const char *conninfo, je_err *err);

/* Convenience wrappers: s->ops->fn(s, ...). */
#define je_store_close(s) ((s)->ops->close(s))

#endif

/* store/store.h: the one storage interface. A backend fills a je_store_ops table (as SQLite's
 * VFS is filled by each OS layer); nothing above this header knows which backend runs.
 *
 * Every operation is atomic and, when it writes, durable (fsync'd) before it returns: callers
 * reply to clients only after that. Operations are made of whole decisions, never of
 * get-then-put pairs, so each backend can make them exact across processes and nodes.
 * All functions are safe to call from many threads at once. Return values: 0 success, -1 error
 * (err set), and for lookups 1 found / 0 not found / -1 error. */
#ifndef JE_STORE_STORE_H
#define JE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "auth/keys.h"
#include "core/err.h"

#define JE_MAX_TENANTS 16
#define JE_MAX_ROLES 8
#define JE_ID_MAX 128    /* client ids: [A-Za-z0-9][A-Za-z0-9._:@-]{0,127} */
#define JE_TENANT_MAX 64 /* tenant ids: [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define JE_MAX_KEYS 64

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

typedef struct je_store je_store;

typedef struct je_store_ops {
    const char *name; /* "sqlite" */
    void (*close)(je_store *s);
    /* A cheap round trip proving the store answers (readyz). */
    int (*ping)(je_store *s, je_err *err);
    /* The schema version (the highest migration applied). */
    int (*schema_version)(je_store *s);

    /* Clients. put: create (create_only = 1: "CONFLICT" if the id exists) or replace. */
    int (*client_put)(je_store *s, const je_client *c, int create_only, je_err *err);
    int (*client_get)(je_store *s, const char *id, je_client *out, je_err *err);
    int (*client_list)(je_store *s, je_client_visit_fn fn, void *ctx, je_err *err);
    int (*client_remove)(je_store *s, const char *id, je_err *err); /* 1 removed, 0 absent */
    int64_t (*client_count)(je_store *s, je_err *err);              /* -1 on error */

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
} je_store_ops;

struct je_store {
    const je_store_ops *ops;
    void *impl;
};

/* Opens (creating and migrating when absent) the store named by url: "sqlite:PATH".
 * Returns NULL with err set ("STORE" code) on failure. */
je_store *je_store_open(const char *url, je_err *err);
/* Backend constructors (je_store_open dispatches on the URL's scheme). */
je_store *je_store_sqlite_open(const char *path, je_err *err);

/* Convenience wrappers: s->ops->fn(s, ...). */
#define je_store_close(s) ((s)->ops->close(s))

#endif

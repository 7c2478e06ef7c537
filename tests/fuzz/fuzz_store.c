/* tests/fuzz/fuzz_store.c: the stub store of the handler targets (fuzz_kit.h). Each operation
 * answers at once, in memory, from fixed records chosen by the first letter of the id it is
 * asked for ('m' missing, 'p' paused, 'e' elevated, 'f' full, 'l' lease lost, 'r' running...),
 * so an input decides which answer a handler meets, deterministically. What a real backend does
 * inside its transaction it does too: it runs the change callbacks (core decides), seals every
 * audit entry into a chain (je_audit_entry_seal: an entry a real store could not seal would be a
 * 503 there, so it aborts here), renders the idempotent reply, and reads a job's payload back
 * as GET does, and checks that every text it is given is UTF-8, as PostgreSQL requires (fzs_text).
 * Operations no handler calls stay NULL: a call is a crash that names it. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/jcs.h"
#include "core/text.h"
#include "fuzz_store.h"

static struct {
    je_key keys[JE_MAX_KEYS];
    size_t n_keys;
    int64_t audit_seq;
    char audit_prev[JE_AUDIT_HASH_LEN + 1];
    char *first_entry; /* entry 1 of FZ_TENANT's chain as stored, for audit reads */
    size_t first_len;
    char first_hash[JE_AUDIT_HASH_LEN + 1];
} st;

void fzs_text(const char *s) {
    if (s && !je_utf8_valid(s, strlen(s))) fprintf(stderr, "text not UTF-8: %s\n", s);
    FZ_CHECK(!s || je_utf8_valid(s, strlen(s)), "the store is given UTF-8 text (else a 503)");
}

static int st_ok(je_store *s, je_err *err) {
    return JE_STORE_OK;
}
static int st_schema(je_store *s) {
    return 1;
}
static void st_close(je_store *s) {}

/* ---- clients, keys, revocations, audit --------------------------------------------------------
 */

static int st_client_get(je_store *s, const char *id, je_client *out, je_err *err) {
    fzs_text(id);
    if (strcmp(id, FZ_CLIENT) != 0) return JE_STORE_NOT_FOUND;
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, FZ_CLIENT);
    EVP_Digest(FZ_SECRET, strlen(FZ_SECRET), out->secret_sha256, NULL, EVP_sha256(), NULL);
    out->n_tenants = 2;
    snprintf(out->tenants[0], sizeof out->tenants[0], FZ_TENANT);
    snprintf(out->tenants[1], sizeof out->tenants[1], FZ_TENANT2);
    /* every scope, orch:governance included (the stub is not held to je_platform_rule) */
    static const char *const roles[] = {"Orch.Admin", "Orch.Operator", "Orch.Viewer",
                                        "Orch.PlatformAdmin"};
    out->n_roles = 4;
    for (size_t i = 0; i < 4; i++) snprintf(out->roles[i], sizeof out->roles[i], "%s", roles[i]);
    return JE_STORE_OK;
}

static int st_key_add(je_store *s, const je_key *k, je_err *err) {
    if (st.n_keys == JE_MAX_KEYS) return je_err_set(err, "STORE", "too many keys");
    for (size_t i = 0; i < st.n_keys; i++) st.keys[i].current = 0;
    st.keys[st.n_keys] = *k;
    st.keys[st.n_keys++].current = 1;
    return JE_STORE_OK;
}

static int st_key_list(je_store *s, je_key *out, size_t cap, size_t *n, je_err *err) {
    *n = 0;
    for (size_t i = st.n_keys; i-- > 0 && *n < cap;) out[(*n)++] = st.keys[i];
    return JE_STORE_OK;
}

static int st_revoke_add(je_store *s, const char *jti, int64_t exp_ms, je_err *err) {
    fzs_text(jti);
    return JE_STORE_OK;
}

static int st_revoked_list(je_store *s, int64_t now_ms, je_jti_visit_fn fn, void *ctx,
                           je_err *err) {
    fn(ctx, "0190a0b0-0000-7000-8000-00000000dead", now_ms + 60000);
    return JE_STORE_OK;
}

/* Seals entry as the next of the one chain the stub keeps (every tenant shares it: only sealing
 * is checked). */
static int st_audit_append(je_store *s, json_t *entry, je_err *err) {
    if (!st.audit_prev[0]) memcpy(st.audit_prev, JE_AUDIT_ZERO_HASH, JE_AUDIT_HASH_LEN + 1);
    int rc = je_audit_entry_seal(entry, ++st.audit_seq, st.audit_prev, err);
    if (rc != 0) fprintf(stderr, "audit entry refused: %s\n", err->message);
    FZ_CHECK(rc == 0, "every audit entry a handler builds can be sealed");
    const char *h = json_string_value(json_object_get(entry, "hash"));
    FZ_CHECK(h && strlen(h) == JE_AUDIT_HASH_LEN, "a sealed entry has its hash");
    memcpy(st.audit_prev, h, JE_AUDIT_HASH_LEN + 1);
    return JE_STORE_OK;
}

/* Entry 1 of FZ_TENANT, made once: what audit reads visit. */
static void first_entry(void) {
    if (st.first_entry) return;
    je_audit_fields f = {.entry_id = "0190a0b0-0000-7000-8000-000000000002",
                         .tenant_id = FZ_TENANT,
                         .event_type = "quota.created",
                         .resource_type = "quota",
                         .resource_id = "q1",
                         .actor_id = FZ_CLIENT,
                         .actor_type = "client",
                         .reason = "seed",
                         .occurred_ms = 1700000000000,
                         .details = json_pack("{s:i}", "n", 1)};
    json_t *e = je_audit_entry_new(&f);
    je_err err;
    FZ_CHECK(je_audit_entry_seal(e, 1, JE_AUDIT_ZERO_HASH, &err) == 0, "the seed entry seals");
    snprintf(st.first_hash, sizeof st.first_hash, "%s",
             json_string_value(json_object_get(e, "hash")));
    st.first_entry = je_jcs_dumps(e, &st.first_len);
    json_decref(e);
}

static int st_audit_list(je_store *s, const char *tenant, const je_audit_filter *f,
                         je_audit_visit_fn fn, void *ctx, je_err *err) {
    fzs_text(f->event_type), fzs_text(f->resource_type), fzs_text(f->resource_id);
    fzs_text(f->actor);
    first_entry();
    if (f->after_sequence < 1 && f->limit > 0) fn(ctx, 1, st.first_entry, st.first_len);
    return JE_STORE_OK;
}

static int st_audit_scan(je_store *s, const char *tenant, int64_t from, je_audit_visit_fn fn,
                         void *ctx, je_err *err) {
    first_entry();
    if (from <= 1) fn(ctx, 1, st.first_entry, st.first_len);
    return JE_STORE_OK;
}

static int st_audit_head(je_store *s, const char *tenant, int64_t *seq, char hash[65],
                         je_err *err) {
    first_entry();
    *seq = 1;
    memcpy(hash, st.first_hash, 65);
    return JE_STORE_OK;
}

static int st_audit_hash_at(je_store *s, const char *tenant, int64_t seq, char hash[65],
                            je_err *err) {
    first_entry();
    if (seq != 1) return JE_STORE_NOT_FOUND;
    memcpy(hash, st.first_hash, 65);
    return JE_STORE_OK;
}

static int st_checkpoint_list(je_store *s, const char *tenant, je_checkpoint_visit_fn fn, void *ctx,
                              je_err *err) {
    return JE_STORE_OK;
}

/* An audit entry a callback handed back: sealed like the others, then released. */
void fzs_take_audit(json_t *audit) {
    je_err err;
    je_err_clear(&err);
    if (audit) st_audit_append(NULL, audit, &err);
    json_decref(audit);
}

/* Idempotency: the key "replay" was seen with this body, "mismatch" with another; any other key
 * is new, and its reply is rendered as a real store keeps it. 1 when answered from the key. */
int fzs_idem_seen(je_idem *idem) {
    if (!idem || !idem->key) return 0;
    if (strcmp(idem->key, "replay") == 0) {
        idem->replayed = 1;
        idem->status = 201;
        idem->body = strdup("{\"replayed\":true}");
        return 1;
    }
    if (strcmp(idem->key, "mismatch") == 0) return idem->mismatch = 1;
    return 0;
}

void fzs_idem_store(je_idem *idem) {
    if (!idem || !idem->key || !idem->render) return;
    int status = 0;
    char *body = idem->render(idem->render_ctx, &status);
    FZ_CHECK(body != NULL, "the idempotent reply renders");
    json_t *j = je_json_loadb(body, strlen(body), 0, NULL);
    FZ_CHECK(j != NULL, "the idempotent reply is JSON");
    json_decref(j);
    free(body);
}

static const je_store_ops ops = {
    .name = "fuzz",
    .close = st_close,
    .ping = st_ok,
    .schema_version = st_schema,
    .client_get = st_client_get,
    .key_add = st_key_add,
    .key_list = st_key_list,
    .revoke_add = st_revoke_add,
    .revoked_list = st_revoked_list,
    .audit_append = st_audit_append,
    .audit_list = st_audit_list,
    .audit_scan = st_audit_scan,
    .quota_get = fzs_quota_get,
    .quota_view = fzs_quota_view,
    .quota_list = fzs_quota_list,
    .quota_change = fzs_quota_change,
    .quota_acquire = fzs_quota_acquire,
    .quota_release = fzs_quota_release,
    .job_submit = fzs_job_submit,
    .job_get = fzs_job_get,
    .job_list = fzs_job_list,
    .job_counts = fzs_job_counts,
    .jobs_lease = fzs_jobs_lease,
    .job_heartbeat = fzs_job_heartbeat,
    .job_complete = fzs_job_complete,
    .jobs_pending = fzs_jobs_pending,
    .backfill_facts = fzs_backfill_facts,
    .backfill_create = fzs_backfill_create,
    .backfill_get = fzs_backfill_get,
    .backfill_list = fzs_backfill_list,
    .backfill_change = fzs_backfill_change,
    .ledger_claim = fzs_ledger_claim,
    .audit_head = st_audit_head,
    .audit_hash_at = st_audit_hash_at,
    .checkpoint_list = st_checkpoint_list,
};

je_store *fz_store(void) {
    static je_store store = {&ops, NULL, NULL};
    return &store;
}

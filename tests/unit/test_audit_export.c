/* tests/unit/test_audit_export.c: the offline export verifier of core/audit_export.c (domain.md
 * §6, api.md §3.6). Exports are built here from sealed entries and a checkpoint signed with a
 * test key, then tampered with line by line: every change, removal, reordering, addition,
 * truncation and forgery must fail, at the right line and sequence; partial exports, an empty
 * range and a large export must verify. Each export is also verified in steps (je_export_begin,
 * feed, end, as the CLI reads a file in blocks), with the same result. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/checkpoint.h"
#include "auth/keys.h"
#include "core/audit.h"
#include "core/audit_export.h"
#include "core/jcs.h"

#define TENANT "acme"
#define N 10     /* entries of the usual chain */
#define BIG 5000 /* entries of the large export */
#define T0 1795856400000LL

static je_key key, other_key; /* key signs; other_key is not published to the verifier */
static char hashes[BIG + 1][JE_AUDIT_HASH_LEN + 1]; /* hashes[i]: entry i; [0]: zeros */
static char *entry_text[BIG + 1];                   /* JCS of entry i */

/* ---- building exports --------------------------------------------------------------------- */

typedef struct lines {
    char **l;
    size_t n, cap;
} lines;

static void push(lines *L, char *s) {
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 16;
        L->l = realloc(L->l, L->cap * sizeof *L->l);
        assert_non_null(L->l);
    }
    L->l[L->n++] = s;
}

static void lines_free(lines *L) {
    for (size_t i = 0; i < L->n; i++) free(L->l[i]);
    free(L->l);
    memset(L, 0, sizeof *L);
}

static void remove_at(lines *L, size_t i) {
    free(L->l[i]);
    memmove(&L->l[i], &L->l[i + 1], (L->n - i - 1) * sizeof *L->l);
    L->n--;
}

static void swap(lines *L, size_t i, size_t j) {
    char *t = L->l[i];
    L->l[i] = L->l[j];
    L->l[j] = t;
}

static json_t *make_entry(int i, const char *tenant) {
    char id[32];
    snprintf(id, sizeof id, "entry-%d", i);
    je_audit_fields f = {
        .entry_id = id,
        .tenant_id = tenant,
        .event_type = i % 3 ? "quota.updated" : "authority.client_credentials.grant",
        .resource_type = "quota",
        .resource_id = "q-1",
        .actor_id = "ops-bot",
        .actor_type = "client",
        .reason = "black friday scan surge",
        .ticket = i % 2 ? "OPS-4411" : NULL,
        .occurred_ms = T0 + i * 1000,
        .details =
            json_pack("{s:{s:i, s:s}, s:{s:i, s:s}}", "before", "maxActive", i, "refillPerSecond",
                      "0.5", "after", "maxActive", i + 1, "refillPerSecond", "2"),
    };
    json_t *e = je_audit_entry_new(&f);
    assert_non_null(e);
    return e;
}

/* Sealed entry i of tenant, linked to prev; its JCS text (malloc'd); its hash into hash_out. */
static char *sealed_text(int i, const char *tenant, const char *prev, char *hash_out) {
    json_t *e = make_entry(i, tenant);
    je_err err;
    assert_int_equal(je_audit_entry_seal(e, i, prev, &err), 0);
    if (hash_out) strcpy(hash_out, json_string_value(json_object_get(e, "hash")));
    char *s = je_jcs_dumps(e, NULL);
    assert_non_null(s);
    json_decref(e);
    return s;
}

/* {"checkpoint": {...}, "signature": "..."} signed by k over JCS(checkpoint) (malloc'd). */
static char *checkpoint_line(const char *tenant, int64_t from, const char *from_prev, int64_t head,
                             const char *head_hash, const je_key *k) {
    json_t *cp = je_checkpoint_new(tenant, from, from_prev, head, head_hash, T0 + 999999, k->kid);
    assert_non_null(cp);
    size_t len = 0;
    char *msg = je_jcs_dumps(cp, &len);
    assert_non_null(msg);
    unsigned char sig[64];
    je_err err;
    assert_int_equal(je_ed25519_sign(k, msg, len, sig, &err), 0);
    char b64[128];
    je_export_b64url(sig, sizeof sig, b64);
    json_t *o = json_pack("{s:o, s:s}", "checkpoint", cp, "signature", b64);
    char *line = je_jcs_dumps(o, NULL);
    json_decref(o);
    free(msg);
    return line;
}

/* Entries from..head of the shared chain, then the checkpoint signed by k. */
static void make_export(lines *L, int64_t from, int64_t head, const je_key *k) {
    memset(L, 0, sizeof *L);
    for (int64_t i = from; i <= head; i++) push(L, strdup(entry_text[i]));
    push(L, checkpoint_line(TENANT, from, hashes[from - 1], head, hashes[head], k));
}

/* The checkpoint line of L with one member of the checkpoint replaced, signature kept. */
static void forge_checkpoint(lines *L, const char *member, json_t *value) {
    json_t *o = json_loads(L->l[L->n - 1], 0, NULL);
    assert_non_null(o);
    json_object_set_new(json_object_get(o, "checkpoint"), member, value);
    free(L->l[L->n - 1]);
    L->l[L->n - 1] = je_jcs_dumps(o, NULL);
    json_decref(o);
}

/* An entry line with one member replaced (hash kept: tampering). */
static char *tampered(const char *line, const char *member, json_t *value) {
    json_t *e = json_loads(line, 0, NULL);
    assert_non_null(e);
    json_object_set_new(e, member, value);
    char *s = je_jcs_dumps(e, NULL);
    json_decref(e);
    return s;
}

static char *join(const lines *L, const char *sep, size_t *len) {
    size_t n = 0, sl = strlen(sep);
    for (size_t i = 0; i < L->n; i++) n += strlen(L->l[i]) + sl;
    char *t = malloc(n + 1), *p = t;
    assert_non_null(t);
    for (size_t i = 0; i < L->n; i++) {
        size_t k = strlen(L->l[i]);
        memcpy(p, L->l[i], k);
        memcpy(p + k, sep, sl);
        p += k + sl;
    }
    *p = '\0';
    *len = n;
    return t;
}

static je_keyset published = {&key, 1};

/* The steps (je_export_begin, feed, end) as the CLI takes them, whole lines fed 1, 2 or 3 at a
 * time: the same result as je_export_verify, field by field. */
static void assert_stream_agrees(const char *t, size_t len, const je_export_result *want) {
    while (len && t[len - 1] == '\n') len--;
    if (len == 0) return; /* "empty" is je_export_verify's own */
    const char *last = t + len;
    while (last > t && last[-1] != '\n') last--;
    je_export_stream x;
    je_export_result r;
    if (je_export_begin(&x, last, (size_t)(t + len - last), je_keyset_verify, &published, &r) !=
        0) {
        r.first_bad_line = 1;
        for (const char *p = t; p < last; p++) r.first_bad_line += *p == '\n';
    } else {
        for (const char *p = t; p < last;) {
            const char *q = p;
            for (int k = 0; k < 1 + (int)((p - t) % 3) && q < last; k++)
                q = (const char *)memchr(q, '\n', (size_t)(last - q)) + 1;
            je_export_feed(&x, p, (size_t)(q - p));
            p = q;
        }
        assert_int_equal(je_export_end(&x), want->valid ? 0 : -1);
    }
    assert_int_equal(r.valid, want->valid);
    assert_int_equal(r.entries, want->entries);
    assert_int_equal(r.first_bad_line, want->first_bad_line);
    assert_int_equal(r.first_broken_sequence, want->first_broken_sequence);
    assert_int_equal(r.head_sequence, want->head_sequence);
    assert_string_equal(r.head_hash, want->head_hash);
    assert_string_equal(r.tenant, want->tenant);
    assert_string_equal(r.message, want->message);
}

static je_export_result verify_sep(const lines *L, const char *sep) {
    size_t len;
    char *t = join(L, sep, &len);
    je_export_result r;
    int rc = je_export_verify(t, len, je_keyset_verify, &published, &r);
    assert_int_equal(rc, r.valid ? 0 : -1);
    assert_stream_agrees(t, len, &r);
    free(t);
    return r;
}

static je_export_result verify(const lines *L) {
    return verify_sep(L, "\n");
}

static void assert_valid(const je_export_result *r, int64_t entries, int64_t head) {
    if (!r->valid)
        fail_msg("expected valid, got line %lld: %s", (long long)r->first_bad_line, r->message);
    assert_int_equal(r->entries, entries);
    assert_int_equal(r->head_sequence, head);
    assert_string_equal(r->head_hash, hashes[head]);
    assert_string_equal(r->tenant, TENANT);
    assert_int_equal(r->first_bad_line, 0);
    assert_int_equal(r->first_broken_sequence, 0);
}

static void assert_invalid(const je_export_result *r, int64_t line, int64_t seq) {
    assert_int_equal(r->valid, 0);
    if (r->first_bad_line != line || r->first_broken_sequence != seq)
        fail_msg("expected line %lld sequence %lld, got line %lld sequence %lld (%s)",
                 (long long)line, (long long)seq, (long long)r->first_bad_line,
                 (long long)r->first_broken_sequence, r->message);
    assert_true(r->message[0] != '\0');
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static int group_setup(void **state) {
    je_err err;
    if (je_key_generate(&key, T0, &err) != 0 || je_key_generate(&other_key, T0, &err) != 0)
        return -1;
    key.current = 1;
    strcpy(hashes[0], JE_AUDIT_ZERO_HASH);
    for (int i = 1; i <= BIG; i++) entry_text[i] = sealed_text(i, TENANT, hashes[i - 1], hashes[i]);
    return 0;
}

static int group_teardown(void **state) {
    for (int i = 1; i <= BIG; i++) free(entry_text[i]);
    return 0;
}

/* ---- valid exports ------------------------------------------------------------------------ */

static void test_valid(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    je_export_result r = verify(&L);
    assert_valid(&r, N, N);
    lines_free(&L);
}

static void test_valid_without_final_newline(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    size_t len;
    char *t = join(&L, "\n", &len);
    je_export_result r;
    assert_int_equal(je_export_verify(t, len - 1, je_keyset_verify, &published, &r), 0);
    assert_valid(&r, N, N);
    free(t);
    lines_free(&L);
}

/* A checkpoint signed by an earlier key that is still published verifies (key rotation). */
static void test_valid_with_any_published_key(void **state) {
    je_key both[2] = {other_key, key};
    je_keyset ks = {both, 2};
    lines L;
    make_export(&L, 1, N, &other_key);
    size_t len;
    char *t = join(&L, "\n", &len);
    je_export_result r;
    assert_int_equal(je_export_verify(t, len, je_keyset_verify, &ks, &r), 0);
    assert_valid(&r, N, N);
    free(t);
    lines_free(&L);
}

static void test_partial_export(void **state) {
    lines L;
    make_export(&L, 3, N, &key); /* fromSequence 3, fromPreviousHash = hash of entry 2 */
    je_export_result r = verify(&L);
    assert_valid(&r, N - 2, N);
    lines_free(&L);
}

static void test_partial_export_wrong_from_previous_hash(void **state) {
    lines L;
    memset(&L, 0, sizeof L);
    for (int i = 3; i <= N; i++) push(&L, strdup(entry_text[i]));
    push(&L, checkpoint_line(TENANT, 3, hashes[1], N, hashes[N], &key));
    je_export_result r = verify(&L);
    assert_invalid(&r, 1, 3);
    lines_free(&L);
}

/* The checkpoint says the range starts at 3 but the lines start at 1. */
static void test_entries_before_from_sequence(void **state) {
    lines L;
    memset(&L, 0, sizeof L);
    for (int i = 1; i <= N; i++) push(&L, strdup(entry_text[i]));
    push(&L, checkpoint_line(TENANT, 3, hashes[2], N, hashes[N], &key));
    je_export_result r = verify(&L);
    assert_invalid(&r, 1, 3);
    lines_free(&L);
}

static void test_empty_range(void **state) {
    lines L;
    memset(&L, 0, sizeof L);
    push(&L, checkpoint_line(TENANT, N + 1, hashes[N], N, hashes[N], &key));
    je_export_result r = verify(&L);
    assert_valid(&r, 0, N);
    lines_free(&L);
}

static void test_empty_chain(void **state) {
    lines L;
    memset(&L, 0, sizeof L);
    push(&L, checkpoint_line(TENANT, 1, JE_AUDIT_ZERO_HASH, 0, JE_AUDIT_ZERO_HASH, &key));
    je_export_result r = verify(&L);
    assert_valid(&r, 0, 0);
    lines_free(&L);
}

/* ---- tampering with entries --------------------------------------------------------------- */

static void test_changed_field(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    char *t = tampered(L.l[3], "reason", json_string("nothing to see"));
    free(L.l[3]);
    L.l[3] = t;
    je_export_result r = verify(&L);
    assert_invalid(&r, 4, 4);
    lines_free(&L);
}

static void test_changed_detail(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    json_t *e = json_loads(L.l[6], 0, NULL);
    json_object_set_new(json_object_get(json_object_get(e, "details"), "after"), "maxActive",
                        json_integer(5000));
    free(L.l[6]);
    L.l[6] = je_jcs_dumps(e, NULL);
    json_decref(e);
    je_export_result r = verify(&L);
    assert_invalid(&r, 7, 7);
    lines_free(&L);
}

/* Changed and re-hashed: the next entry's link breaks. */
static void test_changed_and_rehashed(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    json_t *e = json_loads(L.l[4], 0, NULL);
    json_object_set_new(e, "actorId", json_string("mallory"));
    char h[JE_AUDIT_HASH_LEN + 1];
    assert_int_equal(je_audit_entry_hash(e, h), 0);
    json_object_set_new(e, "hash", json_string(h));
    free(L.l[4]);
    L.l[4] = je_jcs_dumps(e, NULL);
    json_decref(e);
    je_export_result r = verify(&L);
    assert_invalid(&r, 6, 6);
    lines_free(&L);
}

/* The whole tail re-chained after a change: only the signed head gives it away. */
static void test_rechained_tail(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    char prev[JE_AUDIT_HASH_LEN + 1];
    strcpy(prev, hashes[4]);
    for (int i = 5; i <= N; i++) {
        json_t *e = make_entry(i, TENANT);
        if (i == 5) json_object_set_new(e, "reason", json_string("rewritten"));
        je_err err;
        assert_int_equal(je_audit_entry_seal(e, i, prev, &err), 0);
        strcpy(prev, json_string_value(json_object_get(e, "hash")));
        free(L.l[i - 1]);
        L.l[i - 1] = je_jcs_dumps(e, NULL);
        json_decref(e);
    }
    je_export_result r = verify(&L);
    assert_int_equal(r.valid, 0);
    assert_int_equal(r.first_bad_line, N + 1); /* the checkpoint's headHash is not entry N's */
    assert_non_null(strstr(r.message, "head"));
    lines_free(&L);
}

static void test_delete_first(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    remove_at(&L, 0);
    je_export_result r = verify(&L);
    assert_invalid(&r, 1, 1);
    lines_free(&L);
}

static void test_delete_middle(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    remove_at(&L, 4); /* entry 5 */
    je_export_result r = verify(&L);
    assert_invalid(&r, 5, 5);
    lines_free(&L);
}

/* The last entry removed, the checkpoint kept: the entries end before its head. */
static void test_delete_last(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    remove_at(&L, N - 1);
    je_export_result r = verify(&L);
    assert_invalid(&r, N, N); /* the checkpoint is now line N; sequence N is missing */
    assert_non_null(strstr(r.message, "head"));
    lines_free(&L);
}

static void test_truncate_tail(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    for (int i = 0; i < 3; i++) remove_at(&L, L.n - 2);
    je_export_result r = verify(&L);
    assert_invalid(&r, N - 2, N - 2);
    lines_free(&L);
}

static void test_reorder(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    swap(&L, 2, 3); /* entries 3 and 4 */
    je_export_result r = verify(&L);
    assert_invalid(&r, 3, 3);
    lines_free(&L);
}

static void test_duplicate_entry(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    free(L.l[5]);
    L.l[5] = strdup(L.l[4]); /* entry 5 twice, entry 6 gone */
    je_export_result r = verify(&L);
    assert_invalid(&r, 6, 6);
    lines_free(&L);
}

static void test_blank_line(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    free(L.l[2]);
    L.l[2] = strdup(""); /* an empty line where entry 3 was */
    je_export_result r = verify(&L);
    assert_invalid(&r, 3, 3);
    lines_free(&L);
}

/* A correctly chained entry 11 inserted before a checkpoint whose head is 10. */
static void test_append_before_checkpoint(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    char *cp = L.l[L.n - 1];
    L.l[L.n - 1] = strdup(entry_text[N + 1]);
    push(&L, cp);
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 2, N + 1);
    lines_free(&L);
}

/* The checkpoint must be the last line. */
static void test_append_after_checkpoint(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    push(&L, strdup(entry_text[N + 1]));
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 2, 0);
    lines_free(&L);
}

static void test_second_checkpoint_appended(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    push(&L, strdup(L.l[L.n - 1]));
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 1, N + 1); /* the first checkpoint stands where entry 11 should */
    lines_free(&L);
}

static void test_entry_of_another_tenant(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    /* a properly chained entry 4 that belongs to globex, the rest re-chained after it */
    char prev[JE_AUDIT_HASH_LEN + 1];
    strcpy(prev, hashes[3]);
    for (int i = 4; i <= N; i++) {
        free(L.l[i - 1]);
        L.l[i - 1] = sealed_text(i, i == 4 ? "globex" : TENANT, prev, prev);
    }
    free(L.l[N]);
    L.l[N] = checkpoint_line(TENANT, 1, JE_AUDIT_ZERO_HASH, N, prev, &key);
    je_export_result r = verify(&L);
    assert_invalid(&r, 4, 4);
    lines_free(&L);
}

/* ---- the checkpoint ------------------------------------------------------------------------ */

static void test_checkpoint_dropped(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    remove_at(&L, L.n - 1);
    je_export_result r = verify(&L);
    assert_invalid(&r, N, 0);
    lines_free(&L);
}

static void test_empty_text(void **state) {
    je_export_result r;
    assert_int_equal(je_export_verify("", 0, je_keyset_verify, &published, &r), -1);
    assert_int_equal(r.valid, 0);
    assert_int_equal(je_export_verify("\n\n", 2, je_keyset_verify, &published, &r), -1);
    assert_int_equal(r.valid, 0);
}

/* Truncation made to look consistent: head 9 with entry 9's hash, signature of head 10 kept. */
static void test_forged_head(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    remove_at(&L, N - 1);
    forge_checkpoint(&L, "headSequence", json_integer(N - 1));
    forge_checkpoint(&L, "headHash", json_string(hashes[N - 1]));
    je_export_result r = verify(&L);
    assert_invalid(&r, N, 0);
    assert_non_null(strstr(r.message, "signature"));
    lines_free(&L);
}

static void test_forged_fields(void **state) {
    static const char *const members[] = {"tenantId", "fromSequence", "fromPreviousHash",
                                          "issuedAt", "kid"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        lines L;
        make_export(&L, 1, N, &key);
        json_t *v = i == 1   ? json_integer(2)
                    : i == 2 ? json_string(hashes[1])
                    : i == 3 ? json_string("2030-01-01T00:00:00.000Z")
                    : i == 4 ? json_string(other_key.kid)
                             : json_string("globex");
        forge_checkpoint(&L, members[i], v);
        je_export_result r = verify(&L);
        assert_invalid(&r, N + 1, 0);
        lines_free(&L);
    }
}

static void test_forged_signature(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    json_t *o = json_loads(L.l[N], 0, NULL);
    char sig[128];
    snprintf(sig, sizeof sig, "%s", json_string_value(json_object_get(o, "signature")));
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    json_object_set_new(o, "signature", json_string(sig));
    free(L.l[N]);
    L.l[N] = je_jcs_dumps(o, NULL);
    /* not base64url at all */
    json_t *o2 = json_deep_copy(o);
    json_object_set_new(o2, "signature", json_string("!!!"));
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 1, 0);
    free(L.l[N]);
    L.l[N] = je_jcs_dumps(o2, NULL);
    r = verify(&L);
    assert_invalid(&r, N + 1, 0);
    json_decref(o);
    json_decref(o2);
    lines_free(&L);
}

static void test_unknown_key(void **state) {
    lines L;
    make_export(&L, 1, N, &other_key); /* other_key is not published */
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 1, 0);
    lines_free(&L);
}

/* A checkpoint with a member more or less than the seven, even when signed, is refused. */
static void test_checkpoint_shape(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    json_t *o = json_loads(L.l[N], 0, NULL);
    json_object_set_new(o, "note", json_string("extra"));
    free(L.l[N]);
    L.l[N] = je_jcs_dumps(o, NULL);
    json_decref(o);
    je_export_result r = verify(&L);
    assert_invalid(&r, N + 1, 0);
    lines_free(&L);
}

/* ---- line endings ------------------------------------------------------------------------- */

/* Entries are LF-separated. A CR before each LF is JSON whitespace: the values, and so every
 * hash and the signed checkpoint, are unchanged, so the export still verifies (as NDJSON and
 * JSON Lines readers accept CRLF). What the chain proves is the values, not the bytes. */
static void test_crlf(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    je_export_result r = verify_sep(&L, "\r\n");
    assert_valid(&r, N, N);
    lines_free(&L);
}

/* CR alone does not separate lines: the export is one line that is not a checkpoint. */
static void test_cr_only(void **state) {
    lines L;
    make_export(&L, 1, N, &key);
    je_export_result r = verify_sep(&L, "\r");
    assert_invalid(&r, 1, 0);
    lines_free(&L);
}

/* ---- size --------------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_large_export(void **state) {
    lines L;
    make_export(&L, 1, BIG, &key);
    double t0 = now_s();
    je_export_result r = verify(&L);
    double took = now_s() - t0;
    assert_valid(&r, BIG, BIG);
    print_message("%d entries verified in %.3f s\n", BIG, took);
    assert_true(took < 10.0); /* generous for sanitizer builds; ~0.1 s in a plain build */
    /* and one change deep inside is still found */
    char *t = tampered(L.l[BIG - 10], "ticket", json_string("OPS-1"));
    free(L.l[BIG - 10]);
    L.l[BIG - 10] = t;
    r = verify(&L);
    assert_invalid(&r, BIG - 9, BIG - 9);
    lines_free(&L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_valid_without_final_newline),
        cmocka_unit_test(test_valid_with_any_published_key),
        cmocka_unit_test(test_partial_export),
        cmocka_unit_test(test_partial_export_wrong_from_previous_hash),
        cmocka_unit_test(test_entries_before_from_sequence),
        cmocka_unit_test(test_empty_range),
        cmocka_unit_test(test_empty_chain),
        cmocka_unit_test(test_changed_field),
        cmocka_unit_test(test_changed_detail),
        cmocka_unit_test(test_changed_and_rehashed),
        cmocka_unit_test(test_rechained_tail),
        cmocka_unit_test(test_delete_first),
        cmocka_unit_test(test_delete_middle),
        cmocka_unit_test(test_delete_last),
        cmocka_unit_test(test_truncate_tail),
        cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_duplicate_entry),
        cmocka_unit_test(test_blank_line),
        cmocka_unit_test(test_append_before_checkpoint),
        cmocka_unit_test(test_append_after_checkpoint),
        cmocka_unit_test(test_second_checkpoint_appended),
        cmocka_unit_test(test_entry_of_another_tenant),
        cmocka_unit_test(test_checkpoint_dropped),
        cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_forged_head),
        cmocka_unit_test(test_forged_fields),
        cmocka_unit_test(test_forged_signature),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_checkpoint_shape),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_cr_only),
        cmocka_unit_test(test_large_export),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

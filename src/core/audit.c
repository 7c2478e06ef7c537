/* core/audit.c: the audit chain of domain.md §6. Owns the entry shape, the value rules (no reals,
 * integers within +-(2^53-1), valid UTF-8), the hash (SHA-256 of JCS without "hash") and the
 * incremental verifier. Pure: the caller stores and loads entries. */
#include "core/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/jcs.h"
#include "core/limits.h"
#include "core/text.h"
#include "core/timefmt.h"

static int set_str(json_t *o, const char *key, const char *s) {
    json_t *v = s ? json_string(s) : json_null();
    if (!v) return -1;
    return json_object_set_new(o, key, v);
}

static int set_fields(json_t *o, const je_audit_fields *f) {
    char when[JE_TIME_BUF];
    if (set_str(o, "entryId", f->entry_id) || set_str(o, "tenantId", f->tenant_id) ||
        set_str(o, "eventType", f->event_type) || set_str(o, "resourceType", f->resource_type) ||
        set_str(o, "resourceId", f->resource_id) || set_str(o, "actorId", f->actor_id) ||
        set_str(o, "actorType", f->actor_type) || set_str(o, "reason", f->reason) ||
        set_str(o, "ticket", f->ticket))
        return -1;
    return set_str(o, "occurredAt", je_time_format(f->occurred_ms, when));
}

json_t *je_audit_entry_new(const je_audit_fields *f) {
    if (!f) return NULL;
    json_t *details = f->details ? f->details : json_object();
    if (!f->entry_id || !f->tenant_id || !f->event_type || !f->actor_type) {
        json_decref(details);
        return NULL;
    }
    json_t *o = json_object();
    if (!o || set_fields(o, f) || json_object_set_new(o, "details", details)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* 1 when v and everything below it follow the value rules. */
static int values_ok(const json_t *v) {
    const char *key;
    size_t klen, i;
    json_t *child;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return 0;
    case JSON_INTEGER:
        return json_integer_value(v) >= -JE_MAX_INT53 && json_integer_value(v) <= JE_MAX_INT53;
    case JSON_STRING:
        return je_utf8_valid(json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        json_array_foreach(v, i, child) {
            if (!values_ok(child)) return 0;
        }
        return 1;
    case JSON_OBJECT:
        json_object_keylen_foreach((json_t *)v, key, klen, child) {
            if (!je_utf8_valid(key, klen) || !values_ok(child)) return 0;
        }
        return 1;
    default:
        return 1;
    }
}

static int is_hash(const char *s) {
    if (!s || strlen(s) != JE_AUDIT_HASH_LEN) return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    }
    return 1;
}

int je_audit_entry_hash(const json_t *entry, char out[JE_AUDIT_HASH_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    if (!json_is_object(entry)) return -1;
    json_t *copy = json_deep_copy(entry);
    if (!copy) return -1;
    json_object_del(copy, "hash");
    size_t len = 0;
    char *canon = je_jcs_dumps(copy, &len);
    json_decref(copy);
    if (!canon) return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(canon, len, md, &mdlen, EVP_sha256(), NULL);
    free(canon);
    if (!ok || mdlen != JE_AUDIT_HASH_LEN / 2) return -1;
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xF];
    }
    out[JE_AUDIT_HASH_LEN] = '\0';
    return 0;
}

int je_audit_entry_seal(json_t *entry, int64_t sequence, const char *previous_hash, je_err *err) {
    char h[JE_AUDIT_HASH_LEN + 1];
    if (!json_is_object(entry)) return je_err_set(err, "AUDIT_INVALID", "entry is not an object");
    if (sequence < 1 || sequence > JE_MAX_INT53)
        return je_err_set(err, "AUDIT_INVALID", "sequence %lld out of range", (long long)sequence);
    if (!is_hash(previous_hash))
        return je_err_set(err, "AUDIT_INVALID", "previousHash is not 64 lowercase hex digits");
    if (json_object_set_new(entry, "sequence", json_integer(sequence)) ||
        json_object_set_new(entry, "previousHash", json_string(previous_hash)))
        return je_err_set(err, "AUDIT_INVALID", "cannot set sequence or previousHash");
    json_object_del(entry, "hash");
    if (!values_ok(entry))
        return je_err_set(err, "AUDIT_INVALID",
                          "entry holds a real, an integer beyond 2^53-1 or invalid UTF-8");
    if (je_audit_entry_hash(entry, h) != 0)
        return je_err_set(err, "AUDIT_INVALID", "entry cannot be canonicalised");
    if (json_object_set_new(entry, "hash", json_string(h)))
        return je_err_set(err, "AUDIT_INVALID", "cannot set hash");
    return 0;
}

void je_audit_verifier_init(je_audit_verifier *v, int64_t from_sequence,
                            const char *from_prev_hash) {
    memset(v, 0, sizeof *v);
    v->next_sequence = from_sequence;
    snprintf(v->prev_hash, sizeof v->prev_hash, "%s",
             from_prev_hash ? from_prev_hash : JE_AUDIT_ZERO_HASH);
    v->valid = 1;
}

/* 1 when entry is the next link of the chain v describes. */
static int entry_links(const je_audit_verifier *v, const json_t *entry) {
    char h[JE_AUDIT_HASH_LEN + 1];
    if (!json_is_object(entry)) return 0;
    json_t *seq = json_object_get(entry, "sequence");
    if (!json_is_integer(seq) || json_integer_value(seq) != v->next_sequence) return 0;
    const char *prev = json_string_value(json_object_get(entry, "previousHash"));
    if (!prev || strcmp(prev, v->prev_hash) != 0) return 0;
    const char *hash = json_string_value(json_object_get(entry, "hash"));
    if (!is_hash(hash) || !values_ok(entry)) return 0;
    if (je_audit_entry_hash(entry, h) != 0) return 0;
    return strcmp(h, hash) == 0;
}

int je_audit_verifier_feed(je_audit_verifier *v, const json_t *entry) {
    if (!v->valid) return -1;
    if (!entry_links(v, entry)) {
        v->valid = 0;
        v->first_broken = v->next_sequence;
        return -1;
    }
    memcpy(v->prev_hash, json_string_value(json_object_get(entry, "hash")), JE_AUDIT_HASH_LEN + 1);
    v->next_sequence++;
    v->entries++;
    return 0;
}

int je_audit_verifier_feed_text(je_audit_verifier *v, const char *text, size_t len) {
    if (!v->valid) return -1;
    json_t *entry =
        text ? json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL) : NULL;
    int rc = je_audit_verifier_feed(v, entry);
    json_decref(entry);
    return rc;
}

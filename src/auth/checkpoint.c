/* auth/checkpoint.c: signed checkpoints (see checkpoint.h). */
#include "auth/checkpoint.h"
#include "auth/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit_export.h"
#include "core/jcs.h"

int je_store_current_key(je_store *s, je_key *out, je_err *err) {
    static _Thread_local je_key keys[JE_MAX_KEYS];
    size_t n = 0;
    if (s->ops->key_list(s, keys, JE_MAX_KEYS, &n, err) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (keys[i].current) return *out = keys[i], 0;
    return je_err_set(err, "KEYS", "no current signing key");
}

int je_checkpoint_sign(const je_key *k, const char *tenant, int64_t from_sequence,
                       const char *from_prev_hash, int64_t head_sequence, const char *head_hash,
                       int64_t now_ms, je_checkpoint_record *out, je_err *err) {
    json_t *cp = je_checkpoint_new(tenant, from_sequence, from_prev_hash, head_sequence, head_hash,
                                   now_ms, k->kid);
    size_t len = 0;
    char *msg = cp ? je_jcs_dumps(cp, &len) : NULL;
    json_decref(cp);
    unsigned char sig[64];
    if (!msg || len >= sizeof out->checkpoint_json || je_ed25519_sign(k, msg, len, sig, err) != 0)
        return free(msg), je_err_set(err, "KEYS", "cannot sign the checkpoint");
    memset(out, 0, sizeof *out);
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", tenant);
    out->head_sequence = head_sequence;
    snprintf(out->head_hash, sizeof out->head_hash, "%s", head_hash);
    memcpy(out->checkpoint_json, msg, len + 1);
    je_export_b64url(sig, sizeof sig, out->signature);
    snprintf(out->kid, sizeof out->kid, "%s", k->kid);
    out->issued_ms = now_ms;
    free(msg);
    return 0;
}

char *je_checkpoint_line(const je_checkpoint_record *c) {
    json_t *cp = json_loads(c->checkpoint_json, 0, NULL);
    json_t *o =
        json_pack("{s:o, s:s}", "checkpoint", cp ? cp : json_null(), "signature", c->signature);
    char *line = je_jcs_dumps(o, NULL);
    json_decref(o);
    return line;
}

int je_keyset_verify(void *ctx, const char *kid, const void *msg, size_t len,
                     const unsigned char *sig, size_t sig_len) {
    const je_keyset *ks = ctx;
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->keys[i].kid, kid) == 0)
            return je_ed25519_verify(&ks->keys[i], msg, len, sig, sig_len);
    return 0;
}

int je_checkpoint_valid(const je_checkpoint_record *c, const je_key *keys, size_t n) {
    unsigned char sig[128];
    size_t sl = 0;
    if (je_export_unb64url(c->signature, strlen(c->signature), sig, sizeof sig, &sl) != 0) return 0;
    je_keyset ks = {keys, n};
    return je_keyset_verify(&ks, c->kid, c->checkpoint_json, strlen(c->checkpoint_json), sig, sl);
}

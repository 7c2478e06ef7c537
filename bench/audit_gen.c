/* bench/audit_gen.c: writes an audit export of N entries, exactly as GET /jobengine/audit/export
 * would give it (domain.md §6, api.md §3.6), without a server: the project's own core builds and
 * seals every entry (je_audit_entry_new, je_audit_entry_seal: sequence, previousHash, hash =
 * SHA-256 of the JCS form without "hash") and each line is the entry's JCS text, as the store
 * keeps it; the last line is the checkpoint {tenantId, fromSequence 1, fromPreviousHash zeros,
 * headSequence N, headHash, issuedAt, kid}, signed with Ed25519 over its JCS form by a key made
 * here (je_key_generate), as {"checkpoint": ..., "signature": "<base64url>"}. The key's public
 * JWK goes to JWKS as {"keys": [...]}, the form of GET /jwks. audit_bench.sh verifies the file
 * with `jobengine audit verify --file EXPORT --jwks JWKS`.
 *
 * The entries repeat a mix seen in real chains: of every 10, 6 granted token requests
 * (authority.client_credentials.grant), 2 refused ones (missing quota_reason), 1 quota change
 * (quota.updated with before, after and the token's justification) and 1 job-lease-sized
 * backfill event (backfill.started). Prints "N entry_bytes average_entry_bytes seconds".
 *
 *   usage: audit_gen EXPORT JWKS N [TENANT]
 *   build: see audit_bench.sh (cc -O2 -D_GNU_SOURCE -Isrc with the sources of src/core and
 *          src/auth/{keys,b64url,checkpoint}.c, -ljansson -lcrypto -lm)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/keys.h"
#include "core/audit.h"
#include "core/audit_export.h"
#include "core/jcs.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *quota_config(const char *id, long long max_active, long long version) {
    return json_pack("{s:I, s:n, s:s, s:I, s:I, s:n, s:n, s:b, s:s, s:s, s:I}", "burstCapacity",
                     (json_int_t)50, "elevation", "jobType", "scan.image", "maxActive",
                     (json_int_t)max_active, "maxPerHour", (json_int_t)1000, "pauseReason",
                     "pauseTicket", "paused", 0, "quotaId", id, "refillPerSecond", "0.5", "version",
                     (json_int_t)version);
}

/* The fields of entry i (details are built fresh: je_audit_entry_new steals them). */
static json_t *make_entry(long long i, const char *tenant, long long ms) {
    char entry_id[37], jti[37];
    je_uuid7(ms, entry_id);
    je_uuid7(ms, jti);
    je_audit_fields f = {
        .entry_id = entry_id, .tenant_id = tenant, .actor_type = "client", .occurred_ms = ms};
    int kind = (int)(i % 10);
    if (kind < 6) { /* a granted token */
        f.event_type = "authority.client_credentials.grant";
        f.resource_type = "client";
        f.resource_id = f.actor_id = "scan-worker-7";
        f.details =
            json_pack("{s:s, s:s, s:s, s:[s, s], s:s}", "client_id", "scan-worker-7", "jti", jti,
                      "outcome", "granted", "scope", "orch:jobs", "orch:read", "tenant", tenant);
    } else if (kind < 8) { /* a refused one */
        f.event_type = "authority.client_credentials.grant";
        f.resource_type = "client";
        f.resource_id = f.actor_id = "ops-bot";
        f.details = json_pack(
            "{s:s, s:s, s:s, s:n, s:n, s:[s], s:s}", "client_id", "ops-bot", "error_description",
            "quota_reason is required when scope includes orch:quota", "outcome", "invalid_request",
            "quota.reason", "quota.ticket", "scope", "orch:quota", "tenant", tenant);
    } else if (kind == 8) { /* a quota change */
        static const char quota_id[] = "0193f7c2-6260-7245-86bc-abbdc4eb5f25";
        f.event_type = "quota.updated";
        f.resource_type = "quota";
        f.resource_id = quota_id;
        f.actor_id = "ops-bot";
        f.reason = "black friday scan surge";
        f.ticket = "OPS-4411";
        f.details = json_pack("{s:o, s:o, s:{s:s, s:s, s:s}}", "after",
                              quota_config(quota_id, 20 + i % 7, i / 10 + 2), "before",
                              quota_config(quota_id, 10 + i % 5, i / 10 + 1), "token", "jti", jti,
                              "reason", "black friday scan surge", "ticket", "OPS-4411");
    } else { /* a backfill moving */
        f.event_type = "backfill.started";
        f.resource_type = "backfill";
        f.resource_id = jti;
        f.actor_id = "ops-bot";
        f.reason = "re-ingest after parser fix";
        f.ticket = "SEC-2231";
        f.details =
            json_pack("{s:s, s:s, s:{s:s, s:s, s:n}}", "from", "pending", "to", "running", "token",
                      "jti", entry_id, "reason", "re-ingest after parser fix", "ticket");
    }
    return je_audit_entry_new(&f);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: audit_gen EXPORT JWKS N [TENANT]\n");
        return 2;
    }
    long long n = atoll(argv[3]);
    const char *tenant = argc == 5 ? argv[4] : "bench";
    if (n < 1) {
        fprintf(stderr, "audit_gen: N must be positive\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    double t0 = now_s();
    long long ms = (long long)time(NULL) * 1000 - n * 5;
    char prev[JE_AUDIT_HASH_LEN + 1] = JE_AUDIT_ZERO_HASH;
    long long bytes = 0;
    je_err err;
    for (long long i = 1; i <= n; i++, ms += 5) {
        json_t *e = make_entry(i, tenant, ms);
        size_t len = 0;
        char *line = NULL;
        if (!e || je_audit_entry_seal(e, i, prev, &err) != 0 || !(line = je_jcs_dumps(e, &len))) {
            fprintf(stderr, "audit_gen: entry %lld: %s\n", i, e ? err.message : "cannot build");
            return 1;
        }
        memcpy(prev, json_string_value(json_object_get(e, "hash")), sizeof prev);
        fwrite(line, 1, len, out);
        fputc('\n', out);
        bytes += (long long)len;
        free(line);
        json_decref(e);
    }

    je_key key;
    if (je_key_generate(&key, ms, &err) != 0) {
        fprintf(stderr, "audit_gen: key: %s\n", err.message);
        return 1;
    }
    json_t *cp = je_checkpoint_new(tenant, 1, JE_AUDIT_ZERO_HASH, n, prev, ms, key.kid);
    size_t mlen = 0;
    char *msg = je_jcs_dumps(cp, &mlen);
    unsigned char sig[64];
    char sig64[128];
    if (!msg || je_ed25519_sign(&key, msg, mlen, sig, &err) != 0) {
        fprintf(stderr, "audit_gen: cannot sign the checkpoint\n");
        return 1;
    }
    je_export_b64url(sig, sizeof sig, sig64);
    json_t *o = json_pack("{s:O, s:s}", "checkpoint", cp, "signature", sig64);
    char *cp_line = je_jcs_dumps(o, NULL);
    fprintf(out, "%s\n", cp_line);
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    json_t *jwks = json_pack("{s:[o]}", "keys", je_key_jwk(&key));
    if (json_dump_file(jwks, argv[2], JSON_COMPACT) != 0) {
        fprintf(stderr, "audit_gen: cannot write %s\n", argv[2]);
        return 1;
    }
    printf("%lld %lld %.1f %.2f\n", n, bytes, (double)bytes / (double)n, now_s() - t0);
    free(msg);
    free(cp_line);
    json_decref(o);
    json_decref(cp);
    json_decref(jwks);
    return 0;
}

/* bench/audit_verify_driver.c: offline verification of an audit export with the project's own
 * verifier (core/audit_export.c je_export_verify, signature by auth/checkpoint.c
 * je_keyset_verify over the keys of a JWKS file), timed without the file loading. It is the
 * verifier `jobengine audit verify --file EXPORT --jwks JWKS` runs, over the whole export held in
 * memory; the command instead feeds it 256 KiB blocks as it reads them (je_export_begin/feed/end),
 * which keeps what it scans in the cache, so on a large export the command can be the faster of
 * the two. audit_bench.sh uses it when that command is not in the build, and prints it beside the
 * command with DRIVER=1. Prints "valid entries seconds entries_per_second" on stdout; exits 1 when
 * the export is not valid.
 *
 *   usage: audit_verify_driver EXPORT JWKS
 *   build: see audit_bench.sh (cc -O2 -D_GNU_SOURCE -Isrc with the sources of src/core and
 *          src/auth/{keys,b64url,checkpoint}.c, -ljansson -lcrypto -lm)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/checkpoint.h"
#include "auth/keys.h"
#include "core/audit_export.h"

#define MAX_KEYS 64

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf) fprintf(stderr, "audit_verify_driver: out of memory\n");
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: audit_verify_driver EXPORT JWKS\n");
        return 2;
    }
    json_error_t jerr;
    json_t *jwks = json_load_file(argv[2], 0, &jerr);
    json_t *arr = json_object_get(jwks, "keys");
    static je_key keys[MAX_KEYS];
    size_t nkeys = 0, i;
    json_t *jwk;
    je_err err;
    json_array_foreach(arr, i, jwk) {
        if (nkeys < MAX_KEYS && je_key_from_jwk(jwk, &keys[nkeys], &err) == 0) nkeys++;
    }
    json_decref(jwks);
    if (nkeys == 0) {
        fprintf(stderr, "audit_verify_driver: %s holds no Ed25519 key\n", argv[2]);
        return 2;
    }
    size_t len = 0;
    char *text = slurp(argv[1], &len);
    if (!text) return 2;
    je_keyset ks = {keys, nkeys};
    je_export_result r;
    double t0 = now_s();
    int rc = je_export_verify(text, len, je_keyset_verify, &ks, &r);
    double secs = now_s() - t0;
    free(text);
    if (rc != 0) {
        fprintf(stderr, "audit_verify_driver: not valid: line %lld: %s\n",
                (long long)r.first_bad_line, r.message);
        printf("false %lld %.3f 0\n", (long long)r.entries, secs);
        return 1;
    }
    printf("true %lld %.3f %.1f\n", (long long)r.entries, secs, (double)r.entries / secs);
    return 0;
}

/* tests/fuzz/fuzz_kit.h: what the handler targets share. A request is built without a socket
 * through the seam of http/http.h (r->lookup, r->send), as tests/unit/test_gate_change.c does,
 * and handed to the real handlers of src/api over a real je_app whose store is a stub
 * (fuzz_store.c): every operation answers at once from fixed records, runs the callbacks the
 * real backends run (quota and backfill decisions, audit sealing, idempotent replies) and checks
 * what a real backend would refuse to store. So a handler's own code — body parsing,
 * validation, the core rules, the replies — runs as it does in the server, at fuzzing speed.
 *
 * Input of a handler target: an optional first line naming the route (fz_route), then header
 * lines "Name: value" up to an empty line, then the body. Input with no empty line is all body.
 *
 * Every reply is checked (fz_req_finish): the handler replied, the status is not 5xx (the stub
 * store never fails, so a 5xx is a defect), and a JSON reply parses. A failed check abort()s,
 * which libFuzzer reports as a crash with the input. */
#ifndef JE_FUZZ_KIT_H
#define JE_FUZZ_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "api/app.h"
#include "auth/principal.h"
#include "http/http.h"

#define FZ_MAX_FIELDS 16

typedef struct fz_req {
    je_req r; /* first: lookup and send get &f->r */
    const char *hdr[FZ_MAX_FIELDS][2];
    size_t n_hdr;
    const char *query[FZ_MAX_FIELDS][2];
    size_t n_query;
    je_principal p;
    int sends;
} fz_req;

/* The client the stub store knows: it may act for FZ_TENANT and FZ_TENANT2, with every role. */
#define FZ_CLIENT "fuzz-client"
#define FZ_SECRET "fuzz-secret"
#define FZ_TENANT "t1"
#define FZ_TENANT2 "t2"

/* The app, made once (stub store, a real keyring and verifier, the server's defaults). */
je_app *fz_app(void);
/* The stub store alone (fuzz_store.c). */
je_store *fz_store(void);

/* A request for method and path (copied), with an arena and no headers. */
fz_req *fz_req_new(const char *method, const char *path);
/* As the gate would have admitted it: FZ_CLIENT for FZ_TENANT with every scope. */
void fz_req_admit(fz_req *f);
/* Adds a header (name and value copied into the arena). */
void fz_req_header(fz_req *f, const char *name, const char *value);
/* Adds a query parameter, decoded as libmicrohttpd decodes them ('+' and %XX). */
void fz_req_query_string(fz_req *f, const char *qs, size_t n);
/* Reads header lines and the body from data as described above. content_type is added unless a
 * Content-Type line is given. Every FZ_BEARER_MARK in data stands for fz_bearer(): a token that
 * verifies, which no fuzzer could forge. */
#define FZ_BEARER_MARK "@BEARER@"
void fz_req_read(fz_req *f, const uint8_t *data, size_t size, const char *content_type);
/* Checks the reply (see above; abort() on a failed check) and frees the request. */
void fz_req_finish(fz_req *f);

/* The route an input names on its first line, "WORD[ ARG]": the index of WORD in words (n of
 * them), else the first byte modulo n; arg gets ARG ("" when none; cap bytes with its NUL, which
 * also ends it early when ARG holds one). *data and *size move past the line. */
size_t fz_route(const uint8_t **data, size_t *size, const char *const *words, size_t n, char *arg,
                size_t cap);

/* id as routing would capture it for a path parameter (one segment: up to a '/'), or dflt when
 * routing would have matched no route (empty, not UTF-8). */
void fz_path_param(char *id, const char *dflt);

/* A bearer token for FZ_CLIENT and FZ_TENANT with every scope, signed by the app's key. */
const char *fz_bearer(void);

/* Aborts with a message when cond is false: the check of a property. */
#define FZ_CHECK(cond, what) fz_check((cond), (what), __FILE__, __LINE__)
void fz_check(int cond, const char *what, const char *file, int line);

#endif

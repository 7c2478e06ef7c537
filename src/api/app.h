/* api/app.h: the running service: its configuration, store, keys and token verifier, shared by
 * every handler. Owned by `serve` (cli/cmd_serve.c). */
#ifndef JE_API_APP_H
#define JE_API_APP_H

#include <stdint.h>
#include "auth/keyring.h"
#include "auth/verifier.h"
#include "http/http.h"
#include "store/store.h"

typedef struct je_config {
    char listen[128];
    char store_url[1024];
    char issuer[512];
    char audience[64];
    unsigned threads;
    int64_t token_ttl_s;
    int64_t elevated_token_ttl_s;
} je_config;

typedef struct je_app {
    je_config cfg;
    je_store *store;
    je_keyring keyring;
    je_verifier verifier;
} je_app;

/* Sets up keys and the verifier over an open store. */
int je_app_init(je_app *app, je_store *store, const je_config *cfg, je_err *err);
void je_app_destroy(je_app *app);

/* The entry point every request goes through: routing, the gate, then the handler. */
void je_app_handle(je_req *r, void *app);

#endif

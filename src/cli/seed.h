/* cli/seed.h: making clients: one at a time (client add), from a bootstrap file for offline
 * installs, and the demo tenant of `make run`. */
#ifndef JE_CLI_SEED_H
#define JE_CLI_SEED_H

#include <stdio.h>
#include "store/store.h"

#define JE_SECRET_MAX 256

/* Fills c from its parts, checking every rule of docs/api.md "Identifiers". secret NULL: a new
 * one of 256 random bits is generated and written to secret_out (>= JE_SECRET_MAX + 1). */
int je_client_make(je_client *c, const char *id, const char *const *tenants, size_t n_tenants,
                   const char *const *roles, size_t n_roles, const char *secret, char *secret_out,
                   je_err *err);
/* Sets a client's secret (given, or generated into secret_out). */
int je_client_set_secret(je_client *c, const char *secret, char *secret_out, je_err *err);

/* Adds or replaces the clients of a bootstrap file:
 * {"clients": [{"clientId", "tenants": [...], "roles": [...], "secret" | "secretSha256"}]}.
 * All are checked before any is stored. */
int je_seed_bootstrap(je_store *s, const char *path, je_err *err);
/* When the store holds no client: tenant "demo" with demo-admin, demo-operator, demo-worker and
 * demo-viewer, their secrets printed once to out. */
int je_seed_demo(je_store *s, const char *listen, FILE *out, je_err *err);

#endif

/* api/app.h: the running service: its configuration, store, keys and token verifier, shared by
 * every handler. Owned by `serve` (cli/cmd_serve.c). */
#ifndef JE_API_APP_H
#define JE_API_APP_H

#include <stdint.h>
#include "auth/keyring.h"
#include "auth/verifier.h"
#include "http/http.h"
#include "store/store.h"

/* A policy-ceiling override from the config file (docs/api.md "Quotas"). */
typedef struct je_ceiling_override {
    char tenant[JE_TENANT_MAX + 1];    /* "" for any tenant */
    char job_type[JE_JOBTYPE_MAX + 1]; /* "" for any job type */
    int has[4];                        /* which of the four limits it sets */
    je_quota_limits limits;
} je_ceiling_override;

#define JE_MAX_CEILING_OVERRIDES 256

typedef struct je_config {
    char listen[128];
    char store_url[1024];
    char issuer[512];
    char audience[64];
    char metrics_listen[128]; /* "" when /metrics is not served */
    je_http_limits http;      /* threads and the limits on clients */
    int64_t token_ttl_s;
    int64_t elevated_token_ttl_s;
    int64_t max_attempts;        /* attempts of a job before it stays failed */
    double backfill_share;       /* of a quota's maxActive, for backfill batch jobs */
    int unquoted_allowed;        /* a job type with no quota (nor "*") is not limited */
    int console_off;             /* --console off: /console/ is not routed (0: served) */
    je_backfill_limits backfill; /* safety-check limits and the suppression period */
    int64_t backfill_in_flight;  /* batch jobs outstanding per running backfill */
    int64_t ledger_retention_ms; /* ledger entries older than this (event time) are pruned */
    int64_t checkpoint_every_n, checkpoint_every_ms; /* signed audit checkpoints */
    je_quota_limits ceiling;                         /* global policy ceilings */
    size_t n_overrides;
    je_ceiling_override overrides[JE_MAX_CEILING_OVERRIDES];
} je_config;

/* The ceilings for (tenant, job type): per field, the most specific override, else global. */
void je_config_ceiling(const je_config *cfg, const char *tenant, const char *job_type,
                       je_quota_limits *out);

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

/* api/app.c: wiring of the running service. */
#include "api/app.h"

#include "api/backfill_view.h"
#include "api/metrics.h"
#include "api/quota_view.h"

#include <string.h>

static const je_store_hooks store_hooks = {je_quota_elevation_expired_entry,
                                           je_backfill_engine_entry, je_metric_batch_committed,
                                           je_metric_audit_appended};

int je_app_init(je_app *app, je_store *store, const je_config *cfg, je_err *err) {
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->store = store;
    store->hooks = &store_hooks; /* engine transitions are audited like the others */
    je_api_metrics_init();
    if (je_keyring_init(&app->keyring, store, je_now_ms(), err) != 0) return -1;
    return je_verifier_init(&app->verifier, &app->keyring, store, app->cfg.issuer,
                            app->cfg.audience, err);
}

void je_app_destroy(je_app *app) {
    je_verifier_destroy(&app->verifier);
    je_keyring_destroy(&app->keyring);
}

/* Specificity of an override for (tenant, job type): 3 both match, 2 tenant, 1 job type, 0 the
 * override names neither, -1 does not apply. */
static int override_rank(const je_ceiling_override *o, const char *tenant, const char *job_type) {
    int t = o->tenant[0] != '\0', j = o->job_type[0] != '\0';
    if ((t && strcmp(o->tenant, tenant) != 0) || (j && strcmp(o->job_type, job_type) != 0))
        return -1;
    return t * 2 + j;
}

void je_config_ceiling(const je_config *cfg, const char *tenant, const char *job_type,
                       je_quota_limits *out) {
    *out = cfg->ceiling;
    int best[4] = {-1, -1, -1, -1};
    for (size_t i = 0; i < cfg->n_overrides; i++) {
        const je_ceiling_override *o = &cfg->overrides[i];
        int rank = override_rank(o, tenant, job_type);
        if (rank < 0) continue;
        if (o->has[0] && rank > best[0]) out->max_active = o->limits.max_active, best[0] = rank;
        if (o->has[1] && rank > best[1]) out->max_per_hour = o->limits.max_per_hour, best[1] = rank;
        if (o->has[2] && rank > best[2])
            out->burst_capacity = o->limits.burst_capacity, best[2] = rank;
        if (o->has[3] && rank > best[3])
            out->refill_per_second = o->limits.refill_per_second, best[3] = rank;
    }
}

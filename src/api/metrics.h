/* api/metrics.h: what JobEngine counts (names and labels in one place) and GET /metrics. */
#ifndef JE_API_METRICS_H
#define JE_API_METRICS_H

#include <stdint.h>
#include "http/http.h"

/* Declares every family once at start. */
void je_api_metrics_init(void);
/* The metrics listener's handler (--metrics-listen): GET /metrics, and 404 for anything else. */
void je_api_metrics_serve(je_req *r, void *cls);
void je_metric_request(const char *route, const char *method, int status, double seconds);
/* via: "acquire" or "lease"; outcome: "granted", "exhausted", "paused". */
void je_metric_decision(const char *tenant, const char *job_type, const char *via,
                        const char *outcome, int64_t n);
void je_metric_token(const char *outcome);
void je_metric_job_completed(const char *tenant, const char *job_type, const char *status);
void je_metric_dedup(const char *tenant, int64_t fresh, int64_t dups);
/* engine sweeps: "lease_expirations", "permit_expirations", "backfill_batches_submitted",
 * "elevations_expired", "checkpoints" */
void je_metric_engine(const char *what, int64_t n);
/* store hooks */
void je_metric_batch_committed(double seconds, int64_t writes, int ok);
void je_metric_audit_appended(const char *event_type);
/* Capacity pools and circuit breakers (issue 15). */
void je_metric_pool_refused(const char *job_type, const char *via, const char *cap);
void je_metric_breaker_held(const char *job_type, const char *via);

#endif

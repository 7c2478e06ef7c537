/* http/metrics.h: the process's metrics registry, rendered as Prometheus text by GET /metrics.
 * Counters and histograms keyed by name and label set; thread-safe; series are bounded
 * (JE_METRICS_MAX_SERIES) so a flood of label values cannot exhaust memory — past the bound,
 * new series are dropped and counted in jobengine_metrics_series_dropped_total. */
#ifndef JE_HTTP_METRICS_H
#define JE_HTTP_METRICS_H

#include <stdint.h>
#include "core/buf.h"

#define JE_METRICS_MAX_SERIES 20000

/* Adds n to the counter name{labels}; labels is the rendered label list without braces
 * ("tenant=\"acme\",job_type=\"scan\""), "" for none. Label values are escaped by the caller
 * with je_metrics_label. */
void je_metrics_add(const char *name, const char *labels, int64_t n);
/* Sets a gauge. */
void je_metrics_set(const char *name, const char *labels, double v);
/* Observes v (seconds) in the histogram name{labels} (fixed latency buckets). */
void je_metrics_observe(const char *name, const char *labels, double v);
/* Appends key="value" (value escaped per the exposition format) to out, comma first when out
 * is not empty. */
void je_metrics_label(je_buf *out, const char *key, const char *value);
/* Declares a family's help text and type ("counter", "gauge", "histogram") for rendering. */
void je_metrics_describe(const char *name, const char *type, const char *help);
/* The whole registry in Prometheus text format 0.0.4. */
void je_metrics_render(je_buf *out);

#endif

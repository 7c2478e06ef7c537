/* http/metrics.c: the metrics registry (see metrics.h). One mutex guards an open-addressing
 * table of series; updates are a hash, a probe and an add. */
#include "http/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE 32768 /* > JE_METRICS_MAX_SERIES, power of two */
#define FAMILIES 64
#define NBUCKETS 14

static const double buckets[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};

typedef struct series {
    char *name, *labels;
    int kind; /* 0 counter, 1 gauge, 2 histogram */
    double value, sum;
    int64_t count, bucket[NBUCKETS];
} series;

static series table[TABLE];
static size_t n_series;
static int64_t dropped;
static struct { char name[96], type[16], help[160]; } families[FAMILIES];
static size_t n_families;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hash2(const char *a, const char *b) {
    uint64_t h = 1469598103934665603ull;
    for (; *a; a++) h = (h ^ (unsigned char)*a) * 1099511628211ull;
    h = (h ^ '{') * 1099511628211ull;
    for (; *b; b++) h = (h ^ (unsigned char)*b) * 1099511628211ull;
    return h;
}

/* The series of name{labels}, created on first use; NULL past the bound. mu held. */
static series *find(const char *name, const char *labels, int kind) {
    size_t i = hash2(name, labels) & (TABLE - 1);
    for (;; i = (i + 1) & (TABLE - 1)) {
        series *s = &table[i];
        if (!s->name) break;
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0) return s;
    }
    if (n_series >= JE_METRICS_MAX_SERIES) return dropped++, NULL;
    series *s = &table[i];
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (!s->name || !s->labels) abort();
    s->kind = kind;
    n_series++;
    return s;
}

void je_metrics_add(const char *name, const char *labels, int64_t n) {
    pthread_mutex_lock(&mu);
    series *s = find(name, labels ? labels : "", 0);
    if (s) s->value += (double)n;
    pthread_mutex_unlock(&mu);
}

void je_metrics_set(const char *name, const char *labels, double v) {
    pthread_mutex_lock(&mu);
    series *s = find(name, labels ? labels : "", 1);
    if (s) s->value = v;
    pthread_mutex_unlock(&mu);
}

void je_metrics_observe(const char *name, const char *labels, double v) {
    pthread_mutex_lock(&mu);
    series *s = find(name, labels ? labels : "", 2);
    if (s) {
        s->count++;
        s->sum += v;
        for (int b = 0; b < NBUCKETS; b++)
            if (v <= buckets[b]) s->bucket[b]++;
    }
    pthread_mutex_unlock(&mu);
}

/* Without printf, plain runs of the value copied whole: it runs several times per request. */
void je_metrics_label(je_buf *out, const char *key, const char *value) {
    if (out->len) je_buf_putc(out, ',');
    je_buf_puts(out, key);
    je_buf_append(out, "=\"", 2);
    const char *p = value ? value : "";
    for (;;) {
        size_t run = strcspn(p, "\\\"\n");
        je_buf_append(out, p, run);
        p += run;
        if (!*p) break;
        je_buf_append(out, *p == '\n' ? "\\n" : (*p == '"' ? "\\\"" : "\\\\"), 2);
        p++;
    }
    je_buf_putc(out, '"');
}

void je_metrics_describe(const char *name, const char *type, const char *help) {
    pthread_mutex_lock(&mu);
    size_t i = 0;
    while (i < n_families && strcmp(families[i].name, name) != 0) i++;
    if (i == n_families && n_families < FAMILIES) {
        snprintf(families[i].name, sizeof families[i].name, "%s", name);
        snprintf(families[i].type, sizeof families[i].type, "%s", type);
        snprintf(families[i].help, sizeof families[i].help, "%s", help);
        n_families++;
    }
    pthread_mutex_unlock(&mu);
}

static void render_series(je_buf *out, const series *s) {
    const char *l = s->labels;
    if (s->kind != 2) {
        je_buf_printf(out, "%s%s%s%s %.17g\n", s->name, *l ? "{" : "", l, *l ? "}" : "", s->value);
        return;
    }
    for (int b = 0; b < NBUCKETS; b++)
        je_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lld\n", s->name, l, *l ? "," : "", buckets[b],
                      (long long)s->bucket[b]);
    je_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", s->name, l, *l ? "," : "",
                  (long long)s->count);
    je_buf_printf(out, "%s_sum%s%s%s %.17g\n", s->name, *l ? "{" : "", l, *l ? "}" : "", s->sum);
    je_buf_printf(out, "%s_count%s%s%s %lld\n", s->name, *l ? "{" : "", l, *l ? "}" : "",
                  (long long)s->count);
}

void je_metrics_render(je_buf *out) {
    pthread_mutex_lock(&mu);
    for (size_t f = 0; f < n_families; f++) {
        je_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                      families[f].name, families[f].type);
        for (size_t i = 0; i < TABLE; i++)
            if (table[i].name && strcmp(table[i].name, families[f].name) == 0)
                render_series(out, &table[i]);
    }
    je_buf_printf(out,
                  "# HELP jobengine_metrics_series_dropped_total Series not recorded: the "
                  "registry is full.\n# TYPE jobengine_metrics_series_dropped_total counter\n"
                  "jobengine_metrics_series_dropped_total %lld\n",
                  (long long)dropped);
    pthread_mutex_unlock(&mu);
}

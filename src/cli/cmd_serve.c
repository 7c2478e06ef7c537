/* cli/cmd_serve.c: `jobengine serve`. Settings come from flags, then JOBENGINE_* environment
 * variables, then an optional JSON config file, then defaults; --help lists them all. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/app.h"
#include "api/metrics.h"
#include "base/clock.h"
#include "base/notify.h"
#include "cli/cli.h"
#include "cli/seed.h"
#include "engine/engine.h"
#include "http/log.h"
#include "http/tls.h"

typedef struct setting {
    const char *flag, *env, *key, *def, *help;
} setting;

static const setting settings[] = {
    {"listen", "JOBENGINE_LISTEN", "listen", "127.0.0.1:8440", "HOST:PORT to serve on"},
    {"store", "JOBENGINE_STORE", "store", JE_DEFAULT_STORE,
     "store URL (sqlite:PATH, postgres://USER@HOST:PORT/DB)"},
    {"issuer", "JOBENGINE_ISSUER", "issuer", NULL,
     "token issuer URL (default http://LISTEN, https://LISTEN with TLS)"},
    {"threads", "JOBENGINE_THREADS", "threads", "auto",
     "HTTP worker threads (1-256; auto: 2 per core, at least 4, on SQLite; 16 on PostgreSQL)"},
    {"token-ttl-seconds", "JOBENGINE_TOKEN_TTL_SECONDS", "tokenTtlSeconds", "3600",
     "lifetime of ordinary tokens"},
    {"elevated-token-ttl-seconds", "JOBENGINE_ELEVATED_TOKEN_TTL_SECONDS",
     "elevatedTokenTtlSeconds", "600", "lifetime of orch:quota/backfill/operate tokens"},
    {"bootstrap", "JOBENGINE_BOOTSTRAP", "bootstrap", NULL,
     "JSON file of clients to add at start (see docs/operations.md)"},
    {"ceiling-max-active", "JOBENGINE_CEILING_MAX_ACTIVE", "ceilingMaxActive", "1000",
     "policy ceiling of maxActive"},
    {"ceiling-max-per-hour", "JOBENGINE_CEILING_MAX_PER_HOUR", "ceilingMaxPerHour", "1000000",
     "policy ceiling of maxPerHour"},
    {"ceiling-burst-capacity", "JOBENGINE_CEILING_BURST_CAPACITY", "ceilingBurstCapacity", "10000",
     "policy ceiling of burstCapacity"},
    {"ceiling-refill-per-second", "JOBENGINE_CEILING_REFILL_PER_SECOND", "ceilingRefillPerSecond",
     "1000", "policy ceiling of refillPerSecond"},
    {"max-attempts", "JOBENGINE_MAX_ATTEMPTS", "maxAttempts", "3",
     "attempts of a job before it stays failed (1-100)"},
    {"backfill-share", "JOBENGINE_BACKFILL_SHARE", "backfillShare", "0.5",
     "share of a quota's maxActive backfill batch jobs may hold (0-1)"},
    {"unquoted-job-types", "JOBENGINE_UNQUOTED_JOB_TYPES", "unquotedJobTypes", "allow",
     "job types with no quota (nor '*'): allow (not limited) or deny"},
    {"backfill-max-window-days", "JOBENGINE_BACKFILL_MAX_WINDOW_DAYS", "backfillMaxWindowDays",
     "31", "longest backfill window (safety check window_within_limit)"},
    {"backfill-max-batches", "JOBENGINE_BACKFILL_MAX_BATCHES", "backfillMaxBatches", "10000",
     "most batches of a backfill (safety check batch_count_within_limit)"},
    {"backfill-suppression-hours", "JOBENGINE_BACKFILL_SUPPRESSION_HOURS",
     "backfillSuppressionHours", "24",
     "a completed backfill's window is refused again for this long"},
    {"backfill-in-flight", "JOBENGINE_BACKFILL_IN_FLIGHT", "backfillInFlight", "4",
     "batch jobs outstanding per running backfill"},
    {"ledger-retention-days", "JOBENGINE_LEDGER_RETENTION_DAYS", "ledgerRetentionDays", "90",
     "processed ledger entries older than this (event time) are pruned"},
    {"checkpoint-every-entries", "JOBENGINE_CHECKPOINT_EVERY_ENTRIES", "checkpointEveryEntries",
     "1000", "sign an audit checkpoint after this many new entries of a chain"},
    {"checkpoint-every-seconds", "JOBENGINE_CHECKPOINT_EVERY_SECONDS", "checkpointEverySeconds",
     "60", "...or when the last checkpoint is this old and the chain grew"},
    {"metrics-listen", "JOBENGINE_METRICS_LISTEN", "metricsListen", NULL,
     "HOST:PORT serving GET /metrics (default: not served)"},
    {"console", "JOBENGINE_CONSOLE", "console", "on",
     "serve the operator console at /console/: on or off"},
    {"max-connections", "JOBENGINE_MAX_CONNECTIONS", "maxConnections", "4096",
     "connections open at once, in total"},
    {"max-connections-per-ip", "JOBENGINE_MAX_CONNECTIONS_PER_IP", "maxConnectionsPerIp", "256",
     "connections open at once from one address"},
    {"idle-timeout-seconds", "JOBENGINE_IDLE_TIMEOUT_SECONDS", "idleTimeoutSeconds", "60",
     "a connection with no byte either way for this long is closed"},
    {"request-timeout-seconds", "JOBENGINE_REQUEST_TIMEOUT_SECONDS", "requestTimeoutSeconds", "30",
     "a whole request must arrive within this of the connection opening or the last reply (0: "
     "no limit)"},
    {"max-header-bytes", "JOBENGINE_MAX_HEADER_BYTES", "maxHeaderBytes", "32768",
     "request line and headers (431 beyond)"},
    {"max-body-bytes", "JOBENGINE_MAX_BODY_BYTES", "maxBodyBytes", "1048576",
     "request body (413 beyond)"},
    {"tls-cert", "JOBENGINE_TLS_CERT", "tlsCert", NULL,
     "PEM certificate (then its chain) to serve HTTPS with, TLS 1.2+ (with tls-key; default, "
     "or empty: plain HTTP); SIGHUP reloads it"},
    {"tls-key", "JOBENGINE_TLS_KEY", "tlsKey", NULL, "PEM private key of tls-cert"},
    {"log-level", "JOBENGINE_LOG_LEVEL", "logLevel", "info",
     "lowest level logged: debug, info (with one line per request), warn, error; SIGHUP "
     "reloads it"},
    {"shutdown-timeout-seconds", "JOBENGINE_SHUTDOWN_TIMEOUT_SECONDS", "shutdownTimeoutSeconds",
     "10", "on SIGTERM, how long requests in flight get to finish (0-3600)"},
    {"trusted-proxies", "JOBENGINE_TRUSTED_PROXIES", "trustedProxies", NULL,
     "addresses or CIDRs (comma-separated) of reverse proxies whose X-Forwarded-For names the "
     "client in the access log (default: none)"},
    {NULL, NULL, NULL, NULL, NULL},
};
enum {
    S_LISTEN,
    S_STORE,
    S_ISSUER,
    S_THREADS,
    S_TTL,
    S_ELEVATED_TTL,
    S_BOOTSTRAP,
    S_CEIL0,
    S_MAX_ATTEMPTS = S_CEIL0 + 4,
    S_BACKFILL_SHARE,
    S_UNQUOTED,
    S_BF_WINDOW,
    S_BF_BATCHES,
    S_BF_SUPPRESSION,
    S_BF_IN_FLIGHT,
    S_LEDGER_RETENTION,
    S_CP_ENTRIES,
    S_CP_SECONDS,
    S_METRICS_LISTEN,
    S_CONSOLE,
    S_LIMIT0, /* the six limits on clients, in je_http_limits' order */
    S_TLS_CERT = S_LIMIT0 + 6,
    S_TLS_KEY,
    S_LOG_LEVEL,
    S_SHUTDOWN,
    S_PROXIES,
    S_COUNT
};

/* What serve itself needs besides the application's je_config. */
typedef struct serve_state {
    const char *config_path; /* re-read on SIGHUP, or NULL */
    char tls_cert[1024], tls_key[1024];
    long shutdown_timeout_s;
    je_http_proxies proxies;
} serve_state;

/* Every setting is a flag, plus --config and --demo: built from the table so they never differ. */
static void serve_optspec(cli_optspec *out) {
    size_t n = 0;
    for (const setting *st = settings; st->flag; st++) out[n++] = (cli_optspec){st->flag, 1};
    out[n++] = (cli_optspec){"config", 1};
    out[n++] = (cli_optspec){"demo", 0};
    out[n] = (cli_optspec){NULL, 0};
}

void cli_serve_help(FILE *out) {
    fprintf(out,
            "usage: jobengine serve [--config FILE] [--demo] [options]\n\n"
            "Serves the Authority and the JobEngine API. Each setting is taken from its flag,\n"
            "else its environment variable, else the config file (JSON, key in brackets),\n"
            "else the default.\n\n");
    for (const setting *s = settings; s->flag; s++)
        fprintf(out, "  --%-28s %s\n  %-30s env %s [%s], default %s\n", s->flag, s->help, "",
                s->env, s->key, s->def ? s->def : "(see above)");
    fprintf(out, "  --%-28s %s\n  --%-28s %s\n", "config FILE",
            "JSON config file (env JOBENGINE_CONFIG)", "demo",
            "seed tenant 'demo' and four clients when the store has no client");
}

/* A Markdown table cell: '|' escaped, code spans for names. */
void cli_serve_settings_markdown(FILE *out) {
    fprintf(out, "| flag | environment variable | config key | default | meaning |\n"
                 "|---|---|---|---|---|\n");
    for (const setting *s = settings; s->flag; s++) {
        fprintf(out, "| `--%s` | `%s` | `%s` | %s%s%s | ", s->flag, s->env, s->key,
                s->def ? "`" : "", s->def ? s->def : "(none)", s->def ? "`" : "");
        for (const char *p = s->help; *p; p++) fputs(*p == '|' ? "\\|" : (char[]){*p, 0}, out);
        fputs(" |\n", out);
    }
}

/* The value of a setting by precedence; NULL when nowhere given and no default. */
static const char *setting_value(const cli_args *a, json_t *file, const setting *s, char *tmp,
                                 size_t cap) {
    const char *v = cli_get_env(a, s->flag, s->env, NULL);
    if (v) return v;
    json_t *j = file ? json_object_get(file, s->key) : NULL;
    if (json_is_string(j)) return json_string_value(j);
    if (json_is_integer(j)) {
        snprintf(tmp, cap, "%lld", (long long)json_integer_value(j));
        return tmp;
    }
    if (json_is_real(j)) {
        snprintf(tmp, cap, "%.17g", json_real_value(j));
        return tmp;
    }
    return s->def;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* quotaCeilingOverrides: [{"tenant"?, "jobType"?, "maxActive"?, ...}]. Each limit is held to the
 * range of its global ceiling (parse_ceilings): the first three integers. */
static int je_config_overrides(json_t *arr, je_config *c) {
    static const char *const names[4] = {"maxActive", "maxPerHour", "burstCapacity",
                                         "refillPerSecond"};
    static const double max[4] = {1e9, 1e12, 1e9, 1e12};
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        if (i >= JE_MAX_CEILING_OVERRIDES || !json_is_object(o))
            return cli_fail("serve", "quotaCeilingOverrides[%zu]: an object (at most 256)", i);
        je_ceiling_override *ov = &c->overrides[c->n_overrides++];
        const char *t = json_string_value(json_object_get(o, "tenant"));
        const char *jt = json_string_value(json_object_get(o, "jobType"));
        snprintf(ov->tenant, sizeof ov->tenant, "%s", t ? t : "");
        snprintf(ov->job_type, sizeof ov->job_type, "%s", jt ? jt : "");
        double vals[4] = {0};
        for (int k = 0; k < 4; k++) {
            json_t *v = json_object_get(o, names[k]);
            if (!v) continue;
            vals[k] = json_number_value(v);
            if (!json_is_number(v) || !(vals[k] > 0) || vals[k] > max[k] ||
                (k < 3 && vals[k] != (double)(int64_t)vals[k]))
                return cli_fail("serve", "quotaCeilingOverrides[%zu].%s: a positive %s up to %g", i,
                                names[k], k < 3 ? "integer" : "number", max[k]);
            ov->has[k] = 1;
        }
        ov->limits =
            (je_quota_limits){(int64_t)vals[0], (int64_t)vals[1], (int64_t)vals[2], vals[3]};
    }
    return 0;
}

/* The config file's object, or NULL with err set (said by the caller: at start on stderr, on a
 * reload in the log). */
static json_t *load_config_file(const char *path, je_err *err) {
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        je_err_set(err, "CONFIG", "config file %s: %s (line %d)", path, jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(j)) {
        je_err_set(err, "CONFIG", "config file %s: must hold a JSON object", path);
        json_decref(j);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (strcmp(key, "quotaCeilingOverrides") == 0 && json_is_array(v)) continue;
        const setting *s = settings;
        while (s->flag && strcmp(s->key, key) != 0) s++;
        if (!s->flag || !(json_is_string(v) || json_is_number(v))) {
            je_err_set(err, "CONFIG", "config file %s: unknown key or wrong type: %s", path, key);
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int split_listen(const char *listen, char *host, size_t cap, int *port) {
    const char *colon = strrchr(listen, ':');
    if (!colon) return -1;
    const char *h = listen;
    size_t hn = (size_t)(colon - listen);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') h++, hn -= 2;
    long p;
    if (hn == 0 || hn >= cap || parse_int(colon + 1, 0, 65535, &p) != 0) return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = (int)p;
    return 0;
}

static int parse_ceilings(const char *const *v, je_quota_limits *l) {
    long n[3];
    static const long his[3] = {1000000000L, 1000000000000L, 1000000000L};
    for (int i = 0; i < 3; i++)
        if (parse_int(v[i], 1, his[i], &n[i]) != 0)
            return cli_fail("serve", "%s: a positive integer", settings[S_CEIL0 + i].flag);
    char *end;
    double d = strtod(v[3], &end);
    if (*end || !(d > 0) || d > 1e12)
        return cli_fail("serve", "ceiling-refill-per-second: a positive number");
    *l = (je_quota_limits){n[0], n[1], n[2], d};
    return 0;
}

static int parse_jobs_settings(const char *const *v, je_config *c) {
    long n;
    if (parse_int(v[S_MAX_ATTEMPTS], 1, 100, &n) != 0)
        return cli_fail("serve", "max-attempts: 1 to 100");
    c->max_attempts = n;
    char *end;
    c->backfill_share = strtod(v[S_BACKFILL_SHARE], &end);
    if (*end || end == v[S_BACKFILL_SHARE] || !(c->backfill_share >= 0) || c->backfill_share > 1)
        return cli_fail("serve", "backfill-share: a number from 0 to 1");
    if (strcmp(v[S_UNQUOTED], "allow") != 0 && strcmp(v[S_UNQUOTED], "deny") != 0)
        return cli_fail("serve", "unquoted-job-types: allow or deny");
    c->unquoted_allowed = strcmp(v[S_UNQUOTED], "allow") == 0;
    static const struct {
        int idx;
        long lo, hi;
    } ranges[] = {{S_BF_WINDOW, 1, 3660},         {S_BF_BATCHES, 1, 1000000},
                  {S_BF_SUPPRESSION, 0, 8760},    {S_BF_IN_FLIGHT, 1, 1000},
                  {S_LEDGER_RETENTION, 1, 36600}, {S_CP_ENTRIES, 1, 100000000},
                  {S_CP_SECONDS, 1, 86400}};
    long vals[7];
    for (int i = 0; i < 7; i++)
        if (parse_int(v[ranges[i].idx], ranges[i].lo, ranges[i].hi, &vals[i]) != 0)
            return cli_fail("serve", "%s: %ld to %ld", settings[ranges[i].idx].flag, ranges[i].lo,
                            ranges[i].hi);
    c->backfill = (je_backfill_limits){vals[0] * 86400000LL, vals[1], vals[2] * 3600000LL};
    c->backfill_in_flight = vals[3];
    c->ledger_retention_ms = vals[4] * 86400000LL;
    c->checkpoint_every_n = vals[5];
    c->checkpoint_every_ms = vals[6] * 1000LL;
    return 0;
}

/* On SQLite a write does not hold its thread (it parks until its commit): threads only run
 * CPU work, so a few per core suffice; two per core, so that a long read (an audit export or
 * verification) does not stall the rest. On PostgreSQL a thread waits for its transaction's
 * round trips, so more threads keep more transactions in flight. */
static unsigned auto_threads(const char *store_url) {
    if (strncmp(store_url, "postgres", 8) == 0) return 16;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 2) cores = 2;
    return cores * 2 > 256 ? 256 : (unsigned)(cores * 2 < 4 ? 4 : cores * 2);
}

/* The limits on clients, S_LIMIT0's six settings in je_http_limits' order. */
static int parse_limits(const char *const *v, unsigned threads, je_http_limits *l) {
    static const long ranges[6][2] = {{1, 1000000}, {1, 1000000},    {1, 86400},
                                      {0, 86400},   {4096, 1048576}, {1024, 67108864}};
    long n[6];
    for (int i = 0; i < 6; i++)
        if (parse_int(v[i], ranges[i][0], ranges[i][1], &n[i]) != 0)
            return cli_fail("serve", "%s: %ld to %ld", settings[S_LIMIT0 + i].flag, ranges[i][0],
                            ranges[i][1]);
    *l = (je_http_limits){threads,        (unsigned)n[0], (unsigned)n[1], (unsigned)n[2],
                          (unsigned)n[3], (size_t)n[4],   (size_t)n[5]};
    return 0;
}

/* The TLS pair and log level: at start, and again on SIGHUP. An empty path is the same as none
 * (so --tls-cert '' --tls-key '' turns off a pair set in the file), and the pair is checked
 * after that: an empty certificate with a key is refused, not served as plain HTTP. */
static int parse_reloadable(const char *const *v, serve_state *so) {
    const char *cert = v[S_TLS_CERT] && *v[S_TLS_CERT] ? v[S_TLS_CERT] : NULL;
    const char *key = v[S_TLS_KEY] && *v[S_TLS_KEY] ? v[S_TLS_KEY] : NULL;
    if (!cert != !key)
        return cli_fail("serve", "tls-cert and tls-key go together: give both, or neither");
    if ((cert && strlen(cert) >= sizeof so->tls_cert) || (key && strlen(key) >= sizeof so->tls_key))
        return cli_fail("serve", "tls-cert and tls-key: paths of at most 1023 bytes");
    snprintf(so->tls_cert, sizeof so->tls_cert, "%s", cert ? cert : "");
    snprintf(so->tls_key, sizeof so->tls_key, "%s", key ? key : "");
    if (je_log_set_level(v[S_LOG_LEVEL]) != 0)
        return cli_fail("serve", "log-level: debug, info, warn or error");
    return 0;
}

static void setting_values(const cli_args *a, json_t *file, const char **v, char (*tmp)[64]) {
    for (int i = 0; i < S_COUNT; i++) v[i] = setting_value(a, file, &settings[i], tmp[i], 64);
}

static int build_config(const cli_args *a, json_t *file, je_config *c, serve_state *so) {
    char tmp[S_COUNT][64];
    const char *v[S_COUNT];
    setting_values(a, file, v, tmp);
    memset(c, 0, sizeof *c);
    if (parse_reloadable(v, so) != 0) return 1;
    if (parse_int(v[S_SHUTDOWN], 0, 3600, &so->shutdown_timeout_s) != 0)
        return cli_fail("serve", "shutdown-timeout-seconds: 0 to 3600");
    je_err perr;
    if (v[S_PROXIES] && je_http_parse_proxies(v[S_PROXIES], &so->proxies, &perr) != 0)
        return cli_fail("serve", "trusted-proxies: %s", perr.message);
    if (parse_ceilings(v + S_CEIL0, &c->ceiling) != 0) return 1;
    if (parse_jobs_settings(v, c) != 0) return 1;
    if (file && je_config_overrides(json_object_get(file, "quotaCeilingOverrides"), c) != 0)
        return 1;
    snprintf(c->listen, sizeof c->listen, "%s", v[S_LISTEN]);
    snprintf(c->store_url, sizeof c->store_url, "%s", v[S_STORE]);
    if (v[S_ISSUER])
        snprintf(c->issuer, sizeof c->issuer, "%s", v[S_ISSUER]);
    else
        snprintf(c->issuer, sizeof c->issuer, "%s://%s", so->tls_cert[0] ? "https" : "http",
                 c->listen);
    snprintf(c->audience, sizeof c->audience, "jobengine");
    long n;
    if (strcmp(v[S_THREADS], "auto") == 0)
        n = auto_threads(c->store_url);
    else if (parse_int(v[S_THREADS], 1, 256, &n) != 0)
        return cli_fail("serve", "threads: 1 to 256, or auto");
    if (parse_limits(v + S_LIMIT0, (unsigned)n, &c->http) != 0) return 1;
    if (strcmp(v[S_CONSOLE], "on") != 0 && strcmp(v[S_CONSOLE], "off") != 0)
        return cli_fail("serve", "console: on or off");
    c->console_off = strcmp(v[S_CONSOLE], "off") == 0;
    if (v[S_METRICS_LISTEN])
        snprintf(c->metrics_listen, sizeof c->metrics_listen, "%s", v[S_METRICS_LISTEN]);
    if (parse_int(v[S_TTL], 1, 86400 * 7, &n) != 0)
        return cli_fail("serve", "token-ttl-seconds: 1 to 604800");
    c->token_ttl_s = n;
    if (parse_int(v[S_ELEVATED_TTL], 1, 86400 * 7, &n) != 0)
        return cli_fail("serve", "elevated-token-ttl-seconds: 1 to 604800");
    c->elevated_token_ttl_s = n;
    return 0;
}

/* SIGHUP: the config file is read again, and the TLS pair and the log level it (or the
 * environment, or a flag) names take effect; the rest of the settings need a restart. A file or
 * pair that fails its checks changes nothing (logged). */
static void reload(const cli_args *a, serve_state *so, je_tls *tls) {
    char ready[64];
    snprintf(ready, sizeof ready, "RELOADING=1\nMONOTONIC_USEC=%lld",
             (long long)(je_mono_ns() / 1000));
    je_notify(ready);
    je_err err;
    json_t *file = so->config_path ? load_config_file(so->config_path, &err) : NULL;
    if (so->config_path && !file) {
        je_log("error", "reload failed: nothing changed", json_pack("{s:s}", "error", err.message));
        je_notify("READY=1");
        return;
    }
    char tmp[S_COUNT][64];
    const char *v[S_COUNT];
    setting_values(a, file, v, tmp);
    serve_state next = *so;
    const char *old_level = je_log_level();
    if (parse_reloadable(v, &next) != 0) {
        je_log_set_level(old_level);
        je_log("error", "reload failed: a setting is not usable (said above); nothing changed",
               NULL);
    } else if (!tls != !next.tls_cert[0]) {
        je_log_set_level(old_level);
        je_log("error", "reload failed: turning TLS on or off needs a restart; nothing changed",
               NULL);
    } else if (tls && je_tls_reload(tls, next.tls_cert, next.tls_key, &err) != 0) {
        je_log_set_level(old_level);
        je_log("error", "reload failed: the TLS certificate was kept",
               json_pack("{s:s}", "error", err.message));
    } else {
        *so = next;
        char fp[65] = "";
        if (tls) je_tls_fingerprint(tls, fp);
        je_log(
            "info", "reloaded",
            json_pack("{s:s, s:s?}", "logLevel", je_log_level(), "tlsCertSha256", tls ? fp : NULL));
    }
    json_decref(file);
    je_notify("READY=1");
}

/* Waits for a stop signal, reloading on each SIGHUP. */
static void wait_for_stop(const cli_args *a, serve_state *so, je_tls *tls) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload(a, so, tls);
            continue;
        }
        je_notify("STOPPING=1");
        je_log("info", "stopping",
               json_pack("{s:s, s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
                         "shutdownTimeoutSeconds", (int)so->shutdown_timeout_s));
        return;
    }
}

/* Every connection is a file: the soft limit on open files is raised to what max-connections
 * needs (and the hard limit allows); when the hard limit is lower, max-connections is lowered
 * to fit, with a warning, rather than failing accepts at EMFILE under load. */
static void fit_open_files(je_http_limits *l) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = (rlim_t)l->max_connections + 256; /* the store, logs, the metrics listener */
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= want) return;
    unsigned fit = rl.rlim_cur > 512 ? (unsigned)(rl.rlim_cur - 256) : 256;
    je_log("warn", "max-connections lowered to fit the open-file limit",
           json_pack("{s:i, s:i, s:I}", "maxConnections", (int)l->max_connections, "lowered",
                     (int)fit, "openFileLimit", (json_int_t)rl.rlim_cur));
    l->max_connections = fit;
}

/* GET /metrics on its own listener (docs/operations.md "Metrics"), or NULL when not asked. */
static int start_metrics(const je_config *cfg, je_http_server **out) {
    *out = NULL;
    if (!cfg->metrics_listen[0]) return 0;
    char host[128];
    int port;
    if (split_listen(cfg->metrics_listen, host, sizeof host, &port) != 0)
        return cli_fail("serve", "metrics-listen must be HOST:PORT, got '%s'", cfg->metrics_listen);
    je_http_limits l = cfg->http;
    l.threads = 1;
    if (l.max_connections > 64) l.max_connections = 64;
    if (l.max_per_ip > 64) l.max_per_ip = 64;
    je_err err;
    if (!(*out = je_http_start(host, port, &l, je_api_metrics_serve, NULL, &err)))
        return cli_fail("serve", "metrics-listen: %s", err.message);
    return 0;
}

static int serve_run(const cli_args *a, je_config *cfg, serve_state *so, const char *bootstrap) {
    char host[128];
    int port;
    if (split_listen(cfg->listen, host, sizeof host, &port) != 0)
        return cli_fail("serve", "listen must be HOST:PORT, got '%s'", cfg->listen);
    je_err err;
    je_err_clear(&err);
    je_store *store = je_store_open(cfg->store_url, &err);
    /* on the database's clock before the first key or entry is written (engine/engine.h) */
    if (store && je_clock_sync(store, NULL, &err) < 0) {
        je_store_close(store);
        store = NULL;
    }
    if (!store) {
        char shown[512];
        je_store_url_safe(cfg->store_url, shown, sizeof shown);
        return cli_fail("serve", "cannot open store %s: %s", shown, err.message);
    }
    int rc = 1;
    je_app app;
    je_http_server *srv = NULL;
    je_tls *tls = NULL;
    if (so->tls_cert[0] && !(tls = je_tls_load(so->tls_cert, so->tls_key, &err))) {
        cli_fail("serve", "%s", err.message);
        goto out;
    }
    if (bootstrap && je_seed_bootstrap(store, bootstrap, &err) != 0) {
        cli_fail("serve", "bootstrap %s: %s", bootstrap, err.message);
        goto out;
    }
    if (cli_has(a, "demo") && je_seed_demo(store, cfg->listen, stdout, &err) != 0) {
        cli_fail("serve", "demo: %s", err.message);
        goto out;
    }
    if (je_app_init(&app, store, cfg, &err) != 0) {
        cli_fail("serve", "%s", err.message);
        goto out;
    }
    je_engine engine;
    je_engine_config ecfg = {250,
                             cfg->backfill_in_flight,
                             cfg->max_attempts,
                             cfg->ledger_retention_ms,
                             cfg->checkpoint_every_n,
                             cfg->checkpoint_every_ms,
                             je_metric_engine};
    if (je_engine_start(&engine, store, &ecfg) != 0) {
        cli_fail("serve", "cannot start the engine thread");
        je_app_destroy(&app);
        goto out;
    }
    fit_open_files(&cfg->http);
    je_http_server *metrics = NULL;
    int metrics_failed = start_metrics(cfg, &metrics) != 0; /* said why */
    je_http_options hopts = {tls, &so->proxies};
    if (!metrics_failed)
        srv = je_http_start_with(host, port, &cfg->http, &hopts, je_app_handle, &app, &err);
    if (!srv) {
        if (!metrics_failed) cli_fail("serve", "%s", err.message);
        je_http_stop(metrics);
        je_engine_stop(&engine);
        je_app_destroy(&app);
        goto out;
    }
    char fp[65] = "";
    if (tls) je_tls_fingerprint(tls, fp);
    je_log("info", "listening",
           json_pack("{s:s, s:s, s:s, s:s, s:i, s:s?, s:b, s:s?}", "listen", cfg->listen, "scheme",
                     tls ? "https" : "http", "store", store->ops->name, "issuer", cfg->issuer,
                     "threads", (int)cfg->http.threads, "metricsListen",
                     cfg->metrics_listen[0] ? cfg->metrics_listen : NULL, "console",
                     !cfg->console_off, "tlsCertSha256", tls ? fp : NULL));
    je_notify("READY=1\nSTATUS=serving");
    char own[160];
    snprintf(own, sizeof own, "%s://%s", tls ? "https" : "http", cfg->listen);
    if (store->ops->db_clock && strcmp(cfg->issuer, own) == 0) /* a shared store, no issuer set */
        je_log("warn", "every node of a shared store needs the same --issuer",
               json_pack("{s:s, s:s}", "issuer", cfg->issuer, "why",
                         "tokens name their issuer: another node's tokens are refused here, and "
                         "this node's there, unless all nodes set one --issuer"));
    wait_for_stop(a, so, tls);
    /* Graceful: no new connection; requests in flight (and those that come on open
     * connections meanwhile, answered with Connection: close) get shutdown-timeout-seconds to
     * finish; then the rest are closed, the engine ends its step, and the store is closed. */
    int64_t t0 = je_mono_ns();
    je_http_quiesce(srv);
    int left = je_http_drain(srv, so->shutdown_timeout_s * 1000);
    je_log(left ? "warn" : "info", "drained",
           json_pack("{s:i, s:I}", "requestsCutOff", left, "ms",
                     (json_int_t)((je_mono_ns() - t0) / 1000000)));
    je_http_stop(srv);
    je_http_stop(metrics);
    je_engine_stop(&engine);
    je_app_destroy(&app);
    rc = 0;
out:
    je_store_close(store);
    je_tls_free(tls);
    if (rc == 0) je_log("info", "stopped", NULL);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    cli_args a;
    cli_optspec serve_flags[S_COUNT + 3];
    serve_optspec(serve_flags);
    if (cli_parse("serve", argc, argv, serve_flags, &a) != 0) return 2;
    if (cli_has(&a, "help")) return cli_serve_help(stdout), 0;
    if (a.n_pos) return cli_fail("serve", "unexpected argument '%s'", a.pos[0]), 2;
    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Bodies, replies and payloads of up to max-body-bytes come and go: with fixed thresholds
     * glibc maps each large one and returns it on free, and gives back freed heap beyond 1 MiB,
     * instead of raising its thresholds and keeping the peak of every thread's arena. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    const char *cfg_path = cli_get_env(&a, "config", "JOBENGINE_CONFIG", NULL);
    je_err cerr;
    json_t *file = cfg_path ? load_config_file(cfg_path, &cerr) : NULL;
    if (cfg_path && !file) return cli_fail("serve", "%s", cerr.message);
    je_config cfg;
    serve_state so;
    memset(&so, 0, sizeof so);
    so.config_path = cfg_path;
    char tmp[64];
    const char *bootstrap = setting_value(&a, file, &settings[S_BOOTSTRAP], tmp, sizeof tmp);
    char *bootstrap_copy = bootstrap ? strdup(bootstrap) : NULL;
    int rc = build_config(&a, file, &cfg, &so);
    json_decref(file);
    if (rc == 0) rc = serve_run(&a, &cfg, &so, bootstrap_copy);
    free(bootstrap_copy);
    return rc;
}

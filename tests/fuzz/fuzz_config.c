/* tests/fuzz/fuzz_config.c: the config file of `jobengine serve --config FILE`
 * (src/cli/cmd_serve.c): reading and checking the file (load_config_file: JSON object, known keys,
 * types), every setting taken from it and checked (build_config: integers, ranges, the ceilings,
 * quotaCeilingOverrides), the listen address (split_listen) and the ceilings the service then
 * applies (je_config_ceiling), and serve's own settings (TLS pair, shutdown timeout, trusted
 * proxies, log level). cmd_serve.c is compiled into this target so that its static
 * functions run as they are, with no seam added to it; the input is the file's bytes, read
 * through a memory file (memfd), so json_load_file runs as well. No JOBENGINE_* variable is set
 * (they are removed at start), so every value comes from the file or the defaults.
 * Properties (abort() when broken): a config that is accepted holds only values in the ranges
 * `serve --help` documents; so does every ceiling it yields. */
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/cli/cmd_serve.c"

extern char **environ;
static int fd = -1;
static int report = 2; /* stderr as it was before -close_fd_mask=2 shut it: check() writes there */
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    for (int again = 1; again;) { /* unsetenv moves environ: start over after each */
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "JOBENGINE_", 10) != 0) continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name);
            again = 1;
            break;
        }
    }
    report = dup(2);
    if (report < 0) report = 2;
    fd = memfd_create("jobengine-config", 0);
    if (fd < 0) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

static void check(int cond, const char *what) {
    if (cond) return;
    dprintf(report, "fuzz_config: %s\n", what);
    abort();
}

static void check_limits(const je_quota_limits *l) {
    check(l->max_active >= 1 && l->max_per_hour >= 1 && l->burst_capacity >= 1 &&
              l->refill_per_second > 0,
          "a ceiling is not positive");
}

static void check_config(const je_config *c) {
    const je_http_limits *h = &c->http;
    check(h->threads >= 1 && h->threads <= 256, "threads out of range");
    check(h->max_connections >= 1 && h->max_per_ip >= 1 && h->idle_timeout_s >= 1 &&
              h->idle_timeout_s <= 86400 && h->request_timeout_s <= 86400,
          "a connection limit out of range");
    check(h->max_header_bytes >= 4096 && h->max_header_bytes <= 1048576 &&
              h->max_body_bytes >= 1024 && h->max_body_bytes <= 67108864,
          "a size limit out of range");
    check(c->token_ttl_s >= 1 && c->token_ttl_s <= 604800, "token ttl out of range");
    check(c->elevated_token_ttl_s >= 1 && c->elevated_token_ttl_s <= 604800, "elevated ttl");
    check(c->max_attempts >= 1 && c->max_attempts <= 100, "max attempts out of range");
    check(c->backfill_share >= 0 && c->backfill_share <= 1, "backfill share out of range");
    check(c->n_overrides <= JE_MAX_CEILING_OVERRIDES, "too many overrides");
    check_limits(&c->ceiling);
    static const char *const tenants[] = {"", "t1", "acme"}, *const types[] = {"", "build", "*"};
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < 3; j++) {
            je_quota_limits l;
            je_config_ceiling(c, tenants[t], types[j], &l);
            check_limits(&l);
        }
    char host[128];
    int port = -1;
    if (split_listen(c->listen, host, sizeof host, &port) == 0)
        check(port >= 0 && port <= 65535 && host[0], "listen address");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    je_err err;
    json_t *file = load_config_file(path, &err);
    if (!file) return 0;
    cli_args a;
    memset(&a, 0, sizeof a);
    char tmp[64];
    const char *bootstrap = setting_value(&a, file, &settings[S_BOOTSTRAP], tmp, sizeof tmp);
    (void)bootstrap;
    static je_config cfg; /* 256 overrides: too big for the stack of a fuzz target */
    static serve_state so;
    memset(&so, 0, sizeof so);
    if (build_config(&a, file, &cfg, &so) == 0) {
        check_config(&cfg);
        check(so.shutdown_timeout_s >= 0 && so.shutdown_timeout_s <= 3600, "shutdown timeout");
        check(so.proxies.n <= JE_HTTP_MAX_PROXIES, "too many trusted proxies");
        check(!so.tls_cert[0] == !so.tls_key[0], "a certificate without its key, or the reverse");
    }
    json_decref(file);
    return 0;
}

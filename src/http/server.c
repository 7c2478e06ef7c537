/* http/server.c: libmicrohttpd glue. Reads the whole body (up to JE_HTTP_MAX_BODY), then calls
 * the handler once on a pool thread; logs one line per request; frees the arena at the end.
 * Replies are queued on the handler's second (or later) call, never the first, so keep-alive
 * connections stay open.
 *
 * A request that may write (any method but GET, HEAD and OPTIONS) runs its handler on a fiber
 * (base/fiber.h). When the handler waits for its commit the fiber parks, the connection is
 * suspended, and the thread serves other connections; the store's writer wakes the fiber once
 * the commit is durable, the connection is resumed, and libmicrohttpd calls on_request again on
 * the same thread, which continues the handler where it waited. So a few threads keep every
 * connection's write in flight, and one commit answers all of them. */
#include "http/http.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/fiber.h"
#include "base/random.h"
#include "http/deadline.h"
#include "http/log.h"
#include "http/tls.h"

struct je_http_server {
    struct MHD_Daemon *daemon;
    je_http_limits limits;
    je_deadlines *deadlines; /* NULL when request_timeout_s is 0 */
    je_http_handler handler;
    void *cls;
    atomic_int fibers;   /* fibers started and not finished (running or parked) */
    atomic_int stopping; /* no new fibers: stop waits for the live ones to finish */
    struct je_tls *tls;  /* HTTPS with this certificate, or NULL */
    atomic_int inflight; /* requests begun and not completed */
    atomic_int quiesced; /* no longer accepting: answers carry Connection: close */
    int listen_fd;       /* closed after the daemon stops, once quiesced (else -1) */
    je_http_proxies proxies;
};

/* A request and how its fiber stands (wake flags, set by two threads). */
enum { PARK_SUSPENDED = 1, PARK_WOKEN = 2 };
typedef struct conn_req {
    je_req r; /* first: con_cls points at both */
    je_http_server *server;
    je_fiber *fiber; /* parked, or NULL */
    atomic_int park;
    int bad_framing; /* Content-Length and Transfer-Encoding disagree: 400, then close */
    size_t expect;   /* Content-Length, when given and within the limit */
    je_conn_clock *clock;
} conn_req;

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>. */
static void trace_id_init(je_req *r) {
    const char *tp = je_req_header(r, "traceparent");
    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' && is_hex(tp, 2) &&
        is_hex(tp + 3, 32) && strncmp(tp + 3, "00000000000000000000000000000000", 32) != 0) {
        memcpy(r->trace_id, tp + 3, 32);
        r->trace_id[32] = '\0';
        return;
    }
    /* A trace id is an identifier, not a secret: a per-thread xorshift generator, seeded once
     * from the secure source, saves a system call per request. */
    static _Thread_local uint64_t st[2];
    if (!st[0] && !st[1] && (je_random_bytes(st, sizeof st) != 0 || (!st[0] && !st[1])))
        st[0] = (uint64_t)je_mono_ns() | 1;
    static const char hex[] = "0123456789abcdef";
    for (int w = 0; w < 2; w++) {
        uint64_t x = st[0], y = st[1]; /* xorshift128+ */
        st[0] = y;
        x ^= x << 23;
        st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t v = st[1] + y;
        for (int i = 0; i < 16; i++) r->trace_id[w * 16 + i] = hex[(v >> (60 - 4 * i)) & 15];
    }
    r->trace_id[32] = '\0';
}

/* The access-log line, once the answer is sent: its latency includes sending. */
static void log_request(je_req *r) {
    double ms = (double)(je_mono_ns() - r->started_ns) / 1e6;
    je_log_request(r->trace_id, r->client, r->method, r->path, r->route ? r->route : "", r->status,
                   ms);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
    je_http_server *s = cls;
    conn_req *w = *con_cls;
    if (!w) return;
    je_deadline_replied(s->deadlines, w->clock);
    je_req *r = &w->r;
    if (r->status) log_request(r);
    free(r->body);
    je_arena_free(r->arena);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

/* Appends a piece of the body: into one buffer of Content-Length bytes when it was given (a
 * single allocation, no copies as it grows), else grown as it comes. */
static int body_append(conn_req *w, const char *data, size_t n) {
    je_req *r = &w->r;
    if (r->body_too_large) return 0;
    if (r->body_len + n > r->max_body) {
        r->body_too_large = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return 0;
    }
    char *p = r->body;
    if (!p || r->body_len + n > w->expect) {
        size_t want = r->body_len + n > w->expect ? r->body_len + n : w->expect;
        if (!(p = realloc(r->body, want + 1))) return -1;
    }
    memcpy(p + r->body_len, data, n);
    r->body = p;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static const char *mhd_lookup(je_req *r, int kind, const char *name) {
    return MHD_lookup_connection_value(
        r->conn, kind == JE_REQ_HEADER ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND, name);
}

/* Request smuggling (RFC 9112 §6.3): a message framed two ways is refused, and its connection
 * closed, so no byte of it is read as a next request. */
typedef struct framing {
    int content_lengths, transfer_encodings, differ;
    const char *first_length;
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    framing *f = cls;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (f->content_lengths++ && strcmp(value, f->first_length) != 0) f->differ = 1;
        if (!f->first_length) f->first_length = value;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->transfer_encodings++;
    }
    return MHD_YES;
}

static int framing_conflict(struct MHD_Connection *c) {
    framing f = {0, 0, 0, NULL};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    return f.differ || (f.content_lengths && f.transfer_encodings) || f.transfer_encodings > 1;
}

/* ---- the client's address ---------------------------------------------------------------- */

static int parse_ip(const char *text, size_t n, int *family, unsigned char addr[16]) {
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) return *family = AF_INET, 0;
    if (inet_pton(AF_INET6, buf, addr) == 1) return *family = AF_INET6, 0;
    return -1;
}

int je_http_parse_proxies(const char *list, je_http_proxies *out, je_err *err) {
    memset(out, 0, sizeof *out);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", ");
        if (out->n == JE_HTTP_MAX_PROXIES)
            return je_err_set(err, "CONFIG", "at most %d trusted proxies", JE_HTTP_MAX_PROXIES);
        const char *slash = memchr(p, '/', n);
        size_t an = slash ? (size_t)(slash - p) : n;
        int fam;
        unsigned char a[16] = {0};
        if (parse_ip(p, an, &fam, a) != 0)
            return je_err_set(err, "CONFIG", "'%.*s' is not an IPv4 or IPv6 address", (int)an, p);
        unsigned max = fam == AF_INET ? 32 : 128, bits = max;
        if (slash) {
            char *end;
            unsigned long b = strtoul(slash + 1, &end, 10);
            if (end != p + n || end == slash + 1 || b > max)
                return je_err_set(err, "CONFIG", "'%.*s': the prefix is 0 to %u bits", (int)n, p,
                                  max);
            bits = (unsigned)b;
        }
        out->net[out->n].family = fam;
        memcpy(out->net[out->n].addr, a, 16);
        out->net[out->n].prefix = bits;
        out->n++;
        p += n;
    }
    return 0;
}

static int proxy_trusted(const je_http_proxies *px, int family, const unsigned char *a) {
    for (size_t i = 0; i < px->n; i++) {
        if (px->net[i].family != family) continue;
        unsigned bits = px->net[i].prefix, whole = bits / 8, rest = bits % 8;
        if (memcmp(px->net[i].addr, a, whole) != 0) continue;
        if (rest && ((px->net[i].addr[whole] ^ a[whole]) & (0xff00 >> rest) & 0xff)) continue;
        return 1;
    }
    return 0;
}

/* The peer's address; when the peer is a trusted proxy, the last address of X-Forwarded-For
 * that is not itself a trusted proxy (as nginx's real_ip_recursive): the addresses before it
 * were written by the client and prove nothing. */
static const char *client_of(je_http_server *s, je_req *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return NULL;
    const struct sockaddr *sa = ci->client_addr;
    int fam = sa->sa_family;
    unsigned char a[16] = {0};
    if (fam == AF_INET)
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (fam == AF_INET6)
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else
        return NULL;
    const char *xff = s->proxies.n && proxy_trusted(&s->proxies, fam, a)
                          ? je_req_header(r, "X-Forwarded-For")
                          : NULL;
    for (size_t end = xff ? strlen(xff) : 0; end > 0;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        size_t b = start, e = end;
        while (b < e && (xff[b] == ' ' || xff[b] == '\t')) b++;
        while (e > b && (xff[e - 1] == ' ' || xff[e - 1] == '\t')) e--;
        if (parse_ip(xff + b, e - b, &fam, a) != 0) break; /* not an address: stop believing */
        if (!proxy_trusted(&s->proxies, fam, a) || start == 0) break;
        end = start - 1;
    }
    char *out = je_arena_alloc(r->arena, INET6_ADDRSTRLEN);
    return inet_ntop(fam, a, out, INET6_ADDRSTRLEN);
}

static je_req *request_new(je_http_server *s, struct MHD_Connection *c, const char *url,
                           const char *method) {
    conn_req *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    atomic_fetch_add(&s->inflight, 1);
    w->server = s;
    je_req *r = &w->r;
    r->conn = c;
    r->lookup = mhd_lookup;
    r->send = je_http_send;
    r->arena = je_arena_new();
    r->method = je_arena_strdup(r->arena, method);
    r->path = je_arena_strdup(r->arena, url);
    r->started_ns = je_mono_ns();
    r->max_body = s->limits.max_body_bytes;
    trace_id_init(r);
    const char *cl = je_req_header(r, "Content-Length");
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    if (length > r->max_body)
        r->body_too_large = 1;
    else
        w->expect = (size_t)length;
    w->bad_framing = framing_conflict(c);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    w->clock = ci ? ci->socket_context : NULL;
    return r;
}

static void handler_done(je_req *r) {
    if (!r->status) je_reply_error(r, 500, "INTERNAL", "the handler did not answer", NULL);
}

static void run_handler(void *arg) {
    conn_req *w = arg;
    w->server->handler(&w->r, w->server->cls);
    handler_done(&w->r);
}

/* The fiber's wait is over (any thread): resume the connection once it is suspended. */
static void on_wake(void *host) {
    conn_req *w = host;
    if (atomic_fetch_or(&w->park, PARK_WOKEN) & PARK_SUSPENDED) MHD_resume_connection(w->r.conn);
}

/* The fiber has parked: suspend until its wake (which may already have come). */
static void suspend_parked(conn_req *w) {
    MHD_suspend_connection(w->r.conn);
    if (atomic_fetch_or(&w->park, PARK_SUSPENDED) & PARK_WOKEN) MHD_resume_connection(w->r.conn);
}

/* Runs the handler: on a fiber when the request may write and fibers are on. */
static void dispatch(conn_req *w) {
    je_http_server *s = w->server;
    const char *m = w->r.method;
    int reads = !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
    if (!reads) {
        /* counted before stopping is read, as stop sets stopping before it reads the count
         * (sequentially consistent): either this sees stopping, or stop waits for this fiber */
        atomic_fetch_add(&s->fibers, 1);
        int failed = 1;
        if (!atomic_load(&s->stopping)) {
            w->fiber = je_fiber_start(run_handler, w, on_wake, w, &failed);
            if (w->fiber) return suspend_parked(w); /* counted until it finishes */
        }
        atomic_fetch_sub(&s->fibers, 1);
        if (!failed) return; /* ran to its end on the fiber without waiting */
    }
    s->handler(&w->r, s->cls);
    handler_done(&w->r);
}

/* Called again after a resume: the fiber goes on from its wait. */
static void resume_parked(conn_req *w) {
    atomic_store(&w->park, 0);
    if (!je_fiber_resume(w->fiber)) return suspend_parked(w);
    w->fiber = NULL;
    atomic_fetch_sub(&w->server->fibers, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    je_http_server *s = cls;
    conn_req *w = *con_cls;
    if (!w) {
        je_req *r = request_new(s, c, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (body_append(w, upload_data, *upload_data_size) != 0) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    je_deadline_received(w->clock); /* read whole: no deadline while it is answered */
    if (w->fiber) {
        resume_parked(w);
        return MHD_YES;
    }
    if (w->r.status) return MHD_YES; /* already answered */
    /* the first call with the whole request: answered once, here or on a fiber */
    w->r.client = client_of(s, &w->r);
    if (w->bad_framing || atomic_load(&s->quiesced)) je_reply_header(&w->r, "Connection", "close");
    if (w->bad_framing) {
        je_reply_error(&w->r, 400, "BAD_REQUEST",
                       "the message is framed two ways (Content-Length with Transfer-Encoding, "
                       "or Content-Lengths that differ): refused, and the connection closed",
                       NULL);
    } else {
        dispatch(w);
    }
    return MHD_YES;
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, je_err *err) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return je_err_set(err, "CONFIG", "listen address '%s' is not an IPv4 or IPv6 address", host);
}

/* A connection opens or closes: its request clock (the close comes before its fd is closed). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    je_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (s->tls) { /* a returning client may resume its session: no full handshake */
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            je_tls_session_start(s->tls, ti ? ti->tls_session : NULL);
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? je_deadline_open(s->deadlines, ci->connect_fd) : NULL;
    } else {
        je_deadline_close(s->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

je_http_server *je_http_start(const char *host, int port, const je_http_limits *limits,
                              je_http_handler handler, void *cls, je_err *err) {
    return je_http_start_with(host, port, limits, NULL, handler, cls, err);
}

je_http_server *je_http_start_with(const char *host, int port, const je_http_limits *limits,
                                   const je_http_options *opts, je_http_handler handler, void *cls,
                                   je_err *err) {
    struct sockaddr_storage ss;
    if (parse_addr(host, port, &ss, err) != 0) return NULL;
    je_http_server *s = calloc(1, sizeof *s);
    s->handler = handler;
    s->cls = cls;
    s->limits = *limits;
    s->listen_fd = -1;
    if (opts && opts->proxies) s->proxies = *opts->proxies;
    if (opts) s->tls = opts->tls;
    if (limits->request_timeout_s &&
        !(s->deadlines = je_deadlines_start(limits->request_timeout_s))) {
        free(s);
        je_err_set(err, "LISTEN", "cannot start the request-deadline thread");
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, je_tls_cert_callback()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)je_tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    /* HTTPS polls with poll(2), not epoll: libmicrohttpd 0.9.75 wakes an epoll thread many
     * times over for one handshake (about 35 EAGAIN reads each, bench/tls_bench.sh); with poll
     * a handshake costs half the CPU, and kept-alive requests are as fast (bench/README.md). */
    if (opts && opts->tls) flags = (flags & ~(unsigned)MHD_USE_EPOLL) | MHD_USE_TLS | MHD_USE_POLL;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, limits->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, limits->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        limits->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits->max_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits->max_header_bytes, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, s, MHD_OPTION_ARRAY, opts && opts->tls ? tls : tls + 2, MHD_OPTION_END);
    if (!s->daemon) {
        je_deadlines_stop(s->deadlines);
        free(s);
        je_err_set(err, "LISTEN", "cannot listen on %s:%d (in use, or not allowed)", host, port);
        return NULL;
    }
    return s;
}

void je_http_quiesce(je_http_server *s) {
    if (!s || atomic_exchange(&s->quiesced, 1)) return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    s->listen_fd = fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
    /* The socket may be closed only after the daemon stops; meanwhile the kernel would still
     * complete handshakes into its backlog, and those clients would wait for the drain. Shut
     * down, a listening socket refuses new connections at once (Linux), so a balancer moves on. */
    if (s->listen_fd >= 0) shutdown(s->listen_fd, SHUT_RDWR);
}

int je_http_drain(je_http_server *s, long timeout_ms) {
    if (!s) return 0;
    struct timespec ms = {0, 1000000};
    for (long waited = 0; waited < timeout_ms && atomic_load(&s->inflight) > 0; waited++)
        nanosleep(&ms, NULL);
    return atomic_load(&s->inflight);
}

void je_http_stop(je_http_server *s) {
    if (!s) return;
    /* libmicrohttpd must not stop with a suspended connection: no new fibers from here on,
     * and every fiber started finishes (the parked ones are woken by their commits: the store
     * still runs). */
    atomic_store(&s->stopping, 1);
    struct timespec ms = {0, 1000000};
    int waited = 0;
    for (; waited < 30000 && atomic_load(&s->fibers) > 0; waited++) nanosleep(&ms, NULL);
    if (waited) { /* resumed ones have queued their replies: a moment to send them */
        struct timespec flush = {0, 50000000};
        nanosleep(&flush, NULL);
    }
    MHD_stop_daemon(s->daemon);
    if (s->listen_fd >= 0) close(s->listen_fd);
    je_deadlines_stop(s->deadlines);
    free(s);
    je_fiber_pool_drain();
}

const char *je_req_header(je_req *r, const char *name) {
    return r->lookup(r, JE_REQ_HEADER, name);
}

const char *je_req_query(je_req *r, const char *name) {
    return r->lookup(r, JE_REQ_QUERY, name);
}

const char *je_req_query_nonempty(je_req *r, const char *name) {
    const char *v = je_req_query(r, name);
    return (v && *v) ? v : NULL;
}

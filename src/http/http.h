/* http/http.h: the HTTP server (libmicrohttpd underneath), the request object handlers see, and
 * the reply helpers. A handler gets a fully read request and must reply exactly once; memory
 * comes from the request's arena. Every reply carries X-Trace-Id. */
#ifndef JE_HTTP_HTTP_H
#define JE_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "base/arena.h"
#include "base/clock.h"

#define JE_HTTP_MAX_BODY (1024 * 1024) /* the default of je_http_limits.max_body_bytes */
#define JE_HTTP_MAX_PARAMS 4
#define JE_HTTP_MAX_EXTRA_HEADERS 12

struct MHD_Connection;
typedef struct je_principal je_principal;

/* What r->lookup reads. */
enum { JE_REQ_HEADER, JE_REQ_QUERY };

typedef struct je_req je_req;
/* The seam between a request and its connection: the server fills both with libmicrohttpd's; a
 * unit test fills its own, so the gate and the change logic run without a socket. */
typedef const char *(*je_req_lookup_fn)(je_req *r, int kind, const char *name);
typedef void (*je_req_send_fn)(je_req *r, int status, const char *content_type, const char *data,
                               size_t len);

struct je_req {
    struct MHD_Connection *conn;
    je_req_lookup_fn lookup; /* headers (case-insensitive names) and query parameters */
    je_req_send_fn send;     /* a whole reply, with r->headers; streams need the server */
    const char *method;
    const char *path; /* without the query string */
    char *body;       /* NUL-terminated copy (may also hold NULs); NULL when empty */
    size_t body_len;
    int body_too_large;
    size_t max_body; /* the server's max_body_bytes, for the 413's message */
    je_arena *arena;
    char trace_id[33];
    int64_t started_ns;
    /* set by routing and the gate */
    const char *route;  /* the matched pattern, for logs */
    const char *client; /* the client's address for logs (set once the request is read) */
    const char *params[JE_HTTP_MAX_PARAMS];
    size_t n_params;
    const je_principal *principal; /* NULL on public routes */
    void *app;
    /* reply state */
    int status; /* 0 until replied */
    size_t n_headers;
    const char *headers[JE_HTTP_MAX_EXTRA_HEADERS][2];
};

typedef void (*je_http_handler)(je_req *r, void *cls);

typedef struct je_http_server je_http_server;

/* What a server allows its clients (docs/operations.md "Limits on clients"). */
typedef struct je_http_limits {
    unsigned threads;           /* pool threads */
    unsigned max_connections;   /* open at once, in total */
    unsigned max_per_ip;        /* open at once from one address */
    unsigned idle_timeout_s;    /* no byte either way for this long closes a connection */
    unsigned request_timeout_s; /* a whole request must arrive within this of the connection
                                   opening or of the previous reply (0: none) */
    size_t max_header_bytes;    /* request line and headers (431 beyond) */
    size_t max_body_bytes;      /* body (413 beyond) */
} je_http_limits;

/* Addresses whose X-Forwarded-For is believed: a reverse proxy in front (docs/operations.md
 * "Behind a reverse proxy"). */
#define JE_HTTP_MAX_PROXIES 32
typedef struct je_http_proxies {
    size_t n;
    struct {
        int family; /* AF_INET or AF_INET6 */
        unsigned char addr[16];
        unsigned prefix; /* bits */
    } net[JE_HTTP_MAX_PROXIES];
} je_http_proxies;
/* "ADDR[/BITS],..." (IPv4 or IPv6; spaces allowed after commas) into out. 0, or -1 with err. */
int je_http_parse_proxies(const char *list, je_http_proxies *out, je_err *err);

struct je_tls;
/* What a server is besides its limits; NULL members: plain HTTP, no proxy believed. */
typedef struct je_http_options {
    struct je_tls *tls;             /* serve HTTPS with this certificate (http/tls.h) */
    const je_http_proxies *proxies; /* copied at start */
} je_http_options;

/* Starts serving on host:port; handler runs on pool threads. */
je_http_server *je_http_start(const char *host, int port, const je_http_limits *limits,
                              je_http_handler handler, void *cls, je_err *err);
je_http_server *je_http_start_with(const char *host, int port, const je_http_limits *limits,
                                   const je_http_options *opts, je_http_handler handler, void *cls,
                                   je_err *err);
/* Stops accepting connections; requests on open connections are still answered, each with
 * Connection: close. */
void je_http_quiesce(je_http_server *s);
/* Waits until no request is in flight (read, being answered, or its answer being sent), at most
 * timeout_ms; returns how many still are. */
int je_http_drain(je_http_server *s, long timeout_ms);
/* Stops: connections still open are closed. */
void je_http_stop(je_http_server *s);
/* Called once per answered request, as its answer is queued, before any of it is sent
 * (metrics): a client that has its answer finds it counted. */
typedef void (*je_http_observer)(const je_req *r, double seconds);
void je_http_set_observer(je_http_observer fn);

/* Request accessors. Header names are case-insensitive. NULL when absent. */
const char *je_req_header(je_req *r, const char *name);
const char *je_req_query(je_req *r, const char *name);
/* Query parameter, with an empty value treated as absent. */
const char *je_req_query_nonempty(je_req *r, const char *name);

/* The server's je_req_send_fn (libmicrohttpd). */
void je_http_send(je_req *r, int status, const char *content_type, const char *data, size_t len);

/* Adds a header to the coming reply (name and value must outlive the request: use the arena). */
void je_reply_header(je_req *r, const char *name, const char *value);
/* Replies with body (stolen) as application/json. */
void je_reply_json(je_req *r, int status, json_t *body);
/* Replies with raw bytes and a content type. */
void je_reply_raw(je_req *r, int status, const char *content_type, const char *data, size_t len);
void je_reply_empty(je_req *r, int status);
/* Streams a body of unknown length: fill writes up to max bytes into buf and returns how many,
 * 0 at the end, -1 on an error (the connection is closed). free_ctx runs once when done. */
typedef long (*je_stream_fill_fn)(void *ctx, char *buf, size_t max);
void je_reply_stream(je_req *r, int status, const char *content_type, je_stream_fill_fn fill,
                     void *ctx, void (*free_ctx)(void *));
/* The JobEngine error envelope {"error": {code, message, trace_id, details}}; details stolen. */
void je_reply_error(je_req *r, int status, const char *code, const char *message, json_t *details);
/* VALIDATION_FAILED (or another code) naming a field in details.field. */
void je_reply_field_error(je_req *r, int status, const char *code, const char *field,
                          const char *message);
/* The Authority's RFC 6749 §5.2 form {"error", "error_description"}. */
void je_reply_oauth_error(je_req *r, int status, const char *error, const char *description);
/* The same with extra members, which §5.2 allows (extra stolen; NULL for none). */
void je_reply_oauth_error_with(je_req *r, int status, const char *error, const char *description,
                               json_t *extra);

#endif

/* http/reply.c: building and queueing replies; the error envelopes of api.md §1, whose message
 * is always valid UTF-8 (a method or a name a client sent may be quoted in it). */
#include "http/http.h"

#include "base/clock.h"
#include "core/jcs.h"
#include "core/text.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

void je_reply_header(je_req *r, const char *name, const char *value) {
    if (r->n_headers >= JE_HTTP_MAX_EXTRA_HEADERS) return;
    r->headers[r->n_headers][0] = name;
    r->headers[r->n_headers][1] = value;
    r->n_headers++;
}

static je_http_observer observer;

void je_http_set_observer(je_http_observer fn) {
    observer = fn;
}

/* Adds the headers every reply carries and queues it (one reply per request). The request is
 * observed (metrics) before its answer is queued, so a client holding the answer finds it
 * counted; the completion callback would run after the answer had reached the client. */
static void queue(je_req *r, int status, const char *content_type, struct MHD_Response *resp) {
    if (content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "X-Trace-Id", r->trace_id);
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
    r->status = status;
    if (observer) observer(r, (double)(je_mono_ns() - r->started_ns) / 1e9);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void je_http_send(je_req *r, int status, const char *content_type, const char *data, size_t len) {
    queue(r, status, content_type,
          MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY));
}

void je_reply_raw(je_req *r, int status, const char *content_type, const char *data, size_t len) {
    if (r->status) return;
    r->send(r, status, content_type, data, len);
    r->status = status;
}

void je_reply_empty(je_req *r, int status) {
    je_reply_raw(r, status, NULL, "", 0);
}

void je_reply_json(je_req *r, int status, json_t *body) {
    size_t len = 0;
    char *s = body ? je_json_dumps_ordered(body, &len) : NULL;
    json_decref(body);
    if (!s) {
        static const char fallback[] = "{\"error\":{\"code\":\"INTERNAL\"}}";
        je_reply_raw(r, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    je_reply_raw(r, status, "application/json", s, len);
    free(s);
}

void je_reply_error(je_req *r, int status, const char *code, const char *message, json_t *details) {
    if (!je_utf8_valid(message, strlen(message))) { /* a client's bytes quoted: '?' for them */
        char *m = je_arena_strdup(r->arena, message);
        je_utf8_scrub(m);
        message = m;
    }
    json_t *e = json_pack("{s:{s:s, s:s, s:s, s:o}}", "error", "code", code, "message", message,
                          "trace_id", r->trace_id, "details", details ? details : json_object());
    je_reply_json(r, status, e);
}

void je_reply_field_error(je_req *r, int status, const char *code, const char *field,
                          const char *message) {
    je_reply_error(r, status, code, message, json_pack("{s:s}", "field", field));
}

void je_reply_oauth_error(je_req *r, int status, const char *error, const char *description) {
    je_reply_oauth_error_with(r, status, error, description, NULL);
}

void je_reply_oauth_error_with(je_req *r, int status, const char *error, const char *description,
                               json_t *extra) {
    je_reply_header(r, "Cache-Control", "no-store");
    je_reply_header(r, "Pragma", "no-cache");
    json_t *body = json_pack("{s:s, s:s}", "error", error, "error_description", description);
    if (extra) json_object_update_missing(body, extra); /* error and its description stay */
    json_decref(extra);
    je_reply_json(r, status, body);
}

typedef struct stream {
    je_stream_fill_fn fill;
    void *ctx;
    void (*free_ctx)(void *);
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream *st = cls;
    long n = st->fill(st->ctx, buf, max);
    if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    if (st->free_ctx) st->free_ctx(st->ctx);
    free(st);
}

void je_reply_stream(je_req *r, int status, const char *content_type, je_stream_fill_fn fill,
                     void *ctx, void (*free_ctx)(void *)) {
    if (r->status) return;
    stream *st = malloc(sizeof *st);
    if (!st) abort();
    *st = (stream){fill, ctx, free_ctx};
    queue(r, status, content_type,
          MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, st,
                                            stream_free));
}

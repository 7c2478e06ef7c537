/* api/quota_list.c: the quota list routes of api.md §3.3 (GET /jobengine/quotas and its
 * summary), written straight into one buffer without a JSON tree. The store's visitor renders
 * each quota as it comes, leaving a cut where its pending count goes; the counts are read after
 * the list (no store call runs inside another's visitor) and spliced in as the reply is
 * assembled. The bytes are those of the former tree (api/quota_view.h, je_quota_text). */
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/quota_view.h"
#include "api/routes.h"
#include "core/ids.h"
#include "core/jcs.h"
#include "http/params.h"

typedef struct item {
    size_t start, cut, end; /* in the list's buffer */
    const char *job_type;   /* in the request's arena */
} item;

typedef struct list_ctx {
    je_req *r;
    je_buf b; /* the items, each without its pending count */
    item *items;
    size_t n, cap;
    int64_t now;
    int summary, failed;
} list_ctx;

static int list_visit(void *ctx, const je_quota_record *q) {
    list_ctx *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        item *ni = realloc(l->items, l->cap * sizeof *ni);
        if (!ni) abort();
        l->items = ni;
    }
    item *it = &l->items[l->n++];
    it->start = l->b.len;
    int rc = l->summary ? je_quota_summary_text(&l->b, q, l->now, &it->cut)
                        : je_quota_text(&l->b, q, l->now, 0, &it->cut);
    if (rc != 0) l->failed = 1;
    it->end = l->b.len;
    it->job_type = je_arena_strdup(l->r->arena, q->job_type);
    return 0;
}

/* {"items":[...] with the pending counts of the first n items spliced in, into out. */
static int assemble(je_app *app, list_ctx *l, size_t n, je_buf *out, je_err *err) {
    const char *tenant = l->r->principal->tenant;
    je_buf_puts(out, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        const item *it = &l->items[i];
        int64_t pending = app->store->ops->jobs_pending(app->store, tenant, it->job_type, err);
        if (pending < 0) return -1; /* never answered as "0 pending" */
        if (i) je_buf_putc(out, ',');
        je_buf_append(out, l->b.data + it->start, it->cut - it->start);
        je_jcs_int(pending, out);
        je_buf_append(out, l->b.data + it->cut, it->end - it->cut);
    }
    je_buf_putc(out, ']');
    return 0;
}

static void list_free(list_ctx *l) {
    je_buf_free(&l->b);
    free(l->items);
}

/* The page after the list: items with their counts, and for the list its continuation. */
static int page(je_app *app, list_ctx *l, const je_quota_filter *f, je_buf *out, je_err *err) {
    size_t n = l->n;
    int more = !l->summary && (int)n == f->limit;
    if (more) n--;
    if (assemble(app, l, n, out, err) != 0) return -1;
    if (!l->summary) {
        je_buf_puts(out, ",\"continuationToken\":");
        if (more) {
            const char *next = je_params_continuation_make_str(l->r, l->items[n - 1].job_type);
            je_jcs_string(next, strlen(next), out); /* base64url: always valid */
        } else {
            je_buf_puts(out, "null");
        }
    }
    je_buf_putc(out, '}');
    return 0;
}

static void list_reply(je_req *r, je_app *app, const je_quota_filter *f, int summary) {
    list_ctx l = {.r = r, .now = je_now_ms(), .summary = summary};
    je_buf out = JE_BUF_INIT;
    je_err err;
    je_err_clear(&err);
    int rc = app->store->ops->quota_list(app->store, r->principal->tenant, f, list_visit, &l, &err);
    if (rc == 0 && !l.failed) rc = page(app, &l, f, &out, &err);
    if (rc != 0)
        je_api_reply_err(r, &err, NULL);
    else if (l.failed)
        je_reply_error(r, 500, "INTERNAL", "a stored quota cannot be written as JSON", NULL);
    else
        je_reply_raw(r, 200, "application/json", out.data, out.len);
    list_free(&l);
    je_buf_free(&out);
}

static int list_filters(je_req *r, je_quota_filter *f, char *after, size_t cap) {
    *f = (je_quota_filter){.paused = -1};
    const char *jt = je_req_query_nonempty(r, "jobType");
    const char *paused = je_req_query_nonempty(r, "paused");
    if (jt && !je_id_job_type_valid(jt, strlen(jt))) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "jobType", "jobType is malformed");
        return -1;
    }
    f->job_type = jt;
    if (paused && strcmp(paused, "true") != 0 && strcmp(paused, "false") != 0) {
        je_reply_field_error(r, 400, "VALIDATION_FAILED", "paused", "paused must be true or false");
        return -1;
    }
    if (paused) f->paused = strcmp(paused, "true") == 0;
    int limit;
    if (je_params_limit(r, &limit) != 0 || je_params_continuation_str(r, after, cap) != 0)
        return -1;
    f->limit = limit + 1;
    f->after_job_type = after;
    return 0;
}

void je_api_quota_list(je_req *r, je_app *app) {
    je_quota_filter f;
    char after[JE_JOBTYPE_MAX + 2];
    if (list_filters(r, &f, after, sizeof after) != 0) return;
    list_reply(r, app, &f, 0);
}

void je_api_quota_summary(je_req *r, je_app *app) {
    je_quota_filter f = {.paused = -1, .after_job_type = "", .limit = 1000000};
    list_reply(r, app, &f, 1);
}

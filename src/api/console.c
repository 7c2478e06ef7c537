/* api/console.c: GET /console/... (docs/operations.md "Console"): the operator console's files,
 * public (the page signs in through /token and calls the API with the token it gets, so it can
 * do nothing its token could not). The files are console/, embedded at build time as
 * je_console_assets (scripts/embed_files.cmake, MODE=assets), each with its content type and a
 * strong ETag of its SHA-256, so the binary needs no source tree and a new binary's files are
 * new ETags. A path is looked up exactly in that table: "..", "//", a directory or any other
 * name the table lacks is a 404, so no path reaches anything but an embedded file. */
#include "api/routes.h"

#include <stddef.h>
#include <string.h>

struct je_console_asset {
    const char *path, *data;
    size_t len;
    const char *content_type, *etag;
};
extern const struct je_console_asset je_console_assets[];

/* default-src 'self' (issue 14): scripts, styles and images from this origin only, so no inline
 * script runs; the rest shuts what default-src does not: <base> rewriting, forms posted
 * elsewhere, and framing (clickjacking a page that changes capacity). */
static const char csp[] = "default-src 'self'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

/* What every console reply carries (a 404 too: it is read by the same browser). */
static void console_headers(je_req *r) {
    je_reply_header(r, "Content-Security-Policy", csp);
    je_reply_header(r, "X-Content-Type-Options", "nosniff");
    je_reply_header(r, "Referrer-Policy", "no-referrer");
}

static const struct je_console_asset *asset_find(const char *path) {
    for (const struct je_console_asset *a = je_console_assets; a->path; a++)
        if (strcmp(a->path, path) == 0) return a;
    return NULL;
}

static int is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* If-None-Match (RFC 9110 §13.1.2): "*" matches any file there is; else a list of entity tags,
 * compared weakly (W/"x" matches "x"). A malformed member matches nothing. */
static int etag_listed(const char *field, const char *etag) {
    const char *p = field;
    while (is_ows(*p)) p++;
    if (p[0] == '*') {
        const char *q = p + 1;
        while (is_ows(*q)) q++;
        if (*q == '\0') return 1;
    }
    size_t n = strlen(etag);
    while (*p) {
        if (is_ows(*p) || *p == ',') {
            p++;
            continue;
        }
        if (p[0] == 'W' && p[1] == '/') p += 2;
        const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (!end) return 0;
        if ((size_t)(end + 1 - p) == n && memcmp(p, etag, n) == 0) return 1;
        p = end + 1;
    }
    return 0;
}

void je_api_console(je_req *r, je_app *app) {
    console_headers(r);
    const char *path = r->params[0][0] ? r->params[0] : "index.html";
    const struct je_console_asset *a = asset_find(path);
    if (!a) return je_reply_error(r, 404, "NOT_FOUND", "no such console file", NULL);
    /* no-cache: kept, but revalidated on every use, so a new binary's files are used at once */
    je_reply_header(r, "Cache-Control", "no-cache");
    je_reply_header(r, "ETag", a->etag);
    const char *inm = je_req_header(r, "If-None-Match");
    if (inm && etag_listed(inm, a->etag)) return je_reply_empty(r, 304);
    je_reply_raw(r, 200, a->content_type, a->data, a->len);
}

/* /console: the page's relative URLs (style.css, app.js) resolve against /console/. */
void je_api_console_redirect(je_req *r, je_app *app) {
    console_headers(r);
    je_reply_header(r, "Location", "/console/");
    je_reply_raw(r, 308, "text/plain; charset=utf-8", "/console/\n", 10);
}

/* store/store.c: opening a store from its URL. Owns the dispatch on the URL's scheme to a
 * backend's constructor; nothing else here knows about any backend. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

je_store *je_store_open(const char *url, je_err *err) {
    if (!url || !*url) {
        je_err_set(err, "STORE", "no store URL given (expected sqlite:PATH or postgres://...)");
        return NULL;
    }
    if (strncmp(url, "sqlite:", 7) == 0) return je_store_sqlite_open(url + 7, err);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return je_store_postgres_open(url, err);
    if (strcmp(url, "postgres:") == 0 || strcmp(url, "postgresql:") == 0)
        return je_store_postgres_open("", err); /* libpq's PG* environment */
    /* Name only the scheme: the rest of a URL may hold a password. */
    size_t scheme = strcspn(url, ":");
    if (url[scheme] == ':')
        je_err_set(err, "STORE",
                   "unknown store URL scheme '%.*s' (expected sqlite:PATH or postgres://...)",
                   (int)(scheme > 32 ? 32 : scheme), url);
    else
        je_err_set(err, "STORE",
                   "store URL has no scheme (expected sqlite:PATH or postgres://...)");
    return NULL;
}

const char *je_store_rc_name(int rc) {
    switch (rc) {
    case JE_STORE_OK:
        return "OK";
    case JE_STORE_NOT_FOUND:
        return "NOT_FOUND";
    case JE_STORE_LEASE_LOST:
        return "LEASE_LOST";
    case JE_STORE_CONFLICT:
        return "CONFLICT";
    case JE_CHANGE_APPLY:
        return "APPLY";
    case JE_CHANGE_DELETE:
        return "DELETE";
    case JE_CHANGE_DENY:
        return "DENY";
    case JE_STORE_ERROR:
        return "ERROR";
    case JE_STORE_RETRY:
        return "RETRY";
    case JE_STORE_UNKNOWN_OUTCOME:
        return "UNKNOWN_OUTCOME";
    default:
        return "?";
    }
}

/* Appends n bytes of src to out (capacity cap, used *len), always NUL-terminated. */
static void put(char *out, size_t cap, size_t *len, const char *src, size_t n) {
    if (*len + 1 >= cap) return;
    if (n > cap - 1 - *len) n = cap - 1 - *len;
    memcpy(out + *len, src, n);
    *len += n;
    out[*len] = 0;
}

void je_store_url_safe(const char *url, char *out, size_t cap) {
    size_t len = 0;
    if (!cap) return;
    out[0] = 0;
    if (!url) return;
    const char *p = url;
    const char *auth = strstr(url, "://");
    if (auth) {
        auth += 3;
        size_t host = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', host);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put(out, cap, &len, url, (size_t)(colon - url) + 1);
            put(out, cap, &len, "***", 3);
            p = at;
        }
    }
    /* key=value parameters: the value of password= (and of any key ending in it) is hidden */
    while (*p) {
        const char *key = strstr(p, "password=");
        if (!key) break;
        put(out, cap, &len, p, (size_t)(key - p) + 9);
        put(out, cap, &len, "***", 3);
        p = key + 9 + strcspn(key + 9, "& ");
    }
    put(out, cap, &len, p, strlen(p));
}

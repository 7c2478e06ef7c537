/* store/sqlite_check.c: what the SQLite backend says when its file or its disk fails. Owns the
 * wording of every store error (je_sqlite_fail, je_sqlite_errtext): a disk that is full, a file
 * that cannot be written or read, a damaged file are named as such, with the operating system's
 * reason (errno), so a 503 STORE_UNAVAILABLE tells an operator what to fix. Owns the check of
 * the file at open (je_sqlite_check_file): PRAGMA quick_check before anything is written, so a
 * damaged store is refused at start instead of served. */
#include "store/sqlite_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What an error code says about the disk or the file, or NULL for any other error. */
static const char *disk_problem(int xrc) {
    switch (xrc & 0xff) {
    case SQLITE_FULL:
        return "the disk holding the store is full";
    case SQLITE_READONLY:
        return "the store is read-only";
    case SQLITE_IOERR:
        return xrc == SQLITE_IOERR_READ || xrc == SQLITE_IOERR_SHORT_READ
                   ? "the store's file could not be read"
                   : "the store's file could not be written";
    case SQLITE_CANTOPEN:
        return "the store's file could not be opened";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "the store's database file is damaged";
    }
    return NULL;
}

/* The operating system's reason for a disk error: SQLite's record of it, else the calling
 * thread's errno when it is one a failed write or open leaves (SQLite records none for a full
 * disk, nor for some failed writes); 0 when unknown. */
static int os_reason(sqlite3 *db, int saved_errno) {
    int os = sqlite3_system_errno(db);
    if (os) return os;
    switch (saved_errno) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EROFS:
    case EIO:
    case EACCES:
    case EPERM:
        return saved_errno;
    }
    return 0;
}

const char *je_sqlite_errtext(sqlite3 *db, const char *what, char *buf, size_t cap) {
    int saved_errno = errno; /* first: before any call that may set it */
    if (!db) {
        snprintf(buf, cap, "%s: no connection", what);
        return buf;
    }
    const char *problem = disk_problem(sqlite3_extended_errcode(db));
    int os = problem ? os_reason(db, saved_errno) : 0;
    if (!problem)
        snprintf(buf, cap, "%s: %s", what, sqlite3_errmsg(db));
    else if (os)
        snprintf(buf, cap, "%s (%s); %s: %s", problem, strerror(os), what, sqlite3_errmsg(db));
    else
        snprintf(buf, cap, "%s; %s: %s", problem, what, sqlite3_errmsg(db));
    return buf;
}

int je_sqlite_fail(je_err *err, sqlite3 *db, const char *what) {
    char msg[sizeof err->message];
    return je_err_set(err, "STORE", "%s", je_sqlite_errtext(db, what, msg, sizeof msg));
}

static int damaged(je_err *err, const char *path, const char *why) {
    return je_err_set(err, "STORE",
                      "the database file %s is damaged (%s); jobengine does not serve a damaged "
                      "store: restore the file from a backup",
                      path, why);
}

/* The first rows quick_check reported, joined by "; " into buf. */
static void collect_rows(sqlite3_stmt *st, int rc, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (; rc == SQLITE_ROW && n + 1 < cap; rc = sqlite3_step(st)) {
        const char *row = (const char *)sqlite3_column_text(st, 0);
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "; " : "", row ? row : "?");
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' '; /* one line: "*** in database main *** Page 3: ..." */
}

/* A failed prepare or step of quick_check: a file that is not a database or is damaged is
 * refused as such; another failure (a read error, a lock) is told as it is. */
static int check_failed(sqlite3 *db, const char *path, je_err *err) {
    int rc = sqlite3_errcode(db);
    if (rc == SQLITE_NOTADB)
        return je_err_set(err, "STORE",
                          "the file %s is not a SQLite database (%s); jobengine does not serve "
                          "it: restore the store from a backup",
                          path, sqlite3_errmsg(db));
    if (rc == SQLITE_CORRUPT) return damaged(err, path, sqlite3_errmsg(db));
    return je_sqlite_fail(err, db, "PRAGMA quick_check");
}

int je_sqlite_check_file(sqlite3 *db, const char *path, je_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &st, NULL) != SQLITE_OK) {
        check_failed(db, path, err);
        sqlite3_finalize(st);
        return -1;
    }
    int rc = sqlite3_step(st);
    const char *first = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (first && strcmp(first, "ok") == 0 && (rc = sqlite3_step(st)) == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        check_failed(db, path, err);
        sqlite3_finalize(st);
        return -1;
    }
    char found[256], why[320];
    collect_rows(st, rc, found, sizeof found);
    snprintf(why, sizeof why, "PRAGMA quick_check: %s", found);
    sqlite3_finalize(st);
    return damaged(err, path, why);
}

/* api/authority.h: what the Authority's endpoints share: reading the form body and
 * authenticating the calling client (HTTP Basic or client_id/client_secret form fields). */
#ifndef JE_API_AUTHORITY_H
#define JE_API_AUTHORITY_H

#include "api/app.h"
#include "http/form.h"

typedef struct je_client_auth {
    const char *id_sent; /* the client id as sent, when printable UTF-8 <= 128 bytes; else NULL */
    int authenticated;   /* 1 when id and secret matched a client */
    je_client client;    /* valid when authenticated */
} je_client_auth;

/* Reads the form body: 0, or -1 with an OAuth error code and description set
 * ("invalid_request"), status in *status (400 or 413). */
int je_authority_read_form(je_req *r, je_form *f, int *status, const char **desc);

/* Authenticates the caller. Returns 0 when authenticated; -1 with *error/desc/status set
 * (invalid_request 400 when both methods are used, invalid_client 401 otherwise). */
int je_authority_client_auth(je_req *r, je_app *app, const je_form *f, je_client_auth *ca,
                             int *status, const char **error, const char **desc);

/* Replies with an OAuth error; adds WWW-Authenticate for 401. */
void je_authority_reply_error(je_req *r, int status, const char *error, const char *desc);
/* The same with extra members in the body (extra stolen; NULL for none). */
void je_authority_reply_error_with(je_req *r, int status, const char *error, const char *desc,
                                   json_t *extra);

/* 1 when the client may act for tenant. */
int je_client_has_tenant(const je_client *c, const char *tenant);

#endif

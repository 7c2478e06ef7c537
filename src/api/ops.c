/* api/ops.c: GET /healthz (the process answers) and GET /readyz (the store answers). */
#include "api/routes.h"

void je_api_healthz(je_req *r, je_app *app) {
    je_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void je_api_readyz(je_req *r, je_app *app) {
    je_err err;
    je_err_clear(&err);
    if (app->store->ops->ping(app->store, &err) != 0)
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the store does not answer", NULL);
    je_reply_json(r, 200,
                  json_pack("{s:s, s:s}", "status", "ready", "store", app->store->ops->name));
}

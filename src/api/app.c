/* api/app.c: wiring of the running service. */
#include "api/app.h"

#include <string.h>

int je_app_init(je_app *app, je_store *store, const je_config *cfg, je_err *err) {
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->store = store;
    if (je_keyring_init(&app->keyring, store, je_now_ms(), err) != 0) return -1;
    return je_verifier_init(&app->verifier, &app->keyring, store, app->cfg.issuer,
                            app->cfg.audience, err);
}

void je_app_destroy(je_app *app) {
    je_verifier_destroy(&app->verifier);
    je_keyring_destroy(&app->keyring);
}

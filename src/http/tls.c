/* http/tls.c: the server's reloadable certificate (see tls.h). */
#include "http/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char je_tls_priorities[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE";

#define MAX_CHAIN 16

/* One certificate chain and its key; never changed once published. */
typedef struct pair {
    gnutls_pcert_st certs[MAX_CHAIN];
    unsigned n_certs;
    gnutls_privkey_t key;
    char fingerprint[65];
    struct pair *older; /* the pairs it replaced, freed with the je_tls */
} pair;

struct je_tls {
    _Atomic(pair *) live;
    gnutls_datum_t ticket_key; /* GnuTLS derives the keys it rotates from it */
    pthread_mutex_t reload;    /* one reload at a time */
};

static _Atomic(je_tls *) the_tls; /* the callback's context: one per process */

static void pair_free(pair *p) {
    while (p) {
        pair *older = p->older;
        for (unsigned i = 0; i < p->n_certs; i++) gnutls_pcert_deinit(&p->certs[i]);
        if (p->key) gnutls_privkey_deinit(p->key);
        free(p);
        p = older;
    }
}

static int fail(je_err *err, const char *what, const char *path, int rc) {
    return je_err_set(err, "TLS", "%s %s: %s", what, path, gnutls_strerror(rc)), -1;
}

/* Checks the pair as GnuTLS's own loader does (it refuses a key that does not match). */
static int check_match(const char *cert_path, const char *key_path, je_err *err) {
    const char *paths[2] = {cert_path, key_path}, *what[2] = {"certificate", "key"};
    for (int i = 0; i < 2; i++) { /* which of the two cannot be read, said plainly */
        FILE *f = fopen(paths[i], "rb");
        if (!f) return je_err_set(err, "TLS", "%s %s: %s", what[i], paths[i], strerror(errno)), -1;
        fclose(f);
    }
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return je_err_set(err, "TLS", "out of memory"), -1;
    int rc = gnutls_certificate_set_x509_key_file2(cred, cert_path, key_path, GNUTLS_X509_FMT_PEM,
                                                   NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
        return je_err_set(err, "TLS", "the key %s does not belong to the certificate %s", key_path,
                          cert_path),
               -1;
    if (rc < 0)
        return je_err_set(err, "TLS", "certificate %s with key %s: %s", cert_path, key_path,
                          gnutls_strerror(rc)),
               -1;
    return 0;
}

static pair *pair_load(const char *cert_path, const char *key_path, je_err *err) {
    if (check_match(cert_path, key_path, err) != 0) return NULL;
    pair *p = calloc(1, sizeof *p);
    if (!p) return je_err_set(err, "TLS", "out of memory"), NULL;
    p->n_certs = MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_file(p->certs, &p->n_certs, cert_path,
                                                GNUTLS_X509_FMT_PEM, NULL, NULL, 0);
    if (rc < 0) {
        p->n_certs = 0;
        pair_free(p);
        return fail(err, "certificate", cert_path, rc), NULL;
    }
    gnutls_datum_t pem = {NULL, 0};
    if ((rc = gnutls_load_file(key_path, &pem)) < 0 || (rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        if (pem.data) {
            gnutls_memset(pem.data, 0, pem.size);
            gnutls_free(pem.data);
        }
        pair_free(p);
        return fail(err, "key", key_path, rc), NULL;
    }
    gnutls_memset(pem.data, 0, pem.size);
    gnutls_free(pem.data);
    unsigned char d[32];
    size_t dn = sizeof d;
    if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &p->certs[0].cert, d, &dn) == 0 && dn == 32)
        for (int i = 0; i < 32; i++) snprintf(p->fingerprint + 2 * i, 3, "%02x", d[i]);
    return p;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *key) {
    je_tls *t = atomic_load(&the_tls);
    pair *p = t ? atomic_load(&t->live) : NULL;
    if (!p) return -1;
    *pcert = p->certs;
    *pcert_length = p->n_certs;
    *key = p->key;
    return 0;
}

void *je_tls_cert_callback(void) {
    return (void *)&retrieve;
}

je_tls *je_tls_load(const char *cert_path, const char *key_path, je_err *err) {
    if (atomic_load(&the_tls)) return je_err_set(err, "TLS", "one TLS listener a process"), NULL;
    pair *p = pair_load(cert_path, key_path, err);
    if (!p) return NULL;
    je_tls *t = calloc(1, sizeof *t);
    if (!t) {
        pair_free(p);
        return je_err_set(err, "TLS", "out of memory"), NULL;
    }
    atomic_init(&t->live, p);
    if (gnutls_session_ticket_key_generate(&t->ticket_key) < 0) t->ticket_key.data = NULL;
    pthread_mutex_init(&t->reload, NULL);
    je_tls *none = NULL;
    if (!atomic_compare_exchange_strong(&the_tls, &none, t)) {
        je_tls_free(t);
        return je_err_set(err, "TLS", "one TLS listener a process"), NULL;
    }
    return t;
}

int je_tls_reload(je_tls *t, const char *cert_path, const char *key_path, je_err *err) {
    pair *p = pair_load(cert_path, key_path, err);
    if (!p) return -1;
    pthread_mutex_lock(&t->reload);
    p->older = atomic_load(&t->live);
    atomic_store(&t->live, p);
    pthread_mutex_unlock(&t->reload);
    return 0;
}

int je_tls_session_start(je_tls *t, void *session) {
    if (!t->ticket_key.data || !session) return -1;
    return gnutls_session_ticket_enable_server(session, &t->ticket_key) < 0 ? -1 : 0;
}

void je_tls_fingerprint(const je_tls *t, char out[65]) {
    pair *p = atomic_load(&((je_tls *)t)->live);
    memcpy(out, p->fingerprint, 65);
}

void je_tls_free(je_tls *t) {
    if (!t) return;
    je_tls *self = t;
    atomic_compare_exchange_strong(&the_tls, &self, NULL);
    pair_free(atomic_load(&t->live));
    if (t->ticket_key.data) {
        gnutls_memset(t->ticket_key.data, 0, t->ticket_key.size);
        gnutls_free(t->ticket_key.data);
    }
    pthread_mutex_destroy(&t->reload);
    free(t);
}

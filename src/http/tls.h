/* http/tls.h: the server's TLS certificate and key (GnuTLS, under libmicrohttpd), reloadable.
 *
 * A je_tls holds the certificate chain and key that new handshakes get. je_tls_reload loads a new
 * pair and, once it has been checked (readable PEM, the key matches the first certificate),
 * makes it the one new handshakes get; a connection already open keeps the session it has, so a
 * reload drops nothing. A pair that fails its checks changes nothing. A replaced pair stays in
 * memory until je_tls_free (a handshake in progress may still be using it): a few KiB a reload.
 *
 * libmicrohttpd's certificate callback takes no context pointer, so one je_tls serves the process
 * (the API listener); je_tls_load refuses a second while the first lives. */
#ifndef JE_HTTP_TLS_H
#define JE_HTTP_TLS_H

#include "core/err.h"

typedef struct je_tls je_tls;

/* The GnuTLS priority string the server uses: TLS 1.3 and 1.2 only; AEAD ciphers (AES-GCM,
 * ChaCha20-Poly1305); ECDHE key exchange (forward secrecy); the server's order. */
extern const char je_tls_priorities[];

/* Loads cert_path (PEM: the certificate, then its chain) and key_path (PEM private key). NULL
 * with err set ("TLS") when either cannot be read, is not PEM, or they do not match. */
je_tls *je_tls_load(const char *cert_path, const char *key_path, je_err *err);
/* The same checks; on success new handshakes get the new pair. 0, or -1 with err (nothing
 * changed). */
int je_tls_reload(je_tls *t, const char *cert_path, const char *key_path, je_err *err);
/* SHA-256 fingerprint of the certificate new handshakes get (64 hex digits + NUL), for logs. */
void je_tls_fingerprint(const je_tls *t, char out[65]);
void je_tls_free(je_tls *t);

/* For the server: a new connection's GnuTLS session (gnutls_session_t) may resume a session of
 * a client it had before (RFC 5077 / TLS 1.3 tickets, under a key made at load and kept in
 * memory only), so a returning client skips the full handshake. 0, or -1 (the session goes on
 * without). */
int je_tls_session_start(je_tls *t, void *session);

/* For the server: the gnutls_certificate_retrieve_function2 that answers from the live pair. */
void *je_tls_cert_callback(void);

#endif

/* base/b64url.h: base64url without padding (RFC 4648 §5), and standard base64 decoding for
 * HTTP Basic credentials. */
#ifndef JE_BASE_B64URL_H
#define JE_BASE_B64URL_H

#include <stddef.h>

/* Encoded length (no padding) of n bytes, without the NUL. */
size_t je_b64url_len(size_t n);
/* Writes the encoding of in[0..n) plus NUL into out (>= je_b64url_len(n) + 1); returns length. */
size_t je_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Decodes s[0..len) (unpadded base64url; padding, whitespace or other alphabets refused) into
 * out (>= len * 3 / 4 + 1). Returns 0 and sets *out_len, or -1 when malformed. */
int je_b64url_decode(const char *s, size_t len, unsigned char *out, size_t *out_len);
/* Standard base64 (RFC 4648 §4, padding required when the length is not a multiple of 4... and
 * accepted when absent). Returns 0 or -1. out >= len * 3 / 4 + 1. */
int je_b64_decode(const char *s, size_t len, unsigned char *out, size_t *out_len);

#endif

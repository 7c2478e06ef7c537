/* base/random.c: secure random bytes and UUIDv7 (RFC 9562 §5.7). */
#include "base/random.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdlib.h>

int je_random_bytes(void *buf, size_t n) {
    if (n == 0) return 0;
    if (!buf || n > INT_MAX) return -1;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

void je_uuid7(int64_t now_ms, char out[37]) {
    unsigned char b[16];
    if (je_random_bytes(b + 6, 10) != 0) abort();
    uint64_t ts = now_ms < 0 ? 0 : (uint64_t)now_ms & 0xffffffffffffULL;
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ts >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

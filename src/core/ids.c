/* core/ids.c: identifier shapes. */
#include "core/ids.h"

#include <string.h>

static int id_valid(const char *s, size_t len, size_t max, const char *extra) {
    if (!s || len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) continue;
        if (i == 0 || c == '\0' || !strchr(extra, c)) return 0;
    }
    return 1;
}

int je_id_client_valid(const char *s, size_t len) {
    return id_valid(s, len, 128, "._:@-");
}

int je_id_tenant_valid(const char *s, size_t len) {
    return id_valid(s, len, 64, "._-");
}

int je_id_job_type_valid(const char *s, size_t len) {
    if (s && len == 1 && s[0] == '*') return 1;
    return id_valid(s, len, 128, "._:-");
}

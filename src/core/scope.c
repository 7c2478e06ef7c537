/* core/scope.c: scope names <-> bits, and the roles that grant scopes (api.md §2.1).
 * Role and scope names are case-sensitive. Pure: constant tables only. */
#include "core/scope.h"

#include "core/ids.h"

#include <string.h>

static const char *const scope_names[JE_SCOPE_COUNT] = {
    "orch:read", "orch:jobs", "orch:operate", "orch:quota", "orch:backfill", "orch:governance",
};

typedef struct role_grant {
    const char *name;
    unsigned scopes;
} role_grant;

static const role_grant roles[] = {
    {"Orch.Viewer", JE_SCOPE_READ},
    {"Orch.Worker", JE_SCOPE_READ | JE_SCOPE_JOBS},
    {"Orch.Operator", JE_SCOPE_READ | JE_SCOPE_JOBS | JE_SCOPE_OPERATE},
    {"Orch.Admin", JE_SCOPE_READ | JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL},
    {JE_ROLE_PLATFORM_ADMIN, JE_SCOPE_READ | JE_SCOPE_GOVERNANCE},
};

const char *const je_role_names[] = {"Orch.Viewer", "Orch.Worker",          "Orch.Operator",
                                     "Orch.Admin",  JE_ROLE_PLATFORM_ADMIN, NULL};

unsigned je_scope_from_name(const char *s, size_t len) {
    if (!s) return 0;
    for (unsigned i = 0; i < JE_SCOPE_COUNT; i++) {
        if (strlen(scope_names[i]) == len && memcmp(scope_names[i], s, len) == 0) return 1u << i;
    }
    return 0;
}

const char *je_scope_name(unsigned bit) {
    for (unsigned i = 0; i < JE_SCOPE_COUNT; i++) {
        if (bit == 1u << i) return scope_names[i];
    }
    return NULL;
}

const char *je_scope_mask_format(unsigned mask, char *buf, size_t cap) {
    size_t used = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    for (unsigned i = 0; i < JE_SCOPE_COUNT; i++) {
        if (!(mask & (1u << i))) continue;
        size_t n = strlen(scope_names[i]);
        size_t need = n + (used ? 1 : 0);
        if (used + need + 1 > cap) break;
        if (used) buf[used++] = ' ';
        memcpy(buf + used, scope_names[i], n);
        used += n;
        buf[used] = '\0';
    }
    return buf;
}

/* Splits on spaces; runs of spaces and leading/trailing spaces are tolerated. An empty or NULL
 * string is the empty mask. */
int je_scope_mask_parse(const char *s, unsigned *mask) {
    unsigned m = 0;
    while (s && *s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        size_t n = strcspn(s, " ");
        unsigned bit = je_scope_from_name(s, n);
        if (!bit) return -1;
        m |= bit;
        s += n;
    }
    if (mask) *mask = m;
    return 0;
}

unsigned je_role_scopes(const char *role) {
    if (!role) return 0;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(roles[i].name, role) == 0) return roles[i].scopes;
    }
    return 0;
}

unsigned je_roles_scopes(const char *const *role_list, size_t n) {
    unsigned m = 0;
    for (size_t i = 0; role_list && i < n; i++) m |= je_role_scopes(role_list[i]);
    return m;
}

static int all_equal(const char *const *list, size_t n, const char *v) {
    for (size_t i = 0; i < n; i++)
        if (!list[i] || strcmp(list[i], v) != 0) return 0;
    return 1;
}

static int any_equal(const char *const *list, size_t n, const char *v) {
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], v) == 0) return 1;
    return 0;
}

const char *je_platform_rule(const char *const *tenants, size_t n_tenants,
                             const char *const *role_list, size_t n_roles, const char **field) {
    int platform = any_equal(role_list, n_roles, JE_ROLE_PLATFORM_ADMIN);
    int system = any_equal(tenants, n_tenants, JE_TENANT_SYSTEM);
    if (!platform && !system) return NULL;
    if (platform && !all_equal(tenants, n_tenants, JE_TENANT_SYSTEM)) {
        *field = "tenant";
        return "role Orch.PlatformAdmin is given only with tenant _system and no other tenant: "
               "a platform administrator never acts inside a tenant";
    }
    if (!all_equal(role_list, n_roles, JE_ROLE_PLATFORM_ADMIN)) {
        *field = "role";
        return "tenant _system is given only with role Orch.PlatformAdmin and no other role: "
               "only a platform administrator acts for the platform's own chain";
    }
    return NULL;
}

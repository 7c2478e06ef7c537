/* core/scope.h: scopes and the roles that grant them (api.md §2.1). Scopes are bits. */
#ifndef JE_CORE_SCOPE_H
#define JE_CORE_SCOPE_H

#include <stddef.h>

enum {
    JE_SCOPE_READ = 1u << 0,     /* orch:read */
    JE_SCOPE_JOBS = 1u << 1,     /* orch:jobs */
    JE_SCOPE_OPERATE = 1u << 2,  /* orch:operate */
    JE_SCOPE_QUOTA = 1u << 3,    /* orch:quota */
    JE_SCOPE_BACKFILL = 1u << 4, /* orch:backfill */
    /* orch:governance: platform-wide capacity pools (issue 15); added last, so every earlier bit
     * and the order of scope strings stay as they were. */
    JE_SCOPE_GOVERNANCE = 1u << 5,
};
#define JE_SCOPE_COUNT 6
/* Scopes that need a justification when requested (api.md §2.2). */
#define JE_SCOPE_ELEVATED                                                                          \
    (JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL | JE_SCOPE_OPERATE | JE_SCOPE_GOVERNANCE)

/* The platform administrator's role. It acts for the reserved tenant "_system" (the platform's
 * own audit chain, JE_TENANT_SYSTEM of core/ids.h) and for nothing else. */
#define JE_ROLE_PLATFORM_ADMIN "Orch.PlatformAdmin"

/* The bit of scope name s[0..len), or 0 when unknown. */
unsigned je_scope_from_name(const char *s, size_t len);
/* "orch:read", ... for one bit; NULL for anything else. */
const char *je_scope_name(unsigned bit);
/* Space-separated names of every bit in mask, in the fixed order read, jobs, operate, quota,
 * backfill, governance. Writes into buf (>= 80 bytes) and returns it. */
const char *je_scope_mask_format(unsigned mask, char *buf, size_t cap);
/* Parses a space-separated scope string into a mask; returns -1 on an unknown name. */
int je_scope_mask_parse(const char *s, unsigned *mask);

/* Scopes granted by a role name ("Orch.Admin", ...); 0 for an unknown role. */
unsigned je_role_scopes(const char *role);
/* Union over roles; unknown roles add nothing. */
unsigned je_roles_scopes(const char *const *roles, size_t n);
/* The known role names, NULL-terminated. */
extern const char *const je_role_names[];

/* The rule tying the platform to its tenant: a client holding role Orch.PlatformAdmin or tenant
 * "_system" must hold exactly that role and exactly that tenant, so a tenant's client never
 * reads the platform's chain and a platform administrator never acts inside a tenant. NULL when
 * the tenants and roles obey it, else why not (a constant sentence); *field is set to "tenant"
 * or "role", the list to change. */
const char *je_platform_rule(const char *const *tenants, size_t n_tenants, const char *const *roles,
                             size_t n_roles, const char **field);

#endif

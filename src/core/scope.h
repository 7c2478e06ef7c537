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
};
#define JE_SCOPE_COUNT 5
/* Scopes that need a justification when requested (api.md §2.2). */
#define JE_SCOPE_ELEVATED (JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL | JE_SCOPE_OPERATE)

/* The bit of scope name s[0..len), or 0 when unknown. */
unsigned je_scope_from_name(const char *s, size_t len);
/* "orch:read", ... for one bit; NULL for anything else. */
const char *je_scope_name(unsigned bit);
/* Space-separated names of every bit in mask, in the fixed order read, jobs, operate, quota,
 * backfill. Writes into buf (>= 80 bytes) and returns it. */
const char *je_scope_mask_format(unsigned mask, char *buf, size_t cap);
/* Parses a space-separated scope string into a mask; returns -1 on an unknown name. */
int je_scope_mask_parse(const char *s, unsigned *mask);

/* Scopes granted by a role name ("Orch.Admin", ...); 0 for an unknown role. */
unsigned je_role_scopes(const char *role);
/* Union over roles; unknown roles add nothing. */
unsigned je_roles_scopes(const char *const *roles, size_t n);
/* The known role names, NULL-terminated. */
extern const char *const je_role_names[];

#endif

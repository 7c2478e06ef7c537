/* core/ids.h: the shapes of identifiers (docs/api.md "Identifiers"). */
#ifndef JE_CORE_IDS_H
#define JE_CORE_IDS_H

#include <stddef.h>

/* Client ids: 1-128 of [A-Za-z0-9._:@-], starting with a letter or digit. */
int je_id_client_valid(const char *s, size_t len);
/* The reserved tenant of the platform's own audit chain: grants naming no tenant the client may
 * act for, and platform-wide changes (capacity pools). Not a valid tenant id, so no tenant can
 * take the name; only a platform administrator client acts for it (je_platform_rule). */
#define JE_TENANT_SYSTEM "_system"

/* Tenant ids: 1-64 of [A-Za-z0-9._-], starting with a letter or digit ("_system" is not one). */
int je_id_tenant_valid(const char *s, size_t len);
/* Job types: "*" or 1-128 of [A-Za-z0-9._:-], starting with a letter or digit. */
int je_id_job_type_valid(const char *s, size_t len);

#endif

/* core/ids.h: the shapes of identifiers (docs/api.md "Identifiers"). */
#ifndef JE_CORE_IDS_H
#define JE_CORE_IDS_H

#include <stddef.h>

/* Client ids: 1-128 of [A-Za-z0-9._:@-], starting with a letter or digit. */
int je_id_client_valid(const char *s, size_t len);
/* Tenant ids: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
int je_id_tenant_valid(const char *s, size_t len);
/* Job types: "*" or 1-128 of [A-Za-z0-9._:-], starting with a letter or digit. */
int je_id_job_type_valid(const char *s, size_t len);

#endif

/* core/limits.h: limits every floor shares. Pure constants, so they live at the bottom: core's
 * own rules need them, and nothing above defines them again. */
#ifndef JE_CORE_LIMITS_H
#define JE_CORE_LIMITS_H

/* The largest integer JSON carries exactly (2^53 - 1): counters and limits never exceed it. */
#define JE_MAX_INT53 9007199254740991LL

/* Identifier lengths (docs/api.md "Identifiers"), in bytes. */
#define JE_ID_MAX 128      /* client ids: [A-Za-z0-9][A-Za-z0-9._:@-]{0,127} */
#define JE_TENANT_MAX 64   /* tenant ids: [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define JE_JOBTYPE_MAX 128 /* job types: "*" or [A-Za-z0-9][A-Za-z0-9._:-]{0,127} */
#define JE_SOURCE_MAX 128  /* backfill and ledger sources */
#define JE_EVENT_KEY_MAX 512
#define JE_WORKER_MAX 128
#define JE_JOB_ERROR_MAX 2048
#define JE_UUID_BUF 37 /* a UUID string and its NUL */

#endif

/* cli/cmd_audit_offline.h: `jobengine audit verify --file EXPORT --jwks JWKS` (cmd_audit.c hands
 * it over when either option is given). */
#ifndef JE_CLI_CMD_AUDIT_OFFLINE_H
#define JE_CLI_CMD_AUDIT_OFFLINE_H

#include "cli/cli.h"

/* Exit status as cmd_audit.c says: 0 valid, 1 not valid, 2 usage or a file that cannot be used. */
int cli_audit_verify_offline(const cli_args *a);

#endif

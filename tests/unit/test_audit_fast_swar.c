/* Unit tests for core/audit_fast.c built without SSE2 (JE_AUDIT_FAST_NO_SSE2): the word-at-a-time
 * scanner that other machines run, with no quote map, must pass test_audit_fast.c's tests too.
 * This file compiles its own copy of core/audit_fast.c (whose symbols then come from here, not
 * from the library) and of the tests. */
#define JE_AUDIT_FAST_NO_SSE2 1
#include "../../src/core/audit_fast.c"

#include "test_audit_fast.c"

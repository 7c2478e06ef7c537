/* tests/unit/store_conformance.h: the backend-independent conformance cases of store/store.h.
 * Written against store.h only, so every backend runs the same cases: a backend's test file
 * includes this header, provides a setup that fills a conf_fx (an open store on a fresh,
 * empty database and the URL that reopens it) and a teardown, and lists
 * JE_STORE_CONFORMANCE_TESTS(setup, teardown) among its cmocka tests.
 * The cases live by domain under conformance/: common.h (includes, conf_fx, shared helpers),
 * auth.h, audit.h, quotas.h, quota_decisions.h, jobs.h, job_leasing.h, job_lifecycle.h and
 * backfills.h (whose macro lists ledger.h's cases too), each ending with a macro that lists its
 * cases; this header lists them all, in that order.
 * Worker threads never call cmocka asserts: they count failures and the main thread checks. */
#ifndef JE_TESTS_STORE_CONFORMANCE_H
#define JE_TESTS_STORE_CONFORMANCE_H

#include "conformance/auth.h"
#include "conformance/audit.h"
#include "conformance/quotas.h"
#include "conformance/quota_decisions.h"
#include "conformance/jobs.h"
#include "conformance/job_leasing.h"
#include "conformance/job_lifecycle.h"
#include "conformance/backfills.h"

#define JE_STORE_CONFORMANCE_TESTS(setup, teardown)                                                \
    JE_CONF_AUTH_TESTS(setup, teardown), JE_CONF_AUDIT_TESTS(setup, teardown),                     \
        JE_CONF_QUOTA_TESTS(setup, teardown), JE_CONF_QUOTA_DECISION_TESTS(setup, teardown),       \
        JE_CONF_JOB_TESTS(setup, teardown), JE_CONF_JOB_LEASING_TESTS(setup, teardown),            \
        JE_CONF_JOB_LIFECYCLE_TESTS(setup, teardown), JE_CONF_BACKFILL_TESTS(setup, teardown)

#endif

/* bench/core_decide.c: in-process quota decisions per second of core/ (je_quota_decide and
 * je_quota_release from src/core/quota.h), one thread, no I/O: the ceiling of what any server
 * built on core/ could decide. quota_bench.sh builds and runs it:
 *
 *   cc -O2 -Isrc bench/core_decide.c src/core/quota.c src/core/err.c -lm -o core_decide
 *   ./core_decide [SECONDS] [MODE]
 *
 * MODE grant (default): acquire-then-release pairs on one quota whose limits always grant
 *   (the shape of quota_acquire.lua over HTTP): each pair is one je_quota_decide (a grant) and
 *   one je_quota_release; both count as decisions, as acquire and release requests do over HTTP.
 * MODE deny: je_quota_decide alone on a quota whose bucket is empty and whose concurrency cap
 *   holds, so every call is a denial that computes nextEligibleAt (the dearer path).
 *
 * The clock advances 1 ms every 1024 pairs (about what a real clock does at these rates), so
 * refill and the hour window are exercised. quota.c is a separate translation unit compiled
 * without LTO: the calls cannot be inlined or elided.
 *
 * stdout: one number, decisions per second. stderr: one line with the details. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/quota.h"

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    const char *mode = argc > 2 ? argv[2] : "grant";
    int deny = strcmp(mode, "deny") == 0;
    if (!(seconds > 0) || (!deny && strcmp(mode, "grant") != 0)) {
        fprintf(stderr, "usage: core_decide [SECONDS > 0] [grant|deny]\n");
        return 2;
    }

    /* 2026-01-01T00:00:00Z */
    int64_t now = 1767225600000LL;
    je_quota q;
    je_quota_limits lim;
    if (deny) /* empty bucket, slow refill, one slot taken: every decision is a denial */
        lim = (je_quota_limits){1, 1000000, 10, 0.001};
    else /* grants always: slots, hour cap and bucket far above what the loop uses */
        lim = (je_quota_limits){1000, INT64_MAX / 2, 100000000, 10000000.0};
    je_quota_init(&q, &lim, now);
    if (deny) {
        q.state.tokens = 0;
        q.state.active = 1;
    }

    uint64_t decides = 0, releases = 0, grants = 0, denials = 0;
    volatile int64_t sink = 0;
    double t0 = mono_s(), t1 = t0;
    for (;;) {
        for (int i = 0; i < 1024; i++) {
            je_decision d = je_quota_decide(&q, now, deny ? now + 60000 : JE_NO_TIME);
            decides++;
            if (d.kind == JE_DECISION_GRANT) {
                grants++;
                if (!deny) {
                    je_quota_release(&q, 1);
                    releases++;
                }
            } else {
                denials++;
                sink += d.next_eligible_ms;
            }
            sink += d.remaining;
        }
        now++;
        if ((decides & ((1u << 18) - 1)) == 0 && (t1 = mono_s()) - t0 >= seconds) break;
    }
    double el = t1 - t0;
    uint64_t decisions = decides + releases;
    double rate = (double)decisions / el;
    fprintf(stderr,
            "core_decide: mode=%s seconds=%.2f decisions=%" PRIu64 " (decide %" PRIu64
            ", release %" PRIu64 ") grants=%" PRIu64 " denials=%" PRIu64
            " decisions/s=%.0f ns/decision=%.2f ns/decide=%.2f active=%" PRId64 " sink=%" PRId64
            "\n",
            mode, el, decisions, decides, releases, grants, denials, rate, 1e9 / rate,
            el * 1e9 / (double)decides, q.state.active, (int64_t)sink);
    if (!deny && (denials != 0 || q.state.active != 0)) {
        fprintf(stderr, "core_decide: unexpected denials or leftover active slots\n");
        return 1;
    }
    printf("%.0f\n", rate);
    return 0;
}

/* tests/unit/test_breaker_settings.c: circuit breaker settings (core/breaker.h): the names of
 * states and forces, the defaults, and each field's bounds as the API names them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "core/breaker.h"

static void test_names_and_defaults(void **state) {
    (void)state;
    assert_string_equal(je_breaker_state_name(JE_BREAKER_CLOSED), "closed");
    assert_string_equal(je_breaker_state_name(JE_BREAKER_OPEN), "open");
    assert_string_equal(je_breaker_state_name(JE_BREAKER_HALF_OPEN), "half-open");
    assert_string_equal(je_breaker_force_name(JE_BREAKER_AUTO), "auto");
    assert_string_equal(je_breaker_force_name(JE_BREAKER_FORCED_OPEN), "forced-open");
    assert_string_equal(je_breaker_force_name(JE_BREAKER_FORCED_CLOSED), "forced-closed");
    je_breaker_settings d = je_breaker_defaults();
    assert_true(d.failure_rate == 0.5);
    assert_int_equal(d.min_samples, 20);
    assert_int_equal(d.window_ms, 60000);
    assert_int_equal(d.open_ms, 30000);
    assert_int_equal(d.probes, 3);
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_breaker_settings_validate(&d, &err), 0);
}

/* Asserts that s is refused naming field. */
static void assert_invalid(const je_breaker_settings *s, const char *field) {
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_breaker_settings_validate(s, &err), -1);
    assert_string_equal(err.code, "VALIDATION_FAILED");
    assert_string_equal(err.field, field);
    assert_true(strstr(err.message, field) != NULL);
}

static void assert_valid(const je_breaker_settings *s) {
    je_err err;
    je_err_clear(&err);
    assert_int_equal(je_breaker_settings_validate(s, &err), 0);
}

static void test_validate_bounds(void **state) {
    (void)state;
    je_breaker_settings s = je_breaker_defaults();
    s.failure_rate = 0.0;
    assert_invalid(&s, "failureRate");
    s.failure_rate = -0.5;
    assert_invalid(&s, "failureRate");
    s.failure_rate = 1.0000001;
    assert_invalid(&s, "failureRate");
    s.failure_rate = NAN;
    assert_invalid(&s, "failureRate");
    s.failure_rate = 1e-9;
    assert_valid(&s);
    s.failure_rate = 1.0;
    assert_valid(&s);

    s = je_breaker_defaults();
    s.min_samples = 0;
    assert_invalid(&s, "minSamples");
    s.min_samples = 1000001;
    assert_invalid(&s, "minSamples");
    s.min_samples = 1;
    assert_valid(&s);
    s.min_samples = 1000000;
    assert_valid(&s);

    s = je_breaker_defaults();
    s.window_ms = 9000;
    assert_invalid(&s, "windowSeconds");
    s.window_ms = 86401000;
    assert_invalid(&s, "windowSeconds");
    s.window_ms = 10500; /* not whole seconds */
    assert_invalid(&s, "windowSeconds");
    s.window_ms = 10000;
    assert_valid(&s);
    s.window_ms = 86400000;
    assert_valid(&s);

    s = je_breaker_defaults();
    s.open_ms = 0;
    assert_invalid(&s, "openSeconds");
    s.open_ms = 999;
    assert_invalid(&s, "openSeconds");
    s.open_ms = 86401000;
    assert_invalid(&s, "openSeconds");
    s.open_ms = 1500;
    assert_invalid(&s, "openSeconds");
    s.open_ms = 1000;
    assert_valid(&s);
    s.open_ms = 86400000;
    assert_valid(&s);

    s = je_breaker_defaults();
    s.probes = 0;
    assert_invalid(&s, "probes");
    s.probes = 101;
    assert_invalid(&s, "probes");
    s.probes = 1;
    assert_valid(&s);
    s.probes = 100;
    assert_valid(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_validate_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

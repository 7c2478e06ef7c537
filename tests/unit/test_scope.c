/* tests/unit/test_scope.c: scope names and bits, mask formatting and parsing, and the roles of
 * api.md §2.1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/scope.h"

static unsigned from(const char *s) {
    return je_scope_from_name(s, strlen(s));
}

static void test_names_roundtrip(void **state) {
    (void)state;
    const char *names[] = {"orch:read",  "orch:jobs",     "orch:operate",
                           "orch:quota", "orch:backfill", "orch:governance"};
    /* The bits are a stable layout: governance was added after the five earlier scopes. */
    unsigned bits[] = {1u << 0, 1u << 1, 1u << 2, 1u << 3, 1u << 4, 1u << 5};
    assert_int_equal(JE_SCOPE_COUNT, 6);
    assert_int_equal(JE_SCOPE_READ | JE_SCOPE_JOBS | JE_SCOPE_OPERATE | JE_SCOPE_QUOTA |
                         JE_SCOPE_BACKFILL,
                     0x1f);
    assert_int_equal(JE_SCOPE_GOVERNANCE, 0x20);
    for (int i = 0; i < JE_SCOPE_COUNT; i++) {
        assert_int_equal(from(names[i]), bits[i]);
        assert_string_equal(je_scope_name(bits[i]), names[i]);
    }
}

static void test_unknown_names(void **state) {
    (void)state;
    assert_int_equal(from("orch:READ"), 0);
    assert_int_equal(from("orch:rea"), 0);
    assert_int_equal(from("orch:readx"), 0);
    assert_int_equal(from(""), 0);
    assert_int_equal(je_scope_from_name("orch:read", 4), 0); /* prefix by length */
    assert_int_equal(je_scope_from_name("orch:readX", 9), JE_SCOPE_READ);
    assert_null(je_scope_name(0));
    assert_null(je_scope_name(JE_SCOPE_READ | JE_SCOPE_JOBS));
    assert_null(je_scope_name(1u << 6));
    assert_int_equal(from("orch:governanc"), 0);
    assert_int_equal(from("orch:Governance"), 0);
}

static void test_mask_format(void **state) {
    (void)state;
    char buf[80];
    assert_string_equal(je_scope_mask_format(0, buf, sizeof buf), "");
    assert_string_equal(je_scope_mask_format(JE_SCOPE_BACKFILL | JE_SCOPE_READ, buf, sizeof buf),
                        "orch:read orch:backfill");
    assert_string_equal(je_scope_mask_format(0x1f | (1u << 7), buf, sizeof buf),
                        "orch:read orch:jobs orch:operate orch:quota orch:backfill");
    assert_string_equal(je_scope_mask_format(0x3f, buf, sizeof buf),
                        "orch:read orch:jobs orch:operate orch:quota orch:backfill "
                        "orch:governance");
    assert_string_equal(je_scope_mask_format(JE_SCOPE_GOVERNANCE | JE_SCOPE_READ, buf, sizeof buf),
                        "orch:read orch:governance");
    char small[12];
    assert_string_equal(je_scope_mask_format(JE_SCOPE_READ | JE_SCOPE_JOBS, small, sizeof small),
                        "orch:read");
}

static void test_mask_parse(void **state) {
    (void)state;
    unsigned m = 99;
    assert_int_equal(je_scope_mask_parse("orch:quota orch:read", &m), 0);
    assert_int_equal(m, JE_SCOPE_QUOTA | JE_SCOPE_READ);
    assert_int_equal(je_scope_mask_parse("", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(je_scope_mask_parse(" orch:jobs  orch:jobs ", &m), 0);
    assert_int_equal(m, JE_SCOPE_JOBS);
    assert_int_equal(je_scope_mask_parse("orch:read orch:nope", &m), -1);
    assert_int_equal(je_scope_mask_parse("orch:read,orch:jobs", &m), -1);
    assert_int_equal(je_scope_mask_parse("ORCH:READ", &m), -1);
    char buf[80];
    assert_int_equal(je_scope_mask_parse(je_scope_mask_format(0x1f, buf, sizeof buf), &m), 0);
    assert_int_equal(m, 0x1f);
    assert_int_equal(je_scope_mask_parse("orch:governance orch:read", &m), 0);
    assert_int_equal(m, JE_SCOPE_GOVERNANCE | JE_SCOPE_READ);
}

static void test_roles(void **state) {
    (void)state;
    assert_int_equal(je_role_scopes("Orch.Viewer"), JE_SCOPE_READ);
    assert_int_equal(je_role_scopes("Orch.Worker"), JE_SCOPE_READ | JE_SCOPE_JOBS);
    assert_int_equal(je_role_scopes("Orch.Operator"),
                     JE_SCOPE_READ | JE_SCOPE_JOBS | JE_SCOPE_OPERATE);
    assert_int_equal(je_role_scopes("Orch.Admin"),
                     JE_SCOPE_READ | JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL);
    assert_int_equal(je_role_scopes("Orch.PlatformAdmin"), JE_SCOPE_READ | JE_SCOPE_GOVERNANCE);
    assert_int_equal(je_role_scopes("Orch.Platformadmin"), 0);
    /* orch:governance is granted by the platform role only */
    const char *const tenant_roles[] = {"Orch.Viewer", "Orch.Worker", "Orch.Operator",
                                        "Orch.Admin"};
    assert_false(je_roles_scopes(tenant_roles, 4) & JE_SCOPE_GOVERNANCE);
    assert_int_equal(je_role_scopes("orch.admin"), 0);
    assert_int_equal(je_role_scopes("Orch.Admin "), 0);
    assert_int_equal(je_role_scopes("Orch.Root"), 0);
    assert_int_equal(je_role_scopes(""), 0);
    assert_int_equal(je_role_scopes(NULL), 0);
}

static void test_roles_union(void **state) {
    (void)state;
    const char *r[] = {"Orch.Worker", "Bogus", "Orch.Admin"};
    assert_int_equal(je_roles_scopes(r, 3),
                     JE_SCOPE_READ | JE_SCOPE_JOBS | JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL);
    assert_int_equal(je_roles_scopes(r, 1), JE_SCOPE_READ | JE_SCOPE_JOBS);
    assert_int_equal(je_roles_scopes(r + 1, 1), 0);
    assert_int_equal(je_roles_scopes(NULL, 0), 0);
}

static void test_role_names_list(void **state) {
    (void)state;
    size_t n = 0;
    unsigned all = 0;
    for (; je_role_names[n]; n++) {
        assert_true(je_role_scopes(je_role_names[n]) != 0);
        all |= je_role_scopes(je_role_names[n]);
    }
    assert_int_equal(n, 5);
    assert_int_equal(all, 0x3f);
    assert_string_equal(je_role_names[0], "Orch.Viewer");
    assert_string_equal(je_role_names[3], "Orch.Admin");
    assert_string_equal(je_role_names[4], "Orch.PlatformAdmin");
}

static void test_elevated(void **state) {
    (void)state;
    assert_true(JE_SCOPE_ELEVATED & JE_SCOPE_QUOTA);
    assert_true(JE_SCOPE_ELEVATED & JE_SCOPE_GOVERNANCE);
    assert_int_equal(JE_SCOPE_ELEVATED,
                     JE_SCOPE_QUOTA | JE_SCOPE_BACKFILL | JE_SCOPE_OPERATE | JE_SCOPE_GOVERNANCE);
    assert_false(JE_SCOPE_ELEVATED & (JE_SCOPE_READ | JE_SCOPE_JOBS));
}

static const char *rule(const char *const *t, size_t nt, const char *const *r, size_t nr,
                        const char **field) {
    *field = "unset";
    return je_platform_rule(t, nt, r, nr, field);
}

static void test_platform_rule_allows(void **state) {
    (void)state;
    const char *field;
    const char *sys[] = {"_system", "_system"}, *acme[] = {"acme", "globex"};
    const char *plat[] = {"Orch.PlatformAdmin", "Orch.PlatformAdmin"};
    const char *tenant_roles[] = {"Orch.Admin", "Orch.Viewer"};
    assert_null(rule(sys, 1, plat, 1, &field));
    assert_null(rule(sys, 2, plat, 2, &field)); /* repeats are the same tenant and role */
    assert_null(rule(acme, 2, tenant_roles, 2, &field));
    assert_string_equal(field, "unset"); /* untouched when allowed */
}

static void test_platform_rule_refuses(void **state) {
    (void)state;
    const char *field;
    const char *sys_acme[] = {"_system", "acme"}, *acme[] = {"acme"}, *sys[] = {"_system"};
    const char *plat[] = {"Orch.PlatformAdmin"},
               *plat_admin[] = {"Orch.PlatformAdmin", "Orch.Admin"};
    const char *viewer[] = {"Orch.Viewer"};
    /* a platform administrator inside a tenant */
    assert_non_null(rule(acme, 1, plat, 1, &field));
    assert_string_equal(field, "tenant");
    assert_non_null(rule(sys_acme, 2, plat, 1, &field));
    assert_string_equal(field, "tenant");
    assert_non_null(strstr(rule(sys_acme + 1, 1, plat_admin, 2, &field), "Orch.PlatformAdmin"));
    assert_string_equal(field, "tenant");
    /* a tenant role on the platform's chain */
    assert_non_null(strstr(rule(sys, 1, viewer, 1, &field), "_system"));
    assert_string_equal(field, "role");
    assert_non_null(rule(sys, 1, plat_admin, 2, &field));
    assert_string_equal(field, "role");
    assert_non_null(rule(sys_acme, 2, viewer, 1, &field));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_roundtrip),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_mask_format),
        cmocka_unit_test(test_mask_parse),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_roles_union),
        cmocka_unit_test(test_role_names_list),
        cmocka_unit_test(test_elevated),
        cmocka_unit_test(test_platform_rule_allows),
        cmocka_unit_test(test_platform_rule_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

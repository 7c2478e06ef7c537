/* tests/unit/test_fuzz_found.c: the defects the fuzz targets of tests/fuzz found, each replayed
 * from its input (tests/fuzz/README.md, "Found and fixed"):
 * 1. fuzz_job_body / fuzz_jcs: a job payload holding a real from 2^63 up to 1e21 (1e20) was
 *    stored in canonical form, which writes it as plain digits (100000000000000000000), and
 *    jansson refused to read that back: the job's payload came back null. core/jcs.c's
 *    je_json_loadb reads it; the job resource is written with the stored text and the CLI's
 *    replies are read with it.
 * 2. fuzz_config: a quotaCeilingOverrides limit of 1e300 was converted to an integer out of its
 *    range (undefined behaviour), and 0.5 became a ceiling of 0; `serve` now refuses both, as
 *    it refuses a global ceiling out of its range.
 * 3. fuzz_quota_body (and every body target): a malformed body answered 500 INTERNAL, not 400:
 *    jansson's error text quotes the bytes near the error, a lone byte of a UTF-8 sequence
 *    among them, and an error message that is not valid UTF-8 cannot be put in the JSON reply
 *    (nor in the refusal's audit entry). The same for an unknown member's name cut at 64
 *    bytes inside a character. core/err.c now keeps messages and fields valid UTF-8.
 * 4. fuzz_request: a request whose method is not UTF-8 ("GE\xaf /healthz") answered 500, not
 *    405: the 405's message quotes the method. http/reply.c now keeps every error message
 *    valid UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/body.h"
#include "api/job_view.h"
#include "api/routes.h"
#include "cli/cli.h"
#include "core/jcs.h"
#include "core/text.h"

/* ---- 1. payloads with integers beyond 2^63 in canonical form -------------------------------- */

static void test_job_payload_reads_back(void **state) {
    json_t *sent = json_loads(
        "[1e20,-2.5e20,9223372036854775807,1,{\"k\":\"100000000000000000000\"}]", 0, NULL);
    assert_non_null(sent);
    je_job j;
    memset(&j, 0, sizeof j);
    strcpy(j.job_id, "0190a0b0-0000-7000-8000-000000000001");
    strcpy(j.tenant_id, "t1");
    strcpy(j.job_type, "build");
    j.event_time_ms = j.window_start_ms = j.window_end_ms = j.batch = j.completed_ms = INT64_MIN;
    j.available_ms = j.created_ms = j.updated_ms = j.lease_until_ms = INT64_MIN;
    j.payload = je_jcs_dumps(sent, NULL); /* as job submit stores it */
    assert_string_equal(j.payload, "[100000000000000000000,-250000000000000000000,"
                                   "9223372036854775807,1,{\"k\":\"100000000000000000000\"}]");
    je_buf text = JE_BUF_INIT; /* the reply, read as a client (the CLI) reads it */
    je_job_text(&text, &j);
    json_t *job = je_json_loadb(text.data, text.len, 0, NULL);
    je_buf_free(&text);
    assert_non_null(job);
    const json_t *p = json_object_get(job, "payload");
    assert_true(json_is_array(p)); /* was null */
    assert_true(json_is_real(json_array_get(p, 0)));
    assert_true(json_real_value(json_array_get(p, 0)) == 1e20);
    assert_true(json_real_value(json_array_get(p, 1)) == -2.5e20);
    assert_true(json_is_integer(json_array_get(p, 2))); /* in range: stays an exact integer */
    assert_true(json_integer_value(json_array_get(p, 2)) == INT64_MAX);
    assert_true(json_is_integer(json_array_get(p, 3)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 4), "k")),
                        "100000000000000000000"); /* a string is not a number */
    char *again = je_jcs_dumps(p, NULL);
    assert_string_equal(again, j.payload); /* and canonicalises to the same text */
    free(again);
    json_decref(job);
    free(j.payload);
    json_decref(sent);
}

static void test_json_loadb_limits(void **state) {
    json_error_t e;
    /* -9223372036854775808 fits; one more does not */
    json_t *v = je_json_loadb("[-9223372036854775808,-9223372036854775809]", 43, 0, &e);
    assert_non_null(v);
    assert_true(json_is_integer(json_array_get(v, 0)));
    assert_true(json_is_real(json_array_get(v, 1)));
    json_decref(v);
    /* what is not JSON stays refused, with jansson's error */
    assert_null(je_json_loadb("[100000000000000000000,]", 24, 0, &e));
    assert_null(je_json_loadb("[1e400]", 7, 0, &e));
    assert_null(
        je_json_loadb("{\"a\":1,\"a\":100000000000000000000}", 33, JSON_REJECT_DUPLICATES, &e));
    assert_non_null(strstr(e.text, "duplicate"));
}

/* ---- 2. quotaCeilingOverrides out of range ----------------------------------------------------
 */

/* cmd_serve with a config file holding text, and a --listen it can never serve on (so that a
 * config it accepts fails later, at the listen address, without opening anything). Returns
 * what it wrote on stderr. */
static char *serve_config(const char *text) {
    const char *tmp = getenv("JE_TEST_TMP");
    char dir[512], cfg[600], err_path[600];
    snprintf(dir, sizeof dir, "%s/je-fuzz-found-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (tmp && *tmp) mkdir(tmp, 0700);
    assert_non_null(mkdtemp(dir));
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    fflush(stderr);
    int saved = dup(2);
    FILE *e = freopen(err_path, "w", stderr);
    assert_non_null(e);
    char *argv[] = {"--config", cfg, "--listen", "no-port", "--store", "sqlite:/", NULL};
    int rc = cmd_serve(6, argv); /* the arguments after `jobengine serve` */
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, 1);
    static char out[512];
    f = fopen(err_path, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(cfg);
    unlink(err_path);
    rmdir(dir);
    return out;
}

static void test_override_out_of_range_refused(void **state) {
    static const char *const bad[] = {
        "{\"quotaCeilingOverrides\":[{\"maxActive\":1e300}]}",
        "{\"quotaCeilingOverrides\":[{\"tenant\":\"t1\",\"maxActive\":0.5}]}",
        "{\"quotaCeilingOverrides\":[{\"maxPerHour\":1e13}]}",
        "{\"quotaCeilingOverrides\":[{\"refillPerSecond\":1e300}]}",
    };
    static const char *const field[] = {"[0].maxActive", "[0].maxActive", "[0].maxPerHour",
                                        "[0].refillPerSecond"};
    for (size_t i = 0; i < 4; i++) {
        char *err = serve_config(bad[i]);
        if (!strstr(err, field[i])) fail_msg("config %s: stderr was: %s", bad[i], err);
    }
    /* in range: accepted (it fails later, at the listen address) */
    char *err = serve_config(
        "{\"quotaCeilingOverrides\":[{\"maxActive\":1000000000,\"refillPerSecond\":0.5}]}");
    assert_null(strstr(err, "quotaCeilingOverrides"));
    assert_non_null(strstr(err, "listen"));
}

/* An empty tlsCert with a tlsKey was taken as "no TLS" and served plain HTTP, the key ignored
 * (fuzz_config's "a certificate without its key"). Now an empty path is none, and the pair is
 * refused; both empty is plain HTTP (it fails later, at the listen address). */
static void test_empty_tls_cert_with_key_refused(void **state) {
    static const char *const bad[] = {"{\"tlsCert\":\"\",\"tlsKey\":\"/etc/key.pem\"}",
                                      "{\"tlsCert\":\"/etc/cert.pem\",\"tlsKey\":\"\"}"};
    for (size_t i = 0; i < 2; i++) {
        char *err = serve_config(bad[i]);
        if (!strstr(err, "tls-cert and tls-key go together"))
            fail_msg("config %s: stderr was: %s", bad[i], err);
    }
    char *err = serve_config("{\"tlsCert\":\"\",\"tlsKey\":\"\"}");
    assert_null(strstr(err, "tls-"));
    assert_non_null(strstr(err, "listen"));
}

/* ---- 3. error messages that are not UTF-8 ------------------------------------------------------
 */

typedef struct fake_req {
    je_req r;
    int status;
    json_t *reply;
} fake_req;

static const char *fake_lookup(je_req *r, int kind, const char *name) {
    return kind == JE_REQ_HEADER && strcmp(name, "Content-Type") == 0 ? "application/json" : NULL;
}

static void fake_send(je_req *r, int status, const char *ct, const char *data, size_t len) {
    fake_req *f = (fake_req *)r;
    f->status = status;
    f->reply = json_loadb(data, len, 0, NULL);
}

/* The body sent to a JSON route: the reply to its refusal. */
static void assert_refused_400(const char *body, size_t len, const char *field) {
    fake_req f;
    memset(&f, 0, sizeof f);
    f.r.arena = je_arena_new();
    f.r.lookup = fake_lookup;
    f.r.send = fake_send;
    f.r.body = (char *)body;
    f.r.body_len = len;
    static const char *const allowed[] = {"jobType", NULL};
    je_err err;
    je_err_clear(&err);
    assert_null(je_body_object(&f.r, allowed, &err));
    assert_true(je_utf8_valid(err.message, strlen(err.message)));
    assert_true(je_utf8_valid(err.field, strlen(err.field)));
    je_api_reply_err(&f.r, &err, NULL);
    assert_int_equal(f.status, 400); /* was 500 INTERNAL */
    const json_t *e = json_object_get(f.reply, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "VALIDATION_FAILED");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "details"), "field")),
                        field);
    json_decref(f.reply);
    je_arena_free(f.r.arena);
}

static void test_malformed_body_is_400(void **state) {
    /* the inputs fuzz_quota_body found: jansson quotes "\u00e" and the byte 0xc7 after it */
    static const char a[] = "{\"rtick\\u00e\xc7\x96t\":\"N42\"}";
    assert_refused_400(a, sizeof a - 1, "body");
    static const char b[] = "\n\"r\\ud6\xca\x9b\xa3\x8a\x8f\x9b\x9e\x95"
                            "e q1\n{\"maxAct#ve\":5474}";
    assert_refused_400(b, sizeof b - 1, "body");
    /* unknown members whose names are cut inside U+00E9: the message quotes 64 bytes of the
     * name (63 'a' and half of it), the field holds 63 (62 'a' and half of it) */
    char body[128], field[64];
    for (int n = 63; n >= 62; n--) {
        snprintf(body, sizeof body, "{\"%.*s\xc3\xa9\":1}", n,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        snprintf(field, sizeof field, "%.*s%s", n,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 n == 62 ? "?" : "");
        assert_refused_400(body, strlen(body), field);
    }
}

static void test_odd_method_is_405(void **state) {
    fake_req f;
    memset(&f, 0, sizeof f);
    f.r.arena = je_arena_new();
    f.r.lookup = fake_lookup;
    f.r.send = fake_send;
    f.r.method = "GE\xaf";
    f.r.path = "/healthz";
    je_app_handle(&f.r, NULL);       /* routing answers before anything needs the app */
    assert_int_equal(f.status, 405); /* was 500 INTERNAL */
    const char *msg =
        json_string_value(json_object_get(json_object_get(f.reply, "error"), "message"));
    assert_non_null(msg);
    assert_string_equal(msg, "GE? is not allowed here; allowed: GET");
    json_decref(f.reply);
    je_arena_free(f.r.arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_payload_reads_back),
        cmocka_unit_test(test_json_loadb_limits),
        cmocka_unit_test(test_override_out_of_range_refused),
        cmocka_unit_test(test_empty_tls_cert_with_key_refused),
        cmocka_unit_test(test_malformed_body_is_400),
        cmocka_unit_test(test_odd_method_is_405),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log.c - log lines: levels, JSON/text format, secret and URL-password
 * redaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vm_log.h"

static char *capture(void (*fn)(void))
{
    FILE *f = tmpfile();
    assert_non_null(f);
    vm_log_set_stream(f);
    fn();
    vm_log_set_stream(NULL);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void log_levels(void)
{
    vm_log_set_level(VM_LOG_INFO);
    vm_info("visible %d", 1);
    vm_debug("hidden");
    vm_error("also visible");
}

static void test_levels_and_json(void **s)
{
    (void)s;
    vm_log_set_format(VM_LOG_JSON);
    char *out = capture(log_levels);
    assert_null(strstr(out, "hidden"));
    /* two lines, each valid JSON with level and msg */
    char *line2 = strchr(out, '\n');
    assert_non_null(line2);
    *line2++ = '\0';
    json_error_t je;
    json_t *a = json_loads(out, 0, &je);
    json_t *b = json_loads(line2, JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(a, "msg")), "visible 1");
    assert_string_equal(json_string_value(json_object_get(b, "level")), "error");
    json_decref(a);
    json_decref(b);
    free(out);
}

static void log_secret(void)
{
    vm_info("connecting with token s3cr3t-token-value and \"quote\"\nnewline");
    vm_info("dsn postgres://app:pg-password@127.0.0.1:5432/db");
}

static void test_redaction(void **s)
{
    (void)s;
    vm_secret_clear();
    vm_secret_add("s3cr3t-token-value");
    vm_secret_add("abc"); /* too short: not registered, never masks text */
    vm_log_set_format(VM_LOG_TEXT);
    char *out = capture(log_secret);
    assert_null(strstr(out, "s3cr3t"));
    assert_null(strstr(out, "pg-password"));
    assert_non_null(strstr(out, "token *** and"));
    assert_non_null(strstr(out, "postgres://app:***@127.0.0.1"));
    /* one line per call: the embedded newline was flattened */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
    vm_secret_clear();
}

static void test_redact_repeated_and_truncated(void **s)
{
    (void)s;
    vm_secret_clear();
    vm_secret_add("KEY-123456");
    char buf[32] = "KEY-123456 KEY-123456 tail";
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "*** *** tail");
    vm_secret_clear();
}

static void test_parse_level(void **s)
{
    (void)s;
    vm_log_level l;
    assert_int_equal(vm_log_parse_level("debug", &l), 0);
    assert_int_equal(l, VM_LOG_DEBUG);
    assert_int_equal(vm_log_parse_level("verbose", &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_json),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_redact_repeated_and_truncated),
        cmocka_unit_test(test_parse_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

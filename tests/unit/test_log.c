/*
 * test_log.c - log lines: levels, JSON/text format, secret and URL-password
 * redaction, the job/worker/task context fields (per thread, with process
 * defaults) in JSON lines and as a text prefix, VECMIG_LOG_LEVEL/FORMAT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
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

/* ---- context fields ---------------------------------------------------- */

static void log_in_task(void)
{
    vm_log_ctx_set("job-1", "w \"one\"");
    vm_info("outside");
    vm_log_ctx_task(7);
    vm_warn("inside s3cr3t-token-value");
    vm_log_ctx_task(-1);
    vm_info("after");
    vm_log_ctx_clear();
    vm_info("none");
}

/* Each line of out as JSON (all must parse); n gets the count. */
static json_t **json_lines(char *out, size_t *n)
{
    json_t **v = calloc(16, sizeof *v);
    *n = 0;
    for (char *line = strtok(out, "\n"); line && *n < 16; line = strtok(NULL, "\n")) {
        json_error_t je;
        v[*n] = json_loads(line, 0, &je);
        if (!v[*n])
            fail_msg("not a JSON line (%s): %s", je.text, line);
        (*n)++;
    }
    return v;
}

static void test_context_json(void **s)
{
    (void)s;
    vm_secret_clear();
    vm_secret_add("s3cr3t-token-value");
    vm_log_set_level(VM_LOG_INFO);
    vm_log_set_format(VM_LOG_JSON);
    char *out = capture(log_in_task);
    assert_null(strstr(out, "s3cr3t"));
    /* the key order is fixed: ts, level, job, worker, task, msg */
    assert_non_null(strstr(out, "\",\"level\":\"warn\",\"job\":\"job-1\",\"worker\":\"w "
                                "\\\"one\\\"\",\"task\":7,\"msg\":\"inside ***\"}\n"));
    size_t n;
    json_t **l = json_lines(out, &n);
    assert_int_equal(n, 4);
    assert_string_equal(json_string_value(json_object_get(l[0], "job")), "job-1");
    assert_string_equal(json_string_value(json_object_get(l[0], "worker")), "w \"one\"");
    assert_null(json_object_get(l[0], "task"));
    assert_int_equal(json_integer_value(json_object_get(l[1], "task")), 7);
    assert_string_equal(json_string_value(json_object_get(l[1], "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(l[1], "msg")), "inside ***");
    assert_string_equal(json_string_value(json_object_get(l[1], "worker")), "w \"one\"");
    assert_null(json_object_get(l[2], "task"));
    assert_string_equal(json_string_value(json_object_get(l[2], "job")), "job-1");
    assert_null(json_object_get(l[3], "job"));
    assert_null(json_object_get(l[3], "worker"));
    for (size_t i = 0; i < n; i++)
        json_decref(l[i]);
    free(l);
    free(out);
    vm_secret_clear();
}

static void test_context_text(void **s)
{
    (void)s;
    vm_log_set_format(VM_LOG_TEXT);
    char *out = capture(log_in_task);
    char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    char *l4 = strchr(l3, '\n') + 1;
    /* "<ts> <level> job=.. worker=.. [task=..] msg" */
    assert_non_null(strstr(l1, "Z info  job=job-1 worker=w \"one\" outside\n"));
    assert_non_null(strstr(l2, "Z warn  job=job-1 worker=w \"one\" task=7 inside"));
    assert_non_null(strstr(l3, "Z info  job=job-1 worker=w \"one\" after\n"));
    assert_non_null(strstr(l4, "Z info  none\n"));
    free(out);
}

/* Thread-local: another thread's context is its own; a thread that set
 * none uses the process defaults. */
static void *other_thread(void *arg)
{
    (void)arg;
    vm_info("from a thread without context");
    vm_log_ctx_set("job-2", "w2");
    vm_log_ctx_task(3);
    vm_info("from w2");
    return NULL;
}

static void log_threads(void)
{
    vm_log_ctx_default("job-d", "proc");
    vm_log_ctx_set("job-1", "w1");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    vm_info("from w1");
    vm_log_ctx_clear();
    vm_info("from main, cleared");
    vm_log_ctx_default(NULL, NULL);
}

static void test_context_threads(void **s)
{
    (void)s;
    vm_log_set_format(VM_LOG_JSON);
    char *out = capture(log_threads);
    size_t n;
    json_t **l = json_lines(out, &n);
    assert_int_equal(n, 4);
    assert_string_equal(json_string_value(json_object_get(l[0], "job")), "job-d");
    assert_string_equal(json_string_value(json_object_get(l[0], "worker")), "proc");
    assert_string_equal(json_string_value(json_object_get(l[1], "worker")), "w2");
    assert_int_equal(json_integer_value(json_object_get(l[1], "task")), 3);
    assert_string_equal(json_string_value(json_object_get(l[2], "worker")), "w1");
    assert_null(json_object_get(l[2], "task"));
    assert_string_equal(json_string_value(json_object_get(l[3], "job")), "job-d");
    for (size_t i = 0; i < n; i++)
        json_decref(l[i]);
    free(l);
    free(out);
}

static void test_env(void **s)
{
    (void)s;
    vm_err e;
    vm_log_set_level(VM_LOG_INFO);
    setenv("VECMIG_LOG_LEVEL", "debug", 1);
    setenv("VECMIG_LOG_FORMAT", "json", 1);
    assert_int_equal(vm_log_apply_env(&e), VM_OK);
    assert_int_equal(vm_log_get_level(), VM_LOG_DEBUG);
    setenv("VECMIG_LOG_LEVEL", "loud", 1);
    assert_int_equal(vm_log_apply_env(&e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "VECMIG_LOG_LEVEL"));
    assert_non_null(strstr(e.msg, "'loud'"));
    unsetenv("VECMIG_LOG_LEVEL");
    setenv("VECMIG_LOG_FORMAT", "xml", 1);
    assert_int_equal(vm_log_apply_env(&e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "VECMIG_LOG_FORMAT"));
    unsetenv("VECMIG_LOG_FORMAT");
    assert_int_equal(vm_log_apply_env(&e), VM_OK);
    vm_log_format f;
    assert_int_equal(vm_log_parse_format("text", &f), 0);
    assert_int_equal(f, VM_LOG_TEXT);
    vm_log_set_level(VM_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_json),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_redact_repeated_and_truncated),
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_context_json),
        cmocka_unit_test(test_context_text),
        cmocka_unit_test(test_context_threads),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

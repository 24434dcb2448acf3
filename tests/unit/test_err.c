/*
 * test_err.c - the error convention: codes, retriability, one-line messages,
 * prefixes, redaction of secrets inside error text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_err.h"
#include "vm_log.h"

static void test_set_returns_code(void **s)
{
    (void)s;
    vm_err e;
    vm_err_clear(&e);
    assert_int_equal(vm_err_set(&e, VM_ERR_TIMEOUT, true, "read %d rows", 7), VM_ERR_TIMEOUT);
    assert_int_equal(e.code, VM_ERR_TIMEOUT);
    assert_true(e.retriable);
    assert_string_equal(e.msg, "read 7 rows");
    /* NULL err is allowed and still returns the code */
    assert_int_equal(vm_err_setc(NULL, VM_ERR_IO, "x"), VM_ERR_IO);
}

static void test_default_retriability(void **s)
{
    (void)s;
    assert_true(vm_code_retriable(VM_ERR_IO));
    assert_true(vm_code_retriable(VM_ERR_TIMEOUT));
    assert_true(vm_code_retriable(VM_ERR_RATE_LIMITED));
    assert_true(vm_code_retriable(VM_ERR_UNAVAILABLE));
    assert_true(vm_code_retriable(VM_ERR_TOO_LARGE));
    assert_false(vm_code_retriable(VM_ERR_INVALID));
    assert_false(vm_code_retriable(VM_ERR_AUTH));
    assert_false(vm_code_retriable(VM_ERR_PROTOCOL));
    assert_false(vm_code_retriable(VM_ERR_NOMEM));
    vm_err e;
    vm_err_setc(&e, VM_ERR_AUTH, "denied");
    assert_false(e.retriable);
    vm_err_setc(&e, VM_ERR_RATE_LIMITED, "slow down");
    assert_true(e.retriable);
}

static void test_one_line(void **s)
{
    (void)s;
    vm_err e;
    vm_err_setc(&e, VM_ERR_REMOTE, "line one\nline two\r\n\t");
    assert_null(strchr(e.msg, '\n'));
    assert_null(strchr(e.msg, '\r'));
    assert_string_equal(e.msg, "line one line two");
}

static void test_prefix_keeps_code(void **s)
{
    (void)s;
    vm_err e;
    vm_err_set(&e, VM_ERR_IO, true, "connection reset");
    assert_int_equal(vm_err_prefix(&e, "pgvector %s: ", "docs"), VM_ERR_IO);
    assert_string_equal(e.msg, "pgvector docs: connection reset");
    assert_true(e.retriable);
}

static void test_truncation(void **s)
{
    (void)s;
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vm_err e;
    vm_err_setc(&e, VM_ERR_INVALID, "%s", big);
    assert_int_equal(strlen(e.msg), VM_ERR_MSG_MAX - 1);
}

static void test_secret_redacted_in_error(void **s)
{
    (void)s;
    vm_secret_clear();
    assert_int_equal(vm_secret_add("hunter2-secret"), 0);
    vm_err e;
    vm_err_setc(&e, VM_ERR_AUTH, "login with hunter2-secret failed");
    assert_null(strstr(e.msg, "hunter2"));
    assert_string_equal(e.msg, "login with *** failed");
    vm_secret_clear();
}

static void test_names(void **s)
{
    (void)s;
    assert_string_equal(vm_code_name(VM_OK), "ok");
    assert_string_equal(vm_code_name(VM_ERR_RATE_LIMITED), "rate_limited");
    assert_string_equal(vm_code_name(VM_ERR_TOO_LARGE), "too_large");
    assert_string_equal(vm_code_name(VM_ERR_FENCED), "fenced");
    assert_false(vm_code_retriable(VM_ERR_FENCED));
    assert_string_equal(vm_code_name((vm_code)-999), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_code),
        cmocka_unit_test(test_default_retriability),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_prefix_keeps_code),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_secret_redacted_in_error),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_testhook.c - the test hooks of vm_testhook.h: which points a
 * VECMIG_TEST_PAUSE_AT list names (exact names, commas, spaces), that an
 * unlisted point does not pause, and the batch-delay parser's bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <time.h>

#include "vm_log.h"
#include "vm_testhook.h"

static void test_point_listed(void **s)
{
    (void)s;
    assert_true(vm_test_point_listed("counted", "counted"));
    assert_true(vm_test_point_listed("planned,created", "created"));
    assert_true(vm_test_point_listed("planned, created ,running", "created"));
    assert_true(vm_test_point_listed(" running", "running"));
    /* exact names only */
    assert_false(vm_test_point_listed("planned", "plan"));
    assert_false(vm_test_point_listed("plan", "planned"));
    assert_false(vm_test_point_listed("planned,,", "created"));
    assert_false(vm_test_point_listed("", "created"));
    assert_false(vm_test_point_listed(NULL, "created"));
    assert_false(vm_test_point_listed("created", ""));
    assert_false(vm_test_point_listed("created", NULL));
    assert_false(vm_test_point_listed(",", "created"));
}

static void test_pause_only_when_listed(void **s)
{
    (void)s;
    struct timespec a, b;
    setenv("VECMIG_TEST_PAUSE_AT", "planned,counted", 1);
    clock_gettime(CLOCK_MONOTONIC, &a);
    vm_test_pause_at("running");
    vm_test_pause_at("published");
    unsetenv("VECMIG_TEST_PAUSE_AT");
    vm_test_pause_at("planned");
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* none of these may wait (a listed one would for 10 minutes) */
    assert_true(b.tv_sec - a.tv_sec < 2);
}

static void test_batch_delay(void **s)
{
    (void)s;
    unsetenv("VECMIG_TEST_BATCH_DELAY_MS");
    assert_int_equal(vm_test_batch_delay_ms(), 0);
    setenv("VECMIG_TEST_BATCH_DELAY_MS", "150", 1);
    assert_int_equal(vm_test_batch_delay_ms(), 150);
    setenv("VECMIG_TEST_BATCH_DELAY_MS", "99999", 1);
    assert_int_equal(vm_test_batch_delay_ms(), 10000);
    setenv("VECMIG_TEST_BATCH_DELAY_MS", "-5", 1);
    assert_int_equal(vm_test_batch_delay_ms(), 0);
    setenv("VECMIG_TEST_BATCH_DELAY_MS", "12ms", 1);
    assert_int_equal(vm_test_batch_delay_ms(), 0);
    setenv("VECMIG_TEST_BATCH_DELAY_MS", "", 1);
    assert_int_equal(vm_test_batch_delay_ms(), 0);
    unsetenv("VECMIG_TEST_BATCH_DELAY_MS");
}

int main(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_point_listed),
        cmocka_unit_test(test_pause_only_when_listed),
        cmocka_unit_test(test_batch_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_status.c - the pure part of `vecmig status` (cli/status_fmt.c):
 * rate from two samples, ETA, durations, percent, progress bars, the job
 * line and the JSON shapes (keys, nulls for unknowns).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <jansson.h>

#include "status_fmt.h"
#include "vm_mem.h"

static void test_rate(void **s)
{
    (void)s;
    assert_true(vm_status_rate(0, 1000, 500, 3000) == 250.0);
    assert_true(vm_status_rate(100, 1000, 100, 2000) == 0.0);
    assert_true(vm_status_rate(0, 1000, 500, 1000) < 0); /* no time passed */
    assert_true(vm_status_rate(0, 0, 500, 1000) < 0);    /* never started */
    assert_true(vm_status_rate(600, 1000, 500, 2000) < 0); /* going back */
}

static void test_eta_duration(void **s)
{
    (void)s;
    assert_int_equal(vm_status_eta_s(1000, 100), 10);
    assert_int_equal(vm_status_eta_s(1001, 100), 11); /* rounded up */
    assert_int_equal(vm_status_eta_s(0, 0), 0);
    assert_int_equal(vm_status_eta_s(10, 0), -1);
    assert_int_equal(vm_status_eta_s(10, -1), -1);
    assert_int_equal(vm_status_eta_s(-1, 100), -1);
    char b[16];
    vm_status_duration(0, b, sizeof b);
    assert_string_equal(b, "0s");
    vm_status_duration(59, b, sizeof b);
    assert_string_equal(b, "59s");
    vm_status_duration(185, b, sizeof b);
    assert_string_equal(b, "3m05s");
    vm_status_duration(2 * 3600 + 7 * 60 + 30, b, sizeof b);
    assert_string_equal(b, "2h07m");
    vm_status_duration(3 * 86400 + 4 * 3600, b, sizeof b);
    assert_string_equal(b, "3d04h");
    vm_status_duration(-1, b, sizeof b);
    assert_string_equal(b, "-");
}

static void test_pct_bar(void **s)
{
    (void)s;
    assert_true(vm_status_pct(50, 200) == 25.0);
    assert_true(vm_status_pct(300, 200) == 100.0);
    assert_true(vm_status_pct(5, 0) < 0);
    char b[64];
    vm_status_bar(50, 10, b, sizeof b);
    assert_string_equal(b, "[#####.....]");
    vm_status_bar(100, 4, b, sizeof b);
    assert_string_equal(b, "[####]");
    vm_status_bar(-1, 4, b, sizeof b);
    assert_string_equal(b, "[....]");
    vm_status_bar(150, 3, b, sizeof b);
    assert_string_equal(b, "[###]");
    vm_status_bar(50, 10, b, 5); /* too small: empty, no overflow */
    assert_string_equal(b, "");
}

static vm_status_job sample(void)
{
    vm_status_job j = {.id = "j1", .state = VM_JOB_RUNNING, .rows_done = 250, .rows_total = 1000,
                       .tasks_total = 10, .pending = 5, .running = 2, .done = 2, .failed = 1,
                       .rate = 50, .age_ms = 65000};
    return j;
}

static void test_job_line(void **s)
{
    (void)s;
    vm_status_job j = sample();
    char b[512];
    vm_status_job_line(&j, b, sizeof b);
    assert_string_equal(b, "j1  running  250/1000 rows  25.0%  50 rows/s  ETA 15s  errors 1  "
                           "tasks 2 done/2 running/5 pending/1 failed  age 1m05s");
    j.rows_total = 0;
    j.rate = -1;
    j.cancel_requested = true;
    vm_status_job_line(&j, b, sizeof b);
    assert_non_null(strstr(b, "j1  cancelling  250/? rows  ?%  - rows/s  ETA -  "));
    /* a job that is over has no ETA */
    j = sample();
    j.state = VM_JOB_DONE;
    assert_int_equal(vm_status_job_eta_s(&j), -1);
    assert_true(vm_status_final(VM_JOB_CANCELLED) && !vm_status_final(VM_JOB_RECONCILING));
}

static void test_job_json(void **s)
{
    (void)s;
    vm_status_job j = sample();
    json_t *o = vm_status_job_json(&j);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "j1");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(o, "rows_done")), 250);
    assert_int_equal(json_integer_value(json_object_get(o, "rows_total")), 1000);
    assert_true(json_real_value(json_object_get(o, "percent")) == 25.0);
    assert_true(json_real_value(json_object_get(o, "rows_per_s")) == 50.0);
    assert_int_equal(json_integer_value(json_object_get(o, "eta_s")), 15);
    assert_int_equal(json_integer_value(json_object_get(o, "errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "age_s")), 65);
    assert_true(json_is_false(json_object_get(o, "cancel_requested")));
    json_t *tc = json_object_get(o, "task_counts");
    assert_int_equal(json_object_size(tc), 5);
    assert_int_equal(json_integer_value(json_object_get(tc, "pending")), 5);
    assert_int_equal(json_object_size(o), 11);
    json_decref(o);
    /* unknowns are null */
    j.rows_total = -1;
    j.rate = -1;
    o = vm_status_job_json(&j);
    assert_true(json_is_null(json_object_get(o, "rows_total")));
    assert_true(json_is_null(json_object_get(o, "percent")));
    assert_true(json_is_null(json_object_get(o, "rows_per_s")));
    assert_true(json_is_null(json_object_get(o, "eta_s")));
    json_decref(o);
}

static void test_task_worker_json(void **s)
{
    (void)s;
    vm_task_status t = {.id = 3, .state = VM_TASK_RUNNING, .owner = "w1", .lease_until_ms = 5000,
                        .attempts = 2, .rows_read = 40, .rows_written = 30};
    vm_task_init(&t.task);
    t.task.job_id = "j1";
    t.task.id = 3;
    t.task.kind = VM_RANGE_INT;
    t.task.has_lo = t.task.has_hi = true;
    t.task.lo = 100;
    t.task.hi = 200;
    json_t *o = vm_status_task_json(&t, 3000);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(o, "owner")), "w1");
    assert_non_null(strstr(json_string_value(json_object_get(o, "range")), "100"));
    assert_int_equal(json_integer_value(json_object_get(o, "lease_left_ms")), 2000);
    assert_int_equal(json_integer_value(json_object_get(o, "rows_written")), 30);
    assert_true(json_is_null(json_object_get(o, "error")));
    json_decref(o);
    t.state = VM_TASK_DONE;
    t.owner = NULL;
    o = vm_status_task_json(&t, 3000);
    assert_true(json_is_null(json_object_get(o, "lease_left_ms")));
    assert_true(json_is_null(json_object_get(o, "owner")));
    json_decref(o);

    vm_worker_status w = {.id = "w1", .task_id = 3, .rows = 30, .last_beat_ms = 1000};
    o = vm_status_worker_json(&w, 3500, 3000);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "w1");
    assert_int_equal(json_integer_value(json_object_get(o, "task")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "beat_age_ms")), 2500);
    assert_true(json_is_true(json_object_get(o, "alive")));
    json_decref(o);
    w.task_id = -1;
    o = vm_status_worker_json(&w, 4001, 3000); /* older than 3 heartbeats: gone */
    assert_true(json_is_null(json_object_get(o, "task")));
    assert_true(json_is_false(json_object_get(o, "alive")));
    json_decref(o);
}

int main(void)
{
    json_set_alloc_funcs(vm_malloc, vm_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_eta_duration),
        cmocka_unit_test(test_pct_bar),
        cmocka_unit_test(test_job_line),
        cmocka_unit_test(test_job_json),
        cmocka_unit_test(test_task_worker_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_state_codec.c - the pure parts of the state store: state names, job
 * id rule, Redis key layout (hash tags), stored-number parsing and the
 * decoding of a stored task hash into vm_task_status (including corrupt
 * values), plus the wrappers' argument checks and backend selection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "state_redis.h"
#include "vm_mem.h"
#include "vm_state.h"

static void test_names(void **st)
{
    (void)st;
    for (int i = 0; i < VM_JOB__COUNT; i++) {
        vm_job_state s;
        assert_int_equal(vm_job_state_parse(vm_job_state_name((vm_job_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < VM_TASK__COUNT; i++) {
        vm_task_state s;
        assert_int_equal(vm_task_state_parse(vm_task_state_name((vm_task_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    vm_task_state t;
    vm_job_state j;
    assert_int_equal(vm_task_state_parse("Running", &t), VM_ERR_INVALID);
    assert_int_equal(vm_job_state_parse("", &j), VM_ERR_INVALID);
    assert_int_equal(vm_job_state_parse(NULL, &j), VM_ERR_INVALID);
    assert_string_equal(vm_job_state_name(VM_JOB_RECONCILING), "reconciling");
    assert_string_equal(vm_task_state_name(VM_TASK_FAILED), "failed");
    assert_string_equal(vm_claim_outcome_name(VM_CLAIM_BUSY), "busy");
}

static void test_job_id(void **st)
{
    (void)st;
    assert_true(vm_state_job_id_valid("pg-items_to.milvus-1"));
    assert_false(vm_state_job_id_valid(""));
    assert_false(vm_state_job_id_valid(NULL));
    assert_false(vm_state_job_id_valid("a{b}"));
    assert_false(vm_state_job_id_valid("a:b"));
    assert_false(vm_state_job_id_valid("a b"));
    char long_id[130];
    memset(long_id, 'x', 128);
    long_id[128] = '\0';
    assert_true(vm_state_job_id_valid(long_id));
    long_id[128] = 'x';
    long_id[129] = '\0';
    assert_false(vm_state_job_id_valid(long_id));
}

static void test_keys(void **st)
{
    (void)st;
    char k[VM_SR_KEY_MAX];
    assert_int_equal(vm_sr_key_build(k, sizeof k, "vecmig:", VM_SR_KEY_JOBS, "j1", 0), 0);
    assert_string_equal(k, "vecmig:jobs");
    assert_int_equal(vm_sr_key_build(k, sizeof k, "vecmig:", VM_SR_KEY_JOB, "j1", 0), 0);
    assert_string_equal(k, "vecmig:{j1}:job");
    assert_int_equal(vm_sr_key_build(k, sizeof k, "vecmig:", VM_SR_KEY_TASKS, "j1", 0), 0);
    assert_string_equal(k, "vecmig:{j1}:tasks");
    assert_int_equal(vm_sr_key_build(k, sizeof k, "vecmig:", VM_SR_KEY_LEASES, "j1", 0), 0);
    assert_string_equal(k, "vecmig:{j1}:leases");
    assert_int_equal(vm_sr_key_build(k, sizeof k, "vecmig:", VM_SR_KEY_TASK, "j1", 4294967295u), 0);
    assert_string_equal(k, "vecmig:{j1}:task:4294967295");
    assert_int_equal(vm_sr_key_build(k, sizeof k, "", VM_SR_KEY_TASK_PREFIX, "j1", 0), 0);
    assert_string_equal(k, "{j1}:task:");
    /* too small a buffer is refused, never truncated */
    char small[8];
    assert_int_equal(vm_sr_key_build(small, sizeof small, "vecmig:", VM_SR_KEY_JOB, "j1", 0),
                     VM_ERR_INVALID);

    vm_err e;
    assert_int_equal(vm_sr_prefix_check("vecmig:", &e), 0);
    assert_int_equal(vm_sr_prefix_check("", &e), 0);
    assert_int_equal(vm_sr_prefix_check("a{b", &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "hash tag"));
    assert_int_equal(vm_sr_prefix_check("a b", &e), VM_ERR_INVALID);
    char longp[VM_SR_PREFIX_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(vm_sr_prefix_check(longp, &e), VM_ERR_INVALID);
}

static void test_numbers(void **st)
{
    (void)st;
    int64_t v;
    uint64_t u;
    assert_int_equal(vm_sr_parse_i64("0", 1, &v), 0);
    assert_true(v == 0);
    assert_int_equal(vm_sr_parse_i64("-42", 3, &v), 0);
    assert_true(v == -42);
    assert_int_equal(vm_sr_parse_i64("9223372036854775807", 19, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(vm_sr_parse_i64("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(vm_sr_parse_i64("9223372036854775808", 19, &v), VM_ERR_INVALID);
    assert_int_equal(vm_sr_parse_i64("1e3", 3, &v), VM_ERR_INVALID);
    assert_int_equal(vm_sr_parse_i64("", 0, &v), VM_ERR_INVALID);
    assert_int_equal(vm_sr_parse_i64("-", 1, &v), VM_ERR_INVALID);
    assert_int_equal(vm_sr_parse_u64("18446744073709551615", 20, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(vm_sr_parse_u64("18446744073709551616", 20, &u), VM_ERR_INVALID);
    assert_int_equal(vm_sr_parse_u64("-1", 2, &u), VM_ERR_INVALID);
    /* only len bytes count */
    assert_int_equal(vm_sr_parse_i64("12x", 2, &v), 0);
    assert_true(v == 12);
}

/* Field values in vm_sr_status_fields order. */
static int decode(const char *job, uint32_t id, const char *const vals[VM_SR_NFIELDS],
                  vm_task_status *out, vm_err *e)
{
    size_t len[VM_SR_NFIELDS];
    for (int i = 0; i < VM_SR_NFIELDS; i++)
        len[i] = vals[i] ? strlen(vals[i]) : 0;
    return vm_sr_decode_status(job, id, vals, len, out, e);
}

static void test_decode_status(void **st)
{
    (void)st;
    vm_task t;
    vm_task_init(&t);
    t.job_id = "j1";
    t.id = 3;
    t.kind = VM_RANGE_INT;
    t.has_lo = t.has_hi = true;
    t.lo = 100;
    t.hi = 200;
    char *json = vm_task_encode(&t);
    assert_non_null(json);
    assert_string_equal(vm_sr_status_fields[0], "state");
    assert_string_equal(vm_sr_status_fields[9], "task");

    const char *full[VM_SR_NFIELDS] = {"running", "w-1", "18446744073709551615",
                                       "1700000000123", "2", "cur:150", "50", "49",
                                       "boom", json};
    vm_task_status s;
    vm_err e;
    assert_int_equal(decode("j1", 3, full, &s, &e), 0);
    assert_int_equal(s.id, 3);
    assert_int_equal(s.state, VM_TASK_RUNNING);
    assert_string_equal(s.owner, "w-1");
    assert_true(s.token == UINT64_MAX);
    assert_true(s.lease_until_ms == 1700000000123ll);
    assert_true(s.attempts == 2);
    assert_string_equal(s.cursor, "cur:150");
    assert_true(s.rows_read == 50 && s.rows_written == 49);
    assert_string_equal(s.error, "boom");
    assert_int_equal(s.task.kind, VM_RANGE_INT);
    assert_true(s.task.lo == 100 && s.task.hi == 200);
    vm_task_status_release(&s);

    /* a fresh task: optional fields absent */
    const char *fresh[VM_SR_NFIELDS] = {"pending", NULL, "0", NULL, "0", NULL, "0", "0", NULL,
                                        json};
    assert_int_equal(decode("j1", 3, fresh, &s, &e), 0);
    assert_int_equal(s.state, VM_TASK_PENDING);
    assert_null(s.owner);
    assert_null(s.cursor);
    assert_null(s.error);
    assert_true(s.token == 0 && s.lease_until_ms == 0);
    vm_task_status_release(&s);

    /* missing: NOT_FOUND */
    const char *none[VM_SR_NFIELDS] = {NULL};
    assert_int_equal(decode("j1", 3, none, &s, &e), VM_ERR_NOT_FOUND);

    /* corrupt values: PROTOCOL naming the field */
    const char *bad_state[VM_SR_NFIELDS] = {"sleeping", NULL, "0", NULL, "0", NULL, "0", "0",
                                            NULL, json};
    assert_int_equal(decode("j1", 3, bad_state, &s, &e), VM_ERR_PROTOCOL);
    const char *bad_num[VM_SR_NFIELDS] = {"pending", NULL, "0", NULL, "x", NULL, "0", "0",
                                          NULL, json};
    assert_int_equal(decode("j1", 3, bad_num, &s, &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "attempts"));
    const char *bad_json[VM_SR_NFIELDS] = {"pending", NULL, "0", NULL, "0", NULL, "0", "0",
                                           NULL, "{"};
    assert_int_equal(decode("j1", 3, bad_json, &s, &e), VM_ERR_PROTOCOL);
    /* the stored task must be this task of this job */
    assert_int_equal(decode("j1", 4, full, &s, &e), VM_ERR_PROTOCOL);
    assert_int_equal(decode("j2", 3, full, &s, &e), VM_ERR_PROTOCOL);
    free(json);
}

static void test_wrapper_checks(void **st)
{
    (void)st;
    vm_job_state_conf conf = {.type = 7};
    vm_state *s = NULL;
    vm_err e;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_INVALID);
    assert_null(s);
    /* redis without a url */
    conf.type = VM_STATE_REDIS;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "state.url"));
    conf.url = "redis://127.0.0.1:1";
    conf.key_prefix = "bad{prefix";
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_INVALID);
    assert_null(s);
    /* both backends are built (embedded: tests/unit/test_state_sqlite.c) */
    assert_non_null(vm_state_backend(VM_STATE_REDIS));
    assert_non_null(vm_state_backend(VM_STATE_EMBEDDED));
    assert_null(vm_state_backend(7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_job_id),
        cmocka_unit_test(test_keys),          cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_decode_status), cmocka_unit_test(test_wrapper_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

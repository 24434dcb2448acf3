/*
 * test_queue_key.c - the pure parts of the task queue: task message keys
 * both ways, role and type checks of vm_queue_open, and the refusal of
 * queue.properties that would override the delivery guarantees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_queue.h"

static void test_task_key(void **st)
{
    (void)st;
    char k[64], job[32];
    uint32_t id = 0;
    assert_int_equal(vm_queue_task_key("job-1", 42, k, sizeof k), 0);
    assert_string_equal(k, "job-1:42");
    assert_int_equal(vm_queue_task_key_parse(k, strlen(k), job, sizeof job, &id), 0);
    assert_string_equal(job, "job-1");
    assert_int_equal(id, 42);
    assert_int_equal(vm_queue_task_key("j", 4294967295u, k, sizeof k), 0);
    assert_int_equal(vm_queue_task_key_parse(k, strlen(k), job, sizeof job, &id), 0);
    assert_true(id == 4294967295u);
    /* refused */
    assert_int_equal(vm_queue_task_key("a:b", 1, k, sizeof k), VM_ERR_INVALID);
    assert_int_equal(vm_queue_task_key("", 1, k, sizeof k), VM_ERR_INVALID);
    char tiny[4];
    assert_int_equal(vm_queue_task_key("job", 12, tiny, sizeof tiny), VM_ERR_INVALID);
    const char *bad[] = {"job", ":1", "job:", "job:x", "job:01", "job:4294967296",
                         "job:12345678901", "a:b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vm_queue_task_key_parse(bad[i], strlen(bad[i]), job, sizeof job, &id),
                         VM_ERR_INVALID);
    /* the job does not fit */
    assert_int_equal(vm_queue_task_key_parse("abcdef:1", 8, job, 4, &id), VM_ERR_INVALID);
    /* only len bytes count */
    assert_int_equal(vm_queue_task_key_parse("j:7trailing", 3, job, sizeof job, &id), 0);
    assert_int_equal(id, 7);
}

static void test_open_checks(void **st)
{
    (void)st;
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED};
    vm_queue *q = NULL;
    vm_err e;
    /* embedded: the in-process queue (test_queue_memory.c) */
    assert_int_equal(vm_queue_open(&conf, "consumer", &q, &e), 0);
    assert_non_null(q);
    vm_queue_close(q);
    q = NULL;
    conf.type = VM_QUEUE_KAFKA;
    assert_int_equal(vm_queue_open(&conf, "worker", &q, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "role"));
    /* no brokers */
    assert_int_equal(vm_queue_open(&conf, "producer", &q, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "queue.brokers"));
}

static void test_pinned_properties(void **st)
{
    (void)st;
    char *brokers[] = {"127.0.0.1:1"};
    vm_job_queue_conf conf = {.type = VM_QUEUE_KAFKA, .brokers = {brokers, 1},
                              .topic = "t", .dead_letter_topic = "d", .group = "g"};
    const char *pinned[] = {"enable.auto.commit", "enable.auto.offset.store", "acks",
                            "enable.idempotence", "group.id", "bootstrap.servers",
                            "auto.offset.reset", "partition.assignment.strategy"};
    vm_err e;
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
        conf.properties = json_pack("{s:s}", pinned[i], "x");
        vm_queue *q = NULL;
        assert_int_equal(vm_queue_open(&conf, "consumer", &q, &e), VM_ERR_INVALID);
        assert_non_null(strstr(e.msg, pinned[i]));
        assert_null(q);
        json_decref(conf.properties);
    }
    /* a value of the wrong type */
    conf.properties = json_pack("{s:[]}", "session.timeout.ms");
    vm_queue *q = NULL;
    assert_int_equal(vm_queue_open(&conf, "producer", &q, &e), VM_ERR_INVALID);
    json_decref(conf.properties);
    /* same topic twice */
    conf.properties = NULL;
    conf.dead_letter_topic = "t";
    assert_int_equal(vm_queue_open(&conf, "producer", &q, &e), VM_ERR_INVALID);
    /* ordinary properties (string, integer, boolean) are accepted; a
     * producer connects lazily, so this needs no broker */
    conf.dead_letter_topic = "d";
    conf.properties = json_pack("{s:s,s:i,s:b}", "session.timeout.ms", "6000",
                                "max.poll.interval.ms", 6000, "socket.keepalive.enable", 1);
    assert_int_equal(vm_queue_open(&conf, "producer", &q, &e), 0);
    /* consumer-only calls are refused on a producer */
    vm_queue_msg m;
    assert_int_equal(vm_queue_consume(q, 0, &m, &e), VM_ERR_INVALID);
    assert_int_equal(vm_queue_hold(q, &e), VM_ERR_INVALID);
    assert_int_equal(vm_queue_prepare(q, 0, &e), VM_ERR_INVALID);
    vm_queue_close(q);
    json_decref(conf.properties);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_key),
        cmocka_unit_test(test_open_checks),
        cmocka_unit_test(test_pinned_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

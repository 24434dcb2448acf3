/*
 * test_kafka_conf.c - vm_kafka without a broker: error classification,
 * configuration pass-through errors (naming the key, never a secret value),
 * and the producer's delivery wait when no broker answers (loopback port 1,
 * nothing listens there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_err.h"
#include "vm_kafka.h"
#include "vm_log.h"

#define DEAD_BROKER "127.0.0.1:1"

static void test_classify_retriable(void **s)
{
    (void)s;
    static const rd_kafka_resp_err_t retry[] = {
        RD_KAFKA_RESP_ERR__TRANSPORT,          RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__TIMED_OUT,          RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,   RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,   RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
    };
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++) {
        bool r = false;
        vm_code c = vm_kafka_classify(retry[i], &r);
        if (!r)
            fail_msg("%s should be retriable", rd_kafka_err2name(retry[i]));
        assert_true(c < 0);
    }
    bool r;
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR__TRANSPORT, &r), VM_ERR_IO);
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, &r),
                     VM_ERR_UNAVAILABLE);
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR__TIMED_OUT, &r), VM_ERR_TIMEOUT);
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR__QUEUE_FULL, &r),
                     VM_ERR_RATE_LIMITED);
}

static void test_classify_fatal(void **s)
{
    (void)s;
    struct {
        rd_kafka_resp_err_t e;
        vm_code want;
    } cases[] = {
        {RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, VM_ERR_AUTH},
        {RD_KAFKA_RESP_ERR__AUTHENTICATION, VM_ERR_AUTH},
        {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, VM_ERR_AUTH},
        {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, VM_ERR_AUTH},
        {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, VM_ERR_NOT_FOUND},
        {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, VM_ERR_NOT_FOUND},
        {RD_KAFKA_RESP_ERR__INVALID_ARG, VM_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_INVALID_CONFIG, VM_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR, VM_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, VM_ERR_EXISTS},
        {RD_KAFKA_RESP_ERR__FATAL, VM_ERR_REMOTE},
        {RD_KAFKA_RESP_ERR__DESTROY, VM_ERR_CANCELLED},
        {(rd_kafka_resp_err_t)12345, VM_ERR_REMOTE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool r = true;
        vm_code c = vm_kafka_classify(cases[i].e, &r);
        if (r || c != cases[i].want)
            fail_msg("%s: got %s retriable=%d", rd_kafka_err2name(cases[i].e),
                     vm_code_name(c), r);
    }
    bool r = true;
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR_NO_ERROR, &r), VM_OK);
    assert_false(r);
    /* too large: retriable only once smaller, as the convention says */
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, &r),
                     VM_ERR_TOO_LARGE);
    assert_int_equal(vm_kafka_classify(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, NULL),
                     VM_ERR_TOO_LARGE);
}

static void test_secret_names(void **s)
{
    (void)s;
    assert_true(vm_kafka_prop_is_secret("sasl.password"));
    assert_true(vm_kafka_prop_is_secret("ssl.key.password"));
    assert_true(vm_kafka_prop_is_secret("ssl.keystore.password"));
    assert_true(vm_kafka_prop_is_secret("sasl.oauthbearer.client.secret"));
    assert_true(vm_kafka_prop_is_secret("ssl.key.pem"));
    assert_false(vm_kafka_prop_is_secret("sasl.username"));
    assert_false(vm_kafka_prop_is_secret("security.protocol"));
    assert_false(vm_kafka_prop_is_secret(NULL));
}

static void test_conf_errors_name_key(void **s)
{
    (void)s;
    vm_kafka_producer *p = (vm_kafka_producer *)1;
    vm_err e;

    const char *unknown[] = {"no.such.property=1"};
    vm_kafka_opts o = {.brokers = DEAD_BROKER, .props = unknown, .nprops = 1};
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), VM_ERR_INVALID);
    assert_null(p);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "no.such.property"));

    const char *badval[] = {"security.protocol=carrier-pigeon"};
    o.props = badval;
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "security.protocol"));

    /* not key=value: the entry is named by position, never printed */
    const char *noeq[] = {"sasl.username=u", "sasl.password:hunter2-kafka"};
    o.props = noeq;
    o.nprops = 2;
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "#2"));
    assert_null(strstr(e.msg, "hunter2"));

    /* a secret value librdkafka rejects: key named, value not shown */
    vm_secret_clear();
    const char *badsecret[] = {"ssl.key.pem=not-a-pem-secret-value"};
    o.props = badsecret;
    o.nprops = 1;
    vm_kafka_consumer *c = (vm_kafka_consumer *)1;
    const char *topics[] = {"t"};
    int rc = vm_kafka_consumer_new(&o, "g", topics, 1, &c, &e);
    if (rc != 0) {
        /* librdkafka without the SSL feature rejects the key itself */
        assert_int_equal(rc, VM_ERR_INVALID);
        assert_null(c);
        assert_non_null(strstr(e.msg, "ssl.key.pem"));
        assert_null(strstr(e.msg, "not-a-pem-secret-value"));
    } else {
        vm_kafka_consumer_close(c);
    }
    /* either way the value was registered as a secret before use */
    vm_err_setc(&e, VM_ERR_REMOTE, "x not-a-pem-secret-value y");
    assert_string_equal(e.msg, "x *** y");
    vm_secret_clear();

    vm_kafka_opts none = {0};
    assert_int_equal(vm_kafka_producer_new(&none, &p, &e), VM_ERR_INVALID);
    assert_int_equal(vm_kafka_producer_new(NULL, &p, &e), VM_ERR_INVALID);
    assert_int_equal(vm_kafka_consumer_new(&(vm_kafka_opts){.brokers = DEAD_BROKER}, "",
                                           topics, 1, &c, &e),
                     VM_ERR_INVALID);
}

/* The broker never answers: the message's own timeout expires first and
 * the failure comes back through the delivery report, retriable. */
static void test_sync_delivery_fails_retriable(void **s)
{
    (void)s;
    const char *props[] = {"message.timeout.ms=300", "reconnect.backoff.max.ms=100"};
    vm_kafka_opts o = {.brokers = DEAD_BROKER, .client_id = "unit", .props = props,
                       .nprops = 2};
    vm_kafka_producer *p = NULL;
    vm_err e;
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), 0);
    int rc = vm_kafka_produce_sync(p, "t", "k", 1, "v", 1, 20000, &e);
    assert_int_equal(rc, VM_ERR_TIMEOUT);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "delivery"));

    /* the batched path counts the same failures */
    assert_int_equal(vm_kafka_produce(p, "t", NULL, 0, "a", 1, &e), 0);
    assert_int_equal(vm_kafka_produce(p, "t", "k", 1, "b", 1, &e), 0);
    size_t failed = 99;
    rc = vm_kafka_flush(p, 20000, &failed, &e);
    assert_int_equal(failed, 2);
    assert_int_equal(rc, VM_ERR_TIMEOUT);
    assert_non_null(strstr(e.msg, "2 message(s) not delivered"));
    /* and a flush with nothing outstanding is clean */
    assert_int_equal(vm_kafka_flush(p, 1000, &failed, &e), 0);
    assert_int_equal(failed, 0);
    vm_kafka_producer_free(p);
}

/* The caller's wait is shorter than the message timeout: the call gives up
 * with an "outcome unknown" timeout and the late report must land safely
 * (ASan checks the abandoned delivery state). */
static void test_sync_wait_abandoned(void **s)
{
    (void)s;
    const char *props[] = {"message.timeout.ms=1000"};
    vm_kafka_opts o = {.brokers = DEAD_BROKER, .props = props, .nprops = 1};
    vm_kafka_producer *p = NULL;
    vm_err e;
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), 0);
    assert_int_equal(vm_kafka_produce_sync(p, "t", NULL, 0, "v", 1, 100, &e), VM_ERR_TIMEOUT);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "outcome unknown"));
    /* the report arrives during flush, into the abandoned state */
    size_t failed = 0;
    vm_kafka_flush(p, 20000, &failed, &e);
    assert_int_equal(failed, 0); /* sync messages are not counted as batched */
    vm_kafka_producer_free(p);
}

static void test_produce_argument_errors(void **s)
{
    (void)s;
    vm_kafka_opts o = {.brokers = DEAD_BROKER};
    vm_kafka_producer *p = NULL;
    vm_err e;
    assert_int_equal(vm_kafka_producer_new(&o, &p, &e), 0);
    assert_int_equal(vm_kafka_produce_sync(p, "", NULL, 0, "v", 1, 100, &e), VM_ERR_INVALID);
    assert_int_equal(vm_kafka_produce(p, NULL, NULL, 0, "v", 1, &e), VM_ERR_INVALID);
    vm_kafka_producer_free(p);
}

int main(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_retriable),
        cmocka_unit_test(test_classify_fatal),
        cmocka_unit_test(test_secret_names),
        cmocka_unit_test(test_conf_errors_name_key),
        cmocka_unit_test(test_sync_delivery_fails_retriable),
        cmocka_unit_test(test_sync_wait_abandoned),
        cmocka_unit_test(test_produce_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

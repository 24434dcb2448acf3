/*
 * test_milvus_client.c - Milvus error envelopes map onto the vecmig error
 * convention: rate limits and "not ready" retriable, parameter errors fatal,
 * oversized inserts TOO_LARGE (the batch is halved), auth fatal; the
 * partition-limit refusal is recognised; a rows body with a partition name
 * is measured exactly as it is built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "milvus_client.h"

static void expect(long code, const char *msg, vm_code want, bool want_retry)
{
    bool retry = !want_retry;
    vm_code got = vm_milvus_classify(code, msg, &retry);
    if (got != want || retry != want_retry)
        fail_msg("code %ld '%s': got %s/%d, want %s/%d", code, msg ? msg : "", vm_code_name(got),
                 retry, vm_code_name(want), want_retry);
}

static void test_classify(void **st)
{
    (void)st;
    expect(0, NULL, VM_OK, false);
    expect(8, "rate limit exceeded", VM_ERR_RATE_LIMITED, true);
    expect(4, "request limit exceeded", VM_ERR_RATE_LIMITED, true);
    expect(1807, "request is rejected by limiter", VM_ERR_RATE_LIMITED, true);
    expect(1, "service not ready", VM_ERR_UNAVAILABLE, true);
    expect(2, "service unavailable", VM_ERR_UNAVAILABLE, true);
    expect(1102, "parameter too large[message=insert request size exceeds maxInsertSize]",
           VM_ERR_TOO_LARGE, true);
    expect(65535, "grpc: received message larger than max (70000000 vs. 67108864)",
           VM_ERR_TOO_LARGE, true);
    expect(1800, "user hasn't authenticated", VM_ERR_AUTH, false);
    expect(1401, "privilege not permitted", VM_ERR_AUTH, false);
    expect(100, "collection not found[collection=x]", VM_ERR_NOT_FOUND, false);
    expect(200, "partition not found[partition=p_3]", VM_ERR_NOT_FOUND, false);
    expect(700, "index not found[indexName=v]", VM_ERR_NOT_FOUND, false);
    expect(1100, "invalid parameter", VM_ERR_INVALID, false);
    expect(1804, "fail to deal the insert data", VM_ERR_INVALID, false);
    expect(9, "quota exceeded", VM_ERR_REMOTE, false); /* Milvus marks it final too */
    expect(65535, "something else", VM_ERR_REMOTE, false);
    expect(65535, NULL, VM_ERR_REMOTE, false);
}

static void test_bad_uri(void **st)
{
    (void)st;
    vm_milvus *m;
    vm_err e;
    vm_milvus_opts o = {.uri = "localhost:19530"};
    assert_int_equal(vm_milvus_new(&o, &m, &e), VM_ERR_INVALID);
    assert_null(m);
    o.uri = "http://127.0.0.1:19530/";
    o.token = "root:Milvus-secret";
    assert_int_equal(vm_milvus_new(&o, &m, &e), VM_OK);
    vm_milvus_free(m);
}

static void test_partition_limit(void **st)
{
    (void)st;
    /* Milvus rootcoord's refusal (code 65535): fatal, and recognised */
    const char *msg = "partition number (1024) exceeds max configuration (1024), collection: c";
    expect(65535, msg, VM_ERR_REMOTE, false);
    assert_true(vm_milvus_is_partition_limit(msg));
    assert_false(vm_milvus_is_partition_limit("shard num (17) exceeds max configuration (16)"));
    assert_false(vm_milvus_is_partition_limit(NULL));
}

static void test_rows_body(void **st)
{
    (void)st;
    vm_milvus *m;
    vm_err e;
    vm_milvus_opts o = {.uri = "http://127.0.0.1:9", .database = "db1"};
    assert_int_equal(vm_milvus_new(&o, &m, &e), VM_OK);
    const char *rows = "[{\"id\":1},{\"id\":2}]";
    size_t n = vm_milvus_rows_body(m, "coll", "p_2024", rows, strlen(rows));
    assert_int_equal(n, vm_milvus_rows_body_size(m, "coll", "p_2024", strlen(rows)));
    /* without a partition the body lacks exactly the partitionName member */
    size_t n2 = vm_milvus_rows_body(m, "coll", NULL, rows, strlen(rows));
    assert_int_equal(n2, vm_milvus_rows_body_size(m, "coll", NULL, strlen(rows)));
    assert_int_equal(n - n2, strlen(",\"partitionName\":\"p_2024\""));
    vm_milvus_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_bad_uri),
        cmocka_unit_test(test_partition_limit),
        cmocka_unit_test(test_rows_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

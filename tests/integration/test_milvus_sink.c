/*
 * test_milvus_sink.c - the Milvus sink against the REST v2 bridge over
 * milvus-lite: create (schema carried over), refuse an existing collection
 * unless appending, insert rows from the synthetic source through the
 * registry, count(*) exactly, and read everything back with pymilvus
 * straight from milvus-lite (verify_milvus.py): ids exact, vectors
 * bit-exact, nulls and strings equal, no duplicate inserts.
 *
 * Needs VECMIG_TEST_MILVUS (bridge URL), VECMIG_TEST_MILVUS_GRPC and
 * VECMIG_PYTHON from `scripts/stack env`; fails when they are missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "milvus_client.h"
#include "vm_connector.h"

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: start the stack and eval \"$(scripts/stack env)\"", name);
    return v;
}

static void test_sink_roundtrip(void **st)
{
    (void)st;
    const char *uri = need_env("VECMIG_TEST_MILVUS");
    const char *py = need_env("VECMIG_PYTHON");
    need_env("VECMIG_TEST_MILVUS_GRPC");
    char coll[64];
    snprintf(coll, sizeof coll, "it_sink_%ld_%d", (long)time(NULL), (int)getpid());
    const int rows = 2500, dim = 16, seed = 42;

    vm_err e;
    json_t *sconf = json_pack("{s:i, s:i, s:i, s:s}", "rows", rows, "dim", dim, "seed", seed,
                              "collection", coll);
    json_t *tconf = json_pack("{s:s}", "uri", uri);
    vm_source *src;
    vm_sink *sink;
    if (vm_source_new("synthetic", sconf, &src, &e) || vm_sink_new("milvus", tconf, &sink, &e))
        fail_msg("%s", e.msg);
    vm_schema *schema;
    assert_int_equal(vm_source_discover(src, &schema, &e), VM_OK);

    json_t *params = json_pack("{s:i, s:s}", "shardsNum", 2, "consistencyLevel", "Strong");
    vm_sink_prepare create = {.append = false, .params = params};
    if (vm_sink_prepare_target(sink, schema, &create, &e) != VM_OK)
        fail_msg("create: %s", e.msg);
    /* a second prepare without append refuses, naming the way out */
    assert_int_equal(vm_sink_prepare_target(sink, schema, &create, &e), VM_ERR_EXISTS);
    assert_non_null(strstr(e.msg, "on_existing: append"));
    vm_sink_prepare append = {.append = true};
    if (vm_sink_prepare_target(sink, schema, &append, &e) != VM_OK)
        fail_msg("append: %s", e.msg);
    /* append with a different dimension is refused */
    vm_schema *other = vm_schema_clone(schema);
    other->fields[1].dim = dim * 2;
    assert_int_equal(vm_sink_prepare_target(sink, other, &append, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "field 'vec' is FloatVector(16) there"));
    vm_schema_free(other);

    /* the schema arrived as sent: describe it back */
    vm_milvus_opts mo = {.uri = uri};
    vm_milvus *m;
    assert_int_equal(vm_milvus_new(&mo, &m, &e), VM_OK);
    vm_schema *back;
    json_t *raw;
    if (vm_milvus_describe(m, coll, &back, &raw, &e) != VM_OK)
        fail_msg("describe: %s", e.msg);
    json_t *a = vm_schema_to_milvus(schema), *b = vm_schema_to_milvus(back);
    if (!json_equal(a, b)) {
        char *x = json_dumps(a, JSON_SORT_KEYS), *y = json_dumps(b, JSON_SORT_KEYS);
        fail_msg("schema changed:\n sent %s\n got  %s", x, y);
    }
    assert_int_equal(json_integer_value(json_object_get(raw, "shardsNum")), 2);
    json_decref(a);
    json_decref(b);
    json_decref(raw);
    vm_schema_free(back);

    /* copy every task in batches of 300 rows */
    vm_batch *batch;
    assert_int_equal(vm_batch_new(schema, 300, &batch, &e), VM_OK);
    int64_t written = 0;
    for (int64_t lo = 0; lo < rows; lo += 1000) {
        vm_task t;
        vm_task_init(&t);
        t.job_id = "it";
        t.kind = VM_RANGE_INT;
        t.has_lo = t.has_hi = true;
        t.lo = lo;
        t.hi = lo + 1000;
        bool done = false;
        assert_int_equal(vm_source_open(src, &t, NULL, &e), VM_OK);
        while (!done) {
            vm_batch_clear(batch);
            assert_int_equal(vm_source_read(src, batch, 300, &done, &e), VM_OK);
            if (vm_sink_write(sink, schema, batch, 0, batch->nrows, 0, &e) != VM_OK)
                fail_msg("insert: %s", e.msg);
            written += (int64_t)batch->nrows;
        }
    }
    assert_int_equal(written, rows);

    /* the same rows again: upserted (the key is kept), so no duplicates */
    if (vm_sink_write(sink, schema, batch, 0, batch->nrows, 0, &e) != VM_OK)
        fail_msg("upsert: %s", e.msg);
    /* a request over the size limit is not sent: TOO_LARGE, retriable */
    assert_int_equal(vm_sink_write(sink, schema, batch, 0, batch->nrows, 4096, &e),
                     VM_ERR_TOO_LARGE);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "over the 4096-byte limit"));
    assert_int_equal(vm_sink_write(sink, schema, batch, 0, 2, 4096, &e), VM_OK);

    /* count(*) needs a loaded collection, as in Milvus */
    int64_t n = -1;
    assert_int_not_equal(vm_sink_count(sink, coll, &n, &e), VM_OK);
    assert_false(e.retriable);
    bool changed = false;
    if (vm_sink_make_queryable(sink, schema, &changed, &e) != VM_OK)
        fail_msg("make_queryable: %s", e.msg);
    assert_true(changed);
    assert_int_equal(vm_sink_make_queryable(sink, schema, &changed, &e), VM_OK);
    assert_false(changed); /* already loaded: nothing to do */
    if (vm_sink_count(sink, coll, &n, &e) != VM_OK)
        fail_msg("count: %s", e.msg);
    assert_int_equal(n, rows);

    /* independent read-back through pymilvus, straight from milvus-lite */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --collection %s --rows %d --dim %d --seed %d", py,
             VM_VERIFY_SCRIPT, coll, rows, dim, seed);
    assert_int_equal(system(cmd), 0);

    /* delete by filter (used to undo a partly written autoID range) */
    if (vm_sink_delete_where(sink, coll, "id >= 2000", &e) != VM_OK)
        fail_msg("delete: %s", e.msg);
    assert_int_equal(vm_sink_count(sink, coll, &n, &e), VM_OK);
    assert_int_equal(n, 2000);

    assert_int_equal(vm_milvus_drop(m, coll, &e), VM_OK);
    vm_milvus_free(m);
    vm_batch_free(batch);
    vm_schema_free(schema);
    vm_sink_free(sink);
    vm_source_free(src);
    json_decref(params);
    json_decref(sconf);
    json_decref(tconf);
}

static void test_errors(void **st)
{
    (void)st;
    const char *uri = need_env("VECMIG_TEST_MILVUS");
    vm_milvus_opts mo = {.uri = uri};
    vm_milvus *m;
    vm_err e;
    assert_int_equal(vm_milvus_new(&mo, &m, &e), VM_OK);
    /* unknown collection: a Milvus error envelope on HTTP 200, fatal */
    int64_t n;
    int rc = vm_milvus_count(m, "no_such_collection_here", &n, &e);
    assert_int_not_equal(rc, VM_OK);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "entities/query"));
    /* nothing listens here: transport error, retriable */
    vm_milvus_free(m);
    mo.uri = "http://127.0.0.1:9";
    assert_int_equal(vm_milvus_new(&mo, &m, &e), VM_OK);
    bool exists;
    rc = vm_milvus_has(m, "x", &exists, &e);
    assert_int_equal(rc, VM_ERR_IO);
    assert_true(e.retriable);
    vm_milvus_free(m);
    /* a bad uri is a config error naming the key */
    mo.uri = "127.0.0.1:19530";
    assert_int_equal(vm_milvus_new(&mo, &m, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "target.uri"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_roundtrip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_connector.c - connector interfaces and registry: the generated
 * registry is consistent, duplicates and incomplete connectors are caught,
 * unknown types name the available ones, and a whole source cycle
 * (discover, count, plan, open, read, cursor, resume) works on the
 * synthetic source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "synthetic.h"
#include "vm_connector.h"
#include "vm_mem.h"

static void test_registry(void **st)
{
    (void)st;
    vm_err e;
    assert_int_equal(vm_registry_check_sources(vm_source_list(), &e), VM_OK);
    assert_int_equal(vm_registry_check_sinks(vm_sink_list(), &e), VM_OK);
    assert_non_null(vm_source_find("synthetic"));
    assert_null(vm_source_find("nope"));
    assert_null(vm_source_find(NULL));

    const vm_source_ops *syn = vm_source_find("synthetic");
    const vm_source_ops *dup[] = {syn, syn, NULL};
    assert_int_equal(vm_registry_check_sources(dup, &e), VM_ERR_INTERNAL);
    assert_non_null(strstr(e.msg, "'synthetic' registered twice"));

    vm_source_ops partial = *syn;
    partial.name = "partial";
    partial.read = NULL;
    const vm_source_ops *inc[] = {syn, &partial, NULL};
    assert_int_equal(vm_registry_check_sources(inc, &e), VM_ERR_INTERNAL);
    assert_non_null(strstr(e.msg, "'partial' lacks a required op"));

    vm_sink_ops nameless = {0};
    const vm_sink_ops *ns[] = {&nameless, NULL};
    assert_int_equal(vm_registry_check_sinks(ns, &e), VM_ERR_INTERNAL);
}

static void test_unknown_type(void **st)
{
    (void)st;
    json_t *conf = json_object();
    vm_source *src;
    vm_err e;
    assert_int_equal(vm_source_new("pinecone-typo", conf, &src, &e), VM_ERR_INVALID);
    assert_null(src);
    assert_non_null(strstr(e.msg, "unknown source 'pinecone-typo'"));
    assert_non_null(strstr(e.msg, "available: synthetic"));
    assert_int_equal(vm_source_new(NULL, conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "source.type: missing"));
    json_decref(conf);
    /* the connector rejects its own unknown keys, by name */
    conf = json_pack("{s:i}", "rowz", 5);
    assert_int_equal(vm_source_new("synthetic", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "source synthetic: source.rowz: unknown key"));
    json_decref(conf);
    conf = json_pack("{s:i}", "dim", 0);
    assert_int_equal(vm_source_new("synthetic", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "source.dim"));
    json_decref(conf);
}

typedef struct plan_ctx {
    vm_task tasks[16];
    int n;
} plan_ctx;

static int collect(void *ctx, const vm_task *t, vm_err *err)
{
    plan_ctx *p = ctx;
    if (p->n == 16)
        return vm_err_setc(err, VM_ERR_INTERNAL, "too many tasks");
    return vm_task_copy(&p->tasks[p->n++], t, err);
}

static void check_rows(const vm_batch *b, int64_t first, size_t n, int64_t dim)
{
    for (size_t r = 0; r < n; r++) {
        int64_t k = first + (int64_t)r;
        assert_int_equal(vm_batch_get_int(b, 0, r), k);
        const float *v = vm_batch_get_vector(b, 1, r);
        for (int64_t j = 0; j < dim; j++)
            assert_true(v[j] == vm_synthetic_component(7, k, j));
        assert_int_equal(vm_batch_is_null(b, 4, r), k % 7 == 3);
    }
}

static void test_synthetic_cycle(void **st)
{
    (void)st;
    json_t *conf = json_pack("{s:i, s:i, s:i}", "rows", 1050, "dim", 5, "seed", 7);
    vm_source *src;
    vm_err e;
    assert_int_equal(vm_source_new("synthetic", conf, &src, &e), VM_OK);
    vm_schema *s;
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    assert_int_equal(vm_schema_validate(s, &e), VM_OK);
    int64_t rows;
    assert_int_equal(vm_source_count(src, &rows, &e), VM_OK);
    assert_int_equal(rows, 1050);

    plan_ctx p = {.n = 0};
    vm_plan_opts po = {.job_id = "job", .task_rows = 400};
    assert_int_equal(vm_source_plan(src, &po, collect, &p, &e), VM_OK);
    assert_int_equal(p.n, 3);
    int64_t covered = 0;
    for (int i = 0; i < p.n; i++) {
        assert_int_equal(p.tasks[i].id, (uint32_t)i);
        assert_true(p.tasks[i].lo == covered); /* contiguous, disjoint */
        covered = p.tasks[i].hi;
    }
    assert_true(covered == 1050);
    po.task_rows = 0;
    assert_int_equal(vm_source_plan(src, &po, collect, &p, &e), VM_ERR_INVALID);

    /* read task 2 ([800, 1050)) in batches of 100, stop after the first,
     * then resume from the cursor in a new instance */
    vm_batch *b;
    assert_int_equal(vm_batch_new(s, 100, &b, &e), VM_OK);
    bool done;
    assert_int_equal(vm_source_open(src, &p.tasks[2], NULL, &e), VM_OK);
    assert_int_equal(vm_source_read(src, b, 100, &done, &e), VM_OK);
    assert_false(done);
    check_rows(b, 800, 100, 5);
    char *cur;
    assert_int_equal(vm_source_cursor(src, &cur, &e), VM_OK);
    assert_string_equal(cur, "900");
    vm_source_close(src);
    vm_source_free(src);

    assert_int_equal(vm_source_new("synthetic", conf, &src, &e), VM_OK);
    assert_int_equal(vm_source_open(src, &p.tasks[2], cur, &e), VM_OK);
    int64_t next = 900;
    do {
        vm_batch_clear(b);
        assert_int_equal(vm_source_read(src, b, 100, &done, &e), VM_OK);
        check_rows(b, next, b->nrows, 5);
        next += (int64_t)b->nrows;
    } while (!done);
    assert_true(next == 1050); /* nothing skipped, nothing past the range */
    assert_int_equal(vm_source_open(src, &p.tasks[2], "5000", &e), VM_ERR_INVALID);
    vm_free(cur);
    vm_source_free(src);
    vm_batch_free(b);
    vm_schema_free(s);
    for (int i = 0; i < p.n; i++)
        vm_task_release(&p.tasks[i]);
    json_decref(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_synthetic_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_batch.c - columnar batch: typed storage, nulls, arenas, sparse runs,
 * growth, clear-and-reuse, range checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vm_batch.h"
#include "vm_mem.h"

static vm_schema *schema(void)
{
    vm_schema *s = vm_schema_new("t");
    const vm_field fs[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 3},
        {.name = "h", .type = VM_T_FLOAT16_VECTOR, .dim = 2},
        {.name = "b", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = "name", .type = VM_T_VARCHAR, .max_length = 10, .nullable = true},
        {.name = "small", .type = VM_T_INT8},
        {.name = "f", .type = VM_T_FLOAT},
        {.name = "ok", .type = VM_T_BOOL},
        {.name = "meta", .type = VM_T_JSON, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], NULL), VM_OK);
    return s;
}

static void fill(vm_batch *b, int64_t k)
{
    size_t r;
    vm_err e;
    assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
    assert_int_equal(vm_batch_set_int(b, 0, r, k, &e), VM_OK);
    float *v = vm_batch_vector(b, 1, r);
    v[0] = (float)k;
    v[1] = 0.1f;
    v[2] = -0.0f;
    uint16_t *h = vm_batch_vector(b, 2, r);
    h[0] = 0x3c00;
    h[1] = (uint16_t)k;
    uint8_t *bits = vm_batch_vector(b, 3, r);
    bits[0] = 0xa5;
    bits[1] = (uint8_t)k;
    uint32_t idx[3] = {1, 5, (uint32_t)(100 + k)};
    float val[3] = {0.5f, 1.5f, (float)k};
    assert_int_equal(vm_batch_set_sparse(b, 4, r, idx, val, (size_t)(k % 4 == 0 ? 0 : 3), &e), VM_OK);
    if (k % 2)
        assert_int_equal(vm_batch_set_null(b, 5, r, &e), VM_OK);
    else {
        char name[16];
        int n = snprintf(name, sizeof name, "n%lld", (long long)k);
        assert_int_equal(vm_batch_set_str(b, 5, r, name, (size_t)n, &e), VM_OK);
    }
    assert_int_equal(vm_batch_set_int(b, 6, r, k % 100, &e), VM_OK);
    assert_int_equal(vm_batch_set_double(b, 7, r, 0.25 * (double)k, &e), VM_OK);
    assert_int_equal(vm_batch_set_bool(b, 8, r, k % 3 == 0, &e), VM_OK);
    /* meta left unset: stays null */
}

static void check(const vm_batch *b, size_t r, int64_t k)
{
    assert_int_equal(vm_batch_get_int(b, 0, r), k);
    const float *v = vm_batch_get_vector(b, 1, r);
    assert_true(v[0] == (float)k && v[1] == 0.1f);
    assert_true(v[2] == 0.0f && signbit(v[2])); /* -0.0 kept */
    const uint16_t *h = vm_batch_get_vector(b, 2, r);
    assert_int_equal(h[1], (uint16_t)k);
    const uint8_t *bits = vm_batch_get_vector(b, 3, r);
    assert_int_equal(bits[0], 0xa5);
    assert_int_equal(bits[1], (uint8_t)k);
    const uint32_t *idx;
    const float *val;
    size_t nnz = vm_batch_get_sparse(b, 4, r, &idx, &val);
    if (k % 4 == 0)
        assert_int_equal(nnz, 0);
    else {
        assert_int_equal(nnz, 3);
        assert_int_equal(idx[2], 100 + k);
        assert_true(val[2] == (float)k);
    }
    size_t len;
    if (k % 2)
        assert_true(vm_batch_is_null(b, 5, r));
    else {
        char name[16];
        int n = snprintf(name, sizeof name, "n%lld", (long long)k);
        const char *s = vm_batch_get_str(b, 5, r, &len);
        assert_false(vm_batch_is_null(b, 5, r));
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(s, name, len);
    }
    assert_int_equal(vm_batch_get_int(b, 6, r), k % 100);
    assert_true(vm_batch_get_double(b, 7, r) == 0.25 * (double)k);
    assert_int_equal(vm_batch_get_bool(b, 8, r), k % 3 == 0);
    assert_true(vm_batch_is_null(b, 9, r));
}

static void test_fill_grow_reuse(void **st)
{
    (void)st;
    vm_schema *s = schema();
    vm_batch *b;
    vm_err e;
    assert_int_equal(vm_batch_new(s, 4, &b, &e), VM_OK);
    for (int round = 0; round < 3; round++) {
        for (int64_t k = 0; k < 1000; k++)
            fill(b, k + round);
        assert_int_equal(b->nrows, 1000);
        for (int64_t k = 0; k < 1000; k++)
            check(b, (size_t)k, k + round);
        size_t cap = b->cap;
        vm_batch_clear(b);
        assert_int_equal(b->nrows, 0);
        assert_int_equal(b->cap, cap); /* memory kept for reuse */
    }
    vm_batch_free(b);
    vm_schema_free(s);
}

static void test_checks(void **st)
{
    (void)st;
    vm_schema *s = schema();
    vm_batch *b;
    vm_err e;
    size_t r;
    assert_int_equal(vm_batch_new(s, 2, &b, &e), VM_OK);
    assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
    assert_int_equal(vm_batch_set_int(b, 6, r, 200, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "field 'small' (Int8): value 200 out of range"));
    assert_int_equal(vm_batch_set_null(b, 0, r, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "'id' is not nullable"));
    assert_int_equal(vm_batch_set_str(b, 0, r, "x", 1, &e), VM_ERR_INVALID);
    assert_int_equal(vm_batch_set_bool(b, 7, r, true, &e), VM_ERR_INVALID);
    uint32_t idx[2] = {5, 5};
    float val[2] = {1, 2};
    assert_int_equal(vm_batch_set_sparse(b, 4, r, idx, val, 2, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "not strictly increasing"));
    /* an integer that a float column cannot hold exactly is refused */
    assert_int_equal(vm_batch_set_int(b, 7, r, (1 << 24) + 1, &e), VM_ERR_INVALID);
    assert_int_equal(vm_batch_set_int(b, 7, r, 1 << 20, &e), VM_OK);
    assert_null(vm_batch_vector(b, 0, r));
    assert_int_equal(vm_batch_col(b, "sp"), 4);
    assert_int_equal(vm_batch_col(b, "nope"), -1);
    vm_batch_drop_last(b);
    assert_int_equal(b->nrows, 0);
    assert_true(vm_batch_bytes(b) == 0);
    vm_batch_free(b);
    vm_schema_free(s);
}

static void test_nomem(void **st)
{
    (void)st;
    vm_schema *s = schema();
    for (long n = 0; n < 80; n++) {
        vm_batch *b = NULL;
        vm_err e;
        vm_mem_fail_after(n);
        int rc = vm_batch_new(s, 2, &b, &e);
        if (rc == VM_OK) {
            for (int k = 0; k < 6; k++) {
                size_t r;
                if (vm_batch_add_row(b, &r, &e) != VM_OK)
                    break;
                if (vm_batch_set_str(b, 5, r, "abc", 3, &e) != VM_OK)
                    assert_int_equal(e.code, VM_ERR_NOMEM);
            }
        } else {
            assert_int_equal(rc, VM_ERR_NOMEM);
            assert_null(b);
        }
        vm_mem_fail_after(-1);
        vm_batch_free(b);
    }
    vm_schema_free(s);
}

static void test_sparse_sort(void **st)
{
    (void)st;
    uint32_t idx[] = {9, 2, 4000000000u, 0};
    float val[] = {0.9f, 0.2f, 4.0f, 0.0f};
    uint32_t dup = 7;
    assert_int_equal(vm_sparse_sort(idx, val, 4, &dup), VM_OK);
    const uint32_t wi[] = {0, 2, 9, 4000000000u};
    const float wv[] = {0.0f, 0.2f, 0.9f, 4.0f};
    assert_memory_equal(idx, wi, sizeof wi);
    assert_memory_equal(val, wv, sizeof wv);
    assert_int_equal(dup, 7); /* untouched without a repeat */
    uint32_t d2[] = {5, 3, 5};
    float v2[] = {1, 2, 3};
    assert_int_equal(vm_sparse_sort(d2, v2, 3, &dup), VM_ERR_INVALID);
    assert_int_equal(dup, 5);
    uint32_t d3[] = {1, 1};
    float v3[] = {1, 2};
    assert_int_equal(vm_sparse_sort(d3, v3, 2, &dup), VM_ERR_INVALID);
    assert_int_equal(dup, 1);
    assert_int_equal(vm_sparse_sort(NULL, NULL, 0, &dup), VM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse_sort),
        cmocka_unit_test(test_fill_grow_reuse),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

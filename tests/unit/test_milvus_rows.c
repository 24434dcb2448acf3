/*
 * test_milvus_rows.c - batch rows -> entities/insert JSON: every field type,
 * nulls, autoID primary left out, dynamic-field splicing, float32 values
 * bit-exact after a JSON parse, NaN refused with the field named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "milvus_rows.h"

static vm_schema *schema(bool auto_id)
{
    vm_schema *s = vm_schema_new("t");
    s->enable_dynamic = true;
    const vm_field fs[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true, .auto_id = auto_id},
        {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 4},
        {.name = "h", .type = VM_T_FLOAT16_VECTOR, .dim = 2},
        {.name = "bin", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = "i8v", .type = VM_T_INT8_VECTOR, .dim = 2},
        {.name = "title", .type = VM_T_VARCHAR, .max_length = 20, .nullable = true},
        {.name = "score", .type = VM_T_DOUBLE},
        {.name = "f", .type = VM_T_FLOAT},
        {.name = "ok", .type = VM_T_BOOL},
        {.name = "doc", .type = VM_T_JSON},
        {.name = "tags", .type = VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 4},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], NULL), VM_OK);
    return s;
}

/* The batch has the target's columns plus "$meta". */
static vm_batch *batch(const vm_schema *target)
{
    vm_schema *src = vm_schema_clone(target);
    vm_field meta = {.name = "$meta", .type = VM_T_JSON, .nullable = true};
    assert_int_equal(vm_schema_add(src, &meta, NULL), VM_OK);
    vm_batch *b;
    vm_err e;
    assert_int_equal(vm_batch_new(src, 2, &b, &e), VM_OK);
    vm_schema_free(src);
    const float vals[2][4] = {{0.1f, -0.0f, 1e-45f, 3.4028235e38f}, {1.0f / 3, 2.5f, -7.0f, 0}};
    for (int k = 0; k < 2; k++) {
        size_t r;
        assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
        vm_batch_set_int(b, 0, r, 9007199254740993LL + k, &e); /* > 2^53: must stay exact */
        memcpy(vm_batch_vector(b, 1, r), vals[k], sizeof vals[k]);
        uint16_t *h = vm_batch_vector(b, 2, r);
        h[0] = 0x3c00; /* 1.0 */
        h[1] = 0xc000; /* -2.0 */
        uint8_t *bits = vm_batch_vector(b, 3, r);
        bits[0] = 0xff;
        bits[1] = (uint8_t)k;
        uint32_t idx[2] = {3, 4000000000u};
        float sv[2] = {0.5f, 0.25f};
        vm_batch_set_sparse(b, 4, r, idx, sv, 2, &e);
        int8_t *i8 = vm_batch_vector(b, 5, r);
        i8[0] = -128;
        i8[1] = 127;
        if (k == 0)
            vm_batch_set_str(b, 6, r, "a \"quoted\" title", 16, &e);
        vm_batch_set_double(b, 7, r, 0.1, &e);
        vm_batch_set_double(b, 8, r, 0.1, &e);
        vm_batch_set_bool(b, 9, r, k == 1, &e);
        vm_batch_set_str(b, 10, r, "{\"a\":[1,2]}", 11, &e);
        vm_batch_set_str(b, 11, r, "[1,2,3]", 7, &e);
        if (k == 0)
            {
            const char *m = " {\"author\":\"x\",\"n\":1} ";
            vm_batch_set_str(b, 12, r, m, strlen(m), &e);
        }
        else
            vm_batch_set_str(b, 12, r, "{}", 2, &e);
    }
    return b;
}

static void test_encode(void **st)
{
    (void)st;
    vm_schema *s = schema(false);
    vm_batch *b = batch(s);
    vm_buf out;
    vm_buf_init(&out);
    vm_err e;
    if (vm_milvus_encode_rows(s, b, 0, 2, &out, &e) != VM_OK)
        fail_msg("encode: %s", e.msg);
    json_error_t je;
    json_t *rows = json_loads(vm_buf_cstr(&out), 0, &je);
    if (!rows)
        fail_msg("not JSON (%s): %s", je.text, vm_buf_cstr(&out));
    assert_int_equal(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    assert_true(json_integer_value(json_object_get(r0, "id")) == 9007199254740993LL);
    /* float32 values survive: parse as double, narrow to float, same bits */
    const float want[4] = {0.1f, -0.0f, 1e-45f, 3.4028235e38f};
    json_t *v = json_object_get(r0, "v");
    for (size_t j = 0; j < 4; j++) {
        float got = (float)json_number_value(json_array_get(v, j));
        assert_memory_equal(&got, &want[j], 4);
    }
    assert_string_equal(json_string_value(json_object_get(r0, "h")), "ADwAwA==");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r1, "bin"), 1)), 1);
    json_t *sp = json_object_get(r0, "sp");
    assert_true(json_integer_value(json_array_get(json_object_get(sp, "indices"), 1)) ==
                4000000000LL);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(r0, "i8v"), 0)), -128);
    assert_string_equal(json_string_value(json_object_get(r0, "title")), "a \"quoted\" title");
    assert_true(json_is_null(json_object_get(r1, "title")));
    assert_true(json_real_value(json_object_get(r0, "score")) == 0.1);
    assert_true((float)json_real_value(json_object_get(r0, "f")) == 0.1f);
    assert_true(json_is_true(json_object_get(r1, "ok")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(r0, "doc"), "a")), 2);
    assert_int_equal(json_array_size(json_object_get(r0, "tags")), 3);
    /* dynamic field: members spliced into the row, "{}" adds nothing */
    assert_string_equal(json_string_value(json_object_get(r0, "author")), "x");
    assert_null(json_object_get(r0, "$meta"));
    assert_int_equal(json_object_size(r1), 12);
    json_decref(rows);

    /* a sub-range, as used when a too-large batch is halved */
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_rows(s, b, 1, 2, &out, &e), VM_OK);
    rows = json_loads(vm_buf_cstr(&out), 0, &je);
    assert_int_equal(json_array_size(rows), 1);
    assert_true(json_integer_value(json_object_get(json_array_get(rows, 0), "id")) ==
                9007199254740994LL);
    json_decref(rows);
    vm_buf_release(&out);
    vm_batch_free(b);
    vm_schema_free(s);
}

static void test_autoid_and_errors(void **st)
{
    (void)st;
    vm_schema *s = schema(true);
    vm_batch *b = batch(s);
    vm_buf out;
    vm_buf_init(&out);
    vm_err e;
    assert_int_equal(vm_milvus_encode_rows(s, b, 0, 1, &out, &e), VM_OK);
    json_t *rows = json_loads(vm_buf_cstr(&out), 0, NULL);
    assert_null(json_object_get(json_array_get(rows, 0), "id")); /* autoID: never sent */
    json_decref(rows);

    float *v = vm_batch_vector(b, 1, 1);
    v[2] = NAN;
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_rows(s, b, 0, 2, &out, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "field 'v' row 1: NaN or infinity"));

    /* a string over max_length is refused, never truncated */
    v[2] = 0.5f;
    s->fields[6].max_length = 5;
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_rows(s, b, 0, 1, &out, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "field 'title' row 0: 16 bytes, over its max_length 5"));
    s->fields[6].max_length = 20;

    /* a required target field the rows lack */
    vm_field extra = {.name = "missing", .type = VM_T_INT32};
    vm_schema_add(s, &extra, NULL);
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_rows(s, b, 0, 1, &out, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "field 'missing' is required"));
    vm_buf_release(&out);
    vm_batch_free(b);
    vm_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_autoid_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

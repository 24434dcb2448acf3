/*
 * test_milvus_rows.c - batch rows -> entities/insert JSON: every field type,
 * nulls, autoID primary left out, dynamic-field splicing, float32 values
 * bit-exact after a JSON parse, NaN refused with the field named.
 * Explicit partitions: partition names from values (VarChar and Int64,
 * prefixes, the default partition, refusals), rows grouped by partition in
 * order, and each group encoded with its partition field as a normal field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "milvus_partition.h"
#include "milvus_rows.h"
#include "vm_mem.h"

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

    /* a dynamic key with a field's name is refused (the row would carry it
     * twice); the same word as a value or a nested key is fine */
    const char *clash[] = {"{\"n\":1,\"title\":{\"born\":1901}}", "{\"tit\\u006ce\":2}",
                           "{\"id\":7}"};
    const char *fine[] = {"{\"x\":\"title\",\"o\":{\"title\":1},\"a\":[\"id\"]}",
                          "{\"titles\":1, \"s\":\"\\\",\\\"title\\\":\"}"};
    for (size_t k = 0; k < 3; k++) {
        vm_batch_set_str(b, 12, 0, clash[k], strlen(clash[k]), &e);
        vm_buf_clear(&out);
        if (vm_milvus_encode_rows(s, b, 0, 1, &out, &e) != VM_ERR_INVALID)
            fail_msg("clash %zu was accepted: %s", k, clash[k]);
        assert_non_null(strstr(e.msg, "the dynamic field has a key"));
    }
    for (size_t k = 0; k < 2; k++) {
        vm_batch_set_str(b, 12, 0, fine[k], strlen(fine[k]), &e);
        vm_buf_clear(&out);
        if (vm_milvus_encode_rows(s, b, 0, 1, &out, &e) != VM_OK)
            fail_msg("fine %zu refused: %s (%s)", k, e.msg, fine[k]);
    }
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

static void expect_part(const char *value, const char *want)
{
    char out[VM_MILVUS_PARTITION_CAP];
    int rc = vm_milvus_partition_from_str(value, strlen(value), out);
    if (want == NULL) {
        if (rc != VM_ERR_INVALID)
            fail_msg("'%s' -> '%s', want a refusal", value, out);
        return;
    }
    if (rc != VM_OK || strcmp(out, want) != 0)
        fail_msg("'%s' -> rc %d '%s', want '%s'", value, rc, out, want);
    assert_true(vm_name_valid(out));
}

static void test_partition_names(void **st)
{
    (void)st;
    expect_part("eu_west", "eu_west");
    expect_part("eu-west", "eu_west");   /* '-' and '.' -> '_': these three */
    expect_part("eu.west", "eu_west");   /* values share one partition */
    expect_part("-x", "_x");
    expect_part("Tenant42", "Tenant42");
    expect_part("2024", "p_2024");       /* a digit first: "p_" in front */
    expect_part("7-a.b", "p_7_a_b");
    expect_part("", "_default");
    expect_part("_default", "_default");
    expect_part("caf\xc3\xa9", NULL);    /* non-ASCII */
    expect_part("a b", NULL);
    expect_part("a/b", NULL);
    expect_part("a\nb", NULL);
    /* agrees with vm_name_to_milvus (not strict) wherever that accepts */
    const char *same[] = {"a-b.c", "_", "x9", "A_B-C"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        char *n = NULL, out[VM_MILVUS_PARTITION_CAP];
        vm_err e;
        assert_int_equal(vm_name_to_milvus(same[i], false, &n, &e), VM_OK);
        assert_int_equal(vm_milvus_partition_from_str(same[i], strlen(same[i]), out), VM_OK);
        assert_string_equal(out, n);
        vm_free(n);
    }
    /* an embedded NUL is no name */
    char out[VM_MILVUS_PARTITION_CAP];
    assert_int_equal(vm_milvus_partition_from_str("ab\0c", 4, out), VM_ERR_INVALID);
    /* length: 255 letters fit, 256 do not; a digit first needs 2 more */
    char longv[300];
    memset(longv, 'a', sizeof longv);
    assert_int_equal(vm_milvus_partition_from_str(longv, 255, out), VM_OK);
    assert_int_equal(strlen(out), 255);
    assert_int_equal(vm_milvus_partition_from_str(longv, 256, out), VM_ERR_INVALID);
    longv[0] = '1';
    assert_int_equal(vm_milvus_partition_from_str(longv, 253, out), VM_OK);
    assert_int_equal(vm_milvus_partition_from_str(longv, 254, out), VM_ERR_INVALID);

    vm_milvus_partition_from_int(42, out);
    assert_string_equal(out, "p_42");
    vm_milvus_partition_from_int(0, out);
    assert_string_equal(out, "p_0");
    vm_milvus_partition_from_int(-7, out);
    assert_string_equal(out, "p_m7");
    vm_milvus_partition_from_int(INT64_MIN, out);
    assert_string_equal(out, "p_m9223372036854775808");
    vm_milvus_partition_from_int(INT64_MAX, out);
    assert_string_equal(out, "p_9223372036854775807");
}

static vm_schema *part_schema(vm_dtype region_type)
{
    vm_schema *s = vm_schema_new("t");
    const vm_field fs[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 2},
        {.name = "region", .type = region_type, .max_length = 64, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], NULL), VM_OK);
    s->partition_field = vm_strdup("region");
    return s;
}

static void add_row(vm_batch *b, int64_t id, const char *region)
{
    vm_err e;
    size_t r;
    assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
    vm_batch_set_int(b, 0, r, id, &e);
    float *v = vm_batch_vector(b, 1, r);
    v[0] = (float)id;
    v[1] = 0.5f;
    if (region)
        assert_int_equal(vm_batch_set_str(b, 2, r, region, strlen(region), &e), VM_OK);
    else
        assert_int_equal(vm_batch_set_null(b, 2, r, &e), VM_OK);
}

static void expect_group(const vm_milvus_groups *g, size_t k, const char *name,
                         const size_t *rows, size_t n)
{
    assert_true(k < g->n);
    assert_string_equal(g->g[k].name, name);
    assert_int_equal(g->g[k].nrows, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(g->g[k].rows[i], rows[i]);
}

static void test_partition_groups(void **st)
{
    (void)st;
    vm_schema *s = part_schema(VM_T_VARCHAR);
    vm_batch *b;
    vm_err e;
    assert_int_equal(vm_batch_new(s, 16, &b, &e), VM_OK);
    const char *vals[] = {"us", "eu-west", "eu_west", NULL, "us", "", "2024", "eu.west", "us"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        add_row(b, (int64_t)i, vals[i]);
    vm_milvus_groups g = {0};
    /* the range [1, 9): groups in order of first appearance, rows in order */
    assert_int_equal(vm_milvus_group_rows(s, b, 1, 9, &g, &e), VM_OK);
    assert_int_equal(g.n, 4);
    expect_group(&g, 0, "eu_west", (size_t[]){1, 2, 7}, 3);
    expect_group(&g, 1, "_default", (size_t[]){3, 5}, 2);
    expect_group(&g, 2, "us", (size_t[]){4, 8}, 2);
    expect_group(&g, 3, "p_2024", (size_t[]){6}, 1);

    /* each group encodes to exactly its rows, the partition field kept as
     * a normal field with the row's own value (not the partition name) */
    vm_buf out;
    vm_buf_init(&out);
    assert_int_equal(vm_milvus_encode_row_list(s, b, g.g[0].rows, g.g[0].nrows, &out, &e),
                     VM_OK);
    json_t *rows = json_loads(vm_buf_cstr(&out), 0, NULL);
    assert_non_null(rows);
    assert_int_equal(json_array_size(rows), 3);
    const char *want_region[] = {"eu-west", "eu_west", "eu.west"};
    const int64_t want_id[] = {1, 2, 7};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = json_array_get(rows, i);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), want_id[i]);
        assert_string_equal(json_string_value(json_object_get(r, "region")), want_region[i]);
        assert_int_equal(json_object_size(r), 3);
    }
    json_decref(rows);
    /* the same rows as a range encode byte for byte the same */
    vm_buf one;
    vm_buf_init(&one);
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_row_list(s, b, (size_t[]){6}, 1, &out, &e), VM_OK);
    assert_int_equal(vm_milvus_encode_rows(s, b, 6, 7, &one, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&out), vm_buf_cstr(&one));
    vm_buf_clear(&out);
    assert_int_equal(vm_milvus_encode_row_list(s, b, g.g[1].rows, g.g[1].nrows, &out, &e),
                     VM_OK);
    rows = json_loads(vm_buf_cstr(&out), 0, NULL);
    assert_true(json_is_null(json_object_get(json_array_get(rows, 0), "region")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "region")),
                        "");
    json_decref(rows);
    vm_buf_release(&one);

    /* the buffers are reused: a second grouping starts afresh */
    assert_int_equal(vm_milvus_group_rows(s, b, 0, 1, &g, &e), VM_OK);
    assert_int_equal(g.n, 1);
    expect_group(&g, 0, "us", (size_t[]){0}, 1);

    /* a value that cannot name a partition: field, row and value named */
    add_row(b, 9, "r\xc3\xa9gion \xe2\x9c\x93 with a value that is longer than forty bytes");
    assert_int_equal(vm_milvus_group_rows(s, b, 0, 10, &g, &e), VM_ERR_INVALID);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "partition field 'region' row 9"));
    assert_non_null(strstr(e.msg, "'r\xc3\xa9gion \xe2\x9c\x93 with a value that is longer '..."));
    assert_null(strchr(e.msg, '\n'));

    vm_milvus_groups_release(&g);
    vm_buf_release(&out);
    vm_batch_free(b);
    vm_schema_free(s);

    /* Int64 values */
    s = part_schema(VM_T_INT64);
    assert_int_equal(vm_batch_new(s, 8, &b, &e), VM_OK);
    const int64_t iv[] = {3, -5, 3, 0};
    for (size_t i = 0; i < 4; i++) {
        size_t r;
        assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
        vm_batch_set_int(b, 0, r, (int64_t)i, &e);
        vm_batch_set_int(b, 2, r, iv[i], &e);
    }
    size_t r;
    assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
    vm_batch_set_int(b, 0, r, 4, &e);
    vm_batch_set_null(b, 2, r, &e);
    memset(&g, 0, sizeof g);
    assert_int_equal(vm_milvus_group_rows(s, b, 0, 5, &g, &e), VM_OK);
    assert_int_equal(g.n, 4);
    expect_group(&g, 0, "p_3", (size_t[]){0, 2}, 2);
    expect_group(&g, 1, "p_m5", (size_t[]){1}, 1);
    expect_group(&g, 2, "p_0", (size_t[]){3}, 1);
    expect_group(&g, 3, "_default", (size_t[]){4}, 1);
    vm_milvus_groups_release(&g);
    vm_batch_free(b);

    /* a partition field the rows lack, or of a type names cannot come from */
    vm_free(s->partition_field);
    s->partition_field = vm_strdup("nope");
    assert_int_equal(vm_batch_new(s, 1, &b, &e), VM_OK);
    assert_int_equal(vm_milvus_group_rows(s, b, 0, 0, &g, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "partition field 'nope'"));
    vm_free(s->partition_field);
    s->partition_field = vm_strdup("v");
    assert_int_equal(vm_milvus_group_rows(s, b, 0, 0, &g, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "partition field 'v' is FloatVector"));
    vm_milvus_groups_release(&g);
    vm_batch_free(b);
    vm_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_autoid_and_errors),
        cmocka_unit_test(test_partition_names),
        cmocka_unit_test(test_partition_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schema.c - schema model: type names (case-sensitive), validation
 * against Milvus rules, name mapping, Milvus JSON out and describe JSON in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_mem.h"
#include "vm_schema.h"

static vm_schema *base(void)
{
    vm_schema *s = vm_schema_new("docs");
    const vm_field fs[] = {
        {.name = "id", .type = VM_T_VARCHAR, .primary = true, .max_length = 512},
        {.name = "emb", .type = VM_T_FLOAT_VECTOR, .dim = 768},
        {.name = "tags", .type = VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_capacity = 64,
         .max_length = 256, .nullable = true},
        {.name = "ns", .type = VM_T_VARCHAR, .partition_key = true, .max_length = 64},
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], NULL), VM_OK);
    json_t *zero = json_integer(0);
    vm_field n = {.name = "n", .type = VM_T_INT64, .nullable = true, .default_value = zero};
    assert_int_equal(vm_schema_add(s, &n, NULL), VM_OK);
    json_decref(zero);
    return s;
}

static void test_type_names(void **st)
{
    (void)st;
    for (int t = VM_T_NONE + 1; t < VM_T__COUNT; t++)
        assert_int_equal(vm_dtype_parse(vm_dtype_name((vm_dtype)t)), t);
    assert_int_equal(vm_dtype_parse("FLOAT_VECTOR"), VM_T_NONE);
    assert_int_equal(vm_dtype_parse("floatvector"), VM_T_NONE);
    assert_int_equal(vm_dtype_parse("Varchar"), VM_T_NONE);
    assert_string_equal(vm_dtype_name(VM_T_SPARSE_FLOAT_VECTOR), "SparseFloatVector");
    assert_int_equal(vm_dtype_vector_bytes(VM_T_FLOAT16_VECTOR, 10), 20);
    assert_int_equal(vm_dtype_vector_bytes(VM_T_BINARY_VECTOR, 64), 8);
    assert_true(vm_dtype_is_vector(VM_T_SPARSE_FLOAT_VECTOR));
    assert_false(vm_dtype_is_dense_vector(VM_T_SPARSE_FLOAT_VECTOR));
}

static void test_valid_and_to_milvus(void **st)
{
    (void)st;
    vm_schema *s = base();
    s->enable_dynamic = true;
    vm_err e;
    assert_int_equal(vm_schema_validate(s, &e), VM_OK);
    json_t *j = vm_schema_to_milvus(s);
    char *txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    /* the documented collections/create example, field for field */
    json_t *want = json_loads(
        "{\"autoID\":false,\"enableDynamicField\":true,\"fields\":["
        "{\"fieldName\":\"id\",\"dataType\":\"VarChar\",\"isPrimary\":true,\"elementTypeParams\":{\"max_length\":512}},"
        "{\"fieldName\":\"emb\",\"dataType\":\"FloatVector\",\"elementTypeParams\":{\"dim\":768}},"
        "{\"fieldName\":\"tags\",\"dataType\":\"Array\",\"elementDataType\":\"VarChar\",\"elementTypeParams\":{\"max_capacity\":64,\"max_length\":256},\"nullable\":true},"
        "{\"fieldName\":\"ns\",\"dataType\":\"VarChar\",\"isPartitionKey\":true,\"elementTypeParams\":{\"max_length\":64}},"
        "{\"fieldName\":\"n\",\"dataType\":\"Int64\",\"nullable\":true,\"defaultValue\":0}]}",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(j, want))
        fail_msg("got %s", txt);
    free(txt);
    json_decref(want);
    json_decref(j);
    vm_schema_free(s);
}

static void expect_invalid(vm_schema *s, const char *needle)
{
    vm_err e;
    assert_int_equal(vm_schema_validate(s, &e), VM_ERR_INVALID);
    if (!strstr(e.msg, needle))
        fail_msg("message '%s' lacks '%s'", e.msg, needle);
    vm_schema_free(s);
}

static void test_invalid(void **st)
{
    (void)st;
    vm_schema *s = base();
    s->fields[1].dim = 0;
    expect_invalid(s, "field 'emb': dim 0");

    s = base();
    s->fields[0].max_length = 70000;
    expect_invalid(s, "field 'id': max_length 70000");

    s = base();
    s->fields[0].type = VM_T_DOUBLE;
    expect_invalid(s, "primary key must be Int64 or VarChar");

    s = base();
    s->fields[3].nullable = true;
    expect_invalid(s, "partition key cannot be nullable");

    s = base();
    s->fields[2].element_type = VM_T_JSON;
    expect_invalid(s, "Array element type JSON");

    s = base();
    vm_field dup = {.name = "emb", .type = VM_T_BOOL};
    vm_schema_add(s, &dup, NULL);
    expect_invalid(s, "field 'emb': defined twice");

    s = base();
    vm_field bad = {.name = "my-field", .type = VM_T_BOOL};
    vm_schema_add(s, &bad, NULL);
    expect_invalid(s, "field 'my-field': not a valid Milvus name");

    s = base();
    s->fields[0].primary = false;
    expect_invalid(s, "0 primary keys");

    s = base();
    s->fields[1].type = VM_T_BINARY_VECTOR;
    s->fields[1].dim = 12;
    expect_invalid(s, "not a multiple of 8");

    s = base();
    json_decref(s->fields[4].default_value);
    s->fields[4].default_value = json_string("zero");
    expect_invalid(s, "default value does not fit");

    s = base();
    s->fields[1].type = VM_T_INT32;
    expect_invalid(s, "no vector field");

    s = base();
    s->fields[2].auto_id = true;
    expect_invalid(s, "autoID applies only to the primary key");
}

static void test_names(void **st)
{
    (void)st;
    char *out;
    vm_err e;
    assert_int_equal(vm_name_to_milvus("my-index.v2", false, &out, &e), VM_OK);
    assert_string_equal(out, "my_index_v2");
    vm_free(out);
    assert_int_equal(vm_name_to_milvus("my-index", true, &out, &e), VM_ERR_INVALID);
    assert_null(out);
    assert_non_null(strstr(e.msg, "contains '-'"));
    assert_int_equal(vm_name_to_milvus("9lives", false, &out, &e), VM_ERR_INVALID);
    assert_int_equal(vm_name_to_milvus("caf\xc3\xa9", false, &out, &e), VM_ERR_INVALID);
    assert_true(vm_name_valid("_a1"));
    assert_false(vm_name_valid("1a"));
    assert_false(vm_name_valid(""));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[299] = 0;
    assert_false(vm_name_valid(longname));
}

static void test_from_describe(void **st)
{
    (void)st;
    /* shape of a real 2.6 describe response (params values are strings) */
    const char *txt =
        "{\"collectionName\":\"docs\",\"autoId\":true,\"enableDynamicField\":true,"
        "\"shardsNum\":2,\"fields\":["
        "{\"name\":\"pk\",\"type\":\"Int64\",\"primaryKey\":true,\"autoId\":true,\"params\":[]},"
        "{\"name\":\"v\",\"type\":\"Float16Vector\",\"params\":[{\"key\":\"dim\",\"value\":\"8\"}]},"
        "{\"name\":\"t\",\"type\":\"Array\",\"elementType\":\"Int32\",\"nullable\":true,"
        " \"params\":[{\"key\":\"max_capacity\",\"value\":\"16\"}]},"
        "{\"name\":\"s\",\"type\":\"VarChar\",\"partitionKey\":true,\"defaultValue\":\"x\","
        " \"params\":[{\"key\":\"max_length\",\"value\":\"100\"}]}]}";
    json_t *j = json_loads(txt, 0, NULL);
    vm_schema *s;
    vm_err e;
    assert_int_equal(vm_schema_from_milvus_describe(j, &s, &e), VM_OK);
    assert_int_equal(s->nfields, 4);
    assert_true(s->enable_dynamic);
    assert_true(s->fields[0].auto_id);
    assert_int_equal(s->fields[1].type, VM_T_FLOAT16_VECTOR);
    assert_int_equal(s->fields[1].dim, 8);
    assert_int_equal(s->fields[2].element_type, VM_T_INT32);
    assert_int_equal(s->fields[2].max_capacity, 16);
    assert_true(s->fields[2].nullable);
    assert_int_equal(s->fields[3].max_length, 100);
    assert_string_equal(json_string_value(s->fields[3].default_value), "x");
    assert_int_equal(vm_schema_validate(s, &e), VM_OK);
    /* round trip: to create-JSON keeps every attribute */
    vm_schema *c = vm_schema_clone(s);
    json_t *a = vm_schema_to_milvus(s), *b = vm_schema_to_milvus(c);
    assert_true(json_equal(a, b));
    assert_true(json_is_true(json_object_get(a, "autoID")));
    /* and the create form parses back to the same schema */
    vm_schema *again;
    assert_int_equal(vm_schema_from_milvus(a, "docs", &again, &e), VM_OK);
    json_t *c2 = vm_schema_to_milvus(again);
    assert_true(json_equal(a, c2));
    assert_true(again->fields[0].auto_id);
    json_decref(c2);
    vm_schema_free(again);
    json_decref(a);
    json_decref(b);
    vm_schema_free(c);
    vm_schema_free(s);
    json_decref(j);

    j = json_loads("{\"collectionName\":\"x\",\"fields\":[{\"name\":\"a\",\"type\":\"FLOAT_VECTOR\"}]}", 0, NULL);
    assert_int_equal(vm_schema_from_milvus_describe(j, &s, &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "FLOAT_VECTOR"));
    json_decref(j);
}

static void test_nomem(void **st)
{
    (void)st;
    /* every allocation failure is reported and leaks nothing (ASan) */
    for (long n = 0; n < 40; n++) {
        vm_mem_fail_after(n);
        vm_schema *s = vm_schema_new("docs");
        vm_err e;
        if (s) {
            vm_field f = {.name = "id", .type = VM_T_INT64, .primary = true};
            int rc = vm_schema_add(s, &f, &e);
            assert_true(rc == VM_OK || rc == VM_ERR_NOMEM);
            vm_schema *c = vm_schema_clone(s);
            vm_schema_free(c);
        }
        vm_mem_fail_after(-1);
        vm_schema_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),   cmocka_unit_test(test_valid_and_to_milvus),
        cmocka_unit_test(test_invalid),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_from_describe), cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

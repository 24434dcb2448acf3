/*
 * test_milvus_source.c - the `milvus` source's pure helpers: key filters
 * and cursors, split arithmetic, page keys, base64, sparse {"idx":val},
 * Array wrappers, describe default values, and every wire form of a query
 * value decoded into a batch column (Float16/BFloat16/Binary vectors as
 * base64, which milvus-lite cannot store, included), malformed input too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "milvus_src.h"
#include "vm_mem.h"

static void test_filter(void **state)
{
    (void)state;
    vm_buf b;
    vm_buf_init(&b);
    vm_mvs_pos lo = {.set = true, .i = -5}, hi = {.set = true, .i = 10};
    assert_int_equal(vm_mvs_filter(&b, "id", false, &lo, &hi), 0);
    assert_string_equal(vm_buf_cstr(&b), "id >= -5 and id < 10");
    lo.excl = true;
    assert_int_equal(vm_mvs_filter(&b, "id", false, &lo, NULL), 0);
    assert_string_equal(vm_buf_cstr(&b), "id > -5");
    vm_mvs_pos none = {0};
    assert_int_equal(vm_mvs_filter(&b, "id", false, &none, &none), 0);
    assert_string_equal(vm_buf_cstr(&b), "");
    vm_mvs_pos s = {.set = true, .s = "a\"b\\c"};
    assert_int_equal(vm_mvs_filter(&b, "pk", true, &none, &s), 0);
    assert_string_equal(vm_buf_cstr(&b), "pk < \"a\\\"b\\\\c\"");
    vm_buf_release(&b);
}

static void test_cursor(void **state)
{
    (void)state;
    vm_mvs_pos p = {.set = true, .excl = true, .i = INT64_MIN}, q = {0};
    char *t = vm_mvs_cursor_encode(&p, false);
    assert_string_equal(t, "{\"k\":-9223372036854775808,\"x\":true}");
    vm_err e;
    assert_int_equal(vm_mvs_cursor_decode(t, false, &q, &e), VM_OK);
    assert_true(q.set && q.excl && q.i == INT64_MIN);
    vm_free(t);
    vm_mvs_pos s = {.set = true, .s = "é\"x"};
    t = vm_mvs_cursor_encode(&s, true);
    assert_int_equal(vm_mvs_cursor_decode(t, true, &q, &e), VM_OK);
    assert_true(q.set && !q.excl);
    assert_string_equal(q.s, "é\"x");
    vm_free(t);
    vm_mvs_pos u = {0};
    t = vm_mvs_cursor_encode(&u, true);
    assert_string_equal(t, "{}");
    assert_int_equal(vm_mvs_cursor_decode(t, true, &q, &e), VM_OK);
    assert_false(q.set);
    vm_free(t);
    /* malformed: wrong key type, missing x, junk, extra keys */
    assert_int_equal(vm_mvs_cursor_decode("{\"k\":\"a\",\"x\":false}", false, &q, &e),
                     VM_ERR_INVALID);
    assert_int_equal(vm_mvs_cursor_decode("{\"k\":5}", false, &q, &e), VM_ERR_INVALID);
    assert_int_equal(vm_mvs_cursor_decode("nope", false, &q, &e), VM_ERR_INVALID);
    assert_int_equal(vm_mvs_cursor_decode("{\"k\":5,\"x\":true,\"y\":1}", false, &q, &e),
                     VM_ERR_INVALID);
    vm_mvs_pos_release(&q);
}

static void test_split(void **state)
{
    (void)state;
    assert_int_equal(vm_mvs_ntasks(0, 100), 1);
    assert_int_equal(vm_mvs_ntasks(100, 100), 1);
    assert_int_equal(vm_mvs_ntasks(101, 100), 2);
    int64_t b[8];
    size_t nb;
    vm_mvs_split_int(0, 99, 4, b, &nb);
    assert_int_equal(nb, 3);
    assert_true(b[0] == 25 && b[1] == 50 && b[2] == 75);
    vm_mvs_split_int(INT64_MIN, INT64_MAX, 2, b, &nb);
    assert_int_equal(nb, 1);
    assert_true(b[0] == 0);
    vm_mvs_split_int(5, 7, 8, b, &nb); /* 3 values: at most 2 bounds */
    assert_int_equal(nb, 2);
    assert_true(b[0] == 6 && b[1] == 7);
    vm_mvs_split_int(5, 5, 3, b, &nb);
    assert_int_equal(nb, 0);
    size_t ix[8];
    vm_mvs_split_sample(10, 4, ix, &nb);
    assert_int_equal(nb, 3);
    assert_true(ix[0] == 2 && ix[1] == 5 && ix[2] == 7);
    vm_mvs_split_sample(2, 8, ix, &nb);
    assert_int_equal(nb, 1);
    assert_true(ix[0] == 1);
    vm_mvs_split_sample(1, 8, ix, &nb);
    assert_int_equal(nb, 0);
}

static void test_keys(void **state)
{
    (void)state;
    vm_buf arena;
    vm_buf_init(&arena);
    vm_err e;
    const char *s = "[12,\"-7\",\"b\\u00e9\",true,\"1.5\"]";
    vm_json_span arr = {0, strlen(s), VM_JSON_ARRAY}, v[5];
    vm_json_iter it;
    vm_json_iter_init(&it, s, arr);
    for (int i = 0; i < 5; i++)
        assert_true(vm_json_iter_next(&it, &v[i]));
    vm_mvs_key k[4] = {0};
    assert_int_equal(vm_mvs_key_parse(s, v[0], false, &arena, &k[0], &e), VM_OK);
    assert_int_equal(vm_mvs_key_parse(s, v[1], false, &arena, &k[1], &e), VM_OK);
    assert_true(k[0].i == 12 && k[1].i == -7);
    assert_true(vm_mvs_key_cmp(&k[1], &k[0], false) < 0);
    assert_int_equal(vm_mvs_key_parse(s, v[3], false, &arena, &k[2], &e), VM_ERR_PROTOCOL);
    assert_int_equal(vm_mvs_key_parse(s, v[4], false, &arena, &k[2], &e), VM_ERR_PROTOCOL);
    assert_int_equal(vm_mvs_key_parse(s, v[0], true, &arena, &k[2], &e), VM_ERR_PROTOCOL);
    assert_int_equal(vm_mvs_key_parse(s, v[2], true, &arena, &k[2], &e), VM_OK);
    k[2].s = arena.data + k[2].off;
    assert_int_equal(k[2].n, 3);
    assert_memory_equal(k[2].s, "b\xc3\xa9", 3);
    /* byte order: "b" < "bé" < "c" */
    vm_mvs_key a = {.s = "b", .n = 1}, c = {.s = "c", .n = 1};
    assert_true(vm_mvs_key_cmp(&a, &k[2], true) < 0 && vm_mvs_key_cmp(&k[2], &c, true) < 0);
    vm_mvs_key d[5] = {{.i = 1}, {.i = 1}, {.i = 1}, {.i = 2}, {.i = 3}};
    assert_int_equal(vm_mvs_next_distinct(d, 5, 1, false), 3);
    assert_int_equal(vm_mvs_next_distinct(d, 5, 4, false), 4);
    assert_int_equal(vm_mvs_next_distinct(d, 3, 1, false), 3); /* none */
    vm_buf_release(&arena);
}

static void test_base64(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(vm_mvs_b64_decode("AQID", 4, out, 3), 0);
    assert_true(out[0] == 1 && out[1] == 2 && out[2] == 3);
    assert_int_equal(vm_mvs_b64_decode("AQI=", 4, out, 2), 0);
    assert_true(out[0] == 1 && out[1] == 2);
    assert_int_equal(vm_mvs_b64_decode("AQ==", 4, out, 1), 0);
    assert_int_equal(vm_mvs_b64_decode("AQ", 2, out, 1), 0); /* padding optional */
    assert_int_equal(vm_mvs_b64_decode("+/8=", 4, out, 2), 0);
    assert_true(out[0] == 0xfb && out[1] == 0xff);
    assert_int_equal(vm_mvs_b64_decode("AQID", 4, out, 2), -1);  /* wrong length */
    assert_int_equal(vm_mvs_b64_decode("AQ*D", 4, out, 3), -1);  /* bad char */
    assert_int_equal(vm_mvs_b64_decode("AR==", 4, out, 1), -1);  /* stray bits */
    assert_int_equal(vm_mvs_b64_decode("A", 1, out, 0), -1);
}

static void test_sparse(void **state)
{
    (void)state;
    vm_mvs_scratch scr = {0};
    vm_err e;
    size_t nnz;
    const char *s = "{\"30\":0.5, \"2\":1e-3,\"4294967294\":-2}";
    vm_json_span v = {0, strlen(s), VM_JSON_OBJECT};
    assert_int_equal(vm_mvs_sparse_parse(s, v, &scr, &nnz, &e), VM_OK);
    assert_int_equal(nnz, 3);
    assert_true(scr.idx[0] == 2 && scr.idx[1] == 30 && scr.idx[2] == 4294967294u);
    assert_true(scr.val[0] == strtof("1e-3", NULL) && scr.val[1] == 0.5f && scr.val[2] == -2.0f);
    const char *bad[] = {"{\"a\":1}", "{\"1\":1,\"1\":2}", "{\"4294967295\":1}",
                         "{\"1\":\"x\"}", "{\"1\":1e99}", "{\"-1\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vm_json_span b = {0, strlen(bad[i]), VM_JSON_OBJECT};
        assert_int_equal(vm_mvs_sparse_parse(bad[i], b, &scr, &nnz, &e), VM_ERR_PROTOCOL);
    }
    vm_json_span arr = {0, 2, VM_JSON_ARRAY};
    assert_int_equal(vm_mvs_sparse_parse("[]", arr, &scr, &nnz, &e), VM_ERR_PROTOCOL);
    vm_json_span empty = {0, 2, VM_JSON_OBJECT};
    assert_int_equal(vm_mvs_sparse_parse("{}", empty, &scr, &nnz, &e), VM_OK);
    assert_int_equal(nnz, 0);
    vm_mvs_scratch_release(&scr);
}

static void arr_case(const char *s, const char *want, int rc_want)
{
    vm_json_span v;
    vm_err e;
    assert_int_equal(vm_json_check(s, strlen(s), &v, &e), VM_OK);
    const char *t;
    size_t n;
    int rc = vm_mvs_array_text(s, v, &t, &n, &e);
    assert_int_equal(rc, rc_want);
    if (rc == VM_OK) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(t, want, n);
    }
}

static void test_array(void **state)
{
    (void)state;
    arr_case("[1,2]", "[1,2]", VM_OK);
    arr_case("{\"Data\":{\"LongData\":{\"data\":[1,-2,3]}}}", "[1,-2,3]", VM_OK);
    arr_case("{\"Data\":{\"StringData\":{\"data\":[\"a\",\"b\"]}}}", "[\"a\",\"b\"]", VM_OK);
    arr_case("{\"Data\":{\"FloatData\":{\"data\":[0.1]}}}", "[0.1]", VM_OK);
    arr_case("{\"Data\":{\"StringData\":{}}}", "[]", VM_OK);
    arr_case("{\"Data\":{\"Weird\":{\"data\":[1]}}}", NULL, VM_ERR_PROTOCOL);
    arr_case("{\"Data\":{\"LongData\":{\"data\":5}}}", NULL, VM_ERR_PROTOCOL);
    arr_case("\"[1]\"", NULL, VM_ERR_PROTOCOL);
}

static void test_default(void **state)
{
    (void)state;
    json_t *dv = json_loads("{\"Data\":{\"LongData\":5}}", 0, NULL);
    json_t *u = vm_mvs_default_unwrap(dv);
    assert_true(json_is_integer(u) && json_integer_value(u) == 5);
    json_decref(u);
    json_decref(dv);
    dv = json_loads("{\"Data\":{\"StringData\":\"x\"}}", 0, NULL);
    u = vm_mvs_default_unwrap(dv);
    assert_string_equal(json_string_value(u), "x");
    json_decref(u);
    json_decref(dv);
    dv = json_loads("{\"Data\":{\"BoolData\":true,\"IntData\":1}}", 0, NULL);
    assert_null(vm_mvs_default_unwrap(dv));
    json_decref(dv);
    dv = json_integer(3); /* a plain value stays */
    u = vm_mvs_default_unwrap(dv);
    assert_ptr_equal(u, dv);
    json_decref(u);
    json_decref(dv);
    assert_null(vm_mvs_default_unwrap(NULL));
}

/* ------------------------------------------------------- wire values */

static vm_batch *value_batch(void)
{
    vm_schema *s = vm_schema_new("t");
    vm_field fs[] = {
        {.name = "b", .type = VM_T_BOOL},
        {.name = "i", .type = VM_T_INT64},
        {.name = "f", .type = VM_T_FLOAT},
        {.name = "d", .type = VM_T_DOUBLE, .nullable = true},
        {.name = "vc", .type = VM_T_VARCHAR, .max_length = 20},
        {.name = "js", .type = VM_T_JSON, .nullable = true},
        {.name = "arr", .type = VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 4},
        {.name = "fv", .type = VM_T_FLOAT_VECTOR, .dim = 3},
        {.name = "h", .type = VM_T_FLOAT16_VECTOR, .dim = 2},
        {.name = "bh", .type = VM_T_BFLOAT16_VECTOR, .dim = 2},
        {.name = "bin", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "i8", .type = VM_T_INT8_VECTOR, .dim = 2},
        {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
    };
    vm_err e;
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], &e), VM_OK);
    vm_batch *b = NULL;
    assert_int_equal(vm_batch_new(s, 4, &b, &e), VM_OK);
    vm_schema_free(s);
    return b;
}

/* Set column `name` of row 0 from JSON text; returns the rc. */
static int setv(vm_batch *b, vm_mvs_scratch *scr, const char *name, const char *json,
                vm_err *e)
{
    vm_json_span v = {0};
    if (json && vm_json_check(json, strlen(json), &v, e) != VM_OK)
        fail_msg("bad test JSON %s", json);
    int col = vm_batch_col(b, name);
    assert_true(col >= 0);
    return vm_mvs_set_value(b, (size_t)col, 0, json ? json : "", v, scr, "7", e);
}

static void test_values(void **state)
{
    (void)state;
    vm_batch *b = value_batch();
    vm_mvs_scratch scr = {0};
    vm_err e;
    size_t row;
    assert_int_equal(vm_batch_add_row(b, &row, &e), VM_OK);
    assert_int_equal(setv(b, &scr, "b", "true", &e), VM_OK);
    assert_true(vm_batch_get_bool(b, 0, 0));
    assert_int_equal(setv(b, &scr, "i", "\"-9223372036854775808\"", &e), VM_OK);
    assert_true(vm_batch_get_int(b, 1, 0) == INT64_MIN);
    assert_int_equal(setv(b, &scr, "f", "0.1", &e), VM_OK);
    assert_true((float)vm_batch_get_double(b, 2, 0) == strtof("0.1", NULL));
    assert_int_equal(setv(b, &scr, "d", "null", &e), VM_OK);
    assert_true(vm_batch_is_null(b, 3, 0));
    assert_int_equal(setv(b, &scr, "vc", "\"Z\\u00fcrich \\\"q\\\"\"", &e), VM_OK);
    size_t n;
    const char *t = vm_batch_get_str(b, 4, 0, &n);
    assert_int_equal(n, strlen("Zürich \"q\""));
    assert_memory_equal(t, "Zürich \"q\"", n);
    /* JSON as a string (2.6) and as a value */
    assert_int_equal(setv(b, &scr, "js", "\"{\\\"k\\\":1.10}\"", &e), VM_OK);
    t = vm_batch_get_str(b, 5, 0, &n);
    assert_int_equal(n, 10);
    assert_memory_equal(t, "{\"k\":1.10}", 10);
    assert_int_equal(setv(b, &scr, "js", "{\"k\":[1]}", &e), VM_OK);
    t = vm_batch_get_str(b, 5, 0, &n);
    assert_memory_equal(t, "{\"k\":[1]}", n);
    assert_int_equal(setv(b, &scr, "js", "\"{not json\"", &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "'js'"));
    assert_int_equal(setv(b, &scr, "arr", "{\"Data\":{\"LongData\":{\"data\":[4,5]}}}", &e), VM_OK);
    t = vm_batch_get_str(b, 6, 0, &n);
    assert_memory_equal(t, "[4,5]", n);
    /* FloatVector: strtof of each token, bit-exact */
    assert_int_equal(setv(b, &scr, "fv", "[0.1,-3.4028235e38,1e-45]", &e), VM_OK);
    const float *fv = vm_batch_get_vector(b, 7, 0);
    assert_true(fv[0] == strtof("0.1", NULL) && fv[1] == -3.4028235e38f && fv[2] > 0);
    assert_int_equal(setv(b, &scr, "fv", "[0.1,2]", &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "row 7"));
    assert_non_null(strstr(e.msg, "'fv'"));
    assert_int_equal(setv(b, &scr, "fv", "[0.1,2,3,4]", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "fv", "[0.1,\"x\",3]", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "fv", "[0.1,1e39,3]", &e), VM_ERR_PROTOCOL);
    /* Float16 1.0 = 0x3c00, -2.0 = 0xc000 (little endian): ADzAwA== */
    assert_int_equal(setv(b, &scr, "h", "\"ADwAwA==\"", &e), VM_OK);
    const uint8_t *h = vm_batch_get_vector(b, 8, 0);
    assert_true(h[0] == 0x00 && h[1] == 0x3c && h[2] == 0x00 && h[3] == 0xc0);
    /* BFloat16 1.0 = 0x3f80: gD+APw== is 80 3f 80 3f */
    assert_int_equal(setv(b, &scr, "bh", "\"gD+APw==\"", &e), VM_OK);
    const uint8_t *bh = vm_batch_get_vector(b, 9, 0);
    assert_true(bh[0] == 0x80 && bh[1] == 0x3f && bh[2] == 0x80 && bh[3] == 0x3f);
    /* escaped slash in base64 text */
    assert_int_equal(setv(b, &scr, "bin", "\"\\/wA=\"", &e), VM_OK);
    const uint8_t *bin = vm_batch_get_vector(b, 10, 0);
    assert_true(bin[0] == 0xff && bin[1] == 0x00);
    assert_int_equal(setv(b, &scr, "bin", "\"AQID\"", &e), VM_ERR_PROTOCOL); /* 3 bytes */
    assert_int_equal(setv(b, &scr, "h", "[1,2]", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "i8", "[-128,127]", &e), VM_OK);
    const int8_t *i8 = vm_batch_get_vector(b, 11, 0);
    assert_true(i8[0] == -128 && i8[1] == 127);
    assert_int_equal(setv(b, &scr, "i8", "[1,200]", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "sp", "{\"9\":0.25,\"3\":1}", &e), VM_OK);
    const uint32_t *ix;
    const float *vals;
    assert_int_equal(vm_batch_get_sparse(b, 12, 0, &ix, &vals), 2);
    assert_true(ix[0] == 3 && ix[1] == 9 && vals[1] == 0.25f);
    /* null / missing in a column that is not nullable; wrong kinds */
    assert_int_equal(setv(b, &scr, "vc", "null", &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "not nullable"));
    assert_int_equal(setv(b, &scr, "vc", NULL, &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(setv(b, &scr, "b", "1", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "i", "1.5", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "f", "\"x\"", &e), VM_ERR_PROTOCOL);
    assert_int_equal(setv(b, &scr, "d", "1e999", &e), VM_ERR_PROTOCOL);
    vm_mvs_scratch_release(&scr);
    vm_batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),  cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_split),   cmocka_unit_test(test_keys),
        cmocka_unit_test(test_base64),  cmocka_unit_test(test_sparse),
        cmocka_unit_test(test_array),   cmocka_unit_test(test_default),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

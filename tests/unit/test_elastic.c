/*
 * test_elastic.c - the elasticsearch/opensearch source's pure parts:
 * mapping -> schema for both flavors (every type rule, arrays and
 * dimensions from a sample, merged indexes, refusals), cursors, search
 * answers, error answers, _source values into batch columns (coercions,
 * refusals, float32 exactness, bit and bfloat16 vectors) and the
 * Authorization header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "elastic.h"
#include "vm_mem.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, text);
    return j;
}

static const vm_field *F(const vm_schema *s, const char *name)
{
    const vm_field *f = vm_schema_find(s, name);
    if (!f)
        fail_msg("no field %s", name);
    return f;
}

static void test_es_schema(void **state)
{
    (void)state;
    json_t *m = J("{\"my-idx.1\":{\"mappings\":{\"properties\":{"
                  "\"vec\":{\"type\":\"dense_vector\",\"dims\":4,\"similarity\":\"l2_norm\"},"
                  "\"bv\":{\"type\":\"dense_vector\",\"dims\":3,\"element_type\":\"byte\","
                  "\"similarity\":\"max_inner_product\"},"
                  "\"bits\":{\"type\":\"dense_vector\",\"dims\":16,\"element_type\":\"bit\"},"
                  "\"bf\":{\"type\":\"dense_vector\",\"dims\":2,\"element_type\":\"bfloat16\","
                  "\"index\":false},"
                  "\"title\":{\"type\":\"text\",\"fields\":{\"kw\":{\"type\":\"keyword\"}}},"
                  "\"tags\":{\"type\":\"keyword\"},"
                  "\"n\":{\"type\":\"integer\"},\"l\":{\"type\":\"long\"},"
                  "\"s\":{\"type\":\"short\"},\"b\":{\"type\":\"byte\"},"
                  "\"d\":{\"type\":\"double\"},\"f\":{\"type\":\"float\"},"
                  "\"h\":{\"type\":\"half_float\"},\"sf\":{\"type\":\"scaled_float\","
                  "\"scaling_factor\":100},\"ok\":{\"type\":\"boolean\"},"
                  "\"when\":{\"type\":\"date\"},\"ip\":{\"type\":\"ip\"},"
                  "\"obj\":{\"properties\":{\"a\":{\"type\":\"keyword\"}}},"
                  "\"nest\":{\"type\":\"nested\"},\"geo\":{\"type\":\"geo_point\"},"
                  "\"r\":{\"type\":\"integer_range\"},\"sp\":{\"type\":\"sparse_vector\"},"
                  "\"weird\":{\"type\":\"murmur3\"},\"al\":{\"type\":\"alias\",\"path\":\"n\"}"
                  "}}}}");
    const char *sample_text =
        "{\"hits\":{\"hits\":[{\"_id\":\"a\",\"_source\":{\"tags\":[\"x\",\"y\",\"z\"],"
        "\"n\":1}},{\"_id\":\"b\",\"_source\":{\"tags\":\"solo\"}}]}}";
    vm_es_sample smp = {0};
    vm_err err;
    assert_int_equal(vm_es_sample_add(&smp, sample_text, strlen(sample_text), &err), VM_OK);
    assert_int_equal(smp.docs, 2);
    vm_schema *s = NULL;
    vm_es_enc *enc = NULL;
    assert_int_equal(vm_es_build_schema(&vm_es_elasticsearch, m, &smp, "my-idx.1", &s, &enc, &err),
                     VM_OK);
    const vm_field *id = F(s, "id");
    assert_true(id->primary);
    assert_int_equal(id->type, VM_T_VARCHAR);
    assert_int_equal(id->max_length, 512);
    assert_false(id->nullable);
    const vm_field *v = F(s, "vec");
    assert_int_equal(v->type, VM_T_FLOAT_VECTOR);
    assert_int_equal(v->dim, 4);
    assert_string_equal(v->metric, "L2");
    assert_false(v->nullable);
    v = F(s, "bv");
    assert_int_equal(v->type, VM_T_FLOAT_VECTOR);
    assert_string_equal(v->metric, "IP");
    v = F(s, "bits");
    assert_int_equal(v->type, VM_T_BINARY_VECTOR);
    assert_int_equal(v->dim, 16);
    assert_string_equal(v->metric, "HAMMING");
    v = F(s, "bf");
    assert_int_equal(v->type, VM_T_BFLOAT16_VECTOR);
    assert_null(v->metric); /* not indexed: no similarity */
    assert_int_equal(F(s, "title")->type, VM_T_VARCHAR);
    assert_int_equal(F(s, "title")->max_length, VM_MAX_VARCHAR);
    assert_true(F(s, "title")->nullable);
    const vm_field *t = F(s, "tags");
    assert_int_equal(t->type, VM_T_ARRAY);
    assert_int_equal(t->element_type, VM_T_VARCHAR);
    assert_int_equal(t->max_capacity, 64);
    assert_int_equal(F(s, "n")->type, VM_T_INT32);
    assert_int_equal(F(s, "l")->type, VM_T_INT64);
    assert_int_equal(F(s, "s")->type, VM_T_INT16);
    assert_int_equal(F(s, "b")->type, VM_T_INT8);
    assert_int_equal(F(s, "d")->type, VM_T_DOUBLE);
    assert_int_equal(F(s, "f")->type, VM_T_FLOAT);
    assert_int_equal(F(s, "h")->type, VM_T_FLOAT);
    assert_int_equal(F(s, "sf")->type, VM_T_DOUBLE);
    assert_int_equal(F(s, "ok")->type, VM_T_BOOL);
    assert_int_equal(F(s, "when")->type, VM_T_VARCHAR);
    assert_int_equal(F(s, "ip")->type, VM_T_VARCHAR);
    assert_int_equal(F(s, "obj")->type, VM_T_JSON);
    assert_int_equal(F(s, "nest")->type, VM_T_JSON);
    assert_int_equal(F(s, "geo")->type, VM_T_JSON);
    assert_int_equal(F(s, "r")->type, VM_T_JSON);
    assert_int_equal(F(s, "sp")->type, VM_T_JSON);
    assert_int_equal(F(s, "weird")->type, VM_T_JSON);
    assert_non_null(strstr(F(s, "weird")->description, "murmur3"));
    assert_null(vm_schema_find(s, "al"));
    assert_null(vm_schema_find(s, "title.kw"));
    assert_false(s->enable_dynamic);
    /* encodings follow the fields */
    assert_int_equal(enc[vm_schema_index(s, "bits")], VM_ES_ENC_BITS);
    assert_int_equal(enc[vm_schema_index(s, "vec")], VM_ES_ENC_VECTOR);
    assert_int_equal(enc[vm_schema_index(s, "tags")], VM_ES_ENC_VALUE);
    /* valid for Milvus once the mapping has made the name valid */
    vm_free(s->collection);
    s->collection = vm_strdup("my_idx_1");
    if (vm_schema_validate(s, &err) != VM_OK)
        fail_msg("%s", err.msg);
    vm_schema_free(s);
    vm_free(enc);
    vm_es_sample_release(&smp);
    json_decref(m);
}

static void test_os_schema(void **state)
{
    (void)state;
    vm_err err;
    vm_schema *s = NULL;
    vm_es_enc *enc = NULL;
    json_t *m = J("{\"i\":{\"mappings\":{\"dynamic\":\"false\",\"properties\":{"
                  "\"id\":{\"type\":\"keyword\"},"
                  "\"a\":{\"type\":\"knn_vector\",\"dimension\":3,\"method\":{\"name\":\"hnsw\","
                  "\"engine\":\"lucene\",\"space_type\":\"cosinesimil\"}},"
                  "\"b\":{\"type\":\"knn_vector\",\"dimension\":3,\"space_type\":\"innerproduct\"},"
                  "\"c\":{\"type\":\"knn_vector\",\"dimension\":3},"
                  "\"d\":{\"type\":\"knn_vector\",\"dimension\":3,\"space_type\":\"l1\"},"
                  "\"e\":{\"type\":\"knn_vector\",\"dimension\":64,\"data_type\":\"binary\"},"
                  "\"tc\":{\"type\":\"token_count\"},\"fo\":{\"type\":\"flat_object\"}"
                  "}}}}");
    assert_int_equal(vm_es_build_schema(&vm_es_opensearch, m, NULL, "i", &s, &enc, &err), VM_OK);
    /* a field named id: the key is _id */
    assert_true(F(s, "_id")->primary);
    assert_false(F(s, "id")->primary);
    assert_string_equal(F(s, "a")->metric, "COSINE");
    assert_string_equal(F(s, "b")->metric, "IP");
    assert_string_equal(F(s, "c")->metric, "L2"); /* OpenSearch's default */
    assert_null(F(s, "d")->metric);
    assert_non_null(strstr(F(s, "d")->description, "no Milvus metric"));
    assert_int_equal(F(s, "e")->type, VM_T_BINARY_VECTOR);
    assert_string_equal(F(s, "e")->metric, "HAMMING");
    assert_int_equal(F(s, "tc")->type, VM_T_INT32);
    assert_int_equal(F(s, "fo")->type, VM_T_JSON);
    assert_true(s->enable_dynamic);
    assert_string_equal(s->dynamic_alias, "_source");
    vm_schema_free(s);
    vm_free(enc);
    json_decref(m);
}

static void expect_schema_error(const vm_es_flavor *fl, const char *mapping, const char *sample,
                                const char *msg)
{
    vm_err err;
    vm_schema *s = NULL;
    vm_es_enc *enc = NULL;
    vm_es_sample smp = {0};
    if (sample)
        assert_int_equal(vm_es_sample_add(&smp, sample, strlen(sample), &err), VM_OK);
    json_t *m = J(mapping);
    assert_int_not_equal(vm_es_build_schema(fl, m, sample ? &smp : NULL, "ix", &s, &enc, &err),
                         VM_OK);
    assert_null(s);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' does not contain '%s'", err.msg, msg);
    json_decref(m);
    vm_es_sample_release(&smp);
}

static void test_schema_errors(void **state)
{
    (void)state;
    expect_schema_error(&vm_es_elasticsearch, "{\"ix\":{\"mappings\":{\"properties\":{"
                        "\"n\":{\"type\":\"integer\"}}}}}", NULL, "no dense_vector field");
    expect_schema_error(&vm_es_elasticsearch, "{\"ix\":{\"mappings\":{\"_source\":{\"enabled\":"
                        "false},\"properties\":{}}}}", NULL, "stores no _source");
    expect_schema_error(&vm_es_elasticsearch, "{\"ix\":{\"mappings\":{\"_source\":{\"excludes\":"
                        "[\"v\"]},\"properties\":{\"v\":{\"type\":\"dense_vector\",\"dims\":2}}}}}",
                        NULL, "excludes vector field 'v'");
    expect_schema_error(&vm_es_elasticsearch, "{\"a\":{\"mappings\":{\"properties\":{"
                        "\"v\":{\"type\":\"dense_vector\",\"dims\":2}}}},"
                        "\"b\":{\"mappings\":{\"properties\":{"
                        "\"v\":{\"type\":\"dense_vector\",\"dims\":3}}}}}",
                        NULL, "field 'v' is mapped differently in indexes 'a' and 'b'");
    expect_schema_error(&vm_es_elasticsearch, "{\"ix\":{\"mappings\":{\"properties\":{"
                        "\"v\":{\"type\":\"dense_vector\"}}}}}", NULL, "has no dims");
    expect_schema_error(&vm_es_elasticsearch, "{\"ix\":{\"mappings\":{\"properties\":{"
                        "\"v\":{\"type\":\"dense_vector\",\"dims\":12,\"element_type\":\"bit\"}}}}}",
                        NULL, "not a multiple of 8");
    expect_schema_error(&vm_es_elasticsearch, "{}", NULL, "no index matches");
    /* dims from the sample when the mapping has none */
    vm_err err;
    vm_schema *s = NULL;
    vm_es_enc *enc = NULL;
    vm_es_sample smp = {0};
    const char *sample = "{\"hits\":{\"hits\":[{\"_id\":\"a\",\"_source\":{\"v\":[1,2,3]}}]}}";
    assert_int_equal(vm_es_sample_add(&smp, sample, strlen(sample), &err), VM_OK);
    json_t *m = J("{\"ix\":{\"mappings\":{\"properties\":{\"v\":{\"type\":\"dense_vector\"}}}}}");
    assert_int_equal(vm_es_build_schema(&vm_es_elasticsearch, m, &smp, "ix", &s, &enc, &err),
                     VM_OK);
    assert_int_equal(F(s, "v")->dim, 3);
    assert_string_equal(F(s, "v")->metric, "COSINE");
    vm_schema_free(s);
    vm_free(enc);
    json_decref(m);
    vm_es_sample_release(&smp);
}

static void test_cursor(void **state)
{
    (void)state;
    vm_es_pos p = {.n = 42, .last = "d-\"1\"", .pit = "P/=+", .after = "[12345678901234,\"x\"]"};
    char *t = vm_es_cursor_encode(&p);
    assert_non_null(t);
    vm_es_pos q;
    vm_err err;
    assert_int_equal(vm_es_cursor_decode(t, &q, &err), VM_OK);
    assert_int_equal(q.n, 42);
    assert_string_equal(q.last, "d-\"1\"");
    assert_string_equal(q.pit, "P/=+");
    assert_string_equal(q.after, "[12345678901234,\"x\"]");
    vm_es_pos_release(&q);
    vm_free(t);
    vm_es_pos z = {0};
    t = vm_es_cursor_encode(&z);
    assert_string_equal(t, "{\"n\":0}");
    assert_int_equal(vm_es_cursor_decode(t, &q, &err), VM_OK);
    assert_int_equal(q.n, 0);
    assert_null(q.last);
    vm_es_pos_release(&q);
    vm_free(t);
    const char *bad[] = {"", "[]", "{\"n\":-1}", "{\"n\":3}", "{\"n\":1,\"last\":5}",
                         "{\"n\":0,\"after\":{}}", "{\"n\":0,\"x\":1}", "{\"n\":\"1\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vm_es_cursor_decode(bad[i], &q, &err), VM_ERR_INVALID);
        assert_null(q.last);
    }
}

static void test_page(void **state)
{
    (void)state;
    const char *t = "{\"pit_id\":\"P2\",\"took\":1,\"timed_out\":false,\"_shards\":{\"total\":2,"
                    "\"failed\":0},\"hits\":{\"hits\":[{\"_index\":\"i\",\"_id\":\"a\\\"b\","
                    "\"_source\":{\"x\":1},\"sort\":[5]},{\"_id\":\"c\",\"sort\":[\"c\"]}]}}";
    vm_es_page p = {0};
    vm_err err;
    assert_int_equal(vm_es_parse_page(t, strlen(t), &p, &err), VM_OK);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.hits[0].source.kind, VM_JSON_OBJECT);
    assert_int_equal(p.hits[1].source.kind, VM_JSON_MISSING);
    assert_memory_equal(t + p.hits[0].sort.off, "[5]", 3);
    assert_memory_equal(t + p.pit_id.off, "\"P2\"", 4);
    assert_int_equal(p.scroll_id.kind, VM_JSON_MISSING);
    assert_false(p.timed_out);
    assert_int_equal(p.failed_shards, 0);
    const char *f = "{\"_scroll_id\":\"S\",\"timed_out\":true,\"_shards\":{\"failed\":1},"
                    "\"hits\":{\"hits\":[]}}";
    assert_int_equal(vm_es_parse_page(f, strlen(f), &p, &err), VM_OK);
    assert_int_equal(p.n, 0);
    assert_true(p.timed_out);
    assert_int_equal(p.failed_shards, 1);
    assert_int_equal(p.scroll_id.kind, VM_JSON_STRING);
    const char *bad[] = {"{\"hits\":{}}", "{\"hits\":{\"hits\":[1]}}",
                         "{\"hits\":{\"hits\":[{\"_source\":{}}]}}",
                         "{\"hits\":{\"hits\":[{\"_id\":\"a\",\"sort\":5}]}}",
                         "{\"hits\":{\"hits\":[{\"_id\":\"a\"", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(vm_es_parse_page(bad[i], strlen(bad[i]), &p, &err), VM_OK);
    vm_es_page_release(&p);
}

static void test_error_text(void **state)
{
    (void)state;
    char msg[128];
    bool missing;
    const char *e = "{\"error\":{\"root_cause\":[{\"type\":\"search_context_missing_exception\","
                    "\"reason\":\"No search context found for id [1]\"}],\"type\":\"x\"},"
                    "\"status\":404}";
    vm_es_error_text(e, strlen(e), msg, sizeof msg, &missing);
    assert_string_equal(msg, "search_context_missing_exception: No search context found for id [1]");
    assert_true(missing);
    const char *n = "{\"error\":{\"type\":\"index_not_found_exception\",\"reason\":\"no such "
                    "index [x]\"},\"status\":404}";
    vm_es_error_text(n, strlen(n), msg, sizeof msg, &missing);
    assert_string_equal(msg, "index_not_found_exception: no such index [x]");
    assert_false(missing);
    const char *s = "{\"error\":\"Incorrect HTTP method\",\"status\":405}";
    vm_es_error_text(s, strlen(s), msg, sizeof msg, &missing);
    assert_string_equal(msg, "Incorrect HTTP method");
    vm_es_error_text("<html>", 6, msg, sizeof msg, &missing);
    assert_string_equal(msg, "");
    vm_es_error_text(NULL, 0, msg, sizeof msg, &missing);
    assert_string_equal(msg, "");
}

/* One column of each type; set row 0 from JSON text `v`. */
static int set1(vm_dtype type, vm_dtype elem, int64_t dim, bool nullable, vm_es_enc enc,
                const char *v, vm_batch **out, vm_err *err)
{
    vm_schema *s = vm_schema_new("t");
    vm_field f = {.name = "f", .type = type, .element_type = elem, .dim = dim,
                  .nullable = nullable, .max_length = 100, .max_capacity = 10};
    assert_int_equal(vm_schema_add(s, &f, err), VM_OK);
    assert_int_equal(vm_batch_new(s, 4, out, err), VM_OK);
    vm_schema_free(s);
    size_t row;
    assert_int_equal(vm_batch_add_row(*out, &row, err), VM_OK);
    vm_json_span sp = {0};
    if (v) {
        assert_int_equal(vm_json_check(v, strlen(v), &sp, err), VM_OK);
    }
    vm_es_scratch scr = {0};
    int rc = vm_es_set_value(*out, 0, row, v ? v : "", sp, enc, &scr, "elasticsearch", "doc-1",
                             err);
    vm_buf_release(&scr.text);
    return rc;
}

static void expect_set_error(vm_dtype type, int64_t dim, vm_es_enc enc, const char *v,
                             const char *msg)
{
    vm_batch *b = NULL;
    vm_err err;
    assert_int_not_equal(set1(type, VM_T_NONE, dim, true, enc, v, &b, &err), VM_OK);
    if (!strstr(err.msg, msg) || !strstr(err.msg, "document 'doc-1'"))
        fail_msg("'%s' does not contain '%s' and the document", err.msg, msg);
    vm_batch_free(b);
}

static void test_values(void **state)
{
    (void)state;
    vm_batch *b = NULL;
    vm_err err;
    size_t n;
    /* integers: numbers and numeric strings (coerced by the servers) */
    assert_int_equal(set1(VM_T_INT32, 0, 0, true, VM_ES_ENC_VALUE, "\"-17\"", &b, &err), VM_OK);
    assert_int_equal(vm_batch_get_int(b, 0, 0), -17);
    vm_batch_free(b);
    assert_int_equal(set1(VM_T_INT64, 0, 0, true, VM_ES_ENC_VALUE, "9223372036854775807", &b,
                          &err), VM_OK);
    assert_int_equal(vm_batch_get_int(b, 0, 0), INT64_MAX);
    vm_batch_free(b);
    expect_set_error(VM_T_INT64, 0, VM_ES_ENC_VALUE, "5.5", "has a fraction");
    expect_set_error(VM_T_INT8, 0, VM_ES_ENC_VALUE, "300", "doc-1");
    expect_set_error(VM_T_INT64, 0, VM_ES_ENC_VALUE, "9223372036854775808", "out of range");
    expect_set_error(VM_T_INT32, 0, VM_ES_ENC_VALUE, "\"x\"", "not an integer");
    /* floats: exactly strtof's float32, never through double */
    assert_int_equal(set1(VM_T_FLOAT, 0, 0, true, VM_ES_ENC_VALUE, "0.1", &b, &err), VM_OK);
    assert_true((float)vm_batch_get_double(b, 0, 0) == 0.1f);
    vm_batch_free(b);
    expect_set_error(VM_T_FLOAT, 0, VM_ES_ENC_VALUE, "1e39", "outside the float32 range");
    assert_int_equal(set1(VM_T_DOUBLE, 0, 0, true, VM_ES_ENC_VALUE, "\"2.5\"", &b, &err), VM_OK);
    assert_true(vm_batch_get_double(b, 0, 0) == 2.5);
    vm_batch_free(b);
    /* booleans, incl. the strings the servers accept */
    const char *bools[] = {"true", "\"true\"", "false", "\"false\"", "\"\""};
    const bool want[] = {true, true, false, false, false};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(set1(VM_T_BOOL, 0, 0, true, VM_ES_ENC_VALUE, bools[i], &b, &err), VM_OK);
        assert_int_equal(vm_batch_get_bool(b, 0, 0), want[i]);
        vm_batch_free(b);
    }
    expect_set_error(VM_T_BOOL, 0, VM_ES_ENC_VALUE, "1", "not a boolean");
    /* strings: unescaped; a number in a keyword field is its text */
    assert_int_equal(set1(VM_T_VARCHAR, 0, 0, true, VM_ES_ENC_VALUE, "\"a\\u00e9\\\"\"", &b,
                          &err), VM_OK);
    const char *str = vm_batch_get_str(b, 0, 0, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(str, "a\xc3\xa9\"", 4);
    vm_batch_free(b);
    assert_int_equal(set1(VM_T_VARCHAR, 0, 0, true, VM_ES_ENC_VALUE, "12.50", &b, &err), VM_OK);
    assert_memory_equal(vm_batch_get_str(b, 0, 0, &n), "12.50", 5);
    vm_batch_free(b);
    expect_set_error(VM_T_VARCHAR, 0, VM_ES_ENC_VALUE, "[\"a\"]", "map it to an Array type");
    /* JSON as sent, Array: arrays as sent, one value as a one-element array */
    assert_int_equal(set1(VM_T_JSON, 0, 0, true, VM_ES_ENC_VALUE, "{\"a\": 1.10}", &b, &err),
                     VM_OK);
    const char *js = vm_batch_get_str(b, 0, 0, &n);
    assert_int_equal(n, 11);
    assert_memory_equal(js, "{\"a\": 1.10}", 11);
    vm_batch_free(b);
    assert_int_equal(set1(VM_T_ARRAY, VM_T_VARCHAR, 0, true, VM_ES_ENC_VALUE, "\"solo\"", &b,
                          &err), VM_OK);
    js = vm_batch_get_str(b, 0, 0, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(js, "[\"solo\"]", 8);
    vm_batch_free(b);
    expect_set_error(VM_T_ARRAY, 0, VM_ES_ENC_VALUE, "{}", "an object in an Array field");
    /* missing values: null on nullable columns, an error on vectors */
    assert_int_equal(set1(VM_T_INT32, 0, 0, true, VM_ES_ENC_VALUE, NULL, &b, &err), VM_OK);
    assert_true(vm_batch_is_null(b, 0, 0));
    vm_batch_free(b);
    assert_int_not_equal(set1(VM_T_FLOAT_VECTOR, 0, 2, false, VM_ES_ENC_VECTOR, NULL, &b, &err),
                         VM_OK);
    assert_non_null(strstr(err.msg, "source.query"));
    vm_batch_free(b);
}

static void test_vectors(void **state)
{
    (void)state;
    vm_batch *b = NULL;
    vm_err err;
    assert_int_equal(set1(VM_T_FLOAT_VECTOR, 0, 3, false, VM_ES_ENC_VECTOR,
                          "[0.1, -3.4028235e38, 1e-45]", &b, &err), VM_OK);
    const float *v = vm_batch_get_vector(b, 0, 0);
    assert_true(v[0] == 0.1f && v[1] == -3.4028235e38f && v[2] == 1e-45f);
    vm_batch_free(b);
    /* byte vectors are ints: exact as floats */
    assert_int_equal(set1(VM_T_FLOAT_VECTOR, 0, 2, false, VM_ES_ENC_VECTOR, "[-128, 127]", &b,
                          &err), VM_OK);
    v = vm_batch_get_vector(b, 0, 0);
    assert_true(v[0] == -128.0f && v[1] == 127.0f);
    vm_batch_free(b);
    expect_set_error(VM_T_FLOAT_VECTOR, 3, VM_ES_ENC_VECTOR, "[1, 2]", "2 elements, the dimension is 3");
    expect_set_error(VM_T_FLOAT_VECTOR, 1, VM_ES_ENC_VECTOR, "[1, 2]", "more elements");
    expect_set_error(VM_T_FLOAT_VECTOR, 2, VM_ES_ENC_VECTOR, "[1, \"2\"]", "element 1 is not a number");
    expect_set_error(VM_T_FLOAT_VECTOR, 1, VM_ES_ENC_VECTOR, "[1e39]", "outside the float32 range");
    expect_set_error(VM_T_FLOAT_VECTOR, 1, VM_ES_ENC_VECTOR, "\"AAAA\"", "not an array");
    /* bits: hex strings and arrays of bytes */
    assert_int_equal(set1(VM_T_BINARY_VECTOR, 0, 16, false, VM_ES_ENC_BITS, "\"8f0A\"", &b, &err),
                     VM_OK);
    const uint8_t *u = vm_batch_get_vector(b, 0, 0);
    assert_int_equal(u[0], 0x8f);
    assert_int_equal(u[1], 0x0a);
    vm_batch_free(b);
    assert_int_equal(set1(VM_T_BINARY_VECTOR, 0, 16, false, VM_ES_ENC_BITS, "[-113, 10]", &b, &err),
                     VM_OK);
    u = vm_batch_get_vector(b, 0, 0);
    assert_int_equal(u[0], 0x8f);
    assert_int_equal(u[1], 0x0a);
    vm_batch_free(b);
    expect_set_error(VM_T_BINARY_VECTOR, 16, VM_ES_ENC_BITS, "\"8f\"", "wrong length");
    expect_set_error(VM_T_BINARY_VECTOR, 16, VM_ES_ENC_BITS, "\"8g0a\"", "not a hex string");
    expect_set_error(VM_T_BINARY_VECTOR, 16, VM_ES_ENC_BITS, "[1, 2, 3]", "dims/8 bytes");
    /* bfloat16: nearest, ties to even */
    assert_int_equal(vm_es_bf16(1.0f), 0x3f80);
    assert_int_equal(vm_es_bf16(-2.0f), 0xc000);
    float tie;
    uint32_t bits = 0x3f808000u; /* halfway between 0x3f80 and 0x3f81: to even */
    memcpy(&tie, &bits, 4);
    assert_int_equal(vm_es_bf16(tie), 0x3f80);
    bits = 0x3f818000u; /* halfway, odd below: up */
    memcpy(&tie, &bits, 4);
    assert_int_equal(vm_es_bf16(tie), 0x3f82);
    assert_int_equal(set1(VM_T_BFLOAT16_VECTOR, 0, 2, false, VM_ES_ENC_VECTOR, "[1, -2]", &b,
                          &err), VM_OK);
    const uint16_t *h = vm_batch_get_vector(b, 0, 0);
    assert_int_equal(h[0], 0x3f80);
    assert_int_equal(h[1], 0xc000);
    vm_batch_free(b);
}

static void test_auth(void **state)
{
    (void)state;
    char *h = NULL;
    vm_err err;
    assert_int_equal(vm_es_auth_header(NULL, NULL, NULL, &h, &err), VM_OK);
    assert_null(h);
    assert_int_equal(vm_es_auth_header("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
                                       NULL, NULL, &h, &err), VM_OK);
    assert_string_equal(h, "Authorization: ApiKey "
                           "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
    vm_free(h);
    /* RFC 7617's example */
    assert_int_equal(vm_es_auth_header(NULL, "Aladdin", "open sesame", &h, &err), VM_OK);
    assert_string_equal(h, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    vm_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es_schema),  cmocka_unit_test(test_os_schema),
        cmocka_unit_test(test_schema_errors), cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_page),       cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_values),     cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

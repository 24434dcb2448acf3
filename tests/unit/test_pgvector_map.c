/*
 * test_pgvector_map.c - the pgvector source's pure functions: the
 * PostgreSQL -> Milvus type mapping (native type, typmod, encoding), the
 * sample-based sizes, the split arithmetic (histogram quantiles, uniform,
 * ctid block ranges), ctid cursors, table-name parsing and identifier
 * quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "pgvector.h"
#include "vm_mem.h"

static vm_pgv_map map_ok(const char *typname, bool arr, int32_t typmod, int enc, int half)
{
    vm_pgv_map m;
    vm_err e;
    int rc = vm_pgv_map_type("c", typname, typname, arr, typmod, enc, half, &m, &e);
    if (rc != VM_OK)
        fail_msg("%s: %s", typname, e.msg);
    return m;
}

static void test_scalars(void **st)
{
    (void)st;
    assert_int_equal(map_ok("int2", false, -1, 4, 0).type, VM_T_INT16);
    assert_int_equal(map_ok("int4", false, -1, 4, 0).type, VM_T_INT32);
    assert_int_equal(map_ok("int8", false, -1, 4, 0).type, VM_T_INT64);
    assert_int_equal(map_ok("float4", false, -1, 4, 0).type, VM_T_FLOAT);
    assert_int_equal(map_ok("float8", false, -1, 4, 0).type, VM_T_DOUBLE);
    assert_int_equal(map_ok("bool", false, -1, 4, 0).type, VM_T_BOOL);
    assert_int_equal(map_ok("json", false, -1, 4, 0).type, VM_T_JSON);
    assert_int_equal(map_ok("jsonb", false, -1, 4, 0).type, VM_T_JSON);

    /* varchar(20) in UTF8 (4 bytes/char) and in a single-byte encoding */
    vm_pgv_map m = map_ok("varchar", false, 20 + 4, 4, 0);
    assert_int_equal(m.type, VM_T_VARCHAR);
    assert_int_equal(m.max_length, 80);
    assert_int_equal(m.need, 0);
    assert_int_equal(map_ok("varchar", false, 24, 1, 0).max_length, 20);
    assert_int_equal(map_ok("bpchar", false, 10 + 4, 4, 0).max_length, 40);
    /* capped at 65535 */
    assert_int_equal(map_ok("varchar", false, 20000 + 4, 4, 0).max_length, 65535);
    /* no declared length: from the sample */
    m = map_ok("text", false, -1, 4, 0);
    assert_int_equal(m.need, VM_PGV_NEED_OCTETS);
    assert_int_equal(map_ok("varchar", false, -1, 4, 0).need, VM_PGV_NEED_OCTETS);
    assert_int_equal(map_ok("uuid", false, -1, 4, 0).max_length, 36);
    assert_int_equal(map_ok("name", false, -1, 4, 0).max_length, 63);
    assert_int_equal(map_ok("timestamptz", false, -1, 4, 0).type, VM_T_VARCHAR);
    assert_int_equal(map_ok("date", false, -1, 4, 0).max_length, 64);
    assert_int_equal(map_ok("interval", false, -1, 4, 0).max_length, 128);
    /* numeric(10,2): typmod ((10 << 16) | 2) + 4 -> 10 + 2 + 3 */
    assert_int_equal(map_ok("numeric", false, ((10 << 16) | 2) + 4, 4, 0).max_length, 15);
    assert_int_equal(map_ok("numeric", false, ((3 << 16) | 0) + 4, 4, 0).max_length, 9);
    assert_int_equal(map_ok("numeric", false, -1, 4, 0).need, VM_PGV_NEED_OCTETS);
}

static void test_vectors(void **st)
{
    (void)st;
    vm_pgv_map m = map_ok("vector", false, 1536, 4, 0);
    assert_int_equal(m.type, VM_T_FLOAT_VECTOR);
    assert_int_equal(m.dim, 1536);
    m = map_ok("vector", false, -1, 4, 0);
    assert_int_equal(m.need, VM_PGV_NEED_DIM);
    m = map_ok("halfvec", false, 8, 4, VM_PGV_HALF_FLOAT16);
    assert_int_equal(m.type, VM_T_FLOAT16_VECTOR);
    assert_int_equal(m.dim, 8);
    m = map_ok("halfvec", false, 8, 4, VM_PGV_HALF_FLOAT);
    assert_int_equal(m.type, VM_T_FLOAT_VECTOR);
    assert_int_equal(m.dim, 8);
    m = map_ok("sparsevec", false, 30000, 4, 0);
    assert_int_equal(m.type, VM_T_SPARSE_FLOAT_VECTOR);
    assert_int_equal(m.dim, 0);
    m = map_ok("bit", false, 64, 4, 0);
    assert_int_equal(m.type, VM_T_BINARY_VECTOR);
    assert_int_equal(m.dim, 64);

    vm_err e;
    assert_int_equal(vm_pgv_map_type("flags", "bit", "bit(12)", false, 12, 4, 0, &m, &e),
                     VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "column 'flags'"));
    assert_non_null(strstr(e.msg, "bit(12)"));
    assert_non_null(strstr(e.msg, "multiple of 8"));
    assert_null(strchr(e.msg, '\n'));
}

static void test_arrays_and_unsupported(void **st)
{
    (void)st;
    vm_pgv_map m = map_ok("int4", true, -1, 4, 0);
    assert_int_equal(m.type, VM_T_ARRAY);
    assert_int_equal(m.element_type, VM_T_INT32);
    assert_int_equal(m.need, VM_PGV_NEED_CARD);
    m = map_ok("text", true, -1, 4, 0);
    assert_int_equal(m.element_type, VM_T_VARCHAR);
    assert_int_equal(m.need, VM_PGV_NEED_CARD | VM_PGV_NEED_ELEM);
    m = map_ok("varchar", true, 8 + 4, 4, 0);
    assert_int_equal(m.max_length, 32);
    assert_int_equal(m.need, VM_PGV_NEED_CARD);
    assert_int_equal(map_ok("bool", true, -1, 4, 0).element_type, VM_T_BOOL);
    assert_int_equal(map_ok("float8", true, -1, 4, 0).element_type, VM_T_DOUBLE);

    vm_err e;
    /* no Milvus type: the text form, marked for the mapping to refuse */
    assert_int_equal(vm_pgv_map_type("loc", "point", "point", false, -1, 4, 0, &m, &e), VM_OK);
    assert_true(m.unsupported);
    assert_int_equal(m.type, VM_T_VARCHAR);
    assert_int_equal(m.need, VM_PGV_NEED_OCTETS);
    assert_int_equal(vm_pgv_map_type("b", "bytea", "bytea", false, -1, 4, 0, &m, &e), VM_OK);
    assert_true(m.unsupported);
    assert_int_equal(vm_pgv_map_type("u", "uuid", "uuid[]", true, -1, 4, 0, &m, &e), VM_OK);
    assert_true(m.unsupported);
    assert_int_equal(m.type, VM_T_VARCHAR);
    assert_false(map_ok("int4", false, -1, 4, 0).unsupported);
    /* a user type that shares no name with a supported one */
    assert_int_equal(vm_pgv_map_type("m", "public.mood", "mood", false, -1, 4, 0, &m, &e), VM_OK);
    assert_true(m.unsupported);
}

static void test_sample_sizes(void **st)
{
    (void)st;
    int64_t n;
    vm_err e;
    assert_int_equal(vm_pgv_varchar_from_sample("t", 10, &n, &e), VM_OK);
    assert_int_equal(n, 64);
    assert_int_equal(vm_pgv_varchar_from_sample("t", 100, &n, &e), VM_OK);
    assert_int_equal(n, 200);
    assert_int_equal(vm_pgv_varchar_from_sample("t", 40000, &n, &e), VM_OK);
    assert_int_equal(n, 65535);
    assert_int_equal(vm_pgv_varchar_from_sample("t", 65535, &n, &e), VM_OK);
    assert_int_equal(vm_pgv_varchar_from_sample("t", -1, &n, &e), VM_OK);
    assert_int_equal(n, 65535);
    assert_int_equal(vm_pgv_varchar_from_sample("body", 70000, &n, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "column 'body'"));
    assert_non_null(strstr(e.msg, "70000 bytes"));

    assert_int_equal(vm_pgv_capacity_from_sample("a", 1, &n, &e), VM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(vm_pgv_capacity_from_sample("a", 10, &n, &e), VM_OK);
    assert_int_equal(n, 20);
    assert_int_equal(vm_pgv_capacity_from_sample("a", 3000, &n, &e), VM_OK);
    assert_int_equal(n, 4096);
    assert_int_equal(vm_pgv_capacity_from_sample("a", -1, &n, &e), VM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(vm_pgv_capacity_from_sample("a", 5000, &n, &e), VM_ERR_INVALID);
}

static void check_increasing(const int64_t *b, size_t n, int64_t min, int64_t max)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(b[i] > min);
        assert_true(b[i] <= max);
        if (i)
            assert_true(b[i] > b[i - 1]);
    }
}

static void test_split_uniform(void **st)
{
    (void)st;
    int64_t b[16];
    size_t n;
    vm_pgv_split_uniform(1, 100, 4, b, &n);
    assert_int_equal(n, 3);
    assert_int_equal(b[0], 26);
    assert_int_equal(b[1], 51);
    assert_int_equal(b[2], 76);
    /* fewer keys than tasks */
    vm_pgv_split_uniform(10, 12, 8, b, &n);
    assert_int_equal(n, 2);
    assert_int_equal(b[0], 11);
    assert_int_equal(b[1], 12);
    vm_pgv_split_uniform(5, 5, 8, b, &n);
    assert_int_equal(n, 0);
    vm_pgv_split_uniform(1, 100, 1, b, &n);
    assert_int_equal(n, 0);
    /* the whole int64 range does not overflow */
    vm_pgv_split_uniform(INT64_MIN, INT64_MAX, 4, b, &n);
    assert_int_equal(n, 3);
    check_increasing(b, n, INT64_MIN, INT64_MAX);
    assert_int_equal(b[1], 0);

    assert_int_equal(vm_pgv_ntasks(0, 100), 1);
    assert_int_equal(vm_pgv_ntasks(-1, 100), 1);
    assert_int_equal(vm_pgv_ntasks(100, 100), 1);
    assert_int_equal(vm_pgv_ntasks(101, 100), 2);
}

static void test_split_histogram(void **st)
{
    (void)st;
    /* skewed keys: half of the rows below 100, the rest up to 1e6 */
    const int64_t hist[] = {1, 50, 100, 500000, 1000000};
    int64_t b[8];
    size_t n;
    vm_pgv_split_int(1, 1000000, hist, 5, 4, b, &n);
    assert_int_equal(n, 3);
    assert_int_equal(b[0], 50);
    assert_int_equal(b[1], 100);
    assert_int_equal(b[2], 500000);
    /* interpolated inside buckets */
    vm_pgv_split_int(1, 1000000, hist, 5, 8, b, &n);
    assert_int_equal(n, 7);
    check_increasing(b, n, 1, 1000000);
    assert_int_equal(b[0], 25);
    assert_int_equal(b[1], 50);
    /* stale histogram outside [min, max]: uniform instead */
    const int64_t stale[] = {5000, 6000, 7000};
    vm_pgv_split_int(1, 100, stale, 3, 4, b, &n);
    assert_int_equal(n, 3);
    assert_int_equal(b[0], 26);
    /* no histogram */
    vm_pgv_split_int(1, 100, NULL, 0, 4, b, &n);
    assert_int_equal(n, 3);
    /* duplicates collapse, never an empty range */
    const int64_t dup[] = {1, 2, 2, 2, 100};
    vm_pgv_split_int(1, 100, dup, 5, 4, b, &n);
    check_increasing(b, n, 1, 100);

    int64_t *v;
    size_t nv;
    assert_int_equal(vm_pgv_parse_int_array("{1,-5,9000000000}", &v, &nv), 0);
    assert_int_equal(nv, 3);
    assert_int_equal(v[1], -5);
    assert_int_equal(v[2], 9000000000LL);
    vm_free(v);
    assert_int_equal(vm_pgv_parse_int_array("{}", &v, &nv), 0);
    assert_int_equal(nv, 0);
    vm_free(v);
    assert_int_equal(vm_pgv_parse_int_array("{a,b}", &v, &nv), -1);
    assert_int_equal(vm_pgv_parse_int_array("1,2", &v, &nv), -1);
}

static void test_split_ctid(void **st)
{
    (void)st;
    int64_t bpt, nt;
    vm_pgv_split_ctid(1000, 50, 10000, &bpt, &nt);
    assert_int_equal(bpt, 200);
    assert_int_equal(nt, 5);
    vm_pgv_split_ctid(1001, 50, 10000, &bpt, &nt);
    assert_int_equal(nt, 6);
    vm_pgv_split_ctid(0, 50, 10000, &bpt, &nt);
    assert_int_equal(nt, 1);
    vm_pgv_split_ctid(10, 0, 3, &bpt, &nt); /* no statistics: 1 row per block */
    assert_int_equal(bpt, 3);
    assert_int_equal(nt, 4);
    vm_pgv_split_ctid(10, 500, 3, &bpt, &nt); /* at least one block per task */
    assert_int_equal(bpt, 1);
    assert_int_equal(nt, 10);
}

static void test_tid_and_names(void **st)
{
    (void)st;
    int64_t b, o;
    char buf[48];
    assert_int_equal(vm_pgv_parse_tid("(12,7)", &b, &o), 0);
    assert_int_equal(b, 12);
    assert_int_equal(o, 7);
    assert_int_equal(vm_pgv_parse_tid("(4294967295,65535)", &b, &o), 0);
    assert_int_equal(vm_pgv_parse_tid("(1,65536)", &b, &o), -1);
    assert_int_equal(vm_pgv_parse_tid("(1,2)x", &b, &o), -1);
    assert_int_equal(vm_pgv_parse_tid("(-1,2)", &b, &o), -1);
    assert_int_equal(vm_pgv_parse_tid("12", &b, &o), -1);
    assert_int_equal(vm_pgv_parse_tid("", &b, &o), -1);
    vm_pgv_format_tid(3, 65535, buf, sizeof buf);
    assert_string_equal(buf, "(3,65535)");
    assert_int_equal(vm_pgv_tid_key(3, 7), 3 * 65536 + 7);

    char *q = vm_pgv_quote_ident("we\"ird Name");
    assert_string_equal(q, "\"we\"\"ird Name\"");
    vm_free(q);
    q = vm_pgv_quote_ident("x");
    assert_string_equal(q, "\"x\"");
    vm_free(q);

    char *s, *n;
    vm_err e;
    assert_int_equal(vm_pgv_parse_table("Items", &s, &n, &e), VM_OK);
    assert_null(s);
    assert_string_equal(n, "items");
    vm_free(n);
    assert_int_equal(vm_pgv_parse_table("Public.\"My.Table\"\"x\"", &s, &n, &e), VM_OK);
    assert_string_equal(s, "public");
    assert_string_equal(n, "My.Table\"x");
    vm_free(s);
    vm_free(n);
    assert_int_equal(vm_pgv_parse_table("a.b.c", &s, &n, &e), VM_ERR_INVALID);
    assert_int_equal(vm_pgv_parse_table("\"open", &s, &n, &e), VM_ERR_INVALID);
    assert_int_equal(vm_pgv_parse_table("", &s, &n, &e), VM_ERR_INVALID);
    assert_int_equal(vm_pgv_parse_table("a.", &s, &n, &e), VM_ERR_INVALID);
}

static void test_config(void **st)
{
    (void)st;
    vm_source *src = NULL;
    vm_err e;
    json_t *conf = json_pack("{s:s, s:s, s:s}", "dsn", "host=127.0.0.1 port=1 dbname=x",
                             "table", "public.Items", "bogus", "1");
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "bogus"));
    json_decref(conf);
    conf = json_pack("{s:s}", "dsn", "host=127.0.0.1 port=1 dbname=x");
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "table"));
    json_decref(conf);
    conf = json_pack("{s:s, s:s, s:s}", "dsn", "host=127.0.0.1 port=1 dbname=x", "table",
                     "public.Items", "halfvec_as", "double");
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_ERR_INVALID);
    json_decref(conf);
    conf = json_pack("{s:s, s:s}", "dsn", "host=127.0.0.1 port=1 dbname=x", "table",
                     "public.Items");
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_OK);
    json_decref(conf);
    vm_source_free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),         cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_arrays_and_unsupported), cmocka_unit_test(test_sample_sizes),
        cmocka_unit_test(test_split_uniform),   cmocka_unit_test(test_split_histogram),
        cmocka_unit_test(test_split_ctid),      cmocka_unit_test(test_tid_and_names),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

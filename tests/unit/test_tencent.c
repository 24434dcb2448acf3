/*
 * test_tencent.c - the Tencent Cloud VectorDB source's pure functions: the
 * {code,msg} envelope (errors on HTTP 200, non-JSON replies, long and
 * control-character messages) and its error classes, uint64 cursors, the
 * keyset split arithmetic and page filters, and decoding /document/query
 * pages and documents into batch columns, malformed input included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tencent.h"
#include "vm_mem.h"
#include "vm_transform.h"

/* ------------------------------------------------- envelope and errors */

static int env(long status, const char *body, vm_err *e)
{
    vm_err_clear(e);
    return vm_tc_envelope(status, body, strlen(body), "document/query", e);
}

static void test_classify(void **st)
{
    (void)st;
    bool r;
    assert_int_equal(vm_tc_classify(200, 0, &r), VM_OK);
    assert_int_equal(vm_tc_classify(200, 15302, &r), VM_ERR_NOT_FOUND);
    assert_false(r);
    assert_int_equal(vm_tc_classify(200, 15202, &r), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_tc_classify(200, 14100, &r), VM_ERR_REMOTE);
    assert_false(r);
    assert_int_equal(vm_tc_classify(200, 13100, &r), VM_ERR_UNAVAILABLE);
    assert_true(r);
    assert_int_equal(vm_tc_classify(429, 429, &r), VM_ERR_RATE_LIMITED);
    assert_true(r);
    assert_int_equal(vm_tc_classify(503, 0, &r), VM_ERR_UNAVAILABLE);
    assert_true(r);
    assert_int_equal(vm_tc_classify(401, 11000, &r), VM_ERR_AUTH);
    assert_false(r);
    /* the status wins over the code */
    assert_int_equal(vm_tc_classify(502, 15302, &r), VM_ERR_UNAVAILABLE);
    assert_true(r);
}

static void test_envelope(void **st)
{
    (void)st;
    vm_err e;
    assert_int_equal(env(200, "{\"code\":0,\"msg\":\"operation success\",\"documents\":[]}", &e),
                     VM_OK);
    assert_int_equal(env(200, " {\"msg\":\"\",\"code\":0} ", &e), VM_OK);

    /* errors ride on HTTP 200 */
    assert_int_equal(env(200, "{\"code\":15302,\"msg\":\"collection not exist: c1\"}", &e),
                     VM_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "collection not exist: c1"));
    assert_non_null(strstr(e.msg, "code 15302"));
    assert_non_null(strstr(e.msg, "document/query"));
    assert_false(e.retriable);
    assert_int_equal(env(200, "{\"code\":14100,\"message\":\"wrong key\"}", &e), VM_ERR_REMOTE);
    assert_non_null(strstr(e.msg, "no message"));
    assert_int_equal(env(200, "{\"code\":13101,\"msg\":\"Index is building\"}", &e),
                     VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);

    /* malformed 2xx replies */
    assert_int_equal(env(200, "not json", &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "not json"));
    assert_int_equal(env(200, "[0]", &e), VM_ERR_PROTOCOL);
    assert_int_equal(env(200, "{\"msg\":\"ok\"}", &e), VM_ERR_PROTOCOL);
    assert_non_null(strstr(e.msg, "code"));
    assert_int_equal(env(200, "{\"code\":\"0\"}", &e), VM_ERR_PROTOCOL);
    assert_int_equal(env(200, "{\"code\":0.5}", &e), VM_ERR_PROTOCOL);
    assert_int_equal(env(200, "{\"code\":0", &e), VM_ERR_PROTOCOL);
    assert_int_equal(env(200, "", &e), VM_ERR_PROTOCOL);
    assert_int_equal(env(200, "{\"code\":0} trailing", &e), VM_ERR_PROTOCOL);

    /* non-2xx: with and without an envelope */
    assert_int_equal(env(503, "Service Unavailable", &e), VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "HTTP 503"));
    assert_non_null(strstr(e.msg, "Service Unavailable"));
    assert_int_equal(env(429, "{\"code\":429,\"msg\":\"slow down\"}", &e), VM_ERR_RATE_LIMITED);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "slow down"));
    assert_int_equal(env(401, "{\"code\":11000,\"msg\":\"authentication failed\"}", &e),
                     VM_ERR_AUTH);
    assert_false(e.retriable);
    assert_int_equal(env(502, "{\"code\":0}", &e), VM_ERR_UNAVAILABLE);
    assert_int_equal(env(404, "<html>nope</html>", &e), VM_ERR_NOT_FOUND);

    /* a long message is cut, control characters are not copied */
    char big[2100];
    strcpy(big, "{\"code\":14100,\"msg\":\"");
    size_t n = strlen(big);
    memset(big + n, 'x', 1000);
    strcpy(big + n + 1000, "\\n\\ttail\"}");
    assert_int_equal(env(200, big, &e), VM_ERR_REMOTE);
    assert_non_null(strstr(e.msg, "xxx..."));
    assert_null(strstr(e.msg, "tail"));
    assert_true(strlen(e.msg) < 300);
    assert_int_equal(env(200, "{\"code\":1,\"msg\":\"a\\nb\\u0001c Z\\u00fcrich\"}", &e),
                     VM_ERR_REMOTE);
    assert_non_null(strstr(e.msg, "a?b?c Z\xc3\xbcrich"));
    assert_null(strchr(e.msg, '\n'));
}

/* ------------------------------------------------ cursors and splitting */

static void test_u64(void **st)
{
    (void)st;
    uint64_t v = 7;
    assert_int_equal(vm_tc_parse_u64("0", 1, &v), 0);
    assert_true(v == 0);
    assert_int_equal(vm_tc_parse_u64("18446744073709551615", 20, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(vm_tc_parse_u64("9223372036854775808", 19, &v), 0);
    assert_true(v == (uint64_t)INT64_MAX + 1);
    const char *bad[] = {"", "18446744073709551616", "99999999999999999999", "01", "-1", "+1",
                         "1e3", "1.0", "12a", " 1", "184467440737095516150"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vm_tc_parse_u64(bad[i], strlen(bad[i]), &v), -1);
    /* the length bounds the digits read */
    assert_int_equal(vm_tc_parse_u64("12,", 2, &v), 0);
    assert_true(v == 12);
    char buf[24];
    vm_tc_format_u64(UINT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "18446744073709551615");
    vm_tc_format_u64(0, buf, sizeof buf);
    assert_string_equal(buf, "0");
}

static void test_ntasks(void **st)
{
    (void)st;
    assert_int_equal(vm_tc_ntasks(0, 100), 1);
    assert_int_equal(vm_tc_ntasks(1, 100), 1);
    assert_int_equal(vm_tc_ntasks(100, 100), 1);
    assert_int_equal(vm_tc_ntasks(101, 100), 2);
    assert_int_equal(vm_tc_ntasks(3000, 700), 5);
    assert_int_equal(vm_tc_ntasks(5, 0), 5);
}

static void check_bounds(uint64_t min, uint64_t max, int64_t ntasks)
{
    int64_t *b = malloc((size_t)(ntasks > 1 ? ntasks - 1 : 1) * sizeof *b);
    size_t n = 99;
    vm_tc_split_keyset(min, max, ntasks, b, &n);
    uint64_t top = max > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : max;
    assert_true(ntasks <= 1 ? n == 0 : n <= (size_t)(ntasks - 1));
    for (size_t i = 0; i < n; i++) {
        assert_true(b[i] >= 0);
        assert_true((uint64_t)b[i] > min && (uint64_t)b[i] <= top);
        if (i)
            assert_true(b[i] > b[i - 1]);
    }
    /* as many tasks as wanted whenever the range has enough values */
    if (ntasks > 1 && min <= top && top - min + 1 >= (uint64_t)ntasks)
        assert_int_equal(n, (size_t)(ntasks - 1));
    free(b);
}

static void test_split_keyset(void **st)
{
    (void)st;
    int64_t b[8];
    size_t n;
    vm_tc_split_keyset(0, 999, 4, b, &n);
    assert_int_equal(n, 3);
    assert_true(b[0] == 250 && b[1] == 500 && b[2] == 750);
    vm_tc_split_keyset(0, 1499, 5, b, &n);
    assert_int_equal(n, 4);
    assert_true(b[0] == 300 && b[3] == 1200);
    vm_tc_split_keyset(5, 5, 4, b, &n); /* one value: one task */
    assert_int_equal(n, 0);
    vm_tc_split_keyset(0, 2, 8, b, &n); /* fewer values than tasks */
    assert_int_equal(n, 2);
    assert_true(b[0] == 1 && b[1] == 2);
    vm_tc_split_keyset(0, 100, 1, b, &n);
    assert_int_equal(n, 0);
    /* above 2^63-1: boundaries stop there, the open last task takes the rest */
    vm_tc_split_keyset(0, UINT64_MAX, 4, b, &n);
    assert_int_equal(n, 3);
    assert_true(b[2] > b[1] && b[2] <= INT64_MAX);
    vm_tc_split_keyset((uint64_t)INT64_MAX + 5, UINT64_MAX, 4, b, &n);
    assert_int_equal(n, 0);
    vm_tc_split_keyset((uint64_t)INT64_MAX - 1, UINT64_MAX, 4, b, &n);
    assert_int_equal(n, 1);
    assert_true(b[0] == INT64_MAX);
    /* invariants over many shapes */
    unsigned seed = 42;
    for (int i = 0; i < 2000; i++) {
        uint64_t a = ((uint64_t)rand_r(&seed) << 33) ^ ((uint64_t)rand_r(&seed) << 2);
        uint64_t w = (i % 3 == 0) ? (uint64_t)(rand_r(&seed) % 50) : ((uint64_t)rand_r(&seed) << (i % 40));
        uint64_t mx = a + w < a ? UINT64_MAX : a + w;
        check_bounds(a % 7 == 0 ? 0 : a, mx, 1 + rand_r(&seed) % 40);
    }
}

static void test_keyset_filter(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    vm_err e;
    vm_task t;
    vm_task_init(&t);
    assert_int_equal(vm_tc_keyset_filter("seq", &t, false, 0, &b, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&b), "seq >= 0");
    t.has_lo = t.has_hi = true;
    t.lo = 100;
    t.hi = 200;
    assert_int_equal(vm_tc_keyset_filter("seq", &t, false, 0, &b, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&b), "seq >= 100 and seq < 200");
    assert_int_equal(vm_tc_keyset_filter("seq", &t, true, 150, &b, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&b), "seq > 150 and seq < 200");
    t.has_hi = false;
    assert_int_equal(vm_tc_keyset_filter("s_2", &t, true, UINT64_MAX, &b, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&b), "s_2 > 18446744073709551615");
    const char *bad[] = {"a b", "x-y", "1a", "", "seq\"", "s;drop"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vm_tc_keyset_filter(bad[i], &t, false, 0, &b, &e), VM_ERR_UNSUPPORTED);
        assert_non_null(strstr(e.msg, "split: offset"));
    }
    assert_int_equal(vm_tc_keyset_filter(NULL, &t, false, 0, &b, &e), VM_ERR_UNSUPPORTED);
    vm_buf_release(&b);
}

/* ------------------------------------------------------------ scanning */

static void test_scan_page(void **st)
{
    (void)st;
    vm_tc_scratch s;
    memset(&s, 0, sizeof s);
    vm_err e;
    size_t nd = 9;
    const char *ok = "{\"code\":0,\"msg\":\"\",\"count\":3,\"documents\":[{\"id\":\"a\",\"seq\":5},"
                     "{\"seq\":18446744073709551615,\"id\":\"b\"},{\"id\":\"c\",\"seq\":0}]}";
    assert_int_equal(vm_tc_scan_page(ok, strlen(ok), "seq", &s, &nd, &e), VM_OK);
    assert_int_equal(nd, 3);
    assert_true(s.keys[0] == 5 && s.keys[1] == UINT64_MAX && s.keys[2] == 0);
    assert_memory_equal(ok + s.docs[0].off, "{\"id\":\"a\",\"seq\":5}", s.docs[0].len);
    assert_int_equal(vm_tc_scan_page(ok, strlen(ok), NULL, &s, &nd, &e), VM_OK);
    assert_int_equal(nd, 3);

    const char *empty[] = {"{\"code\":0,\"msg\":\"\"}", "{\"code\":0,\"documents\":null}",
                           "{\"code\":0,\"documents\":[]}"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(vm_tc_scan_page(empty[i], strlen(empty[i]), "seq", &s, &nd, &e), VM_OK);
        assert_int_equal(nd, 0);
    }
    struct {
        const char *body;
        int rc;
        const char *needle;
    } bad[] = {
        {"{\"code\":0,\"documents\":{}}", VM_ERR_PROTOCOL, "not an array"},
        {"{\"code\":0,\"documents\":[1]}", VM_ERR_PROTOCOL, "not an object"},
        {"{\"code\":0,\"documents\":[{\"id\":\"a\",\"seq\":1},[]]}", VM_ERR_PROTOCOL,
         "document 1"},
        {"{\"code\":0,\"documents\":[{\"id\":\"b\"}]}", VM_ERR_PROTOCOL, "document \"b\""},
        {"{\"code\":0,\"documents\":[{\"id\":\"b\",\"seq\":-1}]}", VM_ERR_PROTOCOL, "uint64"},
        {"{\"code\":0,\"documents\":[{\"id\":\"b\",\"seq\":1.5}]}", VM_ERR_PROTOCOL, "uint64"},
        {"{\"code\":0,\"documents\":[{\"id\":\"b\",\"seq\":\"1\"}]}", VM_ERR_PROTOCOL, "string"},
        {"{\"code\":0,\"documents\":[{\"seq\":18446744073709551616}]}", VM_ERR_PROTOCOL,
         "(no id)"},
        {"{\"code\":0,\"documents\":[{\"id\":\"a\",\"seq\":1}", VM_ERR_INVALID, "not JSON"},
        {"{\"code\":0,\"documents\":[{\"id\":\"a\" \"seq\":1}]}", VM_ERR_INVALID, "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vm_err_clear(&e);
        int rc = vm_tc_scan_page(bad[i].body, strlen(bad[i].body), "seq", &s, &nd, &e);
        if (rc != bad[i].rc || !strstr(e.msg, bad[i].needle))
            fail_msg("case %zu: rc %d, '%s'", i, rc, e.msg);
    }
    vm_tc_scratch_free(&s);
}

/* ------------------------------------------------------------ decoding */

typedef struct fixture {
    vm_schema *sch;
    vm_batch *b;
    vm_tc_layout L;
    vm_tc_tcol typed[2];
    const char *not_meta[5];
    vm_tc_scratch s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    vm_err e;
    f->sch = vm_schema_new("c");
    vm_field fs[] = {
        {.name = "id", .type = VM_T_VARCHAR, .max_length = 16, .primary = true},
        {.name = "vector", .type = VM_T_FLOAT_VECTOR, .dim = 3},
        {.name = "sparse_vector", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = "seq", .type = VM_T_INT64, .nullable = true},
        {.name = "tag", .type = VM_T_VARCHAR, .max_length = 8, .nullable = true},
        {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        assert_int_equal(vm_schema_add(f->sch, &fs[i], &e), VM_OK);
    assert_int_equal(vm_batch_new(f->sch, 4, &f->b, &e), VM_OK);
    f->typed[0] = (vm_tc_tcol){"seq", VM_TC_F_UINT64, 3};
    f->typed[1] = (vm_tc_tcol){"tag", VM_TC_F_STRING, 4};
    f->not_meta[0] = "id";
    f->not_meta[1] = "vector";
    f->not_meta[2] = "sparse_vector";
    f->not_meta[3] = "seq";
    f->not_meta[4] = "tag";
    f->L = (vm_tc_layout){.col_id = 0, .col_vec = 1, .vec_name = "vector", .dim = 3,
                          .col_sparse = 2, .sparse_name = "sparse_vector", .col_meta = 5,
                          .typed = f->typed, .ntyped = 2, .not_meta = f->not_meta,
                          .nnot_meta = 5};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vm_batch_free(f->b);
    vm_schema_free(f->sch);
    vm_tc_scratch_free(&f->s);
    free(f);
    return 0;
}

static int dec(fixture *f, const char *doc, vm_err *e)
{
    vm_err_clear(e);
    /* as in a reply, the document is followed by more JSON text */
    size_t n = strlen(doc);
    char *buf = malloc(n + 2);
    memcpy(buf, doc, n);
    buf[n] = ']';
    buf[n + 1] = '\0';
    int rc = vm_tc_decode_doc(&f->L, buf, n, f->b, &f->s, e);
    free(buf);
    return rc;
}

static uint32_t bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void test_decode_doc(void **state)
{
    fixture *f = *state;
    vm_err e;
    int rc = dec(f,
                 "{\"id\":\"a\\u00e9\",\"vector\":[0.1,-0.0,3.4028235e+38],"
                 "\"sparse_vector\":[[7,0.5],[2,1.5],[4294967294,-2]],\"seq\":5,\"tag\":\"x\","
                 "\"m\":{\"n\":1.10, \"big\":18446744073709551615},\"s\":\"\\\"q\\\"\"}",
                 &e);
    if (rc != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(f->b->nrows, 1);
    size_t len;
    const char *s = vm_batch_get_str(f->b, 0, 0, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\xc3\xa9", 3);
    const float *v = vm_batch_get_vector(f->b, 1, 0);
    assert_int_equal(bits(v[0]), bits(0.1f));
    assert_int_equal(bits(v[1]), 0x80000000u); /* the sign of -0.0 */
    assert_int_equal(bits(v[2]), 0x7f7fffffu);
    const uint32_t *idx;
    const float *val;
    assert_int_equal(vm_batch_get_sparse(f->b, 2, 0, &idx, &val), 3);
    assert_true(idx[0] == 2 && idx[1] == 7 && idx[2] == 4294967294u);
    assert_true(val[0] == 1.5f && val[1] == 0.5f && val[2] == -2.0f);
    assert_true(vm_batch_get_int(f->b, 3, 0) == 5);
    s = vm_batch_get_str(f->b, 4, 0, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(s, "x", 1);
    /* the metadata: the document's own bytes without the column members */
    s = vm_batch_get_str(f->b, 5, 0, &len);
    const char *want = "{\"m\":{\"n\":1.10, \"big\":18446744073709551615},\"s\":\"\\\"q\\\"\"}";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);

    /* nothing else: "$meta" null; missing typed fields and sparse: null / empty */
    rc = dec(f, "{\"vector\":[1,2,3],\"id\":\"b\",\"seq\":null}", &e);
    if (rc != VM_OK)
        fail_msg("%s", e.msg);
    assert_true(vm_batch_is_null(f->b, 5, 1));
    assert_true(vm_batch_is_null(f->b, 3, 1));
    assert_true(vm_batch_is_null(f->b, 4, 1));
    assert_int_equal(vm_batch_get_sparse(f->b, 2, 1, &idx, &val), 0);
    v = vm_batch_get_vector(f->b, 1, 1);
    assert_true(v[0] == 1.0f && v[2] == 3.0f);
}

static void test_decode_strtof(void **state)
{
    fixture *f = *state;
    vm_err e;
    /* just above the midpoint between 1 and the next float: strtof rounds
     * up; through a double (which lands on the midpoint) it would round to
     * even, i.e. down to 1 */
    int rc = dec(f,
                 "{\"id\":\"r\",\"vector\":[1.00000005960464477550,"
                 "0.100000001490116119384765625,1e-45]}",
                 &e);
    if (rc != VM_OK)
        fail_msg("%s", e.msg);
    const float *v = vm_batch_get_vector(f->b, 1, 0);
    assert_int_equal(bits(v[0]), 0x3f800001u);
    assert_int_equal(bits(v[1]), bits(0.1f));
    assert_int_equal(bits(v[2]), 1u); /* the smallest denormal */
}

static void test_decode_errors(void **state)
{
    fixture *f = *state;
    vm_err e;
    struct {
        const char *doc;
        int rc;
        const char *needle;
    } bad[] = {
        {"{\"vector\":[1,2,3]}", VM_ERR_PROTOCOL, "no id"},
        {"{\"id\":5,\"vector\":[1,2,3]}", VM_ERR_PROTOCOL, "non-string id"},
        {"{\"id\":\"\",\"vector\":[1,2,3]}", VM_ERR_PROTOCOL, "empty id"},
        {"{\"id\":\"0123456789abcdefg\",\"vector\":[1,2,3]}", VM_ERR_INVALID, "max_length 16"},
        {"{\"id\":\"a\"}", VM_ERR_INVALID, "'vector' is missing"},
        {"{\"id\":\"a\",\"vector\":null}", VM_ERR_INVALID, "'vector' is null"},
        {"{\"id\":\"a\",\"vector\":[1,2]}", VM_ERR_INVALID, "has 2 elements"},
        {"{\"id\":\"a\",\"vector\":[1,2,3,4]}", VM_ERR_INVALID, "has 4 elements"},
        {"{\"id\":\"a\",\"vector\":[1,\"2\",3]}", VM_ERR_INVALID, "element 1 is \"2\""},
        {"{\"id\":\"a\",\"vector\":[1,2,1e39]}", VM_ERR_INVALID, "not a finite float32"},
        {"{\"id\":\"a\",\"vector\":[1,null,3]}", VM_ERR_INVALID, "element 1"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":{}}", VM_ERR_INVALID,
         "'sparse_vector' is not [[termId"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[1,0.5,2]]}", VM_ERR_INVALID,
         "sparse_vector"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[-1,0.5]]}", VM_ERR_INVALID,
         "outside [0, 2^32-2]"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[4294967295,0.5]]}", VM_ERR_INVALID,
         "outside [0, 2^32-2]"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[1.5,0.5]]}", VM_ERR_INVALID,
         "sparse_vector"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[3,0.5],[3,1]]}", VM_ERR_INVALID,
         "repeats a termId"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"sparse_vector\":[[3,1e40]]}", VM_ERR_INVALID,
         "score"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"seq\":18446744073709551615}", VM_ERR_INVALID,
         "above 2^63-1"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"seq\":\"5\"}", VM_ERR_INVALID, "not an integer"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"seq\":1.5}", VM_ERR_INVALID, "'seq'"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"tag\":3}", VM_ERR_INVALID, "not a string"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],\"tag\":\"123456789\"}", VM_ERR_INVALID,
         "max_length 8"},
        {"{\"id\":\"a\",\"vector\":[1,2,3],}", VM_ERR_INVALID, "a document of the page"},
        {"{\"id\":\"a\",\"vector\":[1,2,3]", VM_ERR_INVALID, "a document of the page"},
        {"{\"id\":\"\\ud800\",\"vector\":[1,2,3]}", VM_ERR_INVALID, "surrogate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t before = f->b->nrows;
        int rc = dec(f, bad[i].doc, &e);
        if (rc != bad[i].rc || !strstr(e.msg, bad[i].needle))
            fail_msg("case %zu (%s): rc %d, '%s'", i, bad[i].doc, rc, e.msg);
        assert_int_equal(f->b->nrows, before); /* no half row left behind */
        /* messages name the document once it has an id */
        if (i >= 3 && i < 23)
            assert_non_null(strstr(e.msg, "document 'a'") ? strstr(e.msg, "document 'a'")
                                                         : strstr(e.msg, "0123456789abcdef"));
    }
}

static void test_decode_without_meta(void **state)
{
    fixture *f = *state;
    vm_err e;
    /* the mapping dropped the metadata and the typed fields: only id and
     * vectors are read, whatever else the document holds */
    f->L.col_meta = -1;
    f->L.ntyped = 0;
    f->L.col_sparse = -1;
    int rc = dec(f, "{\"id\":\"z\",\"vector\":[1,2,3],\"seq\":\"not checked\",\"sparse_vector\":7}",
                 &e);
    if (rc != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(f->b->nrows, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_ntasks),
        cmocka_unit_test(test_split_keyset),
        cmocka_unit_test(test_keyset_filter),
        cmocka_unit_test(test_scan_page),
        cmocka_unit_test_setup_teardown(test_decode_doc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_strtof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_without_meta, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

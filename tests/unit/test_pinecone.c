/*
 * test_pinecone.c - the Pinecone source's pure functions: the split
 * arithmetic (character groups, task counts), how a task's id range is
 * enumerated, cursor encoding, list and fetch response parsing (malformed
 * input included), dense and sparse values, the metadata number scan, the
 * sizes and metric names, and the config checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone.h"
#include "vm_log.h"
#include "vm_mem.h"

/* ------------------------------------------------------------ split */

static void test_ntasks(void **st)
{
    (void)st;
    assert_int_equal(vm_pc_ntasks(0, 100), 1);
    assert_int_equal(vm_pc_ntasks(100, 100), 1);
    assert_int_equal(vm_pc_ntasks(101, 100), 2);
    assert_int_equal(vm_pc_ntasks(1000000, 100000), 10);
    assert_int_equal(vm_pc_ntasks(1000001, 100000), 11);
    assert_int_equal(vm_pc_ntasks(5, 0), 5);
    assert_int_equal(vm_pc_ntasks(INT64_MAX, 1), INT64_MAX);
}

static void check_tiling(const unsigned char *present, size_t np, int64_t n)
{
    unsigned char lo[128];
    size_t members[127];
    size_t k = vm_pc_split_chars(present, np, n, lo, members);
    assert_int_equal(k, (size_t)n < np ? (size_t)n : np);
    assert_int_equal(lo[0], 0x01);
    assert_int_equal(lo[k], 0x80);
    size_t total = 0, p = 0;
    for (size_t g = 0; g < k; g++) {
        assert_true(lo[g] < lo[g + 1]);
        assert_true(members[g] >= np / k && members[g] <= np / k + 1);
        /* the group's members are exactly the present characters in its range */
        size_t in = 0;
        while (p < np && present[p] < lo[g + 1]) {
            assert_true(present[p] >= lo[g]);
            in++;
            p++;
        }
        assert_int_equal(in, members[g]);
        total += members[g];
    }
    assert_int_equal(total, np);
}

static void test_split_chars(void **st)
{
    (void)st;
    const unsigned char hex[] = "0123456789abcdef";
    unsigned char lo[20];
    size_t members[20];
    /* 16 hex digits into 3 tasks: 5, 5, 6 */
    assert_int_equal(vm_pc_split_chars(hex, 16, 3, lo, members), 3);
    assert_int_equal(lo[0], 0x01);
    assert_int_equal(lo[1], '5');
    assert_int_equal(lo[2], 'a');
    assert_int_equal(lo[3], 0x80);
    assert_int_equal(members[0], 5);
    assert_int_equal(members[1], 5);
    assert_int_equal(members[2], 6);
    /* more tasks wanted than characters: one character each */
    assert_int_equal(vm_pc_split_chars(hex, 16, 100, lo, members), 16);
    assert_int_equal(lo[1], '1');
    assert_int_equal(lo[15], 'f');
    assert_int_equal(lo[16], 0x80);
    /* nothing to split */
    assert_int_equal(vm_pc_split_chars(hex, 0, 3, lo, members), 0);
    assert_int_equal(vm_pc_split_chars(hex, 16, 0, lo, members), 0);
    assert_int_equal(vm_pc_split_chars(hex, 1, 5, lo, members), 1);
    /* tiling holds for every split of every alphabet, control characters
     * and DEL included */
    unsigned char all[127];
    for (int i = 0; i < 127; i++)
        all[i] = (unsigned char)(0x01 + i);
    for (int64_t n = 1; n <= 130; n++) {
        check_tiling(hex, 16, n);
        check_tiling(all, 127, n);
        check_tiling((const unsigned char *)"\x01#-AZ_az~\x7f", 10, n);
    }
}

static void test_successor(void **st)
{
    (void)st;
    char *s = vm_pc_prefix_successor("doc-");
    assert_string_equal(s, "doc.");
    vm_free(s);
    s = vm_pc_prefix_successor("a\x7f\x7f");
    assert_string_equal(s, "b");
    vm_free(s);
    s = vm_pc_prefix_successor("z");
    assert_string_equal(s, "{");
    vm_free(s);
    assert_null(vm_pc_prefix_successor(""));
    assert_null(vm_pc_prefix_successor("\x7f"));
}

static void enum_of(vm_range_kind kind, const char *lo, const char *hi, vm_pc_enum *e)
{
    vm_task t;
    vm_task_init(&t);
    t.kind = kind;
    t.key_lo = (char *)lo;
    t.key_hi = (char *)hi;
    vm_err err;
    if (vm_pc_enum_init(&t, e, &err) != VM_OK)
        fail_msg("%s", err.msg);
}

static void test_enum(void **st)
{
    (void)st;
    vm_pc_enum e;
    enum_of(VM_RANGE_ALL, NULL, NULL, &e);
    assert_int_equal(e.mode, VM_PC_ENUM_SCAN);
    assert_string_equal(e.prefix, "");
    assert_null(e.lo);
    assert_true(vm_pc_enum_contains(&e, "anything"));
    vm_pc_enum_release(&e);

    /* a group of the split: the prefixes doc-5 .. doc-9, one after the other */
    enum_of(VM_RANGE_KEY, "doc-5", "doc-:", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "doc-");
    assert_int_equal(e.c, '5');
    assert_int_equal(e.c_end, ':');
    assert_true(vm_pc_enum_contains(&e, "doc-5"));
    assert_true(vm_pc_enum_contains(&e, "doc-9zz"));
    assert_false(vm_pc_enum_contains(&e, "doc-4zz"));
    assert_false(vm_pc_enum_contains(&e, "doc-:"));
    assert_false(vm_pc_enum_contains(&e, "doc-"));
    assert_false(vm_pc_enum_contains(&e, "dod-5"));
    vm_pc_enum_release(&e);

    /* the last group runs to the end of q: [q+a, successor(q)) */
    enum_of(VM_RANGE_KEY, "doc-a", "doc.", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "doc-");
    assert_int_equal(e.c_end, 0x80);
    assert_true(vm_pc_enum_contains(&e, "doc-~~"));
    assert_true(vm_pc_enum_contains(&e, "doc-\x7f"));
    assert_false(vm_pc_enum_contains(&e, "doc."));
    vm_pc_enum_release(&e);
    /* ... and for an empty q: [a, +inf) */
    enum_of(VM_RANGE_KEY, "a", NULL, &e);
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "");
    assert_int_equal(e.c_begin, 'a');
    assert_int_equal(e.c_end, 0x80);
    assert_true(vm_pc_enum_contains(&e, "\x7f"));
    assert_false(vm_pc_enum_contains(&e, "Z"));
    vm_pc_enum_release(&e);
    /* the first group starts at 0x01 */
    enum_of(VM_RANGE_KEY, "\x01", "5", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_true(vm_pc_enum_contains(&e, "\x01x"));
    assert_true(vm_pc_enum_contains(&e, " "));
    vm_pc_enum_release(&e);

    /* the low task of a descended split: q itself and its prefixes */
    enum_of(VM_RANGE_KEY, NULL, "doc-\x01", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_SCAN);
    assert_string_equal(e.prefix, "");
    assert_string_equal(e.hi, "doc-\x01");
    assert_true(vm_pc_enum_contains(&e, "doc-"));
    assert_true(vm_pc_enum_contains(&e, "do"));
    assert_false(vm_pc_enum_contains(&e, "doc-0"));
    vm_pc_enum_release(&e);

    /* a range that is not of the split's shapes: a scan */
    enum_of(VM_RANGE_KEY, "doc-\x7f", NULL, &e);
    assert_int_equal(e.mode, VM_PC_ENUM_SCAN);
    assert_string_equal(e.prefix, "");
    assert_true(vm_pc_enum_contains(&e, "dod"));
    assert_false(vm_pc_enum_contains(&e, "doc-~"));
    vm_pc_enum_release(&e);

    /* other ranges scan their bounds' common prefix */
    enum_of(VM_RANGE_KEY, "ab", "abc", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_SCAN);
    assert_string_equal(e.prefix, "ab");
    vm_pc_enum_release(&e);
    enum_of(VM_RANGE_KEY, "abc", "abd", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "ab");
    vm_pc_enum_release(&e);
    enum_of(VM_RANGE_KEY, "a\x01", "a\x05", &e); /* control characters are ids' too */
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "a");
    vm_pc_enum_release(&e);
    enum_of(VM_RANGE_KEY, "ab", "b", &e); /* = the ids under "a" from "ab" on */
    assert_int_equal(e.mode, VM_PC_ENUM_CHARS);
    assert_string_equal(e.prefix, "a");
    assert_int_equal(e.c_end, 0x80);
    vm_pc_enum_release(&e);
    enum_of(VM_RANGE_KEY, "ab", "c", &e);
    assert_int_equal(e.mode, VM_PC_ENUM_SCAN);
    assert_string_equal(e.prefix, "");
    assert_true(vm_pc_enum_contains(&e, "bzz"));
    vm_pc_enum_release(&e);

    vm_task t;
    vm_task_init(&t);
    t.kind = VM_RANGE_INT;
    vm_err err;
    assert_int_equal(vm_pc_enum_init(&t, &e, &err), VM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "int"));
}

/* ----------------------------------------------------------- cursor */

static void test_cursor(void **st)
{
    (void)st;
    char *c = vm_pc_cursor_encode("doc-\"7\"\xc3\xa9", "tok/+=");
    assert_non_null(c);
    char *a, *t;
    vm_err err;
    assert_int_equal(vm_pc_cursor_decode(c, &a, &t, &err), VM_OK);
    assert_string_equal(a, "doc-\"7\"\xc3\xa9");
    assert_string_equal(t, "tok/+=");
    vm_free(a);
    vm_free(t);
    vm_free(c);
    /* first page of a prefix: no token */
    c = vm_pc_cursor_encode("x", NULL);
    assert_string_equal(c, "{\"after\":\"x\"}");
    vm_free(c);
    c = vm_pc_cursor_encode(NULL, "ignored");
    assert_string_equal(c, "{}");
    assert_int_equal(vm_pc_cursor_decode(c, &a, &t, &err), VM_OK);
    assert_null(a);
    assert_null(t);
    vm_free(c);
    assert_int_equal(vm_pc_cursor_decode(NULL, &a, &t, &err), VM_OK);
    assert_int_equal(vm_pc_cursor_decode("", &a, &t, &err), VM_OK);
    assert_null(a);
    const char *bad[] = {"{", "[]", "{\"after\":1}", "{\"after\":\"\"}", "{\"token\":\"t\"}",
                         "{\"after\":\"a\",\"x\":\"y\"}", "{\"after\":\"a\",\"after\":\"b\"}",
                         "{\"after\":\"a\\u0000b\"}", "12"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (vm_pc_cursor_decode(bad[i], &a, &t, &err) != VM_ERR_INVALID)
            fail_msg("cursor %s accepted", bad[i]);
        assert_null(a);
        assert_null(t);
    }
}

/* ------------------------------------------------------------- list */

static void test_parse_list(void **st)
{
    (void)st;
    char **ids, *next;
    size_t n;
    bool nj;
    vm_err err;
    const char *page = "{\"vectors\":[{\"id\":\"a\"},{\"id\":\"b\\u00e9\"}],\"pagination\":{\"next\":"
                       "\"eyJza2lwX3Bhc3QiOiJiIn0=\"},\"namespace\":\"ns\",\"usage\":{\"readUnits\":1}}";
    assert_int_equal(vm_pc_parse_list(page, strlen(page), &ids, &n, &next, &nj, &err), VM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "a");
    assert_string_equal(ids[1], "b\xc3\xa9");
    assert_string_equal(next, "eyJza2lwX3Bhc3QiOiJiIn0=");
    vm_pc_free_ids(ids, n);
    vm_free(next);
    /* last page; an empty one that leaves "vectors" out (proto3 JSON) */
    const char *last = "{\"vectors\":[{\"id\":\"z\"}],\"pagination\":null}";
    assert_int_equal(vm_pc_parse_list(last, strlen(last), &ids, &n, &next, &nj, &err), VM_OK);
    assert_int_equal(n, 1);
    assert_null(next);
    vm_pc_free_ids(ids, n);
    const char *empty = "{\"namespace\":\"x\",\"usage\":{}}";
    assert_int_equal(vm_pc_parse_list(empty, strlen(empty), &ids, &n, &next, &nj, &err), VM_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    /* what a pod-based index answers: not JSON */
    const char *text = "list is not available\n";
    assert_int_equal(vm_pc_parse_list(text, strlen(text), &ids, &n, &next, &nj, &err),
                     VM_ERR_PROTOCOL);
    assert_true(nj);
    const char *bad[] = {"[]", "{}", "{\"vectors\":{}}", "{\"vectors\":[{\"id\":1}]}",
                         "{\"vectors\":[{}]}", "{\"vectors\":[{\"id\":\"\"}]}",
                         "{\"vectors\":[{\"id\":\"a\\u0000b\"}]}",
                         "{\"vectors\":[],\"pagination\":{\"next\":5}}",
                         "{\"vectors\":[],\"pagination\":[]}", "{\"vectors\":[{\"id\":\"a\"}]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (vm_pc_parse_list(bad[i], strlen(bad[i]), &ids, &n, &next, &nj, &err) !=
            VM_ERR_PROTOCOL)
            fail_msg("list answer %s accepted", bad[i]);
        assert_null(ids);
        assert_null(next);
        assert_int_equal(nj, i == sizeof bad / sizeof *bad - 1);
    }
}

/* ------------------------------------------------------------ fetch */

static void test_parse_fetch(void **st)
{
    (void)st;
    const char *body =
        "{\"vectors\": {\"b\": {\"id\":\"b\",\"values\":[0.1,-0.0,1e-7, 3.4028235e38],"
        "\"metadata\":{\"n\":12345678901234567890,\"s\":\"x}\"}},"
        " \"a\\u0062c\": {\"values\":[1,2,3,4],\"sparseValues\":{\"indices\":[9,2],\"values\":[0.5,0.25]}},"
        " \"zzz\": {\"values\":[]}, \"a\": {\"values\":[1.5,2,3,4],\"metadata\":null}},"
        "\"namespace\":\"\",\"usage\":{\"readUnits\":1}}";
    const char *ids[] = {"a", "abc", "b", "missing"};
    vm_pc_rec r[4];
    vm_err err;
    assert_int_equal(vm_pc_parse_fetch(body, strlen(body), ids, 4, r, &err), VM_OK);
    assert_true(r[0].found && r[1].found && r[2].found);
    assert_false(r[3].found);
    assert_int_equal(r[0].meta.kind, VM_JSON_NULL);
    assert_int_equal(r[1].sparse.kind, VM_JSON_OBJECT);
    assert_int_equal(r[1].meta.kind, VM_JSON_MISSING);
    /* metadata bytes exactly as sent: the big integer is not re-formatted */
    assert_int_equal(r[2].meta.kind, VM_JSON_OBJECT);
    assert_memory_equal(body + r[2].meta.off, "{\"n\":12345678901234567890,\"s\":\"x}\"}",
                        r[2].meta.len);

    float v[4];
    assert_int_equal(vm_pc_parse_dense(body, r[2].values, 4, v, "b", &err), VM_OK);
    uint32_t bits[4];
    memcpy(bits, v, sizeof bits);
    assert_int_equal(bits[0], 0x3dcccccdu); /* 0.1f */
    assert_int_equal(bits[1], 0x80000000u); /* -0.0 keeps its sign */
    assert_int_equal(bits[2], 0x33d6bf95u); /* 1e-7f */
    assert_int_equal(bits[3], 0x7f7fffffu); /* FLT_MAX */
    /* wrong dimension */
    assert_int_equal(vm_pc_parse_dense(body, r[2].values, 5, v, "b", &err), VM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "'b'"));
    assert_int_equal(vm_pc_parse_dense(body, r[2].values, 3, v, "b", &err), VM_ERR_INVALID);
    /* missing values */
    vm_json_span none = {0, 0, VM_JSON_MISSING};
    assert_int_equal(vm_pc_parse_dense(body, none, 4, v, "q", &err), VM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "missing"));

    vm_pc_sparse sp = {0};
    assert_int_equal(vm_pc_parse_sparse(body, r[1].sparse, &sp, "abc", &err), VM_OK);
    assert_int_equal(sp.nnz, 2);
    assert_int_equal(sp.idx[0], 2); /* sorted by index */
    assert_true(sp.val[0] == 0.25f);
    assert_int_equal(sp.idx[1], 9);
    assert_int_equal(vm_pc_parse_sparse(body, r[0].sparse, &sp, "a", &err), VM_OK);
    assert_int_equal(sp.nnz, 0);
    vm_pc_sparse_release(&sp);

    /* malformed answers */
    const char *bad[] = {"{\"vectors\":[]}", "{\"vectors\":{\"a\":[1]}}", "{\"vectors\":{\"a\":{}}",
                         "not json", "{}", "[1]", "{\"vectors\":{\"a\":{\"values\":[1,]}}}",
                         "{\"vectors\":{\"a\":{\"values\":\"\xff\"}}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (vm_pc_parse_fetch(bad[i], strlen(bad[i]), ids, 4, r, &err) != VM_ERR_PROTOCOL)
            fail_msg("fetch answer %s accepted", bad[i]);
    /* an answer without the map (proto3 JSON leaves empty maps out) */
    const char *empty = "{\"namespace\":\"x\"}";
    assert_int_equal(vm_pc_parse_fetch(empty, strlen(empty), ids, 4, r, &err), VM_OK);
    assert_false(r[0].found);
}

static int dense_of(const char *text, int64_t dim, float *out, vm_err *err)
{
    const char *keys[] = {"v"};
    vm_json_path p = {.keys = keys, .depth = 1};
    vm_json_span s;
    if (vm_json_find(text, strlen(text), &p, 1, &s, err) != VM_OK)
        return -100;
    return vm_pc_parse_dense(text, s, dim, out, "r1", err);
}

static void test_parse_dense_malformed(void **st)
{
    (void)st;
    float v[3];
    vm_err err;
    assert_int_equal(dense_of("{\"v\":[1,2,3]}", 3, v, &err), VM_OK);
    assert_int_equal(dense_of("{\"v\":[1e-50,2,3]}", 3, v, &err), VM_OK); /* underflow: 0 */
    assert_true(v[0] == 0.0f);
    /* a long but valid number token */
    assert_int_equal(dense_of("{\"v\":[1.000000000000000000000000000000000000000000000000000000000000000000001,2,3]}",
                              3, v, &err),
                     VM_OK);
    assert_true(v[0] == 1.0f);
    const char *bad[] = {"{\"v\":[1,null,3]}", "{\"v\":[1,\"2\",3]}", "{\"v\":[1e39,2,3]}",
                         "{\"v\":[1,2,[3]]}", "{\"v\":{\"a\":1}}", "{\"v\":[1,2,3,4]}",
                         "{\"v\":[]}", "{\"v\":[-1e40,2,3]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = dense_of(bad[i], 3, v, &err);
        if (rc != VM_ERR_INVALID)
            fail_msg("values %s: rc %d", bad[i], rc);
        assert_non_null(strstr(err.msg, "'r1'"));
    }
}

static int sparse_of(const char *text, vm_pc_sparse *sp, vm_err *err)
{
    const char *keys[] = {"s"};
    vm_json_path p = {.keys = keys, .depth = 1};
    vm_json_span s;
    if (vm_json_find(text, strlen(text), &p, 1, &s, err) != VM_OK)
        return -100;
    return vm_pc_parse_sparse(text, s, sp, "r2", err);
}

static void test_parse_sparse_malformed(void **st)
{
    (void)st;
    vm_pc_sparse sp = {0};
    vm_err err;
    assert_int_equal(sparse_of("{\"s\":{\"values\":[1,2],\"indices\":[4294967295,0]}}", &sp, &err),
                     VM_OK);
    assert_int_equal(sp.idx[0], 0);
    assert_int_equal(sp.idx[1], 4294967295u);
    assert_true(sp.val[1] == 1.0f);
    assert_int_equal(sparse_of("{\"s\":null}", &sp, &err), VM_OK);
    assert_int_equal(sp.nnz, 0);
    const char *bad[] = {"{\"s\":{\"indices\":[1,1],\"values\":[1,2]}}",
                         "{\"s\":{\"indices\":[1],\"values\":[1,2]}}",
                         "{\"s\":{\"indices\":[-1],\"values\":[1]}}",
                         "{\"s\":{\"indices\":[4294967296],\"values\":[1]}}",
                         "{\"s\":{\"indices\":[1.5],\"values\":[1]}}",
                         "{\"s\":{\"indices\":[1],\"values\":[\"x\"]}}",
                         "{\"s\":{\"indices\":[1]}}", "{\"s\":[1,2]}",
                         "{\"s\":{\"indices\":[1],\"values\":[1e39]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = sparse_of(bad[i], &sp, &err);
        if (rc != VM_ERR_INVALID)
            fail_msg("sparse %s: rc %d", bad[i], rc);
        assert_non_null(strstr(err.msg, "'r2'"));
    }
    vm_pc_sparse_release(&sp);
}

/* --------------------------------------------------------- metadata */

static char found_keys[256];

static void on_big(void *ctx, const char *key, const char *num)
{
    (void)ctx;
    (void)num;
    strcat(found_keys, key);
    strcat(found_keys, ",");
}

static void test_meta_big_numbers(void **st)
{
    (void)st;
    const char *m = "{\"a\":9007199254740992,\"b\":9007199254740991,\"c\":[\"x\"],"
                    "\"d\":[1,-1e300],\"e\":1.5,\"f\":-9.1e15,\"g\":\"9007199254740993\","
                    "\"h\":123456789012345678901234567890}";
    found_keys[0] = '\0';
    assert_int_equal(vm_pc_meta_big_numbers(m, strlen(m), on_big, NULL), 4);
    assert_string_equal(found_keys, "a,d,f,h,");
    assert_int_equal(vm_pc_meta_big_numbers("[1]", 3, on_big, NULL), -1);
    assert_int_equal(vm_pc_meta_big_numbers("{", 1, on_big, NULL), -1);
    assert_int_equal(vm_pc_meta_big_numbers("{}", 2, on_big, NULL), 0);
    /* found by fuzz_pinecone: a number beyond the double range made the
     * whole (valid) object "not JSON" for jansson, hiding every big number */
    const char *o = "{\"big\":9007199254740e992,\"n\":[1,-1e400],\"s\":1,\"k\\u00e9\":1e16}";
    found_keys[0] = '\0';
    assert_int_equal(vm_pc_meta_big_numbers(o, strlen(o), on_big, NULL), 3);
    assert_string_equal(found_keys, "big,n,k\xc3\xa9,");
}

/* ------------------------------------------------------------- misc */

static void test_misc(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    vm_pc_url_encode(&b, "doc#1 a/b+c=d&e~_.-\xc3\xa9", 21);
    assert_string_equal(vm_buf_cstr(&b), "doc%231%20a%2Fb%2Bc%3Dd%26e~_.-%C3%A9");
    vm_buf_release(&b);
    assert_string_equal(vm_pc_metric("cosine"), "COSINE");
    assert_string_equal(vm_pc_metric("euclidean"), "L2");
    assert_string_equal(vm_pc_metric("dotproduct"), "IP");
    assert_null(vm_pc_metric("manhattan"));
    assert_null(vm_pc_metric(NULL));
    assert_int_equal(vm_pc_id_max_length(0), 64);
    assert_int_equal(vm_pc_id_max_length(10), 64);
    assert_int_equal(vm_pc_id_max_length(36), 72);
    assert_int_equal(vm_pc_id_max_length(300), 512);
    assert_int_equal(vm_pc_id_max_length(512), 512);
    assert_int_equal(vm_pc_id_max_length(700), 1400);  /* multi-byte ids */
    assert_int_equal(vm_pc_id_max_length(1500), 2048);
    assert_int_equal(vm_pc_id_max_length(3000), 3000);
    assert_int_equal(vm_pc_ns_max_length(0), 64);
    assert_int_equal(vm_pc_ns_max_length(100), 200);
    assert_int_equal(vm_pc_ns_max_length(40000), 65535);
    assert_string_equal(vm_pc_ns_value(""), "");
    assert_string_equal(vm_pc_ns_value("__default__"), "");
    assert_string_equal(vm_pc_ns_value("a"), "a");
}

static void test_config(void **st)
{
    (void)st;
    setenv("VM_TEST_PC_KEY", "pc-key-123456", 1);
    vm_source *src = NULL;
    vm_err e;
    json_t *conf = json_pack("{s:{s:s}, s:s, s:s}", "api_key", "env", "VM_TEST_PC_KEY", "index",
                             "my-index", "bogus", "1");
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "bogus"));
    json_decref(conf);
    conf = json_pack("{s:{s:s}}", "api_key", "env", "VM_TEST_PC_KEY");
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "index"));
    json_decref(conf);
    conf = json_pack("{s:{s:s}, s:s}", "api_key", "env", "VM_TEST_PC_KEY", "index", "My_Index");
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "My_Index"));
    json_decref(conf);
    conf = json_pack("{s:{s:s}, s:s, s:s}", "api_key", "env", "VM_TEST_PC_KEY", "index", "a",
                     "namespaces", "x");
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "namespaces"));
    json_decref(conf);
    conf = json_pack("{s:{s:s}, s:s, s:[s,i]}", "api_key", "env", "VM_TEST_PC_KEY", "index", "a",
                     "namespaces", "x", 1);
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "namespaces[1]"));
    json_decref(conf);
    conf = json_pack("{s:{s:s}, s:s, s:i}", "api_key", "env", "VM_TEST_PC_KEY", "index", "a",
                     "fetch_batch", 1001);
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_ERR_INVALID);
    json_decref(conf);
    conf = json_pack("{s:{s:s}, s:s, s:[s,s]}", "api_key", "env", "VM_TEST_PC_KEY", "index",
                     "2024-docs", "namespaces", "", "a");
    assert_int_equal(vm_source_new("pinecone", conf, &src, &e), VM_OK);
    json_decref(conf);
    assert_string_equal(((vm_pc *)src->state)->collection, "pinecone_2024_docs");
    vm_source_free(src);
}

int main(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntasks),
        cmocka_unit_test(test_split_chars),
        cmocka_unit_test(test_successor),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_fetch),
        cmocka_unit_test(test_parse_dense_malformed),
        cmocka_unit_test(test_parse_sparse_malformed),
        cmocka_unit_test(test_meta_big_numbers),
        cmocka_unit_test(test_misc),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

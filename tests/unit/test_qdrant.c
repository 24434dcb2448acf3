/*
 * test_qdrant.c - the Qdrant source's pure functions: point ids (JSON and
 * text forms, order, task keys), the split arithmetic (integer and UUID
 * spaces, mixed collections), the collection description and the schema
 * built from it, error envelopes, scroll pages and points decoded into
 * batch rows, malformed replies included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qdrant.h"
#include "vm_mem.h"
#include "vm_transform.h"

/* ------------------------------------------------------------ point ids */

static vm_qd_id id_json(const char *s)
{
    vm_qd_id id;
    if (vm_qd_id_parse_json(s, strlen(s), &id) != 0)
        fail_msg("id %s did not parse", s);
    return id;
}

static void test_ids(void **st)
{
    (void)st;
    char t[VM_QD_ID_TEXT], k[VM_QD_KEY_TEXT];
    vm_qd_id id = id_json("18446744073709551615"), back;
    assert_false(id.uuid);
    assert_true(id.num == UINT64_MAX);
    vm_qd_id_text(&id, t);
    assert_string_equal(t, "18446744073709551615");
    vm_qd_id_key(&id, k);
    assert_string_equal(k, "n:18446744073709551615");
    assert_int_equal(vm_qd_id_from_key(k, &back), 0);
    assert_int_equal(vm_qd_id_cmp(&id, &back), 0);

    id = id_json("42");
    vm_qd_id_key(&id, k);
    assert_string_equal(k, "n:00000000000000000042");
    vm_qd_id_text(&id, t);
    assert_string_equal(t, "42");

    /* UUIDs: any case, hyphenated or plain; text is canonical lowercase */
    id = id_json("\"5C56C793-69F3-4FBF-87E6-C4BF54C28C26\"");
    assert_true(id.uuid);
    vm_qd_id_text(&id, t);
    assert_string_equal(t, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26");
    vm_qd_id plain = id_json("\"5c56c79369f34fbf87e6c4bf54c28c26\"");
    assert_int_equal(vm_qd_id_cmp(&id, &plain), 0);
    vm_qd_id_key(&id, k);
    assert_string_equal(k, "u:5c56c793-69f3-4fbf-87e6-c4bf54c28c26");
    assert_int_equal(vm_qd_id_from_key(k, &back), 0);
    assert_int_equal(vm_qd_id_cmp(&id, &back), 0);

    /* text form (cursors) */
    assert_int_equal(vm_qd_id_parse_text("5c56c793-69f3-4fbf-87e6-c4bf54c28c26", &back), 0);
    assert_true(back.uuid);
    assert_int_equal(vm_qd_id_parse_text("0", &back), 0);
    assert_false(back.uuid);
    assert_int_equal(vm_qd_id_parse_text("18446744073709551616", &back), -1); /* 2^64 */
    assert_int_equal(vm_qd_id_parse_text("", &back), -1);
    assert_int_equal(vm_qd_id_parse_text("-1", &back), -1);
    assert_int_equal(vm_qd_id_parse_text(NULL, &back), -1);

    /* JSON forms Qdrant never sends */
    const char *bad[] = {"-1", "1.5", "1e3", "01", "18446744073709551616", "\"\"", "\"xyz\"",
                         "\"5c56c793-69f3-4fbf-87e6-c4bf54c28c2\"", "true", "null", "[1]",
                         "\"5c56c793_69f3-4fbf-87e6-c4bf54c28c26\"", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(vm_qd_id_parse_json(bad[i], strlen(bad[i]), &back), -1);
    assert_int_equal(vm_qd_id_from_key("x:1", &back), -1);
    assert_int_equal(vm_qd_id_from_key("n:42", &back), -1); /* not padded */
    assert_int_equal(vm_qd_id_from_key("n:99999999999999999999", &back), -1);

    /* order: integers ascending, then UUIDs by bytes; keys sort the same way */
    const char *ordered[] = {"0", "9", "10", "9223372036854775808", "18446744073709551615",
                             "\"00000000-0000-0000-0000-000000000000\"",
                             "\"0fffffff-ffff-ffff-ffff-ffffffffffff\"",
                             "\"a0000000-0000-0000-0000-000000000000\"",
                             "\"ffffffff-ffff-ffff-ffff-ffffffffffff\""};
    for (size_t i = 1; i < sizeof ordered / sizeof *ordered; i++) {
        vm_qd_id a = id_json(ordered[i - 1]), b = id_json(ordered[i]);
        char ka[VM_QD_KEY_TEXT], kb[VM_QD_KEY_TEXT];
        assert_true(vm_qd_id_cmp(&a, &b) < 0);
        assert_true(vm_qd_id_cmp(&b, &a) > 0);
        vm_qd_id_key(&a, ka);
        vm_qd_id_key(&b, kb);
        assert_true(strcmp(ka, kb) < 0);
    }

    vm_buf b;
    vm_buf_init(&b);
    id = id_json("7");
    vm_qd_id_json(&id, &b);
    id = id_json("\"00000000-0000-0000-0000-00000000000a\"");
    vm_qd_id_json(&id, &b);
    assert_string_equal(vm_buf_cstr(&b), "7\"00000000-0000-0000-0000-00000000000a\"");
    vm_buf_release(&b);
}

/* --------------------------------------------------------- split arithmetic */

static void test_ntasks(void **st)
{
    (void)st;
    assert_int_equal(vm_qd_ntasks(0, 100), 1);
    assert_int_equal(vm_qd_ntasks(1, 100), 1);
    assert_int_equal(vm_qd_ntasks(100, 100), 1);
    assert_int_equal(vm_qd_ntasks(101, 100), 2);
    assert_int_equal(vm_qd_ntasks(1000, 0), 1000); /* task_rows < 1 counts as 1 */
    assert_int_equal(vm_qd_ntasks(INT64_MAX, 1), INT32_MAX);
}

static void test_split_u64(void **st)
{
    (void)st;
    uint64_t b[16];
    size_t n;
    vm_qd_split_u64(0, 99, 4, b, &n);
    assert_int_equal(n, 3);
    assert_true(b[0] == 25 && b[1] == 50 && b[2] == 75);
    /* the whole u64 space: no overflow, strictly increasing */
    vm_qd_split_u64(0, UINT64_MAX, 4, b, &n);
    assert_int_equal(n, 3);
    assert_true(b[0] == (uint64_t)1 << 62 && b[1] == (uint64_t)1 << 63 &&
                b[2] == ((uint64_t)3 << 62));
    /* fewer values than tasks */
    vm_qd_split_u64(10, 12, 8, b, &n);
    assert_int_equal(n, 2);
    assert_true(b[0] == 11 && b[1] == 12);
    vm_qd_split_u64(5, 5, 8, b, &n);
    assert_int_equal(n, 0);
    vm_qd_split_u64(0, 1000, 1, b, &n);
    assert_int_equal(n, 0);
    /* above 2^63 */
    vm_qd_split_u64(UINT64_MAX - 9, UINT64_MAX, 2, b, &n);
    assert_int_equal(n, 1);
    assert_true(b[0] == UINT64_MAX - 4);
}

static void test_split_uuid(void **st)
{
    (void)st;
    vm_qd_id lo = id_json("\"00000000-0000-0000-0000-000000000000\"");
    vm_qd_id hi = id_json("\"ffffffff-ffff-ffff-ffff-ffffffffffff\"");
    vm_qd_id b[20];
    size_t n;
    char t[VM_QD_ID_TEXT];
    vm_qd_split_uuid(&lo, &hi, 16, b, &n);
    assert_int_equal(n, 15);
    vm_qd_id_text(&b[0], t);
    assert_string_equal(t, "10000000-0000-0000-0000-000000000000"); /* a hex prefix */
    vm_qd_id_text(&b[14], t);
    assert_string_equal(t, "f0000000-0000-0000-0000-000000000000");
    vm_qd_split_uuid(&lo, &hi, 3, b, &n);
    assert_int_equal(n, 2);
    vm_qd_id_text(&b[0], t);
    assert_string_equal(t, "55000000-0000-0000-0000-000000000000");
    vm_qd_id_text(&b[1], t);
    assert_string_equal(t, "aa000000-0000-0000-0000-000000000000");
    /* a narrow span (time-ordered UUIDs share a prefix): boundaries inside it */
    vm_qd_id a = id_json("\"01890000-0000-7000-8000-000000000000\"");
    vm_qd_id z = id_json("\"01890fff-ffff-7fff-bfff-ffffffffffff\"");
    vm_qd_split_uuid(&a, &z, 4, b, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(vm_qd_id_cmp(&b[i], &a) > 0);
        assert_true(vm_qd_id_cmp(&b[i], &z) <= 0);
        if (i)
            assert_true(vm_qd_id_cmp(&b[i - 1], &b[i]) < 0);
    }
    vm_qd_id_text(&b[1], t);
    assert_string_equal(t, "018907f0-0000-0000-0000-000000000000"); /* a short prefix */
    /* tiny span: as many boundaries as values allow */
    vm_qd_id c = id_json("\"00000000-0000-0000-0000-000000000003\"");
    vm_qd_split_uuid(&lo, &c, 10, b, &n);
    assert_int_equal(n, 3);
    vm_qd_id_text(&b[2], t);
    assert_string_equal(t, "00000000-0000-0000-0000-000000000003");
    vm_qd_split_uuid(&c, &c, 10, b, &n);
    assert_int_equal(n, 0);
}

static void test_space_bounds(void **st)
{
    (void)st;
    vm_qd_span sp = {.has_int = true, .int_min = 1, .int_max = 1000};
    vm_qd_id *b = NULL;
    size_t n;
    vm_err e;
    char k[VM_QD_KEY_TEXT];
    assert_int_equal(vm_qd_space_bounds(&sp, 4, &b, &n, &e), VM_OK);
    assert_int_equal(n, 3);
    assert_false(b[0].uuid);
    assert_true(b[0].num == 250 || b[0].num == 251);
    vm_free(b);
    /* both kinds: half the tasks each, UUIDs start at the smallest UUID */
    sp.has_uuid = true;
    sp.uuid_min = id_json("\"20000000-0000-0000-0000-000000000000\"");
    sp.uuid_max = id_json("\"dfffffff-ffff-ffff-ffff-ffffffffffff\"");
    assert_int_equal(vm_qd_space_bounds(&sp, 6, &b, &n, &e), VM_OK);
    assert_int_equal(n, 5);
    for (size_t i = 1; i < n; i++)
        assert_true(vm_qd_id_cmp(&b[i - 1], &b[i]) < 0);
    assert_false(b[1].uuid);
    assert_true(b[2].uuid);
    assert_int_equal(vm_qd_id_cmp(&b[2], &sp.uuid_min), 0);
    vm_qd_id_key(&b[3], k);
    assert_string_equal(k, "u:60000000-0000-0000-0000-000000000000");
    vm_free(b);
    /* one task, or nothing known: no boundary */
    assert_int_equal(vm_qd_space_bounds(&sp, 1, &b, &n, &e), VM_OK);
    assert_int_equal(n, 0);
    assert_null(b);
    vm_qd_span none = {0};
    assert_int_equal(vm_qd_space_bounds(&none, 9, &b, &n, &e), VM_OK);
    assert_int_equal(n, 0);
    /* only UUIDs */
    vm_qd_span u = {.has_uuid = true, .uuid_min = sp.uuid_min, .uuid_max = sp.uuid_max};
    assert_int_equal(vm_qd_space_bounds(&u, 2, &b, &n, &e), VM_OK);
    assert_int_equal(n, 1);
    vm_qd_id_key(&b[0], k);
    assert_string_equal(k, "u:80000000-0000-0000-0000-000000000000");
    vm_free(b);
}

/* ------------------------------------------------------- the collection */

static const char *INFO_NAMED =
    "{\"result\":{\"status\":\"green\",\"optimizer_status\":\"ok\",\"points_count\":12,"
    "\"config\":{\"params\":{\"vectors\":{\"text\":{\"size\":8,\"distance\":\"Cosine\"},"
    "\"id\":{\"size\":3,\"distance\":\"Manhattan\",\"datatype\":\"float16\"},"
    "\"colbert\":{\"size\":4,\"distance\":\"Dot\",\"multivector_config\":{\"comparator\":"
    "\"max_sim\"}}},"
    "\"sparse_vectors\":{\"kw\":{\"modifier\":\"idf\"},\"vector\":{}}}},"
    "\"payload_schema\":{}},\"status\":\"ok\",\"time\":0.1}";

static void test_info_schema(void **st)
{
    (void)st;
    vm_qd_info info;
    vm_err e;
    vm_schema *s = NULL;
    assert_int_equal(vm_qd_parse_info(INFO_NAMED, strlen(INFO_NAMED), &info, &e), VM_OK);
    assert_false(info.unnamed);
    assert_int_equal(info.nvecs, 5);
    assert_int_equal(info.points_count, 12);
    assert_string_equal(info.vecs[0].qname, "text");
    assert_int_equal(info.vecs[0].kind, VM_QD_DENSE);
    assert_int_equal(info.vecs[2].kind, VM_QD_MULTI);
    assert_int_equal(info.vecs[3].kind, VM_QD_SPARSE);
    assert_string_equal(info.vecs[3].modifier, "idf");
    assert_null(info.vecs[4].modifier);
    assert_int_equal(vm_qd_build_schema(&info, "coll", &s, &e), VM_OK);
    assert_string_equal(s->collection, "coll");
    assert_true(s->enable_dynamic);
    assert_string_equal(s->dynamic_alias, "payload");
    /* a vector named "id" keeps its name; the key moves to id_1 */
    assert_int_equal(s->nfields, 6);
    const vm_field *pk = vm_schema_primary(s);
    assert_string_equal(pk->name, "id_1");
    assert_int_equal(pk->type, VM_T_VARCHAR);
    assert_int_equal(pk->max_length, 36);
    const vm_field *f = vm_schema_find(s, "text");
    assert_int_equal(f->type, VM_T_FLOAT_VECTOR);
    assert_int_equal(f->dim, 8);
    assert_string_equal(f->metric, "COSINE");
    f = vm_schema_find(s, "id");
    assert_int_equal(f->type, VM_T_FLOAT_VECTOR);
    assert_null(f->metric); /* Manhattan: no Milvus metric */
    assert_non_null(strstr(f->description, "Manhattan"));
    f = vm_schema_find(s, "colbert");
    assert_true(f->unsupported);
    assert_int_equal(f->type, VM_T_VARCHAR);
    f = vm_schema_find(s, "kw");
    assert_int_equal(f->type, VM_T_SPARSE_FLOAT_VECTOR);
    assert_string_equal(f->metric, "IP");
    assert_non_null(strstr(f->description, "idf"));
    /* the sparse "vector" is a named vector, not the unnamed one */
    assert_int_equal(vm_schema_find(s, "vector")->type, VM_T_SPARSE_FLOAT_VECTOR);
    assert_string_equal(info.vecs[1].field, "id");
    vm_schema_free(s);
    vm_qd_info_release(&info);

    /* unnamed vector + a sparse vector named like the default field */
    const char *unnamed = "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"size\":4,"
                          "\"distance\":\"Euclid\"},\"sparse_vectors\":{\"vector\":{}}}}},"
                          "\"status\":\"ok\"}";
    assert_int_equal(vm_qd_parse_info(unnamed, strlen(unnamed), &info, &e), VM_OK);
    assert_true(info.unnamed);
    assert_int_equal(info.points_count, -1);
    assert_int_equal(vm_qd_build_schema(&info, "u", &s, &e), VM_OK);
    assert_string_equal(s->fields[0].name, "id");
    assert_string_equal(s->fields[1].name, "vector");
    assert_string_equal(s->fields[1].metric, "L2");
    assert_string_equal(s->fields[2].name, "vector_1");
    assert_string_equal(info.vecs[1].field, "vector_1");
    vm_schema_free(s);
    vm_qd_info_release(&info);

    /* no vectors at all: refused */
    const char *none = "{\"result\":{\"config\":{\"params\":{\"vectors\":{}}}}}";
    assert_int_equal(vm_qd_parse_info(none, strlen(none), &info, &e), VM_OK);
    assert_int_equal(vm_qd_build_schema(&info, "empty", &s, &e), VM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "'empty' has no vectors"));
    assert_null(s);
    vm_qd_info_release(&info);

    /* malformed descriptions */
    const char *bad[] = {
        "not json",
        "{\"result\":{}}",
        "{\"result\":{\"config\":{\"params\":{\"vectors\":7}}}}",
        "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"a\":{\"size\":0,"
        "\"distance\":\"Dot\"}}}}}}",
        "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"a\":{\"size\":3}}}}}}",
        "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"a\":[]}}}}}",
        "{\"result\":{\"config\":{\"params\":{\"sparse_vectors\":[]}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(vm_qd_parse_info(bad[i], strlen(bad[i]), &info, &e), VM_ERR_PROTOCOL);
        assert_int_equal(info.nvecs, 0);
    }
    assert_null(vm_qd_metric("Manhattan"));
    assert_string_equal(vm_qd_metric("Dot"), "IP");
    assert_null(vm_qd_metric(NULL));
}

static void test_error_text(void **st)
{
    (void)st;
    char m[256];
    const char *env = "{\"status\":{\"error\":\"Not found: Collection `x` doesn't exist!\"},"
                      "\"time\":0.0}";
    vm_qd_error_text(env, strlen(env), m, sizeof m);
    assert_string_equal(m, "Not found: Collection `x` doesn't exist!");
    vm_qd_error_text("plain\ntext", 10, m, sizeof m);
    assert_string_equal(m, "plain text");
    char big[600];
    memset(big, 'a', sizeof big);
    vm_qd_error_text(big, sizeof big, m, sizeof m);
    assert_int_equal(strlen(m), 200);
    /* cut at a character boundary, escapes decoded */
    const char *u = "{\"status\":{\"error\":\"caf\\u00e9\"}}";
    vm_qd_error_text(u, strlen(u), m, sizeof m);
    assert_string_equal(m, "caf\xc3\xa9");
    vm_qd_error_text(NULL, 0, m, sizeof m);
    assert_string_equal(m, "");
}

/* ---------------------------------------------------------------- points */

typedef struct fx {
    vm_qd_info info;
    vm_schema *src;
    vm_batch *b;
    vm_qd_rcol *rc;
    size_t nrc;
    vm_qd_scratch scr;
} fx;

/* The named collection (text dim 3 Dot, kw sparse) read with a batch of
 * id, text, kw and $meta. */
static void fx_setup(fx *f, const char *info_json, bool with_meta)
{
    vm_err e;
    memset(f, 0, sizeof *f);
    assert_int_equal(vm_qd_parse_info(info_json, strlen(info_json), &f->info, &e), VM_OK);
    assert_int_equal(vm_qd_build_schema(&f->info, "c", &f->src, &e), VM_OK);
    if (with_meta) {
        vm_field m = {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true};
        assert_int_equal(vm_schema_add(f->src, &m, &e), VM_OK);
    }
    assert_int_equal(vm_batch_new(f->src, 4, &f->b, &e), VM_OK);
    const vm_field *pk = vm_schema_primary(f->src);
    if (vm_qd_plan_columns(&f->info, pk->name, f->b, &f->rc, &f->nrc, &e) != VM_OK)
        fail_msg("%s", e.msg);
}

static void fx_free(fx *f)
{
    vm_batch_free(f->b);
    vm_schema_free(f->src);
    vm_free(f->rc);
    vm_qd_scratch_release(&f->scr);
    vm_qd_info_release(&f->info);
}

static const char *INFO_TK =
    "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"text\":{\"size\":3,\"distance\":"
    "\"Dot\"}},\"sparse_vectors\":{\"kw\":{}}}}},\"status\":\"ok\"}";

/* Add the single point of a scroll reply; returns the rc. */
static int add_one(fx *f, const char *reply, vm_err *e)
{
    vm_qd_page page;
    int rc = vm_qd_parse_page(reply, strlen(reply), &page, e);
    if (rc != VM_OK)
        return rc;
    vm_json_iter it;
    vm_json_span pt;
    vm_json_iter_init(&it, reply, page.points);
    if (!vm_json_iter_next(&it, &pt))
        fail_msg("no point in %s", reply);
    return vm_qd_add_point(&f->info, f->rc, f->nrc, reply, pt, f->b, &f->scr, e);
}

static void test_page(void **st)
{
    (void)st;
    vm_qd_page p;
    vm_err e;
    const char *r = "{\"result\":{\"points\":[],\"next_page_offset\":18446744073709551615},"
                    "\"status\":\"ok\",\"time\":0}";
    assert_int_equal(vm_qd_parse_page(r, strlen(r), &p, &e), VM_OK);
    assert_true(p.has_next);
    assert_true(p.next.num == UINT64_MAX);
    r = "{\"result\":{\"points\":[{\"id\":1}],\"next_page_offset\":null}}";
    assert_int_equal(vm_qd_parse_page(r, strlen(r), &p, &e), VM_OK);
    assert_false(p.has_next);
    r = "{\"result\":{\"points\":[{\"id\":1}]}}";
    assert_int_equal(vm_qd_parse_page(r, strlen(r), &p, &e), VM_OK);
    assert_false(p.has_next);
    const char *bad[] = {
        "{\"result\":{\"points\":{}}}",
        "{\"result\":{}}",
        "{\"status\":{\"error\":\"x\"}}",
        "{\"result\":{\"points\":[],\"next_page_offset\":-3}}",
        "{\"result\":{\"points\":[],\"next_page_offset\":\"nope\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(vm_qd_parse_page(bad[i], strlen(bad[i]), &p, &e), VM_ERR_PROTOCOL);
    r = "{\"result\":{\"points\":[";
    assert_int_equal(vm_qd_parse_page(r, strlen(r), &p, &e) != VM_OK, 1);
    /* a reply that is not JSON names the point where it broke, as a hint */
    const struct {
        const char *reply, *needle;
    } broken[] = {
        {"{\"result\":{\"points\":[{\"id\":7,\"vector\":[1]},{\"id\":23,\"vector\":[1,NaN]}]}}",
         "(in or after point 23): invalid JSON at byte"},
        {"{\"result\":{\"points\":[{\"id\":7,\"payload\":{\"a\":1}},{\"id\": "
         "\"0b4e8d7c-1f2a-4b3c-9d8e-7f6a5b4c3d2e\",\"payload\":{\"a\":[1,",
         "(in or after point \"0b4e8d7c-1f2a-4b3c-9d8e-7f6a5b4c3d2e\"): invalid JSON: "},
        {"{\"result\":{\"points\":[{\"id\":9,\"payload\":{\"t\":\"caf\xc3 \"}}]}}",
         "(in or after point 9): invalid JSON at byte 48: invalid UTF-8"},
        {"{\"result\":{\"points\":[{\"id\":9,\"payload\":{\"x\":{\"id\":4}}},{\"id\":10,"
         "\"payload\":tru}]}}",
         "(in or after point 10)"},
        {"{\"result\":nope}", "scroll reply is not valid JSON: invalid JSON at byte 10"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        r = broken[i].reply;
        assert_int_not_equal(vm_qd_parse_page(r, strlen(r), &p, &e), VM_OK);
        if (!strstr(e.msg, broken[i].needle))
            fail_msg("broken reply %zu: %s", i, e.msg);
    }
    char near[48];
    vm_qd_near_point("{\"id\":123", 10, "invalid JSON: x at the end of the text", near,
                     sizeof near);
    assert_string_equal(near, "123");
    vm_qd_near_point("{\"id\":123", 10, "invalid JSON at byte 0: x", near, sizeof near);
    assert_string_equal(near, ""); /* no point starts before the error */
    vm_qd_near_point("[{\"a\":{\"id\":5}}]", 16, "invalid JSON at byte 15: x", near, sizeof near);
    assert_string_equal(near, "5"); /* a hint only: the nearest {"id": before it */
}

static void test_points(void **st)
{
    (void)st;
    fx f;
    vm_err e;
    fx_setup(&f, INFO_TK, true);
    assert_int_equal(f.nrc, 4);
    /* exact float32 tokens, a payload kept byte for byte, unsorted sparse */
    const char *r =
        "{\"result\":{\"points\":[{\"id\":18446744073709551615,\"payload\":{\"n\": 1.10,"
        "\"big\":12345678901234567890,\"s\":\"\\u00e9\"},\"vector\":{\"text\":[0.1,-0.0,"
        "1e-45],\"kw\":{\"indices\":[7,2,5],\"values\":[0.7,0.2,0.5]}}}],"
        "\"next_page_offset\":null},\"status\":\"ok\"}";
    if (add_one(&f, r, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(f.b->nrows, 1);
    size_t len;
    const char *s = vm_batch_get_str(f.b, 0, 0, &len);
    assert_int_equal(len, 20);
    assert_memory_equal(s, "18446744073709551615", 20);
    const float *v = vm_batch_get_vector(f.b, 1, 0);
    assert_true(v[0] == 0.1f);
    assert_true(v[1] == 0.0f && signbit(v[1]));
    uint32_t bits;
    memcpy(&bits, &v[2], 4);
    assert_int_equal(bits, 1); /* the smallest subnormal is a value, not an error */
    const uint32_t *idx;
    const float *val;
    size_t nnz = vm_batch_get_sparse(f.b, 2, 0, &idx, &val);
    assert_int_equal(nnz, 3);
    assert_true(idx[0] == 2 && idx[1] == 5 && idx[2] == 7);
    assert_true(val[0] == 0.2f && val[1] == 0.5f && val[2] == 0.7f);
    s = vm_batch_get_str(f.b, 3, 0, &len);
    const char *want = "{\"n\": 1.10,\"big\":12345678901234567890,\"s\":\"\\u00e9\"}";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);

    /* no payload, no sparse vector: null metadata, an empty sparse vector */
    r = "{\"result\":{\"points\":[{\"id\":\"5c56c793-69f3-4fbf-87e6-c4bf54c28c26\","
        "\"payload\":null,\"vector\":{\"text\":[1,2,3]}}]}}";
    if (add_one(&f, r, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(f.b->nrows, 2);
    s = vm_batch_get_str(f.b, 0, 1, &len);
    assert_memory_equal(s, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", 36);
    assert_true(vm_batch_is_null(f.b, 3, 1));
    assert_int_equal(vm_batch_get_sparse(f.b, 2, 1, &idx, &val), 0);

    /* malformed points fail naming the point and the field; no row left */
    struct {
        const char *point, *needle;
        vm_code code;
    } bad[] = {
        {"{\"id\":1,\"vector\":{\"text\":[1,2]}}", "2 elements", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3,4]}}", "4 elements", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,\"2\",3]}}", "element 1", VM_ERR_INVALID},
        /* the message quotes the token, not the reply after it */
        {"{\"id\":1,\"vector\":{\"text\":[1,\"x\",3]}}", "element 1: not a number: \"x\"",
         VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,1e39,3]}}", "not a finite float32: 1e39",
         VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,1e39,3]}}", "not a finite", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,null,3]}}", "element 1", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{}}", "point 1 has no vector for field 'text'", VM_ERR_INVALID},
        {"{\"id\":1}", "point 1 has no vector", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":{\"a\":1}}}", "not an array", VM_ERR_PROTOCOL},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":{\"indices\":[1,1],\"values\":[1,2]}}}",
         "appears twice", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":{\"indices\":[1],\"values\":[1,2]}}}",
         "1 sparse indices but 2 values", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":{\"indices\":[-1],\"values\":[1]}}}",
         "sparse index -1", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":{\"indices\":[4294967296],"
         "\"values\":[1]}}}",
         "sparse index 4294967296", VM_ERR_INVALID},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":{\"values\":[1]}}}", "lacks",
         VM_ERR_PROTOCOL},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"kw\":[1]}}", "not an object", VM_ERR_PROTOCOL},
        {"{\"id\":1,\"payload\":[1],\"vector\":{\"text\":[1,2,3]}}", "payload is an array",
         VM_ERR_PROTOCOL},
        {"{\"id\":-5,\"vector\":{\"text\":[1,2,3]}}", "without a valid id", VM_ERR_PROTOCOL},
        {"{\"vector\":{\"text\":[1,2,3]}}", "without a valid id", VM_ERR_PROTOCOL},
        {"[1]", "not an object", VM_ERR_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char reply[512];
        snprintf(reply, sizeof reply, "{\"result\":{\"points\":[%s]}}", bad[i].point);
        int rc = add_one(&f, reply, &e);
        if (rc != (int)bad[i].code || !strstr(e.msg, bad[i].needle))
            fail_msg("case %zu: rc %d: %s", i, rc, e.msg);
        if (strstr(e.msg, "3]"))
            fail_msg("case %zu: the message quotes more than the token: %s", i, e.msg);
        assert_int_equal(f.b->nrows, 2);
    }
    /* the id alone */
    vm_qd_id id;
    const char *one = "{\"id\":\"5c56c79369f34fbf87e6c4bf54c28c26\"}";
    vm_json_span sp = {0, strlen(one), VM_JSON_OBJECT};
    assert_int_equal(vm_qd_point_id(one, sp, &id, &e), VM_OK);
    assert_true(id.uuid);
    const char *noid = "{\"x\":1}";
    sp.len = strlen(noid);
    assert_int_equal(vm_qd_point_id(noid, sp, &id, &e), VM_ERR_PROTOCOL);
    fx_free(&f);
}

static const char *INFO_UNNAMED =
    "{\"result\":{\"config\":{\"params\":{\"vectors\":{\"size\":2,\"distance\":\"Cosine\"},"
    "\"sparse_vectors\":{\"s\":{}}}}},\"status\":\"ok\"}";

static void test_unnamed(void **st)
{
    (void)st;
    fx f;
    vm_err e;
    fx_setup(&f, INFO_UNNAMED, false);
    assert_int_equal(f.nrc, 3);
    /* a plain array, or the "" entry of a vector object */
    const char *r = "{\"result\":{\"points\":[{\"id\":3,\"vector\":[0.6,0.8]}]}}";
    if (add_one(&f, r, &e) != VM_OK)
        fail_msg("%s", e.msg);
    r = "{\"result\":{\"points\":[{\"id\":4,\"vector\":{\"\":[0.8,0.6],\"s\":{\"indices\":[1],"
        "\"values\":[2.5]}}}]}}";
    if (add_one(&f, r, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(f.b->nrows, 2);
    const float *v = vm_batch_get_vector(f.b, 1, 1);
    assert_true(v[0] == 0.8f && v[1] == 0.6f);
    const uint32_t *idx;
    const float *val;
    assert_int_equal(vm_batch_get_sparse(f.b, 2, 1, &idx, &val), 1);
    assert_true(idx[0] == 1 && val[0] == 2.5f);
    fx_free(&f);
}

/* vm_qd_read's checked path over a whole reply (no range; room rows at
 * most), into f->b: what vm_qd_fast_page must give when it takes a reply. */
static int slow_read(fx *f, const char *reply, size_t room, vm_qd_take *t, vm_err *e)
{
    vm_qd_page page;
    int rc = vm_qd_parse_page(reply, strlen(reply), &page, e);
    if (rc != VM_OK)
        return rc;
    memset(t, 0, sizeof *t);
    t->has_next = page.has_next;
    t->next = page.next;
    vm_json_iter it;
    vm_json_span pt;
    vm_json_iter_init(&it, reply, page.points);
    while (vm_json_iter_next(&it, &pt)) {
        vm_qd_id id;
        t->seen++;
        if ((rc = vm_qd_point_id(reply, pt, &id, e)) != VM_OK)
            return rc;
        if (t->have_pos && vm_qd_id_cmp(&id, &t->pos) <= 0)
            continue;
        if (t->added >= room) {
            t->cut = true;
            break;
        }
        if ((rc = vm_qd_add_point(&f->info, f->rc, f->nrc, reply, pt, f->b, &f->scr, e)) != VM_OK)
            return rc;
        t->pos = id;
        t->have_pos = true;
        t->added++;
    }
    return VM_OK;
}

/* Rows r0.. of a and b are the same, byte for byte. */
static void same_rows(const vm_batch *a, const vm_batch *b)
{
    assert_int_equal(a->nrows, b->nrows);
    for (size_t c = 0; c < a->ncols; c++) {
        const vm_column *col = &a->cols[c];
        for (size_t r = 0; r < a->nrows; r++) {
            if (col->nullable) {
                assert_int_equal(vm_batch_is_null(a, c, r), vm_batch_is_null(b, c, r));
                if (vm_batch_is_null(a, c, r))
                    continue;
            }
            if (col->type == VM_T_FLOAT_VECTOR) {
                assert_memory_equal(vm_batch_get_vector(a, c, r), vm_batch_get_vector(b, c, r),
                                    (size_t)col->dim * sizeof(float));
            } else if (col->type == VM_T_SPARSE_FLOAT_VECTOR) {
                const uint32_t *ia, *ib;
                const float *va, *vb;
                size_t na = vm_batch_get_sparse(a, c, r, &ia, &va);
                assert_int_equal(na, vm_batch_get_sparse(b, c, r, &ib, &vb));
                if (na) {
                    assert_memory_equal(ia, ib, na * sizeof *ia);
                    assert_memory_equal(va, vb, na * sizeof *va);
                }
            } else if (col->type == VM_T_INT64) {
                assert_true(vm_batch_get_int(a, c, r) == vm_batch_get_int(b, c, r));
            } else {
                size_t la, lb;
                const char *sa = vm_batch_get_str(a, c, r, &la);
                const char *sb = vm_batch_get_str(b, c, r, &lb);
                assert_int_equal(la, lb);
                assert_memory_equal(sa, sb, la);
            }
        }
    }
}

/* The single-pass page reader: a reply it takes gives what the checked
 * path gives (rows, points seen, cut, next offset); anything else - any
 * error, or an order it does not take - leaves no row behind, and the
 * checked path then names the error. */
static void check_fast(const char *info, const char *reply, size_t room, bool taken)
{
    fx a, b;
    vm_err e;
    fx_setup(&a, info, true);
    fx_setup(&b, info, true);
    vm_qd_take t = {.room = room}, ts;
    bool ok = vm_qd_fast_page(&a.info, a.rc, a.nrc, reply, strlen(reply), a.b, &a.scr, &t);
    if (ok != taken)
        fail_msg("fast path %s %s", ok ? "took" : "refused", reply);
    if (ok) {
        if (slow_read(&b, reply, room, &ts, &e) != VM_OK)
            fail_msg("checked path refused %s: %s", reply, e.msg);
        same_rows(a.b, b.b);
        assert_int_equal(t.added, ts.added);
        assert_int_equal(t.seen, ts.seen);
        assert_int_equal(t.cut, ts.cut);
        assert_int_equal(t.has_next, ts.has_next);
        if (t.has_next)
            assert_int_equal(vm_qd_id_cmp(&t.next, &ts.next), 0);
    } else {
        assert_int_equal(a.b->nrows, 0);
    }
    fx_free(&a);
    fx_free(&b);
}

static void test_fast_page(void **st)
{
    (void)st;
    const char *pts = "{\"result\":{\"points\":[";
    char r[1024];
    static const struct {
        const char *points, *tail;
        bool taken;
    } tk[] = {
        {"{\"id\":1,\"payload\":{\"a\":[1,{\"b\":\"\\u00e9\"}]},\"vector\":{\"text\":[0.1,-2e-3,"
         "3.4028235e38],\"kw\":{\"indices\":[7,2],\"values\":[0.5,1]}}},"
         "{\"id\":\"6a1f0c0e-1111-4222-8333-944445555666\",\"vector\":{\"text\":[ 1 , 2 ,3 ]}}",
         "],\"next_page_offset\":9},\"status\":\"ok\",\"time\":0.5}", true},
        /* payload before the id, other keys, spacing, no payload: null $meta */
        {" {\"payload\":null, \"shard_key\":null, \"id\" : 4 , \"vector\" : {\"kw\":null, "
         "\"text\":[1e-45,-0.0,0]}} ", "] , \"next_page_offset\" : null } }", true},
        /* not increasing: the second is skipped; room 1 cuts the third */
        {"{\"id\":5,\"vector\":{\"text\":[1,2,3]}},{\"id\":5,\"vector\":{\"text\":[1,2,3]}},"
         "{\"id\":6,\"vector\":{\"text\":[1,2,3]}}", "]}}", true},
        {"", "]}}", true},
        /* errors and what the checked path alone reads */
        {"{\"id\":1,\"vector\":{\"text\":[1,2]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3,4]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,\"NaN\",3]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,1e39]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,01]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3,]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3]}}", "]}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3]}}", "]}} x", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3]},\"payload\":{\"a\":\"\x01\"}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3]},\"payload\":[1]}", "]}}", false},
        {"{\"id\":-1,\"vector\":{\"text\":[1,2,3]}}", "]}}", false},
        {"{\"vector\":{\"text\":[1,2,3]},\"id\":1}", "]}}", false},
        {"{\"id\":1,\"id\":2,\"vector\":{\"text\":[1,2,3]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3],\"text\":[1,2,3]}}", "]}}", false},
        {"{\"id\":1,\"vector\":{\"kw\":{\"indices\":[1,1],\"values\":[1,2]},\"text\":[1,2,3]}}",
         "]}}", false},
        {"{\"id\":1,\"vector\":{\"text\":[1,2,3]}}", "],\"next_page_offset\":-3}}", false},
        {"{\"id\":1}", "]}}", false},
        {"7", "]}}", false},
    };
    for (size_t i = 0; i < sizeof tk / sizeof tk[0]; i++) {
        snprintf(r, sizeof r, "%s%s%s", pts, tk[i].points, tk[i].tail);
        check_fast(INFO_TK, r, i == 2 ? 1 : 10, tk[i].taken);
    }
    check_fast(INFO_TK, "{\"result\":{\"points\":{}}}", 10, false);
    check_fast(INFO_TK, "{\"result\":{\"points\":[]},\"result\":{\"points\":[]}}", 10, false);
    check_fast(INFO_TK, "[]", 10, false);
    /* past the stop (cut) the points are validated, not read */
    check_fast(INFO_TK,
               "{\"result\":{\"points\":[{\"id\":1,\"vector\":{\"text\":[1,2,3]}},{\"id\":2},7,"
               "{\"id\":1}]}}",
               1, true);
    check_fast(INFO_TK,
               "{\"result\":{\"points\":[{\"id\":1,\"vector\":{\"text\":[1,2,3]}},{\"id\":2},"
               "[1,]]}}",
               1, false);
    /* the unnamed vector: a plain array or the "" entry */
    check_fast(INFO_UNNAMED,
               "{\"result\":{\"points\":[{\"id\":3,\"vector\":[0.6,0.8]},{\"id\":4,\"vector\":"
               "{\"\":[0.8,0.6],\"s\":{\"indices\":[1],\"values\":[2.5]}}}]}}",
               10, true);
    check_fast(INFO_UNNAMED, "{\"result\":{\"points\":[{\"id\":3,\"vector\":null}]}}", 10,
               false);
}

static void test_columns(void **st)
{
    (void)st;
    vm_qd_info info;
    vm_err e;
    vm_schema *s;
    assert_int_equal(vm_qd_parse_info(INFO_TK, strlen(INFO_TK), &info, &e), VM_OK);
    assert_int_equal(vm_qd_build_schema(&info, "c", &s, &e), VM_OK);
    vm_batch *b;
    vm_qd_rcol *rc;
    size_t n;
    /* a field of another name: refused by name */
    vm_field x = {.name = "other", .type = VM_T_INT64};
    assert_int_equal(vm_schema_add(s, &x, &e), VM_OK);
    assert_int_equal(vm_batch_new(s, 1, &b, &e), VM_OK);
    assert_int_equal(vm_qd_plan_columns(&info, "id", b, &rc, &n, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "'other'"));
    vm_batch_free(b);
    vm_schema_remove(s, 3);
    /* a dense vector read with another dimension */
    s->fields[1].dim = 4;
    assert_int_equal(vm_batch_new(s, 1, &b, &e), VM_OK);
    assert_int_equal(vm_qd_plan_columns(&info, "id", b, &rc, &n, &e), VM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "'text'"));
    vm_batch_free(b);
    /* the id as Int64 (a mapping's choice): ids above 2^63-1 and UUIDs fail the row */
    s->fields[1].dim = 3;
    s->fields[0].type = VM_T_INT64;
    assert_int_equal(vm_batch_new(s, 2, &b, &e), VM_OK);
    assert_int_equal(vm_qd_plan_columns(&info, "id", b, &rc, &n, &e), VM_OK);
    vm_qd_scratch scr = {0};
    const char *p1 = "{\"id\":9223372036854775807,\"vector\":{\"text\":[1,2,3]}}";
    vm_json_span sp = {0, strlen(p1), VM_JSON_OBJECT};
    assert_int_equal(vm_qd_add_point(&info, rc, n, p1, sp, b, &scr, &e), VM_OK);
    assert_true(vm_batch_get_int(b, 0, 0) == INT64_MAX);
    const char *p2 = "{\"id\":9223372036854775808,\"vector\":{\"text\":[1,2,3]}}";
    sp.len = strlen(p2);
    assert_int_equal(vm_qd_add_point(&info, rc, n, p2, sp, b, &scr, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "9223372036854775808 does not fit Int64"));
    assert_int_equal(b->nrows, 1);
    vm_free(rc);
    vm_qd_scratch_release(&scr);
    vm_batch_free(b);
    vm_schema_free(s);
    vm_qd_info_release(&info);
}

static int new_source(const char *conf_json, vm_err *e)
{
    json_error_t je;
    json_t *conf = json_loads(conf_json, 0, &je);
    assert_non_null(conf);
    vm_source *src = NULL;
    int rc = vm_source_new("qdrant", conf, &src, e);
    json_decref(conf);
    vm_source_free(src);
    return rc;
}

static void test_config(void **st)
{
    (void)st;
    vm_err e;
    /* init contacts nothing: a good block is accepted offline */
    assert_int_equal(new_source("{\"url\":\"http://127.0.0.1:1/\",\"collection\":\"a b\","
                                "\"split\":\"scan\",\"retries\":0}",
                                &e),
                     VM_OK);
    assert_int_equal(new_source("{\"url\":\"ftp://h\",\"collection\":\"c\"}", &e),
                     VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "source.url"));
    assert_int_equal(new_source("{\"url\":\"http://h\",\"collection\":\"c\",\"bogus\":1}", &e),
                     VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "bogus"));
    assert_int_equal(new_source("{\"url\":\"http://h\"}", &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "collection"));
    assert_int_equal(new_source("{\"url\":\"http://h\",\"collection\":\"c\",\"split\":\"x\"}",
                                &e),
                     VM_ERR_INVALID);
    assert_int_equal(new_source("{\"url\":\"http://h\",\"collection\":\"c\","
                                "\"api_key\":\"abcd\\r\\nX-Evil: 1\"}",
                                &e),
                     VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "control character"));
    assert_null(strstr(e.msg, "Evil"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),          cmocka_unit_test(test_ntasks),
        cmocka_unit_test(test_split_u64),    cmocka_unit_test(test_split_uuid),
        cmocka_unit_test(test_space_bounds), cmocka_unit_test(test_info_schema),
        cmocka_unit_test(test_error_text),   cmocka_unit_test(test_page),
        cmocka_unit_test(test_points),       cmocka_unit_test(test_unnamed),
        cmocka_unit_test(test_columns),      cmocka_unit_test(test_config),
        cmocka_unit_test(test_fast_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

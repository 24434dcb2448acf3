/*
 * test_json_scan.c - the streaming JSON scanner: validation (escapes,
 * surrogates, UTF-8, numbers, nesting), path lookup spans, member removal
 * that keeps every other byte, unescaping and exact integer reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_json_scan.h"
#include "vm_mem.h"

static void test_check_valid(void **state)
{
    (void)state;
    const char *ok[] = {
        "0", "-0", "1.10", "1e400", "-12.5E-3", "12345678901234567890123", "true", "false",
        "null", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83d\\ude00\"",
        "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"", " \t\r\n{ \"a\" : [ 1 , [ [ ] ] , { } ] } \n",
        "[]", "{}", "[[[[1]]],{\"x\":{\"y\":null}}]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        vm_err e;
        int rc = vm_json_check(ok[i], strlen(ok[i]), NULL, &e);
        if (rc != VM_OK)
            fail_msg("'%s' refused: %s", ok[i], e.msg);
    }
    vm_json_span sp;
    vm_err e;
    assert_int_equal(vm_json_check("  [1, 2] ", 9, &sp, &e), VM_OK);
    assert_int_equal(sp.off, 2);
    assert_int_equal(sp.len, 6);
    assert_int_equal(sp.kind, VM_JSON_ARRAY);
}

static void test_check_invalid(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"", "expected a value"},
        {"   ", "expected a value"},
        {"[1,]", "expected a value"},
        {"{\"a\":1,}", "expected a string key"},
        {"{\"a\" 1}", "expected ':'"},
        {"{a:1}", "expected a string key"},
        {"[1 2]", "expected ',' or ']'"},
        {"\"abc", "unterminated string"},
        {"\"a\\x\"", "invalid escape"},
        {"\"\\u12g4\"", "invalid escape"},
        {"\"\\ud800\"", "high surrogate"},
        {"\"\\ud800\\u0041\"", "high surrogate"},
        {"\"\\udc00\"", "lone low surrogate"},
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\xc0\x80\"", "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8"}, /* encoded surrogate */
        {"\"\xe2\x82\"", "invalid UTF-8"},
        {"\"a\nb\"", "control character"},
        {"01", "invalid number"},
        {"1.", "invalid number"},
        {"-", "invalid number"},
        {".5", "expected a value"},
        {"1e", "invalid number"},
        {"+1", "expected a value"},
        {"tru", "expected a value"},
        {"nul", "expected a value"},
        {"1 2", "text after the value"},
        {"{} x", "text after the value"},
        {"NaN", "expected a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vm_err e;
        memset(&e, 0, sizeof e);
        int rc = vm_json_check(bad[i].text, strlen(bad[i].text), NULL, &e);
        if (rc != VM_ERR_INVALID)
            fail_msg("'%s' accepted", bad[i].text);
        if (!strstr(e.msg, bad[i].msg))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, e.msg, bad[i].msg);
    }
    /* nesting limit */
    size_t n = 2 * (VM_JSON_MAX_DEPTH + 1);
    char *deep = vm_malloc(n + 1);
    memset(deep, '[', n / 2);
    memset(deep + n / 2, ']', n / 2);
    deep[n] = '\0';
    vm_err e;
    assert_int_equal(vm_json_check(deep, n, NULL, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "nested deeper"));
    /* exactly at the limit is fine */
    assert_int_equal(vm_json_check(deep + 1, n - 2, NULL, &e), VM_OK);
    vm_free(deep);
}

#define PATH(...) ((const char *const[]){__VA_ARGS__})

static void test_find(void **state)
{
    (void)state;
    const char *s = "{ \"a\" : {\"b\": 1.10, \"c\": [1, {\"b\": 2}], \"d\": \"x\"},"
                    " \"e\": 12345678901234567890, \"a\\u0062\": true, \"n\": null,"
                    " \"s\": \"str\", \"o\": {\"p\": {}} }";
    vm_json_path paths[] = {
        {PATH("a", "b"), 2},  {PATH("a", "c"), 2}, {PATH("e"), 1},     {PATH("ab"), 1},
        {PATH("n"), 1},       {PATH("zz"), 1},     {PATH("s", "x"), 2}, {PATH("a", "c", "b"), 3},
        {PATH("o", "p"), 2},  {NULL, 0},           {PATH("a", "d"), 2}, {PATH("o", "p", "q"), 3},
    };
    size_t np = sizeof paths / sizeof paths[0];
    vm_json_span out[12];
    vm_err e;
    assert_int_equal(vm_json_find(s, strlen(s), paths, np, out, &e), VM_OK);
    assert_int_equal(out[0].kind, VM_JSON_NUMBER);
    assert_memory_equal(s + out[0].off, "1.10", 4);
    assert_int_equal(out[0].len, 4);
    assert_int_equal(out[1].kind, VM_JSON_ARRAY);
    assert_int_equal(out[1].len, strlen("[1, {\"b\": 2}]"));
    assert_memory_equal(s + out[1].off, "[1, {\"b\": 2}]", out[1].len);
    assert_int_equal(out[2].kind, VM_JSON_NUMBER);
    assert_memory_equal(s + out[2].off, "12345678901234567890", 20);
    assert_int_equal(out[3].kind, VM_JSON_TRUE); /* escaped key "a\u0062" is "ab" */
    assert_int_equal(out[4].kind, VM_JSON_NULL);
    assert_int_equal(out[5].kind, VM_JSON_MISSING);
    assert_int_equal(out[6].kind, VM_JSON_MISSING); /* "s" is not an object */
    assert_int_equal(out[7].kind, VM_JSON_MISSING); /* no array indexes */
    assert_int_equal(out[8].kind, VM_JSON_OBJECT);
    assert_int_equal(out[9].kind, VM_JSON_OBJECT); /* depth 0: the whole value */
    assert_int_equal(out[9].off, 0);
    assert_int_equal(out[9].len, strlen(s));
    assert_int_equal(out[10].kind, VM_JSON_STRING);
    assert_memory_equal(s + out[10].off, "\"x\"", 3);
    assert_int_equal(out[11].kind, VM_JSON_MISSING);

    /* duplicate keys: the last copy counts, also for deeper paths */
    const char *d = "{\"a\":{\"b\":1},\"a\":5}";
    vm_json_path p2[] = {{PATH("a", "b"), 2}, {PATH("a"), 1}};
    assert_int_equal(vm_json_find(d, strlen(d), p2, 2, out, &e), VM_OK);
    assert_int_equal(out[0].kind, VM_JSON_MISSING);
    assert_int_equal(out[1].kind, VM_JSON_NUMBER);
    const char *d2 = "{\"a\":5,\"a\":{\"b\":1}}";
    assert_int_equal(vm_json_find(d2, strlen(d2), p2, 2, out, &e), VM_OK);
    assert_int_equal(out[0].kind, VM_JSON_NUMBER);

    /* non-object top level: nothing found, but validated */
    assert_int_equal(vm_json_find("[1,2]", 5, p2, 2, out, &e), VM_OK);
    assert_int_equal(out[0].kind, VM_JSON_MISSING);
    assert_int_equal(vm_json_find("[1,2", 4, p2, 2, out, &e), VM_ERR_INVALID);
    /* the whole text is validated, also after the value was found */
    const char *tail = "{\"a\":1, \"b\": tru}";
    assert_int_equal(vm_json_find(tail, strlen(tail), p2 + 1, 1, out, &e), VM_ERR_INVALID);

    /* keys with surrogate pairs and escaped quotes */
    const char *k = "{\"\\ud83d\\ude00\":1,\"q\\\"\":2}";
    vm_json_path p3[] = {{PATH("\xf0\x9f\x98\x80"), 1}, {PATH("q\""), 1}, {PATH("q"), 1}};
    assert_int_equal(vm_json_find(k, strlen(k), p3, 3, out, &e), VM_OK);
    assert_int_equal(out[0].kind, VM_JSON_NUMBER);
    assert_memory_equal(k + out[0].off, "1", 1);
    assert_int_equal(out[1].kind, VM_JSON_NUMBER);
    assert_memory_equal(k + out[1].off, "2", 1);
    assert_int_equal(out[2].kind, VM_JSON_MISSING);
}

static void test_find_many_paths(void **state)
{
    (void)state;
    /* 70 paths: more than one pass */
    char text[2048];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\":%d", i ? "," : "", i, i * 3);
    n += (size_t)snprintf(text + n, sizeof text - n, "}");
    char keys[70][8];
    const char *kp[70];
    vm_json_path paths[70];
    for (int i = 0; i < 70; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", 69 - i);
        kp[i] = keys[i];
        paths[i] = (vm_json_path){&kp[i], 1};
    }
    vm_json_span out[70];
    vm_err e;
    assert_int_equal(vm_json_find(text, n, paths, 70, out, &e), VM_OK);
    for (int i = 0; i < 70; i++) {
        char want[16];
        int wl = snprintf(want, sizeof want, "%d", (69 - i) * 3);
        assert_int_equal(out[i].kind, VM_JSON_NUMBER);
        assert_int_equal(out[i].len, (size_t)wl);
        assert_memory_equal(text + out[i].off, want, (size_t)wl);
    }
    /* and removal of all 70 leaves "{}" */
    vm_buf b;
    vm_buf_init(&b);
    size_t removed = 0;
    assert_int_equal(vm_json_remove(text, n, paths, 70, &b, &removed, &e), VM_OK);
    assert_string_equal(vm_buf_cstr(&b), "{}");
    assert_int_equal(removed, 70);
    vm_buf_release(&b);
}

static void rm_eq(const char *in, const vm_json_path *paths, size_t np, const char *want,
                  size_t want_removed)
{
    vm_buf b;
    vm_err e;
    size_t removed = 99;
    vm_buf_init(&b);
    vm_buf_puts(&b, "prefix:"); /* appends, never overwrites */
    int rc = vm_json_remove(in, strlen(in), paths, np, &b, &removed, &e);
    if (rc != VM_OK)
        fail_msg("remove from '%s': %s", in, e.msg);
    assert_true(strncmp(vm_buf_cstr(&b), "prefix:", 7) == 0);
    if (strcmp(vm_buf_cstr(&b) + 7, want) != 0)
        fail_msg("remove from '%s': got '%s', want '%s'", in, vm_buf_cstr(&b) + 7, want);
    assert_int_equal(removed, want_removed);
    vm_buf_release(&b);
}

static void test_remove(void **state)
{
    (void)state;
    vm_json_path ab[] = {{PATH("a", "b"), 2}};
    vm_json_path b1[] = {{PATH("b"), 1}};
    /* every other byte as written: number spellings, spacing, order */
    rm_eq("{ \"x\": 1.10 ,  \"b\" : 2, \"y\":1e400 , \"z\" : -0.0E+5 }", b1, 1,
          "{ \"x\": 1.10, \"y\":1e400 , \"z\" : -0.0E+5 }", 1);
    rm_eq("{\"b\":2, \"x\":1.10}", b1, 1, "{\"x\":1.10}", 1);
    rm_eq("{\"x\":1.10,\"b\":2}", b1, 1, "{\"x\":1.10}", 1);
    rm_eq(" {\"x\":1, \"b\":[1,{\"b\":1}]} \n", b1, 1, " {\"x\":1} \n", 1);
    /* nothing to remove: byte for byte the same */
    rm_eq("{\"x\" :\t12345678901234567890, \"s\":\"\\u00e9\"}", b1, 1,
          "{\"x\" :\t12345678901234567890, \"s\":\"\\u00e9\"}", 0);
    /* nested, with the parent left empty pruned, cascading */
    rm_eq("{\"a\":{\"b\":1},\"c\":3}", ab, 1, "{\"c\":3}", 2);
    rm_eq("{\"a\":{\"b\":1,\"k\":2},\"c\":3}", ab, 1, "{\"a\":{\"k\":2},\"c\":3}", 1);
    vm_json_path deep[] = {{PATH("a", "b", "c"), 3}, {PATH("a", "d"), 2}};
    rm_eq("{\"a\":{\"b\":{\"c\":1},\"d\":[]},\"e\":0}", deep, 2, "{\"e\":0}", 4);
    rm_eq("{\"a\":{\"b\":{\"c\":1, \"x\":null},\"d\":[]},\"e\":0}", deep, 2,
          "{\"a\":{\"b\":{\"x\":null}},\"e\":0}", 2);
    /* a whole object emptied by the removal becomes {} */
    rm_eq("  {\"a\":{\"b\":1}}  ", ab, 1, "{}", 2);
    rm_eq("{\"b\": 1}", b1, 1, "{}", 1);
    /* objects that were empty before stay */
    rm_eq("{\"a\":{},\"k\":{}}", ab, 1, "{\"a\":{},\"k\":{}}", 0);
    /* a parent that is not an object is left alone */
    rm_eq("{\"a\":[{\"b\":1}],\"c\":1}", ab, 1, "{\"a\":[{\"b\":1}],\"c\":1}", 0);
    rm_eq("{\"a\":\"b\"}", ab, 1, "{\"a\":\"b\"}", 0);
    /* non-object top level passes unchanged */
    rm_eq("[1, 2.50]", b1, 1, "[1, 2.50]", 0);
    rm_eq("\"text\"", b1, 1, "\"text\"", 0);
    rm_eq("42.0", b1, 1, "42.0", 0);
    /* duplicate keys: every copy goes */
    rm_eq("{\"b\":1,\"x\":2,\"b\":3}", b1, 1, "{\"x\":2}", 2);
    /* escaped key matches */
    rm_eq("{\"\\u0062\":1,\"x\":2}", b1, 1, "{\"x\":2}", 1);
    /* several paths, overlapping */
    vm_json_path two[] = {{PATH("a"), 1}, {PATH("a", "b"), 2}};
    rm_eq("{\"a\":{\"b\":1,\"c\":2},\"z\":1}", two, 2, "{\"z\":1}", 1);
    /* no paths at all */
    rm_eq("{\"a\":1}", NULL, 0, "{\"a\":1}", 0);

    /* invalid input fails, output untouched beyond what was appended */
    vm_buf b;
    vm_err e;
    vm_buf_init(&b);
    assert_int_equal(vm_json_remove("{\"a\":1,\"b\":}", 12, b1, 1, &b, NULL, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "invalid JSON"));
    vm_buf_clear(&b);
    assert_int_equal(vm_json_remove("{\"b\":\"\\q\"}", 10, b1, 1, &b, NULL, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "invalid escape"));
    vm_buf_release(&b);
}

static void unesc_eq(const char *lit, const char *want, size_t want_len)
{
    vm_buf b;
    vm_err e;
    vm_buf_init(&b);
    int rc = vm_json_unescape(lit, strlen(lit), &b, &e);
    if (rc != VM_OK)
        fail_msg("unescape %s: %s", lit, e.msg);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.len ? b.data : "", want, want_len);
    vm_buf_release(&b);
}

static void test_unescape(void **state)
{
    (void)state;
    unesc_eq("\"\"", "", 0);
    unesc_eq("\"plain\"", "plain", 5);
    unesc_eq("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t", 12);
    unesc_eq("\"\\u00e9\\u20AC\"", "\xc3\xa9\xe2\x82\xac", 5);
    unesc_eq("\"x\\ud83d\\ude00y\"", "x\xf0\x9f\x98\x80y", 6);
    unesc_eq("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
    unesc_eq("\"a\\u0000b\"", "a\0b", 3);
    unesc_eq("\"h\xc3\xa9\"", "h\xc3\xa9", 3);
    vm_buf b;
    vm_err e;
    vm_buf_init(&b);
    assert_int_equal(vm_json_unescape("\"\\ud83d\"", 8, &b, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "surrogate"));
    assert_int_equal(vm_json_unescape("\"\\ude00\\ud83d\"", 14, &b, &e), VM_ERR_INVALID);
    assert_int_equal(vm_json_unescape("\"\\a\"", 4, &b, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "invalid escape"));
    assert_int_equal(vm_json_unescape("\"\xf8\x88\x80\x80\x80\"", 7, &b, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "UTF-8"));
    assert_int_equal(vm_json_unescape("42", 2, &b, &e), VM_ERR_INVALID);
    assert_int_equal(vm_json_unescape("\"a\" ", 4, &b, &e), VM_ERR_INVALID);
    vm_buf_release(&b);
}

static void test_numbers(void **state)
{
    (void)state;
    struct {
        const char *t;
        vm_json_num_rc rc;
        int64_t v;
    } ints[] = {
        {"0", VM_JSON_NUM_OK, 0},
        {"-0", VM_JSON_NUM_OK, 0},
        {"42", VM_JSON_NUM_OK, 42},
        {"3.0", VM_JSON_NUM_OK, 3},
        {"30e-1", VM_JSON_NUM_OK, 3},
        {"3e2", VM_JSON_NUM_OK, 300},
        {"0.03E+2", VM_JSON_NUM_OK, 3},
        {"-1.500e3", VM_JSON_NUM_OK, -1500},
        {"1.5", VM_JSON_NUM_FRACTION, 0},
        {"1e-1", VM_JSON_NUM_FRACTION, 0},
        {"1e-99999999999999", VM_JSON_NUM_FRACTION, 0},
        {"0e99999999999999", VM_JSON_NUM_OK, 0},
        {"0.000", VM_JSON_NUM_OK, 0},
        {"9223372036854775807", VM_JSON_NUM_OK, INT64_MAX},
        {"-9223372036854775808", VM_JSON_NUM_OK, INT64_MIN},
        {"9223372036854775808", VM_JSON_NUM_RANGE, 0},
        {"-9223372036854775809", VM_JSON_NUM_RANGE, 0},
        {"12345678901234567890", VM_JSON_NUM_RANGE, 0},
        {"1e19", VM_JSON_NUM_RANGE, 0},
        {"1e18", VM_JSON_NUM_OK, 1000000000000000000LL},
        {"92233720368547758070e-1", VM_JSON_NUM_OK, INT64_MAX},
        {"1e99999999999999999999", VM_JSON_NUM_RANGE, 0},
        {"00", VM_JSON_NUM_SYNTAX, 0},
        {"1.", VM_JSON_NUM_SYNTAX, 0},
        {"+1", VM_JSON_NUM_SYNTAX, 0},
        {"", VM_JSON_NUM_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v = -7;
        vm_json_num_rc rc = vm_json_number_i64(ints[i].t, strlen(ints[i].t), &v);
        if (rc != ints[i].rc)
            fail_msg("'%s': rc %d, want %d", ints[i].t, rc, ints[i].rc);
        if (rc == VM_JSON_NUM_OK && v != ints[i].v)
            fail_msg("'%s': %lld", ints[i].t, (long long)v);
    }
    double d;
    assert_int_equal(vm_json_number_f64("1.10", 4, &d), VM_JSON_NUM_OK);
    assert_true(d == 1.1);
    assert_int_equal(vm_json_number_f64("-2.5e-3", 7, &d), VM_JSON_NUM_OK);
    assert_true(d == -2.5e-3);
    assert_int_equal(vm_json_number_f64("1e400", 5, &d), VM_JSON_NUM_RANGE);
    assert_int_equal(vm_json_number_f64("1e-400", 6, &d), VM_JSON_NUM_OK);
    assert_true(d == 0.0);
    assert_int_equal(vm_json_number_f64("abc", 3, &d), VM_JSON_NUM_SYNTAX);
    /* a long number (heap copy) */
    char longnum[401];
    memset(longnum, '1', 400);
    longnum[400] = '\0';
    assert_int_equal(vm_json_number_f64(longnum, 400, &d), VM_JSON_NUM_RANGE);
    longnum[0] = '0';
    longnum[1] = '.';
    assert_int_equal(vm_json_number_f64(longnum, 400, &d), VM_JSON_NUM_OK);
    assert_true(d > 0.11 && d < 0.12);
}

static void test_iter(void **state)
{
    (void)state;
    const char *s = "{\"a\": [ 1 , \"x,y\" , [2,3], {\"k\":[]} , null ] }";
    vm_json_path p[] = {{PATH("a"), 1}};
    vm_json_span sp, el;
    vm_err e;
    assert_int_equal(vm_json_find(s, strlen(s), p, 1, &sp, &e), VM_OK);
    vm_json_iter it;
    vm_json_iter_init(&it, s, sp);
    const char *want[] = {"1", "\"x,y\"", "[2,3]", "{\"k\":[]}", "null"};
    vm_json_kind kinds[] = {VM_JSON_NUMBER, VM_JSON_STRING, VM_JSON_ARRAY, VM_JSON_OBJECT,
                            VM_JSON_NULL};
    size_t n = 0;
    while (vm_json_iter_next(&it, &el)) {
        assert_true(n < 5);
        assert_int_equal(el.kind, kinds[n]);
        assert_int_equal(el.len, strlen(want[n]));
        assert_memory_equal(s + el.off, want[n], el.len);
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(vm_json_check("[ ]", 3, &sp, &e), VM_OK);
    vm_json_iter_init(&it, "[ ]", sp);
    assert_false(vm_json_iter_next(&it, &el));
    assert_string_equal(vm_json_kind_name(VM_JSON_OBJECT), "an object");
    assert_string_equal(vm_json_kind_name(VM_JSON_TRUE), "a boolean");
}

static void test_members(void **state)
{
    (void)state;
    const char *t = "{ \"a\" : 1 , \"b\\u0063\":[1,{\"x\":2}],\"\":null }";
    vm_json_span v, k, val;
    vm_err err;
    assert_int_equal(vm_json_check(t, strlen(t), &v, &err), VM_OK);
    vm_json_iter it;
    vm_json_iter_init(&it, t, v);
    assert_true(vm_json_member_next(&it, &k, &val));
    assert_true(vm_json_key_eq(t, k, "a"));
    assert_false(vm_json_key_eq(t, k, "ab"));
    assert_int_equal(val.kind, VM_JSON_NUMBER);
    assert_memory_equal(t + val.off, "1", 1);
    assert_true(vm_json_member_next(&it, &k, &val));
    assert_true(vm_json_key_eq(t, k, "bc")); /* escaped key, compared unescaped */
    assert_int_equal(val.kind, VM_JSON_ARRAY);
    assert_int_equal(val.len, 11);
    assert_true(vm_json_member_next(&it, &k, &val));
    assert_true(vm_json_key_eq(t, k, ""));
    assert_int_equal(val.kind, VM_JSON_NULL);
    assert_false(vm_json_member_next(&it, &k, &val));
    const char *e = "{}";
    assert_int_equal(vm_json_check(e, 2, &v, &err), VM_OK);
    vm_json_iter_init(&it, e, v);
    assert_false(vm_json_member_next(&it, &k, &val));
}

static void test_number_f32(void **state)
{
    (void)state;
    float f;
    assert_int_equal(vm_json_number_f32("0.1", 3, &f), VM_JSON_NUM_OK);
    assert_true(f == 0.1f);
    /* a double-rounding case: strtod then (float) would give another float */
    const char *dr = "1.00000005960464477550";
    assert_int_equal(vm_json_number_f32(dr, strlen(dr), &f), VM_JSON_NUM_OK);
    assert_true(f == strtof(dr, NULL));
    assert_int_equal(vm_json_number_f32("-0", 2, &f), VM_JSON_NUM_OK);
    assert_true(signbit(f));
    assert_int_equal(vm_json_number_f32("1e-50", 5, &f), VM_JSON_NUM_OK); /* underflow: 0 */
    assert_int_equal(vm_json_number_f32("3.5e38", 6, &f), VM_JSON_NUM_RANGE);
    assert_int_equal(vm_json_number_f32("1e", 2, &f), VM_JSON_NUM_SYNTAX);
    assert_int_equal(vm_json_number_f32("0x10", 4, &f), VM_JSON_NUM_SYNTAX);
    assert_int_equal(vm_json_number_f32("inf", 3, &f), VM_JSON_NUM_SYNTAX);
    assert_int_equal(vm_json_number_f32(" 1", 2, &f), VM_JSON_NUM_SYNTAX);
    assert_int_equal(vm_json_number_f32("", 0, &f), VM_JSON_NUM_SYNTAX);
    char longnum[200];
    memset(longnum, '1', sizeof longnum - 1);
    longnum[0] = '0';
    longnum[1] = '.';
    longnum[sizeof longnum - 1] = '\0';
    assert_int_equal(vm_json_number_f32(longnum, strlen(longnum), &f), VM_JSON_NUM_OK);
    assert_true(f == strtof(longnum, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_valid), cmocka_unit_test(test_check_invalid),
        cmocka_unit_test(test_find),        cmocka_unit_test(test_find_many_paths),
        cmocka_unit_test(test_remove),      cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_numbers),     cmocka_unit_test(test_iter),
        cmocka_unit_test(test_members),     cmocka_unit_test(test_number_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

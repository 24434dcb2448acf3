/*
 * test_transform.c - mapping programs over batches: the conversion table
 * and every conversion at run time (values, failures, counters), lifts
 * (nested paths, missing keys, nulls, defaults, non-object parents), rest
 * (bytes kept as written, empty parents pruned, the dynamic field), const
 * steps, borrowed columns (pointer equality with the input), build-time
 * validation naming the step, the identity program and target_of.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vm_buf.h"
#include "vm_mem.h"
#include "vm_transform.h"

#define assert_msg_has(e, sub)                                                          \
    do {                                                                                \
        if (!strstr((e).msg, (sub)))                                                    \
            fail_msg("message '%s' lacks '%s'", (e).msg, (sub));                        \
    } while (0)

static vm_schema *sch(const vm_field *fs, size_t n, bool dyn)
{
    vm_schema *s = vm_schema_new("t");
    assert_non_null(s);
    s->enable_dynamic = dyn;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(vm_schema_add(s, &fs[i], NULL), VM_OK);
    return s;
}
#define SCH(dyn, ...)                                                                   \
    sch((const vm_field[]){__VA_ARGS__},                                                \
        sizeof((const vm_field[]){__VA_ARGS__}) / sizeof(vm_field), dyn)

/* The batch a source of schema s fills: its fields, plus "$meta" when the
 * dynamic field is on. */
static vm_batch *src_batch(const vm_schema *s)
{
    vm_schema *c = vm_schema_clone(s);
    assert_non_null(c);
    if (s->enable_dynamic) {
        vm_field m = {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true};
        assert_int_equal(vm_schema_add(c, &m, NULL), VM_OK);
    }
    vm_batch *b;
    vm_err e;
    assert_int_equal(vm_batch_new(c, 2, &b, &e), VM_OK);
    vm_schema_free(c);
    return b;
}

static int mk_t(const char *prog, const vm_schema *src, const vm_schema *dst, vm_transform **t,
                vm_err *e)
{
    json_error_t je;
    json_t *j = json_loads(prog, 0, &je);
    if (!j)
        fail_msg("bad test program: %s: %s", je.text, prog);
    memset(e, 0, sizeof *e);
    int rc = vm_transform_new(j, src, dst, t, e);
    json_decref(j);
    return rc;
}

static vm_transform *mk_ok(const char *prog, const vm_schema *src, const vm_schema *dst)
{
    vm_transform *t = NULL;
    vm_err e;
    if (mk_t(prog, src, dst, &t, &e) != VM_OK)
        fail_msg("build failed: %s", e.msg);
    return t;
}

static size_t addrow(vm_batch *b)
{
    size_t r;
    vm_err e;
    assert_int_equal(vm_batch_add_row(b, &r, &e), VM_OK);
    return r;
}

static int col(const vm_batch *b, const char *name)
{
    int c = vm_batch_col(b, name);
    if (c < 0)
        fail_msg("no column '%s'", name);
    return c;
}

static void put_str(vm_batch *b, const char *c, size_t r, const char *s)
{
    vm_err e;
    assert_int_equal(vm_batch_set_str(b, (size_t)col(b, c), r, s, strlen(s), &e), VM_OK);
}

static void put_int(vm_batch *b, const char *c, size_t r, int64_t v)
{
    vm_err e;
    assert_int_equal(vm_batch_set_int(b, (size_t)col(b, c), r, v, &e), VM_OK);
}

static void put_dbl(vm_batch *b, const char *c, size_t r, double v)
{
    vm_err e;
    assert_int_equal(vm_batch_set_double(b, (size_t)col(b, c), r, v, &e), VM_OK);
}

static void str_eq(const vm_batch *b, const char *c, size_t r, const char *want)
{
    size_t ci = (size_t)col(b, c), len;
    if (want == NULL) {
        if (!vm_batch_is_null(b, ci, r))
            fail_msg("column '%s' row %zu: not null", c, r);
        return;
    }
    if (vm_batch_is_null(b, ci, r))
        fail_msg("column '%s' row %zu: null, want '%s'", c, r, want);
    const char *s = vm_batch_get_str(b, ci, r, &len);
    if (len != strlen(want) || memcmp(s, want, len) != 0)
        fail_msg("column '%s' row %zu: '%.*s', want '%s'", c, r, (int)len, s, want);
}

static int64_t get_int(const vm_batch *b, const char *c, size_t r)
{
    size_t ci = (size_t)col(b, c);
    assert_false(vm_batch_is_null(b, ci, r));
    return vm_batch_get_int(b, ci, r);
}

static double get_dbl(const vm_batch *b, const char *c, size_t r)
{
    size_t ci = (size_t)col(b, c);
    assert_false(vm_batch_is_null(b, ci, r));
    return vm_batch_get_double(b, ci, r);
}

static bool is_null(const vm_batch *b, const char *c, size_t r)
{
    return vm_batch_is_null(b, (size_t)col(b, c), r);
}

/* ---------------------------------------------------------------------- */
/* one-column conversion fixture: source field "s" -> target field "d"     */

typedef struct cfx {
    vm_schema *src, *dst;
    vm_batch *in;
    vm_transform *t;
    vm_err e;
} cfx;

static int cfx_try(cfx *f, vm_field s, vm_field d, const char *extra)
{
    memset(f, 0, sizeof *f);
    s.name = "s";
    d.name = "d";
    f->src = sch(&s, 1, false);
    f->dst = sch(&d, 1, false);
    f->in = src_batch(f->src);
    char p[512];
    snprintf(p, sizeof p, "{\"steps\":[{\"op\":\"convert\",\"target\":\"d\",\"source\":\"s\"%s}]}",
             extra ? extra : "");
    return mk_t(p, f->src, f->dst, &f->t, &f->e);
}

static void cfx_new(cfx *f, vm_field s, vm_field d, const char *extra)
{
    if (cfx_try(f, s, d, extra) != VM_OK)
        fail_msg("build failed: %s", f->e.msg);
}

static void cfx_free(cfx *f)
{
    vm_transform_free(f->t);
    vm_batch_free(f->in);
    vm_schema_free(f->src);
    vm_schema_free(f->dst);
}

static const vm_batch *cfx_run(cfx *f)
{
    const vm_batch *out = NULL;
    if (vm_transform_apply(f->t, f->in, &out, &f->e) != VM_OK)
        fail_msg("apply failed: %s", f->e.msg);
    assert_non_null(out);
    assert_int_equal(out->nrows, f->in->nrows);
    return out;
}

/* Apply must fail with a message holding `sub`. */
static void cfx_fail(cfx *f, const char *sub)
{
    const vm_batch *out = (const vm_batch *)1;
    int rc = vm_transform_apply(f->t, f->in, &out, &f->e);
    if (rc != VM_ERR_INVALID)
        fail_msg("apply did not fail (rc %d), wanted '%s'", rc, sub);
    assert_null(out);
    assert_msg_has(f->e, sub);
}

static vm_transform_stats stats(const cfx *f)
{
    vm_transform_stats s;
    vm_transform_stats_get(f->t, &s);
    return s;
}

#define FT(t, ...) ((vm_field){.type = (t), __VA_ARGS__})

/* ---------------------------------------------------------------------- */

static void test_conversion_table(void **state)
{
    (void)state;
    struct {
        vm_field a, b;
        vm_conv_kind k;
    } rows[] = {
        {FT(VM_T_INT32, .name = 0), FT(VM_T_INT32, .name = 0), VM_CONV_EXACT},
        {FT(VM_T_VARCHAR, .max_length = 100), FT(VM_T_VARCHAR, .max_length = 50), VM_CONV_CHECKED},
        {FT(VM_T_VARCHAR, .max_length = 50), FT(VM_T_VARCHAR, .max_length = 100), VM_CONV_EXACT},
        {FT(VM_T_VARCHAR, .max_length = 0), FT(VM_T_VARCHAR, .max_length = 100), VM_CONV_CHECKED},
        {FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 10),
         FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 5), VM_CONV_CHECKED},
        {FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 5),
         FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 10), VM_CONV_EXACT},
        {FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 5),
         FT(VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 5), VM_CONV_NONE},
        {FT(VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_capacity = 5, .max_length = 20),
         FT(VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_capacity = 5, .max_length = 10),
         VM_CONV_CHECKED},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_EXACT},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 8), VM_CONV_NONE},
        {FT(VM_T_BINARY_VECTOR, .dim = 8), FT(VM_T_BINARY_VECTOR, .dim = 16), VM_CONV_NONE},
        {FT(VM_T_SPARSE_FLOAT_VECTOR), FT(VM_T_SPARSE_FLOAT_VECTOR), VM_CONV_EXACT},
        {FT(VM_T_BOOL), FT(VM_T_INT8), VM_CONV_EXACT},
        {FT(VM_T_BOOL), FT(VM_T_INT64), VM_CONV_EXACT},
        {FT(VM_T_INT8), FT(VM_T_INT16), VM_CONV_EXACT},
        {FT(VM_T_INT32), FT(VM_T_INT64), VM_CONV_EXACT},
        {FT(VM_T_INT64), FT(VM_T_INT32), VM_CONV_CHECKED},
        {FT(VM_T_INT16), FT(VM_T_INT8), VM_CONV_CHECKED},
        {FT(VM_T_INT8), FT(VM_T_FLOAT), VM_CONV_EXACT},
        {FT(VM_T_INT16), FT(VM_T_FLOAT), VM_CONV_EXACT},
        {FT(VM_T_INT32), FT(VM_T_FLOAT), VM_CONV_LOSSY},
        {FT(VM_T_INT64), FT(VM_T_FLOAT), VM_CONV_LOSSY},
        {FT(VM_T_INT8), FT(VM_T_DOUBLE), VM_CONV_EXACT},
        {FT(VM_T_INT32), FT(VM_T_DOUBLE), VM_CONV_EXACT},
        {FT(VM_T_INT64), FT(VM_T_DOUBLE), VM_CONV_LOSSY},
        {FT(VM_T_FLOAT), FT(VM_T_DOUBLE), VM_CONV_EXACT},
        {FT(VM_T_DOUBLE), FT(VM_T_FLOAT), VM_CONV_LOSSY},
        {FT(VM_T_FLOAT), FT(VM_T_INT32), VM_CONV_CHECKED},
        {FT(VM_T_DOUBLE), FT(VM_T_INT64), VM_CONV_CHECKED},
        {FT(VM_T_BOOL), FT(VM_T_VARCHAR), VM_CONV_EXACT},
        {FT(VM_T_INT64), FT(VM_T_VARCHAR), VM_CONV_EXACT},
        {FT(VM_T_FLOAT), FT(VM_T_VARCHAR), VM_CONV_EXACT},
        {FT(VM_T_DOUBLE), FT(VM_T_VARCHAR), VM_CONV_EXACT},
        {FT(VM_T_VARCHAR), FT(VM_T_INT64), VM_CONV_CHECKED},
        {FT(VM_T_VARCHAR), FT(VM_T_INT8), VM_CONV_CHECKED},
        {FT(VM_T_VARCHAR), FT(VM_T_FLOAT), VM_CONV_LOSSY},
        {FT(VM_T_VARCHAR), FT(VM_T_DOUBLE), VM_CONV_LOSSY},
        {FT(VM_T_VARCHAR), FT(VM_T_BOOL), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_VARCHAR), VM_CONV_EXACT},
        {FT(VM_T_BOOL), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_INT64), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_FLOAT), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_DOUBLE), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_VARCHAR), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_ARRAY, .element_type = VM_T_INT64), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_JSON), FT(VM_T_JSON), VM_CONV_EXACT},
        {FT(VM_T_JSON), FT(VM_T_BOOL), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_INT8), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_FLOAT), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_DOUBLE), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_ARRAY, .element_type = VM_T_INT64), VM_CONV_CHECKED},
        {FT(VM_T_JSON), FT(VM_T_FLOAT_VECTOR, .dim = 2), VM_CONV_NONE},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_FLOAT16_VECTOR, .dim = 4), VM_CONV_LOSSY},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_BFLOAT16_VECTOR, .dim = 4), VM_CONV_LOSSY},
        {FT(VM_T_FLOAT16_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_EXACT},
        {FT(VM_T_BFLOAT16_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_EXACT},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_FLOAT16_VECTOR, .dim = 8), VM_CONV_NONE},
        {FT(VM_T_FLOAT16_VECTOR, .dim = 4), FT(VM_T_BFLOAT16_VECTOR, .dim = 4), VM_CONV_NONE},
        {FT(VM_T_SPARSE_FLOAT_VECTOR), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_NONE},
        {FT(VM_T_BINARY_VECTOR, .dim = 32), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_NONE},
        {FT(VM_T_INT8_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_NONE},
        {FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_JSON), VM_CONV_NONE},
        {FT(VM_T_BOOL), FT(VM_T_FLOAT), VM_CONV_NONE},
        {FT(VM_T_INT32), FT(VM_T_BOOL), VM_CONV_NONE},
        {FT(VM_T_DOUBLE), FT(VM_T_BOOL), VM_CONV_NONE},
        {FT(VM_T_ARRAY, .element_type = VM_T_INT64), FT(VM_T_VARCHAR), VM_CONV_NONE},
        {FT(VM_T_VARCHAR), FT(VM_T_ARRAY, .element_type = VM_T_INT64), VM_CONV_NONE},
        {FT(VM_T_VARCHAR), FT(VM_T_FLOAT_VECTOR, .dim = 4), VM_CONV_NONE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *note = NULL;
        vm_conv_kind k = vm_transform_conversion(&rows[i].a, &rows[i].b, &note);
        if (k != rows[i].k)
            fail_msg("row %zu: %s -> %s is %d, want %d", i, vm_dtype_name(rows[i].a.type),
                     vm_dtype_name(rows[i].b.type), k, rows[i].k);
        assert_non_null(note);
        assert_int_equal(vm_transform_conversion(&rows[i].a, &rows[i].b, NULL), k);
    }
}

static void test_int_conversions(void **state)
{
    (void)state;
    cfx f;
    /* widening, nulls through */
    cfx_new(&f, FT(VM_T_INT8, .nullable = true), FT(VM_T_INT64, .nullable = true), NULL);
    size_t r0 = addrow(f.in), r1 = addrow(f.in), r2 = addrow(f.in);
    put_int(f.in, "s", r0, -128);
    put_int(f.in, "s", r1, 127);
    (void)r2; /* null */
    const vm_batch *o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), -128);
    assert_int_equal(get_int(o, "d", 1), 127);
    assert_true(is_null(o, "d", 2));
    cfx_free(&f);

    /* narrowing: checked, never wrapped */
    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_INT16), NULL);
    put_int(f.in, "s", addrow(f.in), -32768);
    put_int(f.in, "s", addrow(f.in), 32767);
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), -32768);
    assert_int_equal(get_int(o, "d", 1), 32767);
    put_int(f.in, "s", addrow(f.in), 40000);
    cfx_fail(&f, "field 'd' row 2 of the batch: 40000 is out of range for Int16");
    f.in->nrows = 2;
    put_int(f.in, "s", addrow(f.in), INT64_MIN);
    cfx_fail(&f, "row 2 of the batch: -9223372036854775808 is out of range for Int16");
    cfx_free(&f);

    /* Bool -> 0/1 */
    cfx_new(&f, FT(VM_T_BOOL), FT(VM_T_INT32), NULL);
    vm_err e;
    assert_int_equal(vm_batch_set_bool(f.in, 0, addrow(f.in), true, &e), VM_OK);
    assert_int_equal(vm_batch_set_bool(f.in, 0, addrow(f.in), false, &e), VM_OK);
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), 1);
    assert_int_equal(get_int(o, "d", 1), 0);
    assert_int_equal(stats(&f).changed, 0);
    cfx_free(&f);
}

static void test_int_to_real(void **state)
{
    (void)state;
    cfx f;
    /* lossy without "lossy": refused */
    assert_int_equal(cfx_try(&f, FT(VM_T_INT32), FT(VM_T_FLOAT), NULL), VM_ERR_INVALID);
    assert_msg_has(f.e, "transform step 1 (target 'd')");
    assert_msg_has(f.e, "\"lossy\": true");
    assert_null(f.t);
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_INT32), FT(VM_T_FLOAT), ",\"lossy\":true");
    put_int(f.in, "s", addrow(f.in), 16777216);
    put_int(f.in, "s", addrow(f.in), 16777217); /* not a float32 */
    put_int(f.in, "s", addrow(f.in), -3);
    const vm_batch *o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 16777216.0);
    assert_true(get_dbl(o, "d", 1) == 16777216.0);
    assert_true(get_dbl(o, "d", 2) == -3.0);
    assert_int_equal(stats(&f).changed, 1);
    cfx_run(&f); /* counters add up over batches */
    assert_int_equal(stats(&f).changed, 2);
    assert_int_equal(stats(&f).truncated, 0);
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_DOUBLE), ",\"lossy\":true");
    put_int(f.in, "s", addrow(f.in), (1LL << 53) + 1);
    put_int(f.in, "s", addrow(f.in), INT64_MAX);
    put_int(f.in, "s", addrow(f.in), 12);
    put_int(f.in, "s", addrow(f.in), INT64_MIN); /* -2^63 is a double */
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 9007199254740992.0);
    assert_true(get_dbl(o, "d", 1) == 9223372036854775808.0);
    assert_true(get_dbl(o, "d", 2) == 12.0);
    assert_true(get_dbl(o, "d", 3) == -9223372036854775808.0);
    assert_int_equal(stats(&f).changed, 2);
    cfx_free(&f);

    /* exact ones need no flag */
    cfx_new(&f, FT(VM_T_INT16), FT(VM_T_FLOAT), NULL);
    put_int(f.in, "s", addrow(f.in), 32767);
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 32767.0);
    assert_int_equal(stats(&f).changed, 0);
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_INT32), FT(VM_T_DOUBLE), NULL);
    put_int(f.in, "s", addrow(f.in), INT32_MIN);
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == (double)INT32_MIN);
    cfx_free(&f);
}

static void test_real_conversions(void **state)
{
    (void)state;
    cfx f;
    cfx_new(&f, FT(VM_T_FLOAT), FT(VM_T_DOUBLE), NULL);
    put_dbl(f.in, "s", addrow(f.in), 0.1f);
    const vm_batch *o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == (double)0.1f);
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_DOUBLE), FT(VM_T_FLOAT), ",\"lossy\":true");
    put_dbl(f.in, "s", addrow(f.in), 0.5);
    put_dbl(f.in, "s", addrow(f.in), 0.1);
    put_dbl(f.in, "s", addrow(f.in), -3.4e38);
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 0.5);
    assert_true((float)get_dbl(o, "d", 1) == 0.1f);
    assert_true((float)get_dbl(o, "d", 2) == -3.4e38f);
    assert_int_equal(stats(&f).changed, 2);
    put_dbl(f.in, "s", addrow(f.in), 1e300);
    cfx_fail(&f, "field 'd' row 3 of the batch: 1");
    assert_msg_has(f.e, "e+300 is out of range for Float");
    assert_int_equal(stats(&f).changed, 2); /* a failed batch counts nothing */
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_DOUBLE), FT(VM_T_INT32), NULL);
    put_dbl(f.in, "s", addrow(f.in), 3.0);
    put_dbl(f.in, "s", addrow(f.in), -0.0);
    put_dbl(f.in, "s", addrow(f.in), -2147483648.0);
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), 3);
    assert_int_equal(get_int(o, "d", 1), 0);
    assert_int_equal(get_int(o, "d", 2), INT32_MIN);
    size_t r = addrow(f.in);
    put_dbl(f.in, "s", r, 3.5);
    cfx_fail(&f, "row 3 of the batch: 3.5 is not an integer");
    put_dbl(f.in, "s", r, 3e9);
    cfx_fail(&f, "row 3 of the batch: 3000000000 is out of range for Int32");
    put_dbl(f.in, "s", r, NAN);
    cfx_fail(&f, "out of range for Int32");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_FLOAT), FT(VM_T_INT64), NULL);
    put_dbl(f.in, "s", addrow(f.in), 1e10f);
    put_dbl(f.in, "s", addrow(f.in), -16777216.0f);
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), 10000000000LL);
    assert_int_equal(get_int(o, "d", 1), -16777216);
    put_dbl(f.in, "s", addrow(f.in), 1e19f);
    cfx_fail(&f, "out of range for Int64");
    cfx_free(&f);
}

static const char *shortest(double v, bool single, vm_buf *b)
{
    vm_buf_clear(b);
    if (single)
        vm_buf_f32(b, (float)v);
    else
        vm_buf_f64(b, v);
    return vm_buf_cstr(b);
}

static void test_to_varchar(void **state)
{
    (void)state;
    cfx f;
    vm_err e;
    vm_buf b;
    vm_buf_init(&b);
    cfx_new(&f, FT(VM_T_BOOL), FT(VM_T_VARCHAR, .max_length = 5), NULL);
    assert_int_equal(vm_batch_set_bool(f.in, 0, addrow(f.in), true, &e), VM_OK);
    assert_int_equal(vm_batch_set_bool(f.in, 0, addrow(f.in), false, &e), VM_OK);
    const vm_batch *o = cfx_run(&f);
    str_eq(o, "d", 0, "true");
    str_eq(o, "d", 1, "false");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_VARCHAR, .max_length = 20), NULL);
    put_int(f.in, "s", addrow(f.in), INT64_MIN);
    put_int(f.in, "s", addrow(f.in), 42);
    o = cfx_run(&f);
    str_eq(o, "d", 0, "-9223372036854775808");
    str_eq(o, "d", 1, "42");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_FLOAT), FT(VM_T_VARCHAR, .max_length = 20), NULL);
    put_dbl(f.in, "s", addrow(f.in), 0.1f);
    put_dbl(f.in, "s", addrow(f.in), 1e-45f);
    put_dbl(f.in, "s", addrow(f.in), 16777216.0f);
    o = cfx_run(&f);
    str_eq(o, "d", 0, "0.1");
    str_eq(o, "d", 1, shortest(1e-45f, true, &b));
    str_eq(o, "d", 2, shortest(16777216.0f, true, &b));
    put_dbl(f.in, "s", addrow(f.in), NAN);
    cfx_fail(&f, "row 3 of the batch: NaN or infinity");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_DOUBLE), FT(VM_T_VARCHAR, .max_length = 30), NULL);
    put_dbl(f.in, "s", addrow(f.in), 0.1);
    put_dbl(f.in, "s", addrow(f.in), 1e21);
    put_dbl(f.in, "s", addrow(f.in), 0.30000000000000004);
    o = cfx_run(&f);
    str_eq(o, "d", 0, "0.1");
    str_eq(o, "d", 1, shortest(1e21, false, &b));
    str_eq(o, "d", 2, "0.30000000000000004");
    cfx_free(&f);

    /* max_length still checked per value; truncate cuts and counts */
    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_VARCHAR, .max_length = 3), NULL);
    put_int(f.in, "s", addrow(f.in), 123);
    cfx_run(&f);
    put_int(f.in, "s", addrow(f.in), 12345);
    cfx_fail(&f, "field 'd' row 1 of the batch: \"12345\" is 5 bytes, over its max_length 3");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_VARCHAR, .max_length = 3), ",\"truncate\":true");
    put_int(f.in, "s", addrow(f.in), 12345);
    put_int(f.in, "s", addrow(f.in), 12);
    o = cfx_run(&f);
    str_eq(o, "d", 0, "123");
    str_eq(o, "d", 1, "12");
    assert_int_equal(stats(&f).truncated, 1);
    cfx_free(&f);
    vm_buf_release(&b);
}

static void test_from_varchar(void **state)
{
    (void)state;
    cfx f;
    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_INT32), NULL);
    const char *good[] = {"42", "+7", "-0", "0042", "-2147483648"};
    int64_t want[] = {42, 7, 0, 42, INT32_MIN};
    for (size_t i = 0; i < 5; i++)
        put_str(f.in, "s", addrow(f.in), good[i]);
    const vm_batch *o = cfx_run(&f);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(get_int(o, "d", i), want[i]);
    struct {
        const char *text, *msg;
    } bad[] = {
        {" 42", "expected a decimal integer, got \" 42\""},
        {"4x", "expected a decimal integer"},
        {"", "expected a decimal integer"},
        {"-", "expected a decimal integer"},
        {"1.0", "expected a decimal integer"},
        {"2147483648", "\"2147483648\" is out of range for Int32"},
        {"99999999999999999999999", "is out of range for Int32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.in->nrows = 5;
        put_str(f.in, "s", addrow(f.in), bad[i].text);
        cfx_fail(&f, "field 'd' row 5 of the batch: ");
        assert_msg_has(f.e, bad[i].msg);
    }
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_INT64), NULL);
    put_str(f.in, "s", addrow(f.in), "9223372036854775807");
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), INT64_MAX);
    put_str(f.in, "s", addrow(f.in), "9223372036854775808");
    cfx_fail(&f, "out of range for Int64");
    cfx_free(&f);

    assert_int_equal(cfx_try(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_DOUBLE), NULL),
                     VM_ERR_INVALID);
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_DOUBLE), ",\"lossy\":true");
    const char *nums[] = {"1.5", "-2e3", ".5", "5.", "+1E-2"};
    double dv[] = {1.5, -2000, 0.5, 5, 0.01};
    for (size_t i = 0; i < 5; i++)
        put_str(f.in, "s", addrow(f.in), nums[i]);
    o = cfx_run(&f);
    for (size_t i = 0; i < 5; i++)
        assert_true(get_dbl(o, "d", i) == dv[i]);
    const char *notnum[] = {"abc", "inf", "nan", "1.5 ", "0x10", "", "1e", "--1"};
    for (size_t i = 0; i < sizeof notnum / sizeof notnum[0]; i++) {
        f.in->nrows = 5;
        put_str(f.in, "s", addrow(f.in), notnum[i]);
        cfx_fail(&f, "row 5 of the batch: expected a number");
    }
    f.in->nrows = 5;
    put_str(f.in, "s", addrow(f.in), "1e400");
    cfx_fail(&f, "row 5 of the batch: \"1e400\" is out of range for Double");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_FLOAT), ",\"lossy\":true");
    put_str(f.in, "s", addrow(f.in), "0.5");
    put_str(f.in, "s", addrow(f.in), "0.1");
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 0.5);
    assert_true((float)get_dbl(o, "d", 1) == 0.1f);
    assert_int_equal(stats(&f).changed, 1);
    put_str(f.in, "s", addrow(f.in), "1e39");
    cfx_fail(&f, "out of range for Float");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 64), FT(VM_T_BOOL), NULL);
    put_str(f.in, "s", addrow(f.in), "true");
    put_str(f.in, "s", addrow(f.in), "false");
    o = cfx_run(&f);
    assert_true(vm_batch_get_bool(o, 0, 0));
    assert_false(vm_batch_get_bool(o, 0, 1));
    put_str(f.in, "s", addrow(f.in), "True");
    cfx_fail(&f, "row 2 of the batch: expected \"true\" or \"false\", got \"True\"");
    cfx_free(&f);
}

static void test_varchar_limits(void **state)
{
    (void)state;
    cfx f;
    /* shorter VarChar: checked on a borrowed column */
    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 200), FT(VM_T_VARCHAR, .max_length = 5), NULL);
    put_str(f.in, "s", addrow(f.in), "short");
    const vm_batch *o = cfx_run(&f);
    assert_ptr_equal(o->cols[0].arena, f.in->cols[0].arena);
    str_eq(o, "d", 0, "short");
    char longv[121];
    for (int i = 0; i < 120; i++)
        longv[i] = (char)('a' + i % 26);
    longv[120] = '\0';
    put_str(f.in, "s", addrow(f.in), longv);
    cfx_fail(&f, "field 'd' row 1 of the batch: ");
    assert_msg_has(f.e, "is 120 bytes, over its max_length 5");
    /* never the whole value: at most 40 bytes of it */
    char first40[41];
    memcpy(first40, longv, 40);
    first40[40] = '\0';
    assert_msg_has(f.e, first40);
    char first41[42];
    memcpy(first41, longv, 41);
    first41[41] = '\0';
    assert_null(strstr(f.e.msg, first41));
    cfx_free(&f);

    /* truncate: cut at a UTF-8 boundary, counted */
    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 200), FT(VM_T_VARCHAR, .max_length = 2),
            ",\"truncate\":true");
    put_str(f.in, "s", addrow(f.in), "h\xc3\xa9llo"); /* "héllo": é would straddle */
    put_str(f.in, "s", addrow(f.in), "ab");
    put_str(f.in, "s", addrow(f.in), "\xc3\xa9\xc3\xa9");
    put_str(f.in, "s", addrow(f.in), "\xf0\x9f\x98\x80");
    o = cfx_run(&f);
    str_eq(o, "d", 0, "h");
    str_eq(o, "d", 1, "ab");
    str_eq(o, "d", 2, "\xc3\xa9");
    str_eq(o, "d", 3, "");
    assert_int_equal(stats(&f).truncated, 3);
    cfx_free(&f);

    /* truncate belongs to VarChar targets */
    assert_int_equal(cfx_try(&f, FT(VM_T_INT32), FT(VM_T_INT64), ",\"truncate\":true"),
                     VM_ERR_INVALID);
    assert_msg_has(f.e, "\"truncate\" applies to VarChar fields only");
    cfx_free(&f);
}

static void test_json_conversions(void **state)
{
    (void)state;
    cfx f;
    /* JSON -> VarChar: the text, borrowed, length checked */
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_VARCHAR, .max_length = 8), NULL);
    put_str(f.in, "s", addrow(f.in), "{\"a\":1}");
    put_str(f.in, "s", addrow(f.in), "\"x\"");
    const vm_batch *o = cfx_run(&f);
    assert_ptr_equal(o->cols[0].arena, f.in->cols[0].arena);
    assert_int_equal(o->cols[0].type, VM_T_VARCHAR);
    str_eq(o, "d", 0, "{\"a\":1}");
    str_eq(o, "d", 1, "\"x\"");
    put_str(f.in, "s", addrow(f.in), "[1,2,3,4,5]");
    cfx_fail(&f, "row 2 of the batch: \"[1,2,3,4,5]\" is 11 bytes, over its max_length 8");
    cfx_free(&f);

    /* JSON -> Int64 */
    cfx_new(&f, FT(VM_T_JSON, .nullable = true), FT(VM_T_INT64, .nullable = true), NULL);
    put_str(f.in, "s", addrow(f.in), "5");
    put_str(f.in, "s", addrow(f.in), " 3.0 ");
    put_str(f.in, "s", addrow(f.in), "null");
    addrow(f.in); /* null */
    put_str(f.in, "s", addrow(f.in), "-9223372036854775808");
    o = cfx_run(&f);
    assert_int_equal(get_int(o, "d", 0), 5);
    assert_int_equal(get_int(o, "d", 1), 3);
    assert_true(is_null(o, "d", 2));
    assert_true(is_null(o, "d", 3));
    assert_int_equal(get_int(o, "d", 4), INT64_MIN);
    struct {
        const char *text, *msg;
    } bad[] = {
        {"12345678901234567890", "row 5 of the batch: 12345678901234567890 is out of range for Int64"},
        {"\"5\"", "row 5 of the batch: expected an integer, got \"5\""},
        {"2.5", "expected an integer, got 2.5"},
        {"{\"a\":", "row 5 of the batch: the source value is not valid JSON"},
        {"[1]", "expected an integer, got [1]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.in->nrows = 5;
        put_str(f.in, "s", addrow(f.in), bad[i].text);
        cfx_fail(&f, bad[i].msg);
        assert_msg_has(f.e, "field 'd' row 5 of the batch: ");
    }
    cfx_free(&f);

    /* JSON -> Bool, Double, Float (checked, Float changes counted) */
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_BOOL), NULL);
    put_str(f.in, "s", addrow(f.in), "true");
    put_str(f.in, "s", addrow(f.in), "false");
    o = cfx_run(&f);
    assert_true(vm_batch_get_bool(o, 0, 0));
    assert_false(vm_batch_get_bool(o, 0, 1));
    put_str(f.in, "s", addrow(f.in), "\"true\"");
    cfx_fail(&f, "expected a boolean, got \"true\"");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_DOUBLE), NULL);
    put_str(f.in, "s", addrow(f.in), "1.10");
    put_str(f.in, "s", addrow(f.in), "12345678901234567890");
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 1.1);
    assert_true(get_dbl(o, "d", 1) == 12345678901234567890.0);
    put_str(f.in, "s", addrow(f.in), "1e400");
    cfx_fail(&f, "row 2 of the batch: 1e400 is out of range for Double");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_FLOAT), NULL); /* no lossy flag needed */
    put_str(f.in, "s", addrow(f.in), "0.25");
    put_str(f.in, "s", addrow(f.in), "0.1");
    o = cfx_run(&f);
    assert_true(get_dbl(o, "d", 0) == 0.25);
    assert_true((float)get_dbl(o, "d", 1) == 0.1f);
    assert_int_equal(stats(&f).changed, 1);
    put_str(f.in, "s", addrow(f.in), "1e39");
    cfx_fail(&f, "out of range for Float");
    cfx_free(&f);

    /* JSON -> Array */
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_ARRAY, .element_type = VM_T_INT32, .max_capacity = 3),
            NULL);
    put_str(f.in, "s", addrow(f.in), "[1, 2.0, -3e0]");
    put_str(f.in, "s", addrow(f.in), " [ ] ");
    o = cfx_run(&f);
    str_eq(o, "d", 0, "[1,2,-3]");
    str_eq(o, "d", 1, "[]");
    struct {
        const char *text, *msg;
    } abad[] = {
        {"[1,2,3,4]", "row 2 of the batch: array of 4 elements, over its max_capacity 3"},
        {"[1,\"a\"]", "row 2 of the batch: element 1: expected an integer, got \"a\""},
        {"[1,null]", "element 1: expected an integer, got null"},
        {"[3000000000]", "element 0: 3000000000 is out of range for Int32"},
        {"{}", "row 2 of the batch: expected an array, got {}"},
    };
    for (size_t i = 0; i < sizeof abad / sizeof abad[0]; i++) {
        f.in->nrows = 2;
        put_str(f.in, "s", addrow(f.in), abad[i].text);
        cfx_fail(&f, abad[i].msg);
    }
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_JSON),
            FT(VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_capacity = 4, .max_length = 3),
            NULL);
    put_str(f.in, "s", addrow(f.in), "[\"ab\", \"\\u00e9\", \"a\\\"b\"]");
    o = cfx_run(&f);
    str_eq(o, "d", 0, "[\"ab\",\"\\u00e9\",\"a\\\"b\"]");
    put_str(f.in, "s", addrow(f.in), "[\"abcd\"]");
    cfx_fail(&f, "row 1 of the batch: element 0: \"abcd\" is 4 bytes, over its max_length 3");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_ARRAY, .element_type = VM_T_DOUBLE, .max_capacity = 4),
            NULL);
    put_str(f.in, "s", addrow(f.in), "[1.10, 1e5, -0]");
    o = cfx_run(&f);
    str_eq(o, "d", 0, "[1.10,1e5,-0]"); /* numbers as written */
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_ARRAY, .element_type = VM_T_BOOL, .max_capacity = 4),
            NULL);
    put_str(f.in, "s", addrow(f.in), "[true,false]");
    o = cfx_run(&f);
    str_eq(o, "d", 0, "[true,false]");
    put_str(f.in, "s", addrow(f.in), "[1]");
    cfx_fail(&f, "element 0: expected a boolean, got 1");
    cfx_free(&f);

    /* JSON -> JSON: borrowed */
    cfx_new(&f, FT(VM_T_JSON), FT(VM_T_JSON), NULL);
    put_str(f.in, "s", addrow(f.in), "{\"n\": 1.10}");
    o = cfx_run(&f);
    assert_true(o->cols[0].borrowed);
    assert_ptr_equal(o->cols[0].arena, f.in->cols[0].arena);
    cfx_free(&f);
}

static void test_to_json(void **state)
{
    (void)state;
    cfx f;
    vm_err e;
    cfx_new(&f, FT(VM_T_BOOL), FT(VM_T_JSON), NULL);
    assert_int_equal(vm_batch_set_bool(f.in, 0, addrow(f.in), true, &e), VM_OK);
    str_eq(cfx_run(&f), "d", 0, "true");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_INT64), FT(VM_T_JSON), NULL);
    put_int(f.in, "s", addrow(f.in), -5);
    put_int(f.in, "s", addrow(f.in), INT64_MAX);
    const vm_batch *o = cfx_run(&f);
    str_eq(o, "d", 0, "-5");
    str_eq(o, "d", 1, "9223372036854775807");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_FLOAT), FT(VM_T_JSON), NULL);
    put_dbl(f.in, "s", addrow(f.in), 0.1f);
    put_dbl(f.in, "s", addrow(f.in), -0.0f);
    o = cfx_run(&f);
    str_eq(o, "d", 0, "0.1");
    str_eq(o, "d", 1, "-0.0");
    put_dbl(f.in, "s", addrow(f.in), INFINITY);
    cfx_fail(&f, "row 2 of the batch: NaN or infinity");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_DOUBLE), FT(VM_T_JSON), NULL);
    put_dbl(f.in, "s", addrow(f.in), 1.5);
    str_eq(cfx_run(&f), "d", 0, "1.5");
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_VARCHAR, .max_length = 20), FT(VM_T_JSON), NULL);
    put_str(f.in, "s", addrow(f.in), "a\"b\n\xc3\xa9");
    str_eq(cfx_run(&f), "d", 0, "\"a\\\"b\\n\xc3\xa9\"");
    cfx_free(&f);
    /* Array -> JSON: the same text, borrowed */
    cfx_new(&f, FT(VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 4), FT(VM_T_JSON),
            NULL);
    put_str(f.in, "s", addrow(f.in), "[1, 2]");
    o = cfx_run(&f);
    assert_true(o->cols[0].borrowed);
    assert_int_equal(o->cols[0].type, VM_T_JSON);
    assert_ptr_equal(o->cols[0].arena, f.in->cols[0].arena);
    assert_ptr_equal(o->cols[0].off, f.in->cols[0].off);
    str_eq(o, "d", 0, "[1, 2]");
    cfx_free(&f);
    /* Array -> smaller Array: checked, borrowed */
    cfx_new(&f, FT(VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 8),
            FT(VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 2), NULL);
    put_str(f.in, "s", addrow(f.in), "[1, 2]");
    o = cfx_run(&f);
    assert_ptr_equal(o->cols[0].arena, f.in->cols[0].arena);
    put_str(f.in, "s", addrow(f.in), "[1, 2, 3]");
    cfx_fail(&f, "row 1 of the batch: array of 3 elements, over its max_capacity 2");
    cfx_free(&f);
}

static void set_vec(vm_batch *b, size_t r, const float *v, size_t dim)
{
    memcpy(vm_batch_vector(b, 0, r), v, dim * sizeof *v);
}

static void set_half(vm_batch *b, size_t r, const uint16_t *v, size_t dim)
{
    memcpy(vm_batch_vector(b, 0, r), v, dim * sizeof *v);
}

static void test_vectors(void **state)
{
    (void)state;
    cfx f;
    assert_int_equal(cfx_try(&f, FT(VM_T_FLOAT_VECTOR, .dim = 4),
                             FT(VM_T_FLOAT16_VECTOR, .dim = 4), NULL),
                     VM_ERR_INVALID);
    assert_msg_has(f.e, "lossy");
    cfx_free(&f);
    assert_int_equal(cfx_try(&f, FT(VM_T_FLOAT_VECTOR, .dim = 4),
                             FT(VM_T_FLOAT16_VECTOR, .dim = 8), ",\"lossy\":true"),
                     VM_ERR_INVALID);
    assert_msg_has(f.e, "cannot convert");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_FLOAT16_VECTOR, .dim = 4),
            ",\"lossy\":true");
    float tie1 = 1.0f + 1.0f / 2048, tie2 = 1.0f + 3.0f / 2048;
    set_vec(f.in, addrow(f.in), (float[]){1.0f, 0.1f, 65504.0f, -0.0f}, 4);
    set_vec(f.in, addrow(f.in), (float[]){1e-7f, tie1, tie2, -2.0f}, 4);
    set_vec(f.in, addrow(f.in), (float[]){0.5f, 0.25f, 2.0f, -65504.0f}, 4); /* all exact */
    const vm_batch *o = cfx_run(&f);
    const uint16_t *h = vm_batch_get_vector(o, 0, 0);
    assert_int_equal(h[0], 0x3c00);
    assert_int_equal(h[1], 0x2e66);
    assert_int_equal(h[2], 0x7bff);
    assert_int_equal(h[3], 0x8000);
    h = vm_batch_get_vector(o, 0, 1);
    assert_int_equal(h[0], 0x0002); /* subnormal: 1e-7 / 2^-24 = 1.68 -> 2 */
    assert_int_equal(h[1], 0x3c00); /* tie -> even */
    assert_int_equal(h[2], 0x3c02); /* tie -> even (up) */
    assert_int_equal(h[3], 0xc000);
    h = vm_batch_get_vector(o, 0, 2);
    assert_int_equal(h[3], 0xfbff);
    assert_int_equal(stats(&f).changed, 2); /* vectors, not elements */
    size_t r = addrow(f.in);
    set_vec(f.in, r, (float[]){1.0f, 70000.0f, 0, 0}, 4);
    cfx_fail(&f, "field 'd' row 3 of the batch: element 1 (70000) is NaN, infinite or out of Float16 range");
    set_vec(f.in, r, (float[]){1.0f, 0, 65520.0f, 0}, 4); /* rounds to infinity */
    cfx_fail(&f, "element 2");
    set_vec(f.in, r, (float[]){NAN, 0, 0, 0}, 4);
    cfx_fail(&f, "element 0");
    cfx_free(&f);

    cfx_new(&f, FT(VM_T_FLOAT_VECTOR, .dim = 4), FT(VM_T_BFLOAT16_VECTOR, .dim = 4),
            ",\"lossy\":true");
    float bt1, bt2;
    uint32_t u1 = 0x3F808000u, u2 = 0x3F818000u;
    memcpy(&bt1, &u1, 4);
    memcpy(&bt2, &u2, 4);
    set_vec(f.in, addrow(f.in), (float[]){1.0f, 0.1f, 3.0f, -2.0f}, 4);
    set_vec(f.in, addrow(f.in), (float[]){bt1, bt2, 0.0f, 1.0f}, 4);
    o = cfx_run(&f);
    h = vm_batch_get_vector(o, 0, 0);
    assert_int_equal(h[0], 0x3f80);
    assert_int_equal(h[1], 0x3dcd);
    assert_int_equal(h[2], 0x4040);
    assert_int_equal(h[3], 0xc000);
    h = vm_batch_get_vector(o, 0, 1);
    assert_int_equal(h[0], 0x3f80);
    assert_int_equal(h[1], 0x3f82);
    assert_int_equal(stats(&f).changed, 2);
    set_vec(f.in, addrow(f.in), (float[]){3.4028235e38f, 0, 0, 0}, 4);
    cfx_fail(&f, "out of BFloat16 range");
    cfx_free(&f);

    /* half precision -> FloatVector: exact, no flag */
    cfx_new(&f, FT(VM_T_FLOAT16_VECTOR, .dim = 4), FT(VM_T_FLOAT_VECTOR, .dim = 4), NULL);
    set_half(f.in, addrow(f.in), (uint16_t[]){0x3c00, 0x0001, 0x7bff, 0xc000}, 4);
    o = cfx_run(&f);
    const float *v = vm_batch_get_vector(o, 0, 0);
    assert_true(v[0] == 1.0f);
    assert_true(v[1] == ldexpf(1.0f, -24));
    assert_true(v[2] == 65504.0f);
    assert_true(v[3] == -2.0f);
    assert_int_equal(stats(&f).changed, 0);
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_BFLOAT16_VECTOR, .dim = 2), FT(VM_T_FLOAT_VECTOR, .dim = 2), NULL);
    set_half(f.in, addrow(f.in), (uint16_t[]){0x3dcd, 0xc000}, 2);
    o = cfx_run(&f);
    v = vm_batch_get_vector(o, 0, 0);
    uint32_t bits;
    memcpy(&bits, &v[0], 4);
    assert_int_equal(bits, 0x3dcd0000u);
    assert_true(v[1] == -2.0f);
    cfx_free(&f);

    /* same vectors: borrowed; sparse only copies */
    cfx_new(&f, FT(VM_T_FLOAT_VECTOR, .dim = 2), FT(VM_T_FLOAT_VECTOR, .dim = 2), NULL);
    set_vec(f.in, addrow(f.in), (float[]){1, 2}, 2);
    o = cfx_run(&f);
    assert_ptr_equal(o->cols[0].data, f.in->cols[0].data);
    cfx_free(&f);
    cfx_new(&f, FT(VM_T_SPARSE_FLOAT_VECTOR), FT(VM_T_SPARSE_FLOAT_VECTOR), NULL);
    vm_err e;
    assert_int_equal(vm_batch_set_sparse(f.in, 0, addrow(f.in), (uint32_t[]){1, 7},
                                         (float[]){0.5f, 1.5f}, 2, &e), VM_OK);
    o = cfx_run(&f);
    assert_ptr_equal(o->cols[0].sp_idx, f.in->cols[0].sp_idx);
    assert_ptr_equal(o->cols[0].sp_val, f.in->cols[0].sp_val);
    const uint32_t *idx;
    const float *val;
    assert_int_equal(vm_batch_get_sparse(o, 0, 0, &idx, &val), 2);
    assert_int_equal(idx[1], 7);
    cfx_free(&f);
    assert_int_equal(cfx_try(&f, FT(VM_T_SPARSE_FLOAT_VECTOR), FT(VM_T_FLOAT_VECTOR, .dim = 2),
                             ",\"lossy\":true"),
                     VM_ERR_INVALID);
    cfx_free(&f);
}

/* ---------------------------------------------------------------------- */
/* lift                                                                    */

static void test_lift(void **state)
{
    (void)state;
    vm_schema *src = SCH(false, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "metadata", .type = VM_T_JSON, .nullable = true});
    vm_schema *dst = SCH(
        false, {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "author", .type = VM_T_VARCHAR, .max_length = 20, .nullable = true},
        {.name = "age", .type = VM_T_INT32},
        {.name = "score", .type = VM_T_FLOAT, .nullable = true},
        {.name = "tags", .type = VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_length = 10,
         .max_capacity = 4, .nullable = true},
        {.name = "info", .type = VM_T_JSON, .nullable = true},
        {.name = "flag", .type = VM_T_BOOL, .nullable = true});
    vm_transform *t = mk_ok(
        "{\"steps\":["
        "{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
        "{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\",\"path\":[\"author\",\"name\"]},"
        "{\"op\":\"lift\",\"target\":\"age\",\"source\":\"metadata\",\"path\":[\"age\"],\"default\":-1},"
        "{\"op\":\"lift\",\"target\":\"score\",\"source\":\"metadata\",\"path\":[\"score\"]},"
        "{\"op\":\"lift\",\"target\":\"tags\",\"source\":\"metadata\",\"path\":[\"tags\"]},"
        "{\"op\":\"lift\",\"target\":\"info\",\"source\":\"metadata\",\"path\":[\"author\"]},"
        "{\"op\":\"lift\",\"target\":\"flag\",\"source\":\"metadata\",\"path\":[\"flag\"],\"default\":false}"
        "]}",
        src, dst);
    vm_batch *in = src_batch(src);
    const char *meta[] = {
        "{\"author\":{\"name\":\"Ann \\u00e9 \\ud83d\\ude00\", \"x\": 1.10},\"age\":30,"
        "\"score\":1.5,\"tags\":[\"a\", \"b\"],\"flag\":true}",
        "{\"author\":\"plain\",\"age\":null,\"flag\":null}",
        NULL,
        "{}",
        "{\"author\":{\"name\":null},\"age\":3.0e0,\"score\":-0}",
        "  {\"author\" : {\"name\" : \"x\"} , \"author\":{\"name\":\"last\"}}  ",
    };
    for (size_t i = 0; i < 6; i++) {
        size_t r = addrow(in);
        put_int(in, "id", r, (int64_t)i);
        if (meta[i])
            put_str(in, "metadata", r, meta[i]);
    }
    const vm_batch *o;
    vm_err e;
    if (vm_transform_apply(t, in, &o, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(o->nrows, 6);
    assert_int_equal(o->ncols, 7);
    str_eq(o, "author", 0, "Ann \xc3\xa9 \xf0\x9f\x98\x80");
    assert_int_equal(get_int(o, "age", 0), 30);
    assert_true(get_dbl(o, "score", 0) == 1.5);
    str_eq(o, "tags", 0, "[\"a\",\"b\"]");
    str_eq(o, "info", 0, "{\"name\":\"Ann \\u00e9 \\ud83d\\ude00\", \"x\": 1.10}");
    assert_true(vm_batch_get_bool(o, (size_t)col(o, "flag"), 0));
    /* a step meeting a non-object: null; JSON null: default */
    str_eq(o, "author", 1, NULL);
    assert_int_equal(get_int(o, "age", 1), -1);
    str_eq(o, "info", 1, "\"plain\"");
    assert_false(is_null(o, "flag", 1));
    assert_false(vm_batch_get_bool(o, (size_t)col(o, "flag"), 1));
    /* source null and missing keys: nulls and defaults */
    for (size_t r = 2; r <= 3; r++) {
        str_eq(o, "author", r, NULL);
        assert_int_equal(get_int(o, "age", r), -1);
        assert_true(is_null(o, "score", r));
        assert_true(is_null(o, "tags", r));
        assert_true(is_null(o, "info", r));
    }
    str_eq(o, "author", 4, NULL);
    assert_int_equal(get_int(o, "age", 4), 3);
    assert_true(get_dbl(o, "score", 4) == 0.0);
    str_eq(o, "author", 5, "last"); /* duplicate keys: the last counts */
    vm_transform_free(t);

    /* errors name the field, the lift path and the row */
    struct {
        const char *step, *meta, *msg;
    } bad[] = {
        {"{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\",\"path\":[\"a\",\"b\"]}",
         "{\"a\":{\"b\":42}}",
         "field 'author' (lift of metadata.a.b) row id=0: expected a string, got 42"},
        {"{\"op\":\"lift\",\"target\":\"age\",\"source\":\"metadata\",\"path\":[\"n\"]}",
         "{\"n\":12345678901234567890}",
         "field 'age' (lift of metadata.n) row id=0: 12345678901234567890 is out of range for "
         "Int32"},
        {"{\"op\":\"lift\",\"target\":\"age\",\"source\":\"metadata\",\"path\":[\"n\"]}",
         "{\"m\":1}",
         "field 'age' (lift of metadata.n) row id=0: the value is null, but the field is not "
         "nullable and has no default"},
        {"{\"op\":\"lift\",\"target\":\"age\",\"source\":\"metadata\",\"path\":[\"n\"]}",
         "{\"n\":1,", "field 'age' (lift of metadata.n) row id=0: the source value is not valid "
                      "JSON: invalid JSON"},
        {"{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\",\"path\":[\"s\"]}",
         "{\"s\":\"abcdefghijklmnopqrstuvwxyz\"}",
         "field 'author' (lift of metadata.s) row id=0: \"abcdefghijklmnopqrstuvwxyz\" is 26 bytes, "
         "over its max_length 20"},
        {"{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\",\"path\":[\"s\"]}",
         "{\"s\":\"\\ud800\"}", "row id=0: the source value is not valid JSON"},
        {"{\"op\":\"lift\",\"target\":\"tags\",\"source\":\"metadata\",\"path\":[\"t\"]}",
         "{\"t\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
         "field 'tags' (lift of metadata.t) row id=0: array of 5 elements, over its max_capacity 4"},
    };
    vm_schema *dst2 = SCH(
        false, {.name = "author", .type = VM_T_VARCHAR, .max_length = 20, .nullable = true},
        {.name = "age", .type = VM_T_INT32, .nullable = false},
        {.name = "tags", .type = VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_length = 10,
         .max_capacity = 4, .nullable = true});
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char prog[1024];
        bool age = strstr(bad[i].step, "\"age\"") != NULL;
        snprintf(prog, sizeof prog, "{\"steps\":[%s%s]}", bad[i].step,
                 age ? "" : ",{\"op\":\"const\",\"target\":\"age\",\"value\":0}");
        t = mk_ok(prog, src, dst2);
        vm_batch_clear(in);
        put_str(in, "metadata", addrow(in), "{\"n\":1,\"s\":\"ok\",\"a\":{\"b\":\"x\"},\"t\":[]}");
        put_str(in, "metadata", addrow(in), bad[i].meta);
        o = (const vm_batch *)1;
        if (vm_transform_apply(t, in, &o, &e) != VM_ERR_INVALID)
            fail_msg("case %zu did not fail", i);
        assert_null(o);
        assert_msg_has(e, bad[i].msg);
        vm_transform_free(t);
    }
    /* truncate on a lift */
    t = mk_ok("{\"steps\":[{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\","
              "\"path\":[\"s\"],\"truncate\":true},"
              "{\"op\":\"const\",\"target\":\"age\",\"value\":7}]}",
              src, dst2);
    vm_batch_clear(in);
    put_str(in, "metadata", addrow(in), "{\"s\":\"abcdefghijklmnopqrstuvwxyz\"}");
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    str_eq(o, "author", 0, "abcdefghijklmnopqrst");
    assert_int_equal(get_int(o, "age", 0), 7);
    vm_transform_stats s;
    vm_transform_stats_get(t, &s);
    assert_int_equal(s.truncated, 1);
    vm_transform_free(t);

    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
    vm_schema_free(dst2);
}

static void test_lift_meta(void **state)
{
    (void)state;
    /* lifting out of the source's dynamic field, by "$meta" or its alias */
    vm_schema *src = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true});
    src->dynamic_alias = vm_strdup("payload");
    vm_schema *dst = SCH(false, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "a", .type = VM_T_INT64, .nullable = true},
                         {.name = "b", .type = VM_T_VARCHAR, .max_length = 8, .nullable = true});
    vm_transform *t = mk_ok(
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
        "{\"op\":\"lift\",\"target\":\"a\",\"source\":\"$meta\",\"path\":[\"x\",\"y\"]},"
        "{\"op\":\"lift\",\"target\":\"b\",\"source\":\"payload\",\"path\":[\"k\"]}]}",
        src, dst);
    vm_batch *in = src_batch(src);
    size_t r = addrow(in);
    put_int(in, "id", r, 1);
    put_str(in, "$meta", r, "{\"x\":{\"y\":-7},\"k\":\"v\"}");
    r = addrow(in);
    put_int(in, "id", r, 2);
    const vm_batch *o;
    vm_err e;
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    assert_int_equal(get_int(o, "a", 0), -7);
    str_eq(o, "b", 0, "v");
    assert_true(is_null(o, "a", 1));
    str_eq(o, "b", 1, NULL);
    assert_int_equal(vm_batch_col(o, VM_META_FIELD), -1); /* no step targets it */
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
}

/* ---------------------------------------------------------------------- */
/* rest                                                                    */

static void test_rest(void **state)
{
    (void)state;
    vm_schema *src = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "metadata", .type = VM_T_JSON, .nullable = true});
    vm_schema *dst = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "author", .type = VM_T_VARCHAR, .max_length = 8,
                          .nullable = true},
                         {.name = "metadata", .type = VM_T_JSON, .nullable = true});
    vm_transform *t = mk_ok(
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
        "{\"op\":\"lift\",\"target\":\"author\",\"source\":\"metadata\",\"path\":[\"author\",\"name\"]},"
        "{\"op\":\"rest\",\"target\":\"metadata\",\"source\":\"metadata\",\"remove\":[[\"author\",\"name\"]]},"
        "{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"$meta\",\"remove\":[[\"secret\"],[\"a\",\"b\"]]}]}",
        src, dst);
    vm_batch *in = src_batch(src);
    const char *md[] = {
        "{\"author\": {\"name\": \"A\"}, \"n\": 1.10, \"big\": 1e400, \"i\": 12345678901234567890}",
        "{\"author\":{\"name\":\"B\",\"x\":true}}",
        "[1, 2.50]",
        NULL,
        " null ",
        "{\"author\": {\"name\": \"C\"}}",
    };
    const char *mm[] = {
        "{\"secret\":\"x\",\"k\":[1,2]}",
        "{\"secret\": 1}",
        "{\"a\":{\"b\":1,\"c\":2}}",
        "{}",
        NULL,
        "{\"a\":{\"b\":[]}}",
    };
    for (size_t i = 0; i < 6; i++) {
        size_t r = addrow(in);
        put_int(in, "id", r, (int64_t)i);
        if (md[i])
            put_str(in, "metadata", r, md[i]);
        if (mm[i])
            put_str(in, "$meta", r, mm[i]);
    }
    const vm_batch *o;
    vm_err e;
    if (vm_transform_apply(t, in, &o, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(o->ncols, 4);
    assert_string_equal(o->cols[3].name, VM_META_FIELD);
    str_eq(o, "author", 0, "A");
    str_eq(o, "metadata", 0, "{\"n\": 1.10, \"big\": 1e400, \"i\": 12345678901234567890}");
    str_eq(o, "metadata", 1, "{\"author\":{\"x\":true}}");
    str_eq(o, "metadata", 2, "[1, 2.50]"); /* a JSON field keeps non-objects */
    str_eq(o, "metadata", 3, NULL);
    str_eq(o, "metadata", 4, NULL);
    str_eq(o, "metadata", 5, "{}");
    str_eq(o, VM_META_FIELD, 0, "{\"k\":[1,2]}");
    str_eq(o, VM_META_FIELD, 1, "{}");
    str_eq(o, VM_META_FIELD, 2, "{\"a\":{\"c\":2}}");
    str_eq(o, VM_META_FIELD, 3, "{}");
    str_eq(o, VM_META_FIELD, 4, NULL);
    str_eq(o, VM_META_FIELD, 5, "{}");

    /* the dynamic field takes objects only */
    vm_batch_clear(in);
    size_t r = addrow(in);
    put_str(in, "$meta", r, "{}");
    r = addrow(in);
    put_str(in, "$meta", r, "[1]");
    o = (const vm_batch *)1;
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_null(o);
    assert_msg_has(e, "field '$meta' row id=0: the dynamic field takes a JSON object, got [1]");
    put_str(in, "$meta", r, "{\"a\":tru}");
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_msg_has(e, "field '$meta' row id=0: the source value is not valid JSON");
    put_str(in, "$meta", r, "{}");
    put_str(in, "metadata", r, "{\"x\":01}");
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_msg_has(e, "row id=0: the source value is not valid JSON: invalid JSON at byte 5");
    vm_transform_free(t);

    /* rest with a default into a non-nullable JSON field */
    vm_schema *dst2 = SCH(false, {.name = "doc", .type = VM_T_JSON});
    t = mk_ok("{\"steps\":[{\"op\":\"rest\",\"target\":\"doc\",\"source\":\"metadata\","
              "\"remove\":[[\"x\"]],\"default\":{\"none\":true}}]}",
              src, dst2);
    vm_batch_clear(in);
    addrow(in);
    put_str(in, "metadata", addrow(in), "{\"x\":1,\"y\":2}");
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    str_eq(o, "doc", 0, "{\"none\":true}");
    str_eq(o, "doc", 1, "{\"y\":2}");
    vm_transform_free(t);

    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
    vm_schema_free(dst2);
}

/* ---------------------------------------------------------------------- */
/* const, defaults and nulls                                               */

static void test_const(void **state)
{
    (void)state;
    json_t *seven = json_integer(7);
    vm_schema *src = SCH(false, {.name = "id", .type = VM_T_INT64});
    vm_schema *dst = SCH(true, {.name = "id", .type = VM_T_INT64},
                         {.name = "tenant", .type = VM_T_VARCHAR, .max_length = 10},
                         {.name = "level", .type = VM_T_INT32},
                         {.name = "note", .type = VM_T_VARCHAR, .max_length = 10, .nullable = true},
                         {.name = "prio", .type = VM_T_INT16, .default_value = seven},
                         {.name = "flag", .type = VM_T_BOOL, .nullable = true},
                         {.name = "ratio", .type = VM_T_DOUBLE});
    json_decref(seven);
    vm_transform *t = mk_ok(
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
        "{\"op\":\"const\",\"target\":\"tenant\",\"value\":\"acme\"},"
        "{\"op\":\"const\",\"target\":\"level\",\"value\":5},"
        "{\"op\":\"const\",\"target\":\"flag\",\"value\":null},"
        "{\"op\":\"const\",\"target\":\"ratio\",\"default\":0.25},"
        "{\"op\":\"const\",\"target\":\"$meta\",\"value\":{\"src\":\"v1\"}}]}",
        src, dst);
    vm_batch *in = src_batch(src);
    const vm_batch *o;
    vm_err e;
    for (size_t round = 0; round < 3; round++) {
        vm_batch_clear(in);
        size_t n = round == 1 ? 9 : 2;
        for (size_t i = 0; i < n; i++)
            put_int(in, "id", addrow(in), (int64_t)(i * 10 + round));
        if (vm_transform_apply(t, in, &o, &e) != VM_OK)
            fail_msg("%s", e.msg);
        assert_int_equal(o->nrows, n);
        assert_int_equal(o->ncols, 8);
        for (size_t r = 0; r < n; r++) {
            assert_int_equal(get_int(o, "id", r), (int64_t)(r * 10 + round));
            str_eq(o, "tenant", r, "acme");
            assert_int_equal(get_int(o, "level", r), 5);
            str_eq(o, "note", r, NULL);
            assert_int_equal(get_int(o, "prio", r), 7);
            assert_true(is_null(o, "flag", r));
            assert_true(get_dbl(o, "ratio", r) == 0.25);
            str_eq(o, VM_META_FIELD, r, "{\"src\":\"v1\"}");
        }
        /* the text is held once */
        size_t tc = (size_t)col(o, "tenant");
        assert_int_equal(o->cols[tc].off[0], o->cols[tc].off[n - 1]);
        assert_int_equal(o->cols[tc].arena_len, 4);
    }
    vm_transform_free(t);

    /* refusals */
    struct {
        const char *prog, *msg;
    } bad[] = {
        {"{\"steps\":[{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
         "{\"op\":\"const\",\"target\":\"tenant\"},"
         "{\"op\":\"const\",\"target\":\"level\",\"value\":1},"
         "{\"op\":\"const\",\"target\":\"ratio\",\"value\":1}]}",
         "transform step 2 (target 'tenant'): a const step without a value needs a nullable "
         "field"},
        {"{\"steps\":[{\"op\":\"const\",\"target\":\"level\",\"value\":\"x\"}]}",
         "transform step 1 (target 'level'): default value: expected an integer, got \"x\""},
        {"{\"steps\":[{\"op\":\"const\",\"target\":\"level\",\"value\":1, \"source\":\"id\"}]}",
         "transform step 1 (target 'level'): a const step has no \"source\""},
        {"{\"steps\":[{\"op\":\"const\",\"target\":\"tenant\",\"value\":\"abcdefghijk\"}]}",
         "transform step 1 (target 'tenant'): default value: \"abcdefghijk\" is 11 bytes, over "
         "its max_length 10"},
        {"{\"steps\":[{\"op\":\"const\",\"target\":\"$meta\",\"value\":[1]}]}",
         "transform step 1 (target '$meta'): default value: the dynamic field takes a JSON "
         "object"},
        {"{\"steps\":[{\"op\":\"const\",\"target\":\"level\",\"value\":40000000000}]}",
         "40000000000 is out of range for Int32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = NULL;
        assert_int_equal(mk_t(bad[i].prog, src, dst, &t, &e), VM_ERR_INVALID);
        assert_null(t);
        assert_msg_has(e, bad[i].msg);
    }
    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
}

static void test_nulls_and_defaults(void **state)
{
    (void)state;
    json_t *nine = json_integer(9);
    vm_schema *src = SCH(false, {.name = "a", .type = VM_T_INT32, .nullable = true},
                         {.name = "b", .type = VM_T_VARCHAR, .max_length = 10, .nullable = true},
                         {.name = "c", .type = VM_T_INT32, .nullable = true},
                         {.name = "d", .type = VM_T_INT32, .nullable = true});
    vm_schema *dst = SCH(false, {.name = "a", .type = VM_T_INT32, .nullable = true},
                         {.name = "b", .type = VM_T_VARCHAR, .max_length = 10},
                         {.name = "c", .type = VM_T_INT32},
                         {.name = "d", .type = VM_T_INT64, .default_value = nine});
    json_decref(nine);
    const char *prog =
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"a\",\"source\":\"a\"},"
        "{\"op\":\"copy\",\"target\":\"b\",\"source\":\"b\",\"default\":\"none\"},"
        "{\"op\":\"copy\",\"target\":\"c\",\"source\":\"c\"},"
        "{\"op\":\"convert\",\"target\":\"d\",\"source\":\"d\"}]}";
    vm_transform *t = mk_ok(prog, src, dst);
    vm_batch *in = src_batch(src);
    size_t r0 = addrow(in), r1 = addrow(in);
    put_int(in, "a", r0, 1);
    put_str(in, "b", r0, "x");
    put_int(in, "c", r0, 3);
    put_int(in, "c", r1, 4);
    put_int(in, "d", r0, 5);
    const vm_batch *o;
    vm_err e;
    if (vm_transform_apply(t, in, &o, &e) != VM_OK)
        fail_msg("%s", e.msg);
    /* a: nullable -> nullable, borrowed with its null flags */
    assert_true(o->cols[0].borrowed);
    assert_ptr_equal(o->cols[0].nulls, in->cols[0].nulls);
    assert_int_equal(get_int(o, "a", 0), 1);
    assert_true(is_null(o, "a", 1));
    /* b: the step's default */
    str_eq(o, "b", 0, "x");
    str_eq(o, "b", 1, "none");
    assert_false(o->cols[1].borrowed);
    /* c: nullable source, non-nullable target without default: borrowed and
     * checked; no null flags on the output */
    assert_true(o->cols[2].borrowed);
    assert_null(o->cols[2].nulls);
    assert_int_equal(get_int(o, "c", 1), 4);
    /* d: the field's own default */
    assert_int_equal(get_int(o, "d", 0), 5);
    assert_int_equal(get_int(o, "d", 1), 9);
    vm_batch_set_null(in, 2, r1, &e);
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_msg_has(e, "field 'c' row 1 of the batch: the value is null, but the field is not nullable and "
                      "has no default");
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
}

/* ---------------------------------------------------------------------- */
/* borrowed copies, identity, target_of                                    */

static void test_borrow(void **state)
{
    (void)state;
    vm_schema *src = SCH(false, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 3},
                         {.name = "name", .type = VM_T_VARCHAR, .max_length = 10, .nullable = true},
                         {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
                         {.name = "arr", .type = VM_T_ARRAY, .element_type = VM_T_INT32,
                          .max_capacity = 4},
                         {.name = "n", .type = VM_T_INT32});
    vm_schema *dst = SCH(false, {.name = "pk", .type = VM_T_INT64, .primary = true},
                         {.name = "vec", .type = VM_T_FLOAT_VECTOR, .dim = 3},
                         {.name = "title", .type = VM_T_VARCHAR, .max_length = 64, .nullable = true},
                         {.name = "sparse", .type = VM_T_SPARSE_FLOAT_VECTOR},
                         {.name = "j", .type = VM_T_JSON},
                         {.name = "n64", .type = VM_T_INT64});
    vm_transform *t = mk_ok(
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"pk\",\"source\":\"id\"},"
        "{\"op\":\"copy\",\"target\":\"vec\",\"source\":\"v\"},"
        "{\"op\":\"copy\",\"target\":\"title\",\"source\":\"name\"},"
        "{\"op\":\"copy\",\"target\":\"sparse\",\"source\":\"sp\"},"
        "{\"op\":\"convert\",\"target\":\"j\",\"source\":\"arr\"},"
        "{\"op\":\"convert\",\"target\":\"n64\",\"source\":\"n\"}]}",
        src, dst);
    vm_err e;
    for (int round = 0; round < 2; round++) {
        vm_batch *in = src_batch(src);
        for (int64_t i = 0; i < 5 + round * 100; i++) {
            size_t r = addrow(in);
            put_int(in, "id", r, i + round);
            float *v = vm_batch_vector(in, 1, r);
            v[0] = (float)i;
            if (i % 2)
                put_str(in, "name", r, "nm");
            assert_int_equal(vm_batch_set_sparse(in, 3, r, (uint32_t[]){(uint32_t)i},
                                                 (float[]){1.0f}, 1, &e), VM_OK);
            put_str(in, "arr", r, "[1,2]");
            put_int(in, "n", r, -i);
        }
        const vm_batch *o;
        assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
        assert_int_equal(o->nrows, in->nrows);
        assert_string_equal(o->cols[0].name, "pk");
        assert_ptr_equal(o->cols[0].data, in->cols[0].data);
        assert_ptr_equal(o->cols[1].data, in->cols[1].data);
        assert_ptr_equal(o->cols[2].arena, in->cols[2].arena);
        assert_ptr_equal(o->cols[2].off, in->cols[2].off);
        assert_ptr_equal(o->cols[2].len, in->cols[2].len);
        assert_ptr_equal(o->cols[2].nulls, in->cols[2].nulls);
        assert_ptr_equal(o->cols[3].sp_idx, in->cols[3].sp_idx);
        assert_ptr_equal(o->cols[3].off, in->cols[3].off);
        assert_ptr_equal(o->cols[4].arena, in->cols[4].arena);
        assert_false(o->cols[5].borrowed); /* converted: owned */
        assert_int_equal(get_int(o, "pk", 4), 4 + round);
        str_eq(o, "title", 3, "nm");
        str_eq(o, "title", 2, NULL);
        str_eq(o, "j", 4, "[1,2]");
        assert_int_equal(get_int(o, "n64", 4), -4);
        vm_batch_free(in); /* the output's views die with it; the transform frees only its own */
    }
    assert_string_equal(vm_transform_target_of(t, "id"), "pk");
    assert_string_equal(vm_transform_target_of(t, "name"), "title");
    assert_null(vm_transform_target_of(t, "arr")); /* changed type */
    assert_null(vm_transform_target_of(t, "n"));
    assert_null(vm_transform_target_of(t, "nope"));
    vm_transform_free(t);
    vm_schema_free(src);
    vm_schema_free(dst);
}

static vm_schema *all_types(bool dyn)
{
    return SCH(dyn, {.name = "id", .type = VM_T_INT64, .primary = true, .auto_id = true},
               {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 2},
               {.name = "h", .type = VM_T_FLOAT16_VECTOR, .dim = 2},
               {.name = "b", .type = VM_T_BINARY_VECTOR, .dim = 8},
               {.name = "i8v", .type = VM_T_INT8_VECTOR, .dim = 2},
               {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
               {.name = "name", .type = VM_T_VARCHAR, .max_length = 10, .nullable = true},
               {.name = "n", .type = VM_T_INT8}, {.name = "f", .type = VM_T_FLOAT},
               {.name = "d", .type = VM_T_DOUBLE}, {.name = "ok", .type = VM_T_BOOL},
               {.name = "arr", .type = VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 3},
               {.name = "j", .type = VM_T_JSON, .nullable = true});
}

static void test_identity(void **state)
{
    (void)state;
    vm_schema *s = all_types(true);
    json_t *prog = vm_transform_identity(s);
    assert_non_null(prog);
    json_t *steps = json_object_get(prog, "steps");
    assert_int_equal(json_array_size(steps), s->nfields); /* - autoID + $meta */
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "target")),
                        "v");
    json_t *last = json_array_get(steps, s->nfields - 1);
    assert_string_equal(json_string_value(json_object_get(last, "source")), VM_META_FIELD);
    assert_string_equal(json_string_value(json_object_get(last, "op")), "copy");

    vm_transform *t;
    vm_err e;
    assert_int_equal(vm_transform_new(prog, s, s, &t, &e), VM_OK);
    json_decref(prog);

    /* the source batch has no autoID key */
    vm_schema *rs = vm_schema_clone(s);
    vm_schema_remove(rs, 0);
    vm_batch *in = src_batch(rs);
    for (int i = 0; i < 3; i++) {
        size_t r = addrow(in);
        float *v = vm_batch_vector(in, (size_t)col(in, "v"), r);
        v[1] = (float)i;
        if (i != 1)
            put_str(in, "name", r, "x");
        put_int(in, "n", r, i);
        put_dbl(in, "f", r, 0.5);
        put_str(in, "arr", r, "[1]");
        put_str(in, "$meta", r, "{\"k\":1.10}");
    }
    for (int round = 0; round < 2; round++) {
        const vm_batch *o;
        assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
        assert_int_equal(o->nrows, 3);
        assert_int_equal(o->ncols, in->ncols);
        for (size_t c = 0; c < o->ncols; c++) {
            assert_string_equal(o->cols[c].name, in->cols[c].name);
            assert_true(o->cols[c].borrowed);
            assert_int_equal(o->cols[c].type, in->cols[c].type);
            assert_ptr_equal(o->cols[c].data, in->cols[c].data);
            assert_ptr_equal(o->cols[c].arena, in->cols[c].arena);
            assert_ptr_equal(o->cols[c].off, in->cols[c].off);
            assert_ptr_equal(o->cols[c].nulls, in->cols[c].nulls);
            assert_ptr_equal(o->cols[c].sp_idx, in->cols[c].sp_idx);
        }
        str_eq(o, VM_META_FIELD, 2, "{\"k\":1.10}");
        str_eq(o, "name", 1, NULL);
        /* the input grows between applies: the views follow */
        size_t r = addrow(in);
        put_str(in, "arr", r, "[]");
        put_str(in, "$meta", r, "{}");
        in->nrows = 3;
    }
    assert_string_equal(vm_transform_target_of(t, "name"), "name");
    assert_string_equal(vm_transform_target_of(t, VM_META_FIELD), VM_META_FIELD);
    assert_null(vm_transform_target_of(t, "id"));
    vm_transform_free(t);

    /* a big batch: nothing copied, whatever its size */
    vm_batch_clear(in);
    for (int i = 0; i < 20000; i++) {
        size_t r = addrow(in);
        put_str(in, "arr", r, "[]");
        put_str(in, "$meta", r, "{}");
    }
    prog = vm_transform_identity(s);
    assert_int_equal(vm_transform_new(prog, s, s, &t, &e), VM_OK);
    json_decref(prog);
    const vm_batch *o;
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    assert_int_equal(o->nrows, 20000);
    for (size_t c = 0; c < o->ncols; c++)
        assert_ptr_equal(o->cols[c].data, in->cols[c].data);
    /* the source batch lacking its dynamic column is an error */
    vm_transform_free(t);
    vm_batch_free(in);

    vm_schema *nd = all_types(false);
    prog = vm_transform_identity(nd);
    assert_int_equal(json_array_size(json_object_get(prog, "steps")), nd->nfields - 1);
    assert_int_equal(vm_transform_new(prog, nd, nd, &t, &e), VM_OK);
    in = src_batch(nd); /* includes "id", which the program ignores */
    addrow(in);
    put_str(in, "arr", 0, "[]");
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    assert_int_equal(o->ncols, nd->nfields - 1);
    assert_int_equal(vm_batch_col(o, "id"), -1);
    vm_transform_free(t);
    vm_batch_free(in);
    json_decref(prog);

    /* a batch that does not match the schema */
    prog = vm_transform_identity(s);
    assert_int_equal(vm_transform_new(prog, s, s, &t, &e), VM_OK);
    json_decref(prog);
    in = src_batch(nd);
    addrow(in);
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_msg_has(e, "the batch has no column '$meta'");
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema *other = vm_schema_clone(rs);
    other->fields[5].type = VM_T_INT64; /* "name" as Int64 */
    other->enable_dynamic = true;
    in = src_batch(other);
    prog = vm_transform_identity(s);
    assert_int_equal(vm_transform_new(prog, s, s, &t, &e), VM_OK);
    json_decref(prog);
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_ERR_INVALID);
    assert_msg_has(e, "batch column 'name' is Int64, the source schema says VarChar");
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema_free(other);

    vm_schema_free(rs);
    vm_schema_free(nd);
    vm_schema_free(s);
}

/* ---------------------------------------------------------------------- */
/* build-time validation                                                   */

static void test_validation(void **state)
{
    (void)state;
    vm_schema *src = SCH(false, {.name = "a", .type = VM_T_INT32},
                         {.name = "dbl", .type = VM_T_DOUBLE},
                         {.name = "js", .type = VM_T_JSON},
                         {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 2});
    vm_schema *dst = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true, .auto_id = true},
                         {.name = "x", .type = VM_T_INT32, .nullable = true},
                         {.name = "y", .type = VM_T_VARCHAR, .max_length = 8, .nullable = true},
                         {.name = "fl", .type = VM_T_FLOAT, .nullable = true},
                         {.name = "vec", .type = VM_T_FLOAT_VECTOR, .dim = 2, .nullable = true},
                         {.name = "arr", .type = VM_T_ARRAY, .element_type = VM_T_INT32,
                          .max_capacity = 2, .nullable = true},
                         {.name = "req", .type = VM_T_INT64});
    vm_schema *nodyn = SCH(false, {.name = "x", .type = VM_T_INT32, .nullable = true});
    const char *req = ",{\"op\":\"const\",\"target\":\"req\",\"value\":1}";
    struct {
        const char *steps, *msg;
    } bad[] = {
        {"{\"op\":\"copy\",\"target\":\"nope\",\"source\":\"a\"}",
         "transform step 1 (target 'nope'): the target schema has no such field"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"zz\"}",
         "transform step 1 (target 'x'): the source schema has no field 'zz'"},
        {"{\"op\":\"convert\",\"target\":\"vec\",\"source\":\"a\"}",
         "transform step 1 (target 'vec'): cannot convert Int32 'a' to FloatVector"},
        {"{\"op\":\"convert\",\"target\":\"fl\",\"source\":\"dbl\"}",
         "transform step 1 (target 'fl'): Double 'dbl' -> Float may change values"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\"},"
         "{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\"}",
         "transform step 2 (target 'x'): another step already fills it"},
        {"{\"op\":\"copy\",\"target\":\"id\",\"source\":\"a\"}",
         "transform step 1 (target 'id'): the field is an autoID primary key"},
        {"{\"op\":\"move\",\"target\":\"x\",\"source\":\"a\"}",
         "transform step 1 (target 'x'): unknown op 'move'"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"sauce\":\"a\"}",
         "transform step 1 (target 'x'): unknown key 'sauce'"},
        {"{\"target\":\"x\",\"source\":\"a\"}", "transform step 1 (target 'x'): no \"op\""},
        {"{\"op\":\"copy\",\"source\":\"a\"}", "transform step 1 (target '?'): no \"target\""},
        {"{\"op\":\"copy\",\"target\":\"x\"}", "transform step 1 (target 'x'): no \"source\""},
        {"{\"op\":\"lift\",\"target\":\"x\",\"source\":\"js\",\"path\":\"a.b\"}",
         "transform step 1 (target 'x'): \"path\" must be a non-empty array of keys"},
        {"{\"op\":\"lift\",\"target\":\"x\",\"source\":\"js\",\"path\":[]}",
         "\"path\" must be a non-empty array of keys"},
        {"{\"op\":\"lift\",\"target\":\"x\",\"source\":\"js\",\"path\":[\"a\",\"\"]}",
         "\"path\": key 1 is not a non-empty string"},
        {"{\"op\":\"lift\",\"target\":\"x\",\"source\":\"js\"}", "\"path\" must be"},
        {"{\"op\":\"lift\",\"target\":\"x\",\"source\":\"a\",\"path\":[\"k\"]}",
         "transform step 1 (target 'x'): lift reads a JSON field, and 'a' is Int32"},
        {"{\"op\":\"lift\",\"target\":\"vec\",\"source\":\"js\",\"path\":[\"k\"]}",
         "a JSON value cannot become FloatVector"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\",\"path\":[\"k\"]}",
         "\"path\" belongs to lift steps"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\",\"truncate\":true}",
         "\"truncate\" applies to VarChar fields only"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\",\"lossy\":1}",
         "\"lossy\" and \"truncate\" take true or false"},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\",\"default\":\"x\"}",
         "transform step 1 (target 'x'): default value: expected an integer, got \"x\""},
        {"{\"op\":\"copy\",\"target\":\"x\",\"source\":\"a\",\"value\":1}",
         "\"value\" belongs to const steps"},
        {"{\"op\":\"convert\",\"target\":\"arr\",\"source\":\"js\",\"default\":[1,\"x\"]}",
         "default value: element 1: expected an integer"},
        {"{\"op\":\"convert\",\"target\":\"arr\",\"source\":\"js\",\"default\":[1,2,3]}",
         "default value: array of 3 elements, over its max_capacity 2"},
        {"{\"op\":\"copy\",\"target\":\"vec\",\"source\":\"v\",\"default\":[1,2]}",
         "a vector field takes no default value"},
        {"{\"op\":\"copy\",\"target\":\"req\",\"source\":\"a\"}",
         "transform step 1 (target 'req'): copy cannot change Int32 'a' into Int64: use convert"},
        {"{\"op\":\"rest\",\"target\":\"y\",\"source\":\"js\"}",
         "rest writes a JSON field or the dynamic field, and 'y' is VarChar"},
        {"{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"a\"}",
         "rest reads a JSON field, and 'a' is Int32"},
        {"{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"js\",\"remove\":[\"a\"]}",
         "\"remove\" path 0 must be a non-empty array of keys"},
        {"{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"js\",\"remove\":{}}",
         "\"remove\" must be an array of paths"},
        {"{\"op\":\"copy\",\"target\":\"$meta\",\"source\":\"$meta\"}",
         "the source schema has no field '$meta'"},
        {"{\"op\":\"convert\",\"target\":\"$meta\",\"source\":\"a\"}",
         "the dynamic field takes JSON objects, not Int32"},
        {"{\"op\":\"lift\",\"target\":\"$meta\",\"source\":\"js\",\"path\":[\"k\"]}",
         "use rest for the dynamic field"},
        {"{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"js\"}",
         "transform step 1 (target '$meta'): the target has no dynamic field"},
        {"7", "transform step 1 (target '?'): not an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char prog[1024];
        bool nd = strstr(bad[i].msg, "has no dynamic field") != NULL;
        snprintf(prog, sizeof prog, "{\"steps\":[%s%s]}", bad[i].steps, nd ? "" : req);
        vm_transform *t = (vm_transform *)1;
        vm_err e;
        int rc = mk_t(prog, src, nd ? nodyn : dst, &t, &e);
        if (rc != VM_ERR_INVALID)
            fail_msg("case %zu accepted (rc %d): %s", i, rc, prog);
        assert_null(t);
        assert_msg_has(e, bad[i].msg);
    }
    /* a field no step fills */
    vm_transform *t;
    vm_err e;
    assert_int_equal(mk_t("{\"steps\":[]}", src, dst, &t, &e), VM_ERR_INVALID);
    assert_msg_has(e, "transform: target field 'req' is filled by no step and is neither "
                      "nullable nor defaulted");
    assert_int_equal(mk_t("{\"stops\":[]}", src, dst, &t, &e), VM_ERR_INVALID);
    assert_msg_has(e, "the program has no \"steps\" array");
    /* everything else is fine: only req filled, the rest null */
    t = mk_ok("{\"steps\":[{\"op\":\"const\",\"target\":\"req\",\"value\":1}]}", src, dst);
    vm_batch *in = src_batch(src);
    addrow(in);
    const vm_batch *o;
    assert_int_equal(vm_transform_apply(t, in, &o, &e), VM_OK);
    assert_int_equal(o->ncols, 6); /* no autoID key, no $meta */
    assert_true(is_null(o, "x", 0));
    assert_true(is_null(o, "vec", 0));
    assert_int_equal(get_int(o, "req", 0), 1);
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
    vm_schema_free(nodyn);
}

/* Every allocation failing in turn: NOMEM (or success), never a crash or a
 * leak (ASan checks the latter). */
static void test_alloc_failures(void **state)
{
    (void)state;
    vm_schema *src = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "md", .type = VM_T_JSON, .nullable = true},
                         {.name = "d", .type = VM_T_DOUBLE});
    vm_schema *dst = SCH(true, {.name = "id", .type = VM_T_INT64, .primary = true},
                         {.name = "a", .type = VM_T_VARCHAR, .max_length = 8, .nullable = true},
                         {.name = "tags", .type = VM_T_ARRAY, .element_type = VM_T_INT64,
                          .max_capacity = 4, .nullable = true},
                         {.name = "md", .type = VM_T_JSON, .nullable = true},
                         {.name = "txt", .type = VM_T_VARCHAR, .max_length = 32},
                         {.name = "k", .type = VM_T_VARCHAR, .max_length = 8});
    const char *prog =
        "{\"steps\":[{\"op\":\"copy\",\"target\":\"id\",\"source\":\"id\"},"
        "{\"op\":\"lift\",\"target\":\"a\",\"source\":\"md\",\"path\":[\"x\",\"a\"]},"
        "{\"op\":\"lift\",\"target\":\"tags\",\"source\":\"md\",\"path\":[\"t\"]},"
        "{\"op\":\"rest\",\"target\":\"md\",\"source\":\"md\",\"remove\":[[\"x\",\"a\"],[\"t\"]]},"
        "{\"op\":\"convert\",\"target\":\"txt\",\"source\":\"d\"},"
        "{\"op\":\"const\",\"target\":\"k\",\"value\":\"kk\"},"
        "{\"op\":\"rest\",\"target\":\"$meta\",\"source\":\"$meta\",\"remove\":[[\"z\"]]}]}";
    json_t *j = json_loads(prog, 0, NULL);
    assert_non_null(j);
    vm_batch *in = src_batch(src);
    for (int i = 0; i < 40; i++) {
        size_t r = addrow(in);
        put_int(in, "id", r, i);
        put_str(in, "md", r, "{\"x\":{\"a\":\"\\u00e9t\u00e9\",\"b\":1},\"t\":[1,2],\"u\":1.10}");
        put_dbl(in, "d", r, 0.1 * i);
        put_str(in, "$meta", r, "{\"z\":1,\"y\":2}");
    }
    bool succeeded = false;
    for (long n = 0; n < 2000 && !succeeded; n++) {
        vm_transform *t = NULL;
        vm_err e;
        vm_mem_fail_after(n);
        int rc = vm_transform_new(j, src, dst, &t, &e);
        if (rc == VM_OK) {
            const vm_batch *o;
            rc = vm_transform_apply(t, in, &o, &e);
            if (rc == VM_OK) {
                vm_mem_fail_after(-1);
                succeeded = true;
                str_eq(o, "md", 39, "{\"x\":{\"b\":1},\"u\":1.10}");
                str_eq(o, "a", 39, "\xc3\xa9t\xc3\xa9");
                str_eq(o, "k", 39, "kk");
                str_eq(o, VM_META_FIELD, 39, "{\"y\":2}");
            }
        } else {
            assert_null(t);
        }
        vm_mem_fail_after(-1);
        if (rc != VM_OK && rc != VM_ERR_NOMEM)
            fail_msg("allocation %ld failing gave rc %d: %s", n, rc, e.msg);
        vm_transform_free(t);
    }
    assert_true(succeeded);
    json_decref(j);
    vm_batch_free(in);
    vm_schema_free(src);
    vm_schema_free(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversion_table),
        cmocka_unit_test(test_int_conversions),
        cmocka_unit_test(test_int_to_real),
        cmocka_unit_test(test_real_conversions),
        cmocka_unit_test(test_to_varchar),
        cmocka_unit_test(test_from_varchar),
        cmocka_unit_test(test_varchar_limits),
        cmocka_unit_test(test_json_conversions),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_lift),
        cmocka_unit_test(test_lift_meta),
        cmocka_unit_test(test_rest),
        cmocka_unit_test(test_const),
        cmocka_unit_test(test_nulls_and_defaults),
        cmocka_unit_test(test_borrow),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

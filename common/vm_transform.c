/*
 * vm_transform.c - run a mapping program over batches (see vm_transform.h).
 *
 * Each step is built into one of three modes:
 *   borrow   the output column is a view of the input column's buffers
 *            (vm_batch_borrow), refreshed on every apply: copies, and the
 *            conversions that keep the representation (Array -> JSON, JSON
 *            -> VarChar). Values are only looked at when a limit may be
 *            exceeded (shorter max_length, smaller capacity, nulls into a
 *            non-nullable field), never copied. An identity program is all
 *            borrows: O(columns) per batch.
 *   compute  an owned column written row by row: numeric conversions in
 *            loops over the typed arrays, everything else through one
 *            value type (xf_val) and one conversion function (xf_conv)
 *            that the defaults also go through when the program is built.
 *   const    an owned column holding one value; rows are filled only as the
 *            batch grows beyond what was filled before (var-length values
 *            are stored once in the arena and every row points at them).
 * Lifts from the same source column share one scan of its JSON per row
 * (vm_json_find with all their paths).
 *
 * Null results: the step's "default" if it has one; else null when the
 * target is nullable (Milvus then applies the field's own default, if any);
 * else the target field's default_value; else the row fails.
 */
#include "vm_transform.h"
#include "vm_buf.h"
#include "vm_json_scan.h"
#include "vm_mem.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum xf_mode { XF_BORROW, XF_COMPUTE, XF_CONST } xf_mode;

/* A value on its way from a source column (or a JSON span) to a target. */
typedef enum xf_kind {
    XV_NULL,
    XV_BOOL,
    XV_INT,
    XV_FLT, /* a float32 value (d holds it exactly) */
    XV_DBL,
    XV_STR,  /* UTF-8 text, or the text to store for VarChar/JSON/Array targets */
    XV_JSON, /* a JSON value's text; jk says which kind */
} xf_kind;

typedef struct xf_val {
    xf_kind k;
    vm_json_kind jk;
    bool b;
    int64_t i;
    double d;
    const char *s;
    size_t n;
} xf_val;

/* Counters and scratch space of one conversion run. */
typedef struct xf_ctx {
    int64_t truncated, changed;
    const vm_batch *in; /* the batch being transformed, for messages */
    int keycol;         /* its source primary key column, -1 if none */
    vm_buf text;  /* output text of the current value */
    vm_buf elem;  /* an array element's unescaped text */
} xf_ctx;

typedef struct xf_group xf_group;

typedef struct xf_step {
    vm_xf_op op;
    int index; /* 1-based, for messages */
    xf_mode mode;
    char *target, *source; /* source NULL for const */
    const vm_field *tf;    /* target field (in t->dst, or t->meta_field) */
    const vm_field *sf;    /* source field (in t->src, or t->meta_field) */
    bool src_meta;         /* the source column is "$meta" */
    const xf_ctx *x;       /* for messages: the row's key */
    const char *in_name;   /* the input batch column's name */
    int in_col;            /* cached index in the input batch */
    int out_col;
    vm_conv_kind kind;
    bool lossy, truncate;
    /* borrow checks */
    bool chk_len, chk_array;
    /* lift */
    char **path;
    size_t depth;
    xf_group *group;
    size_t slot;
    /* rest */
    char ***rm_keys;
    vm_json_path *rm;
    size_t nrm;
    /* null results */
    bool has_def;
    xf_val def;
    char *def_text; /* owned bytes of def when it is text */
    /* const */
    size_t const_rows;
    char *label; /* "field 'x'" or "field 'x' (lift of src.a.b)" */
} xf_step;

struct xf_group {
    const char *in_name;
    const vm_field *sf;
    int in_col;
    xf_step *first;
    vm_json_path *paths;
    size_t npaths;
    vm_json_span *spans; /* nrows * npaths */
    size_t spans_cap;
};

struct vm_transform {
    vm_schema *src, *dst;
    vm_field meta_field;
    xf_step *steps;
    size_t nsteps;
    xf_group *groups;
    size_t ngroups;
    vm_batch *out;
    xf_ctx ctx;
    vm_transform_stats stats;
};

/* ---------------------------------------------------------------------- */
/* type classes and the conversion table                                   */

static bool xf_is_int(vm_dtype t) { return t >= VM_T_INT8 && t <= VM_T_INT64; }
static bool xf_is_num(vm_dtype t) { return xf_is_int(t) || t == VM_T_FLOAT || t == VM_T_DOUBLE; }
static bool xf_is_scalar(vm_dtype t) { return t == VM_T_BOOL || xf_is_num(t) || t == VM_T_VARCHAR; }

static int xf_int_bits(vm_dtype t)
{
    switch (t) {
    case VM_T_INT8: return 8;
    case VM_T_INT16: return 16;
    case VM_T_INT32: return 32;
    default: return 64;
    }
}

static void xf_int_range(vm_dtype t, int64_t *lo, int64_t *hi)
{
    switch (t) {
    case VM_T_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case VM_T_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case VM_T_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

/* to's byte limit is below from's (or from has none). */
static bool xf_len_narrower(const vm_field *from, const vm_field *to)
{
    return to->max_length > 0 && (from->max_length <= 0 || from->max_length > to->max_length);
}

static vm_conv_kind xf_set(const char **note, const char *text, vm_conv_kind k)
{
    if (note)
        *note = text;
    return k;
}

vm_conv_kind vm_transform_conversion(const vm_field *from, const vm_field *to, const char **note)
{
    vm_dtype a = from->type, b = to->type;
    if (note)
        *note = NULL;
    if (a == b) {
        if (vm_dtype_is_dense_vector(a))
            return from->dim == to->dim
                       ? xf_set(note, "same type", VM_CONV_EXACT)
                       : xf_set(note, "vector dims differ", VM_CONV_NONE);
        if (a == VM_T_VARCHAR)
            return xf_len_narrower(from, to)
                       ? xf_set(note, "VarChar -> shorter VarChar: longer values fail the row",
                                VM_CONV_CHECKED)
                       : xf_set(note, "same type", VM_CONV_EXACT);
        if (a == VM_T_ARRAY) {
            if (from->element_type != to->element_type)
                return xf_set(note, "Array element types differ", VM_CONV_NONE);
            bool cap = to->max_capacity > 0 &&
                       (from->max_capacity <= 0 || from->max_capacity > to->max_capacity);
            bool len = to->element_type == VM_T_VARCHAR && xf_len_narrower(from, to);
            if (cap || len)
                return xf_set(note,
                              "Array -> smaller Array: longer arrays or elements fail the row",
                              VM_CONV_CHECKED);
        }
        return xf_set(note, "same type", VM_CONV_EXACT);
    }
    if (a == VM_T_JSON) {
        if (b == VM_T_VARCHAR)
            return xf_set(note, "JSON -> VarChar: the JSON text", VM_CONV_EXACT);
        if (b == VM_T_BOOL || xf_is_num(b) || b == VM_T_ARRAY)
            return xf_set(note, "JSON -> typed value: values of another kind fail the row",
                          VM_CONV_CHECKED);
        return xf_set(note, "no conversion from JSON to a vector", VM_CONV_NONE);
    }
    if (b == VM_T_JSON) {
        if (xf_is_scalar(a) || a == VM_T_ARRAY)
            return xf_set(note, "value -> JSON value", VM_CONV_EXACT);
        return xf_set(note, "no conversion from a vector to JSON", VM_CONV_NONE);
    }
    if (b == VM_T_VARCHAR && (a == VM_T_BOOL || xf_is_num(a)))
        return xf_set(note, "value -> its text (max_length checked)", VM_CONV_EXACT);
    if (a == VM_T_BOOL && xf_is_int(b))
        return xf_set(note, "Bool -> 0/1", VM_CONV_EXACT);
    if (xf_is_int(a) && xf_is_int(b))
        return xf_int_bits(b) >= xf_int_bits(a)
                   ? xf_set(note, "integer widening", VM_CONV_EXACT)
                   : xf_set(note, "integer narrowing: values out of range fail the row",
                            VM_CONV_CHECKED);
    if (xf_is_int(a) && b == VM_T_FLOAT)
        return xf_int_bits(a) <= 16
                   ? xf_set(note, "small integer -> Float", VM_CONV_EXACT)
                   : xf_set(note, "integer -> Float rounds to float32 (24-bit mantissa)",
                            VM_CONV_LOSSY);
    if (xf_is_int(a) && b == VM_T_DOUBLE)
        return xf_int_bits(a) <= 32
                   ? xf_set(note, "integer -> Double", VM_CONV_EXACT)
                   : xf_set(note, "Int64 -> Double rounds beyond 2^53", VM_CONV_LOSSY);
    if (a == VM_T_FLOAT && b == VM_T_DOUBLE)
        return xf_set(note, "Float -> Double", VM_CONV_EXACT);
    if (a == VM_T_DOUBLE && b == VM_T_FLOAT)
        return xf_set(note, "Double -> Float rounds to float32", VM_CONV_LOSSY);
    if ((a == VM_T_FLOAT || a == VM_T_DOUBLE) && xf_is_int(b))
        return xf_set(note, "number -> integer: fractions and values out of range fail the row",
                      VM_CONV_CHECKED);
    if (a == VM_T_VARCHAR && xf_is_int(b))
        return xf_set(note, "text -> integer: anything but a decimal integer fails the row",
                      VM_CONV_CHECKED);
    if (a == VM_T_VARCHAR && (b == VM_T_FLOAT || b == VM_T_DOUBLE))
        return xf_set(note, "text -> number: parsed and rounded; non-numbers fail the row",
                      VM_CONV_LOSSY);
    if (a == VM_T_VARCHAR && b == VM_T_BOOL)
        return xf_set(note, "text -> Bool: only \"true\" and \"false\"", VM_CONV_CHECKED);
    if (a == VM_T_FLOAT_VECTOR && (b == VM_T_FLOAT16_VECTOR || b == VM_T_BFLOAT16_VECTOR))
        return from->dim == to->dim
                   ? xf_set(note, "FloatVector -> half precision rounds each element",
                            VM_CONV_LOSSY)
                   : xf_set(note, "vector dims differ", VM_CONV_NONE);
    if ((a == VM_T_FLOAT16_VECTOR || a == VM_T_BFLOAT16_VECTOR) && b == VM_T_FLOAT_VECTOR)
        return from->dim == to->dim ? xf_set(note, "half precision -> FloatVector", VM_CONV_EXACT)
                                    : xf_set(note, "vector dims differ", VM_CONV_NONE);
    return xf_set(note, "no such conversion", VM_CONV_NONE);
}

/* What a lifted JSON value can become. */
static vm_conv_kind xf_lift_kind(const vm_field *to)
{
    if (to->type == VM_T_JSON)
        return VM_CONV_EXACT;
    if (to->type == VM_T_BOOL || xf_is_num(to->type) || to->type == VM_T_VARCHAR ||
        to->type == VM_T_ARRAY)
        return VM_CONV_CHECKED;
    return VM_CONV_NONE;
}

/* ---------------------------------------------------------------------- */
/* messages                                                                */

/* At most 40 bytes of s, cut at a UTF-8 boundary, "..." when cut. */
static const char *xf_snip(const char *s, size_t n, char out[64])
{
    size_t m = n;
    if (m > 40) {
        m = 40;
        while (m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
            m--;
    }
    memcpy(out, s, m);
    if (m < n)
        memcpy(out + m, "...", 4);
    else
        out[m] = '\0';
    return out;
}

/* The value as a message shows it: JSON text as it is, text quoted. */
static const char *xf_show(const xf_val *v, char out[72])
{
    char tmp[64];
    switch (v->k) {
    case XV_NULL: return "null";
    case XV_BOOL: return v->b ? "true" : "false";
    case XV_INT: snprintf(out, 72, "%lld", (long long)v->i); return out;
    case XV_FLT: snprintf(out, 72, "%.9g", v->d); return out;
    case XV_DBL: snprintf(out, 72, "%.17g", v->d); return out;
    case XV_STR: snprintf(out, 72, "\"%s\"", xf_snip(v->s, v->n, tmp)); return out;
    default: return xf_snip(v->s, v->n, out);
    }
}

static int xf_expected(const char *what, const xf_val *v, vm_err *err)
{
    char tmp[72];
    return vm_err_setc(err, VM_ERR_INVALID, "expected %s, got %s", what, xf_show(v, tmp));
}

/* ---------------------------------------------------------------------- */
/* scalar conversions                                                      */

/* Strict decimal integer text: optional sign, digits, nothing else. */
static int xf_parse_int(const char *s, size_t n, int64_t *out, bool *range)
{
    size_t i = 0;
    bool neg = false;
    *range = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n)
        return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (lim - dgt) / 10)
            *range = true;
        else
            v = v * 10 + dgt;
    }
    if (*range)
        return -1;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* Decimal floating-point text: [+-] digits [. digits] [e [+-] digits]
 * (".5" and "5." too); no spaces, no inf/nan/hex. */
static int xf_parse_dbl(const char *s, size_t n, double *out, bool *range)
{
    size_t i = 0, digits = 0;
    *range = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (!e)
            return -1;
    }
    if (i != n)
        return -1;
    char tmp[128];
    char *p = n < sizeof tmp ? tmp : vm_malloc(n + 1);
    if (!p)
        return -1;
    memcpy(p, s, n);
    p[n] = '\0';
    double d = strtod(p, NULL);
    if (p != tmp)
        vm_free(p);
    if (!isfinite(d)) {
        *range = true;
        return -1;
    }
    *out = d;
    return 0;
}

/* The value as an integer of type t (range-checked). */
static int xf_to_int(xf_ctx *x, vm_dtype t, const xf_val *v, int64_t *out, vm_err *err)
{
    (void)x;
    int64_t i = 0, lo, hi;
    char tmp[72];
    xf_int_range(t, &lo, &hi);
    switch (v->k) {
    case XV_BOOL: i = v->b; break;
    case XV_INT: i = v->i; break;
    case XV_FLT:
    case XV_DBL: {
        double d = v->d;
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            goto range;
        i = (int64_t)d;
        if ((double)i != d)
            return vm_err_setc(err, VM_ERR_INVALID, "%s is not an integer", xf_show(v, tmp));
        break;
    }
    case XV_STR: {
        bool r;
        if (xf_parse_int(v->s, v->n, &i, &r) != 0) {
            if (r)
                goto range;
            return xf_expected("a decimal integer", v, err);
        }
        break;
    }
    case XV_JSON:
        if (v->jk != VM_JSON_NUMBER)
            return xf_expected("an integer", v, err);
        switch (vm_json_number_i64(v->s, v->n, &i)) {
        case VM_JSON_NUM_OK: break;
        case VM_JSON_NUM_FRACTION: return xf_expected("an integer", v, err);
        default: goto range;
        }
        break;
    default: return xf_expected("an integer", v, err);
    }
    if (i < lo || i > hi)
        goto range;
    *out = i;
    return VM_OK;
range:
    return vm_err_setc(err, VM_ERR_INVALID, "%s is out of range for %s", xf_show(v, tmp),
                       vm_dtype_name(t));
}

/* Whether float f is not exactly the integer i. */
static bool xf_int_changed_f(int64_t i, float f)
{
    if ((double)f >= 9223372036854775808.0 || (double)f < -9223372036854775808.0)
        return true;
    return (int64_t)f != i;
}

static bool xf_int_changed_d(int64_t i, double d)
{
    if (d >= 9223372036854775808.0 || d < -9223372036854775808.0)
        return true;
    return (int64_t)d != i;
}

/* Double to float: out of float range fails; changes counted. */
static int xf_dbl_to_flt(xf_ctx *x, const xf_val *v, double d, double *out, vm_err *err)
{
    char tmp[72];
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return vm_err_setc(err, VM_ERR_INVALID, "%s is out of range for Float", xf_show(v, tmp));
    float f = (float)d;
    if ((double)f != d && d == d)
        x->changed++;
    *out = f;
    return VM_OK;
}

static int xf_to_real(xf_ctx *x, bool single, const xf_val *v, double *out, vm_err *err)
{
    double d = 0;
    char tmp[72];
    switch (v->k) {
    case XV_INT:
        if (single) {
            float f = (float)v->i;
            if (xf_int_changed_f(v->i, f))
                x->changed++;
            *out = f;
        } else {
            d = (double)v->i;
            if (xf_int_changed_d(v->i, d))
                x->changed++;
            *out = d;
        }
        return VM_OK;
    case XV_FLT:
    case XV_DBL: d = v->d; break;
    case XV_STR: {
        bool r;
        if (xf_parse_dbl(v->s, v->n, &d, &r) != 0) {
            if (r)
                return vm_err_setc(err, VM_ERR_INVALID, "%s is out of range for %s",
                                   xf_show(v, tmp), single ? "Float" : "Double");
            return xf_expected("a number", v, err);
        }
        break;
    }
    case XV_JSON:
        if (v->jk != VM_JSON_NUMBER)
            return xf_expected("a number", v, err);
        if (vm_json_number_f64(v->s, v->n, &d) != VM_JSON_NUM_OK)
            return vm_err_setc(err, VM_ERR_INVALID, "%s is out of range for %s", xf_show(v, tmp),
                               single ? "Float" : "Double");
        break;
    default: return xf_expected("a number", v, err);
    }
    if (single && v->k != XV_FLT)
        return xf_dbl_to_flt(x, v, d, out, err);
    *out = d;
    return VM_OK;
}

/* Fit text to a VarChar limit: cut (counted) when allowed, else fail. */
static int xf_fit(xf_ctx *x, const vm_field *f, bool truncate, const char *s, size_t *n,
                  vm_err *err)
{
    if (f->max_length <= 0 || *n <= (size_t)f->max_length)
        return VM_OK;
    if (!truncate) {
        char tmp[64];
        return vm_err_setc(err, VM_ERR_INVALID,
                           "\"%s\" is %zu bytes, over its max_length %lld (values are never "
                           "truncated unless the mapping says truncate)",
                           xf_snip(s, *n, tmp), *n, (long long)f->max_length);
    }
    size_t m = (size_t)f->max_length;
    while (m > 0 && ((unsigned char)s[m] & 0xc0) == 0x80)
        m--; /* s[m] starts the first character that does not fit */
    *n = m;
    x->truncated++;
    return VM_OK;
}

/* Text of a scalar (VarChar and JSON targets): into x->text. */
static int xf_scalar_text(xf_ctx *x, const xf_val *v, vm_err *err)
{
    vm_buf_clear(&x->text);
    int rc = 0;
    switch (v->k) {
    case XV_BOOL: vm_buf_puts(&x->text, v->b ? "true" : "false"); break;
    case XV_INT: vm_buf_i64(&x->text, v->i); break;
    case XV_FLT: rc = vm_buf_f32(&x->text, (float)v->d); break;
    case XV_DBL: rc = vm_buf_f64(&x->text, v->d); break;
    default: return vm_err_setc(err, VM_ERR_INTERNAL, "transform: not a scalar");
    }
    if (rc != 0) {
        vm_buf_clear(&x->text);
        return vm_err_setc(err, VM_ERR_INVALID, "NaN or infinity has no text form");
    }
    if (!vm_buf_ok(&x->text))
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    return VM_OK;
}

/* A JSON array value into Array<E> text: elements checked against E,
 * written compactly; integers canonical, other numbers and strings as the
 * source wrote them. */
static int xf_to_array(xf_ctx *x, const vm_field *f, const xf_val *v, vm_err *err)
{
    if (v->k != XV_JSON || v->jk != VM_JSON_ARRAY)
        return xf_expected("an array", v, err);
    vm_buf_clear(&x->text);
    vm_buf_putc(&x->text, '[');
    vm_json_iter it;
    vm_json_span e;
    size_t count = 0;
    vm_json_iter_init(&it, v->s, (vm_json_span){0, v->n, VM_JSON_ARRAY});
    while (vm_json_iter_next(&it, &e)) {
        xf_val ev = {.k = XV_JSON, .jk = e.kind, .s = v->s + e.off, .n = e.len};
        int rc = VM_OK;
        if (count++)
            vm_buf_putc(&x->text, ',');
        if (f->max_capacity > 0 && count > (size_t)f->max_capacity) {
            size_t total = count;
            while (vm_json_iter_next(&it, &e))
                total++;
            return vm_err_setc(err, VM_ERR_INVALID, "array of %zu elements, over its "
                               "max_capacity %lld", total, (long long)f->max_capacity);
        }
        switch (f->element_type) {
        case VM_T_BOOL:
            if (e.kind != VM_JSON_TRUE && e.kind != VM_JSON_FALSE)
                rc = xf_expected("a boolean", &ev, err);
            else
                vm_buf_append(&x->text, ev.s, ev.n);
            break;
        case VM_T_INT8:
        case VM_T_INT16:
        case VM_T_INT32:
        case VM_T_INT64: {
            int64_t i;
            if ((rc = xf_to_int(x, f->element_type, &ev, &i, err)) == VM_OK)
                vm_buf_i64(&x->text, i);
            break;
        }
        case VM_T_FLOAT:
        case VM_T_DOUBLE: {
            double d;
            if ((rc = xf_to_real(x, f->element_type == VM_T_FLOAT, &ev, &d, err)) == VM_OK)
                vm_buf_append(&x->text, ev.s, ev.n);
            break;
        }
        case VM_T_VARCHAR:
            if (e.kind != VM_JSON_STRING) {
                rc = xf_expected("a string", &ev, err);
                break;
            }
            vm_buf_clear(&x->elem);
            if ((rc = vm_json_unescape(ev.s, ev.n, &x->elem, err)) != VM_OK)
                break;
            if (f->max_length > 0 && x->elem.len > (size_t)f->max_length) {
                char tmp[64];
                rc = vm_err_setc(err, VM_ERR_INVALID, "\"%s\" is %zu bytes, over its "
                                 "max_length %lld", xf_snip(x->elem.data, x->elem.len, tmp),
                                 x->elem.len, (long long)f->max_length);
                break;
            }
            vm_buf_append(&x->text, ev.s, ev.n);
            break;
        default:
            rc = vm_err_setc(err, VM_ERR_INVALID, "Array of %s is not supported",
                             vm_dtype_name(f->element_type) ? vm_dtype_name(f->element_type)
                                                            : "?");
        }
        if (rc != VM_OK)
            return vm_err_prefix(err, "element %zu: ", count - 1);
    }
    vm_buf_putc(&x->text, ']');
    if (!vm_buf_ok(&x->text))
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    return VM_OK;
}

/* Convert v (not null) to the representation of field f. The result's
 * text, if any, lives in v's bytes or in x->text until the next call. */
static int xf_conv(xf_ctx *x, const vm_field *f, bool truncate, const xf_val *v, xf_val *out,
                   vm_err *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    switch (f->type) {
    case VM_T_BOOL:
        out->k = XV_BOOL;
        if (v->k == XV_BOOL)
            out->b = v->b;
        else if (v->k == XV_STR && v->n == 4 && memcmp(v->s, "true", 4) == 0)
            out->b = true;
        else if (v->k == XV_STR && v->n == 5 && memcmp(v->s, "false", 5) == 0)
            out->b = false;
        else if (v->k == XV_JSON && (v->jk == VM_JSON_TRUE || v->jk == VM_JSON_FALSE))
            out->b = v->jk == VM_JSON_TRUE;
        else
            return xf_expected(v->k == XV_STR ? "\"true\" or \"false\"" : "a boolean", v, err);
        return VM_OK;
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: out->k = XV_INT; return xf_to_int(x, f->type, v, &out->i, err);
    case VM_T_FLOAT:
    case VM_T_DOUBLE:
        out->k = f->type == VM_T_FLOAT ? XV_FLT : XV_DBL;
        return xf_to_real(x, f->type == VM_T_FLOAT, v, &out->d, err);
    case VM_T_VARCHAR:
        out->k = XV_STR;
        if (v->k == XV_STR) {
            out->s = v->s;
            out->n = v->n;
        } else if (v->k == XV_JSON) {
            if (v->jk != VM_JSON_STRING)
                return xf_expected("a string", v, err);
            vm_buf_clear(&x->text);
            if ((rc = vm_json_unescape(v->s, v->n, &x->text, err)) != VM_OK)
                return rc;
            out->s = x->text.data ? x->text.data : "";
            out->n = x->text.len;
        } else {
            if ((rc = xf_scalar_text(x, v, err)) != VM_OK)
                return rc;
            out->s = x->text.data;
            out->n = x->text.len;
        }
        return xf_fit(x, f, truncate, out->s, &out->n, err);
    case VM_T_JSON:
        out->k = XV_STR;
        if (v->k == XV_JSON) {
            out->s = v->s;
            out->n = v->n;
            return VM_OK;
        }
        if (v->k == XV_STR) {
            vm_buf_clear(&x->text);
            vm_buf_json_str(&x->text, v->s, v->n);
            if (!vm_buf_ok(&x->text))
                return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
        } else if ((rc = xf_scalar_text(x, v, err)) != VM_OK) {
            return rc;
        }
        out->s = x->text.data;
        out->n = x->text.len;
        return VM_OK;
    case VM_T_ARRAY:
        out->k = XV_STR;
        if ((rc = xf_to_array(x, f, v, err)) != VM_OK)
            return rc;
        out->s = x->text.data;
        out->n = x->text.len;
        return VM_OK;
    default:
        return vm_err_setc(err, VM_ERR_INTERNAL, "transform: cannot convert to %s",
                           vm_dtype_name(f->type) ? vm_dtype_name(f->type) : "?");
    }
}

/* ---------------------------------------------------------------------- */
/* column access                                                           */

static inline int64_t xf_rd_int(const vm_column *c, size_t r)
{
    const uint8_t *p = c->data + r * c->width;
    switch (c->type) {
    case VM_T_BOOL:
    case VM_T_INT8: return (int8_t)*p;
    case VM_T_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case VM_T_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline double xf_rd_real(const vm_column *c, size_t r)
{
    const uint8_t *p = c->data + r * c->width;
    if (c->type == VM_T_FLOAT) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    double d;
    memcpy(&d, p, 8);
    return d;
}

static inline void xf_wr_int(vm_column *c, size_t r, int64_t v)
{
    uint8_t *p = c->data + r * c->width;
    switch (c->type) {
    case VM_T_BOOL:
    case VM_T_INT8: *p = (uint8_t)(int8_t)v; break;
    case VM_T_INT16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case VM_T_INT32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

static inline void xf_wr_real(vm_column *c, size_t r, double d)
{
    uint8_t *p = c->data + r * c->width;
    if (c->type == VM_T_FLOAT) {
        float f = (float)d;
        memcpy(p, &f, 4);
    } else {
        memcpy(p, &d, 8);
    }
}

static int xf_put_text(vm_column *c, size_t r, const char *s, size_t n, vm_err *err)
{
    if (n > UINT32_MAX)
        return vm_err_setc(err, VM_ERR_INVALID, "value of %zu bytes is too long", n);
    if (vm_grow((void **)&c->arena, &c->arena_cap, c->arena_len + n + 1, 1) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    if (n)
        memcpy(c->arena + c->arena_len, s, n);
    c->off[r] = c->arena_len;
    c->len[r] = (uint32_t)n;
    c->arena_len += n;
    return VM_OK;
}

/* Store a converted (non-null) value in row r. */
static int xf_put(vm_column *c, size_t r, const xf_val *v, vm_err *err)
{
    if (c->nulls)
        c->nulls[r] = 0;
    switch (v->k) {
    case XV_BOOL: c->data[r] = v->b ? 1 : 0; return VM_OK;
    case XV_INT: xf_wr_int(c, r, v->i); return VM_OK;
    case XV_FLT:
    case XV_DBL: xf_wr_real(c, r, v->d); return VM_OK;
    case XV_STR: return xf_put_text(c, r, v->s, v->n, err);
    default: return vm_err_setc(err, VM_ERR_INTERNAL, "transform: nothing to store");
    }
}

/* Name row r by its source key when the batch has it (the batch index
 * means nothing to a user), else by its index in the batch. */
static int xf_row_fail(const xf_step *st, size_t r, vm_err *err)
{
    const xf_ctx *x = st->x;
    if (x && x->in && x->keycol >= 0 && !vm_batch_is_null(x->in, (size_t)x->keycol, r)) {
        const vm_column *kc = &x->in->cols[x->keycol];
        if (kc->type == VM_T_VARCHAR) {
            size_t n;
            const char *k = vm_batch_get_str(x->in, (size_t)x->keycol, r, &n);
            return vm_err_prefix(err, "%s row %s='%.*s'%s: ", st->label, kc->name,
                                 (int)(n < 64 ? n : 64), k, n > 64 ? "..." : "");
        }
        if (kc->type >= VM_T_INT8 && kc->type <= VM_T_INT64)
            return vm_err_prefix(err, "%s row %s=%lld: ", st->label, kc->name,
                                 (long long)vm_batch_get_int(x->in, (size_t)x->keycol, r));
    }
    return vm_err_prefix(err, "%s row %zu of the batch: ", st->label, r);
}

/* A null result in row r: the default, null, or an error. */
static int xf_null(const xf_step *st, vm_column *c, size_t r, vm_err *err)
{
    if (st->has_def) {
        int rc = xf_put(c, r, &st->def, err);
        return rc == VM_OK ? rc : xf_row_fail(st, r, err);
    }
    if (c->nulls) {
        c->nulls[r] = 1;
        if (c->width)
            memset(c->data + r * c->width, 0, c->width);
        if (c->off)
            c->off[r] = 0, c->len[r] = 0;
        return VM_OK;
    }
    vm_err_setc(err, VM_ERR_INVALID, "the value is null, but the field is not nullable and has "
                "no default");
    return xf_row_fail(st, r, err);
}

/* ---------------------------------------------------------------------- */
/* half precision                                                          */

static inline uint32_t xf_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float xf_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* float32 -> IEEE half, round to nearest even (F. Giesen's method). Returns
 * -1 for NaN, infinity and values too large for a half. */
static inline int xf_f32_to_f16(float f, uint16_t *out)
{
    uint32_t x = xf_f2u(f);
    uint32_t sign = x & 0x80000000u;
    x ^= sign;
    uint16_t o;
    if (x >= 0x47800000u) /* >= 65536, infinity or NaN */
        return -1;
    if (x < 0x38800000u) { /* half subnormal or zero: align with a magic add */
        const uint32_t magic = ((127 - 15) + (23 - 10) + 1) << 23;
        float t = xf_u2f(x) + xf_u2f(magic);
        o = (uint16_t)(xf_f2u(t) - magic);
    } else {
        uint32_t odd = (x >> 13) & 1;
        x += ((uint32_t)(15 - 127) << 23) + 0xfff;
        x += odd;
        o = (uint16_t)(x >> 13);
        if (o >= 0x7c00) /* rounded up to infinity */
            return -1;
    }
    *out = (uint16_t)(o | (sign >> 16));
    return 0;
}

static inline float xf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f); /* mant * 2^-24, exact */
        return sign ? -v : v;
    }
    if (exp == 31)
        return xf_u2f(sign | 0x7f800000u | (mant << 13));
    return xf_u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline int xf_f32_to_bf16(float f, uint16_t *out)
{
    uint32_t x = xf_f2u(f);
    if ((x & 0x7f800000u) == 0x7f800000u)
        return -1; /* NaN or infinity */
    x += 0x7fffu + ((x >> 16) & 1);
    if ((x & 0x7f800000u) == 0x7f800000u)
        return -1; /* rounded up to infinity */
    *out = (uint16_t)(x >> 16);
    return 0;
}

static inline float xf_bf16_to_f32(uint16_t h) { return xf_u2f((uint32_t)h << 16); }

static int xf_vectors(xf_ctx *x, const xf_step *st, const vm_column *ic, vm_column *oc,
                      size_t nrows, vm_err *err)
{
    size_t dim = (size_t)st->tf->dim;
    for (size_t r = 0; r < nrows; r++) {
        if (ic->nulls && ic->nulls[r]) {
            int rc = xf_null(st, oc, r, err);
            if (rc != VM_OK)
                return rc;
            continue;
        }
        if (oc->nulls)
            oc->nulls[r] = 0;
        const uint8_t *ip = ic->data + r * ic->width;
        uint8_t *op = oc->data + r * oc->width;
        if (ic->type == VM_T_FLOAT_VECTOR) {
            bool bf = oc->type == VM_T_BFLOAT16_VECTOR, changed = false;
            for (size_t j = 0; j < dim; j++) {
                float f;
                uint16_t h;
                memcpy(&f, ip + 4 * j, 4);
                if ((bf ? xf_f32_to_bf16(f, &h) : xf_f32_to_f16(f, &h)) != 0) {
                    vm_err_setc(err, VM_ERR_INVALID, "element %zu (%g) is NaN, infinite or out "
                                "of %s range", j, (double)f, bf ? "BFloat16" : "Float16");
                    return xf_row_fail(st, r, err);
                }
                changed |= (bf ? xf_bf16_to_f32(h) : xf_f16_to_f32(h)) != f;
                memcpy(op + 2 * j, &h, 2);
            }
            x->changed += changed;
        } else {
            bool bf = ic->type == VM_T_BFLOAT16_VECTOR;
            for (size_t j = 0; j < dim; j++) {
                uint16_t h;
                memcpy(&h, ip + 2 * j, 2);
                float f = bf ? xf_bf16_to_f32(h) : xf_f16_to_f32(h);
                memcpy(op + 4 * j, &f, 4);
            }
        }
    }
    return VM_OK;
}

/* ---------------------------------------------------------------------- */
/* numeric columns                                                         */

static int xf_numeric(xf_ctx *x, const xf_step *st, const vm_column *ic, vm_column *oc,
                      size_t nrows, vm_err *err)
{
    vm_dtype a = ic->type, b = oc->type;
    int rc;
    bool a_int = a == VM_T_BOOL || xf_is_int(a);
    if (a_int && (b == VM_T_BOOL || xf_is_int(b))) {
        int64_t lo, hi;
        xf_int_range(b, &lo, &hi);
        for (size_t r = 0; r < nrows; r++) {
            if (ic->nulls && ic->nulls[r]) {
                if ((rc = xf_null(st, oc, r, err)) != VM_OK)
                    return rc;
                continue;
            }
            int64_t v = xf_rd_int(ic, r);
            if (v < lo || v > hi) {
                vm_err_setc(err, VM_ERR_INVALID, "%lld is out of range for %s", (long long)v,
                            vm_dtype_name(b));
                return xf_row_fail(st, r, err);
            }
            xf_wr_int(oc, r, v);
            if (oc->nulls)
                oc->nulls[r] = 0;
        }
        return VM_OK;
    }
    if (a_int) { /* -> Float / Double */
        bool single = b == VM_T_FLOAT;
        int64_t changed = 0;
        for (size_t r = 0; r < nrows; r++) {
            if (ic->nulls && ic->nulls[r]) {
                if ((rc = xf_null(st, oc, r, err)) != VM_OK)
                    return rc;
                continue;
            }
            int64_t v = xf_rd_int(ic, r);
            if (single) {
                float f = (float)v;
                changed += xf_int_changed_f(v, f);
                memcpy(oc->data + 4 * r, &f, 4);
            } else {
                double d = (double)v;
                changed += xf_int_changed_d(v, d);
                memcpy(oc->data + 8 * r, &d, 8);
            }
            if (oc->nulls)
                oc->nulls[r] = 0;
        }
        x->changed += changed;
        return VM_OK;
    }
    /* Float / Double source */
    for (size_t r = 0; r < nrows; r++) {
        if (ic->nulls && ic->nulls[r]) {
            if ((rc = xf_null(st, oc, r, err)) != VM_OK)
                return rc;
            continue;
        }
        double d = xf_rd_real(ic, r);
        if (b == VM_T_DOUBLE || (b == VM_T_FLOAT && a == VM_T_FLOAT)) {
            xf_wr_real(oc, r, d);
        } else if (b == VM_T_FLOAT) {
            xf_val v = {.k = XV_DBL, .d = d};
            if ((rc = xf_dbl_to_flt(x, &v, d, &d, err)) != VM_OK)
                return xf_row_fail(st, r, err);
            xf_wr_real(oc, r, d);
        } else {
            xf_val v = {.k = a == VM_T_FLOAT ? XV_FLT : XV_DBL, .d = d};
            int64_t i;
            if ((rc = xf_to_int(x, b, &v, &i, err)) != VM_OK)
                return xf_row_fail(st, r, err);
            xf_wr_int(oc, r, i);
        }
        if (oc->nulls)
            oc->nulls[r] = 0;
    }
    return VM_OK;
}

/* ---------------------------------------------------------------------- */
/* generic rows                                                            */

/* Row r of a source column as a value. JSON and Array text is validated
 * unless `raw` (then it is text, as for JSON -> VarChar). */
static int xf_read(const vm_column *ic, size_t r, bool raw, xf_val *v, vm_err *err)
{
    memset(v, 0, sizeof *v);
    if (ic->nulls && ic->nulls[r]) {
        v->k = XV_NULL;
        return VM_OK;
    }
    switch (ic->type) {
    case VM_T_BOOL: v->k = XV_BOOL; v->b = ic->data[r] != 0; break;
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: v->k = XV_INT; v->i = xf_rd_int(ic, r); break;
    case VM_T_FLOAT: v->k = XV_FLT; v->d = xf_rd_real(ic, r); break;
    case VM_T_DOUBLE: v->k = XV_DBL; v->d = xf_rd_real(ic, r); break;
    case VM_T_VARCHAR:
    case VM_T_JSON:
    case VM_T_ARRAY: {
        const char *s = ic->arena ? ic->arena + ic->off[r] : "";
        size_t n = ic->len[r];
        if (ic->type == VM_T_VARCHAR || raw) {
            v->k = XV_STR;
            v->s = s;
            v->n = n;
            break;
        }
        vm_json_span sp;
        int rc = vm_json_check(s, n, &sp, err);
        if (rc != VM_OK)
            return vm_err_prefix(err, "the source value is not valid JSON: ");
        v->k = sp.kind == VM_JSON_NULL ? XV_NULL : XV_JSON;
        v->jk = sp.kind;
        v->s = s + sp.off;
        v->n = sp.len;
        break;
    }
    default: return vm_err_setc(err, VM_ERR_INTERNAL, "transform: cannot read this column");
    }
    return VM_OK;
}

static int xf_store(xf_ctx *x, const xf_step *st, vm_column *oc, size_t r, const xf_val *v,
                    vm_err *err)
{
    if (v->k == XV_NULL)
        return xf_null(st, oc, r, err);
    xf_val o;
    int rc = xf_conv(x, st->tf, st->truncate, v, &o, err);
    if (rc == VM_OK)
        rc = xf_put(oc, r, &o, err);
    return rc == VM_OK ? rc : xf_row_fail(st, r, err);
}

static int xf_generic(xf_ctx *x, const xf_step *st, const vm_column *ic, vm_column *oc,
                      size_t nrows, vm_err *err)
{
    bool raw = st->tf->type == VM_T_VARCHAR; /* JSON -> VarChar: the text */
    for (size_t r = 0; r < nrows; r++) {
        xf_val v;
        int rc = xf_read(ic, r, raw, &v, err);
        if (rc != VM_OK)
            return xf_row_fail(st, r, err);
        if ((rc = xf_store(x, st, oc, r, &v, err)) != VM_OK)
            return rc;
    }
    return VM_OK;
}

static int xf_lift(xf_ctx *x, const xf_step *st, const vm_column *ic, vm_column *oc,
                   size_t nrows, vm_err *err)
{
    const xf_group *g = st->group;
    for (size_t r = 0; r < nrows; r++) {
        const vm_json_span *sp = &g->spans[r * g->npaths + st->slot];
        xf_val v = {.k = XV_NULL};
        if (sp->kind != VM_JSON_MISSING && sp->kind != VM_JSON_NULL) {
            v.k = XV_JSON;
            v.jk = sp->kind;
            v.s = ic->arena + ic->off[r] + sp->off;
            v.n = sp->len;
        }
        int rc = xf_store(x, st, oc, r, &v, err);
        if (rc != VM_OK)
            return rc;
    }
    return VM_OK;
}

static int xf_rest(xf_ctx *x, const xf_step *st, const vm_column *ic, vm_column *oc,
                   size_t nrows, vm_err *err)
{
    bool meta = st->tf->name && strcmp(st->tf->name, VM_META_FIELD) == 0;
    for (size_t r = 0; r < nrows; r++) {
        int rc;
        if (ic->nulls && ic->nulls[r]) {
            if ((rc = xf_null(st, oc, r, err)) != VM_OK)
                return rc;
            continue;
        }
        const char *s = ic->arena ? ic->arena + ic->off[r] : "";
        size_t n = ic->len[r], i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            i++;
        if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            vm_json_span sp;
            if (vm_json_check(s, n, &sp, err) == VM_OK && sp.kind == VM_JSON_NULL) {
                if ((rc = xf_null(st, oc, r, err)) != VM_OK)
                    return rc;
                continue;
            }
        }
        vm_buf_clear(&x->text);
        rc = vm_json_remove(s, n, st->rm, st->nrm, &x->text, NULL, err);
        if (rc != VM_OK) {
            vm_err_prefix(err, "the source value is not valid JSON: ");
            return xf_row_fail(st, r, err);
        }
        if (meta && (i >= n || s[i] != '{')) {
            char tmp[64];
            vm_err_setc(err, VM_ERR_INVALID, "the dynamic field takes a JSON object, got %s",
                        xf_snip(s + i, n - i, tmp));
            return xf_row_fail(st, r, err);
        }
        if (oc->nulls)
            oc->nulls[r] = 0;
        if ((rc = xf_put_text(oc, r, x->text.data ? x->text.data : "", x->text.len, err)) !=
            VM_OK)
            return xf_row_fail(st, r, err);
    }
    return VM_OK;
}

/* Limits a borrowed column's values must meet (nothing copied). */
static int xf_borrow_check(xf_ctx *x, const xf_step *st, const vm_column *ic, size_t nrows,
                           vm_err *err)
{
    if (!st->tf->nullable && ic->nulls) {
        const uint8_t *p = memchr(ic->nulls, 1, nrows);
        if (p) {
            vm_err_setc(err, VM_ERR_INVALID, "the value is null, but the field is not nullable "
                        "and has no default");
            return xf_row_fail(st, (size_t)(p - ic->nulls), err);
        }
    }
    if (st->chk_len) {
        size_t lim = (size_t)st->tf->max_length;
        for (size_t r = 0; r < nrows; r++) {
            if (ic->len[r] <= lim || (ic->nulls && ic->nulls[r]))
                continue;
            size_t n = ic->len[r];
            xf_fit(x, st->tf, false, ic->arena + ic->off[r], &n, err);
            return xf_row_fail(st, r, err);
        }
    }
    if (st->chk_array) {
        for (size_t r = 0; r < nrows; r++) {
            xf_val v;
            int rc = xf_read(ic, r, false, &v, err);
            if (rc == VM_OK && v.k != XV_NULL)
                rc = xf_to_array(x, st->tf, &v, err);
            if (rc != VM_OK)
                return xf_row_fail(st, r, err);
        }
    }
    return VM_OK;
}

static int xf_const_fill(xf_step *st, vm_column *oc, size_t nrows)
{
    for (size_t r = st->const_rows; r < nrows; r++) {
        if (oc->nulls)
            oc->nulls[r] = st->has_def ? 0 : 1;
        if (oc->off) {
            oc->off[r] = 0;
            oc->len[r] = st->has_def ? (uint32_t)st->def.n : 0;
        } else if (st->has_def) {
            xf_put(oc, r, &st->def, NULL);
        } else {
            memset(oc->data + r * oc->width, 0, oc->width);
        }
    }
    if (nrows > st->const_rows)
        st->const_rows = nrows;
    return VM_OK;
}

/* ---------------------------------------------------------------------- */
/* apply                                                                   */

static int xf_in_col(vm_batch *in, const char *name, const vm_field *sf, int *cache,
                     const vm_column **out, vm_err *err)
{
    int i = *cache;
    if (i < 0 || (size_t)i >= in->ncols || strcmp(in->cols[i].name, name) != 0)
        i = *cache = vm_batch_col(in, name);
    if (i < 0)
        return vm_err_setc(err, VM_ERR_INVALID, "transform: the batch has no column '%s'", name);
    const vm_column *c = &in->cols[i];
    if (c->type != sf->type ||
        (vm_dtype_is_dense_vector(c->type) && c->width != vm_dtype_vector_bytes(sf->type, sf->dim)))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "transform: batch column '%s' is %s, the source schema says %s", name,
                           vm_dtype_name(c->type) ? vm_dtype_name(c->type) : "?",
                           vm_dtype_name(sf->type) ? vm_dtype_name(sf->type) : "?");
    *out = c;
    return VM_OK;
}

static int xf_scan_group(xf_group *g, const vm_column *ic, size_t nrows, vm_err *err)
{
    size_t need = nrows * g->npaths;
    if (need > g->spans_cap &&
        vm_grow((void **)&g->spans, &g->spans_cap, need, sizeof *g->spans) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    for (size_t r = 0; r < nrows; r++) {
        vm_json_span *sp = g->spans + r * g->npaths;
        if (ic->nulls && ic->nulls[r]) {
            for (size_t k = 0; k < g->npaths; k++)
                sp[k].kind = VM_JSON_MISSING;
            continue;
        }
        const char *s = ic->arena ? ic->arena + ic->off[r] : "";
        int rc = vm_json_find(s, ic->len[r], g->paths, g->npaths, sp, err);
        if (rc != VM_OK) {
            vm_err_prefix(err, "the source value is not valid JSON: ");
            return xf_row_fail(g->first, r, err);
        }
    }
    return VM_OK;
}

int vm_transform_apply(vm_transform *t, vm_batch *in, const vm_batch **out, vm_err *err)
{
    xf_ctx *x = &t->ctx;
    size_t nrows = in->nrows;
    int rc;
    *out = NULL;
    x->changed = x->truncated = 0;
    x->in = in;
    const vm_field *key = vm_schema_primary(t->src);
    x->keycol = key ? vm_batch_col(in, key->name) : -1;
    for (size_t i = 0; i < t->nsteps; i++)
        t->steps[i].x = x;
    if ((rc = vm_batch_reserve(t->out, nrows, err)) != VM_OK)
        return rc;
    for (size_t g = 0; g < t->ngroups; g++) {
        xf_group *gr = &t->groups[g];
        const vm_column *ic;
        if ((rc = xf_in_col(in, gr->in_name, gr->sf, &gr->in_col, &ic, err)) != VM_OK ||
            (rc = xf_scan_group(gr, ic, nrows, err)) != VM_OK)
            return rc;
    }
    for (size_t i = 0; i < t->nsteps; i++) {
        xf_step *st = &t->steps[i];
        vm_column *oc = &t->out->cols[st->out_col];
        const vm_column *ic = NULL;
        if (st->mode == XF_CONST) {
            xf_const_fill(st, oc, nrows);
            continue;
        }
        if ((rc = xf_in_col(in, st->in_name, st->sf, &st->in_col, &ic, err)) != VM_OK)
            return rc;
        if (st->mode == XF_BORROW) {
            if ((rc = xf_borrow_check(x, st, ic, nrows, err)) != VM_OK)
                return rc;
            vm_batch_borrow(t->out, (size_t)st->out_col, ic);
            continue;
        }
        oc->arena_len = 0;
        switch (st->op) {
        case VM_XF_LIFT: rc = xf_lift(x, st, ic, oc, nrows, err); break;
        case VM_XF_REST: rc = xf_rest(x, st, ic, oc, nrows, err); break;
        default:
            if (vm_dtype_is_dense_vector(ic->type))
                rc = xf_vectors(x, st, ic, oc, nrows, err);
            else if ((ic->type == VM_T_BOOL || xf_is_num(ic->type)) &&
                     (oc->type == VM_T_BOOL || xf_is_num(oc->type)))
                rc = xf_numeric(x, st, ic, oc, nrows, err);
            else
                rc = xf_generic(x, st, ic, oc, nrows, err);
        }
        if (rc != VM_OK)
            return rc;
    }
    t->out->nrows = nrows;
    t->stats.changed += x->changed;
    t->stats.truncated += x->truncated;
    *out = t->out;
    return VM_OK;
}

/* ---------------------------------------------------------------------- */
/* building                                                                */

static void xf_step_release(xf_step *st)
{
    vm_free(st->target);
    vm_free(st->source);
    for (size_t k = 0; k < st->depth; k++)
        vm_free(st->path[k]);
    vm_free(st->path);
    for (size_t p = 0; p < st->nrm; p++) {
        for (size_t k = 0; k < st->rm[p].depth; k++)
            vm_free(st->rm_keys[p][k]);
        vm_free(st->rm_keys[p]);
    }
    vm_free(st->rm_keys);
    vm_free(st->rm);
    vm_free(st->def_text);
    vm_free(st->label);
}

void vm_transform_free(vm_transform *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nsteps; i++)
        xf_step_release(&t->steps[i]);
    vm_free(t->steps);
    for (size_t g = 0; g < t->ngroups; g++) {
        vm_free(t->groups[g].paths);
        vm_free(t->groups[g].spans);
    }
    vm_free(t->groups);
    vm_batch_free(t->out);
    vm_buf_release(&t->ctx.text);
    vm_buf_release(&t->ctx.elem);
    vm_schema_free(t->src);
    vm_schema_free(t->dst);
    vm_free(t);
}

#define XF_FAIL(...)                                                                       \
    do {                                                                                   \
        rc = vm_err_setc(err, VM_ERR_INVALID, __VA_ARGS__);                                \
        goto fail;                                                                         \
    } while (0)

/* A path: a non-empty JSON array of non-empty strings. */
static int xf_parse_path(const json_t *j, char ***keys, size_t *depth, const char *what,
                         vm_err *err)
{
    *keys = NULL;
    *depth = 0;
    if (!json_is_array(j) || json_array_size(j) == 0)
        return vm_err_setc(err, VM_ERR_INVALID, "%s must be a non-empty array of keys", what);
    size_t n = json_array_size(j);
    if (!(*keys = vm_calloc(n, sizeof **keys)))
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    for (size_t k = 0; k < n; k++) {
        const json_t *e = json_array_get(j, k);
        if (!json_is_string(e) || json_string_length(e) == 0 ||
            strlen(json_string_value(e)) != json_string_length(e))
            return vm_err_setc(err, VM_ERR_INVALID, "%s: key %zu is not a non-empty string",
                               what, k);
        if (!((*keys)[k] = vm_strdup(json_string_value(e))))
            return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
        (*depth)++;
    }
    return VM_OK;
}

/* "src.a.b" for messages. */
static char *xf_path_text(const char *source, char **keys, size_t depth)
{
    vm_buf b;
    vm_buf_init(&b);
    vm_buf_puts(&b, source);
    for (size_t k = 0; k < depth; k++) {
        vm_buf_putc(&b, '.');
        vm_buf_puts(&b, keys[k]);
    }
    char *s = vm_buf_ok(&b) ? vm_strdup(vm_buf_cstr(&b)) : NULL;
    vm_buf_release(&b);
    return s;
}

/* The step's value for null results (or const), converted to the target
 * now so that a bad default fails the build, not a row. */
static int xf_set_default(vm_transform *t, xf_step *st, const json_t *j, vm_err *err)
{
    if (vm_dtype_is_vector(st->tf->type))
        return vm_err_setc(err, VM_ERR_INVALID, "a vector field takes no default value");
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    vm_json_span sp = {0};
    xf_val v, o = {0};
    size_t n = strlen(text);
    int rc = vm_json_check(text, n, &sp, err);
    if (rc == VM_OK) {
        v = (xf_val){.k = sp.kind == VM_JSON_NULL ? XV_NULL : XV_JSON, .jk = sp.kind,
                     .s = text + sp.off, .n = sp.len};
        if (v.k == XV_NULL) {
            free(text);
            return VM_OK; /* a null default is no default */
        }
        int64_t changed = t->ctx.changed, truncated = t->ctx.truncated;
        rc = xf_conv(&t->ctx, st->tf, st->truncate, &v, &o, err);
        t->ctx.changed = changed;
        t->ctx.truncated = truncated;
    }
    if (rc == VM_OK && strcmp(st->tf->name, VM_META_FIELD) == 0 && sp.kind != VM_JSON_OBJECT)
        rc = vm_err_setc(err, VM_ERR_INVALID, "the dynamic field takes a JSON object");
    if (rc == VM_OK && o.k == XV_STR) {
        if (!(st->def_text = vm_malloc(o.n + 1))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
        } else {
            memcpy(st->def_text, o.s, o.n);
            st->def_text[o.n] = '\0';
            o.s = st->def_text;
        }
    }
    free(text);
    if (rc != VM_OK)
        return vm_err_prefix(err, "default value: ");
    st->def = o;
    st->has_def = true;
    return VM_OK;
}

static const char *const xf_step_keys[] = {"op", "target", "source", "path", "remove", "lossy",
                                           "truncate", "default", "value", NULL};

static int xf_build_step(vm_transform *t, xf_step *st, const json_t *js, bool *targeted,
                         bool *meta_targeted, vm_err *err)
{
    int rc = VM_OK;
    if (!json_is_object(js))
        XF_FAIL("not an object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)js, key, val) {
        bool known = false;
        for (size_t k = 0; xf_step_keys[k]; k++)
            known |= strcmp(key, xf_step_keys[k]) == 0;
        if (!known)
            XF_FAIL("unknown key '%s'", key);
    }
    const char *op = json_string_value(json_object_get(js, "op"));
    const char *target = json_string_value(json_object_get(js, "target"));
    const char *source = json_string_value(json_object_get(js, "source"));
    if (!op)
        XF_FAIL("no \"op\"");
    if (strcmp(op, "copy") == 0) st->op = VM_XF_COPY;
    else if (strcmp(op, "convert") == 0) st->op = VM_XF_CONVERT;
    else if (strcmp(op, "lift") == 0) st->op = VM_XF_LIFT;
    else if (strcmp(op, "rest") == 0) st->op = VM_XF_REST;
    else if (strcmp(op, "const") == 0) st->op = VM_XF_CONST;
    else XF_FAIL("unknown op '%s' (copy, convert, lift, rest or const)", op);
    if (!target || !*target)
        XF_FAIL("no \"target\"");
    if (!(st->target = vm_strdup(target)))
        goto nomem;
    const json_t *jl = json_object_get(js, "lossy"), *jt = json_object_get(js, "truncate");
    if ((jl && !json_is_boolean(jl)) || (jt && !json_is_boolean(jt)))
        XF_FAIL("\"lossy\" and \"truncate\" take true or false");
    st->lossy = json_is_true(jl);
    st->truncate = json_is_true(jt);

    /* target */
    bool to_meta = strcmp(target, VM_META_FIELD) == 0;
    if (to_meta) {
        if (!t->dst->enable_dynamic)
            XF_FAIL("the target has no dynamic field");
        if (*meta_targeted)
            XF_FAIL("another step already fills it");
        *meta_targeted = true;
        st->tf = &t->meta_field;
    } else {
        int fi = vm_schema_index(t->dst, target);
        if (fi < 0)
            XF_FAIL("the target schema has no such field");
        st->tf = &t->dst->fields[fi];
        if (st->tf->primary && st->tf->auto_id)
            XF_FAIL("the field is an autoID primary key: Milvus generates it");
        if (targeted[fi])
            XF_FAIL("another step already fills it");
        targeted[fi] = true;
    }
    if (st->truncate && st->tf->type != VM_T_VARCHAR)
        XF_FAIL("\"truncate\" applies to VarChar fields only");

    /* source */
    if (st->op == VM_XF_CONST) {
        if (source)
            XF_FAIL("a const step has no \"source\"");
    } else {
        if (!source || !*source)
            XF_FAIL("no \"source\"");
        if (!(st->source = vm_strdup(source)))
            goto nomem;
        const vm_field *sf = vm_schema_find(t->src, source);
        if (sf) {
            st->sf = sf;
            st->in_name = sf->name;
        } else if ((t->src->enable_dynamic || t->src->dynamic_alias) &&
                   (strcmp(source, VM_META_FIELD) == 0 ||
                    (t->src->dynamic_alias && strcmp(source, t->src->dynamic_alias) == 0))) {
            st->sf = &t->meta_field;
            st->src_meta = true;
            st->in_name = VM_META_FIELD;
        } else {
            XF_FAIL("the source schema has no field '%s'", source);
        }
    }
    st->in_col = -1;

    /* op-specific */
    const char *tname = vm_dtype_name(st->tf->type) ? vm_dtype_name(st->tf->type) : "?";
    const char *sname = st->sf && vm_dtype_name(st->sf->type) ? vm_dtype_name(st->sf->type) : "?";
    const char *note = NULL;
    if (json_object_get(js, "path") && st->op != VM_XF_LIFT)
        XF_FAIL("\"path\" belongs to lift steps");
    if (json_object_get(js, "remove") && st->op != VM_XF_REST)
        XF_FAIL("\"remove\" belongs to rest steps");
    if (json_object_get(js, "value") && st->op != VM_XF_CONST)
        XF_FAIL("\"value\" belongs to const steps (other steps take \"default\")");
    switch (st->op) {
    case VM_XF_COPY:
    case VM_XF_CONVERT:
        st->kind = vm_transform_conversion(st->sf, st->tf, &note);
        if (st->kind == VM_CONV_NONE)
            XF_FAIL("cannot convert %s '%s' to %s (%s)", sname, source, tname, note);
        if (st->op == VM_XF_COPY && st->sf->type != st->tf->type)
            XF_FAIL("copy cannot change %s '%s' into %s: use convert", sname, source, tname);
        if (st->kind == VM_CONV_LOSSY && !st->lossy)
            XF_FAIL("%s '%s' -> %s may change values (%s): it needs \"lossy\": true", sname,
                    source, tname, note);
        if (to_meta && st->sf->type != VM_T_JSON)
            XF_FAIL("the dynamic field takes JSON objects, not %s", sname);
        break;
    case VM_XF_LIFT:
        if (st->sf->type != VM_T_JSON)
            XF_FAIL("lift reads a JSON field, and '%s' is %s", source, sname);
        st->kind = xf_lift_kind(st->tf);
        if (st->kind == VM_CONV_NONE)
            XF_FAIL("a JSON value cannot become %s", tname);
        if (to_meta)
            XF_FAIL("lift fills typed fields; use rest for the dynamic field");
        if ((rc = xf_parse_path(json_object_get(js, "path"), &st->path, &st->depth, "\"path\"",
                                err)) != VM_OK)
            goto fail;
        break;
    case VM_XF_REST: {
        if (st->sf->type != VM_T_JSON)
            XF_FAIL("rest reads a JSON field, and '%s' is %s", source, sname);
        if (st->tf->type != VM_T_JSON)
            XF_FAIL("rest writes a JSON field or the dynamic field, and '%s' is %s", target,
                    tname);
        st->kind = VM_CONV_EXACT;
        const json_t *rm = json_object_get(js, "remove");
        if (rm && !json_is_array(rm))
            XF_FAIL("\"remove\" must be an array of paths");
        size_t n = rm ? json_array_size(rm) : 0;
        if (n && (!(st->rm = vm_calloc(n, sizeof *st->rm)) ||
                  !(st->rm_keys = vm_calloc(n, sizeof *st->rm_keys))))
            goto nomem;
        for (size_t p = 0; p < n; p++) {
            char what[48];
            snprintf(what, sizeof what, "\"remove\" path %zu", p);
            size_t depth;
            rc = xf_parse_path(json_array_get(rm, p), &st->rm_keys[p], &depth, what, err);
            st->rm[p].keys = (const char *const *)st->rm_keys[p];
            st->rm[p].depth = depth;
            st->nrm++;
            if (rc != VM_OK)
                goto fail;
        }
        break;
    }
    case VM_XF_CONST: st->kind = VM_CONV_EXACT; break;
    }

    /* label */
    if (st->op == VM_XF_LIFT) {
        char *pt = xf_path_text(source, st->path, st->depth);
        if (!pt)
            goto nomem;
        size_t need = strlen(target) + strlen(pt) + 32;
        if ((st->label = vm_malloc(need)))
            snprintf(st->label, need, "field '%s' (lift of %s)", target, pt);
        vm_free(pt);
    } else {
        size_t need = strlen(target) + 16;
        if ((st->label = vm_malloc(need)))
            snprintf(st->label, need, "field '%s'", target);
    }
    if (!st->label)
        goto nomem;

    /* value for nulls */
    const json_t *jd = json_object_get(js, st->op == VM_XF_CONST ? "value" : "default");
    if (st->op == VM_XF_CONST && !jd)
        jd = json_object_get(js, "default");
    if (!jd && !st->tf->nullable)
        jd = st->tf->default_value; /* not nullable: the field's own default fills nulls */
    if (jd && (rc = xf_set_default(t, st, jd, err)) != VM_OK)
        goto fail;
    if (st->op == VM_XF_CONST && !st->has_def && !st->tf->nullable)
        XF_FAIL("a const step without a value needs a nullable field");

    /* mode */
    if (st->op == VM_XF_CONST) {
        st->mode = XF_CONST;
    } else if (st->op == VM_XF_COPY || st->op == VM_XF_CONVERT) {
        vm_dtype a = st->sf->type, b = st->tf->type;
        bool same_rep = a == b || (a == VM_T_ARRAY && b == VM_T_JSON) ||
                        (a == VM_T_JSON && b == VM_T_VARCHAR);
        bool src_nulls = st->sf->nullable;
        bool long_values = b == VM_T_VARCHAR && st->tf->max_length > 0 &&
                           (a == VM_T_JSON || xf_len_narrower(st->sf, st->tf));
        st->mode = XF_COMPUTE;
        if (same_rep && !(src_nulls && st->has_def) && !(long_values && st->truncate)) {
            st->mode = XF_BORROW;
            st->chk_len = long_values;
            st->chk_array = a == VM_T_ARRAY && b == VM_T_ARRAY && st->kind == VM_CONV_CHECKED;
        }
        if (st->mode == XF_COMPUTE && vm_dtype_is_vector(a) && a == b)
            XF_FAIL("a vector copy cannot take a default");
        if (st->mode == XF_COMPUTE && a == VM_T_SPARSE_FLOAT_VECTOR)
            XF_FAIL("sparse vectors can only be copied");
    } else {
        st->mode = XF_COMPUTE;
    }
    return VM_OK;
nomem:
    rc = vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
fail:
    return rc;
}

/* Group lift steps by source column: one JSON scan per row finds every
 * path of a group. */
static int xf_build_groups(vm_transform *t, vm_err *err)
{
    if (!(t->groups = vm_calloc(t->nsteps ? t->nsteps : 1, sizeof *t->groups)))
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    for (size_t i = 0; i < t->nsteps; i++) {
        xf_step *st = &t->steps[i];
        if (st->op != VM_XF_LIFT)
            continue;
        xf_group *g = NULL;
        for (size_t k = 0; k < t->ngroups; k++)
            if (strcmp(t->groups[k].in_name, st->in_name) == 0)
                g = &t->groups[k];
        if (!g) {
            g = &t->groups[t->ngroups++];
            g->in_name = st->in_name;
            g->sf = st->sf;
            g->in_col = -1;
            g->first = st;
        }
        size_t cap = g->npaths;
        if (vm_grow((void **)&g->paths, &cap, g->npaths + 1, sizeof *g->paths) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
        g->paths[g->npaths] = (vm_json_path){(const char *const *)st->path, st->depth};
        st->group = g;
        st->slot = g->npaths++;
    }
    return VM_OK;
}

int vm_transform_new(const json_t *program, const vm_schema *src, const vm_schema *dst,
                     vm_transform **out, vm_err *err)
{
    int rc = VM_OK;
    vm_schema *os = NULL;
    bool *targeted = NULL, meta_targeted = false;
    *out = NULL;
    vm_transform *t = vm_calloc(1, sizeof *t);
    if (!t)
        return vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
    vm_buf_init(&t->ctx.text);
    vm_buf_init(&t->ctx.elem);
    t->meta_field = (vm_field){.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true};
    if (!(t->src = vm_schema_clone(src)) || !(t->dst = vm_schema_clone(dst)))
        goto nomem;
    const json_t *steps = json_object_get(program, "steps");
    if (!json_is_object(program) || !json_is_array(steps)) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "transform: the program has no \"steps\" array");
        goto fail;
    }
    size_t n = json_array_size(steps);
    if (!(targeted = vm_calloc(t->dst->nfields + 1, sizeof *targeted)) ||
        !(t->steps = vm_calloc(n + t->dst->nfields + 1, sizeof *t->steps)))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        xf_step *st = &t->steps[t->nsteps++];
        st->index = (int)i + 1;
        const json_t *js = json_array_get(steps, i);
        if ((rc = xf_build_step(t, st, js, targeted, &meta_targeted, err)) != VM_OK) {
            const char *tg = json_string_value(json_object_get(js, "target"));
            vm_err_prefix(err, "transform step %zu (target '%s'): ", i + 1, tg ? tg : "?");
            goto fail;
        }
    }
    /* fields no step fills: null or their default in every row */
    for (size_t f = 0; f < t->dst->nfields; f++) {
        const vm_field *df = &t->dst->fields[f];
        if (targeted[f] || (df->primary && df->auto_id))
            continue;
        if (!df->nullable && !df->default_value) {
            rc = vm_err_setc(err, VM_ERR_INVALID,
                             "transform: target field '%s' is filled by no step and is neither "
                             "nullable nor defaulted",
                             df->name);
            goto fail;
        }
        xf_step *st = &t->steps[t->nsteps++];
        st->op = VM_XF_CONST;
        st->mode = XF_CONST;
        st->index = 0;
        st->tf = df;
        st->in_col = -1;
        size_t need = strlen(df->name) + 16;
        if (!(st->target = vm_strdup(df->name)) || !(st->label = vm_malloc(need)))
            goto nomem;
        snprintf(st->label, need, "field '%s'", df->name);
        if (df->default_value && (rc = xf_set_default(t, st, df->default_value, err)) != VM_OK) {
            vm_err_prefix(err, "transform: target field '%s': ", df->name);
            goto fail;
        }
        if (!st->has_def && !df->nullable) {
            rc = vm_err_setc(err, VM_ERR_INVALID, "transform: target field '%s' has a null "
                             "default but is not nullable", df->name);
            goto fail;
        }
    }
    if ((rc = xf_build_groups(t, err)) != VM_OK)
        goto fail;

    /* the output batch: dst's fields in order (no autoID key), then $meta */
    if (!(os = vm_schema_new(t->dst->collection ? t->dst->collection : "out")))
        goto nomem;
    for (size_t f = 0; f < t->dst->nfields; f++) {
        const vm_field *df = &t->dst->fields[f];
        if (df->primary && df->auto_id)
            continue;
        vm_field c = {.name = df->name, .type = df->type, .element_type = df->element_type,
                      .dim = df->dim, .max_length = df->max_length,
                      .max_capacity = df->max_capacity, .nullable = df->nullable};
        if ((rc = vm_schema_add(os, &c, err)) != VM_OK)
            goto fail;
    }
    if (meta_targeted && (rc = vm_schema_add(os, &t->meta_field, err)) != VM_OK)
        goto fail;
    if ((rc = vm_batch_new(os, 1, &t->out, err)) != VM_OK)
        goto fail;
    for (size_t i = 0; i < t->nsteps; i++) {
        xf_step *st = &t->steps[i];
        st->out_col = vm_batch_col(t->out, st->tf->name);
        if (st->out_col < 0) {
            rc = vm_err_setc(err, VM_ERR_INTERNAL, "transform: no output column for '%s'",
                             st->tf->name);
            goto fail;
        }
        if (st->mode == XF_CONST && st->has_def && st->def.k == XV_STR) {
            vm_column *c = &t->out->cols[st->out_col];
            if ((rc = xf_put_text(c, 0, st->def.s, st->def.n, err)) != VM_OK)
                goto fail;
        }
    }
    vm_schema_free(os);
    vm_free(targeted);
    *out = t;
    return VM_OK;
nomem:
    rc = vm_err_setc(err, VM_ERR_NOMEM, "transform: out of memory");
fail:
    vm_schema_free(os);
    vm_free(targeted);
    vm_transform_free(t);
    return rc;
}

json_t *vm_transform_identity(const vm_schema *s)
{
    json_t *steps = json_array();
    json_t *prog = json_object();
    if (!steps || !prog)
        goto fail;
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *f = &s->fields[i];
        if (f->primary && f->auto_id)
            continue;
        if (json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "op", "copy", "target",
                                                   f->name, "source", f->name)) != 0)
            goto fail;
    }
    if (s->enable_dynamic &&
        json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "op", "copy", "target",
                                               VM_META_FIELD, "source", VM_META_FIELD)) != 0)
        goto fail;
    if (json_object_set_new(prog, "steps", steps) != 0) {
        steps = NULL;
        goto fail;
    }
    return prog;
fail:
    json_decref(steps);
    json_decref(prog);
    return NULL;
}

const char *vm_transform_target_of(const vm_transform *t, const char *source)
{
    for (size_t i = 0; i < t->nsteps; i++) {
        const xf_step *st = &t->steps[i];
        if ((st->op == VM_XF_COPY || st->op == VM_XF_CONVERT) && st->mode == XF_BORROW &&
            st->sf->type == st->tf->type && strcmp(st->source, source) == 0)
            return st->target;
    }
    return NULL;
}

void vm_transform_stats_get(const vm_transform *t, vm_transform_stats *out)
{
    *out = t->stats;
}

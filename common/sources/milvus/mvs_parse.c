/*
 * mvs_parse.c - pure helpers of the `milvus` source: key bounds, filters and
 * cursors, split arithmetic, and decoding Milvus 2.x REST query output
 * (base64 half/binary vectors, sparse {"idx":val}, Array wrappers, JSON as
 * string) straight into batch columns. No I/O here.
 */
#include "milvus_src.h"
#include "vm_mem.h"
#include "vm_float.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- key positions */

void vm_mvs_pos_release(vm_mvs_pos *p)
{
    vm_free(p->s);
    memset(p, 0, sizeof *p);
}

int vm_mvs_pos_copy(vm_mvs_pos *dst, const vm_mvs_pos *src, vm_err *err)
{
    char *s = NULL;
    if (src->s && !(s = vm_strdup(src->s)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_mvs_pos_release(dst);
    *dst = *src;
    dst->s = s;
    return VM_OK;
}

void vm_mvs_quote(vm_buf *out, const char *s, size_t n)
{
    vm_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            vm_buf_putc(out, '\\');
        vm_buf_putc(out, s[i]);
    }
    vm_buf_putc(out, '"');
}

static void vm_mvs_lit(vm_buf *out, bool str, const vm_mvs_pos *p)
{
    if (str)
        vm_mvs_quote(out, p->s ? p->s : "", p->s ? strlen(p->s) : 0);
    else
        vm_buf_i64(out, p->i);
}

int vm_mvs_filter(vm_buf *out, const char *pk, bool str, const vm_mvs_pos *lo,
                  const vm_mvs_pos *hi)
{
    vm_buf_clear(out);
    if (lo && lo->set) {
        vm_buf_printf(out, "%s %s ", pk, lo->excl ? ">" : ">=");
        vm_mvs_lit(out, str, lo);
    }
    if (hi && hi->set) {
        if (out->len)
            vm_buf_puts(out, " and ");
        vm_buf_printf(out, "%s < ", pk);
        vm_mvs_lit(out, str, hi);
    }
    if (out->len == 0)
        vm_buf_append(out, "", 0); /* clear keeps the old text: terminate it */
    if (vm_buf_ok(out) && out->data)
        out->data[out->len] = '\0';
    return vm_buf_ok(out) && out->data ? 0 : -1;
}

char *vm_mvs_cursor_encode(const vm_mvs_pos *p, bool str)
{
    vm_buf b;
    vm_buf_init(&b);
    if (!p->set) {
        vm_buf_puts(&b, "{}");
    } else {
        vm_buf_puts(&b, "{\"k\":");
        if (str)
            vm_buf_json_str(&b, p->s ? p->s : "", p->s ? strlen(p->s) : 0);
        else
            vm_buf_i64(&b, p->i);
        vm_buf_printf(&b, ",\"x\":%s}", p->excl ? "true" : "false");
    }
    char *out = vm_buf_ok(&b) ? vm_strdup(vm_buf_cstr(&b)) : NULL;
    vm_buf_release(&b);
    return out;
}

int vm_mvs_cursor_decode(const char *text, bool str, vm_mvs_pos *p, vm_err *err)
{
    vm_mvs_pos_release(p);
    json_error_t je;
    json_t *j = json_loads(text ? text : "", 0, &je);
    int rc = VM_OK;
    json_t *k = json_object_get(j, "k"), *x = json_object_get(j, "x");
    if (!json_is_object(j) || json_object_size(j) != (k ? 2u : 0u) || (k && !json_is_boolean(x)) ||
        (k && str && !json_is_string(k)) || (k && !str && !json_is_integer(k))) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "milvus: cursor '%.60s' is not a %s key position", text ? text : "",
                        str ? "VarChar" : "Int64");
        goto cleanup;
    }
    if (k) {
        p->set = true;
        p->excl = json_is_true(x);
        if (str) {
            if (!(p->s = vm_strdup(json_string_value(k)))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
        } else {
            p->i = (int64_t)json_integer_value(k);
        }
    }
cleanup:
    json_decref(j);
    return rc;
}

/* ------------------------------------------------ split arithmetic */

int64_t vm_mvs_ntasks(int64_t count, int64_t task_rows)
{
    if (count <= 0 || task_rows <= 0)
        return 1;
    return (count - 1) / task_rows + 1;
}

void vm_mvs_split_int(int64_t min, int64_t max, int64_t n, int64_t *bounds, size_t *nb)
{
    *nb = 0;
    if (n <= 1 || max <= min)
        return;
    /* span = max - min + 1 values, up to 2^64: in 128 bits */
    __extension__ typedef unsigned __int128 u128;
    u128 span = (u128)((uint64_t)max - (uint64_t)min) + 1;
    int64_t prev = min;
    for (int64_t i = 1; i < n; i++) {
        uint64_t step = (uint64_t)(span * (u128)i / (u128)n);
        int64_t b = (int64_t)((uint64_t)min + step);
        if (b > prev && b <= max)
            bounds[(*nb)++] = prev = b;
    }
}

void vm_mvs_split_sample(size_t nkeys, int64_t n, size_t *idx, size_t *nb)
{
    *nb = 0;
    size_t prev = 0;
    for (int64_t i = 1; i < n && nkeys > 1; i++) {
        size_t j = (size_t)((double)nkeys * (double)i / (double)n);
        if (j > prev && j < nkeys)
            idx[(*nb)++] = prev = j;
    }
}

/* ------------------------------------------------ keys of a page */

int vm_mvs_key_cmp(const vm_mvs_key *a, const vm_mvs_key *b, bool str)
{
    if (!str)
        return a->i < b->i ? -1 : a->i > b->i;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->s, b->s, n);
    if (c)
        return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

int vm_mvs_key_parse(const char *s, vm_json_span v, bool str, vm_buf *arena, vm_mvs_key *k,
                     vm_err *err)
{
    if (str) {
        if (v.kind != VM_JSON_STRING)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "milvus: a primary key is %s, not a string",
                              vm_json_kind_name(v.kind));
        k->off = arena->len;
        int rc = vm_json_unescape(s + v.off, v.len, arena, err);
        if (rc != VM_OK)
            return rc;
        k->n = arena->len - k->off;
        vm_buf_putc(arena, '\0');
        if (!vm_buf_ok(arena))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        return VM_OK;
    }
    const char *t = s + v.off;
    size_t n = v.len;
    if (v.kind == VM_JSON_STRING) {
        t++;
        n -= 2;
    } else if (v.kind != VM_JSON_NUMBER) {
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "milvus: a primary key is %s, not an integer",
                          vm_json_kind_name(v.kind));
    }
    if (vm_json_number_i64(t, n, &k->i) != VM_JSON_NUM_OK)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "milvus: primary key '%.*s' is not an Int64", (int)(n > 40 ? 40 : n),
                          t);
    return VM_OK;
}

size_t vm_mvs_next_distinct(const vm_mvs_key *keys, size_t n, size_t want, bool str)
{
    for (size_t j = want < 1 ? 1 : want; j < n; j++)
        if (vm_mvs_key_cmp(&keys[j], &keys[0], str) > 0)
            return j;
    return n;
}

/* ------------------------------------------------ wire values */

static int vm_b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int vm_mvs_b64_decode(const char *s, size_t n, uint8_t *out, size_t want)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t got = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (got != want)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = vm_b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* leftover bits must be zero (canonical encoding) */
    return (acc == 0 && o == want) ? 0 : -1;
}

void vm_mvs_scratch_release(vm_mvs_scratch *s)
{
    vm_buf_release(&s->text);
    vm_free(s->idx);
    vm_free(s->val);
    memset(s, 0, sizeof *s);
}

/* A JSON number token as a finite float32 (correctly rounded, as strtof,
 * never through double), or -1. */
static int vm_mvs_f32(const char *s, size_t n, float *out)
{
    return vm_f32_parse(s, n, out) == VM_F32_OK ? 0 : -1;
}

static void vm_mvs_skip_ws(const char *s, size_t *p, size_t end)
{
    while (*p < end && (s[*p] == ' ' || s[*p] == '\t' || s[*p] == '\n' || s[*p] == '\r'))
        (*p)++;
}

int vm_mvs_sparse_parse(const char *s, vm_json_span v, vm_mvs_scratch *scr, size_t *nnz,
                        vm_err *err)
{
    *nnz = 0;
    if (v.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "sparse vector is %s, not an object",
                          vm_json_kind_name(v.kind));
    /* the span was validated by the scanner: walk members by hand */
    size_t p = v.off + 1, end = v.off + v.len - 1, n = 0;
    int rc = VM_OK;
    for (;;) {
        vm_mvs_skip_ws(s, &p, end);
        if (p >= end)
            break;
        if (s[p] == ',') {
            p++;
            continue;
        }
        if (s[p] != '"') {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "sparse vector: malformed member");
            goto cleanup;
        }
        size_t k0 = ++p;
        uint64_t idx = 0;
        while (p < end && s[p] >= '0' && s[p] <= '9') {
            idx = idx * 10 + (uint64_t)(s[p] - '0');
            if (idx > UINT32_MAX - 1)
                break;
            p++;
        }
        if (p == k0 || p >= end || s[p] != '"' || idx > UINT32_MAX - 1) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "sparse vector: key '%.*s' is not an index in [0, 2^32-1)",
                            (int)(p - k0 < 20 ? p - k0 : 20), s + k0);
            goto cleanup;
        }
        p++;
        vm_mvs_skip_ws(s, &p, end);
        if (p >= end || s[p] != ':') {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "sparse vector: malformed member");
            goto cleanup;
        }
        p++;
        vm_mvs_skip_ws(s, &p, end);
        size_t v0 = p;
        while (p < end && s[p] != ',' && s[p] != ' ' && s[p] != '\n' && s[p] != '\t' &&
               s[p] != '\r')
            p++;
        float f;
        if (vm_mvs_f32(s + v0, p - v0, &f) != 0) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "sparse vector: value of index %" PRIu64 " is not a finite float",
                            idx);
            goto cleanup;
        }
        if (n + 1 > scr->cap) {
            size_t c1 = scr->cap, c2 = scr->cap;
            if (vm_grow((void **)&scr->idx, &c1, n + 1, sizeof *scr->idx) != 0 ||
                vm_grow((void **)&scr->val, &c2, n + 1, sizeof *scr->val) != 0) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            scr->cap = c1 < c2 ? c1 : c2;
        }
        scr->idx[n] = (uint32_t)idx;
        scr->val[n] = f;
        n++;
    }
    uint32_t dup;
    int src = vm_sparse_sort(scr->idx, scr->val, n, &dup);
    if (src == VM_ERR_NOMEM) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (src != VM_OK) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "sparse vector: index %u twice", dup);
        goto cleanup;
    }
    *nnz = n;
cleanup:
    return rc;
}

int vm_mvs_array_text(const char *s, vm_json_span v, const char **out, size_t *len,
                      vm_err *err)
{
    if (v.kind == VM_JSON_ARRAY) {
        *out = s + v.off;
        *len = v.len;
        return VM_OK;
    }
    if (v.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "Array value is %s",
                          vm_json_kind_name(v.kind));
    static const char *const kinds[] = {"BoolData",   "IntData",    "LongData",
                                        "FloatData",  "DoubleData", "StringData",
                                        "JsonData",   "BytesData"};
    enum { NK = sizeof kinds / sizeof kinds[0] };
    const char *keys[NK][3];
    vm_json_path paths[2 * NK];
    for (size_t i = 0; i < NK; i++) {
        keys[i][0] = "Data";
        keys[i][1] = kinds[i];
        keys[i][2] = "data";
        paths[2 * i] = (vm_json_path){keys[i], 2};
        paths[2 * i + 1] = (vm_json_path){keys[i], 3};
    }
    vm_json_span sp[2 * NK];
    int rc = vm_json_find(s + v.off, v.len, paths, 2 * NK, sp, err);
    if (rc != VM_OK)
        return rc;
    for (size_t i = 0; i < NK; i++) {
        if (sp[2 * i].kind != VM_JSON_OBJECT)
            continue;
        vm_json_span d = sp[2 * i + 1];
        if (d.kind == VM_JSON_MISSING || d.kind == VM_JSON_NULL) {
            *out = "[]";
            *len = 2;
            return VM_OK;
        }
        if (d.kind != VM_JSON_ARRAY)
            break;
        *out = s + v.off + d.off;
        *len = d.len;
        return VM_OK;
    }
    return vm_err_set(err, VM_ERR_PROTOCOL, false,
                      "Array value is an object but not {\"Data\":{\"<Type>Data\":{\"data\":[...]}}}");
}

json_t *vm_mvs_default_unwrap(const json_t *dv)
{
    if (!dv)
        return NULL;
    json_t *d = json_object_get(dv, "Data");
    if (!json_is_object(dv) || !d)
        return json_incref((json_t *)dv);
    if (!json_is_object(d) || json_object_size(d) != 1)
        return NULL;
    const char *k = json_object_iter_key(json_object_iter(d));
    json_t *v = json_object_iter_value(json_object_iter(d));
    if (!k || !v)
        return NULL;
    /* BytesData / JSON defaults arrive as text; everything else as is */
    return json_incref(v);
}

/* Number token (or quoted number) of span v as text. */
static int vm_mvs_num_text(const char *s, vm_json_span v, const char **t, size_t *n)
{
    *t = s + v.off;
    *n = v.len;
    if (v.kind == VM_JSON_STRING) {
        (*t)++;
        *n -= 2;
        return 0;
    }
    return v.kind == VM_JSON_NUMBER ? 0 : -1;
}

static int vm_mvs_bad(vm_err *err, const char *rowkey, const vm_column *c, const char *what)
{
    return vm_err_set(err, VM_ERR_PROTOCOL, false, "milvus: row %s: field '%s': %s", rowkey,
                      c->name, what);
}

int vm_mvs_set_value(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                     vm_mvs_scratch *scr, const char *rowkey, vm_err *err)
{
    const vm_column *c = &b->cols[col];
    if (v.kind == VM_JSON_MISSING || v.kind == VM_JSON_NULL) {
        if (c->nullable)
            return vm_batch_set_null(b, col, row, err);
        return vm_mvs_bad(err, rowkey, c,
                          v.kind == VM_JSON_NULL ? "null in a field that is not nullable"
                                                 : "missing from the query output");
    }
    const char *t;
    size_t n;
    int rc;
    switch (c->type) {
    case VM_T_BOOL:
        if (v.kind != VM_JSON_TRUE && v.kind != VM_JSON_FALSE)
            return vm_mvs_bad(err, rowkey, c, "not a boolean");
        return vm_batch_set_bool(b, col, row, v.kind == VM_JSON_TRUE, err);
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: {
        int64_t x;
        if (vm_mvs_num_text(s, v, &t, &n) != 0 || vm_json_number_i64(t, n, &x) != VM_JSON_NUM_OK)
            return vm_mvs_bad(err, rowkey, c, "not an integer");
        return vm_batch_set_int(b, col, row, x, err);
    }
    case VM_T_FLOAT: {
        float f;
        if (v.kind != VM_JSON_NUMBER || vm_mvs_f32(s + v.off, v.len, &f) != 0)
            return vm_mvs_bad(err, rowkey, c, "not a finite float");
        return vm_batch_set_double(b, col, row, (double)f, err);
    }
    case VM_T_DOUBLE: {
        double d;
        if (v.kind != VM_JSON_NUMBER || vm_json_number_f64(s + v.off, v.len, &d) != VM_JSON_NUM_OK)
            return vm_mvs_bad(err, rowkey, c, "not a finite double");
        return vm_batch_set_double(b, col, row, d, err);
    }
    case VM_T_VARCHAR:
        if (v.kind != VM_JSON_STRING)
            return vm_mvs_bad(err, rowkey, c, "not a string");
        vm_buf_clear(&scr->text);
        if ((rc = vm_json_unescape(s + v.off, v.len, &scr->text, err)) != VM_OK)
            return vm_err_prefix(err, "milvus: row %s: field '%s': ", rowkey, c->name);
        return vm_batch_set_str(b, col, row, scr->text.data ? scr->text.data : "",
                                scr->text.len, err);
    case VM_T_JSON:
        if (v.kind == VM_JSON_STRING) { /* 2.6: the JSON text as a string */
            vm_buf_clear(&scr->text);
            if ((rc = vm_json_unescape(s + v.off, v.len, &scr->text, err)) != VM_OK ||
                (rc = vm_json_check(scr->text.data ? scr->text.data : "", scr->text.len, NULL,
                                    err)) != VM_OK)
                return vm_err_prefix(err, "milvus: row %s: field '%s': JSON text: ", rowkey,
                                     c->name);
            return vm_batch_set_str(b, col, row, scr->text.data, scr->text.len, err);
        }
        return vm_batch_set_str(b, col, row, s + v.off, v.len, err);
    case VM_T_ARRAY:
        if ((rc = vm_mvs_array_text(s, v, &t, &n, err)) != VM_OK)
            return vm_err_prefix(err, "milvus: row %s: field '%s': ", rowkey, c->name);
        return vm_batch_set_str(b, col, row, t, n, err);
    case VM_T_FLOAT_VECTOR: {
        if (v.kind != VM_JSON_ARRAY)
            return vm_mvs_bad(err, rowkey, c, "not an array of floats");
        float *out = vm_batch_vector(b, col, row);
        vm_json_iter it;
        vm_json_span e;
        int64_t i = 0;
        vm_json_iter_init(&it, s, v);
        while (vm_json_iter_next(&it, &e)) {
            if (i >= c->dim)
                return vm_mvs_bad(err, rowkey, c, "more elements than the dimension");
            if (e.kind != VM_JSON_NUMBER || vm_mvs_f32(s + e.off, e.len, &out[i]) != 0) {
                char w[64];
                snprintf(w, sizeof w, "element %" PRId64 " is not a finite float", i);
                return vm_mvs_bad(err, rowkey, c, w);
            }
            i++;
        }
        if (i != c->dim)
            return vm_mvs_bad(err, rowkey, c, "fewer elements than the dimension");
        return VM_OK;
    }
    case VM_T_INT8_VECTOR:
        if (v.kind == VM_JSON_ARRAY) {
            int8_t *out = vm_batch_vector(b, col, row);
            vm_json_iter it;
            vm_json_span e;
            int64_t i = 0, x;
            vm_json_iter_init(&it, s, v);
            while (vm_json_iter_next(&it, &e)) {
                if (i >= c->dim || e.kind != VM_JSON_NUMBER ||
                    vm_json_number_i64(s + e.off, e.len, &x) != VM_JSON_NUM_OK || x < -128 ||
                    x > 127)
                    return vm_mvs_bad(err, rowkey, c, "not an array of dim int8 values");
                out[i++] = (int8_t)x;
            }
            if (i != c->dim)
                return vm_mvs_bad(err, rowkey, c, "fewer elements than the dimension");
            return VM_OK;
        }
        __attribute__((fallthrough)); /* base64 like the other byte vectors */
    case VM_T_FLOAT16_VECTOR:
    case VM_T_BFLOAT16_VECTOR:
    case VM_T_BINARY_VECTOR: {
        if (v.kind != VM_JSON_STRING)
            return vm_mvs_bad(err, rowkey, c, "not a base64 string");
        vm_buf_clear(&scr->text);
        if ((rc = vm_json_unescape(s + v.off, v.len, &scr->text, err)) != VM_OK)
            return vm_err_prefix(err, "milvus: row %s: field '%s': ", rowkey, c->name);
        size_t want = vm_dtype_vector_bytes(c->type, c->dim);
        if (vm_mvs_b64_decode(scr->text.data ? scr->text.data : "", scr->text.len,
                              vm_batch_vector(b, col, row), want) != 0) {
            char w[96];
            snprintf(w, sizeof w, "not base64 of %zu bytes (dim %" PRId64 ")", want, c->dim);
            return vm_mvs_bad(err, rowkey, c, w);
        }
        return VM_OK;
    }
    case VM_T_SPARSE_FLOAT_VECTOR: {
        size_t nnz;
        if ((rc = vm_mvs_sparse_parse(s, v, scr, &nnz, err)) != VM_OK)
            return vm_err_prefix(err, "milvus: row %s: field '%s': ", rowkey, c->name);
        return vm_batch_set_sparse(b, col, row, scr->idx, scr->val, nnz, err);
    }
    default:
        return vm_mvs_bad(err, rowkey, c, "type not supported by the milvus source");
    }
}

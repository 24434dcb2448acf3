/*
 * milvus_rows.c - batch rows -> entities/insert JSON.
 */
#include "milvus_rows.h"
#include "vm_json_scan.h"

#include <string.h>

#define VM_ROWS_MAX_FIELDS (VM_MAX_FIELDS + 1)

/* The top-level keys of a JSON object's members text (between the braces),
 * each checked against the schema's field names: a dynamic key with a
 * field's name would give the row that key twice, and which one Milvus keeps
 * is not ours to guess. The text is valid JSON (sources and the transform
 * validate it); escapes in keys are compared unescaped. */
static int vm_meta_key_clash(const vm_schema *s, const char *p, size_t n, size_t row, vm_err *err)
{
    size_t i = 0;
    int depth = 0;
    bool want_key = true;
    while (i < n) {
        char ch = p[i];
        if (ch == '"') {
            size_t start = ++i;
            bool esc = false;
            while (i < n && (esc || p[i] != '"')) {
                esc = !esc && p[i] == '\\';
                i++;
            }
            if (depth == 0 && want_key) {
                const char *k = p + start;
                size_t kl = i - start;
                vm_buf un;
                vm_buf_init(&un);
                if (memchr(k, '\\', kl)) {
                    vm_err ignore;
                    if (vm_json_unescape(k - 1, kl + 2, &un, &ignore) == VM_OK) { /* quotes too */
                        k = un.data;
                        kl = un.len;
                    }
                }
                for (size_t f = 0; f < s->nfields; f++)
                    if (strlen(s->fields[f].name) == kl && !memcmp(s->fields[f].name, k, kl)) {
                        vm_buf_release(&un);
                        return vm_err_setc(err, VM_ERR_INVALID,
                                           "row %zu: the dynamic field has a key '%s', the name "
                                           "of field '%s'; rename the field in the mapping, or "
                                           "lift or drop that key",
                                           row, s->fields[f].name, s->fields[f].name);
                    }
                vm_buf_release(&un);
                want_key = false;
            }
            i++;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        else if (ch == ',' && depth == 0)
            want_key = true;
        i++;
    }
    return VM_OK;
}

static int vm_enc_value(const vm_field *f, const vm_batch *b, size_t c, size_t r, vm_buf *o,
                        vm_err *err)
{
    if (vm_batch_is_null(b, c, r)) {
        vm_buf_puts(o, "null");
        return VM_OK;
    }
    const vm_column *col = &b->cols[c];
    if (col->type != f->type)
        return vm_err_setc(err, VM_ERR_INTERNAL, "field '%s': batch column is %s, schema says %s",
                           f->name, vm_dtype_name(col->type), vm_dtype_name(f->type));
    size_t len;
    switch (f->type) {
    case VM_T_BOOL: vm_buf_puts(o, vm_batch_get_bool(b, c, r) ? "true" : "false"); break;
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: vm_buf_i64(o, vm_batch_get_int(b, c, r)); break;
    case VM_T_FLOAT:
        if (vm_buf_f32(o, (float)vm_batch_get_double(b, c, r)) != 0)
            goto nonfinite;
        break;
    case VM_T_DOUBLE:
        if (vm_buf_f64(o, vm_batch_get_double(b, c, r)) != 0)
            goto nonfinite;
        break;
    case VM_T_VARCHAR: {
        const char *s = vm_batch_get_str(b, c, r, &len);
        if ((int64_t)len > f->max_length)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s' row %zu: %zu bytes, over its max_length %lld "
                               "(values are never truncated)",
                               f->name, r, len, (long long)f->max_length);
        vm_buf_json_str(o, s, len);
        break;
    }
    case VM_T_JSON:
    case VM_T_ARRAY: {
        const char *s = vm_batch_get_str(b, c, r, &len);
        if (len == 0)
            return vm_err_setc(err, VM_ERR_INVALID, "field '%s' row %zu: empty JSON value",
                               f->name, r);
        vm_buf_append(o, s, len);
        break;
    }
    case VM_T_FLOAT_VECTOR: {
        const float *v = vm_batch_get_vector(b, c, r);
        if (vm_buf_f32_array(o, v, (size_t)f->dim) != 0)
            goto nonfinite;
        break;
    }
    case VM_T_FLOAT16_VECTOR:
    case VM_T_BFLOAT16_VECTOR: {
        /* stored as host uint16; the wire wants little-endian bytes */
        const uint16_t *v = vm_batch_get_vector(b, c, r);
        uint8_t tmp[2 * VM_MAX_DIM];
        for (int64_t j = 0; j < f->dim; j++) {
            tmp[2 * j] = (uint8_t)(v[j] & 0xff);
            tmp[2 * j + 1] = (uint8_t)(v[j] >> 8);
        }
        vm_buf_putc(o, '"');
        vm_buf_base64(o, tmp, (size_t)f->dim * 2);
        vm_buf_putc(o, '"');
        break;
    }
    case VM_T_BINARY_VECTOR: {
        const uint8_t *v = vm_batch_get_vector(b, c, r);
        vm_buf_putc(o, '[');
        for (int64_t j = 0; j < f->dim / 8; j++) {
            if (j)
                vm_buf_putc(o, ',');
            vm_buf_i64(o, v[j]);
        }
        vm_buf_putc(o, ']');
        break;
    }
    case VM_T_INT8_VECTOR: {
        const int8_t *v = vm_batch_get_vector(b, c, r);
        vm_buf_putc(o, '[');
        for (int64_t j = 0; j < f->dim; j++) {
            if (j)
                vm_buf_putc(o, ',');
            vm_buf_i64(o, v[j]);
        }
        vm_buf_putc(o, ']');
        break;
    }
    case VM_T_SPARSE_FLOAT_VECTOR: {
        const uint32_t *idx;
        const float *val;
        size_t nnz = vm_batch_get_sparse(b, c, r, &idx, &val);
        vm_buf_puts(o, "{\"indices\":[");
        for (size_t j = 0; j < nnz; j++) {
            if (j)
                vm_buf_putc(o, ',');
            vm_buf_i64(o, idx[j]);
        }
        vm_buf_puts(o, "],\"values\":");
        if (vm_buf_f32_array(o, val, nnz) != 0)
            goto nonfinite;
        vm_buf_putc(o, '}');
        break;
    }
    default:
        return vm_err_setc(err, VM_ERR_INTERNAL, "field '%s': cannot encode type %d", f->name,
                           (int)f->type);
    }
    return VM_OK;
nonfinite:
    o->failed = false; /* the buffer is fine; the value is not */
    return vm_err_setc(err, VM_ERR_INVALID,
                       "field '%s' row %zu: NaN or infinity cannot be sent to Milvus", f->name, r);
}

/* Rows list[0..n) when list is set, else rows from .. from + n - 1. */
static int vm_enc_rows(const vm_schema *s, const vm_batch *b, const size_t *list, size_t from,
                       size_t n, vm_buf *out, vm_err *err)
{
    int colmap[VM_ROWS_MAX_FIELDS];
    if (s->nfields > VM_MAX_FIELDS)
        return vm_err_setc(err, VM_ERR_INVALID, "too many fields");
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *f = &s->fields[i];
        colmap[i] = vm_batch_col(b, f->name);
        if (colmap[i] < 0 && !(f->primary && f->auto_id) && !f->nullable && !f->default_value)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s' is required by the target but the rows lack it",
                               f->name);
    }
    int meta = s->enable_dynamic ? vm_batch_col(b, VM_MILVUS_META) : -1;

    vm_buf_putc(out, '[');
    for (size_t j = 0; j < n; j++) {
        size_t r = list ? list[j] : from + j;
        if (r >= b->nrows)
            return vm_err_setc(err, VM_ERR_INTERNAL, "row %zu outside a batch of %zu", r,
                               b->nrows);
        if (j > 0)
            vm_buf_putc(out, ',');
        vm_buf_putc(out, '{');
        bool first = true;
        for (size_t i = 0; i < s->nfields; i++) {
            const vm_field *f = &s->fields[i];
            if (colmap[i] < 0 || (f->primary && f->auto_id))
                continue;
            if (!first)
                vm_buf_putc(out, ',');
            first = false;
            vm_buf_json_str(out, f->name, strlen(f->name));
            vm_buf_putc(out, ':');
            int rc = vm_enc_value(f, b, (size_t)colmap[i], r, out, err);
            if (rc != VM_OK)
                return rc;
        }
        if (meta >= 0 && !vm_batch_is_null(b, (size_t)meta, r)) {
            size_t len;
            const char *m = vm_batch_get_str(b, (size_t)meta, r, &len);
            /* strip the object's braces and whitespace; skip "{}" */
            while (len && (*m == ' ' || *m == '\n' || *m == '\t' || *m == '\r')) { m++; len--; }
            while (len && (m[len - 1] == ' ' || m[len - 1] == '\n' || m[len - 1] == '\t' ||
                           m[len - 1] == '\r'))
                len--;
            if (len < 2 || m[0] != '{' || m[len - 1] != '}')
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "row %zu: dynamic field value is not a JSON object", r);
            size_t inner = len - 2;
            const char *p = m + 1;
            bool blank = true;
            for (size_t k = 0; k < inner; k++)
                blank &= p[k] == ' ' || p[k] == '\n' || p[k] == '\t' || p[k] == '\r';
            if (!blank) {
                int rc = vm_meta_key_clash(s, p, inner, r, err);
                if (rc != VM_OK)
                    return rc;
                if (!first)
                    vm_buf_putc(out, ',');
                vm_buf_append(out, p, inner);
            }
        }
        vm_buf_putc(out, '}');
    }
    vm_buf_putc(out, ']');
    if (!vm_buf_ok(out))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory encoding rows");
    return VM_OK;
}

int vm_milvus_encode_rows(const vm_schema *s, const vm_batch *b, size_t from, size_t to,
                          vm_buf *out, vm_err *err)
{
    if (from > to)
        return vm_err_setc(err, VM_ERR_INTERNAL, "rows [%zu, %zu) is not a range", from, to);
    return vm_enc_rows(s, b, NULL, from, to - from, out, err);
}

int vm_milvus_encode_row_list(const vm_schema *s, const vm_batch *b, const size_t *rows,
                              size_t n, vm_buf *out, vm_err *err)
{
    return vm_enc_rows(s, b, rows, 0, n, out, err);
}

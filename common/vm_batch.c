/*
 * vm_batch.c - columnar record batch: typed arrays, arenas, null flags.
 */
#include "vm_batch.h"
#include "vm_mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static bool vm_col_is_var(vm_dtype t)
{
    return t == VM_T_VARCHAR || t == VM_T_JSON || t == VM_T_ARRAY;
}

static size_t vm_col_width(const vm_column *c)
{
    switch (c->type) {
    case VM_T_BOOL:
    case VM_T_INT8: return 1;
    case VM_T_INT16: return 2;
    case VM_T_INT32:
    case VM_T_FLOAT: return 4;
    case VM_T_INT64:
    case VM_T_DOUBLE: return 8;
    default: return vm_dtype_vector_bytes(c->type, c->dim);
    }
}

static void vm_col_release(vm_column *c)
{
    vm_free(c->name);
    if (c->borrowed)
        return;
    vm_free(c->data);
    vm_free(c->nulls);
    vm_free(c->off);
    vm_free(c->len);
    vm_free(c->arena);
    vm_free(c->sp_idx);
    vm_free(c->sp_val);
}

void vm_batch_free(vm_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->ncols; i++)
        vm_col_release(&b->cols[i]);
    vm_free(b->cols);
    vm_free(b);
}

/* (Re)size every per-row array of c to cap rows. */
static int vm_col_reserve(vm_column *c, size_t cap)
{
    void *p;
    if (c->borrowed)
        return 0; /* never grown here: its owner sized it */
    if (c->width) {
        if (!(p = vm_realloc(c->data, cap * c->width)))
            return -1;
        c->data = p;
    }
    if (c->nullable) {
        if (!(p = vm_realloc(c->nulls, cap)))
            return -1;
        c->nulls = p;
    }
    if (vm_col_is_var(c->type) || c->type == VM_T_SPARSE_FLOAT_VECTOR) {
        if (!(p = vm_realloc(c->off, cap * sizeof *c->off)))
            return -1;
        c->off = p;
        if (!(p = vm_realloc(c->len, cap * sizeof *c->len)))
            return -1;
        c->len = p;
    }
    return 0;
}

int vm_batch_new(const vm_schema *s, size_t capacity, vm_batch **out, vm_err *err)
{
    *out = NULL;
    if (capacity == 0)
        capacity = 1;
    vm_batch *b = vm_calloc(1, sizeof *b);
    if (!b || !(b->cols = vm_calloc(s->nfields ? s->nfields : 1, sizeof *b->cols)))
        goto nomem;
    b->cap = capacity;
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *f = &s->fields[i];
        vm_column *c = &b->cols[i];
        b->ncols++;
        c->type = f->type;
        c->element_type = f->element_type;
        c->dim = f->dim;
        c->max_length = f->max_length;
        c->nullable = f->nullable;
        if (!(c->name = vm_strdup(f->name)))
            goto nomem;
        c->width = vm_col_width(c);
        if (!vm_col_is_var(c->type) && c->type != VM_T_SPARSE_FLOAT_VECTOR && c->width == 0) {
            vm_batch_free(b);
            return vm_err_setc(err, VM_ERR_INVALID, "batch: field '%s' of type %s has no width",
                               f->name, vm_dtype_name(f->type) ? vm_dtype_name(f->type) : "?");
        }
        if (vm_col_reserve(c, capacity) != 0)
            goto nomem;
    }
    *out = b;
    return VM_OK;
nomem:
    vm_batch_free(b);
    return vm_err_setc(err, VM_ERR_NOMEM, "batch: out of memory");
}

void vm_batch_clear(vm_batch *b)
{
    b->nrows = 0;
    for (size_t i = 0; i < b->ncols; i++) {
        b->cols[i].arena_len = 0;
        b->cols[i].sp_len = 0;
    }
}

int vm_batch_col(const vm_batch *b, const char *name)
{
    for (size_t i = 0; i < b->ncols; i++)
        if (strcmp(b->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int vm_batch_add_row(vm_batch *b, size_t *row, vm_err *err)
{
    if (b->nrows == b->cap) {
        size_t ncap = b->cap * 2;
        for (size_t i = 0; i < b->ncols; i++)
            if (vm_col_reserve(&b->cols[i], ncap) != 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "batch: out of memory growing to %zu rows",
                                   ncap);
        b->cap = ncap;
    }
    size_t r = b->nrows;
    for (size_t i = 0; i < b->ncols; i++) {
        vm_column *c = &b->cols[i];
        if (c->width)
            memset(c->data + r * c->width, 0, c->width);
        if (c->nulls)
            c->nulls[r] = 1;
        if (c->off) {
            c->off[r] = 0;
            c->len[r] = 0;
        }
    }
    b->nrows++;
    *row = r;
    return VM_OK;
}

void vm_batch_drop_last(vm_batch *b)
{
    if (b->nrows)
        b->nrows--;
}

static int vm_bad_type(const vm_column *c, const char *what, vm_err *err)
{
    return vm_err_setc(err, VM_ERR_INVALID, "field '%s' (%s): cannot take %s", c->name,
                       vm_dtype_name(c->type), what);
}

static inline void vm_mark_set(vm_column *c, size_t row)
{
    if (c->nulls)
        c->nulls[row] = 0;
}

int vm_batch_set_null(vm_batch *b, size_t col, size_t row, vm_err *err)
{
    vm_column *c = &b->cols[col];
    if (!c->nullable)
        return vm_err_setc(err, VM_ERR_INVALID, "field '%s' is not nullable but the value is null",
                           c->name);
    c->nulls[row] = 1;
    return VM_OK;
}

int vm_batch_set_bool(vm_batch *b, size_t col, size_t row, bool v, vm_err *err)
{
    vm_column *c = &b->cols[col];
    if (c->type != VM_T_BOOL)
        return vm_bad_type(c, "a boolean", err);
    c->data[row] = v ? 1 : 0;
    vm_mark_set(c, row);
    return VM_OK;
}

int vm_batch_set_int(vm_batch *b, size_t col, size_t row, int64_t v, vm_err *err)
{
    vm_column *c = &b->cols[col];
    void *p = c->data + row * c->width;
    switch (c->type) {
    case VM_T_INT8:
        if (v < INT8_MIN || v > INT8_MAX)
            goto range;
        *(int8_t *)p = (int8_t)v;
        break;
    case VM_T_INT16:
        if (v < INT16_MIN || v > INT16_MAX)
            goto range;
        memcpy(p, &(int16_t){(int16_t)v}, 2);
        break;
    case VM_T_INT32:
        if (v < INT32_MIN || v > INT32_MAX)
            goto range;
        memcpy(p, &(int32_t){(int32_t)v}, 4);
        break;
    case VM_T_INT64: memcpy(p, &v, 8); break;
    case VM_T_DOUBLE:
    case VM_T_FLOAT:
        /* exact only up to 2^53 (double) / 2^24 (float): refuse silent loss */
        if ((c->type == VM_T_DOUBLE && (v > (1LL << 53) || v < -(1LL << 53))) ||
            (c->type == VM_T_FLOAT && (v > (1LL << 24) || v < -(1LL << 24))))
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s' (%s): integer %lld cannot be stored exactly", c->name,
                               vm_dtype_name(c->type), (long long)v);
        return vm_batch_set_double(b, col, row, (double)v, err);
    default: return vm_bad_type(c, "an integer", err);
    }
    vm_mark_set(c, row);
    return VM_OK;
range:
    return vm_err_setc(err, VM_ERR_INVALID, "field '%s' (%s): value %lld out of range", c->name,
                       vm_dtype_name(c->type), (long long)v);
}

int vm_batch_set_double(vm_batch *b, size_t col, size_t row, double v, vm_err *err)
{
    vm_column *c = &b->cols[col];
    void *p = c->data + row * c->width;
    if (c->type == VM_T_DOUBLE)
        memcpy(p, &v, 8);
    else if (c->type == VM_T_FLOAT)
        memcpy(p, &(float){(float)v}, 4);
    else
        return vm_bad_type(c, "a floating-point number", err);
    vm_mark_set(c, row);
    return VM_OK;
}

int vm_batch_set_str(vm_batch *b, size_t col, size_t row, const char *s, size_t len,
                     vm_err *err)
{
    vm_column *c = &b->cols[col];
    if (!vm_col_is_var(c->type))
        return vm_bad_type(c, "text", err);
    if (len > UINT32_MAX)
        return vm_err_setc(err, VM_ERR_INVALID, "field '%s': value of %zu bytes is too long",
                           c->name, len);
    if (vm_grow((void **)&c->arena, &c->arena_cap, c->arena_len + len, 1) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "batch: out of memory");
    if (len) /* an empty first value leaves the arena unallocated (NULL) */
        memcpy(c->arena + c->arena_len, s, len);
    c->off[row] = c->arena_len;
    c->len[row] = (uint32_t)len;
    c->arena_len += len;
    vm_mark_set(c, row);
    return VM_OK;
}

void *vm_batch_vector(vm_batch *b, size_t col, size_t row)
{
    vm_column *c = &b->cols[col];
    if (!vm_dtype_is_dense_vector(c->type))
        return NULL;
    return c->data + row * c->width;
}

int vm_batch_set_sparse(vm_batch *b, size_t col, size_t row, const uint32_t *idx,
                        const float *val, size_t nnz, vm_err *err)
{
    vm_column *c = &b->cols[col];
    if (c->type != VM_T_SPARSE_FLOAT_VECTOR)
        return vm_bad_type(c, "a sparse vector", err);
    for (size_t i = 1; i < nnz; i++)
        if (idx[i] <= idx[i - 1])
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s': sparse indices not strictly increasing at "
                               "position %zu (%u after %u)",
                               c->name, i, idx[i], idx[i - 1]);
    size_t need = c->sp_len + nnz, cap_i = c->sp_cap, cap_v = c->sp_cap;
    if (vm_grow((void **)&c->sp_idx, &cap_i, need, sizeof *c->sp_idx) != 0 ||
        vm_grow((void **)&c->sp_val, &cap_v, need, sizeof *c->sp_val) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "batch: out of memory");
    /* both arrays now hold at least `need`; keep the smaller as the shared cap */
    c->sp_cap = cap_i < cap_v ? cap_i : cap_v;
    if (nnz) {
        memcpy(c->sp_idx + c->sp_len, idx, nnz * sizeof *idx);
        memcpy(c->sp_val + c->sp_len, val, nnz * sizeof *val);
    }
    c->off[row] = c->sp_len;
    c->len[row] = (uint32_t)nnz;
    c->sp_len += nnz;
    vm_mark_set(c, row);
    return VM_OK;
}

bool vm_batch_is_null(const vm_batch *b, size_t col, size_t row)
{
    const vm_column *c = &b->cols[col];
    return c->nulls && c->nulls[row];
}

bool vm_batch_get_bool(const vm_batch *b, size_t col, size_t row)
{
    return b->cols[col].data[row] != 0;
}

int64_t vm_batch_get_int(const vm_batch *b, size_t col, size_t row)
{
    const vm_column *c = &b->cols[col];
    const void *p = c->data + row * c->width;
    switch (c->type) {
    case VM_T_INT8: return *(const int8_t *)p;
    case VM_T_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case VM_T_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case VM_T_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    default: assert(!"vm_batch_get_int on a non-integer column"); return 0;
    }
}

double vm_batch_get_double(const vm_batch *b, size_t col, size_t row)
{
    const vm_column *c = &b->cols[col];
    const void *p = c->data + row * c->width;
    if (c->type == VM_T_FLOAT) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    assert(c->type == VM_T_DOUBLE);
    double d;
    memcpy(&d, p, 8);
    return d;
}

const char *vm_batch_get_str(const vm_batch *b, size_t col, size_t row, size_t *len)
{
    const vm_column *c = &b->cols[col];
    *len = c->len[row];
    return c->arena ? c->arena + c->off[row] : "";
}

const void *vm_batch_get_vector(const vm_batch *b, size_t col, size_t row)
{
    const vm_column *c = &b->cols[col];
    return c->data + row * c->width;
}

size_t vm_batch_get_sparse(const vm_batch *b, size_t col, size_t row, const uint32_t **idx,
                           const float **val)
{
    const vm_column *c = &b->cols[col];
    *idx = c->sp_idx ? c->sp_idx + c->off[row] : NULL;
    *val = c->sp_val ? c->sp_val + c->off[row] : NULL;
    return c->len[row];
}

void vm_batch_borrow(vm_batch *b, size_t col, const vm_column *src)
{
    vm_column *c = &b->cols[col];
    assert(c->width == src->width);
    if (!c->borrowed) {
        char *name = c->name;
        c->name = NULL;
        vm_col_release(c);
        c->name = name;
        c->borrowed = true;
    }
    c->data = src->data;
    c->nulls = c->nullable ? src->nulls : NULL;
    c->off = src->off;
    c->len = src->len;
    c->arena = src->arena;
    c->arena_len = src->arena_len;
    c->arena_cap = src->arena_cap;
    c->sp_idx = src->sp_idx;
    c->sp_val = src->sp_val;
    c->sp_len = src->sp_len;
    c->sp_cap = src->sp_cap;
}

int vm_batch_reserve(vm_batch *b, size_t rows, vm_err *err)
{
    if (rows <= b->cap)
        return VM_OK;
    size_t ncap = b->cap ? b->cap : 1;
    while (ncap < rows)
        ncap *= 2;
    for (size_t i = 0; i < b->ncols; i++)
        if (vm_col_reserve(&b->cols[i], ncap) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "batch: out of memory growing to %zu rows", ncap);
    b->cap = ncap;
    return VM_OK;
}

size_t vm_batch_bytes(const vm_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->ncols; i++) {
        const vm_column *c = &b->cols[i];
        n += c->width * b->nrows + c->arena_len + c->sp_len * 8;
    }
    return n;
}

typedef struct vm_sparse_pair {
    uint32_t idx;
    float val;
} vm_sparse_pair;

static int vm_sparse_pair_cmp(const void *a, const void *b)
{
    uint32_t x = ((const vm_sparse_pair *)a)->idx, y = ((const vm_sparse_pair *)b)->idx;
    return x < y ? -1 : x > y;
}

int vm_sparse_sort(uint32_t *idx, float *val, size_t n, uint32_t *dup)
{
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = idx[i - 1] < idx[i];
    if (!sorted) {
        vm_sparse_pair *pp = vm_malloc(n * sizeof *pp);
        if (!pp)
            return VM_ERR_NOMEM;
        for (size_t i = 0; i < n; i++)
            pp[i] = (vm_sparse_pair){idx[i], val[i]};
        qsort(pp, n, sizeof *pp, vm_sparse_pair_cmp);
        for (size_t i = 0; i < n; i++) {
            idx[i] = pp[i].idx;
            val[i] = pp[i].val;
        }
        vm_free(pp);
        for (size_t i = 1; i < n; i++)
            if (idx[i - 1] == idx[i]) {
                *dup = idx[i];
                return VM_ERR_INVALID;
            }
    }
    return VM_OK;
}

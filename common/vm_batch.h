/*
 * vm_batch.h - a columnar record batch.
 *
 * The unit a source reads and a sink writes. One column per field; values
 * are kept in their native width, and dense vectors as one contiguous typed
 * array per column (row r's vector starts at r * dim), never as JSON trees:
 * the data path decodes source bytes straight into these arrays and encodes
 * requests straight out of them. Variable-length values (VarChar, JSON text,
 * Array as JSON text) live in a per-column arena; sparse vectors as
 * (indices, values) runs in per-column arrays.
 *
 * A batch is reused: vm_batch_clear() keeps every allocation, so a worker's
 * memory stays flat over a billion-row run. Not thread-safe: one owner.
 */
#ifndef VM_BATCH_H
#define VM_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_err.h"
#include "vm_schema.h"

typedef struct vm_column {
    char *name;
    vm_dtype type;
    vm_dtype element_type; /* Array */
    int64_t dim;           /* dense vectors */
    int64_t max_length;    /* VarChar (and Array<VarChar>) limit in bytes, from the field */
    bool nullable;
    size_t width;          /* bytes per row in data; 0 for variable-length */
    uint8_t *data;         /* cap * width */
    uint8_t *nulls;        /* cap bytes, 1 = null; NULL when !nullable */
    /* variable-length and sparse: row r spans [off[r], off[r] + len[r]) of
     * arena (bytes) or of sp_idx/sp_val (entries) */
    uint64_t *off;
    uint32_t *len;
    char *arena;
    size_t arena_len, arena_cap;
    uint32_t *sp_idx;
    float *sp_val;
    size_t sp_len, sp_cap;
    /* The buffers above belong to another batch's column (vm_batch_borrow):
     * this batch never frees or grows them. */
    bool borrowed;
} vm_column;

typedef struct vm_batch {
    vm_column *cols;
    size_t ncols;
    size_t nrows, cap;
} vm_batch;

/* One column per schema field, room for `capacity` rows (grows on demand). */
int vm_batch_new(const vm_schema *s, size_t capacity, vm_batch **out, vm_err *err);
void vm_batch_free(vm_batch *b);
/* Drop all rows, keep allocations. */
void vm_batch_clear(vm_batch *b);
int vm_batch_col(const vm_batch *b, const char *name); /* index or -1 */

/* Append an empty row (numbers zero, strings empty, vectors zero, nullable
 * columns null) and return its index in *row. */
int vm_batch_add_row(vm_batch *b, size_t *row, vm_err *err);
/* Remove the last row (a source that fails half-way through a row). */
void vm_batch_drop_last(vm_batch *b);

/* Setters. Each checks the column type and value range and names the column
 * in its error; a value set on a nullable column clears its null flag. */
int vm_batch_set_null(vm_batch *b, size_t col, size_t row, vm_err *err);
int vm_batch_set_bool(vm_batch *b, size_t col, size_t row, bool v, vm_err *err);
int vm_batch_set_int(vm_batch *b, size_t col, size_t row, int64_t v, vm_err *err);
int vm_batch_set_double(vm_batch *b, size_t col, size_t row, double v, vm_err *err);
/* VarChar: UTF-8 text; JSON and Array: JSON text. Copied into the arena. */
int vm_batch_set_str(vm_batch *b, size_t col, size_t row, const char *s, size_t len,
                     vm_err *err);
/* Dense vector storage of row `row` (dim floats / halves / int8, or dim/8
 * bytes); the caller writes it in place. NULL if col is not a dense vector. */
void *vm_batch_vector(vm_batch *b, size_t col, size_t row);
/* Sparse vector: indices strictly increasing (the error says where not). */
int vm_batch_set_sparse(vm_batch *b, size_t col, size_t row, const uint32_t *idx,
                        const float *val, size_t nnz, vm_err *err);

/* Put a sparse vector's entries in increasing index order, as Milvus and
 * vm_batch_set_sparse want them (sources may send any order): sorts
 * idx/val together in place. VM_OK; VM_ERR_INVALID when an index appears
 * twice, with that index in *dup (the caller names row and field);
 * VM_ERR_NOMEM. Sets no message. */
int vm_sparse_sort(uint32_t *idx, float *val, size_t n, uint32_t *dup);

/* Getters (no checks beyond asserts: the caller knows the column type). */
bool vm_batch_is_null(const vm_batch *b, size_t col, size_t row);
bool vm_batch_get_bool(const vm_batch *b, size_t col, size_t row);
int64_t vm_batch_get_int(const vm_batch *b, size_t col, size_t row);
double vm_batch_get_double(const vm_batch *b, size_t col, size_t row);
const char *vm_batch_get_str(const vm_batch *b, size_t col, size_t row, size_t *len);
const void *vm_batch_get_vector(const vm_batch *b, size_t col, size_t row);
size_t vm_batch_get_sparse(const vm_batch *b, size_t col, size_t row, const uint32_t **idx,
                           const float **val);

/* Make column `col` of b a view of src's buffers (data, nulls, offsets,
 * arena, sparse runs), without copying: b's own buffers for that column are
 * freed, and from now on b never frees or grows it (vm_batch_free frees only
 * its name). The column keeps its own name, type and limits; its null flags
 * are src's when it is nullable, none otherwise. A batch with borrowed
 * columns is read-only (no add_row or setters on those columns): the
 * transform builds its output batches this way, and calls this again for
 * every batch. src must have the same row width (type and dim). */
void vm_batch_borrow(vm_batch *b, size_t col, const vm_column *src);
/* Room for `rows` rows in every column b owns (borrowed ones are skipped),
 * for writers that fill columns directly. Does not change nrows. */
int vm_batch_reserve(vm_batch *b, size_t rows, vm_err *err);

/* Payload bytes held by the batch (for batch_bytes limits). */
size_t vm_batch_bytes(const vm_batch *b);

#endif

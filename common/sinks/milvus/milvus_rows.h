/*
 * milvus_rows.h - encode batch rows as the `data` array of entities/insert.
 *
 * Straight from the batch's typed columns into JSON text (no jansson tree):
 * FloatVector as numbers in their shortest round-trip form (bit-exact
 * float32), Float16/BFloat16 as base64 of little-endian bytes, BinaryVector
 * as an array of byte values, SparseFloatVector as {"indices","values"},
 * Int8Vector as integers, JSON/Array columns as the JSON text they hold,
 * nulls as null. The autoID primary key is never sent. A JSON column named
 * "$meta" (the dynamic field) has its members spliced into the row, which is
 * how REST v2 takes dynamic fields.
 */
#ifndef VM_MILVUS_ROWS_H
#define VM_MILVUS_ROWS_H

#include "vm_batch.h"
#include "vm_buf.h"
#include "vm_schema.h"

#define VM_MILVUS_META "$meta"

/* Appends "[{...},{...}]" for rows [from, to) to out. Fields of the schema
 * are found in the batch by name; a field the batch lacks is omitted when
 * it is nullable or has a default, and is an error otherwise. NaN/Inf in a
 * vector or float field is an error naming the field and row. */
int vm_milvus_encode_rows(const vm_schema *s, const vm_batch *b, size_t from, size_t to,
                          vm_buf *out, vm_err *err);
/* Same for the rows listed in rows[0..n), in that order (the rows of one
 * partition). Every field, the partition field included, is encoded as
 * vm_milvus_encode_rows encodes it. */
int vm_milvus_encode_row_list(const vm_schema *s, const vm_batch *b, const size_t *rows,
                              size_t n, vm_buf *out, vm_err *err);

#endif

/*
 * milvus_partition.h - explicit partitions: the partition a row goes to,
 * named after the value of the schema's partition_field in that row, and
 * the rows of a write grouped by partition (one request per partition).
 *
 * Milvus partition names follow its name rules (^[A-Za-z_][A-Za-z0-9_]*$,
 * at most 255 characters). A value becomes a name like this:
 *
 *   VarChar "eu-west.1"   -> "eu_west_1"   '-' and '.' become '_' (as
 *                                          vm_name_to_milvus does when not
 *                                          strict)
 *   VarChar "2024"        -> "p_2024"      still not a valid name (here: it
 *                                          starts with a digit): "p_" in front
 *   Int64   42 / -7       -> "p_42" / "p_m7"
 *   ""      or null       -> "_default"    the partition every collection has
 *
 * The mapping is not one-to-one: "a-b", "a.b" and "a_b" share the partition
 * "a_b", and VarChar "7" and "p_7" share "p_7" with Int64 7. A value that no
 * prefix makes valid (non-ASCII, spaces or other punctuation, embedded NUL,
 * too long) is an error naming the field, the row and the value.
 */
#ifndef VM_MILVUS_PARTITION_H
#define VM_MILVUS_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "vm_batch.h"
#include "vm_err.h"
#include "vm_schema.h"

#define VM_MILVUS_PARTITION_DEFAULT "_default"
#define VM_MILVUS_MAX_PARTITIONS 1024 /* per collection, Milvus's default limit */
#define VM_MILVUS_PARTITION_CAP (VM_MAX_NAME_LEN + 1) /* bytes of a name buffer */

/* The partition for a VarChar value of len bytes (no NUL needed). out holds
 * VM_MILVUS_PARTITION_CAP bytes. VM_OK, or VM_ERR_INVALID when the value
 * cannot name a partition (out is then ""); no vm_err: the caller names the
 * field and row. */
int vm_milvus_partition_from_str(const char *v, size_t len, char *out);
/* The partition for an integer value: "p_<v>", "p_m<|v|>" when negative. */
void vm_milvus_partition_from_int(int64_t v, char *out);

/* Rows of one partition, batch row indices in ascending order. */
typedef struct vm_milvus_group {
    char name[VM_MILVUS_PARTITION_CAP];
    size_t *rows; /* points into vm_milvus_groups.rows */
    size_t nrows;
} vm_milvus_group;

/* Reusable between writes (zero-initialise once; release at the end). */
typedef struct vm_milvus_groups {
    vm_milvus_group *g; /* in order of first appearance in the range */
    size_t n, cap;
    size_t *rows;       /* all groups' rows, group after group */
    size_t rows_cap;
    size_t *of_row;     /* scratch: group index of each row */
    size_t of_row_cap;
} vm_milvus_groups;

/* Group rows [from, to) of the batch by the partition named after the value
 * of s->partition_field (which must be set, and a column of the batch of an
 * integer type or VarChar). A value that cannot name a partition is a fatal
 * VM_ERR_INVALID naming the field, the row and the value's first 40 bytes. */
int vm_milvus_group_rows(const vm_schema *s, const vm_batch *b, size_t from, size_t to,
                         vm_milvus_groups *out, vm_err *err);
void vm_milvus_groups_release(vm_milvus_groups *g);

#endif

/*
 * vm_task.h - the range task: the unit of work, of retry and of resume.
 *
 * The coordinator splits a source into tasks; each names a disjoint range of
 * the source in the source's own terms (integer key range, ctid block range,
 * key-string range, slice, offset window) plus an optional scope (namespace,
 * partition, shard, index). A task carries no credentials: it is published
 * on Kafka and stored in Redis as the compact JSON of vm_task_encode().
 * Progress inside a task is the source's opaque cursor, kept apart (state
 * store), so a task message never changes after it is published.
 */
#ifndef VM_TASK_H
#define VM_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_err.h"

typedef enum vm_range_kind {
    VM_RANGE_ALL = 0, /* the whole scope */
    VM_RANGE_INT,     /* integer keys in [lo, hi) */
    VM_RANGE_CTID,    /* PostgreSQL heap blocks in [lo, hi) */
    VM_RANGE_KEY,     /* byte-ordered string keys in [key_lo, key_hi) */
    VM_RANGE_SLICE,   /* slice `slice` of `slices` (Elasticsearch/OpenSearch) */
    VM_RANGE_OFFSET,  /* positions [lo, hi) of a stable order */
    VM_RANGE__COUNT
} vm_range_kind;

typedef struct vm_task {
    char *job_id;
    uint32_t id;          /* dense per job: 0 .. ntasks-1 */
    vm_range_kind kind;
    bool has_lo, has_hi;  /* INT/CTID/OFFSET bounds; absent = unbounded */
    int64_t lo, hi;
    char *key_lo, *key_hi; /* KEY bounds; NULL = unbounded */
    char *scope;           /* namespace / partition / shard; for slices the
                              point-in-time id they share; NULL = none */
    int32_t slice, slices;
    int64_t est_rows;      /* planner's estimate, -1 when unknown */
} vm_task;

const char *vm_range_kind_name(vm_range_kind k);

void vm_task_init(vm_task *t);          /* zero, est_rows = -1 */
void vm_task_release(vm_task *t);       /* free strings, keep struct */
int vm_task_copy(vm_task *dst, const vm_task *src, vm_err *err);

/* Checks internal consistency (lo < hi, slice < slices, ...). */
int vm_task_validate(const vm_task *t, vm_err *err);

json_t *vm_task_to_json(const vm_task *t);
/* Strict: unknown keys, wrong types and inconsistent ranges are errors. */
int vm_task_from_json(const json_t *j, vm_task *t, vm_err *err);
/* Compact JSON text (caller frees with free()); NULL on allocation failure. */
char *vm_task_encode(const vm_task *t);
int vm_task_decode(const char *text, size_t len, vm_task *t, vm_err *err);

/* Human-readable range for logs and reports: "int [100, 200)",
 * "key ['a', 'b') in ns1", "slice 3/8". */
void vm_task_describe(const vm_task *t, char *buf, size_t size);

#endif

/*
 * runner.h - copy one range task from a source to a sink.
 *
 * The data path every worker runs, whatever queue and state store sit
 * around it: open the source at the task's checkpoint, read batches, write
 * each batch to the target, and only after the target confirmed it call the
 * checkpoint hook (which records cursor and counters atomically and fenced).
 *
 * - A batch whose request would exceed the byte limit, or that the target
 *   refuses as too large, is split in halves until it fits (a single row
 *   over the limit is a fatal error naming the limit).
 * - Retriable write errors are retried with capped exponential backoff and
 *   full jitter; fatal ones end the task.
 * - Under an autoID target a resumed or retried task first deletes the rows
 *   written after the checkpoint (the source's resume_filter), so a batch
 *   that reached the target before a crash cannot be duplicated. With the
 *   primary key kept, writes are upserts and need no such step.
 */
#ifndef VM_RUNNER_H
#define VM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "vm_connector.h"
#include "vm_metrics.h"
#include "vm_transform.h"

typedef struct vm_run_hooks {
    /* After the target confirmed a batch. Must record atomically and fenced;
     * VM_ERR_FENCED (another worker owns the task) stops the run. */
    int (*checkpoint)(void *ctx, const char *cursor, int64_t d_read, int64_t d_written,
                      vm_err *err);
    /* Between batches and while backing off: keep leases and queue
     * membership alive. A non-zero return stops the run with that code
     * (VM_ERR_CANCELLED for a stop request, VM_ERR_FENCED ...). */
    int (*tick)(void *ctx, vm_err *err);
    void *ctx;
} vm_run_hooks;

typedef struct vm_run_opts {
    size_t batch_rows;       /* rows per read; >= 1 */
    size_t batch_bytes;      /* request-size ceiling; 0 = none */
    int max_write_attempts;  /* per request, for retriable errors; >= 1 */
    long backoff_base_ms;    /* first backoff (default 200) */
    long backoff_max_ms;     /* cap (default 30000) */
    bool resumed;            /* a cursor is given or an earlier attempt ran */
    const vm_worker_metrics *metrics; /* NULL: none; rows, bytes, latencies, retries */
} vm_run_opts;

typedef struct vm_run_result {
    int64_t rows_read, rows_written;
    int64_t batches, requests, retries, splits;
} vm_run_result;

/* read_schema: the columns the source fills. xf: the mapping's transform
 * from read_schema batches to target batches, or NULL when the read schema
 * is the target's (its fields without an autoID primary key). target: the
 * collection's schema. */
int vm_run_task(vm_source *src, vm_sink *sink, const vm_schema *read_schema, vm_transform *xf,
                const vm_schema *target, const vm_task *task, const char *cursor,
                const vm_run_opts *opts, const vm_run_hooks *hooks, vm_run_result *res,
                vm_err *err);


#endif

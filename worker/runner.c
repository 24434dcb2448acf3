/*
 * runner.c - one task: read batches, write them, checkpoint after each.
 */
#include "runner.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


typedef struct vm_runner {
    vm_sink *sink;
    const vm_schema *target;
    const vm_batch *batch;
    const vm_run_opts *opts;
    const vm_run_hooks *hooks;
    vm_run_result *res;
    unsigned seed;
} vm_runner;

static int vm_sleep_ticking(vm_runner *r, long ms, vm_err *err)
{
    while (ms > 0) {
        long step = ms < 500 ? ms : 500;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
        int rc = r->hooks->tick ? r->hooks->tick(r->hooks->ctx, err) : VM_OK;
        if (rc != VM_OK)
            return rc;
    }
    return VM_OK;
}

/* "row id=12" / "row id='abc'" by the target's primary key when the batch
 * holds it (not under autoID), else "row 3 of the batch". */
static void vm_row_label(const vm_runner *r, size_t row, char *buf, size_t cap)
{
    const vm_field *pk = vm_schema_primary(r->target);
    int col = pk && !pk->auto_id ? vm_batch_col(r->batch, pk->name) : -1;
    if (col >= 0 && !vm_batch_is_null(r->batch, (size_t)col, row)) {
        if (pk->type == VM_T_VARCHAR) {
            size_t n;
            const char *k = vm_batch_get_str(r->batch, (size_t)col, row, &n);
            snprintf(buf, cap, "row %s='%.*s'%s", pk->name, (int)(n < 64 ? n : 64), k,
                     n > 64 ? "..." : "");
        } else {
            snprintf(buf, cap, "row %s=%lld", pk->name,
                     (long long)vm_batch_get_int(r->batch, (size_t)col, row));
        }
        return;
    }
    snprintf(buf, cap, "row %zu of the batch", row);
}

/* Write rows [from, to): retry retriable errors, halve on TOO_LARGE. */
static int vm_write_range(vm_runner *r, size_t from, size_t to, vm_err *err)
{
    for (int attempt = 1;; attempt++) {
        r->res->requests++;
        int rc = vm_sink_write(r->sink, r->target, r->batch, from, to, r->opts->batch_bytes, err);
        if (rc == VM_OK) {
            r->res->rows_written += (int64_t)(to - from);
            return VM_OK;
        }
        if (rc == VM_ERR_TOO_LARGE) {
            if (to - from > 1 && r->opts->metrics)
                vm_metric_inc(r->opts->metrics->retries[VM_RETRY_TOO_LARGE]);
            if (to - from == 1) {
                /* err->msg cannot be an argument of the call that rewrites it */
                char why[VM_ERR_MSG_MAX], row[160];
                snprintf(why, sizeof why, "%s", err->msg);
                vm_row_label(r, from, row, sizeof row);
                return vm_err_set(err, VM_ERR_TOO_LARGE, false,
                                  "%s alone is too large to send (%s); raise "
                                  "migration.batch_bytes",
                                  row, why);
            }
            size_t mid = from + (to - from) / 2;
            r->res->splits++;
            vm_debug("request of %zu rows too large, splitting: %s", to - from, err->msg);
            if ((rc = vm_write_range(r, from, mid, err)) != VM_OK)
                return rc;
            return vm_write_range(r, mid, to, err);
        }
        if (!err->retriable || attempt >= r->opts->max_write_attempts)
            return attempt > 1 ? vm_err_prefix(err, "after %d attempts: ", attempt) : rc;
        r->res->retries++;
        if (r->opts->metrics)
            vm_metric_inc(r->opts->metrics->retries[vm_retry_cause_of((vm_code)rc)]);
        long wait = vm_backoff_ms(attempt, r->opts->backoff_base_ms ? r->opts->backoff_base_ms : 200,
                                  r->opts->backoff_max_ms ? r->opts->backoff_max_ms : 30000,
                                  &r->seed);
        vm_warn("write of %zu rows failed (%s), retrying in %ld ms", to - from, err->msg, wait);
        if ((rc = vm_sleep_ticking(r, wait, err)) != VM_OK)
            return rc;
    }
}

static const char *vm_run_target_of(const void *ctx, const char *source_field)
{
    return vm_transform_target_of(ctx, source_field);
}

int vm_run_task(vm_source *src, vm_sink *sink, const vm_schema *read_schema, vm_transform *xf,
                const vm_schema *target, const vm_task *task, const char *cursor,
                const vm_run_opts *opts, const vm_run_hooks *hooks, vm_run_result *res,
                vm_err *err)
{
    memset(res, 0, sizeof *res);
    vm_batch *batch = NULL;
    char *pos = NULL, *filter = NULL;
    int rc;
    const vm_worker_metrics *wm = opts->metrics;
    vm_runner r = {.sink = sink, .target = target, .opts = opts, .hooks = hooks, .res = res,
                   .seed = (unsigned)time(NULL) ^ task->id};
    const vm_field *pk = vm_schema_primary(target);

    if (pk && pk->auto_id && opts->resumed) {
        /* undo what a crashed attempt wrote past its checkpoint */
        vm_field_names names = {.target_of = vm_run_target_of, .ctx = xf};
        if ((rc = vm_source_resume_filter(src, task, cursor, xf ? &names : NULL, &filter,
                                          err)) != VM_OK) {
            if (rc == VM_ERR_UNSUPPORTED)
                rc = vm_err_setc(err, VM_ERR_UNSUPPORTED,
                                 "cannot resume task %u into an autoID collection: source '%s' "
                                 "has no row identity to remove a partial write by",
                                 task->id, src->ops->name);
            goto cleanup;
        }
        vm_info("task %u: removing rows written after the checkpoint (%s)", task->id, filter);
        if ((rc = vm_sink_delete_where(sink, target->collection, filter, err)) != VM_OK)
            goto cleanup;
    }
    if ((rc = vm_batch_new(read_schema, opts->batch_rows, &batch, err)) != VM_OK)
        goto cleanup;
    if ((rc = vm_source_open(src, task, cursor, err)) != VM_OK)
        goto cleanup;
    for (bool done = false; !done;) {
        vm_batch_clear(batch);
        double t0 = wm ? vm_metrics_now() : 0;
        if ((rc = vm_source_read(src, batch, opts->batch_rows, &done, err)) != VM_OK)
            goto cleanup;
        if (batch->nrows == 0 && done)
            break;
        if (wm) {
            vm_metric_observe(wm->source_read_seconds, vm_metrics_now() - t0);
            vm_metric_add(wm->rows_read, (double)batch->nrows);
        }
        int64_t before = res->rows_written;
        r.batch = batch;
        if (xf && (rc = vm_transform_apply(xf, batch, &r.batch, err)) != VM_OK)
            goto cleanup;
        uint64_t bytes0 = wm ? vm_sink_bytes_written(sink) : 0;
        double t1 = wm ? vm_metrics_now() : 0;
        if ((rc = vm_write_range(&r, 0, batch->nrows, err)) != VM_OK)
            goto cleanup;
        if (wm) {
            vm_metric_observe(wm->batch_write_seconds, vm_metrics_now() - t1);
            vm_metric_add(wm->rows_written, (double)(res->rows_written - before));
            vm_metric_add(wm->bytes_written, (double)(vm_sink_bytes_written(sink) - bytes0));
        }
        res->rows_read += (int64_t)batch->nrows;
        res->batches++;
        vm_free(pos);
        pos = NULL;
        if ((rc = vm_source_cursor(src, &pos, err)) != VM_OK)
            goto cleanup;
        if (hooks->checkpoint &&
            (rc = hooks->checkpoint(hooks->ctx, pos, (int64_t)batch->nrows,
                                    res->rows_written - before, err)) != VM_OK)
            goto cleanup;
        if (hooks->tick && (rc = hooks->tick(hooks->ctx, err)) != VM_OK)
            goto cleanup;
    }
cleanup:
    vm_source_close(src);
    vm_batch_free(batch);
    vm_free(pos);
    vm_free(filter);
    return rc;
}

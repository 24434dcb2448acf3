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
            if (to - from == 1)
                return vm_err_set(err, VM_ERR_TOO_LARGE, false,
                                  "one row alone is too large to send (%s); raise "
                                  "migration.batch_bytes",
                                  err->msg);
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
        if ((rc = vm_source_read(src, batch, opts->batch_rows, &done, err)) != VM_OK)
            goto cleanup;
        if (batch->nrows == 0 && done)
            break;
        int64_t before = res->rows_written;
        r.batch = batch;
        if (xf && (rc = vm_transform_apply(xf, batch, &r.batch, err)) != VM_OK)
            goto cleanup;
        if ((rc = vm_write_range(&r, 0, batch->nrows, err)) != VM_OK)
            goto cleanup;
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

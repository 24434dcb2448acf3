/*
 * test_runner.c - the task runner against the synthetic source and a
 * recording sink: every row written exactly once in order, checkpoints
 * after each confirmed batch with the right cursor, oversized requests
 * halved, retriable errors retried, fatal errors stop the task, fencing
 * stops it, and an autoID resume without a row identity is refused; the
 * worker metrics it updates (rows, bytes, latencies, retries by cause).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "vm_mapping.h"
#include "vm_mem.h"

typedef struct rec_sink {
    int64_t *ids;
    size_t n, cap;
    size_t max_rows_per_request; /* more -> TOO_LARGE */
    int fail_retriable;          /* next N writes fail retriably */
    int fail_fatal_at;           /* the Nth write fails fatally (0 = never) */
    bool refuse_all;             /* every request is TOO_LARGE */
    int writes;
} rec_sink;

static int rec_write(void *state, const vm_schema *schema, const vm_batch *b, size_t from,
                     size_t to, size_t max_bytes, vm_err *err)
{
    (void)schema;
    (void)max_bytes;
    rec_sink *s = state;
    s->writes++;
    if (s->fail_fatal_at && s->writes == s->fail_fatal_at)
        return vm_err_setc(err, VM_ERR_INVALID, "rejected by the test");
    if (s->refuse_all || (s->max_rows_per_request && to - from > s->max_rows_per_request))
        return vm_err_setc(err, VM_ERR_TOO_LARGE, "too large for the test");
    if (s->fail_retriable > 0) {
        s->fail_retriable--;
        return vm_err_setc(err, VM_ERR_UNAVAILABLE, "busy in the test");
    }
    for (size_t r = from; r < to; r++) {
        if (vm_grow((void **)&s->ids, &s->cap, s->n + 1, sizeof *s->ids))
            return vm_err_setc(err, VM_ERR_NOMEM, "oom");
        s->ids[s->n++] = vm_batch_get_int(b, 0, r);
    }
    return VM_OK;
}

static const vm_sink_ops rec_ops = {.name = "rec", .write = rec_write};

typedef struct ckpt {
    char last[32];
    int64_t read, written;
    int calls;
    int fence_at; /* return FENCED on this call */
} ckpt;

static int on_ckpt(void *ctx, const char *cursor, int64_t d_read, int64_t d_written,
                   vm_err *err)
{
    ckpt *c = ctx;
    c->calls++;
    if (c->fence_at && c->calls == c->fence_at)
        return vm_err_setc(err, VM_ERR_FENCED, "another worker owns the task");
    snprintf(c->last, sizeof c->last, "%s", cursor);
    c->read += d_read;
    c->written += d_written;
    return VM_OK;
}

static int on_tick(void *ctx, vm_err *err)
{
    (void)ctx;
    (void)err;
    return VM_OK;
}

typedef struct fixture {
    vm_source *src;
    vm_schema *target, *read;
    vm_task task;
} fixture;

static void setup(fixture *f, bool auto_id)
{
    json_t *conf = json_pack("{s:i, s:i}", "rows", 1000, "dim", 4);
    vm_err e;
    assert_int_equal(vm_source_new("synthetic", conf, &f->src, &e), VM_OK);
    json_decref(conf);
    assert_int_equal(vm_source_discover(f->src, &f->target, &e), VM_OK);
    if (auto_id)
        f->target->fields[0].auto_id = true;
    f->read = vm_mapping_read_schema(f->target, NULL);
    vm_task_init(&f->task);
    f->task.job_id = "j";
    f->task.kind = VM_RANGE_INT;
    f->task.has_lo = f->task.has_hi = true;
    f->task.lo = 100;
    f->task.hi = 350;
}

static void teardown(fixture *f)
{
    vm_schema_free(f->target);
    vm_schema_free(f->read);
    vm_source_free(f->src);
}

static void test_all_rows_once(void **st)
{
    (void)st;
    fixture f;
    setup(&f, false);
    rec_sink rs = {.max_rows_per_request = 16, .fail_retriable = 3};
    vm_sink sink = {.ops = &rec_ops, .state = &rs};
    ckpt c = {0};
    vm_run_hooks h = {.checkpoint = on_ckpt, .tick = on_tick, .ctx = &c};
    vm_run_opts o = {.batch_rows = 60, .max_write_attempts = 5, .backoff_base_ms = 1,
                     .backoff_max_ms = 2};
    vm_run_result res;
    vm_err e;
    if (vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(rs.n, 250);
    for (size_t i = 0; i < rs.n; i++)
        assert_int_equal(rs.ids[i], 100 + (int64_t)i); /* in order, once */
    assert_int_equal(res.rows_read, 250);
    assert_int_equal(res.rows_written, 250);
    assert_int_equal(res.batches, 5); /* 60,60,60,60,10 */
    assert_int_equal(c.calls, 5);
    assert_string_equal(c.last, "350");
    assert_int_equal(c.read, 250);
    assert_int_equal(c.written, 250);
    assert_true(res.splits > 0);
    assert_int_equal(res.retries, 3);

    /* resume from a cursor: only the rest is written */
    rs.n = 0;
    memset(&c, 0, sizeof c);
    o.resumed = true;
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, "300", &o, &h, &res, &e),
                     VM_OK);
    assert_int_equal(rs.n, 50);
    assert_int_equal(rs.ids[0], 300);
    free(rs.ids);
    teardown(&f);
}

static void test_failures(void **st)
{
    (void)st;
    fixture f;
    setup(&f, false);
    vm_run_opts o = {.batch_rows = 50, .max_write_attempts = 2, .backoff_base_ms = 1,
                     .backoff_max_ms = 1};
    vm_run_result res;
    vm_err e;
    ckpt c = {0};
    vm_run_hooks h = {.checkpoint = on_ckpt, .tick = on_tick, .ctx = &c};

    /* retriable errors beyond the attempt budget end the task, retriable */
    rec_sink rs = {.fail_retriable = 10};
    vm_sink sink = {.ops = &rec_ops, .state = &rs};
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "after 2 attempts"));
    assert_int_equal(c.calls, 0); /* nothing confirmed, nothing checkpointed */

    /* a fatal error on the third request stops after two checkpoints */
    rec_sink rs2 = {.fail_fatal_at = 3};
    sink.state = &rs2;
    memset(&c, 0, sizeof c);
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_ERR_INVALID);
    assert_int_equal(c.calls, 2);
    assert_string_equal(c.last, "200");
    free(rs2.ids);

    /* one row over the limit is fatal and names the setting */
    rec_sink rs3 = {.refuse_all = true};
    sink.state = &rs3;
    memset(&c, 0, sizeof c);
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_ERR_TOO_LARGE);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "migration.batch_bytes"));
    /* names the row by its key, and the sink's reason once */
    assert_non_null(strstr(e.msg, "row id=100 alone is too large to send (too large for the "
                                  "test); raise"));
    assert_int_equal(c.calls, 0);

    /* fencing stops the run at once */
    rec_sink rs4 = {0};
    sink.state = &rs4;
    memset(&c, 0, sizeof c);
    c.fence_at = 2;
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_ERR_FENCED);
    assert_int_equal(rs4.n, 100); /* two batches went out, the third never did */
    free(rs4.ids);
    teardown(&f);
}

static void test_split_down_to_single_rows(void **st)
{
    (void)st;
    fixture f;
    setup(&f, false);
    rec_sink rs = {.max_rows_per_request = 1};
    vm_sink sink = {.ops = &rec_ops, .state = &rs};
    ckpt c = {0};
    vm_run_hooks h = {.checkpoint = on_ckpt, .tick = on_tick, .ctx = &c};
    vm_run_opts o = {.batch_rows = 8, .max_write_attempts = 1};
    vm_run_result res;
    vm_err e;
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_OK);
    assert_int_equal(rs.n, 250);
    for (size_t i = 0; i < rs.n; i++)
        assert_int_equal(rs.ids[i], 100 + (int64_t)i);
    /* 31 batches of 8 need 7 splits each, the last batch of 2 needs 1 */
    assert_int_equal(res.splits, 31 * 7 + 1);
    free(rs.ids);
    teardown(&f);
}

static void test_autoid_resume_needs_identity(void **st)
{
    (void)st;
    fixture f;
    setup(&f, true);
    rec_sink rs = {0};
    vm_sink sink = {.ops = &rec_ops, .state = &rs};
    ckpt c = {0};
    vm_run_hooks h = {.checkpoint = on_ckpt, .tick = on_tick, .ctx = &c};
    vm_run_opts o = {.batch_rows = 50, .max_write_attempts = 1, .resumed = true};
    vm_run_result res;
    vm_err e;
    assert_null(vm_schema_find(f.read, "id")); /* autoID key is not read */
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, "200", &o, &h, &res, &e),
                     VM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "no row identity"));
    assert_int_equal(rs.writes, 0);
    teardown(&f);
}

/* 8 request bytes per row the recording sink confirmed. */
static uint64_t rec_bytes(void *state) { return ((rec_sink *)state)->n * 8; }

static void test_metrics_updates(void **st)
{
    (void)st;
    fixture f;
    setup(&f, false);
    rec_sink rs = {.max_rows_per_request = 16, .fail_retriable = 3};
    const vm_sink_ops ops = {.name = "rec", .write = rec_write, .bytes_written = rec_bytes};
    vm_sink sink = {.ops = &ops, .state = &rs};
    ckpt c = {0};
    vm_run_hooks h = {.checkpoint = on_ckpt, .tick = on_tick, .ctx = &c};
    vm_metrics *m;
    vm_worker_metrics wm;
    vm_err e;
    assert_int_equal(vm_metrics_new_vecmig(&m, &e), VM_OK);
    assert_int_equal(vm_worker_metrics_init(m, "j", "w", &wm, &e), VM_OK);
    vm_run_opts o = {.batch_rows = 60, .max_write_attempts = 5, .backoff_base_ms = 1,
                     .backoff_max_ms = 2, .metrics = &wm};
    vm_run_result res;
    if (vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e) != VM_OK)
        fail_msg("%s", e.msg);
    assert_true(vm_metric_value(wm.rows_read) == 250);
    assert_true(vm_metric_value(wm.rows_written) == 250);
    assert_true(vm_metric_value(wm.bytes_written) == 250 * 8);
    assert_int_equal(vm_metric_hist_count(wm.batch_write_seconds), res.batches);
    assert_int_equal(vm_metric_hist_count(wm.source_read_seconds), res.batches);
    assert_true(vm_metric_value(wm.retries[VM_RETRY_UNAVAILABLE]) == 3);
    assert_true(res.splits > 0);
    assert_true(vm_metric_value(wm.retries[VM_RETRY_TOO_LARGE]) == (double)res.splits);
    assert_true(vm_metric_value(wm.retries[VM_RETRY_RATE_LIMITED]) == 0);
    assert_true(vm_metric_value(wm.retries[VM_RETRY_OTHER]) == 0);
    /* a failed batch is not observed as a write */
    rec_sink rs2 = {.fail_fatal_at = 3};
    sink.state = &rs2;
    o.batch_rows = 50;
    memset(&c, 0, sizeof c);
    assert_int_equal(vm_run_task(f.src, &sink, f.read, NULL, f.target, &f.task, NULL, &o, &h, &res, &e),
                     VM_ERR_INVALID);
    assert_int_equal(vm_metric_hist_count(wm.batch_write_seconds), 5 + 2);
    assert_int_equal(vm_metric_hist_count(wm.source_read_seconds), 5 + 3);
    assert_true(vm_metric_value(wm.rows_written) == 250 + 100);
    free(rs.ids);
    free(rs2.ids);
    vm_metrics_free(m);
    teardown(&f);
}

static void test_backoff(void **st)
{
    (void)st;
    unsigned seed = 7;
    for (int a = 1; a < 20; a++) {
        long ms = vm_backoff_ms(a, 100, 5000, &seed);
        long cap = 100L << (a - 1);
        assert_true(ms >= 0 && ms <= (cap < 5000 ? cap : 5000));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_rows_once),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_split_down_to_single_rows),
        cmocka_unit_test(test_autoid_resume_needs_identity),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_metrics_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

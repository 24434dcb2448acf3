/*
 * coordinator.c - the coordinator: plan, create, publish, wait, reconcile.
 *
 * Restartable at any point: the job and its tasks live in the state store,
 * so starting the coordinator again for the same job id skips planning,
 * re-publishes the tasks that are not done (a duplicate message is
 * harmless: a worker's claim sees the task's real state) and goes on
 * waiting. While waiting it also re-publishes tasks whose lease expired (a
 * worker died and its message went nowhere) and tasks that failed with
 * attempts left; a task out of attempts fails the job.
 */
#include "coordinator.h"
#include "plan.h"
#include "report.h"
#include "vm_job.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct vm_coord {
    const vm_job_conf *job;
    const vm_coordinator_opts *opts;
    vm_job_conn conn;
    vm_source *src; /* the members of conn, by their short names */
    vm_sink *sink;
    vm_state *state;
    vm_queue *queue;
    vm_schema *target;
    json_t *record;
    /* failed runs per task id, counted here because a reset gives the task
     * a fresh attempt budget in the store (lost if the coordinator restarts,
     * which then grants max_attempts more) */
    int64_t *failures;
    size_t nfailures;
} vm_coord;

static int64_t vm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int vm_publish_task(vm_coord *c, const vm_task *t, vm_err *err)
{
    char key[300];
    vm_queue_task_key(c->job->job.id, t->id, key, sizeof key);
    char *payload = vm_task_encode(t);
    if (!payload)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_queue_publish(c->queue, key, payload, strlen(payload), err);
    free(payload);
    return rc;
}

/* A new job: plan, create the collection, record, publish. */
static int vm_coord_start(vm_coord *c, vm_err *err)
{
    vm_plan p;
    int rc = vm_plan_build(c->job, c->src, &p, err);
    if (rc != VM_OK)
        return rc;
    bool append = c->job->migration.on_existing == VM_ON_EXISTING_APPEND;
    vm_sink_prepare prep = {.append = append, .params = p.map.params};
    if ((rc = vm_sink_prepare_target(c->sink, p.target, &prep, err)) != VM_OK)
        goto cleanup;
    int64_t before = -1;
    if (append) {
        vm_err ignore;
        if (vm_sink_count(c->sink, p.target->collection, &before, &ignore) != VM_OK)
            before = -1; /* not loaded: no baseline */
    }
    json_t *summary = vm_mapping_summary(&p.map);
    vm_job_mapping jm = {.program = p.map.program, .index = p.map.index,
                         .resolved = p.map.resolved, .summary = summary};
    c->record = vm_job_record_new(c->job, p.source, p.target, &jm, p.source_rows, before);
    json_decref(summary);
    if (!c->record ||
        !(c->target = vm_schema_clone(p.target))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    /* the topic first: workers subscribe as soon as the job record exists */
    int parts = p.ntasks < 32 ? (int)(p.ntasks ? p.ntasks : 1) : 32;
    if ((rc = vm_queue_prepare(c->queue, parts, err)) != VM_OK ||
        (rc = vm_state_job_put(c->state, c->job->job.id, c->record, err)) != VM_OK ||
        (rc = vm_state_tasks_put(c->state, c->job->job.id, p.tasks, p.ntasks, err)) != VM_OK)
        goto cleanup;
    for (size_t i = 0; i < p.ntasks; i++)
        if ((rc = vm_publish_task(c, &p.tasks[i], err)) != VM_OK)
            goto cleanup;
    rc = vm_state_job_set_state(c->state, c->job->job.id, VM_JOB_RUNNING, err);
    vm_info("job %s: collection %s created, %zu tasks published, %" PRId64 " source rows",
            c->job->job.id, p.target->collection, p.ntasks, p.source_rows);
cleanup:
    vm_plan_release(&p);
    return rc;
}

/* An existing job: load what the workers share, publish what is left. */
static int vm_coord_continue(vm_coord *c, vm_job_info *info, vm_err *err)
{
    c->record = json_incref(info->record);
    int rc = vm_job_record_schema(c->record, &c->target, err);
    if (rc != VM_OK)
        return rc;
    vm_task_status *ts = NULL;
    size_t n = 0;
    if ((rc = vm_state_tasks_list(c->state, c->job->job.id, &ts, &n, err)) != VM_OK)
        return rc;
    size_t again = 0;
    for (size_t i = 0; i < n && rc == VM_OK; i++) {
        if (ts[i].state == VM_TASK_DONE)
            continue;
        again++;
        rc = vm_publish_task(c, &ts[i].task, err);
    }
    vm_task_status_free_array(ts, n);
    if (rc == VM_OK && info->state == VM_JOB_PLANNING)
        rc = vm_state_job_set_state(c->state, c->job->job.id, VM_JOB_RUNNING, err);
    vm_info("job %s: continuing (%s), %zu unfinished tasks published again", c->job->job.id,
            vm_job_state_name(info->state), again);
    return rc;
}

/* A task out of attempts: its task, range, attempts and last error to the
 * dead-letter topic (the job then ends failed; the report lists it). */
static int vm_coord_dead_letter(vm_coord *c, const vm_task_status *t, int64_t attempts,
                                vm_err *err)
{
    char range[256], key[300];
    vm_task_describe(&t->task, range, sizeof range);
    vm_queue_task_key(c->job->job.id, t->id, key, sizeof key);
    json_t *doc = json_pack("{s:s, s:i, s:o?, s:s, s:I, s:I, s:s?}", "job", c->job->job.id, "id",
                            (int)t->id, "task", vm_task_to_json(&t->task), "range", range,
                            "attempts", (json_int_t)attempts, "rows_written",
                            (json_int_t)t->rows_written, "error", t->error);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_queue_dead_letter(c->queue, key, text, strlen(text), err);
    free(text);
    if (rc == VM_OK)
        vm_error("task %u (%s) failed %" PRId64 " times, the last: %s; sent to the dead-letter "
                 "topic, the job will end failed",
                 t->id, range, attempts, t->error ? t->error : "?");
    return rc;
}

/* Re-publish expired leases and retryable failures; returns the number of
 * tasks that failed for good in *dead. */
static int vm_coord_repair(vm_coord *c, const vm_job_counters *k, int64_t *dead, vm_err *err)
{
    const char *id = c->job->job.id;
    uint32_t *ids = NULL;
    size_t n = 0;
    int rc = vm_state_tasks_expired(c->state, id, &ids, &n, err);
    for (size_t i = 0; rc == VM_OK && i < n; i++) {
        vm_task_status st;
        if (vm_state_task_reset(c->state, id, ids[i], err) != VM_OK ||
            vm_state_task_get(c->state, id, ids[i], &st, err) != VM_OK)
            continue; /* raced with the owner: look again next round */
        vm_warn("task %u: lease of %s expired, publishing it again", ids[i],
                st.owner ? st.owner : "?");
        rc = vm_publish_task(c, &st.task, err);
        vm_task_status_release(&st);
    }
    vm_free(ids);
    *dead = 0;
    if (rc != VM_OK || k->failed == 0)
        return rc;
    vm_task_status *ts = NULL;
    if ((rc = vm_state_tasks_list(c->state, id, &ts, &n, err)) != VM_OK)
        return rc;
    for (size_t i = 0; i < n && rc == VM_OK; i++) {
        if (ts[i].state != VM_TASK_FAILED)
            continue;
        if (ts[i].id >= c->nfailures) {
            size_t cap = c->nfailures;
            if (vm_grow((void **)&c->failures, &cap, ts[i].id + 1, sizeof *c->failures) != 0) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                break;
            }
            memset(c->failures + c->nfailures, 0, (cap - c->nfailures) * sizeof *c->failures);
            c->nfailures = cap;
        }
        if (c->failures[ts[i].id] >= c->job->migration.max_attempts) {
            (*dead)++; /* dead-lettered in an earlier round */
            continue;
        }
        int64_t failed = ++c->failures[ts[i].id];
        if (failed >= c->job->migration.max_attempts) {
            (*dead)++;
            if ((rc = vm_coord_dead_letter(c, &ts[i], failed, err)) != VM_OK)
                c->failures[ts[i].id]--; /* not sent: again next round */
            continue;
        }
        vm_warn("task %u failed (attempt %" PRId64 " of %" PRId64 "): %s; publishing it again",
                ts[i].id, failed, c->job->migration.max_attempts,
                ts[i].error ? ts[i].error : "?");
        if ((rc = vm_state_task_reset(c->state, id, ts[i].id, err)) == VM_OK)
            rc = vm_publish_task(c, &ts[i].task, err);
    }
    vm_task_status_free_array(ts, n);
    return rc;
}

/* Progress: a bar redrawn in place on a terminal, else a log line. */
static void vm_coord_progress(vm_coord *c, const vm_job_counters *k, int64_t total, double rate,
                              bool final)
{
    char eta[32] = "?";
    if (rate > 0 && total > k->rows_written)
        snprintf(eta, sizeof eta, "%.0fs", (double)(total - k->rows_written) / rate);
    else if (total <= k->rows_written)
        snprintf(eta, sizeof eta, "0s");
    if (c->opts->progress_bar) {
        double frac = total > 0 ? (double)k->rows_written / (double)total : 1.0;
        if (frac > 1)
            frac = 1;
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr,
                "\r[%s] %" PRId64 "/%" PRId64 " rows %3.0f%%  %.0f rows/s  ETA %s  tasks %" PRId64
                "/%" PRId64 "  errors %" PRId64 "   %s",
                bar, k->rows_written, total, frac * 100, rate, eta, k->done, k->tasks_total,
                k->failed, final ? "\n" : "");
        fflush(stderr);
        return;
    }
    vm_info("progress: %" PRId64 "/%" PRId64 " rows, %.0f rows/s, ETA %s; tasks %" PRId64
            " done, %" PRId64 " running, %" PRId64 " pending, %" PRId64 " failed",
            k->rows_written, total, rate, eta, k->done, k->running, k->pending, k->failed);
}

static int vm_coord_wait(vm_coord *c, vm_err *err)
{
    int64_t start = vm_now_ms(), last_print = 0, last_rows = -1, last_t = start;
    int64_t total = json_integer_value(json_object_get(c->record, "source_rows_start"));
    int64_t every = c->opts->progress_bar ? 200 : 2000;
    double rate = 0;
    vm_job_counters k = {0};
    for (;;) {
        if (c->opts->should_stop && c->opts->should_stop(c->opts->ctx)) {
            if (!c->opts->quiet)
                vm_coord_progress(c, &k, total, rate, true);
            return vm_err_setc(err, VM_ERR_CANCELLED, "interrupted");
        }
        int rc = vm_state_job_counters(c->state, c->job->job.id, &k, err);
        if (rc != VM_OK) {
            if (!err->retriable)
                return rc;
            vm_warn("state store: %s (retrying)", err->msg);
        } else {
            int64_t dead = 0;
            if ((rc = vm_coord_repair(c, &k, &dead, err)) != VM_OK && !err->retriable)
                return rc;
            int64_t now = vm_now_ms();
            if (last_rows < 0) {
                last_rows = k.rows_written;
            } else if (now - last_t >= 1000) {
                double inst = (double)(k.rows_written - last_rows) * 1000.0 / (double)(now - last_t);
                rate = rate == 0 ? inst : 0.7 * rate + 0.3 * inst;
                last_rows = k.rows_written;
                last_t = now;
            }
            bool over = k.done + dead >= k.tasks_total && k.running == 0;
            if (!c->opts->quiet && (now - last_print >= every || over)) {
                vm_coord_progress(c, &k, total, rate, over);
                last_print = now;
            }
            if (over)
                return dead ? vm_err_setc(err, VM_ERR_REMOTE,
                                          "%" PRId64 " task(s) failed after %" PRId64 " attempts",
                                          dead, c->job->migration.max_attempts)
                            : VM_OK;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void vm_coord_close(vm_coord *c)
{
    vm_job_disconnect(&c->conn);
    vm_schema_free(c->target);
    json_decref(c->record);
    vm_free(c->failures);
}

int vm_coordinator_run(const vm_job_conf *job, const vm_coordinator_opts *opts)
{
    vm_coord c = {.job = job, .opts = opts};
    vm_err e;
    int code = 2, rc;
    const char *id = job->job.id;
    if ((rc = vm_job_connect(job, "producer", opts->start_workers == NULL, &c.conn, &e)) != VM_OK)
        goto fail;
    c.src = c.conn.src;
    c.sink = c.conn.sink;
    c.state = c.conn.state;
    c.queue = c.conn.queue;
    code = 1;
    /* in-process workers start first: they wait for the job record, and the
     * embedded queue is bounded, so publishing needs them consuming */
    if (opts->start_workers && (rc = opts->start_workers(opts->ctx, &e)) != VM_OK)
        goto fail;
    vm_job_info info;
    rc = vm_state_job_get(c.state, id, &info, &e);
    if (rc == VM_ERR_NOT_FOUND) {
        code = 2; /* a plan refused (bad job or mapping) is a usage error */
        rc = vm_coord_start(&c, &e);
        if (rc == VM_OK || (rc != VM_ERR_INVALID && rc != VM_ERR_UNSUPPORTED))
            code = 1;
    } else if (rc == VM_OK) {
        rc = vm_coord_continue(&c, &info, &e);
        vm_job_info_release(&info);
    }
    if (rc != VM_OK)
        goto fail;
    int wrc = vm_coord_wait(&c, &e);
    if (opts->stop_workers)
        opts->stop_workers(opts->ctx);
    if (wrc == VM_ERR_CANCELLED) {
        vm_job_counters k;
        if (vm_state_job_counters(c.state, id, &k, &e) == VM_OK)
            fprintf(stderr,
                    "vecmig: interrupted after %" PRId64 " rows (%" PRId64 " of %" PRId64
                    " tasks done); every confirmed batch is checkpointed: run the same command "
                    "again to resume\n",
                    k.rows_written, k.done, k.tasks_total);
        vm_coord_close(&c);
        return VM_EXIT_INTERRUPTED;
    }
    if (wrc != VM_OK)
        vm_error("job %s: %s", id, e.msg);
    vm_state_job_set_state(c.state, id, VM_JOB_RECONCILING, &e);
    vm_report rep;
    rc = vm_report_build(job, c.src, c.sink, c.state, c.target, c.record, &rep, &e);
    if (rc != VM_OK)
        goto fail;
    if (wrc != VM_OK && rep.verdict == VM_VERDICT_OK)
        rep.verdict = VM_VERDICT_FAILED;
    char path[600];
    snprintf(path, sizeof path, "vecmig-report-%s.json", id);
    rc = vm_report_write(&rep, opts->report_path ? opts->report_path : path, &e);
    if (!opts->quiet)
        vm_report_print(&rep, stderr);
    if (opts->json) {
        json_dumpf(rep.doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    bool ok = rep.verdict == VM_VERDICT_OK;
    vm_state_job_set_state(c.state, id, ok ? VM_JOB_DONE : VM_JOB_FAILED, &e);
    vm_report_release(&rep);
    code = ok && rc == VM_OK ? 0 : 1;
    vm_coord_close(&c);
    return code;
fail:
    if (opts->stop_workers)
        opts->stop_workers(opts->ctx);
    fprintf(stderr, "vecmig %s: %s\n", opts->start_workers ? "migrate" : "coordinator", e.msg);
    if (c.state && code == 1)
        vm_state_job_set_state(c.state, id, VM_JOB_FAILED, &e);
    vm_coord_close(&c);
    return code == 2 && (rc == VM_ERR_INVALID || rc == VM_ERR_UNSUPPORTED) ? 2 : 1;
}

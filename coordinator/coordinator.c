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
 *
 * Planning is made restartable by its order: check that the collection
 * does not exist, record job and tasks, create the collection, record that
 * it exists, publish. A run that finds the job recorded finishes whatever
 * step is missing (coordinator.h). A cancel request (vm_state_job_cancel)
 * turns the wait into: publish nothing, put stopped tasks back to pending,
 * and once none runs, count and report the job as cancelled.
 */
#include "coordinator.h"
#include "api.h"
#include "leader.h"
#include "plan.h"
#include "report.h"
#include "vm_health.h"
#include "vm_job.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"
#include "vm_testhook.h"

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
    bool cancelled; /* the wait ended on a cancel request */
    json_t *errors; /* failure messages seen while waiting (report samples) */
    vm_job_metrics jm; /* all NULL without metrics */
    vm_leader_lock *lock; /* the job's leader lock (leader.h); NULL: none */
    bool leader;          /* the lock was taken (or the store keeps none) */
} vm_coord;

static int64_t vm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Enqueue a task's message; vm_coord_publish flushes them all at once (one
 * round trip per request of many messages, not one per task). */
static int vm_publish_task(vm_coord *c, const vm_task *t, vm_err *err)
{
    char key[300];
    vm_queue_task_key(c->job->job.id, t->id, key, sizeof key);
    char *payload = vm_task_encode(t);
    if (!payload)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_queue_publish_nowait(c->queue, key, payload, strlen(payload), err);
    free(payload);
    return rc;
}

/* How long the tasks' delivery may take in all before the publication is
 * retried (it is idempotent: consumers resolve duplicates by the claim). */
#define VM_COORD_FLUSH_MS 120000

/* Partitions of the task topic: queue.partitions, else one per task up to
 * 32 (a partition feeds one consumer). */
static int vm_coord_partitions(const vm_coord *c, int64_t ntasks)
{
    if (c->job->queue.partitions > 0)
        return (int)c->job->queue.partitions;
    return ntasks < 32 ? (int)(ntasks ? ntasks : 1) : 32;
}

static bool vm_record_target_ready(const json_t *record)
{
    return json_is_true(json_object_get(record, "target_ready"));
}

/* Create the collection, unless the record says it is there. `first`: the
 * plan of this very run, whose check found no collection of that name, so
 * one found now is not ours and is refused. Otherwise a collection found is
 * the one an earlier coordinator of this job created before it could record
 * that (killed in between): accepted after the append check of its schema. */
static int vm_coord_target(vm_coord *c, bool first, vm_err *err)
{
    if (vm_record_target_ready(c->record))
        return VM_OK;
    bool append = c->job->migration.on_existing == VM_ON_EXISTING_APPEND;
    vm_sink_prepare prep = {.append = append || !first,
                            .params = json_object_get(c->record, "params")};
    int rc = vm_sink_prepare_target(c->sink, c->target, &prep, err);
    if (rc != VM_OK)
        return rc;
    vm_test_pause_at("created");
    if (json_object_set_new(c->record, "target_ready", json_true()) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return vm_state_job_put(c->state, c->job->job.id, c->record, err);
}

/* A new job: plan, check that the collection does not exist, record the
 * job and its tasks, then create the collection. */
static int vm_coord_plan(vm_coord *c, vm_err *err)
{
    const char *id = c->job->job.id;
    vm_plan p;
    int rc = vm_plan_build(c->job, c->src, &p, err);
    if (rc != VM_OK)
        return rc;
    bool append = c->job->migration.on_existing == VM_ON_EXISTING_APPEND;
    if (!append) {
        /* before anything is recorded: a collection found after this check
         * can only be this job's own (see vm_coord_target) */
        bool exists = false;
        rc = vm_sink_exists(c->sink, p.target->collection, &exists, err);
        if (rc == VM_ERR_UNSUPPORTED)
            rc = VM_OK; /* the creation refuses an existing one */
        else if (rc == VM_OK && exists)
            rc = vm_err_setc(err, VM_ERR_EXISTS,
                             "target collection '%s' already exists; choose another name "
                             "(mapping: collection.name) or set migration.on_existing: append "
                             "to add rows to it",
                             p.target->collection);
        if (rc != VM_OK)
            goto cleanup;
    }
    int64_t before = -1;
    if (append) {
        vm_err ignore;
        if (vm_sink_count(c->sink, p.target->collection, &before, &ignore) != VM_OK)
            before = -1; /* absent or not loaded: no baseline */
    }
    json_t *summary = vm_mapping_summary(&p.map);
    vm_job_mapping jm = {.program = p.map.program, .index = p.map.index,
                         .resolved = p.map.resolved, .summary = summary};
    c->record = vm_job_record_new(c->job, p.source, p.target, &jm, p.source_rows, before);
    json_decref(summary);
    /* what a later run needs to finish the planning: the collection's
     * params, and how many tasks must be recorded */
    if (!c->record || !(c->target = vm_schema_clone(p.target)) ||
        json_object_set(c->record, "params", p.map.params ? p.map.params : json_null()) != 0 ||
        json_object_set_new(c->record, "tasks_planned", json_integer((json_int_t)p.ntasks)) ||
        json_object_set_new(c->record, "target_ready", json_false()) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    vm_info("job %s: planned %zu tasks, %" PRId64 " source rows, target collection %s", id,
            p.ntasks, p.source_rows, p.target->collection);
    /* the topic first: workers subscribe as soon as the job record exists */
    int parts = vm_coord_partitions(c, (int64_t)p.ntasks);
    if ((rc = vm_queue_prepare(c->queue, parts, err)) != VM_OK ||
        (rc = vm_state_job_put(c->state, id, c->record, err)) != VM_OK ||
        (rc = vm_state_tasks_put(c->state, id, p.tasks, p.ntasks, err)) != VM_OK)
        goto cleanup;
    vm_test_pause_at("planned");
    if ((rc = vm_coord_target(c, true, err)) != VM_OK && !err->retriable) {
        /* refused, nothing written: forget the job, so that running the
         * command again plans anew (a fixed mapping, another name). A
         * retriable failure keeps it: the creation may have happened. */
        vm_err e2;
        if (vm_state_job_delete(c->state, id, &e2) != VM_OK)
            vm_warn("job %s: forgetting the job after the failed creation: %s", id, e2.msg);
    }
cleanup:
    vm_plan_release(&p);
    return rc;
}

/* An existing job: load what the workers share and finish its planning.
 * *replan: the tasks were not all recorded (the coordinator was stopped
 * while recording them; nothing was created or published): plan anew. */
static int vm_coord_continue(vm_coord *c, vm_job_info *info, bool *replan, vm_err *err)
{
    const char *id = c->job->job.id;
    *replan = false;
    c->record = json_deep_copy(info->record);
    if (!c->record)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    json_t *planned = json_object_get(c->record, "tasks_planned");
    if (json_is_integer(planned) && !vm_record_target_ready(c->record)) {
        vm_job_counters k;
        int rc = vm_state_job_counters(c->state, id, &k, err);
        if (rc != VM_OK)
            return rc;
        if (k.tasks_total != json_integer_value(planned)) {
            vm_info("job %s: %" PRId64 " of %" PRId64 " tasks were recorded before the "
                    "coordinator stopped: planning anew",
                    id, k.tasks_total, (int64_t)json_integer_value(planned));
            *replan = true;
            return vm_state_job_delete(c->state, id, err);
        }
    }
    int rc = vm_job_record_schema(c->record, &c->target, err);
    if (rc == VM_OK && !vm_record_target_ready(c->record)) {
        vm_info("job %s: the coordinator stopped while creating collection %s: creating it "
                "or taking the one it created",
                id, c->target->collection);
        rc = vm_coord_target(c, false, err);
    }
    return rc;
}

/* vecmig resume: clear a cancel request, make the job running again and
 * give failed tasks a fresh attempt budget. */
static int vm_coord_resume(vm_coord *c, vm_job_state *state, vm_err *err)
{
    const char *id = c->job->job.id;
    vm_job_state prev;
    int rc = vm_state_job_resume(c->state, id, &prev, err);
    if (rc != VM_OK)
        return rc;
    *state = prev == VM_JOB_DONE || prev == VM_JOB_FAILED || prev == VM_JOB_CANCELLED
                 ? VM_JOB_RUNNING
                 : prev;
    vm_task_status *ts = NULL;
    size_t n = 0, reset = 0;
    if ((rc = vm_state_tasks_list(c->state, id, &ts, &n, err)) != VM_OK)
        return rc;
    for (size_t i = 0; i < n && rc == VM_OK; i++)
        if (ts[i].state == VM_TASK_FAILED &&
            (rc = vm_state_task_reset(c->state, id, ts[i].id, err)) == VM_OK)
            reset++;
    vm_task_status_free_array(ts, n);
    if (rc == VM_OK)
        vm_info("job %s: resuming (was %s)%s%zu failed task(s) reset", id,
                vm_job_state_name(prev), reset ? ", " : "; ", reset);
    return rc;
}

/* Publish every task that is not done; the first publication of a job
 * (fresh) says so as such. Nothing while a cancel is requested. */
static int vm_coord_publish(vm_coord *c, vm_job_state state, bool fresh, vm_err *err)
{
    const char *id = c->job->job.id;
    vm_job_counters k;
    int rc = vm_state_job_counters(c->state, id, &k, err);
    if (rc != VM_OK)
        return rc;
    if (k.cancel_ms > 0) {
        vm_info("job %s: cancel requested: publishing nothing", id);
        return VM_OK;
    }
    int parts = vm_coord_partitions(c, k.tasks_total);
    if (!fresh && (rc = vm_queue_prepare(c->queue, parts, err)) != VM_OK)
        return rc;
    vm_task_status *ts = NULL;
    size_t n = 0, again = 0;
    if ((rc = vm_state_tasks_list(c->state, id, &ts, &n, err)) != VM_OK)
        return rc;
    for (size_t i = 0; i < n && rc == VM_OK; i++) {
        if (ts[i].state == VM_TASK_DONE)
            continue;
        again++;
        rc = vm_publish_task(c, &ts[i].task, err);
    }
    vm_task_status_free_array(ts, n);
    if (rc == VM_OK)
        rc = vm_queue_flush(c->queue, VM_COORD_FLUSH_MS, err);
    if (rc != VM_OK)
        return rc;
    vm_test_pause_at("published");
    /* planning, or a failed or done job started again: running (workers
     * waiting with --exit-when-idle take an ended job as over) */
    if (state != VM_JOB_RUNNING && state != VM_JOB_RECONCILING &&
        (rc = vm_state_job_set_state(c->state, id, VM_JOB_RUNNING, err)) != VM_OK)
        return rc;
    if (fresh)
        vm_info("job %s: collection %s created, %zu tasks published, %" PRId64 " source rows", id,
                c->target->collection, again,
                (int64_t)json_integer_value(json_object_get(c->record, "source_rows_start")));
    else
        vm_info("job %s: continuing (%s), %zu unfinished tasks published again", id,
                vm_job_state_name(state), again);
    return VM_OK;
}

/* While a cancel is requested: tasks whose lease ended (their worker
 * stopped at a batch boundary and let it expire, or died) go back to
 * pending, and are not published. */
static int vm_coord_release_expired(vm_coord *c, vm_err *err)
{
    uint32_t *ids = NULL;
    size_t n = 0;
    int rc = vm_state_tasks_expired(c->state, c->job->job.id, &ids, &n, err);
    for (size_t i = 0; rc == VM_OK && i < n; i++) {
        vm_err e2;
        if (vm_state_task_reset(c->state, c->job->job.id, ids[i], &e2) != VM_OK)
            vm_debug("task %u: %s", ids[i], e2.msg); /* raced with its owner: next round */
    }
    vm_free(ids);
    return rc;
}

/* A task out of attempts: its task, range, attempts and last error on the
 * dead-letter topic, and a line that says so. */
static int vm_coord_dead_letter(vm_coord *c, const vm_task_status *t, int64_t failed,
                                vm_err *err)
{
    char range[256], key[300];
    vm_task_describe(&t->task, range, sizeof range);
    vm_queue_task_key(c->job->job.id, t->id, key, sizeof key);
    json_t *msg = json_pack("{s:s, s:i, s:o?, s:s, s:I, s:I, s:s?}", "job", c->job->job.id, "id",
                            (int)t->id, "task", vm_task_to_json(&t->task), "range", range,
                            "attempts", (json_int_t)failed, "rows_written",
                            (json_int_t)t->rows_written, "error", t->error);
    char *payload = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!payload)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_queue_dead_letter(c->queue, key, payload, strlen(payload), err);
    free(payload);
    if (rc == VM_OK)
        vm_error("task %u (%s) failed %" PRId64 " time%s, the last: %s; sent to the "
                 "dead-letter topic, the job will end failed",
                 t->id, range, failed, failed == 1 ? "" : "s", t->error ? t->error : "?");
    return rc;
}

/* Re-publish expired leases and retryable failures; returns the number of
 * tasks that failed for good in *dead. */
static int vm_coord_repair(vm_coord *c, const vm_job_counters *k, int64_t *dead, vm_err *err)
{
    const char *id = c->job->job.id;
    uint32_t *ids = NULL;
    size_t n = 0, published = 0;
    int rc = vm_state_tasks_expired(c->state, id, &ids, &n, err);
    for (size_t i = 0; rc == VM_OK && i < n; i++) {
        vm_task_status st;
        if (vm_state_task_reset(c->state, id, ids[i], err) != VM_OK ||
            vm_state_task_get(c->state, id, ids[i], &st, err) != VM_OK)
            continue; /* raced with the owner: look again next round */
        vm_warn("task %u: lease of %s expired, publishing it again", ids[i],
                st.owner ? st.owner : "?");
        rc = vm_publish_task(c, &st.task, err);
        published += rc == VM_OK;
        vm_task_status_release(&st);
    }
    vm_free(ids);
    *dead = 0;
    if (rc == VM_OK && published > 0)
        rc = vm_queue_flush(c->queue, VM_COORD_FLUSH_MS, err);
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
        if (ts[i].error && json_array_size(c->errors) < 100)
            json_array_append_new(c->errors, json_string(ts[i].error));
        if ((rc = vm_state_task_reset(c->state, id, ts[i].id, err)) == VM_OK &&
            (rc = vm_publish_task(c, &ts[i].task, err)) == VM_OK)
            published++;
    }
    vm_task_status_free_array(ts, n);
    if (rc == VM_OK && published > 0)
        rc = vm_queue_flush(c->queue, VM_COORD_FLUSH_MS, err);
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

/* How long a cancel waits for running tasks to stop: a live worker stops
 * after its batch in flight, a dead or stuck one loses its lease. */
static int64_t vm_coord_cancel_bound_ms(const vm_job_conf *job)
{
    int64_t b = 2 * job->migration.lease_ms;
    return b > 30000 ? b : 30000;
}

static int vm_coord_wait(vm_coord *c, vm_err *err)
{
    const char *id = c->job->job.id;
    int64_t start = vm_now_ms(), last_print = 0, last_rows = -1, last_t = start;
    int64_t total = json_integer_value(json_object_get(c->record, "source_rows_start"));
    int64_t every = c->opts->progress_bar ? 200 : 2000;
    int64_t cancel_seen = 0;
    bool hooked = false;
    double rate = 0;
    vm_job_counters k = {0};
    /* liveness: this loop turns every 100 ms; a probe fails only when it
     * stopped turning for much longer than a lease */
    vm_health_watch(vm_health_stall_ms(c->job->migration.lease_ms));
    for (;;) {
        vm_health_tick();
        if (c->opts->should_stop && c->opts->should_stop(c->opts->ctx)) {
            if (!c->opts->quiet)
                vm_coord_progress(c, &k, total, rate, true);
            return vm_err_setc(err, VM_ERR_CANCELLED, "interrupted");
        }
        int rc = vm_state_job_counters(c->state, id, &k, err);
        if (rc != VM_OK) {
            if (!err->retriable)
                return rc;
            vm_warn("state store: %s (retrying)", err->msg);
        } else {
            vm_job_metrics_update(&c->jm, total, k.rows_written, k.pending, k.running, k.done,
                                  k.failed);
            int64_t now = vm_now_ms();
            bool all_done = k.done >= k.tasks_total && k.running == 0;
            if (k.cancel_ms > 0 && !all_done) {
                /* cancelled: nothing is published again; tasks stop at their
                 * batch boundary and go back to pending */
                if (!cancel_seen) {
                    cancel_seen = now;
                    vm_info("job %s: cancel requested: waiting for %" PRId64
                            " running task(s) to stop after their batch in flight",
                            id, k.running);
                }
                if ((rc = vm_coord_release_expired(c, err)) != VM_OK && !err->retriable)
                    return rc;
                bool late = now - cancel_seen > vm_coord_cancel_bound_ms(c->job);
                if (k.running == 0 || late) {
                    if (late)
                        vm_warn("job %s: %" PRId64 " task(s) still running %" PRId64
                                " s after the cancel request: ending the job as cancelled; "
                                "what they write later is not in the report",
                                id, k.running, (now - cancel_seen) / 1000);
                    if (!c->opts->quiet)
                        vm_coord_progress(c, &k, total, rate, true);
                    c->cancelled = true;
                    return vm_err_setc(err, VM_ERR_CANCELLED, "cancelled");
                }
            } else {
                if (cancel_seen) {
                    /* withdrawn (vecmig resume): what was not started is
                     * published again */
                    cancel_seen = 0;
                    vm_info("job %s: the cancel request was withdrawn", id);
                    if ((rc = vm_coord_publish(c, VM_JOB_RUNNING, false, err)) != VM_OK &&
                        !err->retriable)
                        return rc;
                }
                int64_t dead = 0;
                if ((rc = vm_coord_repair(c, &k, &dead, err)) != VM_OK && !err->retriable)
                    return rc;
                bool over = k.done + dead >= k.tasks_total && k.running == 0;
                if (over) {
                    if (!c->opts->quiet)
                        vm_coord_progress(c, &k, total, rate, true);
                    return dead ? vm_err_setc(err, VM_ERR_REMOTE,
                                              "%" PRId64 " task(s) failed after %" PRId64
                                              " attempts",
                                              dead, c->job->migration.max_attempts)
                                : VM_OK;
                }
            }
            if (last_rows < 0) {
                last_rows = k.rows_written;
            } else if (now - last_t >= 1000) {
                double inst = (double)(k.rows_written - last_rows) * 1000.0 / (double)(now - last_t);
                rate = rate == 0 ? inst : 0.7 * rate + 0.3 * inst;
                last_rows = k.rows_written;
                last_t = now;
            }
            if (!c->opts->quiet && now - last_print >= every) {
                vm_coord_progress(c, &k, total, rate, false);
                last_print = now;
            }
            if (!hooked && k.rows_written > 0) {
                hooked = true;
                vm_test_pause_at("running");
            }
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void vm_coord_close(vm_coord *c)
{
    /* the last write is behind us: the job is free for another coordinator */
    vm_health_watch(0);
    vm_health_ready(false, "the coordinator's run is over");
    vm_leader_lock_drop(c->lock);
    c->lock = NULL;
    vm_job_disconnect(&c->conn);
    vm_schema_free(c->target);
    json_decref(c->record);
    vm_free(c->failures);
    json_decref(c->errors);
}

/* Keep the report beside the job (vecmig report JOB) and write the
 * renderings asked for next to the report file; failures are warned, the
 * JSON file stays the reference. */
static void vm_coord_report_extras(vm_coord *c, const vm_report *rep, const char *path)
{
    vm_err e;
    if (vm_state_job_report_put(c->state, c->job->job.id, rep->doc, &e) != VM_OK)
        vm_warn("job %s: keeping the report in the state store failed: %s", c->job->job.id,
                e.msg);
    const bool want[] = {false, c->opts->report_md, c->opts->report_html};
    for (int f = VM_REPORT_MD; f <= VM_REPORT_HTML; f++) {
        char out[700];
        if (!want[f])
            continue;
        vm_report_sibling(path, (vm_report_format)f, out, sizeof out);
        if (vm_report_render_file(rep->doc, (vm_report_format)f, out, &e) != VM_OK)
            vm_warn("report: %s", e.msg);
        else
            vm_info("report written to %s", out);
    }
}

/* Reconcile and write the report; returns the exit code. */
static int vm_coord_report(vm_coord *c, int wrc, vm_err *e)
{
    const char *id = c->job->job.id;
    const vm_coordinator_opts *opts = c->opts;
    vm_report_opts ro = {
        .cancelled = c->cancelled,
        .target_created =
            vm_record_target_ready(c->record) &&
            c->job->migration.on_existing != VM_ON_EXISTING_APPEND,
    };
    /* error samples: what the wait saw, then why it ended */
    char run_error[VM_ERR_MSG_MAX] = "";
    if (wrc != VM_OK && !c->cancelled)
        snprintf(run_error, sizeof run_error, "%s", e->msg);
    size_t nerr = json_array_size(c->errors);
    const char **errs = vm_calloc(nerr + 1, sizeof *errs);
    for (size_t i = 0; errs && i < nerr; i++)
        errs[i] = json_string_value(json_array_get(c->errors, i));
    if (errs && run_error[0])
        errs[nerr++] = run_error;
    ro.errors = errs;
    ro.nerrors = errs ? nerr : 0;
    if (!c->cancelled)
        vm_state_job_set_state(c->state, id, VM_JOB_RECONCILING, e);
    vm_report rep;
    int rc = vm_report_build(c->job, c->src, c->sink, c->state, c->target, c->record, &ro, &rep,
                             e);
    vm_free(errs);
    if (rc != VM_OK) {
        fprintf(stderr, "vecmig %s: %s\n", opts->start_workers ? "migrate" : "coordinator", e->msg);
        vm_state_job_set_state(c->state, id, c->cancelled ? VM_JOB_CANCELLED : VM_JOB_FAILED, e);
        return c->cancelled ? VM_EXIT_CANCELLED : 1;
    }
    if (wrc != VM_OK && !c->cancelled && rep.verdict == VM_VERDICT_OK) {
        char why[VM_ERR_MSG_MAX + 40];
        snprintf(why, sizeof why, "the run did not complete: %s", run_error);
        vm_report_set_verdict(&rep, VM_VERDICT_FAILED, why);
    }
    char path[600];
    snprintf(path, sizeof path, "vecmig-report-%s.json", id);
    rc = vm_report_write(&rep, opts->report_path ? opts->report_path : path, e);
    vm_coord_report_extras(c, &rep, opts->report_path ? opts->report_path : path);
    if (!opts->quiet)
        vm_report_print(&rep, stderr);
    if (opts->json) {
        json_dumpf(rep.doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    bool ok = rep.verdict == VM_VERDICT_OK;
    vm_job_state final = c->cancelled ? VM_JOB_CANCELLED : ok ? VM_JOB_DONE : VM_JOB_FAILED;
    vm_state_job_set_state(c->state, id, final, e);
    if (c->cancelled) {
        json_t *k = json_object_get(rep.doc, "counts");
        json_t *t = json_object_get(rep.doc, "tasks_summary");
        fprintf(stderr,
                "vecmig: job %s cancelled after %" PRId64 " rows written (%" PRId64 " of %" PRId64
                " tasks done); `vecmig resume` continues it from its checkpoints\n",
                id, (int64_t)json_integer_value(json_object_get(k, "rows_written")),
                (int64_t)json_integer_value(json_object_get(t, "done")),
                (int64_t)(json_integer_value(json_object_get(t, "done")) +
                          json_integer_value(json_object_get(t, "not_done"))));
    }
    vm_report_release(&rep);
    if (c->cancelled)
        return VM_EXIT_CANCELLED;
    return ok && rc == VM_OK ? 0 : 1;
}

static int vm_coordinator_run_impl(const vm_job_conf *job, const vm_coordinator_opts *opts)
{
    vm_coord c = {.job = job, .opts = opts, .errors = json_array()};
    vm_err e;
    int code = 2, rc;
    const char *id = job->job.id;
    /* every line names the job (worker threads add their own ids) */
    vm_log_ctx_set(id, NULL);
    vm_log_ctx_default(id, NULL);
    const char *cmd = opts->resume ? "resume" : opts->start_workers ? "migrate" : "coordinator";
    if ((rc = vm_job_connect(job, "producer", opts->start_workers == NULL, &c.conn, &e)) != VM_OK)
        goto fail;
    if (vm_job_metrics_init(opts->metrics, id, &c.jm, &e) != VM_OK)
        vm_warn("job %s: %s; running without its job metrics", id, e.msg);
    c.src = c.conn.src;
    c.sink = c.conn.sink;
    c.state = c.conn.state;
    c.queue = c.conn.queue;
    code = 1;
    /* one coordinator per job: wait here while another one holds it */
    vm_health_ready(false, "waiting for the job's leader lock");
    if ((rc = vm_leader_lock_take(job, c.state, opts->should_stop, opts->ctx, &c.lock, &e)) !=
        VM_OK) {
        if (rc == VM_ERR_CANCELLED) {
            vm_coord_close(&c);
            return VM_EXIT_INTERRUPTED;
        }
        goto fail;
    }
    c.leader = true;
    vm_health_ready(true, NULL);
    vm_job_info info;
    rc = vm_state_job_get(c.state, id, &info, &e);
    /* a store that is restarting (Redis "LOADING" its AOF) answers soon */
    unsigned seed = (unsigned)time(NULL);
    for (int a = 1; rc != VM_OK && rc != VM_ERR_NOT_FOUND && e.retriable && a <= 10; a++) {
        long ms = vm_backoff_ms(a, 250, 5000, &seed);
        vm_warn("job %s: reading its state: %s (retry %d of 10 in %ld ms)", id, e.msg, a, ms);
        vm_sleep_ms(ms);
        rc = vm_state_job_get(c.state, id, &info, &e);
    }
    if (rc == VM_OK && info.state == VM_JOB_CANCELLED && !opts->resume) {
        vm_job_info_release(&info);
        fprintf(stderr, "vecmig %s: job %s was cancelled; `vecmig resume` continues it from its "
                        "checkpoints\n", cmd, id);
        vm_coord_close(&c);
        return VM_EXIT_CANCELLED;
    }
    if (rc == VM_ERR_NOT_FOUND)
        vm_info("job %s: new job", id);
    else if (rc == VM_OK)
        vm_info("job %s: found in the state store (%s%s)", id, vm_job_state_name(info.state),
                info.cancel_ms > 0 ? ", cancel requested" : "");
    /* in-process workers start first: they wait for the job record, and the
     * embedded queue is bounded, so publishing needs them consuming */
    int src = rc;
    if (opts->start_workers && (rc = opts->start_workers(opts->ctx, &e)) != VM_OK) {
        if (src == VM_OK)
            vm_job_info_release(&info);
        goto fail;
    }
    rc = src;
    vm_job_state state = VM_JOB_PLANNING;
    bool fresh = false;
    for (int attempt = 1;; attempt++) {
        state = VM_JOB_PLANNING;
        fresh = false;
        if (rc == VM_OK) {
            state = info.state;
            bool replan = false;
            if (opts->resume)
                rc = vm_coord_resume(&c, &state, &e);
            if (rc == VM_OK)
                rc = vm_coord_continue(&c, &info, &replan, &e);
            vm_job_info_release(&info);
            if (rc == VM_OK && replan) {
                json_decref(c.record);
                c.record = NULL;
                rc = VM_ERR_NOT_FOUND;
            }
        }
        if (rc == VM_ERR_NOT_FOUND) {
            if (opts->resume)
                vm_info("job %s has no state yet (its coordinator stopped before recording "
                        "it): planning it", id);
            code = 2; /* a plan refused (bad job or mapping) is a usage error */
            rc = vm_coord_plan(&c, &e);
            if (rc == VM_OK || (rc != VM_ERR_INVALID && rc != VM_ERR_UNSUPPORTED))
                code = 1;
            state = VM_JOB_PLANNING;
            fresh = true;
        }
        if (rc == VM_OK)
            rc = vm_coord_publish(&c, state, fresh, &e);
        if (rc == VM_OK || !e.retriable || attempt > 10)
            break;
        /* the store or the queue went away for a moment (a restart, a reset
         * connection): start over from what the store recorded, as a
         * restarted coordinator would; every step of planning is recorded
         * and idempotent */
        long ms = vm_backoff_ms(attempt, 500, 10000, &seed);
        vm_warn("job %s: %s; starting over from the state store (retry %d of 10 in %ld ms)", id,
                e.msg, attempt, ms);
        vm_sleep_ms(ms);
        json_decref(c.record);
        c.record = NULL;
        vm_schema_free(c.target);
        c.target = NULL;
        code = 1;
        rc = vm_state_job_get(c.state, id, &info, &e);
        for (int a = 1; rc != VM_OK && rc != VM_ERR_NOT_FOUND && e.retriable && a <= 10; a++) {
            vm_sleep_ms(vm_backoff_ms(a, 250, 5000, &seed));
            rc = vm_state_job_get(c.state, id, &info, &e);
        }
        if (rc != VM_OK && rc != VM_ERR_NOT_FOUND)
            break;
    }
    if (rc != VM_OK)
        goto fail;
    int wrc = vm_coord_wait(&c, &e);
    vm_health_watch(0); /* reconciling: counts have their own timeouts */
    if (opts->stop_workers)
        opts->stop_workers(opts->ctx);
    if (wrc == VM_ERR_CANCELLED && !c.cancelled) {
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
    if (wrc != VM_OK && !c.cancelled)
        vm_error("job %s: %s", id, e.msg);
    code = vm_coord_report(&c, c.cancelled ? VM_OK : wrc, &e);
    vm_coord_close(&c);
    return code;
fail:
    if (opts->stop_workers)
        opts->stop_workers(opts->ctx);
    fprintf(stderr, "vecmig %s: %s\n", cmd, e.msg);
    if (c.state && code == 1 && c.leader) {
        vm_err e2;
        vm_state_job_set_state(c.state, id, VM_JOB_FAILED, &e2);
    }
    vm_coord_close(&c);
    return code == 2 && (rc == VM_ERR_INVALID || rc == VM_ERR_UNSUPPORTED) ? 2 : 1;
}

int vm_coordinator_run(const vm_job_conf *job, const vm_coordinator_opts *opts)
{
    /* the API continues a job resumed through it only while this runs */
    vm_api_set_active(opts->api, true);
    int code = vm_coordinator_run_impl(job, opts);
    vm_api_set_active(opts->api, false);
    return code;
}

/*
 * worker.c - the worker: a stateless member of the job's consumer group.
 *
 * For each task message: hold the queue (no new messages while the task
 * runs, membership kept alive by keepalive() between batches, so a long
 * task is not handed to another worker), claim the task in the state store
 * (lease + fencing token), run it from its checkpoint, finish it, and only
 * then acknowledge the message. A task another live worker holds is waited
 * for (its lease may expire, then it is ours); a task already done is just
 * acknowledged. A worker killed mid-task leaves its message unacknowledged
 * and its lease to expire: another worker, or the coordinator's
 * re-publication, resumes the task from its last checkpoint.
 *
 * The stop flag is the one process-wide variable: signal handlers can only
 * set a sig_atomic_t.
 */
#include "worker.h"
#include "runner.h"
#include "vm_health.h"
#include "vm_job.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"
#include "vm_testhook.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t vm_worker_stop;

/* Not ready any more (/readyz): Kubernetes stops sending traffic and the
 * process finishes its batch in flight. vm_health_ready is signal-safe. */
static void vm_worker_on_signal(int sig)
{
    (void)sig;
    vm_worker_stop = 1;
    vm_health_ready(false, "stopping: finishing the batch in flight");
}

void vm_worker_request_stop(void)
{
    vm_worker_stop = 1;
    vm_health_ready(false, "stopping: finishing the batch in flight");
}

bool vm_worker_stopping(void) { return vm_worker_stop != 0; }

void vm_worker_install_signals(void)
{
    struct sigaction sa = {.sa_handler = vm_worker_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int64_t vm_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct vm_wk {
    const vm_job_conf *job;
    const char *id;
    vm_job_conn conn;
    vm_state *state; /* the members of conn, by their short names */
    vm_queue *queue;
    vm_source *src;
    vm_sink *sink;
    vm_schema *target, *source, *read;
    vm_transform *xf;
    bool quiet_tasks;
    /* the task in hand */
    uint32_t task_id;
    uint64_t token;
    int64_t last_beat;
    int64_t last_reg; /* the last worker-registry beat (vm_state_worker_beat) */
    int64_t rows;     /* rows written by the task in hand, for that registry */
    bool cancelled; /* the job's cancel request stopped it */
    bool health;    /* a worker process: it drives /healthz and /readyz */
    long batch_delay_ms; /* test hook (vm_testhook.h) */
    vm_worker_metrics wm; /* all NULL without metrics */
} vm_wk;

/* Tell the job's worker registry (for `vecmig status`) that we are alive,
 * on task_id (-1: none). Informational: a failure is only logged. */
static void vm_wk_register(vm_wk *w, int64_t task_id)
{
    vm_err e;
    w->last_reg = vm_mono_ms();
    if (vm_state_worker_beat(w->state, w->job->job.id, w->id, task_id, w->rows, &e) != VM_OK)
        vm_debug("worker registry: %s", e.msg);
}

static int vm_wk_checkpoint(void *ctx, const char *cursor, int64_t d_read, int64_t d_written,
                            vm_err *err)
{
    vm_wk *w = ctx;
    int rc = vm_state_task_checkpoint(w->state, w->job->job.id, w->task_id, w->token, cursor,
                                      d_read, d_written, w->job->migration.lease_ms, err);
    if (rc == VM_OK) {
        w->last_beat = vm_mono_ms();
        w->rows += d_written;
        vm_debug("task %u: checkpoint %s (+%" PRId64 " rows)", w->task_id, cursor ? cursor : "",
                 d_written);
        if (w->batch_delay_ms > 0)
            vm_sleep_ms(w->batch_delay_ms);
    }
    return rc;
}

static int vm_wk_tick(void *ctx, vm_err *err)
{
    vm_wk *w = ctx;
    if (w->health)
        vm_health_tick();
    if (vm_worker_stop)
        return vm_err_setc(err, VM_ERR_CANCELLED, "worker stopping");
    /* a batch boundary: stop here when the job is cancelled (a failed read
     * is looked at again at the next boundary) */
    bool cancel = false;
    vm_err e2;
    if (vm_state_job_cancel_requested(w->state, w->job->job.id, &cancel, &e2) == VM_OK && cancel) {
        w->cancelled = true;
        return vm_err_setc(err, VM_ERR_CANCELLED, "job %s cancelled", w->job->job.id);
    }
    int rc = vm_queue_keepalive(w->queue, err);
    if (rc != VM_OK && !err->retriable)
        return rc;
    if (vm_mono_ms() - w->last_reg >= w->job->migration.heartbeat_ms)
        vm_wk_register(w, w->task_id);
    if (vm_mono_ms() - w->last_beat >= w->job->migration.heartbeat_ms) {
        rc = vm_state_task_heartbeat(w->state, w->job->job.id, w->task_id, w->token,
                                     w->job->migration.lease_ms, NULL, err);
        if (rc == VM_ERR_FENCED)
            return rc;
        if (rc == VM_OK)
            w->last_beat = vm_mono_ms();
        else
            vm_warn("task %u: heartbeat failed: %s", w->task_id, err->msg);
    }
    return VM_OK;
}

/* Record what this attempt measured (retries, splits, lossy values, run
 * time) while the task is still ours, i.e. before finish. Not repeated on
 * an error: the stats are for the report, a lost delta only undercounts. */
static void vm_wk_stats(vm_wk *w, uint32_t task_id, const vm_run_result *res,
                        const vm_transform_stats *x0, int64_t t0)
{
    vm_transform_stats x1 = {0};
    if (w->xf)
        vm_transform_stats_get(w->xf, &x1);
    vm_task_stats d = {.retries = res->retries, .splits = res->splits,
                       .changed = x1.changed - x0->changed,
                       .truncated = x1.truncated - x0->truncated,
                       .run_ms = vm_mono_ms() - t0};
    vm_err e;
    if (vm_state_task_stats_add(w->state, w->job->job.id, task_id, w->token, &d, &e) != VM_OK)
        vm_warn("task %u: recording its stats for the report failed: %s", task_id, e.msg);
}

/* Claim and run one task. *ack tells whether the message may be
 * acknowledged (false when we stop in the middle). Log lines carry the
 * task's id meanwhile (vm_log_ctx_task). */
static int vm_wk_handle_task(vm_wk *w, const vm_task *task, bool *ack, vm_err *err);

static int vm_wk_handle(vm_wk *w, const vm_task *task, bool *ack, vm_err *err)
{
    vm_log_ctx_task(task->id);
    int rc = vm_wk_handle_task(w, task, ack, err);
    vm_log_ctx_task(-1);
    return rc;
}

static int vm_wk_handle_task(vm_wk *w, const vm_task *task, bool *ack, vm_err *err)
{
    const char *jid = w->job->job.id;
    *ack = false;
    w->cancelled = false;
    vm_claim cl = {0};
    int rc;
    for (;;) {
        vm_claim_release(&cl);
        rc = vm_state_task_claim(w->state, jid, task->id, w->id, w->job->migration.lease_ms, &cl,
                                 err);
        if (rc != VM_OK)
            goto cleanup;
        if (cl.outcome != VM_CLAIM_BUSY)
            break;
        /* another worker holds it: wait for it to finish or its lease to end */
        vm_debug("task %u is held by %s; waiting", task->id, cl.owner ? cl.owner : "?");
        for (int i = 0; i < 4 && !vm_worker_stop; i++) {
            if (w->health)
                vm_health_tick();
            vm_queue_keepalive(w->queue, err);
            vm_sleep_ms(250);
        }
        if (vm_worker_stop) {
            rc = vm_err_setc(err, VM_ERR_CANCELLED, "worker stopping");
            goto cleanup;
        }
    }
    if (cl.outcome == VM_CLAIM_DONE || cl.outcome == VM_CLAIM_FAILED) {
        *ack = true; /* finished (or the coordinator decides on a retry) */
        goto cleanup;
    }
    if (cl.outcome == VM_CLAIM_CANCELLED) {
        /* vecmig resume publishes every unfinished task again */
        vm_debug("task %u: job %s is cancelled; not started", task->id, jid);
        *ack = true;
        goto cleanup;
    }
    w->task_id = task->id;
    w->token = cl.token;
    w->last_beat = vm_mono_ms();
    w->rows = cl.rows_written;
    vm_wk_register(w, task->id);
    char desc[256];
    vm_task_describe(task, desc, sizeof desc);
    vm_log(w->quiet_tasks ? VM_LOG_DEBUG : VM_LOG_INFO,
           "task %u (%s): claimed, attempt %" PRId64 "%s%s", task->id, desc, cl.attempts,
            cl.cursor ? ", resuming after " : "", cl.cursor ? cl.cursor : "");
    vm_run_opts ro = {.batch_rows = (size_t)w->job->migration.batch_rows,
                      .batch_bytes = (size_t)w->job->migration.batch_bytes,
                      .max_write_attempts = 5,
                      .resumed = cl.cursor != NULL || cl.attempts > 1 || cl.prior_claim,
                      .metrics = &w->wm};
    vm_run_hooks h = {.checkpoint = vm_wk_checkpoint, .tick = vm_wk_tick, .ctx = w};
    vm_run_result res;
    vm_transform_stats x0 = {0};
    if (w->xf)
        vm_transform_stats_get(w->xf, &x0);
    int64_t t0 = vm_mono_ms();
    vm_metric_set(w->wm.busy, 1);
    rc = vm_run_task(w->src, w->sink, w->read, w->xf, w->target, task, cl.cursor, &ro, &h, &res, err);
    vm_metric_set(w->wm.busy, 0);
    vm_wk_register(w, -1);
    if (rc != VM_ERR_FENCED)
        vm_wk_stats(w, task->id, &res, &x0, t0);
    if (rc == VM_OK) {
        rc = vm_state_task_finish(w->state, jid, task->id, w->token, VM_TASK_DONE, NULL, NULL,
                                  err);
        if (rc == VM_OK)
            vm_metric_inc(w->wm.tasks_completed);
        if (rc == VM_OK)
            vm_log(w->quiet_tasks ? VM_LOG_DEBUG : VM_LOG_INFO,
                   "task %u: done, %" PRId64 " rows in %" PRId64 " batches (%" PRId64
                    " retries, %" PRId64 " splits)",
                    task->id, res.rows_written, res.batches, res.retries, res.splits);
        *ack = rc == VM_OK;
    } else if (rc == VM_ERR_FENCED) {
        vm_warn("task %u: another worker took it over (%s)", task->id, err->msg);
        *ack = true;
        rc = VM_OK;
    } else if (rc == VM_ERR_CANCELLED) {
        /* let the lease run out at once, so a restart (or the coordinator
         * of a cancelled job) takes the task back from its checkpoint
         * without waiting for `lease` */
        vm_err e2;
        vm_state_task_heartbeat(w->state, jid, task->id, w->token, 1, NULL, &e2);
        vm_info("task %u: stopped after its last confirmed batch%s", task->id,
                w->cancelled ? " (job cancelled)" : "");
        if (w->cancelled) {
            *ack = true; /* resume publishes it again; this worker goes on */
            rc = VM_OK;
        }
    } else {
        vm_error("task %u failed: %s", task->id, err->msg);
        vm_metric_inc(w->wm.tasks_failed);
        vm_err e2;
        if (vm_state_task_finish(w->state, jid, task->id, w->token, VM_TASK_FAILED, err->msg, NULL,
                                 &e2) == VM_OK)
            *ack = true;
        rc = VM_OK; /* the task failed, the worker goes on */
    }
cleanup:
    vm_claim_release(&cl);
    return rc;
}

/* The target schema comes from the job record; wait for the coordinator. */
static int vm_wk_load_schema(vm_wk *w, long idle_ms, atomic_int *quit, vm_err *err)
{
    int64_t start = vm_mono_ms();
    while (!vm_worker_stop && !(quit && atomic_load(quit))) {
        if (w->health)
            vm_health_tick();
        vm_job_info info;
        int rc = vm_state_job_get(w->state, w->job->job.id, &info, err);
        if (rc == VM_OK) {
            json_t *program = NULL;
            rc = vm_job_record_schema(info.record, &w->target, err);
            if (rc == VM_OK)
                rc = vm_job_record_source(info.record, &w->source, &w->read, &program, err);
            if (rc == VM_OK)
                rc = vm_transform_new(program, w->read, w->target, &w->xf, err);
            json_decref(program);
            vm_job_info_release(&info);
            if (rc != VM_OK)
                vm_err_prefix(err, "job %s: ", w->job->job.id);
            return rc;
        }
        if (rc != VM_ERR_NOT_FOUND && !err->retriable)
            return rc;
        if (idle_ms > 0 && vm_mono_ms() - start > idle_ms)
            return vm_err_setc(err, VM_ERR_NOT_FOUND, "job %s does not exist", w->job->job.id);
        vm_sleep_ms(500);
    }
    return vm_err_setc(err, VM_ERR_CANCELLED, "worker stopping");
}

static bool vm_wk_job_over(vm_wk *w)
{
    vm_job_info info;
    vm_err e;
    if (vm_state_job_get(w->state, w->job->job.id, &info, &e) != VM_OK)
        return false;
    bool over = info.state == VM_JOB_DONE || info.state == VM_JOB_FAILED ||
                info.state == VM_JOB_CANCELLED || info.state == VM_JOB_RECONCILING;
    vm_job_info_release(&info);
    return over;
}

int vm_worker_loop(const vm_job_conf *job, const vm_worker_opts *opts, vm_err *err)
{
    char idbuf[128];
    if (!opts->worker_id)
        vm_job_worker_id(idbuf, sizeof idbuf);
    vm_wk w = {.job = job, .id = opts->worker_id ? opts->worker_id : idbuf,
               .quiet_tasks = opts->quiet_tasks, .batch_delay_ms = vm_test_batch_delay_ms()};
    bool distributed = opts->quit == NULL;
    w.health = distributed;
    /* every line of this thread names the job and the worker; a worker
     * process also lends them to threads it does not own (librdkafka's) */
    vm_log_ctx_set(job->job.id, w.id);
    if (distributed)
        vm_log_ctx_default(job->job.id, w.id);
    int rc = vm_worker_metrics_init(opts->metrics, job->job.id, w.id, &w.wm, err);
    if (rc != VM_OK)
        return rc;
    rc = vm_job_connect(job, "consumer", distributed, &w.conn, err);
    if (rc != VM_OK)
        return rc;
    w.state = w.conn.state;
    w.queue = w.conn.queue;
    w.src = w.conn.src;
    w.sink = w.conn.sink;
    if (w.health) {
        /* liveness: the loops below tick at least every few seconds (a
         * batch, a consume poll); a write retried with backoff ticks while
         * it waits. The limit is far above a lease: a restart loses work */
        vm_health_watch(vm_health_stall_ms(job->migration.lease_ms));
        if (!vm_worker_stop)
            vm_health_ready(false, "starting: waiting for the job's schema");
    }
    if ((rc = vm_wk_load_schema(&w, opts->exit_when_idle_ms, opts->quit, err)) != VM_OK)
        goto cleanup;
    if (w.health && !vm_worker_stop) {
        vm_health_ready(true, NULL);
        if (vm_worker_stop) /* a signal in between */
            vm_health_ready(false, "stopping: finishing the batch in flight");
    }
    vm_log(w.quiet_tasks ? VM_LOG_DEBUG : VM_LOG_INFO, "worker %s: serving job %s (collection %s)",
           w.id, job->job.id, w.target->collection);
    int64_t idle_since = vm_mono_ms();
    while (!vm_worker_stop) {
        if (w.health)
            vm_health_tick();
        vm_queue_msg m = {0};
        rc = vm_queue_consume(w.queue, 200, &m, err);
        if (rc < 0) {
            /* a topic not created yet is worth waiting for */
            if (!err->retriable && rc != VM_ERR_NOT_FOUND)
                goto cleanup;
            vm_warn("queue: %s", err->msg);
            vm_sleep_ms(500);
            continue;
        }
        if (rc == 0) {
            if (vm_mono_ms() - w.last_reg >= job->migration.heartbeat_ms)
                vm_wk_register(&w, -1); /* idle, and alive */
            if (opts->quit && atomic_load(opts->quit))
                break;
            if (opts->exit_when_idle_ms > 0 &&
                vm_mono_ms() - idle_since > opts->exit_when_idle_ms && vm_wk_job_over(&w))
                break;
            continue;
        }
        vm_task task;
        if (vm_task_decode(m.payload, m.len, &task, err) != VM_OK ||
            strcmp(task.job_id, job->job.id) != 0) {
            vm_error("queue: dropping a message that is not a task of job %s: %s", job->job.id,
                     err->msg);
            vm_queue_ack(w.queue, &m, err);
            vm_queue_msg_release(&m);
            vm_task_release(&task);
            continue;
        }
        bool ack = false;
        vm_err e2;
        vm_queue_hold(w.queue, &e2);
        rc = vm_wk_handle(&w, &task, &ack, err);
        if (ack && vm_queue_ack(w.queue, &m, &e2) != VM_OK)
            vm_warn("task %u: acknowledging failed (%s); it may be delivered again, which is "
                    "harmless", task.id, e2.msg);
        vm_queue_release_hold(w.queue, &e2);
        vm_queue_msg_release(&m);
        vm_task_release(&task);
        idle_since = vm_mono_ms();
        if (rc != VM_OK && rc != VM_ERR_CANCELLED) {
            if (!err->retriable)
                goto cleanup;
            vm_warn("worker: %s", err->msg);
        }
    }
    rc = VM_OK;
cleanup:
    if (w.health) {
        vm_health_ready(false, "stopped");
        vm_health_watch(0);
    }
    vm_job_disconnect(&w.conn);
    vm_schema_free(w.target);
    vm_schema_free(w.source);
    vm_transform_free(w.xf);
    vm_schema_free(w.read);
    return rc == VM_ERR_CANCELLED ? VM_OK : rc;
}

int vm_worker_run(const vm_job_conf *job, const vm_worker_opts *opts)
{
    vm_err e;
    vm_worker_install_signals();
    int rc = vm_worker_loop(job, opts, &e);
    if (rc == VM_OK)
        return 0;
    fprintf(stderr, "vecmig worker: %s\n", e.msg);
    return rc == VM_ERR_INVALID || rc == VM_ERR_UNSUPPORTED ? 2 : 1;
}

/*
 * vm_state.c - state store instances, argument checks shared by every
 * backend, and the small value types of vm_state.h.
 *
 * Why the wrappers check arguments (job ids, lease lengths, deltas, final
 * states) instead of each backend: both backends then refuse exactly the
 * same inputs with the same messages, and a backend can build keys from a
 * job id knowing it holds no '{', '}' or ':'.
 */
#include "vm_state.h"
#include <stdint.h>
#include <unistd.h>
#include <time.h>
#include <stdio.h>
#include <inttypes.h>
#include <fcntl.h>
#include "vm_mem.h"

#include <stdlib.h>
#include <string.h>

extern const vm_state_ops vm_state_redis_ops;
extern const vm_state_ops vm_state_sqlite_ops;

static const char *const vm_job_state_names[VM_JOB__COUNT] = {
    "planning", "running", "reconciling", "done", "failed", "cancelled",
};
static const char *const vm_task_state_names[VM_TASK__COUNT] = {
    "pending", "running", "done", "failed",
};

const char *vm_job_state_name(vm_job_state s)
{
    return (unsigned)s < VM_JOB__COUNT ? vm_job_state_names[s] : "?";
}

const char *vm_task_state_name(vm_task_state s)
{
    return (unsigned)s < VM_TASK__COUNT ? vm_task_state_names[s] : "?";
}

int vm_job_state_parse(const char *name, vm_job_state *out)
{
    for (int i = 0; name && i < VM_JOB__COUNT; i++)
        if (strcmp(name, vm_job_state_names[i]) == 0) {
            *out = (vm_job_state)i;
            return 0;
        }
    return VM_ERR_INVALID;
}

int vm_task_state_parse(const char *name, vm_task_state *out)
{
    for (int i = 0; name && i < VM_TASK__COUNT; i++)
        if (strcmp(name, vm_task_state_names[i]) == 0) {
            *out = (vm_task_state)i;
            return 0;
        }
    return VM_ERR_INVALID;
}

const char *vm_claim_outcome_name(vm_claim_outcome o)
{
    switch (o) {
    case VM_CLAIM_CLAIMED:
        return "claimed";
    case VM_CLAIM_BUSY:
        return "busy";
    case VM_CLAIM_DONE:
        return "done";
    case VM_CLAIM_FAILED:
        return "failed";
    case VM_CLAIM_CANCELLED:
        return "cancelled";
    }
    return "?";
}

bool vm_state_job_id_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 128;
}

void vm_job_info_release(vm_job_info *j)
{
    if (!j)
        return;
    vm_free(j->id);
    if (j->record)
        json_decref(j->record);
    memset(j, 0, sizeof *j);
}

void vm_task_status_release(vm_task_status *s)
{
    if (!s)
        return;
    vm_free(s->owner);
    vm_free(s->cursor);
    vm_free(s->error);
    vm_task_release(&s->task);
    memset(s, 0, sizeof *s);
}

void vm_task_status_free_array(vm_task_status *arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        vm_task_status_release(&arr[i]);
    vm_free(arr);
}

void vm_claim_release(vm_claim *c)
{
    if (!c)
        return;
    vm_free(c->owner);
    vm_free(c->cursor);
    memset(c, 0, sizeof *c);
}

void vm_state_ids_free(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        vm_free(ids[i]);
    vm_free(ids);
}

/* ---- instances ---------------------------------------------------------- */

const vm_state_ops *vm_state_backend(int type)
{
    switch (type) {
    case VM_STATE_REDIS:
        return &vm_state_redis_ops;
    case VM_STATE_EMBEDDED:
        return &vm_state_sqlite_ops;
    default:
        return NULL;
    }
}

int vm_state_open(const vm_job_state_conf *conf, vm_state **out, vm_err *err)
{
    vm_state *s = NULL;
    int rc = 0;
    *out = NULL;
    if (!conf)
        return vm_err_setc(err, VM_ERR_INVALID, "state: no configuration");
    const vm_state_ops *ops = vm_state_backend(conf->type);
    if (!ops)
        return vm_err_setc(err, VM_ERR_INVALID, "state: unknown state type %d", conf->type);
    if (!(s = vm_calloc(1, sizeof *s)) ||
        !(s->impl = vm_calloc(1, ops->state_size ? ops->state_size : 1))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    s->ops = ops;
    if ((rc = ops->open(s->impl, conf, err)) != 0) {
        vm_err_prefix(err, "state %s: ", ops->name);
        vm_free(s->impl);
        s->impl = NULL;
        goto cleanup;
    }
    *out = s;
    s = NULL;
cleanup:
    if (s) {
        vm_free(s->impl);
        vm_free(s);
    }
    return rc;
}

void vm_state_close(vm_state *s)
{
    if (!s)
        return;
    if (s->impl)
        s->ops->close(s->impl);
    vm_free(s->impl);
    vm_free(s);
}

/* ---- checks --------------------------------------------------------------- */

static int vm_state_check_job(const char *job_id, vm_err *err)
{
    if (!vm_state_job_id_valid(job_id))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "state: invalid job id (want [A-Za-z0-9._-], 1 to 128 characters)");
    return 0;
}

static int vm_state_check_lease(int64_t lease_ms, vm_err *err)
{
    /* at most a day, as the job file allows; a lease must be positive */
    if (lease_ms <= 0 || lease_ms > 24ll * 3600 * 1000)
        return vm_err_setc(err, VM_ERR_INVALID, "state: lease %lld ms out of range (1 ms to 24 h)",
                           (long long)lease_ms);
    return 0;
}

#define VM_STATE_OP(s, op, err)                                                             \
    do {                                                                                    \
        if (!(s) || !(s)->ops->op)                                                          \
            return vm_err_setc(err, VM_ERR_UNSUPPORTED, "state: %s: not supported", #op);   \
    } while (0)

/* ---- wrappers ------------------------------------------------------------- */

int vm_state_job_put(vm_state *s, const char *job_id, const json_t *record, vm_err *err)
{
    VM_STATE_OP(s, job_put, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (!json_is_object(record))
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: the record must be a JSON object",
                           job_id);
    return s->ops->job_put(s->impl, job_id, record, err);
}

int vm_state_job_get(vm_state *s, const char *job_id, vm_job_info *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    VM_STATE_OP(s, job_get, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->job_get(s->impl, job_id, out, err);
}

int vm_state_job_set_state(vm_state *s, const char *job_id, vm_job_state state, vm_err *err)
{
    VM_STATE_OP(s, job_set_state, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if ((unsigned)state >= VM_JOB__COUNT)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: invalid job state %d", job_id,
                           (int)state);
    return s->ops->job_set_state(s->impl, job_id, state, err);
}

static int vm_state_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_state_jobs_list(vm_state *s, char ***ids, size_t *n, vm_err *err)
{
    *ids = NULL;
    *n = 0;
    VM_STATE_OP(s, jobs_list, err);
    int rc = s->ops->jobs_list(s->impl, ids, n, err);
    if (rc == 0 && *n > 1)
        qsort(*ids, *n, sizeof **ids, vm_state_cmp_str);
    return rc;
}

int vm_state_job_counters(vm_state *s, const char *job_id, vm_job_counters *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    VM_STATE_OP(s, job_counters, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->job_counters(s->impl, job_id, out, err);
}

int vm_state_job_delete(vm_state *s, const char *job_id, vm_err *err)
{
    VM_STATE_OP(s, job_delete, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->job_delete(s->impl, job_id, err);
}

int vm_state_job_cancel(vm_state *s, const char *job_id, vm_cancel_result *out, vm_err *err)
{
    vm_cancel_result dummy;
    if (!out)
        out = &dummy;
    memset(out, 0, sizeof *out);
    VM_STATE_OP(s, job_cancel, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->job_cancel(s->impl, job_id, out, err);
}

int vm_state_job_cancel_requested(vm_state *s, const char *job_id, bool *out, vm_err *err)
{
    vm_job_counters k;
    *out = false;
    int rc = vm_state_job_counters(s, job_id, &k, err);
    if (rc == 0)
        *out = k.cancel_ms > 0;
    return rc;
}

int vm_state_job_resume(vm_state *s, const char *job_id, vm_job_state *prev, vm_err *err)
{
    vm_job_state dummy;
    VM_STATE_OP(s, job_resume, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->job_resume(s->impl, job_id, prev ? prev : &dummy, err);
}

int vm_state_job_report_put(vm_state *s, const char *job_id, const json_t *report, vm_err *err)
{
    VM_STATE_OP(s, job_report_put, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (!json_is_object(report))
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: the report must be a JSON object",
                           job_id);
    char *text = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return vm_err_setc(err, VM_ERR_NOMEM, "state: job %s: cannot encode the report", job_id);
    rc = s->ops->job_report_put(s->impl, job_id, text, err);
    free(text);
    return rc;
}

int vm_state_job_report_get(vm_state *s, const char *job_id, json_t **out, vm_err *err)
{
    *out = NULL;
    VM_STATE_OP(s, job_report_get, err);
    int rc = vm_state_check_job(job_id, err);
    char *text = NULL;
    if (rc || (rc = s->ops->job_report_get(s->impl, job_id, &text, err)) != 0)
        return rc;
    json_error_t je;
    if (!(*out = json_loads(text, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unreadable stored report", job_id);
    }
    vm_free(text);
    return rc;
}

int vm_state_tasks_put(vm_state *s, const char *job_id, const vm_task *tasks, size_t n,
                       vm_err *err)
{
    VM_STATE_OP(s, tasks_put, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (n > 0 && !tasks)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: no tasks", job_id);
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i].job_id || strcmp(tasks[i].job_id, job_id) != 0)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "state: job %s: task %u belongs to another job", job_id,
                               (unsigned)tasks[i].id);
        if ((rc = vm_task_validate(&tasks[i], err)) != 0) {
            vm_err_prefix(err, "state: job %s: task %u: ", job_id, (unsigned)tasks[i].id);
            return rc;
        }
    }
    return n ? s->ops->tasks_put(s->impl, job_id, tasks, n, err) : 0;
}

int vm_state_task_claim(vm_state *s, const char *job_id, uint32_t task_id,
                        const char *worker_id, int64_t lease_ms, vm_claim *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    VM_STATE_OP(s, task_claim, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc || (rc = vm_state_check_lease(lease_ms, err)) != 0)
        return rc;
    if (!worker_id || !*worker_id || strlen(worker_id) > 256)
        return vm_err_setc(err, VM_ERR_INVALID, "state: worker id must be 1 to 256 characters");
    return s->ops->task_claim(s->impl, job_id, task_id, worker_id, lease_ms, out, err);
}

int vm_state_task_heartbeat(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                            int64_t lease_ms, int64_t *lease_until_ms, vm_err *err)
{
    int64_t dummy;
    VM_STATE_OP(s, task_heartbeat, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc || (rc = vm_state_check_lease(lease_ms, err)) != 0)
        return rc;
    return s->ops->task_heartbeat(s->impl, job_id, task_id, token, lease_ms,
                                  lease_until_ms ? lease_until_ms : &dummy, err);
}

int vm_state_task_checkpoint(vm_state *s, const char *job_id, uint32_t task_id,
                             uint64_t token, const char *cursor, int64_t d_read,
                             int64_t d_written, int64_t lease_ms, vm_err *err)
{
    VM_STATE_OP(s, task_checkpoint, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc || (rc = vm_state_check_lease(lease_ms, err)) != 0)
        return rc;
    if (d_read < 0 || d_written < 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s task %u: negative row delta",
                           job_id, (unsigned)task_id);
    return s->ops->task_checkpoint(s->impl, job_id, task_id, token, cursor, d_read, d_written,
                                   lease_ms, err);
}

int vm_state_task_finish(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                         vm_task_state final_state, const char *error, vm_finish_result *out,
                         vm_err *err)
{
    vm_finish_result dummy;
    VM_STATE_OP(s, task_finish, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (final_state != VM_TASK_DONE && final_state != VM_TASK_FAILED)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "state: job %s task %u: a task finishes as done or failed", job_id,
                           (unsigned)task_id);
    if (!out)
        out = &dummy;
    memset(out, 0, sizeof *out);
    return s->ops->task_finish(s->impl, job_id, task_id, token, final_state, error, out, err);
}

int vm_state_task_stats_add(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                            const vm_task_stats *delta, vm_err *err)
{
    VM_STATE_OP(s, task_stats_add, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (!delta || delta->retries < 0 || delta->splits < 0 || delta->changed < 0 ||
        delta->truncated < 0 || delta->run_ms < 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s task %u: negative stats delta",
                           job_id, (unsigned)task_id);
    return s->ops->task_stats_add(s->impl, job_id, task_id, token, delta, err);
}

int vm_state_task_get(vm_state *s, const char *job_id, uint32_t task_id, vm_task_status *out,
                      vm_err *err)
{
    memset(out, 0, sizeof *out);
    vm_task_init(&out->task);
    VM_STATE_OP(s, task_get, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->task_get(s->impl, job_id, task_id, out, err);
}

int vm_state_tasks_list(vm_state *s, const char *job_id, vm_task_status **arr, size_t *n,
                        vm_err *err)
{
    *arr = NULL;
    *n = 0;
    VM_STATE_OP(s, tasks_list, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->tasks_list(s->impl, job_id, arr, n, err);
}

static int vm_state_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int vm_state_tasks_expired(vm_state *s, const char *job_id, uint32_t **ids, size_t *n,
                           vm_err *err)
{
    *ids = NULL;
    *n = 0;
    VM_STATE_OP(s, tasks_expired, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc || (rc = s->ops->tasks_expired(s->impl, job_id, ids, n, err)) != 0)
        return rc;
    if (*n > 1)
        qsort(*ids, *n, sizeof **ids, vm_state_cmp_u32);
    return 0;
}

int vm_state_task_reset(vm_state *s, const char *job_id, uint32_t task_id, vm_err *err)
{
    VM_STATE_OP(s, task_reset, err);
    int rc = vm_state_check_job(job_id, err);
    return rc ? rc : s->ops->task_reset(s->impl, job_id, task_id, err);
}

void vm_state_nonce(char out[17])
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
            v = 0;
        close(fd);
    }
    if (v == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
    }
    snprintf(out, 17, "%016" PRIx64, v);
}

/* ---- the worker registry ----------------------------------------------- */

void vm_worker_status_free_array(vm_worker_status *arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        vm_free(arr[i].id);
    vm_free(arr);
}

int vm_state_worker_beat(vm_state *s, const char *job_id, const char *worker_id,
                         int64_t task_id, int64_t rows, vm_err *err)
{
    VM_STATE_OP(s, worker_beat, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (!worker_id || !*worker_id || strlen(worker_id) > 256)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: worker id: 1 to 256 characters",
                           job_id);
    if (task_id < -1 || rows < 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: worker %s: bad task or rows",
                           job_id, worker_id);
    return s->ops->worker_beat(s->impl, job_id, worker_id, task_id, rows, err);
}

int vm_state_workers_list(vm_state *s, const char *job_id, int64_t drop_after_ms,
                          vm_worker_status **arr, size_t *n, int64_t *now_ms, vm_err *err)
{
    int64_t dummy;
    *arr = NULL;
    *n = 0;
    if (!now_ms)
        now_ms = &dummy;
    *now_ms = 0;
    VM_STATE_OP(s, workers_list, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (drop_after_ms <= 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: workers: drop_after_ms must be "
                                                "positive", job_id);
    return s->ops->workers_list(s->impl, job_id, drop_after_ms, arr, n, now_ms, err);
}

/* ---- the leader lock ------------------------------------------------------ */

void vm_leader_release(vm_leader *l)
{
    if (!l)
        return;
    vm_free(l->holder);
    memset(l, 0, sizeof *l);
}

static int vm_state_leader_call(vm_state *s, const char *job_id, vm_leader_op op,
                                const char *owner, int64_t lease_ms, vm_leader *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    VM_STATE_OP(s, leader, err);
    int rc = vm_state_check_job(job_id, err);
    if (rc)
        return rc;
    if (!owner || !*owner || strlen(owner) > 256)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "state: job %s: leader lock: owner id: 1 to 256 characters", job_id);
    if (op != VM_LEADER_RELEASE && lease_ms <= 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: job %s: leader lock: lease must be positive",
                           job_id);
    rc = s->ops->leader(s->impl, job_id, op, owner, lease_ms, out, err);
    if (rc)
        vm_leader_release(out);
    return rc;
}

int vm_state_leader_acquire(vm_state *s, const char *job_id, const char *owner,
                            int64_t lease_ms, vm_leader *out, vm_err *err)
{
    return vm_state_leader_call(s, job_id, VM_LEADER_ACQUIRE, owner, lease_ms, out, err);
}

int vm_state_leader_renew(vm_state *s, const char *job_id, const char *owner, int64_t lease_ms,
                          vm_leader *out, vm_err *err)
{
    return vm_state_leader_call(s, job_id, VM_LEADER_RENEW, owner, lease_ms, out, err);
}

int vm_state_leader_release(vm_state *s, const char *job_id, const char *owner, vm_err *err)
{
    vm_leader l;
    int rc = vm_state_leader_call(s, job_id, VM_LEADER_RELEASE, owner, 0, &l, err);
    vm_leader_release(&l);
    return rc;
}

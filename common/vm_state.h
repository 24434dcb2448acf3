/*
 * vm_state.h - the job and task state store: jobs, range tasks, ownership
 * (leases and fencing tokens), checkpoints and job-wide counters.
 *
 * The coordinator and the workers agree on progress only through this
 * interface. A backend is a `const struct` of function pointers
 * (vm_state_ops) with per-instance state allocated by the framework, like the
 * connectors (vm_connector.h); vm_state_open() picks the backend from the
 * job's `state:` block. Redis (common/state/redis/) and the embedded SQLite file
 * (common/state/sqlite/) are implemented.
 *
 * One vm_state is one connection, used by one thread at a time; give each
 * worker thread its own.
 *
 * Job life cycle: planning -> running -> reconciling -> done | failed, and
 * cancelled. The state is set by the coordinator (job_set_state). A cancel
 * request is a separate mark on the job (cancel_ms, set by job_cancel):
 * while it is set, claims answer CANCELLED (no task starts), workers stop
 * at their next batch boundary, and the coordinator ends the job as
 * cancelled once no task runs. job_resume() clears the mark and makes a
 * cancelled, failed or done job running again; the tasks keep their
 * checkpoints.
 *
 * Task life cycle:
 *
 *   pending --claim--> running --finish(done)--> done
 *      ^                 |  \--finish(failed)--> failed
 *      |                 | (lease expires: claimable by another worker)
 *      +----reset--------+-----------reset-------- failed
 *
 * - claim() hands a task to a worker with a lease and a new fencing token
 *   (strictly increasing per job). A running task whose lease is still live
 *   is BUSY for other workers; the same worker claiming again gets a new
 *   token (its older token is fenced). DONE and FAILED tasks are not
 *   claimable: FAILED needs an explicit reset() (resume). While the job has a
 *   cancel request no task is claimable (CANCELLED).
 * - heartbeat(), checkpoint() and finish() are FENCED: they apply only while
 *   the task is running under exactly that token, else VM_ERR_FENCED and
 *   nothing changes. checkpoint() moves the cursor and adds the row deltas
 *   to the task and to the job totals in one atomic step, so a slow worker
 *   that comes back after losing its lease cannot count a batch twice.
 * - finish() counts a task as done/failed in the job exactly once; finishing
 *   a task that is already done or failed is a no-op reported as such.
 * - Leases are measured on the STORE's clock (Redis: TIME inside the
 *   scripts), so the workers' clocks never matter. lease_until_ms values are
 *   milliseconds since the epoch on that clock.
 *
 * Errors: connection loss and timeouts are retriable VM_ERR_IO /
 * VM_ERR_TIMEOUT (the next call reconnects; a dropped connection is retried
 * once inside the call). After a retriable error from claim, checkpoint or
 * finish, repeat the SAME call (same arguments, same vm_state, no other
 * mutation in between): if the first one was applied and only its reply was
 * lost, the backend recognises it and answers as applied instead of
 * applying it twice, so a checkpoint is never counted twice. heartbeat,
 * reset and the reads are idempotent anyway. Nothing secret is ever stored: the job record
 * is the caller's (no credentials in it), and the store's URL password never
 * appears in a stored value or a message.
 */
#ifndef VM_STATE_H
#define VM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_config.h"
#include "vm_err.h"
#include "vm_task.h"

typedef enum vm_job_state {
    VM_JOB_PLANNING = 0,
    VM_JOB_RUNNING,
    VM_JOB_RECONCILING,
    VM_JOB_DONE,
    VM_JOB_FAILED,
    VM_JOB_CANCELLED,
    VM_JOB__COUNT
} vm_job_state;

typedef enum vm_task_state {
    VM_TASK_PENDING = 0,
    VM_TASK_RUNNING,
    VM_TASK_DONE,
    VM_TASK_FAILED,
    VM_TASK__COUNT
} vm_task_state;

/* Stable lower-case names ("planning", "running", ...) as stored. */
const char *vm_job_state_name(vm_job_state s);
const char *vm_task_state_name(vm_task_state s);
/* 0, or VM_ERR_INVALID for an unknown name. */
int vm_job_state_parse(const char *name, vm_job_state *out);
int vm_task_state_parse(const char *name, vm_task_state *out);

/* Whether s is a valid job id: [A-Za-z0-9._-]{1,128} (the job file rule). */
bool vm_state_job_id_valid(const char *s);

typedef struct vm_job_info {
    char *id;
    vm_job_state state;
    json_t *record;     /* the caller's record (new reference) */
    int64_t created_ms; /* store clock */
    int64_t updated_ms;
    int64_t cancel_ms;  /* when a cancel was requested (store clock); 0: none */
} vm_job_info;

void vm_job_info_release(vm_job_info *j);

typedef struct vm_job_counters {
    int64_t tasks_total;
    int64_t pending, running, done, failed;
    int64_t rows_read, rows_written; /* sums of all checkpoints */
    int64_t cancel_ms; /* when a cancel was requested (store clock); 0: none */
} vm_job_counters;

/* What the workers measured while running a task, summed over its
 * attempts (vm_state_task_stats_add): informational, for the report. */
typedef struct vm_task_stats {
    int64_t retries;   /* write requests sent again after a retriable error */
    int64_t splits;    /* requests halved because they were too large */
    int64_t changed;   /* values a lossy conversion stored differently */
    int64_t truncated; /* values cut by a `truncate` mapping step */
    int64_t run_ms;    /* time the attempts ran (workers' clocks) */
} vm_task_stats;

typedef struct vm_task_status {
    uint32_t id;
    vm_task_state state;
    char *owner;            /* worker id of the last claim; NULL if never claimed */
    uint64_t token;         /* fencing token of the last claim; 0 if never claimed */
    int64_t lease_until_ms; /* store clock; 0 if never claimed */
    int64_t attempts;       /* claims since creation or the last reset */
    char *cursor;           /* source cursor of the last checkpoint; NULL = start */
    int64_t rows_read, rows_written;
    char *error;            /* last error recorded by finish(failed); NULL if none */
    vm_task task;           /* the task itself, decoded */
    int64_t first_claim_ms; /* store clock: the first claim ever (kept by reset); 0: never */
    int64_t finished_ms;    /* store clock: the last finish; 0: never finished */
    vm_task_stats stats;    /* sums of vm_state_task_stats_add */
} vm_task_status;

void vm_task_status_release(vm_task_status *s);
/* Release every element, then the array. */
void vm_task_status_free_array(vm_task_status *arr, size_t n);

/* One entry of a job's worker registry (vm_state_worker_beat). */
typedef struct vm_worker_status {
    char *id;             /* worker id */
    int64_t task_id;      /* the task it reported working on; -1: none */
    int64_t rows;         /* rows it reported for that task */
    int64_t last_beat_ms; /* store clock: its last beat */
} vm_worker_status;

/* Release every element, then the array. */
void vm_worker_status_free_array(vm_worker_status *arr, size_t n);

typedef enum vm_claim_outcome {
    VM_CLAIM_CLAIMED = 0, /* yours: token, attempts, cursor, counters are set */
    VM_CLAIM_BUSY,        /* running under another owner with a live lease */
    VM_CLAIM_DONE,        /* finished: nothing to do (ack the message) */
    VM_CLAIM_FAILED,      /* failed: claimable again only after task_reset */
    VM_CLAIM_CANCELLED,   /* the job has a cancel request: start nothing (ack the
                           * message; `vecmig resume` publishes the task again) */
} vm_claim_outcome;

const char *vm_claim_outcome_name(vm_claim_outcome o);

typedef struct vm_claim {
    vm_claim_outcome outcome;
    uint64_t token;         /* CLAIMED: the new token; else the current one */
    int64_t attempts;       /* CLAIMED: including this one */
    char *owner;            /* CLAIMED: you; BUSY: the owner */
    int64_t lease_until_ms; /* CLAIMED: your lease; BUSY: the owner's */
    char *cursor;           /* checkpoint to resume from; NULL = start of the range */
    int64_t rows_read, rows_written; /* the task's counters so far */
    bool prior_claim;       /* the task was claimed before this claim (even before a
                             * reset): rows written after its checkpoint may be in
                             * the target (autoID targets must remove them) */
} vm_claim;

void vm_claim_release(vm_claim *c);

typedef struct vm_cancel_result {
    bool applied;        /* false: requested before, or the job is over */
    vm_job_state state;  /* the job's state when the call was made */
    int64_t cancel_ms;   /* the request's time (store clock); 0 when the job is
                          * done or failed and nothing was marked */
} vm_cancel_result;

typedef struct vm_finish_result {
    bool applied;        /* false: the task was already done or failed */
    vm_task_state state; /* the task's state after the call (DONE or FAILED) */
} vm_finish_result;

/* What a leader-lock call found (vm_state_leader_*). */
typedef struct vm_leader {
    bool held;            /* the caller holds the lock now */
    char *holder;         /* !held: the holder's id; NULL when nobody holds it */
    int64_t remaining_ms; /* held: the caller's lease left; else the holder's (0: none) */
} vm_leader;

void vm_leader_release(vm_leader *l);

typedef enum vm_leader_op {
    VM_LEADER_ACQUIRE = 0, /* take it if free or expired; renew it if ours */
    VM_LEADER_RENEW,       /* extend it iff ours and not expired */
    VM_LEADER_RELEASE,     /* drop it iff ours */
} vm_leader_op;

/* ---- the backend interface ------------------------------------------- */

typedef struct vm_state_ops {
    const char *name;  /* "redis", "embedded" */
    size_t state_size; /* per-instance state, allocated zeroed by the framework */

    int (*open)(void *st, const vm_job_state_conf *conf, vm_err *err);
    void (*close)(void *st);

    int (*job_put)(void *st, const char *job_id, const json_t *record, vm_err *err);
    int (*job_get)(void *st, const char *job_id, vm_job_info *out, vm_err *err);
    int (*job_set_state)(void *st, const char *job_id, vm_job_state state, vm_err *err);
    int (*jobs_list)(void *st, char ***ids, size_t *n, vm_err *err);
    int (*job_counters)(void *st, const char *job_id, vm_job_counters *out, vm_err *err);
    int (*job_delete)(void *st, const char *job_id, vm_err *err);

    int (*tasks_put)(void *st, const char *job_id, const vm_task *tasks, size_t n,
                     vm_err *err);
    int (*task_claim)(void *st, const char *job_id, uint32_t task_id, const char *worker_id,
                      int64_t lease_ms, vm_claim *out, vm_err *err);
    int (*task_heartbeat)(void *st, const char *job_id, uint32_t task_id, uint64_t token,
                          int64_t lease_ms, int64_t *lease_until_ms, vm_err *err);
    int (*task_checkpoint)(void *st, const char *job_id, uint32_t task_id, uint64_t token,
                           const char *cursor, int64_t d_read, int64_t d_written,
                           int64_t lease_ms, vm_err *err);
    int (*task_finish)(void *st, const char *job_id, uint32_t task_id, uint64_t token,
                       vm_task_state final_state, const char *error, vm_finish_result *out,
                       vm_err *err);
    int (*task_get)(void *st, const char *job_id, uint32_t task_id, vm_task_status *out,
                    vm_err *err);
    int (*tasks_list)(void *st, const char *job_id, vm_task_status **arr, size_t *n,
                      vm_err *err);
    int (*tasks_expired)(void *st, const char *job_id, uint32_t **ids, size_t *n, vm_err *err);
    int (*task_reset)(void *st, const char *job_id, uint32_t task_id, vm_err *err);

    int (*job_cancel)(void *st, const char *job_id, vm_cancel_result *out, vm_err *err);
    int (*job_resume)(void *st, const char *job_id, vm_job_state *prev, vm_err *err);

    int (*task_stats_add)(void *st, const char *job_id, uint32_t task_id, uint64_t token,
                          const vm_task_stats *delta, vm_err *err);
    int (*job_report_put)(void *st, const char *job_id, const char *report, vm_err *err);
    int (*job_report_get)(void *st, const char *job_id, char **report, vm_err *err);

    /* the worker registry (NULL: not kept by this backend) */
    int (*worker_beat)(void *st, const char *job_id, const char *worker_id, int64_t task_id,
                       int64_t rows, vm_err *err);
    int (*workers_list)(void *st, const char *job_id, int64_t drop_after_ms,
                        vm_worker_status **arr, size_t *n, int64_t *now_ms, vm_err *err);

    /* the job's leader lock (NULL: not kept by this backend); lease_ms is
     * ignored by RELEASE; out->held for RELEASE: it was ours and is gone */
    int (*leader)(void *st, const char *job_id, vm_leader_op op, const char *owner,
                  int64_t lease_ms, vm_leader *out, vm_err *err);
} vm_state_ops;

typedef struct vm_state {
    const vm_state_ops *ops;
    void *impl;
} vm_state;

/* The backend for a type (VM_STATE_REDIS, ...); NULL when not built. */
const vm_state_ops *vm_state_backend(int type);

/* For backends: 16 random hex digits (/dev/urandom, else time and pid) that
 * prefix an instance's operation ids, so a replayed call is recognised. */
void vm_state_nonce(char out[17]);

/* Open the store described by the job's `state:` block. */
int vm_state_open(const vm_job_state_conf *conf, vm_state **out, vm_err *err);
void vm_state_close(vm_state *s);

/* ---- jobs ---------------------------------------------------------------- */

/* Create the job (state planning, counters zero, created_ms = now) or, if
 * it exists, replace its record only (state and counters are kept). The
 * record is stored as compact JSON text; it must hold no secrets. */
int vm_state_job_put(vm_state *s, const char *job_id, const json_t *record, vm_err *err);
/* VM_ERR_NOT_FOUND if the job does not exist. Release *out. */
int vm_state_job_get(vm_state *s, const char *job_id, vm_job_info *out, vm_err *err);
/* Unconditional; VM_ERR_NOT_FOUND if the job does not exist. */
int vm_state_job_set_state(vm_state *s, const char *job_id, vm_job_state state, vm_err *err);
/* Every job id, sorted; free with vm_state_ids_free. */
int vm_state_jobs_list(vm_state *s, char ***ids, size_t *n, vm_err *err);
void vm_state_ids_free(char **ids, size_t n);
int vm_state_job_counters(vm_state *s, const char *job_id, vm_job_counters *out, vm_err *err);
/* Remove the job and all its tasks (purge); a missing job is success. */
int vm_state_job_delete(vm_state *s, const char *job_id, vm_err *err);

/* Atomic: mark the job cancel-requested (cancel_ms = now on the store
 * clock) unless it is done, failed or cancelled, or already marked (the
 * first request's time is kept). From then on claims answer CANCELLED.
 * Nothing else changes: running tasks keep their leases and may still
 * checkpoint the batch in flight. VM_ERR_NOT_FOUND without the job. */
int vm_state_job_cancel(vm_state *s, const char *job_id, vm_cancel_result *out, vm_err *err);
/* Whether the job has a cancel request (a light read, for batch
 * boundaries). VM_ERR_NOT_FOUND without the job. */
int vm_state_job_cancel_requested(vm_state *s, const char *job_id, bool *out, vm_err *err);
/* Atomic: clear the cancel request; a cancelled, failed or done job becomes
 * running (planning, running and reconciling are kept). *prev (may be NULL)
 * gets the state before. Tasks are not touched (reset failed ones with
 * task_reset). VM_ERR_NOT_FOUND without the job. */
int vm_state_job_resume(vm_state *s, const char *job_id, vm_job_state *prev, vm_err *err);

/* The job's final report (the JSON document of coordinator/report.h), kept
 * beside the job so `vecmig report JOB` can print it later; a later run
 * replaces it, job_delete removes it. It is stored as compact text and
 * must hold no secrets (errors in it are redacted). VM_ERR_NOT_FOUND
 * without the job. */
int vm_state_job_report_put(vm_state *s, const char *job_id, const json_t *report, vm_err *err);
/* *out: the stored report (new reference). VM_ERR_NOT_FOUND without the
 * job, or when the job has no report yet (the message says which). */
int vm_state_job_report_get(vm_state *s, const char *job_id, json_t **out, vm_err *err);

/* ---- tasks --------------------------------------------------------------- */

/* Store tasks (each task's job_id must equal job_id) as pending. Idempotent:
 * a task id that exists keeps its state and progress; the same id with a
 * different task (range) is VM_ERR_EXISTS. The job's tasks_total becomes the
 * number of distinct task ids stored. VM_ERR_NOT_FOUND without the job. */
int vm_state_tasks_put(vm_state *s, const char *job_id, const vm_task *tasks, size_t n,
                       vm_err *err);

/* Atomic claim (see the top of this file). lease_ms > 0. *out is filled for
 * every outcome; release it. VM_ERR_NOT_FOUND for an unknown task. */
int vm_state_task_claim(vm_state *s, const char *job_id, uint32_t task_id,
                        const char *worker_id, int64_t lease_ms, vm_claim *out, vm_err *err);

/* Extend the lease to now + lease_ms iff the task runs under token; else
 * VM_ERR_FENCED. lease_until_ms (may be NULL) gets the new lease end. */
int vm_state_task_heartbeat(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                            int64_t lease_ms, int64_t *lease_until_ms, vm_err *err);

/* Atomic and fenced: iff the task runs under token, set the cursor (NULL:
 * leave it), add d_read/d_written (>= 0) to the task's and the job's
 * counters, and extend the lease; else VM_ERR_FENCED and nothing changes. */
int vm_state_task_checkpoint(vm_state *s, const char *job_id, uint32_t task_id,
                             uint64_t token, const char *cursor, int64_t d_read,
                             int64_t d_written, int64_t lease_ms, vm_err *err);

/* Fenced: running under token -> final_state (VM_TASK_DONE or
 * VM_TASK_FAILED, with error recorded when not NULL; it is redacted first),
 * counted once in the job. A task already done or failed: 0 with
 * out->applied = false and out->state the stored state, whatever the token.
 * Otherwise VM_ERR_FENCED. out may be NULL. */
int vm_state_task_finish(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                         vm_task_state final_state, const char *error, vm_finish_result *out,
                         vm_err *err);

/* Fenced like checkpoint: iff the task runs under token, add the deltas
 * (each >= 0) to its stats; else VM_ERR_FENCED and nothing changes. Call it
 * before finish (a finished task is no longer running). Not protected
 * against a lost reply: do not repeat it after an error (the stats are
 * informational; a lost delta only undercounts). */
int vm_state_task_stats_add(vm_state *s, const char *job_id, uint32_t task_id, uint64_t token,
                            const vm_task_stats *delta, vm_err *err);

/* One task's status; VM_ERR_NOT_FOUND if unknown. Release *out. */
int vm_state_task_get(vm_state *s, const char *job_id, uint32_t task_id, vm_task_status *out,
                      vm_err *err);
/* Every task of the job, sorted by id; free with vm_task_status_free_array. */
int vm_state_tasks_list(vm_state *s, const char *job_id, vm_task_status **arr, size_t *n,
                        vm_err *err);
/* Ids (sorted) of running tasks whose lease ended (lease_until < now on the
 * store clock), for the coordinator to publish again; free with vm_free. */
int vm_state_tasks_expired(vm_state *s, const char *job_id, uint32_t **ids, size_t *n,
                           vm_err *err);
/* failed, or running with an expired lease -> pending: the owner is
 * cleared (its token stays fenced), attempts restart at 0 (a fresh budget
 * of max_attempts), cursor, row counters and the last error are kept.
 * pending: no-op. done: VM_ERR_INVALID. running with a live lease:
 * VM_ERR_UNAVAILABLE (retriable once the lease expired). */
int vm_state_task_reset(vm_state *s, const char *job_id, uint32_t task_id, vm_err *err);

/* ---- the worker registry ------------------------------------------------- */

/* Record that worker_id is alive in the job (last_beat_ms = now on the
 * store clock), working on task_id (-1: none) with `rows` rows so far.
 * Informational (for `vecmig status`): not fenced, idempotent; the job
 * need not exist (nothing is checked), job_delete removes the entries. */
int vm_state_worker_beat(vm_state *s, const char *job_id, const char *worker_id,
                         int64_t task_id, int64_t rows, vm_err *err);
/* The job's registered workers sorted by id, and the store clock's now
 * (now_ms may be NULL). Entries whose last beat is older than
 * drop_after_ms (> 0) are removed from the store and not returned. Free
 * with vm_worker_status_free_array. */
int vm_state_workers_list(vm_state *s, const char *job_id, int64_t drop_after_ms,
                          vm_worker_status **arr, size_t *n, int64_t *now_ms, vm_err *err);

/* ---- the leader lock ------------------------------------------------------ */

/* One coordinator per job: a lease lock kept beside the job (not removed by
 * job_delete, which a coordinator holding it may call when it plans anew),
 * measured on the store's clock like task leases. owner: the caller's
 * unique instance id (1 to 256 characters); lease_ms > 0.
 *
 * acquire: free, expired, or already ours -> ours for lease_ms from now
 *   (out->held); otherwise out->held is false and out->holder /
 *   out->remaining_ms name the holder and its lease left.
 * renew: ours and live -> extended (out->held); else out->held is false
 *   (lost: expired, or taken by out->holder, NULL when nobody holds it)
 *   and nothing changes.
 * release: ours -> removed; anyone else's: untouched (not an error).
 * All three are idempotent (safe to repeat after a retriable error).
 * Release *out. */
int vm_state_leader_acquire(vm_state *s, const char *job_id, const char *owner,
                            int64_t lease_ms, vm_leader *out, vm_err *err);
int vm_state_leader_renew(vm_state *s, const char *job_id, const char *owner, int64_t lease_ms,
                          vm_leader *out, vm_err *err);
int vm_state_leader_release(vm_state *s, const char *job_id, const char *owner, vm_err *err);

#endif

/*
 * worker.h - run a worker process for a job.
 */
#ifndef VM_WORKER_H
#define VM_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "vm_config.h"
#include "vm_metrics.h"

typedef struct vm_worker_opts {
    const char *worker_id;  /* NULL: <hostname>-<pid>-<random> */
    long exit_when_idle_ms; /* > 0: exit once the job is finished and no task came for this long */
    atomic_int *quit;       /* non-zero: leave at the next idle moment (in-process workers) */
    bool quiet_tasks;       /* per-task lines at debug level (a progress bar is shown) */
    vm_metrics *metrics;    /* NULL: none; else this worker's series (job_id, worker) */
} vm_worker_opts;

/* A worker process: installs SIGINT/SIGTERM handlers, consumes the job's
 * tasks until stopped (the batch in flight is finished and checkpointed
 * first) or, with exit_when_idle_ms, until the job is over. Returns the
 * process exit code. It drives the process's probes (vm_health.h): ready
 * once the job's schema is loaded, not ready from the stop signal on, its
 * loops watched for liveness. */
int vm_worker_run(const vm_job_conf *job, const vm_worker_opts *opts);

/* The same loop for a thread inside another command (vecmig migrate): no
 * signal handling, any queue and state backend. 0, or an error code with
 * err filled. */
int vm_worker_loop(const vm_job_conf *job, const vm_worker_opts *opts, vm_err *err);

/* Ask every worker loop in the process to stop after its batch in flight
 * (what SIGINT/SIGTERM do); async-signal-safe. */
void vm_worker_request_stop(void);
bool vm_worker_stopping(void);
/* Install the handlers that call vm_worker_request_stop. */
void vm_worker_install_signals(void);

#endif

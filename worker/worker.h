/*
 * worker.h - run a worker process for a job.
 */
#ifndef VM_WORKER_H
#define VM_WORKER_H

#include "vm_config.h"

typedef struct vm_worker_opts {
    const char *worker_id;  /* NULL: <hostname>-<pid>-<random> */
    long exit_when_idle_ms; /* > 0: exit once the job is finished and no task came for this long */
} vm_worker_opts;

/* Consume the job's tasks until stopped (SIGINT/SIGTERM: the batch in
 * flight is finished and checkpointed first) or, with exit_when_idle_ms,
 * until the job is over. Returns the process exit code. */
int vm_worker_run(const vm_job_conf *job, const vm_worker_opts *opts);

#endif

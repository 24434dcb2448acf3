/*
 * coordinator.h - run a job as its coordinator.
 */
#ifndef VM_COORDINATOR_H
#define VM_COORDINATOR_H

#include <stdbool.h>

#include "vm_config.h"

typedef struct vm_coordinator_opts {
    const char *report_path; /* NULL: vecmig-report-<job>.json in the working directory */
    bool quiet;              /* no progress lines */
} vm_coordinator_opts;

/* Plan (or pick up an existing job), create the collection, publish the
 * tasks, wait for the workers, reconcile and write the report. Returns the
 * process exit code: 0 when every count agrees, 1 when the job failed or
 * the counts do not agree, 2 for a configuration error. Running it again
 * for a job that exists continues that job instead of planning anew. */
int vm_coordinator_run(const vm_job_conf *job, const vm_coordinator_opts *opts);

#endif

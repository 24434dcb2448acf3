/*
 * coordinator.h - run a job as its coordinator.
 */
#ifndef VM_COORDINATOR_H
#define VM_COORDINATOR_H

#include <stdbool.h>

#include "vm_config.h"

typedef struct vm_coordinator_opts {
    const char *report_path; /* NULL: vecmig-report-<job>.json in the working directory */
    bool quiet;              /* no progress output */
    bool progress_bar;       /* one redrawn line on a terminal instead of log lines */
    bool json;               /* print the final report as JSON on stdout */
    /* In-process workers (vecmig migrate): any queue and state backend is
     * accepted; start_workers is called once the tasks are published,
     * stop_workers before reconciling, should_stop between progress
     * updates (Ctrl-C). NULL start_workers: distributed (kafka + redis). */
    int (*start_workers)(void *ctx, vm_err *err);
    void (*stop_workers)(void *ctx);
    bool (*should_stop)(void *ctx);
    void *ctx;
} vm_coordinator_opts;

/* Exit code when stopped by should_stop: the job stays resumable. */
#define VM_EXIT_INTERRUPTED 130

/* Plan (or pick up an existing job), create the collection, publish the
 * tasks, wait for the workers, reconcile and write the report. Returns the
 * process exit code: 0 when every count agrees, 1 when the job failed or
 * the counts do not agree, 2 for a configuration error. Running it again
 * for a job that exists continues that job instead of planning anew. */
int vm_coordinator_run(const vm_job_conf *job, const vm_coordinator_opts *opts);

#endif

/*
 * coordinator.h - run a job as its coordinator.
 */
#ifndef VM_COORDINATOR_H
#define VM_COORDINATOR_H

#include <stdbool.h>

#include "vm_config.h"
#include "vm_metrics.h"

typedef struct vm_coordinator_opts {
    const char *report_path; /* NULL: vecmig-report-<job>.json in the working directory */
    bool quiet;              /* no progress output */
    bool progress_bar;       /* one redrawn line on a terminal instead of log lines */
    bool json;               /* print the final report as JSON on stdout */
    bool report_md;          /* also write the report as Markdown beside the JSON file */
    bool report_html;        /* ... and as a self-contained HTML page (<report>.html) */
    bool resume;             /* vecmig resume: clear a cancel request, reset failed
                              * tasks, continue a cancelled, failed or done job (and
                              * plan a job that has no state yet) */
    /* In-process workers (vecmig migrate): any queue and state backend is
     * accepted; start_workers is called once the tasks are published,
     * stop_workers before reconciling, should_stop between progress
     * updates (Ctrl-C). NULL start_workers: distributed (kafka + redis). */
    int (*start_workers)(void *ctx, vm_err *err);
    void (*stop_workers)(void *ctx);
    bool (*should_stop)(void *ctx);
    void *ctx;
    vm_metrics *metrics;     /* NULL: none; else the job's task and row gauges */
    struct vm_api *api;      /* NULL: none; else told while this run is active (api.h) */
} vm_coordinator_opts;

/* Exit code when stopped by should_stop: the job stays resumable. */
#define VM_EXIT_INTERRUPTED 130
/* Exit code when the job was cancelled (vecmig cancel), or is cancelled
 * and the run is not a resume: `vecmig resume` continues it. */
#define VM_EXIT_CANCELLED 4

/* Plan (or pick up an existing job), create the collection, publish the
 * tasks, wait for the workers, reconcile and write the report. Returns the
 * process exit code: 0 when every count agrees, 1 when the job failed or
 * the counts do not agree, 2 for a configuration error, 4 when the job was
 * cancelled, 130 when interrupted. Running it again for a job that exists
 * continues that job instead of planning anew (a cancelled one only with
 * opts->resume).
 *
 * Every phase can be interrupted (the process killed) and run again:
 *   planning     job and tasks are recorded before the collection is
 *                created, and only after a check that no collection of that
 *                name exists; a collection found later is this job's own
 *                and accepted (after the append check of its schema); a
 *                job whose tasks were not all recorded is planned anew
 *   publishing   every unfinished task is published again (duplicates are
 *                resolved by the claim in the state store)
 *   running      expired leases are published again, checkpoints resume
 *   reconciling  counts are taken again; a load or indexes left by an
 *                interrupted count on the job's own collection are undone */
int vm_coordinator_run(const vm_job_conf *job, const vm_coordinator_opts *opts);

#endif

/*
 * report.h - reconciliation and the migration report.
 *
 * At the end of a job the coordinator counts the source again, sums what
 * every task read and wrote (from the state store), counts the target
 * exactly (count(*), after making the collection queryable if it is not),
 * and decides:
 *   ok              source at start = source at end = rows read = rows
 *                   written = target rows (minus what an appended-to
 *                   collection held before, when that was known)
 *   source_changed  the source's count moved during the run: reported as
 *                   such, not as loss; the other counts are still shown
 *   mismatch        counts disagree although the source did not change
 *   failed          tasks failed for good or the run could not finish
 *   cancelled       the job was cancelled (vecmig cancel): the counts say
 *                   how far it got; rows_written is the sum of the
 *                   checkpoints, target_rows what the target holds
 * Only `ok` makes the coordinator exit 0.
 *
 * Reconciling can run again (a coordinator killed while reconciling is
 * started again): indexes and a load made only for counting are undone,
 * also when an interrupted earlier count left them behind on a collection
 * the job created.
 */
#ifndef VM_REPORT_H
#define VM_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "vm_config.h"
#include "vm_connector.h"
#include "vm_state.h"

typedef enum vm_verdict {
    VM_VERDICT_OK = 0,
    VM_VERDICT_SOURCE_CHANGED,
    VM_VERDICT_MISMATCH,
    VM_VERDICT_FAILED,
    VM_VERDICT_CANCELLED,
} vm_verdict;

typedef struct vm_report_opts {
    bool cancelled;      /* verdict cancelled; the mapping's indexes and load are left
                          * for the end of the job, what counting needed is undone */
    bool target_created; /* the job created the collection: a load found at counting
                          * time (an earlier count that was interrupted) is the job's
                          * own and undone as the mapping asks */
    const char *const *errors; /* errors seen during the run (e.g. failed attempts the
                                * coordinator retried), oldest first: error samples */
    size_t nerrors;
} vm_report_opts;

typedef struct vm_report {
    vm_verdict verdict;
    json_t *doc; /* the whole report */
} vm_report;

const char *vm_verdict_name(vm_verdict v);

int vm_report_build(const vm_job_conf *job, vm_source *src, vm_sink *sink, vm_state *state,
                    const vm_schema *target, const json_t *record, const vm_report_opts *opts,
                    vm_report *out, vm_err *err);
int vm_report_write(const vm_report *r, const char *path, vm_err *err);
void vm_report_print(const vm_report *r, FILE *f);
void vm_report_release(vm_report *r);

/* ---- details and renderings (report_render.c) ------------------------------
 *
 * Keys the details add to the document (besides the ones above):
 *   tasks[]: first_claim_at, finished_at (store clock, ISO 8601 UTC or
 *     null), duration_ms (first claim to finish of a done task, else null),
 *     run_ms (time its attempts ran), retries, splits, values_changed,
 *     values_truncated
 *   verdict_reason  one line explaining the verdict
 *   time            started_at (the job's creation), finished_at, seconds,
 *                   copy_started_at / copy_finished_at / copy_seconds (first
 *                   claim to last finish)
 *   throughput      rows_per_second (rows written / seconds),
 *                   copy_rows_per_second (rows written / copy_seconds)
 *   retries         write_retries, batch_splits, task_attempts, tasks_retried,
 *                   run_ms
 *   lossy           values_changed, values_truncated (summed over tasks),
 *                   fields (targets the mapping marks lossy), per_field_counts
 *                   (false: the counts are not kept per field)
 *   failures        tasks (not done with an error, or failed: id, range,
 *                   state, attempts, error), errors (the first
 *                   VM_REPORT_ERROR_SAMPLES distinct messages job-wide),
 *                   distinct_errors
 */
#define VM_REPORT_ERROR_SAMPLES 10

typedef struct vm_report_sums {
    int64_t tasks, done, failed;
    int64_t attempts, tasks_retried;
    int64_t retries, splits, changed, truncated, run_ms;
    int64_t first_claim_ms, last_finish_ms; /* store clock; 0: none */
    int64_t distinct_errors;
    json_t *failed_tasks; /* array */
    json_t *errors;       /* distinct messages, first seen first */
} vm_report_sums;

void vm_report_sums_init(vm_report_sums *s);
void vm_report_sums_release(vm_report_sums *s);
/* Count errors seen during the run in the samples (before the tasks'). */
void vm_report_sums_errors(vm_report_sums *s, const char *const *errors, size_t n);
/* Add the per-task keys to the task's object o and sum them into s. */
int vm_report_task_detail(json_t *o, const vm_task_status *t, const char *range,
                          vm_report_sums *s);
/* Add verdict_reason, time, throughput, retries, lossy, failures to doc
 * (which holds verdict and counts). started_ms / now_ms: epoch ms. */
int vm_report_details(json_t *doc, vm_report_sums *s, int64_t started_ms, int64_t now_ms);
/* Change the verdict (and its reason, when not NULL). */
void vm_report_set_verdict(vm_report *r, vm_verdict v, const char *reason);

typedef enum vm_report_format {
    VM_REPORT_JSON = 0,
    VM_REPORT_MD,
    VM_REPORT_HTML,
} vm_report_format;

/* "json" | "md" (or "markdown") | "html" -> 0; -1 if unknown. */
int vm_report_format_parse(const char *name, vm_report_format *out);
/* The path of a rendering next to a report file: "r.json" -> "r.md",
 * other names get the extension appended ("r" -> "r.html"). */
void vm_report_sibling(const char *path, vm_report_format fmt, char *out, size_t cap);
/* Write doc (a report document, built or read back) as JSON (indented, as
 * the report file), Markdown or a self-contained HTML page. Every string
 * from the document is escaped for the format. */
int vm_report_render(const json_t *doc, vm_report_format fmt, FILE *f, vm_err *err);
int vm_report_render_file(const json_t *doc, vm_report_format fmt, const char *path,
                          vm_err *err);

#endif

/*
 * status_fmt.h - the pure part of `vecmig status`: rate, ETA, durations,
 * progress bars, one-line summaries and the JSON documents (stable keys,
 * documented in the README's "vecmig status" paragraphs). No I/O here, so
 * the unit test (tests/unit/test_status.c) covers it all.
 */
#ifndef VM_STATUS_FMT_H
#define VM_STATUS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_state.h"

/* A job's figures as status shows them. */
typedef struct vm_status_job {
    const char *id;
    vm_job_state state;
    bool cancel_requested;
    int64_t rows_done;  /* rows written (the job's counter) */
    int64_t rows_total; /* the source's row count at planning; <= 0: unknown */
    int64_t tasks_total, pending, running, done, failed;
    double rate;    /* rows/s; < 0: unknown */
    int64_t age_ms; /* since the job was created (store clock) */
} vm_status_job;

/* rows/s between two samples; -1 when it cannot be told (no time passed,
 * a sample missing (t <= 0) or rows going back). */
double vm_status_rate(int64_t rows0, int64_t t0_ms, int64_t rows1, int64_t t1_ms);
/* Seconds to go at `rate` for `remaining` rows; 0 when nothing remains,
 * -1 when unknown (rate <= 0, or the total unknown: remaining < 0). */
int64_t vm_status_eta_s(int64_t remaining, double rate);
/* "42s", "3m05s", "2h07m", "3d04h"; "-" for a negative (unknown) value. */
void vm_status_duration(int64_t seconds, char *buf, size_t size);
/* Percent done in 0..100; -1 when the total is unknown. */
double vm_status_pct(int64_t done, int64_t total);
/* "[#####.....]" with `width` cells between the brackets (1..200) for the
 * fraction pct (0..100; < 0 draws an empty bar). */
void vm_status_bar(double pct, int width, char *buf, size_t size);
/* The ETA of a job, -1 when unknown or the job is over. */
int64_t vm_status_job_eta_s(const vm_status_job *j);
/* One line: id, state, rows done/total, %, rows/s, ETA, errors, tasks
 * done/running/pending/failed, age. No newline. */
void vm_status_job_line(const vm_status_job *j, char *buf, size_t size);
/* Whether the state is final (done, failed, cancelled). */
bool vm_status_final(vm_job_state s);

/* The job's JSON object: id, state, cancel_requested, rows_done,
 * rows_total (null if unknown), percent (null), rows_per_s (null), eta_s
 * (null), errors, task_counts {total, done, running, pending, failed},
 * age_s. */
json_t *vm_status_job_json(const vm_status_job *j);
/* A task: id, state, range, owner (null), rows_read, rows_written,
 * attempts, lease_left_ms (running only, else null; negative: expired),
 * error (null). now_ms: the store clock. */
json_t *vm_status_task_json(const vm_task_status *t, int64_t now_ms);
/* A worker: id, task (null when none), rows, last_beat_ms (store clock),
 * beat_age_ms, alive (its last beat is at most alive_ms old). */
json_t *vm_status_worker_json(const vm_worker_status *w, int64_t now_ms, int64_t alive_ms);

#endif

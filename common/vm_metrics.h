/*
 * vm_metrics.h - Prometheus metrics: a lock-cheap registry and vecmig's
 * catalog of metrics, rendered in the text exposition format 0.0.4.
 *
 * A registry holds families (name, type, help, label names, histogram
 * buckets) and, per family, series (one tuple of label values each). A
 * series is looked up once (vm_metrics_series takes the registry's mutex)
 * and then updated through its handle with atomics only: a counter add or a
 * histogram observation on the data path costs a few atomic operations and
 * never a lock. Handles stay valid until the registry is freed. Every update
 * function accepts a NULL handle and does nothing, so code can run with
 * metrics off without a branch at each call site.
 *
 * Rendering (vm_metrics_render) walks the families in registration order
 * and their series in creation order; values are read atomically one by
 * one, so a scrape during updates sees each value as of some instant (a
 * histogram's _count is the sum of its buckets as read, so +Inf == _count
 * always holds).
 *
 * The catalog: vm_metrics_new_vecmig() registers every metric vecmig
 * exports (see the table in vm_metrics.c and README "Monitoring");
 * vm_worker_metrics / vm_job_metrics resolve the series of one worker or
 * one job so the worker and coordinator update them through plain fields.
 */
#ifndef VM_METRICS_H
#define VM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_buf.h"
#include "vm_err.h"

#define VM_METRIC_MAX_LABELS 4
#define VM_METRIC_MAX_BUCKETS 32

typedef enum vm_metric_type {
    VM_METRIC_COUNTER,
    VM_METRIC_GAUGE,
    VM_METRIC_HISTOGRAM,
} vm_metric_type;

/* A family, described once (static data; the registry keeps the pointer). */
typedef struct vm_metric_def {
    const char *name;   /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    vm_metric_type type;
    const char *help;
    const char *labels[VM_METRIC_MAX_LABELS + 1]; /* label names, NULL-terminated */
    const double *buckets; /* histogram: ascending upper bounds (+Inf implied) */
    size_t nbuckets;
} vm_metric_def;

typedef struct vm_metrics vm_metrics;
typedef struct vm_metric vm_metric; /* one series */

int vm_metrics_new(vm_metrics **out, vm_err *err);
void vm_metrics_free(vm_metrics *m);

/* Add a family. Checks the name, label names (no "le" on histograms, no
 * "__" prefix), bucket order and uniqueness of the name: VM_ERR_INVALID /
 * VM_ERR_EXISTS naming it. */
int vm_metrics_register(vm_metrics *m, const vm_metric_def *def, vm_err *err);

/* The series of family `name` with these label values (as many as the
 * family has label names; NULL when it has none), created on first use.
 * NULL when m is NULL, the family is unknown, or out of memory. */
vm_metric *vm_metrics_series(vm_metrics *m, const char *name, const char *const *values);

/* Updates; all accept NULL. */
void vm_metric_add(vm_metric *s, double v); /* counter (v >= 0, else ignored) or gauge */
void vm_metric_inc(vm_metric *s);
void vm_metric_set(vm_metric *s, double v); /* gauge */
void vm_metric_observe(vm_metric *s, double v); /* histogram */

/* Reads, for tests and progress: a counter's or gauge's value, a
 * histogram's count and sum. 0 for NULL. */
double vm_metric_value(const vm_metric *s);
uint64_t vm_metric_hist_count(const vm_metric *s);
double vm_metric_hist_sum(const vm_metric *s);

/* Append the text exposition (format 0.0.4) of every family with at least
 * one series to out. VM_ERR_NOMEM when the buffer could not grow. */
int vm_metrics_render(vm_metrics *m, vm_buf *out, vm_err *err);

#define VM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct vm_httpd;
/* Register GET /metrics on an HTTP server (vm_httpd.h) that is not yet
 * started; the registry must outlive the server. */
int vm_metrics_route(struct vm_httpd *s, vm_metrics *m, vm_err *err);
/* A server of its own for /metrics (and the probes /healthz, /readyz of
 * vm_health.h) on `listen` ("host:port", port 0: any),
 * started; logs the address it serves. Free with vm_httpd_free. */
int vm_metrics_serve(vm_metrics *m, const char *listen, struct vm_httpd **out, vm_err *err);

/* ------------------------------------------------ vecmig's catalog */

/* Every family vecmig exports, NULL-terminated (for docs and the dashboard
 * check). */
const vm_metric_def *const *vm_metrics_catalog(void);

/* A registry with the whole catalog registered, process_start_time_seconds
 * and vecmig_build_info set. */
int vm_metrics_new_vecmig(vm_metrics **out, vm_err *err);

/* Why a write request was retried (label cause of vecmig_retries_total). */
typedef enum vm_retry_cause {
    VM_RETRY_RATE_LIMITED,
    VM_RETRY_UNAVAILABLE,
    VM_RETRY_TIMEOUT,
    VM_RETRY_IO,
    VM_RETRY_TOO_LARGE, /* the request was split in halves */
    VM_RETRY_OTHER,
    VM_RETRY_NCAUSES,
} vm_retry_cause;

vm_retry_cause vm_retry_cause_of(vm_code code);
const char *vm_retry_cause_name(vm_retry_cause c);

/* One worker's series (labels job, worker). With m NULL every handle is
 * NULL and updates do nothing. VM_ERR_NOMEM. */
typedef struct vm_worker_metrics {
    vm_metric *rows_read, *rows_written, *bytes_written;
    vm_metric *batch_write_seconds, *source_read_seconds;
    vm_metric *retries[VM_RETRY_NCAUSES];
    vm_metric *tasks_completed, *tasks_failed;
    vm_metric *busy;
} vm_worker_metrics;

int vm_worker_metrics_init(vm_metrics *m, const char *job, const char *worker,
                           vm_worker_metrics *out, vm_err *err);

/* One job's series as the coordinator sees them (label job; tasks also by
 * state). */
typedef struct vm_job_metrics {
    vm_metric *tasks_pending, *tasks_running, *tasks_done, *tasks_failed;
    vm_metric *rows_total, *rows_done;
} vm_job_metrics;

int vm_job_metrics_init(vm_metrics *m, const char *job, vm_job_metrics *out, vm_err *err);
/* Set the gauges from the state store's counters. rows_total < 0: unknown
 * (left as it was). */
void vm_job_metrics_update(const vm_job_metrics *jm, int64_t rows_total, int64_t rows_done,
                           int64_t pending, int64_t running, int64_t done, int64_t failed);

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC), for timing. */
double vm_metrics_now(void);

#endif

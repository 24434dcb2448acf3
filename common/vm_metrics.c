/*
 * vm_metrics.c - the metrics registry, its text exposition, and vecmig's
 * catalog of metrics (see vm_metrics.h).
 *
 * Values are doubles kept as their bit patterns in _Atomic uint64_t and
 * updated with a compare-and-swap loop (C11 has no atomic double add);
 * histogram buckets are plain atomic counters. A mutex guards only the
 * lists (registration, series creation, rendering), never an update.
 *
 * Names follow the Prometheus conventions: vecmig_ prefix, base units
 * (seconds, bytes), _total only on counters (so the job's row total is the
 * gauge vecmig_job_source_rows, not vecmig_job_rows_total).
 *
 * Why `job_id` and not `job` as the label: Prometheus attaches its own
 * `job` label (the scrape job) to every series and renames a scraped `job`
 * to `exported_job` unless honor_labels is set, so a `job` label would not
 * survive a default scrape config.
 */
#include "vm_metrics.h"
#include "vm_httpd.h"
#include "vm_health.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vm_metric {
    const vm_metric_def *def;
    char *values[VM_METRIC_MAX_LABELS];
    size_t nlabels;
    _Atomic uint64_t bits;   /* counter / gauge value; histogram sum */
    _Atomic uint64_t *counts; /* histogram: per bucket (not cumulative), last = +Inf */
    struct vm_metric *next;
};

typedef struct vm_family {
    const vm_metric_def *def;
    size_t nlabels;
    vm_metric *first, *last;
} vm_family;

struct vm_metrics {
    pthread_mutex_t lock;
    vm_family *fams;
    size_t nfams, cap;
};

/* ------------------------------------------------------------ atomics */

static uint64_t vm_dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double vm_bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void vm_atomic_add_d(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, vm_dbits(vm_bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ----------------------------------------------------------- registry */

int vm_metrics_new(vm_metrics **out, vm_err *err)
{
    *out = NULL;
    vm_metrics *m = vm_calloc(1, sizeof *m);
    if (!m)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        vm_free(m);
        return vm_err_setc(err, VM_ERR_NOMEM, "metrics: cannot create a mutex");
    }
    *out = m;
    return VM_OK;
}

static void vm_metric_free(vm_metric *s)
{
    for (size_t i = 0; i < s->nlabels; i++)
        vm_free(s->values[i]);
    vm_free(s->counts);
    vm_free(s);
}

void vm_metrics_free(vm_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++) {
        vm_metric *s = m->fams[i].first;
        while (s) {
            vm_metric *next = s->next;
            vm_metric_free(s);
            s = next;
        }
    }
    vm_free(m->fams);
    pthread_mutex_destroy(&m->lock);
    vm_free(m);
}

static bool vm_metric_name_ok(const char *n, bool colon)
{
    if (!n || !*n)
        return false;
    for (const char *p = n; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (colon && c == ':');
        if (!alpha && !(p > n && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

int vm_metrics_register(vm_metrics *m, const vm_metric_def *def, vm_err *err)
{
    if (!vm_metric_name_ok(def->name, true))
        return vm_err_setc(err, VM_ERR_INVALID, "metrics: bad metric name '%s'",
                           def->name ? def->name : "");
    size_t nl = 0;
    for (; nl <= VM_METRIC_MAX_LABELS && def->labels[nl]; nl++) {
        const char *l = def->labels[nl];
        if (nl == VM_METRIC_MAX_LABELS || !vm_metric_name_ok(l, false) ||
            strncmp(l, "__", 2) == 0 || (def->type == VM_METRIC_HISTOGRAM && !strcmp(l, "le")))
            return vm_err_setc(err, VM_ERR_INVALID, "metrics: %s: bad label name '%s'",
                               def->name, l);
        for (size_t j = 0; j < nl; j++)
            if (!strcmp(def->labels[j], l))
                return vm_err_setc(err, VM_ERR_INVALID, "metrics: %s: label '%s' twice",
                                   def->name, l);
    }
    if (def->type == VM_METRIC_HISTOGRAM) {
        if (!def->buckets || def->nbuckets == 0 || def->nbuckets > VM_METRIC_MAX_BUCKETS)
            return vm_err_setc(err, VM_ERR_INVALID, "metrics: %s: 1..%d buckets needed",
                               def->name, VM_METRIC_MAX_BUCKETS);
        for (size_t i = 0; i < def->nbuckets; i++)
            if (!isfinite(def->buckets[i]) || (i > 0 && def->buckets[i] <= def->buckets[i - 1]))
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "metrics: %s: buckets must be finite and ascending",
                                   def->name);
    }
    int rc = VM_OK;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfams; i++)
        if (!strcmp(m->fams[i].def->name, def->name)) {
            rc = vm_err_setc(err, VM_ERR_EXISTS, "metrics: %s registered twice", def->name);
            goto out;
        }
    if (vm_grow((void **)&m->fams, &m->cap, m->nfams + 1, sizeof *m->fams) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto out;
    }
    m->fams[m->nfams++] = (vm_family){.def = def, .nlabels = nl};
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

vm_metric *vm_metrics_series(vm_metrics *m, const char *name, const char *const *values)
{
    if (!m || !name)
        return NULL;
    vm_metric *found = NULL;
    pthread_mutex_lock(&m->lock);
    vm_family *f = NULL;
    for (size_t i = 0; i < m->nfams && !f; i++)
        if (!strcmp(m->fams[i].def->name, name))
            f = &m->fams[i];
    if (!f)
        goto out;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!values || !values[i])
            goto out;
    for (vm_metric *s = f->first; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && !strcmp(s->values[i], values[i]))
            i++;
        if (i == f->nlabels) {
            found = s;
            goto out;
        }
    }
    vm_metric *s = vm_calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->def = f->def;
    atomic_init(&s->bits, vm_dbits(0.0));
    for (; s->nlabels < f->nlabels; s->nlabels++)
        if (!(s->values[s->nlabels] = vm_strdup(values[s->nlabels]))) {
            vm_metric_free(s);
            goto out;
        }
    if (f->def->type == VM_METRIC_HISTOGRAM) {
        if (!(s->counts = vm_calloc(f->def->nbuckets + 1, sizeof *s->counts))) {
            vm_metric_free(s);
            goto out;
        }
        for (size_t i = 0; i <= f->def->nbuckets; i++)
            atomic_init(&s->counts[i], 0);
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    found = s;
out:
    pthread_mutex_unlock(&m->lock);
    return found;
}

/* ------------------------------------------------------------ updates */

void vm_metric_add(vm_metric *s, double v)
{
    if (!s || s->def->type == VM_METRIC_HISTOGRAM || isnan(v))
        return;
    if (s->def->type == VM_METRIC_COUNTER && v < 0)
        return; /* counters only go up */
    vm_atomic_add_d(&s->bits, v);
}

void vm_metric_inc(vm_metric *s) { vm_metric_add(s, 1.0); }

void vm_metric_set(vm_metric *s, double v)
{
    if (s && s->def->type == VM_METRIC_GAUGE)
        atomic_store_explicit(&s->bits, vm_dbits(v), memory_order_relaxed);
}

void vm_metric_observe(vm_metric *s, double v)
{
    if (!s || s->def->type != VM_METRIC_HISTOGRAM || isnan(v))
        return;
    const double *b = s->def->buckets;
    size_t lo = 0, hi = s->def->nbuckets; /* first bucket with v <= bound; nbuckets = +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&s->counts[lo], 1, memory_order_relaxed);
    vm_atomic_add_d(&s->bits, v);
}

double vm_metric_value(const vm_metric *s)
{
    return s ? vm_bitsd(atomic_load_explicit(&((vm_metric *)s)->bits, memory_order_relaxed))
             : 0.0;
}

uint64_t vm_metric_hist_count(const vm_metric *s)
{
    if (!s || !s->counts)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= s->def->nbuckets; i++)
        n += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    return n;
}

double vm_metric_hist_sum(const vm_metric *s)
{
    return s && s->counts ? vm_metric_value(s) : 0.0;
}

double vm_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------- rendering */

/* Prometheus floats: NaN, +Inf, -Inf; integers below 10^15 without a
 * fraction or exponent (row counts read as such); otherwise the shortest
 * %g that reads back as the same double. */
static void vm_metrics_fmt(double v, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, cap, "%.0f", v);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

static void vm_metrics_num(vm_buf *b, double v)
{
    char tmp[40];
    vm_metrics_fmt(v, tmp, sizeof tmp);
    vm_buf_puts(b, tmp);
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void vm_metrics_escape(vm_buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            vm_buf_puts(b, "\\\\");
        else if (*s == '\n')
            vm_buf_puts(b, "\\n");
        else if (quote && *s == '"')
            vm_buf_puts(b, "\\\"");
        else
            vm_buf_putc(b, *s);
    }
}

/* {a="x",b="y"[,le="0.5"]} or nothing when there are no labels. */
static void vm_metrics_labels(vm_buf *b, const vm_metric *s, const char *le)
{
    if (s->nlabels == 0 && !le)
        return;
    vm_buf_putc(b, '{');
    for (size_t i = 0; i < s->nlabels; i++) {
        if (i)
            vm_buf_putc(b, ',');
        vm_buf_puts(b, s->def->labels[i]);
        vm_buf_puts(b, "=\"");
        vm_metrics_escape(b, s->values[i], true);
        vm_buf_putc(b, '"');
    }
    if (le) {
        if (s->nlabels)
            vm_buf_putc(b, ',');
        vm_buf_puts(b, "le=\"");
        vm_buf_puts(b, le);
        vm_buf_putc(b, '"');
    }
    vm_buf_putc(b, '}');
}

static void vm_metrics_render_hist(vm_buf *b, const vm_metric *s)
{
    const vm_metric_def *d = s->def;
    uint64_t cum = 0;
    char le[40];
    for (size_t i = 0; i <= d->nbuckets; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        vm_metrics_fmt(i < d->nbuckets ? d->buckets[i] : INFINITY, le, sizeof le);
        vm_buf_puts(b, d->name);
        vm_buf_puts(b, "_bucket");
        vm_metrics_labels(b, s, le);
        vm_buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    vm_buf_puts(b, d->name);
    vm_buf_puts(b, "_sum");
    vm_metrics_labels(b, s, NULL);
    vm_buf_putc(b, ' ');
    vm_metrics_num(b, vm_metric_value(s));
    vm_buf_putc(b, '\n');
    vm_buf_puts(b, d->name);
    vm_buf_puts(b, "_count");
    vm_metrics_labels(b, s, NULL);
    vm_buf_printf(b, " %llu\n", (unsigned long long)cum);
}

int vm_metrics_render(vm_metrics *m, vm_buf *out, vm_err *err)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfams; i++) {
        const vm_family *f = &m->fams[i];
        if (!f->first)
            continue;
        vm_buf_printf(out, "# HELP %s ", f->def->name);
        vm_metrics_escape(out, f->def->help ? f->def->help : "", false);
        vm_buf_printf(out, "\n# TYPE %s %s\n", f->def->name, type_names[f->def->type]);
        for (const vm_metric *s = f->first; s; s = s->next) {
            if (f->def->type == VM_METRIC_HISTOGRAM) {
                vm_metrics_render_hist(out, s);
                continue;
            }
            vm_buf_puts(out, f->def->name);
            vm_metrics_labels(out, s, NULL);
            vm_buf_putc(out, ' ');
            vm_metrics_num(out, vm_metric_value(s));
            vm_buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
    return vm_buf_ok(out) ? VM_OK : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------ catalog */

/* Seconds: from a 1 ms local read to a minute-long write under retries. */
static const double vm_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,      2.5,   5,    10,    30,   60};
#define VM_NLAT (sizeof vm_latency_buckets / sizeof vm_latency_buckets[0])

#define VM_WL {"job_id", "worker", NULL}
static const vm_metric_def vm_def_build_info = {
    "vecmig_build_info", VM_METRIC_GAUGE, "vecmig version; always 1.", {"version", NULL}, NULL, 0};
static const vm_metric_def vm_def_start_time = {
    "process_start_time_seconds", VM_METRIC_GAUGE,
    "Start time of the process since the Unix epoch in seconds.", {NULL}, NULL, 0};
static const vm_metric_def vm_def_rows_read = {
    "vecmig_rows_read_total", VM_METRIC_COUNTER, "Rows read from the source.", VM_WL, NULL, 0};
static const vm_metric_def vm_def_rows_written = {
    "vecmig_rows_written_total", VM_METRIC_COUNTER,
    "Rows written to the target and confirmed by it.", VM_WL, NULL, 0};
static const vm_metric_def vm_def_bytes_written = {
    "vecmig_bytes_written_total", VM_METRIC_COUNTER,
    "Request body bytes of the write requests the target confirmed.", VM_WL, NULL, 0};
static const vm_metric_def vm_def_batch_write = {
    "vecmig_batch_write_seconds", VM_METRIC_HISTOGRAM,
    "Time to write one batch until the target confirmed it, retries and splits included.",
    VM_WL, vm_latency_buckets, VM_NLAT};
static const vm_metric_def vm_def_source_read = {
    "vecmig_source_read_seconds", VM_METRIC_HISTOGRAM, "Time of one batch read from the source.",
    VM_WL, vm_latency_buckets, VM_NLAT};
static const vm_metric_def vm_def_retries = {
    "vecmig_retries_total", VM_METRIC_COUNTER,
    "Write requests retried, by cause (too_large: split in halves).",
    {"job_id", "worker", "cause", NULL}, NULL, 0};
static const vm_metric_def vm_def_tasks_completed = {
    "vecmig_tasks_completed_total", VM_METRIC_COUNTER, "Tasks this worker finished.", VM_WL,
    NULL, 0};
static const vm_metric_def vm_def_tasks_failed = {
    "vecmig_tasks_failed_total", VM_METRIC_COUNTER,
    "Task attempts of this worker that failed (the coordinator may retry them).", VM_WL, NULL,
    0};
static const vm_metric_def vm_def_busy = {
    "vecmig_worker_busy", VM_METRIC_GAUGE, "1 while the worker runs a task, else 0.", VM_WL,
    NULL, 0};
static const vm_metric_def vm_def_tasks = {
    "vecmig_tasks", VM_METRIC_GAUGE,
    "Tasks of the job by state, from the state store (pending is the queue's backlog).",
    {"job_id", "state", NULL}, NULL, 0};
static const vm_metric_def vm_def_job_rows_total = {
    "vecmig_job_source_rows", VM_METRIC_GAUGE,
    "Source rows of the job, counted when it was planned.",
    {"job_id", NULL}, NULL, 0};
static const vm_metric_def vm_def_job_rows_done = {
    "vecmig_job_rows_done", VM_METRIC_GAUGE,
    "Rows of the job written and checkpointed, from the state store.", {"job_id", NULL}, NULL,
    0};

static const vm_metric_def *const vm_catalog[] = {
    &vm_def_build_info,     &vm_def_start_time,     &vm_def_rows_read,
    &vm_def_rows_written,   &vm_def_bytes_written,  &vm_def_batch_write,
    &vm_def_source_read,    &vm_def_retries,        &vm_def_tasks_completed,
    &vm_def_tasks_failed,   &vm_def_busy,           &vm_def_tasks,
    &vm_def_job_rows_total, &vm_def_job_rows_done,  NULL,
};

const vm_metric_def *const *vm_metrics_catalog(void) { return vm_catalog; }

int vm_metrics_new_vecmig(vm_metrics **out, vm_err *err)
{
    vm_metrics *m;
    int rc = vm_metrics_new(&m, err);
    if (rc != VM_OK)
        return rc;
    for (size_t i = 0; vm_catalog[i]; i++)
        if ((rc = vm_metrics_register(m, vm_catalog[i], err)) != VM_OK)
            goto fail;
    const char *ver[] = {VECMIG_VERSION};
    vm_metric *bi = vm_metrics_series(m, "vecmig_build_info", ver);
    vm_metric *st = vm_metrics_series(m, "process_start_time_seconds", NULL);
    if (!bi || !st) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    vm_metric_set(bi, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    vm_metric_set(st, (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0);
    *out = m;
    return VM_OK;
fail:
    vm_metrics_free(m);
    return rc;
}

vm_retry_cause vm_retry_cause_of(vm_code code)
{
    switch (code) {
    case VM_ERR_RATE_LIMITED: return VM_RETRY_RATE_LIMITED;
    case VM_ERR_UNAVAILABLE: return VM_RETRY_UNAVAILABLE;
    case VM_ERR_TIMEOUT: return VM_RETRY_TIMEOUT;
    case VM_ERR_IO: return VM_RETRY_IO;
    case VM_ERR_TOO_LARGE: return VM_RETRY_TOO_LARGE;
    default: return VM_RETRY_OTHER;
    }
}

const char *vm_retry_cause_name(vm_retry_cause c)
{
    static const char *const names[] = {"rate_limited", "unavailable", "timeout",
                                        "io",           "too_large",   "other"};
    return c < VM_RETRY_NCAUSES ? names[c] : "other";
}

int vm_worker_metrics_init(vm_metrics *m, const char *job, const char *worker,
                           vm_worker_metrics *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return VM_OK;
    const char *l[] = {job, worker};
    out->rows_read = vm_metrics_series(m, vm_def_rows_read.name, l);
    out->rows_written = vm_metrics_series(m, vm_def_rows_written.name, l);
    out->bytes_written = vm_metrics_series(m, vm_def_bytes_written.name, l);
    out->batch_write_seconds = vm_metrics_series(m, vm_def_batch_write.name, l);
    out->source_read_seconds = vm_metrics_series(m, vm_def_source_read.name, l);
    bool ok = out->rows_read && out->rows_written && out->bytes_written &&
              out->batch_write_seconds && out->source_read_seconds;
    for (int c = 0; c < VM_RETRY_NCAUSES; c++) {
        const char *lc[] = {job, worker, vm_retry_cause_name((vm_retry_cause)c)};
        ok = (out->retries[c] = vm_metrics_series(m, vm_def_retries.name, lc)) && ok;
    }
    out->tasks_completed = vm_metrics_series(m, vm_def_tasks_completed.name, l);
    out->tasks_failed = vm_metrics_series(m, vm_def_tasks_failed.name, l);
    out->busy = vm_metrics_series(m, vm_def_busy.name, l);
    if (!ok || !out->tasks_completed || !out->tasks_failed || !out->busy) {
        memset(out, 0, sizeof *out);
        return vm_err_setc(err, VM_ERR_NOMEM, "metrics: out of memory");
    }
    return VM_OK;
}

int vm_job_metrics_init(vm_metrics *m, const char *job, vm_job_metrics *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return VM_OK;
    const char *l[] = {job};
    const char *lp[] = {job, "pending"}, *lr[] = {job, "running"}, *ld[] = {job, "done"},
               *lf[] = {job, "failed"};
    out->tasks_pending = vm_metrics_series(m, vm_def_tasks.name, lp);
    out->tasks_running = vm_metrics_series(m, vm_def_tasks.name, lr);
    out->tasks_done = vm_metrics_series(m, vm_def_tasks.name, ld);
    out->tasks_failed = vm_metrics_series(m, vm_def_tasks.name, lf);
    out->rows_total = vm_metrics_series(m, vm_def_job_rows_total.name, l);
    out->rows_done = vm_metrics_series(m, vm_def_job_rows_done.name, l);
    if (!out->tasks_pending || !out->tasks_running || !out->tasks_done || !out->tasks_failed ||
        !out->rows_total || !out->rows_done) {
        memset(out, 0, sizeof *out);
        return vm_err_setc(err, VM_ERR_NOMEM, "metrics: out of memory");
    }
    return VM_OK;
}

void vm_job_metrics_update(const vm_job_metrics *jm, int64_t rows_total, int64_t rows_done,
                           int64_t pending, int64_t running, int64_t done, int64_t failed)
{
    if (!jm)
        return;
    if (rows_total >= 0)
        vm_metric_set(jm->rows_total, (double)rows_total);
    vm_metric_set(jm->rows_done, (double)rows_done);
    vm_metric_set(jm->tasks_pending, (double)pending);
    vm_metric_set(jm->tasks_running, (double)running);
    vm_metric_set(jm->tasks_done, (double)done);
    vm_metric_set(jm->tasks_failed, (double)failed);
}

/* ------------------------------------------------------------ serving */

static int vm_metrics_handler(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp,
                              vm_err *err)
{
    (void)req;
    resp->status = 200;
    resp->content_type = VM_METRICS_CONTENT_TYPE;
    return vm_metrics_render(ctx, &resp->body, err);
}

int vm_metrics_route(vm_httpd *s, vm_metrics *m, vm_err *err)
{
    return vm_httpd_route(s, "GET", "/metrics", vm_metrics_handler, m, err);
}

int vm_metrics_serve(vm_metrics *m, const char *listen, vm_httpd **out, vm_err *err)
{
    vm_httpd_opts o = {.listen = listen, .threads = 1};
    vm_httpd *s = NULL;
    int rc = vm_httpd_new(&o, &s, err);
    if (rc == VM_OK && (rc = vm_metrics_route(s, m, err)) == VM_OK &&
        (rc = vm_health_route(s, err)) == VM_OK)
        rc = vm_httpd_start(s, err);
    if (rc != VM_OK) {
        vm_httpd_free(s);
        *out = NULL;
        return vm_err_prefix(err, "metrics: ");
    }
    char host[256];
    int port;
    vm_err e2;
    if (vm_httpd_parse_listen(listen, host, sizeof host, &port, &e2) != VM_OK)
        host[0] = '\0';
    bool v6 = strchr(host, ':') != NULL;
    vm_info("metrics: serving GET /metrics on %s%s%s:%d (and the probes /healthz, /readyz)",
            v6 ? "[" : "", *host ? host : "*", v6 ? "]" : "", vm_httpd_port(s));
    *out = s;
    return VM_OK;
}

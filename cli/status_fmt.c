/*
 * status_fmt.c - the pure part of `vecmig status` (see status_fmt.h).
 */
#include "status_fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vm_task.h"

double vm_status_rate(int64_t rows0, int64_t t0_ms, int64_t rows1, int64_t t1_ms)
{
    if (t0_ms <= 0 || t1_ms <= t0_ms || rows1 < rows0 || rows0 < 0)
        return -1;
    return (double)(rows1 - rows0) * 1000.0 / (double)(t1_ms - t0_ms);
}

int64_t vm_status_eta_s(int64_t remaining, double rate)
{
    if (remaining == 0)
        return 0;
    if (remaining < 0 || !(rate > 0))
        return -1;
    double s = ceil((double)remaining / rate);
    return s > 1e12 ? -1 : (int64_t)s;
}

void vm_status_duration(int64_t s, char *buf, size_t size)
{
    if (s < 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

double vm_status_pct(int64_t done, int64_t total)
{
    if (total <= 0)
        return -1;
    double p = (double)done * 100.0 / (double)total;
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

void vm_status_bar(double pct, int width, char *buf, size_t size)
{
    if (width < 1)
        width = 1;
    if (width > 200)
        width = 200;
    if (size < (size_t)width + 3) {
        if (size)
            buf[0] = '\0';
        return;
    }
    int fill = pct > 0 ? (int)(pct * width / 100.0 + 0.5) : 0;
    if (fill > width)
        fill = width;
    buf[0] = '[';
    for (int i = 0; i < width; i++)
        buf[1 + i] = i < fill ? '#' : '.';
    buf[width + 1] = ']';
    buf[width + 2] = '\0';
}

bool vm_status_final(vm_job_state s)
{
    return s == VM_JOB_DONE || s == VM_JOB_FAILED || s == VM_JOB_CANCELLED;
}

int64_t vm_status_job_eta_s(const vm_status_job *j)
{
    if (vm_status_final(j->state))
        return -1;
    int64_t remaining = j->rows_total > 0 ? j->rows_total - j->rows_done : -1;
    if (j->rows_total > 0 && remaining < 0)
        remaining = 0;
    return vm_status_eta_s(remaining, j->rate);
}

static const char *vm_status_state_label(const vm_status_job *j)
{
    if (j->cancel_requested && !vm_status_final(j->state))
        return "cancelling";
    return vm_job_state_name(j->state);
}

void vm_status_job_line(const vm_status_job *j, char *buf, size_t size)
{
    char total[24], pct[16], rate[24], eta[16], age[16];
    double p = vm_status_pct(j->rows_done, j->rows_total);
    if (j->rows_total > 0)
        snprintf(total, sizeof total, "%" PRId64, j->rows_total);
    else
        snprintf(total, sizeof total, "?");
    if (p >= 0)
        snprintf(pct, sizeof pct, "%.1f%%", p);
    else
        snprintf(pct, sizeof pct, "?%%");
    if (j->rate >= 0)
        snprintf(rate, sizeof rate, "%.0f rows/s", j->rate);
    else
        snprintf(rate, sizeof rate, "- rows/s");
    vm_status_duration(vm_status_job_eta_s(j), eta, sizeof eta);
    vm_status_duration(j->age_ms / 1000, age, sizeof age);
    snprintf(buf, size,
             "%s  %s  %" PRId64 "/%s rows  %s  %s  ETA %s  errors %" PRId64
             "  tasks %" PRId64 " done/%" PRId64 " running/%" PRId64 " pending/%" PRId64
             " failed  age %s",
             j->id, vm_status_state_label(j), j->rows_done, total, pct, rate, eta, j->failed,
             j->done, j->running, j->pending, j->failed, age);
}

static json_t *vm_status_num_or_null(double v, bool known)
{
    return known ? json_real(round(v * 10) / 10) : json_null();
}

json_t *vm_status_job_json(const vm_status_job *j)
{
    double p = vm_status_pct(j->rows_done, j->rows_total);
    int64_t eta = vm_status_job_eta_s(j);
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_string(j->id));
    bad |= json_object_set_new(o, "state", json_string(vm_job_state_name(j->state)));
    bad |= json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
    bad |= json_object_set_new(o, "rows_done", json_integer(j->rows_done));
    bad |= json_object_set_new(o, "rows_total",
                               j->rows_total > 0 ? json_integer(j->rows_total) : json_null());
    bad |= json_object_set_new(o, "percent", vm_status_num_or_null(p, p >= 0));
    bad |= json_object_set_new(o, "rows_per_s", vm_status_num_or_null(j->rate, j->rate >= 0));
    bad |= json_object_set_new(o, "eta_s", eta >= 0 ? json_integer(eta) : json_null());
    bad |= json_object_set_new(o, "errors", json_integer(j->failed));
    bad |= json_object_set_new(o, "task_counts",
                               json_pack("{s:I, s:I, s:I, s:I, s:I}", "total",
                                         (json_int_t)j->tasks_total, "done", (json_int_t)j->done,
                                         "running", (json_int_t)j->running, "pending",
                                         (json_int_t)j->pending, "failed",
                                         (json_int_t)j->failed));
    bad |= json_object_set_new(o, "age_s", json_integer(j->age_ms / 1000));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *vm_status_task_json(const vm_task_status *t, int64_t now_ms)
{
    char range[256];
    vm_task_describe(&t->task, range, sizeof range);
    bool running = t->state == VM_TASK_RUNNING;
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_integer(t->id));
    bad |= json_object_set_new(o, "state", json_string(vm_task_state_name(t->state)));
    bad |= json_object_set_new(o, "range", json_string(range));
    bad |= json_object_set_new(o, "owner", t->owner ? json_string(t->owner) : json_null());
    bad |= json_object_set_new(o, "rows_read", json_integer(t->rows_read));
    bad |= json_object_set_new(o, "rows_written", json_integer(t->rows_written));
    bad |= json_object_set_new(o, "attempts", json_integer(t->attempts));
    bad |= json_object_set_new(o, "lease_left_ms", running
                                                       ? json_integer(t->lease_until_ms - now_ms)
                                                       : json_null());
    bad |= json_object_set_new(o, "error", t->error ? json_string(t->error) : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *vm_status_worker_json(const vm_worker_status *w, int64_t now_ms, int64_t alive_ms)
{
    int64_t age = now_ms - w->last_beat_ms;
    if (age < 0)
        age = 0;
    return json_pack("{s:s, s:o, s:I, s:I, s:I, s:b}", "id", w->id, "task",
                     w->task_id >= 0 ? json_integer(w->task_id) : json_null(), "rows",
                     (json_int_t)w->rows, "last_beat_ms", (json_int_t)w->last_beat_ms,
                     "beat_age_ms", (json_int_t)age, "alive", age <= alive_ms);
}

/*
 * api.c - the coordinator's HTTP API and Jobs page (see api.h).
 *
 * Every answer is built from the state store at the time of the request:
 * the API holds no copy of the jobs, so it shows jobs run by other
 * coordinators on the same store as well. Rates are computed from the
 * tasks' first claims (store clock) to now (or to the last finish of an
 * ended job).
 */
#include "api.h"
#include "vm_httpd.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

struct vm_api {
    vm_httpd *srv;
    vm_state *state;
    pthread_mutex_t mu;
    char *token;
    char *served_job;
    atomic_bool active;
};

static const char *const vm_api_json_ct = "application/json; charset=utf-8";

bool vm_api_host_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

static int64_t vm_api_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ISO 8601 UTC of an epoch-ms time, or JSON null for 0. */
static json_t *vm_api_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* Answer a JSON document (stolen). */
static int vm_api_send(vm_httpd_resp *resp, int status, json_t *doc)
{
    if (!doc)
        return VM_ERR_NOMEM;
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s)
        return VM_ERR_NOMEM;
    int rc = vm_httpd_resp_text(resp, status, vm_api_json_ct, s);
    free(s);
    if (rc == VM_OK)
        rc = vm_httpd_resp_header(resp, "Cache-Control", "no-store");
    return rc;
}

static int vm_api_error(vm_httpd_resp *resp, int status, const char *msg)
{
    return vm_api_send(resp, status, json_pack("{s:s}", "error", msg));
}

/* A store error: 503 for a retriable one, else 500, with the message
 * (store messages carry no secrets). */
static int vm_api_store_error(vm_httpd_resp *resp, const vm_err *e)
{
    char msg[sizeof e->msg + 16];
    snprintf(msg, sizeof msg, "state store: %s", e->msg);
    return vm_api_error(resp, e->retriable ? 503 : 500, msg);
}

/* ------------------------------------------------------------ documents */

/* The job object of GET /api/jobs and /api/jobs/{id}. NULL with rc set. */
static json_t *vm_api_job_doc(vm_api *a, const char *id, int *rc, vm_err *err)
{
    vm_job_info info = {0};
    vm_job_counters k = {0};
    vm_task_status *tasks = NULL;
    size_t n = 0;
    json_t *doc = NULL;
    if ((*rc = vm_state_job_get(a->state, id, &info, err)) != VM_OK)
        return NULL;
    if ((*rc = vm_state_job_counters(a->state, id, &k, err)) != VM_OK ||
        (*rc = vm_state_tasks_list(a->state, id, &tasks, &n, err)) != VM_OK)
        goto cleanup;
    int64_t first = 0, last = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (tasks[i].first_claim_ms > 0 && (!first || tasks[i].first_claim_ms < first))
            first = tasks[i].first_claim_ms;
        if (tasks[i].finished_ms > last)
            last = tasks[i].finished_ms;
        if (tasks[i].error || tasks[i].state == VM_TASK_FAILED)
            errors++;
    }
    bool over = info.state == VM_JOB_DONE || info.state == VM_JOB_FAILED ||
                info.state == VM_JOB_CANCELLED;
    int64_t end = over && last > 0 ? last : vm_api_now_ms();
    double rate = first > 0 && end > first ? (double)k.rows_written * 1000.0 / (double)(end - first)
                                           : 0.0;
    json_t *rec = info.record;
    json_t *total = json_object_get(rec, "source_rows_start");
    int64_t tot = json_is_integer(total) ? (int64_t)json_integer_value(total) : -1;
    json_t *progress = json_null(), *eta = json_null();
    if (info.state == VM_JOB_DONE)
        progress = json_real(1.0);
    else if (tot > 0)
        progress = json_real(k.rows_written >= tot ? 1.0 : (double)k.rows_written / (double)tot);
    else if (tot == 0)
        progress = json_real(k.done >= k.tasks_total ? 1.0 : 0.0);
    if (!over && tot > 0 && rate > 0) {
        double left = (double)(tot > k.rows_written ? tot - k.rows_written : 0) / rate;
        eta = json_integer((json_int_t)(left + 0.5));
    }
    json_t *src = json_object_get(rec, "source"), *dst = json_object_get(rec, "target");
    doc = json_pack(
        "{s:s, s:s, s:b, s:o, s:o, s:o, s:{s:O?, s:O?}, s:{s:O?, s:O?}, s:o, s:I, s:I, s:o, "
        "s:f, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:b}",
        "id", id, "state", vm_job_state_name(info.state), "cancel_requested",
        info.cancel_ms > 0, "created_at", vm_api_time(info.created_ms), "updated_at",
        vm_api_time(info.updated_ms), "started_at", vm_api_time(first), "source", "type",
        json_object_get(src, "type"), "collection", json_object_get(src, "collection"), "target",
        "type", json_object_get(dst, "type"), "collection", json_object_get(dst, "collection"),
        "rows_total", tot >= 0 ? json_integer((json_int_t)tot) : json_null(), "rows_read",
        (json_int_t)k.rows_read, "rows_written", (json_int_t)k.rows_written, "progress",
        progress, "rows_per_second", rate, "eta_seconds", eta, "tasks", "total",
        (json_int_t)k.tasks_total, "pending", (json_int_t)k.pending, "running",
        (json_int_t)k.running, "done", (json_int_t)k.done, "failed", (json_int_t)k.failed,
        "errors", (json_int_t)errors, "served",
        a->served_job && strcmp(a->served_job, id) == 0);
    if (!doc)
        *rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
cleanup:
    vm_task_status_free_array(tasks, n);
    vm_job_info_release(&info);
    return doc;
}

static json_t *vm_api_task_doc(const vm_task_status *t)
{
    char range[256];
    vm_task_describe(&t->task, range, sizeof range);
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:s?, s:s?, s:o, s:o, s:I, s:I}", "id",
                     (json_int_t)t->id, "state", vm_task_state_name(t->state), "range", range,
                     "rows_read", (json_int_t)t->rows_read, "rows_written",
                     (json_int_t)t->rows_written, "attempts", (json_int_t)t->attempts, "owner",
                     t->owner, "error", t->error, "first_claim_at",
                     vm_api_time(t->first_claim_ms), "finished_at", vm_api_time(t->finished_ms),
                     "retries", (json_int_t)t->stats.retries, "est_rows",
                     (json_int_t)t->task.est_rows);
}

/* ------------------------------------------------------------- handlers */

static int vm_api_not_found(vm_httpd_resp *resp, const char *id)
{
    char msg[200];
    snprintf(msg, sizeof msg, "no job '%s'", id);
    return vm_api_error(resp, 404, msg);
}

static int vm_api_list(vm_api *a, vm_httpd_resp *resp)
{
    char **ids = NULL;
    size_t n = 0;
    vm_err e;
    vm_err_clear(&e);
    int rc = vm_state_jobs_list(a->state, &ids, &n, &e);
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *j = vm_api_job_doc(a, ids[i], &rc, &e);
        if (rc == VM_ERR_NOT_FOUND)
            continue; /* deleted meanwhile */
        if (!j) {
            json_decref(arr);
            vm_state_ids_free(ids, n);
            return rc == VM_ERR_NOMEM ? rc : vm_api_store_error(resp, &e);
        }
        json_array_append_new(arr, j);
    }
    vm_state_ids_free(ids, n);
    if (!arr)
        return VM_ERR_NOMEM;
    return vm_api_send(resp, 200, json_pack("{s:o}", "jobs", arr));
}

static int vm_api_get_job(vm_api *a, const char *id, vm_httpd_resp *resp)
{
    vm_err e;
    vm_err_clear(&e);
    int rc;
    json_t *j = vm_api_job_doc(a, id, &rc, &e);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_api_not_found(resp, id);
    if (!j)
        return rc == VM_ERR_NOMEM ? rc : vm_api_store_error(resp, &e);
    return vm_api_send(resp, 200, j);
}

static int vm_api_tasks(vm_api *a, const char *id, vm_httpd_resp *resp)
{
    vm_err e;
    vm_err_clear(&e);
    vm_job_info info;
    int rc = vm_state_job_get(a->state, id, &info, &e);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_api_not_found(resp, id);
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    vm_job_info_release(&info);
    vm_task_status *tasks = NULL;
    size_t n = 0;
    if ((rc = vm_state_tasks_list(a->state, id, &tasks, &n, &e)) != VM_OK)
        return vm_api_store_error(resp, &e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, vm_api_task_doc(&tasks[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    vm_task_status_free_array(tasks, n);
    if (!arr)
        return VM_ERR_NOMEM;
    return vm_api_send(resp, 200, json_pack("{s:s, s:o}", "job", id, "tasks", arr));
}

static int vm_api_report(vm_api *a, const char *id, vm_httpd_resp *resp)
{
    vm_err e;
    vm_err_clear(&e);
    vm_job_info info;
    int rc = vm_state_job_get(a->state, id, &info, &e);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_api_not_found(resp, id);
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    vm_job_state st = info.state;
    vm_job_info_release(&info);
    json_t *rep = NULL;
    rc = vm_state_job_report_get(a->state, id, &rep, &e);
    if (rc == VM_ERR_NOT_FOUND) {
        char msg[240];
        snprintf(msg, sizeof msg, "job '%s' has no report yet (it is %s)", id,
                 vm_job_state_name(st));
        return vm_api_error(resp, 404, msg);
    }
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    return vm_api_send(resp, 200, rep);
}

static int vm_api_cancel(vm_api *a, const char *id, vm_httpd_resp *resp)
{
    vm_err e;
    vm_err_clear(&e);
    vm_cancel_result cr;
    int rc = vm_state_job_cancel(a->state, id, &cr, &e);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_api_not_found(resp, id);
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    if (cr.state == VM_JOB_DONE || cr.state == VM_JOB_FAILED || cr.state == VM_JOB_CANCELLED) {
        char msg[240];
        snprintf(msg, sizeof msg, "job '%s' is already %s: nothing to cancel", id,
                 vm_job_state_name(cr.state));
        return vm_api_error(resp, 409, msg);
    }
    vm_info("api: job %s: cancel %s", id, cr.applied ? "requested" : "was already requested");
    return vm_api_send(resp, 202,
                       json_pack("{s:s, s:s, s:b, s:b, s:s}", "id", id, "state",
                                 vm_job_state_name(cr.state), "cancel_requested", 1, "applied",
                                 cr.applied, "message",
                                 "no task starts; running tasks stop after their batch in "
                                 "flight, then the coordinator ends the job as cancelled"));
}

static int vm_api_resume(vm_api *a, const char *id, vm_httpd_resp *resp)
{
    vm_err e;
    vm_err_clear(&e);
    vm_job_info info;
    int rc = vm_state_job_get(a->state, id, &info, &e);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_api_not_found(resp, id);
    if (rc != VM_OK)
        return vm_api_store_error(resp, &e);
    vm_job_state st = info.state;
    vm_job_info_release(&info);
    if (st == VM_JOB_DONE) {
        char msg[240];
        snprintf(msg, sizeof msg, "job '%s' is done: nothing to resume", id);
        return vm_api_error(resp, 409, msg);
    }
    vm_job_state prev;
    if ((rc = vm_state_job_resume(a->state, id, &prev, &e)) != VM_OK)
        return rc == VM_ERR_NOT_FOUND ? vm_api_not_found(resp, id) : vm_api_store_error(resp, &e);
    /* failed tasks get a fresh budget of attempts, as `vecmig resume` does */
    vm_task_status *tasks = NULL;
    size_t n = 0;
    int64_t reset = 0;
    if ((rc = vm_state_tasks_list(a->state, id, &tasks, &n, &e)) != VM_OK)
        return vm_api_store_error(resp, &e);
    for (size_t i = 0; i < n; i++) {
        if (tasks[i].state != VM_TASK_FAILED)
            continue;
        if ((rc = vm_state_task_reset(a->state, id, tasks[i].id, &e)) != VM_OK) {
            vm_task_status_free_array(tasks, n);
            return vm_api_store_error(resp, &e);
        }
        reset++;
    }
    vm_task_status_free_array(tasks, n);
    bool here = a->served_job && strcmp(a->served_job, id) == 0 && atomic_load(&a->active) &&
                prev != VM_JOB_CANCELLED && prev != VM_JOB_FAILED;
    vm_job_info now;
    const char *state_name = "running";
    if (vm_state_job_get(a->state, id, &now, &e) == VM_OK) {
        state_name = vm_job_state_name(now.state);
        vm_job_info_release(&now);
    }
    char msg[400];
    if (here)
        snprintf(msg, sizeof msg, "job '%s' resumed; this coordinator continues it", id);
    else
        snprintf(msg, sizeof msg,
                 "job '%s' resumed in the state store; a coordinator must run to continue it "
                 "(vecmig coordinator start JOB.yaml, or vecmig resume JOB.yaml)",
                 id);
    vm_info("api: job %s: resumed (was %s, %" PRId64 " failed task(s) reset)", id,
            vm_job_state_name(prev), reset);
    return vm_api_send(resp, 200,
                       json_pack("{s:s, s:s, s:s, s:I, s:b, s:s}", "id", id, "state", state_name,
                                 "previous_state", vm_job_state_name(prev), "tasks_reset",
                                 (json_int_t)reset, "continues", here, "message", msg));
}

/* /api/... : parse the path, check the token, dispatch under the lock. */
static int vm_api_handle(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    vm_api *a = ctx;
    (void)err;
    int rc = vm_httpd_check_bearer(req, a->token, resp);
    if (rc == VM_ERR_AUTH) {
        /* the helper's text body, as JSON */
        int r2 = vm_api_error(resp, 401, "missing or wrong bearer token");
        return r2;
    }
    if (rc != VM_OK)
        return rc;
    bool post = strcmp(req->method, "POST") == 0;
    const char *p = req->path;
    if (strcmp(p, "/api/jobs") == 0 || strcmp(p, "/api/jobs/") == 0) {
        if (post)
            return vm_api_error(resp, 405, "POST /api/jobs/{id}/cancel or /resume");
        pthread_mutex_lock(&a->mu);
        rc = vm_api_list(a, resp);
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    if (strncmp(p, "/api/jobs/", 10) != 0)
        return vm_api_error(resp, 404, "no such API route");
    p += 10;
    const char *slash = strchr(p, '/');
    size_t il = slash ? (size_t)(slash - p) : strlen(p);
    char id[160];
    if (il == 0 || il >= sizeof id)
        return vm_api_error(resp, 404, "no such job");
    memcpy(id, p, il);
    id[il] = '\0';
    const char *sub = slash ? slash + 1 : "";
    if (!vm_state_job_id_valid(id))
        return vm_api_error(resp, 404, "no such job (not a job id)");
    enum { GET_JOB, GET_TASKS, GET_REPORT, CANCEL, RESUME, NONE } what = NONE;
    if (!post && !*sub)
        what = GET_JOB;
    else if (!post && strcmp(sub, "tasks") == 0)
        what = GET_TASKS;
    else if (!post && strcmp(sub, "report") == 0)
        what = GET_REPORT;
    else if (post && strcmp(sub, "cancel") == 0)
        what = CANCEL;
    else if (post && strcmp(sub, "resume") == 0)
        what = RESUME;
    if (what == NONE) {
        bool other = (!*sub || !strcmp(sub, "tasks") || !strcmp(sub, "report") ||
                      !strcmp(sub, "cancel") || !strcmp(sub, "resume"));
        if (other) {
            if ((rc = vm_api_error(resp, 405, post ? "use GET for this route"
                                                   : "use POST for this route")) != VM_OK)
                return rc;
            return vm_httpd_resp_header(resp, "Allow", post ? "GET, HEAD" : "POST");
        }
        return vm_api_error(resp, 404, "no such API route");
    }
    pthread_mutex_lock(&a->mu);
    switch (what) {
    case GET_JOB: rc = vm_api_get_job(a, id, resp); break;
    case GET_TASKS: rc = vm_api_tasks(a, id, resp); break;
    case GET_REPORT: rc = vm_api_report(a, id, resp); break;
    case CANCEL: rc = vm_api_cancel(a, id, resp); break;
    case RESUME: rc = vm_api_resume(a, id, resp); break;
    default: rc = VM_ERR_INTERNAL; break;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* Everything else: the Jobs page and its assets (no token: they hold no
 * data; the page asks for the token). */
static int vm_api_page(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)ctx;
    (void)err;
    const char *p = req->path;
    if (strcmp(p, "/api") == 0 || strncmp(p, "/api/", 5) == 0)
        return vm_api_error(resp, 404, "no such API route");
    const vm_web_asset *as = NULL;
    if (strcmp(p, "/") == 0 || strcmp(p, "/jobs") == 0 || strncmp(p, "/jobs/", 6) == 0)
        as = vm_web_asset_find("/index.html");
    else
        as = vm_web_asset_find(p);
    if (!as)
        return vm_httpd_resp_text(resp, 404, NULL, "not found\n");
    resp->status = 200;
    resp->content_type = as->content_type;
    vm_buf_clear(&resp->body);
    vm_buf_append(&resp->body, as->data, as->len);
    if (!vm_buf_ok(&resp->body))
        return VM_ERR_NOMEM;
    int rc = vm_httpd_resp_header(resp, "X-Content-Type-Options", "nosniff");
    if (rc == VM_OK && strcmp(as->path, "/index.html") == 0)
        rc = vm_httpd_resp_header(resp, "Content-Security-Policy",
                                  "default-src 'self'; script-src 'self'; style-src 'self'; "
                                  "img-src 'self' data:; connect-src 'self'; "
                                  "frame-ancestors 'none'");
    return rc;
}

/* ------------------------------------------------------------------ API */

int vm_api_start(const vm_api_opts *o, vm_api **out, vm_err *err)
{
    *out = NULL;
    char host[256];
    int port, rc;
    if ((rc = vm_httpd_parse_listen(o->listen, host, sizeof host, &port, err)) != VM_OK)
        return rc;
    bool has_token = o->token && *o->token;
    if (!has_token && !vm_api_host_is_loopback(host))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "http.listen '%s': without http.token (e.g. {env: VECMIG_API_TOKEN}) "
                           "the API only listens on a loopback address such as 127.0.0.1:%d",
                           o->listen, port);
    vm_api *a = vm_calloc(1, sizeof *a);
    if (!a)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    atomic_init(&a->active, false);
    if ((has_token && !(a->token = vm_strdup(o->token))) ||
        (o->served_job && !(a->served_job = vm_strdup(o->served_job)))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = vm_state_open(o->state, &a->state, err)) != VM_OK)
        goto fail;
    vm_httpd_opts ho = {.listen = o->listen, .threads = 2, .max_body = 4096};
    if ((rc = vm_httpd_new(&ho, &a->srv, err)) != VM_OK ||
        (rc = vm_httpd_route(a->srv, "GET", "/api", vm_api_handle, a, err)) != VM_OK ||
        (rc = vm_httpd_route(a->srv, "POST", "/api", vm_api_handle, a, err)) != VM_OK ||
        (rc = vm_httpd_route(a->srv, "GET", "/", vm_api_page, a, err)) != VM_OK ||
        (rc = vm_httpd_start(a->srv, err)) != VM_OK)
        goto fail;
    vm_info("http: Jobs page and API on http://%s:%d/%s", *host ? host : "0.0.0.0",
            vm_httpd_port(a->srv), has_token ? " (API token required)" : "");
    *out = a;
    return VM_OK;
fail:
    vm_api_free(a);
    return rc;
}

int vm_api_port(const vm_api *a) { return a ? vm_httpd_port(a->srv) : 0; }

void vm_api_set_active(vm_api *a, bool active)
{
    if (a)
        atomic_store(&a->active, active);
}

void vm_api_free(vm_api *a)
{
    if (!a)
        return;
    vm_httpd_free(a->srv); /* waits for handlers in flight */
    vm_state_close(a->state);
    pthread_mutex_destroy(&a->mu);
    vm_free(a->token);
    vm_free(a->served_job);
    vm_free(a);
}

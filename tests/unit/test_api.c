/*
 * test_api.c - the coordinator's HTTP API and Jobs page (coordinator/api.c)
 * on 127.0.0.1 with a port it picks, over an embedded (SQLite) state store
 * in a temporary directory, driven by the vm_http client: the token (401
 * without or with a wrong one), the job list and one job (progress, rows,
 * tasks, errors), tasks, report (404 before, the stored one after), cancel
 * (202, then 409 once the job is over), resume (cancel mark cleared, failed
 * tasks reset, "continues" only for the job this process runs), unknown
 * jobs and routes (404, 405), the page and its assets (content types, no
 * external URL), and the loopback rule without a token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "vm_http.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"

#define TOKEN "t0ken-for-tests"
#define JOB "job-api-1"

typedef struct fx {
    char dir[64];
    char db[128];
    vm_state *st;
    vm_api *api;
    vm_http_client *cli;
    char base[64];
} fx;

static void mk_task(vm_task *t, uint32_t id)
{
    vm_task_init(t);
    t->job_id = (char *)JOB;
    t->id = id;
    t->kind = VM_RANGE_INT;
    t->has_lo = t->has_hi = true;
    t->lo = (int64_t)id * 50;
    t->hi = (int64_t)id * 50 + 50;
    t->est_rows = 50;
}

static int fx_setup(void **state)
{
    fx *f = vm_calloc(1, sizeof *f);
    vm_err e;
    snprintf(f->dir, sizeof f->dir, "/tmp/vm_test_api_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
    vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED, .path = f->db};
    assert_int_equal(vm_state_open(&sc, &f->st, &e), VM_OK);
    /* a job of 100 rows in 2 tasks: task 0 wrote 30 rows then failed */
    json_t *rec = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:i}", "source", "type", "pgvector",
                            "collection", "items", "target", "type", "milvus", "collection",
                            "items_m", "source_rows_start", 100);
    assert_int_equal(vm_state_job_put(f->st, JOB, rec, &e), VM_OK);
    json_decref(rec);
    vm_task t[2];
    mk_task(&t[0], 0);
    mk_task(&t[1], 1);
    assert_int_equal(vm_state_tasks_put(f->st, JOB, t, 2, &e), VM_OK);
    assert_int_equal(vm_state_job_set_state(f->st, JOB, VM_JOB_RUNNING, &e), VM_OK);
    vm_claim c;
    assert_int_equal(vm_state_task_claim(f->st, JOB, 0, "w1", 60000, &c, &e), VM_OK);
    assert_int_equal(c.outcome, VM_CLAIM_CLAIMED);
    assert_int_equal(vm_state_task_checkpoint(f->st, JOB, 0, c.token, "30", 30, 30, 60000, &e),
                     VM_OK);
    assert_int_equal(vm_state_task_finish(f->st, JOB, 0, c.token, VM_TASK_FAILED,
                                          "write: <b>boom</b>", NULL, &e),
                     VM_OK);
    vm_claim_release(&c);

    vm_api_opts o = {.listen = "127.0.0.1:0", .token = TOKEN, .state = &sc, .served_job = JOB};
    assert_int_equal(vm_api_start(&o, &f->api, &e), VM_OK);
    assert_true(vm_api_port(f->api) > 0);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", vm_api_port(f->api));
    assert_int_equal(vm_http_client_new(NULL, &f->cli, &e), VM_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    vm_http_client_free(f->cli);
    vm_api_free(f->api);
    vm_state_close(f->st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    vm_free(f);
    return 0;
}

/* method + path with the token (or auth: a whole header, "" for none);
 * returns the status, *doc the JSON body (NULL when not JSON). */
static long call(fx *f, const char *method, const char *path, const char *auth, json_t **doc,
                 vm_http_resp *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    const char *hdrs[2] = {auth ? auth : "Authorization: Bearer " TOKEN, NULL};
    vm_http_req req = {.method = method, .url = url, .headers = *hdrs[0] ? hdrs : NULL};
    vm_err e;
    assert_int_equal(vm_http_request(f->cli, &req, r, &e), VM_OK);
    if (doc) {
        json_error_t je;
        *doc = r->body_len ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
    }
    return r->status;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
static json_int_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_token(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    json_t *d;
    assert_int_equal(call(f, "GET", "/api/jobs", "", &d, &r), 401);
    assert_non_null(d);
    assert_non_null(strstr(jstr(d, "error"), "token"));
    assert_string_equal(r.content_type, "application/json; charset=utf-8");
    json_decref(d);
    assert_int_equal(call(f, "GET", "/api/jobs", "Authorization: Bearer wrong", &d, &r), 401);
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/cancel", "Authorization: Bearer " TOKEN "x",
                          &d, &r),
                     401);
    json_decref(d);
    /* nothing changed: no cancel mark */
    vm_job_info info;
    vm_err e;
    assert_int_equal(vm_state_job_get(f->st, JOB, &info, &e), VM_OK);
    assert_int_equal(info.cancel_ms, 0);
    vm_job_info_release(&info);
    vm_http_resp_free(&r);
}

static void test_list_and_job(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    json_t *d;
    assert_int_equal(call(f, "GET", "/api/jobs", NULL, &d, &r), 200);
    json_t *jobs = json_object_get(d, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    json_t *j = json_array_get(jobs, 0);
    assert_string_equal(jstr(j, "id"), JOB);
    assert_string_equal(jstr(j, "state"), "running");
    assert_int_equal(jint(j, "rows_total"), 100);
    assert_int_equal(jint(j, "rows_written"), 30);
    assert_true(json_real_value(json_object_get(j, "progress")) > 0.29 &&
                json_real_value(json_object_get(j, "progress")) < 0.31);
    json_t *t = json_object_get(j, "tasks");
    assert_int_equal(jint(t, "total"), 2);
    assert_int_equal(jint(t, "failed"), 1);
    assert_int_equal(jint(t, "pending"), 1);
    assert_int_equal(jint(j, "errors"), 1);
    assert_true(json_is_true(json_object_get(j, "served")));
    assert_string_equal(jstr(json_object_get(j, "target"), "collection"), "items_m");
    json_decref(d);

    assert_int_equal(call(f, "GET", "/api/jobs/" JOB, NULL, &d, &r), 200);
    assert_string_equal(jstr(d, "id"), JOB);
    assert_false(json_is_true(json_object_get(d, "cancel_requested")));
    json_decref(d);

    assert_int_equal(call(f, "GET", "/api/jobs/nope", NULL, &d, &r), 404);
    assert_string_equal(jstr(d, "error"), "no job 'nope'");
    json_decref(d);
    assert_int_equal(call(f, "GET", "/api/jobs/bad%20id", NULL, &d, &r), 404);
    assert_non_null(jstr(d, "error"));
    json_decref(d);
    assert_int_equal(call(f, "GET", "/api/jobs/" JOB "/nothing", NULL, &d, &r), 404);
    json_decref(d);
    assert_int_equal(call(f, "GET", "/api/other", NULL, &d, &r), 404);
    json_decref(d);
    /* a POST route asked with GET, and the reverse */
    assert_int_equal(call(f, "GET", "/api/jobs/" JOB "/cancel", NULL, &d, &r), 405);
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/tasks", NULL, &d, &r), 405);
    json_decref(d);
    vm_http_resp_free(&r);
}

static void test_tasks_and_report(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    json_t *d;
    assert_int_equal(call(f, "GET", "/api/jobs/" JOB "/tasks", NULL, &d, &r), 200);
    json_t *ts = json_object_get(d, "tasks");
    assert_int_equal(json_array_size(ts), 2);
    json_t *t0 = json_array_get(ts, 0);
    assert_int_equal(jint(t0, "id"), 0);
    assert_string_equal(jstr(t0, "state"), "failed");
    assert_int_equal(jint(t0, "rows_written"), 30);
    assert_int_equal(jint(t0, "attempts"), 1);
    assert_string_equal(jstr(t0, "owner"), "w1");
    assert_string_equal(jstr(t0, "error"), "write: <b>boom</b>"); /* data, escaped by the page */
    assert_non_null(strstr(jstr(t0, "range"), "50"));
    assert_string_equal(jstr(json_array_get(ts, 1), "state"), "pending");
    json_decref(d);
    assert_int_equal(call(f, "GET", "/api/jobs/nope/tasks", NULL, &d, &r), 404);
    json_decref(d);

    assert_int_equal(call(f, "GET", "/api/jobs/" JOB "/report", NULL, &d, &r), 404);
    assert_non_null(strstr(jstr(d, "error"), "no report yet"));
    json_decref(d);
    vm_err e;
    json_t *rep = json_pack("{s:s, s:{s:i}}", "verdict", "ok", "counts", "target_rows", 100);
    assert_int_equal(vm_state_job_report_put(f->st, JOB, rep, &e), VM_OK);
    json_decref(rep);
    assert_int_equal(call(f, "GET", "/api/jobs/" JOB "/report", NULL, &d, &r), 200);
    assert_string_equal(jstr(d, "verdict"), "ok");
    assert_int_equal(jint(json_object_get(d, "counts"), "target_rows"), 100);
    json_decref(d);
    vm_http_resp_free(&r);
}

static void test_cancel_resume(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    json_t *d;
    vm_err e;
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/cancel", NULL, &d, &r), 202);
    assert_true(json_is_true(json_object_get(d, "applied")));
    json_decref(d);
    /* twice: accepted, not applied again */
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/cancel", NULL, &d, &r), 202);
    assert_false(json_is_true(json_object_get(d, "applied")));
    json_decref(d);
    bool req;
    assert_int_equal(vm_state_job_cancel_requested(f->st, JOB, &req, &e), VM_OK);
    assert_true(req);
    assert_int_equal(call(f, "GET", "/api/jobs/" JOB, NULL, &d, &r), 200);
    assert_true(json_is_true(json_object_get(d, "cancel_requested")));
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/nope/cancel", NULL, &d, &r), 404);
    json_decref(d);

    /* the coordinator ended it as cancelled; resume through the API: the
     * mark is cleared, the failed task reset, a coordinator must run (this
     * process is not running the job) */
    assert_int_equal(vm_state_job_set_state(f->st, JOB, VM_JOB_CANCELLED, &e), VM_OK);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/cancel", NULL, &d, &r), 409);
    assert_non_null(strstr(jstr(d, "error"), "already cancelled"));
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/resume", NULL, &d, &r), 200);
    assert_string_equal(jstr(d, "previous_state"), "cancelled");
    assert_string_equal(jstr(d, "state"), "running");
    assert_int_equal(jint(d, "tasks_reset"), 1);
    assert_false(json_is_true(json_object_get(d, "continues")));
    assert_non_null(strstr(jstr(d, "message"), "coordinator must run"));
    json_decref(d);
    assert_int_equal(vm_state_job_cancel_requested(f->st, JOB, &req, &e), VM_OK);
    assert_false(req);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(f->st, JOB, 0, &ts, &e), VM_OK);
    assert_int_equal(ts.state, VM_TASK_PENDING);
    vm_task_status_release(&ts);

    /* while this process runs the job, a withdrawn cancel continues here */
    vm_cancel_result cr;
    assert_int_equal(vm_state_job_cancel(f->st, JOB, &cr, &e), VM_OK);
    vm_api_set_active(f->api, true);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/resume", NULL, &d, &r), 200);
    assert_true(json_is_true(json_object_get(d, "continues")));
    assert_int_equal(jint(d, "tasks_reset"), 0);
    json_decref(d);
    vm_api_set_active(f->api, false);

    /* a done job: nothing to cancel or resume */
    assert_int_equal(vm_state_job_set_state(f->st, JOB, VM_JOB_DONE, &e), VM_OK);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/cancel", NULL, &d, &r), 409);
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/" JOB "/resume", NULL, &d, &r), 409);
    assert_non_null(strstr(jstr(d, "error"), "is done"));
    json_decref(d);
    assert_int_equal(call(f, "POST", "/api/jobs/nope/resume", NULL, &d, &r), 404);
    json_decref(d);
    vm_http_resp_free(&r);
}

static void no_external_url(const char *body)
{
    assert_null(strstr(body, "http://"));
    assert_null(strstr(body, "https://"));
    assert_null(strstr(body, "//cdn"));
}

static void test_page(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    /* the page needs no token (it holds no data) */
    assert_int_equal(call(f, "GET", "/", "", NULL, &r), 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<script src=\"/app.js\">"));
    assert_non_null(strstr(r.body, "/app.css"));
    no_external_url(r.body);
    assert_int_equal(call(f, "GET", "/jobs/" JOB, "", NULL, &r), 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_int_equal(call(f, "GET", "/app.js", "", NULL, &r), 200);
    assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
    assert_non_null(strstr(r.body, "/api/jobs"));
    assert_null(strstr(r.body, "innerHTML"));
    no_external_url(r.body);
    assert_int_equal(call(f, "GET", "/app.css", "", NULL, &r), 200);
    assert_string_equal(r.content_type, "text/css; charset=utf-8");
    no_external_url(r.body);
    assert_int_equal(call(f, "GET", "/nope.js", "", NULL, &r), 404);
    assert_int_equal(call(f, "GET", "/api", "", NULL, &r), 401);
    vm_http_resp_free(&r);
}

static void test_loopback_rule(void **state)
{
    (void)state;
    vm_err e;
    vm_api *a = NULL;
    char dir[64], db[128];
    snprintf(dir, sizeof dir, "/tmp/vm_test_api_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/s.db", dir);
    vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED, .path = db};
    vm_api_opts o = {.listen = "0.0.0.0:0", .state = &sc};
    assert_int_equal(vm_api_start(&o, &a, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "http.listen '0.0.0.0:0'"));
    assert_non_null(strstr(e.msg, "token"));
    o.listen = ":0";
    assert_int_equal(vm_api_start(&o, &a, &e), VM_ERR_INVALID);
    o.listen = "nonsense";
    assert_int_equal(vm_api_start(&o, &a, &e), VM_ERR_INVALID);
    o.listen = "127.0.0.1:0";
    assert_int_equal(vm_api_start(&o, &a, &e), VM_OK);
    vm_api_free(a);
    o.listen = "0.0.0.0:0";
    o.token = "tok";
    assert_int_equal(vm_api_start(&o, &a, &e), VM_OK);
    vm_api_free(a);
    assert_true(vm_api_host_is_loopback("127.0.0.1"));
    assert_true(vm_api_host_is_loopback("::1"));
    assert_true(vm_api_host_is_loopback("localhost"));
    assert_false(vm_api_host_is_loopback(""));
    assert_false(vm_api_host_is_loopback("10.0.0.1"));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_and_job, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tasks_and_report, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_resume, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_page, fx_setup, fx_teardown),
        cmocka_unit_test(test_loopback_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

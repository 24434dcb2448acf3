/*
 * test_metrics.c - the metrics registry and its text exposition (format
 * 0.0.4): exact output of a small registry (HELP/TYPE lines, label and
 * help escaping, histogram buckets with cumulative counts, _sum, _count,
 * families without series left out), number formatting, bucket boundaries
 * (le is inclusive), update rules (counters only go up, type mismatches
 * ignored, NULL handles), registration checks, allocation failures,
 * concurrent updates, vecmig's catalog against the naming conventions, and
 * the Grafana dashboard (deploy/grafana/vecmig-dashboard.json): every
 * PromQL expression may name only metrics of the catalog (histograms
 * through _bucket/_sum/_count) and only their labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vm_config.h"
#include "vm_mem.h"
#include "vm_metrics.h"

#ifndef VM_DASHBOARD
#define VM_DASHBOARD "deploy/grafana/vecmig-dashboard.json"
#endif

static const double b3[] = {0.125, 1, 10};
static const vm_metric_def d_c = {"t_requests_total", VM_METRIC_COUNTER,
                                  "Requests.\nSecond line with \\ backslash and \"quotes\".",
                                  {"path", "code", NULL}, NULL, 0};
static const vm_metric_def d_g = {"t_temperature_celsius", VM_METRIC_GAUGE, "A gauge.", {NULL},
                                  NULL, 0};
static const vm_metric_def d_h = {"t_latency_seconds", VM_METRIC_HISTOGRAM, "Latency.",
                                  {"op", NULL}, b3, 3};
static const vm_metric_def d_unused = {"t_unused_total", VM_METRIC_COUNTER, "Never used.",
                                       {"x", NULL}, NULL, 0};

static char *render(vm_metrics *m)
{
    vm_buf b;
    vm_buf_init(&b);
    vm_err e;
    assert_int_equal(vm_metrics_render(m, &b, &e), VM_OK);
    char *s = vm_strdup(vm_buf_cstr(&b));
    vm_buf_release(&b);
    return s;
}

static vm_metrics *small_registry(void)
{
    vm_metrics *m;
    vm_err e;
    assert_int_equal(vm_metrics_new(&m, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_c, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_unused, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_g, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_h, &e), VM_OK);
    return m;
}

static void test_exposition_exact(void **state)
{
    (void)state;
    vm_metrics *m = small_registry();
    const char *l1[] = {"/a\"b", "200"}, *l2[] = {"line\nbreak\\", "500"};
    vm_metric *c1 = vm_metrics_series(m, "t_requests_total", l1);
    vm_metric *c2 = vm_metrics_series(m, "t_requests_total", l2);
    vm_metric_add(c1, 3);
    vm_metric_inc(c2);
    vm_metric_set(vm_metrics_series(m, "t_temperature_celsius", NULL), -1.5);
    const char *lr[] = {"read"}, *lw[] = {"write"};
    vm_metric *h = vm_metrics_series(m, "t_latency_seconds", lr);
    assert_non_null(vm_metrics_series(m, "t_latency_seconds", lw)); /* no observations */
    double obs[] = {0.0625, 0.125, 0.5, 1, 10.5};
    for (size_t i = 0; i < 5; i++)
        vm_metric_observe(h, obs[i]);
    char *out = render(m);
    const char *want =
        "# HELP t_requests_total Requests.\\nSecond line with \\\\ backslash and \"quotes\".\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{path=\"/a\\\"b\",code=\"200\"} 3\n"
        "t_requests_total{path=\"line\\nbreak\\\\\",code=\"500\"} 1\n"
        "# HELP t_temperature_celsius A gauge.\n"
        "# TYPE t_temperature_celsius gauge\n"
        "t_temperature_celsius -1.5\n"
        "# HELP t_latency_seconds Latency.\n"
        "# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_bucket{op=\"read\",le=\"0.125\"} 2\n"
        "t_latency_seconds_bucket{op=\"read\",le=\"1\"} 4\n"
        "t_latency_seconds_bucket{op=\"read\",le=\"10\"} 4\n"
        "t_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"
        "t_latency_seconds_sum{op=\"read\"} 12.1875\n"
        "t_latency_seconds_count{op=\"read\"} 5\n"
        "t_latency_seconds_bucket{op=\"write\",le=\"0.125\"} 0\n"
        "t_latency_seconds_bucket{op=\"write\",le=\"1\"} 0\n"
        "t_latency_seconds_bucket{op=\"write\",le=\"10\"} 0\n"
        "t_latency_seconds_bucket{op=\"write\",le=\"+Inf\"} 0\n"
        "t_latency_seconds_sum{op=\"write\"} 0\n"
        "t_latency_seconds_count{op=\"write\"} 0\n";
    assert_string_equal(out, want);
    assert_int_equal(vm_metric_hist_count(h), 5);
    assert_true(vm_metric_hist_sum(h) == 12.1875);
    vm_free(out);
    vm_metrics_free(m);
}

static void test_numbers(void **state)
{
    (void)state;
    vm_metrics *m;
    vm_err e;
    assert_int_equal(vm_metrics_new(&m, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_g, &e), VM_OK);
    vm_metric *g = vm_metrics_series(m, "t_temperature_celsius", NULL);
    struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},           {0.1, "0.1"},        {1.0 / 3, "0.3333333333333333"},
        {123456789012.0, "123456789012"},         {1e21, "1e+21"},
        {1e-7, "1e-07"},    {-2.5e-3, "-0.0025"}, {999999999999999.0, "999999999999999"},
        {1e15, "1e+15"},
        {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},  {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vm_metric_set(g, cases[i].v);
        char *out = render(m);
        char want[128];
        snprintf(want, sizeof want, "\nt_temperature_celsius %s\n", cases[i].text);
        if (!strstr(out, want))
            fail_msg("%g: got %s", cases[i].v, out);
        /* whatever is printed reads back as the same double */
        if (isfinite(cases[i].v))
            assert_true(strtod(strstr(out, want) + strlen("\nt_temperature_celsius "), NULL) ==
                        cases[i].v);
        vm_free(out);
    }
    vm_metrics_free(m);
}

static void test_update_rules(void **state)
{
    (void)state;
    vm_metrics *m = small_registry();
    const char *l[] = {"/", "200"};
    vm_metric *c = vm_metrics_series(m, "t_requests_total", l);
    vm_metric *g = vm_metrics_series(m, "t_temperature_celsius", NULL);
    const char *lo[] = {"x"};
    vm_metric *h = vm_metrics_series(m, "t_latency_seconds", lo);
    /* the same labels give the same series */
    assert_ptr_equal(c, vm_metrics_series(m, "t_requests_total", l));
    const char *l2[] = {"/", "201"};
    assert_ptr_not_equal(c, vm_metrics_series(m, "t_requests_total", l2));
    vm_metric_add(c, 2.5);
    vm_metric_add(c, -1); /* counters never go down */
    vm_metric_set(c, 100); /* not a gauge */
    vm_metric_observe(c, 1); /* not a histogram */
    vm_metric_add(c, NAN);
    assert_true(vm_metric_value(c) == 2.5);
    vm_metric_add(g, 3);
    vm_metric_add(g, -5);
    assert_true(vm_metric_value(g) == -2);
    vm_metric_add(h, 5); /* not for histograms */
    vm_metric_observe(h, NAN);
    vm_metric_observe(h, 1e300);
    assert_int_equal(vm_metric_hist_count(h), 1);
    char *out = render(m);
    assert_non_null(strstr(out, "t_latency_seconds_bucket{op=\"x\",le=\"10\"} 0\n"));
    assert_non_null(strstr(out, "t_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 1\n"));
    vm_free(out);
    /* NULL handles are no-ops; unknown families and missing labels give NULL */
    vm_metric_inc(NULL);
    vm_metric_add(NULL, 1);
    vm_metric_set(NULL, 1);
    vm_metric_observe(NULL, 1);
    assert_true(vm_metric_value(NULL) == 0);
    assert_int_equal(vm_metric_hist_count(NULL), 0);
    assert_null(vm_metrics_series(m, "t_nope", l));
    assert_null(vm_metrics_series(m, "t_requests_total", NULL));
    const char *partial[] = {"/", NULL};
    assert_null(vm_metrics_series(m, "t_requests_total", partial));
    assert_null(vm_metrics_series(NULL, "t_requests_total", l));
    vm_metrics_free(m);
    vm_metrics_free(NULL);
}

static void test_register_checks(void **state)
{
    (void)state;
    vm_metrics *m;
    vm_err e;
    assert_int_equal(vm_metrics_new(&m, &e), VM_OK);
    static const double unsorted[] = {1, 0.5};
    static const double inf[] = {1, INFINITY};
    const vm_metric_def bad[] = {
        {"9starts_with_digit", VM_METRIC_GAUGE, "", {NULL}, NULL, 0},
        {"has-dash", VM_METRIC_GAUGE, "", {NULL}, NULL, 0},
        {"", VM_METRIC_GAUGE, "", {NULL}, NULL, 0},
        {"t_ok", VM_METRIC_GAUGE, "", {"__reserved", NULL}, NULL, 0},
        {"t_ok", VM_METRIC_GAUGE, "", {"a:b", NULL}, NULL, 0},
        {"t_ok", VM_METRIC_GAUGE, "", {"a", "a", NULL}, NULL, 0},
        {"t_ok", VM_METRIC_HISTOGRAM, "", {"le", NULL}, b3, 3},
        {"t_ok", VM_METRIC_HISTOGRAM, "", {NULL}, NULL, 0},
        {"t_ok", VM_METRIC_HISTOGRAM, "", {NULL}, unsorted, 2},
        {"t_ok", VM_METRIC_HISTOGRAM, "", {NULL}, inf, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (vm_metrics_register(m, &bad[i], &e) != VM_ERR_INVALID)
            fail_msg("definition %zu was accepted", i);
        assert_non_null(strstr(e.msg, "metrics: "));
    }
    assert_int_equal(vm_metrics_register(m, &d_c, &e), VM_OK);
    assert_int_equal(vm_metrics_register(m, &d_c, &e), VM_ERR_EXISTS);
    assert_non_null(strstr(e.msg, "t_requests_total"));
    /* a namespaced name with a colon is fine (recording-rule style) */
    const vm_metric_def colon = {"t:ok", VM_METRIC_GAUGE, "", {NULL}, NULL, 0};
    assert_int_equal(vm_metrics_register(m, &colon, &e), VM_OK);
    vm_metrics_free(m);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    vm_metrics *m = small_registry();
    const char *l[] = {"a", "b"};
    for (long n = 0; n < 4; n++) {
        vm_mem_fail_after(n);
        vm_metric *s = vm_metrics_series(m, "t_requests_total", l);
        vm_mem_fail_after(-1);
        if (s) {
            assert_true(n >= 3); /* series, two label values */
            break;
        }
    }
    /* and it works afterwards; nothing half-made is listed */
    assert_non_null(vm_metrics_series(m, "t_requests_total", l));
    char *out = render(m);
    assert_non_null(strstr(out, "t_requests_total{path=\"a\",code=\"b\"} 0\n"));
    assert_null(strstr(out, "t_requests_total{path=\"a\",code=\"b\"} 0\nt_requests_total"));
    vm_free(out);
    vm_err e;
    vm_worker_metrics wm;
    vm_metrics_free(m);
    vm_metrics *v;
    assert_int_equal(vm_metrics_new_vecmig(&v, &e), VM_OK);
    vm_mem_fail_after(3);
    int rc = vm_worker_metrics_init(v, "j", "w", &wm, &e);
    vm_mem_fail_after(-1);
    assert_int_equal(rc, VM_ERR_NOMEM);
    assert_null(wm.rows_read);
    vm_metrics_free(v);
}

typedef struct hammer {
    vm_metric *c, *h, *g;
} hammer;

static void *hammer_main(void *p)
{
    hammer *x = p;
    for (int i = 0; i < 50000; i++) {
        vm_metric_inc(x->c);
        vm_metric_observe(x->h, 0.5);
        vm_metric_add(x->g, 0.25);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    vm_metrics *m = small_registry();
    const char *l[] = {"/", "200"}, *lo[] = {"x"};
    hammer x = {vm_metrics_series(m, "t_requests_total", l),
                vm_metrics_series(m, "t_latency_seconds", lo),
                vm_metrics_series(m, "t_temperature_celsius", NULL)};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &x), 0);
    /* scrapes meanwhile see consistent histograms (+Inf == _count) */
    for (int k = 0; k < 20; k++) {
        char *out = render(m);
        const char *inf = strstr(out, "le=\"+Inf\"} ");
        const char *cnt = strstr(out, "t_latency_seconds_count{op=\"x\"} ");
        assert_non_null(inf);
        assert_non_null(cnt);
        assert_int_equal(strtoull(inf + strlen("le=\"+Inf\"} "), NULL, 10),
                         strtoull(cnt + strlen("t_latency_seconds_count{op=\"x\"} "), NULL, 10));
        vm_free(out);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(vm_metric_value(x.c) == 200000);
    assert_int_equal(vm_metric_hist_count(x.h), 200000);
    assert_true(vm_metric_hist_sum(x.h) == 100000);
    assert_true(vm_metric_value(x.g) == 50000);
    vm_metrics_free(m);
}

/* --------------------------------------------------------------- catalog */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const vm_metric_def *catalog_find(const char *name)
{
    for (const vm_metric_def *const *d = vm_metrics_catalog(); *d; d++)
        if (strcmp((*d)->name, name) == 0)
            return *d;
    return NULL;
}

static void test_catalog_conventions(void **state)
{
    (void)state;
    size_t n = 0;
    for (const vm_metric_def *const *d = vm_metrics_catalog(); *d; d++, n++) {
        const vm_metric_def *m = *d;
        bool vecmig = strncmp(m->name, "vecmig_", 7) == 0;
        if (!vecmig && strcmp(m->name, "process_start_time_seconds") != 0)
            fail_msg("%s: not in the vecmig_ namespace", m->name);
        if ((m->type == VM_METRIC_COUNTER) != ends_with(m->name, "_total"))
            fail_msg("%s: _total is for counters, and every counter has it", m->name);
        if (m->type == VM_METRIC_HISTOGRAM &&
            !(ends_with(m->name, "_seconds") || ends_with(m->name, "_bytes")))
            fail_msg("%s: a histogram in base units", m->name);
        if (strstr(m->name, "_milliseconds") || strstr(m->name, "_ms") ||
            strstr(m->name, "_kb") || strstr(m->name, "_mb"))
            fail_msg("%s: not a base unit", m->name);
        assert_non_null(m->help);
        assert_true(strlen(m->help) > 5);
        for (const vm_metric_def *const *o = vm_metrics_catalog(); *o != m; o++)
            assert_string_not_equal((*o)->name, m->name);
        /* worker series carry job_id and worker; job series job_id */
        if (vecmig && strcmp(m->name, "vecmig_build_info") != 0)
            assert_string_equal(m->labels[0], "job_id");
    }
    const char *required[] = {"vecmig_rows_read_total", "vecmig_rows_written_total",
                              "vecmig_bytes_written_total", "vecmig_batch_write_seconds",
                              "vecmig_source_read_seconds", "vecmig_retries_total",
                              "vecmig_tasks", "vecmig_tasks_completed_total",
                              "vecmig_tasks_failed_total", "vecmig_worker_busy",
                              "vecmig_job_source_rows", "vecmig_job_rows_done",
                              "process_start_time_seconds", NULL};
    for (int i = 0; required[i]; i++)
        if (!catalog_find(required[i]))
            fail_msg("%s is not in the catalog", required[i]);
    assert_true(n == 14);
    assert_string_equal(catalog_find("vecmig_retries_total")->labels[2], "cause");

    /* the whole catalog renders; causes in their fixed order */
    vm_metrics *m;
    vm_err e;
    assert_int_equal(vm_metrics_new_vecmig(&m, &e), VM_OK);
    vm_worker_metrics wm;
    vm_job_metrics jm;
    assert_int_equal(vm_worker_metrics_init(m, "j", "w", &wm, &e), VM_OK);
    assert_int_equal(vm_job_metrics_init(m, "j", &jm, &e), VM_OK);
    vm_job_metrics_update(&jm, 100, 40, 3, 2, 1, 0);
    vm_job_metrics_update(&jm, -1, 50, 2, 2, 2, 0);
    vm_metric_inc(wm.retries[vm_retry_cause_of(VM_ERR_RATE_LIMITED)]);
    vm_metric_inc(wm.retries[vm_retry_cause_of(VM_ERR_PROTOCOL)]);
    char *out = render(m);
    assert_non_null(strstr(out, "\nvecmig_build_info{version=\"" VECMIG_VERSION "\"} 1\n"));
    assert_non_null(strstr(out, "\nprocess_start_time_seconds 1"));
    assert_non_null(strstr(out, "\nvecmig_job_source_rows{job_id=\"j\"} 100\n"));
    assert_non_null(strstr(out, "\nvecmig_job_rows_done{job_id=\"j\"} 50\n"));
    assert_non_null(strstr(out, "\nvecmig_tasks{job_id=\"j\",state=\"pending\"} 2\n"
                                "vecmig_tasks{job_id=\"j\",state=\"running\"} 2\n"
                                "vecmig_tasks{job_id=\"j\",state=\"done\"} 2\n"
                                "vecmig_tasks{job_id=\"j\",state=\"failed\"} 0\n"));
    assert_non_null(strstr(
        out, "\nvecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"rate_limited\"} 1\n"
             "vecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"unavailable\"} 0\n"
             "vecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"timeout\"} 0\n"
             "vecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"io\"} 0\n"
             "vecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"too_large\"} 0\n"
             "vecmig_retries_total{job_id=\"j\",worker=\"w\",cause=\"other\"} 1\n"));
    vm_free(out);
    vm_metrics_free(m);
    assert_int_equal(vm_retry_cause_of(VM_ERR_UNAVAILABLE), VM_RETRY_UNAVAILABLE);
    assert_int_equal(vm_retry_cause_of(VM_ERR_TIMEOUT), VM_RETRY_TIMEOUT);
    assert_int_equal(vm_retry_cause_of(VM_ERR_IO), VM_RETRY_IO);
    assert_int_equal(vm_retry_cause_of(VM_ERR_TOO_LARGE), VM_RETRY_TOO_LARGE);
    /* metrics off: every handle NULL, every update a no-op */
    assert_int_equal(vm_worker_metrics_init(NULL, "j", "w", &wm, &e), VM_OK);
    assert_null(wm.busy);
    assert_int_equal(vm_job_metrics_init(NULL, "j", &jm, &e), VM_OK);
    vm_job_metrics_update(&jm, 1, 1, 1, 1, 1, 1);
    vm_job_metrics_update(NULL, 1, 1, 1, 1, 1, 1);
}

/* ------------------------------------------------------- job file block */

static int load_job(const char *metrics_json, vm_job_conf *c, vm_err *e)
{
    char text[512];
    snprintf(text, sizeof text, "{\"source\": {\"type\": \"synthetic\"}%s%s}",
             metrics_json ? ", \"metrics\": " : "", metrics_json ? metrics_json : "");
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    assert_non_null(root);
    int rc = vm_job_conf_from_json(root, NULL, c, e);
    json_decref(root);
    return rc;
}

static void test_job_metrics_block(void **state)
{
    (void)state;
    vm_job_conf c;
    vm_err e;
    /* off unless set */
    assert_int_equal(load_job(NULL, &c, &e), VM_OK);
    assert_null(c.metrics.listen);
    vm_job_conf_release(&c);
    assert_int_equal(load_job("{\"listen\": \"127.0.0.1:9464\"}", &c, &e), VM_OK);
    assert_string_equal(c.metrics.listen, "127.0.0.1:9464");
    vm_job_conf_release(&c);
    assert_int_equal(load_job("{\"listen\": \":9464\"}", &c, &e), VM_OK);
    vm_job_conf_release(&c);
    /* a bad address, an unknown key, a wrong type: named */
    assert_int_equal(load_job("{\"listen\": \"9464\"}", &c, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "metrics.listen"));
    assert_int_equal(load_job("{\"listen\": \"[::1]:70000\"}", &c, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "metrics.listen"));
    assert_int_equal(load_job("{\"port\": 9464}", &c, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "metrics.port"));
    assert_int_equal(load_job("{\"listen\": 9464}", &c, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "metrics.listen"));
}

/* ------------------------------------------------------------ dashboard */

/* Labels a scrape adds to every series. */
static bool target_label(const char *l) { return !strcmp(l, "instance") || !strcmp(l, "job"); }

/* Aggregation operators may be followed by by/without before their '('. */
static bool aggregation(const char *w)
{
    static const char *const ag[] = {"sum", "min", "max", "avg", "count", "stddev", "stdvar",
                                     "topk", "bottomk", "quantile", "count_values", "group",
                                     NULL};
    for (int i = 0; ag[i]; i++)
        if (!strcmp(w, ag[i]))
            return true;
    return false;
}

static bool keyword(const char *w)
{
    static const char *const kw[] = {"by", "without", "on", "ignoring", "group_left",
                                     "group_right", "bool", "and", "or", "unless", "offset",
                                     "inf", "nan", NULL};
    for (int i = 0; kw[i]; i++)
        if (!strcmp(w, kw[i]))
            return true;
    return false;
}

typedef struct pq_check {
    char names[32][96];
    int nnames;
    char labels[32][64];
    int nlabels;
    char err[256];
} pq_check;

/* Collect metric names and label names of a PromQL expression (a lexer, not
 * a parser: enough for dashboard queries). 0, or -1 with chk->err. */
static int pq_scan(const char *s, pq_check *chk)
{
    int depth_brace = 0;
    bool label_list = false; /* inside by(...) / on(...) ... */
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\'' || c == '`') {
            char q = *s++;
            while (*s && *s != q) {
                if (*s == '\\' && s[1])
                    s++;
                s++;
            }
            if (!*s)
                return snprintf(chk->err, sizeof chk->err, "unterminated string"), -1;
            s++;
            continue;
        }
        if (c == '[') { /* a range or subquery: durations and $__rate_interval */
            while (*s && *s != ']')
                s++;
            if (*s)
                s++;
            continue;
        }
        if (c == '$') {
            s++;
            if (*s == '{') {
                while (*s && *s != '}')
                    s++;
                if (*s)
                    s++;
            }
            while (isalnum((unsigned char)*s) || *s == '_')
                s++;
            continue;
        }
        if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[1]))) {
            while (isalnum((unsigned char)*s) || *s == '.' ||
                   ((*s == '+' || *s == '-') && (s[-1] == 'e' || s[-1] == 'E')))
                s++;
            continue;
        }
        if (isalpha(c) || c == '_' || c == ':') {
            const char *b = s;
            while (isalnum((unsigned char)*s) || *s == '_' || *s == ':')
                s++;
            char w[128];
            snprintf(w, sizeof w, "%.*s", (int)(s - b), b);
            const char *p = s;
            while (*p == ' ')
                p++;
            if (depth_brace > 0 || label_list) {
                if (chk->nlabels < 32)
                    snprintf(chk->labels[chk->nlabels++], 64, "%s", w);
            } else if (*p == '(') {
                if (!strcmp(w, "by") || !strcmp(w, "without") || !strcmp(w, "on") ||
                    !strcmp(w, "ignoring") || !strcmp(w, "group_left") ||
                    !strcmp(w, "group_right")) {
                    label_list = true;
                    s = p + 1;
                }
                /* else a function or an aggregation */
            } else if (!keyword(w) && !aggregation(w)) {
                if (chk->nnames < 32)
                    snprintf(chk->names[chk->nnames++], 96, "%s", w);
            }
            continue;
        }
        if (c == '{')
            depth_brace++;
        else if (c == '}')
            depth_brace--;
        else if (c == ')' && label_list)
            label_list = false;
        s++;
    }
    return depth_brace == 0 ? 0 : (snprintf(chk->err, sizeof chk->err, "unbalanced braces"), -1);
}

/* Every name a catalog series (histograms through their suffixes), every
 * label one of those metrics' labels (le with _bucket) or a target label. */
static int pq_check_expr(const char *expr, const char *extra_label, char *why, size_t cap)
{
    pq_check chk = {.nnames = 0};
    if (pq_scan(expr, &chk) != 0)
        return snprintf(why, cap, "%s", chk.err), -1;
    if (chk.nnames == 0 && !strstr(expr, "time()"))
        return snprintf(why, cap, "no metric named"), -1;
    const vm_metric_def *defs[32];
    bool bucket = false;
    for (int i = 0; i < chk.nnames; i++) {
        const char *n = chk.names[i];
        const vm_metric_def *d = catalog_find(n);
        if (d && d->type == VM_METRIC_HISTOGRAM)
            return snprintf(why, cap, "%s is a histogram: use _bucket, _sum or _count", n), -1;
        if (!d) {
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            for (int k = 0; k < 3 && !d; k++)
                if (ends_with(n, sfx[k])) {
                    char base[96];
                    snprintf(base, sizeof base, "%.*s", (int)(strlen(n) - strlen(sfx[k])), n);
                    d = catalog_find(base);
                    if (d && d->type != VM_METRIC_HISTOGRAM)
                        d = NULL;
                    bucket = bucket || (d && k == 0);
                }
        }
        if (!d)
            return snprintf(why, cap, "unknown metric '%s'", n), -1;
        defs[i] = d;
    }
    for (int j = 0; j < chk.nlabels + (extra_label ? 1 : 0); j++) {
        const char *l = j < chk.nlabels ? chk.labels[j] : extra_label;
        bool ok = target_label(l) || (bucket && !strcmp(l, "le"));
        for (int i = 0; i < chk.nnames && !ok; i++)
            for (int k = 0; defs[i]->labels[k] && !ok; k++)
                ok = !strcmp(defs[i]->labels[k], l);
        if (!ok)
            return snprintf(why, cap, "label '%s' is not a label of the metrics used", l), -1;
    }
    return 0;
}

/* label_values(EXPR, LABEL) or label_values(LABEL) */
static int pq_check_variable(const char *q, char *why, size_t cap)
{
    const char *pre = "label_values(";
    if (strncmp(q, pre, strlen(pre)) != 0)
        return pq_check_expr(q, NULL, why, cap);
    const char *body = q + strlen(pre);
    const char *comma = strrchr(body, ',');
    const char *close = strrchr(body, ')');
    if (!comma || !close || close < comma)
        return snprintf(why, cap, "label_values without a metric"), -1;
    char expr[512], label[64];
    snprintf(expr, sizeof expr, "%.*s", (int)(comma - body), body);
    const char *l = comma + 1;
    while (*l == ' ')
        l++;
    snprintf(label, sizeof label, "%.*s", (int)(close - l), l);
    return pq_check_expr(expr, label, why, cap);
}

static void test_checker_catches_mistakes(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(pq_check_expr("sum(rate(vecmig_rows_written_total{job_id=~\"$job_id\"}[5m]))",
                                   NULL, why, sizeof why),
                     0);
    assert_int_equal(pq_check_expr("histogram_quantile(0.99, sum by (le, worker) "
                                   "(rate(vecmig_batch_write_seconds_bucket[$__rate_interval])))",
                                   NULL, why, sizeof why),
                     0);
    assert_int_equal(pq_check_expr("sum(rate(vecmig_rows_writen_total[5m]))", NULL, why,
                                   sizeof why),
                     -1);
    assert_non_null(strstr(why, "vecmig_rows_writen_total"));
    assert_int_equal(pq_check_expr("vecmig_batch_write_seconds", NULL, why, sizeof why), -1);
    assert_int_equal(pq_check_expr("vecmig_tasks_bucket", NULL, why, sizeof why), -1);
    assert_int_equal(pq_check_expr("sum by (cause) (vecmig_tasks)", NULL, why, sizeof why), -1);
    assert_non_null(strstr(why, "cause"));
    assert_int_equal(pq_check_expr("vecmig_tasks{job=\"x\"}", NULL, why, sizeof why), 0);
    assert_int_equal(pq_check_expr("vecmig_tasks{jobid=\"x\"}", NULL, why, sizeof why), -1);
    assert_int_equal(pq_check_expr("sum(vecmig_rows_read_total{le=\"1\"})", NULL, why, sizeof why),
                     -1);
    assert_int_equal(pq_check_variable("label_values(vecmig_tasks, state)", why, sizeof why), 0);
    assert_int_equal(pq_check_variable("label_values(vecmig_tasks, worker)", why, sizeof why), -1);
}

static void check_panels(json_t *panels, int *ntargets, bool seen_ids[1000], json_t *exprs)
{
    size_t i;
    json_t *p;
    json_array_foreach(panels, i, p) {
        json_t *id = json_object_get(p, "id");
        assert_true(json_is_integer(id));
        json_int_t v = json_integer_value(id);
        assert_true(v > 0 && v < 1000);
        if (seen_ids[v])
            fail_msg("panel id %d used twice", (int)v);
        seen_ids[v] = true;
        const char *type = json_string_value(json_object_get(p, "type"));
        const char *title = json_string_value(json_object_get(p, "title"));
        assert_non_null(type);
        assert_non_null(title);
        assert_true(json_is_object(json_object_get(p, "gridPos")));
        if (!strcmp(type, "row")) {
            check_panels(json_object_get(p, "panels"), ntargets, seen_ids, exprs);
            continue;
        }
        json_t *targets = json_object_get(p, "targets");
        if (!json_is_array(targets) || json_array_size(targets) == 0)
            fail_msg("panel '%s' has no query", title);
        size_t k;
        json_t *t;
        json_array_foreach(targets, k, t) {
            const char *expr = json_string_value(json_object_get(t, "expr"));
            if (!expr)
                fail_msg("panel '%s': a target without expr", title);
            char why[256];
            if (pq_check_expr(expr, NULL, why, sizeof why) != 0)
                fail_msg("panel '%s': %s in: %s", title, why, expr);
            json_array_append_new(exprs, json_string(expr));
            (*ntargets)++;
        }
    }
}

static void test_dashboard(void **state)
{
    (void)state;
    json_error_t je;
    json_t *d = json_load_file(VM_DASHBOARD, 0, &je);
    if (!d)
        fail_msg("%s: not valid JSON: %s at line %d", VM_DASHBOARD, je.text, je.line);
    assert_non_null(json_string_value(json_object_get(d, "title")));
    assert_non_null(json_string_value(json_object_get(d, "uid")));
    assert_true(json_is_integer(json_object_get(d, "schemaVersion")));
    json_t *vars = json_object_get(json_object_get(d, "templating"), "list");
    size_t i;
    json_t *v;
    int nq = 0;
    json_array_foreach(vars, i, v) {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!type || strcmp(type, "query") != 0)
            continue;
        json_t *q = json_object_get(v, "query");
        const char *qs = json_is_object(q) ? json_string_value(json_object_get(q, "query"))
                                           : json_string_value(q);
        char why[256];
        assert_non_null(qs);
        if (pq_check_variable(qs, why, sizeof why) != 0)
            fail_msg("variable %s: %s", json_string_value(json_object_get(v, "name")), why);
        nq++;
    }
    assert_true(nq >= 2);
    int ntargets = 0;
    bool seen[1000] = {false};
    json_t *exprs = json_array();
    check_panels(json_object_get(d, "panels"), &ntargets, seen, exprs);
    assert_true(ntargets >= 15);
    /* what the dashboard must show */
    char *all = json_dumps(exprs, JSON_COMPACT);
    const char *must[] = {"vecmig_rows_written_total", "by (worker)",
                          "histogram_quantile(0.5, sum by (le) (rate(vecmig_batch_write_seconds_bucket",
                          "histogram_quantile(0.95, sum by (le) (rate(vecmig_batch_write_seconds_bucket",
                          "histogram_quantile(0.99, sum by (le) (rate(vecmig_batch_write_seconds_bucket",
                          "vecmig_source_read_seconds_bucket", "sum by (cause) (rate(vecmig_retries_total",
                          "sum by (state) (vecmig_tasks", "vecmig_worker_busy",
                          "vecmig_job_rows_done", "vecmig_job_source_rows", NULL};
    for (int k = 0; must[k]; k++)
        if (!strstr(all, must[k]))
            fail_msg("no panel queries %s", must[k]);
    vm_free(all);
    json_decref(exprs);
    json_decref(d);
}

int main(void)
{
    json_set_alloc_funcs(vm_malloc, vm_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_exact),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_update_rules),
        cmocka_unit_test(test_register_checks),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_catalog_conventions),
        cmocka_unit_test(test_job_metrics_block),
        cmocka_unit_test(test_checker_catches_mistakes),
        cmocka_unit_test(test_dashboard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

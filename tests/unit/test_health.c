/*
 * test_health.c - the probes of vm_health.h: /healthz ok until a watched
 * main loop stalls past its limit (and ok again once it ticks, or once it
 * is no longer watched), /readyz 503 with the reason until ready and again
 * when stopping; both served by vm_metrics_serve next to /metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vm_health.h"
#include "vm_http.h"
#include "vm_httpd.h"
#include "vm_metrics.h"

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_liveness(void **st)
{
    (void)st;
    char msg[200];
    vm_health_reset();
    assert_true(vm_health_live(msg, sizeof msg));
    assert_string_equal(msg, "ok");
    vm_health_watch(30);
    assert_true(vm_health_live(msg, sizeof msg));
    pause_ms(80);
    assert_false(vm_health_live(msg, sizeof msg));
    assert_non_null(strstr(msg, "stalled: the main loop made no progress for"));
    vm_health_tick();
    assert_true(vm_health_live(msg, sizeof msg));
    pause_ms(80);
    vm_health_watch(0); /* a long step with timeouts of its own */
    assert_true(vm_health_live(msg, sizeof msg));
    assert_int_equal(vm_health_stall_ms(4000), 120000);
    assert_int_equal(vm_health_stall_ms(60000), 180000);
}

static void test_readiness(void **st)
{
    (void)st;
    char msg[200];
    vm_health_reset();
    assert_false(vm_health_is_ready(msg, sizeof msg));
    assert_string_equal(msg, "not ready: starting");
    vm_health_ready(true, NULL);
    assert_true(vm_health_is_ready(msg, sizeof msg));
    assert_string_equal(msg, "ready");
    vm_health_ready(false, "stopping: finishing the batch in flight");
    assert_false(vm_health_is_ready(msg, sizeof msg));
    assert_string_equal(msg, "not ready: stopping: finishing the batch in flight");
}

static long get(vm_http_client *c, int port, const char *path, vm_http_resp *r)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    vm_http_req req = {.method = "GET", .url = url};
    vm_err e;
    assert_int_equal(vm_http_request(c, &req, r, &e), VM_OK);
    return r->status;
}

static void test_served(void **st)
{
    (void)st;
    vm_err e;
    vm_metrics *m = NULL;
    vm_httpd *s = NULL;
    vm_http_client *c = NULL;
    vm_http_resp r = {0};
    vm_health_reset();
    assert_int_equal(vm_metrics_new_vecmig(&m, &e), VM_OK);
    assert_int_equal(vm_metrics_serve(m, "127.0.0.1:0", &s, &e), VM_OK);
    assert_int_equal(vm_http_client_new(NULL, &c, &e), VM_OK);
    int port = vm_httpd_port(s);
    assert_int_equal(get(c, port, "/readyz", &r), 503);
    assert_string_equal(r.body, "not ready: starting\n");
    assert_int_equal(get(c, port, "/healthz", &r), 200);
    assert_string_equal(r.body, "ok\n");
    vm_health_ready(true, NULL);
    assert_int_equal(get(c, port, "/readyz", &r), 200);
    assert_string_equal(r.body, "ready\n");
    vm_health_watch(20);
    pause_ms(60);
    assert_int_equal(get(c, port, "/healthz", &r), 503);
    assert_non_null(strstr(r.body, "stalled"));
    assert_int_equal(get(c, port, "/metrics", &r), 200);
    vm_health_reset();
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    vm_httpd_free(s);
    vm_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_served),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

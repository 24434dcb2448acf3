/*
 * test_httpd.c - the embedded HTTP server (vm_httpd) on 127.0.0.1 with a
 * port it picks, driven by libcurl through vm_http and, where response
 * headers matter (Allow, WWW-Authenticate), by a raw curl handle: routing
 * by longest prefix, 404 / 405, HEAD on GET routes, request bodies and the
 * body limit (413), handler errors (500 without the message), the bearer
 * check, query arguments and headers, concurrent clients, binding errors,
 * listen address parsing, and /metrics served from a registry.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vm_http.h"
#include "vm_httpd.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_metrics.h"

/* ------------------------------------------------------------ handlers */

static int h_text(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)req;
    (void)err;
    return vm_httpd_resp_text(resp, 200, "text/plain", ctx);
}

/* "<method> <path> <body_len> <arg x> <header X-Test>" */
static int h_echo(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)ctx;
    (void)err;
    const char *x = vm_httpd_req_arg(req, "x");
    const char *h = vm_httpd_req_header(req, "x-test");
    resp->status = 201;
    resp->content_type = "application/json";
    vm_buf_printf(&resp->body, "%s %s %zu %s %s|%s", req->method, req->path, req->body_len,
                  x ? x : "-", h ? h : "-", req->body);
    return VM_OK;
}

static int h_fail(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)ctx;
    (void)req;
    (void)resp;
    return vm_err_setc(err, VM_ERR_INTERNAL, "secret detail that must not reach the client");
}

static int h_auth(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)err;
    int rc = vm_httpd_check_bearer(req, ctx, resp);
    if (rc != VM_OK)
        return rc == VM_ERR_AUTH ? VM_OK : rc;
    return vm_httpd_resp_text(resp, 200, NULL, "welcome");
}

/* ------------------------------------------------------------- helpers */

typedef struct fx {
    vm_httpd *srv;
    vm_http_client *cli;
    char base[64];
} fx;

static int fx_setup(void **state)
{
    fx *f = vm_calloc(1, sizeof *f);
    vm_err e;
    vm_httpd_opts o = {.listen = "127.0.0.1:0", .threads = 2, .max_body = 1000};
    assert_int_equal(vm_httpd_new(&o, &f->srv, &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/a", h_text, "route a", &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/a/b", h_text, "route a/b", &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "POST", "/echo", h_echo, NULL, &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/echo", h_echo, NULL, &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/fail", h_fail, NULL, &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/auth", h_auth, "s3cret-token", &e), VM_OK);
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/open", h_auth, NULL, &e), VM_OK);
    /* the same route twice is refused */
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/a", h_text, "x", &e), VM_ERR_EXISTS);
    assert_int_equal(vm_httpd_port(f->srv), 0);
    assert_int_equal(vm_httpd_start(f->srv, &e), VM_OK);
    int port = vm_httpd_port(f->srv);
    assert_true(port > 0 && port < 65536);
    /* routes cannot be added to a running server */
    assert_int_equal(vm_httpd_route(f->srv, "GET", "/late", h_text, "x", &e), VM_ERR_INTERNAL);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", port);
    assert_int_equal(vm_http_client_new(NULL, &f->cli, &e), VM_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    vm_http_client_free(f->cli);
    vm_httpd_free(f->srv);
    vm_free(f);
    return 0;
}

/* method + path (+ body) -> status and body */
static long fetch(fx *f, const char *method, const char *path, const char *body,
                  const char *const *headers, vm_http_resp *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    vm_http_req req = {.method = method, .url = url, .headers = headers, .body = body,
                       .body_len = body ? strlen(body) : 0};
    vm_err e;
    assert_int_equal(vm_http_request(f->cli, &req, r, &e), VM_OK);
    return r->status;
}

/* A raw curl GET that collects the response headers. */
static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    vm_buf_append(ud, p, sz * n);
    return sz * n;
}

static long raw(fx *f, const char *method, const char *path, const char *auth, vm_buf *headers)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *hl = auth ? curl_slist_append(NULL, auth) : NULL;
    vm_buf body;
    vm_buf_init(&body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* HEAD: no body bytes */
    if (strcmp(method, "HEAD") == 0)
        assert_int_equal(body.len, 0);
    vm_buf_release(&body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    vm_buf_cstr(headers);
    return status;
}

/* --------------------------------------------------------------- tests */

static void test_routing(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    assert_int_equal(fetch(f, "GET", "/a", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "route a");
    assert_string_equal(r.content_type, "text/plain");
    /* longest prefix wins; a prefix covers what is below it */
    assert_int_equal(fetch(f, "GET", "/a/b/c", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "route a/b");
    assert_int_equal(fetch(f, "GET", "/a/x", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "route a");
    /* but not a longer name */
    assert_int_equal(fetch(f, "GET", "/ab", NULL, NULL, &r), 404);
    assert_int_equal(fetch(f, "GET", "/", NULL, NULL, &r), 404);
    assert_int_equal(fetch(f, "GET", "/nothing/here", NULL, NULL, &r), 404);
    vm_http_resp_free(&r);
}

static void test_method_not_allowed(void **state)
{
    fx *f = *state;
    vm_buf h;
    vm_buf_init(&h);
    assert_int_equal(raw(f, "DELETE", "/a", NULL, &h), 405);
    assert_non_null(strcasestr(h.data, "\nAllow: GET, HEAD\r\n"));
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "PUT", "/echo", NULL, &h), 405);
    assert_non_null(strcasestr(h.data, "\nAllow: POST, GET, HEAD\r\n"));
    vm_buf_clear(&h);
    /* HEAD on a GET route: headers, no body */
    assert_int_equal(raw(f, "HEAD", "/a", NULL, &h), 200);
    assert_non_null(strcasestr(h.data, "Content-Length: 7\r\n"));
    vm_buf_release(&h);
}

static void test_body_args_headers(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    const char *hdrs[] = {"X-Test: hello", "Content-Type: application/json", NULL};
    assert_int_equal(fetch(f, "POST", "/echo/sub?x=1%202&y=3", "{\"k\": 1}", hdrs, &r), 201);
    assert_string_equal(r.body, "POST /echo/sub 8 1 2 hello|{\"k\": 1}");
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(fetch(f, "GET", "/echo", NULL, NULL, &r), 201);
    assert_string_equal(r.body, "GET /echo 0 - -|");
    /* at the limit passes, over it is 413 and the handler is not called */
    char big[1002];
    memset(big, 'x', 1000);
    big[1000] = '\0';
    assert_int_equal(fetch(f, "POST", "/echo", big, hdrs, &r), 201);
    big[1000] = 'y';
    big[1001] = '\0';
    assert_int_equal(fetch(f, "POST", "/echo", big, hdrs, &r), 413);
    assert_null(strstr(r.body, "POST /echo"));
    vm_http_resp_free(&r);
}

static void test_handler_error(void **state)
{
    fx *f = *state;
    vm_http_resp r = {0};
    FILE *log = tmpfile();
    vm_log_set_stream(log);
    assert_int_equal(fetch(f, "GET", "/fail", NULL, NULL, &r), 500);
    vm_log_set_stream(NULL);
    assert_string_equal(r.body, "internal error\n");
    /* the reason is logged, not sent */
    char line[1024] = "";
    rewind(log);
    size_t n = fread(line, 1, sizeof line - 1, log);
    line[n] = '\0';
    fclose(log);
    assert_non_null(strstr(line, "GET /fail: secret detail"));
    vm_http_resp_free(&r);
}

static void test_bearer(void **state)
{
    fx *f = *state;
    vm_buf h;
    vm_buf_init(&h);
    assert_int_equal(raw(f, "GET", "/auth", NULL, &h), 401);
    assert_non_null(strcasestr(h.data, "\nWWW-Authenticate: Bearer\r\n"));
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "Authorization: Bearer wrong-token", &h), 401);
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "Authorization: Bearer s3cret-tok", &h), 401);
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "Authorization: Bearer s3cret-token-and-more", &h),
                     401);
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "Authorization: Basic s3cret-token", &h), 401);
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "Authorization: Bearer s3cret-token", &h), 200);
    vm_buf_clear(&h);
    assert_int_equal(raw(f, "GET", "/auth", "authorization: bearer s3cret-token", &h), 200);
    vm_buf_clear(&h);
    /* no token configured: open */
    assert_int_equal(raw(f, "GET", "/open", NULL, &h), 200);
    vm_buf_release(&h);
}

typedef struct client_arg {
    const char *base;
    int ok;
} client_arg;

static void *client_main(void *p)
{
    client_arg *a = p;
    vm_http_client *c;
    vm_err e;
    if (vm_http_client_new(NULL, &c, &e) != VM_OK)
        return NULL;
    char url[128];
    snprintf(url, sizeof url, "%s/a/b", a->base);
    vm_http_resp r = {0};
    for (int i = 0; i < 40; i++) {
        vm_http_req req = {.method = "GET", .url = url};
        if (vm_http_request(c, &req, &r, &e) == VM_OK && r.status == 200 &&
            strcmp(r.body, "route a/b") == 0)
            a->ok++;
    }
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    fx *f = *state;
    pthread_t t[4];
    client_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (client_arg){f->base, 0};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 40);
    }
}

static void test_bind_errors(void **state)
{
    (void)state;
    vm_err e;
    vm_httpd *a, *b;
    vm_httpd_opts o = {.listen = "127.0.0.1:0"};
    assert_int_equal(vm_httpd_new(&o, &a, &e), VM_OK);
    assert_int_equal(vm_httpd_start(a, &e), VM_OK);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", vm_httpd_port(a));
    /* the same port again: refused, naming the address */
    o.listen = taken;
    assert_int_equal(vm_httpd_new(&o, &b, &e), VM_OK);
    assert_int_equal(vm_httpd_start(b, &e), VM_ERR_IO);
    assert_non_null(strstr(e.msg, taken));
    assert_int_equal(vm_httpd_port(b), 0);
    vm_httpd_free(b);
    vm_httpd_free(a);
    /* an address that is not on this machine (no name lookups here: the
     * test machine may have no DNS) */
    o.listen = "192.0.2.1:0";
    assert_int_equal(vm_httpd_new(&o, &b, &e), VM_OK);
    assert_int_equal(vm_httpd_start(b, &e), VM_ERR_IO);
    vm_httpd_free(b);
    /* IPv6 loopback, when the machine has it */
    o.listen = "[::1]:0";
    assert_int_equal(vm_httpd_new(&o, &b, &e), VM_OK);
    if (vm_httpd_start(b, &e) == VM_OK)
        assert_true(vm_httpd_port(b) > 0);
    vm_httpd_free(b);
    vm_httpd_free(NULL);
}

static void test_parse_listen(void **state)
{
    (void)state;
    char host[64];
    int port;
    vm_err e;
    assert_int_equal(vm_httpd_parse_listen("127.0.0.1:9464", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(vm_httpd_parse_listen(":0", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "");
    assert_int_equal(port, 0);
    assert_int_equal(vm_httpd_parse_listen("[::1]:65535", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    assert_int_equal(vm_httpd_parse_listen("localhost:80", host, sizeof host, &port, &e), 0);
    assert_string_equal(host, "localhost");
    const char *bad[] = {"", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                         "127.0.0.1:-1", "127.0.0.1:+5", "127.0.0.1:9x", "::1:9464",
                         "[::1]9464", "[::1", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(vm_httpd_parse_listen(bad[i], host, sizeof host, &port, &e),
                         VM_ERR_INVALID);
        if (*bad[i])
            assert_non_null(strstr(e.msg, bad[i]));
    }
    char tiny[4];
    assert_int_equal(vm_httpd_parse_listen("example.com:1", tiny, sizeof tiny, &port, &e),
                     VM_ERR_INVALID);
}

static void test_metrics_endpoint(void **state)
{
    (void)state;
    vm_err e;
    vm_metrics *m;
    vm_httpd *s;
    assert_int_equal(vm_metrics_new_vecmig(&m, &e), VM_OK);
    vm_worker_metrics wm;
    assert_int_equal(vm_worker_metrics_init(m, "j1", "w1", &wm, &e), VM_OK);
    vm_metric_add(wm.rows_written, 1234);
    assert_int_equal(vm_metrics_serve(m, "127.0.0.1:0", &s, &e), VM_OK);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", vm_httpd_port(s));
    vm_http_client *c;
    assert_int_equal(vm_http_client_new(NULL, &c, &e), VM_OK);
    vm_http_resp r = {0};
    vm_http_req req = {.method = "GET", .url = url};
    assert_int_equal(vm_http_request(c, &req, &r, &e), VM_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, VM_METRICS_CONTENT_TYPE);
    assert_non_null(
        strstr(r.body, "\nvecmig_rows_written_total{job_id=\"j1\",worker=\"w1\"} 1234\n"));
    /* values move between scrapes */
    vm_metric_add(wm.rows_written, 1);
    assert_int_equal(vm_http_request(c, &req, &r, &e), VM_OK);
    assert_non_null(
        strstr(r.body, "\nvecmig_rows_written_total{job_id=\"j1\",worker=\"w1\"} 1235\n"));
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    vm_httpd_free(s);
    /* an address that does not parse */
    assert_int_equal(vm_metrics_serve(m, "nonsense", &s, &e), VM_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(e.msg, "metrics: "));
    vm_metrics_free(m);
}

int main(void)
{
    json_set_alloc_funcs(vm_malloc, vm_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_body_args_headers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_handler_error, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bearer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_clients, fx_setup, fx_teardown),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_metrics_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_http.c - vm_http against a scripted HTTP/1.1 server running in a
 * thread of this test on 127.0.0.1 (raw sockets, keep-alive aware): status
 * classification over the wire, transport failures (closed, hanging,
 * refused), connection reuse, the response size limit, redaction of URLs and
 * headers in messages, and the pure helpers (classifiers, Retry-After, URL
 * stripping).
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vm_http.h"
#include "vm_log.h"
#include "vm_mem.h"

/* ------------------------------------------------------- scripted server */

typedef enum srv_mode {
    SRV_RESPOND,  /* answer every request with status/headers/body */
    SRV_CLOSE,    /* read the request, close without answering */
    SRV_HANG,     /* read the request, never answer */
    SRV_CHUNKED,  /* 200 with a chunked body of body_len bytes */
} srv_mode;

typedef struct test_srv {
    int lfd;
    int port;
    int stop[2];
    pthread_t thread;
    srv_mode mode;
    int status;
    const char *headers; /* extra header lines, each ending "\r\n" */
    const char *body;
    size_t body_len;
    atomic_int accepted;
    atomic_int requests;
    pthread_mutex_t lock;
    char last[16384]; /* head and body of the last request */
} test_srv;

/* poll fd and the stop pipe; 1 when fd is readable, 0 when stopping. */
static int srv_wait(test_srv *s, int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return 0;
        if (p[0].revents)
            return 1;
    }
}

static void srv_send(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        data += w;
        n -= (size_t)w;
    }
}

static void srv_answer(test_srv *s, int fd)
{
    char head[1024];
    if (s->mode == SRV_CHUNKED) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
        srv_send(fd, head, strlen(head));
        char chunk[1024 + 16];
        memset(chunk, 'x', sizeof chunk);
        for (size_t sent = 0; sent < s->body_len; sent += 1024) {
            int hl = snprintf(chunk, 16, "400\r\n");
            memset(chunk + hl, 'x', 1024);
            memcpy(chunk + hl + 1024, "\r\n", 2);
            srv_send(fd, chunk, (size_t)hl + 1026);
        }
        srv_send(fd, "0\r\n\r\n", 5);
        return;
    }
    snprintf(head, sizeof head,
             "HTTP/1.1 %d Scripted\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n%s\r\n",
             s->status, s->body_len, s->headers ? s->headers : "");
    srv_send(fd, head, strlen(head));
    srv_send(fd, s->body, s->body_len);
}

/* Serve requests on one connection until the peer closes. 0 when stopping. */
static int srv_conn(test_srv *s, int fd)
{
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (!srv_wait(s, fd))
                return 0;
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0)
                return 1;
            len += (size_t)n;
        }
        size_t head = (size_t)(end + 4 - buf), clen = 0;
        for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2)
            if (strncasecmp(p, "Content-Length:", 15) == 0)
                clen = strtoul(p + 15, NULL, 10);
        while (len < head + clen) {
            if (!srv_wait(s, fd))
                return 0;
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0)
                return 1;
            len += (size_t)n;
        }
        pthread_mutex_lock(&s->lock);
        size_t keep = head + clen < sizeof s->last - 1 ? head + clen : sizeof s->last - 1;
        memcpy(s->last, buf, keep);
        s->last[keep] = '\0';
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->requests, 1);
        memmove(buf, buf + head + clen, len - head - clen);
        len -= head + clen;

        if (s->mode == SRV_CLOSE)
            return 1;
        if (s->mode == SRV_HANG) {
            char sink[256];
            while (srv_wait(s, fd))
                if (recv(fd, sink, sizeof sink, 0) <= 0)
                    return 1;
            return 0;
        }
        srv_answer(s, fd);
    }
}

static void *srv_main(void *arg)
{
    test_srv *s = arg;
    while (srv_wait(s, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        int go_on = srv_conn(s, fd);
        close(fd);
        if (!go_on)
            break;
    }
    return NULL;
}

static test_srv *srv_start(srv_mode mode, int status, const char *headers, const char *body,
                           size_t body_len)
{
    test_srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    s->status = status;
    s->headers = headers;
    s->body = body;
    s->body_len = body_len;
    pthread_mutex_init(&s->lock, NULL);
    assert_int_equal(pipe(s->stop), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(test_srv *s)
{
    assert_int_equal(write(s->stop[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void srv_url(const test_srv *s, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", s->port, path);
}

static vm_http_client *client_new(long timeout_ms, size_t max_bytes)
{
    vm_http_opts o = {.timeout_ms = timeout_ms, .connect_timeout_ms = 2000,
                      .max_response_bytes = max_bytes};
    vm_http_client *c = NULL;
    vm_err e;
    assert_int_equal(vm_http_client_new(&o, &c, &e), 0);
    return c;
}

/* One request expecting a completed exchange; returns the status. */
static long do_get(vm_http_client *c, const char *url, vm_http_resp *r)
{
    vm_http_req q = {.method = "GET", .url = url};
    vm_err e;
    vm_err_clear(&e);
    int rc = vm_http_request(c, &q, r, &e);
    if (rc != 0)
        fail_msg("request failed: %s", e.msg);
    return r->status;
}

/* ----------------------------------------------------------------- tests */

static void test_post_json_ok(void **st)
{
    (void)st;
    static const char reply[] = "{\"ok\":true,\"n\":3}";
    test_srv *s = srv_start(SRV_RESPOND, 200, NULL, reply, strlen(reply));
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/v1/thing", url, sizeof url);
    json_t *body = json_pack("{s:i,s:s}", "a", 1, "b", "x y");
    json_t *out = NULL;
    long status = 0;
    const char *hdrs[] = {"X-Test: yes", NULL};
    vm_err e;
    vm_err_clear(&e);
    int rc = vm_http_post_json(c, url, hdrs, body, &out, &status, &e);
    assert_int_equal(rc, 0);
    assert_int_equal(status, 200);
    assert_non_null(out);
    assert_true(json_is_true(json_object_get(out, "ok")));
    assert_int_equal(json_integer_value(json_object_get(out, "n")), 3);
    pthread_mutex_lock(&s->lock);
    assert_non_null(strstr(s->last, "POST /v1/thing HTTP/1.1\r\n"));
    assert_non_null(strcasestr(s->last, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strcasestr(s->last, "\r\nAccept: application/json\r\n"));
    assert_non_null(strcasestr(s->last, "\r\nX-Test: yes\r\n"));
    assert_non_null(strcasestr(s->last, "\r\nUser-Agent: vecmig/" VECMIG_VERSION "\r\n"));
    assert_null(strcasestr(s->last, "\r\nExpect:"));
    assert_non_null(strstr(s->last, "\r\n\r\n{\"a\":1,\"b\":\"x y\"}"));
    pthread_mutex_unlock(&s->lock);
    json_decref(out);
    json_decref(body);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_rate_limited(void **st)
{
    (void)st;
    static const char reply[] = "{\"error\":\"slow down\"}";
    test_srv *s = srv_start(SRV_RESPOND, 429, "Retry-After: 2\r\n", reply, strlen(reply));
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/q", url, sizeof url);
    vm_http_resp r = {0};
    assert_int_equal(do_get(c, url, &r), 429);
    assert_int_equal(r.retry_after_ms, 2000);
    assert_string_equal(r.body, reply);
    assert_int_equal(r.body_len, strlen(reply));
    assert_non_null(r.content_type);
    assert_string_equal(r.content_type, "application/json");
    vm_err e;
    assert_int_equal(vm_http_check_status(&r, &e), VM_ERR_RATE_LIMITED);
    assert_int_equal(e.code, VM_ERR_RATE_LIMITED);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "429"));
    assert_non_null(strstr(e.msg, "slow down"));
    assert_non_null(strstr(e.msg, "2000 ms"));
    vm_http_resp_free(&r);
    assert_null(r.body);
    vm_http_client_free(c);
    srv_stop(s);
}

static int judge_status(void *ctx, const vm_http_resp *resp, vm_err *err)
{
    (*(int *)ctx)++;
    return vm_http_check_status(resp, err);
}

/* The shared retry policy: retriable answers are retried max_retries times
 * (Retry-After honoured, else backoff), fatal ones are not. */
static void test_request_retry(void **st)
{
    (void)st;
    static const struct {
        int status;
        const char *headers;
        int want_requests;
        vm_code want;
    } cases[] = {
        {429, "Retry-After: 0\r\n", 3, VM_ERR_RATE_LIMITED},
        {503, "", 3, VM_ERR_UNAVAILABLE},
        {400, "", 1, VM_ERR_INVALID},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        test_srv *s = srv_start(SRV_RESPOND, cases[k].status, cases[k].headers, "{}", 2);
        vm_http_client *c = client_new(5000, 0);
        char url[128];
        srv_url(s, "/r", url, sizeof url);
        vm_http_req req = {.method = "GET", .url = url};
        vm_http_resp r = {0};
        unsigned seed = 1;
        int judged = 0;
        vm_http_retry pol = {.max_retries = 2, .base_ms = 1, .cap_ms = 2, .seed = &seed};
        vm_err e;
        int rc = vm_http_request_retry(c, &req, &r, &pol, judge_status, &judged, &e);
        if (rc != (int)cases[k].want)
            fail_msg("case %zu: rc %d (%s)", k, rc, e.msg);
        assert_int_equal(atomic_load(&s->requests), cases[k].want_requests);
        assert_int_equal(judged, cases[k].want_requests);
        vm_http_resp_free(&r);
        vm_http_client_free(c);
        srv_stop(s);
    }
    /* a success on the first answer is returned at once */
    test_srv *s = srv_start(SRV_RESPOND, 200, "", "{}", 2);
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/ok", url, sizeof url);
    vm_http_req req = {.method = "GET", .url = url};
    vm_http_resp r = {0};
    unsigned seed = 1;
    int judged = 0;
    vm_http_retry pol = {.max_retries = 5, .seed = &seed};
    vm_err e;
    assert_int_equal(vm_http_request_retry(c, &req, &r, &pol, judge_status, &judged, &e), VM_OK);
    assert_int_equal(atomic_load(&s->requests), 1);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_unavailable_snippet(void **st)
{
    (void)st;
    char body[400];
    memset(body, 'a', 150);
    memset(body + 150, 'b', 100);
    strcpy(body + 250, "TAILMARK");
    test_srv *s = srv_start(SRV_RESPOND, 503, NULL, body, strlen(body));
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/busy", url, sizeof url);
    vm_http_resp r = {0};
    assert_int_equal(do_get(c, url, &r), 503);
    assert_int_equal(r.retry_after_ms, -1);
    vm_err e;
    assert_int_equal(vm_http_check_status(&r, &e), VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "HTTP 503"));
    assert_non_null(strstr(e.msg, "GET http://127.0.0.1:"));
    /* at most 200 characters of the body: 150 a + 50 b, then "..." */
    char *a = strstr(e.msg, "aaaa");
    assert_non_null(a);
    assert_int_equal(strspn(a, "a"), 150);
    assert_int_equal(strspn(a + 150, "b"), 50);
    assert_string_equal(a + 200, "...");
    assert_null(strstr(e.msg, "TAILMARK"));
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_too_large_status(void **st)
{
    (void)st;
    test_srv *s = srv_start(SRV_RESPOND, 413, NULL, "too big", 7);
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/insert", url, sizeof url);
    vm_http_req q = {.method = "POST", .url = url, .body = "{}", .body_len = 2};
    vm_http_resp r = {0};
    vm_err e;
    assert_int_equal(vm_http_request(c, &q, &r, &e), 0);
    assert_int_equal(r.status, 413);
    assert_int_equal(vm_http_check_status(&r, &e), VM_ERR_TOO_LARGE);
    assert_true(e.retriable);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_auth_fatal_and_redacted(void **st)
{
    (void)st;
    test_srv *s = srv_start(SRV_RESPOND, 401, NULL, "unauthorized", 12);
    vm_http_client *c = client_new(5000, 0);
    char url[256];
    snprintf(url, sizeof url,
             "http://alice:S3cretPassw0rd@127.0.0.1:%d/v2/x?api_key=QUERYKEY123&y=1#frag",
             s->port);
    const char *hdrs[] = {"Authorization: Bearer TOKENVALUE987", "Api-Key: HEADERKEY555",
                          NULL};
    vm_http_req q = {.method = "GET", .url = url, .headers = hdrs};
    vm_http_resp r = {0};
    vm_err e;
    assert_int_equal(vm_http_request(c, &q, &r, &e), 0);
    assert_int_equal(r.status, 401);
    pthread_mutex_lock(&s->lock); /* the header did reach the server */
    assert_non_null(strstr(s->last, "TOKENVALUE987"));
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(vm_http_check_status(&r, &e), VM_ERR_AUTH);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "HTTP 401"));
    assert_non_null(strstr(e.msg, "/v2/x"));
    assert_null(strstr(e.msg, "S3cretPassw0rd"));
    assert_null(strstr(e.msg, "alice"));
    assert_null(strstr(e.msg, "QUERYKEY123"));
    assert_null(strstr(e.msg, "TOKENVALUE987"));
    assert_null(strstr(e.msg, "HEADERKEY555"));
    assert_null(strstr(r.where, "S3cretPassw0rd"));
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_closed_without_answer(void **st)
{
    (void)st;
    test_srv *s = srv_start(SRV_CLOSE, 0, NULL, NULL, 0);
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/x", url, sizeof url);
    vm_http_req q = {.url = url};
    vm_http_resp r = {0};
    vm_err e;
    int rc = vm_http_request(c, &q, &r, &e);
    assert_int_equal(rc, VM_ERR_IO);
    assert_int_equal(e.code, VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(r.body);
    assert_true(atomic_load(&s->requests) >= 1);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_hang_times_out(void **st)
{
    (void)st;
    test_srv *s = srv_start(SRV_HANG, 0, NULL, NULL, 0);
    vm_http_client *c = client_new(60000, 0);
    char url[128];
    srv_url(s, "/slow", url, sizeof url);
    vm_http_req q = {.url = url, .timeout_ms = 300};
    vm_http_resp r = {0};
    vm_err e;
    double t0 = now_ms();
    int rc = vm_http_request(c, &q, &r, &e);
    double took = now_ms() - t0;
    assert_int_equal(rc, VM_ERR_TIMEOUT);
    assert_true(e.retriable);
    assert_true(took >= 250 && took < 10000);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_connection_refused(void **st)
{
    (void)st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* bound, never listened, now closed: connecting is refused */
    char url[256];
    snprintf(url, sizeof url, "http://bob:RefusedPassw0rd@127.0.0.1:%d/p?token=QTOKEN42",
             ntohs(a.sin_port));
    vm_http_client *c = client_new(5000, 0);
    vm_http_req q = {.url = url};
    vm_http_resp r = {0};
    vm_err e;
    assert_int_equal(vm_http_request(c, &q, &r, &e), VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(strstr(e.msg, "RefusedPassw0rd"));
    assert_null(strstr(e.msg, "QTOKEN42"));
    assert_non_null(strstr(e.msg, "/p"));
    vm_http_resp_free(&r);
    vm_http_client_free(c);
}

static void test_keep_alive(void **st)
{
    (void)st;
    test_srv *s = srv_start(SRV_RESPOND, 200, NULL, "{}", 2);
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/a", url, sizeof url);
    vm_http_resp r = {0};
    assert_int_equal(do_get(c, url, &r), 200);
    assert_string_equal(r.body, "{}");
    vm_http_req q = {.method = "PUT", .url = url, .body = "[1,2]", .body_len = 5};
    vm_err e;
    assert_int_equal(vm_http_request(c, &q, &r, &e), 0);
    assert_int_equal(r.status, 200);
    pthread_mutex_lock(&s->lock);
    assert_non_null(strstr(s->last, "PUT /a HTTP/1.1"));
    assert_non_null(strstr(s->last, "\r\n\r\n[1,2]"));
    pthread_mutex_unlock(&s->lock);
    vm_http_req d = {.method = "DELETE", .url = url};
    assert_int_equal(vm_http_request(c, &d, &r, &e), 0);
    pthread_mutex_lock(&s->lock);
    assert_non_null(strstr(s->last, "DELETE /a HTTP/1.1"));
    assert_null(strcasestr(s->last, "Content-Length"));
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(atomic_load(&s->requests), 3);
    assert_int_equal(atomic_load(&s->accepted), 1);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_body_limit(void **st)
{
    (void)st;
    static char big[4096];
    memset(big, 'z', sizeof big);
    /* Content-Length above the limit */
    test_srv *s = srv_start(SRV_RESPOND, 200, NULL, big, sizeof big);
    vm_http_client *c = client_new(5000, 1024);
    char url[128];
    srv_url(s, "/big", url, sizeof url);
    vm_http_req q = {.url = url};
    vm_http_resp r = {0};
    vm_err e;
    assert_int_equal(vm_http_request(c, &q, &r, &e), VM_ERR_TOO_LARGE);
    assert_false(e.retriable);
    assert_null(r.body);
    srv_stop(s);
    /* chunked: no length known up front, cut while receiving */
    s = srv_start(SRV_CHUNKED, 200, NULL, NULL, 8192);
    srv_url(s, "/big", url, sizeof url);
    assert_int_equal(vm_http_request(c, &q, &r, &e), VM_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "1024"));
    assert_null(r.body);
    vm_http_client_free(c);
    srv_stop(s);
    /* and within the limit the same chunked body arrives whole */
    s = srv_start(SRV_CHUNKED, 200, NULL, NULL, 3072);
    c = client_new(5000, 4096);
    srv_url(s, "/ok", url, sizeof url);
    assert_int_equal(do_get(c, url, &r), 200);
    assert_int_equal(r.body_len, 3072);
    assert_int_equal(strspn(r.body, "x"), 3072);
    vm_http_resp_free(&r);
    vm_http_client_free(c);
    srv_stop(s);
}

static void test_post_json_non_json(void **st)
{
    (void)st;
    static const char html[] = "<html>bad gateway</html>";
    test_srv *s = srv_start(SRV_RESPOND, 502, NULL, html, strlen(html));
    vm_http_client *c = client_new(5000, 0);
    char url[128];
    srv_url(s, "/j", url, sizeof url);
    json_t *body = json_object();
    json_t *out = NULL;
    long status = 0;
    vm_err e;
    assert_int_equal(vm_http_post_json(c, url, NULL, body, &out, &status, &e),
                     VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_int_equal(status, 502);
    assert_null(out);
    srv_stop(s);
    /* a 2xx that is not JSON is a protocol error */
    s = srv_start(SRV_RESPOND, 200, NULL, html, strlen(html));
    srv_url(s, "/j", url, sizeof url);
    assert_int_equal(vm_http_post_json(c, url, NULL, body, &out, &status, &e), VM_ERR_PROTOCOL);
    assert_false(e.retriable);
    assert_null(out);
    srv_stop(s);
    /* a JSON error envelope with a 4xx is handed back to the caller */
    static const char env[] = "{\"status\":{\"error\":\"bad vector\"}}";
    s = srv_start(SRV_RESPOND, 400, NULL, env, strlen(env));
    srv_url(s, "/j", url, sizeof url);
    assert_int_equal(vm_http_post_json(c, url, NULL, body, &out, &status, &e), 0);
    assert_int_equal(status, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "status"),
                                                          "error")),
                        "bad vector");
    json_decref(out);
    json_decref(body);
    vm_http_client_free(c);
    srv_stop(s);
}

/* Every vm_* allocation of a request made to fail in turn: each failure is
 * VM_ERR_NOMEM with nothing leaked (ASan checks), and the loop ends with a
 * success. */
static void test_nomem_paths(void **st)
{
    (void)st;
    static const char reply[] = "{\"ok\":1}";
    test_srv *s = srv_start(SRV_RESPOND, 200, NULL, reply, strlen(reply));
    char url[128];
    srv_url(s, "/m", url, sizeof url);
    json_t *body = json_pack("{s:i}", "a", 1);
    int successes = 0, failures = 0;
    for (long n = 0; n < 64 && successes == 0; n++) {
        vm_http_client *c = NULL;
        json_t *out = NULL;
        vm_err e;
        vm_mem_fail_after(n);
        int rc = vm_http_client_new(NULL, &c, &e);
        if (rc == 0)
            rc = vm_http_post_json(c, url, NULL, body, &out, NULL, &e);
        vm_mem_fail_after(-1);
        if (rc == 0) {
            successes++;
            assert_int_equal(json_integer_value(json_object_get(out, "ok")), 1);
        } else {
            failures++;
            assert_int_equal(rc, VM_ERR_NOMEM);
            assert_null(out);
        }
        json_decref(out);
        vm_http_client_free(c);
    }
    assert_int_equal(successes, 1);
    assert_true(failures >= 3);
    json_decref(body);
    srv_stop(s);
}

static void test_insecure_warns_once(void **st)
{
    (void)st;
    FILE *f = tmpfile();
    assert_non_null(f);
    vm_log_set_stream(f);
    vm_log_set_format(VM_LOG_TEXT);
    vm_http_opts o = {.insecure = true};
    vm_http_client *c = NULL;
    vm_err e;
    assert_int_equal(vm_http_client_new(&o, &c, &e), 0);
    vm_http_client_free(c);
    o.insecure = false;
    assert_int_equal(vm_http_client_new(&o, &c, &e), 0);
    vm_http_client_free(c);
    vm_log_set_stream(NULL);
    vm_log_set_format(VM_LOG_AUTO);
    rewind(f);
    char line[1024];
    int warns = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "warn") && strstr(line, "insecure"))
            warns++;
    fclose(f);
    assert_int_equal(warns, 1);
}

/* ---------------------------------------------------------- pure helpers */

static void test_classify_curl(void **st)
{
    (void)st;
    bool r = false;
    assert_int_equal(vm_http_classify_curl(CURLE_OK, &r), VM_OK);
    assert_int_equal(vm_http_classify_curl(CURLE_OPERATION_TIMEDOUT, &r), VM_ERR_TIMEOUT);
    assert_true(r);
    static const CURLcode io[] = {CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST,
                                  CURLE_SEND_ERROR,      CURLE_RECV_ERROR,
                                  CURLE_GOT_NOTHING,     CURLE_PARTIAL_FILE};
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
        r = false;
        assert_int_equal(vm_http_classify_curl(io[i], &r), VM_ERR_IO);
        assert_true(r);
    }
    r = true;
    assert_int_equal(vm_http_classify_curl(CURLE_PEER_FAILED_VERIFICATION, &r), VM_ERR_AUTH);
    assert_false(r);
    r = true;
    assert_int_equal(vm_http_classify_curl(CURLE_SSL_CACERT_BADFILE, &r), VM_ERR_INVALID);
    assert_false(r);
    r = true;
    assert_int_equal(vm_http_classify_curl(CURLE_URL_MALFORMAT, &r), VM_ERR_INVALID);
    assert_false(r);
    assert_int_equal(vm_http_classify_curl(CURLE_OUT_OF_MEMORY, &r), VM_ERR_NOMEM);
    assert_false(r);
    assert_int_equal(vm_http_classify_curl(CURLE_FILESIZE_EXCEEDED, &r), VM_ERR_TOO_LARGE);
    assert_false(r);
    assert_int_equal(vm_http_classify_curl(CURLE_WEIRD_SERVER_REPLY, NULL), VM_ERR_PROTOCOL);
}

static void test_classify_status(void **st)
{
    (void)st;
    static const struct {
        long status;
        vm_code code;
        bool retriable;
    } cases[] = {
        {200, VM_OK, false},
        {204, VM_OK, false},
        {429, VM_ERR_RATE_LIMITED, true},
        {408, VM_ERR_TIMEOUT, true},
        {413, VM_ERR_TOO_LARGE, true},
        {500, VM_ERR_UNAVAILABLE, true},
        {502, VM_ERR_UNAVAILABLE, true},
        {503, VM_ERR_UNAVAILABLE, true},
        {504, VM_ERR_UNAVAILABLE, true},
        {401, VM_ERR_AUTH, false},
        {403, VM_ERR_AUTH, false},
        {404, VM_ERR_NOT_FOUND, false},
        {409, VM_ERR_EXISTS, false},
        {400, VM_ERR_INVALID, false},
        {422, VM_ERR_INVALID, false},
        {418, VM_ERR_REMOTE, false},
        {501, VM_ERR_UNSUPPORTED, false},
        {507, VM_ERR_REMOTE, false},
        {302, VM_ERR_PROTOCOL, false},
        {0, VM_ERR_PROTOCOL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool r = !cases[i].retriable;
        vm_code got = vm_http_classify_status(cases[i].status, &r);
        if (got != cases[i].code || r != cases[i].retriable)
            fail_msg("status %ld: got %s/%d", cases[i].status, vm_code_name(got), r);
    }
}

static void test_retry_after_parse(void **st)
{
    (void)st;
    /* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example) */
    const time_t date = 784111777;
    assert_int_equal(vm_http_parse_retry_after("2", 0), 2000);
    assert_int_equal(vm_http_parse_retry_after(" 120 ", 0), 120000);
    assert_int_equal(vm_http_parse_retry_after("0", 0), 0);
    assert_int_equal(vm_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 30),
                     30000);
    assert_int_equal(vm_http_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", date - 5), 5000);
    assert_int_equal(vm_http_parse_retry_after("Sun Nov  6 08:49:37 1994", date - 1), 1000);
    assert_int_equal(vm_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 100), 0);
    assert_int_equal(vm_http_parse_retry_after(NULL, 0), -1);
    assert_int_equal(vm_http_parse_retry_after("", 0), -1);
    assert_int_equal(vm_http_parse_retry_after("soon", 0), -1);
    assert_int_equal(vm_http_parse_retry_after("-5", 0), -1);
    assert_int_equal(vm_http_parse_retry_after("1.5", 0), -1);
    assert_true(vm_http_parse_retry_after("99999999999999999999999", 0) > 0);
}

static void test_url_safe(void **st)
{
    (void)st;
    char out[256];
    vm_http_url_safe("https://user:pw@host.example:8443/v2/x?api_key=K#frag", out, sizeof out);
    assert_string_equal(out, "https://host.example:8443/v2/x");
    vm_http_url_safe("http://127.0.0.1:19530", out, sizeof out);
    assert_string_equal(out, "http://127.0.0.1:19530");
    vm_http_url_safe("http://[::1]:80/p?x=1", out, sizeof out);
    assert_string_equal(out, "http://[::1]:80/p");
    vm_http_url_safe("http://a@b:c@host/p", out, sizeof out);
    assert_string_equal(out, "http://host/p");
    vm_http_url_safe("host:1/p?k=http://x", out, sizeof out);
    assert_string_equal(out, "host:1/p");
    vm_http_url_safe(NULL, out, sizeof out);
    assert_string_equal(out, "");
    vm_http_url_safe("http://averyveryverylonghost/path", out, 12);
    assert_int_equal(strlen(out), 11);
}

int main(void)
{
    /* the scripted server is on loopback: never let a proxy setting of the
     * environment route test traffic elsewhere */
    setenv("NO_PROXY", "*", 1);
    setenv("no_proxy", "*", 1);
    vm_err e;
    if (vm_http_global_init(&e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_json_ok),
        cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_request_retry),
        cmocka_unit_test(test_unavailable_snippet),
        cmocka_unit_test(test_too_large_status),
        cmocka_unit_test(test_auth_fatal_and_redacted),
        cmocka_unit_test(test_closed_without_answer),
        cmocka_unit_test(test_hang_times_out),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_post_json_non_json),
        cmocka_unit_test(test_nomem_paths),
        cmocka_unit_test(test_insecure_warns_once),
        cmocka_unit_test(test_classify_curl),
        cmocka_unit_test(test_classify_status),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_url_safe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

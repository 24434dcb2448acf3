/*
 * vm_httpd.h - a tiny embedded HTTP server (libmicrohttpd) for vecmig's own
 * endpoints: /metrics now, the coordinator's API and Jobs page later.
 *
 * Routes are (method, path prefix) -> handler. A handler fills a response
 * (status, content type, body, a few headers) and returns VM_OK; any other
 * return answers 500 without leaking the error text to the client (it is
 * logged). The longest matching prefix wins; a prefix matches the path
 * itself and everything below it ("/api/jobs" matches "/api/jobs" and
 * "/api/jobs/7", not "/api/jobsx"). A path that matches only routes of
 * other methods gets 405 with Allow; no match gets 404. A GET route also
 * answers HEAD (the body is not sent).
 *
 * The server binds its own socket (so `port 0 = pick one` works and
 * vm_httpd_port tells which), hands it to libmicrohttpd, and serves it from
 * a small internal thread pool: handlers run on those threads, concurrently,
 * so what they read must be safe to read from another thread (the metrics
 * registry is). vm_httpd_free stops accepting, waits for the handlers in
 * flight and frees everything.
 *
 * Why libmicrohttpd: a maintained, Debian-packaged embedded server with its
 * own threads, request size limits and timeouts; writing HTTP parsing by
 * hand for an endpoint exposed on 0.0.0.0 in Kubernetes is not worth the
 * risk.
 */
#ifndef VM_HTTPD_H
#define VM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "vm_buf.h"
#include "vm_err.h"

typedef struct vm_httpd vm_httpd;

#define VM_HTTPD_MAX_HEADERS 4
#define VM_HTTPD_DEFAULT_MAX_BODY ((size_t)1024 * 1024)

typedef struct vm_httpd_opts {
    const char *listen;   /* "host:port", "[v6]:port" or ":port" (all interfaces); port 0: any free one */
    unsigned threads;     /* handler threads; 0: 2 */
    size_t max_body;      /* request bodies larger than this get 413; 0: VM_HTTPD_DEFAULT_MAX_BODY */
    unsigned timeout_s;   /* idle connection timeout; 0: 30 */
} vm_httpd_opts;

/* What a handler sees. Strings live until the handler returns. */
typedef struct vm_httpd_req {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* decoded path, no query string */
    const char *body;     /* NUL-terminated; "" when none */
    size_t body_len;
    void *conn_;          /* internal: the connection, for header / arg lookups */
} vm_httpd_req;

/* What a handler fills. status 0 is taken as 200; content_type NULL as
 * "text/plain; charset=utf-8". The body is a buffer the server owns. */
typedef struct vm_httpd_resp {
    int status;
    const char *content_type;  /* static or otherwise outliving the request */
    vm_buf body;
    int nheaders;
    char *header_names[VM_HTTPD_MAX_HEADERS];
    char *header_values[VM_HTTPD_MAX_HEADERS];
} vm_httpd_resp;

/* VM_OK: resp is sent. Anything else: 500 "internal error" to the client,
 * err->msg to the log. */
typedef int (*vm_httpd_handler)(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp,
                                vm_err *err);

/* A server that is not yet listening: add routes, then start it. */
int vm_httpd_new(const vm_httpd_opts *opts, vm_httpd **out, vm_err *err);
/* method: "GET", "POST", ...; prefix starts with '/'. Before start only.
 * The same (method, prefix) twice is VM_ERR_EXISTS. */
int vm_httpd_route(vm_httpd *s, const char *method, const char *prefix, vm_httpd_handler fn,
                   void *ctx, vm_err *err);
/* Bind, listen and serve. VM_ERR_INVALID for a listen address that does
 * not parse or resolve, VM_ERR_IO when it cannot be bound (naming it). */
int vm_httpd_start(vm_httpd *s, vm_err *err);
/* The bound port (after start), 0 before. */
int vm_httpd_port(const vm_httpd *s);
/* Stop (waits for handlers in flight) and free. NULL is fine. */
void vm_httpd_free(vm_httpd *s);

/* Request helpers: a header (case-insensitive name) or a query argument,
 * NULL when absent. */
const char *vm_httpd_req_header(const vm_httpd_req *req, const char *name);
const char *vm_httpd_req_arg(const vm_httpd_req *req, const char *name);

/* Response helpers. Both return VM_OK or VM_ERR_NOMEM (the handler then
 * returns that and the client gets 500). */
int vm_httpd_resp_text(vm_httpd_resp *resp, int status, const char *content_type,
                       const char *body);
int vm_httpd_resp_header(vm_httpd_resp *resp, const char *name, const char *value);

/* Bearer-token check for protected routes: VM_OK when `Authorization:
 * Bearer <token>` matches (constant-time compare; token NULL or "" means no
 * token is configured and everything passes). Otherwise fills resp with
 * 401, `WWW-Authenticate: Bearer` and a one-line body, and returns
 * VM_ERR_AUTH (VM_ERR_NOMEM if the answer could not be built): on
 * VM_ERR_AUTH the handler returns VM_OK so that the 401 is sent. */
int vm_httpd_check_bearer(const vm_httpd_req *req, const char *token, vm_httpd_resp *resp);

/* Split "host:port" / "[v6]:port" / ":port" into host ("" for all
 * interfaces) and port; 0 or VM_ERR_INVALID naming the value. Exposed for
 * tests and config checks. */
int vm_httpd_parse_listen(const char *listen, char *host, size_t host_cap, int *port,
                          vm_err *err);

#endif

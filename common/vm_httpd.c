/*
 * vm_httpd.c - the embedded HTTP server over libmicrohttpd (see vm_httpd.h).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers (we allocate the request's state), once per body chunk
 * (collected up to max_body) and once at the end (we dispatch). The state is
 * freed in the completion callback, which runs for every request, answered
 * or aborted.
 *
 * We bind the listen socket ourselves: getaddrinfo understands every form
 * of host (IPv4, IPv6, names), port 0 works, and the error names the
 * address. libmicrohttpd gets a duplicate of it, so that whatever it does
 * with its copy on a failed start, ours is closed exactly once.
 */
#include "vm_httpd.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#define VM_HTTPD_HOST_MAX 256

typedef struct vm_httpd_route_ent {
    char *method;
    char *prefix;
    size_t plen;
    vm_httpd_handler fn;
    void *ctx;
} vm_httpd_route_ent;

struct vm_httpd {
    char *listen;
    unsigned threads;
    size_t max_body;
    unsigned timeout_s;
    vm_httpd_route_ent *routes;
    size_t nroutes, cap;
    struct MHD_Daemon *daemon;
    int fd;
    int port;
};

/* Per request, between the access handler's calls. */
typedef struct vm_httpd_rq {
    vm_buf body;
    bool too_large;
} vm_httpd_rq;

/* ------------------------------------------------------------- listen */

int vm_httpd_parse_listen(const char *listen, char *host, size_t host_cap, int *port,
                          vm_err *err)
{
    if (!listen || !*listen)
        return vm_err_setc(err, VM_ERR_INVALID, "listen address is empty (expected host:port)");
    const char *colon;
    size_t hl;
    const char *h = listen;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return vm_err_setc(err, VM_ERR_INVALID,
                               "listen address '%s': expected [IPv6]:port", listen);
        h = listen + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "listen address '%s': expected host:port (e.g. 127.0.0.1:9464 "
                               "or :9464)",
                               listen);
        hl = (size_t)(colon - listen);
        if (memchr(listen, ':', hl))
            return vm_err_setc(err, VM_ERR_INVALID,
                               "listen address '%s': write an IPv6 host in brackets, "
                               "[::1]:9464",
                               listen);
    }
    if (hl >= host_cap)
        return vm_err_setc(err, VM_ERR_INVALID, "listen address '%s': host name too long",
                           listen);
    const char *p = colon + 1;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (!*p || *end || errno || v < 0 || v > 65535 || *p == '+' || *p == '-' || *p == ' ')
        return vm_err_setc(err, VM_ERR_INVALID,
                           "listen address '%s': port must be a number 0..65535", listen);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return VM_OK;
}

static int vm_httpd_bind(vm_httpd *s, vm_err *err)
{
    char host[VM_HTTPD_HOST_MAX], portstr[16];
    int port, rc;
    if ((rc = vm_httpd_parse_listen(s->listen, host, sizeof host, &port, err)) != VM_OK)
        return rc;
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
    if (gai != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "listen address '%s': %s", s->listen,
                           gai_strerror(gai));
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return vm_err_setc(err, VM_ERR_IO, "cannot listen on %s: %s", s->listen,
                           strerror(saved ? saved : EADDRNOTAVAIL));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        saved = errno;
        close(fd);
        return vm_err_setc(err, VM_ERR_IO, "cannot listen on %s: %s", s->listen,
                           strerror(saved));
    }
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    s->fd = fd;
    return VM_OK;
}

/* ------------------------------------------------------------- routing */

static bool vm_httpd_prefix_match(const vm_httpd_route_ent *r, const char *path)
{
    if (strncmp(path, r->prefix, r->plen) != 0)
        return false;
    char next = path[r->plen];
    return next == '\0' || next == '/' || (r->plen > 0 && r->prefix[r->plen - 1] == '/');
}

static bool vm_httpd_method_match(const vm_httpd_route_ent *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

/* The route for (method, path): longest prefix among those of the method;
 * NULL, with *other set when another method's route matches the path. */
static const vm_httpd_route_ent *vm_httpd_find(const vm_httpd *s, const char *method,
                                               const char *path, bool *other)
{
    const vm_httpd_route_ent *best = NULL;
    *other = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const vm_httpd_route_ent *r = &s->routes[i];
        if (!vm_httpd_prefix_match(r, path))
            continue;
        if (!vm_httpd_method_match(r, method)) {
            *other = true;
            continue;
        }
        if (!best || r->plen > best->plen)
            best = r;
    }
    return best;
}

/* "GET, HEAD, POST" of the routes that match path. */
static void vm_httpd_allow(const vm_httpd *s, const char *path, vm_buf *out)
{
    bool get = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const vm_httpd_route_ent *r = &s->routes[i];
        if (!vm_httpd_prefix_match(r, path))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (vm_httpd_prefix_match(&s->routes[j], path) &&
                strcmp(s->routes[j].method, r->method) == 0)
                seen = true;
        if (seen)
            continue;
        if (out->len)
            vm_buf_puts(out, ", ");
        vm_buf_puts(out, r->method);
        get = get || strcmp(r->method, "GET") == 0;
    }
    if (get)
        vm_buf_puts(out, ", HEAD");
}

/* ----------------------------------------------------------- responses */

int vm_httpd_resp_text(vm_httpd_resp *resp, int status, const char *content_type,
                       const char *body)
{
    resp->status = status;
    resp->content_type = content_type;
    vm_buf_clear(&resp->body);
    if (body)
        vm_buf_puts(&resp->body, body);
    return vm_buf_ok(&resp->body) ? VM_OK : VM_ERR_NOMEM;
}

int vm_httpd_resp_header(vm_httpd_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= VM_HTTPD_MAX_HEADERS)
        return VM_ERR_NOMEM;
    char *n = vm_strdup(name), *v = vm_strdup(value);
    if (!n || !v) {
        vm_free(n);
        vm_free(v);
        return VM_ERR_NOMEM;
    }
    resp->header_names[resp->nheaders] = n;
    resp->header_values[resp->nheaders] = v;
    resp->nheaders++;
    return VM_OK;
}

static void vm_httpd_resp_release(vm_httpd_resp *resp)
{
    vm_buf_release(&resp->body);
    for (int i = 0; i < resp->nheaders; i++) {
        vm_free(resp->header_names[i]);
        vm_free(resp->header_values[i]);
    }
    resp->nheaders = 0;
}

/* Hand resp to libmicrohttpd (the body buffer is given away). */
static enum MHD_Result vm_httpd_send(struct MHD_Connection *conn, vm_httpd_resp *resp)
{
    struct MHD_Response *r;
    if (resp->body.len > 0) {
        r = MHD_create_response_from_buffer_with_free_callback(resp->body.len, resp->body.data,
                                                               vm_free);
        if (r)
            vm_buf_init(&resp->body); /* owned by the response now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type
                                               : "text/plain; charset=utf-8");
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ok =
        MHD_queue_response(conn, (unsigned)(resp->status ? resp->status : 200), r);
    MHD_destroy_response(r);
    return ok;
}

/* A fixed answer (404, 405, 413, 500). */
static enum MHD_Result vm_httpd_simple(struct MHD_Connection *conn, int status,
                                       const char *body, const char *hname, const char *hvalue)
{
    vm_httpd_resp resp = {0};
    vm_buf_init(&resp.body);
    enum MHD_Result ok = MHD_NO;
    if (vm_httpd_resp_text(&resp, status, NULL, body) == VM_OK &&
        (!hname || vm_httpd_resp_header(&resp, hname, hvalue) == VM_OK))
        ok = vm_httpd_send(conn, &resp);
    vm_httpd_resp_release(&resp);
    return ok;
}

/* ------------------------------------------------------- request cycle */

static enum MHD_Result vm_httpd_dispatch(vm_httpd *s, struct MHD_Connection *conn,
                                         const char *url, const char *method, vm_httpd_rq *rq)
{
    if (rq->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body over %zu bytes\n", s->max_body);
        return vm_httpd_simple(conn, 413, msg, NULL, NULL);
    }
    bool other = false;
    const vm_httpd_route_ent *r = vm_httpd_find(s, method, url, &other);
    if (!r) {
        if (!other)
            return vm_httpd_simple(conn, 404, "not found\n", NULL, NULL);
        vm_buf allow;
        vm_buf_init(&allow);
        vm_httpd_allow(s, url, &allow);
        enum MHD_Result ok = vm_buf_ok(&allow)
                                 ? vm_httpd_simple(conn, 405, "method not allowed\n", "Allow",
                                                   vm_buf_cstr(&allow))
                                 : MHD_NO;
        vm_buf_release(&allow);
        return ok;
    }
    vm_httpd_req req = {.method = method, .path = url, .conn_ = conn};
    req.body = rq->body.len ? vm_buf_cstr(&rq->body) : "";
    req.body_len = rq->body.len;
    vm_httpd_resp resp = {0};
    vm_buf_init(&resp.body);
    vm_err e;
    vm_err_clear(&e);
    int rc = r->fn(r->ctx, &req, &resp, &e);
    enum MHD_Result ok;
    if (rc != VM_OK || !vm_buf_ok(&resp.body)) {
        vm_warn("http: %s %s: %s", method, url,
                rc != VM_OK && e.msg[0] ? e.msg : "out of memory building the answer");
        ok = vm_httpd_simple(conn, 500, "internal error\n", NULL, NULL);
    } else {
        ok = vm_httpd_send(conn, &resp);
    }
    vm_httpd_resp_release(&resp);
    return ok;
}

static enum MHD_Result vm_httpd_access(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    vm_httpd *s = cls;
    vm_httpd_rq *rq = *con_cls;
    (void)version;
    if (!rq) {
        if (!(rq = vm_calloc(1, sizeof *rq)))
            return MHD_NO; /* closes the connection */
        vm_buf_init(&rq->body);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rq->too_large) {
            if (rq->body.len + *upload_data_size > s->max_body) {
                rq->too_large = true;
                vm_buf_release(&rq->body);
            } else {
                vm_buf_append(&rq->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!vm_buf_ok(&rq->body))
        return vm_httpd_simple(conn, 500, "internal error\n", NULL, NULL);
    return vm_httpd_dispatch(s, conn, url, method, rq);
}

static void vm_httpd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    vm_httpd_rq *rq = *con_cls;
    if (rq) {
        vm_buf_release(&rq->body);
        vm_free(rq);
        *con_cls = NULL;
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void vm_httpd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    vm_debug("http: %s", line);
}

/* ---------------------------------------------------------------- API */

int vm_httpd_new(const vm_httpd_opts *opts, vm_httpd **out, vm_err *err)
{
    *out = NULL;
    vm_httpd *s = vm_calloc(1, sizeof *s);
    if (!s || !(s->listen = vm_strdup(opts && opts->listen ? opts->listen : ""))) {
        vm_free(s);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    s->fd = -1;
    s->threads = opts && opts->threads ? opts->threads : 2;
    s->max_body = opts && opts->max_body ? opts->max_body : VM_HTTPD_DEFAULT_MAX_BODY;
    s->timeout_s = opts && opts->timeout_s ? opts->timeout_s : 30;
    *out = s;
    return VM_OK;
}

int vm_httpd_route(vm_httpd *s, const char *method, const char *prefix, vm_httpd_handler fn,
                   void *ctx, vm_err *err)
{
    if (s->daemon)
        return vm_err_setc(err, VM_ERR_INTERNAL, "http: route %s %s added after start", method,
                           prefix);
    if (!method || !*method || !prefix || prefix[0] != '/' || !fn)
        return vm_err_setc(err, VM_ERR_INVALID, "http: a route needs a method, a path "
                                                "starting with '/' and a handler");
    for (size_t i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i].method, method) == 0 && strcmp(s->routes[i].prefix, prefix) == 0)
            return vm_err_setc(err, VM_ERR_EXISTS, "http: route %s %s is registered twice",
                               method, prefix);
    if (vm_grow((void **)&s->routes, &s->cap, s->nroutes + 1, sizeof *s->routes) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_httpd_route_ent *r = &s->routes[s->nroutes];
    r->method = vm_strdup(method);
    r->prefix = vm_strdup(prefix);
    if (!r->method || !r->prefix) {
        vm_free(r->method);
        vm_free(r->prefix);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    /* "/" registered as a prefix matches everything below it */
    r->plen = strlen(prefix);
    r->fn = fn;
    r->ctx = ctx;
    s->nroutes++;
    return VM_OK;
}

int vm_httpd_start(vm_httpd *s, vm_err *err)
{
    if (s->daemon)
        return VM_OK;
    int rc = vm_httpd_bind(s, err);
    if (rc != VM_OK)
        return rc;
    int dup_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) {
        rc = vm_err_setc(err, VM_ERR_IO, "cannot listen on %s: %s", s->listen, strerror(errno));
        goto fail;
    }
    /* the logger first: it then hears about the options that follow; one
     * thread is the polling thread itself, more are a pool */
    s->daemon = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        vm_httpd_access, s, MHD_OPTION_EXTERNAL_LOGGER, vm_httpd_logger, s,
        MHD_OPTION_LISTEN_SOCKET, dup_fd, MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_NOTIFY_COMPLETED,
        vm_httpd_completed, s, MHD_OPTION_THREAD_POOL_SIZE, s->threads > 1 ? s->threads : 0,
        MHD_OPTION_END);
    if (!s->daemon) {
        rc = vm_err_setc(err, VM_ERR_IO, "cannot start the HTTP server on %s", s->listen);
        goto fail;
    }
    return VM_OK;
fail:
    close(s->fd);
    s->fd = -1;
    s->port = 0;
    return rc;
}

int vm_httpd_port(const vm_httpd *s) { return s && s->daemon ? s->port : 0; }

void vm_httpd_free(vm_httpd *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* closes its copy of the socket */
    if (s->fd >= 0)
        close(s->fd);
    for (size_t i = 0; i < s->nroutes; i++) {
        vm_free(s->routes[i].method);
        vm_free(s->routes[i].prefix);
    }
    vm_free(s->routes);
    vm_free(s->listen);
    vm_free(s);
}

const char *vm_httpd_req_header(const vm_httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

const char *vm_httpd_req_arg(const vm_httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

int vm_httpd_check_bearer(const vm_httpd_req *req, const char *token, vm_httpd_resp *resp)
{
    if (!token || !*token)
        return VM_OK;
    const char *h = vm_httpd_req_header(req, "Authorization");
    bool ok = false;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *given = h + 7;
        while (*given == ' ')
            given++;
        size_t gl = strlen(given), tl = strlen(token);
        /* constant time in the token's length: no early exit on a mismatch */
        unsigned char diff = (unsigned char)(gl != tl);
        for (size_t i = 0; i < tl; i++)
            diff |= (unsigned char)(token[i] ^ (i < gl ? given[i] : 0));
        ok = diff == 0;
    }
    if (ok)
        return VM_OK;
    if (vm_httpd_resp_text(resp, 401, NULL, "missing or wrong bearer token\n") != VM_OK ||
        vm_httpd_resp_header(resp, "WWW-Authenticate", "Bearer") != VM_OK)
        return VM_ERR_NOMEM;
    return VM_ERR_AUTH;
}

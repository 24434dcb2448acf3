/*
 * vm_http.c - HTTP requests over one reused libcurl easy handle, with the
 * transport and status classification of vecmig's error convention.
 *
 * Each request starts with curl_easy_reset(), which clears every option but
 * keeps the handle's live connections and DNS cache: one request's method or
 * body can never leak into the next, and keep-alive still works. Headers we
 * add ourselves: "Expect:" (no 100-continue round trip for large POSTs).
 */
#include "vm_http.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vm_http_client {
    CURL *curl;
    long connect_timeout_ms;
    long timeout_ms;
    bool insecure;
    char *ca_file;
    char *user_agent;
    size_t max_response_bytes;
    char errbuf[CURL_ERROR_SIZE];
};

/* Response being received: the write and header callbacks fill it. */
typedef struct vm_http_sink {
    vm_http_resp *resp;
    size_t cap;
    size_t max;
    bool overflow;
    bool nomem;
} vm_http_sink;

/* curl_global_init is process-wide by libcurl's design (it sets up the TLS
 * library and is not thread-safe itself), so its once-control and result are
 * the only globals of this module. */
static pthread_once_t vm_http_once = PTHREAD_ONCE_INIT;
static CURLcode vm_http_init_rc = CURLE_FAILED_INIT;

static void vm_http_do_init(void) { vm_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int vm_http_global_init(vm_err *err)
{
    pthread_once(&vm_http_once, vm_http_do_init);
    if (vm_http_init_rc != CURLE_OK)
        return vm_err_setc(err, VM_ERR_INTERNAL, "http: curl_global_init failed: %s",
                           curl_easy_strerror(vm_http_init_rc));
    return 0;
}

/* ------------------------------------------------------------ classifiers */

vm_code vm_http_classify_curl(CURLcode cc, bool *retriable)
{
    vm_code code;
    bool retry = false;
    switch (cc) {
    case CURLE_OK:
        code = VM_OK;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        code = VM_ERR_TIMEOUT;
        retry = true;
        break;
    /* The network or the server hiccupped; a new connection may work. A
     * handshake failure (CURLE_SSL_CONNECT_ERROR) is most often a reset by
     * a load balancer; real certificate problems have their own codes. */
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_AGAIN:
    case CURLE_SSL_CONNECT_ERROR:
        code = VM_ERR_IO;
        retry = true;
        break;
    /* The server's identity is not trusted. */
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_LOGIN_DENIED:
    case CURLE_AUTH_ERROR:
    case CURLE_REMOTE_ACCESS_DENIED:
        code = VM_ERR_AUTH;
        break;
    /* Our TLS or request configuration is wrong. */
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_FAILED_INIT:
        code = VM_ERR_INVALID;
        break;
    case CURLE_OUT_OF_MEMORY:
        code = VM_ERR_NOMEM;
        break;
    case CURLE_FILESIZE_EXCEEDED:
        code = VM_ERR_TOO_LARGE; /* the response: asking again gets the same */
        break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR:
        code = VM_ERR_PROTOCOL;
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        code = VM_ERR_CANCELLED;
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
        code = VM_ERR_INTERNAL; /* our own callbacks refused */
        break;
    default:
        code = VM_ERR_IO;
        break;
    }
    if (retriable)
        *retriable = retry;
    return code;
}

vm_code vm_http_classify_status(long status, bool *retriable)
{
    vm_code code;
    bool retry = false;
    if (status >= 200 && status < 300) {
        code = VM_OK;
    } else {
        switch (status) {
        case 408:
            code = VM_ERR_TIMEOUT;
            retry = true;
            break;
        case 429:
            code = VM_ERR_RATE_LIMITED;
            retry = true;
            break;
        case 413:
            code = VM_ERR_TOO_LARGE; /* retriable once the caller split it */
            retry = true;
            break;
        case 500:
        case 502:
        case 503:
        case 504:
            code = VM_ERR_UNAVAILABLE;
            retry = true;
            break;
        case 401:
        case 403:
        case 407:
            code = VM_ERR_AUTH;
            break;
        case 404:
        case 410:
            code = VM_ERR_NOT_FOUND;
            break;
        case 409:
            code = VM_ERR_EXISTS;
            break;
        case 400:
        case 405:
        case 411:
        case 414:
        case 415:
        case 422:
            code = VM_ERR_INVALID;
            break;
        case 501:
            code = VM_ERR_UNSUPPORTED;
            break;
        default:
            /* 1xx/3xx as a final answer (redirects are not followed) or a
             * status outside HTTP's range: not what any caller expects. */
            code = (status >= 400 && status < 600) ? VM_ERR_REMOTE : VM_ERR_PROTOCOL;
            break;
        }
    }
    if (retriable)
        *retriable = retry;
    return code;
}

long vm_http_parse_retry_after(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    if (isdigit((unsigned char)*value)) {
        errno = 0;
        char *end;
        unsigned long long secs = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end)
            return -1;
        if (errno == ERANGE || secs > (unsigned long long)(LONG_MAX / 1000))
            return LONG_MAX / 1000 * 1000;
        return (long)secs * 1000;
    }
    /* IMF-fixdate, RFC 850 and asctime forms (RFC 9110 5.6.7) */
    time_t when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    if (when <= now)
        return 0;
    double diff = difftime(when, now);
    if (diff > (double)(LONG_MAX / 1000))
        return LONG_MAX / 1000 * 1000;
    return (long)diff * 1000;
}

void vm_http_url_safe(const char *url, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    out[0] = '\0';
    if (!url)
        return;
    const char *scheme = url, *auth = url;
    int scheme_len = 0;
    const char *sep = strstr(url, "://");
    if (sep) {
        bool ok = sep > url;
        for (const char *p = url; p < sep && ok; p++)
            ok = isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.';
        if (ok) {
            scheme_len = (int)(sep - url);
            auth = sep + 3;
        }
    }
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *host = auth;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            host = p + 1; /* the last '@' ends the user info */
    const char *path_end = auth_end + strcspn(auth_end, "?#");
    snprintf(out, cap, "%.*s%s%.*s%.*s", scheme_len, scheme, scheme_len ? "://" : "",
             (int)(auth_end - host), host, (int)(path_end - auth_end), auth_end);
}

/* ---------------------------------------------------------------- client */

int vm_http_client_new(const vm_http_opts *opts, vm_http_client **out, vm_err *err)
{
    static const vm_http_opts defaults = {0};
    vm_http_client *c = NULL;
    int rc = 0;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if ((rc = vm_http_global_init(err)) != 0)
        goto cleanup;
    if (opts->connect_timeout_ms < 0 || opts->timeout_ms < 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "http: negative timeout");
        goto cleanup;
    }
    if (!(c = vm_calloc(1, sizeof *c))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http: out of memory");
        goto cleanup;
    }
    c->connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms
                                                     : VM_HTTP_CONNECT_TIMEOUT_MS;
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : VM_HTTP_TIMEOUT_MS;
    c->insecure = opts->insecure;
    c->max_response_bytes = opts->max_response_bytes ? opts->max_response_bytes
                                                     : VM_HTTP_MAX_RESPONSE_BYTES;
    c->user_agent = vm_strdup(opts->user_agent ? opts->user_agent : "vecmig/" VECMIG_VERSION);
    if (!c->user_agent || (opts->ca_file && !(c->ca_file = vm_strdup(opts->ca_file)))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http: out of memory");
        goto cleanup;
    }
    if (!(c->curl = curl_easy_init())) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http: curl_easy_init failed");
        goto cleanup;
    }
    if (c->insecure)
        vm_warn("http: TLS certificate verification is disabled (insecure); "
                "the server's identity is not checked");
    *out = c;
    c = NULL;
cleanup:
    vm_http_client_free(c);
    return rc;
}

void vm_http_client_free(vm_http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    vm_free(c->ca_file);
    vm_free(c->user_agent);
    vm_free(c);
}

void vm_http_resp_reset(vm_http_resp *resp)
{
    if (!resp)
        return;
    vm_free(resp->body);
    vm_free(resp->content_type);
    vm_free(resp->where);
    memset(resp, 0, sizeof *resp);
    resp->retry_after_ms = -1;
}

void vm_http_resp_free(vm_http_resp *resp) { vm_http_resp_reset(resp); }

static size_t vm_http_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    vm_http_sink *s = userp;
    vm_http_resp *r = s->resp;
    size_t n = size * nmemb;
    if (n > s->max - r->body_len) {
        s->overflow = true;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (vm_grow((void **)&r->body, &s->cap, r->body_len + n + 1, 1) != 0) {
        s->nomem = true;
        return 0;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t vm_http_on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    vm_http_sink *s = userp;
    size_t n = size * nmemb;
    static const char ra[] = "retry-after:";
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        s->resp->retry_after_ms = -1; /* a new response (after 1xx) starts */
    } else if (n > sizeof ra - 1 && strncasecmp(data, ra, sizeof ra - 1) == 0) {
        char value[128];
        size_t vl = n - (sizeof ra - 1);
        if (vl >= sizeof value)
            vl = sizeof value - 1;
        memcpy(value, data + sizeof ra - 1, vl);
        value[vl] = '\0';
        value[strcspn(value, "\r\n")] = '\0';
        s->resp->retry_after_ms = vm_http_parse_retry_after(value, time(NULL));
    }
    return n;
}

#define VM_SETOPT(h, opt, val)                                                 \
    do {                                                                       \
        CURLcode setopt_rc_ = curl_easy_setopt((h), (opt), (val));            \
        if (setopt_rc_ != CURLE_OK)                                            \
            return setopt_rc_;                                                 \
    } while (0)

/* Every option of one request on a freshly reset handle. */
static CURLcode vm_http_setup(vm_http_client *c, const vm_http_req *req, const char *method,
                              struct curl_slist *hdrs, vm_http_sink *sink)
{
    CURL *h = c->curl;
    VM_SETOPT(h, CURLOPT_ERRORBUFFER, c->errbuf);
    VM_SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    VM_SETOPT(h, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    VM_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    VM_SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    VM_SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    VM_SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    VM_SETOPT(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms);
    VM_SETOPT(h, CURLOPT_USERAGENT, c->user_agent);
    VM_SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
    VM_SETOPT(h, CURLOPT_ACCEPT_ENCODING, "");
    VM_SETOPT(h, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    VM_SETOPT(h, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    if (c->ca_file)
        VM_SETOPT(h, CURLOPT_CAINFO, c->ca_file);
    /* curl refuses early when Content-Length is above the limit; a chunked
     * body is cut by vm_http_on_body */
    VM_SETOPT(h, CURLOPT_MAXFILESIZE_LARGE,
              (curl_off_t)(c->max_response_bytes > (size_t)INT64_MAX
                               ? INT64_MAX
                               : (int64_t)c->max_response_bytes));
    VM_SETOPT(h, CURLOPT_WRITEFUNCTION, vm_http_on_body);
    VM_SETOPT(h, CURLOPT_WRITEDATA, (void *)sink);
    VM_SETOPT(h, CURLOPT_HEADERFUNCTION, vm_http_on_header);
    VM_SETOPT(h, CURLOPT_HEADERDATA, (void *)sink);
    VM_SETOPT(h, CURLOPT_HTTPHEADER, hdrs);

    const char *body = req->body ? req->body : "";
    bool post_like = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                     strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        VM_SETOPT(h, CURLOPT_NOBODY, 1L);
    } else if (req->body_len == 0 && !post_like) {
        /* GET, DELETE ... without a body: no Content-Length, no Content-Type */
        VM_SETOPT(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET") != 0)
            VM_SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        /* a body is sent with POST semantics and the method name swapped */
        VM_SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        VM_SETOPT(h, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0)
            VM_SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
    }
    return CURLE_OK;
}

int vm_http_request(vm_http_client *c, const vm_http_req *req, vm_http_resp *resp,
                    vm_err *err)
{
    struct curl_slist *hdrs = NULL;
    vm_http_sink sink = {.resp = resp, .max = c->max_response_bytes};
    char safe[512], where[600];
    int rc = 0;

    vm_http_resp_reset(resp);
    const char *method = req->method ? req->method : (req->body_len ? "POST" : "GET");
    vm_http_url_safe(req->url, safe, sizeof safe);
    snprintf(where, sizeof where, "%s %s", method, safe);
    if (!req->url || !*method || strpbrk(method, " \r\n")) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "http %s: missing URL or bad method", where);
        goto cleanup;
    }
    if (!(resp->where = vm_strdup(where))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory", where);
        goto cleanup;
    }
    for (const char *const *hp = req->headers; hp && *hp; hp++) {
        struct curl_slist *n = curl_slist_append(hdrs, *hp);
        if (!n) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory", where);
            goto cleanup;
        }
        hdrs = n;
    }
    struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
    if (!n) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory", where);
        goto cleanup;
    }
    hdrs = n;

    curl_easy_reset(c->curl);
    c->errbuf[0] = '\0';
    CURLcode cc = vm_http_setup(c, req, method, hdrs, &sink);
    if (cc == CURLE_OK)
        cc = curl_easy_perform(c->curl);
    if (sink.overflow || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = vm_err_set(err, VM_ERR_TOO_LARGE, false,
                        "http %s: response larger than the limit of %zu bytes", where,
                        c->max_response_bytes);
        goto cleanup;
    }
    if (sink.nomem) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory for the response", where);
        goto cleanup;
    }
    if (cc != CURLE_OK) {
        bool retriable;
        vm_code code = vm_http_classify_curl(cc, &retriable);
        /* curl's error buffer names host and port, never the user info,
         * query string or headers */
        rc = vm_err_set(err, code, retriable, "http %s: %s (curl %d)", where,
                        c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc), (int)cc);
        goto cleanup;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    char *ct = NULL;
    if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct &&
        !(resp->content_type = vm_strdup(ct))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory", where);
        goto cleanup;
    }
    if (!resp->body && !(resp->body = vm_strdup(""))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http %s: out of memory", where);
        goto cleanup;
    }
cleanup:
    curl_slist_free_all(hdrs);
    if (rc != 0) {
        /* keep `where` for the caller's context, drop any partial body */
        char *keep = resp->where;
        resp->where = NULL;
        vm_http_resp_reset(resp);
        resp->where = keep;
    }
    return rc;
}

int vm_http_check_status(const vm_http_resp *resp, vm_err *err)
{
    bool retriable;
    vm_code code = vm_http_classify_status(resp->status, &retriable);
    if (code == VM_OK)
        return 0;
    char snippet[VM_HTTP_SNIPPET_MAX + 4];
    size_t n = resp->body ? resp->body_len : 0;
    if (n > VM_HTTP_SNIPPET_MAX)
        n = VM_HTTP_SNIPPET_MAX;
    if (n)
        memcpy(snippet, resp->body, n);
    snippet[n] = '\0';
    if (resp->body_len > VM_HTTP_SNIPPET_MAX)
        strcat(snippet, "...");
    char after[48] = "";
    if (resp->retry_after_ms >= 0)
        snprintf(after, sizeof after, " (retry after %ld ms)", resp->retry_after_ms);
    return vm_err_set(err, code, retriable, "http %s: HTTP %ld%s%s%s",
                      resp->where ? resp->where : "request", resp->status, after,
                      n ? ": " : "", snippet);
}

static bool vm_http_has_header(const char *const *headers, const char *name)
{
    size_t nl = strlen(name);
    for (const char *const *hp = headers; hp && *hp; hp++)
        if (strncasecmp(*hp, name, nl) == 0 && (*hp)[nl] == ':')
            return true;
    return false;
}

int vm_http_post_json(vm_http_client *c, const char *url, const char *const *headers,
                      const json_t *body, json_t **out_json, long *status, vm_err *err)
{
    vm_http_resp resp = {0};
    const char **hdrs = NULL;
    char *buf = NULL;
    json_t *parsed = NULL;
    int rc = 0;
    char safe[512];

    *out_json = NULL;
    if (status)
        *status = 0;
    vm_http_url_safe(url, safe, sizeof safe);
    size_t len = body ? json_dumpb(body, NULL, 0, JSON_COMPACT) : 0;
    if (len == 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "http POST %s: cannot serialise the JSON body",
                         safe);
        goto cleanup;
    }
    size_t nh = 0;
    while (headers && headers[nh])
        nh++;
    if (!(buf = vm_malloc(len)) || !(hdrs = vm_calloc(nh + 3, sizeof *hdrs))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "http POST %s: out of memory", safe);
        goto cleanup;
    }
    json_dumpb(body, buf, len, JSON_COMPACT);
    for (size_t i = 0; i < nh; i++)
        hdrs[i] = headers[i];
    if (!vm_http_has_header(headers, "Content-Type"))
        hdrs[nh++] = "Content-Type: application/json";
    if (!vm_http_has_header(headers, "Accept"))
        hdrs[nh++] = "Accept: application/json";
    hdrs[nh] = NULL;

    vm_http_req req = {.method = "POST", .url = url, .headers = hdrs, .body = buf,
                       .body_len = len};
    if ((rc = vm_http_request(c, &req, &resp, err)) != 0)
        goto cleanup;
    if (status)
        *status = resp.status;
    bool ok = resp.status >= 200 && resp.status < 300;
    size_t blank = strspn(resp.body, " \t\r\n");
    if (blank == resp.body_len) {
        if (!ok) {
            rc = vm_http_check_status(&resp, err);
            goto cleanup;
        }
        parsed = json_null();
    } else {
        json_error_t jerr;
        parsed = json_loadb(resp.body, resp.body_len, JSON_DECODE_ANY, &jerr);
        if (!parsed) {
            rc = ok ? vm_err_setc(err, VM_ERR_PROTOCOL,
                                  "http %s: HTTP %ld reply is not JSON: %s", resp.where,
                                  resp.status, jerr.text)
                    : vm_http_check_status(&resp, err);
            goto cleanup;
        }
    }
    *out_json = parsed;
    parsed = NULL;
cleanup:
    json_decref(parsed);
    vm_free(hdrs);
    vm_free(buf);
    vm_http_resp_free(&resp);
    return rc;
}

int vm_http_request_retry(vm_http_client *c, const vm_http_req *req, vm_http_resp *resp,
                          const vm_http_retry *policy, vm_http_judge_fn judge, void *ctx,
                          vm_err *err)
{
    long base = policy->base_ms > 0 ? policy->base_ms : 250;
    long cap = policy->cap_ms > 0 ? policy->cap_ms : 15000;
    long max_wait = policy->max_wait_ms > 0 ? policy->max_wait_ms : 60000;
    for (int64_t attempt = 1;; attempt++) {
        bool answered = false;
        int rc = vm_http_request(c, req, resp, err);
        if (rc == VM_OK) {
            answered = true;
            rc = judge(ctx, resp, err);
        } else if (policy->prefix) {
            vm_err_prefix(err, "%s", policy->prefix);
        }
        if (rc == VM_OK || !err->retriable || attempt > policy->max_retries)
            return rc;
        long wait;
        if (answered && resp->retry_after_ms >= 0)
            wait = resp->retry_after_ms < max_wait ? resp->retry_after_ms : max_wait;
        else
            wait = vm_backoff_ms((int)(attempt < 30 ? attempt : 30), base, cap, policy->seed);
        vm_warn("%s; retry %" PRId64 " of %" PRId64 " in %ld ms", err->msg, attempt,
                policy->max_retries, wait);
        vm_sleep_ms(wait);
    }
}

/*
 * vm_http.h - a thin HTTP/1.1 client over libcurl for REST sources and the
 * Milvus REST v2 sink.
 *
 * One client owns one CURL easy handle that is reused for every request, so
 * the TCP/TLS connection to a server stays alive between requests (curl keeps
 * its connection cache in the handle). A client is used by ONE thread at a
 * time; give each worker thread its own client.
 *
 * vm_http_request() returns 0 for every completed HTTP exchange, whatever the
 * status: what a 404 or a 200-with-error-envelope means is the caller's
 * protocol. vm_http_check_status() maps a non-2xx status into the vecmig
 * error convention when the caller wants the generic meaning. Transport
 * failures (refused, reset, timeout, TLS) are returned as errors classified
 * by vm_http_classify_curl().
 *
 * Secrets: error messages never contain header values (Authorization,
 * Api-Key ...) and never print a URL as given: only scheme://host:port/path
 * (vm_http_url_safe), so credentials in the user-info part and API keys in
 * the query string stay out of logs. Redirects are not followed (a redirect
 * must not carry an Authorization header to another host); a 3xx comes back
 * as a status.
 *
 * TLS certificates are verified unless opts.insecure is set (which logs a
 * warning once per client).
 */
#ifndef VM_HTTP_H
#define VM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "vm_err.h"

#define VM_HTTP_CONNECT_TIMEOUT_MS 10000L
#define VM_HTTP_TIMEOUT_MS 60000L
#define VM_HTTP_MAX_RESPONSE_BYTES ((size_t)256 * 1024 * 1024)
/* Longest body excerpt vm_http_check_status() puts into a message. */
#define VM_HTTP_SNIPPET_MAX 200

typedef struct vm_http_opts {
    long connect_timeout_ms;   /* 0: VM_HTTP_CONNECT_TIMEOUT_MS */
    long timeout_ms;           /* whole request; 0: VM_HTTP_TIMEOUT_MS */
    bool insecure;             /* skip TLS verification (logs a warning) */
    const char *ca_file;       /* PEM bundle; NULL: system default */
    const char *user_agent;    /* NULL: "vecmig/<VECMIG_VERSION>" */
    size_t max_response_bytes; /* 0: VM_HTTP_MAX_RESPONSE_BYTES */
} vm_http_opts;

typedef struct vm_http_client vm_http_client;

typedef struct vm_http_req {
    const char *method;          /* "GET" "POST" "PUT" "DELETE" "HEAD" ...;
                                    NULL: POST with a body, GET without */
    const char *url;
    const char *const *headers;  /* NULL-terminated "Name: value" array, or NULL */
    const char *body;            /* not copied; NULL when body_len is 0 */
    size_t body_len;
    long timeout_ms;             /* 0: the client's timeout */
} vm_http_req;

/* Caller-owned; start from `vm_http_resp r = {0};` (or vm_http_resp_reset on
 * a zeroed struct). vm_http_request() resets it first, so it may be reused
 * across requests; release with vm_http_resp_free(). */
typedef struct vm_http_resp {
    long status;          /* HTTP status of the final response */
    char *body;           /* NUL-terminated, body_len excludes the NUL; never
                             NULL after a successful request, NULL after a
                             failed one */
    size_t body_len;
    long retry_after_ms;  /* Retry-After in ms, -1 if absent or unparsable */
    char *content_type;   /* NULL if absent */
    char *where;          /* "METHOD scheme://host:port/path" for messages
                             (set even when the request failed) */
} vm_http_resp;

/* curl_global_init, once per process (pthread_once); vm_http_client_new
 * calls it, so calling it yourself is only needed before other threads
 * start using libcurl directly. */
int vm_http_global_init(vm_err *err);

/* opts may be NULL (all defaults). */
int vm_http_client_new(const vm_http_opts *opts, vm_http_client **out, vm_err *err);
void vm_http_client_free(vm_http_client *c);

/* Perform one request. 0 when an HTTP response was received (any status);
 * a negative vm_code on transport failure, or VM_ERR_TOO_LARGE (not
 * retriable: ask for less) when the body exceeds max_response_bytes. */
int vm_http_request(vm_http_client *c, const vm_http_req *req, vm_http_resp *resp,
                    vm_err *err);

/* Free the response's buffers and put it back to the empty state. */
void vm_http_resp_reset(vm_http_resp *resp);
void vm_http_resp_free(vm_http_resp *resp);

/* 0 for a 2xx status; otherwise the classified error with the status, where
 * and a body excerpt of at most VM_HTTP_SNIPPET_MAX characters. */
int vm_http_check_status(const vm_http_resp *resp, vm_err *err);

/* POST `body` as compact JSON (Content-Type/Accept: application/json added
 * to `headers`) and parse the answer. Returns 0 whenever the reply body is
 * JSON, whatever the status (*status tells; callers decide what an error
 * envelope means); an empty 2xx body gives json_null(). A non-JSON body is
 * the classified status error for a non-2xx status, VM_ERR_PROTOCOL for a
 * 2xx. *out_json is a new reference (or NULL on error); status may be NULL. */
int vm_http_post_json(vm_http_client *c, const char *url, const char *const *headers,
                      const json_t *body, json_t **out_json, long *status, vm_err *err);

/* Retrying requests: the one retry policy of the HTTP sources.
 *
 * judge() turns a received response into VM_OK or an error in err (its
 * retriable bit decides), and is called only when a response arrived; a
 * transport failure keeps vm_http_request's classified error, prefixed with
 * `prefix`. A retriable error is retried at most max_retries times: after
 * the server's Retry-After when the response had one (at most max_wait_ms),
 * else after vm_backoff_ms(attempt, base_ms, cap_ms) (full jitter). Each
 * retry logs one warning. Returns the last attempt's result. */
typedef int (*vm_http_judge_fn)(void *ctx, const vm_http_resp *resp, vm_err *err);

typedef struct vm_http_retry {
    int64_t max_retries;  /* extra attempts after the first */
    long base_ms, cap_ms; /* backoff (0: 250 and 15000) */
    long max_wait_ms;     /* Retry-After ceiling (0: 60000) */
    unsigned *seed;       /* rand_r state, per instance */
    const char *prefix;   /* for transport errors: "qdrant: scroll: " */
} vm_http_retry;

int vm_http_request_retry(vm_http_client *c, const vm_http_req *req, vm_http_resp *resp,
                          const vm_http_retry *policy, vm_http_judge_fn judge, void *ctx,
                          vm_err *err);

/* ------------------------------------------------- pure helpers (tested) */

/* vm_code of a curl transport result and whether retrying may succeed. */
vm_code vm_http_classify_curl(CURLcode cc, bool *retriable);

/* vm_code of an HTTP status (VM_OK for 2xx) and whether retrying may
 * succeed (429, 408, 413 after splitting, 500/502/503/504). */
vm_code vm_http_classify_status(long status, bool *retriable);

/* Retry-After value (delta-seconds or an HTTP-date, relative to `now`) in
 * milliseconds; a date in the past gives 0. -1 if unparsable. */
long vm_http_parse_retry_after(const char *value, time_t now);

/* Write "scheme://host[:port]/path" of url into out (cap bytes): no user
 * info, no query string, no fragment. Always NUL-terminates. */
void vm_http_url_safe(const char *url, char *out, size_t cap);

#endif

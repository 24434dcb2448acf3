/*
 * qdrant.c - the `qdrant` source: Qdrant collections over the REST API.
 *
 * This file holds the ops table, the config, the HTTP calls (auth header,
 * retries, error envelopes), count and discover; the pure helpers are in
 * qd_parse.c, splitting in qd_plan.c and reading in qd_read.c.
 *
 * Job block:
 *   source:
 *     type: qdrant
 *     url: https://xyz.cloud.qdrant.io:6333   # required: REST endpoint
 *     api_key: {env: QDRANT_API_KEY}          # optional secret, sent as the
 *                                             # api-key header only
 *     collection: items       # required: the Qdrant collection (name kept)
 *     split: space            # space: id-space ranges found with a few
 *                             # id probes | scan: an id-only pass, every
 *                             # task_rows ids
 *     timeout: 60s            # per request
 *     retries: 5              # retries of a request that failed with a
 *                             # transport error, 429 or 5xx
 *     insecure_tls: false     # true skips certificate checks (warns)
 *
 * Replies: {"result":...,"status":"ok","time":s} on success; errors come
 * as HTTP 4xx/5xx with {"status":{"error":"..."}} (some proxies answer
 * plain text: its first 200 bytes are quoted instead). 429, 5xx, timeouts
 * and connection failures are retried (`retries`), waiting as Retry-After
 * says (at most 60 s) or with capped exponential backoff and full jitter;
 * 401/403 are authentication errors, 404 a missing collection, other 4xx
 * fatal with the server's message.
 *
 * One HTTP client per instance (one per worker thread), so the connection
 * stays alive across requests. The API key lives only in the header
 * string, which is wiped when the instance ends.
 */
#include "qdrant.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VM_QD_MAX_RETRY_AFTER_MS 60000L
#define VM_QD_BACKOFF_BASE_MS 250L
#define VM_QD_BACKOFF_CAP_MS 15000L

static const vm_conf_entry vm_qd_table[] = {
    {"url", VM_CT_STRING, NULL, offsetof(vm_qd, url),
     "Qdrant REST endpoint, http(s)://host:port (port 6333 by default in Qdrant)", NULL,
     VM_CF_REQUIRED, 1, 2048},
    {"api_key", VM_CT_SECRET, NULL, offsetof(vm_qd, api_key),
     "API key, sent in the api-key header", NULL, 0, 0, 0},
    {"collection", VM_CT_STRING, NULL, offsetof(vm_qd, collection),
     "the Qdrant collection to migrate (the target keeps its name unless the mapping sets "
     "collection.name)",
     NULL, VM_CF_REQUIRED, 1, 255},
    {"split", VM_CT_ENUM, "space", offsetof(vm_qd, split),
     "space (id ranges of equal width, found with a few probes) | scan (an id-only pass, "
     "exactly task_rows ids per task)",
     "space|scan", 0, 0, 0},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_qd, timeout_ms), "per-request timeout", NULL,
     0, 1000, 3600000},
    {"retries", VM_CT_INT, "5", offsetof(vm_qd, retries),
     "retries of a request after a transport error, HTTP 429 or 5xx", NULL, 0, 0, 100},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_qd, insecure_tls),
     "skip TLS certificate verification", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------- HTTP */


/* Percent-encode a path segment (unreserved characters kept). */
static void vm_qd_escape(vm_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            vm_buf_putc(b, (char)*p);
        else
            vm_buf_printf(b, "%%%02X", *p);
    }
}

/* The error for a non-2xx reply in st->resp. */
static int vm_qd_status_error(vm_qd *st, const char *what, vm_err *err)
{
    char msg[256];
    const vm_http_resp *r = &st->resp;
    vm_qd_error_text(r->body, r->body ? r->body_len : 0, msg, sizeof msg);
    bool retriable;
    vm_code code = vm_http_classify_status(r->status, &retriable);
    if (r->status == 401 || r->status == 403)
        return vm_err_set(err, VM_ERR_AUTH, false,
                          "qdrant: %s: HTTP %ld, the server refused the credentials (check "
                          "source.api_key)%s%s",
                          what, r->status, msg[0] ? ": " : "", msg);
    if (r->status == 404)
        return vm_err_set(err, VM_ERR_NOT_FOUND, false,
                          "qdrant: %s: HTTP 404, collection '%s' not found%s%s", what,
                          st->collection, msg[0] ? ": " : "", msg);
    char after[48] = "";
    if (r->retry_after_ms >= 0)
        snprintf(after, sizeof after, " (retry after %ld ms)", r->retry_after_ms);
    return vm_err_set(err, code == VM_OK ? VM_ERR_PROTOCOL : code, retriable,
                      "qdrant: %s: HTTP %ld%s%s%s", what, r->status, after, msg[0] ? ": " : "",
                      msg);
}

typedef struct vm_qd_judge_ctx {
    vm_qd *st;
    const char *what;
} vm_qd_judge_ctx;

static int vm_qd_judge(void *ctx, const vm_http_resp *resp, vm_err *err)
{
    vm_qd_judge_ctx *j = ctx;
    if (resp->status >= 200 && resp->status < 300)
        return VM_OK;
    return vm_qd_status_error(j->st, j->what, err);
}

int vm_qd_call(vm_qd *st, const char *method, const char *suffix, const char *body,
               size_t blen, const char *what, vm_err *err)
{
    vm_buf url;
    vm_buf_init(&url);
    vm_buf_puts(&url, st->base);
    vm_buf_puts(&url, suffix);
    if (!vm_buf_ok(&url))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    const char *headers[4] = {"Content-Type: application/json", "Accept: application/json",
                              st->key_header, NULL};
    vm_http_req req = {.method = method, .url = vm_buf_cstr(&url), .headers = headers,
                       .body = body, .body_len = blen};
    char prefix[96];
    snprintf(prefix, sizeof prefix, "qdrant: %s: ", what);
    vm_http_retry policy = {.max_retries = st->retries, .base_ms = VM_QD_BACKOFF_BASE_MS,
                            .cap_ms = VM_QD_BACKOFF_CAP_MS,
                            .max_wait_ms = VM_QD_MAX_RETRY_AFTER_MS, .seed = &st->seed,
                            .prefix = prefix};
    vm_qd_judge_ctx j = {st, what};
    int rc = vm_http_request_retry(st->http, &req, &st->resp, &policy, vm_qd_judge, &j, err);
    vm_buf_release(&url);
    return rc;
}

int vm_qd_load(vm_qd *st, vm_err *err)
{
    if (st->loaded)
        return VM_OK;
    int rc = vm_qd_call(st, "GET", "", NULL, 0, "describing the collection", err);
    if (rc != VM_OK)
        return rc;
    vm_qd_info_release(&st->info);
    if ((rc = vm_qd_parse_info(st->resp.body, st->resp.body_len, &st->info, err)) != VM_OK)
        return vm_err_prefix(err, "collection '%s': ", st->collection);
    vm_schema *s = NULL;
    /* names the fields (and the key) even when discover() is not called */
    if ((rc = vm_qd_build_schema(&st->info, st->collection, &s, err)) != VM_OK)
        return rc;
    vm_free(st->id_field);
    st->id_field = NULL;
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].primary)
            st->id_field = vm_strdup(s->fields[i].name);
    vm_schema_free(s);
    if (!st->id_field)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    st->loaded = true;
    return VM_OK;
}

int vm_qd_scroll(vm_qd *st, const vm_qd_id *offset, int64_t limit, bool payload,
                 const char *with_vector, vm_qd_page *page, vm_err *err)
{
    vm_buf_clear(&st->body);
    vm_buf_printf(&st->body, "{\"limit\":%" PRId64 ",\"with_payload\":%s,\"with_vector\":%s",
                  limit, payload ? "true" : "false", with_vector ? with_vector : "false");
    if (offset) {
        vm_buf_puts(&st->body, ",\"offset\":");
        vm_qd_id_json(offset, &st->body);
    }
    vm_buf_putc(&st->body, '}');
    if (!vm_buf_ok(&st->body))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_qd_call(st, "POST", "/points/scroll", st->body.data, st->body.len,
                        "scroll", err);
    if (rc != VM_OK)
        return rc;
    if (page && (rc = vm_qd_parse_page(st->resp.body, st->resp.body_len, page, err)) != VM_OK)
        return vm_err_prefix(err, "collection '%s': ", st->collection);
    return VM_OK;
}

/* ---------------------------------------------------------------- ops */

static int vm_qd_init(void *state, const json_t *conf, vm_err *err)
{
    vm_qd *st = state;
    vm_buf_init(&st->body);
    st->info.points_count = -1;
    vm_task_init(&st->task);
    int rc = vm_conf_apply(vm_qd_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    size_t n = strlen(st->url);
    while (n > 0 && st->url[n - 1] == '/')
        n--;
    if (strncmp(st->url, "http://", 7) != 0 && strncmp(st->url, "https://", 8) != 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.url: must start with http:// or https:// (the Qdrant REST "
                        "endpoint, e.g. http://localhost:6333)");
        goto fail;
    }
    /* base = url + "/collections/<name>": every call is below it */
    vm_buf p;
    vm_buf_init(&p);
    vm_buf_printf(&p, "%.*s/collections/", (int)n, st->url);
    vm_qd_escape(&p, st->collection);
    if (!vm_buf_ok(&p) || !(st->base = vm_strdup(vm_buf_cstr(&p)))) {
        vm_buf_release(&p);
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    vm_buf_release(&p);
    if (st->api_key && st->api_key[0]) {
        for (const unsigned char *k = (const unsigned char *)st->api_key; *k; k++)
            if (*k < 0x20 || *k == 0x7f) {
                rc = vm_err_set(err, VM_ERR_INVALID, false,
                                "source.api_key: contains a control character (a header value "
                                "cannot)");
                goto fail;
            }
        size_t kl = strlen(st->api_key) + 16;
        if (!(st->key_header = vm_malloc(kl))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        snprintf(st->key_header, kl, "api-key: %s", st->api_key);
    }
    vm_http_opts o = {.timeout_ms = (long)st->timeout_ms, .insecure = st->insecure_tls};
    if ((rc = vm_http_client_new(&o, &st->http, err)) != VM_OK)
        goto fail;
    st->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    return VM_OK;
fail:
    vm_free(st->base);
    if (st->key_header)
        memset(st->key_header, 0, strlen(st->key_header));
    vm_free(st->key_header);
    st->base = st->key_header = NULL;
    vm_conf_release(vm_qd_table, st);
    vm_buf_release(&st->body);
    return rc;
}

static void vm_qd_fini(void *state)
{
    vm_qd *st = state;
    vm_qd_close(st);
    vm_qd_scratch_release(&st->scr);
    vm_qd_info_release(&st->info);
    vm_http_client_free(st->http);
    vm_http_resp_free(&st->resp);
    vm_buf_release(&st->body);
    if (st->key_header) {
        memset(st->key_header, 0, strlen(st->key_header));
        vm_free(st->key_header);
    }
    vm_free(st->id_field);
    vm_free(st->base);
    vm_conf_release(vm_qd_table, st);
}

/* Exact count: points/count with exact:true. */
int vm_qd_count_points(vm_qd *st, int64_t *rows, vm_err *err)
{
    static const char body[] = "{\"exact\":true}";
    int rc = vm_qd_call(st, "POST", "/points/count", body, sizeof body - 1, "count", err);
    if (rc != VM_OK)
        return rc;
    json_error_t je;
    json_t *root = json_loadb(st->resp.body, st->resp.body_len, 0, &je);
    json_t *c = json_object_get(json_object_get(root, "result"), "count");
    if (!json_is_integer(c) || json_integer_value(c) < 0) {
        json_decref(root);
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: count of '%s': the reply has no result.count",
                          st->collection);
    }
    *rows = (int64_t)json_integer_value(c);
    json_decref(root);
    return VM_OK;
}

static int vm_qd_count(void *state, int64_t *rows, vm_err *err)
{
    return vm_qd_count_points(state, rows, err);
}

static int vm_qd_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_qd *st = state;
    *out = NULL;
    st->loaded = false; /* describe again: the schema must be current */
    int rc = vm_qd_load(st, err);
    if (rc != VM_OK)
        return rc;
    int64_t n = 0;
    if ((rc = vm_qd_count_points(st, &n, err)) != VM_OK)
        return rc;
    if (n == 0)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: collection '%s' is empty: nothing to migrate",
                          st->collection);
    return vm_qd_build_schema(&st->info, st->collection, out, err);
}

const vm_source_ops vm_source_qdrant_ops = {
    .name = "qdrant",
    .summary = "Qdrant collections over REST: named, unnamed and sparse vectors, integer and "
               "UUID ids, payload as the dynamic field",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_qd),
    .init = vm_qd_init,
    .fini = vm_qd_fini,
    .discover = vm_qd_discover,
    .count = vm_qd_count,
    .plan = vm_qd_plan,
    .open = vm_qd_open,
    .read = vm_qd_read,
    .cursor = vm_qd_cursor,
    .close = vm_qd_close,
};

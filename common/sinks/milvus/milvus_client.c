/*
 * milvus_client.c - Milvus REST v2 calls, envelopes and error classes.
 */
#include "milvus_client.h"
#include "vm_buf.h"
#include "vm_http.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct vm_milvus {
    vm_http_client *http;
    char *base;       /* uri without trailing '/' */
    char *database;   /* NULL: server default */
    char *auth;       /* "Authorization: Bearer ..." or NULL */
    vm_http_resp resp;
    vm_buf body;
    int retries;      /* of control-plane calls */
    unsigned seed;    /* backoff jitter */
    uint64_t rows_bytes; /* bodies of confirmed insert/upsert requests */
};

int vm_milvus_new(const vm_milvus_opts *opts, vm_milvus **out, vm_err *err)
{
    *out = NULL;
    if (!opts->uri || strncmp(opts->uri, "http", 4) != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "target.uri: expected http(s)://host:port");
    vm_milvus *m = vm_calloc(1, sizeof *m);
    if (!m)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_init(&m->body);
    m->retries = opts->retries == 0 ? 5 : opts->retries < 0 ? 0 : opts->retries;
    m->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)m;
    vm_http_opts ho = {.timeout_ms = opts->timeout_ms, .insecure = opts->insecure};
    int rc = vm_http_client_new(&ho, &m->http, err);
    if (rc != VM_OK)
        goto fail;
    size_t n = strlen(opts->uri);
    while (n && opts->uri[n - 1] == '/')
        n--;
    if (!(m->base = vm_strndup(opts->uri, n)) ||
        (opts->database && !(m->database = vm_strdup(opts->database))))
        goto nomem;
    if (opts->token && *opts->token) {
        vm_secret_add(opts->token);
        size_t len = strlen(opts->token) + 32;
        if (!(m->auth = vm_malloc(len)))
            goto nomem;
        snprintf(m->auth, len, "Authorization: Bearer %s", opts->token);
    }
    *out = m;
    return VM_OK;
nomem:
    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
fail:
    vm_milvus_free(m);
    return rc;
}

void vm_milvus_free(vm_milvus *m)
{
    if (!m)
        return;
    vm_http_client_free(m->http);
    vm_http_resp_free(&m->resp);
    vm_buf_release(&m->body);
    if (m->auth) {
        memset(m->auth, 0, strlen(m->auth));
        vm_free(m->auth);
    }
    vm_free(m->base);
    vm_free(m->database);
    vm_free(m);
}

vm_code vm_milvus_classify(long code, const char *message, bool *retriable)
{
    const char *msg = message ? message : "";
    *retriable = false;
    switch (code) {
    case 0: return VM_OK;
    case 4:    /* request limit exceeded */
    case 8:    /* rate limit exceeded */
    case 1807: /* HTTP request rejected by limiter */
        *retriable = true;
        return VM_ERR_RATE_LIMITED;
    case 1:    /* service not ready */
    case 2:    /* service unavailable */
    case 12:   /* resource insufficient */
    case 103:  /* collection not fully loaded */
    case 106:  /* collection on recovering */
    case 202:  /* partition not fully loaded */
    case 1002: /* unexpected EOF */
        *retriable = true;
        return VM_ERR_UNAVAILABLE;
    case 100: /* collection not found */
    case 200: /* partition not found */
    case 700: /* index not found */
        return VM_ERR_NOT_FOUND;
    case 1102: /* parameter too large */
        *retriable = true;
        return VM_ERR_TOO_LARGE;
    case 1400:
    case 1401:
    case 1800: return VM_ERR_AUTH;
    case 105:
    case 1100:
    case 1101:
    case 1801:
    case 1802:
    case 1804:
    case 1806: return VM_ERR_INVALID;
    default: break;
    }
    /* Generic codes (65535 ...): the text is all there is. */
    if (strstr(msg, "too large") || strstr(msg, "larger than max") ||
        strstr(msg, "exceeds the max") || strstr(msg, "exceeded max")) {
        *retriable = true;
        return VM_ERR_TOO_LARGE;
    }
    if (strstr(msg, "rate limit")) {
        *retriable = true;
        return VM_ERR_RATE_LIMITED;
    }
    return VM_ERR_REMOTE;
}

int vm_milvus_envelope(const vm_http_resp *r, const char *endpoint, json_t **data, vm_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(r->body, r->body_len, 0, &je);
    json_t *jcode = json_object_get(root, "code");
    if (!root || !json_is_integer(jcode)) {
        int rc = vm_http_check_status(r, err); /* a proxy's 502, a 413 from the HTTP layer */
        if (rc == VM_OK)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                             "milvus %s: answer is not a Milvus envelope (HTTP %ld)", endpoint,
                             r->status);
        json_decref(root);
        return rc;
    }
    long code = (long)json_integer_value(jcode);
    if (code != 0 || r->status / 100 != 2) {
        const char *msg = json_string_value(json_object_get(root, "message"));
        bool retriable;
        vm_code vc = vm_milvus_classify(code, msg, &retriable);
        if (vc == VM_OK) /* code 0 with a non-2xx status */
            vc = vm_http_classify_status(r->status, &retriable);
        if (r->status == 429) {
            vc = VM_ERR_RATE_LIMITED;
            retriable = true;
        }
        int rc = vm_err_set(err, vc, retriable, "milvus %s: %s (code %ld, HTTP %ld)", endpoint,
                            msg ? msg : "no message", code, r->status);
        json_decref(root);
        return rc;
    }
    if (data) {
        json_t *d = json_object_get(root, "data");
        *data = d ? json_incref(d) : json_null();
    }
    json_decref(root);
    return VM_OK;
}

int vm_milvus_call(vm_milvus *m, const char *endpoint, const char *body, size_t len,
                   json_t **data, vm_err *err)
{
    if (data)
        *data = NULL;
    char url[1024];
    snprintf(url, sizeof url, "%s/v2/vectordb/%s", m->base, endpoint);
    const char *headers[] = {"Content-Type: application/json", "Accept-Type-Allow-Int64: true",
                             m->auth, NULL};
    vm_http_req req = {.method = "POST", .url = url, .headers = headers, .body = body,
                       .body_len = len};
    int rc = vm_http_request(m->http, &req, &m->resp, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "milvus %s: ", endpoint);
    return vm_milvus_envelope(&m->resp, endpoint, data, err);
}

int vm_milvus_callj(vm_milvus *m, const char *endpoint, json_t *body, json_t **data,
                    vm_err *err)
{
    if (m->database && json_object_set_new(body, "dbName", json_string(m->database)) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    char *txt = json_dumps(body, JSON_COMPACT);
    if (!txt)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    /* control-plane calls are idempotent in Milvus (creating what exists
     * with the same parameters succeeds): a retriable failure, also one
     * whose answer was lost, is tried again */
    int rc;
    for (int attempt = 1;; attempt++) {
        rc = vm_milvus_call(m, endpoint, txt, strlen(txt), data, err);
        if (rc == VM_OK || !err->retriable || attempt > m->retries)
            break;
        long wait = m->resp.body && m->resp.retry_after_ms >= 0
                        ? (m->resp.retry_after_ms < 60000 ? m->resp.retry_after_ms : 60000)
                        : vm_backoff_ms(attempt, 250, 15000, &m->seed);
        vm_warn("%s; retry %d of %d in %ld ms", err->msg, attempt, m->retries, wait);
        vm_sleep_ms(wait);
    }
    free(txt);
    return rc;
}

const char *vm_milvus_last_body(const vm_milvus *m, size_t *len)
{
    *len = m->resp.body ? m->resp.body_len : 0;
    return m->resp.body ? m->resp.body : "";
}

int vm_milvus_has(vm_milvus *m, const char *collection, bool *exists, vm_err *err)
{
    json_t *body = json_pack("{s:s}", "collectionName", collection), *data = NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "collections/has", body, &data, err);
    json_decref(body);
    if (rc == VM_OK) {
        json_t *h = json_object_get(data, "has");
        if (!json_is_boolean(h))
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus collections/has: no 'has' in answer");
        else
            *exists = json_is_true(h);
    }
    json_decref(data);
    return rc;
}

int vm_milvus_create(vm_milvus *m, const vm_schema *s, const json_t *params,
                     const json_t *index_params, vm_err *err)
{
    json_t *schema = vm_schema_to_milvus(s);
    json_t *body = schema ? json_pack("{s:s, s:o}", "collectionName", s->collection, "schema",
                                      schema)
                          : NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (params)
        json_object_set(body, "params", (json_t *)params);
    if (index_params)
        json_object_set(body, "indexParams", (json_t *)index_params);
    int rc = vm_milvus_callj(m, "collections/create", body, NULL, err);
    json_decref(body);
    return rc;
}

int vm_milvus_describe(vm_milvus *m, const char *collection, vm_schema **out, json_t **raw,
                       vm_err *err)
{
    *out = NULL;
    if (raw)
        *raw = NULL;
    json_t *body = json_pack("{s:s}", "collectionName", collection), *data = NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "collections/describe", body, &data, err);
    json_decref(body);
    if (rc == VM_OK)
        rc = vm_schema_from_milvus_describe(data, out, err);
    if (rc == VM_OK && raw)
        *raw = json_incref(data);
    json_decref(data);
    return rc;
}

int vm_milvus_drop(vm_milvus *m, const char *collection, vm_err *err)
{
    json_t *body = json_pack("{s:s}", "collectionName", collection);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "collections/drop", body, NULL, err);
    json_decref(body);
    return rc;
}

/* The body up to and including `"data":`; rows and '}' follow. */
static void vm_milvus_rows_prefix(const vm_milvus *m, vm_buf *b, const char *collection,
                                  const char *partition)
{
    vm_buf_puts(b, "{");
    if (m->database) {
        vm_buf_puts(b, "\"dbName\":");
        vm_buf_json_str(b, m->database, strlen(m->database));
        vm_buf_putc(b, ',');
    }
    vm_buf_puts(b, "\"collectionName\":");
    vm_buf_json_str(b, collection, strlen(collection));
    if (partition) {
        vm_buf_puts(b, ",\"partitionName\":");
        vm_buf_json_str(b, partition, strlen(partition));
    }
    vm_buf_puts(b, ",\"data\":");
}

size_t vm_milvus_rows_body(vm_milvus *m, const char *collection, const char *partition,
                           const char *rows_json, size_t len)
{
    vm_buf *b = &m->body;
    vm_buf_clear(b);
    vm_milvus_rows_prefix(m, b, collection, partition);
    vm_buf_append(b, rows_json, len);
    vm_buf_putc(b, '}');
    return vm_buf_ok(b) ? b->len : 0;
}

size_t vm_milvus_rows_body_size(const vm_milvus *m, const char *collection,
                                const char *partition, size_t rows_len)
{
    vm_buf b;
    vm_buf_init(&b);
    vm_milvus_rows_prefix(m, &b, collection, partition);
    size_t n = vm_buf_ok(&b) ? b.len + rows_len + 1 : 0;
    vm_buf_release(&b);
    return n;
}

int vm_milvus_send_rows(vm_milvus *m, bool upsert, size_t expected, vm_err *err)
{
    const char *ep = upsert ? "entities/upsert" : "entities/insert";
    const char *key = upsert ? "upsertCount" : "insertCount";
    if (!vm_buf_ok(&m->body) || m->body.len == 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "milvus %s: no request body", ep);
    json_t *data = NULL;
    int rc = vm_milvus_call(m, ep, m->body.data, m->body.len, &data, err);
    if (rc == VM_OK) {
        json_t *n = json_object_get(data, key);
        if (!json_is_integer(n) || (size_t)json_integer_value(n) != expected)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus %s: %zu rows sent, %s %lld", ep,
                             expected, key,
                             json_is_integer(n) ? (long long)json_integer_value(n) : -1LL);
        else
            m->rows_bytes += m->body.len;
    }
    json_decref(data);
    return rc;
}

uint64_t vm_milvus_rows_bytes(const vm_milvus *m) { return m->rows_bytes; }

int vm_milvus_insert(vm_milvus *m, const char *collection, const char *rows_json, size_t len,
                     size_t expected, vm_err *err)
{
    if (vm_milvus_rows_body(m, collection, NULL, rows_json, len) == 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building an insert");
    return vm_milvus_send_rows(m, false, expected, err);
}

int vm_milvus_delete(vm_milvus *m, const char *collection, const char *filter, vm_err *err)
{
    json_t *body = json_pack("{s:s, s:s}", "collectionName", collection, "filter", filter);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "entities/delete", body, NULL, err);
    json_decref(body);
    return rc;
}

int vm_milvus_load_state(vm_milvus *m, const char *collection, char *state, size_t cap,
                         vm_err *err)
{
    json_t *body = json_pack("{s:s}", "collectionName", collection), *data = NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "collections/get_load_state", body, &data, err);
    json_decref(body);
    const char *st = json_string_value(json_object_get(data, "loadState"));
    if (rc == VM_OK && !st)
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus get_load_state: no loadState in answer");
    if (rc == VM_OK)
        snprintf(state, cap, "%s", st);
    json_decref(data);
    return rc;
}

int vm_milvus_count(vm_milvus *m, const char *collection, int64_t *rows, vm_err *err)
{
    json_t *body = json_pack("{s:s, s:s, s:[s], s:s}", "collectionName", collection, "filter", "",
                             "outputFields", "count(*)", "consistencyLevel", "Strong");
    json_t *data = NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "entities/query", body, &data, err);
    json_decref(body);
    if (rc == VM_OK) {
        json_t *c = json_object_get(json_array_get(data, 0), "count(*)");
        if (!json_is_integer(c))
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus count(*): no count in answer");
        else
            *rows = json_integer_value(c);
    }
    json_decref(data);
    return rc;
}

/* ------------------------------------------------------------ partitions */

/* {"collectionName":c, "partitionName":p} */
static json_t *vm_milvus_part_body(const char *collection, const char *partition)
{
    return json_pack("{s:s, s:s}", "collectionName", collection, "partitionName", partition);
}

int vm_milvus_partition_has(vm_milvus *m, const char *collection, const char *partition,
                            bool *exists, vm_err *err)
{
    json_t *body = vm_milvus_part_body(collection, partition), *data = NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "partitions/has", body, &data, err);
    json_decref(body);
    if (rc == VM_OK) {
        json_t *h = json_object_get(data, "has");
        if (!json_is_boolean(h))
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus partitions/has: no 'has' in answer");
        else
            *exists = json_is_true(h);
    }
    json_decref(data);
    return rc;
}

bool vm_milvus_is_partition_limit(const char *message)
{
    /* rootcoord: "partition number (1024) exceeds max configuration (1024),
     * collection: X" */
    return message && strstr(message, "partition number") &&
           strstr(message, "exceeds max configuration");
}

int vm_milvus_partition_create(vm_milvus *m, const char *collection, const char *partition,
                               vm_err *err)
{
    json_t *body = vm_milvus_part_body(collection, partition);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "partitions/create", body, NULL, err);
    json_decref(body);
    if (rc == VM_OK || rc == VM_ERR_NOMEM || (err && err->retriable))
        return rc;
    if (err && vm_milvus_is_partition_limit(err->msg))
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "collection '%s' cannot take partition '%s': Milvus allows at most "
                          "%d partitions per collection (server: %s)",
                          collection, partition, 1024, err->msg);
    /* Another worker may have created it between our has and create: Milvus
     * answers that with success, other servers with an error; ask again. */
    vm_err e2;
    bool exists = false;
    if (vm_milvus_partition_has(m, collection, partition, &exists, &e2) == VM_OK && exists)
        return VM_OK;
    return rc;
}

/* ---------------------------------------------------------------- indexes */

int vm_milvus_indexes(vm_milvus *m, const char *collection, json_t **out, vm_err *err)
{
    *out = NULL;
    json_t *body = json_pack("{s:s}", "collectionName", collection), *names = NULL;
    json_t *list = json_array();
    if (!body || !list) {
        json_decref(body);
        json_decref(list);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    int rc = vm_milvus_callj(m, "indexes/list", body, &names, err);
    json_decref(body);
    if (rc == VM_OK && !json_is_array(names))
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus indexes/list: answer is not a list");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        if (rc != VM_OK)
            break;
        const char *iname = json_string_value(n);
        if (!iname) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus indexes/list: a name is not a string");
            break;
        }
        json_t *d = NULL;
        body = json_pack("{s:s, s:s}", "collectionName", collection, "indexName", iname);
        if (!body) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            break;
        }
        rc = vm_milvus_callj(m, "indexes/describe", body, &d, err);
        json_decref(body);
        if (rc == VM_ERR_NOT_FOUND) { /* dropped meanwhile */
            rc = VM_OK;
            json_decref(d);
            continue;
        }
        json_t *ix = json_is_array(d) ? json_array_get(d, 0) : d;
        const char *field = json_string_value(json_object_get(ix, "fieldName"));
        if (rc == VM_OK && !field)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "milvus indexes/describe '%s': no fieldName",
                             iname);
        if (rc == VM_OK) {
            const char *metric = json_string_value(json_object_get(ix, "metricType"));
            const char *type = json_string_value(json_object_get(ix, "indexType"));
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "indexName", iname, "fieldName", field,
                                  "metricType", metric ? metric : "", "indexType",
                                  type ? type : "");
            if (!o || json_array_append_new(list, o) != 0)
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        }
        json_decref(d);
    }
    json_decref(names);
    if (rc != VM_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return VM_OK;
}

int vm_milvus_index_create(vm_milvus *m, const char *collection, const json_t *index_params,
                           vm_err *err)
{
    json_t *body = json_pack("{s:s, s:O}", "collectionName", collection, "indexParams",
                             (json_t *)index_params);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "indexes/create", body, NULL, err);
    json_decref(body);
    if (rc == VM_OK || !err || (!strstr(err->msg, "already exist") &&
                                !strstr(err->msg, "at most one distinct index")))
        return rc;
    /* A retry after an answer that was lost (the first attempt created the
     * index) is told the index exists: it is ours if every field asked for
     * has an index now. */
    json_t *have = NULL;
    vm_err e2;
    if (vm_milvus_indexes(m, collection, &have, &e2) != VM_OK)
        return rc;
    bool all = true;
    size_t i, j;
    json_t *want, *h;
    json_array_foreach(index_params, i, want) {
        const char *f = json_string_value(json_object_get(want, "fieldName"));
        bool found = false;
        json_array_foreach(have, j, h) {
            const char *hf = json_string_value(json_object_get(h, "fieldName"));
            if (f && hf && strcmp(f, hf) == 0)
                found = true;
        }
        all = all && found;
    }
    json_decref(have);
    if (!all)
        return rc;
    vm_debug("milvus indexes/create on '%s': %s; the index is there: taken as created",
             collection, err->msg);
    return VM_OK;
}

int vm_milvus_index_drop(vm_milvus *m, const char *collection, const char *index_name,
                         vm_err *err)
{
    json_t *body = json_pack("{s:s, s:s}", "collectionName", collection, "indexName",
                             index_name);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, "indexes/drop", body, NULL, err);
    json_decref(body);
    /* gone is what was asked (also after a retry whose first answer was lost) */
    if (rc == VM_ERR_NOT_FOUND && err && strstr(err->msg, "index")) {
        vm_debug("milvus indexes/drop on '%s': %s: already gone", collection, err->msg);
        return VM_OK;
    }
    return rc;
}

/* ------------------------------------------------------- load and release */

static int vm_milvus_coll_call(vm_milvus *m, const char *endpoint, const char *collection,
                               vm_err *err)
{
    json_t *body = json_pack("{s:s}", "collectionName", collection);
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_milvus_callj(m, endpoint, body, NULL, err);
    json_decref(body);
    return rc;
}

int vm_milvus_load_start(vm_milvus *m, const char *collection, vm_err *err)
{
    return vm_milvus_coll_call(m, "collections/load", collection, err);
}

int vm_milvus_load(vm_milvus *m, const char *collection, vm_err *err)
{
    int rc = vm_milvus_load_start(m, collection, err);
    return rc == VM_OK ? vm_milvus_load_wait(m, collection, err) : rc;
}

int vm_milvus_load_wait(vm_milvus *m, const char *collection, vm_err *err)
{
    char ls[64] = "";
    int rc = VM_OK;
    /* loading is asynchronous: wait for it, with a deadline (10 x 0.1 s,
     * then once a second, about ten minutes in all) */
    for (int i = 0; rc == VM_OK && i < 600; i++) {
        if ((rc = vm_milvus_load_state(m, collection, ls, sizeof ls, err)) != VM_OK)
            break;
        if (strcmp(ls, "LoadStateLoaded") == 0)
            return VM_OK;
        struct timespec ts = {i < 10 ? 0 : 1, i < 10 ? 100000000L : 0};
        nanosleep(&ts, NULL);
    }
    if (rc == VM_OK)
        rc = vm_err_setc(err, VM_ERR_TIMEOUT, "collection '%s' did not load (state %s)",
                         collection, ls);
    return rc;
}

int vm_milvus_release(vm_milvus *m, const char *collection, vm_err *err)
{
    return vm_milvus_coll_call(m, "collections/release", collection, err);
}

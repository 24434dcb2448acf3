/*
 * pinecone.c - the `pinecone` source: Pinecone serverless indexes, read over
 * the REST API (2025-10) with `list` per namespace and `fetch` by id.
 *
 * This file holds the ops table, the config, the HTTP plumbing (auth
 * headers, retries of 429/5xx honouring Retry-After), describe_index,
 * describe_index_stats and count; the schema is in pc_schema.c, the split
 * in pc_plan.c, reading in pc_read.c and the pure parsers in pc_parse.c.
 *
 * Job block:
 *   source:
 *     type: pinecone
 *     api_key: {env: PINECONE_API_KEY}  # required secret; sent only as the Api-Key header
 *     index: products                   # required: the index name
 *     control_url: https://api.pinecone.io   # control plane (describe_index)
 *     host: https://products-abc.svc.pinecone.io  # data plane; default: describe_index's host
 *     api_version: "2025-10"            # X-Pinecone-Api-Version
 *     namespaces: [a, b, ""]            # default: every namespace describe_index_stats lists
 *                                       # ("" or "__default__": the default namespace)
 *     collection: products              # default: the index name ('-' -> '_')
 *     sample_rows: 1000                 # records sampled by discover (0..100000)
 *     fetch_batch: 200                  # ids per fetch (1..1000), also bounded by ...
 *     fetch_url_bytes: 16KiB            # ... the length of the fetch URL
 *     list_limit: 100                   # ids per list page (1..1000)
 *     timeout: 60s                      # per request
 *     retries: 5                        # extra attempts for 408/429/5xx/transport faults
 *     insecure_tls: false
 *
 * One HTTP client (one connection) per instance, so per worker thread.
 */
#include "pinecone.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const vm_conf_entry vm_pc_table[] = {
    {"api_key", VM_CT_SECRET, NULL, offsetof(vm_pc, api_key),
     "Pinecone API key (sent as the Api-Key header)", NULL, VM_CF_REQUIRED, 0, 0},
    {"index", VM_CT_STRING, NULL, offsetof(vm_pc, index), "index name", NULL, VM_CF_REQUIRED, 1,
     45},
    {"control_url", VM_CT_STRING, "https://api.pinecone.io", offsetof(vm_pc, control_url),
     "control-plane URL (describe_index)", NULL, 0, 1, 2048},
    {"host", VM_CT_STRING, NULL, offsetof(vm_pc, host),
     "data-plane URL of the index (default: the host describe_index reports)", NULL, 0, 1, 2048},
    {"api_version", VM_CT_STRING, "2025-10", offsetof(vm_pc, api_version),
     "X-Pinecone-Api-Version", NULL, 0, 1, 32},
    {"namespaces", VM_CT_JSON, NULL, offsetof(vm_pc, namespaces),
     "namespaces to migrate (default: all); \"\" or \"__default__\" is the default namespace",
     NULL, 0, 0, 0},
    {"collection", VM_CT_STRING, NULL, offsetof(vm_pc, collection),
     "target collection name (default: the index name)", NULL, 0, 1, VM_MAX_NAME_LEN},
    {"sample_rows", VM_CT_INT, "1000", offsetof(vm_pc, sample_rows),
     "records sampled by discover (id lengths, sparse values, metadata numbers)", NULL, 0, 0,
     100000},
    {"fetch_batch", VM_CT_INT, "200", offsetof(vm_pc, fetch_batch), "ids per fetch request",
     NULL, 0, 1, VM_PC_MAX_FETCH_IDS},
    {"fetch_url_bytes", VM_CT_SIZE, "16KiB", offsetof(vm_pc, fetch_url_bytes),
     "longest fetch URL (ids are repeated query parameters)", NULL, 0, 1024, 1048576},
    {"list_limit", VM_CT_INT, "100", offsetof(vm_pc, list_limit), "ids per list page", NULL, 0, 1,
     1000},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_pc, timeout_ms), "per request", NULL, 0, 1000,
     3600000},
    {"retries", VM_CT_INT, "5", offsetof(vm_pc, retries),
     "extra attempts for 408/429/5xx and transport faults", NULL, 0, 0, 100},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_pc, insecure_tls),
     "skip TLS certificate checks (warns)", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

const char *vm_pc_ns_value(const char *ns)
{
    return !ns || !strcmp(ns, "__default__") ? "" : ns;
}

/* ------------------------------------------------------------- HTTP */

int vm_pc_ensure_client(vm_pc *st, vm_err *err)
{
    if (st->http)
        return VM_OK;
    vm_http_opts o = {.timeout_ms = (long)st->timeout_ms, .insecure = st->insecure_tls};
    int rc = vm_http_client_new(&o, &st->http, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "pinecone: ");
    size_t n = strlen(st->api_key) + 16;
    if (!(st->hdr_key = vm_malloc(n)) ||
        !(st->hdr_ver = vm_malloc(strlen(st->api_version) + 32)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    snprintf(st->hdr_key, n, "Api-Key: %s", st->api_key);
    sprintf(st->hdr_ver, "X-Pinecone-Api-Version: %s", st->api_version);
    return VM_OK;
}

/* Retriable statuses (429, 408, 5xx but 413) are errors to retry; any
 * other answer goes back to the caller, which reads its status. */
static int vm_pc_judge(void *ctx, const vm_http_resp *resp, vm_err *err)
{
    (void)ctx;
    bool again;
    vm_http_classify_status(resp->status, &again);
    return again && resp->status != 413 ? vm_http_check_status(resp, err) : VM_OK;
}

int vm_pc_request(vm_pc *st, const char *method, const char *url, const char *body,
                  vm_http_resp *resp, vm_err *err)
{
    int rc = vm_pc_ensure_client(st, err);
    if (rc != VM_OK)
        return rc;
    const char *hdrs[] = {st->hdr_key, st->hdr_ver, "Accept: application/json",
                          body ? "Content-Type: application/json" : NULL, NULL};
    vm_http_req req = {.method = method, .url = url, .headers = hdrs, .body = body,
                       .body_len = body ? strlen(body) : 0};
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    vm_http_retry policy = {.max_retries = st->retries, .base_ms = 250, .cap_ms = 16000,
                            .max_wait_ms = 60000, .seed = &seed};
    return vm_http_request_retry(st->http, &req, resp, &policy, vm_pc_judge, NULL, err);
}

int vm_pc_status_error(const vm_pc *st, const vm_http_resp *resp, const char *what, vm_err *err)
{
    (void)st;
    bool retriable;
    vm_code code = vm_http_classify_status(resp->status, &retriable);
    if (code == VM_OK)
        return VM_OK;
    /* data plane {"code","message"}, control plane {"error":{"code","message"}} */
    char msg[VM_HTTP_SNIPPET_MAX + 1] = "";
    json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m)
        m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (!m && !j && resp->body)
        m = resp->body;
    if (m) {
        snprintf(msg, sizeof msg, "%s", m);
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
    }
    json_decref(j);
    const char *hint = "";
    if (resp->status == 401 || resp->status == 403)
        hint = " (check source.api_key)";
    return vm_err_set(err, code, retriable, "pinecone: %s: HTTP %ld%s%s%s", what, resp->status,
                      msg[0] ? ": " : "", msg, hint);
}

/* ------------------------------------------------------ describe index */

static const char *vm_pc_str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static char *vm_pc_with_scheme(const char *host)
{
    size_t n = strlen(host);
    while (n && host[n - 1] == '/')
        n--;
    bool has = !strncmp(host, "http://", 7) || !strncmp(host, "https://", 8);
    char *u = vm_malloc(n + 9);
    if (u)
        sprintf(u, "%s%.*s", has ? "" : "https://", (int)n, host);
    return u;
}

int vm_pc_describe(vm_pc *st, vm_err *err)
{
    if (st->described)
        return VM_OK;
    vm_buf url;
    vm_buf_init(&url);
    size_t n = strlen(st->control_url);
    while (n && st->control_url[n - 1] == '/')
        n--;
    vm_buf_append(&url, st->control_url, n);
    vm_buf_puts(&url, "/indexes/");
    vm_pc_url_encode(&url, st->index, strlen(st->index));
    vm_http_resp r = {0};
    json_t *j = NULL;
    int rc;
    if (!vm_buf_ok(&url)) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = vm_pc_request(st, "GET", vm_buf_cstr(&url), NULL, &r, err)) != VM_OK) {
        vm_err_prefix(err, "pinecone: describe index '%s': ", st->index);
        goto cleanup;
    }
    if (r.status == 404) {
        rc = vm_err_set(err, VM_ERR_NOT_FOUND, false,
                        "pinecone: index '%s' does not exist (control plane %s)", st->index,
                        r.where ? r.where : st->control_url);
        goto cleanup;
    }
    char what[120];
    snprintf(what, sizeof what, "describe index '%s'", st->index);
    if ((rc = vm_pc_status_error(st, &r, what, err)) != VM_OK)
        goto cleanup;
    j = json_loadb(r.body, r.body_len, 0, NULL);
    json_t *spec = json_object_get(j, "spec");
    if (!json_is_object(j) || !json_is_object(spec)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "pinecone: describe index '%s' answered no index description",
                        st->index);
        goto cleanup;
    }
    json_t *pod = json_object_get(spec, "pod");
    if (pod && !json_is_null(pod)) {
        rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false, "pinecone: index '%s' is pod-based (%s): %s",
                        st->index,
                        vm_pc_str_or(json_object_get(pod, "pod_type"), "spec.pod"),
                        VM_PC_POD_HELP);
        goto cleanup;
    }
    const char *vt = json_string_value(json_object_get(j, "vector_type"));
    st->sparse_index = vt && !strcmp(vt, "sparse");
    json_t *dim = json_object_get(j, "dimension");
    st->dim = json_is_integer(dim) ? json_integer_value(dim) : 0;
    if (!st->sparse_index && (st->dim < 1 || st->dim > VM_MAX_DIM)) {
        rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                        "pinecone: index '%s' has dimension %" PRId64
                        ", outside Milvus's 1..%d",
                        st->index, st->dim, VM_MAX_DIM);
        goto cleanup;
    }
    const char *metric = json_string_value(json_object_get(j, "metric"));
    if (!(st->pc_metric = vm_strdup(metric ? metric : ""))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    json_t *sl = json_object_get(spec, "serverless");
    char spec_text[200];
    if (json_is_object(sl))
        snprintf(spec_text, sizeof spec_text, "serverless %s %s",
                 vm_pc_str_or(json_object_get(sl, "cloud"), "?"),
                 vm_pc_str_or(json_object_get(sl, "region"), "?"));
    else if (json_is_object(json_object_get(spec, "byoc")))
        snprintf(spec_text, sizeof spec_text, "byoc");
    else
        snprintf(spec_text, sizeof spec_text, "unknown spec");
    const char *host = st->host ? st->host : json_string_value(json_object_get(j, "host"));
    if (!host || !*host) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "pinecone: index '%s' has no host yet (is it still initializing?)",
                        st->index);
        goto cleanup;
    }
    if (!(st->spec_text = vm_strdup(spec_text)) || !(st->data_url = vm_pc_with_scheme(host))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    st->described = true;
    vm_debug("pinecone: index '%s': %s, %s, %s, dimension %" PRId64, st->index, spec_text,
             st->sparse_index ? "sparse" : "dense", st->pc_metric, st->dim);
cleanup:
    json_decref(j);
    vm_http_resp_free(&r);
    vm_buf_release(&url);
    return rc;
}

/* ------------------------------------------------ describe_index_stats */

static void vm_pc_free_ns(vm_pc *st)
{
    for (size_t i = 0; i < st->nns; i++)
        vm_free(st->ns[i].name);
    vm_free(st->ns);
    st->ns = NULL;
    st->nns = 0;
}

static int vm_pc_cmp_ns(const void *a, const void *b)
{
    return strcmp(((const vm_pc_ns *)a)->name, ((const vm_pc_ns *)b)->name);
}

/* Whether stats key `name` is selected by the namespaces list. */
static bool vm_pc_selected(const vm_pc *st, const char *name)
{
    json_t *l = st->namespaces;
    if (!l)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) if (!strcmp(vm_pc_ns_value(json_string_value(v)),
                                            vm_pc_ns_value(name))) return true;
    return false;
}

int vm_pc_stats(vm_pc *st, vm_err *err)
{
    int rc = vm_pc_describe(st, err);
    if (rc != VM_OK)
        return rc;
    char *url = vm_malloc(strlen(st->data_url) + 32);
    vm_http_resp r = {0};
    json_t *j = NULL;
    if (!url)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    sprintf(url, "%s/describe_index_stats", st->data_url);
    if ((rc = vm_pc_request(st, "POST", url, "{}", &r, err)) != VM_OK) {
        vm_err_prefix(err, "pinecone: describe_index_stats of '%s': ", st->index);
        goto cleanup;
    }
    char what[120];
    snprintf(what, sizeof what, "describe_index_stats of '%s'", st->index);
    if ((rc = vm_pc_status_error(st, &r, what, err)) != VM_OK)
        goto cleanup;
    j = json_loadb(r.body, r.body_len, 0, NULL);
    json_t *nss = json_object_get(j, "namespaces");
    if (!json_is_object(j) || (nss && !json_is_object(nss))) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "pinecone: describe_index_stats of '%s' answered no namespaces object",
                        st->index);
        goto cleanup;
    }
    vm_pc_free_ns(st);
    size_t cap = json_object_size(nss);
    if (cap && !(st->ns = vm_calloc(cap, sizeof *st->ns))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    const char *k;
    json_t *v;
    json_object_foreach(nss, k, v) {
        json_t *c = json_object_get(v, "vectorCount");
        if (!json_is_integer(c) || json_integer_value(c) < 0) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "pinecone: describe_index_stats: namespace '%s' has no vectorCount",
                            k);
            goto cleanup;
        }
        if (!vm_pc_selected(st, k))
            continue;
        if (!(st->ns[st->nns].name = vm_strdup(k))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        st->ns[st->nns++].count = json_integer_value(c);
    }
    qsort(st->ns, st->nns, sizeof *st->ns, vm_pc_cmp_ns);
    /* every namespace asked for must exist */
    json_t *l = st->namespaces;
    size_t i;
    json_array_foreach(l, i, v) {
        bool found = false;
        for (size_t x = 0; x < st->nns && !found; x++)
            found = !strcmp(vm_pc_ns_value(st->ns[x].name), vm_pc_ns_value(json_string_value(v)));
        if (!found) {
            rc = vm_err_set(err, VM_ERR_NOT_FOUND, false,
                            "pinecone: source.namespaces[%zu]: index '%s' has no namespace '%s' "
                            "(or it is empty)",
                            i, st->index, json_string_value(v));
            goto cleanup;
        }
    }
cleanup:
    json_decref(j);
    vm_http_resp_free(&r);
    vm_free(url);
    return rc;
}

int vm_pc_list_page(vm_pc *st, const char *ns, const char *prefix, const char *token,
                    int64_t limit, char ***ids, size_t *nids, char **next, vm_err *err)
{
    *ids = NULL;
    *nids = 0;
    *next = NULL;
    vm_buf *u = &st->url;
    vm_buf_clear(u);
    vm_buf_puts(u, st->data_url);
    vm_buf_puts(u, "/vectors/list?namespace=");
    vm_pc_url_encode(u, ns, strlen(ns));
    if (prefix && *prefix) {
        vm_buf_puts(u, "&prefix=");
        vm_pc_url_encode(u, prefix, strlen(prefix));
    }
    vm_buf_printf(u, "&limit=%" PRId64, limit);
    if (token) {
        vm_buf_puts(u, "&paginationToken=");
        vm_pc_url_encode(u, token, strlen(token));
    }
    if (!vm_buf_ok(u))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_http_resp r = {0};
    int rc = vm_pc_request(st, "GET", vm_buf_cstr(u), NULL, &r, err);
    char what[200];
    snprintf(what, sizeof what, "list of namespace '%.60s' prefix '%.60s'", ns,
             prefix ? prefix : "");
    if (rc != VM_OK) {
        vm_err_prefix(err, "pinecone: %s: ", what);
        goto cleanup;
    }
    if ((rc = vm_pc_status_error(st, &r, what, err)) != VM_OK)
        goto cleanup;
    bool not_json;
    if ((rc = vm_pc_parse_list(r.body, r.body_len, ids, nids, next, &not_json, err)) != VM_OK) {
        if (not_json)
            rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                            "pinecone: index '%s': GET /vectors/list answered HTTP %ld with "
                            "%s, not a list of ids, as a pod-based index does: %s",
                            st->index, r.status,
                            r.content_type ? r.content_type : "a body that is not JSON",
                            VM_PC_POD_HELP);
        else
            vm_err_prefix(err, "pinecone: %s: ", what);
    }
cleanup:
    vm_http_resp_free(&r);
    return rc;
}

/* ---------------------------------------------------------------- ops */

static int vm_pc_init(void *state, const json_t *conf, vm_err *err)
{
    vm_pc *st = state;
    vm_buf_init(&st->url);
    int rc = vm_conf_apply(vm_pc_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    json_t *l = st->namespaces;
    if (l) {
        size_t i;
        json_t *v;
        if (!json_is_array(l) || json_array_size(l) == 0)
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "source.namespaces: expected a non-empty list of namespace names");
        json_array_foreach(l, i, v) if (rc == VM_OK && !json_is_string(v)) rc = vm_err_set(
            err, VM_ERR_INVALID, false, "source.namespaces[%zu]: expected a string", i);
        if (rc != VM_OK)
            goto fail;
    }
    for (const char *p = st->index; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-')) {
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "source.index: '%s' is not a Pinecone index name (lower-case "
                            "letters, digits and '-')",
                            st->index);
            goto fail;
        }
    if (!st->collection) {
        /* '-' -> '_'; a leading digit (allowed by Pinecone, not by Milvus)
         * gets a "pinecone_" prefix */
        char *name = vm_malloc(strlen(st->index) + 10);
        if (!name) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        sprintf(name, "%s%s", isdigit((unsigned char)st->index[0]) ? "pinecone_" : "",
                st->index);
        rc = vm_name_to_milvus(name, false, &st->collection, err);
        vm_free(name);
        if (rc != VM_OK)
            goto fail;
    }
    return VM_OK;
fail:
    vm_conf_release(vm_pc_table, st);
    vm_buf_release(&st->url);
    return rc;
}

static void vm_pc_fini(void *state)
{
    vm_pc *st = state;
    vm_pc_close(st);
    vm_pc_free_read(st);
    vm_pc_free_ns(st);
    vm_http_client_free(st->http);
    if (st->hdr_key) {
        memset(st->hdr_key, 0, strlen(st->hdr_key));
        vm_free(st->hdr_key);
    }
    vm_free(st->hdr_ver);
    vm_free(st->data_url);
    vm_free(st->pc_metric);
    vm_free(st->spec_text);
    vm_buf_release(&st->url);
    vm_conf_release(vm_pc_table, st);
}

static int vm_pc_count(void *state, int64_t *rows, vm_err *err)
{
    vm_pc *st = state;
    int rc = vm_pc_stats(st, err);
    if (rc != VM_OK)
        return rc;
    int64_t n = 0;
    for (size_t i = 0; i < st->nns; i++)
        n += st->ns[i].count;
    *rows = n;
    return VM_OK;
}

const vm_source_ops vm_source_pinecone_ops = {
    .name = "pinecone",
    .summary = "Pinecone serverless indexes (list per namespace and prefix, fetch by id)",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_pc),
    .init = vm_pc_init,
    .fini = vm_pc_fini,
    .discover = vm_pc_discover,
    .count = vm_pc_count,
    .plan = vm_pc_plan,
    .open = vm_pc_open,
    .read = vm_pc_read,
    .cursor = vm_pc_cursor,
    .close = vm_pc_close,
};

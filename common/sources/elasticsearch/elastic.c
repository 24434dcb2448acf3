/*
 * elastic.c - the `elasticsearch` and `opensearch` sources over HTTP (see
 * elastic.h for how slices are read and resumed, es_parse.c for the type
 * mapping).
 *
 * Job block:
 *   source:
 *     type: elasticsearch          # or opensearch
 *     url: https://es:9200         # required
 *     index: products              # required: an index, alias or pattern
 *                                  # (the collection keeps its name unless
 *                                  # the mapping sets collection.name)
 *     api_key: {env: ES_API_KEY}   # Elasticsearch: the encoded API key (as
 *                                  # Elastic Cloud shows it), sent as
 *                                  # Authorization: ApiKey
 *     username: elastic            # or Basic authentication:
 *     password: {env: ES_PASSWORD} #   both, password a secret
 *     ca_file: /etc/es/ca.pem      # PEM bundle for a private CA
 *     query: {term: {lang: en}}    # optional: only the matching documents
 *                                  # (counted with the same query)
 *     read: auto                   # pit | scroll | auto (elasticsearch: pit,
 *                                  # opensearch: scroll)
 *     slices: 0                    # 0: one per task_rows documents (<= 1024)
 *     page_size: 1000              # documents per request (<= 10000)
 *     keep_alive: 10m              # PIT / scroll keep-alive between requests
 *     sample: 1000                 # documents sampled at plan (arrays)
 *     request_vectors: auto        # auto | yes | no: send "_source":
 *                                  # {"exclude_vectors": false} (auto: to
 *                                  # Elasticsearch 8.19 and later, whose 9.x
 *                                  # indices leave vectors out of _source)
 *     timeout: 60s
 *     retries: 5                   # transport errors, HTTP 429 and 5xx
 *     insecure_tls: false
 */
#include "elastic.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_transform.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VM_ES_BACKOFF_BASE_MS 250
#define VM_ES_BACKOFF_CAP_MS 15000
#define VM_ES_MAX_RETRY_AFTER_MS 60000
/* new PITs / scrolls for one page before giving up (contexts that expire
 * again at once mean a keep_alive far too short) */
#define VM_ES_MAX_REOPEN 3

static const vm_conf_entry vm_es_table[] = {
    {"url", VM_CT_STRING, NULL, offsetof(vm_es, url), "server URL, http(s)://host:port", NULL,
     VM_CF_REQUIRED, 1, 2048},
    {"index", VM_CT_STRING, NULL, offsetof(vm_es, index),
     "index, alias or pattern to migrate (the target keeps its name unless the mapping sets "
     "collection.name)",
     NULL, VM_CF_REQUIRED, 1, 1024},
    {"api_key", VM_CT_SECRET, NULL, offsetof(vm_es, api_key),
     "encoded API key, sent as Authorization: ApiKey (Elasticsearch)", NULL, 0, 0, 0},
    {"username", VM_CT_STRING, NULL, offsetof(vm_es, username), "Basic authentication user",
     NULL, 0, 1, 1024},
    {"password", VM_CT_SECRET, NULL, offsetof(vm_es, password), "Basic authentication password",
     NULL, 0, 0, 0},
    {"ca_file", VM_CT_STRING, NULL, offsetof(vm_es, ca_file),
     "PEM file of the CA that signed the server's certificate", NULL, 0, 1, 4096},
    {"query", VM_CT_JSON, NULL, offsetof(vm_es, query),
     "query DSL object: migrate only the matching documents", NULL, 0, 0, 0},
    {"read", VM_CT_ENUM, "auto", offsetof(vm_es, read_mode),
     "auto | pit (point in time + slice + search_after) | scroll (sliced scroll)",
     "auto|pit|scroll", 0, 0, 0},
    {"request_vectors", VM_CT_ENUM, "auto", offsetof(vm_es, request_vectors),
     "auto | yes | no: ask for vectors left out of _source (\"exclude_vectors\": false)",
     "auto|yes|no", 0, 0, 0},
    {"slices", VM_CT_INT, "0", offsetof(vm_es, slices),
     "slices (tasks); 0: one per task_rows documents", NULL, 0, 0, VM_ES_MAX_SLICES},
    {"page_size", VM_CT_INT, "1000", offsetof(vm_es, page_size), "documents per request", NULL,
     0, 1, VM_ES_MAX_WINDOW},
    {"keep_alive", VM_CT_DURATION, "10m", offsetof(vm_es, keep_alive_ms),
     "how long the server keeps a PIT or scroll between two requests", NULL, 0, 1000,
     86400000},
    {"sample", VM_CT_INT, "1000", offsetof(vm_es, sample),
     "documents sampled at plan time (arrays, dimensions)", NULL, 0, 0, VM_ES_MAX_WINDOW},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_es, timeout_ms), "per-request timeout", NULL,
     0, 1000, 3600000},
    {"retries", VM_CT_INT, "5", offsetof(vm_es, retries),
     "retries of a request after a transport error, HTTP 429 or 5xx", NULL, 0, 0, 100},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_es, insecure_tls),
     "skip TLS certificate verification", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------- HTTP */

typedef struct vm_es_judge_ctx {
    vm_es *st;
    const char *what;
    bool missing; /* out: the PIT or scroll context is gone */
} vm_es_judge_ctx;

static int vm_es_judge(void *ctx, const vm_http_resp *r, vm_err *err)
{
    vm_es_judge_ctx *j = ctx;
    const vm_es *st = j->st;
    if (r->status >= 200 && r->status < 300)
        return VM_OK;
    char msg[256];
    vm_es_error_text(r->body, r->body ? r->body_len : 0, msg, sizeof msg, &j->missing);
    const char *name = st->fl->name;
    if (r->status == 401 || r->status == 403)
        return vm_err_set(err, VM_ERR_AUTH, false,
                          "%s: %s: HTTP %ld, the server refused the credentials or their "
                          "privileges (check source.%s)%s%s",
                          name, j->what, r->status,
                          st->api_key ? "api_key" : "username and source.password",
                          msg[0] ? ": " : "", msg);
    if (r->status == 404)
        return vm_err_set(err, VM_ERR_NOT_FOUND, false, "%s: %s: HTTP 404%s%s", name, j->what,
                          msg[0] ? ": " : "", msg);
    bool retriable;
    vm_code code = vm_http_classify_status(r->status, &retriable);
    char after[48] = "";
    if (r->retry_after_ms >= 0)
        snprintf(after, sizeof after, " (retry after %ld ms)", r->retry_after_ms);
    return vm_err_set(err, code == VM_OK ? VM_ERR_PROTOCOL : code, retriable,
                      "%s: %s: HTTP %ld%s%s%s", name, j->what, r->status, after,
                      msg[0] ? ": " : "", msg);
}

/* One request (path with query string, relative to the server URL);
 * *missing tells a 404 for a PIT or scroll that is gone. */
static int vm_es_call(vm_es *st, const char *method, const char *path, const char *body,
                      size_t blen, const char *what, bool *missing, vm_err *err)
{
    vm_buf url;
    vm_buf_init(&url);
    vm_buf_puts(&url, st->base);
    vm_buf_puts(&url, path);
    if (!vm_buf_ok(&url))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    const char *headers[4] = {"Content-Type: application/json", "Accept: application/json",
                              st->auth, NULL};
    vm_http_req req = {.method = method, .url = vm_buf_cstr(&url), .headers = headers,
                       .body = body, .body_len = blen};
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s: %s: ", st->fl->name, what);
    vm_http_retry policy = {.max_retries = st->retries, .base_ms = VM_ES_BACKOFF_BASE_MS,
                            .cap_ms = VM_ES_BACKOFF_CAP_MS,
                            .max_wait_ms = VM_ES_MAX_RETRY_AFTER_MS, .seed = &st->seed,
                            .prefix = prefix};
    vm_es_judge_ctx j = {st, what, false};
    int rc = vm_http_request_retry(st->http, &req, &st->resp, &policy, vm_es_judge, &j, err);
    vm_buf_release(&url);
    if (missing)
        *missing = rc == VM_ERR_NOT_FOUND && j.missing;
    return rc;
}

/* The answer of the last call as JSON (small answers only). */
static json_t *vm_es_answer(vm_es *st, const char *what, vm_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(st->resp.body, st->resp.body_len, 0, &je);
    if (!j)
        vm_err_set(err, VM_ERR_PROTOCOL, false, "%s: %s: the answer is not JSON: %s",
                   st->fl->name, what, je.text);
    return j;
}

/* Percent-encode an index expression for a path segment; '*' and ',' stay
 * (patterns and lists are the server's syntax). */
static void vm_es_escape(vm_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-_.~*,", *p))
            vm_buf_putc(b, (char)*p);
        else
            vm_buf_printf(b, "%%%02X", *p);
    }
}

/* Server version (GET /, else the local node's info); sets the flavor
 * check and whether vectors must be asked for. Failure only warns: an
 * index-only role may not see either. */
static int vm_es_version(vm_es *st, vm_err *err)
{
    if (st->versioned)
        return VM_OK;
    st->versioned = true;
    vm_err e2;
    vm_err_clear(&e2);
    const char *ver = NULL, *dist = NULL;
    json_t *j = NULL;
    if (vm_es_call(st, "GET", "/", NULL, 0, "server info", NULL, &e2) == VM_OK &&
        (j = vm_es_answer(st, "server info", &e2))) {
        ver = json_string_value(json_object_get(json_object_get(j, "version"), "number"));
        dist = json_string_value(json_object_get(json_object_get(j, "version"), "distribution"));
    } else {
        json_decref(j);
        j = NULL;
        vm_err_clear(&e2);
        if (vm_es_call(st, "GET", "/_nodes/_local?filter_path=nodes.*.version", NULL, 0,
                       "node info", NULL, &e2) == VM_OK &&
            (j = vm_es_answer(st, "node info", &e2))) {
            json_t *nodes = json_object_get(j, "nodes");
            void *it = json_object_iter(nodes);
            if (it)
                ver = json_string_value(json_object_get(json_object_iter_value(it), "version"));
        }
    }
    int rc = VM_OK;
    if (!ver) {
        vm_warn("%s: the server's version is unknown (%s); vectors are read from _source as "
                "stored",
                st->fl->name, e2.msg[0] ? e2.msg : "no version in the answer");
    } else {
        int major = 0, minor = 0;
        sscanf(ver, "%d.%d", &major, &minor);
        st->version_major = major;
        bool os = dist && strcmp(dist, "opensearch") == 0;
        if (os != (st->fl == &vm_es_opensearch) && (dist || st->fl == &vm_es_opensearch)) {
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "source.type: the server at source.url is %s %s: use type: %s",
                            os ? "OpenSearch" : "Elasticsearch", ver,
                            os ? "opensearch" : "elasticsearch");
        } else if (st->fl == &vm_es_elasticsearch && st->request_vectors == 0) {
            st->exclude_vectors_false = major > 8 || (major == 8 && minor >= 19);
        }
        vm_debug("%s: server version %s", st->fl->name, ver);
    }
    if (st->request_vectors == 1)
        st->exclude_vectors_false = true;
    json_decref(j);
    return rc;
}

/* The _mapping answer of the index (JSON). */
static int vm_es_mapping(vm_es *st, json_t **out, vm_err *err)
{
    vm_buf p;
    vm_buf_init(&p);
    vm_buf_printf(&p, "%s/_mapping", st->index_path);
    int rc = vm_buf_ok(&p) ? vm_es_call(st, "GET", vm_buf_cstr(&p), NULL, 0, "reading the mapping",
                                        NULL, err)
                           : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_release(&p);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_err_prefix(err, "index '%s' not found: ", st->index);
    if (rc != VM_OK)
        return rc;
    *out = vm_es_answer(st, "reading the mapping", err);
    return *out ? VM_OK : err->code;
}

/* `"query":...,` for request bodies (nothing without a query). */
static void vm_es_put_query(vm_es *st, vm_buf *b)
{
    if (!st->query)
        return;
    char *q = json_dumps(st->query, JSON_COMPACT);
    if (!q) {
        vm_buf_puts(b, "\x01"); /* poison: fails vm_buf_ok below */
        b->failed = true;
        return;
    }
    vm_buf_puts(b, "\"query\":");
    vm_buf_puts(b, q);
    vm_buf_putc(b, ',');
    free(q);
}

static const char *vm_es_source_param(const vm_es *st)
{
    return st->exclude_vectors_false ? "{\"exclude_vectors\":false}" : "true";
}

/* ---------------------------------------------------------------- ops */

static int vm_es_init_with(const vm_es_flavor *fl, void *state, const json_t *conf, vm_err *err)
{
    vm_es *st = state;
    st->fl = fl;
    vm_buf_init(&st->body);
    vm_buf_init(&st->meta);
    vm_buf_init(&st->scr.text);
    int rc = vm_conf_apply(vm_es_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    vm_buf b;
    vm_buf_init(&b);
    if (strncmp(st->url, "http://", 7) != 0 && strncmp(st->url, "https://", 8) != 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.url: must start with http:// or https:// (e.g. "
                        "https://localhost:9200)");
        goto fail;
    }
    if (st->api_key && !fl->api_keys) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.api_key: %s has no API keys: use source.username and "
                        "source.password",
                        fl->name);
        goto fail;
    }
    if (st->api_key && (st->username || st->password)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.api_key: give either api_key or username and password, not both");
        goto fail;
    }
    if ((st->username != NULL) != (st->password != NULL)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "source.%s: username and password go together",
                        st->username ? "password" : "username");
        goto fail;
    }
    if (st->query && !json_is_object(st->query)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.query: must be a query DSL object, e.g. {term: {lang: en}}");
        goto fail;
    }
    size_t ul = strlen(st->url);
    while (ul > 0 && st->url[ul - 1] == '/')
        ul--;
    if (!(st->base = vm_strndup(st->url, ul))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    vm_buf_putc(&b, '/');
    vm_es_escape(&b, st->index);
    if (!vm_buf_ok(&b) || !(st->index_path = vm_strdup(vm_buf_cstr(&b)))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = vm_es_auth_header(st->api_key, st->username, st->password, &st->auth, err)) !=
        VM_OK)
        goto fail;
    snprintf(st->keep_alive, sizeof st->keep_alive, "%" PRId64 "s",
             (st->keep_alive_ms + 999) / 1000);
    vm_http_opts o = {.timeout_ms = (long)st->timeout_ms, .insecure = st->insecure_tls,
                      .ca_file = st->ca_file};
    if ((rc = vm_http_client_new(&o, &st->http, err)) != VM_OK) {
        vm_err_prefix(err, "source: ");
        goto fail;
    }
    st->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    if (b.data)
        memset(b.data, 0, b.len);
    vm_buf_release(&b);
    return VM_OK;
fail:
    if (b.data)
        memset(b.data, 0, b.len);
    vm_buf_release(&b);
    vm_free(st->base);
    vm_free(st->index_path);
    if (st->auth) {
        memset(st->auth, 0, strlen(st->auth));
        vm_free(st->auth);
    }
    st->base = st->index_path = st->auth = NULL;
    vm_buf_release(&st->body);
    vm_buf_release(&st->meta);
    vm_buf_release(&st->scr.text);
    vm_conf_release(vm_es_table, st);
    return rc;
}

static int vm_es_init_es(void *state, const json_t *conf, vm_err *err)
{
    return vm_es_init_with(&vm_es_elasticsearch, state, conf, err);
}

static int vm_es_init_os(void *state, const json_t *conf, vm_err *err)
{
    return vm_es_init_with(&vm_es_opensearch, state, conf, err);
}

static void vm_es_close(void *state);

static void vm_es_close_pit(vm_es *st, const char *pit)
{
    vm_buf b;
    vm_buf_init(&b);
    vm_buf_puts(&b, st->fl->pit_close_list ? "{\"pit_id\":[" : "{\"id\":");
    vm_buf_json_str(&b, pit, strlen(pit));
    vm_buf_puts(&b, st->fl->pit_close_list ? "]}" : "}");
    vm_err e;
    vm_err_clear(&e);
    if (vm_buf_ok(&b) && vm_es_call(st, "DELETE", st->fl->pit_close, b.data, b.len,
                                    "closing a point in time", NULL, &e) != VM_OK &&
        e.code != VM_ERR_NOT_FOUND)
        vm_debug("%s", e.msg);
    vm_buf_release(&b);
}

static void vm_es_fini(void *state)
{
    vm_es *st = state;
    vm_es_close(st);
    if (st->plan_pit && st->http)
        vm_es_close_pit(st, st->plan_pit);
    vm_free(st->plan_pit);
    vm_http_client_free(st->http);
    vm_http_resp_free(&st->resp);
    vm_schema_free(st->schema);
    vm_free(st->enc);
    vm_free(st->base);
    vm_free(st->index_path);
    if (st->auth) {
        memset(st->auth, 0, strlen(st->auth));
        vm_free(st->auth);
    }
    vm_free(st->text);
    vm_free(st->colmap);
    vm_es_page_release(&st->page);
    vm_buf_release(&st->body);
    vm_buf_release(&st->meta);
    vm_buf_release(&st->scr.text);
    vm_conf_release(vm_es_table, st);
}

/* Mapping + sample -> st->schema (once). */
static int vm_es_load(vm_es *st, bool sample, vm_err *err)
{
    if (st->schema)
        return VM_OK;
    json_t *mapping = NULL;
    vm_es_sample smp = {0};
    int rc = vm_es_version(st, err);
    if (rc == VM_OK)
        rc = vm_es_mapping(st, &mapping, err);
    if (rc == VM_OK && sample && st->sample > 0) {
        vm_buf_clear(&st->body);
        vm_buf_printf(&st->body, "{\"size\":%" PRId64 ",\"track_total_hits\":false,",
                      st->sample);
        vm_es_put_query(st, &st->body);
        vm_buf_printf(&st->body, "\"sort\":[\"_doc\"],\"_source\":%s}", vm_es_source_param(st));
        vm_buf p;
        vm_buf_init(&p);
        vm_buf_printf(&p, "%s/_search?allow_partial_search_results=false", st->index_path);
        if (!vm_buf_ok(&st->body) || !vm_buf_ok(&p))
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        else if ((rc = vm_es_call(st, "POST", vm_buf_cstr(&p), st->body.data, st->body.len,
                                  "sampling documents", NULL, err)) == VM_OK)
            rc = vm_es_sample_add(&smp, st->resp.body, st->resp.body_len, err);
        vm_buf_release(&p);
    }
    if (rc == VM_OK)
        rc = vm_es_build_schema(st->fl, mapping, sample ? &smp : NULL, st->index, &st->schema,
                                &st->enc, err);
    if (rc == VM_OK && sample)
        vm_info("%s: index '%s': %zu fields, %zu documents sampled", st->fl->name, st->index,
                st->schema->nfields, smp.docs);
    json_decref(mapping);
    vm_es_sample_release(&smp);
    return rc;
}

static int vm_es_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_es *st = state;
    *out = NULL;
    vm_schema_free(st->schema);
    vm_free(st->enc);
    st->schema = NULL;
    st->enc = NULL;
    int rc = vm_es_load(st, true, err);
    if (rc != VM_OK)
        return rc;
    if (!(*out = vm_schema_clone(st->schema)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

static int vm_es_count(void *state, int64_t *rows, vm_err *err)
{
    vm_es *st = state;
    vm_buf p;
    vm_buf_init(&p);
    vm_buf_printf(&p, "%s/_count", st->index_path);
    vm_buf_clear(&st->body);
    vm_buf_putc(&st->body, '{');
    vm_es_put_query(st, &st->body);
    if (st->body.len > 1)
        st->body.len--; /* the query's ',' */
    vm_buf_putc(&st->body, '}');
    int rc = !vm_buf_ok(&p) || !vm_buf_ok(&st->body)
                 ? vm_err_setc(err, VM_ERR_NOMEM, "out of memory")
                 : vm_es_call(st, "POST", vm_buf_cstr(&p), st->body.data, st->body.len,
                              "counting documents", NULL, err);
    vm_buf_release(&p);
    if (rc == VM_ERR_NOT_FOUND)
        return vm_err_prefix(err, "index '%s' not found: ", st->index);
    if (rc != VM_OK)
        return rc;
    json_t *j = vm_es_answer(st, "counting documents", err);
    if (!j)
        return err->code;
    json_t *c = json_object_get(j, "count");
    json_int_t failed = json_integer_value(json_object_get(json_object_get(j, "_shards"), "failed"));
    if (!json_is_integer(c) || json_integer_value(c) < 0)
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "%s: _count answered no count",
                        st->fl->name);
    else if (failed > 0)
        rc = vm_err_set(err, VM_ERR_REMOTE, true,
                        "%s: _count of '%s': %lld shard(s) failed: the count would be short",
                        st->fl->name, st->index, (long long)failed);
    else
        *rows = json_integer_value(c);
    json_decref(j);
    return rc;
}

static vm_es_read_mode vm_es_mode(const vm_es *st)
{
    return st->read_mode == VM_ES_READ_AUTO ? st->fl->default_read : (vm_es_read_mode)st->read_mode;
}

/* Open a point in time on the index; *out allocated. */
static int vm_es_open_pit(vm_es *st, char **out, vm_err *err)
{
    vm_buf p;
    vm_buf_init(&p);
    vm_buf_printf(&p, "%s%s?keep_alive=%s", st->index_path, st->fl->pit_open, st->keep_alive);
    int rc = vm_buf_ok(&p) ? vm_es_call(st, "POST", vm_buf_cstr(&p), NULL, 0,
                                        "opening a point in time", NULL, err)
                           : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_release(&p);
    if (rc != VM_OK)
        return rc;
    json_t *j = vm_es_answer(st, "opening a point in time", err);
    if (!j)
        return err->code;
    const char *id = json_string_value(json_object_get(j, st->fl->pit_id_key));
    if (!id || !*id)
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "%s: the point-in-time answer has no '%s'",
                        st->fl->name, st->fl->pit_id_key);
    else if (!(*out = vm_strdup(id)))
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    json_decref(j);
    return rc;
}

static int vm_es_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit,
                      void *emit_ctx, vm_err *err)
{
    vm_es *st = state;
    int64_t count = 0;
    int rc = vm_es_load(st, false, err);
    if (rc == VM_OK)
        rc = vm_es_count(st, &count, err);
    if (rc != VM_OK)
        return rc;
    int64_t n = st->slices;
    if (n <= 0) {
        int64_t per = opts->task_rows > 0 ? opts->task_rows : 100000;
        n = count / per + (count % per ? 1 : 0);
    }
    if (n < 1)
        n = 1;
    if (n > VM_ES_MAX_SLICES)
        n = VM_ES_MAX_SLICES;
    if (vm_es_mode(st) == VM_ES_READ_PIT && !st->plan_pit &&
        (rc = vm_es_open_pit(st, &st->plan_pit, err)) != VM_OK)
        return rc;
    for (int64_t i = 0; i < n && rc == VM_OK; i++) {
        vm_task t;
        vm_task_init(&t);
        t.job_id = (char *)opts->job_id;
        t.id = (uint32_t)i;
        t.kind = VM_RANGE_SLICE;
        t.slice = (int32_t)i;
        t.slices = (int32_t)n;
        t.scope = st->plan_pit;
        t.est_rows = count / n + (i < count % n ? 1 : 0);
        rc = emit(emit_ctx, &t, err);
    }
    return rc;
}

/* ------------------------------------------------------------ reading */

static void vm_es_close(void *state)
{
    vm_es *st = state;
    if (st->scroll_id && st->http) {
        vm_buf b;
        vm_buf_init(&b);
        vm_buf_puts(&b, "{\"scroll_id\":[");
        vm_buf_json_str(&b, st->scroll_id, strlen(st->scroll_id));
        vm_buf_puts(&b, "]}");
        vm_err e;
        vm_err_clear(&e);
        if (vm_buf_ok(&b))
            (void)vm_es_call(st, "DELETE", "/_search/scroll", b.data, b.len, "clearing a scroll",
                             NULL, &e);
        vm_buf_release(&b);
    }
    if (st->pit && st->own_pit && st->http)
        vm_es_close_pit(st, st->pit);
    vm_free(st->scroll_id);
    vm_free(st->pit);
    vm_free(st->skip_last);
    st->scroll_id = st->pit = st->skip_last = NULL;
    st->own_pit = false;
    vm_es_pos_release(&st->pos);
    st->page.n = 0;
    st->next = 0;
    st->open = st->finished = false;
    st->skip = 0;
    st->page_end = false;
}

static int vm_es_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_es *st = state;
    vm_es_close(st);
    int rc = vm_es_version(st, err);
    if (rc != VM_OK)
        return rc;
    if (task->kind == VM_RANGE_SLICE) {
        st->slice = task->slice;
        st->nslices = task->slices;
    } else if (task->kind == VM_RANGE_ALL) {
        st->slice = 0;
        st->nslices = 1;
    } else {
        return vm_err_set(err, VM_ERR_INVALID, false, "%s: task %u is a %s range, not a slice",
                          st->fl->name, task->id, vm_range_kind_name(task->kind));
    }
    st->mode = vm_es_mode(st);
    if (cursor && *cursor && (rc = vm_es_cursor_decode(cursor, &st->pos, err)) != VM_OK)
        return rc;
    if (st->mode == VM_ES_READ_PIT) {
        const char *pit = st->pos.pit ? st->pos.pit : task->scope;
        if (pit && !(st->pit = vm_strdup(pit)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        if (st->pos.n > 0 && !st->pos.after) { /* a cursor of the scroll mode */
            st->skip = st->pos.n;
            if (!(st->skip_last = vm_strdup(st->pos.last)))
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        }
    } else if (st->pos.n > 0) { /* a scroll cannot be resumed: skip what was read */
        st->skip = st->pos.n;
        if (!(st->skip_last = vm_strdup(st->pos.last)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        vm_info("%s: slice %d/%d: reading again from its start, skipping the %" PRId64
                " documents already written (a scroll cannot be resumed)",
                st->fl->name, st->slice, st->nslices, st->skip);
    }
    st->open = true;
    return VM_OK;
}

/* Read the slice again from its start, skipping the rows already returned
 * (the PIT or scroll is gone; its sort values are no use elsewhere). */
static int vm_es_restart(vm_es *st, vm_err *err)
{
    vm_free(st->skip_last);
    st->skip_last = NULL;
    st->skip = st->pos.n;
    if (st->pos.n > 0 && !(st->skip_last = vm_strdup(st->pos.last)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_free(st->pos.after);
    st->pos.after = NULL;
    st->page.n = st->next = 0;
    st->page_end = false;
    return VM_OK;
}

/* The next page into st->text / st->page. */
static int vm_es_fetch(vm_es *st, size_t room, vm_err *err)
{
    vm_buf path;
    vm_buf_init(&path);
    int rc = VM_OK;
    for (int reopen = 0;; reopen++) {
        vm_buf_clear(&st->body);
        vm_buf_clear(&path);
        const char *what;
        bool skipping = st->skip > 0;
        int64_t req_size = 0;
        if (st->mode == VM_ES_READ_PIT) {
            if (!st->pit) {
                if ((rc = vm_es_open_pit(st, &st->pit, err)) != VM_OK)
                    break;
                st->own_pit = true;
            }
            int64_t size = skipping ? (st->skip < VM_ES_MAX_WINDOW ? st->skip : VM_ES_MAX_WINDOW)
                                    : (int64_t)(room < (size_t)st->page_size ? room
                                                                              : (size_t)st->page_size);
            if (size < 1)
                size = 1;
            req_size = size;
            vm_buf_printf(&st->body, "{\"size\":%" PRId64 ",\"track_total_hits\":false,", size);
            vm_es_put_query(st, &st->body);
            vm_buf_puts(&st->body, "\"pit\":{\"id\":");
            vm_buf_json_str(&st->body, st->pit, strlen(st->pit));
            vm_buf_printf(&st->body, ",\"keep_alive\":\"%s\"},\"sort\":%s,", st->keep_alive,
                          st->fl->pit_sort);
            if (st->nslices > 1)
                vm_buf_printf(&st->body, "\"slice\":{\"id\":%d,\"max\":%d},", st->slice,
                              st->nslices);
            if (st->pos.after) {
                vm_buf_puts(&st->body, "\"search_after\":");
                vm_buf_puts(&st->body, st->pos.after);
                vm_buf_putc(&st->body, ',');
            }
            vm_buf_printf(&st->body, "\"_source\":%s}",
                          skipping ? "false" : vm_es_source_param(st));
            vm_buf_puts(&path, "/_search?allow_partial_search_results=false");
            what = "reading a slice";
        } else if (!st->scroll_id) {
            /* (track_total_hits false is refused in a scroll context) */
            vm_buf_printf(&st->body, "{\"size\":%" PRId64 ",", st->page_size);
            vm_es_put_query(st, &st->body);
            if (st->nslices > 1)
                vm_buf_printf(&st->body, "\"slice\":{\"id\":%d,\"max\":%d},", st->slice,
                              st->nslices);
            vm_buf_printf(&st->body, "\"sort\":[\"_doc\"],\"_source\":%s}",
                          vm_es_source_param(st));
            vm_buf_printf(&path, "%s/_search?scroll=%s&allow_partial_search_results=false",
                          st->index_path, st->keep_alive);
            what = "starting a scroll";
        } else {
            vm_buf_printf(&st->body, "{\"scroll\":\"%s\",\"scroll_id\":", st->keep_alive);
            vm_buf_json_str(&st->body, st->scroll_id, strlen(st->scroll_id));
            vm_buf_putc(&st->body, '}');
            vm_buf_puts(&path, "/_search/scroll");
            what = "scrolling";
        }
        if (!vm_buf_ok(&st->body) || !vm_buf_ok(&path)) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            break;
        }
        bool missing = false;
        rc = vm_es_call(st, "POST", vm_buf_cstr(&path), st->body.data, st->body.len, what,
                        &missing, err);
        if (rc != VM_OK && missing && reopen < VM_ES_MAX_REOPEN) {
            bool pit = st->mode == VM_ES_READ_PIT;
            vm_warn("%s: slice %d/%d: the %s expired (%s); %s", st->fl->name, st->slice,
                    st->nslices, pit ? "point in time" : "scroll", err->msg,
                    pit && st->fl->sort_stable
                        ? "continuing in a new point in time after the last _id"
                        : "reading the slice again in a new one, skipping the documents "
                          "already written");
            if (pit) {
                if (st->own_pit)
                    vm_es_close_pit(st, st->pit);
                vm_free(st->pit);
                st->pit = NULL;
                st->own_pit = false;
                vm_free(st->pos.pit);
                st->pos.pit = NULL;
            } else {
                vm_free(st->scroll_id);
                st->scroll_id = NULL;
            }
            if ((!pit || !st->fl->sort_stable) && (rc = vm_es_restart(st, err)) != VM_OK)
                break;
            continue;
        }
        if (rc == VM_ERR_NOT_FOUND)
            vm_err_prefix(err, "index '%s': ", st->index);
        if (rc != VM_OK)
            break;
        /* keep the text: spans point into it */
        if (st->resp.body_len + 1 > st->text_cap) {
            char *t = vm_realloc(st->text, st->resp.body_len + 1);
            if (!t) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                break;
            }
            st->text = t;
            st->text_cap = st->resp.body_len + 1;
        }
        memcpy(st->text, st->resp.body, st->resp.body_len);
        st->text[st->resp.body_len] = '\0';
        st->text_len = st->resp.body_len;
        if ((rc = vm_es_parse_page(st->text, st->text_len, &st->page, err)) != VM_OK) {
            vm_err_prefix(err, "%s: %s: ", st->fl->name, what);
            break;
        }
        st->next = 0;
        /* a short pit page is the slice's last (search_after pages are full
         * until the end); scroll pages say nothing */
        st->page_end = st->mode == VM_ES_READ_PIT && !skipping && st->page.n < (size_t)req_size;
        if (st->page.timed_out || st->page.failed_shards > 0) {
            rc = vm_err_set(err, VM_ERR_REMOTE, true,
                            "%s: %s: %s: the page would be incomplete", st->fl->name, what,
                            st->page.timed_out ? "the search timed out" : "shards failed");
            break;
        }
        vm_json_span ns = st->mode == VM_ES_READ_PIT ? st->page.pit_id : st->page.scroll_id;
        if (ns.kind == VM_JSON_STRING) {
            vm_buf_clear(&st->scr.text);
            if ((rc = vm_json_unescape(st->text + ns.off, ns.len, &st->scr.text, err)) != VM_OK)
                break;
            char **slot = st->mode == VM_ES_READ_PIT ? &st->pit : &st->scroll_id;
            if (!*slot || strcmp(*slot, vm_buf_cstr(&st->scr.text)) != 0) {
                char *nv = vm_strdup(vm_buf_cstr(&st->scr.text));
                if (!nv) {
                    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                    break;
                }
                vm_free(*slot);
                *slot = nv;
            }
        } else if (st->mode == VM_ES_READ_SCROLL) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "%s: %s: the answer has no _scroll_id",
                            st->fl->name, what);
            break;
        }
        if (st->mode == VM_ES_READ_PIT && st->page.n > 0) {
            /* the next request continues after this page, whatever is returned of it */
            vm_es_hit *h = &st->page.hits[st->page.n - 1];
            if (h->sort.kind != VM_JSON_ARRAY) {
                rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "%s: a hit has no sort values",
                                st->fl->name);
                break;
            }
        }
        break;
    }
    vm_buf_release(&path);
    return rc;
}

/* The mapped top-level names are the schema's fields; is `key` (a key
 * literal of _source) one of them? Its index, or -1. */
static int vm_es_field_of(const vm_es *st, const char *s, vm_json_span k)
{
    for (size_t i = 0; i < st->schema->nfields; i++)
        if (!st->schema->fields[i].primary && vm_json_key_eq(s, k, st->schema->fields[i].name))
            return (int)i;
    return -1;
}

/* A dotted key ("a.b") whose first part is a mapped field: the servers
 * index it as that field's member, but _source keeps it flat. */
static bool vm_es_dotted_into_field(const vm_es *st, const char *s, vm_json_span k)
{
    const char *p = memchr(s + k.off + 1, '.', k.len - 2);
    if (!p)
        return false;
    size_t n = (size_t)(p - (s + k.off + 1));
    for (size_t i = 0; i < st->schema->nfields; i++) {
        const char *f = st->schema->fields[i].name;
        if (!st->schema->fields[i].primary && strlen(f) == n && memcmp(f, s + k.off + 1, n) == 0)
            return true;
    }
    return false;
}

/* Map batch columns to schema fields once per batch layout. */
static int vm_es_colmap(vm_es *st, const vm_batch *b, vm_err *err)
{
    if (st->colmap && st->ncolmap == b->ncols)
        return VM_OK;
    vm_free(st->colmap);
    st->ncolmap = 0;
    if (!(st->colmap = vm_calloc(b->ncols ? b->ncols : 1, sizeof *st->colmap)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    for (size_t c = 0; c < b->ncols; c++) {
        if (strcmp(b->cols[c].name, VM_META_FIELD) == 0) {
            st->colmap[c] = -1;
            continue;
        }
        int fi = vm_schema_index(st->schema, b->cols[c].name);
        if (fi < 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "%s: field '%s' is not in the mapping of '%s' any more (the index "
                              "changed since the plan)",
                              st->fl->name, b->cols[c].name, st->index);
        st->colmap[c] = fi;
    }
    st->ncolmap = b->ncols;
    return VM_OK;
}

/* Append hit h of the current page to b. */
static int vm_es_add_row(vm_es *st, vm_batch *b, const vm_es_hit *h, vm_err *err)
{
    const char *s = st->text;
    char docid[VM_ES_MAX_ID * 2 + 3];
    vm_buf_clear(&st->scr.text);
    int rc = vm_json_unescape(s + h->id.off, h->id.len, &st->scr.text, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "%s: _id: ", st->fl->name);
    snprintf(docid, sizeof docid, "%.*s", (int)st->scr.text.len,
             st->scr.text.data ? st->scr.text.data : "");
    size_t idlen = st->scr.text.len;
    if (h->source.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "%s: document '%s' has no _source object in the answer", st->fl->name,
                          docid);
    size_t nf = st->schema->nfields;
    vm_json_span spans[VM_MAX_FIELDS + 8];
    if (nf > sizeof spans / sizeof spans[0])
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false, "%s: more than %zu mapped fields",
                          st->fl->name, sizeof spans / sizeof spans[0]);
    memset(spans, 0, nf * sizeof spans[0]);
    bool want_meta = false;
    for (size_t c = 0; c < b->ncols; c++)
        if (st->colmap[c] < 0)
            want_meta = true;
    vm_buf_clear(&st->meta);
    size_t nmeta = 0;
    vm_json_iter it;
    vm_json_span k, v;
    vm_json_iter_init(&it, s, h->source);
    while (vm_json_member_next(&it, &k, &v)) {
        int fi = vm_es_field_of(st, s, k);
        if (fi >= 0) {
            spans[fi] = v;
            continue;
        }
        if (vm_es_dotted_into_field(st, s, k))
            return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                              "%s: document '%s': _source key %.*s is a dotted path into a "
                              "mapped field; vecmig reads _source as written and cannot place "
                              "it (rewrite the document with nested objects)",
                              st->fl->name, docid, (int)(k.len < 80 ? k.len : 80), s + k.off);
        if (want_meta) {
            vm_buf_putc(&st->meta, nmeta++ ? ',' : '{');
            vm_buf_append(&st->meta, s + k.off, k.len);
            vm_buf_putc(&st->meta, ':');
            vm_buf_append(&st->meta, s + v.off, v.len);
        }
    }
    if (want_meta) {
        vm_buf_puts(&st->meta, nmeta ? "}" : "{}");
        if (!vm_buf_ok(&st->meta))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    size_t row;
    if ((rc = vm_batch_add_row(b, &row, err)) != VM_OK)
        return rc;
    for (size_t c = 0; c < b->ncols && rc == VM_OK; c++) {
        int fi = st->colmap[c];
        if (fi < 0) {
            rc = nmeta == 0 && b->cols[c].nullable
                     ? vm_batch_set_null(b, c, row, err)
                     : vm_batch_set_str(b, c, row, st->meta.data, st->meta.len, err);
        } else if (st->schema->fields[fi].primary) {
            rc = vm_batch_set_str(b, c, row, docid, idlen, err);
        } else {
            const vm_column *col = &b->cols[c];
            vm_es_enc e = col->type == VM_T_BINARY_VECTOR ? VM_ES_ENC_BITS
                          : vm_dtype_is_vector(col->type) ? VM_ES_ENC_VECTOR
                                                          : VM_ES_ENC_VALUE;
            rc = vm_es_set_value(b, c, row, s, spans[fi], e, &st->scr, st->fl->name, docid, err);
        }
    }
    if (rc != VM_OK)
        vm_batch_drop_last(b);
    return rc;
}

/* Record hit h as the last one returned (cursor). */
static int vm_es_mark(vm_es *st, const vm_es_hit *h, vm_err *err)
{
    vm_buf_clear(&st->scr.text);
    int rc = vm_json_unescape(st->text + h->id.off, h->id.len, &st->scr.text, err);
    if (rc != VM_OK)
        return rc;
    char *last = vm_strdup(vm_buf_cstr(&st->scr.text));
    char *after = NULL;
    if (!last)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (st->mode == VM_ES_READ_PIT && h->sort.kind == VM_JSON_ARRAY &&
        !(after = vm_strndup(st->text + h->sort.off, h->sort.len))) {
        vm_free(last);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    vm_free(st->pos.last);
    st->pos.last = last;
    if (st->mode == VM_ES_READ_PIT) {
        vm_free(st->pos.after);
        st->pos.after = after;
    }
    return VM_OK;
}

static int vm_es_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err)
{
    vm_es *st = state;
    *done = false;
    if (!st->open)
        return vm_err_setc(err, VM_ERR_INTERNAL, "%s: read before open", st->fl->name);
    int rc = VM_OK;
    if (!st->schema && (rc = vm_es_load(st, false, err)) != VM_OK)
        return rc;
    if ((rc = vm_es_colmap(st, batch, err)) != VM_OK)
        return rc;
    size_t start = batch->nrows;
    while (!st->finished && batch->nrows - start < max_rows) {
        if (st->next >= st->page.n) {
            if (!st->page_end &&
                (rc = vm_es_fetch(st, max_rows - (batch->nrows - start), err)) != VM_OK)
                break;
            if (st->next >= st->page.n) { /* the page was the last, or this one is empty */
                if (st->skip > 0) {
                    rc = vm_err_set(err, VM_ERR_INVALID, false,
                                    "%s: slice %d/%d ended %" PRId64
                                    " documents before its checkpoint: the index changed "
                                    "(documents deleted)",
                                    st->fl->name, st->slice, st->nslices, st->skip);
                    break;
                }
                st->finished = true;
                break;
            }
        }
        const vm_es_hit *h = &st->page.hits[st->next++];
        if (st->skip > 0) {
            bool end = --st->skip == 0;
            if (st->mode == VM_ES_READ_PIT && (end || st->next == st->page.n)) {
                /* the next request continues after the last skipped row */
                char *after = vm_strndup(st->text + h->sort.off, h->sort.len);
                if (!after) {
                    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                    break;
                }
                vm_free(st->pos.after);
                st->pos.after = after;
            }
            if (end) {
                vm_buf_clear(&st->scr.text);
                if ((rc = vm_json_unescape(st->text + h->id.off, h->id.len, &st->scr.text,
                                           err)) != VM_OK)
                    break;
                if (strcmp(vm_buf_cstr(&st->scr.text), st->skip_last) != 0) {
                    vm_warn("%s: slice %d/%d: document %" PRId64 " is '%s', the checkpoint "
                            "said '%s': the index changed; writing the slice again from its "
                            "start (upserts: no duplicates, but the counts will exceed the "
                            "source's)",
                            st->fl->name, st->slice, st->nslices, st->pos.n,
                            vm_buf_cstr(&st->scr.text), st->skip_last);
                    st->pos.n = 0;
                    vm_free(st->pos.last);
                    st->pos.last = NULL;
                    if (st->mode == VM_ES_READ_SCROLL) {
                        vm_free(st->scroll_id);
                        st->scroll_id = NULL;
                    }
                    if ((rc = vm_es_restart(st, err)) != VM_OK)
                        break;
                }
            }
            continue;
        }
        if ((rc = vm_es_add_row(st, batch, h, err)) != VM_OK)
            break;
        st->pos.n++;
        if ((rc = vm_es_mark(st, h, err)) != VM_OK)
            break;
    }
    if (rc != VM_OK)
        return rc;
    *done = st->finished;
    return VM_OK;
}

static int vm_es_cursor(void *state, char **out, vm_err *err)
{
    vm_es *st = state;
    vm_free(st->pos.pit);
    st->pos.pit = NULL;
    if (st->mode == VM_ES_READ_PIT && st->pit && !(st->pos.pit = vm_strdup(st->pit)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (!(*out = vm_es_cursor_encode(&st->pos)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

const vm_source_ops vm_source_elasticsearch_ops = {
    .name = "elasticsearch",
    .summary = "Elasticsearch 8.x/9.x indexes: mapping to schema, slices of one point in time "
               "read with search_after on _shard_doc, resumable per slice",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK | VM_CAP_SNAPSHOT,
    .state_size = sizeof(vm_es),
    .init = vm_es_init_es,
    .fini = vm_es_fini,
    .discover = vm_es_discover,
    .count = vm_es_count,
    .plan = vm_es_plan,
    .open = vm_es_open,
    .read = vm_es_read,
    .cursor = vm_es_cursor,
    .close = vm_es_close,
};

const vm_source_ops vm_source_opensearch_ops = {
    .name = "opensearch",
    .summary = "OpenSearch 2.x indexes: knn_vector mapping to schema, sliced scroll (or point in "
               "time + search_after on _id), each slice restartable",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_es),
    .init = vm_es_init_os,
    .fini = vm_es_fini,
    .discover = vm_es_discover,
    .count = vm_es_count,
    .plan = vm_es_plan,
    .open = vm_es_open,
    .read = vm_es_read,
    .cursor = vm_es_cursor,
    .close = vm_es_close,
};

/*
 * milvus_sink.c - the `milvus` sink: Milvus / Zilliz Cloud over REST v2.
 *
 * Job block (target:):
 *   uri: http://127.0.0.1:19530     required
 *   token: {env: MILVUS_TOKEN}      "user:password" or an API key; optional
 *   database: default
 *   timeout: 60s                    per request
 *   insecure_tls: false             true skips certificate checks (warns)
 *
 * prepare() creates the collection unindexed and unloaded (the reference
 * behaviour; indexing and loading come after the data), or, when the job
 * appends, checks that the existing collection has every field with the
 * same type and dimension. write() sends rows [from, to) of a batch as one
 * entities/upsert when the primary key is kept (so a batch sent twice
 * leaves one row per key) or entities/insert under autoID, and checks the
 * returned count. make_queryable() indexes vector fields that have no
 * index (AUTOINDEX) and loads the collection, which exact count(*) needs.
 */
#include "milvus_client.h"
#include "milvus_rows.h"
#include "vm_buf.h"
#include "vm_config.h"
#include "vm_connector.h"
#include "vm_mem.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

typedef struct vm_milvus_sink {
    /* config */
    char *uri;
    char *token;
    char *database;
    int64_t timeout_ms;
    bool insecure_tls;
    /* runtime */
    vm_milvus *client;
    vm_buf rows;
} vm_milvus_sink;

static const vm_conf_entry vm_milvus_sink_table[] = {
    {"uri", VM_CT_STRING, NULL, offsetof(vm_milvus_sink, uri),
     "Milvus / Zilliz Cloud endpoint, http(s)://host:port", NULL, VM_CF_REQUIRED, 0, 0},
    {"token", VM_CT_SECRET, NULL, offsetof(vm_milvus_sink, token),
     "\"user:password\" or an API key", NULL, 0, 0, 0},
    {"database", VM_CT_STRING, "default", offsetof(vm_milvus_sink, database),
     "database of the target collection", NULL, 0, 1, 255},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_milvus_sink, timeout_ms),
     "per-request timeout", NULL, 0, 1000, 3600000},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_milvus_sink, insecure_tls),
     "skip TLS certificate verification", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

static int vm_ms_init(void *state, const json_t *conf, vm_err *err)
{
    vm_milvus_sink *s = state;
    vm_buf_init(&s->rows);
    int rc = vm_conf_apply(vm_milvus_sink_table, conf, "target", s, err);
    if (rc != VM_OK)
        return rc;
    vm_milvus_opts o = {.uri = s->uri, .token = s->token, .database = s->database,
                        .timeout_ms = (long)s->timeout_ms, .insecure = s->insecure_tls};
    return vm_milvus_new(&o, &s->client, err);
}

static void vm_ms_fini(void *state)
{
    vm_milvus_sink *s = state;
    vm_milvus_free(s->client);
    vm_buf_release(&s->rows);
    vm_conf_release(vm_milvus_sink_table, s);
}

/* On append: every field we would write must exist with the same shape. */
static int vm_ms_compatible(const vm_schema *want, const vm_schema *have, vm_err *err)
{
    for (size_t i = 0; i < want->nfields; i++) {
        const vm_field *w = &want->fields[i];
        const vm_field *h = vm_schema_find(have, w->name);
        if (!h)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "collection '%s' exists without field '%s'; cannot append",
                               want->collection, w->name);
        if (h->type != w->type || h->dim != w->dim || h->element_type != w->element_type)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "collection '%s' exists, but field '%s' is %s(%lld) there and "
                               "%s(%lld) in this job; cannot append",
                               want->collection, w->name, vm_dtype_name(h->type),
                               (long long)h->dim, vm_dtype_name(w->type), (long long)w->dim);
        if (h->max_length && w->max_length > h->max_length)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "collection '%s' exists, but field '%s' has max_length %lld "
                               "there and needs %lld; cannot append",
                               want->collection, w->name, (long long)h->max_length,
                               (long long)w->max_length);
    }
    return VM_OK;
}

static int vm_ms_prepare(void *state, const vm_schema *schema, const vm_sink_prepare *opts,
                         vm_err *err)
{
    vm_milvus_sink *s = state;
    bool exists = false;
    int rc = vm_milvus_has(s->client, schema->collection, &exists, err);
    if (rc != VM_OK)
        return rc;
    if (exists && !opts->append)
        return vm_err_setc(err, VM_ERR_EXISTS,
                           "target collection '%s' already exists; set migration.on_existing: "
                           "append to add rows to it, or choose another collection name",
                           schema->collection);
    if (exists) {
        vm_schema *have = NULL;
        if ((rc = vm_milvus_describe(s->client, schema->collection, &have, NULL, err)) == VM_OK)
            rc = vm_ms_compatible(schema, have, err);
        vm_schema_free(have);
        return rc;
    }
    return vm_milvus_create(s->client, schema, opts->params, NULL, err);
}

static int vm_ms_write(void *state, const vm_schema *schema, const vm_batch *batch, size_t from,
                       size_t to, size_t max_bytes, vm_err *err)
{
    vm_milvus_sink *s = state;
    vm_buf_clear(&s->rows);
    int rc = vm_milvus_encode_rows(schema, batch, from, to, &s->rows, err);
    if (rc != VM_OK)
        return rc;
    size_t n = vm_milvus_rows_body(s->client, schema->collection, s->rows.data, s->rows.len);
    if (n == 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building a request");
    if (max_bytes && n > max_bytes)
        return vm_err_set(err, VM_ERR_TOO_LARGE, true,
                          "%zu rows make a %zu-byte request, over the %zu-byte limit", to - from,
                          n, max_bytes);
    const vm_field *pk = vm_schema_primary(schema);
    return vm_milvus_send_rows(s->client, pk && !pk->auto_id, to - from, err);
}

static int vm_ms_count(void *state, const char *collection, int64_t *rows, vm_err *err)
{
    return vm_milvus_count(((vm_milvus_sink *)state)->client, collection, rows, err);
}

static int vm_ms_delete_where(void *state, const char *collection, const char *filter,
                              vm_err *err)
{
    return vm_milvus_delete(((vm_milvus_sink *)state)->client, collection, filter, err);
}

/* Index for a vector field that has none: AUTOINDEX with a metric that fits
 * the type (Milvus picks the index kind; sparse needs its own). */
static json_t *vm_ms_index_for(const vm_field *f)
{
    const char *metric = "COSINE", *type = "AUTOINDEX";
    if (f->type == VM_T_SPARSE_FLOAT_VECTOR) {
        metric = "IP";
        type = "SPARSE_INVERTED_INDEX";
    } else if (f->type == VM_T_BINARY_VECTOR) {
        metric = "HAMMING";
        type = "BIN_FLAT";
    }
    return json_pack("{s:s, s:s, s:s, s:{s:s}}", "fieldName", f->name, "indexName", f->name,
                     "metricType", metric, "params", "index_type", type);
}

static int vm_ms_make_queryable(void *state, const vm_schema *schema, bool *changed,
                                vm_err *err)
{
    vm_milvus_sink *s = state;
    char ls[64];
    int rc = vm_milvus_load_state(s->client, schema->collection, ls, sizeof ls, err);
    if (rc != VM_OK || strcmp(ls, "LoadStateLoaded") == 0)
        return rc;
    vm_schema *have = NULL;
    json_t *raw = NULL, *specs = json_array();
    if (!specs)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if ((rc = vm_milvus_describe(s->client, schema->collection, &have, &raw, err)) != VM_OK)
        goto cleanup;
    json_t *indexes = json_object_get(raw, "indexes");
    for (size_t i = 0; i < have->nfields; i++) {
        const vm_field *f = &have->fields[i];
        if (!vm_dtype_is_vector(f->type))
            continue;
        bool indexed = false;
        size_t k;
        json_t *ix;
        json_array_foreach(indexes, k, ix) {
            const char *fn = json_string_value(json_object_get(ix, "fieldName"));
            indexed |= fn && strcmp(fn, f->name) == 0;
        }
        if (!indexed && json_array_append_new(specs, vm_ms_index_for(f)) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    *changed = true;
    if (json_array_size(specs)) {
        json_t *body = json_pack("{s:s, s:O}", "collectionName", schema->collection,
                                 "indexParams", specs);
        rc = body ? vm_milvus_callj(s->client, "indexes/create", body, NULL, err)
                  : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        json_decref(body);
        if (rc != VM_OK)
            goto cleanup;
    }
    json_t *body = json_pack("{s:s}", "collectionName", schema->collection);
    rc = body ? vm_milvus_callj(s->client, "collections/load", body, NULL, err)
              : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    json_decref(body);
    /* loading is asynchronous: wait for it, with a deadline */
    for (int i = 0; rc == VM_OK && i < 600; i++) {
        if ((rc = vm_milvus_load_state(s->client, schema->collection, ls, sizeof ls, err)))
            break;
        if (strcmp(ls, "LoadStateLoaded") == 0)
            goto cleanup;
        struct timespec ts = {0, (i < 10 ? 100 : 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc == VM_OK)
        rc = vm_err_setc(err, VM_ERR_TIMEOUT, "collection '%s' did not load (state %s)",
                         schema->collection, ls);
cleanup:
    json_decref(specs);
    json_decref(raw);
    vm_schema_free(have);
    return rc;
}

const vm_sink_ops vm_sink_milvus_ops = {
    .name = "milvus",
    .summary = "Milvus / Zilliz Cloud through REST API v2",
    .caps = VM_CAP_EXACT_COUNT,
    .state_size = sizeof(vm_milvus_sink),
    .init = vm_ms_init,
    .fini = vm_ms_fini,
    .prepare = vm_ms_prepare,
    .write = vm_ms_write,
    .count = vm_ms_count,
    .delete_where = vm_ms_delete_where,
    .make_queryable = vm_ms_make_queryable,
};

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
 * behaviour; indexing and loading come after the data), with the job's
 * collection params (shardsNum, consistencyLevel, partitionsNum, ...), or,
 * when the job appends, checks that the existing collection has every field
 * with the same type, dimension, partition-key flag and nullability.
 *
 * write() sends rows [from, to) of a batch as one entities/upsert when the
 * primary key is kept (so a batch sent twice leaves one row per key) or
 * entities/insert under autoID, and checks the returned count. With explicit
 * partitions (schema->partition_field) the rows are grouped by the partition
 * their value names (milvus_partition.h) and each group is one request with
 * "partitionName"; missing partitions are created first (partitions/has,
 * then partitions/create; known names are cached per instance). The size
 * limit applies to each group's request, and every group is checked before
 * the first one is sent, so a range that must be split sends nothing. A
 * range over the limit that holds a row over the limit on its own is
 * refused at once (VM_ERR_INVALID naming the row), before the caller splits
 * it and sends the rows around that row.
 *
 * index() creates the indexes a job asks for after the data; load() and
 * release() change the load state. make_queryable() indexes vector fields
 * that have no index (AUTOINDEX; the source's metric when known) and loads
 * the collection, which exact count(*) needs, and records what it did so
 * that undo_queryable() can release the collection and drop exactly the
 * indexes it created.
 */
#include "milvus_client.h"
#include "milvus_partition.h"
#include "milvus_rows.h"
#include "vm_buf.h"
#include "vm_config.h"
#include "vm_connector.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
    /* explicit partitions */
    vm_milvus_groups groups;
    size_t *goff;          /* per group: offset and length of its rows in `rows` */
    size_t *glen;
    size_t gcap, glcap;
    char *parts_coll;      /* the collection `parts` belongs to */
    char **parts;          /* partitions known to exist (created or seen) */
    size_t nparts, parts_cap;
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
    if ((rc = vm_milvus_new(&o, &s->client, err)) != VM_OK)
        vm_conf_release(vm_milvus_sink_table, s); /* fini is not called after a failed init */
    return rc;
}

static void vm_ms_parts_clear(vm_milvus_sink *s)
{
    for (size_t i = 0; i < s->nparts; i++)
        vm_free(s->parts[i]);
    s->nparts = 0;
    vm_free(s->parts_coll);
    s->parts_coll = NULL;
}

static void vm_ms_fini(void *state)
{
    vm_milvus_sink *s = state;
    vm_milvus_free(s->client);
    vm_buf_release(&s->rows);
    vm_milvus_groups_release(&s->groups);
    vm_free(s->goff);
    vm_free(s->glen);
    vm_ms_parts_clear(s);
    vm_free(s->parts);
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
        if (h->partition_key != w->partition_key)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "collection '%s' exists, but field '%s' is %sthe partition key "
                               "there and %s in this job; cannot append",
                               want->collection, w->name, h->partition_key ? "" : "not ",
                               w->partition_key ? "is" : "is not");
        /* a job without nulls may fill a nullable field; not the reverse */
        if (w->nullable && !h->nullable)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "collection '%s' exists, but field '%s' is not nullable there "
                               "and nullable in this job; cannot append",
                               want->collection, w->name);
    }
    return VM_OK;
}

/* Explicit partitions need a field of a type a name can come from, and a
 * collection without a partition key (Milvus then refuses partition names). */
static int vm_ms_check_partition_field(const vm_schema *s, vm_err *err)
{
    if (!s->partition_field)
        return VM_OK;
    const vm_field *f = vm_schema_find(s, s->partition_field);
    if (!f)
        return vm_err_setc(err, VM_ERR_INVALID, "partition field '%s' is not a field of '%s'",
                           s->partition_field, s->collection);
    if (f->type != VM_T_INT64 && f->type != VM_T_VARCHAR && f->type != VM_T_INT32 &&
        f->type != VM_T_INT16 && f->type != VM_T_INT8)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "partition field '%s' is %s; explicit partitions need an Int64 or "
                           "VarChar field",
                           f->name, vm_dtype_name(f->type));
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].partition_key)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "partition field '%s': collection '%s' has the partition key "
                               "'%s', and Milvus allows no explicit partitions beside one",
                               f->name, s->collection, s->fields[i].name);
    return VM_OK;
}

static int vm_ms_prepare(void *state, const vm_schema *schema, const vm_sink_prepare *opts,
                         vm_err *err)
{
    vm_milvus_sink *s = state;
    bool exists = false;
    int rc = vm_ms_check_partition_field(schema, err);
    if (rc != VM_OK)
        return rc;
    if ((rc = vm_milvus_has(s->client, schema->collection, &exists, err)) != VM_OK)
        return rc;
    if (exists && !opts->append)
        return vm_err_setc(err, VM_ERR_EXISTS,
                           "target collection '%s' already exists; choose another name "
                           "(mapping: collection.name) or set migration.on_existing: append "
                           "to add rows to it",
                           schema->collection);
    if (exists) {
        vm_schema *have = NULL;
        if ((rc = vm_milvus_describe(s->client, schema->collection, &have, NULL, err)) == VM_OK)
            rc = vm_ms_compatible(schema, have, err);
        for (size_t i = 0; rc == VM_OK && schema->partition_field && i < have->nfields; i++)
            if (have->fields[i].partition_key)
                rc = vm_err_setc(err, VM_ERR_INVALID,
                                 "partition field '%s': collection '%s' has the partition key "
                                 "'%s', and Milvus allows no explicit partitions beside one",
                                 schema->partition_field, schema->collection,
                                 have->fields[i].name);
        vm_schema_free(have);
        return rc;
    }
    return vm_milvus_create(s->client, schema, opts->params, NULL, err);
}

/* ------------------------------------------------------------ partitions */

/* Make sure partition `name` exists in the collection; names found or
 * created are remembered, so each costs one or two requests per instance. */
static int vm_ms_ensure_partition(vm_milvus_sink *s, const vm_schema *schema, const char *name,
                                  vm_err *err)
{
    const char *coll = schema->collection;
    if (strcmp(name, VM_MILVUS_PARTITION_DEFAULT) == 0)
        return VM_OK;
    if (!s->parts_coll || strcmp(s->parts_coll, coll) != 0) {
        vm_ms_parts_clear(s);
        if (!(s->parts_coll = vm_strdup(coll)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->nparts; i++)
        if (strcmp(s->parts[i], name) == 0)
            return VM_OK;
    bool exists = false;
    int rc = vm_milvus_partition_has(s->client, coll, name, &exists, err);
    if (rc == VM_OK && !exists) {
        rc = vm_milvus_partition_create(s->client, coll, name, err);
        if (rc == VM_OK)
            vm_debug("milvus: created partition '%s' of collection '%s'", name, coll);
        else if (!err->retriable)
            vm_err_prefix(err, "partition field '%s': ", schema->partition_field);
    }
    if (rc != VM_OK)
        return rc;
    if (vm_grow((void **)&s->parts, &s->parts_cap, s->nparts + 1, sizeof *s->parts) ||
        !(s->parts[s->nparts] = vm_strdup(name)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    s->nparts++;
    return VM_OK;
}

/* "row id=12" / "row id='abc'" by the primary key when the batch holds it
 * (not under autoID), else "row 3 of the batch". */
static void vm_ms_row_label(const vm_schema *schema, const vm_batch *b, size_t r, char *buf,
                            size_t cap)
{
    const vm_field *pk = vm_schema_primary(schema);
    int c = pk && !pk->auto_id ? vm_batch_col(b, pk->name) : -1;
    if (c >= 0 && !vm_batch_is_null(b, (size_t)c, r)) {
        if (pk->type == VM_T_VARCHAR) {
            size_t n;
            const char *k = vm_batch_get_str(b, (size_t)c, r, &n);
            snprintf(buf, cap, "row %s='%.*s'%s", pk->name, (int)(n < 64 ? n : 64), k,
                     n > 64 ? "..." : "");
        } else {
            snprintf(buf, cap, "row %s=%lld", pk->name,
                     (long long)vm_batch_get_int(b, (size_t)c, r));
        }
        return;
    }
    snprintf(buf, cap, "row %zu of the batch", r);
}

/* Rows [from, to) (or the n rows of `list`) make a request over max_bytes:
 * before the caller splits the range and sends the rows around it (rows no
 * checkpoint would count if the task then fails), look for a row whose
 * request alone is over the limit and refuse the range now, naming it. Only
 * on this path: a range that fits is encoded once. */
static int vm_ms_check_rows_alone(vm_milvus_sink *s, const vm_schema *schema,
                                  const vm_batch *batch, const size_t *list, size_t from,
                                  size_t n, const char *partition, size_t max_bytes, vm_err *err)
{
    if (n < 2)
        return VM_OK;
    vm_buf one;
    vm_buf_init(&one);
    int rc = VM_OK;
    for (size_t j = 0; j < n && rc == VM_OK; j++) {
        size_t r = list ? list[j] : from + j;
        vm_buf_clear(&one);
        if ((rc = vm_milvus_encode_row_list(schema, batch, &r, 1, &one, err)) != VM_OK)
            break;
        size_t len = vm_milvus_rows_body_size(s->client, schema->collection, partition, one.len);
        if (len == 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory building a request");
        } else if (len > max_bytes) {
            char row[160];
            vm_ms_row_label(schema, batch, r, row, sizeof row);
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "%s alone is too large to send (a %zu-byte request, over the "
                            "%zu-byte limit); raise migration.batch_bytes",
                            row, len, max_bytes);
        }
    }
    vm_buf_release(&one);
    return rc;
}

static int vm_ms_write_partitioned(vm_milvus_sink *s, const vm_schema *schema,
                                   const vm_batch *batch, size_t from, size_t to,
                                   size_t max_bytes, bool upsert, vm_err *err)
{
    vm_milvus_groups *g = &s->groups;
    int rc = vm_milvus_group_rows(schema, batch, from, to, g, err);
    if (rc != VM_OK)
        return rc;
    if (vm_grow((void **)&s->goff, &s->gcap, g->n, sizeof *s->goff) ||
        vm_grow((void **)&s->glen, &s->glcap, g->n, sizeof *s->glen))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    /* encode every group and check every request's size before sending
     * anything: TOO_LARGE then leaves the target untouched */
    vm_buf_clear(&s->rows);
    for (size_t k = 0; k < g->n; k++) {
        s->goff[k] = s->rows.len;
        if ((rc = vm_milvus_encode_row_list(schema, batch, g->g[k].rows, g->g[k].nrows,
                                            &s->rows, err)) != VM_OK)
            return rc;
        s->glen[k] = s->rows.len - s->goff[k];
        size_t n = vm_milvus_rows_body_size(s->client, schema->collection, g->g[k].name,
                                            s->glen[k]);
        if (n == 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building a request");
        if (max_bytes && n > max_bytes) {
            if ((rc = vm_ms_check_rows_alone(s, schema, batch, g->g[k].rows, 0, g->g[k].nrows,
                                             g->g[k].name, max_bytes, err)) != VM_OK)
                return rc;
            return vm_err_set(err, VM_ERR_TOO_LARGE, true,
                              "%zu rows of partition '%s' make a %zu-byte request, over the "
                              "%zu-byte limit",
                              g->g[k].nrows, g->g[k].name, n, max_bytes);
        }
    }
    for (size_t k = 0; k < g->n; k++)
        if ((rc = vm_ms_ensure_partition(s, schema, g->g[k].name, err)) != VM_OK)
            return rc;
    for (size_t k = 0; k < g->n; k++) {
        for (int attempt = 0;; attempt++) {
            size_t n = vm_milvus_rows_body(s->client, schema->collection, g->g[k].name,
                                           s->rows.data + s->goff[k], s->glen[k]);
            if (n == 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building a request");
            rc = vm_milvus_send_rows(s->client, upsert, g->g[k].nrows, err);
            /* a cached partition that is gone (the collection was dropped
             * and created again): forget the cache, create, send once more */
            if (rc != VM_ERR_NOT_FOUND || attempt > 0)
                break;
            vm_ms_parts_clear(s);
            if ((rc = vm_ms_ensure_partition(s, schema, g->g[k].name, err)) != VM_OK)
                return rc;
        }
        if (rc != VM_OK)
            return vm_err_prefix(err, "partition '%s': ", g->g[k].name);
    }
    return VM_OK;
}

static int vm_ms_write(void *state, const vm_schema *schema, const vm_batch *batch, size_t from,
                       size_t to, size_t max_bytes, vm_err *err)
{
    vm_milvus_sink *s = state;
    const vm_field *pk = vm_schema_primary(schema);
    bool upsert = pk && !pk->auto_id;
    if (schema->partition_field)
        return vm_ms_write_partitioned(s, schema, batch, from, to, max_bytes, upsert, err);
    vm_buf_clear(&s->rows);
    int rc = vm_milvus_encode_rows(schema, batch, from, to, &s->rows, err);
    if (rc != VM_OK)
        return rc;
    size_t n =
        vm_milvus_rows_body(s->client, schema->collection, NULL, s->rows.data, s->rows.len);
    if (n == 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building a request");
    if (max_bytes && n > max_bytes) {
        if ((rc = vm_ms_check_rows_alone(s, schema, batch, NULL, from, to - from, NULL,
                                         max_bytes, err)) != VM_OK)
            return rc;
        return vm_err_set(err, VM_ERR_TOO_LARGE, true,
                          "%zu rows make a %zu-byte request, over the %zu-byte limit", to - from,
                          n, max_bytes);
    }
    return vm_milvus_send_rows(s->client, upsert, to - from, err);
}

static int vm_ms_count(void *state, const char *collection, int64_t *rows, vm_err *err)
{
    return vm_milvus_count(((vm_milvus_sink *)state)->client, collection, rows, err);
}

static uint64_t vm_ms_bytes_written(void *state)
{
    return vm_milvus_rows_bytes(((vm_milvus_sink *)state)->client);
}

static int vm_ms_exists(void *state, const char *collection, bool *out, vm_err *err)
{
    return vm_milvus_has(((vm_milvus_sink *)state)->client, collection, out, err);
}

static int vm_ms_delete_where(void *state, const char *collection, const char *filter,
                              vm_err *err)
{
    return vm_milvus_delete(((vm_milvus_sink *)state)->client, collection, filter, err);
}

/* --------------------------------------------------------------- indexes */

static bool vm_ms_float_type(vm_dtype t)
{
    return t == VM_T_FLOAT_VECTOR || t == VM_T_FLOAT16_VECTOR || t == VM_T_BFLOAT16_VECTOR ||
           t == VM_T_INT8_VECTOR;
}

/* Upper-cased metric in out; VM_OK when it fits the vector type, else
 * VM_ERR_INVALID with a message naming the field. */
static int vm_ms_metric_fits(const vm_field *f, const char *metric, char *out, size_t cap,
                             vm_err *err)
{
    size_t i = 0;
    for (; metric[i] && i + 1 < cap; i++)
        out[i] = (char)toupper((unsigned char)metric[i]);
    out[i] = '\0';
    const char *allowed;
    bool ok;
    if (vm_ms_float_type(f->type)) {
        allowed = "COSINE, L2 or IP";
        ok = !strcmp(out, "COSINE") || !strcmp(out, "L2") || !strcmp(out, "IP");
    } else if (f->type == VM_T_BINARY_VECTOR) {
        allowed = "HAMMING or JACCARD";
        ok = !strcmp(out, "HAMMING") || !strcmp(out, "JACCARD");
    } else if (f->type == VM_T_SPARSE_FLOAT_VECTOR) {
        allowed = "IP; BM25 needs a text field with a BM25 function, which migrated sparse "
                  "vectors do not come from";
        ok = !strcmp(out, "IP");
    } else {
        return vm_err_setc(err, VM_ERR_INVALID, "field '%s' is %s, not a vector field", f->name,
                           vm_dtype_name(f->type));
    }
    if (!ok || metric[i])
        return vm_err_setc(err, VM_ERR_INVALID,
                           "field '%s' is %s: metric '%s' does not fit it (use %s)", f->name,
                           vm_dtype_name(f->type), metric, allowed);
    return VM_OK;
}

static const char *vm_ms_default_metric(vm_dtype t)
{
    return t == VM_T_SPARSE_FLOAT_VECTOR ? "IP" : t == VM_T_BINARY_VECTOR ? "HAMMING" : "COSINE";
}

/* AUTOINDEX lets Milvus pick; sparse and binary vectors name their own. */
static const char *vm_ms_default_index_type(vm_dtype t)
{
    return t == VM_T_SPARSE_FLOAT_VECTOR ? "SPARSE_INVERTED_INDEX"
           : t == VM_T_BINARY_VECTOR     ? "BIN_FLAT"
                                         : "AUTOINDEX";
}

/* One indexParams entry, named after the field. params (may be NULL) is
 * copied and gets index_type. */
static json_t *vm_ms_index_param(const char *field, const char *metric, const char *type,
                                 const json_t *params)
{
    json_t *p = params ? json_deep_copy(params) : json_object();
    if (!p || json_object_set_new(p, "index_type", json_string(type)) != 0) {
        json_decref(p);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "fieldName", field, "indexName", field,
                     "metricType", metric, "params", p);
}

/* Name of the index on `field` in the list of vm_milvus_indexes, or NULL. */
static const char *vm_ms_index_on(const json_t *indexes, const char *field)
{
    size_t k;
    json_t *ix;
    json_array_foreach(indexes, k, ix) {
        const char *fn = json_string_value(json_object_get(ix, "fieldName"));
        if (fn && strcmp(fn, field) == 0)
            return json_string_value(json_object_get(ix, "indexName"));
    }
    return NULL;
}

/* Check one field's entry of an index spec and turn it into indexParams. */
static int vm_ms_index_entry(const vm_schema *schema, const char *name, const json_t *e,
                             json_t **out, vm_err *err)
{
    *out = NULL;
    const vm_field *f = vm_schema_find(schema, name);
    if (!f || !vm_dtype_is_vector(f->type))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "index: field '%s' is not a vector field of collection '%s'", name,
                           schema->collection);
    if (!json_is_object(e))
        return vm_err_setc(err, VM_ERR_INVALID, "index: field '%s': expected an object", name);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v) {
        if (strcmp(key, "metric") && strcmp(key, "index_type") && strcmp(key, "params"))
            return vm_err_setc(err, VM_ERR_INVALID,
                               "index: field '%s': unknown key '%s' (metric, index_type, params)",
                               name, key);
    }
    json_t *jm = json_object_get(e, "metric"), *jt = json_object_get(e, "index_type");
    json_t *jp = json_object_get(e, "params");
    if ((jm && !json_is_string(jm)) || (jt && !json_is_string(jt)) ||
        (jp && !json_is_object(jp)))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "index: field '%s': metric and index_type must be strings, params an "
                           "object",
                           name);
    if (jp && json_object_get(jp, "metric_type"))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "index: field '%s': give the metric as 'metric', not in params", name);
    const char *type = jt ? json_string_value(jt) : NULL;
    const char *ptype = json_string_value(json_object_get(jp, "index_type"));
    if (type && ptype && strcmp(type, ptype) != 0)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "index: field '%s': index_type '%s' and params.index_type '%s' differ",
                           name, type, ptype);
    if (!type)
        type = ptype ? ptype : vm_ms_default_index_type(f->type);
    const char *metric = jm ? json_string_value(jm) : f->metric;
    if (!metric)
        metric = vm_ms_default_metric(f->type);
    char m[16];
    int rc = vm_ms_metric_fits(f, metric, m, sizeof m, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "index: ");
    if (!(*out = vm_ms_index_param(f->name, m, type, jp)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

static int vm_ms_index(void *state, const vm_schema *schema, const json_t *spec, vm_err *err)
{
    vm_milvus_sink *s = state;
    const char *key;
    json_t *v, *fields = json_object_get(spec, "fields");
    if (!json_is_object(spec) || !json_is_object(fields))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "index: expected {\"fields\": {\"<vector field>\": {...}}}");
    json_object_foreach((json_t *)spec, key, v) {
        if (strcmp(key, "fields") != 0)
            return vm_err_setc(err, VM_ERR_INVALID, "index: unknown key '%s' (fields)", key);
    }
    /* every entry is checked before anything is created */
    json_t *todo = json_array(), *have = NULL;
    if (!todo)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = VM_OK;
    json_object_foreach(fields, key, v) {
        json_t *p;
        if ((rc = vm_ms_index_entry(schema, key, v, &p, err)) != VM_OK)
            goto cleanup;
        if (json_array_append_new(todo, p) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    if ((rc = vm_milvus_indexes(s->client, schema->collection, &have, err)) != VM_OK)
        goto cleanup;
    size_t k;
    json_t *p;
    json_array_foreach(todo, k, p) {
        const char *field = json_string_value(json_object_get(p, "fieldName"));
        const char *existing = vm_ms_index_on(have, field);
        if (existing) {
            vm_info("milvus: field '%s' of '%s' already has index '%s'; left as it is", field,
                    schema->collection, existing);
            continue;
        }
        json_t *one = json_pack("[O]", p);
        rc = one ? vm_milvus_index_create(s->client, schema->collection, one, err)
                 : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        json_decref(one);
        if (rc != VM_OK) {
            vm_err_prefix(err, "index on field '%s': ", field);
            goto cleanup;
        }
        vm_info("milvus: created index '%s' (%s, %s) on field '%s' of '%s'", field,
                json_string_value(json_object_get(json_object_get(p, "params"), "index_type")),
                json_string_value(json_object_get(p, "metricType")), field, schema->collection);
    }
cleanup:
    json_decref(todo);
    json_decref(have);
    return rc;
}

static int vm_ms_load(void *state, const char *collection, vm_err *err)
{
    return vm_milvus_load(((vm_milvus_sink *)state)->client, collection, err);
}

static int vm_ms_release(void *state, const char *collection, vm_err *err)
{
    return vm_milvus_release(((vm_milvus_sink *)state)->client, collection, err);
}

/* Metric for an index vecmig creates on its own: the source's when it fits
 * the type, else the type's default. */
static const char *vm_ms_metric_for(const vm_schema *schema, const vm_field *f, char *buf,
                                    size_t cap)
{
    const vm_field *sf = vm_schema_find(schema, f->name);
    if (sf && sf->metric) {
        vm_err e;
        if (vm_ms_metric_fits(f, sf->metric, buf, cap, &e) == VM_OK)
            return buf;
        vm_warn("milvus: %s; indexing with %s instead", e.msg, vm_ms_default_metric(f->type));
    }
    return vm_ms_default_metric(f->type);
}

static int vm_ms_make_queryable(void *state, const vm_schema *schema, vm_sink_undo *undo,
                                vm_err *err)
{
    vm_milvus_sink *s = state;
    const char *coll = schema->collection;
    char ls[64];
    int rc = vm_milvus_load_state(s->client, coll, ls, sizeof ls, err);
    if (rc != VM_OK || strcmp(ls, "LoadStateLoaded") == 0)
        return rc;
    vm_schema *have = NULL;
    json_t *indexes = NULL;
    size_t icap = 0; /* undo starts zeroed */
    if ((rc = vm_milvus_describe(s->client, coll, &have, NULL, err)) != VM_OK ||
        (rc = vm_milvus_indexes(s->client, coll, &indexes, err)) != VM_OK)
        goto cleanup;
    for (size_t i = 0; i < have->nfields; i++) {
        const vm_field *f = &have->fields[i];
        if (!vm_dtype_is_vector(f->type) || vm_ms_index_on(indexes, f->name))
            continue;
        char mbuf[16];
        const char *metric = vm_ms_metric_for(schema, f, mbuf, sizeof mbuf);
        json_t *p = vm_ms_index_param(f->name, metric, vm_ms_default_index_type(f->type), NULL);
        json_t *one = p ? json_pack("[o]", p) : NULL;
        if (!one) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        rc = vm_milvus_index_create(s->client, coll, one, err);
        json_decref(one);
        if (rc != VM_OK) {
            vm_err_prefix(err, "index on field '%s': ", f->name);
            goto cleanup;
        }
        /* recorded one by one, so an error later still undoes this one */
        if (vm_grow((void **)&undo->indexes, &icap, undo->nindexes + 1, sizeof *undo->indexes) ||
            !(undo->indexes[undo->nindexes] = vm_strdup(f->name))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        undo->nindexes++;
    }
    if ((rc = vm_milvus_load_start(s->client, coll, err)) != VM_OK)
        goto cleanup;
    undo->loaded = true; /* requested: release undoes it even if the wait fails */
    rc = vm_milvus_load_wait(s->client, coll, err);
cleanup:
    json_decref(indexes);
    vm_schema_free(have);
    return rc;
}

static int vm_ms_undo_queryable(void *state, const char *collection, const vm_sink_undo *undo,
                                bool release, bool drop_indexes, vm_err *err)
{
    vm_milvus_sink *s = state;
    int rc;
    if (drop_indexes && undo->nindexes && undo->loaded && !release)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "collection '%s': its indexes cannot be dropped while it stays "
                           "loaded; release it too",
                           collection);
    if (release && undo->loaded && (rc = vm_milvus_release(s->client, collection, err)) != VM_OK)
        return rc;
    for (size_t i = 0; drop_indexes && i < undo->nindexes; i++) {
        rc = vm_milvus_index_drop(s->client, collection, undo->indexes[i], err);
        if (rc == VM_ERR_NOT_FOUND) /* gone already */
            continue;
        if (rc != VM_OK)
            return vm_err_prefix(err, "dropping index '%s': ", undo->indexes[i]);
    }
    return VM_OK;
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
    .undo_queryable = vm_ms_undo_queryable,
    .index = vm_ms_index,
    .load = vm_ms_load,
    .release = vm_ms_release,
    .exists = vm_ms_exists,
    .bytes_written = vm_ms_bytes_written,
};

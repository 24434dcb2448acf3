/*
 * tencent.c - the `tencent` source: Tencent Cloud VectorDB collections over
 * its HTTP API (the API the official SDKs' HTTP clients speak).
 *
 * This file holds the ops table, the config, the HTTP calls with their
 * {code,msg} envelope and retries, count, discover and plan; tc_doc.c has
 * the pure helpers (envelope, cursors, split arithmetic, page decoding),
 * tc_read.c the task reads.
 *
 * Job block:
 *   source:
 *     type: tencent
 *     url: http://10.0.0.1:80        # required: the instance's HTTP address
 *     username: root                 # default root
 *     api_key: {env: TCVDB_API_KEY}  # required secret
 *     database: db-test              # required
 *     collection: book-vector        # required
 *     indexed_fields: dynamic        # dynamic (default) | typed: filter-indexed
 *                                    # fields as typed fields
 *     split: auto                    # auto | keyset | offset
 *     split_field: seq               # the uint64 filter index for keyset ranges
 *     read_consistency: strong       # strong (default) | eventual
 *     sample_rows: 100               # documents sampled to size ids and strings
 *     timeout: 60s                   # per request
 *     max_retries: 5                 # per request, for 429 / 5xx / timeouts
 *     insecure_tls: false            # true skips certificate checks (warns)
 *
 * Every request is POST <url>/<path> with JSON and
 * `Authorization: Bearer account=<username>&api_key=<api_key>`; the key is a
 * registered secret and the header is never logged. A reply is an error
 * when its status is not 2xx or its envelope's code is not 0 (errors come
 * on HTTP 200); 429, 5xx, timeouts and transport faults are retried here
 * (Retry-After honoured, else capped exponential backoff with full jitter)
 * before the error reaches the caller, which then fails the task for the
 * coordinator to retry.
 *
 * Splitting (decided in discover, reported in the id field's note):
 *   keyset  when the collection has a uint64 filter index that every
 *           document carries (count with `f >= 0` equals the total): the
 *           value range [min, max] is cut into equal integer ranges, tasks
 *           `int [lo, hi)` with the field in the task's scope; pages are
 *           `f >= lo and f < hi` (then `f > cursor`) sorted ascending.
 *   offset  otherwise: positions [lo, hi) of the server's scan order
 *           (no sort: Tencent sorts only on uint64 filter indexes), pages
 *           with offset/limit. Documents added or removed during the run
 *           shift the positions: rows can be skipped or read twice (twice is
 *           harmless: upserts), which the final count check reports.
 */
#include "tencent.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const vm_conf_entry vm_tc_table[] = {
    {"url", VM_CT_STRING, NULL, offsetof(vm_tc, url),
     "http(s)://host:port of the instance (its HTTP API)", NULL, VM_CF_REQUIRED, 1, 2048},
    {"username", VM_CT_STRING, "root", offsetof(vm_tc, username), "account name", NULL, 0, 1,
     256},
    {"api_key", VM_CT_SECRET, NULL, offsetof(vm_tc, api_key), "the account's API key", NULL,
     VM_CF_REQUIRED, 0, 0},
    {"database", VM_CT_STRING, NULL, offsetof(vm_tc, database), "database name", NULL,
     VM_CF_REQUIRED, 1, 128},
    {"collection", VM_CT_STRING, NULL, offsetof(vm_tc, collection), "collection name", NULL,
     VM_CF_REQUIRED, 1, 128},
    {"indexed_fields", VM_CT_ENUM, "dynamic", offsetof(vm_tc, indexed_fields),
     "filter-indexed scalar fields go to the dynamic field (dynamic) or become typed fields "
     "(typed)",
     "dynamic|typed", 0, 0, 0},
    {"split", VM_CT_ENUM, "auto", offsetof(vm_tc, split),
     "auto (keyset ranges on a uint64 filter index every document has, else offset pages) | "
     "keyset | offset",
     "auto|keyset|offset", 0, 0, 0},
    {"split_field", VM_CT_STRING, NULL, offsetof(vm_tc, split_field),
     "the uint64 filter-indexed field for keyset ranges (default: the first that fits)", NULL, 0,
     1, 128},
    {"read_consistency", VM_CT_ENUM, "strong", offsetof(vm_tc, read_consistency),
     "readConsistency of counts and reads", "strong|eventual", 0, 0, 0},
    {"sample_rows", VM_CT_INT, "100", offsetof(vm_tc, sample_rows),
     "documents sampled to size the id and typed string fields", NULL, 0, 0, VM_TC_MAX_LIMIT},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_tc, timeout_ms), "per request", NULL, 0, 1000,
     3600000},
    {"max_retries", VM_CT_INT, "5", offsetof(vm_tc, max_retries),
     "retries of a request that failed with 429, 5xx or a transport fault", NULL, 0, 0, 20},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_tc, insecure_tls),
     "skip TLS certificate checks (warns)", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ requests */

const char *vm_tc_consistency(const vm_tc *st)
{
    return st->read_consistency == VM_TC_READ_EVENTUAL ? "eventualConsistency"
                                                       : "strongConsistency";
}

void vm_tc_body_head(const vm_tc *st, vm_buf *b)
{
    vm_buf_puts(b, "\"database\":");
    vm_buf_json_str(b, st->database, strlen(st->database));
    vm_buf_puts(b, ",\"collection\":");
    vm_buf_json_str(b, st->collection, strlen(st->collection));
    vm_buf_printf(b, ",\"readConsistency\":\"%s\"", vm_tc_consistency(st));
}

static int vm_tc_judge(void *ctx, const vm_http_resp *resp, vm_err *err)
{
    return vm_tc_envelope(resp->status, resp->body, resp->body_len, ctx, err);
}

int vm_tc_post(vm_tc *st, const char *path, const char *body, size_t len, vm_err *err)
{
    char url[2304], prefix[96];
    snprintf(url, sizeof url, "%s/%s", st->base, path);
    snprintf(prefix, sizeof prefix, "tencent %s: ", path);
    const char *headers[] = {"Content-Type: application/json", st->auth, NULL};
    vm_http_req req = {.method = "POST", .url = url, .headers = headers, .body = body,
                       .body_len = len};
    vm_http_retry policy = {.max_retries = st->max_retries, .base_ms = 200, .cap_ms = 10000,
                            .max_wait_ms = 60000, .seed = &st->seed, .prefix = prefix};
    return vm_http_request_retry(st->http, &req, &st->resp, &policy, vm_tc_judge, (void *)path,
                                 err);
}

/* POST with a body of `{<head>,<rest>}`; rest may be NULL. */
static int vm_tc_call(vm_tc *st, const char *path, bool consistency, const char *rest,
                      vm_err *err)
{
    vm_buf_clear(&st->req);
    vm_buf_putc(&st->req, '{');
    if (consistency) {
        vm_tc_body_head(st, &st->req);
    } else {
        vm_buf_puts(&st->req, "\"database\":");
        vm_buf_json_str(&st->req, st->database, strlen(st->database));
        vm_buf_puts(&st->req, ",\"collection\":");
        vm_buf_json_str(&st->req, st->collection, strlen(st->collection));
    }
    if (rest) {
        vm_buf_putc(&st->req, ',');
        vm_buf_puts(&st->req, rest);
    }
    vm_buf_putc(&st->req, '}');
    if (!vm_buf_ok(&st->req))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return vm_tc_post(st, path, st->req.data, st->req.len, err);
}

/* Names the collection in a NOT_FOUND error. */
static int vm_tc_where(vm_tc *st, int rc, vm_err *err)
{
    if (rc == VM_ERR_NOT_FOUND)
        vm_err_prefix(err, "collection '%s' of database '%s': ", st->collection, st->database);
    return rc;
}

/* /document/count with an optional filter. */
static int vm_tc_count_where(vm_tc *st, const char *filter, int64_t *rows, vm_err *err)
{
    vm_buf q;
    vm_buf_init(&q);
    vm_buf_puts(&q, "\"query\":{");
    if (filter) {
        vm_buf_puts(&q, "\"filter\":");
        vm_buf_json_str(&q, filter, strlen(filter));
    }
    vm_buf_putc(&q, '}');
    int rc = vm_buf_ok(&q) ? vm_tc_call(st, "document/count", true, vm_buf_cstr(&q), err)
                           : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_release(&q);
    if (rc != VM_OK)
        return vm_tc_where(st, rc, err);
    static const char *const kc[] = {"count"};
    const vm_json_path p = {kc, 1};
    vm_json_span sp;
    uint64_t n;
    if ((rc = vm_json_find(st->resp.body, st->resp.body_len, &p, 1, &sp, err)) != VM_OK)
        return rc;
    if (sp.kind == VM_JSON_MISSING) { /* a server may leave out a zero count */
        *rows = 0;
        return VM_OK;
    }
    if (sp.kind != VM_JSON_NUMBER || vm_tc_parse_u64(st->resp.body + sp.off, sp.len, &n) != 0 ||
        n > (uint64_t)INT64_MAX)
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "tencent document/count: \"count\" is not a non-negative integer");
    *rows = (int64_t)n;
    return VM_OK;
}

/* ------------------------------------------------------------ describe */

static void vm_tc_free_idx(vm_tc *st)
{
    for (size_t i = 0; i < st->nidx; i++) {
        vm_free(st->idx[i].name);
        vm_free(st->idx[i].field_type);
        vm_free(st->idx[i].index_type);
        vm_free(st->idx[i].metric);
    }
    vm_free(st->idx);
    st->idx = NULL;
    st->nidx = 0;
    st->loaded = false;
}

static char *vm_tc_dup(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? vm_strdup(s) : NULL;
}

int vm_tc_load(vm_tc *st, vm_err *err)
{
    if (st->loaded)
        return VM_OK;
    int rc = vm_tc_call(st, "collection/describe", false, NULL, err);
    if (rc != VM_OK)
        return vm_tc_where(st, rc, err);
    json_error_t je;
    json_t *root = json_loadb(st->resp.body, st->resp.body_len, 0, &je);
    json_t *coll = json_object_get(root, "collection");
    json_t *ix = json_object_get(coll, "indexes");
    if (!json_is_array(ix)) {
        json_decref(root);
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "tencent collection/describe: no \"collection.indexes\" list in the "
                           "answer");
    }
    st->vec = st->sparse = -1;
    size_t n = json_array_size(ix);
    if (!(st->idx = vm_calloc(n ? n : 1, sizeof *st->idx))) {
        json_decref(root);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ix, i);
        vm_tc_index *x = &st->idx[st->nidx];
        x->name = vm_tc_dup(e, "fieldName");
        x->field_type = vm_tc_dup(e, "fieldType");
        x->index_type = vm_tc_dup(e, "indexType");
        x->metric = vm_tc_dup(e, "metricType");
        json_t *dim = json_object_get(e, "dimension");
        x->dim = json_is_integer(dim) ? (int64_t)json_integer_value(dim) : 0;
        st->nidx++;
        if (!x->name || !x->field_type) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                             "tencent collection/describe: index %zu has no fieldName or "
                             "fieldType",
                             i);
            goto fail;
        }
        const char *ft = x->field_type;
        if (strcmp(ft, "vector") == 0) {
            if (st->vec >= 0) {
                rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                                "tencent: collection '%s' has two dense vector fields ('%s', "
                                "'%s'); vecmig reads one",
                                st->collection, st->idx[st->vec].name, x->name);
                goto fail;
            }
            if (x->dim < 1 || x->dim > VM_MAX_DIM) {
                rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                                 "tencent: vector field '%s' has dimension %" PRId64
                                 " (Milvus: 1..%d)",
                                 x->name, x->dim, VM_MAX_DIM);
                goto fail;
            }
            st->vec = (int)(st->nidx - 1);
        } else if (strcmp(ft, "sparseVector") == 0) {
            st->sparse = (int)(st->nidx - 1);
        } else if (strcmp(ft, "float16_vector") == 0 || strcmp(ft, "bfloat16_vector") == 0 ||
                   strcmp(ft, "binary_vector") == 0) {
            rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                            "tencent: field '%s' is a %s; vecmig reads float vectors ('vector') "
                            "and sparse vectors",
                            x->name, ft);
            goto fail;
        }
    }
    json_decref(root);
    if (st->vec < 0 && st->sparse < 0) {
        vm_tc_free_idx(st);
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "tencent: collection '%s' has no vector index: nothing to migrate "
                          "into Milvus",
                          st->collection);
    }
    st->loaded = true;
    return VM_OK;
fail:
    json_decref(root);
    vm_tc_free_idx(st);
    return rc;
}

static const vm_tc_index *vm_tc_find_idx(const vm_tc *st, const char *name)
{
    for (size_t i = 0; i < st->nidx; i++)
        if (strcmp(st->idx[i].name, name) == 0)
            return &st->idx[i];
    return NULL;
}

static bool vm_tc_is_filter(const vm_tc_index *x)
{
    return x->index_type && strcmp(x->index_type, "filter") == 0 &&
           vm_tc_ftype_parse(x->field_type) != VM_TC_F_UNKNOWN;
}

/* ---------------------------------------------------------- split choice */

static int vm_tc_choose_split(vm_tc *st, int64_t total, vm_err *err)
{
    if (st->split_chosen)
        return VM_OK;
    int rc;
    if (st->split == VM_TC_SPLIT_OFFSET) {
        snprintf(st->note, sizeof st->note, "split: offset pages (split: offset)");
        st->split_chosen = true;
        return VM_OK;
    }
    if (st->split_field) {
        const vm_tc_index *x = vm_tc_find_idx(st, st->split_field);
        if (!x || !vm_tc_is_filter(x) || strcmp(x->field_type, "uint64") != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "source.split_field: '%s' is not a uint64 field with a filter "
                              "index in collection '%s'",
                              st->split_field, st->collection);
    }
    char why[160] = "no uint64 filter index";
    for (size_t i = 0; i < st->nidx; i++) {
        const vm_tc_index *x = &st->idx[i];
        if (!vm_tc_is_filter(x) || strcmp(x->field_type, "uint64") != 0 ||
            (st->split_field && strcmp(x->name, st->split_field) != 0))
            continue;
        char filter[200];
        vm_buf fb;
        vm_buf_init(&fb);
        vm_task all;
        vm_task_init(&all);
        rc = vm_tc_keyset_filter(x->name, &all, false, 0, &fb, err);
        if (rc == VM_OK)
            snprintf(filter, sizeof filter, "%s", vm_buf_cstr(&fb));
        vm_buf_release(&fb);
        int64_t have = 0;
        if (rc == VM_OK)
            rc = vm_tc_count_where(st, filter, &have, err);
        if (rc == VM_ERR_UNSUPPORTED && !st->split_field && st->split == VM_TC_SPLIT_AUTO) {
            snprintf(why, sizeof why, "field '%.64s' cannot be named in a filter", x->name);
            continue;
        }
        if (rc != VM_OK)
            return rc;
        if (have == total) {
            if (!(st->keyset_field = vm_strdup(x->name)))
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            snprintf(st->note, sizeof st->note,
                     "split: keyset ranges on uint64 filter index '%.64s'", x->name);
            st->split_chosen = true;
            return VM_OK;
        }
        snprintf(why, sizeof why, "uint64 field '%.64s' is missing in %" PRId64 " documents",
                 x->name, total - have);
    }
    if (st->split == VM_TC_SPLIT_KEYSET || st->split_field)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "source.split: keyset ranges need a uint64 filter index that every "
                          "document of '%s' has (%s); use split: offset",
                          st->collection, why);
    snprintf(st->note, sizeof st->note,
             "split: offset pages (%s; positions shift if the collection changes during the "
             "run)",
             why);
    st->split_chosen = true;
    return VM_OK;
}

/* -------------------------------------------------------------- sample */

typedef struct vm_tc_stat {
    int64_t max_len;  /* strings: longest value in bytes; arrays: longest element */
    int64_t max_card; /* arrays */
    bool big;         /* uint64 above 2^63-1 seen */
} vm_tc_stat;

/* Sample up to sample_rows documents (no vectors): the longest id and, per
 * filter index, the longest string / array and uint64 values above
 * 2^63-1. */
static int vm_tc_sample(vm_tc *st, int64_t *max_id, vm_tc_stat *stats, int64_t *nsampled,
                        vm_err *err)
{
    *max_id = -1;
    *nsampled = 0;
    if (st->sample_rows <= 0)
        return VM_OK;
    vm_buf q;
    vm_buf_init(&q);
    vm_buf_printf(&q, "\"query\":{\"retrieveVector\":false,\"limit\":%" PRId64
                      ",\"offset\":0,\"outputFields\":[\"id\"",
                  st->sample_rows);
    for (size_t i = 0; i < st->nidx; i++)
        if (vm_tc_is_filter(&st->idx[i])) {
            vm_buf_putc(&q, ',');
            vm_buf_json_str(&q, st->idx[i].name, strlen(st->idx[i].name));
        }
    vm_buf_puts(&q, "]}");
    int rc = vm_buf_ok(&q) ? vm_tc_call(st, "document/query", true, vm_buf_cstr(&q), err)
                           : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_release(&q);
    if (rc != VM_OK)
        return vm_tc_where(st, rc, err);
    vm_tc_scratch *s = &st->scratch;
    size_t nd;
    const char *body = st->resp.body;
    if ((rc = vm_tc_scan_page(body, st->resp.body_len, NULL, s, &nd, err)) != VM_OK)
        return rc;
    vm_buf ub;
    vm_buf_init(&ub);
    const char *id[] = {"id"};
    const vm_json_path pid = {id, 1};
    for (size_t d = 0; d < nd && rc == VM_OK; d++) {
        const char *doc = body + s->docs[d].off;
        size_t dn = s->docs[d].len;
        vm_json_span sp;
        if ((rc = vm_json_find(doc, dn, &pid, 1, &sp, err)) != VM_OK)
            break;
        if (sp.kind == VM_JSON_STRING) {
            vm_buf_clear(&ub);
            if ((rc = vm_json_unescape(doc + sp.off, sp.len, &ub, err)) != VM_OK)
                break;
            if ((int64_t)ub.len > *max_id)
                *max_id = (int64_t)ub.len;
        }
        for (size_t i = 0; i < st->nidx && rc == VM_OK; i++) {
            const vm_tc_index *x = &st->idx[i];
            if (!vm_tc_is_filter(x))
                continue;
            const char *k[] = {x->name};
            const vm_json_path p = {k, 1};
            if ((rc = vm_json_find(doc, dn, &p, 1, &sp, err)) != VM_OK)
                break;
            vm_tc_ftype ft = vm_tc_ftype_parse(x->field_type);
            if (ft == VM_TC_F_UINT64 && sp.kind == VM_JSON_NUMBER) {
                int64_t v;
                if (vm_json_number_i64(doc + sp.off, sp.len, &v) == VM_JSON_NUM_RANGE)
                    stats[i].big = true;
            } else if (ft == VM_TC_F_STRING && sp.kind == VM_JSON_STRING) {
                vm_buf_clear(&ub);
                if ((rc = vm_json_unescape(doc + sp.off, sp.len, &ub, err)) == VM_OK &&
                    (int64_t)ub.len > stats[i].max_len)
                    stats[i].max_len = (int64_t)ub.len;
            } else if (ft == VM_TC_F_ARRAY && sp.kind == VM_JSON_ARRAY) {
                vm_json_iter it;
                vm_json_span e;
                int64_t card = 0;
                vm_json_iter_init(&it, doc, sp);
                while (rc == VM_OK && vm_json_iter_next(&it, &e)) {
                    card++;
                    if (e.kind != VM_JSON_STRING)
                        continue;
                    vm_buf_clear(&ub);
                    if ((rc = vm_json_unescape(doc + e.off, e.len, &ub, err)) == VM_OK &&
                        (int64_t)ub.len > stats[i].max_len)
                        stats[i].max_len = (int64_t)ub.len;
                }
                if (card > stats[i].max_card)
                    stats[i].max_card = card;
            }
        }
    }
    vm_buf_release(&ub);
    *nsampled = (int64_t)nd;
    if (rc != VM_OK)
        vm_err_prefix(err, "tencent: sampling '%s': ", st->collection);
    return rc;
}

static int64_t vm_tc_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------ discover */

static const char *vm_tc_metric(const char *m)
{
    if (!m)
        return NULL;
    if (strcmp(m, "COSINE") == 0)
        return "COSINE";
    if (strcmp(m, "L2") == 0)
        return "L2";
    if (strcmp(m, "IP") == 0)
        return "IP";
    return NULL;
}

static int vm_tc_count_op(void *state, int64_t *rows, vm_err *err)
{
    vm_tc *st = state;
    return vm_tc_count_where(st, NULL, rows, err);
}

static int vm_tc_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_tc *st = state;
    *out = NULL;
    int rc = vm_tc_load(st, err);
    if (rc != VM_OK)
        return rc;
    int64_t total = 0, max_id = -1, nsampled = 0;
    if ((rc = vm_tc_count_where(st, NULL, &total, err)) != VM_OK)
        return rc;
    if (total == 0)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "tencent: collection '%s' of database '%s' is empty: nothing to "
                          "migrate",
                          st->collection, st->database);
    vm_tc_stat *stats = vm_calloc(st->nidx ? st->nidx : 1, sizeof *stats);
    vm_schema *s = NULL;
    char note[700];
    if (!stats)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if ((rc = vm_tc_sample(st, &max_id, stats, &nsampled, err)) != VM_OK ||
        (rc = vm_tc_choose_split(st, total, err)) != VM_OK)
        goto cleanup;
    if (!(s = vm_schema_new(st->collection)))
        goto nomem;
    snprintf(note, sizeof note, "Tencent Cloud VectorDB %s.%s", st->database, st->collection);
    if (!(s->description = vm_strdup(note)) || !(s->dynamic_alias = vm_strdup(VM_TC_ALIAS)))
        goto nomem;
    s->enable_dynamic = true;

    /* the id: ids are at most 128 characters; 2 x the longest sampled, at
     * least 128 (every ASCII id fits), at most 512 (128 x 4 UTF-8 bytes) */
    st->id_max_length = max_id < 0 ? 4 * VM_TC_MAX_ID_CHARS
                                   : vm_tc_clamp(max_id * 2, 4 * 32, 4 * VM_TC_MAX_ID_CHARS);
    snprintf(note, sizeof note,
             "Tencent string id -> VarChar(%" PRId64 "): 2 x the longest of %" PRId64
             " sampled ids (%" PRId64 " bytes), at least 128, at most 512 (%d characters); %s",
             st->id_max_length, nsampled, max_id < 0 ? 0 : max_id, VM_TC_MAX_ID_CHARS, st->note);
    vm_field f = {.name = "id", .type = VM_T_VARCHAR, .max_length = st->id_max_length,
                  .primary = true, .description = note};
    if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
        goto cleanup;
    if (st->vec >= 0) {
        const vm_tc_index *x = &st->idx[st->vec];
        const char *m = vm_tc_metric(x->metric);
        snprintf(note, sizeof note,
                 "Tencent vector(%" PRId64 "), %s index, metricType %s -> FloatVector(%" PRId64
                 ")%s",
                 x->dim, x->index_type ? x->index_type : "no", x->metric ? x->metric : "none",
                 x->dim, m ? "" : "; no Milvus metric for it: COSINE unless the mapping says");
        f = (vm_field){.name = x->name, .type = VM_T_FLOAT_VECTOR, .dim = x->dim,
                       .description = note, .metric = (char *)m};
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    if (st->sparse >= 0) {
        const vm_tc_index *x = &st->idx[st->sparse];
        snprintf(note, sizeof note,
                 "Tencent sparseVector [[termId, score], ...], metricType IP -> "
                 "SparseFloatVector (termIds must fit uint32)");
        f = (vm_field){.name = x->name, .type = VM_T_SPARSE_FLOAT_VECTOR, .description = note,
                       .metric = "IP"};
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    for (size_t i = 0; i < st->nidx; i++) {
        const vm_tc_index *x = &st->idx[i];
        if (!vm_tc_is_filter(x))
            continue;
        vm_tc_ftype ft = vm_tc_ftype_parse(x->field_type);
        if (stats[i].big)
            vm_warn("tencent: field '%s' (uint64) holds values above 2^63-1 in the sample: "
                    "Int64 cannot hold them%s",
                    x->name,
                    st->indexed_fields == VM_TC_FIELDS_TYPED
                        ? "; such documents fail (indexed_fields: dynamic keeps them as JSON)"
                        : "; they stay JSON numbers in the dynamic field (a lift to Int64 "
                          "fails on them)");
        if (st->indexed_fields != VM_TC_FIELDS_TYPED)
            continue;
        f = (vm_field){.name = x->name, .nullable = true, .description = note};
        switch (ft) {
        case VM_TC_F_UINT64:
            f.type = VM_T_INT64;
            snprintf(note, sizeof note,
                     "Tencent uint64 filter index -> Int64 (a value above 2^63-1 fails its "
                     "document)");
            break;
        case VM_TC_F_INT64:
            f.type = VM_T_INT64;
            snprintf(note, sizeof note, "Tencent int64 filter index -> Int64");
            break;
        case VM_TC_F_DOUBLE:
            f.type = VM_T_DOUBLE;
            snprintf(note, sizeof note, "Tencent double filter index -> Double");
            break;
        case VM_TC_F_STRING:
            f.type = VM_T_VARCHAR;
            f.max_length = stats[i].max_len < 0 ? VM_MAX_VARCHAR
                                                : vm_tc_clamp(2 * stats[i].max_len, 64,
                                                              VM_MAX_VARCHAR);
            snprintf(note, sizeof note,
                     "Tencent string filter index -> VarChar(%" PRId64
                     "): 2 x the longest sampled value, 64..65535",
                     f.max_length);
            break;
        case VM_TC_F_ARRAY:
            f.type = VM_T_ARRAY;
            f.element_type = VM_T_VARCHAR;
            f.max_length = vm_tc_clamp(2 * stats[i].max_len, 64, VM_MAX_VARCHAR);
            f.max_capacity = vm_tc_clamp(2 * stats[i].max_card, 4, VM_MAX_CAPACITY);
            snprintf(note, sizeof note,
                     "Tencent array filter index -> Array<VarChar(%" PRId64 ")>[%" PRId64
                     "]: 2 x the longest sampled",
                     f.max_length, f.max_capacity);
            break;
        default:
            f.type = VM_T_JSON;
            snprintf(note, sizeof note, "Tencent json filter index -> JSON");
            break;
        }
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    vm_info("tencent: collection '%s': %" PRId64 " documents; %s; other fields -> the dynamic "
            "field ('%s.<key>' in mapping paths)",
            st->collection, total, st->note, VM_TC_ALIAS);
    *out = s;
    s = NULL;
    goto cleanup;
nomem:
    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
cleanup:
    vm_schema_free(s);
    vm_free(stats);
    return rc;
}

/* ---------------------------------------------------------------- plan */

/* The smallest (asc) or largest (desc) value of the keyset field. */
static int vm_tc_edge(vm_tc *st, const char *field, bool desc, uint64_t *v, bool *found,
                      vm_err *err)
{
    vm_buf q;
    vm_buf_init(&q);
    vm_buf_printf(&q, "\"query\":{\"retrieveVector\":false,\"limit\":1,\"filter\":\"%s >= 0\","
                      "\"outputFields\":[",
                  field);
    vm_buf_json_str(&q, field, strlen(field));
    vm_buf_printf(&q, "],\"sort\":[{\"fieldName\":");
    vm_buf_json_str(&q, field, strlen(field));
    vm_buf_printf(&q, ",\"direction\":\"%s\"}]}", desc ? "desc" : "asc");
    int rc = vm_buf_ok(&q) ? vm_tc_call(st, "document/query", true, vm_buf_cstr(&q), err)
                           : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_release(&q);
    if (rc != VM_OK)
        return vm_tc_where(st, rc, err);
    size_t nd;
    if ((rc = vm_tc_scan_page(st->resp.body, st->resp.body_len, field, &st->scratch, &nd,
                              err)) != VM_OK)
        return rc;
    *found = nd > 0;
    if (nd)
        *v = st->scratch.keys[0];
    return VM_OK;
}

static int vm_tc_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit,
                      void *emit_ctx, vm_err *err)
{
    vm_tc *st = state;
    int64_t total = 0, *bounds = NULL;
    size_t nb = 0;
    int rc;
    if ((rc = vm_tc_load(st, err)) != VM_OK ||
        (rc = vm_tc_count_where(st, NULL, &total, err)) != VM_OK ||
        (rc = vm_tc_choose_split(st, total, err)) != VM_OK)
        return rc;
    int64_t ntasks = vm_tc_ntasks(total, opts->task_rows);
    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)opts->job_id;
    if (st->keyset_field) {
        uint64_t min = 0, max = 0;
        bool found = false;
        if ((rc = vm_tc_edge(st, st->keyset_field, false, &min, &found, err)) != VM_OK ||
            (found && (rc = vm_tc_edge(st, st->keyset_field, true, &max, &found, err)) != VM_OK))
            goto cleanup;
        if (found && ntasks > 1) {
            if (!(bounds = vm_malloc((size_t)(ntasks - 1) * sizeof *bounds))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            vm_tc_split_keyset(min, max, ntasks, bounds, &nb);
        }
        vm_info("tencent: '%s': %zu keyset tasks over '%s' in [%" PRIu64 ", %" PRIu64 "]",
                st->collection, nb + 1, st->keyset_field, min, max);
        t.kind = VM_RANGE_INT;
        t.scope = st->keyset_field;
        for (size_t i = 0; i <= nb; i++) {
            t.id = (uint32_t)i;
            t.has_lo = i > 0;
            t.lo = i > 0 ? bounds[i - 1] : 0;
            t.has_hi = i < nb;
            t.hi = i < nb ? bounds[i] : 0;
            t.est_rows = total / (int64_t)(nb + 1);
            if ((rc = emit(emit_ctx, &t, err)) != VM_OK)
                goto cleanup;
        }
    } else {
        vm_info("tencent: '%s': %" PRId64 " offset tasks of %" PRId64 " positions; %s",
                st->collection, ntasks, opts->task_rows, st->note);
        t.kind = VM_RANGE_OFFSET;
        int64_t step = opts->task_rows < 1 ? 1 : opts->task_rows;
        for (int64_t i = 0; i < ntasks; i++) {
            t.id = (uint32_t)i;
            t.has_lo = true;
            t.lo = i * step;
            t.has_hi = i + 1 < ntasks;
            t.hi = (i + 1) * step;
            t.est_rows = i + 1 < ntasks ? step : total - i * step;
            if ((rc = emit(emit_ctx, &t, err)) != VM_OK)
                goto cleanup;
        }
    }
cleanup:
    vm_free(bounds);
    return rc;
}

/* ---------------------------------------------------------------- ops */

static int vm_tc_init(void *state, const json_t *conf, vm_err *err)
{
    vm_tc *st = state;
    int rc = vm_conf_apply(vm_tc_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    vm_task_init(&st->task);
    vm_buf_init(&st->req);
    vm_buf_init(&st->outputs);
    st->vec = st->sparse = -1;
    st->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    if (strncmp(st->url, "http://", 7) != 0 && strncmp(st->url, "https://", 8) != 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.url: expected http://host:port or https://host:port");
        goto fail;
    }
    size_t n = strlen(st->url);
    while (n && st->url[n - 1] == '/')
        n--;
    size_t alen = strlen(st->username) + strlen(st->api_key) + 64;
    if (!(st->base = vm_strndup(st->url, n)) || !(st->auth = vm_malloc(alen))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(st->auth, alen, "Authorization: Bearer account=%s&api_key=%s", st->username,
             st->api_key);
    vm_http_opts ho = {.timeout_ms = (long)st->timeout_ms, .insecure = st->insecure_tls};
    if ((rc = vm_http_client_new(&ho, &st->http, err)) != VM_OK)
        goto fail;
    return VM_OK;
fail:
    if (st->auth) {
        memset(st->auth, 0, strlen(st->auth));
        vm_free(st->auth);
        st->auth = NULL;
    }
    vm_free(st->base);
    st->base = NULL;
    vm_buf_release(&st->req);
    vm_buf_release(&st->outputs);
    vm_conf_release(vm_tc_table, st);
    return rc;
}

static void vm_tc_fini(void *state)
{
    vm_tc *st = state;
    vm_tc_close(st);
    vm_tc_free_idx(st);
    vm_http_client_free(st->http);
    vm_http_resp_free(&st->resp);
    vm_buf_release(&st->req);
    vm_buf_release(&st->outputs);
    vm_tc_scratch_free(&st->scratch);
    vm_free(st->keyset_field);
    vm_free(st->base);
    if (st->auth) {
        memset(st->auth, 0, strlen(st->auth));
        vm_free(st->auth);
    }
    vm_conf_release(vm_tc_table, st);
}

const vm_source_ops vm_source_tencent_ops = {
    .name = "tencent",
    .summary = "Tencent Cloud VectorDB collections (HTTP API): vector, sparse vector, "
               "filter-indexed and schemaless fields",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_tc),
    .init = vm_tc_init,
    .fini = vm_tc_fini,
    .discover = vm_tc_discover,
    .count = vm_tc_count_op,
    .plan = vm_tc_plan,
    .open = vm_tc_open,
    .read = vm_tc_read,
    .cursor = vm_tc_cursor,
    .close = vm_tc_close,
};

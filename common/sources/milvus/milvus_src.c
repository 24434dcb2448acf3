/*
 * milvus_src.c - the `milvus` source: Milvus 2.x collections read through
 * the REST v2 endpoint, with the sink's client (milvus_client.h).
 *
 * Job block:
 *   source:
 *     type: milvus
 *     uri: http://milvus:19530     # required: the REST v2 endpoint
 *     token: {env: MILVUS_TOKEN}   # optional secret: "user:password" or an
 *                                  # API key, sent as Authorization: Bearer
 *     database: default
 *     collection: items            # required (the target keeps the name
 *                                  # unless the mapping sets collection.name)
 *     load: false                  # true: load the collection if it is not
 *                                  # loaded (queries need it loaded);
 *                                  # false: refuse, naming it
 *     timeout: 60s                 # per request
 *     retries: 5                   # retries of rate limits / not ready /
 *                                  # transport errors, with backoff
 *     insecure_tls: false          # true skips certificate checks (warns)
 *
 * The schema is collections/describe copied field by field (max_length,
 * max_capacity, nullable, default value, partition key, dynamic field,
 * autoID, every vector type) with each vector field's metric from its
 * index. count() is count(*) with Strong consistency. plan() splits the
 * primary key: Int64 keys into ranges of equal width between the smallest
 * and largest key (found by bisection with key-only queries), VarChar keys
 * at the quantiles of a sample of up to 16,384 keys. Reading is described
 * in milvus_src.h.
 */
#include "milvus_src.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_transform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const vm_conf_entry vm_mvs_table[] = {
    {"uri", VM_CT_STRING, NULL, offsetof(vm_mvs, uri),
     "Milvus REST v2 endpoint, http(s)://host:port", NULL, VM_CF_REQUIRED, 1, 2048},
    {"token", VM_CT_SECRET, NULL, offsetof(vm_mvs, token),
     "\"user:password\" or an API key, sent as Authorization: Bearer", NULL, 0, 0, 0},
    {"database", VM_CT_STRING, "default", offsetof(vm_mvs, database), "the database", NULL, 0,
     1, 255},
    {"collection", VM_CT_STRING, NULL, offsetof(vm_mvs, collection),
     "the collection to migrate (the target keeps its name unless the mapping sets "
     "collection.name)",
     NULL, VM_CF_REQUIRED, 1, 255},
    {"load", VM_CT_BOOL, "false", offsetof(vm_mvs, load),
     "load the collection when it is not loaded (otherwise that is an error)", NULL, 0, 0, 0},
    {"timeout", VM_CT_DURATION, "60s", offsetof(vm_mvs, timeout_ms), "per-request timeout", NULL,
     0, 1000, 3600000},
    {"retries", VM_CT_INT, "5", offsetof(vm_mvs, retries),
     "retries of a request that failed with a retriable error", NULL, 0, 0, 100},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_mvs, insecure_tls),
     "skip TLS certificate verification", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ calls */

/* One call with retries; the raw answer is then vm_milvus_last_body(). */
static int vm_mvs_call(vm_mvs *st, const char *endpoint, json_t *body, json_t **data,
                       vm_err *err)
{
    int rc = VM_OK;
    for (int attempt = 0;; attempt++) {
        rc = vm_milvus_callj(st->m, endpoint, body, data, err);
        if (rc == VM_OK || !err->retriable || attempt >= st->retries)
            return rc;
        long ms = vm_backoff_ms(attempt, 250, 15000, &st->seed);
        vm_warn("milvus source: %s (retry %d in %ld ms)", err->msg, attempt + 1, ms);
        vm_sleep_ms(ms);
    }
}

/* Queries need a loaded collection: check it, load it only when asked. */
static int vm_mvs_ready(vm_mvs *st, vm_err *err)
{
    if (st->ready)
        return VM_OK;
    char ls[64] = "";
    int rc = vm_milvus_load_state(st->m, st->collection, ls, sizeof ls, err);
    if (rc != VM_OK)
        return rc;
    if (strcmp(ls, "LoadStateLoaded") == 0) {
        st->ready = true;
        return VM_OK;
    }
    if (strcmp(ls, "LoadStateLoading") == 0 || st->load) {
        if (strcmp(ls, "LoadStateLoading") != 0)
            vm_info("milvus source: loading collection '%s' (source.load: true)",
                    st->collection);
        rc = strcmp(ls, "LoadStateLoading") == 0 ? vm_milvus_load_wait(st->m, st->collection, err)
                                                 : vm_milvus_load(st->m, st->collection, err);
        if (rc == VM_OK)
            st->ready = true;
        return rc;
    }
    return vm_err_set(err, VM_ERR_INVALID, false,
                      "milvus: source collection '%s' is not loaded (%s): load it, or set "
                      "source.load: true",
                      st->collection, ls);
}

/* The source schema: describe, defaults unwrapped, metrics from indexes. */
static int vm_mvs_describe(vm_mvs *st, vm_err *err)
{
    if (st->schema)
        return VM_OK;
    vm_schema *s = NULL;
    json_t *raw = NULL, *ix = NULL;
    int rc = vm_milvus_describe(st->m, st->collection, &s, &raw, err);
    if (rc != VM_OK)
        goto cleanup;
    /* the dynamic field's own entry, if the server lists it */
    for (size_t i = s->nfields; i-- > 0;)
        if (strcmp(s->fields[i].name, VM_META_FIELD) == 0)
            vm_schema_remove(s, i);
    json_t *fields = json_object_get(raw, "fields"), *jf;
    size_t i;
    json_array_foreach(fields, i, jf) {
        const char *name = json_string_value(json_object_get(jf, "name"));
        json_t *dv = json_object_get(jf, "defaultValue");
        int k = name ? vm_schema_index(s, name) : -1;
        if (k < 0 || !dv)
            continue;
        json_t *u = vm_mvs_default_unwrap(dv);
        if (!u) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "milvus: field '%s': malformed defaultValue in describe", name);
            goto cleanup;
        }
        json_decref(s->fields[k].default_value);
        s->fields[k].default_value = u;
    }
    /* A VarChar (or Array<VarChar>) without max_length in the describe
     * (milvus-lite drops it for Array elements): Milvus's largest. */
    for (size_t k = 0; k < s->nfields; k++) {
        vm_field *f = &s->fields[k];
        bool text = f->type == VM_T_VARCHAR ||
                    (f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR);
        if (!text || f->max_length > 0)
            continue;
        f->max_length = VM_MAX_VARCHAR;
        vm_warn("milvus source: field '%s' of '%s' has no max_length in the describe: using %d",
                f->name, st->collection, VM_MAX_VARCHAR);
        if (!f->description &&
            !(f->description = vm_strdup("max_length not in the source's describe: 65535")))
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    if (rc != VM_OK)
        goto cleanup;
    json_t *fn = json_object_get(raw, "functions");
    if (json_array_size(fn) > 0)
        vm_warn("milvus source: collection '%s' has %zu function(s) (e.g. BM25): their output "
                "fields are copied as data, the functions are not",
                st->collection, json_array_size(fn));
    if ((rc = vm_milvus_indexes(st->m, st->collection, &ix, err)) != VM_OK)
        goto cleanup;
    json_t *x;
    json_array_foreach(ix, i, x) {
        int k = vm_schema_index(s, json_string_value(json_object_get(x, "fieldName")));
        const char *metric = json_string_value(json_object_get(x, "metricType"));
        if (k < 0 || !metric || !*metric || !vm_dtype_is_vector(s->fields[k].type))
            continue;
        vm_free(s->fields[k].metric);
        if (!(s->fields[k].metric = vm_strdup(metric))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    const vm_field *pk = vm_schema_primary(s);
    if (!pk || (pk->type != VM_T_INT64 && pk->type != VM_T_VARCHAR)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "milvus: collection '%s' has no Int64 or VarChar primary key",
                        st->collection);
        goto cleanup;
    }
    if (!(st->pk = vm_strdup(pk->name))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    st->str = pk->type == VM_T_VARCHAR;
    st->schema = s;
    s = NULL;
cleanup:
    vm_schema_free(s);
    json_decref(raw);
    json_decref(ix);
    if (rc != VM_OK)
        vm_err_prefix(err, "milvus source '%s': ", st->collection);
    return rc;
}

static int vm_mvs_qcmp_int(const void *a, const void *b)
{
    return vm_mvs_key_cmp(a, b, false);
}

static int vm_mvs_qcmp_str(const void *a, const void *b)
{
    return vm_mvs_key_cmp(a, b, true);
}

/* Query `filter` with output fields `fields` (NULL: the key only), at most
 * limit rows; the answer's rows are parsed into st->keys (sorted by key),
 * *n of them; the text stays in st->text. */
static int vm_mvs_query(vm_mvs *st, const char *filter, json_t *fields, int64_t limit,
                        size_t *n, vm_err *err)
{
    *n = 0;
    json_t *of = fields ? json_incref(fields) : json_pack("[s]", st->pk);
    json_t *body = of ? json_pack("{s:s, s:s, s:o, s:I, s:s}", "collectionName", st->collection,
                                  "filter", filter, "outputFields", of, "limit",
                                  (json_int_t)limit, "consistencyLevel", "Strong")
                      : NULL;
    if (!body)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_mvs_call(st, "entities/query", body, NULL, err);
    json_decref(body);
    if (rc != VM_OK)
        return rc;
    size_t len;
    const char *raw = vm_milvus_last_body(st->m, &len);
    if (len + 1 > st->text_cap) {
        char *t = vm_realloc(st->text, len + 1);
        if (!t)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        st->text = t;
        st->text_cap = len + 1;
    }
    memcpy(st->text, raw, len);
    st->text[len] = '\0';
    static const char *const dk[] = {"data"};
    vm_json_path dp = {dk, 1};
    vm_json_span data;
    if ((rc = vm_json_find(st->text, len, &dp, 1, &data, err)) != VM_OK)
        return vm_err_prefix(err, "milvus query: ");
    if (data.kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "milvus query: data is %s, not an array",
                          vm_json_kind_name(data.kind));
    vm_buf_clear(&st->arena);
    const char *pk = st->pk;
    vm_json_path pp = {&pk, 1};
    vm_json_iter it;
    vm_json_span row;
    vm_json_iter_init(&it, st->text, data);
    size_t k = 0;
    while (vm_json_iter_next(&it, &row)) {
        if (vm_grow((void **)&st->keys, &st->kcap, k + 1, sizeof *st->keys) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        vm_json_span v;
        if (row.kind != VM_JSON_OBJECT)
            return vm_err_set(err, VM_ERR_PROTOCOL, false, "milvus query: a row is %s",
                              vm_json_kind_name(row.kind));
        if ((rc = vm_json_find(st->text + row.off, row.len, &pp, 1, &v, err)) != VM_OK)
            return rc;
        v.off += row.off;
        memset(&st->keys[k], 0, sizeof st->keys[k]);
        st->keys[k].row = row;
        if ((rc = vm_mvs_key_parse(st->text, v, st->str, &st->arena, &st->keys[k], err)) != VM_OK)
            return rc;
        k++;
    }
    for (size_t j = 0; j < k; j++)
        st->keys[j].s = st->str ? st->arena.data + st->keys[j].off : NULL;
    /* rows come in segment order: sort them by key */
    if (k > 1)
        qsort(st->keys, k, sizeof *st->keys, st->str ? vm_mvs_qcmp_str : vm_mvs_qcmp_int);
    *n = k;
    return VM_OK;
}


/* ---------------------------------------------------------------- ops */

static int vm_mvs_init(void *state, const json_t *conf, vm_err *err)
{
    vm_mvs *st = state;
    vm_buf_init(&st->body);
    vm_buf_init(&st->filter);
    vm_buf_init(&st->arena);
    vm_buf_init(&st->meta);
    int rc = vm_conf_apply(vm_mvs_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    if (strncmp(st->uri, "http://", 7) != 0 && strncmp(st->uri, "https://", 8) != 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "source.uri: must start with http:// or https:// (the Milvus REST "
                        "endpoint, e.g. http://localhost:19530)");
        goto fail;
    }
    /* retries: vm_mvs_call's, with the source's own budget */
    vm_milvus_opts o = {.uri = st->uri, .token = st->token, .database = st->database,
                        .timeout_ms = (long)st->timeout_ms, .insecure = st->insecure_tls,
                        .retries = -1};
    if ((rc = vm_milvus_new(&o, &st->m, err)) != VM_OK) {
        vm_err_prefix(err, "source: ");
        goto fail;
    }
    st->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    return VM_OK;
fail:
    vm_conf_release(vm_mvs_table, st);
    return rc;
}

static void vm_mvs_close(void *state);

static void vm_mvs_fini(void *state)
{
    vm_mvs *st = state;
    vm_mvs_close(st);
    vm_milvus_free(st->m);
    vm_schema_free(st->schema);
    vm_free(st->pk);
    vm_buf_release(&st->body);
    vm_buf_release(&st->filter);
    vm_buf_release(&st->arena);
    vm_buf_release(&st->meta);
    vm_mvs_scratch_release(&st->scr);
    vm_free(st->keys);
    vm_free(st->text);
    vm_conf_release(vm_mvs_table, st);
}

static int vm_mvs_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_mvs *st = state;
    *out = NULL;
    vm_schema_free(st->schema);
    st->schema = NULL;
    vm_free(st->pk);
    st->pk = NULL;
    int rc = vm_mvs_describe(st, err);
    if (rc != VM_OK)
        return rc;
    if (!(*out = vm_schema_clone(st->schema)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

static int vm_mvs_count(void *state, int64_t *rows, vm_err *err)
{
    vm_mvs *st = state;
    int rc = vm_mvs_ready(st, err);
    for (int attempt = 0; rc == VM_OK; attempt++) {
        rc = vm_milvus_count(st->m, st->collection, rows, err);
        if (rc == VM_OK || !err->retriable || attempt >= st->retries)
            break;
        vm_sleep_ms(vm_backoff_ms(attempt, 250, 15000, &st->seed));
        rc = VM_OK;
    }
    return rc;
}

/* Smallest (want_max false) or largest Int64 key, by bisection with
 * key-only queries: each answer either narrows the range to half or
 * yields a key that bounds it; an answer that is not full is exact. */
static int vm_mvs_int_extreme(vm_mvs *st, bool want_max, int64_t seed_key, int64_t *out,
                              vm_err *err)
{
    enum { L = 1024 };
    int64_t lo = want_max ? seed_key : INT64_MIN, hi = want_max ? INT64_MAX : seed_key;
    int rc = VM_OK;
    while (lo < hi) {
        uint64_t half = ((uint64_t)hi - (uint64_t)lo + 1) / 2;
        vm_mvs_pos a = {0}, b = {0};
        if (!want_max) { /* min in [lo, hi], hi a key: probe [lo, lo + half) */
            a = (vm_mvs_pos){.set = lo != INT64_MIN, .i = lo};
            b = (vm_mvs_pos){.set = true, .i = (int64_t)((uint64_t)lo + half)};
        } else { /* max in [lo, hi], lo a key: probe (hi - half, hi] */
            a = (vm_mvs_pos){.set = true, .excl = true, .i = (int64_t)((uint64_t)hi - half)};
            if (hi != INT64_MAX)
                b = (vm_mvs_pos){.set = true, .i = hi + 1};
        }
        if (vm_mvs_filter(&st->filter, st->pk, false, &a, &b) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        size_t n;
        if ((rc = vm_mvs_query(st, vm_buf_cstr(&st->filter), NULL, L, &n, err)) != VM_OK)
            return rc;
        if (n == 0) {
            if (!want_max)
                lo = b.i;
            else
                hi = a.i;
        } else if (!want_max) {
            hi = st->keys[0].i;
            if (n < L)
                lo = hi;
        } else {
            lo = st->keys[n - 1].i;
            if (n < L)
                hi = lo;
        }
    }
    *out = lo;
    return VM_OK;
}

static int vm_mvs_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit,
                       void *emit_ctx, vm_err *err)
{
    vm_mvs *st = state;
    int64_t count = 0;
    int rc = vm_mvs_describe(st, err);
    if (rc == VM_OK)
        rc = vm_mvs_count(st, &count, err);
    if (rc != VM_OK)
        return rc;
    int64_t n = vm_mvs_ntasks(count, opts->task_rows);
    size_t nsample = 0, nb = 0;
    int64_t *ib = NULL;
    size_t *sb = NULL;
    if (n > 1 && (rc = vm_mvs_query(st, "", NULL, VM_MVS_WINDOW, &nsample, err)) != VM_OK)
        return rc;
    if (n > 1 && nsample == 0)
        n = 1;
    if (n > 1 && !st->str) {
        int64_t mn = st->keys[0].i, mx = st->keys[nsample - 1].i;
        if (nsample == VM_MVS_WINDOW &&
            ((rc = vm_mvs_int_extreme(st, false, mn, &mn, err)) != VM_OK ||
             (rc = vm_mvs_int_extreme(st, true, mx, &mx, err)) != VM_OK))
            return rc;
        if (!(ib = vm_calloc((size_t)n, sizeof *ib)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        vm_mvs_split_int(mn, mx, n, ib, &nb);
    } else if (n > 1) {
        /* distinct sorted sample (Milvus may hold duplicate keys) */
        size_t d = 0;
        for (size_t i = 0; i < nsample; i++)
            if (d == 0 || vm_mvs_key_cmp(&st->keys[i], &st->keys[d - 1], true) != 0)
                st->keys[d++] = st->keys[i];
        if (!(sb = vm_calloc((size_t)n, sizeof *sb)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        vm_mvs_split_sample(d, n, sb, &nb);
    }
    int64_t ntasks = (int64_t)nb + 1;
    for (size_t t = 0; t <= nb && rc == VM_OK; t++) {
        vm_task task;
        vm_task_init(&task);
        task.job_id = (char *)opts->job_id;
        task.id = (uint32_t)t;
        task.est_rows = count / ntasks + (t < (size_t)(count % ntasks) ? 1 : 0);
        if (!st->str) {
            task.kind = VM_RANGE_INT;
            task.has_lo = t > 0;
            task.has_hi = t < nb;
            if (t > 0)
                task.lo = ib[t - 1];
            if (t < nb)
                task.hi = ib[t];
        } else {
            task.kind = VM_RANGE_KEY;
            task.key_lo = t > 0 ? (char *)st->keys[sb[t - 1]].s : NULL;
            task.key_hi = t < nb ? (char *)st->keys[sb[t]].s : NULL;
        }
        rc = emit(emit_ctx, &task, err);
    }
    vm_free(ib);
    vm_free(sb);
    return rc;
}

static void vm_mvs_close(void *state)
{
    vm_mvs *st = state;
    vm_mvs_pos_release(&st->lo);
    vm_mvs_pos_release(&st->hi);
    vm_mvs_pos_release(&st->pos);
    st->open = false;
    st->finished = false;
}

static int vm_mvs_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_mvs *st = state;
    vm_mvs_close(st);
    int rc = vm_mvs_describe(st, err);
    if (rc == VM_OK)
        rc = vm_mvs_ready(st, err);
    if (rc != VM_OK)
        return rc;
    if (task->kind == VM_RANGE_INT && !st->str) {
        st->lo = (vm_mvs_pos){.set = task->has_lo, .i = task->lo};
        st->hi = (vm_mvs_pos){.set = task->has_hi, .i = task->hi};
    } else if (task->kind == VM_RANGE_KEY && st->str) {
        if ((task->key_lo && !(st->lo.s = vm_strdup(task->key_lo))) ||
            (task->key_hi && !(st->hi.s = vm_strdup(task->key_hi))))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        st->lo.set = task->key_lo != NULL;
        st->hi.set = task->key_hi != NULL;
    } else if (task->kind != VM_RANGE_ALL) {
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "milvus source: task %u is a %s range, the key '%s' is %s", task->id,
                          vm_range_kind_name(task->kind), st->pk, st->str ? "VarChar" : "Int64");
    }
    if (cursor && *cursor) {
        if ((rc = vm_mvs_cursor_decode(cursor, st->str, &st->pos, err)) != VM_OK)
            return rc;
    }
    if (!st->pos.set && (rc = vm_mvs_pos_copy(&st->pos, &st->lo, err)) != VM_OK)
        return rc;
    st->open = true;
    return VM_OK;
}

/* The output fields of a data query for batch b: "*" when the dynamic
 * column is wanted, else the batch's columns and the key. */
static json_t *vm_mvs_out_fields(vm_mvs *st, const vm_batch *b)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    if (vm_batch_col(b, VM_META_FIELD) >= 0) {
        json_array_append_new(a, json_string("*"));
        return a;
    }
    json_array_append_new(a, json_string(st->pk));
    for (size_t c = 0; c < b->ncols; c++)
        if (strcmp(b->cols[c].name, st->pk) != 0)
            json_array_append_new(a, json_string(b->cols[c].name));
    return a;
}

/* Append row k of the last query (st->keys[k]) to b. */
static int vm_mvs_add_row(vm_mvs *st, vm_batch *b, size_t k, vm_err *err)
{
    const vm_mvs_key *key = &st->keys[k];
    char rowkey[96];
    if (st->str)
        snprintf(rowkey, sizeof rowkey, "'%.80s'", key->s);
    else
        snprintf(rowkey, sizeof rowkey, "%" PRId64, key->i);
    size_t nf = st->schema->nfields;
    const char **names = vm_calloc(nf + 1, sizeof *names);
    vm_json_path *paths = vm_calloc(nf + 1, sizeof *paths);
    vm_json_span *sp = vm_calloc(nf + 1, sizeof *sp);
    int rc = VM_OK;
    size_t row = 0;
    bool added = false;
    if (!names || !paths || !sp) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < nf; i++) {
        names[i] = st->schema->fields[i].name;
        paths[i] = (vm_json_path){&names[i], 1};
    }
    const char *s = st->text + key->row.off;
    if ((rc = vm_json_find(s, key->row.len, paths, nf, sp, err)) != VM_OK)
        goto cleanup;
    if ((rc = vm_batch_add_row(b, &row, err)) != VM_OK)
        goto cleanup;
    added = true;
    for (size_t c = 0; c < b->ncols && rc == VM_OK; c++) {
        const char *cn = b->cols[c].name;
        if (strcmp(cn, VM_META_FIELD) == 0) {
            vm_buf_clear(&st->meta);
            size_t removed = 0;
            if ((rc = vm_json_remove(s, key->row.len, paths, nf, &st->meta, &removed, err)) !=
                VM_OK)
                break;
            if (st->meta.len == 2 && b->cols[c].nullable)
                rc = vm_batch_set_null(b, c, row, err);
            else
                rc = vm_batch_set_str(b, c, row, st->meta.data, st->meta.len, err);
            continue;
        }
        int fi = vm_schema_index(st->schema, cn);
        if (fi < 0) {
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "milvus source: batch field '%s' is not a field of collection '%s'",
                            cn, st->collection);
            break;
        }
        rc = vm_mvs_set_value(b, c, row, s, sp[fi], &st->scr, rowkey, err);
    }
cleanup:
    if (rc != VM_OK && added)
        vm_batch_drop_last(b);
    vm_free(names);
    vm_free(paths);
    vm_free(sp);
    return rc;
}

/* One window: probe keys, cut the window, read its rows into b. */
static int vm_mvs_window(vm_mvs *st, vm_batch *b, size_t room, vm_err *err)
{
    vm_mvs_pos h = {0};
    int rc = vm_mvs_pos_copy(&h, &st->hi, err);
    json_t *of = NULL;
    size_t want = room < VM_MVS_WINDOW - 1 ? room : VM_MVS_WINDOW - 1, n = 0;
    if (want < 1)
        want = 1;
    for (int round = 0; rc == VM_OK; round++) {
        if (vm_mvs_filter(&st->filter, st->pk, st->str, &st->pos, &h) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            break;
        }
        if ((rc = vm_mvs_query(st, vm_buf_cstr(&st->filter), NULL, VM_MVS_WINDOW, &n, err)) !=
            VM_OK)
            break;
        if (n == 0) { /* the window is empty: move past it */
            if (!h.set) {
                st->finished = true;
            } else {
                rc = vm_mvs_pos_copy(&st->pos, &h, err);
                st->pos.excl = false;
            }
            goto done;
        }
        size_t cut = n < VM_MVS_WINDOW ? (n > want ? want : n) : (want < n / 2 ? want : n / 2);
        if (cut < n) { /* lower h to the key that starts the rest */
            size_t j = vm_mvs_next_distinct(st->keys, n, cut, st->str);
            if (j >= n) {
                rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                                "milvus source: more than %d entities share one primary key in "
                                "collection '%s'",
                                VM_MVS_WINDOW, st->collection);
                break;
            }
            vm_mvs_pos nh = {.set = true, .i = st->keys[j].i};
            if (st->str && !(nh.s = vm_strdup(st->keys[j].s))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                break;
            }
            vm_mvs_pos_release(&h);
            h = nh;
        }
        if (n == VM_MVS_WINDOW)
            continue; /* a full probe may hide keys: probe the smaller window */
        /* every key of [pos, h) is known: read the rows */
        if (vm_mvs_filter(&st->filter, st->pk, st->str, &st->pos, &h) != 0 ||
            (!of && !(of = vm_mvs_out_fields(st, b)))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            break;
        }
        if ((rc = vm_mvs_query(st, vm_buf_cstr(&st->filter), of, VM_MVS_WINDOW, &n, err)) !=
            VM_OK)
            break;
        if (n == VM_MVS_WINDOW && round < 64)
            continue; /* rows were added meanwhile: cut again */
        size_t take = n < room ? n : room;
        for (size_t k = 0; k < take && rc == VM_OK; k++)
            rc = vm_mvs_add_row(st, b, k, err);
        if (rc != VM_OK)
            break;
        if (take < n) { /* the batch is full: resume after the last key */
            vm_mvs_pos np = {.set = true, .excl = true, .i = st->keys[take - 1].i};
            if (st->str && !(np.s = vm_strdup(st->keys[take - 1].s))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                break;
            }
            vm_mvs_pos_release(&st->pos);
            st->pos = np;
        } else if (!h.set) {
            st->finished = true;
        } else {
            rc = vm_mvs_pos_copy(&st->pos, &h, err);
            st->pos.excl = false;
        }
        goto done;
    }
done:
    json_decref(of);
    vm_mvs_pos_release(&h);
    return rc;
}

static int vm_mvs_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err)
{
    vm_mvs *st = state;
    *done = false;
    if (!st->open)
        return vm_err_setc(err, VM_ERR_INTERNAL, "milvus source: read before open");
    size_t start = batch->nrows;
    int rc = VM_OK;
    while (rc == VM_OK && !st->finished && batch->nrows - start < max_rows) {
        /* the position reached the task's end */
        if (st->hi.set && st->pos.set && !st->pos.excl &&
            (st->str ? strcmp(st->pos.s, st->hi.s) >= 0 : st->pos.i >= st->hi.i)) {
            st->finished = true;
            break;
        }
        size_t before = batch->nrows;
        rc = vm_mvs_window(st, batch, max_rows - (batch->nrows - start), err);
        if (rc == VM_OK && batch->nrows > before)
            break; /* one window per call keeps batches and answers bounded */
    }
    if (rc != VM_OK)
        return vm_err_prefix(err, "collection '%s': ", st->collection);
    *done = st->finished;
    return VM_OK;
}

static int vm_mvs_cursor(void *state, char **out, vm_err *err)
{
    vm_mvs *st = state;
    if (!(*out = vm_mvs_cursor_encode(&st->pos, st->str)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

const vm_source_ops vm_source_milvus_ops = {
    .name = "milvus",
    .summary = "Milvus 2.x collections over REST v2: the schema copied faithfully, primary-key "
               "range tasks with keyset windows under the 16,384 query window",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_mvs),
    .init = vm_mvs_init,
    .fini = vm_mvs_fini,
    .discover = vm_mvs_discover,
    .count = vm_mvs_count,
    .plan = vm_mvs_plan,
    .open = vm_mvs_open,
    .read = vm_mvs_read,
    .cursor = vm_mvs_cursor,
    .close = vm_mvs_close,
};

/*
 * es_parse.c - the pure parts of the elasticsearch/opensearch source: the
 * two flavors, mapping -> schema, sample statistics, the cursor, search
 * answers and _source values. No I/O (unit-tested in test_elastic).
 *
 * Type mapping (each field's description says which rule applied):
 *   _id                          VarChar(512) primary key "id" ("_id" when
 *                                the index has a field "id")
 *   dense_vector / knn_vector    float and byte elements: FloatVector(dims)
 *                                (byte values are exact as floats); bit /
 *                                binary: BinaryVector(dims bits); bfloat16:
 *                                BFloat16Vector. Metric from similarity /
 *                                space_type: cosine(simil) -> COSINE,
 *                                l2_norm / l2 -> L2, dot_product /
 *                                max_inner_product / innerproduct -> IP,
 *                                bits -> HAMMING; none for l1, linf and
 *                                unindexed vectors (noted)
 *   text, keyword, wildcard, ip, date, version, binary, ...
 *                                VarChar(65535): the servers set no length
 *   long/integer/short/byte      Int64/Int32/Int16/Int8 (unsigned_long:
 *                                Int64, values >= 2^63 fail the task)
 *   double/float/half_float      Double/Float/Float; scaled_float: Double
 *                                (_source keeps the number as sent)
 *   boolean                      Bool; token_count: Int32; rank_feature:
 *                                Float
 *   object, nested, flattened, flat_object, geo_*, ranges, join,
 *   sparse_vector, rank_features and unknown types
 *                                JSON (the _source value as sent)
 *   alias                        not read (it has no _source value)
 * A scalar field whose sampled values include an array becomes
 * Array<type> with max_capacity 2 x the longest sampled array (64..4096);
 * a single value in an Array field is read as a one-element array. Every
 * field but the key and vectors is nullable: documents may lack any
 * field. With "dynamic": false or "runtime" (unmapped keys only in
 * _source), those keys go to the dynamic field, alias "_source".
 */
#include "elastic.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const vm_es_flavor vm_es_elasticsearch = {
    .name = "elasticsearch",
    .vector_type = "dense_vector",
    .pit_open = "/_pit",
    .pit_id_key = "id",
    .pit_close = "/_pit",
    .pit_close_list = false,
    .pit_sort = "[{\"_shard_doc\":\"asc\"}]",
    .sort_stable = false,
    .default_read = VM_ES_READ_PIT,
    .api_keys = true,
};

const vm_es_flavor vm_es_opensearch = {
    .name = "opensearch",
    .vector_type = "knn_vector",
    .pit_open = "/_search/point_in_time",
    .pit_id_key = "pit_id",
    .pit_close = "/_search/point_in_time",
    .pit_close_list = true,
    .pit_sort = "[{\"_id\":\"asc\"}]",
    .sort_stable = true,
    .default_read = VM_ES_READ_SCROLL,
    .api_keys = false,
};

/* ------------------------------------------------------------ sample */

void vm_es_sample_release(vm_es_sample *s)
{
    for (size_t i = 0; i < s->n; i++)
        vm_free(s->stats[i].name);
    vm_free(s->stats);
    memset(s, 0, sizeof *s);
}

static vm_es_stat *vm_es_stat_find(const vm_es_sample *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->stats[i].name, name) == 0)
            return &s->stats[i];
    return NULL;
}

static void vm_es_stat_value(vm_es_stat *st, const char *s, vm_json_span v)
{
    if (v.kind == VM_JSON_STRING) {
        st->hex = true;
        if (v.len - 2 > st->max_bytes)
            st->max_bytes = v.len - 2;
    }
    if (v.kind != VM_JSON_ARRAY)
        return;
    st->array = true;
    vm_json_iter it;
    vm_json_span e;
    size_t n = 0;
    bool numbers = true;
    vm_json_iter_init(&it, s, v);
    while (vm_json_iter_next(&it, &e)) {
        n++;
        if (e.kind != VM_JSON_NUMBER)
            numbers = false;
        if (e.kind == VM_JSON_STRING && e.len - 2 > st->max_bytes)
            st->max_bytes = e.len - 2;
    }
    if (n > st->max_items)
        st->max_items = n;
    if (numbers && n > 0 && st->dim == 0)
        st->dim = (int64_t)n;
}

int vm_es_sample_add(vm_es_sample *s, const char *text, size_t len, vm_err *err)
{
    vm_es_page page = {0};
    vm_buf key;
    vm_buf_init(&key);
    int rc = vm_es_parse_page(text, len, &page, err);
    for (size_t h = 0; rc == VM_OK && h < page.n; h++) {
        vm_json_span src = page.hits[h].source;
        if (src.kind != VM_JSON_OBJECT)
            continue;
        s->docs++;
        vm_json_iter it;
        vm_json_span k, v;
        vm_json_iter_init(&it, text, src);
        while (rc == VM_OK && vm_json_member_next(&it, &k, &v)) {
            vm_buf_clear(&key);
            if ((rc = vm_json_unescape(text + k.off, k.len, &key, err)) != VM_OK)
                break;
            const char *name = key.data ? key.data : "";
            vm_es_stat *st = vm_es_stat_find(s, name);
            if (!st) {
                if (vm_grow((void **)&s->stats, &s->cap, s->n + 1, sizeof *s->stats) != 0 ||
                    !(s->stats[s->n].name = vm_strdup(name))) {
                    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                    break;
                }
                st = &s->stats[s->n++];
                char *nm = st->name;
                memset(st, 0, sizeof *st);
                st->name = nm;
            }
            vm_es_stat_value(st, text, v);
        }
    }
    vm_buf_release(&key);
    vm_es_page_release(&page);
    return rc;
}

/* ------------------------------------------------------------ schema */

typedef struct vm_es_rule {
    const char *type;
    vm_dtype dtype;
    const char *note;
} vm_es_rule;

static const vm_es_rule vm_es_rules[] = {
    {"text", VM_T_VARCHAR, NULL},
    {"keyword", VM_T_VARCHAR, NULL},
    {"constant_keyword", VM_T_VARCHAR, NULL},
    {"wildcard", VM_T_VARCHAR, NULL},
    {"match_only_text", VM_T_VARCHAR, NULL},
    {"search_as_you_type", VM_T_VARCHAR, NULL},
    {"annotated_text", VM_T_VARCHAR, NULL},
    {"icu_collation_keyword", VM_T_VARCHAR, NULL},
    {"completion", VM_T_VARCHAR, NULL},
    {"semantic_text", VM_T_VARCHAR, NULL},
    {"ip", VM_T_VARCHAR, NULL},
    {"version", VM_T_VARCHAR, NULL},
    {"date", VM_T_VARCHAR, "as written in _source (a date string or epoch number)"},
    {"date_nanos", VM_T_VARCHAR, "as written in _source (a date string or epoch number)"},
    {"binary", VM_T_VARCHAR, "base64 text as in _source"},
    {"long", VM_T_INT64, NULL},
    {"unsigned_long", VM_T_INT64, "values of 2^63 and more fail the task (map it to VarChar)"},
    {"integer", VM_T_INT32, NULL},
    {"short", VM_T_INT16, NULL},
    {"byte", VM_T_INT8, NULL},
    {"token_count", VM_T_INT32, NULL},
    {"double", VM_T_DOUBLE, NULL},
    {"float", VM_T_FLOAT, NULL},
    {"half_float", VM_T_FLOAT, "_source keeps the number as sent (half_float is only the index)"},
    {"scaled_float", VM_T_DOUBLE, "_source keeps the number as sent"},
    {"rank_feature", VM_T_FLOAT, NULL},
    {"boolean", VM_T_BOOL, NULL},
    {"object", VM_T_JSON, NULL},
    {"nested", VM_T_JSON, "nested documents as a JSON array"},
    {"flattened", VM_T_JSON, NULL},
    {"flat_object", VM_T_JSON, NULL},
    {"sparse_vector", VM_T_JSON, "token weights as JSON (Milvus sparse vectors need integer indexes)"},
    {"rank_features", VM_T_JSON, "feature weights as JSON"},
    {NULL, VM_T_NONE, NULL},
};

static const vm_es_rule *vm_es_rule_of(const char *type)
{
    for (const vm_es_rule *r = vm_es_rules; r->type; r++)
        if (strcmp(r->type, type) == 0)
            return r;
    return NULL;
}

/* The type of a property: "object" for one with properties and no type. */
static const char *vm_es_prop_type(const json_t *prop)
{
    const char *t = json_string_value(json_object_get(prop, "type"));
    if (t)
        return t;
    return "object";
}

static int vm_es_sorted_keys(const json_t *obj, const char ***out, size_t *n)
{
    *n = json_object_size(obj);
    *out = NULL;
    if (*n == 0)
        return 0;
    const char **k = vm_calloc(*n, sizeof *k);
    if (!k)
        return -1;
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        (void)v;
        k[i++] = key;
    }
    for (size_t a = 1; a < i; a++) /* insertion sort: mappings are small */
        for (size_t b = a; b > 0 && strcmp(k[b - 1], k[b]) > 0; b--) {
            const char *t = k[b];
            k[b] = k[b - 1];
            k[b - 1] = t;
        }
    *out = k;
    return 0;
}

/* The part of a property that decides its Milvus field. */
static bool vm_es_same_mapping(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"type", "dims", "dimension", "element_type", "data_type",
                                       "similarity", "space_type", "index", "method"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
        if ((x == NULL) != (y == NULL) || (x && !json_equal((json_t *)x, (json_t *)y)))
            return false;
    }
    return strcmp(vm_es_prop_type(a), vm_es_prop_type(b)) == 0;
}

static const char *vm_es_metric_of(const char *sim, bool bits, const char **note)
{
    *note = NULL;
    if (!sim)
        return NULL;
    if (bits)
        return "HAMMING";
    if (strcmp(sim, "cosine") == 0 || strcmp(sim, "cosinesimil") == 0)
        return "COSINE";
    if (strcmp(sim, "l2_norm") == 0 || strcmp(sim, "l2") == 0)
        return "L2";
    if (strcmp(sim, "dot_product") == 0 || strcmp(sim, "max_inner_product") == 0 ||
        strcmp(sim, "innerproduct") == 0)
        return "IP";
    if (strcmp(sim, "hamming") == 0 || strcmp(sim, "hammingbit") == 0)
        return "HAMMING";
    *note = "no Milvus metric for it: choose one in the mapping's index section";
    return NULL;
}

/* A vector property into f (type, dim, metric, description). */
static int vm_es_vector(const vm_es_flavor *fl, const char *name, const json_t *prop,
                        const vm_es_stat *st, vm_field *f, vm_es_enc *enc, vm_buf *note,
                        vm_err *err)
{
    bool es = fl == &vm_es_elasticsearch;
    const char *elem = json_string_value(json_object_get(prop, es ? "element_type" : "data_type"));
    if (!elem)
        elem = "float";
    json_int_t dims = json_integer_value(json_object_get(prop, es ? "dims" : "dimension"));
    if (dims <= 0 && st && st->dim > 0)
        dims = (json_int_t)st->dim;
    if (dims <= 0)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "%s: vector field '%s' has no %s in the mapping and no sampled value "
                          "to take it from",
                          fl->name, name, es ? "dims" : "dimension");
    bool bits = strcmp(elem, "bit") == 0 || strcmp(elem, "binary") == 0;
    *enc = VM_ES_ENC_VECTOR;
    f->dim = dims;
    if (strcmp(elem, "float") == 0) {
        f->type = VM_T_FLOAT_VECTOR;
    } else if (strcmp(elem, "byte") == 0) {
        f->type = VM_T_FLOAT_VECTOR;
        vm_buf_puts(note, "byte elements as FloatVector (exact); ");
    } else if (bits) {
        if (dims % 8 != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "%s: bit vector field '%s' has %lld dimensions, not a multiple of 8",
                              fl->name, name, (long long)dims);
        f->type = VM_T_BINARY_VECTOR;
        *enc = VM_ES_ENC_BITS;
    } else if (strcmp(elem, "bfloat16") == 0) {
        f->type = VM_T_BFLOAT16_VECTOR;
    } else {
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "%s: vector field '%s' has element type '%s', which vecmig cannot read",
                          fl->name, name, elem);
    }
    const char *sim;
    if (es) {
        sim = json_string_value(json_object_get(prop, "similarity"));
        json_t *ix = json_object_get(prop, "index");
        bool indexed = !json_is_false(ix);
        if (!sim && indexed)
            sim = bits ? "l2_norm" : "cosine"; /* the server's defaults */
        if (!indexed)
            vm_buf_puts(note, "not indexed in the source: no metric; ");
    } else {
        sim = json_string_value(json_object_get(prop, "space_type"));
        if (!sim)
            sim = json_string_value(json_object_get(json_object_get(prop, "method"), "space_type"));
        if (!sim)
            sim = bits ? "hamming" : "l2"; /* the server's default */
    }
    const char *mnote;
    const char *metric = vm_es_metric_of(sim, bits, &mnote);
    if (metric && !(f->metric = vm_strdup(metric)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (sim)
        vm_buf_printf(note, "%s %s -> %s", es ? "similarity" : "space_type", sim,
                      metric ? metric : "none");
    if (mnote)
        vm_buf_printf(note, " (%s)", mnote);
    return VM_OK;
}

static void vm_es_trim_note(vm_buf *note)
{
    while (note->len > 0 && (note->data[note->len - 1] == ' ' || note->data[note->len - 1] == ';'))
        note->data[--note->len] = '\0';
}

int vm_es_build_schema(const vm_es_flavor *fl, const json_t *mapping, const vm_es_sample *sample,
                       const char *collection, vm_schema **out, vm_es_enc **enc_out, vm_err *err)
{
    *out = NULL;
    *enc_out = NULL;
    vm_schema *s = vm_schema_new(collection);
    const char **idx = NULL, **props = NULL;
    size_t nidx = 0, nprops = 0;
    vm_es_enc *enc = NULL;
    size_t enc_cap = 0;
    json_t *merged = json_object(); /* name -> property */
    json_t *from = json_object();   /* name -> index it came from */
    vm_buf note;
    vm_buf_init(&note);
    int rc = VM_OK;
    bool dynamic = false, has_id_field = false;
    if (!s || !merged || !from || vm_es_sorted_keys(mapping, &idx, &nidx) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (!json_is_object(mapping) || nidx == 0) {
        rc = vm_err_set(err, VM_ERR_NOT_FOUND, false, "%s: no index matches '%s'", fl->name,
                        collection);
        goto cleanup;
    }
    for (size_t i = 0; i < nidx; i++) {
        json_t *m = json_object_get(json_object_get(mapping, idx[i]), "mappings");
        json_t *src = json_object_get(m, "_source");
        if (json_is_false(json_object_get(src, "enabled"))) {
            rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                            "%s: index '%s' stores no _source (\"_source\": {\"enabled\": "
                            "false}): its documents cannot be read back",
                            fl->name, idx[i]);
            goto cleanup;
        }
        json_t *dyn = json_object_get(m, "dynamic");
        const char *ds = json_string_value(dyn);
        if (json_is_false(dyn) || (ds && (strcmp(ds, "false") == 0 || strcmp(ds, "runtime") == 0)))
            dynamic = true;
        json_t *p = json_object_get(m, "properties");
        const char *key;
        json_t *prop;
        json_object_foreach(p, key, prop) {
            json_t *seen = json_object_get(merged, key);
            if (!seen) {
                json_object_set(merged, key, prop);
                json_object_set_new(from, key, json_string(idx[i]));
            } else if (!vm_es_same_mapping(seen, prop)) {
                rc = vm_err_set(err, VM_ERR_INVALID, false,
                                "%s: field '%s' is mapped differently in indexes '%s' and '%s' "
                                "(read them one at a time, or map the field the same way)",
                                fl->name, key, json_string_value(json_object_get(from, key)),
                                idx[i]);
                goto cleanup;
            }
        }
        /* a vector excluded from _source cannot be read back */
        json_t *ex = json_object_get(src, "excludes"), *e;
        size_t k;
        json_array_foreach(ex, k, e) {
            json_t *pp = json_object_get(p, json_string_value(e) ? json_string_value(e) : "");
            if (pp && strcmp(vm_es_prop_type(pp), fl->vector_type) == 0) {
                rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                                "%s: index '%s' excludes vector field '%s' from _source: its "
                                "values cannot be read back",
                                fl->name, idx[i], json_string_value(e));
                goto cleanup;
            }
        }
    }
    has_id_field = json_object_get(merged, "id") != NULL;
    if (vm_es_sorted_keys(merged, &props, &nprops) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    /* the key */
    vm_field pk = {.name = has_id_field ? "_id" : "id", .type = VM_T_VARCHAR,
                   .max_length = VM_ES_MAX_ID, .primary = true,
                   .description = has_id_field ? "_id (named _id: the index has a field 'id')"
                                               : "_id"};
    if ((rc = vm_schema_add(s, &pk, err)) != VM_OK)
        goto cleanup;
    if (vm_grow((void **)&enc, &enc_cap, 1, sizeof *enc) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    enc[0] = VM_ES_ENC_VALUE;
    size_t nvec = 0;
    for (size_t i = 0; i < nprops; i++) {
        const char *name = props[i];
        json_t *prop = json_object_get(merged, name);
        const char *type = vm_es_prop_type(prop);
        const vm_es_stat *st = sample ? vm_es_stat_find(sample, name) : NULL;
        vm_field f = {.name = (char *)name, .nullable = true};
        vm_es_enc e = VM_ES_ENC_VALUE;
        vm_buf_clear(&note);
        if (strcmp(type, "alias") == 0)
            continue; /* no _source value */
        if (strcmp(type, fl->vector_type) == 0) {
            f.nullable = false;
            if ((rc = vm_es_vector(fl, name, prop, st, &f, &e, &note, err)) != VM_OK)
                goto cleanup;
            nvec++;
        } else {
            const vm_es_rule *r = vm_es_rule_of(type);
            if (strcmp(type, "object") == 0 && json_is_false(json_object_get(prop, "enabled")))
                r = vm_es_rule_of("object");
            bool range = strlen(type) > 6 && strcmp(type + strlen(type) - 6, "_range") == 0;
            if (!r && !range && strncmp(type, "geo_", 4) != 0 && strcmp(type, "point") != 0 &&
                strcmp(type, "shape") != 0 && strcmp(type, "join") != 0 &&
                strcmp(type, "percolator") != 0)
                vm_buf_printf(&note, "type %s kept as JSON", type);
            f.type = r ? r->dtype : VM_T_JSON;
            if (r && r->note)
                vm_buf_puts(&note, r->note);
            if (f.type == VM_T_VARCHAR)
                f.max_length = VM_MAX_VARCHAR;
            if (st && st->array && f.type != VM_T_JSON) {
                size_t cap = st->max_items * 2 < 64 ? 64 : st->max_items * 2;
                f.element_type = f.type;
                f.type = VM_T_ARRAY;
                f.max_capacity = (int64_t)(cap < 4 ? 4 : cap > VM_MAX_CAPACITY ? VM_MAX_CAPACITY
                                                                                 : cap);
                vm_buf_printf(&note, "%sarrays in the sample (up to %zu values)",
                              note.len ? "; " : "", st->max_items);
            }
        }
        if (note.len) {
            vm_es_trim_note(&note);
            if (!vm_buf_ok(&note)) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            f.description = note.data;
        } else {
            f.description = (char *)type;
        }
        rc = vm_schema_add(s, &f, err);
        vm_free(f.metric);
        if (rc != VM_OK)
            goto cleanup;
        if (vm_grow((void **)&enc, &enc_cap, s->nfields, sizeof *enc) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        enc[s->nfields - 1] = e;
    }
    if (nvec == 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "%s: '%s' has no %s field: nothing to migrate into a vector collection",
                        fl->name, collection, fl->vector_type);
        goto cleanup;
    }
    if (dynamic) {
        s->enable_dynamic = true;
        if (!(s->dynamic_alias = vm_strdup("_source"))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    *out = s;
    *enc_out = enc;
    s = NULL;
    enc = NULL;
cleanup:
    vm_schema_free(s);
    vm_free(enc);
    vm_free(idx);
    vm_free(props);
    json_decref(merged);
    json_decref(from);
    vm_buf_release(&note);
    return rc;
}

/* ------------------------------------------------------------ cursor */

void vm_es_pos_release(vm_es_pos *p)
{
    vm_free(p->last);
    vm_free(p->pit);
    vm_free(p->after);
    memset(p, 0, sizeof *p);
}

static void vm_es_json_str(vm_buf *b, const char *s)
{
    vm_buf_json_str(b, s, strlen(s));
}

char *vm_es_cursor_encode(const vm_es_pos *p)
{
    vm_buf b;
    vm_buf_init(&b);
    vm_buf_printf(&b, "{\"n\":%" PRId64, p->n);
    if (p->last) {
        vm_buf_puts(&b, ",\"last\":");
        vm_es_json_str(&b, p->last);
    }
    if (p->pit) {
        vm_buf_puts(&b, ",\"pit\":");
        vm_es_json_str(&b, p->pit);
    }
    if (p->after) {
        vm_buf_puts(&b, ",\"after\":");
        vm_buf_puts(&b, p->after);
    }
    vm_buf_putc(&b, '}');
    if (!vm_buf_ok(&b)) {
        vm_buf_release(&b);
        return NULL;
    }
    return b.data;
}

int vm_es_cursor_decode(const char *text, vm_es_pos *p, vm_err *err)
{
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    int rc = VM_OK;
    json_t *n = json_object_get(j, "n"), *last = json_object_get(j, "last"),
           *pit = json_object_get(j, "pit"), *after = json_object_get(j, "after");
    if (!json_is_object(j) || !json_is_integer(n) || json_integer_value(n) < 0 ||
        (last && !json_is_string(last)) || (pit && !json_is_string(pit)) ||
        (after && !json_is_array(after)) || (json_integer_value(n) > 0 && !last) ||
        json_object_size(j) != (size_t)(1 + !!last + !!pit + !!after)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "search source: malformed cursor '%.80s'",
                        text);
        goto cleanup;
    }
    p->n = json_integer_value(n);
    if ((last && !(p->last = vm_strdup(json_string_value(last)))) ||
        (pit && !(p->pit = vm_strdup(json_string_value(pit))))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (after) {
        char *t = json_dumps(after, JSON_COMPACT);
        if (!t || !(p->after = vm_strdup(t)))
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        free(t);
    }
cleanup:
    json_decref(j);
    if (rc != VM_OK)
        vm_es_pos_release(p);
    return rc;
}

/* ------------------------------------------------------------- pages */

void vm_es_page_release(vm_es_page *p)
{
    vm_free(p->hits);
    memset(p, 0, sizeof *p);
}

int vm_es_parse_page(const char *text, size_t len, vm_es_page *page, vm_err *err)
{
    static const char *const k_hits[] = {"hits", "hits"}, *const k_pit[] = {"pit_id"},
                             *const k_scroll[] = {"_scroll_id"}, *const k_to[] = {"timed_out"},
                             *const k_failed[] = {"_shards", "failed"};
    const vm_json_path paths[] = {{k_hits, 2}, {k_pit, 1}, {k_scroll, 1}, {k_to, 1},
                                  {k_failed, 2}};
    vm_json_span sp[5];
    page->n = 0;
    int rc = vm_json_find(text, len, paths, 5, sp, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "search answer: ");
    if (sp[0].kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "search answer: hits.hits is %s",
                          vm_json_kind_name(sp[0].kind));
    page->pit_id = sp[1].kind == VM_JSON_STRING ? sp[1] : (vm_json_span){0};
    page->scroll_id = sp[2].kind == VM_JSON_STRING ? sp[2] : (vm_json_span){0};
    page->timed_out = sp[3].kind == VM_JSON_TRUE;
    page->failed_shards = 0;
    if (sp[4].kind == VM_JSON_NUMBER &&
        vm_json_number_i64(text + sp[4].off, sp[4].len, &page->failed_shards) != VM_JSON_NUM_OK)
        page->failed_shards = 1;
    vm_json_iter it;
    vm_json_span hit;
    vm_json_iter_init(&it, text, sp[0]);
    while (vm_json_iter_next(&it, &hit)) {
        if (hit.kind != VM_JSON_OBJECT)
            return vm_err_set(err, VM_ERR_PROTOCOL, false, "search answer: a hit is %s",
                              vm_json_kind_name(hit.kind));
        if (vm_grow((void **)&page->hits, &page->cap, page->n + 1, sizeof *page->hits) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        vm_es_hit *h = &page->hits[page->n];
        memset(h, 0, sizeof *h);
        vm_json_iter mi;
        vm_json_span k, v;
        vm_json_iter_init(&mi, text, hit);
        while (vm_json_member_next(&mi, &k, &v)) {
            if (vm_json_key_eq(text, k, "_id"))
                h->id = v;
            else if (vm_json_key_eq(text, k, "_source"))
                h->source = v;
            else if (vm_json_key_eq(text, k, "sort"))
                h->sort = v;
        }
        if (h->id.kind != VM_JSON_STRING)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "search answer: hit %zu has no _id string", page->n);
        if (h->sort.kind != VM_JSON_MISSING && h->sort.kind != VM_JSON_ARRAY)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "search answer: hit %zu: sort is %s, not an array", page->n,
                              vm_json_kind_name(h->sort.kind));
        page->n++;
    }
    return VM_OK;
}

void vm_es_error_text(const char *body, size_t len, char *out, size_t cap, bool *missing_context)
{
    out[0] = '\0';
    *missing_context = false;
    if (!body || len == 0)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    json_t *rc0 = json_array_get(json_object_get(e, "root_cause"), 0);
    json_t *src = rc0 ? rc0 : e;
    const char *type = json_string_value(json_object_get(src, "type"));
    const char *reason = json_string_value(json_object_get(src, "reason"));
    if (type || reason)
        snprintf(out, cap, "%s%s%s", type ? type : "", type && reason ? ": " : "",
                 reason ? reason : "");
    else if (json_is_string(e))
        snprintf(out, cap, "%s", json_string_value(e));
    json_decref(j);
    /* anywhere in the body: root causes, failed shards, the top type */
    for (size_t i = 0; i + 22 <= len; i++)
        if (body[i] == 's' && memcmp(body + i, "search_context_missing", 22) == 0) {
            *missing_context = true;
            break;
        }
}

/* -------------------------------------------------------------- auth */

int vm_es_auth_header(const char *api_key, const char *user, const char *password, char **out,
                      vm_err *err)
{
    *out = NULL;
    if (!api_key && !user)
        return VM_OK;
    vm_buf b, up;
    vm_buf_init(&b);
    vm_buf_init(&up);
    if (api_key) {
        vm_buf_printf(&b, "Authorization: ApiKey %s", api_key);
    } else {
        vm_buf_printf(&up, "%s:%s", user, password ? password : "");
        vm_buf_puts(&b, "Authorization: Basic ");
        vm_buf_base64(&b, (const uint8_t *)(up.data ? up.data : ""), up.len);
    }
    int rc = VM_OK;
    if (!vm_buf_ok(&b) || !vm_buf_ok(&up) || !(*out = vm_strdup(vm_buf_cstr(&b))))
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (b.data)
        memset(b.data, 0, b.len);
    if (up.data)
        memset(up.data, 0, up.len);
    vm_buf_release(&b);
    vm_buf_release(&up);
    return rc;
}

/* ------------------------------------------------------------ values */

uint16_t vm_es_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return (uint16_t)(u >> 16);
}

static int vm_es_bad(vm_err *err, const char *who, const char *docid, const vm_column *c,
                     const char *what)
{
    return vm_err_set(err, VM_ERR_INVALID, false, "%s: document '%s': field '%s': %s", who, docid,
                      c->name, what);
}

/* The text of a number token or of a string that holds one (the servers
 * coerce "5" into numeric fields, and _source keeps the string). */
static int vm_es_num_text(const char *s, vm_json_span v, const char **t, size_t *n)
{
    *t = s + v.off;
    *n = v.len;
    if (v.kind == VM_JSON_STRING) {
        (*t)++;
        *n -= 2;
        return 0;
    }
    return v.kind == VM_JSON_NUMBER ? 0 : -1;
}

static int vm_es_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int vm_es_set_bits(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                          const char *who, const char *docid, vm_err *err)
{
    const vm_column *c = &b->cols[col];
    size_t want = (size_t)c->dim / 8;
    uint8_t *out = vm_batch_vector(b, col, row);
    if (v.kind == VM_JSON_STRING) {
        const char *h = s + v.off + 1;
        if (v.len - 2 != 2 * want)
            return vm_es_bad(err, who, docid, c, "hex string of the wrong length for the dims");
        for (size_t i = 0; i < want; i++) {
            int hi = vm_es_hex(h[2 * i]), lo = vm_es_hex(h[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return vm_es_bad(err, who, docid, c, "not a hex string");
            out[i] = (uint8_t)(hi << 4 | lo);
        }
        return VM_OK;
    }
    if (v.kind != VM_JSON_ARRAY)
        return vm_es_bad(err, who, docid, c, "not a hex string or an array of bytes");
    vm_json_iter it;
    vm_json_span e;
    size_t i = 0;
    vm_json_iter_init(&it, s, v);
    while (vm_json_iter_next(&it, &e)) {
        int64_t x;
        if (i >= want || e.kind != VM_JSON_NUMBER ||
            vm_json_number_i64(s + e.off, e.len, &x) != VM_JSON_NUM_OK || x < -128 || x > 255)
            return vm_es_bad(err, who, docid, c, "not an array of dims/8 bytes");
        out[i++] = (uint8_t)(x & 0xff);
    }
    if (i != want)
        return vm_es_bad(err, who, docid, c, "fewer bytes than dims/8");
    return VM_OK;
}

static int vm_es_set_vector(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                            const char *who, const char *docid, vm_err *err)
{
    const vm_column *c = &b->cols[col];
    if (v.kind != VM_JSON_ARRAY)
        return vm_es_bad(err, who, docid, c, "not an array of numbers");
    void *out = vm_batch_vector(b, col, row);
    vm_json_iter it;
    vm_json_span e;
    int64_t i = 0;
    vm_json_iter_init(&it, s, v);
    while (vm_json_iter_next(&it, &e)) {
        float f;
        if (i >= c->dim) {
            char w[96];
            snprintf(w, sizeof w, "more elements than the dimension %" PRId64, c->dim);
            return vm_es_bad(err, who, docid, c, w);
        }
        vm_json_num_rc nr = e.kind == VM_JSON_NUMBER
                                ? vm_json_number_f32(s + e.off, e.len, &f)
                                : VM_JSON_NUM_SYNTAX;
        if (nr != VM_JSON_NUM_OK) {
            char w[96];
            snprintf(w, sizeof w, "element %" PRId64 " is %s", i,
                     nr == VM_JSON_NUM_RANGE ? "outside the float32 range" : "not a number");
            return vm_es_bad(err, who, docid, c, w);
        }
        if (c->type == VM_T_BFLOAT16_VECTOR) {
            uint16_t h = vm_es_bf16(f);
            memcpy((uint8_t *)out + 2 * i, &h, 2);
        } else {
            ((float *)out)[i] = f;
        }
        i++;
    }
    if (i != c->dim) {
        char w[96];
        snprintf(w, sizeof w, "%" PRId64 " elements, the dimension is %" PRId64, i, c->dim);
        return vm_es_bad(err, who, docid, c, w);
    }
    return VM_OK;
}

int vm_es_set_value(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                    vm_es_enc enc, vm_es_scratch *scr, const char *who, const char *docid,
                    vm_err *err)
{
    const vm_column *c = &b->cols[col];
    if (v.kind == VM_JSON_MISSING || v.kind == VM_JSON_NULL) {
        if (c->nullable)
            return vm_batch_set_null(b, col, row, err);
        return vm_es_bad(err, who, docid, c,
                         vm_dtype_is_vector(c->type)
                             ? "no vector in _source (leave such documents out with "
                               "source.query, e.g. {exists: {field: <name>}})"
                             : "missing from _source");
    }
    if (enc == VM_ES_ENC_BITS)
        return vm_es_set_bits(b, col, row, s, v, who, docid, err);
    if (enc == VM_ES_ENC_VECTOR)
        return vm_es_set_vector(b, col, row, s, v, who, docid, err);
    const char *t;
    size_t n;
    int rc;
    switch (c->type) {
    case VM_T_BOOL:
        if (v.kind == VM_JSON_TRUE || v.kind == VM_JSON_FALSE)
            return vm_batch_set_bool(b, col, row, v.kind == VM_JSON_TRUE, err);
        if (v.kind == VM_JSON_STRING && (v.len == 6 || v.len == 7) &&
            (memcmp(s + v.off, "\"true\"", 6) == 0 || memcmp(s + v.off, "\"false\"", 7) == 0))
            return vm_batch_set_bool(b, col, row, v.len == 6, err);
        if (v.kind == VM_JSON_STRING && v.len == 2) /* "" is false to the servers */
            return vm_batch_set_bool(b, col, row, false, err);
        return vm_es_bad(err, who, docid, c, "not a boolean");
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: {
        int64_t x;
        vm_json_num_rc nr = vm_es_num_text(s, v, &t, &n) == 0 ? vm_json_number_i64(t, n, &x)
                                                               : VM_JSON_NUM_SYNTAX;
        if (nr == VM_JSON_NUM_FRACTION)
            return vm_es_bad(err, who, docid, c,
                             "has a fraction (the server truncated it in its index; map the "
                             "field to Double to keep it)");
        if (nr != VM_JSON_NUM_OK)
            return vm_es_bad(err, who, docid, c,
                             nr == VM_JSON_NUM_RANGE ? "integer out of range" : "not an integer");
        if ((rc = vm_batch_set_int(b, col, row, x, err)) != VM_OK)
            return vm_err_prefix(err, "%s: document '%s': ", who, docid);
        return VM_OK;
    }
    case VM_T_FLOAT: {
        float f;
        vm_json_num_rc nr = vm_es_num_text(s, v, &t, &n) == 0 ? vm_json_number_f32(t, n, &f)
                                                               : VM_JSON_NUM_SYNTAX;
        if (nr != VM_JSON_NUM_OK)
            return vm_es_bad(err, who, docid, c,
                             nr == VM_JSON_NUM_RANGE ? "outside the float32 range" : "not a number");
        return vm_batch_set_double(b, col, row, (double)f, err);
    }
    case VM_T_DOUBLE: {
        double d;
        vm_json_num_rc nr = vm_es_num_text(s, v, &t, &n) == 0 ? vm_json_number_f64(t, n, &d)
                                                               : VM_JSON_NUM_SYNTAX;
        if (nr != VM_JSON_NUM_OK)
            return vm_es_bad(err, who, docid, c,
                             nr == VM_JSON_NUM_RANGE ? "outside the double range" : "not a number");
        return vm_batch_set_double(b, col, row, d, err);
    }
    case VM_T_VARCHAR:
        if (v.kind == VM_JSON_NUMBER || v.kind == VM_JSON_TRUE || v.kind == VM_JSON_FALSE)
            /* a keyword given a number is that number's text to the server */
            return vm_batch_set_str(b, col, row, s + v.off, v.len, err);
        if (v.kind != VM_JSON_STRING)
            return vm_es_bad(err, who, docid, c,
                             v.kind == VM_JSON_ARRAY
                                 ? "an array in a single-valued field (map it to an Array type)"
                                 : "not a string");
        vm_buf_clear(&scr->text);
        if ((rc = vm_json_unescape(s + v.off, v.len, &scr->text, err)) != VM_OK)
            return vm_err_prefix(err, "%s: document '%s': field '%s': ", who, docid, c->name);
        return vm_batch_set_str(b, col, row, scr->text.data ? scr->text.data : "", scr->text.len,
                                err);
    case VM_T_JSON:
        return vm_batch_set_str(b, col, row, s + v.off, v.len, err);
    case VM_T_ARRAY:
        if (v.kind == VM_JSON_ARRAY)
            return vm_batch_set_str(b, col, row, s + v.off, v.len, err);
        if (v.kind == VM_JSON_OBJECT)
            return vm_es_bad(err, who, docid, c, "an object in an Array field");
        /* one value is a one-element array to the servers */
        vm_buf_clear(&scr->text);
        vm_buf_putc(&scr->text, '[');
        vm_buf_append(&scr->text, s + v.off, v.len);
        vm_buf_putc(&scr->text, ']');
        if (!vm_buf_ok(&scr->text))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        return vm_batch_set_str(b, col, row, scr->text.data, scr->text.len, err);
    default:
        if (vm_dtype_is_vector(c->type))
            return vm_es_set_vector(b, col, row, s, v, who, docid, err);
        return vm_es_bad(err, who, docid, c, "type not supported by this source");
    }
}

/*
 * vm_mapping.c - resolve a mapping against the source schema: the target
 * schema, the transform program, the collection options, the plan's table.
 *
 * Order of resolution (each step's errors name the mapping key):
 *   1. the document against its typed tables (unknown keys are errors);
 *   2. each `fields` entry to what it refers to: a source field (override,
 *      rename, drop), a path inside a JSON source field or the dynamic
 *      metadata (lift), or nothing (an added field);
 *   3. target fields in order: kept source fields, then lifts, then added
 *      fields; names made valid ('-' '.' -> '_') unless strict;
 *   4. the primary key: kept, moved to another field, or autoID (the
 *      original key dropped or kept under another name);
 *   5. dynamic field, partition key or explicit partitions, shards,
 *      consistency level, indexes;
 *   6. every type change through vm_transform_conversion(): impossible
 *      ones are errors, lossy ones need `lossy: true`;
 *   7. the target schema through vm_schema_validate();
 *   8. the program, the table rows and the resolved mapping.
 */
#include "vm_mapping.h"
#include "vm_buf.h"
#include "vm_json_scan.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_transform.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* ------------------------------------------------------------- tables */

typedef struct vm_mtop {
    int64_t version;
    int64_t sample_rows;
    int unmapped;
    json_t *collection, *primary_key, *fields;
} vm_mtop;

enum { VM_UNMAPPED_KEEP = 0, VM_UNMAPPED_DROP = 1 };

static const vm_conf_entry vm_mtop_table[] = {
    {"version", VM_CT_INT, "1", offsetof(vm_mtop, version), "mapping format version (1)", NULL, 0,
     0, 0},
    {"sample_rows", VM_CT_INT, "100", offsetof(vm_mtop, sample_rows),
     "source rows sampled to infer what schemaless metadata holds (0: none)", NULL, 0, 0,
     1000000},
    {"unmapped", VM_CT_ENUM, "keep", offsetof(vm_mtop, unmapped),
     "source fields no `fields` entry names: keep (as detected) | drop", "keep|drop", 0, 0, 0},
    {"collection", VM_CT_JSON, NULL, offsetof(vm_mtop, collection), "collection options", NULL,
     0, 0, 0},
    {"primary_key", VM_CT_JSON, NULL, offsetof(vm_mtop, primary_key), "primary key options",
     NULL, 0, 0, 0},
    {"fields", VM_CT_JSON, NULL, offsetof(vm_mtop, fields), "field entries", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

static const char *const vm_levels[] = {"Strong", "Session", "Bounded", "Eventually"};

typedef struct vm_mcoll {
    char *name, *description;
    bool strict_names;
    int64_t shards;
    int consistency;
    json_t *dynamic_field;
    char *partition_key;
    int64_t num_partitions;
    char *partitions_from;
    json_t *index;
} vm_mcoll;

static const vm_conf_entry vm_mcoll_table[] = {
    {"name", VM_CT_STRING, NULL, offsetof(vm_mcoll, name),
     "target collection (default: the source's name, '-' and '.' -> '_')", NULL, 0, 1,
     VM_MAX_NAME_LEN},
    {"description", VM_CT_STRING, NULL, offsetof(vm_mcoll, description),
     "collection description", NULL, 0, 0, 0},
    {"strict_names", VM_CT_BOOL, "false", offsetof(vm_mcoll, strict_names),
     "names with '-' or '.' are an error instead of becoming '_'", NULL, 0, 0, 0},
    {"shards", VM_CT_INT, "1", offsetof(vm_mcoll, shards), "shard count", NULL, 0, 1,
     VM_MAX_SHARDS},
    {"consistency_level", VM_CT_ENUM, "Bounded", offsetof(vm_mcoll, consistency),
     "default consistency level of the collection", "Strong|Session|Bounded|Eventually", 0, 0,
     0},
    {"dynamic_field", VM_CT_JSON, NULL, offsetof(vm_mcoll, dynamic_field),
     "true | false: the dynamic field (default: on when the source has schemaless metadata)",
     NULL, 0, 0, 0},
    {"partition_key", VM_CT_STRING, NULL, offsetof(vm_mcoll, partition_key),
     "target field (Int64 or VarChar, not nullable) to use as partition key", NULL, 0, 1,
     VM_MAX_NAME_LEN},
    {"num_partitions", VM_CT_INT, NULL, offsetof(vm_mcoll, num_partitions),
     "partitions behind the partition key (Milvus default 64)", NULL, 0, 1, VM_MAX_PARTITIONS},
    {"partitions_from", VM_CT_STRING, NULL, offsetof(vm_mcoll, partitions_from),
     "target field whose value names each row's partition (explicit partitions)", NULL, 0, 1,
     VM_MAX_NAME_LEN},
    {"index", VM_CT_JSON, NULL, offsetof(vm_mcoll, index),
     "false (default) | true | {create, load, index_type}: index after the data is in", NULL, 0,
     0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

typedef struct vm_mindex {
    bool create, load;
    char *index_type;
} vm_mindex;

static const vm_conf_entry vm_mindex_table[] = {
    {"create", VM_CT_BOOL, "true", offsetof(vm_mindex, create),
     "create an index on every vector field after the data is in", NULL, 0, 0, 0},
    {"load", VM_CT_BOOL, "true", offsetof(vm_mindex, load), "load the collection afterwards",
     NULL, 0, 0, 0},
    {"index_type", VM_CT_STRING, "AUTOINDEX", offsetof(vm_mindex, index_type),
     "index type of dense vector fields (sparse: SPARSE_INVERTED_INDEX)", NULL, 0, 1, 64},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

typedef struct vm_mpk {
    char *field;
    bool auto_id;
    char *keep_original_as;
} vm_mpk;

static const vm_conf_entry vm_mpk_table[] = {
    {"field", VM_CT_STRING, NULL, offsetof(vm_mpk, field),
     "target field that is the primary key (with auto_id: the generated key's name)", NULL, 0,
     1, VM_MAX_NAME_LEN},
    {"auto_id", VM_CT_BOOL, "false", offsetof(vm_mpk, auto_id),
     "Milvus generates Int64 keys; the source's key is dropped or kept_original_as", NULL, 0, 0,
     0},
    {"keep_original_as", VM_CT_STRING, NULL, offsetof(vm_mpk, keep_original_as),
     "with auto_id: keep the source's key values in this field", NULL, 0, 1, VM_MAX_NAME_LEN},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

typedef struct vm_mfe {
    char *source;
    json_t *path;
    char *name, *type, *element_type;
    int64_t max_length, max_capacity, dim;
    json_t *nullable, *def;
    bool lossy, drop;
    int rest;
    char *description, *metric;
} vm_mfe;

enum { VM_REST_KEEP = 0, VM_REST_DROP = 1, VM_REST_DYNAMIC = 2 };

static const vm_conf_entry vm_mfe_table[] = {
    {"source", VM_CT_STRING, NULL, offsetof(vm_mfe, source),
     "source field, or a path into JSON metadata (metadata.author.name); absent: added field",
     NULL, 0, 1, 4096},
    {"path", VM_CT_JSON, NULL, offsetof(vm_mfe, path),
     "keys below `source` as a list (for keys that contain dots)", NULL, 0, 0, 0},
    {"name", VM_CT_STRING, NULL, offsetof(vm_mfe, name), "target field name", NULL, 0, 1,
     VM_MAX_NAME_LEN},
    {"type", VM_CT_STRING, NULL, offsetof(vm_mfe, type), "Milvus type (Int64, VarChar, ...)",
     NULL, 0, 1, 64},
    {"element_type", VM_CT_STRING, NULL, offsetof(vm_mfe, element_type), "Array element type",
     NULL, 0, 1, 64},
    {"max_length", VM_CT_INT, NULL, offsetof(vm_mfe, max_length), "VarChar limit in bytes", NULL,
     0, 1, VM_MAX_VARCHAR},
    {"max_capacity", VM_CT_INT, NULL, offsetof(vm_mfe, max_capacity), "Array capacity", NULL, 0,
     1, VM_MAX_CAPACITY},
    {"dim", VM_CT_INT, NULL, offsetof(vm_mfe, dim), "vector dimension", NULL, 0, 1, VM_MAX_DIM},
    {"nullable", VM_CT_JSON, NULL, offsetof(vm_mfe, nullable), "true | false", NULL, 0, 0, 0},
    {"default", VM_CT_JSON, NULL, offsetof(vm_mfe, def), "value for null or missing values",
     NULL, 0, 0, 0},
    {"lossy", VM_CT_BOOL, "false", offsetof(vm_mfe, lossy),
     "accept a type change that can alter values", NULL, 0, 0, 0},
    {"drop", VM_CT_BOOL, "false", offsetof(vm_mfe, drop), "leave the source field out", NULL, 0,
     0, 0},
    {"rest", VM_CT_ENUM, "keep", offsetof(vm_mfe, rest),
     "JSON fields: what is left after lifts stays (keep), goes (drop), or goes to the dynamic "
     "field (dynamic)",
     "keep|drop|dynamic", 0, 0, 0},
    {"description", VM_CT_STRING, NULL, offsetof(vm_mfe, description), "field description",
     NULL, 0, 0, 0},
    {"metric", VM_CT_STRING, NULL, offsetof(vm_mfe, metric),
     "vector fields: metric of the index vecmig creates", NULL, 0, 1, 32},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* -------------------------------------------------------------- state */

typedef enum { VM_E_FIELD, VM_E_LIFT, VM_E_ADDED, VM_E_META } vm_ekind;
typedef enum { VM_O_FIELD, VM_O_LIFT, VM_O_ADDED, VM_O_AUTOID } vm_okind;

#define VM_SRC_META (-2) /* "source index" of the dynamic metadata */

typedef struct vm_origin {
    vm_okind kind;
    int src;        /* FIELD: source field; LIFT: JSON field or VM_SRC_META */
    int entry;      /* fields[] entry, or -1 */
    bool lossy;     /* a lossy conversion the user accepted */
    bool truncate;  /* VarChar cut to max_length (lossy) */
    bool changed;   /* type or parameters differ from the source: convert */
    bool metric_default; /* no metric from the source or the entry */
    char note[256];
} vm_origin;

typedef struct vm_mctx {
    const char *path;
    const vm_conf_where *where;
    const vm_schema *src;
    const vm_batch *sample;
    vm_mtop top;
    vm_mcoll coll;
    vm_mpk pk;
    vm_mindex index;
    bool index_given;
    vm_mfe *fe;
    size_t nfe;
    vm_ekind *ek;
    int *esrc;      /* entry -> source index / VM_SRC_META / -1 */
    json_t **epath; /* LIFT entries: the key path (array of strings) */
    int *by_src;    /* source index -> its FIELD entry or -1; [nsrc] is $meta */
    int rest_to_meta; /* source index whose rest goes to $meta, or -1 */
    vm_schema *tgt;
    vm_origin *org;
    size_t org_cap;
    vm_mapping_result *out;
} vm_mctx;

/* ---------------------------------------------------------- utilities */

/* "mapping.fields[3].type" (or "fields[3].type" for a file of its own). */
static const char *vm_kp(const vm_mctx *c, char *buf, size_t cap, const char *fmt, ...)
    VM_PRINTF(4, 5);
static const char *vm_kp(const vm_mctx *c, char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = 0;
    if (c->path && *c->path)
        used = (size_t)snprintf(buf, cap, "%s.", c->path);
    if (used >= cap)
        used = cap - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
    return buf;
}

#define VM_KP(c, buf, ...) vm_kp((c), (buf), sizeof(buf), __VA_ARGS__)

static int vm_nomem(vm_err *err) { return vm_err_setc(err, VM_ERR_NOMEM, "out of memory"); }

static void vm_add_warning(vm_mctx *c, const char *fmt, ...) VM_PRINTF(2, 3);
static void vm_add_warning(vm_mctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vm_mapping_result *r = c->out;
    size_t cap = r->nwarnings;
    char *d = vm_strdup(msg);
    if (!d || vm_grow((void **)&r->warnings, &cap, r->nwarnings + 1, sizeof *r->warnings) != 0) {
        vm_free(d);
        return;
    }
    r->warnings[r->nwarnings++] = d;
}

static const char *vm_src_name(const vm_mctx *c, int i)
{
    return i == VM_SRC_META ? VM_META_FIELD : c->src->fields[i].name;
}

/* A JSON pseudo-field standing for a lifted value or the metadata. */
static const vm_field vm_json_any = {.name = (char *)"json", .type = VM_T_JSON, .nullable = true};

/* "a.b.c" from a path array. */
static void vm_path_text(const char *head, const json_t *path, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "%s", head ? head : "");
    size_t i;
    json_t *k;
    json_array_foreach(path, i, k) {
        if (used >= cap)
            break;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? "." : "",
                                 json_string_value(k));
    }
}

/* ---------------------------------------------------- sampled metadata */

typedef struct vm_jstat {
    int64_t rows;    /* sampled rows where the column is not null */
    int64_t present; /* ... where the path has a non-null value */
    int64_t bools, ints, reals, strs, arrs, objs;
    int64_t max_str, max_arr, max_elem_str;
    unsigned elems; /* 1 bool, 2 int, 4 real, 8 string, 16 other */
} vm_jstat;

static void vm_jstat_add(vm_jstat *s, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    s->present++;
    if (json_is_boolean(v)) {
        s->bools++;
    } else if (json_is_integer(v)) {
        s->ints++;
    } else if (json_is_real(v)) {
        s->reals++;
    } else if (json_is_string(v)) {
        s->strs++;
        if ((int64_t)json_string_length(v) > s->max_str)
            s->max_str = (int64_t)json_string_length(v);
    } else if (json_is_array(v)) {
        s->arrs++;
        if ((int64_t)json_array_size(v) > s->max_arr)
            s->max_arr = (int64_t)json_array_size(v);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_boolean(e))
                s->elems |= 1;
            else if (json_is_integer(e))
                s->elems |= 2;
            else if (json_is_real(e))
                s->elems |= 4;
            else if (json_is_string(e)) {
                s->elems |= 8;
                if ((int64_t)json_string_length(e) > s->max_elem_str)
                    s->max_elem_str = (int64_t)json_string_length(e);
            } else
                s->elems |= 16;
        }
    } else {
        s->objs++;
    }
}

static json_t *vm_parse_sampled(const char *text, size_t len)
{
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (!v) /* integers beyond int64: read as reals, which is what they become */
        v = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    return v;
}

/* Stats of the value at `path` inside column `col` over the sample. */
static void vm_jstat_at(const vm_batch *sample, const char *col, const json_t *path,
                        vm_jstat *s)
{
    memset(s, 0, sizeof *s);
    int ci = sample ? vm_batch_col(sample, col) : -1;
    if (ci < 0)
        return;
    for (size_t r = 0; r < sample->nrows; r++) {
        if (vm_batch_is_null(sample, (size_t)ci, r))
            continue;
        size_t len;
        const char *t = vm_batch_get_str(sample, (size_t)ci, r, &len);
        json_t *doc = vm_parse_sampled(t, len);
        if (!doc)
            continue;
        s->rows++;
        const json_t *v = doc;
        size_t i;
        json_t *k;
        json_array_foreach(path, i, k) {
            v = json_is_object(v) ? json_object_get(v, json_string_value(k)) : NULL;
        }
        vm_jstat_add(s, v);
        json_decref(doc);
    }
}

/* The Milvus type for what the sample saw; false when nothing fits. */
static bool vm_infer(const vm_jstat *s, vm_field *f, char *note, size_t cap)
{
    int64_t kinds = (s->bools > 0) + (s->ints + s->reals > 0) + (s->strs > 0) + (s->arrs > 0) +
                    (s->objs > 0);
    f->element_type = VM_T_NONE;
    f->max_length = f->max_capacity = 0;
    if (s->present == 0)
        return false;
    if (kinds > 1) {
        f->type = VM_T_JSON;
        snprintf(note, cap, "mixed kinds of value in the sample: JSON");
        return true;
    }
    if (s->bools) {
        f->type = VM_T_BOOL;
    } else if (s->ints && !s->reals) {
        f->type = VM_T_INT64;
    } else if (s->ints + s->reals) {
        f->type = VM_T_DOUBLE;
    } else if (s->strs) {
        if (s->max_str > VM_MAX_VARCHAR) {
            f->type = VM_T_JSON;
            snprintf(note, cap, "strings over 65,535 bytes in the sample: JSON");
            return true;
        }
        f->type = VM_T_VARCHAR;
        f->max_length = s->max_str * 2 < 64 ? 64 : s->max_str * 2;
        if (f->max_length > VM_MAX_VARCHAR)
            f->max_length = VM_MAX_VARCHAR;
        snprintf(note, cap, "max_length = 2 x longest sampled (%" PRId64 " bytes), at least 64",
                 s->max_str);
        return true;
    } else if (s->arrs) {
        unsigned e = s->elems;
        vm_dtype et = e == 1 ? VM_T_BOOL : e == 2 ? VM_T_INT64 : (e & ~6u) == 0 && e ? VM_T_DOUBLE
                            : e == 8 ? VM_T_VARCHAR : VM_T_NONE;
        if (et == VM_T_NONE || s->max_arr > VM_MAX_CAPACITY || s->max_elem_str > VM_MAX_VARCHAR) {
            f->type = VM_T_JSON;
            snprintf(note, cap, "%s: JSON",
                     e == 0 ? "only empty arrays in the sample" : "arrays Milvus cannot type");
            return true;
        }
        f->type = VM_T_ARRAY;
        f->element_type = et;
        f->max_capacity = s->max_arr * 2 < 4 ? 4 : s->max_arr * 2;
        if (f->max_capacity > VM_MAX_CAPACITY)
            f->max_capacity = VM_MAX_CAPACITY;
        if (et == VM_T_VARCHAR) {
            f->max_length = s->max_elem_str * 2 < 64 ? 64 : s->max_elem_str * 2;
            if (f->max_length > VM_MAX_VARCHAR)
                f->max_length = VM_MAX_VARCHAR;
        }
        snprintf(note, cap, "max_capacity = 2 x longest sampled array (%" PRId64 "), at least 4",
                 s->max_arr);
        return true;
    } else {
        f->type = VM_T_JSON;
    }
    note[0] = '\0';
    return true;
}

/* Largest sampled byte length and null count of a VarChar column. */
static void vm_sample_varchar(const vm_batch *sample, const char *col, int64_t *max_len,
                              int64_t *nulls)
{
    *max_len = -1;
    *nulls = 0;
    int ci = sample ? vm_batch_col(sample, col) : -1;
    if (ci < 0)
        return;
    for (size_t r = 0; r < sample->nrows; r++) {
        if (vm_batch_is_null(sample, (size_t)ci, r)) {
            (*nulls)++;
            continue;
        }
        const vm_column *cc = &sample->cols[ci];
        if (cc->type == VM_T_VARCHAR || cc->type == VM_T_JSON) {
            size_t len;
            vm_batch_get_str(sample, (size_t)ci, r, &len);
            if ((int64_t)len > *max_len)
                *max_len = (int64_t)len;
        }
    }
}

/* Every key path (depth <= 3) of a JSON column's sampled values. */
typedef struct vm_jkey {
    json_t *path; /* array of strings */
    vm_jstat st;
} vm_jkey;

static void vm_walk_keys(const json_t *obj, json_t *prefix, int depth, vm_jkey **keys,
                         size_t *n, size_t *cap)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (strchr(k, '.') || !*k)
            continue; /* such keys can only be named with `path:` */
        json_t *p = json_copy(prefix);
        if (!p)
            return;
        json_array_append_new(p, json_string(k));
        size_t i;
        for (i = 0; i < *n; i++)
            if (json_equal((*keys)[i].path, p))
                break;
        if (i == *n) {
            if (*n >= 256 || vm_grow((void **)keys, cap, *n + 1, sizeof **keys) != 0) {
                json_decref(p);
                continue;
            }
            memset(&(*keys)[i], 0, sizeof **keys);
            (*keys)[i].path = json_incref(p);
            (*n)++;
        }
        vm_jstat_add(&(*keys)[i].st, v);
        if (json_is_object(v) && depth < 3)
            vm_walk_keys(v, p, depth + 1, keys, n, cap);
        json_decref(p);
    }
}

/* --------------------------------------------------------- resolution */

static int vm_parse_entries(vm_mctx *c, vm_err *err)
{
    char kp[256];
    json_t *fields = c->top.fields;
    if (fields && !json_is_array(fields))
        return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "fields"),
                             "expected a list of field entries");
    c->nfe = json_array_size(fields);
    size_t nsrc = c->src->nfields;
    c->fe = vm_calloc(c->nfe + 1, sizeof *c->fe);
    c->ek = vm_calloc(c->nfe + 1, sizeof *c->ek);
    c->esrc = vm_calloc(c->nfe + 1, sizeof *c->esrc);
    c->epath = vm_calloc(c->nfe + 1, sizeof *c->epath);
    c->by_src = vm_malloc((nsrc + 1) * sizeof *c->by_src);
    if (!c->fe || !c->ek || !c->esrc || !c->epath || !c->by_src)
        return vm_nomem(err);
    for (size_t i = 0; i <= nsrc; i++)
        c->by_src[i] = -1;
    const char *alias = c->src->dynamic_alias;
    for (size_t i = 0; i < c->nfe; i++) {
        vm_mfe *e = &c->fe[i];
        char base[64];
        snprintf(base, sizeof base, "fields[%zu]", i);
        int rc = vm_conf_apply_at(vm_mfe_table, json_array_get(fields, i),
                                  VM_KP(c, kp, "%s", base), e, c->where, err);
        if (rc != VM_OK)
            return rc;
        c->esrc[i] = -1;
        if (e->drop && (e->name || e->type || e->nullable || e->def || e->path))
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "%s.drop", base),
                                 "a dropped field takes no other keys than source");
        if (!e->source) {
            if (e->path || e->drop)
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "%s.source", base),
                                     "missing: %s needs the source field it applies to",
                                     e->path ? "path" : "drop");
            c->ek[i] = VM_E_ADDED;
            continue;
        }
        int si = vm_schema_index(c->src, e->source);
        bool is_meta = c->src->enable_dynamic &&
                       (strcmp(e->source, VM_META_FIELD) == 0 || (alias && !strcmp(e->source, alias)));
        if (e->path) {
            if (!json_is_array(e->path) || json_array_size(e->path) == 0)
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "%s.path", base),
                                     "expected a non-empty list of keys");
            size_t k;
            json_t *v;
            json_array_foreach(e->path, k, v) {
                if (!json_is_string(v))
                    return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                         VM_KP(c, kp, "%s.path[%zu]", base, k),
                                         "expected a key (string)");
            }
            if (si < 0 && !is_meta)
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "%s.source", base),
                                     "no source field '%s' to take a path from", e->source);
            c->ek[i] = VM_E_LIFT;
            c->esrc[i] = si >= 0 ? si : VM_SRC_META;
            c->epath[i] = json_incref(e->path);
        } else if (si >= 0) {
            c->ek[i] = VM_E_FIELD;
            c->esrc[i] = si;
        } else if (is_meta) {
            c->ek[i] = VM_E_META;
            c->esrc[i] = VM_SRC_META;
        } else {
            /* head.key.key: a path into a JSON field or the metadata */
            const char *dot = strchr(e->source, '.');
            int hi = -1;
            bool hmeta = false;
            if (dot) {
                char head[VM_MAX_NAME_LEN + 2];
                size_t hl = (size_t)(dot - e->source);
                if (hl <= VM_MAX_NAME_LEN) {
                    memcpy(head, e->source, hl);
                    head[hl] = '\0';
                    hi = vm_schema_index(c->src, head);
                    hmeta = c->src->enable_dynamic &&
                            (!strcmp(head, VM_META_FIELD) || (alias && !strcmp(head, alias)));
                }
            }
            if (hi < 0 && !hmeta) {
                char known[400] = "";
                size_t used = 0;
                for (size_t k = 0; k < nsrc && used < sizeof known - 1; k++)
                    used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                             k ? ", " : "", c->src->fields[k].name);
                if (c->src->enable_dynamic && used < sizeof known - 1)
                    snprintf(known + used, sizeof known - used, ", %s.<key>",
                             alias ? alias : VM_META_FIELD);
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "%s.source", base),
                                     "no source field '%s' (source fields: %s)", e->source,
                                     known);
            }
            json_t *p = json_array();
            if (!p)
                return vm_nomem(err);
            const char *s = dot + 1;
            for (;;) {
                const char *d = strchr(s, '.');
                size_t l = d ? (size_t)(d - s) : strlen(s);
                if (l == 0) {
                    json_decref(p);
                    return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                         VM_KP(c, kp, "%s.source", base),
                                         "'%s' has an empty key; use path: [...] for keys "
                                         "with dots",
                                         e->source);
                }
                json_array_append_new(p, json_stringn(s, l));
                if (!d)
                    break;
                s = d + 1;
            }
            c->ek[i] = VM_E_LIFT;
            c->esrc[i] = hi >= 0 ? hi : VM_SRC_META;
            c->epath[i] = p;
        }
        if (c->ek[i] == VM_E_LIFT && c->esrc[i] >= 0 &&
            c->src->fields[c->esrc[i]].type != VM_T_JSON)
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "%s.source", base),
                                 "'%s' is %s, not JSON: only JSON fields and the dynamic "
                                 "metadata have keys to lift",
                                 c->src->fields[c->esrc[i]].name,
                                 vm_dtype_name(c->src->fields[c->esrc[i]].type));
        if (c->ek[i] == VM_E_LIFT && e->drop)
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "%s.drop", base),
                                 "a lifted key is left out by not listing it");
        if (c->ek[i] == VM_E_FIELD || c->ek[i] == VM_E_META) {
            size_t slot = c->ek[i] == VM_E_META ? nsrc : (size_t)c->esrc[i];
            if (c->by_src[slot] >= 0)
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "%s.source", base),
                                     "'%s' is already mapped by fields[%d] (lift keys out of "
                                     "JSON with source: %s.<key>)",
                                     e->source, c->by_src[slot], e->source);
            c->by_src[slot] = (int)i;
        }
        if (c->ek[i] == VM_E_META && (e->name || e->type || e->nullable || e->def))
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "%s", base),
                                 "the dynamic metadata takes only rest: or drop: (lift its keys "
                                 "with source: %s.<key>)",
                                 e->source);
        bool json_src = c->ek[i] == VM_E_META ||
                        (c->ek[i] == VM_E_FIELD && c->src->fields[c->esrc[i]].type == VM_T_JSON);
        if (e->rest != VM_REST_KEEP && !json_src)
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "%s.rest", base),
                                 "only JSON fields and the dynamic metadata have a rest");
    }
    return VM_OK;
}

/* Target name from a source name: kept, or '-' '.' -> '_' unless strict. */
static int vm_target_name(vm_mctx *c, const char *given, const char *from, const char *key,
                          char **out, vm_err *err)
{
    if (given) {
        if (!vm_name_valid(given))
            return vm_conf_error(c->where, err, VM_ERR_INVALID, key,
                                 "'%s' is not a valid Milvus name (letters, digits and '_', not "
                                 "starting with a digit)",
                                 given);
        if (!(*out = vm_strdup(given)))
            return vm_nomem(err);
        return VM_OK;
    }
    vm_err e2;
    int rc = vm_name_to_milvus(from, c->coll.strict_names, out, &e2);
    if (rc != VM_OK)
        return vm_conf_error(c->where, err, rc, key, "%s; give it a name: {source: %s, name: ...}",
                             e2.msg, from);
    return VM_OK;
}

static int vm_push_field(vm_mctx *c, const vm_field *f, const vm_origin *o, vm_err *err)
{
    int rc = vm_schema_add(c->tgt, f, err);
    if (rc != VM_OK)
        return rc;
    if (vm_grow((void **)&c->org, &c->org_cap, c->tgt->nfields, sizeof *c->org) != 0)
        return vm_nomem(err);
    c->org[c->tgt->nfields - 1] = *o;
    return VM_OK;
}

static void vm_pop_field(vm_mctx *c, size_t i)
{
    vm_schema_remove(c->tgt, i);
    memmove(&c->org[i], &c->org[i + 1], (c->tgt->nfields - i) * sizeof *c->org);
}

/* Type, parameters, nullability, default, description, metric of entry e
 * onto f (which starts as the source's field or an inferred one). */
static int vm_apply_entry(vm_mctx *c, size_t ei, vm_field *f, bool *changed, vm_err *err)
{
    char kp[256];
    const vm_mfe *e = &c->fe[ei];
    vm_dtype old_type = f->type;
    if (e->type) {
        vm_dtype t = vm_dtype_parse(e->type);
        if (t == VM_T_NONE) {
            char names[512] = "";
            size_t used = 0;
            for (int k = 1; k < VM_T__COUNT && used < sizeof names - 1; k++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                         k > 1 ? ", " : "", vm_dtype_name((vm_dtype)k));
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].type", ei),
                                 "unknown type '%s' (Milvus types, case-sensitive: %s)",
                                 e->type, names);
        }
        if (t != f->type) {
            f->type = t;
            *changed = true;
            if (t != VM_T_VARCHAR && t != VM_T_ARRAY)
                f->max_length = 0;
            if (t != VM_T_ARRAY) {
                f->element_type = VM_T_NONE;
                f->max_capacity = 0;
            }
            if (!vm_dtype_is_dense_vector(t))
                f->dim = vm_dtype_is_dense_vector(old_type) ? f->dim : 0;
            if (t == VM_T_VARCHAR && !f->max_length)
                f->max_length = old_type == VM_T_JSON || old_type == VM_T_ARRAY ? VM_MAX_VARCHAR
                                                                                 : 64;
        }
    }
    if (e->element_type) {
        vm_dtype t = vm_dtype_parse(e->element_type);
        if (t == VM_T_NONE || !vm_dtype_is_scalar_element(t))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].element_type", ei),
                                 "'%s' is not an Array element type (Bool, Int8, Int16, Int32, "
                                 "Int64, Float, Double, VarChar)",
                                 e->element_type);
        if (f->type != VM_T_ARRAY)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].element_type", ei),
                                 "only Array fields have an element type");
        *changed |= t != f->element_type;
        f->element_type = t;
    }
    if (f->type == VM_T_ARRAY && f->element_type == VM_T_NONE)
        return vm_conf_error(c->where, err, VM_ERR_INVALID,
                             VM_KP(c, kp, "fields[%zu].element_type", ei),
                             "missing: an Array needs element_type");
    if (f->type == VM_T_ARRAY && !f->max_capacity && !e->max_capacity)
        return vm_conf_error(c->where, err, VM_ERR_INVALID,
                             VM_KP(c, kp, "fields[%zu].max_capacity", ei),
                             "missing: an Array needs max_capacity");
    if (f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR && !f->max_length &&
        !e->max_length)
        f->max_length = 64;
    if (e->max_length) {
        if (f->type != VM_T_VARCHAR &&
            !(f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].max_length", ei),
                                 "only VarChar fields and Array<VarChar> have max_length");
        *changed |= e->max_length != f->max_length;
        f->max_length = e->max_length;
    }
    if (e->max_capacity) {
        if (f->type != VM_T_ARRAY)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].max_capacity", ei),
                                 "only Array fields have max_capacity");
        *changed |= e->max_capacity != f->max_capacity;
        f->max_capacity = e->max_capacity;
    }
    if (e->dim) {
        if (!vm_dtype_is_dense_vector(f->type))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].dim", ei),
                                 "only dense vector fields have dim");
        *changed |= e->dim != f->dim;
        f->dim = e->dim;
    }
    if (e->nullable) {
        if (!json_is_boolean(e->nullable))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].nullable", ei),
                                 "expected true or false");
        f->nullable = json_is_true(e->nullable);
    }
    if (e->def)
        f->default_value = e->def; /* borrowed: vm_schema_add copies */
    if (e->description)
        f->description = e->description;
    if (e->metric) {
        if (!vm_dtype_is_vector(f->type))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].metric", ei),
                                 "only vector fields have a metric");
        f->metric = e->metric;
    }
    return VM_OK;
}

/* Kept source fields, lifts, added fields, in that order. */
static int vm_build_fields(vm_mctx *c, vm_err *err)
{
    char kp[256];
    int rc;
    const vm_schema *s = c->src;
    c->rest_to_meta = -1;
    for (size_t k = 0; k < s->nfields; k++) {
        const vm_field *sf = &s->fields[k];
        int ei = c->by_src[k];
        const vm_mfe *e = ei >= 0 ? &c->fe[ei] : NULL;
        if (sf->primary && sf->auto_id) {
            /* the source's own generated key: autoID in the target too */
            if (e && (e->drop || e->type))
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "fields[%d]", ei),
                                     "'%s' is the autoID key vecmig adds for this source; "
                                     "rename it or choose primary_key.field",
                                     sf->name);
            vm_field f = *sf;
            char *name = NULL;
            if ((rc = vm_target_name(c, e ? e->name : NULL, sf->name,
                                     VM_KP(c, kp, "fields[%d].name", ei), &name, err)) != VM_OK)
                return rc;
            f.name = name;
            vm_origin o = {.kind = VM_O_AUTOID, .src = (int)k, .entry = ei};
            rc = vm_push_field(c, &f, &o, err);
            vm_free(name);
            if (rc != VM_OK)
                return rc;
            continue;
        }
        if ((e && e->drop) || (!e && c->top.unmapped == VM_UNMAPPED_DROP))
            continue;
        if (sf->unsupported && !(e && e->type))
            return vm_conf_error(c->where, err, VM_ERR_UNSUPPORTED,
                                 e ? VM_KP(c, kp, "fields[%d]", ei) : VM_KP(c, kp, "fields"),
                                 "source field '%s' has a type Milvus has no counterpart for "
                                 "(%s); drop it ({source: %s, drop: true}) or keep its text "
                                 "form ({source: %s, type: VarChar})",
                                 sf->name, sf->description ? sf->description : "?", sf->name,
                                 sf->name);
        if (e && sf->type == VM_T_JSON && e->rest != VM_REST_KEEP) {
            if (e->rest == VM_REST_DYNAMIC) {
                if (c->rest_to_meta >= 0)
                    return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                         VM_KP(c, kp, "fields[%d].rest", ei),
                                         "only one JSON field can go to the dynamic field");
                c->rest_to_meta = (int)k;
            }
            continue;
        }
        vm_field f = *sf; /* a source's partition key stays one (Milvus sources) */
        char *name = NULL;
        char kname[256];
        if (ei >= 0)
            VM_KP(c, kname, "fields[%d].name", ei);
        else
            VM_KP(c, kname, "fields");
        if ((rc = vm_target_name(c, e ? e->name : NULL, sf->name, kname, &name, err)) != VM_OK)
            return rc;
        f.name = name;
        bool changed = false;
        if (e && (rc = vm_apply_entry(c, (size_t)ei, &f, &changed, err)) != VM_OK) {
            vm_free(name);
            return rc;
        }
        vm_origin o = {.kind = VM_O_FIELD, .src = (int)k, .entry = ei, .changed = changed};
        rc = vm_push_field(c, &f, &o, err);
        vm_free(name);
        if (rc != VM_OK)
            return rc;
    }
    /* the dynamic metadata: kept unless its entry (or unmapped: drop) leaves it out */
    if (s->enable_dynamic) {
        int ei = c->by_src[s->nfields];
        bool dropped = ei >= 0 ? c->fe[ei].drop || c->fe[ei].rest == VM_REST_DROP
                               : c->top.unmapped == VM_UNMAPPED_DROP;
        if (!dropped && c->rest_to_meta >= 0)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%d].rest", c->by_src[c->rest_to_meta]),
                                 "the source's dynamic metadata already fills the dynamic "
                                 "field; leave it out first (source: %s, rest: drop)",
                                 s->dynamic_alias ? s->dynamic_alias : VM_META_FIELD);
        if (!dropped)
            c->rest_to_meta = VM_SRC_META;
    }
    /* lifts */
    for (size_t i = 0; i < c->nfe; i++) {
        if (c->ek[i] != VM_E_LIFT)
            continue;
        const vm_mfe *e = &c->fe[i];
        const char *col = vm_src_name(c, c->esrc[i]);
        vm_field f = {.nullable = true};
        vm_origin o = {.kind = VM_O_LIFT, .src = c->esrc[i], .entry = (int)i, .changed = true};
        char ptext[512];
        if (e->path)
            vm_path_text(e->source, e->path, ptext, sizeof ptext);
        else
            snprintf(ptext, sizeof ptext, "%s", e->source);
        if (!e->type) {
            vm_jstat st;
            vm_jstat_at(c->sample, col, c->epath[i], &st);
            char why[160] = "";
            if (!vm_infer(&st, &f, why, sizeof why))
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "fields[%zu].type", i),
                                     "missing, and '%s' has no value in the %" PRId64
                                     " sampled rows to infer it from; give its type",
                                     ptext, c->sample ? (int64_t)c->sample->nrows : 0);
            snprintf(o.note, sizeof o.note,
                     "type inferred from %" PRId64 " sampled rows (value in %" PRId64 ")%s%s",
                     st.rows, st.present, why[0] ? "; " : "", why);
        }
        /* lifted keys stay nullable unless the entry says otherwise: schemaless
         * metadata can always lack one */
        f.nullable = true;
        const char *last = json_string_value(json_array_get(c->epath[i],
                                                            json_array_size(c->epath[i]) - 1));
        char *name = NULL;
        if ((rc = vm_target_name(c, e->name, last, VM_KP(c, kp, "fields[%zu].name", i), &name,
                                 err)) != VM_OK)
            return rc;
        f.name = name;
        bool changed = false;
        if ((rc = vm_apply_entry(c, i, &f, &changed, err)) != VM_OK ||
            (rc = vm_push_field(c, &f, &o, err)) != VM_OK) {
            vm_free(name);
            return rc;
        }
        vm_free(name);
    }
    /* added fields */
    for (size_t i = 0; i < c->nfe; i++) {
        if (c->ek[i] != VM_E_ADDED)
            continue;
        const vm_mfe *e = &c->fe[i];
        if (!e->name)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].name", i),
                                 "missing: an added field (no source) needs a name");
        if (!e->type)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%zu].type", i),
                                 "missing: an added field (no source) needs a type");
        vm_field f = {.nullable = false};
        vm_origin o = {.kind = VM_O_ADDED, .src = -1, .entry = (int)i};
        char *name = NULL;
        if ((rc = vm_target_name(c, e->name, NULL, VM_KP(c, kp, "fields[%zu].name", i), &name,
                                 err)) != VM_OK)
            return rc;
        f.name = name;
        bool changed = false;
        rc = vm_apply_entry(c, i, &f, &changed, err);
        if (rc == VM_OK && vm_dtype_is_vector(f.type))
            rc = vm_conf_error(c->where, err, VM_ERR_INVALID,
                               VM_KP(c, kp, "fields[%zu].type", i),
                               "an added field cannot be a vector (the source has no values "
                               "for it)");
        if (rc == VM_OK && !f.nullable && (!e->def || json_is_null(e->def)))
            rc = vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "fields[%zu]", i),
                               "an added field needs default: <value> or nullable: true");
        if (rc == VM_OK) {
            snprintf(o.note, sizeof o.note, "added: %s", e->def ? "default value" : "null");
            rc = vm_push_field(c, &f, &o, err);
        }
        vm_free(name);
        if (rc != VM_OK)
            return rc;
    }
    /* one name, one field */
    for (size_t i = 0; i < c->tgt->nfields; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->tgt->fields[i].name, c->tgt->fields[j].name)) {
                int ei = c->org[i].entry >= 0 ? c->org[i].entry : c->org[j].entry;
                return vm_conf_error(
                    c->where, err, VM_ERR_INVALID,
                    ei >= 0 ? VM_KP(c, kp, "fields[%d].name", ei) : VM_KP(c, kp, "fields"),
                    "two target fields are named '%s'; rename one", c->tgt->fields[i].name);
            }
    return VM_OK;
}

static int vm_find_target(const vm_mctx *c, const char *name)
{
    return vm_schema_index(c->tgt, name);
}

static int vm_resolve_pk(vm_mctx *c, vm_err *err)
{
    char kp[256];
    vm_schema *t = c->tgt;
    int cur = -1;
    for (size_t i = 0; i < t->nfields; i++)
        if (t->fields[i].primary)
            cur = (int)i;
    const vm_field *spk = vm_schema_primary(c->src);
    if (c->pk.keep_original_as && !c->pk.auto_id)
        return vm_conf_error(c->where, err, VM_ERR_INVALID,
                             VM_KP(c, kp, "primary_key.keep_original_as"),
                             "applies only with auto_id: true");
    if (!c->pk.auto_id) {
        if (!c->pk.field) {
            if (cur < 0)
                return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "primary_key"),
                                     "the source's primary key '%s' is dropped; set "
                                     "primary_key.field to another field, or auto_id: true",
                                     spk ? spk->name : "?");
            return VM_OK;
        }
        int want = vm_find_target(c, c->pk.field);
        if (want < 0)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "primary_key.field"),
                                 "no target field '%s'", c->pk.field);
        if (want == cur)
            return VM_OK;
        vm_field *w = &t->fields[want];
        if (w->type != VM_T_INT64 && w->type != VM_T_VARCHAR)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "primary_key.field"),
                                 "'%s' is %s; a primary key must be Int64 or VarChar",
                                 w->name, vm_dtype_name(w->type));
        if (w->nullable)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "primary_key.field"),
                                 "'%s' is nullable; a primary key cannot be (set nullable: "
                                 "false on its entry)",
                                 w->name);
        w->primary = true;
        w->auto_id = false;
        snprintf(c->org[want].note + strlen(c->org[want].note),
                 sizeof c->org[want].note - strlen(c->org[want].note), "%sprimary key",
                 c->org[want].note[0] ? "; " : "");
        if (cur >= 0) {
            if (c->org[cur].kind == VM_O_AUTOID) {
                vm_pop_field(c, (size_t)cur);
            } else {
                t->fields[cur].primary = false;
                t->fields[cur].auto_id = false;
            }
        }
        return VM_OK;
    }
    /* auto_id */
    if (cur >= 0 && c->org[cur].kind == VM_O_AUTOID) {
        if (c->pk.field && strcmp(c->pk.field, t->fields[cur].name) != 0) {
            if (!vm_name_valid(c->pk.field))
                return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                     VM_KP(c, kp, "primary_key.field"),
                                     "'%s' is not a valid Milvus name", c->pk.field);
            char *n = vm_strdup(c->pk.field);
            if (!n)
                return vm_nomem(err);
            vm_free(t->fields[cur].name);
            t->fields[cur].name = n;
        }
        return VM_OK;
    }
    if (!c->pk.keep_original_as && spk && !spk->auto_id)
        vm_add_warning(c, "primary_key.auto_id: the source's key '%s' is not kept "
                          "(keep_original_as); a task retried after a crash cannot remove "
                          "the rows it already wrote, and the report would show such "
                          "duplicates as a count mismatch",
                       spk->name);
    const char *name = c->pk.field ? c->pk.field
                       : cur >= 0  ? t->fields[cur].name
                       : spk       ? spk->name
                                   : "id";
    char *keyname = vm_strdup(name);
    if (!keyname)
        return vm_nomem(err);
    int rc = VM_OK;
    if (cur >= 0) {
        if (c->pk.keep_original_as) {
            if (!vm_name_valid(c->pk.keep_original_as)) {
                rc = vm_conf_error(c->where, err, VM_ERR_INVALID,
                                   VM_KP(c, kp, "primary_key.keep_original_as"),
                                   "'%s' is not a valid Milvus name", c->pk.keep_original_as);
                goto done;
            }
            char *n = vm_strdup(c->pk.keep_original_as);
            if (!n) {
                rc = vm_nomem(err);
                goto done;
            }
            vm_free(t->fields[cur].name);
            t->fields[cur].name = n;
            t->fields[cur].primary = false;
            snprintf(c->org[cur].note, sizeof c->org[cur].note,
                     "the source's key, kept beside the autoID key");
        } else {
            vm_pop_field(c, (size_t)cur);
        }
    }
    if (vm_find_target(c, keyname) >= 0) {
        rc = vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "primary_key.field"),
                           "'%s' is already a field; name the autoID key with primary_key.field",
                           keyname);
        goto done;
    }
    if (!vm_name_valid(keyname)) {
        rc = vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "primary_key.field"),
                           "'%s' is not a valid Milvus name", keyname);
        goto done;
    }
    vm_field f = {.name = keyname, .type = VM_T_INT64, .primary = true, .auto_id = true,
                  .description = (char *)"autoID primary key"};
    vm_origin o = {.kind = VM_O_AUTOID, .src = -1, .entry = -1};
    snprintf(o.note, sizeof o.note, "autoID: Milvus generates the keys");
    if ((rc = vm_push_field(c, &f, &o, err)) != VM_OK)
        goto done;
    /* move it to the front */
    size_t last = t->nfields - 1;
    vm_field kf = t->fields[last];
    vm_origin ko = c->org[last];
    memmove(&t->fields[1], &t->fields[0], last * sizeof *t->fields);
    memmove(&c->org[1], &c->org[0], last * sizeof *c->org);
    t->fields[0] = kf;
    c->org[0] = ko;
done:
    vm_free(keyname);
    return rc;
}

static bool vm_metric_fits(vm_dtype t, const char *m)
{
    if (t == VM_T_BINARY_VECTOR)
        return !strcmp(m, "HAMMING") || !strcmp(m, "JACCARD");
    if (t == VM_T_SPARSE_FLOAT_VECTOR)
        return !strcmp(m, "IP");
    return !strcmp(m, "COSINE") || !strcmp(m, "L2") || !strcmp(m, "IP");
}

/* The collection's name: given (valid as is), or the source's mapped. */
static int vm_resolve_name(vm_mctx *c, vm_err *err)
{
    char kp[256];
    int rc;
    vm_schema *t = c->tgt;
    /* name */
    char *name = NULL;
    if (c->coll.name) {
        if (!vm_name_valid(c->coll.name))
            return vm_conf_error(c->where, err, VM_ERR_INVALID, VM_KP(c, kp, "collection.name"),
                                 "'%s' is not a valid Milvus name (letters, digits and '_', not "
                                 "starting with a digit)",
                                 c->coll.name);
        name = vm_strdup(c->coll.name);
    } else {
        vm_err e2;
        if ((rc = vm_name_to_milvus(c->src->collection, c->coll.strict_names, &name, &e2)) !=
            VM_OK)
            return vm_conf_error(c->where, err, rc, VM_KP(c, kp, "collection.name"),
                                 "source collection: %s; set collection.name", e2.msg);
    }
    if (!name)
        return vm_nomem(err);
    vm_free(t->collection);
    t->collection = name;
    if (c->coll.description) {
        vm_free(t->description);
        if (!(t->description = vm_strdup(c->coll.description)))
            return vm_nomem(err);
    }
    return VM_OK;
}

static int vm_resolve_collection(vm_mctx *c, vm_err *err)
{
    char kp[256];
    int rc;
    vm_schema *t = c->tgt;
    vm_mapping_result *r = c->out;
    /* dynamic field */
    if (c->coll.dynamic_field && !json_is_boolean(c->coll.dynamic_field))
        return vm_conf_error(c->where, err, VM_ERR_INVALID,
                             VM_KP(c, kp, "collection.dynamic_field"), "expected true or false");
    bool want_meta = c->rest_to_meta != -1;
    if (c->coll.dynamic_field) {
        t->enable_dynamic = json_is_true(c->coll.dynamic_field);
        if (!t->enable_dynamic && c->rest_to_meta >= 0)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.dynamic_field"),
                                 "false, but fields[%d] sends its rest to the dynamic field",
                                 c->by_src[c->rest_to_meta]);
        if (!t->enable_dynamic && c->rest_to_meta == VM_SRC_META)
            c->rest_to_meta = -1; /* the metadata's rest is dropped */
    } else {
        t->enable_dynamic = want_meta;
    }
    /* partition key: the mapping's choice replaces the source's */
    if (c->coll.partition_key || c->coll.partitions_from)
        for (size_t i = 0; i < t->nfields; i++)
            t->fields[i].partition_key = false;
    bool src_pkey = false;
    for (size_t i = 0; i < t->nfields; i++)
        src_pkey |= t->fields[i].partition_key;
    if (c->coll.partition_key) {
        int i = vm_find_target(c, c->coll.partition_key);
        if (i < 0)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partition_key"),
                                 "no target field '%s'", c->coll.partition_key);
        vm_field *f = &t->fields[i];
        if (f->type != VM_T_INT64 && f->type != VM_T_VARCHAR)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partition_key"),
                                 "'%s' is %s; a partition key must be Int64 or VarChar", f->name,
                                 vm_dtype_name(f->type));
        if (f->nullable)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partition_key"),
                                 "'%s' is nullable; a partition key cannot be (nullable: false "
                                 "on its entry, with a default if values may be missing)",
                                 f->name);
        if (f->primary)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partition_key"),
                                 "'%s' is the primary key; Milvus needs another field", f->name);
        f->partition_key = true;
    } else if (c->coll.num_partitions && !src_pkey) {
        return vm_conf_error(c->where, err, VM_ERR_INVALID,
                             VM_KP(c, kp, "collection.num_partitions"),
                             "applies only with collection.partition_key");
    }
    if (c->coll.partitions_from) {
        if (c->coll.partition_key)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partitions_from"),
                                 "Milvus does not allow explicit partitions with a partition "
                                 "key; choose one");
        int i = vm_find_target(c, c->coll.partitions_from);
        if (i < 0)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partitions_from"),
                                 "no target field '%s'", c->coll.partitions_from);
        if (t->fields[i].type != VM_T_INT64 && t->fields[i].type != VM_T_VARCHAR)
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "collection.partitions_from"),
                                 "'%s' is %s; partitions are named from Int64 or VarChar values",
                                 t->fields[i].name, vm_dtype_name(t->fields[i].type));
        if (!(t->partition_field = vm_strdup(t->fields[i].name)))
            return vm_nomem(err);
    }
    /* params */
    r->params = json_object();
    if (!r->params)
        return vm_nomem(err);
    json_object_set_new(r->params, "shardsNum", json_integer(c->coll.shards));
    json_object_set_new(r->params, "consistencyLevel", json_string(vm_levels[c->coll.consistency]));
    if (c->coll.partition_key || src_pkey)
        json_object_set_new(r->params, "partitionsNum",
                            json_integer(c->coll.num_partitions ? c->coll.num_partitions : 64));
    /* index */
    json_t *ix = c->coll.index;
    if (!ix || json_is_boolean(ix)) {
        c->index.create = c->index.load = json_is_true(ix);
        if (!(c->index.index_type = vm_strdup("AUTOINDEX")))
            return vm_nomem(err);
    } else if ((rc = vm_conf_apply_at(vm_mindex_table, ix, VM_KP(c, kp, "collection.index"),
                                      &c->index, c->where, err)) != VM_OK) {
        return rc;
    }
    json_t *fields = json_object();
    r->index = json_pack("{s:b, s:b, s:o}", "create", c->index.create, "load", c->index.load,
                         "fields", fields);
    if (!r->index)
        return vm_nomem(err);
    for (size_t i = 0; i < t->nfields; i++) {
        vm_field *f = &t->fields[i];
        if (!vm_dtype_is_vector(f->type))
            continue;
        const char *m = f->metric;
        if (!m)
            m = f->type == VM_T_BINARY_VECTOR ? "HAMMING"
                : f->type == VM_T_SPARSE_FLOAT_VECTOR ? "IP" : "COSINE";
        if (!vm_metric_fits(f->type, m)) {
            int ei = c->org[i].entry;
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 ei >= 0 ? VM_KP(c, kp, "fields[%d].metric", ei)
                                         : VM_KP(c, kp, "fields"),
                                 "metric '%s' does not fit %s field '%s' (%s)", m,
                                 vm_dtype_name(f->type), f->name,
                                 f->type == VM_T_BINARY_VECTOR ? "HAMMING or JACCARD"
                                 : f->type == VM_T_SPARSE_FLOAT_VECTOR ? "IP"
                                                                        : "COSINE, L2 or IP");
        }
        const char *itype = f->type == VM_T_SPARSE_FLOAT_VECTOR ? "SPARSE_INVERTED_INDEX"
                            : f->type == VM_T_BINARY_VECTOR && !strcmp(c->index.index_type,
                                                                       "AUTOINDEX")
                                ? "BIN_FLAT"
                                : c->index.index_type;
        json_object_set_new(fields, f->name,
                            json_pack("{s:s, s:s}", "metric", m, "index_type", itype));
        if (!f->metric) {
            c->org[i].metric_default = true;
            if (!(f->metric = vm_strdup(m)))
                return vm_nomem(err);
        }
    }
    return VM_OK;
}

/* Conversions: impossible ones fail, lossy ones need lossy: true. */
static int vm_check_conversions(vm_mctx *c, vm_err *err)
{
    char kp[256];
    vm_schema *t = c->tgt;
    for (size_t i = 0; i < t->nfields; i++) {
        vm_field *f = &t->fields[i];
        vm_origin *o = &c->org[i];
        if (o->kind != VM_O_FIELD && o->kind != VM_O_LIFT)
            continue;
        const vm_field *from = o->kind == VM_O_LIFT ? &vm_json_any : &c->src->fields[o->src];
        const vm_mfe *e = o->entry >= 0 ? &c->fe[o->entry] : NULL;
        const char *note = NULL;
        vm_conv_kind k = vm_transform_conversion(from, f, &note);
        /* the key that asked for the change: a dim that differs, else the
         * type, else the size keys */
        const char *key = e && e->dim && from->dim && e->dim != from->dim ? "dim"
                          : e && e->type                                  ? "type"
                          : e && e->element_type                          ? "element_type"
                                                                          : "max_length";
        if (k == VM_CONV_NONE) {
            char ft[96] = "", tt[96];
            if (o->kind != VM_O_LIFT)
                vm_field_type_text(from, ft, sizeof ft);
            vm_field_type_text(f, tt, sizeof tt);
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%d].%s", o->entry, key),
                                 "%s%s%s cannot become %s%s%s",
                                 o->kind == VM_O_LIFT ? "JSON value" : "source", *ft ? " " : "",
                                 ft, tt, note ? ": " : "", note ? note : "");
        }
        bool lossy = k == VM_CONV_LOSSY;
        /* VarChar shorter than what the sample holds: values would be cut */
        if (o->kind == VM_O_FIELD && f->type == VM_T_VARCHAR && from->type == VM_T_VARCHAR &&
            f->max_length < from->max_length) {
            int64_t mx, nulls;
            vm_sample_varchar(c->sample, from->name, &mx, &nulls);
            if (mx > f->max_length) {
                lossy = true;
                o->truncate = true;
                note = "shorter than the longest sampled value: longer values are cut";
            } else {
                snprintf(o->note, sizeof o->note,
                         "max_length %" PRId64 " < source's %" PRId64
                         ": a longer value fails its task",
                         f->max_length, from->max_length);
            }
        }
        if (lossy && !(e && e->lossy))
            return vm_conf_error(c->where, err, VM_ERR_INVALID,
                                 VM_KP(c, kp, "fields[%d].%s", o->entry, key),
                                 "%s -> %s is lossy (%s); set lossy: true to accept it",
                                 vm_dtype_name(from->type), vm_dtype_name(f->type),
                                 note ? note : "values may change");
        if (lossy) {
            o->lossy = true;
            snprintf(o->note, sizeof o->note, "LOSSY: %s", note ? note : "values may change");
            vm_add_warning(c, "field '%s': %s -> %s is lossy (%s); accepted by lossy: true",
                           f->name, vm_dtype_name(from->type), vm_dtype_name(f->type),
                           note ? note : "values may change");
        } else if (e && e->lossy && o->kind == VM_O_FIELD) {
            vm_add_warning(c, "field '%s': lossy: true, but the conversion is not lossy", f->name);
        }
        /* sampled nulls into a field that takes none */
        if (o->kind == VM_O_FIELD && !f->nullable && !f->default_value && !f->primary &&
            !vm_dtype_is_vector(f->type)) {
            int64_t mx, nulls;
            vm_sample_varchar(c->sample, from->name, &mx, &nulls);
            if (nulls > 0)
                vm_add_warning(c, "field '%s' is not nullable and has no default, but %" PRId64
                                  " of %zu sampled rows are null there: those rows will fail",
                               f->name, nulls, c->sample->nrows);
        }
        if (o->kind == VM_O_FIELD && from->type == f->type && !o->truncate)
            o->changed = false;
        else if (o->kind == VM_O_FIELD)
            o->changed = true;
        if (o->kind == VM_O_FIELD && o->changed && !o->lossy && !o->note[0])
            snprintf(o->note, sizeof o->note, "%s -> %s: %s", vm_dtype_name(from->type),
                     vm_dtype_name(f->type),
                     k == VM_CONV_EXACT ? "exact"
                                        : "checked (a value that does not fit fails its task)");
    }
    return VM_OK;
}

/* A key left in the dynamic field that has a target field's name would make
 * the row carry that key twice: refuse it at plan time when the sample shows
 * it (the sink refuses it at run time too). The rest is computed exactly as
 * the workers will: the sampled value minus the lifted paths. */
static int vm_check_meta_clash(vm_mctx *c, vm_err *err)
{
    char kp[256];
    int src = c->rest_to_meta;
    if (!c->tgt->enable_dynamic || src == -1 || !c->sample)
        return VM_OK;
    int ci = vm_batch_col(c->sample, vm_src_name(c, src));
    if (ci < 0)
        return VM_OK;
    size_t np = 0;
    vm_json_path paths[VM_MAX_FIELDS];
    const char *keys[VM_MAX_FIELDS][16];
    for (size_t i = 0; i < c->tgt->nfields && np < VM_MAX_FIELDS; i++) {
        if (c->org[i].kind != VM_O_LIFT || c->org[i].src != src)
            continue;
        json_t *p = c->epath[c->org[i].entry];
        size_t d = json_array_size(p) < 16 ? json_array_size(p) : 16;
        for (size_t k = 0; k < d; k++)
            keys[np][k] = json_string_value(json_array_get(p, k));
        paths[np].keys = keys[np];
        paths[np].depth = d;
        np++;
    }
    int rc = VM_OK;
    vm_buf rest;
    vm_buf_init(&rest);
    for (size_t r = 0; r < c->sample->nrows && rc == VM_OK; r++) {
        if (vm_batch_is_null(c->sample, (size_t)ci, r))
            continue;
        size_t len;
        const char *t = vm_batch_get_str(c->sample, (size_t)ci, r, &len);
        vm_err ignore;
        vm_buf_clear(&rest);
        if (vm_json_remove(t, len, paths, np, &rest, NULL, &ignore) != VM_OK)
            continue; /* not valid JSON: the run reports it */
        json_t *doc = vm_parse_sampled(rest.data, rest.len);
        const char *k;
        json_t *v;
        if (json_is_object(doc))
            json_object_foreach(doc, k, v) {
                int ti = vm_find_target(c, k);
                if (ti < 0)
                    continue;
                int ei = c->org[ti].entry;
                rc = vm_conf_error(
                    c->where, err, VM_ERR_INVALID,
                    ei >= 0 ? VM_KP(c, kp, "fields[%d].name", ei) : VM_KP(c, kp, "fields"),
                    "field '%s' has the name of a key that stays in the dynamic field (%s.%s, "
                    "sampled row %zu); rename the field, or lift or drop that key",
                    k, src == VM_SRC_META && c->src->dynamic_alias ? c->src->dynamic_alias
                                                                   : vm_src_name(c, src),
                    k, r);
                break;
            }
        json_decref(doc);
    }
    vm_buf_release(&rest);
    return rc;
}

/* ------------------------------------------------------------ outputs */

static json_t *vm_remove_paths(const vm_mctx *c, int src)
{
    json_t *rm = json_array();
    for (size_t i = 0; rm && i < c->tgt->nfields; i++)
        if (c->org[i].kind == VM_O_LIFT && c->org[i].src == src)
            json_array_append(rm, c->epath[c->org[i].entry]);
    return rm;
}

static int vm_build_program(vm_mctx *c, vm_err *err)
{
    json_t *steps = json_array();
    c->out->program = json_pack("{s:o}", "steps", steps);
    if (!c->out->program)
        return vm_nomem(err);
    const vm_schema *t = c->tgt;
    for (size_t i = 0; i < t->nfields; i++) {
        const vm_field *f = &t->fields[i];
        const vm_origin *o = &c->org[i];
        json_t *st = NULL;
        switch (o->kind) {
        case VM_O_AUTOID:
            continue;
        case VM_O_FIELD: {
            const char *sn = c->src->fields[o->src].name;
            json_t *rm = f->type == VM_T_JSON && c->src->fields[o->src].type == VM_T_JSON
                             ? vm_remove_paths(c, o->src)
                             : NULL;
            if (rm && json_array_size(rm))
                st = json_pack("{s:s, s:s, s:s, s:O}", "op", "rest", "target", f->name, "source",
                               sn, "remove", rm);
            else
                st = json_pack("{s:s, s:s, s:s}", "op", o->changed ? "convert" : "copy",
                               "target", f->name, "source", sn);
            json_decref(rm);
            break;
        }
        case VM_O_LIFT:
            st = json_pack("{s:s, s:s, s:s, s:O}", "op", "lift", "target", f->name, "source",
                           vm_src_name(c, o->src), "path", c->epath[o->entry]);
            break;
        case VM_O_ADDED:
            st = json_pack("{s:s, s:s, s:O}", "op", "const", "target", f->name, "value",
                           f->default_value ? f->default_value : json_null());
            break;
        }
        if (!st)
            return vm_nomem(err);
        if (o->lossy)
            json_object_set_new(st, "lossy", json_true());
        if (o->truncate)
            json_object_set_new(st, "truncate", json_true());
        if (f->default_value && !json_is_null(f->default_value) && o->kind != VM_O_ADDED)
            json_object_set(st, "default", f->default_value);
        json_array_append_new(steps, st);
    }
    if (t->enable_dynamic && c->rest_to_meta != -1) {
        int s = c->rest_to_meta;
        json_t *rm = vm_remove_paths(c, s);
        json_t *st = rm && (json_array_size(rm) || s != VM_SRC_META)
                         ? json_pack("{s:s, s:s, s:s, s:O}", "op", "rest", "target", VM_META_FIELD,
                                     "source", vm_src_name(c, s), "remove", rm)
                         : json_pack("{s:s, s:s, s:s}", "op", "copy", "target", VM_META_FIELD,
                                     "source", VM_META_FIELD);
        json_decref(rm);
        if (!st || json_array_append_new(steps, st) != 0)
            return vm_nomem(err);
    }
    return VM_OK;
}

static int vm_add_row(vm_mctx *c, const char *src, const char *stype, const char *tgt,
                      const char *ttype, const char *notes, bool lossy)
{
    vm_mapping_result *r = c->out;
    size_t cap = r->nrows;
    if (vm_grow((void **)&r->rows, &cap, r->nrows + 1, sizeof *r->rows) != 0)
        return -1;
    vm_map_row *w = &r->rows[r->nrows];
    w->source = vm_strdup(src ? src : "");
    w->source_type = vm_strdup(stype ? stype : "");
    w->target = vm_strdup(tgt ? tgt : "");
    w->target_type = vm_strdup(ttype ? ttype : "");
    w->notes = vm_strdup(notes ? notes : "");
    w->lossy = lossy;
    r->nrows++;
    return w->source && w->source_type && w->target && w->target_type && w->notes ? 0 : -1;
}

static int vm_build_rows(vm_mctx *c, vm_err *err)
{
    const vm_schema *s = c->src, *t = c->tgt;
    char st[128], tt[128], notes[600];
    for (size_t k = 0; k < s->nfields; k++) {
        const vm_field *sf = &s->fields[k];
        vm_field_type_text(sf, st, sizeof st);
        int ti = -1;
        for (size_t i = 0; i < t->nfields; i++)
            if ((c->org[i].kind == VM_O_FIELD || c->org[i].kind == VM_O_AUTOID) &&
                c->org[i].src == (int)k)
                ti = (int)i;
        if (ti < 0) {
            const char *why = c->rest_to_meta == (int)k ? "rest goes to the dynamic field"
                              : sf->primary            ? "dropped (the key is now autoID)"
                                                       : "dropped";
            if (vm_add_row(c, sf->name, st, c->rest_to_meta == (int)k ? VM_META_FIELD : "",
                           "", why, false) != 0)
                return vm_nomem(err);
            continue;
        }
        const vm_field *tf = &t->fields[ti];
        const vm_origin *o = &c->org[ti];
        vm_field_type_text(tf, tt, sizeof tt);
        size_t used = 0;
        notes[0] = '\0';
#define VM_NOTE(...)                                                                             \
    do {                                                                                         \
        if (used < sizeof notes)                                                                 \
            used += (size_t)snprintf(notes + used, sizeof notes - used, "%s", used ? "; " : "");  \
        if (used < sizeof notes)                                                                 \
            used += (size_t)snprintf(notes + used, sizeof notes - used, __VA_ARGS__);            \
    } while (0)
        if (tf->primary)
            VM_NOTE("primary key%s", tf->auto_id ? ", autoID" : "");
        if (strcmp(sf->name, tf->name) != 0)
            VM_NOTE("renamed");
        if (tf->partition_key)
            VM_NOTE("partition key");
        if (t->partition_field && !strcmp(t->partition_field, tf->name))
            VM_NOTE("names the partition");
        if (tf->nullable)
            VM_NOTE("nullable");
        if (tf->default_value)
            VM_NOTE("default %s", json_is_string(tf->default_value) ? "(text)" : "(value)");
        int lifts = 0;
        for (size_t i = 0; i < t->nfields; i++)
            lifts += c->org[i].kind == VM_O_LIFT && c->org[i].src == (int)k;
        if (lifts && tf->type == VM_T_JSON)
            VM_NOTE("without the %d lifted key%s", lifts, lifts > 1 ? "s" : "");
        if (o->note[0])
            VM_NOTE("%s", o->note);
        else if (sf->description && !o->changed)
            VM_NOTE("%s", sf->description);
        if (vm_dtype_is_vector(tf->type) && tf->metric)
            VM_NOTE("metric %s%s", tf->metric,
                    o->metric_default ? " (default: the source names none)" : "");
        if (vm_add_row(c, sf->name, st, tf->name, tt, notes, o->lossy) != 0)
            return vm_nomem(err);
    }
    if (s->enable_dynamic) {
        const char *what = c->rest_to_meta == VM_SRC_META && t->enable_dynamic
                               ? "kept in the dynamic field"
                               : "dropped";
        if (vm_add_row(c, s->dynamic_alias ? s->dynamic_alias : VM_META_FIELD, "dynamic",
                       c->rest_to_meta == VM_SRC_META && t->enable_dynamic ? VM_META_FIELD : "",
                       c->rest_to_meta == VM_SRC_META && t->enable_dynamic ? "dynamic" : "",
                       what, false) != 0)
            return vm_nomem(err);
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const vm_field *tf = &t->fields[i];
        const vm_origin *o = &c->org[i];
        if (o->kind == VM_O_FIELD || (o->kind == VM_O_AUTOID && o->src >= 0))
            continue;
        vm_field_type_text(tf, tt, sizeof tt);
        char path[512] = "";
        if (o->kind == VM_O_LIFT) {
            const vm_mfe *e = &c->fe[o->entry];
            if (e->path)
                vm_path_text(e->source, e->path, path, sizeof path);
            else
                snprintf(path, sizeof path, "%s", e->source);
        }
        snprintf(notes, sizeof notes, "%s%s%s%s", o->kind == VM_O_LIFT ? "lifted" : "",
                 o->kind == VM_O_LIFT && o->note[0] ? "; " : "", o->note,
                 tf->partition_key ? "; partition key" : "");
        if (vm_add_row(c, path, o->kind == VM_O_LIFT ? "JSON value" : "", tf->name, tt, notes,
                       o->lossy) != 0)
            return vm_nomem(err);
    }
#undef VM_NOTE
    return VM_OK;
}

static json_t *vm_field_entry(const vm_mctx *c, size_t i)
{
    const vm_field *f = &c->tgt->fields[i];
    const vm_origin *o = &c->org[i];
    json_t *e = json_object();
    if (!e)
        return NULL;
    if (o->kind == VM_O_FIELD || (o->kind == VM_O_AUTOID && o->src >= 0)) {
        json_object_set_new(e, "source", json_string(c->src->fields[o->src].name));
    } else if (o->kind == VM_O_LIFT) {
        const vm_mfe *fe = &c->fe[o->entry];
        json_object_set_new(e, "source", json_string(fe->source));
        if (fe->path)
            json_object_set(e, "path", fe->path);
    }
    json_object_set_new(e, "name", json_string(f->name));
    if (o->kind == VM_O_AUTOID) /* the source's generated key: nothing to choose */
        return e;
    json_object_set_new(e, "type", json_string(vm_dtype_name(f->type)));
    if (f->type == VM_T_ARRAY)
        json_object_set_new(e, "element_type", json_string(vm_dtype_name(f->element_type)));
    if (f->max_length)
        json_object_set_new(e, "max_length", json_integer(f->max_length));
    if (f->max_capacity)
        json_object_set_new(e, "max_capacity", json_integer(f->max_capacity));
    if (vm_dtype_is_dense_vector(f->type))
        json_object_set_new(e, "dim", json_integer(f->dim));
    if (!f->primary && !vm_dtype_is_vector(f->type))
        json_object_set_new(e, "nullable", json_boolean(f->nullable));
    if (f->default_value)
        json_object_set(e, "default", f->default_value);
    if (o->lossy)
        json_object_set_new(e, "lossy", json_true());
    if (vm_dtype_is_vector(f->type) && f->metric)
        json_object_set_new(e, "metric", json_string(f->metric));
    return e;
}

static int vm_build_resolved(vm_mctx *c, vm_err *err)
{
    const vm_schema *t = c->tgt;
    vm_mapping_result *r = c->out;
    json_t *coll = json_pack("{s:s, s:b, s:I, s:s, s:b}", "name", t->collection, "strict_names",
                             c->coll.strict_names, "shards", (json_int_t)c->coll.shards,
                             "consistency_level", vm_levels[c->coll.consistency],
                             "dynamic_field", t->enable_dynamic);
    json_t *fields = json_array();
    const vm_field *pkf = vm_schema_primary(t);
    json_t *pk = json_pack("{s:s, s:b}", "field", pkf ? pkf->name : "", "auto_id",
                           pkf && pkf->auto_id && c->pk.auto_id);
    r->resolved = json_pack("{s:i, s:I, s:s, s:o, s:o, s:o}", "version", 1, "sample_rows",
                            (json_int_t)c->top.sample_rows, "unmapped", "drop", "collection",
                            coll, "primary_key", pk, "fields", fields);
    if (!r->resolved || !coll || !fields || !pk)
        return vm_nomem(err);
    if (t->description)
        json_object_set_new(coll, "description", json_string(t->description));
    for (size_t i = 0; i < t->nfields; i++)
        if (t->fields[i].partition_key)
            json_object_set_new(coll, "partition_key", json_string(t->fields[i].name));
    json_t *pn = json_object_get(r->params, "partitionsNum");
    if (pn)
        json_object_set(coll, "num_partitions", pn);
    if (t->partition_field)
        json_object_set_new(coll, "partitions_from", json_string(t->partition_field));
    json_object_set_new(coll, "index",
                        json_pack("{s:b, s:b, s:s}", "create", c->index.create, "load",
                                  c->index.load, "index_type", c->index.index_type));
    if (c->pk.keep_original_as && pkf && pkf->auto_id)
        json_object_set_new(pk, "keep_original_as", json_string(c->pk.keep_original_as));
    for (size_t i = 0; i < t->nfields; i++) {
        if (c->org[i].kind == VM_O_AUTOID && c->org[i].src < 0)
            continue; /* the generated key is primary_key's */
        json_t *e = vm_field_entry(c, i);
        if (!e || json_array_append_new(fields, e) != 0)
            return vm_nomem(err);
    }
    /* JSON fields whose rest is not kept, and what is dropped */
    for (size_t k = 0; k < c->src->nfields; k++) {
        bool present = false;
        for (size_t i = 0; i < t->nfields; i++)
            present |= (c->org[i].kind == VM_O_FIELD || c->org[i].kind == VM_O_AUTOID) &&
                       c->org[i].src == (int)k;
        if (present)
            continue;
        json_t *e = c->rest_to_meta == (int)k
                        ? json_pack("{s:s, s:s}", "source", c->src->fields[k].name, "rest",
                                    "dynamic")
                        : json_pack("{s:s, s:b}", "source", c->src->fields[k].name, "drop", 1);
        if (!e || json_array_append_new(fields, e) != 0)
            return vm_nomem(err);
    }
    if (c->src->enable_dynamic) {
        bool kept = c->rest_to_meta == VM_SRC_META && t->enable_dynamic;
        json_t *e = json_pack("{s:s, s:s}", "source",
                              c->src->dynamic_alias ? c->src->dynamic_alias : VM_META_FIELD,
                              "rest", kept ? "keep" : "drop");
        if (!e || json_array_append_new(fields, e) != 0)
            return vm_nomem(err);
    }
    return VM_OK;
}

/* Keys found in sampled JSON that no entry lifts. */
static int vm_build_suggestions(vm_mctx *c, vm_err *err)
{
    vm_mapping_result *r = c->out;
    if (!(r->suggestions = json_array()))
        return vm_nomem(err);
    if (!c->sample)
        return VM_OK;
    const vm_schema *s = c->src;
    for (int k = -1; k < (int)s->nfields; k++) {
        int src = k < 0 ? VM_SRC_META : k;
        if (k < 0 && !s->enable_dynamic)
            continue;
        if (k >= 0 && s->fields[k].type != VM_T_JSON)
            continue;
        const char *col = vm_src_name(c, src);
        int ci = vm_batch_col(c->sample, col);
        if (ci < 0)
            continue;
        vm_jkey *keys = NULL;
        size_t n = 0, cap = 0;
        int64_t rows = 0;
        for (size_t row = 0; row < c->sample->nrows; row++) {
            if (vm_batch_is_null(c->sample, (size_t)ci, row))
                continue;
            size_t len;
            const char *txt = vm_batch_get_str(c->sample, (size_t)ci, row, &len);
            json_t *doc = vm_parse_sampled(txt, len);
            if (!doc)
                continue;
            rows++;
            if (json_is_object(doc)) {
                json_t *p0 = json_array();
                if (p0)
                    vm_walk_keys(doc, p0, 1, &keys, &n, &cap);
                json_decref(p0);
            }
            json_decref(doc);
        }
        const char *head = k < 0 && s->dynamic_alias ? s->dynamic_alias : col;
        for (size_t i = 0; i < n; i++) {
            bool lifted = false;
            for (size_t e = 0; e < c->nfe; e++)
                lifted |= c->ek[e] == VM_E_LIFT && c->esrc[e] == src &&
                          json_equal(c->epath[e], keys[i].path);
            vm_field f = {0};
            char why[160];
            keys[i].st.rows = rows;
            if (!lifted && vm_infer(&keys[i].st, &f, why, sizeof why) &&
                !(f.type == VM_T_JSON && keys[i].st.objs == keys[i].st.present)) {
                char path[512];
                vm_path_text(head, keys[i].path, path, sizeof path);
                json_t *sg = json_pack("{s:s, s:s, s:I, s:I}", "source", path, "type",
                                       vm_dtype_name(f.type), "seen",
                                       (json_int_t)keys[i].st.present, "rows", (json_int_t)rows);
                if (sg && f.type == VM_T_ARRAY)
                    json_object_set_new(sg, "element_type",
                                        json_string(vm_dtype_name(f.element_type)));
                if (sg && f.max_length)
                    json_object_set_new(sg, "max_length", json_integer(f.max_length));
                if (sg && f.max_capacity)
                    json_object_set_new(sg, "max_capacity", json_integer(f.max_capacity));
                if (sg)
                    json_array_append_new(r->suggestions, sg);
            }
            json_decref(keys[i].path);
        }
        vm_free(keys);
    }
    return VM_OK;
}

/* --------------------------------------------------------------- API */

int64_t vm_mapping_sample_rows(const json_t *mapping)
{
    json_t *v = json_is_object(mapping) ? json_object_get(mapping, "sample_rows") : NULL;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return json_integer_value(v);
    return VM_MAPPING_SAMPLE_DEFAULT;
}

static void vm_mctx_release(vm_mctx *c)
{
    vm_conf_release(vm_mtop_table, &c->top);
    vm_conf_release(vm_mcoll_table, &c->coll);
    vm_conf_release(vm_mpk_table, &c->pk);
    vm_conf_release(vm_mindex_table, &c->index);
    for (size_t i = 0; i < c->nfe; i++) {
        if (c->fe)
            vm_conf_release(vm_mfe_table, &c->fe[i]);
        if (c->epath)
            json_decref(c->epath[i]);
    }
    vm_free(c->fe);
    vm_free(c->ek);
    vm_free(c->esrc);
    vm_free(c->epath);
    vm_free(c->by_src);
    vm_free(c->org);
    vm_schema_free(c->tgt);
}

int vm_mapping_resolve(const json_t *mapping, const char *path, const vm_conf_where *where,
                       const vm_schema *source, const vm_batch *sample, vm_mapping_result *out,
                       vm_err *err)
{
    memset(out, 0, sizeof *out);
    vm_mctx c = {.path = path, .where = where, .src = source, .sample = sample, .out = out};
    char kp[256];
    int rc;
    if (json_is_null(mapping))
        mapping = NULL;
    if ((rc = vm_conf_apply_at(vm_mtop_table, mapping, path, &c.top, where, err)) != VM_OK)
        goto fail;
    if (c.top.version != 1) {
        rc = vm_conf_error(where, err, VM_ERR_INVALID, VM_KP(&c, kp, "version"),
                           "%" PRId64 " is not a mapping version this vecmig reads (1)",
                           c.top.version);
        goto fail;
    }
    if ((rc = vm_conf_apply_at(vm_mcoll_table, c.top.collection, VM_KP(&c, kp, "collection"),
                               &c.coll, where, err)) != VM_OK ||
        (rc = vm_conf_apply_at(vm_mpk_table, c.top.primary_key, VM_KP(&c, kp, "primary_key"),
                               &c.pk, where, err)) != VM_OK)
        goto fail;
    if (!(c.tgt = vm_schema_new(source->collection))) {
        rc = vm_nomem(err);
        goto fail;
    }
    out->sample_rows = c.top.sample_rows;
    out->sampled = sample ? (int64_t)sample->nrows : 0;
    if ((rc = vm_resolve_name(&c, err)) != VM_OK || (rc = vm_parse_entries(&c, err)) != VM_OK ||
        (rc = vm_build_fields(&c, err)) != VM_OK ||
        (rc = vm_resolve_pk(&c, err)) != VM_OK || (rc = vm_resolve_collection(&c, err)) != VM_OK ||
        (rc = vm_check_conversions(&c, err)) != VM_OK || (rc = vm_check_meta_clash(&c, err)) != VM_OK)
        goto fail;
    vm_err e2;
    if (vm_schema_validate(c.tgt, &e2) != VM_OK) {
        rc = vm_conf_error(where, err, VM_ERR_INVALID, path && *path ? path : "mapping",
                           "the target schema would be refused by Milvus: %s", e2.msg);
        goto fail;
    }
    if ((rc = vm_build_program(&c, err)) != VM_OK || (rc = vm_build_rows(&c, err)) != VM_OK ||
        (rc = vm_build_resolved(&c, err)) != VM_OK || (rc = vm_build_suggestions(&c, err)) != VM_OK)
        goto fail;
    out->target = c.tgt;
    c.tgt = NULL;
    vm_mctx_release(&c);
    return VM_OK;
fail:
    vm_mctx_release(&c);
    vm_mapping_result_release(out);
    return rc;
}

void vm_mapping_result_release(vm_mapping_result *r)
{
    vm_schema_free(r->target);
    json_decref(r->program);
    json_decref(r->params);
    json_decref(r->index);
    json_decref(r->resolved);
    json_decref(r->suggestions);
    for (size_t i = 0; i < r->nrows; i++) {
        vm_free(r->rows[i].source);
        vm_free(r->rows[i].source_type);
        vm_free(r->rows[i].target);
        vm_free(r->rows[i].target_type);
        vm_free(r->rows[i].notes);
    }
    vm_free(r->rows);
    for (size_t i = 0; i < r->nwarnings; i++)
        vm_free(r->warnings[i]);
    vm_free(r->warnings);
    memset(r, 0, sizeof *r);
}

vm_schema *vm_mapping_read_schema(const vm_schema *source, const json_t *program)
{
    vm_schema *r = vm_schema_new(source->collection);
    if (!r)
        return NULL;
    json_t *steps = program ? json_object_get(program, "steps") : NULL;
    bool meta = source->enable_dynamic && !program;
    for (size_t i = 0; i < source->nfields; i++) {
        const vm_field *f = &source->fields[i];
        if (f->primary && f->auto_id)
            continue;
        bool used = !program;
        size_t k;
        json_t *st;
        json_array_foreach(steps, k, st) {
            const char *s = json_string_value(json_object_get(st, "source"));
            used |= s && !strcmp(s, f->name);
        }
        if (used && vm_schema_add(r, f, NULL) != VM_OK)
            goto fail;
    }
    size_t k;
    json_t *st;
    json_array_foreach(steps, k, st) {
        const char *s = json_string_value(json_object_get(st, "source"));
        meta |= s && !strcmp(s, VM_META_FIELD);
    }
    if (meta && source->enable_dynamic) {
        vm_field m = {.name = (char *)VM_META_FIELD, .type = VM_T_JSON, .nullable = true};
        if (vm_schema_add(r, &m, NULL) != VM_OK)
            goto fail;
    }
    r->enable_dynamic = meta && source->enable_dynamic;
    return r;
fail:
    vm_schema_free(r);
    return NULL;
}

/* ------------------------------------------------------------ printing */

void vm_mapping_print(const vm_mapping_result *r, FILE *f)
{
    size_t w[4] = {12, 11, 12, 11};
    const char *head[5] = {"source field", "source type", "target field", "target type",
                           "notes"};
    for (size_t i = 0; i < r->nrows; i++) {
        const vm_map_row *m = &r->rows[i];
        const char *cols[4] = {m->source, m->source_type, m->target[0] ? m->target : "-",
                               m->target_type};
        for (int k = 0; k < 4; k++)
            if (strlen(cols[k]) > w[k])
                w[k] = strlen(cols[k]);
    }
    fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], head[0], (int)w[1], head[1],
            (int)w[2], head[2], (int)w[3], head[3], head[4]);
    for (size_t i = 0; i < r->nrows; i++) {
        const vm_map_row *m = &r->rows[i];
        fprintf(f, "  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], m->source[0] ? m->source : "(added)",
                (int)w[1], m->source_type, (int)w[2], m->target[0] ? m->target : "-", (int)w[3],
                m->target_type, m->notes);
    }
    if (r->sampled > 0 || r->sample_rows > 0)
        fprintf(f, "  (%" PRId64 " source rows sampled of %" PRId64 " asked: sample_rows)\n",
                r->sampled, r->sample_rows);
    for (size_t i = 0; i < r->nwarnings; i++)
        fprintf(f, "warning: %s\n", r->warnings[i]);
}

json_t *vm_mapping_summary(const vm_mapping_result *r)
{
    json_t *rows = json_array(), *warn = json_array();
    json_t *out = json_pack("{s:o, s:o, s:I}", "fields", rows, "warnings", warn, "sampled_rows",
                            (json_int_t)r->sampled);
    if (!out)
        return NULL;
    for (size_t i = 0; i < r->nrows; i++) {
        const vm_map_row *m = &r->rows[i];
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "source",
                                              m->source, "source_type", m->source_type, "target",
                                              m->target, "target_type", m->target_type, "notes",
                                              m->notes, "lossy", m->lossy));
    }
    for (size_t i = 0; i < r->nwarnings; i++)
        json_array_append_new(warn, json_string(r->warnings[i]));
    return out;
}

/* Length of the character at p (valid UTF-8) when YAML may not hold it
 * raw: DEL, the C1 controls (NEL among them), U+2028, U+2029, U+FFFE and
 * U+FFFF (libyaml refuses them, or reads the separators as line breaks and
 * folds them); its code point in *cp. 0 for any other character. */
static size_t vm_yaml_unprintable(const unsigned char *p, unsigned *cp)
{
    if (p[0] == 0x7f) {
        *cp = 0x7f;
        return 1;
    }
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
        *cp = p[1];
        return 2;
    }
    if ((p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) ||
        (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))) {
        *cp = (unsigned)(p[0] & 0x0f) << 12 | (unsigned)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return 3;
    }
    return 0;
}

/* Text in a comment: anything YAML cannot hold raw, and line breaks, as '?'. */
static void vm_yaml_comment_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp;
        size_t n = vm_yaml_unprintable(p, &cp);
        if (n || *p < 0x20) {
            fputc('?', f);
            p += n ? n : 1;
        } else {
            fputc(*p++, f);
        }
    }
}

/* A YAML flow value: JSON is valid YAML flow syntax, once the characters
 * YAML cannot hold raw are escaped in strings. */
static void vm_yaml_value(FILE *f, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        /* JSON's "a":1 is YAML only with a space after the colon */
        bool in_str = false, esc = false;
        for (const char *p = s; *p; p++) {
            unsigned cp;
            size_t n = in_str && !esc ? vm_yaml_unprintable((const unsigned char *)p, &cp) : 0;
            if (n) {
                fprintf(f, "\\u%04x", cp);
                p += n - 1;
                continue;
            }
            fputc(*p, f);
            if (in_str) {
                if (esc)
                    esc = false;
                else if (*p == '\\')
                    esc = true;
                else if (*p == '"')
                    in_str = false;
            } else if (*p == '"') {
                in_str = true;
            } else if (*p == ':' || *p == ',') {
                fputc(' ', f);
            }
        }
    }
    free(s);
}

static void vm_yaml_flow(FILE *f, const json_t *obj)
{
    fputc('{', f);
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)obj, k, v) {
        fprintf(f, "%s%s: ", first ? "" : ", ", k);
        vm_yaml_value(f, v);
        first = false;
    }
    fputc('}', f);
}

int vm_mapping_write_yaml(const vm_mapping_result *r, const vm_schema *source,
                          const char *job_id, FILE *f, vm_err *err)
{
    const json_t *m = r->resolved;
    json_t *coll = json_object_get(m, "collection"), *pk = json_object_get(m, "primary_key");
    fprintf(f, "# vecmig mapping for job %s: source '", job_id);
    vm_yaml_comment_text(f, source->collection);
    fprintf(f, "' -> collection '%s'.\n", r->target->collection);
    fputs("# Written by `vecmig plan --write-mapping`. Edit it, check it with\n"
          "# `vecmig plan JOB --mapping FILE`, run with `--mapping FILE` (or put it\n"
          "# under `mapping:` in the job file). Every key is described in README.md\n"
          "# (\"Mapping file\").\n",
          f);
    fprintf(f, "version: 1\n");
    fprintf(f, "sample_rows: %" PRId64 "   # rows sampled to infer schemaless metadata\n",
            r->sample_rows);
    fputs("unmapped: drop     # source fields not listed below are left out\n", f);
    fputs("collection:\n", f);
    const char *k;
    json_t *v;
    json_object_foreach(coll, k, v) {
        fprintf(f, "  %s: ", k);
        if (json_is_object(v))
            vm_yaml_flow(f, v);
        else
            vm_yaml_value(f, v);
        fputc('\n', f);
    }
    if (!json_object_get(coll, "partition_key"))
        fputs("  # partition_key: <Int64 or VarChar field, not nullable>\n"
              "  # partitions_from: <field whose value names each row's partition>\n",
              f);
    fputs("primary_key:\n", f);
    json_object_foreach(pk, k, v) {
        fprintf(f, "  %s: ", k);
        vm_yaml_value(f, v);
        fputc('\n', f);
    }
    if (!json_object_get(pk, "keep_original_as"))
        fputs("  # keep_original_as: <field for the source's key, with auto_id: true>\n", f);
    fputs("fields:\n", f);
    size_t i;
    json_array_foreach(json_object_get(m, "fields"), i, v) {
        fputs("  - ", f);
        vm_yaml_flow(f, v);
        fputc('\n', f);
    }
    if (json_array_size(r->suggestions)) {
        fprintf(f, "  # Keys found in %" PRId64
                   " sampled rows and left in their JSON; uncomment to lift one\n"
                   "  # into a typed field (it then leaves the JSON):\n",
                r->sampled);
        json_array_foreach(r->suggestions, i, v) {
            json_t *e = json_deep_copy(v);
            if (!e)
                continue;
            json_int_t seen = json_integer_value(json_object_get(e, "seen"));
            json_int_t rows = json_integer_value(json_object_get(e, "rows"));
            json_object_del(e, "seen");
            json_object_del(e, "rows");
            json_object_set_new(e, "nullable", json_true());
            fputs("  # - ", f);
            vm_yaml_flow(f, e);
            fprintf(f, "   # in %lld of %lld rows\n", (long long)seen, (long long)rows);
            json_decref(e);
        }
    }
    if (ferror(f))
        return vm_err_setc(err, VM_ERR_IO, "cannot write the mapping file");
    return VM_OK;
}

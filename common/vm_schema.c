/*
 * vm_schema.c - schema model: type names, validation, Milvus JSON both ways.
 */
#include "vm_schema.h"
#include "vm_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const vm_dtype_names[VM_T__COUNT] = {
    [VM_T_NONE] = NULL,
    [VM_T_BOOL] = "Bool",
    [VM_T_INT8] = "Int8",
    [VM_T_INT16] = "Int16",
    [VM_T_INT32] = "Int32",
    [VM_T_INT64] = "Int64",
    [VM_T_FLOAT] = "Float",
    [VM_T_DOUBLE] = "Double",
    [VM_T_VARCHAR] = "VarChar",
    [VM_T_JSON] = "JSON",
    [VM_T_ARRAY] = "Array",
    [VM_T_BINARY_VECTOR] = "BinaryVector",
    [VM_T_FLOAT_VECTOR] = "FloatVector",
    [VM_T_FLOAT16_VECTOR] = "Float16Vector",
    [VM_T_BFLOAT16_VECTOR] = "BFloat16Vector",
    [VM_T_SPARSE_FLOAT_VECTOR] = "SparseFloatVector",
    [VM_T_INT8_VECTOR] = "Int8Vector",
};

const char *vm_dtype_name(vm_dtype t)
{
    return (t > VM_T_NONE && t < VM_T__COUNT) ? vm_dtype_names[t] : NULL;
}

vm_dtype vm_dtype_parse(const char *name)
{
    if (!name)
        return VM_T_NONE;
    for (int t = VM_T_NONE + 1; t < VM_T__COUNT; t++)
        if (strcmp(name, vm_dtype_names[t]) == 0)
            return (vm_dtype)t;
    return VM_T_NONE;
}

bool vm_dtype_is_vector(vm_dtype t) { return t >= VM_T_BINARY_VECTOR && t <= VM_T_INT8_VECTOR; }

bool vm_dtype_is_dense_vector(vm_dtype t)
{
    return vm_dtype_is_vector(t) && t != VM_T_SPARSE_FLOAT_VECTOR;
}

bool vm_dtype_is_scalar_element(vm_dtype t)
{
    return t >= VM_T_BOOL && t <= VM_T_VARCHAR;
}

size_t vm_dtype_vector_bytes(vm_dtype t, int64_t dim)
{
    if (dim <= 0)
        return 0;
    switch (t) {
    case VM_T_FLOAT_VECTOR: return (size_t)dim * 4;
    case VM_T_FLOAT16_VECTOR:
    case VM_T_BFLOAT16_VECTOR: return (size_t)dim * 2;
    case VM_T_INT8_VECTOR: return (size_t)dim;
    case VM_T_BINARY_VECTOR: return (size_t)(dim + 7) / 8;
    default: return 0;
    }
}

vm_schema *vm_schema_new(const char *collection)
{
    vm_schema *s = vm_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (collection && !(s->collection = vm_strdup(collection))) {
        vm_free(s);
        return NULL;
    }
    return s;
}

static void vm_field_release(vm_field *f)
{
    vm_free(f->name);
    vm_free(f->description);
    vm_free(f->metric);
    json_decref(f->default_value);
    memset(f, 0, sizeof *f);
}

void vm_schema_free(vm_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfields; i++)
        vm_field_release(&s->fields[i]);
    vm_free(s->fields);
    vm_free(s->collection);
    vm_free(s->description);
    vm_free(s->dynamic_alias);
    vm_free(s->partition_field);
    vm_free(s);
}

int vm_schema_add(vm_schema *s, const vm_field *f, vm_err *err)
{
    if (!f->name || !*f->name)
        return vm_err_setc(err, VM_ERR_INVALID, "schema: field without a name");
    if (vm_grow((void **)&s->fields, &s->cap, s->nfields + 1, sizeof *s->fields) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "schema: out of memory");
    vm_field *d = &s->fields[s->nfields];
    *d = *f;
    d->name = vm_strdup(f->name);
    d->description = f->description ? vm_strdup(f->description) : NULL;
    d->default_value = f->default_value ? json_deep_copy(f->default_value) : NULL;
    d->metric = f->metric ? vm_strdup(f->metric) : NULL;
    if (!d->name || (f->description && !d->description) ||
        (f->default_value && !d->default_value) || (f->metric && !d->metric)) {
        vm_field_release(d);
        return vm_err_setc(err, VM_ERR_NOMEM, "schema: out of memory");
    }
    s->nfields++;
    return VM_OK;
}

void vm_schema_remove(vm_schema *s, size_t i)
{
    if (i >= s->nfields)
        return;
    vm_field_release(&s->fields[i]);
    memmove(&s->fields[i], &s->fields[i + 1], (s->nfields - i - 1) * sizeof *s->fields);
    s->nfields--;
}

vm_schema *vm_schema_clone(const vm_schema *s)
{
    vm_schema *c = vm_schema_new(s->collection);
    if (!c)
        return NULL;
    c->enable_dynamic = s->enable_dynamic;
    if (s->description && !(c->description = vm_strdup(s->description)))
        goto fail;
    if (s->dynamic_alias && !(c->dynamic_alias = vm_strdup(s->dynamic_alias)))
        goto fail;
    if (s->partition_field && !(c->partition_field = vm_strdup(s->partition_field)))
        goto fail;
    for (size_t i = 0; i < s->nfields; i++)
        if (vm_schema_add(c, &s->fields[i], NULL) != VM_OK)
            goto fail;
    return c;
fail:
    vm_schema_free(c);
    return NULL;
}

int vm_schema_index(const vm_schema *s, const char *name)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

const vm_field *vm_schema_find(const vm_schema *s, const char *name)
{
    int i = vm_schema_index(s, name);
    return i < 0 ? NULL : &s->fields[i];
}

const vm_field *vm_schema_primary(const vm_schema *s)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].primary)
            return &s->fields[i];
    return NULL;
}

bool vm_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > VM_MAX_NAME_LEN)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!alpha && !(digit && p != name))
            return false;
    }
    return true;
}

int vm_name_to_milvus(const char *name, bool strict, char **out, vm_err *err)
{
    *out = NULL;
    if (!name || !*name)
        return vm_err_setc(err, VM_ERR_INVALID, "name is empty");
    if (strlen(name) > VM_MAX_NAME_LEN)
        return vm_err_setc(err, VM_ERR_INVALID, "name '%.40s...' is longer than %d characters",
                           name, VM_MAX_NAME_LEN);
    char *n = vm_strdup(name);
    if (!n)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    for (char *p = n; *p; p++) {
        if (*p == '-' || *p == '.') {
            if (strict) {
                int rc = vm_err_setc(err, VM_ERR_INVALID,
                                     "name '%s' contains '%c', which Milvus does not allow "
                                     "(strict_names is on; rename it or turn strict_names off "
                                     "to map '-' and '.' to '_')",
                                     name, *p);
                vm_free(n);
                return rc;
            }
            *p = '_';
        }
    }
    if (n[0] >= '0' && n[0] <= '9') {
        vm_free(n);
        return vm_err_setc(err, VM_ERR_INVALID,
                           "name '%s' starts with a digit, which Milvus does not allow", name);
    }
    if (!vm_name_valid(n)) {
        vm_free(n);
        return vm_err_setc(err, VM_ERR_INVALID,
                           "name '%s' has characters Milvus does not allow "
                           "(only letters, digits and '_')",
                           name);
    }
    *out = n;
    return VM_OK;
}

/* Does JSON value v fit a field of type t (element type et for arrays)? */
static bool vm_value_fits(const json_t *v, const vm_field *f)
{
    switch (f->type) {
    case VM_T_BOOL: return json_is_boolean(v);
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: {
        if (!json_is_integer(v))
            return false;
        json_int_t x = json_integer_value(v);
        if (f->type == VM_T_INT8)
            return x >= INT8_MIN && x <= INT8_MAX;
        if (f->type == VM_T_INT16)
            return x >= INT16_MIN && x <= INT16_MAX;
        if (f->type == VM_T_INT32)
            return x >= INT32_MIN && x <= INT32_MAX;
        return true;
    }
    case VM_T_FLOAT:
    case VM_T_DOUBLE: return json_is_number(v);
    case VM_T_VARCHAR:
        return json_is_string(v) && (int64_t)json_string_length(v) <= f->max_length;
    case VM_T_JSON: return true;
    default: return false;
    }
}

int vm_schema_validate(const vm_schema *s, vm_err *err)
{
    if (!s->collection || !vm_name_valid(s->collection))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "collection name '%s' is not a valid Milvus name",
                           s->collection ? s->collection : "");
    if (s->nfields == 0)
        return vm_err_setc(err, VM_ERR_INVALID, "collection %s: no fields", s->collection);
    if (s->nfields > VM_MAX_FIELDS)
        return vm_err_setc(err, VM_ERR_INVALID, "collection %s: %zu fields, Milvus allows %d",
                           s->collection, s->nfields, VM_MAX_FIELDS);
    int primaries = 0, vectors = 0, pkeys = 0;
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *f = &s->fields[i];
        const char *n = f->name;
        if (!vm_name_valid(n))
            return vm_err_setc(err, VM_ERR_INVALID, "field '%s': not a valid Milvus name", n);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->fields[j].name, n) == 0)
                return vm_err_setc(err, VM_ERR_INVALID, "field '%s': defined twice", n);
        if (!vm_dtype_name(f->type))
            return vm_err_setc(err, VM_ERR_INVALID, "field '%s': no type", n);
        if (vm_dtype_is_vector(f->type)) {
            vectors++;
            if (f->nullable || f->default_value)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': vector fields cannot be nullable or have a default",
                                   n);
            if (vm_dtype_is_dense_vector(f->type)) {
                if (f->dim <= 0 || f->dim > VM_MAX_DIM)
                    return vm_err_setc(err, VM_ERR_INVALID,
                                       "field '%s': dim %" PRId64 " outside 1..%d", n, f->dim,
                                       VM_MAX_DIM);
                if (f->type == VM_T_BINARY_VECTOR && f->dim % 8 != 0)
                    return vm_err_setc(err, VM_ERR_INVALID,
                                       "field '%s': BinaryVector dim %" PRId64
                                       " is not a multiple of 8",
                                       n, f->dim);
            }
        }
        if ((f->type == VM_T_VARCHAR ||
             (f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR)) &&
            (f->max_length <= 0 || f->max_length > VM_MAX_VARCHAR))
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s': max_length %" PRId64 " outside 1..%d", n,
                               f->max_length, VM_MAX_VARCHAR);
        if (f->type == VM_T_ARRAY) {
            if (!vm_dtype_is_scalar_element(f->element_type))
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': Array element type %s is not allowed", n,
                                   vm_dtype_name(f->element_type) ? vm_dtype_name(f->element_type)
                                                                  : "(none)");
            if (f->max_capacity <= 0 || f->max_capacity > VM_MAX_CAPACITY)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': max_capacity %" PRId64 " outside 1..%d", n,
                                   f->max_capacity, VM_MAX_CAPACITY);
        }
        if (f->primary) {
            primaries++;
            if (f->type != VM_T_INT64 && f->type != VM_T_VARCHAR)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': a primary key must be Int64 or VarChar, not %s", n,
                                   vm_dtype_name(f->type));
            if (f->nullable || f->default_value)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': a primary key cannot be nullable or have a default",
                                   n);
        } else if (f->auto_id) {
            return vm_err_setc(err, VM_ERR_INVALID,
                               "field '%s': autoID applies only to the primary key", n);
        }
        if (f->partition_key) {
            pkeys++;
            if (f->type != VM_T_INT64 && f->type != VM_T_VARCHAR)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': a partition key must be Int64 or VarChar", n);
            if (f->nullable)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': a partition key cannot be nullable", n);
            if (f->primary)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': the primary key cannot be the partition key", n);
        }
        if (f->default_value && !json_is_null(f->default_value)) {
            if (f->type == VM_T_JSON || f->type == VM_T_ARRAY)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': Milvus allows no default value for %s", n,
                                   vm_dtype_name(f->type));
            if (!vm_value_fits(f->default_value, f))
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "field '%s': default value does not fit type %s", n,
                                   vm_dtype_name(f->type));
        }
    }
    if (primaries != 1)
        return vm_err_setc(err, VM_ERR_INVALID, "collection %s: %d primary keys, need exactly 1",
                           s->collection, primaries);
    if (vectors == 0)
        return vm_err_setc(err, VM_ERR_INVALID, "collection %s: no vector field",
                           s->collection);
    if (vectors > VM_MAX_VECTOR_FIELDS)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "collection %s: %d vector fields, Milvus allows %d by default",
                           s->collection, vectors, VM_MAX_VECTOR_FIELDS);
    if (pkeys > 1)
        return vm_err_setc(err, VM_ERR_INVALID, "collection %s: %d partition keys, at most 1",
                           s->collection, pkeys);
    return VM_OK;
}

json_t *vm_schema_to_milvus(const vm_schema *s)
{
    json_t *fields = json_array();
    const vm_field *pk = vm_schema_primary(s);
    json_t *root = json_pack("{s:b, s:b, s:o}", "autoID", pk && pk->auto_id,
                             "enableDynamicField", s->enable_dynamic, "fields", fields);
    if (!root)
        return NULL;
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *f = &s->fields[i];
        json_t *o = json_pack("{s:s, s:s}", "fieldName", f->name, "dataType",
                              vm_dtype_name(f->type));
        json_t *tp = json_object();
        if (!o || !tp || json_array_append_new(fields, o) != 0) {
            json_decref(tp);
            json_decref(root);
            return NULL;
        }
        if (f->primary)
            json_object_set_new(o, "isPrimary", json_true());
        if (f->partition_key)
            json_object_set_new(o, "isPartitionKey", json_true());
        if (f->nullable)
            json_object_set_new(o, "nullable", json_true());
        if (f->default_value)
            json_object_set(o, "defaultValue", f->default_value);
        if (f->description)
            json_object_set_new(o, "description", json_string(f->description));
        if (f->type == VM_T_ARRAY) {
            json_object_set_new(o, "elementDataType",
                                json_string(vm_dtype_name(f->element_type)));
            json_object_set_new(tp, "max_capacity", json_integer(f->max_capacity));
        }
        if (vm_dtype_is_dense_vector(f->type))
            json_object_set_new(tp, "dim", json_integer(f->dim));
        if (f->type == VM_T_VARCHAR || (f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR))
            json_object_set_new(tp, "max_length", json_integer(f->max_length));
        if (json_object_size(tp))
            json_object_set_new(o, "elementTypeParams", tp);
        else
            json_decref(tp);
    }
    return root;
}

/* describe returns params as [{key, value:"<string>"}]; values may also be
 * numbers on some versions. */
static int vm_param_int(const json_t *params, const char *key, int64_t *out)
{
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p) {
        const char *k = json_string_value(json_object_get(p, "key"));
        if (!k || strcmp(k, key) != 0)
            continue;
        json_t *v = json_object_get(p, "value");
        if (json_is_integer(v)) {
            *out = json_integer_value(v);
            return 0;
        }
        const char *sv = json_string_value(v);
        if (!sv)
            return -1;
        char *end;
        errno = 0;
        long long x = strtoll(sv, &end, 10);
        if (errno || end == sv || *end)
            return -1;
        *out = x;
        return 0;
    }
    return 1; /* absent */
}

int vm_schema_from_milvus_describe(const json_t *data, vm_schema **out, vm_err *err)
{
    *out = NULL;
    const char *name = json_string_value(json_object_get(data, "collectionName"));
    json_t *fields = json_object_get(data, "fields");
    if (!name || !json_is_array(fields))
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "describe: response lacks collectionName or fields");
    vm_schema *s = vm_schema_new(name);
    if (!s)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = VM_OK;
    s->enable_dynamic = json_is_true(json_object_get(data, "enableDynamicField"));
    const char *desc = json_string_value(json_object_get(data, "description"));
    if (desc && *desc && !(s->description = vm_strdup(desc))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    bool coll_auto = json_is_true(json_object_get(data, "autoId"));
    size_t i;
    json_t *jf;
    json_array_foreach(fields, i, jf) {
        vm_field f = {0};
        f.name = (char *)json_string_value(json_object_get(jf, "name"));
        const char *type = json_string_value(json_object_get(jf, "type"));
        f.type = vm_dtype_parse(type);
        if (!f.name || f.type == VM_T_NONE) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "describe: field %zu has unknown type '%s'",
                             i, type ? type : "(none)");
            goto cleanup;
        }
        f.primary = json_is_true(json_object_get(jf, "primaryKey"));
        f.partition_key = json_is_true(json_object_get(jf, "partitionKey"));
        f.nullable = json_is_true(json_object_get(jf, "nullable"));
        f.auto_id = f.primary && (json_is_true(json_object_get(jf, "autoId")) || coll_auto);
        f.default_value = json_object_get(jf, "defaultValue");
        f.description = (char *)json_string_value(json_object_get(jf, "description"));
        if (f.description && !*f.description)
            f.description = NULL;
        if (f.type == VM_T_ARRAY) {
            f.element_type = vm_dtype_parse(json_string_value(json_object_get(jf, "elementType")));
            if (f.element_type == VM_T_NONE) {
                rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                                 "describe: field '%s' is an Array without a known elementType",
                                 f.name);
                goto cleanup;
            }
        }
        json_t *params = json_object_get(jf, "params");
        if (vm_param_int(params, "dim", &f.dim) < 0 ||
            vm_param_int(params, "max_length", &f.max_length) < 0 ||
            vm_param_int(params, "max_capacity", &f.max_capacity) < 0) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "describe: field '%s' has a malformed param",
                             f.name);
            goto cleanup;
        }
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    *out = s;
    s = NULL;
cleanup:
    vm_schema_free(s);
    return rc;
}

static int64_t vm_tp_int(const json_t *tp, const char *key)
{
    json_t *v = json_object_get(tp, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *sv = json_string_value(v);
    return sv ? strtoll(sv, NULL, 10) : 0;
}

int vm_schema_from_milvus(const json_t *schema, const char *collection, vm_schema **out,
                          vm_err *err)
{
    *out = NULL;
    json_t *fields = json_object_get(schema, "fields");
    if (!json_is_array(fields))
        return vm_err_setc(err, VM_ERR_INVALID, "schema: no fields array");
    vm_schema *s = vm_schema_new(collection);
    if (!s)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = VM_OK;
    bool auto_id = json_is_true(json_object_get(schema, "autoID"));
    s->enable_dynamic = json_is_true(json_object_get(schema, "enableDynamicField"));
    size_t i;
    json_t *jf;
    json_array_foreach(fields, i, jf) {
        json_t *tp = json_object_get(jf, "elementTypeParams");
        const char *type = json_string_value(json_object_get(jf, "dataType"));
        vm_field f = {
            .name = (char *)json_string_value(json_object_get(jf, "fieldName")),
            .type = vm_dtype_parse(type),
            .element_type = vm_dtype_parse(json_string_value(json_object_get(jf, "elementDataType"))),
            .dim = vm_tp_int(tp, "dim"),
            .max_length = vm_tp_int(tp, "max_length"),
            .max_capacity = vm_tp_int(tp, "max_capacity"),
            .primary = json_is_true(json_object_get(jf, "isPrimary")),
            .partition_key = json_is_true(json_object_get(jf, "isPartitionKey")),
            .nullable = json_is_true(json_object_get(jf, "nullable")),
            .default_value = json_object_get(jf, "defaultValue"),
            .description = (char *)json_string_value(json_object_get(jf, "description")),
        };
        f.auto_id = f.primary && auto_id;
        if (!f.name || f.type == VM_T_NONE) {
            rc = vm_err_setc(err, VM_ERR_INVALID, "schema: field %zu has no name or an unknown type '%s'",
                             i, type ? type : "(none)");
            goto cleanup;
        }
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    *out = s;
    s = NULL;
cleanup:
    vm_schema_free(s);
    return rc;
}

void vm_field_type_text(const vm_field *f, char *buf, size_t n)
{
    const char *t = vm_dtype_name(f->type);
    if (vm_dtype_is_dense_vector(f->type))
        snprintf(buf, n, "%s(%" PRId64 ")", t, f->dim);
    else if (f->type == VM_T_VARCHAR)
        snprintf(buf, n, "%s(%" PRId64 ")", t, f->max_length);
    else if (f->type == VM_T_ARRAY && f->element_type == VM_T_VARCHAR)
        snprintf(buf, n, "%s<%s(%" PRId64 ")>[%" PRId64 "]", t, vm_dtype_name(f->element_type),
                 f->max_length, f->max_capacity);
    else if (f->type == VM_T_ARRAY)
        snprintf(buf, n, "%s<%s>[%" PRId64 "]", t, vm_dtype_name(f->element_type),
                 f->max_capacity);
    else
        snprintf(buf, n, "%s", t);
}

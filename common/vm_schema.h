/*
 * vm_schema.h - the target schema model, in Milvus terms.
 *
 * Every source is described in this model (its discover step maps native
 * types onto it) and the Milvus sink turns it into a collections/create body.
 * It carries everything users complained other tools lose: max_length,
 * max_capacity, autoID, nullable, default values, partition key, the dynamic
 * field and every vector type, including sparse and the half-precision ones.
 *
 * Type names are Milvus's protobuf names, case-sensitive ("FloatVector", not
 * "FLOAT_VECTOR"): the REST API rejects anything else.
 */
#ifndef VM_SCHEMA_H
#define VM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_err.h"

typedef enum vm_dtype {
    VM_T_NONE = 0,
    VM_T_BOOL,
    VM_T_INT8,
    VM_T_INT16,
    VM_T_INT32,
    VM_T_INT64,
    VM_T_FLOAT,
    VM_T_DOUBLE,
    VM_T_VARCHAR,
    VM_T_JSON,
    VM_T_ARRAY,
    VM_T_BINARY_VECTOR,
    VM_T_FLOAT_VECTOR,
    VM_T_FLOAT16_VECTOR,
    VM_T_BFLOAT16_VECTOR,
    VM_T_SPARSE_FLOAT_VECTOR,
    VM_T_INT8_VECTOR,
    VM_T__COUNT
} vm_dtype;

/* Milvus limits (api-facts.md section 7). */
#define VM_MAX_FIELDS 64
#define VM_MAX_NAME_LEN 255
#define VM_MAX_VARCHAR 65535
#define VM_MAX_DIM 32768
#define VM_MAX_CAPACITY 4096
#define VM_MAX_SHARDS 16
#define VM_MAX_PARTITIONS 1024
#define VM_MAX_VECTOR_FIELDS 4 /* proxy.maxVectorFieldNum default */

const char *vm_dtype_name(vm_dtype t);            /* "FloatVector"; NULL for NONE */
vm_dtype vm_dtype_parse(const char *name);        /* exact match, else VM_T_NONE */
bool vm_dtype_is_vector(vm_dtype t);
bool vm_dtype_is_dense_vector(vm_dtype t);        /* all vectors but sparse */
bool vm_dtype_is_scalar_element(vm_dtype t);      /* allowed as Array element */
/* Bytes one vector of `dim` occupies in a batch column (binary: dim/8). */
size_t vm_dtype_vector_bytes(vm_dtype t, int64_t dim);

typedef struct vm_field {
    char *name;
    vm_dtype type;
    vm_dtype element_type;   /* Array only */
    int64_t dim;             /* vectors except sparse */
    int64_t max_length;      /* VarChar, and Array<VarChar> */
    int64_t max_capacity;    /* Array */
    bool primary;
    bool auto_id;            /* primary only */
    bool partition_key;
    bool nullable;
    json_t *default_value;   /* owned; NULL when none */
    char *description;       /* owned; may be NULL */
    char *metric;            /* vectors: the source's similarity as a Milvus metric
                              * ("COSINE", "L2", "IP", "HAMMING", "JACCARD"); owned;
                              * NULL when unknown. Not part of the collection schema:
                              * used when vecmig creates indexes. */
    bool unsupported;        /* source only: the source type has no Milvus type; the
                              * field carries its text form and the mapping refuses
                              * it unless an entry drops it or gives it a type */
} vm_field;

typedef struct vm_schema {
    char *collection;
    char *description;
    vm_field *fields;
    size_t nfields, cap;
    bool enable_dynamic;
    /* Not part of Milvus's schema: */
    char *dynamic_alias;     /* a source's name for its schemaless metadata ("payload",
                              * "metadata"): mapping paths may start with it as with
                              * "$meta"; owned, NULL when none */
    char *partition_field;   /* rows go to the partition named by this field's value
                              * (explicit partitions); owned, NULL when none */
} vm_schema;

vm_schema *vm_schema_new(const char *collection);
void vm_schema_free(vm_schema *s);
/* Deep copy. */
vm_schema *vm_schema_clone(const vm_schema *s);

/* Append a deep copy of f (name, description and default are copied). */
int vm_schema_add(vm_schema *s, const vm_field *f, vm_err *err);
/* Remove field i (later fields move up). */
void vm_schema_remove(vm_schema *s, size_t i);
const vm_field *vm_schema_find(const vm_schema *s, const char *name);
int vm_schema_index(const vm_schema *s, const char *name); /* -1 if absent */
const vm_field *vm_schema_primary(const vm_schema *s);

/* "FloatVector(768)", "VarChar(256)", "Array<VarChar(64)>[16]", "Int64". */
void vm_field_type_text(const vm_field *f, char *buf, size_t n);

/* Checks everything Milvus would refuse, before any request is sent: names,
 * one primary (Int64 or VarChar), autoID only on Int64/VarChar primary,
 * at least one vector field, dims and limits, partition key type and
 * nullability, Array element types, default values of the field's type,
 * duplicate names. The message names the field. */
int vm_schema_validate(const vm_schema *s, vm_err *err);

/* Name rules: ^[A-Za-z_][A-Za-z0-9_]*$, <= 255 chars. */
bool vm_name_valid(const char *name);
/* Make a source name a Milvus name: '-' and '.' become '_' unless strict,
 * in which case they are an error naming the offending character. Other
 * invalid characters are always an error. *out is allocated. */
int vm_name_to_milvus(const char *name, bool strict, char **out, vm_err *err);

/* The "schema" object of collections/create: {autoID, enableDynamicField,
 * fields:[...]} with typeParams in elementTypeParams. New reference. */
json_t *vm_schema_to_milvus(const vm_schema *s);
/* Parse the "schema" object of collections/create (vm_schema_to_milvus's
 * output) back; collection names the result. Used to hand the target schema
 * from the coordinator to the workers through the state store. */
int vm_schema_from_milvus(const json_t *schema, const char *collection, vm_schema **out,
                          vm_err *err);
/* Parse the `data` of collections/describe into a schema. */
int vm_schema_from_milvus_describe(const json_t *data, vm_schema **out, vm_err *err);

#endif

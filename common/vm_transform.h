/*
 * vm_transform.h - turn a batch in the source's schema into a batch in the
 * target's schema, as the mapping decided.
 *
 * The mapping module (vm_mapping.h) resolves a mapping file against the
 * source schema into a target schema and a *program*: one step per target
 * column. This module runs that program on every batch a worker reads:
 *
 *   copy     the source column as it is, under the target name. The target
 *            batch borrows the source column's buffers (no copy), so a
 *            mapping that only renames or drops costs nothing per row.
 *   convert  the source column converted to the target field's type
 *            (Int32 -> Int64, Double -> Float, Float16Vector -> FloatVector,
 *            number -> VarChar, ...). vm_transform_conversion() says which
 *            conversions exist and whether each is lossless, checked
 *            (values that do not fit fail the row) or lossy.
 *   lift     the value at a path inside a JSON source column (a JSON field,
 *            or the dynamic field "$meta") into a typed field: "author.name"
 *            of {"author":{"name":"x"}}. A missing key or JSON null is a null
 *            value (then the field's default, or an error when the field is
 *            neither nullable nor defaulted).
 *   rest     a JSON source column without the lifted paths (parents left
 *            empty by a removal are removed too), into a JSON field or into
 *            the dynamic field "$meta" (then the value must be an object).
 *            Bytes outside the removed members are kept exactly as the
 *            source sent them: numbers are never re-formatted.
 *   const    an added field: its default value in every row (or null).
 *
 * Every step may carry a default value: a null result becomes the default.
 * A value that cannot be converted fails the whole batch with
 * VM_ERR_INVALID and a message naming the target field, the row and, for
 * lifts, the path ("field 'author' (lift of metadata.author.name) row 12:
 * expected a string, got 42"). Values are never truncated, except VarChar
 * steps marked `truncate` (a lossy mapping the user allowed), which cut at
 * a UTF-8 character boundary and count each cut.
 *
 * Programs travel as JSON (in the job record, from the coordinator to the
 * workers):
 *   {"steps":[
 *     {"op":"copy",    "target":"title",  "source":"title"},
 *     {"op":"convert", "target":"score",  "source":"score", "lossy":true},
 *     {"op":"lift",    "target":"author", "source":"metadata", "path":["author","name"]},
 *     {"op":"rest",    "target":"metadata", "source":"metadata",
 *                      "remove":[["author","name"]]},
 *     {"op":"const",   "target":"tenant", "value":"acme"},
 *     ... any step may also have "default": <json value> and "truncate": true
 *   ]}
 * "source" names a field of the source schema, or "$meta" (the source's
 * dynamic column); "target" names a field of the target schema, or "$meta"
 * (the target's dynamic field, whose column is JSON text).
 *
 * Details the steps follow:
 *   - copy needs the same type (limits may differ: a shorter max_length or
 *     smaller max_capacity is checked per value); anything else is convert.
 *     Copies, and the conversions that keep the column's representation
 *     (Array -> JSON, JSON -> VarChar), borrow the input's buffers.
 *   - A null result (null source value, missing key, JSON null, a path step
 *     that meets a non-object) becomes: the step's "default" if it has one;
 *     else null if the target is nullable (Milvus applies the field's own
 *     default); else the target field's default_value; else the row fails.
 *   - const takes "value" (or "default"); without one, the field's
 *     default_value, else null (the field must then be nullable). Target
 *     fields no step fills get an implicit const the same way.
 *   - convert of a JSON column: to VarChar, the JSON text as it is; to any
 *     other type, the JSON -> X rules of lifts (a JSON null is null). Lifts
 *     into VarChar take JSON strings only (unescaped to UTF-8).
 *   - JSON -> Array<E>: elements checked against E, written compactly;
 *     integers canonical (2.0 -> 2), other numbers and strings as written.
 *   - rest: a JSON null is null; into "$meta" the value must be an object;
 *     a JSON field takes any value (non-objects unchanged).
 *   - "changed" counts values that a lossy conversion stored differently
 *     (for Float targets: (double)(float)v != v, also for numbers read from
 *     text or JSON; half-precision vectors count once per vector).
 *   - The input batch must hold a column per source field the program reads
 *     (by name, of the schema's type), and "$meta" when it reads "$meta".
 */
#ifndef VM_TRANSFORM_H
#define VM_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_batch.h"
#include "vm_err.h"
#include "vm_schema.h"

/* The name of the dynamic column in batches (the Milvus row key). */
#define VM_META_FIELD "$meta"

typedef enum vm_xf_op {
    VM_XF_COPY,
    VM_XF_CONVERT,
    VM_XF_LIFT,
    VM_XF_REST,
    VM_XF_CONST,
} vm_xf_op;

/* How a value of one type becomes another. */
typedef enum vm_conv_kind {
    VM_CONV_NONE = 0,  /* no such conversion */
    VM_CONV_EXACT,     /* every value converts without change */
    VM_CONV_CHECKED,   /* exact, but some values do not fit: they fail the row */
    VM_CONV_LOSSY,     /* values may change (rounding, precision); needs lossy: true */
} vm_conv_kind;

/* The conversion from field `from` to field `to` (types, element types,
 * dims, max_length, max_capacity all considered; for VarChar -> shorter
 * VarChar and Array -> smaller capacity: CHECKED). `from` of type JSON
 * stands for a lifted JSON value of any kind. *note (may be NULL) gets a
 * static one-line explanation ("Double -> Float rounds to float32"). */
vm_conv_kind vm_transform_conversion(const vm_field *from, const vm_field *to,
                                     const char **note);

typedef struct vm_transform vm_transform;

/* Build from a program (see above). src: the schema the source reads
 * (its batch columns); dst: the target schema (its batch gets one column
 * per field, except an autoID primary key, plus "$meta" when the program
 * has a step targeting it). Every step is checked against both schemas:
 * unknown fields, a conversion vm_transform_conversion() calls NONE, a
 * LOSSY one without "lossy":true, a dst field (other than an autoID
 * primary) no step fills and that is neither nullable nor defaulted -> 
 * VM_ERR_INVALID naming the step ("transform step 3 (target 'x'): ..."). */
int vm_transform_new(const json_t *program, const vm_schema *src, const vm_schema *dst,
                     vm_transform **out, vm_err *err);
void vm_transform_free(vm_transform *t);

/* The identity program for a schema: one copy step per field (except an
 * autoID primary key), plus "$meta" -> "$meta" when the dynamic field is
 * enabled. New reference. */
json_t *vm_transform_identity(const vm_schema *s);

/* Run the program on `in` (a batch of the src schema). *out points at a
 * batch owned by t and valid until the next apply or free; it borrows
 * columns of `in`, so `in` must stay unchanged while *out is used. */
int vm_transform_apply(vm_transform *t, vm_batch *in, const vm_batch **out, vm_err *err);

/* The target field that holds source field `source` unchanged (a copy
 * step), or NULL. Lets a source's resume filter name the right field. */
const char *vm_transform_target_of(const vm_transform *t, const char *source);

/* Counters since creation: values cut by `truncate` steps and values a
 * lossy conversion changed (e.g. a Double that float32 cannot hold
 * exactly). */
typedef struct vm_transform_stats {
    int64_t truncated;
    int64_t changed;
} vm_transform_stats;
void vm_transform_stats_get(const vm_transform *t, vm_transform_stats *out);

#endif

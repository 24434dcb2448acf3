/*
 * vm_mapping.h - the mapping file: how the source's schema becomes the
 * target collection.
 *
 * A mapping is a YAML/JSON document (inline under `mapping:` in the job
 * file, or a file of its own) that says everything the target may differ
 * in from the source as discovered: field names, types, nullability,
 * defaults, fields lifted out of JSON metadata, added fields, the primary
 * key, partitioning, shards, consistency level, the collection's name and
 * indexes. Every key is optional: no mapping at all gives the source's
 * schema with names made valid for Milvus. The format is in README.md
 * ("Mapping file"); `vecmig plan --write-mapping` writes the complete
 * mapping of a job as an editable starting point.
 *
 * vm_mapping_resolve() checks a mapping against the source schema (and a
 * sample of source rows, for what schemaless metadata holds) and produces:
 *   - the target schema (validated against Milvus's rules),
 *   - the transform program the workers run on every batch (vm_transform.h),
 *   - the collection options (create params, explicit partitions, indexes),
 *   - a table of what maps to what with notes, and warnings,
 *   - the resolved mapping with every choice spelled out.
 * Nothing is contacted: the caller has already discovered and sampled.
 * Every error is one line naming the mapping key's path (and its file
 * position when known): "map.yaml:7:5: fields[2].type: ...".
 */
#ifndef VM_MAPPING_H
#define VM_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "vm_batch.h"
#include "vm_config.h"
#include "vm_err.h"
#include "vm_schema.h"

#define VM_MAPPING_SAMPLE_DEFAULT 100

/* One line of the plan's mapping table. */
typedef struct vm_map_row {
    char *source;      /* "title", "metadata.author.name"; "" for an added field */
    char *source_type; /* "VarChar(256)"; "" for an added field */
    char *target;      /* target field, "$meta" (dynamic field) or "" (dropped) */
    char *target_type; /* "" when dropped */
    char *notes;
    bool lossy;
} vm_map_row;

typedef struct vm_mapping_result {
    vm_schema *target;   /* the collection to create */
    json_t *program;     /* for vm_transform_new() */
    json_t *params;      /* collections/create "params" (shardsNum, ...); object */
    json_t *index;       /* {"create":bool, "load":bool, "fields":{name:{metric,index_type}}} */
    json_t *resolved;    /* the mapping with every choice explicit */
    json_t *suggestions; /* [{"source":path, "type":..., ..., "seen":n}] keys found in sampled
                          * JSON that the mapping leaves where they are */
    vm_map_row *rows;
    size_t nrows;
    char **warnings;     /* lossy choices, sampled nulls in non-nullable fields, ... */
    size_t nwarnings;
    int64_t sampled;     /* rows in the sample (0: none) */
    int64_t sample_rows; /* rows the mapping asked to sample */
} vm_mapping_result;

/* Rows to sample for a mapping (its sample_rows key, default 100; 0 =
 * none). mapping may be NULL. Invalid values are reported by resolve. */
int64_t vm_mapping_sample_rows(const json_t *mapping);

/*
 * mapping: the document (NULL or null = no mapping); path: its key path in
 * messages ("mapping" when inline in a job file, "" for a file of its own);
 * where: for file:line:col (may be NULL). source: as discovered. sample: up
 * to sample_rows rows of the source in its read schema (every field but an
 * autoID primary key, plus "$meta" when the source has dynamic metadata);
 * may be NULL. On failure *out is zeroed.
 */
int vm_mapping_resolve(const json_t *mapping, const char *path, const vm_conf_where *where,
                       const vm_schema *source, const vm_batch *sample,
                       vm_mapping_result *out, vm_err *err);
void vm_mapping_result_release(vm_mapping_result *r);

/* The resolved mapping as an editable YAML file, with comments: the
 * source, the suggestions as commented-out entries, what each key does. */
int vm_mapping_write_yaml(const vm_mapping_result *r, const vm_schema *source,
                          const char *job_id, FILE *f, vm_err *err);

/* The table and warnings as JSON, for the report: {"fields":[{source,
 * source_type, target, target_type, notes, lossy}], "warnings":[...],
 * "sampled_rows":n}. New reference. */
json_t *vm_mapping_summary(const vm_mapping_result *r);

/* The aligned mapping table and the warnings, as `plan` prints them. */
void vm_mapping_print(const vm_mapping_result *r, FILE *f);

/* The read schema for a source schema and a program: the source fields
 * some step reads (never an autoID primary key), in source order, plus the
 * dynamic column when read. New schema. */
vm_schema *vm_mapping_read_schema(const vm_schema *source, const json_t *program);

#endif

/*
 * plan.h - from a job file to a plan: the target schema and the tasks.
 *
 * Discovers the source schema, counts the source, splits it into range
 * tasks, samples rows (spread over up to 10 tasks) for what schemaless
 * metadata holds, and resolves the job's mapping (vm_mapping.h) into the
 * target collection, validated against Milvus's rules before anything is
 * created. Nothing is written anywhere: `vecmig plan` prints this, the
 * coordinator then creates the collection and publishes the tasks.
 */
#ifndef VM_PLAN_H
#define VM_PLAN_H

#include <stdio.h>

#include "vm_config.h"
#include "vm_connector.h"
#include "vm_mapping.h"

typedef struct vm_plan {
    vm_schema *source;  /* as discovered */
    vm_schema *target;  /* what the collection will be (map.target) */
    vm_mapping_result map; /* the job's mapping resolved against the source */
    vm_task *tasks;
    size_t ntasks, cap;
    int64_t source_rows; /* exact count at planning time */
} vm_plan;

int vm_plan_build(const vm_job_conf *job, vm_source *src, vm_plan *out, vm_err *err);
void vm_plan_release(vm_plan *p);

/* Aligned text: the schema table and the task split. */
void vm_plan_print(const vm_plan *p, const vm_job_conf *job, FILE *f);
/* One line per field: "name  Type(params)  flags". */
void vm_schema_print(const vm_schema *s, FILE *f);

#endif

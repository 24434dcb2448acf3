/*
 * vm_job.h - what the coordinator and the workers share about one job.
 *
 * - Each job has its own task topic, "<queue.topic>.<job id>", dead-letter
 *   topic "<queue.dead_letter_topic>.<job id>" and consumer group
 *   "<queue.group>.<job id>", so workers started for one job never see
 *   another job's tasks nor take part in its rebalances.
 * - The job record in the state store carries what workers need and the
 *   job file does not say: the target schema the coordinator decided on
 *   (Milvus create form) and the collection name. It holds no secrets:
 *   workers take credentials from their own job file.
 */
#ifndef VM_JOB_H
#define VM_JOB_H

#include <jansson.h>

#include "vm_config.h"
#include "vm_queue.h"
#include "vm_schema.h"

#include "vm_connector.h"
#include "vm_state.h"

int vm_job_queue_open(const vm_job_conf *job, const char *role, vm_queue **out, vm_err *err);

/* Everything a coordinator or a worker talks to for one job. */
typedef struct vm_job_conn {
    vm_source *src;
    vm_sink *sink;
    vm_state *state;
    vm_queue *queue;
} vm_job_conn;

/* Open source, sink, state store and the job's queue in `role` ("producer"
 * | "consumer"). With `distributed`, the job must use a kafka queue and a
 * redis state store (VM_ERR_INVALID otherwise, naming the keys): separate
 * processes cannot share the embedded ones. On failure nothing is left
 * open. */
int vm_job_connect(const vm_job_conf *job, const char *role, bool distributed, vm_job_conn *out,
                   vm_err *err);
void vm_job_disconnect(vm_job_conn *c);

/* New record: {"version":1, "source":{type, collection}, "target":{type,
 * collection}, "schema":{...}, "source_schema":{...}, "program":{...},
 * "partition_field":name|null, "index":{...}, "mapping":{...},
 * "source_rows_start":N, "task_rows":N, "on_existing":"fail|append",
 * "target_rows_before":N|-1}. "program" is the transform the workers run
 * (vm_transform.h) from the source schema to the target schema; "mapping"
 * the resolved mapping, for the report. */
typedef struct vm_job_mapping {
    const json_t *program;
    const json_t *index;
    const json_t *resolved;
    const json_t *summary; /* the plan's mapping table and warnings */
} vm_job_mapping;

json_t *vm_job_record_new(const vm_job_conf *job, const vm_schema *source,
                          const vm_schema *target, const vm_job_mapping *map,
                          int64_t source_rows, int64_t target_rows_before);
/* The target schema from a record (with its partition_field). */
int vm_job_record_schema(const json_t *record, vm_schema **out, vm_err *err);
/* What a worker reads with: the source schema, its read schema (the
 * columns the program uses) and the program. New objects. */
int vm_job_record_source(const json_t *record, vm_schema **source, vm_schema **read,
                         json_t **program, vm_err *err);

/* A worker id: "<hostname>-<pid>-<4 random hex>". */
void vm_job_worker_id(char *buf, size_t cap);

#endif

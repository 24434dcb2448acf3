/*
 * vm_job.c - per-job topics, the job record, worker ids.
 */
#include "vm_job.h"
#include "vm_mapping.h"
#include "vm_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vm_job_queue_open(const vm_job_conf *job, const char *role, vm_queue **out, vm_err *err)
{
    char topic[512], dead[512], group[512];
    vm_job_queue_conf q = job->queue;
    snprintf(topic, sizeof topic, "%s.%s", q.topic ? q.topic : "vecmig.tasks", job->job.id);
    snprintf(dead, sizeof dead, "%s.%s", q.dead_letter_topic ? q.dead_letter_topic : "vecmig.dead",
             job->job.id);
    snprintf(group, sizeof group, "%s.%s", q.group ? q.group : "vecmig-workers", job->job.id);
    q.topic = topic;
    q.dead_letter_topic = dead;
    q.group = group;
    return vm_queue_open(&q, role, out, err);
}

int vm_job_connect(const vm_job_conf *job, const char *role, bool distributed, vm_job_conn *c,
                   vm_err *err)
{
    memset(c, 0, sizeof *c);
    if (distributed && (job->queue.type != VM_QUEUE_KAFKA || job->state.type != VM_STATE_REDIS))
        return vm_err_setc(err, VM_ERR_INVALID,
                           "queue.type must be kafka and state.type redis to run distributed "
                           "(vecmig migrate runs a job in one process)");
    int rc;
    if ((rc = vm_source_new(job->source.type, job->source.conf, &c->src, err)) != VM_OK ||
        (rc = vm_sink_new(job->target.type, job->target.conf, &c->sink, err)) != VM_OK ||
        (rc = vm_state_open(&job->state, &c->state, err)) != VM_OK ||
        (rc = vm_job_queue_open(job, role, &c->queue, err)) != VM_OK)
        vm_job_disconnect(c);
    return rc;
}

void vm_job_disconnect(vm_job_conn *c)
{
    vm_queue_close(c->queue);
    vm_state_close(c->state);
    vm_sink_free(c->sink);
    vm_source_free(c->src);
    memset(c, 0, sizeof *c);
}

json_t *vm_job_record_new(const vm_job_conf *job, const vm_schema *source,
                          const vm_schema *target, const vm_job_mapping *map,
                          int64_t source_rows, int64_t target_rows_before)
{
    json_t *schema = vm_schema_to_milvus(target), *sschema = vm_schema_to_milvus(source);
    if (!schema || !sschema) {
        json_decref(schema);
        json_decref(sschema);
        return NULL;
    }
    json_t *r = json_pack("{s:i, s:{s:s, s:s}, s:{s:s, s:s}, s:o, s:o, s:I, s:I, s:s, s:I}",
                          "version", 1, "source", "type", job->source.type, "collection",
                          source->collection, "target", "type", job->target.type, "collection",
                          target->collection, "schema", schema, "source_schema", sschema,
                          "source_rows_start", (json_int_t)source_rows, "task_rows",
                          (json_int_t)job->migration.task_rows, "on_existing",
                          job->migration.on_existing == VM_ON_EXISTING_APPEND ? "append" : "fail",
                          "target_rows_before", (json_int_t)target_rows_before);
    if (!r)
        return NULL;
    if (source->dynamic_alias)
        json_object_set_new(json_object_get(r, "source"), "dynamic_alias",
                            json_string(source->dynamic_alias));
    json_object_set_new(r, "partition_field", target->partition_field
                                                  ? json_string(target->partition_field)
                                                  : json_null());
    if (map && map->program)
        json_object_set(r, "program", (json_t *)map->program);
    if (map && map->index)
        json_object_set(r, "index", (json_t *)map->index);
    if (map && map->resolved)
        json_object_set(r, "mapping", (json_t *)map->resolved);
    if (map && map->summary)
        json_object_set(r, "mapping_summary", (json_t *)map->summary);
    return r;
}

int vm_job_record_schema(const json_t *record, vm_schema **out, vm_err *err)
{
    const char *coll = json_string_value(json_object_get(json_object_get(record, "target"),
                                                         "collection"));
    json_t *schema = json_object_get(record, "schema");
    if (!coll || !schema)
        return vm_err_setc(err, VM_ERR_PROTOCOL, "job record lacks the target schema");
    int rc = vm_schema_from_milvus(schema, coll, out, err);
    const char *pf = json_string_value(json_object_get(record, "partition_field"));
    if (rc == VM_OK && pf && !((*out)->partition_field = vm_strdup(pf))) {
        vm_schema_free(*out);
        *out = NULL;
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    return rc;
}

int vm_job_record_source(const json_t *record, vm_schema **source, vm_schema **read,
                         json_t **program, vm_err *err)
{
    *source = *read = NULL;
    *program = NULL;
    const json_t *src = json_object_get(record, "source");
    const char *coll = json_string_value(json_object_get(src, "collection"));
    json_t *ss = json_object_get(record, "source_schema");
    json_t *prog = json_object_get(record, "program");
    if (!coll || !ss || !json_is_object(prog))
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "job record lacks the source schema or the program (written by an "
                           "older vecmig?)");
    int rc = vm_schema_from_milvus(ss, coll, source, err);
    if (rc != VM_OK)
        return rc;
    const char *alias = json_string_value(json_object_get(src, "dynamic_alias"));
    if (alias && !((*source)->dynamic_alias = vm_strdup(alias)))
        goto nomem;
    if (!(*read = vm_mapping_read_schema(*source, prog)))
        goto nomem;
    *program = json_incref(prog);
    return VM_OK;
nomem:
    vm_schema_free(*source);
    vm_schema_free(*read);
    *source = *read = NULL;
    return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
}

void vm_job_worker_id(char *buf, size_t cap)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid();
    snprintf(buf, cap, "%s-%d-%04x", host, (int)getpid(), (unsigned)rand_r(&seed) & 0xffff);
}

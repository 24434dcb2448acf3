/*
 * plan.c - discovery, target schema, validation and task split.
 */
#include "plan.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <string.h>

static int vm_plan_collect(void *ctx, const vm_task *t, vm_err *err)
{
    vm_plan *p = ctx;
    if (vm_grow((void **)&p->tasks, &p->cap, p->ntasks + 1, sizeof *p->tasks) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory planning tasks");
    int rc = vm_task_copy(&p->tasks[p->ntasks], t, err);
    if (rc == VM_OK)
        p->ntasks++;
    return rc;
}

int vm_plan_build(const vm_job_conf *job, vm_source *src, vm_plan *p, vm_err *err)
{
    memset(p, 0, sizeof *p);
    int rc;
    char *name = NULL;
    if ((rc = vm_source_discover(src, &p->source, err)) != VM_OK)
        goto fail;
    if (!(p->target = vm_schema_clone(p->source))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = vm_name_to_milvus(p->source->collection, false, &name, err)) != VM_OK) {
        vm_err_prefix(err, "target collection: ");
        goto fail;
    }
    vm_free(p->target->collection);
    p->target->collection = name;
    if ((rc = vm_schema_validate(p->target, err)) != VM_OK) {
        vm_err_prefix(err, "target schema: ");
        goto fail;
    }
    if ((rc = vm_source_count(src, &p->source_rows, err)) != VM_OK)
        goto fail;
    vm_plan_opts po = {.job_id = job->job.id, .task_rows = job->migration.task_rows};
    if ((rc = vm_source_plan(src, &po, vm_plan_collect, p, err)) != VM_OK)
        goto fail;
    return VM_OK;
fail:
    vm_plan_release(p);
    return rc;
}

void vm_plan_release(vm_plan *p)
{
    vm_schema_free(p->source);
    vm_schema_free(p->target);
    for (size_t i = 0; i < p->ntasks; i++)
        vm_task_release(&p->tasks[i]);
    vm_free(p->tasks);
    memset(p, 0, sizeof *p);
}

static void vm_field_type_str(const vm_field *f, char *buf, size_t n)
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

void vm_schema_print(const vm_schema *s, FILE *f)
{
    size_t w = 5;
    for (size_t i = 0; i < s->nfields; i++)
        if (strlen(s->fields[i].name) > w)
            w = strlen(s->fields[i].name);
    fprintf(f, "  %-*s  %-28s  %s\n", (int)w, "field", "type", "attributes");
    for (size_t i = 0; i < s->nfields; i++) {
        const vm_field *fd = &s->fields[i];
        char type[96], attrs[256] = "";
        vm_field_type_str(fd, type, sizeof type);
        size_t used = 0;
#define VM_ATTR(cond, text)                                                                     \
    if ((cond) && used < sizeof attrs)                                                          \
        used += (size_t)snprintf(attrs + used, sizeof attrs - used, "%s%s", used ? ", " : "", text);
        VM_ATTR(fd->primary, "primary key");
        VM_ATTR(fd->auto_id, "autoID");
        VM_ATTR(fd->partition_key, "partition key");
        VM_ATTR(fd->nullable, "nullable");
        VM_ATTR(fd->default_value, "default");
        VM_ATTR(fd->description, fd->description);
#undef VM_ATTR
        fprintf(f, "  %-*s  %-28s  %s\n", (int)w, fd->name, type, attrs);
    }
    if (s->enable_dynamic)
        fprintf(f, "  (dynamic field enabled)\n");
}

void vm_plan_print(const vm_plan *p, const vm_job_conf *job, FILE *f)
{
    fprintf(f, "job %s: %s -> %s\n\n", job->job.id, job->source.type, job->target.type);
    fprintf(f, "source %s: %" PRId64 " rows\n", p->source->collection, p->source_rows);
    vm_schema_print(p->source, f);
    fprintf(f, "\ntarget collection %s\n", p->target->collection);
    vm_schema_print(p->target, f);
    fprintf(f, "\n%zu tasks of about %" PRId64 " rows:\n", p->ntasks, job->migration.task_rows);
    size_t show = p->ntasks <= 12 ? p->ntasks : 10;
    for (size_t i = 0; i < show; i++) {
        char d[256];
        vm_task_describe(&p->tasks[i], d, sizeof d);
        fprintf(f, "  #%-5u %-40s ~%" PRId64 " rows\n", p->tasks[i].id, d, p->tasks[i].est_rows);
    }
    if (show < p->ntasks)
        fprintf(f, "  ... %zu more\n", p->ntasks - show);
}

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

/* Append row r of `from` to `to` (both of one schema). */
static int vm_batch_copy_row(vm_batch *to, const vm_batch *from, size_t r, vm_err *err)
{
    size_t row;
    int rc = vm_batch_add_row(to, &row, err);
    for (size_t c = 0; rc == VM_OK && c < from->ncols; c++) {
        const vm_column *col = &from->cols[c];
        if (vm_batch_is_null(from, c, r)) {
            rc = vm_batch_set_null(to, c, row, err);
            continue;
        }
        size_t len;
        const char *s;
        switch (col->type) {
        case VM_T_BOOL: rc = vm_batch_set_bool(to, c, row, vm_batch_get_bool(from, c, r), err); break;
        case VM_T_INT8:
        case VM_T_INT16:
        case VM_T_INT32:
        case VM_T_INT64: rc = vm_batch_set_int(to, c, row, vm_batch_get_int(from, c, r), err); break;
        case VM_T_FLOAT:
        case VM_T_DOUBLE:
            rc = vm_batch_set_double(to, c, row, vm_batch_get_double(from, c, r), err);
            break;
        case VM_T_VARCHAR:
        case VM_T_JSON:
        case VM_T_ARRAY:
            s = vm_batch_get_str(from, c, r, &len);
            rc = vm_batch_set_str(to, c, row, s, len, err);
            break;
        case VM_T_SPARSE_FLOAT_VECTOR: {
            const uint32_t *idx;
            const float *val;
            size_t nnz = vm_batch_get_sparse(from, c, r, &idx, &val);
            rc = vm_batch_set_sparse(to, c, row, idx, val, nnz, err);
            break;
        }
        default:
            if (vm_dtype_is_dense_vector(col->type))
                memcpy(vm_batch_vector(to, c, row), vm_batch_get_vector(from, c, r),
                       vm_dtype_vector_bytes(col->type, col->dim));
            break;
        }
    }
    return rc;
}

/* Up to `want` rows spread over up to 10 tasks, into a batch of the
 * source's read schema. */
static int vm_plan_sample(vm_source *src, const vm_plan *p, int64_t want, vm_batch **out,
                          vm_err *err)
{
    *out = NULL;
    if (want <= 0 || p->ntasks == 0)
        return VM_OK;
    vm_schema *rs = vm_mapping_read_schema(p->source, NULL);
    vm_batch *b = NULL, *part = NULL;
    int rc = VM_OK;
    if (!rs) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = vm_batch_new(rs, (size_t)want, &b, err)) != VM_OK ||
        (rc = vm_batch_new(rs, (size_t)want, &part, err)) != VM_OK)
        goto cleanup;
    size_t k = p->ntasks < 10 ? p->ntasks : 10;
    int64_t per = (want + (int64_t)k - 1) / (int64_t)k;
    for (size_t i = 0; i < k && (int64_t)b->nrows < want; i++) {
        const vm_task *t = &p->tasks[i * p->ntasks / k];
        /* later tasks make up for short ones */
        int64_t left = want - (int64_t)b->nrows;
        int64_t take = per * (int64_t)(i + 1) - (int64_t)b->nrows;
        if (i == k - 1 || take > left)
            take = left;
        if (take <= 0)
            continue;
        if ((rc = vm_source_open(src, t, NULL, err)) != VM_OK)
            goto cleanup;
        bool done = false;
        while (!done && take > 0) {
            vm_batch_clear(part);
            rc = vm_source_read(src, part, (size_t)take, &done, err);
            if (rc != VM_OK)
                break;
            for (size_t r = 0; r < part->nrows && take > 0; r++, take--)
                if ((rc = vm_batch_copy_row(b, part, r, err)) != VM_OK)
                    break;
            if (rc != VM_OK || part->nrows == 0)
                break;
        }
        vm_source_close(src);
        if (rc != VM_OK) {
            vm_err_prefix(err, "sampling rows for the mapping: ");
            /* a sampled row the target cannot take (a NULL or malformed
             * vector, ...) is bad source data, not a bad job file: exit 1
             * as when a task meets it, not 2 */
            if (rc == VM_ERR_INVALID)
                rc = err->code = VM_ERR_PROTOCOL;
            goto cleanup;
        }
    }
    *out = b;
    b = NULL;
cleanup:
    vm_batch_free(b);
    vm_batch_free(part);
    vm_schema_free(rs);
    return rc;
}

int vm_plan_build(const vm_job_conf *job, vm_source *src, vm_plan *p, vm_err *err)
{
    memset(p, 0, sizeof *p);
    int rc;
    vm_batch *sample = NULL;
    if ((rc = vm_source_discover(src, &p->source, err)) != VM_OK)
        goto fail;
    if ((rc = vm_source_count(src, &p->source_rows, err)) != VM_OK)
        goto fail;
    vm_plan_opts po = {.job_id = job->job.id, .task_rows = job->migration.task_rows};
    if ((rc = vm_source_plan(src, &po, vm_plan_collect, p, err)) != VM_OK)
        goto fail;
    const json_t *mapping = json_is_object(job->mapping) ? job->mapping : NULL;
    if ((rc = vm_plan_sample(src, p, vm_mapping_sample_rows(mapping), &sample, err)) != VM_OK)
        goto fail;
    rc = vm_mapping_resolve(mapping, job->mapping_path ? job->mapping_path : "mapping",
                            &job->mapping_where, p->source, sample, &p->map, err);
    vm_batch_free(sample);
    if (rc != VM_OK)
        goto fail;
    p->target = p->map.target;
    return VM_OK;
fail:
    vm_plan_release(p);
    return rc;
}

void vm_plan_release(vm_plan *p)
{
    vm_schema_free(p->source);
    vm_mapping_result_release(&p->map);
    for (size_t i = 0; i < p->ntasks; i++)
        vm_task_release(&p->tasks[i]);
    vm_free(p->tasks);
    memset(p, 0, sizeof *p);
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
        vm_field_type_text(fd, type, sizeof type);
        size_t used = 0;
#define VM_ATTR(cond, text)                                                                     \
    if ((cond) && used < sizeof attrs)                                                          \
        used += (size_t)snprintf(attrs + used, sizeof attrs - used, "%s%s", used ? ", " : "", text);
        VM_ATTR(fd->primary, "primary key");
        VM_ATTR(fd->auto_id, "autoID");
        VM_ATTR(fd->partition_key, "partition key");
        VM_ATTR(fd->nullable, "nullable");
        VM_ATTR(fd->default_value, "default");
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
    fprintf(f, "\nmapping%s%s:\n", job->mapping ? " from " : " (detected; no mapping given)",
            job->mapping ? (job->mapping_origin ? job->mapping_origin : "the job file") : "");
    vm_mapping_print(&p->map, f);
    fprintf(f, "\ntarget collection %s (shards %" PRId64 ", consistency %s%s%s)\n",
            p->target->collection,
            (int64_t)json_integer_value(json_object_get(p->map.params, "shardsNum")),
            json_string_value(json_object_get(p->map.params, "consistencyLevel")),
            p->target->partition_field ? ", partitions from " : "",
            p->target->partition_field ? p->target->partition_field : "");
    vm_schema_print(p->target, f);
    json_t *ix = p->map.index;
    if (json_is_true(json_object_get(ix, "create")) || json_is_true(json_object_get(ix, "load")))
        fprintf(f, "  after the data: %s%s%s\n",
                json_is_true(json_object_get(ix, "create")) ? "index vector fields" : "",
                json_is_true(json_object_get(ix, "create")) &&
                        json_is_true(json_object_get(ix, "load"))
                    ? ", "
                    : "",
                json_is_true(json_object_get(ix, "load")) ? "load the collection" : "");
    else
        fprintf(f, "  after the data: no index, not loaded (collection.index to change)\n");
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

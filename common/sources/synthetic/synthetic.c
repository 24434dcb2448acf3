/*
 * synthetic.c - the `synthetic` source: deterministic generated rows.
 *
 * Not a stand-in for any product: it generates rows from a seed so that the
 * pipeline, the benchmarks and the tests can run without an external source,
 * and every row can be recomputed to check what arrived. Row k (0-based) has
 *   id     Int64 primary key = k
 *   vec    FloatVector(dim), components from splitmix64(seed, k, j) in [-1, 1)
 *   title  VarChar(64) "row-<k>"
 *   score  Double = k / 8.0
 *   tag    Int32, nullable: null when k % 7 == 3, else k % 1000
 * Tasks are integer ranges of k; the cursor is the next k.
 *
 * Job block:
 *   source: {type: synthetic, rows: 10000, dim: 128, seed: 1, collection: synthetic}
 * (all optional; the values shown are the defaults)
 */
#include "vm_config.h"
#include "vm_connector.h"
#include "vm_mem.h"
#include "synthetic.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vm_synth {
    int64_t rows, dim, seed;
    char *collection;
    /* reading */
    int64_t next, hi;
} vm_synth;

static uint64_t vm_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Component j of row k's vector: exactly representable floats in [-1, 1). */
float vm_synthetic_component(int64_t seed, int64_t k, int64_t j)
{
    uint64_t h = vm_splitmix64((uint64_t)seed * 0x100000001b3ULL ^
                               vm_splitmix64((uint64_t)k * 65537u + (uint64_t)j));
    return (float)((int32_t)(h >> 40) - (1 << 23)) / (float)(1 << 23);
}

static const vm_conf_entry vm_synth_table[] = {
    {"rows", VM_CT_INT, "10000", offsetof(vm_synth, rows), "rows to generate", NULL, 0, 0,
     INT64_MAX / 2},
    {"dim", VM_CT_INT, "128", offsetof(vm_synth, dim), "vector dimension", NULL, 0, 1,
     VM_MAX_DIM},
    {"seed", VM_CT_INT, "1", offsetof(vm_synth, seed), "generator seed", NULL, 0, 0, 0},
    {"collection", VM_CT_STRING, "synthetic", offsetof(vm_synth, collection),
     "name reported as the source collection", NULL, 0, 1, VM_MAX_NAME_LEN},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

static int vm_synth_init(void *state, const json_t *conf, vm_err *err)
{
    return vm_conf_apply(vm_synth_table, conf, "source", state, err);
}

static void vm_synth_fini(void *state) { vm_conf_release(vm_synth_table, state); }

static int vm_synth_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_synth *s = state;
    vm_schema *sc = vm_schema_new(s->collection);
    if (!sc)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    const vm_field fields[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "vec", .type = VM_T_FLOAT_VECTOR, .dim = s->dim},
        {.name = "title", .type = VM_T_VARCHAR, .max_length = 64},
        {.name = "score", .type = VM_T_DOUBLE},
        {.name = "tag", .type = VM_T_INT32, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int rc = vm_schema_add(sc, &fields[i], err);
        if (rc != VM_OK) {
            vm_schema_free(sc);
            return rc;
        }
    }
    *out = sc;
    return VM_OK;
}

static int vm_synth_count(void *state, int64_t *rows, vm_err *err)
{
    (void)err;
    *rows = ((vm_synth *)state)->rows;
    return VM_OK;
}

static int vm_synth_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *ctx,
                         vm_err *err)
{
    vm_synth *s = state;
    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)opts->job_id;
    t.kind = VM_RANGE_INT;
    t.has_lo = t.has_hi = true;
    for (int64_t lo = 0; lo < s->rows; lo += opts->task_rows) {
        t.lo = lo;
        t.hi = lo + opts->task_rows < s->rows ? lo + opts->task_rows : s->rows;
        t.est_rows = t.hi - t.lo;
        int rc = emit(ctx, &t, err);
        if (rc != VM_OK)
            return rc;
        t.id++;
    }
    return VM_OK;
}

static int vm_synth_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_synth *s = state;
    if (task->kind != VM_RANGE_INT || !task->has_lo || !task->has_hi)
        return vm_err_setc(err, VM_ERR_INVALID, "synthetic: task %" PRIu32 " is not a bounded int range",
                           task->id);
    s->next = task->lo;
    s->hi = task->hi < s->rows ? task->hi : s->rows;
    if (cursor) {
        char *end;
        long long c = strtoll(cursor, &end, 10);
        if (end == cursor || *end || c < task->lo || c > task->hi)
            return vm_err_setc(err, VM_ERR_INVALID, "synthetic: cursor '%s' outside task range",
                               cursor);
        s->next = c;
    }
    return VM_OK;
}

static int vm_synth_read(void *state, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    vm_synth *s = state;
    int cid = vm_batch_col(b, "id"), cvec = vm_batch_col(b, "vec"),
        ctitle = vm_batch_col(b, "title"), cscore = vm_batch_col(b, "score"),
        ctag = vm_batch_col(b, "tag");
    if (cid < 0 || cvec < 0 || ctitle < 0 || cscore < 0 || ctag < 0)
        return vm_err_setc(err, VM_ERR_INTERNAL, "synthetic: batch lacks a column");
    for (size_t n = 0; n < max_rows && s->next < s->hi; n++, s->next++) {
        int64_t k = s->next;
        size_t r;
        char title[32];
        int rc;
        if ((rc = vm_batch_add_row(b, &r, err)))
            return rc;
        int tl = snprintf(title, sizeof title, "row-%" PRId64, k);
        float *v = vm_batch_vector(b, (size_t)cvec, r);
        for (int64_t j = 0; j < s->dim; j++)
            v[j] = vm_synthetic_component(s->seed, k, j);
        if ((rc = vm_batch_set_int(b, (size_t)cid, r, k, err)) ||
            (rc = vm_batch_set_str(b, (size_t)ctitle, r, title, (size_t)tl, err)) ||
            (rc = vm_batch_set_double(b, (size_t)cscore, r, (double)k / 8.0, err)) ||
            (rc = (k % 7 == 3) ? vm_batch_set_null(b, (size_t)ctag, r, err)
                               : vm_batch_set_int(b, (size_t)ctag, r, k % 1000, err))) {
            vm_batch_drop_last(b);
            return rc;
        }
    }
    *done = s->next >= s->hi;
    return VM_OK;
}

static int vm_synth_cursor(void *state, char **out, vm_err *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, ((vm_synth *)state)->next);
    if (!(*out = vm_strdup(buf)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

const vm_source_ops vm_source_synthetic_ops = {
    .name = "synthetic",
    .summary = "deterministic generated rows (tests, benchmarks, demos)",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK | VM_CAP_SNAPSHOT,
    .state_size = sizeof(vm_synth),
    .init = vm_synth_init,
    .fini = vm_synth_fini,
    .discover = vm_synth_discover,
    .count = vm_synth_count,
    .plan = vm_synth_plan,
    .open = vm_synth_open,
    .read = vm_synth_read,
    .cursor = vm_synth_cursor,
};

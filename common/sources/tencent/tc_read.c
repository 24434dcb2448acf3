/*
 * tc_read.c - reading one task of a Tencent Cloud VectorDB collection with
 * /document/query, straight into the batch's columns.
 *
 * The batch decides what is read (its columns: "id", the vector, the
 * sparse vector, typed fields, "$meta"); with no "$meta" to fill, the
 * request names the fields it needs in outputFields. Vectors come only with
 * retrieveVector: true. Every query carries an explicit limit (the service
 * defaults to 1).
 *
 * Keyset tasks (kind int, scope = the uint64 field f):
 *   filter `f >= lo and f < hi` (after a cursor: `f > cursor and f < hi`),
 *   sort f ascending, limit = rows wanted + 1. f need not be unique: when a
 *   page is full, the documents carrying its last value are left for the
 *   next page (their value's run may continue beyond the page), so a page
 *   ends on a whole value and the cursor "last value consumed" is exact. A
 *   full page of one value is fetched again with limit 16384; more than
 *   16384 documents sharing one value cannot be read this way and fail the
 *   task with a message that says to use split: offset. Such a page may
 *   return more rows than asked (all of that value). Each page is checked to
 *   be sorted and inside the range, so a server that ignored the sort or the
 *   filter fails the task instead of losing rows.
 * Offset tasks (kind offset, [lo, hi) positions of the scan order):
 *   offset = position, limit = min(rows wanted, hi - position, 16384); no
 *   sort. cursor = the next position.
 *
 * Cursor contract: cursor() names the position after the last row returned:
 * the last key value consumed (keyset) or the next offset (offset); "" when
 * nothing was consumed and open() had no cursor (the start of the task).
 */
#include "tencent.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_transform.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void vm_tc_close(void *state)
{
    vm_tc *st = state;
    vm_task_release(&st->task);
    vm_task_init(&st->task);
    vm_free(st->tcols);
    vm_free(st->not_meta);
    st->tcols = NULL;
    st->not_meta = NULL;
    st->planned = false;
    st->open = false;
}

int vm_tc_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_tc *st = state;
    vm_tc_close(st);
    int rc = vm_tc_load(st, err);
    if (rc != VM_OK)
        return rc;
    if (task->kind != VM_RANGE_INT && task->kind != VM_RANGE_OFFSET)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "tencent: task %" PRIu32 " is a %s range; expected int (keyset) or "
                          "offset",
                          task->id, vm_range_kind_name(task->kind));
    if ((rc = vm_task_copy(&st->task, task, err)) != VM_OK)
        return rc;
    st->keyset = task->kind == VM_RANGE_INT;
    st->key_field = NULL;
    st->have_pos = false;
    st->finished = false;
    if (st->keyset) {
        const vm_tc_index *x = NULL;
        for (size_t i = 0; task->scope && i < st->nidx; i++)
            if (strcmp(st->idx[i].name, task->scope) == 0)
                x = &st->idx[i];
        if (!x || !x->field_type || strcmp(x->field_type, "uint64") != 0 || !x->index_type ||
            strcmp(x->index_type, "filter") != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "tencent: task %" PRIu32 " ranges over '%s', which is not a "
                              "uint64 filter index of collection '%s' (any more)",
                              task->id, task->scope ? task->scope : "(none)", st->collection);
        st->key_field = x->name;
    }
    st->pos = task->has_lo ? task->lo : 0;
    if (cursor && cursor[0]) {
        uint64_t v;
        if (vm_tc_parse_u64(cursor, strlen(cursor), &v) != 0 ||
            (!st->keyset && (v > (uint64_t)INT64_MAX || (int64_t)v < st->pos ||
                             (task->has_hi && (int64_t)v > task->hi))))
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "tencent: task %" PRIu32 ": bad cursor '%.40s'", task->id, cursor);
        if (st->keyset)
            st->pos_key = v;
        else
            st->pos = (int64_t)v;
        st->have_pos = true;
    }
    st->open = true;
    return VM_OK;
}

/* The column plan from the batch: which document member fills which
 * column, and the outputFields to ask for. */
static int vm_tc_plan_cols(vm_tc *st, const vm_batch *b, vm_err *err)
{
    vm_tc_layout *L = &st->lay;
    memset(L, 0, sizeof *L);
    L->col_id = L->col_vec = L->col_sparse = L->col_meta = -1;
    const vm_tc_index *vx = st->vec >= 0 ? &st->idx[st->vec] : NULL;
    const vm_tc_index *sx = st->sparse >= 0 ? &st->idx[st->sparse] : NULL;
    L->vec_name = vx ? vx->name : NULL;
    L->dim = vx ? vx->dim : 0;
    L->sparse_name = sx ? sx->name : NULL;
    L->key_field = st->key_field;
    bool typed = st->indexed_fields == VM_TC_FIELDS_TYPED;
    if (!(st->tcols = vm_calloc(b->ncols ? b->ncols : 1, sizeof *st->tcols)) ||
        !(st->not_meta = vm_calloc(st->nidx + 1, sizeof *st->not_meta)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < b->ncols; i++) {
        const vm_column *c = &b->cols[i];
        if (strcmp(c->name, "id") == 0) {
            if (c->type != VM_T_VARCHAR)
                goto badtype;
            L->col_id = (int)i;
        } else if (vx && strcmp(c->name, vx->name) == 0) {
            if (c->type != VM_T_FLOAT_VECTOR || c->dim != vx->dim)
                goto badtype;
            L->col_vec = (int)i;
        } else if (sx && strcmp(c->name, sx->name) == 0) {
            if (c->type != VM_T_SPARSE_FLOAT_VECTOR)
                goto badtype;
            L->col_sparse = (int)i;
        } else if (strcmp(c->name, VM_META_FIELD) == 0) {
            L->col_meta = (int)i;
        } else {
            const vm_tc_index *x = NULL;
            for (size_t k = 0; typed && k < st->nidx; k++)
                if (strcmp(st->idx[k].name, c->name) == 0 && st->idx[k].index_type &&
                    strcmp(st->idx[k].index_type, "filter") == 0)
                    x = &st->idx[k];
            if (!x)
                return vm_err_set(err, VM_ERR_INVALID, false,
                                  "tencent: field '%s' is not a field of collection '%s'",
                                  c->name, st->collection);
            st->tcols[L->ntyped++] =
                (vm_tc_tcol){.name = x->name, .ftype = vm_tc_ftype_parse(x->field_type),
                             .bcol = (int)i};
        }
        continue;
    badtype:
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "tencent: field '%s' cannot be read as Milvus %s", c->name,
                          vm_dtype_name(c->type));
    }
    L->typed = st->tcols;
    /* members that are not metadata */
    size_t n = 0;
    st->not_meta[n++] = "id";
    for (size_t k = 0; k < st->nidx; k++) {
        const vm_tc_index *x = &st->idx[k];
        bool vec = (int)k == st->vec || (int)k == st->sparse;
        bool tf = typed && x->index_type && strcmp(x->index_type, "filter") == 0 &&
                  vm_tc_ftype_parse(x->field_type) != VM_TC_F_UNKNOWN;
        if ((vec || tf) && strcmp(x->name, "id") != 0)
            st->not_meta[n++] = x->name;
    }
    L->not_meta = st->not_meta;
    L->nnot_meta = n;
    /* outputFields: all fields when "$meta" is read, else only those used */
    vm_buf_clear(&st->outputs);
    if (L->col_meta < 0) {
        vm_buf_puts(&st->outputs, "[\"id\"");
        const char *names[3] = {L->col_vec >= 0 ? L->vec_name : NULL,
                                L->col_sparse >= 0 ? L->sparse_name : NULL, st->key_field};
        for (int k = 0; k < 3; k++)
            if (names[k]) {
                vm_buf_putc(&st->outputs, ',');
                vm_buf_json_str(&st->outputs, names[k], strlen(names[k]));
            }
        for (size_t k = 0; k < L->ntyped; k++) {
            if (st->key_field && strcmp(st->tcols[k].name, st->key_field) == 0)
                continue;
            vm_buf_putc(&st->outputs, ',');
            vm_buf_json_str(&st->outputs, st->tcols[k].name, strlen(st->tcols[k].name));
        }
        vm_buf_putc(&st->outputs, ']');
        if (!vm_buf_ok(&st->outputs))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    st->planned = true;
    return VM_OK;
}

/* One /document/query; the filter (may be NULL) and sort come from the
 * task kind. */
static int vm_tc_query(vm_tc *st, const char *filter, int64_t limit, int64_t offset, vm_err *err)
{
    vm_buf *q = &st->req;
    vm_buf_clear(q);
    vm_buf_putc(q, '{');
    vm_tc_body_head(st, q);
    vm_buf_printf(q, ",\"query\":{\"retrieveVector\":%s,\"limit\":%" PRId64,
                  st->lay.col_vec >= 0 || st->lay.col_sparse >= 0 ? "true" : "false", limit);
    if (offset > 0)
        vm_buf_printf(q, ",\"offset\":%" PRId64, offset);
    if (filter) {
        vm_buf_puts(q, ",\"filter\":");
        vm_buf_json_str(q, filter, strlen(filter));
    }
    if (st->keyset) {
        vm_buf_puts(q, ",\"sort\":[{\"fieldName\":");
        vm_buf_json_str(q, st->key_field, strlen(st->key_field));
        vm_buf_puts(q, ",\"direction\":\"asc\"}]");
    }
    if (st->outputs.len) {
        vm_buf_puts(q, ",\"outputFields\":");
        vm_buf_append(q, st->outputs.data, st->outputs.len);
    }
    vm_buf_puts(q, "}}");
    if (!vm_buf_ok(q))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_tc_post(st, "document/query", q->data, q->len, err);
    if (rc == VM_ERR_NOT_FOUND)
        vm_err_prefix(err, "collection '%s' of database '%s': ", st->collection, st->database);
    return rc;
}

static int vm_tc_decode(vm_tc *st, size_t from, size_t to, vm_batch *b, vm_err *err)
{
    const char *body = st->resp.body;
    for (size_t i = from; i < to; i++) {
        const vm_json_span *d = &st->scratch.docs[i];
        int rc = vm_tc_decode_doc(&st->lay, body + d->off, d->len, b, &st->scratch, err);
        if (rc != VM_OK)
            return rc;
    }
    return VM_OK;
}

static int vm_tc_read_keyset(vm_tc *st, vm_batch *b, size_t max_rows, vm_err *err)
{
    const vm_task *t = &st->task;
    vm_buf fb;
    vm_buf_init(&fb);
    int rc = vm_tc_keyset_filter(st->key_field, t, st->have_pos, st->pos_key, &fb, err);
    int64_t limit = (int64_t)max_rows + 1;
    if (limit > VM_TC_MAX_LIMIT)
        limit = VM_TC_MAX_LIMIT;
    size_t nd = 0, take = 0;
    while (rc == VM_OK) {
        if ((rc = vm_tc_query(st, vm_buf_cstr(&fb), limit, 0, err)) != VM_OK ||
            (rc = vm_tc_scan_page(st->resp.body, st->resp.body_len, st->key_field, &st->scratch,
                                  &nd, err)) != VM_OK)
            break;
        const uint64_t *k = st->scratch.keys;
        if ((int64_t)nd > limit) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                             "tencent document/query: %zu documents for limit %" PRId64, nd,
                             limit);
            break;
        }
        for (size_t i = 0; i < nd; i++) {
            bool below = st->have_pos ? k[i] <= st->pos_key
                                      : (t->has_lo && k[i] < (uint64_t)t->lo);
            bool above = t->has_hi && k[i] >= (uint64_t)t->hi;
            if (below || above || (i && k[i] < k[i - 1])) {
                rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                                 "tencent document/query: the page is not sorted by '%s' inside "
                                 "the task's range (value %" PRIu64 " at %zu)",
                                 st->key_field, k[i], i);
                break;
            }
        }
        if (rc != VM_OK)
            break;
        if ((int64_t)nd < limit) { /* the rest of the range */
            take = nd;
            st->finished = true;
            break;
        }
        while (take < nd && k[take] != k[nd - 1])
            take++;
        if (take > 0)
            break;
        if (limit < VM_TC_MAX_LIMIT) { /* a full page of one value: all of it at once */
            limit = VM_TC_MAX_LIMIT;
            continue;
        }
        char v[24];
        vm_tc_format_u64(k[0], v, sizeof v);
        rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                        "tencent: more than %d documents have %s = %s: keyset ranges cannot "
                        "page through them; use split: offset",
                        VM_TC_MAX_LIMIT, st->key_field, v);
    }
    vm_buf_release(&fb);
    if (rc != VM_OK)
        return rc;
    if ((rc = vm_tc_decode(st, 0, take, b, err)) != VM_OK)
        return rc;
    if (take > 0) {
        st->pos_key = st->scratch.keys[take - 1];
        st->have_pos = true;
    }
    return VM_OK;
}

static int vm_tc_read_offset(vm_tc *st, vm_batch *b, size_t max_rows, vm_err *err)
{
    const vm_task *t = &st->task;
    int64_t limit = (int64_t)max_rows;
    if (limit > VM_TC_MAX_LIMIT)
        limit = VM_TC_MAX_LIMIT;
    if (t->has_hi && t->hi - st->pos < limit)
        limit = t->hi - st->pos;
    if (limit <= 0) {
        st->finished = true;
        return VM_OK;
    }
    size_t nd;
    int rc;
    if ((rc = vm_tc_query(st, NULL, limit, st->pos, err)) != VM_OK ||
        (rc = vm_tc_scan_page(st->resp.body, st->resp.body_len, NULL, &st->scratch, &nd, err)) !=
            VM_OK)
        return rc;
    if ((int64_t)nd > limit)
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "tencent document/query: %zu documents for limit %" PRId64, nd,
                           limit);
    if ((rc = vm_tc_decode(st, 0, nd, b, err)) != VM_OK)
        return rc;
    st->pos += (int64_t)nd;
    st->have_pos = true;
    if ((int64_t)nd < limit || (t->has_hi && st->pos >= t->hi))
        st->finished = true;
    return VM_OK;
}

int vm_tc_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err)
{
    vm_tc *st = state;
    *done = false;
    if (!st->open)
        return vm_err_setc(err, VM_ERR_INTERNAL, "tencent: read without open");
    int rc;
    if (!st->planned && (rc = vm_tc_plan_cols(st, batch, err)) != VM_OK)
        return rc;
    if (max_rows == 0)
        max_rows = 1;
    if (!st->finished) {
        rc = st->keyset ? vm_tc_read_keyset(st, batch, max_rows, err)
                        : vm_tc_read_offset(st, batch, max_rows, err);
        if (rc != VM_OK)
            return vm_err_prefix(err, "task %" PRIu32 ": ", st->task.id);
    }
    *done = st->finished;
    return VM_OK;
}

int vm_tc_cursor(void *state, char **out, vm_err *err)
{
    vm_tc *st = state;
    char buf[24] = "";
    if (st->have_pos) {
        if (st->keyset)
            vm_tc_format_u64(st->pos_key, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "%" PRId64, st->pos);
    }
    if (!(*out = vm_strdup(buf)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

/*
 * pg_read.c - reading one task of a PostgreSQL table: keyset pages in
 * binary, decoded straight into the batch's typed columns.
 *
 * The batch decides what is read: its columns name the fields to produce
 * and their Milvus types (the caller built it from the discovered schema,
 * possibly changed by a mapping: fields dropped, halfvec -> FloatVector, an
 * unsupported type -> VarChar). The SELECT list is built from the batch on
 * the first read after open(); each column gets an expression whose binary
 * form decodes directly: ints, floats and bool as themselves, text-like
 * types raw (the binary form of text is its bytes), json/jsonb, uuid,
 * dates, numeric and anything mapped to VarChar as col::text, arrays as
 * array_to_json(col)::text, vectors in pgvector's binary format (exact,
 * where text would round through decimal).
 *
 * Paging:
 *   integer key  WHERE pk >= lo AND pk < hi AND pk > cursor ORDER BY pk
 *                LIMIT n (an index range scan); cursor = last key read.
 *   ctid         WHERE ctid > cursor AND ctid < '(w,0)' ORDER BY ctid
 *                LIMIT n, over a window of blocks [cursor block, w) that
 *                adapts to the rows per block seen. A TID Range Scan reads
 *                just the window; the window keeps the Sort that ORDER BY
 *                needs small (a TID Range Scan has no sort order the planner
 *                could use, so without a window every page would sort the
 *                rest of the task). cursor = "(block,offset)" of the last
 *                row read; "(b,65535)" once block b is read to its end
 *                without a row there. The window is open-ended at the end
 *                of an open-ended task, so blocks added meanwhile are read.
 *
 * Cursor contract: cursor() names the last position consumed (rows after it
 * remain); "" when nothing was consumed and no cursor was given to open(),
 * which open() reads as the start of the task (as it does NULL).
 *
 * Errors name the column and the row's key: a NULL in a non-nullable
 * field (every vector field), a VarChar value over its max_length (never
 * truncated; the limit is the batch column's, i.e. the target field's), a
 * vector whose dimension
 * differs from the field's.
 */
#include "pgvector.h"
#include "vm_buf.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VM_PGV_MAX_WINDOW ((int64_t)1 << 24)

void vm_pgv_free_read(vm_pgv *st)
{
    vm_free(st->sql);
    vm_free(st->rcols);
    vm_free(st->half);
    vm_free(st->sp_idx);
    vm_free(st->sp_val);
    st->sql = NULL;
    st->rcols = NULL;
    st->nrcols = 0;
    st->half = NULL;
    st->half_cap = 0;
    st->sp_idx = NULL;
    st->sp_val = NULL;
    st->sp_cap = 0;
}

void vm_pgv_close(void *state)
{
    vm_pgv *st = state;
    vm_free(st->sql);
    vm_free(st->rcols);
    st->sql = NULL;
    st->rcols = NULL;
    st->nrcols = 0;
    vm_task_release(&st->task);
    vm_task_init(&st->task);
    st->open = false;
}

int vm_pgv_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_pgv *st = state;
    int rc;
    vm_pgv_close(st);
    if ((rc = vm_pgv_load_catalog(st, err)) != VM_OK)
        return rc;
    if (task->kind != VM_RANGE_INT && task->kind != VM_RANGE_CTID)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pgvector: task %" PRIu32 " is a %s range; expected int or ctid",
                          task->id, vm_range_kind_name(task->kind));
    if (task->kind == VM_RANGE_INT && !(st->pk >= 0 && st->pk_is_int))
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pgvector: task %" PRIu32 " is an integer key range, but table '%s' "
                          "has no single-column integer primary key",
                          task->id, st->table);
    if ((rc = vm_task_copy(&st->task, task, err)) != VM_OK)
        return rc;
    st->by_ctid = task->kind == VM_RANGE_CTID;
    st->have_pos = false;
    st->window = 0;
    if (cursor && cursor[0]) {
        if (st->by_ctid) {
            if (vm_pgv_parse_tid(cursor, &st->pos_blk, &st->pos_off) != 0)
                return vm_err_set(err, VM_ERR_INVALID, false,
                                  "pgvector: task %" PRIu32 ": bad ctid cursor '%.40s'",
                                  task->id, cursor);
        } else {
            char *end;
            errno = 0;
            long long v = strtoll(cursor, &end, 10);
            if (errno || end == cursor || *end)
                return vm_err_set(err, VM_ERR_INVALID, false,
                                  "pgvector: task %" PRIu32 ": bad key cursor '%.40s'",
                                  task->id, cursor);
            st->pos_int = v;
        }
        st->have_pos = true;
    }
    if (st->by_ctid) {
        int64_t nb = 0;
        char oid[16];
        snprintf(oid, sizeof oid, "%u", st->relid);
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT pg_relation_size(%s) / current_setting('block_size')::int8", oid);
        if ((rc = vm_pg_query_int64(st->conn, sql, &nb, err)) != VM_OK)
            return vm_err_prefix(err, "pgvector: table '%s': ", st->table);
        st->nblocks = nb;
    }
    st->open = true;
    return VM_OK;
}

/* --------------------------------------------------- building the query */

static int vm_pgv_cannot(const vm_pgv_col *c, const vm_column *bc, vm_err *err)
{
    return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                      "pgvector: column '%s' (PostgreSQL %s) cannot be read as Milvus %s",
                      c->name, c->display, vm_dtype_name(bc->type));
}

/* The SELECT expression and decoder for batch column bc from table column c
 * (q is c's quoted name). */
static int vm_pgv_expr(const vm_pgv_col *c, const vm_column *bc, const char *q, vm_buf *sql,
                       vm_pgv_rd *rd, vm_err *err)
{
    vm_pgv_kind k = c->kind;
    switch (bc->type) {
    case VM_T_VARCHAR:
        *rd = VM_PGV_RD_TEXT;
        if (k == VM_PGV_K_TEXT)
            vm_buf_puts(sql, q);
        else if (k == VM_PGV_K_ARRAY)
            vm_buf_printf(sql, "array_to_json(%s)::text", q);
        else
            vm_buf_printf(sql, "%s::text", q);
        return VM_OK;
    case VM_T_JSON:
        *rd = VM_PGV_RD_TEXT;
        if (k == VM_PGV_K_JSON)
            vm_buf_printf(sql, "%s::text", q);
        else if (k == VM_PGV_K_ARRAY)
            vm_buf_printf(sql, "array_to_json(%s)::text", q);
        else
            vm_buf_printf(sql, "to_json(%s)::text", q);
        return VM_OK;
    case VM_T_ARRAY:
        if (k != VM_PGV_K_ARRAY)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_TEXT;
        vm_buf_printf(sql, "array_to_json(%s)::text", q);
        return VM_OK;
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64:
        if (k != VM_PGV_K_INT)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_INT;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_FLOAT:
        if (k != VM_PGV_K_FLOAT4)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_F32;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_DOUBLE:
        if (k == VM_PGV_K_FLOAT8 || k == VM_PGV_K_FLOAT4) {
            *rd = k == VM_PGV_K_FLOAT8 ? VM_PGV_RD_F64 : VM_PGV_RD_F32;
            vm_buf_puts(sql, q);
        } else if (k == VM_PGV_K_NUMERIC || k == VM_PGV_K_INT) {
            *rd = VM_PGV_RD_F64; /* a mapping override's choice: numeric rounds */
            vm_buf_printf(sql, "%s::float8", q);
        } else {
            return vm_pgv_cannot(c, bc, err);
        }
        return VM_OK;
    case VM_T_BOOL:
        if (k != VM_PGV_K_BOOL)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_BOOL;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_FLOAT_VECTOR:
        if (k != VM_PGV_K_VECTOR && k != VM_PGV_K_HALFVEC)
            return vm_pgv_cannot(c, bc, err);
        *rd = k == VM_PGV_K_VECTOR ? VM_PGV_RD_VECTOR : VM_PGV_RD_HALF2F;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_FLOAT16_VECTOR:
        if (k != VM_PGV_K_HALFVEC)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_HALF;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_SPARSE_FLOAT_VECTOR:
        if (k != VM_PGV_K_SPARSEVEC)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_SPARSE;
        vm_buf_puts(sql, q);
        return VM_OK;
    case VM_T_BINARY_VECTOR:
        if (k != VM_PGV_K_BIT)
            return vm_pgv_cannot(c, bc, err);
        *rd = VM_PGV_RD_BIT;
        vm_buf_puts(sql, q);
        return VM_OK;
    default:
        return vm_pgv_cannot(c, bc, err);
    }
}

/* "SELECT <key>, <exprs> FROM <table>" and the column plan, from the batch. */
static int vm_pgv_build(vm_pgv *st, const vm_batch *b, vm_err *err)
{
    int rc = VM_OK;
    vm_buf sql;
    vm_buf_init(&sql);
    char *qpk = NULL;
    st->rcols = vm_calloc(b->ncols ? b->ncols : 1, sizeof *st->rcols);
    if (!st->rcols)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    st->nrcols = 0;
    if (st->by_ctid) {
        vm_buf_puts(&sql, "SELECT ctid");
    } else {
        if (!(qpk = vm_pgv_quote_ident(st->cols[st->pk].name))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        /* the key column itself (not a cast), so ORDER BY 1 follows its index */
        vm_buf_printf(&sql, "SELECT %s", qpk);
    }
    int fnum = 1;
    for (size_t i = 0; i < b->ncols; i++) {
        const vm_column *bc = &b->cols[i];
        vm_pgv_rcol *r = &st->rcols[st->nrcols];
        r->bcol = (int)i;
        r->max_len = VM_MAX_VARCHAR;
        if (st->id_name && strcmp(bc->name, st->id_name) == 0)
            continue; /* the autoID key: the target fills it */
        if (st->ctid_name && strcmp(bc->name, st->ctid_name) == 0) {
            if (bc->type != VM_T_INT64) {
                rc = vm_err_set(err, VM_ERR_INVALID, false,
                                "pgvector: field '%s' holds the ctid and must be Int64",
                                bc->name);
                goto cleanup;
            }
            r->rd = VM_PGV_RD_TID;
            if (st->by_ctid) {
                r->fnum = 0;
            } else {
                vm_buf_puts(&sql, ", ctid");
                r->fnum = fnum++;
            }
            st->nrcols++;
            continue;
        }
        int k = vm_pgv_find_col(st, bc->name);
        if (k < 0) {
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "pgvector: field '%s' matches no column of table '%s'", bc->name,
                            st->table);
            goto cleanup;
        }
        const vm_pgv_col *c = &st->cols[k];
        char *q = vm_pgv_quote_ident(c->name);
        if (!q) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        vm_buf_puts(&sql, ", ");
        rc = vm_pgv_expr(c, bc, q, &sql, &r->rd, err);
        vm_free(q);
        if (rc != VM_OK)
            goto cleanup;
        if (bc->type == VM_T_VARCHAR && bc->max_length > 0)
            r->max_len = bc->max_length; /* the target field's limit, carried by the batch */
        r->fnum = fnum++;
        st->nrcols++;
    }
    vm_buf_printf(&sql, " FROM %s WHERE ", st->qtable);
    if (!vm_buf_ok(&sql)) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if (!(st->sql = vm_strdup(vm_buf_cstr(&sql))))
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
cleanup:
    vm_buf_release(&sql);
    vm_free(qpk);
    if (rc != VM_OK) {
        vm_free(st->rcols);
        st->rcols = NULL;
        st->nrcols = 0;
    }
    return rc;
}

/* ------------------------------------------------------------ decoding */

/* An int2/int4/int8 key in binary; *ok (if given) says whether the length
 * was one of those. Returns the value, or 0 with *ok false. */
static int64_t vm_pgv_key_int_ok(const char *v, int len, bool *ok)
{
    *ok = true;
    if (len == 2)
        return vm_pg_get_i16(v);
    if (len == 4)
        return vm_pg_get_i32(v);
    if (len == 8)
        return vm_pg_get_i64(v);
    *ok = false;
    return 0;
}

static void vm_pgv_key_text(const vm_pgv *st, const PGresult *res, int row, char *buf,
                            size_t size)
{
    const char *v = PQgetvalue(res, row, 0);
    bool ok = false;
    int64_t k = 0;
    if (st->by_ctid && PQgetlength(res, row, 0) == 6)
        snprintf(buf, size, "ctid (%" PRIu32 ",%u)", (uint32_t)vm_pg_get_i32(v),
                 (unsigned)(uint16_t)vm_pg_get_i16(v + 4));
    else if (!st->by_ctid && (k = vm_pgv_key_int_ok(v, PQgetlength(res, row, 0), &ok), ok))
        snprintf(buf, size, "%s = %" PRId64, st->cols[st->pk].name, k);
    else
        snprintf(buf, size, "row %d", row);
}

static int vm_pgv_badlen(const vm_column *bc, const char *key, int len, vm_err *err)
{
    return vm_err_set(err, VM_ERR_PROTOCOL, false,
                      "pgvector: column '%s': unexpected binary value of %d bytes in the row "
                      "with %s",
                      bc->name, len, key);
}

int vm_pgv_decode_cell(vm_pgv *st, vm_batch *b, size_t row, const vm_pgv_rcol *r,
                       const char *v, int len, bool isnull, const char *key, vm_err *err)
{
    vm_column *bc = &b->cols[r->bcol];
    size_t col = (size_t)r->bcol;
    int rc;
    if (isnull) {
        if (bc->nullable)
            return vm_batch_set_null(b, col, row, err);
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pgvector: column '%s' is NULL in the row with %s, but field '%s' "
                          "cannot be null (%s)",
                          bc->name, key, bc->name, vm_dtype_name(bc->type));
    }
    switch (r->rd) {
    case VM_PGV_RD_INT: {
        int64_t x;
        if (len == 2)
            x = vm_pg_get_i16(v);
        else if (len == 4)
            x = vm_pg_get_i32(v);
        else if (len == 8)
            x = vm_pg_get_i64(v);
        else
            return vm_pgv_badlen(bc, key, len, err);
        return vm_batch_set_int(b, col, row, x, err);
    }
    case VM_PGV_RD_F32:
        if (len != 4)
            return vm_pgv_badlen(bc, key, len, err);
        return vm_batch_set_double(b, col, row, (double)vm_pg_get_f32(v), err);
    case VM_PGV_RD_F64:
        if (len != 8)
            return vm_pgv_badlen(bc, key, len, err);
        return vm_batch_set_double(b, col, row, vm_pg_get_f64(v), err);
    case VM_PGV_RD_BOOL:
        if (len != 1)
            return vm_pgv_badlen(bc, key, len, err);
        return vm_batch_set_bool(b, col, row, v[0] != 0, err);
    case VM_PGV_RD_TEXT:
        if ((int64_t)len > r->max_len)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pgvector: column '%s' has a value of %d bytes in the row with "
                              "%s, more than its max_length %" PRId64 " (values are never "
                              "truncated)",
                              bc->name, len, key, r->max_len);
        return vm_batch_set_str(b, col, row, v, (size_t)len, err);
    case VM_PGV_RD_VECTOR:
        rc = vm_pg_decode_vector(v, len, vm_batch_vector(b, col, row), (int)bc->dim, err);
        break;
    case VM_PGV_RD_HALF:
        rc = vm_pg_decode_halfvec(v, len, vm_batch_vector(b, col, row), (int)bc->dim, err);
        break;
    case VM_PGV_RD_HALF2F: {
        if ((size_t)bc->dim > st->half_cap &&
            vm_grow((void **)&st->half, &st->half_cap, (size_t)bc->dim, sizeof *st->half) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        rc = vm_pg_decode_halfvec(v, len, st->half, (int)bc->dim, err);
        if (rc == VM_OK) {
            float *out = vm_batch_vector(b, col, row);
            for (int64_t i = 0; i < bc->dim; i++)
                out[i] = vm_pg_half_to_float(st->half[i]);
        }
        break;
    }
    case VM_PGV_RD_SPARSE: {
        int dim = 0, nnz = 0;
        rc = vm_pg_decode_sparsevec(v, len, &dim, st->sp_idx, st->sp_val, &nnz, (int)st->sp_cap,
                                    err);
        if (rc == VM_ERR_INVALID && (size_t)nnz > st->sp_cap) {
            size_t need = (size_t)nnz, c1 = st->sp_cap, c2 = st->sp_cap;
            if (vm_grow((void **)&st->sp_idx, &c1, need, sizeof *st->sp_idx) != 0 ||
                vm_grow((void **)&st->sp_val, &c2, need, sizeof *st->sp_val) != 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            st->sp_cap = c1 < c2 ? c1 : c2;
            rc = vm_pg_decode_sparsevec(v, len, &dim, st->sp_idx, st->sp_val, &nnz,
                                        (int)st->sp_cap, err);
        }
        if (rc == VM_OK)
            return vm_batch_set_sparse(b, col, row, st->sp_idx, st->sp_val, (size_t)nnz, err);
        break;
    }
    case VM_PGV_RD_BIT: {
        if (len < 4)
            return vm_pgv_badlen(bc, key, len, err);
        int32_t bits = vm_pg_get_i32(v);
        if (bits != bc->dim)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pgvector: column '%s' has %d bits in the row with %s, field '%s' "
                              "has dimension %" PRId64,
                              bc->name, (int)bits, key, bc->name, bc->dim);
        if (len != 4 + (bits + 7) / 8)
            return vm_pgv_badlen(bc, key, len, err);
        memcpy(vm_batch_vector(b, col, row), v + 4, (size_t)(bits / 8));
        return VM_OK;
    }
    case VM_PGV_RD_TID:
        if (len != 6)
            return vm_pgv_badlen(bc, key, len, err);
        return vm_batch_set_int(b, col, row,
                                vm_pgv_tid_key((uint32_t)vm_pg_get_i32(v),
                                               (uint16_t)vm_pg_get_i16(v + 4)),
                                err);
    default:
        return vm_err_setc(err, VM_ERR_INTERNAL, "pgvector: unknown decoder %d", (int)r->rd);
    }
    if (rc != VM_OK)
        vm_err_prefix(err, "pgvector: column '%s', row with %s: ", bc->name, key);
    return rc;
}

static int vm_pgv_cell(vm_pgv *st, vm_batch *b, size_t row, const vm_pgv_rcol *r,
                       const PGresult *res, int prow, const char *key, vm_err *err)
{
    return vm_pgv_decode_cell(st, b, row, r, PQgetvalue(res, prow, r->fnum),
                              PQgetlength(res, prow, r->fnum),
                              PQgetisnull(res, prow, r->fnum) != 0, key, err);
}

/* Append the rows of res to the batch and move the position past them. */
static int vm_pgv_rows(vm_pgv *st, vm_batch *b, const PGresult *res, vm_err *err)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        char key[160];
        size_t row;
        int rc;
        vm_pgv_key_text(st, res, i, key, sizeof key);
        const char *kv = PQgetvalue(res, i, 0);
        int klen = PQgetlength(res, i, 0);
        bool ok = !st->by_ctid || klen == 6;
        int64_t kint = st->by_ctid ? 0 : vm_pgv_key_int_ok(kv, klen, &ok);
        if (PQgetisnull(res, i, 0) || !ok)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "pgvector: unexpected key value of %d bytes", klen);
        if ((rc = vm_batch_add_row(b, &row, err)) != VM_OK)
            return rc;
        for (size_t c = 0; c < st->nrcols; c++) {
            if ((rc = vm_pgv_cell(st, b, row, &st->rcols[c], res, i, key, err)) != VM_OK) {
                vm_batch_drop_last(b);
                return rc;
            }
        }
        if (st->by_ctid) {
            st->pos_blk = (uint32_t)vm_pg_get_i32(kv);
            st->pos_off = (uint16_t)vm_pg_get_i16(kv + 4);
        } else {
            st->pos_int = kint;
        }
        st->have_pos = true;
    }
    return VM_OK;
}

/* --------------------------------------------------------------- read */

static int vm_pgv_query(vm_pgv *st, const char *where, int np, const char *const *p,
                        PGresult **res, vm_err *err)
{
    size_t n = strlen(st->sql) + strlen(where) + 1;
    char *sql = vm_malloc(n);
    if (!sql)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    snprintf(sql, n, "%s%s", st->sql, where);
    int rc = vm_pg_exec(st->conn, sql, np, p, NULL, NULL, 1, res, err);
    vm_free(sql);
    if (rc != VM_OK)
        vm_err_prefix(err, "pgvector: reading '%s' task %" PRIu32 ": ", st->table, st->task.id);
    return rc;
}

static int vm_pgv_read_int(vm_pgv *st, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    char where[512], lo[24], hi[24], cur[24];
    const char *p[3];
    int np = 0, rc;
    PGresult *res = NULL;
    char *qpk = vm_pgv_quote_ident(st->cols[st->pk].name);
    if (!qpk)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    size_t w = 0;
    where[0] = '\0';
    if (strlen(qpk) > 200) {
        vm_free(qpk);
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false, "pgvector: key column name too long");
    }
#define VM_PGV_COND(fmt, val, buf)                                                         \
    do {                                                                                   \
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(val));                             \
        p[np++] = buf;                                                                     \
        w += (size_t)snprintf(where + w, sizeof where - w, "%s%s " fmt " $%d::int8",       \
                              w ? " AND " : "", qpk, np);                                  \
    } while (0)
    if (st->task.has_lo)
        VM_PGV_COND(">=", st->task.lo, lo);
    if (st->task.has_hi)
        VM_PGV_COND("<", st->task.hi, hi);
    if (st->have_pos)
        VM_PGV_COND(">", st->pos_int, cur);
#undef VM_PGV_COND
    /* ORDER BY 1: the key is the first output column (a name could be
     * ambiguous with a batch column of the same name) */
    snprintf(where + w, sizeof where - w, "%s ORDER BY 1 LIMIT %zu", w ? "" : "true", max_rows);
    vm_free(qpk);
    if ((rc = vm_pgv_query(st, where, np, p, &res, err)) != VM_OK)
        return rc;
    size_t got = (size_t)PQntuples(res);
    rc = vm_pgv_rows(st, b, res, err);
    PQclear(res);
    if (rc == VM_OK)
        *done = got < max_rows;
    return rc;
}

static int vm_pgv_read_ctid(vm_pgv *st, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    size_t added = 0;
    int rc;
    *done = false;
    if (st->window <= 0) {
        double rpb = st->reltuples > 0 && st->relpages > 0
                         ? st->reltuples / (double)st->relpages : 1.0;
        double w = (double)max_rows / (rpb > 0 ? rpb : 1.0) + 1;
        st->window = w > (double)VM_PGV_MAX_WINDOW ? VM_PGV_MAX_WINDOW : (int64_t)w;
    }
    while (added < max_rows) {
        size_t need = max_rows - added;
        int64_t sb, so, start;
        if (st->have_pos) {
            sb = st->pos_blk;
            so = st->pos_off;
            start = so == 65535 ? sb + 1 : sb;
        } else {
            int64_t lo = st->task.has_lo ? st->task.lo : 0;
            sb = lo > 0 ? lo - 1 : 0;
            so = lo > 0 ? 65535 : 0;
            start = lo;
        }
        int64_t wend = start + st->window;
        bool last = false, open_end = false;
        if (st->task.has_hi && wend >= st->task.hi) {
            wend = st->task.hi;
            last = true;
        } else if (!st->task.has_hi && wend >= st->nblocks) {
            last = open_end = true;
        }
        if (start >= wend && !open_end) {
            *done = true;
            break;
        }
        char from[48], to[48], where[160];
        vm_pgv_format_tid(sb, so, from, sizeof from);
        vm_pgv_format_tid(wend, 0, to, sizeof to);
        const char *p[2] = {from, to};
        snprintf(where, sizeof where, "ctid > $1::tid%s ORDER BY 1 LIMIT %zu",
                 open_end ? "" : " AND ctid < $2::tid", need);
        PGresult *res = NULL;
        if ((rc = vm_pgv_query(st, where, open_end ? 1 : 2, p, &res, err)) != VM_OK)
            return rc;
        size_t got = (size_t)PQntuples(res);
        rc = vm_pgv_rows(st, b, res, err);
        PQclear(res);
        if (rc != VM_OK)
            return rc;
        added += got;
        if (got == need) {
            /* the window held a full page: size the next one to the blocks
             * this page spanned, with some slack */
            int64_t span = st->pos_blk - start + 1;
            int64_t nw = span + span / 4 + 1;
            st->window = nw > VM_PGV_MAX_WINDOW ? VM_PGV_MAX_WINDOW : nw;
            break;
        }
        if (last) {
            *done = true;
            break;
        }
        /* window exhausted: everything before wend is read */
        st->pos_blk = wend - 1;
        st->pos_off = 65535;
        st->have_pos = true;
        if (st->window < VM_PGV_MAX_WINDOW)
            st->window *= 2;
    }
    return VM_OK;
}

int vm_pgv_read(void *state, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    vm_pgv *st = state;
    int rc;
    *done = false;
    if (!st->open)
        return vm_err_setc(err, VM_ERR_INTERNAL, "pgvector: read without open");
    if (max_rows == 0)
        return VM_OK;
    if (!st->sql && (rc = vm_pgv_build(st, b, err)) != VM_OK)
        return rc;
    if ((rc = vm_pgv_conn(st, err)) != VM_OK)
        return rc;
    return st->by_ctid ? vm_pgv_read_ctid(st, b, max_rows, done, err)
                       : vm_pgv_read_int(st, b, max_rows, done, err);
}

int vm_pgv_cursor(void *state, char **out, vm_err *err)
{
    vm_pgv *st = state;
    char buf[48] = "";
    if (st->have_pos) {
        if (st->by_ctid)
            vm_pgv_format_tid(st->pos_blk, st->pos_off, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "%" PRId64, st->pos_int);
    }
    if (!(*out = vm_strdup(buf)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

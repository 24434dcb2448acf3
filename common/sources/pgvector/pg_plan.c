/*
 * pg_plan.c - splitting a PostgreSQL table into range tasks, in O(tasks):
 * the table is never scanned (only the PK index's min/max, the catalogs
 * and pg_stats are read).
 *
 * Integer primary key (split: auto with an int2/int4/int8 single-column
 * key, or split: pk): ntasks = ceil(reltuples / task_rows). Boundaries come
 * from the key's pg_stats histogram when ANALYZE left one (equal-frequency
 * buckets, so a skewed key still gives balanced tasks; quantiles are
 * interpolated inside buckets), otherwise uniform over [min, max]. The
 * first task has no lower and the last no upper bound, so keys inserted
 * outside [min, max] meanwhile are still covered. reltuples < 0 (never
 * analyzed) falls back to count(*), logged at debug level; the source is
 * never ANALYZEd by vecmig (it does not modify the source).
 *
 * ctid (no integer key, a text/uuid key, or split: ctid): ranges of heap
 * blocks [lo, hi) read with TID Range Scans; blocks per task = task_rows /
 * (reltuples / relpages) (1 row per block when never analyzed); the last
 * task is open-ended so blocks added meanwhile are covered. A partitioned
 * table has no heap of its own: it needs the integer key split.
 */
#include "pgvector.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- arithmetic */

int64_t vm_pgv_ntasks(double est_rows, int64_t task_rows)
{
    if (task_rows < 1)
        task_rows = 1;
    if (!(est_rows > 0))
        return 1;
    double n = ceil(est_rows / (double)task_rows);
    if (n > (double)INT32_MAX) /* task ids are uint32; stay far below */
        n = (double)INT32_MAX;
    return n < 1 ? 1 : (int64_t)n;
}

void vm_pgv_split_uniform(int64_t min, int64_t max, int64_t ntasks, int64_t *bounds,
                          size_t *nbounds)
{
    *nbounds = 0;
    if (ntasks <= 1 || max <= min)
        return;
    __extension__ typedef unsigned __int128 u128;
    u128 span = (u128)((uint64_t)max - (uint64_t)min) + 1;
    u128 n = (u128)ntasks < span ? (u128)ntasks : span;
    for (u128 k = 1; k < n; k++)
        bounds[(*nbounds)++] = (int64_t)((uint64_t)min + (uint64_t)(k * span / n));
}

void vm_pgv_split_int(int64_t min, int64_t max, const int64_t *hist, size_t nhist,
                      int64_t ntasks, int64_t *bounds, size_t *nbounds)
{
    *nbounds = 0;
    if (ntasks <= 1 || max <= min)
        return;
    if (nhist >= 2) {
        size_t got = 0;
        for (int64_t k = 1; k < ntasks; k++) {
            long double pos = (long double)k / (long double)ntasks * (long double)(nhist - 1);
            size_t i = (size_t)pos;
            if (i >= nhist - 1)
                i = nhist - 2;
            long double frac = pos - (long double)i;
            long double v = (long double)hist[i] +
                            floorl(frac * ((long double)hist[i + 1] - (long double)hist[i]));
            if (v <= (long double)min || v > (long double)max)
                continue;
            int64_t b = (int64_t)v;
            if (b <= min || (got > 0 && b <= bounds[got - 1]))
                continue;
            bounds[got++] = b;
        }
        if (got >= (size_t)(ntasks - 1) / 2 && got > 0) {
            *nbounds = got;
            return;
        }
    }
    vm_pgv_split_uniform(min, max, ntasks, bounds, nbounds);
}

void vm_pgv_split_ctid(int64_t nblocks, double rows_per_block, int64_t task_rows,
                       int64_t *blocks_per_task, int64_t *ntasks)
{
    if (!(rows_per_block > 0))
        rows_per_block = 1;
    if (task_rows < 1)
        task_rows = 1;
    double bpt = floor((double)task_rows / rows_per_block);
    if (bpt < 1)
        bpt = 1;
    if (bpt > (double)INT32_MAX * 65536.0)
        bpt = (double)INT32_MAX * 65536.0;
    *blocks_per_task = (int64_t)bpt;
    *ntasks = nblocks <= 0 ? 1 : (nblocks + *blocks_per_task - 1) / *blocks_per_task;
}

int vm_pgv_parse_int_array(const char *text, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!text || text[0] != '{')
        return -1;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    int64_t *v = vm_malloc(cap * sizeof *v);
    if (!v)
        return -1;
    const char *p = text + 1;
    size_t k = 0;
    while (*p && *p != '}') {
        char *end;
        long long x = strtoll(p, &end, 10);
        if (end == p || k >= cap) {
            vm_free(v);
            return -1;
        }
        v[k++] = x;
        p = end;
        if (*p == ',')
            p++;
    }
    if (*p != '}') {
        vm_free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

/* --------------------------------------------------------------- plan */

static int vm_pgv_emit_int(vm_pgv *st, const vm_plan_opts *opts, vm_task_emit_fn emit,
                           void *ctx, vm_err *err)
{
    int rc = VM_OK;
    PGresult *res = NULL;
    char *sql = NULL, *qpk = NULL, *htext = NULL;
    int64_t *hist = NULL, *bounds = NULL;
    size_t nhist = 0, nb = 0;
    const vm_pgv_col *pk = &st->cols[st->pk];
    char oid[16];
    snprintf(oid, sizeof oid, "%u", st->relid);

    if (!(qpk = vm_pgv_quote_ident(pk->name)) ||
        !(sql = vm_malloc(2 * strlen(qpk) + strlen(st->qtable) + 64))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    /* min and max through the key's index (two LIMIT 1 index scans) */
    sprintf(sql, "SELECT min(%s)::int8, max(%s)::int8 FROM %s", qpk, qpk, st->qtable);
    if ((rc = vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 0, &res, err)) != VM_OK)
        goto cleanup_prefix;
    bool empty = PQgetisnull(res, 0, 0);
    int64_t min = empty ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    int64_t max = empty ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    res = NULL;

    const char *p1[1] = {oid};
    if ((rc = vm_pg_exec(st->conn, "SELECT reltuples FROM pg_class WHERE oid = $1::oid", 1, p1,
                         NULL, NULL, 0, &res, err)) != VM_OK)
        goto cleanup_prefix;
    double est = PQntuples(res) == 1 ? strtod(PQgetvalue(res, 0, 0), NULL) : -1;
    PQclear(res);
    res = NULL;
    if (est < 0) {
        int64_t cnt = 0;
        sprintf(sql, "SELECT count(*) FROM %s", st->qtable);
        vm_debug("pgvector: '%s' was never analyzed (reltuples -1): counting rows to plan",
                 st->table);
        if ((rc = vm_pg_query_int64(st->conn, sql, &cnt, err)) != VM_OK)
            goto cleanup_prefix;
        est = (double)cnt;
    }
    int64_t ntasks = empty ? 1 : vm_pgv_ntasks(est, opts->task_rows);

    if (ntasks > 1) {
        const char *p3[3] = {st->nspname, st->relname, pk->name};
        if ((rc = vm_pg_exec(st->conn,
                             "SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = $1 "
                             "AND tablename = $2 AND attname = $3 ORDER BY inherited LIMIT 1",
                             3, p3, NULL, NULL, 0, &res, err)) != VM_OK)
            goto cleanup_prefix;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
            vm_pgv_parse_int_array(PQgetvalue(res, 0, 0), &hist, &nhist) != 0) {
            hist = NULL;
            nhist = 0;
        }
        PQclear(res);
        res = NULL;
        if (!(bounds = vm_malloc((size_t)(ntasks - 1) * sizeof *bounds))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        vm_pgv_split_int(min, max, hist, nhist, ntasks, bounds, &nb);
        vm_debug("pgvector: '%s': %zu tasks over key [%" PRId64 ", %" PRId64 "] (%s)",
                 st->table, nb + 1, min, max, nhist >= 2 ? "histogram" : "uniform");
    }

    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)opts->job_id;
    t.kind = VM_RANGE_INT;
    int64_t per = (int64_t)llround(est / (double)(nb + 1));
    for (size_t i = 0; i <= nb; i++) {
        t.id = (uint32_t)i;
        t.has_lo = i > 0;
        t.lo = i > 0 ? bounds[i - 1] : 0;
        t.has_hi = i < nb;
        t.hi = i < nb ? bounds[i] : 0;
        t.est_rows = per;
        if ((rc = emit(ctx, &t, err)) != VM_OK)
            goto cleanup;
    }
    goto cleanup;
cleanup_prefix:
    vm_err_prefix(err, "pgvector: planning '%s': ", st->table);
cleanup:
    if (res)
        PQclear(res);
    vm_free(sql);
    vm_free(qpk);
    vm_free(htext);
    vm_free(hist);
    vm_free(bounds);
    return rc;
}

static int vm_pgv_emit_ctid(vm_pgv *st, const vm_plan_opts *opts, vm_task_emit_fn emit,
                            void *ctx, vm_err *err)
{
    int rc;
    PGresult *res = NULL;
    char oid[16];
    snprintf(oid, sizeof oid, "%u", st->relid);
    const char *p1[1] = {oid};
    if ((rc = vm_pg_exec(st->conn,
                         "SELECT pg_relation_size($1::oid) / current_setting('block_size')::int8, "
                         "reltuples, relpages FROM pg_class WHERE oid = $1::oid",
                         1, p1, NULL, NULL, 0, &res, err)) != VM_OK)
        return vm_err_prefix(err, "pgvector: planning '%s': ", st->table);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return vm_err_set(err, VM_ERR_NOT_FOUND, false,
                          "pgvector: table '%s' disappeared while planning", st->table);
    }
    int64_t nblocks = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    double reltuples = strtod(PQgetvalue(res, 0, 1), NULL);
    double relpages = strtod(PQgetvalue(res, 0, 2), NULL);
    PQclear(res);
    double rpb = 1;
    if (reltuples > 0 && relpages > 0)
        rpb = reltuples / relpages;
    else
        vm_debug("pgvector: '%s' has no row statistics: planning with 1 row per block",
                 st->table);
    int64_t bpt, ntasks;
    vm_pgv_split_ctid(nblocks, rpb, opts->task_rows, &bpt, &ntasks);
    vm_debug("pgvector: '%s': %" PRId64 " blocks, %.1f rows/block, %" PRId64
             " blocks per task, %" PRId64 " tasks",
             st->table, nblocks, rpb, bpt, ntasks);

    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)opts->job_id;
    t.kind = VM_RANGE_CTID;
    for (int64_t i = 0; i < ntasks; i++) {
        t.id = (uint32_t)i;
        t.has_lo = true;
        t.lo = i * bpt;
        t.has_hi = i < ntasks - 1;
        t.hi = t.has_hi ? (i + 1) * bpt : 0;
        t.est_rows = (int64_t)llround((double)bpt * rpb);
        if (!t.has_hi && nblocks > 0)
            t.est_rows = (int64_t)llround((double)(nblocks - t.lo) * rpb);
        else if (nblocks == 0)
            t.est_rows = 0;
        if ((rc = emit(ctx, &t, err)) != VM_OK)
            return rc;
    }
    return VM_OK;
}

int vm_pgv_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
                vm_err *err)
{
    vm_pgv *st = state;
    int rc = vm_pgv_load_catalog(st, err);
    if (rc != VM_OK)
        return rc;
    bool by_pk = st->split == VM_PGV_SPLIT_PK ||
                 (st->split == VM_PGV_SPLIT_AUTO && st->pk >= 0 && st->pk_is_int);
    if (by_pk && !(st->pk >= 0 && st->pk_is_int))
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pgvector: split: pk needs a single-column integer primary key; table "
                          "'%s' has none (use split: ctid or auto)",
                          st->table);
    if (!by_pk && st->relkind == 'p')
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "pgvector: '%s' is a partitioned table, which has no blocks of its "
                          "own to split by ctid: it needs a single-column integer primary key "
                          "(or migrate each partition)",
                          st->table);
    return by_pk ? vm_pgv_emit_int(st, opts, emit, emit_ctx, err)
                 : vm_pgv_emit_ctid(st, opts, emit, emit_ctx, err);
}

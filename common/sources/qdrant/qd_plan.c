/*
 * qd_plan.c - splitting a Qdrant collection into id ranges.
 *
 * Qdrant cannot filter a scroll by an id range (its filters know `has_id`,
 * a list, not a range), but scroll returns points in id order from an
 * inclusive `offset` that need not exist. So a task is a range [lo, hi) of
 * the id space: it scrolls from offset lo and stops at the first id >= hi.
 * Ranges never depend on the number of workers; the number of tasks is
 * ceil(exact count / task_rows).
 *
 * split: space (default) needs only O(64 + 128) tiny requests, whatever
 * the size: a scroll of limit 1 from an offset returns the smallest id at
 * or above it, so the smallest integer id, the smallest UUID and, by
 * binary search, the largest of each are found with id-only probes
 * (with_payload and with_vector false). Integer ids [min, max] are split
 * into ranges of equal width; UUIDs the same over their 128-bit space,
 * with boundaries rounded to short hex prefixes ("3a000000-0000-...").
 * Balanced for sequential integer ids and random (v4) or time-ordered (v7)
 * UUIDs; a skewed id distribution gives uneven tasks (still correct). When
 * a collection has both kinds, half of the tasks go to each.
 *
 * split: scan reads every id once (ids only, pages of up to 10,000) and
 * puts a boundary every task_rows ids: exactly balanced tasks, at the cost
 * of one pass over the ids at plan time.
 *
 * The first task has no lower bound and the last no upper bound, so ids
 * added outside the probed span meanwhile are still read.
 */
#include "qdrant.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef unsigned __int128 vm_u128;

#define VM_QD_SCAN_PAGE 10000

/* ----------------------------------------------------------- arithmetic */

int64_t vm_qd_ntasks(int64_t count, int64_t task_rows)
{
    if (task_rows < 1)
        task_rows = 1;
    if (count <= 0)
        return 1;
    int64_t n = count / task_rows + (count % task_rows != 0);
    if (n > INT32_MAX) /* task ids are uint32; stay far below */
        n = INT32_MAX;
    return n < 1 ? 1 : n;
}

/* k * (width + 1) / n without overflow, for 0 < k < n. */
static vm_u128 vm_qd_part(vm_u128 width, vm_u128 n, vm_u128 k)
{
    vm_u128 q = width / n, r = width % n + 1;
    if (r == n) {
        q++;
        r = 0;
    }
    return k * q + (k * r) / n;
}

void vm_qd_split_u64(uint64_t min, uint64_t max, int64_t n, uint64_t *bounds, size_t *nb)
{
    *nb = 0;
    if (n <= 1 || max <= min)
        return;
    vm_u128 width = (vm_u128)(max - min), parts = (vm_u128)n;
    if (parts > width + 1)
        parts = width + 1;
    for (vm_u128 k = 1; k < parts; k++) {
        uint64_t b = min + (uint64_t)vm_qd_part(width, parts, k);
        if (b > min && (*nb == 0 || b > bounds[*nb - 1]))
            bounds[(*nb)++] = b;
    }
}

static vm_u128 vm_qd_u128_of(const vm_qd_id *id)
{
    vm_u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | id->b[i];
    return v;
}

static void vm_qd_uuid_of(vm_u128 v, vm_qd_id *id)
{
    memset(id, 0, sizeof *id);
    id->uuid = true;
    for (int i = 15; i >= 0; i--) {
        id->b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

void vm_qd_split_uuid(const vm_qd_id *min, const vm_qd_id *max, int64_t n, vm_qd_id *bounds,
                      size_t *nb)
{
    *nb = 0;
    vm_u128 lo = vm_qd_u128_of(min), hi = vm_qd_u128_of(max);
    if (n <= 1 || hi <= lo)
        return;
    vm_u128 width = hi - lo, parts = (vm_u128)n;
    if (width < parts - 1)
        parts = width + 1;
    /* round to the coarsest power of 16 at most 1/16 of a task's width */
    vm_u128 step = width / parts, g = 1;
    while (g <= step / 256)
        g <<= 4;
    vm_u128 last = lo;
    for (vm_u128 k = 1; k < parts; k++) {
        vm_u128 b = lo + vm_qd_part(width, parts, k);
        b -= b % g;
        if (b <= last)
            continue;
        vm_qd_uuid_of(b, &bounds[(*nb)++]);
        last = b;
    }
}

int vm_qd_space_bounds(const vm_qd_span *sp, int64_t ntasks, vm_qd_id **out, size_t *nb,
                       vm_err *err)
{
    *out = NULL;
    *nb = 0;
    if (ntasks <= 1 || (!sp->has_int && !sp->has_uuid))
        return VM_OK;
    int64_t ni = sp->has_int ? (sp->has_uuid ? ntasks / 2 : ntasks) : 0;
    int64_t nu = ntasks - ni;
    vm_qd_id *b = vm_calloc((size_t)ntasks, sizeof *b);
    uint64_t *ib = vm_calloc((size_t)(ni > 1 ? ni : 1), sizeof *ib);
    if (!b || !ib) {
        vm_free(b);
        vm_free(ib);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    size_t n = 0, k = 0;
    if (sp->has_int) {
        vm_qd_split_u64(sp->int_min, sp->int_max, ni, ib, &k);
        for (size_t i = 0; i < k; i++)
            b[n++] = (vm_qd_id){.num = ib[i]};
    }
    if (sp->has_uuid) {
        if (sp->has_int)
            b[n++] = sp->uuid_min; /* the integers' last task ends where UUIDs start */
        vm_qd_split_uuid(&sp->uuid_min, &sp->uuid_max, nu, b + n, &k);
        n += k;
    }
    vm_free(ib);
    *out = b;
    *nb = n;
    return VM_OK;
}

/* ---------------------------------------------------------------- plan */

/* The smallest id >= from (NULL: the smallest of all), ids only. */
static int vm_qd_probe(vm_qd *st, const vm_qd_id *from, bool *found, vm_qd_id *id, vm_err *err)
{
    vm_qd_page page;
    int rc = vm_qd_scroll(st, from, 1, false, NULL, &page, err);
    if (rc != VM_OK)
        return rc;
    vm_json_iter it;
    vm_json_span pt;
    vm_json_iter_init(&it, st->resp.body, page.points);
    *found = vm_json_iter_next(&it, &pt);
    if (*found)
        return vm_qd_point_id(st->resp.body, pt, id, err);
    return VM_OK;
}

static int vm_qd_probe_span(vm_qd *st, vm_qd_span *sp, int *probes, vm_err *err)
{
    memset(sp, 0, sizeof *sp);
    vm_qd_id first, got, z = {.uuid = true};
    bool found;
    int rc;
    if ((rc = vm_qd_probe(st, NULL, &found, &first, err)) != VM_OK)
        return rc;
    (*probes)++;
    if (!found)
        return VM_OK;
    if (!first.uuid) {
        sp->has_int = true;
        sp->int_min = first.num;
        /* the largest integer id: largest x with an integer id >= x */
        uint64_t lo = first.num, hi = UINT64_MAX;
        while (lo < hi) {
            vm_qd_id mid = {.num = lo + (hi - lo) / 2 + 1};
            if ((rc = vm_qd_probe(st, &mid, &found, &got, err)) != VM_OK)
                return rc;
            (*probes)++;
            if (found && !got.uuid)
                lo = got.num;
            else
                hi = mid.num - 1;
        }
        sp->int_max = lo;
        if ((rc = vm_qd_probe(st, &z, &found, &got, err)) != VM_OK)
            return rc;
        (*probes)++;
        if (!found)
            return VM_OK;
        first = got;
    }
    sp->has_uuid = true;
    sp->uuid_min = first;
    vm_u128 lo = vm_qd_u128_of(&first), hi = ~(vm_u128)0;
    while (lo < hi) {
        vm_qd_id mid;
        vm_qd_uuid_of(lo + (hi - lo) / 2 + 1, &mid);
        if ((rc = vm_qd_probe(st, &mid, &found, &got, err)) != VM_OK)
            return rc;
        (*probes)++;
        if (found && got.uuid)
            lo = vm_qd_u128_of(&got);
        else
            hi = vm_qd_u128_of(&mid) - 1;
    }
    vm_qd_uuid_of(lo, &sp->uuid_max);
    return VM_OK;
}

/* split: scan: a boundary every task_rows ids. */
static int vm_qd_scan_bounds(vm_qd *st, int64_t task_rows, vm_qd_id **out, size_t *nb,
                             int64_t *total, vm_err *err)
{
    size_t cap = 0, n = 0;
    vm_qd_id *b = NULL, offset;
    bool have_offset = false;
    int64_t in_task = 0;
    int rc = VM_OK;
    *total = 0;
    for (;;) {
        int64_t want = task_rows - in_task;
        vm_qd_page page;
        if (want > VM_QD_SCAN_PAGE)
            want = VM_QD_SCAN_PAGE;
        if ((rc = vm_qd_scroll(st, have_offset ? &offset : NULL, want, false, NULL, &page,
                               err)) != VM_OK)
            goto fail;
        vm_json_iter it;
        vm_json_span pt;
        int64_t got = 0;
        vm_json_iter_init(&it, st->resp.body, page.points);
        while (vm_json_iter_next(&it, &pt))
            got++;
        in_task += got;
        *total += got;
        if (!page.has_next)
            break;
        if (got == 0) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "qdrant: scroll returned no points but a next page offset");
            goto fail;
        }
        if (in_task >= task_rows) {
            if (vm_grow((void **)&b, &cap, n + 1, sizeof *b) != 0) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto fail;
            }
            b[n++] = page.next;
            in_task = 0;
        }
        offset = page.next;
        have_offset = true;
    }
    *out = b;
    *nb = n;
    return VM_OK;
fail:
    vm_free(b);
    return rc;
}

int vm_qd_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
               vm_err *err)
{
    vm_qd *st = state;
    int rc = vm_qd_load(st, err);
    vm_qd_id *bounds = NULL;
    size_t nb = 0;
    int64_t count = 0;
    if (rc != VM_OK)
        return rc;
    int64_t task_rows = opts->task_rows > 0 ? opts->task_rows : 1;
    if (st->split == VM_QD_SPLIT_SCAN) {
        if ((rc = vm_qd_scan_bounds(st, task_rows, &bounds, &nb, &count, err)) != VM_OK)
            return vm_err_prefix(err, "planning '%s': ", st->collection);
        vm_debug("qdrant: '%s': id scan found %" PRId64 " points, %zu tasks", st->collection,
                 count, nb + 1);
    } else {
        vm_qd_span sp;
        int probes = 0;
        if ((rc = vm_qd_count_points(st, &count, err)) != VM_OK)
            return rc;
        int64_t ntasks = vm_qd_ntasks(count, task_rows);
        if (ntasks > 1) {
            if ((rc = vm_qd_probe_span(st, &sp, &probes, err)) != VM_OK)
                return vm_err_prefix(err, "planning '%s': ", st->collection);
            if ((rc = vm_qd_space_bounds(&sp, ntasks, &bounds, &nb, err)) != VM_OK)
                return rc;
            char a[VM_QD_ID_TEXT] = "-", z[VM_QD_ID_TEXT] = "-";
            char ua[VM_QD_ID_TEXT] = "-", uz[VM_QD_ID_TEXT] = "-";
            vm_qd_id ia = {.num = sp.int_min}, iz = {.num = sp.int_max};
            if (sp.has_int) {
                vm_qd_id_text(&ia, a);
                vm_qd_id_text(&iz, z);
            }
            if (sp.has_uuid) {
                vm_qd_id_text(&sp.uuid_min, ua);
                vm_qd_id_text(&sp.uuid_max, uz);
            }
            vm_debug("qdrant: '%s': %" PRId64 " points, integer ids [%s, %s], UUIDs [%s, %s] "
                     "(%d probes): %zu tasks",
                     st->collection, count, a, z, ua, uz, probes, nb + 1);
        }
    }
    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)opts->job_id;
    t.kind = VM_RANGE_KEY;
    char klo[VM_QD_KEY_TEXT], khi[VM_QD_KEY_TEXT];
    for (size_t i = 0; i <= nb; i++) {
        t.id = (uint32_t)i;
        t.key_lo = NULL;
        t.key_hi = NULL;
        if (i > 0) {
            vm_qd_id_key(&bounds[i - 1], klo);
            t.key_lo = klo;
        }
        if (i < nb) {
            vm_qd_id_key(&bounds[i], khi);
            t.key_hi = khi;
        }
        if (st->split == VM_QD_SPLIT_SCAN)
            t.est_rows = i < nb ? task_rows : count - (int64_t)nb * task_rows;
        else
            t.est_rows = count / (int64_t)(nb + 1) + ((int64_t)i < count % (int64_t)(nb + 1));
        if ((rc = emit(emit_ctx, &t, err)) != VM_OK)
            break;
    }
    vm_free(bounds);
    return rc;
}

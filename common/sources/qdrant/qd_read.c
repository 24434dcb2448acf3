/*
 * qd_read.c - reading one task of a Qdrant collection: scroll pages in id
 * order inside the task's id range, decoded straight into the batch.
 *
 * The batch decides what is read: its columns name the fields to produce
 * (the mapping may drop vectors, and "$meta" exists only when the program
 * reads the payload), so the scroll asks only for the vectors the batch has
 * (with_vector: a list of names, or true for the unnamed vector) and for
 * the payload only when "$meta" is a column.
 *
 * Paging: the first page starts at the task's lower bound (scroll `offset`
 * is an inclusive bound that need not be an existing id); each next page at
 * the reply's next_page_offset, the id of the first point not returned
 * (inclusive). A page asks for exactly the rows the batch still has room
 * for, so every returned point is either used or past the range. Reading
 * stops at the first id >= the task's upper bound, or when the reply has
 * no next_page_offset.
 *
 * Cursor contract: cursor() is the text of the last id read (decimal or
 * canonical UUID), "" when nothing was read and no cursor was given.
 * open(task, cursor) resumes with offset = that id and skips it (and
 * anything not above it), so a point deleted meanwhile does not matter.
 */
#include "qdrant.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void vm_qd_close(void *state)
{
    vm_qd *st = state;
    vm_free(st->rcols);
    vm_free(st->with_vector);
    st->rcols = NULL;
    st->with_vector = NULL;
    st->nrcols = 0;
    st->built = false;
    vm_task_release(&st->task);
    vm_task_init(&st->task);
    st->open = false;
}

int vm_qd_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_qd *st = state;
    int rc;
    vm_qd_close(st);
    if ((rc = vm_qd_load(st, err)) != VM_OK)
        return rc;
    if (task->kind != VM_RANGE_KEY && task->kind != VM_RANGE_ALL)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: task %" PRIu32 " is a %s range; expected a key range of "
                          "point ids",
                          task->id, vm_range_kind_name(task->kind));
    st->has_lo = st->has_hi = false;
    if (task->kind == VM_RANGE_KEY) {
        if (task->key_lo && vm_qd_id_from_key(task->key_lo, &st->lo) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: task %" PRIu32 ": bad lower bound '%.60s'", task->id,
                              task->key_lo);
        if (task->key_hi && vm_qd_id_from_key(task->key_hi, &st->hi) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: task %" PRIu32 ": bad upper bound '%.60s'", task->id,
                              task->key_hi);
        st->has_lo = task->key_lo != NULL;
        st->has_hi = task->key_hi != NULL;
    }
    st->have_pos = false;
    if (cursor && cursor[0]) {
        if (vm_qd_id_parse_text(cursor, &st->pos) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: task %" PRIu32 ": bad cursor '%.60s' (a point id)",
                              task->id, cursor);
        st->have_pos = true;
    }
    if ((rc = vm_task_copy(&st->task, task, err)) != VM_OK)
        return rc;
    st->have_next = false;
    st->finished = false;
    st->open = true;
    return VM_OK;
}

/* The column plan and the request's with_payload / with_vector. */
static int vm_qd_build(vm_qd *st, const vm_batch *b, vm_err *err)
{
    int rc = vm_qd_plan_columns(&st->info, st->id_field, b, &st->rcols, &st->nrcols, err);
    if (rc != VM_OK)
        return rc;
    vm_buf w;
    vm_buf_init(&w);
    bool any = false, unnamed = false;
    st->want_payload = false;
    for (size_t i = 0; i < st->nrcols; i++) {
        const vm_qd_rcol *r = &st->rcols[i];
        st->want_payload |= r->src == VM_QD_COL_META;
        if (r->vec < 0)
            continue;
        const char *q = st->info.vecs[r->vec].qname;
        unnamed |= q[0] == '\0';
        vm_buf_putc(&w, any ? ',' : '[');
        vm_buf_json_str(&w, q, strlen(q));
        any = true;
    }
    if (any)
        vm_buf_putc(&w, ']');
    /* the unnamed vector is asked for with `true` (it has no name to list) */
    const char *wv = unnamed ? "true" : any ? vm_buf_cstr(&w) : "false";
    st->with_vector = vm_buf_ok(&w) ? vm_strdup(wv) : NULL;
    vm_buf_release(&w);
    if (!st->with_vector)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    st->built = true;
    return VM_OK;
}

int vm_qd_read(void *state, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    vm_qd *st = state;
    int rc;
    *done = false;
    if (!st->open)
        return vm_err_setc(err, VM_ERR_INTERNAL, "qdrant: read without open");
    if (!st->built && (rc = vm_qd_build(st, b, err)) != VM_OK)
        return rc;
    size_t added = 0;
    while (!st->finished && added < max_rows) {
        const vm_qd_id *offset = st->have_next ? &st->next
                                 : st->have_pos ? &st->pos
                                 : st->has_lo   ? &st->lo
                                                : NULL;
        vm_qd_page page;
        if ((rc = vm_qd_scroll(st, offset, (int64_t)(max_rows - added), st->want_payload,
                               st->with_vector, NULL, err)) != VM_OK)
            return vm_err_prefix(err, "reading task %" PRIu32 ": ", st->task.id);
        const char *s = st->resp.body;
        size_t seen = 0;
        bool cut = false;
        /* one pass over the reply; a reply it does not take (an error
         * among others) is read again below, which names the error */
        vm_qd_take t = {.has_lo = st->has_lo, .has_hi = st->has_hi, .lo = st->lo,
                        .hi = st->hi, .have_pos = st->have_pos, .pos = st->pos,
                        .room = max_rows - added};
        bool fast = vm_qd_fast_page(&st->info, st->rcols, st->nrcols, s, st->resp.body_len, b,
                                    &st->scr, &t);
        if (fast) {
            st->have_pos = t.have_pos;
            st->pos = t.pos;
            added += t.added;
            seen = t.seen;
            cut = t.cut;
            st->finished = t.finished;
            page.has_next = t.has_next;
            page.next = t.next;
        } else if ((rc = vm_qd_parse_page(s, st->resp.body_len, &page, err)) != VM_OK) {
            vm_err_prefix(err, "collection '%s': ", st->collection);
            return vm_err_prefix(err, "reading task %" PRIu32 ": ", st->task.id);
        }
        vm_json_iter it;
        vm_json_span pt;
        if (!fast)
            vm_json_iter_init(&it, s, page.points);
        while (!fast && vm_json_iter_next(&it, &pt)) {
            vm_qd_id id;
            seen++;
            if ((rc = vm_qd_point_id(s, pt, &id, err)) != VM_OK)
                return rc;
            if ((st->have_pos && vm_qd_id_cmp(&id, &st->pos) <= 0) ||
                (!st->have_pos && st->has_lo && vm_qd_id_cmp(&id, &st->lo) < 0))
                continue; /* the resume cursor itself (or an id out of order) */
            if (st->has_hi && vm_qd_id_cmp(&id, &st->hi) >= 0) {
                st->finished = true;
                break;
            }
            if (added >= max_rows) {
                cut = true; /* more points than asked for: go on from pos */
                break;
            }
            if ((rc = vm_qd_add_point(&st->info, st->rcols, st->nrcols, s, pt, b, &st->scr,
                                      err)) != VM_OK)
                return rc;
            st->pos = id;
            st->have_pos = true;
            added++;
        }
        if (st->finished)
            break;
        if (cut) {
            st->have_next = false;
            break;
        }
        if (!page.has_next) {
            st->finished = true;
            break;
        }
        if (seen == 0)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "qdrant: scroll returned no points but a next page offset");
        st->next = page.next;
        st->have_next = true;
        if (st->has_hi && vm_qd_id_cmp(&st->next, &st->hi) >= 0)
            st->finished = true;
    }
    *done = st->finished;
    return VM_OK;
}

int vm_qd_cursor(void *state, char **out, vm_err *err)
{
    vm_qd *st = state;
    char buf[VM_QD_ID_TEXT] = "";
    if (st->have_pos)
        vm_qd_id_text(&st->pos, buf);
    if (!(*out = vm_strdup(buf)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

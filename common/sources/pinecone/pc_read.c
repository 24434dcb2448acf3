/*
 * pc_read.c - reading one Pinecone task: list pages of ids, fetch them in
 * batches, fill the batch columns.
 *
 * A task names a namespace (scope) and a range of ids (pc_plan.c): either
 * a run of prefixes q+c listed one after the other (CHARS), or one prefix
 * listed with ids below `lo` skipped and the first id >= `hi` ending it
 * (SCAN). Ids come sorted bytewise; up to fetch_batch of them (fewer when
 * the URL would pass fetch_url_bytes) go into one GET /vectors/fetch. An id
 * that fetch does not return was deleted after it was listed and is
 * skipped (the count check at the end sees it).
 *
 * Cursor: {"after": last id finished, "token": the token of the list page
 * it came from}. Resuming asks for that page again and skips ids <= after.
 * Pagination tokens are opaque and may expire: when a request with a token
 * is refused (a 4xx other than auth and 429), the prefix is listed again
 * from its start, skipping ids <= after, which is exact because ids are
 * sorted; it costs one pass over the ids before the cursor.
 */
#include "pinecone.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_transform.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void vm_pc_page_reset(vm_pc_page *p, bool keep_token)
{
    vm_pc_free_ids(p->ids, p->n);
    p->ids = NULL;
    p->n = p->pos = 0;
    vm_free(p->next);
    p->next = NULL;
    if (!keep_token) {
        vm_free(p->token);
        p->token = NULL;
    }
    p->loaded = false;
}

static void vm_pc_fids_clear(vm_pc *st)
{
    for (size_t i = 0; i < st->nf; i++)
        vm_free(st->fids[i]);
    st->nf = 0;
}

void vm_pc_close(void *state)
{
    vm_pc *st = state;
    vm_pc_page_reset(&st->page, false);
    vm_pc_enum_release(&st->en);
    vm_pc_fids_clear(st);
    vm_free(st->scope);
    vm_free(st->after);
    vm_free(st->last);
    vm_free(st->last_tok);
    vm_free(st->prev);
    vm_free(st->gtok);
    st->scope = st->after = st->last = st->last_tok = st->prev = st->gtok = NULL;
    st->open = st->enum_done = false;
}

void vm_pc_free_read(vm_pc *st)
{
    vm_pc_fids_clear(st);
    vm_free(st->fids);
    st->fids = NULL;
    st->fcap = 0;
    vm_free(st->recs);
    st->recs = NULL;
    st->rcap = 0;
    vm_pc_sparse_release(&st->sp);
    vm_free(st->dense);
    st->dense = NULL;
}

int vm_pc_open(void *state, const vm_task *task, const char *cursor, vm_err *err)
{
    vm_pc *st = state;
    vm_pc_close(st);
    int rc = vm_pc_describe(st, err);
    if (rc != VM_OK)
        return rc;
    if (!task->scope)
        return vm_err_set(err, VM_ERR_INVALID, false, "pinecone: task %u names no namespace",
                          task->id);
    if ((rc = vm_pc_enum_init(task, &st->en, err)) != VM_OK)
        return rc;
    char *after = NULL, *token = NULL;
    if ((rc = vm_pc_cursor_decode(cursor, &after, &token, err)) != VM_OK)
        goto fail;
    if (after && !vm_pc_enum_contains(&st->en, after)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "pinecone: cursor id '%.100s' lies outside task %u's range", after,
                        task->id);
        goto fail;
    }
    if (after && st->en.mode == VM_PC_ENUM_CHARS)
        st->en.c = (unsigned char)after[strlen(st->en.prefix)];
    if (!(st->scope = vm_strdup(task->scope)) ||
        (after && (!(st->last = vm_strdup(after)) || !(st->prev = vm_strdup(after)) ||
                   (token && !(st->last_tok = vm_strdup(token)))))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    st->after = after;
    st->page.token = token; /* the first request asks for the cursor's page again */
    st->open = true;
    return VM_OK;
fail:
    vm_free(after);
    vm_free(token);
    vm_pc_close(st);
    return rc;
}

/* The current list prefix (CHARS: q + c). */
static char *vm_pc_cur_prefix(const vm_pc *st)
{
    size_t n = strlen(st->en.prefix);
    char *p = vm_malloc(n + 2);
    if (!p)
        return NULL;
    memcpy(p, st->en.prefix, n + 1);
    if (st->en.mode == VM_PC_ENUM_CHARS) {
        p[n] = (char)st->en.c;
        p[n + 1] = '\0';
    }
    return p;
}

/* A refused token: a client error other than auth, rate or "not a list". */
static bool vm_pc_token_refused(int rc, const vm_err *err)
{
    return !err->retriable && rc != VM_ERR_AUTH && rc != VM_ERR_UNSUPPORTED &&
           rc != VM_ERR_NOMEM && rc != VM_ERR_PROTOCOL;
}

/* The next id of the task's range, or *id = NULL at its end. *id points
 * into the current page (valid until the next call). */
static int vm_pc_next_id(vm_pc *st, const char **id, vm_err *err)
{
    *id = NULL;
    vm_pc_page *p = &st->page;
    for (;;) {
        if (st->enum_done)
            return VM_OK;
        if (!p->loaded) {
            char *prefix = vm_pc_cur_prefix(st);
            if (!prefix)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            int rc = vm_pc_list_page(st, st->scope, prefix, p->token, st->list_limit, &p->ids,
                                     &p->n, &p->next, err);
            if (rc != VM_OK && p->token && vm_pc_token_refused(rc, err)) {
                vm_info("pinecone: namespace '%s': the pagination token was refused (%s); "
                        "listing prefix '%s' again from its start, skipping ids up to '%.100s'",
                        st->scope, err->msg, prefix, st->prev ? st->prev : "");
                vm_free(prefix);
                vm_free(p->token);
                p->token = NULL;
                if (st->prev && (!st->after || strcmp(st->prev, st->after) > 0)) {
                    vm_free(st->after);
                    if (!(st->after = vm_strdup(st->prev)))
                        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                }
                continue;
            }
            vm_free(prefix);
            if (rc != VM_OK)
                return rc;
            p->pos = 0;
            p->loaded = true;
            p->gen++;
        }
        while (p->pos < p->n) {
            const char *x = p->ids[p->pos++];
            if (st->after && strcmp(x, st->after) <= 0)
                continue;
            if (st->en.mode == VM_PC_ENUM_SCAN) {
                if (st->en.lo && strcmp(x, st->en.lo) < 0)
                    continue;
                if (st->en.hi && strcmp(x, st->en.hi) >= 0) {
                    st->enum_done = true;
                    return VM_OK;
                }
            }
            if (st->prev && strcmp(x, st->prev) <= 0)
                return vm_err_set(err, VM_ERR_PROTOCOL, false,
                                  "pinecone: namespace '%s': list returned '%.100s' after "
                                  "'%.100s': ids are not in bytewise order",
                                  st->scope, x, st->prev);
            char *pv = vm_strdup(x);
            if (!pv)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            vm_free(st->prev);
            st->prev = pv;
            *id = x;
            return VM_OK;
        }
        /* page used up */
        char *next = p->next;
        p->next = NULL;
        vm_pc_page_reset(p, false);
        if (next) {
            p->token = next;
            continue;
        }
        if (st->en.mode == VM_PC_ENUM_CHARS && st->en.c + 1 < st->en.c_end) {
            st->en.c++;
            continue;
        }
        st->enum_done = true;
    }
}

static size_t vm_pc_enc_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == '~')
                 ? 1
                 : 3;
    return n;
}

static size_t vm_pc_fetch_base(const vm_pc *st, const char *ns)
{
    return strlen(st->data_url) + 16 + (*ns ? 11 + vm_pc_enc_len(ns) : 0);
}

size_t vm_pc_fetch_fit(const vm_pc *st, const char *ns, const char *const *ids, size_t n)
{
    size_t len = vm_pc_fetch_base(st, ns), k = 0;
    while (k < n && k < (size_t)st->fetch_batch) {
        size_t add = 5 + vm_pc_enc_len(ids[k]);
        if (k > 0 && len + add > (size_t)st->fetch_url_bytes)
            break;
        len += add;
        k++;
    }
    return k;
}

int vm_pc_fetch(vm_pc *st, const char *ns, const char *const *ids, size_t n, vm_http_resp *resp,
                vm_pc_rec *recs, vm_err *err)
{
    vm_buf *u = &st->url;
    vm_buf_clear(u);
    vm_buf_puts(u, st->data_url);
    vm_buf_puts(u, "/vectors/fetch?");
    for (size_t i = 0; i < n; i++) {
        vm_buf_puts(u, i ? "&ids=" : "ids=");
        vm_pc_url_encode(u, ids[i], strlen(ids[i]));
    }
    if (*ns) {
        vm_buf_puts(u, "&namespace=");
        vm_pc_url_encode(u, ns, strlen(ns));
    }
    if (!vm_buf_ok(u))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    char what[200];
    snprintf(what, sizeof what, "fetch of %zu ids from namespace '%.60s'", n, ns);
    int rc = vm_pc_request(st, "GET", vm_buf_cstr(u), NULL, resp, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "pinecone: %s: ", what);
    if ((rc = vm_pc_status_error(st, resp, what, err)) != VM_OK)
        return rc;
    if ((rc = vm_pc_parse_fetch(resp->body, resp->body_len, ids, n, recs, err)) != VM_OK)
        return vm_err_prefix(err, "pinecone: %s: ", what);
    return VM_OK;
}

/* Append one fetched record to the batch. */
static int vm_pc_add_row(vm_pc *st, vm_batch *b, const int *col, const char *body,
                         const vm_pc_rec *r, const char *id, vm_err *err)
{
    size_t row;
    int rc = vm_batch_add_row(b, &row, err);
    if (rc != VM_OK)
        return rc;
    if (col[0] >= 0) {
        size_t len = strlen(id);
        int64_t max = b->cols[col[0]].max_length;
        if (max > 0 && (int64_t)len > max) {
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "pinecone: id '%.100s' in namespace '%s' is %zu bytes, over the id "
                            "field's max_length %" PRId64
                            " (from the sample); raise it in the mapping ({source: id, "
                            "max_length: %d})",
                            id, st->scope, len, max, VM_PC_MAX_ID_LEN);
            goto fail;
        }
        if ((rc = vm_batch_set_str(b, (size_t)col[0], row, id, len, err)) != VM_OK)
            goto fail;
    }
    if (col[1] >= 0 &&
        (rc = vm_pc_parse_dense(body, r->values, b->cols[col[1]].dim,
                                vm_batch_vector(b, (size_t)col[1], row), id, err)) != VM_OK)
        goto fail;
    if (col[2] >= 0) {
        if ((rc = vm_pc_parse_sparse(body, r->sparse, &st->sp, id, err)) != VM_OK ||
            (rc = vm_batch_set_sparse(b, (size_t)col[2], row, st->sp.idx, st->sp.val, st->sp.nnz,
                                      err)) != VM_OK)
            goto fail;
    }
    if (col[3] >= 0) {
        const char *v = vm_pc_ns_value(st->scope);
        if ((rc = vm_batch_set_str(b, (size_t)col[3], row, v, strlen(v), err)) != VM_OK)
            goto fail;
    }
    if (col[4] >= 0) {
        if (r->meta.kind == VM_JSON_OBJECT)
            rc = vm_batch_set_str(b, (size_t)col[4], row, body + r->meta.off, r->meta.len, err);
        else if (r->meta.kind == VM_JSON_MISSING || r->meta.kind == VM_JSON_NULL)
            rc = vm_batch_set_null(b, (size_t)col[4], row, err);
        else
            rc = vm_err_set(err, VM_ERR_INVALID, false,
                            "pinecone: record '%.100s': metadata is %s, not an object", id,
                            vm_json_kind_name(r->meta.kind));
        if (rc != VM_OK)
            goto fail;
    }
    return VM_OK;
fail:
    vm_batch_drop_last(b);
    return rc;
}

int vm_pc_read(void *state, vm_batch *b, size_t max_rows, bool *done, vm_err *err)
{
    vm_pc *st = state;
    *done = false;
    if (!st->open)
        return vm_err_set(err, VM_ERR_INVALID, false, "pinecone: read without open");
    int col[5] = {vm_batch_col(b, VM_PC_F_ID), vm_batch_col(b, VM_PC_F_VALUES),
                  vm_batch_col(b, VM_PC_F_SPARSE), vm_batch_col(b, VM_PC_F_NAMESPACE),
                  vm_batch_col(b, VM_META_FIELD)};
    if (col[1] >= 0 && b->cols[col[1]].type != VM_T_FLOAT_VECTOR)
        col[1] = -1;
    if (col[2] >= 0 && b->cols[col[2]].type != VM_T_SPARSE_FLOAT_VECTOR)
        col[2] = -1;
    size_t added = 0;
    vm_http_resp resp = {0};
    int rc = VM_OK;
    size_t want_max = st->fetch_batch < VM_PC_MAX_FETCH_IDS ? (size_t)st->fetch_batch
                                                            : VM_PC_MAX_FETCH_IDS;
    if (st->fcap < want_max &&
        (vm_grow((void **)&st->fids, &st->fcap, want_max, sizeof *st->fids) != 0 ||
         vm_grow((void **)&st->recs, &st->rcap, want_max, sizeof *st->recs) != 0))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    while (added < max_rows) {
        size_t want = max_rows - added < want_max ? max_rows - added : want_max;
        size_t urllen = vm_pc_fetch_base(st, st->scope);
        const char *id;
        vm_pc_fids_clear(st);
        while (st->nf < want) {
            if ((rc = vm_pc_next_id(st, &id, err)) != VM_OK)
                goto cleanup;
            if (!id)
                break;
            size_t add = 5 + vm_pc_enc_len(id);
            if (st->nf > 0 && urllen + add > (size_t)st->fetch_url_bytes) {
                st->page.pos--; /* leave it for the next fetch */
                char *pv = vm_strdup(st->fids[st->nf - 1]);
                if (!pv) {
                    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                    goto cleanup;
                }
                vm_free(st->prev);
                st->prev = pv;
                break;
            }
            urllen += add;
            if (!(st->fids[st->nf] = vm_strdup(id))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            st->nf++;
            if (st->gtok_gen != st->page.gen || !st->gtok != !st->page.token) {
                vm_free(st->gtok);
                st->gtok = NULL;
                if (st->page.token && !(st->gtok = vm_strdup(st->page.token))) {
                    rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
                    goto cleanup;
                }
                st->gtok_gen = st->page.gen;
            }
        }
        if (st->nf == 0) {
            *done = true;
            break;
        }
        if ((rc = vm_pc_fetch(st, st->scope, (const char *const *)st->fids, st->nf, &resp,
                              st->recs, err)) != VM_OK)
            goto cleanup;
        size_t missing = 0;
        for (size_t i = 0; i < st->nf; i++) {
            if (!st->recs[i].found) {
                missing++;
                continue;
            }
            if ((rc = vm_pc_add_row(st, b, col, resp.body, &st->recs[i], st->fids[i], err)) !=
                VM_OK)
                goto cleanup;
            added++;
        }
        if (missing)
            vm_debug("pinecone: namespace '%s': %zu of %zu listed ids were gone at fetch",
                     st->scope, missing, st->nf);
        /* the cursor moves past this fetch */
        char *last = vm_strdup(st->fids[st->nf - 1]);
        char *tok = st->gtok ? vm_strdup(st->gtok) : NULL;
        if (!last || (st->gtok && !tok)) {
            vm_free(last);
            vm_free(tok);
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        vm_free(st->last);
        vm_free(st->last_tok);
        st->last = last;
        st->last_tok = tok;
    }
cleanup:
    vm_pc_fids_clear(st);
    vm_http_resp_free(&resp);
    return rc;
}

int vm_pc_cursor(void *state, char **out, vm_err *err)
{
    vm_pc *st = state;
    if (!(*out = vm_pc_cursor_encode(st->last, st->last ? st->last_tok : NULL)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

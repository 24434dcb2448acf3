/*
 * fuzz_qdrant.c - libFuzzer target for the Qdrant source's response reader
 * (common/sources/qdrant/qd_parse.c): the collection description, error
 * envelopes, scroll pages and points decoded into a batch, point ids.
 *
 * Input: GET /collections/{c} body [0xFF POST .../points/scroll body].
 * The description, when it parses into a schema with vectors of at most
 * 64 dimensions, is the collection the page is read with; otherwise a fixed
 * one (unnamed dense vector of 4 and a sparse "text"). Without a second
 * part the whole input is also read as a page.
 *
 * Invariants:
 *   - a parsed description gives a schema with one field per vector and
 *     the id, and the batch of that schema has a column plan;
 *   - the next page offset and every point id print as text that reads
 *     back as the same id, and their task keys read back too (and sort as
 *     the ids do);
 *   - a point either becomes exactly one row or none (failed points leave
 *     the batch as it was); dense elements are finite and equal to
 *     vm_json_number_f32 of their token; sparse indices increase;
 *   - error texts are NUL-terminated, at most 200 bytes, without control
 *     characters;
 *   - the single-pass page reader (vm_qd_fast_page) takes only pages the
 *     checked path takes, with the same rows, bit for bit.
 */
#include <math.h>

#include "fuzz_util.h"
#include "qdrant.h"
#include "vm_batch.h"
#include "vm_transform.h"

static const char fz_default_info[] =
    "{\"result\":{\"points_count\":3,\"config\":{\"params\":{\"vectors\":{\"size\":4,"
    "\"distance\":\"Cosine\"},\"sparse_vectors\":{\"text\":{\"modifier\":\"idf\"}}}}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static void fz_id_roundtrip(const vm_qd_id *id)
{
    char t[VM_QD_ID_TEXT], k[VM_QD_KEY_TEXT];
    vm_qd_id back, kb;
    vm_qd_id_text(id, t);
    FZ_CHECK(vm_qd_id_parse_text(t, &back) == 0 && vm_qd_id_cmp(&back, id) == 0,
             "id text '%s' does not read back", t);
    vm_qd_id_key(id, k);
    FZ_CHECK(vm_qd_id_from_key(k, &kb) == 0 && vm_qd_id_cmp(&kb, id) == 0,
             "id key '%s' does not read back", k);
}

/* The dense vector of column col in point pt: each element equals
 * vm_json_number_f32 of its token (the reader's own strtof must agree). */
static void fz_same_floats(const vm_qd_info *info, const char *s, vm_json_span pt,
                           const vm_column *col, const float *v)
{
    const vm_qd_vec *q = NULL;
    for (size_t i = 0; i < info->nvecs; i++)
        if (info->vecs[i].field && !strcmp(info->vecs[i].field, col->name))
            q = &info->vecs[i];
    FZ_CHECK(q != NULL, "no vector for column '%s'", col->name);
    const char *k1[] = {"vector"}, *k2[] = {"vector", q->qname};
    vm_json_path p[2] = {{k1, 1}, {k2, 2}};
    vm_json_span sp[2];
    vm_err e;
    FZ_CHECK(vm_json_find(s + pt.off, pt.len, p, 2, sp, &e) == VM_OK, "point is not JSON");
    vm_json_span arr = info->unnamed && sp[0].kind == VM_JSON_ARRAY ? sp[0] : sp[1];
    FZ_CHECK(arr.kind == VM_JSON_ARRAY, "vector read from a %s", vm_json_kind_name(arr.kind));
    vm_json_iter it;
    vm_json_span el;
    int64_t i = 0;
    vm_json_iter_init(&it, s + pt.off, arr);
    while (vm_json_iter_next(&it, &el)) {
        float f;
        FZ_CHECK(i < col->dim && vm_json_number_f32(s + pt.off + el.off, el.len, &f) ==
                                         VM_JSON_NUM_OK &&
                     memcmp(&f, &v[i], sizeof f) == 0,
                 "element %lld: the reader and vm_json_number_f32 disagree", (long long)i);
        i++;
    }
    FZ_CHECK(i == col->dim, "%lld elements read into dimension %lld", (long long)i,
             (long long)col->dim);
}

/* Read the points of page text s (NUL-terminated) into b. */
static void fz_page(const vm_qd_info *info, const char *id_field, vm_batch *b, const char *s,
                    size_t n)
{
    vm_err e;
    vm_qd_page page;
    int rc = vm_qd_parse_page(s, n, &page, &e);
    fz_err(rc, &e);
    if (rc != VM_OK)
        return;
    FZ_CHECK(page.points.kind == VM_JSON_ARRAY && page.points.off + page.points.len <= n,
             "points span");
    if (page.has_next)
        fz_id_roundtrip(&page.next);
    vm_qd_rcol *rc_cols = NULL;
    size_t nrc = 0;
    rc = vm_qd_plan_columns(info, id_field, b, &rc_cols, &nrc, &e);
    FZ_CHECK(rc == VM_OK, "the schema's own batch has no column plan: %s", e.msg);
    vm_qd_scratch scr = {0};
    vm_json_iter it;
    vm_json_span pt;
    vm_qd_id prev;
    bool have_prev = false;
    vm_json_iter_init(&it, s, page.points);
    while (vm_json_iter_next(&it, &pt)) {
        vm_qd_id id;
        rc = vm_qd_point_id(s, pt, &id, &e);
        fz_err(rc, &e);
        if (rc == VM_OK) {
            fz_id_roundtrip(&id);
            if (have_prev) {
                char a[VM_QD_KEY_TEXT], c[VM_QD_KEY_TEXT];
                vm_qd_id_key(&prev, a);
                vm_qd_id_key(&id, c);
                int kc = strcmp(a, c), ic = vm_qd_id_cmp(&prev, &id);
                FZ_CHECK((kc > 0) == (ic > 0) && (kc < 0) == (ic < 0),
                         "key order differs from id order");
            }
            prev = id;
            have_prev = true;
        }
        size_t before = b->nrows;
        if (before >= 64)
            vm_batch_clear(b), before = 0;
        rc = vm_qd_add_point(info, rc_cols, nrc, s, pt, b, &scr, &e);
        fz_err(rc, &e);
        FZ_CHECK(b->nrows == before + (rc == VM_OK ? 1 : 0), "rows %zu -> %zu with rc %d",
                 before, b->nrows, rc);
        if (rc != VM_OK)
            continue;
        size_t row = before;
        for (size_t c = 0; c < b->ncols; c++) {
            const vm_column *col = &b->cols[c];
            if (col->type == VM_T_FLOAT_VECTOR) {
                const float *v = vm_batch_get_vector(b, c, row);
                for (int64_t i = 0; i < col->dim; i++)
                    FZ_CHECK(isfinite(v[i]), "non-finite element %lld", (long long)i);
                fz_same_floats(info, s, pt, col, v);
            } else if (col->type == VM_T_SPARSE_FLOAT_VECTOR) {
                const uint32_t *idx;
                const float *val;
                size_t nnz = vm_batch_get_sparse(b, c, row, &idx, &val);
                for (size_t i = 0; i < nnz; i++) {
                    FZ_CHECK(i == 0 || idx[i - 1] < idx[i], "sparse indices not increasing");
                    FZ_CHECK(isfinite(val[i]), "non-finite sparse value");
                }
            } else if (col->type == VM_T_JSON && !vm_batch_is_null(b, c, row)) {
                size_t len;
                const char *j = vm_batch_get_str(b, c, row, &len);
                FZ_CHECK(vm_json_check(j, len, NULL, &e) == VM_OK, "payload is not JSON");
            }
        }
    }
    vm_qd_scratch_release(&scr);
    free(rc_cols);
}

/* vm_qd_read's single pass (vm_qd_fast_page) against the checked path
 * (vm_qd_parse_page, vm_qd_point_id, vm_qd_add_point, the same skip and
 * cut decisions): when it takes a page, the checked path takes it too and
 * gives the same rows, bit for bit; when it refuses, no row is left. */
static void fz_fast(const vm_qd_info *info, const char *id_field, const vm_schema *bs,
                    const char *s, size_t n, size_t room)
{
    vm_err e;
    vm_batch *a = NULL, *b = NULL;
    FZ_CHECK(vm_batch_new(bs, 8, &a, &e) == VM_OK && vm_batch_new(bs, 8, &b, &e) == VM_OK,
             "batch: %s", e.msg);
    vm_qd_rcol *rc_cols = NULL;
    size_t nrc = 0;
    vm_qd_scratch sa = {0}, sb = {0};
    if (vm_qd_plan_columns(info, id_field, a, &rc_cols, &nrc, &e) != VM_OK)
        goto done; /* fz_page checks the plan of pages that parse */
    vm_qd_take t = {.room = room};
    bool took = vm_qd_fast_page(info, rc_cols, nrc, s, n, a, &sa, &t);
    if (!took) {
        FZ_CHECK(a->nrows == 0, "a refused page left %zu rows", a->nrows);
        goto done;
    }
    vm_qd_page page;
    FZ_CHECK(vm_qd_parse_page(s, n, &page, &e) == VM_OK, "taken page refused: %s", e.msg);
    FZ_CHECK(page.has_next == t.has_next &&
                 (!page.has_next || vm_qd_id_cmp(&page.next, &t.next) == 0),
             "next page offset differs");
    vm_json_iter it;
    vm_json_span pt;
    vm_qd_id pos;
    bool have_pos = false, cut = false;
    size_t seen = 0, added = 0;
    vm_json_iter_init(&it, s, page.points);
    while (vm_json_iter_next(&it, &pt)) {
        vm_qd_id id;
        seen++;
        FZ_CHECK(vm_qd_point_id(s, pt, &id, &e) == VM_OK, "taken point refused: %s", e.msg);
        if (have_pos && vm_qd_id_cmp(&id, &pos) <= 0)
            continue;
        if (added >= room) {
            cut = true;
            break;
        }
        FZ_CHECK(vm_qd_add_point(info, rc_cols, nrc, s, pt, b, &sb, &e) == VM_OK,
                 "taken point refused: %s", e.msg);
        pos = id;
        have_pos = true;
        added++;
    }
    FZ_CHECK(seen == t.seen && added == t.added && cut == t.cut && a->nrows == b->nrows,
             "seen %zu/%zu added %zu/%zu cut %d/%d", t.seen, seen, t.added, added, t.cut, cut);
    FZ_CHECK(t.have_pos == have_pos && (!have_pos || vm_qd_id_cmp(&t.pos, &pos) == 0),
             "last id differs");
    for (size_t c = 0; c < a->ncols; c++) {
        const vm_column *col = &a->cols[c];
        for (size_t r = 0; r < a->nrows; r++) {
            bool na = col->nullable && vm_batch_is_null(a, c, r);
            FZ_CHECK(na == (col->nullable && vm_batch_is_null(b, c, r)), "null flag differs");
            if (na)
                continue;
            if (col->type == VM_T_FLOAT_VECTOR) {
                FZ_CHECK(memcmp(vm_batch_get_vector(a, c, r), vm_batch_get_vector(b, c, r),
                                (size_t)col->dim * sizeof(float)) == 0,
                         "vector of row %zu differs", r);
            } else if (col->type == VM_T_SPARSE_FLOAT_VECTOR) {
                const uint32_t *ia, *ib;
                const float *va, *vb;
                size_t la = vm_batch_get_sparse(a, c, r, &ia, &va);
                FZ_CHECK(la == vm_batch_get_sparse(b, c, r, &ib, &vb) &&
                             (la == 0 || (memcmp(ia, ib, la * sizeof *ia) == 0 &&
                                          memcmp(va, vb, la * sizeof *va) == 0)),
                         "sparse vector of row %zu differs", r);
            } else if (col->type == VM_T_INT64) {
                FZ_CHECK(vm_batch_get_int(a, c, r) == vm_batch_get_int(b, c, r),
                         "int of row %zu differs", r);
            } else {
                size_t la, lb;
                const char *xa = vm_batch_get_str(a, c, r, &la);
                const char *xb = vm_batch_get_str(b, c, r, &lb);
                FZ_CHECK(la == lb && memcmp(xa, xb, la) == 0, "text of row %zu differs", r);
            }
        }
    }
done:
    vm_qd_scratch_release(&sa);
    vm_qd_scratch_release(&sb);
    free(rc_cols);
    vm_batch_free(a);
    vm_batch_free(b);
}

static bool fz_small(const vm_qd_info *info)
{
    for (size_t i = 0; i < info->nvecs; i++)
        if (info->vecs[i].dim > 64)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[2];
    size_t np = fz_split(data, size, parts, 2);
    char *desc = fz_cstr(parts[0].p, parts[0].n);
    vm_err e;

    char msg[256];
    memset(msg, 'x', sizeof msg);
    vm_qd_error_text(desc, parts[0].n, msg, sizeof msg);
    size_t ml = strnlen(msg, sizeof msg);
    FZ_CHECK(ml <= 200, "error text of %zu bytes", ml);
    for (size_t i = 0; i < ml; i++)
        FZ_CHECK((unsigned char)msg[i] >= 0x20, "control character in error text");

    vm_qd_info info;
    int rc = vm_qd_parse_info(desc, parts[0].n, &info, &e);
    fz_err(rc, &e);
    vm_schema *schema = NULL;
    if (rc == VM_OK) {
        rc = vm_qd_build_schema(&info, "fuzz", &schema, &e);
        fz_err(rc, &e);
        if (rc == VM_OK)
            FZ_CHECK(schema->nfields == info.nvecs + 1, "schema has %zu fields for %zu vectors",
                     schema->nfields, info.nvecs);
    }
    if (rc != VM_OK || !fz_small(&info)) {
        if (rc == VM_OK)
            vm_qd_info_release(&info);
        vm_schema_free(schema);
        schema = NULL;
        FZ_CHECK(vm_qd_parse_info(fz_default_info, sizeof fz_default_info - 1, &info, &e) ==
                         VM_OK &&
                     vm_qd_build_schema(&info, "fuzz", &schema, &e) == VM_OK,
                 "default description: %s", e.msg);
    }
    /* the batch a reader gets: the schema's fields plus the payload */
    vm_schema *bs = vm_schema_clone(schema);
    vm_field meta = {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true};
    FZ_CHECK(bs && vm_schema_add(bs, &meta, &e) == VM_OK, "batch schema");
    vm_batch *b = NULL;
    FZ_CHECK(vm_batch_new(bs, 8, &b, &e) == VM_OK, "batch: %s", e.msg);
    const char *id_field = vm_schema_primary(schema)->name;

    if (np > 1) {
        char *page = fz_cstr(parts[1].p, parts[1].n);
        fz_page(&info, id_field, b, page, parts[1].n);
        fz_fast(&info, id_field, bs, page, parts[1].n, 1 + parts[1].n % 8);
        free(page);
    } else {
        fz_page(&info, id_field, b, desc, parts[0].n);
        fz_fast(&info, id_field, bs, desc, parts[0].n, 1 + parts[0].n % 8);
    }
    vm_batch_free(b);
    vm_schema_free(bs);
    vm_schema_free(schema);
    vm_qd_info_release(&info);
    free(desc);
    return 0;
}

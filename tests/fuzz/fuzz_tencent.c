/*
 * fuzz_tencent.c - libFuzzer target for the Tencent Cloud VectorDB source's
 * response reader (common/sources/tencent/tc_doc.c): the {code,msg}
 * envelope, /document/query pages (with and without a keyset field) and
 * documents decoded into a batch.
 *
 * Input: a /document/query body; its first byte also picks the HTTP status
 * of a second envelope check. Layout as tests/unit/test_tencent.c: id
 * VarChar(16), vector FloatVector(3), sparse_vector, seq Int64? (uint64
 * filter field), tag VarChar(8)?, and "$meta" for everything else.
 *
 * Invariants:
 *   - the envelope accepts only a JSON object whose "code" is 0 on 2xx;
 *   - page documents are object spans inside the body; keyset values equal
 *     the number's own value;
 *   - a document becomes exactly one row or none; the id is valid UTF-8
 *     within max_length; vectors are finite; "$meta" is null or a JSON
 *     object that holds none of the members read into typed columns.
 */
#include <math.h>

#include "fuzz_util.h"
#include "tencent.h"
#include "vm_batch.h"
#include "vm_transform.h"

static vm_schema *fz_sch;
static const vm_tc_tcol fz_typed[2] = {{"seq", VM_TC_F_UINT64, 3}, {"tag", VM_TC_F_STRING, 4}};
static const char *const fz_not_meta[5] = {"id", "vector", "sparse_vector", "seq", "tag"};
static const vm_tc_layout fz_lay = {.col_id = 0, .col_vec = 1, .vec_name = "vector", .dim = 3,
                                    .col_sparse = 2, .sparse_name = "sparse_vector",
                                    .col_meta = 5, .typed = fz_typed, .ntyped = 2,
                                    .not_meta = fz_not_meta, .nnot_meta = 5};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    fz_sch = vm_schema_new("c");
    vm_field fs[] = {
        {.name = "id", .type = VM_T_VARCHAR, .max_length = 16, .primary = true},
        {.name = "vector", .type = VM_T_FLOAT_VECTOR, .dim = 3},
        {.name = "sparse_vector", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = "seq", .type = VM_T_INT64, .nullable = true},
        {.name = "tag", .type = VM_T_VARCHAR, .max_length = 8, .nullable = true},
        {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        if (vm_schema_add(fz_sch, &fs[i], NULL) != VM_OK)
            abort();
    return 0;
}

static void fz_envelope(long status, const char *s, size_t n)
{
    vm_err e;
    int rc = vm_tc_envelope(status, s, n, "document/query", &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        const char *k[] = {"code"};
        vm_json_path p = {k, 1};
        vm_json_span top, c;
        int64_t code = -1;
        FZ_CHECK(status >= 200 && status < 300, "OK on HTTP %ld", status);
        FZ_CHECK(vm_json_check(s, n, &top, &e) == VM_OK && top.kind == VM_JSON_OBJECT &&
                     vm_json_find(s, n, &p, 1, &c, &e) == VM_OK && c.kind == VM_JSON_NUMBER &&
                     vm_json_number_i64(s + c.off, c.len, &code) == VM_JSON_NUM_OK && code == 0,
                 "envelope OK without code 0");
    }
}

static void fz_row(const vm_batch *b, size_t row, const vm_tc_scratch *s)
{
    vm_err e;
    size_t len;
    const char *id = vm_batch_get_str(b, 0, row, &len);
    FZ_CHECK(len > 0 && len <= 16 && fz_utf8(id, len), "id of %zu bytes", len);
    const float *v = vm_batch_get_vector(b, 1, row);
    for (int i = 0; i < 3; i++)
        FZ_CHECK(isfinite(v[i]), "non-finite vector element");
    const uint32_t *idx;
    const float *val;
    size_t nnz = vm_batch_get_sparse(b, 2, row, &idx, &val);
    for (size_t i = 0; i < nnz; i++)
        FZ_CHECK((i == 0 || idx[i - 1] < idx[i]) && isfinite(val[i]), "sparse entry %zu", i);
    if (!vm_batch_is_null(b, 4, row)) {
        const char *t = vm_batch_get_str(b, 4, row, &len);
        FZ_CHECK(len <= 8 && fz_utf8(t, len), "tag of %zu bytes", len);
    }
    if (!vm_batch_is_null(b, 5, row)) {
        const char *m = vm_batch_get_str(b, 5, row, &len);
        vm_json_span top;
        FZ_CHECK(vm_json_check(m, len, &top, &e) == VM_OK && top.kind == VM_JSON_OBJECT,
                 "$meta is not a JSON object");
        vm_json_path p[5];
        const char *keys[5][1];
        vm_json_span sp[5];
        for (int i = 0; i < 5; i++) {
            keys[i][0] = fz_not_meta[i];
            p[i] = (vm_json_path){keys[i], 1};
        }
        FZ_CHECK(vm_json_find(m, len, p, 5, sp, &e) == VM_OK, "$meta find");
        for (int i = 0; i < 5; i++)
            FZ_CHECK(sp[i].kind == VM_JSON_MISSING, "$meta still holds '%s'", fz_not_meta[i]);
    }
    (void)s;
}

static void fz_page(const char *body, size_t n, const char *key_field, vm_batch *b,
                    vm_tc_scratch *s)
{
    vm_err e;
    size_t nd = 0;
    int rc = vm_tc_scan_page(body, n, key_field, s, &nd, &e);
    fz_err(rc, &e);
    if (rc != VM_OK)
        return;
    for (size_t i = 0; i < nd; i++) {
        vm_json_span d = s->docs[i];
        FZ_CHECK(d.kind == VM_JSON_OBJECT && d.off + d.len <= n, "document span");
        if (key_field) {
            const char *k[] = {key_field};
            vm_json_path p = {k, 1};
            vm_json_span ks;
            int64_t v;
            FZ_CHECK(vm_json_find(body + d.off, d.len, &p, 1, &ks, &e) == VM_OK &&
                         ks.kind == VM_JSON_NUMBER,
                     "keyset value");
            if (vm_json_number_i64(body + d.off + ks.off, ks.len, &v) == VM_JSON_NUM_OK)
                FZ_CHECK(v >= 0 && (uint64_t)v == s->keys[i], "keyset value %llu vs %lld",
                         (unsigned long long)s->keys[i], (long long)v);
        }
    }
    if (key_field)
        return; /* decode once, in the page without a key field */
    for (size_t i = 0; i < nd; i++) {
        vm_json_span d = s->docs[i];
        if (b->nrows >= 64)
            vm_batch_clear(b);
        size_t before = b->nrows;
        /* the document is followed by the rest of the body (decode_doc needs
         * a byte after a number: any byte of valid JSON text after it does) */
        rc = vm_tc_decode_doc(&fz_lay, body + d.off, d.len, b, s, &e);
        fz_err(rc, &e);
        FZ_CHECK(b->nrows == before + (rc == VM_OK ? 1 : 0), "rows %zu -> %zu", before,
                 b->nrows);
        if (rc == VM_OK)
            fz_row(b, before, s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 204, 400, 401, 403, 404, 408, 429, 500, 503};
    char *body = fz_cstr((const char *)data, size);
    fz_envelope(200, body, size);
    char *exact = fz_dup((const char *)data, size); /* "s[n] need not be NUL" */
    fz_envelope(size ? statuses[data[0] % 10] : 500, exact, size);
    free(exact);

    vm_batch *b = NULL;
    vm_err e;
    FZ_CHECK(vm_batch_new(fz_sch, 4, &b, &e) == VM_OK, "batch");
    vm_tc_scratch s = {0};
    fz_page(body, size, "seq", b, &s);
    fz_page(body, size, NULL, b, &s);
    vm_tc_scratch_free(&s);
    vm_batch_free(b);
    free(body);
    return 0;
}

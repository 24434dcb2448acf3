/*
 * fuzz_pinecone.c - libFuzzer target for the Pinecone source's response
 * reader (common/sources/pinecone/pc_parse.c): list pages, fetch answers,
 * dense and sparse values, the metadata big-number scan and the cursor,
 * and error answers (vm_pc_status_error, pinecone.c).
 *
 * Input: GET /vectors/list body [0xFF GET /vectors/fetch body [0xFF cursor
 * text]]. The fetch is read for the ids the list gave (sorted, distinct)
 * plus a few fixed ones; without a second part the whole input is also
 * read as a fetch answer.
 *
 * Invariants:
 *   - list ids are non-empty strings without NUL; not_json only with an
 *     error;
 *   - a found record's spans lie inside the body and are what they say;
 *     dense values are exactly the record's dimension of finite floats,
 *     each equal to vm_json_number_f32 of its token; sparse indices
 *     strictly increase and values are finite;
 *   - the big-number scan returns -1 only for text that is not an object
 *     and reports as many keys as it counts;
 *   - a cursor that decodes encodes to text that decodes to the same ids.
 */
#include <math.h>

#include "fuzz_util.h"
#include "pinecone.h"
#include "vm_mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static int fz_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void fz_found(void *ctx, const char *key, const char *num)
{
    (*(int *)ctx)++;
    FZ_CHECK(key && num && num[0], "big number callback without key or text");
}

static void fz_span_in(vm_json_span sp, size_t n)
{
    FZ_CHECK(sp.kind == VM_JSON_MISSING || sp.off + sp.len <= n, "span outside the body");
}

static void fz_dense(const char *s, vm_json_span arr, const char *id)
{
    /* dimension: the array's own length (the index's, when it matches) */
    int64_t dim = 0;
    if (arr.kind == VM_JSON_ARRAY) {
        vm_json_iter it;
        vm_json_span el;
        vm_json_iter_init(&it, s, arr);
        while (vm_json_iter_next(&it, &el))
            dim++;
    }
    if (dim > 4096)
        return;
    float *out = vm_calloc(dim ? (size_t)dim : 1, sizeof *out);
    vm_err e;
    int rc = vm_pc_parse_dense(s, arr, dim, out, id, &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        vm_json_iter it;
        vm_json_span el;
        int64_t i = 0;
        vm_json_iter_init(&it, s, arr);
        while (vm_json_iter_next(&it, &el)) {
            float f;
            FZ_CHECK(isfinite(out[i]) &&
                         vm_json_number_f32(s + el.off, el.len, &f) == VM_JSON_NUM_OK &&
                         memcmp(&f, &out[i], sizeof f) == 0,
                     "values[%lld]: reader and vm_json_number_f32 disagree", (long long)i);
            i++;
        }
    }
    /* one more than there is must fail */
    if (arr.kind == VM_JSON_ARRAY) {
        float *big = vm_calloc((size_t)dim + 1, sizeof *big);
        FZ_CHECK(vm_pc_parse_dense(s, arr, dim + 1, big, id, &e) != VM_OK,
                 "dense accepted the wrong dimension");
        vm_free(big);
    }
    vm_free(out);
}

static void fz_fetch(const char *body, size_t n, char **ids, size_t nids)
{
    vm_pc_rec *recs = vm_calloc(nids ? nids : 1, sizeof *recs);
    vm_err e;
    int rc = vm_pc_parse_fetch(body, n, (const char *const *)ids, nids, recs, &e);
    fz_err(rc, &e);
    vm_pc_sparse sp = {0};
    for (size_t i = 0; rc == VM_OK && i < nids; i++) {
        if (!recs[i].found)
            continue;
        fz_span_in(recs[i].values, n);
        fz_span_in(recs[i].sparse, n);
        fz_span_in(recs[i].meta, n);
        fz_dense(body, recs[i].values, ids[i]);
        int src = vm_pc_parse_sparse(body, recs[i].sparse, &sp, ids[i], &e);
        fz_err(src, &e);
        if (src == VM_OK)
            for (size_t k = 0; k < sp.nnz; k++)
                FZ_CHECK((k == 0 || sp.idx[k - 1] < sp.idx[k]) && isfinite(sp.val[k]),
                         "sparse entry %zu", k);
        if (recs[i].meta.kind != VM_JSON_MISSING) {
            int cnt = 0;
            int big = vm_pc_meta_big_numbers(body + recs[i].meta.off, recs[i].meta.len, fz_found,
                                             &cnt);
            FZ_CHECK(big == -1 ? recs[i].meta.kind != VM_JSON_OBJECT : big == cnt,
                     "big-number scan %d, %d callbacks, kind %d", big, cnt,
                     (int)recs[i].meta.kind);
        }
    }
    vm_pc_sparse_release(&sp);
    vm_free(recs);
}

/* An error answer (data plane {"code","message"}, control plane
 * {"error":{...}}, or plain text): OK only for 2xx. */
static void fz_status(char *body, size_t n, long status)
{
    vm_http_resp r = {.status = status, .body = body, .body_len = n, .retry_after_ms = -1};
    vm_err e;
    int rc = vm_pc_status_error(NULL, &r, "list", &e);
    fz_err(rc, &e);
    FZ_CHECK((rc == VM_OK) == (status / 100 == 2), "HTTP %ld gave %d", status, rc);
}

static void fz_cursor(const char *text)
{
    char *after = NULL, *token = NULL;
    vm_err e;
    int rc = vm_pc_cursor_decode(text, &after, &token, &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        FZ_CHECK(!token || after, "a token without an id");
        char *enc = vm_pc_cursor_encode(after, token);
        FZ_CHECK(enc != NULL, "cursor does not encode");
        char *a2 = NULL, *t2 = NULL;
        FZ_CHECK(vm_pc_cursor_decode(enc, &a2, &t2, &e) == VM_OK, "encoded cursor: %s", e.msg);
        FZ_CHECK((!after && !a2) || (after && a2 && !strcmp(after, a2)), "after differs");
        FZ_CHECK((!token && !t2) || (token && t2 && !strcmp(token, t2)), "token differs");
        vm_free(a2);
        vm_free(t2);
        vm_free(enc);
    }
    vm_free(after);
    vm_free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[3];
    size_t np = fz_split(data, size, parts, 3);
    char *list = fz_cstr(parts[0].p, parts[0].n);
    vm_err e;
    static const long statuses[] = {200, 400, 401, 404, 429, 500, 503};
    fz_status(list, parts[0].n, statuses[parts[0].n % 7]);
    char **ids = NULL, *next = NULL;
    size_t nids = 0;
    bool not_json = false;
    int rc = vm_pc_parse_list(list, parts[0].n, &ids, &nids, &next, &not_json, &e);
    fz_err(rc, &e);
    FZ_CHECK(!not_json || rc != VM_OK, "not_json on success");
    if (rc != VM_OK)
        FZ_CHECK(!ids && !nids && !next, "error but ids");
    for (size_t i = 0; i < nids; i++)
        FZ_CHECK(ids[i] && ids[i][0], "empty id %zu", i);
    FZ_CHECK(!next || next[0], "empty next token");

    /* the ids a fetch asks for: the list's and a few fixed ones, sorted, distinct */
    static const char *fixed[] = {"a", "doc-1", "id-0", "v1", "x"};
    size_t nf = sizeof fixed / sizeof *fixed, total = 0;
    char **want = vm_calloc(nids + nf, sizeof *want);
    for (size_t i = 0; i < nids; i++)
        want[total++] = ids[i];
    for (size_t i = 0; i < nf; i++)
        want[total++] = (char *)fixed[i];
    qsort(want, total, sizeof *want, fz_cmp);
    size_t k = 0;
    for (size_t i = 0; i < total; i++)
        if (k == 0 || strcmp(want[k - 1], want[i]))
            want[k++] = want[i];

    if (np > 1) {
        char *fetch = fz_cstr(parts[1].p, parts[1].n);
        fz_fetch(fetch, parts[1].n, want, k);
        free(fetch);
    } else {
        fz_fetch(list, parts[0].n, want, k);
    }
    char *cur = fz_cstr(np > 2 ? parts[2].p : parts[0].p, np > 2 ? parts[2].n : parts[0].n);
    fz_cursor(cur);
    free(cur);

    vm_free(want);
    vm_pc_free_ids(ids, nids);
    vm_free(next);
    free(list);
    return 0;
}

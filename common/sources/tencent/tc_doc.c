/*
 * tc_doc.c - pure helpers of the Tencent Cloud VectorDB source: the
 * {code,msg} envelope and its error classes, uint64 cursors, the keyset
 * split and page filters, and decoding /document/query pages straight into
 * batch columns.
 *
 * Nothing here talks to the network, so the unit tests drive every branch
 * with literal replies, malformed ones included. Documents are never parsed
 * into a tree: the streaming scanner (vm_json_scan.h) validates each one and
 * gives the byte spans of its members; vector elements are parsed with
 * strtof straight from those bytes (a detour through double would round
 * twice), and "$meta" is the document's own text minus the members that
 * became columns, so numbers in the metadata keep their exact spelling.
 */
#include "tencent.h"
#include "vm_mem.h"
#include "vm_float.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vm_tc_ftype vm_tc_ftype_parse(const char *s)
{
    static const struct {
        const char *name;
        vm_tc_ftype t;
    } tab[] = {{"uint64", VM_TC_F_UINT64}, {"int64", VM_TC_F_INT64},
               {"double", VM_TC_F_DOUBLE}, {"string", VM_TC_F_STRING},
               {"array", VM_TC_F_ARRAY},   {"json", VM_TC_F_JSON}};
    for (size_t i = 0; s && i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].name) == 0)
            return tab[i].t;
    return VM_TC_F_UNKNOWN;
}

/* ------------------------------------------------- envelope and errors */

vm_code vm_tc_classify(long status, long code, bool *retriable)
{
    *retriable = false;
    if (status < 200 || status >= 300) {
        vm_code c = vm_http_classify_status(status, retriable);
        if (c != VM_OK)
            return c;
    }
    switch (code) {
    case 0: return VM_OK;
    case VM_TC_E_COLL_MISSING:
    case VM_TC_E_DB_MISSING: return VM_ERR_NOT_FOUND;
    case 13100: /* collection index is not ready */
    case 13101: /* index is building */
        *retriable = true;
        return VM_ERR_UNAVAILABLE;
    default: return VM_ERR_REMOTE;
    }
}

/* At most `max` bytes of s as printable text (a UTF-8 sequence is never
 * cut; control bytes become '?'). */
static void vm_tc_snippet(const char *s, size_t n, char *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (len == 1 || i + len > n || k + len > max)
                break;
            memcpy(out + k, s + i, len);
            k += len;
            i += len - 1;
            continue;
        }
        out[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (k < n) { /* cut: out has room for max + 4 bytes */
        out[k++] = '.';
        out[k++] = '.';
        out[k++] = '.';
    }
    out[k] = '\0';
}

int vm_tc_envelope(long status, const char *s, size_t n, const char *what, vm_err *err)
{
    static const char *const kc[] = {"code"}, *const km[] = {"msg"};
    const vm_json_path paths[2] = {{kc, 1}, {km, 1}};
    vm_json_span sp[2], top;
    vm_err jerr;
    char snip[VM_HTTP_SNIPPET_MAX + 8];
    bool ok2xx = status >= 200 && status < 300;
    if (vm_json_check(s, n, &top, &jerr) != VM_OK || top.kind != VM_JSON_OBJECT ||
        vm_json_find(s, n, paths, 2, sp, &jerr) != VM_OK) {
        vm_tc_snippet(s, n, snip, VM_HTTP_SNIPPET_MAX);
        if (ok2xx)
            return vm_err_setc(err, VM_ERR_PROTOCOL,
                               "tencent %s: the answer is not a JSON object (HTTP %ld): %s", what,
                               status, snip);
        bool retriable;
        vm_code c = vm_http_classify_status(status, &retriable);
        return vm_err_set(err, c, retriable, "tencent %s: HTTP %ld%s%s", what, status,
                          n ? ": " : "", snip);
    }
    int64_t code = 0;
    bool has_code = sp[0].kind == VM_JSON_NUMBER &&
                    vm_json_number_i64(s + sp[0].off, sp[0].len, &code) == VM_JSON_NUM_OK;
    if (ok2xx && !has_code)
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "tencent %s: the answer has no integer \"code\" (HTTP %ld)", what,
                           status);
    if (ok2xx && code == 0)
        return VM_OK;
    bool retriable;
    vm_code c = vm_tc_classify(status, (long)code, &retriable);
    if (c == VM_OK) /* code 0 on a non-2xx status */
        c = vm_http_classify_status(status, &retriable);
    vm_buf msg;
    vm_buf_init(&msg);
    if (sp[1].kind == VM_JSON_STRING &&
        vm_json_unescape(s + sp[1].off, sp[1].len, &msg, &jerr) == VM_OK && msg.len)
        vm_tc_snippet(msg.data, msg.len, snip, VM_HTTP_SNIPPET_MAX);
    else
        snprintf(snip, sizeof snip, "no message");
    vm_buf_release(&msg);
    return vm_err_set(err, c, retriable, "tencent %s: %s (code %" PRId64 ", HTTP %ld)", what,
                      snip, code, status);
}

/* ------------------------------------------------ cursors and splitting */

int vm_tc_parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (!s || n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void vm_tc_format_u64(uint64_t v, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu64, v);
}

int64_t vm_tc_ntasks(int64_t rows, int64_t task_rows)
{
    if (task_rows < 1)
        task_rows = 1;
    if (rows <= 0)
        return 1;
    return rows / task_rows + (rows % task_rows != 0);
}

void vm_tc_split_keyset(uint64_t min, uint64_t max, int64_t ntasks, int64_t *bounds,
                        size_t *nbounds)
{
    *nbounds = 0;
    uint64_t top = max > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : max;
    if (ntasks <= 1 || min > (uint64_t)INT64_MAX || top <= min)
        return;
    __extension__ typedef unsigned __int128 u128;
    u128 span = (u128)(top - min) + 1; /* values in [min, top] */
    u128 n = (u128)ntasks < span ? (u128)ntasks : span;
    for (u128 k = 1; k < n; k++)
        bounds[(*nbounds)++] = (int64_t)(min + (uint64_t)(k * span / n));
}

static bool vm_tc_plain_name(const char *f)
{
    if (!f || !((*f >= 'A' && *f <= 'Z') || (*f >= 'a' && *f <= 'z') || *f == '_'))
        return false;
    for (const char *p = f; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

int vm_tc_keyset_filter(const char *field, const vm_task *t, bool has_cursor, uint64_t cursor,
                        vm_buf *out, vm_err *err)
{
    if (!vm_tc_plain_name(field))
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "tencent: field '%.64s' cannot be named in a filter (letters, digits "
                          "and '_' only); use split: offset",
                          field ? field : "");
    vm_buf_clear(out);
    if (has_cursor)
        vm_buf_printf(out, "%s > %" PRIu64, field, cursor);
    else
        vm_buf_printf(out, "%s >= %" PRId64, field, t->has_lo && t->lo > 0 ? t->lo : 0);
    if (t->has_hi)
        vm_buf_printf(out, " and %s < %" PRId64, field, t->hi);
    if (!vm_buf_ok(out))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    vm_buf_cstr(out);
    return VM_OK;
}

/* ------------------------------------------------------ page decoding */

void vm_tc_scratch_free(vm_tc_scratch *s)
{
    vm_buf_release(&s->str);
    vm_buf_release(&s->meta);
    vm_free(s->sp_idx);
    vm_free(s->sp_val);
    vm_free(s->docs);
    vm_free(s->keys);
    vm_free(s->spans);
    vm_free(s->paths);
    vm_free(s->keys1);
    memset(s, 0, sizeof *s);
}

/* Room for n one-key paths and spans. */
static int vm_tc_paths(vm_tc_scratch *s, size_t n, vm_err *err)
{
    if (n <= s->spans_cap)
        return VM_OK;
    size_t cap = s->spans_cap;
    size_t c1 = cap, c2 = cap;
    if (vm_grow((void **)&s->spans, &cap, n, sizeof *s->spans) != 0 ||
        vm_grow((void **)&s->paths, &c1, n, sizeof *s->paths) != 0 ||
        vm_grow((void **)&s->keys1, &c2, n, sizeof *s->keys1) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    s->spans_cap = cap < c1 ? (cap < c2 ? cap : c2) : (c1 < c2 ? c1 : c2);
    return VM_OK;
}

static void vm_tc_set_path(vm_tc_scratch *s, size_t i, const char *key)
{
    s->keys1[i] = key;
    s->paths[i].keys = &s->keys1[i];
    s->paths[i].depth = 1;
}

int vm_tc_scan_page(const char *body, size_t len, const char *key_field, vm_tc_scratch *s,
                    size_t *ndocs, vm_err *err)
{
    static const char *const kd[] = {"documents"};
    const vm_json_path pd = {kd, 1};
    vm_json_span docs;
    *ndocs = 0;
    int rc = vm_json_find(body, len, &pd, 1, &docs, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "tencent document/query: the answer is not JSON: ");
    if (docs.kind == VM_JSON_MISSING || docs.kind == VM_JSON_NULL)
        return VM_OK; /* no documents (a server may leave the member out) */
    if (docs.kind != VM_JSON_ARRAY)
        return vm_err_setc(err, VM_ERR_PROTOCOL,
                           "tencent document/query: \"documents\" is %s, not an array",
                           vm_json_kind_name(docs.kind));
    vm_json_iter it;
    vm_json_span d;
    size_t n = 0;
    if ((rc = vm_tc_paths(s, 2, err)) != VM_OK)
        return rc;
    vm_json_iter_init(&it, body, docs);
    while (vm_json_iter_next(&it, &d)) {
        if (d.kind != VM_JSON_OBJECT)
            return vm_err_setc(err, VM_ERR_PROTOCOL,
                               "tencent document/query: document %zu of the page is %s, not an "
                               "object",
                               n, vm_json_kind_name(d.kind));
        size_t cap = s->docs_cap, kcap = s->docs_cap;
        if (n + 1 > s->docs_cap) {
            if (vm_grow((void **)&s->docs, &cap, n + 1, sizeof *s->docs) != 0 ||
                vm_grow((void **)&s->keys, &kcap, n + 1, sizeof *s->keys) != 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            s->docs_cap = cap < kcap ? cap : kcap;
        }
        s->docs[n] = d;
        if (key_field) {
            vm_tc_set_path(s, 0, "id");
            vm_tc_set_path(s, 1, key_field);
            if ((rc = vm_json_find(body + d.off, d.len, s->paths, 2, s->spans, err)) != VM_OK)
                return rc;
            const vm_json_span *k = &s->spans[1];
            if (k->kind != VM_JSON_NUMBER ||
                vm_tc_parse_u64(body + d.off + k->off, k->len, &s->keys[n]) != 0) {
                const vm_json_span *id = &s->spans[0];
                bool sid = id->kind == VM_JSON_STRING;
                return vm_err_setc(err, VM_ERR_PROTOCOL,
                                   "tencent: document %.*s: field '%s' is %s, not a uint64 (the "
                                   "keyset split needs it in every document)",
                                   sid ? (int)(id->len > 66 ? 66 : id->len) : 8,
                                   sid ? body + d.off + id->off : "(no id)", key_field,
                                   k->kind == VM_JSON_NUMBER ? "a number out of uint64 range"
                                                             : vm_json_kind_name(k->kind));
            }
        }
        n++;
    }
    *ndocs = n;
    return VM_OK;
}

/* The number token doc[sp] as a finite float32 (correctly rounded, as
 * strtof), or -1. */
static int vm_tc_f32(const char *doc, const vm_json_span *sp, float *out)
{
    if (sp->kind != VM_JSON_NUMBER)
        return -1;
    return vm_f32_parse(doc + sp->off, sp->len, out) == VM_F32_OK ? 0 : -1;
}

static int vm_tc_sparse(const vm_tc_layout *L, const char *doc, vm_json_span sp, vm_batch *b,
                        size_t row, vm_tc_scratch *s, const char *id, vm_err *err)
{
    if (sp.kind == VM_JSON_MISSING || sp.kind == VM_JSON_NULL)
        return vm_batch_set_sparse(b, (size_t)L->col_sparse, row, NULL, NULL, 0, err);
    const char *what = "is not [[termId, score], ...]";
    if (sp.kind != VM_JSON_ARRAY)
        goto bad;
    vm_json_iter it, in;
    vm_json_span e, x[3];
    size_t nnz = 0;
    vm_json_iter_init(&it, doc, sp);
    while (vm_json_iter_next(&it, &e)) {
        if (e.kind != VM_JSON_ARRAY)
            goto bad;
        size_t k = 0;
        vm_json_iter_init(&in, doc, e);
        while (k < 3 && vm_json_iter_next(&in, &x[k]))
            k++;
        int64_t idx;
        float val;
        if (k != 2 || x[0].kind != VM_JSON_NUMBER ||
            vm_json_number_i64(doc + x[0].off, x[0].len, &idx) != VM_JSON_NUM_OK)
            goto bad;
        if (idx < 0 || idx > (int64_t)UINT32_MAX - 1) {
            what = "has a termId outside [0, 2^32-2] (Milvus sparse indices are uint32)";
            goto bad;
        }
        if (vm_tc_f32(doc, &x[1], &val) != 0) {
            what = "has a score that is not a finite float32";
            goto bad;
        }
        if (nnz + 1 > s->sp_cap) {
            size_t c1 = s->sp_cap, c2 = s->sp_cap;
            if (vm_grow((void **)&s->sp_idx, &c1, nnz + 1, sizeof *s->sp_idx) != 0 ||
                vm_grow((void **)&s->sp_val, &c2, nnz + 1, sizeof *s->sp_val) != 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            s->sp_cap = c1 < c2 ? c1 : c2;
        }
        s->sp_idx[nnz] = (uint32_t)idx;
        s->sp_val[nnz] = val;
        nnz++;
    }
    uint32_t dup;
    int src = vm_sparse_sort(s->sp_idx, s->sp_val, nnz, &dup);
    if (src == VM_ERR_NOMEM)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (src != VM_OK) {
        what = "repeats a termId";
        goto bad;
    }
    return vm_batch_set_sparse(b, (size_t)L->col_sparse, row, s->sp_idx, s->sp_val, nnz, err);
bad:
    return vm_err_setc(err, VM_ERR_INVALID, "tencent: document %s: field '%s' %s", id,
                       L->sparse_name, what);
}

static int vm_tc_typed(const vm_tc_tcol *tc, const char *doc, vm_json_span sp, vm_batch *b,
                       size_t row, vm_tc_scratch *s, const char *id, vm_err *err)
{
    size_t col = (size_t)tc->bcol;
    const vm_column *c = &b->cols[col];
    const char *v = doc + sp.off;
    if (sp.kind == VM_JSON_MISSING || sp.kind == VM_JSON_NULL)
        return vm_batch_set_null(b, col, row, err);
    switch (c->type) {
    case VM_T_INT8:
    case VM_T_INT16:
    case VM_T_INT32:
    case VM_T_INT64: {
        int64_t x;
        vm_json_num_rc r = sp.kind == VM_JSON_NUMBER ? vm_json_number_i64(v, sp.len, &x)
                                                     : VM_JSON_NUM_SYNTAX;
        if (r == VM_JSON_NUM_RANGE && tc->ftype == VM_TC_F_UINT64)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' = %.*s is above 2^63-1 and "
                               "does not fit Int64 (keep it in the dynamic field: "
                               "indexed_fields: dynamic)",
                               id, tc->name, (int)(sp.len > 24 ? 24 : sp.len), v);
        if (r != VM_JSON_NUM_OK)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' is %s, not an integer", id,
                               tc->name,
                               sp.kind == VM_JSON_NUMBER ? "a number out of range"
                                                         : vm_json_kind_name(sp.kind));
        return vm_batch_set_int(b, col, row, x, err);
    }
    case VM_T_FLOAT:
    case VM_T_DOUBLE: {
        double x;
        if (sp.kind != VM_JSON_NUMBER || vm_json_number_f64(v, sp.len, &x) != VM_JSON_NUM_OK)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' is %s, not a finite number", id,
                               tc->name, vm_json_kind_name(sp.kind));
        return vm_batch_set_double(b, col, row, x, err);
    }
    case VM_T_VARCHAR: {
        if (sp.kind != VM_JSON_STRING)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' is %s, not a string", id,
                               tc->name, vm_json_kind_name(sp.kind));
        vm_buf_clear(&s->str);
        int rc = vm_json_unescape(v, sp.len, &s->str, err);
        if (rc != VM_OK)
            return vm_err_prefix(err, "tencent: document %s: field '%s': ", id, tc->name);
        if (c->max_length > 0 && (int64_t)s->str.len > c->max_length)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' is %zu bytes, over its "
                               "max_length %" PRId64,
                               id, tc->name, s->str.len, c->max_length);
        return vm_batch_set_str(b, col, row, s->str.data ? s->str.data : "", s->str.len, err);
    }
    case VM_T_ARRAY:
        if (sp.kind != VM_JSON_ARRAY)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "tencent: document %s: field '%s' is %s, not an array", id,
                               tc->name, vm_json_kind_name(sp.kind));
        return vm_batch_set_str(b, col, row, v, sp.len, err);
    case VM_T_JSON: return vm_batch_set_str(b, col, row, v, sp.len, err);
    default:
        return vm_err_setc(err, VM_ERR_UNSUPPORTED,
                           "tencent: field '%s' cannot be read as Milvus %s", tc->name,
                           vm_dtype_name(c->type));
    }
}

int vm_tc_decode_doc(const vm_tc_layout *L, const char *doc, size_t n, vm_batch *b,
                     vm_tc_scratch *s, vm_err *err)
{
    size_t np = 3 + L->ntyped;
    int rc = vm_tc_paths(s, np, err);
    if (rc != VM_OK)
        return rc;
    vm_tc_set_path(s, 0, "id");
    vm_tc_set_path(s, 1, L->vec_name ? L->vec_name : "");
    vm_tc_set_path(s, 2, L->sparse_name ? L->sparse_name : "");
    for (size_t i = 0; i < L->ntyped; i++)
        vm_tc_set_path(s, 3 + i, L->typed[i].name);
    if ((rc = vm_json_find(doc, n, s->paths, np, s->spans, err)) != VM_OK)
        return vm_err_prefix(err, "tencent: a document of the page: ");
    /* the id, for messages and the id column */
    char id[80];
    const vm_json_span *sid = &s->spans[0];
    if (sid->kind != VM_JSON_STRING)
        return vm_err_setc(err, VM_ERR_PROTOCOL, "tencent: a document of the page has %s id",
                           sid->kind == VM_JSON_MISSING ? "no" : "a non-string");
    vm_buf_clear(&s->str);
    if ((rc = vm_json_unescape(doc + sid->off, sid->len, &s->str, err)) != VM_OK)
        return vm_err_prefix(err, "tencent: a document id: ");
    snprintf(id, sizeof id, "'%.*s%s'", (int)(s->str.len > 64 ? 64 : s->str.len),
             s->str.data ? s->str.data : "", s->str.len > 64 ? "..." : "");
    if (s->str.len == 0)
        return vm_err_setc(err, VM_ERR_PROTOCOL, "tencent: a document of the page has an empty id");
    size_t row;
    if ((rc = vm_batch_add_row(b, &row, err)) != VM_OK)
        return rc;
    if (L->col_id >= 0) {
        const vm_column *c = &b->cols[L->col_id];
        if (c->max_length > 0 && (int64_t)s->str.len > c->max_length) {
            rc = vm_err_setc(err, VM_ERR_INVALID,
                             "tencent: document %s: id is %zu bytes, over the field's "
                             "max_length %" PRId64,
                             id, s->str.len, c->max_length);
            goto fail;
        }
        if ((rc = vm_batch_set_str(b, (size_t)L->col_id, row, s->str.data, s->str.len, err)) !=
            VM_OK)
            goto fail;
    }
    if (L->col_vec >= 0) {
        const vm_json_span *sv = &s->spans[1];
        if (sv->kind != VM_JSON_ARRAY) {
            rc = vm_err_setc(err, VM_ERR_INVALID,
                             "tencent: document %s: vector field '%s' is %s (Milvus vectors "
                             "cannot be null)",
                             id, L->vec_name,
                             sv->kind == VM_JSON_MISSING ? "missing" : vm_json_kind_name(sv->kind));
            goto fail;
        }
        float *out = vm_batch_vector(b, (size_t)L->col_vec, row);
        vm_json_iter it;
        vm_json_span e;
        int64_t k = 0;
        vm_json_iter_init(&it, doc, *sv);
        while (vm_json_iter_next(&it, &e)) {
            float v;
            if (k < L->dim && vm_tc_f32(doc, &e, &v) != 0) {
                rc = vm_err_setc(err, VM_ERR_INVALID,
                                 "tencent: document %s: vector field '%s' element %" PRId64
                                 " is %.*s, not a finite float32",
                                 id, L->vec_name, k, (int)(e.len > 32 ? 32 : e.len),
                                 doc + e.off);
                goto fail;
            }
            if (k < L->dim)
                out[k] = v;
            k++;
        }
        if (k != L->dim) {
            rc = vm_err_setc(err, VM_ERR_INVALID,
                             "tencent: document %s: vector field '%s' has %" PRId64
                             " elements, the index says dimension %" PRId64,
                             id, L->vec_name, k, L->dim);
            goto fail;
        }
    }
    if (L->col_sparse >= 0 &&
        (rc = vm_tc_sparse(L, doc, s->spans[2], b, row, s, id, err)) != VM_OK)
        goto fail;
    for (size_t i = 0; i < L->ntyped; i++)
        if ((rc = vm_tc_typed(&L->typed[i], doc, s->spans[3 + i], b, row, s, id, err)) != VM_OK)
            goto fail;
    if (L->col_meta >= 0) {
        if ((rc = vm_tc_paths(s, L->nnot_meta, err)) != VM_OK)
            goto fail;
        for (size_t i = 0; i < L->nnot_meta; i++)
            vm_tc_set_path(s, i, L->not_meta[i]);
        vm_buf_clear(&s->meta);
        if ((rc = vm_json_remove(doc, n, s->paths, L->nnot_meta, &s->meta, NULL, err)) != VM_OK)
            goto fail;
        if (s->meta.len == 2 && memcmp(s->meta.data, "{}", 2) == 0)
            rc = vm_batch_set_null(b, (size_t)L->col_meta, row, err);
        else
            rc = vm_batch_set_str(b, (size_t)L->col_meta, row, s->meta.data, s->meta.len, err);
        if (rc != VM_OK)
            goto fail;
    }
    return VM_OK;
fail:
    vm_batch_drop_last(b);
    return rc;
}

/*
 * pc_parse.c - the Pinecone source's pure helpers: query-string encoding,
 * list and fetch response parsing, dense and sparse values, cursors and
 * the metadata number scan. No I/O here; test_pinecone feeds these
 * malformed input.
 *
 * Fetch responses are parsed without a JSON tree: vm_json_find validates
 * the whole body in one pass and returns the span of "vectors"; a small
 * member walk over that (already validated) text finds each record's
 * "values", "sparseValues" and "metadata" spans. Vector elements are read
 * with strtof straight from the text (never through double, whose double
 * rounding could change the float32's bits); metadata is passed on as the
 * exact bytes the server sent.
 */
#include "pinecone.h"
#include "vm_mem.h"
#include "vm_float.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ------------------------------------------------------------ encoding */

void vm_pc_url_encode(vm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            vm_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vm_buf_append(b, e, 3);
        }
    }
}

const char *vm_pc_metric(const char *m)
{
    if (!m)
        return NULL;
    if (!strcmp(m, "cosine"))
        return "COSINE";
    if (!strcmp(m, "euclidean"))
        return "L2";
    if (!strcmp(m, "dotproduct"))
        return "IP";
    return NULL;
}

int64_t vm_pc_id_max_length(int64_t longest)
{
    int64_t l = longest > 0 ? longest : 0, m = 2 * l;
    if (m < 64)
        m = 64;
    if (m > VM_PC_MAX_ID_LEN)
        m = VM_PC_MAX_ID_LEN;
    if (m < l) { /* multi-byte characters: 512 characters may be 2048 bytes */
        m = 2 * l > 4 * VM_PC_MAX_ID_LEN ? 4 * VM_PC_MAX_ID_LEN : 2 * l;
        if (m < l)
            m = l;
    }
    return m;
}

int64_t vm_pc_ns_max_length(int64_t longest)
{
    int64_t m = 2 * (longest > 0 ? longest : 0);
    if (m < 64)
        m = 64;
    return m > VM_MAX_VARCHAR ? VM_MAX_VARCHAR : m;
}

/* ----------------------------------------------------------- list page */

void vm_pc_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        vm_free(ids[i]);
    vm_free(ids);
}

int vm_pc_parse_list(const char *body, size_t len, char ***ids_out, size_t *nids_out,
                     char **next_out, bool *not_json, vm_err *err)
{
    *ids_out = NULL;
    *nids_out = 0;
    *next_out = NULL;
    *not_json = false;
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &je);
    char **ids = NULL;
    size_t n = 0;
    int rc = VM_OK;
    if (!j) {
        *not_json = true;
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "list answer is not JSON (%s at %d)",
                          je.text, je.position);
    }
    json_t *vs = json_object_get(j, "vectors");
    /* proto3 JSON may leave an empty list out: accept an answer without
     * "vectors" when it is otherwise a list answer */
    bool empty_ok = !vs && (json_object_get(j, "namespace") || json_object_get(j, "usage"));
    if (!json_is_object(j) || !(json_is_array(vs) || empty_ok)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "list answer has no \"vectors\" array");
        goto cleanup;
    }
    size_t cnt = vs ? json_array_size(vs) : 0;
    if (cnt && !(ids = vm_calloc(cnt, sizeof *ids))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *id = json_object_get(json_array_get(vs, i), "id");
        if (!json_is_string(id) || json_string_length(id) == 0 ||
            strlen(json_string_value(id)) != json_string_length(id)) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "list answer: vectors[%zu] has no usable \"id\" string", i);
            goto cleanup;
        }
        if (!(ids[n] = vm_strdup(json_string_value(id)))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        n++;
    }
    json_t *pg = json_object_get(j, "pagination");
    if (pg && !json_is_null(pg)) {
        json_t *nx = json_object_get(pg, "next");
        if (!json_is_object(pg) || (nx && !json_is_null(nx) && !json_is_string(nx))) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "list answer: \"pagination\" is not {\"next\": string}");
            goto cleanup;
        }
        if (json_is_string(nx) && json_string_length(nx) > 0 &&
            !(*next_out = vm_strdup(json_string_value(nx)))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
    }
    *ids_out = ids;
    *nids_out = n;
    ids = NULL;
    n = 0;
cleanup:
    vm_pc_free_ids(ids, n);
    json_decref(j);
    return rc;
}

/* ---------------------------------------------------- member walking */

/* Members of an object span of validated JSON text. */
typedef struct vm_pc_obj {
    const char *s;
    size_t pos, end; /* end: the closing brace */
} vm_pc_obj;

static void vm_pc_obj_init(vm_pc_obj *o, const char *s, vm_json_span obj)
{
    o->s = s;
    o->pos = obj.off + 1;
    o->end = obj.off + obj.len - 1;
}

static bool vm_pc_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t vm_pc_skip_string(const char *s, size_t p)
{
    for (p++; s[p] != '"'; p++)
        if (s[p] == '\\')
            p++;
    return p + 1;
}

/* One value of validated text starting at p: its end and kind. */
static size_t vm_pc_skip_value(const char *s, size_t p, size_t end, vm_json_kind *kind)
{
    switch (s[p]) {
    case '"': *kind = VM_JSON_STRING; return vm_pc_skip_string(s, p);
    case '{':
    case '[': {
        *kind = s[p] == '{' ? VM_JSON_OBJECT : VM_JSON_ARRAY;
        int depth = 0;
        while (p < end) {
            char c = s[p];
            if (c == '"') {
                p = vm_pc_skip_string(s, p);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return p;
    }
    case 't': *kind = VM_JSON_TRUE; break;
    case 'f': *kind = VM_JSON_FALSE; break;
    case 'n': *kind = VM_JSON_NULL; break;
    default: *kind = VM_JSON_NUMBER; break;
    }
    while (p < end && s[p] != ',' && s[p] != '}' && s[p] != ']' && !vm_pc_ws(s[p]))
        p++;
    return p;
}

static bool vm_pc_obj_next(vm_pc_obj *o, vm_json_span *key, vm_json_span *val)
{
    const char *s = o->s;
    while (o->pos < o->end && (vm_pc_ws(s[o->pos]) || s[o->pos] == ','))
        o->pos++;
    if (o->pos >= o->end || s[o->pos] != '"')
        return false;
    size_t ke = vm_pc_skip_string(s, o->pos);
    *key = (vm_json_span){o->pos, ke - o->pos, VM_JSON_STRING};
    o->pos = ke;
    while (o->pos < o->end && (vm_pc_ws(s[o->pos]) || s[o->pos] == ':'))
        o->pos++;
    size_t vs = o->pos;
    vm_json_kind k;
    o->pos = vm_pc_skip_value(s, vs, o->end, &k);
    *val = (vm_json_span){vs, o->pos - vs, k};
    return true;
}

/* Whether key span (quotes included) is the plain key `name`. */
static bool vm_pc_key_is(const char *s, vm_json_span k, const char *name)
{
    size_t n = strlen(name);
    return k.len == n + 2 && memcmp(s + k.off + 1, name, n) == 0;
}

/* ---------------------------------------------------------------- fetch */

static int vm_pc_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int vm_pc_parse_fetch(const char *body, size_t len, const char *const *ids, size_t nids,
                      vm_pc_rec *out, vm_err *err)
{
    for (size_t i = 0; i < nids; i++)
        out[i] = (vm_pc_rec){0};
    const char *k1[] = {"vectors"}, *k2[] = {"namespace"}, *k3[] = {"usage"};
    vm_json_path p[3] = {{.keys = k1, .depth = 1}, {.keys = k2, .depth = 1},
                         {.keys = k3, .depth = 1}};
    vm_json_span sp[3];
    vm_err e2;
    int rc = vm_json_find(body, len, p, 3, sp, &e2);
    if (rc != VM_OK)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "fetch answer is not valid JSON: %s",
                          e2.msg);
    vm_json_span vs = sp[0];
    /* proto3 JSON may leave an empty map out */
    if (vs.kind == VM_JSON_MISSING && (sp[1].kind != VM_JSON_MISSING || sp[2].kind != VM_JSON_MISSING))
        return VM_OK;
    if (vs.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "fetch answer has no \"vectors\" object");
    vm_buf kb;
    vm_buf_init(&kb);
    vm_pc_obj o;
    vm_pc_obj_init(&o, body, vs);
    vm_json_span k, v;
    while (vm_pc_obj_next(&o, &k, &v)) {
        vm_buf_clear(&kb);
        if ((rc = vm_json_unescape(body + k.off, k.len, &kb, err)) != VM_OK)
            goto cleanup;
        const char *key = vm_buf_cstr(&kb);
        if (!vm_buf_ok(&kb)) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        const char *const *hit = nids ? bsearch(&key, ids, nids, sizeof *ids, vm_pc_cmp_str) : NULL;
        if (!hit)
            continue; /* not asked for: ignore */
        size_t i = (size_t)(hit - ids);
        if (v.kind != VM_JSON_OBJECT) {
            rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                            "fetch answer: record '%.100s' is %s, not an object", ids[i],
                            vm_json_kind_name(v.kind));
            goto cleanup;
        }
        vm_pc_rec r = {.found = true};
        vm_pc_obj ro;
        vm_pc_obj_init(&ro, body, v);
        vm_json_span rk, rv;
        while (vm_pc_obj_next(&ro, &rk, &rv)) {
            if (vm_pc_key_is(body, rk, "values"))
                r.values = rv;
            else if (vm_pc_key_is(body, rk, "sparseValues"))
                r.sparse = rv;
            else if (vm_pc_key_is(body, rk, "metadata"))
                r.meta = rv;
        }
        out[i] = r;
    }
cleanup:
    vm_buf_release(&kb);
    return rc;
}

/* A JSON number token as a finite float32 (correctly rounded, as strtof),
 * or -1. */
static int vm_pc_f32(const char *s, vm_json_span t, float *out)
{
    if (t.kind != VM_JSON_NUMBER || t.len == 0)
        return -1;
    return vm_f32_parse(s + t.off, t.len, out) == VM_F32_OK ? 0 : -1;
}

int vm_pc_parse_dense(const char *s, vm_json_span arr, int64_t dim, float *out, const char *id,
                      vm_err *err)
{
    if (arr.kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': values is %s, not an array of %lld numbers",
                          id, arr.kind == VM_JSON_MISSING ? "missing" : vm_json_kind_name(arr.kind),
                          (long long)dim);
    vm_json_iter it;
    vm_json_iter_init(&it, s, arr);
    vm_json_span e;
    int64_t n = 0;
    while (vm_json_iter_next(&it, &e)) {
        if (n >= dim)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pinecone: record '%.100s': values has more than %lld elements",
                              id, (long long)dim);
        if (vm_pc_f32(s, e, &out[n]) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pinecone: record '%.100s': values[%lld] '%.*s' is not a finite "
                              "float32",
                              id, (long long)n, (int)(e.len > 40 ? 40 : e.len), s + e.off);
        n++;
    }
    if (n != dim)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': values has %lld elements, the index has "
                          "dimension %lld",
                          id, (long long)n, (long long)dim);
    return VM_OK;
}

void vm_pc_sparse_release(vm_pc_sparse *sp)
{
    vm_free(sp->idx);
    vm_free(sp->val);
    *sp = (vm_pc_sparse){0};
}

int vm_pc_parse_sparse(const char *s, vm_json_span obj, vm_pc_sparse *sp, const char *id,
                       vm_err *err)
{
    sp->nnz = 0;
    if (obj.kind == VM_JSON_MISSING || obj.kind == VM_JSON_NULL)
        return VM_OK;
    if (obj.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': sparseValues is %s, not an object", id,
                          vm_json_kind_name(obj.kind));
    vm_json_span ind = {0}, val = {0}, k, v;
    vm_pc_obj o;
    vm_pc_obj_init(&o, s, obj);
    while (vm_pc_obj_next(&o, &k, &v)) {
        if (vm_pc_key_is(s, k, "indices"))
            ind = v;
        else if (vm_pc_key_is(s, k, "values"))
            val = v;
    }
    if (ind.kind != VM_JSON_ARRAY || val.kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': sparseValues needs \"indices\" and "
                          "\"values\" arrays",
                          id);
    vm_json_iter a, b;
    vm_json_iter_init(&a, s, ind);
    vm_json_iter_init(&b, s, val);
    vm_json_span ea, eb;
    for (;;) {
        bool ha = vm_json_iter_next(&a, &ea), hb = vm_json_iter_next(&b, &eb);
        if (!ha && !hb)
            break;
        if (ha != hb)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pinecone: record '%.100s': sparseValues has indices and values "
                              "of different lengths",
                              id);
        int64_t ix;
        if (ea.kind != VM_JSON_NUMBER ||
            vm_json_number_i64(s + ea.off, ea.len, &ix) != VM_JSON_NUM_OK || ix < 0 ||
            ix > (int64_t)UINT32_MAX)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pinecone: record '%.100s': sparse index '%.*s' is not an "
                              "integer in 0..4294967295",
                              id, (int)(ea.len > 40 ? 40 : ea.len), s + ea.off);
        float f;
        if (vm_pc_f32(s, eb, &f) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "pinecone: record '%.100s': sparse value '%.*s' is not a finite "
                              "float32",
                              id, (int)(eb.len > 40 ? 40 : eb.len), s + eb.off);
        if (sp->nnz == sp->cap) {
            size_t c1 = sp->cap, c2 = sp->cap;
            if (vm_grow((void **)&sp->idx, &c1, sp->nnz + 1, sizeof *sp->idx) != 0 ||
                vm_grow((void **)&sp->val, &c2, sp->nnz + 1, sizeof *sp->val) != 0)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            sp->cap = c1 < c2 ? c1 : c2;
        }
        sp->idx[sp->nnz] = (uint32_t)ix;
        sp->val[sp->nnz] = f;
        sp->nnz++;
    }
    uint32_t dup;
    int src = vm_sparse_sort(sp->idx, sp->val, sp->nnz, &dup);
    if (src == VM_ERR_NOMEM)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (src != VM_OK)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': sparse index %u appears twice", id, dup);
    return VM_OK;
}

/* ------------------------------------------------------------- metadata */

/* Whether the number token s[0, n) has a magnitude of 2^53 or more (a
 * number beyond the double range is one too); num gets its text. */
static bool vm_pc_big(const char *s, size_t n, char *num, size_t cap)
{
    double d;
    vm_json_num_rc r = vm_json_number_f64(s, n, &d);
    if (r == VM_JSON_NUM_RANGE) {
        snprintf(num, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), s);
        return true;
    }
    if (r != VM_JSON_NUM_OK || fabs(d) < 9007199254740992.0) /* 2^53 */
        return false;
    snprintf(num, cap, "%.17g", d);
    return true;
}

/* Walked with the scanner, not loaded with jansson: jansson refuses a
 * number beyond the double range (1e400), which made a whole valid object
 * "not JSON" and hid every big number in it. */
int vm_pc_meta_big_numbers(const char *s, size_t n,
                           void (*found)(void *ctx, const char *key, const char *num), void *ctx)
{
    vm_json_span top, k, v;
    vm_err e;
    if (vm_json_check(s, n, &top, &e) != VM_OK || top.kind != VM_JSON_OBJECT)
        return -1;
    int count = 0;
    vm_buf key;
    vm_buf_init(&key);
    vm_json_iter it;
    vm_json_iter_init(&it, s, top);
    while (vm_json_member_next(&it, &k, &v)) {
        char num[40];
        bool hit = false;
        if (v.kind == VM_JSON_NUMBER) {
            hit = vm_pc_big(s + v.off, v.len, num, sizeof num);
        } else if (v.kind == VM_JSON_ARRAY) {
            vm_json_iter ai;
            vm_json_span el;
            vm_json_iter_init(&ai, s, v);
            while (!hit && vm_json_iter_next(&ai, &el))
                hit = el.kind == VM_JSON_NUMBER && vm_pc_big(s + el.off, el.len, num, sizeof num);
        }
        if (!hit)
            continue;
        count++;
        if (found) {
            vm_buf_clear(&key);
            vm_json_unescape(s + k.off, k.len, &key, &e);
            found(ctx, vm_buf_cstr(&key), num);
        }
    }
    vm_buf_release(&key);
    return count;
}

/* --------------------------------------------------------------- cursor */

char *vm_pc_cursor_encode(const char *after, const char *token)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    if ((after && json_object_set_new(j, "after", json_string(after)) != 0) ||
        (after && token && json_object_set_new(j, "token", json_string(token)) != 0)) {
        json_decref(j);
        return NULL;
    }
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!t)
        return NULL;
    char *out = vm_strdup(t);
    free(t);
    return out;
}

int vm_pc_cursor_decode(const char *text, char **after, char **token, vm_err *err)
{
    *after = *token = NULL;
    if (!text || !*text)
        return VM_OK;
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    int rc = VM_OK;
    if (!json_is_object(j)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "pinecone: bad cursor (not a JSON object)");
        goto cleanup;
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if ((strcmp(k, "after") && strcmp(k, "token")) || !json_is_string(v) ||
            json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
            rc = vm_err_set(err, VM_ERR_INVALID, false, "pinecone: bad cursor (key '%.20s')", k);
            goto cleanup;
        }
    }
    json_t *a = json_object_get(j, "after"), *t = json_object_get(j, "token");
    if (t && !a) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "pinecone: bad cursor (a token without an id)");
        goto cleanup;
    }
    if ((a && !(*after = vm_strdup(json_string_value(a)))) ||
        (t && !(*token = vm_strdup(json_string_value(t))))) {
        vm_free(*after);
        *after = NULL;
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
cleanup:
    json_decref(j);
    return rc;
}

/*
 * qd_parse.c - the Qdrant source's pure helpers: point ids, the collection
 * description and its schema, error envelopes, scroll pages, and points
 * decoded straight into batch rows.
 *
 * Nothing here talks to a server, so the unit tests drive every branch,
 * malformed replies included.
 *
 * Scroll replies are never parsed into a JSON tree: integer ids above
 * 2^63-1 do not fit jansson's json_int_t, and the payload must reach the
 * target byte for byte (numbers are never re-formatted). vm_json_find
 * validates each reply and gives spans; the payload object's span becomes
 * the "$meta" value as it is, and each vector element is read with strtof
 * from its own token (never through a double, which could round twice).
 *
 * vm_qd_read takes a page in one pass first (vm_qd_fast_page, at the end):
 * a validating cursor walks the reply once, vector arrays are decoded into
 * the row as they are walked (each element's extent found and parsed in
 * the same step), everything else is validated once by the scanner's skip.
 * Anything unusual - any error, an id after the vector, a key given twice
 * - drops that page's rows and reads it again the checked way above
 * (vm_qd_parse_page, vm_qd_point_id, vm_qd_add_point), so the errors and
 * rows are exactly those of the checked path.
 */
#include "qdrant.h"
#include "vm_mem.h"
#include "vm_float.h"
#include "vm_transform.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ------------------------------------------------------------ point ids */

static int vm_qd_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A UUID: 36 hyphenated or 32 plain hex digits, any case. */
static int vm_qd_uuid_parse(const char *s, size_t n, uint8_t b[16])
{
    size_t k = 0;
    if (n != 36 && n != 32)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return -1;
            continue;
        }
        int h = vm_qd_hex(s[i]);
        if (h < 0)
            return -1;
        if (k % 2 == 0)
            b[k / 2] = (uint8_t)(h << 4);
        else
            b[k / 2] |= (uint8_t)h;
        k++;
    }
    return k == 32 ? 0 : -1;
}

/* Digits only, no sign, no leading zero (JSON), at most 2^64-1. */
static int vm_qd_u64_parse(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
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

int vm_qd_id_parse_json(const char *s, size_t n, vm_qd_id *id)
{
    memset(id, 0, sizeof *id);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        id->uuid = true;
        return vm_qd_uuid_parse(s + 1, n - 2, id->b);
    }
    return vm_qd_u64_parse(s, n, &id->num);
}

int vm_qd_id_parse_text(const char *s, vm_qd_id *id)
{
    memset(id, 0, sizeof *id);
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (n == 36 || (n == 32 && strspn(s, "0123456789") != n)) {
        id->uuid = true;
        return vm_qd_uuid_parse(s, n, id->b);
    }
    return vm_qd_u64_parse(s, n, &id->num);
}

void vm_qd_id_text(const vm_qd_id *id, char buf[VM_QD_ID_TEXT])
{
    if (!id->uuid) {
        snprintf(buf, VM_QD_ID_TEXT, "%" PRIu64, id->num);
        return;
    }
    static const char hx[] = "0123456789abcdef";
    char *o = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hx[id->b[i] >> 4];
        *o++ = hx[id->b[i] & 15];
    }
    *o = '\0';
}

void vm_qd_id_json(const vm_qd_id *id, vm_buf *out)
{
    char t[VM_QD_ID_TEXT];
    vm_qd_id_text(id, t);
    if (id->uuid)
        vm_buf_printf(out, "\"%s\"", t);
    else
        vm_buf_puts(out, t);
}

int vm_qd_id_cmp(const vm_qd_id *a, const vm_qd_id *b)
{
    if (a->uuid != b->uuid)
        return a->uuid ? 1 : -1;
    if (!a->uuid)
        return a->num < b->num ? -1 : a->num > b->num;
    return memcmp(a->b, b->b, 16);
}

void vm_qd_id_key(const vm_qd_id *id, char buf[VM_QD_KEY_TEXT])
{
    if (!id->uuid) {
        snprintf(buf, VM_QD_KEY_TEXT, "n:%020" PRIu64, id->num);
        return;
    }
    char t[VM_QD_ID_TEXT];
    vm_qd_id_text(id, t);
    snprintf(buf, VM_QD_KEY_TEXT, "u:%s", t);
}

int vm_qd_id_from_key(const char *key, vm_qd_id *id)
{
    memset(id, 0, sizeof *id);
    if (!key || strlen(key) < 3 || key[1] != ':')
        return -1;
    if (key[0] == 'n') {
        const char *d = key + 2;
        if (strlen(d) != 20 || strspn(d, "0123456789") != 20)
            return -1;
        uint64_t v = 0;
        for (int i = 0; i < 20; i++) {
            unsigned x = (unsigned)(d[i] - '0');
            if (v > (UINT64_MAX - x) / 10)
                return -1;
            v = v * 10 + x;
        }
        id->num = v;
        return 0;
    }
    if (key[0] == 'u' && strlen(key + 2) == 36) {
        id->uuid = true;
        return vm_qd_uuid_parse(key + 2, 36, id->b);
    }
    return -1;
}

/* ---------------------------------------------------- the collection */

const char *vm_qd_metric(const char *distance)
{
    if (!distance)
        return NULL;
    if (!strcmp(distance, "Cosine"))
        return "COSINE";
    if (!strcmp(distance, "Euclid"))
        return "L2";
    if (!strcmp(distance, "Dot"))
        return "IP";
    return NULL; /* Manhattan, or a distance this version does not know */
}

void vm_qd_info_release(vm_qd_info *info)
{
    for (size_t i = 0; i < info->nvecs; i++) {
        vm_free(info->vecs[i].qname);
        vm_free(info->vecs[i].field);
        vm_free(info->vecs[i].distance);
        vm_free(info->vecs[i].datatype);
        vm_free(info->vecs[i].modifier);
    }
    vm_free(info->vecs);
    memset(info, 0, sizeof *info);
    info->points_count = -1;
}

static char *vm_qd_dup_str(const json_t *j)
{
    return json_is_string(j) ? vm_strdup(json_string_value(j)) : NULL;
}

static int vm_qd_add_vec(vm_qd_info *info, const char *qname, const json_t *params, bool sparse,
                         vm_err *err)
{
    vm_qd_vec v = {0};
    if (!json_is_object(params))
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: collection description: vector '%s' has no parameters", qname);
    if (!sparse) {
        json_t *size = json_object_get(params, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 1)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "qdrant: collection description: vector '%s' has no valid size",
                              qname);
        v.dim = (int64_t)json_integer_value(size);
        v.kind = json_is_object(json_object_get(params, "multivector_config")) ? VM_QD_MULTI
                                                                               : VM_QD_DENSE;
    } else {
        v.kind = VM_QD_SPARSE;
    }
    void *grown = vm_realloc(info->vecs, (info->nvecs + 1) * sizeof *info->vecs);
    if (!grown)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    info->vecs = grown;
    v.qname = vm_strdup(qname);
    v.distance = sparse ? NULL : vm_qd_dup_str(json_object_get(params, "distance"));
    v.datatype = sparse ? vm_qd_dup_str(json_object_get(json_object_get(params, "index"),
                                                        "datatype"))
                        : vm_qd_dup_str(json_object_get(params, "datatype"));
    const char *mod = json_string_value(json_object_get(params, "modifier"));
    v.modifier = sparse && mod && strcmp(mod, "none") ? vm_strdup(mod) : NULL;
    info->vecs[info->nvecs++] = v;
    if (!v.qname)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (!sparse && !v.distance)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: collection description: vector '%s' has no distance", qname);
    return VM_OK;
}

int vm_qd_parse_info(const char *body, size_t len, vm_qd_info *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    out->points_count = -1;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    int rc = VM_OK;
    if (!root)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: collection description is not JSON (%s at byte %d)", je.text,
                          je.position);
    json_t *result = json_object_get(root, "result");
    json_t *params = json_object_get(json_object_get(result, "config"), "params");
    if (!json_is_object(params)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "qdrant: collection description has no result.config.params");
        goto cleanup;
    }
    json_t *pc = json_object_get(result, "points_count");
    if (json_is_integer(pc))
        out->points_count = (int64_t)json_integer_value(pc);
    json_t *vectors = json_object_get(params, "vectors");
    if (json_is_object(vectors) && json_is_integer(json_object_get(vectors, "size"))) {
        out->unnamed = true;
        if ((rc = vm_qd_add_vec(out, "", vectors, false, err)) != VM_OK)
            goto cleanup;
    } else if (json_is_object(vectors)) {
        const char *name;
        json_t *v;
        json_object_foreach(vectors, name, v) {
            if ((rc = vm_qd_add_vec(out, name, v, false, err)) != VM_OK)
                goto cleanup;
        }
    } else if (vectors && !json_is_null(vectors)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "qdrant: collection description: config.params.vectors is not an "
                        "object");
        goto cleanup;
    }
    json_t *sparse = json_object_get(params, "sparse_vectors");
    if (json_is_object(sparse)) {
        const char *name;
        json_t *v;
        json_object_foreach(sparse, name, v) {
            if ((rc = vm_qd_add_vec(out, name, v, true, err)) != VM_OK)
                goto cleanup;
        }
    } else if (sparse && !json_is_null(sparse)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "qdrant: collection description: config.params.sparse_vectors is not "
                        "an object");
        goto cleanup;
    }
cleanup:
    json_decref(root);
    if (rc != VM_OK)
        vm_qd_info_release(out);
    return rc;
}

/* A name not yet taken by fields [0, n) of s nor by `also` (may be NULL):
 * base, else base_1, base_2, ... Allocated. */
static char *vm_qd_unique(const vm_schema *s, const char *also, const char *base)
{
    size_t n = strlen(base) + 24;
    char *name = vm_malloc(n);
    if (!name)
        return NULL;
    snprintf(name, n, "%s", base);
    for (int k = 1; vm_schema_find(s, name) || (also && !strcmp(also, name)); k++)
        snprintf(name, n, "%s_%d", base, k);
    return name;
}

int vm_qd_build_schema(vm_qd_info *info, const char *collection, vm_schema **out, vm_err *err)
{
    *out = NULL;
    if (info->nvecs == 0)
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "qdrant: collection '%s' has no vectors, and a Milvus collection "
                          "needs at least one vector field",
                          collection);
    vm_schema *s = vm_schema_new(collection);
    char *idname = NULL, desc[512];
    int rc = VM_OK;
    if (!s)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    /* "id" unless a vector has that name (vector fields keep Qdrant's names) */
    bool taken = false;
    for (size_t i = 0; i < info->nvecs; i++)
        taken |= !strcmp(info->vecs[i].qname[0] ? info->vecs[i].qname : "vector", "id");
    idname = taken ? NULL : vm_strdup("id");
    for (int k = 1; taken; k++) {
        char cand[32];
        snprintf(cand, sizeof cand, "id_%d", k);
        taken = false;
        for (size_t i = 0; i < info->nvecs; i++)
            taken |= !strcmp(info->vecs[i].qname, cand);
        if (!taken)
            idname = vm_strdup(cand);
    }
    if (!idname) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    vm_field id = {.name = idname, .type = VM_T_VARCHAR, .max_length = 36, .primary = true,
                   .description = "Qdrant point id -> VarChar(36): unsigned integers as decimal "
                                  "text, UUIDs in canonical 8-4-4-4-12 lowercase form (ids "
                                  "above 2^63-1 do not fit Int64)"};
    if ((rc = vm_schema_add(s, &id, err)) != VM_OK)
        goto cleanup;
    for (size_t i = 0; i < info->nvecs; i++) {
        vm_qd_vec *v = &info->vecs[i];
        vm_free(v->field);
        v->field = vm_qd_unique(s, NULL, v->qname[0] ? v->qname : "vector");
        if (!v->field) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        char what[300];
        if (v->qname[0])
            snprintf(what, sizeof what, "Qdrant %s vector '%.200s'",
                     v->kind == VM_QD_SPARSE ? "sparse" : v->kind == VM_QD_MULTI ? "multi"
                                                                                 : "named",
                     v->qname);
        else
            snprintf(what, sizeof what, "Qdrant unnamed vector");
        vm_field f = {.name = v->field, .description = desc};
        if (v->kind == VM_QD_DENSE) {
            const char *metric = vm_qd_metric(v->distance);
            f.type = VM_T_FLOAT_VECTOR;
            f.dim = v->dim;
            f.metric = (char *)metric;
            int used = snprintf(desc, sizeof desc, "%s (size %" PRId64 ", %s%s%s) -> "
                                "FloatVector(%" PRId64 ")",
                                what, v->dim, v->distance, v->datatype ? ", " : "",
                                v->datatype ? v->datatype : "", v->dim);
            if (used > 0 && (size_t)used < sizeof desc && !metric)
                snprintf(desc + used, sizeof desc - (size_t)used,
                         "; Milvus has no %s metric: set one with the mapping's metric",
                         v->distance);
            if (v->datatype && strcmp(v->datatype, "float32") && strlen(desc) + 60 < sizeof desc)
                strcat(desc, "; values as the server prints them, exact in float32");
        } else if (v->kind == VM_QD_SPARSE) {
            f.type = VM_T_SPARSE_FLOAT_VECTOR;
            f.metric = "IP";
            snprintf(desc, sizeof desc,
                     "%s -> SparseFloatVector (Qdrant scores sparse vectors by dot product)%s%s%s",
                     what, v->modifier ? "; modifier " : "", v->modifier ? v->modifier : "",
                     v->modifier ? " is applied by Qdrant at query time and not carried over"
                                 : "");
        } else {
            f.type = VM_T_VARCHAR;
            f.max_length = VM_MAX_VARCHAR;
            f.unsupported = true;
            snprintf(desc, sizeof desc,
                     "%s (multivector of size %" PRId64 ") has no Milvus type: read as its JSON "
                     "text; drop it or give it a type (JSON) in the mapping",
                     what, v->dim);
        }
        if ((rc = vm_schema_add(s, &f, err)) != VM_OK)
            goto cleanup;
    }
    s->enable_dynamic = true;
    if (!(s->dynamic_alias = vm_strdup("payload")) ||
        !(s->description = vm_strdup("migrated from Qdrant"))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    *out = s;
    s = NULL;
cleanup:
    vm_free(idname);
    vm_schema_free(s);
    return rc;
}

/* ---------------------------------------------------------- messages */

void vm_qd_error_text(const char *body, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    if (!body || len == 0)
        return;
    const char *k1[] = {"status", "error"};
    vm_json_path p = {.keys = k1, .depth = 2};
    vm_json_span sp;
    vm_err e;
    const char *src = body;
    size_t n = len;
    vm_buf tmp;
    vm_buf_init(&tmp);
    if (vm_json_find(body, len, &p, 1, &sp, &e) == VM_OK && sp.kind == VM_JSON_STRING &&
        vm_json_unescape(body + sp.off, sp.len, &tmp, &e) == VM_OK && vm_buf_ok(&tmp)) {
        src = vm_buf_cstr(&tmp);
        n = tmp.len;
    }
    size_t lim = cap - 1 < 200 ? cap - 1 : 200;
    if (n > lim) {
        n = lim;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* cut at a UTF-8 character boundary */
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)src[i] < 0x20 ? ' ' : src[i];
    out[n] = '\0';
    vm_buf_release(&tmp);
}

/* A token's length for "%.*s", at most max bytes: a message quotes the
 * token, not the rest of the reply after it. */
#define VM_QD_TOK(span, max) ((int)((span).len < (max) ? (span).len : (max)))

/* ------------------------------------------------------- scroll pages */

/* For a reply that is not valid JSON: the id of the last point that starts
 * ('{' then "id":) before the byte where the scanner stopped, as the scanner
 * names it ("at byte N", or "at the end of the text"). A hint for the
 * message only ("" when none is seen): the text is read as bytes. */
void vm_qd_near_point(const char *body, size_t len, const char *scan_msg, char *out, size_t cap)
{
    static const char key[] = "\"id\":";
    const size_t kl = sizeof key - 1;
    size_t at = len;
    const char *b = strstr(scan_msg, "at byte ");
    out[0] = '\0';
    if (b && sscanf(b, "at byte %zu", &at) != 1)
        return;
    if (at > len)
        at = len;
    for (size_t i = at; i-- > 0;) {
        if (i + kl > len || memcmp(body + i, key, kl) != 0)
            continue;
        size_t j = i;
        while (j > 0 && isspace((unsigned char)body[j - 1]))
            j--;
        if (j == 0 || body[j - 1] != '{')
            continue;
        size_t v = i + kl, n = 0;
        while (v < len && isspace((unsigned char)body[v]))
            v++;
        if (v < len && body[v] == '"') { /* a UUID: up to its closing quote */
            n = 1;
            while (v + n < len && n < 40 && body[v + n] != '"')
                n++;
            if (v + n < len && body[v + n] == '"')
                n++;
        } else {
            while (v + n < len && n < 24 && isdigit((unsigned char)body[v + n]))
                n++;
        }
        if (n)
            snprintf(out, cap, "%.*s", (int)n, body + v);
        return;
    }
}

int vm_qd_parse_page(const char *body, size_t len, vm_qd_page *page, vm_err *err)
{
    memset(page, 0, sizeof *page);
    const char *k_pts[] = {"result", "points"};
    const char *k_next[] = {"result", "next_page_offset"};
    vm_json_path paths[2] = {{k_pts, 2}, {k_next, 2}};
    vm_json_span sp[2];
    int rc = vm_json_find(body, len, paths, 2, sp, err);
    if (rc != VM_OK) {
        char near[48];
        vm_qd_near_point(body, len, err->msg, near, sizeof near);
        if (near[0])
            return vm_err_prefix(err, "qdrant: scroll reply is not valid JSON (in or after point "
                                      "%s): ",
                                 near);
        return vm_err_prefix(err, "qdrant: scroll reply is not valid JSON: ");
    }
    if (sp[0].kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply has no result.points array");
    page->points = sp[0];
    if (sp[1].kind == VM_JSON_MISSING || sp[1].kind == VM_JSON_NULL)
        return VM_OK;
    if (vm_qd_id_parse_json(body + sp[1].off, sp[1].len, &page->next) != 0)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply: next_page_offset %.*s is not a point id",
                          VM_QD_TOK(sp[1], 60), body + sp[1].off);
    page->has_next = true;
    return VM_OK;
}

/* ------------------------------------------------------------ columns */

int vm_qd_plan_columns(const vm_qd_info *info, const char *id_field, const vm_batch *b,
                       vm_qd_rcol **out, size_t *n, vm_err *err)
{
    *out = NULL;
    *n = 0;
    vm_qd_rcol *rc = vm_calloc(b->ncols ? b->ncols : 1, sizeof *rc);
    if (!rc)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < b->ncols; i++) {
        const vm_column *c = &b->cols[i];
        vm_qd_rcol *r = &rc[i];
        r->bcol = (int)i;
        r->vec = -1;
        if (!strcmp(c->name, id_field)) {
            if (c->type != VM_T_VARCHAR && c->type != VM_T_INT64)
                goto cannot;
            r->src = VM_QD_COL_ID;
            continue;
        }
        if (!strcmp(c->name, VM_META_FIELD)) {
            if (c->type != VM_T_JSON)
                goto cannot;
            r->src = VM_QD_COL_META;
            continue;
        }
        for (size_t v = 0; v < info->nvecs; v++)
            if (info->vecs[v].field && !strcmp(info->vecs[v].field, c->name))
                r->vec = (int)v;
        if (r->vec < 0) {
            vm_free(rc);
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: field '%s' matches no vector of the collection", c->name);
        }
        const vm_qd_vec *v = &info->vecs[r->vec];
        if (c->type == VM_T_VARCHAR || c->type == VM_T_JSON)
            r->src = VM_QD_COL_TEXT;
        else if (v->kind == VM_QD_DENSE && c->type == VM_T_FLOAT_VECTOR && c->dim == v->dim)
            r->src = VM_QD_COL_DENSE;
        else if (v->kind == VM_QD_SPARSE && c->type == VM_T_SPARSE_FLOAT_VECTOR)
            r->src = VM_QD_COL_SPARSE;
        else
            goto cannot;
        continue;
    cannot:
        vm_free(rc);
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "qdrant: field '%s' cannot be read as Milvus %s%s", c->name,
                          vm_dtype_name(c->type),
                          c->type == VM_T_FLOAT_VECTOR ? " of that dimension" : "");
    }
    *out = rc;
    *n = b->ncols;
    return VM_OK;
}

/* ------------------------------------------------------------- points */

void vm_qd_scratch_release(vm_qd_scratch *s)
{
    vm_free(s->idx);
    vm_free(s->val);
    vm_free(s->paths);
    vm_free(s->keys);
    vm_free(s->spans);
    memset(s, 0, sizeof *s);
}

int vm_qd_point_id(const char *s, vm_json_span pt, vm_qd_id *id, vm_err *err)
{
    const char *k[] = {"id"};
    vm_json_path p = {k, 1};
    vm_json_span sp;
    if (pt.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply: a point is %s, not an object",
                          vm_json_kind_name(pt.kind));
    int rc = vm_json_find(s + pt.off, pt.len, &p, 1, &sp, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "qdrant: scroll reply: ");
    if (sp.kind == VM_JSON_MISSING)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "qdrant: scroll reply: a point has no id");
    if (vm_qd_id_parse_json(s + pt.off + sp.off, sp.len, id) != 0)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply: point id %.*s is neither an unsigned 64-bit "
                          "integer nor a UUID",
                          VM_QD_TOK(sp, 60), s + pt.off + sp.off);
    return VM_OK;
}

/* One float32 element from its JSON token: 0, -1 malformed, -2 not finite
 * (overflow: underflow to a subnormal or zero is a value). */
static int vm_qd_f32(const char *s, size_t n, float *out)
{
    switch (vm_f32_parse(s, n, out)) {
    case VM_F32_OK: return VM_OK;
    case VM_F32_RANGE: return -2;
    default: return -1;
    }
}

static int vm_qd_grow_scratch(vm_qd_scratch *scr, size_t need, vm_err *err)
{
    if (need <= scr->cap)
        return VM_OK;
    size_t c1 = scr->cap, c2 = scr->cap;
    if (vm_grow((void **)&scr->idx, &c1, need, sizeof *scr->idx) != 0 ||
        vm_grow((void **)&scr->val, &c2, need, sizeof *scr->val) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    scr->cap = c1 < c2 ? c1 : c2;
    return VM_OK;
}

static int vm_qd_dense(const char *s, vm_json_span sp, vm_batch *b, size_t col, size_t row,
                       const char *idt, const char *field, vm_err *err)
{
    const vm_column *c = &b->cols[col];
    if (sp.kind == VM_JSON_MISSING || sp.kind == VM_JSON_NULL)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: point %s has no vector for field '%s' (Milvus vector fields "
                          "cannot be empty; drop the field or the point)",
                          idt, field);
    if (sp.kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: point %s: vector for field '%s' is %s, not an array", idt,
                          field, vm_json_kind_name(sp.kind));
    float *out = vm_batch_vector(b, col, row);
    vm_json_iter it;
    vm_json_span e;
    int64_t k = 0;
    vm_json_iter_init(&it, s, sp);
    while (vm_json_iter_next(&it, &e)) {
        if (k >= c->dim) {
            k++;
            continue;
        }
        int r = e.kind == VM_JSON_NUMBER ? vm_qd_f32(s + e.off, e.len, &out[k]) : -1;
        if (r != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: point %s, field '%s', element %" PRId64 ": %s %.*s",
                              idt, field, k, r == -2 ? "not a finite float32:" : "not a number:",
                              VM_QD_TOK(e, 40), s + e.off);
        k++;
    }
    if (k != c->dim)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: point %s, field '%s': %" PRId64 " elements, the field has "
                          "dimension %" PRId64,
                          idt, field, k, c->dim);
    return VM_OK;
}

static int vm_qd_sparse(const char *s, vm_json_span sp, vm_batch *b, size_t col, size_t row,
                        vm_qd_scratch *scr, const char *idt, const char *field, vm_err *err)
{
    if (sp.kind == VM_JSON_MISSING || sp.kind == VM_JSON_NULL)
        return vm_batch_set_sparse(b, col, row, NULL, NULL, 0, err); /* no terms */
    if (sp.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: point %s: sparse vector for field '%s' is %s, not an object",
                          idt, field, vm_json_kind_name(sp.kind));
    const char *ki[] = {"indices"}, *kv[] = {"values"};
    vm_json_path p[2] = {{ki, 1}, {kv, 1}};
    vm_json_span f[2];
    int rc = vm_json_find(s + sp.off, sp.len, p, 2, f, err);
    if (rc != VM_OK)
        return rc;
    if (f[0].kind != VM_JSON_ARRAY || f[1].kind != VM_JSON_ARRAY)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: point %s: sparse vector for field '%s' lacks the indices and "
                          "values arrays",
                          idt, field);
    const char *base = s + sp.off;
    size_t n = 0, nv = 0;
    vm_json_iter it;
    vm_json_span e;
    vm_json_iter_init(&it, base, f[0]);
    while (vm_json_iter_next(&it, &e)) {
        uint64_t x;
        if ((rc = vm_qd_grow_scratch(scr, n + 1, err)) != VM_OK)
            return rc;
        if (e.kind != VM_JSON_NUMBER || vm_qd_u64_parse(base + e.off, e.len, &x) != 0 ||
            x > UINT32_MAX)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: point %s, field '%s': sparse index %.*s is not an "
                              "integer in [0, 2^32-1]",
                              idt, field, VM_QD_TOK(e, 40), base + e.off);
        scr->idx[n++] = (uint32_t)x;
    }
    vm_json_iter_init(&it, base, f[1]);
    while (vm_json_iter_next(&it, &e)) {
        if (nv >= n) {
            nv++;
            continue;
        }
        int r = e.kind == VM_JSON_NUMBER ? vm_qd_f32(base + e.off, e.len, &scr->val[nv]) : -1;
        if (r != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "qdrant: point %s, field '%s', sparse value %zu: %s %.*s", idt,
                              field, nv, r == -2 ? "not a finite float32:" : "not a number:",
                              VM_QD_TOK(e, 40), base + e.off);
        nv++;
    }
    if (nv != n)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: point %s, field '%s': %zu sparse indices but %zu values", idt,
                          field, n, nv);
    /* Qdrant keeps indices as given; Milvus wants them increasing */
    uint32_t dup;
    int src = vm_sparse_sort(scr->idx, scr->val, n, &dup);
    if (src == VM_ERR_NOMEM)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (src != VM_OK)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "qdrant: point %s, field '%s': sparse index %" PRIu32 " appears twice",
                          idt, field, dup);
    return vm_batch_set_sparse(b, col, row, scr->idx, scr->val, n, err);
}

int vm_qd_add_point(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc, const char *s,
                    vm_json_span pt, vm_batch *b, vm_qd_scratch *scr, vm_err *err)
{
    int r;
    if (pt.kind != VM_JSON_OBJECT)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply: a point is %s, not an object",
                          vm_json_kind_name(pt.kind));
    /* paths: id, payload, vector, vector."" and vector.<name> per vector column */
    size_t np = 4 + nrc;
    if (np > scr->pcap) {
        size_t c1 = scr->pcap, c2 = scr->pcap * 2, c3 = scr->pcap;
        if (vm_grow((void **)&scr->paths, &c1, np, sizeof *scr->paths) != 0 ||
            vm_grow((void **)&scr->keys, &c2, 2 * np, sizeof *scr->keys) != 0 ||
            vm_grow((void **)&scr->spans, &c3, np, sizeof *scr->spans) != 0)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        scr->pcap = np;
    }
    const char **k = scr->keys;
    k[0] = "id";
    k[2] = "payload";
    k[4] = "vector";
    k[6] = "vector";
    k[7] = "";
    scr->paths[0] = (vm_json_path){&k[0], 1};
    scr->paths[1] = (vm_json_path){&k[2], 1};
    scr->paths[2] = (vm_json_path){&k[4], 1};
    scr->paths[3] = (vm_json_path){&k[6], 2};
    for (size_t i = 0; i < nrc; i++) {
        k[8 + 2 * i] = "vector";
        k[9 + 2 * i] = rc[i].vec >= 0 ? info->vecs[rc[i].vec].qname : "";
        scr->paths[4 + i] = (vm_json_path){&k[8 + 2 * i], 2};
    }
    const char *ps = s + pt.off;
    vm_json_span *sp = scr->spans;
    if ((r = vm_json_find(ps, pt.len, scr->paths, np, sp, err)) != VM_OK)
        return vm_err_prefix(err, "qdrant: scroll reply: ");
    vm_qd_id id;
    char idt[VM_QD_ID_TEXT];
    if (sp[0].kind == VM_JSON_MISSING || vm_qd_id_parse_json(ps + sp[0].off, sp[0].len, &id))
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "qdrant: scroll reply: a point without a valid id (%.*s)",
                          sp[0].kind == VM_JSON_MISSING ? 4 : VM_QD_TOK(sp[0], 60),
                          sp[0].kind == VM_JSON_MISSING ? "none" : ps + sp[0].off);
    vm_qd_id_text(&id, idt);
    size_t row;
    if ((r = vm_batch_add_row(b, &row, err)) != VM_OK)
        return r;
    for (size_t i = 0; i < nrc; i++) {
        size_t col = (size_t)rc[i].bcol;
        const vm_column *c = &b->cols[col];
        vm_json_span v = sp[4 + i];
        switch (rc[i].src) {
        case VM_QD_COL_ID:
            if (c->type == VM_T_INT64) {
                if (id.uuid || id.num > (uint64_t)INT64_MAX) {
                    r = vm_err_set(err, VM_ERR_INVALID, false,
                                   "qdrant: point id %s does not fit Int64 field '%s'", idt,
                                   c->name);
                    break;
                }
                r = vm_batch_set_int(b, col, row, (int64_t)id.num, err);
            } else {
                r = vm_batch_set_str(b, col, row, idt, strlen(idt), err);
            }
            break;
        case VM_QD_COL_META:
            if (sp[1].kind == VM_JSON_MISSING || sp[1].kind == VM_JSON_NULL)
                r = vm_batch_set_null(b, col, row, err);
            else if (sp[1].kind != VM_JSON_OBJECT)
                r = vm_err_set(err, VM_ERR_PROTOCOL, false,
                               "qdrant: point %s: payload is %s, not an object", idt,
                               vm_json_kind_name(sp[1].kind));
            else
                r = vm_batch_set_str(b, col, row, ps + sp[1].off, sp[1].len, err);
            break;
        case VM_QD_COL_DENSE:
            if (info->unnamed)
                v = sp[2].kind == VM_JSON_OBJECT ? sp[3] : sp[2];
            r = vm_qd_dense(ps, v, b, col, row, idt, c->name, err);
            break;
        case VM_QD_COL_SPARSE:
            r = vm_qd_sparse(ps, v, b, col, row, scr, idt, c->name, err);
            break;
        case VM_QD_COL_TEXT:
            if (info->unnamed && rc[i].vec >= 0 && !info->vecs[rc[i].vec].qname[0])
                v = sp[2].kind == VM_JSON_OBJECT ? sp[3] : sp[2];
            if (v.kind == VM_JSON_MISSING || v.kind == VM_JSON_NULL)
                r = c->nullable ? vm_batch_set_null(b, col, row, err)
                                : vm_err_set(err, VM_ERR_INVALID, false,
                                             "qdrant: point %s has no value for field '%s'", idt,
                                             c->name);
            else
                r = vm_batch_set_str(b, col, row, ps + v.off, v.len, err);
            break;
        }
        if (r != VM_OK) {
            vm_batch_drop_last(b);
            return r;
        }
    }
    return VM_OK;
}

/* ------------------------------------------------ single-pass pages */

/* The bytes a JSON number is made of (after a ',' such a byte starts the
 * next element). vm_f32_parse checks an element token's grammar as it
 * reads it: finding the extent (vm_qd_tok_end), validating and parsing an
 * element is one walk over its bytes. */
static const unsigned char vm_qd_numch[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, ['.'] = 1, ['e'] = 1, ['E'] = 1, ['+'] = 1, ['-'] = 1,
};

/* Where the element token at p ends: the first ',', ']' or byte below
 * '!' (whitespace) from p, 8 bytes at a time (the lowest match of these
 * word tests is exact). In a valid reply that is the token's end; in any
 * other, vm_f32_parse refuses what it gets or the separator check does. */
static inline size_t vm_qd_tok_end(const char *s, size_t p, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (p + 8 <= n) {
        uint64_t w, x1, x2;
        memcpy(&w, s + p, 8);
        x1 = w ^ (ones * ',');
        x2 = w ^ (ones * ']');
        uint64_t z = (((x1 - ones) & ~x1) | ((x2 - ones) & ~x2) | ((w - ones * '!') & ~w)) & high;
        if (z) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + (size_t)(__builtin_ctzll(z) >> 3);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < n && s[p] != ',' && s[p] != ']' && (unsigned char)s[p] > ' ')
        p++;
    return p;
}

/* The array at c->pos into out[0, dim): false unless it is exactly dim
 * finite numbers (the checked path then names what is wrong). */
static bool vm_qd_fast_dense(vm_json_cur *c, float *out, int64_t dim)
{
    bool more;
    if (vm_json_cur_open(c, '[') != VM_OK || vm_json_cur_elem(c, true, &more) != VM_OK)
        return false;
    const char *s = c->s;
    size_t n = c->n;
    int64_t k = 0;
    while (more) {
        size_t p = c->pos, e = vm_qd_tok_end(s, p, n);
        if (k >= dim || e == p || vm_f32_parse(s + p, e - p, &out[k]) != VM_F32_OK)
            return false;
        k++;
        if (e + 1 < n && s[e] == ',' && vm_qd_numch[(unsigned char)s[e + 1]]) {
            c->pos = e + 1; /* "x,y": the common case */
            continue;
        }
        c->pos = e;
        if (vm_json_cur_elem(c, false, &more) != VM_OK)
            return false;
    }
    return k == dim;
}

/* The value at c->pos of a vector named by the key literal *key (NULL: the
 * value of "vector" itself, the unnamed vector's array): a dense column
 * that wants it is decoded straight into row `row`, any other column gets
 * its span in cs[]; a value that no column wants is skipped. */
static bool vm_qd_fast_vec(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc,
                           vm_json_cur *c, const vm_json_span *key, vm_json_span *cs,
                           vm_batch *b, size_t row)
{
    size_t dense = nrc, start = c->pos;
    bool any = false;
    for (size_t i = 0; i < nrc; i++) {
        if (rc[i].vec < 0)
            continue;
        const vm_qd_vec *v = &info->vecs[rc[i].vec];
        bool m = key ? vm_json_key_eq(c->s, *key, v->qname)
                     : info->unnamed && !v->qname[0] && rc[i].src != VM_QD_COL_SPARSE;
        if (!m)
            continue;
        if (cs[i].kind != VM_JSON_MISSING)
            return false; /* given twice */
        any = true;
        if (rc[i].src == VM_QD_COL_DENSE) {
            if (dense < nrc)
                return false;
            dense = i;
        }
    }
    vm_json_span sp;
    if (dense < nrc) {
        size_t col = (size_t)rc[dense].bcol;
        if (!vm_qd_fast_dense(c, vm_batch_vector(b, col, row), b->cols[col].dim))
            return false;
        sp = (vm_json_span){start, c->pos - start, VM_JSON_ARRAY};
    } else if (vm_json_cur_skip(c, &sp) != VM_OK) {
        return false;
    }
    if (any)
        for (size_t i = 0; i < nrc; i++)
            if (rc[i].vec >= 0 && (key ? vm_json_key_eq(c->s, *key, info->vecs[rc[i].vec].qname)
                                       : info->unnamed && !info->vecs[rc[i].vec].qname[0] &&
                                             rc[i].src != VM_QD_COL_SPARSE))
                cs[i] = sp;
    return true;
}

/* The row's other columns, once the point's members are read. */
static bool vm_qd_fast_fill(const vm_qd_rcol *rc, size_t nrc, const char *s,
                            const vm_qd_id *id, vm_json_span pay, const vm_json_span *cs,
                            vm_batch *b, size_t row, vm_qd_scratch *scr)
{
    vm_err e;
    char idt[VM_QD_ID_TEXT];
    vm_qd_id_text(id, idt);
    for (size_t i = 0; i < nrc; i++) {
        size_t col = (size_t)rc[i].bcol;
        const vm_column *c = &b->cols[col];
        vm_json_span v = cs[i];
        int r = VM_OK;
        switch (rc[i].src) {
        case VM_QD_COL_ID:
            if (c->type == VM_T_INT64) {
                if (id->uuid || id->num > (uint64_t)INT64_MAX)
                    return false;
                r = vm_batch_set_int(b, col, row, (int64_t)id->num, &e);
            } else {
                r = vm_batch_set_str(b, col, row, idt, strlen(idt), &e);
            }
            break;
        case VM_QD_COL_META:
            if (pay.kind == VM_JSON_MISSING || pay.kind == VM_JSON_NULL)
                r = vm_batch_set_null(b, col, row, &e);
            else if (pay.kind != VM_JSON_OBJECT)
                return false;
            else
                r = vm_batch_set_str(b, col, row, s + pay.off, pay.len, &e);
            break;
        case VM_QD_COL_DENSE:
            if (v.kind != VM_JSON_ARRAY)
                return false; /* not decoded: missing, or not an array */
            break;
        case VM_QD_COL_SPARSE:
            r = vm_qd_sparse(s, v, b, col, row, scr, idt, c->name, &e);
            break;
        case VM_QD_COL_TEXT:
            if (v.kind == VM_JSON_MISSING || v.kind == VM_JSON_NULL) {
                if (!c->nullable)
                    return false;
                r = vm_batch_set_null(b, col, row, &e);
            } else {
                r = vm_batch_set_str(b, col, row, s + v.off, v.len, &e);
            }
            break;
        }
        if (r != VM_OK)
            return false;
    }
    return true;
}

enum { VM_QD_FAST_BAIL = -1, VM_QD_FAST_SKIP, VM_QD_FAST_TAKEN, VM_QD_FAST_STOP };

/* One point of the points array at c->pos, with vm_qd_read's decisions:
 * before the range or the resume position (skip), at or past its end
 * (stop, t->finished), no room left (stop, t->cut), else a row. */
static int vm_qd_fast_point(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc,
                            vm_json_cur *c, vm_batch *b, vm_qd_scratch *scr, vm_qd_take *t)
{
    const char *s = c->s;
    vm_json_span key, idsp, pay = {0, 0, VM_JSON_MISSING};
    vm_json_span *cs = scr->spans;
    vm_qd_id id;
    bool more, have_id = false, have_vec = false, have_pay = false;
    int what = VM_QD_FAST_SKIP;
    size_t row = 0;
    if (vm_json_cur_open(c, '{') != VM_OK)
        return VM_QD_FAST_BAIL;
    for (bool first = true;; first = false) {
        if (vm_json_cur_member(c, first, &key, &more) != VM_OK)
            return VM_QD_FAST_BAIL;
        if (!more)
            break;
        if (vm_json_key_eq(s, key, "id")) {
            if (have_id || vm_json_cur_skip(c, &idsp) != VM_OK ||
                vm_qd_id_parse_json(s + idsp.off, idsp.len, &id) != 0)
                return VM_QD_FAST_BAIL;
            have_id = true;
            if ((t->have_pos && vm_qd_id_cmp(&id, &t->pos) <= 0) ||
                (!t->have_pos && t->has_lo && vm_qd_id_cmp(&id, &t->lo) < 0)) {
                what = VM_QD_FAST_SKIP;
            } else if (t->has_hi && vm_qd_id_cmp(&id, &t->hi) >= 0) {
                t->finished = true;
                what = VM_QD_FAST_STOP;
            } else if (t->added >= t->room) {
                t->cut = true;
                what = VM_QD_FAST_STOP;
            } else {
                vm_err e;
                if (vm_batch_add_row(b, &row, &e) != VM_OK)
                    return VM_QD_FAST_BAIL;
                for (size_t i = 0; i < nrc; i++)
                    cs[i] = (vm_json_span){0, 0, VM_JSON_MISSING};
                what = VM_QD_FAST_TAKEN;
            }
        } else if (vm_json_key_eq(s, key, "payload")) {
            if (have_pay || vm_json_cur_skip(c, &pay) != VM_OK)
                return VM_QD_FAST_BAIL;
            have_pay = true;
        } else if (vm_json_key_eq(s, key, "vector")) {
            if (have_vec || !have_id || c->pos >= c->n)
                return VM_QD_FAST_BAIL; /* the checked path takes any order */
            have_vec = true;
            if (what != VM_QD_FAST_TAKEN) {
                if (vm_json_cur_skip(c, NULL) != VM_OK)
                    return VM_QD_FAST_BAIL;
            } else if (s[c->pos] == '{') {
                vm_json_span vk;
                bool vm;
                if (vm_json_cur_open(c, '{') != VM_OK)
                    return VM_QD_FAST_BAIL;
                for (bool vf = true;; vf = false) {
                    if (vm_json_cur_member(c, vf, &vk, &vm) != VM_OK)
                        return VM_QD_FAST_BAIL;
                    if (!vm)
                        break;
                    if (!vm_qd_fast_vec(info, rc, nrc, c, &vk, cs, b, row))
                        return VM_QD_FAST_BAIL;
                }
            } else if (!vm_qd_fast_vec(info, rc, nrc, c, NULL, cs, b, row)) {
                return VM_QD_FAST_BAIL;
            }
        } else if (vm_json_cur_skip(c, NULL) != VM_OK) {
            return VM_QD_FAST_BAIL;
        }
    }
    if (!have_id)
        return VM_QD_FAST_BAIL;
    if (what == VM_QD_FAST_TAKEN) {
        if (!vm_qd_fast_fill(rc, nrc, s, &id, pay, cs, b, row, scr))
            return VM_QD_FAST_BAIL;
        t->pos = id;
        t->have_pos = true;
        t->added++;
    }
    return what;
}

bool vm_qd_fast_page(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc, const char *s,
                     size_t n, vm_batch *b, vm_qd_scratch *scr, vm_qd_take *t)
{
    size_t n0 = b->nrows;
    vm_err e;
    vm_json_cur c = {.s = s, .n = n, .err = &e};
    vm_json_span key, nx = {0, 0, VM_JSON_MISSING};
    bool more, have_result = false, have_points = false, have_nx = false, stop = false;
    t->added = t->seen = 0;
    t->finished = t->cut = t->has_next = false;
    if (nrc > scr->pcap) {
        size_t c1 = scr->pcap, c2 = scr->pcap * 2, c3 = scr->pcap;
        if (vm_grow((void **)&scr->paths, &c1, nrc, sizeof *scr->paths) != 0 ||
            vm_grow((void **)&scr->keys, &c2, 2 * nrc, sizeof *scr->keys) != 0 ||
            vm_grow((void **)&scr->spans, &c3, nrc, sizeof *scr->spans) != 0)
            return false;
        scr->pcap = nrc;
    }
    vm_json_cur_ws(&c);
    if (vm_json_cur_open(&c, '{') != VM_OK)
        goto bail;
    for (bool first = true;; first = false) {
        if (vm_json_cur_member(&c, first, &key, &more) != VM_OK)
            goto bail;
        if (!more)
            break;
        if (!vm_json_key_eq(s, key, "result")) {
            if (vm_json_cur_skip(&c, NULL) != VM_OK)
                goto bail;
            continue;
        }
        if (have_result || vm_json_cur_open(&c, '{') != VM_OK)
            goto bail;
        have_result = true;
        for (bool f2 = true;; f2 = false) {
            if (vm_json_cur_member(&c, f2, &key, &more) != VM_OK)
                goto bail;
            if (!more)
                break;
            if (vm_json_key_eq(s, key, "points")) {
                if (have_points || vm_json_cur_open(&c, '[') != VM_OK)
                    goto bail;
                have_points = true;
                for (bool f3 = true;; f3 = false) {
                    if (vm_json_cur_elem(&c, f3, &more) != VM_OK)
                        goto bail;
                    if (!more)
                        break;
                    if (stop) { /* the rest is validated, not read */
                        if (vm_json_cur_skip(&c, NULL) != VM_OK)
                            goto bail;
                        continue;
                    }
                    t->seen++;
                    int r = vm_qd_fast_point(info, rc, nrc, &c, b, scr, t);
                    if (r == VM_QD_FAST_BAIL)
                        goto bail;
                    stop = r == VM_QD_FAST_STOP;
                }
            } else if (vm_json_key_eq(s, key, "next_page_offset")) {
                if (have_nx || vm_json_cur_skip(&c, &nx) != VM_OK)
                    goto bail;
                have_nx = true;
            } else if (vm_json_cur_skip(&c, NULL) != VM_OK) {
                goto bail;
            }
        }
    }
    vm_json_cur_ws(&c);
    if (c.pos != n || !have_points)
        goto bail;
    if (nx.kind != VM_JSON_MISSING && nx.kind != VM_JSON_NULL) {
        if (vm_qd_id_parse_json(s + nx.off, nx.len, &t->next) != 0)
            goto bail;
        t->has_next = true;
    }
    return true;
bail:
    while (b->nrows > n0)
        vm_batch_drop_last(b);
    return false;
}

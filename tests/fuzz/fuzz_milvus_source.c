/*
 * fuzz_milvus_source.c - libFuzzer target for the Milvus source's response
 * reader (common/sources/milvus/mvs_parse.c): the rows of an entities/query
 * answer read as milvus_src.c reads them (primary keys, then every field's
 * wire value into a batch column of each Milvus type: numbers, strings,
 * JSON as text or string, 2.6 Array wrappers, float vectors, base64
 * half/bfloat/binary/int8 vectors, sparse {"idx":val}, dynamic keys as
 * "$meta"), the key cursor, and a describe's default-value wrappers.
 *
 * Input: the query answer [0xFF cursor text]. Collection: pk Int64, b Bool,
 * i8 Int8, i16 Int16, i32 Int32, f Float?, d Double?, s VarChar(64)?,
 * j JSON?, a Array<Int64>[8]?, fv FloatVector(4), i8v Int8Vector(4),
 * f16 Float16Vector(4), bf16 BFloat16Vector(4), bin BinaryVector(16),
 * sp SparseFloatVector, dynamic field on. Each row's "s" is also read as a
 * VarChar key.
 *
 * Invariants:
 *   - a row becomes exactly one batch row or none;
 *   - Float values equal vm_json_number_f32 of their token, vectors are
 *     finite and equal to it element by element, sparse indices increase;
 *   - a base64 vector re-encodes to its own text (padding aside);
 *   - JSON and Array columns hold valid JSON (an array for Array); VarChar
 *     valid UTF-8; "$meta" is null or an object without the schema's fields;
 *   - a cursor that decodes encodes to text that decodes to the same
 *     position; a default-value wrapper unwraps to one of its values.
 */
#include <math.h>

#include "fuzz_util.h"
#include "milvus_src.h"
#include "vm_batch.h"
#include "vm_mem.h"
#include "vm_transform.h"

static vm_schema *fz_sch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    fz_sch = vm_schema_new("c");
    vm_field fs[] = {
        {.name = "pk", .type = VM_T_INT64, .primary = true},
        {.name = "b", .type = VM_T_BOOL},
        {.name = "i8", .type = VM_T_INT8},
        {.name = "i16", .type = VM_T_INT16},
        {.name = "i32", .type = VM_T_INT32},
        {.name = "f", .type = VM_T_FLOAT, .nullable = true},
        {.name = "d", .type = VM_T_DOUBLE, .nullable = true},
        {.name = "s", .type = VM_T_VARCHAR, .max_length = 64, .nullable = true},
        {.name = "j", .type = VM_T_JSON, .nullable = true},
        {.name = "a", .type = VM_T_ARRAY, .element_type = VM_T_INT64, .max_capacity = 8,
         .nullable = true},
        {.name = "fv", .type = VM_T_FLOAT_VECTOR, .dim = 4},
        {.name = "i8v", .type = VM_T_INT8_VECTOR, .dim = 4},
        {.name = "f16", .type = VM_T_FLOAT16_VECTOR, .dim = 4},
        {.name = "bf16", .type = VM_T_BFLOAT16_VECTOR, .dim = 4},
        {.name = "bin", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = VM_META_FIELD, .type = VM_T_JSON, .nullable = true},
    };
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
        if (vm_schema_add(fz_sch, &fs[i], NULL) != VM_OK)
            abort();
    return 0;
}

/* Strip trailing '=' for a padding-blind comparison. */
static size_t fz_unpad(const char *s, size_t n)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    return n;
}

/* Check row `row` of b against the wire values sp[] of text s. */
static void fz_check_row(const vm_batch *b, size_t row, const char *s, const vm_json_span *sp,
                         size_t nf)
{
    vm_err e;
    for (size_t c = 0; c < b->ncols; c++) {
        const vm_column *col = &b->cols[c];
        vm_json_span v = c < nf ? sp[c] : (vm_json_span){0};
        if (col->nullable && vm_batch_is_null(b, c, row))
            continue;
        switch (col->type) {
        case VM_T_FLOAT: {
            float f;
            FZ_CHECK(vm_json_number_f32(s + v.off, v.len, &f) == VM_JSON_NUM_OK &&
                         (double)f == vm_batch_get_double(b, c, row),
                     "Float differs from vm_json_number_f32");
            break;
        }
        case VM_T_DOUBLE: FZ_CHECK(isfinite(vm_batch_get_double(b, c, row)), "Double"); break;
        case VM_T_VARCHAR:
        case VM_T_JSON:
        case VM_T_ARRAY: {
            size_t len;
            const char *t = vm_batch_get_str(b, c, row, &len);
            if (col->type == VM_T_VARCHAR) {
                FZ_CHECK(fz_utf8(t, len), "VarChar '%s' is not UTF-8", col->name);
                break;
            }
            vm_json_span top;
            FZ_CHECK(vm_json_check(t, len, &top, &e) == VM_OK, "'%s' is not JSON: %s", col->name,
                     e.msg);
            if (col->type == VM_T_ARRAY)
                FZ_CHECK(top.kind == VM_JSON_ARRAY, "Array value is %s",
                         vm_json_kind_name(top.kind));
            if (!strcmp(col->name, VM_META_FIELD)) {
                FZ_CHECK(top.kind == VM_JSON_OBJECT, "$meta is not an object");
                for (size_t f = 0; f + 1 < fz_sch->nfields; f++) { /* not "$meta" */
                    const char *k[] = {fz_sch->fields[f].name};
                    vm_json_path p = {k, 1};
                    vm_json_span fs;
                    FZ_CHECK(vm_json_find(t, len, &p, 1, &fs, &e) == VM_OK &&
                                 fs.kind == VM_JSON_MISSING,
                             "$meta holds schema field '%s'", k[0]);
                }
            }
            break;
        }
        case VM_T_FLOAT_VECTOR: {
            const float *out = vm_batch_get_vector(b, c, row);
            vm_json_iter it;
            vm_json_span el;
            int64_t i = 0;
            vm_json_iter_init(&it, s, v);
            while (vm_json_iter_next(&it, &el)) {
                float f;
                FZ_CHECK(i < 4 &&
                             vm_json_number_f32(s + el.off, el.len, &f) == VM_JSON_NUM_OK &&
                             memcmp(&f, &out[i], sizeof f) == 0 && isfinite(f),
                         "FloatVector element %lld", (long long)i);
                i++;
            }
            FZ_CHECK(i == 4, "FloatVector of %lld", (long long)i);
            break;
        }
        case VM_T_FLOAT16_VECTOR:
        case VM_T_BFLOAT16_VECTOR:
        case VM_T_BINARY_VECTOR:
        case VM_T_INT8_VECTOR: {
            if (v.kind != VM_JSON_STRING)
                break; /* an Int8Vector as a JSON array */
            vm_buf u, enc;
            vm_buf_init(&u);
            vm_buf_init(&enc);
            FZ_CHECK(vm_json_unescape(s + v.off, v.len, &u, &e) == VM_OK, "base64 text");
            size_t want = vm_dtype_vector_bytes(col->type, col->dim);
            vm_buf_base64(&enc, vm_batch_get_vector(b, c, row), want);
            size_t a = fz_unpad(u.data ? u.data : "", u.len), z = fz_unpad(enc.data, enc.len);
            FZ_CHECK(a == z && memcmp(u.data ? u.data : "", enc.data, a) == 0,
                     "'%s': base64 '%s' decodes to bytes that encode as '%s'", col->name,
                     vm_buf_cstr(&u), vm_buf_cstr(&enc));
            vm_buf_release(&u);
            vm_buf_release(&enc);
            break;
        }
        case VM_T_SPARSE_FLOAT_VECTOR: {
            const uint32_t *idx;
            const float *val;
            size_t nnz = vm_batch_get_sparse(b, c, row, &idx, &val);
            for (size_t i = 0; i < nnz; i++)
                FZ_CHECK((i == 0 || idx[i - 1] < idx[i]) && isfinite(val[i]), "sparse %zu", i);
            break;
        }
        default: break;
        }
    }
}

/* One row object (span row of text s) into b, as vm_mvs_add_row does. */
static void fz_add_row(vm_batch *b, const char *s0, vm_json_span row, vm_mvs_scratch *scr,
                       vm_buf *meta)
{
    vm_err e;
    const char *s = s0 + row.off;
    size_t nf = fz_sch->nfields - 1; /* the fields but "$meta" */
    const char *names[32];
    vm_json_path paths[32];
    vm_json_span sp[32];
    for (size_t i = 0; i < nf; i++) {
        names[i] = fz_sch->fields[i].name;
        paths[i] = (vm_json_path){&names[i], 1};
    }
    int rc = vm_json_find(s, row.len, paths, nf, sp, &e);
    FZ_CHECK(rc == VM_OK, "a validated row does not scan: %s", e.msg);
    size_t r;
    if (b->nrows >= 64)
        vm_batch_clear(b);
    size_t before = b->nrows;
    FZ_CHECK(vm_batch_add_row(b, &r, &e) == VM_OK, "add_row");
    for (size_t c = 0; c < b->ncols && rc == VM_OK; c++) {
        if (!strcmp(b->cols[c].name, VM_META_FIELD)) {
            vm_buf_clear(meta);
            size_t removed = 0;
            rc = vm_json_remove(s, row.len, paths, nf, meta, &removed, &e);
            if (rc == VM_OK)
                rc = meta->len == 2 ? vm_batch_set_null(b, c, r, &e)
                                    : vm_batch_set_str(b, c, r, meta->data, meta->len, &e);
            continue;
        }
        rc = vm_mvs_set_value(b, c, r, s, sp[c], scr, "7", &e);
    }
    fz_err(rc, &e);
    if (rc != VM_OK)
        vm_batch_drop_last(b);
    FZ_CHECK(b->nrows == before + (rc == VM_OK ? 1 : 0), "rows %zu -> %zu", before, b->nrows);
    if (rc == VM_OK)
        fz_check_row(b, r, s, sp, nf);
}

static void fz_cursor(const char *text, bool str)
{
    vm_mvs_pos p = {0}, q = {0};
    vm_err e;
    int rc = vm_mvs_cursor_decode(text, str, &p, &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        char *enc = vm_mvs_cursor_encode(&p, str);
        FZ_CHECK(enc && vm_mvs_cursor_decode(enc, str, &q, &e) == VM_OK, "cursor round trip");
        FZ_CHECK(p.set == q.set && p.excl == q.excl &&
                     (str ? (!p.set || !strcmp(p.s, q.s)) : p.i == q.i),
                 "cursor '%s' reads back different", enc);
        vm_free(enc);
        vm_buf f;
        vm_buf_init(&f);
        FZ_CHECK(vm_mvs_filter(&f, "pk", str, &p, &q) == 0, "filter");
        vm_buf_release(&f);
    }
    vm_mvs_pos_release(&p);
    vm_mvs_pos_release(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[2];
    size_t np = fz_split(data, size, parts, 2);
    char *text = fz_cstr(parts[0].p, parts[0].n);
    size_t n = parts[0].n;
    vm_err e;
    static const char *const dk[] = {"data"};
    vm_json_path dp = {dk, 1};
    vm_json_span dspan;
    int rc = vm_json_find(text, n, &dp, 1, &dspan, &e);
    if (rc == VM_OK && dspan.kind == VM_JSON_ARRAY) {
        vm_batch *b = NULL;
        FZ_CHECK(vm_batch_new(fz_sch, 4, &b, &e) == VM_OK, "batch");
        vm_mvs_scratch scr = {0};
        vm_buf arena, meta;
        vm_buf_init(&arena);
        vm_buf_init(&meta);
        vm_json_iter it;
        vm_json_span row;
        vm_json_iter_init(&it, text, dspan);
        while (vm_json_iter_next(&it, &row)) {
            if (row.kind != VM_JSON_OBJECT)
                continue;
            const char *kp[] = {"pk"}, *ks[] = {"s"};
            vm_json_path pp[2] = {{kp, 1}, {ks, 1}};
            vm_json_span kv[2];
            FZ_CHECK(vm_json_find(text + row.off, row.len, pp, 2, kv, &e) == VM_OK, "row");
            vm_mvs_key k1 = {0}, k2 = {0};
            kv[0].off += row.off;
            kv[1].off += row.off;
            rc = vm_mvs_key_parse(text, kv[0], false, &arena, &k1, &e);
            fz_err(rc, &e);
            vm_buf_clear(&arena);
            rc = vm_mvs_key_parse(text, kv[1], true, &arena, &k2, &e);
            fz_err(rc, &e);
            if (rc == VM_OK) {
                FZ_CHECK(k2.off + k2.n < arena.len && arena.data[k2.off + k2.n] == '\0',
                         "VarChar key not terminated in the arena");
                k2.s = arena.data + k2.off;
                FZ_CHECK(vm_mvs_key_cmp(&k2, &k2, true) == 0, "key differs from itself");
            }
            fz_add_row(b, text, row, &scr, &meta);
        }
        vm_buf_release(&arena);
        vm_buf_release(&meta);
        vm_mvs_scratch_release(&scr);
        vm_batch_free(b);
    }

    char *cur = fz_cstr(np > 1 ? parts[1].p : parts[0].p, np > 1 ? parts[1].n : parts[0].n);
    fz_cursor(cur, false);
    fz_cursor(cur, true);
    free(cur);

    /* a describe's defaultValue: the whole input as one */
    json_error_t je;
    json_t *dv = json_loadb(text, n, 0, &je);
    if (dv) {
        json_t *u = vm_mvs_default_unwrap(dv);
        if (u && json_is_object(dv) && json_object_get(dv, "Data")) {
            json_t *d = json_object_get(dv, "Data");
            const char *key;
            json_t *val;
            bool one = false;
            json_object_foreach(d, key, val) one |= val == u;
            FZ_CHECK(one, "unwrapped default is not a value of its wrapper");
        }
        json_decref(u);
        json_decref(dv);
    }
    free(text);
    return 0;
}

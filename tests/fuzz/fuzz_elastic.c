/*
 * fuzz_elastic.c - libFuzzer target for the elasticsearch/opensearch
 * source's readers (common/sources/elasticsearch/es_parse.c): a search or
 * scroll answer (hits, _source, sort values, pit_id, _scroll_id, failed
 * shards), every _source value into a batch column of each type the
 * mapping produces, the sample statistics, a _mapping answer into a schema
 * (both flavors), an error answer, and the slice cursor.
 *
 * Input: search answer [0xFF _mapping answer [0xFF error answer [0xFF
 * cursor text]]].
 *
 * Invariants:
 *   - every error is one clean line (fz_err);
 *   - each hit's _id is a string span; a _source value sets at most one
 *     batch row; Float values and vector elements equal
 *     vm_json_number_f32 of their token and are finite; VarChar values are
 *     valid UTF-8; JSON and Array columns hold valid JSON (Array: an array);
 *   - a schema built from a mapping validates once named validly, has one
 *     VarChar(512) primary key and an encoding per field;
 *   - a cursor that decodes re-encodes to text that decodes to the same
 *     position.
 */
#include <math.h>

#include "elastic.h"
#include "fuzz_util.h"
#include "vm_batch.h"
#include "vm_json_scan.h"
#include "vm_mem.h"

static vm_schema *fz_sch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_quiet();
    fz_sch = vm_schema_new("c");
    vm_field fs[] = {
        {.name = "id", .type = VM_T_VARCHAR, .max_length = 512, .primary = true},
        {.name = "b", .type = VM_T_BOOL, .nullable = true},
        {.name = "i8", .type = VM_T_INT8, .nullable = true},
        {.name = "l", .type = VM_T_INT64, .nullable = true},
        {.name = "f", .type = VM_T_FLOAT, .nullable = true},
        {.name = "d", .type = VM_T_DOUBLE, .nullable = true},
        {.name = "s", .type = VM_T_VARCHAR, .max_length = 65535, .nullable = true},
        {.name = "j", .type = VM_T_JSON, .nullable = true},
        {.name = "a", .type = VM_T_ARRAY, .element_type = VM_T_VARCHAR, .max_length = 64,
         .max_capacity = 64, .nullable = true},
        {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 4},
        {.name = "bits", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "bf", .type = VM_T_BFLOAT16_VECTOR, .dim = 2},
    };
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
        if (vm_schema_add(fz_sch, &fs[i], NULL) != VM_OK)
            abort();
    return 0;
}

static void fz_check_cell(const vm_batch *b, size_t c, size_t row, const char *s, vm_json_span v)
{
    const vm_column *col = &b->cols[c];
    if (vm_batch_is_null(b, c, row))
        return;
    size_t n;
    const char *t;
    vm_err e;
    switch (col->type) {
    case VM_T_FLOAT: {
        float f = (float)vm_batch_get_double(b, c, row);
        FZ_CHECK(isfinite(f), "non-finite Float");
        if (v.kind == VM_JSON_NUMBER) {
            float want;
            FZ_CHECK(vm_json_number_f32(s + v.off, v.len, &want) == VM_JSON_NUM_OK && want == f,
                     "Float differs from strtof of its token");
        }
        break;
    }
    case VM_T_VARCHAR:
        t = vm_batch_get_str(b, c, row, &n);
        FZ_CHECK(fz_utf8(t, n), "VarChar is not UTF-8");
        break;
    case VM_T_JSON:
    case VM_T_ARRAY: {
        t = vm_batch_get_str(b, c, row, &n);
        vm_json_span js;
        FZ_CHECK(vm_json_check(t, n, &js, &e) == VM_OK, "column %s is not JSON", col->name);
        FZ_CHECK(col->type != VM_T_ARRAY || js.kind == VM_JSON_ARRAY, "Array is not an array");
        break;
    }
    case VM_T_FLOAT_VECTOR: {
        const float *vec = vm_batch_get_vector(b, c, row);
        vm_json_iter it;
        vm_json_span el;
        int64_t i = 0;
        vm_json_iter_init(&it, s, v);
        while (vm_json_iter_next(&it, &el) && i < col->dim) {
            float want;
            FZ_CHECK(vm_json_number_f32(s + el.off, el.len, &want) == VM_JSON_NUM_OK &&
                         want == vec[i] && isfinite(vec[i]),
                     "vector element %lld differs", (long long)i);
            i++;
        }
        break;
    }
    default:
        break;
    }
}

static void fz_values(const char *text, size_t len)
{
    vm_es_page page = {0};
    vm_err e;
    int rc = vm_es_parse_page(text, len, &page, &e);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        vm_es_page_release(&page);
        return;
    }
    vm_batch *b = NULL;
    if (vm_batch_new(fz_sch, 4, &b, &e) != VM_OK)
        abort();
    vm_es_scratch scr = {0};
    static const char *const names[] = {"b", "i8", "l", "f", "d", "s", "j", "a", "v", "bits",
                                        "bf"};
    enum { NN = sizeof names / sizeof names[0] };
    for (size_t h = 0; h < page.n && h < 64; h++) {
        FZ_CHECK(page.hits[h].id.kind == VM_JSON_STRING, "hit without an _id string");
        vm_json_span src = page.hits[h].source;
        if (src.kind != VM_JSON_OBJECT)
            continue;
        const char *ks[NN][1];
        vm_json_path paths[NN];
        vm_json_span sp[NN];
        for (size_t i = 0; i < NN; i++) {
            ks[i][0] = names[i];
            paths[i] = (vm_json_path){ks[i], 1};
        }
        rc = vm_json_find(text + src.off, src.len, paths, NN, sp, &e);
        FZ_CHECK(rc == VM_OK, "a validated _source did not scan: %s", e.msg);
        vm_batch_clear(b);
        size_t row;
        if (vm_batch_add_row(b, &row, &e) != VM_OK)
            abort();
        for (size_t i = 0; i < NN; i++) {
            int c = vm_batch_col(b, names[i]);
            FZ_CHECK(c >= 0, "no column %s", names[i]);
            vm_json_span v = sp[i];
            if (v.kind != VM_JSON_MISSING)
                v.off += src.off;
            vm_es_enc enc = b->cols[c].type == VM_T_BINARY_VECTOR ? VM_ES_ENC_BITS
                            : vm_dtype_is_vector(b->cols[c].type) ? VM_ES_ENC_VECTOR
                                                                  : VM_ES_ENC_VALUE;
            rc = vm_es_set_value(b, (size_t)c, row, text, v, enc, &scr, "elasticsearch", "d",
                                 &e);
            fz_err(rc, &e);
            if (rc == VM_OK)
                fz_check_cell(b, (size_t)c, row, text, v);
        }
    }
    vm_es_sample smp = {0};
    fz_err(vm_es_sample_add(&smp, text, len, &e), &e);
    vm_es_sample_release(&smp);
    vm_buf_release(&scr.text);
    vm_batch_free(b);
    vm_es_page_release(&page);
}

static void fz_mapping(const char *text, size_t len)
{
    json_t *m = json_loadb(text, len, 0, NULL);
    if (!m)
        return;
    const vm_es_flavor *fl[] = {&vm_es_elasticsearch, &vm_es_opensearch};
    for (size_t k = 0; k < 2; k++) {
        vm_schema *s = NULL;
        vm_es_enc *enc = NULL;
        vm_err e;
        int rc = vm_es_build_schema(fl[k], m, NULL, "ix", &s, &enc, &e);
        fz_err(rc, &e);
        if (rc == VM_OK) {
            const vm_field *pk = vm_schema_primary(s);
            FZ_CHECK(pk && pk->type == VM_T_VARCHAR && pk->max_length == VM_ES_MAX_ID,
                     "primary key is not VarChar(512)");
            FZ_CHECK(enc != NULL, "no encodings");
        }
        vm_schema_free(s);
        vm_free(enc);
    }
    json_decref(m);
}

static void fz_cursor(const char *text)
{
    vm_es_pos p;
    vm_err e;
    int rc = vm_es_cursor_decode(text, &p, &e);
    fz_err(rc, &e);
    if (rc != VM_OK)
        return;
    char *t = vm_es_cursor_encode(&p);
    FZ_CHECK(t != NULL, "encode failed");
    vm_es_pos q;
    rc = vm_es_cursor_decode(t, &q, &e);
    FZ_CHECK(rc == VM_OK, "re-encoded cursor '%s' does not decode: %s", t, e.msg);
    FZ_CHECK(q.n == p.n, "n differs");
    FZ_CHECK((q.last == NULL) == (p.last == NULL) && (!q.last || !strcmp(q.last, p.last)),
             "last differs");
    FZ_CHECK((q.pit == NULL) == (p.pit == NULL) && (!q.pit || !strcmp(q.pit, p.pit)),
             "pit differs");
    FZ_CHECK((q.after == NULL) == (p.after == NULL) && (!q.after || !strcmp(q.after, p.after)),
             "after differs");
    vm_es_pos_release(&q);
    vm_es_pos_release(&p);
    vm_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[4];
    size_t np = fz_split(data, size, parts, 4);
    char *answer = fz_cstr(parts[0].p, parts[0].n);
    fz_values(answer, parts[0].n);
    free(answer);
    if (np > 1)
        fz_mapping(parts[1].p, parts[1].n);
    if (np > 2) {
        char msg[128];
        bool missing;
        vm_es_error_text(parts[2].p, parts[2].n, msg, sizeof msg, &missing);
        FZ_CHECK(strlen(msg) < sizeof msg, "error text overflow");
    }
    if (np > 3) {
        char *c = fz_cstr(parts[3].p, parts[3].n);
        fz_cursor(c);
        free(c);
    }
    return 0;
}

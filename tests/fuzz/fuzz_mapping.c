/*
 * fuzz_mapping.c - libFuzzer target for mapping resolution
 * (common/vm_mapping.c): a mapping file (YAML) resolved against a fixed
 * source schema and a sample of rows whose JSON metadata also comes from
 * the input, then the program run on that sample (common/vm_transform.c).
 *
 * Input: mapping YAML [0xFF "meta" JSON values, one per line [0xFF
 * "$meta" (payload) JSON objects, one per line]]; without them a fixed
 * sample. Source schema (as tests/unit/test_mapping.c): id Int64 primary,
 * title VarChar(200)?, score Double, n Int32, emb FloatVector(4) IP,
 * meta JSON?, my-tag VarChar(64)?, uid VarChar(36), dynamic "payload".
 *
 * Invariants for a mapping that resolves:
 *   - the target schema passes vm_schema_validate;
 *   - vm_transform_new accepts the program (against the read schema it
 *     implies) and running it on the sample either fails with a one-line
 *     error or gives as many rows, JSON columns valid JSON, VarChar values
 *     valid UTF-8 within max_length;
 *   - `--write-mapping` round trip: the mapping written as YAML reads back
 *     and resolves to the same target schema, program and params.
 * A mapping that fails leaves the result zeroed.
 */
#include "fuzz_util.h"
#include "vm_batch.h"
#include "vm_json_scan.h"
#include "vm_mapping.h"
#include "vm_mem.h"
#include "vm_schema.h"
#include "vm_transform.h"
#include "vm_yaml.h"

#define FZ_ROWS 6

static vm_schema *fz_src;

static const char *fz_metas[] = {
    "{\"author\":{\"name\":\"Ann\",\"age\":31},\"tags\":[\"a\",\"bb\"],\"lang\":\"en\"}",
    "{\"author\":{\"name\":\"Bartholomew\",\"age\":40},\"tags\":[],\"lang\":\"de\"}",
    "{\"author\":{\"name\":\"C\"},\"tags\":[\"ccc\"],\"x\":1.5}",
};
static const char *fz_payloads[] = {"{\"color\":\"blue\"}", "{\"color\":\"red\",\"k\":3}"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    fz_src = vm_schema_new("docs-v1.2");
    vm_field f[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "title", .type = VM_T_VARCHAR, .max_length = 200, .nullable = true},
        {.name = "score", .type = VM_T_DOUBLE},
        {.name = "n", .type = VM_T_INT32},
        {.name = "emb", .type = VM_T_FLOAT_VECTOR, .dim = 4, .metric = "IP"},
        {.name = "meta", .type = VM_T_JSON, .nullable = true},
        {.name = "my-tag", .type = VM_T_VARCHAR, .max_length = 64, .nullable = true},
        {.name = "uid", .type = VM_T_VARCHAR, .max_length = 36},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (vm_schema_add(fz_src, &f[i], NULL) != VM_OK)
            abort();
    fz_src->enable_dynamic = true;
    fz_src->dynamic_alias = vm_strdup("payload");
    return 0;
}

/* Lines of a part that are valid JSON (what a source would hand over). */
static size_t fz_lines(const fz_part *p, bool objects, const char **out, size_t *lens,
                       size_t max)
{
    size_t k = 0, i = 0;
    while (p && i < p->n && k < max) {
        size_t e = i;
        while (e < p->n && p->p[e] != '\n')
            e++;
        vm_json_span sp;
        vm_err er;
        if (vm_json_check(p->p + i, e - i, &sp, &er) == VM_OK &&
            (!objects || sp.kind == VM_JSON_OBJECT)) {
            out[k] = p->p + i;
            lens[k++] = e - i;
        }
        i = e + 1;
    }
    return k;
}

/* A sample batch in schema s (the full read schema, or the program's). */
static vm_batch *fz_sample(const vm_schema *s, const fz_part *pm, const fz_part *pp)
{
    const char *metas[FZ_ROWS], *pays[FZ_ROWS];
    size_t ml[FZ_ROWS], pl[FZ_ROWS];
    size_t nm = fz_lines(pm, false, metas, ml, FZ_ROWS);
    size_t np = fz_lines(pp, true, pays, pl, FZ_ROWS);
    if (!pm) {
        for (nm = 0; nm < 3; nm++) {
            metas[nm] = fz_metas[nm];
            ml[nm] = strlen(fz_metas[nm]);
        }
    }
    if (!pp) {
        for (np = 0; np < 2; np++) {
            pays[np] = fz_payloads[np];
            pl[np] = strlen(fz_payloads[np]);
        }
    }
    vm_batch *b;
    vm_err e;
    if (vm_batch_new(s, FZ_ROWS, &b, &e) != VM_OK)
        abort();
    int c_id = vm_batch_col(b, "id"), c_title = vm_batch_col(b, "title"),
        c_score = vm_batch_col(b, "score"), c_n = vm_batch_col(b, "n"),
        c_emb = vm_batch_col(b, "emb"), c_meta = vm_batch_col(b, "meta"),
        c_tag = vm_batch_col(b, "my-tag"), c_uid = vm_batch_col(b, "uid"),
        c_dyn = vm_batch_col(b, VM_META_FIELD);
    for (size_t r = 0; r < 4; r++) {
        size_t row;
        if (vm_batch_add_row(b, &row, &e) != VM_OK)
            abort();
        if (c_id >= 0)
            vm_batch_set_int(b, (size_t)c_id, row, (int64_t)r * 7 - 3, &e);
        if (c_title >= 0 && r != 3)
            vm_batch_set_str(b, (size_t)c_title, row, "title \xc3\xa9", r == 1 ? 8 : 5, &e);
        if (c_score >= 0)
            vm_batch_set_double(b, (size_t)c_score, row, r == 2 ? 1e300 : 0.1 * (double)r, &e);
        if (c_n >= 0)
            vm_batch_set_int(b, (size_t)c_n, row, r == 1 ? -2147483647 - 1 : 7, &e);
        if (c_emb >= 0) {
            float *v = vm_batch_vector(b, (size_t)c_emb, row);
            for (int i = 0; i < 4; i++)
                v[i] = (float)(i + 1) * 0.25f;
        }
        if (c_meta >= 0 && r < nm)
            vm_batch_set_str(b, (size_t)c_meta, row, metas[r], ml[r], &e);
        if (c_tag >= 0 && r % 2)
            vm_batch_set_str(b, (size_t)c_tag, row, "tag-a", 5, &e);
        if (c_uid >= 0)
            vm_batch_set_str(b, (size_t)c_uid, row, r % 2 ? "u-1" : "u-2", 3, &e);
        if (c_dyn >= 0 && np > 0)
            vm_batch_set_str(b, (size_t)c_dyn, row, pays[r % np], pl[r % np], &e);
    }
    return b;
}

static void fz_check_output(const vm_batch *o, size_t rows)
{
    FZ_CHECK(o->nrows == rows, "transform gave %zu rows of %zu", o->nrows, rows);
    for (size_t c = 0; c < o->ncols; c++) {
        const vm_column *col = &o->cols[c];
        if (col->type != VM_T_JSON && col->type != VM_T_VARCHAR && col->type != VM_T_ARRAY)
            continue;
        for (size_t r = 0; r < o->nrows; r++) {
            if (vm_batch_is_null(o, c, r))
                continue;
            size_t len;
            const char *s = vm_batch_get_str(o, c, r, &len);
            vm_err e;
            if (col->type == VM_T_VARCHAR) {
                FZ_CHECK(fz_utf8(s, len), "column '%s' row %zu: invalid UTF-8", col->name, r);
                FZ_CHECK(col->max_length <= 0 || (int64_t)len <= col->max_length,
                         "column '%s' row %zu: %zu bytes over max_length %lld", col->name, r, len,
                         (long long)col->max_length);
            } else {
                FZ_CHECK(vm_json_check(s, len, NULL, &e) == VM_OK,
                         "column '%s' row %zu: invalid JSON: %s", col->name, r, e.msg);
            }
        }
    }
}

static int fz_resolve(const char *yaml, size_t n, const fz_part *pm, const fz_part *pp,
                      vm_mapping_result *r, vm_err *e)
{
    json_t *doc = NULL, *locs = NULL;
    int rc = vm_conf_parse_string_ex(yaml, n, "map.yaml", &doc, &locs, e);
    if (rc != VM_OK)
        return rc;
    vm_schema *rs = vm_mapping_read_schema(fz_src, NULL);
    vm_batch *sample = fz_sample(rs, pm, pp);
    vm_conf_where w = {"map.yaml", locs};
    rc = vm_mapping_resolve(doc, "", &w, fz_src, sample, r, e);
    vm_batch_free(sample);
    vm_schema_free(rs);
    json_decref(doc);
    json_decref(locs);
    return rc;
}

static bool fz_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[3];
    size_t np = fz_split(data, size, parts, 3);
    const fz_part *pm = np > 1 ? &parts[1] : NULL, *pp = np > 2 ? &parts[2] : NULL;
    char *yaml = fz_dup(parts[0].p, parts[0].n);
    vm_mapping_result r;
    vm_err e;
    memset(&r, 0, sizeof r);
    int rc = fz_resolve(yaml, parts[0].n, pm, pp, &r, &e);
    free(yaml);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        FZ_CHECK(fz_zero(&r, sizeof r), "failed resolve left a result");
        return 0;
    }
    FZ_CHECK(r.target && r.program, "resolve OK without target or program");
    int vrc = vm_schema_validate(r.target, &e);
    FZ_CHECK(vrc == VM_OK, "resolved target schema is invalid: %s", e.msg);

    /* the program runs on the sample */
    vm_schema *read = vm_mapping_read_schema(fz_src, r.program);
    FZ_CHECK(read != NULL, "no read schema");
    vm_transform *t = NULL;
    rc = vm_transform_new(r.program, read, r.target, &t, &e);
    FZ_CHECK(rc == VM_OK, "transform refuses the resolved program: %s", e.msg);
    vm_batch *in = fz_sample(read, pm, pp);
    const vm_batch *out = NULL;
    rc = vm_transform_apply(t, in, &out, &e);
    fz_err(rc, &e);
    if (rc == VM_OK)
        fz_check_output(out, in->nrows);
    vm_transform_free(t);
    vm_batch_free(in);
    vm_schema_free(read);

    /* --write-mapping round trip */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FZ_CHECK(f != NULL, "open_memstream");
    rc = vm_mapping_write_yaml(&r, fz_src, "job1", f, &e);
    fclose(f);
    FZ_CHECK(rc == VM_OK, "write_yaml failed: %s", e.msg);
    vm_mapping_result r2;
    rc = fz_resolve(text, len, pm, pp, &r2, &e);
    FZ_CHECK(rc == VM_OK, "written mapping does not resolve: %s\n%s", e.msg, text);
    json_t *s1 = vm_schema_to_milvus(r.target), *s2 = vm_schema_to_milvus(r2.target);
    bool same = json_equal(s1, s2) && json_equal(r.program, r2.program) &&
                json_equal(r.params, r2.params);
    if (!same) {
        char *a = json_dumps(s1, JSON_SORT_KEYS), *b = json_dumps(s2, JSON_SORT_KEYS);
        char *c = json_dumps(r.program, JSON_SORT_KEYS), *d = json_dumps(r2.program, JSON_SORT_KEYS);
        fprintf(stderr, "written:\n%s\nschema 1: %s\nschema 2: %s\nprogram 1: %s\nprogram 2: %s\n",
                text, a, b, c, d);
        free(a);
        free(b);
        free(c);
        free(d);
    }
    FZ_CHECK(same, "--write-mapping round trip changes the result");
    const char *pf1 = r.target->partition_field, *pf2 = r2.target->partition_field;
    FZ_CHECK((!pf1 && !pf2) || (pf1 && pf2 && !strcmp(pf1, pf2)), "partition field differs");
    json_decref(s1);
    json_decref(s2);
    vm_mapping_result_release(&r2);
    free(text);

    json_t *sum = vm_mapping_summary(&r);
    FZ_CHECK(sum != NULL, "no summary");
    json_decref(sum);
    vm_mapping_result_release(&r);
    return 0;
}

/*
 * fuzz_pgvector.c - libFuzzer target for the pgvector source's binary
 * decoding (common/sources/pgvector/pg_read.c vm_pgv_decode_cell, over
 * common/clients/vm_pg.c vm_pg_decode_vector / _halfvec / _sparsevec):
 * binary result cells of int2/4/8, float4/8, bool, text, vector, halfvec
 * (as Float16Vector and as FloatVector), sparsevec, bit(n) and ctid.
 *
 * Input: a sequence of cells, each [decoder byte][length, 2 bytes little
 * endian, 0xFFFF = SQL NULL][that many bytes], decoded into one row of a
 * batch with one column per decoder (vectors of dimension 4, bit(16),
 * VarChar(32)).
 *
 * Invariants (every value checked against a decoding written here from the
 * PostgreSQL / pgvector wire formats, big endian):
 *   - a cell either sets its column or fails with a one-line error, and a
 *     NULL sets a nullable column null and fails a vector column;
 *   - ints are sign-extended from 2, 4 or 8 bytes; floats bit-exact;
 *   - vector/halfvec succeed only for int16 dim 4 and exactly 4 + 4*dim /
 *     4 + 2*dim bytes, and give the elements bit for bit; halfvec as
 *     FloatVector gives each half's exact float value;
 *   - sparsevec succeeds only with 12 + 8*nnz bytes and indices strictly
 *     increasing below dim, and gives exactly those entries;
 *   - bit(16) gives its 2 bytes; ctid gives block * 65536 + offset.
 */
#include <math.h>

#include "fuzz_util.h"
#include "pgvector.h"
#include "vm_batch.h"
#include "vm_pg.h"

enum { FZ_NCOLS = 11 };
static const vm_pgv_rd fz_rd[FZ_NCOLS] = {
    VM_PGV_RD_INT,    VM_PGV_RD_F32,    VM_PGV_RD_F64,    VM_PGV_RD_BOOL,
    VM_PGV_RD_TEXT,   VM_PGV_RD_VECTOR, VM_PGV_RD_HALF,   VM_PGV_RD_HALF2F,
    VM_PGV_RD_SPARSE, VM_PGV_RD_BIT,    VM_PGV_RD_TID,
};
static vm_schema *fz_sch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    fz_sch = vm_schema_new("t");
    vm_field fs[FZ_NCOLS] = {
        {.name = "i", .type = VM_T_INT64, .nullable = true},
        {.name = "f4", .type = VM_T_FLOAT, .nullable = true},
        {.name = "f8", .type = VM_T_DOUBLE, .nullable = true},
        {.name = "b", .type = VM_T_BOOL, .nullable = true},
        {.name = "t", .type = VM_T_VARCHAR, .max_length = 32, .nullable = true},
        {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 4},
        {.name = "h", .type = VM_T_FLOAT16_VECTOR, .dim = 4},
        {.name = "h2f", .type = VM_T_FLOAT_VECTOR, .dim = 4},
        {.name = "sp", .type = VM_T_SPARSE_FLOAT_VECTOR},
        {.name = "bits", .type = VM_T_BINARY_VECTOR, .dim = 16},
        {.name = "ctid", .type = VM_T_INT64},
    };
    for (size_t i = 0; i < FZ_NCOLS; i++)
        if (vm_schema_add(fz_sch, &fs[i], NULL) != VM_OK)
            abort();
    return 0;
}

static uint32_t fz_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t fz_be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static float fz_f32(const unsigned char *p)
{
    uint32_t u = fz_be32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half -> float, by arithmetic (not by bits, as vm_pg_half_to_float). */
static float fz_half(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0x1f)
        v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexpf((float)man, -24);
    else
        v = ldexpf((float)(1024 + man), exp - 25);
    return sign ? -v : v;
}

static bool fz_same(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void fz_expect(const vm_batch *b, size_t c, const unsigned char *v, int len)
{
    const vm_column *col = &b->cols[c];
    switch (fz_rd[c]) {
    case VM_PGV_RD_INT: {
        int64_t want = len == 2 ? (int16_t)fz_be16(v)
                       : len == 4 ? (int32_t)fz_be32(v)
                                  : (int64_t)((uint64_t)fz_be32(v) << 32 | fz_be32(v + 4));
        FZ_CHECK((len == 2 || len == 4 || len == 8) && vm_batch_get_int(b, c, 0) == want,
                 "int of %d bytes", len);
        break;
    }
    case VM_PGV_RD_F32:
        FZ_CHECK(len == 4 && fz_same((float)vm_batch_get_double(b, c, 0), fz_f32(v)), "float4");
        break;
    case VM_PGV_RD_F64: {
        uint64_t u = (uint64_t)fz_be32(v) << 32 | fz_be32(v + 4);
        double d, got = vm_batch_get_double(b, c, 0);
        memcpy(&d, &u, sizeof d);
        FZ_CHECK(len == 8 && ((isnan(d) && isnan(got)) || memcmp(&d, &got, sizeof d) == 0),
                 "float8");
        break;
    }
    case VM_PGV_RD_BOOL:
        FZ_CHECK(len == 1 && vm_batch_get_bool(b, c, 0) == (v[0] != 0), "bool");
        break;
    case VM_PGV_RD_TEXT: {
        size_t n;
        const char *t = vm_batch_get_str(b, c, 0, &n);
        FZ_CHECK(len <= 32 && n == (size_t)len && memcmp(t, v, n) == 0, "text");
        break;
    }
    case VM_PGV_RD_VECTOR:
    case VM_PGV_RD_HALF2F: {
        bool half = fz_rd[c] == VM_PGV_RD_HALF2F;
        FZ_CHECK(len == 4 + (half ? 2 : 4) * 4 && (int16_t)fz_be16(v) == 4,
                 "dense of %d bytes, dim %d accepted", len, (int16_t)fz_be16(v));
        const float *o = vm_batch_get_vector(b, c, 0);
        for (int i = 0; i < 4; i++)
            FZ_CHECK(fz_same(o[i], half ? fz_half(fz_be16(v + 4 + 2 * i)) : fz_f32(v + 4 + 4 * i)),
                     "element %d", i);
        break;
    }
    case VM_PGV_RD_HALF: {
        FZ_CHECK(len == 12 && (int16_t)fz_be16(v) == 4, "halfvec of %d bytes", len);
        const uint16_t *o = vm_batch_get_vector(b, c, 0);
        for (int i = 0; i < 4; i++)
            FZ_CHECK(o[i] == fz_be16(v + 4 + 2 * i), "half element %d", i);
        break;
    }
    case VM_PGV_RD_SPARSE: {
        int32_t dim = (int32_t)fz_be32(v), nnz = (int32_t)fz_be32(v + 4);
        FZ_CHECK(len >= 12 && nnz >= 0 && nnz <= dim && len == 12 + 8 * nnz, "sparsevec header");
        const uint32_t *idx;
        const float *val;
        size_t got = vm_batch_get_sparse(b, c, 0, &idx, &val);
        FZ_CHECK(got == (size_t)nnz, "sparsevec: %zu entries of %d", got, nnz);
        for (int32_t i = 0; i < nnz; i++) {
            int32_t k = (int32_t)fz_be32(v + 12 + 4 * i);
            FZ_CHECK(k >= 0 && k < dim && (i == 0 || idx[i - 1] < (uint32_t)k) &&
                         idx[i] == (uint32_t)k && fz_same(val[i], fz_f32(v + 12 + 4 * nnz + 4 * i)),
                     "sparsevec entry %d", i);
        }
        break;
    }
    case VM_PGV_RD_BIT:
        FZ_CHECK(len == 6 && fz_be32(v) == 16 &&
                     memcmp(vm_batch_get_vector(b, c, 0), v + 4, 2) == 0,
                 "bit(16) of %d bytes", len);
        break;
    case VM_PGV_RD_TID:
        FZ_CHECK(len == 6 && vm_batch_get_int(b, c, 0) ==
                                 vm_pgv_tid_key(fz_be32(v), fz_be16(v + 4)),
                 "ctid");
        break;
    default: break;
    }
    (void)col;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vm_batch *b = NULL;
    vm_err e;
    FZ_CHECK(vm_batch_new(fz_sch, 1, &b, &e) == VM_OK, "batch");
    vm_pgv st;
    memset(&st, 0, sizeof st);
    size_t row;
    FZ_CHECK(vm_batch_add_row(b, &row, &e) == VM_OK, "row");
    vm_pgv_rcol rcols[FZ_NCOLS];
    for (int i = 0; i < FZ_NCOLS; i++)
        rcols[i] = (vm_pgv_rcol){.bcol = i, .fnum = i, .rd = fz_rd[i], .max_len = 32};
    size_t p = 0;
    while (p + 3 <= size) {
        size_t c = data[p] % FZ_NCOLS;
        unsigned l = (unsigned)data[p + 1] | (unsigned)data[p + 2] << 8;
        p += 3;
        bool isnull = l == 0xFFFF;
        if (isnull)
            l = 0;
        if (l > size - p)
            l = (unsigned)(size - p);
        /* the cell in a buffer of its own: reading past it is caught */
        char *cell = fz_dup((const char *)data + p, l);
        p += l;
        int rc = vm_pgv_decode_cell(&st, b, row, &rcols[c], isnull ? NULL : cell, (int)l, isnull,
                                    "id = 1", &e);
        fz_err(rc, &e);
        if (isnull)
            FZ_CHECK((rc == VM_OK) == b->cols[c].nullable &&
                         (rc != VM_OK || vm_batch_is_null(b, c, row)),
                     "NULL in column %zu: rc %d", c, rc);
        else if (rc == VM_OK)
            fz_expect(b, c, (const unsigned char *)cell, (int)l);
        free(cell);
    }
    vm_pgv_free_read(&st);
    vm_batch_free(b);
    return 0;
}

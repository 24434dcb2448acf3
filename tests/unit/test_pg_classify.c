/*
 * test_pg_classify.c - vm_pg without a server: SQLSTATE and connection
 * error classification, big-endian loads, half-precision conversion, the
 * pgvector binary decoders on hand-built (and truncated) buffers, and
 * credentials kept out of connection errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vm_err.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

/* ---------------------------------------------------------- builders */

static size_t put_u16(char *b, size_t at, uint16_t v)
{
    b[at] = (char)(v >> 8);
    b[at + 1] = (char)(v & 0xff);
    return at + 2;
}

static size_t put_u32(char *b, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[at + (size_t)i] = (char)(v >> (24 - 8 * i));
    return at + 4;
}

static size_t put_f32(char *b, size_t at, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return put_u32(b, at, u);
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* -------------------------------------------------------- classify */

static void test_sqlstate_retriable(void **s)
{
    (void)s;
    static const char *const retry[] = {"08000", "08006", "08001", "53300", "53200",
                                        "57P01", "57P02", "57P03", "40001", "40P01",
                                        "57014", "55P03"};
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++) {
        bool r = false;
        vm_code c = vm_pg_classify_sqlstate(retry[i], &r);
        assert_true(r);
        assert_true(c < 0);
    }
    bool r;
    assert_int_equal(vm_pg_classify_sqlstate("08006", &r), VM_ERR_IO);
    assert_int_equal(vm_pg_classify_sqlstate("53300", &r), VM_ERR_UNAVAILABLE);
    assert_int_equal(vm_pg_classify_sqlstate("57P03", &r), VM_ERR_UNAVAILABLE);
    assert_int_equal(vm_pg_classify_sqlstate("57014", &r), VM_ERR_TIMEOUT);
}

static void test_sqlstate_fatal(void **s)
{
    (void)s;
    bool r = true;
    assert_int_equal(vm_pg_classify_sqlstate("42601", &r), VM_ERR_INVALID); /* syntax */
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("42P01", &r), VM_ERR_NOT_FOUND);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("22P02", &r), VM_ERR_INVALID); /* bad text */
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("28P01", &r), VM_ERR_AUTH);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("28000", &r), VM_ERR_AUTH);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("42501", &r), VM_ERR_AUTH);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("23505", &r), VM_ERR_EXISTS);
    assert_false(r);
    /* other 57 codes are not shutdowns */
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("57P04", &r), VM_ERR_REMOTE);
    assert_false(r);
    /* 40002 is an integrity failure at commit, not a conflict */
    r = true;
    vm_pg_classify_sqlstate("40002", &r);
    assert_false(r);
    /* unknown, short, NULL */
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("XX000", &r), VM_ERR_REMOTE);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate("08", &r), VM_ERR_REMOTE);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_sqlstate(NULL, &r), VM_ERR_REMOTE);
    assert_false(r);
    /* retriable may be NULL */
    assert_int_equal(vm_pg_classify_sqlstate("08006", NULL), VM_ERR_IO);
}

static void test_connect_error_classes(void **s)
{
    (void)s;
    bool r = true;
    assert_int_equal(vm_pg_classify_connect_error(
                         "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: "
                         "password authentication failed for user \"app\"", &r),
                     VM_ERR_AUTH);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_connect_error(
                         "FATAL: database \"nope\" does not exist", &r),
                     VM_ERR_NOT_FOUND);
    assert_false(r);
    r = true;
    assert_int_equal(vm_pg_classify_connect_error("FATAL: role \"x\" does not exist", &r),
                     VM_ERR_AUTH);
    assert_false(r);
    r = false;
    assert_int_equal(vm_pg_classify_connect_error(
                         "connection to server at \"127.0.0.1\", port 1 failed: Connection "
                         "refused Is the server running on that host?", &r),
                     VM_ERR_IO);
    assert_true(r);
    r = false;
    assert_int_equal(vm_pg_classify_connect_error("FATAL: the database system is starting up",
                                                  &r),
                     VM_ERR_UNAVAILABLE);
    assert_true(r);
    r = false;
    assert_int_equal(vm_pg_classify_connect_error("timeout expired", &r), VM_ERR_TIMEOUT);
    assert_true(r);
}

/* ------------------------------------------------------------ loads */

static void test_big_endian_loads(void **s)
{
    (void)s;
    const char b[8] = {(char)0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, (char)0xff};
    assert_int_equal(vm_pg_get_i16(b), (int16_t)-32767);
    assert_true(vm_pg_get_i32(b) == (int32_t)0x80010203u); /* negative */
    assert_true(vm_pg_get_i32(b) < 0);
    assert_true(vm_pg_get_i64(b) == (int64_t)0x80010203040506ffULL);
    const char one[4] = {0x3f, (char)0x80, 0, 0};
    assert_true(vm_pg_get_f32(one) == 1.0f);
    char d[8];
    uint64_t u;
    double x = -2.5e-300;
    memcpy(&u, &x, sizeof u);
    for (int i = 0; i < 8; i++)
        d[i] = (char)(u >> (56 - 8 * i));
    double y = vm_pg_get_f64(d);
    assert_memory_equal(&x, &y, sizeof x);
}

static void test_half_exhaustive(void **s)
{
    (void)s;
    /* every one of the 65536 halves against the compiler's conversion */
    for (uint32_t h = 0; h <= 0xffff; h++) {
        _Float16 hf;
        uint16_t hb = (uint16_t)h;
        memcpy(&hf, &hb, sizeof hf);
        float want = (float)hf, got = vm_pg_half_to_float(hb);
        if (isnan(want)) {
            assert_true(isnan(got));
            continue;
        }
        assert_int_equal(bits_of(got), bits_of(want));
    }
    assert_true(vm_pg_half_to_float(0x3c00) == 1.0f);
    assert_true(vm_pg_half_to_float(0x0001) == ldexpf(1.0f, -24));
    assert_true(signbit(vm_pg_half_to_float(0x8000)));
}

/* ---------------------------------------------------------- vector */

static void test_vector_decode(void **s)
{
    (void)s;
    char b[64];
    const float in[3] = {0.1f, 1e-7f, -0.0f};
    size_t n = put_u16(b, 0, 3);
    n = put_u16(b, n, 0);
    for (int i = 0; i < 3; i++)
        n = put_f32(b, n, in[i]);
    assert_int_equal(n, 16);
    float out[3];
    vm_err e;
    assert_int_equal(vm_pg_decode_vector(b, (int)n, out, 3, &e), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(bits_of(out[i]), bits_of(in[i]));

    /* every truncation is a protocol error, never a read past the end */
    for (size_t cut = 0; cut < n; cut++) {
        char *t = vm_malloc(cut ? cut : 1); /* ASan sees exactly cut bytes */
        memcpy(t, b, cut);
        assert_int_equal(vm_pg_decode_vector(t, (int)cut, out, 3, &e), VM_ERR_PROTOCOL);
        assert_false(e.retriable);
        vm_free(t);
    }
    /* trailing garbage */
    assert_int_equal(vm_pg_decode_vector(b, (int)n + 1, out, 3, &e), VM_ERR_PROTOCOL);
    /* a header that claims more than the buffer has */
    put_u16(b, 0, 30000);
    assert_int_equal(vm_pg_decode_vector(b, (int)n, out, 3, &e), VM_ERR_PROTOCOL);
    put_u16(b, 0, 0xffff); /* -1 */
    assert_int_equal(vm_pg_decode_vector(b, (int)n, out, 3, &e), VM_ERR_PROTOCOL);
    /* well-formed but not the dimension the column promised */
    put_u16(b, 0, 2);
    assert_int_equal(vm_pg_decode_vector(b, 12, out, 3, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "2 dimensions, expected 3"));
    assert_int_equal(vm_pg_decode_vector(NULL, 0, out, 3, &e), VM_ERR_PROTOCOL);
}

static void test_halfvec_decode(void **s)
{
    (void)s;
    char b[16];
    size_t n = put_u16(b, 0, 3);
    n = put_u16(b, n, 0);
    n = put_u16(b, n, 0x3c00); /* 1 */
    n = put_u16(b, n, 0x8000); /* -0 */
    n = put_u16(b, n, 0x2e66); /* 0.1 rounded to half */
    uint16_t out[3];
    vm_err e;
    assert_int_equal(vm_pg_decode_halfvec(b, (int)n, out, 3, &e), 0);
    assert_int_equal(out[0], 0x3c00);
    assert_int_equal(out[1], 0x8000);
    assert_int_equal(out[2], 0x2e66);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(vm_pg_decode_halfvec(b, (int)cut, out, 3, &e), VM_ERR_PROTOCOL);
    assert_int_equal(vm_pg_decode_halfvec(b, (int)n, out, 4, &e), VM_ERR_INVALID);
}

/* ------------------------------------------------------- sparsevec */

/* {1:0.5,3:2}/5 in text is indices 0 and 2 in binary */
static size_t build_sparse(char *b)
{
    size_t n = put_u32(b, 0, 5);
    n = put_u32(b, n, 2);
    n = put_u32(b, n, 0);
    n = put_u32(b, n, 0);
    n = put_u32(b, n, 2);
    n = put_f32(b, n, 0.5f);
    n = put_f32(b, n, 2.0f);
    return n;
}

static void test_sparsevec_decode(void **s)
{
    (void)s;
    char b[64];
    size_t n = build_sparse(b);
    assert_int_equal(n, 28);
    int dim = -1, nnz = -1;
    uint32_t idx[4];
    float val[4];
    vm_err e;
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e), 0);
    assert_int_equal(dim, 5);
    assert_int_equal(nnz, 2);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 2);
    assert_true(val[0] == 0.5f && val[1] == 2.0f);

    for (size_t cut = 0; cut < n; cut++) {
        char *t = vm_malloc(cut ? cut : 1);
        memcpy(t, b, cut);
        assert_int_equal(vm_pg_decode_sparsevec(t, (int)cut, &dim, idx, val, &nnz, 4, &e),
                         VM_ERR_PROTOCOL);
        vm_free(t);
    }
    /* too small a destination: nothing written, needed count reported */
    idx[0] = 77;
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 1, &e),
                     VM_ERR_INVALID);
    assert_int_equal(nnz, 2);
    assert_int_equal(idx[0], 77);

    /* nnz larger than dim, negative nnz, huge nnz */
    put_u32(b, 4, 6);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e),
                     VM_ERR_PROTOCOL);
    put_u32(b, 4, 0xffffffffu);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e),
                     VM_ERR_PROTOCOL);
    put_u32(b, 0, 0x7fffffffu);
    put_u32(b, 4, 0x7fffffffu);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e),
                     VM_ERR_PROTOCOL);
    /* index out of range, indices out of order */
    n = build_sparse(b);
    put_u32(b, 16, 5);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e),
                     VM_ERR_PROTOCOL);
    n = build_sparse(b);
    put_u32(b, 12, 3);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 4, &e),
                     VM_ERR_PROTOCOL);
    /* the empty sparse vector is valid */
    n = put_u32(b, 0, 7);
    n = put_u32(b, n, 0);
    n = put_u32(b, n, 0);
    assert_int_equal(vm_pg_decode_sparsevec(b, (int)n, &dim, idx, val, &nnz, 0, &e), 0);
    assert_int_equal(dim, 7);
    assert_int_equal(nnz, 0);
}

/* ----------------------------------------------- connection errors */

static void test_connect_refused_redacts_password(void **s)
{
    (void)s;
    vm_secret_clear();
    PGconn *c = (PGconn *)1;
    vm_err e;
    /* port 1 on loopback: nothing listens, libpq reports a refusal */
    int rc = vm_pg_connect("host=127.0.0.1 port=1 user=app password=hunter2-pg-secret "
                           "dbname=x sslmode=disable",
                           2, &c, &e);
    assert_int_equal(rc, VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(c);
    assert_null(strstr(e.msg, "hunter2"));
    assert_null(strchr(e.msg, '\n'));
    assert_non_null(strstr(e.msg, "pg: connect:"));
    /* the password was registered: any later message masks it */
    vm_err_setc(&e, VM_ERR_REMOTE, "echo hunter2-pg-secret");
    assert_string_equal(e.msg, "echo ***");

    /* URI form: the password inside user-info is registered too */
    vm_secret_clear();
    rc = vm_pg_connect("postgresql://app:uri-secret-pw@127.0.0.1:1/x?sslmode=disable", 2, &c,
                       &e);
    assert_int_equal(rc, VM_ERR_IO);
    assert_null(strstr(e.msg, "uri-secret-pw"));
    vm_err_setc(&e, VM_ERR_REMOTE, "saw uri-secret-pw");
    assert_string_equal(e.msg, "saw ***");
    vm_secret_clear();
}

static void test_connect_bad_conninfo(void **s)
{
    (void)s;
    vm_secret_clear();
    PGconn *c = NULL;
    vm_err e;
    /* a password with a space, unquoted: libpq's parse error would quote the
     * second half of it */
    int rc = vm_pg_connect("host=127.0.0.1 password=abc defgh-secret-part", 2, &c, &e);
    assert_int_equal(rc, VM_ERR_INVALID);
    assert_false(e.retriable);
    assert_null(c);
    assert_null(strstr(e.msg, "defgh"));
    assert_non_null(strstr(e.msg, "invalid connection string"));
    rc = vm_pg_connect("host=127.0.0.1 no_such_option=1", 2, &c, &e);
    assert_int_equal(rc, VM_ERR_INVALID);
    assert_int_equal(vm_pg_connect(NULL, 2, &c, &e), VM_ERR_INVALID);
    vm_secret_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlstate_retriable),
        cmocka_unit_test(test_sqlstate_fatal),
        cmocka_unit_test(test_connect_error_classes),
        cmocka_unit_test(test_big_endian_loads),
        cmocka_unit_test(test_half_exhaustive),
        cmocka_unit_test(test_vector_decode),
        cmocka_unit_test(test_halfvec_decode),
        cmocka_unit_test(test_sparsevec_decode),
        cmocka_unit_test(test_connect_refused_redacts_password),
        cmocka_unit_test(test_connect_bad_conninfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

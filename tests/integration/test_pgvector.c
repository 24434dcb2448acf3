/*
 * test_pgvector.c - vm_pg against real PostgreSQL + pgvector
 * (VECMIG_TEST_PG, a libpq conninfo or URI from `scripts/stack env`):
 * vector / halfvec / sparsevec read in binary and decoded bit-exactly
 * against the float32 of the inserted literals, the same rows read as text
 * and compared, 0-based binary vs 1-based text sparse indices, dimensions
 * from atttypmod, and SQLSTATE classification of real server errors. The
 * table is unique per run and dropped in the group teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm_err.h"
#include "vm_log.h"
#include "vm_pg.h"

#define NROWS 3

typedef struct pt_state {
    PGconn *conn;
    char table[64];
} pt_state;

/* Literals as inserted; expectations are computed from them with strtof,
 * the same conversion pgvector applies. */
static const struct {
    const char *id, *v[3], *h[3], *s, *title, *meta;
    int snnz;
    int sidx1[3];          /* 1-based, as in the text form */
    const char *sval[3];
} rows[NROWS] = {
    {"1", {"0.1", "1e-7", "-0.0"}, {"0.1", "1e-7", "-0.0"}, "{1:0.5,3:2}/5", "hello",
     "{\"a\": 1}", 2, {1, 3}, {"0.5", "2"}},
    {"2", {"1.5", "-2.25", "3.4028235e38"}, {"1", "-2", "65504"}, "{5:-1.25}/5", "w\xc3\xb6rld",
     "{\"b\": [1, 2]}", 1, {5}, {"-1.25"}},
    {"3", {"123456.789", "1e-30", "0.3333333"}, {"0.3333", "-0.0001", "1e-7"}, "{}/5", "",
     "{}", 0, {0}, {NULL}},
};

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint16_t half_bits_of(const char *lit)
{
    _Float16 h = (_Float16)strtof(lit, NULL);
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}

static void exec_ok(PGconn *c, const char *sql)
{
    vm_err e;
    if (vm_pg_exec(c, sql, 0, NULL, NULL, NULL, 0, NULL, &e) != 0)
        fail_msg("%s: %s", sql, e.msg);
}

static int group_setup(void **state)
{
    const char *ci = getenv("VECMIG_TEST_PG");
    if (!ci || !ci[0]) {
        fprintf(stderr, "test_pgvector: VECMIG_TEST_PG is not set; start PostgreSQL with "
                        "`scripts/stack up postgres` and run `eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    pt_state *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    vm_err e;
    if (vm_pg_connect(ci, 10, &st->conn, &e) != 0) {
        fprintf(stderr, "test_pgvector: cannot connect (VECMIG_TEST_PG): %s\n", e.msg);
        free(st);
        return -1;
    }
    snprintf(st->table, sizeof st->table, "vm_test_%ld_%lld", (long)getpid(),
             (long long)time(NULL));
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s (id bigint PRIMARY KEY, v vector(3), h halfvec(3), "
             "s sparsevec(5), title text, meta jsonb)", st->table);
    /* PQexecParams runs one statement at a time */
    if (vm_pg_exec(st->conn, "CREATE EXTENSION IF NOT EXISTS vector", 0, NULL, NULL, NULL, 0,
                   NULL, &e) != 0 ||
        vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 0, NULL, &e) != 0) {
        fprintf(stderr, "test_pgvector: setup: %s\n", e.msg);
        PQfinish(st->conn);
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int group_teardown(void **state)
{
    pt_state *st = *state;
    if (!st)
        return 0;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", st->table);
    vm_err e;
    int rc = vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 0, NULL, &e);
    if (rc != 0)
        fprintf(stderr, "test_pgvector: cleanup: %s\n", e.msg);
    PQfinish(st->conn);
    free(st);
    return rc == 0 ? 0 : -1;
}

static void test_insert(void **state)
{
    pt_state *st = *state;
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (id, v, h, s, title, meta) VALUES ($1, $2, $3, $4, $5, $6)",
             st->table);
    for (int r = 0; r < NROWS; r++) {
        char v[128], h[128];
        snprintf(v, sizeof v, "[%s,%s,%s]", rows[r].v[0], rows[r].v[1], rows[r].v[2]);
        snprintf(h, sizeof h, "[%s,%s,%s]", rows[r].h[0], rows[r].h[1], rows[r].h[2]);
        const char *vals[6] = {rows[r].id, v, h, rows[r].s, rows[r].title, rows[r].meta};
        vm_err e;
        if (vm_pg_exec(st->conn, sql, 6, vals, NULL, NULL, 0, NULL, &e) != 0)
            fail_msg("insert row %d: %s", r, e.msg);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", st->table);
    int64_t n = -1;
    vm_err e;
    if (vm_pg_query_int64(st->conn, sql, &n, &e) != 0)
        fail_msg("count: %s", e.msg);
    assert_int_equal(n, NROWS);
}

/* The type OIDs belong to the extension: look them up, then check them. */
static Oid type_oid(PGconn *c, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT '%s'::regtype::oid", name);
    int64_t v = 0;
    vm_err e;
    if (vm_pg_query_int64(c, sql, &v, &e) != 0)
        fail_msg("%s: %s", sql, e.msg);
    return (Oid)v;
}

static void test_binary_decode(void **state)
{
    pt_state *st = *state;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id, v, h, s, title, meta FROM %s ORDER BY id", st->table);
    PGresult *res = NULL;
    vm_err e;
    if (vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 1, &res, &e) != 0)
        fail_msg("select binary: %s", e.msg);
    assert_int_equal(PQntuples(res), NROWS);
    assert_int_equal(PQfformat(res, 1), 1);
    assert_int_equal(PQftype(res, 1), type_oid(st->conn, "vector"));
    assert_int_equal(PQftype(res, 2), type_oid(st->conn, "halfvec"));
    assert_int_equal(PQftype(res, 3), type_oid(st->conn, "sparsevec"));

    for (int r = 0; r < NROWS; r++) {
        assert_int_equal(PQgetlength(res, r, 0), 8);
        assert_int_equal(vm_pg_get_i64(PQgetvalue(res, r, 0)), atoll(rows[r].id));

        float v[3];
        if (vm_pg_decode_vector(PQgetvalue(res, r, 1), PQgetlength(res, r, 1), v, 3, &e) != 0)
            fail_msg("row %d vector: %s", r, e.msg);
        for (int i = 0; i < 3; i++)
            if (fbits(v[i]) != fbits(strtof(rows[r].v[i], NULL)))
                fail_msg("row %d v[%d]: got %a, inserted %s", r, i, (double)v[i],
                         rows[r].v[i]);

        uint16_t h[3];
        if (vm_pg_decode_halfvec(PQgetvalue(res, r, 2), PQgetlength(res, r, 2), h, 3, &e) != 0)
            fail_msg("row %d halfvec: %s", r, e.msg);
        for (int i = 0; i < 3; i++)
            if (h[i] != half_bits_of(rows[r].h[i]))
                fail_msg("row %d h[%d]: got 0x%04x, want 0x%04x for %s", r, i, h[i],
                         half_bits_of(rows[r].h[i]), rows[r].h[i]);

        int dim = 0, nnz = 0;
        uint32_t idx[5];
        float val[5];
        if (vm_pg_decode_sparsevec(PQgetvalue(res, r, 3), PQgetlength(res, r, 3), &dim, idx,
                                   val, &nnz, 5, &e) != 0)
            fail_msg("row %d sparsevec: %s", r, e.msg);
        assert_int_equal(dim, 5);
        assert_int_equal(nnz, rows[r].snnz);
        for (int i = 0; i < nnz; i++) {
            /* binary indices are 0-based, the literal's 1-based */
            assert_int_equal(idx[i], rows[r].sidx1[i] - 1);
            assert_int_equal(fbits(val[i]), fbits(strtof(rows[r].sval[i], NULL)));
        }
        /* text and jsonb in binary: raw UTF-8; jsonb has a version byte */
        assert_int_equal(PQgetlength(res, r, 4), (int)strlen(rows[r].title));
        assert_memory_equal(PQgetvalue(res, r, 4), rows[r].title, strlen(rows[r].title));
        const char *j = PQgetvalue(res, r, 5);
        assert_int_equal(j[0], 1);
        assert_int_equal(PQgetlength(res, r, 5) - 1, (int)strlen(rows[r].meta));
        assert_memory_equal(j + 1, rows[r].meta, strlen(rows[r].meta));
    }
    /* row 1 keeps the sign of -0.0 in both vector and halfvec */
    float v0[3];
    uint16_t h0[3];
    vm_pg_decode_vector(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), v0, 3, &e);
    vm_pg_decode_halfvec(PQgetvalue(res, 0, 2), PQgetlength(res, 0, 2), h0, 3, &e);
    assert_int_equal(fbits(v0[2]), 0x80000000u);
    assert_int_equal(h0[2], 0x8000);
    /* decoding against the wrong dimension is refused */
    assert_int_equal(vm_pg_decode_vector(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), v0, 2,
                                         &e),
                     VM_ERR_INVALID);
    PQclear(res);
}

/* Parse "[a,b,c]" into floats with strtof; returns the count. */
static int parse_text_vec(const char *s, float *out, int cap)
{
    int n = 0;
    if (*s++ != '[')
        return -1;
    while (*s && *s != ']' && n < cap) {
        char *end;
        out[n++] = strtof(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return *s == ']' ? n : -1;
}

static void test_text_matches_binary(void **state)
{
    pt_state *st = *state;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT v, h, s FROM %s ORDER BY id", st->table);
    PGresult *tres = NULL, *bres = NULL;
    vm_err e;
    if (vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 0, &tres, &e) != 0 ||
        vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 1, &bres, &e) != 0)
        fail_msg("select: %s", e.msg);
    assert_int_equal(PQfformat(tres, 0), 0);
    for (int r = 0; r < NROWS; r++) {
        float tv[3], bv[3];
        assert_int_equal(parse_text_vec(PQgetvalue(tres, r, 0), tv, 3), 3);
        assert_int_equal(vm_pg_decode_vector(PQgetvalue(bres, r, 0), PQgetlength(bres, r, 0),
                                             bv, 3, &e), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(fbits(tv[i]), fbits(bv[i]));

        /* halfvec text prints the half's exact float value */
        float th[3];
        uint16_t bh[3];
        assert_int_equal(parse_text_vec(PQgetvalue(tres, r, 1), th, 3), 3);
        assert_int_equal(vm_pg_decode_halfvec(PQgetvalue(bres, r, 1), PQgetlength(bres, r, 1),
                                              bh, 3, &e), 0);
        for (int i = 0; i < 3; i++)
            if (fbits(th[i]) != fbits(vm_pg_half_to_float(bh[i])))
                fail_msg("row %d h[%d]: text %s vs binary 0x%04x", r, i,
                         PQgetvalue(tres, r, 1), bh[i]);

        /* sparse text is 1-based, binary 0-based */
        int dim = 0, nnz = 0;
        uint32_t idx[5];
        float val[5];
        assert_int_equal(vm_pg_decode_sparsevec(PQgetvalue(bres, r, 2), PQgetlength(bres, r, 2),
                                                &dim, idx, val, &nnz, 5, &e), 0);
        const char *t = PQgetvalue(tres, r, 2);
        assert_int_equal(*t++, '{');
        for (int i = 0; i < nnz; i++) {
            char *end;
            long k = strtol(t, &end, 10);
            assert_int_equal(*end, ':');
            assert_int_equal(k, (long)idx[i] + 1);
            float f = strtof(end + 1, &end);
            assert_int_equal(fbits(f), fbits(val[i]));
            t = *end == ',' ? end + 1 : end;
        }
        char tail[16];
        snprintf(tail, sizeof tail, "}/%d", dim);
        assert_string_equal(t, tail);
    }
    assert_string_equal(PQgetvalue(tres, 0, 2), "{1:0.5,3:2}/5");
    PQclear(tres);
    PQclear(bres);
}

static void test_typmod_dims(void **state)
{
    pt_state *st = *state;
    static const struct {
        const char *col;
        int64_t want;
    } cols[] = {{"v", 3}, {"h", 3}, {"s", 5}};
    for (size_t i = 0; i < 3; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT atttypmod FROM pg_attribute WHERE attrelid = '%s'::regclass "
                 "AND attname = '%s' AND NOT attisdropped", st->table, cols[i].col);
        int64_t mod = 0;
        vm_err e;
        if (vm_pg_query_int64(st->conn, sql, &mod, &e) != 0)
            fail_msg("%s: %s", cols[i].col, e.msg);
        assert_int_equal(mod, cols[i].want);
    }
    /* a query that returns no row is a protocol error for the helper */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE id < 0", st->table);
    int64_t x;
    vm_err e;
    assert_int_equal(vm_pg_query_int64(st->conn, sql, &x, &e), VM_ERR_PROTOCOL);
}

static void test_server_errors_classified(void **state)
{
    pt_state *st = *state;
    vm_err e;
    PGresult *res = (PGresult *)1;
    assert_int_equal(vm_pg_exec(st->conn, "SELEC 1", 0, NULL, NULL, NULL, 0, &res, &e),
                     VM_ERR_INVALID);
    assert_null(res);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "SQLSTATE 42601"));
    assert_non_null(strstr(e.msg, "syntax error"));

    assert_int_equal(vm_pg_exec(st->conn, "SELECT * FROM vm_no_such_table_here", 0, NULL, NULL,
                                NULL, 0, NULL, &e),
                     VM_ERR_NOT_FOUND);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "42P01"));

    /* a data error: bad vector literal */
    const char *bad[] = {"[1,2"};
    assert_int_equal(vm_pg_exec(st->conn, "SELECT $1::vector", 1, bad, NULL, NULL, 0, NULL, &e),
                     VM_ERR_INVALID);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "SQLSTATE 22"));

    /* statement timeout: 57014, retriable */
    exec_ok(st->conn, "SET statement_timeout = 50");
    assert_int_equal(vm_pg_exec(st->conn, "SELECT pg_sleep(5)", 0, NULL, NULL, NULL, 0, NULL,
                                &e),
                     VM_ERR_TIMEOUT);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "57014"));
    exec_ok(st->conn, "RESET statement_timeout");
    /* the connection is still usable */
    int64_t one = 0;
    assert_int_equal(vm_pg_query_int64(st->conn, "SELECT 1", &one, &e), 0);
    assert_int_equal(one, 1);
}

/* A session killed under us (pg_terminate_backend: 57P01 then a closed
 * socket) is a retriable error, and a fresh connection works again. */
static void test_terminated_session_retriable(void **state)
{
    pt_state *st = *state;
    PGconn *victim = NULL;
    vm_err e;
    if (vm_pg_connect(getenv("VECMIG_TEST_PG"), 10, &victim, &e) != 0)
        fail_msg("connect: %s", e.msg);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(victim));
    const char *vals[] = {pid};
    PGresult *res = NULL;
    if (vm_pg_exec(st->conn, "SELECT pg_terminate_backend($1::int, 10000)", 1, vals, NULL, NULL,
                   0, &res, &e) != 0)
        fail_msg("terminate: %s", e.msg);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
    int64_t one = 0;
    int rc = vm_pg_query_int64(victim, "SELECT 1", &one, &e);
    assert_true(rc == VM_ERR_IO || rc == VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_int_equal(PQstatus(victim), CONNECTION_BAD);
    PQfinish(victim);
    if (vm_pg_connect(getenv("VECMIG_TEST_PG"), 10, &victim, &e) != 0)
        fail_msg("reconnect: %s", e.msg);
    assert_int_equal(vm_pg_query_int64(victim, "SELECT 1", &one, &e), 0);
    PQfinish(victim);
}

int main(void)
{
    vm_log_set_level(VM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert),
        cmocka_unit_test(test_binary_decode),
        cmocka_unit_test(test_text_matches_binary),
        cmocka_unit_test(test_typmod_dims),
        cmocka_unit_test(test_server_errors_classified),
        cmocka_unit_test(test_terminated_session_retriable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

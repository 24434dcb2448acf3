/*
 * test_pgvector_source.c - the pgvector source against the stack's real
 * PostgreSQL 18 + pgvector (VECMIG_TEST_PG).
 *
 * Tables are unique per run (vmsrc_<pid>_<time>_*) and dropped at the end:
 *   all   every supported type, NULLs in every nullable column, multi-byte
 *         UTF-8, json/jsonb, arrays, vector/halfvec/sparsevec/bit, int4 PK
 *   skew  bigint PK, half the keys in 1..N, half spread to 10^9 (ANALYZEd):
 *         histogram-balanced split
 *   nopk  no key, a column named `id`, holes from DELETE: ctid split,
 *         autoID `id_1` + `pg_ctid`
 *   comp  composite PK (no primary from the source)
 *   tpk   text PK (VarChar primary, ctid split)
 * and one table per error case. Checked: discover field by field; plans
 * contiguous and balanced (skew: every task within +-50% of task_rows);
 * every task read in batches of 7 with a close/reopen from cursor in the
 * middle yields every row exactly once with values bit-exact (vectors as
 * float32 bits, halfvec bits, sparse 0-based indices, bit bytes) and
 * scalars equal to PostgreSQL's own text (DateStyle ISO, UTC); the ctid
 * page query is a TID Range Scan; error messages are one line naming the
 * thing.
 *
 * Authentication: the stack's pg_hba is `trust` for everything, so a wrong
 * password would succeed. The credential test uses a role that does not
 * exist (with a password in the dsn), which the server refuses: VM_ERR_AUTH,
 * fatal, and the password never appears in the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgvector.h"
#include "vm_connector.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

#define NALL 40
#define NSKEW 20000
#define NNOPK 3000

typedef struct ts_state {
    PGconn *conn;
    const char *dsn;
    char p[64]; /* table prefix */
} ts_state;

static ts_state *g;

static void exec_ok(const char *fmt, ...) VM_PRINTF(1, 2);
static void exec_ok(const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    vm_err e;
    if (vm_pg_exec(g->conn, sql, 0, NULL, NULL, NULL, 0, NULL, &e) != 0)
        fail_msg("%s: %s", sql, e.msg);
}

static PGresult *query_ok(const char *fmt, ...) VM_PRINTF(1, 2);
static PGresult *query_ok(const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    vm_err e;
    PGresult *r = NULL;
    if (vm_pg_exec(g->conn, sql, 0, NULL, NULL, NULL, 0, &r, &e) != 0)
        fail_msg("%s: %s", sql, e.msg);
    return r;
}

/* A source on table <prefix>_<suffix> with extra JSON options. */
static int new_src(const char *suffix, const char *extra_json, vm_source **src, vm_err *e)
{
    char table[128];
    snprintf(table, sizeof table, "public.%s_%s", g->p, suffix);
    json_t *conf = json_pack("{s:{s:s}, s:s}", "dsn", "env", "VECMIG_TEST_PG", "table", table);
    if (extra_json) {
        json_t *x = json_loads(extra_json, 0, NULL);
        assert_non_null(x);
        json_object_update(conf, x);
        json_decref(x);
    }
    int rc = vm_source_new("pgvector", conf, src, e);
    json_decref(conf);
    return rc;
}

/* ------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    (void)state;
    const char *dsn = getenv("VECMIG_TEST_PG");
    if (!dsn || !dsn[0]) {
        fprintf(stderr, "test_pgvector_source: VECMIG_TEST_PG is not set; run `scripts/stack up "
                        "postgres` and `eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    g = calloc(1, sizeof *g);
    g->dsn = dsn;
    vm_err e;
    if (vm_pg_connect(dsn, 10, &g->conn, &e) != 0) {
        fprintf(stderr, "test_pgvector_source: connect: %s\n", e.msg);
        return -1;
    }
    snprintf(g->p, sizeof g->p, "vmsrc_%ld_%lld", (long)getpid(), (long long)time(NULL));
    const char *p = g->p;
    exec_ok("SELECT set_config('datestyle', 'ISO, YMD', false), set_config('timezone', 'UTC', "
            "false), set_config('extra_float_digits', '3', false)");
    exec_ok("CREATE EXTENSION IF NOT EXISTS vector");

    /* every supported type */
    exec_ok("CREATE TABLE %s_all (id int4 PRIMARY KEY, i2 int2, i4 int4, i8 int8 NOT NULL, "
            "f4 float4, f8 float8, b bool, t text, vc varchar(10), bp char(5), nm name, "
            "j json, jb jsonb, ai int4[], at text[], af float8[], ab bool[], u uuid, "
            "ts timestamp, tstz timestamptz, d date, tm time, iv interval, num numeric, "
            "num2 numeric(10,2), v vector(3) NOT NULL, h halfvec(4), s sparsevec(10), "
            "bt bit(16))",
            p);
    exec_ok(
        "INSERT INTO %s_all SELECT g, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g * 3 - 60 END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g * 100000 END, "
        "CASE WHEN g %% 2 = 0 THEN g * 1000000000000 ELSE -g END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g / 7.0 END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g / 3.0 END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g %% 2 = 1 END, "
        "CASE WHEN g %% 5 = 0 THEN NULL WHEN g = 7 THEN repeat('\xc3\xa9', 50) "
        "     ELSE 'w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac ' || g END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE '\xc3\xa4\xc3\xa4\xe6\x97\xa5\xe6\x9c\xac' || (g %% 10) END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE 'ab' END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE 'name_' || g END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ('{\"k\": [1, 2.5, \"\xc3\xbc\"],  \"id\": ' || g || '}')::json END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ('{\"a\": {\"b\": ' || g || '}}')::jsonb END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ARRAY[g, -g, 0] END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ARRAY['x', '\xc3\xbf' || g] END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ARRAY[0.1, g / 3.0]::float8[] END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE ARRAY[true, g %% 2 = 0] END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE md5(g::text)::uuid END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE '2024-01-02 03:04:05.123456'::timestamp + g * interval '1 day' END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE '2024-01-02 03:04:05+02'::timestamptz + g * interval '1 hour' END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE date '2024-02-29' + g END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE time '23:59:59.5' END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g * interval '1 year 2 mons 3 days 04:05:06.7' END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE 12345.678901234567890123 * g END, "
        "CASE WHEN g %% 5 = 0 THEN NULL ELSE g * 1.25 END, "
        "CASE WHEN g = 1 THEN '[-0,1e-38,3.4028235e38]'::vector "
        "     ELSE ARRAY[g * 0.1, -g / 7.0, 1e-7 * g]::vector END, "
        "ARRAY[g * 0.1, -g, 65504.0 / g, 1e-7]::halfvec, "
        "CASE WHEN g %% 4 = 0 THEN '{}/10'::sparsevec "
        "     ELSE ('{' || (g %% 9 + 1) || ':' || g * 0.5 || ',10:-1.5}/10')::sparsevec END, "
        "(g * 40503 %% 65536)::bit(16) "
        "FROM generate_series(1, %d) g",
        p, NALL);

    /* skewed integer keys */
    exec_ok("CREATE TABLE %s_skew (id bigint PRIMARY KEY, v vector(2) NOT NULL)", p);
    exec_ok("INSERT INTO %s_skew SELECT CASE WHEN g <= %d THEN g ELSE (g - %d) * 100000 END, "
            "ARRAY[g, -g]::vector FROM generate_series(1, %d) g",
            p, NSKEW / 2, NSKEW / 2, NSKEW);
    exec_ok("ANALYZE %s_skew", p);

    /* no key, a column named id, holes */
    exec_ok("CREATE TABLE %s_nopk (id text, a int NOT NULL, pad text, v vector(2) NOT NULL)", p);
    exec_ok("INSERT INTO %s_nopk SELECT 'r' || g, g, repeat('x', 200), ARRAY[g, 0.5]::vector "
            "FROM generate_series(1, %d) g",
            p, NNOPK);
    exec_ok("DELETE FROM %s_nopk WHERE a %% 3 = 0", p);
    exec_ok("VACUUM ANALYZE %s_nopk", p);

    exec_ok("CREATE TABLE %s_comp (a int, b int, v vector(2) NOT NULL, PRIMARY KEY (a, b))", p);
    exec_ok("INSERT INTO %s_comp SELECT g / 10, g %% 10, ARRAY[g, 1]::vector "
            "FROM generate_series(1, 50) g",
            p);
    exec_ok("CREATE TABLE %s_tpk (k text PRIMARY KEY, v vector(2) NOT NULL)", p);
    exec_ok("INSERT INTO %s_tpk SELECT 'key-' || g, ARRAY[g, 2]::vector "
            "FROM generate_series(1, 60) g",
            p);

    /* error cases */
    exec_ok("CREATE TABLE %s_novec (a int PRIMARY KEY, t text)", p);
    exec_ok("CREATE TABLE %s_vdim (id int PRIMARY KEY, v vector)", p);
    exec_ok("INSERT INTO %s_vdim VALUES (1, '[1,2]'), (2, '[1,2,3]')", p);
    exec_ok("CREATE TABLE %s_vdimok (id int PRIMARY KEY, v vector)", p);
    exec_ok("INSERT INTO %s_vdimok VALUES (1, '[1,2,3]'), (2, '[4,5,6]')", p);
    exec_ok("CREATE TABLE %s_pt (id int PRIMARY KEY, v vector(2), loc point)", p);
    exec_ok("CREATE TABLE %s_bit12 (id int PRIMARY KEY, flags bit(12))", p);
    exec_ok("CREATE TABLE %s_md (id int PRIMARY KEY, v vector(2), m int[][])", p);
    exec_ok("INSERT INTO %s_md VALUES (1, '[1,2]', '{{1,2},{3,4}}')", p);
    exec_ok("CREATE TABLE %s_nullv (id int PRIMARY KEY, v vector(2), t text)", p);
    exec_ok("INSERT INTO %s_nullv VALUES (1, '[1,2]', 'ab'), (2, NULL, 'cd')", p);
    exec_ok("CREATE TABLE %s_long (id int PRIMARY KEY, v vector(2) NOT NULL, t text)", p);
    exec_ok("INSERT INTO %s_long VALUES (1, '[1,2]', 'ab'), (2, '[3,4]', repeat('z', 200))", p);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!g)
        return 0;
    const char *sfx[] = {"all",   "skew", "nopk", "comp", "tpk",   "novec", "vdim",
                         "vdimok", "pt",  "bit12", "md",  "nullv", "long",  "empty",
                         "met",   "metl1", "metmulti"};
    int bad = 0;
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s_%s", g->p, sfx[i]);
        vm_err e;
        if (vm_pg_exec(g->conn, sql, 0, NULL, NULL, NULL, 0, NULL, &e) != 0) {
            fprintf(stderr, "cleanup: %s\n", e.msg);
            bad = 1;
        }
    }
    PQfinish(g->conn);
    free(g);
    g = NULL;
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------ helpers */

typedef struct plan_list {
    vm_task t[4096];
    size_t n;
} plan_list;

static int collect(void *ctx, const vm_task *t, vm_err *err)
{
    plan_list *pl = ctx;
    if (pl->n >= 4096)
        return vm_err_setc(err, VM_ERR_INTERNAL, "too many tasks");
    vm_task_init(&pl->t[pl->n]);
    int rc = vm_task_copy(&pl->t[pl->n], t, err);
    if (rc == VM_OK) {
        assert_int_equal(vm_task_validate(t, err), VM_OK);
        pl->n++;
    }
    return rc;
}

static void plan_free(plan_list *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        vm_task_release(&pl->t[i]);
    pl->n = 0;
}

static void plan_ok(vm_source *src, int64_t task_rows, plan_list *pl)
{
    vm_err e;
    vm_plan_opts o = {.job_id = "job-1", .task_rows = task_rows};
    pl->n = 0;
    if (vm_source_plan(src, &o, collect, pl, &e) != VM_OK)
        fail_msg("plan: %s", e.msg);
    assert_true(pl->n >= 1);
    /* contiguous, disjoint, ids 0..n-1, open at both ends */
    for (size_t i = 0; i < pl->n; i++) {
        const vm_task *t = &pl->t[i];
        assert_int_equal(t->id, i);
        assert_string_equal(t->job_id, "job-1");
        assert_null(t->scope);
        assert_int_equal(t->has_hi, i + 1 < pl->n);
        if (i + 1 < pl->n) {
            assert_true(pl->t[i + 1].has_lo);
            assert_int_equal(t->hi, pl->t[i + 1].lo);
        }
        if (t->kind == VM_RANGE_INT)
            assert_int_equal(t->has_lo, i > 0);
        else if (i == 0)
            assert_true(t->has_lo && t->lo == 0);
    }
}

/* Called for every row read. */
typedef void (*row_fn)(void *ctx, const vm_batch *b, size_t r);

/* Read every task of the plan in batches of `batch_rows`; in every task,
 * after `resume_after` batches, take the cursor, close and reopen there. */
static size_t read_all(vm_source *src, const vm_schema *schema, const plan_list *pl,
                       size_t batch_rows, int resume_after, row_fn fn, void *ctx)
{
    vm_err e;
    vm_schema *rs = vm_schema_new(schema->collection);
    for (size_t i = 0; i < schema->nfields; i++)
        if (!schema->fields[i].auto_id)
            assert_int_equal(vm_schema_add(rs, &schema->fields[i], &e), VM_OK);
    vm_batch *b = NULL;
    assert_int_equal(vm_batch_new(rs, batch_rows, &b, &e), VM_OK);
    size_t total = 0;
    for (size_t k = 0; k < pl->n; k++) {
        if (vm_source_open(src, &pl->t[k], NULL, &e) != VM_OK)
            fail_msg("open: %s", e.msg);
        char *cur = NULL;
        assert_int_equal(vm_source_cursor(src, &cur, &e), VM_OK);
        assert_string_equal(cur, "");
        vm_free(cur);
        int batches = 0;
        for (bool done = false; !done;) {
            vm_batch_clear(b);
            if (vm_source_read(src, b, batch_rows, &done, &e) != VM_OK)
                fail_msg("read task %zu: %s", k, e.msg);
            assert_true(b->nrows <= batch_rows);
            for (size_t r = 0; r < b->nrows; r++)
                fn(ctx, b, r);
            total += b->nrows;
            if (++batches == resume_after && !done) {
                assert_int_equal(vm_source_cursor(src, &cur, &e), VM_OK);
                assert_true(cur[0] != '\0');
                vm_source_close(src);
                if (vm_source_open(src, &pl->t[k], cur, &e) != VM_OK)
                    fail_msg("reopen at %s: %s", cur, e.msg);
                char *again = NULL;
                assert_int_equal(vm_source_cursor(src, &again, &e), VM_OK);
                assert_string_equal(again, cur); /* cursor given to open, before any read */
                vm_free(again);
                vm_free(cur);
            }
        }
        vm_source_close(src);
    }
    vm_batch_free(b);
    vm_schema_free(rs);
    return total;
}

static void one_line(const char *msg)
{
    assert_null(strchr(msg, '\n'));
    assert_true(strlen(msg) > 0);
}

static void expect_discover_error(const char *suffix, const char *extra, vm_code code,
                                  const char *needle1, const char *needle2)
{
    vm_source *src = NULL;
    vm_schema *s = NULL;
    vm_err e;
    assert_int_equal(new_src(suffix, extra, &src, &e), VM_OK);
    int rc = vm_source_discover(src, &s, &e);
    if (rc != (int)code)
        fail_msg("%s: expected %s, got %s: %s", suffix, vm_code_name(code),
                 vm_code_name((vm_code)rc), e.msg);
    assert_null(s);
    one_line(e.msg);
    if (!strstr(e.msg, needle1) || (needle2 && !strstr(e.msg, needle2)))
        fail_msg("%s: message lacks '%s'/'%s': %s", suffix, needle1, needle2 ? needle2 : "",
                 e.msg);
    vm_source_free(src);
}

/* --------------------------------------------------- the all-types table */

typedef struct exp_field {
    const char *name;
    vm_dtype type, elem;
    int64_t dim, max_length, max_capacity;
    bool primary, nullable;
} exp_field;

static const exp_field all_fields[] = {
    {"id", VM_T_INT64, 0, 0, 0, 0, true, false},
    {"i2", VM_T_INT16, 0, 0, 0, 0, false, true},
    {"i4", VM_T_INT32, 0, 0, 0, 0, false, true},
    {"i8", VM_T_INT64, 0, 0, 0, 0, false, false},
    {"f4", VM_T_FLOAT, 0, 0, 0, 0, false, true},
    {"f8", VM_T_DOUBLE, 0, 0, 0, 0, false, true},
    {"b", VM_T_BOOL, 0, 0, 0, 0, false, true},
    {"t", VM_T_VARCHAR, 0, 0, 200, 0, false, true}, /* 50 x 'é' = 100 bytes, x 2 */
    {"vc", VM_T_VARCHAR, 0, 0, 40, 0, false, true}, /* varchar(10) x 4 (UTF8) */
    {"bp", VM_T_VARCHAR, 0, 0, 20, 0, false, true},
    {"nm", VM_T_VARCHAR, 0, 0, 63, 0, false, true},
    {"j", VM_T_JSON, 0, 0, 0, 0, false, true},
    {"jb", VM_T_JSON, 0, 0, 0, 0, false, true},
    {"ai", VM_T_ARRAY, VM_T_INT32, 0, 0, 6, false, true},
    {"at", VM_T_ARRAY, VM_T_VARCHAR, 0, 64, 4, false, true},
    {"af", VM_T_ARRAY, VM_T_DOUBLE, 0, 0, 4, false, true},
    {"ab", VM_T_ARRAY, VM_T_BOOL, 0, 0, 4, false, true},
    {"u", VM_T_VARCHAR, 0, 0, 36, 0, false, true},
    {"ts", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
    {"tstz", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
    {"d", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
    {"tm", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
    {"iv", VM_T_VARCHAR, 0, 0, 128, 0, false, true},
    {"num", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
    {"num2", VM_T_VARCHAR, 0, 0, 15, 0, false, true},
    {"v", VM_T_FLOAT_VECTOR, 0, 3, 0, 0, false, false},
    {"h", VM_T_FLOAT16_VECTOR, 0, 4, 0, 0, false, false},
    {"s", VM_T_SPARSE_FLOAT_VECTOR, 0, 0, 0, 0, false, false},
    {"bt", VM_T_BINARY_VECTOR, 0, 16, 0, 0, false, false},
};
#define NALLF (sizeof all_fields / sizeof all_fields[0])

/* Expected text of each scalar column, as PostgreSQL prints it. */
static const char *const all_exprs[NALLF] = {
    "id", "i2::text", "i4::text", "i8::text", "f4::text", "f8::text", "b::text", "t",
    "vc", "bp", "nm::text", "j::text", "jb::text", "array_to_json(ai)::text",
    "array_to_json(at)::text", "array_to_json(af)::text", "array_to_json(ab)::text", "u::text",
    "ts::text", "tstz::text", "d::text", "tm::text", "iv::text", "num::text", "num2::text",
    "v::text", "h::text", "s::text", "bt::text"};

static void check_schema(const vm_schema *s, const exp_field *ef, size_t n)
{
    assert_int_equal(s->nfields, n);
    for (size_t i = 0; i < n; i++) {
        const vm_field *f = &s->fields[i];
        if (strcmp(f->name, ef[i].name) != 0 || f->type != ef[i].type ||
            f->element_type != ef[i].elem || f->dim != ef[i].dim ||
            f->max_length != ef[i].max_length || f->max_capacity != ef[i].max_capacity ||
            f->primary != ef[i].primary || f->nullable != ef[i].nullable)
            fail_msg("field %zu: got %s %s<%s> dim %lld len %lld cap %lld pk %d null %d; "
                     "expected %s %s<%s> dim %lld len %lld cap %lld pk %d null %d",
                     i, f->name, vm_dtype_name(f->type),
                     f->element_type ? vm_dtype_name(f->element_type) : "",
                     (long long)f->dim, (long long)f->max_length, (long long)f->max_capacity,
                     f->primary, f->nullable, ef[i].name, vm_dtype_name(ef[i].type),
                     ef[i].elem ? vm_dtype_name(ef[i].elem) : "", (long long)ef[i].dim,
                     (long long)ef[i].max_length, (long long)ef[i].max_capacity,
                     ef[i].primary, ef[i].nullable);
        assert_non_null(f->description);
        assert_true(strstr(f->description, "PostgreSQL ") || f->auto_id ||
                    strncmp(f->name, "pg_ctid", 7) == 0);
    }
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint16_t half_of(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, sizeof u);
    return u;
}

/* "[1,2.5,-3]" -> floats (pgvector prints the shortest exact decimal). */
static size_t parse_vec(const char *s, float *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(*s, '[');
    s++;
    while (*s && *s != ']') {
        char *end;
        float f = strtof(s, &end);
        assert_true(end != s);
        assert_true(n < cap);
        out[n++] = f;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

typedef struct all_ctx {
    PGresult *exp;        /* rows ordered by id, columns as all_exprs */
    int seen[NALL + 1];
    bool half_as_float;
} all_ctx;

static void all_row(void *vctx, const vm_batch *b, size_t r)
{
    all_ctx *c = vctx;
    int id = (int)vm_batch_get_int(b, 0, r);
    assert_true(id >= 1 && id <= NALL);
    c->seen[id]++;
    int pr = id - 1;
    for (size_t k = 1; k < NALLF; k++) {
        const char *name = all_fields[k].name;
        int col = vm_batch_col(b, name);
        assert_true(col >= 0);
        bool null = PQgetisnull(c->exp, pr, (int)k);
        if (vm_batch_is_null(b, (size_t)col, r) != null)
            fail_msg("row %d column %s: null %d, expected %d", id, name,
                     vm_batch_is_null(b, (size_t)col, r), null);
        if (null)
            continue;
        const char *x = PQgetvalue(c->exp, pr, (int)k);
        size_t len;
        const char *got;
        switch (b->cols[col].type) {
        case VM_T_INT16:
        case VM_T_INT32:
        case VM_T_INT64:
            assert_int_equal(vm_batch_get_int(b, (size_t)col, r), strtoll(x, NULL, 10));
            break;
        case VM_T_FLOAT:
            assert_int_equal(fbits((float)vm_batch_get_double(b, (size_t)col, r)),
                             fbits(strtof(x, NULL)));
            break;
        case VM_T_DOUBLE:
            assert_int_equal(dbits(vm_batch_get_double(b, (size_t)col, r)),
                             dbits(strtod(x, NULL)));
            break;
        case VM_T_BOOL:
            assert_int_equal(vm_batch_get_bool(b, (size_t)col, r), x[0] == 't');
            break;
        case VM_T_VARCHAR:
        case VM_T_JSON:
        case VM_T_ARRAY:
            got = vm_batch_get_str(b, (size_t)col, r, &len);
            if (len != strlen(x) || memcmp(got, x, len) != 0)
                fail_msg("row %d column %s: '%.*s', expected '%s'", id, name, (int)len, got, x);
            break;
        case VM_T_FLOAT_VECTOR: {
            float want[8];
            size_t n = parse_vec(x, want, 8);
            assert_int_equal(n, b->cols[col].dim);
            const float *v = vm_batch_get_vector(b, (size_t)col, r);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(fbits(v[i]), fbits(want[i]));
            break;
        }
        case VM_T_FLOAT16_VECTOR: {
            float want[8];
            size_t n = parse_vec(x, want, 8);
            assert_int_equal(n, 4);
            const uint16_t *v = vm_batch_get_vector(b, (size_t)col, r);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(v[i], half_of(want[i]));
            break;
        }
        case VM_T_SPARSE_FLOAT_VECTOR: {
            /* text "{3:0.5,10:-1.5}/10" is 1-based; the batch is 0-based */
            const uint32_t *idx;
            const float *val;
            size_t nnz = vm_batch_get_sparse(b, (size_t)col, r, &idx, &val);
            const char *s = x + 1;
            size_t n = 0;
            while (*s != '}') {
                char *end;
                long i1 = strtol(s, &end, 10);
                assert_int_equal(*end, ':');
                float f = strtof(end + 1, &end);
                assert_true(n < nnz);
                assert_int_equal(idx[n], i1 - 1);
                assert_int_equal(fbits(val[n]), fbits(f));
                n++;
                s = *end == ',' ? end + 1 : end;
            }
            assert_int_equal(n, nnz);
            break;
        }
        case VM_T_BINARY_VECTOR: {
            const uint8_t *v = vm_batch_get_vector(b, (size_t)col, r);
            assert_int_equal(strlen(x), 16);
            for (int i = 0; i < 16; i++)
                assert_int_equal((v[i / 8] >> (7 - i % 8)) & 1, x[i] - '0');
            break;
        }
        default: fail_msg("unexpected type");
        }
    }
    if (c->half_as_float) {
        int col = vm_batch_col(b, "h");
        assert_int_equal(b->cols[col].type, VM_T_FLOAT_VECTOR);
    }
}

static PGresult *all_expected(void)
{
    char sel[2048] = "";
    size_t w = 0;
    for (size_t k = 0; k < NALLF; k++)
        w += (size_t)snprintf(sel + w, sizeof sel - w, "%s%s", k ? ", " : "", all_exprs[k]);
    return query_ok("SELECT %s FROM %s_all ORDER BY id", sel, g->p);
}

static void test_all_types(void **st)
{
    (void)st;
    vm_source *src = NULL;
    vm_schema *s = NULL;
    vm_err e;
    assert_int_equal(new_src("all", "{\"collection\": \"items_all\"}", &src, &e), VM_OK);
    if (vm_source_discover(src, &s, &e) != VM_OK)
        fail_msg("discover: %s", e.msg);
    assert_string_equal(s->collection, "items_all");
    check_schema(s, all_fields, NALLF);
    if (vm_schema_validate(s, &e) != VM_OK)
        fail_msg("validate: %s", e.msg);
    assert_non_null(strstr(s->fields[0].description, "promoted to Int64"));

    /* native types */
    vm_pgvector_column *cols;
    size_t n;
    assert_int_equal(vm_pgvector_describe_columns(src, &cols, &n, &e), VM_OK);
    assert_int_equal(n, NALLF);
    assert_string_equal(cols[8].native_type, "character varying(10)");
    assert_string_equal(cols[25].native_type, "vector(3)");
    assert_string_equal(cols[13].typname, "int4");
    assert_true(cols[13].is_array);
    vm_free(cols);

    int64_t rows;
    assert_int_equal(vm_source_count(src, &rows, &e), VM_OK);
    assert_int_equal(rows, NALL);

    plan_list *pl = calloc(1, sizeof *pl);
    plan_ok(src, 10, pl);
    /* reltuples after CREATE + INSERT without ANALYZE is -1 -> count(*): 4 tasks */
    assert_int_equal(pl->t[0].kind, VM_RANGE_INT);
    assert_int_equal(pl->n, 4);

    all_ctx *c = calloc(1, sizeof *c);
    c->exp = all_expected();
    assert_int_equal(PQntuples(c->exp), NALL);
    size_t total = read_all(src, s, pl, 7, 1, all_row, c);
    assert_int_equal(total, NALL);
    for (int i = 1; i <= NALL; i++)
        assert_int_equal(c->seen[i], 1);

    /* the ISO/UTC session settings: tstz of row 1 is 2024-01-02 02:04:05 UTC */
    int tcol = 19;
    assert_string_equal(PQgetvalue(c->exp, 0, tcol), "2024-01-02 02:04:05+00");
    plan_free(pl);
    vm_schema_free(s);
    vm_source_free(src);

    /* halfvec_as: float -> FloatVector, converted exactly */
    assert_int_equal(new_src("all", "{\"halfvec_as\": \"float\"}", &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const vm_field *h = vm_schema_find(s, "h");
    assert_int_equal(h->type, VM_T_FLOAT_VECTOR);
    assert_int_equal(h->dim, 4);
    plan_ok(src, 1000, pl);
    vm_schema *rs = vm_schema_new("x");
    assert_int_equal(vm_schema_add(rs, vm_schema_find(s, "id"), &e), VM_OK);
    assert_int_equal(vm_schema_add(rs, h, &e), VM_OK);
    /* a mapping that changed a type: i4 read as VarChar (col::text) */
    vm_field i4v = {.name = "i4", .type = VM_T_VARCHAR, .max_length = 20, .nullable = true};
    assert_int_equal(vm_schema_add(rs, &i4v, &e), VM_OK);
    vm_batch *b;
    assert_int_equal(vm_batch_new(rs, 64, &b, &e), VM_OK);
    assert_int_equal(vm_source_open(src, &pl->t[0], NULL, &e), VM_OK);
    bool done = false;
    assert_int_equal(vm_source_read(src, b, 64, &done, &e), VM_OK);
    assert_true(done);
    assert_int_equal(b->nrows, NALL);
    for (size_t r = 0; r < b->nrows; r++) {
        int id = (int)vm_batch_get_int(b, 0, r);
        float want[4];
        parse_vec(PQgetvalue(c->exp, id - 1, 26), want, 4);
        const float *v = vm_batch_get_vector(b, 1, r);
        for (int i = 0; i < 4; i++) {
            uint16_t hb = half_of(want[i]);
            assert_int_equal(fbits(v[i]), fbits(vm_pg_half_to_float(hb)));
        }
        size_t len;
        const char *t = vm_batch_get_str(b, 2, r, &len);
        if (id % 5 == 0) {
            assert_true(vm_batch_is_null(b, 2, r));
        } else {
            char want_t[32];
            snprintf(want_t, sizeof want_t, "%d", id * 100000);
            assert_int_equal(len, strlen(want_t));
            assert_memory_equal(t, want_t, len);
        }
    }
    char *cur;
    assert_int_equal(vm_source_cursor(src, &cur, &e), VM_OK);
    assert_string_equal(cur, "40");
    vm_free(cur);
    vm_source_close(src);
    /* a batch field that is no column */
    vm_field ghost = {.name = "ghost", .type = VM_T_INT64};
    assert_int_equal(vm_schema_add(rs, &ghost, &e), VM_OK);
    vm_batch_free(b);
    assert_int_equal(vm_batch_new(rs, 8, &b, &e), VM_OK);
    assert_int_equal(vm_source_open(src, &pl->t[0], NULL, &e), VM_OK);
    assert_int_equal(vm_source_read(src, b, 8, &done, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "'ghost'"));
    one_line(e.msg);
    vm_source_close(src);
    vm_batch_free(b);
    vm_schema_free(rs);

    PQclear(c->exp);
    free(c);
    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);
}

/* ------------------------------------------------------- skewed int key */

typedef struct id_ctx {
    int64_t *ids;
    size_t n, cap;
} id_ctx;

static void id_row(void *vctx, const vm_batch *b, size_t r)
{
    id_ctx *c = vctx;
    assert_true(c->n < c->cap);
    c->ids[c->n++] = vm_batch_get_int(b, 0, r);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The ids read must be exactly the ids of the table (sorted compare). */
static void check_ids(id_ctx *c, const char *suffix)
{
    PGresult *r = query_ok("SELECT id FROM %s_%s ORDER BY id", g->p, suffix);
    assert_int_equal((size_t)PQntuples(r), c->n);
    qsort(c->ids, c->n, sizeof *c->ids, cmp64);
    for (size_t i = 0; i < c->n; i++) {
        if (c->ids[i] != strtoll(PQgetvalue(r, (int)i, 0), NULL, 10))
            fail_msg("row %zu: read %lld, table has %s", i, (long long)c->ids[i],
                     PQgetvalue(r, (int)i, 0));
    }
    PQclear(r);
}

static void test_skewed_int_pk(void **st)
{
    (void)st;
    vm_source *src = NULL;
    vm_schema *s = NULL;
    vm_err e;
    assert_int_equal(new_src("skew", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const exp_field ef[] = {{"id", VM_T_INT64, 0, 0, 0, 0, true, false},
                            {"v", VM_T_FLOAT_VECTOR, 0, 2, 0, 0, false, false}};
    check_schema(s, ef, 2);

    plan_list *pl = calloc(1, sizeof *pl);
    const int64_t task_rows = 2000;
    plan_ok(src, task_rows, pl);
    assert_int_equal(pl->t[0].kind, VM_RANGE_INT);
    assert_int_equal(pl->n, NSKEW / task_rows);
    /* balance: every task within +-50% of task_rows (a uniform split over
     * [1, 10^9] would put all of the dense half in the first task) */
    for (size_t i = 0; i < pl->n; i++) {
        const vm_task *t = &pl->t[i];
        char w[128] = "true";
        if (t->has_lo && t->has_hi)
            snprintf(w, sizeof w, "id >= %lld AND id < %lld", (long long)t->lo, (long long)t->hi);
        else if (t->has_lo)
            snprintf(w, sizeof w, "id >= %lld", (long long)t->lo);
        else if (t->has_hi)
            snprintf(w, sizeof w, "id < %lld", (long long)t->hi);
        PGresult *r = query_ok("SELECT count(*) FROM %s_skew WHERE %s", g->p, w);
        long long cnt = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (cnt < task_rows / 2 || cnt > task_rows * 3 / 2)
            fail_msg("task %zu (%s) has %lld rows, outside [%lld, %lld]", i, w, cnt,
                     (long long)task_rows / 2, (long long)task_rows * 3 / 2);
        assert_true(t->est_rows > 0);
    }

    /* the page query follows the key's index: no Sort, no Seq Scan */
    PGresult *ex = query_ok("EXPLAIN SELECT \"id\", \"v\" FROM %s_skew WHERE \"id\" >= "
                            "$$1000$$::int8 AND \"id\" < $$90000$$::int8 AND \"id\" > "
                            "$$1500$$::int8 ORDER BY 1 LIMIT 7",
                            g->p);
    bool idx = false;
    for (int i = 0; i < PQntuples(ex); i++) {
        const char *line = PQgetvalue(ex, i, 0);
        assert_null(strstr(line, "Seq Scan"));
        assert_null(strstr(line, "Sort"));
        if (strstr(line, "Index Scan") || strstr(line, "Index Only Scan"))
            idx = true;
    }
    assert_true(idx);
    PQclear(ex);

    id_ctx c = {.ids = calloc(NSKEW, sizeof(int64_t)), .cap = NSKEW};
    size_t total = read_all(src, s, pl, 500, 2, id_row, &c);
    assert_int_equal(total, NSKEW);
    check_ids(&c, "skew");
    free(c.ids);

    /* rows added outside [min, max] after planning are still covered */
    exec_ok("INSERT INTO %s_skew VALUES (-5, '[1,1]'), (5000000000, '[2,2]')", g->p);
    c = (id_ctx){.ids = calloc(NSKEW + 2, sizeof(int64_t)), .cap = NSKEW + 2};
    assert_int_equal(read_all(src, s, pl, 4000, 0, id_row, &c), NSKEW + 2);
    check_ids(&c, "skew");
    free(c.ids);

    /* split: ctid works on an int key table too */
    vm_source *s2;
    assert_int_equal(new_src("skew", "{\"split\": \"ctid\"}", &s2, &e), VM_OK);
    plan_list *p2 = calloc(1, sizeof *p2);
    plan_ok(s2, 5000, p2);
    assert_int_equal(p2->t[0].kind, VM_RANGE_CTID);
    assert_true(p2->n >= 3);
    c = (id_ctx){.ids = calloc(NSKEW + 2, sizeof(int64_t)), .cap = NSKEW + 2};
    assert_int_equal(read_all(s2, s, p2, 333, 3, id_row, &c), NSKEW + 2);
    check_ids(&c, "skew");
    free(c.ids);
    plan_free(p2);
    free(p2);
    vm_source_free(s2);

    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);
}

/* -------------------------------------------------------- ctid tables */

typedef struct ctid_ctx {
    int64_t *keys;
    size_t n, cap;
    int ctid_col, a_col;
} ctid_ctx;

static void ctid_row(void *vctx, const vm_batch *b, size_t r)
{
    ctid_ctx *c = vctx;
    assert_true(c->n < c->cap);
    int64_t key = vm_batch_get_int(b, (size_t)c->ctid_col, r);
    c->keys[c->n++] = key;
    /* the vector matches the row: v = [a, 0.5] */
    const float *v = vm_batch_get_vector(b, (size_t)vm_batch_col(b, "v"), r);
    assert_int_equal(fbits(v[0]), fbits((float)vm_batch_get_int(b, (size_t)c->a_col, r)));
    assert_int_equal(fbits(v[1]), fbits(0.5f));
}

static void test_no_pk_ctid(void **st)
{
    (void)st;
    vm_source *src = NULL;
    vm_schema *s = NULL;
    vm_err e;
    assert_int_equal(new_src("nopk", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const exp_field ef[] = {{"id_1", VM_T_INT64, 0, 0, 0, 0, true, false},
                            {"id", VM_T_VARCHAR, 0, 0, 64, 0, false, true},
                            {"a", VM_T_INT32, 0, 0, 0, 0, false, false},
                            {"pad", VM_T_VARCHAR, 0, 0, 400, 0, false, true},
                            {"v", VM_T_FLOAT_VECTOR, 0, 2, 0, 0, false, false},
                            {"pg_ctid", VM_T_INT64, 0, 0, 0, 0, false, false}};
    check_schema(s, ef, 6);
    assert_true(s->fields[0].auto_id);
    assert_int_equal(vm_schema_validate(s, &e), VM_OK);

    plan_list *pl = calloc(1, sizeof *pl);
    plan_ok(src, 300, pl);
    assert_int_equal(pl->t[0].kind, VM_RANGE_CTID);
    assert_true(pl->n >= 4);

    PGresult *r = query_ok("SELECT (ctid::text::point)[0]::int8 * 65536 + "
                           "(ctid::text::point)[1]::int8 FROM %s_nopk ORDER BY 1",
                           g->p);
    size_t nrows = (size_t)PQntuples(r);
    assert_int_equal(nrows, NNOPK - NNOPK / 3);
    ctid_ctx c = {.keys = calloc(nrows, sizeof(int64_t)), .cap = nrows,
                  .ctid_col = 4, .a_col = 1}; /* read schema: id, a, pad, v, pg_ctid */
    assert_int_equal(read_all(src, s, pl, 7, 3, ctid_row, &c), nrows);
    qsort(c.keys, c.n, sizeof *c.keys, cmp64);
    for (size_t i = 0; i < nrows; i++)
        assert_int_equal(c.keys[i], strtoll(PQgetvalue(r, (int)i, 0), NULL, 10));
    PQclear(r);
    free(c.keys);

    /* resume filter for autoID targets: rows after the cursor, inside the task */
    char *f = NULL;
    assert_int_equal(vm_source_resume_filter(src, &pl->t[1], "(7,5)", NULL, &f, &e), VM_OK);
    char want[128];
    long long lo1 = pl->t[1].lo * 65536 > 7LL * 65536 + 6 ? pl->t[1].lo * 65536 : 7LL * 65536 + 6;
    snprintf(want, sizeof want, "pg_ctid >= %lld and pg_ctid < %lld", lo1,
             (long long)pl->t[1].hi * 65536);
    assert_string_equal(f, want);
    vm_free(f);
    assert_int_equal(vm_source_resume_filter(src, &pl->t[pl->n - 1], NULL, NULL, &f, &e), VM_OK);
    snprintf(want, sizeof want, "pg_ctid >= %lld", (long long)pl->t[pl->n - 1].lo * 65536);
    assert_string_equal(f, want);
    vm_free(f);

    /* the page query is a TID Range Scan, never a sequential scan */
    r = query_ok("EXPLAIN SELECT ctid, a FROM %s_nopk WHERE ctid > '(3,65535)'::tid AND "
                 "ctid < '(9,0)'::tid ORDER BY ctid LIMIT 7",
                 g->p);
    bool tidscan = false;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *line = PQgetvalue(r, i, 0);
        assert_null(strstr(line, "Seq Scan"));
        if (strstr(line, "Tid Range Scan"))
            tidscan = true;
    }
    assert_true(tidscan);
    PQclear(r);

    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);

    /* an empty table: one open task; reading it returns nothing */
    exec_ok("CREATE TABLE %s_empty (v vector(2))", g->p);
    assert_int_equal(new_src("empty", NULL, &src, &e), VM_OK);
    plan_ok(src, 100, pl = calloc(1, sizeof *pl));
    assert_int_equal(pl->n, 1);
    assert_false(pl->t[0].has_hi);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    c = (ctid_ctx){.keys = NULL, .cap = 0};
    assert_int_equal(read_all(src, s, pl, 7, 0, ctid_row, &c), 0);
    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);
    exec_ok("DROP TABLE %s_empty", g->p);
}

typedef struct str_ctx {
    char **keys;
    size_t n, cap;
} str_ctx;

static void str_row(void *vctx, const vm_batch *b, size_t r)
{
    str_ctx *c = vctx;
    size_t len;
    const char *k = vm_batch_get_str(b, 0, r, &len);
    assert_true(c->n < c->cap);
    c->keys[c->n++] = strndup(k, len);
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_composite_and_text_pk(void **st)
{
    (void)st;
    vm_source *src = NULL;
    vm_schema *s = NULL;
    vm_err e;
    assert_int_equal(new_src("comp", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const exp_field ef[] = {{"id", VM_T_INT64, 0, 0, 0, 0, true, false},
                            {"a", VM_T_INT32, 0, 0, 0, 0, false, false},
                            {"b", VM_T_INT32, 0, 0, 0, 0, false, false},
                            {"v", VM_T_FLOAT_VECTOR, 0, 2, 0, 0, false, false},
                            {"pg_ctid", VM_T_INT64, 0, 0, 0, 0, false, false}};
    check_schema(s, ef, 5);
    assert_true(s->fields[0].auto_id);
    plan_list *pl = calloc(1, sizeof *pl);
    plan_ok(src, 10, pl);
    assert_int_equal(pl->t[0].kind, VM_RANGE_CTID);
    ctid_ctx cc = {.keys = calloc(50, sizeof(int64_t)), .cap = 50, .ctid_col = 3, .a_col = -1};
    /* count only; values checked elsewhere */
    vm_schema *rs = vm_schema_new("x");
    assert_int_equal(vm_schema_add(rs, vm_schema_find(s, "pg_ctid"), &e), VM_OK);
    vm_batch *b;
    assert_int_equal(vm_batch_new(rs, 7, &b, &e), VM_OK);
    size_t total = 0;
    for (size_t i = 0; i < pl->n; i++) {
        assert_int_equal(vm_source_open(src, &pl->t[i], NULL, &e), VM_OK);
        for (bool done = false; !done;) {
            vm_batch_clear(b);
            assert_int_equal(vm_source_read(src, b, 7, &done, &e), VM_OK);
            total += b->nrows;
        }
        vm_source_close(src);
    }
    assert_int_equal(total, 50);
    vm_batch_free(b);
    vm_schema_free(rs);
    free(cc.keys);
    plan_free(pl);
    vm_schema_free(s);
    vm_source_free(src);

    assert_int_equal(new_src("tpk", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const exp_field et[] = {{"k", VM_T_VARCHAR, 0, 0, 64, 0, true, false},
                            {"v", VM_T_FLOAT_VECTOR, 0, 2, 0, 0, false, false}};
    check_schema(s, et, 2);
    assert_int_equal(vm_schema_validate(s, &e), VM_OK);
    plan_ok(src, 10, pl);
    assert_int_equal(pl->t[0].kind, VM_RANGE_CTID);
    str_ctx sc = {.keys = calloc(60, sizeof(char *)), .cap = 60};
    assert_int_equal(read_all(src, s, pl, 7, 2, str_row, &sc), 60);
    qsort(sc.keys, sc.n, sizeof *sc.keys, cmpstr);
    PGresult *r = query_ok("SELECT k FROM %s_tpk ORDER BY k COLLATE \"C\"", g->p);
    for (size_t i = 0; i < 60; i++) {
        assert_string_equal(sc.keys[i], PQgetvalue(r, (int)i, 0));
        free(sc.keys[i]);
    }
    PQclear(r);
    free(sc.keys);
    /* no pg_ctid here: an autoID resume has nothing to delete by */
    char *f = NULL;
    assert_int_equal(vm_source_resume_filter(src, &pl->t[0], NULL, NULL, &f, &e), VM_ERR_UNSUPPORTED);
    /* split: pk needs an integer key */
    vm_source *s2;
    assert_int_equal(new_src("tpk", "{\"split\": \"pk\"}", &s2, &e), VM_OK);
    vm_plan_opts o = {.job_id = "j", .task_rows = 10};
    plan_list *p2 = calloc(1, sizeof *p2);
    assert_int_equal(vm_source_plan(s2, &o, collect, p2, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "split: pk"));
    free(p2);
    vm_source_free(s2);
    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);
}

/* -------------------------------------------------------------- errors */

static void test_discover_errors(void **st)
{
    (void)st;
    char name[128];
    snprintf(name, sizeof name, "%s_missing", g->p);
    expect_discover_error("missing", NULL, VM_ERR_NOT_FOUND, name, "does not exist");
    expect_discover_error("novec", NULL, VM_ERR_INVALID,
                          "has no vector column (vector, halfvec, sparsevec or bit)", "_novec");
    expect_discover_error("vdim", NULL, VM_ERR_INVALID, "column 'v'", "dims seen: 2,3");

    expect_discover_error("bit12", NULL, VM_ERR_INVALID, "column 'flags'", "multiple of 8");
    expect_discover_error("md", NULL, VM_ERR_UNSUPPORTED, "column 'm'", "multi-dimensional");

    /* a vector without dimension whose rows agree */
    vm_source *src;
    vm_schema *s;
    vm_err e;
    assert_int_equal(new_src("vdimok", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    assert_int_equal(vm_schema_find(s, "v")->dim, 3);
    vm_schema_free(s);
    vm_source_free(src);

    /* a type without a Milvus counterpart: its text form, marked for the
     * mapping to refuse until it is dropped or typed */
    assert_int_equal(new_src("pt", NULL, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    const vm_field *loc = vm_schema_find(s, "loc");
    assert_non_null(loc);
    assert_true(loc->unsupported);
    assert_int_equal(loc->type, VM_T_VARCHAR);
    assert_false(vm_schema_find(s, "v")->unsupported);
    vm_schema_free(s);
    vm_source_free(src);

    /* credentials: pg_hba is trust here, so an unknown role stands in for a
     * wrong password; the password in the dsn never shows */
    char dsn[512];
    snprintf(dsn, sizeof dsn, "%s user=vm_nouser_%ld password=Sekret-PW-9731", g->dsn,
             (long)getpid());
    char table[128];
    snprintf(table, sizeof table, "%s_all", g->p);
    json_t *conf = json_pack("{s:s, s:s}", "dsn", dsn, "table", table);
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_OK);
    json_decref(conf);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_ERR_AUTH);
    assert_false(e.retriable);
    one_line(e.msg);
    assert_null(strstr(e.msg, "Sekret-PW-9731"));
    assert_non_null(strstr(e.msg, "vm_nouser_"));
    vm_source_free(src);

    /* the same through the `password` key (appended to a key=value dsn) */
    snprintf(dsn, sizeof dsn, "%s user=vm_nouser_%ld", g->dsn, (long)getpid());
    conf = json_pack("{s:s, s:s, s:s}", "dsn", dsn, "password", "An0ther'Pw\\x", "table",
                     table);
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_OK);
    json_decref(conf);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_ERR_AUTH);
    one_line(e.msg);
    assert_null(strstr(e.msg, "An0ther"));
    vm_source_free(src);

    /* a URI dsn with a password of special characters connects (trust) */
    PQconninfoOption *opts = PQconninfoParse(g->dsn, NULL);
    const char *host = "127.0.0.1", *port = "5432", *user = "postgres", *db = "postgres";
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
    }
    snprintf(dsn, sizeof dsn, "postgresql://%s@%s:%s/%s?application_name=t", user, host, port,
             db);
    PQconninfoFree(opts);
    conf = json_pack("{s:s, s:s, s:s}", "dsn", dsn, "password", "p@ss w'rd&x=1", "table", table);
    assert_int_equal(vm_source_new("pgvector", conf, &src, &e), VM_OK);
    json_decref(conf);
    if (vm_source_discover(src, &s, &e) != VM_OK)
        fail_msg("URI dsn: %s", e.msg);
    vm_schema_free(s);
    vm_source_free(src);
}

static void read_expect_error(const char *suffix, const char *extra, const char *n1,
                              const char *n2)
{
    vm_source *src;
    vm_schema *s;
    vm_err e;
    assert_int_equal(new_src(suffix, extra, &src, &e), VM_OK);
    assert_int_equal(vm_source_discover(src, &s, &e), VM_OK);
    plan_list *pl = calloc(1, sizeof *pl);
    plan_ok(src, 100, pl);
    vm_batch *b;
    assert_int_equal(vm_batch_new(s, 8, &b, &e), VM_OK);
    assert_int_equal(vm_source_open(src, &pl->t[0], NULL, &e), VM_OK);
    bool done;
    assert_int_equal(vm_source_read(src, b, 8, &done, &e), VM_ERR_INVALID);
    one_line(e.msg);
    if (!strstr(e.msg, n1) || !strstr(e.msg, n2))
        fail_msg("%s: message lacks '%s'/'%s': %s", suffix, n1, n2, e.msg);
    assert_int_equal(b->nrows, 1); /* the good row before it; the bad one dropped */
    vm_source_close(src);
    vm_batch_free(b);
    plan_free(pl);
    free(pl);
    vm_schema_free(s);
    vm_source_free(src);
}

static void test_read_errors(void **st)
{
    (void)st;
    /* a NULL vector: the field is not nullable in Milvus */
    read_expect_error("nullv", NULL, "column 'v' is NULL", "id = 2");
    /* a text longer than the max_length discovered from a 1-row sample */
    read_expect_error("long", "{\"sample_rows\": 1}", "column 't'", "max_length 64");
}

/* --------------------------------------------------------- metrics */

static const char *metric_of(const vm_schema *s, const char *field)
{
    const vm_field *f = vm_schema_find(s, field);
    if (!f)
        fail_msg("no field '%s'", field);
    return f->metric;
}

static void expect_metric(const vm_schema *s, const char *field, const char *want)
{
    const char *got = metric_of(s, field);
    if (want == NULL ? got != NULL : (got == NULL || strcmp(got, want) != 0))
        fail_msg("field '%s': metric %s, want %s", field, got ? got : "NULL",
                 want ? want : "NULL");
}

static vm_schema *discover_ok(const char *suffix)
{
    vm_source *src;
    vm_schema *s;
    vm_err e;
    if (new_src(suffix, NULL, &src, &e) != VM_OK || vm_source_discover(src, &s, &e) != VM_OK)
        fail_msg("%s: %s", suffix, e.msg);
    vm_source_free(src);
    return s;
}

/* vm_field.metric from the pgvector index operator class, for every vector
 * type; L1 has no Milvus metric (NULL, noted); several indexes of different
 * metrics: the oldest wins, noted; no index: NULL. */
static void test_metrics(void **st)
{
    (void)st;
    const char *p = g->p;
    exec_ok("CREATE TABLE %s_met (id int PRIMARY KEY, v vector(3), h halfvec(3), "
            "s sparsevec(5), b bit(8), j bit(8), n vector(3), e vector(3))",
            p);
    exec_ok("CREATE INDEX %s_met_v ON %s_met USING hnsw (v vector_ip_ops)", p, p);
    exec_ok("CREATE INDEX %s_met_h ON %s_met USING hnsw (h halfvec_l2_ops)", p, p);
    exec_ok("CREATE INDEX %s_met_s ON %s_met USING hnsw (s sparsevec_cosine_ops)", p, p);
    exec_ok("CREATE INDEX %s_met_b ON %s_met USING hnsw (b bit_hamming_ops)", p, p);
    exec_ok("CREATE INDEX %s_met_j ON %s_met USING ivfflat (j bit_hamming_ops)", p, p);
    exec_ok("DROP INDEX %s_met_j", p); /* a dropped index leaves no trace */
    exec_ok("CREATE INDEX %s_met_j2 ON %s_met USING hnsw (j bit_jaccard_ops)", p, p);
    /* a btree index on a vector column's neighbour is no vector index */
    exec_ok("CREATE INDEX %s_met_id ON %s_met (id) INCLUDE (e)", p, p);
    exec_ok("CREATE TABLE %s_metl1 (id int PRIMARY KEY, v vector(3))", p);
    exec_ok("CREATE INDEX %s_metl1_v ON %s_metl1 USING hnsw (v vector_l1_ops)", p, p);
    exec_ok("CREATE TABLE %s_metmulti (id int PRIMARY KEY, v vector(3), w vector(3))", p);
    exec_ok("CREATE INDEX %s_mm_v1 ON %s_metmulti USING ivfflat (v vector_cosine_ops)", p, p);
    exec_ok("CREATE INDEX %s_mm_v2 ON %s_metmulti USING hnsw (v vector_l2_ops)", p, p);
    exec_ok("CREATE INDEX %s_mm_w1 ON %s_metmulti USING hnsw (w vector_l2_ops)", p, p);
    exec_ok("CREATE INDEX %s_mm_w2 ON %s_metmulti USING ivfflat (w vector_l2_ops)", p, p);

    vm_schema *s = discover_ok("met");
    expect_metric(s, "v", "IP");
    expect_metric(s, "h", "L2");
    expect_metric(s, "s", "COSINE");
    expect_metric(s, "b", "HAMMING");
    expect_metric(s, "j", "JACCARD");
    expect_metric(s, "n", NULL);
    expect_metric(s, "e", NULL);
    expect_metric(s, "id", NULL);
    assert_null(strstr(vm_schema_find(s, "v")->description, "several"));
    vm_schema_free(s);

    s = discover_ok("metl1");
    expect_metric(s, "v", NULL);
    const char *d = vm_schema_find(s, "v")->description;
    if (!d || !strstr(d, "index uses L1, which Milvus does not have"))
        fail_msg("description of 'v': %s", d ? d : "NULL");
    one_line(d);
    vm_schema_free(s);

    s = discover_ok("metmulti");
    expect_metric(s, "v", "COSINE"); /* the older index */
    d = vm_schema_find(s, "v")->description;
    if (!d || !strstr(d, "several indexes with different metrics") ||
        !strstr(d, "vector_cosine_ops"))
        fail_msg("description of 'v': %s", d ? d : "NULL");
    expect_metric(s, "w", "L2"); /* two indexes, one metric: nothing to note */
    d = vm_schema_find(s, "w")->description;
    assert_null(strstr(d, "several"));
    vm_schema_free(s);
    exec_ok("DROP TABLE %s_met, %s_metl1, %s_metmulti", p, p, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_skewed_int_pk),
        cmocka_unit_test(test_no_pk_ctid),
        cmocka_unit_test(test_composite_and_text_pk),
        cmocka_unit_test(test_discover_errors),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

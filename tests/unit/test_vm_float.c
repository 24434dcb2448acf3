/*
 * test_vm_float.c - the float32 data path (common/vm_float.c) against its
 * oracles: strtof for parsing, and the old formatter (the shortest of
 * "%.{1..9}g" that strtof reads back, kept here as oracle_shortest) for
 * formatting. Edge cases (zeros, subnormals, FLT_MIN/MAX, powers of two and
 * ten, 2^24 neighbours, exact ties, long mantissas, huge exponents,
 * malformed tokens), a random sample of bit patterns (seed printed; set
 * VM_FLOAT_SEED to replay) and random decimal strings. The exhaustive proof
 * over all 2^32 patterns is bench/float_exhaustive.c (bench/float.md).
 * Also vm_buf_f32_array, the sink's vector append, against the per-value
 * path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm_buf.h"
#include "vm_float.h"
#include "vm_json_scan.h"

static uint64_t rng;
static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The old vm_buf_f32: shortest "%.{1..9}g" that strtof reads back. */
static int oracle_shortest(float v, char *out, size_t cap)
{
    int n = 0;
    for (int prec = 1; prec <= 9; prec++) {
        n = snprintf(out, cap, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v)
            break;
    }
    return n;
}

/* Significant digits of a decimal text (leading and trailing zeros of the
 * mantissa not counted; "0" has 1). */
static int sig_digits(const char *s)
{
    char d[64];
    int k = 0;
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9' && k < 63)
            d[k++] = *s;
    int a = 0, b = k;
    while (a < b - 1 && d[a] == '0')
        a++;
    while (b > a + 1 && d[b - 1] == '0')
        b--;
    return b - a;
}

static int shorter_than_oracle;

/* s = D * 10^e with D free of trailing zeros. */
static void decompose(const char *s, uint64_t *D, int *e)
{
    uint64_t d = 0;
    int x = 0, frac = 0;
    bool point = false;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.')
            point = true;
        else if (*s >= '0' && *s <= '9') {
            d = d * 10 + (uint64_t)(*s - '0');
            frac += point;
        }
    }
    if (*s == 'e')
        x = atoi(s + 1);
    x -= frac;
    while (d && d % 10 == 0) {
        d /= 10;
        x++;
    }
    *D = d;
    *e = x;
}

/* No decimal with one digit fewer reads back as f: the two multiples of
 * 10^(e+1) around D * 10^e (digits cut to d-1, and that plus one unit of
 * the last kept digit) do not; any shorter decimal in the rounding interval
 * would put one of them in it too. */
static void no_shorter(float f, const char *s)
{
    uint64_t D;
    int e;
    decompose(s, &D, &e);
    if (D < 10)
        return; /* one digit: nothing shorter but 0 */
    char t[48];
    for (int up = 0; up < 2; up++) {
        snprintf(t, sizeof t, "%s%llue%d", f < 0 ? "-" : "", (unsigned long long)(D / 10 + (uint64_t)up),
                 e + 1);
        if (strtof(t, NULL) == f)
            fail_msg("0x%08x -> '%s', but '%s' is shorter and reads back", f2u(f), s, t);
    }
}

/* strtof of s, and vm_f32_parse of s, agree bit for bit (both finite) or
 * both say out of range. */
static void parse_agrees(const char *s)
{
    float want = strtof(s, NULL), got = 0;
    int rc = vm_f32_parse(s, strlen(s), &got);
    if (!isfinite(want)) {
        if (rc != VM_F32_RANGE)
            fail_msg("'%.80s': strtof overflows, vm_f32_parse rc %d", s, rc);
        return;
    }
    if (rc != VM_F32_OK || f2u(got) != f2u(want))
        fail_msg("'%.80s' (%zu bytes): strtof 0x%08x, vm_f32_parse rc %d 0x%08x", s, strlen(s),
                 f2u(want), rc, f2u(got));
}

/* Everything the formatter promises for one finite float. */
static void check_format(float f)
{
    char s[VM_F32_SHORTEST_MAX], o[40];
    int n = vm_f32_shortest(f, s);
    assert_true(n > 0 && n < VM_F32_SHORTEST_MAX);
    assert_int_equal((size_t)n, strlen(s));
    /* JSON number grammar (vm_f32_parse is strict) and round trip */
    float back;
    if (vm_f32_parse(s, (size_t)n, &back) != VM_F32_OK || f2u(back) != f2u(f))
        fail_msg("0x%08x -> '%s' does not parse back", f2u(f), s);
    float sb = strtof(s, NULL);
    if (f2u(sb) != f2u(f))
        fail_msg("0x%08x -> '%s' -> strtof 0x%08x", f2u(f), s, f2u(sb));
    if (f == 0)
        return;
    /* never longer than the old formatter; with as many digits, the same
     * decimal (the correctly rounded %.{d}g, i.e. the nearest); shorter only
     * next to a power of two, where the interval below is half as wide and
     * the nearest d-digit decimal can fall outside it */
    oracle_shortest(f, o, sizeof o);
    int ns = sig_digits(s), no = sig_digits(o);
    if (ns > no || (ns == no && strtod(s, NULL) != strtod(o, NULL)))
        fail_msg("0x%08x -> '%s', oracle '%s'", f2u(f), s, o);
    if (ns < no) {
        uint32_t u = f2u(f) & 0x7fffffff;
        if ((u & 0x7fffff) != 0 || u < 0x01000000)
            fail_msg("0x%08x -> '%s' shorter than '%s' off a power of two", f2u(f), s, o);
        shorter_than_oracle++;
    }
    no_shorter(f, s);
    /* parsing agrees with strtof on longer forms of the same value */
    snprintf(o, sizeof o, "%.9g", (double)f);
    parse_agrees(o);
    snprintf(o, sizeof o, "%.17g", (double)f);
    parse_agrees(o);
}

static void expect_fmt(float f, const char *want)
{
    char s[VM_F32_SHORTEST_MAX];
    vm_f32_shortest(f, s);
    if (strcmp(s, want) != 0)
        fail_msg("0x%08x: '%s', want '%s'", f2u(f), s, want);
    check_format(f);
}

static void test_format_edges(void **st)
{
    (void)st;
    expect_fmt(0.0f, "0");
    expect_fmt(-0.0f, "-0.0");
    expect_fmt(0.1f, "0.1");
    expect_fmt(-0.3f, "-0.3");
    expect_fmt(1.0f, "1");
    expect_fmt(1.5f, "1.5");
    expect_fmt(100.0f, "100");
    expect_fmt(1000.0f, "1e3");
    expect_fmt(123456.0f, "123456");
    expect_fmt(0.01f, "0.01");
    expect_fmt(0.001f, "1e-3");
    expect_fmt(-2.5e-3f, "-0.0025");
    expect_fmt(1e-7f, "1e-7");
    expect_fmt(0.0361234f, "0.0361234");
    expect_fmt(16777216.0f, "16777216");
    expect_fmt(16777218.0f, "16777218");
    expect_fmt(33554432.0f, "33554432");
    expect_fmt(u2f(1), "1e-45");                      /* smallest subnormal */
    expect_fmt(u2f(0x007fffff), "1.1754942e-38");     /* largest subnormal */
    expect_fmt(FLT_MIN, "1.1754944e-38");
    expect_fmt(FLT_MAX, "3.4028235e38");
    expect_fmt(-FLT_MAX, "-3.4028235e38");
    expect_fmt(1.00000012f, "1.0000001");             /* 1 + ulp */
    expect_fmt(u2f(0x3f7fffff), "0.99999994");        /* 1 - ulp/2 */
    expect_fmt(u2f(0x4b800001), "16777218");          /* 2^24 + 2 */

    /* "-0.0" reads back as -0.0f, "0" as +0.0f */
    float z = 1;
    assert_int_equal(vm_f32_parse("-0.0", 4, &z), VM_F32_OK);
    assert_int_equal(f2u(z), 0x80000000u);
    assert_int_equal(vm_f32_parse("0", 1, &z), VM_F32_OK);
    assert_int_equal(f2u(z), 0u);

    /* powers of two (the asymmetric interval) and their neighbours, powers
     * of ten, 2^24 and its neighbours, and floats that need 9 digits */
    for (int e = -149; e <= 127; e++) {
        float p = ldexpf(1.0f, e);
        check_format(p);
        check_format(-p);
        check_format(nextafterf(p, 0));
        check_format(nextafterf(p, INFINITY));
    }
    for (int e = -45; e <= 38; e++) {
        char t[16];
        snprintf(t, sizeof t, "1e%d", e);
        float p = strtof(t, NULL);
        if (isfinite(p) && p != 0) {
            check_format(p);
            check_format(nextafterf(p, 0));
            check_format(nextafterf(p, INFINITY));
        }
    }
    for (uint32_t u = 0x4b7ffff0; u <= 0x4b800010; u++)
        check_format(u2f(u));
    int nine = 0;
    for (uint32_t u = 0x3f800000; nine < 50; u += 7919) {
        char t[16];
        vm_f32_shortest(u2f(u), t);
        if (sig_digits(t) == 9) {
            nine++;
            check_format(u2f(u));
        }
    }
    for (uint32_t u = 1; u < 5000; u++) /* first subnormals */
        check_format(u2f(u));

    /* NaN / infinity: refused, nothing written (the caller's error path) */
    char s[VM_F32_SHORTEST_MAX] = "x";
    assert_int_equal(vm_f32_shortest(NAN, s), -1);
    assert_string_equal(s, "");
    assert_int_equal(vm_f32_shortest(INFINITY, s), -1);
    assert_int_equal(vm_f32_shortest(-INFINITY, s), -1);
    vm_buf b;
    vm_buf_init(&b);
    assert_int_equal(vm_buf_f32(&b, NAN), -1);
    assert_false(vm_buf_ok(&b));
    vm_buf_clear(&b);
    assert_int_equal(vm_buf_f32(&b, -0.0f), 0);
    assert_string_equal(vm_buf_cstr(&b), "-0.0");
    vm_buf_release(&b);
}

static void expect_parse(const char *s, int rc, uint32_t bits)
{
    float f = 0;
    int got = vm_f32_parse(s, strlen(s), &f);
    if (got != rc || (rc == VM_F32_OK && f2u(f) != bits))
        fail_msg("'%.60s': rc %d 0x%08x, want rc %d 0x%08x", s, got, f2u(f), rc, bits);
    if (rc != VM_F32_SYNTAX)
        parse_agrees(s);
}

static void test_parse_edges(void **st)
{
    (void)st;
    expect_parse("0", VM_F32_OK, 0);
    expect_parse("-0", VM_F32_OK, 0x80000000u);
    expect_parse("-0.0e5", VM_F32_OK, 0x80000000u);
    expect_parse("0e999999999999999999", VM_F32_OK, 0);
    expect_parse("1", VM_F32_OK, 0x3f800000u);
    expect_parse("1E+0", VM_F32_OK, 0x3f800000u);
    expect_parse("0.1", VM_F32_OK, 0x3dcccccdu);
    expect_parse("1e-45", VM_F32_OK, 1);
    expect_parse("1.4e-45", VM_F32_OK, 1);
    expect_parse("1.1754942e-38", VM_F32_OK, 0x007fffffu);
    expect_parse("1.17549435e-38", VM_F32_OK, 0x00800000u);
    expect_parse("3.4028235e38", VM_F32_OK, 0x7f7fffffu);
    expect_parse("-3.4028235e+38", VM_F32_OK, 0xff7fffffu);
    /* 16777216 = 2^24: odd integers above it are exact ties */
    expect_parse("16777216", VM_F32_OK, 0x4b800000u);
    expect_parse("16777217", VM_F32_OK, 0x4b800000u); /* tie, to even */
    expect_parse("16777218", VM_F32_OK, 0x4b800001u);
    expect_parse("16777219", VM_F32_OK, 0x4b800002u); /* tie, to even */
    expect_parse("16777217.0000000000000000000000", VM_F32_OK, 0x4b800000u);
    expect_parse("16777217.000000000000000000001", VM_F32_OK, 0x4b800001u); /* 30th digit */
    expect_parse("16777216.999999999999999999999", VM_F32_OK, 0x4b800000u); /* below the tie */
    expect_parse("16777217000000000000000000001e-21", VM_F32_OK, 0x4b800001u);
    /* 1 + 2^-24: a tie between 1 and 1 + ulp */
    expect_parse("1.000000059604644775390625", VM_F32_OK, 0x3f800000u);
    expect_parse("1.000000059604644775390625000001", VM_F32_OK, 0x3f800001u);
    expect_parse("1.000000059604644775390624999999", VM_F32_OK, 0x3f800000u);
    /* 2^-150: a tie between 0 and the smallest subnormal (to even: 0) */
    const char *h150 = "7.00649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625e-46";
    expect_parse(h150, VM_F32_OK, 0);
    char t[1200];
    snprintf(t, sizeof t, "%.*s1e-46", (int)(strlen(h150) - 4), h150);
    expect_parse(t, VM_F32_OK, 1);
    /* the top: 2^128 - 2^103 is the tie between FLT_MAX and 2^128: overflow */
    expect_parse("340282356779733661637539395458142568448", VM_F32_RANGE, 0);
    expect_parse("340282356779733661637539395458142568447.999", VM_F32_OK, 0x7f7fffffu);
    expect_parse("1e39", VM_F32_RANGE, 0);
    expect_parse("-1e39", VM_F32_RANGE, 0);
    expect_parse("1e999999999999999999999", VM_F32_RANGE, 0);
    expect_parse("1e-50", VM_F32_OK, 0);
    expect_parse("-1e-50", VM_F32_OK, 0x80000000u);
    expect_parse("1e-999999999999999999999", VM_F32_OK, 0);
    expect_parse("1e-40", VM_F32_OK, 0x000116c2u); /* subnormal (strtof path) */
    expect_parse("12345678901234567890123456789012345678", VM_F32_OK, 0x7d149b0fu);
    /* long mantissas: > 19 digits, > 800 digits */
    expect_parse("0.1000000000000000000000000000000000000000001", VM_F32_OK, 0x3dcccccdu);
    memset(t, 0, sizeof t);
    t[0] = '0';
    t[1] = '.';
    for (int i = 2; i < 1000; i++)
        t[i] = (char)('0' + (i * 7) % 10);
    parse_agrees(t);
    memcpy(t, "16777217.", 9);
    for (int i = 9; i < 900; i++)
        t[i] = '0';
    t[900] = '1';
    t[901] = '\0';
    expect_parse(t, VM_F32_OK, 0x4b800001u); /* one past the tie, at digit 900 */
    t[900] = '0';
    expect_parse(t, VM_F32_OK, 0x4b800000u);

    /* strict JSON: strtof would take these, vm_f32_parse must not */
    const char *bad[] = {"", "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "1.e5",
                         "0x10", "NaN", "nan", "Infinity", "-Infinity", "inf", " 1", "1 ",
                         "1e5.0", "1..2", "1,5", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        float f = 42;
        if (vm_f32_parse(bad[i], strlen(bad[i]), &f) != VM_F32_SYNTAX || f != 42)
            fail_msg("'%s' accepted", bad[i]);
    }
    /* a token inside a longer buffer: only n bytes are read */
    float f;
    assert_int_equal(vm_f32_parse("1.5,2", 3, &f), VM_F32_OK);
    assert_true(f == 1.5f);
    assert_int_equal(vm_f32_parse("1.5,2", 4, &f), VM_F32_SYNTAX);
    /* the scanner's entry point maps the codes */
    assert_int_equal(vm_json_number_f32("2.5", 3, &f), VM_JSON_NUM_OK);
    assert_true(f == 2.5f);
    assert_int_equal(vm_json_number_f32("1e40", 4, &f), VM_JSON_NUM_RANGE);
    assert_int_equal(vm_json_number_f32("1.", 2, &f), VM_JSON_NUM_SYNTAX);
}

static uint64_t seed_from_env(const char *what)
{
    const char *e = getenv("VM_FLOAT_SEED");
    uint64_t s = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    if (s == 0)
        s = 1;
    printf("%s: seed %llu (VM_FLOAT_SEED=%llu replays it)\n", what, (unsigned long long)s,
           (unsigned long long)s);
    return s;
}

#define SAMPLE_PATTERNS 600000

static void test_random_patterns(void **st)
{
    (void)st;
    rng = seed_from_env("random bit patterns");
    shorter_than_oracle = 0;
    int finite = 0;
    for (int i = 0; i < SAMPLE_PATTERNS; i++) {
        float f = u2f((uint32_t)next64());
        if (!isfinite(f)) {
            char s[VM_F32_SHORTEST_MAX];
            assert_int_equal(vm_f32_shortest(f, s), -1);
            continue;
        }
        check_format(f);
        finite++;
    }
    printf("random bit patterns: %d finite checked, %d shorter than the old formatter\n", finite,
           shorter_than_oracle);
    assert_true(finite > SAMPLE_PATTERNS * 99 / 100);
}

static void test_random_decimals(void **st)
{
    (void)st;
    rng = seed_from_env("random decimal strings") ^ 0x9e3779b97f4a7c15ull;
    char s[160];
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next64();
        int nd = 1 + (int)(r % 25), k = 0;
        r >>= 5;
        int a = (int)(r % (uint64_t)(nd + 1)); /* digits before the point */
        r >>= 5;
        if (r & 2)
            s[k++] = '-';
        if (a == 0)
            s[k++] = '0';
        for (int d = 0; d < a; d++)
            s[k++] = (char)('0' + (d == 0 ? 1 + next64() % 9 : next64() % 10));
        if (nd > a) {
            s[k++] = '.';
            for (int d = a; d < nd; d++)
                s[k++] = (char)('0' + next64() % 10);
        }
        if (r & 1) {
            int e = (int)(next64() % 100) - 60;
            k += snprintf(s + k, sizeof s - (size_t)k, "e%d", e);
        }
        s[k] = '\0';
        parse_agrees(s);
    }
    /* near ties: the exact midpoint between a random float and its upper
     * neighbour (exact in double; glibc prints the exact expansion), then
     * the same cut short, and nudged up or down in the last digit */
    for (int i = 0; i < 20000; i++) {
        float f = u2f((uint32_t)next64() & 0x7f7fffff);
        if (!isfinite(f) || f == FLT_MAX)
            continue;
        double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        int len = snprintf(s, sizeof s, "%.110e", mid);
        assert_true(len > 0 && (size_t)len < sizeof s);
        parse_agrees(s);
        char *e = strchr(s, 'e');
        char ex[8];
        snprintf(ex, sizeof ex, "%s", e);
        static const int cuts[] = {9, 12, 20, 30, 60};
        for (size_t c = 0; c < 5; c++) {
            int keep = cuts[c] + 1; /* digits plus the point */
            char u[160];
            for (int up = 0; up < 3; up++) {
                memcpy(u, s, (size_t)keep);
                u[keep] = '\0';
                int p = keep - 1;
                if (up == 1 && u[p] < '9')
                    u[p]++;
                if (up == 2 && u[p] > '0')
                    u[p]--;
                strcat(u, ex);
                parse_agrees(u);
            }
        }
    }
}

/* vm_buf_f32_array (the sink's vector append): the bytes equal the old
 * per-value path ('[', vm_buf_f32 joined by ',', ']'), appended after what
 * the buffer held, across growth; a NaN or infinity anywhere fails the
 * call, appends nothing and leaves failed set, as vm_buf_f32 does. */
static void test_buf_f32_array(void **state)
{
    (void)state;
    enum { N = 1500 };
    static float v[N];
    static const float edge[] = {0.0f, -0.0f, 1.0f, -1.0f, FLT_MAX, -FLT_MAX, FLT_MIN,
                                 1e-45f, -1.17549421e-38f, 123456789.0f, -1.23456789e-12f,
                                 0.1f, 100000.0f, 1e7f, 3.4e-5f, -0.00123456789f};
    uint64_t saved = rng;
    rng = 0x2545f4914f6cdd1dull;
    size_t ne = sizeof edge / sizeof edge[0];
    for (size_t i = 0; i < N; i++) {
        if (i < ne) {
            v[i] = edge[i];
        } else if (i % 2) { /* any finite pattern */
            uint32_t u;
            do
                u = (uint32_t)next64();
            while (((u >> 23) & 0xff) == 0xff);
            v[i] = u2f(u);
        } else { /* vector-like values */
            v[i] = (float)((double)(int64_t)next64() / 9.2233720368547758e18 * 0.2);
        }
    }
    rng = saved;

    vm_buf a, b;
    vm_buf_init(&a);
    vm_buf_init(&b);
    for (int round = 0; round < 3; round++) { /* the buffer grows across calls */
        size_t counts[] = {0, 1, 2, 17, N};
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            size_t n = counts[c];
            vm_buf_puts(&a, "{\"v\":");
            vm_buf_puts(&b, "{\"v\":");
            assert_int_equal(vm_buf_f32_array(&a, v, n), 0);
            vm_buf_putc(&b, '[');
            for (size_t i = 0; i < n; i++) {
                if (i)
                    vm_buf_putc(&b, ',');
                assert_int_equal(vm_buf_f32(&b, v[i]), 0);
            }
            vm_buf_putc(&b, ']');
            vm_buf_putc(&a, '}');
            vm_buf_putc(&b, '}');
            assert_true(vm_buf_ok(&a));
            assert_int_equal(a.len, b.len);
            assert_int_equal(strlen(vm_buf_cstr(&a)), a.len);
            assert_string_equal(vm_buf_cstr(&a), vm_buf_cstr(&b));
        }
    }
    vm_buf_clear(&a);
    vm_buf_puts(&a, "[]");
    assert_int_equal(vm_buf_f32_array(&a, v, 0), 0);
    assert_string_equal(vm_buf_cstr(&a), "[][]");

    /* NaN in the middle, infinities at either end: refused, nothing appended */
    static float bad[N];
    memcpy(bad, v, sizeof bad);
    const size_t at[] = {N / 2, 0, N - 1};
    const float what[] = {NAN, -INFINITY, INFINITY};
    for (size_t t = 0; t < 3; t++) {
        memcpy(bad, v, sizeof bad);
        bad[at[t]] = what[t];
        vm_buf_clear(&a);
        vm_buf_puts(&a, "abc");
        assert_int_equal(vm_buf_f32_array(&a, bad, N), -1);
        assert_false(vm_buf_ok(&a));
        assert_int_equal(a.len, 3);
        assert_int_equal(a.data[3], '\0');
        assert_string_equal(vm_buf_cstr(&a), "");
    }
    /* a NaN after the last element counted is not looked at */
    memcpy(bad, v, sizeof bad);
    bad[5] = NAN;
    vm_buf_clear(&a);
    assert_int_equal(vm_buf_f32_array(&a, bad, 5), 0);
    assert_true(vm_buf_ok(&a));
    vm_buf_release(&a);
    vm_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_f32_array),
        cmocka_unit_test(test_format_edges),
        cmocka_unit_test(test_parse_edges),
        cmocka_unit_test(test_random_patterns),
        cmocka_unit_test(test_random_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

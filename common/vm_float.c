/*
 * vm_float.c - shortest round-trip float32 formatting and correctly rounded
 * float32 parsing (see vm_float.h): exact integer arithmetic, plus one
 * checked double operation on the parser's fast path.
 *
 * Formatting (after Ryu, Adams 2018, and Schubfach, Giulietti 2020; written
 * from the papers' descriptions): a float is c * 2^q. Every real number in
 * the rounding interval [L, U] = [(4c - 1 or 2) * 2^(q-2), (4c + 2) * 2^(q-2)]
 * (closed when c is even: strtof's ties go to even) reads back as the same
 * float. The three values L, v, U are scaled by 10^-k with k chosen so that
 * the interval is at least 75 units wide, and their floors are computed
 * exactly (u128 and a 192-bit product for the deepest subnormals), with a
 * flag telling whether the scaled value was an integer. Digits are then
 * dropped while a shorter number still fits in the interval; the last
 * dropped digit (plus exactness) rounds the scaled v to nearest, ties to
 * even. The interval is never narrower than 3/4 of an ulp, so the initial
 * scale always drops at least one digit and the search starts fine enough.
 * A fast path (exponent fields 67..148, no trailing-zero case) does the
 * same search with a table of scale factors, two digits dropped first
 * and 32-bit arithmetic after that; bench/float_diff.c shows it
 * byte-identical to the general search for every float.
 *
 * Parsing: the token's first 19 significant digits go into a uint64 m and
 * the rest set a flag; the value is m * 10^e. For 0 <= e <= 38 the product
 * is an exact u128 integer, for -30 <= e < 0 the quotient m * 2^s / 10^-e is
 * taken to at least 26 bits with the remainder as a sticky bit; either is
 * then rounded once to 24 bits (nearest, ties to even, subnormals and
 * overflow included). With more than 19 digits the value lies strictly
 * between m and m + 1 units: when both round to the same float, so does
 * the value. Anything else (-64 <= e < -30, or the two disagree) goes to
 * strtof on a NUL-terminated copy. Before all that, the common case (m <
 * 2^53, |e| <= 22) is one double multiplication or division and a check
 * that the double is not exactly halfway between two floats (Clinger's
 * fast path; the only double-rounding hazard is that midpoint).
 */
#include "vm_float.h"
#include "vm_mem.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 vm_u128;

/* 5^0 .. 5^27 (5^27 < 2^64 < 5^28). */
static const uint64_t vm_p5[28] = {
    1ull, 5ull, 25ull,
    125ull, 625ull, 3125ull,
    15625ull, 78125ull, 390625ull,
    1953125ull, 9765625ull, 48828125ull,
    244140625ull, 1220703125ull, 6103515625ull,
    30517578125ull, 152587890625ull, 762939453125ull,
    3814697265625ull, 19073486328125ull, 95367431640625ull,
    476837158203125ull, 2384185791015625ull, 11920928955078125ull,
    59604644775390625ull, 298023223876953125ull, 1490116119384765625ull,
    7450580596923828125ull,
};

/* 5^k for 0 <= k <= 54 (5^54 < 2^128), exact. */
static inline vm_u128 vm_pow5(int k)
{
    return k < 28 ? (vm_u128)vm_p5[k] : (vm_u128)vm_p5[27] * vm_p5[k - 27];
}

static inline int vm_bitlen128(vm_u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    if (hi)
        return 128 - __builtin_clzll(hi);
    return lo ? 64 - __builtin_clzll(lo) : 0;
}

/* floor(q * log10(2)) for |q| <= 1650 (78913 / 2^18 ~ log10 2). */
static inline int vm_flog10_pow2(int q)
{
    return q >= 0 ? (int)(((uint32_t)q * 78913u) >> 18)
                  : -(int)((((uint32_t)-q * 78913u) + (1u << 18) - 1) >> 18);
}

/* floor(m * 2^e2 / 10^k) and whether it is exact, for the bounds and value
 * of a float (m < 2^26, e2 in [-151, 102], k = floor(log10 2^(e2+2)) - 2). */
static inline uint64_t vm_scale(uint64_t m, int e2, int k, bool *exact)
{
    if (k >= 0) { /* e2 - k >= 5 here: numerator < 2^99 */
        vm_u128 num = (vm_u128)m << (e2 - k), d = vm_pow5(k);
        vm_u128 quo = num / d;
        *exact = num - quo * d == 0;
        return (uint64_t)quo;
    }
    int K = -k, t = K + e2;
    if (t >= 0) { /* K <= 2, t <= 4 */
        *exact = true;
        return (m * vm_p5[K]) << t;
    }
    int s = -t;
    if (K < 28) { /* m * 5^K < 2^90, s < 64 */
        vm_u128 pr = (vm_u128)m * vm_p5[K];
        *exact = (pr & (((vm_u128)1 << s) - 1)) == 0;
        return (uint64_t)(pr >> s);
    }
    /* deep subnormals: m * 5^K is up to 136 bits; w2:w1:w0, then >> s */
    vm_u128 p5 = vm_pow5(K);
    vm_u128 a = (vm_u128)m * (uint64_t)p5, b = (vm_u128)m * (uint64_t)(p5 >> 64);
    uint64_t w0 = (uint64_t)a;
    vm_u128 mid = (a >> 64) + (uint64_t)b;
    vm_u128 hi = (b >> 64) + (mid >> 64); /* w2 */
    hi = (hi << 64) | (uint64_t)mid;      /* w2:w1 */
    if (s < 64) {
        *exact = (w0 & ((1ull << s) - 1)) == 0;
        return (uint64_t)((hi << (64 - s)) | (w0 >> s));
    }
    int s1 = s - 64; /* < 64 for every float */
    *exact = w0 == 0 && (s1 == 0 || (hi & (((vm_u128)1 << s1) - 1)) == 0);
    return (uint64_t)(hi >> s1);
}

static const char vm_d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";

/* For the exponent fields 67..148 (q = ef - 150 in [-83, -2]):
 * k = floor(q log10 2) - 2, and 5^-k * 2^(64 - s) = th:tl with
 * s = k + 2 - q (in [1, 63]; th < 256). Generated with Python's exact
 * integers; vm_f32_shortest's fast path (see there). */
static const struct {
    uint64_t tl;
    uint16_t th;
    int16_t k;
} vm_f32_scale[82] = {
    {0xd971e4fe8401e740ull, 25, -27},
    {0xb2e3c9fd0803ce80ull, 51, -27},
    {0x65c793fa10079d00ull, 103, -27},
    {0xcb8f27f4200f3a00ull, 206, -27},
    {0x5be96e6406697200ull, 41, -26},
    {0xb7d2dcc80cd2e400ull, 82, -26},
    {0x6fa5b99019a5c800ull, 165, -26},
    {0x1654585005212800ull, 33, -25},
    {0x2ca8b0a00a425000ull, 66, -25},
    {0x595161401484a000ull, 132, -25},
    {0x784379d99db42000ull, 26, -24},
    {0xf086f3b33b684000ull, 52, -24},
    {0xe10de76676d08000ull, 105, -24},
    {0xc21bcecceda10000ull, 211, -24},
    {0x5a058fc295ed0000ull, 42, -23},
    {0xb40b1f852bda0000ull, 84, -23},
    {0x68163f0a57b40000ull, 169, -23},
    {0xe19e0c9bab240000ull, 33, -22},
    {0xc33c193756480000ull, 67, -22},
    {0x8678326eac900000ull, 135, -22},
    {0x1ae4d6e2ef500000ull, 27, -21},
    {0x35c9adc5dea00000ull, 54, -21},
    {0x6b935b8bbd400000ull, 108, -21},
    {0xd726b7177a800000ull, 216, -21},
    {0x5e3af16b18800000ull, 43, -20},
    {0xbc75e2d631000000ull, 86, -20},
    {0x78ebc5ac62000000ull, 173, -20},
    {0xb1c8c1227a000000ull, 34, -19},
    {0x63918244f4000000ull, 69, -19},
    {0xc7230489e8000000ull, 138, -19},
    {0xc16d674ec8000000ull, 27, -18},
    {0x82dace9d90000000ull, 55, -18},
    {0x05b59d3b20000000ull, 111, -18},
    {0x0b6b3a7640000000ull, 222, -18},
    {0x68af0bb140000000ull, 44, -17},
    {0xd15e176280000000ull, 88, -17},
    {0xa2bc2ec500000000ull, 177, -17},
    {0x86f26fc100000000ull, 35, -16},
    {0x0de4df8200000000ull, 71, -16},
    {0x1bc9bf0400000000ull, 142, -16},
    {0x6bf5263400000000ull, 28, -15},
    {0xd7ea4c6800000000ull, 56, -15},
    {0xafd498d000000000ull, 113, -15},
    {0x5fa931a000000000ull, 227, -15},
    {0x79883d2000000000ull, 45, -14},
    {0xf3107a4000000000ull, 90, -14},
    {0xe620f48000000000ull, 181, -14},
    {0x6139ca8000000000ull, 36, -13},
    {0xc273950000000000ull, 72, -13},
    {0x84e72a0000000000ull, 145, -13},
    {0x1a94a20000000000ull, 29, -12},
    {0x3529440000000000ull, 58, -12},
    {0x6a52880000000000ull, 116, -12},
    {0xd4a5100000000000ull, 232, -12},
    {0x90edd00000000000ull, 46, -11},
    {0x21dba00000000000ull, 93, -11},
    {0x43b7400000000000ull, 186, -11},
    {0x40be400000000000ull, 37, -10},
    {0x817c800000000000ull, 74, -10},
    {0x02f9000000000000ull, 149, -10},
    {0xcd65000000000000ull, 29, -9},
    {0x9aca000000000000ull, 59, -9},
    {0x3594000000000000ull, 119, -9},
    {0x6b28000000000000ull, 238, -9},
    {0xaf08000000000000ull, 47, -8},
    {0x5e10000000000000ull, 95, -8},
    {0xbc20000000000000ull, 190, -8},
    {0x25a0000000000000ull, 38, -7},
    {0x4b40000000000000ull, 76, -7},
    {0x9680000000000000ull, 152, -7},
    {0x8480000000000000ull, 30, -6},
    {0x0900000000000000ull, 61, -6},
    {0x1200000000000000ull, 122, -6},
    {0x2400000000000000ull, 244, -6},
    {0xd400000000000000ull, 48, -5},
    {0xa800000000000000ull, 97, -5},
    {0x5000000000000000ull, 195, -5},
    {0x1000000000000000ull, 39, -4},
    {0x2000000000000000ull, 78, -4},
    {0x4000000000000000ull, 156, -4},
    {0x4000000000000000ull, 31, -3},
    {0x8000000000000000ull, 62, -3},
};

/* 10^0 .. 10^9 */
static const uint32_t vm_p10[10] = {1u,      10u,      100u,      1000u,      10000u,
                                    100000u, 1000000u, 10000000u, 100000000u, 1000000000u};

/* Decimal digit count of d (d >= 1). */
static inline int vm_ndigits(uint32_t d)
{
    int t = ((32 - __builtin_clz(d | 1)) * 1233) >> 12; /* ~ log10, maybe 1 too high */
    return t + 1 - (d < vm_p10[t]);
}

/* The n decimal digits of d (n = vm_ndigits(d) <= 9) at p, as one 8-byte
 * store (or a digit and one store): writes p[0, 8), or p[0, 9) when n = 9.
 * The 8 digits of d % 10^8 are split in the lanes of one uint64 (4 + 4,
 * then 2 + 2 in each half, then 1 + 1), lowest byte most significant. */
static inline void vm_put_digits(char *p, uint32_t d, int n)
{
    if (n == 9) {
        uint32_t h = d / 100000000u;
        *p++ = (char)('0' + h);
        d -= h * 100000000u;
        n = 8;
    }
    uint64_t x = (uint64_t)(d / 10000u) | (uint64_t)(d % 10000u) << 32;
    uint64_t y = ((x * 10486u) >> 20) & 0x0000007f0000007full; /* / 100 per 32-bit lane */
    x = y | (x - 100 * y) << 16;
    y = ((x * 103u) >> 10) & 0x000f000f000f000full; /* / 10 per 16-bit lane */
    x = y | (x - 10 * y) << 8;
    x = (x + 0x3030303030303030ull) >> (8 * (8 - n)); /* drop the leading zeros */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &x, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (char)(x >> (8 * i));
#endif
}

/* The digit search in general (any float, any trailing-zero case): the
 * shortest d, e with d * 10^e in the rounding interval, nearest v. */
static __attribute__((noinline)) uint32_t vm_shortest_general(uint64_t mm, uint64_t mv,
                                                              uint64_t mp, int e2, int k,
                                                              bool accept, int *e)
{
    bool xm, xr, xp;
    uint64_t vm = vm_scale(mm, e2, k, &xm);
    uint64_t vr = vm_scale(mv, e2, k, &xr);
    uint64_t vp = vm_scale(mp, e2, k, &xp);
    if (xp && !accept)
        vp--; /* U itself excluded */
    bool vm_tz = xm && accept; /* L is an integer at this scale and allowed */
    bool vr_tz = xr;           /* v exact at this scale: ties detectable */
    unsigned last = 0;
    int removed = 0;
    while (vp / 10 > vm / 10) {
        vm_tz &= vm % 10 == 0;
        vr_tz &= last == 0;
        last = (unsigned)(vr % 10);
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
    }
    if (vm_tz) {
        while (vm % 10 == 0) {
            vr_tz &= last == 0;
            last = (unsigned)(vr % 10);
            vr /= 10;
            vm /= 10;
            removed++;
        }
    }
    if (vr_tz && last == 5 && vr % 2 == 0)
        last = 4; /* exactly halfway: keep the even digit */
    *e = k + removed;
    return (uint32_t)(vr + ((vr == vm && !vm_tz) || last >= 5));
}

/* d * 10^e (n = vm_ndigits(d)) at o (out or out + 1 after a '-'), plain
 * or exponent form, whichever is shorter (plain on a tie), NUL-terminated;
 * returns the end. Every write stays inside out's 16 bytes: plain wins
 * only with at most 4 trailing or 2 leading zeros, and the digits are one
 * 8- or 9-byte store at most 4 bytes after o. */
static __attribute__((noinline)) char *vm_f32_text(char *o, uint32_t d, int n, int e)
{
    int x = n - 1 + e; /* scientific exponent */
    int ax = x < 0 ? -x : x;
    int sci = n + (n > 1) + 1 + (x < 0) + (ax >= 10 ? 2 : 1);
    int plain = e >= 0 ? n + e : n + e > 0 ? n + 1 : 2 - e;
    if (plain <= sci) {
        if (e >= 0) { /* digits, then e <= 4 zeros */
            vm_put_digits(o, d, n);
            memcpy(o + n, "0000", 4);
            o += n + e;
        } else if (n + e > 0) { /* digits with the point inside */
            vm_put_digits(o + 1, d, n);
            for (int i = 0; i < n + e; i++) /* the integer digits move left */
                o[i] = o[i + 1];
            o[n + e] = '.';
            o += n + 1;
        } else { /* "0.", 0-2 zeros, digits */
            memcpy(o, "0.00", 4);
            vm_put_digits(o + 2 - (n + e), d, n);
            o += 2 - e;
        }
    } else {
        vm_put_digits(o + 1, d, n);
        o[0] = o[1];
        if (n > 1) {
            o[1] = '.';
            o += n + 1;
        } else {
            o += 1;
        }
        *o++ = 'e';
        *o = '-';
        o += x < 0;
        if (ax >= 10) {
            memcpy(o, vm_d2 + 2 * ax, 2);
            o += 2;
        } else {
            *o++ = (char)('0' + ax);
        }
    }
    *o = '\0';
    return o;
}

/* vm_f32_shortest's body, inlined into vm_f32_join's loop too. */
static inline __attribute__((always_inline)) int vm_f32_fmt(float v, char *out)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t ef = (bits >> 23) & 0xff, fr = bits & 0x7fffff;
    char *o = out;
    *o = '-';
    o += bits >> 31;
    uint32_t d;
    int e;
    if (ef - 67u <= 148u - 67u) {
        /* 2^-60 <= |v| < 2^22 (q = ef - 150 in [-83, -2]): there
         * k = floor(q log10 2) - 2 < 0, K = -k < 28 and s = -(K + q - 2)
         * is in [1, 63], so each scaled bound is m * 5^K >> s (vm_scale's
         * second-to-last case) - computed as m * T / 2^64 with
         * T = 5^K * 2^(64 - s) = th:tl (vm_f32_scale): the floor is
         * m * th plus the high word of m * tl, exact when the low word of
         * m * tl is 0. When
         * neither L (if allowed) nor v scales to an integer - nearly
         * always - no trailing zeros need tracking: drop two digits at a
         * time while the bounds still differ at 10^2, then maybe one; the
         * first digit of the last drop rounds v (>= 5: up). Otherwise the
         * general search. */
        bool accept = (bits & 1) == 0;
        uint64_t mv = 4 * (uint64_t)(fr | 1u << 23), mp = mv + 2;
        uint64_t mm = mv - (fr == 0 ? 1 : 2); /* below a power of 2 the gap halves */
        uint64_t tl = vm_f32_scale[ef - 67].tl, th = vm_f32_scale[ef - 67].th;
        int k = vm_f32_scale[ef - 67].k;
        vm_u128 lm = (vm_u128)mm * tl, lr = (vm_u128)mv * tl, lp = (vm_u128)mp * tl;
        if (((uint64_t)lm == 0 && accept) || (uint64_t)lr == 0)
            goto general;
        uint64_t vm = mm * th + (uint64_t)(lm >> 64), vr = mv * th + (uint64_t)(lr >> 64);
        uint64_t vp = mp * th + (uint64_t)(lp >> 64);
        if ((uint64_t)lp == 0 && !accept)
            vp--; /* U itself excluded */
        /* the scaled values are below 2^34 (v * 10^-k, 10^-k * 2^q < 1000),
         * so below 2^32 after the first drop, 32-bit from there; the
         * interval is at least 75 units wide, so that drop takes one digit
         * at least */
        bool up;
        int removed;
        uint32_t p, m, r;
        uint64_t p100 = vp / 100, m100 = vm / 100;
        if (p100 > m100) {
            uint64_t r100 = vr / 100;
            up = vr - r100 * 100 >= 50;
            p = (uint32_t)p100;
            m = (uint32_t)m100;
            r = (uint32_t)r100;
            removed = 2;
        } else { /* one digit (then the bounds agree at 10^2: no more) */
            uint64_t r10 = vr / 10;
            up = vr - r10 * 10 >= 5;
            p = (uint32_t)(vp / 10);
            m = (uint32_t)(vm / 10);
            r = (uint32_t)r10;
            removed = 1;
        }
        for (;;) { /* the interval is under 10 units now: rarely more */
            uint32_t p1 = p / 10, m1 = m / 10;
            if (p1 <= m1)
                break;
            uint32_t r1 = r / 10;
            up = r - r1 * 10 >= 5;
            r = r1;
            p = p1;
            m = m1;
            removed++;
        }
        d = r + (r == m || up);
        e = k + removed;
    } else {
        if (ef == 0xff) {
            out[0] = '\0';
            return -1;
        }
        if (ef == 0 && fr == 0) {
            if (bits >> 31) {
                memcpy(out, "-0.0", 5);
                return 4;
            }
            memcpy(out, "0", 2);
            return 1;
        }
    general:;
        uint32_t c = ef ? fr | 1u << 23 : fr;
        int q = ef ? (int)ef - 150 : -149;
        uint64_t mv = 4 * (uint64_t)c;
        uint64_t mm = mv - (fr == 0 && ef > 1 ? 1 : 2); /* below a power of 2 the gap halves */
        int k = vm_flog10_pow2(q) - 2;
        d = vm_shortest_general(mm, mv, mv + 2, q - 2, k, (c & 1) == 0, &e);
    }
    /* value = d * 10^e, d < 10^9 */
    int n = vm_ndigits(d);
    int x = n - 1 + e; /* scientific exponent */
    if (x < 0 && x >= -2 - (n > 1)) {
        /* "0.", zeros, digits - the usual case: for -9 <= x < 0 that is
         * n + 1 - x bytes against n + (n > 1) + 3 for the exponent form,
         * so plain wins (or ties) exactly for these x (vm_f32_text would
         * write the same) */
        memcpy(o, "0.00", 4);
        vm_put_digits(o + 1 - x, d, n);
        o += n + 1 - x;
        *o = '\0';
        return (int)(o - out);
    }
    return (int)(vm_f32_text(o, d, n, e) - out);
}

int vm_f32_shortest(float v, char out[static VM_F32_SHORTEST_MAX]) { return vm_f32_fmt(v, out); }

ptrdiff_t vm_f32_join(char *out, const float *v, size_t n)
{
    /* value i starts at most 16 i bytes in and writes at most 16 (its
     * NUL included) */
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        int k = vm_f32_fmt(v[i], o);
        if (k < 0)
            return -1;
        o += k;
        *o++ = ',';
    }
    if (n)
        o--; /* the last comma */
    *o = '\0';
    return o - out;
}

/* Rounds (N + a fraction, nonzero when sticky) * 2^b to float32 bits,
 * nearest, ties to even. 0 ok, VM_F32_RANGE on overflow, 1 when not
 * handled here (caller falls back). N > 0. */
static int vm_round_f32(vm_u128 N, int b, bool sticky, uint32_t *bits)
{
    int len = vm_bitlen128(N);
    int lsb = b + len - 24; /* weight of the last kept bit */
    if (lsb < -149)
        lsb = -149;
    int shift = lsb - b;
    uint64_t mant;
    if (shift <= 0) {
        if (sticky)
            return 1;
        mant = (uint64_t)N << -shift; /* N < 2^24 */
    } else if (shift >= 128) {
        return 1;
    } else {
        vm_u128 rem = N & (((vm_u128)1 << shift) - 1), half = (vm_u128)1 << (shift - 1);
        mant = (uint64_t)(N >> shift);
        if (rem > half || (rem == half && (sticky || (mant & 1))))
            mant++;
        if (mant == 1u << 24) {
            mant >>= 1;
            lsb++;
        }
    }
    if (mant < 1u << 23) { /* subnormal or zero: lsb == -149 */
        *bits = (uint32_t)mant;
        return 0;
    }
    int E = lsb + 150;
    if (E >= 255)
        return VM_F32_RANGE;
    *bits = (uint32_t)E << 23 | ((uint32_t)mant & 0x7fffff);
    return 0;
}

/* m * 10^e10 rounded to float32 bits (m > 0): 0, VM_F32_RANGE, or 1 for
 * "not handled" (fall back). */
static int vm_f32_fast(uint64_t m, int64_t e10, uint32_t *bits)
{
#if FLT_EVAL_METHOD == 0 && DBL_MANT_DIG == 53
    /* m < 2^53 and 10^|e10| <= 10^22 are exact doubles, so one IEEE
     * multiplication or division rounds m * 10^e10 once, to 53 bits. Every
     * float32 midpoint (25 bits) is a double and rounding is monotone, so
     * that double lies on the same side of every midpoint as the exact
     * value - unless it is one, which the low 29 fraction bits show (the
     * result is a normal float here: 1e-22 <= |x| < 2^53 * 1e22). */
    static const double dp10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (m < (1ull << 53) && e10 >= -22 && e10 <= 22) {
        double d = e10 < 0 ? (double)m / dp10[-e10] : (double)m * dp10[e10];
        uint64_t db;
        memcpy(&db, &d, sizeof db);
        if ((db & 0x1fffffffu) != 0x10000000u) {
            float f = (float)d;
            memcpy(bits, &f, sizeof *bits);
            return 0;
        }
    }
#endif
    if (e10 >= 0) {
        if (e10 > 38)
            return VM_F32_RANGE; /* >= 1e39 */
        vm_u128 N;
        vm_u128 p10 = vm_pow5((int)e10) << e10;
        if (__builtin_mul_overflow((vm_u128)m, p10, &N))
            return VM_F32_RANGE; /* >= 2^128 > FLT_MAX + ulp/2 */
        return vm_round_f32(N, 0, false, bits);
    }
    if (e10 + 19 < -45) { /* m * 10^e10 < 1e-46 < 2^-150: rounds to zero */
        *bits = 0;
        return 0;
    }
    if (e10 < -30)
        return 1;
    int ke = (int)-e10;
    vm_u128 d = vm_pow5(ke) << ke;
    int lm = 64 - __builtin_clzll(m), ld = vm_bitlen128(d);
    int s = 26 + ld - lm;
    if (s < 0)
        s = 0;
    if (lm + s <= 64 && ld <= 64) {
        uint64_t num = m << s, dd = (uint64_t)d;
        uint64_t quo = num / dd;
        return vm_round_f32(quo, -s, num - quo * dd != 0, bits);
    }
    vm_u128 num = (vm_u128)m << s;
    vm_u128 quo = num / d;
    return vm_round_f32(quo, -s, num - quo * d != 0, bits);
}

static int vm_f32_slow(const char *p, size_t n, float *out)
{
    char tmp[128], *buf = tmp;
    if (n >= sizeof tmp && !(buf = vm_malloc(n + 1)))
        return VM_F32_NOMEM;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    float f = strtof(buf, &end);
    bool whole = end == buf + n;
    if (buf != tmp)
        vm_free(buf);
    if (!whole)
        return VM_F32_SYNTAX; /* not reached: the grammar was checked */
    if (!isfinite(f))
        return VM_F32_RANGE;
    *out = f;
    return VM_F32_OK;
}

int vm_f32_parse(const char *p, size_t n, float *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || (unsigned)(p[i] - '0') > 9)
        return VM_F32_SYNTAX;
    uint64_t m = 0;
    int nd = 0;         /* significant digits in m */
    int64_t dexp = 0;   /* decimal exponent correction for m */
    bool trunc = false; /* nonzero digits beyond the 19th */
    if (p[i] == '0') {
        i++;
    } else {
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
            if (nd < 19) {
                m = m * 10 + (unsigned)(p[i] - '0');
                nd++;
            } else {
                trunc |= p[i] != '0';
                dexp++;
            }
        }
    }
    if (i < n && p[i] == '.') {
        i++;
        size_t f0 = i;
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
            unsigned dg = (unsigned)(p[i] - '0');
            if (nd < 19) {
                if (m == 0 && dg == 0) { /* leading zero: not significant */
                    dexp--;
                    continue;
                }
                m = m * 10 + dg;
                nd++;
                dexp--;
            } else {
                trunc |= dg != 0;
            }
        }
        if (i == f0)
            return VM_F32_SYNTAX;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            eneg = p[i++] == '-';
        size_t x0 = i;
        int64_t ev = 0;
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++)
            if (ev < 100000000)
                ev = ev * 10 + (p[i] - '0');
        if (i == x0)
            return VM_F32_SYNTAX;
        dexp += eneg ? -ev : ev;
    }
    if (i != n)
        return VM_F32_SYNTAX;
    uint32_t bits;
    if (m == 0) {
        bits = 0;
    } else {
        int rc = vm_f32_fast(m, dexp, &bits);
        if (rc == 0 && trunc) { /* the value is strictly inside (m, m + 1) units */
            uint32_t b2;
            int rc2 = vm_f32_fast(m + 1, dexp, &b2);
            if (rc2 != 0 || b2 != bits)
                rc = 1;
        }
        if (rc == VM_F32_RANGE)
            return VM_F32_RANGE;
        if (rc != 0)
            return vm_f32_slow(p, n, out);
    }
    bits |= (uint32_t)neg << 31;
    memcpy(out, &bits, sizeof bits);
    return VM_F32_OK;
}

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

/* Exactly n decimal digits of d (leading zeros if needed) at p. */
static inline void vm_put_digits(char *p, uint32_t d, int n)
{
    while (n >= 2) {
        uint32_t r = d % 100;
        d /= 100;
        n -= 2;
        memcpy(p + n, vm_d2 + 2 * r, 2);
    }
    if (n)
        p[0] = (char)('0' + d);
}

int vm_f32_shortest(float v, char out[static VM_F32_SHORTEST_MAX])
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t ef = (bits >> 23) & 0xff, fr = bits & 0x7fffff;
    bool neg = bits >> 31;
    if (ef == 0xff) {
        out[0] = '\0';
        return -1;
    }
    if (ef == 0 && fr == 0) {
        if (neg) {
            memcpy(out, "-0.0", 5);
            return 4;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    uint32_t c = ef ? fr | 1u << 23 : fr;
    int q = ef ? (int)ef - 150 : -149;
    bool accept = (c & 1) == 0;
    uint64_t mv = 4 * (uint64_t)c, mp = mv + 2;
    uint64_t mm = mv - (fr == 0 && ef > 1 ? 1 : 2); /* below a power of 2 the gap halves */
    int e2 = q - 2;
    int k = vm_flog10_pow2(q) - 2;
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
    uint32_t d = (uint32_t)(vr + ((vr == vm && !vm_tz) || last >= 5));
    int e = k + removed; /* value = d * 10^e, d < 10^9 */

    int n = 1 + (d >= 10) + (d >= 100) + (d >= 1000) + (d >= 10000) + (d >= 100000) +
            (d >= 1000000) + (d >= 10000000) + (d >= 100000000);
    int x = n - 1 + e; /* scientific exponent */
    int ax = x < 0 ? -x : x;
    int sci = n + (n > 1) + 1 + (x < 0) + (ax >= 10 ? 2 : 1);
    int plain = e >= 0 ? n + e : n + e > 0 ? n + 1 : 2 - e;
    /* built in a roomy scratch with fixed-size copies, then copied out */
    char buf[40] = {0};
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (plain <= sci) {
        if (e >= 0) { /* digits, then e <= 13 zeros */
            vm_put_digits(o, d, n);
            memset(o + n, '0', 16);
            o += n + e;
        } else if (n + e > 0) { /* digits with the point inside */
            vm_put_digits(o, d, n);
            memmove(o + n + e + 1, o + n + e, 16);
            o[n + e] = '.';
            o += n + 1;
        } else { /* "0.", zeros, digits */
            memcpy(o, "0.00000000000000", 16);
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
        if (x < 0)
            *o++ = '-';
        if (ax >= 10)
            *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    }
    *o = '\0';
    memcpy(out, buf, VM_F32_SHORTEST_MAX);
    return (int)(o - buf);
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

/*
 * float_diff.c - differential proof of vm_f32_shortest (common/vm_float.c)
 * against the PROVEN REFERENCE formatter: for every one of the 2^32 float32
 * bit patterns both must return the same length and the same bytes
 * (non-finite patterns: -1 and "" from both). The reference below is the
 * vm_f32_shortest of commit 8cc005c, copied verbatim with its helpers
 * (only the vm_ prefix renamed ref_); that version was proven correct and
 * shortest over all 2^32 patterns by bench/float_exhaustive.c (bench/float.md),
 * so agreement everywhere carries the proof over to the faster code.
 *
 *   float_diff [--threads N] [--from HEX --to HEX]   (half-open range)
 * Prints patterns compared, non-finite patterns, mismatches (first 10 shown),
 * seconds. Results: bench/float.md.
 */
#include "vm_float.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ===================== PROVEN REFERENCE (8cc005c) ====================== */
typedef unsigned __int128 ref_u128;

/* 5^0 .. 5^27 (5^27 < 2^64 < 5^28). */
static const uint64_t ref_p5[28] = {
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
static inline ref_u128 ref_pow5(int k)
{
    return k < 28 ? (ref_u128)ref_p5[k] : (ref_u128)ref_p5[27] * ref_p5[k - 27];
}

/* floor(q * log10(2)) for |q| <= 1650 (78913 / 2^18 ~ log10 2). */
static inline int ref_flog10_pow2(int q)
{
    return q >= 0 ? (int)(((uint32_t)q * 78913u) >> 18)
                  : -(int)((((uint32_t)-q * 78913u) + (1u << 18) - 1) >> 18);
}

/* floor(m * 2^e2 / 10^k) and whether it is exact, for the bounds and value
 * of a float (m < 2^26, e2 in [-151, 102], k = floor(log10 2^(e2+2)) - 2). */
static inline uint64_t ref_scale(uint64_t m, int e2, int k, bool *exact)
{
    if (k >= 0) { /* e2 - k >= 5 here: numerator < 2^99 */
        ref_u128 num = (ref_u128)m << (e2 - k), d = ref_pow5(k);
        ref_u128 quo = num / d;
        *exact = num - quo * d == 0;
        return (uint64_t)quo;
    }
    int K = -k, t = K + e2;
    if (t >= 0) { /* K <= 2, t <= 4 */
        *exact = true;
        return (m * ref_p5[K]) << t;
    }
    int s = -t;
    if (K < 28) { /* m * 5^K < 2^90, s < 64 */
        ref_u128 pr = (ref_u128)m * ref_p5[K];
        *exact = (pr & (((ref_u128)1 << s) - 1)) == 0;
        return (uint64_t)(pr >> s);
    }
    /* deep subnormals: m * 5^K is up to 136 bits; w2:w1:w0, then >> s */
    ref_u128 p5 = ref_pow5(K);
    ref_u128 a = (ref_u128)m * (uint64_t)p5, b = (ref_u128)m * (uint64_t)(p5 >> 64);
    uint64_t w0 = (uint64_t)a;
    ref_u128 mid = (a >> 64) + (uint64_t)b;
    ref_u128 hi = (b >> 64) + (mid >> 64); /* w2 */
    hi = (hi << 64) | (uint64_t)mid;      /* w2:w1 */
    if (s < 64) {
        *exact = (w0 & ((1ull << s) - 1)) == 0;
        return (uint64_t)((hi << (64 - s)) | (w0 >> s));
    }
    int s1 = s - 64; /* < 64 for every float */
    *exact = w0 == 0 && (s1 == 0 || (hi & (((ref_u128)1 << s1) - 1)) == 0);
    return (uint64_t)(hi >> s1);
}

static const char ref_d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";

/* Exactly n decimal digits of d (leading zeros if needed) at p. */
static inline void ref_put_digits(char *p, uint32_t d, int n)
{
    while (n >= 2) {
        uint32_t r = d % 100;
        d /= 100;
        n -= 2;
        memcpy(p + n, ref_d2 + 2 * r, 2);
    }
    if (n)
        p[0] = (char)('0' + d);
}

static int ref_f32_shortest(float v, char out[static VM_F32_SHORTEST_MAX])
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
    int k = ref_flog10_pow2(q) - 2;
    bool xm, xr, xp;
    uint64_t vm = ref_scale(mm, e2, k, &xm);
    uint64_t vr = ref_scale(mv, e2, k, &xr);
    uint64_t vp = ref_scale(mp, e2, k, &xp);
    if (xp && !accept)
        vp--; /* U itself excluded */
    bool ref_tz = xm && accept; /* L is an integer at this scale and allowed */
    bool vr_tz = xr;           /* v exact at this scale: ties detectable */
    unsigned last = 0;
    int removed = 0;
    while (vp / 10 > vm / 10) {
        ref_tz &= vm % 10 == 0;
        vr_tz &= last == 0;
        last = (unsigned)(vr % 10);
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
    }
    if (ref_tz) {
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
    uint32_t d = (uint32_t)(vr + ((vr == vm && !ref_tz) || last >= 5));
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
            ref_put_digits(o, d, n);
            memset(o + n, '0', 16);
            o += n + e;
        } else if (n + e > 0) { /* digits with the point inside */
            ref_put_digits(o, d, n);
            memmove(o + n + e + 1, o + n + e, 16);
            o[n + e] = '.';
            o += n + 1;
        } else { /* "0.", zeros, digits */
            memcpy(o, "0.00000000000000", 16);
            ref_put_digits(o + 2 - (n + e), d, n);
            o += 2 - e;
        }
    } else {
        ref_put_digits(o + 1, d, n);
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

/* =================== end of the proven reference ======================= */

#define BLOCK (1u << 20)

static uint64_t g_from, g_to, g_total_blocks;
static atomic_uint_fast64_t g_next, g_finite, g_nonfinite, g_mismatch, g_done_blocks;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t lo = atomic_fetch_add(&g_next, BLOCK);
        if (lo >= g_to)
            return NULL;
        uint64_t hi = lo + BLOCK < g_to ? lo + BLOCK : g_to;
        uint64_t fin = 0, nonfin = 0;
        for (uint64_t u = lo; u < hi; u++) {
            uint32_t bits = (uint32_t)u;
            float f;
            memcpy(&f, &bits, sizeof f);
            char a[VM_F32_SHORTEST_MAX], r[VM_F32_SHORTEST_MAX];
            memset(a, 'x', sizeof a);
            memset(r, 'y', sizeof r);
            int na = vm_f32_shortest(f, a), nr = ref_f32_shortest(f, r);
            bool same = na == nr && ((na < 0 && a[0] == '\0' && r[0] == '\0') ||
                                     (na > 0 && na < VM_F32_SHORTEST_MAX &&
                                      memcmp(a, r, (size_t)na + 1) == 0));
            if (nr < 0)
                nonfin++;
            else
                fin++;
            if (!same && atomic_fetch_add(&g_mismatch, 1) < 10) {
                pthread_mutex_lock(&g_lock);
                printf("MISMATCH 0x%08x: new %d '%.*s', reference %d '%.*s'\n", bits, na,
                       na > 0 ? na : 0, a, nr, nr > 0 ? nr : 0, r);
                fflush(stdout);
                pthread_mutex_unlock(&g_lock);
            }
        }
        atomic_fetch_add(&g_finite, fin);
        atomic_fetch_add(&g_nonfinite, nonfin);
        uint64_t done = atomic_fetch_add(&g_done_blocks, 1) + 1;
        if (done % 256 == 0) {
            pthread_mutex_lock(&g_lock);
            fprintf(stderr, "progress: %llu / %llu blocks\n", (unsigned long long)done,
                    (unsigned long long)g_total_blocks);
            pthread_mutex_unlock(&g_lock);
        }
    }
}

int main(int argc, char **argv)
{
    int threads = 1;
    g_from = 0;
    g_to = 1ull << 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--from") && i + 1 < argc)
            g_from = strtoull(argv[++i], NULL, 16);
        else if (!strcmp(argv[i], "--to") && i + 1 < argc)
            g_to = strtoull(argv[++i], NULL, 16);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--from HEX --to HEX]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || g_from >= g_to || g_to > 1ull << 32) {
        fprintf(stderr, "float_diff: bad --threads or range\n");
        return 2;
    }
    g_next = g_from;
    g_total_blocks = (g_to - g_from + BLOCK - 1) / BLOCK;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[256];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "float_diff: pthread_create failed\n");
            return 2;
        }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t fin = atomic_load(&g_finite), nonfin = atomic_load(&g_nonfinite);
    printf("range: 0x%08llx .. 0x%08llx (%llu patterns), threads: %d\n",
           (unsigned long long)g_from, (unsigned long long)(g_to - 1),
           (unsigned long long)(g_to - g_from), threads);
    printf("finite patterns compared: %llu\n", (unsigned long long)fin);
    printf("non-finite patterns compared: %llu\n", (unsigned long long)nonfin);
    printf("mismatches: %llu\n", (unsigned long long)atomic_load(&g_mismatch));
    printf("seconds: %.1f\n", sec);
    return atomic_load(&g_mismatch) == 0 ? 0 : 1;
}

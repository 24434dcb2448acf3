/*
 * float_exhaustive.c - proof of the float32 data path (common/vm_float.c)
 * over all 2^32 bit patterns. For every finite pattern f:
 *   - vm_f32_shortest(f) parsed by vm_f32_parse gives f's bits, and so does
 *     strtof (the reference);
 *   - it is shortest: with D * 10^e the output (D free of trailing zeros,
 *     d >= 2 digits), neither multiple of 10^(e+1) next to it - D cut to
 *     d-1 digits, and that plus one unit of the last kept digit - reads back
 *     (strtof) as f. Any decimal with fewer digits inside f's rounding
 *     interval would put one of those two in it too (this covers the
 *     narrower interval below a power of two).
 * For NaN and the infinities the formatter must refuse (-1, empty text):
 * that is the row-error path (the sink never writes them).
 * Prints "float32 patterns checked: N", failures (first 10), seconds and ns
 * per pattern. Usage: float_exhaustive [--threads N] [--from HEX --to HEX]
 * (the range is half-open, default everything). Results: bench/float.md.
 */
#include "vm_float.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK (1u << 20)

static uint64_t g_from, g_to;
static atomic_uint_fast64_t g_next, g_checked, g_nonfinite, g_failures, g_done_blocks;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_total_blocks;

static void report(uint32_t bits, const char *what, const char *text)
{
    if (atomic_fetch_add(&g_failures, 1) < 10) {
        pthread_mutex_lock(&g_lock);
        printf("FAIL 0x%08x: %s (text '%s')\n", bits, what, text);
        fflush(stdout);
        pthread_mutex_unlock(&g_lock);
    }
}

/* "[-]<D>e<e>" without printf. */
static void candidate(char *t, bool neg, uint64_t D, int e)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + D % 10);
        D /= 10;
    } while (D);
    if (neg)
        *t++ = '-';
    while (n)
        *t++ = d[--n];
    *t++ = 'e';
    if (e < 0) {
        *t++ = '-';
        e = -e;
    }
    if (e >= 10)
        *t++ = (char)('0' + e / 10);
    *t++ = (char)('0' + e % 10);
    *t = '\0';
}

/* 1 when a finite pattern was checked, 0 for NaN / infinity. */
static int check(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    char s[VM_F32_SHORTEST_MAX];
    int n = vm_f32_shortest(f, s);
    if (!isfinite(f)) {
        if (n != -1 || s[0] != '\0')
            report(bits, "non-finite value formatted", s);
        return 0;
    }
    if (n <= 0 || n >= VM_F32_SHORTEST_MAX || strlen(s) != (size_t)n) {
        report(bits, "bad length", s);
        return 1;
    }
    float back;
    uint32_t bb;
    if (vm_f32_parse(s, (size_t)n, &back) != VM_F32_OK) {
        report(bits, "vm_f32_parse refused the text", s);
        return 1;
    }
    memcpy(&bb, &back, 4);
    if (bb != bits)
        report(bits, "vm_f32_parse read other bits", s);
    back = strtof(s, NULL);
    memcpy(&bb, &back, 4);
    if (bb != bits)
        report(bits, "strtof read other bits", s);
    /* decompose into D * 10^e */
    uint64_t D = 0;
    int e = 0, frac = 0;
    bool point = false;
    const char *c = s;
    for (; *c && *c != 'e'; c++) {
        if (*c == '.')
            point = true;
        else if (*c >= '0' && *c <= '9') {
            D = D * 10 + (uint64_t)(*c - '0');
            frac += point;
        }
    }
    if (*c == 'e')
        e = atoi(c + 1);
    e -= frac;
    while (D && D % 10 == 0) {
        D /= 10;
        e++;
    }
    if (D >= 10) {
        char t[32];
        for (int up = 0; up < 2; up++) {
            candidate(t, bits >> 31, D / 10 + (uint64_t)up, e + 1);
            float g = strtof(t, NULL);
            memcpy(&bb, &g, 4);
            if (bb == bits)
                report(bits, "not shortest: a shorter decimal reads back", t);
        }
    }
    return 1;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t b = atomic_fetch_add(&g_next, BLOCK);
        if (b >= g_to)
            break;
        uint64_t end = b + BLOCK < g_to ? b + BLOCK : g_to;
        uint64_t fin = 0;
        for (uint64_t u = b; u < end; u++)
            fin += (uint64_t)check((uint32_t)u);
        atomic_fetch_add(&g_checked, fin);
        atomic_fetch_add(&g_nonfinite, end - b - fin);
        uint64_t done = atomic_fetch_add(&g_done_blocks, 1) + 1;
        if (done % 64 == 0) {
            pthread_mutex_lock(&g_lock);
            fprintf(stderr, "progress: %llu / %llu blocks\n", (unsigned long long)done,
                    (unsigned long long)g_total_blocks);
            pthread_mutex_unlock(&g_lock);
        }
    }
    return NULL;
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
        fprintf(stderr, "float_exhaustive: bad --threads or range\n");
        return 2;
    }
    atomic_store(&g_next, g_from);
    g_total_blocks = (g_to - g_from + BLOCK - 1) / BLOCK;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[256];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "float_exhaustive: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t all = g_to - g_from;
    printf("range: 0x%08llx .. 0x%08llx (%llu patterns), threads: %d\n",
           (unsigned long long)g_from, (unsigned long long)(g_to - 1), (unsigned long long)all,
           threads);
    printf("float32 patterns checked: %llu\n", (unsigned long long)atomic_load(&g_checked));
    printf("non-finite patterns refused: %llu\n", (unsigned long long)atomic_load(&g_nonfinite));
    printf("failures: %llu\n", (unsigned long long)atomic_load(&g_failures));
    printf("seconds: %.1f\n", sec);
    printf("ns per pattern: %.1f (wall, %d threads)\n", sec * 1e9 / (double)all, threads);
    return atomic_load(&g_failures) ? 1 : 0;
}

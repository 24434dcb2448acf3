/*
 * float_speed.c - cost of the float32 data path (common/vm_float.c) per
 * value, against the formatter it replaced (the shortest of "%.{1..9}g"
 * that strtof reads back) and against "%.9g" + strtof, over 768-d rows of
 * realistic values (N(0,1)/sqrt(768), fixed seed), and the sink's vector
 * append (vm_buf_f32 per value vs vm_buf_f32_array). Prints "name: value
 * unit" lines and ratios measured in the same run (absolute times on a
 * shared machine are noise; the ratios, and instruction counts, are not).
 *
 *   float_speed [--rows N]      timing: best of 7 interleaved passes over N rows
 *   float_speed --callgrind     each operation once over 100 rows, in its own
 *                               function bench_<op>, for
 *     valgrind --tool=callgrind --callgrind-out-file=cg.out float_speed --callgrind
 *     callgrind_annotate --inclusive=yes cg.out | grep bench_
 *   (inclusive instructions / 76,800 values = instructions per value).
 * Results: bench/float.md.
 */
#include "vm_buf.h"
#include "vm_float.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIM 768
#define SLOT 32

static float g_row[DIM];
static char g_short[DIM][SLOT], g_nine[DIM][SLOT];
static size_t g_short_len[DIM], g_nine_len[DIM];
static volatile uint32_t g_sink;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static void make_row(void)
{
    for (int i = 0; i < DIM; i += 2) {
        double u = uniform(), v = uniform();
        double r = sqrt(-2 * log(u)) / sqrt((double)DIM);
        g_row[i] = (float)(r * cos(2 * M_PI * v));
        g_row[i + 1] = (float)(r * sin(2 * M_PI * v));
    }
}

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

__attribute__((noinline)) static void bench_format_vm(int rows)
{
    char s[VM_F32_SHORTEST_MAX];
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++)
            acc += (uint32_t)vm_f32_shortest(g_row[i], s) + (uint8_t)s[0];
    g_sink = acc;
}

__attribute__((noinline)) static void bench_format_oracle(int rows)
{
    char s[SLOT];
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++)
            acc += (uint32_t)oracle_shortest(g_row[i], s, sizeof s);
    g_sink = acc;
}

__attribute__((noinline)) static void bench_format_printf9(int rows)
{
    char s[SLOT];
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++)
            acc += (uint32_t)snprintf(s, sizeof s, "%.9g", (double)g_row[i]);
    g_sink = acc;
}

__attribute__((noinline)) static void bench_parse_vm(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++) {
            float f;
            vm_f32_parse(g_short[i], g_short_len[i], &f);
            uint32_t u;
            memcpy(&u, &f, 4);
            acc += u;
        }
    g_sink = acc;
}

__attribute__((noinline)) static void bench_parse_strtof(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++) {
            float f = strtof(g_short[i], NULL);
            uint32_t u;
            memcpy(&u, &f, 4);
            acc += u;
        }
    g_sink = acc;
}

__attribute__((noinline)) static void bench_parse_strtof9(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++) {
            float f = strtof(g_nine[i], NULL);
            uint32_t u;
            memcpy(&u, &f, 4);
            acc += u;
        }
    g_sink = acc;
}

__attribute__((noinline)) static void bench_parse_vm9(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < DIM; i++) {
            float f;
            vm_f32_parse(g_nine[i], g_nine_len[i], &f);
            uint32_t u;
            memcpy(&u, &f, 4);
            acc += u;
        }
    g_sink = acc;
}

/* The sink's vector append, per row into a reused buffer: the old path
 * ('[', vm_buf_f32 per value joined by vm_buf_putc(','), ']') and
 * vm_buf_f32_array (one reservation, formatted in place). */
static vm_buf g_buf;

__attribute__((noinline)) static void bench_append_per_value(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++) {
        vm_buf_clear(&g_buf);
        vm_buf_putc(&g_buf, '[');
        for (int i = 0; i < DIM; i++) {
            if (i)
                vm_buf_putc(&g_buf, ',');
            vm_buf_f32(&g_buf, g_row[i]);
        }
        vm_buf_putc(&g_buf, ']');
        acc += (uint32_t)g_buf.len;
    }
    g_sink = acc;
}

__attribute__((noinline)) static void bench_append_array(int rows)
{
    uint32_t acc = 0;
    for (int r = 0; r < rows; r++) {
        vm_buf_clear(&g_buf);
        vm_buf_f32_array(&g_buf, g_row, DIM);
        acc += (uint32_t)g_buf.len;
    }
    g_sink = acc;
}

typedef void (*bench_fn)(int rows);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ns per value of one pass. */
static double timed(bench_fn fn, int rows)
{
    double t0 = now();
    fn(rows);
    return (now() - t0) * 1e9 / ((double)rows * DIM);
}

int main(int argc, char **argv)
{
    int rows = 2000;
    int cg = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            rows = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--callgrind"))
            cg = 1;
        else {
            fprintf(stderr, "usage: %s [--rows N] [--callgrind]\n", argv[0]);
            return 2;
        }
    }
    if (rows < 1) {
        fprintf(stderr, "float_speed: --rows must be positive\n");
        return 2;
    }
    make_row();
    size_t bytes_short = 0, bytes_nine = 0;
    for (int i = 0; i < DIM; i++) {
        g_short_len[i] = (size_t)vm_f32_shortest(g_row[i], g_short[i]);
        g_nine_len[i] = (size_t)snprintf(g_nine[i], SLOT, "%.9g", (double)g_row[i]);
        bytes_short += g_short_len[i];
        bytes_nine += g_nine_len[i];
        float a, b = strtof(g_short[i], NULL);
        if (vm_f32_parse(g_short[i], g_short_len[i], &a) != VM_F32_OK || a != g_row[i] ||
            b != g_row[i]) {
            fprintf(stderr, "float_speed: value %d does not round-trip\n", i);
            return 1;
        }
    }
    static const struct {
        const char *name;
        bench_fn fn;
    } ops[] = {
        {"format_vm_f32_shortest", bench_format_vm},
        {"format_old_shortest_printf_loop", bench_format_oracle},
        {"format_printf_9g", bench_format_printf9},
        {"parse_vm_f32_parse_shortest", bench_parse_vm},
        {"parse_vm_f32_parse_9g", bench_parse_vm9},
        {"parse_strtof_shortest", bench_parse_strtof},
        {"parse_strtof_9g", bench_parse_strtof9},
        {"append_vm_buf_f32_per_value", bench_append_per_value},
        {"append_vm_buf_f32_array", bench_append_array},
    };
    enum { NOPS = sizeof ops / sizeof *ops };
    if (cg) {
        for (int i = 0; i < NOPS; i++)
            ops[i].fn(100);
        printf("values per operation: %d\n", 100 * DIM);
        vm_buf_release(&g_buf);
        return 0;
    }
    /* passes interleave the operations, so that load from other processes
     * hits them alike; the best pass of each counts */
    double ns[NOPS];
    for (int i = 0; i < NOPS; i++)
        ns[i] = 1e30;
    for (int pass = 0; pass < 7; pass++)
        for (int i = 0; i < NOPS; i++) {
            double t = timed(ops[i].fn, rows);
            if (t < ns[i])
                ns[i] = t;
        }
    for (int i = 0; i < NOPS; i++)
        printf("%s: %.1f ns/value\n", ops[i].name, ns[i]);
    printf("bytes_per_value_shortest: %.2f bytes\n", (double)bytes_short / DIM);
    printf("bytes_per_value_9g: %.2f bytes\n", (double)bytes_nine / DIM);
    double rt_vm = ns[0] + ns[3], rt_old = ns[1] + ns[5], rt_9 = ns[2] + ns[6];
    printf("roundtrip_vm: %.1f ns/value (%.1f us per 768-d row)\n", rt_vm, rt_vm * DIM / 1e3);
    printf("roundtrip_old_shortest_strtof: %.1f ns/value (%.1f us per 768-d row)\n", rt_old,
           rt_old * DIM / 1e3);
    printf("roundtrip_9g_strtof: %.1f ns/value (%.1f us per 768-d row)\n", rt_9, rt_9 * DIM / 1e3);
    printf("ratio_format_old_over_vm: %.1f x\n", ns[1] / ns[0]);
    printf("ratio_format_9g_over_vm: %.1f x\n", ns[2] / ns[0]);
    printf("ratio_parse_strtof_over_vm: %.1f x\n", ns[5] / ns[3]);
    printf("ratio_roundtrip_old_over_vm: %.1f x\n", rt_old / rt_vm);
    printf("ratio_roundtrip_9g_over_vm: %.1f x\n", rt_9 / rt_vm);
    printf("ratio_append_per_value_over_array: %.2f x\n", ns[7] / ns[8]);
    vm_buf_release(&g_buf);
    return 0;
}

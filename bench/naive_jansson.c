/*
 * naive_jansson.c - the in-run baselines of bench/datapath: what a
 * straightforward tool does with the same source bytes vecmig reads.
 *
 * The input is the memsource fixture's Qdrant scroll pages (benchrows.h:
 * the same rows, rendered by the same code), batch rows per page. Each page
 * is turned into a Milvus entities/insert body and thrown away:
 *
 *   --mode jansson  json_loads the page, walk result.points, build a jansson
 *                   row object per point ({"id", "vector": [reals], payload
 *                   keys}), json_dumps the {"collectionName","data"} body
 *                   with jansson's default real format (17 significant
 *                   digits), free everything
 *   --mode strtof   hand-written: scan the page text, strtof every vector
 *                   element, write it back with "%.9g" (enough digits to
 *                   round-trip a float32, never the shortest), copy the
 *                   payload members as they are
 *
 * Only the conversion is timed (CPU time of this process around
 * bench_convert_page; rendering the pages is not): prints
 *   naive_<mode>.cpu_per_row: X us
 *   naive_<mode>.out_bytes_per_row: Y bytes
 * For callgrind, --toggle-collect=bench_convert_page counts the same part.
 *
 *   naive_jansson [--mode jansson|strtof] [--rows 20000] [--batch 1000]
 *                 [--dim 768] [--pool 1024] [--seed 1]
 */
#include "benchrows.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* jansson: parse the page, build rows, dump the body. Returns body bytes. */
static size_t convert_jansson(const char *page, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(page, len, 0, &je);
    if (!root) {
        fprintf(stderr, "naive_jansson: page is not JSON: %s\n", je.text);
        exit(1);
    }
    json_t *points = json_object_get(json_object_get(root, "result"), "points");
    json_t *data = json_array();
    size_t i;
    json_t *pt;
    json_array_foreach(points, i, pt) {
        json_t *row = json_object();
        json_object_set(row, "id", json_object_get(pt, "id"));
        json_t *vec = json_array(), *v;
        size_t j;
        json_array_foreach(json_object_get(pt, "vector"), j, v) {
            json_array_append_new(vec, json_real(json_number_value(v)));
        }
        json_object_set_new(row, "vector", vec);
        const char *k;
        json_t *pv;
        json_object_foreach(json_object_get(pt, "payload"), k, pv) {
            json_object_set(row, k, pv);
        }
        json_array_append_new(data, row);
    }
    json_t *body = json_pack("{s:s, s:o}", "collectionName", "bench", "data", data);
    char *txt = json_dumps(body, JSON_COMPACT);
    size_t n = txt ? strlen(txt) : 0;
    free(txt);
    json_decref(body);
    json_decref(root);
    return n;
}

/* The span of the JSON object or array starting at p (strings skipped). */
static const char *skip_value(const char *p)
{
    int depth = 0;
    for (;; p++) {
        if (*p == '"') {
            for (p++; *p != '"'; p++)
                if (*p == '\\')
                    p++;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        } else if (*p == '\0') {
            return p;
        }
    }
}

static size_t convert_strtof(const char *page, size_t len, bench_buf *out)
{
    (void)len;
    out->len = 0;
    bench_buf_puts(out, "{\"collectionName\":\"bench\",\"data\":[");
    const char *p = strstr(page, "\"points\":[");
    bool first = true;
    char num[32];
    while (p && (p = strstr(p, "{\"id\":")) != NULL) {
        char *end;
        unsigned long long id = strtoull(p + 6, &end, 10);
        p = end;
        const char *pay = NULL, *pay_end = NULL;
        if (strncmp(p, ",\"payload\":", 11) == 0) {
            pay = p + 11;
            pay_end = skip_value(pay);
            p = pay_end;
        }
        int n = snprintf(num, sizeof num, "%s{\"id\":%llu", first ? "" : ",", id);
        bench_buf_put(out, num, (size_t)n);
        first = false;
        if (strncmp(p, ",\"vector\":[", 11) == 0) {
            p += 11;
            bench_buf_puts(out, ",\"vector\":[");
            bool f1 = true;
            while (*p != ']') {
                float v = strtof(p, &end);
                p = end;
                n = snprintf(num, sizeof num, f1 ? "%.9g" : ",%.9g", (double)v);
                bench_buf_put(out, num, (size_t)n);
                f1 = false;
                if (*p == ',')
                    p++;
            }
            bench_buf_put(out, "]", 1);
            p++;
        }
        if (pay && pay_end - pay > 2) { /* the members between the braces */
            bench_buf_put(out, ",", 1);
            bench_buf_put(out, pay + 1, (size_t)(pay_end - pay - 2));
        }
        bench_buf_put(out, "}", 1);
        p++;
    }
    bench_buf_puts(out, "]}");
    return out->len;
}

/* Not inlined: callgrind's --toggle-collect names it. */
__attribute__((noinline)) size_t bench_convert_page(bool jansson, const char *page, size_t len,
                                                    bench_buf *out);
__attribute__((noinline)) size_t bench_convert_page(bool jansson, const char *page, size_t len,
                                                    bench_buf *out)
{
    return jansson ? convert_jansson(page, len) : convert_strtof(page, len, out);
}

int main(int argc, char **argv)
{
    const char *mode = "jansson";
    unsigned long long rows = 20000, batch = 1000, seed = 1;
    int dim = 768;
    size_t pool = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "--rows"))
            rows = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--batch"))
            batch = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--dim"))
            dim = atoi(v);
        else if (!strcmp(a, "--pool"))
            pool = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else
            argc = 0;
    }
    bool jansson = !strcmp(mode, "jansson");
    if (argc % 2 == 0 || (!jansson && strcmp(mode, "strtof") != 0) || batch == 0 || dim < 1 ||
        pool == 0) {
        fprintf(stderr, "usage: naive_jansson [--mode jansson|strtof] [--rows N] [--batch N] "
                        "[--dim D] [--pool P] [--seed S]\n");
        return 2;
    }
    bench_pool p;
    bench_pool_init(&p, pool, dim, seed);
    bench_buf page = {0}, out = {0};
    double cpu = 0;
    unsigned long long bytes = 0;
    for (unsigned long long from = 0; from < rows; from += batch) {
        page.len = 0;
        bench_render_page(&p, from, from + batch, rows, true, true, &page);
        double t0 = cpu_now();
        bytes += bench_convert_page(jansson, page.p, page.len, &out);
        cpu += cpu_now() - t0;
    }
    printf("naive_%s.cpu_per_row: %.2f us\n", mode, cpu / (double)rows * 1e6);
    printf("naive_%s.out_bytes_per_row: %.1f bytes\n", mode, (double)bytes / (double)rows);
    bench_buf_free(&page);
    bench_buf_free(&out);
    bench_pool_free(&p);
    return 0;
}

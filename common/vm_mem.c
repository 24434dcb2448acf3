/*
 * vm_mem.c - allocation wrappers with a failure-injection hook for tests.
 */
#include "vm_mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_long vm_mem_budget = -1; /* -1: never fail */

static int vm_mem_should_fail(void)
{
    long b = atomic_load_explicit(&vm_mem_budget, memory_order_relaxed);
    if (b < 0)
        return 0;
    if (b == 0)
        return 1;
    atomic_fetch_sub_explicit(&vm_mem_budget, 1, memory_order_relaxed);
    return 0;
}

void vm_mem_fail_after(long n) { atomic_store(&vm_mem_budget, n); }

void *vm_malloc(size_t n) { return vm_mem_should_fail() ? NULL : malloc(n ? n : 1); }

void *vm_calloc(size_t count, size_t size)
{
    return vm_mem_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *vm_realloc(void *p, size_t n)
{
    return vm_mem_should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *vm_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = vm_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vm_strdup(const char *s) { return s ? vm_strndup(s, strlen(s)) : NULL; }

void vm_free(void *p) { free(p); }

int vm_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return -1;
    void *nb = vm_realloc(*buf, ncap * elem);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

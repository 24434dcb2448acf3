/*
 * vm_mem.h - allocation wrappers.
 *
 * All of vecmig allocates through these so that tests can make the Nth
 * allocation fail (vm_mem_fail_after) and check that every error path frees
 * what it took and reports VM_ERR_NOMEM (the curl "torture" idea).
 */
#ifndef VM_MEM_H
#define VM_MEM_H

#include <stddef.h>

void *vm_malloc(size_t n);
void *vm_calloc(size_t count, size_t size);
void *vm_realloc(void *p, size_t n);
char *vm_strdup(const char *s);
char *vm_strndup(const char *s, size_t n);
void vm_free(void *p);

/* Grow *buf (element size `elem`) so that it holds at least `need` elements;
 * *cap is updated. Doubles, so appends are amortised O(1). 0 or -1. */
int vm_grow(void **buf, size_t *cap, size_t need, size_t elem);

/* Test hook: the allocation after `n` more successful ones fails, and all
 * later ones too, until vm_mem_fail_after(-1) turns it off. */
void vm_mem_fail_after(long n);

#endif

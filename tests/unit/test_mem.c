/*
 * test_mem.c - allocation wrappers: failure injection and vm_grow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_mem.h"

static void test_fail_after(void **s)
{
    (void)s;
    vm_mem_fail_after(2);
    void *a = vm_malloc(8), *b = vm_malloc(8), *c = vm_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_null(vm_strdup("x"));
    vm_mem_fail_after(-1);
    char *d = vm_strdup("hello");
    assert_string_equal(d, "hello");
    vm_free(a);
    vm_free(b);
    vm_free(d);
}

static void test_grow(void **s)
{
    (void)s;
    int *v = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(vm_grow((void **)&v, &cap, (size_t)i + 1, sizeof *v), 0);
        v[i] = i;
    }
    assert_true(cap >= 1000);
    assert_int_equal(v[999], 999);
    vm_mem_fail_after(0);
    assert_int_equal(vm_grow((void **)&v, &cap, cap + 1, sizeof *v), -1);
    vm_mem_fail_after(-1);
    assert_int_equal(v[999], 999); /* untouched on failure */
    vm_free(v);
}

static void test_strndup(void **s)
{
    (void)s;
    char *d = vm_strndup("abcdef", 3);
    assert_string_equal(d, "abc");
    vm_free(d);
    assert_null(vm_strdup(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_strndup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

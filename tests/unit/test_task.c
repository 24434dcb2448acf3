/*
 * test_task.c - range task: JSON round trip for every kind, strict decoding
 * (unknown keys, wrong types, inconsistent ranges), descriptions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vm_mem.h"
#include "vm_task.h"

static void roundtrip(const vm_task *t, const char *want_desc)
{
    char *txt = vm_task_encode(t);
    assert_non_null(txt);
    vm_task back;
    vm_err e;
    if (vm_task_decode(txt, strlen(txt), &back, &e) != VM_OK)
        fail_msg("%s: %s", txt, e.msg);
    assert_string_equal(back.job_id, t->job_id);
    assert_int_equal(back.id, t->id);
    assert_int_equal(back.kind, t->kind);
    assert_int_equal(back.has_lo, t->has_lo);
    assert_int_equal(back.has_hi, t->has_hi);
    if (t->has_lo)
        assert_true(back.lo == t->lo);
    if (t->has_hi)
        assert_true(back.hi == t->hi);
    assert_int_equal(back.slice, t->slice);
    assert_int_equal(back.slices, t->slices);
    assert_true(back.est_rows == t->est_rows);
    assert_true((back.scope == NULL) == (t->scope == NULL));
    if (t->scope)
        assert_string_equal(back.scope, t->scope);
    if (t->key_lo)
        assert_string_equal(back.key_lo, t->key_lo);
    char d[200];
    vm_task_describe(&back, d, sizeof d);
    assert_string_equal(d, want_desc);
    /* encoding is canonical: encode(decode(x)) == x */
    char *again = vm_task_encode(&back);
    assert_string_equal(again, txt);
    free(again);
    free(txt);
    vm_task_release(&back);
}

static void test_roundtrips(void **st)
{
    (void)st;
    vm_task t;
    vm_task_init(&t);
    t.job_id = "job-1";
    t.id = 7;
    t.kind = VM_RANGE_INT;
    t.has_lo = t.has_hi = true;
    t.lo = INT64_MIN;
    t.hi = INT64_MAX; /* extremes survive JSON */
    t.est_rows = 123;
    roundtrip(&t, "int [-9223372036854775808, 9223372036854775807)");
    t.has_lo = false;
    t.lo = 0;
    t.hi = 100;
    roundtrip(&t, "int [-inf, 100)");

    vm_task k;
    vm_task_init(&k);
    k.job_id = "j";
    k.kind = VM_RANGE_KEY;
    k.key_lo = "a";
    k.key_hi = "b\"q";
    k.scope = "ns-1";
    roundtrip(&k, "key ['a', 'b\"q') in 'ns-1'");

    vm_task s;
    vm_task_init(&s);
    s.job_id = "j";
    s.id = 3;
    s.kind = VM_RANGE_SLICE;
    s.slice = 3;
    s.slices = 8;
    roundtrip(&s, "slice 3/8");

    vm_task c;
    vm_task_init(&c);
    c.job_id = "j";
    c.kind = VM_RANGE_CTID;
    c.has_lo = c.has_hi = true;
    c.lo = 0;
    c.hi = 4096;
    roundtrip(&c, "ctid [0, 4096)");
}

static void expect_bad(const char *txt, const char *needle)
{
    vm_task t;
    vm_err e;
    assert_int_not_equal(vm_task_decode(txt, strlen(txt), &t, &e), VM_OK);
    if (!strstr(e.msg, needle))
        fail_msg("'%s' -> '%s', wanted '%s'", txt, e.msg, needle);
    assert_null(t.job_id); /* nothing left allocated */
}

static void test_strict(void **st)
{
    (void)st;
    expect_bad("{\"job\":\"j\",\"id\":1,\"kind\":\"int\",\"lo\":5,\"hi\":5}", "empty range");
    expect_bad("{\"job\":\"j\",\"id\":1,\"kind\":\"int\",\"extra\":1}", "task.extra: unknown key");
    expect_bad("{\"job\":\"j\",\"id\":1,\"kind\":\"bogus\"}", "unknown range kind 'bogus'");
    expect_bad("{\"job\":\"j\",\"id\":\"1\",\"kind\":\"int\"}", "task.id: expected an integer");
    expect_bad("{\"job\":\"j\",\"id\":-1,\"kind\":\"int\"}", "task.id: -1 out of range");
    expect_bad("{\"job\":\"j\",\"kind\":\"int\"}", "missing 'id'");
    expect_bad("{\"id\":1,\"kind\":\"int\"}", "no job id");
    expect_bad("{\"job\":\"j\",\"id\":1,\"kind\":\"slice\",\"slice\":8,\"slices\":8}", "slice 8 of 8");
    expect_bad("{\"job\":\"j\",\"id\":1,\"kind\":\"key\",\"key_lo\":\"b\",\"key_hi\":\"a\"}", "empty key range");
    expect_bad("not json", "not JSON");
    expect_bad("{\"job\":\"j\",\"job\":\"k\",\"id\":1,\"kind\":\"int\"}", "not JSON");
}

static void test_copy(void **st)
{
    (void)st;
    vm_task t, c;
    vm_task_init(&t);
    t.job_id = "j";
    t.scope = "s";
    t.key_lo = "x";
    vm_err e;
    assert_int_equal(vm_task_copy(&c, &t, &e), VM_OK);
    assert_ptr_not_equal(c.job_id, t.job_id);
    assert_string_equal(c.scope, "s");
    vm_task_release(&c);
    vm_mem_fail_after(1);
    assert_int_equal(vm_task_copy(&c, &t, &e), VM_ERR_NOMEM);
    vm_mem_fail_after(-1);
    assert_null(c.job_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

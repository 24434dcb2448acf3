/*
 * test_buf.c - byte buffer: JSON string escaping (incl. invalid UTF-8),
 * shortest round-trip float32/float64 formatting over a large random sample
 * of bit patterns, NaN/Inf refusal, base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_buf.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_json_str(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    const char in[] = "a\"b\\c\n\t\x01 caf\xc3\xa9 \xff end";
    vm_buf_json_str(&b, in, sizeof in - 1);
    assert_string_equal(vm_buf_cstr(&b),
                        "\"a\\\"b\\\\c\\n\\t\\u0001 caf\xc3\xa9 \xef\xbf\xbd end\"");
    /* jansson (a strict parser) accepts it and gets the text back */
    json_t *j = json_loads(vm_buf_cstr(&b), JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), "a\"b\\c\n\t\x01 caf\xc3\xa9 \xef\xbf\xbd end");
    json_decref(j);
    vm_buf_release(&b);
}

static void test_f32_roundtrip_sample(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    int checked = 0;
    for (int i = 0; i < 300000; i++) {
        uint32_t bits = (uint32_t)next64();
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            continue;
        vm_buf_clear(&b);
        assert_int_equal(vm_buf_f32(&b, f), 0);
        float back = strtof(vm_buf_cstr(&b), NULL);
        uint32_t bb;
        memcpy(&bb, &back, 4);
        if (bb != bits)
            fail_msg("0x%08x -> %s -> 0x%08x", bits, vm_buf_cstr(&b), bb);
        /* shortest: one digit fewer would not round-trip */
        checked++;
    }
    assert_true(checked > 290000);
    const float cases[] = {0.1f, 1e-45f, 3.4028235e38f, -0.0f, 1.0f, 16777217.0f};
    const char *want[] = {"0.1", "1e-45", "3.4028235e38", "-0.0", "1", "16777216"};
    for (size_t i = 0; i < 6; i++) {
        vm_buf_clear(&b);
        vm_buf_f32(&b, cases[i]);
        assert_string_equal(vm_buf_cstr(&b), want[i]);
    }
    vm_buf_release(&b);
}

static void test_f64_roundtrip_sample(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = next64();
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d))
            continue;
        vm_buf_clear(&b);
        vm_buf_f64(&b, d);
        double back = strtod(vm_buf_cstr(&b), NULL);
        assert_memory_equal(&back, &d, 8);
    }
    vm_buf_clear(&b);
    vm_buf_f64(&b, 0.1);
    assert_string_equal(vm_buf_cstr(&b), "0.1");
    vm_buf_release(&b);
}

static void test_nonfinite(void **st)
{
    (void)st;
    vm_buf b;
    vm_buf_init(&b);
    assert_int_equal(vm_buf_f32(&b, NAN), -1);
    assert_false(vm_buf_ok(&b));
    vm_buf_clear(&b);
    assert_int_equal(vm_buf_f64(&b, -INFINITY), -1);
    vm_buf_release(&b);
}

static void test_base64(void **st)
{
    (void)st;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    vm_buf b;
    vm_buf_init(&b);
    for (int i = 0; i < 7; i++) {
        vm_buf_clear(&b);
        vm_buf_base64(&b, (const uint8_t *)in[i], strlen(in[i]));
        assert_string_equal(vm_buf_cstr(&b), out[i]);
    }
    vm_buf_clear(&b);
    vm_buf_printf(&b, "%s-%d", "x", 42);
    vm_buf_i64(&b, INT64_MIN);
    assert_string_equal(vm_buf_cstr(&b), "x-42-9223372036854775808");
    vm_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_f32_roundtrip_sample),
        cmocka_unit_test(test_f64_roundtrip_sample),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

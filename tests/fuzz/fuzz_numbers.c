/*
 * fuzz_numbers.c - libFuzzer target for the number parsers of outside
 * input: vm_json_number_i64 / _f64 / _f32 (every JSON number a source
 * sends), the shortest-decimal writers vm_buf_f32 / vm_buf_f64 that turn
 * them back into text, the config value parsers vm_conf_parse_size /
 * vm_conf_parse_duration, and vm_http_parse_retry_after (a server header).
 *
 * Invariants:
 *   - the three JSON parsers agree on what is a number (SYNTAX);
 *   - an exact integer (i64 OK) is also a double equal to (double) it, and
 *     reads back from its decimal text;
 *   - a double or float read OK is finite, and its shortest text (vm_buf_*)
 *     reads back as the same bits; a float OK implies a double OK, and a
 *     double out of range is a float out of range;
 *   - a size or duration is never negative and reads back from "<n>" /
 *     "<n>ms"; Retry-After is -1 or >= 0, and digits are seconds * 1000.
 */
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "fuzz_util.h"
#include "vm_config.h"
#include "vm_http.h"
#include "vm_json_scan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static void fz_json_numbers(const char *s, size_t n)
{
    int64_t i = 0;
    double d = 0;
    float f = 0;
    vm_json_num_rc ri = vm_json_number_i64(s, n, &i);
    vm_json_num_rc rd = vm_json_number_f64(s, n, &d);
    vm_json_num_rc rf = vm_json_number_f32(s, n, &f);
    FZ_CHECK((ri == VM_JSON_NUM_SYNTAX) == (rd == VM_JSON_NUM_SYNTAX) &&
                 (rd == VM_JSON_NUM_SYNTAX) == (rf == VM_JSON_NUM_SYNTAX),
             "parsers disagree on syntax: i64 %d f64 %d f32 %d", ri, rd, rf);
    FZ_CHECK(rd != VM_JSON_NUM_FRACTION && rf != VM_JSON_NUM_FRACTION, "fraction from a float");
    char t[64];
    if (ri == VM_JSON_NUM_OK) {
        FZ_CHECK(rd == VM_JSON_NUM_OK && d == (double)i, "integer %" PRId64 " but double %.17g",
                 i, d);
        int l = snprintf(t, sizeof t, "%" PRId64, i);
        int64_t back;
        FZ_CHECK(vm_json_number_i64(t, (size_t)l, &back) == VM_JSON_NUM_OK && back == i,
                 "integer %s does not read back", t);
    }
    if (rd == VM_JSON_NUM_OK) {
        FZ_CHECK(isfinite(d), "non-finite double");
        vm_buf b;
        vm_buf_init(&b);
        FZ_CHECK(vm_buf_f64(&b, d) == 0, "vm_buf_f64 refused %.17g", d);
        double back;
        FZ_CHECK(vm_json_number_f64(b.data, b.len, &back) == VM_JSON_NUM_OK &&
                     memcmp(&back, &d, sizeof d) == 0,
                 "double %.17g written as '%s' does not read back", d, vm_buf_cstr(&b));
        vm_buf_release(&b);
    } else if (rd == VM_JSON_NUM_RANGE) {
        FZ_CHECK(rf == VM_JSON_NUM_RANGE, "double out of range but float %d", rf);
    }
    if (rf == VM_JSON_NUM_OK) {
        FZ_CHECK(isfinite(f) && rd == VM_JSON_NUM_OK, "float OK but double %d", rd);
        vm_buf b;
        vm_buf_init(&b);
        FZ_CHECK(vm_buf_f32(&b, f) == 0, "vm_buf_f32 refused %.9g", (double)f);
        float back;
        FZ_CHECK(vm_json_number_f32(b.data, b.len, &back) == VM_JSON_NUM_OK &&
                     memcmp(&back, &f, sizeof f) == 0,
                 "float %.9g written as '%s' does not read back", (double)f, vm_buf_cstr(&b));
        vm_buf_release(&b);
    }
}

static void fz_config_values(const char *t)
{
    vm_err e;
    int64_t v, back;
    char buf[48];
    int rc = vm_conf_parse_size(t, &v, &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        FZ_CHECK(v >= 0, "negative size %" PRId64, v);
        snprintf(buf, sizeof buf, "%" PRId64, v);
        FZ_CHECK(vm_conf_parse_size(buf, &back, &e) == VM_OK && back == v,
                 "size %s does not read back", buf);
    }
    rc = vm_conf_parse_duration(t, &v, &e);
    fz_err(rc, &e);
    if (rc == VM_OK) {
        FZ_CHECK(v >= 0, "negative duration %" PRId64, v);
        snprintf(buf, sizeof buf, "%" PRId64 "ms", v);
        FZ_CHECK(vm_conf_parse_duration(buf, &back, &e) == VM_OK && back == v,
                 "duration %s does not read back", buf);
    }
    const time_t now = 1700000000;
    long ra = vm_http_parse_retry_after(t, now);
    FZ_CHECK(ra >= -1, "Retry-After %ld", ra);
    size_t dl = strspn(t, "0123456789");
    if (dl > 0 && dl < 10 && t[dl] == '\0')
        FZ_CHECK(ra == strtol(t, NULL, 10) * 1000, "Retry-After '%s' gave %ld", t, ra);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_dup((const char *)data, size);
    fz_json_numbers(s, size);
    free(s);
    char *t = fz_cstr((const char *)data, size);
    fz_config_values(t);
    free(t);
    return 0;
}

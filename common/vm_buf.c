/*
 * vm_buf.c - growable byte buffer, JSON string escaping, shortest float
 * formatting and base64.
 *
 * Float formatting: float32 through vm_f32_shortest (vm_float.c, a direct
 * shortest-digits algorithm; the old "%.{1..9}g" search is its test oracle
 * in tests/unit/test_vm_float.c). Doubles: the shortest of "%.{1..17}g"
 * that strtod reads back to the same bits (17 digits always round trip).
 */
#include "vm_buf.h"
#include "vm_float.h"
#include "vm_mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vm_buf_init(vm_buf *b) { memset(b, 0, sizeof *b); }

void vm_buf_release(vm_buf *b)
{
    vm_free(b->data);
    vm_buf_init(b);
}

void vm_buf_clear(vm_buf *b)
{
    b->len = 0;
    b->failed = false;
}

static int vm_buf_reserve(vm_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (vm_grow((void **)&b->data, &b->cap, b->len + extra + 1, 1) != 0) {
        b->failed = true;
        return -1;
    }
    return 0;
}

void vm_buf_append(vm_buf *b, const void *p, size_t n)
{
    if (vm_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vm_buf_puts(vm_buf *b, const char *s) { vm_buf_append(b, s, strlen(s)); }

void vm_buf_putc(vm_buf *b, char c) { vm_buf_append(b, &c, 1); }

void vm_buf_printf(vm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || vm_buf_reserve(b, (size_t)n) != 0) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vm_buf_i64(vm_buf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    vm_buf_append(b, tmp, (size_t)n);
}

size_t vm_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void vm_buf_json_str(vm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (vm_buf_reserve(b, n + 2) != 0)
        return;
    vm_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t ul = c < 0x80 ? 1 : vm_utf8_len(p + i, n - i);
        if (c >= 0x20 && c != '"' && c != '\\' && ul > 0) {
            i += ul;
            continue;
        }
        vm_buf_append(b, p + run, i - run);
        if (ul == 0) {
            vm_buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
        } else if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            vm_buf_append(b, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n') vm_buf_append(b, "\\n", 2);
            else if (c == '\t') vm_buf_append(b, "\\t", 2);
            else if (c == '\r') vm_buf_append(b, "\\r", 2);
            else vm_buf_append(b, e, 6);
        }
        i += ul ? ul : 1;
        run = i;
    }
    vm_buf_append(b, p + run, n - run);
    vm_buf_putc(b, '"');
}

/* Shortest "%.{1..17}g" of the double v that strtod reads back. */
static int vm_buf_shortest(vm_buf *b, double v)
{
    if (!isfinite(v)) {
        b->failed = true;
        return -1;
    }
    if (v == 0 && signbit(v)) {
        vm_buf_append(b, "-0.0", 4); /* "-0" reads back as integer 0 in many parsers */
        return 0;
    }
    char tmp[40];
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    vm_buf_append(b, tmp, (size_t)n);
    return 0;
}

int vm_buf_f32(vm_buf *b, float v)
{
    char tmp[VM_F32_SHORTEST_MAX];
    int n = vm_f32_shortest(v, tmp);
    if (n < 0) {
        b->failed = true; /* NaN / infinity: the caller names the field and row */
        return -1;
    }
    vm_buf_append(b, tmp, (size_t)n);
    return 0;
}

int vm_buf_f32_array(vm_buf *b, const float *v, size_t n)
{
    if (n > (SIZE_MAX - 8) / VM_F32_SHORTEST_MAX ||
        vm_buf_reserve(b, n * VM_F32_SHORTEST_MAX + 2) != 0) {
        b->failed = true;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(v[i]))
                return -1; /* as vm_buf_f32 on a failed buffer */
        return 0;
    }
    char *o = b->data + b->len;
    o[0] = '[';
    ptrdiff_t k = vm_f32_join(o + 1, v, n); /* needs n * 16 + 1 bytes */
    if (k < 0) {
        o[0] = '\0';
        b->failed = true; /* NaN / infinity: the caller names the field and row */
        return -1;
    }
    o[1 + k] = ']';
    o[2 + k] = '\0';
    b->len += (size_t)k + 2;
    return 0;
}

int vm_buf_f64(vm_buf *b, double v) { return vm_buf_shortest(b, v); }

void vm_buf_base64(vm_buf *b, const uint8_t *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (vm_buf_reserve(b, (n + 2) / 3 * 4) != 0)
        return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = tbl[(x >> 6) & 63];
        *o++ = tbl[x & 63];
    }
    if (i < n) {
        uint32_t x = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tbl[x >> 18];
        *o++ = tbl[(x >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(x >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

const char *vm_buf_cstr(vm_buf *b)
{
    if (b->failed || !b->data)
        return "";
    return b->data;
}

bool vm_buf_ok(const vm_buf *b) { return !b->failed; }

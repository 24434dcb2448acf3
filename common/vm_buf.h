/*
 * vm_buf.h - a growable byte buffer for building request bodies.
 *
 * Request bodies are written straight from batch columns into one of these
 * (no intermediate JSON tree), and the buffer is reused across batches so a
 * worker allocates it once. Appends that fail leave `failed` set; callers
 * check once at the end (vm_buf_ok) instead of after every append.
 */
#ifndef VM_BUF_H
#define VM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_err.h"

typedef struct vm_buf {
    char *data; /* always NUL-terminated when len > 0 or after vm_buf_cstr */
    size_t len, cap;
    bool failed;
} vm_buf;

void vm_buf_init(vm_buf *b);
void vm_buf_release(vm_buf *b);
void vm_buf_clear(vm_buf *b); /* len = 0, failed = false, keep memory */
void vm_buf_append(vm_buf *b, const void *p, size_t n);
void vm_buf_puts(vm_buf *b, const char *s);
void vm_buf_putc(vm_buf *b, char c);
void vm_buf_printf(vm_buf *b, const char *fmt, ...) VM_PRINTF(2, 3);
void vm_buf_i64(vm_buf *b, int64_t v);
/* JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
/* Length of the valid UTF-8 sequence at s (at most n bytes, n >= 1): 1..4,
 * or 0 when invalid (overlong, surrogate, above U+10FFFF, truncated). */
size_t vm_utf8_len(const unsigned char *s, size_t n);

void vm_buf_json_str(vm_buf *b, const char *s, size_t n);
/* Shortest decimal that reads back (strtof) as the same float32 bits.
 * NaN and infinities cannot be represented in JSON: they set failed and
 * return -1 so the caller reports the field. Negative zero is written
 * "-0.0": many JSON parsers read "-0" as the integer 0 and lose the sign. */
int vm_buf_f32(vm_buf *b, float v);
/* A JSON array of n float32s, "[v0,v1,...]", each as vm_buf_f32 writes it:
 * reserves room for the whole array once (n * VM_F32_SHORTEST_MAX + 2) and
 * formats straight into the buffer. A NaN or infinity anywhere appends
 * nothing, sets failed and returns -1 (like vm_buf_f32: the caller names
 * the field and row); otherwise 0 (an allocation failure sets failed, for
 * vm_buf_ok to report). */
int vm_buf_f32_array(vm_buf *b, const float *v, size_t n);
/* Shortest decimal that reads back (strtod) as the same double. */
int vm_buf_f64(vm_buf *b, double v);
/* Base64 (standard alphabet, padded). */
void vm_buf_base64(vm_buf *b, const uint8_t *p, size_t n);
const char *vm_buf_cstr(vm_buf *b); /* NUL-terminates; "" on failure */
bool vm_buf_ok(const vm_buf *b);

#endif

/*
 * fuzz_util.h - helpers shared by the libFuzzer targets of tests/fuzz.
 *
 * - FZ_CHECK(cond, ...): an invariant; when it does not hold the target
 *   prints why and aborts, which libFuzzer reports as a crash (and saves
 *   the input as an artifact).
 * - fz_split(): several inputs in one: the parts are separated by byte 0xFF
 *   (never part of UTF-8 text, so a JSON/YAML part is never cut by it).
 * - fz_cstr(): a NUL-terminated heap copy: HTTP bodies reach the parsers
 *   NUL-terminated (vm_http_resp.body), and ASan still sees a read past the
 *   terminator.
 * - fz_err(): every error must be one non-empty line with its code set.
 * - fz_quiet(): log only errors, so warnings do not flood the run.
 */
#ifndef VM_FUZZ_UTIL_H
#define VM_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_buf.h"
#include "vm_err.h"
#include "vm_log.h"

#define FZ_CHECK(cond, ...)                                                             \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, \
                    #cond);                                                             \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#define FZ_SEP 0xFF
#define FZ_MAX_PARTS 8

typedef struct fz_part {
    const char *p;
    size_t n;
} fz_part;

/* Split data at each FZ_SEP into at most max parts (the last one takes the
 * rest, separators included). Returns the number of parts (>= 1). */
static inline size_t fz_split(const uint8_t *data, size_t size, fz_part *parts, size_t max)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i < size && k + 1 < max; i++) {
        if (data[i] == FZ_SEP) {
            parts[k++] = (fz_part){(const char *)data + start, i - start};
            start = i + 1;
        }
    }
    parts[k++] = (fz_part){(const char *)data + start, size - start};
    return k;
}

/* Heap copy of p[0, n) followed by a NUL (free()). */
static inline char *fz_cstr(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Heap copy of exactly n bytes (no terminator: a read at p[n] is caught). */
static inline char *fz_dup(const char *p, size_t n)
{
    char *s = malloc(n ? n : 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    return s;
}

/* The contract of vm_err: a failure sets the code it returns and a message
 * of one non-empty line without control characters. */
static inline void fz_err(int rc, const vm_err *e)
{
    if (rc == VM_OK)
        return;
    FZ_CHECK(e->code == rc, "rc %d, err.code %d (%s)", rc, (int)e->code, e->msg);
    FZ_CHECK(e->msg[0] != '\0', "rc %d with an empty message", rc);
    for (const unsigned char *m = (const unsigned char *)e->msg; *m; m++)
        FZ_CHECK(*m >= 0x20 && *m != 0x7f, "control character 0x%02x in message '%s'", *m,
                 e->msg);
}

/* Whether s[0, n) is valid UTF-8 (RFC 3629: no surrogates, nothing above
 * U+10FFFF, no overlong forms). Written here, independent of the project's
 * own vm_utf8_len, so that the two check each other. */
static inline bool fz_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t l;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            l = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            l = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            l = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < l)
            return false;
        for (size_t k = 1; k < l; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += l;
    }
    return true;
}

static inline void fz_quiet(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (devnull)
        vm_log_set_stream(devnull);
}

#endif

/*
 * vm_json_scan.h - a streaming JSON scanner for the data path.
 *
 * The transform reads JSON values out of JSON text (lifting "author.name"
 * out of a metadata column) and writes JSON text with some members removed.
 * Parsing into a tree and printing it again (jansson) would re-format
 * numbers (1.10 -> 1.1, 1e400 -> error, 12345678901234567890 -> a rounded
 * double) and may reorder keys; here nothing is ever parsed into a tree:
 * the scanner validates the text (RFC 8259, UTF-8 included) in one pass and
 * reports byte spans, and the remover copies every byte it does not remove.
 *
 * Paths are sequences of object keys (no array indexes). A path step that
 * meets a value that is not an object finds nothing, as does a missing key;
 * when an object has the same key twice, the last one counts (as in most
 * parsers), and the remover removes every copy.
 *
 * Errors name the byte offset and what was expected, never the text.
 */
#ifndef VM_JSON_SCAN_H
#define VM_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_buf.h"
#include "vm_err.h"

/* Values nested deeper than this (arrays and objects) are refused. */
#define VM_JSON_MAX_DEPTH 1000

typedef enum vm_json_kind {
    VM_JSON_MISSING = 0, /* no value (path not found) */
    VM_JSON_NULL,
    VM_JSON_FALSE,
    VM_JSON_TRUE,
    VM_JSON_NUMBER,
    VM_JSON_STRING, /* the span includes the quotes */
    VM_JSON_ARRAY,
    VM_JSON_OBJECT,
} vm_json_kind;

/* "an object", "a string", "a boolean", "null", ... for messages. */
const char *vm_json_kind_name(vm_json_kind k);

/* A value's bytes: s[off, off + len), without surrounding whitespace. */
typedef struct vm_json_span {
    size_t off, len;
    vm_json_kind kind;
} vm_json_span;

/* A key path: depth keys (NUL-terminated UTF-8, compared after unescaping
 * the JSON key). depth 0 is the whole value. */
typedef struct vm_json_path {
    const char *const *keys;
    size_t depth;
} vm_json_path;

/* Check that s[0, n) is exactly one JSON value with optional surrounding
 * whitespace. *v (may be NULL) gets the value's span. */
int vm_json_check(const char *s, size_t n, vm_json_span *v, vm_err *err);

/* Validate s[0, n) and find the value at each of the npaths paths, in one
 * pass. out[i].kind is VM_JSON_MISSING when path i leads nowhere (missing
 * key, or a step that meets a non-object). */
int vm_json_find(const char *s, size_t n, const vm_json_path *paths, size_t npaths,
                 vm_json_span *out, vm_err *err);

/* Validate s[0, n) and append it to out without the members at paths.
 * Objects left empty by a removal are removed from their parent in turn; a
 * top-level object left empty is written "{}". Every other byte (spacing,
 * number spelling, key order, escapes) is copied as it is. *removed (may be
 * NULL) gets the number of members removed, pruned parents included. */
int vm_json_remove(const char *s, size_t n, const vm_json_path *paths, size_t npaths,
                   vm_buf *out, size_t *removed, vm_err *err);

/* Append the UTF-8 text of the JSON string literal s[0, n) (quotes
 * included) to out. \uXXXX escapes, surrogate pairs included, become UTF-8;
 * a bad escape, a lone surrogate or invalid UTF-8 is an error. */
int vm_json_unescape(const char *s, size_t n, vm_buf *out, vm_err *err);

/* Numbers (s[0, n) is a JSON number as the scanner accepted it, or text in
 * the same grammar). Integers: exact, whatever the number of digits; 3.0,
 * 30e-1 and 3e2 are integers. */
typedef enum vm_json_num_rc {
    VM_JSON_NUM_OK = 0,
    VM_JSON_NUM_FRACTION, /* not an integer */
    VM_JSON_NUM_RANGE,    /* outside int64 / double range */
    VM_JSON_NUM_SYNTAX,   /* not a number */
} vm_json_num_rc;
vm_json_num_rc vm_json_number_i64(const char *s, size_t n, int64_t *out);
/* strtod of the text (finite result required; underflow to 0 is fine). */
vm_json_num_rc vm_json_number_f64(const char *s, size_t n, double *out);

/* Elements of an array span of text that vm_json_check/find validated. */
typedef struct vm_json_iter {
    const char *s;
    size_t end, pos;
} vm_json_iter;
void vm_json_iter_init(vm_json_iter *it, const char *s, vm_json_span array);
bool vm_json_iter_next(vm_json_iter *it, vm_json_span *elem);
/* Members of an object span (validated text), in order: start with
 * vm_json_iter_init(it, s, object); *key is the key literal (quotes
 * included: compare with vm_json_key_eq, unescape with vm_json_unescape). */
bool vm_json_member_next(vm_json_iter *it, vm_json_span *key, vm_json_span *value);
/* Whether the key literal span k of validated text s equals key (UTF-8,
 * after unescaping). */
bool vm_json_key_eq(const char *s, vm_json_span k, const char *key);

/* A validating cursor for readers that walk one reply once and decode
 * while they validate (the Qdrant source's scroll pages): the same checks
 * as vm_json_check, a step at a time. Start with {.s, .n, .err}; pos is
 * the next byte, depth the open objects and arrays. */
typedef struct vm_json_cur {
    const char *s;
    size_t n, pos;
    int depth;
    vm_err *err;
} vm_json_cur;
/* Skip whitespace. */
void vm_json_cur_ws(vm_json_cur *c);
/* Validate the value at pos (no leading whitespace) and move past it; *v
 * (may be NULL) gets its span. */
int vm_json_cur_skip(vm_json_cur *c, vm_json_span *v);
/* Enter the object or array at pos ('{' or '['; VM_ERR_INVALID if another
 * byte is there): the depth limit applies. */
int vm_json_cur_open(vm_json_cur *c, char open);
/* In an object entered with vm_json_cur_open: the next member. first: no
 * member read yet. *more false: the '}' was consumed (depth restored);
 * else *key is the key literal and pos is at the value (whitespace
 * skipped). */
int vm_json_cur_member(vm_json_cur *c, bool first, vm_json_span *key, bool *more);
/* In an array: *more false at the ']' (consumed); else pos is at the next
 * element (whitespace skipped). */
int vm_json_cur_elem(vm_json_cur *c, bool first, bool *more);

/* strtof of a JSON number token, never through double (double rounding
 * would change bits): VM_JSON_NUM_OK for a finite float, RANGE when it
 * overflows float, SYNTAX when s[0, n) is not a number. */
vm_json_num_rc vm_json_number_f32(const char *s, size_t n, float *out);

#endif

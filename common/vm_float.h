/*
 * vm_float.h - the float32 data path: shortest round-trip formatting and
 * correctly rounded parsing of JSON number tokens.
 *
 * vm_f32_shortest writes the shortest decimal that strtof reads back to the
 * same bits (among equally short ones, the one nearest the exact value; a
 * tie between two goes to the even last digit), computed with exact integer
 * arithmetic (a Ryu-style digit search over exact scaled bounds).
 * vm_f32_parse reads a strict JSON number token and rounds it once,
 * correctly (nearest, ties to even), to float32 - the result strtof gives -
 * never through double. Both are proven over all 2^32 bit patterns by
 * bench/float_exhaustive.c (see bench/float.md; the faster vm_f32_shortest
 * since by bench/float_diff.c, byte-identical to that proven version for
 * every pattern) and over a random sample by tests/unit/test_vm_float.c.
 */
#ifndef VM_FLOAT_H
#define VM_FLOAT_H

#include <stddef.h>

/* Longest output of vm_f32_shortest plus its NUL: "-1.2345678e-38". */
#define VM_F32_SHORTEST_MAX 16

/* Writes the shortest round-trip decimal of the finite float v into out,
 * NUL-terminated, and returns its length (1..15). The text is a valid JSON
 * number: plain ("0.0361", "1234") or exponent form ("1e-7", "3.4028235e38"),
 * whichever is shorter (plain on a tie); +0 is "0", -0 is "-0.0" (many JSON
 * parsers read "-0" as the integer 0 and lose the sign; vm_f32_parse and
 * strtof read "-0.0" back as -0.0f). NaN and infinities have no JSON form:
 * out becomes "" and the return is -1, so callers report the field and row
 * (the sink never writes them). */
int vm_f32_shortest(float v, char out[static VM_F32_SHORTEST_MAX]);

/* v[0, n) as vm_f32_shortest writes them, joined by ',' (no brackets), at
 * out, NUL-terminated: out needs n * VM_F32_SHORTEST_MAX + 1 bytes. Returns
 * the length, or -1 when an element is NaN or infinite (out then holds a
 * partial text). One call per vector: the formatter is inlined in its loop. */
ptrdiff_t vm_f32_join(char *out, const float *v, size_t n);

enum {
    VM_F32_OK = 0,
    VM_F32_SYNTAX = -1, /* p[0, n) is not a JSON number token */
    VM_F32_RANGE = -2,  /* magnitude rounds beyond FLT_MAX (strtof: inf) */
    VM_F32_NOMEM = -3,  /* slow path could not copy a very long token */
};

/* Parses p[0, n) - exactly one JSON number token, nothing around it - into
 * *out, correctly rounded to float32 as strtof rounds (tiny values become a
 * subnormal or a signed zero, which is a value, not an error). Returns a
 * VM_F32_* code; *out is written only on VM_F32_OK. Tokens of up to 19
 * significant digits and decimal exponents in [-30, 38] (every realistic
 * vector value) take an exact integer fast path; the rest go to strtof on a
 * NUL-terminated copy. */
int vm_f32_parse(const char *p, size_t n, float *out);

#endif

/*
 * vm_json_scan.c - one-pass JSON validation, path lookup and member removal
 * over the text itself (see vm_json_scan.h for why not a tree).
 *
 * A recursive-descent scanner with an explicit depth limit. Path lookups
 * and removals carry a 64-bit set of the paths still matching at the
 * current depth; more than 64 paths are handled in several passes (rare:
 * one per lifted field).
 */
#include "vm_json_scan.h"
#include "vm_buf.h"
#include "vm_float.h"
#include "vm_mem.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VM_JSON_STR2(x) #x
#define VM_JSON_STR(x) VM_JSON_STR2(x)

typedef vm_json_cur vm_jsc; /* the scanner's state is the public cursor */

const char *vm_json_kind_name(vm_json_kind k)
{
    switch (k) {
    case VM_JSON_NULL: return "null";
    case VM_JSON_FALSE:
    case VM_JSON_TRUE: return "a boolean";
    case VM_JSON_NUMBER: return "a number";
    case VM_JSON_STRING: return "a string";
    case VM_JSON_ARRAY: return "an array";
    case VM_JSON_OBJECT: return "an object";
    default: return "nothing";
    }
}

static int vm_jsc_fail(vm_jsc *c, const char *what)
{
    if (c->pos >= c->n)
        return vm_err_setc(c->err, VM_ERR_INVALID, "invalid JSON: %s at the end of the text", what);
    return vm_err_setc(c->err, VM_ERR_INVALID, "invalid JSON at byte %zu: %s", c->pos, what);
}

static inline void vm_jsc_ws(vm_jsc *c)
{
    while (c->pos < c->n) {
        char ch = c->s[c->pos];
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t')
            break;
        c->pos++;
    }
}

static int vm_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* The string at pos (which is '"'); *esc says whether it has escapes. */
static int vm_jsc_string(vm_jsc *c, bool *esc)
{
    const unsigned char *s = (const unsigned char *)c->s;
    size_t i = c->pos + 1, n = c->n;
    bool e = false;
    for (;;) {
        while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
            i++;
        if (i >= n) {
            c->pos = i;
            return vm_jsc_fail(c, "unterminated string");
        }
        unsigned char ch = s[i];
        if (ch == '"') {
            c->pos = i + 1;
            if (esc)
                *esc = e;
            return VM_OK;
        }
        if (ch == '\\') {
            e = true;
            if (i + 1 >= n) {
                c->pos = i;
                return vm_jsc_fail(c, "unterminated string");
            }
            char x = (char)s[i + 1];
            if (x && strchr("\"\\/bfnrt", x)) {
                i += 2;
                continue;
            }
            unsigned u, lo;
            if (x != 'u' || i + 6 > n || vm_hex4((const char *)s + i + 2, &u) != 0) {
                c->pos = i;
                return vm_jsc_fail(c, "invalid escape in string");
            }
            if (u >= 0xdc00 && u <= 0xdfff) {
                c->pos = i;
                return vm_jsc_fail(c, "lone low surrogate \\u escape in string");
            }
            if (u >= 0xd800 && u <= 0xdbff) {
                if (i + 12 > n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
                    vm_hex4((const char *)s + i + 8, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    c->pos = i;
                    return vm_jsc_fail(c, "high surrogate \\u escape not followed by a low one");
                }
                i += 12;
            } else {
                i += 6;
            }
            continue;
        }
        if (ch < 0x20) {
            c->pos = i;
            return vm_jsc_fail(c, "control character in string");
        }
        size_t l = vm_utf8_len(s + i, n - i);
        if (l == 0) {
            c->pos = i;
            return vm_jsc_fail(c, "invalid UTF-8 in string");
        }
        i += l;
    }
}

static inline bool vm_isdigit(char ch) { return ch >= '0' && ch <= '9'; }

/* Length of the JSON number at s[0, n) (the longest prefix in the grammar),
 * 0 if none. */
static size_t vm_number_len(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !vm_isdigit(s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && vm_isdigit(s[i]))
            i++;
    if (i < n && s[i] == '.') {
        size_t j = i + 1;
        if (j >= n || !vm_isdigit(s[j]))
            return 0;
        while (j < n && vm_isdigit(s[j]))
            j++;
        i = j;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j >= n || !vm_isdigit(s[j]))
            return 0;
        while (j < n && vm_isdigit(s[j]))
            j++;
        i = j;
    }
    return i;
}

static int vm_jsc_value(vm_jsc *c, vm_json_kind *kind);

static int vm_jsc_enter(vm_jsc *c)
{
    if (++c->depth > VM_JSON_MAX_DEPTH)
        return vm_jsc_fail(c, "nested deeper than " VM_JSON_STR(VM_JSON_MAX_DEPTH) " levels");
    return VM_OK;
}

static int vm_jsc_array(vm_jsc *c)
{
    int rc;
    if ((rc = vm_jsc_enter(c)) != VM_OK)
        return rc;
    c->pos++;
    vm_jsc_ws(c);
    if (c->pos < c->n && c->s[c->pos] == ']') {
        c->pos++;
        c->depth--;
        return VM_OK;
    }
    for (;;) {
        vm_jsc_ws(c);
        if ((rc = vm_jsc_value(c, NULL)) != VM_OK)
            return rc;
        vm_jsc_ws(c);
        if (c->pos < c->n && c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->n && c->s[c->pos] == ']') {
            c->pos++;
            c->depth--;
            return VM_OK;
        }
        return vm_jsc_fail(c, "expected ',' or ']' in array");
    }
}

/* After a key: whitespace, ':', whitespace. */
static int vm_jsc_colon(vm_jsc *c)
{
    vm_jsc_ws(c);
    if (c->pos >= c->n || c->s[c->pos] != ':')
        return vm_jsc_fail(c, "expected ':' after object key");
    c->pos++;
    vm_jsc_ws(c);
    return VM_OK;
}

static int vm_jsc_key(vm_jsc *c, bool *esc)
{
    if (c->pos >= c->n || c->s[c->pos] != '"')
        return vm_jsc_fail(c, "expected a string key in object");
    return vm_jsc_string(c, esc);
}

static int vm_jsc_object(vm_jsc *c)
{
    int rc;
    if ((rc = vm_jsc_enter(c)) != VM_OK)
        return rc;
    c->pos++;
    vm_jsc_ws(c);
    if (c->pos < c->n && c->s[c->pos] == '}') {
        c->pos++;
        c->depth--;
        return VM_OK;
    }
    for (;;) {
        vm_jsc_ws(c);
        if ((rc = vm_jsc_key(c, NULL)) != VM_OK || (rc = vm_jsc_colon(c)) != VM_OK ||
            (rc = vm_jsc_value(c, NULL)) != VM_OK)
            return rc;
        vm_jsc_ws(c);
        if (c->pos < c->n && c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->n && c->s[c->pos] == '}') {
            c->pos++;
            c->depth--;
            return VM_OK;
        }
        return vm_jsc_fail(c, "expected ',' or '}' in object");
    }
}

static int vm_jsc_literal(vm_jsc *c, const char *lit, size_t len)
{
    if (c->n - c->pos < len || memcmp(c->s + c->pos, lit, len) != 0)
        return vm_jsc_fail(c, "expected a value");
    c->pos += len;
    return VM_OK;
}

/* The value at pos (no leading whitespace). */
static int vm_jsc_value(vm_jsc *c, vm_json_kind *kind)
{
    vm_json_kind k;
    int rc;
    if (c->pos >= c->n)
        return vm_jsc_fail(c, "expected a value");
    char ch = c->s[c->pos];
    switch (ch) {
    case '{': k = VM_JSON_OBJECT; rc = vm_jsc_object(c); break;
    case '[': k = VM_JSON_ARRAY; rc = vm_jsc_array(c); break;
    case '"': k = VM_JSON_STRING; rc = vm_jsc_string(c, NULL); break;
    case 't': k = VM_JSON_TRUE; rc = vm_jsc_literal(c, "true", 4); break;
    case 'f': k = VM_JSON_FALSE; rc = vm_jsc_literal(c, "false", 5); break;
    case 'n': k = VM_JSON_NULL; rc = vm_jsc_literal(c, "null", 4); break;
    default: {
        size_t l = vm_number_len(c->s + c->pos, c->n - c->pos);
        if (l == 0)
            return vm_jsc_fail(c, ch == '-' || vm_isdigit(ch) ? "invalid number" : "expected a value");
        /* "01", "1.e": a number must not run into more number-ish bytes */
        size_t e = c->pos + l;
        if (e < c->n && (vm_isdigit(c->s[e]) || c->s[e] == '.' || c->s[e] == 'e' ||
                         c->s[e] == 'E' || c->s[e] == '-' || c->s[e] == '+'))
            return vm_jsc_fail(c, "invalid number");
        c->pos = e;
        k = VM_JSON_NUMBER;
        rc = VM_OK;
    }
    }
    if (rc == VM_OK && kind)
        *kind = k;
    return rc;
}

/* One code point of a validated string body at s[*i] as UTF-8 into out;
 * returns the number of bytes written. */
static size_t vm_dec_char(const char *s, size_t *i, unsigned char out[4])
{
    if (s[*i] != '\\') {
        out[0] = (unsigned char)s[(*i)++];
        return 1;
    }
    char x = s[*i + 1];
    *i += 2;
    switch (x) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = (unsigned char)x; return 1;
    }
    unsigned u = 0, lo = 0;
    vm_hex4(s + *i, &u);
    *i += 4;
    if (u >= 0xd800 && u <= 0xdbff) {
        vm_hex4(s + *i + 2, &lo);
        *i += 6;
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (u < 0x80) {
        out[0] = (unsigned char)u;
        return 1;
    }
    if (u < 0x800) {
        out[0] = (unsigned char)(0xc0 | (u >> 6));
        out[1] = (unsigned char)(0x80 | (u & 0x3f));
        return 2;
    }
    if (u < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (u >> 12));
        out[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (u & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (u >> 18));
    out[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (u & 0x3f));
    return 4;
}

/* Whether the validated key literal s[ks, ke) (quotes included) equals key. */
static bool vm_key_eq(const char *s, size_t ks, size_t ke, bool esc, const char *key)
{
    const char *body = s + ks + 1;
    size_t blen = ke - ks - 2;
    if (!esc) {
        size_t kl = strlen(key);
        return kl == blen && memcmp(body, key, kl) == 0;
    }
    size_t i = 0, k = 0;
    while (i < blen) {
        unsigned char u[4];
        size_t m = vm_dec_char(body, &i, u);
        for (size_t j = 0; j < m; j++, k++)
            if (key[k] == '\0' || (unsigned char)key[k] != u[j])
                return false;
    }
    return key[k] == '\0';
}

int vm_json_unescape(const char *s, size_t n, vm_buf *out, vm_err *err)
{
    vm_jsc c = {.s = s, .n = n, .err = err};
    bool esc;
    int rc;
    if (n < 2 || s[0] != '"')
        return vm_err_setc(err, VM_ERR_INVALID, "invalid JSON: not a string");
    if ((rc = vm_jsc_string(&c, &esc)) != VM_OK)
        return rc;
    if (c.pos != n)
        return vm_err_setc(err, VM_ERR_INVALID, "invalid JSON at byte %zu: text after the string",
                           c.pos);
    if (!esc) {
        vm_buf_append(out, s + 1, n - 2);
    } else {
        const char *body = s + 1;
        size_t blen = n - 2, i = 0, run = 0;
        while (i < blen) {
            if (body[i] != '\\') {
                i++;
                continue;
            }
            vm_buf_append(out, body + run, i - run);
            unsigned char u[4];
            size_t m = vm_dec_char(body, &i, u);
            vm_buf_append(out, u, m);
            run = i;
        }
        vm_buf_append(out, body + run, blen - run);
    }
    if (!vm_buf_ok(out))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory unescaping a JSON string");
    return VM_OK;
}

int vm_json_check(const char *s, size_t n, vm_json_span *v, vm_err *err)
{
    vm_jsc c = {.s = s, .n = n, .err = err};
    vm_json_kind k;
    int rc;
    vm_jsc_ws(&c);
    size_t start = c.pos;
    if ((rc = vm_jsc_value(&c, &k)) != VM_OK)
        return rc;
    size_t end = c.pos;
    vm_jsc_ws(&c);
    if (c.pos != n)
        return vm_jsc_fail(&c, "text after the value");
    if (v) {
        v->off = start;
        v->len = end - start;
        v->kind = k;
    }
    return VM_OK;
}

/* --- lookup ----------------------------------------------------------- */

typedef struct vm_jfind {
    vm_jsc c;
    const vm_json_path *paths; /* this pass's paths (at most 64) */
    vm_json_span *out;
} vm_jfind;

/* Which of `mask`'s paths continue through key s[ks, ke) at depth d:
 * *leaf those ending there, *deeper those going on below. */
static void vm_match(const vm_json_path *paths, uint64_t mask, size_t d, const char *s,
                     size_t ks, size_t ke, bool esc, uint64_t *leaf, uint64_t *deeper)
{
    *leaf = *deeper = 0;
    while (mask) {
        int i = __builtin_ctzll(mask);
        mask &= mask - 1;
        if (vm_key_eq(s, ks, ke, esc, paths[i].keys[d])) {
            if (paths[i].depth == d + 1)
                *leaf |= 1ull << i;
            else
                *deeper |= 1ull << i;
        }
    }
}

static int vm_find_value(vm_jfind *f, uint64_t mask, size_t d, vm_json_kind *kind)
{
    vm_jsc *c = &f->c;
    int rc;
    if (!mask || c->pos >= c->n || c->s[c->pos] != '{')
        return vm_jsc_value(c, kind);
    *kind = VM_JSON_OBJECT;
    if ((rc = vm_jsc_enter(c)) != VM_OK)
        return rc;
    c->pos++;
    vm_jsc_ws(c);
    if (c->pos < c->n && c->s[c->pos] == '}') {
        c->pos++;
        c->depth--;
        return VM_OK;
    }
    for (;;) {
        vm_jsc_ws(c);
        size_t ks = c->pos;
        bool esc = false;
        if ((rc = vm_jsc_key(c, &esc)) != VM_OK)
            return rc;
        size_t ke = c->pos;
        if ((rc = vm_jsc_colon(c)) != VM_OK)
            return rc;
        uint64_t leaf, deeper;
        vm_match(f->paths, mask, d, c->s, ks, ke, esc, &leaf, &deeper);
        size_t vs = c->pos;
        for (uint64_t m = deeper; m; m &= m - 1)
            f->out[__builtin_ctzll(m)].kind = VM_JSON_MISSING; /* the last copy counts */
        vm_json_kind k;
        if ((rc = vm_find_value(f, deeper, d + 1, &k)) != VM_OK)
            return rc;
        for (uint64_t m = leaf; m; m &= m - 1)
            f->out[__builtin_ctzll(m)] = (vm_json_span){vs, c->pos - vs, k};
        vm_jsc_ws(c);
        if (c->pos < c->n && c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->pos < c->n && c->s[c->pos] == '}') {
            c->pos++;
            c->depth--;
            return VM_OK;
        }
        return vm_jsc_fail(c, "expected ',' or '}' in object");
    }
}

int vm_json_find(const char *s, size_t n, const vm_json_path *paths, size_t npaths,
                 vm_json_span *out, vm_err *err)
{
    size_t chunk = 0;
    do {
        size_t cnt = npaths - chunk < 64 ? npaths - chunk : 64;
        vm_jfind f = {.c = {.s = s, .n = n, .err = err}, .paths = paths + chunk, .out = out + chunk};
        uint64_t mask = 0;
        for (size_t i = 0; i < cnt; i++) {
            f.out[i].kind = VM_JSON_MISSING;
            f.out[i].off = f.out[i].len = 0;
            if (f.paths[i].depth > 0)
                mask |= 1ull << i;
        }
        vm_jsc_ws(&f.c);
        size_t start = f.c.pos;
        vm_json_kind k;
        int rc = vm_find_value(&f, mask, 0, &k);
        if (rc != VM_OK)
            return rc;
        size_t end = f.c.pos;
        vm_jsc_ws(&f.c);
        if (f.c.pos != n)
            return vm_jsc_fail(&f.c, "text after the value");
        for (size_t i = 0; i < cnt; i++)
            if (f.paths[i].depth == 0)
                f.out[i] = (vm_json_span){start, end - start, k};
        chunk += cnt;
    } while (chunk < npaths);
    return VM_OK;
}

/* --- removal ---------------------------------------------------------- */

typedef struct vm_jrm {
    vm_jsc c;
    const vm_json_path *paths;
    vm_buf *out;
    size_t removed;
} vm_jrm;

static void vm_buf_truncate(vm_buf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

/* Copy the value at pos to out, without the members `mask` names below
 * depth d. *emptied: it was an object whose every member went. */
static int vm_rm_value(vm_jrm *r, uint64_t mask, size_t d, bool *emptied)
{
    vm_jsc *c = &r->c;
    const char *s = c->s;
    int rc;
    *emptied = false;
    if (!mask || c->pos >= c->n || s[c->pos] != '{') {
        size_t vs = c->pos;
        if ((rc = vm_jsc_value(c, NULL)) != VM_OK)
            return rc;
        vm_buf_append(r->out, s + vs, c->pos - vs);
        return VM_OK;
    }
    if ((rc = vm_jsc_enter(c)) != VM_OK)
        return rc;
    size_t open = c->pos++;
    vm_jsc_ws(c);
    vm_buf_append(r->out, s + open, c->pos - open); /* '{' and leading spacing */
    if (c->pos < c->n && s[c->pos] == '}') {
        vm_buf_putc(r->out, '}');
        c->pos++;
        c->depth--;
        return VM_OK;
    }
    bool kept = false;
    size_t gone = 0, sep_from = 0, sep_to = 0;
    for (;;) {
        size_t ks = c->pos;
        bool esc = false;
        if ((rc = vm_jsc_key(c, &esc)) != VM_OK)
            return rc;
        size_t ke = c->pos;
        if ((rc = vm_jsc_colon(c)) != VM_OK)
            return rc;
        size_t vs = c->pos;
        uint64_t leaf, deeper;
        vm_match(r->paths, mask, d, s, ks, ke, esc, &leaf, &deeper);
        if (leaf) {
            if ((rc = vm_jsc_value(c, NULL)) != VM_OK)
                return rc;
            gone++;
        } else {
            size_t mark = r->out->len;
            if (kept)
                vm_buf_append(r->out, s + sep_from, sep_to - sep_from);
            vm_buf_append(r->out, s + ks, vs - ks);
            bool child_emptied;
            if ((rc = vm_rm_value(r, deeper, d + 1, &child_emptied)) != VM_OK)
                return rc;
            if (child_emptied) {
                vm_buf_truncate(r->out, mark);
                gone++;
            } else {
                kept = true;
            }
        }
        sep_from = c->pos;
        vm_jsc_ws(c);
        if (c->pos < c->n && s[c->pos] == ',') {
            c->pos++;
            vm_jsc_ws(c);
            sep_to = c->pos;
            continue;
        }
        if (c->pos < c->n && s[c->pos] == '}') {
            if (kept) {
                vm_buf_append(r->out, s + sep_from, c->pos - sep_from);
                vm_buf_putc(r->out, '}');
            } else {
                *emptied = true;
            }
            c->pos++;
            c->depth--;
            r->removed += gone;
            return VM_OK;
        }
        return vm_jsc_fail(c, "expected ',' or '}' in object");
    }
}

/* One pass with at most 64 paths. */
static int vm_rm_pass(const char *s, size_t n, const vm_json_path *paths, size_t cnt,
                      vm_buf *out, size_t *removed, vm_err *err)
{
    vm_jrm r = {.c = {.s = s, .n = n, .err = err}, .paths = paths, .out = out};
    uint64_t mask = 0;
    bool whole = false;
    for (size_t i = 0; i < cnt; i++) {
        if (paths[i].depth > 0)
            mask |= 1ull << i;
        else
            whole = true;
    }
    size_t mark = out->len;
    vm_jsc_ws(&r.c);
    vm_buf_append(out, s, r.c.pos);
    bool emptied;
    int rc = vm_rm_value(&r, mask, 0, &emptied);
    if (rc != VM_OK)
        return rc;
    size_t end = r.c.pos;
    vm_jsc_ws(&r.c);
    if (r.c.pos != n)
        return vm_jsc_fail(&r.c, "text after the value");
    vm_buf_append(out, s + end, n - end);
    if (emptied || whole) {
        /* a path of depth 0 names the whole value: nothing is left */
        vm_buf_truncate(out, mark);
        vm_buf_append(out, "{}", 2);
    }
    *removed += r.removed;
    if (!vm_buf_ok(out))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory removing JSON members");
    return VM_OK;
}

int vm_json_remove(const char *s, size_t n, const vm_json_path *paths, size_t npaths,
                   vm_buf *out, size_t *removed, vm_err *err)
{
    size_t gone = 0;
    int rc;
    if (npaths <= 64) {
        rc = vm_rm_pass(s, n, paths, npaths, out, &gone, err);
    } else {
        /* several passes through a scratch copy */
        vm_buf a, b;
        vm_buf_init(&a);
        vm_buf_init(&b);
        vm_buf_append(&a, s, n);
        rc = vm_buf_ok(&a) ? VM_OK : vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; rc == VM_OK && i < npaths; i += 64) {
            vm_buf_clear(&b);
            rc = vm_rm_pass(a.data, a.len, paths + i, npaths - i < 64 ? npaths - i : 64, &b,
                            &gone, err);
            vm_buf t = a;
            a = b;
            b = t;
        }
        if (rc == VM_OK) {
            vm_buf_append(out, a.data, a.len);
            if (!vm_buf_ok(out))
                rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory removing JSON members");
        }
        vm_buf_release(&a);
        vm_buf_release(&b);
    }
    if (removed)
        *removed = gone;
    return rc;
}

/* --- numbers ---------------------------------------------------------- */

vm_json_num_rc vm_json_number_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || vm_number_len(s, n) != n)
        return VM_JSON_NUM_SYNTAX;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i++;
    }
    /* significant digits: the integer and fraction digits, without leading
     * zeros; exponent adjusted for the fraction */
    const char *ip = s + i;
    size_t il = 0;
    while (i + il < n && vm_isdigit(s[i + il]))
        il++;
    i += il;
    const char *fp = NULL;
    size_t fl = 0;
    if (i < n && s[i] == '.') {
        fp = s + i + 1;
        while (i + 1 + fl < n && vm_isdigit(s[i + 1 + fl]))
            fl++;
        i += 1 + fl;
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (s[i] == '+' || s[i] == '-')
            eneg = s[i++] == '-';
        while (i < n) {
            if (exp < 1000000000)
                exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (eneg)
            exp = -exp;
    }
    /* digit k of the concatenated significand */
#define VM_DIG(k) ((k) < il ? ip[k] : fp[(k) - il])
    size_t total = il + fl, lo = 0, hi = total;
    while (lo < hi && VM_DIG(lo) == '0')
        lo++;
    if (lo == hi) {
        *out = 0;
        return VM_JSON_NUM_OK;
    }
    exp -= (int64_t)fl;
    while (VM_DIG(hi - 1) == '0') {
        hi--;
        exp++;
    }
    if (exp < 0)
        return VM_JSON_NUM_FRACTION;
    if ((int64_t)(hi - lo) + exp > 19)
        return VM_JSON_NUM_RANGE;
    uint64_t v = 0;
    for (size_t k = lo; k < hi; k++)
        v = v * 10 + (uint64_t)(VM_DIG(k) - '0'); /* at most 19 digits: fits */
#undef VM_DIG
    for (int64_t e = 0; e < exp; e++) {
        if (v > UINT64_MAX / 10)
            return VM_JSON_NUM_RANGE;
        v *= 10;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return VM_JSON_NUM_RANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return VM_JSON_NUM_RANGE;
        *out = (int64_t)v;
    }
    return VM_JSON_NUM_OK;
}

vm_json_num_rc vm_json_number_f64(const char *s, size_t n, double *out)
{
    if (n == 0 || vm_number_len(s, n) != n)
        return VM_JSON_NUM_SYNTAX;
    char tmp[128];
    char *p = n < sizeof tmp ? tmp : vm_malloc(n + 1);
    if (!p)
        return VM_JSON_NUM_RANGE;
    memcpy(p, s, n);
    p[n] = '\0';
    errno = 0;
    double d = strtod(p, NULL);
    if (p != tmp)
        vm_free(p);
    if (!isfinite(d))
        return VM_JSON_NUM_RANGE;
    *out = d;
    return VM_JSON_NUM_OK;
}

/* --- arrays ----------------------------------------------------------- */

void vm_json_iter_init(vm_json_iter *it, const char *s, vm_json_span array)
{
    it->s = s;
    it->pos = array.off + 1;
    it->end = array.off + array.len - 1; /* the ']' */
}

bool vm_json_iter_next(vm_json_iter *it, vm_json_span *elem)
{
    vm_jsc c = {.s = it->s, .n = it->end, .pos = it->pos};
    vm_jsc_ws(&c);
    if (c.pos < c.n && c.s[c.pos] == ',') {
        c.pos++;
        vm_jsc_ws(&c);
    }
    if (c.pos >= c.n)
        return false;
    size_t start = c.pos;
    vm_json_kind k = VM_JSON_MISSING;
    if (vm_jsc_value(&c, &k) != VM_OK)
        return false; /* not validated text */
    elem->off = start;
    elem->len = c.pos - start;
    elem->kind = k;
    it->pos = c.pos;
    return true;
}

/* --- objects ---------------------------------------------------------- */

bool vm_json_member_next(vm_json_iter *it, vm_json_span *key, vm_json_span *value)
{
    vm_jsc c = {.s = it->s, .n = it->end, .pos = it->pos};
    vm_jsc_ws(&c);
    if (c.pos < c.n && c.s[c.pos] == ',') {
        c.pos++;
        vm_jsc_ws(&c);
    }
    if (c.pos >= c.n || c.s[c.pos] != '"')
        return false;
    size_t ks = c.pos;
    bool esc = false;
    if (vm_jsc_string(&c, &esc) != VM_OK)
        return false; /* not validated text */
    key->off = ks;
    key->len = c.pos - ks;
    key->kind = VM_JSON_STRING;
    vm_jsc_ws(&c);
    if (c.pos >= c.n || c.s[c.pos] != ':')
        return false;
    c.pos++;
    vm_jsc_ws(&c);
    size_t start = c.pos;
    vm_json_kind k = VM_JSON_MISSING;
    if (vm_jsc_value(&c, &k) != VM_OK)
        return false;
    value->off = start;
    value->len = c.pos - start;
    value->kind = k;
    it->pos = c.pos;
    return true;
}

bool vm_json_key_eq(const char *s, vm_json_span k, const char *key)
{
    bool esc = memchr(s + k.off, '\\', k.len) != NULL;
    return vm_key_eq(s, k.off, k.off + k.len, esc, key);
}

vm_json_num_rc vm_json_number_f32(const char *s, size_t n, float *out)
{
    switch (vm_f32_parse(s, n, out)) {
    case VM_F32_OK: return VM_JSON_NUM_OK;
    case VM_F32_SYNTAX: return VM_JSON_NUM_SYNTAX;
    default: return VM_JSON_NUM_RANGE; /* overflow, or no memory for a huge token */
    }
}

/* --- cursor ----------------------------------------------------------- */

void vm_json_cur_ws(vm_json_cur *c) { vm_jsc_ws(c); }

int vm_json_cur_skip(vm_json_cur *c, vm_json_span *v)
{
    size_t start = c->pos;
    vm_json_kind k = VM_JSON_MISSING;
    int rc = vm_jsc_value(c, &k);
    if (rc == VM_OK && v)
        *v = (vm_json_span){start, c->pos - start, k};
    return rc;
}

int vm_json_cur_open(vm_json_cur *c, char open)
{
    if (c->pos >= c->n || c->s[c->pos] != open)
        return vm_jsc_fail(c, open == '{' ? "expected an object" : "expected an array");
    int rc = vm_jsc_enter(c);
    if (rc == VM_OK)
        c->pos++;
    return rc;
}

/* After an element or member (or the opening byte when first): ',' goes
 * on (*more), the closing byte ends the value. */
static int vm_cur_sep(vm_json_cur *c, bool first, char close, bool *more)
{
    vm_jsc_ws(c);
    if (c->pos < c->n && c->s[c->pos] == close) {
        c->pos++;
        c->depth--;
        *more = false;
        return VM_OK;
    }
    if (!first) {
        if (c->pos >= c->n || c->s[c->pos] != ',')
            return vm_jsc_fail(c, close == '}' ? "expected ',' or '}' in object"
                                               : "expected ',' or ']' in array");
        c->pos++;
        vm_jsc_ws(c);
    }
    *more = true;
    return VM_OK;
}

int vm_json_cur_member(vm_json_cur *c, bool first, vm_json_span *key, bool *more)
{
    int rc = vm_cur_sep(c, first, '}', more);
    if (rc != VM_OK || !*more)
        return rc;
    size_t ks = c->pos;
    if ((rc = vm_jsc_key(c, NULL)) != VM_OK)
        return rc;
    *key = (vm_json_span){ks, c->pos - ks, VM_JSON_STRING};
    if ((rc = vm_jsc_colon(c)) != VM_OK)
        return rc;
    return VM_OK;
}

int vm_json_cur_elem(vm_json_cur *c, bool first, bool *more)
{
    return vm_cur_sep(c, first, ']', more);
}

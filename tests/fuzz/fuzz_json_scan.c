/*
 * fuzz_json_scan.c - libFuzzer target for the streaming JSON scanner
 * (common/vm_json_scan.c): check, find, remove, unescape, the array and
 * member iterators, key comparison and the number parsers on every value.
 *
 * Input: JSON text, optionally followed by 0xFF and key paths, one per line
 * with '.' between keys ("a.b\nc"); without them the paths are the first
 * key chains met in the document. Invariants:
 *   - check, find and remove accept exactly the same texts;
 *   - a found span is itself a valid value of the kind reported;
 *   - remove's output is valid JSON, keeps no member the paths name, is the
 *     input itself when nothing was removed, is a fixed point (removing
 *     again changes nothing), and is the same when the paths are repeated
 *     past 64 (the multi-pass path);
 *   - every string unescapes to valid UTF-8 (checked independently), and
 *     re-escaping and unescaping gives the same bytes; a string without a
 *     backslash unescapes to its body;
 *   - every member key compares equal (vm_json_key_eq) to its unescaped
 *     text; number tokens never parse as a syntax error.
 */
#include "fuzz_util.h"
#include "vm_json_scan.h"

#define FZ_MAX_PATHS 16
#define FZ_MAX_KEYS 4
#define FZ_MAX_VISIT 20000

typedef struct fz_paths {
    char *keys[FZ_MAX_PATHS][FZ_MAX_KEYS];
    const char *kp[FZ_MAX_PATHS][FZ_MAX_KEYS];
    vm_json_path p[FZ_MAX_PATHS];
    size_t n;
} fz_paths;

typedef struct fz_walk {
    const char *s;
    size_t visits;
    fz_paths *collect; /* NULL: paths were given */
    char *owned[FZ_MAX_KEYS]; /* the key chain above the value visited */
} fz_walk;

static void fz_add_path(fz_paths *P, char *const *keys, size_t depth)
{
    if (P->n >= FZ_MAX_PATHS)
        return;
    for (size_t i = 0; i < depth; i++) {
        P->keys[P->n][i] = strdup(keys[i]);
        P->kp[P->n][i] = P->keys[P->n][i];
    }
    P->p[P->n] = (vm_json_path){P->kp[P->n], depth};
    P->n++;
}

static void fz_free_paths(fz_paths *P)
{
    for (size_t i = 0; i < P->n; i++)
        for (size_t k = 0; k < P->p[i].depth; k++)
            free(P->keys[i][k]);
    P->n = 0;
}

/* Unescape a string span and check the round trip. Returns the text (heap,
 * NUL-terminated) and its length in *len. */
static char *fz_string(const char *s, vm_json_span sp, size_t *len)
{
    vm_buf u, esc, back;
    vm_err e;
    vm_buf_init(&u);
    vm_buf_init(&esc);
    vm_buf_init(&back);
    int rc = vm_json_unescape(s + sp.off, sp.len, &u, &e);
    FZ_CHECK(rc == VM_OK, "a validated string does not unescape: %s", e.msg);
    FZ_CHECK(fz_utf8(u.data ? u.data : "", u.len), "unescaped string is not valid UTF-8");
    if (!memchr(s + sp.off, '\\', sp.len))
        FZ_CHECK(u.len == sp.len - 2 && memcmp(u.data ? u.data : "", s + sp.off + 1, u.len) == 0,
                 "string without escapes changed by unescape");
    vm_buf_json_str(&esc, u.data ? u.data : "", u.len);
    rc = vm_json_unescape(esc.data, esc.len, &back, &e);
    FZ_CHECK(rc == VM_OK, "re-escaped string does not unescape: %s", e.msg);
    FZ_CHECK(back.len == u.len && memcmp(back.data ? back.data : "", u.data ? u.data : "",
                                         u.len) == 0,
             "escape/unescape round trip changed the string");
    char *out = fz_cstr(u.data ? u.data : "", u.len);
    *len = u.len;
    vm_buf_release(&u);
    vm_buf_release(&esc);
    vm_buf_release(&back);
    return out;
}

static void fz_number(const char *t, size_t n)
{
    int64_t i;
    double d;
    float f;
    FZ_CHECK(vm_json_number_i64(t, n, &i) != VM_JSON_NUM_SYNTAX, "number token: i64 syntax");
    FZ_CHECK(vm_json_number_f64(t, n, &d) != VM_JSON_NUM_SYNTAX, "number token: f64 syntax");
    FZ_CHECK(vm_json_number_f32(t, n, &f) != VM_JSON_NUM_SYNTAX, "number token: f32 syntax");
}

/* Visit value sp of validated text and everything inside it. */
static void fz_visit(fz_walk *w, vm_json_span sp, size_t depth, bool collect)
{
    if (++w->visits > FZ_MAX_VISIT)
        return;
    vm_err e;
    vm_json_span chk;
    FZ_CHECK(vm_json_check(w->s + sp.off, sp.len, &chk, &e) == VM_OK,
             "a value span of valid text is not valid JSON: %s", e.msg);
    FZ_CHECK(chk.kind == sp.kind && chk.off == 0 && chk.len == sp.len, "span kind/extent differ");
    switch (sp.kind) {
    case VM_JSON_STRING: {
        size_t len;
        free(fz_string(w->s, sp, &len));
        break;
    }
    case VM_JSON_NUMBER: fz_number(w->s + sp.off, sp.len); break;
    case VM_JSON_ARRAY: {
        vm_json_iter it;
        vm_json_span el;
        vm_json_iter_init(&it, w->s, sp);
        while (vm_json_iter_next(&it, &el)) {
            FZ_CHECK(el.off > sp.off && el.off + el.len < sp.off + sp.len, "element outside");
            fz_visit(w, el, depth + 1, false);
        }
        break;
    }
    case VM_JSON_OBJECT: {
        vm_json_iter it;
        vm_json_span k, v;
        vm_json_iter_init(&it, w->s, sp);
        while (vm_json_member_next(&it, &k, &v)) {
            FZ_CHECK(k.kind == VM_JSON_STRING && k.off > sp.off &&
                         v.off + v.len < sp.off + sp.len,
                     "member outside its object");
            size_t klen;
            char *key = fz_string(w->s, k, &klen);
            bool plain = strlen(key) == klen;
            if (plain)
                FZ_CHECK(vm_json_key_eq(w->s, k, key), "key does not equal its own text");
            bool deeper = collect && plain && depth < FZ_MAX_KEYS;
            if (deeper) {
                w->owned[depth] = key;
                fz_add_path(w->collect, w->owned, depth + 1);
            }
            fz_visit(w, v, depth + 1, deeper);
            free(key);
        }
        break;
    }
    default: break;
    }
}

/* Paths from "a.b\nc" lines (empty keys allowed, at most FZ_MAX_KEYS). */
static void fz_parse_paths(fz_paths *P, const char *t, size_t n)
{
    size_t i = 0;
    while (i <= n && P->n < FZ_MAX_PATHS) {
        size_t e = i;
        while (e < n && t[e] != '\n')
            e++;
        char *keys[FZ_MAX_KEYS];
        size_t depth = 0, k = i;
        while (k <= e && depth < FZ_MAX_KEYS) {
            size_t d = k;
            while (d < e && t[d] != '.')
                d++;
            keys[depth++] = fz_cstr(t + k, d - k); /* a NUL inside shortens the key */
            k = d + 1;
        }
        fz_add_path(P, keys, depth);
        for (size_t j = 0; j < depth; j++)
            free(keys[j]);
        i = e + 1;
    }
}

static int fz_remove(const char *s, size_t n, const vm_json_path *p, size_t np, vm_buf *out,
                     size_t *removed)
{
    vm_err e;
    int rc = vm_json_remove(s, n, p, np, out, removed, &e);
    fz_err(rc, &e);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part parts[2];
    size_t np = fz_split(data, size, parts, 2);
    char *s = fz_dup(parts[0].p, parts[0].n);
    size_t n = parts[0].n;
    fz_paths P = {0};
    if (np > 1)
        fz_parse_paths(&P, parts[1].p, parts[1].n);

    vm_err e;
    vm_json_span top;
    int crc = vm_json_check(s, n, &top, &e);
    fz_err(crc, &e);
    if (crc == VM_OK) {
        FZ_CHECK(top.off + top.len <= n, "top span outside the text");
        fz_walk w = {.s = s, .collect = np > 1 ? NULL : &P};
        fz_visit(&w, top, 0, w.collect != NULL);
    }

    /* find accepts what check accepts; found spans are values */
    vm_json_span found[FZ_MAX_PATHS];
    int frc = vm_json_find(s, n, P.p, P.n, found, &e);
    fz_err(frc, &e);
    FZ_CHECK((frc == VM_OK) == (crc == VM_OK), "check %d but find %d", crc, frc);
    for (size_t i = 0; frc == VM_OK && i < P.n; i++) {
        if (found[i].kind == VM_JSON_MISSING)
            continue;
        vm_json_span c;
        FZ_CHECK(found[i].off + found[i].len <= n, "found span outside the text");
        FZ_CHECK(vm_json_check(s + found[i].off, found[i].len, &c, &e) == VM_OK &&
                     c.kind == found[i].kind && c.len == found[i].len,
                 "found span %zu is not a value of its kind", i);
        if (P.p[i].depth == 0)
            FZ_CHECK(found[i].off == top.off && found[i].len == top.len, "depth-0 path");
    }

    /* remove */
    vm_buf out;
    vm_buf_init(&out);
    size_t removed = 0;
    int rrc = fz_remove(s, n, P.p, P.n, &out, &removed);
    FZ_CHECK((rrc == VM_OK) == (crc == VM_OK), "check %d but remove %d", crc, rrc);
    if (rrc == VM_OK) {
        bool whole = false;
        for (size_t i = 0; i < P.n; i++)
            whole |= P.p[i].depth == 0;
        const char *o = out.data ? out.data : "";
        FZ_CHECK(vm_json_check(o, out.len, NULL, &e) == VM_OK, "remove output invalid: %s",
                 e.msg);
        if (removed == 0 && !whole)
            FZ_CHECK(out.len == n && memcmp(o, s, n) == 0, "nothing removed but text changed");
        vm_json_span again[FZ_MAX_PATHS];
        FZ_CHECK(vm_json_find(o, out.len, P.p, P.n, again, &e) == VM_OK, "find on output");
        for (size_t i = 0; i < P.n; i++)
            if (P.p[i].depth > 0)
                FZ_CHECK(again[i].kind == VM_JSON_MISSING, "path %zu still present after remove",
                         i);
        /* a fixed point */
        vm_buf out2;
        vm_buf_init(&out2);
        size_t removed2 = 0;
        FZ_CHECK(fz_remove(o, out.len, P.p, P.n, &out2, &removed2) == VM_OK, "remove again");
        FZ_CHECK(removed2 == 0 && out2.len == out.len &&
                     memcmp(out2.data ? out2.data : "", o, out.len) == 0,
                 "remove is not idempotent");
        vm_buf_release(&out2);
        /* the same paths repeated past 64: several passes, same result */
        if (P.n > 0) {
            size_t reps = 64 / P.n + 1;
            vm_json_path *many = malloc(reps * P.n * sizeof *many);
            for (size_t r = 0; r < reps; r++)
                memcpy(many + r * P.n, P.p, P.n * sizeof *many);
            vm_buf out3;
            vm_buf_init(&out3);
            size_t removed3 = 0;
            FZ_CHECK(fz_remove(s, n, many, reps * P.n, &out3, &removed3) == VM_OK,
                     "multi-pass remove failed");
            FZ_CHECK(out3.len == out.len && memcmp(out3.data ? out3.data : "", o, out.len) == 0,
                     "multi-pass remove differs from one pass");
            FZ_CHECK(removed3 == removed, "multi-pass removed %zu, one pass %zu", removed3,
                     removed);
            vm_buf_release(&out3);
            free(many);
        }
    }
    vm_buf_release(&out);

    /* unescape of arbitrary text: either an error or valid UTF-8 */
    vm_buf u;
    vm_buf_init(&u);
    int urc = vm_json_unescape(s, n, &u, &e);
    fz_err(urc, &e);
    if (urc == VM_OK)
        FZ_CHECK(crc == VM_OK && top.kind == VM_JSON_STRING && top.off == 0 && top.len == n &&
                     fz_utf8(u.data ? u.data : "", u.len),
                 "unescape accepted what is not one string literal");
    vm_buf_release(&u);

    fz_free_paths(&P);
    free(s);
    return 0;
}

/*
 * vm_yaml.c - YAML/JSON text into a jansson tree (see vm_yaml.h for the
 * rules).
 *
 * The builder walks libyaml's event stream with an explicit stack instead of
 * recursion, so nesting depth is a checked limit, not a stack overflow. Each
 * container is attached to its parent as soon as it starts: the tree under
 * construction is always owned by `root`, and every error path frees it with
 * one json_decref. Positions are recorded by path in a side object (jansson
 * nodes carry no metadata, and true/false/null are shared singletons, so a
 * pointer-keyed map would not work).
 *
 * libyaml allocates with plain malloc (it has no allocator hook); everything
 * this file allocates goes through vm_mem / jansson.
 */
#include "vm_yaml.h"
#include "vm_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#define VM_TAG_PREFIX "tag:yaml.org,2002:"

typedef struct vm_yframe {
    json_t *node;     /* object or array being filled (owned by the tree) */
    char *path;       /* this container's path ("" for the root) */
    char *key;        /* mapping: pending key, NULL while a key is expected */
    char *key_path;   /* path of the pending key's value */
    char *anchor;     /* anchor to record when the container ends */
    size_t nodes0;    /* node count when the container started */
    size_t nitems;    /* sequence: items so far */
} vm_yframe;

typedef struct vm_yanchor {
    char *name;
    json_t *node;     /* borrowed from the tree */
    size_t nodes;     /* expanded size of the anchored subtree */
} vm_yanchor;

typedef struct vm_ybuild {
    const char *origin;
    json_t *root;
    json_t *locs;
    vm_yframe *stack;
    size_t depth, stack_cap;
    vm_yanchor *anchors;
    size_t nanchors, anchors_cap;
    size_t nodes;
    int docs;
} vm_ybuild;

static uint64_t vm_yloc_encode(const yaml_mark_t *m)
{
    return ((uint64_t)(m->line + 1) << 32) | (uint64_t)((m->column + 1) & 0xffffffffu);
}

/* "origin:line:col: msg" */
static int vm_yfail(const vm_ybuild *b, vm_err *err, const yaml_mark_t *m, const char *fmt, ...)
    VM_PRINTF(4, 5);
static int vm_yfail(const vm_ybuild *b, vm_err *err, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[VM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vm_err_set(err, VM_ERR_INVALID, false, "%s:%zu:%zu: %s", b->origin,
                      m ? m->line + 1 : 1, m ? m->column + 1 : 1, msg);
}

static int vm_ynomem(vm_err *err, const vm_ybuild *b)
{
    return vm_err_set(err, VM_ERR_NOMEM, false, "%s: out of memory while parsing", b->origin);
}

static char *vm_ypath_join(const char *parent, const char *key)
{
    size_t pl = strlen(parent), kl = strlen(key);
    char *p = vm_malloc(pl + kl + 2);
    if (!p)
        return NULL;
    if (pl == 0) {
        memcpy(p, key, kl + 1);
    } else {
        memcpy(p, parent, pl);
        p[pl] = '.';
        memcpy(p + pl + 1, key, kl + 1);
    }
    return p;
}

static char *vm_ypath_index(const char *parent, size_t i)
{
    size_t n = strlen(parent) + 24;
    char *p = vm_malloc(n);
    if (p)
        snprintf(p, n, "%s[%zu]", parent, i);
    return p;
}

/* ---- scalar resolution (YAML 1.2 core schema) ------------------------- */

typedef enum { VM_YS_STRING, VM_YS_NULL, VM_YS_BOOL, VM_YS_INT, VM_YS_FLOAT, VM_YS_NONFINITE } vm_ykind;

static bool vm_yis_null(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (!strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")));
}

static int vm_yis_bool(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return 0;
    return -1;
}

static int vm_ydigit(char c, int base)
{
    int d;
    if (c >= '0' && c <= '9')
        d = c - '0';
    else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
    else
        return -1;
    return d < base ? d : -1;
}

/* Integer syntax? 1 = yes (then *overflow says whether it fits int64). */
static bool vm_yparse_int(const char *s, size_t n, int64_t *out, bool *overflow)
{
    size_t i = 0;
    bool neg = false;
    int base = 10;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i + 2 < n + 0 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o')) {
        base = s[i + 1] == 'x' ? 16 : 8;
        i += 2;
    }
    if (i >= n)
        return false;
    uint64_t mag = 0;
    bool big = false;
    for (; i < n; i++) {
        int d = vm_ydigit(s[i], base);
        if (d < 0)
            return false;
        if (mag > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            big = true;
        else
            mag = mag * (uint64_t)base + (uint64_t)d;
    }
    if (!big && !neg && mag > (uint64_t)INT64_MAX)
        big = true;
    if (!big && neg && mag > (uint64_t)INT64_MAX + 1u)
        big = true;
    *overflow = big;
    if (!big)
        *out = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return true;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool vm_yis_float(const char *s, size_t n)
{
    size_t i = 0, d1 = 0, d2 = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, d1++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, d2++;
    }
    if (d1 == 0 && d2 == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t de = 0;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, de++;
        if (de == 0)
            return false;
    }
    return i == n;
}

static bool vm_yis_nonfinite(const char *s, size_t n)
{
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    return n == 4 && (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") ||
                      !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"));
}

static vm_ykind vm_yclassify(const char *s, size_t n)
{
    int64_t iv;
    bool ovf;
    if (vm_yis_null(s, n))
        return VM_YS_NULL;
    if (vm_yis_bool(s) >= 0)
        return VM_YS_BOOL;
    if (vm_yparse_int(s, n, &iv, &ovf))
        return VM_YS_INT;
    if (vm_yis_float(s, n))
        return VM_YS_FLOAT;
    if (vm_yis_nonfinite(s, n))
        return VM_YS_NONFINITE;
    return VM_YS_STRING;
}

/* Turn one scalar event into a node. */
static int vm_yscalar(const vm_ybuild *b, const yaml_event_t *ev, json_t **out, vm_err *err)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    const yaml_mark_t *m = &ev->start_mark;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    vm_ykind want; /* kind demanded by a tag, or VM_YS_NONFINITE for none */

    *out = NULL;
    if (memchr(s, '\0', n))
        return vm_yfail(b, err, m, "value contains a NUL character");
    if (!tag) {
        want = plain ? VM_YS_NONFINITE : VM_YS_STRING;
    } else if (!strcmp(tag, "!") || !strcmp(tag, VM_TAG_PREFIX "str")) {
        want = VM_YS_STRING;
    } else if (!strcmp(tag, VM_TAG_PREFIX "int")) {
        want = VM_YS_INT;
    } else if (!strcmp(tag, VM_TAG_PREFIX "float")) {
        want = VM_YS_FLOAT;
    } else if (!strcmp(tag, VM_TAG_PREFIX "bool")) {
        want = VM_YS_BOOL;
    } else if (!strcmp(tag, VM_TAG_PREFIX "null")) {
        want = VM_YS_NULL;
    } else {
        return vm_yfail(b, err, m, "unsupported tag %.64s", tag);
    }

    vm_ykind k = want == VM_YS_STRING ? VM_YS_STRING : vm_yclassify(s, n);
    if (k == VM_YS_NONFINITE)
        return vm_yfail(b, err, m, "infinite and NaN numbers are not allowed in job files");
    if (want != VM_YS_NONFINITE && want != k && !(want == VM_YS_FLOAT && k == VM_YS_INT))
        return vm_yfail(b, err, m, "value does not match its tag %.64s", tag);

    switch (k) {
    case VM_YS_NULL:
        *out = json_null();
        break;
    case VM_YS_BOOL:
        *out = json_boolean(vm_yis_bool(s) == 1);
        break;
    case VM_YS_INT: {
        int64_t iv = 0;
        bool ovf = false;
        vm_yparse_int(s, n, &iv, &ovf);
        if (ovf)
            return vm_yfail(b, err, m, "integer out of range (must fit in a signed 64-bit integer)");
        if (want == VM_YS_FLOAT)
            *out = json_real((double)iv);
        else
            *out = json_integer((json_int_t)iv);
        break;
    }
    case VM_YS_FLOAT: {
        double d = strtod(s, NULL);
        if (!isfinite(d))
            return vm_yfail(b, err, m, "number out of range");
        *out = json_real(d);
        break;
    }
    default:
        /* libyaml has already rejected invalid UTF-8 in the input and
         * invalid \u escapes, and NUL was refused above. */
        *out = json_stringn_nocheck(s, n);
        break;
    }
    if (!*out)
        return vm_ynomem(err, b);
    return 0;
}

/* ---- builder ------------------------------------------------------------ */

static void vm_yframe_free(vm_yframe *f)
{
    vm_free(f->path);
    vm_free(f->key);
    vm_free(f->key_path);
    vm_free(f->anchor);
    memset(f, 0, sizeof *f);
}

static void vm_ybuild_free(vm_ybuild *b)
{
    for (size_t i = 0; i < b->depth; i++)
        vm_yframe_free(&b->stack[i]);
    vm_free(b->stack);
    for (size_t i = 0; i < b->nanchors; i++)
        vm_free(b->anchors[i].name);
    vm_free(b->anchors);
    json_decref(b->root);
    json_decref(b->locs);
    memset(b, 0, sizeof *b);
}

static int vm_yrecord_loc(vm_ybuild *b, const char *path, const yaml_mark_t *m, vm_err *err)
{
    json_t *v = json_integer((json_int_t)vm_yloc_encode(m));
    if (!v || json_object_set_new(b->locs, path, v) != 0)
        return vm_ynomem(err, b);
    return 0;
}

static int vm_yrecord_anchor(vm_ybuild *b, const char *name, json_t *node, size_t nodes,
                             vm_err *err)
{
    if (vm_grow((void **)&b->anchors, &b->anchors_cap, b->nanchors + 1, sizeof *b->anchors))
        return vm_ynomem(err, b);
    char *copy = vm_strdup(name);
    if (!copy)
        return vm_ynomem(err, b);
    b->anchors[b->nanchors++] = (vm_yanchor){copy, node, nodes};
    return 0;
}

static const vm_yanchor *vm_yfind_anchor(const vm_ybuild *b, const char *name)
{
    for (size_t i = b->nanchors; i-- > 0;) /* latest definition wins */
        if (!strcmp(b->anchors[i].name, name))
            return &b->anchors[i];
    return NULL;
}

/* Where the next value goes: its path (new string) or an error when a
 * mapping expects a key and the event cannot be one. */
static int vm_ynext_path(vm_ybuild *b, const yaml_mark_t *m, char **path, vm_err *err)
{
    *path = NULL;
    if (b->depth == 0) {
        if (b->root)
            return vm_yfail(b, err, m, "internal: second root node");
        *path = vm_strdup("");
    } else {
        vm_yframe *top = &b->stack[b->depth - 1];
        if (json_is_object(top->node)) {
            if (!top->key)
                return vm_yfail(b, err, m, "mapping keys must be plain scalars "
                                           "(complex keys and aliases as keys are not supported)");
            *path = vm_strdup(top->key_path);
        } else {
            *path = vm_ypath_index(top->path, top->nitems);
        }
    }
    return *path ? 0 : vm_ynomem(err, b);
}

/* Attach v (reference stolen) where the next value goes. */
static int vm_yattach(vm_ybuild *b, json_t *v, vm_err *err)
{
    if (b->depth == 0) {
        b->root = v;
        return 0;
    }
    vm_yframe *top = &b->stack[b->depth - 1];
    if (json_is_object(top->node)) {
        int rc = json_object_set_new_nocheck(top->node, top->key, v);
        vm_free(top->key);
        vm_free(top->key_path);
        top->key = top->key_path = NULL;
        return rc == 0 ? 0 : vm_ynomem(err, b);
    }
    top->nitems++;
    return json_array_append_new(top->node, v) == 0 ? 0 : vm_ynomem(err, b);
}

static int vm_ykey(vm_ybuild *b, const yaml_event_t *ev, vm_err *err)
{
    vm_yframe *top = &b->stack[b->depth - 1];
    const char *k = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.anchor)
        return vm_yfail(b, err, &ev->start_mark, "anchors on mapping keys are not supported");
    if (memchr(k, '\0', n))
        return vm_yfail(b, err, &ev->start_mark, "key contains a NUL character");
    if (json_object_get(top->node, k)) {
        char *dup_path = vm_ypath_join(top->path, k);
        if (!dup_path)
            return vm_ynomem(err, b);
        int line = 0;
        json_t *first = json_object_get(b->locs, dup_path);
        vm_free(dup_path);
        if (first)
            line = (int)((uint64_t)json_integer_value(first) >> 32);
        if (line > 0)
            return vm_yfail(b, err, &ev->start_mark, "duplicate key \"%.128s\" (first defined at line %d)",
                            k, line);
        return vm_yfail(b, err, &ev->start_mark, "duplicate key \"%.128s\"", k);
    }
    if (!(top->key = vm_strndup(k, n)) || !(top->key_path = vm_ypath_join(top->path, k)))
        return vm_ynomem(err, b);
    return vm_yrecord_loc(b, top->key_path, &ev->start_mark, err);
}

static int vm_ycount_node(vm_ybuild *b, size_t add, const yaml_mark_t *m, vm_err *err)
{
    b->nodes += add;
    if (b->nodes > VM_YAML_MAX_NODES)
        return vm_yfail(b, err, m, "document too large (more than %d nodes after alias expansion)",
                        VM_YAML_MAX_NODES);
    return 0;
}

static int vm_ystart_container(vm_ybuild *b, const yaml_event_t *ev, bool mapping, vm_err *err)
{
    const yaml_mark_t *m = &ev->start_mark;
    const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor = (const char *)(mapping ? ev->data.mapping_start.anchor
                                                : ev->data.sequence_start.anchor);
    char *path = NULL, *anchor_copy = NULL;
    int rc;

    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, mapping ? VM_TAG_PREFIX "map" : VM_TAG_PREFIX "seq") != 0)
        return vm_yfail(b, err, m, "unsupported tag %.64s", tag);
    if (b->depth >= VM_YAML_MAX_DEPTH)
        return vm_yfail(b, err, m, "nesting deeper than %d levels", VM_YAML_MAX_DEPTH);
    if ((rc = vm_ycount_node(b, 1, m, err)) != 0)
        return rc;
    if ((rc = vm_ynext_path(b, m, &path, err)) != 0)
        goto cleanup;
    if (anchor && !(anchor_copy = vm_strdup(anchor))) {
        rc = vm_ynomem(err, b);
        goto cleanup;
    }
    if (vm_grow((void **)&b->stack, &b->stack_cap, b->depth + 1, sizeof *b->stack)) {
        rc = vm_ynomem(err, b);
        goto cleanup;
    }
    json_t *node = mapping ? json_object() : json_array();
    if (!node) {
        rc = vm_ynomem(err, b);
        goto cleanup;
    }
    if (b->depth == 0 && (rc = vm_yrecord_loc(b, path, m, err)) != 0) {
        json_decref(node);
        goto cleanup;
    }
    if (b->depth > 0 && !json_is_object(b->stack[b->depth - 1].node) &&
        (rc = vm_yrecord_loc(b, path, m, err)) != 0) {
        json_decref(node);
        goto cleanup;
    }
    if ((rc = vm_yattach(b, node, err)) != 0)
        goto cleanup;
    b->stack[b->depth++] = (vm_yframe){.node = node, .path = path, .anchor = anchor_copy,
                                       .nodes0 = b->nodes - 1};
    path = anchor_copy = NULL;
cleanup:
    vm_free(path);
    vm_free(anchor_copy);
    return rc;
}

static int vm_yend_container(vm_ybuild *b, const yaml_event_t *ev, vm_err *err)
{
    vm_yframe f = b->stack[--b->depth];
    int rc = 0;
    if (f.anchor)
        rc = vm_yrecord_anchor(b, f.anchor, f.node, b->nodes - f.nodes0, err);
    vm_yframe_free(&f);
    return rc;
}

static int vm_yvalue_scalar(vm_ybuild *b, const yaml_event_t *ev, vm_err *err)
{
    json_t *v = NULL;
    char *path = NULL;
    int rc;
    if ((rc = vm_ycount_node(b, 1, &ev->start_mark, err)) != 0)
        return rc;
    if ((rc = vm_ynext_path(b, &ev->start_mark, &path, err)) != 0)
        goto cleanup;
    if ((rc = vm_yscalar(b, ev, &v, err)) != 0)
        goto cleanup;
    bool in_seq = b->depth > 0 && json_is_array(b->stack[b->depth - 1].node);
    if ((b->depth == 0 || in_seq) && (rc = vm_yrecord_loc(b, path, &ev->start_mark, err)) != 0)
        goto cleanup;
    json_t *kept = v; /* borrowed after attach, for the anchor */
    rc = vm_yattach(b, v, err);
    v = NULL;
    if (rc == 0 && ev->data.scalar.anchor)
        rc = vm_yrecord_anchor(b, (const char *)ev->data.scalar.anchor, kept, 1, err);
cleanup:
    json_decref(v);
    vm_free(path);
    return rc;
}

static int vm_yalias(vm_ybuild *b, const yaml_event_t *ev, vm_err *err)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const vm_yanchor *a = vm_yfind_anchor(b, name);
    char *path = NULL;
    int rc;
    if (!a)
        return vm_yfail(b, err, &ev->start_mark, "alias *%.64s refers to an unknown anchor "
                        "(or to a node that contains it)", name);
    if ((rc = vm_ycount_node(b, a->nodes, &ev->start_mark, err)) != 0)
        return rc;
    if ((rc = vm_ynext_path(b, &ev->start_mark, &path, err)) != 0)
        goto cleanup;
    bool in_seq = b->depth > 0 && json_is_array(b->stack[b->depth - 1].node);
    if ((b->depth == 0 || in_seq) && (rc = vm_yrecord_loc(b, path, &ev->start_mark, err)) != 0)
        goto cleanup;
    json_t *copy = json_deep_copy(a->node);
    if (!copy) {
        rc = vm_ynomem(err, b);
        goto cleanup;
    }
    rc = vm_yattach(b, copy, err);
cleanup:
    vm_free(path);
    return rc;
}

static size_t vm_yline_of(const char *text, size_t len, size_t offset, size_t *col)
{
    size_t line = 1, c = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            c = 1;
        } else {
            c++;
        }
    }
    *col = c;
    return line;
}

static int vm_yparser_error(const vm_ybuild *b, const yaml_parser_t *p, const char *text,
                            size_t len, vm_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return vm_ynomem(err, b);
    const char *problem = p->problem ? p->problem : "syntax error";
    if (p->error == YAML_READER_ERROR) {
        size_t col, line = vm_yline_of(text, len, p->problem_offset, &col);
        return vm_err_set(err, VM_ERR_INVALID, false, "%s:%zu:%zu: %s", b->origin, line, col, problem);
    }
    if (p->context)
        return vm_err_set(err, VM_ERR_INVALID, false, "%s:%zu:%zu: %s (%s started at line %zu)",
                          b->origin, p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                          p->context, p->context_mark.line + 1);
    return vm_err_set(err, VM_ERR_INVALID, false, "%s:%zu:%zu: %s", b->origin,
                      p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

int vm_conf_parse_string_ex(const char *text, size_t len, const char *origin, json_t **out,
                            json_t **locs, vm_err *err)
{
    vm_ybuild b;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_parser = false, have_event = false, done = false;
    int rc = 0;

    memset(&b, 0, sizeof b);
    *out = NULL;
    if (locs)
        *locs = NULL;
    b.origin = origin ? origin : "<string>";
    if (!text && len > 0)
        return vm_err_setc(err, VM_ERR_INVALID, "%s: no text", b.origin);
    if (!(b.locs = json_object()))
        return vm_ynomem(err, &b);
    if (!yaml_parser_initialize(&parser)) {
        rc = vm_ynomem(err, &b);
        goto cleanup;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = vm_yparser_error(&b, &parser, text, len, err);
            goto cleanup;
        }
        have_event = true;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++b.docs > 1) {
                rc = vm_yfail(&b, err, &ev.start_mark,
                              "more than one document in one file (a job file is one document)");
                goto cleanup;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (b.depth > 0 && json_is_object(b.stack[b.depth - 1].node) && !b.stack[b.depth - 1].key)
                rc = vm_ykey(&b, &ev, err);
            else
                rc = vm_yvalue_scalar(&b, &ev, err);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = vm_ystart_container(&b, &ev, false, err);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = vm_ystart_container(&b, &ev, true, err);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = vm_yend_container(&b, &ev, err);
            break;
        case YAML_ALIAS_EVENT:
            rc = vm_yalias(&b, &ev, err);
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default: /* stream start, document end, no event */
            break;
        }
        yaml_event_delete(&ev);
        have_event = false;
        if (rc != 0)
            goto cleanup;
    }

    if (!b.root && !(b.root = json_null())) {
        rc = vm_ynomem(err, &b);
        goto cleanup;
    }
    *out = b.root;
    b.root = NULL;
    if (locs) {
        *locs = b.locs;
        b.locs = NULL;
    }
cleanup:
    if (have_event)
        yaml_event_delete(&ev);
    if (have_parser)
        yaml_parser_delete(&parser);
    vm_ybuild_free(&b);
    return rc;
}

int vm_conf_parse_string(const char *text, size_t len, const char *origin, json_t **out,
                         vm_err *err)
{
    return vm_conf_parse_string_ex(text, len, origin, out, NULL, err);
}

int vm_conf_parse_file_ex(const char *path, json_t **out, json_t **locs, vm_err *err)
{
    FILE *f = NULL;
    char *buf = NULL;
    int rc = 0;

    *out = NULL;
    if (locs)
        *locs = NULL;
    if (!path)
        return vm_err_setc(err, VM_ERR_INVALID, "no job file given");
    if (!(f = fopen(path, "rb"))) {
        int e = errno;
        return vm_err_set(err, e == ENOENT ? VM_ERR_NOT_FOUND : VM_ERR_IO, false,
                          "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = vm_err_set(err, VM_ERR_IO, false, "%s: not a regular file", path);
        goto cleanup;
    }
    if ((uintmax_t)st.st_size > VM_YAML_MAX_FILE) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "%s: file larger than %u bytes", path,
                        VM_YAML_MAX_FILE);
        goto cleanup;
    }
    size_t size = (size_t)st.st_size;
    if (!(buf = vm_malloc(size + 1))) {
        rc = vm_err_set(err, VM_ERR_NOMEM, false, "%s: out of memory", path);
        goto cleanup;
    }
    size_t got = fread(buf, 1, size, f);
    if (got != size || ferror(f)) {
        rc = vm_err_set(err, VM_ERR_IO, false, "%s: read error", path);
        goto cleanup;
    }
    buf[size] = '\0';
    rc = vm_conf_parse_string_ex(buf, size, path, out, locs, err);
cleanup:
    vm_free(buf);
    if (f)
        fclose(f);
    return rc;
}

int vm_conf_parse_file(const char *path, json_t **out, vm_err *err)
{
    return vm_conf_parse_file_ex(path, out, NULL, err);
}

int vm_yaml_loc(const json_t *locs, const char *path, int *line, int *col)
{
    /* a copy as long as the path: a fixed buffer cut long paths (keys of
     * any length are allowed) and then missed them */
    char *buf = locs && path ? vm_strdup(path) : NULL;
    if (!buf)
        return -1;
    for (;;) {
        json_t *v = json_object_get(locs, buf);
        if (v) {
            uint64_t e = (uint64_t)json_integer_value(v);
            *line = (int)(e >> 32);
            *col = (int)(e & 0xffffffffu);
            vm_free(buf);
            return 0;
        }
        /* the root's position only answers for the root itself */
        if (!buf[0] || (!strchr(buf, '.') && !strchr(buf, '['))) {
            vm_free(buf);
            return -1;
        }
        /* drop the last ".key" or "[i]" */
        char *dot = strrchr(buf, '.');
        char *br = strrchr(buf, '[');
        char *cut = dot > br ? dot : br;
        if (!cut)
            cut = buf;
        *cut = '\0';
    }
}

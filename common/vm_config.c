/*
 * vm_config.c - typed config tables (vm_conf_apply) and the job file
 * (vm_job_conf_load). See vm_config.h for the value rules.
 *
 * Each value converter writes a reason into a small buffer instead of
 * filling the vm_err itself; one place then composes "file:line:col: path:
 * reason", so user values and defaults share the parser and the message
 * format, and a bad default turns into VM_ERR_INTERNAL (a bug in a table)
 * rather than a user error. Values are never copied into reasons: a
 * mistyped value may be a secret.
 */
#include "vm_config.h"
#include "vm_httpd.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define VM_CONF_PATH_MAX 256
#define VM_CONF_WHY_MAX 384
#define VM_SECRET_FILE_MAX (64 * 1024)
#define VM_FRAC_DIGITS_MAX 6

/* ---- small helpers ------------------------------------------------------- */

static void vm_conf_path(char *buf, size_t cap, const char *parent, const char *name)
{
    if (parent && *parent)
        snprintf(buf, cap, "%s.%s", parent, name);
    else
        snprintf(buf, cap, "%s", name);
}

static const char *vm_conf_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a sequence";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

static const char *vm_conf_type_name(vm_conf_type t)
{
    switch (t) {
    case VM_CT_STRING: return "string";
    case VM_CT_SECRET: return "secret";
    case VM_CT_INT: return "int";
    case VM_CT_BOOL: return "bool";
    case VM_CT_DOUBLE: return "double";
    case VM_CT_SIZE: return "size";
    case VM_CT_DURATION: return "duration";
    case VM_CT_ENUM: return "enum";
    case VM_CT_STRING_LIST: return "list";
    case VM_CT_JSON: return "json";
    }
    return "?";
}

/* "file:line:col: " for path, or "file: ", or "". */
static void vm_conf_where_prefix(const vm_conf_where *w, const char *path, char *buf, size_t cap)
{
    int line, col;
    buf[0] = '\0';
    if (!w || !w->origin)
        return;
    if (vm_yaml_loc(w->locs, path ? path : "", &line, &col) == 0)
        snprintf(buf, cap, "%s:%d:%d: ", w->origin, line, col);
    else
        snprintf(buf, cap, "%s: ", w->origin);
}

static int vm_conf_fail(const vm_conf_where *w, vm_err *err, vm_code code, const char *path,
                        const char *fmt, ...) VM_PRINTF(5, 6);
static int vm_conf_fail(const vm_conf_where *w, vm_err *err, vm_code code, const char *path,
                        const char *fmt, ...)
{
    char msg[VM_ERR_MSG_MAX], where[VM_CONF_PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vm_conf_where_prefix(w, path, where, sizeof where);
    return vm_err_set(err, code, false, "%s%s: %s", where, path && *path ? path : "(top level)", msg);
}

int vm_conf_error(const vm_conf_where *w, vm_err *err, vm_code code, const char *path,
                  const char *fmt, ...)
{
    char msg[VM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vm_conf_fail(w, err, code, path, "%s", msg);
}

static void vm_wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    vm_free(s);
}

static size_t vm_conf_field_size(vm_conf_type t)
{
    switch (t) {
    case VM_CT_STRING:
    case VM_CT_SECRET: return sizeof(char *);
    case VM_CT_INT:
    case VM_CT_SIZE:
    case VM_CT_DURATION: return sizeof(int64_t);
    case VM_CT_BOOL: return sizeof(bool);
    case VM_CT_DOUBLE: return sizeof(double);
    case VM_CT_ENUM: return sizeof(int);
    case VM_CT_STRING_LIST: return sizeof(vm_strlist);
    case VM_CT_JSON: return sizeof(json_t *);
    }
    return 0;
}

static bool vm_conf_has_range(const vm_conf_entry *e) { return e->min < e->max; }

/* "must be between 1 and 100000" (with a unit after each number). */
static void vm_conf_range_text(const vm_conf_entry *e, const char *unit, char *buf, size_t cap)
{
    if (e->max == INT64_MAX)
        snprintf(buf, cap, "must be at least %" PRId64 "%s", e->min, unit);
    else if (e->min == INT64_MIN)
        snprintf(buf, cap, "must be at most %" PRId64 "%s", e->max, unit);
    else
        snprintf(buf, cap, "must be between %" PRId64 " and %" PRId64 "%s", e->min, e->max, unit);
}

static int vm_conf_check_range(const vm_conf_entry *e, int64_t v, const char *unit, char *why,
                               size_t cap)
{
    if (!vm_conf_has_range(e) || (v >= e->min && v <= e->max))
        return 0;
    char r[160];
    vm_conf_range_text(e, unit, r, sizeof r);
    snprintf(why, cap, "%" PRId64 "%s is out of range: %s", v, unit, r);
    return VM_ERR_INVALID;
}

/* ---- sizes and durations ------------------------------------------------- */

/* Decimal number "12", "1.5", ".5" at *p: integer part and up to
 * VM_FRAC_DIGITS_MAX fractional digits as (frac, scale). */
static int vm_conf_number(const char **p, uint64_t *ip, uint64_t *frac, uint64_t *scale,
                          char *why, size_t cap)
{
    const char *s = *p;
    uint64_t v = 0, f = 0, sc = 1;
    size_t nd = 0, nf = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10) {
            snprintf(why, cap, "number too large");
            return VM_ERR_INVALID;
        }
        v = v * 10 + (uint64_t)(*s++ - '0');
        nd++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (++nf > VM_FRAC_DIGITS_MAX) {
                snprintf(why, cap, "more than %d decimal places", VM_FRAC_DIGITS_MAX);
                return VM_ERR_INVALID;
            }
            f = f * 10 + (uint64_t)(*s++ - '0');
            sc *= 10;
        }
    }
    if (nd == 0 && nf == 0)
        return VM_ERR_INVALID;
    *p = s;
    *ip = v;
    *frac = f;
    *scale = sc;
    return 0;
}

/* ip.frac * mult, rounded down; -1 on overflow past INT64_MAX. */
static int vm_conf_scale(uint64_t ip, uint64_t frac, uint64_t scale, uint64_t mult, int64_t *out)
{
    if (ip > (uint64_t)INT64_MAX / mult)
        return -1;
    uint64_t whole = ip * mult;
    uint64_t part = frac * mult / scale; /* frac < 10^6, mult <= 2^40: no overflow */
    if (part > (uint64_t)INT64_MAX - whole)
        return -1;
    *out = (int64_t)(whole + part);
    return 0;
}

static const struct {
    const char *name;
    uint64_t mult;
} vm_size_units[] = {
    {"", 1},
    {"b", 1},
    {"kb", 1000ull},
    {"mb", 1000ull * 1000},
    {"gb", 1000ull * 1000 * 1000},
    {"tb", 1000ull * 1000 * 1000 * 1000},
    {"kib", 1ull << 10},
    {"mib", 1ull << 20},
    {"gib", 1ull << 30},
    {"tib", 1ull << 40},
};

static int vm_conf_size_why(const char *text, int64_t *bytes, char *why, size_t cap)
{
    static const char bad[] = "not a size: expected bytes as an integer, or a number with a "
                              "unit B, KB, MB, GB, TB (x1000) or KiB, MiB, GiB, TiB (x1024)";
    const char *p = text;
    uint64_t ip, frac, scale;
    char unit[16];
    size_t ul = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    why[0] = '\0';
    if (vm_conf_number(&p, &ip, &frac, &scale, why, cap) != 0) {
        if (!why[0])
            snprintf(why, cap, "%s", bad);
        return VM_ERR_INVALID;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    while (isalpha((unsigned char)*p)) {
        if (ul + 1 >= sizeof unit) {
            snprintf(why, cap, "%s", bad);
            return VM_ERR_INVALID;
        }
        unit[ul++] = *p++;
    }
    unit[ul] = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p) {
        snprintf(why, cap, "%s", bad);
        return VM_ERR_INVALID;
    }
    for (size_t i = 0; i < sizeof vm_size_units / sizeof vm_size_units[0]; i++) {
        if (strcasecmp(unit, vm_size_units[i].name) == 0) {
            if (vm_conf_scale(ip, frac, scale, vm_size_units[i].mult, bytes) != 0) {
                snprintf(why, cap, "size too large");
                return VM_ERR_INVALID;
            }
            return 0;
        }
    }
    snprintf(why, cap, "unknown size unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
    return VM_ERR_INVALID;
}

static int vm_conf_duration_why(const char *text, int64_t *ms, char *why, size_t cap)
{
    static const char bad[] = "not a duration: expected seconds as an integer, or numbers with "
                              "units ms, s, m, h (\"250ms\", \"30s\", \"1h30m\")";
    const char *p = text;
    int64_t total = 0;
    int parts = 0;

    why[0] = '\0';
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        uint64_t ip, frac, scale, mult;
        if (vm_conf_number(&p, &ip, &frac, &scale, why, cap) != 0) {
            if (!why[0])
                snprintf(why, cap, "%s", bad);
            return VM_ERR_INVALID;
        }
        char unit[16];
        size_t ul = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        while (isalpha((unsigned char)*p)) {
            if (ul + 1 >= sizeof unit) {
                snprintf(why, cap, "%s", bad);
                return VM_ERR_INVALID;
            }
            unit[ul++] = *p++;
        }
        unit[ul] = '\0';
        if (ul == 0) {
            /* a bare number is seconds, but only on its own */
            while (*p == ' ' || *p == '\t')
                p++;
            if (parts > 0 || *p) {
                snprintf(why, cap, "%s", bad);
                return VM_ERR_INVALID;
            }
            mult = 1000;
        } else if (!strcasecmp(unit, "ms")) {
            mult = 1;
        } else if (!strcasecmp(unit, "s")) {
            mult = 1000;
        } else if (!strcasecmp(unit, "m")) {
            mult = 60 * 1000;
        } else if (!strcasecmp(unit, "h")) {
            mult = 3600 * 1000;
        } else {
            snprintf(why, cap, "unknown duration unit (use ms, s, m or h)");
            return VM_ERR_INVALID;
        }
        int64_t part;
        if (vm_conf_scale(ip, frac, scale, mult, &part) != 0 || part > INT64_MAX - total) {
            snprintf(why, cap, "duration too long");
            return VM_ERR_INVALID;
        }
        total += part;
        parts++;
    }
    if (parts == 0) {
        snprintf(why, cap, "%s", bad);
        return VM_ERR_INVALID;
    }
    *ms = total;
    return 0;
}

int vm_conf_parse_size(const char *text, int64_t *bytes, vm_err *err)
{
    char why[VM_CONF_WHY_MAX];
    if (!text || vm_conf_size_why(text, bytes, why, sizeof why) != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "%s", text ? why : "no size given");
    return 0;
}

int vm_conf_parse_duration(const char *text, int64_t *ms, vm_err *err)
{
    char why[VM_CONF_WHY_MAX];
    if (!text || vm_conf_duration_why(text, ms, why, sizeof why) != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "%s", text ? why : "no duration given");
    return 0;
}

/* ---- secrets --------------------------------------------------------------- */

/* Read a whole secret file (at most VM_SECRET_FILE_MAX bytes), drop one
 * trailing newline. The reason names the path, never the content. */
static int vm_conf_read_secret_file(const char *path, char **out, char *why, size_t cap)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    int rc = 0;
    if (!f) {
        snprintf(why, cap, "cannot read secret file %.200s: %s", path, strerror(errno));
        return VM_ERR_INVALID;
    }
    if (!(buf = vm_malloc(VM_SECRET_FILE_MAX + 1))) {
        rc = VM_ERR_NOMEM;
        goto cleanup;
    }
    size_t n = fread(buf, 1, VM_SECRET_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(why, cap, "cannot read secret file %.200s", path);
        rc = VM_ERR_INVALID;
        goto cleanup;
    }
    if (n > VM_SECRET_FILE_MAX) {
        snprintf(why, cap, "secret file %.200s is larger than %d bytes", path, VM_SECRET_FILE_MAX);
        rc = VM_ERR_INVALID;
        goto cleanup;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(why, cap, "secret file %.200s contains a NUL byte", path);
        rc = VM_ERR_INVALID;
        goto cleanup;
    }
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = '\0';
    if (!(*out = vm_strndup(buf, n)))
        rc = VM_ERR_NOMEM;
cleanup:
    if (buf) {
        explicit_bzero(buf, VM_SECRET_FILE_MAX + 1);
        vm_free(buf);
    }
    fclose(f);
    return rc;
}

/* The secret parts of a URL or libpq connection string, at most two spans:
 * the password of scheme://user:PASSWORD@host (or the whole user-info when
 * it has no ':', except in postgresql:// where that is the user), and the
 * value of a password= parameter (URL query "?password=x&...", conninfo
 * "password=x" or "password='x y'"). Returns the number of spans found. */
static int vm_conf_url_secrets(const char *url, const char *start[2], size_t len[2])
{
    int n = 0;
    const char *p = strstr(url, "://");
    if (p) {
        p += 3;
        size_t auth = strcspn(p, "/?#");
        const char *at = NULL;
        for (const char *q = p; q < p + auth; q++)
            if (*q == '@')
                at = q;
        /* a lone user-info is the password in a redis:// URL (as redis-cli
         * reads it) but the user name in a postgresql:// one */
        bool pg = strncmp(url, "postgres", 8) == 0;
        if (at && at != p) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            const char *s = colon ? colon + 1 : pg ? at : p;
            if (at > s) {
                start[n] = s;
                len[n++] = (size_t)(at - s);
            }
        }
    }
    /* a password= key: at the start, after whitespace (conninfo) or after
     * '?' / '&' (URL query); the last one wins in libpq, so take the last */
    const char *key = NULL;
    for (const char *q = strstr(url, "password"); q; q = strstr(q + 1, "password")) {
        const char *v = q + 8;
        while (!p && (*v == ' ' || *v == '\t'))
            v++;
        bool at_key = q == url || q[-1] == ' ' || q[-1] == '\t' || q[-1] == '?' || q[-1] == '&';
        if (at_key && *v == '=')
            key = v + 1;
    }
    if (key) {
        const char *v = key;
        size_t l;
        while (!p && (*v == ' ' || *v == '\t'))
            v++;
        if (!p && *v == '\'') {
            v++;
            for (l = 0; v[l] && v[l] != '\''; l++)
                if (v[l] == '\\' && v[l + 1])
                    l++;
        } else {
            l = strcspn(v, p ? "&#" : " \t");
        }
        if (l > 0) {
            start[n] = v;
            len[n++] = l;
        }
    }
    return n;
}

static int vm_conf_register(const char *s, size_t n, char *why, size_t cap)
{
    if (n < VM_SECRET_MIN_LEN) {
        snprintf(why, cap, "too short to be redacted safely (at least %d characters)",
                 VM_SECRET_MIN_LEN);
        return VM_ERR_INVALID;
    }
    char *copy = vm_strndup(s, n);
    if (!copy)
        return VM_ERR_NOMEM;
    int rc = vm_secret_add(copy);
    vm_wipe_free(copy);
    return rc == 0 ? 0 : VM_ERR_NOMEM;
}

/* A secret value: literal string, {env: NAME} or {file: PATH}. *warn is set
 * when the job file holds the secret itself. */
static int vm_conf_secret(const json_t *v, bool url, char **out, bool *warn, char *why, size_t cap)
{
    char *s = NULL;
    bool literal = false;
    int rc = 0;

    *out = NULL;
    *warn = false;
    if (json_is_string(v)) {
        if (!(s = vm_strndup(json_string_value(v), json_string_length(v))))
            return VM_ERR_NOMEM;
        literal = true;
        if (strlen(s) != json_string_length(v)) {
            snprintf(why, cap, "contains a NUL character");
            rc = VM_ERR_INVALID;
            goto cleanup;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *val;
        if (json_object_size(v) != 1) {
            snprintf(why, cap, "a secret reference has exactly one key: env or file");
            return VM_ERR_INVALID;
        }
        json_object_foreach((json_t *)v, k, val) {
            if (strcmp(k, "env") != 0 && strcmp(k, "file") != 0) {
                snprintf(why, cap, "unknown key \"%.64s\" in secret reference (known: env, file)", k);
                return VM_ERR_INVALID;
            }
            if (!json_is_string(val) || json_string_length(val) == 0) {
                snprintf(why, cap, "%s: expected a non-empty string (%s), got %s", k,
                         k[0] == 'e' ? "variable name" : "file path",
                         json_is_string(val) ? "an empty string" : vm_conf_kind(val));
                return VM_ERR_INVALID;
            }
            if (k[0] == 'e') {
                const char *ev = getenv(json_string_value(val));
                if (!ev) {
                    snprintf(why, cap, "environment variable %.128s is not set", json_string_value(val));
                    return VM_ERR_INVALID;
                }
                if (!(s = vm_strdup(ev)))
                    return VM_ERR_NOMEM;
            } else if ((rc = vm_conf_read_secret_file(json_string_value(val), &s, why, cap)) != 0) {
                return rc;
            }
        }
    } else {
        snprintf(why, cap, "expected a string, {env: NAME} or {file: PATH}, got %s", vm_conf_kind(v));
        return VM_ERR_INVALID;
    }

    if (url) {
        const char *p[2];
        size_t n[2];
        int spans = vm_conf_url_secrets(s, p, n);
        for (int i = 0; i < spans; i++) {
            if ((rc = vm_conf_register(p[i], n[i], why, cap)) != 0) {
                if (rc == VM_ERR_INVALID)
                    snprintf(why, cap, "password in %s too short to be redacted safely "
                                       "(at least %d characters)",
                             strstr(s, "://") ? "URL" : "connection string", VM_SECRET_MIN_LEN);
                goto cleanup;
            }
            *warn = literal;
        }
    } else {
        if ((rc = vm_conf_register(s, strlen(s), why, cap)) != 0)
            goto cleanup;
        *warn = literal;
    }
    *out = s;
    s = NULL;
cleanup:
    vm_wipe_free(s);
    return rc;
}

/* ---- converting one value -------------------------------------------------- */

static int vm_conf_strlist(const json_t *v, const vm_conf_entry *e, vm_strlist *out, char *why,
                           size_t cap)
{
    vm_strlist l = {NULL, 0};
    size_t want = 0;
    int rc = 0;
    const char *text = NULL;

    if (json_is_array(v)) {
        want = json_array_size(v);
        for (size_t i = 0; i < want; i++) {
            json_t *it = json_array_get(v, i);
            if (!json_is_string(it) || json_string_length(it) == 0) {
                snprintf(why, cap, "item %zu: expected a non-empty string, got %s", i,
                         json_is_string(it) ? "an empty string" : vm_conf_kind(it));
                return VM_ERR_INVALID;
            }
        }
    } else if (json_is_string(v)) {
        text = json_string_value(v);
        if (*text)
            for (const char *p = text; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
                want++;
    } else {
        snprintf(why, cap, "expected a sequence of strings or a comma-separated string, got %s",
                 vm_conf_kind(v));
        return VM_ERR_INVALID;
    }
    if (vm_conf_has_range(e) && ((int64_t)want < e->min || (int64_t)want > e->max)) {
        char r[160];
        vm_conf_range_text(e, " items", r, sizeof r);
        snprintf(why, cap, "has %zu items: %s", want, r);
        return VM_ERR_INVALID;
    }
    if (!(l.v = vm_calloc(want ? want : 1, sizeof *l.v)))
        return VM_ERR_NOMEM;
    if (text) {
        const char *p = text;
        while (*text && l.n < want) {
            const char *end = strchr(p, ',');
            if (!end)
                end = p + strlen(p);
            const char *a = p, *b = end;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            if (a == b) {
                snprintf(why, cap, "item %zu of the comma-separated list is empty", l.n);
                rc = VM_ERR_INVALID;
                goto cleanup;
            }
            if (!(l.v[l.n] = vm_strndup(a, (size_t)(b - a)))) {
                rc = VM_ERR_NOMEM;
                goto cleanup;
            }
            l.n++;
            p = *end ? end + 1 : end;
        }
    } else {
        for (size_t i = 0; i < want; i++, l.n++)
            if (!(l.v[i] = vm_strdup(json_string_value(json_array_get(v, i))))) {
                rc = VM_ERR_NOMEM;
                goto cleanup;
            }
    }
    *out = l;
    l.v = NULL;
    l.n = 0;
cleanup:
    vm_strlist_release(&l);
    return rc;
}

static int vm_conf_enum(const json_t *v, const vm_conf_entry *e, int *out, char *why, size_t cap)
{
    const char *vals = e->enum_values ? e->enum_values : "";
    if (!json_is_string(v)) {
        snprintf(why, cap, "expected one of %s, got %s", vals, vm_conf_kind(v));
        return VM_ERR_INVALID;
    }
    const char *s = json_string_value(v);
    size_t sl = json_string_length(v);
    int idx = 0;
    for (const char *p = vals;; idx++) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == sl && strncmp(p, s, n) == 0) {
            *out = idx;
            return 0;
        }
        if (!end)
            break;
        p = end + 1;
    }
    /* the value is shown: an enum choice is never a secret */
    snprintf(why, cap, "\"%.64s\" is not one of %s", s, vals);
    return VM_ERR_INVALID;
}

/* Convert v (non-NULL, not null) into the field. *warn: literal secret. */
static int vm_conf_convert(const vm_conf_entry *e, const json_t *v, void *field, bool *warn,
                           char *why, size_t cap)
{
    int64_t iv = 0;
    *warn = false;
    switch (e->type) {
    case VM_CT_STRING: {
        if (!json_is_string(v)) {
            snprintf(why, cap, "expected a string, got %s%s", vm_conf_kind(v),
                     json_is_number(v) || json_is_boolean(v) ? " (quote it to make it a string)" : "");
            return VM_ERR_INVALID;
        }
        size_t n = json_string_length(v);
        if (strlen(json_string_value(v)) != n) {
            snprintf(why, cap, "contains a NUL character");
            return VM_ERR_INVALID;
        }
        if (vm_conf_has_range(e) && ((int64_t)n < e->min || (int64_t)n > e->max)) {
            char r[160];
            vm_conf_range_text(e, " characters", r, sizeof r);
            snprintf(why, cap, "is %zu characters long: %s", n, r);
            return VM_ERR_INVALID;
        }
        char *s = vm_strndup(json_string_value(v), n);
        if (!s)
            return VM_ERR_NOMEM;
        *(char **)field = s;
        return 0;
    }
    case VM_CT_SECRET:
        return vm_conf_secret(v, (e->flags & VM_CF_URL) != 0, (char **)field, warn, why, cap);
    case VM_CT_INT:
        if (!json_is_integer(v)) {
            snprintf(why, cap, "expected an integer, got %s", vm_conf_kind(v));
            return VM_ERR_INVALID;
        }
        iv = (int64_t)json_integer_value(v);
        if (vm_conf_check_range(e, iv, "", why, cap))
            return VM_ERR_INVALID;
        *(int64_t *)field = iv;
        return 0;
    case VM_CT_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(why, cap, "expected true or false, got %s", vm_conf_kind(v));
            return VM_ERR_INVALID;
        }
        *(bool *)field = json_is_true(v);
        return 0;
    case VM_CT_DOUBLE: {
        if (!json_is_number(v)) {
            snprintf(why, cap, "expected a number, got %s", vm_conf_kind(v));
            return VM_ERR_INVALID;
        }
        double d = json_number_value(v);
        if (vm_conf_has_range(e) && (d < (double)e->min || d > (double)e->max)) {
            char r[160];
            vm_conf_range_text(e, "", r, sizeof r);
            snprintf(why, cap, "%g is out of range: %s", d, r);
            return VM_ERR_INVALID;
        }
        *(double *)field = d;
        return 0;
    }
    case VM_CT_SIZE:
    case VM_CT_DURATION: {
        bool size = e->type == VM_CT_SIZE;
        if (json_is_integer(v)) {
            iv = (int64_t)json_integer_value(v);
            if (iv < 0) {
                snprintf(why, cap, "must not be negative");
                return VM_ERR_INVALID;
            }
            if (!size) {
                if (iv > INT64_MAX / 1000) {
                    snprintf(why, cap, "duration too long");
                    return VM_ERR_INVALID;
                }
                iv *= 1000; /* plain integer = seconds */
            }
        } else if (json_is_string(v)) {
            int rc = size ? vm_conf_size_why(json_string_value(v), &iv, why, cap)
                          : vm_conf_duration_why(json_string_value(v), &iv, why, cap);
            if (rc)
                return rc;
        } else {
            snprintf(why, cap, "expected %s, got %s",
                     size ? "a size (bytes, or \"64MB\", \"512KiB\")"
                          : "a duration (seconds, or \"250ms\", \"30s\", \"1h30m\")",
                     vm_conf_kind(v));
            return VM_ERR_INVALID;
        }
        if (vm_conf_check_range(e, iv, size ? " bytes" : "ms", why, cap))
            return VM_ERR_INVALID;
        *(int64_t *)field = iv;
        return 0;
    }
    case VM_CT_ENUM:
        return vm_conf_enum(v, e, (int *)field, why, cap);
    case VM_CT_STRING_LIST:
        return vm_conf_strlist(v, e, (vm_strlist *)field, why, cap);
    case VM_CT_JSON:
        *(json_t **)field = json_incref((json_t *)v);
        return 0;
    }
    snprintf(why, cap, "unknown config type %d", (int)e->type);
    return VM_ERR_INTERNAL;
}

/* The default as a value: strings as they are, JSON and scalars through
 * the YAML parser (so "16MB" is a string, "1000" an integer). */
static int vm_conf_default_value(const vm_conf_entry *e, json_t **out, vm_err *err)
{
    *out = NULL;
    switch (e->type) {
    case VM_CT_STRING:
    case VM_CT_ENUM:
    case VM_CT_STRING_LIST:
        if (!(*out = json_string(e->def)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        return 0;
    default:
        return vm_conf_parse_string(e->def, strlen(e->def), "default", out, err);
    }
}

static int vm_conf_apply_entry(const vm_conf_entry *e, const json_t *v, const char *path,
                               void *out, const vm_conf_where *w, vm_err *err)
{
    char full[VM_CONF_PATH_MAX], why[VM_CONF_WHY_MAX];
    json_t *def = NULL;
    bool warn = false;
    int rc;

    vm_conf_path(full, sizeof full, path, e->name);
    if (!v) {
        if (e->flags & VM_CF_REQUIRED)
            return vm_conf_fail(w, err, VM_ERR_INVALID, full, "missing required key");
        if (!e->def)
            return 0;
        if (e->type == VM_CT_SECRET)
            return vm_conf_fail(w, err, VM_ERR_INTERNAL, full, "a secret cannot have a default");
        vm_err derr;
        vm_err_clear(&derr);
        if ((rc = vm_conf_default_value(e, &def, &derr)) != 0)
            return vm_conf_fail(w, err, rc == VM_ERR_NOMEM ? VM_ERR_NOMEM : VM_ERR_INTERNAL, full,
                                "%s%s", rc == VM_ERR_NOMEM ? "" : "invalid default: ", derr.msg);
        v = def;
    }
    why[0] = '\0';
    rc = vm_conf_convert(e, v, (char *)out + e->offset, &warn, why, sizeof why);
    if (rc == VM_ERR_NOMEM)
        rc = vm_conf_fail(w, err, VM_ERR_NOMEM, full, "out of memory");
    else if (rc != 0 && def)
        rc = vm_conf_fail(w, err, VM_ERR_INTERNAL, full, "invalid default: %s", why);
    else if (rc != 0)
        rc = vm_conf_fail(w, err, (vm_code)rc, full, "%s", why);
    else if (warn) {
        char where[VM_CONF_PATH_MAX + 64];
        vm_conf_where_prefix(w, full, where, sizeof where);
        vm_warn("%s%s: literal secret in job file; prefer {env: ...} or {file: ...}", where, full);
    }
    json_decref(def);
    return rc;
}

/* Edit distance, for "did you mean". Names are short; capped at 63 chars. */
static size_t vm_conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

static int vm_conf_unknown_key(const vm_conf_entry *table, const char *key, const char *path,
                               const vm_conf_where *w, vm_err *err)
{
    char full[VM_CONF_PATH_MAX], known[VM_ERR_MSG_MAX] = "", hint[96] = "";
    size_t used = 0, best = SIZE_MAX;
    const char *guess = NULL;
    vm_conf_path(full, sizeof full, path, key);
    for (const vm_conf_entry *e = table; e->name; e++) {
        int n = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", e->name);
        if (n > 0)
            used = used + (size_t)n < sizeof known ? used + (size_t)n : sizeof known - 1;
        size_t d = vm_conf_distance(key, e->name);
        if (d < best) {
            best = d;
            guess = e->name;
        }
    }
    if (guess && best <= 2 && best < strlen(key))
        snprintf(hint, sizeof hint, "; did you mean \"%s\"?", guess);
    return vm_conf_fail(w, err, VM_ERR_INVALID, full, "unknown key (known: %s)%s", known, hint);
}

static const vm_conf_entry *vm_conf_find(const vm_conf_entry *table, const char *name)
{
    for (const vm_conf_entry *e = table; e->name; e++)
        if (!strcmp(e->name, name))
            return e;
    return NULL;
}

static int vm_conf_apply_impl(const vm_conf_entry *table, const json_t *obj, const char *path,
                              void *out, const vm_conf_where *w, bool allow_unknown, vm_err *err)
{
    int rc = 0;
    for (const vm_conf_entry *e = table; e->name; e++)
        memset((char *)out + e->offset, 0, vm_conf_field_size(e->type));
    if (json_is_null(obj))
        obj = NULL;
    if (obj && !json_is_object(obj))
        return vm_conf_fail(w, err, VM_ERR_INVALID, path, "expected a mapping, got %s",
                            vm_conf_kind(obj));
    if (obj && !allow_unknown) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v) {
            if (!vm_conf_find(table, k))
                return vm_conf_unknown_key(table, k, path, w, err);
        }
    }
    for (const vm_conf_entry *e = table; e->name; e++) {
        json_t *v = obj ? json_object_get(obj, e->name) : NULL;
        if (json_is_null(v))
            v = NULL;
        if ((rc = vm_conf_apply_entry(e, v, path, out, w, err)) != 0) {
            vm_conf_release(table, out);
            return rc;
        }
    }
    return 0;
}

int vm_conf_apply_at(const vm_conf_entry *table, const json_t *obj, const char *path, void *out,
                     const vm_conf_where *where, vm_err *err)
{
    if (!table || !out)
        return vm_err_setc(err, VM_ERR_INTERNAL, "vm_conf_apply: no table or output");
    return vm_conf_apply_impl(table, obj, path, out, where, false, err);
}

int vm_conf_apply(const vm_conf_entry *table, const json_t *obj, const char *path, void *out,
                  vm_err *err)
{
    return vm_conf_apply_at(table, obj, path, out, NULL, err);
}

void vm_strlist_release(vm_strlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; l->v && i < l->n; i++)
        vm_free(l->v[i]);
    vm_free(l->v);
    l->v = NULL;
    l->n = 0;
}

void vm_conf_release(const vm_conf_entry *table, void *out)
{
    if (!table || !out)
        return;
    for (const vm_conf_entry *e = table; e->name; e++) {
        void *field = (char *)out + e->offset;
        switch (e->type) {
        case VM_CT_STRING:
            vm_free(*(char **)field);
            *(char **)field = NULL;
            break;
        case VM_CT_SECRET:
            vm_wipe_free(*(char **)field);
            *(char **)field = NULL;
            break;
        case VM_CT_STRING_LIST:
            vm_strlist_release((vm_strlist *)field);
            break;
        case VM_CT_JSON:
            json_decref(*(json_t **)field);
            *(json_t **)field = NULL;
            break;
        default:
            break;
        }
    }
}

void vm_conf_print_help(const vm_conf_entry *table, const char *path, FILE *f)
{
    char full[VM_CONF_PATH_MAX], extra[192];
    for (const vm_conf_entry *e = table; e && e->name; e++) {
        vm_conf_path(full, sizeof full, path, e->name);
        extra[0] = '\0';
        if (e->type == VM_CT_ENUM && e->enum_values) {
            snprintf(extra, sizeof extra, "  one of %s", e->enum_values);
        } else if (vm_conf_has_range(e) && e->type != VM_CT_SECRET) {
            const char *unit = e->type == VM_CT_SIZE       ? " bytes"
                               : e->type == VM_CT_DURATION ? "ms"
                               : e->type == VM_CT_STRING   ? " characters"
                               : e->type == VM_CT_STRING_LIST ? " items"
                                                              : "";
            char r[160];
            vm_conf_range_text(e, unit, r, sizeof r);
            snprintf(extra, sizeof extra, "  %s", r);
        }
        /* a secret's default is never shown (tables may not have one anyway) */
        const char *def = e->type == VM_CT_SECRET ? NULL : e->def;
        char line[VM_CONF_PATH_MAX + 512];
        snprintf(line, sizeof line, "  %-32s %-9s%s%s%s%s", full, vm_conf_type_name(e->type),
                 (e->flags & VM_CF_REQUIRED) ? "  required" : def ? "  default " : "",
                 def && !(e->flags & VM_CF_REQUIRED) ? (*def ? def : "\"\"") : "", extra,
                 e->type == VM_CT_SECRET ? "  (literal, {env: NAME} or {file: PATH})" : "");
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        fprintf(f, "%s\n", line);
        if (e->help)
            fprintf(f, "      %s\n", e->help);
    }
}

/* ---- the job file ------------------------------------------------------------ */

typedef struct vm_job_top {
    int64_t version;
    json_t *job, *source, *target, *queue, *state, *migration, *mapping, *log, *metrics, *http;
} vm_job_top;

/* The tables are read-only data shared by every caller; const, no state. */
#define VM_TOP(f) offsetof(vm_job_top, f)
static const vm_conf_entry vm_job_top_table_priv[] = {
    {"version", VM_CT_INT, "1", VM_TOP(version), "Job file format version; must be 1.", NULL, 0, 0, 0},
    {"job", VM_CT_JSON, NULL, VM_TOP(job), "Job identity: id, name.", NULL, 0, 0, 0},
    {"source", VM_CT_JSON, NULL, VM_TOP(source), "Source connector block: type plus the connector's own keys.",
     NULL, VM_CF_REQUIRED, 0, 0},
    {"target", VM_CT_JSON, NULL, VM_TOP(target), "Target block: type (default milvus) plus the sink's own keys.",
     NULL, 0, 0, 0},
    {"queue", VM_CT_JSON, NULL, VM_TOP(queue), "Task queue.", NULL, 0, 0, 0},
    {"state", VM_CT_JSON, NULL, VM_TOP(state), "Job and task state store.", NULL, 0, 0, 0},
    {"migration", VM_CT_JSON, NULL, VM_TOP(migration), "Task split, batching, workers and retries.", NULL, 0, 0, 0},
    {"mapping", VM_CT_JSON, NULL, VM_TOP(mapping), "Schema mapping overrides (checked by the mapping module).",
     NULL, 0, 0, 0},
    {"log", VM_CT_JSON, NULL, VM_TOP(log), "Logging.", NULL, 0, 0, 0},
    {"metrics", VM_CT_JSON, NULL, VM_TOP(metrics), "Prometheus metrics endpoint.", NULL, 0, 0, 0},
    {"http", VM_CT_JSON, NULL, VM_TOP(http), "Coordinator HTTP API and Jobs page.", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};
/* Only for help output: the sections have their own lines. */
static const vm_conf_entry vm_job_version_table[] = {
    {"version", VM_CT_INT, "1", VM_TOP(version), "Job file format version; must be 1.", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_ID(f) offsetof(vm_job_ident_conf, f)
const vm_conf_entry vm_job_ident_table[] = {
    {"id", VM_CT_STRING, NULL, VM_ID(id),
     "Job id ([A-Za-z0-9._-], at most 128): names its Redis keys and Kafka messages. "
     "Default: <source type>-<source object>-to-<target type>-<target object>.",
     NULL, 0, 1, 128},
    {"name", VM_CT_STRING, NULL, VM_ID(name), "Display name. Default: the id.", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_EP(f) offsetof(vm_job_endpoint_conf, f)
static const vm_conf_entry vm_job_source_table[] = {
    {"type", VM_CT_STRING, NULL, VM_EP(type),
     "Source connector: pgvector, qdrant, pinecone, elasticsearch, opensearch, tencent, milvus.",
     NULL, VM_CF_REQUIRED, 1, 64},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};
static const vm_conf_entry vm_job_target_table[] = {
    {"type", VM_CT_STRING, "milvus", VM_EP(type), "Target sink.", NULL, 0, 1, 64},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_Q(f) offsetof(vm_job_queue_conf, f)
const vm_conf_entry vm_job_queue_table[] = {
    {"type", VM_CT_ENUM, "embedded", VM_Q(type),
     "embedded: in-process queue (vecmig migrate); kafka: tasks on Kafka for separate workers.",
     "embedded|kafka", 0, 0, 0},
    {"brokers", VM_CT_STRING_LIST, NULL, VM_Q(brokers),
     "Kafka bootstrap servers, a list or \"host:port,host:port\". Required for kafka.", NULL, 0, 0, 0},
    {"topic", VM_CT_STRING, "vecmig.tasks", VM_Q(topic), "Task topic.", NULL, 0, 1, 249},
    {"dead_letter_topic", VM_CT_STRING, "vecmig.dead", VM_Q(dead_letter_topic),
     "Topic for tasks that failed max_attempts times.", NULL, 0, 1, 249},
    {"group", VM_CT_STRING, "vecmig-workers", VM_Q(group), "Worker consumer group.", NULL, 0, 1, 255},
    {"partitions", VM_CT_INT, "0", VM_Q(partitions),
     "Partitions of the job's task topic when vecmig creates it (an existing topic is used as it "
     "is); 0 = min(tasks, 32). A partition feeds one worker: set it to the most workers you will "
     "run.", NULL, 0, 0, 10000},
    {"properties", VM_CT_JSON, NULL, VM_Q(properties),
     "librdkafka properties passed through (values may be {env: ...} / {file: ...}).", NULL, 0, 0, 0},
    {"insecure_tls", VM_CT_BOOL, "false", VM_Q(insecure_tls),
     "true: do not verify the brokers' TLS certificates (warns).", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_S(f) offsetof(vm_job_state_conf, f)
const vm_conf_entry vm_job_state_table[] = {
    {"type", VM_CT_ENUM, "embedded", VM_S(type),
     "embedded: local file (one process); redis: shared by coordinator and workers.",
     "embedded|redis", 0, 0, 0},
    {"url", VM_CT_SECRET, NULL, VM_S(url),
     "Redis URL, redis://[user:password@]host:port[/db]. Required for redis.", NULL, VM_CF_URL, 0, 0},
    {"key_prefix", VM_CT_STRING, "vecmig:", VM_S(key_prefix), "Prefix of every Redis key.", NULL, 0, 0, 0},
    {"path", VM_CT_STRING, ".vecmig/state.db", VM_S(path), "Embedded state file.", NULL, 0, 1, 4096},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_M(f) offsetof(vm_job_migration_conf, f)
const vm_conf_entry vm_job_migration_table[] = {
    {"task_rows", VM_CT_INT, "100000", VM_M(task_rows), "Rows per range task (planner target).", NULL, 0,
     1, INT64_MAX},
    {"batch_rows", VM_CT_INT, "1000", VM_M(batch_rows), "Rows per insert request.", NULL, 0, 1, 100000},
    {"batch_bytes", VM_CT_SIZE, "16MB", VM_M(batch_bytes),
     "Maximum JSON bytes per insert request (Milvus takes at most 64 MB).", NULL, 0, 1024,
     64ll * 1024 * 1024},
    {"workers", VM_CT_INT, "0", VM_M(workers), "Worker threads per process; 0 = number of cores.", NULL, 0,
     0, 1024},
    {"max_attempts", VM_CT_INT, "5", VM_M(max_attempts),
     "Attempts per task before it goes to the dead-letter topic.", NULL, 0, 1, 1000},
    {"lease", VM_CT_DURATION, "60s", VM_M(lease_ms),
     "How long a worker owns a task without a heartbeat.", NULL, 0, 1000, 24ll * 3600 * 1000},
    {"heartbeat", VM_CT_DURATION, "10s", VM_M(heartbeat_ms),
     "Heartbeat interval; must be shorter than lease.", NULL, 0, 100, 24ll * 3600 * 1000},
    {"on_existing", VM_CT_ENUM, "fail", VM_M(on_existing),
     "When the target collection exists: fail, or append to it.", "fail|append", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_L(f) offsetof(vm_job_log_conf, f)
const vm_conf_entry vm_job_log_table[] = {
    {"level", VM_CT_ENUM, "info", VM_L(level), "Log level.", "error|warn|info|debug", 0, 0, 0},
    {"format", VM_CT_ENUM, "auto", VM_L(format),
     "auto: text on a terminal, JSON lines otherwise.", "auto|text|json", 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_MX(f) offsetof(vm_job_metrics_conf, f)
const vm_conf_entry vm_job_metrics_table[] = {
    {"listen", VM_CT_STRING, NULL, VM_MX(listen),
     "Serve Prometheus metrics on GET /metrics at host:port (\"127.0.0.1:9464\", \":9464\" for "
     "all interfaces, port 0: any free one). Default: off; --metrics ADDR overrides.",
     NULL, 0, 1, 300},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

#define VM_HX(f) offsetof(vm_job_http_conf, f)
const vm_conf_entry vm_job_http_table[] = {
    {"listen", VM_CT_STRING, NULL, VM_HX(listen),
     "Serve the HTTP API (/api/jobs...) and the Jobs page at host:port from the coordinator. "
     "Without a token only a loopback address is accepted. Default: off; --http ADDR overrides.",
     NULL, 0, 1, 300},
    {"token", VM_CT_SECRET, NULL, VM_HX(token),
     "Bearer token every /api request must carry (e.g. {env: VECMIG_API_TOKEN}).", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* source:/target: - check only type, keep the rest for the connector. */
static int vm_job_endpoint(const vm_conf_entry *table, const json_t *obj, const char *path,
                           vm_job_endpoint_conf *out, const vm_conf_where *w, vm_err *err)
{
    int rc = vm_conf_apply_impl(table, obj, path, out, w, true, err);
    if (rc)
        return rc;
    out->conf = json_is_object(obj) ? json_copy((json_t *)obj) : json_object();
    if (!out->conf || (json_object_get(out->conf, "type") && json_object_del(out->conf, "type") != 0)) {
        vm_conf_release(table, out);
        json_decref(out->conf);
        out->conf = NULL;
        return vm_conf_fail(w, err, VM_ERR_NOMEM, path, "out of memory");
    }
    return 0;
}

/* Keys of queue.properties whose literal values are treated as secrets. */
static bool vm_job_secret_property(const char *key)
{
    static const char *const words[] = {"password", "secret", "token", "key.pem",
                                        "sasl.oauthbearer.config"};
    char low[VM_CONF_PATH_MAX];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[i] = '\0';
    for (i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(low, words[i]))
            return true;
    return false;
}

/* queue.properties: every value becomes a string (secrets resolved). */
static int vm_job_properties(json_t *raw, const vm_conf_where *w, json_t **out, vm_err *err)
{
    char path[VM_CONF_PATH_MAX], why[VM_CONF_WHY_MAX], num[40];
    json_t *res = json_object();
    const char *k;
    json_t *v;
    int rc = 0;

    *out = NULL;
    if (!res)
        return vm_conf_fail(w, err, VM_ERR_NOMEM, "queue.properties", "out of memory");
    if (raw && !json_is_object(raw)) {
        rc = vm_conf_fail(w, err, VM_ERR_INVALID, "queue.properties", "expected a mapping, got %s",
                          vm_conf_kind(raw));
        goto cleanup;
    }
    json_object_foreach(raw, k, v) {
        char *s = NULL;
        const char *text = NULL;
        bool warn = false;
        vm_conf_path(path, sizeof path, "queue.properties", k);
        why[0] = '\0';
        if (json_is_object(v) || vm_job_secret_property(k)) {
            rc = vm_conf_secret(v, false, &s, &warn, why, sizeof why);
            text = s;
        } else if (json_is_string(v)) {
            text = json_string_value(v);
            if (strlen(text) != json_string_length(v)) {
                snprintf(why, sizeof why, "contains a NUL character");
                rc = VM_ERR_INVALID;
            }
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            text = num;
        } else if (json_is_real(v)) {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(num, sizeof num, "%.*g", prec, json_real_value(v));
                if (strtod(num, NULL) == json_real_value(v))
                    break;
            }
            text = num;
        } else if (json_is_boolean(v)) {
            text = json_is_true(v) ? "true" : "false";
        } else {
            snprintf(why, sizeof why,
                     "expected a string, number, boolean, {env: NAME} or {file: PATH}, got %s",
                     vm_conf_kind(v));
            rc = VM_ERR_INVALID;
        }
        /* nocheck: a secret read from a file need not be UTF-8 */
        if (rc == 0 && json_object_set_new(res, k, json_stringn_nocheck(text, strlen(text))) != 0)
            rc = VM_ERR_NOMEM;
        vm_wipe_free(s);
        if (rc == VM_ERR_NOMEM) {
            rc = vm_conf_fail(w, err, VM_ERR_NOMEM, path, "out of memory");
            goto cleanup;
        }
        if (rc) {
            rc = vm_conf_fail(w, err, (vm_code)rc, path, "%s", why);
            goto cleanup;
        }
        if (warn) {
            char where[VM_CONF_PATH_MAX + 64];
            vm_conf_where_prefix(w, path, where, sizeof where);
            vm_warn("%s%s: literal secret in job file; prefer {env: ...} or {file: ...}", where, path);
        }
    }
    *out = res;
    res = NULL;
cleanup:
    json_decref(res);
    return rc;
}

static bool vm_job_id_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* Append "-<object>" for the first of the usual naming keys in conf. */
static void vm_job_id_part(char *buf, size_t cap, const char *type, const json_t *conf)
{
    static const char *const keys[] = {"collection", "table", "index", "index_name", "name"};
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", type);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(conf, keys[i]);
        if (json_is_string(v) && json_string_length(v) > 0) {
            n = strlen(buf);
            snprintf(buf + n, cap - n, "-%s", json_string_value(v));
            break;
        }
    }
}

static int vm_job_ident(vm_job_conf *c, const json_t *obj, const vm_conf_where *w, vm_err *err)
{
    int rc = vm_conf_apply_impl(vm_job_ident_table, obj, "job", &c->job, w, false, err);
    if (rc)
        return rc;
    if (c->job.id) {
        for (const char *p = c->job.id; *p; p++)
            if (!vm_job_id_char(*p))
                return vm_conf_fail(w, err, VM_ERR_INVALID, "job.id",
                                    "only letters, digits, '.', '_' and '-' are allowed "
                                    "(the id names Redis keys and Kafka messages)");
    } else {
        char id[160] = "";
        vm_job_id_part(id, sizeof id, c->source.type, c->source.conf);
        size_t n = strlen(id);
        snprintf(id + n, sizeof id - n, "-to-");
        vm_job_id_part(id, sizeof id, c->target.type, c->target.conf);
        id[128] = '\0';
        for (char *p = id; *p; p++)
            if (!vm_job_id_char(*p))
                *p = '_';
        if (!(c->job.id = vm_strdup(id)))
            return vm_conf_fail(w, err, VM_ERR_NOMEM, "job.id", "out of memory");
    }
    if (!c->job.name && !(c->job.name = vm_strdup(c->job.id)))
        return vm_conf_fail(w, err, VM_ERR_NOMEM, "job.name", "out of memory");
    return 0;
}

static int vm_job_rules(const vm_job_conf *c, const vm_conf_where *w, vm_err *err)
{
    if (c->version != 1)
        return vm_conf_fail(w, err, VM_ERR_INVALID, "version",
                            "unsupported job file version %" PRId64 " (this vecmig reads version 1)",
                            c->version);
    if (c->metrics.listen) {
        char host[256];
        int port;
        vm_err e;
        if (vm_httpd_parse_listen(c->metrics.listen, host, sizeof host, &port, &e) != VM_OK)
            return vm_conf_fail(w, err, VM_ERR_INVALID, "metrics.listen", "%s", e.msg);
    }
    if (c->http.listen) {
        char host[256];
        int port;
        vm_err e;
        if (vm_httpd_parse_listen(c->http.listen, host, sizeof host, &port, &e) != VM_OK)
            return vm_conf_fail(w, err, VM_ERR_INVALID, "http.listen", "%s", e.msg);
    }
    if (c->migration.heartbeat_ms >= c->migration.lease_ms)
        return vm_conf_fail(w, err, VM_ERR_INVALID, "migration.heartbeat",
                            "%" PRId64 "ms must be shorter than migration.lease (%" PRId64 "ms)",
                            c->migration.heartbeat_ms, c->migration.lease_ms);
    if (c->queue.type == VM_QUEUE_KAFKA && c->queue.brokers.n == 0)
        return vm_conf_fail(w, err, VM_ERR_INVALID, "queue.brokers",
                            "missing required key (queue.type is kafka)");
    if (c->state.type == VM_STATE_REDIS && !c->state.url)
        return vm_conf_fail(w, err, VM_ERR_INVALID, "state.url",
                            "missing required key (state.type is redis)");
    if (c->queue.type == VM_QUEUE_KAFKA && c->state.type != VM_STATE_REDIS)
        return vm_conf_fail(w, err, VM_ERR_INVALID, "state.type",
                            "queue.type is kafka but state.type is embedded: workers in other "
                            "processes cannot see this process's local state file; use "
                            "state.type: redis with a state.url (or queue.type: embedded)");
    return 0;
}

int vm_job_conf_from_json(const json_t *root, const vm_conf_where *where, vm_job_conf *out,
                          vm_err *err)
{
    vm_job_top top;
    json_t *raw_props = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&top, 0, sizeof top);
    if (!root || json_is_null(root))
        return vm_conf_fail(where, err, VM_ERR_INVALID, "", "the job file is empty");
    if ((rc = vm_conf_apply_impl(vm_job_top_table_priv, root, "", &top, where, false, err)) != 0)
        return rc;
    out->version = top.version;
    if ((rc = vm_job_endpoint(vm_job_source_table, top.source, "source", &out->source, where, err)) ||
        (rc = vm_job_endpoint(vm_job_target_table, top.target, "target", &out->target, where, err)) ||
        (rc = vm_job_ident(out, top.job, where, err)) ||
        (rc = vm_conf_apply_impl(vm_job_queue_table, top.queue, "queue", &out->queue, where, false, err)))
        goto cleanup;
    /* resolve properties now: their secrets are registered before any later
     * section can fail */
    raw_props = out->queue.properties;
    out->queue.properties = NULL;
    if ((rc = vm_job_properties(raw_props, where, &out->queue.properties, err)) != 0)
        goto cleanup;
    if ((rc = vm_conf_apply_impl(vm_job_state_table, top.state, "state", &out->state, where, false, err)) ||
        (rc = vm_conf_apply_impl(vm_job_migration_table, top.migration, "migration", &out->migration,
                                 where, false, err)) ||
        (rc = vm_conf_apply_impl(vm_job_log_table, top.log, "log", &out->log, where, false, err)) ||
        (rc = vm_conf_apply_impl(vm_job_metrics_table, top.metrics, "metrics", &out->metrics, where,
                                 false, err)) ||
        (rc = vm_conf_apply_impl(vm_job_http_table, top.http, "http", &out->http, where, false,
                                 err)))
        goto cleanup;
    out->mapping = top.mapping;
    top.mapping = NULL;
    out->mapping_path = "mapping";
    out->mapping_where = where ? *where : (vm_conf_where){NULL, NULL};
    if (out->mapping && !json_is_object(out->mapping) && !json_is_string(out->mapping)) {
        rc = vm_conf_fail(where, err, VM_ERR_INVALID, "mapping",
                          "expected a mapping (the rules) or a string (a mapping file), got %s",
                          vm_conf_kind(out->mapping));
        goto cleanup;
    }
    rc = vm_job_rules(out, where, err);
cleanup:
    json_decref(raw_props);
    vm_conf_release(vm_job_top_table_priv, &top);
    if (rc)
        vm_job_conf_release(out);
    return rc;
}

int vm_job_conf_load(const char *path, vm_job_conf *out, vm_err *err)
{
    json_t *root = NULL, *locs = NULL;
    char *origin = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = vm_conf_parse_file_ex(path, &root, &locs, err)) != 0)
        return rc;
    if (!(origin = vm_strdup(path))) {
        rc = vm_err_set(err, VM_ERR_NOMEM, false, "%s: out of memory", path);
        goto cleanup;
    }
    vm_conf_where w = {origin, locs};
    if ((rc = vm_job_conf_from_json(root, &w, out, err)) != 0)
        goto cleanup;
    out->origin = origin;
    out->locs = locs;
    out->where = (vm_conf_where){out->origin, out->locs};
    out->mapping_where = out->where;
    origin = NULL;
    locs = NULL;
    if (json_is_string(out->mapping)) {
        /* a mapping file, relative to the job file's directory */
        const char *rel = json_string_value(out->mapping);
        const char *slash = strrchr(path, '/');
        size_t dl = rel[0] != '/' && slash ? (size_t)(slash - path) + 1 : 0;
        char *full = vm_malloc(dl + strlen(rel) + 1);
        if (!full) {
            rc = vm_err_set(err, VM_ERR_NOMEM, false, "%s: out of memory", path);
        } else {
            memcpy(full, path, dl);
            strcpy(full + dl, rel);
            rc = vm_job_conf_mapping_file(out, full, err);
            vm_free(full);
        }
        if (rc) {
            vm_err_prefix(err, "%s: mapping: ", out->origin);
            vm_job_conf_release(out);
        }
    }
cleanup:
    json_decref(root);
    json_decref(locs);
    vm_free(origin);
    return rc;
}

void vm_job_conf_release(vm_job_conf *c)
{
    if (!c)
        return;
    vm_conf_release(vm_job_ident_table, &c->job);
    vm_conf_release(vm_job_source_table, &c->source);
    json_decref(c->source.conf);
    vm_conf_release(vm_job_target_table, &c->target);
    json_decref(c->target.conf);
    vm_conf_release(vm_job_queue_table, &c->queue);
    vm_conf_release(vm_job_state_table, &c->state);
    vm_conf_release(vm_job_migration_table, &c->migration);
    vm_conf_release(vm_job_log_table, &c->log);
    vm_conf_release(vm_job_metrics_table, &c->metrics);
    vm_conf_release(vm_job_http_table, &c->http);
    json_decref(c->mapping);
    json_decref(c->mapping_locs);
    vm_free(c->mapping_origin);
    json_decref(c->locs);
    vm_free(c->origin);
    memset(c, 0, sizeof *c);
}

int vm_job_conf_mapping_file(vm_job_conf *c, const char *path, vm_err *err)
{
    json_t *root = NULL, *locs = NULL;
    char *origin = vm_strdup(path);
    if (!origin)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    int rc = vm_conf_parse_file_ex(path, &root, &locs, err);
    if (rc) {
        vm_free(origin);
        return rc;
    }
    json_decref(c->mapping);
    json_decref(c->mapping_locs);
    vm_free(c->mapping_origin);
    c->mapping = root;
    c->mapping_locs = locs;
    c->mapping_origin = origin;
    c->mapping_path = "";
    c->mapping_where = (vm_conf_where){c->mapping_origin, c->mapping_locs};
    return 0;
}

void vm_job_conf_print_help(FILE *f)
{
    vm_conf_print_help(vm_job_version_table, NULL, f);
    vm_conf_print_help(vm_job_ident_table, "job", f);
    vm_conf_print_help(vm_job_source_table, "source", f);
    fprintf(f, "      (every other source.* key belongs to the source connector)\n");
    vm_conf_print_help(vm_job_target_table, "target", f);
    fprintf(f, "      (every other target.* key belongs to the sink)\n");
    vm_conf_print_help(vm_job_queue_table, "queue", f);
    vm_conf_print_help(vm_job_state_table, "state", f);
    vm_conf_print_help(vm_job_migration_table, "migration", f);
    fprintf(f, "  %-32s %-9s  optional\n      %s\n", "mapping", "json",
            "Schema mapping overrides (checked by the mapping module).");
    vm_conf_print_help(vm_job_log_table, "log", f);
    vm_conf_print_help(vm_job_metrics_table, "metrics", f);
    vm_conf_print_help(vm_job_http_table, "http", f);
}

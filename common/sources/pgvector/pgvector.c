/*
 * pgvector.c - the `pgvector` source: PostgreSQL tables with pgvector
 * columns (vector, halfvec, sparsevec) and bit(n).
 *
 * This file holds the ops table, the config, the connection and the small
 * pure helpers (identifier quoting, table names, ctid cursors); the schema
 * is in pg_schema.c, splitting in pg_plan.c and reading in pg_read.c.
 *
 * Job block:
 *   source:
 *     type: pgvector
 *     dsn: {env: PG_DSN}       # required secret: libpq conninfo or URI
 *     password: {env: PG_PW}   # optional secret; overrides the dsn's password
 *     table: public.items      # required: name or schema.name (PostgreSQL
 *                              # identifier rules: unquoted folds to lower case)
 *     collection: items        # default: the table name without schema
 *     halfvec_as: float16      # float16 (Float16Vector) | float (FloatVector)
 *     sample_rows: 1000        # rows sampled to size text, arrays, dims
 *     split: auto              # auto | pk | ctid
 *     connect_timeout: 10s
 *     insecure_tls: false      # remote host, no sslmode in the dsn: verify-full
 *                              # (true: require, unverified, warns)
 *
 * One connection per instance, opened lazily and kept across tasks; it is
 * read-only (default_transaction_read_only) and prints dates as ISO 8601
 * in UTC. The password in the dsn is registered as a secret by
 * vm_pg_connect before libpq can echo it.
 */
#include "pgvector.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

static const vm_conf_entry vm_pgv_table[] = {
    {"dsn", VM_CT_SECRET, NULL, offsetof(vm_pgv, dsn),
     "libpq connection string or URI (its password is a secret)", NULL,
     VM_CF_REQUIRED | VM_CF_URL, 0, 0},
    {"password", VM_CT_SECRET, NULL, offsetof(vm_pgv, password),
     "password; overrides one in the dsn (lets the dsn stay a plain literal)", NULL, 0, 0, 0},
    {"table", VM_CT_STRING, NULL, offsetof(vm_pgv, table), "table: name or schema.name", NULL,
     VM_CF_REQUIRED, 1, 1024},
    {"collection", VM_CT_STRING, NULL, offsetof(vm_pgv, collection),
     "target collection name (default: the table name)", NULL, 0, 1, VM_MAX_NAME_LEN},
    {"halfvec_as", VM_CT_ENUM, "float16", offsetof(vm_pgv, halfvec_as),
     "halfvec columns become Float16Vector (float16) or FloatVector (float, exact)",
     "float16|float", 0, 0, 0},
    {"sample_rows", VM_CT_INT, "1000", offsetof(vm_pgv, sample_rows),
     "rows sampled to size text columns, arrays and undeclared vector dimensions", NULL, 0, 0,
     1000000},
    {"split", VM_CT_ENUM, "auto", offsetof(vm_pgv, split),
     "auto (integer primary key if any, else ctid) | pk | ctid", "auto|pk|ctid", 0, 0, 0},
    {"connect_timeout", VM_CT_DURATION, "10s", offsetof(vm_pgv, connect_timeout_ms),
     "connection timeout", NULL, 0, 1000, 3600000},
    {"insecure_tls", VM_CT_BOOL, "false", offsetof(vm_pgv, insecure_tls),
     "remote server without an sslmode in the dsn: sslmode=require (no certificate check, "
     "warns) instead of verify-full", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ helpers */

char *vm_pgv_quote_ident(const char *ident)
{
    size_t n = 2;
    for (const char *p = ident; *p; p++)
        n += *p == '"' ? 2 : 1;
    char *q = vm_malloc(n + 1), *o = q;
    if (!q)
        return NULL;
    *o++ = '"';
    for (const char *p = ident; *p; p++) {
        if (*p == '"')
            *o++ = '"';
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return q;
}

/* One identifier of a chain starting at *p; *p moves past it. */
static int vm_pgv_ident(const char **p, char **out, const char *whole, vm_err *err)
{
    const char *s = *p;
    size_t cap = strlen(s) + 1, n = 0;
    char *r = vm_malloc(cap);
    if (!r)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    if (*s == '"') {
        s++;
        for (;;) {
            if (!*s) {
                vm_free(r);
                return vm_err_set(err, VM_ERR_INVALID, false,
                                  "source.table: unterminated quote in '%s'", whole);
            }
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                s++;
            }
            r[n++] = *s++;
        }
        s++;
    } else {
        while (*s && *s != '.') {
            r[n++] = (char)((*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : *s);
            s++;
        }
    }
    r[n] = '\0';
    if (n == 0 || (*s && *s != '.')) {
        vm_free(r);
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "source.table: '%s' is not a table name (name or schema.name)", whole);
    }
    *p = s;
    *out = r;
    return VM_OK;
}

int vm_pgv_parse_table(const char *table, char **schema, char **name, vm_err *err)
{
    char *a = NULL, *b = NULL;
    const char *p = table ? table : "";
    int rc;
    *schema = *name = NULL;
    if ((rc = vm_pgv_ident(&p, &a, table ? table : "", err)) != VM_OK)
        return rc;
    if (*p == '.') {
        p++;
        if ((rc = vm_pgv_ident(&p, &b, table, err)) != VM_OK) {
            vm_free(a);
            return rc;
        }
        if (*p) {
            vm_free(a);
            vm_free(b);
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "source.table: '%s' has more than two parts (schema.name)",
                              table);
        }
        *schema = a;
        *name = b;
        return VM_OK;
    }
    *name = a;
    return VM_OK;
}

int vm_pgv_parse_tid(const char *text, int64_t *block, int64_t *offset)
{
    unsigned long long b, o;
    int used = 0;
    if (!text || sscanf(text, "(%llu,%llu)%n", &b, &o, &used) != 2 || text[used] != '\0' ||
        text[1] < '0' || text[1] > '9' || b > 0xffffffffULL || o > 0xffffULL)
        return -1;
    *block = (int64_t)b;
    *offset = (int64_t)o;
    return 0;
}

void vm_pgv_format_tid(int64_t block, int64_t offset, char *buf, size_t size)
{
    snprintf(buf, size, "(%" PRId64 ",%" PRId64 ")", block, offset);
}

int64_t vm_pgv_tid_key(int64_t block, int64_t offset) { return block * 65536 + offset; }

/* ------------------------------------------------------- connection */

/* The dsn with `password` appended (a later keyword wins in libpq): as
 * `password='...'` in key=value form, as a percent-encoded query parameter
 * in a URI. Allocated; the caller wipes and frees it. */
static char *vm_pgv_dsn_with_password(const char *dsn, const char *pw)
{
    bool uri = strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0;
    size_t n = strlen(dsn) + 3 * strlen(pw) + 16;
    char *out = vm_malloc(n), *o;
    if (!out)
        return NULL;
    o = out + sprintf(out, "%s%s", dsn, uri ? (strchr(dsn, '?') ? "&password=" : "?password=")
                                            : " password='");
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        if (uri && !(isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')) {
            o += sprintf(o, "%%%02X", *p);
        } else {
            if (!uri && (*p == '\\' || *p == '\''))
                *o++ = '\\';
            *o++ = (char)*p;
        }
    }
    if (!uri)
        *o++ = '\'';
    *o = '\0';
    return out;
}

int vm_pgv_conn(vm_pgv *st, vm_err *err)
{
    int rc;
    if (st->conn && PQstatus(st->conn) == CONNECTION_OK)
        return VM_OK;
    if (st->conn) {
        PQfinish(st->conn);
        st->conn = NULL;
    }
    int tmo = (int)((st->connect_timeout_ms + 999) / 1000);
    char *dsn = st->dsn;
    if (st->password && st->password[0] &&
        !(dsn = vm_pgv_dsn_with_password(st->dsn, st->password)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    rc = vm_pg_connect_tls(dsn, tmo, st->insecure_tls, &st->conn, err);
    if (dsn != st->dsn) {
        memset(dsn, 0, strlen(dsn));
        vm_free(dsn);
    }
    if (rc != VM_OK)
        return vm_err_prefix(err, "pgvector: ");
    /* read-only, dates as ISO 8601 in UTC, floats exact */
    rc = vm_pg_exec(st->conn,
                    "SELECT set_config('datestyle', 'ISO, YMD', false), "
                    "set_config('timezone', 'UTC', false), "
                    "set_config('intervalstyle', 'postgres', false), "
                    "set_config('extra_float_digits', '3', false), "
                    "set_config('default_transaction_read_only', 'on', false)",
                    0, NULL, NULL, NULL, 0, NULL, err);
    if (rc != VM_OK) {
        PQfinish(st->conn);
        st->conn = NULL;
        return vm_err_prefix(err, "pgvector: session setup: ");
    }
    return VM_OK;
}

/* ---------------------------------------------------------------- ops */

/* count() tries this often on retriable errors (connection lost ...). */
#define VM_PGV_COUNT_ATTEMPTS 6

static int vm_pgv_init(void *state, const json_t *conf, vm_err *err)
{
    vm_pgv *st = state;
    int rc = vm_conf_apply(vm_pgv_table, conf, "source", st, err);
    if (rc != VM_OK)
        return rc;
    char *schema = NULL, *name = NULL;
    if ((rc = vm_pgv_parse_table(st->table, &schema, &name, err)) != VM_OK)
        goto fail;
    if (!st->collection) {
        st->collection = name;
        name = NULL;
    }
    vm_free(schema);
    vm_free(name);
    st->pk = -1;
    vm_task_init(&st->task);
    return VM_OK;
fail:
    vm_conf_release(vm_pgv_table, st);
    return rc;
}

static void vm_pgv_fini(void *state)
{
    vm_pgv *st = state;
    vm_pgv_close(st);
    vm_pgv_free_read(st);
    vm_pgv_free_catalog(st);
    if (st->conn)
        PQfinish(st->conn);
    st->conn = NULL;
    vm_conf_release(vm_pgv_table, st);
}

static int vm_pgv_count(void *state, int64_t *rows, vm_err *err)
{
    vm_pgv *st = state;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)st;
    /* the coordinator counts at the start and at the end: a connection lost
     * then is retried on a new one, as a worker's reads are */
    for (int attempt = 1;; attempt++) {
        int rc = vm_pgv_load_catalog(st, err);
        if (rc == VM_OK && (rc = vm_pgv_conn(st, err)) == VM_OK) {
            size_t n = strlen(st->qtable) + 32;
            char *sql = vm_malloc(n);
            if (!sql)
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            snprintf(sql, n, "SELECT count(*) FROM %s", st->qtable);
            rc = vm_pg_query_int64(st->conn, sql, rows, err);
            vm_free(sql);
            if (rc != VM_OK)
                vm_err_prefix(err, "pgvector: count of '%s': ", st->table);
        }
        if (rc == VM_OK || !err->retriable || attempt >= VM_PGV_COUNT_ATTEMPTS)
            return rc;
        long ms = vm_backoff_ms(attempt, 250, 10000, &seed);
        vm_warn("%s (retry %d of %d in %ld ms)", err->msg, attempt, VM_PGV_COUNT_ATTEMPTS - 1, ms);
        vm_sleep_ms(ms);
    }
}

/* The target name of source field `f` (NULL: not kept unchanged). */
static const char *vm_pgv_tname_of(const vm_field_names *names, const char *f)
{
    return names && names->target_of ? names->target_of(names->ctx, f) : f;
}

/* Rows of `task` after `cursor` in the target: by the pg_ctid field for
 * ctid ranges (tables without a usable key), by the integer key for key
 * ranges (a kept key that the mapping moved beside an autoID key). */
static int vm_pgv_resume_filter(void *state, const vm_task *task, const char *cursor,
                                const vm_field_names *names, char **out, vm_err *err)
{
    vm_pgv *st = state;
    int rc = vm_pgv_load_catalog(st, err);
    *out = NULL;
    if (rc != VM_OK)
        return rc;
    char buf[700];
    if (task->kind == VM_RANGE_INT && st->pk >= 0 && st->pk_is_int) {
        const char *key = vm_pgv_tname_of(names, st->cols[st->pk].name);
        if (!key)
            return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                              "pgvector: the target does not keep key column '%s' (keep it "
                              "with primary_key.keep_original_as) so rows written after a "
                              "checkpoint cannot be found",
                              st->cols[st->pk].name);
        size_t used = 0;
        if (cursor && cursor[0]) {
            char *end;
            errno = 0;
            long long v = strtoll(cursor, &end, 10);
            if (errno || end == cursor || *end)
                return vm_err_set(err, VM_ERR_INVALID, false, "pgvector: bad key cursor '%.40s'",
                                  cursor);
            used = (size_t)snprintf(buf, sizeof buf, "%s > %lld", key, v);
        } else if (task->has_lo) {
            used = (size_t)snprintf(buf, sizeof buf, "%s >= %" PRId64, key, task->lo);
        }
        if (task->has_hi && used < sizeof buf)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s < %" PRId64,
                                     used ? " and " : "", key, task->hi);
        if (!used) /* the whole table: any value */
            snprintf(buf, sizeof buf, "%s >= 0 or %s < 0", key, key);
        if (!(*out = vm_strdup(buf)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        return VM_OK;
    }
    const char *ctid = st->ctid_name ? vm_pgv_tname_of(names, st->ctid_name) : NULL;
    if (!ctid || task->kind != VM_RANGE_CTID)
        return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                          "pgvector: table '%s': rows written after a checkpoint have no field "
                          "in the target to find them by (%s)",
                          st->table,
                          st->ctid_name ? "the mapping dropped pg_ctid"
                                        : "its key is not an integer kept by the mapping");
    int64_t lo = task->has_lo ? vm_pgv_tid_key(task->lo, 0) : 0;
    if (cursor && cursor[0]) {
        int64_t b, o;
        if (vm_pgv_parse_tid(cursor, &b, &o) != 0)
            return vm_err_set(err, VM_ERR_INVALID, false, "pgvector: bad ctid cursor '%.40s'",
                              cursor);
        if (vm_pgv_tid_key(b, o) + 1 > lo)
            lo = vm_pgv_tid_key(b, o) + 1;
    }
    if (task->has_hi)
        snprintf(buf, sizeof buf, "%s >= %" PRId64 " and %s < %" PRId64, ctid, lo, ctid,
                 vm_pgv_tid_key(task->hi, 0));
    else
        snprintf(buf, sizeof buf, "%s >= %" PRId64, ctid, lo);
    if (!(*out = vm_strdup(buf)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    return VM_OK;
}

const vm_source_ops vm_source_pgvector_ops = {
    .name = "pgvector",
    .summary = "PostgreSQL tables with pgvector vector/halfvec/sparsevec or bit(n) columns",
    .caps = VM_CAP_EXACT_COUNT | VM_CAP_RESUME_MID_TASK,
    .state_size = sizeof(vm_pgv),
    .init = vm_pgv_init,
    .fini = vm_pgv_fini,
    .discover = vm_pgv_discover,
    .count = vm_pgv_count,
    .plan = vm_pgv_plan,
    .open = vm_pgv_open,
    .read = vm_pgv_read,
    .cursor = vm_pgv_cursor,
    .close = vm_pgv_close,
    .resume_filter = vm_pgv_resume_filter,
};

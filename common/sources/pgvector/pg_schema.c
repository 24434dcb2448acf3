/*
 * pg_schema.c - the pgvector source's schema: catalog discovery, sampling
 * and the PostgreSQL -> Milvus type mapping.
 *
 * Everything comes from the catalogs (pg_class, pg_namespace, pg_attribute,
 * pg_type, pg_index, pg_depend/pg_extension for pgvector's types, whose
 * OIDs differ per database and are therefore recognised by name and owning
 * extension, never by number). A user type that merely shares a name with
 * a built-in or pgvector type (in another schema) is not mistaken for it.
 *
 * Mapping (the note of each choice is also put in vm_field.description):
 *   int2 / int4 / int8          Int16 / Int32 / Int64
 *   float4 / float8 / bool      Float / Double / Bool
 *   varchar(n), bpchar(n)       VarChar, max_length = min(65535, n x bytes per
 *                               character of the database encoding): Milvus
 *                               counts bytes, PostgreSQL characters
 *   text, varchar, numeric      VarChar, max_length = 2 x the largest sampled
 *     (no declared length)      value in bytes, at least 64, at most 65535; a
 *                               sampled value over 65535 bytes fails discover
 *                               (never a silent truncation); no sampled value
 *                               at all -> 65535
 *   numeric(p,s)                VarChar(p + |s| + 3, at least 9): the exact
 *                               text; Double is lossy and left to a mapping
 *                               override
 *   name                        VarChar(63)
 *   uuid                        VarChar(36)
 *   date, time, timetz,         VarChar(64), interval VarChar(128): ISO 8601
 *   timestamp, timestamptz,     text as PostgreSQL prints it under DateStyle
 *   interval                    ISO and TimeZone UTC (set on the session)
 *   json / jsonb                JSON
 *   vector(n)                   FloatVector(n)
 *   halfvec(n)                  Float16Vector(n), or FloatVector(n) with
 *                               halfvec_as: float (exact conversion)
 *   sparsevec(n)                SparseFloatVector (0-based indices)
 *   bit(n)                      BinaryVector(n), n a multiple of 8 (bytes
 *                               copied as stored, most significant bit first)
 *   vector / halfvec            dimension from the sample (vector_dims); the
 *     without dimension         sampled rows must agree, else discover fails
 *                               naming the dims seen (a sample, not the whole
 *                               column: the reader still checks every value)
 *   int2[] int4[] int8[]        Array of Int16/Int32/Int64/Float/Double/Bool/
 *   float4[] float8[] bool[]    VarChar; max_capacity = 2 x the largest
 *   text[] varchar[] bpchar[]   sampled cardinality, at least 4, at most 4096;
 *                               VarChar elements as for text; a
 *                               multi-dimensional array fails discover
 *   anything else               discover fails, naming the column and type
 *                               (a mapping override to VarChar is read as
 *                               col::text without connector changes)
 * Metric: a vector column's vm_field.metric comes from its pgvector index
 * (hnsw or ivfflat) operator class: *_cosine_ops COSINE, *_l2_ops L2,
 * *_ip_ops IP, bit_hamming_ops HAMMING, bit_jaccard_ops JACCARD; *_l1_ops
 * has no Milvus metric (NULL, and the description says so). With several
 * indexes of different metrics the first by index OID wins (noted); without
 * an index the metric is unknown (NULL). One catalog query for all columns.
 *
 * Vector fields are never nullable (Milvus refuses nulls there): the reader
 * fails on a NULL vector, naming the column and the row's key. Other
 * columns are nullable unless declared NOT NULL.
 *
 * Primary key: a single-column primary key of int2/int4/int8 (promoted to
 * Int64, Milvus's only integer key type), text, varchar or uuid is the
 * primary field. Without one (no key, a composite key, a key of another
 * type) the schema gets an autoID Int64 primary `id` and an Int64 field
 * `pg_ctid` = block * 65536 + offset of the row's ctid (names made unique
 * against the table's columns: `id_1`, `pg_ctid_1`, ...). pg_ctid is the
 * row identity an autoID target otherwise lacks: before a retried or
 * resumed task writes again, the worker deletes the target rows whose
 * pg_ctid lies in the part of the task after its checkpoint
 * (resume_filter), so a batch written before a crash is never duplicated.
 */
#include "pgvector.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_pg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- type mapping */

static bool vm_pgv_is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* A type with no Milvus counterpart: the field carries the value's text
 * form (VarChar sized from the sample) and is marked unsupported, so the
 * mapping refuses it until an entry drops it or chooses its type. */
static int vm_pgv_unsupported(const char *column, const char *display, vm_pgv_map *out,
                              vm_err *err)
{
    (void)column;
    (void)display;
    (void)err;
    memset(out, 0, sizeof *out);
    out->type = VM_T_VARCHAR;
    out->need = VM_PGV_NEED_OCTETS;
    out->unsupported = true;
    out->note = "no Milvus type: its text form, if the mapping keeps it";
    return VM_OK;
}

/* Declared character length of varchar(n)/bpchar(n) (typmod n + 4), or -1. */
static int64_t vm_pgv_char_len(int32_t typmod) { return typmod >= 4 ? (int64_t)typmod - 4 : -1; }

static int64_t vm_pgv_bytes_for_chars(int64_t n, int enc_max)
{
    int64_t b = n * (enc_max > 0 ? enc_max : 4);
    return b > VM_MAX_VARCHAR ? VM_MAX_VARCHAR : (b < 1 ? 1 : b);
}

/* Array element mapping: scalar types Milvus allows in an Array. */
static int vm_pgv_map_element(const char *column, const char *typname, const char *display,
                              int32_t typmod, int enc_max, vm_pgv_map *out, vm_err *err)
{
    out->type = VM_T_ARRAY;
    out->need = VM_PGV_NEED_CARD;
    if (vm_pgv_is(typname, "int2"))
        out->element_type = VM_T_INT16;
    else if (vm_pgv_is(typname, "int4"))
        out->element_type = VM_T_INT32;
    else if (vm_pgv_is(typname, "int8"))
        out->element_type = VM_T_INT64;
    else if (vm_pgv_is(typname, "float4"))
        out->element_type = VM_T_FLOAT;
    else if (vm_pgv_is(typname, "float8"))
        out->element_type = VM_T_DOUBLE;
    else if (vm_pgv_is(typname, "bool"))
        out->element_type = VM_T_BOOL;
    else if (vm_pgv_is(typname, "text") || vm_pgv_is(typname, "varchar") ||
             vm_pgv_is(typname, "bpchar")) {
        out->element_type = VM_T_VARCHAR;
        int64_t n = vm_pgv_is(typname, "text") ? -1 : vm_pgv_char_len(typmod);
        if (n >= 0) {
            out->max_length = vm_pgv_bytes_for_chars(n, enc_max);
            out->note = "array; max_capacity = 2 x largest sampled cardinality (4..4096); "
                        "element max_length = declared characters x bytes per character";
        } else {
            out->need |= VM_PGV_NEED_ELEM;
            out->note = "array; max_capacity = 2 x largest sampled cardinality (4..4096); "
                        "element max_length = 2 x largest sampled element in bytes (64..65535)";
        }
        return VM_OK;
    } else
        return vm_pgv_unsupported(column, display, out, err);
    out->note = "array; max_capacity = 2 x largest sampled cardinality (4..4096)";
    return VM_OK;
}

int vm_pgv_map_type(const char *column, const char *typname, const char *display, bool is_array,
                    int32_t typmod, int enc_max, int halfvec_as, vm_pgv_map *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!display)
        display = typname;
    if (is_array)
        return vm_pgv_map_element(column, typname, display, typmod, enc_max, out, err);

    const char *t = typname;
    if (vm_pgv_is(t, "int2")) {
        out->type = VM_T_INT16;
    } else if (vm_pgv_is(t, "int4")) {
        out->type = VM_T_INT32;
    } else if (vm_pgv_is(t, "int8")) {
        out->type = VM_T_INT64;
    } else if (vm_pgv_is(t, "float4")) {
        out->type = VM_T_FLOAT;
    } else if (vm_pgv_is(t, "float8")) {
        out->type = VM_T_DOUBLE;
    } else if (vm_pgv_is(t, "bool")) {
        out->type = VM_T_BOOL;
    } else if (vm_pgv_is(t, "varchar") || vm_pgv_is(t, "bpchar") || vm_pgv_is(t, "text")) {
        out->type = VM_T_VARCHAR;
        int64_t n = vm_pgv_is(t, "text") ? -1 : vm_pgv_char_len(typmod);
        if (n >= 0) {
            out->max_length = vm_pgv_bytes_for_chars(n, enc_max);
            out->note = "max_length = declared characters x bytes per character of the "
                        "database encoding (Milvus counts bytes), at most 65535";
        } else {
            out->need = VM_PGV_NEED_OCTETS;
            out->note = "no declared length: max_length = 2 x largest sampled value in bytes "
                        "(64..65535)";
        }
    } else if (vm_pgv_is(t, "name")) {
        out->type = VM_T_VARCHAR;
        out->max_length = 63;
        out->note = "name: at most 63 bytes";
    } else if (vm_pgv_is(t, "uuid")) {
        out->type = VM_T_VARCHAR;
        out->max_length = 36;
        out->note = "uuid as its 36-character text";
    } else if (vm_pgv_is(t, "date") || vm_pgv_is(t, "time") || vm_pgv_is(t, "timetz") ||
               vm_pgv_is(t, "timestamp") || vm_pgv_is(t, "timestamptz")) {
        out->type = VM_T_VARCHAR;
        out->max_length = 64;
        out->note = "ISO 8601 text (DateStyle ISO, TimeZone UTC)";
    } else if (vm_pgv_is(t, "interval")) {
        out->type = VM_T_VARCHAR;
        out->max_length = 128;
        out->note = "interval as ISO-style text (DateStyle ISO)";
    } else if (vm_pgv_is(t, "numeric")) {
        out->type = VM_T_VARCHAR;
        if (typmod >= 4) {
            int32_t m = typmod - 4;
            int64_t p = (m >> 16) & 0xffff;
            int64_t s = (((m & 0x7ff) ^ 1024) - 1024); /* scale: 11 signed bits (PG 15+) */
            int64_t len = p + (s < 0 ? -s : s) + 3;
            out->max_length = len < 9 ? 9 : len;
            out->note = "exact decimal text (lossless; Double via a mapping override)";
        } else {
            out->need = VM_PGV_NEED_OCTETS;
            out->note = "exact decimal text (lossless; Double via a mapping override); "
                        "max_length = 2 x largest sampled value (64..65535)";
        }
    } else if (vm_pgv_is(t, "json") || vm_pgv_is(t, "jsonb")) {
        out->type = VM_T_JSON;
    } else if (vm_pgv_is(t, "vector")) {
        out->type = VM_T_FLOAT_VECTOR;
    } else if (vm_pgv_is(t, "halfvec")) {
        out->type = halfvec_as == VM_PGV_HALF_FLOAT ? VM_T_FLOAT_VECTOR : VM_T_FLOAT16_VECTOR;
        out->note = halfvec_as == VM_PGV_HALF_FLOAT
                        ? "halfvec converted exactly to float32 (halfvec_as: float)"
                        : "halfvec bits kept as Float16Vector";
    } else if (vm_pgv_is(t, "sparsevec")) {
        out->type = VM_T_SPARSE_FLOAT_VECTOR;
        out->note = "sparse indices 0-based";
    } else if (vm_pgv_is(t, "bit")) {
        if (typmod <= 0 || typmod % 8 != 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "column '%s' has type '%s': a Milvus BinaryVector needs a bit "
                              "length that is a multiple of 8",
                              column, display);
        out->type = VM_T_BINARY_VECTOR;
        out->dim = typmod;
        out->note = "bit(n) bytes as stored (most significant bit first)";
    } else {
        return vm_pgv_unsupported(column, display, out, err);
    }
    if (out->type == VM_T_FLOAT_VECTOR || out->type == VM_T_FLOAT16_VECTOR) {
        if (typmod > 0) {
            out->dim = typmod;
        } else {
            out->need = VM_PGV_NEED_DIM;
            out->note = "no declared dimension: taken from vector_dims() of the sample";
        }
    }
    return VM_OK;
}

int vm_pgv_varchar_from_sample(const char *column, int64_t max_octets, int64_t *max_length,
                               vm_err *err)
{
    if (max_octets > VM_MAX_VARCHAR)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "column '%s': a sampled value has %" PRId64
                          " bytes, more than Milvus's VarChar limit of %d",
                          column, max_octets, VM_MAX_VARCHAR);
    if (max_octets < 0) {
        *max_length = VM_MAX_VARCHAR;
        return VM_OK;
    }
    int64_t n = max_octets * 2;
    *max_length = n < 64 ? 64 : (n > VM_MAX_VARCHAR ? VM_MAX_VARCHAR : n);
    return VM_OK;
}

int vm_pgv_capacity_from_sample(const char *column, int64_t max_card, int64_t *max_capacity,
                                vm_err *err)
{
    if (max_card > VM_MAX_CAPACITY)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "column '%s': a sampled array has %" PRId64
                          " elements, more than Milvus's Array limit of %d",
                          column, max_card, VM_MAX_CAPACITY);
    int64_t n = max_card < 0 ? 0 : max_card * 2;
    *max_capacity = n < 4 ? 4 : (n > VM_MAX_CAPACITY ? VM_MAX_CAPACITY : n);
    return VM_OK;
}

/* ------------------------------------------------------------ catalog */

static vm_pgv_kind vm_pgv_kind_of(const char *t, bool is_array)
{
    static const struct {
        const char *name;
        vm_pgv_kind kind;
    } kinds[] = {
        {"int2", VM_PGV_K_INT},        {"int4", VM_PGV_K_INT},         {"int8", VM_PGV_K_INT},
        {"float4", VM_PGV_K_FLOAT4},   {"float8", VM_PGV_K_FLOAT8},    {"bool", VM_PGV_K_BOOL},
        {"text", VM_PGV_K_TEXT},       {"varchar", VM_PGV_K_TEXT},     {"bpchar", VM_PGV_K_TEXT},
        {"name", VM_PGV_K_TEXT},       {"json", VM_PGV_K_JSON},        {"jsonb", VM_PGV_K_JSON},
        {"numeric", VM_PGV_K_NUMERIC}, {"uuid", VM_PGV_K_ASTEXT},      {"date", VM_PGV_K_ASTEXT},
        {"time", VM_PGV_K_ASTEXT},     {"timetz", VM_PGV_K_ASTEXT},    {"timestamp", VM_PGV_K_ASTEXT},
        {"timestamptz", VM_PGV_K_ASTEXT}, {"interval", VM_PGV_K_ASTEXT},
        {"vector", VM_PGV_K_VECTOR},   {"halfvec", VM_PGV_K_HALFVEC},
        {"sparsevec", VM_PGV_K_SPARSEVEC}, {"bit", VM_PGV_K_BIT},
    };
    if (is_array)
        return VM_PGV_K_ARRAY;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, t) == 0)
            return kinds[i].kind;
    return VM_PGV_K_UNSUPPORTED;
}

int vm_pgv_find_col(const vm_pgv *st, const char *name)
{
    for (size_t i = 0; i < st->ncols; i++)
        if (strcmp(st->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

void vm_pgv_free_catalog(vm_pgv *st)
{
    for (size_t i = 0; i < st->ncols; i++) {
        vm_free(st->cols[i].name);
        vm_free(st->cols[i].typname);
        vm_free(st->cols[i].display);
    }
    vm_free(st->cols);
    st->cols = NULL;
    st->ncols = 0;
    vm_free(st->nspname);
    vm_free(st->relname);
    vm_free(st->qtable);
    vm_free(st->ext_schema);
    vm_free(st->id_name);
    vm_free(st->ctid_name);
    st->nspname = st->relname = st->qtable = st->ext_schema = st->id_name = st->ctid_name = NULL;
    st->loaded = st->discovered = false;
}

/* base, base_1, base_2, ...: the first name no column has. */
static char *vm_pgv_unique_name(const vm_pgv *st, const char *base)
{
    char buf[VM_MAX_NAME_LEN + 1];
    snprintf(buf, sizeof buf, "%s", base);
    for (int i = 1; vm_pgv_find_col(st, buf) >= 0; i++)
        snprintf(buf, sizeof buf, "%s_%d", base, i);
    return vm_strdup(buf);
}

static int vm_pgv_nomem(vm_err *err) { return vm_err_setc(err, VM_ERR_NOMEM, "out of memory"); }

/* The table's description as "schema.name" for messages. */
static const char *vm_pgv_tname(const vm_pgv *st) { return st->table ? st->table : "?"; }

static const char vm_pgv_sql_rel[] =
    "SELECT c.oid, c.relkind, n.nspname, c.relname, c.reltuples, c.relpages, "
    "(SELECT pg_encoding_max_length(encoding) FROM pg_database "
    "WHERE datname = current_database()), "
    "(SELECT quote_ident(xn.nspname) FROM pg_extension x JOIN pg_namespace xn "
    "ON xn.oid = x.extnamespace WHERE x.extname = 'vector') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass($1)";

/* typname is the built-in or pgvector name only for types that really are
 * those (pg_catalog, or owned by the vector extension); anything else gets
 * its format_type text and so never matches a supported name. */
static const char vm_pgv_sql_cols[] =
    "WITH vt AS (SELECT d.objid FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid "
    "  WHERE d.classid = 'pg_type'::regclass AND d.deptype = 'e' AND x.extname = 'vector') "
    "SELECT a.attname, a.attnotnull, a.atttypmod, a.attndims, "
    "  format_type(a.atttypid, a.atttypmod), "
    "  (t.typcategory = 'A' AND t.typelem <> 0) AS is_array, "
    "  CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace "
    "         OR b.oid IN (SELECT objid FROM vt) THEN b.typname::text "
    "       ELSE format_type(b.oid, NULL) END "
    "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "JOIN pg_type b ON b.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 "
    "  THEN t.typelem ELSE t.oid END "
    "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

static const char vm_pgv_sql_pk[] =
    "SELECT i.indnkeyatts, a.attname FROM pg_index i "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
    "WHERE i.indrelid = $1::oid AND i.indisprimary";

int vm_pgv_load_catalog(vm_pgv *st, vm_err *err)
{
    int rc = VM_OK;
    PGresult *res = NULL;
    char *schema = NULL, *name = NULL, *qs = NULL, *qn = NULL;
    char oid[16];

    if (st->loaded)
        return VM_OK;
    if ((rc = vm_pgv_conn(st, err)) != VM_OK)
        return rc;
    if ((rc = vm_pgv_parse_table(st->table, &schema, &name, err)) != VM_OK)
        return rc;
    /* the relation, found as PostgreSQL would find it (search_path for an
     * unqualified name); the name goes in as a parameter, quoted */
    if (!(qn = vm_pgv_quote_ident(name)) || (schema && !(qs = vm_pgv_quote_ident(schema)))) {
        rc = vm_pgv_nomem(err);
        goto cleanup;
    }
    {
        size_t len = strlen(qn) + (qs ? strlen(qs) + 1 : 0) + 1;
        char *q = vm_malloc(len);
        if (!q) {
            rc = vm_pgv_nomem(err);
            goto cleanup;
        }
        snprintf(q, len, "%s%s%s", qs ? qs : "", qs ? "." : "", qn);
        const char *p[1] = {q};
        rc = vm_pg_exec(st->conn, vm_pgv_sql_rel, 1, p, NULL, NULL, 0, &res, err);
        vm_free(q);
        if (rc != VM_OK) {
            vm_err_prefix(err, "pgvector: table '%s': ", vm_pgv_tname(st));
            goto cleanup;
        }
    }
    if (PQntuples(res) != 1) {
        rc = vm_err_set(err, VM_ERR_NOT_FOUND, false,
                        "pgvector: table '%s' does not exist (or is not visible to this user)",
                        vm_pgv_tname(st));
        goto cleanup;
    }
    st->relid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    st->relkind = PQgetvalue(res, 0, 1)[0];
    st->reltuples = strtod(PQgetvalue(res, 0, 4), NULL);
    st->relpages = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    st->enc_max = PQgetisnull(res, 0, 6) ? 4 : atoi(PQgetvalue(res, 0, 6));
    if (!(st->nspname = vm_strdup(PQgetvalue(res, 0, 2))) ||
        !(st->relname = vm_strdup(PQgetvalue(res, 0, 3))) ||
        (!PQgetisnull(res, 0, 7) && !(st->ext_schema = vm_strdup(PQgetvalue(res, 0, 7))))) {
        rc = vm_pgv_nomem(err);
        goto cleanup;
    }
    if (st->relkind != 'r' && st->relkind != 'm' && st->relkind != 'p') {
        rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                        "pgvector: '%s' is not a table (relkind '%c'); views and foreign "
                        "tables cannot be split: migrate from a table",
                        vm_pgv_tname(st), st->relkind);
        goto cleanup;
    }
    vm_free(qs);
    vm_free(qn);
    qs = vm_pgv_quote_ident(st->nspname);
    qn = vm_pgv_quote_ident(st->relname);
    if (!qs || !qn || !(st->qtable = vm_malloc(strlen(qs) + strlen(qn) + 2))) {
        rc = vm_pgv_nomem(err);
        goto cleanup;
    }
    sprintf(st->qtable, "%s.%s", qs, qn);
    PQclear(res);
    res = NULL;

    /* columns */
    snprintf(oid, sizeof oid, "%u", st->relid);
    const char *p[1] = {oid};
    if ((rc = vm_pg_exec(st->conn, vm_pgv_sql_cols, 1, p, NULL, NULL, 0, &res, err)) != VM_OK) {
        vm_err_prefix(err, "pgvector: columns of '%s': ", vm_pgv_tname(st));
        goto cleanup;
    }
    int n = PQntuples(res);
    if (n > 0 && !(st->cols = vm_calloc((size_t)n, sizeof *st->cols))) {
        rc = vm_pgv_nomem(err);
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        vm_pgv_col *c = &st->cols[i];
        st->ncols++;
        c->name = vm_strdup(PQgetvalue(res, i, 0));
        c->display = vm_strdup(PQgetvalue(res, i, 4));
        c->typname = vm_strdup(PQgetvalue(res, i, 6));
        if (!c->name || !c->display || !c->typname) {
            rc = vm_pgv_nomem(err);
            goto cleanup;
        }
        c->notnull = PQgetvalue(res, i, 1)[0] == 't';
        c->typmod = (int32_t)atol(PQgetvalue(res, i, 2));
        c->ndims = atoi(PQgetvalue(res, i, 3));
        c->is_array = PQgetvalue(res, i, 5)[0] == 't';
        c->kind = vm_pgv_kind_of(c->typname, c->is_array);
    }
    PQclear(res);
    res = NULL;

    /* primary key */
    st->pk = -1;
    st->pk_is_int = st->pk_usable = false;
    if ((rc = vm_pg_exec(st->conn, vm_pgv_sql_pk, 1, p, NULL, NULL, 0, &res, err)) != VM_OK) {
        vm_err_prefix(err, "pgvector: primary key of '%s': ", vm_pgv_tname(st));
        goto cleanup;
    }
    if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == 1) {
        int k = vm_pgv_find_col(st, PQgetvalue(res, 0, 1));
        if (k >= 0 && !st->cols[k].is_array) {
            const char *t = st->cols[k].typname;
            st->pk_is_int = !strcmp(t, "int2") || !strcmp(t, "int4") || !strcmp(t, "int8");
            st->pk_usable = st->pk_is_int || !strcmp(t, "text") || !strcmp(t, "varchar") ||
                            !strcmp(t, "uuid");
            if (st->pk_usable)
                st->pk = k;
        }
    }
    if (!st->pk_usable) {
        if (!(st->id_name = vm_pgv_unique_name(st, "id")) ||
            !(st->ctid_name = vm_pgv_unique_name(st, "pg_ctid"))) {
            rc = vm_pgv_nomem(err);
            goto cleanup;
        }
    }
    st->loaded = true;
cleanup:
    if (res)
        PQclear(res);
    vm_free(schema);
    vm_free(name);
    vm_free(qs);
    vm_free(qn);
    if (rc != VM_OK)
        vm_pgv_free_catalog(st);
    return rc;
}

/* --------------------------------------------------------- sampling */

typedef struct vm_pgv_stat {
    int64_t octets, card, ndims, elem, ndist, dmin, dmax;
    char dims[96];
} vm_pgv_stat;

static int64_t vm_pgv_get_opt(const PGresult *res, int f)
{
    return PQgetisnull(res, 0, f) ? -1 : strtoll(PQgetvalue(res, 0, f), NULL, 10);
}

/* One aggregate query over a sample of rows for every column whose mapping
 * needs one. The sample is the first sample_rows rows of a sequential scan,
 * or of TABLESAMPLE SYSTEM when the table is much larger than the sample
 * (so the sample is spread over the table instead of its first blocks). */
static int vm_pgv_sample(vm_pgv *st, const vm_pgv_map *maps, vm_pgv_stat *stats, vm_err *err)
{
    int rc = VM_OK;
    char *sql = NULL;
    size_t cap = 0, len = 0;
    PGresult *res = NULL;
    int nf = 0;
    int *first = vm_calloc(st->ncols ? st->ncols : 1, sizeof *first);
    if (!first)
        return vm_pgv_nomem(err);

    for (size_t i = 0; i < st->ncols; i++) {
        stats[i] = (vm_pgv_stat){-1, -1, -1, -1, -1, -1, -1, ""};
        first[i] = -1;
    }
    if (st->sample_rows <= 0)
        goto cleanup;

#define VM_PGV_APPEND(...)                                                                 \
    do {                                                                                   \
        int need_ = snprintf(NULL, 0, __VA_ARGS__);                                        \
        if (need_ < 0 || vm_grow((void **)&sql, &cap, len + (size_t)need_ + 1, 1) != 0) {  \
            rc = vm_pgv_nomem(err);                                                        \
            goto cleanup;                                                                  \
        }                                                                                  \
        snprintf(sql + len, cap - len, __VA_ARGS__);                                       \
        len += (size_t)need_;                                                              \
    } while (0)

    VM_PGV_APPEND("SELECT 1");
    const char *vs = st->ext_schema ? st->ext_schema : "public";
    for (size_t i = 0; i < st->ncols; i++) {
        if (!maps[i].need)
            continue;
        char *q = vm_pgv_quote_ident(st->cols[i].name);
        if (!q) {
            rc = vm_pgv_nomem(err);
            goto cleanup;
        }
        first[i] = nf + 1;
        if (maps[i].need & VM_PGV_NEED_OCTETS)
            VM_PGV_APPEND(", max(octet_length(s.%s::text))", q);
        else
            VM_PGV_APPEND(", NULL::int");
        if (maps[i].need & VM_PGV_NEED_CARD)
            VM_PGV_APPEND(", max(cardinality(s.%s)), max(array_ndims(s.%s))", q, q);
        else
            VM_PGV_APPEND(", NULL::int, NULL::int");
        if (maps[i].need & VM_PGV_NEED_ELEM)
            VM_PGV_APPEND(", max((SELECT max(octet_length(e)) FROM unnest(s.%s) e))", q);
        else
            VM_PGV_APPEND(", NULL::int");
        if (maps[i].need & VM_PGV_NEED_DIM)
            VM_PGV_APPEND(", count(DISTINCT %s.vector_dims(s.%s)), min(%s.vector_dims(s.%s)), "
                          "max(%s.vector_dims(s.%s)), "
                          "string_agg(DISTINCT %s.vector_dims(s.%s)::text, ',')",
                          vs, q, vs, q, vs, q, vs, q);
        else
            VM_PGV_APPEND(", NULL::int, NULL::int, NULL::int, NULL::text");
        nf += 8;
        vm_free(q);
    }
    if (nf == 0)
        goto cleanup;
    if (st->reltuples > 10.0 * (double)st->sample_rows) {
        double pct = 300.0 * (double)st->sample_rows / st->reltuples;
        VM_PGV_APPEND(" FROM (SELECT * FROM %s TABLESAMPLE SYSTEM (%.6f) LIMIT %" PRId64 ") s",
                      st->qtable, pct > 100.0 ? 100.0 : pct, st->sample_rows);
    } else {
        VM_PGV_APPEND(" FROM (SELECT * FROM %s LIMIT %" PRId64 ") s", st->qtable,
                      st->sample_rows);
    }
#undef VM_PGV_APPEND
    if ((rc = vm_pg_exec(st->conn, sql, 0, NULL, NULL, NULL, 0, &res, err)) != VM_OK) {
        vm_err_prefix(err, "pgvector: sampling '%s': ", vm_pgv_tname(st));
        goto cleanup;
    }
    for (size_t i = 0; i < st->ncols; i++) {
        int f = first[i];
        if (f < 0)
            continue;
        vm_pgv_stat *s = &stats[i];
        s->octets = vm_pgv_get_opt(res, f);
        s->card = vm_pgv_get_opt(res, f + 1);
        s->ndims = vm_pgv_get_opt(res, f + 2);
        s->elem = vm_pgv_get_opt(res, f + 3);
        s->ndist = vm_pgv_get_opt(res, f + 4);
        s->dmin = vm_pgv_get_opt(res, f + 5);
        s->dmax = vm_pgv_get_opt(res, f + 6);
        snprintf(s->dims, sizeof s->dims, "%s",
                 PQgetisnull(res, 0, f + 7) ? "" : PQgetvalue(res, 0, f + 7));
    }
cleanup:
    if (res)
        PQclear(res);
    vm_free(sql);
    vm_free(first);
    return rc;
}

/* ----------------------------------------------------------- metrics */

/* Every pgvector index key column of the table with its operator class,
 * oldest index first. */
static const char vm_pgv_sql_metrics[] =
    "SELECT a.attname, o.opcname, ic.relname "
    "FROM pg_index i "
    "JOIN pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_am am ON am.oid = ic.relam "
    "CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) "
    "  WITH ORDINALITY AS k(attnum, opc, ord) "
    "JOIN pg_opclass o ON o.oid = k.opc "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = $1::oid AND am.amname IN ('hnsw', 'ivfflat') AND k.attnum > 0 "
    "ORDER BY i.indexrelid, k.ord";

static bool vm_pgv_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Milvus metric of a pgvector operator class; *l1 set for the L1 classes
 * (no Milvus equivalent); NULL when none. */
static const char *vm_pgv_opclass_metric(const char *opc, bool *l1)
{
    *l1 = false;
    if (strcmp(opc, "bit_hamming_ops") == 0)
        return "HAMMING";
    if (strcmp(opc, "bit_jaccard_ops") == 0)
        return "JACCARD";
    if (vm_pgv_ends_with(opc, "_cosine_ops"))
        return "COSINE";
    if (vm_pgv_ends_with(opc, "_l2_ops"))
        return "L2";
    if (vm_pgv_ends_with(opc, "_ip_ops"))
        return "IP";
    if (vm_pgv_ends_with(opc, "_l1_ops"))
        *l1 = true;
    return NULL;
}

/* What an operator class measures: its Milvus metric, "L1", or itself. */
static const char *vm_pgv_metric_key(const char *opc)
{
    bool l1;
    const char *m = vm_pgv_opclass_metric(opc, &l1);
    return m ? m : l1 ? "L1" : opc;
}

typedef struct vm_pgv_metric {
    const char *metric;  /* static; NULL: unknown */
    bool seen;           /* an index was found */
    char first_opc[64];  /* operator class of the first index */
    char note[200];      /* for the description; "" when nothing to say */
} vm_pgv_metric;

/* Metric of every vector column from its indexes (one query). */
static int vm_pgv_metrics(vm_pgv *st, vm_pgv_metric *out, vm_err *err)
{
    char oid[16];
    snprintf(oid, sizeof oid, "%u", st->relid);
    const char *p[1] = {oid};
    PGresult *res = NULL;
    int rc = vm_pg_exec(st->conn, vm_pgv_sql_metrics, 1, p, NULL, NULL, 0, &res, err);
    if (rc != VM_OK)
        return vm_err_prefix(err, "pgvector: indexes of '%s': ", vm_pgv_tname(st));
    for (int r = 0; r < PQntuples(res); r++) {
        int i = vm_pgv_find_col(st, PQgetvalue(res, r, 0));
        if (i < 0 || st->cols[i].kind < VM_PGV_K_VECTOR || st->cols[i].kind > VM_PGV_K_BIT)
            continue;
        vm_pgv_metric *m = &out[i];
        const char *opc = PQgetvalue(res, r, 1);
        bool l1;
        const char *metric = vm_pgv_opclass_metric(opc, &l1);
        if (!m->seen) {
            m->seen = true;
            m->metric = metric;
            snprintf(m->first_opc, sizeof m->first_opc, "%s", opc);
            if (l1)
                snprintf(m->note, sizeof m->note, "index uses L1, which Milvus does not have");
            continue;
        }
        bool differs = strcmp(vm_pgv_metric_key(opc), vm_pgv_metric_key(m->first_opc)) != 0;
        if (differs && !strstr(m->note, "several indexes")) {
            size_t n = strlen(m->note);
            snprintf(m->note + n, sizeof m->note - n,
                     "%sseveral indexes with different metrics; the oldest (%s) is used",
                     n ? "; " : "", m->first_opc);
        }
    }
    PQclear(res);
    return VM_OK;
}

/* --------------------------------------------------------- discover */

static int vm_pgv_finish_map(const vm_pgv *st, const vm_pgv_col *c, const vm_pgv_stat *s,
                             vm_pgv_map *m, vm_err *err)
{
    int rc;
    (void)st;
    if (m->need & VM_PGV_NEED_OCTETS &&
        (rc = vm_pgv_varchar_from_sample(c->name, s->octets, &m->max_length, err)) != VM_OK)
        return rc;
    if (m->need & VM_PGV_NEED_CARD) {
        if (c->ndims > 1 || s->ndims > 1)
            return vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                              "column '%s' holds multi-dimensional arrays (%s), which Milvus "
                              "Array fields cannot hold; exclude it or map it "
                              "(mapping.fields.%s)",
                              c->name, c->display, c->name);
        if ((rc = vm_pgv_capacity_from_sample(c->name, s->card, &m->max_capacity, err)) != VM_OK)
            return rc;
    }
    if (m->need & VM_PGV_NEED_ELEM &&
        (rc = vm_pgv_varchar_from_sample(c->name, s->elem, &m->max_length, err)) != VM_OK)
        return rc;
    if (m->need & VM_PGV_NEED_DIM) {
        if (s->ndist <= 0)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "column '%s' is %s without a dimension and the sample has no "
                              "value to take it from; declare %s(n)",
                              c->name, c->typname, c->typname);
        if (s->ndist > 1)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "column '%s' is %s without a dimension and sampled rows differ "
                              "in length (dims seen: %s); declare %s(n) or exclude it",
                              c->name, c->typname, s->dims, c->typname);
        m->dim = s->dmin;
    }
    return VM_OK;
}

int vm_pgv_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_pgv *st = state;
    int rc;
    vm_schema *sc = NULL;
    vm_pgv_map *maps = NULL;
    vm_pgv_stat *stats = NULL;
    vm_pgv_metric *metrics = NULL;

    *out = NULL;
    if ((rc = vm_pgv_load_catalog(st, err)) != VM_OK)
        return rc;
    bool any_vec = false;
    for (size_t i = 0; i < st->ncols; i++)
        if (st->cols[i].kind >= VM_PGV_K_VECTOR && st->cols[i].kind <= VM_PGV_K_BIT)
            any_vec = true;
    if (!any_vec)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pgvector: table '%s' has no vector column (vector, halfvec, "
                          "sparsevec or bit)",
                          vm_pgv_tname(st));

    maps = vm_calloc(st->ncols, sizeof *maps);
    stats = vm_calloc(st->ncols, sizeof *stats);
    metrics = vm_calloc(st->ncols, sizeof *metrics);
    sc = vm_schema_new(st->collection ? st->collection : st->relname);
    if (!maps || !stats || !metrics || !sc) {
        rc = vm_pgv_nomem(err);
        goto cleanup;
    }
    for (size_t i = 0; i < st->ncols; i++) {
        const vm_pgv_col *c = &st->cols[i];
        if ((rc = vm_pgv_map_type(c->name, c->typname, c->display, c->is_array, c->typmod,
                                  st->enc_max, st->halfvec_as, &maps[i], err)) != VM_OK)
            goto cleanup_prefix;
    }
    if ((rc = vm_pgv_sample(st, maps, stats, err)) != VM_OK ||
        (rc = vm_pgv_metrics(st, metrics, err)) != VM_OK)
        goto cleanup;

    if (!st->pk_usable) {
        vm_field id = {.name = st->id_name, .type = VM_T_INT64, .primary = true, .auto_id = true,
                       .description = "autoID primary key: the table has no single-column "
                                      "integer, text or uuid primary key"};
        if ((rc = vm_schema_add(sc, &id, err)) != VM_OK)
            goto cleanup;
    }
    for (size_t i = 0; i < st->ncols; i++) {
        vm_pgv_col *c = &st->cols[i];
        vm_pgv_map *m = &maps[i];
        if ((rc = vm_pgv_finish_map(st, c, &stats[i], m, err)) != VM_OK)
            goto cleanup_prefix;
        vm_field f = {.name = c->name, .type = m->type, .element_type = m->element_type,
                      .dim = m->dim, .max_length = m->max_length,
                      .max_capacity = m->max_capacity, .nullable = !c->notnull,
                      .unsupported = m->unsupported};
        const char *extra = m->note;
        if (vm_dtype_is_vector(m->type)) {
            f.nullable = false;
            if (!c->notnull)
                extra = extra ? extra : "nullable in PostgreSQL; a NULL vector fails the read";
        }
        if ((int)i == st->pk) {
            f.primary = true;
            f.nullable = false;
            if (m->type == VM_T_INT16 || m->type == VM_T_INT32) {
                f.type = VM_T_INT64;
                extra = "primary key promoted to Int64 (Milvus integer keys are Int64)";
            }
        }
        char desc[512];
        char tn[64];
        if (f.type == VM_T_ARRAY)
            snprintf(tn, sizeof tn, "Array<%s>", vm_dtype_name(f.element_type));
        else
            snprintf(tn, sizeof tn, "%s", vm_dtype_name(f.type));
        const char *mnote = metrics[i].note[0] ? metrics[i].note : NULL;
        snprintf(desc, sizeof desc, "PostgreSQL %s -> %s%s%s%s%s%s%s", c->display, tn,
                 extra ? " (" : "", extra ? extra : "", extra ? ")" : "", mnote ? " (" : "",
                 mnote ? mnote : "", mnote ? ")" : "");
        f.description = desc;
        f.metric = vm_dtype_is_vector(f.type) ? (char *)metrics[i].metric : NULL;
        c->max_length = f.type == VM_T_VARCHAR ? f.max_length : 0;
        if ((rc = vm_schema_add(sc, &f, err)) != VM_OK)
            goto cleanup;
    }
    if (!st->pk_usable) {
        vm_field ct = {.name = st->ctid_name, .type = VM_T_INT64,
                       .description = "row identity: ctid as block * 65536 + offset; lets a "
                                      "retried task delete its partial write under autoID"};
        if ((rc = vm_schema_add(sc, &ct, err)) != VM_OK)
            goto cleanup;
        if (strcmp(st->id_name, "id") != 0 || strcmp(st->ctid_name, "pg_ctid") != 0)
            vm_info("pgvector: table '%s' has columns named like the added fields; they are "
                    "named '%s' (autoID key) and '%s' (row identity)",
                    vm_pgv_tname(st), st->id_name, st->ctid_name);
    }
    st->discovered = true;
    *out = sc;
    sc = NULL;
    goto cleanup;
cleanup_prefix:
    vm_err_prefix(err, "pgvector: ");
cleanup:
    vm_schema_free(sc);
    vm_free(maps);
    vm_free(stats);
    vm_free(metrics);
    return rc;
}

/* -------------------------------------------------- describe (public) */

int vm_pgvector_describe_columns(vm_source *src, vm_pgvector_column **cols, size_t *n,
                                 vm_err *err)
{
    *cols = NULL;
    *n = 0;
    if (!src || !src->ops || strcmp(src->ops->name, "pgvector") != 0)
        return vm_err_set(err, VM_ERR_INVALID, false, "not a pgvector source");
    vm_pgv *st = src->state;
    int rc = vm_pgv_load_catalog(st, err);
    if (rc != VM_OK)
        return rc;
    vm_pgvector_column *c = vm_calloc(st->ncols ? st->ncols : 1, sizeof *c);
    if (!c)
        return vm_pgv_nomem(err);
    for (size_t i = 0; i < st->ncols; i++)
        c[i] = (vm_pgvector_column){st->cols[i].name, st->cols[i].display, st->cols[i].typname,
                                    st->cols[i].is_array};
    *cols = c;
    *n = st->ncols;
    return VM_OK;
}

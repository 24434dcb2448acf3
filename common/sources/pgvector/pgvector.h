/*
 * pgvector.h - the PostgreSQL + pgvector source: internal interface shared
 * by its files, the pure helpers the unit tests call, and the one public
 * extra the coordinator may use (vm_pgvector_describe_columns).
 *
 * Files:
 *   pgvector.c   ops table, config, connection, count, resume_filter
 *   pg_schema.c  catalog discovery, sampling and the type mapping
 *   pg_plan.c    split arithmetic (pure) and plan()
 *   pg_read.c    open / read / cursor: keyset paging, binary decoding
 *
 * Per-field notes: discover() puts a one-line note about each field into
 * vm_field.description ("PostgreSQL integer -> Int32", "... promoted to
 * Int64 for the primary key", ...), which the coordinator prints and which
 * also lands in the Milvus field description. vm_pgvector_describe_columns()
 * returns the native PostgreSQL type per column besides.
 */
#ifndef VM_PGVECTOR_H
#define VM_PGVECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "vm_batch.h"
#include "vm_connector.h"
#include "vm_err.h"
#include "vm_schema.h"
#include "vm_task.h"

/* ------------------------------------------------------------ config */

enum { VM_PGV_HALF_FLOAT16 = 0, VM_PGV_HALF_FLOAT = 1 };
enum { VM_PGV_SPLIT_AUTO = 0, VM_PGV_SPLIT_PK = 1, VM_PGV_SPLIT_CTID = 2 };

/* ------------------------------------------------------- type mapping */

/* What the mapping needs from a sample of rows (bits of vm_pgv_map.need). */
#define VM_PGV_NEED_OCTETS 0x1 /* max octet_length (text without length) */
#define VM_PGV_NEED_DIM 0x2    /* vector_dims (vector/halfvec without dim) */
#define VM_PGV_NEED_CARD 0x4   /* max cardinality and ndims (arrays) */
#define VM_PGV_NEED_ELEM 0x8   /* max element octet_length (text arrays) */

typedef struct vm_pgv_map {
    vm_dtype type;
    vm_dtype element_type;
    int64_t dim, max_length, max_capacity;
    unsigned need;    /* VM_PGV_NEED_* still to fill from a sample */
    bool unsupported; /* no Milvus type: VarChar of the text form, marked unsupported */
    const char *note; /* static text: the choice made, for the description */
} vm_pgv_map;

/* Map one column from its native type. A type vecmig has no Milvus type
 * for maps to VarChar (its text form) with `unsupported` set. typname is pg_type.typname for
 * built-in and pgvector types (for an array: the element's typname with
 * is_array set) or the format_type() text of anything else; display is the
 * type as messages name it (format_type, "point"); typmod is
 * atttypmod (for arrays the element typmod); enc_max is bytes per character
 * of the database encoding; halfvec_as a VM_PGV_HALF_*. A bit(n) with
 * n % 8 != 0, a multi-dimensional array and similar are VM_ERR_UNSUPPORTED /
 * VM_ERR_INVALID with a one-line message naming the column. */
int vm_pgv_map_type(const char *column, const char *typname, const char *display, bool is_array,
                    int32_t typmod, int enc_max, int halfvec_as, vm_pgv_map *out, vm_err *err);

/* VarChar max_length from the largest sampled value (octets; -1 when the
 * sample has none): max(64, 2 x octets) capped at 65535, or 65535 when the
 * sample had no value. A sampled value over 65535 bytes is an error. */
int vm_pgv_varchar_from_sample(const char *column, int64_t max_octets, int64_t *max_length,
                               vm_err *err);
/* Array max_capacity from the largest sampled cardinality (-1: none):
 * 2 x card, at least 4, at most 4096; a sampled array over 4096 elements is
 * an error. */
int vm_pgv_capacity_from_sample(const char *column, int64_t max_card, int64_t *max_capacity,
                                vm_err *err);

/* ------------------------------------------------------------ helpers */

/* "name" -> "\"name\"" with inner quotes doubled (always quoted, so case
 * and every character are kept). Allocated; NULL on allocation failure. */
char *vm_pgv_quote_ident(const char *ident);
/* Split `table` as PostgreSQL reads an identifier chain: `name` or
 * `schema.name`; unquoted parts fold to lower case, "quoted" parts are
 * kept as written ("" inside quotes is one quote). *schema is NULL when
 * not given. Both allocated. */
int vm_pgv_parse_table(const char *table, char **schema, char **name, vm_err *err);

/* ctid cursor "(block,offset)". The cursor names the last position read:
 * rows with ctid > cursor remain. Offset 65535 stands for "all of block
 * `block`" (no heap tuple has that offset). */
int vm_pgv_parse_tid(const char *text, int64_t *block, int64_t *offset);
void vm_pgv_format_tid(int64_t block, int64_t offset, char *buf, size_t size);
/* pg_ctid value of a tid: block * 65536 + offset. */
int64_t vm_pgv_tid_key(int64_t block, int64_t offset);

/* -------------------------------------------------- split arithmetic */

/* Interior boundaries for an integer key split into `ntasks` ranges over
 * [min, max]: from the histogram bounds (ascending, as pg_stats keeps them;
 * quantiles interpolated inside buckets) when nhist >= 2 and they give at
 * least half of the wanted boundaries inside (min, max], else uniform.
 * Boundaries are strictly increasing and in (min, max]; *nbounds <= ntasks-1
 * (fewer when the key space has fewer distinct values). bounds must hold
 * ntasks - 1 values. Task i then covers [bounds[i-1], bounds[i]), the first
 * without a lower and the last without an upper bound. */
void vm_pgv_split_int(int64_t min, int64_t max, const int64_t *hist, size_t nhist,
                      int64_t ntasks, int64_t *bounds, size_t *nbounds);
/* Uniform interior boundaries only (same contract). */
void vm_pgv_split_uniform(int64_t min, int64_t max, int64_t ntasks, int64_t *bounds,
                          size_t *nbounds);
/* ctid split: blocks per task and number of tasks for a relation of
 * nblocks blocks (0 -> one task), rows_per_block (<= 0 -> 1) and task_rows. */
void vm_pgv_split_ctid(int64_t nblocks, double rows_per_block, int64_t task_rows,
                       int64_t *blocks_per_task, int64_t *ntasks);
/* Tasks for ntasks_wanted = ceil(est / task_rows), at least 1. */
int64_t vm_pgv_ntasks(double est_rows, int64_t task_rows);
/* Parse a histogram_bounds text "{1,5,9}" of integers. *out allocated. */
int vm_pgv_parse_int_array(const char *text, int64_t **out, size_t *n);

/* ----------------------------------------------------- instance state */

/* How a column's values travel on the wire. */
typedef enum vm_pgv_kind {
    VM_PGV_K_UNSUPPORTED = 0,
    VM_PGV_K_INT,       /* int2/int4/int8 */
    VM_PGV_K_FLOAT4,
    VM_PGV_K_FLOAT8,
    VM_PGV_K_BOOL,
    VM_PGV_K_TEXT,      /* text, varchar, bpchar, name */
    VM_PGV_K_JSON,      /* json, jsonb */
    VM_PGV_K_NUMERIC,
    VM_PGV_K_ASTEXT,    /* uuid, date/time types: read as col::text */
    VM_PGV_K_VECTOR,
    VM_PGV_K_HALFVEC,
    VM_PGV_K_SPARSEVEC,
    VM_PGV_K_BIT,
    VM_PGV_K_ARRAY,
} vm_pgv_kind;

typedef struct vm_pgv_col {
    char *name;       /* attname */
    char *typname;    /* pg_type.typname (element's for arrays), or format_type of others */
    char *display;    /* format_type(atttypid, atttypmod): "character varying(20)" */
    int32_t typmod;
    int ndims;        /* attndims */
    bool notnull;
    bool is_array;
    vm_pgv_kind kind;
    int64_t max_length; /* after discover (VarChar fields), else 0 */
} vm_pgv_col;

/* Column of the current read: which batch column gets which result
 * column, decoded how. */
typedef enum vm_pgv_rd {
    VM_PGV_RD_INT,      /* binary int2/4/8 by size */
    VM_PGV_RD_F32,
    VM_PGV_RD_F64,
    VM_PGV_RD_BOOL,
    VM_PGV_RD_TEXT,     /* raw bytes (text binary = the text) */
    VM_PGV_RD_VECTOR,
    VM_PGV_RD_HALF,     /* halfvec into Float16Vector */
    VM_PGV_RD_HALF2F,   /* halfvec into FloatVector */
    VM_PGV_RD_SPARSE,
    VM_PGV_RD_BIT,
    VM_PGV_RD_TID,      /* pg_ctid: ctid as block * 65536 + offset */
} vm_pgv_rd;

typedef struct vm_pgv_rcol {
    int bcol;        /* batch column */
    int fnum;        /* result column */
    vm_pgv_rd rd;
    int64_t max_len; /* VarChar limit checked before storing (bytes) */
} vm_pgv_rcol;

typedef struct vm_pgv {
    /* config (vm_conf table) */
    char *dsn;
    char *password;      /* optional; overrides the dsn's */
    char *table;
    char *collection;
    int halfvec_as;
    int64_t sample_rows;
    int split;
    int64_t connect_timeout_ms;
    bool insecure_tls;   /* sslmode=require instead of verify-full (remote hosts) */

    PGconn *conn;

    /* catalog, loaded once per instance */
    bool loaded;
    uint32_t relid;
    char relkind;
    char *nspname, *relname;
    char *qtable;        /* "schema"."name" */
    vm_pgv_col *cols;
    size_t ncols;
    int enc_max;
    char *ext_schema;    /* schema of the vector extension (quoted), NULL if absent */
    double reltuples;    /* pg_class estimate; < 0 never analyzed */
    int64_t relpages;
    int pk;              /* index into cols of a single-column PK, -1 none */
    bool pk_is_int;      /* int2/int4/int8 */
    bool pk_usable;      /* int or text/varchar/uuid: kept as primary */
    char *id_name;       /* autoID field when no usable PK, else NULL */
    char *ctid_name;     /* pg_ctid field when no usable PK, else NULL */
    bool discovered;     /* cols[].max_length filled by discover */

    /* reading */
    vm_task task;
    bool open;
    bool by_ctid;        /* key is ctid (else the integer PK) */
    bool have_pos;       /* a position exists (cursor given or rows read) */
    int64_t pos_int;     /* last PK value read */
    int64_t pos_blk, pos_off; /* last ctid read (offset 65535: whole block) */
    int64_t window;      /* ctid window in blocks */
    int64_t nblocks;     /* at open */
    char *sql;           /* built on first read */
    vm_pgv_rcol *rcols;
    size_t nrcols;
    uint16_t *half;
    size_t half_cap;
    uint32_t *sp_idx;
    float *sp_val;
    size_t sp_cap;
} vm_pgv;

/* pgvector.c */
int vm_pgv_conn(vm_pgv *st, vm_err *err);

/* pg_schema.c */
int vm_pgv_load_catalog(vm_pgv *st, vm_err *err);
void vm_pgv_free_catalog(vm_pgv *st);
int vm_pgv_discover(void *state, vm_schema **out, vm_err *err);
int vm_pgv_find_col(const vm_pgv *st, const char *name);

/* pg_plan.c */
int vm_pgv_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
                vm_err *err);

/* pg_read.c */
int vm_pgv_open(void *state, const vm_task *task, const char *cursor, vm_err *err);
int vm_pgv_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err);
int vm_pgv_cursor(void *state, char **out, vm_err *err);
void vm_pgv_close(void *state);
void vm_pgv_free_read(vm_pgv *st);
/* One binary result cell (v[0, len), or SQL NULL) into row `row` of the
 * batch column r->bcol, decoded as r->rd says; key names the row in
 * messages. Uses st's scratch (half, sp_idx/sp_val), nothing else of st.
 * Exposed for the fuzz target tests/fuzz/fuzz_pgvector.c. */
int vm_pgv_decode_cell(vm_pgv *st, vm_batch *b, size_t row, const vm_pgv_rcol *r,
                       const char *v, int len, bool isnull, const char *key, vm_err *err);

/* ------------------------------------------------------ public extra */

typedef struct vm_pgvector_column {
    const char *name;        /* PostgreSQL column name */
    const char *native_type; /* format_type(): "vector(3)", "character varying(20)" */
    const char *typname;     /* pg_type.typname (element's for arrays) */
    bool is_array;
} vm_pgvector_column;

/* The table's columns with their native types, in order, after discover()
 * (or any op that loaded the catalog). *cols points into the instance (valid
 * until it is freed); allocated array, vm_free it. */
int vm_pgvector_describe_columns(vm_source *src, vm_pgvector_column **cols, size_t *n,
                                 vm_err *err);

#endif

/*
 * tencent.h - the Tencent Cloud VectorDB source: internal interface shared
 * by its files and the pure helpers the unit tests call.
 *
 * Files:
 *   tencent.c   ops table, config, HTTP calls with the {code,msg} envelope
 *               and retries, count, discover (describe + sample), plan
 *   tc_doc.c    pure helpers: envelope and error classes, cursors, split
 *               arithmetic, range filters, page and document decoding
 *   tc_read.c   open / read / cursor: keyset pages on a uint64 filter
 *               index, or offset pages
 *
 * The collection's schema comes from /collection/describe: its `indexes`
 * list the primary key (`id`, a string), the dense vector (`vector`, with
 * dimension and metricType), an optional sparse vector and the
 * filter-indexed scalar fields with their types. Everything else in a
 * document is schemaless. By default every field but the id and the vectors
 * goes to the Milvus dynamic field, whose alias in mapping paths is
 * VM_TC_ALIAS ("fields": `{source: fields.author}` lifts a key);
 * `indexed_fields: typed` makes each filter-indexed field a typed field.
 */
#ifndef VM_TENCENT_H
#define VM_TENCENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_batch.h"
#include "vm_buf.h"
#include "vm_connector.h"
#include "vm_err.h"
#include "vm_http.h"
#include "vm_json_scan.h"
#include "vm_schema.h"
#include "vm_task.h"

/* The dynamic field's name in mapping paths ("fields.author.name"). */
#define VM_TC_ALIAS "fields"
/* /document/query limit and offset+limit bound (documented for delete;
 * vecmig never asks for more per page). */
#define VM_TC_MAX_LIMIT 16384
/* Documented limits: id length in characters; names. */
#define VM_TC_MAX_ID_CHARS 128
/* Envelope codes vecmig gives a meaning to. */
#define VM_TC_E_COLL_MISSING 15302 /* collection does not exist (the SDK's exists check) */
#define VM_TC_E_DB_MISSING 15202   /* database does not exist (unverified) */

enum { VM_TC_FIELDS_DYNAMIC = 0, VM_TC_FIELDS_TYPED = 1 };
enum { VM_TC_SPLIT_AUTO = 0, VM_TC_SPLIT_KEYSET = 1, VM_TC_SPLIT_OFFSET = 2 };
enum { VM_TC_READ_STRONG = 0, VM_TC_READ_EVENTUAL = 1 };

/* Filter-indexed scalar field types (describe's fieldType). */
typedef enum vm_tc_ftype {
    VM_TC_F_UNKNOWN = 0,
    VM_TC_F_UINT64,
    VM_TC_F_INT64,
    VM_TC_F_DOUBLE,
    VM_TC_F_STRING,
    VM_TC_F_ARRAY,
    VM_TC_F_JSON,
} vm_tc_ftype;

vm_tc_ftype vm_tc_ftype_parse(const char *s); /* "uint64" -> VM_TC_F_UINT64 */

/* ------------------------------------------------- envelope and errors */

/* The vecmig error of a finished exchange: HTTP status and the envelope's
 * code (0 when the body had none). 401/403 -> AUTH; 429 -> RATE_LIMITED
 * and 5xx/408 -> retriable; 15302/15202 -> NOT_FOUND; 13100/13101 (index
 * not ready) -> UNAVAILABLE, retriable; other codes -> REMOTE, fatal. */
vm_code vm_tc_classify(long status, long code, bool *retriable);

/* Check a reply: 0 when the body is a JSON object with "code":0 and the
 * status is 2xx. Otherwise the classified error "tencent <what>: <msg>
 * (code N, HTTP S)" with at most VM_HTTP_SNIPPET_MAX bytes of the server's
 * message; a body that is not JSON is the status error for a non-2xx
 * status and VM_ERR_PROTOCOL for a 2xx. s[n] need not be NUL. */
int vm_tc_envelope(long status, const char *s, size_t n, const char *what, vm_err *err);

/* ------------------------------------------------ cursors and splitting */

/* A uint64 written as decimal digits only: no sign, no leading zeros (but
 * "0"), no exponent, at most 2^64-1. 0 or -1. */
int vm_tc_parse_u64(const char *s, size_t n, uint64_t *out);
/* Canonical decimal of v into buf (>= 21 bytes). */
void vm_tc_format_u64(uint64_t v, char *buf, size_t size);

/* Tasks wanted: ceil(rows / task_rows), at least 1. */
int64_t vm_tc_ntasks(int64_t rows, int64_t task_rows);
/* Keyset split of the values [min, max] of a uint64 field into up to
 * ntasks ranges: interior boundaries, strictly increasing, in
 * (min, min(max, 2^63-1)] (bounds must hold ntasks - 1 values; fewer when
 * the range has fewer values). Task i covers [bounds[i-1], bounds[i]); the
 * first has no lower and the last no upper bound, so values above 2^63-1
 * (which a task's int64 bound cannot hold) and values added outside
 * [min, max] meanwhile all fall into a task. */
void vm_tc_split_keyset(uint64_t min, uint64_t max, int64_t ntasks, int64_t *bounds,
                        size_t *nbounds);
/* The filter of a keyset page: "<f> > <cursor>" (when has_cursor) or
 * "<f> >= <lo>" (lo 0 without a lower bound, which also leaves out
 * documents without the field), then " and <f> < <hi>" when the task has an
 * upper bound. A field name other than [A-Za-z_][A-Za-z0-9_]* cannot be
 * written in Tencent's filter grammar: VM_ERR_UNSUPPORTED (use offset). */
int vm_tc_keyset_filter(const char *field, const vm_task *t, bool has_cursor, uint64_t cursor,
                        vm_buf *out, vm_err *err);

/* ------------------------------------------------------ page decoding */

/* A typed (filter-indexed) field read into a batch column. */
typedef struct vm_tc_tcol {
    const char *name; /* document key = batch column name */
    vm_tc_ftype ftype;
    int bcol;
} vm_tc_tcol;

/* Which document member goes to which batch column (-1: not read). */
typedef struct vm_tc_layout {
    int col_id;
    int col_vec;
    const char *vec_name;
    int64_t dim;
    int col_sparse;
    const char *sparse_name;
    int col_meta;          /* "$meta": the document without the members below */
    const vm_tc_tcol *typed;
    size_t ntyped;
    const char *key_field; /* keyset: the uint64 field every document carries */
    /* members that are not metadata: id, the vectors, the typed fields */
    const char *const *not_meta;
    size_t nnot_meta;
} vm_tc_layout;

/* Scratch space reused across pages (zero-initialise; vm_tc_scratch_free). */
typedef struct vm_tc_scratch {
    vm_buf str, meta;
    uint32_t *sp_idx;
    float *sp_val;
    size_t sp_cap;
    vm_json_span *docs; /* document spans of the page */
    uint64_t *keys;     /* their key_field values */
    size_t docs_cap;
    vm_json_span *spans;
    vm_json_path *paths;
    const char **keys1; /* one-key path storage */
    size_t spans_cap;
} vm_tc_scratch;
void vm_tc_scratch_free(vm_tc_scratch *s);

/* Check a /document/query reply (envelope, JSON) and collect its documents:
 * *ndocs spans into s->docs (offsets into body) and, with a key_field, each
 * document's value of it into s->keys (a document without it, or with a
 * value that is not a uint64, is VM_ERR_PROTOCOL naming the document). */
int vm_tc_scan_page(const char *body, size_t len, const char *key_field, vm_tc_scratch *s,
                    size_t *ndocs, vm_err *err);

/* Append the document doc[0, n) as one row of b. Errors name the document
 * id and the field: a missing id, an id over the column's max_length, a
 * vector that is absent, of another dimension, with an element that is not
 * a number or not a finite float32 (each parsed with strtof, never through
 * a double), a sparse vector that is not [[termId, score], ...] with
 * termIds in [0, 2^32-2] (sorted here; a repeated termId is an error), a
 * typed value of the wrong JSON kind or out of range (uint64 above 2^63-1
 * does not fit Int64). "$meta" gets the document's text without the
 * not_meta members, every other byte as the server sent it; null when
 * nothing is left. doc must be followed by a byte that ends a JSON number
 * (any byte of a JSON text after a complete value does). */
int vm_tc_decode_doc(const vm_tc_layout *L, const char *doc, size_t n, vm_batch *b,
                     vm_tc_scratch *s, vm_err *err);

/* ---------------------------------------------------- instance state */

typedef struct vm_tc_index {
    char *name;
    char *field_type;
    char *index_type;
    int64_t dim;
    char *metric; /* as describe gave it; NULL when absent */
} vm_tc_index;

typedef struct vm_tc {
    /* config */
    char *url;
    char *username;
    char *api_key;
    char *database;
    char *collection;
    int indexed_fields;
    int split;
    char *split_field;
    int read_consistency;
    int64_t sample_rows;
    int64_t timeout_ms;
    bool insecure_tls;
    int64_t max_retries;

    /* connection */
    vm_http_client *http;
    char *base;
    char *auth;
    vm_buf req;
    vm_http_resp resp;
    unsigned seed;

    /* describe, loaded once per instance */
    bool loaded;
    vm_tc_index *idx;
    size_t nidx;
    int vec;    /* index into idx of the dense vector, -1 none */
    int sparse; /* -1 none */
    int64_t id_max_length; /* after discover, else 0 */

    /* split choice (discover, plan) */
    bool split_chosen;
    char *keyset_field; /* NULL: offset pages */
    char note[256];     /* why this split, for field notes and the log */

    /* reading */
    vm_task task;
    bool open;
    bool keyset;
    const char *key_field; /* the task's scope (keyset) */
    bool have_pos;
    uint64_t pos_key;     /* keyset: last value consumed */
    int64_t pos;          /* offset: next position to read */
    bool finished;
    bool planned;
    vm_tc_layout lay;
    vm_tc_tcol *tcols;
    const char **not_meta;
    vm_buf outputs; /* "outputFields" JSON array, or empty: all fields */
    vm_tc_scratch scratch;
} vm_tc;

/* tencent.c */
int vm_tc_load(vm_tc *st, vm_err *err);
/* POST path with the JSON body text; retries retriable failures (Retry-After
 * honoured, capped exponential backoff with jitter, max_retries). On 0,
 * st->resp holds a reply whose envelope has code 0. */
int vm_tc_post(vm_tc *st, const char *path, const char *body, size_t len, vm_err *err);
/* The readConsistency value to send. */
const char *vm_tc_consistency(const vm_tc *st);
/* Add "database","collection","readConsistency" members to an open JSON
 * object in b (after its '{'). */
void vm_tc_body_head(const vm_tc *st, vm_buf *b);

/* tc_read.c */
int vm_tc_open(void *state, const vm_task *task, const char *cursor, vm_err *err);
int vm_tc_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err);
int vm_tc_cursor(void *state, char **out, vm_err *err);
void vm_tc_close(void *state);

#endif

/*
 * qdrant.h - the Qdrant source: internal interface shared by its files and
 * the pure helpers the unit tests call.
 *
 * Files:
 *   qdrant.c    ops table, config, HTTP calls (auth header, retries,
 *               error envelopes), count, discover
 *   qd_parse.c  pure helpers: point ids (parse, text, order, task keys),
 *               the collection description, error envelopes, scroll pages
 *               and points decoded straight into batch rows
 *   qd_plan.c   split arithmetic (pure) and plan(): id-space ranges
 *   qd_read.c   open / read / cursor: scroll in id order inside a range
 *
 * Point ids. Qdrant ids are unsigned 64-bit integers or UUIDs; scroll
 * returns them ordered: every integer (ascending) before every UUID (by
 * its 16 bytes, which is lowercase-hex text order). vm_qd_id holds one;
 * its text (the primary key value and the cursor) is the decimal integer
 * or the canonical UUID (8-4-4-4-12 lowercase hex). Task bounds use an
 * order-preserving key text so that byte order is id order: "n:" and the
 * integer zero-padded to 20 digits, or "u:" and the canonical UUID.
 */
#ifndef VM_QDRANT_H
#define VM_QDRANT_H

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

/* ---------------------------------------------------------- point ids */

typedef struct vm_qd_id {
    bool uuid;       /* else an unsigned integer */
    uint64_t num;    /* integer ids */
    uint8_t b[16];   /* UUIDs, big-endian as written */
} vm_qd_id;

/* Longest id text: a UUID (36) + NUL; longest key text: "u:" + 36 + NUL. */
#define VM_QD_ID_TEXT 40
#define VM_QD_KEY_TEXT 48

/* An id as a JSON token: s[0, n) is an unsigned integer literal (digits
 * only, at most 2^64-1) or a string holding a UUID (any case, hyphenated
 * or 32 plain hex digits, as Qdrant accepts). 0 or -1. */
int vm_qd_id_parse_json(const char *s, size_t n, vm_qd_id *id);
/* Id text (decimal integer or UUID, as vm_qd_id_text writes it). 0 or -1. */
int vm_qd_id_parse_text(const char *s, vm_qd_id *id);
/* Decimal integer or canonical lowercase UUID. */
void vm_qd_id_text(const vm_qd_id *id, char buf[VM_QD_ID_TEXT]);
/* The id as a JSON value for a request (integer, or "uuid"). */
void vm_qd_id_json(const vm_qd_id *id, vm_buf *out);
/* Qdrant's scroll order: <0, 0, >0. */
int vm_qd_id_cmp(const vm_qd_id *a, const vm_qd_id *b);
/* Order-preserving key text for task bounds ("n:000..0042", "u:<uuid>"). */
void vm_qd_id_key(const vm_qd_id *id, char buf[VM_QD_KEY_TEXT]);
int vm_qd_id_from_key(const char *key, vm_qd_id *id);

/* --------------------------------------------------- split arithmetic */

/* Tasks for `count` points and `task_rows` per task: ceil, at least 1. */
int64_t vm_qd_ntasks(int64_t count, int64_t task_rows);
/* Interior boundaries splitting integer ids [min, max] into `n` ranges of
 * equal width: strictly increasing, in (min, max]; *nb <= n - 1 (fewer when
 * the span has fewer values). bounds holds n - 1. */
void vm_qd_split_u64(uint64_t min, uint64_t max, int64_t n, uint64_t *bounds, size_t *nb);
/* The same over UUIDs [min, max] (as 128-bit numbers), each boundary
 * rounded down to the coarsest hex prefix that keeps the ranges' widths
 * within 1/16 of equal ("3a000000-0000-..."), strictly increasing, in
 * (min, max]. bounds holds n - 1. */
void vm_qd_split_uuid(const vm_qd_id *min, const vm_qd_id *max, int64_t n, vm_qd_id *bounds,
                      size_t *nb);

/* What the planner found out about the id space. */
typedef struct vm_qd_span {
    bool has_int, has_uuid;
    uint64_t int_min, int_max;
    vm_qd_id uuid_min, uuid_max;
} vm_qd_span;

/* Task boundaries (ascending ids) for `ntasks` tasks over the id space:
 * integers and UUIDs each split evenly by width; when both kinds exist the
 * tasks are shared half and half and the first UUID task starts at the
 * smallest UUID. Task i covers [bounds[i-1], bounds[i]) with the first
 * unbounded below and the last above. *out is allocated (vm_free). */
int vm_qd_space_bounds(const vm_qd_span *sp, int64_t ntasks, vm_qd_id **out, size_t *nb,
                       vm_err *err);

/* ---------------------------------------------------- the collection */

typedef enum vm_qd_vkind {
    VM_QD_DENSE = 0,
    VM_QD_SPARSE,
    VM_QD_MULTI, /* multivector: no Milvus type; read as JSON text */
} vm_qd_vkind;

typedef struct vm_qd_vec {
    char *qname;        /* Qdrant's name; "" for the unnamed vector */
    char *field;        /* field name in the source schema */
    vm_qd_vkind kind;
    int64_t dim;        /* dense and multi */
    char *distance;     /* "Cosine" ... (dense, multi); NULL for sparse */
    char *datatype;     /* "float32", "float16", "uint8"...; NULL when absent */
    char *modifier;     /* sparse: "idf" ...; NULL when absent or "none" */
} vm_qd_vec;

typedef struct vm_qd_info {
    vm_qd_vec *vecs;
    size_t nvecs;
    bool unnamed;         /* `vectors` is a single unnamed vector */
    int64_t points_count; /* approximate; -1 when absent */
} vm_qd_info;

/* Parse GET /collections/{c} (the whole envelope). Unknown distances and
 * datatypes are kept as text (the schema notes them). */
int vm_qd_parse_info(const char *body, size_t len, vm_qd_info *out, vm_err *err);
void vm_qd_info_release(vm_qd_info *info);
/* The source schema: "id" VarChar(36) primary (renamed id_1... when a
 * vector has that name), one field per vector named after it ("vector" for
 * the unnamed one), the payload as the dynamic field (alias "payload"). A
 * collection without any vector is VM_ERR_UNSUPPORTED. Fills the vecs'
 * `field` names. */
int vm_qd_build_schema(vm_qd_info *info, const char *collection, vm_schema **out, vm_err *err);
/* Milvus metric of a Qdrant distance, NULL when Milvus has none. */
const char *vm_qd_metric(const char *distance);

/* The server's message from an error body: status.error of the envelope,
 * else the body's first 200 bytes (control characters as spaces). */
void vm_qd_error_text(const char *body, size_t len, char *out, size_t cap);

/* ------------------------------------------------------- scroll pages */

/* A scroll reply, checked: the points array and the next page offset. */
typedef struct vm_qd_page {
    vm_json_span points;  /* an array */
    bool has_next;
    vm_qd_id next;
} vm_qd_page;

int vm_qd_parse_page(const char *body, size_t len, vm_qd_page *page, vm_err *err);
/* For a reply that is not valid JSON, with the scanner's message: the id
 * text of the last point starting before where the scanner stopped, into
 * out ("" when none); what vm_qd_parse_page's message then names. */
void vm_qd_near_point(const char *body, size_t len, const char *scan_msg, char *out, size_t cap);

/* How one batch column is filled from a point. */
typedef enum vm_qd_src {
    VM_QD_COL_ID = 0,   /* the point id: VarChar text, or Int64 when it fits */
    VM_QD_COL_META,     /* the payload object's JSON text, null when none */
    VM_QD_COL_DENSE,    /* vecs[vec] into FloatVector */
    VM_QD_COL_SPARSE,   /* vecs[vec] into SparseFloatVector */
    VM_QD_COL_TEXT,     /* vecs[vec] (multivector) as JSON text into VarChar/JSON */
} vm_qd_src;

typedef struct vm_qd_rcol {
    int bcol;
    vm_qd_src src;
    int vec;            /* index into info.vecs */
} vm_qd_rcol;

/* Scratch space reused between points: sparse vectors (sorted here) and
 * the key paths looked up in each point. Start zeroed. */
typedef struct vm_qd_scratch {
    uint32_t *idx;
    float *val;
    size_t cap;
    vm_json_path *paths;
    const char **keys;   /* two per path */
    vm_json_span *spans;
    size_t pcap;
} vm_qd_scratch;
void vm_qd_scratch_release(vm_qd_scratch *s);

/* The column plan for batch b; a column that matches nothing of the
 * collection is VM_ERR_INVALID naming it. *out allocated. */
int vm_qd_plan_columns(const vm_qd_info *info, const char *id_field, const vm_batch *b,
                       vm_qd_rcol **out, size_t *n, vm_err *err);
/* The id of the point at span pt of text s (for range checks before the
 * row is added). */
int vm_qd_point_id(const char *s, vm_json_span pt, vm_qd_id *id, vm_err *err);
/* Append the point at span pt of text s to b as one row (on error no row
 * is left behind). unnamed: the collection's vector is unnamed (a plain
 * array, or the "" entry of a vector object). Errors name the point id and
 * the field: a missing or malformed dense vector, a dimension that differs,
 * a non-finite or malformed element, bad sparse indices. */
int vm_qd_add_point(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc, const char *s,
                    vm_json_span pt, vm_batch *b, vm_qd_scratch *scr, vm_err *err);

/* One scroll page read in a single pass (vm_qd_read's fast path): the
 * reply is validated as it is decoded, each byte scanned about once (vector
 * elements are parsed from their tokens as the array is walked; other
 * values are skipped by the validating scanner). In: the task's range, the
 * last id read and the rows the batch may still take; out: what vm_qd_read
 * then decides with (rows added, points seen, range end or cut, the next
 * page offset). */
typedef struct vm_qd_take {
    bool has_lo, has_hi;
    vm_qd_id lo, hi;
    bool have_pos;       /* in and out: the last id read */
    vm_qd_id pos;
    size_t room;
    size_t added, seen;
    bool finished, cut;
    bool has_next;
    vm_qd_id next;
} vm_qd_take;
/* true: the page was read into b and *t holds the outcome. false: the
 * reply is malformed, or has a point this path does not take (an error, an
 * id after the vector, a key given twice): the rows it added are dropped
 * again and the caller reads the page with vm_qd_parse_page and
 * vm_qd_add_point, which give the error (or the same rows). */
bool vm_qd_fast_page(const vm_qd_info *info, const vm_qd_rcol *rc, size_t nrc, const char *s,
                     size_t n, vm_batch *b, vm_qd_scratch *scr, vm_qd_take *t);

/* ------------------------------------------------------ instance state */

enum { VM_QD_SPLIT_SPACE = 0, VM_QD_SPLIT_SCAN = 1 };

typedef struct vm_qd {
    /* config */
    char *url;
    char *api_key;
    char *collection;
    int64_t timeout_ms;
    bool insecure_tls;
    int split;
    int64_t retries;

    /* runtime */
    char *base;          /* url (no trailing '/') + "/collections/<escaped name>" */
    char *key_header;    /* "api-key: ..." (wiped on fini) */
    vm_http_client *http;
    vm_http_resp resp;
    vm_buf body;
    unsigned seed;

    bool loaded;
    vm_qd_info info;
    char *id_field;      /* the primary key field's name */

    /* reading */
    bool open;
    vm_task task;
    bool has_lo, has_hi;
    vm_qd_id lo, hi;
    bool have_pos;       /* pos = the last id read (or the resume cursor) */
    vm_qd_id pos;
    bool have_next;      /* the server's next_page_offset after the last page */
    vm_qd_id next;
    bool finished;
    vm_qd_rcol *rcols;
    size_t nrcols;
    bool built;
    bool want_payload;
    char *with_vector;   /* the scroll request's with_vector value (JSON) */
    vm_qd_scratch scr;
} vm_qd;

/* qdrant.c: one request with retries; 0 only for a 2xx reply (st->resp).
 * what: the operation for messages ("scroll"). */
int vm_qd_call(vm_qd *st, const char *method, const char *suffix, const char *body,
               size_t blen, const char *what, vm_err *err);
int vm_qd_load(vm_qd *st, vm_err *err);
/* Exact number of points (points/count, exact: true). */
int vm_qd_count_points(vm_qd *st, int64_t *rows, vm_err *err);
/* One scroll request: limit points from offset (NULL: the start). page
 * NULL: the reply (st->resp) is not parsed (vm_qd_read reads it). */
int vm_qd_scroll(vm_qd *st, const vm_qd_id *offset, int64_t limit, bool payload,
                 const char *with_vector, vm_qd_page *page, vm_err *err);

/* qd_plan.c */
int vm_qd_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
               vm_err *err);

/* qd_read.c */
int vm_qd_open(void *state, const vm_task *task, const char *cursor, vm_err *err);
int vm_qd_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err);
int vm_qd_cursor(void *state, char **out, vm_err *err);
void vm_qd_close(void *state);

#endif

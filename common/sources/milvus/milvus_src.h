/*
 * milvus_src.h - the `milvus` source (Milvus 2.x over REST v2): internal
 * interface shared by its files and the pure helpers the unit tests call.
 *
 * Files:
 *   milvus_src.c  ops table, config, calls with retries (through the sink's
 *                 REST v2 client, common/sinks/milvus/milvus_client.h),
 *                 load check, discover, count, plan, open / read / cursor
 *   mvs_parse.c   pure helpers: primary-key positions and filters, cursor
 *                 text, split arithmetic, base64, sparse {"idx":val}, Array
 *                 wrappers, default-value wrappers, one wire value into a
 *                 batch column
 *
 * Reading a task [lo, hi) of primary keys. Milvus's query gives no order
 * and at most 16,384 rows (offset + limit) per request, so paging uses key
 * windows, never offsets: a window [pos, H) is first probed for its keys
 * only (limit 16,384). A probe that comes back full may hide keys, so H is
 * lowered to a key of that page and the window probed again; a probe that
 * is not full lists every key of the window, so H can be set to cut exactly
 * the rows wanted. The rows of the window are then queried (they are fewer
 * than the limit), sorted by key client-side and appended. The position is
 * the window's upper bound once the window is appended whole, or "after the
 * last key appended" when the batch filled first: the cursor is exact.
 */
#ifndef VM_MILVUS_SRC_H
#define VM_MILVUS_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "milvus_client.h"
#include "vm_batch.h"
#include "vm_buf.h"
#include "vm_connector.h"
#include "vm_err.h"
#include "vm_json_scan.h"
#include "vm_schema.h"
#include "vm_task.h"

/* Milvus's query window: offset + limit <= 16384. */
#define VM_MVS_WINDOW 16384

/* ------------------------------------------------- key positions */

/* A primary-key bound: an Int64 or VarChar key, inclusive or exclusive. */
typedef struct vm_mvs_pos {
    bool set;   /* false: unbounded */
    bool excl;  /* lower bounds: "pk > k" instead of "pk >= k" */
    int64_t i;  /* Int64 keys */
    char *s;    /* VarChar keys (owned) */
} vm_mvs_pos;

void vm_mvs_pos_release(vm_mvs_pos *p);
int vm_mvs_pos_copy(vm_mvs_pos *dst, const vm_mvs_pos *src, vm_err *err);

/* The filter `pk >= lo and pk < hi` (either side may be unbounded; lo
 * exclusive gives `pk > lo`; empty text when both are). VarChar literals
 * are double-quoted with '\' and '"' escaped. Returns 0 or -1 (no memory). */
int vm_mvs_filter(vm_buf *out, const char *pk, bool str, const vm_mvs_pos *lo,
                  const vm_mvs_pos *hi);
/* Milvus string literal of s (quotes included) appended to out. */
void vm_mvs_quote(vm_buf *out, const char *s, size_t n);

/* Cursor text: {"k":<int>|"<text>","x":<excl>} or {} for an unset position. */
char *vm_mvs_cursor_encode(const vm_mvs_pos *p, bool str);
int vm_mvs_cursor_decode(const char *text, bool str, vm_mvs_pos *p, vm_err *err);

/* ------------------------------------------------ split arithmetic */

/* Tasks for `count` rows and `task_rows` per task: ceil, at least 1. */
int64_t vm_mvs_ntasks(int64_t count, int64_t task_rows);
/* Interior boundaries splitting Int64 keys [min, max] into n ranges of
 * equal width: strictly increasing, in (min, max]; *nb <= n - 1 (fewer when
 * the span has fewer values). bounds holds n - 1. */
void vm_mvs_split_int(int64_t min, int64_t max, int64_t n, int64_t *bounds, size_t *nb);
/* Boundaries for n tasks out of nkeys sorted distinct keys (a sample):
 * indexes of the keys that start tasks 2..n, strictly increasing, > 0. */
void vm_mvs_split_sample(size_t nkeys, int64_t n, size_t *idx, size_t *nb);

/* ------------------------------------------------ keys of a page */

typedef struct vm_mvs_key {
    int64_t i;           /* Int64 keys */
    const char *s;       /* VarChar keys: into the page's arena */
    size_t n;
    size_t off;          /* arena offset of s (until the arena is final) */
    vm_json_span row;    /* the row object in the answer text */
} vm_mvs_key;

/* Order of two keys (Int64 numerically, VarChar by bytes as Milvus). */
int vm_mvs_key_cmp(const vm_mvs_key *a, const vm_mvs_key *b, bool str);
/* Parse the key value span v of text s (Int64: number or numeric string;
 * VarChar: string, unescaped into arena, k->off set). 0 or error. */
int vm_mvs_key_parse(const char *s, vm_json_span v, bool str, vm_buf *arena, vm_mvs_key *k,
                     vm_err *err);
/* Index of the first key of sorted keys[from, n) greater than keys[from-1]
 * ... i.e. the smallest j >= want with keys[j] > keys[0]; n when none. */
size_t vm_mvs_next_distinct(const vm_mvs_key *keys, size_t n, size_t want, bool str);

/* ------------------------------------------------ wire values */

/* Standard base64 (padding optional, no whitespace) of s[0, n) into out;
 * exactly `want` bytes must result. 0 or -1. */
int vm_mvs_b64_decode(const char *s, size_t n, uint8_t *out, size_t want);

/* Scratch reused between values: text, sparse runs. Start zeroed. */
typedef struct vm_mvs_scratch {
    vm_buf text;
    uint32_t *idx;
    float *val;
    size_t cap;
} vm_mvs_scratch;
void vm_mvs_scratch_release(vm_mvs_scratch *s);

/* Sparse {"<idx>":<val>,...} (the object span v of text s) into sorted
 * runs scr->idx/val, *nnz entries. Errors name what is wrong. */
int vm_mvs_sparse_parse(const char *s, vm_json_span v, vm_mvs_scratch *scr, size_t *nnz,
                        vm_err *err);
/* The plain JSON array text of an Array value: the array itself, or the
 * inner data of the 2.6 wrapper {"Data":{"<X>Data":{"data":[...]}}}, "[]"
 * when the wrapper has no data (omitempty). */
int vm_mvs_array_text(const char *s, vm_json_span v, const char **out, size_t *len,
                      vm_err *err);
/* A describe defaultValue: {"Data":{"LongData":5}} -> 5; a plain value is
 * returned as it is. New reference, NULL when dv is NULL or malformed. */
json_t *vm_mvs_default_unwrap(const json_t *dv);

/* Set row `row` of column `col` (type c->type) from the wire value span v
 * of text s; MISSING and NULL give null on a nullable column. Errors name
 * the row's key (rowkey) and the field. */
int vm_mvs_set_value(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                     vm_mvs_scratch *scr, const char *rowkey, vm_err *err);

/* ------------------------------------------------ instance state */

typedef struct vm_mvs {
    /* config */
    char *uri;
    char *token;
    char *database;
    char *collection;
    bool load;
    int64_t timeout_ms;
    int64_t retries;
    bool insecure_tls;

    /* runtime */
    vm_milvus *m;
    unsigned seed;
    bool ready;          /* loaded check done */
    vm_schema *schema;   /* the source schema (describe) */
    char *pk;            /* its primary key field */
    bool str;            /* VarChar primary key */

    /* reading */
    bool open;
    vm_mvs_pos lo, hi;   /* the task */
    vm_mvs_pos pos;      /* next key to read (lower bound) */
    bool finished;
    vm_buf body, filter, arena, meta;
    vm_mvs_key *keys;
    size_t kcap;
    vm_mvs_scratch scr;
    char *text;          /* copy of the last data answer */
    size_t text_cap;
} vm_mvs;

#endif

/*
 * pinecone.h - the Pinecone (serverless) source: internal interface shared
 * by its files and the pure helpers the unit tests call.
 *
 * Files:
 *   pinecone.c   ops table, config, HTTP with retries, describe index,
 *                describe_index_stats, count
 *   pc_parse.c   pure helpers: URL encoding, list/fetch response parsing,
 *                dense and sparse values, cursors, metadata number scan
 *   pc_schema.c  discover: the sample and the schema
 *   pc_plan.c    split arithmetic (pure), probing and plan()
 *   pc_read.c    open / read / cursor: list pages, fetch batches
 *
 * Records are enumerated with GET /vectors/list (one namespace, ids sorted
 * bytewise, optional prefix, opaque pagination token) and read with GET
 * /vectors/fetch (ids as repeated query parameters). Pod-based indexes have
 * no list operation: discover refuses them.
 */
#ifndef VM_PINECONE_H
#define VM_PINECONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_batch.h"
#include "vm_buf.h"
#include "vm_config.h"
#include "vm_connector.h"
#include "vm_err.h"
#include "vm_http.h"
#include "vm_json_scan.h"
#include "vm_schema.h"
#include "vm_task.h"

/* Field names of the source schema. */
#define VM_PC_F_ID "id"
#define VM_PC_F_VALUES "values"
#define VM_PC_F_SPARSE "sparse_values"
#define VM_PC_F_NAMESPACE "namespace"
#define VM_PC_META_ALIAS "metadata"

#define VM_PC_MAX_FETCH_IDS 1000 /* Pinecone's limit per fetch */
#define VM_PC_MAX_ID_LEN 512     /* Pinecone's documented id limit (characters) */
#define VM_PC_CHAR_LO 0x01       /* record ids are ASCII without NUL (Pinecone's */
#define VM_PC_CHAR_HI 0x80       /* identifier limits): [0x01, 0x80) */
#define VM_PC_MAX_DEPTH 32       /* longest common id prefix the split descends */

/* The documented ways around pod-based indexes (api-facts.md), for messages. */
#define VM_PC_POD_HELP                                                                          \
    "pod-based indexes have no list operation, so their ids cannot be enumerated and "         \
    "vecmig will not migrate them partially; create a collection from the index and a "       \
    "serverless index from that collection (spec.serverless.source_collection), then migrate " \
    "the serverless index (or enumerate with query over metadata-filter partitions of at "     \
    "most 10,000 vectors, or take the ids from another system)"

/* ------------------------------------------------------------ pure helpers */

/* Percent-encode s[0, n) for a query string (RFC 3986 unreserved kept). */
void vm_pc_url_encode(vm_buf *b, const char *s, size_t n);

/* Pinecone metric -> Milvus metric name ("cosine" -> "COSINE", "euclidean"
 * -> "L2", "dotproduct" -> "IP"); NULL when unknown. */
const char *vm_pc_metric(const char *pinecone_metric);

/* The id field's max_length from the longest sampled id (bytes): twice it,
 * at least 64, at most 512 (Pinecone's limit); never below the longest id
 * itself (multi-byte characters may pass 512 bytes: then up to 2048). */
int64_t vm_pc_id_max_length(int64_t longest);
/* The namespace field's max_length from the longest namespace (bytes):
 * twice it, at least 64, at most 65535. */
int64_t vm_pc_ns_max_length(int64_t longest);

/* A page of GET /vectors/list: ids (allocated, each vm_free; the array too)
 * and the next token (allocated, NULL on the last page). A body that is
 * not a JSON object with a "vectors" array of {"id": string} is
 * VM_ERR_PROTOCOL; *not_json tells whether it was not JSON at all (what
 * pod-based indexes answer). */
int vm_pc_parse_list(const char *body, size_t len, char ***ids, size_t *nids, char **next,
                     bool *not_json, vm_err *err);
void vm_pc_free_ids(char **ids, size_t n);

/* Where one record's parts lie in a fetch response (spans into the body). */
typedef struct vm_pc_rec {
    bool found;
    vm_json_span values; /* kind MISSING when absent */
    vm_json_span sparse;
    vm_json_span meta;
} vm_pc_rec;

/* Parse a GET /vectors/fetch body for the requested ids (sorted bytewise,
 * distinct): out[i] describes ids[i]. Ids the server did not return stay
 * !found. Malformed JSON, a "vectors" that is not an object or a record
 * that is not an object is VM_ERR_PROTOCOL. */
int vm_pc_parse_fetch(const char *body, size_t len, const char *const *ids, size_t nids,
                      vm_pc_rec *out, vm_err *err);

/* Dense values: exactly dim numbers, each read with strtof (never through
 * double), finite. Errors name the id. */
int vm_pc_parse_dense(const char *s, vm_json_span arr, int64_t dim, float *out, const char *id,
                      vm_err *err);

/* Scratch for sparse values (reused across rows). */
typedef struct vm_pc_sparse {
    uint32_t *idx;
    float *val;
    size_t nnz, cap;
} vm_pc_sparse;
void vm_pc_sparse_release(vm_pc_sparse *sp);
/* {"indices":[...],"values":[...]}: indices integers 0..2^32-1, values
 * finite float32, same length; sorted by index on output, a repeated index
 * is an error. A MISSING or null span gives nnz 0. */
int vm_pc_parse_sparse(const char *s, vm_json_span obj, vm_pc_sparse *sp, const char *id,
                       vm_err *err);

/* Keys of a metadata object whose numbers (or numbers in arrays) have an
 * absolute value above 2^53. Calls found(ctx, key, number text) per key;
 * returns the count, or -1 when the text is not a JSON object. */
int vm_pc_meta_big_numbers(const char *s, size_t n,
                           void (*found)(void *ctx, const char *key, const char *num),
                           void *ctx);

/* Cursor: the last id finished and the pagination token of the page it
 * came from (NULL for a prefix's first page). Text is JSON
 * {"after":..,"token":..}; "{}" (or NULL / "") is the start of the range.
 * Decoding a bad cursor is VM_ERR_INVALID. */
char *vm_pc_cursor_encode(const char *after, const char *token);
int vm_pc_cursor_decode(const char *text, char **after, char **token, vm_err *err);

/* ---------------------------------------------------------- the split */

/* Group the present characters (sorted, distinct, each in [0x01, 0x80))
 * into k = min(ntasks, np) contiguous ranges that tile [0x01, 0x80): group
 * g covers [lo[g], lo[g+1]) with lo[0] = 0x01 and lo[k] = 0x80, and holds
 * members[g] present characters (np / k or one more). lo needs k + 1
 * entries, members k. Returns k (0 when np is 0 or ntasks < 1). */
size_t vm_pc_split_chars(const unsigned char *present, size_t np, int64_t ntasks,
                         unsigned char *lo, size_t *members);
/* The smallest string above every string that starts with q: q without
 * trailing 0x7f characters, its last character plus one ("doc-" -> "doc.").
 * NULL (allocated otherwise) when there is none (q empty or all 0x7f). */
char *vm_pc_prefix_successor(const char *q);
/* Tasks wanted for a namespace of `count` ids: ceil(count / task_rows), >= 1. */
int64_t vm_pc_ntasks(int64_t count, int64_t task_rows);

/* How one task's ids are enumerated.
 *   CHARS: one list per prefix q+c, c in [c_begin, c_end) (c_end <= 0x80);
 *   SCAN:  one list with prefix `prefix`, skipping ids < lo and stopping at
 *          the first id >= hi (lo/hi NULL: unbounded).
 * A KEY task [q+a, q+b) with single characters 0x01 <= a < b <= 0x7f is
 * CHARS [a, b); [q+a, successor(q)) and, for q empty, [a, +inf) are CHARS
 * [a, 0x80). ALL and every other KEY range is SCAN with the longest common
 * prefix of its bounds. */
typedef enum { VM_PC_ENUM_CHARS = 0, VM_PC_ENUM_SCAN = 1 } vm_pc_enum_mode;
typedef struct vm_pc_enum {
    vm_pc_enum_mode mode;
    char *prefix;       /* CHARS: q; SCAN: the list prefix */
    unsigned char c_begin, c, c_end; /* CHARS: [c_begin, c_end), c the current one */
    char *lo, *hi;      /* SCAN bounds (copies) */
} vm_pc_enum;
int vm_pc_enum_init(const vm_task *task, vm_pc_enum *e, vm_err *err);
void vm_pc_enum_release(vm_pc_enum *e);
/* Whether id lies in the task's range (for cursor checks and SCAN). */
bool vm_pc_enum_contains(const vm_pc_enum *e, const char *id);

/* ------------------------------------------------------------ instance */

typedef struct vm_pc_ns {
    char *name;      /* as describe_index_stats names it (what list/fetch take) */
    int64_t count;
} vm_pc_ns;

typedef struct vm_pc_page {
    char **ids;
    size_t n, pos;
    char *token;     /* token this page was requested with (NULL: first page) */
    char *next;      /* its pagination.next (NULL: last page of the prefix) */
    bool loaded;
    uint64_t gen;    /* counts pages loaded */
} vm_pc_page;

typedef struct vm_pc {
    /* config */
    char *api_key;
    char *index;
    char *host;            /* data-plane URL; default from describe_index */
    char *control_url;
    char *api_version;
    json_t *namespaces;    /* list of names (validated by init); NULL: all */
    char *collection;
    int64_t sample_rows;
    int64_t fetch_batch;
    int64_t fetch_url_bytes;
    int64_t list_limit;
    int64_t timeout_ms;
    int64_t retries;
    bool insecure_tls;

    vm_http_client *http;
    char *hdr_key, *hdr_ver;

    /* describe_index (once per instance) */
    bool described;
    char *data_url;        /* scheme://host[:port], no trailing slash */
    int64_t dim;           /* 0: sparse index */
    bool sparse_index;
    char *pc_metric;       /* as Pinecone names it */
    char *spec_text;       /* "serverless aws us-east-1" */

    /* describe_index_stats (refreshed by count and plan) */
    vm_pc_ns *ns;
    size_t nns;
    int64_t stats_dim;

    /* reading one task */
    bool open;
    char *scope;           /* namespace of the task */
    vm_pc_enum en;
    vm_pc_page page;
    bool enum_done;
    char *after;           /* skip ids <= after (resume), NULL: none */
    char *last, *last_tok; /* cursor: last id finished and its page's token */
    char *prev;            /* last id handed out (ids must come in order) */
    char *gtok;            /* token of the page the last gathered id came from */
    uint64_t gtok_gen;
    char **fids;           /* ids gathered for the next fetch (owned) */
    size_t nf, fcap;
    vm_pc_rec *recs;
    size_t rcap;
    vm_pc_sparse sp;
    vm_buf url;
    float *dense;          /* discover's scratch */
} vm_pc;

/* pinecone.c */
int vm_pc_ensure_client(vm_pc *st, vm_err *err);
int vm_pc_describe(vm_pc *st, vm_err *err);
int vm_pc_stats(vm_pc *st, vm_err *err);
/* One request through vm_http_request_retry: transport faults, 408, 429
 * (Retry-After honoured) and 5xx are retried `retries` times and, when they
 * persist, returned as that error. Any other answer returns 0 with *resp
 * filled; the caller maps non-2xx with vm_pc_status_error. */
int vm_pc_request(vm_pc *st, const char *method, const char *url, const char *body,
                  vm_http_resp *resp, vm_err *err);
/* Non-2xx -> the classified error "pinecone: <what>: HTTP n: <server's
 * message, at most 200 bytes>". */
int vm_pc_status_error(const vm_pc *st, const vm_http_resp *resp, const char *what, vm_err *err);
/* GET /vectors/list for one page. token NULL: first page. */
int vm_pc_list_page(vm_pc *st, const char *ns, const char *prefix, const char *token,
                    int64_t limit, char ***ids, size_t *nids, char **next, vm_err *err);
/* Namespace value for the namespace field ("" for the default namespace). */
const char *vm_pc_ns_value(const char *ns);

/* pc_schema.c */
int vm_pc_discover(void *state, vm_schema **out, vm_err *err);

/* pc_plan.c */
int vm_pc_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
               vm_err *err);

/* pc_read.c */
int vm_pc_open(void *state, const vm_task *task, const char *cursor, vm_err *err);
int vm_pc_read(void *state, vm_batch *batch, size_t max_rows, bool *done, vm_err *err);
int vm_pc_cursor(void *state, char **out, vm_err *err);
void vm_pc_close(void *state);
void vm_pc_free_read(vm_pc *st);
/* Fetch ids[0, n) (sorted, distinct) of namespace ns into resp; recs[i]
 * describes ids[i] with spans into resp->body. */
int vm_pc_fetch(vm_pc *st, const char *ns, const char *const *ids, size_t n,
                vm_http_resp *resp, vm_pc_rec *recs, vm_err *err);
/* How many of ids[0, n) fit one fetch (fetch_batch and the URL limit). */
size_t vm_pc_fetch_fit(const vm_pc *st, const char *ns, const char *const *ids, size_t n);

#endif

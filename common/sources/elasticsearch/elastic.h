/*
 * elastic.h - the `elasticsearch` and `opensearch` sources: one connector
 * for the two Lucene search servers, whose wire protocols (mappings, _count,
 * point in time, slices, search_after, scroll) differ only in the details a
 * flavor table holds (vector mapping type, PIT paths, the PIT tiebreaker).
 *
 * Reading, per range task (a slice of N of the index):
 *   - pit: point in time + slice + search_after. The coordinator opens one
 *     PIT at plan time and hands its id to every task (task.scope), so all
 *     slices read one snapshot; each request extends its keep_alive.
 *     Elasticsearch sorts on _shard_doc (cheap, but its sort values are only
 *     meaningful within that PIT); OpenSearch 2.x has no _shard_doc and
 *     sorts on _id (its sort values are stable across PITs).
 *   - scroll: sliced scroll sorted on _doc (the fast path of OpenSearch 2.x,
 *     where PIT slicing hashes every _id per page); a scroll context cannot
 *     be resumed, so a slice restarts.
 *
 * The cursor after each batch is {"n":rows of the slice so far,"last":"<_id
 * of the last row>"} plus, in pit mode, "pit" and "after" (the last sort
 * values). Resuming in pit mode continues after "after" in that PIT. When
 * the PIT (or the scroll) has expired, the slice is read again from its
 * start in a new PIT (or scroll) and its first n rows are skipped, not
 * written twice; the row at n must carry the _id "last", otherwise the
 * index changed since the checkpoint, and the slice is then written again
 * from its start (upserts: no duplicate in the target, but the report's
 * counts exceed the source's, and the job says so). OpenSearch's _id sort
 * values survive a new PIT: it continues after "after" without skipping.
 */
#ifndef VM_ELASTIC_H
#define VM_ELASTIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_batch.h"
#include "vm_buf.h"
#include "vm_connector.h"
#include "vm_err.h"
#include "vm_http.h"
#include "vm_json_scan.h"
#include "vm_schema.h"

/* Elasticsearch and OpenSearch: largest size of a page, and of slices. */
#define VM_ES_MAX_WINDOW 10000
#define VM_ES_MAX_SLICES 1024
/* Longest _id Elasticsearch and OpenSearch accept, in bytes. */
#define VM_ES_MAX_ID 512

typedef enum vm_es_read_mode { VM_ES_READ_AUTO = 0, VM_ES_READ_PIT, VM_ES_READ_SCROLL } vm_es_read_mode;

/* What differs between the two servers. */
typedef struct vm_es_flavor {
    const char *name;        /* "elasticsearch" */
    const char *vector_type; /* "dense_vector" / "knn_vector" */
    const char *pit_open;    /* appended to /{index}: "/_pit" */
    const char *pit_id_key;  /* key of the id in the open answer: "id" */
    const char *pit_close;   /* DELETE path: "/_pit" */
    bool pit_close_list;     /* the close body is {"pit_id":[id]} (else {"id":id}) */
    const char *pit_sort;    /* sort of pit pages */
    bool sort_stable;        /* pit sort values stay valid in a new PIT */
    vm_es_read_mode default_read;
    bool api_keys;           /* ApiKey authorization exists */
} vm_es_flavor;

extern const vm_es_flavor vm_es_elasticsearch;
extern const vm_es_flavor vm_es_opensearch;

/* How a field's values are read out of _source. */
typedef enum vm_es_enc {
    VM_ES_ENC_VALUE = 0, /* scalars, JSON, Array: by the column's type */
    VM_ES_ENC_VECTOR,    /* a float array (float or byte elements) */
    VM_ES_ENC_BITS,      /* bit vectors: hex string or array of bytes */
} vm_es_enc;

/* Statistics of a sample of documents, per top-level _source key (for
 * arrays, string sizes and vector dimensions the mapping does not give). */
typedef struct vm_es_stat {
    char *name;
    bool array;         /* some value was an array */
    size_t max_items;   /* longest array */
    size_t max_bytes;   /* longest string (UTF-8 bytes), elements included */
    int64_t dim;        /* length of the first array of numbers, 0 if none */
    bool hex;           /* some value was a string (bit vectors as hex) */
} vm_es_stat;

typedef struct vm_es_sample {
    vm_es_stat *stats;
    size_t n, cap;
    size_t docs;
} vm_es_sample;

void vm_es_sample_release(vm_es_sample *s);
/* Add the documents of a search answer (text) to the statistics. */
int vm_es_sample_add(vm_es_sample *s, const char *text, size_t len, vm_err *err);

/* The source schema of a _mapping answer (every index of it: one index,
 * an alias or a pattern; a field mapped differently in two indexes is an
 * error naming it). `collection` names the schema. *enc gets one entry per
 * schema field (vm_free). */
int vm_es_build_schema(const vm_es_flavor *fl, const json_t *mapping, const vm_es_sample *sample,
                       const char *collection, vm_schema **out, vm_es_enc **enc, vm_err *err);

/* ----------------------------------------------------------- cursor */

typedef struct vm_es_pos {
    int64_t n;    /* rows of the slice read so far */
    char *last;   /* _id of the last of them (owned), NULL when n == 0 */
    char *pit;    /* pit mode: the PIT the sort values belong to (owned) */
    char *after;  /* pit mode: JSON array text of the last sort values (owned) */
} vm_es_pos;

void vm_es_pos_release(vm_es_pos *p);
char *vm_es_cursor_encode(const vm_es_pos *p);
int vm_es_cursor_decode(const char *text, vm_es_pos *p, vm_err *err);

/* ------------------------------------------------------------ pages */

typedef struct vm_es_hit {
    vm_json_span id;     /* the _id string literal */
    vm_json_span source; /* _source, MISSING when absent */
    vm_json_span sort;   /* sort values, MISSING when absent */
} vm_es_hit;

/* A search or scroll answer: its hits, the newest pit_id and _scroll_id
 * (spans of the string literals, MISSING when absent). */
typedef struct vm_es_page {
    vm_es_hit *hits;
    size_t n, cap;
    vm_json_span pit_id, scroll_id;
    bool timed_out;
    int64_t failed_shards;
} vm_es_page;

void vm_es_page_release(vm_es_page *p);
int vm_es_parse_page(const char *text, size_t len, vm_es_page *page, vm_err *err);

/* The error of an Elasticsearch/OpenSearch error answer, as
 * "<type>: <reason>" of the first root cause (at most cap bytes), "" when
 * the body is not one. *missing_context: the PIT or scroll is gone. */
void vm_es_error_text(const char *body, size_t len, char *out, size_t cap, bool *missing_context);

/* Scratch reused between values. Start zeroed. */
typedef struct vm_es_scratch {
    vm_buf text;
} vm_es_scratch;

/* Set row `row` of column `col` from the _source value span v of text s
 * (enc: how the field is encoded); MISSING and null give null on a
 * nullable column. Errors name the document (docid) and the field. */
int vm_es_set_value(vm_batch *b, size_t col, size_t row, const char *s, vm_json_span v,
                    vm_es_enc enc, vm_es_scratch *scr, const char *who, const char *docid,
                    vm_err *err);

/* The Authorization header line for an API key ("ApiKey <key>") or a user
 * and password ("Basic <base64>"); *out NULL when neither is given,
 * otherwise allocated (wipe and free it). */
int vm_es_auth_header(const char *api_key, const char *user, const char *password, char **out,
                      vm_err *err);

/* Round a float to the nearest bfloat16 (ties to even), as its bits. */
uint16_t vm_es_bf16(float f);

/* ------------------------------------------------------------ state */

typedef struct vm_es {
    const vm_es_flavor *fl;
    /* config */
    char *url;
    char *index;
    char *api_key;
    char *username;
    char *password;
    char *ca_file;
    json_t *query;
    int read_mode;          /* vm_es_read_mode */
    int request_vectors;    /* 0 auto, 1 yes, 2 no */
    int64_t page_size;
    int64_t keep_alive_ms;
    int64_t slices;
    int64_t sample;
    int64_t timeout_ms;
    int64_t retries;
    bool insecure_tls;

    /* runtime */
    vm_http_client *http;
    vm_http_resp resp;
    unsigned seed;
    char *base;             /* url without a trailing '/' */
    char *index_path;       /* "/<escaped index>" */
    char *auth;             /* "Authorization: ..." header, or NULL */
    char keep_alive[32];    /* "600s" */
    int version_major;      /* 0: unknown */
    bool versioned;
    bool exclude_vectors_false; /* send "_source":{"exclude_vectors":false} */
    vm_schema *schema;      /* discovered */
    vm_es_enc *enc;
    char *plan_pit;         /* a PIT this instance opened in plan() (closed in fini) */

    /* reading one task */
    bool open;
    bool finished;
    int32_t slice, nslices;
    vm_es_read_mode mode;
    vm_es_pos pos;          /* after the last row returned */
    char *pit;              /* pit mode: current PIT */
    bool own_pit;           /* opened by this task: closed at its end */
    char *scroll_id;        /* scroll mode: current scroll */
    int64_t skip;           /* rows of the slice still to skip (restart) */
    char *skip_last;        /* _id the last skipped row must have */
    char *text;             /* the current page (copy) */
    size_t text_cap, text_len;
    vm_es_page page;
    size_t next;            /* next hit of the page to return */
    bool page_end;          /* the current page is the slice's last */
    int *colmap;            /* batch column -> schema field (-1: $meta) */
    size_t ncolmap;
    vm_buf body, meta;
    vm_es_scratch scr;
} vm_es;

#endif

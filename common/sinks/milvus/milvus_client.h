/*
 * milvus_client.h - a thin Milvus REST v2 client (POST + JSON envelopes).
 *
 * Every call is POST {base}/v2/vectordb/<endpoint> with a JSON body; the
 * answer is {"code":0,"data":...} or {"code":N,"message":"..."}, mostly with
 * HTTP 200. vm_milvus_classify() turns Milvus's error codes (merr) into the
 * vecmig convention: rate limits and "not ready" are retriable, parameter
 * and schema errors fatal, oversized requests VM_ERR_TOO_LARGE so the caller
 * halves the batch.
 *
 * One client per thread (it owns one keep-alive HTTP connection).
 */
#ifndef VM_MILVUS_CLIENT_H
#define VM_MILVUS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vm_err.h"
#include "vm_http.h"
#include "vm_schema.h"

typedef struct vm_milvus vm_milvus;

typedef struct vm_milvus_opts {
    const char *uri;       /* http(s)://host:port, no trailing path */
    const char *token;     /* "user:password" or API key; NULL = none */
    const char *database;  /* NULL = "default" */
    long timeout_ms;       /* 0 = 60 s */
    bool insecure;         /* skip TLS verification (warns) */
    int retries;           /* vm_milvus_callj (control plane: create, describe, index,
                              load, count, delete ...): retries of a retriable error
                              with backoff (Retry-After honoured); 0 = 5, -1 = none.
                              Writes (vm_milvus_call) are never retried here: the
                              caller splits and retries them. */
} vm_milvus_opts;

int vm_milvus_new(const vm_milvus_opts *opts, vm_milvus **out, vm_err *err);
void vm_milvus_free(vm_milvus *m);

/* Classify a Milvus error envelope. */
vm_code vm_milvus_classify(long code, const char *message, bool *retriable);
/* Interpret a finished HTTP exchange r (status, body) as a Milvus envelope:
 * VM_OK with *data (if data is not NULL) a new reference to `data` (may be
 * json_null), else the classified error naming the endpoint. */
int vm_milvus_envelope(const vm_http_resp *r, const char *endpoint, json_t **data, vm_err *err);

/* POST a body (JSON text, dbName added by the caller) to an endpoint such
 * as "collections/create"; on success *data is a new reference to `data`
 * (may be json_null). */
int vm_milvus_call(vm_milvus *m, const char *endpoint, const char *body, size_t len,
                   json_t **data, vm_err *err);
/* Same with a jansson body; dbName is set when the client has one. */
int vm_milvus_callj(vm_milvus *m, const char *endpoint, json_t *body, json_t **data,
                    vm_err *err);
/* The raw text of the last answer (valid until the next call), for callers
 * that decode `data` themselves (numbers as the server spelled them). */
const char *vm_milvus_last_body(const vm_milvus *m, size_t *len);

int vm_milvus_has(vm_milvus *m, const char *collection, bool *exists, vm_err *err);
int vm_milvus_create(vm_milvus *m, const vm_schema *s, const json_t *params,
                     const json_t *index_params, vm_err *err);
int vm_milvus_describe(vm_milvus *m, const char *collection, vm_schema **out, json_t **raw,
                       vm_err *err);
int vm_milvus_drop(vm_milvus *m, const char *collection, vm_err *err);
/* Build the entities/insert (or upsert) body around the `data` array text
 * rows_json in the client's reusable buffer, with "partitionName" when
 * partition is not NULL; returns its length, 0 when out of memory. */
size_t vm_milvus_rows_body(vm_milvus *m, const char *collection, const char *partition,
                           const char *rows_json, size_t len);
/* The length vm_milvus_rows_body would return for rows_len bytes of rows,
 * without building it (0 when out of memory). */
size_t vm_milvus_rows_body_size(const vm_milvus *m, const char *collection,
                                const char *partition, size_t rows_len);
/* Send the body built by vm_milvus_rows_body to entities/insert (upsert
 * false) or entities/upsert; the answer's insertCount / upsertCount must
 * equal expected, otherwise VM_ERR_PROTOCOL. */
int vm_milvus_send_rows(vm_milvus *m, bool upsert, size_t expected, vm_err *err);
/* Body bytes of the insert/upsert requests confirmed so far. */
uint64_t vm_milvus_rows_bytes(const vm_milvus *m);
/* Insert in one call (tests). */
int vm_milvus_insert(vm_milvus *m, const char *collection, const char *rows_json, size_t len,
                     size_t expected, vm_err *err);
int vm_milvus_delete(vm_milvus *m, const char *collection, const char *filter, vm_err *err);
/* "LoadStateLoaded", "LoadStateNotLoad", ... into state (cap bytes). */
int vm_milvus_load_state(vm_milvus *m, const char *collection, char *state, size_t cap,
                         vm_err *err);
/* Exact count(*) with Strong consistency (needs a loaded collection). */
int vm_milvus_count(vm_milvus *m, const char *collection, int64_t *rows, vm_err *err);

/* partitions/has. */
int vm_milvus_partition_has(vm_milvus *m, const char *collection, const char *partition,
                            bool *exists, vm_err *err);
/* partitions/create. Safe when workers race: a refusal after which the
 * partition exists (another worker made it) is success. A refusal because
 * the collection reached Milvus's partition limit is a fatal VM_ERR_INVALID
 * that says so. */
int vm_milvus_partition_create(vm_milvus *m, const char *collection, const char *partition,
                               vm_err *err);
/* Whether a Milvus error message is the partition-limit refusal. */
bool vm_milvus_is_partition_limit(const char *message);

/* Every index of the collection (indexes/list, then indexes/describe per
 * name; collections/describe shows only the first vector field's): a new
 * array of {indexName, fieldName, metricType, indexType}. */
int vm_milvus_indexes(vm_milvus *m, const char *collection, json_t **out, vm_err *err);
/* indexes/create with an indexParams array. */
int vm_milvus_index_create(vm_milvus *m, const char *collection, const json_t *index_params,
                           vm_err *err);
/* indexes/drop (Milvus refuses while the collection is loaded). */
int vm_milvus_index_drop(vm_milvus *m, const char *collection, const char *index_name,
                         vm_err *err);
/* collections/load, then wait until get_load_state says loaded (about ten
 * minutes at most: VM_ERR_TIMEOUT). Loading needs every vector field
 * indexed. */
int vm_milvus_load(vm_milvus *m, const char *collection, vm_err *err);
/* The two halves of vm_milvus_load: the request, and the wait. */
int vm_milvus_load_start(vm_milvus *m, const char *collection, vm_err *err);
int vm_milvus_load_wait(vm_milvus *m, const char *collection, vm_err *err);
/* collections/release. */
int vm_milvus_release(vm_milvus *m, const char *collection, vm_err *err);

#endif

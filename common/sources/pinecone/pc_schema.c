/*
 * pc_schema.c - the Pinecone source's schema, from describe_index,
 * describe_index_stats and a sample of records.
 *
 * Mapping (each field's description says the same):
 *   id              VarChar primary key; max_length = 2 x the longest sampled
 *                   id in bytes, at least 64, at most 512 (Pinecone's id
 *                   limit; more only for multi-byte ids)
 *   values          FloatVector(dimension) of dense indexes; metric cosine ->
 *                   COSINE, euclidean -> L2, dotproduct -> IP
 *   sparse_values   SparseFloatVector (metric IP) for sparse indexes, and for
 *                   dense indexes whose sample holds a non-empty sparse value
 *   namespace       VarChar: each record's namespace ("" for the default one),
 *                   max_length 2 x the longest namespace name (at least 64);
 *                   make it the partition key with the mapping
 *                   (collection: {partition_key: namespace}) or one partition
 *                   per namespace (collection: {partitions_from: namespace})
 *   metadata        the dynamic field ("$meta", alias "metadata"): lift keys
 *                   with {source: metadata.genre}; Pinecone stores metadata
 *                   numbers as float64, so a sampled number of magnitude 2^53
 *                   or more is warned about, naming the key (it may already
 *                   have lost precision in Pinecone)
 *
 * The sample: sample_rows records spread over the namespaces (the first
 * list pages of each, fetched). Pod-based indexes are refused by
 * describe_index (spec.pod) or, should the spec not say so, by a list answer
 * that is not a list; an index without vectors is refused too.
 */
#include "pinecone.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct vm_pc_seen {
    char *id;
    size_t ns; /* index into vm_pc.ns */
} vm_pc_seen;

typedef struct vm_pc_sample {
    int64_t rows, longest_id;
    vm_pc_seen *seen; /* sampled ids, to find one id in two namespaces */
    size_t nseen, scap;
    size_t ns_index;
    bool sparse_seen;
    char **warned; /* metadata keys already warned about */
    size_t nwarned, wcap;
    const char *id, *ns; /* the record being looked at */
} vm_pc_sample;

static bool vm_pc_warned(vm_pc_sample *s, const char *key)
{
    for (size_t i = 0; i < s->nwarned; i++)
        if (!strcmp(s->warned[i], key))
            return true;
    if (vm_grow((void **)&s->warned, &s->wcap, s->nwarned + 1, sizeof *s->warned) == 0 &&
        (s->warned[s->nwarned] = vm_strdup(key)))
        s->nwarned++;
    return false;
}

static void vm_pc_big_found(void *ctx, const char *key, const char *num)
{
    vm_pc_sample *s = ctx;
    char k[300];
    snprintf(k, sizeof k, "big:%s", key);
    if (vm_pc_warned(s, k))
        return;
    vm_warn("pinecone: metadata key '%s' holds numbers of magnitude 2^53 or more (%s in record "
            "'%.100s', namespace '%s'): Pinecone stores metadata numbers as float64, so such "
            "integers may already have lost precision in the source; they are copied as stored",
            key, num, s->id, s->ns);
}

/* Look at one fetched record. */
static int vm_pc_sample_rec(vm_pc *st, vm_pc_sample *s, const char *body, const vm_pc_rec *r,
                            const char *id, const char *ns, vm_err *err)
{
    int rc;
    s->rows++;
    if (vm_grow((void **)&s->seen, &s->scap, s->nseen + 1, sizeof *s->seen) != 0 ||
        !(s->seen[s->nseen].id = vm_strdup(id)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    s->seen[s->nseen++].ns = s->ns_index;
    int64_t l = (int64_t)strlen(id);
    if (l > s->longest_id)
        s->longest_id = l;
    if (!st->sparse_index) {
        if ((rc = vm_pc_parse_dense(body, r->values, st->dim, st->dense, id, err)) != VM_OK)
            return rc;
    }
    if ((rc = vm_pc_parse_sparse(body, r->sparse, &st->sp, id, err)) != VM_OK)
        return rc;
    if (st->sp.nnz > 0)
        s->sparse_seen = true;
    if (r->meta.kind == VM_JSON_OBJECT) {
        s->id = id;
        s->ns = ns;
        vm_pc_meta_big_numbers(body + r->meta.off, r->meta.len, vm_pc_big_found, s);
        static const char *const fixed[] = {VM_PC_F_ID, VM_PC_F_VALUES, VM_PC_F_SPARSE,
                                            VM_PC_F_NAMESPACE};
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
            const char *keys[] = {fixed[i]};
            vm_json_path p = {.keys = keys, .depth = 1};
            vm_json_span sp;
            vm_err e2;
            char k[64];
            snprintf(k, sizeof k, "clash:%s", fixed[i]);
            if (vm_json_find(body + r->meta.off, r->meta.len, &p, 1, &sp, &e2) == VM_OK &&
                sp.kind != VM_JSON_MISSING && !vm_pc_warned(s, k))
                vm_warn("pinecone: metadata key '%s' (record '%.100s') has the name of a fixed "
                        "field and would clash with it in the dynamic field: lift it under "
                        "another name ({source: metadata.%s, name: meta_%s})",
                        fixed[i], id, fixed[i], fixed[i]);
        }
    } else if (r->meta.kind != VM_JSON_MISSING && r->meta.kind != VM_JSON_NULL) {
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: record '%.100s': metadata is %s, not an object", id,
                          vm_json_kind_name(r->meta.kind));
    }
    return VM_OK;
}

/* Up to `take` records of namespace ns. */
static int vm_pc_sample_ns(vm_pc *st, vm_pc_sample *s, const char *ns, int64_t take,
                           vm_err *err)
{
    char **ids = NULL, *next = NULL, *token = NULL;
    size_t n = 0;
    vm_http_resp resp = {0};
    int rc = VM_OK;
    int64_t got = 0;
    while (got < take) {
        int64_t lim = take - got < st->list_limit ? take - got : st->list_limit;
        if ((rc = vm_pc_list_page(st, ns, NULL, token, lim, &ids, &n, &next, err)) != VM_OK)
            goto cleanup;
        if (n > st->rcap && vm_grow((void **)&st->recs, &st->rcap, n, sizeof *st->recs) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < n;) {
            size_t k = vm_pc_fetch_fit(st, ns, (const char *const *)ids + i, n - i);
            if ((rc = vm_pc_fetch(st, ns, (const char *const *)ids + i, k, &resp, st->recs,
                                  err)) != VM_OK)
                goto cleanup;
            for (size_t x = 0; x < k; x++)
                if (st->recs[x].found &&
                    (rc = vm_pc_sample_rec(st, s, resp.body, &st->recs[x], ids[i + x], ns, err)) !=
                        VM_OK)
                    goto cleanup;
            i += k;
        }
        got += (int64_t)n;
        vm_pc_free_ids(ids, n);
        ids = NULL;
        n = 0;
        vm_free(token);
        token = next;
        next = NULL;
        if (!token)
            break;
    }
cleanup:
    vm_pc_free_ids(ids, n);
    vm_free(next);
    vm_free(token);
    vm_http_resp_free(&resp);
    return rc;
}

static int vm_pc_cmp_seen(const void *a, const void *b)
{
    const vm_pc_seen *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->ns > y->ns) - (x->ns < y->ns);
}

/* Ids are unique per namespace only, but the primary key is the id alone:
 * an id in two namespaces would be one row in the target. Warn when the
 * sample shows one (it cannot prove there is none). */
static void vm_pc_check_shared_ids(const vm_pc *st, vm_pc_sample *s)
{
    if (s->nseen < 2)
        return;
    qsort(s->seen, s->nseen, sizeof *s->seen, vm_pc_cmp_seen);
    size_t shared = 0, first = 0;
    for (size_t i = 1; i < s->nseen; i++)
        if (!strcmp(s->seen[i].id, s->seen[i - 1].id) && s->seen[i].ns != s->seen[i - 1].ns &&
            !shared++)
            first = i;
    if (shared)
        vm_warn("pinecone: id '%.100s' is in namespaces '%s' and '%s' (%zu such ids in the "
                "sample): the primary key is the id alone, so one collection would keep one row "
                "per id; migrate those namespaces into separate collections (source.namespaces "
                "and mapping collection.name)",
                s->seen[first].id, st->ns[s->seen[first - 1].ns].name,
                st->ns[s->seen[first].ns].name, shared);
}

static int vm_pc_add(vm_schema *sc, const vm_field *f, vm_err *err)
{
    return vm_schema_add(sc, f, err);
}

int vm_pc_discover(void *state, vm_schema **out, vm_err *err)
{
    vm_pc *st = state;
    *out = NULL;
    vm_schema *sc = NULL;
    vm_pc_sample s = {0};
    int rc = vm_pc_stats(st, err);
    if (rc != VM_OK)
        return rc;
    int64_t total = 0, longest_ns = 0;
    for (size_t i = 0; i < st->nns; i++) {
        total += st->ns[i].count;
        int64_t l = (int64_t)strlen(vm_pc_ns_value(st->ns[i].name));
        if (l > longest_ns)
            longest_ns = l;
    }
    if (total == 0) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "pinecone: index '%s' has no vectors%s: nothing to migrate", st->index,
                        st->namespaces ? " in the namespaces asked for" : "");
        goto cleanup;
    }
    if (!st->sparse_index && !(st->dense = vm_malloc((size_t)st->dim * sizeof *st->dense))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    /* the sample: an even share per namespace, in name order */
    int64_t want = st->sample_rows;
    size_t nsns = st->nns;
    int64_t share = nsns ? want / (int64_t)nsns : 0;
    if (share < 1)
        share = 1;
    for (size_t i = 0; i < st->nns && s.rows < want; i++) {
        int64_t take = share < want - s.rows ? share : want - s.rows;
        if (take > st->ns[i].count)
            take = st->ns[i].count;
        s.ns_index = i;
        if (take > 0 && (rc = vm_pc_sample_ns(st, &s, st->ns[i].name, take, err)) != VM_OK)
            goto cleanup;
    }
    vm_pc_check_shared_ids(st, &s);
    if (st->sparse_index && s.rows > 0 && !s.sparse_seen) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "pinecone: index '%s' is a sparse index but no sampled record has "
                        "sparse values",
                        st->index);
        goto cleanup;
    }

    if (!st->sparse_index && !s.sparse_seen && !strcmp(st->pc_metric, "dotproduct"))
        vm_warn("pinecone: index '%s' (dotproduct) may hold sparse values, but none of the %" PRId64
                " sampled records has any: sparse values are not migrated (raise "
                "source.sample_rows if some records carry them)",
                st->index, s.rows);
    if (!(sc = vm_schema_new(st->collection))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    char desc[300];
    snprintf(desc, sizeof desc, "Pinecone index '%s' (%s, %s, %s)", st->index, st->spec_text,
             st->sparse_index ? "sparse" : "dense", st->pc_metric);
    vm_free(sc->description);
    sc->description = NULL;
    if (!(sc->description = vm_strdup(desc)) || !(sc->dynamic_alias = vm_strdup(VM_PC_META_ALIAS))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    sc->enable_dynamic = true;

    char note[300];
    int64_t idlen = vm_pc_id_max_length(s.longest_id);
    snprintf(note, sizeof note,
             "Pinecone record id -> VarChar(%" PRId64 "): 2 x the longest of %" PRId64
             " sampled ids (%" PRId64 " bytes), within Pinecone's 512-character limit",
             idlen, s.rows, s.longest_id);
    vm_field f = {.name = VM_PC_F_ID, .type = VM_T_VARCHAR, .max_length = idlen, .primary = true,
                  .description = note};
    if ((rc = vm_pc_add(sc, &f, err)) != VM_OK)
        goto cleanup;

    const char *metric = vm_pc_metric(st->pc_metric);
    if (!st->sparse_index) {
        snprintf(note, sizeof note,
                 "Pinecone dense values -> FloatVector(%" PRId64 "), float32 bits kept; metric "
                 "%s -> %s",
                 st->dim, st->pc_metric, metric ? metric : "none");
        f = (vm_field){.name = VM_PC_F_VALUES, .type = VM_T_FLOAT_VECTOR, .dim = st->dim,
                       .metric = (char *)metric, .description = note};
        if ((rc = vm_pc_add(sc, &f, err)) != VM_OK)
            goto cleanup;
    }
    if (st->sparse_index || s.sparse_seen) {
        snprintf(note, sizeof note,
                 "Pinecone sparse values -> SparseFloatVector (metric IP)%s",
                 st->sparse_index ? ": a sparse index"
                                  : ": sampled records carry them (records without are empty)");
        f = (vm_field){.name = VM_PC_F_SPARSE, .type = VM_T_SPARSE_FLOAT_VECTOR, .metric = "IP",
                       .description = note};
        if ((rc = vm_pc_add(sc, &f, err)) != VM_OK)
            goto cleanup;
    }
    int64_t nslen = vm_pc_ns_max_length(longest_ns);
    snprintf(note, sizeof note,
             "Pinecone namespace of each record (\"\" for the default namespace) -> VarChar(%" PRId64
             "); make it the partition key with the mapping (collection.partition_key: "
             "namespace)",
             nslen);
    f = (vm_field){.name = VM_PC_F_NAMESPACE, .type = VM_T_VARCHAR, .max_length = nslen,
                   .description = note};
    if ((rc = vm_pc_add(sc, &f, err)) != VM_OK)
        goto cleanup;
    vm_debug("pinecone: index '%s': %zu namespaces, %" PRId64 " vectors, %" PRId64
             " records sampled%s",
             st->index, st->nns, total, s.rows, s.sparse_seen ? ", sparse values seen" : "");
    *out = sc;
    sc = NULL;
cleanup:
    for (size_t i = 0; i < s.nseen; i++)
        vm_free(s.seen[i].id);
    vm_free(s.seen);
    for (size_t i = 0; i < s.nwarned; i++)
        vm_free(s.warned[i]);
    vm_free(s.warned);
    vm_schema_free(sc);
    return rc;
}

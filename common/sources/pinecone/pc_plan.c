/*
 * pc_plan.c - the Pinecone source's split: one task per namespace, or key
 * ranges of a namespace's ids when it holds more than task_rows of them.
 *
 * Pinecone can enumerate ids only with `list` (one namespace, ids sorted
 * bytewise, an optional prefix, an opaque token; no "start after"), so a
 * range of ids is only cheap to read when it is a union of prefixes. Record
 * ids are ASCII without NUL, 1 to 512 characters (Pinecone's identifier
 * limits; the official SDK refuses anything else), so after any prefix q
 * the next character is one of the 127 in [0x01, 0x80). The split:
 *
 *   1. A namespace with vectorCount <= task_rows is one task (kind all,
 *      scope = the namespace): list without prefix, fetch.
 *   2. A bigger one wants n = ceil(vectorCount / task_rows) tasks. The plan
 *      finds which characters follow the ids' common prefix q (q starts
 *      empty): a first list page of prefix q shows the characters of its
 *      ids, and since the page is a contiguous run of the sorted ids, every
 *      character below its last id's is known absent unless seen; each
 *      character above is probed with list(prefix=q+c, limit=1). When only
 *      one character follows q, q grows by it and the probe repeats (ids
 *      like "doc-00001" split on the digit after "doc-"), up to 32 deep.
 *   3. With np >= 2 characters present, k = min(n, np) tasks take
 *      contiguous runs of about np/k present characters each; the runs tile
 *      [q+"\x01", successor(q)) (absent characters are included: listing one
 *      costs a single empty page, and ids written after the plan are not
 *      lost). A task [q+a, q+b) lists the prefixes q+a, q+a+1, ... q+b-1 in
 *      turn.
 *   4. When q is not empty, one more task (-inf, q+"\x01") lists from the
 *      namespace's start up to the first id >= q+"\x01": the ids that are
 *      q itself or a shorter prefix of it (probing saw no other character at
 *      any level, so nothing else sorts outside q's ranges).
 * The cover is complete for ASCII ids. Should a probe page show a non-ASCII
 * id anyway, the namespace falls back to one task (with a warning); an id
 * the split could still miss would show in the migration's count check.
 *
 * The split depends only on the data and task_rows, never on the number of
 * workers. Group sizes assume ids spread evenly over the present
 * characters; est_rows says what was assumed.
 */
#include "pinecone.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* --------------------------------------------------- pure arithmetic */

int64_t vm_pc_ntasks(int64_t count, int64_t task_rows)
{
    if (task_rows < 1)
        task_rows = 1;
    if (count <= task_rows)
        return 1;
    return count / task_rows + (count % task_rows != 0);
}

size_t vm_pc_split_chars(const unsigned char *present, size_t np, int64_t ntasks,
                         unsigned char *lo, size_t *members)
{
    if (np == 0 || ntasks < 1)
        return 0;
    size_t k = (uint64_t)ntasks < np ? (size_t)ntasks : np;
    for (size_t g = 0; g < k; g++) {
        size_t a = g * np / k, b = (g + 1) * np / k;
        members[g] = b - a;
        lo[g] = g == 0 ? (unsigned char)VM_PC_CHAR_LO : present[a];
    }
    lo[k] = VM_PC_CHAR_HI;
    return k;
}

char *vm_pc_prefix_successor(const char *q)
{
    size_t n = strlen(q);
    while (n && (unsigned char)q[n - 1] >= VM_PC_CHAR_HI - 1)
        n--;
    if (!n)
        return NULL;
    char *s = vm_strndup(q, n);
    if (s)
        s[n - 1]++;
    return s;
}

void vm_pc_enum_release(vm_pc_enum *e)
{
    vm_free(e->prefix);
    vm_free(e->lo);
    vm_free(e->hi);
    *e = (vm_pc_enum){0};
}

int vm_pc_enum_init(const vm_task *task, vm_pc_enum *e, vm_err *err)
{
    *e = (vm_pc_enum){.mode = VM_PC_ENUM_SCAN};
    const char *lo = NULL, *hi = NULL;
    if (task->kind == VM_RANGE_KEY) {
        lo = task->key_lo;
        hi = task->key_hi;
    } else if (task->kind != VM_RANGE_ALL) {
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pinecone: task %u is a %s range, not a Pinecone id range", task->id,
                          vm_range_kind_name(task->kind));
    }
    size_t pl = 0;
    if (lo && hi) {
        size_t ll = strlen(lo), hl = strlen(hi);
        while (pl < ll && pl < hl && lo[pl] == hi[pl])
            pl++;
        unsigned char a = ll ? (unsigned char)lo[ll - 1] : 0, b = hl ? (unsigned char)hi[hl - 1] : 0;
        if (ll == hl && ll >= 1 && pl == ll - 1 && a >= VM_PC_CHAR_LO && a < b &&
            b < VM_PC_CHAR_HI) {
            e->mode = VM_PC_ENUM_CHARS;
            e->c_begin = e->c = a;
            e->c_end = b;
        }
    }
    if (lo && e->mode == VM_PC_ENUM_SCAN && *lo) {
        /* [q+a, successor(q)), or [a, +inf) for an empty q: to the end of q */
        size_t ll = strlen(lo);
        unsigned char a = (unsigned char)lo[ll - 1];
        char *q = vm_strndup(lo, ll - 1);
        if (!q)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        char *succ = vm_pc_prefix_successor(q);
        bool last = a >= VM_PC_CHAR_LO && a < VM_PC_CHAR_HI &&
                    (hi ? succ && !strcmp(succ, hi) : ll == 1);
        vm_free(q);
        vm_free(succ);
        if (last) {
            e->mode = VM_PC_ENUM_CHARS;
            e->c_begin = e->c = a;
            e->c_end = VM_PC_CHAR_HI;
            pl = ll - 1;
        }
    }
    if (!(e->prefix = vm_strndup(lo ? lo : "", pl)) || (lo && !(e->lo = vm_strdup(lo))) ||
        (hi && !(e->hi = vm_strdup(hi)))) {
        vm_pc_enum_release(e);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    }
    return VM_OK;
}

bool vm_pc_enum_contains(const vm_pc_enum *e, const char *id)
{
    size_t pl = strlen(e->prefix);
    if (strncmp(id, e->prefix, pl) != 0)
        return false;
    if (e->mode == VM_PC_ENUM_CHARS) {
        unsigned char c = (unsigned char)id[pl];
        return c >= e->c_begin && c < e->c_end;
    }
    return (!e->lo || strcmp(id, e->lo) >= 0) && (!e->hi || strcmp(id, e->hi) < 0);
}

/* ----------------------------------------------------------- probing */

/* Printable characters following prefix q among the namespace's ids. */
static int vm_pc_probe_level(vm_pc *st, const char *ns, const char *q, bool *present,
                             vm_err *err)
{
    char **ids = NULL, *next = NULL;
    size_t n = 0, ql = strlen(q);
    memset(present, 0, 256 * sizeof *present);
    int rc = vm_pc_list_page(st, ns, q, NULL, st->list_limit, &ids, &n, &next, err);
    if (rc != VM_OK)
        return rc;
    unsigned first_unknown = 256; /* characters from here on are unknown */
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) > ql)
            present[(unsigned char)ids[i][ql]] = true;
    if (next && n) {
        const char *last = ids[n - 1];
        first_unknown = strlen(last) > ql ? (unsigned char)last[ql] + 1u : 0u;
    }
    vm_pc_free_ids(ids, n);
    vm_free(next);
    char *pq = vm_malloc(ql + 2);
    if (!pq)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    memcpy(pq, q, ql);
    pq[ql + 1] = '\0';
    for (unsigned c = first_unknown < VM_PC_CHAR_LO ? VM_PC_CHAR_LO : first_unknown;
         c < VM_PC_CHAR_HI && rc == VM_OK; c++) {
        pq[ql] = (char)c;
        if ((rc = vm_pc_list_page(st, ns, pq, NULL, 1, &ids, &n, &next, err)) == VM_OK) {
            present[c] = n > 0;
            vm_pc_free_ids(ids, n);
            vm_free(next);
        }
    }
    vm_free(pq);
    return rc;
}

typedef struct vm_pc_emitter {
    const vm_plan_opts *opts;
    vm_task_emit_fn emit;
    void *ctx;
    uint32_t next_id;
} vm_pc_emitter;

static int vm_pc_emit(vm_pc_emitter *em, const char *ns, vm_range_kind kind, const char *lo,
                      const char *hi, int64_t est, vm_err *err)
{
    vm_task t;
    vm_task_init(&t);
    t.job_id = (char *)em->opts->job_id;
    t.id = em->next_id++;
    t.kind = kind;
    t.scope = (char *)ns;
    t.key_lo = (char *)lo;
    t.key_hi = (char *)hi;
    t.est_rows = est;
    return em->emit(em->ctx, &t, err);
}

/* q + c as a new string. */
static char *vm_pc_cat(const char *q, unsigned char c)
{
    size_t n = strlen(q);
    char *s = vm_malloc(n + 2);
    if (s) {
        memcpy(s, q, n);
        s[n] = (char)c;
        s[n + 1] = '\0';
    }
    return s;
}

static int vm_pc_split_ns(vm_pc *st, const vm_pc_ns *ns, int64_t ntasks, vm_pc_emitter *em,
                          vm_err *err)
{
    bool present[256];
    char *q = vm_strdup("");
    unsigned char chars[VM_PC_CHAR_HI - VM_PC_CHAR_LO], lo[VM_PC_CHAR_HI - VM_PC_CHAR_LO + 1];
    size_t members[VM_PC_CHAR_HI - VM_PC_CHAR_LO], np = 0;
    int rc = VM_OK;
    char *a = NULL, *b = NULL;
    bool non_ascii = false;
    if (!q)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    for (int depth = 0; depth < VM_PC_MAX_DEPTH; depth++) {
        if ((rc = vm_pc_probe_level(st, ns->name, q, present, err)) != VM_OK)
            goto cleanup;
        np = 0;
        for (unsigned c = VM_PC_CHAR_LO; c < VM_PC_CHAR_HI; c++)
            if (present[c])
                chars[np++] = (unsigned char)c;
        for (unsigned c = VM_PC_CHAR_HI; c < 256; c++)
            non_ascii |= present[c];
        if (np != 1 || non_ascii)
            break;
        char *q2 = vm_pc_cat(q, chars[0]);
        if (!q2) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        vm_free(q);
        q = q2;
    }
    size_t k = np >= 2 && !non_ascii ? vm_pc_split_chars(chars, np, ntasks, lo, members) : 0;
    if (k < 2) {
        if (non_ascii)
            vm_warn("pinecone: namespace '%s' has ids that are not ASCII (Pinecone allows only "
                    "ASCII): it is read as one task, listed from start to end",
                    ns->name);
        else
            vm_info("pinecone: namespace '%s': %" PRId64 " ids but a single character after "
                    "their common prefix '%s': one task",
                    ns->name, ns->count, q);
        rc = vm_pc_emit(em, ns->name, VM_RANGE_ALL, NULL, NULL, ns->count, err);
        goto cleanup;
    }
    vm_info("pinecone: namespace '%s': %" PRId64 " ids split into %zu ranges of the character "
            "after '%s' (%zu characters seen)",
            ns->name, ns->count, k, q, np);
    if (*q) { /* q itself and its shorter prefixes sort before every range */
        if (!(b = vm_pc_cat(q, VM_PC_CHAR_LO))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        if ((rc = vm_pc_emit(em, ns->name, VM_RANGE_KEY, NULL, b, 0, err)) != VM_OK)
            goto cleanup;
    }
    for (size_t g = 0; g < k; g++) {
        vm_free(a);
        vm_free(b);
        a = vm_pc_cat(q, lo[g]);
        b = g + 1 < k ? vm_pc_cat(q, lo[g + 1]) : vm_pc_prefix_successor(q);
        bool has_succ = false; /* q has a character below 0x7f */
        for (const char *x = q; *x; x++)
            has_succ |= (unsigned char)*x < VM_PC_CHAR_HI - 1;
        if (!a || (!b && (g + 1 < k || has_succ))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        int64_t est = (int64_t)((double)ns->count * (double)members[g] / (double)np + 0.5);
        if ((rc = vm_pc_emit(em, ns->name, VM_RANGE_KEY, a, b, est, err)) != VM_OK)
            goto cleanup;
    }
cleanup:
    vm_free(q);
    vm_free(a);
    vm_free(b);
    return rc;
}

int vm_pc_plan(void *state, const vm_plan_opts *opts, vm_task_emit_fn emit, void *emit_ctx,
               vm_err *err)
{
    vm_pc *st = state;
    int rc = vm_pc_stats(st, err);
    if (rc != VM_OK)
        return rc;
    vm_pc_emitter em = {.opts = opts, .emit = emit, .ctx = emit_ctx};
    for (size_t i = 0; i < st->nns && rc == VM_OK; i++) {
        const vm_pc_ns *ns = &st->ns[i];
        if (ns->count == 0)
            continue;
        int64_t n = vm_pc_ntasks(ns->count, opts->task_rows);
        if (n <= 1)
            rc = vm_pc_emit(&em, ns->name, VM_RANGE_ALL, NULL, NULL, ns->count, err);
        else
            rc = vm_pc_split_ns(st, ns, n, &em, err);
    }
    return rc;
}

/*
 * state_redis.c - the Redis state backend (vm_state_ops "redis").
 *
 * Every transition of a task is one Lua script (state_redis_lua.h), so it is
 * atomic on the server and measured on the server's clock. Reads that need
 * no decision are plain HMGET/SMEMBERS.
 *
 * Lost replies. vm_redis never re-sends a command whose reply was lost: it
 * may have been applied. Here the mutating scripts (claim, checkpoint,
 * finish) carry an operation id "<instance nonce>-<seq>"; the task keeps
 * the id of the last mutation applied to it. A call that fails with a
 * retriable error keeps its id (with a digest of its arguments): repeating
 * the SAME call reuses the id, and the script answers "already applied"
 * instead of applying it twice. So a worker that retries a checkpoint after
 * a Redis restart or a network blip cannot count a batch twice. A dropped
 * connection (VM_ERR_IO) is also retried once inside the call, as the next
 * call would reconnect anyway (typical after a Redis restart: the first
 * command on the old socket fails).
 */
#include "state_redis.h"
#include "state_redis_lua.h"

#include "vm_buf.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_redis.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Tasks per tasks_put script call and per tasks_list page: big enough to
 * need few round trips, small enough not to block Redis for long. */
#define VM_SR_CHUNK 500

enum {
    VM_SR_S_JOB_PUT,
    VM_SR_S_JOB_STATE,
    VM_SR_S_TASKS_PUT,
    VM_SR_S_CLAIM,
    VM_SR_S_HEARTBEAT,
    VM_SR_S_CHECKPOINT,
    VM_SR_S_FINISH,
    VM_SR_S_RESET,
    VM_SR_S_EXPIRED,
    VM_SR_S_LIST,
    VM_SR_S_JOB_CANCEL,
    VM_SR_S_JOB_RESUME,
    VM_SR_S_STATS_ADD,
    VM_SR_S_REPORT_PUT,
    VM_SR_S_WORKER_BEAT,
    VM_SR_S_WORKERS,
    VM_SR_S_LEADER,
    VM_SR_S__COUNT
};

typedef struct vm_sr {
    vm_redis *r;
    char prefix[VM_SR_PREFIX_MAX + 1];
    vm_redis_script *scripts[VM_SR_S__COUNT];
    char nonce[17];
    uint64_t seq;
    /* the last mutation that failed with a retriable error */
    bool pend;
    char pend_digest[41];
    char pend_op[48];
} vm_sr;

/* ---- helpers --------------------------------------------------------------- */

static int vm_sr_mkkey(vm_sr *s, char *buf, vm_sr_key kind, const char *job, uint32_t task,
                     vm_err *err)
{
    if (vm_sr_key_build(buf, VM_SR_KEY_MAX, s->prefix, kind, job, task) != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "state: key for job %s too long", job);
    return 0;
}

/* A string element of an array reply (NULL for nil or a missing index). */
static const char *vm_sr_el(const redisReply *rep, size_t i, size_t *len)
{
    if (!rep || rep->type != REDIS_REPLY_ARRAY || i >= rep->elements) {
        if (len)
            *len = 0;
        return NULL;
    }
    const redisReply *e = rep->element[i];
    if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
        if (len)
            *len = e->len;
        return e->str;
    }
    if (len)
        *len = 0;
    return NULL;
}

static bool vm_sr_is(const redisReply *rep, size_t i, const char *word)
{
    size_t n;
    const char *s = vm_sr_el(rep, i, &n);
    return s && n == strlen(word) && memcmp(s, word, n) == 0;
}

static int64_t vm_sr_el_i64(const redisReply *rep, size_t i)
{
    size_t n;
    int64_t v = 0;
    const char *s = vm_sr_el(rep, i, &n);
    if (s)
        vm_sr_parse_i64(s, n, &v);
    return v;
}

static int vm_sr_el_dup(const redisReply *rep, size_t i, char **out)
{
    size_t n;
    const char *s = vm_sr_el(rep, i, &n);
    *out = NULL;
    if (!s)
        return 0;
    return (*out = vm_strndup(s, n)) ? 0 : VM_ERR_NOMEM;
}

static int vm_sr_protocol(vm_err *err, const char *what, const char *job, uint32_t task)
{
    return vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: unexpected reply to %s",
                       job, (unsigned)task, what);
}

/* Run a script; a dropped connection is retried once (the retry
 * reconnects). Only for scripts that are safe to repeat: reads, idempotent
 * ones, and mutations protected by an op id. */
static int vm_sr_eval(vm_sr *s, int script, int nkeys, const char *const *keys, int nargs,
                      const char *const *args, redisReply **out, vm_err *err)
{
    int rc = vm_redis_eval(s->r, s->scripts[script], nkeys, keys, nargs, args, out, err);
    if (rc == VM_ERR_IO)
        rc = vm_redis_eval(s->r, s->scripts[script], nkeys, keys, nargs, args, out, err);
    return rc;
}

/* Same for a plain command. */
static int vm_sr_cmd(vm_sr *s, int argc, const char **argv, redisReply **out, vm_err *err)
{
    int rc = vm_redis_commandv(s->r, argc, argv, NULL, out, err);
    if (rc == VM_ERR_IO)
        rc = vm_redis_commandv(s->r, argc, argv, NULL, out, err);
    return rc;
}

/* A mutation with an op id: args[nargs - 1] is set to the op id, which is
 * reused when the same call (same script, keys and other arguments) follows
 * a retriable failure. */
static int vm_sr_mutate(vm_sr *s, int script, int nkeys, const char *const *keys, int nargs,
                        const char **args, redisReply **out, vm_err *err)
{
    vm_buf b;
    char digest[41], op[48];
    int rc = 0;
    vm_buf_init(&b);
    vm_buf_puts(&b, vm_redis_script_sha(s->scripts[script]));
    for (int i = 0; i < nkeys; i++) {
        vm_buf_putc(&b, '\0');
        vm_buf_puts(&b, keys[i]);
    }
    for (int i = 0; i < nargs - 1; i++) {
        vm_buf_putc(&b, '\0');
        vm_buf_puts(&b, args[i]);
    }
    if (!vm_buf_ok(&b)) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    vm_redis_sha1_hex(b.data, b.len, digest);
    if (s->pend && strcmp(digest, s->pend_digest) == 0)
        snprintf(op, sizeof op, "%s", s->pend_op);
    else
        snprintf(op, sizeof op, "%s-%" PRIu64, s->nonce, ++s->seq);
    args[nargs - 1] = op;
    rc = vm_sr_eval(s, script, nkeys, keys, nargs, args, out, err);
    s->pend = rc != 0 && err && err->retriable;
    if (s->pend) {
        memcpy(s->pend_digest, digest, sizeof digest);
        snprintf(s->pend_op, sizeof s->pend_op, "%s", op);
    }
cleanup:
    vm_buf_release(&b);
    return rc;
}

static int vm_sr_fenced(const redisReply *rep, const char *job, uint32_t task, uint64_t token,
                        vm_err *err)
{
    size_t n1, n2;
    const char *st = vm_sr_el(rep, 1, &n1);
    const char *owner = vm_sr_el(rep, 2, &n2);
    return vm_err_set(err, VM_ERR_FENCED, false,
                      "state: job %s task %u: token %" PRIu64
                      " no longer owns the task (now %.*s%s%.*s, token %" PRId64 ")",
                      job, (unsigned)task, token, st ? (int)n1 : 1, st ? st : "?",
                      owner ? " under " : "", owner ? (int)n2 : 0, owner ? owner : "",
                      vm_sr_el_i64(rep, 3));
}


/* ---- open / close ----------------------------------------------------------- */

static void vm_sr_close(void *st)
{
    vm_sr *s = st;
    for (int i = 0; i < VM_SR_S__COUNT; i++)
        vm_redis_script_free(s->scripts[i]);
    vm_redis_free(s->r);
    memset(s, 0, sizeof *s);
}

static int vm_sr_open(void *st, const vm_job_state_conf *conf, vm_err *err)
{
    vm_sr *s = st;
    int rc = 0;
    static const char *const texts[VM_SR_S__COUNT] = {
        [VM_SR_S_JOB_PUT] = vm_sr_lua_job_put,
        [VM_SR_S_JOB_STATE] = vm_sr_lua_job_state,
        [VM_SR_S_TASKS_PUT] = vm_sr_lua_tasks_put,
        [VM_SR_S_CLAIM] = vm_sr_lua_claim,
        [VM_SR_S_HEARTBEAT] = vm_sr_lua_heartbeat,
        [VM_SR_S_CHECKPOINT] = vm_sr_lua_checkpoint,
        [VM_SR_S_FINISH] = vm_sr_lua_finish,
        [VM_SR_S_RESET] = vm_sr_lua_reset,
        [VM_SR_S_EXPIRED] = vm_sr_lua_expired,
        [VM_SR_S_LIST] = vm_sr_lua_list,
        [VM_SR_S_JOB_CANCEL] = vm_sr_lua_job_cancel,
        [VM_SR_S_JOB_RESUME] = vm_sr_lua_job_resume,
        [VM_SR_S_STATS_ADD] = vm_sr_lua_stats_add,
        [VM_SR_S_REPORT_PUT] = vm_sr_lua_report_put,
        [VM_SR_S_WORKER_BEAT] = vm_sr_lua_worker_beat,
        [VM_SR_S_WORKERS] = vm_sr_lua_workers,
        [VM_SR_S_LEADER] = vm_sr_lua_leader,
    };
    const char *prefix = conf->key_prefix ? conf->key_prefix : "vecmig:";
    if (!conf->url || !*conf->url)
        return vm_err_setc(err, VM_ERR_INVALID, "state.url: required for redis state");
    if ((rc = vm_sr_prefix_check(prefix, err)) != 0)
        return rc;
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    for (int i = 0; i < VM_SR_S__COUNT; i++)
        if ((rc = vm_redis_script_new(texts[i], &s->scripts[i], err)) != 0)
            goto cleanup;
    vm_state_nonce(s->nonce);
    vm_redis_opts o = {.url = conf->url};
    rc = vm_redis_connect(&o, &s->r, err);
cleanup:
    if (rc != 0)
        vm_sr_close(s);
    return rc;
}

/* ---- jobs ------------------------------------------------------------------ */

static int vm_sr_job_put(void *st, const char *job, const json_t *record, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], k_jobs[VM_SR_KEY_MAX];
    char *text = NULL;
    redisReply *rep = NULL;
    int rc = 0;
    if ((rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_jobs, VM_SR_KEY_JOBS, job, 0, err)) != 0)
        goto cleanup;
    if (!(text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: job %s: cannot encode the record", job);
        goto cleanup;
    }
    const char *keys[] = {k_job};
    const char *args[] = {job, text};
    if ((rc = vm_sr_eval(s, VM_SR_S_JOB_PUT, 1, keys, 2, args, &rep, err)) != 0)
        goto cleanup;
    /* the index is written after the job, outside the script: it lives in
     * another cluster slot; jobs_list skips ids whose job is gone */
    const char *sadd[] = {"SADD", k_jobs, job};
    rc = vm_sr_cmd(s, 3, sadd, NULL, err);
cleanup:
    if (rep)
        freeReplyObject(rep);
    free(text);
    return rc;
}

static int vm_sr_job_get(void *st, const char *job, vm_job_info *out, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *argv[] = {"HMGET",      k_job,       "state",
                          "record",     "created_ms", "updated_ms", "cancel_ms"};
    if ((rc = vm_sr_cmd(s, 7, argv, &rep, err)) != 0)
        goto cleanup;
    size_t n;
    const char *state = vm_sr_el(rep, 0, &n);
    if (!state) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
        goto cleanup;
    }
    char sb[16];
    snprintf(sb, sizeof sb, "%.*s", (int)(n < 15 ? n : 15), state);
    const char *rec = vm_sr_el(rep, 1, &n);
    json_error_t je;
    if (vm_job_state_parse(sb, &out->state) != 0 || !rec ||
        !(out->record = json_loadb(rec, n, JSON_REJECT_DUPLICATES, &je))) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unreadable stored job", job);
        goto cleanup;
    }
    out->created_ms = vm_sr_el_i64(rep, 2);
    out->updated_ms = vm_sr_el_i64(rep, 3);
    out->cancel_ms = vm_sr_el_i64(rep, 4);
    if (!(out->id = vm_strdup(job)))
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
cleanup:
    if (rc != 0)
        vm_job_info_release(out);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_set_state(void *st, const char *job, vm_job_state state, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *keys[] = {k_job};
    const char *args[] = {vm_job_state_name(state)};
    if ((rc = vm_sr_eval(s, VM_SR_S_JOB_STATE, 1, keys, 1, args, &rep, err)) != 0)
        return rc;
    if (rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "NOT_FOUND") == 0)
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_jobs_list(void *st, char ***ids, size_t *n, vm_err *err)
{
    vm_sr *s = st;
    char k_jobs[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_jobs, VM_SR_KEY_JOBS, "", 0, err);
    if (rc)
        return rc;
    const char *argv[] = {"SMEMBERS", k_jobs};
    if ((rc = vm_sr_cmd(s, 2, argv, &rep, err)) != 0)
        return rc;
    char **v = NULL;
    size_t k = 0;
    if (rep->type != REDIS_REPLY_ARRAY) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: unexpected reply to SMEMBERS");
        goto cleanup;
    }
    if (rep->elements && !(v = vm_calloc(rep->elements, sizeof *v))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        if ((rc = vm_sr_el_dup(rep, i, &v[k])) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
            goto cleanup;
        }
        if (v[k])
            k++;
    }
    *ids = v;
    *n = k;
    v = NULL;
cleanup:
    vm_state_ids_free(v, k);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_counters(void *st, const char *job, vm_job_counters *out, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *argv[] = {"HMGET",        k_job,        "tasks_total", "tasks_pending",
                          "tasks_running", "tasks_done", "tasks_failed", "rows_read",
                          "rows_written", "cancel_ms"};
    if ((rc = vm_sr_cmd(s, 10, argv, &rep, err)) != 0)
        return rc;
    if (!vm_sr_el(rep, 0, NULL)) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else {
        int64_t *f[] = {&out->tasks_total, &out->pending,   &out->running,
                        &out->done,        &out->failed,    &out->rows_read,
                        &out->rows_written, &out->cancel_ms};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            *f[i] = vm_sr_el_i64(rep, i);
    }
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_delete(void *st, const char *job, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], k_tasks[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX],
        k_jobs[VM_SR_KEY_MAX], pfx[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    const char **argv = NULL;
    char **owned = NULL;
    size_t nowned = 0;
    int rc = 0;
    if ((rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_tasks, VM_SR_KEY_TASKS, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_leases, VM_SR_KEY_LEASES, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_jobs, VM_SR_KEY_JOBS, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, pfx, VM_SR_KEY_TASK_PREFIX, job, 0, err)) != 0)
        goto cleanup;
    if (!(argv = vm_calloc(VM_SR_CHUNK + 2, sizeof *argv)) ||
        !(owned = vm_calloc(VM_SR_CHUNK, sizeof *owned))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    /* tasks page by page from the front: each page is deleted with the
     * task keys and removed from the index before the next is read */
    for (;;) {
        char stop[24];
        snprintf(stop, sizeof stop, "%d", VM_SR_CHUNK - 1);
        const char *zr[] = {"ZRANGE", k_tasks, "0", stop};
        if ((rc = vm_sr_cmd(s, 4, zr, &rep, err)) != 0)
            goto cleanup;
        if (rep->type != REDIS_REPLY_ARRAY) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected ZRANGE reply", job);
            goto cleanup;
        }
        if (rep->elements == 0)
            break;
        nowned = 0;
        for (size_t i = 0; i < rep->elements && i < VM_SR_CHUNK; i++) {
            size_t n;
            const char *id = vm_sr_el(rep, i, &n);
            if (!id)
                continue;
            size_t need = strlen(pfx) + n + 1;
            if (!(owned[nowned] = vm_malloc(need))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
                goto cleanup;
            }
            snprintf(owned[nowned], need, "%s%.*s", pfx, (int)n, id);
            nowned++;
        }
        argv[0] = "DEL";
        for (size_t i = 0; i < nowned; i++)
            argv[1 + i] = owned[i];
        if (nowned && (rc = vm_sr_cmd(s, (int)nowned + 1, argv, NULL, err)) != 0)
            goto cleanup;
        argv[0] = "ZREM";
        argv[1] = k_tasks;
        size_t zn = 0;
        for (size_t i = 0; i < rep->elements && i < VM_SR_CHUNK; i++)
            if (vm_sr_el(rep, i, NULL))
                argv[2 + zn++] = rep->element[i]->str;
        if ((rc = vm_sr_cmd(s, (int)zn + 2, argv, NULL, err)) != 0)
            goto cleanup;
        for (size_t i = 0; i < nowned; i++) {
            vm_free(owned[i]);
            owned[i] = NULL;
        }
        nowned = 0;
        freeReplyObject(rep);
        rep = NULL;
    }
    char k_workers[VM_SR_KEY_MAX + 16];
    snprintf(k_workers, sizeof k_workers, "%s:workers", k_job);
    const char *del[] = {"DEL", k_job, k_tasks, k_leases, k_workers};
    if ((rc = vm_sr_cmd(s, 5, del, NULL, err)) != 0)
        goto cleanup;
    const char *srem[] = {"SREM", k_jobs, job};
    rc = vm_sr_cmd(s, 3, srem, NULL, err);
cleanup:
    for (size_t i = 0; owned && i < nowned; i++)
        vm_free(owned[i]);
    vm_free(owned);
    vm_free(argv);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* ---- tasks ------------------------------------------------------------------ */

static int vm_sr_tasks_put(void *st, const char *job, const vm_task *tasks, size_t n,
                           vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], k_tasks[VM_SR_KEY_MAX], pfx[VM_SR_KEY_MAX];
    const char **args = NULL;
    char **texts = NULL;
    char (*ids)[12] = NULL;
    redisReply *rep = NULL;
    size_t chunk = n < VM_SR_CHUNK ? n : VM_SR_CHUNK;
    int rc = 0;
    if ((rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_tasks, VM_SR_KEY_TASKS, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, pfx, VM_SR_KEY_TASK_PREFIX, job, 0, err)) != 0)
        goto cleanup;
    if (!(args = vm_calloc(1 + 2 * chunk, sizeof *args)) ||
        !(texts = vm_calloc(chunk, sizeof *texts)) || !(ids = vm_calloc(chunk, sizeof *ids))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    const char *keys[] = {k_job, k_tasks};
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        args[0] = pfx;
        for (size_t i = 0; i < m; i++) {
            if (!(texts[i] = vm_task_encode(&tasks[at + i]))) {
                rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
                goto cleanup;
            }
            snprintf(ids[i], sizeof ids[i], "%u", (unsigned)tasks[at + i].id);
            args[1 + 2 * i] = ids[i];
            args[2 + 2 * i] = texts[i];
        }
        rc = vm_sr_eval(s, VM_SR_S_TASKS_PUT, 2, keys, (int)(1 + 2 * m), args, &rep, err);
        for (size_t i = 0; i < m; i++) {
            free(texts[i]);
            texts[i] = NULL;
        }
        if (rc != 0)
            goto cleanup;
        if (vm_sr_is(rep, 0, "NOT_FOUND")) {
            rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
            goto cleanup;
        }
        if (vm_sr_is(rep, 0, "CONFLICT")) {
            rc = vm_err_setc(err, VM_ERR_EXISTS,
                             "state: job %s: task %" PRId64
                             " is already stored with a different range",
                             job, vm_sr_el_i64(rep, 1));
            goto cleanup;
        }
        if (!vm_sr_is(rep, 0, "OK")) {
            rc = vm_sr_protocol(err, "tasks_put", job, tasks[at].id);
            goto cleanup;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
cleanup:
    for (size_t i = 0; texts && i < chunk; i++)
        free(texts[i]);
    vm_free(texts);
    vm_free(ids);
    vm_free(args);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* The three keys every transition script takes. */
static int vm_sr_task_keys(vm_sr *s, const char *job, uint32_t task, char k_task[],
                           char k_job[], char k_leases[], vm_err *err)
{
    int rc;
    if ((rc = vm_sr_mkkey(s, k_task, VM_SR_KEY_TASK, job, task, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, k_leases, VM_SR_KEY_LEASES, job, 0, err)) != 0)
        return rc;
    return 0;
}

static int vm_sr_task_claim(void *st, const char *job, uint32_t task, const char *worker,
                            int64_t lease_ms, vm_claim *out, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX];
    char id[12], lease[24];
    redisReply *rep = NULL;
    int rc = vm_sr_task_keys(s, job, task, k_task, k_job, k_leases, err);
    if (rc)
        return rc;
    snprintf(id, sizeof id, "%u", (unsigned)task);
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {id, worker, lease, NULL};
    if ((rc = vm_sr_mutate(s, VM_SR_S_CLAIM, 3, keys, 4, args, &rep, err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "NOT_FOUND")) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
        goto cleanup;
    }
    if (vm_sr_is(rep, 0, "CLAIMED"))
        out->outcome = VM_CLAIM_CLAIMED;
    else if (vm_sr_is(rep, 0, "BUSY"))
        out->outcome = VM_CLAIM_BUSY;
    else if (vm_sr_is(rep, 0, "DONE"))
        out->outcome = VM_CLAIM_DONE;
    else if (vm_sr_is(rep, 0, "FAILED"))
        out->outcome = VM_CLAIM_FAILED;
    else if (vm_sr_is(rep, 0, "CANCELLED"))
        out->outcome = VM_CLAIM_CANCELLED;
    else {
        rc = vm_sr_protocol(err, "claim", job, task);
        goto cleanup;
    }
    size_t n;
    const char *tok = vm_sr_el(rep, 2, &n);
    if (tok && vm_sr_parse_u64(tok, n, &out->token) != 0) {
        rc = vm_sr_protocol(err, "claim", job, task);
        goto cleanup;
    }
    out->lease_until_ms = vm_sr_el_i64(rep, 3);
    out->attempts = vm_sr_el_i64(rep, 4);
    out->rows_read = vm_sr_el_i64(rep, 6);
    out->rows_written = vm_sr_el_i64(rep, 7);
    out->prior_claim = vm_sr_is(rep, 8, "1");
    if (vm_sr_el_dup(rep, 1, &out->owner) != 0 || vm_sr_el_dup(rep, 5, &out->cursor) != 0)
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
cleanup:
    if (rc != 0)
        vm_claim_release(out);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_task_heartbeat(void *st, const char *job, uint32_t task, uint64_t token,
                                int64_t lease_ms, int64_t *lease_until, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX];
    char id[12], tok[24], lease[24];
    redisReply *rep = NULL;
    int rc = vm_sr_task_keys(s, job, task, k_task, k_job, k_leases, err);
    if (rc)
        return rc;
    snprintf(id, sizeof id, "%u", (unsigned)task);
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    const char *keys[] = {k_task, k_leases};
    const char *args[] = {id, tok, lease};
    /* idempotent: extending a lease twice is the same as once */
    if ((rc = vm_sr_eval(s, VM_SR_S_HEARTBEAT, 2, keys, 3, args, &rep, err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "OK"))
        *lease_until = vm_sr_el_i64(rep, 1);
    else if (vm_sr_is(rep, 0, "FENCED"))
        rc = vm_sr_fenced(rep, job, task, token, err);
    else if (vm_sr_is(rep, 0, "NOT_FOUND"))
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
    else
        rc = vm_sr_protocol(err, "heartbeat", job, task);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_task_checkpoint(void *st, const char *job, uint32_t task, uint64_t token,
                                 const char *cursor, int64_t d_read, int64_t d_written,
                                 int64_t lease_ms, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX];
    char id[12], tok[24], dr[24], dw[24], lease[24];
    redisReply *rep = NULL;
    int rc = vm_sr_task_keys(s, job, task, k_task, k_job, k_leases, err);
    if (rc)
        return rc;
    snprintf(id, sizeof id, "%u", (unsigned)task);
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    snprintf(dr, sizeof dr, "%" PRId64, d_read);
    snprintf(dw, sizeof dw, "%" PRId64, d_written);
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {id, tok, cursor ? "1" : "0", cursor ? cursor : "", dr, dw, lease, NULL};
    if ((rc = vm_sr_mutate(s, VM_SR_S_CHECKPOINT, 3, keys, 8, args, &rep, err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "FENCED"))
        rc = vm_sr_fenced(rep, job, task, token, err);
    else if (vm_sr_is(rep, 0, "NOT_FOUND"))
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
    else if (!vm_sr_is(rep, 0, "OK"))
        rc = vm_sr_protocol(err, "checkpoint", job, task);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_task_finish(void *st, const char *job, uint32_t task, uint64_t token,
                             vm_task_state final_state, const char *error,
                             vm_finish_result *out, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX];
    char id[12], tok[24];
    char *msg = NULL;
    redisReply *rep = NULL;
    int rc = vm_sr_task_keys(s, job, task, k_task, k_job, k_leases, err);
    if (rc)
        return rc;
    if (error) {
        /* stored errors pass the redactor like every message */
        size_t cap = strlen(error) + 1 < 4096 ? strlen(error) + 1 : 4096;
        if (!(msg = vm_malloc(cap)))
            return vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        snprintf(msg, cap, "%s", error);
        vm_redact(msg, cap);
    }
    snprintf(id, sizeof id, "%u", (unsigned)task);
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {id, tok, vm_task_state_name(final_state), msg ? "1" : "0",
                          msg ? msg : "", NULL};
    if ((rc = vm_sr_mutate(s, VM_SR_S_FINISH, 3, keys, 6, args, &rep, err)) != 0)
        goto cleanup;
    if (vm_sr_is(rep, 0, "APPLIED") || vm_sr_is(rep, 0, "ALREADY")) {
        size_t n;
        const char *stv = vm_sr_el(rep, 1, &n);
        char sb[16];
        snprintf(sb, sizeof sb, "%.*s", stv ? (int)(n < 15 ? n : 15) : 0, stv ? stv : "");
        out->applied = vm_sr_is(rep, 0, "APPLIED");
        if (vm_task_state_parse(sb, &out->state) != 0)
            rc = vm_sr_protocol(err, "finish", job, task);
    } else if (vm_sr_is(rep, 0, "FENCED")) {
        rc = vm_sr_fenced(rep, job, task, token, err);
    } else if (vm_sr_is(rep, 0, "NOT_FOUND")) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
    } else {
        rc = vm_sr_protocol(err, "finish", job, task);
    }
cleanup:
    vm_free(msg);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* Fenced; no op id and no retry inside (vm_state.h: not repeated). */
static int vm_sr_task_stats_add(void *st, const char *job, uint32_t task, uint64_t token,
                                const vm_task_stats *d, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], nums[6][24];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_task, VM_SR_KEY_TASK, job, task, err);
    if (rc)
        return rc;
    snprintf(nums[0], sizeof nums[0], "%" PRIu64, token);
    const int64_t v[] = {d->retries, d->splits, d->changed, d->truncated, d->run_ms};
    for (int i = 0; i < 5; i++)
        snprintf(nums[i + 1], sizeof nums[i + 1], "%" PRId64, v[i]);
    const char *keys[] = {k_task};
    const char *args[] = {nums[0], nums[1], nums[2], nums[3], nums[4], nums[5]};
    if ((rc = vm_redis_eval(s->r, s->scripts[VM_SR_S_STATS_ADD], 1, keys, 6, args, &rep,
                            err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "FENCED"))
        rc = vm_sr_fenced(rep, job, task, token, err);
    else if (vm_sr_is(rep, 0, "NOT_FOUND"))
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
    else if (!vm_sr_is(rep, 0, "OK"))
        rc = vm_sr_protocol(err, "stats", job, task);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_report_put(void *st, const char *job, const char *report, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *keys[] = {k_job};
    const char *args[] = {report};
    /* idempotent: storing the same report twice is storing it once */
    if ((rc = vm_sr_eval(s, VM_SR_S_REPORT_PUT, 1, keys, 1, args, &rep, err)) != 0)
        return rc;
    if (rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "NOT_FOUND") == 0)
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_report_get(void *st, const char *job, char **report, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *argv[] = {"HMGET", k_job, "state", "report"};
    if ((rc = vm_sr_cmd(s, 4, argv, &rep, err)) != 0)
        return rc;
    if (!vm_sr_el(rep, 0, NULL))
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    else if (vm_sr_el_dup(rep, 1, report) != 0)
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
    else if (!*report)
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s has no report yet", job);
    freeReplyObject(rep);
    return rc;
}

/* ---- the worker registry: hash "<job key>:workers" ------------------------ */

static int vm_sr_workers_key(vm_sr *s, char *buf, size_t size, const char *job, vm_err *err)
{
    char k_job[VM_SR_KEY_MAX];
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc == 0)
        snprintf(buf, size, "%s:workers", k_job);
    return rc;
}

static int vm_sr_worker_beat(void *st, const char *job, const char *worker, int64_t task,
                             int64_t rows, vm_err *err)
{
    vm_sr *s = st;
    char key[VM_SR_KEY_MAX + 16], t[24], r[24];
    redisReply *rep = NULL;
    int rc = vm_sr_workers_key(s, key, sizeof key, job, err);
    if (rc)
        return rc;
    snprintf(t, sizeof t, "%" PRId64, task);
    snprintf(r, sizeof r, "%" PRId64, rows);
    const char *keys[] = {key};
    const char *args[] = {worker, t, r};
    if ((rc = vm_sr_eval(s, VM_SR_S_WORKER_BEAT, 1, keys, 3, args, &rep, err)) != 0)
        return rc;
    freeReplyObject(rep);
    return 0;
}

static int vm_sr_worker_cmp(const void *a, const void *b)
{
    return strcmp(((const vm_worker_status *)a)->id, ((const vm_worker_status *)b)->id);
}

static int vm_sr_workers_list(void *st, const char *job, int64_t drop_after_ms,
                              vm_worker_status **arr, size_t *n, int64_t *now_ms, vm_err *err)
{
    vm_sr *s = st;
    char key[VM_SR_KEY_MAX + 16], d[24];
    redisReply *rep = NULL;
    vm_worker_status *out = NULL;
    size_t cnt = 0;
    int rc = vm_sr_workers_key(s, key, sizeof key, job, err);
    if (rc)
        return rc;
    snprintf(d, sizeof d, "%" PRId64, drop_after_ms);
    const char *keys[] = {key};
    const char *args[] = {d};
    if ((rc = vm_sr_eval(s, VM_SR_S_WORKERS, 1, keys, 1, args, &rep, err)) != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || rep->elements % 2 != 1) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected workers reply", job);
        goto cleanup;
    }
    *now_ms = vm_sr_el_i64(rep, 0);
    size_t m = (rep->elements - 1) / 2;
    if (m && !(out = vm_calloc(m, sizeof *out))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < m; i++) {
        const char *v = vm_sr_el(rep, 2 + 2 * i, NULL);
        long long t = -1, b = 0, r = 0;
        if (vm_sr_el_dup(rep, 1 + 2 * i, &out[cnt].id) != 0 || !out[cnt].id) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
            goto cleanup;
        }
        if (!v || sscanf(v, "%lld %lld %lld", &t, &b, &r) != 3) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unreadable worker entry %s",
                             job, out[cnt].id);
            cnt++;
            goto cleanup;
        }
        out[cnt].task_id = t;
        out[cnt].last_beat_ms = b;
        out[cnt].rows = r;
        cnt++;
    }
    if (cnt > 1)
        qsort(out, cnt, sizeof *out, vm_sr_worker_cmp);
    *arr = out;
    *n = cnt;
    out = NULL;
cleanup:
    vm_worker_status_free_array(out, cnt);
    freeReplyObject(rep);
    return rc;
}

/* ---- the leader lock: string "<job key>:leader" ------------------------- */

static int vm_sr_leader(void *st, const char *job, vm_leader_op op, const char *owner,
                        int64_t lease_ms, vm_leader *out, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], key[VM_SR_KEY_MAX + 16], ms[24];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    snprintf(key, sizeof key, "%s:leader", k_job);
    snprintf(ms, sizeof ms, "%" PRId64, lease_ms > 0 ? lease_ms : 1);
    static const char *const ops[] = {"acquire", "renew", "release"};
    const char *keys[] = {key};
    const char *args[] = {ops[op], owner, ms};
    if ((rc = vm_sr_eval(s, VM_SR_S_LEADER, 1, keys, 3, args, &rep, err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "HELD")) {
        out->held = true;
        out->remaining_ms = vm_sr_el_i64(rep, 1);
    } else if (vm_sr_is(rep, 0, "RELEASED")) {
        out->held = true;
    } else if (vm_sr_is(rep, 0, "BUSY")) {
        if (vm_sr_el_dup(rep, 1, &out->holder) != 0)
            rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        out->remaining_ms = vm_sr_el_i64(rep, 2);
        if (out->remaining_ms < 0)
            out->remaining_ms = 0;
    } else if (!vm_sr_is(rep, 0, "NONE")) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected reply to the leader "
                                               "lock", job);
    }
    freeReplyObject(rep);
    return rc;
}

/* Decode one task from elements [at, at + VM_SR_NFIELDS) of rep. */
static int vm_sr_decode_at(const redisReply *rep, size_t at, const char *job, uint32_t task,
                           vm_task_status *out, vm_err *err)
{
    const char *v[VM_SR_NFIELDS];
    size_t len[VM_SR_NFIELDS];
    for (size_t i = 0; i < VM_SR_NFIELDS; i++)
        v[i] = vm_sr_el(rep, at + i, &len[i]);
    return vm_sr_decode_status(job, task, v, len, out, err);
}

static int vm_sr_task_get(void *st, const char *job, uint32_t task, vm_task_status *out,
                          vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_task, VM_SR_KEY_TASK, job, task, err);
    if (rc)
        return rc;
    const char *argv[2 + VM_SR_NFIELDS] = {"HMGET", k_task};
    for (size_t i = 0; i < VM_SR_NFIELDS; i++)
        argv[2 + i] = vm_sr_status_fields[i];
    if ((rc = vm_sr_cmd(s, 2 + VM_SR_NFIELDS, argv, &rep, err)) != 0)
        return rc;
    rc = vm_sr_decode_at(rep, 0, job, task, out, err);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_tasks_list(void *st, const char *job, vm_task_status **arr, size_t *n,
                            vm_err *err)
{
    vm_sr *s = st;
    char k_tasks[VM_SR_KEY_MAX], pfx[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    vm_task_status *v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0;
    if ((rc = vm_sr_mkkey(s, k_tasks, VM_SR_KEY_TASKS, job, 0, err)) != 0 ||
        (rc = vm_sr_mkkey(s, pfx, VM_SR_KEY_TASK_PREFIX, job, 0, err)) != 0)
        return rc;
    const char *keys[] = {k_tasks};
    for (long start = 0;; start += VM_SR_CHUNK) {
        char a[24], b[24];
        snprintf(a, sizeof a, "%ld", start);
        snprintf(b, sizeof b, "%ld", start + VM_SR_CHUNK - 1);
        const char *args[] = {pfx, a, b};
        if ((rc = vm_sr_eval(s, VM_SR_S_LIST, 1, keys, 3, args, &rep, err)) != 0)
            goto cleanup;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements % (1 + VM_SR_NFIELDS) != 0) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected task list reply",
                             job);
            goto cleanup;
        }
        size_t m = rep->elements / (1 + VM_SR_NFIELDS);
        if (m == 0)
            break;
        if (vm_grow((void **)&v, &cap, k + m, sizeof *v) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < m; i++) {
            size_t at = i * (1 + VM_SR_NFIELDS), len;
            const char *ids = vm_sr_el(rep, at, &len);
            int64_t id;
            if (!ids || vm_sr_parse_i64(ids, len, &id) != 0 || id < 0 || id > UINT32_MAX) {
                rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: bad task id in index", job);
                goto cleanup;
            }
            rc = vm_sr_decode_at(rep, at + 1, job, (uint32_t)id, &v[k], err);
            if (rc == VM_ERR_NOT_FOUND) /* deleted between index and read */
                continue;
            if (rc != 0)
                goto cleanup;
            k++;
        }
        freeReplyObject(rep);
        rep = NULL;
        if (m < VM_SR_CHUNK)
            break;
    }
    *arr = v;
    *n = k;
    v = NULL;
    rc = 0;
cleanup:
    vm_task_status_free_array(v, k);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int vm_sr_tasks_expired(void *st, const char *job, uint32_t **ids, size_t *n,
                               vm_err *err)
{
    vm_sr *s = st;
    char k_leases[VM_SR_KEY_MAX];
    redisReply *rep = NULL;
    uint32_t *v = NULL;
    int rc = vm_sr_mkkey(s, k_leases, VM_SR_KEY_LEASES, job, 0, err);
    if (rc)
        return rc;
    const char *keys[] = {k_leases};
    if ((rc = vm_sr_eval(s, VM_SR_S_EXPIRED, 1, keys, 0, NULL, &rep, err)) != 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected reply", job);
        goto cleanup;
    }
    if (rep->elements && !(v = vm_calloc(rep->elements, sizeof *v))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        size_t len;
        const char *s_id = vm_sr_el(rep, i, &len);
        int64_t id;
        if (!s_id || vm_sr_parse_i64(s_id, len, &id) != 0 || id < 0 || id > UINT32_MAX) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: bad task id in leases", job);
            goto cleanup;
        }
        v[i] = (uint32_t)id;
    }
    *ids = v;
    *n = rep->elements;
    v = NULL;
cleanup:
    vm_free(v);
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_task_reset(void *st, const char *job, uint32_t task, vm_err *err)
{
    vm_sr *s = st;
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX];
    char id[12];
    redisReply *rep = NULL;
    int rc = vm_sr_task_keys(s, job, task, k_task, k_job, k_leases, err);
    if (rc)
        return rc;
    snprintf(id, sizeof id, "%u", (unsigned)task);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {id};
    /* idempotent: a second reset finds the task pending */
    if ((rc = vm_sr_eval(s, VM_SR_S_RESET, 3, keys, 1, args, &rep, err)) != 0)
        return rc;
    if (vm_sr_is(rep, 0, "OK")) {
        rc = 0;
    } else if (vm_sr_is(rep, 0, "DONE")) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "state: job %s task %u is done: nothing to reset",
                        job, (unsigned)task);
    } else if (vm_sr_is(rep, 0, "BUSY")) {
        size_t n;
        const char *owner = vm_sr_el(rep, 1, &n);
        rc = vm_err_set(err, VM_ERR_UNAVAILABLE, true,
                        "state: job %s task %u runs under %.*s with a live lease (until %" PRId64
                        " ms)",
                        job, (unsigned)task, owner ? (int)n : 1, owner ? owner : "?",
                        vm_sr_el_i64(rep, 2));
    } else if (vm_sr_is(rep, 0, "NOT_FOUND")) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
    } else {
        rc = vm_sr_protocol(err, "reset", job, task);
    }
    freeReplyObject(rep);
    return rc;
}

/* ---- cancel / resume ---------------------------------------------------------- */

static int vm_sr_job_cancel(void *st, const char *job, vm_cancel_result *out, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], sb[16];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *keys[] = {k_job};
    /* idempotent: a second request finds the mark and keeps it */
    if ((rc = vm_sr_eval(s, VM_SR_S_JOB_CANCEL, 1, keys, 0, NULL, &rep, err)) != 0)
        return rc;
    size_t n;
    const char *stv = vm_sr_el(rep, 1, &n);
    if (vm_sr_is(rep, 0, "NOT_FOUND")) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else if (vm_sr_is(rep, 0, "OK") && stv) {
        snprintf(sb, sizeof sb, "%.*s", (int)(n < 15 ? n : 15), stv);
        if (vm_job_state_parse(sb, &out->state) != 0)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unknown stored state", job);
        out->cancel_ms = vm_sr_el_i64(rep, 2);
        out->applied = vm_sr_is(rep, 3, "1");
    } else {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected reply to cancel", job);
    }
    freeReplyObject(rep);
    return rc;
}

static int vm_sr_job_resume(void *st, const char *job, vm_job_state *prev, vm_err *err)
{
    vm_sr *s = st;
    char k_job[VM_SR_KEY_MAX], sb[16];
    redisReply *rep = NULL;
    int rc = vm_sr_mkkey(s, k_job, VM_SR_KEY_JOB, job, 0, err);
    if (rc)
        return rc;
    const char *keys[] = {k_job};
    /* idempotent: a second call finds nothing to clear */
    if ((rc = vm_sr_eval(s, VM_SR_S_JOB_RESUME, 1, keys, 0, NULL, &rep, err)) != 0)
        return rc;
    size_t n;
    const char *stv = vm_sr_el(rep, 1, &n);
    if (vm_sr_is(rep, 0, "NOT_FOUND")) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else if (vm_sr_is(rep, 0, "OK") && stv) {
        snprintf(sb, sizeof sb, "%.*s", (int)(n < 15 ? n : 15), stv);
        if (vm_job_state_parse(sb, prev) != 0)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unknown stored state", job);
    } else {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unexpected reply to resume", job);
    }
    freeReplyObject(rep);
    return rc;
}

const vm_state_ops vm_state_redis_ops = {
    .name = "redis",
    .state_size = sizeof(vm_sr),
    .open = vm_sr_open,
    .close = vm_sr_close,
    .job_put = vm_sr_job_put,
    .job_get = vm_sr_job_get,
    .job_set_state = vm_sr_job_set_state,
    .jobs_list = vm_sr_jobs_list,
    .job_counters = vm_sr_job_counters,
    .job_delete = vm_sr_job_delete,
    .tasks_put = vm_sr_tasks_put,
    .task_claim = vm_sr_task_claim,
    .task_heartbeat = vm_sr_task_heartbeat,
    .task_checkpoint = vm_sr_task_checkpoint,
    .task_finish = vm_sr_task_finish,
    .task_get = vm_sr_task_get,
    .tasks_list = vm_sr_tasks_list,
    .tasks_expired = vm_sr_tasks_expired,
    .task_reset = vm_sr_task_reset,
    .job_cancel = vm_sr_job_cancel,
    .job_resume = vm_sr_job_resume,
    .task_stats_add = vm_sr_task_stats_add,
    .job_report_put = vm_sr_job_report_put,
    .job_report_get = vm_sr_job_report_get,
    .worker_beat = vm_sr_worker_beat,
    .workers_list = vm_sr_workers_list,
    .leader = vm_sr_leader,
};

/*
 * test_state_redis.c - the Redis state store against a real Redis
 * (VECMIG_TEST_REDIS, e.g. redis://127.0.0.1:36379, from `scripts/stack
 * env`): job records, idempotent tasks_put, every claim outcome, strictly
 * increasing tokens, fencing of an old token (heartbeat, checkpoint and
 * finish rejected and nothing changed), exact counters under 4 concurrent
 * connections, lease expiry on the Redis clock, idempotent finish, reset,
 * replay of a mutation whose reply was lost, secrets never stored, and a
 * Redis restart (`$VECMIG_STACK down redis && $VECMIG_STACK up redis`) after
 * which the next calls reconnect, reload the scripts and find the state
 * intact.
 *
 * Fails (never skips) when VECMIG_TEST_REDIS (or, for the restart,
 * VECMIG_STACK) is unset. Every key lives under a per-run key_prefix and is
 * deleted at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state_redis.h"
#include "state_redis_lua.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_redis.h"
#include "vm_state.h"

#define NTHREADS 4
#define NCHECKPOINTS 1000

static const char *test_url;
static char prefix[96];
static char job[96];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static vm_state *open_url(const char *url)
{
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = (char *)url, .key_prefix = prefix};
    vm_state *s = NULL;
    vm_err e;
    if (vm_state_open(&conf, &s, &e) != 0)
        fail_msg("vm_state_open: %s", e.msg);
    return s;
}

static vm_state *open_state(void) { return open_url(test_url); }

static vm_redis *raw_redis(void)
{
    vm_redis_opts o = {.url = test_url};
    vm_redis *r = NULL;
    vm_err e;
    if (vm_redis_connect(&o, &r, &e) != 0)
        fail_msg("redis: %s", e.msg);
    return r;
}

static void make_task(vm_task *t, const char *job_id, uint32_t id)
{
    vm_task_init(t);
    t->job_id = (char *)job_id;
    t->id = id;
    t->kind = VM_RANGE_INT;
    t->has_lo = t->has_hi = true;
    t->lo = (int64_t)id * 1000;
    t->hi = (int64_t)id * 1000 + 1000;
    t->est_rows = 1000;
}

static void counters(vm_state *s, vm_job_counters *c)
{
    vm_err e;
    if (vm_state_job_counters(s, job, c, &e) != 0)
        fail_msg("job_counters: %s", e.msg);
}

static uint64_t claim_ok(vm_state *s, uint32_t task, const char *worker, int64_t lease_ms,
                         vm_claim *out)
{
    vm_err e;
    if (vm_state_task_claim(s, job, task, worker, lease_ms, out, &e) != 0)
        fail_msg("claim %u: %s", (unsigned)task, e.msg);
    if (out->outcome != VM_CLAIM_CLAIMED)
        fail_msg("claim %u: %s, expected claimed", (unsigned)task,
                 vm_claim_outcome_name(out->outcome));
    return out->token;
}

static int group_setup(void **st)
{
    (void)st;
    test_url = getenv("VECMIG_TEST_REDIS");
    if (!test_url || !*test_url) {
        fprintf(stderr, "test_state_redis: VECMIG_TEST_REDIS is not set; run "
                        "`scripts/stack up redis && eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(prefix, sizeof prefix, "vmtest:state:%ld-%ld:", (long)getpid(), (long)ts.tv_nsec);
    snprintf(job, sizeof job, "job-%ld-%ld", (long)getpid(), (long)ts.tv_nsec);
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = (char *)test_url,
                              .key_prefix = prefix};
    vm_state *s = NULL;
    vm_err e;
    if (vm_state_open(&conf, &s, &e) != 0) {
        fprintf(stderr, "test_state_redis: Redis at VECMIG_TEST_REDIS is unreachable: %s\n",
                e.msg);
        return -1;
    }
    vm_state_close(s);
    return 0;
}

/* Delete every key of this run. */
static int group_teardown(void **st)
{
    (void)st;
    if (!prefix[0])
        return 0;
    vm_redis *r = raw_redis();
    char match[128], cursor[32] = "0";
    vm_err e;
    int rc = 0;
    snprintf(match, sizeof match, "%s*", prefix);
    do {
        redisReply *rep = NULL;
        if (vm_redis_command(r, &rep, &e, "SCAN %s MATCH %s COUNT 1000", cursor, match) != 0) {
            rc = -1;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++)
            if (vm_redis_command(r, NULL, &e, "DEL %s", rep->element[1]->element[i]->str) != 0)
                rc = -1;
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    vm_redis_free(r);
    return rc;
}

/* ------------------------------------------------------------------ jobs */

static void test_job_record(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    /* a record as the coordinator writes it: descriptions, schema, options,
     * no credentials */
    json_t *rec = json_pack("{s:{s:s,s:s},s:{s:s,s:s},s:{s:[{s:s,s:s}]},s:{s:i,s:i},s:s,s:s}",
                            "source", "type", "pgvector", "table", "public.items", "target",
                            "type", "milvus", "collection", "items", "schema", "fields", "name",
                            "id", "type", "Int64", "options", "task_rows", 100000, "batch_rows",
                            1000, "created", "2025-01-01T00:00:00Z", "note", "\xc3\xa9t\xc3\xa9 \"q\"");
    assert_non_null(rec);
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, job, &info, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_set_state(s, job, VM_JOB_RUNNING, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_string_equal(info.id, job);
    assert_int_equal(info.state, VM_JOB_PLANNING);
    assert_true(json_equal(info.record, rec));
    assert_true(info.created_ms > 1600000000000ll);
    vm_job_info_release(&info);

    assert_int_equal(vm_state_job_set_state(s, job, VM_JOB_RUNNING, &e), 0);
    /* put again: the record is replaced, the state kept */
    json_object_set_new(rec, "note", json_string("second"));
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_int_equal(info.state, VM_JOB_RUNNING);
    assert_true(json_equal(info.record, rec));
    vm_job_info_release(&info);

    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_jobs_list(s, &ids, &n, &e), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(ids[i], job) == 0;
    assert_true(found);
    vm_state_ids_free(ids, n);

    /* bad input never reaches Redis */
    assert_int_equal(vm_state_job_put(s, "bad{id}", rec, &e), VM_ERR_INVALID);
    json_t *arr = json_array();
    assert_int_equal(vm_state_job_put(s, job, arr, &e), VM_ERR_INVALID);
    json_decref(arr);
    json_decref(rec);
    vm_state_close(s);
}

/* ----------------------------------------------------------------- tasks */

#define NTASKS 20

static void test_tasks_put_idempotent(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    vm_task t[NTASKS + 1];
    for (uint32_t i = 0; i <= NTASKS; i++)
        make_task(&t[i], job, i);
    assert_int_equal(vm_state_tasks_put(s, "no-such-job", t, 1, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_tasks_put(s, job, t, NTASKS, &e), 0);
    vm_job_counters c;
    counters(s, &c);
    assert_int_equal(c.tasks_total, NTASKS);
    assert_int_equal(c.pending, NTASKS);

    /* progress on task 0, then put everything again plus one more */
    vm_claim cl;
    uint64_t tok = claim_ok(s, 0, "w-put", 60000, &cl);
    vm_claim_release(&cl);
    assert_int_equal(vm_state_task_checkpoint(s, job, 0, tok, "c-7", 7, 6, 60000, &e), 0);
    assert_int_equal(vm_state_tasks_put(s, job, t, NTASKS + 1, &e), 0);
    counters(s, &c);
    assert_int_equal(c.tasks_total, NTASKS + 1);
    assert_int_equal(c.pending, NTASKS);
    assert_int_equal(c.running, 1);
    assert_int_equal(c.rows_read, 7);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, job, 0, &ts, &e), 0);
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_string_equal(ts.cursor, "c-7");
    assert_int_equal(ts.rows_read, 7);
    assert_int_equal(ts.rows_written, 6);
    assert_true(ts.token == tok);
    assert_string_equal(ts.owner, "w-put");
    assert_true(ts.task.lo == 0 && ts.task.hi == 1000);
    vm_task_status_release(&ts);
    /* finish task 0 so later counts are simple */
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(s, job, 0, tok, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);

    /* the same id with another range is refused, and nothing is written */
    vm_task other;
    make_task(&other, job, 3);
    other.hi = other.lo + 5;
    vm_task two[2];
    make_task(&two[0], job, NTASKS + 5);
    two[1] = other;
    assert_int_equal(vm_state_tasks_put(s, job, two, 2, &e), VM_ERR_EXISTS);
    assert_non_null(strstr(e.msg, "task 3"));
    counters(s, &c);
    assert_int_equal(c.tasks_total, NTASKS + 1);

    /* listing: sorted by id, every task decoded */
    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, job, &arr, &n, &e), 0);
    assert_int_equal(n, NTASKS + 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(arr[i].id, i);
        assert_int_equal(arr[i].task.id, i);
        assert_int_equal(arr[i].state, i == 0 ? VM_TASK_DONE : VM_TASK_PENDING);
    }
    vm_task_status_free_array(arr, n);
    assert_int_equal(vm_state_task_get(s, job, 999, &ts, &e), VM_ERR_NOT_FOUND);
    vm_state_close(s);
}

/* Task 1: every claim outcome, tokens, fencing, idempotent finish. Task 2:
 * failed, then reset. */
static void test_claim_and_fencing(void **st)
{
    (void)st;
    vm_state *a = open_state(), *b = open_state();
    vm_err e;
    vm_claim ca, cb;
    uint64_t t1 = claim_ok(a, 1, "worker-a", 60000, &ca);
    assert_true(t1 > 0);
    assert_int_equal(ca.attempts, 1);
    assert_null(ca.cursor);
    assert_string_equal(ca.owner, "worker-a");
    vm_claim_release(&ca);

    /* another worker: BUSY, with who and until when */
    assert_int_equal(vm_state_task_claim(b, job, 1, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_BUSY);
    assert_string_equal(cb.owner, "worker-a");
    assert_true(cb.lease_until_ms > 0);
    vm_claim_release(&cb);

    assert_int_equal(vm_state_task_checkpoint(a, job, 1, t1, "cur-10", 10, 10, 60000, &e), 0);
    int64_t lease = 0;
    assert_int_equal(vm_state_task_heartbeat(a, job, 1, t1, 60000, &lease, &e), 0);
    assert_true(lease > 0);

    /* the same worker claims again (say, after a restart): new token, the
     * checkpoint to resume from */
    uint64_t t2 = claim_ok(a, 1, "worker-a", 60000, &ca);
    assert_true(t2 > t1);
    assert_int_equal(ca.attempts, 2);
    assert_string_equal(ca.cursor, "cur-10");
    assert_int_equal(ca.rows_read, 10);
    vm_claim_release(&ca);

    /* the old token is fenced everywhere and changes nothing */
    vm_job_counters before, after;
    counters(a, &before);
    assert_int_equal(vm_state_task_heartbeat(b, job, 1, t1, 60000, NULL, &e), VM_ERR_FENCED);
    assert_false(e.retriable);
    assert_int_equal(vm_state_task_checkpoint(b, job, 1, t1, "cur-99", 5, 5, 60000, &e),
                     VM_ERR_FENCED);
    assert_non_null(strstr(e.msg, "worker-a"));
    assert_int_equal(vm_state_task_finish(b, job, 1, t1, VM_TASK_DONE, NULL, NULL, &e),
                     VM_ERR_FENCED);
    counters(a, &after);
    assert_memory_equal(&before, &after, sizeof before);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(a, job, 1, &ts, &e), 0);
    assert_string_equal(ts.cursor, "cur-10");
    assert_int_equal(ts.rows_read, 10);
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_true(ts.token == t2);
    vm_task_status_release(&ts);

    /* finish: once; again is a no-op reporting DONE; counted once */
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(a, job, 1, t2, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    assert_int_equal(vm_state_task_finish(a, job, 1, t2, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_false(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    /* even a stale token, even as failed: no-op, still done */
    assert_int_equal(vm_state_task_finish(b, job, 1, t1, VM_TASK_FAILED, "late", &fr, &e), 0);
    assert_false(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    counters(a, &after);
    assert_int_equal(after.done, before.done + 1);
    assert_int_equal(after.running, before.running - 1);
    assert_int_equal(after.failed, before.failed);
    assert_int_equal(vm_state_task_claim(b, job, 1, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_DONE);
    vm_claim_release(&cb);
    assert_int_equal(vm_state_task_heartbeat(a, job, 1, t2, 60000, NULL, &e), VM_ERR_FENCED);
    assert_int_equal(vm_state_task_reset(a, job, 1, &e), VM_ERR_INVALID);

    /* task 2 fails; claim answers FAILED until a reset */
    uint64_t t3 = claim_ok(a, 2, "worker-a", 60000, &ca);
    assert_true(t3 > t2);
    vm_claim_release(&ca);
    assert_int_equal(vm_state_task_checkpoint(a, job, 2, t3, "half", 500, 500, 60000, &e), 0);
    assert_int_equal(vm_state_task_reset(b, job, 2, &e), VM_ERR_UNAVAILABLE); /* live lease */
    assert_true(e.retriable);
    assert_int_equal(
        vm_state_task_finish(a, job, 2, t3, VM_TASK_FAILED, "milvus: schema mismatch", &fr, &e), 0);
    assert_true(fr.applied);
    assert_int_equal(fr.state, VM_TASK_FAILED);
    assert_int_equal(vm_state_task_claim(b, job, 2, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_FAILED);
    vm_claim_release(&cb);
    counters(a, &before);
    assert_int_equal(vm_state_task_reset(b, job, 2, &e), 0);
    assert_int_equal(vm_state_task_reset(b, job, 2, &e), 0); /* idempotent */
    counters(a, &after);
    assert_int_equal(after.failed, before.failed - 1);
    assert_int_equal(after.pending, before.pending + 1);
    assert_int_equal(vm_state_task_get(a, job, 2, &ts, &e), 0);
    assert_int_equal(ts.state, VM_TASK_PENDING);
    assert_null(ts.owner);
    assert_string_equal(ts.cursor, "half");
    assert_int_equal(ts.rows_read, 500);
    assert_int_equal(ts.attempts, 0);
    assert_string_equal(ts.error, "milvus: schema mismatch");
    vm_task_status_release(&ts);
    /* the failed owner's token stays fenced after the reset */
    assert_int_equal(vm_state_task_checkpoint(a, job, 2, t3, "x", 1, 1, 60000, &e), VM_ERR_FENCED);
    uint64_t t4 = claim_ok(b, 2, "worker-b", 60000, &cb);
    assert_true(t4 > t3);
    assert_int_equal(cb.attempts, 1);
    assert_string_equal(cb.cursor, "half");
    vm_claim_release(&cb);
    assert_int_equal(vm_state_task_finish(b, job, 2, t4, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_int_equal(vm_state_task_get(a, job, 2, &ts, &e), 0);
    assert_null(ts.error); /* done clears the last error */
    vm_task_status_release(&ts);

    /* bad arguments */
    assert_int_equal(vm_state_task_claim(a, job, 3, "", 60000, &ca, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_claim(a, job, 3, "w", 0, &ca, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_checkpoint(a, job, 3, 1, NULL, -1, 0, 1000, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_finish(a, job, 3, 1, VM_TASK_RUNNING, NULL, NULL, &e),
                     VM_ERR_INVALID);
    assert_int_equal(vm_state_task_claim(a, job, 999, "w", 1000, &ca, &e), VM_ERR_NOT_FOUND);
    vm_state_close(a);
    vm_state_close(b);
}

/* Task 3: a 300 ms lease runs out on the Redis clock; the task shows up as
 * expired and another worker takes it over; the first is fenced. */
static void test_lease_expiry(void **st)
{
    (void)st;
    vm_state *a = open_state(), *b = open_state();
    vm_err e;
    vm_claim ca, cb;
    uint64_t ta = claim_ok(a, 3, "worker-a", 300, &ca);
    vm_claim_release(&ca);
    int64_t t0 = now_ms();
    assert_int_equal(vm_state_task_claim(b, job, 3, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_BUSY);
    vm_claim_release(&cb);

    /* wait until the coordinator's view lists it as expired */
    bool expired = false;
    while (!expired && now_ms() - t0 < 10000) {
        uint32_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(vm_state_tasks_expired(a, job, &ids, &n, &e), 0);
        for (size_t i = 0; i < n; i++)
            expired |= ids[i] == 3;
        vm_free(ids);
        if (!expired)
            pause_ms(20);
    }
    assert_true(expired);
    int64_t waited = now_ms() - t0;
    /* the lease cannot end before 300 ms (allow for clock granularity) */
    assert_true(waited >= 250);

    uint64_t tb = 0;
    while (now_ms() - t0 < 10000) {
        assert_int_equal(vm_state_task_claim(b, job, 3, "worker-b", 60000, &cb, &e), 0);
        vm_claim_outcome o = cb.outcome;
        tb = cb.token;
        assert_true(o == VM_CLAIM_CLAIMED || o == VM_CLAIM_BUSY);
        vm_claim_release(&cb);
        if (o == VM_CLAIM_CLAIMED)
            break;
        pause_ms(20);
    }
    assert_true(tb > ta);
    /* the slow worker comes back: fenced, counts nothing */
    vm_job_counters before, after;
    counters(a, &before);
    assert_int_equal(vm_state_task_checkpoint(a, job, 3, ta, "late", 100, 100, 60000, &e),
                     VM_ERR_FENCED);
    assert_int_equal(vm_state_task_heartbeat(a, job, 3, ta, 60000, NULL, &e), VM_ERR_FENCED);
    counters(a, &after);
    assert_int_equal(after.rows_read, before.rows_read);
    /* no longer expired: the new owner's lease is live */
    uint32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_expired(a, job, &ids, &n, &e), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 3);
    vm_free(ids);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(b, job, 3, tb, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    vm_state_close(a);
    vm_state_close(b);
}

/* Tasks 10..13: four threads, each with its own connection, checkpoint
 * 1000 times with d=1: the job totals grow by exactly 4000. */
typedef struct cc_arg {
    uint32_t task;
    int failures;
    char msg[VM_ERR_MSG_MAX];
} cc_arg;

static void *cc_worker(void *p)
{
    cc_arg *a = p;
    vm_state *s = open_state();
    vm_err e;
    vm_claim c;
    char worker[32];
    snprintf(worker, sizeof worker, "thread-%u", (unsigned)a->task);
    if (vm_state_task_claim(s, job, a->task, worker, 60000, &c, &e) != 0 ||
        c.outcome != VM_CLAIM_CLAIMED) {
        a->failures++;
        snprintf(a->msg, sizeof a->msg, "claim: %s", e.msg);
        vm_state_close(s);
        return NULL;
    }
    uint64_t tok = c.token;
    vm_claim_release(&c);
    for (int i = 0; i < NCHECKPOINTS; i++) {
        char cur[32];
        snprintf(cur, sizeof cur, "c%d", i + 1);
        if (vm_state_task_checkpoint(s, job, a->task, tok, cur, 1, 1, 60000, &e) != 0) {
            a->failures++;
            snprintf(a->msg, sizeof a->msg, "checkpoint: %s", e.msg);
        }
    }
    if (vm_state_task_finish(s, job, a->task, tok, VM_TASK_DONE, NULL, NULL, &e) != 0) {
        a->failures++;
        snprintf(a->msg, sizeof a->msg, "finish: %s", e.msg);
    }
    vm_state_close(s);
    return NULL;
}

static void test_concurrent_counters(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_job_counters before, after;
    counters(s, &before);
    pthread_t th[NTHREADS];
    cc_arg args[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].task = 10 + (uint32_t)i;
        assert_int_equal(pthread_create(&th[i], NULL, cc_worker, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failures)
            fail_msg("thread %d: %d failures, last: %s", i, args[i].failures, args[i].msg);
    }
    counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, NTHREADS * NCHECKPOINTS);
    assert_int_equal(after.rows_written - before.rows_written, NTHREADS * NCHECKPOINTS);
    assert_int_equal(after.done - before.done, NTHREADS);
    assert_int_equal(after.pending - before.pending, -NTHREADS);
    vm_err e;
    for (int i = 0; i < NTHREADS; i++) {
        vm_task_status ts;
        assert_int_equal(vm_state_task_get(s, job, 10 + (uint32_t)i, &ts, &e), 0);
        assert_int_equal(ts.rows_read, NCHECKPOINTS);
        assert_int_equal(ts.attempts, 1);
        char want[32];
        snprintf(want, sizeof want, "c%d", NCHECKPOINTS);
        assert_string_equal(ts.cursor, want);
        vm_task_status_release(&ts);
    }
    /* the job-wide counts agree with the tasks themselves */
    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, job, &arr, &n, &e), 0);
    int64_t by_state[VM_TASK__COUNT] = {0}, rows = 0;
    for (size_t i = 0; i < n; i++) {
        by_state[arr[i].state]++;
        rows += arr[i].rows_read;
    }
    vm_task_status_free_array(arr, n);
    assert_int_equal(by_state[VM_TASK_PENDING], after.pending);
    assert_int_equal(by_state[VM_TASK_RUNNING], after.running);
    assert_int_equal(by_state[VM_TASK_DONE], after.done);
    assert_int_equal(by_state[VM_TASK_FAILED], after.failed);
    assert_int_equal((int64_t)n, after.tasks_total);
    assert_int_equal(rows, after.rows_read);
    vm_state_close(s);
}

/* A mutation applied on the server whose reply was lost is sent again with
 * the same op id: it is recognised and not applied twice. Driven here by
 * running the checkpoint script directly, twice, with one op id. */
static void test_op_replay(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_redis *r = raw_redis();
    vm_redis_script *sc = NULL;
    vm_err e;
    vm_claim c;
    uint64_t tok = claim_ok(s, 4, "worker-r", 60000, &c);
    vm_claim_release(&c);
    assert_int_equal(vm_redis_script_new(vm_sr_lua_checkpoint, &sc, &e), 0);
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX], tokb[24];
    vm_sr_key_build(k_task, sizeof k_task, prefix, VM_SR_KEY_TASK, job, 4);
    vm_sr_key_build(k_job, sizeof k_job, prefix, VM_SR_KEY_JOB, job, 0);
    vm_sr_key_build(k_leases, sizeof k_leases, prefix, VM_SR_KEY_LEASES, job, 0);
    snprintf(tokb, sizeof tokb, "%llu", (unsigned long long)tok);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {"4", tokb, "1", "r1", "10", "10", "60000", "replay-op-1"};
    vm_job_counters before, after;
    counters(s, &before);
    for (int i = 0; i < 2; i++) {
        redisReply *rep = NULL;
        assert_int_equal(vm_redis_eval(r, sc, 3, keys, 8, args, &rep, &e), 0);
        assert_string_equal(rep->element[0]->str, "OK");
        freeReplyObject(rep);
    }
    counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 10);
    /* a new op id is a new checkpoint */
    args[7] = "replay-op-2";
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_eval(r, sc, 3, keys, 8, args, &rep, &e), 0);
    freeReplyObject(rep);
    counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 20);
    assert_int_equal(vm_state_task_finish(s, job, 4, tok, VM_TASK_DONE, NULL, NULL, &e), 0);
    vm_redis_script_free(sc);
    vm_redis_free(r);
    vm_state_close(s);
}

/* Dump every value stored under the run's prefix into one buffer. */
static char *dump_all(void)
{
    vm_redis *r = raw_redis();
    vm_err e;
    char match[128], cursor[32] = "0";
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    snprintf(match, sizeof match, "%s*", prefix);
    do {
        redisReply *rep = NULL;
        assert_int_equal(vm_redis_command(r, &rep, &e, "SCAN %s MATCH %s COUNT 1000", cursor,
                                          match), 0);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;
            redisReply *t = NULL, *v = NULL;
            assert_int_equal(vm_redis_command(r, &t, &e, "TYPE %s", k), 0);
            if (strcmp(t->str, "hash") == 0)
                vm_redis_command(r, &v, &e, "HGETALL %s", k);
            else if (strcmp(t->str, "zset") == 0)
                vm_redis_command(r, &v, &e, "ZRANGE %s 0 -1 WITHSCORES", k);
            else if (strcmp(t->str, "set") == 0)
                vm_redis_command(r, &v, &e, "SMEMBERS %s", k);
            else
                vm_redis_command(r, &v, &e, "GET %s", k);
            freeReplyObject(t);
            size_t ne = v && v->type == REDIS_REPLY_ARRAY ? v->elements : 1;
            for (size_t j = 0; v && j < ne; j++) {
                const redisReply *x = v->type == REDIS_REPLY_ARRAY ? v->element[j] : v;
                if (x->type != REDIS_REPLY_STRING)
                    continue;
                while (len + x->len + 2 > cap)
                    out = realloc(out, cap *= 2);
                memcpy(out + len, x->str, x->len);
                len += x->len;
                out[len++] = '\n';
                out[len] = '\0';
            }
            if (v)
                freeReplyObject(v);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    vm_redis_free(r);
    return out;
}

/* Through a URL with a password (an ACL user made for this run): nothing
 * stored and no message contains the password, not even an error string
 * that a worker records which happens to quote it. */
static void test_no_secrets(void **st)
{
    (void)st;
    char user[64], pw[64], url[256], bad_url[256], gt[80];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(user, sizeof user, "vmstate-%ld", (long)getpid());
    snprintf(pw, sizeof pw, "Pw-%ld-%ld-secret", (long)now.tv_nsec, (long)getpid());
    snprintf(gt, sizeof gt, ">%s", pw);
    vm_redis *r = raw_redis();
    vm_err e;
    const char *acl[] = {"ACL", "SETUSER", user, "reset", "on", gt, "~*", "+@all"};
    assert_int_equal(vm_redis_commandv(r, 8, acl, NULL, NULL, &e), 0);
    vm_redis_addr addr;
    assert_int_equal(vm_redis_parse_url(test_url, &addr, &e), 0);
    snprintf(url, sizeof url, "redis://%s:%s@%s:%d", user, pw, addr.host, addr.port);
    snprintf(bad_url, sizeof bad_url, "redis://%s:%sX@%s:%d", user, pw, addr.host, addr.port);

    /* a wrong password: refused, and the message holds neither password */
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = bad_url, .key_prefix = prefix};
    vm_state *s = NULL;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_AUTH);
    assert_null(strstr(e.msg, pw));
    /* unreachable: the message names the host, not the password */
    char dead_url[256];
    snprintf(dead_url, sizeof dead_url, "redis://%s:%s@127.0.0.1:1", user, pw);
    conf.url = dead_url;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(strstr(e.msg, pw));

    s = open_url(url);
    char sjob[128];
    snprintf(sjob, sizeof sjob, "%s-secret", job);
    json_t *rec = json_pack("{s:{s:s,s:s}}", "source", "type", "synthetic", "collection", "c");
    assert_int_equal(vm_state_job_put(s, sjob, rec, &e), 0);
    vm_task t;
    make_task(&t, sjob, 0);
    assert_int_equal(vm_state_tasks_put(s, sjob, &t, 1, &e), 0);
    vm_claim c;
    assert_int_equal(vm_state_task_claim(s, sjob, 0, "w", 60000, &c, &e), 0);
    char errmsg[256];
    snprintf(errmsg, sizeof errmsg, "source said: auth failed for %s", pw);
    assert_int_equal(vm_state_task_finish(s, sjob, 0, c.token, VM_TASK_FAILED, errmsg, NULL, &e), 0);
    vm_claim_release(&c);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sjob, 0, &ts, &e), 0);
    assert_non_null(strstr(ts.error, "auth failed for ***"));
    vm_task_status_release(&ts);
    char *all = dump_all();
    assert_null(strstr(all, pw));
    assert_non_null(strstr(all, "synthetic")); /* the dump did see the job */
    free(all);
    assert_int_equal(vm_state_job_delete(s, sjob, &e), 0);
    json_decref(rec);
    vm_state_close(s);

    const char *del[] = {"ACL", "DELUSER", user};
    assert_int_equal(vm_redis_commandv(r, 3, del, NULL, NULL, &e), 0);
    vm_redis_addr_clear(&addr);
    vm_redis_free(r);
}

/* Restart Redis under an open vm_state holding a live claim: the next calls
 * reconnect, the scripts are loaded again (NOSCRIPT), the AOF kept
 * everything. */
static void test_redis_restart(void **st)
{
    (void)st;
    const char *stack = getenv("VECMIG_STACK");
    if (!stack || !*stack)
        fail_msg("VECMIG_STACK is not set: eval \"$(scripts/stack env)\"");
    vm_state *s = open_state();
    vm_err e;
    vm_claim c;
    uint64_t tok = claim_ok(s, 5, "worker-restart", 120000, &c);
    vm_claim_release(&c);
    assert_int_equal(vm_state_task_checkpoint(s, job, 5, tok, "before", 3, 3, 120000, &e), 0);
    vm_job_counters before, after;
    counters(s, &before);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' down redis >/dev/null && '%s' up redis >/dev/null", stack,
             stack);
    assert_int_equal(system(cmd), 0);

    /* the first call may meet the dead socket; it reconnects by itself */
    int64_t t0 = now_ms();
    int rc;
    vm_task_status ts;
    while ((rc = vm_state_task_get(s, job, 5, &ts, &e)) != 0) {
        if (!e.retriable || now_ms() - t0 > 30000)
            fail_msg("task_get after restart: %s", e.msg);
        pause_ms(100);
    }
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_string_equal(ts.cursor, "before");
    assert_true(ts.token == tok);
    vm_task_status_release(&ts);
    counters(s, &after);
    assert_memory_equal(&before, &after, sizeof before);

    /* scripts run again after the restart (loaded on NOSCRIPT) */
    assert_int_equal(vm_state_task_checkpoint(s, job, 5, tok, "after", 4, 4, 120000, &e), 0);
    assert_int_equal(vm_state_task_heartbeat(s, job, 5, tok, 120000, NULL, &e), 0);
    counters(s, &after);
    assert_int_equal(after.rows_read, before.rows_read + 4);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(s, job, 5, tok, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    vm_state_close(s);
}

/* Purge: every key of the job goes, the index forgets it. */
static void test_job_delete(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    assert_int_equal(vm_state_job_delete(s, job, &e), 0);
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, job, &info, &e), VM_ERR_NOT_FOUND);
    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_jobs_list(s, &ids, &n, &e), 0);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(ids[i], job);
    vm_state_ids_free(ids, n);
    vm_redis *r = raw_redis();
    redisReply *rep = NULL;
    char match[256];
    snprintf(match, sizeof match, "%s{%s}*", prefix, job);
    assert_int_equal(vm_redis_command(r, &rep, &e, "SCAN 0 MATCH %s COUNT 100000", match), 0);
    assert_int_equal(rep->element[1]->elements, 0);
    freeReplyObject(rep);
    vm_redis_free(r);
    assert_int_equal(vm_state_job_delete(s, job, &e), 0); /* idempotent */
    vm_state_close(s);
}

int main(void)
{
    vm_log_set_level(VM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_record),
        cmocka_unit_test(test_tasks_put_idempotent),
        cmocka_unit_test(test_claim_and_fencing),
        cmocka_unit_test(test_lease_expiry),
        cmocka_unit_test(test_concurrent_counters),
        cmocka_unit_test(test_op_replay),
        cmocka_unit_test(test_no_secrets),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_job_delete),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

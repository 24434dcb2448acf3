/*
 * state_contract.h - the semantics every vm_state backend shares, as cmocka
 * test bodies run by each backend's test (tests/integration/
 * test_state_redis.c, tests/unit/test_state_sqlite.c): job records,
 * idempotent tasks_put, every claim outcome, strictly increasing tokens,
 * fencing of an old token (heartbeat, checkpoint and finish rejected and
 * nothing changed), lease expiry on the store's clock, idempotent finish,
 * reset, exact counters under SC_NTHREADS connections checkpointing
 * concurrently, cancel requests and resume (on a job of their own), and
 * purge.
 *
 * Include it once, after <cmocka.h>, from the test file. Before the first
 * test, set sc_open (opens a new connection to the store under test; fails
 * the test on error) and sc_job (a job id unique to the run). The tests
 * share that job and run in this order, each using its own task ids:
 *   sc_test_job_record, sc_test_tasks_put_idempotent (tasks 0..20),
 *   sc_test_claim_and_fencing (1, 2), sc_test_lease_expiry (3),
 *   sc_test_concurrent_counters (10..13), sc_test_cancel_resume (its own job
 *   "<sc_job>.cancel", deleted at its end), sc_test_stats_report (its own job
 *   "<sc_job>.report", deleted at its end), sc_test_workers (its own job
 *   "<sc_job>.workers", deleted at its end), sc_test_leader (its own lock
 *   "<sc_job>.leader", released at its end), ..., sc_test_job_delete (last).
 * Tasks 4..9 are left pending for backend-specific tests.
 */
#ifndef VM_TEST_STATE_CONTRACT_H
#define VM_TEST_STATE_CONTRACT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vm_mem.h"
#include "vm_state.h"

#define SC_NTHREADS 4
#define SC_NCHECKPOINTS 1000

static vm_state *(*sc_open)(void);
static char sc_job[96];

static int64_t sc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sc_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void sc_make_task(vm_task *t, const char *job_id, uint32_t id)
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

static void sc_counters(vm_state *s, vm_job_counters *c)
{
    vm_err e;
    if (vm_state_job_counters(s, sc_job, c, &e) != 0)
        fail_msg("job_counters: %s", e.msg);
}

static uint64_t sc_claim_ok(vm_state *s, uint32_t task, const char *worker, int64_t lease_ms,
                            vm_claim *out)
{
    vm_err e;
    if (vm_state_task_claim(s, sc_job, task, worker, lease_ms, out, &e) != 0)
        fail_msg("claim %u: %s", (unsigned)task, e.msg);
    if (out->outcome != VM_CLAIM_CLAIMED)
        fail_msg("claim %u: %s, expected claimed", (unsigned)task,
                 vm_claim_outcome_name(out->outcome));
    return out->token;
}

/* ------------------------------------------------------------------ jobs */

static void sc_test_job_record(void **st)
{
    (void)st;
    vm_state *s = sc_open();
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
    assert_int_equal(vm_state_job_get(s, sc_job, &info, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_set_state(s, sc_job, VM_JOB_RUNNING, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_put(s, sc_job, rec, &e), 0);
    assert_int_equal(vm_state_job_get(s, sc_job, &info, &e), 0);
    assert_string_equal(info.id, sc_job);
    assert_int_equal(info.state, VM_JOB_PLANNING);
    assert_true(json_equal(info.record, rec));
    assert_true(info.created_ms > 1600000000000ll);
    vm_job_info_release(&info);

    assert_int_equal(vm_state_job_set_state(s, sc_job, VM_JOB_RUNNING, &e), 0);
    /* put again: the record is replaced, the state kept */
    json_object_set_new(rec, "note", json_string("second"));
    assert_int_equal(vm_state_job_put(s, sc_job, rec, &e), 0);
    assert_int_equal(vm_state_job_get(s, sc_job, &info, &e), 0);
    assert_int_equal(info.state, VM_JOB_RUNNING);
    assert_true(json_equal(info.record, rec));
    vm_job_info_release(&info);

    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_jobs_list(s, &ids, &n, &e), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(ids[i], sc_job) == 0;
    assert_true(found);
    vm_state_ids_free(ids, n);

    /* bad input never reaches the store */
    assert_int_equal(vm_state_job_put(s, "bad{id}", rec, &e), VM_ERR_INVALID);
    json_t *arr = json_array();
    assert_int_equal(vm_state_job_put(s, sc_job, arr, &e), VM_ERR_INVALID);
    json_decref(arr);
    json_decref(rec);
    vm_state_close(s);
}

/* ----------------------------------------------------------------- tasks */

#define SC_NTASKS 20

static void sc_test_tasks_put_idempotent(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_err e;
    vm_task t[SC_NTASKS + 1];
    for (uint32_t i = 0; i <= SC_NTASKS; i++)
        sc_make_task(&t[i], sc_job, i);
    assert_int_equal(vm_state_tasks_put(s, "no-such-job", t, 1, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_tasks_put(s, sc_job, t, SC_NTASKS, &e), 0);
    vm_job_counters c;
    sc_counters(s, &c);
    assert_int_equal(c.tasks_total, SC_NTASKS);
    assert_int_equal(c.pending, SC_NTASKS);

    /* progress on task 0, then put everything again plus one more */
    vm_claim cl;
    uint64_t tok = sc_claim_ok(s, 0, "w-put", 60000, &cl);
    vm_claim_release(&cl);
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 0, tok, "c-7", 7, 6, 60000, &e), 0);
    assert_int_equal(vm_state_tasks_put(s, sc_job, t, SC_NTASKS + 1, &e), 0);
    sc_counters(s, &c);
    assert_int_equal(c.tasks_total, SC_NTASKS + 1);
    assert_int_equal(c.pending, SC_NTASKS);
    assert_int_equal(c.running, 1);
    assert_int_equal(c.rows_read, 7);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sc_job, 0, &ts, &e), 0);
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
    assert_int_equal(vm_state_task_finish(s, sc_job, 0, tok, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);

    /* the same id with another range is refused, and nothing is written */
    vm_task other;
    sc_make_task(&other, sc_job, 3);
    other.hi = other.lo + 5;
    vm_task two[2];
    sc_make_task(&two[0], sc_job, SC_NTASKS + 5);
    two[1] = other;
    assert_int_equal(vm_state_tasks_put(s, sc_job, two, 2, &e), VM_ERR_EXISTS);
    assert_non_null(strstr(e.msg, "task 3"));
    sc_counters(s, &c);
    assert_int_equal(c.tasks_total, SC_NTASKS + 1);

    /* listing: sorted by id, every task decoded */
    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, sc_job, &arr, &n, &e), 0);
    assert_int_equal(n, SC_NTASKS + 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(arr[i].id, i);
        assert_int_equal(arr[i].task.id, i);
        assert_int_equal(arr[i].state, i == 0 ? VM_TASK_DONE : VM_TASK_PENDING);
    }
    vm_task_status_free_array(arr, n);
    assert_int_equal(vm_state_task_get(s, sc_job, 999, &ts, &e), VM_ERR_NOT_FOUND);
    vm_state_close(s);
}

/* Task 1: every claim outcome, tokens, fencing, idempotent finish. Task 2:
 * failed, then reset. */
static void sc_test_claim_and_fencing(void **st)
{
    (void)st;
    vm_state *a = sc_open(), *b = sc_open();
    vm_err e;
    vm_claim ca, cb;
    uint64_t t1 = sc_claim_ok(a, 1, "worker-a", 60000, &ca);
    assert_true(t1 > 0);
    assert_int_equal(ca.attempts, 1);
    assert_null(ca.cursor);
    assert_string_equal(ca.owner, "worker-a");
    vm_claim_release(&ca);

    /* another worker: BUSY, with who and until when */
    assert_int_equal(vm_state_task_claim(b, sc_job, 1, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_BUSY);
    assert_string_equal(cb.owner, "worker-a");
    assert_true(cb.lease_until_ms > 0);
    vm_claim_release(&cb);

    assert_int_equal(vm_state_task_checkpoint(a, sc_job, 1, t1, "cur-10", 10, 10, 60000, &e), 0);
    int64_t lease = 0;
    assert_int_equal(vm_state_task_heartbeat(a, sc_job, 1, t1, 60000, &lease, &e), 0);
    assert_true(lease > 0);

    /* the same worker claims again (say, after a restart): new token, the
     * checkpoint to resume from */
    uint64_t t2 = sc_claim_ok(a, 1, "worker-a", 60000, &ca);
    assert_true(t2 > t1);
    assert_int_equal(ca.attempts, 2);
    assert_string_equal(ca.cursor, "cur-10");
    assert_int_equal(ca.rows_read, 10);
    vm_claim_release(&ca);

    /* the old token is fenced everywhere and changes nothing */
    vm_job_counters before, after;
    sc_counters(a, &before);
    assert_int_equal(vm_state_task_heartbeat(b, sc_job, 1, t1, 60000, NULL, &e), VM_ERR_FENCED);
    assert_false(e.retriable);
    assert_int_equal(vm_state_task_checkpoint(b, sc_job, 1, t1, "cur-99", 5, 5, 60000, &e),
                     VM_ERR_FENCED);
    assert_non_null(strstr(e.msg, "worker-a"));
    assert_int_equal(vm_state_task_finish(b, sc_job, 1, t1, VM_TASK_DONE, NULL, NULL, &e),
                     VM_ERR_FENCED);
    sc_counters(a, &after);
    assert_memory_equal(&before, &after, sizeof before);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(a, sc_job, 1, &ts, &e), 0);
    assert_string_equal(ts.cursor, "cur-10");
    assert_int_equal(ts.rows_read, 10);
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_true(ts.token == t2);
    vm_task_status_release(&ts);

    /* finish: once; again is a no-op reporting DONE; counted once */
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(a, sc_job, 1, t2, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    assert_int_equal(vm_state_task_finish(a, sc_job, 1, t2, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_false(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    /* even a stale token, even as failed: no-op, still done */
    assert_int_equal(vm_state_task_finish(b, sc_job, 1, t1, VM_TASK_FAILED, "late", &fr, &e), 0);
    assert_false(fr.applied);
    assert_int_equal(fr.state, VM_TASK_DONE);
    sc_counters(a, &after);
    assert_int_equal(after.done, before.done + 1);
    assert_int_equal(after.running, before.running - 1);
    assert_int_equal(after.failed, before.failed);
    assert_int_equal(vm_state_task_claim(b, sc_job, 1, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_DONE);
    vm_claim_release(&cb);
    assert_int_equal(vm_state_task_heartbeat(a, sc_job, 1, t2, 60000, NULL, &e), VM_ERR_FENCED);
    assert_int_equal(vm_state_task_reset(a, sc_job, 1, &e), VM_ERR_INVALID);

    /* task 2 fails; claim answers FAILED until a reset */
    uint64_t t3 = sc_claim_ok(a, 2, "worker-a", 60000, &ca);
    assert_true(t3 > t2);
    vm_claim_release(&ca);
    assert_int_equal(vm_state_task_checkpoint(a, sc_job, 2, t3, "half", 500, 500, 60000, &e), 0);
    assert_int_equal(vm_state_task_reset(b, sc_job, 2, &e), VM_ERR_UNAVAILABLE); /* live lease */
    assert_true(e.retriable);
    assert_int_equal(
        vm_state_task_finish(a, sc_job, 2, t3, VM_TASK_FAILED, "milvus: schema mismatch", &fr, &e), 0);
    assert_true(fr.applied);
    assert_int_equal(fr.state, VM_TASK_FAILED);
    assert_int_equal(vm_state_task_claim(b, sc_job, 2, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_FAILED);
    vm_claim_release(&cb);
    sc_counters(a, &before);
    assert_int_equal(vm_state_task_reset(b, sc_job, 2, &e), 0);
    assert_int_equal(vm_state_task_reset(b, sc_job, 2, &e), 0); /* idempotent */
    sc_counters(a, &after);
    assert_int_equal(after.failed, before.failed - 1);
    assert_int_equal(after.pending, before.pending + 1);
    assert_int_equal(vm_state_task_get(a, sc_job, 2, &ts, &e), 0);
    assert_int_equal(ts.state, VM_TASK_PENDING);
    assert_null(ts.owner);
    assert_string_equal(ts.cursor, "half");
    assert_int_equal(ts.rows_read, 500);
    assert_int_equal(ts.attempts, 0);
    assert_string_equal(ts.error, "milvus: schema mismatch");
    vm_task_status_release(&ts);
    /* the failed owner's token stays fenced after the reset */
    assert_int_equal(vm_state_task_checkpoint(a, sc_job, 2, t3, "x", 1, 1, 60000, &e), VM_ERR_FENCED);
    uint64_t t4 = sc_claim_ok(b, 2, "worker-b", 60000, &cb);
    assert_true(t4 > t3);
    assert_int_equal(cb.attempts, 1);
    assert_string_equal(cb.cursor, "half");
    vm_claim_release(&cb);
    assert_int_equal(vm_state_task_finish(b, sc_job, 2, t4, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_int_equal(vm_state_task_get(a, sc_job, 2, &ts, &e), 0);
    assert_null(ts.error); /* done clears the last error */
    vm_task_status_release(&ts);

    /* bad arguments */
    assert_int_equal(vm_state_task_claim(a, sc_job, 3, "", 60000, &ca, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_claim(a, sc_job, 3, "w", 0, &ca, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_checkpoint(a, sc_job, 3, 1, NULL, -1, 0, 1000, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_finish(a, sc_job, 3, 1, VM_TASK_RUNNING, NULL, NULL, &e),
                     VM_ERR_INVALID);
    assert_int_equal(vm_state_task_claim(a, sc_job, 999, "w", 1000, &ca, &e), VM_ERR_NOT_FOUND);
    vm_state_close(a);
    vm_state_close(b);
}

/* Task 3: a 300 ms lease runs out on the store clock; the task shows up as
 * expired and another worker takes it over; the first is fenced. */
static void sc_test_lease_expiry(void **st)
{
    (void)st;
    vm_state *a = sc_open(), *b = sc_open();
    vm_err e;
    vm_claim ca, cb;
    uint64_t ta = sc_claim_ok(a, 3, "worker-a", 300, &ca);
    vm_claim_release(&ca);
    int64_t t0 = sc_now_ms();
    assert_int_equal(vm_state_task_claim(b, sc_job, 3, "worker-b", 60000, &cb, &e), 0);
    assert_int_equal(cb.outcome, VM_CLAIM_BUSY);
    vm_claim_release(&cb);

    /* wait until the coordinator's view lists it as expired */
    bool expired = false;
    while (!expired && sc_now_ms() - t0 < 10000) {
        uint32_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(vm_state_tasks_expired(a, sc_job, &ids, &n, &e), 0);
        for (size_t i = 0; i < n; i++)
            expired |= ids[i] == 3;
        vm_free(ids);
        if (!expired)
            sc_pause_ms(20);
    }
    assert_true(expired);
    int64_t waited = sc_now_ms() - t0;
    /* the lease cannot end before 300 ms (allow for clock granularity) */
    assert_true(waited >= 250);

    uint64_t tb = 0;
    while (sc_now_ms() - t0 < 10000) {
        assert_int_equal(vm_state_task_claim(b, sc_job, 3, "worker-b", 60000, &cb, &e), 0);
        vm_claim_outcome o = cb.outcome;
        tb = cb.token;
        assert_true(o == VM_CLAIM_CLAIMED || o == VM_CLAIM_BUSY);
        vm_claim_release(&cb);
        if (o == VM_CLAIM_CLAIMED)
            break;
        sc_pause_ms(20);
    }
    assert_true(tb > ta);
    /* the slow worker comes back: fenced, counts nothing */
    vm_job_counters before, after;
    sc_counters(a, &before);
    assert_int_equal(vm_state_task_checkpoint(a, sc_job, 3, ta, "late", 100, 100, 60000, &e),
                     VM_ERR_FENCED);
    assert_int_equal(vm_state_task_heartbeat(a, sc_job, 3, ta, 60000, NULL, &e), VM_ERR_FENCED);
    sc_counters(a, &after);
    assert_int_equal(after.rows_read, before.rows_read);
    /* no longer expired: the new owner's lease is live */
    uint32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_expired(a, sc_job, &ids, &n, &e), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 3);
    vm_free(ids);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(b, sc_job, 3, tb, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    vm_state_close(a);
    vm_state_close(b);
}

/* Tasks 10..13: four threads, each with its own connection, checkpoint
 * 1000 times with d=1: the job totals grow by exactly 4000. */
typedef struct sc_cc_arg {
    uint32_t task;
    int failures;
    char msg[VM_ERR_MSG_MAX];
} sc_cc_arg;

static void *sc_cc_worker(void *p)
{
    sc_cc_arg *a = p;
    vm_state *s = sc_open();
    vm_err e;
    vm_claim c;
    char worker[32];
    snprintf(worker, sizeof worker, "thread-%u", (unsigned)a->task);
    if (vm_state_task_claim(s, sc_job, a->task, worker, 60000, &c, &e) != 0 ||
        c.outcome != VM_CLAIM_CLAIMED) {
        a->failures++;
        snprintf(a->msg, sizeof a->msg, "claim: %s", e.msg);
        vm_state_close(s);
        return NULL;
    }
    uint64_t tok = c.token;
    vm_claim_release(&c);
    for (int i = 0; i < SC_NCHECKPOINTS; i++) {
        char cur[32];
        snprintf(cur, sizeof cur, "c%d", i + 1);
        if (vm_state_task_checkpoint(s, sc_job, a->task, tok, cur, 1, 1, 60000, &e) != 0) {
            a->failures++;
            snprintf(a->msg, sizeof a->msg, "checkpoint: %s", e.msg);
        }
    }
    if (vm_state_task_finish(s, sc_job, a->task, tok, VM_TASK_DONE, NULL, NULL, &e) != 0) {
        a->failures++;
        snprintf(a->msg, sizeof a->msg, "finish: %s", e.msg);
    }
    vm_state_close(s);
    return NULL;
}

static void sc_test_concurrent_counters(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_job_counters before, after;
    sc_counters(s, &before);
    pthread_t th[SC_NTHREADS];
    sc_cc_arg args[SC_NTHREADS];
    for (int i = 0; i < SC_NTHREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].task = 10 + (uint32_t)i;
        assert_int_equal(pthread_create(&th[i], NULL, sc_cc_worker, &args[i]), 0);
    }
    for (int i = 0; i < SC_NTHREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failures)
            fail_msg("thread %d: %d failures, last: %s", i, args[i].failures, args[i].msg);
    }
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, SC_NTHREADS * SC_NCHECKPOINTS);
    assert_int_equal(after.rows_written - before.rows_written, SC_NTHREADS * SC_NCHECKPOINTS);
    assert_int_equal(after.done - before.done, SC_NTHREADS);
    assert_int_equal(after.pending - before.pending, -SC_NTHREADS);
    vm_err e;
    for (int i = 0; i < SC_NTHREADS; i++) {
        vm_task_status ts;
        assert_int_equal(vm_state_task_get(s, sc_job, 10 + (uint32_t)i, &ts, &e), 0);
        assert_int_equal(ts.rows_read, SC_NCHECKPOINTS);
        assert_int_equal(ts.attempts, 1);
        char want[32];
        snprintf(want, sizeof want, "c%d", SC_NCHECKPOINTS);
        assert_string_equal(ts.cursor, want);
        vm_task_status_release(&ts);
    }
    /* the job-wide counts agree with the tasks themselves */
    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, sc_job, &arr, &n, &e), 0);
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


/* A job of its own: a cancel request stops new claims (CANCELLED, nothing
 * changes), leaves the task in flight its checkpoint, is idempotent and is
 * not made on a job that is over; resume clears it and makes a cancelled,
 * failed or done job running; a claim after a reset reports the prior
 * claim (autoID targets need it). */
static void sc_test_cancel_resume(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_err e;
    char job[128];
    snprintf(job, sizeof job, "%s.cancel", sc_job);
    vm_cancel_result cr;
    vm_job_state prev;
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), VM_ERR_NOT_FOUND);
    bool requested = true;
    assert_int_equal(vm_state_job_cancel_requested(s, job, &requested, &e), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_state_job_cancel(s, "bad{id}", &cr, &e), VM_ERR_INVALID);

    json_t *rec = json_pack("{s:s}", "note", "cancel");
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    json_decref(rec);
    vm_task t[3];
    for (uint32_t i = 0; i < 3; i++)
        sc_make_task(&t[i], job, i);
    assert_int_equal(vm_state_tasks_put(s, job, t, 3, &e), 0);
    assert_int_equal(vm_state_job_set_state(s, job, VM_JOB_RUNNING, &e), 0);
    vm_job_counters c;
    assert_int_equal(vm_state_job_counters(s, job, &c, &e), 0);
    assert_int_equal(c.cancel_ms, 0);
    assert_int_equal(vm_state_job_cancel_requested(s, job, &requested, &e), 0);
    assert_false(requested);

    /* task 0 runs; its claim is the first one */
    vm_claim cl;
    assert_int_equal(vm_state_task_claim(s, job, 0, "w-a", 60000, &cl, &e), 0);
    assert_int_equal(cl.outcome, VM_CLAIM_CLAIMED);
    assert_false(cl.prior_claim);
    uint64_t tok = cl.token;
    vm_claim_release(&cl);

    /* the request */
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0);
    assert_true(cr.applied);
    assert_int_equal(cr.state, VM_JOB_RUNNING);
    assert_true(cr.cancel_ms > 1600000000000ll);
    int64_t when = cr.cancel_ms;
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0); /* again: kept */
    assert_false(cr.applied);
    assert_true(cr.cancel_ms == when);
    assert_int_equal(vm_state_job_cancel_requested(s, job, &requested, &e), 0);
    assert_true(requested);
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_true(info.cancel_ms == when);
    assert_int_equal(info.state, VM_JOB_RUNNING); /* the coordinator sets cancelled */
    vm_job_info_release(&info);

    /* no task starts, whoever asks; nothing changes */
    vm_job_counters before, after;
    assert_int_equal(vm_state_job_counters(s, job, &before, &e), 0);
    assert_int_equal(vm_state_task_claim(s, job, 1, "w-b", 60000, &cl, &e), 0);
    assert_int_equal(cl.outcome, VM_CLAIM_CANCELLED);
    vm_claim_release(&cl);
    assert_int_equal(vm_state_task_claim(s, job, 0, "w-a", 60000, &cl, &e), 0);
    assert_int_equal(cl.outcome, VM_CLAIM_CANCELLED);
    vm_claim_release(&cl);
    assert_int_equal(vm_state_job_counters(s, job, &after, &e), 0);
    assert_memory_equal(&before, &after, sizeof before);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, job, 1, &ts, &e), 0);
    assert_int_equal(ts.state, VM_TASK_PENDING);
    assert_int_equal(ts.attempts, 0);
    assert_null(ts.owner);
    vm_task_status_release(&ts);

    /* the batch in flight is still counted, under the same token */
    assert_int_equal(vm_state_task_checkpoint(s, job, 0, tok, "c-50", 50, 50, 60000, &e), 0);
    assert_int_equal(vm_state_task_heartbeat(s, job, 0, tok, 60000, NULL, &e), 0);
    assert_int_equal(vm_state_job_counters(s, job, &c, &e), 0);
    assert_int_equal(c.rows_written, 50);
    assert_true(c.cancel_ms == when);

    /* the worker lets its lease run out; the coordinator resets the task */
    assert_int_equal(vm_state_task_heartbeat(s, job, 0, tok, 1, NULL, &e), 0);
    sc_pause_ms(20);
    assert_int_equal(vm_state_task_reset(s, job, 0, &e), 0);
    assert_int_equal(vm_state_job_set_state(s, job, VM_JOB_CANCELLED, &e), 0);
    /* cancelling a cancelled job: nothing to do */
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0);
    assert_false(cr.applied);
    assert_int_equal(cr.state, VM_JOB_CANCELLED);

    /* resume: the mark goes, the job runs, tasks are claimable */
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), 0);
    assert_int_equal(prev, VM_JOB_CANCELLED);
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_int_equal(info.state, VM_JOB_RUNNING);
    assert_int_equal(info.cancel_ms, 0);
    vm_job_info_release(&info);
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), 0); /* idempotent */
    assert_int_equal(prev, VM_JOB_RUNNING);
    assert_int_equal(vm_state_task_claim(s, job, 1, "w-b", 60000, &cl, &e), 0);
    assert_int_equal(cl.outcome, VM_CLAIM_CLAIMED);
    assert_false(cl.prior_claim);
    vm_claim_release(&cl);
    /* task 0 was claimed before its reset: resumed from its checkpoint, and
     * the claim says an earlier one may have written past it */
    assert_int_equal(vm_state_task_claim(s, job, 0, "w-c", 60000, &cl, &e), 0);
    assert_int_equal(cl.outcome, VM_CLAIM_CLAIMED);
    assert_true(cl.prior_claim);
    assert_int_equal(cl.attempts, 1);
    assert_string_equal(cl.cursor, "c-50");
    assert_true(cl.token > tok);
    vm_claim_release(&cl);

    /* a job that is over is not marked; resume makes a done or failed job
     * running again */
    vm_state_job_set_state(s, job, VM_JOB_DONE, &e);
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0);
    assert_false(cr.applied);
    assert_int_equal(cr.state, VM_JOB_DONE);
    assert_int_equal(cr.cancel_ms, 0);
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), 0);
    assert_int_equal(prev, VM_JOB_DONE);
    vm_state_job_set_state(s, job, VM_JOB_FAILED, &e);
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), 0);
    assert_int_equal(prev, VM_JOB_FAILED);
    /* planning and reconciling are kept, only the mark goes */
    vm_state_job_set_state(s, job, VM_JOB_PLANNING, &e);
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0);
    assert_true(cr.applied);
    assert_int_equal(cr.state, VM_JOB_PLANNING);
    assert_int_equal(vm_state_job_resume(s, job, &prev, &e), 0);
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_int_equal(info.state, VM_JOB_PLANNING);
    assert_int_equal(info.cancel_ms, 0);
    vm_job_info_release(&info);
    assert_int_equal(vm_state_job_delete(s, job, &e), 0);
    vm_state_close(s);
}

/* A job of its own: a task's first claim and finish times on the store's
 * clock (the first claim kept by a later claim), stats added only under the
 * running token and summed, and the job's stored report (absent, put,
 * replaced, kept by job_put, gone with the job). */
static void sc_test_stats_report(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_err e;
    char job[128];
    snprintf(job, sizeof job, "%s.report", sc_job);
    json_t *rep = NULL, *got = NULL;
    assert_int_equal(vm_state_job_report_get(s, job, &got, &e), VM_ERR_NOT_FOUND);
    rep = json_pack("{s:s, s:s, s:[i,i]}", "verdict", "ok", "note",
                    "<script>alert(1)</script> \xc3\xa9 \"q\"", "rows", 1, 2);
    assert_non_null(rep);
    assert_int_equal(vm_state_job_report_put(s, job, rep, &e), VM_ERR_NOT_FOUND);
    json_t *rec = json_pack("{s:s}", "note", "report");
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_job_report_get(s, job, &got, &e), VM_ERR_NOT_FOUND);
    assert_non_null(strstr(e.msg, "no report"));
    vm_task t;
    sc_make_task(&t, job, 0);
    assert_int_equal(vm_state_tasks_put(s, job, &t, 1, &e), 0);

    /* before any claim: no times, no stats */
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, job, 0, &ts, &e), 0);
    assert_true(ts.first_claim_ms == 0 && ts.finished_ms == 0 && ts.stats.retries == 0);
    vm_task_status_release(&ts);

    vm_claim c;
    if (vm_state_task_claim(s, job, 0, "w-a", 60000, &c, &e) != 0)
        fail_msg("claim: %s", e.msg);
    assert_int_equal(c.outcome, VM_CLAIM_CLAIMED);
    uint64_t tok1 = c.token;
    vm_claim_release(&c);
    assert_int_equal(vm_state_task_get(s, job, 0, &ts, &e), 0);
    int64_t first = ts.first_claim_ms;
    assert_true(first > 1600000000000ll);
    assert_true(ts.finished_ms == 0);
    vm_task_status_release(&ts);

    vm_task_stats d = {.retries = 1, .splits = 2, .changed = 3, .truncated = 4, .run_ms = 50};
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok1, &d, &e), 0);
    vm_task_stats neg = {.retries = -1};
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok1, &neg, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok1 + 1000, &d, &e), VM_ERR_FENCED);

    /* a second claim (same worker: a new token) keeps the first claim's time
     * and fences the old token for stats too */
    sc_pause_ms(5);
    if (vm_state_task_claim(s, job, 0, "w-a", 60000, &c, &e) != 0)
        fail_msg("claim: %s", e.msg);
    uint64_t tok2 = c.token;
    vm_claim_release(&c);
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok1, &d, &e), VM_ERR_FENCED);
    vm_task_stats d2 = {.retries = 10, .run_ms = 7};
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok2, &d2, &e), 0);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(s, job, 0, tok2, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    /* finished: no longer running, stats are fenced */
    assert_int_equal(vm_state_task_stats_add(s, job, 0, tok2, &d2, &e), VM_ERR_FENCED);

    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, job, &arr, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_true(arr[0].first_claim_ms == first);
    assert_true(arr[0].finished_ms >= first);
    assert_int_equal(arr[0].stats.retries, 11);
    assert_int_equal(arr[0].stats.splits, 2);
    assert_int_equal(arr[0].stats.changed, 3);
    assert_int_equal(arr[0].stats.truncated, 4);
    assert_int_equal(arr[0].stats.run_ms, 57);
    vm_task_status_free_array(arr, n);
    assert_int_equal(vm_state_task_get(s, job, 0, &ts, &e), 0);
    assert_int_equal(ts.stats.retries, 11);
    assert_true(ts.finished_ms >= first);
    vm_task_status_release(&ts);

    /* the report: stored exactly, replaced by the next put, kept by job_put */
    assert_int_equal(vm_state_job_report_put(s, job, rep, &e), 0);
    assert_int_equal(vm_state_job_report_get(s, job, &got, &e), 0);
    assert_true(json_equal(got, rep));
    json_decref(got);
    json_object_set_new(rep, "verdict", json_string("failed"));
    assert_int_equal(vm_state_job_report_put(s, job, rep, &e), 0);
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_job_report_get(s, job, &got, &e), 0);
    assert_string_equal(json_string_value(json_object_get(got, "verdict")), "failed");
    json_decref(got);
    json_t *arr2 = json_array();
    assert_int_equal(vm_state_job_report_put(s, job, arr2, &e), VM_ERR_INVALID);
    json_decref(arr2);

    assert_int_equal(vm_state_job_delete(s, job, &e), 0);
    assert_int_equal(vm_state_job_report_get(s, job, &got, &e), VM_ERR_NOT_FOUND);
    assert_null(got);
    json_decref(rep);
    json_decref(rec);
    vm_state_close(s);
}

/* The worker registry (its own job "<sc_job>.workers", deleted at its end):
 * a beat records task, rows and the store clock's time; a later beat
 * replaces the entry; the list is sorted by id and gives the store's now;
 * entries older than drop_after_ms are dropped; job_delete removes them. */
static void sc_test_workers(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_err e;
    char job[128];
    snprintf(job, sizeof job, "%s.workers", sc_job);
    vm_worker_status *w = NULL;
    size_t n = 99;
    int64_t now = -1;
    assert_int_equal(vm_state_workers_list(s, job, 60000, &w, &n, &now, &e), 0);
    assert_int_equal(n, 0);
    assert_true(now > 1600000000000ll);
    json_t *rec = json_pack("{s:s}", "note", "workers");
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_worker_beat(s, job, "w-b", 3, 10, &e), 0);
    assert_int_equal(vm_state_worker_beat(s, job, "w-a", -1, 0, &e), 0);
    assert_int_equal(vm_state_worker_beat(s, job, "w-b", 4, 25, &e), 0);
    assert_int_equal(vm_state_worker_beat(s, job, "", 4, 25, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_worker_beat(s, job, "w-c", -2, 0, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_worker_beat(s, job, "w-c", 1, -1, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_workers_list(s, job, 0, &w, &n, NULL, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_workers_list(s, job, 60000, &w, &n, &now, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(w[0].id, "w-a");
    assert_true(w[0].task_id == -1 && w[0].rows == 0);
    assert_string_equal(w[1].id, "w-b");
    assert_true(w[1].task_id == 4 && w[1].rows == 25);
    assert_true(w[1].last_beat_ms > 1600000000000ll && w[1].last_beat_ms <= now);
    assert_true(now - w[1].last_beat_ms < 10000);
    int64_t beat_a = w[0].last_beat_ms;
    vm_worker_status_free_array(w, n);

    /* w-a beats again later; w-b does not: with a short drop_after, w-b
     * goes (from the store too), w-a stays */
    sc_pause_ms(300);
    assert_int_equal(vm_state_worker_beat(s, job, "w-a", 5, 1, &e), 0);
    assert_int_equal(vm_state_workers_list(s, job, 200, &w, &n, &now, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(w[0].id, "w-a");
    assert_true(w[0].task_id == 5 && w[0].last_beat_ms > beat_a);
    vm_worker_status_free_array(w, n);
    assert_int_equal(vm_state_workers_list(s, job, 60000, &w, &n, NULL, &e), 0);
    assert_int_equal(n, 1);
    vm_worker_status_free_array(w, n);

    assert_int_equal(vm_state_job_delete(s, job, &e), 0);
    assert_int_equal(vm_state_workers_list(s, job, 60000, &w, &n, NULL, &e), 0);
    assert_int_equal(n, 0);
    vm_worker_status_free_array(w, n);
    json_decref(rec);
    vm_state_close(s);
}

/* The coordinators' leader lock (its own job id "<sc_job>.leader"; the job
 * need not exist): acquire; a second owner is refused with the holder's id
 * and its lease left; renew by the owner, refused for anyone else; the lock
 * survives job_delete; once the lease ran out another owner acquires it
 * and the first one's renewal is refused; release by a non-owner changes
 * nothing, by the owner frees it at once. */
static void sc_test_leader(void **st)
{
    (void)st;
    vm_state *a = sc_open(), *b = sc_open();
    vm_err e;
    vm_leader l;
    char job[128];
    snprintf(job, sizeof job, "%s.leader", sc_job);
    assert_int_equal(vm_state_leader_acquire(a, job, "", 1000, &l, &e), VM_ERR_INVALID);
    assert_int_equal(vm_state_leader_acquire(a, job, "coord-a", 0, &l, &e), VM_ERR_INVALID);

    assert_int_equal(vm_state_leader_acquire(a, job, "coord-a", 60000, &l, &e), 0);
    assert_true(l.held);
    assert_null(l.holder);
    assert_int_equal(l.remaining_ms, 60000);
    vm_leader_release(&l);
    /* acquiring again as the owner renews */
    assert_int_equal(vm_state_leader_acquire(a, job, "coord-a", 60000, &l, &e), 0);
    assert_true(l.held);
    vm_leader_release(&l);

    assert_int_equal(vm_state_leader_acquire(b, job, "coord-b", 60000, &l, &e), 0);
    assert_false(l.held);
    assert_non_null(l.holder);
    assert_string_equal(l.holder, "coord-a");
    assert_true(l.remaining_ms > 50000 && l.remaining_ms <= 60000);
    vm_leader_release(&l);
    assert_int_equal(vm_state_leader_renew(b, job, "coord-b", 60000, &l, &e), 0);
    assert_false(l.held);
    assert_string_equal(l.holder, "coord-a");
    vm_leader_release(&l);
    assert_int_equal(vm_state_leader_renew(a, job, "coord-a", 60000, &l, &e), 0);
    assert_true(l.held);
    vm_leader_release(&l);
    /* a purge of the job does not drop its lock */
    assert_int_equal(vm_state_job_delete(a, job, &e), 0);
    assert_int_equal(vm_state_leader_acquire(b, job, "coord-b", 60000, &l, &e), 0);
    assert_false(l.held);
    vm_leader_release(&l);
    /* release by someone else: nothing changes */
    assert_int_equal(vm_state_leader_release(b, job, "coord-b", &e), 0);
    assert_int_equal(vm_state_leader_renew(a, job, "coord-a", 300, &l, &e), 0);
    assert_true(l.held);
    vm_leader_release(&l);

    /* the lease (300 ms) runs out: b takes it, a's renewal is refused */
    int64_t t0 = sc_now_ms();
    bool got = false;
    while (!got && sc_now_ms() - t0 < 10000) {
        assert_int_equal(vm_state_leader_acquire(b, job, "coord-b", 60000, &l, &e), 0);
        got = l.held;
        vm_leader_release(&l);
        if (!got)
            sc_pause_ms(20);
    }
    assert_true(got);
    assert_true(sc_now_ms() - t0 >= 250);
    assert_int_equal(vm_state_leader_renew(a, job, "coord-a", 60000, &l, &e), 0);
    assert_false(l.held);
    assert_string_equal(l.holder, "coord-b");
    vm_leader_release(&l);
    assert_int_equal(vm_state_leader_acquire(a, job, "coord-a", 60000, &l, &e), 0);
    assert_false(l.held);
    vm_leader_release(&l);

    /* released by its owner: free at once, for anyone; releasing again is
     * a no-op; renewing a lock nobody holds is refused without a holder */
    assert_int_equal(vm_state_leader_release(b, job, "coord-b", &e), 0);
    assert_int_equal(vm_state_leader_release(b, job, "coord-b", &e), 0);
    assert_int_equal(vm_state_leader_renew(b, job, "coord-b", 60000, &l, &e), 0);
    assert_false(l.held);
    assert_null(l.holder);
    vm_leader_release(&l);
    assert_int_equal(vm_state_leader_acquire(a, job, "coord-a", 60000, &l, &e), 0);
    assert_true(l.held);
    vm_leader_release(&l);
    assert_int_equal(vm_state_leader_release(a, job, "coord-a", &e), 0);
    vm_state_close(a);
    vm_state_close(b);
}

/* Purge: the job goes, the index forgets it; deleting again is success. */
static void sc_test_job_delete(void **st)
{
    (void)st;
    vm_state *s = sc_open();
    vm_err e;
    assert_int_equal(vm_state_job_delete(s, sc_job, &e), 0);
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, sc_job, &info, &e), VM_ERR_NOT_FOUND);
    vm_job_counters c;
    assert_int_equal(vm_state_job_counters(s, sc_job, &c, &e), VM_ERR_NOT_FOUND);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sc_job, 1, &ts, &e), VM_ERR_NOT_FOUND);
    vm_task_status *arr = NULL;
    size_t n = 0;
    assert_int_equal(vm_state_tasks_list(s, sc_job, &arr, &n, &e), 0);
    assert_int_equal(n, 0);
    vm_task_status_free_array(arr, n);
    char **ids = NULL;
    assert_int_equal(vm_state_jobs_list(s, &ids, &n, &e), 0);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(ids[i], sc_job);
    vm_state_ids_free(ids, n);
    assert_int_equal(vm_state_job_delete(s, sc_job, &e), 0); /* idempotent */
    vm_state_close(s);
}

#endif

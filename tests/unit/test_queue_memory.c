/*
 * test_queue_memory.c - the embedded task-queue backend through the
 * vm_queue interface: FIFO order, many consumer threads moving 100,000
 * messages each acknowledged exactly once, redelivery of what a closed
 * handle did not acknowledge, the bound on waiting messages (publish blocks,
 * then times out), hold, dead letters, the topic registry's reference
 * counting, and out-of-memory paths.
 *
 * Threads report failures through counters that the main thread asserts
 * (cmocka assertions must stay on the main thread). Waits are on
 * conditions with deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm_mem.h"
#include "vm_queue.h"
#include "vm_queue_memory.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 1000000}; /* 1 ms between looks at a condition */
    nanosleep(&ts, NULL);
}

static vm_queue *open_q(const char *topic, const char *role)
{
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED, .topic = (char *)topic};
    vm_queue *q = NULL;
    vm_err e;
    int rc = vm_queue_open(&conf, role, &q, &e);
    if (rc != 0)
        fail_msg("open %s %s: %s", topic, role, e.msg);
    assert_non_null(q);
    return q;
}

static void publish_str(vm_queue *q, const char *key, const char *payload)
{
    vm_err e;
    int rc = vm_queue_publish(q, key, payload, strlen(payload), &e);
    if (rc != 0)
        fail_msg("publish %s: %s", payload, e.msg);
}

/* Consume one message (waiting up to 5 s) and check its payload. */
static void expect_msg(vm_queue *q, const char *payload, vm_queue_msg *m)
{
    vm_err e;
    int rc = vm_queue_consume(q, 5000, m, &e);
    if (rc != 1)
        fail_msg("consume: rc %d (%s), expected %s", rc, rc < 0 ? e.msg : "timeout", payload);
    assert_string_equal(m->payload, payload);
    assert_int_equal(m->len, strlen(payload));
}

static void ack_release(vm_queue *q, vm_queue_msg *m)
{
    vm_err e;
    int rc = vm_queue_ack(q, m, &e);
    if (rc != 0)
        fail_msg("ack %s: %s", m->payload, e.msg);
    vm_queue_msg_release(m);
}

static vm_queue_memory_stats stats(const char *topic)
{
    vm_queue_memory_stats s;
    assert_int_equal(vm_queue_memory_stats_get(topic, &s), 0);
    return s;
}

/* ---- FIFO --------------------------------------------------------------- */

static void test_fifo(void **st)
{
    (void)st;
    const char *topic = "t.fifo";
    vm_queue *p = open_q(topic, "producer");
    vm_queue *c = open_q(topic, "consumer");
    vm_err e;
    char key[32], payload[32];
    assert_int_equal(vm_queue_prepare(p, 8, &e), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "job:%d", i);
        snprintf(payload, sizeof payload, "payload-%d", i);
        publish_str(p, key, payload);
    }
    /* no key, an empty payload, a payload with a NUL inside */
    assert_int_equal(vm_queue_publish(p, NULL, "", 0, &e), 0);
    assert_int_equal(vm_queue_publish(c, "bin", "a\0b", 3, &e), 0);
    assert_int_equal(vm_queue_flush(p, 1000, &e), 0);
    assert_int_equal(vm_queue_memory_depth(topic), 1002);
    for (int i = 0; i < 1000; i++) {
        vm_queue_msg m;
        snprintf(key, sizeof key, "job:%d", i);
        snprintf(payload, sizeof payload, "payload-%d", i);
        expect_msg(c, payload, &m);
        assert_string_equal(m.key, key);
        assert_int_equal(m.key_len, strlen(key));
        assert_string_equal(m.topic, topic);
        assert_int_equal(m.partition, 0);
        assert_int_equal(m.offset, i);
        ack_release(c, &m);
    }
    vm_queue_msg m;
    assert_int_equal(vm_queue_consume(c, 1000, &m, &e), 1);
    assert_null(m.key);
    assert_int_equal(m.len, 0);
    assert_string_equal(m.payload, "");
    ack_release(c, &m);
    assert_int_equal(vm_queue_consume(c, 1000, &m, &e), 1);
    assert_string_equal(m.key, "bin");
    assert_int_equal(m.len, 3);
    assert_memory_equal(m.payload, "a\0b", 4);
    ack_release(c, &m);
    /* empty: a zero and a short timeout both answer 0 */
    assert_int_equal(vm_queue_consume(c, 0, &m, &e), 0);
    int64_t t0 = now_ms();
    assert_int_equal(vm_queue_consume(c, 50, &m, &e), 0);
    assert_true(now_ms() - t0 >= 45);
    assert_null(m.payload);
    vm_queue_memory_stats s = stats(topic);
    assert_int_equal(s.pending, 0);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.published, 1002);
    assert_int_equal(s.acked, 1002);
    assert_int_equal(s.handles, 2);
    assert_int_equal(s.capacity, VM_QUEUE_MEMORY_CAPACITY);
    vm_queue_close(c);
    vm_queue_close(p);
    assert_int_equal(vm_queue_memory_stats_get(topic, &s), VM_ERR_NOT_FOUND);
}

/* ---- 4 consumers, 1 producer, 100,000 messages ------------------------- */

#define MANY_N 100000
#define MANY_CONSUMERS 4

typedef struct many_ctx {
    const char *topic;
    atomic_int *counts; /* acknowledgements per message */
    atomic_long acked;
    atomic_long errors;
    atomic_long published;
    atomic_int ready; /* consumers that opened their handle */
    int64_t deadline;
} many_ctx;

static void *many_producer(void *arg)
{
    many_ctx *x = arg;
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED, .topic = (char *)x->topic};
    vm_queue *q = NULL;
    vm_err e;
    if (vm_queue_open(&conf, "producer", &q, &e) != 0) {
        atomic_fetch_add(&x->errors, 1);
        return NULL;
    }
    char key[32], payload[32];
    for (int i = 0; i < MANY_N; i++) {
        snprintf(key, sizeof key, "job:%d", i);
        int n = snprintf(payload, sizeof payload, "%d", i);
        if (vm_queue_publish(q, key, payload, (size_t)n, &e) != 0) {
            atomic_fetch_add(&x->errors, 1);
            break;
        }
        atomic_fetch_add(&x->published, 1);
    }
    vm_queue_close(q);
    return NULL;
}

static void *many_consumer(void *arg)
{
    many_ctx *x = arg;
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED, .topic = (char *)x->topic};
    vm_queue *q = NULL;
    vm_err e;
    if (vm_queue_open(&conf, "consumer", &q, &e) != 0) {
        atomic_fetch_add(&x->errors, 1);
        atomic_fetch_add(&x->ready, 1);
        return NULL;
    }
    atomic_fetch_add(&x->ready, 1);
    while (atomic_load(&x->acked) < MANY_N && now_ms() < x->deadline) {
        vm_queue_msg m;
        int rc = vm_queue_consume(q, 20, &m, &e);
        if (rc == 0)
            continue;
        if (rc < 0) {
            atomic_fetch_add(&x->errors, 1);
            break;
        }
        long i = strtol(m.payload, NULL, 10);
        if (i < 0 || i >= MANY_N) {
            atomic_fetch_add(&x->errors, 1);
        } else {
            /* hold/keepalive/release like a worker, on a sample */
            if (i % 1000 == 0 && (vm_queue_hold(q, &e) != 0 || vm_queue_keepalive(q, &e) != 0))
                atomic_fetch_add(&x->errors, 1);
            atomic_fetch_add(&x->counts[i], 1);
            if (vm_queue_ack(q, &m, &e) != 0)
                atomic_fetch_add(&x->errors, 1);
            if (i % 1000 == 0 && vm_queue_release_hold(q, &e) != 0)
                atomic_fetch_add(&x->errors, 1);
            atomic_fetch_add(&x->acked, 1);
        }
        vm_queue_msg_release(&m);
    }
    vm_queue_close(q);
    return NULL;
}

static void test_many_threads(void **st)
{
    (void)st;
    many_ctx x = {.topic = "t.many", .deadline = now_ms() + 100000};
    x.counts = calloc(MANY_N, sizeof *x.counts);
    assert_non_null(x.counts);
    /* a watcher keeps the channel open and bounds it, so the producer also
     * meets a full queue now and then */
    vm_queue *watch = open_q(x.topic, "producer");
    assert_int_equal(vm_queue_memory_configure(x.topic, 512, -1), 0);
    pthread_t prod, cons[MANY_CONSUMERS];
    for (int i = 0; i < MANY_CONSUMERS; i++)
        assert_int_equal(pthread_create(&cons[i], NULL, many_consumer, &x), 0);
    assert_int_equal(pthread_create(&prod, NULL, many_producer, &x), 0);
    assert_int_equal(pthread_join(prod, NULL), 0);
    for (int i = 0; i < MANY_CONSUMERS; i++)
        assert_int_equal(pthread_join(cons[i], NULL), 0);
    assert_int_equal(atomic_load(&x.errors), 0);
    assert_int_equal(atomic_load(&x.published), MANY_N);
    assert_int_equal(atomic_load(&x.acked), MANY_N);
    for (int i = 0; i < MANY_N; i++)
        if (atomic_load(&x.counts[i]) != 1)
            fail_msg("message %d acknowledged %d times", i, atomic_load(&x.counts[i]));
    vm_queue_memory_stats s = stats(x.topic);
    assert_int_equal(s.pending, 0);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.published, MANY_N);
    assert_int_equal(s.acked, MANY_N);
    assert_int_equal(s.redelivered, 0);
    assert_int_equal(s.handles, 1);
    vm_queue_close(watch);
    free(x.counts);
}

/* ---- redelivery ----------------------------------------------------------- */

static void test_redelivery(void **st)
{
    (void)st;
    const char *topic = "t.redeliver";
    vm_queue *p = open_q(topic, "producer");
    vm_queue *a = open_q(topic, "consumer");
    char payload[8];
    for (int i = 0; i < 5; i++) {
        snprintf(payload, sizeof payload, "m%d", i);
        publish_str(p, NULL, payload);
    }
    vm_queue_msg a0, a1, b2, m;
    expect_msg(a, "m0", &a0);
    expect_msg(a, "m1", &a1);
    vm_queue *b = open_q(topic, "consumer");
    expect_msg(b, "m2", &b2);
    assert_int_equal(stats(topic).in_flight, 3);
    /* a leaves without acknowledging: m0 and m1 go back to the front */
    vm_queue_close(a);
    vm_queue_memory_stats s = stats(topic);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.pending, 4);
    assert_int_equal(s.redelivered, 2);
    expect_msg(b, "m0", &m);
    assert_int_equal(m.offset, a0.offset); /* the same message */
    ack_release(b, &m);
    expect_msg(b, "m1", &m);
    assert_int_equal(m.offset, a1.offset);
    ack_release(b, &m);
    expect_msg(b, "m3", &m);
    ack_release(b, &m);
    ack_release(b, &b2);
    /* m0 went back and was acked through b: a's stale copy acks nothing */
    vm_err e;
    assert_int_equal(vm_queue_ack(b, &a0, &e), VM_ERR_INVALID);
    vm_queue_msg_release(&a0);
    vm_queue_msg_release(&a1);
    /* one more round: c takes m4 and closes without acking */
    vm_queue *c = open_q(topic, "consumer");
    expect_msg(c, "m4", &m); /* in flight on c, not acked */
    vm_queue_msg_release(&m);
    vm_queue_close(c);
    expect_msg(b, "m4", &m);
    ack_release(b, &m);
    s = stats(topic);
    assert_int_equal(s.pending, 0);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.acked, 5);
    assert_int_equal(s.redelivered, 3);
    vm_queue_close(b);
    vm_queue_close(p);
}

/* A consumer blocked in consume() receives what another handle puts back. */
typedef struct waiter_ctx {
    vm_queue *q;
    int rc;
    vm_queue_msg m;
} waiter_ctx;

static void *waiter(void *arg)
{
    waiter_ctx *w = arg;
    vm_err e;
    w->rc = vm_queue_consume(w->q, 30000, &w->m, &e);
    return NULL;
}

static void test_redelivery_wakes_waiter(void **st)
{
    (void)st;
    const char *topic = "t.redeliver.wake";
    vm_queue *a = open_q(topic, "consumer");
    vm_queue *b = open_q(topic, "consumer");
    vm_queue_msg m;
    publish_str(a, "k", "only");
    expect_msg(a, "only", &m);
    vm_queue_msg_release(&m);
    waiter_ctx w = {.q = b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, waiter, &w), 0);
    /* wait until the waiter is blocked inside consume() */
    int64_t deadline = now_ms() + 10000;
    while (stats(topic).consumers_waiting != 1) {
        if (now_ms() > deadline)
            fail_msg("the consumer thread never waited");
        pause_briefly();
    }
    vm_queue_close(a);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, 1);
    assert_string_equal(w.m.payload, "only");
    ack_release(b, &w.m);
    vm_queue_close(b);
}

/* ---- capacity ------------------------------------------------------------- */

#define CAP 4
#define CAP_N 10

typedef struct cap_ctx {
    const char *topic;
    atomic_int done; /* publishes that returned 0 */
    atomic_int errors;
} cap_ctx;

static void *cap_producer(void *arg)
{
    cap_ctx *x = arg;
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED, .topic = (char *)x->topic};
    vm_queue *q = NULL;
    vm_err e;
    if (vm_queue_open(&conf, "producer", &q, &e) != 0) {
        atomic_fetch_add(&x->errors, 1);
        return NULL;
    }
    char payload[8];
    for (int i = 0; i < CAP_N; i++) {
        int n = snprintf(payload, sizeof payload, "c%d", i);
        if (vm_queue_publish(q, NULL, payload, (size_t)n, &e) != 0) {
            atomic_fetch_add(&x->errors, 1);
            break;
        }
        atomic_fetch_add(&x->done, 1);
    }
    vm_queue_close(q);
    return NULL;
}

/* Wait (deadline 10 s) until the producer is blocked in publish on a full
 * channel, or has published everything. */
static void wait_blocked_or_done(cap_ctx *x)
{
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        vm_queue_memory_stats s = stats(x->topic);
        if ((s.publishers_waiting == 1 && s.pending == CAP) || atomic_load(&x->done) == CAP_N)
            return;
        if (now_ms() > deadline)
            fail_msg("producer neither blocked nor done (pending %zu, waiting %zu, done %d)",
                     s.pending, s.publishers_waiting, atomic_load(&x->done));
        pause_briefly();
    }
}

static void test_capacity_blocks(void **st)
{
    (void)st;
    cap_ctx x = {.topic = "t.capacity"};
    vm_queue *c = open_q(x.topic, "consumer");
    assert_int_equal(vm_queue_memory_configure(x.topic, CAP, -1), 0);
    assert_int_equal(vm_queue_memory_configure(x.topic, 0, -1), VM_ERR_INVALID);
    assert_int_equal(vm_queue_memory_configure("t.nowhere", 1, -1), VM_ERR_NOT_FOUND);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cap_producer, &x), 0);
    wait_blocked_or_done(&x);
    /* the channel is full and the fifth publish waits */
    assert_int_equal(atomic_load(&x.done), CAP);
    assert_int_equal(stats(x.topic).publishers_waiting, 1);
    char payload[8];
    for (int i = 0; i < CAP_N; i++) {
        vm_queue_msg m;
        snprintf(payload, sizeof payload, "c%d", i);
        expect_msg(c, payload, &m);
        ack_release(c, &m);
        /* one message taken makes room for exactly one more */
        if (i + 1 + CAP <= CAP_N) {
            wait_blocked_or_done(&x);
            assert_int_equal(atomic_load(&x.done), i + 1 + CAP);
        }
        assert_true(atomic_load(&x.done) <= i + 1 + CAP);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&x.errors), 0);
    assert_int_equal(atomic_load(&x.done), CAP_N);
    assert_int_equal(stats(x.topic).pending, 0);
    vm_queue_close(c);
}

static void test_publish_timeout(void **st)
{
    (void)st;
    const char *topic = "t.timeout";
    vm_queue *p = open_q(topic, "producer");
    assert_int_equal(vm_queue_memory_configure(topic, 2, 100), 0);
    publish_str(p, "k", "one");
    publish_str(p, "k", "two");
    vm_err e;
    int64_t t0 = now_ms();
    assert_int_equal(vm_queue_publish(p, "k", "three", 5, &e), VM_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 95);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "t.timeout"));
    vm_queue_memory_stats s = stats(topic);
    assert_int_equal(s.pending, 2);
    assert_int_equal(s.publishers_waiting, 0);
    assert_int_equal(s.published, 2);
    /* dead letters are not bounded by the task queue */
    assert_int_equal(vm_queue_dead_letter(p, "k", "dead", 4, &e), 0);
    /* a larger bound lets it through */
    assert_int_equal(vm_queue_memory_configure(topic, 3, -1), 0);
    publish_str(p, "k", "three");
    assert_int_equal(vm_queue_memory_depth(topic), 3);
    vm_queue_close(p); /* frees the channel with 3 messages (leak check) */
    assert_int_equal(vm_queue_memory_depth(topic), 0);
}

/* ---- hold, dead letters, misuse --------------------------------------- */

static void test_hold_dead_letter_misuse(void **st)
{
    (void)st;
    /* no topic: the default one */
    vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED};
    vm_queue *c = NULL, *p;
    vm_err e;
    assert_int_equal(vm_queue_open(&conf, "consumer", &c, &e), 0);
    assert_int_equal(stats("vecmig.tasks").handles, 1);
    p = open_q("vecmig.tasks", "producer");
    assert_int_equal(stats("vecmig.tasks").handles, 2);
    publish_str(p, "k:1", "task-1");
    publish_str(p, "k:2", "task-2");
    vm_queue_msg m, m2;
    /* a producer consumes nothing */
    assert_int_equal(vm_queue_consume(p, 0, &m, &e), VM_ERR_INVALID);
    assert_int_equal(vm_queue_hold(p, &e), VM_ERR_INVALID);
    expect_msg(c, "task-1", &m);
    assert_int_equal(vm_queue_hold(c, &e), 0);
    assert_int_equal(vm_queue_consume(c, 0, &m2, &e), VM_ERR_INVALID);
    assert_int_equal(vm_queue_keepalive(c, &e), 0);
    assert_int_equal(vm_queue_hold(c, &e), 0); /* twice is fine */
    ack_release(c, &m);
    assert_int_equal(vm_queue_release_hold(c, &e), 0);
    assert_int_equal(vm_queue_release_hold(c, &e), 0);
    expect_msg(c, "task-2", &m);
    /* acking twice, or a message of another topic, is refused */
    vm_queue_msg copy = m;
    assert_int_equal(vm_queue_ack(c, &m, &e), 0);
    assert_int_equal(vm_queue_ack(c, &copy, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "not in flight"));
    char other[] = "t.other";
    copy.topic = other;
    assert_int_equal(vm_queue_ack(c, &copy, &e), VM_ERR_INVALID);
    vm_queue_msg_release(&m);
    /* dead letters: kept apart, in order, never delivered */
    assert_int_equal(vm_queue_dead_letter(p, "k:7", "dead-7", 6, &e), 0);
    assert_int_equal(vm_queue_dead_letter(c, NULL, "dead-8", 6, &e), 0);
    assert_int_equal(vm_queue_consume(c, 0, &m, &e), 0);
    vm_queue_memory_stats s = stats("vecmig.tasks");
    assert_int_equal(s.dead, 2);
    assert_int_equal(s.pending, 0);
    assert_int_equal(vm_queue_memory_dead_letter_get("vecmig.tasks", 0, &m), 0);
    assert_string_equal(m.key, "k:7");
    assert_string_equal(m.payload, "dead-7");
    vm_queue_msg_release(&m);
    assert_int_equal(vm_queue_memory_dead_letter_get("vecmig.tasks", 1, &m), 0);
    assert_null(m.key);
    assert_string_equal(m.payload, "dead-8");
    vm_queue_msg_release(&m);
    assert_int_equal(vm_queue_memory_dead_letter_get("vecmig.tasks", 2, &m), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_queue_memory_dead_letter_get("t.nowhere", 0, &m), VM_ERR_NOT_FOUND);
    /* prepare and flush have nothing to do */
    assert_int_equal(vm_queue_prepare(p, 32, &e), 0);
    assert_int_equal(vm_queue_flush(p, 0, &e), 0);
    vm_queue_close(c);
    vm_queue_close(p);
    assert_int_equal(vm_queue_memory_stats_get("vecmig.tasks", &s), VM_ERR_NOT_FOUND);
}

/* ---- registry ------------------------------------------------------------- */

static void test_registry(void **st)
{
    (void)st;
    const char *t1 = "t.reg.one", *t2 = "t.reg.two";
    vm_queue_memory_stats s;
    assert_int_equal(vm_queue_memory_stats_get(t1, &s), VM_ERR_NOT_FOUND);
    vm_queue *a = open_q(t1, "producer");
    vm_queue *b = open_q(t1, "consumer");
    vm_queue *c = open_q(t2, "consumer");
    assert_int_equal(stats(t1).handles, 2);
    assert_int_equal(stats(t2).handles, 1);
    publish_str(a, "k", "one-1");
    publish_str(a, "k", "one-2");
    publish_str(a, "k", "one-3");
    publish_str(c, "k", "two-1");
    assert_int_equal(vm_queue_memory_depth(t1), 3);
    assert_int_equal(vm_queue_memory_depth(t2), 1);
    /* topics are independent: offsets, order, contents */
    vm_queue_msg m;
    expect_msg(b, "one-1", &m);
    assert_int_equal(m.offset, 0);
    vm_queue_msg_release(&m); /* left in flight on b */
    expect_msg(c, "two-1", &m);
    assert_int_equal(m.offset, 0);
    assert_string_equal(m.topic, t2);
    ack_release(c, &m);
    vm_err e;
    assert_int_equal(vm_queue_consume(c, 0, &m, &e), 0);
    /* the channel lives while one handle is open */
    vm_queue_close(a);
    s = stats(t1);
    assert_int_equal(s.handles, 1);
    assert_int_equal(s.pending, 2);
    assert_int_equal(s.in_flight, 1);
    /* the last handle frees it, with what it holds (ASan checks the leak) */
    vm_queue_close(b);
    assert_int_equal(vm_queue_memory_stats_get(t1, &s), VM_ERR_NOT_FOUND);
    assert_int_equal(vm_queue_memory_depth(t1), 0);
    assert_int_equal(stats(t2).acked, 1);
    /* a new handle starts a new, empty channel */
    a = open_q(t1, "consumer");
    s = stats(t1);
    assert_int_equal(s.published, 0);
    assert_int_equal(s.pending, 0);
    assert_int_equal(vm_queue_consume(a, 0, &m, &e), 0);
    vm_queue_close(a);
    vm_queue_close(c);
    assert_int_equal(vm_queue_memory_stats_get(t2, &s), VM_ERR_NOT_FOUND);
}

/* ---- out of memory ------------------------------------------------------ */

static void test_nomem(void **st)
{
    (void)st;
    const char *topic = "t.nomem";
    int completed = 0;
    for (long n = 0; n < 60 && !completed; n++) {
        vm_job_queue_conf conf = {.type = VM_QUEUE_EMBEDDED, .topic = (char *)topic};
        vm_queue *p = NULL, *c = NULL;
        vm_queue_msg m = {0};
        vm_err e;
        int rc;
        vm_mem_fail_after(n);
        if ((rc = vm_queue_open(&conf, "producer", &p, &e)) != 0)
            goto next;
        if ((rc = vm_queue_open(&conf, "consumer", &c, &e)) != 0)
            goto next;
        if ((rc = vm_queue_publish(p, "key", "payload", 7, &e)) != 0)
            goto next;
        if ((rc = vm_queue_dead_letter(p, "key", "dead", 4, &e)) != 0)
            goto next;
        if ((rc = vm_queue_consume(c, 0, &m, &e)) != 1)
            goto next;
        if ((rc = vm_queue_ack(c, &m, &e)) != 0)
            goto next;
        completed = 1;
    next:
        vm_mem_fail_after(-1);
        if (!completed && rc != VM_ERR_NOMEM)
            fail_msg("allocation %ld failing gave rc %d (%s)", n, rc, e.msg);
        if (!completed && rc == VM_ERR_NOMEM && c && m.payload == NULL) {
            /* a consume that ran out of memory left the message in line */
            vm_queue_memory_stats s = stats(topic);
            assert_int_equal(s.in_flight, 0);
        }
        vm_queue_msg_release(&m);
        vm_queue_close(c);
        vm_queue_close(p);
        vm_queue_memory_stats s;
        assert_int_equal(vm_queue_memory_stats_get(topic, &s), VM_ERR_NOT_FOUND);
    }
    assert_true(completed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_redelivery),
        cmocka_unit_test(test_redelivery_wakes_waiter),
        cmocka_unit_test(test_capacity_blocks),
        cmocka_unit_test(test_publish_timeout),
        cmocka_unit_test(test_hold_dead_letter_misuse),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_kafka.c - vm_kafka against a real broker (VECMIG_TEST_KAFKA, e.g.
 * "127.0.0.1:39092" from `scripts/stack env`): idempotent topic admin,
 * synchronous keyed produce, at-least-once hand-over between consumers of
 * one group (what A committed is never redelivered, what A left
 * uncommitted all reaches B), partition split between two live members,
 * and the batched produce + flush path. Every wait polls a condition under
 * a deadline; topics are unique per run and deleted in the group teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm_err.h"
#include "vm_kafka.h"
#include "vm_log.h"

#define NMSG 30
#define NPART 3
#define DEADLINE_MS 60000
#define ADMIN_MS 30000

typedef struct kt_state {
    vm_kafka_opts opts;
    char topic[96];       /* 3 partitions, NMSG keyed messages */
    char batch_topic[96]; /* 1 partition, batched produce */
    char run[48];         /* unique suffix */
    bool produced;
} kt_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A short pause between condition checks that have no blocking call. */
static void backoff(void)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
}

static int key_index(const vm_kafka_msg *m)
{
    int k = -1;
    if (!m->key || sscanf(m->key, "key-%d", &k) != 1 || k < 0 || k >= NMSG)
        fail_msg("unexpected key in %s [%d] @%lld", m->topic, (int)m->partition,
                 (long long)m->offset);
    char want[32];
    snprintf(want, sizeof want, "payload-%02d", k);
    assert_string_equal(m->payload, want);
    assert_int_equal(m->len, strlen(want));
    return k;
}

static int group_setup(void **state)
{
    const char *brokers = getenv("VECMIG_TEST_KAFKA");
    if (!brokers || !brokers[0]) {
        fprintf(stderr, "test_kafka: VECMIG_TEST_KAFKA is not set; start Kafka with "
                        "`scripts/stack up kafka` and run `eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    kt_state *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    st->opts.brokers = brokers;
    st->opts.client_id = "vecmig-test";
    snprintf(st->run, sizeof st->run, "%ld-%lld", (long)getpid(), (long long)time(NULL));
    snprintf(st->topic, sizeof st->topic, "vecmig-test-%s", st->run);
    snprintf(st->batch_topic, sizeof st->batch_topic, "vecmig-test-batch-%s", st->run);

    /* reachability: a metadata round trip must answer "no such topic" */
    vm_err e;
    int n = 0;
    int rc = vm_kafka_topic_partitions(&st->opts, st->topic, 10000, &n, &e);
    if (rc != VM_ERR_NOT_FOUND) {
        fprintf(stderr, "test_kafka: Kafka at %s is not usable (VECMIG_TEST_KAFKA): %s\n",
                brokers, rc == 0 ? "topic unexpectedly exists" : e.msg);
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static int group_teardown(void **state)
{
    kt_state *st = *state;
    if (!st)
        return 0;
    vm_err e;
    int rc = 0;
    if (vm_kafka_delete_topic(&st->opts, st->topic, ADMIN_MS, &e) != 0) {
        fprintf(stderr, "test_kafka: cleanup: %s\n", e.msg);
        rc = -1;
    }
    if (vm_kafka_delete_topic(&st->opts, st->batch_topic, ADMIN_MS, &e) != 0) {
        fprintf(stderr, "test_kafka: cleanup: %s\n", e.msg);
        rc = -1;
    }
    free(st);
    return rc;
}

/* Create (twice: idempotent), read the partition count, produce NMSG
 * keyed messages, each acknowledged before the next. */
static void test_admin_and_produce(void **state)
{
    kt_state *st = *state;
    vm_err e;
    if (vm_kafka_create_topic(&st->opts, st->topic, NPART, 1, ADMIN_MS, &e) != 0)
        fail_msg("create topic: %s", e.msg);
    if (vm_kafka_create_topic(&st->opts, st->topic, NPART, 1, ADMIN_MS, &e) != 0)
        fail_msg("create existing topic must succeed: %s", e.msg);
    int n = 0;
    if (vm_kafka_topic_partitions(&st->opts, st->topic, 10000, &n, &e) != 0)
        fail_msg("partitions: %s", e.msg);
    assert_int_equal(n, NPART);

    vm_kafka_producer *p = NULL;
    if (vm_kafka_producer_new(&st->opts, &p, &e) != 0)
        fail_msg("producer: %s", e.msg);
    for (int i = 0; i < NMSG; i++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "key-%02d", i);
        snprintf(val, sizeof val, "payload-%02d", i);
        if (vm_kafka_produce_sync(p, st->topic, key, strlen(key), val, strlen(val), 30000,
                                  &e) != 0)
            fail_msg("produce %d: %s", i, e.msg);
    }
    vm_kafka_producer_free(p);
    st->produced = true;
}

/* Consumer A takes 10 messages and commits only the first two it
 * "processed" on each partition; after A leaves, B in the same group gets
 * exactly the rest. */
static void test_at_least_once_handover(void **state)
{
    kt_state *st = *state;
    if (!st->produced)
        fail_msg("needs test_admin_and_produce");
    char group[96];
    snprintf(group, sizeof group, "vecmig-test-g-%s", st->run);
    const char *topics[] = {st->topic};
    vm_err e;

    bool committed[NMSG] = {0}, seen_a[NMSG] = {0};
    int32_t key_part[NMSG];
    int64_t key_off[NMSG];
    int per_part[NPART] = {0};
    int64_t next_off[NPART] = {0}; /* per partition: A's committed position */
    int ncommitted = 0, got = 0;

    vm_kafka_consumer *a = NULL;
    if (vm_kafka_consumer_new(&st->opts, group, topics, 1, &a, &e) != 0)
        fail_msg("consumer A: %s", e.msg);
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (got < 10) {
        if (now_ms() > deadline)
            fail_msg("consumer A got only %d of 10 messages", got);
        vm_kafka_msg m;
        int rc = vm_kafka_poll(a, 500, &m, &e);
        if (rc < 0) {
            if (!e.retriable)
                fail_msg("consumer A: %s", e.msg);
            continue;
        }
        if (rc == 0)
            continue;
        assert_string_equal(m.topic, st->topic);
        assert_true(m.partition >= 0 && m.partition < NPART);
        int k = key_index(&m);
        assert_false(seen_a[k]);
        seen_a[k] = true;
        key_part[k] = m.partition;
        key_off[k] = m.offset;
        got++;
        /* within a partition A sees offsets in order from the start */
        assert_int_equal(m.offset, per_part[m.partition]);
        if (per_part[m.partition] < 2) {
            if (vm_kafka_commit(a, &m, &e) != 0)
                fail_msg("commit: %s", e.msg);
            committed[k] = true;
            ncommitted++;
            next_off[m.partition] = m.offset + 1;
        }
        per_part[m.partition]++;
        vm_kafka_msg_release(&m);
    }
    vm_kafka_consumer_close(a);
    assert_true(ncommitted >= 2 && ncommitted <= 2 * NPART);

    vm_kafka_consumer *b = NULL;
    if (vm_kafka_consumer_new(&st->opts, group, topics, 1, &b, &e) != 0)
        fail_msg("consumer B: %s", e.msg);
    bool seen_b[NMSG] = {0};
    int want = NMSG - ncommitted, got_b = 0;
    int64_t b_next[NPART];
    memcpy(b_next, next_off, sizeof b_next);
    deadline = now_ms() + DEADLINE_MS;
    while (got_b < want) {
        if (now_ms() > deadline)
            fail_msg("consumer B got %d of the %d uncommitted messages", got_b, want);
        vm_kafka_msg m;
        int rc = vm_kafka_poll(b, 500, &m, &e);
        if (rc < 0) {
            if (!e.retriable)
                fail_msg("consumer B: %s", e.msg);
            continue;
        }
        if (rc == 0)
            continue;
        int k = key_index(&m);
        if (committed[k])
            fail_msg("B received key-%02d that A committed", k);
        if (seen_b[k])
            fail_msg("B received key-%02d twice", k);
        seen_b[k] = true;
        got_b++;
        /* B resumes each partition exactly at A's committed offset */
        assert_int_equal(m.offset, b_next[m.partition]);
        b_next[m.partition]++;
        if (seen_a[k]) {
            /* redelivered: A saw it but did not commit it */
            assert_int_equal(m.partition, key_part[k]);
            assert_int_equal(m.offset, key_off[k]);
        }
        vm_kafka_msg_release(&m);
    }
    /* nothing lost: committed by A + received by B = everything, and B has
     * nothing more: one more poll round stays empty of new keys */
    for (int k = 0; k < NMSG; k++)
        if (!(committed[k] ^ seen_b[k]))
            fail_msg("key-%02d: committed by A=%d, received by B=%d", k, committed[k],
                     seen_b[k]);
    vm_kafka_msg m;
    int rc = vm_kafka_poll(b, 1000, &m, &e);
    if (rc == 1) {
        int k = key_index(&m);
        vm_kafka_msg_release(&m);
        fail_msg("B received an extra message key-%02d", k);
    }
    int64_t total = 0;
    for (int p = 0; p < NPART; p++)
        total += b_next[p];
    assert_int_equal(total, NMSG); /* B read every partition to its end */
    vm_kafka_consumer_close(b);
}

static bool split_ok(const int32_t *pa, size_t na, const int32_t *pb, size_t nb)
{
    if (na == 0 || nb == 0 || na + nb != NPART || na > NPART || nb > NPART)
        return false;
    bool seen[NPART] = {0};
    for (size_t i = 0; i < na; i++) {
        if (pa[i] < 0 || pa[i] >= NPART || seen[pa[i]])
            return false;
        seen[pa[i]] = true;
    }
    for (size_t i = 0; i < nb; i++) {
        if (pb[i] < 0 || pb[i] >= NPART || seen[pb[i]])
            return false;
        seen[pb[i]] = true;
    }
    return true;
}

/* Poll one member once; record the message key, and after the split is
 * stable check that the message comes from this member's partitions. */
static void split_poll(vm_kafka_consumer *c, const char *name, bool *seen, int *distinct,
                       const int32_t *mine, size_t nmine, bool stable)
{
    vm_kafka_msg m;
    vm_err e;
    int rc = vm_kafka_poll(c, 200, &m, &e);
    if (rc < 0) {
        if (!e.retriable)
            fail_msg("%s: %s", name, e.msg);
        return;
    }
    if (rc == 0)
        return;
    int k = key_index(&m);
    if (!seen[k]) {
        seen[k] = true;
        (*distinct)++;
    }
    if (stable) {
        bool own = false;
        for (size_t i = 0; i < nmine; i++)
            own |= mine[i] == m.partition;
        if (!own)
            fail_msg("%s got partition %d outside its assignment", name, (int)m.partition);
    }
    vm_kafka_msg_release(&m);
}

/* Two live members of a fresh group split the partitions: each holds a
 * disjoint, non-empty set, together all of them; between them they read
 * every message. */
static void test_two_members_split(void **state)
{
    kt_state *st = *state;
    if (!st->produced)
        fail_msg("needs test_admin_and_produce");
    char group[96];
    snprintf(group, sizeof group, "vecmig-test-split-%s", st->run);
    const char *topics[] = {st->topic};
    vm_err e;
    vm_kafka_consumer *c1 = NULL, *c2 = NULL;
    if (vm_kafka_consumer_new(&st->opts, group, topics, 1, &c1, &e) != 0)
        fail_msg("consumer 1: %s", e.msg);
    if (vm_kafka_consumer_new(&st->opts, group, topics, 1, &c2, &e) != 0)
        fail_msg("consumer 2: %s", e.msg);

    int32_t p1[NPART], p2[NPART];
    size_t n1 = 0, n2 = 0;
    bool seen[NMSG] = {0}, stable = false;
    int distinct = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (!stable || distinct < NMSG) {
        if (now_ms() > deadline)
            fail_msg("no stable split with all messages read: c1 has %zu, c2 has %zu "
                     "partition(s), %d of %d messages seen", n1, n2, distinct, NMSG);
        split_poll(c1, "consumer 1", seen, &distinct, p1, n1, stable);
        split_poll(c2, "consumer 2", seen, &distinct, p2, n2, stable);
        if (!stable) {
            if (vm_kafka_assignment(c1, st->topic, p1, NPART, &n1, &e) != 0 ||
                vm_kafka_assignment(c2, st->topic, p2, NPART, &n2, &e) != 0)
                fail_msg("assignment: %s", e.msg);
            stable = split_ok(p1, n1, p2, n2);
        }
    }
    assert_true(split_ok(p1, n1, p2, n2));
    vm_kafka_consumer_close(c1);
    vm_kafka_consumer_close(c2);
}

/* vm_kafka_produce + vm_kafka_flush: every message acknowledged, none
 * failed, and all of them readable in order. */
static void test_batched_produce(void **state)
{
    kt_state *st = *state;
    vm_err e;
    if (vm_kafka_create_topic(&st->opts, st->batch_topic, 1, 1, ADMIN_MS, &e) != 0)
        fail_msg("create topic: %s", e.msg);
    vm_kafka_producer *p = NULL;
    if (vm_kafka_producer_new(&st->opts, &p, &e) != 0)
        fail_msg("producer: %s", e.msg);
    for (int i = 0; i < 5; i++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "key-%02d", i);
        snprintf(val, sizeof val, "payload-%02d", i);
        if (vm_kafka_produce(p, st->batch_topic, key, strlen(key), val, strlen(val), &e) != 0)
            fail_msg("produce: %s", e.msg);
    }
    size_t failed = 99;
    if (vm_kafka_flush(p, 30000, &failed, &e) != 0)
        fail_msg("flush: %s", e.msg);
    assert_int_equal(failed, 0);
    vm_kafka_producer_free(p);

    char group[96];
    snprintf(group, sizeof group, "vecmig-test-batch-%s", st->run);
    const char *topics[] = {st->batch_topic};
    vm_kafka_consumer *c = NULL;
    if (vm_kafka_consumer_new(&st->opts, group, topics, 1, &c, &e) != 0)
        fail_msg("consumer: %s", e.msg);
    int got = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (got < 5) {
        if (now_ms() > deadline)
            fail_msg("read back %d of 5", got);
        vm_kafka_msg m;
        int rc = vm_kafka_poll(c, 500, &m, &e);
        if (rc < 0 && !e.retriable)
            fail_msg("poll: %s", e.msg);
        if (rc != 1)
            continue;
        assert_int_equal(key_index(&m), got);
        assert_int_equal(m.offset, got);
        got++;
        vm_kafka_msg_release(&m);
    }
    vm_kafka_consumer_close(c);
}

/* Deleting is idempotent and the topic really goes away. */
static void test_delete_topic(void **state)
{
    kt_state *st = *state;
    vm_err e;
    char gone[128];
    snprintf(gone, sizeof gone, "vecmig-test-gone-%s", st->run);
    if (vm_kafka_create_topic(&st->opts, gone, 1, 1, ADMIN_MS, &e) != 0)
        fail_msg("create: %s", e.msg);
    if (vm_kafka_delete_topic(&st->opts, gone, ADMIN_MS, &e) != 0)
        fail_msg("delete: %s", e.msg);
    int64_t deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        int n = 0;
        int rc = vm_kafka_topic_partitions(&st->opts, gone, 10000, &n, &e);
        if (rc == VM_ERR_NOT_FOUND)
            break;
        if (now_ms() > deadline)
            fail_msg("topic %s still visible after delete (rc %d)", gone, rc);
        backoff();
    }
    if (vm_kafka_delete_topic(&st->opts, gone, ADMIN_MS, &e) != 0)
        fail_msg("deleting a deleted topic must succeed: %s", e.msg);
}

int main(void)
{
    vm_log_set_level(VM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_and_produce),
        cmocka_unit_test(test_at_least_once_handover),
        cmocka_unit_test(test_two_members_split),
        cmocka_unit_test(test_batched_produce),
        cmocka_unit_test(test_delete_topic),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_queue_kafka.c - the Kafka task queue against a real broker
 * (VECMIG_TEST_KAFKA, e.g. 127.0.0.1:39092, from `scripts/stack env`):
 *
 * - idempotent topic preparation; N keyed tasks published and consumed and
 *   acked exactly once across two consumers of one group (then a third
 *   member reads only what was published after them); the dead-letter topic;
 * - hold + keepalive: with max.poll.interval.ms = 6 s, a task held for 12 s
 *   while calling keepalive() every 500 ms is not delivered to a second
 *   member meanwhile, and its ack after 12 s still succeeds; a control run
 *   without keepalive shows the group does take the task away;
 * - a consumer closed without acking, and a consumer process killed with
 *   SIGKILL while holding a task, leave the task to another member (the
 *   latter after session.timeout.ms = 6 s);
 * - publish_nowait + one flush delivers every message once; a flush that
 *   reaches no broker fails, retriable.
 *
 * Topics and groups are unique per run; topics are deleted at the end.
 * Fails (never skips) when VECMIG_TEST_KAFKA is unset or unreachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vm_kafka.h"
#include "vm_log.h"
#include "vm_queue.h"

#define NMSG 40
#define DEADLINE_MS 30000
#define LONG_TASK_MS 12000
#define KEEPALIVE_MS 500

static const char *brokers;
static char run[48];
static char *broker_list[1];
static const char *self_exe;

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

/* Topic "vmq-<name>-<run>", its dead-letter topic and group alike. */
typedef struct qt_names {
    char topic[128], dead[128], group[128];
} qt_names;

static void names(qt_names *n, const char *name)
{
    snprintf(n->topic, sizeof n->topic, "vmq-%s-%s", name, run);
    snprintf(n->dead, sizeof n->dead, "vmq-%s-dead-%s", name, run);
    snprintf(n->group, sizeof n->group, "vmq-%s-group-%s", name, run);
}

/* A job-file queue block for these names; props may be NULL (borrowed). */
static vm_job_queue_conf conf_for(const qt_names *n, json_t *props)
{
    vm_job_queue_conf c = {.type = VM_QUEUE_KAFKA,
                           .brokers = {broker_list, 1},
                           .topic = (char *)n->topic,
                           .dead_letter_topic = (char *)n->dead,
                           .group = (char *)n->group,
                           .properties = props};
    return c;
}

static vm_queue *open_q(const qt_names *n, json_t *props, const char *role)
{
    vm_job_queue_conf c = conf_for(n, props);
    vm_queue *q = NULL;
    vm_err e;
    if (vm_queue_open(&c, role, &q, &e) != 0)
        fail_msg("vm_queue_open(%s): %s", role, e.msg);
    return q;
}

/* Short session and poll interval for the fault tests. */
static json_t *fast_props(void)
{
    return json_pack("{s:s,s:s,s:s}", "session.timeout.ms", "6000", "max.poll.interval.ms",
                     "6000", "heartbeat.interval.ms", "1000");
}

static vm_queue *producer_for(const qt_names *n, int partitions)
{
    vm_queue *p = open_q(n, NULL, "producer");
    vm_err e;
    if (vm_queue_prepare(p, partitions, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    return p;
}

static void publish(vm_queue *p, const char *key, const char *payload)
{
    vm_err e;
    if (vm_queue_publish(p, key, payload, strlen(payload), &e) != 0)
        fail_msg("publish %s: %s", key, e.msg);
}

/* Consume until a message arrives or deadline_ms passes: 1 or 0. */
static int consume_until(vm_queue *q, int64_t deadline_ms, vm_queue_msg *m)
{
    vm_err e;
    while (now_ms() < deadline_ms) {
        int rc = vm_queue_consume(q, 200, m, &e);
        if (rc == 1)
            return 1;
        if (rc < 0 && !e.retriable)
            fail_msg("consume: %s", e.msg);
    }
    return 0;
}

static void ack(vm_queue *q, const vm_queue_msg *m)
{
    vm_err e;
    if (vm_queue_ack(q, m, &e) != 0)
        fail_msg("ack %s: %s", m->key ? m->key : "?", e.msg);
}

/* ------------------------------------------------------------- group */

static int group_setup(void **st)
{
    (void)st;
    brokers = getenv("VECMIG_TEST_KAFKA");
    if (!brokers || !*brokers) {
        fprintf(stderr, "test_queue_kafka: VECMIG_TEST_KAFKA is not set; run "
                        "`scripts/stack up kafka && eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    broker_list[0] = (char *)brokers;
    snprintf(run, sizeof run, "%ld-%lld", (long)getpid(), (long long)time(NULL));
    vm_kafka_opts o = {.brokers = brokers};
    vm_err e;
    int n = 0;
    char probe[128];
    snprintf(probe, sizeof probe, "vmq-probe-%s", run);
    if (vm_kafka_topic_partitions(&o, probe, 10000, &n, &e) != VM_ERR_NOT_FOUND) {
        fprintf(stderr, "test_queue_kafka: Kafka at %s is not usable: %s\n", brokers, e.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    static const char *const all[] = {"basic", "dlq", "hold", "nohold", "close", "kill", "nowait"};
    vm_kafka_opts o = {.brokers = brokers};
    vm_err e;
    int rc = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        qt_names n;
        names(&n, all[i]);
        if (vm_kafka_delete_topic(&o, n.topic, 30000, &e) != 0 ||
            vm_kafka_delete_topic(&o, n.dead, 30000, &e) != 0) {
            fprintf(stderr, "test_queue_kafka: cleanup: %s\n", e.msg);
            rc = -1;
        }
    }
    return rc;
}

/* ------------------------------------------------------------- tests */

static bool all_seen(const int *seen)
{
    for (int i = 0; i < NMSG; i++)
        if (!seen[i])
            return false;
    return true;
}

/* Publish NMSG tasks one by one while two members of one group consume and
 * ack: every task arrives, both members take part. A consumer group is
 * at-least-once: while the second member joins, a message the first one
 * fetched but had not committed yet can reach the second one too (seen in
 * CI). That is the guarantee vecmig builds on: the state store turns such
 * a second delivery into DONE or BUSY. So nothing may be lost here, and
 * (below) nothing acknowledged may ever come back. */
static void test_publish_consume_at_least_once(void **st)
{
    (void)st;
    qt_names n;
    names(&n, "basic");
    vm_queue *p = producer_for(&n, 4);
    vm_err e;
    assert_int_equal(vm_queue_prepare(p, 4, &e), 0); /* idempotent */
    vm_kafka_opts o = {.brokers = brokers};
    int parts = 0;
    assert_int_equal(vm_kafka_topic_partitions(&o, n.topic, 10000, &parts, &e), 0);
    assert_int_equal(parts, 4);
    assert_int_equal(vm_kafka_topic_partitions(&o, n.dead, 10000, &parts, &e), 0);
    assert_int_equal(parts, 1);

    vm_queue *c[2] = {open_q(&n, NULL, "consumer"), open_q(&n, NULL, "consumer")};
    int seen[NMSG] = {0}, per[2] = {0}, published = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    char key[64], payload[64], job[32];
    while ((published < NMSG || !all_seen(seen)) && now_ms() < deadline) {
        if (published < NMSG) {
            assert_int_equal(vm_queue_task_key("jobq", (uint32_t)published, key, sizeof key), 0);
            snprintf(payload, sizeof payload, "{\"task\":%d}", published);
            publish(p, key, payload);
            published++;
        }
        for (int i = 0; i < 2; i++) {
            vm_queue_msg m;
            int rc = vm_queue_consume(c[i], 100, &m, &e);
            if (rc < 0 && !e.retriable)
                fail_msg("consume: %s", e.msg);
            if (rc != 1)
                continue;
            uint32_t id;
            assert_int_equal(vm_queue_task_key_parse(m.key, m.key_len, job, sizeof job, &id), 0);
            assert_string_equal(job, "jobq");
            assert_true(id < NMSG);
            snprintf(payload, sizeof payload, "{\"task\":%u}", (unsigned)id);
            assert_string_equal(m.payload, payload);
            ack(c[i], &m);
            seen[id]++;
            per[i]++;
            vm_queue_msg_release(&m);
        }
    }
    int again = 0;
    for (int i = 0; i < NMSG; i++) {
        if (seen[i] < 1)
            fail_msg("task %d was never delivered", i);
        again += seen[i] - 1;
    }
    print_message("consumer split: %d + %d, %d delivered again during the rebalance\n", per[0],
                  per[1], again);
    assert_true(per[0] > 0 && per[1] > 0);
    vm_queue_close(c[0]);
    vm_queue_close(c[1]);

    /* what was acked is never delivered again: a new member of the group
     * reads only markers published afterwards (same keys, so the same
     * partitions, after the tasks) */
    vm_queue *c3 = open_q(&n, NULL, "consumer");
    for (int i = 0; i < NMSG; i++) {
        assert_int_equal(vm_queue_task_key("jobq", (uint32_t)i, key, sizeof key), 0);
        publish(p, key, "marker");
    }
    deadline = now_ms() + DEADLINE_MS;
    for (int got = 0; got < NMSG;) {
        vm_queue_msg m;
        if (!consume_until(c3, deadline, &m))
            fail_msg("only %d of %d markers arrived", got, NMSG);
        assert_string_equal(m.payload, "marker");
        ack(c3, &m);
        vm_queue_msg_release(&m);
        got++;
    }
    vm_queue_close(c3);
    vm_queue_close(p);
}

/* The dead-letter topic takes a message of its own. */
static void test_dead_letter(void **st)
{
    (void)st;
    qt_names n;
    names(&n, "dlq");
    vm_queue *p = producer_for(&n, 1);
    vm_err e;
    const char *body = "{\"task\":7,\"error\":\"gave up\"}";
    assert_int_equal(vm_queue_dead_letter(p, "jobd:7", body, strlen(body), &e), 0);
    assert_int_equal(vm_queue_flush(p, 10000, &e), 0);
    /* read the dead-letter topic as a task topic of its own */
    qt_names dn = n;
    snprintf(dn.topic, sizeof dn.topic, "%s", n.dead);
    snprintf(dn.dead, sizeof dn.dead, "%s-unused", n.dead);
    vm_queue *c = open_q(&dn, NULL, "consumer");
    vm_queue_msg m;
    assert_int_equal(consume_until(c, now_ms() + DEADLINE_MS, &m), 1);
    assert_string_equal(m.key, "jobd:7");
    assert_string_equal(m.payload, body);
    ack(c, &m);
    vm_queue_msg_release(&m);
    vm_queue_close(c);
    vm_queue_close(p);
}

/* A takes the task and holds it for LONG_TASK_MS (twice
 * max.poll.interval.ms), calling keepalive() every KEEPALIVE_MS; B, a
 * member of the same group, polls all along. With keepalive, B never gets
 * the task and A's ack at the end succeeds (A is still the member that owns
 * the partition). Returns how long after the hold B first saw the task, or
 * -1 if it never did. */
static int64_t long_task(const char *name, bool keepalive)
{
    qt_names n;
    names(&n, name);
    json_t *props = fast_props();
    vm_queue *p = producer_for(&n, 1);
    vm_queue *a = open_q(&n, props, "consumer");
    vm_err e;
    publish(p, "jobh:0", "long task");
    vm_queue_msg m;
    if (!consume_until(a, now_ms() + DEADLINE_MS, &m))
        fail_msg("A never received the task");
    assert_int_equal(vm_queue_hold(a, &e), 0);
    /* while held, consume is refused and keepalive returns nothing */
    vm_queue_msg other;
    assert_int_equal(vm_queue_consume(a, 0, &other, &e), VM_ERR_INVALID);
    vm_queue *b = open_q(&n, props, "consumer");
    int64_t t0 = now_ms(), b_got = -1;
    while (now_ms() - t0 < LONG_TASK_MS) {
        if (keepalive && vm_queue_keepalive(a, &e) < 0)
            fail_msg("keepalive: %s", e.msg);
        int64_t slice_end = now_ms() + KEEPALIVE_MS;
        while (now_ms() < slice_end) {
            vm_queue_msg bm;
            int rc = vm_queue_consume(b, (int)(slice_end - now_ms()), &bm, &e);
            if (rc < 0 && !e.retriable)
                fail_msg("B consume: %s", e.msg);
            if (rc == 1) {
                assert_string_equal(bm.key, "jobh:0");
                if (b_got < 0)
                    b_got = now_ms() - t0;
                vm_queue_msg_release(&bm);
            }
        }
        if (!keepalive && b_got >= 0)
            break; /* the control run has shown what it had to */
    }
    if (keepalive) {
        /* still the owner: the ack (a commit under the current
         * generation) succeeds */
        assert_int_equal(vm_queue_ack(a, &m, &e), 0);
        assert_int_equal(vm_queue_release_hold(a, &e), 0);
        vm_queue_close(a);
        /* B takes the partition over and reads only what follows */
        publish(p, "jobh:1", "after");
        vm_queue_msg bm;
        assert_int_equal(consume_until(b, now_ms() + DEADLINE_MS, &bm), 1);
        assert_string_equal(bm.payload, "after");
        ack(b, &bm);
        vm_queue_msg_release(&bm);
    } else {
        vm_queue_close(a);
    }
    vm_queue_msg_release(&m);
    vm_queue_close(b);
    vm_queue_close(p);
    json_decref(props);
    return b_got;
}

static void test_hold_keepalive_long_task(void **st)
{
    (void)st;
    int64_t got = long_task("hold", true);
    if (got >= 0)
        fail_msg("the held task reached a second worker %lld ms into the hold", (long long)got);
}

/* Control: the same without keepalive. The group takes the task away once
 * max.poll.interval.ms passed, so the test above is meaningful. */
static void test_hold_without_keepalive_control(void **st)
{
    (void)st;
    int64_t got = long_task("nohold", false);
    print_message("without keepalive, B received the task after %lld ms\n", (long long)got);
    assert_true(got >= 5000); /* not before max.poll.interval.ms (6 s) */
}

/* A takes the task and is closed without acking: B gets it. */
static void test_close_without_ack(void **st)
{
    (void)st;
    qt_names n;
    names(&n, "close");
    json_t *props = fast_props();
    vm_queue *p = producer_for(&n, 1);
    vm_queue *a = open_q(&n, props, "consumer");
    publish(p, "jobc:0", "task c");
    vm_queue_msg m, bm;
    assert_int_equal(consume_until(a, now_ms() + DEADLINE_MS, &m), 1);
    vm_queue *b = open_q(&n, props, "consumer");
    vm_queue_close(a); /* no ack */
    assert_int_equal(consume_until(b, now_ms() + DEADLINE_MS, &bm), 1);
    assert_string_equal(bm.key, "jobc:0");
    assert_true(bm.offset == m.offset);
    ack(b, &bm);
    vm_queue_msg_release(&bm);
    vm_queue_msg_release(&m);
    vm_queue_close(b);
    vm_queue_close(p);
    json_decref(props);
}

/* The child: take one task, report its offset on stdout, hold it with
 * keepalives until killed. */
static int child_main(char **argv)
{
    qt_names n;
    snprintf(n.topic, sizeof n.topic, "%s", argv[3]);
    snprintf(n.dead, sizeof n.dead, "%s", argv[4]);
    snprintf(n.group, sizeof n.group, "%s", argv[5]);
    brokers = argv[2];
    broker_list[0] = (char *)brokers;
    json_t *props = fast_props();
    vm_job_queue_conf c = conf_for(&n, props);
    vm_queue *q = NULL;
    vm_queue_msg m;
    vm_err e;
    if (vm_queue_open(&c, "consumer", &q, &e) != 0)
        return 2;
    int64_t deadline = now_ms() + DEADLINE_MS;
    int rc = 0;
    while (now_ms() < deadline && (rc = vm_queue_consume(q, 200, &m, &e)) != 1)
        ;
    if (rc != 1 || vm_queue_hold(q, &e) != 0)
        return 3;
    printf("%lld\n", (long long)m.offset);
    fflush(stdout);
    for (;;) {
        vm_queue_keepalive(q, &e);
        pause_ms(200);
    }
}

/* A worker process dies (SIGKILL) while holding a task: after the session
 * timeout, the group gives the task to B. */
static void test_killed_consumer(void **st)
{
    (void)st;
    qt_names n;
    names(&n, "kill");
    json_t *props = fast_props();
    vm_queue *p = producer_for(&n, 1);
    publish(p, "jobk:0", "task k");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self_exe, self_exe, "--child", brokers, n.topic, n.dead, n.group, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    long long offset = -1;
    int got = fscanf(f, "%lld", &offset);
    fclose(f);
    if (got != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the child consumer did not report a task");
    }
    vm_queue *b = open_q(&n, props, "consumer");
    /* let B join while the child is alive, then kill the child abruptly */
    vm_err e;
    for (int i = 0; i < 5; i++) {
        vm_queue_msg early;
        int rc = vm_queue_consume(b, 200, &early, &e);
        if (rc == 1)
            fail_msg("B got the task while its holder was alive");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int64_t t0 = now_ms();
    vm_queue_msg bm;
    assert_int_equal(consume_until(b, t0 + DEADLINE_MS, &bm), 1);
    print_message("task redelivered %lld ms after the holder was killed\n",
                  (long long)(now_ms() - t0));
    assert_string_equal(bm.key, "jobk:0");
    assert_true(bm.offset == offset);
    ack(b, &bm);
    vm_queue_msg_release(&bm);
    vm_queue_close(b);
    vm_queue_close(p);
    json_decref(props);
}

/* publish_nowait + one flush (what the coordinator does with a job's
 * tasks): every message arrives exactly once, in order per partition; and a
 * flush that cannot reach a broker fails (retriable) instead of reporting
 * the messages as published. */
#define NNOWAIT 500
static void test_publish_nowait_flush(void **st)
{
    (void)st;
    qt_names n;
    names(&n, "nowait");
    vm_queue *p = producer_for(&n, 3);
    vm_err e;
    char key[32], payload[32];
    for (int i = 0; i < NNOWAIT; i++) {
        snprintf(key, sizeof key, "jobn:%d", i);
        snprintf(payload, sizeof payload, "task %d", i);
        if (vm_queue_publish_nowait(p, key, payload, strlen(payload), &e) != 0)
            fail_msg("publish_nowait %s: %s", key, e.msg);
    }
    if (vm_queue_flush(p, 30000, &e) != 0)
        fail_msg("flush: %s", e.msg);
    vm_queue *c = open_q(&n, NULL, "consumer");
    static int seen[NNOWAIT];
    memset(seen, 0, sizeof seen);
    int got = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    vm_queue_msg m;
    while (got < NNOWAIT && consume_until(c, deadline, &m) == 1) {
        int i = -1;
        assert_true(m.key && sscanf(m.key, "jobn:%d", &i) == 1);
        assert_true(i >= 0 && i < NNOWAIT);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        got++;
        ack(c, &m);
        vm_queue_msg_release(&m);
    }
    assert_int_equal(got, NNOWAIT);
    vm_queue_close(c);
    vm_queue_close(p);

    /* nobody listens on port 1: nothing can be delivered */
    char *dead_list[1] = {"127.0.0.1:1"};
    vm_job_queue_conf bad = conf_for(&n, NULL);
    bad.brokers.v = dead_list;
    json_t *props = json_pack("{s:s}", "message.timeout.ms", "2000");
    bad.properties = props;
    vm_queue *q = NULL;
    if (vm_queue_open(&bad, "producer", &q, &e) != 0)
        fail_msg("open: %s", e.msg);
    assert_int_equal(vm_queue_publish_nowait(q, "jobn:x", "x", 1, &e), 0);
    int rc = vm_queue_flush(q, 10000, &e);
    assert_int_not_equal(rc, 0);
    assert_true(e.retriable);
    vm_queue_close(q);
    json_decref(props);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv);
    self_exe = "/proc/self/exe";
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_consume_at_least_once),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_hold_keepalive_long_task),
        cmocka_unit_test(test_hold_without_keepalive_control),
        cmocka_unit_test(test_close_without_ack),
        cmocka_unit_test(test_killed_consumer),
        cmocka_unit_test(test_publish_nowait_flush),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

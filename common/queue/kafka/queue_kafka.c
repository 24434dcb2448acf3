/*
 * queue_kafka.c - the Kafka task-queue backend (vm_queue_ops "kafka") over
 * clients/vm_kafka.
 *
 * Publishing waits for each message's delivery report (idempotent producer,
 * acks=all), so a task counts as published only once it is durable;
 * publish_nowait() only enqueues, and flush() waits for all the reports
 * and fails if one failed (the coordinator then publishes all again).
 * Consuming uses manual commits: ack() commits the message's offset after
 * the task finished; nothing else commits.
 *
 * hold() pauses the whole assignment (vm_kafka_pause, which also pauses
 * partitions that a rebalance assigns later), and keepalive() is a poll
 * with a zero timeout: librdkafka counts every consumer poll for
 * max.poll.interval.ms and serves rebalances inside it, so a held worker
 * stays in the group however long its task runs, and receives nothing new.
 * Should a poll during a hold return a message anyway (fetched just before
 * the pause took effect), it is kept in a local stash and handed out by the
 * next consume() after the release, never lost and never skipped: its
 * offset is not committed before the worker acks it.
 *
 * An ack that meets a rebalance in progress (ILLEGAL_GENERATION and the
 * like: the group's generation moved on since the message was fetched)
 * serves the rebalance and commits again, for up to VM_QK_ACK_RETRY_MS.
 *
 * queue.properties pass through to librdkafka, except the settings the
 * guarantees above depend on: those are refused by name instead of being
 * silently overridden.
 */
#include "vm_kafka.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_queue.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define VM_QK_PUBLISH_TIMEOUT_MS 30000
#define VM_QK_ADMIN_TIMEOUT_MS 30000
#define VM_QK_ACK_RETRY_MS 15000

static int64_t vm_qk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct vm_qk {
    vm_queue_role role;
    vm_kafka_opts opts;
    char *brokers;
    char **props; /* "key=value" */
    size_t nprops;
    char *topic, *dead_topic, *group;
    vm_kafka_producer *prod; /* created on the first publish */
    vm_kafka_consumer *cons; /* consumer role only */
    vm_kafka_msg *stash;     /* polled during a hold, handed out after it */
    size_t nstash, capstash;
} vm_qk;

/* Settings vecmig sets itself; a property naming one is refused. */
static const struct {
    const char *name;
    const char *why;
} vm_qk_pinned[] = {
    {"bootstrap.servers", "set queue.brokers instead"},
    {"metadata.broker.list", "set queue.brokers instead"},
    {"group.id", "set queue.group instead"},
    {"enable.auto.commit", "tasks are committed only once finished"},
    {"enable.auto.offset.store", "tasks are committed only once finished"},
    {"auto.offset.reset", "a new group must start with the first task"},
    {"partition.assignment.strategy", "held tasks rely on cooperative-sticky assignment"},
    {"enable.idempotence", "publishing must neither duplicate nor reorder"},
    {"acks", "a task is published only once every in-sync replica has it"},
    {"request.required.acks", "a task is published only once every in-sync replica has it"},
};

static int vm_qk_props(vm_qk *k, const json_t *props, vm_err *err)
{
    const char *key;
    json_t *v;
    if (!props || json_is_null(props))
        return 0;
    if (!json_is_object(props))
        return vm_err_setc(err, VM_ERR_INVALID, "queue.properties: must be a mapping");
    if (json_object_size(props) && !(k->props = vm_calloc(json_object_size(props), sizeof(char *))))
        return vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
    json_object_foreach((json_t *)props, key, v) {
        for (size_t i = 0; i < sizeof vm_qk_pinned / sizeof vm_qk_pinned[0]; i++)
            if (strcmp(key, vm_qk_pinned[i].name) == 0)
                return vm_err_setc(err, VM_ERR_INVALID,
                                   "queue.properties.%s: vecmig sets this itself (%s)", key,
                                   vm_qk_pinned[i].why);
        char num[32];
        const char *val;
        if (json_is_string(v))
            val = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), val = num;
        else if (json_is_boolean(v))
            val = json_is_true(v) ? "true" : "false";
        else
            return vm_err_setc(err, VM_ERR_INVALID,
                               "queue.properties.%s: must be a string, an integer or a boolean",
                               key);
        size_t n = strlen(key) + strlen(val) + 2;
        if (!(k->props[k->nprops] = vm_malloc(n)))
            return vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
        snprintf(k->props[k->nprops++], n, "%s=%s", key, val);
    }
    return 0;
}

static void vm_qk_close(void *st)
{
    vm_qk *k = st;
    for (size_t i = 0; i < k->nstash; i++)
        vm_kafka_msg_release(&k->stash[i]);
    vm_free(k->stash);
    /* leave the group first: what was not acked moves to others at once */
    vm_kafka_consumer_close(k->cons);
    vm_kafka_producer_free(k->prod);
    for (size_t i = 0; i < k->nprops; i++) {
        /* values may be secrets: wipe before freeing */
        memset(k->props[i], 0, strlen(k->props[i]));
        vm_free(k->props[i]);
    }
    vm_free(k->props);
    vm_free(k->brokers);
    vm_free(k->topic);
    vm_free(k->dead_topic);
    vm_free(k->group);
    memset(k, 0, sizeof *k);
}

static int vm_qk_open(void *st, const vm_job_queue_conf *conf, vm_queue_role role, vm_err *err)
{
    vm_qk *k = st;
    int rc = 0;
    size_t blen = 0;
    k->role = role;
    if (conf->brokers.n == 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "queue.brokers: required for kafka");
        goto cleanup;
    }
    for (size_t i = 0; i < conf->brokers.n; i++)
        blen += strlen(conf->brokers.v[i]) + 1;
    if (!(k->brokers = vm_malloc(blen))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
        goto cleanup;
    }
    k->brokers[0] = '\0';
    for (size_t i = 0; i < conf->brokers.n; i++) {
        if (i)
            strcat(k->brokers, ",");
        strcat(k->brokers, conf->brokers.v[i]);
    }
    if (!(k->topic = vm_strdup(conf->topic ? conf->topic : "vecmig.tasks")) ||
        !(k->dead_topic =
              vm_strdup(conf->dead_letter_topic ? conf->dead_letter_topic : "vecmig.dead")) ||
        !(k->group = vm_strdup(conf->group ? conf->group : "vecmig-workers"))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
        goto cleanup;
    }
    if (strcmp(k->topic, k->dead_topic) == 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID,
                         "queue: topic and dead_letter_topic must differ (both '%s')", k->topic);
        goto cleanup;
    }
    if ((rc = vm_qk_props(k, conf->properties, err)) != 0)
        goto cleanup;
    k->opts.brokers = k->brokers;
    k->opts.client_id = role == VM_QUEUE_CONSUMER ? "vecmig-worker" : "vecmig-coordinator";
    k->opts.props = (const char *const *)k->props;
    k->opts.nprops = k->nprops;
    k->opts.insecure = conf->insecure_tls;
    if (role == VM_QUEUE_CONSUMER) {
        const char *topics[] = {k->topic};
        rc = vm_kafka_consumer_new(&k->opts, k->group, topics, 1, &k->cons, err);
    }
cleanup:
    if (rc != 0)
        vm_qk_close(k);
    return rc;
}

static int vm_qk_prepare(void *st, int partitions, vm_err *err)
{
    vm_qk *k = st;
    int rc = vm_kafka_create_topic(&k->opts, k->topic, partitions, -1, VM_QK_ADMIN_TIMEOUT_MS, err);
    if (rc == 0)
        rc = vm_kafka_create_topic(&k->opts, k->dead_topic, 1, -1, VM_QK_ADMIN_TIMEOUT_MS, err);
    return rc;
}

static int vm_qk_publish(void *st, bool dead, const char *key, const void *payload, size_t len,
                         vm_err *err)
{
    vm_qk *k = st;
    int rc;
    if (!k->prod && (rc = vm_kafka_producer_new(&k->opts, &k->prod, err)) != 0)
        return rc;
    return vm_kafka_produce_sync(k->prod, dead ? k->dead_topic : k->topic, key,
                                 key ? strlen(key) : 0, payload, len, VM_QK_PUBLISH_TIMEOUT_MS,
                                 err);
}

/* Enqueued only: the delivery reports are collected by flush, which fails
 * if any of them failed. */
static int vm_qk_publish_nowait(void *st, const char *key, const void *payload, size_t len,
                                vm_err *err)
{
    vm_qk *k = st;
    int rc;
    if (!k->prod && (rc = vm_kafka_producer_new(&k->opts, &k->prod, err)) != 0)
        return rc;
    return vm_kafka_produce(k->prod, k->topic, key, key ? strlen(key) : 0, payload, len, err);
}

static int vm_qk_flush(void *st, int timeout_ms, vm_err *err)
{
    vm_qk *k = st;
    return k->prod ? vm_kafka_flush(k->prod, timeout_ms, NULL, err) : 0;
}

/* Hand a vm_kafka_msg over to a vm_queue_msg (no copy). */
static void vm_qk_move(vm_kafka_msg *m, vm_queue_msg *out)
{
    out->key = m->key;
    out->key_len = m->key_len;
    out->payload = m->payload;
    out->len = m->len;
    out->topic = m->topic;
    out->partition = m->partition;
    out->offset = m->offset;
    memset(m, 0, sizeof *m);
}

static int vm_qk_consume(void *st, int timeout_ms, vm_queue_msg *out, vm_err *err)
{
    vm_qk *k = st;
    if (k->nstash > 0) {
        vm_qk_move(&k->stash[0], out);
        memmove(k->stash, k->stash + 1, (k->nstash - 1) * sizeof *k->stash);
        k->nstash--;
        return 1;
    }
    vm_kafka_msg m;
    int rc = vm_kafka_poll(k->cons, timeout_ms, &m, err);
    if (rc == 1)
        vm_qk_move(&m, out);
    return rc;
}

static int vm_qk_hold(void *st, vm_err *err)
{
    vm_qk *k = st;
    return vm_kafka_pause(k->cons, err);
}

static int vm_qk_release_hold(void *st, vm_err *err)
{
    vm_qk *k = st;
    return vm_kafka_resume(k->cons, err);
}

/* One poll: serves rebalances and keeps the member alive. A message it
 * returns (fetched before a pause took effect, or while an ack waits for a
 * rebalance) is kept in the stash for the next consume(), in order; it is
 * not committed, so it is not lost even if we die meanwhile. */
static int vm_qk_serve(vm_qk *k, int timeout_ms, bool held, vm_err *err)
{
    vm_kafka_msg m;
    int rc = vm_kafka_poll(k->cons, timeout_ms, &m, err);
    if (rc != 1)
        return rc;
    if (vm_grow((void **)&k->stash, &k->capstash, k->nstash + 1, sizeof *k->stash) != 0) {
        vm_kafka_msg_release(&m);
        return vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
    }
    vm_debug("queue: message %s [%d] @%lld kept for the next consume", m.topic, (int)m.partition,
             (long long)m.offset);
    k->stash[k->nstash++] = m;
    /* during a hold, make sure the partition it came from is paused too */
    return held ? vm_kafka_pause(k->cons, err) : 0;
}

static int vm_qk_keepalive(void *st, vm_err *err)
{
    vm_qk *k = st;
    return vm_qk_serve(k, 0, vm_kafka_paused(k->cons), err);
}

/* A commit refused because a rebalance is under way (ILLEGAL_GENERATION,
 * REBALANCE_IN_PROGRESS, ...) succeeds once the rebalance was served, so
 * serve it and commit again, for a bounded time. The offset is the task's
 * own: committing it is right whoever owns the partition by then. */
static int vm_qk_ack(void *st, const vm_queue_msg *m, vm_err *err)
{
    vm_qk *k = st;
    vm_kafka_msg km = {.topic = m->topic, .partition = m->partition, .offset = m->offset};
    vm_err e;
    int64_t deadline = vm_qk_now_ms() + VM_QK_ACK_RETRY_MS;
    int rc;
    vm_err_clear(&e);
    while ((rc = vm_kafka_commit(k->cons, &km, &e)) != 0 && e.retriable &&
           vm_qk_now_ms() < deadline) {
        vm_debug("queue: ack %s [%d] @%lld: %s; serving the group and retrying", m->topic,
                 (int)m->partition, (long long)m->offset, e.msg);
        vm_err pe;
        int prc = vm_qk_serve(k, 100, vm_kafka_paused(k->cons), &pe);
        if (prc < 0 && !pe.retriable) {
            e = pe;
            rc = prc;
            break;
        }
    }
    if (rc != 0 && err)
        *err = e;
    return rc;
}

const vm_queue_ops vm_queue_kafka_ops = {
    .name = "kafka",
    .state_size = sizeof(vm_qk),
    .open = vm_qk_open,
    .close = vm_qk_close,
    .prepare = vm_qk_prepare,
    .publish = vm_qk_publish,
    .flush = vm_qk_flush,
    .publish_nowait = vm_qk_publish_nowait,
    .consume = vm_qk_consume,
    .ack = vm_qk_ack,
    .hold = vm_qk_hold,
    .release_hold = vm_qk_release_hold,
    .keepalive = vm_qk_keepalive,
};

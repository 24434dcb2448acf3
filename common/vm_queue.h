/*
 * vm_queue.h - the task queue: the coordinator publishes range tasks, the
 * workers consume them, each worker holding one task at a time.
 *
 * A backend is a `const struct` of function pointers (vm_queue_ops) with
 * per-instance state allocated by the framework, like the connectors
 * (vm_connector.h); vm_queue_open() picks it from the job's `queue:` block.
 * Kafka (common/queue/kafka/) and the embedded in-process queue
 * (common/queue/memory/, `queue.type: embedded`) are implemented.
 *
 * Delivery is at least once. A message is removed for the group only by
 * ack(), after the task is finished; a consumer that dies before acking
 * leaves the message to another consumer. Duplicates are possible (a
 * rebalance, a lost ack) and harmless: the state store decides (a claim
 * answers DONE or BUSY).
 *
 * The worker loop:
 *
 *     consume(q, timeout, &msg)            1 = a task message
 *     hold(q)                              no more messages until release
 *     ... run the task; between batches:   keepalive(q)
 *     ack(q, &msg); release_hold(q); vm_queue_msg_release(&msg)
 *
 * hold() pauses consumption, so the consumer stays a live member of its
 * group through keepalive() calls (they serve rebalances and count as polls)
 * without fetching more work; a task running longer than Kafka's
 * max.poll.interval.ms is therefore not taken away and handed to another
 * worker while it runs. Call keepalive() more often than
 * max.poll.interval.ms (default 300 s) and session.timeout.ms (45 s).
 * Exception: a rebalance (a worker joins or leaves) may move the held
 * message's partition to another worker, which then receives the same task;
 * its claim answers BUSY (the lease is live) and it must wait for DONE or
 * the lease's end before acking.
 *
 * One vm_queue belongs to one thread (librdkafka's consumer model).
 */
#ifndef VM_QUEUE_H
#define VM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_config.h"
#include "vm_err.h"

typedef enum vm_queue_role {
    VM_QUEUE_PRODUCER = 0, /* publish, dead_letter, prepare */
    VM_QUEUE_CONSUMER,     /* all of the above, plus consume/ack/hold */
} vm_queue_role;

/* A consumed message: private copies, NUL-terminated, owned by the message.
 * topic/partition/offset say where it came from (the embedded queue uses
 * one partition and a sequence number as offset). */
typedef struct vm_queue_msg {
    char *key;
    size_t key_len;
    char *payload;
    size_t len;
    char *topic;
    int32_t partition;
    int64_t offset;
} vm_queue_msg;

void vm_queue_msg_release(vm_queue_msg *m);

typedef struct vm_queue_ops {
    const char *name;
    size_t state_size;

    int (*open)(void *st, const vm_job_queue_conf *conf, vm_queue_role role, vm_err *err);
    void (*close)(void *st);
    int (*prepare)(void *st, int partitions, vm_err *err);
    int (*publish)(void *st, bool dead_letter, const char *key, const void *payload, size_t len,
                   vm_err *err);
    int (*flush)(void *st, int timeout_ms, vm_err *err);
    /* optional: enqueue a task message without waiting for its
     * acknowledgement (flush waits for them all); NULL: publish is used */
    int (*publish_nowait)(void *st, const char *key, const void *payload, size_t len,
                          vm_err *err);
    int (*consume)(void *st, int timeout_ms, vm_queue_msg *out, vm_err *err);
    int (*ack)(void *st, const vm_queue_msg *m, vm_err *err);
    int (*hold)(void *st, vm_err *err);
    int (*release_hold)(void *st, vm_err *err);
    int (*keepalive)(void *st, vm_err *err);
} vm_queue_ops;

typedef struct vm_queue {
    const vm_queue_ops *ops;
    void *impl;
    vm_queue_role role;
    bool held;
} vm_queue;

/* The backend for a type (VM_QUEUE_KAFKA, ...); NULL when not built. */
const vm_queue_ops *vm_queue_backend(int type);

/* role: "producer" (coordinator) or "consumer" (worker). A consumer
 * subscribes at once; joining the group completes inside the following
 * consume()/keepalive() calls. */
int vm_queue_open(const vm_job_queue_conf *conf, const char *role, vm_queue **out, vm_err *err);
/* A consumer leaves its group (what it did not ack goes to another member
 * at once); a producer waits a bounded time for undelivered messages. */
void vm_queue_close(vm_queue *q);

/* Create the task topic with `partitions` partitions and the dead-letter
 * topic (1 partition) if they do not exist (idempotent; existing topics
 * are left as they are). */
int vm_queue_prepare(vm_queue *q, int partitions, vm_err *err);

/* Publish one task message; 0 only once it is durable (acknowledged by the
 * broker). A retriable error (VM_ERR_TIMEOUT) means the outcome is unknown:
 * publishing again may duplicate it, which consumers tolerate. */
int vm_queue_publish(vm_queue *q, const char *key, const void *payload, size_t len,
                     vm_err *err);
/* Same on the dead-letter topic (tasks that failed max_attempts times). */
int vm_queue_dead_letter(vm_queue *q, const char *key, const void *payload, size_t len,
                         vm_err *err);
/* Enqueue one task message without waiting for the broker: many messages
 * travel in one request instead of one round trip each. Nothing is durable
 * until vm_queue_flush returns 0; a flush error means some of them may be
 * lost, so publish them all again (duplicates are harmless). A backend
 * without it publishes synchronously. */
int vm_queue_publish_nowait(vm_queue *q, const char *key, const void *payload, size_t len,
                            vm_err *err);
/* Wait until everything published is acknowledged: 0, or an error when a
 * message was not delivered (or timeout_ms passed, retriable). */
int vm_queue_flush(vm_queue *q, int timeout_ms, vm_err *err);

/* 1 with a message in *out (release it), 0 when timeout_ms passed without
 * one, or a negative vm_code. VM_ERR_INVALID while held. */
int vm_queue_consume(vm_queue *q, int timeout_ms, vm_queue_msg *out, vm_err *err);
/* The message is done: the group never delivers it again (synchronous
 * offset commit). A commit refused because a rebalance is under way is
 * retried inside (serving the rebalance) for up to 15 s. A retriable error
 * that remains is harmless: whoever receives the message again finds the
 * task DONE in the state store and acks it. */
int vm_queue_ack(vm_queue *q, const vm_queue_msg *m, vm_err *err);
/* Stop receiving messages while a task runs; keep calling keepalive(). */
int vm_queue_hold(vm_queue *q, vm_err *err);
int vm_queue_release_hold(vm_queue *q, vm_err *err);
/* Stay a live group member without taking messages (serves rebalances).
 * Cheap (does not block); call it between batches while held. */
int vm_queue_keepalive(vm_queue *q, vm_err *err);

/* Pure: the message key of a task, "<job_id>:<task_id>" (job ids have no
 * ':'), so one job's tasks spread over partitions by key hash. 0, or
 * VM_ERR_INVALID when it does not fit in buf[cap]. */
int vm_queue_task_key(const char *job_id, uint32_t task_id, char *buf, size_t cap);
/* Pure: parse such a key; job is copied into job[cap]. 0 or VM_ERR_INVALID. */
int vm_queue_task_key_parse(const char *key, size_t len, char *job, size_t cap,
                            uint32_t *task_id);

#endif

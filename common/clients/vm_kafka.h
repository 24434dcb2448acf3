/*
 * vm_kafka.h - a thin client over librdkafka for the task queue.
 *
 * The coordinator publishes range tasks with vm_kafka_produce_sync(), which
 * returns only after the broker acknowledged THAT message (idempotent
 * producer, acks=all): a task is recorded as published only once it is
 * durable. Workers consume with manual offset management: nothing is
 * committed automatically, and vm_kafka_commit() commits offset+1 of a
 * message the worker has finished, so a worker that dies mid-task leaves the
 * task to be redelivered (at-least-once; task execution is idempotent).
 *
 * Configuration passes through: brokers, client id and any librdkafka
 * "key=value" property (security.protocol, sasl.*, ssl.* ...). Properties
 * vecmig relies on for correctness (idempotence, manual commit, ...) are set
 * after the pass-through ones and cannot be overridden. Secret properties
 * (names containing "password" or "secret", ssl.key.pem, ...) are
 * registered with vm_secret_add() and their values never reach a message.
 *
 * TLS (security.protocol ssl / sasl_ssl): the broker's certificate and host
 * name are verified (enable.ssl.certificate.verification=true and
 * ssl.endpoint.identification.algorithm=https are set before the
 * pass-through properties, whatever librdkafka's defaults). opts.insecure
 * turns both off after them; either way a configuration that ends up
 * unverified logs one warning per client.
 *
 * Errors are classified by vm_kafka_classify(): transport, all brokers down,
 * timeouts, coordinator moves and rebalances are retriable; authentication,
 * unknown topics and invalid configuration are fatal.
 *
 * Thread safety: a producer may be shared by threads. A consumer belongs to
 * one thread (librdkafka's consumer poll/commit model).
 */
#ifndef VM_KAFKA_H
#define VM_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "vm_err.h"

typedef struct vm_kafka_opts {
    const char *brokers;          /* bootstrap.servers, "host:port[,...]" */
    const char *client_id;        /* client.id; NULL: "vecmig" */
    const char *const *props;     /* extra "key=value" librdkafka properties */
    size_t nprops;
    bool insecure;                /* skip TLS certificate checks (warns) */
} vm_kafka_opts;

typedef struct vm_kafka_producer vm_kafka_producer;
typedef struct vm_kafka_consumer vm_kafka_consumer;

/* A consumed message. Every buffer is a private copy owned by the message
 * (independent of the consumer's lifetime) and NUL-terminated for
 * convenience; release with vm_kafka_msg_release(). key is NULL when the
 * message had none. */
typedef struct vm_kafka_msg {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *key;
    size_t key_len;
    char *payload;
    size_t len;
} vm_kafka_msg;

/* ---------------------------------------------------------------- errors */

/* Pure classification of a librdkafka error code: the vm_code that
 * describes it and whether a retry may succeed. */
vm_code vm_kafka_classify(rd_kafka_resp_err_t rkerr, bool *retriable);

/* Whether a property name holds a secret (password, secret, private key). */
bool vm_kafka_prop_is_secret(const char *key);

/* -------------------------------------------------------------- producer */

/* Idempotent producer (enable.idempotence=true, acks=all). */
int vm_kafka_producer_new(const vm_kafka_opts *opts, vm_kafka_producer **out,
                          vm_err *err);
void vm_kafka_producer_free(vm_kafka_producer *p);

/* Produce one message and wait up to timeout_ms for its delivery report.
 * 0 only when the broker acknowledged it. VM_ERR_TIMEOUT means the outcome
 * is unknown (the message may still be delivered): producing it again is
 * the caller's retry, and consumers must tolerate the duplicate. */
int vm_kafka_produce_sync(vm_kafka_producer *p, const char *topic,
                          const void *key, size_t key_len,
                          const void *payload, size_t len, int timeout_ms,
                          vm_err *err);

/* Enqueue one message without waiting (copied; key may be NULL). Delivery
 * failures are counted and reported by the next vm_kafka_flush(). When the
 * local queue is full this serves delivery reports and retries for up to
 * 10 s before giving up with a retriable error. */
int vm_kafka_produce(vm_kafka_producer *p, const char *topic, const void *key,
                     size_t key_len, const void *payload, size_t len,
                     vm_err *err);

/* Wait until every vm_kafka_produce() message was acknowledged or failed.
 * *failed_count (may be NULL) receives the number of delivery failures since
 * the previous flush; any failure (or a timeout) makes this return an error
 * describing the first failure. The failure counter is reset. */
int vm_kafka_flush(vm_kafka_producer *p, int timeout_ms, size_t *failed_count,
                   vm_err *err);

/* ----------------------------------------------------------------- admin */

/* Create a topic; one that already exists is success (idempotent). */
int vm_kafka_create_topic(const vm_kafka_opts *opts, const char *topic,
                          int partitions, int replication, int timeout_ms,
                          vm_err *err);

/* Delete a topic; one that does not exist is success (idempotent). */
int vm_kafka_delete_topic(const vm_kafka_opts *opts, const char *topic,
                          int timeout_ms, vm_err *err);

/* Partition count of a topic from cluster metadata (VM_ERR_NOT_FOUND if the
 * topic does not exist). Asks for all topics so that the lookup itself can
 * never auto-create the topic on brokers with auto.create.topics.enable. */
int vm_kafka_topic_partitions(const vm_kafka_opts *opts, const char *topic,
                              int timeout_ms, int *out, vm_err *err);

/* -------------------------------------------------------------- consumer */

/* Join group_id and subscribe to topics. enable.auto.commit=false,
 * enable.auto.offset.store=false, auto.offset.reset=earliest,
 * partition.assignment.strategy=cooperative-sticky. */
int vm_kafka_consumer_new(const vm_kafka_opts *opts, const char *group_id,
                          const char *const *topics, size_t ntopics,
                          vm_kafka_consumer **out, vm_err *err);

/* 1 with a message in *out (release it), 0 when timeout_ms passed without
 * one, or a negative vm_code (err filled; retriable errors such as a broker
 * going away are worth polling again). Rebalances are served inside. */
int vm_kafka_poll(vm_kafka_consumer *c, int timeout_ms, vm_kafka_msg *out,
                  vm_err *err);

/* Synchronously commit m->offset + 1 for m's partition. */
int vm_kafka_commit(vm_kafka_consumer *c, const vm_kafka_msg *m, vm_err *err);

/* The partitions of `topic` currently assigned to this consumer, sorted,
 * into parts[0..cap); *n gets the full count (may exceed cap). */
int vm_kafka_assignment(vm_kafka_consumer *c, const char *topic,
                        int32_t *parts, size_t cap, size_t *n, vm_err *err);

/* Pause fetching of every partition assigned to this consumer, and of any
 * partition assigned later by a rebalance, until vm_kafka_resume(). While
 * paused, vm_kafka_poll() still serves rebalances and counts as a poll for
 * max.poll.interval.ms, but returns no messages of paused partitions
 * (librdkafka drops what it had prefetched and fetches it again after the
 * resume, from the position after the last message returned). Idempotent. */
int vm_kafka_pause(vm_kafka_consumer *c, vm_err *err);
/* Resume every assigned partition and stop pausing new ones. Idempotent. */
int vm_kafka_resume(vm_kafka_consumer *c, vm_err *err);
bool vm_kafka_paused(const vm_kafka_consumer *c);

/* Leave the group cleanly (revokes partitions, commits nothing) and free. */
void vm_kafka_consumer_close(vm_kafka_consumer *c);

void vm_kafka_msg_release(vm_kafka_msg *m);

#endif

/*
 * vm_queue_memory.h - the embedded (in-process) task-queue backend:
 * vm_queue_ops "embedded", selected by `queue.type: embedded`.
 *
 * Every vm_queue opened with the same topic in one process meets on the
 * same channel (the coordinator thread's producer and the worker threads'
 * consumers of `vecmig migrate`). Use it through vm_queue.h; this header
 * only adds read-only accessors (tests, progress) and a tuning hook.
 *
 * A channel lives as long as one handle on it is open: closing the last
 * handle frees it with whatever it still holds, so keep one handle (the
 * coordinator's) open for the whole job. Nothing is durable beyond the
 * process: the state store is the durable record, and the coordinator's
 * repair republishes unfinished tasks after a restart.
 */
#ifndef VM_QUEUE_MEMORY_H
#define VM_QUEUE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "vm_queue.h"

/* Messages waiting for a consumer (not counting those in flight) that a
 * channel holds before publish blocks. */
#define VM_QUEUE_MEMORY_CAPACITY 65536
/* How long a publish waits for room before VM_ERR_TIMEOUT (retriable). */
#define VM_QUEUE_MEMORY_PUBLISH_TIMEOUT_MS 600000

typedef struct vm_queue_memory_stats {
    size_t pending;            /* published, waiting for a consumer */
    size_t in_flight;          /* consumed, not acknowledged yet */
    size_t dead;               /* dead letters kept */
    size_t handles;            /* open vm_queue handles on the channel */
    size_t capacity;           /* current bound on pending */
    size_t publishers_waiting; /* publish calls waiting for room now */
    size_t consumers_waiting;  /* consume calls waiting for a message now */
    uint64_t published;        /* publishes that succeeded (dead letters excluded) */
    uint64_t acked;            /* messages acknowledged */
    uint64_t redelivered;      /* messages put back by a handle that closed */
} vm_queue_memory_stats;

/* The statistics of the channel `topic`. 0, or VM_ERR_NOT_FOUND when no
 * handle on it is open. */
int vm_queue_memory_stats_get(const char *topic, vm_queue_memory_stats *out);

/* Messages waiting for a consumer on `topic`; 0 when there is no channel. */
size_t vm_queue_memory_depth(const char *topic);

/* A copy of the index-th dead letter (oldest first) of `topic`, to release
 * with vm_queue_msg_release. 0, VM_ERR_NOT_FOUND (no channel, or index past
 * the end) or VM_ERR_NOMEM. */
int vm_queue_memory_dead_letter_get(const char *topic, size_t index, vm_queue_msg *out);

/* Change the bound of an open channel (capacity >= 1) and, when
 * publish_timeout_ms >= 0, how long publish waits for room. Publishers that
 * wait are woken to look again. 0, VM_ERR_INVALID or VM_ERR_NOT_FOUND. */
int vm_queue_memory_configure(const char *topic, size_t capacity, int publish_timeout_ms);

#endif

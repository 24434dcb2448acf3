/*
 * vm_queue.c - task queue instances, the checks every backend shares
 * (role, hold state), and task message keys.
 */
#include "vm_queue.h"
#include "vm_mem.h"

#include <stdio.h>
#include <string.h>

extern const vm_queue_ops vm_queue_kafka_ops;
extern const vm_queue_ops vm_queue_memory_ops;

void vm_queue_msg_release(vm_queue_msg *m)
{
    if (!m)
        return;
    vm_free(m->key);
    vm_free(m->payload);
    vm_free(m->topic);
    memset(m, 0, sizeof *m);
}

const vm_queue_ops *vm_queue_backend(int type)
{
    switch (type) {
    case VM_QUEUE_KAFKA:
        return &vm_queue_kafka_ops;
    case VM_QUEUE_EMBEDDED:
        return &vm_queue_memory_ops;
    default:
        return NULL;
    }
}

int vm_queue_open(const vm_job_queue_conf *conf, const char *role, vm_queue **out, vm_err *err)
{
    vm_queue *q = NULL;
    vm_queue_role r;
    int rc = 0;
    *out = NULL;
    if (!conf)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: no configuration");
    if (role && strcmp(role, "producer") == 0)
        r = VM_QUEUE_PRODUCER;
    else if (role && strcmp(role, "consumer") == 0)
        r = VM_QUEUE_CONSUMER;
    else
        return vm_err_setc(err, VM_ERR_INVALID, "queue: role must be producer or consumer");
    const vm_queue_ops *ops = vm_queue_backend(conf->type);
    if (!ops)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: unknown queue type %d", conf->type);
    if (!(q = vm_calloc(1, sizeof *q)) ||
        !(q->impl = vm_calloc(1, ops->state_size ? ops->state_size : 1))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "queue: out of memory");
        goto cleanup;
    }
    q->ops = ops;
    q->role = r;
    if ((rc = ops->open(q->impl, conf, r, err)) != 0) {
        vm_err_prefix(err, "queue %s: ", ops->name);
        vm_free(q->impl);
        q->impl = NULL;
        goto cleanup;
    }
    *out = q;
    q = NULL;
cleanup:
    if (q) {
        vm_free(q->impl);
        vm_free(q);
    }
    return rc;
}

void vm_queue_close(vm_queue *q)
{
    if (!q)
        return;
    if (q->impl)
        q->ops->close(q->impl);
    vm_free(q->impl);
    vm_free(q);
}

static int vm_queue_need_consumer(const vm_queue *q, const char *what, vm_err *err)
{
    if (q->role != VM_QUEUE_CONSUMER)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: %s needs a consumer (opened as producer)",
                           what);
    return 0;
}

int vm_queue_prepare(vm_queue *q, int partitions, vm_err *err)
{
    if (partitions < 1 || partitions > 10000)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: partitions %d out of range (1-10000)",
                           partitions);
    return q->ops->prepare(q->impl, partitions, err);
}

int vm_queue_publish(vm_queue *q, const char *key, const void *payload, size_t len,
                     vm_err *err)
{
    if (!payload && len)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: publish without a payload");
    return q->ops->publish(q->impl, false, key, payload, len, err);
}

int vm_queue_dead_letter(vm_queue *q, const char *key, const void *payload, size_t len,
                         vm_err *err)
{
    if (!payload && len)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: dead letter without a payload");
    return q->ops->publish(q->impl, true, key, payload, len, err);
}

int vm_queue_publish_nowait(vm_queue *q, const char *key, const void *payload, size_t len,
                            vm_err *err)
{
    if (!payload && len)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: publish without a payload");
    if (!q->ops->publish_nowait)
        return q->ops->publish(q->impl, false, key, payload, len, err);
    return q->ops->publish_nowait(q->impl, key, payload, len, err);
}

int vm_queue_flush(vm_queue *q, int timeout_ms, vm_err *err)
{
    return q->ops->flush(q->impl, timeout_ms, err);
}

int vm_queue_consume(vm_queue *q, int timeout_ms, vm_queue_msg *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = vm_queue_need_consumer(q, "consume", err);
    if (rc)
        return rc;
    if (q->held)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "queue: consume while held (release_hold first, keepalive meanwhile)");
    return q->ops->consume(q->impl, timeout_ms, out, err);
}

int vm_queue_ack(vm_queue *q, const vm_queue_msg *m, vm_err *err)
{
    int rc = vm_queue_need_consumer(q, "ack", err);
    if (rc)
        return rc;
    if (!m || !m->topic)
        return vm_err_setc(err, VM_ERR_INVALID, "queue: ack of an empty message");
    return q->ops->ack(q->impl, m, err);
}

int vm_queue_hold(vm_queue *q, vm_err *err)
{
    int rc = vm_queue_need_consumer(q, "hold", err);
    if (rc || q->held)
        return rc;
    if ((rc = q->ops->hold(q->impl, err)) == 0)
        q->held = true;
    return rc;
}

int vm_queue_release_hold(vm_queue *q, vm_err *err)
{
    int rc = vm_queue_need_consumer(q, "release_hold", err);
    if (rc || !q->held)
        return rc;
    if ((rc = q->ops->release_hold(q->impl, err)) == 0)
        q->held = false;
    return rc;
}

int vm_queue_keepalive(vm_queue *q, vm_err *err)
{
    int rc = vm_queue_need_consumer(q, "keepalive", err);
    return rc ? rc : q->ops->keepalive(q->impl, err);
}

int vm_queue_task_key(const char *job_id, uint32_t task_id, char *buf, size_t cap)
{
    if (!job_id || !*job_id || strchr(job_id, ':'))
        return VM_ERR_INVALID;
    int n = snprintf(buf, cap, "%s:%u", job_id, (unsigned)task_id);
    return n < 0 || (size_t)n >= cap ? VM_ERR_INVALID : 0;
}

int vm_queue_task_key_parse(const char *key, size_t len, char *job, size_t cap,
                            uint32_t *task_id)
{
    if (!key)
        return VM_ERR_INVALID;
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (key[i] == ':')
            colon = key + i; /* the last one */
    if (!colon || colon == key || (size_t)(colon - key) >= cap)
        return VM_ERR_INVALID;
    const char *d = colon + 1;
    size_t nd = len - (size_t)(d - key);
    if (nd == 0 || nd > 10 || (nd > 1 && d[0] == '0'))
        return VM_ERR_INVALID;
    uint64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9')
            return VM_ERR_INVALID;
        v = v * 10 + (uint64_t)(d[i] - '0');
    }
    if (v > UINT32_MAX)
        return VM_ERR_INVALID;
    for (const char *p = key; p < colon; p++)
        if (*p == ':' || *p == '\0')
            return VM_ERR_INVALID;
    memcpy(job, key, (size_t)(colon - key));
    job[colon - key] = '\0';
    *task_id = (uint32_t)v;
    return 0;
}

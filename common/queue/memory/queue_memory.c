/*
 * queue_memory.c - the embedded task-queue backend (vm_queue_ops
 * "embedded"): a bounded in-process FIFO per topic, shared by every
 * vm_queue handle of the process that names that topic.
 *
 * THE ONE GLOBAL. `vecmig migrate` runs the coordinator and N worker
 * threads in one process; each opens its own vm_queue (producer or
 * consumer) from the same job configuration and they must meet on the same
 * queue. The only thing they share is the topic name, so this file keeps a
 * process-wide registry of channels keyed by topic (vm_qm_registry below),
 * guarded by its own mutex. A channel is reference-counted by its open
 * handles and freed, with whatever it still holds, when the last one closes.
 *
 * Locking: the registry mutex guards the channel list and the reference
 * counts; each channel's mutex guards its lists and counters. A handle's
 * reference keeps its channel alive, so channel operations take the
 * channel mutex only. Where both are needed the order is registry, then
 * channel; close() never holds both.
 *
 * Semantics, matching the Kafka backend where it matters to the worker:
 *  - publish appends a copy of (key, payload) at the tail. At most
 *    `capacity` messages wait for a consumer; a publish that finds the
 *    channel full waits for room, up to publish_timeout_ms, then fails with
 *    VM_ERR_TIMEOUT (retriable; nothing was added). Returning 0 means the
 *    message is in the queue: that is as durable as anything in this
 *    process gets; the state store is the durable record.
 *  - consume pops the oldest waiting message; it stays "in flight" on that
 *    handle until ack() removes it for good. A handle closed with messages
 *    in flight puts them back at the FRONT, in the order they were taken,
 *    so the next consumer receives them first (as Kafka redelivers what a
 *    leaving member did not commit). A message never acked stays in flight
 *    until its handle closes (Kafka would let a later commit on the same
 *    partition pass over it; here it comes back instead: at least once).
 *  - hold/release_hold only flip a flag: one handle is one consumer, and a
 *    held consumer takes nothing (consume answers VM_ERR_INVALID, as
 *    vm_queue.c does for every backend). keepalive has no group to serve.
 *  - one partition (0); the offset is a per-channel sequence number given
 *    at publish and kept on redelivery; the consumer group is ignored (all
 *    consumers of a topic compete for its messages).
 *  - dead letters are kept in a per-channel list (logged, readable through
 *    vm_queue_memory_dead_letter_get) and never delivered.
 *  - prepare and flush have nothing to do: open creates the channel, and
 *    publish is complete when it returns.
 */
#include "vm_queue_memory.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define VM_QM_DEFAULT_TOPIC "vecmig.tasks"

/* One message. key and payload point into data[] (NUL-terminated). */
typedef struct vm_qm_node {
    struct vm_qm_node *prev, *next;
    int64_t seq;
    char *key; /* NULL when published without one */
    size_t key_len;
    char *payload;
    size_t len;
    char data[];
} vm_qm_node;

typedef struct vm_qm_list {
    vm_qm_node *head, *tail;
    size_t n;
} vm_qm_list;

typedef struct vm_qm_chan {
    struct vm_qm_chan *next; /* registry list */
    char *topic;
    size_t refs; /* open handles; guarded by the registry mutex */
    pthread_mutex_t mu;
    pthread_cond_t readable; /* pending grew */
    pthread_cond_t writable; /* pending shrank, or the capacity changed */
    vm_qm_list pending;
    vm_qm_list dead;
    size_t in_flight;
    size_t capacity;
    int publish_timeout_ms;
    size_t publishers_waiting, consumers_waiting;
    int64_t next_seq;
    uint64_t published, acked, redelivered;
} vm_qm_chan;

/* The process-wide registry (see the top of the file). */
static struct {
    pthread_mutex_t mu;
    vm_qm_chan *head;
} vm_qm_registry = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* Per-handle state (vm_queue_ops.state_size). */
typedef struct vm_qm {
    vm_qm_chan *ch;
    vm_queue_role role;
    vm_qm_list flight; /* consumed, not acked, in the order taken */
    bool held;
} vm_qm;

/* ---- lists -------------------------------------------------------------- */

static void vm_qm_push_back(vm_qm_list *l, vm_qm_node *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
    l->n++;
}

static void vm_qm_unlink(vm_qm_list *l, vm_qm_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
    l->n--;
}

/* Move all of `from` in front of `to`, keeping its order. */
static void vm_qm_splice_front(vm_qm_list *to, vm_qm_list *from)
{
    if (!from->head)
        return;
    from->tail->next = to->head;
    if (to->head)
        to->head->prev = from->tail;
    else
        to->tail = from->tail;
    to->head = from->head;
    to->n += from->n;
    memset(from, 0, sizeof *from);
}

static void vm_qm_list_free(vm_qm_list *l)
{
    vm_qm_node *n = l->head;
    while (n) {
        vm_qm_node *next = n->next;
        vm_free(n);
        n = next;
    }
    memset(l, 0, sizeof *l);
}

static vm_qm_node *vm_qm_node_new(const char *key, const void *payload, size_t len)
{
    size_t klen = key ? strlen(key) : 0;
    size_t kspace = key ? klen + 1 : 0;
    if (len > SIZE_MAX - sizeof(vm_qm_node) - kspace - 1)
        return NULL;
    vm_qm_node *n = vm_malloc(sizeof *n + kspace + len + 1);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    char *p = n->data;
    if (key) {
        memcpy(p, key, klen + 1);
        n->key = p;
        n->key_len = klen;
        p += kspace;
    }
    if (len)
        memcpy(p, payload, len);
    p[len] = '\0';
    n->payload = p;
    n->len = len;
    return n;
}

/* Private copies of a node for a vm_queue_msg. */
static int vm_qm_copy_out(const vm_qm_chan *ch, const vm_qm_node *n, vm_queue_msg *out)
{
    memset(out, 0, sizeof *out);
    out->topic = vm_strdup(ch->topic);
    out->payload = vm_strndup(n->payload, n->len);
    if (n->key)
        out->key = vm_strndup(n->key, n->key_len);
    if (!out->topic || !out->payload || (n->key && !out->key)) {
        vm_queue_msg_release(out);
        return VM_ERR_NOMEM;
    }
    out->len = n->len;
    out->key_len = n->key_len;
    out->partition = 0;
    out->offset = n->seq;
    return 0;
}

/* ---- time --------------------------------------------------------------- */

static void vm_qm_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static bool vm_qm_passed(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* ---- channels and the registry ----------------------------------------- */

static void vm_qm_chan_free(vm_qm_chan *ch)
{
    if (!ch)
        return;
    if (ch->pending.n)
        vm_warn("queue embedded: topic %s closed with %zu undelivered messages (the state store "
                "still has their tasks)", ch->topic, ch->pending.n);
    vm_qm_list_free(&ch->pending);
    vm_qm_list_free(&ch->dead);
    pthread_cond_destroy(&ch->writable);
    pthread_cond_destroy(&ch->readable);
    pthread_mutex_destroy(&ch->mu);
    vm_free(ch->topic);
    vm_free(ch);
}

static vm_qm_chan *vm_qm_chan_new(const char *topic)
{
    vm_qm_chan *ch = vm_calloc(1, sizeof *ch);
    pthread_condattr_t ca;
    int ok_mu = -1, ok_r = -1, ok_w = -1;
    if (!ch)
        return NULL;
    if (!(ch->topic = vm_strdup(topic)))
        goto fail;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0) {
        ok_r = pthread_cond_init(&ch->readable, &ca);
        ok_w = pthread_cond_init(&ch->writable, &ca);
    }
    pthread_condattr_destroy(&ca);
    ok_mu = pthread_mutex_init(&ch->mu, NULL);
    if (ok_mu != 0 || ok_r != 0 || ok_w != 0)
        goto fail;
    ch->capacity = VM_QUEUE_MEMORY_CAPACITY;
    ch->publish_timeout_ms = VM_QUEUE_MEMORY_PUBLISH_TIMEOUT_MS;
    return ch;
fail:
    if (ok_w == 0)
        pthread_cond_destroy(&ch->writable);
    if (ok_r == 0)
        pthread_cond_destroy(&ch->readable);
    if (ok_mu == 0)
        pthread_mutex_destroy(&ch->mu);
    vm_free(ch->topic);
    vm_free(ch);
    return NULL;
}

/* Under the registry mutex. */
static vm_qm_chan *vm_qm_find(const char *topic)
{
    for (vm_qm_chan *ch = vm_qm_registry.head; ch; ch = ch->next)
        if (strcmp(ch->topic, topic) == 0)
            return ch;
    return NULL;
}

/* The channel of `topic` with one more reference, created if needed. */
static vm_qm_chan *vm_qm_acquire(const char *topic)
{
    pthread_mutex_lock(&vm_qm_registry.mu);
    vm_qm_chan *ch = vm_qm_find(topic);
    if (!ch && (ch = vm_qm_chan_new(topic)) != NULL) {
        ch->next = vm_qm_registry.head;
        vm_qm_registry.head = ch;
    }
    if (ch)
        ch->refs++;
    pthread_mutex_unlock(&vm_qm_registry.mu);
    return ch;
}

static void vm_qm_put(vm_qm_chan *ch)
{
    bool last = false;
    pthread_mutex_lock(&vm_qm_registry.mu);
    if (--ch->refs == 0) {
        vm_qm_chan **pp = &vm_qm_registry.head;
        while (*pp != ch)
            pp = &(*pp)->next;
        *pp = ch->next;
        last = true;
    }
    pthread_mutex_unlock(&vm_qm_registry.mu);
    if (last)
        vm_qm_chan_free(ch);
}

/* ---- vm_queue_ops ------------------------------------------------------- */

static void vm_qm_close(void *st)
{
    vm_qm *h = st;
    vm_qm_chan *ch = h->ch;
    if (!ch)
        return;
    pthread_mutex_lock(&ch->mu);
    if (h->flight.n) {
        size_t n = h->flight.n;
        ch->in_flight -= n;
        ch->redelivered += n;
        vm_qm_splice_front(&ch->pending, &h->flight);
        pthread_cond_broadcast(&ch->readable);
        vm_debug("queue embedded: %zu unacknowledged messages of %s go back to the front", n,
                 ch->topic);
    }
    pthread_mutex_unlock(&ch->mu);
    vm_qm_put(ch);
    memset(h, 0, sizeof *h);
}

static int vm_qm_open(void *st, const vm_job_queue_conf *conf, vm_queue_role role, vm_err *err)
{
    vm_qm *h = st;
    const char *topic = conf->topic && *conf->topic ? conf->topic : VM_QM_DEFAULT_TOPIC;
    memset(h, 0, sizeof *h);
    h->role = role;
    if (!(h->ch = vm_qm_acquire(topic)))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory (topic %s)", topic);
    return 0;
}

static int vm_qm_prepare(void *st, int partitions, vm_err *err)
{
    (void)st;
    (void)partitions; /* one FIFO; open() created it */
    (void)err;
    return 0;
}

static int vm_qm_publish(void *st, bool dead, const char *key, const void *payload, size_t len,
                         vm_err *err)
{
    vm_qm *h = st;
    vm_qm_chan *ch = h->ch;
    vm_qm_node *n = vm_qm_node_new(key, payload, len);
    int rc = 0;
    if (!n)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory (message of %zu bytes)", len);
    pthread_mutex_lock(&ch->mu);
    if (dead) {
        n->seq = ch->next_seq++;
        vm_qm_push_back(&ch->dead, n);
        n = NULL;
        pthread_mutex_unlock(&ch->mu);
        vm_warn("queue embedded: dead letter on %s (key %s)", ch->topic, key ? key : "-");
        return 0;
    }
    if (ch->pending.n >= ch->capacity) {
        struct timespec deadline;
        vm_qm_deadline(&deadline, ch->publish_timeout_ms);
        ch->publishers_waiting++;
        while (ch->pending.n >= ch->capacity) {
            if (vm_qm_passed(&deadline)) {
                ch->publishers_waiting--;
                rc = vm_err_set(err, VM_ERR_TIMEOUT, true,
                                "topic %s full (%zu messages waiting) for %d ms; nothing was "
                                "published", ch->topic, ch->pending.n, ch->publish_timeout_ms);
                goto cleanup;
            }
            int w = pthread_cond_timedwait(&ch->writable, &ch->mu, &deadline);
            if (w != 0 && w != ETIMEDOUT) {
                ch->publishers_waiting--;
                rc = vm_err_setc(err, VM_ERR_INTERNAL, "waiting for room failed (%d)", w);
                goto cleanup;
            }
        }
        ch->publishers_waiting--;
    }
    n->seq = ch->next_seq++;
    vm_qm_push_back(&ch->pending, n);
    n = NULL;
    ch->published++;
    pthread_cond_signal(&ch->readable);
cleanup:
    pthread_mutex_unlock(&ch->mu);
    vm_free(n);
    return rc;
}

static int vm_qm_flush(void *st, int timeout_ms, vm_err *err)
{
    (void)st;
    (void)timeout_ms; /* publish is complete when it returns */
    (void)err;
    return 0;
}

static int vm_qm_consume(void *st, int timeout_ms, vm_queue_msg *out, vm_err *err)
{
    vm_qm *h = st;
    vm_qm_chan *ch = h->ch;
    struct timespec deadline;
    int rc = 1;
    memset(out, 0, sizeof *out);
    if (h->held)
        return vm_err_setc(err, VM_ERR_INVALID, "consume while held");
    /* like a Kafka poll, a negative timeout does not wait */
    vm_qm_deadline(&deadline, timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&ch->mu);
    while (!ch->pending.head) {
        if (vm_qm_passed(&deadline)) {
            rc = 0;
            goto cleanup;
        }
        ch->consumers_waiting++;
        int w = pthread_cond_timedwait(&ch->readable, &ch->mu, &deadline);
        ch->consumers_waiting--;
        if (w != 0 && w != ETIMEDOUT) {
            rc = vm_err_setc(err, VM_ERR_INTERNAL, "waiting for a message failed (%d)", w);
            goto cleanup;
        }
    }
    vm_qm_node *n = ch->pending.head;
    if (vm_qm_copy_out(ch, n, out) != 0) {
        /* the message stays first in line */
        rc = vm_err_setc(err, VM_ERR_NOMEM, "out of memory (message of %zu bytes)", n->len);
        goto cleanup;
    }
    vm_qm_unlink(&ch->pending, n);
    vm_qm_push_back(&h->flight, n);
    ch->in_flight++;
    pthread_cond_signal(&ch->writable);
cleanup:
    pthread_mutex_unlock(&ch->mu);
    return rc;
}

static int vm_qm_ack(void *st, const vm_queue_msg *m, vm_err *err)
{
    vm_qm *h = st;
    vm_qm_chan *ch = h->ch;
    vm_qm_node *n;
    if (strcmp(m->topic, ch->topic) != 0)
        return vm_err_setc(err, VM_ERR_INVALID, "ack of a message of topic %s on topic %s",
                           m->topic, ch->topic);
    pthread_mutex_lock(&ch->mu);
    /* the oldest first: acks usually come in the order of consumption */
    for (n = h->flight.head; n; n = n->next)
        if (n->seq == m->offset)
            break;
    if (n) {
        vm_qm_unlink(&h->flight, n);
        ch->in_flight--;
        ch->acked++;
    }
    pthread_mutex_unlock(&ch->mu);
    if (!n)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "message %s@%lld is not in flight on this handle (acked already, or "
                           "consumed through another handle)",
                           m->topic, (long long)m->offset);
    vm_free(n);
    return 0;
}

static int vm_qm_hold(void *st, vm_err *err)
{
    vm_qm *h = st;
    (void)err;
    h->held = true;
    return 0;
}

static int vm_qm_release_hold(void *st, vm_err *err)
{
    vm_qm *h = st;
    (void)err;
    h->held = false;
    return 0;
}

static int vm_qm_keepalive(void *st, vm_err *err)
{
    (void)st; /* no group to stay a member of */
    (void)err;
    return 0;
}

const vm_queue_ops vm_queue_memory_ops = {
    .name = "embedded",
    .state_size = sizeof(vm_qm),
    .open = vm_qm_open,
    .close = vm_qm_close,
    .prepare = vm_qm_prepare,
    .publish = vm_qm_publish,
    .flush = vm_qm_flush,
    .consume = vm_qm_consume,
    .ack = vm_qm_ack,
    .hold = vm_qm_hold,
    .release_hold = vm_qm_release_hold,
    .keepalive = vm_qm_keepalive,
};

/* ---- accessors ---------------------------------------------------------- */

int vm_queue_memory_stats_get(const char *topic, vm_queue_memory_stats *out)
{
    int rc = VM_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    if (!topic)
        return rc;
    pthread_mutex_lock(&vm_qm_registry.mu);
    vm_qm_chan *ch = vm_qm_find(topic);
    if (ch) {
        pthread_mutex_lock(&ch->mu);
        out->pending = ch->pending.n;
        out->in_flight = ch->in_flight;
        out->dead = ch->dead.n;
        out->handles = ch->refs;
        out->capacity = ch->capacity;
        out->publishers_waiting = ch->publishers_waiting;
        out->consumers_waiting = ch->consumers_waiting;
        out->published = ch->published;
        out->acked = ch->acked;
        out->redelivered = ch->redelivered;
        pthread_mutex_unlock(&ch->mu);
        rc = 0;
    }
    pthread_mutex_unlock(&vm_qm_registry.mu);
    return rc;
}

size_t vm_queue_memory_depth(const char *topic)
{
    vm_queue_memory_stats s;
    return vm_queue_memory_stats_get(topic, &s) == 0 ? s.pending : 0;
}

int vm_queue_memory_dead_letter_get(const char *topic, size_t index, vm_queue_msg *out)
{
    int rc = VM_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    if (!topic)
        return rc;
    pthread_mutex_lock(&vm_qm_registry.mu);
    vm_qm_chan *ch = vm_qm_find(topic);
    if (ch) {
        pthread_mutex_lock(&ch->mu);
        vm_qm_node *n = ch->dead.head;
        for (size_t i = 0; n && i < index; i++)
            n = n->next;
        if (n)
            rc = vm_qm_copy_out(ch, n, out);
        pthread_mutex_unlock(&ch->mu);
    }
    pthread_mutex_unlock(&vm_qm_registry.mu);
    return rc;
}

int vm_queue_memory_configure(const char *topic, size_t capacity, int publish_timeout_ms)
{
    int rc = VM_ERR_NOT_FOUND;
    if (!topic || capacity < 1)
        return VM_ERR_INVALID;
    pthread_mutex_lock(&vm_qm_registry.mu);
    vm_qm_chan *ch = vm_qm_find(topic);
    if (ch) {
        pthread_mutex_lock(&ch->mu);
        ch->capacity = capacity;
        if (publish_timeout_ms >= 0)
            ch->publish_timeout_ms = publish_timeout_ms;
        pthread_cond_broadcast(&ch->writable);
        pthread_mutex_unlock(&ch->mu);
        rc = 0;
    }
    pthread_mutex_unlock(&vm_qm_registry.mu);
    return rc;
}

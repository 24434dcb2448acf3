/*
 * vm_kafka.c - producer, consumer and admin calls over librdkafka, with the
 * settings vecmig's delivery guarantees depend on and error classification.
 *
 * Why a private copy of every consumed message: a vm_kafka_msg then does not
 * pin librdkafka objects (rd_kafka_destroy would wait on them) and can
 * outlive the consumer; task messages are small, so the copy is cheap.
 *
 * Why per-message delivery state on the heap for vm_kafka_produce_sync: a
 * caller that times out returns while the delivery report may still arrive
 * later; the report must then land in memory that is still valid. Abandoned
 * states stay on a list owned by the producer and are freed with it.
 */
#include "vm_kafka.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define VM_KAFKA_POLL_SLICE_MS 100
#define VM_KAFKA_QUEUE_FULL_WAIT_MS 10000
#define VM_KAFKA_FREE_FLUSH_MS 5000

/* Delivery state of one vm_kafka_produce_sync() message. */
typedef struct vm_kafka_dr {
    bool done;
    bool abandoned;
    rd_kafka_resp_err_t rkerr;
    struct vm_kafka_dr *next; /* on the producer's abandoned list */
} vm_kafka_dr;

struct vm_kafka_producer {
    rd_kafka_t *rk;
    pthread_mutex_t lock; /* guards everything below */
    size_t failed;        /* vm_kafka_produce() failures since last flush */
    rd_kafka_resp_err_t first_fail;
    char first_fail_topic[128];
    rd_kafka_resp_err_t last_error; /* last client-level error (error_cb) */
    char last_error_msg[256];
    vm_kafka_dr *abandoned;
};

struct vm_kafka_consumer {
    rd_kafka_t *rk;
    bool paused; /* vm_kafka_pause: new assignments are paused too */
};

/* ------------------------------------------------------------ errors */

vm_code vm_kafka_classify(rd_kafka_resp_err_t rkerr, bool *retriable)
{
    vm_code code;
    bool retry;
    switch (rkerr) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        code = VM_OK;
        retry = false;
        break;
    /* the network or the brokers: come back later */
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        code = VM_ERR_IO;
        retry = true;
        break;
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    /* group coordination moves and rebalances: retry after the rejoin */
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
        code = VM_ERR_UNAVAILABLE;
        retry = true;
        break;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        code = VM_ERR_TIMEOUT;
        retry = true;
        break;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
        code = VM_ERR_RATE_LIMITED;
        retry = true;
        break;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        /* retriable only after the caller made the message smaller */
        code = VM_ERR_TOO_LARGE;
        retry = vm_code_retriable(VM_ERR_TOO_LARGE);
        break;
    /* credentials and permissions: retrying cannot help */
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_EXPIRED:
    case RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL:
        code = VM_ERR_AUTH;
        retry = false;
        break;
    /* vecmig creates its topics; with auto-create off an unknown topic is a
     * configuration mistake, not a transient state */
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        code = VM_ERR_NOT_FOUND;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        code = VM_ERR_EXISTS;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
        code = VM_ERR_INVALID;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR_SECURITY_DISABLED:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED:
        code = VM_ERR_UNSUPPORTED;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE:
        code = VM_ERR_NOMEM;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        code = VM_ERR_CANCELLED;
        retry = false;
        break;
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        code = VM_ERR_PROTOCOL;
        retry = false;
        break;
    default:
        /* _FATAL (idempotence broken, fenced) and everything unknown:
         * do not loop on what we do not understand */
        code = VM_ERR_REMOTE;
        retry = false;
        break;
    }
    if (retriable)
        *retriable = retry;
    return code;
}

bool vm_kafka_prop_is_secret(const char *key)
{
    if (!key)
        return false;
    return strstr(key, "password") || strstr(key, "secret") ||
           strcmp(key, "ssl.key.pem") == 0 || strcmp(key, "ssl_key") == 0 ||
           strcmp(key, "sasl.oauthbearer.config") == 0;
}

/* "kafka: <what>: <detail> (<ERR_NAME>)", classified by rkerr. */
static int vm_kafka_set_err(vm_err *err, rd_kafka_resp_err_t rkerr,
                            const char *what, const char *detail)
{
    bool retriable;
    vm_code code = vm_kafka_classify(rkerr, &retriable);
    if (code == VM_OK)
        code = VM_ERR_INTERNAL;
    return vm_err_set(err, code, retriable, "kafka: %s: %s (%s)", what,
                      detail ? detail : rd_kafka_err2str(rkerr),
                      rd_kafka_err2name(rkerr));
}

/* Same from an rd_kafka_error_t: librdkafka's own retriable bit widens ours,
 * its fatal bit overrides both. */
static int vm_kafka_set_error(vm_err *err, const rd_kafka_error_t *e,
                              const char *what)
{
    rd_kafka_resp_err_t rkerr = rd_kafka_error_code(e);
    bool retriable;
    vm_code code = vm_kafka_classify(rkerr, &retriable);
    if (code == VM_OK)
        code = VM_ERR_INTERNAL;
    if (rd_kafka_error_is_retriable(e))
        retriable = true;
    if (rd_kafka_error_is_fatal(e))
        retriable = false;
    return vm_err_set(err, code, retriable, "kafka: %s: %s (%s)", what,
                      rd_kafka_error_string(e), rd_kafka_error_name(e));
}

/* A fatal client error (idempotent producer broken, consumer fenced) makes
 * the handle unusable: report its underlying cause as fatal. */
static int vm_kafka_set_fatal(vm_err *err, rd_kafka_t *rk, const char *what)
{
    char reason[256] = "";
    rd_kafka_resp_err_t rkerr = rd_kafka_fatal_error(rk, reason, sizeof reason);
    bool retriable;
    vm_code code = vm_kafka_classify(rkerr, &retriable);
    if (code == VM_OK)
        code = VM_ERR_REMOTE;
    return vm_err_set(err, code, false, "kafka: %s: fatal client error: %s (%s)",
                      what, reason[0] ? reason : rd_kafka_err2str(rkerr),
                      rd_kafka_err2name(rkerr));
}

static int64_t vm_kafka_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ config */

static void vm_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                            const char *buf)
{
    (void)rk;
    /* syslog levels: 0-2 critical, 3 error, 4 warning, 5 notice, 6 info,
     * 7 debug. librdkafka logs every failed broker connection at 3 and
     * recovers by itself, so that is a warning here; what really fails
     * reaches the caller as an error return. */
    vm_log_level lvl = level <= 2 ? VM_LOG_ERROR
                       : level <= 4 ? VM_LOG_WARN
                       : level == 5 ? VM_LOG_INFO
                                    : VM_LOG_DEBUG;
    vm_log(lvl, "kafka: %s: %s", fac, buf);
}

static int vm_kafka_conf_set(rd_kafka_conf_t *conf, const char *key,
                             const char *val, vm_err *err)
{
    char errstr[512];
    bool secret = vm_kafka_prop_is_secret(key);
    if (secret && vm_secret_add(val) != 0)
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return 0;
    if (secret)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "kafka: config property '%s' rejected (value not shown)", key);
    return vm_err_set(err, VM_ERR_INVALID, false, "kafka: config property '%s': %s",
                      key, errstr);
}

/* The "key=value" pass-through list. The key is copied out so that the
 * entry's value is never printed by mistake. */
static int vm_kafka_conf_extras(rd_kafka_conf_t *conf, const vm_kafka_opts *opts,
                                vm_err *err)
{
    for (size_t i = 0; i < opts->nprops; i++) {
        const char *kv = opts->props[i];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || eq == kv)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "kafka: extra property #%zu is not key=value", i + 1);
        char key[128];
        size_t klen = (size_t)(eq - kv);
        if (klen >= sizeof key)
            return vm_err_set(err, VM_ERR_INVALID, false,
                              "kafka: extra property #%zu has a key longer than %zu",
                              i + 1, sizeof key - 1);
        memcpy(key, kv, klen);
        key[klen] = '\0';
        int rc = vm_kafka_conf_set(conf, key, eq + 1, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Whether the pass-through properties set `name`. */
static bool vm_kafka_prop_given(const vm_kafka_opts *opts, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < opts->nprops; i++)
        if (opts->props[i] && strncmp(opts->props[i], name, n) == 0 && opts->props[i][n] == '=')
            return true;
    return false;
}

/* Set a property vecmig chooses itself, where a refusal is harmless.
 * Always false, to chain in a condition. */
static bool vm_kafka_conf_try(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char errstr[256];
    (void)rd_kafka_conf_set(conf, key, val, errstr, sizeof errstr);
    return false;
}

/* One warning when TLS to the brokers would go unverified: insecure, or
 * pass-through properties that turned verification off. Only when TLS is
 * used at all (security.protocol ssl or sasl_ssl). */
static void vm_kafka_warn_unverified(const rd_kafka_conf_t *conf, bool insecure)
{
    char proto[32] = "", verify[16] = "", algo[16] = "";
    size_t n = sizeof proto;
    if (rd_kafka_conf_get(conf, "security.protocol", proto, &n) != RD_KAFKA_CONF_OK ||
        (strcasecmp(proto, "ssl") != 0 && strcasecmp(proto, "sasl_ssl") != 0))
        return;
    n = sizeof verify;
    rd_kafka_conf_get(conf, "enable.ssl.certificate.verification", verify, &n);
    n = sizeof algo;
    rd_kafka_conf_get(conf, "ssl.endpoint.identification.algorithm", algo, &n);
    if (insecure)
        vm_warn("kafka: TLS certificate verification is disabled (queue.insecure_tls)");
    else if (strcmp(verify, "false") == 0)
        vm_warn("kafka: TLS certificate verification is disabled "
                "(queue.properties.enable.ssl.certificate.verification)");
    else if (strcmp(algo, "none") == 0)
        vm_warn("kafka: the brokers' host names are not checked against their certificates "
                "(queue.properties.ssl.endpoint.identification.algorithm: none)");
}

/* A configuration with bootstrap servers, client id, sane defaults, then the
 * pass-through properties. Role settings are applied by the caller after
 * this, so they win over the pass-through ones. */
static int vm_kafka_conf_new(const vm_kafka_opts *opts, rd_kafka_conf_t **out,
                             vm_err *err)
{
    int rc = 0;
    rd_kafka_conf_t *conf = NULL;
    *out = NULL;
    if (!opts || !opts->brokers || !opts->brokers[0])
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: no brokers configured");
    if (opts->nprops && !opts->props)
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: nprops without props");
    if (!(conf = rd_kafka_conf_new()))
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    rd_kafka_conf_set_log_cb(conf, vm_kafka_log_cb);
    if ((rc = vm_kafka_conf_set(conf, "bootstrap.servers", opts->brokers, err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "client.id",
                                opts->client_id ? opts->client_id : "vecmig", err)) != 0 ||
        /* idle connections closed by brokers are normal, not warnings */
        (rc = vm_kafka_conf_set(conf, "log.connection.close", "false", err)) != 0 ||
        /* verified TLS whatever this librdkafka's defaults are (a build
         * without TLS refuses these keys, and cannot speak TLS anyway) */
        vm_kafka_conf_try(conf, "enable.ssl.certificate.verification", "true") ||
        vm_kafka_conf_try(conf, "ssl.endpoint.identification.algorithm", "https") ||
        (rc = vm_kafka_conf_extras(conf, opts, err)) != 0)
        goto cleanup;
    if (opts->insecure) {
        vm_kafka_conf_try(conf, "enable.ssl.certificate.verification", "false");
        vm_kafka_conf_try(conf, "ssl.endpoint.identification.algorithm", "none");
    }
    vm_kafka_warn_unverified(conf, opts->insecure);
    *out = conf;
    conf = NULL;
cleanup:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}

/* rd_kafka_new; conf is consumed on success and on failure. */
static int vm_kafka_handle_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
                               rd_kafka_t **out, vm_err *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: cannot create client: %s",
                          errstr);
    }
    *out = rk;
    return 0;
}

/* ---------------------------------------------------------- producer */

static void vm_kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                           void *opaque)
{
    (void)rk;
    vm_kafka_producer *p = opaque;
    vm_kafka_dr *st = rkm->_private;
    pthread_mutex_lock(&p->lock);
    if (st) {
        st->rkerr = rkm->err;
        st->done = true;
    } else if (rkm->err) {
        if (p->failed++ == 0) {
            p->first_fail = rkm->err;
            snprintf(p->first_fail_topic, sizeof p->first_fail_topic, "%s",
                     rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "?");
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static void vm_kafka_error_cb(rd_kafka_t *rk, int rkerr, const char *reason,
                              void *opaque)
{
    (void)rk;
    vm_kafka_producer *p = opaque;
    pthread_mutex_lock(&p->lock);
    p->last_error = (rd_kafka_resp_err_t)rkerr;
    snprintf(p->last_error_msg, sizeof p->last_error_msg, "%s", reason);
    pthread_mutex_unlock(&p->lock);
    if (rkerr == RD_KAFKA_RESP_ERR__FATAL)
        vm_error("kafka: producer fatal error: %s", reason);
    else
        vm_warn("kafka: producer: %s (%s)", reason,
                rd_kafka_err2name((rd_kafka_resp_err_t)rkerr));
}

int vm_kafka_producer_new(const vm_kafka_opts *opts, vm_kafka_producer **out,
                          vm_err *err)
{
    int rc = 0;
    rd_kafka_conf_t *conf = NULL;
    vm_kafka_producer *p = NULL;
    *out = NULL;
    if (!(p = vm_calloc(1, sizeof *p)))
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    pthread_mutex_init(&p->lock, NULL);
    if ((rc = vm_kafka_conf_new(opts, &conf, err)) != 0)
        goto cleanup;
    /* durability: the broker has the message on every in-sync replica, and
     * retries can neither duplicate nor reorder it */
    if ((rc = vm_kafka_conf_set(conf, "enable.idempotence", "true", err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "acks", "all", err)) != 0)
        goto cleanup;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, vm_kafka_dr_cb);
    rd_kafka_conf_set_error_cb(conf, vm_kafka_error_cb);
    rc = vm_kafka_handle_new(RD_KAFKA_PRODUCER, conf, &p->rk, err);
    conf = NULL; /* consumed either way */
    if (rc != 0)
        goto cleanup;
    *out = p;
    p = NULL;
cleanup:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (p) {
        pthread_mutex_destroy(&p->lock);
        vm_free(p);
    }
    return rc;
}

void vm_kafka_producer_free(vm_kafka_producer *p)
{
    if (!p)
        return;
    /* give queued messages a bounded chance, then drop what is left; the
     * caller wanting a guarantee calls vm_kafka_flush() first */
    if (rd_kafka_flush(p->rk, VM_KAFKA_FREE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        vm_warn("kafka: producer closed with %d undelivered message(s)",
                rd_kafka_outq_len(p->rk));
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    rd_kafka_destroy(p->rk);
    while (p->abandoned) {
        vm_kafka_dr *next = p->abandoned->next;
        vm_free(p->abandoned);
        p->abandoned = next;
    }
    pthread_mutex_destroy(&p->lock);
    vm_free(p);
}

/* Enqueue one message (copied). opaque: per-message delivery state or NULL.
 * A full local queue is drained by serving delivery reports, for at most
 * VM_KAFKA_QUEUE_FULL_WAIT_MS. */
static int vm_kafka_enqueue(vm_kafka_producer *p, const char *topic,
                            const void *key, size_t key_len, const void *payload,
                            size_t len, void *opaque, vm_err *err)
{
    if (!topic || !topic[0])
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: produce without a topic");
    rd_kafka_vu_t vu[5];
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[n++].u.cstr = topic;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)payload; /* copied, never written */
    vu[n++].u.mem.size = len;
    if (key) {
        vu[n].vtype = RD_KAFKA_VTYPE_KEY;
        vu[n].u.mem.ptr = (void *)key;
        vu[n++].u.mem.size = key_len;
    }
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = opaque;

    int64_t deadline = vm_kafka_now_ms() + VM_KAFKA_QUEUE_FULL_WAIT_MS;
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_produceva(p->rk, vu, n);
        if (!e)
            return 0;
        rd_kafka_resp_err_t rkerr = rd_kafka_error_code(e);
        if (rkerr == RD_KAFKA_RESP_ERR__QUEUE_FULL && vm_kafka_now_ms() < deadline) {
            rd_kafka_error_destroy(e);
            rd_kafka_poll(p->rk, VM_KAFKA_POLL_SLICE_MS);
            continue;
        }
        int rc;
        if (rkerr == RD_KAFKA_RESP_ERR__FATAL)
            rc = vm_kafka_set_fatal(err, p->rk, "produce");
        else
            rc = vm_kafka_set_error(err, e, "produce");
        rd_kafka_error_destroy(e);
        vm_err_prefix(err, "topic %s: ", topic);
        return rc;
    }
}

int vm_kafka_produce_sync(vm_kafka_producer *p, const char *topic,
                          const void *key, size_t key_len,
                          const void *payload, size_t len, int timeout_ms,
                          vm_err *err)
{
    int rc = 0;
    vm_kafka_dr *st = vm_calloc(1, sizeof *st);
    if (!st)
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    if ((rc = vm_kafka_enqueue(p, topic, key, key_len, payload, len, st, err)) != 0)
        goto cleanup; /* never enqueued: no report will come */

    int64_t deadline = vm_kafka_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool done = st->done;
        rd_kafka_resp_err_t rkerr = st->rkerr;
        pthread_mutex_unlock(&p->lock);
        if (done) {
            if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR)
                goto cleanup;
            if (rd_kafka_fatal_error(p->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
                rc = vm_kafka_set_fatal(err, p->rk, "delivery");
            else
                rc = vm_kafka_set_err(err, rkerr, "delivery", NULL);
            vm_err_prefix(err, "topic %s: ", topic);
            goto cleanup;
        }
        int64_t left = deadline - vm_kafka_now_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(p->rk, left > VM_KAFKA_POLL_SLICE_MS ? VM_KAFKA_POLL_SLICE_MS : (int)left);
    }

    /* timed out: the report may still come, so the state must outlive us */
    pthread_mutex_lock(&p->lock);
    if (!st->done) {
        st->abandoned = true;
        st->next = p->abandoned;
        p->abandoned = st;
        st = NULL;
    }
    char last[sizeof p->last_error_msg];
    snprintf(last, sizeof last, "%s", p->last_error ? p->last_error_msg : "none");
    pthread_mutex_unlock(&p->lock);
    rc = vm_err_set(err, VM_ERR_TIMEOUT, true,
                    "kafka: topic %s: no delivery report within %d ms (outcome unknown; "
                    "last client error: %s)", topic, timeout_ms, last);
cleanup:
    vm_free(st);
    return rc;
}

int vm_kafka_produce(vm_kafka_producer *p, const char *topic, const void *key,
                     size_t key_len, const void *payload, size_t len, vm_err *err)
{
    int rc = vm_kafka_enqueue(p, topic, key, key_len, payload, len, NULL, err);
    /* serve delivery reports as we go so they do not pile up */
    rd_kafka_poll(p->rk, 0);
    return rc;
}

int vm_kafka_flush(vm_kafka_producer *p, int timeout_ms, size_t *failed_count,
                   vm_err *err)
{
    rd_kafka_resp_err_t ferr = rd_kafka_flush(p->rk, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&p->lock);
    size_t failed = p->failed;
    rd_kafka_resp_err_t first = p->first_fail;
    char topic[sizeof p->first_fail_topic];
    memcpy(topic, p->first_fail_topic, sizeof topic);
    p->failed = 0;
    p->first_fail = RD_KAFKA_RESP_ERR_NO_ERROR;
    pthread_mutex_unlock(&p->lock);
    if (failed_count)
        *failed_count = failed;
    if (failed > 0) {
        int rc;
        if (rd_kafka_fatal_error(p->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = vm_kafka_set_fatal(err, p->rk, "delivery");
        else
            rc = vm_kafka_set_err(err, first, "delivery", NULL);
        vm_err_prefix(err, "%zu message(s) not delivered, first on topic %s: ", failed,
                      topic);
        return rc;
    }
    if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return vm_err_set(err, VM_ERR_TIMEOUT, true,
                          "kafka: flush: %d message(s) still unacknowledged after %d ms",
                          rd_kafka_outq_len(p->rk), timeout_ms);
    return 0;
}

/* ------------------------------------------------------------- admin */

static int vm_kafka_admin_new(const vm_kafka_opts *opts, rd_kafka_t **out,
                              vm_err *err)
{
    rd_kafka_conf_t *conf = NULL;
    int rc = vm_kafka_conf_new(opts, &conf, err);
    if (rc != 0)
        return rc;
    return vm_kafka_handle_new(RD_KAFKA_PRODUCER, conf, out, err);
}

/* Admin options with both timeouts: the request's and the broker-side wait
 * until the topic change has propagated. */
static int vm_kafka_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                  int timeout_ms, rd_kafka_AdminOptions_t **out,
                                  vm_err *err)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, op);
    if (!ao)
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    if (rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, errstr, sizeof errstr) ||
        rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof errstr)) {
        rd_kafka_AdminOptions_destroy(ao);
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: admin timeout %d ms: %s",
                          timeout_ms, errstr);
    }
    *out = ao;
    return 0;
}

/* Wait for the one result event of an admin call on its private queue. */
static int vm_kafka_admin_wait(rd_kafka_queue_t *q, int timeout_ms, const char *what,
                               rd_kafka_event_t **out, vm_err *err)
{
    /* the broker-side operation timeout plus room for the round trip */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    *out = NULL;
    if (!ev)
        return vm_err_set(err, VM_ERR_TIMEOUT, true, "kafka: %s: no answer within %d ms",
                          what, timeout_ms);
    rd_kafka_resp_err_t rkerr = rd_kafka_event_error(ev);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        int rc = vm_kafka_set_err(err, rkerr, what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return rc;
    }
    *out = ev;
    return 0;
}

/* One topic result; `ok_too` is an error code that counts as success. */
static int vm_kafka_topic_result(const rd_kafka_topic_result_t **res, size_t n,
                                 rd_kafka_resp_err_t ok_too, const char *what,
                                 vm_err *err)
{
    if (n != 1)
        return vm_err_setc(err, VM_ERR_PROTOCOL, "kafka: %s: %zu topic results, expected 1",
                           what, n);
    rd_kafka_resp_err_t rkerr = rd_kafka_topic_result_error(res[0]);
    if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR || rkerr == ok_too)
        return 0;
    int rc = vm_kafka_set_err(err, rkerr, what, rd_kafka_topic_result_error_string(res[0]));
    vm_err_prefix(err, "topic %s: ", rd_kafka_topic_result_name(res[0]));
    return rc;
}

int vm_kafka_create_topic(const vm_kafka_opts *opts, const char *topic,
                          int partitions, int replication, int timeout_ms,
                          vm_err *err)
{
    int rc = 0;
    char errstr[256];
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    if (!topic || !topic[0])
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: create topic: empty name");
    if ((rc = vm_kafka_admin_new(opts, &rk, err)) != 0)
        goto cleanup;
    if (!(nt = rd_kafka_NewTopic_new(topic, partitions, replication, errstr, sizeof errstr))) {
        rc = vm_err_set(err, VM_ERR_INVALID, false, "kafka: create topic %s: %s", topic,
                        errstr);
        goto cleanup;
    }
    if ((rc = vm_kafka_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, &ao,
                                     err)) != 0)
        goto cleanup;
    if (!(q = rd_kafka_queue_new(rk))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
        goto cleanup;
    }
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    if ((rc = vm_kafka_admin_wait(q, timeout_ms, "create topic", &ev, err)) != 0)
        goto cleanup;
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n)
                                             : NULL;
    rc = vm_kafka_topic_result(tr, n, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
                               "create topic", err);
cleanup:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

int vm_kafka_delete_topic(const vm_kafka_opts *opts, const char *topic,
                          int timeout_ms, vm_err *err)
{
    int rc = 0;
    rd_kafka_t *rk = NULL;
    rd_kafka_DeleteTopic_t *dt = NULL;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    if (!topic || !topic[0])
        return vm_err_set(err, VM_ERR_INVALID, false, "kafka: delete topic: empty name");
    if ((rc = vm_kafka_admin_new(opts, &rk, err)) != 0)
        goto cleanup;
    if (!(dt = rd_kafka_DeleteTopic_new(topic))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
        goto cleanup;
    }
    if ((rc = vm_kafka_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms, &ao,
                                     err)) != 0)
        goto cleanup;
    if (!(q = rd_kafka_queue_new(rk))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
        goto cleanup;
    }
    rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
    if ((rc = vm_kafka_admin_wait(q, timeout_ms, "delete topic", &ev, err)) != 0)
        goto cleanup;
    const rd_kafka_DeleteTopics_result_t *res = rd_kafka_event_DeleteTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = res ? rd_kafka_DeleteTopics_result_topics(res, &n)
                                             : NULL;
    rc = vm_kafka_topic_result(tr, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                               "delete topic", err);
cleanup:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

int vm_kafka_topic_partitions(const vm_kafka_opts *opts, const char *topic,
                              int timeout_ms, int *out, vm_err *err)
{
    int rc = 0;
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;

    *out = 0;
    if ((rc = vm_kafka_admin_new(opts, &rk, err)) != 0)
        goto cleanup;
    rd_kafka_resp_err_t rkerr = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = vm_kafka_set_err(err, rkerr, "metadata", NULL);
        goto cleanup;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, topic) != 0)
            continue;
        if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = vm_kafka_set_err(err, t->err, "metadata", NULL);
            vm_err_prefix(err, "topic %s: ", topic);
            goto cleanup;
        }
        *out = t->partition_cnt;
        goto cleanup;
    }
    rc = vm_err_set(err, VM_ERR_NOT_FOUND, false, "kafka: topic %s does not exist", topic);
cleanup:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* ---------------------------------------------------------- consumer */

/* Served inside rd_kafka_consumer_poll / rd_kafka_consumer_close. The
 * cooperative protocol hands over only the partitions that move
 * (incremental assign/unassign); the eager one replaces the whole set. */
static void vm_kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t rkerr,
                                  rd_kafka_topic_partition_list_t *parts,
                                  void *opaque)
{
    vm_kafka_consumer *c = opaque;
    /* NULL while the group handle terminates (a close after the member was
     * evicted, e.g. for exceeding max.poll.interval.ms); the strategy is
     * pinned to cooperative-sticky, so that is the protocol then */
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = !proto || strcmp(proto, "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *what = "assign";

    switch (rkerr) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        vm_debug("kafka: rebalance: %d partition(s) assigned (%s)", parts->cnt,
                 proto ? proto : "?");
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        /* nothing to commit here: offsets are committed per finished task,
         * and unfinished tasks must be redelivered to the next owner */
        what = "revoke";
        vm_debug("kafka: rebalance: %d partition(s) revoked%s", parts->cnt,
                 rd_kafka_assignment_lost(rk) ? " (lost)" : "");
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        break;
    default:
        what = "reset";
        vm_warn("kafka: rebalance failed: %s", rd_kafka_err2str(rkerr));
        aerr = rd_kafka_assign(rk, NULL);
        break;
    }
    if (e) {
        vm_error("kafka: rebalance %s: %s", what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (aerr) {
        vm_error("kafka: rebalance %s: %s", what, rd_kafka_err2str(aerr));
    } else if (rkerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && c) {
        /* vm_kafka_pause covers partitions that arrive later; a partition
         * paused under an earlier assignment must not stay paused */
        rd_kafka_resp_err_t perr = c->paused ? rd_kafka_pause_partitions(rk, parts)
                                             : rd_kafka_resume_partitions(rk, parts);
        if (perr)
            vm_error("kafka: rebalance %s: %s", c->paused ? "pause" : "resume",
                     rd_kafka_err2str(perr));
    }
}

int vm_kafka_consumer_new(const vm_kafka_opts *opts, const char *group_id,
                          const char *const *topics, size_t ntopics,
                          vm_kafka_consumer **out, vm_err *err)
{
    int rc = 0;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    vm_kafka_consumer *c = NULL;

    *out = NULL;
    if (!group_id || !group_id[0] || !topics || ntopics == 0)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "kafka: consumer needs a group id and at least one topic");
    if (!(c = vm_calloc(1, sizeof *c)))
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    if ((rc = vm_kafka_conf_new(opts, &conf, err)) != 0)
        goto cleanup;
    /* a task is committed only after the worker finished it */
    if ((rc = vm_kafka_conf_set(conf, "group.id", group_id, err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "enable.auto.commit", "false", err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "enable.auto.offset.store", "false", err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "auto.offset.reset", "earliest", err)) != 0 ||
        (rc = vm_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
                                err)) != 0)
        goto cleanup;
    /* A resumed partition (vm_kafka_resume, after each task) is fetched
     * only once the broker's long poll in flight returns: with the default
     * 500 ms every worker idled half a second between two tasks (measured
     * with bench/control_plane: resume wait = fetch.wait.max.ms). 100 ms
     * costs an idle consumer 10 small fetches a second. queue.properties
     * may set another value. */
    if (!vm_kafka_prop_given(opts, "fetch.wait.max.ms") &&
        (rc = vm_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err)) != 0)
        goto cleanup;
    rd_kafka_conf_set_rebalance_cb(conf, vm_kafka_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    rc = vm_kafka_handle_new(RD_KAFKA_CONSUMER, conf, &c->rk, err);
    conf = NULL;
    if (rc != 0)
        goto cleanup;
    /* one queue: rebalances, errors and messages all come out of
     * rd_kafka_consumer_poll */
    rd_kafka_poll_set_consumer(c->rk);
    if (!(subs = rd_kafka_topic_partition_list_new((int)ntopics))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rkerr = rd_kafka_subscribe(c->rk, subs);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = vm_kafka_set_err(err, rkerr, "subscribe", NULL);
        goto cleanup;
    }
    *out = c;
    c = NULL;
cleanup:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c) {
        if (c->rk)
            rd_kafka_destroy(c->rk);
        vm_free(c);
    }
    return rc;
}

static int vm_kafka_msg_copy(const rd_kafka_message_t *rkm, vm_kafka_msg *out,
                             vm_err *err)
{
    memset(out, 0, sizeof *out);
    out->partition = rkm->partition;
    out->offset = rkm->offset;
    out->topic = vm_strdup(rd_kafka_topic_name(rkm->rkt));
    out->payload = vm_malloc(rkm->len + 1);
    if (rkm->key)
        out->key = vm_malloc(rkm->key_len + 1);
    if (!out->topic || !out->payload || (rkm->key && !out->key)) {
        vm_kafka_msg_release(out);
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    }
    if (rkm->len)
        memcpy(out->payload, rkm->payload, rkm->len);
    out->payload[rkm->len] = '\0';
    out->len = rkm->len;
    if (rkm->key) {
        if (rkm->key_len)
            memcpy(out->key, rkm->key, rkm->key_len);
        out->key[rkm->key_len] = '\0';
        out->key_len = rkm->key_len;
    }
    return 0;
}

int vm_kafka_poll(vm_kafka_consumer *c, int timeout_ms, vm_kafka_msg *out,
                  vm_err *err)
{
    memset(out, 0, sizeof *out);
    int64_t deadline = vm_kafka_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        int64_t left = deadline - vm_kafka_now_ms();
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (!rkm)
            return 0;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end of a partition is not an error; keep waiting */
            rd_kafka_message_destroy(rkm);
            if (left <= 0)
                return 0;
            continue;
        }
        int rc;
        if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
            rc = vm_kafka_set_fatal(err, c->rk, "consume");
        } else if (rkm->err) {
            rc = vm_kafka_set_err(err, rkm->err, "consume", rd_kafka_message_errstr(rkm));
            if (rkm->rkt)
                vm_err_prefix(err, "topic %s [%d]: ", rd_kafka_topic_name(rkm->rkt),
                              (int)rkm->partition);
        } else {
            rc = vm_kafka_msg_copy(rkm, out, err);
            if (rc == 0)
                rc = 1;
        }
        rd_kafka_message_destroy(rkm);
        return rc;
    }
}

int vm_kafka_commit(vm_kafka_consumer *c, const vm_kafka_msg *m, vm_err *err)
{
    int rc = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return vm_err_setc(err, VM_ERR_NOMEM, "kafka: out of memory");
    /* the committed offset is the next one to read */
    rd_kafka_topic_partition_list_add(l, m->topic, m->partition)->offset = m->offset + 1;
    rd_kafka_resp_err_t rkerr = rd_kafka_commit(c->rk, l, 0);
    if (rkerr == RD_KAFKA_RESP_ERR_NO_ERROR)
        rkerr = l->elems[0].err;
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rkerr == RD_KAFKA_RESP_ERR__FATAL)
            rc = vm_kafka_set_fatal(err, c->rk, "commit");
        else
            rc = vm_kafka_set_err(err, rkerr, "commit", NULL);
        vm_err_prefix(err, "topic %s [%d] offset %lld: ", m->topic, (int)m->partition,
                      (long long)m->offset);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int vm_kafka_cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int vm_kafka_assignment(vm_kafka_consumer *c, const char *topic, int32_t *parts,
                        size_t cap, size_t *n, vm_err *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    *n = 0;
    rd_kafka_resp_err_t rkerr = rd_kafka_assignment(c->rk, &l);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return vm_kafka_set_err(err, rkerr, "assignment", NULL);
    size_t k = 0;
    for (int i = 0; i < l->cnt; i++) {
        if (strcmp(l->elems[i].topic, topic) != 0)
            continue;
        if (k < cap)
            parts[k] = l->elems[i].partition;
        k++;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (parts && cap)
        qsort(parts, k < cap ? k : cap, sizeof *parts, vm_kafka_cmp_i32);
    *n = k;
    return 0;
}

void vm_kafka_consumer_close(vm_kafka_consumer *c)
{
    if (!c)
        return;
    /* LeaveGroup now, so the partitions move to the other members at once
     * instead of after the session timeout */
    rd_kafka_resp_err_t rkerr = rd_kafka_consumer_close(c->rk);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        vm_warn("kafka: consumer close: %s", rd_kafka_err2str(rkerr));
    rd_kafka_destroy(c->rk);
    vm_free(c);
}

/* Pause (or resume) the whole current assignment. */
static int vm_kafka_pause_resume(vm_kafka_consumer *c, bool pause, vm_err *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    const char *what = pause ? "pause" : "resume";
    rd_kafka_resp_err_t rkerr = rd_kafka_assignment(c->rk, &l);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return vm_kafka_set_err(err, rkerr, what, NULL);
    /* set the flag first: a rebalance served later follows it */
    c->paused = pause;
    if (l->cnt > 0)
        rkerr = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    for (int i = 0; rkerr == RD_KAFKA_RESP_ERR_NO_ERROR && i < l->cnt; i++)
        rkerr = l->elems[i].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (rkerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        return vm_kafka_set_err(err, rkerr, what, NULL);
    return 0;
}

int vm_kafka_pause(vm_kafka_consumer *c, vm_err *err)
{
    return vm_kafka_pause_resume(c, true, err);
}

int vm_kafka_resume(vm_kafka_consumer *c, vm_err *err)
{
    return vm_kafka_pause_resume(c, false, err);
}

bool vm_kafka_paused(const vm_kafka_consumer *c) { return c && c->paused; }

void vm_kafka_msg_release(vm_kafka_msg *m)
{
    if (!m)
        return;
    vm_free(m->topic);
    vm_free(m->key);
    vm_free(m->payload);
    memset(m, 0, sizeof *m);
}

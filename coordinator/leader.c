/*
 * leader.c - take, renew and release the coordinator's leader lock (see
 * leader.h).
 */
#include "leader.h"
#include "vm_health.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_testhook.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vm_leader_lock {
    const vm_job_conf *job;
    char owner[320];
    int64_t lease_ms;
    vm_state *st; /* the renewal thread's own connection */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static int64_t vm_leader_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The inode of this process's PID namespace ("pid:[4026531836]"), 0 when
 * unknown. */
static unsigned long long vm_leader_pidns(void)
{
    char link[64];
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    const char *p = strchr(link, '[');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void vm_leader_host(char *host, size_t cap)
{
    const char *h = vm_test_leader_host();
    if (h) {
        snprintf(host, cap, "%s", h);
    } else {
        snprintf(host, cap, "host");
        gethostname(host, cap - 1);
        host[cap - 1] = '\0';
    }
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == ' ')
            *c = '_';
}

void vm_leader_instance_id(char *buf, size_t cap)
{
    char host[128], nonce[17];
    vm_leader_host(host, sizeof host);
    vm_state_nonce(nonce);
    snprintf(buf, cap, "%s/%d/%llu/%.8s", host, (int)getpid(), vm_leader_pidns(), nonce);
}

bool vm_leader_holder_gone(const char *holder)
{
    char host[128];
    vm_leader_host(host, sizeof host);
    size_t hl = strlen(host);
    if (!holder || strncmp(holder, host, hl) != 0 || holder[hl] != '/')
        return false;
    char *end;
    long pid = strtol(holder + hl + 1, &end, 10);
    if (*end != '/' || pid <= 0)
        return false;
    unsigned long long ns = strtoull(end + 1, &end, 10), mine = vm_leader_pidns();
    if (*end != '/' || ns == 0 || ns != mine || pid == (long)getpid())
        return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int64_t vm_leader_lease(void)
{
    long t = vm_test_leader_lease_ms();
    return t > 0 ? t : VM_LEADER_LEASE_MS;
}

/* Lost: stop writing at once. _exit: the other threads may be in the
 * middle of a write, nothing of this process may run any more. */
static void vm_leader_lost(vm_leader_lock *l, const char *why)
{
    vm_error("job %s: this coordinator (%s) lost the job's leader lock (%s); exiting at once",
             l->job->job.id, l->owner, why);
    fflush(stderr);
    fflush(stdout);
    _exit(1);
}

static void *vm_leader_renewer(void *arg)
{
    vm_leader_lock *l = arg;
    int64_t every = l->lease_ms / 3, last_ok = vm_leader_mono_ms(), wait = every;
    vm_log_ctx_set(l->job->job.id, NULL);
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (l->stop)
            break;
        pthread_mutex_unlock(&l->mu);
        int64_t sent = vm_leader_mono_ms();
        vm_leader r;
        vm_err e;
        int rc = vm_state_leader_renew(l->st, l->job->job.id, l->owner, l->lease_ms, &r, &e);
        if (rc == VM_OK && r.held) {
            last_ok = sent;
            wait = every;
        } else if (rc == VM_OK) {
            char why[400];
            snprintf(why, sizeof why, "%s%s", r.holder ? "now held by " : "its lease ran out",
                     r.holder ? r.holder : "");
            vm_leader_release(&r);
            vm_leader_lost(l, why);
        } else {
            /* the store is away (a restart, a partition): try again every
             * second. While it is away no one can take the lock, and this
             * coordinator cannot write its state either; once it answers,
             * the answer decides (a lease that ran out meanwhile is lost) */
            if (vm_leader_mono_ms() - last_ok >= l->lease_ms)
                vm_warn("job %s: the leader lock could not be renewed for %" PRId64 " s: %s "
                        "(retrying; if another coordinator took it, this one exits)",
                        l->job->job.id, (vm_leader_mono_ms() - last_ok) / 1000, e.msg);
            else
                vm_warn("job %s: renewing the leader lock: %s (retrying)", l->job->job.id,
                        e.msg);
            wait = 1000 < every ? 1000 : every;
        }
        vm_leader_release(&r);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int vm_leader_lock_take(const vm_job_conf *job, vm_state *st, bool (*should_stop)(void *),
                        void *ctx, vm_leader_lock **out, vm_err *err)
{
    const char *id = job->job.id;
    *out = NULL;
    vm_leader_lock *l = vm_calloc(1, sizeof *l);
    if (!l)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
    l->job = job;
    l->lease_ms = vm_leader_lease();
    vm_leader_instance_id(l->owner, sizeof l->owner);
    char seen[320] = "";
    int64_t stall = vm_health_stall_ms(l->lease_ms);
    vm_health_watch(stall);
    unsigned seed = (unsigned)getpid();
    int rc, fails = 0;
    for (;;) {
        vm_health_tick();
        if (should_stop && should_stop(ctx)) {
            rc = vm_err_setc(err, VM_ERR_CANCELLED, "interrupted");
            goto fail;
        }
        vm_leader r;
        rc = vm_state_leader_acquire(st, id, l->owner, l->lease_ms, &r, err);
        if (rc == VM_ERR_UNSUPPORTED) {
            vm_warn("job %s: the state store keeps no leader lock: make sure only one "
                    "coordinator runs this job", id);
            vm_free(l);
            return VM_OK;
        }
        if (rc != VM_OK) {
            if (!err->retriable || ++fails > 10)
                goto fail;
            long ms = vm_backoff_ms(fails, 250, 5000, &seed);
            vm_warn("job %s: taking the leader lock: %s (retry %d of 10 in %ld ms)", id, err->msg,
                    fails, ms);
            vm_sleep_ms(ms);
            continue;
        }
        fails = 0;
        if (r.held) {
            vm_leader_release(&r);
            break;
        }
        const char *h = r.holder ? r.holder : "?";
        if (vm_leader_holder_gone(h)) {
            vm_info("job %s: coordinator %s holds the job but its process is gone; taking over",
                    id, h);
            rc = vm_state_leader_release(st, id, h, err);
            vm_leader_release(&r);
            if (rc != VM_OK && !err->retriable)
                goto fail;
            continue;
        }
        if (strcmp(seen, h) != 0) {
            snprintf(seen, sizeof seen, "%s", h);
            vm_health_ready(false, "standby: another coordinator holds the job");
            vm_info("job %s: coordinator %s holds the job (lease ends in %" PRId64 " s); waiting",
                    id, h, (r.remaining_ms + 999) / 1000);
        }
        int64_t nap = r.remaining_ms > 0 && r.remaining_ms < 1000 ? r.remaining_ms : 1000;
        vm_leader_release(&r);
        vm_sleep_ms((long)nap + 20);
    }
    vm_health_watch(0);
    if (seen[0])
        vm_info("job %s: this coordinator (%s) now holds the job", id, l->owner);
    else
        vm_debug("job %s: leader lock taken by %s", id, l->owner);
    /* the renewal thread has a connection of its own (one thread each) */
    if ((rc = vm_state_open(&job->state, &l->st, err)) != VM_OK)
        goto release;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->th, NULL, vm_leader_renewer, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        rc = vm_err_setc(err, VM_ERR_NOMEM, "job %s: cannot start the leader lock's thread", id);
        goto release;
    }
    *out = l;
    return VM_OK;
release: {
    vm_err e2;
    vm_state_leader_release(st, id, l->owner, &e2);
}
fail:
    vm_health_watch(0);
    vm_state_close(l->st);
    vm_free(l);
    return rc;
}

void vm_leader_lock_drop(vm_leader_lock *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    vm_err e;
    if (vm_state_leader_release(l->st, l->job->job.id, l->owner, &e) != VM_OK)
        vm_warn("job %s: releasing the leader lock: %s (it ends with its lease)", l->job->job.id,
                e.msg);
    else
        vm_debug("job %s: leader lock released", l->job->job.id);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    vm_state_close(l->st);
    vm_free(l);
}

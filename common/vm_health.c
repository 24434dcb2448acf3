/*
 * vm_health.c - /healthz and /readyz from a few process-wide atomics (see
 * vm_health.h).
 */
#include "vm_health.h"
#include "vm_httpd.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_llong vm_health_last_ms;  /* monotonic ms of the last tick */
static atomic_llong vm_health_stall;    /* 0: not watched */
static atomic_bool vm_health_ok_ready;
static _Atomic(const char *) vm_health_why;

static int64_t vm_health_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vm_health_tick(void) { atomic_store(&vm_health_last_ms, (long long)vm_health_now_ms()); }

void vm_health_watch(int64_t stall_ms)
{
    vm_health_tick();
    atomic_store(&vm_health_stall, (long long)(stall_ms > 0 ? stall_ms : 0));
}

void vm_health_ready(bool ready, const char *why)
{
    if (!ready)
        atomic_store(&vm_health_why, why ? why : "not ready");
    atomic_store(&vm_health_ok_ready, ready);
}

void vm_health_reset(void)
{
    atomic_store(&vm_health_stall, 0);
    atomic_store(&vm_health_ok_ready, false);
    atomic_store(&vm_health_why, (const char *)NULL);
    vm_health_tick();
}

bool vm_health_live(char *msg, size_t cap)
{
    int64_t stall = atomic_load(&vm_health_stall);
    int64_t idle = vm_health_now_ms() - atomic_load(&vm_health_last_ms);
    if (stall > 0 && idle > stall) {
        snprintf(msg, cap, "stalled: the main loop made no progress for %lld s (limit %lld s)",
                 (long long)(idle / 1000), (long long)(stall / 1000));
        return false;
    }
    snprintf(msg, cap, "ok");
    return true;
}

bool vm_health_is_ready(char *msg, size_t cap)
{
    if (atomic_load(&vm_health_ok_ready)) {
        snprintf(msg, cap, "ready");
        return true;
    }
    const char *why = atomic_load(&vm_health_why);
    snprintf(msg, cap, "not ready: %s", why ? why : "starting");
    return false;
}

int64_t vm_health_stall_ms(int64_t lease_ms)
{
    int64_t s = 3 * lease_ms;
    return s > 120000 ? s : 120000;
}

static int vm_health_answer(vm_httpd_resp *resp, bool ok, const char *msg)
{
    char line[300];
    snprintf(line, sizeof line, "%s\n", msg);
    int rc = vm_httpd_resp_text(resp, ok ? 200 : 503, NULL, line);
    if (rc == VM_OK)
        rc = vm_httpd_resp_header(resp, "Cache-Control", "no-store");
    return rc;
}

static int vm_healthz(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)ctx;
    (void)req;
    char msg[200];
    bool ok = vm_health_live(msg, sizeof msg);
    int rc = vm_health_answer(resp, ok, msg);
    return rc == VM_OK ? VM_OK : vm_err_setc(err, rc, "health: out of memory");
}

static int vm_readyz(void *ctx, const vm_httpd_req *req, vm_httpd_resp *resp, vm_err *err)
{
    (void)ctx;
    (void)req;
    char msg[200];
    bool ok = vm_health_is_ready(msg, sizeof msg);
    int rc = vm_health_answer(resp, ok, msg);
    return rc == VM_OK ? VM_OK : vm_err_setc(err, rc, "health: out of memory");
}

int vm_health_route(vm_httpd *s, vm_err *err)
{
    int rc = vm_httpd_route(s, "GET", "/healthz", vm_healthz, NULL, err);
    return rc == VM_OK ? vm_httpd_route(s, "GET", "/readyz", vm_readyz, NULL, err) : rc;
}

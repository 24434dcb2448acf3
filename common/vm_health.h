/*
 * vm_health.h - liveness and readiness of the process, for Kubernetes
 * probes: GET /healthz and GET /readyz on the --metrics server.
 *
 * Process-wide state kept in atomics: the main loop (a worker's consume
 * loop and batch boundaries, the coordinator's progress loop) calls
 * vm_health_tick() whenever it makes progress, and says when it is ready
 * to serve (vm_health_ready). The handlers only read those atomics: they
 * never touch Redis, Kafka or a connector, so a slow dependency cannot make
 * Kubernetes restart every pod at once.
 *
 *   /healthz  200 "ok" unless the main loop is watched (vm_health_watch)
 *             and has not ticked for longer than its stall limit: then 503
 *             "stalled: no progress for N s (limit M s)". A liveness
 *             failure restarts the pod, so limits are generous and long
 *             steps that have their own timeouts (planning, reconciling)
 *             are not watched.
 *   /readyz   200 "ready" once the process serves (a worker: schema loaded,
 *             connected to queue and state; a coordinator: holds the job's
 *             leader lock and runs it), 503 with the reason before that and
 *             while stopping.
 *
 * vm_health_ready and vm_health_tick are async-signal-safe (lock-free
 * atomic stores), so a SIGTERM handler may mark the process as stopping.
 */
#ifndef VM_HEALTH_H
#define VM_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_err.h"

struct vm_httpd;

/* The main loop made progress. */
void vm_health_tick(void);
/* Watch the main loop: /healthz fails once no tick came for stall_ms
 * (counted from this call, which ticks). 0: stop watching (a long step
 * with timeouts of its own). */
void vm_health_watch(int64_t stall_ms);
/* Ready (why ignored) or not, with a one-line reason that must be a string
 * literal or otherwise live as long as the process ("starting", ...). */
void vm_health_ready(bool ready, const char *why);

/* The answers as the handlers give them: true for 200, else false with
 * the reason in msg. For tests and the handlers. */
bool vm_health_live(char *msg, size_t cap);
bool vm_health_is_ready(char *msg, size_t cap);
/* Back to the start state (not ready: "starting", not watched); tests. */
void vm_health_reset(void);

/* The stall limit the roles use: max(3 x lease, 120 s). */
int64_t vm_health_stall_ms(int64_t lease_ms);

/* Register GET /healthz and GET /readyz on a server not yet started. */
int vm_health_route(struct vm_httpd *s, vm_err *err);

#endif

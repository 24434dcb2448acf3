/*
 * leader.h - the coordinator's leader lock: at most one coordinator runs a
 * job at a time.
 *
 * Two coordinators for one job could otherwise both plan, publish and
 * reconcile (a Kubernetes Job replacing a pod it believes lost, a second
 * `vecmig coordinator start` by mistake). The lock is a lease in the state
 * store (vm_state_leader_*, on the store's clock): taken before anything
 * is read or planned, renewed from a thread of its own every third of the
 * lease, released on exit. A coordinator that finds it held waits (a
 * standby) and takes over when the holder's lease ends, or at once when
 * the holder is a process of this very host and PID namespace that no
 * longer exists (a restart after a crash on one machine need not wait). A
 * coordinator whose renewal finds the lock lost, or that could not renew
 * it for a whole lease, logs an error and exits with code 1 at once: it
 * must not write anything more.
 */
#ifndef VM_LEADER_H
#define VM_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm_config.h"
#include "vm_state.h"

#define VM_LEADER_LEASE_MS 15000 /* VECMIG_TEST_LEADER_LEASE_MS overrides it */

typedef struct vm_leader_lock vm_leader_lock;

/* This process's instance id: "<host>/<pid>/<pid namespace>/<nonce>". */
void vm_leader_instance_id(char *buf, size_t cap);

/* Whether `holder` (an instance id) names a process of this host and PID
 * namespace that does not exist any more. */
bool vm_leader_holder_gone(const char *holder);

/* Take the job's lock through st (waiting while another coordinator holds
 * it; should_stop, may be NULL, ends the wait with VM_ERR_CANCELLED) and
 * start renewing it on a connection of its own. *out: NULL when the
 * backend keeps no lock (VM_OK, a warning is logged). */
int vm_leader_lock_take(const vm_job_conf *job, vm_state *st, bool (*should_stop)(void *),
                        void *ctx, vm_leader_lock **out, vm_err *err);

/* Stop renewing and release the lock. NULL is fine. */
void vm_leader_lock_drop(vm_leader_lock *l);

#endif

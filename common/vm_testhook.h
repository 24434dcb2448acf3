/*
 * vm_testhook.h - test hooks: named points where an end-to-end test can
 * stop or slow a process deterministically. They read only the environment
 * and do nothing unless a test sets it; never set these in production.
 *
 *   VECMIG_TEST_PAUSE_AT=point[,point...]
 *       At a listed point the process logs "test hook: paused at <point>"
 *       (warning level) and sleeps until it is killed (after 10 minutes it
 *       goes on). The coordinator's points, in the order it meets them:
 *         planned    job and tasks recorded, the collection not created yet
 *         created    the collection created, not yet recorded as created
 *         published  every task published, the job not yet `running`
 *         running    the first progress with rows written
 *         counted    reconciling: the target made queryable and counted,
 *                    before that is undone and the report is written
 *   VECMIG_TEST_BATCH_DELAY_MS=N
 *       A worker sleeps N ms (at most 10 s) after each checkpointed batch, so
 *       that a small job runs long enough to be cancelled or killed mid-way.
 *   VECMIG_TEST_LEADER_LEASE_MS=N
 *       The coordinator's leader lock lease (1000..600000 ms) instead of
 *       15 s, renewed every third of it, so a takeover test is short.
 *   VECMIG_TEST_LEADER_HOST=name
 *       The host part of the coordinator's leader-lock id, so two
 *       coordinators on one machine behave as on two machines (no
 *       immediate takeover from a dead process of the same host).
 *
 * Why environment variables: the tests drive the real binaries as
 * subprocesses, and a hook that cannot be reached through the job file or
 * the command line cannot be switched on by accident in a real job.
 */
#ifndef VM_TESTHOOK_H
#define VM_TESTHOOK_H

#include <stdbool.h>

/* Pause at `point` if VECMIG_TEST_PAUSE_AT lists it. */
void vm_test_pause_at(const char *point);
/* VECMIG_TEST_BATCH_DELAY_MS, clamped to 0..10000; 0 when unset or bad. */
long vm_test_batch_delay_ms(void);
/* VECMIG_TEST_LEADER_LEASE_MS (1000..600000); 0 when unset or bad. */
long vm_test_leader_lease_ms(void);
/* VECMIG_TEST_LEADER_HOST; NULL when unset. */
const char *vm_test_leader_host(void);
/* Pure: whether the comma-separated `list` names `point` exactly. */
bool vm_test_point_listed(const char *list, const char *point);

#endif

/*
 * state_sqlite.h - internals of the embedded (SQLite) state backend shared
 * with its unit test: the error classification, the schema version, and
 * entry points that take an explicit operation id (to drive the replay of a
 * mutation whose outcome was lost, as the Redis test does with its scripts).
 *
 * The backend itself is vm_state_sqlite_ops (name "embedded"), selected by
 * vm_state_open() for `state.type: embedded`.
 */
#ifndef VM_STATE_SQLITE_H
#define VM_STATE_SQLITE_H

#include <stdint.h>

#include "vm_err.h"
#include "vm_state.h"

/* PRAGMA user_version of the schema this build writes and reads. A file
 * with a newer version is refused (VM_ERR_UNSUPPORTED); older versions are
 * migrated on open, in one transaction (1 -> 2 adds jobs.cancel_ms; 2 -> 3
 * adds the tasks' first_claim_ms, finished_ms and stats columns and
 * jobs.report; 3 -> 4 the workers table; 4 -> 5 the leaders table). */
#define VM_SS_SCHEMA_VERSION 5
/* PRAGMA application_id marking a vecmig state file ("VMST"). */
#define VM_SS_APPLICATION_ID 0x564d5354

/* Default busy timeout: how long a mutation waits for another connection's
 * write transaction before VM_ERR_UNAVAILABLE (retriable). */
#define VM_SS_BUSY_TIMEOUT_MS 30000

extern const vm_state_ops vm_state_sqlite_ops;

/* Map a SQLite result code (primary or extended) to a vm_err:
 *   BUSY, LOCKED, PROTOCOL       -> VM_ERR_UNAVAILABLE, retriable
 *   NOMEM                        -> VM_ERR_NOMEM
 *   FULL, IOERR, CANTOPEN,
 *   READONLY, PERM               -> VM_ERR_IO, NOT retriable
 *   CORRUPT                      -> VM_ERR_PROTOCOL, not retriable
 *   NOTADB                       -> VM_ERR_INVALID, not retriable
 *   anything else                -> VM_ERR_INTERNAL, not retriable
 * The message names the file, what was being done and SQLite's detail
 * (detail may be NULL). Returns the vm_code. */
int vm_ss_error(int sqlite_rc, const char *path, const char *what, const char *detail,
                vm_err *err);

/* The busy timeout of one open instance (st is vm_state.impl). */
void vm_ss_set_busy_timeout(void *st, int ms);

/* claim / checkpoint / finish with the caller's operation id: the same op id
 * applied twice to a task is answered as applied the second time (the
 * backend's own entry points make the op ids). st is vm_state.impl; the
 * arguments are not checked (the vm_state wrappers do that). */
int vm_ss_task_claim_op(void *st, const char *job, uint32_t task, const char *worker,
                        int64_t lease_ms, const char *op, vm_claim *out, vm_err *err);
int vm_ss_task_checkpoint_op(void *st, const char *job, uint32_t task, uint64_t token,
                             const char *cursor, int64_t d_read, int64_t d_written,
                             int64_t lease_ms, const char *op, vm_err *err);
int vm_ss_task_finish_op(void *st, const char *job, uint32_t task, uint64_t token,
                         vm_task_state final_state, const char *error, const char *op,
                         vm_finish_result *out, vm_err *err);

#endif

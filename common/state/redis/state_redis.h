/*
 * state_redis.h - internals of the Redis state backend shared with its unit
 * tests: key names and the decoding of stored task hashes. Pure functions,
 * no connection.
 *
 * Key layout (P = key_prefix, default "vecmig:"; J = job id):
 *   P jobs                  SET   every job id (index for jobs_list)
 *   P {J}:job               HASH  record, state, times, counters, token_seq,
 *                                 report (the final report, JSON text)
 *   P {J}:tasks             ZSET  task ids, score = id (sorted listing)
 *   P {J}:leases            ZSET  running task ids, score = lease_until_ms
 *   P {J}:task:<id>         HASH  one task: JSON, state, owner, token, ...
 *   P {J}:job:workers       HASH  the worker registry (worker -> task beat rows)
 *   P {J}:job:leader        STRING the coordinator's leader lock: holder id, TTL = lease
 * Every key of one job carries the hash tag {J}, so all of them live in one
 * Redis Cluster slot and every script touches a single slot. The jobs index
 * is the only key outside it and is never written inside a script.
 */
#ifndef VM_STATE_REDIS_H
#define VM_STATE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "vm_err.h"
#include "vm_state.h"

/* A key_prefix may not be longer than this (keys stay well under 512). */
#define VM_SR_PREFIX_MAX 200
#define VM_SR_KEY_MAX 512

typedef enum vm_sr_key {
    VM_SR_KEY_JOBS = 0,    /* P jobs */
    VM_SR_KEY_JOB,         /* P {J}:job */
    VM_SR_KEY_TASKS,       /* P {J}:tasks */
    VM_SR_KEY_LEASES,      /* P {J}:leases */
    VM_SR_KEY_TASK,        /* P {J}:task:<id> */
    VM_SR_KEY_TASK_PREFIX, /* P {J}:task:  (scripts append the id) */
} vm_sr_key;

/* Whether prefix is usable: at most VM_SR_PREFIX_MAX bytes, printable, no
 * '{' or '}' (they would change the hash tag). */
int vm_sr_prefix_check(const char *prefix, vm_err *err);

/* Build a key into buf[cap]. job_id is ignored for VM_SR_KEY_JOBS, task_id
 * unless VM_SR_KEY_TASK. 0, or VM_ERR_INVALID when it does not fit. */
int vm_sr_key_build(char *buf, size_t cap, const char *prefix, vm_sr_key kind,
                    const char *job_id, uint32_t task_id);

/* The task hash fields read for a vm_task_status, in this order (the
 * last seven, times and stats for the report, may be absent: 0). */
#define VM_SR_NFIELDS 17
extern const char *const vm_sr_status_fields[VM_SR_NFIELDS];

/* Decode the values of vm_sr_status_fields (v[i] NULL: field absent) of
 * task `id` of `job_id` into out (zeroed first). A missing state is
 * VM_ERR_NOT_FOUND; anything unreadable VM_ERR_PROTOCOL naming the field. */
int vm_sr_decode_status(const char *job_id, uint32_t id, const char *const *v,
                        const size_t *len, vm_task_status *out, vm_err *err);

/* Strict decimal parsers for stored numbers (no sign for u64). */
int vm_sr_parse_i64(const char *s, size_t len, int64_t *out);
int vm_sr_parse_u64(const char *s, size_t len, uint64_t *out);

#endif

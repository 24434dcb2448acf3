/*
 * state_redis_codec.c - key names and stored-value decoding of the Redis
 * state backend (pure; unit-tested without a server).
 */
#include "state_redis.h"
#include "vm_mem.h"

#include <stdio.h>
#include <string.h>

const char *const vm_sr_status_fields[VM_SR_NFIELDS] = {
    "state", "owner",        "token", "lease_until", "attempts",
    "cursor", "rows_read", "rows_written", "error", "task",
    "first_claim_ms", "finished_ms", "retries", "splits", "changed", "truncated", "run_ms",
};

int vm_sr_prefix_check(const char *prefix, vm_err *err)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n > VM_SR_PREFIX_MAX)
        return vm_err_setc(err, VM_ERR_INVALID, "state.key_prefix: longer than %d bytes",
                           VM_SR_PREFIX_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)prefix[i];
        if (c <= ' ' || c == 0x7f || c == '{' || c == '}')
            return vm_err_setc(err, VM_ERR_INVALID,
                               "state.key_prefix: must be printable without spaces, '{' or '}' "
                               "(braces would break the per-job hash tag)");
    }
    return 0;
}

int vm_sr_key_build(char *buf, size_t cap, const char *prefix, vm_sr_key kind,
                    const char *job_id, uint32_t task_id)
{
    int n;
    if (!prefix)
        prefix = "";
    switch (kind) {
    case VM_SR_KEY_JOBS:
        n = snprintf(buf, cap, "%sjobs", prefix);
        break;
    case VM_SR_KEY_JOB:
        n = snprintf(buf, cap, "%s{%s}:job", prefix, job_id);
        break;
    case VM_SR_KEY_TASKS:
        n = snprintf(buf, cap, "%s{%s}:tasks", prefix, job_id);
        break;
    case VM_SR_KEY_LEASES:
        n = snprintf(buf, cap, "%s{%s}:leases", prefix, job_id);
        break;
    case VM_SR_KEY_TASK:
        n = snprintf(buf, cap, "%s{%s}:task:%u", prefix, job_id, (unsigned)task_id);
        break;
    case VM_SR_KEY_TASK_PREFIX:
        n = snprintf(buf, cap, "%s{%s}:task:", prefix, job_id);
        break;
    default:
        return VM_ERR_INVALID;
    }
    return n < 0 || (size_t)n >= cap ? VM_ERR_INVALID : 0;
}

int vm_sr_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || len == 0 || len > 20)
        return VM_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return VM_ERR_INVALID;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return VM_ERR_INVALID;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int vm_sr_parse_i64(const char *s, size_t len, int64_t *out)
{
    uint64_t v;
    bool neg = len > 0 && s && s[0] == '-';
    if (!s || vm_sr_parse_u64(s + neg, len - neg, &v) != 0)
        return VM_ERR_INVALID;
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return VM_ERR_INVALID;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Optional string field: NULL stays NULL. */
static int vm_sr_dup(const char *v, size_t len, char **out)
{
    *out = NULL;
    if (!v)
        return 0;
    return (*out = vm_strndup(v, len)) ? 0 : VM_ERR_NOMEM;
}

int vm_sr_decode_status(const char *job_id, uint32_t id, const char *const *v,
                        const size_t *len, vm_task_status *out, vm_err *err)
{
    int rc = 0;
    memset(out, 0, sizeof *out);
    vm_task_init(&out->task);
    out->id = id;
    if (!v[0])
        return vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job_id,
                           (unsigned)id);
    /* state */
    char st[16];
    if (len[0] >= sizeof st)
        goto bad_state;
    memcpy(st, v[0], len[0]);
    st[len[0]] = '\0';
    if (vm_task_state_parse(st, &out->state) != 0)
        goto bad_state;
    /* numbers: absent means 0 (never claimed) */
    int64_t *nums[] = {&out->lease_until_ms, &out->attempts, &out->rows_read,
                       &out->rows_written, &out->first_claim_ms, &out->finished_ms,
                       &out->stats.retries, &out->stats.splits, &out->stats.changed,
                       &out->stats.truncated, &out->stats.run_ms};
    const int idx[] = {3, 4, 6, 7, 10, 11, 12, 13, 14, 15, 16};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        int k = idx[i];
        if (v[k] && vm_sr_parse_i64(v[k], len[k], nums[i]) != 0) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: stored %s is not a number",
                             job_id, (unsigned)id, vm_sr_status_fields[k]);
            goto cleanup;
        }
    }
    if (v[2] && vm_sr_parse_u64(v[2], len[2], &out->token) != 0) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: stored token is not a number",
                         job_id, (unsigned)id);
        goto cleanup;
    }
    if (vm_sr_dup(v[1], len[1], &out->owner) || vm_sr_dup(v[5], len[5], &out->cursor) ||
        vm_sr_dup(v[8], len[8], &out->error)) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
        goto cleanup;
    }
    if (!v[9]) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: the task JSON is missing",
                         job_id, (unsigned)id);
        goto cleanup;
    }
    if ((rc = vm_task_decode(v[9], len[9], &out->task, err)) != 0) {
        if (rc != VM_ERR_NOMEM) {
            char why[VM_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err ? err->msg : "unreadable");
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: stored task: %s",
                             job_id, (unsigned)id, why);
        }
        goto cleanup;
    }
    if (out->task.id != id || !out->task.job_id || strcmp(out->task.job_id, job_id) != 0) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                         "state: job %s task %u: the stored task names another job or id",
                         job_id, (unsigned)id);
        goto cleanup;
    }
    goto cleanup;
bad_state:
    rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: unknown stored state",
                     job_id, (unsigned)id);
cleanup:
    if (rc != 0)
        vm_task_status_release(out);
    return rc;
}

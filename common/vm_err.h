/*
 * vm_err.h - the one error convention of vecmig.
 *
 * Every function that can fail returns 0 (VM_OK) or a negative vm_code, and
 * fills a caller-owned vm_err with the code, whether a retry may succeed, and
 * a one-line message (no newline, secrets redacted). Data travels only through
 * out-parameters. The retriable bit is what the retry loop, the task state
 * machine and the dead-letter logic look at; the code says what happened.
 *
 * Why a struct and not curl's errstr/size pair: the retriable bit and the code
 * must travel with the text, and a fixed buffer keeps error paths allocation
 * free (an out-of-memory error must still be reportable).
 */
#ifndef VM_ERR_H
#define VM_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum vm_code {
    VM_OK = 0,
    VM_ERR_NOMEM = -1,        /* allocation failed */
    VM_ERR_INVALID = -2,      /* bad input: config, argument, data */
    VM_ERR_IO = -3,           /* connection refused/reset, socket error */
    VM_ERR_TIMEOUT = -4,      /* operation timed out */
    VM_ERR_PROTOCOL = -5,     /* peer answered something we cannot parse */
    VM_ERR_REMOTE = -6,       /* peer reported an error */
    VM_ERR_RATE_LIMITED = -7, /* HTTP 429, quota, throttling */
    VM_ERR_TOO_LARGE = -8,    /* request too large: split and retry */
    VM_ERR_NOT_FOUND = -9,
    VM_ERR_EXISTS = -10,
    VM_ERR_UNSUPPORTED = -11,
    VM_ERR_CANCELLED = -12,
    VM_ERR_AUTH = -13,        /* authentication / authorisation refused */
    VM_ERR_UNAVAILABLE = -14, /* server temporarily unavailable (5xx, shutdown) */
    VM_ERR_INTERNAL = -15,    /* a bug in vecmig */
    VM_ERR_FENCED = -16,      /* another worker owns this task now: stop, do not retry */
} vm_code;

#define VM_ERR_MSG_MAX 512

typedef struct vm_err {
    vm_code code;
    bool retriable;
    char msg[VM_ERR_MSG_MAX];
} vm_err;

#if defined(__GNUC__)
#define VM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VM_PRINTF(fmt, args)
#endif

/* Stable lower-case name of a code ("timeout", "rate_limited", ...). */
const char *vm_code_name(vm_code code);

/* Whether an error with this code is worth retrying when nothing else is
 * known (IO, TIMEOUT, RATE_LIMITED, UNAVAILABLE and TOO_LARGE are; TOO_LARGE
 * only after the caller made the request smaller). */
bool vm_code_retriable(vm_code code);

/* Record an error and return its code, so `return vm_err_set(...)` reads
 * naturally. err may be NULL. The message is flattened to one line and
 * passed through the secret redactor (vm_log.h). */
int vm_err_set(vm_err *err, vm_code code, bool retriable, const char *fmt, ...)
    VM_PRINTF(4, 5);

/* Same, with the default retriability of the code. */
int vm_err_setc(vm_err *err, vm_code code, const char *fmt, ...)
    VM_PRINTF(3, 4);

/* Prepend context ("pgvector: ") to an existing message; keeps code and
 * retriable bit. Returns err->code. */
int vm_err_prefix(vm_err *err, const char *fmt, ...) VM_PRINTF(2, 3);

void vm_err_clear(vm_err *err);

/* How long to wait before retry `attempt` (1-based) of a retriable error:
 * full jitter, uniform in [0, min(cap, base * 2^(attempt-1))] ms (the AWS
 * architecture blog's "full jitter"). */
long vm_backoff_ms(int attempt, long base_ms, long cap_ms, unsigned *seed);
/* Sleep ms milliseconds (restarted after signals). */
void vm_sleep_ms(long ms);

#endif

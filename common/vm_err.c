/*
 * vm_err.c - error records: codes, retriability, one-line messages.
 */
#include "vm_err.h"
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include "vm_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vm_code_name(vm_code code)
{
    switch (code) {
    case VM_OK: return "ok";
    case VM_ERR_NOMEM: return "nomem";
    case VM_ERR_INVALID: return "invalid";
    case VM_ERR_IO: return "io";
    case VM_ERR_TIMEOUT: return "timeout";
    case VM_ERR_PROTOCOL: return "protocol";
    case VM_ERR_REMOTE: return "remote";
    case VM_ERR_RATE_LIMITED: return "rate_limited";
    case VM_ERR_TOO_LARGE: return "too_large";
    case VM_ERR_NOT_FOUND: return "not_found";
    case VM_ERR_EXISTS: return "exists";
    case VM_ERR_UNSUPPORTED: return "unsupported";
    case VM_ERR_CANCELLED: return "cancelled";
    case VM_ERR_AUTH: return "auth";
    case VM_ERR_UNAVAILABLE: return "unavailable";
    case VM_ERR_INTERNAL: return "internal";
    case VM_ERR_FENCED: return "fenced";
    }
    return "unknown";
}

bool vm_code_retriable(vm_code code)
{
    switch (code) {
    case VM_ERR_IO:
    case VM_ERR_TIMEOUT:
    case VM_ERR_RATE_LIMITED:
    case VM_ERR_TOO_LARGE:
    case VM_ERR_UNAVAILABLE:
        return true;
    default:
        return false;
    }
}

/* One line, no control characters, secrets masked. */
static void vm_err_tidy(char *s, size_t cap)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    vm_redact(s, cap); /* first: a full buffer tells it the text may be cut */
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
}

static int vm_err_vset(vm_err *err, vm_code code, bool retriable,
                       const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    err->retriable = retriable;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    vm_err_tidy(err->msg, sizeof err->msg);
    return code;
}

int vm_err_set(vm_err *err, vm_code code, bool retriable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vm_err_vset(err, code, retriable, fmt, ap);
    va_end(ap);
    return rc;
}

int vm_err_setc(vm_err *err, vm_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vm_err_vset(err, code, vm_code_retriable(code), fmt, ap);
    va_end(ap);
    return rc;
}

int vm_err_prefix(vm_err *err, const char *fmt, ...)
{
    if (!err)
        return VM_ERR_INTERNAL;
    char head[VM_ERR_MSG_MAX], old[VM_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", head, old);
    vm_err_tidy(err->msg, sizeof err->msg);
    return err->code;
}

void vm_err_clear(vm_err *err)
{
    if (!err)
        return;
    err->code = VM_OK;
    err->retriable = false;
    err->msg[0] = '\0';
}

long vm_backoff_ms(int attempt, long base_ms, long cap_ms, unsigned *seed)
{
    long ceiling = base_ms;
    for (int i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return ceiling > 0 ? (long)(rand_r(seed) % (ceiling + 1)) : 0;
}

void vm_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

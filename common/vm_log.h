/*
 * vm_log.h - logging and secret redaction.
 *
 * Every secret vecmig reads (passwords, API keys, tokens) is registered with
 * vm_secret_add() the moment it is loaded. Every log line and every error
 * message then passes through vm_redact(), which masks each registered secret
 * (and the user-info part of URLs) as "***", so a secret cannot reach a log,
 * a report, Redis or Kafka through an error string.
 *
 * Lines are text on a terminal and JSON lines otherwise (or as configured):
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","job":"j","worker":"w1",
 *    "task":3,"msg":"task 3: checkpoint ..."}
 *   2026-01-02T03:04:05.678Z info  job=j worker=w1 task=3 task 3: checkpoint ...
 * with the context fields present only when set (see vm_log_ctx_set).
 */
#ifndef VM_LOG_H
#define VM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vm_err.h"

typedef enum vm_log_level {
    VM_LOG_ERROR = 0,
    VM_LOG_WARN = 1,
    VM_LOG_INFO = 2,
    VM_LOG_DEBUG = 3,
} vm_log_level;

typedef enum vm_log_format {
    VM_LOG_AUTO = 0, /* text on a terminal, JSON lines otherwise */
    VM_LOG_TEXT,
    VM_LOG_JSON,
} vm_log_format;

void vm_log_set_level(vm_log_level level);
vm_log_level vm_log_get_level(void);
void vm_log_set_format(vm_log_format format);
/* Where lines go (default stderr); tests point it at a tmpfile. */
void vm_log_set_stream(FILE *stream);
/* "error" | "warn" | "info" | "debug" -> 0, or -1 if unknown. */
int vm_log_parse_level(const char *name, vm_log_level *out);
/* "auto" | "text" | "json" -> 0, or -1 if unknown. */
int vm_log_parse_format(const char *name, vm_log_format *out);
/* Level and format from VECMIG_LOG_LEVEL and VECMIG_LOG_FORMAT when set
 * (they override the job file's log: block; `--log-level` sets the first).
 * VM_ERR_INVALID naming the variable for an unknown value. */
int vm_log_apply_env(vm_err *err);

/* Context fields carried by every line (JSON keys "job", "worker", "task";
 * in text a "job=.. worker=.. task=.." prefix). They are per thread (C11
 * _Thread_local): the worker loop sets job and worker once and the task
 * while it runs one, the coordinator sets the job, and no call site
 * changes. A thread that set nothing (librdkafka's own threads) uses the
 * process defaults. NULL or "" clears a field; ids longer than the field
 * (job 128, worker 256 bytes) are cut. */
void vm_log_ctx_set(const char *job, const char *worker);
void vm_log_ctx_task(int64_t task); /* < 0: not inside a task */
void vm_log_ctx_clear(void);
void vm_log_ctx_default(const char *job, const char *worker);

void vm_log(vm_log_level level, const char *fmt, ...) VM_PRINTF(2, 3);
#define vm_error(...) vm_log(VM_LOG_ERROR, __VA_ARGS__)
#define vm_warn(...) vm_log(VM_LOG_WARN, __VA_ARGS__)
#define vm_info(...) vm_log(VM_LOG_INFO, __VA_ARGS__)
#define vm_debug(...) vm_log(VM_LOG_DEBUG, __VA_ARGS__)

/* Register a secret to mask everywhere. Values shorter than
 * VM_SECRET_MIN_LEN are not registered (they would mask ordinary text);
 * the config loader refuses such secrets instead. 0 or VM_ERR_NOMEM. */
#define VM_SECRET_MIN_LEN 4
int vm_secret_add(const char *secret);
/* Forget all secrets (tests). */
void vm_secret_clear(void);

/* Mask registered secrets and URL passwords (scheme://user:PASS@) in the
 * NUL-terminated string s, in place; the result is truncated to cap bytes. */
void vm_redact(char *s, size_t cap);

#endif

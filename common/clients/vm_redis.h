/*
 * vm_redis.h - a thin Redis client over hiredis for job and task state.
 *
 * One vm_redis is one blocking connection, used by one thread at a time.
 * Commands return 0 or a classified error:
 *   - an error reply is VM_ERR_REMOTE (fatal), except LOADING, BUSY,
 *     TRYAGAIN, MASTERDOWN, CLUSTERDOWN and READONLY (VM_ERR_UNAVAILABLE,
 *     retriable: the server is starting, busy or failing over), NOAUTH,
 *     WRONGPASS and NOPERM (VM_ERR_AUTH) and NOSCRIPT (VM_ERR_NOT_FOUND);
 *   - a lost connection (reset, EOF) is VM_ERR_IO, a command that did not
 *     answer in time VM_ERR_TIMEOUT, both retriable.
 * After a connection error or timeout the connection is dropped and the NEXT
 * call reconnects (AUTH and SELECT again) before sending its command. The
 * failed command itself is never re-sent here: it may have been applied, and
 * only the caller knows whether repeating it is safe.
 *
 * Lua scripts (vm_redis_script) run with EVALSHA; after a Redis restart or
 * SCRIPT FLUSH the server answers NOSCRIPT and vm_redis_eval loads the
 * script and runs it again, so callers never see NOSCRIPT.
 *
 * TLS: Debian's hiredis 0.14.1 has no TLS support, so "rediss://" is refused
 * (VM_ERR_UNSUPPORTED). Reach a TLS-only Redis through a local stunnel (or
 * similar sidecar) on 127.0.0.1 until vecmig builds against hiredis >= 1.0
 * with hiredis_ssl.
 */
#ifndef VM_REDIS_H
#define VM_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "vm_err.h"

#define VM_REDIS_DEFAULT_PORT 6379
#define VM_REDIS_CONNECT_TIMEOUT_MS 5000L
#define VM_REDIS_COMMAND_TIMEOUT_MS 10000L

typedef struct vm_redis_opts {
    /* "redis://[[user]:password@]host[:port][/db]" (IPv6 as [::1]); when
     * set, the fields below it are ignored. Password and user are
     * percent-decoded. */
    const char *url;
    const char *host;          /* NULL: 127.0.0.1 */
    int port;                  /* 0: 6379 */
    const char *user;          /* ACL user (Redis 6+); NULL: default user */
    const char *password;      /* NULL: no AUTH */
    int db;                    /* SELECT; 0 is the default database */
    long connect_timeout_ms;   /* 0: VM_REDIS_CONNECT_TIMEOUT_MS */
    long command_timeout_ms;   /* 0: VM_REDIS_COMMAND_TIMEOUT_MS */
} vm_redis_opts;

/* A parsed address; strings are owned, free with vm_redis_addr_clear. */
typedef struct vm_redis_addr {
    char *host;      /* brackets of an IPv6 literal removed */
    int port;
    char *user;      /* NULL when absent */
    char *password;  /* NULL when absent */
    int db;
} vm_redis_addr;

typedef struct vm_redis vm_redis;
typedef struct vm_redis_script vm_redis_script;

/* Pure: parse a redis:// URL. Defaults: port 6379, db 0, no credentials.
 * Errors are VM_ERR_INVALID (VM_ERR_UNSUPPORTED for rediss://) naming the
 * problem; messages never contain the user info. On error *out is empty. */
int vm_redis_parse_url(const char *url, vm_redis_addr *out, vm_err *err);
void vm_redis_addr_clear(vm_redis_addr *a);

/* Pure: classify the text of an error reply ("LOADING Redis is loading..."). */
vm_code vm_redis_classify_error(const char *msg, bool *retriable);

/* Connect, AUTH when a password is given (registered with vm_secret_add),
 * SELECT when db != 0. */
int vm_redis_connect(const vm_redis_opts *opts, vm_redis **out, vm_err *err);
void vm_redis_free(vm_redis *r);

/* hiredis format ("SET %s %b", key, val, len). On 0, *out (if out is not
 * NULL) is the reply, to be released with freeReplyObject; otherwise *out is
 * NULL. Error replies are returned as errors, not as replies. Nested error
 * elements inside an array reply (EXEC, scripts) are left to the caller. */
int vm_redis_command(vm_redis *r, redisReply **out, vm_err *err, const char *fmt, ...);

/* Binary-safe: argv[i] has argvlen[i] bytes (argvlen NULL: strlen). */
int vm_redis_commandv(vm_redis *r, int argc, const char **argv, const size_t *argvlen,
                      redisReply **out, vm_err *err);

/* Whether the connection is currently up (false after an error, until the
 * next call reconnects). */
bool vm_redis_connected(const vm_redis *r);

/* A Lua script and its SHA1 (computed locally). Immutable once created, so
 * one script may be shared by threads using different connections. */
int vm_redis_script_new(const char *text, vm_redis_script **out, vm_err *err);
void vm_redis_script_free(vm_redis_script *s);
/* 40 lower-case hex digits. */
const char *vm_redis_script_sha(const vm_redis_script *s);

/* EVALSHA sha nkeys keys... args...; on NOSCRIPT: SCRIPT LOAD, then EVALSHA
 * once more. Reply and errors as vm_redis_command. */
int vm_redis_eval(vm_redis *r, const vm_redis_script *s, int nkeys, const char *const *keys,
                  int nargs, const char *const *args, redisReply **out, vm_err *err);

/* Pure: SHA1 of len bytes as 40 lower-case hex digits + NUL into hex[41]. */
void vm_redis_sha1_hex(const void *data, size_t len, char hex[41]);

#endif

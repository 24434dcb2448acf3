/*
 * vm_log.c - log lines and secret redaction.
 *
 * The secret list is process-wide on purpose: a secret loaded by any
 * connector must be masked in every line any thread writes. It is guarded by
 * a mutex; the log level is an atomic so the hot path does not lock.
 *
 * The context fields (job, worker, task) are thread-local, so a worker
 * thread names its own task without any call site passing it; the process
 * defaults cover threads vecmig does not own and are read under the line
 * lock.
 */
#include "vm_log.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int vm_log_level_cur = VM_LOG_INFO;
static atomic_int vm_log_format_cur = VM_LOG_AUTO;
static FILE *vm_log_stream;
static pthread_mutex_t vm_log_lock = PTHREAD_MUTEX_INITIALIZER;

static char **vm_secrets;
static size_t vm_nsecrets, vm_secrets_cap;
static pthread_mutex_t vm_secret_lock = PTHREAD_MUTEX_INITIALIZER;

/* Context fields: per thread, with process defaults for threads that set
 * none. The defaults are read and written under vm_log_lock. */
#define VM_LOG_JOB_MAX 129
#define VM_LOG_WORKER_MAX 257
typedef struct vm_log_ctx {
    char job[VM_LOG_JOB_MAX];
    char worker[VM_LOG_WORKER_MAX];
    int64_t task; /* < 0: none */
} vm_log_ctx;
static _Thread_local vm_log_ctx vm_log_tls = {.task = -1};
static vm_log_ctx vm_log_proc = {.task = -1};

void vm_log_set_level(vm_log_level level) { atomic_store(&vm_log_level_cur, (int)level); }
vm_log_level vm_log_get_level(void) { return (vm_log_level)atomic_load(&vm_log_level_cur); }
void vm_log_set_format(vm_log_format format) { atomic_store(&vm_log_format_cur, (int)format); }

void vm_log_set_stream(FILE *stream)
{
    pthread_mutex_lock(&vm_log_lock);
    vm_log_stream = stream;
    pthread_mutex_unlock(&vm_log_lock);
}

int vm_log_parse_level(const char *name, vm_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (vm_log_level)i;
            return 0;
        }
    return -1;
}

int vm_log_parse_format(const char *name, vm_log_format *out)
{
    static const char *const names[] = {"auto", "text", "json"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (vm_log_format)i;
            return 0;
        }
    return -1;
}

int vm_log_apply_env(vm_err *err)
{
    const char *lv = getenv("VECMIG_LOG_LEVEL"), *fm = getenv("VECMIG_LOG_FORMAT");
    vm_log_level level;
    vm_log_format format;
    if (lv && *lv) {
        if (vm_log_parse_level(lv, &level) != 0)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "VECMIG_LOG_LEVEL: expected error|warn|info|debug, got '%.40s'", lv);
        vm_log_set_level(level);
    }
    if (fm && *fm) {
        if (vm_log_parse_format(fm, &format) != 0)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "VECMIG_LOG_FORMAT: expected auto|text|json, got '%.40s'", fm);
        vm_log_set_format(format);
    }
    return VM_OK;
}

static void vm_log_ctx_put(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

void vm_log_ctx_set(const char *job, const char *worker)
{
    vm_log_ctx_put(vm_log_tls.job, sizeof vm_log_tls.job, job);
    vm_log_ctx_put(vm_log_tls.worker, sizeof vm_log_tls.worker, worker);
}

void vm_log_ctx_task(int64_t task) { vm_log_tls.task = task < 0 ? -1 : task; }

void vm_log_ctx_clear(void)
{
    vm_log_tls.job[0] = vm_log_tls.worker[0] = '\0';
    vm_log_tls.task = -1;
}

void vm_log_ctx_default(const char *job, const char *worker)
{
    pthread_mutex_lock(&vm_log_lock);
    vm_log_ctx_put(vm_log_proc.job, sizeof vm_log_proc.job, job);
    vm_log_ctx_put(vm_log_proc.worker, sizeof vm_log_proc.worker, worker);
    pthread_mutex_unlock(&vm_log_lock);
}

int vm_secret_add(const char *secret)
{
    if (!secret || strlen(secret) < VM_SECRET_MIN_LEN)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&vm_secret_lock);
    for (size_t i = 0; i < vm_nsecrets; i++)
        if (strcmp(vm_secrets[i], secret) == 0)
            goto cleanup;
    if (vm_grow((void **)&vm_secrets, &vm_secrets_cap, vm_nsecrets + 1, sizeof *vm_secrets) != 0) {
        rc = VM_ERR_NOMEM;
        goto cleanup;
    }
    if (!(vm_secrets[vm_nsecrets] = vm_strdup(secret))) {
        rc = VM_ERR_NOMEM;
        goto cleanup;
    }
    vm_nsecrets++;
cleanup:
    pthread_mutex_unlock(&vm_secret_lock);
    return rc;
}

void vm_secret_clear(void)
{
    pthread_mutex_lock(&vm_secret_lock);
    for (size_t i = 0; i < vm_nsecrets; i++)
        vm_free(vm_secrets[i]);
    vm_free(vm_secrets);
    vm_secrets = NULL;
    vm_nsecrets = vm_secrets_cap = 0;
    pthread_mutex_unlock(&vm_secret_lock);
}

/* Replace s[pos, pos+len) by "***" within a buffer of cap bytes. Returns
 * the index just after the mask (where scanning goes on). */
static size_t vm_splice_mask(char *s, size_t cap, size_t pos, size_t len)
{
    static const char mask[] = "***";
    if (pos + 3 >= cap) { /* no room for the mask: cut the text before the secret */
        s[pos] = '\0';
        return pos;
    }
    size_t tail = strlen(s + pos + len) + 1; /* incl. NUL */
    size_t room = cap - pos - 3;
    if (tail > room)
        tail = room; /* truncate; re-terminate below */
    memmove(s + pos + 3, s + pos + len, tail);
    memcpy(s + pos, mask, 3);
    s[cap - 1] = '\0';
    return pos + 3;
}

/* The next "password=" in s, in any letter case. */
static char *vm_find_password_key(char *s)
{
    for (; *s; s++)
        if (strncasecmp(s, "password=", 9) == 0)
            return s;
    return NULL;
}

void vm_redact(char *s, size_t cap)
{
    if (!s || cap < 8)
        return;
    bool full = strlen(s) + 1 == cap;
    pthread_mutex_lock(&vm_secret_lock);
    for (size_t i = 0; i < vm_nsecrets; i++) {
        size_t sl = strlen(vm_secrets[i]);
        char *p = s;
        while ((p = strstr(p, vm_secrets[i])) != NULL) {
            p = s + vm_splice_mask(s, cap, (size_t)(p - s), sl);
        }
    }
    /* A full buffer may have been cut in the middle of a secret: mask a
     * tail that is the start of one. */
    size_t n = strlen(s);
    if (full)
        for (size_t i = 0; i < vm_nsecrets; i++) {
            size_t sl = strlen(vm_secrets[i]);
            for (size_t k = sl - 1 < n ? sl - 1 : n; k > 0; k--)
                if (memcmp(s + n - k, vm_secrets[i], k) == 0) {
                    vm_splice_mask(s, cap, n - k, k);
                    n = strlen(s);
                    break;
                }
        }
    pthread_mutex_unlock(&vm_secret_lock);
    /* password=VALUE, as in a libpq conninfo ("password=x", "password='x y'"),
     * a URL query (?password=x&...) or a "key=value" client property
     * (sasl.password=x): masks values no one registered yet, e.g. a dsn
     * echoed before it was parsed */
    for (char *p = s; (p = vm_find_password_key(p)) != NULL;) {
        char *v = p + 9;
        size_t len;
        if (*v == '\'' || *v == '"') {
            char q = *v++;
            for (len = 0; v[len] && v[len] != q; len++)
                if (v[len] == '\\' && v[len + 1])
                    len++;
        } else {
            len = strcspn(v, " \t&;,)\"'");
        }
        if (len > 0 && !(len == 3 && strncmp(v, "***", 3) == 0))
            p = s + vm_splice_mask(s, cap, (size_t)(v - s), len);
        else
            p = v;
    }
    /* scheme://user:password@host -> scheme://user:***@host */
    for (char *p = strstr(s, "://"); p; p = strstr(p, "://")) {
        char *auth = p + 3;
        size_t hostlen = strcspn(auth, "/?# \"'");
        char *at = memchr(auth, '@', hostlen);
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && !(at - colon - 1 == 3 && strncmp(colon + 1, "***", 3) == 0))
            vm_splice_mask(s, cap, (size_t)(colon + 1 - s), (size_t)(at - colon - 1));
        p = auth;
    }
}

static void vm_json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void vm_log(vm_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if ((int)level > atomic_load(&vm_log_level_cur))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    vm_redact(line, sizeof line);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t wn = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + wn, sizeof when - wn, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);

    pthread_mutex_lock(&vm_log_lock);
    /* the thread's context, field by field falling back to the process's */
    const char *job = vm_log_tls.job[0] ? vm_log_tls.job : vm_log_proc.job;
    const char *worker = vm_log_tls.worker[0] ? vm_log_tls.worker : vm_log_proc.worker;
    int64_t task = vm_log_tls.task;
    FILE *f = vm_log_stream ? vm_log_stream : stderr;
    int format = atomic_load(&vm_log_format_cur);
    if (format == VM_LOG_AUTO)
        format = isatty(fileno(f)) ? VM_LOG_TEXT : VM_LOG_JSON;
    if (format == VM_LOG_JSON) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\"", when, names[level]);
        if (*job) {
            fputs(",\"job\":\"", f);
            vm_json_escape(f, job);
            fputc('"', f);
        }
        if (*worker) {
            fputs(",\"worker\":\"", f);
            vm_json_escape(f, worker);
            fputc('"', f);
        }
        if (task >= 0)
            fprintf(f, ",\"task\":%" PRId64, task);
        fputs(",\"msg\":\"", f);
        vm_json_escape(f, line);
        fputs("\"}\n", f);
    } else {
        fprintf(f, "%s %-5s ", when, names[level]);
        if (*job)
            fprintf(f, "job=%s ", job);
        if (*worker)
            fprintf(f, "worker=%s ", worker);
        if (task >= 0)
            fprintf(f, "task=%" PRId64 " ", task);
        fprintf(f, "%s\n", line);
    }
    fflush(f);
    pthread_mutex_unlock(&vm_log_lock);
}

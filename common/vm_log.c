/*
 * vm_log.c - log lines and secret redaction.
 *
 * The secret list is process-wide on purpose: a secret loaded by any
 * connector must be masked in every line any thread writes. It is guarded by
 * a mutex; the log level is an atomic so the hot path does not lock.
 */
#include "vm_log.h"
#include "vm_mem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int vm_log_level_cur = VM_LOG_INFO;
static atomic_int vm_log_format_cur = VM_LOG_AUTO;
static FILE *vm_log_stream;
static pthread_mutex_t vm_log_lock = PTHREAD_MUTEX_INITIALIZER;

static char **vm_secrets;
static size_t vm_nsecrets, vm_secrets_cap;
static pthread_mutex_t vm_secret_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* Replace s[pos, pos+len) by "***" within a buffer of cap bytes. */
static void vm_splice_mask(char *s, size_t cap, size_t pos, size_t len)
{
    static const char mask[] = "***";
    size_t tail = strlen(s + pos + len) + 1; /* incl. NUL */
    size_t room = cap - pos - 3;
    if (tail > room)
        tail = room; /* truncate; re-terminate below */
    memmove(s + pos + 3, s + pos + len, tail);
    memcpy(s + pos, mask, 3);
    s[cap - 1] = '\0';
}

void vm_redact(char *s, size_t cap)
{
    if (!s || cap < 8)
        return;
    pthread_mutex_lock(&vm_secret_lock);
    for (size_t i = 0; i < vm_nsecrets; i++) {
        size_t sl = strlen(vm_secrets[i]);
        char *p = s;
        while ((p = strstr(p, vm_secrets[i])) != NULL) {
            vm_splice_mask(s, cap, (size_t)(p - s), sl);
            p += 3;
        }
    }
    pthread_mutex_unlock(&vm_secret_lock);
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
    FILE *f = vm_log_stream ? vm_log_stream : stderr;
    int format = atomic_load(&vm_log_format_cur);
    if (format == VM_LOG_AUTO)
        format = isatty(fileno(f)) ? VM_LOG_TEXT : VM_LOG_JSON;
    if (format == VM_LOG_JSON) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", when, names[level]);
        vm_json_escape(f, line);
        fputs("\"}\n", f);
    } else {
        fprintf(f, "%s %-5s %s\n", when, names[level], line);
    }
    fflush(f);
    pthread_mutex_unlock(&vm_log_lock);
}

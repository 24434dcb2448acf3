/*
 * vm_redis.c - blocking Redis connection with classified errors, lazy
 * reconnect, and Lua scripts run by SHA1 with a NOSCRIPT fallback.
 *
 * Why reconnect lazily (on the next call) rather than inside the failing
 * call: a command whose reply was lost may or may not have been applied, so
 * re-sending it is a decision for the caller (an HINCRBY is not idempotent).
 * Reconnecting early costs nothing and keeps callers free of connection
 * bookkeeping.
 *
 * Why SHA1 is computed here: the SHA is known without a round trip, so the
 * first EVALSHA can be sent directly and the script text only travels after
 * a NOSCRIPT (Redis restart, SCRIPT FLUSH, failover to a fresh replica).
 */
#include "vm_redis.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

struct vm_redis {
    redisContext *ctx; /* NULL while the connection is down */
    vm_redis_addr addr;
    long connect_timeout_ms;
    long command_timeout_ms;
    char where[300]; /* "redis host:port" for messages */
};

struct vm_redis_script {
    char *text;
    char sha[41];
};

/* ------------------------------------------------------------------ URL */

void vm_redis_addr_clear(vm_redis_addr *a)
{
    if (!a)
        return;
    vm_free(a->host);
    vm_free(a->user);
    vm_free(a->password);
    memset(a, 0, sizeof *a);
}

static int vm_redis_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0, n) into a new string; NULL for an empty input.
 * 0, VM_ERR_INVALID (bad escape or an encoded NUL) or VM_ERR_NOMEM. */
static int vm_redis_pct_decode(const char *s, size_t n, char **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char *d = vm_malloc(n + 1);
    if (!d)
        return VM_ERR_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? vm_redis_hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? vm_redis_hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            vm_free(d);
            return VM_ERR_INVALID;
        }
        d[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

/* Digits only, value in [lo, hi]. */
static bool vm_redis_parse_uint(const char *s, size_t n, long lo, long hi, long *out)
{
    if (n == 0 || n > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int vm_redis_parse_url(const char *url, vm_redis_addr *out, vm_err *err)
{
    static const char scheme[] = "redis://";
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!url || !*url) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: empty");
        goto cleanup;
    }
    if (strncasecmp(url, "rediss://", 9) == 0) {
        rc = vm_err_setc(err, VM_ERR_UNSUPPORTED,
                         "redis url: rediss:// (TLS) is not supported by hiredis %d.%d.%d; "
                         "use a local TLS sidecar (stunnel) and redis://127.0.0.1:<port>",
                         HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
        goto cleanup;
    }
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: must start with redis://");
        goto cleanup;
    }
    const char *p = url + sizeof scheme - 1;
    /* The user info ends at the LAST '@' of the whole URL (host, port and db
     * never contain one), so a password with an unencoded '/', '?' or '#'
     * is still taken as a password and never echoed as a "host". */
    const char *last_at = strrchr(p, '@');
    const char *host = last_at ? last_at + 1 : p;
    const char *auth_end = host + strcspn(host, "/?#");
    if (host > p) {
        /* user info, as redis-cli reads it: [user:]password */
        const char *at = host - 1;
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && (rc = vm_redis_pct_decode(p, (size_t)(colon - p), &out->user)) != 0)
            goto bad_userinfo;
        if ((rc = vm_redis_pct_decode(pw, (size_t)(at - pw), &out->password)) != 0)
            goto bad_userinfo;
        if (!out->password) {
            rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: empty password before '@'");
            goto cleanup;
        }
    }

    const char *hend, *port = NULL;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(auth_end - host));
        if (!close) {
            rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: unterminated IPv6 address '['");
            goto cleanup;
        }
        for (const char *q = host + 1; q < close; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.') {
                rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: bad IPv6 address '%.*s'",
                                 (int)(close + 1 - host), host);
                goto cleanup;
            }
        if (close + 1 < auth_end && close[1] != ':') {
            rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: unexpected text after ']'");
            goto cleanup;
        }
        port = close + 1 < auth_end ? close + 2 : NULL;
        out->host = vm_strndup(host + 1, (size_t)(close - host - 1));
        hend = close;
        host++;
    } else {
        const char *colon = memchr(host, ':', (size_t)(auth_end - host));
        if (colon && memchr(colon + 1, ':', (size_t)(auth_end - colon - 1))) {
            rc = vm_err_setc(err, VM_ERR_INVALID,
                             "redis url: an IPv6 address must be in brackets ([::1]:6379)");
            goto cleanup;
        }
        hend = colon ? colon : auth_end;
        port = colon ? colon + 1 : NULL;
        for (const char *q = host; q < hend; q++)
            if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' && *q != '_') {
                rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: bad host name '%.*s'",
                                 (int)(hend - host), host);
                goto cleanup;
            }
        out->host = vm_strndup(host, (size_t)(hend - host));
    }
    if (!out->host) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "redis url: out of memory");
        goto cleanup;
    }
    if (hend == host) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: missing host");
        goto cleanup;
    }
    long v = VM_REDIS_DEFAULT_PORT;
    if (port && !vm_redis_parse_uint(port, (size_t)(auth_end - port), 1, 65535, &v)) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: invalid port '%.*s' (1-65535)",
                         (int)(auth_end - port), port);
        goto cleanup;
    }
    out->port = (int)v;

    const char *rest = auth_end;
    if (*rest == '?' || *rest == '#') {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis url: query parameters are not supported");
        goto cleanup;
    }
    v = 0;
    if (*rest == '/' && rest[1] &&
        !vm_redis_parse_uint(rest + 1, strlen(rest + 1), 0, INT_MAX, &v)) {
        rc = vm_err_setc(err, VM_ERR_INVALID,
                         "redis url: invalid database '%s' (a number after '/')", rest + 1);
        goto cleanup;
    }
    out->db = (int)v;
    goto cleanup;

bad_userinfo:
    rc = rc == VM_ERR_NOMEM
             ? vm_err_setc(err, VM_ERR_NOMEM, "redis url: out of memory")
             : vm_err_setc(err, VM_ERR_INVALID, "redis url: bad percent-encoding in the user info");
cleanup:
    if (rc != 0)
        vm_redis_addr_clear(out);
    return rc;
}

/* ------------------------------------------------------------ classifier */

vm_code vm_redis_classify_error(const char *msg, bool *retriable)
{
    static const struct {
        const char *prefix;
        vm_code code;
    } table[] = {
        {"LOADING", VM_ERR_UNAVAILABLE},    {"BUSY", VM_ERR_UNAVAILABLE},
        {"TRYAGAIN", VM_ERR_UNAVAILABLE},   {"MASTERDOWN", VM_ERR_UNAVAILABLE},
        {"CLUSTERDOWN", VM_ERR_UNAVAILABLE}, {"READONLY", VM_ERR_UNAVAILABLE},
        {"NOAUTH", VM_ERR_AUTH},            {"WRONGPASS", VM_ERR_AUTH},
        {"NOPERM", VM_ERR_AUTH},            {"NOSCRIPT", VM_ERR_NOT_FOUND},
    };
    vm_code code = VM_ERR_REMOTE;
    if (msg) {
        /* the first word is the error code; BUSYKEY must not match BUSY */
        size_t wl = strcspn(msg, " ");
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (wl == strlen(table[i].prefix) && strncmp(msg, table[i].prefix, wl) == 0) {
                code = table[i].code;
                break;
            }
    }
    if (retriable)
        *retriable = code == VM_ERR_UNAVAILABLE;
    return code;
}

/* ------------------------------------------------------------ connection */

static struct timeval vm_redis_tv(long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void vm_redis_drop(vm_redis *r)
{
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

/* Command name for messages: printable and short, never an argument. */
static void vm_redis_name(const char *s, size_t n, char out[32])
{
    size_t i = 0;
    for (; i < n && i < 31 && isgraph((unsigned char)s[i]) && s[i] != '%'; i++)
        out[i] = s[i];
    out[i] = '\0';
    if (i == 0)
        strcpy(out, "command");
}

/* Turn the outcome of one hiredis call into the convention. A NULL reply
 * means the context is broken: drop it so the next call reconnects. With
 * keep_error, an error reply is handed back as a reply (rc 0). */
static int vm_redis_finish(vm_redis *r, const char *name, redisReply *reply, int saved_errno,
                           bool keep_error, redisReply **out, vm_err *err)
{
    if (!reply) {
        redisContext *c = r->ctx;
        int cerr = c ? c->err : REDIS_ERR_OTHER;
        vm_code code = VM_ERR_IO;
        bool retriable = true;
        if (cerr == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
                                     saved_errno == ETIMEDOUT))
            code = VM_ERR_TIMEOUT;
        else if (cerr == REDIS_ERR_PROTOCOL)
            code = VM_ERR_PROTOCOL, retriable = false;
        else if (cerr == REDIS_ERR_OOM)
            code = VM_ERR_NOMEM, retriable = false;
        else if (cerr == REDIS_ERR_OTHER && c)
            code = VM_ERR_INVALID, retriable = false; /* e.g. a bad format string */
        int rc = code == VM_ERR_TIMEOUT
                     ? vm_err_set(err, code, true, "%s: %s: no reply within %ld ms", r->where,
                                  name, r->command_timeout_ms)
                     : vm_err_set(err, code, retriable, "%s: %s: %s", r->where, name,
                                  c && c->errstr[0] ? c->errstr : "connection lost");
        vm_redis_drop(r);
        return rc;
    }
    if (reply->type == REDIS_REPLY_ERROR && !keep_error) {
        bool retriable;
        vm_code code = vm_redis_classify_error(reply->str, &retriable);
        int rc = vm_err_set(err, code, retriable, "%s: %s: %.*s", r->where, name,
                            (int)(reply->len < 300 ? reply->len : 300), reply->str);
        freeReplyObject(reply);
        return rc;
    }
    if (out)
        *out = reply;
    else
        freeReplyObject(reply);
    return 0;
}

/* One argv command on the current connection, no reconnect. */
static int vm_redis_argv_raw(vm_redis *r, int argc, const char **argv, const size_t *argvlen,
                             bool keep_error, redisReply **out, vm_err *err)
{
    char name[32];
    vm_redis_name(argv[0], argvlen ? argvlen[0] : strlen(argv[0]), name);
    errno = 0;
    redisReply *reply = redisCommandArgv(r->ctx, argc, argv, argvlen);
    return vm_redis_finish(r, name, reply, errno, keep_error, out, err);
}

/* Connect, AUTH, SELECT. On error the connection stays down. */
static int vm_redis_open(vm_redis *r, vm_err *err)
{
    int rc = 0;
    vm_redis_drop(r);
    errno = 0;
    redisContext *c = redisConnectWithTimeout(r->addr.host, r->addr.port,
                                              vm_redis_tv(r->connect_timeout_ms));
    int saved_errno = errno;
    if (!c)
        return vm_err_setc(err, VM_ERR_NOMEM, "%s: connect: out of memory", r->where);
    if (c->err) {
        bool timeout = saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS ||
                       strstr(c->errstr, "timed out") != NULL;
        rc = vm_err_set(err, timeout ? VM_ERR_TIMEOUT : VM_ERR_IO, true, "%s: connect: %s",
                        r->where, c->errstr);
        redisFree(c);
        return rc;
    }
    r->ctx = c;
    if (redisSetTimeout(c, vm_redis_tv(r->command_timeout_ms)) != REDIS_OK ||
        redisEnableKeepAlive(c) != REDIS_OK) {
        rc = vm_err_set(err, VM_ERR_IO, true, "%s: socket options: %s", r->where, c->errstr);
        goto cleanup;
    }
    if (r->addr.password) {
        const char *argv[3] = {"AUTH"};
        int argc = 1;
        if (r->addr.user)
            argv[argc++] = r->addr.user;
        argv[argc++] = r->addr.password;
        if ((rc = vm_redis_argv_raw(r, argc, argv, NULL, false, NULL, err)) != 0)
            goto cleanup;
    }
    if (r->addr.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->addr.db);
        const char *argv[2] = {"SELECT", db};
        if ((rc = vm_redis_argv_raw(r, 2, argv, NULL, false, NULL, err)) != 0)
            goto cleanup;
    }
cleanup:
    if (rc != 0)
        vm_redis_drop(r);
    return rc;
}

static int vm_redis_ensure(vm_redis *r, vm_err *err)
{
    if (r->ctx)
        return 0;
    int rc = vm_redis_open(r, err);
    if (rc == 0)
        vm_info("%s: reconnected", r->where);
    return rc;
}

int vm_redis_connect(const vm_redis_opts *opts, vm_redis **out, vm_err *err)
{
    vm_redis *r = NULL;
    int rc = 0;
    *out = NULL;
    if (!(r = vm_calloc(1, sizeof *r))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "redis: out of memory");
        goto cleanup;
    }
    if (opts->url) {
        if ((rc = vm_redis_parse_url(opts->url, &r->addr, err)) != 0)
            goto cleanup;
    } else {
        if (opts->port < 0 || opts->port > 65535 || opts->db < 0) {
            rc = vm_err_setc(err, VM_ERR_INVALID, "redis: invalid port %d or db %d", opts->port,
                             opts->db);
            goto cleanup;
        }
        r->addr.port = opts->port ? opts->port : VM_REDIS_DEFAULT_PORT;
        r->addr.db = opts->db;
        if (!(r->addr.host = vm_strdup(opts->host ? opts->host : "127.0.0.1")) ||
            (opts->user && !(r->addr.user = vm_strdup(opts->user))) ||
            (opts->password && !(r->addr.password = vm_strdup(opts->password)))) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "redis: out of memory");
            goto cleanup;
        }
    }
    if (r->addr.password && vm_secret_add(r->addr.password) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "redis: out of memory");
        goto cleanup;
    }
    if (opts->connect_timeout_ms < 0 || opts->command_timeout_ms < 0) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis: negative timeout");
        goto cleanup;
    }
    r->connect_timeout_ms =
        opts->connect_timeout_ms ? opts->connect_timeout_ms : VM_REDIS_CONNECT_TIMEOUT_MS;
    r->command_timeout_ms =
        opts->command_timeout_ms ? opts->command_timeout_ms : VM_REDIS_COMMAND_TIMEOUT_MS;
    bool v6 = strchr(r->addr.host, ':') != NULL;
    snprintf(r->where, sizeof r->where, "redis %s%s%s:%d", v6 ? "[" : "", r->addr.host,
             v6 ? "]" : "", r->addr.port);
    if ((rc = vm_redis_open(r, err)) != 0)
        goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    vm_redis_free(r);
    return rc;
}

void vm_redis_free(vm_redis *r)
{
    if (!r)
        return;
    vm_redis_drop(r);
    vm_redis_addr_clear(&r->addr);
    vm_free(r);
}

bool vm_redis_connected(const vm_redis *r) { return r && r->ctx != NULL; }

int vm_redis_command(vm_redis *r, redisReply **out, vm_err *err, const char *fmt, ...)
{
    if (out)
        *out = NULL;
    int rc = vm_redis_ensure(r, err);
    if (rc != 0)
        return rc;
    char name[32];
    vm_redis_name(fmt, strcspn(fmt, " "), name);
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    redisReply *reply = redisvCommand(r->ctx, fmt, ap);
    int saved_errno = errno;
    va_end(ap);
    return vm_redis_finish(r, name, reply, saved_errno, false, out, err);
}

int vm_redis_commandv(vm_redis *r, int argc, const char **argv, const size_t *argvlen,
                      redisReply **out, vm_err *err)
{
    if (out)
        *out = NULL;
    if (argc < 1 || !argv || !argv[0])
        return vm_err_setc(err, VM_ERR_INVALID, "%s: empty command", r->where);
    int rc = vm_redis_ensure(r, err);
    if (rc != 0)
        return rc;
    return vm_redis_argv_raw(r, argc, argv, argvlen, false, out, err);
}

/* ---------------------------------------------------------------- SHA-1 */

/* FIPS 180-4 SHA-1; Redis names scripts by it. Not used for security. */
typedef struct vm_sha1 {
    uint32_t h[5];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} vm_sha1;

static uint32_t vm_rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void vm_sha1_block(vm_sha1 *s, const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = vm_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999u;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1u;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6u;
        uint32_t t = vm_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = vm_rol(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void vm_sha1_update(vm_sha1 *s, const unsigned char *p, size_t n)
{
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf == 64) {
            vm_sha1_block(s, s->buf);
            s->nbuf = 0;
        }
    }
}

void vm_redis_sha1_hex(const void *data, size_t len, char hex[41])
{
    vm_sha1 s = {.h = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u}};
    vm_sha1_update(&s, data, len);
    uint64_t bits = s.len * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = s.nbuf < 56 ? 56 - s.nbuf : 120 - s.nbuf;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    vm_sha1_update(&s, pad, padlen + 8);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        unsigned v = (s.h[i / 4] >> (24 - 8 * (i % 4))) & 0xff;
        hex[2 * i] = digits[v >> 4];
        hex[2 * i + 1] = digits[v & 15];
    }
    hex[40] = '\0';
}

/* -------------------------------------------------------------- scripts */

int vm_redis_script_new(const char *text, vm_redis_script **out, vm_err *err)
{
    vm_redis_script *s = NULL;
    int rc = 0;
    *out = NULL;
    if (!text || !*text) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "redis script: empty");
        goto cleanup;
    }
    if (!(s = vm_calloc(1, sizeof *s)) || !(s->text = vm_strdup(text))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "redis script: out of memory");
        goto cleanup;
    }
    vm_redis_sha1_hex(text, strlen(text), s->sha);
    *out = s;
    s = NULL;
cleanup:
    vm_redis_script_free(s);
    return rc;
}

void vm_redis_script_free(vm_redis_script *s)
{
    if (!s)
        return;
    vm_free(s->text);
    vm_free(s);
}

const char *vm_redis_script_sha(const vm_redis_script *s) { return s->sha; }

int vm_redis_eval(vm_redis *r, const vm_redis_script *s, int nkeys, const char *const *keys,
                  int nargs, const char *const *args, redisReply **out, vm_err *err)
{
    const char **argv = NULL;
    redisReply *reply = NULL;
    int rc = 0;
    char nk[16];
    if (out)
        *out = NULL;
    if (nkeys < 0 || nargs < 0 || nkeys > INT_MAX / 2 - 3 || nargs > INT_MAX / 2 - 3) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "%s: EVALSHA: bad key/argument count", r->where);
        goto cleanup;
    }
    int argc = 3 + nkeys + nargs;
    if (!(argv = vm_calloc((size_t)argc, sizeof *argv))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "%s: EVALSHA: out of memory", r->where);
        goto cleanup;
    }
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = s->sha;
    argv[2] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];

    if ((rc = vm_redis_ensure(r, err)) != 0)
        goto cleanup;
    if ((rc = vm_redis_argv_raw(r, argc, argv, NULL, true, &reply, err)) != 0)
        goto cleanup;
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(reply);
        reply = NULL;
        const char *load[3] = {"SCRIPT", "LOAD", s->text};
        if ((rc = vm_redis_argv_raw(r, 3, load, NULL, false, &reply, err)) != 0)
            goto cleanup;
        if (reply->type != REDIS_REPLY_STRING || reply->len != 40 ||
            strncasecmp(reply->str, s->sha, 40) != 0) {
            rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                             "%s: SCRIPT LOAD answered a different SHA1 than %s", r->where,
                             s->sha);
            goto cleanup;
        }
        freeReplyObject(reply);
        reply = NULL;
        if ((rc = vm_redis_argv_raw(r, argc, argv, NULL, true, &reply, err)) != 0)
            goto cleanup;
    }
    /* classify an error reply (including a second NOSCRIPT) as usual */
    rc = vm_redis_finish(r, "EVALSHA", reply, 0, false, out, err);
    reply = NULL;
cleanup:
    if (reply)
        freeReplyObject(reply);
    vm_free(argv);
    return rc;
}

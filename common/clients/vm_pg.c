/*
 * vm_pg.c - libpq connections, statements with SQLSTATE classification, and
 * decoders for pgvector's binary formats.
 *
 * Why the conninfo is parsed before connecting: the password must be a
 * registered secret before libpq can produce a message that might echo it,
 * and PQconninfoParse understands both the key=value and the URI forms.
 */
#include "vm_pg.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------ errors */

vm_code vm_pg_classify_sqlstate(const char *sqlstate, bool *retriable)
{
    vm_code code = VM_ERR_REMOTE;
    bool retry = false;

    if (!sqlstate || strlen(sqlstate) != 5) {
        /* no SQLSTATE: nothing tells us a retry would help */
    } else if (strncmp(sqlstate, "08", 2) == 0) { /* connection exception */
        code = VM_ERR_IO;
        retry = true;
    } else if (strncmp(sqlstate, "53", 2) == 0) { /* insufficient resources */
        code = VM_ERR_UNAVAILABLE;
        retry = true;
    } else if (strcmp(sqlstate, "57P01") == 0 || /* admin_shutdown */
               strcmp(sqlstate, "57P02") == 0 || /* crash_shutdown */
               strcmp(sqlstate, "57P03") == 0) { /* cannot_connect_now */
        code = VM_ERR_UNAVAILABLE;
        retry = true;
    } else if (strcmp(sqlstate, "57P05") == 0) { /* idle_session_timeout */
        code = VM_ERR_IO;
        retry = true;
    } else if (strcmp(sqlstate, "57014") == 0 || /* query_canceled: statement_timeout */
               strcmp(sqlstate, "55P03") == 0) { /* lock_not_available: lock_timeout */
        code = VM_ERR_TIMEOUT;
        retry = true;
    } else if (strcmp(sqlstate, "40001") == 0 || /* serialization_failure */
               strcmp(sqlstate, "40P01") == 0) { /* deadlock_detected */
        code = VM_ERR_REMOTE;
        retry = true;
    } else if (strncmp(sqlstate, "28", 2) == 0 || /* invalid authorization */
               strcmp(sqlstate, "42501") == 0) {  /* insufficient_privilege */
        code = VM_ERR_AUTH;
    } else if (strcmp(sqlstate, "42P01") == 0 || /* undefined_table */
               strcmp(sqlstate, "42703") == 0 || /* undefined_column */
               strcmp(sqlstate, "42883") == 0 || /* undefined_function */
               strcmp(sqlstate, "42704") == 0 || /* undefined_object */
               strcmp(sqlstate, "3D000") == 0 || /* invalid_catalog_name */
               strcmp(sqlstate, "3F000") == 0) { /* invalid_schema_name */
        code = VM_ERR_NOT_FOUND;
    } else if (strcmp(sqlstate, "42P07") == 0 || /* duplicate_table */
               strcmp(sqlstate, "23505") == 0) { /* unique_violation */
        code = VM_ERR_EXISTS;
    } else if (strncmp(sqlstate, "42", 2) == 0 || /* syntax, access rules */
               strncmp(sqlstate, "22", 2) == 0 || /* data exception */
               strncmp(sqlstate, "23", 2) == 0) { /* integrity constraint */
        code = VM_ERR_INVALID;
    } else if (strcmp(sqlstate, "0A000") == 0) { /* feature_not_supported */
        code = VM_ERR_UNSUPPORTED;
    }
    if (retriable)
        *retriable = retry;
    return code;
}

/* Case-sensitive substring test on libpq's English messages (libpq only
 * translates them under NLS with a non-English locale; then everything
 * falls to the retriable default, which the retry budget bounds). */
static bool vm_pg_has(const char *msg, const char *needle)
{
    return strstr(msg, needle) != NULL;
}

vm_code vm_pg_classify_connect_error(const char *msg, bool *retriable)
{
    vm_code code = VM_ERR_IO;
    bool retry = true;
    if (!msg)
        msg = "";
    if (vm_pg_has(msg, "authentication failed") || vm_pg_has(msg, "no pg_hba.conf entry") ||
        vm_pg_has(msg, "no password supplied") || vm_pg_has(msg, "password is required") ||
        vm_pg_has(msg, "certificate verify failed") ||
        (vm_pg_has(msg, "role \"") && vm_pg_has(msg, "does not exist"))) {
        code = VM_ERR_AUTH;
        retry = false;
    } else if (vm_pg_has(msg, "database \"") && vm_pg_has(msg, "does not exist")) {
        code = VM_ERR_NOT_FOUND;
        retry = false;
    } else if (vm_pg_has(msg, "invalid connection option") || vm_pg_has(msg, "invalid sslmode") ||
               vm_pg_has(msg, "invalid port number") ||
               vm_pg_has(msg, "server does not support SSL")) {
        code = VM_ERR_INVALID;
        retry = false;
    } else if (vm_pg_has(msg, "timeout expired")) {
        code = VM_ERR_TIMEOUT;
    } else if (vm_pg_has(msg, "too many clients") || vm_pg_has(msg, "connection slots") ||
               vm_pg_has(msg, "starting up") || vm_pg_has(msg, "shutting down") ||
               vm_pg_has(msg, "recovery mode")) {
        code = VM_ERR_UNAVAILABLE;
    }
    if (retriable)
        *retriable = retry;
    return code;
}

/* Copy a libpq message into dst as one line: whitespace runs (libpq uses
 * newlines and tabs between the parts) become one space. */
static void vm_pg_tidy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = src ? src : ""; *p && n + 1 < cap; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            dst[n++] = ' ';
        space = false;
        dst[n++] = *p;
    }
    dst[n] = '\0';
}

/* libpq's parse errors quote pieces of the connection string, which may be
 * pieces of a password: mask every quoted token longer than one character
 * ("=" in `missing "=" after` stays readable). */
static void vm_pg_mask_quoted(char *s)
{
    char *open = NULL;
    for (char *p = s; *p; p++) {
        if (*p != '"')
            continue;
        if (!open) {
            open = p;
            continue;
        }
        size_t inner = (size_t)(p - open - 1);
        if (inner > 1) {
            size_t m = inner < 3 ? inner : 3; /* never longer than before */
            memset(open + 1, '*', m);
            memmove(open + 1 + m, p, strlen(p) + 1);
            p = open + 1 + m;
        }
        open = NULL;
    }
}

/* ---------------------------------------------------------------- TLS */

static const char *vm_pg_opt(const PQconninfoOption *opts, const char *kw)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, kw) == 0)
            return o->val && o->val[0] ? o->val : NULL;
    return NULL;
}

/* One entry of a libpq host list names this machine: empty (the default
 * Unix socket), a socket directory ("/..." or "@abstract"), localhost or a
 * loopback address. */
static bool vm_pg_local_host(const char *h, size_t n)
{
    if (n == 0 || h[0] == '/' || h[0] == '@')
        return true;
    if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 3 && strncmp(h, "::1", 3) == 0))
        return true;
    if (n >= 4 && strncmp(h, "127.", 4) == 0) {
        for (size_t i = 4; i < n; i++)
            if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
                return false;
        return true;
    }
    return false;
}

/* Every entry of the comma-separated list is local (NULL: the default,
 * a local socket). */
static bool vm_pg_local_list(const char *list)
{
    if (!list)
        return true;
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (!vm_pg_local_host(p, n))
            return false;
        if (!p[n])
            return true;
        p += n + 1;
    }
}

/* The TLS decision on parsed options; see vm_pg_tls_sslmode. */
static const char *vm_pg_tls_decide(const PQconninfoOption *opts, bool insecure, bool *unverified)
{
    *unverified = false;
    /* TLS verification checks the host name, so `host` decides; hostaddr
     * only when there is no host */
    const char *host = vm_pg_opt(opts, "host"), *addr = vm_pg_opt(opts, "hostaddr");
    if (!host && !addr) { /* libpq's environment defaults */
        host = getenv("PGHOST");
        addr = getenv("PGHOSTADDR");
    }
    bool local = host && host[0] ? vm_pg_local_list(host) : vm_pg_local_list(addr);
    if (local)
        return NULL;
    const char *mode = vm_pg_opt(opts, "sslmode");
    if (!mode)
        mode = getenv("PGSSLMODE");
    if (mode && mode[0]) {
        *unverified = strcmp(mode, "verify-full") != 0 && strcmp(mode, "verify-ca") != 0;
        return NULL;
    }
    *unverified = insecure;
    return insecure ? "require" : "verify-full";
}

const char *vm_pg_tls_sslmode(const char *conninfo, bool insecure, bool *unverified)
{
    bool dummy;
    if (!unverified)
        unverified = &dummy;
    *unverified = false;
    char *perr = NULL;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, &perr) : NULL;
    if (perr)
        PQfreemem(perr);
    if (!opts)
        return NULL;
    const char *mode = vm_pg_tls_decide(opts, insecure, unverified);
    PQconninfoFree(opts);
    return mode;
}

/* The root certificates for a verify-full vecmig chose itself, when the
 * user named none (sslrootcert, PGSSLROOTCERT, ~/.postgresql/root.crt):
 * the system's trust store, as libpq >= 16 spells it ("system"), or the
 * Debian/Ubuntu bundle for an older libpq. NULL: leave libpq's default. */
static const char *vm_pg_default_rootcert(const PQconninfoOption *opts)
{
    static const char bundle[] = "/etc/ssl/certs/ca-certificates.crt";
    if (vm_pg_opt(opts, "sslrootcert") || getenv("PGSSLROOTCERT"))
        return NULL;
    const char *home = getenv("HOME");
    char path[1024];
    if (home && snprintf(path, sizeof path, "%s/.postgresql/root.crt", home) < (int)sizeof path &&
        access(path, R_OK) == 0)
        return NULL;
    if (PQlibVersion() >= 160000)
        return "system";
    return access(bundle, R_OK) == 0 ? bundle : NULL;
}

/* ------------------------------------------------------- connections */

/* Server notices (NOTICE, WARNING) go to the log instead of libpq's
 * default of printing them to stderr. */
static void vm_pg_notice(void *arg, const char *message)
{
    (void)arg;
    char msg[VM_ERR_MSG_MAX];
    vm_pg_tidy(msg, sizeof msg, message);
    vm_debug("pg: %s", msg);
}

int vm_pg_connect(const char *conninfo, int connect_timeout_s, PGconn **out,
                  vm_err *err)
{
    return vm_pg_connect_tls(conninfo, connect_timeout_s, false, out, err);
}

/* Said once per process: the same settings reconnect in every thread. */
static atomic_bool vm_pg_warned_tls;

int vm_pg_connect_tls(const char *conninfo, int connect_timeout_s, bool insecure_tls,
                      PGconn **out, vm_err *err)
{
    int rc = 0;
    char *perr = NULL;
    PQconninfoOption *opts = NULL;
    PGconn *conn = NULL;
    char msg[VM_ERR_MSG_MAX];

    *out = NULL;
    if (!conninfo)
        return vm_err_set(err, VM_ERR_INVALID, false, "pg: no connection string");
    if (!(opts = PQconninfoParse(conninfo, &perr))) {
        if (!perr) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "pg: out of memory");
            goto cleanup;
        }
        vm_pg_tidy(msg, sizeof msg, perr);
        vm_pg_mask_quoted(msg);
        rc = vm_err_set(err, VM_ERR_INVALID, false, "pg: invalid connection string: %s", msg);
        goto cleanup;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0] &&
            vm_secret_add(o->val) != 0) {
            rc = vm_err_setc(err, VM_ERR_NOMEM, "pg: out of memory");
            goto cleanup;
        }

    bool unverified;
    const char *sslmode = vm_pg_tls_decide(opts, insecure_tls, &unverified);
    const char *rootcert = sslmode && strcmp(sslmode, "verify-full") == 0
                               ? vm_pg_default_rootcert(opts) : NULL;
    if (unverified && !atomic_exchange(&vm_pg_warned_tls, true)) {
        const char *shown = vm_pg_opt(opts, "host"), *given = vm_pg_opt(opts, "sslmode");
        if (!shown)
            shown = vm_pg_opt(opts, "hostaddr");
        if (!shown)
            shown = getenv("PGHOST") ? getenv("PGHOST") : getenv("PGHOSTADDR");
        if (!given)
            given = getenv("PGSSLMODE");
        vm_warn("pg: the certificate of server %.200s is not verified (%s%s): "
                "use sslmode=verify-full", shown ? shown : "(default)",
                sslmode ? "insecure_tls: true, sslmode=" : "sslmode=",
                sslmode ? sslmode : given ? given : "?");
    }

    /* the conninfo goes in as an expandable dbname; parameters after it
     * override what it says (and are only added when it says nothing) */
    char tmo[16];
    const char *kw[6], *val[6];
    int n = 0;
    kw[n] = "dbname";
    val[n++] = conninfo;
    if (sslmode) {
        kw[n] = "sslmode";
        val[n++] = sslmode;
    }
    if (rootcert) {
        kw[n] = "sslrootcert";
        val[n++] = rootcert;
    }
    if (connect_timeout_s > 0) {
        snprintf(tmo, sizeof tmo, "%d", connect_timeout_s);
        kw[n] = "connect_timeout";
        val[n++] = tmo;
    }
    kw[n] = "fallback_application_name";
    val[n++] = "vecmig";
    kw[n] = NULL;
    val[n] = NULL;
    if (!(conn = PQconnectdbParams(kw, val, 1))) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "pg: out of memory");
        goto cleanup;
    }
    /* the password libpq used, wherever it came from (PGPASSWORD, .pgpass) */
    if (PQpass(conn) && PQpass(conn)[0] && vm_secret_add(PQpass(conn)) != 0) {
        rc = vm_err_setc(err, VM_ERR_NOMEM, "pg: out of memory");
        goto cleanup;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        bool retriable;
        vm_pg_tidy(msg, sizeof msg, PQerrorMessage(conn));
        vm_code code = vm_pg_classify_connect_error(msg, &retriable);
        /* a TLS failure under the sslmode vecmig chose says so */
        if (sslmode && !strstr(msg, "SSL") && !strstr(msg, "certificate"))
            sslmode = NULL;
        rc = vm_err_set(err, code, retriable, "pg: connect: %s%s%s%s", msg,
                        sslmode ? " (vecmig used sslmode=" : "", sslmode ? sslmode : "",
                        !sslmode ? ""
                        : unverified
                            ? " for insecure_tls; set sslmode in the dsn to choose another)"
                            : " for a remote host: give sslrootcert, or set sslmode in the dsn, "
                              "or insecure_tls: true)");
        goto cleanup;
    }
    PQsetNoticeProcessor(conn, vm_pg_notice, NULL);
    *out = conn;
    conn = NULL;
cleanup:
    if (conn)
        PQfinish(conn);
    if (opts)
        PQconninfoFree(opts);
    if (perr)
        PQfreemem(perr);
    return rc;
}

int vm_pg_exec(PGconn *conn, const char *sql, int nparams,
               const char *const *values, const int *lengths,
               const int *formats, int result_format, PGresult **out,
               vm_err *err)
{
    int rc = 0;
    char msg[VM_ERR_MSG_MAX];
    PGresult *res = NULL;

    if (out)
        *out = NULL;
    if (!conn || !sql)
        return vm_err_set(err, VM_ERR_INVALID, false, "pg: exec without connection or SQL");
    res = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats, result_format);
    if (!res) {
        vm_pg_tidy(msg, sizeof msg, PQerrorMessage(conn));
        rc = vm_err_set(err, VM_ERR_IO, true, "pg: no result: %s",
                        msg[0] ? msg : "connection lost");
        goto cleanup;
    }
    ExecStatusType st = PQresultStatus(res);
    switch (st) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH:
        if (out) {
            *out = res;
            res = NULL;
        }
        goto cleanup;
    default:
        break;
    }

    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!primary || !primary[0])
        primary = PQresultErrorMessage(res);
    if (!primary || !primary[0])
        primary = PQerrorMessage(conn);
    if (!primary || !primary[0])
        primary = PQresStatus(st);
    vm_pg_tidy(msg, sizeof msg, primary);
    if (PQstatus(conn) == CONNECTION_BAD) {
        rc = vm_err_set(err, VM_ERR_IO, true, "pg: connection lost: %s (SQLSTATE %s)", msg,
                        state ? state : "none");
    } else if (st == PGRES_EMPTY_QUERY || st == PGRES_BAD_RESPONSE) {
        rc = vm_err_set(err, st == PGRES_EMPTY_QUERY ? VM_ERR_INVALID : VM_ERR_PROTOCOL, false,
                        "pg: %s: %s", PQresStatus(st), msg);
    } else {
        bool retriable;
        vm_code code = vm_pg_classify_sqlstate(state, &retriable);
        rc = vm_err_set(err, code, retriable, "pg: %s (SQLSTATE %s)", msg,
                        state ? state : "none");
    }
cleanup:
    if (res)
        PQclear(res);
    return rc;
}

int vm_pg_query_int64(PGconn *conn, const char *sql, int64_t *out, vm_err *err)
{
    int rc = 0;
    PGresult *res = NULL;
    if ((rc = vm_pg_exec(conn, sql, 0, NULL, NULL, NULL, 0, &res, err)) != 0)
        return rc;
    if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0)) {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false,
                        "pg: expected one non-NULL value, got %d row(s) x %d column(s)%s",
                        PQntuples(res), PQnfields(res),
                        PQntuples(res) == 1 && PQnfields(res) == 1 ? " (NULL)" : "");
        goto cleanup;
    }
    const char *s = PQgetvalue(res, 0, 0);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        rc = vm_err_set(err, VM_ERR_PROTOCOL, false, "pg: expected an integer, got '%.40s'", s);
        goto cleanup;
    }
    *out = (int64_t)v;
cleanup:
    PQclear(res);
    return rc;
}

/* --------------------------------------------------- binary decoding */

static uint32_t vm_pg_get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint16_t vm_pg_get_u16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] << 8 | u[1]);
}

int16_t vm_pg_get_i16(const char *p) { return (int16_t)vm_pg_get_u16(p); }

int32_t vm_pg_get_i32(const char *p) { return (int32_t)vm_pg_get_u32(p); }

int64_t vm_pg_get_i64(const char *p)
{
    return (int64_t)((uint64_t)vm_pg_get_u32(p) << 32 | vm_pg_get_u32(p + 4));
}

float vm_pg_get_f32(const char *p)
{
    uint32_t bits = vm_pg_get_u32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

double vm_pg_get_f64(const char *p)
{
    uint64_t bits = (uint64_t)vm_pg_get_i64(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

float vm_pg_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0 && man == 0) {
        bits = sign;
    } else if (exp == 0) {
        /* subnormal half: normalise, every one is a normal float */
        int shift = 0;
        while (!(man & 0x400u)) {
            man <<= 1;
            shift++;
        }
        man &= 0x3ffu;
        bits = sign | (uint32_t)(127 - 14 - shift) << 23 | man << 13;
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13; /* inf, NaN */
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Header and size checks shared by vector and halfvec: int16 dim, int16
 * unused, then dim elements of `esize` bytes, nothing after. */
static int vm_pg_check_dense(const char *what, const char *buf, int len, int esize,
                             int dim_expected, vm_err *err)
{
    if (!buf || len < 4)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "pg: %s: binary value of %d bytes is shorter than its header",
                          what, len);
    int dim = vm_pg_get_i16(buf);
    if (dim < 0)
        return vm_err_set(err, VM_ERR_PROTOCOL, false, "pg: %s: negative dimension %d",
                          what, dim);
    if ((long)len != 4 + (long)dim * esize)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "pg: %s: %d dimensions need %ld bytes, value has %d", what, dim,
                          4 + (long)dim * esize, len);
    if (dim != dim_expected)
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pg: %s: value has %d dimensions, expected %d", what, dim,
                          dim_expected);
    return 0;
}

int vm_pg_decode_vector(const char *buf, int len, float *out, int dim_expected,
                        vm_err *err)
{
    int rc = vm_pg_check_dense("vector", buf, len, 4, dim_expected, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < dim_expected; i++)
        out[i] = vm_pg_get_f32(buf + 4 + 4 * (size_t)i);
    return 0;
}

int vm_pg_decode_halfvec(const char *buf, int len, uint16_t *out, int dim_expected,
                         vm_err *err)
{
    int rc = vm_pg_check_dense("halfvec", buf, len, 2, dim_expected, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < dim_expected; i++)
        out[i] = vm_pg_get_u16(buf + 4 + 2 * (size_t)i);
    return 0;
}

int vm_pg_decode_sparsevec(const char *buf, int len, int *dim, uint32_t *idx,
                           float *val, int *nnz, int cap, vm_err *err)
{
    *dim = 0;
    *nnz = 0;
    if (!buf || len < 12)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "pg: sparsevec: binary value of %d bytes is shorter than its header",
                          len);
    int32_t d = vm_pg_get_i32(buf), n = vm_pg_get_i32(buf + 4);
    if (d < 0 || n < 0 || n > d)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "pg: sparsevec: bad header (dim %d, nnz %d)", (int)d, (int)n);
    if ((long long)len != 12 + (long long)n * 8)
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "pg: sparsevec: %d entries need %lld bytes, value has %d", (int)n,
                          12 + (long long)n * 8, len);
    if (n > cap) {
        *nnz = n;
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "pg: sparsevec: %d entries, room for %d", (int)n, cap);
    }
    const char *ip = buf + 12, *vp = buf + 12 + 4 * (size_t)n;
    int64_t prev = -1;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = vm_pg_get_i32(ip + 4 * (size_t)i);
        if (k <= prev || k >= d)
            return vm_err_set(err, VM_ERR_PROTOCOL, false,
                              "pg: sparsevec: index %d at entry %d out of order or >= dim %d",
                              (int)k, (int)i, (int)d);
        idx[i] = (uint32_t)k;
        val[i] = vm_pg_get_f32(vp + 4 * (size_t)i);
        prev = k;
    }
    *dim = d;
    *nnz = n;
    return 0;
}

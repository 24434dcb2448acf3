/*
 * vm_pg.h - a thin client over libpq for the PostgreSQL + pgvector source.
 *
 * Connections take a libpq conninfo string or URI, so sslmode, sslrootcert,
 * target_session_attrs and the rest pass through untouched (a remote
 * server without an sslmode gets verify-full: see vm_pg_connect_tls). The
 * password in it (or the one libpq found in PGPASSWORD / .pgpass) is
 * registered as a secret before anything can print it.
 *
 * Statements go through PQexecParams; a failure is classified by its
 * SQLSTATE (vm_pg_classify_sqlstate) so the retry loop knows a deadlock or a
 * restarting server from a typo in a table name.
 *
 * Vectors are read in pgvector's binary send format (network byte order),
 * which is exact where the text format would round-trip through decimal:
 *   vector    int16 dim, int16 unused, dim x float4
 *   halfvec   int16 dim, int16 unused, dim x IEEE half (uint16)
 *   sparsevec int32 dim, int32 nnz, int32 unused, nnz x int32 index
 *             (0-based, unlike the 1-based text form), nnz x float4
 * The decoders check every length against the buffer: malformed input is
 * VM_ERR_PROTOCOL, never a read past the end.
 */
#ifndef VM_PG_H
#define VM_PG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "vm_err.h"

/* ------------------------------------------------------------ errors */

/* Pure classification of a five-character SQLSTATE: the vm_code and whether
 * a retry may succeed. Class 08 (connection), 53 (insufficient resources),
 * 57P01/57P02/57P03 (shutdown, cannot connect now), 40001/40P01
 * (serialization failure, deadlock) and statement/lock timeouts are
 * retriable; 28 (auth, VM_ERR_AUTH), 42 (syntax, undefined objects), 22
 * (data), 23 (constraints) and everything unknown are fatal. */
vm_code vm_pg_classify_sqlstate(const char *sqlstate, bool *retriable);

/* Classify a connection failure from libpq's message (no SQLSTATE is
 * available before a session exists): authentication refused and unknown
 * databases or roles are fatal, anything else (refused, unreachable,
 * starting up, timeout) is retriable VM_ERR_IO. */
vm_code vm_pg_classify_connect_error(const char *msg, bool *retriable);

/* ------------------------------------------------------- connections */

/* Connect with a conninfo string or URI. connect_timeout_s > 0 overrides
 * any connect_timeout in conninfo. *out must be closed with PQfinish.
 * Same as vm_pg_connect_tls(..., insecure_tls = false, ...). */
int vm_pg_connect(const char *conninfo, int connect_timeout_s, PGconn **out,
                  vm_err *err);

/* TLS: certificates are verified by default. For a remote server (any host
 * that is not a Unix socket, localhost or a loopback address) whose
 * conninfo names no sslmode (and PGSSLMODE is unset), vecmig connects with
 * sslmode=verify-full, and, when no sslrootcert is named anywhere
 * (sslrootcert, PGSSLROOTCERT, ~/.postgresql/root.crt), with the system's
 * trust store as root certificates. insecure_tls asks for sslmode=require
 * instead (encrypted, unverified). An sslmode the user gave passes through
 * untouched. A remote connection that ends up unverified (insecure_tls, or
 * sslmode disable/allow/prefer/require) logs one warning per process. */
int vm_pg_connect_tls(const char *conninfo, int connect_timeout_s, bool insecure_tls,
                      PGconn **out, vm_err *err);

/* The decision alone (pure but for PGSSLMODE): the sslmode vecmig adds to
 * conninfo, or NULL (local server, an sslmode already given, or a conninfo
 * that does not parse); *unverified (may be NULL) tells whether a remote
 * server's certificate would go unchecked. */
const char *vm_pg_tls_sslmode(const char *conninfo, bool insecure_tls, bool *unverified);

/* PQexecParams. On success *out (if not NULL) holds the result for the
 * caller to PQclear; a result with COMMAND_OK, TUPLES_OK, or a COPY status
 * is success. On failure *out is NULL and err carries the server message
 * and SQLSTATE. result_format: 0 text, 1 binary. */
int vm_pg_exec(PGconn *conn, const char *sql, int nparams,
               const char *const *values, const int *lengths,
               const int *formats, int result_format, PGresult **out,
               vm_err *err);

/* A query returning exactly one non-NULL integer value (count, min, max). */
int vm_pg_query_int64(PGconn *conn, const char *sql, int64_t *out, vm_err *err);

/* --------------------------------------------------- binary decoding */

/* Big-endian (network order) loads; p must hold 2, 4 or 8 bytes. */
int16_t vm_pg_get_i16(const char *p);
int32_t vm_pg_get_i32(const char *p);
int64_t vm_pg_get_i64(const char *p);
float vm_pg_get_f32(const char *p);
double vm_pg_get_f64(const char *p);

/* IEEE 754 half (binary16) to float, exact (every half is a float). */
float vm_pg_half_to_float(uint16_t h);

/* vector: out holds dim_expected floats; the value must have exactly that
 * many dimensions (a mismatch is VM_ERR_INVALID). */
int vm_pg_decode_vector(const char *buf, int len, float *out, int dim_expected,
                        vm_err *err);

/* halfvec: out receives the raw IEEE half bits in host order. */
int vm_pg_decode_halfvec(const char *buf, int len, uint16_t *out, int dim_expected,
                         vm_err *err);

/* sparsevec: *dim gets the dimension count, idx/val the nnz entries with
 * 0-based indices (strictly increasing, < dim), *nnz their count. When the
 * value has more than cap entries nothing is written to idx/val, *nnz gets
 * the count needed and the result is VM_ERR_INVALID: grow and call again. */
int vm_pg_decode_sparsevec(const char *buf, int len, int *dim, uint32_t *idx,
                           float *val, int *nnz, int cap, vm_err *err);

#endif

/*
 * state_sqlite.c - the embedded state backend (vm_state_ops "embedded"): the
 * job and task state of vm_state.h in one SQLite file (state.path, default
 * .vecmig/state.db), with exactly the semantics of the Redis backend
 * (common/state/redis/state_redis_lua.h): each Lua script there is one
 * `BEGIN IMMEDIATE` transaction here that reads the task, decides, and
 * writes the task and the job counters together.
 *
 * Sharing. One vm_state is one SQLite connection (one per worker thread).
 * Several connections, in one process or several on the same machine, share
 * the file: WAL journal mode lets readers run beside the one writer, and a
 * busy timeout (VM_SS_BUSY_TIMEOUT_MS) makes a writer wait for the lock
 * instead of failing. Every mutation takes the write lock up front (BEGIN
 * IMMEDIATE): a deferred transaction that reads and then writes could fail
 * with SQLITE_BUSY at the upgrade without ever waiting, because another
 * writer changed its snapshot. After the timeout the error is
 * VM_ERR_UNAVAILABLE (retriable) and nothing was written.
 *
 * Durability. synchronous=FULL: in WAL mode every COMMIT then fsyncs the WAL
 * before it returns, so a checkpoint reported done survives SIGKILL and a
 * power loss. NORMAL would only fsync at WAL checkpoints: a crash of the
 * process would still be safe, but a power loss could drop the last
 * commits, and a resumed worker would then redo (and count again) batches
 * the store had already confirmed.
 *
 * Clock. Leases are on CLOCK_REALTIME milliseconds of the calling process.
 * The embedded store is one machine, so every connection reads the same
 * clock; the monotonic clock would not do because leases must survive a
 * restart of the process (it restarts at boot and means nothing in
 * another process). A wall-clock step changes the remaining lease time
 * once, like a TIME jump on a Redis server.
 *
 * Lost outcomes. As in the Redis backend, claim, checkpoint and finish carry
 * an operation id that the task remembers; repeating the same call after a
 * retriable error reuses it, and a mutation already applied is answered as
 * applied instead of being applied twice. With SQLite a retriable error
 * (BUSY) always means "rolled back", so this only guards the rare COMMIT
 * whose outcome is unknown; it keeps both backends interchangeable.
 *
 * Nothing secret is stored: the job record is the caller's, task errors are
 * redacted before they are written.
 */
#include "state_sqlite.h"

#include "vm_buf.h"
#include "vm_log.h"
#include "vm_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VM_SS_DEFAULT_PATH ".vecmig/state.db"

/* ---- SQL ------------------------------------------------------------------ */

/* Schema version 1. Job-wide counters live in the job row and change in the
 * same transaction as the tasks, so they can never disagree with them. */
static const char vm_ss_schema_v1[] =
    "CREATE TABLE jobs (\n"
    "  id TEXT PRIMARY KEY NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  record TEXT NOT NULL,\n"
    "  created_ms INTEGER NOT NULL,\n"
    "  updated_ms INTEGER NOT NULL,\n"
    "  token_seq INTEGER NOT NULL DEFAULT 0,\n"
    "  tasks_total INTEGER NOT NULL DEFAULT 0,\n"
    "  tasks_pending INTEGER NOT NULL DEFAULT 0,\n"
    "  tasks_running INTEGER NOT NULL DEFAULT 0,\n"
    "  tasks_done INTEGER NOT NULL DEFAULT 0,\n"
    "  tasks_failed INTEGER NOT NULL DEFAULT 0,\n"
    "  rows_read INTEGER NOT NULL DEFAULT 0,\n"
    "  rows_written INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE tasks (\n"
    "  job TEXT NOT NULL,\n"
    "  id INTEGER NOT NULL,\n"
    "  task TEXT NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  owner TEXT,\n"
    "  token INTEGER NOT NULL DEFAULT 0,\n"
    "  lease_until INTEGER NOT NULL DEFAULT 0,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  cursor TEXT,\n"
    "  rows_read INTEGER NOT NULL DEFAULT 0,\n"
    "  rows_written INTEGER NOT NULL DEFAULT 0,\n"
    "  error TEXT,\n"
    "  op TEXT,\n"
    "  updated_ms INTEGER NOT NULL,\n"
    "  PRIMARY KEY (job, id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX tasks_leases ON tasks (job, lease_until) WHERE state = 'running';\n";

/* Version 1 -> 2: the job's cancel request (store-clock ms, 0 = none). */
static const char vm_ss_schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN cancel_ms INTEGER NOT NULL DEFAULT 0;\n";

/* Version 2 -> 3: per-task times and stats for the report, the stored
 * report. Each column is added only when missing (vm_ss_add_column). */
static const char *const vm_ss_schema_v3[][3] = {
    {"tasks", "first_claim_ms", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "finished_ms", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "retries", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "splits", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "changed", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "truncated", "INTEGER NOT NULL DEFAULT 0"},
    {"tasks", "run_ms", "INTEGER NOT NULL DEFAULT 0"},
    {"jobs", "report", "TEXT"},
};

/* Version 3 -> 4: the worker registry (vm_state_worker_beat). */
static const char vm_ss_schema_v4[] =
    "CREATE TABLE IF NOT EXISTS workers (\n"
    "  job TEXT NOT NULL,\n"
    "  worker TEXT NOT NULL,\n"
    "  task INTEGER NOT NULL,\n"
    "  beat_ms INTEGER NOT NULL,\n"
    "  rows INTEGER NOT NULL,\n"
    "  PRIMARY KEY (job, worker)\n"
    ") WITHOUT ROWID;\n";

/* Version 4 -> 5: the coordinators' leader lock (vm_state_leader_*), one
 * row per job; job_delete leaves it (its holder may be re-planning). */
static const char vm_ss_schema_v5[] =
    "CREATE TABLE IF NOT EXISTS leaders (\n"
    "  job TEXT PRIMARY KEY NOT NULL,\n"
    "  owner TEXT NOT NULL,\n"
    "  until_ms INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n";

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_JOB_PUT,
    Q_JOB_GET,
    Q_JOB_STATE,
    Q_JOBS_LIST,
    Q_JOB_COUNTERS,
    Q_JOB_EXISTS,
    Q_JOB_DEL_TASKS,
    Q_JOB_DEL,
    Q_JOB_ADD,
    Q_JOB_TASKS_PUT,
    Q_TOKEN_NEXT,
    Q_TASK_TEXT,
    Q_TASK_INSERT,
    Q_TASK_ROW,
    Q_TASK_CLAIM,
    Q_TASK_LEASE,
    Q_TASK_CHECKPOINT,
    Q_TASK_FINISH,
    Q_TASK_RESET,
    Q_TASK_STATUS,
    Q_TASKS_LIST,
    Q_TASKS_EXPIRED,
    Q_JOB_CANCEL_READ,
    Q_JOB_CANCEL,
    Q_JOB_RESUME,
    Q_TASK_STATS_ADD,
    Q_JOB_REPORT_PUT,
    Q_JOB_REPORT_GET,
    Q_WORKER_BEAT,
    Q_WORKERS_DROP,
    Q_WORKERS_LIST,
    Q_JOB_DEL_WORKERS,
    Q_LEADER_GET,
    Q_LEADER_PUT,
    Q_LEADER_DEL,
    Q__COUNT
};

#define VM_SS_STATUS_COLS                                                                  \
    "id, state, owner, token, lease_until, attempts, cursor, rows_read, rows_written, error, " \
    "task, first_claim_ms, finished_ms, retries, splits, changed, truncated, run_ms"

static const char *const vm_ss_sql[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_JOB_PUT] = "INSERT INTO jobs (id, state, record, created_ms, updated_ms) "
                  "VALUES (?1, 'planning', ?2, ?3, ?3) "
                  "ON CONFLICT (id) DO UPDATE SET record = excluded.record, "
                  "updated_ms = excluded.updated_ms",
    [Q_JOB_GET] = "SELECT state, record, created_ms, updated_ms, cancel_ms FROM jobs "
                  "WHERE id = ?1",
    [Q_JOB_STATE] = "UPDATE jobs SET state = ?2, updated_ms = ?3 WHERE id = ?1",
    [Q_JOBS_LIST] = "SELECT id FROM jobs ORDER BY id",
    [Q_JOB_COUNTERS] = "SELECT tasks_total, tasks_pending, tasks_running, tasks_done, "
                       "tasks_failed, rows_read, rows_written, cancel_ms FROM jobs "
                       "WHERE id = ?1",
    [Q_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
    [Q_JOB_DEL_TASKS] = "DELETE FROM tasks WHERE job = ?1",
    [Q_JOB_DEL] = "DELETE FROM jobs WHERE id = ?1",
    /* deltas: pending, running, done, failed, rows_read, rows_written */
    [Q_JOB_ADD] = "UPDATE jobs SET tasks_pending = tasks_pending + ?2, "
                  "tasks_running = tasks_running + ?3, tasks_done = tasks_done + ?4, "
                  "tasks_failed = tasks_failed + ?5, rows_read = rows_read + ?6, "
                  "rows_written = rows_written + ?7 WHERE id = ?1",
    [Q_JOB_TASKS_PUT] = "UPDATE jobs SET tasks_pending = tasks_pending + ?2, "
                        "tasks_total = (SELECT count(*) FROM tasks WHERE job = ?1), "
                        "updated_ms = ?3 WHERE id = ?1",
    [Q_TOKEN_NEXT] = "UPDATE jobs SET token_seq = token_seq + 1 WHERE id = ?1 "
                     "RETURNING token_seq",
    [Q_TASK_TEXT] = "SELECT task FROM tasks WHERE job = ?1 AND id = ?2",
    [Q_TASK_INSERT] = "INSERT INTO tasks (job, id, task, state, updated_ms) "
                      "VALUES (?1, ?2, ?3, 'pending', ?4)",
    [Q_TASK_ROW] = "SELECT state, owner, token, lease_until, attempts, cursor, rows_read, "
                   "rows_written, op FROM tasks WHERE job = ?1 AND id = ?2",
    [Q_TASK_CLAIM] = "UPDATE tasks SET state = 'running', owner = ?3, token = ?4, "
                     "lease_until = ?5, attempts = attempts + 1, op = ?6, updated_ms = ?7, "
                     "first_claim_ms = CASE WHEN first_claim_ms = 0 THEN ?7 "
                     "ELSE first_claim_ms END "
                     "WHERE job = ?1 AND id = ?2",
    [Q_TASK_LEASE] = "UPDATE tasks SET lease_until = ?3 WHERE job = ?1 AND id = ?2",
    [Q_TASK_CHECKPOINT] = "UPDATE tasks SET cursor = coalesce(?3, cursor), "
                          "rows_read = rows_read + ?4, rows_written = rows_written + ?5, "
                          "lease_until = ?6, op = ?7, updated_ms = ?8 "
                          "WHERE job = ?1 AND id = ?2",
    /* error: the new one if given; finishing as done clears the last one */
    [Q_TASK_FINISH] = "UPDATE tasks SET state = ?3, op = ?4, updated_ms = ?5, finished_ms = ?5, "
                      "error = CASE WHEN ?6 IS NOT NULL THEN ?6 "
                      "WHEN ?3 = 'done' THEN NULL ELSE error END "
                      "WHERE job = ?1 AND id = ?2",
    [Q_TASK_RESET] = "UPDATE tasks SET state = 'pending', attempts = 0, owner = NULL, "
                     "op = NULL, updated_ms = ?3 WHERE job = ?1 AND id = ?2",
    [Q_TASK_STATUS] = "SELECT " VM_SS_STATUS_COLS " FROM tasks WHERE job = ?1 AND id = ?2",
    [Q_TASKS_LIST] = "SELECT " VM_SS_STATUS_COLS " FROM tasks WHERE job = ?1 ORDER BY id",
    [Q_TASKS_EXPIRED] = "SELECT id FROM tasks WHERE job = ?1 AND state = 'running' "
                        "AND lease_until < ?2 ORDER BY id",
    [Q_JOB_CANCEL_READ] = "SELECT state, cancel_ms FROM jobs WHERE id = ?1",
    [Q_JOB_CANCEL] = "UPDATE jobs SET cancel_ms = ?2, updated_ms = ?2 WHERE id = ?1",
    /* a job that is over runs again; the others keep their state */
    [Q_JOB_RESUME] = "UPDATE jobs SET cancel_ms = 0, updated_ms = ?2, state = CASE "
                     "WHEN state IN ('done', 'failed', 'cancelled') THEN 'running' "
                     "ELSE state END WHERE id = ?1",
    [Q_TASK_STATS_ADD] = "UPDATE tasks SET retries = retries + ?3, splits = splits + ?4, "
                         "changed = changed + ?5, truncated = truncated + ?6, "
                         "run_ms = run_ms + ?7 WHERE job = ?1 AND id = ?2",
    [Q_JOB_REPORT_PUT] = "UPDATE jobs SET report = ?2 WHERE id = ?1",
    [Q_JOB_REPORT_GET] = "SELECT report FROM jobs WHERE id = ?1",
    [Q_WORKER_BEAT] = "INSERT INTO workers (job, worker, task, beat_ms, rows) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job, worker) DO UPDATE SET "
                      "task = excluded.task, beat_ms = excluded.beat_ms, rows = excluded.rows",
    [Q_WORKERS_DROP] = "DELETE FROM workers WHERE job = ?1 AND beat_ms < ?2",
    [Q_WORKERS_LIST] = "SELECT worker, task, rows, beat_ms FROM workers WHERE job = ?1 "
                       "ORDER BY worker",
    [Q_JOB_DEL_WORKERS] = "DELETE FROM workers WHERE job = ?1",
    [Q_LEADER_GET] = "SELECT owner, until_ms FROM leaders WHERE job = ?1",
    [Q_LEADER_PUT] = "INSERT INTO leaders (job, owner, until_ms) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, "
                     "until_ms = excluded.until_ms",
    [Q_LEADER_DEL] = "DELETE FROM leaders WHERE job = ?1 AND owner = ?2",
};

typedef struct vm_ss {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[Q__COUNT];
    char nonce[17];
    uint64_t seq;
    /* the last mutation that failed with a retriable error: its arguments
     * and the op id to reuse when the same call comes again */
    bool pend;
    vm_buf pend_key;
    char pend_op[48];
} vm_ss;

/* A task row as the transitions read it (owned strings). */
typedef struct vm_ss_row {
    vm_task_state state;
    char *owner, *cursor, *op;
    uint64_t token;
    int64_t lease_until, attempts, rows_read, rows_written;
} vm_ss_row;

static void vm_ss_row_release(vm_ss_row *r)
{
    vm_free(r->owner);
    vm_free(r->cursor);
    vm_free(r->op);
    memset(r, 0, sizeof *r);
}

/* ---- errors ------------------------------------------------------------------ */

int vm_ss_error(int sqlite_rc, const char *path, const char *what, const char *detail,
                vm_err *err)
{
    const char *p = path ? path : "?", *w = what ? what : "?";
    const char *d = detail ? detail : sqlite3_errstr(sqlite_rc);
    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
        return vm_err_set(err, VM_ERR_UNAVAILABLE, true,
                          "state file %s: %s: locked by another connection (%s)", p, w, d);
    case SQLITE_NOMEM:
        return vm_err_set(err, VM_ERR_NOMEM, false, "state file %s: %s: out of memory", p, w);
    case SQLITE_FULL:
        return vm_err_set(err, VM_ERR_IO, false, "state file %s: %s: disk full (%s)", p, w, d);
    case SQLITE_IOERR:
        return vm_err_set(err, VM_ERR_IO, false, "state file %s: %s: I/O error (%s)", p, w, d);
    case SQLITE_CANTOPEN:
        return vm_err_set(err, VM_ERR_IO, false, "state file %s: %s: cannot open (%s)", p, w, d);
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return vm_err_set(err, VM_ERR_IO, false, "state file %s: %s: not writable (%s)", p, w, d);
    case SQLITE_CORRUPT:
        return vm_err_set(err, VM_ERR_PROTOCOL, false,
                          "state file %s: %s: the database is corrupt (%s); restore it or start "
                          "the job again with another state.path",
                          p, w, d);
    case SQLITE_NOTADB:
        return vm_err_set(err, VM_ERR_INVALID, false,
                          "state file %s: %s: not an SQLite database (%s); check state.path", p,
                          w, d);
    default:
        return vm_err_set(err, VM_ERR_INTERNAL, false, "state file %s: %s: SQLite error %d (%s)",
                          p, w, sqlite_rc, d);
    }
}

static int vm_ss_fail(vm_ss *s, int rc, const char *what, vm_err *err)
{
    return vm_ss_error(rc, s->path, what, s->db ? sqlite3_errmsg(s->db) : NULL, err);
}

static int vm_ss_nomem(vm_err *err)
{
    return vm_err_setc(err, VM_ERR_NOMEM, "state: out of memory");
}

/* ---- statements ---------------------------------------------------------------- */

static int64_t vm_ss_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reset and unbind a statement (a SELECT left unreset would pin a snapshot). */
static void vm_ss_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* The cached statement q with its parameters bound from fmt: 's' text (NULL
 * binds NULL), 'i' int64_t, 'u' uint32_t. Parameters are bound STATIC: keep
 * them alive until vm_ss_done. */
static int vm_ss_prepv(vm_ss *s, int q, sqlite3_stmt **out, vm_err *err, const char *fmt,
                       va_list ap)
{
    int rc = SQLITE_OK;
    *out = NULL;
    if (!s->stmt[q]) {
        rc = sqlite3_prepare_v3(s->db, vm_ss_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q],
                                NULL);
        if (rc != SQLITE_OK)
            return vm_ss_fail(s, rc, "prepare", err);
    }
    sqlite3_stmt *st = s->stmt[q];
    vm_ss_done(st);
    for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
        if (fmt[i] == 's') {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(st, i + 1);
        } else if (fmt[i] == 'i') {
            rc = sqlite3_bind_int64(st, i + 1, (sqlite3_int64)va_arg(ap, int64_t));
        } else {
            rc = sqlite3_bind_int64(st, i + 1, (sqlite3_int64)va_arg(ap, uint32_t));
        }
    }
    if (rc != SQLITE_OK) {
        vm_ss_done(st);
        return vm_ss_fail(s, rc, "bind", err);
    }
    *out = st;
    return 0;
}

static int vm_ss_prep(vm_ss *s, int q, sqlite3_stmt **out, vm_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vm_ss_prepv(s, q, out, err, fmt, ap);
    va_end(ap);
    return rc;
}

/* Step a prepared statement that returns no rows (or whose rows are not
 * wanted) to its end, and reset it. */
static int vm_ss_run(vm_ss *s, sqlite3_stmt *st, const char *what, vm_err *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    vm_ss_done(st);
    return rc == SQLITE_DONE ? 0 : vm_ss_fail(s, rc, what, err);
}

/* Prepare, bind (as vm_ss_prep) and run in one call. */
static int vm_ss_do(vm_ss *s, int q, const char *what, vm_err *err, const char *fmt, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    va_start(ap, fmt);
    int rc = vm_ss_prepv(s, q, &st, err, fmt, ap);
    va_end(ap);
    return rc ? rc : vm_ss_run(s, st, what, err);
}

static int vm_ss_exec(vm_ss *s, int q, const char *what, vm_err *err)
{
    sqlite3_stmt *st;
    int rc = vm_ss_prep(s, q, &st, err, "");
    return rc ? rc : vm_ss_run(s, st, what, err);
}

static int vm_ss_begin(vm_ss *s, vm_err *err)
{
    return vm_ss_exec(s, Q_BEGIN, "begin transaction", err);
}

static void vm_ss_rollback(vm_ss *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        vm_err ignored;
        vm_ss_exec(s, Q_ROLLBACK, "rollback", &ignored);
    }
}

static int vm_ss_commit(vm_ss *s, vm_err *err)
{
    int rc = vm_ss_exec(s, Q_COMMIT, "commit", err);
    if (rc != 0)
        vm_ss_rollback(s);
    return rc;
}

/* End a transaction: commit when rc is 0, else roll back. */
static int vm_ss_end(vm_ss *s, int rc, vm_err *err)
{
    if (rc == 0)
        return vm_ss_commit(s, err);
    vm_ss_rollback(s);
    return rc;
}

static int vm_ss_col_dup(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    *out = NULL;
    if (!v)
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : VM_ERR_NOMEM;
    return (*out = vm_strndup((const char *)v, (size_t)sqlite3_column_bytes(st, col)))
               ? 0
               : VM_ERR_NOMEM;
}

static int vm_ss_no_task(vm_err *err, const char *job, uint32_t task)
{
    return vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s: no task %u", job, (unsigned)task);
}

static int vm_ss_bad_state(vm_err *err, const char *job, uint32_t task)
{
    return vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: unknown stored state", job,
                       (unsigned)task);
}

/* Read the task row that a transition decides on. VM_ERR_NOT_FOUND if the
 * task does not exist. */
static int vm_ss_task_row(vm_ss *s, const char *job, uint32_t task, vm_ss_row *r, vm_err *err)
{
    sqlite3_stmt *st;
    memset(r, 0, sizeof *r);
    int rc = vm_ss_prep(s, Q_TASK_ROW, &st, err, "su", job, task);
    if (rc)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = vm_ss_no_task(err, job, task);
        goto cleanup;
    }
    if (src != SQLITE_ROW) {
        rc = vm_ss_fail(s, src, "read task", err);
        goto cleanup;
    }
    if (vm_task_state_parse((const char *)sqlite3_column_text(st, 0), &r->state) != 0) {
        rc = vm_ss_bad_state(err, job, task);
        goto cleanup;
    }
    r->token = (uint64_t)sqlite3_column_int64(st, 2);
    r->lease_until = sqlite3_column_int64(st, 3);
    r->attempts = sqlite3_column_int64(st, 4);
    r->rows_read = sqlite3_column_int64(st, 6);
    r->rows_written = sqlite3_column_int64(st, 7);
    if (vm_ss_col_dup(st, 1, &r->owner) || vm_ss_col_dup(st, 5, &r->cursor) ||
        vm_ss_col_dup(st, 8, &r->op))
        rc = vm_ss_nomem(err);
cleanup:
    vm_ss_done(st);
    if (rc != 0)
        vm_ss_row_release(r);
    return rc;
}

static bool vm_ss_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int vm_ss_fenced(const vm_ss_row *r, const char *job, uint32_t task, uint64_t token,
                        vm_err *err)
{
    return vm_err_set(err, VM_ERR_FENCED, false,
                      "state: job %s task %u: token %" PRIu64
                      " no longer owns the task (now %s%s%s, token %" PRIu64 ")",
                      job, (unsigned)task, token, vm_task_state_name(r->state),
                      r->owner ? " under " : "", r->owner ? r->owner : "", r->token);
}

/* Job counter deltas, in the order of Q_JOB_ADD. */
static int vm_ss_job_add(vm_ss *s, const char *job, int64_t pending, int64_t running,
                         int64_t done, int64_t failed, int64_t rows_read, int64_t rows_written,
                         vm_err *err)
{
    return vm_ss_do(s, Q_JOB_ADD, "update job counters", err, "siiiiii", job, pending, running,
                      done, failed, rows_read, rows_written);
}

/* One task-state count moving: -1 from `from`, +1 to `to`. */
static int vm_ss_job_move(vm_ss *s, const char *job, vm_task_state from, vm_task_state to,
                          vm_err *err)
{
    int64_t d[VM_TASK__COUNT] = {0};
    d[from]--;
    d[to]++;
    return vm_ss_job_add(s, job, d[VM_TASK_PENDING], d[VM_TASK_RUNNING], d[VM_TASK_DONE],
                         d[VM_TASK_FAILED], 0, 0, err);
}

/* ---- operation ids --------------------------------------------------------------- */


/* The op id for a call whose arguments are key: the pending one when the
 * same call follows a retriable failure, else a new one. A key that could
 * not be built (out of memory) is released and reported. */
static int vm_ss_op_for(vm_ss *s, vm_buf *key, char op[48], vm_err *err)
{
    if (!vm_buf_ok(key)) {
        vm_buf_release(key);
        return vm_ss_nomem(err);
    }
    if (s->pend && key->len == s->pend_key.len &&
        memcmp(key->data, s->pend_key.data, key->len) == 0)
        snprintf(op, 48, "%s", s->pend_op);
    else
        snprintf(op, 48, "%s-%" PRIu64, s->nonce, ++s->seq);
    return 0;
}

/* Remember the call when it failed with a retriable error; releases key. */
static void vm_ss_op_done(vm_ss *s, vm_buf *key, const char *op, int rc, const vm_err *err)
{
    s->pend = rc != 0 && (err ? err->retriable : vm_code_retriable((vm_code)rc));
    if (s->pend) {
        vm_buf t = s->pend_key;
        s->pend_key = *key;
        *key = t;
        snprintf(s->pend_op, sizeof s->pend_op, "%s", op);
    }
    vm_buf_release(key);
}

static void vm_ss_key_add(vm_buf *b, const char *v)
{
    vm_buf_putc(b, v ? 's' : 'n');
    if (v)
        vm_buf_puts(b, v);
    vm_buf_putc(b, '\0');
}

static void vm_ss_key_num(vm_buf *b, int64_t v)
{
    vm_buf_i64(b, v);
    vm_buf_putc(b, '\0');
}

/* ---- open / close ------------------------------------------------------------------- */

/* mkdir -p of the directory part of path. */
static int vm_ss_mkdirs(const char *path, vm_err *err)
{
    char *dir = vm_strdup(path);
    int rc = 0;
    if (!dir)
        return vm_ss_nomem(err);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        goto cleanup;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            rc = vm_err_set(err, VM_ERR_IO, false, "state file %s: cannot create directory %s: %s",
                            path, dir, strerror(errno));
            goto cleanup;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat sb;
    *slash = '\0';
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        rc = vm_err_set(err, VM_ERR_IO, false, "state file %s: %s is not a directory", path, dir);
cleanup:
    vm_free(dir);
    return rc;
}

/* A one-row, one-integer PRAGMA or query. */
static int vm_ss_int_query(vm_ss *s, const char *sql, int64_t *out, vm_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : vm_ss_fail(s, rc, sql, err);
}

static int vm_ss_exec_sql(vm_ss *s, const char *sql, const char *what, vm_err *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : vm_ss_fail(s, rc, what, err);
}

/* ALTER TABLE table ADD COLUMN name decl, unless the column exists. */
static int vm_ss_add_column(vm_ss *s, const char *table, const char *name, const char *decl,
                            vm_err *err)
{
    char sql[256];
    int64_t has = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'",
             table, name);
    int rc = vm_ss_int_query(s, sql, &has, err);
    if (rc != 0 || has)
        return rc;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, name, decl);
    return vm_ss_exec_sql(s, sql, "migrate schema to version 3", err);
}

/* Create the schema in a new file, or check the one found. */
static int vm_ss_schema(vm_ss *s, vm_err *err)
{
    int64_t version = 0, app = 0, objects = 0;
    char sql[128];
    int rc;
    if ((rc = vm_ss_int_query(s, "PRAGMA user_version", &version, err)) != 0 ||
        (rc = vm_ss_int_query(s, "PRAGMA application_id", &app, err)) != 0)
        return rc;
    if (version == VM_SS_SCHEMA_VERSION && app == VM_SS_APPLICATION_ID)
        return 0;
    /* decide again under the write lock: another connection may be
     * creating the schema right now */
    if ((rc = vm_ss_exec_sql(s, "BEGIN IMMEDIATE", "begin transaction", err)) != 0)
        return rc;
    if ((rc = vm_ss_int_query(s, "PRAGMA user_version", &version, err)) != 0 ||
        (rc = vm_ss_int_query(s, "PRAGMA application_id", &app, err)) != 0 ||
        (rc = vm_ss_int_query(s, "SELECT count(*) FROM sqlite_master", &objects, err)) != 0)
        goto cleanup;
    if (app != VM_SS_APPLICATION_ID && (app != 0 || objects != 0)) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "state file %s: an SQLite database that is not a vecmig state file; "
                        "check state.path",
                        s->path);
        goto cleanup;
    }
    if (version > VM_SS_SCHEMA_VERSION) {
        rc = vm_err_set(err, VM_ERR_UNSUPPORTED, false,
                        "state file %s: schema version %" PRId64
                        " is newer than this vecmig supports (%d); upgrade vecmig",
                        s->path, version, VM_SS_SCHEMA_VERSION);
        goto cleanup;
    }
    if (version == 0) {
        if ((rc = vm_ss_exec_sql(s, vm_ss_schema_v1, "create schema", err)) != 0)
            goto cleanup;
        version = 1;
    }
    /* later versions: one step per version, in this transaction */
    if (version == 1) {
        if ((rc = vm_ss_exec_sql(s, vm_ss_schema_v2, "migrate schema to version 2", err)) != 0)
            goto cleanup;
        version = 2;
    }
    if (version == 2) {
        for (size_t i = 0; i < sizeof vm_ss_schema_v3 / sizeof vm_ss_schema_v3[0]; i++)
            if ((rc = vm_ss_add_column(s, vm_ss_schema_v3[i][0], vm_ss_schema_v3[i][1],
                                       vm_ss_schema_v3[i][2], err)) != 0)
                goto cleanup;
        version = 3;
    }
    if (version == 3) {
        if ((rc = vm_ss_exec_sql(s, vm_ss_schema_v4, "migrate schema to version 4", err)) != 0)
            goto cleanup;
        version = 4;
    }
    if (version == 4) {
        if ((rc = vm_ss_exec_sql(s, vm_ss_schema_v5, "migrate schema to version 5", err)) != 0)
            goto cleanup;
        version = 5;
    }
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
             VM_SS_APPLICATION_ID, VM_SS_SCHEMA_VERSION);
    if ((rc = vm_ss_exec_sql(s, sql, "set schema version", err)) != 0)
        goto cleanup;
    rc = vm_ss_exec_sql(s, "COMMIT", "commit schema", err);
cleanup:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void vm_ss_close(void *st)
{
    vm_ss *s = st;
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close_v2(s->db);
    vm_free(s->path);
    vm_buf_release(&s->pend_key);
    memset(s, 0, sizeof *s);
}

static int vm_ss_open(void *st, const vm_job_state_conf *conf, vm_err *err)
{
    vm_ss *s = st;
    int rc = 0;
    const char *path = conf->path && *conf->path ? conf->path : VM_SS_DEFAULT_PATH;
    vm_buf_init(&s->pend_key);
    if (!(s->path = vm_strdup(path)))
        return vm_ss_nomem(err);
    if ((rc = vm_ss_mkdirs(path, err)) != 0)
        goto cleanup;
    /* one connection per thread at a time (vm_state.h): no mutex needed */
    int src = sqlite3_open_v2(path, &s->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (src != SQLITE_OK) {
        rc = vm_ss_fail(s, src, "open", err);
        goto cleanup;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, VM_SS_BUSY_TIMEOUT_MS);
    /* WAL: readers beside one writer, commits append to the log */
    sqlite3_stmt *jm = NULL;
    src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(jm)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(jm, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            rc = vm_err_set(err, VM_ERR_IO, false,
                            "state file %s: the filesystem does not support WAL journal mode "
                            "(mode is %s); put state.path on a local disk",
                            path, mode ? mode : "?");
        src = SQLITE_OK;
    }
    sqlite3_finalize(jm);
    if (rc != 0)
        goto cleanup;
    if (src != SQLITE_OK) {
        rc = vm_ss_fail(s, src, "set journal mode", err);
        goto cleanup;
    }
    /* FULL, not NORMAL: see the top of this file */
    if ((rc = vm_ss_exec_sql(s, "PRAGMA synchronous = FULL", "set synchronous", err)) != 0 ||
        (rc = vm_ss_schema(s, err)) != 0)
        goto cleanup;
    vm_state_nonce(s->nonce);
cleanup:
    if (rc != 0)
        vm_ss_close(s);
    return rc;
}

void vm_ss_set_busy_timeout(void *st, int ms)
{
    vm_ss *s = st;
    sqlite3_busy_timeout(s->db, ms);
}

/* ---- jobs ----------------------------------------------------------------------------- */

static int vm_ss_job_put(void *st, const char *job, const json_t *record, vm_err *err)
{
    vm_ss *s = st;
    char *text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
    int rc;
    if (!text)
        return vm_err_setc(err, VM_ERR_NOMEM, "state: job %s: cannot encode the record", job);
    if ((rc = vm_ss_begin(s, err)) == 0) {
        rc = vm_ss_do(s, Q_JOB_PUT, "store job", err, "ssi", job, text, vm_ss_now_ms());
        rc = vm_ss_end(s, rc, err);
    }
    free(text);
    return rc;
}

static int vm_ss_job_get(void *st, const char *job, vm_job_info *out, vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    int rc = vm_ss_prep(s, Q_JOB_GET, &q, err, "s", job);
    if (rc)
        return rc;
    int src = sqlite3_step(q);
    if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
        goto cleanup;
    }
    if (src != SQLITE_ROW) {
        rc = vm_ss_fail(s, src, "read job", err);
        goto cleanup;
    }
    const char *rec = (const char *)sqlite3_column_text(q, 1);
    json_error_t je;
    if (vm_job_state_parse((const char *)sqlite3_column_text(q, 0), &out->state) != 0 || !rec ||
        !(out->record = json_loadb(rec, (size_t)sqlite3_column_bytes(q, 1),
                                   JSON_REJECT_DUPLICATES, &je))) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unreadable stored job", job);
        goto cleanup;
    }
    out->created_ms = sqlite3_column_int64(q, 2);
    out->updated_ms = sqlite3_column_int64(q, 3);
    out->cancel_ms = sqlite3_column_int64(q, 4);
    if (!(out->id = vm_strdup(job)))
        rc = vm_ss_nomem(err);
cleanup:
    vm_ss_done(q);
    if (rc != 0)
        vm_job_info_release(out);
    return rc;
}

static int vm_ss_job_set_state(void *st, const char *job, vm_job_state state, vm_err *err)
{
    vm_ss *s = st;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    rc = vm_ss_do(s, Q_JOB_STATE, "set job state", err, "ssi", job, vm_job_state_name(state),
                    vm_ss_now_ms());
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_jobs_list(void *st, char ***ids, size_t *n, vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    char **v = NULL;
    size_t k = 0, cap = 0;
    int src, rc = vm_ss_prep(s, Q_JOBS_LIST, &q, err, "");
    if (rc)
        return rc;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        if (vm_grow((void **)&v, &cap, k + 1, sizeof *v) != 0 || vm_ss_col_dup(q, 0, &v[k]) != 0) {
            rc = vm_ss_nomem(err);
            goto cleanup;
        }
        if (v[k])
            k++;
    }
    if (src != SQLITE_DONE) {
        rc = vm_ss_fail(s, src, "list jobs", err);
        goto cleanup;
    }
    *ids = v;
    *n = k;
    v = NULL;
cleanup:
    vm_ss_done(q);
    vm_state_ids_free(v, k);
    return rc;
}

static int vm_ss_job_counters(void *st, const char *job, vm_job_counters *out, vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    int rc = vm_ss_prep(s, Q_JOB_COUNTERS, &q, err, "s", job);
    if (rc)
        return rc;
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        int64_t *f[] = {&out->tasks_total, &out->pending,   &out->running,
                        &out->done,        &out->failed,    &out->rows_read,
                        &out->rows_written, &out->cancel_ms};
        for (int i = 0; i < (int)(sizeof f / sizeof f[0]); i++)
            *f[i] = sqlite3_column_int64(q, i);
    } else if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else {
        rc = vm_ss_fail(s, src, "read job counters", err);
    }
    vm_ss_done(q);
    return rc;
}

static int vm_ss_job_delete(void *st, const char *job, vm_err *err)
{
    vm_ss *s = st;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_do(s, Q_JOB_DEL_TASKS, "delete tasks", err, "s", job)) == 0 &&
        (rc = vm_ss_do(s, Q_JOB_DEL_WORKERS, "delete workers", err, "s", job)) == 0)
        rc = vm_ss_do(s, Q_JOB_DEL, "delete job", err, "s", job);
    return vm_ss_end(s, rc, err);
}

/* ---- tasks ------------------------------------------------------------------------------ */

/* One transaction for all tasks: either every new task is stored or none
 * (a conflict rolls back the ones stored before it). */
static int vm_ss_tasks_put(void *st, const char *job, const vm_task *tasks, size_t n,
                           vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q = NULL;
    char *text = NULL;
    int64_t added = 0, now = vm_ss_now_ms();
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_prep(s, Q_JOB_EXISTS, &q, err, "s", job)) != 0)
        goto cleanup;
    int src = sqlite3_step(q);
    vm_ss_done(q);
    if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
        goto cleanup;
    }
    if (src != SQLITE_ROW) {
        rc = vm_ss_fail(s, src, "read job", err);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(text = vm_task_encode(&tasks[i]))) {
            rc = vm_ss_nomem(err);
            goto cleanup;
        }
        if ((rc = vm_ss_prep(s, Q_TASK_TEXT, &q, err, "su", job, tasks[i].id)) != 0)
            goto cleanup;
        src = sqlite3_step(q);
        bool exists = src == SQLITE_ROW;
        bool same = exists && strcmp((const char *)sqlite3_column_text(q, 0), text) == 0;
        vm_ss_done(q);
        if (src != SQLITE_ROW && src != SQLITE_DONE) {
            rc = vm_ss_fail(s, src, "read task", err);
            goto cleanup;
        }
        if (exists && !same) {
            rc = vm_err_setc(err, VM_ERR_EXISTS,
                             "state: job %s: task %u is already stored with a different range",
                             job, (unsigned)tasks[i].id);
            goto cleanup;
        }
        if (!exists) {
            if ((rc = vm_ss_do(s, Q_TASK_INSERT, "store task", err, "susi", job, tasks[i].id,
                                 text, now)) != 0)
                goto cleanup;
            added++;
        }
        free(text);
        text = NULL;
    }
    rc = vm_ss_do(s, Q_JOB_TASKS_PUT, "update job", err, "sii", job, added, now);
cleanup:
    free(text);
    return vm_ss_end(s, rc, err);
}

/* The job's state and cancel mark, inside the caller's transaction. */
static int vm_ss_job_cancel_read(vm_ss *s, const char *job, vm_job_state *state,
                                 int64_t *cancel_ms, vm_err *err)
{
    sqlite3_stmt *q;
    int rc = vm_ss_prep(s, Q_JOB_CANCEL_READ, &q, err, "s", job);
    if (rc)
        return rc;
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        if (vm_job_state_parse((const char *)sqlite3_column_text(q, 0), state) != 0)
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: unknown stored state", job);
        *cancel_ms = sqlite3_column_int64(q, 1);
    } else if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else {
        rc = vm_ss_fail(s, src, "read job", err);
    }
    vm_ss_done(q);
    return rc;
}

int vm_ss_task_claim_op(void *st, const char *job, uint32_t task, const char *worker,
                        int64_t lease_ms, const char *op, vm_claim *out, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    out->token = r.token;
    out->lease_until_ms = r.lease_until;
    out->attempts = r.attempts;
    out->rows_read = r.rows_read;
    out->rows_written = r.rows_written;
    out->prior_claim = r.token != 0; /* a reset keeps the token */
    /* the strings move to out: owner (the claimer or the busy owner) and
     * the cursor to resume from */
    out->owner = r.owner;
    out->cursor = r.cursor;
    r.owner = r.cursor = NULL;
    if (vm_ss_streq(r.op, op) && r.state == VM_TASK_RUNNING && vm_ss_streq(out->owner, worker)) {
        out->outcome = VM_CLAIM_CLAIMED; /* this very claim, applied before */
        goto cleanup;
    }
    if (r.state == VM_TASK_DONE || r.state == VM_TASK_FAILED) {
        out->outcome = r.state == VM_TASK_DONE ? VM_CLAIM_DONE : VM_CLAIM_FAILED;
        goto cleanup;
    }
    vm_job_state jst;
    int64_t cancel_ms = 0;
    if ((rc = vm_ss_job_cancel_read(s, job, &jst, &cancel_ms, err)) != 0)
        goto cleanup;
    if (cancel_ms > 0) {
        out->outcome = VM_CLAIM_CANCELLED;
        goto cleanup;
    }
    int64_t now = vm_ss_now_ms();
    if (r.state == VM_TASK_RUNNING && !vm_ss_streq(out->owner, worker) && r.lease_until >= now) {
        out->outcome = VM_CLAIM_BUSY;
        goto cleanup;
    }
    /* pending, expired, or ours again: a new token fences every older one */
    sqlite3_stmt *q;
    if ((rc = vm_ss_prep(s, Q_TOKEN_NEXT, &q, err, "s", job)) != 0)
        goto cleanup;
    int src = sqlite3_step(q);
    uint64_t token = src == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    vm_ss_done(q);
    if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
        goto cleanup;
    }
    if (src != SQLITE_ROW) {
        rc = vm_ss_fail(s, src, "next token", err);
        goto cleanup;
    }
    int64_t lease = now + lease_ms;
    if ((rc = vm_ss_do(s, Q_TASK_CLAIM, "claim task", err, "susiisi", job, task, worker,
                         (int64_t)token, lease, op, now)) != 0)
        goto cleanup;
    if (r.state == VM_TASK_PENDING &&
        (rc = vm_ss_job_move(s, job, VM_TASK_PENDING, VM_TASK_RUNNING, err)) != 0)
        goto cleanup;
    vm_free(out->owner);
    if (!(out->owner = vm_strdup(worker))) {
        rc = vm_ss_nomem(err);
        goto cleanup;
    }
    out->outcome = VM_CLAIM_CLAIMED;
    out->token = token;
    out->lease_until_ms = lease;
    out->attempts = r.attempts + 1;
cleanup:
    vm_ss_row_release(&r);
    rc = vm_ss_end(s, rc, err);
    if (rc != 0)
        vm_claim_release(out);
    return rc;
}

static int vm_ss_task_claim(void *st, const char *job, uint32_t task, const char *worker,
                            int64_t lease_ms, vm_claim *out, vm_err *err)
{
    vm_ss *s = st;
    vm_buf key;
    char op[48];
    vm_buf_init(&key);
    vm_ss_key_add(&key, "claim");
    vm_ss_key_add(&key, job);
    vm_ss_key_num(&key, task);
    vm_ss_key_add(&key, worker);
    vm_ss_key_num(&key, lease_ms);
    int rc = vm_ss_op_for(s, &key, op, err);
    if (rc != 0)
        return rc;
    rc = vm_ss_task_claim_op(s, job, task, worker, lease_ms, op, out, err);
    vm_ss_op_done(s, &key, op, rc, err);
    return rc;
}

static int vm_ss_task_heartbeat(void *st, const char *job, uint32_t task, uint64_t token,
                                int64_t lease_ms, int64_t *lease_until, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    if (r.state != VM_TASK_RUNNING || r.token != token) {
        rc = vm_ss_fenced(&r, job, task, token, err);
        goto cleanup;
    }
    int64_t lease = vm_ss_now_ms() + lease_ms;
    if ((rc = vm_ss_do(s, Q_TASK_LEASE, "extend lease", err, "sui", job, task, lease)) == 0)
        *lease_until = lease;
cleanup:
    vm_ss_row_release(&r);
    return vm_ss_end(s, rc, err);
}

int vm_ss_task_checkpoint_op(void *st, const char *job, uint32_t task, uint64_t token,
                             const char *cursor, int64_t d_read, int64_t d_written,
                             int64_t lease_ms, const char *op, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    if (vm_ss_streq(r.op, op) && r.state == VM_TASK_RUNNING && r.token == token)
        goto cleanup; /* this very checkpoint, applied before */
    if (r.state != VM_TASK_RUNNING || r.token != token) {
        rc = vm_ss_fenced(&r, job, task, token, err);
        goto cleanup;
    }
    int64_t now = vm_ss_now_ms();
    if ((rc = vm_ss_do(s, Q_TASK_CHECKPOINT, "checkpoint", err, "susiiisi", job, task, cursor,
                         d_read, d_written, now + lease_ms, op, now)) != 0)
        goto cleanup;
    rc = vm_ss_job_add(s, job, 0, 0, 0, 0, d_read, d_written, err);
cleanup:
    vm_ss_row_release(&r);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_task_checkpoint(void *st, const char *job, uint32_t task, uint64_t token,
                                 const char *cursor, int64_t d_read, int64_t d_written,
                                 int64_t lease_ms, vm_err *err)
{
    vm_ss *s = st;
    vm_buf key;
    char op[48];
    vm_buf_init(&key);
    vm_ss_key_add(&key, "checkpoint");
    vm_ss_key_add(&key, job);
    vm_ss_key_num(&key, task);
    vm_ss_key_num(&key, (int64_t)token);
    vm_ss_key_add(&key, cursor);
    vm_ss_key_num(&key, d_read);
    vm_ss_key_num(&key, d_written);
    vm_ss_key_num(&key, lease_ms);
    int rc = vm_ss_op_for(s, &key, op, err);
    if (rc != 0)
        return rc;
    rc = vm_ss_task_checkpoint_op(s, job, task, token, cursor, d_read, d_written, lease_ms,
                                  op, err);
    vm_ss_op_done(s, &key, op, rc, err);
    return rc;
}

int vm_ss_task_finish_op(void *st, const char *job, uint32_t task, uint64_t token,
                         vm_task_state final_state, const char *error, const char *op,
                         vm_finish_result *out, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    char *msg = NULL;
    int rc = 0;
    if (error) {
        /* stored errors pass the redactor like every message */
        size_t cap = strlen(error) + 1 < 4096 ? strlen(error) + 1 : 4096;
        if (!(msg = vm_malloc(cap)))
            return vm_ss_nomem(err);
        snprintf(msg, cap, "%s", error);
        vm_redact(msg, cap);
    }
    if ((rc = vm_ss_begin(s, err)) != 0) {
        vm_free(msg);
        return rc;
    }
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    bool final = r.state == VM_TASK_DONE || r.state == VM_TASK_FAILED;
    if (final) {
        /* applied before by this very call, or finished by someone */
        out->applied = vm_ss_streq(r.op, op) && r.token == token;
        out->state = r.state;
        goto cleanup;
    }
    if (r.state != VM_TASK_RUNNING || r.token != token) {
        rc = vm_ss_fenced(&r, job, task, token, err);
        goto cleanup;
    }
    if ((rc = vm_ss_do(s, Q_TASK_FINISH, "finish task", err, "sussis", job, task,
                         vm_task_state_name(final_state), op, vm_ss_now_ms(), msg)) != 0 ||
        (rc = vm_ss_job_move(s, job, VM_TASK_RUNNING, final_state, err)) != 0)
        goto cleanup;
    out->applied = true;
    out->state = final_state;
cleanup:
    vm_ss_row_release(&r);
    vm_free(msg);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_task_finish(void *st, const char *job, uint32_t task, uint64_t token,
                             vm_task_state final_state, const char *error,
                             vm_finish_result *out, vm_err *err)
{
    vm_ss *s = st;
    vm_buf key;
    char op[48];
    vm_buf_init(&key);
    vm_ss_key_add(&key, "finish");
    vm_ss_key_add(&key, job);
    vm_ss_key_num(&key, task);
    vm_ss_key_num(&key, (int64_t)token);
    vm_ss_key_num(&key, final_state);
    vm_ss_key_add(&key, error);
    int rc = vm_ss_op_for(s, &key, op, err);
    if (rc != 0)
        return rc;
    rc = vm_ss_task_finish_op(s, job, task, token, final_state, error, op, out, err);
    vm_ss_op_done(s, &key, op, rc, err);
    return rc;
}

/* Decode one row of VM_SS_STATUS_COLS. */
static int vm_ss_decode_status(vm_ss *s, sqlite3_stmt *q, const char *job, vm_task_status *out,
                               vm_err *err)
{
    int rc = 0;
    (void)s;
    memset(out, 0, sizeof *out);
    vm_task_init(&out->task);
    int64_t id = sqlite3_column_int64(q, 0);
    if (id < 0 || id > UINT32_MAX)
        return vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s: bad stored task id", job);
    out->id = (uint32_t)id;
    if (vm_task_state_parse((const char *)sqlite3_column_text(q, 1), &out->state) != 0)
        return vm_ss_bad_state(err, job, out->id);
    out->token = (uint64_t)sqlite3_column_int64(q, 3);
    out->lease_until_ms = sqlite3_column_int64(q, 4);
    out->attempts = sqlite3_column_int64(q, 5);
    out->rows_read = sqlite3_column_int64(q, 7);
    out->rows_written = sqlite3_column_int64(q, 8);
    out->first_claim_ms = sqlite3_column_int64(q, 11);
    out->finished_ms = sqlite3_column_int64(q, 12);
    out->stats.retries = sqlite3_column_int64(q, 13);
    out->stats.splits = sqlite3_column_int64(q, 14);
    out->stats.changed = sqlite3_column_int64(q, 15);
    out->stats.truncated = sqlite3_column_int64(q, 16);
    out->stats.run_ms = sqlite3_column_int64(q, 17);
    if (vm_ss_col_dup(q, 2, &out->owner) || vm_ss_col_dup(q, 6, &out->cursor) ||
        vm_ss_col_dup(q, 9, &out->error)) {
        rc = vm_ss_nomem(err);
        goto cleanup;
    }
    const char *text = (const char *)sqlite3_column_text(q, 10);
    if (!text) {
        rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: the task JSON is missing",
                         job, (unsigned)out->id);
        goto cleanup;
    }
    if ((rc = vm_task_decode(text, (size_t)sqlite3_column_bytes(q, 10), &out->task, err)) != 0) {
        if (rc != VM_ERR_NOMEM) {
            char why[VM_ERR_MSG_MAX];
            snprintf(why, sizeof why, "%s", err ? err->msg : "unreadable");
            rc = vm_err_setc(err, VM_ERR_PROTOCOL, "state: job %s task %u: stored task: %s", job,
                             (unsigned)out->id, why);
        }
        goto cleanup;
    }
    if (out->task.id != out->id || !out->task.job_id || strcmp(out->task.job_id, job) != 0)
        rc = vm_err_setc(err, VM_ERR_PROTOCOL,
                         "state: job %s task %u: the stored task names another job or id", job,
                         (unsigned)out->id);
cleanup:
    if (rc != 0)
        vm_task_status_release(out);
    return rc;
}

/* Fenced, without an op id (vm_state.h: not repeated after an error). */
static int vm_ss_task_stats_add(void *st, const char *job, uint32_t task, uint64_t token,
                                const vm_task_stats *d, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    if (r.state != VM_TASK_RUNNING || r.token != token) {
        rc = vm_ss_fenced(&r, job, task, token, err);
        goto cleanup;
    }
    rc = vm_ss_do(s, Q_TASK_STATS_ADD, "add task stats", err, "suiiiii", job, task, d->retries,
                  d->splits, d->changed, d->truncated, d->run_ms);
cleanup:
    vm_ss_row_release(&r);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_job_report_put(void *st, const char *job, const char *report, vm_err *err)
{
    vm_ss *s = st;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    rc = vm_ss_do(s, Q_JOB_REPORT_PUT, "store report", err, "ss", job, report);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_job_report_get(void *st, const char *job, char **report, vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    int rc = vm_ss_prep(s, Q_JOB_REPORT_GET, &q, err, "s", job);
    if (rc)
        return rc;
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        if (vm_ss_col_dup(q, 0, report) != 0)
            rc = vm_ss_nomem(err);
        else if (!*report)
            rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: job %s has no report yet", job);
    } else if (src == SQLITE_DONE) {
        rc = vm_err_setc(err, VM_ERR_NOT_FOUND, "state: no job %s", job);
    } else {
        rc = vm_ss_fail(s, src, "read report", err);
    }
    vm_ss_done(q);
    return rc;
}

/* ---- the worker registry ------------------------------------------------ */

static int vm_ss_worker_beat(void *st, const char *job, const char *worker, int64_t task,
                             int64_t rows, vm_err *err)
{
    vm_ss *s = st;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    rc = vm_ss_do(s, Q_WORKER_BEAT, "record worker", err, "ssiii", job, worker, task,
                  vm_ss_now_ms(), rows);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_workers_list(void *st, const char *job, int64_t drop_after_ms,
                              vm_worker_status **arr, size_t *n, int64_t *now_ms, vm_err *err)
{
    vm_ss *s = st;
    vm_worker_status *out = NULL;
    size_t cnt = 0, cap = 0;
    int64_t now = vm_ss_now_ms();
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_do(s, Q_WORKERS_DROP, "drop workers", err, "si", job,
                       now - drop_after_ms)) != 0)
        return vm_ss_end(s, rc, err);
    rc = vm_ss_end(s, 0, err);
    if (rc)
        return rc;
    sqlite3_stmt *q;
    if ((rc = vm_ss_prep(s, Q_WORKERS_LIST, &q, err, "s", job)) != 0)
        return rc;
    int src;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        if (cnt == cap && vm_grow((void **)&out, &cap, cnt + 1, sizeof *out) != 0) {
            rc = vm_ss_nomem(err);
            break;
        }
        memset(&out[cnt], 0, sizeof out[cnt]);
        if (vm_ss_col_dup(q, 0, &out[cnt].id) != 0 || !out[cnt].id) {
            rc = vm_ss_nomem(err);
            break;
        }
        out[cnt].task_id = sqlite3_column_int64(q, 1);
        out[cnt].rows = sqlite3_column_int64(q, 2);
        out[cnt].last_beat_ms = sqlite3_column_int64(q, 3);
        cnt++;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = vm_ss_fail(s, src, "list workers", err);
    vm_ss_done(q);
    if (rc) {
        vm_worker_status_free_array(out, cnt);
        return rc;
    }
    *arr = out;
    *n = cnt;
    *now_ms = now;
    return 0;
}

/* ---- the leader lock ------------------------------------------------------ */

static int vm_ss_leader(void *st, const char *job, vm_leader_op op, const char *owner,
                        int64_t lease_ms, vm_leader *out, vm_err *err)
{
    vm_ss *s = st;
    int64_t now = vm_ss_now_ms(), until = 0;
    char *cur = NULL;
    sqlite3_stmt *q;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_prep(s, Q_LEADER_GET, &q, err, "s", job)) != 0)
        return vm_ss_end(s, rc, err);
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        until = sqlite3_column_int64(q, 1);
        if (vm_ss_col_dup(q, 0, &cur) != 0)
            rc = vm_ss_nomem(err);
    } else if (src != SQLITE_DONE) {
        rc = vm_ss_fail(s, src, "read the leader lock", err);
    }
    vm_ss_done(q);
    if (rc)
        goto cleanup;
    bool live = cur && until > now, mine = live && strcmp(cur, owner) == 0;
    if (op == VM_LEADER_RELEASE) {
        if (cur && strcmp(cur, owner) == 0) {
            rc = vm_ss_do(s, Q_LEADER_DEL, "release the leader lock", err, "ss", job, owner);
            out->held = mine;
        }
    } else if (mine || (!live && op == VM_LEADER_ACQUIRE)) {
        rc = vm_ss_do(s, Q_LEADER_PUT, "take the leader lock", err, "ssi", job, owner,
                      now + lease_ms);
        out->held = true;
        out->remaining_ms = lease_ms;
    } else if (live) {
        out->holder = cur;
        cur = NULL;
        out->remaining_ms = until - now;
    }
cleanup:
    vm_free(cur);
    return vm_ss_end(s, rc, err);
}

static int vm_ss_task_get(void *st, const char *job, uint32_t task, vm_task_status *out,
                          vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    int rc = vm_ss_prep(s, Q_TASK_STATUS, &q, err, "su", job, task);
    if (rc)
        return rc;
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW)
        rc = vm_ss_decode_status(s, q, job, out, err);
    else if (src == SQLITE_DONE)
        rc = vm_ss_no_task(err, job, task);
    else
        rc = vm_ss_fail(s, src, "read task", err);
    vm_ss_done(q);
    return rc;
}

static int vm_ss_tasks_list(void *st, const char *job, vm_task_status **arr, size_t *n,
                            vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    vm_task_status *v = NULL;
    size_t k = 0, cap = 0;
    int src, rc = vm_ss_prep(s, Q_TASKS_LIST, &q, err, "s", job);
    if (rc)
        return rc;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        if (vm_grow((void **)&v, &cap, k + 1, sizeof *v) != 0) {
            rc = vm_ss_nomem(err);
            goto cleanup;
        }
        if ((rc = vm_ss_decode_status(s, q, job, &v[k], err)) != 0)
            goto cleanup;
        k++;
    }
    if (src != SQLITE_DONE) {
        rc = vm_ss_fail(s, src, "list tasks", err);
        goto cleanup;
    }
    *arr = v;
    *n = k;
    v = NULL;
cleanup:
    vm_ss_done(q);
    vm_task_status_free_array(v, k);
    return rc;
}

static int vm_ss_tasks_expired(void *st, const char *job, uint32_t **ids, size_t *n,
                               vm_err *err)
{
    vm_ss *s = st;
    sqlite3_stmt *q;
    uint32_t *v = NULL;
    size_t k = 0, cap = 0;
    int src, rc = vm_ss_prep(s, Q_TASKS_EXPIRED, &q, err, "si", job, vm_ss_now_ms());
    if (rc)
        return rc;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        if (vm_grow((void **)&v, &cap, k + 1, sizeof *v) != 0) {
            rc = vm_ss_nomem(err);
            goto cleanup;
        }
        v[k++] = (uint32_t)sqlite3_column_int64(q, 0);
    }
    if (src != SQLITE_DONE) {
        rc = vm_ss_fail(s, src, "list expired leases", err);
        goto cleanup;
    }
    *ids = v;
    *n = k;
    v = NULL;
cleanup:
    vm_ss_done(q);
    vm_free(v);
    return rc;
}

static int vm_ss_task_reset(void *st, const char *job, uint32_t task, vm_err *err)
{
    vm_ss *s = st;
    vm_ss_row r;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_task_row(s, job, task, &r, err)) != 0)
        goto cleanup;
    if (r.state == VM_TASK_PENDING)
        goto cleanup; /* idempotent */
    if (r.state == VM_TASK_DONE) {
        rc = vm_err_set(err, VM_ERR_INVALID, false,
                        "state: job %s task %u is done: nothing to reset", job, (unsigned)task);
        goto cleanup;
    }
    int64_t now = vm_ss_now_ms();
    if (r.state == VM_TASK_RUNNING && r.lease_until >= now) {
        rc = vm_err_set(err, VM_ERR_UNAVAILABLE, true,
                        "state: job %s task %u runs under %s with a live lease (until %" PRId64
                        " ms)",
                        job, (unsigned)task, r.owner ? r.owner : "?", r.lease_until);
        goto cleanup;
    }
    if ((rc = vm_ss_do(s, Q_TASK_RESET, "reset task", err, "sui", job, task, now)) != 0)
        goto cleanup;
    rc = vm_ss_job_move(s, job, r.state, VM_TASK_PENDING, err);
cleanup:
    vm_ss_row_release(&r);
    return vm_ss_end(s, rc, err);
}

/* ---- cancel / resume ------------------------------------------------------------------- */

static int vm_ss_job_cancel(void *st, const char *job, vm_cancel_result *out, vm_err *err)
{
    vm_ss *s = st;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_job_cancel_read(s, job, &out->state, &out->cancel_ms, err)) != 0)
        goto cleanup;
    if (out->state == VM_JOB_DONE || out->state == VM_JOB_FAILED ||
        out->state == VM_JOB_CANCELLED || out->cancel_ms > 0)
        goto cleanup; /* over, or requested before: the first time stays */
    int64_t now = vm_ss_now_ms();
    if ((rc = vm_ss_do(s, Q_JOB_CANCEL, "request cancel", err, "si", job, now)) == 0) {
        out->cancel_ms = now;
        out->applied = true;
    }
cleanup:
    return vm_ss_end(s, rc, err);
}

static int vm_ss_job_resume(void *st, const char *job, vm_job_state *prev, vm_err *err)
{
    vm_ss *s = st;
    int64_t cancel_ms;
    int rc = vm_ss_begin(s, err);
    if (rc)
        return rc;
    if ((rc = vm_ss_job_cancel_read(s, job, prev, &cancel_ms, err)) == 0)
        rc = vm_ss_do(s, Q_JOB_RESUME, "resume job", err, "si", job, vm_ss_now_ms());
    return vm_ss_end(s, rc, err);
}

const vm_state_ops vm_state_sqlite_ops = {
    .name = "embedded",
    .state_size = sizeof(vm_ss),
    .open = vm_ss_open,
    .close = vm_ss_close,
    .job_put = vm_ss_job_put,
    .job_get = vm_ss_job_get,
    .job_set_state = vm_ss_job_set_state,
    .jobs_list = vm_ss_jobs_list,
    .job_counters = vm_ss_job_counters,
    .job_delete = vm_ss_job_delete,
    .tasks_put = vm_ss_tasks_put,
    .task_claim = vm_ss_task_claim,
    .task_heartbeat = vm_ss_task_heartbeat,
    .task_checkpoint = vm_ss_task_checkpoint,
    .task_finish = vm_ss_task_finish,
    .task_get = vm_ss_task_get,
    .tasks_list = vm_ss_tasks_list,
    .tasks_expired = vm_ss_tasks_expired,
    .task_reset = vm_ss_task_reset,
    .job_cancel = vm_ss_job_cancel,
    .job_resume = vm_ss_job_resume,
    .task_stats_add = vm_ss_task_stats_add,
    .job_report_put = vm_ss_job_report_put,
    .job_report_get = vm_ss_job_report_get,
    .worker_beat = vm_ss_worker_beat,
    .workers_list = vm_ss_workers_list,
    .leader = vm_ss_leader,
};

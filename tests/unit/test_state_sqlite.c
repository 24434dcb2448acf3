/*
 * test_state_sqlite.c - the embedded (SQLite) state store on a file in a
 * per-run temporary directory: the contract every backend shares
 * (tests/state_contract.h, also run against Redis), plus what is specific to
 * a local file: replay of a mutation by op id, a held write lock giving a
 * retriable VM_ERR_UNAVAILABLE with nothing applied, durability of a
 * checkpoint across a SIGKILL right after the call returned, several
 * processes sharing the file with exact counters, the file's schema checks
 * (foreign or garbage files, newer schema versions, parent directories,
 * the default path) and the classification of SQLite errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state_sqlite.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"

#include "state_contract.h"

static char tmpdir[256];
static char db_path[512];

static vm_state *open_path(const char *path)
{
    vm_job_state_conf conf = {.type = VM_STATE_EMBEDDED, .path = (char *)path};
    vm_state *s = NULL;
    vm_err e;
    if (vm_state_open(&conf, &s, &e) != 0)
        fail_msg("vm_state_open: %s", e.msg);
    return s;
}

static vm_state *open_state(void) { return open_path(db_path); }

static int open_err(const char *path, vm_err *e)
{
    vm_job_state_conf conf = {.type = VM_STATE_EMBEDDED, .path = (char *)path};
    vm_state *s = NULL;
    int rc = vm_state_open(&conf, &s, e);
    if (rc == 0)
        vm_state_close(s);
    return rc;
}

static sqlite3 *raw_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 30000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", msg ? msg : "?");
        sqlite3_free(msg);
        fail_msg("%s: %s", sql, copy);
    }
}

static int group_setup(void **st)
{
    (void)st;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vmstate-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "test_state_sqlite: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    /* parent directories are created by open */
    snprintf(db_path, sizeof db_path, "%s/a/b/state.db", tmpdir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(sc_job, sizeof sc_job, "job-%ld-%ld", (long)getpid(), (long)ts.tv_nsec);
    sc_open = open_state;
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    char cmd[600];
    if (!tmpdir[0])
        return 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ replay */

/* The same op id applied twice is applied once (a COMMIT whose outcome was
 * lost, repeated); a new op id is a new mutation. Task 4. */
static void test_op_replay(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    vm_claim c1, c2;
    vm_job_counters before, after;
    sc_counters(s, &before);
    assert_int_equal(
        vm_ss_task_claim_op(s->impl, sc_job, 4, "worker-r", 60000, "op-claim", &c1, &e), 0);
    assert_int_equal(c1.outcome, VM_CLAIM_CLAIMED);
    assert_int_equal(
        vm_ss_task_claim_op(s->impl, sc_job, 4, "worker-r", 60000, "op-claim", &c2, &e), 0);
    assert_int_equal(c2.outcome, VM_CLAIM_CLAIMED);
    assert_true(c2.token == c1.token);
    assert_int_equal(c2.attempts, 1);
    uint64_t tok = c1.token;
    vm_claim_release(&c1);
    vm_claim_release(&c2);
    sc_counters(s, &after);
    assert_int_equal(after.running - before.running, 1);

    for (int i = 0; i < 2; i++)
        assert_int_equal(
            vm_ss_task_checkpoint_op(s->impl, sc_job, 4, tok, "r1", 10, 10, 60000, "op-cp-1", &e),
            0);
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 10);
    assert_int_equal(
        vm_ss_task_checkpoint_op(s->impl, sc_job, 4, tok, "r2", 10, 10, 60000, "op-cp-2", &e), 0);
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 20);

    vm_finish_result fr;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vm_ss_task_finish_op(s->impl, sc_job, 4, tok, VM_TASK_DONE, NULL,
                                              "op-fin", &fr, &e),
                         0);
        assert_true(fr.applied); /* the second is recognised as this call */
        assert_int_equal(fr.state, VM_TASK_DONE);
    }
    assert_int_equal(vm_ss_task_finish_op(s->impl, sc_job, 4, tok, VM_TASK_DONE, NULL, "op-other",
                                          &fr, &e),
                     0);
    assert_false(fr.applied);
    sc_counters(s, &after);
    assert_int_equal(after.done - before.done, 1);
    assert_int_equal(after.running - before.running, 0);
    vm_state_close(s);
}

/* --------------------------------------------------------------- busy */

/* Another connection holds the write lock: a mutation waits out the busy
 * timeout, then fails retriable with nothing applied, while reads go on
 * (WAL). Repeated after the lock is gone it applies exactly once. Task 5. */
static void test_busy(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    vm_claim c;
    uint64_t tok = sc_claim_ok(s, 5, "worker-busy", 60000, &c);
    vm_claim_release(&c);
    vm_job_counters before, after;
    sc_counters(s, &before);

    sqlite3 *raw = raw_db(db_path);
    raw_exec(raw, "BEGIN IMMEDIATE");
    vm_ss_set_busy_timeout(s->impl, 100);
    int64_t t0 = sc_now_ms();
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 5, tok, "b1", 3, 3, 60000, &e),
                     VM_ERR_UNAVAILABLE);
    assert_true(sc_now_ms() - t0 >= 90); /* it waited */
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, db_path));
    vm_claim c2;
    assert_int_equal(vm_state_task_claim(s, sc_job, 6, "worker-busy", 60000, &c2, &e),
                     VM_ERR_UNAVAILABLE);
    /* readers are not blocked by the writer */
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sc_job, 5, &ts, &e), 0);
    assert_null(ts.cursor);
    vm_task_status_release(&ts);
    sc_counters(s, &after);
    assert_memory_equal(&before, &after, sizeof before);
    raw_exec(raw, "COMMIT");
    sqlite3_close(raw);

    /* the same call again: applied once */
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 5, tok, "b1", 3, 3, 60000, &e), 0);
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 3);
    assert_int_equal(vm_state_task_finish(s, sc_job, 5, tok, VM_TASK_DONE, NULL, NULL, &e), 0);
    vm_ss_set_busy_timeout(s->impl, VM_SS_BUSY_TIMEOUT_MS);
    vm_state_close(s);
}

/* --------------------------------------------------------- durability */

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Claim and checkpoint, close without any explicit sync; a child process
 * opens the file, checkpoints and is SIGKILLed the moment the call
 * returned (no close, no exit handlers). Reopened, the file has both
 * checkpoints. Task 6. */
static void test_durability(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_err e;
    vm_claim c;
    uint64_t tok = sc_claim_ok(s, 6, "worker-dur", 60000, &c);
    vm_claim_release(&c);
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 6, tok, "parent", 100, 90, 60000, &e), 0);
    vm_state_close(s);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vm_job_state_conf conf = {.type = VM_STATE_EMBEDDED, .path = db_path};
        vm_state *cs = NULL;
        vm_err ce;
        if (vm_state_open(&conf, &cs, &ce) != 0 ||
            vm_state_task_checkpoint(cs, sc_job, 6, tok, "child", 7, 5, 60000, &ce) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* the child died holding the file: its commit sits in the WAL only */
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    assert_true(file_exists(wal));

    s = open_state();
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sc_job, 6, &ts, &e), 0);
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_string_equal(ts.cursor, "child");
    assert_int_equal(ts.rows_read, 107);
    assert_int_equal(ts.rows_written, 95);
    assert_true(ts.token == tok);
    vm_task_status_release(&ts);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(s, sc_job, 6, tok, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    vm_state_close(s);
}

/* ------------------------------------------------------ several processes */

#define NPROCS 3
#define NPROC_CHECKPOINTS 200

/* Tasks 7..9: three processes (each its own connection) checkpoint at the
 * same time; the job totals grow by exactly what they did. */
static void test_processes(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_job_counters before, after;
    sc_counters(s, &before);
    vm_state_close(s);
    fflush(NULL);
    pid_t pids[NPROCS];
    for (int p = 0; p < NPROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] != 0)
            continue;
        uint32_t task = 7 + (uint32_t)p;
        vm_job_state_conf conf = {.type = VM_STATE_EMBEDDED, .path = db_path};
        vm_state *cs = NULL;
        vm_err ce;
        vm_claim c;
        char worker[32];
        snprintf(worker, sizeof worker, "proc-%d", p);
        if (vm_state_open(&conf, &cs, &ce) != 0 ||
            vm_state_task_claim(cs, sc_job, task, worker, 60000, &c, &ce) != 0 ||
            c.outcome != VM_CLAIM_CLAIMED)
            _exit(10);
        for (int i = 0; i < NPROC_CHECKPOINTS; i++)
            if (vm_state_task_checkpoint(cs, sc_job, task, c.token, "p", 1, 2, 60000, &ce) != 0)
                _exit(11);
        if (vm_state_task_finish(cs, sc_job, task, c.token, VM_TASK_DONE, NULL, NULL, &ce) != 0)
            _exit(12);
        vm_claim_release(&c);
        vm_state_close(cs);
        _exit(0);
    }
    for (int p = 0; p < NPROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    s = open_state();
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, NPROCS * NPROC_CHECKPOINTS);
    assert_int_equal(after.rows_written - before.rows_written, 2 * NPROCS * NPROC_CHECKPOINTS);
    assert_int_equal(after.done - before.done, NPROCS);
    assert_int_equal(after.pending - before.pending, -NPROCS);
    vm_state_close(s);
}

/* ------------------------------------------------------------- files */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_files(void **st)
{
    (void)st;
    vm_err e;
    char path[600];

    /* the open file is in WAL mode, stamped as ours, at the schema version */
    sqlite3 *raw = raw_db(db_path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), VM_SS_SCHEMA_VERSION);
    sqlite3_finalize(q);
    sqlite3_close(raw);

    /* garbage: not a database, and the message names the file */
    snprintf(path, sizeof path, "%s/garbage.db", tmpdir);
    write_file(path, "this is not an SQLite file, just some text that is long enough to be "
                     "read as a header and rejected by SQLite when it opens it...........\n");
    assert_int_equal(open_err(path, &e), VM_ERR_INVALID);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, path));

    /* somebody else's SQLite database is left alone */
    snprintf(path, sizeof path, "%s/foreign.db", tmpdir);
    raw = raw_db(path);
    raw_exec(raw, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
    sqlite3_close(raw);
    assert_int_equal(open_err(path, &e), VM_ERR_INVALID);
    assert_non_null(strstr(e.msg, "not a vecmig state file"));

    /* a state file from a newer vecmig */
    snprintf(path, sizeof path, "%s/newer.db", tmpdir);
    vm_state *s = open_path(path);
    vm_state_close(s);
    raw = raw_db(path);
    raw_exec(raw, "PRAGMA user_version = 99");
    sqlite3_close(raw);
    assert_int_equal(open_err(path, &e), VM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "99"));

    /* the parent "directory" is a file */
    snprintf(path, sizeof path, "%s/garbage.db/state.db", tmpdir);
    assert_int_equal(open_err(path, &e), VM_ERR_IO);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "garbage.db"));

    /* reopening an existing state file keeps its data */
    s = open_state();
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, sc_job, &info, &e), 0);
    vm_job_info_release(&info);
    vm_state_close(s);

    /* no path: .vecmig/state.db under the working directory */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    vm_job_state_conf conf = {.type = VM_STATE_EMBEDDED};
    s = NULL;
    int rc = vm_state_open(&conf, &s, &e);
    bool made = file_exists(".vecmig/state.db");
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_true(made);
    assert_string_equal(s->ops->name, "embedded");
    vm_state_close(s);
    assert_true(vm_state_backend(VM_STATE_EMBEDDED) == &vm_state_sqlite_ops);
}

/* A state file of schema version 1 (before cancel requests) is migrated on
 * open: its jobs keep everything and can be cancelled and resumed. */
static void test_schema_migration(void **st)
{
    (void)st;
    vm_err e;
    char path[600], job[] = "old-job";
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    vm_state *s = open_path(path);
    json_t *rec = json_pack("{s:s}", "note", "from version 1");
    assert_int_equal(vm_state_job_put(s, job, rec, &e), 0);
    assert_int_equal(vm_state_job_set_state(s, job, VM_JOB_RUNNING, &e), 0);
    vm_state_close(s);
    /* what version 1 wrote: no cancel_ms column, user_version 1 */
    sqlite3 *raw = raw_db(path);
    raw_exec(raw, "ALTER TABLE jobs DROP COLUMN cancel_ms; PRAGMA user_version = 1");
    sqlite3_close(raw);

    s = open_path(path);
    vm_job_info info;
    assert_int_equal(vm_state_job_get(s, job, &info, &e), 0);
    assert_int_equal(info.state, VM_JOB_RUNNING);
    assert_int_equal(info.cancel_ms, 0);
    assert_true(json_equal(info.record, rec));
    vm_job_info_release(&info);
    vm_cancel_result cr;
    assert_int_equal(vm_state_job_cancel(s, job, &cr, &e), 0);
    assert_true(cr.applied);
    vm_state_close(s);
    json_decref(rec);
    raw = raw_db(path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), VM_SS_SCHEMA_VERSION);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT cancel_ms FROM jobs WHERE id = 'old-job'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_true(sqlite3_column_int64(q, 0) == cr.cancel_ms);
    sqlite3_finalize(q);
    sqlite3_close(raw);
}

/* ------------------------------------------------------------- errors */

static void test_error_map(void **st)
{
    (void)st;
    vm_err e;
    assert_int_equal(vm_ss_error(SQLITE_BUSY, "/x/s.db", "commit", NULL, &e), VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "/x/s.db"));
    assert_int_equal(vm_ss_error(SQLITE_BUSY_SNAPSHOT, "p", "w", "d", &e), VM_ERR_UNAVAILABLE);
    assert_int_equal(vm_ss_error(SQLITE_LOCKED, "p", "w", "d", &e), VM_ERR_UNAVAILABLE);
    assert_true(e.retriable);
    assert_int_equal(vm_ss_error(SQLITE_FULL, "p", "w", NULL, &e), VM_ERR_IO);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "disk full"));
    assert_int_equal(vm_ss_error(SQLITE_IOERR_FSYNC, "p", "w", NULL, &e), VM_ERR_IO);
    assert_false(e.retriable);
    assert_int_equal(vm_ss_error(SQLITE_CANTOPEN, "p", "w", NULL, &e), VM_ERR_IO);
    assert_false(e.retriable);
    assert_int_equal(vm_ss_error(SQLITE_READONLY, "p", "w", NULL, &e), VM_ERR_IO);
    assert_int_equal(vm_ss_error(SQLITE_CORRUPT, "/var/s.db", "read task", NULL, &e),
                     VM_ERR_PROTOCOL);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "/var/s.db"));
    assert_non_null(strstr(e.msg, "corrupt"));
    assert_int_equal(vm_ss_error(SQLITE_NOTADB, "/var/s.db", "open", NULL, &e), VM_ERR_INVALID);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "/var/s.db"));
    assert_int_equal(vm_ss_error(SQLITE_NOMEM, "p", "w", NULL, &e), VM_ERR_NOMEM);
    assert_int_equal(vm_ss_error(SQLITE_CONSTRAINT, "p", "w", NULL, &e), VM_ERR_INTERNAL);
    assert_false(e.retriable);
}

int main(void)
{
    vm_log_set_level(VM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_map),
        cmocka_unit_test(sc_test_job_record),
        cmocka_unit_test(sc_test_tasks_put_idempotent),
        cmocka_unit_test(sc_test_claim_and_fencing),
        cmocka_unit_test(sc_test_lease_expiry),
        cmocka_unit_test(sc_test_concurrent_counters),
        cmocka_unit_test(sc_test_cancel_resume),
        cmocka_unit_test(sc_test_stats_report),
        cmocka_unit_test(sc_test_workers),
        cmocka_unit_test(sc_test_leader),
        cmocka_unit_test(test_op_replay),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_durability),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_schema_migration),
        cmocka_unit_test(sc_test_job_delete),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

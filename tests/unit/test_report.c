/*
 * test_report.c - reconciliation (coordinator/report.c) against a recording
 * sink, a counting source and a real embedded state file: the verdicts, a
 * cancelled job's report (verdict cancelled, its counts, the mapping's
 * indexes left for the end, what counting needed undone), and reconciling
 * again after an interrupted count: a load and indexes left on the job's
 * own collection are undone as the mapping asks, while a collection the
 * job appended to is left as found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_state.h"

/* ---- a Milvus-like target: load state, indexes by name, rows --------- */

typedef struct fake_sink {
    bool loaded;
    char indexes[4][32]; /* index names ("" = none) */
    int64_t rows;
    int index_calls, releases, drops;
} fake_sink;

static bool fs_has_index(const fake_sink *f, const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(f->indexes[i], name) == 0)
            return true;
    return false;
}

static void fs_add_index(fake_sink *f, const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!f->indexes[i][0]) {
            snprintf(f->indexes[i], sizeof f->indexes[i], "%s", name);
            return;
        }
}

static int fs_count(void *st, const char *c, int64_t *rows, vm_err *err)
{
    (void)c;
    fake_sink *f = st;
    if (!f->loaded)
        return vm_err_setc(err, VM_ERR_INVALID, "collection not loaded");
    *rows = f->rows;
    return VM_OK;
}

/* as the Milvus sink: nothing when loaded; else index every vector field
 * without one (named after the field), then load */
static int fs_make_queryable(void *st, const vm_schema *s, vm_sink_undo *undo, vm_err *err)
{
    fake_sink *f = st;
    if (f->loaded)
        return VM_OK;
    for (size_t i = 0; i < s->nfields; i++) {
        const char *name = s->fields[i].name;
        if (!vm_dtype_is_vector(s->fields[i].type) || fs_has_index(f, name))
            continue;
        fs_add_index(f, name);
        char **v = vm_realloc(undo->indexes, (undo->nindexes + 1) * sizeof *v);
        assert_non_null(v);
        undo->indexes = v;
        v[undo->nindexes++] = vm_strdup(name);
    }
    f->loaded = undo->loaded = true;
    (void)err;
    return VM_OK;
}

static int fs_undo(void *st, const char *c, const vm_sink_undo *undo, bool release, bool drop,
                   vm_err *err)
{
    (void)c;
    fake_sink *f = st;
    if (release && undo->loaded) {
        f->loaded = false;
        f->releases++;
    }
    for (size_t i = 0; drop && i < undo->nindexes; i++)
        for (int k = 0; k < 4; k++)
            if (strcmp(f->indexes[k], undo->indexes[i]) == 0) {
                if (f->loaded)
                    return vm_err_setc(err, VM_ERR_INVALID, "drop while loaded");
                f->indexes[k][0] = '\0';
                f->drops++;
            }
    return VM_OK;
}

static int fs_index(void *st, const vm_schema *s, const json_t *spec, vm_err *err)
{
    (void)s;
    (void)spec;
    (void)err;
    fake_sink *f = st;
    f->index_calls++;
    if (!fs_has_index(f, "v"))
        fs_add_index(f, "v");
    return VM_OK;
}

static const vm_sink_ops fake_sink_ops = {.name = "fake",
                                          .count = fs_count,
                                          .make_queryable = fs_make_queryable,
                                          .undo_queryable = fs_undo,
                                          .index = fs_index};

static int64_t source_rows;

static int src_count(void *st, int64_t *rows, vm_err *err)
{
    (void)st;
    (void)err;
    *rows = source_rows;
    return VM_OK;
}

static const vm_source_ops fake_source_ops = {.name = "fake", .count = src_count};

/* ---- fixture: a job of 2 tasks x 50 rows in a state file -------------- */

static char tmpdir[256], db_path[512];
static vm_state *state;
static vm_schema *target;
static vm_job_conf job;
static int njob;

static int setup(void **st)
{
    (void)st;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vmreport-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/state.db", tmpdir);
    vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED, .path = db_path};
    vm_err e;
    if (vm_state_open(&sc, &state, &e) != VM_OK)
        return -1;
    target = vm_schema_new("items");
    vm_field id = {.name = "id", .type = VM_T_INT64, .primary = true};
    vm_field v = {.name = "v", .type = VM_T_FLOAT_VECTOR, .dim = 4};
    if (!target || vm_schema_add(target, &id, &e) != VM_OK || vm_schema_add(target, &v, &e) != VM_OK)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    vm_state_close(state);
    vm_schema_free(target);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A new job whose tasks wrote `written` rows each (done: finished). */
static json_t *new_job(int64_t written, bool done, const char *index_json)
{
    static char id[64];
    vm_err e;
    snprintf(id, sizeof id, "report-%d", ++njob);
    job.job.id = id;
    json_t *rec = json_pack("{s:I, s:o, s:{s:s}, s:{s:s}}", "source_rows_start",
                            (json_int_t)100, "index", json_loads(index_json, 0, NULL), "source",
                            "type", "fake", "target", "type", "fake");
    assert_non_null(rec);
    assert_int_equal(vm_state_job_put(state, id, rec, &e), 0);
    vm_task t[2];
    for (uint32_t i = 0; i < 2; i++) {
        vm_task_init(&t[i]);
        t[i].job_id = id;
        t[i].id = i;
        t[i].kind = VM_RANGE_INT;
        t[i].has_lo = t[i].has_hi = true;
        t[i].lo = i * 50;
        t[i].hi = i * 50 + 50;
    }
    assert_int_equal(vm_state_tasks_put(state, id, t, 2, &e), 0);
    for (uint32_t i = 0; i < 2; i++) {
        vm_claim c;
        assert_int_equal(vm_state_task_claim(state, id, i, "w", 60000, &c, &e), 0);
        assert_int_equal(vm_state_task_checkpoint(state, id, i, c.token, "x", written, written,
                                                  60000, &e),
                         0);
        if (done)
            assert_int_equal(
                vm_state_task_finish(state, id, i, c.token, VM_TASK_DONE, NULL, NULL, &e), 0);
        vm_claim_release(&c);
    }
    return rec;
}

static const char *verdict_of(const vm_report *r)
{
    return json_string_value(json_object_get(r->doc, "verdict"));
}

static int64_t count_of(const vm_report *r, const char *name)
{
    return json_integer_value(json_object_get(json_object_get(r->doc, "counts"), name));
}

static void build(const json_t *rec, fake_sink *f, const vm_report_opts *o, vm_report *r)
{
    vm_sink sink = {.ops = &fake_sink_ops, .state = f};
    vm_source src = {.ops = &fake_source_ops, .state = NULL};
    vm_err e;
    assert_int_equal(vm_report_build(&job, &src, &sink, state, target, rec, o, r, &e), 0);
}

static void test_ok_and_mismatch(void **st)
{
    (void)st;
    source_rows = 100;
    json_t *rec = new_job(50, true, "{\"create\":false,\"load\":false}");
    fake_sink f = {.rows = 100};
    vm_report r;
    build(rec, &f, NULL, &r);
    assert_string_equal(verdict_of(&r), "ok");
    assert_int_equal(r.verdict, VM_VERDICT_OK);
    /* loaded and indexed for counting only: both undone */
    assert_false(f.loaded);
    assert_false(fs_has_index(&f, "v"));
    vm_report_release(&r);
    f.rows = 99;
    build(rec, &f, NULL, &r);
    assert_string_equal(verdict_of(&r), "mismatch");
    vm_report_release(&r);
    json_decref(rec);
}

static void test_cancelled(void **st)
{
    (void)st;
    source_rows = 100;
    /* the mapping wants an index and a load at the end of the job */
    json_t *rec = new_job(20, false, "{\"create\":true,\"load\":true,\"fields\":{}}");
    fake_sink f = {.rows = 40};
    vm_report_opts o = {.cancelled = true, .target_created = true};
    vm_report r;
    build(rec, &f, &o, &r);
    assert_string_equal(verdict_of(&r), "cancelled");
    assert_int_equal(r.verdict, VM_VERDICT_CANCELLED);
    assert_string_equal(vm_verdict_name(VM_VERDICT_CANCELLED), "cancelled");
    assert_int_equal(count_of(&r, "rows_written"), 40);
    assert_int_equal(count_of(&r, "target_rows"), 40);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.doc, "tasks_summary"),
                                                        "not_done")),
                     2);
    /* not the mapping's indexes yet; what counting needed is undone */
    assert_int_equal(f.index_calls, 0);
    assert_false(f.loaded);
    assert_false(fs_has_index(&f, "v"));
    vm_report_release(&r);
    json_decref(rec);
}

static void test_count_again_after_interrupted_count(void **st)
{
    (void)st;
    source_rows = 100;
    json_t *rec = new_job(50, true, "{\"create\":false,\"load\":false}");
    /* what a count stopped before its undo leaves: loaded, indexed */
    fake_sink f = {.rows = 100, .loaded = true};
    fs_add_index(&f, "v");
    vm_report_opts o = {.target_created = true};
    vm_report r;
    build(rec, &f, &o, &r);
    assert_string_equal(verdict_of(&r), "ok");
    assert_false(f.loaded);
    assert_false(fs_has_index(&f, "v"));
    assert_int_equal(f.releases, 1);
    assert_int_equal(f.drops, 1);
    vm_report_release(&r);

    /* the same when the count was stopped between indexing and loading */
    fake_sink g = {.rows = 100};
    fs_add_index(&g, "v");
    build(rec, &g, &o, &r);
    assert_string_equal(verdict_of(&r), "ok");
    assert_false(g.loaded);
    assert_false(fs_has_index(&g, "v"));
    vm_report_release(&r);

    /* a collection the job appended to: a load found is not the job's */
    fake_sink h = {.rows = 100, .loaded = true};
    fs_add_index(&h, "v");
    vm_report_opts append = {.target_created = false};
    build(rec, &h, &append, &r);
    assert_string_equal(verdict_of(&r), "ok");
    assert_true(h.loaded);
    assert_true(fs_has_index(&h, "v"));
    vm_report_release(&r);

    /* the mapping asks for a load: the job's own loaded collection stays */
    json_t *rec2 = new_job(50, true, "{\"create\":true,\"load\":true,\"fields\":{}}");
    fake_sink k = {.rows = 100, .loaded = true};
    fs_add_index(&k, "v");
    build(rec2, &k, &o, &r);
    assert_string_equal(verdict_of(&r), "ok");
    assert_true(k.loaded);
    assert_true(fs_has_index(&k, "v"));
    vm_report_release(&r);
    json_decref(rec2);
    json_decref(rec);
}

int main(void)
{
    vm_log_set_level(VM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_and_mismatch),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_count_again_after_interrupted_count),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

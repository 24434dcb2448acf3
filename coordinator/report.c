/*
 * report.c - counts, verdict, JSON report.
 */
#include "report.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_testhook.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

const char *vm_verdict_name(vm_verdict v)
{
    static const char *const names[] = {"ok", "source_changed", "mismatch", "failed",
                                        "cancelled"};
    return v <= VM_VERDICT_CANCELLED ? names[v] : "unknown";
}

/* On a collection this job created, an index on a vector field that the
 * mapping did not ask for can only come from counting: make_queryable
 * names it after the field. An earlier count of this job that was stopped
 * before undoing its work (a coordinator killed while reconciling) may have
 * left such indexes, and the load: add every vector field's index to undo,
 * so that they are undone alike (dropping a missing index is no error). */
static int vm_report_own_indexes(const vm_schema *target, vm_sink_undo *undo, vm_err *err)
{
    for (size_t i = 0; i < target->nfields; i++) {
        bool listed = false;
        for (size_t k = 0; k < undo->nindexes && !listed; k++)
            listed = strcmp(undo->indexes[k], target->fields[i].name) == 0;
        if (listed || !vm_dtype_is_vector(target->fields[i].type))
            continue;
        char **v = vm_realloc(undo->indexes, (undo->nindexes + 1) * sizeof *v);
        if (!v)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        undo->indexes = v;
        if (!(v[undo->nindexes] = vm_strdup(target->fields[i].name)))
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        undo->nindexes++;
    }
    return VM_OK;
}

int vm_report_build(const vm_job_conf *job, vm_source *src, vm_sink *sink, vm_state *state,
                    const vm_schema *target, const json_t *record, const vm_report_opts *opts,
                    vm_report *out, vm_err *err)
{
    static const vm_report_opts none = {0};
    if (!opts)
        opts = &none;
    memset(out, 0, sizeof *out);
    const char *id = job->job.id;
    vm_task_status *ts = NULL;
    size_t n = 0;
    int rc = vm_state_tasks_list(state, id, &ts, &n, err);
    if (rc != VM_OK)
        return rc;
    json_t *tasks = json_array();
    int64_t read = 0, written = 0, done = 0, failed = 0;
    vm_report_sums sums; /* the details (report_render.c) */
    vm_report_sums_init(&sums);
    vm_report_sums_errors(&sums, opts->errors, opts->nerrors);
    for (size_t i = 0; i < n; i++) {
        const vm_task_status *t = &ts[i];
        char range[256];
        vm_task_describe(&t->task, range, sizeof range);
        read += t->rows_read;
        written += t->rows_written;
        done += t->state == VM_TASK_DONE;
        failed += t->state != VM_TASK_DONE;
        json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:s?, s:s?}", "id", (int)t->id,
                              "range", range, "state", vm_task_state_name(t->state), "rows_read",
                              (json_int_t)t->rows_read, "rows_written",
                              (json_int_t)t->rows_written, "attempts", (json_int_t)t->attempts,
                              "owner", t->owner, "error", t->error);
        if (o && vm_report_task_detail(o, t, range, &sums) == VM_OK)
            json_array_append_new(tasks, o);
        else
            json_decref(o);
    }
    vm_task_status_free_array(ts, n);

    int64_t s0 = json_integer_value(json_object_get(record, "source_rows_start"));
    int64_t before = json_integer_value(json_object_get(record, "target_rows_before"));
    int64_t s1 = -1, t = -1;
    char source_err[VM_ERR_MSG_MAX] = "", target_err[VM_ERR_MSG_MAX] = "";
    vm_err e2;
    if (vm_source_count(src, &s1, &e2) != VM_OK) {
        snprintf(source_err, sizeof source_err, "%s", e2.msg);
        s1 = -1;
    }
    /* indexes and load as the mapping asked; counting exactly needs a
     * loaded collection, and what was done only for that is undone after */
    json_t *ix = json_object_get(record, "index");
    bool want_index = json_is_true(json_object_get(ix, "create"));
    bool want_load = json_is_true(json_object_get(ix, "load"));
    char setup_err[VM_ERR_MSG_MAX] = "";
    if (want_index && !opts->cancelled) {
        json_t *spec = json_pack("{s:O}", "fields", json_object_get(ix, "fields"));
        if (!spec || vm_sink_index(sink, target, spec, &e2) != VM_OK)
            snprintf(setup_err, sizeof setup_err, "creating indexes: %s",
                     spec ? e2.msg : "out of memory");
        json_decref(spec);
    }
    vm_sink_undo undo = {0};
    int mq = vm_sink_make_queryable(sink, target, &undo, &e2);
    if (mq == VM_OK && opts->target_created && (opts->cancelled || !want_index)) {
        if (!undo.loaded && (opts->cancelled || !want_load)) {
            /* loaded already: by nobody but an interrupted count of this job */
            vm_info("collection %s: loaded by an earlier count of this job that was "
                    "interrupted; undoing it after counting",
                    target->collection);
            undo.loaded = true;
        }
        mq = vm_report_own_indexes(target, &undo, &e2);
    }
    if (mq != VM_OK || vm_sink_count(sink, target->collection, &t, &e2) != VM_OK) {
        snprintf(target_err, sizeof target_err, "%s", e2.msg);
        t = -1;
    }
    vm_test_pause_at("counted");
    bool loaded_now = undo.loaded;
    /* a cancelled job goes on later: leave the collection as the data found it */
    bool release = opts->cancelled || !want_load;
    bool drop = opts->cancelled || (!want_index && !want_load);
    if ((undo.loaded && release) || (undo.nindexes && drop)) {
        if (vm_sink_undo_queryable(sink, target->collection, &undo, release, drop, &e2) != VM_OK) {
            vm_warn("after counting: %s", e2.msg);
            if (!setup_err[0])
                snprintf(setup_err, sizeof setup_err, "undoing the load for counting: %s",
                         e2.msg);
        } else {
            vm_info("collection %s: %s%s%s after counting (%s)", target->collection,
                    undo.loaded && release ? "released" : "",
                    undo.loaded && release && undo.nindexes && drop ? " and " : "",
                    undo.nindexes && drop ? "the indexes made for counting dropped" : "",
                    opts->cancelled ? "the job is cancelled and may be resumed"
                    : want_index    ? "collection.index asks for indexes"
                                    : "collection.index asks for no index");
        }
    }
    vm_sink_undo_release(&undo);
    int64_t added = before >= 0 && t >= 0 ? t - before : t;
    vm_verdict v;
    if (opts->cancelled)
        v = VM_VERDICT_CANCELLED;
    else if (failed > 0 || s1 < 0 || t < 0)
        v = VM_VERDICT_FAILED;
    else if (s1 != s0)
        v = VM_VERDICT_SOURCE_CHANGED;
    else if (read == s0 && written == read && added == written)
        v = VM_VERDICT_OK;
    else
        v = VM_VERDICT_MISMATCH;

    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    out->doc = json_pack(
        "{s:s, s:s, s:s, s:O, s:O, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:b, s:s?, "
        "s:s?, s:o}",
        "job", id, "verdict", vm_verdict_name(v), "finished_at", when, "source",
        json_object_get(record, "source"), "target", json_object_get(record, "target"), "counts",
        "source_rows_start", (json_int_t)s0, "source_rows_end", (json_int_t)s1, "rows_read",
        (json_int_t)read, "rows_written", (json_int_t)written, "target_rows", (json_int_t)t,
        "target_rows_before", (json_int_t)before, "tasks_summary", "done", (json_int_t)done,
        "not_done", (json_int_t)failed, "target_loaded_for_count", loaded_now, "source_error",
        source_err[0] ? source_err : NULL, "target_error", target_err[0] ? target_err : NULL,
        "tasks", tasks);
    if (!out->doc) {
        vm_report_sums_release(&sums);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building the report");
    }
    json_object_set(out->doc, "schema", json_object_get(record, "schema"));
    json_object_set_new(out->doc, "collection_setup",
                        json_pack("{s:b, s:b, s:b, s:s?}", "indexed", want_index, "loaded",
                                  want_load, "loaded_for_count_only", loaded_now && release,
                                  "error", setup_err[0] ? setup_err : NULL));
    if (json_object_get(record, "mapping"))
        json_object_set(out->doc, "mapping", json_object_get(record, "mapping"));
    if (json_object_get(record, "mapping_summary"))
        json_object_set(out->doc, "mapping_summary", json_object_get(record, "mapping_summary"));
    out->verdict = v;
    vm_job_info info;
    int64_t started = 0;
    if (vm_state_job_get(state, id, &info, &e2) == VM_OK) {
        started = info.created_ms;
        vm_job_info_release(&info);
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    rc = vm_report_details(out->doc, &sums, started,
                           (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
    vm_report_sums_release(&sums);
    if (rc != VM_OK) {
        vm_report_release(out);
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building the report");
    }
    return VM_OK;
}

int vm_report_write(const vm_report *r, const char *path, vm_err *err)
{
    if (json_dump_file(r->doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        return vm_err_setc(err, VM_ERR_IO, "cannot write the report to %s", path);
    vm_info("report written to %s", path);
    return VM_OK;
}

void vm_report_print(const vm_report *r, FILE *f)
{
    json_t *c = json_object_get(r->doc, "counts");
#define K(name) (long long)json_integer_value(json_object_get(c, name))
    fprintf(f,
            "verdict: %s\n  source rows at start %lld, at end %lld\n  rows read %lld, rows "
            "written %lld\n  target rows %lld%s\n",
            vm_verdict_name(r->verdict), K("source_rows_start"), K("source_rows_end"),
            K("rows_read"), K("rows_written"), K("target_rows"),
            K("target_rows_before") >= 0 ? " (including rows there before)" : "");
#undef K
    const char *why = json_string_value(json_object_get(r->doc, "verdict_reason"));
    if (why && (r->verdict == VM_VERDICT_FAILED || r->verdict == VM_VERDICT_MISMATCH))
        fprintf(f, "  %s\n", why);
    if (r->verdict == VM_VERDICT_CANCELLED)
        fprintf(f, "  cancelled: every written batch is checkpointed; `vecmig resume` continues "
                   "the job from there\n");
    if (r->verdict == VM_VERDICT_SOURCE_CHANGED)
        fprintf(f, "  the source changed during the run: its count moved; this is not data "
                   "loss, run the job again to catch up\n");
    const char *se = json_string_value(json_object_get(r->doc, "source_error"));
    const char *te = json_string_value(json_object_get(r->doc, "target_error"));
    json_t *w = json_object_get(json_object_get(r->doc, "mapping_summary"), "warnings");
    size_t i;
    json_t *x;
    json_array_foreach(w, i, x) fprintf(f, "  mapping: %s\n", json_string_value(x));
    const char *xe = json_string_value(json_object_get(json_object_get(r->doc, "collection_setup"),
                                                       "error"));
    if (xe)
        fprintf(f, "  collection setup: %s\n", xe);
    if (se)
        fprintf(f, "  source count failed: %s\n", se);
    if (te)
        fprintf(f, "  target count failed: %s\n", te);
}

void vm_report_release(vm_report *r)
{
    json_decref(r->doc);
    r->doc = NULL;
}

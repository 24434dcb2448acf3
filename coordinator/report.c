/*
 * report.c - counts, verdict, JSON report.
 */
#include "report.h"
#include "vm_log.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

const char *vm_verdict_name(vm_verdict v)
{
    static const char *const names[] = {"ok", "source_changed", "mismatch", "failed"};
    return v <= VM_VERDICT_FAILED ? names[v] : "unknown";
}

int vm_report_build(const vm_job_conf *job, vm_source *src, vm_sink *sink, vm_state *state,
                    const vm_schema *target, const json_t *record, vm_report *out, vm_err *err)
{
    memset(out, 0, sizeof *out);
    const char *id = job->job.id;
    vm_task_status *ts = NULL;
    size_t n = 0;
    int rc = vm_state_tasks_list(state, id, &ts, &n, err);
    if (rc != VM_OK)
        return rc;
    json_t *tasks = json_array();
    int64_t read = 0, written = 0, done = 0, failed = 0;
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
        if (o)
            json_array_append_new(tasks, o);
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
    if (want_index) {
        json_t *spec = json_pack("{s:O}", "fields", json_object_get(ix, "fields"));
        if (!spec || vm_sink_index(sink, target, spec, &e2) != VM_OK)
            snprintf(setup_err, sizeof setup_err, "creating indexes: %s",
                     spec ? e2.msg : "out of memory");
        json_decref(spec);
    }
    vm_sink_undo undo = {0};
    if (vm_sink_make_queryable(sink, target, &undo, &e2) != VM_OK ||
        vm_sink_count(sink, target->collection, &t, &e2) != VM_OK) {
        snprintf(target_err, sizeof target_err, "%s", e2.msg);
        t = -1;
    }
    bool loaded_now = undo.loaded;
    bool release = !want_load, drop = !want_index && !want_load;
    if ((undo.loaded && release) || (undo.nindexes && drop)) {
        if (vm_sink_undo_queryable(sink, target->collection, &undo, release, drop, &e2) != VM_OK) {
            vm_warn("after counting: %s", e2.msg);
            if (!setup_err[0])
                snprintf(setup_err, sizeof setup_err, "undoing the load for counting: %s",
                         e2.msg);
        } else {
            vm_info("collection %s: %s%s%s after counting (collection.index asks for %s)",
                    target->collection, undo.loaded && release ? "released" : "",
                    undo.loaded && release && undo.nindexes && drop ? " and " : "",
                    undo.nindexes && drop ? "the indexes made for counting dropped" : "",
                    want_index ? "indexes" : "no index");
        }
    }
    vm_sink_undo_release(&undo);
    int64_t added = before >= 0 && t >= 0 ? t - before : t;
    vm_verdict v;
    if (failed > 0 || s1 < 0 || t < 0)
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
    if (!out->doc)
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory building the report");
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

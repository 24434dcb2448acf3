/*
 * test_report_render.c - the report's details and renderings
 * (coordinator/report_render.c): per-task times and stats summed, the
 * verdict's reason, error samples (distinct, capped), time and throughput;
 * Markdown and HTML written exactly as expected for a small report, with
 * every string from the document escaped (a field name and an error that
 * hold "<script>", table pipes, Markdown emphasis); a report read back from
 * JSON renders the same; sibling paths and format names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "vm_mem.h"

/* Render doc into a string (free()). */
static char *render(const json_t *doc, vm_report_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    vm_err e;
    assert_int_equal(vm_report_render(doc, fmt, f, &e), VM_OK);
    fclose(f);
    return buf;
}

static void status(vm_task_status *t, uint32_t id, vm_task_state st, int64_t first,
                   int64_t fin, const char *error)
{
    memset(t, 0, sizeof *t);
    vm_task_init(&t->task);
    t->id = id;
    t->state = st;
    t->attempts = st == VM_TASK_DONE ? 1 : 2;
    t->rows_read = t->rows_written = 100 * (id + 1);
    t->first_claim_ms = first;
    t->finished_ms = fin;
    t->stats = (vm_task_stats){.retries = id + 1, .splits = id, .changed = 5, .truncated = 1,
                               .run_ms = 400};
    t->error = (char *)error;
    t->owner = (char *)"w1";
}

/* A small report as vm_report_build makes it, with details added. */
static json_t *small_report(const char *verdict, bool with_failure)
{
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I}, s:b, s:n, s:n, s:[]}",
        "job", "j1", "verdict", verdict, "finished_at", "2026-01-01T00:00:10Z", "source", "type",
        "pgvector", "collection", "public.items", "target", "type", "milvus", "collection",
        "items", "counts", "source_rows_start", (json_int_t)300, "source_rows_end",
        (json_int_t)300, "rows_read", (json_int_t)300, "rows_written", (json_int_t)300,
        "target_rows", (json_int_t)300, "target_rows_before", (json_int_t)-1, "tasks_summary",
        "done", (json_int_t)(with_failure ? 1 : 2), "not_done", (json_int_t)(with_failure ? 1 : 0),
        "target_loaded_for_count", false, "source_error", "target_error", "tasks");
    assert_non_null(doc);
    json_object_set_new(doc, "collection_setup",
                        json_pack("{s:b, s:b, s:b, s:n}", "indexed", true, "loaded", true,
                                  "loaded_for_count_only", false, "error"));
    json_object_set_new(
        doc, "mapping_summary",
        json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:b}, {s:s, s:s, s:s, s:s, s:s, s:b}], "
                  "s:[s], s:i}",
                  "fields", "source", "id", "source_type", "bigint", "target", "id",
                  "target_type", "Int64", "notes", "primary key", "lossy", false, "source",
                  "<script>alert(1)</script>", "source_type", "double precision", "target",
                  "a|b_*c*", "target_type", "Float", "notes", "", "lossy", true, "warnings",
                  "field 'x' & <y> dropped", "sampled_rows", 10));
    vm_report_sums s;
    vm_report_sums_init(&s);
    const char *seen[] = {"write failed: HTTP 503", "write failed: HTTP 503"};
    vm_report_sums_errors(&s, seen, 2);
    vm_task_status ts[2];
    status(&ts[0], 0, VM_TASK_DONE, 1767225601000, 1767225603500, NULL);
    status(&ts[1], 1, with_failure ? VM_TASK_FAILED : VM_TASK_DONE, 1767225602000,
           1767225604000, with_failure ? "row id=7: <script>x</script> | bad" : NULL);
    const char *ranges[] = {"int [-inf, 100)", "int [100, +inf)"};
    json_t *tasks = json_object_get(doc, "tasks");
    for (int i = 0; i < 2; i++) {
        json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:s, s:s?}", "id", (int)ts[i].id,
                              "range", ranges[i], "state", vm_task_state_name(ts[i].state),
                              "rows_read", (json_int_t)ts[i].rows_read, "rows_written",
                              (json_int_t)ts[i].rows_written, "attempts",
                              (json_int_t)ts[i].attempts, "owner", ts[i].owner, "error",
                              ts[i].error);
        assert_int_equal(vm_report_task_detail(o, &ts[i], ranges[i], &s), VM_OK);
        json_array_append_new(tasks, o);
    }
    /* job created 2026-01-01T00:00:00Z, report at +10 s */
    assert_int_equal(vm_report_details(doc, &s, 1767225600000, 1767225610000), VM_OK);
    vm_report_sums_release(&s);
    return doc;
}

static void test_details(void **st)
{
    (void)st;
    json_t *doc = small_report("ok", false);
    json_t *t0 = json_array_get(json_object_get(doc, "tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "first_claim_at")),
                        "2026-01-01T00:00:01.000Z");
    assert_int_equal(json_integer_value(json_object_get(t0, "duration_ms")), 2500);
    assert_int_equal(json_integer_value(json_object_get(t0, "retries")), 1);
    assert_int_equal(json_integer_value(json_object_get(t0, "values_changed")), 5);
    assert_string_equal(json_string_value(json_object_get(doc, "verdict_reason")),
                        "all counts agree: 300 source rows, 300 read, 300 written, 300 in the "
                        "target");
    json_t *tm = json_object_get(doc, "time");
    assert_string_equal(json_string_value(json_object_get(tm, "started_at")),
                        "2026-01-01T00:00:00.000Z");
    assert_true(json_real_value(json_object_get(tm, "seconds")) == 10.0);
    assert_true(json_real_value(json_object_get(tm, "copy_seconds")) == 3.0);
    json_t *tp = json_object_get(doc, "throughput");
    assert_true(json_real_value(json_object_get(tp, "rows_per_second")) == 30.0);
    assert_true(json_real_value(json_object_get(tp, "copy_rows_per_second")) == 100.0);
    json_t *rt = json_object_get(doc, "retries");
    assert_int_equal(json_integer_value(json_object_get(rt, "write_retries")), 3);
    assert_int_equal(json_integer_value(json_object_get(rt, "batch_splits")), 1);
    assert_int_equal(json_integer_value(json_object_get(rt, "task_attempts")), 2);
    json_t *ly = json_object_get(doc, "lossy");
    assert_int_equal(json_integer_value(json_object_get(ly, "values_changed")), 10);
    assert_int_equal(json_integer_value(json_object_get(ly, "values_truncated")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ly, "fields"), 0)),
                        "a|b_*c*");
    /* the error seen twice during the run is one sample */
    json_t *fl = json_object_get(doc, "failures");
    assert_int_equal(json_array_size(json_object_get(fl, "errors")), 1);
    assert_int_equal(json_array_size(json_object_get(fl, "tasks")), 0);
    json_decref(doc);

    doc = small_report("failed", true);
    fl = json_object_get(doc, "failures");
    assert_int_equal(json_array_size(json_object_get(fl, "tasks")), 1);
    assert_int_equal(json_integer_value(json_object_get(fl, "distinct_errors")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(fl, "errors"), 1)),
                        "row id=7: <script>x</script> | bad");
    /* a failed task has no duration */
    t0 = json_array_get(json_object_get(doc, "tasks"), 1);
    assert_true(json_is_null(json_object_get(t0, "duration_ms")));
    assert_string_equal(json_string_value(json_object_get(doc, "verdict_reason")),
                        "1 of 2 tasks did not finish; first error: write failed: HTTP 503");
    json_decref(doc);
}

/* At most VM_REPORT_ERROR_SAMPLES samples, every distinct one counted. */
static void test_error_samples_capped(void **st)
{
    (void)st;
    vm_report_sums s;
    vm_report_sums_init(&s);
    char msgs[15][32];
    const char *p[15];
    for (int i = 0; i < 15; i++) {
        snprintf(msgs[i], sizeof msgs[i], "error %d", i % 12);
        p[i] = msgs[i];
    }
    vm_report_sums_errors(&s, p, 15);
    assert_int_equal(json_array_size(s.errors), VM_REPORT_ERROR_SAMPLES);
    assert_string_equal(json_string_value(json_array_get(s.errors, 0)), "error 0");
    assert_true(s.distinct_errors >= 12);
    vm_report_sums_release(&s);
}

static const char expect_md[] =
    "# Migration report: j1\n"
    "\n"
    "**Verdict: failed** - 1 of 2 tasks did not finish; first error: write failed: HTTP 503\n"
    "\n"
    "|  |  |\n"
    "|---|---|\n"
    "| Source | pgvector public.items |\n"
    "| Target | milvus items |\n"
    "| Started | 2026-01-01T00:00:00.000Z |\n"
    "| Finished | 2026-01-01T00:00:10.000Z |\n"
    "| Time taken (s) | 10.0 |\n"
    "| Throughput (rows/s) | 30 |\n"
    "| Source rows at start / end | 300 / 300 |\n"
    "| Rows read / written | 300 / 300 |\n"
    "| Target rows | 300 |\n"
    "| Tasks done / not done | 1 / 1 |\n"
    "| Write retries / batch splits | 3 / 1 |\n"
    "| Values changed / truncated by the mapping | 10 / 2 |\n"
    "\n"
    "## Tasks\n"
    "\n"
    "| Task | Range | State | Rows read | Rows written | Attempts | Retries | Splits | "
    "Duration (s) | Worker | Last error |\n"
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|\n"
    "| 0 | int \\[-inf, 100) | done | 100 | 100 | 1 | 1 | 0 | 2.5 | w1 |  |\n"
    "| 1 | int \\[100, +inf) | failed | 200 | 200 | 2 | 2 | 1 | - | w1 | row id=7: "
    "&lt;script>x&lt;/script> \\| bad |\n"
    "\n"
    "## Failures\n"
    "\n"
    "| Task | Range | State | Attempts | Last error |\n"
    "|---:|---|---|---:|---|\n"
    "| 1 | int \\[100, +inf) | failed | 2 | row id=7: &lt;script>x&lt;/script> \\| bad |\n"
    "\n"
    "Error samples (2 of 2 distinct):\n"
    "\n"
    "1. write failed: HTTP 503\n"
    "2. row id=7: &lt;script>x&lt;/script> \\| bad\n"
    "\n"
    "## Schema mapping\n"
    "\n"
    "| Source field | Source type | Target field | Target type | Notes |\n"
    "|---|---|---|---|---|\n"
    "| id | bigint | id | Int64 | primary key |\n"
    "| &lt;script>alert(1)&lt;/script> | double precision | a\\|b\\_\\*c\\* | Float | "
    "lossy |\n"
    "\n"
    "Mapping warnings:\n"
    "\n"
    "- field 'x' &amp; &lt;y> dropped\n"
    "\n"
    "## Collection setup\n"
    "\n"
    "|  |  |\n"
    "|---|---|\n"
    "| Collection | items |\n"
    "| Indexes created | yes |\n"
    "| Loaded | yes |\n"
    "| Loaded only for counting | no |\n";

static void test_markdown_exact(void **st)
{
    (void)st;
    json_t *doc = small_report("failed", true);
    char *md = render(doc, VM_REPORT_MD);
    if (strcmp(md, expect_md) != 0)
        fprintf(stderr, "---- got:\n%s---- want:\n%s", md, expect_md);
    assert_string_equal(md, expect_md);
    assert_null(strstr(md, "<script>"));
    free(md);
    json_decref(doc);
}

static void test_html(void **st)
{
    (void)st;
    json_t *doc = small_report("failed", true);
    char *html = render(doc, VM_REPORT_HTML);
    /* one self-contained page: no script, no external resource */
    assert_true(strncmp(html, "<!DOCTYPE html>\n<html lang=\"en\">\n", 32) == 0);
    assert_non_null(strstr(html, "<style>\n"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "src="));
    assert_non_null(strstr(html, "<title>Migration report: j1</title>"));
    assert_non_null(strstr(html, "<p class=\"verdict v-failed\">Verdict: <strong>failed</strong>"
                                 " &mdash; 1 of 2 tasks did not finish; first error: write "
                                 "failed: HTTP 503</p>\n"));
    assert_non_null(strstr(html, "<tr><td>Rows read / written</td><td>300 / 300</td></tr>\n"));
    assert_non_null(strstr(html, "<tr><td class=\"num\">1</td><td>int [100, +inf)</td>"
                                 "<td>failed</td><td class=\"num\">200</td>"
                                 "<td class=\"num\">200</td><td class=\"num\">2</td>"
                                 "<td class=\"num\">2</td><td class=\"num\">1</td>"
                                 "<td class=\"num\">-</td><td>w1</td>"
                                 "<td>row id=7: &lt;script&gt;x&lt;/script&gt; | bad</td></tr>\n"));
    assert_non_null(strstr(html, "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
                                 "<td>double precision</td><td>a|b_*c*</td>"));
    assert_non_null(strstr(html, "<li>field &#39;x&#39; &amp; &lt;y&gt; dropped</li>"));
    assert_non_null(strstr(html, "<ol>\n<li>write failed: HTTP 503</li>\n"));
    assert_true(strlen(html) > 20 && strcmp(html + strlen(html) - 16, "</body>\n</html>\n") == 0);
    free(html);

    /* an unknown verdict gets no class of its own (nothing from the
     * document reaches an attribute) and a hostile job id is text */
    json_object_set_new(doc, "verdict", json_string("\"><script>"));
    json_object_set_new(doc, "job", json_string("<img src=x onerror=alert(1)>"));
    html = render(doc, VM_REPORT_HTML);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_non_null(strstr(html, "class=\"verdict v-failed\""));
    assert_non_null(strstr(html, "&quot;&gt;&lt;script&gt;"));
    free(html);
    json_decref(doc);
}

/* JSON is the report file's text; a document read back renders alike. */
static void test_json_round_trip(void **st)
{
    (void)st;
    json_t *doc = small_report("ok", false);
    char *js = render(doc, VM_REPORT_JSON);
    json_error_t je;
    json_t *back = json_loads(js, 0, &je);
    assert_non_null(back);
    assert_true(json_equal(doc, back));
    char *a = render(doc, VM_REPORT_MD), *b = render(back, VM_REPORT_MD);
    assert_string_equal(a, b);
    /* the key order is the document's (the report file and `vecmig report
     * --format json` are the same text) */
    char *js2 = render(back, VM_REPORT_JSON);
    assert_string_equal(js, js2);
    static const char head[] = "{\n  \"job\": \"j1\",\n  \"verdict\": \"ok\",";
    assert_true(strncmp(js, head, strlen(head)) == 0);
    free(a);
    free(b);
    free(js);
    free(js2);
    json_decref(back);
    json_decref(doc);
    /* a bare document (no details): renders with dashes, no crash */
    json_t *bare = json_pack("{s:s}", "job", "x");
    char *md = render(bare, VM_REPORT_MD);
    assert_non_null(strstr(md, "**Verdict: ?**\n"));
    assert_non_null(strstr(md, "| Time taken (s) | - |\n"));
    assert_non_null(strstr(md, "No tasks."));
    free(md);
    json_decref(bare);
    vm_err e;
    json_t *arr = json_array();
    assert_int_equal(vm_report_render(arr, VM_REPORT_MD, stdout, &e), VM_ERR_INVALID);
    json_decref(arr);
}

static void test_formats_and_siblings(void **st)
{
    (void)st;
    vm_report_format f;
    assert_int_equal(vm_report_format_parse("md", &f), 0);
    assert_int_equal(f, VM_REPORT_MD);
    assert_int_equal(vm_report_format_parse("markdown", &f), 0);
    assert_int_equal(f, VM_REPORT_MD);
    assert_int_equal(vm_report_format_parse("html", &f), 0);
    assert_int_equal(f, VM_REPORT_HTML);
    assert_int_equal(vm_report_format_parse("pdf", &f), -1);
    char out[128];
    vm_report_sibling("out/r.json", VM_REPORT_HTML, out, sizeof out);
    assert_string_equal(out, "out/r.html");
    vm_report_sibling("out/report", VM_REPORT_MD, out, sizeof out);
    assert_string_equal(out, "out/report.md");
    vm_report_sibling("a.b/.json", VM_REPORT_MD, out, sizeof out);
    assert_string_equal(out, "a.b/.json.md");
    vm_report_sibling("r.JSON.txt", VM_REPORT_MD, out, sizeof out);
    assert_string_equal(out, "r.JSON.txt.md");
}

static void test_set_verdict(void **st)
{
    (void)st;
    vm_report r = {.verdict = VM_VERDICT_OK, .doc = small_report("ok", false)};
    vm_report_set_verdict(&r, VM_VERDICT_FAILED, "the run did not complete: interrupted");
    assert_int_equal(r.verdict, VM_VERDICT_FAILED);
    assert_string_equal(json_string_value(json_object_get(r.doc, "verdict")), "failed");
    assert_string_equal(json_string_value(json_object_get(r.doc, "verdict_reason")),
                        "the run did not complete: interrupted");
    vm_report_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_details),
        cmocka_unit_test(test_error_samples_capped),
        cmocka_unit_test(test_markdown_exact),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_formats_and_siblings),
        cmocka_unit_test(test_set_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

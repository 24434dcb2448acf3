/*
 * report_render.c - the report's detail sections (per-task times and
 * stats, time taken, throughput, retries, lossy values, failures with error
 * samples, the verdict's one-line reason) and its readable renderings:
 * Markdown, and one self-contained HTML page (inline CSS, no script, no
 * external resource).
 *
 * Everything the report holds may come from outside (field names from the
 * source, error messages from servers): every string is escaped for the
 * format it is written in (HTML entities; in Markdown also the characters
 * that would open a table cell, code span, link or emphasis), so a field
 * named "<script>" is text, never markup.
 */
#include "report.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* ---- small accessors ------------------------------------------------------ */

static const char *rr_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int64_t rr_int(const json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* "2026-01-02T03:04:05.678Z" for ms since the epoch; NULL for 0. */
static json_t *rr_iso_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(ms % 1000));
    return json_string(buf);
}

/* ---- details --------------------------------------------------------------- */

void vm_report_sums_init(vm_report_sums *s)
{
    memset(s, 0, sizeof *s);
    s->failed_tasks = json_array();
    s->errors = json_array();
}

void vm_report_sums_release(vm_report_sums *s)
{
    json_decref(s->failed_tasks);
    json_decref(s->errors);
    memset(s, 0, sizeof *s);
}

/* Append msg to the distinct error list (kept to VM_REPORT_ERROR_SAMPLES;
 * `distinct` counts all). */
static void rr_error_add(vm_report_sums *s, const char *msg)
{
    if (!msg || !*msg || !s->errors)
        return;
    size_t i;
    json_t *x;
    json_array_foreach(s->errors, i, x) if (strcmp(json_string_value(x), msg) == 0) return;
    /* beyond the samples, distinct messages are still counted, roughly
     * (a message is not compared with the ones that were not kept) */
    s->distinct_errors++;
    if (json_array_size(s->errors) < VM_REPORT_ERROR_SAMPLES)
        json_array_append_new(s->errors, json_string(msg));
}

void vm_report_sums_errors(vm_report_sums *s, const char *const *errors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rr_error_add(s, errors[i]);
}

int vm_report_task_detail(json_t *o, const vm_task_status *t, const char *range,
                          vm_report_sums *s)
{
    int64_t dur = t->state == VM_TASK_DONE && t->first_claim_ms > 0 &&
                          t->finished_ms >= t->first_claim_ms
                      ? t->finished_ms - t->first_claim_ms
                      : -1;
    int rc = json_object_set_new(o, "first_claim_at", rr_iso_json(t->first_claim_ms));
    rc |= json_object_set_new(o, "finished_at", rr_iso_json(t->finished_ms));
    rc |= json_object_set_new(o, "duration_ms", dur >= 0 ? json_integer(dur) : json_null());
    rc |= json_object_set_new(o, "run_ms", json_integer(t->stats.run_ms));
    rc |= json_object_set_new(o, "retries", json_integer(t->stats.retries));
    rc |= json_object_set_new(o, "splits", json_integer(t->stats.splits));
    rc |= json_object_set_new(o, "values_changed", json_integer(t->stats.changed));
    rc |= json_object_set_new(o, "values_truncated", json_integer(t->stats.truncated));
    if (rc)
        return VM_ERR_NOMEM;
    s->tasks++;
    s->done += t->state == VM_TASK_DONE;
    s->attempts += t->attempts;
    s->tasks_retried += t->attempts > 1;
    s->retries += t->stats.retries;
    s->splits += t->stats.splits;
    s->changed += t->stats.changed;
    s->truncated += t->stats.truncated;
    s->run_ms += t->stats.run_ms;
    if (t->first_claim_ms > 0 && (s->first_claim_ms == 0 || t->first_claim_ms < s->first_claim_ms))
        s->first_claim_ms = t->first_claim_ms;
    if (t->finished_ms > s->last_finish_ms)
        s->last_finish_ms = t->finished_ms;
    if (t->state == VM_TASK_FAILED || (t->state != VM_TASK_DONE && t->error)) {
        s->failed++;
        json_array_append_new(s->failed_tasks,
                              json_pack("{s:i, s:s, s:s, s:I, s:s?}", "id", (int)t->id, "range",
                                        range ? range : "", "state",
                                        vm_task_state_name(t->state), "attempts",
                                        (json_int_t)t->attempts, "error", t->error));
    }
    rr_error_add(s, t->error);
    return VM_OK;
}

/* The verdict's one-line reason, from the counts. */
static void rr_reason(const json_t *doc, const vm_report_sums *s, char *buf, size_t cap)
{
    const char *v = rr_str(doc, "verdict");
    const json_t *c = json_object_get(doc, "counts");
    int64_t s0 = rr_int(c, "source_rows_start", -1), s1 = rr_int(c, "source_rows_end", -1);
    int64_t rd = rr_int(c, "rows_read", 0), wr = rr_int(c, "rows_written", 0);
    int64_t t = rr_int(c, "target_rows", -1), before = rr_int(c, "target_rows_before", -1);
    int64_t added = before >= 0 && t >= 0 ? t - before : t;
    const json_t *ts = json_object_get(doc, "tasks_summary");
    int64_t done = rr_int(ts, "done", 0), total = done + rr_int(ts, "not_done", 0);
    const char *first = json_string_value(json_array_get(s->errors, 0));
    if (!v)
        v = "?";
    if (strcmp(v, "ok") == 0) {
        snprintf(buf, cap,
                 "all counts agree: %" PRId64 " source rows, %" PRId64 " read, %" PRId64
                 " written, %" PRId64 " %s the target",
                 s0, rd, wr, added, before > 0 ? "added to" : "in");
    } else if (strcmp(v, "cancelled") == 0) {
        snprintf(buf, cap,
                 "cancelled on request after %" PRId64 " of %" PRId64 " rows written (%" PRId64
                 " of %" PRId64 " tasks done); `vecmig resume` continues it",
                 wr, s0, done, total);
    } else if (strcmp(v, "source_changed") == 0) {
        snprintf(buf, cap,
                 "the source's count moved from %" PRId64 " to %" PRId64
                 " during the run: not data loss, run the job again to catch up",
                 s0, s1);
    } else if (strcmp(v, "mismatch") == 0) {
        if (rd != s0)
            snprintf(buf, cap, "rows read (%" PRId64 ") differ from the source rows (%" PRId64 ")",
                     rd, s0);
        else if (wr != rd)
            snprintf(buf, cap, "rows written (%" PRId64 ") differ from rows read (%" PRId64 ")",
                     wr, rd);
        else
            snprintf(buf, cap,
                     "the target holds %" PRId64 " %srows, %" PRId64 " were written", added,
                     before > 0 ? "new " : "", wr);
    } else if (strcmp(v, "failed") == 0) {
        const char *se = rr_str(doc, "source_error"), *te = rr_str(doc, "target_error");
        if (s->failed > 0 || done < total)
            snprintf(buf, cap, "%" PRId64 " of %" PRId64 " tasks did not finish%s%.300s",
                     total - done, total, first ? "; first error: " : "", first ? first : "");
        else if (se)
            snprintf(buf, cap, "the source could not be counted: %.300s", se);
        else if (te)
            snprintf(buf, cap, "the target could not be counted: %.300s", te);
        else
            snprintf(buf, cap, "the run did not complete%s%.300s", first ? ": " : "",
                     first ? first : "");
    } else {
        snprintf(buf, cap, "%s", v);
    }
}

/* Target fields the mapping flags as lossy (values may change there). */
static json_t *rr_lossy_fields(const json_t *doc)
{
    json_t *out = json_array(), *x;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(doc, "mapping_summary"), "fields"), i, x)
    {
        if (json_is_true(json_object_get(x, "lossy")) && rr_str(x, "target"))
            json_array_append_new(out, json_string(rr_str(x, "target")));
    }
    return out;
}

int vm_report_details(json_t *doc, vm_report_sums *s, int64_t started_ms, int64_t now_ms)
{
    const json_t *c = json_object_get(doc, "counts");
    int64_t written = rr_int(c, "rows_written", 0);
    double secs = started_ms > 0 && now_ms >= started_ms ? (double)(now_ms - started_ms) / 1000.0
                                                         : -1;
    double copy = s->first_claim_ms > 0 && s->last_finish_ms >= s->first_claim_ms
                      ? (double)(s->last_finish_ms - s->first_claim_ms) / 1000.0
                      : -1;
    char reason[1024];
    rr_reason(doc, s, reason, sizeof reason);
    json_t *lossy_fields = rr_lossy_fields(doc);
    json_t *time = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "started_at",
                             rr_iso_json(started_ms), "finished_at", rr_iso_json(now_ms),
                             "seconds", secs >= 0 ? json_real(secs) : json_null(),
                             "copy_started_at", rr_iso_json(s->first_claim_ms),
                             "copy_finished_at", rr_iso_json(s->last_finish_ms), "copy_seconds",
                             copy >= 0 ? json_real(copy) : json_null());
    json_t *tp = json_pack("{s:o, s:o}", "rows_per_second",
                           secs > 0 ? json_real(round((double)written / secs * 10) / 10)
                                    : json_null(),
                           "copy_rows_per_second",
                           copy > 0 ? json_real(round((double)written / copy * 10) / 10)
                                    : json_null());
    json_t *rt = json_pack("{s:I, s:I, s:I, s:I, s:I}", "write_retries", (json_int_t)s->retries,
                           "batch_splits", (json_int_t)s->splits, "task_attempts",
                           (json_int_t)s->attempts, "tasks_retried",
                           (json_int_t)s->tasks_retried, "run_ms", (json_int_t)s->run_ms);
    json_t *ly = json_pack("{s:I, s:I, s:o, s:b}", "values_changed", (json_int_t)s->changed,
                           "values_truncated", (json_int_t)s->truncated, "fields", lossy_fields,
                           "per_field_counts", false);
    json_t *fl = json_pack("{s:O, s:O, s:I}", "tasks", s->failed_tasks, "errors", s->errors,
                           "distinct_errors", (json_int_t)s->distinct_errors);
    int rc = json_object_set_new(doc, "verdict_reason", json_string(reason));
    rc |= json_object_set_new(doc, "time", time);
    rc |= json_object_set_new(doc, "throughput", tp);
    rc |= json_object_set_new(doc, "retries", rt);
    rc |= json_object_set_new(doc, "lossy", ly);
    rc |= json_object_set_new(doc, "failures", fl);
    return rc || !time || !tp || !rt || !ly || !fl ? VM_ERR_NOMEM : VM_OK;
}

void vm_report_set_verdict(vm_report *r, vm_verdict v, const char *reason)
{
    r->verdict = v;
    json_object_set_new(r->doc, "verdict", json_string(vm_verdict_name(v)));
    if (reason)
        json_object_set_new(r->doc, "verdict_reason", json_string(reason));
}

/* ---- formats -------------------------------------------------------------------- */

int vm_report_format_parse(const char *name, vm_report_format *out)
{
    static const char *const names[] = {"json", "md", "html"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (vm_report_format)i;
            return 0;
        }
    if (name && strcmp(name, "markdown") == 0) {
        *out = VM_REPORT_MD;
        return 0;
    }
    return -1;
}

void vm_report_sibling(const char *path, vm_report_format fmt, char *out, size_t cap)
{
    static const char *const ext[] = {".json", ".md", ".html"};
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash + 1) && strcmp(dot, ".json") == 0)
        n = (size_t)(dot - path);
    snprintf(out, cap, "%.*s%s", (int)n, path, ext[fmt]);
}

/* ---- the writer: one document model, two syntaxes ----------------------- */

typedef struct rr {
    FILE *f;
    bool html;
} rr;

static bool rr_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void rr_esc(const rr *w, const char *s)
{
    if (!s)
        return;
    for (const char *start = s; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* an underscore inside a word emphasises nothing (CommonMark):
         * ids like job_1 stay readable in the Markdown text */
        if (c == '_' && !w->html && s > start && rr_alnum(s[-1]) && rr_alnum(s[1])) {
            fputc(c, w->f);
            continue;
        }
        switch (c) {
        case '&': fputs("&amp;", w->f); break;
        case '<': fputs("&lt;", w->f); break;
        case '>': fputs(w->html ? "&gt;" : ">", w->f); break; /* '<' alone opens markup */
        case '"': fputs(w->html ? "&quot;" : "\"", w->f); break;
        case '\'': fputs(w->html ? "&#39;" : "'", w->f); break;
        case '\n':
        case '\r':
        case '\t': fputc(' ', w->f); break;
        case '|':
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
            if (!w->html)
                fputc('\\', w->f);
            fputc(c, w->f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fputc(' ', w->f);
            else
                fputc(c, w->f);
        }
    }
}

static void rr_h(const rr *w, int level, const char *text, const char *text2)
{
    if (w->html) {
        fprintf(w->f, "<h%d>", level);
        rr_esc(w, text);
        rr_esc(w, text2);
        fprintf(w->f, "</h%d>\n", level);
    } else {
        fprintf(w->f, "%s%.*s ", level == 1 ? "" : "\n", level, "######");
        rr_esc(w, text);
        rr_esc(w, text2);
        fputs("\n\n", w->f);
    }
}

static void rr_p(const rr *w, const char *text)
{
    fputs(w->html ? "<p>" : "", w->f);
    rr_esc(w, text);
    fputs(w->html ? "</p>\n" : "\n", w->f);
}

/* heads: n column titles; align: n chars 'l' or 'r' (NULL: all left); a
 * key/value table has no titles (heads NULL). */
static void rr_table(const rr *w, int n, const char *const *heads, const char *align,
                     const char *cls)
{
    if (w->html) {
        fprintf(w->f, "<table class=\"%s\">\n", cls ? cls : "grid");
        if (heads) {
            fputs("<thead><tr>", w->f);
            for (int i = 0; i < n; i++) {
                fputs(align && align[i] == 'r' ? "<th class=\"num\">" : "<th>", w->f);
                rr_esc(w, heads[i]);
                fputs("</th>", w->f);
            }
            fputs("</tr></thead>\n", w->f);
        }
        fputs("<tbody>\n", w->f);
        return;
    }
    fputc('|', w->f);
    for (int i = 0; i < n; i++) {
        fputc(' ', w->f);
        rr_esc(w, heads ? heads[i] : "");
        fputs(" |", w->f);
    }
    fputs("\n|", w->f);
    for (int i = 0; i < n; i++)
        fputs(align && align[i] == 'r' ? "---:|" : "---|", w->f);
    fputc('\n', w->f);
}

static void rr_row(const rr *w, int n, const char *const *cells, const char *align)
{
    if (w->html) {
        fputs("<tr>", w->f);
        for (int i = 0; i < n; i++) {
            fputs(align && align[i] == 'r' ? "<td class=\"num\">" : "<td>", w->f);
            rr_esc(w, cells[i]);
            fputs("</td>", w->f);
        }
        fputs("</tr>\n", w->f);
        return;
    }
    fputc('|', w->f);
    for (int i = 0; i < n; i++) {
        fputc(' ', w->f);
        rr_esc(w, cells[i]);
        fputs(" |", w->f);
    }
    fputc('\n', w->f);
}

static void rr_table_end(const rr *w)
{
    fputs(w->html ? "</tbody>\n</table>\n" : "", w->f);
}

static void rr_kv(const rr *w, const char *k, const char *v)
{
    const char *cells[] = {k, v};
    rr_row(w, 2, cells, NULL);
}

static void rr_list(const rr *w, const json_t *items, bool ordered)
{
    size_t i;
    json_t *x;
    fputs(w->html ? (ordered ? "<ol>\n" : "<ul>\n") : "", w->f);
    json_array_foreach(items, i, x)
    {
        if (w->html)
            fputs("<li>", w->f);
        else if (ordered)
            fprintf(w->f, "%zu. ", i + 1);
        else
            fputs("- ", w->f);
        rr_esc(w, json_string_value(x));
        fputs(w->html ? "</li>\n" : "\n", w->f);
    }
    fputs(w->html ? (ordered ? "</ol>\n" : "</ul>\n") : "", w->f);
}

/* ---- value formatting ----------------------------------------------------- */

static const char *rr_num(char *buf, size_t cap, int64_t v)
{
    if (v < 0)
        return "-";
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

static const char *rr_real(char *buf, size_t cap, const json_t *v, int decimals)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, cap, "%.*f", decimals, json_number_value(v));
    return buf;
}

static const char *rr_or(const char *s, const char *dflt) { return s ? s : dflt; }

static const char *rr_yes(const json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

/* ---- sections -------------------------------------------------------------- */

static void rr_summary(const rr *w, const json_t *doc)
{
    const json_t *c = json_object_get(doc, "counts"), *ts = json_object_get(doc, "tasks_summary");
    const json_t *tm = json_object_get(doc, "time"), *tp = json_object_get(doc, "throughput");
    const json_t *rt = json_object_get(doc, "retries"), *ly = json_object_get(doc, "lossy");
    const json_t *src = json_object_get(doc, "source"), *dst = json_object_get(doc, "target");
    char a[64], b[64], line[512];
    rr_table(w, 2, NULL, NULL, "kv");
    snprintf(line, sizeof line, "%s %s", rr_or(rr_str(src, "type"), "?"),
             rr_or(rr_str(src, "collection"), ""));
    rr_kv(w, "Source", line);
    snprintf(line, sizeof line, "%s %s", rr_or(rr_str(dst, "type"), "?"),
             rr_or(rr_str(dst, "collection"), ""));
    rr_kv(w, "Target", line);
    rr_kv(w, "Started", rr_or(rr_str(tm, "started_at"), "-"));
    rr_kv(w, "Finished", rr_or(rr_str(tm, "finished_at"), rr_or(rr_str(doc, "finished_at"), "-")));
    rr_kv(w, "Time taken (s)", rr_real(a, sizeof a, json_object_get(tm, "seconds"), 1));
    rr_kv(w, "Throughput (rows/s)",
          rr_real(a, sizeof a, json_object_get(tp, "rows_per_second"), 0));
    snprintf(line, sizeof line, "%s / %s", rr_num(a, sizeof a, rr_int(c, "source_rows_start", -1)),
             rr_num(b, sizeof b, rr_int(c, "source_rows_end", -1)));
    rr_kv(w, "Source rows at start / end", line);
    snprintf(line, sizeof line, "%s / %s", rr_num(a, sizeof a, rr_int(c, "rows_read", -1)),
             rr_num(b, sizeof b, rr_int(c, "rows_written", -1)));
    rr_kv(w, "Rows read / written", line);
    int64_t before = rr_int(c, "target_rows_before", -1);
    snprintf(line, sizeof line, "%s%s%s%s", rr_num(a, sizeof a, rr_int(c, "target_rows", -1)),
             before >= 0 ? " (" : "", before >= 0 ? rr_num(b, sizeof b, before) : "",
             before >= 0 ? " there before)" : "");
    rr_kv(w, "Target rows", line);
    snprintf(line, sizeof line, "%s / %s", rr_num(a, sizeof a, rr_int(ts, "done", -1)),
             rr_num(b, sizeof b, rr_int(ts, "not_done", -1)));
    rr_kv(w, "Tasks done / not done", line);
    snprintf(line, sizeof line, "%s / %s", rr_num(a, sizeof a, rr_int(rt, "write_retries", -1)),
             rr_num(b, sizeof b, rr_int(rt, "batch_splits", -1)));
    rr_kv(w, "Write retries / batch splits", line);
    snprintf(line, sizeof line, "%s / %s", rr_num(a, sizeof a, rr_int(ly, "values_changed", -1)),
             rr_num(b, sizeof b, rr_int(ly, "values_truncated", -1)));
    rr_kv(w, "Values changed / truncated by the mapping", line);
    rr_table_end(w);
}

static void rr_tasks(const rr *w, const json_t *doc)
{
    static const char *const heads[] = {"Task",    "Range",   "State",  "Rows read",
                                        "Rows written", "Attempts", "Retries", "Splits",
                                        "Duration (s)", "Worker", "Last error"};
    static const char align[] = "rllrrrrrrll";
    const json_t *tasks = json_object_get(doc, "tasks");
    rr_h(w, 2, "Tasks", NULL);
    if (json_array_size(tasks) == 0) {
        rr_p(w, "No tasks.");
        return;
    }
    rr_table(w, 11, heads, align, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        char id[24], r[24], wr[24], at[24], re[24], sp[24], du[32];
        json_t *d = json_object_get(t, "duration_ms");
        if (json_is_integer(d))
            snprintf(du, sizeof du, "%.1f", (double)json_integer_value(d) / 1000.0);
        else
            snprintf(du, sizeof du, "-");
        const char *cells[] = {rr_num(id, sizeof id, rr_int(t, "id", -1)),
                               rr_or(rr_str(t, "range"), ""),
                               rr_or(rr_str(t, "state"), ""),
                               rr_num(r, sizeof r, rr_int(t, "rows_read", -1)),
                               rr_num(wr, sizeof wr, rr_int(t, "rows_written", -1)),
                               rr_num(at, sizeof at, rr_int(t, "attempts", -1)),
                               rr_num(re, sizeof re, rr_int(t, "retries", -1)),
                               rr_num(sp, sizeof sp, rr_int(t, "splits", -1)),
                               du,
                               rr_or(rr_str(t, "owner"), ""),
                               rr_or(rr_str(t, "error"), "")};
        rr_row(w, 11, cells, align);
    }
    rr_table_end(w);
}

static void rr_failures(const rr *w, const json_t *doc)
{
    const json_t *fl = json_object_get(doc, "failures");
    const json_t *ft = json_object_get(fl, "tasks"), *errs = json_object_get(fl, "errors");
    rr_h(w, 2, "Failures", NULL);
    if (json_array_size(ft) == 0 && json_array_size(errs) == 0) {
        rr_p(w, "None.");
        return;
    }
    if (json_array_size(ft) > 0) {
        static const char *const heads[] = {"Task", "Range", "State", "Attempts", "Last error"};
        static const char align[] = "rllrl";
        rr_table(w, 5, heads, align, NULL);
        size_t i;
        json_t *t;
        json_array_foreach(ft, i, t)
        {
            char id[24], at[24];
            const char *cells[] = {rr_num(id, sizeof id, rr_int(t, "id", -1)),
                                   rr_or(rr_str(t, "range"), ""), rr_or(rr_str(t, "state"), ""),
                                   rr_num(at, sizeof at, rr_int(t, "attempts", -1)),
                                   rr_or(rr_str(t, "error"), "")};
            rr_row(w, 5, cells, align);
        }
        rr_table_end(w);
    }
    if (json_array_size(errs) > 0) {
        char line[128];
        snprintf(line, sizeof line, "Error samples (%zu of %" PRId64 " distinct):",
                 json_array_size(errs),
                 rr_int(fl, "distinct_errors", (int64_t)json_array_size(errs)));
        if (!w->html && json_array_size(ft) > 0)
            fputc('\n', w->f);
        rr_p(w, line);
        if (!w->html)
            fputc('\n', w->f);
        rr_list(w, errs, true);
    }
}

static void rr_mapping(const rr *w, const json_t *doc)
{
    static const char *const heads[] = {"Source field", "Source type", "Target field",
                                        "Target type", "Notes"};
    const json_t *sum = json_object_get(doc, "mapping_summary");
    const json_t *rows = json_object_get(sum, "fields");
    size_t i;
    json_t *x;
    rr_h(w, 2, "Schema mapping", NULL);
    rr_table(w, 5, heads, NULL, NULL);
    if (json_array_size(rows) > 0) {
        json_array_foreach(rows, i, x)
        {
            char notes[512];
            const char *n = rr_or(rr_str(x, "notes"), "");
            bool lossy = json_is_true(json_object_get(x, "lossy"));
            snprintf(notes, sizeof notes, "%s%s%s", n, lossy && *n ? "; " : "",
                     lossy ? "lossy" : "");
            const char *cells[] = {rr_or(rr_str(x, "source"), ""),
                                   rr_or(rr_str(x, "source_type"), ""),
                                   rr_or(rr_str(x, "target"), ""),
                                   rr_or(rr_str(x, "target_type"), ""), notes};
            rr_row(w, 5, cells, NULL);
        }
    } else {
        /* no mapping summary (a job recorded before it existed): the target
         * schema, each field copied under its name */
        json_array_foreach(json_object_get(json_object_get(doc, "schema"), "fields"), i, x)
        {
            const char *name = rr_or(rr_str(x, "fieldName"), "");
            const char *type = rr_or(rr_str(x, "dataType"), "");
            const char *cells[] = {name, type, name, type,
                                   json_is_true(json_object_get(x, "isPrimary")) ? "primary key"
                                                                                 : ""};
            rr_row(w, 5, cells, NULL);
        }
    }
    rr_table_end(w);
    const json_t *warn = json_object_get(sum, "warnings");
    if (json_array_size(warn) > 0) {
        if (!w->html)
            fputc('\n', w->f);
        rr_p(w, "Mapping warnings:");
        if (!w->html)
            fputc('\n', w->f);
        rr_list(w, warn, false);
    }
}

static void rr_setup(const rr *w, const json_t *doc)
{
    const json_t *cs = json_object_get(doc, "collection_setup");
    rr_h(w, 2, "Collection setup", NULL);
    rr_table(w, 2, NULL, NULL, "kv");
    rr_kv(w, "Collection", rr_or(rr_str(json_object_get(doc, "target"), "collection"), "?"));
    rr_kv(w, "Indexes created", rr_yes(cs, "indexed"));
    rr_kv(w, "Loaded", rr_yes(cs, "loaded"));
    rr_kv(w, "Loaded only for counting", rr_yes(cs, "loaded_for_count_only"));
    if (rr_str(cs, "error"))
        rr_kv(w, "Setup error", rr_str(cs, "error"));
    if (rr_str(doc, "source_error"))
        rr_kv(w, "Source count error", rr_str(doc, "source_error"));
    if (rr_str(doc, "target_error"))
        rr_kv(w, "Target count error", rr_str(doc, "target_error"));
    rr_table_end(w);
}

static const char rr_css[] =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;"
    "max-width:72em;padding:0 1em;color:#1b1f24;background:#fff}\n"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de}\n"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.92em}\n"
    "th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "table.kv td:first-child{font-weight:600;background:#f6f8fa}\n"
    ".verdict{font-size:1.1em;padding:.6em .9em;border-radius:6px;border:1px solid}\n"
    ".v-ok{background:#dafbe1;border-color:#4ac26b}\n"
    ".v-cancelled,.v-source_changed{background:#fff8c5;border-color:#d4a72c}\n"
    ".v-failed,.v-mismatch{background:#ffebe9;border-color:#ff8182}\n";

int vm_report_render(const json_t *doc, vm_report_format fmt, FILE *f, vm_err *err)
{
    if (!json_is_object(doc))
        return vm_err_setc(err, VM_ERR_INVALID, "report: not a report document");
    if (fmt == VM_REPORT_JSON) {
        if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            return vm_err_setc(err, VM_ERR_IO, "report: cannot write");
        fputc('\n', f);
        return ferror(f) ? vm_err_setc(err, VM_ERR_IO, "report: cannot write") : VM_OK;
    }
    rr w = {.f = f, .html = fmt == VM_REPORT_HTML};
    const char *job = rr_or(rr_str(doc, "job"), "?");
    const char *verdict = rr_or(rr_str(doc, "verdict"), "?");
    const char *reason = rr_str(doc, "verdict_reason");
    if (w.html) {
        /* the class names only the known verdicts: nothing from the
         * document reaches an attribute unescaped */
        static const char *const known[] = {"ok", "source_changed", "mismatch", "failed",
                                            "cancelled"};
        const char *cls = "failed";
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(verdict, known[i]) == 0)
                cls = known[i];
        fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
              f);
        rr_esc(&w, "Migration report: ");
        rr_esc(&w, job);
        fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", rr_css);
        rr_h(&w, 1, "Migration report: ", job);
        fprintf(f, "<p class=\"verdict v-%s\">Verdict: <strong>", cls);
        rr_esc(&w, verdict);
        fputs("</strong>", f);
        if (reason) {
            fputs(" &mdash; ", f);
            rr_esc(&w, reason);
        }
        fputs("</p>\n", f);
    } else {
        rr_h(&w, 1, "Migration report: ", job);
        fputs("**Verdict: ", f);
        rr_esc(&w, verdict);
        fputs("**", f);
        if (reason) {
            fputs(" - ", f);
            rr_esc(&w, reason);
        }
        fputs("\n\n", f);
    }
    rr_summary(&w, doc);
    rr_tasks(&w, doc);
    rr_failures(&w, doc);
    rr_mapping(&w, doc);
    rr_setup(&w, doc);
    if (w.html)
        fputs("</body>\n</html>\n", f);
    return ferror(f) ? vm_err_setc(err, VM_ERR_IO, "report: cannot write") : VM_OK;
}

int vm_report_render_file(const json_t *doc, vm_report_format fmt, const char *path,
                          vm_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return vm_err_setc(err, VM_ERR_IO, "cannot write the report to %s", path);
    int rc = vm_report_render(doc, fmt, f, err);
    if (fclose(f) != 0 && rc == VM_OK)
        rc = vm_err_setc(err, VM_ERR_IO, "cannot write the report to %s", path);
    if (rc != VM_OK)
        vm_err_prefix(err, "%s: ", path);
    return rc;
}

/*
 * report_cmd.c - `vecmig report`: print a job's migration report as JSON,
 * Markdown or a self-contained HTML page.
 *
 * The report is the one the job's coordinator kept in the state store when
 * the job ended (vm_state_job_report_get), so it can be printed from any
 * machine that reaches the store, long after the run; --from FILE renders a
 * report file (--report of migrate / coordinator) instead. The store is
 * named as for `vecmig cancel`: the job file's state:, --redis URL,
 * --state-file PATH, or the embedded default .vecmig/state.db here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "coordinator.h"
#include "report.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_state.h"

#define VM_REPORT_DEFAULT_STATE ".vecmig/state.db"

int vm_cli_report_formats(const char *arg, struct vm_coordinator_opts *o)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    bool any = false;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        vm_report_format f;
        if (vm_report_format_parse(tok, &f) != 0) {
            fprintf(stderr, "--report-format: expected md, html or json (comma-separated), got "
                            "'%s'\n",
                    tok);
            return -1;
        }
        o->report_md |= f == VM_REPORT_MD;
        o->report_html |= f == VM_REPORT_HTML;
        any = true;
    }
    if (!any) {
        fprintf(stderr, "--report-format: expected md, html or json (comma-separated)\n");
        return -1;
    }
    return 0;
}

static bool vm_report_is_job_file(const char *arg)
{
    struct stat sb;
    size_t n = strlen(arg);
    bool looks = strchr(arg, '/') != NULL || (n > 5 && strcmp(arg + n - 5, ".yaml") == 0) ||
                 (n > 4 && strcmp(arg + n - 4, ".yml") == 0);
    return looks && stat(arg, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The stored report of job `id`; exit code on failure (message printed). */
static int vm_report_from_store(const vm_job_state_conf *sc, const char *id, json_t **out)
{
    vm_state *st = NULL;
    vm_err e;
    int rc = vm_state_open(sc, &st, &e);
    if (rc == VM_OK)
        rc = vm_state_job_report_get(st, id, out, &e);
    vm_state_close(st);
    if (rc == VM_OK)
        return VM_EXIT_OK;
    fprintf(stderr, "vecmig report: %s\n", e.msg);
    if (rc == VM_ERR_NOT_FOUND && strstr(e.msg, "no report"))
        return VM_EXIT_FAILED; /* the job exists and has not ended yet */
    return rc == VM_ERR_NOT_FOUND || rc == VM_ERR_INVALID ? VM_EXIT_USAGE : VM_EXIT_FAILED;
}

int vm_cmd_report(const vm_command *cmd, int argc, char **argv)
{
    const char *arg = NULL, *job_file = NULL, *redis = NULL, *prefix = NULL;
    const char *state_file = NULL, *from = NULL, *out_path = NULL;
    vm_report_format fmt = VM_REPORT_JSON;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            if (vm_report_format_parse(argv[++i], &fmt) != 0) {
                fprintf(stderr, "vecmig report: --format: expected json, md or html, got '%s'\n",
                        argv[i]);
                return VM_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if (strcmp(argv[i], "--job-file") == 0 && i + 1 < argc) {
            job_file = argv[++i];
        } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            redis = argv[++i];
        } else if (strcmp(argv[i], "--key-prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else if (strcmp(argv[i], "--state-file") == 0 && i + 1 < argc) {
            state_file = argv[++i];
        } else if (argv[i][0] != '-' && !arg) {
            arg = argv[i];
        } else {
            fprintf(stderr, "vecmig report: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (arg && !job_file && !from && vm_report_is_job_file(arg)) {
        job_file = arg;
        arg = NULL;
    }
    if ((job_file != NULL) + (redis != NULL) + (state_file != NULL) + (from != NULL) > 1) {
        fprintf(stderr, "vecmig report: name the report once: --from, --job-file, --redis or "
                        "--state-file\n");
        return VM_EXIT_USAGE;
    }
    if (!from && !arg && !job_file) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    json_t *doc = NULL;
    int code = VM_EXIT_OK;
    vm_err e;
    if (from) {
        json_error_t je;
        if (!(doc = json_load_file(from, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(doc)) {
            fprintf(stderr, "vecmig report: --from %s: not a report (%s, line %d)\n", from,
                    doc ? "not a JSON object" : je.text, je.line);
            json_decref(doc);
            return VM_EXIT_USAGE;
        }
        if (arg && json_is_string(json_object_get(doc, "job")) &&
            strcmp(arg, json_string_value(json_object_get(doc, "job"))) != 0) {
            fprintf(stderr, "vecmig report: %s is the report of job '%s', not '%s'\n", from,
                    json_string_value(json_object_get(doc, "job")), arg);
            json_decref(doc);
            return VM_EXIT_USAGE;
        }
    } else if (job_file) {
        vm_job_conf job;
        if (vm_load_job("report", job_file, NULL, &job) != 0)
            return VM_EXIT_USAGE;
        if (arg && strcmp(arg, job.job.id) != 0) {
            fprintf(stderr, "vecmig report: %s is the job file of job '%s', not '%s'\n",
                    job_file, job.job.id, arg);
            vm_job_conf_release(&job);
            return VM_EXIT_USAGE;
        }
        code = vm_report_from_store(&job.state, job.job.id, &doc);
        vm_job_conf_release(&job);
    } else {
        vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED};
        if (redis) {
            sc.type = VM_STATE_REDIS;
            sc.url = (char *)redis;
            sc.key_prefix = (char *)prefix;
        } else {
            sc.path = (char *)(state_file ? state_file : VM_REPORT_DEFAULT_STATE);
        }
        if (!vm_state_job_id_valid(arg)) {
            fprintf(stderr, "vecmig report: '%s' is neither a job id ([A-Za-z0-9._-]) nor a job "
                            "file\n",
                    arg);
            return VM_EXIT_USAGE;
        }
        if (!redis && access(sc.path, R_OK) != 0) {
            fprintf(stderr, "vecmig report: no state file %s (name the store with --state-file, "
                            "--redis or --job-file)\n",
                    sc.path);
            return VM_EXIT_USAGE;
        }
        code = vm_report_from_store(&sc, arg, &doc);
    }
    if (code != VM_EXIT_OK)
        return code;
    int rc = out_path ? vm_report_render_file(doc, fmt, out_path, &e)
                      : vm_report_render(doc, fmt, stdout, &e);
    if (rc == VM_OK && !out_path && fflush(stdout) != 0)
        rc = vm_err_setc(&e, VM_ERR_IO, "cannot write to stdout");
    if (rc != VM_OK) {
        fprintf(stderr, "vecmig report: %s\n", e.msg);
        code = VM_EXIT_FAILED;
    }
    json_decref(doc);
    return code;
}

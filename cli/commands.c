/*
 * commands.c - the subcommands that run something: plan, coordinator,
 * worker. Argument parsing and exit codes live here; the work is done by
 * the coordinator and worker libraries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_metrics.h"
#include "commands.h"
#include "coordinator.h"
#include "plan.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mapping.h"
#include "worker.h"

/* Load the job file (and a --mapping file) and apply its log settings;
 * prints the error. */
int vm_load_job(const char *cmd, const char *path, const char *mapping, vm_job_conf *job)
{
    vm_err e;
    if (vm_job_conf_load(path, job, &e) != VM_OK) {
        fprintf(stderr, "vecmig %s: %s\n", cmd, e.msg);
        return -1;
    }
    if (mapping && vm_job_conf_mapping_file(job, mapping, &e) != VM_OK) {
        fprintf(stderr, "vecmig %s: --mapping: %s\n", cmd, e.msg);
        vm_job_conf_release(job);
        return -1;
    }
    vm_log_set_level((vm_log_level)job->log.level);
    vm_log_set_format((vm_log_format)job->log.format);
    /* VECMIG_LOG_LEVEL / VECMIG_LOG_FORMAT (and --log-level) win; checked
     * at start already, so this cannot fail */
    vm_log_apply_env(&e);
    return 0;
}

int vm_cmd_plan(const vm_command *cmd, int argc, char **argv)
{
    const char *job_path = NULL, *mapping = NULL, *write_mapping = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mapping") == 0 && i + 1 < argc)
            mapping = argv[++i];
        else if (strcmp(argv[i], "--write-mapping") == 0 && i + 1 < argc)
            write_mapping = argv[++i];
        else if (argv[i][0] != '-' && !job_path)
            job_path = argv[i];
        else {
            fprintf(stderr, "vecmig plan: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (!job_path) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("plan", job_path, mapping, &job) != 0)
        return VM_EXIT_USAGE;
    int code = VM_EXIT_FAILED;
    vm_source *src = NULL;
    vm_plan p = {0};
    vm_err e;
    if (vm_source_new(job.source.type, job.source.conf, &src, &e) != VM_OK ||
        vm_plan_build(&job, src, &p, &e) != VM_OK) {
        fprintf(stderr, "vecmig plan: %s\n", e.msg);
        if (e.code == VM_ERR_INVALID || e.code == VM_ERR_UNSUPPORTED)
            code = VM_EXIT_USAGE;
        goto cleanup;
    }
    vm_plan_print(&p, &job, stdout);
    if (write_mapping) {
        FILE *f = strcmp(write_mapping, "-") == 0 ? stdout : fopen(write_mapping, "w");
        if (!f) {
            fprintf(stderr, "vecmig plan: --write-mapping: cannot open '%s'\n", write_mapping);
            goto cleanup;
        }
        int rc = vm_mapping_write_yaml(&p.map, p.source, job.job.id, f, &e);
        if (f != stdout && fclose(f) != 0 && rc == VM_OK)
            rc = vm_err_setc(&e, VM_ERR_IO, "cannot write '%s'", write_mapping);
        if (rc != VM_OK) {
            fprintf(stderr, "vecmig plan: --write-mapping: %s\n", e.msg);
            goto cleanup;
        }
        if (f != stdout)
            fprintf(stderr, "vecmig plan: mapping written to %s\n", write_mapping);
    }
    code = VM_EXIT_OK;
cleanup:
    vm_plan_release(&p);
    vm_source_free(src);
    vm_job_conf_release(&job);
    return code;
}

/* Load the job file at path and hand it to fn; the common tail of the
 * commands that run a job. */
typedef int (*vm_job_fn)(const vm_job_conf *job, const void *opts);

static int vm_with_job(const vm_command *cmd, const char *path, const char *mapping,
                       vm_job_fn fn, const void *opts)
{
    if (!path) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job(cmd->name, path, mapping, &job) != 0)
        return VM_EXIT_USAGE;
    int code = fn(&job, opts);
    vm_job_conf_release(&job);
    return code;
}

static int vm_unexpected(const vm_command *cmd, const char *arg)
{
    fprintf(stderr, "vecmig %s: unexpected argument '%s'\n", cmd->name, arg);
    fputs(cmd->usage, stderr);
    return VM_EXIT_USAGE;
}

/* A command's options plus its --metrics / --metrics-linger. */
typedef struct vm_coord_cli {
    vm_coordinator_opts o;
    vm_cli_metrics_args m;
} vm_coord_cli;

typedef struct vm_worker_cli {
    vm_worker_opts o;
    vm_cli_metrics_args m;
} vm_worker_cli;

static int vm_run_coordinator(const vm_job_conf *job, const void *opts)
{
    const vm_coord_cli *cc = opts;
    vm_cli_metrics cm;
    int code = vm_cli_metrics_start("coordinator", job, &cc->m, &cm);
    if (code != 0)
        return code;
    vm_coordinator_opts o = cc->o;
    o.metrics = cm.reg;
    o.api = cm.api;
    code = vm_coordinator_run(job, &o);
    vm_cli_metrics_stop(&cm);
    return code;
}

static int vm_run_worker(const vm_job_conf *job, const void *opts)
{
    const vm_worker_cli *wc = opts;
    vm_cli_metrics cm;
    int code = vm_cli_metrics_start("worker", job, &wc->m, &cm);
    if (code != 0)
        return code;
    vm_worker_opts o = wc->o;
    o.metrics = cm.reg;
    code = vm_worker_run(job, &o);
    vm_cli_metrics_stop(&cm);
    return code;
}

int vm_cmd_coordinator(const vm_command *cmd, int argc, char **argv)
{
    vm_coord_cli cc = {0};
    vm_coordinator_opts *op = &cc.o;
    const char *job_path = NULL, *mapping = NULL;
    int i = argc >= 2 && strcmp(argv[1], "start") == 0 ? 2 : 1;
    for (; i < argc; i++) {
        int mrc = vm_cli_metrics_arg(cmd->name, argc, argv, &i, &cc.m);
        if (mrc < 0)
            return VM_EXIT_USAGE;
        if (mrc > 0)
            continue;
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            op->report_path = argv[++i];
        else if (strcmp(argv[i], "--report-format") == 0 && i + 1 < argc) {
            if (vm_cli_report_formats(argv[++i], op) != 0)
                return VM_EXIT_USAGE;
        } else if (strcmp(argv[i], "--quiet") == 0)
            op->quiet = true;
        else if (strcmp(argv[i], "--mapping") == 0 && i + 1 < argc)
            mapping = argv[++i];
        else if (argv[i][0] != '-' && !job_path)
            job_path = argv[i];
        else
            return vm_unexpected(cmd, argv[i]);
    }
    return vm_with_job(cmd, job_path, mapping, vm_run_coordinator, &cc);
}

int vm_cmd_worker(const vm_command *cmd, int argc, char **argv)
{
    vm_worker_cli wc = {0};
    const char *job_path = NULL;
    for (int i = 1; i < argc; i++) {
        int mrc = vm_cli_metrics_arg(cmd->name, argc, argv, &i, &wc.m);
        if (mrc < 0)
            return VM_EXIT_USAGE;
        if (mrc > 0)
            continue;
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            wc.o.worker_id = argv[++i];
        else if (strcmp(argv[i], "--exit-when-idle") == 0 && i + 1 < argc)
            wc.o.exit_when_idle_ms = atol(argv[++i]) * 1000;
        else if (argv[i][0] != '-' && !job_path)
            job_path = argv[i];
        else
            return vm_unexpected(cmd, argv[i]);
    }
    return vm_with_job(cmd, job_path, NULL, vm_run_worker, &wc);
}

bool vm_cli_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool vm_cli_names_job_file(const char *arg)
{
    size_t n = strlen(arg);
    bool looks = strchr(arg, '/') != NULL || (n > 5 && strcmp(arg + n - 5, ".yaml") == 0) ||
                 (n > 4 && strcmp(arg + n - 4, ".yml") == 0) ||
                 (n > 5 && strcmp(arg + n - 5, ".json") == 0);
    return looks && vm_cli_is_file(arg);
}

int64_t vm_cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

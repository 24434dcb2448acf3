/*
 * commands.c - the subcommands that run something: plan, coordinator,
 * worker. Argument parsing and exit codes live here; the work is done by
 * the coordinator and worker libraries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "coordinator.h"
#include "plan.h"
#include "vm_config.h"
#include "vm_log.h"
#include "worker.h"

/* Load the job file and apply its log settings; prints the error. */
static int vm_load_job(const char *cmd, const char *path, vm_job_conf *job)
{
    vm_err e;
    if (vm_job_conf_load(path, job, &e) != VM_OK) {
        fprintf(stderr, "vecmig %s: %s\n", cmd, e.msg);
        return -1;
    }
    vm_log_set_level((vm_log_level)job->log.level);
    vm_log_set_format((vm_log_format)job->log.format);
    return 0;
}

int vm_cmd_plan(const vm_command *cmd, int argc, char **argv)
{
    if (argc != 2) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("plan", argv[1], &job) != 0)
        return VM_EXIT_USAGE;
    int code = VM_EXIT_FAILED;
    vm_source *src = NULL;
    vm_plan p = {0};
    vm_err e;
    if (vm_source_new(job.source.type, job.source.conf, &src, &e) != VM_OK ||
        vm_plan_build(&job, src, &p, &e) != VM_OK) {
        fprintf(stderr, "vecmig plan: %s\n", e.msg);
        goto cleanup;
    }
    vm_plan_print(&p, &job, stdout);
    code = VM_EXIT_OK;
cleanup:
    vm_plan_release(&p);
    vm_source_free(src);
    vm_job_conf_release(&job);
    return code;
}

int vm_cmd_coordinator(const vm_command *cmd, int argc, char **argv)
{
    vm_coordinator_opts o = {0};
    const char *job_path = NULL;
    int i = 1;
    if (argc >= 2 && strcmp(argv[1], "start") == 0)
        i = 2;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            o.report_path = argv[++i];
        else if (strcmp(argv[i], "--quiet") == 0)
            o.quiet = true;
        else if (argv[i][0] != '-' && !job_path)
            job_path = argv[i];
        else {
            fprintf(stderr, "vecmig coordinator: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (!job_path) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("coordinator", job_path, &job) != 0)
        return VM_EXIT_USAGE;
    int code = vm_coordinator_run(&job, &o);
    vm_job_conf_release(&job);
    return code;
}

int vm_cmd_worker(const vm_command *cmd, int argc, char **argv)
{
    vm_worker_opts o = {0};
    const char *job_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
            o.worker_id = argv[++i];
        else if (strcmp(argv[i], "--exit-when-idle") == 0 && i + 1 < argc)
            o.exit_when_idle_ms = atol(argv[++i]) * 1000;
        else if (argv[i][0] != '-' && !job_path)
            job_path = argv[i];
        else {
            fprintf(stderr, "vecmig worker: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (!job_path) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("worker", job_path, &job) != 0)
        return VM_EXIT_USAGE;
    int code = vm_worker_run(&job, &o);
    vm_job_conf_release(&job);
    return code;
}

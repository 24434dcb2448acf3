/*
 * commands.h - subcommand entry points (argv[0] is the command name).
 */
#ifndef VM_COMMANDS_H
#define VM_COMMANDS_H
#include <stdbool.h>
#include <stdint.h>

#include "vm_cli.h"
#include "vm_config.h"
/* Load JOB.yaml (and a --mapping file), apply its log settings; prints the
 * error and returns -1 on failure. */
int vm_load_job(const char *cmd, const char *path, const char *mapping, vm_job_conf *job);
int vm_cmd_migrate(const vm_command *cmd, int argc, char **argv);
int vm_cmd_plan(const vm_command *cmd, int argc, char **argv);
int vm_cmd_coordinator(const vm_command *cmd, int argc, char **argv);
int vm_cmd_worker(const vm_command *cmd, int argc, char **argv);
int vm_cmd_cancel(const vm_command *cmd, int argc, char **argv);
int vm_cmd_resume(const vm_command *cmd, int argc, char **argv);
int vm_cmd_report(const vm_command *cmd, int argc, char **argv);
int vm_cmd_status(const vm_command *cmd, int argc, char **argv);

struct vm_coordinator_opts;
/* The coordinator of vecmig migrate with `workers` worker threads (< 0:
 * migration.workers, else the number of cores) in this process, over the
 * job's queue and state store. Fills the worker hooks of *o; returns the
 * exit code (vm_coordinator_run). */
int vm_run_in_process(const vm_job_conf *job, struct vm_coordinator_opts *o, long workers);
/* --report-format LIST (md, html, json; comma-separated) into o's
 * report_md / report_html; prints the error and returns -1 if bad. */
int vm_cli_report_formats(const char *arg, struct vm_coordinator_opts *o);

/* Whether path is a regular file. */
bool vm_cli_is_file(const char *path);
/* Whether a positional argument names a job file: such a file exists and
 * the name looks like one (a '/', or .yaml/.yml/.json; a job id may
 * contain dots but not '/'). */
bool vm_cli_names_job_file(const char *arg);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t vm_cli_mono_ms(void);
#endif

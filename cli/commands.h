/*
 * commands.h - subcommand entry points (argv[0] is the command name).
 */
#ifndef VM_COMMANDS_H
#define VM_COMMANDS_H
#include "vm_cli.h"
#include "vm_config.h"
/* Load JOB.yaml (and a --mapping file), apply its log settings; prints the
 * error and returns -1 on failure. */
int vm_load_job(const char *cmd, const char *path, const char *mapping, vm_job_conf *job);
int vm_cmd_migrate(const vm_command *cmd, int argc, char **argv);
int vm_cmd_plan(const vm_command *cmd, int argc, char **argv);
int vm_cmd_coordinator(const vm_command *cmd, int argc, char **argv);
int vm_cmd_worker(const vm_command *cmd, int argc, char **argv);
#endif

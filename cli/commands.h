/*
 * commands.h - subcommand entry points (argv[0] is the command name).
 */
#ifndef VM_COMMANDS_H
#define VM_COMMANDS_H
#include "vm_cli.h"
int vm_cmd_migrate(const vm_command *cmd, int argc, char **argv);
int vm_cmd_plan(const vm_command *cmd, int argc, char **argv);
int vm_cmd_coordinator(const vm_command *cmd, int argc, char **argv);
int vm_cmd_worker(const vm_command *cmd, int argc, char **argv);
#endif

/*
 * vm_cli.h - the subcommand table entry and the process exit codes.
 */
#ifndef VM_CLI_H
#define VM_CLI_H

enum {
    VM_EXIT_OK = 0,
    VM_EXIT_FAILED = 1,   /* the job failed, or counts did not reconcile */
    VM_EXIT_USAGE = 2,    /* bad arguments or job file */
    VM_EXIT_NOT_YET = 3,  /* subcommand not implemented in this build */
};

typedef struct vm_command vm_command;
struct vm_command {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(const vm_command *cmd, int argc, char **argv); /* argv[0] = name */
    const char *not_yet; /* when run is NULL: which issue brings it */
};

#endif

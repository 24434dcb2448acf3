/*
 * main.c - the vecmig command line: one executable, one subcommand table.
 *
 * Each subcommand has a one-line summary (for `vecmig --help`) and a full
 * usage text (for `vecmig <cmd> --help`). Commands whose machinery has not
 * landed yet say so plainly and exit with VM_EXIT_NOT_YET, instead of
 * pretending to work.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "vm_cli.h"
#include "vm_mem.h"

static int vm_cmd_not_yet(const vm_command *cmd, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vecmig %s: not yet implemented in this build (%s)\n", cmd->name,
            cmd->not_yet);
    return VM_EXIT_NOT_YET;
}

static const vm_command vm_commands[] = {
    {"migrate", "Run a whole migration in this process (embedded queue and state)",
     "usage: vecmig migrate JOB.yaml [--workers N] [--mapping FILE] [--report FILE] [--quiet]\n"
     "                      [--json]\n"
     "\n"
     "Plans, creates the target collection, copies every row with N worker threads\n"
     "(default: number of cores) and verifies the row count. Without queue:/state:\n"
     "settings in the job file the task queue is in-process and the state is a local\n"
     "file, so running the same command again resumes an interrupted migration.\n"
     "Ctrl-C stops after the batches in flight are confirmed. Exit codes: 0 all counts\n"
     "agree, 1 failed or mismatch, 2 bad job file, 130 interrupted (resumable).\n"
     "--mapping FILE shapes the target (see `vecmig plan --write-mapping`).\n",
     vm_cmd_migrate, NULL},
    {"plan", "Show source schema, target schema and task split; change nothing",
     "usage: vecmig plan JOB.yaml [--mapping FILE] [--write-mapping FILE]\n"
     "\n"
     "Connects to the source, discovers its schema, samples rows, maps it to a Milvus\n"
     "schema (applying the job's mapping, or --mapping FILE) and prints the mapping\n"
     "table, the target collection and the range tasks it would create. Writes nothing\n"
     "to the source or the target. --write-mapping FILE (or -) writes the complete\n"
     "mapping as an editable YAML file to pass back with --mapping.\n",
     vm_cmd_plan, NULL},
    {"coordinator", "Plan a job, publish its tasks to Kafka, reconcile the counts",
     "usage: vecmig coordinator start JOB.yaml [--mapping FILE] [--report FILE] [--quiet]\n"
     "\n"
     "Discovers and maps the source schema, creates the target collection, splits\n"
     "the source into range tasks, records job and tasks in Redis, publishes the\n"
     "tasks to Kafka, waits for the workers and reconciles source, per-task and\n"
     "target counts into a report. Exits 0 only when they agree.\n",
     vm_cmd_coordinator, NULL},
    {"worker", "Consume range tasks from Kafka and copy their rows",
     "usage: vecmig worker JOB.yaml [--id NAME] [--exit-when-idle SECONDS]\n"
     "\n"
     "Joins the Kafka consumer group, takes one task at a time, reads its range in\n"
     "batches from the source and writes them to the target, checkpointing each\n"
     "confirmed batch in Redis. Stateless: start as many as you like.\n",
     vm_cmd_worker, NULL},
    {"status", "Show jobs: state, rows, rate, ETA, errors, workers",
     "usage: vecmig status [JOB] [--watch] [--json]\n", NULL,
     "arrives with the monitoring issue"},
    {"cancel", "Stop a job at the next batch boundary",
     "usage: vecmig cancel JOB\n", NULL, "arrives with the reliability issue"},
    {"resume", "Continue a cancelled, failed or interrupted job from its checkpoints",
     "usage: vecmig resume JOB\n", NULL, "arrives with the reliability issue"},
    {"report", "Print a job's migration report (JSON, Markdown or HTML)",
     "usage: vecmig report JOB [--format json|md|html]\n", NULL,
     "arrives with the pgvector -> Milvus issue"},
};

#define VM_NCOMMANDS (sizeof vm_commands / sizeof vm_commands[0])

static void vm_usage(FILE *f)
{
    fprintf(f, "vecmig %s - move vector data into Milvus / Zilliz Cloud\n\n", VECMIG_VERSION);
    fprintf(f, "usage: vecmig <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < VM_NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", vm_commands[i].name, vm_commands[i].summary);
    fprintf(f, "\nRun 'vecmig <command> --help' for a command's options.\n");
}

static int vm_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* jansson allocates through our wrappers, like everything else */
    json_set_alloc_funcs(vm_malloc, vm_free);
    if (argc < 2) {
        vm_usage(stderr);
        return VM_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < VM_NCOMMANDS; i++)
                if (strcmp(argv[2], vm_commands[i].name) == 0) {
                    fputs(vm_commands[i].usage, stdout);
                    return VM_EXIT_OK;
                }
        }
        vm_usage(stdout);
        return VM_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("vecmig %s\n", VECMIG_VERSION);
        return VM_EXIT_OK;
    }
    for (size_t i = 0; i < VM_NCOMMANDS; i++) {
        const vm_command *cmd = &vm_commands[i];
        if (strcmp(name, cmd->name) != 0)
            continue;
        if (vm_wants_help(argc - 1, argv + 1)) {
            fputs(cmd->usage, stdout);
            return VM_EXIT_OK;
        }
        if (!cmd->run)
            return vm_cmd_not_yet(cmd, argc - 1, argv + 1);
        return cmd->run(cmd, argc - 1, argv + 1);
    }
    fprintf(stderr, "vecmig: unknown command '%s' (see 'vecmig --help')\n", name);
    return VM_EXIT_USAGE;
}

/*
 * main.c - the vecmig command line: one executable, one subcommand table.
 *
 * Each subcommand has a one-line summary (for `vecmig --help`) and a full
 * usage text (for `vecmig <cmd> --help`). Commands whose machinery has not
 * landed yet say so plainly and exit with VM_EXIT_NOT_YET, instead of
 * pretending to work.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "vm_cli.h"
#include "vm_log.h"
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
     "                      [--json] [--metrics ADDR] [--metrics-linger SECONDS]\n"
     "                      [--report-format md,html]\n"
     "\n"
     "Plans, creates the target collection, copies every row with N worker threads\n"
     "(default: number of cores) and verifies the row count. Without queue:/state:\n"
     "settings in the job file the task queue is in-process and the state is a local\n"
     "file, so running the same command again resumes an interrupted migration.\n"
     "Ctrl-C stops after the batches in flight are confirmed. Exit codes: 0 all counts\n"
     "agree, 1 failed or mismatch, 2 bad job file, 4 cancelled by `vecmig cancel` (or\n"
     "the job is cancelled: `vecmig resume` continues it), 130 interrupted (resumable).\n"
     "--mapping FILE shapes the target (see `vecmig plan --write-mapping`).\n"
     "--report-format md,html also writes the report (see `vecmig report`) as\n"
     "Markdown and/or HTML next to the --report file (report.json -> report.md).\n"
     "--metrics ADDR serves Prometheus metrics on http://ADDR/metrics (host:port,\n"
     "port 0: any free one; default: the job file's metrics.listen, else off);\n"
     "--metrics-linger SECONDS keeps serving that long after the run.\n"
     "--http ADDR serves the HTTP API and the Jobs page on http://ADDR/ (default:\n"
     "the job file's http.listen; token: http.token, else $VECMIG_API_TOKEN).\n",
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
     "                                [--metrics ADDR] [--metrics-linger SECONDS]\n"
     "                                [--report-format md,html]\n"
     "\n"
     "Discovers and maps the source schema, creates the target collection, splits\n"
     "the source into range tasks, records job and tasks in Redis, publishes the\n"
     "tasks to Kafka, waits for the workers and reconciles source, per-task and\n"
     "target counts into a report. Exits 0 only when they agree; 4 when the job is\n"
     "cancelled (`vecmig cancel`). Started again for the same job, it continues the\n"
     "job from whatever phase it was in when it stopped. --report-format md,html\n"
     "also writes the report as Markdown and/or HTML next to the --report file.\n"
     "--metrics ADDR serves Prometheus metrics on http://ADDR/metrics (host:port,\n"
     "port 0: any free one; default: the job file's metrics.listen, else off);\n"
     "--metrics-linger SECONDS keeps serving that long after the run.\n"
     "--http ADDR serves the HTTP API and the Jobs page on http://ADDR/ (default:\n"
     "the job file's http.listen; token: http.token, else $VECMIG_API_TOKEN).\n",
     vm_cmd_coordinator, NULL},
    {"worker", "Consume range tasks from Kafka and copy their rows",
     "usage: vecmig worker JOB.yaml [--id NAME] [--exit-when-idle SECONDS]\n"
     "                     [--metrics ADDR] [--metrics-linger SECONDS]\n"
     "\n"
     "Joins the Kafka consumer group, takes one task at a time, reads its range in\n"
     "batches from the source and writes them to the target, checkpointing each\n"
     "confirmed batch in Redis. Stateless: start as many as you like.\n"
     "--metrics ADDR serves Prometheus metrics on http://ADDR/metrics (host:port,\n"
     "port 0: any free one; default: the job file's metrics.listen, else off);\n"
     "--metrics-linger SECONDS keeps serving that long after the run.\n",
     vm_cmd_worker, NULL},
    {"status", "Show jobs: state, rows, rate, ETA, errors, workers",
     "usage: vecmig status [JOB] [--watch [SECONDS]] [--json]\n"
     "                     [--job-file JOB.yaml | --state-file PATH |\n"
     "                      --redis URL [--key-prefix P]]\n"
     "       vecmig status JOB.yaml [--watch [SECONDS]] [--json]\n"
     "\n"
     "Reads the state store (the job file's state:, or the store named; default: the\n"
     "embedded state file .vecmig/state.db here, never created). Without JOB: one\n"
     "line per job: state, rows done/total, %, rows/s, ETA, errors (failed tasks),\n"
     "tasks done/running/pending/failed, age. With JOB: the job in detail, its\n"
     "running tasks (range, worker, rows, lease left), failed tasks' errors and its\n"
     "workers (alive when their last beat is at most 3 heartbeats old, else gone).\n"
     "rows/s is the average since the first task started; under --watch, the rate\n"
     "between two refreshes. --watch redraws every SECONDS (default 2) on a\n"
     "terminal, prints one line per refresh otherwise, and exits when the job (or\n"
     "every job) is done, failed or cancelled. --json prints one JSON document\n"
     "({\"jobs\": [...]}, or the job with \"tasks\" and \"workers\"; one compact\n"
     "line per refresh under --watch). Exit codes: 0 shown, 1 the store could not\n"
     "be read, 2 bad arguments or no such job.\n",
     vm_cmd_status, NULL},
    {"cancel", "Stop a job at the next batch boundary",
     "usage: vecmig cancel JOB.yaml [--wait SECONDS]\n"
     "       vecmig cancel JOB [--job-file JOB.yaml | --state-file PATH |\n"
     "                          --redis URL [--key-prefix P]] [--wait SECONDS]\n"
     "\n"
     "Marks the job cancel-requested in its state store (the job file's state:, or\n"
     "the store named; default: the embedded state file .vecmig/state.db here). No\n"
     "task starts any more; each worker stops after its batch in flight is confirmed\n"
     "and checkpointed; the coordinator (vecmig migrate or vecmig coordinator) then\n"
     "ends the job as `cancelled` and writes its report (verdict cancelled, rows\n"
     "written so far). Waits up to --wait seconds (default 120; 0: do not wait) for\n"
     "that. Exit codes: 0 the job is cancelled (or, with --wait 0, the request is\n"
     "recorded), 1 the job had already ended (done or failed), ended otherwise or was\n"
     "resumed meanwhile, no coordinator ended it in time (the request stays), or the\n"
     "store could not be reached, 2 bad arguments or no such job.\n"
     "`vecmig resume` continues a cancelled job.\n",
     vm_cmd_cancel, NULL},
    {"resume", "Continue a cancelled, failed or interrupted job from its checkpoints",
     "usage: vecmig resume JOB.yaml [--workers N] [--report FILE] [--mapping FILE]\n"
     "                     [--quiet] [--json] [--metrics ADDR] [--metrics-linger SECONDS]\n"
     "                     [--report-format md,html]\n"
     "       vecmig resume JOB --job-file JOB.yaml [...]\n"
     "\n"
     "Clears a cancel request, gives failed tasks a fresh attempt budget, finishes\n"
     "whatever phase the job's coordinator was in when it stopped (planning,\n"
     "publishing, running, reconciling), publishes every unfinished task with its\n"
     "checkpoint, and reconciles as a normal run. The task split is the stored one,\n"
     "whatever the number of workers. A job with a kafka queue is resumed by its\n"
     "coordinator alone (start `vecmig worker JOB.yaml` processes, as many as you\n"
     "like) unless --workers N asks for N worker threads in this process; an\n"
     "embedded job runs as `vecmig migrate` does (--workers N, default the cores).\n"
     "A job with no state yet is planned and run. --mapping is used only then.\n"
     "Exit codes as vecmig migrate: 0 all counts agree, 1 failed or mismatch,\n"
     "2 bad arguments or job file, 4 cancelled again, 130 interrupted.\n"
     "--metrics ADDR, --metrics-linger SECONDS and --http ADDR as vecmig migrate.\n",
     vm_cmd_resume, NULL},
    {"report", "Print a job's migration report (JSON, Markdown or HTML)",
     "usage: vecmig report JOB [--format json|md|html] [--out FILE]\n"
     "                     [--job-file JOB.yaml | --state-file PATH |\n"
     "                      --redis URL [--key-prefix P]]\n"
     "       vecmig report JOB.yaml [--format ...] [--out FILE]\n"
     "       vecmig report --from REPORT.json [--format ...] [--out FILE]\n"
     "\n"
     "Prints the report the job's coordinator kept in the state store when the job\n"
     "ended (the job file's state:, or the store named; default: the embedded state\n"
     "file .vecmig/state.db here), or the report file given with --from. json is the\n"
     "report file as written by --report; md is Markdown; html is one self-contained\n"
     "page (inline CSS, no script). Both show the verdict and its reason, counts,\n"
     "time taken and throughput, every task (rows, attempts, retries, duration,\n"
     "worker, last error), failures with error samples, the schema mapping and the\n"
     "collection setup. --out FILE writes there instead of stdout. Exit codes: 0\n"
     "printed, 1 the job has no report yet (still running) or the store could not\n"
     "be read, 2 bad arguments, no such job or not a report file.\n",
     vm_cmd_report, NULL},
};

#define VM_NCOMMANDS (sizeof vm_commands / sizeof vm_commands[0])

static void vm_usage(FILE *f)
{
    fprintf(f, "vecmig %s - move vector data into Milvus / Zilliz Cloud\n\n", VECMIG_VERSION);
    fprintf(f, "usage: vecmig <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < VM_NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", vm_commands[i].name, vm_commands[i].summary);
    fprintf(f, "\nRun 'vecmig <command> --help' for a command's options. Every command also\n"
               "takes --log-level error|warn|info|debug and --log-format auto|text|json (the\n"
               "same as VECMIG_LOG_LEVEL / VECMIG_LOG_FORMAT; they override the job file).\n");
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

/* --log-level LEVEL and --log-format FORMAT, accepted by every command,
 * are taken out of argv and become VECMIG_LOG_LEVEL / VECMIG_LOG_FORMAT,
 * which override the job file's log: settings. Returns the new argc. */
static int vm_log_args(int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        bool level = strcmp(argv[i], "--log-level") == 0;
        if ((level || strcmp(argv[i], "--log-format") == 0) && i + 1 < argc) {
            setenv(level ? "VECMIG_LOG_LEVEL" : "VECMIG_LOG_FORMAT", argv[++i], 1);
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    /* jansson allocates through our wrappers, like everything else */
    json_set_alloc_funcs(vm_malloc, vm_free);
    argc = vm_log_args(argc, argv);
    vm_err le;
    if (vm_log_apply_env(&le) != VM_OK) {
        fprintf(stderr, "vecmig: %s\n", le.msg);
        return VM_EXIT_USAGE;
    }
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

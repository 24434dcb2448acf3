/*
 * jobctl.c - `vecmig cancel` and `vecmig resume`: acting on a job that runs
 * (or ran) elsewhere, through its state store.
 *
 * cancel only marks the job in the state store (vm_state_job_cancel); the
 * workers and the coordinator act on the mark: no task starts, running
 * tasks stop after their batch in flight is confirmed and checkpointed,
 * and the coordinator ends the job as `cancelled` with a report. The
 * command then waits for that outcome, so its exit code says what happened.
 *
 * resume needs the job file (the state store holds no credentials): it runs
 * the job's coordinator with opts.resume, which clears the mark, resets
 * failed tasks and continues from the checkpoints - as `vecmig coordinator
 * start` for a Kafka job (workers are separate processes), as `vecmig
 * migrate` (worker threads in this process) otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <inttypes.h>

#include "cli_metrics.h"
#include "commands.h"
#include "coordinator.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_state.h"

#define VM_SS_DEFAULT_STATE ".vecmig/state.db"

/* Exit code of `vecmig cancel` for the job's state once the wait is over
 * (pure; documented in the usage text). */
static int vm_cancel_exit_code(vm_job_state state, bool withdrawn)
{
    if (withdrawn)
        return VM_EXIT_FAILED;
    return state == VM_JOB_CANCELLED ? VM_EXIT_OK : VM_EXIT_FAILED;
}

int vm_cmd_cancel(const vm_command *cmd, int argc, char **argv)
{
    const char *arg = NULL, *job_file = NULL, *redis = NULL, *prefix = NULL, *state_file = NULL;
    long wait_s = 120;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--job-file") == 0 && i + 1 < argc) {
            job_file = argv[++i];
        } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            redis = argv[++i];
        } else if (strcmp(argv[i], "--key-prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else if (strcmp(argv[i], "--state-file") == 0 && i + 1 < argc) {
            state_file = argv[++i];
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            char *end;
            wait_s = strtol(argv[++i], &end, 10);
            if (*end || wait_s < 0 || wait_s > 86400) {
                fprintf(stderr, "vecmig cancel: --wait: expected 0..86400 seconds, got '%s'\n",
                        argv[i]);
                return VM_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !arg) {
            arg = argv[i];
        } else {
            fprintf(stderr, "vecmig cancel: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (arg && !job_file && vm_cli_names_job_file(arg)) {
        job_file = arg;
        arg = NULL;
    }
    if ((job_file != NULL) + (redis != NULL) + (state_file != NULL) > 1) {
        fprintf(stderr, "vecmig cancel: name the state store once: --job-file, --redis or "
                        "--state-file\n");
        return VM_EXIT_USAGE;
    }
    if (!arg && !job_file) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job = {0};
    bool loaded = false;
    vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED};
    char where[600];
    if (job_file) {
        if (vm_load_job("cancel", job_file, NULL, &job) != 0)
            return VM_EXIT_USAGE;
        loaded = true;
        if (arg && strcmp(arg, job.job.id) != 0) {
            fprintf(stderr, "vecmig cancel: %s is the job file of job '%s', not '%s'\n", job_file,
                    job.job.id, arg);
            vm_job_conf_release(&job);
            return VM_EXIT_USAGE;
        }
        arg = job.job.id;
        sc = job.state;
    } else if (redis) {
        sc.type = VM_STATE_REDIS;
        sc.url = (char *)redis;
        sc.key_prefix = (char *)prefix;
    } else {
        sc.path = (char *)(state_file ? state_file : VM_SS_DEFAULT_STATE);
    }
    if (sc.type == VM_STATE_REDIS)
        snprintf(where, sizeof where, "the Redis state store");
    else
        snprintf(where, sizeof where, "state file %s",
                 sc.path && *sc.path ? sc.path : VM_SS_DEFAULT_STATE);
    int code = VM_EXIT_USAGE;
    vm_state *st = NULL;
    vm_err e;
    const char *id = arg;
    if (!vm_state_job_id_valid(id)) {
        fprintf(stderr, "vecmig cancel: '%s' is not a job id ([A-Za-z0-9._-], 1 to 128 "
                        "characters) nor a job file\n", id);
        goto cleanup;
    }
    if (sc.type == VM_STATE_EMBEDDED && !vm_cli_is_file(sc.path && *sc.path ? sc.path
                                                                        : VM_SS_DEFAULT_STATE)) {
        /* opening would create an empty state file */
        fprintf(stderr, "vecmig cancel: no %s (run the command where the job runs, or name the "
                        "job file or the store: --job-file, --state-file, --redis)\n", where);
        goto cleanup;
    }
    if (vm_state_open(&sc, &st, &e) != VM_OK) {
        fprintf(stderr, "vecmig cancel: %s\n", e.msg);
        code = VM_EXIT_FAILED;
        goto cleanup;
    }
    vm_cancel_result cr;
    int rc = vm_state_job_cancel(st, id, &cr, &e);
    if (rc == VM_ERR_NOT_FOUND) {
        fprintf(stderr, "vecmig cancel: no job '%s' in %s\n", id, where);
        goto cleanup;
    }
    code = VM_EXIT_FAILED;
    if (rc != VM_OK) {
        fprintf(stderr, "vecmig cancel: %s\n", e.msg);
        goto cleanup;
    }
    if (cr.state == VM_JOB_DONE || cr.state == VM_JOB_FAILED || cr.state == VM_JOB_CANCELLED) {
        if (cr.state == VM_JOB_CANCELLED)
            printf("job %s is already cancelled; `vecmig resume` continues it\n", id);
        else
            fprintf(stderr, "vecmig cancel: job %s is already %s: nothing to cancel\n", id,
                    vm_job_state_name(cr.state));
        code = vm_cancel_exit_code(cr.state, false);
        goto cleanup;
    }
    printf("job %s: cancel %s; no task starts, running tasks stop after their batch in flight\n",
           id, cr.applied ? "requested" : "was already requested");
    fflush(stdout);
    if (wait_s == 0) {
        code = VM_EXIT_OK;
        goto cleanup;
    }
    int64_t deadline = vm_cli_mono_ms() + wait_s * 1000;
    for (;;) {
        vm_job_info info;
        rc = vm_state_job_get(st, id, &info, &e);
        if (rc == VM_OK) {
            vm_job_state s = info.state;
            bool withdrawn = info.cancel_ms == 0 && s != VM_JOB_CANCELLED;
            vm_job_info_release(&info);
            if (s == VM_JOB_CANCELLED) {
                vm_job_counters k;
                if (vm_state_job_counters(st, id, &k, &e) == VM_OK)
                    printf("job %s: cancelled after %" PRId64 " rows written (%" PRId64
                           " of %" PRId64 " tasks done); `vecmig resume` continues it from its "
                           "checkpoints\n",
                           id, k.rows_written, k.done, k.tasks_total);
                code = vm_cancel_exit_code(s, false);
                break;
            }
            if (s == VM_JOB_DONE || s == VM_JOB_FAILED || withdrawn) {
                fprintf(stderr, "vecmig cancel: job %s %s%s\n", id,
                        withdrawn ? "was resumed before it ended as cancelled"
                                  : "ended before the cancel took effect, as ",
                        withdrawn ? "" : vm_job_state_name(s));
                code = vm_cancel_exit_code(s, withdrawn);
                break;
            }
        } else if (!e.retriable) {
            fprintf(stderr, "vecmig cancel: %s\n", e.msg);
            break;
        }
        if (vm_cli_mono_ms() >= deadline) {
            fprintf(stderr,
                    "vecmig cancel: job %s: no coordinator ended the job within %ld s (is one "
                    "running?); the request stays: workers start no task, and the job's "
                    "coordinator, when started, ends it as cancelled\n",
                    id, wait_s);
            break;
        }
        vm_sleep_ms(200);
    }
cleanup:
    vm_state_close(st);
    if (loaded)
        vm_job_conf_release(&job);
    return code;
}

int vm_cmd_resume(const vm_command *cmd, int argc, char **argv)
{
    vm_coordinator_opts o = {.resume = true};
    const char *arg = NULL, *job_file = NULL, *mapping = NULL;
    long workers = -1;
    vm_cli_metrics_args ma = {0};
    for (int i = 1; i < argc; i++) {
        int mrc = vm_cli_metrics_arg("resume", argc, argv, &i, &ma);
        if (mrc < 0)
            return VM_EXIT_USAGE;
        if (mrc > 0)
            continue;
        if (strcmp(argv[i], "--job-file") == 0 && i + 1 < argc) {
            job_file = argv[++i];
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            char *end;
            workers = strtol(argv[++i], &end, 10);
            if (*end || workers < 0 || workers > 1024) {
                fprintf(stderr, "vecmig resume: --workers: expected 0..1024, got '%s'\n",
                        argv[i]);
                return VM_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) {
            o.report_path = argv[++i];
        } else if (strcmp(argv[i], "--report-format") == 0 && i + 1 < argc) {
            if (vm_cli_report_formats(argv[++i], &o) != 0)
                return VM_EXIT_USAGE;
        } else if (strcmp(argv[i], "--mapping") == 0 && i + 1 < argc) {
            mapping = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (argv[i][0] != '-' && !arg) {
            arg = argv[i];
        } else {
            fprintf(stderr, "vecmig resume: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (arg && !job_file && vm_cli_names_job_file(arg)) {
        job_file = arg;
        arg = NULL;
    }
    if (!job_file) {
        if (arg)
            fprintf(stderr, "vecmig resume: the job file is needed (the state store keeps no "
                            "credentials): vecmig resume JOB.yaml, or %s --job-file JOB.yaml\n",
                    arg);
        else
            fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("resume", job_file, mapping, &job) != 0)
        return VM_EXIT_USAGE;
    vm_cli_metrics cm;
    int code = vm_cli_metrics_start("resume", &job, &ma, &cm);
    if (code != 0) {
        vm_job_conf_release(&job);
        return code;
    }
    o.metrics = cm.reg;
    o.api = cm.api;
    if (arg && strcmp(arg, job.job.id) != 0) {
        fprintf(stderr, "vecmig resume: %s is the job file of job '%s', not '%s'\n", job_file,
                job.job.id, arg);
        code = VM_EXIT_USAGE;
    } else if (job.queue.type == VM_QUEUE_KAFKA && workers <= 0) {
        /* workers are separate processes (vecmig worker) */
        code = vm_coordinator_run(&job, &o);
    } else if (workers == 0) {
        fprintf(stderr, "vecmig resume: --workers 0 needs a kafka queue (queue.type), so that "
                        "worker processes can take the tasks\n");
        code = VM_EXIT_USAGE;
    } else {
        code = vm_run_in_process(&job, &o, workers);
    }
    if (code == VM_EXIT_USAGE)
        cm.linger_s = 0;
    vm_cli_metrics_stop(&cm);
    vm_job_conf_release(&job);
    return code;
}

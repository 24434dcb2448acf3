/*
 * migrate.c - `vecmig migrate`: a whole migration in one process.
 *
 * The same coordinator and worker code as the distributed mode: the
 * coordinator runs on the main thread and N worker loops run on threads,
 * all meeting on the job's queue and state store, which are the embedded
 * ones (in-process queue, SQLite file) unless the job file names Kafka and
 * Redis. Ctrl-C (SIGINT/SIGTERM) lets every worker finish and checkpoint
 * its batch in flight, then stops; running the same command again resumes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_metrics.h"
#include "commands.h"
#include "coordinator.h"
#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "worker.h"

typedef struct vm_pool {
    const vm_job_conf *job;
    int n;
    pthread_t *threads;
    int started;
    atomic_int quit;
    bool quiet_tasks;
    char (*ids)[64];
    vm_metrics *metrics; /* NULL: none */
} vm_pool;

typedef struct vm_pool_arg {
    vm_pool *pool;
    int index;
} vm_pool_arg;

static void *vm_pool_main(void *arg)
{
    vm_pool_arg *a = arg;
    vm_pool *p = a->pool;
    vm_worker_opts o = {.worker_id = p->ids[a->index], .quit = &p->quit,
                        .quiet_tasks = p->quiet_tasks, .metrics = p->metrics};
    vm_err e;
    if (vm_worker_loop(p->job, &o, &e) != VM_OK) {
        vm_error("worker %s: %s", p->ids[a->index], e.msg);
        vm_worker_request_stop(); /* a broken worker stops the run; resume later */
    }
    vm_free(a);
    return NULL;
}

static int vm_pool_start(void *ctx, vm_err *err)
{
    vm_pool *p = ctx;
    char host[32] = "local";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (int i = 0; i < p->n; i++) {
        snprintf(p->ids[i], sizeof p->ids[i], "%s-%d-t%d", host, (int)getpid(), i);
        vm_pool_arg *a = vm_malloc(sizeof *a);
        if (!a)
            return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        *a = (vm_pool_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, vm_pool_main, a) != 0) {
            vm_free(a);
            return vm_err_setc(err, VM_ERR_NOMEM, "cannot start worker thread %d", i);
        }
        p->started++;
    }
    return VM_OK;
}

static void vm_pool_stop(void *ctx)
{
    vm_pool *p = ctx;
    atomic_store(&p->quit, 1);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    p->started = 0;
}

static bool vm_pool_should_stop(void *ctx)
{
    (void)ctx;
    return vm_worker_stopping();
}

int vm_cmd_migrate(const vm_command *cmd, int argc, char **argv)
{
    vm_coordinator_opts o = {0};
    const char *job_path = NULL, *mapping = NULL;
    long workers = -1;
    vm_cli_metrics_args ma = {0};
    for (int i = 1; i < argc; i++) {
        int mrc = vm_cli_metrics_arg("migrate", argc, argv, &i, &ma);
        if (mrc < 0)
            return VM_EXIT_USAGE;
        if (mrc > 0)
            continue;
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            char *end;
            workers = strtol(argv[++i], &end, 10);
            if (*end || workers < 1 || workers > 1024) {
                fprintf(stderr, "vecmig migrate: --workers: expected 1..1024, got '%s'\n", argv[i]);
                return VM_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) {
            o.report_path = argv[++i];
        } else if (strcmp(argv[i], "--report-format") == 0 && i + 1 < argc) {
            if (vm_cli_report_formats(argv[++i], &o) != 0)
                return VM_EXIT_USAGE;
        } else if (strcmp(argv[i], "--mapping") == 0 && i + 1 < argc) {
            mapping = argv[++i];
        } else if (argv[i][0] != '-' && !job_path) {
            job_path = argv[i];
        } else {
            fprintf(stderr, "vecmig migrate: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (!job_path) {
        fputs(cmd->usage, stderr);
        return VM_EXIT_USAGE;
    }
    vm_job_conf job;
    if (vm_load_job("migrate", job_path, mapping, &job) != 0)
        return VM_EXIT_USAGE;
    if (o.quiet && job.log.level > VM_LOG_WARN)
        vm_log_set_level(VM_LOG_WARN);
    vm_cli_metrics cm;
    int code = vm_cli_metrics_start("migrate", &job, &ma, &cm);
    if (code == 0) {
        o.metrics = cm.reg;
        o.api = cm.api;
        code = vm_run_in_process(&job, &o, workers);
        vm_cli_metrics_stop(&cm);
    }
    vm_job_conf_release(&job);
    return code;
}

int vm_run_in_process(const vm_job_conf *job, vm_coordinator_opts *o, long workers)
{
    if (workers < 0)
        workers = job->migration.workers > 0 ? job->migration.workers
                                             : sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 1)
        workers = 1;
    vm_pool pool = {.job = job, .n = (int)workers, .metrics = o->metrics};
    pool.threads = vm_calloc((size_t)workers, sizeof *pool.threads);
    pool.ids = vm_calloc((size_t)workers, sizeof *pool.ids);
    if (!pool.threads || !pool.ids) {
        fprintf(stderr, "vecmig: out of memory\n");
        vm_free(pool.threads);
        vm_free(pool.ids);
        return VM_EXIT_FAILED;
    }
    o->progress_bar = !o->quiet && isatty(STDERR_FILENO);
    pool.quiet_tasks = o->progress_bar || o->quiet;
    if (o->quiet && job->log.level > VM_LOG_WARN)
        vm_log_set_level(VM_LOG_WARN);
    o->start_workers = vm_pool_start;
    o->stop_workers = vm_pool_stop;
    o->should_stop = vm_pool_should_stop;
    o->ctx = &pool;
    vm_worker_install_signals();
    int code = vm_coordinator_run(job, o);
    vm_pool_stop(&pool);
    vm_free(pool.threads);
    vm_free(pool.ids);
    return code;
}

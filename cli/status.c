/*
 * status.c - `vecmig status [JOB] [--watch [SECONDS]] [--json]`: what the
 * state store says about jobs, read-only.
 *
 * Without JOB: one line per job in the store (state, rows done / total, %,
 * rows/s, ETA, errors, tasks, age). With JOB: that job in detail, with its
 * running tasks (range, owner, rows, lease left) and its workers from the
 * worker registry (alive when their last beat is at most 3 heartbeats old;
 * entries silent for longer than max(10 min, 30 heartbeats) are dropped).
 *
 * Rates: one shot, rows done / (now - the job's first claim) on the store
 * clock (to the last finish for a job that is over); under --watch, from
 * two successive samples. The store is named as for `vecmig cancel`; the
 * embedded default .vecmig/state.db is never created here. Formatting is
 * in status_fmt.c (pure, unit-tested).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "status_fmt.h"
#include "vm_config.h"
#include "vm_mem.h"
#include "vm_state.h"

#define VM_ST_DEFAULT_STATE ".vecmig/state.db"
#define VM_ST_DEFAULT_HEARTBEAT_MS 10000

/* The previous sample of a job under --watch. */
typedef struct vm_st_prev {
    char *id;
    int64_t rows, t_ms;
} vm_st_prev;

typedef struct vm_st {
    vm_state *st;
    bool json, watch, tty;
    long every_s;
    int64_t alive_ms, drop_ms;
    vm_st_prev *prev;
    size_t nprev, capprev;
} vm_st;

/* One job's figures; tasks/workers (may be NULL) get the lists, *now the
 * store clock. */
static int vm_st_sample(vm_st *c, const char *id, vm_status_job *j, vm_task_status **tasks,
                        size_t *ntasks, vm_worker_status **workers, size_t *nworkers,
                        int64_t *now, vm_err *e)
{
    vm_job_info info = {0};
    vm_job_counters k;
    vm_task_status *ts = NULL;
    vm_worker_status *ws = NULL;
    size_t nt = 0, nw = 0;
    int rc;
    memset(j, 0, sizeof *j);
    if ((rc = vm_state_job_get(c->st, id, &info, e)) != 0 ||
        (rc = vm_state_job_counters(c->st, id, &k, e)) != 0 ||
        (rc = vm_state_tasks_list(c->st, id, &ts, &nt, e)) != 0 ||
        (rc = vm_state_workers_list(c->st, id, c->drop_ms, &ws, &nw, now, e)) != 0)
        goto cleanup;
    j->id = id;
    j->state = info.state;
    j->cancel_requested = info.cancel_ms > 0;
    j->rows_done = k.rows_written;
    j->rows_total = json_integer_value(json_object_get(info.record, "source_rows_start"));
    j->tasks_total = k.tasks_total;
    j->pending = k.pending;
    j->running = k.running;
    j->done = k.done;
    j->failed = k.failed;
    j->age_ms = *now - info.created_ms;
    int64_t first = 0, last = 0;
    for (size_t i = 0; i < nt; i++) {
        if (ts[i].first_claim_ms > 0 && (first == 0 || ts[i].first_claim_ms < first))
            first = ts[i].first_claim_ms;
        if (ts[i].finished_ms > last)
            last = ts[i].finished_ms;
    }
    int64_t end = vm_status_final(j->state) && last > first ? last : *now;
    j->rate = vm_status_rate(0, first, j->rows_done, end);
    if (c->watch) {
        /* under --watch: the rate between this sample and the last one */
        int64_t t = vm_cli_mono_ms();
        vm_st_prev *p = NULL;
        for (size_t i = 0; i < c->nprev; i++)
            if (strcmp(c->prev[i].id, id) == 0)
                p = &c->prev[i];
        if (p && !vm_status_final(j->state)) {
            double r = vm_status_rate(p->rows, p->t_ms, j->rows_done, t);
            if (r >= 0)
                j->rate = r;
        }
        if (!p) {
            if (vm_grow((void **)&c->prev, &c->capprev, c->nprev + 1, sizeof *c->prev) != 0 ||
                !(c->prev[c->nprev].id = vm_strdup(id))) {
                rc = vm_err_setc(e, VM_ERR_NOMEM, "out of memory");
                goto cleanup;
            }
            p = &c->prev[c->nprev++];
        }
        p->rows = j->rows_done;
        p->t_ms = t;
    }
    if (tasks) {
        *tasks = ts;
        *ntasks = nt;
        ts = NULL;
    }
    if (workers) {
        *workers = ws;
        *nworkers = nw;
        ws = NULL;
    }
cleanup:
    vm_task_status_free_array(ts, nt);
    vm_worker_status_free_array(ws, nw);
    vm_job_info_release(&info);
    return rc;
}

static void vm_st_print_json(json_t *doc, bool compact)
{
    char *s = json_dumps(doc, compact ? JSON_COMPACT | JSON_PRESERVE_ORDER
                                      : JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
}

/* The worker's rows: those of its task when it still runs the task (the
 * task's counter is fresher than the registry's beat). */
static void vm_st_fresh_rows(vm_worker_status *ws, size_t nw, const vm_task_status *ts,
                             size_t nt)
{
    for (size_t i = 0; i < nw; i++)
        for (size_t k = 0; k < nt; k++)
            if (ws[i].task_id == (int64_t)ts[k].id && ts[k].state == VM_TASK_RUNNING &&
                ts[k].owner && strcmp(ts[k].owner, ws[i].id) == 0 &&
                ts[k].rows_written > ws[i].rows)
                ws[i].rows = ts[k].rows_written;
}

/* One job in detail. *final: whether it is over. */
static int vm_st_job(vm_st *c, const char *id, bool *final, vm_err *e)
{
    vm_status_job j;
    vm_task_status *ts = NULL;
    vm_worker_status *ws = NULL;
    size_t nt = 0, nw = 0;
    int64_t now = 0;
    int rc = vm_st_sample(c, id, &j, &ts, &nt, &ws, &nw, &now, e);
    if (rc)
        return rc;
    *final = vm_status_final(j.state);
    vm_st_fresh_rows(ws, nw, ts, nt);
    if (c->json) {
        json_t *doc = vm_status_job_json(&j), *ta = json_array(), *wa = json_array();
        for (size_t i = 0; i < nt; i++)
            json_array_append_new(ta, vm_status_task_json(&ts[i], now));
        for (size_t i = 0; i < nw; i++)
            json_array_append_new(wa, vm_status_worker_json(&ws[i], now, c->alive_ms));
        json_object_set_new(doc, "tasks", ta);
        json_object_set_new(doc, "workers", wa);
        json_object_set_new(doc, "now_ms", json_integer(now));
        vm_st_print_json(doc, c->watch);
        json_decref(doc);
        goto cleanup;
    }
    char line[1024];
    vm_status_job_line(&j, line, sizeof line);
    if (c->watch && !c->tty) {
        printf("%s\n", line);
        goto cleanup;
    }
    if (c->tty && c->watch)
        fputs("\033[H\033[2J", stdout);
    char bar[64], eta[16], age[16], rate[32];
    double pct = vm_status_pct(j.rows_done, j.rows_total);
    vm_status_bar(pct, 40, bar, sizeof bar);
    vm_status_duration(vm_status_job_eta_s(&j), eta, sizeof eta);
    vm_status_duration(j.age_ms / 1000, age, sizeof age);
    if (j.rate >= 0)
        snprintf(rate, sizeof rate, "%.0f rows/s", j.rate);
    else
        snprintf(rate, sizeof rate, "- rows/s");
    printf("job %s: %s%s\n", id, vm_job_state_name(j.state),
           j.cancel_requested && !*final ? " (cancel requested)" : "");
    if (pct >= 0)
        printf("  %s %5.1f%%  %" PRId64 "/%" PRId64 " rows\n", bar, pct, j.rows_done,
               j.rows_total);
    else
        printf("  %" PRId64 "/? rows\n", j.rows_done);
    printf("  %s  ETA %s  errors %" PRId64 "  age %s\n", rate, eta, j.failed, age);
    printf("  tasks: %" PRId64 " total, %" PRId64 " done, %" PRId64 " running, %" PRId64
           " pending, %" PRId64 " failed\n",
           j.tasks_total, j.done, j.running, j.pending, j.failed);
    bool head = false;
    for (size_t i = 0; i < nt; i++) {
        const vm_task_status *t = &ts[i];
        if (t->state != VM_TASK_RUNNING)
            continue;
        if (!head)
            printf("running tasks:\n");
        head = true;
        char range[256], left[16];
        vm_task_describe(&t->task, range, sizeof range);
        int64_t l = t->lease_until_ms - now;
        vm_status_duration(l >= 0 ? l / 1000 : -1, left, sizeof left);
        printf("  task %-5u %-40s worker %-20s rows %-10" PRId64 " lease %s\n", t->id, range,
               t->owner ? t->owner : "-", t->rows_written, l >= 0 ? left : "expired");
    }
    for (size_t i = 0; i < nt; i++)
        if (ts[i].state == VM_TASK_FAILED)
            printf("  task %u failed: %s\n", ts[i].id, ts[i].error ? ts[i].error : "?");
    printf("workers:%s\n", nw ? "" : " none registered");
    for (size_t i = 0; i < nw; i++) {
        const vm_worker_status *w = &ws[i];
        int64_t ago = now - w->last_beat_ms;
        char agos[16], task[24];
        vm_status_duration(ago < 0 ? 0 : ago / 1000, agos, sizeof agos);
        if (w->task_id >= 0)
            snprintf(task, sizeof task, "task %" PRId64, w->task_id);
        else
            snprintf(task, sizeof task, "idle");
        printf("  %-24s %-5s %-12s rows %-10" PRId64 " last beat %s ago\n", w->id,
               ago <= c->alive_ms ? "alive" : "gone", task, w->rows, agos);
    }
cleanup:
    fflush(stdout);
    vm_task_status_free_array(ts, nt);
    vm_worker_status_free_array(ws, nw);
    return 0;
}

/* Every job, one line each. *final: whether all are over. */
static int vm_st_list(vm_st *c, bool *final, vm_err *e)
{
    char **ids = NULL;
    size_t n = 0;
    int rc = vm_state_jobs_list(c->st, &ids, &n, e);
    if (rc)
        return rc;
    json_t *arr = c->json ? json_array() : NULL;
    *final = true;
    if (c->tty && c->watch && !c->json)
        fputs("\033[H\033[2J", stdout);
    if (n == 0 && !c->json)
        printf("no jobs\n");
    for (size_t i = 0; i < n; i++) {
        vm_status_job j;
        int64_t now;
        rc = vm_st_sample(c, ids[i], &j, NULL, NULL, NULL, NULL, &now, e);
        if (rc == VM_ERR_NOT_FOUND) {
            rc = 0; /* deleted meanwhile */
            continue;
        }
        if (rc)
            break;
        *final = *final && vm_status_final(j.state);
        if (arr) {
            json_array_append_new(arr, vm_status_job_json(&j));
        } else {
            char line[1024];
            vm_status_job_line(&j, line, sizeof line);
            printf("%s\n", line);
        }
    }
    if (arr && rc == 0) {
        json_t *doc = json_pack("{s:o}", "jobs", arr);
        vm_st_print_json(doc, c->watch);
        json_decref(doc);
    } else {
        json_decref(arr);
    }
    fflush(stdout);
    vm_state_ids_free(ids, n);
    return rc;
}

int vm_cmd_status(const vm_command *cmd, int argc, char **argv)
{
    const char *arg = NULL, *job_file = NULL, *redis = NULL, *prefix = NULL, *state_file = NULL;
    vm_st c = {.every_s = 2};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--job-file") == 0 && i + 1 < argc) {
            job_file = argv[++i];
        } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            redis = argv[++i];
        } else if (strcmp(argv[i], "--key-prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else if (strcmp(argv[i], "--state-file") == 0 && i + 1 < argc) {
            state_file = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            c.json = true;
        } else if (strcmp(argv[i], "--watch") == 0) {
            c.watch = true;
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                char *end;
                c.every_s = strtol(argv[++i], &end, 10);
                if (*end || c.every_s < 1 || c.every_s > 3600) {
                    fprintf(stderr, "vecmig status: --watch: expected 1..3600 seconds, got "
                                    "'%s'\n", argv[i]);
                    return VM_EXIT_USAGE;
                }
            }
        } else if (argv[i][0] != '-' && !arg) {
            arg = argv[i];
        } else {
            fprintf(stderr, "vecmig status: unexpected argument '%s'\n", argv[i]);
            fputs(cmd->usage, stderr);
            return VM_EXIT_USAGE;
        }
    }
    if (arg && !job_file && vm_cli_names_job_file(arg)) {
        job_file = arg;
        arg = NULL;
    }
    if ((job_file != NULL) + (redis != NULL) + (state_file != NULL) > 1) {
        fprintf(stderr, "vecmig status: name the state store once: --job-file, --redis or "
                        "--state-file\n");
        return VM_EXIT_USAGE;
    }
    vm_job_conf job = {0};
    bool loaded = false;
    vm_job_state_conf sc = {.type = VM_STATE_EMBEDDED};
    int64_t heartbeat = VM_ST_DEFAULT_HEARTBEAT_MS;
    int code = VM_EXIT_USAGE;
    if (job_file) {
        if (vm_load_job("status", job_file, NULL, &job) != 0)
            return VM_EXIT_USAGE;
        loaded = true;
        if (arg && strcmp(arg, job.job.id) != 0) {
            fprintf(stderr, "vecmig status: %s is the job file of job '%s', not '%s'\n",
                    job_file, job.job.id, arg);
            goto cleanup;
        }
        arg = job.job.id;
        sc = job.state;
        heartbeat = job.migration.heartbeat_ms;
    } else if (redis) {
        sc.type = VM_STATE_REDIS;
        sc.url = (char *)redis;
        sc.key_prefix = (char *)prefix;
    } else {
        sc.path = (char *)(state_file ? state_file : VM_ST_DEFAULT_STATE);
    }
    c.alive_ms = 3 * heartbeat;
    c.drop_ms = 30 * heartbeat > 600000 ? 30 * heartbeat : 600000;
    c.tty = isatty(STDOUT_FILENO) == 1;
    vm_err e;
    if (arg && !vm_state_job_id_valid(arg)) {
        fprintf(stderr, "vecmig status: '%s' is not a job id ([A-Za-z0-9._-], 1 to 128 "
                        "characters) nor a job file\n", arg);
        goto cleanup;
    }
    const char *path = sc.path && *sc.path ? sc.path : VM_ST_DEFAULT_STATE;
    if (sc.type == VM_STATE_EMBEDDED && !vm_cli_is_file(path)) {
        /* opening would create an empty state file */
        fprintf(stderr, "vecmig status: no state file %s (run the command where the job runs, "
                        "or name the job file or the store: --job-file, --state-file, "
                        "--redis)\n", path);
        code = VM_EXIT_FAILED;
        goto cleanup;
    }
    if (vm_state_open(&sc, &c.st, &e) != VM_OK) {
        fprintf(stderr, "vecmig status: %s\n", e.msg);
        code = VM_EXIT_FAILED;
        goto cleanup;
    }
    for (;;) {
        bool final = false;
        int rc = arg ? vm_st_job(&c, arg, &final, &e) : vm_st_list(&c, &final, &e);
        if (rc == VM_ERR_NOT_FOUND && arg) {
            fprintf(stderr, "vecmig status: no job '%s' in %s\n", arg,
                    sc.type == VM_STATE_REDIS ? "the Redis state store" : path);
            code = VM_EXIT_USAGE;
            break;
        }
        if (rc != 0 && (!c.watch || !e.retriable)) {
            fprintf(stderr, "vecmig status: %s\n", e.msg);
            code = VM_EXIT_FAILED;
            break;
        }
        if (rc != 0)
            fprintf(stderr, "vecmig status: %s (retrying)\n", e.msg);
        code = VM_EXIT_OK;
        if (!c.watch || (rc == 0 && final))
            break;
        vm_sleep_ms(c.every_s * 1000);
    }
cleanup:
    vm_state_close(c.st);
    for (size_t i = 0; i < c.nprev; i++)
        vm_free(c.prev[i].id);
    vm_free(c.prev);
    if (loaded)
        vm_job_conf_release(&job);
    return code;
}

/*
 * control_plane.c - what Kafka + Redis cost per task and per batch, next to
 * the data path's own cost per batch (`bench/run control-plane`,
 * bench/README.md). Not a test: timing.
 *
 * It calls vecmig's real control-plane operations (common/vm_state.h on
 * Redis, common/vm_queue.h on Kafka) in the order a worker makes them
 * (worker/worker.c), for --tasks tasks of --batches-per-task batches, and
 * prints the mean wall time of each call in microseconds:
 *
 *   per task:  publish (the coordinator's, durable), consume, hold, claim,
 *              worker_beat x2, stats_add, finish, ack, release_hold, and
 *              the wait from release_hold until consume returns the next
 *              task (librdkafka fetches again after a resume)
 *   per batch: checkpoint, cancel_requested, keepalive (held); heartbeat
 *              and worker_beat run once per `migration.heartbeat` only
 *              (a checkpoint extends the lease), so they are per task here
 *
 * The data path per batch is measured in the same process: --batch rows of
 * --dim float32 values parsed from JSON text with vm_f32_parse (the
 * sources' parser) and written with vm_buf_f32 (the Milvus sink's encoder),
 * i.e. the numbers' share of a REST -> REST batch, a lower bound of a
 * batch's CPU (--datapath-us-per-row takes a figure of `bench/run
 * datapath` instead, e.g. its rest_to_rest.cpu_per_row). Shares:
 *
 *   control_plane.per_batch_us = checkpoint + cancel_requested + keepalive
 *   control_plane.per_task_us  = the per-task calls, without the resume wait
 *   share = (per_batch x batches + per_task) / (datapath per batch x batches)
 *
 *   control_plane --redis URL --kafka BROKERS [--tasks 100]
 *                 [--batches-per-task 100] [--dim 768] [--batch 1000]
 *                 [--datapath-us-per-row X]
 *   control_plane --kafka BROKERS --delete-topic NAME...   (cleanup)
 *
 * Everything it creates lives under the key prefix vecmig-bench-cp: and
 * the topics vecmig-bench-cp.*, deleted at the end.
 */
#include "vm_buf.h"
#include "vm_config.h"
#include "vm_err.h"
#include "vm_float.h"
#include "vm_kafka.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_queue.h"
#include "vm_state.h"
#include "vm_task.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CP_PREFIX "vecmig-bench-cp"

enum {
    OP_PUBLISH, OP_CONSUME_FIRST, OP_HOLD, OP_CLAIM, OP_BEAT, OP_HEARTBEAT, OP_STATS, OP_FINISH,
    OP_ACK, OP_RELEASE, OP_RESUME_WAIT, OP_CHECKPOINT, OP_CANCEL, OP_KEEPALIVE, OP__N
};
static const char *op_name[OP__N] = {
    "publish", "consume_first", "hold", "claim", "worker_beat", "heartbeat", "stats_add",
    "finish", "ack", "release_hold", "resume_wait", "checkpoint", "cancel_requested",
    "keepalive"};
static double op_us[OP__N];
static int64_t op_n[OP__N];

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void rec(int op, double t0)
{
    op_us[op] += now_us() - t0;
    op_n[op]++;
}

static double mean(int op) { return op_n[op] ? op_us[op] / (double)op_n[op] : 0.0; }

static int check(int rc, const char *what, const vm_err *err)
{
    if (rc < 0) {
        fprintf(stderr, "control_plane: %s: %s\n", what, err->msg);
        return -1;
    }
    return 0;
}

/* The data path's numbers for one batch: parse dim x batch JSON number
 * tokens, write them back; the mean of `reps` batches, CPU microseconds. */
static double datapath_batch_us(int dim, int batch, int reps, vm_err *err)
{
    /* one JSON array of dim floats, rendered in the shortest form */
    vm_buf text, outb;
    vm_buf_init(&text);
    vm_buf_init(&outb);
    uint64_t x = 0x9e3779b97f4a7c15u;
    float *v = vm_malloc((size_t)dim * sizeof *v);
    double us = -1;
    if (!v) {
        vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    vm_buf_putc(&text, '[');
    for (int k = 0; k < dim; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float f = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        if (k)
            vm_buf_putc(&text, ',');
        vm_buf_f32(&text, f);
    }
    vm_buf_putc(&text, ']');
    double sink = 0;
    double c0 = cpu_us();
    for (int r = 0; r < reps; r++) {
        for (int row = 0; row < batch; row++) {
            /* parse: tokens between '[', ',' and ']' */
            const char *p = text.data + 1, *end = text.data + text.len - 1;
            int k = 0;
            while (p < end && k < dim) {
                const char *q = memchr(p, ',', (size_t)(end - p));
                if (!q)
                    q = end;
                if (vm_f32_parse(p, (size_t)(q - p), &v[k]) != VM_F32_OK) {
                    vm_err_setc(err, VM_ERR_INTERNAL, "parse failed at %d", k);
                    goto cleanup;
                }
                k++;
                p = q + 1;
            }
            vm_buf_clear(&outb);
            vm_buf_putc(&outb, '[');
            for (int j = 0; j < k; j++) {
                if (j)
                    vm_buf_putc(&outb, ',');
                vm_buf_f32(&outb, v[j]);
            }
            vm_buf_putc(&outb, ']');
            sink += (double)outb.len;
        }
    }
    us = (cpu_us() - c0) / reps;
    if (sink <= 0)
        us = -1;
cleanup:
    vm_free(v);
    vm_buf_release(&text);
    vm_buf_release(&outb);
    return us;
}

static int delete_topics(const char *brokers, char **names, int n)
{
    vm_kafka_opts ko = {.brokers = brokers};
    int bad = 0;
    for (int i = 0; i < n; i++) {
        vm_err e;
        if (vm_kafka_delete_topic(&ko, names[i], 30000, &e) != 0) {
            fprintf(stderr, "control_plane: delete topic %s: %s\n", names[i], e.msg);
            bad = 1;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    const char *redis = NULL, *kafka = NULL;
    int tasks = 100, bpt = 100, dim = 768, batch = 1000;
    double dp_row = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--delete-topic") && kafka)
            return delete_topics(kafka, argv + i + 1, argc - i - 1);
        if (!v) {
            fprintf(stderr, "control_plane: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--redis"))
            redis = v;
        else if (!strcmp(a, "--kafka"))
            kafka = v;
        else if (!strcmp(a, "--tasks"))
            tasks = atoi(v);
        else if (!strcmp(a, "--batches-per-task"))
            bpt = atoi(v);
        else if (!strcmp(a, "--dim"))
            dim = atoi(v);
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--datapath-us-per-row"))
            dp_row = atof(v);
        else {
            fprintf(stderr, "control_plane: unknown argument %s\n", a);
            return 2;
        }
        i++;
    }
    if (!redis || !kafka || tasks < 2 || bpt < 1 || dim < 1 || batch < 1) {
        fprintf(stderr, "usage: control_plane --redis URL --kafka BROKERS [--tasks N] "
                        "[--batches-per-task N] [--dim D] [--batch R] "
                        "[--datapath-us-per-row X] | --kafka BROKERS --delete-topic NAME...\n");
        return 2;
    }
    vm_log_set_level(VM_LOG_WARN);
    char job_id[96];
    snprintf(job_id, sizeof job_id, "cp-%ld-%ld", (long)getpid(), (long)time(NULL));
    char topic[160];
    snprintf(topic, sizeof topic, CP_PREFIX ".%s", job_id);
    json_t *root = json_pack(
        "{s:i, s:{s:s}, s:{s:s, s:i, s:i}, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, "
        "s:{s:s, s:s, s:s}}",
        "version", 1, "job", "id", job_id, "source", "type", "synthetic", "rows", 1000, "dim",
        4, "target", "type", "milvus", "uri", "http://127.0.0.1:1", "queue", "type", "kafka",
        "brokers", kafka, "topic", topic, "dead_letter_topic", CP_PREFIX ".dead", "group",
        CP_PREFIX "-group", "state", "type", "redis", "url", redis, "key_prefix", CP_PREFIX ":");
    /* VECMIG_CP_KAFKA_PROPS='{"fetch.wait.max.ms":"10"}': librdkafka
     * properties of the queue, to compare settings */
    const char *xp = getenv("VECMIG_CP_KAFKA_PROPS");
    if (root && xp && *xp) {
        json_t *props = json_loads(xp, 0, NULL);
        if (!json_is_object(props)) {
            fprintf(stderr, "control_plane: VECMIG_CP_KAFKA_PROPS: not a JSON object\n");
            json_decref(props);
            json_decref(root);
            return 2;
        }
        json_object_set_new(json_object_get(root, "queue"), "properties", props);
    }
    vm_job_conf job = {0};
    vm_state *st = NULL;
    vm_queue *prod = NULL, *cons = NULL;
    vm_task *tv = NULL;
    json_t *record = NULL;
    vm_err err;
    int rc = 1;
    if (!root || vm_job_conf_from_json(root, NULL, &job, &err) != VM_OK) {
        fprintf(stderr, "control_plane: job: %s\n", root ? err.msg : "out of memory");
        goto cleanup;
    }
    double dp_batch = datapath_batch_us(dim, batch, 5, &err);
    if (dp_batch < 0) {
        fprintf(stderr, "control_plane: data path: %s\n", err.msg);
        goto cleanup;
    }
    if (check(vm_state_open(&job.state, &st, &err), "redis", &err) ||
        check(vm_queue_open(&job.queue, "producer", &prod, &err), "kafka producer", &err))
        goto cleanup;
    record = json_pack("{s:s}", "bench", "control_plane");
    tv = vm_calloc((size_t)tasks, sizeof *tv);
    if (!record || !tv)
        goto cleanup;
    for (int i = 0; i < tasks; i++) {
        vm_task_init(&tv[i]);
        tv[i].job_id = job_id; /* borrowed; not released */
        tv[i].id = (uint32_t)i;
        tv[i].kind = VM_RANGE_INT;
        tv[i].has_lo = tv[i].has_hi = true;
        tv[i].lo = (int64_t)i * bpt * batch;
        tv[i].hi = (int64_t)(i + 1) * bpt * batch;
    }
    if (check(vm_state_job_put(st, job_id, record, &err), "job_put", &err) ||
        check(vm_state_tasks_put(st, job_id, tv, (size_t)tasks, &err), "tasks_put", &err) ||
        check(vm_queue_prepare(prod, 1, &err), "prepare", &err) ||
        check(vm_queue_open(&job.queue, "consumer", &cons, &err), "kafka consumer", &err))
        goto cleanup;
    for (int i = 0; i < tasks; i++) {
        char key[200];
        char *payload = vm_task_encode(&tv[i]);
        if (!payload || vm_queue_task_key(job_id, (uint32_t)i, key, sizeof key) != VM_OK) {
            free(payload);
            goto cleanup;
        }
        double t0 = now_us();
        int prc = vm_queue_publish(prod, key, payload, strlen(payload), &err);
        rec(OP_PUBLISH, t0);
        free(payload); /* json_dumps memory, as coordinator.c frees it */
        if (check(prc, "publish", &err))
            goto cleanup;
    }
    /* the worker loop, as worker/worker.c makes the calls */
    const int64_t lease = 30000;
    double cpu0 = 0, wall_loop0 = 0;
    int got = 0;
    vm_queue_msg m = {0};
    double t_wait = now_us();
    while (got < tasks) {
        int crc = vm_queue_consume(cons, 1000, &m, &err);
        if (check(crc, "consume", &err))
            goto cleanup;
        if (crc == 0) {
            if (now_us() - t_wait > 60e6) {
                fprintf(stderr, "control_plane: no task message for 60 s\n");
                goto cleanup;
            }
            continue;
        }
        /* the first consume includes joining the group: reported apart */
        rec(got == 0 ? OP_CONSUME_FIRST : OP_RESUME_WAIT, t_wait);
        if (got == 0) {
            cpu0 = cpu_us();
            wall_loop0 = now_us();
        }
        got++;
        vm_task task;
        if (vm_task_decode(m.payload, m.len, &task, &err) != VM_OK) {
            fprintf(stderr, "control_plane: decode: %s\n", err.msg);
            vm_queue_msg_release(&m);
            goto cleanup;
        }
        uint32_t tid = task.id;
        vm_task_release(&task);
        double t0 = now_us();
        int r2 = vm_queue_hold(cons, &err);
        rec(OP_HOLD, t0);
        vm_claim cl = {0};
        t0 = now_us();
        r2 = r2 ? r2 : vm_state_task_claim(st, job_id, tid, "bench-w1", lease, &cl, &err);
        rec(OP_CLAIM, t0);
        if (check(r2, "claim", &err) || cl.outcome != VM_CLAIM_CLAIMED) {
            if (r2 >= 0)
                fprintf(stderr, "control_plane: claim: %s\n", vm_claim_outcome_name(cl.outcome));
            vm_claim_release(&cl);
            vm_queue_msg_release(&m);
            goto cleanup;
        }
        uint64_t token = cl.token;
        vm_claim_release(&cl);
        t0 = now_us();
        r2 = vm_state_worker_beat(st, job_id, "bench-w1", tid, 0, &err);
        rec(OP_BEAT, t0);
        for (int b = 0; b < bpt && r2 >= 0; b++) {
            bool cancel = false;
            t0 = now_us();
            r2 = vm_state_job_cancel_requested(st, job_id, &cancel, &err);
            rec(OP_CANCEL, t0);
            t0 = now_us();
            if (r2 >= 0)
                r2 = vm_queue_keepalive(cons, &err);
            rec(OP_KEEPALIVE, t0);
            char cursor[32];
            snprintf(cursor, sizeof cursor, "%" PRId64, tv[tid].lo + (int64_t)(b + 1) * batch - 1);
            t0 = now_us();
            if (r2 >= 0)
                r2 = vm_state_task_checkpoint(st, job_id, tid, token, cursor, batch, batch, lease,
                                              &err);
            rec(OP_CHECKPOINT, t0);
        }
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_state_task_heartbeat(st, job_id, tid, token, lease, NULL, &err);
        rec(OP_HEARTBEAT, t0);
        vm_task_stats d = {.run_ms = 1};
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_state_task_stats_add(st, job_id, tid, token, &d, &err);
        rec(OP_STATS, t0);
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_state_worker_beat(st, job_id, "bench-w1", -1, 0, &err);
        rec(OP_BEAT, t0);
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_state_task_finish(st, job_id, tid, token, VM_TASK_DONE, NULL, NULL, &err);
        rec(OP_FINISH, t0);
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_queue_ack(cons, &m, &err);
        rec(OP_ACK, t0);
        t0 = now_us();
        if (r2 >= 0)
            r2 = vm_queue_release_hold(cons, &err);
        rec(OP_RELEASE, t0);
        vm_queue_msg_release(&m);
        if (check(r2, "task calls", &err))
            goto cleanup;
        t_wait = now_us();
    }
    double cpu_loop = cpu_us() - cpu0, wall_loop = now_us() - wall_loop0;
    vm_job_counters k;
    if (check(vm_state_job_counters(st, job_id, &k, &err), "counters", &err))
        goto cleanup;
    if (k.done != tasks || k.rows_written != (int64_t)tasks * bpt * batch) {
        fprintf(stderr, "control_plane: the store counted %" PRId64 " tasks done, %" PRId64
                        " rows (expected %d, %lld)\n",
                k.done, k.rows_written, tasks, (long long)tasks * bpt * batch);
        goto cleanup;
    }
    printf("control_plane.tasks: %d\n", tasks);
    printf("control_plane.batches_per_task: %d\n", bpt);
    printf("control_plane.batch: %d rows x %d-d\n", batch, dim);
    for (int op = 0; op < OP__N; op++)
        if (op != OP_CONSUME_FIRST)
            printf("control_plane.%s_us: %.1f us (%" PRId64 " calls)\n", op_name[op], mean(op),
                   op_n[op]);
    printf("control_plane.consume_first_us: %.0f us (group join)\n", mean(OP_CONSUME_FIRST));
    double per_batch = mean(OP_CHECKPOINT) + mean(OP_CANCEL) + mean(OP_KEEPALIVE);
    double per_task = mean(OP_PUBLISH) + mean(OP_HOLD) + mean(OP_CLAIM) +
                      2 * mean(OP_BEAT) + mean(OP_HEARTBEAT) + mean(OP_STATS) +
                      mean(OP_FINISH) + mean(OP_ACK) + mean(OP_RELEASE);
    /* the worker's own CPU for the whole loop, per batch (Redis/Kafka
     * clients: protocol, hiredis, librdkafka's threads) */
    double calls_batches = (double)tasks * bpt;
    printf("control_plane.worker_cpu_per_batch_us: %.1f us (the loop's CPU / batches, "
           "per-task calls included)\n", cpu_loop / calls_batches);
    printf("control_plane.loop_wall_per_batch_us: %.1f us\n", wall_loop / calls_batches);
    printf("control_plane.per_batch_us: %.1f us\n", per_batch);
    printf("control_plane.per_task_us: %.1f us (without the resume wait)\n", per_task);
    printf("control_plane.resume_wait_per_task_us: %.0f us\n", mean(OP_RESUME_WAIT));
    printf("datapath.numbers_per_batch_us: %.0f us (vm_f32_parse + vm_buf_f32, %d x %d-d, CPU)\n",
           dp_batch, batch, dim);
    double dp = dp_batch;
    if (dp_row > 0) {
        dp = dp_row * batch;
        printf("datapath.per_batch_us: %.0f us (--datapath-us-per-row %.2f x %d)\n", dp, dp_row,
               batch);
    }
    double task_dp = dp * bpt;
    printf("control_plane.share_of_datapath: %.3f %%\n",
           100.0 * (per_batch * bpt + per_task) / task_dp);
    printf("control_plane.share_of_datapath_with_resume_wait: %.3f %%\n",
           100.0 * (per_batch * bpt + per_task + mean(OP_RESUME_WAIT)) / task_dp);
    printf("control_plane.cpu_share_of_datapath: %.3f %%\n",
           100.0 * (cpu_loop / calls_batches) / dp);
    rc = 0;
cleanup:
    if (st) {
        vm_err e2;
        vm_state_job_delete(st, job_id, &e2);
    }
    vm_queue_close(cons);
    vm_queue_close(prod);
    vm_state_close(st);
    if (kafka && job.queue.topic) {
        char dead[] = CP_PREFIX ".dead";
        char *names[2] = {topic, dead};
        delete_topics(kafka, names, 2);
    }
    if (tv)
        for (int i = 0; i < tasks; i++)
            tv[i].job_id = NULL;
    vm_free(tv);
    json_decref(record);
    json_decref(root);
    vm_job_conf_release(&job);
    return rc;
}

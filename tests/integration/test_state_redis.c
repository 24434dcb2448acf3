/*
 * test_state_redis.c - the Redis state store against a real Redis
 * (VECMIG_TEST_REDIS, e.g. redis://127.0.0.1:36379, from `scripts/stack
 * env`): the contract every backend shares (tests/state_contract.h: job
 * records, idempotent tasks_put, every claim outcome, strictly increasing
 * tokens, fencing, exact counters under 4 concurrent connections, lease
 * expiry on the Redis clock, idempotent finish, reset, purge), plus the
 * replay of a mutation whose reply was lost, secrets never stored, and a
 * Redis restart (`$VECMIG_STACK down redis && $VECMIG_STACK up redis`) after
 * which the next calls reconnect, reload the scripts and find the state
 * intact.
 *
 * Fails (never skips) when VECMIG_TEST_REDIS (or, for the restart,
 * VECMIG_STACK) is unset. Every key lives under a per-run key_prefix and is
 * deleted at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state_redis.h"
#include "state_redis_lua.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_redis.h"
#include "vm_state.h"

#include "state_contract.h"

static const char *test_url;
static char prefix[96];

static vm_state *open_url(const char *url)
{
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = (char *)url, .key_prefix = prefix};
    vm_state *s = NULL;
    vm_err e;
    if (vm_state_open(&conf, &s, &e) != 0)
        fail_msg("vm_state_open: %s", e.msg);
    return s;
}

static vm_state *open_state(void) { return open_url(test_url); }

static vm_redis *raw_redis(void)
{
    vm_redis_opts o = {.url = test_url};
    vm_redis *r = NULL;
    vm_err e;
    if (vm_redis_connect(&o, &r, &e) != 0)
        fail_msg("redis: %s", e.msg);
    return r;
}


static int group_setup(void **st)
{
    (void)st;
    test_url = getenv("VECMIG_TEST_REDIS");
    if (!test_url || !*test_url) {
        fprintf(stderr, "test_state_redis: VECMIG_TEST_REDIS is not set; run "
                        "`scripts/stack up redis && eval \"$(scripts/stack env)\"`\n");
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(prefix, sizeof prefix, "vmtest:state:%ld-%ld:", (long)getpid(), (long)ts.tv_nsec);
    snprintf(sc_job, sizeof sc_job, "job-%ld-%ld", (long)getpid(), (long)ts.tv_nsec);
    sc_open = open_state;
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = (char *)test_url,
                              .key_prefix = prefix};
    vm_state *s = NULL;
    vm_err e;
    if (vm_state_open(&conf, &s, &e) != 0) {
        fprintf(stderr, "test_state_redis: Redis at VECMIG_TEST_REDIS is unreachable: %s\n",
                e.msg);
        return -1;
    }
    vm_state_close(s);
    return 0;
}

/* Delete every key of this run. */
static int group_teardown(void **st)
{
    (void)st;
    if (!prefix[0])
        return 0;
    vm_redis *r = raw_redis();
    char match[128], cursor[32] = "0";
    vm_err e;
    int rc = 0;
    snprintf(match, sizeof match, "%s*", prefix);
    do {
        redisReply *rep = NULL;
        if (vm_redis_command(r, &rep, &e, "SCAN %s MATCH %s COUNT 1000", cursor, match) != 0) {
            rc = -1;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++)
            if (vm_redis_command(r, NULL, &e, "DEL %s", rep->element[1]->element[i]->str) != 0)
                rc = -1;
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    vm_redis_free(r);
    return rc;
}

/* A mutation applied on the server whose reply was lost is sent again with
 * the same op id: it is recognised and not applied twice. Driven here by
 * running the checkpoint script directly, twice, with one op id. */
static void test_op_replay(void **st)
{
    (void)st;
    vm_state *s = open_state();
    vm_redis *r = raw_redis();
    vm_redis_script *sc = NULL;
    vm_err e;
    vm_claim c;
    uint64_t tok = sc_claim_ok(s, 4, "worker-r", 60000, &c);
    vm_claim_release(&c);
    assert_int_equal(vm_redis_script_new(vm_sr_lua_checkpoint, &sc, &e), 0);
    char k_task[VM_SR_KEY_MAX], k_job[VM_SR_KEY_MAX], k_leases[VM_SR_KEY_MAX], tokb[24];
    vm_sr_key_build(k_task, sizeof k_task, prefix, VM_SR_KEY_TASK, sc_job, 4);
    vm_sr_key_build(k_job, sizeof k_job, prefix, VM_SR_KEY_JOB, sc_job, 0);
    vm_sr_key_build(k_leases, sizeof k_leases, prefix, VM_SR_KEY_LEASES, sc_job, 0);
    snprintf(tokb, sizeof tokb, "%llu", (unsigned long long)tok);
    const char *keys[] = {k_task, k_job, k_leases};
    const char *args[] = {"4", tokb, "1", "r1", "10", "10", "60000", "replay-op-1"};
    vm_job_counters before, after;
    sc_counters(s, &before);
    for (int i = 0; i < 2; i++) {
        redisReply *rep = NULL;
        assert_int_equal(vm_redis_eval(r, sc, 3, keys, 8, args, &rep, &e), 0);
        assert_string_equal(rep->element[0]->str, "OK");
        freeReplyObject(rep);
    }
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 10);
    /* a new op id is a new checkpoint */
    args[7] = "replay-op-2";
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_eval(r, sc, 3, keys, 8, args, &rep, &e), 0);
    freeReplyObject(rep);
    sc_counters(s, &after);
    assert_int_equal(after.rows_read - before.rows_read, 20);
    assert_int_equal(vm_state_task_finish(s, sc_job, 4, tok, VM_TASK_DONE, NULL, NULL, &e), 0);
    vm_redis_script_free(sc);
    vm_redis_free(r);
    vm_state_close(s);
}

/* Dump every value stored under the run's prefix into one buffer. */
static char *dump_all(void)
{
    vm_redis *r = raw_redis();
    vm_err e;
    char match[128], cursor[32] = "0";
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    snprintf(match, sizeof match, "%s*", prefix);
    do {
        redisReply *rep = NULL;
        assert_int_equal(vm_redis_command(r, &rep, &e, "SCAN %s MATCH %s COUNT 1000", cursor,
                                          match), 0);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;
            redisReply *t = NULL, *v = NULL;
            assert_int_equal(vm_redis_command(r, &t, &e, "TYPE %s", k), 0);
            if (strcmp(t->str, "hash") == 0)
                vm_redis_command(r, &v, &e, "HGETALL %s", k);
            else if (strcmp(t->str, "zset") == 0)
                vm_redis_command(r, &v, &e, "ZRANGE %s 0 -1 WITHSCORES", k);
            else if (strcmp(t->str, "set") == 0)
                vm_redis_command(r, &v, &e, "SMEMBERS %s", k);
            else
                vm_redis_command(r, &v, &e, "GET %s", k);
            freeReplyObject(t);
            size_t ne = v && v->type == REDIS_REPLY_ARRAY ? v->elements : 1;
            for (size_t j = 0; v && j < ne; j++) {
                const redisReply *x = v->type == REDIS_REPLY_ARRAY ? v->element[j] : v;
                if (x->type != REDIS_REPLY_STRING)
                    continue;
                while (len + x->len + 2 > cap)
                    out = realloc(out, cap *= 2);
                memcpy(out + len, x->str, x->len);
                len += x->len;
                out[len++] = '\n';
                out[len] = '\0';
            }
            if (v)
                freeReplyObject(v);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    vm_redis_free(r);
    return out;
}

/* Through a URL with a password (an ACL user made for this run): nothing
 * stored and no message contains the password, not even an error string
 * that a worker records which happens to quote it. */
static void test_no_secrets(void **st)
{
    (void)st;
    char user[64], pw[64], url[256], bad_url[256], gt[80];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(user, sizeof user, "vmstate-%ld", (long)getpid());
    snprintf(pw, sizeof pw, "Pw-%ld-%ld-secret", (long)now.tv_nsec, (long)getpid());
    snprintf(gt, sizeof gt, ">%s", pw);
    vm_redis *r = raw_redis();
    vm_err e;
    const char *acl[] = {"ACL", "SETUSER", user, "reset", "on", gt, "~*", "+@all"};
    assert_int_equal(vm_redis_commandv(r, 8, acl, NULL, NULL, &e), 0);
    vm_redis_addr addr;
    assert_int_equal(vm_redis_parse_url(test_url, &addr, &e), 0);
    snprintf(url, sizeof url, "redis://%s:%s@%s:%d", user, pw, addr.host, addr.port);
    snprintf(bad_url, sizeof bad_url, "redis://%s:%sX@%s:%d", user, pw, addr.host, addr.port);

    /* a wrong password: refused, and the message holds neither password */
    vm_job_state_conf conf = {.type = VM_STATE_REDIS, .url = bad_url, .key_prefix = prefix};
    vm_state *s = NULL;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_AUTH);
    assert_null(strstr(e.msg, pw));
    /* unreachable: the message names the host, not the password */
    char dead_url[256];
    snprintf(dead_url, sizeof dead_url, "redis://%s:%s@127.0.0.1:1", user, pw);
    conf.url = dead_url;
    assert_int_equal(vm_state_open(&conf, &s, &e), VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(strstr(e.msg, pw));

    s = open_url(url);
    char sjob[128];
    snprintf(sjob, sizeof sjob, "%s-secret", sc_job);
    json_t *rec = json_pack("{s:{s:s,s:s}}", "source", "type", "synthetic", "collection", "c");
    assert_int_equal(vm_state_job_put(s, sjob, rec, &e), 0);
    vm_task t;
    sc_make_task(&t, sjob, 0);
    assert_int_equal(vm_state_tasks_put(s, sjob, &t, 1, &e), 0);
    vm_claim c;
    assert_int_equal(vm_state_task_claim(s, sjob, 0, "w", 60000, &c, &e), 0);
    char errmsg[256];
    snprintf(errmsg, sizeof errmsg, "source said: auth failed for %s", pw);
    assert_int_equal(vm_state_task_finish(s, sjob, 0, c.token, VM_TASK_FAILED, errmsg, NULL, &e), 0);
    vm_claim_release(&c);
    vm_task_status ts;
    assert_int_equal(vm_state_task_get(s, sjob, 0, &ts, &e), 0);
    assert_non_null(strstr(ts.error, "auth failed for ***"));
    vm_task_status_release(&ts);
    char *all = dump_all();
    assert_null(strstr(all, pw));
    assert_non_null(strstr(all, "synthetic")); /* the dump did see the job */
    free(all);
    assert_int_equal(vm_state_job_delete(s, sjob, &e), 0);
    json_decref(rec);
    vm_state_close(s);

    const char *del[] = {"ACL", "DELUSER", user};
    assert_int_equal(vm_redis_commandv(r, 3, del, NULL, NULL, &e), 0);
    vm_redis_addr_clear(&addr);
    vm_redis_free(r);
}

/* Restart Redis under an open vm_state holding a live claim: the next calls
 * reconnect, the scripts are loaded again (NOSCRIPT), the AOF kept
 * everything. */
static void test_redis_restart(void **st)
{
    (void)st;
    const char *stack = getenv("VECMIG_STACK");
    if (!stack || !*stack)
        fail_msg("VECMIG_STACK is not set: eval \"$(scripts/stack env)\"");
    vm_state *s = open_state();
    vm_err e;
    vm_claim c;
    uint64_t tok = sc_claim_ok(s, 5, "worker-restart", 120000, &c);
    vm_claim_release(&c);
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 5, tok, "before", 3, 3, 120000, &e), 0);
    vm_job_counters before, after;
    sc_counters(s, &before);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' down redis >/dev/null && '%s' up redis >/dev/null", stack,
             stack);
    assert_int_equal(system(cmd), 0);

    /* the first call may meet the dead socket; it reconnects by itself */
    int64_t t0 = sc_now_ms();
    int rc;
    vm_task_status ts;
    while ((rc = vm_state_task_get(s, sc_job, 5, &ts, &e)) != 0) {
        if (!e.retriable || sc_now_ms() - t0 > 30000)
            fail_msg("task_get after restart: %s", e.msg);
        sc_pause_ms(100);
    }
    assert_int_equal(ts.state, VM_TASK_RUNNING);
    assert_string_equal(ts.cursor, "before");
    assert_true(ts.token == tok);
    vm_task_status_release(&ts);
    sc_counters(s, &after);
    assert_memory_equal(&before, &after, sizeof before);

    /* scripts run again after the restart (loaded on NOSCRIPT) */
    assert_int_equal(vm_state_task_checkpoint(s, sc_job, 5, tok, "after", 4, 4, 120000, &e), 0);
    assert_int_equal(vm_state_task_heartbeat(s, sc_job, 5, tok, 120000, NULL, &e), 0);
    sc_counters(s, &after);
    assert_int_equal(after.rows_read, before.rows_read + 4);
    vm_finish_result fr;
    assert_int_equal(vm_state_task_finish(s, sc_job, 5, tok, VM_TASK_DONE, NULL, &fr, &e), 0);
    assert_true(fr.applied);
    vm_state_close(s);
}

/* Purge (the contract), and no key of the job is left. */
static void test_job_delete(void **st)
{
    sc_test_job_delete(st);
    vm_redis *r = raw_redis();
    redisReply *rep = NULL;
    vm_err e;
    char match[256];
    snprintf(match, sizeof match, "%s{%s}*", prefix, sc_job);
    assert_int_equal(vm_redis_command(r, &rep, &e, "SCAN 0 MATCH %s COUNT 100000", match), 0);
    assert_int_equal(rep->element[1]->elements, 0);
    freeReplyObject(rep);
    vm_redis_free(r);
}

int main(void)
{
    vm_log_set_level(VM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sc_test_job_record),
        cmocka_unit_test(sc_test_tasks_put_idempotent),
        cmocka_unit_test(sc_test_claim_and_fencing),
        cmocka_unit_test(sc_test_lease_expiry),
        cmocka_unit_test(sc_test_concurrent_counters),
        cmocka_unit_test(sc_test_cancel_resume),
        cmocka_unit_test(sc_test_stats_report),
        cmocka_unit_test(sc_test_workers),
        cmocka_unit_test(sc_test_leader),
        cmocka_unit_test(test_op_replay),
        cmocka_unit_test(test_no_secrets),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_job_delete),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_redis.c - vm_redis against a real Redis (VECMIG_TEST_REDIS, e.g.
 * redis://127.0.0.1:36379, as `scripts/stack env` prints): binary-safe
 * values, hashes, the atomic task-claim Lua script and its NOSCRIPT
 * fallback, error classification, AUTH/SELECT, a killed connection and a
 * command timeout followed by a transparent reconnect.
 *
 * Fails (never skips) when the variable is unset or Redis is unreachable.
 * Every key lives under a per-run prefix and is deleted at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vm_log.h"
#include "vm_redis.h"

static const char *claim_lua =
    "if redis.call('HGET', KEYS[1], 'state') == 'pending' then "
    "  redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1]) "
    "  return 1 "
    "else return 0 end";

static const char *test_url;
static char prefix[64];

static vm_redis *test_connect(const vm_redis_opts *o)
{
    vm_redis_opts dflt = {.url = test_url, .command_timeout_ms = 5000};
    vm_redis *r = NULL;
    vm_err e;
    vm_err_clear(&e);
    if (vm_redis_connect(o ? o : &dflt, &r, &e) != 0)
        fail_msg("cannot connect to VECMIG_TEST_REDIS: %s", e.msg);
    return r;
}

static void key(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s%s", prefix, name);
}

static int group_setup(void **st)
{
    (void)st;
    test_url = getenv("VECMIG_TEST_REDIS");
    if (!test_url || !*test_url) {
        fprintf(stderr, "test_redis: VECMIG_TEST_REDIS is not set; run "
                        "`scripts/stack up redis && eval \"$(scripts/stack env)\"` "
                        "(VECMIG_TEST_REDIS=redis://127.0.0.1:36379)\n");
        return -1;
    }
    vm_redis_opts o = {.url = test_url, .connect_timeout_ms = 3000};
    vm_redis *r = NULL;
    vm_err e;
    if (vm_redis_connect(&o, &r, &e) != 0) {
        fprintf(stderr, "test_redis: Redis at VECMIG_TEST_REDIS is unreachable: %s\n", e.msg);
        return -1;
    }
    vm_redis_free(r);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(prefix, sizeof prefix, "vmtest:redis:%ld:%ld:", (long)getpid(), (long)ts.tv_nsec);
    return 0;
}

/* Delete every key of this run. */
static int group_teardown(void **st)
{
    (void)st;
    if (!prefix[0])
        return 0; /* the setup failed: nothing was written */
    vm_redis_opts o = {.url = test_url};
    vm_redis *r = NULL;
    vm_err e;
    if (vm_redis_connect(&o, &r, &e) != 0)
        return -1;
    char match[80], cursor[32] = "0";
    snprintf(match, sizeof match, "%s*", prefix);
    int rc = 0;
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

static void test_binary_roundtrip(void **st)
{
    (void)st;
    vm_redis *r = test_connect(NULL);
    char k[128];
    key(k, sizeof k, "bin");
    static const char val[] = {'a', '\0', 'b', '\r', '\n', '\0', (char)0xff, 'z'};
    const char *argv[] = {"SET", k, val};
    size_t lens[] = {3, strlen(k), sizeof val};
    redisReply *rep = NULL;
    vm_err e;
    assert_int_equal(vm_redis_commandv(r, 3, argv, lens, &rep, &e), 0);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    assert_string_equal(rep->str, "OK");
    freeReplyObject(rep);
    const char *get[] = {"GET", k};
    assert_int_equal(vm_redis_commandv(r, 2, get, NULL, &rep, &e), 0);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_int_equal(rep->len, sizeof val);
    assert_memory_equal(rep->str, val, sizeof val);
    freeReplyObject(rep);
    /* the format API with %b reads the same bytes */
    assert_int_equal(vm_redis_command(r, &rep, &e, "STRLEN %b", k, strlen(k)), 0);
    assert_int_equal(rep->integer, (long long)sizeof val);
    freeReplyObject(rep);
    vm_redis_free(r);
}

static void test_hash(void **st)
{
    (void)st;
    vm_redis *r = test_connect(NULL);
    char k[128];
    key(k, sizeof k, "hash");
    redisReply *rep = NULL;
    vm_err e;
    assert_int_equal(vm_redis_command(r, &rep, &e, "HSET %s state %s rows %d", k, "done", 42), 0);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    assert_int_equal(rep->integer, 2);
    freeReplyObject(rep);
    assert_int_equal(vm_redis_command(r, &rep, &e, "HGETALL %s", k), 0);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 4);
    int seen = 0;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        if (strcmp(rep->element[i]->str, "state") == 0) {
            assert_string_equal(rep->element[i + 1]->str, "done");
            seen |= 1;
        } else if (strcmp(rep->element[i]->str, "rows") == 0) {
            assert_string_equal(rep->element[i + 1]->str, "42");
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    freeReplyObject(rep);
    vm_redis_free(r);
}

static long long eval_int(vm_redis *r, const vm_redis_script *s, const char *k,
                          const char *owner)
{
    const char *keys[] = {k};
    const char *args[] = {owner};
    redisReply *rep = NULL;
    vm_err e;
    vm_err_clear(&e);
    if (vm_redis_eval(r, s, 1, keys, 1, args, &rep, &e) != 0)
        fail_msg("eval: %s", e.msg);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

static void test_claim_script(void **st)
{
    (void)st;
    vm_redis *r = test_connect(NULL);
    vm_redis_script *s = NULL;
    vm_err e;
    assert_int_equal(vm_redis_script_new(claim_lua, &s, &e), 0);
    char k[128];
    key(k, sizeof k, "task:1");
    assert_int_equal(vm_redis_command(r, NULL, &e, "HSET %s state pending", k), 0);
    assert_int_equal(eval_int(r, s, k, "worker-a"), 1);
    assert_int_equal(eval_int(r, s, k, "worker-b"), 0);
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_command(r, &rep, &e, "HMGET %s state owner", k), 0);
    assert_string_equal(rep->element[0]->str, "running");
    assert_string_equal(rep->element[1]->str, "worker-a");
    freeReplyObject(rep);
    /* our SHA1 is the one Redis computes */
    assert_int_equal(vm_redis_command(r, &rep, &e, "SCRIPT LOAD %s", claim_lua), 0);
    assert_string_equal(rep->str, vm_redis_script_sha(s));
    freeReplyObject(rep);
    vm_redis_script_free(s);
    vm_redis_free(r);
}

static void test_noscript_fallback(void **st)
{
    (void)st;
    vm_redis *r = test_connect(NULL);
    vm_redis_script *s = NULL;
    vm_err e;
    assert_int_equal(vm_redis_script_new(claim_lua, &s, &e), 0);
    assert_int_equal(vm_redis_command(r, NULL, &e, "SCRIPT FLUSH"), 0);
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_command(r, &rep, &e, "SCRIPT EXISTS %s", vm_redis_script_sha(s)),
                     0);
    assert_int_equal(rep->element[0]->integer, 0); /* really gone */
    freeReplyObject(rep);
    char k[128];
    key(k, sizeof k, "task:2");
    assert_int_equal(vm_redis_command(r, NULL, &e, "HSET %s state pending", k), 0);
    assert_int_equal(eval_int(r, s, k, "worker-c"), 1);
    assert_int_equal(vm_redis_command(r, &rep, &e, "SCRIPT EXISTS %s", vm_redis_script_sha(s)),
                     0);
    assert_int_equal(rep->element[0]->integer, 1); /* loaded by the fallback */
    freeReplyObject(rep);
    assert_int_equal(eval_int(r, s, k, "worker-d"), 0);
    /* a script that raises is a fatal remote error */
    vm_redis_script *bad = NULL;
    assert_int_equal(vm_redis_script_new("return redis.error_reply('ERR vmtest boom')", &bad, &e),
                     0);
    assert_int_equal(vm_redis_eval(r, bad, 0, NULL, 0, NULL, &rep, &e), VM_ERR_REMOTE);
    assert_null(rep);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "vmtest boom"));
    vm_redis_script_free(bad);
    vm_redis_script_free(s);
    vm_redis_free(r);
}

static void test_server_error_fatal(void **st)
{
    (void)st;
    vm_redis *r = test_connect(NULL);
    char k[128];
    key(k, sizeof k, "hash-wrongtype");
    redisReply *rep = NULL;
    vm_err e;
    assert_int_equal(vm_redis_command(r, NULL, &e, "HSET %s a 1", k), 0);
    assert_int_equal(vm_redis_command(r, &rep, &e, "INCR %s", k), VM_ERR_REMOTE);
    assert_null(rep);
    assert_int_equal(e.code, VM_ERR_REMOTE);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "WRONGTYPE"));
    assert_non_null(strstr(e.msg, "INCR"));
    const char *argv[] = {"VMNOSUCHCMD", "x"};
    assert_int_equal(vm_redis_commandv(r, 2, argv, NULL, NULL, &e), VM_ERR_REMOTE);
    assert_false(e.retriable);
    /* an error reply leaves the connection usable */
    assert_true(vm_redis_connected(r));
    assert_int_equal(vm_redis_command(r, &rep, &e, "PING"), 0);
    assert_string_equal(rep->str, "PONG");
    freeReplyObject(rep);
    vm_redis_free(r);
}

static long long client_id(vm_redis *r)
{
    redisReply *rep = NULL;
    vm_err e;
    if (vm_redis_command(r, &rep, &e, "CLIENT ID") != 0)
        fail_msg("CLIENT ID: %s", e.msg);
    long long id = rep->integer;
    freeReplyObject(rep);
    return id;
}

static void test_killed_connection_reconnects(void **st)
{
    (void)st;
    vm_redis *a = test_connect(NULL);
    vm_redis *b = test_connect(NULL);
    char k[128];
    key(k, sizeof k, "counter");
    vm_err e;
    assert_int_equal(vm_redis_command(a, NULL, &e, "SET %s 1", k), 0);
    long long id = client_id(a);
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_command(b, &rep, &e, "CLIENT KILL ID %lld", id), 0);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    /* the next command sees the dead connection: IO, retriable, not re-sent */
    vm_err_clear(&e);
    assert_int_equal(vm_redis_command(a, &rep, &e, "INCR %s", k), VM_ERR_IO);
    assert_null(rep);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "INCR"));
    assert_false(vm_redis_connected(a));
    /* the one after reconnects transparently */
    assert_int_equal(vm_redis_command(a, &rep, &e, "GET %s", k), 0);
    assert_string_equal(rep->str, "1"); /* the failed INCR was not replayed */
    freeReplyObject(rep);
    assert_true(vm_redis_connected(a));
    assert_true(client_id(a) != id);
    vm_redis_free(b);
    vm_redis_free(a);
}

static void test_command_timeout(void **st)
{
    (void)st;
    vm_redis_opts o = {.url = test_url, .command_timeout_ms = 200};
    vm_redis *r = test_connect(&o);
    char k[128];
    key(k, sizeof k, "never-pushed");
    redisReply *rep = NULL;
    vm_err e;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* the server holds BLPOP for 5 s; the client gives up after 200 ms */
    assert_int_equal(vm_redis_command(r, &rep, &e, "BLPOP %s 5", k), VM_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 150 && ms < 3000);
    assert_true(e.retriable);
    assert_non_null(strstr(e.msg, "BLPOP"));
    assert_non_null(strstr(e.msg, "200 ms"));
    assert_null(rep);
    assert_false(vm_redis_connected(r));
    assert_int_equal(vm_redis_command(r, &rep, &e, "PING"), 0);
    assert_string_equal(rep->str, "PONG");
    freeReplyObject(rep);
    vm_redis_free(r);
}

/* AUTH with an ACL user and SELECT through the field-based options; a wrong
 * password is a fatal AUTH error that does not print the password. */
static void test_auth_and_select(void **st)
{
    (void)st;
    vm_redis *admin = test_connect(NULL);
    vm_redis_addr addr;
    vm_err e;
    assert_int_equal(vm_redis_parse_url(test_url, &addr, &e), 0);
    char user[64], pass[64], pat[96];
    snprintf(user, sizeof user, "vmtest_%ld", (long)getpid());
    snprintf(pass, sizeof pass, "Pw-%ld-Xyzzy", (long)getpid());
    snprintf(pat, sizeof pat, "~%s*", prefix);
    char gt[72];
    snprintf(gt, sizeof gt, ">%s", pass);
    const char *acl[] = {"ACL", "SETUSER", user, "reset", "on", gt, pat, "+@all"};
    assert_int_equal(vm_redis_commandv(admin, 8, acl, NULL, NULL, &e), 0);

    vm_redis_opts o = {.host = addr.host, .port = addr.port, .user = user, .password = pass,
                       .db = 1};
    vm_redis *r = test_connect(&o);
    redisReply *rep = NULL;
    assert_int_equal(vm_redis_command(r, &rep, &e, "CLIENT INFO"), 0);
    assert_non_null(strstr(rep->str, " db=1 "));
    assert_non_null(strstr(rep->str, user));
    freeReplyObject(rep);
    char k[128];
    key(k, sizeof k, "db1");
    assert_int_equal(vm_redis_command(r, NULL, &e, "SET %s x", k), 0);
    assert_int_equal(vm_redis_command(r, NULL, &e, "DEL %s", k), 0);
    vm_redis_free(r);

    char wrong[64];
    snprintf(wrong, sizeof wrong, "Wrong-%ld-Plugh", (long)getpid());
    o.password = wrong;
    r = NULL;
    vm_err_clear(&e);
    assert_int_equal(vm_redis_connect(&o, &r, &e), VM_ERR_AUTH);
    assert_null(r);
    assert_false(e.retriable);
    assert_non_null(strstr(e.msg, "WRONGPASS"));
    assert_null(strstr(e.msg, wrong));

    const char *del[] = {"ACL", "DELUSER", user};
    assert_int_equal(vm_redis_commandv(admin, 3, del, NULL, NULL, &e), 0);
    vm_redis_addr_clear(&addr);
    vm_redis_free(admin);
}

static void test_unreachable_is_io(void **st)
{
    (void)st;
    /* port 1 on loopback: nothing listens there */
    vm_redis_opts o = {.url = "redis://127.0.0.1:1", .connect_timeout_ms = 1000};
    vm_redis *r = NULL;
    vm_err e;
    assert_int_equal(vm_redis_connect(&o, &r, &e), VM_ERR_IO);
    assert_true(e.retriable);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_roundtrip),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_claim_script),
        cmocka_unit_test(test_noscript_fallback),
        cmocka_unit_test(test_server_error_fatal),
        cmocka_unit_test(test_killed_connection_reconnects),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test(test_auth_and_select),
        cmocka_unit_test(test_unreachable_is_io),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    vm_secret_clear();
    return rc;
}

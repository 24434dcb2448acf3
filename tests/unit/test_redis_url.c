/*
 * test_redis_url.c - the pure parts of vm_redis: redis:// URL parsing
 * (defaults, credentials, db, IPv6, bad input named in the message, no
 * credential in any message), error-reply classification, and the local
 * SHA1 that names Lua scripts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vm_mem.h"
#include "vm_redis.h"

static void test_defaults(void **st)
{
    (void)st;
    vm_redis_addr a;
    vm_err e;
    assert_int_equal(vm_redis_parse_url("redis://localhost", &a, &e), 0);
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_null(a.user);
    assert_null(a.password);
    vm_redis_addr_clear(&a);
    assert_int_equal(vm_redis_parse_url("redis://127.0.0.1:36379/", &a, &e), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 36379);
    assert_int_equal(a.db, 0);
    vm_redis_addr_clear(&a);
    assert_int_equal(vm_redis_parse_url("REDIS://Cache-1.internal_x:1", &a, &e), 0);
    assert_string_equal(a.host, "Cache-1.internal_x");
    assert_int_equal(a.port, 1);
    vm_redis_addr_clear(&a);
}

static void test_credentials_and_db(void **st)
{
    (void)st;
    vm_redis_addr a;
    vm_err e;
    assert_int_equal(vm_redis_parse_url("redis://:s3cret@h:7000/3", &a, &e), 0);
    assert_null(a.user);
    assert_string_equal(a.password, "s3cret");
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port, 7000);
    assert_int_equal(a.db, 3);
    vm_redis_addr_clear(&a);
    assert_int_equal(vm_redis_parse_url("redis://svc:p%40ss%2Fw@h/15", &a, &e), 0);
    assert_string_equal(a.user, "svc");
    assert_string_equal(a.password, "p@ss/w");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 15);
    vm_redis_addr_clear(&a);
    /* redis-cli convention: no colon means the whole user info is the password */
    assert_int_equal(vm_redis_parse_url("redis://onlypass@h", &a, &e), 0);
    assert_null(a.user);
    assert_string_equal(a.password, "onlypass");
    vm_redis_addr_clear(&a);
    /* an unencoded '@', '/' or '#' in the password still ends at the last '@' */
    assert_int_equal(vm_redis_parse_url("redis://u:a@b/c#d@h:1/2", &a, &e), 0);
    assert_string_equal(a.user, "u");
    assert_string_equal(a.password, "a@b/c#d");
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port, 1);
    assert_int_equal(a.db, 2);
    vm_redis_addr_clear(&a);
}

static void test_ipv6(void **st)
{
    (void)st;
    vm_redis_addr a;
    vm_err e;
    assert_int_equal(vm_redis_parse_url("redis://[::1]:6380/1", &a, &e), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 1);
    vm_redis_addr_clear(&a);
    assert_int_equal(vm_redis_parse_url("redis://:pw12@[fe80::1:2]", &a, &e), 0);
    assert_string_equal(a.host, "fe80::1:2");
    assert_int_equal(a.port, 6379);
    vm_redis_addr_clear(&a);
}

/* Bad input: VM_ERR_INVALID, the message names the problem, never the
 * password, and the address comes back empty. */
static void test_bad_input(void **st)
{
    (void)st;
    static const struct {
        const char *url;
        const char *needle;
    } cases[] = {
        {"", "empty"},
        {"http://h:1", "redis://"},
        {"h:6379", "redis://"},
        {"redis://", "missing host"},
        {"redis://:6379", "missing host"},
        {"redis://h:0", "invalid port '0'"},
        {"redis://h:65536", "invalid port '65536'"},
        {"redis://h:12ab", "invalid port '12ab'"},
        {"redis://h:", "invalid port ''"},
        {"redis://h/x1", "invalid database 'x1'"},
        {"redis://h/-1", "invalid database '-1'"},
        {"redis://::1:6379", "brackets"},
        {"redis://[::1:6379", "unterminated"},
        {"redis://[::1]x", "after ']'"},
        {"redis://[zz::1]:1", "bad IPv6"},
        {"redis://h?timeout=3", "query"},
        {"redis://ho st", "bad host name"},
        {"redis://user:TopSecretPw@h:notaport", "invalid port 'notaport'"},
        {"redis://user:TopSecretPw%zz@h", "percent-encoding"},
        {"redis://user:@h", "empty password"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vm_redis_addr a;
        vm_err e;
        vm_err_clear(&e);
        int rc = vm_redis_parse_url(cases[i].url, &a, &e);
        if (rc != VM_ERR_INVALID || !strstr(e.msg, cases[i].needle))
            fail_msg("'%s': rc %d msg '%s' (want '%s')", cases[i].url, rc, e.msg,
                     cases[i].needle);
        assert_false(e.retriable);
        assert_null(strstr(e.msg, "TopSecretPw"));
        assert_null(a.host);
        assert_null(a.password);
    }
    vm_redis_addr a;
    vm_err e;
    assert_int_equal(vm_redis_parse_url(NULL, &a, &e), VM_ERR_INVALID);
    assert_int_equal(vm_redis_parse_url("rediss://h:6380", &a, &e), VM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "TLS"));
    assert_non_null(strstr(e.msg, "stunnel"));
}

static void test_parse_nomem(void **st)
{
    (void)st;
    int fails = 0;
    for (long n = 0; n < 16; n++) {
        vm_redis_addr a;
        vm_err e;
        vm_mem_fail_after(n);
        int rc = vm_redis_parse_url("redis://u:password@h:1/2", &a, &e);
        vm_mem_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(a.password, "password");
            vm_redis_addr_clear(&a);
            break;
        }
        assert_int_equal(rc, VM_ERR_NOMEM);
        assert_null(a.user);
        fails++;
    }
    assert_int_equal(fails, 3); /* user, password, host */
}

static void test_classify_error(void **st)
{
    (void)st;
    static const struct {
        const char *msg;
        vm_code code;
        bool retriable;
    } cases[] = {
        {"ERR unknown command 'FOO'", VM_ERR_REMOTE, false},
        {"WRONGTYPE Operation against a key holding the wrong kind of value", VM_ERR_REMOTE,
         false},
        {"LOADING Redis is loading the dataset in memory", VM_ERR_UNAVAILABLE, true},
        {"BUSY Redis is busy running a script.", VM_ERR_UNAVAILABLE, true},
        {"BUSYKEY Target key name already exists.", VM_ERR_REMOTE, false},
        {"TRYAGAIN Multiple keys request during rehashing of slot", VM_ERR_UNAVAILABLE, true},
        {"MASTERDOWN Link with MASTER is down", VM_ERR_UNAVAILABLE, true},
        {"READONLY You can't write against a read only replica.", VM_ERR_UNAVAILABLE, true},
        {"NOAUTH Authentication required.", VM_ERR_AUTH, false},
        {"WRONGPASS invalid username-password pair", VM_ERR_AUTH, false},
        {"NOPERM this user has no permissions", VM_ERR_AUTH, false},
        {"NOSCRIPT No matching script. Please use EVAL.", VM_ERR_NOT_FOUND, false},
        {"LOADINGX", VM_ERR_REMOTE, false},
        {"", VM_ERR_REMOTE, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool r = !cases[i].retriable;
        vm_code got = vm_redis_classify_error(cases[i].msg, &r);
        if (got != cases[i].code || r != cases[i].retriable)
            fail_msg("'%s': got %s/%d", cases[i].msg, vm_code_name(got), r);
    }
    assert_int_equal(vm_redis_classify_error(NULL, NULL), VM_ERR_REMOTE);
}

static void test_sha1(void **st)
{
    (void)st;
    char hex[41];
    vm_redis_sha1_hex("", 0, hex);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    vm_redis_sha1_hex("abc", 3, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    /* 56 bytes: the padding spills into a second block */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    vm_redis_sha1_hex(m, strlen(m), hex);
    assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* a million 'a' fed as one buffer (multi-block) */
    static char million[1000000];
    memset(million, 'a', sizeof million);
    vm_redis_sha1_hex(million, sizeof million, hex);
    assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* the script object carries the same digest */
    vm_redis_script *s = NULL;
    vm_err e;
    assert_int_equal(vm_redis_script_new("return 1", &s, &e), 0);
    vm_redis_sha1_hex("return 1", 8, hex);
    assert_string_equal(vm_redis_script_sha(s), hex);
    vm_redis_script_free(s);
    assert_int_equal(vm_redis_script_new("", &s, &e), VM_ERR_INVALID);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_credentials_and_db),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_parse_nomem),
        cmocka_unit_test(test_classify_error),
        cmocka_unit_test(test_sha1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_config.c - job files: YAML/JSON parsing (core schema, exact big
 * integers, duplicate keys, multi-document, aliases, positions in
 * messages), typed tables (unknown keys, types, ranges, required, defaults,
 * sizes, durations, enums, lists, secrets and their redaction), the job file
 * layout and its cross-section rules, and allocation-failure injection over
 * a full job load with jansson routed through vm_malloc.
 *
 * VM_TEST_DATA_DIR (tests/CMakeLists.txt) points at tests/unit/data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "vm_config.h"
#include "vm_log.h"
#include "vm_mem.h"
#include "vm_yaml.h"

#ifndef VM_TEST_DATA_DIR
#error "VM_TEST_DATA_DIR must be defined"
#endif

#define PG_PASSWORD "pg-Pa55word-from-env"
#define MILVUS_TOKEN "root:Milvus-token-xyz"
#define KAFKA_PASSWORD "kafka-Secret-42"
#define REDIS_PASSWORD "redis-Hidden-77"

/* ---- helpers ------------------------------------------------------------ */

static json_t *parse_ok(const char *text)
{
    vm_err e;
    vm_err_clear(&e);
    json_t *j = NULL;
    int rc = vm_conf_parse_string(text, strlen(text), "t.yaml", &j, &e);
    if (rc != 0)
        fail_msg("parse failed: %s", e.msg);
    assert_non_null(j);
    return j;
}

/* Parse must fail with `code` and a message containing `want`. */
static void parse_fails(const char *text, int code, const char *want)
{
    vm_err e;
    vm_err_clear(&e);
    json_t *j = (json_t *)0x1;
    int rc = vm_conf_parse_string(text, strlen(text), "t.yaml", &j, &e);
    assert_int_equal(rc, code);
    assert_int_equal(e.code, code);
    assert_null(j);
    if (!strstr(e.msg, want))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" lacks \"%s\"", hay, needle);
}

static FILE *log_capture_start(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    vm_log_set_format(VM_LOG_TEXT);
    vm_log_set_level(VM_LOG_DEBUG);
    vm_log_set_stream(f);
    return f;
}

/* Stop capturing; returns what was logged (free()). */
static char *log_capture_end(FILE *f)
{
    vm_log_set_stream(NULL);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/vecmig-test-config-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

/* ---- YAML -> JSON ---------------------------------------------------------- */

static void test_scalars_core_schema(void **s)
{
    (void)s;
    json_t *j = parse_ok("n1: null\nn2: ~\nn3:\nn4: NULL\n"
                         "b1: true\nb2: False\nb3: TRUE\n"
                         "yes_is_string: yes\non_is_string: on\n"
                         "i1: 42\ni2: -17\ni3: +8\ni4: 0x1F\ni5: 0o17\ni6: 007\ni7: -0x10\n"
                         "f1: 1.5\nf2: -2.5e3\nf3: .5\nf4: 1.\nf5: 6.02E+23\n"
                         "s1: 0x\ns2: 1_000\ns3: 1.2.3\ns4: hello world\ns5: 0xZZ\ns6: 12abc\n");
    const char *nulls[] = {"n1", "n2", "n3", "n4"};
    for (size_t i = 0; i < 4; i++)
        assert_true(json_is_null(json_object_get(j, nulls[i])));
    assert_true(json_is_true(json_object_get(j, "b1")));
    assert_true(json_is_false(json_object_get(j, "b2")));
    assert_true(json_is_true(json_object_get(j, "b3")));
    assert_string_equal(json_string_value(json_object_get(j, "yes_is_string")), "yes");
    assert_string_equal(json_string_value(json_object_get(j, "on_is_string")), "on");
    struct { const char *k; long long v; } ints[] = {
        {"i1", 42}, {"i2", -17}, {"i3", 8}, {"i4", 31}, {"i5", 15}, {"i6", 7}, {"i7", -16}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_object_get(j, ints[i].k);
        assert_true(json_is_integer(v));
        assert_int_equal(json_integer_value(v), ints[i].v);
    }
    struct { const char *k; double v; } reals[] = {
        {"f1", 1.5}, {"f2", -2500.0}, {"f3", 0.5}, {"f4", 1.0}, {"f5", 6.02e23}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        json_t *v = json_object_get(j, reals[i].k);
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) == reals[i].v);
    }
    const char *strs[][2] = {{"s1", "0x"}, {"s2", "1_000"}, {"s3", "1.2.3"},
                             {"s4", "hello world"}, {"s5", "0xZZ"}, {"s6", "12abc"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        assert_string_equal(json_string_value(json_object_get(j, strs[i][0])), strs[i][1]);
    json_decref(j);
}

static void test_quoted_are_strings(void **s)
{
    (void)s;
    json_t *j = parse_ok("a: '123'\nb: \"true\"\nc: 'null'\nd: \"\"\ne: |\n  line1\n  line2\n"
                         "f: !!str 99\ng: ! 12\nh: !!int 12\ni: !!float 3\n");
    assert_string_equal(json_string_value(json_object_get(j, "a")), "123");
    assert_string_equal(json_string_value(json_object_get(j, "b")), "true");
    assert_string_equal(json_string_value(json_object_get(j, "c")), "null");
    assert_string_equal(json_string_value(json_object_get(j, "d")), "");
    assert_string_equal(json_string_value(json_object_get(j, "e")), "line1\nline2\n");
    assert_string_equal(json_string_value(json_object_get(j, "f")), "99");
    assert_string_equal(json_string_value(json_object_get(j, "g")), "12");
    assert_int_equal(json_integer_value(json_object_get(j, "h")), 12);
    assert_true(json_is_real(json_object_get(j, "i")));
    json_decref(j);
    parse_fails("a: !!int abc\n", VM_ERR_INVALID, "t.yaml:1:4: value does not match its tag");
    parse_fails("a: !custom x\n", VM_ERR_INVALID, "unsupported tag");
}

static void test_big_int_exact(void **s)
{
    (void)s;
    /* YAML form */
    json_t *j = parse_ok("a: 9007199254740993\nmax: 9223372036854775807\n"
                         "min: -9223372036854775808\nhex: 0x7fffffffffffffff\n");
    assert_true(json_is_integer(json_object_get(j, "a")));
    assert_true(json_integer_value(json_object_get(j, "a")) == 9007199254740993LL);
    assert_true(json_integer_value(json_object_get(j, "max")) == INT64_MAX);
    assert_true(json_integer_value(json_object_get(j, "min")) == INT64_MIN);
    assert_true(json_integer_value(json_object_get(j, "hex")) == INT64_MAX);
    json_decref(j);
    /* JSON form */
    j = parse_ok("{\"a\": 9007199254740993, \"b\": [1, 2.5, \"x\", true, null, -9007199254740993],"
                 " \"c\":{\"d\":\"\\u00e9\"}}");
    assert_true(json_integer_value(json_object_get(j, "a")) == 9007199254740993LL);
    json_t *b = json_object_get(j, "b");
    assert_int_equal(json_array_size(b), 6);
    assert_true(json_is_integer(json_array_get(b, 0)));
    assert_true(json_is_real(json_array_get(b, 1)));
    assert_string_equal(json_string_value(json_array_get(b, 2)), "x");
    assert_true(json_is_true(json_array_get(b, 3)));
    assert_true(json_is_null(json_array_get(b, 4)));
    assert_true(json_integer_value(json_array_get(b, 5)) == -9007199254740993LL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "c"), "d")), "\xc3\xa9");
    json_decref(j);
    /* never silently a double */
    parse_fails("x: 1\ny: 9223372036854775808\n", VM_ERR_INVALID, "t.yaml:2:4: integer out of range");
    parse_fails("{\"a\": -9223372036854775809}", VM_ERR_INVALID, "t.yaml:1:7: integer out of range");
    parse_fails("a: 0x10000000000000000\n", VM_ERR_INVALID, "integer out of range");
}

static void test_nonfinite_rejected(void **s)
{
    (void)s;
    parse_fails("a: .inf\n", VM_ERR_INVALID, "t.yaml:1:4: infinite and NaN");
    parse_fails("a: -.Inf\n", VM_ERR_INVALID, "infinite and NaN");
    parse_fails("a: .NaN\n", VM_ERR_INVALID, "infinite and NaN");
    parse_fails("a: 1e999\n", VM_ERR_INVALID, "t.yaml:1:4: number out of range");
    json_t *j = parse_ok("a: '.inf'\n");
    assert_string_equal(json_string_value(json_object_get(j, "a")), ".inf");
    json_decref(j);
}

static void test_duplicate_key(void **s)
{
    (void)s;
    parse_fails("a: 1\nb:\n  c: 1\n  c: 2\n", VM_ERR_INVALID,
                "t.yaml:4:3: duplicate key \"c\" (first defined at line 3)");
    parse_fails("{\"a\": 1, \"a\": 2}", VM_ERR_INVALID, "duplicate key \"a\"");
}

static void test_multi_document(void **s)
{
    (void)s;
    parse_fails("a: 1\n---\nb: 2\n", VM_ERR_INVALID, "t.yaml:2:1: more than one document");
    /* one explicit document is fine */
    json_t *j = parse_ok("---\na: 1\n...\n");
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    json_decref(j);
    /* empty input is a null document */
    j = parse_ok("# only a comment\n");
    assert_true(json_is_null(j));
    json_decref(j);
}

static void test_syntax_error_position(void **s)
{
    (void)s;
    parse_fails("a: 1\nb: [1, 2\nc: 3\n", VM_ERR_INVALID, "t.yaml:");
    parse_fails("a: 1\n b: 2\n", VM_ERR_INVALID, "t.yaml:2:");
    parse_fails("a:\n  - x\n  y: 1\n", VM_ERR_INVALID, "t.yaml:3:");
    parse_fails("? [a, b]\n: 1\n", VM_ERR_INVALID, "t.yaml:1:3: mapping keys must be plain scalars");
}

static void test_aliases(void **s)
{
    (void)s;
    json_t *j = parse_ok("base: &b {x: 1, y: [1, 2]}\ncopy: *b\nscalar: &s hello\nagain: *s\n");
    json_t *base = json_object_get(j, "base"), *copy = json_object_get(j, "copy");
    assert_true(json_equal(base, copy));
    assert_true(base != copy); /* a copy, not a shared node */
    assert_string_equal(json_string_value(json_object_get(j, "again")), "hello");
    json_decref(j);
    parse_fails("a: *nope\n", VM_ERR_INVALID, "t.yaml:1:4: alias *nope refers to an unknown anchor");
    parse_fails("a: &x [1, *x]\n", VM_ERR_INVALID, "unknown anchor");
    /* alias bomb: 10^7 nodes after expansion */
    char bomb[2048] = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
    for (char c = 'b'; c <= 'h'; c++) {
        char line[128];
        snprintf(line, sizeof line, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c,
                 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
        strcat(bomb, line);
    }
    parse_fails(bomb, VM_ERR_INVALID, "document too large");
}

static void test_depth_limit(void **s)
{
    (void)s;
    char deep[1024] = "";
    for (int i = 0; i < 200; i++)
        strcat(deep, "[");
    for (int i = 0; i < 200; i++)
        strcat(deep, "]");
    parse_fails(deep, VM_ERR_INVALID, "nesting deeper than");
}

static void test_parse_file_errors(void **s)
{
    (void)s;
    vm_err e;
    json_t *j = NULL;
    assert_int_equal(vm_conf_parse_file("/nonexistent/vecmig/job.yaml", &j, &e), VM_ERR_NOT_FOUND);
    assert_false(e.retriable);
    assert_contains(e.msg, "/nonexistent/vecmig/job.yaml: cannot open");
    assert_null(j);
    char *p = write_temp("source:\n  type: x\n  type: y\n");
    assert_int_equal(vm_conf_parse_file(p, &j, &e), VM_ERR_INVALID);
    char want[256];
    snprintf(want, sizeof want, "%s:3:3: duplicate key \"type\"", p);
    assert_contains(e.msg, want);
    remove_temp(p);
    /* JSON file with a big integer, through the file path */
    assert_int_equal(vm_conf_parse_file(VM_TEST_DATA_DIR "/job_min.json", &j, &e), 0);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "target"), "seed")) ==
                9007199254740993LL);
    json_decref(j);
}

static void test_locations(void **s)
{
    (void)s;
    vm_err e;
    json_t *j = NULL, *locs = NULL;
    const char *text = "a:\n  b: 1\n  list:\n    - x\n    - {c: 2}\n";
    assert_int_equal(vm_conf_parse_string_ex(text, strlen(text), "t.yaml", &j, &locs, &e), 0);
    int line = 0, col = 0;
    assert_int_equal(vm_yaml_loc(locs, "a.b", &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
    assert_int_equal(vm_yaml_loc(locs, "a.list[1].c", &line, &col), 0);
    assert_int_equal(line, 5);
    assert_int_equal(col, 8);
    /* unknown path falls back to the nearest ancestor */
    assert_int_equal(vm_yaml_loc(locs, "a.list[1].zzz", &line, &col), 0);
    assert_int_equal(line, 5);
    assert_int_equal(col, 7);
    /* the root answers for itself, not for keys that are not there */
    assert_int_equal(vm_yaml_loc(locs, "", &line, &col), 0);
    assert_int_equal(line, 1);
    assert_int_equal(vm_yaml_loc(locs, "nothere", &line, &col), -1);
    assert_int_equal(vm_yaml_loc(locs, "nothere.x", &line, &col), -1);
    json_decref(j);
    json_decref(locs);

    /* found by fuzz_yaml: a path longer than 511 bytes was cut and missed */
    char key[700], doc[800], path[720];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(doc, sizeof doc, "top:\n  %s: 1\n", key);
    assert_int_equal(vm_conf_parse_string_ex(doc, strlen(doc), "t.yaml", &j, &locs, &e), 0);
    snprintf(path, sizeof path, "top.%s", key);
    assert_int_equal(vm_yaml_loc(locs, path, &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
    json_decref(j);
    json_decref(locs);
}

/* ---- typed tables ------------------------------------------------------------ */

typedef struct t_conf {
    char *name;
    char *password;
    int64_t count;
    bool on;
    double ratio;
    int64_t bytes;
    int64_t ms;
    int mode;
    vm_strlist hosts;
    json_t *extra;
    char *url;
} t_conf;

#define T(f) offsetof(t_conf, f)
static const vm_conf_entry t_table[] = {
    {"name", VM_CT_STRING, "anon", T(name), "A name.", NULL, 0, 0, 0},
    {"password", VM_CT_SECRET, NULL, T(password), "Password.", NULL, 0, 0, 0},
    {"count", VM_CT_INT, "10", T(count), "A count.", NULL, 0, 1, 100},
    {"on", VM_CT_BOOL, "true", T(on), "A switch.", NULL, 0, 0, 0},
    {"ratio", VM_CT_DOUBLE, "0.5", T(ratio), "A ratio.", NULL, 0, 0, 1},
    {"bytes", VM_CT_SIZE, "1KiB", T(bytes), "A size.", NULL, 0, 0, 0},
    {"ms", VM_CT_DURATION, "1m", T(ms), "A duration.", NULL, 0, 0, 0},
    {"mode", VM_CT_ENUM, "fast", T(mode), "A mode.", "slow|fast|auto", 0, 0, 0},
    {"hosts", VM_CT_STRING_LIST, NULL, T(hosts), "Hosts.", NULL, 0, 0, 0},
    {"extra", VM_CT_JSON, NULL, T(extra), "Connector block.", NULL, 0, 0, 0},
    {"url", VM_CT_SECRET, NULL, T(url), "A URL.", NULL, VM_CF_URL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

/* Parse "<path>:\n  <yaml indented>" and apply the table to the block, so
 * positions are real: the block's first line is line 2, column 3. path is
 * one key. */
static int apply_yaml(const vm_conf_entry *table, const char *yaml, const char *path, void *out,
                      vm_err *e)
{
    json_t *j = NULL, *locs = NULL;
    char doc[4096];
    size_t n = (size_t)snprintf(doc, sizeof doc, "%s:\n  ", path);
    for (const char *p = yaml; *p && n + 3 < sizeof doc; p++) {
        doc[n++] = *p;
        if (*p == '\n' && p[1]) {
            doc[n++] = ' ';
            doc[n++] = ' ';
        }
    }
    doc[n] = '\0';
    vm_err_clear(e);
    int rc = vm_conf_parse_string_ex(doc, n, "t.yaml", &j, &locs, e);
    if (rc)
        return rc;
    vm_conf_where w = {"t.yaml", locs};
    rc = vm_conf_apply_at(table, json_object_get(j, path), path, out, &w, e);
    json_decref(j);
    json_decref(locs);
    return rc;
}

static void apply_fails(const vm_conf_entry *table, const char *yaml, const char *path, int code,
                        const char *want)
{
    t_conf c;
    memset(&c, 0xab, sizeof c); /* "fresh" does not mean zeroed */
    vm_err e;
    int rc = apply_yaml(table, yaml, path, &c, &e);
    if (rc != code)
        fail_msg("rc %d (%s), want %d", rc, e.msg, code);
    assert_int_equal(e.code, code);
    assert_contains(e.msg, want);
    /* nothing left allocated: these must be NULL after a failure */
    assert_null(c.name);
    assert_null(c.password);
    assert_null(c.hosts.v);
    assert_null(c.extra);
}

static void test_defaults(void **s)
{
    (void)s;
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table, "{}", "sec", &c, &e), 0);
    assert_string_equal(c.name, "anon");
    assert_null(c.password);
    assert_int_equal(c.count, 10);
    assert_true(c.on);
    assert_true(c.ratio == 0.5);
    assert_int_equal(c.bytes, 1024);
    assert_int_equal(c.ms, 60000);
    assert_int_equal(c.mode, 1);
    assert_int_equal(c.hosts.n, 0);
    assert_null(c.extra);
    vm_conf_release(t_table, &c);
    assert_null(c.name);
    vm_conf_release(t_table, &c); /* twice is safe */
    /* NULL object and null value both mean "absent" */
    assert_int_equal(vm_conf_apply(t_table, NULL, "sec", &c, &e), 0);
    assert_int_equal(c.count, 10);
    vm_conf_release(t_table, &c);
    assert_int_equal(apply_yaml(t_table, "count:\nname: ~\n", "sec", &c, &e), 0);
    assert_int_equal(c.count, 10);
    assert_string_equal(c.name, "anon");
    vm_conf_release(t_table, &c);
}

static void test_values(void **s)
{
    (void)s;
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table,
                                "name: bob\ncount: 100\non: false\nratio: 1\nbytes: 1.5GB\n"
                                "ms: 1h30m\nmode: auto\nhosts: 'a:1, b:2 ,c:3'\n"
                                "extra: {k: [1, 2]}\n",
                                "sec", &c, &e),
                     0);
    assert_string_equal(c.name, "bob");
    assert_int_equal(c.count, 100);
    assert_false(c.on);
    assert_true(c.ratio == 1.0);
    assert_int_equal(c.bytes, 1500000000);
    assert_int_equal(c.ms, 5400000);
    assert_int_equal(c.mode, 2);
    assert_int_equal(c.hosts.n, 3);
    assert_string_equal(c.hosts.v[0], "a:1");
    assert_string_equal(c.hosts.v[1], "b:2");
    assert_string_equal(c.hosts.v[2], "c:3");
    assert_int_equal(json_array_size(json_object_get(c.extra, "k")), 2);
    assert_int_equal(c.extra->refcount, 1); /* the tree is gone, the reference is ours */
    vm_conf_release(t_table, &c);

    assert_int_equal(apply_yaml(t_table, "hosts: [x, y]\n", "sec", &c, &e), 0);
    assert_int_equal(c.hosts.n, 2);
    assert_string_equal(c.hosts.v[1], "y");
    vm_conf_release(t_table, &c);
}

static void test_unknown_key(void **s)
{
    (void)s;
    apply_fails(t_table, "nmae: x\n", "source", VM_ERR_INVALID,
                "t.yaml:2:3: source.nmae: unknown key (known: name, password, count, on, ratio, "
                "bytes, ms, mode, hosts, extra, url); did you mean \"name\"?");
    /* nested block: path and position of the key inside it */
    t_conf c;
    vm_err e;
    const char *nested = "a:\n  b:\n    zzz: 1\n";
    json_t *root = NULL, *locs = NULL;
    assert_int_equal(vm_conf_parse_string_ex(nested, strlen(nested), "t.yaml", &root, &locs, &e), 0);
    vm_conf_where w = {"t.yaml", locs};
    assert_int_equal(vm_conf_apply_at(t_table, json_object_get(json_object_get(root, "a"), "b"), "a.b",
                                      &c, &w, &e),
                     VM_ERR_INVALID);
    assert_contains(e.msg, "t.yaml:3:5: a.b.zzz: unknown key (known: name");
    json_decref(root);
    json_decref(locs);
    /* no position without a source */
    json_t *j = parse_ok("tabel: x\n");
    assert_int_equal(vm_conf_apply(t_table, j, "source", &c, &e), VM_ERR_INVALID);
    assert_true(strncmp(e.msg, "source.tabel: unknown key (known: ", 34) == 0);
    assert_null(strchr(e.msg, '\n'));
    json_decref(j);
}

static void test_wrong_type(void **s)
{
    (void)s;
    apply_fails(t_table, "count: '5'\n", "migration", VM_ERR_INVALID,
                "t.yaml:2:3: migration.count: expected an integer, got a string");
    apply_fails(t_table, "count: 5.0\n", "m", VM_ERR_INVALID, "m.count: expected an integer, got a real");
    apply_fails(t_table, "name: 123\n", "m", VM_ERR_INVALID,
                "m.name: expected a string, got an integer (quote it");
    apply_fails(t_table, "on: yes\n", "m", VM_ERR_INVALID, "m.on: expected true or false, got a string");
    apply_fails(t_table, "ratio: x\n", "m", VM_ERR_INVALID, "m.ratio: expected a number, got a string");
    apply_fails(t_table, "hosts: {a: 1}\n", "m", VM_ERR_INVALID, "m.hosts: expected a sequence");
    apply_fails(t_table, "hosts: [a, 1]\n", "m", VM_ERR_INVALID, "m.hosts: item 1: expected a non-empty");
    apply_fails(t_table, "hosts: 'a,,b'\n", "m", VM_ERR_INVALID, "item 1 of the comma-separated list is empty");
    apply_fails(t_table, "[1, 2]\n", "m", VM_ERR_INVALID, "m: expected a mapping, got a sequence");
    apply_fails(t_table, "bytes: true\n", "m", VM_ERR_INVALID, "m.bytes: expected a size");
    apply_fails(t_table, "ms: [1]\n", "m", VM_ERR_INVALID, "m.ms: expected a duration");
}

static void test_range(void **s)
{
    (void)s;
    apply_fails(t_table, "count: 0\n", "migration", VM_ERR_INVALID,
                "migration.count: 0 is out of range: must be between 1 and 100");
    apply_fails(t_table, "count: 101\n", "migration", VM_ERR_INVALID, "must be between 1 and 100");
    apply_fails(t_table, "ratio: 1.5\n", "m", VM_ERR_INVALID, "m.ratio: 1.5 is out of range");
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table, "count: 1\n", "m", &c, &e), 0);
    assert_int_equal(c.count, 1);
    vm_conf_release(t_table, &c);
    assert_int_equal(apply_yaml(t_table, "count: 100\n", "m", &c, &e), 0);
    vm_conf_release(t_table, &c);
}

typedef struct t_req {
    char *type;
    int64_t n;
} t_req;

static const vm_conf_entry t_req_table[] = {
    {"type", VM_CT_STRING, NULL, offsetof(t_req, type), "Type.", NULL, VM_CF_REQUIRED, 0, 0},
    {"n", VM_CT_INT, "3", offsetof(t_req, n), "N.", NULL, 0, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

static void test_required(void **s)
{
    (void)s;
    t_req r;
    vm_err e;
    json_t *j = parse_ok("n: 1\n");
    assert_int_equal(vm_conf_apply(t_req_table, j, "source", &r, &e), VM_ERR_INVALID);
    assert_string_equal(e.msg, "source.type: missing required key");
    assert_null(r.type);
    json_decref(j);
    j = parse_ok("type: ~\n");
    assert_int_equal(vm_conf_apply(t_req_table, j, "source", &r, &e), VM_ERR_INVALID);
    assert_string_equal(e.msg, "source.type: missing required key");
    json_decref(j);
    j = parse_ok("type: x\n");
    assert_int_equal(vm_conf_apply(t_req_table, j, "source", &r, &e), 0);
    assert_string_equal(r.type, "x");
    assert_int_equal(r.n, 3);
    vm_conf_release(t_req_table, &r);
    json_decref(j);
}

static void test_bad_default_is_internal(void **s)
{
    (void)s;
    static const vm_conf_entry bad[] = {
        {"d", VM_CT_DURATION, "ten seconds", offsetof(t_req, n), "D.", NULL, 0, 0, 0},
        {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
    };
    static const vm_conf_entry bad_range[] = {
        {"n", VM_CT_INT, "0", offsetof(t_req, n), "N.", NULL, 0, 1, 5},
        {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
    };
    t_req r;
    vm_err e;
    assert_int_equal(vm_conf_apply(bad, NULL, "x", &r, &e), VM_ERR_INTERNAL);
    assert_contains(e.msg, "x.d: invalid default: not a duration");
    assert_int_equal(vm_conf_apply(bad_range, NULL, "x", &r, &e), VM_ERR_INTERNAL);
    assert_contains(e.msg, "x.n: invalid default: 0 is out of range");
    /* a user value replaces the bad default: the default is not looked at */
    json_t *j = parse_ok("d: 5s\n");
    assert_int_equal(vm_conf_apply(bad, j, "x", &r, &e), 0);
    assert_int_equal(r.n, 5000);
    json_decref(j);
}

static void test_sizes(void **s)
{
    (void)s;
    struct { const char *in; int64_t want; } good[] = {
        {"0", 0}, {"1024", 1024}, {"64MB", 64000000}, {"64mb", 64000000}, {"512KiB", 524288},
        {"512kib", 524288}, {"1.5GB", 1500000000}, {"1.5 GiB", 1610612736}, {"10B", 10},
        {" 2 TB ", 2000000000000LL}, {"1TiB", 1099511627776LL}, {".5KiB", 512},
        {"1.0001KB", 1000}, /* rounded down */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        vm_err e;
        if (vm_conf_parse_size(good[i].in, &v, &e) != 0)
            fail_msg("%s: %s", good[i].in, e.msg);
        if (v != good[i].want)
            fail_msg("%s: got %lld want %lld", good[i].in, (long long)v, (long long)good[i].want);
    }
    const char *bad[] = {"", "MB", "-1MB", "1 M", "1XB", "1.2.3MB", "1MB2", "abc",
                         "99999999999TiB", "1.1234567KB", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -1;
        vm_err e;
        if (vm_conf_parse_size(bad[i], &v, &e) != VM_ERR_INVALID)
            fail_msg("size \"%s\" accepted", bad[i]);
        assert_int_equal(v, -1);
    }
    /* through a table: plain integers are bytes */
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table, "bytes: 4096\n", "m", &c, &e), 0);
    assert_int_equal(c.bytes, 4096);
    vm_conf_release(t_table, &c);
    apply_fails(t_table, "bytes: -1\n", "m", VM_ERR_INVALID, "m.bytes: must not be negative");
    apply_fails(t_table, "bytes: 5 parsecs\n", "m", VM_ERR_INVALID, "m.bytes: unknown size unit");
}

static void test_durations(void **s)
{
    (void)s;
    struct { const char *in; int64_t want; } good[] = {
        {"30s", 30000}, {"250ms", 250}, {"5m", 300000}, {"1h", 3600000}, {"1h30m", 5400000},
        {"1h 30m 15s", 5415000}, {"30", 30000}, {"1.5s", 1500}, {"2H", 7200000}, {"0", 0},
        {"1m30s500ms", 90500},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        vm_err e;
        if (vm_conf_parse_duration(good[i].in, &v, &e) != 0)
            fail_msg("%s: %s", good[i].in, e.msg);
        if (v != good[i].want)
            fail_msg("%s: got %lld want %lld", good[i].in, (long long)v, (long long)good[i].want);
    }
    const char *bad[] = {"", "s", "-5s", "5 days", "5d", "1h30", "30 s x", "ms5", "1.2.3s",
                         "99999999999999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -1;
        vm_err e;
        if (vm_conf_parse_duration(bad[i], &v, &e) != VM_ERR_INVALID)
            fail_msg("duration \"%s\" accepted", bad[i]);
        assert_int_equal(v, -1);
    }
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table, "ms: 45\n", "m", &c, &e), 0);
    assert_int_equal(c.ms, 45000); /* plain integer = seconds */
    vm_conf_release(t_table, &c);
    apply_fails(t_table, "ms: 10 fortnights\n", "m", VM_ERR_INVALID, "m.ms: unknown duration unit");
}

static void test_enum_lists_values(void **s)
{
    (void)s;
    apply_fails(t_table, "mode: turbo\n", "x", VM_ERR_INVALID,
                "x.mode: \"turbo\" is not one of slow|fast|auto");
    apply_fails(t_table, "mode: 1\n", "x", VM_ERR_INVALID,
                "x.mode: expected one of slow|fast|auto, got an integer");
    apply_fails(t_table, "mode: Fast\n", "x", VM_ERR_INVALID, "not one of slow|fast|auto");
}

static void test_secret_env(void **s)
{
    (void)s;
    vm_secret_clear();
    setenv("VECMIG_TEST_SECRET_ENV", "env-Secret-value-1", 1);
    t_conf c;
    vm_err e;
    FILE *lf = log_capture_start();
    assert_int_equal(apply_yaml(t_table, "password: {env: VECMIG_TEST_SECRET_ENV}\n", "source", &c, &e), 0);
    char *logged = log_capture_end(lf);
    assert_string_equal(c.password, "env-Secret-value-1");
    assert_null(strstr(logged, "literal secret")); /* no warning for env */
    free(logged);
    /* registered: redacted from any message */
    char buf[128] = "token env-Secret-value-1 here";
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "token *** here");
    vm_conf_release(t_table, &c);

    unsetenv("VECMIG_TEST_SECRET_UNSET");
    apply_fails(t_table, "password: {env: VECMIG_TEST_SECRET_UNSET}\n", "source", VM_ERR_INVALID,
                "source.password: environment variable VECMIG_TEST_SECRET_UNSET is not set");
    apply_fails(t_table, "password: {env: ''}\n", "source", VM_ERR_INVALID,
                "source.password: env: expected a non-empty string");
    apply_fails(t_table, "password: {vault: x}\n", "source", VM_ERR_INVALID,
                "unknown key \"vault\" in secret reference (known: env, file)");
    apply_fails(t_table, "password: {env: A, file: B}\n", "source", VM_ERR_INVALID,
                "exactly one key");
    apply_fails(t_table, "password: 12345678\n", "source", VM_ERR_INVALID,
                "source.password: expected a string, {env: NAME} or {file: PATH}, got an integer");
    setenv("VECMIG_TEST_SECRET_SHORT", "abc", 1);
    apply_fails(t_table, "password: {env: VECMIG_TEST_SECRET_SHORT}\n", "source", VM_ERR_INVALID,
                "source.password: too short to be redacted safely");
    vm_secret_clear();
}

static void test_secret_file(void **s)
{
    (void)s;
    vm_secret_clear();
    char *p = write_temp("file-Secret-value-2\n");
    char yaml[256];
    snprintf(yaml, sizeof yaml, "password: {file: '%s'}\n", p);
    t_conf c;
    vm_err e;
    assert_int_equal(apply_yaml(t_table, yaml, "source", &c, &e), 0);
    assert_string_equal(c.password, "file-Secret-value-2"); /* newline stripped */
    vm_conf_release(t_table, &c);
    remove_temp(p);

    p = write_temp("two-newlines-secret\n\n"); /* only one is removed */
    snprintf(yaml, sizeof yaml, "password: {file: '%s'}\n", p);
    assert_int_equal(apply_yaml(t_table, yaml, "source", &c, &e), 0);
    assert_string_equal(c.password, "two-newlines-secret\n");
    vm_conf_release(t_table, &c);
    remove_temp(p);

    p = write_temp("crlf-secret-value\r\n");
    snprintf(yaml, sizeof yaml, "password: {file: '%s'}\n", p);
    assert_int_equal(apply_yaml(t_table, yaml, "source", &c, &e), 0);
    assert_string_equal(c.password, "crlf-secret-value");
    vm_conf_release(t_table, &c);
    /* an error after the secret was read does not show it */
    snprintf(yaml, sizeof yaml, "password: {file: '%s'}\ncount: 0\n", p);
    apply_fails(t_table, yaml, "source", VM_ERR_INVALID, "source.count: 0 is out of range");
    remove_temp(p);

    apply_fails(t_table, "password: {file: /nonexistent/vecmig-secret}\n", "source", VM_ERR_INVALID,
                "source.password: cannot read secret file /nonexistent/vecmig-secret");
    vm_secret_clear();
}

static void test_secret_literal_warns_and_never_leaks(void **s)
{
    (void)s;
    vm_secret_clear();
    t_conf c;
    vm_err e;
    FILE *lf = log_capture_start();
    assert_int_equal(apply_yaml(t_table, "password: literal-Secret-3\n", "source", &c, &e), 0);
    /* a later error message that would quote it is redacted */
    vm_err_setc(&e, VM_ERR_AUTH, "login with literal-Secret-3 refused");
    vm_info("connecting with password=literal-Secret-3");
    char *logged = log_capture_end(lf);
    assert_string_equal(c.password, "literal-Secret-3");
    assert_contains(logged,
                    "t.yaml:2:3: source.password: literal secret in job file; prefer {env: ...} or {file: ...}");
    assert_null(strstr(logged, "literal-Secret-3"));
    assert_null(strstr(e.msg, "literal-Secret-3"));
    vm_conf_release(t_table, &c);

    /* help never prints secrets (and tables cannot give them defaults) */
    FILE *hf = tmpfile();
    vm_conf_print_help(t_table, "source", hf);
    char *help = log_capture_end(hf);
    assert_contains(help, "source.password");
    assert_contains(help, "secret");
    assert_contains(help, "source.count");
    assert_contains(help, "default 10");
    assert_contains(help, "must be between 1 and 100");
    assert_contains(help, "one of slow|fast|auto");
    assert_null(strstr(help, "literal-Secret-3"));
    free(help);
    free(logged);

    /* too short literal: rejected without quoting it */
    apply_fails(t_table, "password: 'ab'\n", "source", VM_ERR_INVALID,
                "source.password: too short to be redacted safely");
    static const vm_conf_entry def_secret[] = {
        {"p", VM_CT_SECRET, "changeme", offsetof(t_req, type), "P.", NULL, 0, 0, 0},
        {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
    };
    t_req r;
    assert_int_equal(vm_conf_apply(def_secret, NULL, "x", &r, &e), VM_ERR_INTERNAL);
    assert_null(strstr(e.msg, "changeme"));
    vm_secret_clear();
}

static void test_secret_url(void **s)
{
    (void)s;
    vm_secret_clear();
    t_conf c;
    vm_err e;
    /* no password: no secret, no warning */
    FILE *lf = log_capture_start();
    assert_int_equal(apply_yaml(t_table, "url: redis://127.0.0.1:6379/0\n", "state", &c, &e), 0);
    char *logged = log_capture_end(lf);
    assert_string_equal(c.url, "redis://127.0.0.1:6379/0");
    assert_null(strstr(logged, "literal secret"));
    free(logged);
    vm_conf_release(t_table, &c);
    /* password in a literal URL: registered, warned */
    lf = log_capture_start();
    assert_int_equal(apply_yaml(t_table, "url: 'redis://:url-Pass-99@127.0.0.1:6379'\n", "state", &c, &e), 0);
    logged = log_capture_end(lf);
    assert_contains(logged, "state.url: literal secret");
    free(logged);
    char buf[128] = "auth url-Pass-99 failed";
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "auth *** failed");
    vm_conf_release(t_table, &c);
    apply_fails(t_table, "url: 'redis://u:ab@h:1'\n", "state", VM_ERR_INVALID,
                "state.url: password in URL too short");
    vm_secret_clear();
}

static void test_nested_paths(void **s)
{
    (void)s;
    vm_secret_clear();
    unsetenv("VECMIG_TEST_NOPE");
    json_t *j = parse_ok("source: {type: x}\nqueue:\n  properties:\n    acks: all\n"
                         "    sasl.password: {env: VECMIG_TEST_NOPE}\n");
    vm_job_conf c;
    vm_err e;
    vm_conf_where w = {"job.yaml", NULL};
    assert_int_equal(vm_job_conf_from_json(j, &w, &c, &e), VM_ERR_INVALID);
    assert_contains(e.msg, "job.yaml: queue.properties.sasl.password: environment variable "
                           "VECMIG_TEST_NOPE is not set");
    json_decref(j);
    /* list values are not properties */
    j = parse_ok("source: {type: x}\nqueue: {properties: {acks: [1]}}\n");
    assert_int_equal(vm_job_conf_from_json(j, NULL, &c, &e), VM_ERR_INVALID);
    assert_contains(e.msg, "queue.properties.acks: expected a string, number, boolean");
    json_decref(j);
    j = parse_ok("source: {type: x}\nmigration: {lease: 5 minutes}\n");
    assert_int_equal(vm_job_conf_from_json(j, NULL, &c, &e), VM_ERR_INVALID);
    assert_contains(e.msg, "migration.lease: unknown duration unit");
    json_decref(j);
    vm_secret_clear();
}

/* ---- the job file ------------------------------------------------------------ */

static void set_job_env(void)
{
    setenv("VECMIG_TEST_PG_PASSWORD", PG_PASSWORD, 1);
    setenv("VECMIG_TEST_MILVUS_TOKEN", MILVUS_TOKEN, 1);
    setenv("VECMIG_TEST_KAFKA_PASSWORD", KAFKA_PASSWORD, 1);
    setenv("VECMIG_TEST_REDIS_URL", "redis://vecmig:" REDIS_PASSWORD "@127.0.0.1:6379/2", 1);
}

static void test_job_full(void **s)
{
    (void)s;
    vm_secret_clear();
    set_job_env();
    vm_job_conf c;
    vm_err e;
    FILE *lf = log_capture_start();
    int rc = vm_job_conf_load(VM_TEST_DATA_DIR "/job_full.yaml", &c, &e);
    char *logged = log_capture_end(lf);
    if (rc)
        fail_msg("%s", e.msg);
    assert_null(strstr(logged, "literal secret"));
    free(logged);

    assert_int_equal(c.version, 1);
    assert_string_equal(c.job.id, "pg-items-to-milvus");
    assert_string_equal(c.job.name, "Items: pgvector to Milvus");
    assert_string_equal(c.source.type, "pgvector");
    assert_null(json_object_get(c.source.conf, "type"));
    assert_string_equal(json_string_value(json_object_get(c.source.conf, "table")), "public.items");
    assert_true(json_integer_value(json_object_get(c.source.conf, "big_id")) == 9007199254740993LL);
    /* the connector's secrets stay references until the connector resolves them */
    assert_string_equal(json_string_value(json_object_get(json_object_get(c.source.conf, "password"), "env")),
                        "VECMIG_TEST_PG_PASSWORD");
    assert_string_equal(c.target.type, "milvus");
    assert_string_equal(json_string_value(json_object_get(c.target.conf, "collection")), "items");

    assert_int_equal(c.queue.type, VM_QUEUE_KAFKA);
    assert_int_equal(c.queue.brokers.n, 2);
    assert_string_equal(c.queue.brokers.v[0], "127.0.0.1:9092");
    assert_string_equal(c.queue.brokers.v[1], "127.0.0.1:9093");
    assert_string_equal(c.queue.topic, "vecmig.tasks.items");
    assert_string_equal(c.queue.dead_letter_topic, "vecmig.dead.items");
    assert_string_equal(c.queue.group, "vecmig-items");
    json_t *p = c.queue.properties;
    assert_int_equal(json_object_size(p), 8);
    assert_string_equal(json_string_value(json_object_get(p, "acks")), "all");
    assert_string_equal(json_string_value(json_object_get(p, "linger.ms")), "5");
    assert_string_equal(json_string_value(json_object_get(p, "enable.idempotence")), "true");
    assert_string_equal(json_string_value(json_object_get(p, "sasl.password")), KAFKA_PASSWORD);

    assert_int_equal(c.state.type, VM_STATE_REDIS);
    assert_string_equal(c.state.url, "redis://vecmig:" REDIS_PASSWORD "@127.0.0.1:6379/2");
    assert_string_equal(c.state.key_prefix, "vecmig:test:");
    assert_string_equal(c.state.path, "/var/lib/vecmig/state.db");

    assert_int_equal(c.migration.task_rows, 50000);
    assert_int_equal(c.migration.batch_rows, 500);
    assert_int_equal(c.migration.batch_bytes, 8 * 1024 * 1024);
    assert_int_equal(c.migration.workers, 4);
    assert_int_equal(c.migration.max_attempts, 3);
    assert_int_equal(c.migration.lease_ms, 120000);
    assert_int_equal(c.migration.heartbeat_ms, 15000);
    assert_int_equal(c.migration.on_existing, VM_ON_EXISTING_APPEND);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(c.mapping, "fields"), "embedding"), "dim")),
                     768);
    assert_int_equal(c.log.level, VM_LOG_DEBUG);
    assert_int_equal(c.log.format, VM_LOG_JSON);

    /* the Kafka and Redis passwords were registered while loading */
    char buf[256];
    snprintf(buf, sizeof buf, "a %s b %s c", KAFKA_PASSWORD, REDIS_PASSWORD);
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "a *** b *** c");

    /* connectors get positions through job->where */
    static const vm_conf_entry src_tbl[] = {
        {"dsn", VM_CT_STRING, NULL, offsetof(t_req, type), "DSN.", NULL, 0, 0, 0},
        {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
    };
    t_req r;
    assert_int_equal(vm_conf_apply_at(src_tbl, c.source.conf, "source", &r, &c.where, &e),
                     VM_ERR_INVALID);
    assert_contains(e.msg, "job_full.yaml:13:3: source.password: unknown key (known: dsn)");
    vm_job_conf_release(&c);
    vm_job_conf_release(&c); /* twice is safe */
    vm_secret_clear();
}

static void test_job_defaults(void **s)
{
    (void)s;
    vm_job_conf c;
    vm_err e;
    int rc = vm_job_conf_load(VM_TEST_DATA_DIR "/job_min.json", &c, &e);
    if (rc)
        fail_msg("%s", e.msg);
    assert_int_equal(c.version, 1);
    assert_string_equal(c.job.id, "qdrant-docs-to-milvus-docs_copy");
    assert_string_equal(c.job.name, c.job.id);
    assert_string_equal(c.source.type, "qdrant");
    assert_string_equal(c.target.type, "milvus");
    assert_int_equal(c.queue.type, VM_QUEUE_EMBEDDED);
    assert_int_equal(c.queue.brokers.n, 0);
    assert_string_equal(c.queue.topic, "vecmig.tasks");
    assert_string_equal(c.queue.dead_letter_topic, "vecmig.dead");
    assert_string_equal(c.queue.group, "vecmig-workers");
    assert_int_equal(json_object_size(c.queue.properties), 0);
    assert_int_equal(c.state.type, VM_STATE_EMBEDDED);
    assert_null(c.state.url);
    assert_string_equal(c.state.key_prefix, "vecmig:");
    assert_string_equal(c.state.path, ".vecmig/state.db");
    assert_int_equal(c.migration.task_rows, 100000);
    assert_int_equal(c.migration.batch_rows, 1000);
    assert_int_equal(c.migration.batch_bytes, 16000000);
    assert_int_equal(c.migration.workers, 0);
    assert_int_equal(c.migration.max_attempts, 5);
    assert_int_equal(c.migration.lease_ms, 60000);
    assert_int_equal(c.migration.heartbeat_ms, 10000);
    assert_int_equal(c.migration.on_existing, VM_ON_EXISTING_FAIL);
    assert_null(c.mapping);
    assert_int_equal(c.log.level, VM_LOG_INFO);
    assert_int_equal(c.log.format, VM_LOG_AUTO);
    vm_job_conf_release(&c);
}

/* Load job YAML text through a temp file; returns rc, message in e. */
static int load_text(const char *yaml, vm_job_conf *c, vm_err *e)
{
    char *p = write_temp(yaml);
    int rc = vm_job_conf_load(p, c, e);
    remove_temp(p);
    return rc;
}

static void job_fails(const char *yaml, const char *want)
{
    vm_job_conf c;
    vm_err e;
    vm_err_clear(&e);
    int rc = load_text(yaml, &c, &e);
    if (rc != VM_ERR_INVALID)
        fail_msg("rc %d (%s), want invalid", rc, e.msg);
    assert_contains(e.msg, want);
    /* nothing to release after a failure */
    assert_null(c.source.type);
    assert_null(c.job.id);
    assert_null(c.queue.topic);
}

static void test_job_rules(void **s)
{
    (void)s;
    vm_job_conf c;
    vm_err e;
    assert_int_equal(vm_job_conf_load(VM_TEST_DATA_DIR "/job_kafka_embedded.yaml", &c, &e),
                     VM_ERR_INVALID);
    assert_contains(e.msg, "job_kafka_embedded.yaml: state.type: queue.type is kafka but state.type "
                           "is embedded: workers in other processes cannot see");
    job_fails("source: {type: s}\nqueue: {type: kafka}\nstate: {type: redis, url: 'redis://h:1'}\n",
              "queue.brokers: missing required key (queue.type is kafka)");
    job_fails("source: {type: s}\nstate: {type: redis}\n",
              "state.url: missing required key (state.type is redis)");
    job_fails("version: 2\nsource: {type: s}\n", ":1:1: version: unsupported job file version 2");
    job_fails("target: {type: milvus}\n", "source: missing required key");
    job_fails("source: {collection: x}\n", ":1:1: source.type: missing required key");
    job_fails("source: {type: s}\nmigration:\n  heartbeat: 1m\n",
              "migration.heartbeat: 60000ms must be shorter than migration.lease (60000ms)");
    job_fails("source: {type: s}\nmigration:\n  batch_rows: 0\n",
              ":3:3: migration.batch_rows: 0 is out of range: must be between 1 and 100000");
    job_fails("source: {type: s}\nmigration:\n  batch_rows: '10'\n",
              "migration.batch_rows: expected an integer, got a string");
    job_fails("source: {type: s}\nmigrations: {}\n", ":2:1: migrations: unknown key (known: version, job,"
              " source, target, queue, state, migration, mapping, log, metrics, http); did you mean \"migration\"?");
    job_fails("source: {type: s}\njob: {id: 'my job!'}\n", "job.id: only letters, digits");
    job_fails("source: {type: s}\nlog: {level: verbose}\n",
              "log.level: \"verbose\" is not one of error|warn|info|debug");
    job_fails("source: {type: s}\nqueue: {type: rabbit}\n", "queue.type: \"rabbit\" is not one of embedded|kafka");
    job_fails("", "the job file is empty");
    job_fails("- a\n- b\n", "(top level): expected a mapping, got a sequence");
    job_fails("source: {type: s}\nqueue: {properties: [1]}\n",
              "queue.properties: expected a mapping, got a sequence");

    /* embedded queue with redis state is allowed; kafka+redis too */
    assert_int_equal(load_text("source: {type: s}\nstate: {type: redis, url: 'redis://127.0.0.1:6379'}\n",
                               &c, &e), 0);
    vm_job_conf_release(&c);
    assert_int_equal(load_text("source: {type: s}\nqueue: {type: kafka, brokers: 'a:1,b:2'}\n"
                               "state: {type: redis, url: 'redis://127.0.0.1:6379'}\n",
                               &c, &e), 0);
    assert_int_equal(c.queue.brokers.n, 2);
    vm_job_conf_release(&c);
}

static void test_job_secret_not_in_errors(void **s)
{
    (void)s;
    vm_secret_clear();
    set_job_env();
    /* a secret property read, then an error later in the file */
    vm_job_conf c;
    vm_err e;
    FILE *lf = log_capture_start();
    int rc = load_text("source: {type: s}\n"
                       "queue:\n  properties:\n    sasl.password: {env: VECMIG_TEST_KAFKA_PASSWORD}\n"
                       "    ssl.key.password: literal-Kafka-key-pw\n"
                       "migration: {workers: -1}\n",
                       &c, &e);
    char *logged = log_capture_end(lf);
    assert_int_equal(rc, VM_ERR_INVALID);
    assert_contains(e.msg, "migration.workers: -1 is out of range");
    /* literal secret property: warned, registered, never shown */
    assert_contains(logged, "queue.properties.ssl.key.password: literal secret in job file");
    assert_null(strstr(logged, "literal-Kafka-key-pw"));
    assert_null(strstr(logged, KAFKA_PASSWORD));
    char buf[128] = "x literal-Kafka-key-pw y";
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "x *** y");
    free(logged);
    /* a secret-looking property must be a string or a reference */
    rc = load_text("source: {type: s}\nqueue: {properties: {sasl.password: 12345678}}\n", &c, &e);
    assert_int_equal(rc, VM_ERR_INVALID);
    assert_contains(e.msg, "queue.properties.sasl.password: expected a string, {env: NAME}");
    assert_null(strstr(e.msg, "12345678"));
    vm_secret_clear();
}

static void test_job_help(void **s)
{
    (void)s;
    FILE *f = tmpfile();
    vm_job_conf_print_help(f);
    char *help = log_capture_end(f);
    const char *want[] = {"version", "job.id", "source.type", "target.type", "default milvus",
                          "queue.type", "one of embedded|kafka", "queue.brokers", "queue.topic",
                          "default vecmig.tasks", "queue.properties", "state.url", "secret",
                          "state.key_prefix", "default vecmig:", "migration.batch_bytes",
                          "default 16MB", "migration.lease", "default 60s", "mapping",
                          "log.level", "log.format"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_contains(help, want[i]);
    free(help);
}

/* Every allocation of a full load (vm_malloc and, routed in main(), all of
 * jansson) fails in turn: the load must report VM_ERR_NOMEM and leak nothing
 * (LeakSanitizer checks at exit), until enough allocations succeed. */
static void test_job_alloc_failures(void **s)
{
    (void)s;
    set_job_env();
    FILE *lf = log_capture_start();
    long n;
    int last = -1;
    for (n = 0; n < 100000; n++) {
        vm_secret_clear();
        vm_job_conf c;
        vm_err e;
        vm_err_clear(&e);
        vm_mem_fail_after(n);
        int rc = vm_job_conf_load(VM_TEST_DATA_DIR "/job_full.yaml", &c, &e);
        vm_mem_fail_after(-1);
        last = rc;
        if (rc == 0) {
            assert_int_equal(c.migration.batch_rows, 500);
            vm_job_conf_release(&c);
            break;
        }
        if (rc != VM_ERR_NOMEM)
            fail_msg("n=%ld: rc %d (%s)", n, rc, e.msg);
        assert_int_equal(e.code, VM_ERR_NOMEM);
        assert_null(c.source.type);
    }
    char *logged = log_capture_end(lf);
    free(logged);
    assert_int_equal(last, 0);
    assert_true(n > 50); /* the injection really hit the load */
    print_message("allocation failure injected at %ld points of a full job load\n", n);
    vm_secret_clear();
}

int main(void)
{
    /* route jansson through vm_malloc so failure injection covers it */
    json_set_alloc_funcs(vm_malloc, vm_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_core_schema),
        cmocka_unit_test(test_quoted_are_strings),
        cmocka_unit_test(test_big_int_exact),
        cmocka_unit_test(test_nonfinite_rejected),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_parse_file_errors),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_bad_default_is_internal),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_enum_lists_values),
        cmocka_unit_test(test_secret_env),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_secret_literal_warns_and_never_leaks),
        cmocka_unit_test(test_secret_url),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_job_full),
        cmocka_unit_test(test_job_defaults),
        cmocka_unit_test(test_job_rules),
        cmocka_unit_test(test_job_secret_not_in_errors),
        cmocka_unit_test(test_job_help),
        cmocka_unit_test(test_job_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

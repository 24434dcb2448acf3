/*
 * test_secrets.c - every path a secret could take out of vecmig, one test
 * each: the redaction of log lines and error messages (registered secrets,
 * URL user-info, password= in libpq conninfo / URL queries / client
 * properties, truncation at the buffer's end), where secrets come from in a
 * job file ({env:}, {file:}, literals warned by key) and which part of a
 * DSN or URL is registered, queue.properties secrets, the job record the
 * coordinator stores in Redis / SQLite (no secret, whatever the job file
 * holds), task messages, the TLS decisions (PostgreSQL sslmode defaults,
 * Kafka certificate verification and its warnings) and HTTP URLs in
 * messages.
 *
 * The end-to-end counterpart, which plants one secret in every credential
 * field and greps every output of real runs, is tests/e2e/test_secrets.py.
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

#include "vm_http.h"
#include "vm_kafka.h"
#include "vm_pg.h"
#include "vm_config.h"
#include "vm_job.h"
#include "vm_log.h"
#include "vm_schema.h"
#include "vm_task.h"
#include "vm_yaml.h"

#define S1 "s3cr3t-0123456789abcdef"

/* ---- helpers ------------------------------------------------------------ */

static FILE *capture_start(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    vm_log_set_format(VM_LOG_TEXT);
    vm_log_set_level(VM_LOG_DEBUG);
    vm_log_set_stream(f);
    return f;
}

/* What was logged since capture_start (free()). */
static char *capture_end(FILE *f)
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

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" lacks \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

/* vm_redact on a copy of `in` in a buffer of `cap` bytes. */
static void redact_eq(const char *in, size_t cap, const char *want)
{
    char buf[512];
    assert_true(cap <= sizeof buf);
    snprintf(buf, cap, "%s", in);
    vm_redact(buf, cap);
    if (strcmp(buf, want) != 0)
        fail_msg("redact(\"%s\", %zu) = \"%s\", want \"%s\"", in, cap, buf, want);
}

static int load_job(const char *text, vm_job_conf *job, vm_err *e)
{
    json_t *root = NULL;
    int rc = vm_conf_parse_string(text, strlen(text), "job.yaml", &root, e);
    if (rc == 0)
        rc = vm_job_conf_from_json(root, NULL, job, e);
    json_decref(root);
    return rc;
}

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/vecmig-test-secrets-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

/* ---- redaction ------------------------------------------------------------ */

static void test_redact_registered(void **s)
{
    (void)s;
    vm_secret_clear();
    assert_int_equal(vm_secret_add(S1), 0);
    assert_int_equal(vm_secret_add("ab"), 0); /* too short: ignored, masks nothing */
    redact_eq("key " S1 " and " S1 "!", 128, "key *** and ***!");
    redact_eq("ab cab", 128, "ab cab");
    /* a secret glued to other text, and at the very end */
    redact_eq("x" S1 "y" S1, 128, "x***y***");
    vm_secret_clear();
    redact_eq("key " S1, 128, "key " S1);
}

static void test_redact_url_userinfo(void **s)
{
    (void)s;
    vm_secret_clear();
    redact_eq("redis://:pw-abcdef@127.0.0.1:6379/0", 128, "redis://:***@127.0.0.1:6379/0");
    redact_eq("postgresql://app:pw-abcdef@db:5432/x ok", 128, "postgresql://app:***@db:5432/x ok");
    redact_eq("redis://vecmig:pw@h", 128, "redis://vecmig:***@h"); /* short ones too */
    /* no password: nothing to hide */
    redact_eq("http://user@h/p", 128, "http://user@h/p");
    redact_eq("two http://a:b1234@x and https://c:d5678@y", 128,
              "two http://a:***@x and https://c:***@y");
}

static void test_redact_password_key(void **s)
{
    (void)s;
    vm_secret_clear();
    /* libpq conninfo, plain and quoted (with an escaped quote and spaces) */
    redact_eq("host=db password=pw-abc123 dbname=x", 128, "host=db password=*** dbname=x");
    redact_eq("host=db password='p w\\'x y' dbname=x", 128, "host=db password='***' dbname=x");
    redact_eq("PASSWORD=Loud-Value end", 128, "PASSWORD=*** end");
    /* URL query and a client property */
    redact_eq("postgresql://db/x?sslmode=require&password=pw-abc&user=u", 128,
              "postgresql://db/x?sslmode=require&password=***&user=u");
    redact_eq("property sasl.password=kafka-pw rejected", 128,
              "property sasl.password=*** rejected");
    redact_eq("ssl.key.password=\"k p\"", 128, "ssl.key.password=\"***\"");
    /* already masked or empty: left alone */
    redact_eq("password=*** password= x", 128, "password=*** password= x");
}

static void test_redact_at_buffer_end(void **s)
{
    (void)s;
    vm_secret_clear();
    /* a value shorter than the mask at the end of a full buffer: cut, never
     * written past cap (ASan watches) */
    redact_eq("0123456789 password=x", 22, "0123456789 password=");
    redact_eq("0123456789 password=xy", 23, "0123456789 password=");
    redact_eq("0123456789 password=xy tail", 28, "0123456789 password=*** tai");
    redact_eq("http://u:p@h", 12, "http://u:");
    assert_int_equal(vm_secret_add(S1), 0);
    char buf[40];
    snprintf(buf, sizeof buf, "%s %s", S1, S1); /* truncated second copy */
    vm_redact(buf, sizeof buf);
    assert_string_equal(buf, "*** ***");
    /* an error message cut inside a secret */
    vm_err e;
    char pad[VM_ERR_MSG_MAX];
    memset(pad, 'x', sizeof pad);
    pad[VM_ERR_MSG_MAX - 10] = '\0';
    vm_err_setc(&e, VM_ERR_IO, "%s %s", pad, S1);
    assert_lacks(e.msg, "s3cr");
    assert_has(e.msg, "xx ***");
    vm_secret_clear();
}

static void test_error_and_log_lines(void **s)
{
    (void)s;
    vm_secret_clear();
    assert_int_equal(vm_secret_add(S1), 0);
    vm_err e;
    vm_err_setc(&e, VM_ERR_AUTH, "login with %s failed (host=h password=other-pw)", S1);
    assert_string_equal(e.msg, "login with *** failed (host=h password=***)");
    /* a prefix cannot bring one back */
    vm_err_setc(&e, VM_ERR_IO, "inner");
    vm_err_prefix(&e, "outer %s: ", S1);
    assert_string_equal(e.msg, "outer ***: inner");

    FILE *f = capture_start();
    vm_log_set_format(VM_LOG_JSON);
    vm_warn("token \"%s\"\nnext line redis://:%s@h", S1, "pw-xyz1");
    vm_log_set_format(VM_LOG_TEXT);
    vm_info("dsn host=h password=%s", S1);
    char *out = capture_end(f);
    assert_lacks(out, "s3cr3t");
    assert_lacks(out, "pw-xyz1");
    assert_has(out, "\"msg\":\"token \\\"***\\\" next line redis://:***@h\"");
    assert_has(out, "dsn host=h password=***");
    free(out);
    vm_secret_clear();
}

/* ---- where secrets come from -------------------------------------------- */

static void test_job_secret_sources(void **s)
{
    (void)s;
    vm_secret_clear();
    char *file = write_temp(S1 "-file\n");
    setenv("VM_TEST_SECRET_ENV", S1 "-env", 1);
    char text[2048];
    snprintf(text, sizeof text,
             "source: {type: pgvector, dsn: {env: VM_TEST_SECRET_ENV}, table: t}\n"
             "target: {type: milvus, uri: 'http://h:1', token: {file: %s}}\n"
             "queue: {type: kafka, brokers: 'k:1',\n"
             "        properties: {sasl.username: u, sasl.password: " S1 "-lit,\n"
             "                     ssl.key.password: {env: VM_TEST_SECRET_ENV}}}\n"
             "state: {type: redis, url: 'redis://vecmig:" S1 "-url@h:1/0'}\n",
             file);
    vm_job_conf job;
    vm_err e;
    FILE *f = capture_start();
    int rc = load_job(text, &job, &e);
    char *out = capture_end(f);
    if (rc != 0)
        fail_msg("%s", e.msg);
    /* literals are accepted with a warning naming the key; references are not warned */
    assert_has(out, "queue.properties.sasl.password: literal secret in job file");
    assert_has(out, "state.url: literal secret in job file");
    assert_lacks(out, "ssl.key.password: literal");
    assert_lacks(out, "s3cr3t");
    free(out);
    /* properties resolved for librdkafka */
    assert_string_equal(json_string_value(json_object_get(job.queue.properties, "ssl.key.password")),
                        S1 "-env");
    /* the source/target blocks keep the reference, not the value: a
     * connector resolves it in its own process */
    char *src = json_dumps(job.source.conf, JSON_COMPACT);
    char *tgt = json_dumps(job.target.conf, JSON_COMPACT);
    assert_has(src, "{\"env\":\"VM_TEST_SECRET_ENV\"}");
    assert_lacks(src, "s3cr3t");
    assert_lacks(tgt, "s3cr3t");
    free(src);
    free(tgt);
    /* every value read was registered */
    const char *vals[] = {S1 "-lit", S1 "-env", S1 "-url"};
    for (size_t i = 0; i < 3; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "saw %s here", vals[i]);
        vm_redact(buf, sizeof buf);
        assert_string_equal(buf, "saw *** here");
    }
    vm_job_conf_release(&job);

    /* unset variable, missing file: named, no value */
    unsetenv("VM_TEST_SECRET_UNSET");
    assert_int_not_equal(load_job("source: {type: s}\nstate: {type: redis, url: {env: "
                                  "VM_TEST_SECRET_UNSET}}\n", &job, &e), 0);
    assert_has(e.msg, "state.url: environment variable VM_TEST_SECRET_UNSET is not set");
    unlink(file);
    free(file);
    vm_secret_clear();
}

/* A connection-string secret (VM_CF_URL): only its password is the secret. */
typedef struct {
    char *dsn;
} t_dsn;
static const vm_conf_entry t_dsn_table[] = {
    {"dsn", VM_CT_SECRET, NULL, offsetof(t_dsn, dsn), "DSN.", NULL, VM_CF_URL, 0, 0},
    {NULL, 0, NULL, 0, NULL, NULL, 0, 0, 0},
};

static void dsn_case(const char *yaml, const char *secret, bool warned)
{
    vm_secret_clear();
    json_t *root = NULL;
    vm_err e;
    assert_int_equal(vm_conf_parse_string(yaml, strlen(yaml), "t.yaml", &root, &e), 0);
    t_dsn c = {0};
    FILE *f = capture_start();
    int rc = vm_conf_apply(t_dsn_table, root, "source", &c, &e);
    char *out = capture_end(f);
    if (rc != 0)
        fail_msg("%s: %s", yaml, e.msg);
    if (warned)
        assert_has(out, "source.dsn: literal secret in job file");
    else
        assert_lacks(out, "literal secret");
    char buf[256];
    snprintf(buf, sizeof buf, "[%s] host=db", secret ? secret : "");
    vm_redact(buf, sizeof buf);
    if (secret && strcmp(buf, "[***] host=db") != 0)
        fail_msg("%s: %s was not registered (%s)", yaml, secret, buf);
    if (!secret) /* the host name stays readable: the dsn itself is no secret */
        assert_string_equal(buf, "[] host=db");
    free(out);
    vm_conf_release(t_dsn_table, &c);
    json_decref(root);
}

static void test_dsn_password_spans(void **s)
{
    (void)s;
    dsn_case("dsn: 'host=db port=5432 dbname=x'\n", NULL, false);
    dsn_case("dsn: 'host=db password=pw-plain-1 dbname=x'\n", "pw-plain-1", true);
    dsn_case("dsn: 'host=db password = pw-spaced-2'\n", "pw-spaced-2", true);
    dsn_case("dsn: \"host=db password='pw quoted 3' dbname=x\"\n", "pw quoted 3", true);
    dsn_case("dsn: 'postgresql://app:pw-uri-4@db:5432/x'\n", "pw-uri-4", true);
    dsn_case("dsn: 'postgresql://app@db/x?sslmode=verify-full&password=pw-query-5&a=b'\n",
             "pw-query-5", true);
    dsn_case("dsn: 'postgresql://db/x?sslmode=require'\n", NULL, false);
    /* a password too short to mask is refused, naming the key */
    vm_secret_clear();
    json_t *root = NULL;
    vm_err e;
    const char *y = "dsn: 'host=db password=abc'\n";
    assert_int_equal(vm_conf_parse_string(y, strlen(y), "t.yaml", &root, &e), 0);
    t_dsn c = {0};
    assert_int_equal(vm_conf_apply(t_dsn_table, root, "source", &c, &e), VM_ERR_INVALID);
    assert_has(e.msg, "source.dsn: password in connection string too short");
    assert_lacks(e.msg, "abc");
    json_decref(root);
    vm_secret_clear();
}

/* ---- what is stored and published --------------------------------------- */

static void test_job_record_and_task_have_no_secret(void **s)
{
    (void)s;
    vm_secret_clear();
    setenv("VM_TEST_SECRET_ENV", S1, 1);
    vm_job_conf job;
    vm_err e;
    const char *text =
        "job: {id: rec}\n"
        "source: {type: pgvector, dsn: 'postgresql://app:" S1 "@db/x', password: {env: "
        "VM_TEST_SECRET_ENV}, table: items}\n"
        "target: {type: milvus, uri: 'https://root:" S1 "@z:443', token: '" S1 "'}\n"
        "queue: {type: kafka, brokers: 'k:1', properties: {sasl.password: '" S1 "'}}\n"
        "state: {type: redis, url: 'redis://:" S1 "@h:1'}\n";
    FILE *f = capture_start();
    int rc = load_job(text, &job, &e);
    char *out = capture_end(f);
    if (rc != 0)
        fail_msg("%s", e.msg);
    assert_lacks(out, "s3cr3t");
    free(out);
    json_t *sj = json_loads("{\"autoID\":false,\"enableDynamicField\":false,\"fields\":["
                            "{\"fieldName\":\"id\",\"dataType\":\"Int64\",\"isPrimary\":true},"
                            "{\"fieldName\":\"v\",\"dataType\":\"FloatVector\","
                            "\"elementTypeParams\":{\"dim\":4}}]}",
                            0, NULL);
    assert_non_null(sj);
    vm_schema *schema = NULL;
    if (vm_schema_from_milvus(sj, "items", &schema, &e) != VM_OK)
        fail_msg("%s", e.msg);
    json_t *rec = vm_job_record_new(&job, schema, schema, NULL, 10, -1);
    assert_non_null(rec);
    char *text_rec = json_dumps(rec, JSON_COMPACT);
    assert_has(text_rec, "\"collection\":\"items\"");
    assert_lacks(text_rec, "s3cr3t");
    assert_lacks(text_rec, "postgresql://");
    assert_lacks(text_rec, "redis://");
    free(text_rec);

    vm_task t = {.job_id = job.job.id, .id = 3, .kind = VM_RANGE_INT};
    char *msg = vm_task_encode(&t);
    assert_non_null(msg);
    assert_lacks(msg, "s3cr3t");
    free(msg);

    json_decref(rec);
    vm_schema_free(schema);
    json_decref(sj);
    vm_job_conf_release(&job);
    vm_secret_clear();
}

/* ---- TLS ---------------------------------------------------------------- */

static void test_pg_sslmode_defaults(void **s)
{
    (void)s;
    unsetenv("PGSSLMODE");
    unsetenv("PGHOST");
    unsetenv("PGHOSTADDR");
    bool unv = true;
    /* local servers: untouched */
    const char *local[] = {"dbname=x", "host=/var/run/postgresql dbname=x", "host=localhost",
                           "host=127.0.0.1 port=5432", "host=::1", "host=127.0.0.1,localhost",
                           "postgresql://127.0.0.1:5432/x", "postgresql:///x", "hostaddr=127.0.0.1"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
        if (vm_pg_tls_sslmode(local[i], false, &unv) != NULL || unv)
            fail_msg("%s: expected no sslmode", local[i]);
    }
    /* remote: verify-full, or require (unverified) with insecure_tls */
    const char *remote[] = {"host=db.example.com dbname=x", "postgresql://u:p@db.example.com/x",
                            "host=127.0.0.1,db.example.com", "hostaddr=10.1.2.3",
                            "host=db.example.com hostaddr=127.0.0.1",
                            "host=127.0.0.1.example.com"};
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++) {
        const char *m = vm_pg_tls_sslmode(remote[i], false, &unv);
        if (!m || strcmp(m, "verify-full") != 0 || unv)
            fail_msg("%s: got %s", remote[i], m ? m : "NULL");
        m = vm_pg_tls_sslmode(remote[i], true, &unv);
        if (!m || strcmp(m, "require") != 0 || !unv)
            fail_msg("%s insecure: got %s", remote[i], m ? m : "NULL");
    }
    /* an sslmode given passes through; weak ones are flagged */
    assert_null(vm_pg_tls_sslmode("host=db.example.com sslmode=verify-ca", true, &unv));
    assert_false(unv);
    assert_null(vm_pg_tls_sslmode("host=db.example.com sslmode=verify-full", false, &unv));
    assert_false(unv);
    assert_null(vm_pg_tls_sslmode("postgresql://db.example.com/x?sslmode=require", false, &unv));
    assert_true(unv);
    assert_null(vm_pg_tls_sslmode("host=db.example.com sslmode=disable", false, &unv));
    assert_true(unv);
    setenv("PGSSLMODE", "prefer", 1);
    assert_null(vm_pg_tls_sslmode("host=db.example.com", false, &unv));
    assert_true(unv);
    unsetenv("PGSSLMODE");
    /* libpq's environment defaults count */
    setenv("PGHOST", "db.example.com", 1);
    assert_string_equal(vm_pg_tls_sslmode("dbname=x", false, &unv), "verify-full");
    unsetenv("PGHOST");
    /* not parsable: nothing decided here (vm_pg_connect reports it) */
    assert_null(vm_pg_tls_sslmode("host='unterminated", false, &unv));
    assert_null(vm_pg_tls_sslmode(NULL, false, NULL));
}

static void test_pg_connect_tls_default_and_redaction(void **s)
{
    (void)s;
    vm_secret_clear();
    unsetenv("PGSSLMODE");
    /* host names a remote server, hostaddr points at a closed local port:
     * vecmig asks for verify-full, the refusal never shows the password */
    PGconn *c = NULL;
    vm_err e;
    FILE *f = capture_start();
    int rc = vm_pg_connect_tls("host=db.example.com hostaddr=127.0.0.1 port=1 user=u "
                               "password=pw-tls-secret-1 dbname=x",
                               2, true, &c, &e);
    char *out = capture_end(f);
    assert_int_not_equal(rc, 0);
    assert_null(c);
    assert_lacks(e.msg, "pw-tls-secret-1");
    /* insecure_tls is said once, naming the host */
    assert_has(out, "pg: the certificate of server db.example.com is not verified "
                    "(insecure_tls: true, sslmode=require)");
    assert_lacks(out, "pw-tls-secret-1");
    free(out);
    vm_secret_clear();
}

static void kafka_producer_log(const char *const *props, size_t n, bool insecure, char **log)
{
    vm_kafka_opts o = {.brokers = "127.0.0.1:1", .props = props, .nprops = n, .insecure = insecure};
    vm_kafka_producer *p = NULL;
    vm_err e;
    FILE *f = capture_start();
    vm_log_set_level(VM_LOG_WARN); /* not librdkafka's debug chatter */
    int rc = vm_kafka_producer_new(&o, &p, &e);
    if (rc != 0)
        fail_msg("%s", e.msg);
    vm_kafka_producer_free(p);
    *log = capture_end(f);
}

static void test_kafka_tls_verification(void **s)
{
    (void)s;
    char *log;
    const char *ssl[] = {"security.protocol=ssl"};
    kafka_producer_log(ssl, 1, false, &log);
    assert_lacks(log, "verification is disabled");
    free(log);
    kafka_producer_log(ssl, 1, true, &log);
    assert_has(log, "kafka: TLS certificate verification is disabled (queue.insecure_tls)");
    free(log);
    const char *off[] = {"security.protocol=SASL_SSL", "sasl.mechanisms=PLAIN",
                         "sasl.username=u", "sasl.password=" S1,
                         "enable.ssl.certificate.verification=false"};
    vm_secret_clear();
    kafka_producer_log(off, 5, false, &log);
    assert_has(log, "(queue.properties.enable.ssl.certificate.verification)");
    assert_lacks(log, "s3cr3t");
    free(log);
    const char *noname[] = {"security.protocol=ssl", "ssl.endpoint.identification.algorithm=none"};
    kafka_producer_log(noname, 2, false, &log);
    assert_has(log, "host names are not checked");
    free(log);
    /* plaintext: nothing to verify, nothing said */
    kafka_producer_log(NULL, 0, true, &log);
    assert_lacks(log, "kafka: TLS");
    free(log);
    vm_log_set_level(VM_LOG_INFO);
    vm_secret_clear();
}

static void test_http_url_in_messages(void **s)
{
    (void)s;
    char out[256];
    vm_http_url_safe("https://user:" S1 "@h.example:8443/v2/x?api_key=" S1 "#f", out, sizeof out);
    assert_string_equal(out, "https://h.example:8443/v2/x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_registered),
        cmocka_unit_test(test_redact_url_userinfo),
        cmocka_unit_test(test_redact_password_key),
        cmocka_unit_test(test_redact_at_buffer_end),
        cmocka_unit_test(test_error_and_log_lines),
        cmocka_unit_test(test_job_secret_sources),
        cmocka_unit_test(test_dsn_password_spans),
        cmocka_unit_test(test_job_record_and_task_have_no_secret),
        cmocka_unit_test(test_pg_sslmode_defaults),
        cmocka_unit_test(test_pg_connect_tls_default_and_redaction),
        cmocka_unit_test(test_kafka_tls_verification),
        cmocka_unit_test(test_http_url_in_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_job.c - libFuzzer target for the job loader: YAML text through
 * vm_conf_parse_string_ex and vm_job_conf_from_json (common/vm_config.c:
 * every table, value parser, secret reference and cross-section rule),
 * then each connector's own config table through vm_source_new /
 * vm_sink_new (no connector talks to a server before discover/open).
 * The elasticsearch / opensearch connectors are left out here (they have a
 * target of their own).
 *
 * Secret references are made safe and checkable: every {file: ...} is
 * pointed at one file this target writes, {env: ...} may name
 * VECMIG_FUZZ_SECRET, which it sets. Invariants:
 *   - a loaded job obeys the documented rules (version 1, heartbeat <
 *     lease, kafka needs brokers and redis state, redis needs a url, a job
 *     id of [A-Za-z0-9._-]{1,128}, source and target with a type);
 *   - a failed load leaves the struct zeroed; every message is one line
 *     starting with the file name, and never contains a secret read from a
 *     file or the environment.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "vm_config.h"
#include "vm_connector.h"
#include "vm_log.h"
#include "vm_yaml.h"

#define FZ_FILE_SECRET "fz-secret-FILE-7f3a9c51"
#define FZ_ENV_SECRET "fz-secret-ENV-4b2d1e77"

static char fz_secret_path[256];
static bool fz_literal; /* the input itself spells a secret: nothing to check */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_secret_path, sizeof fz_secret_path, "%s/vecmig-fuzz-secret-%ld",
             tmp && *tmp ? tmp : "/tmp", (long)getpid());
    FILE *f = fopen(fz_secret_path, "w");
    if (!f)
        abort();
    fputs(FZ_FILE_SECRET "\n", f);
    fclose(f);
    setenv("VECMIG_FUZZ_SECRET", FZ_ENV_SECRET, 1);
    return 0;
}

/* Point every {file: <string>} at the target's own secret file. */
static void fz_tame(json_t *j)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) fz_tame(v);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (!strcmp(k, "file") && json_is_string(v))
                json_string_set(v, fz_secret_path);
            else
                fz_tame(v);
        }
    }
}

static void fz_no_secret(const char *msg)
{
    if (fz_literal)
        return;
    FZ_CHECK(!strstr(msg, FZ_FILE_SECRET) && !strstr(msg, FZ_ENV_SECRET),
             "a secret in a message: %s", msg);
}

static bool fz_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static void fz_connectors(const vm_job_conf *job)
{
    vm_err e;
    const char *st = job->source.type;
    if (strcmp(st, "elasticsearch") && strcmp(st, "opensearch")) {
        vm_source *src = NULL;
        int rc = vm_source_new(st, job->source.conf, &src, &e);
        fz_err(rc, &e);
        fz_no_secret(rc == VM_OK ? "" : e.msg);
        FZ_CHECK((rc == VM_OK) == (src != NULL), "source_new rc %d", rc);
        vm_source_free(src);
    }
    vm_sink *sink = NULL;
    int rc = vm_sink_new(job->target.type, job->target.conf, &sink, &e);
    fz_err(rc, &e);
    fz_no_secret(rc == VM_OK ? "" : e.msg);
    FZ_CHECK((rc == VM_OK) == (sink != NULL), "sink_new rc %d", rc);
    vm_sink_free(sink);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_literal = memmem(data, size, "fz-secret", 9) != NULL;
    char *text = fz_dup((const char *)data, size);
    json_t *root = NULL, *locs = NULL;
    vm_err e;
    int rc = vm_conf_parse_string_ex(text, size, "job.yaml", &root, &locs, &e);
    free(text);
    if (rc != VM_OK) {
        fz_err(rc, &e);
        return 0;
    }
    fz_tame(root);
    vm_conf_where where = {"job.yaml", locs};
    vm_job_conf job;
    rc = vm_job_conf_from_json(root, &where, &job, &e);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        fz_no_secret(e.msg);
        FZ_CHECK(strncmp(e.msg, "job.yaml", 8) == 0 || rc == VM_ERR_NOMEM,
                 "message without the file name: %s", e.msg);
        FZ_CHECK(fz_zero(&job, sizeof job), "failed load left something in the struct");
    } else {
        FZ_CHECK(job.version == 1, "version %lld", (long long)job.version);
        FZ_CHECK(job.migration.heartbeat_ms < job.migration.lease_ms, "heartbeat >= lease");
        FZ_CHECK(job.queue.type != VM_QUEUE_KAFKA ||
                     (job.queue.brokers.n > 0 && job.state.type == VM_STATE_REDIS),
                 "kafka queue without brokers or redis state");
        FZ_CHECK(job.state.type != VM_STATE_REDIS || job.state.url, "redis state without url");
        FZ_CHECK(job.job.id && strlen(job.job.id) >= 1 && strlen(job.job.id) <= 128 &&
                     strspn(job.job.id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-") == strlen(job.job.id),
                 "bad job id '%s'", job.job.id ? job.job.id : "(null)");
        FZ_CHECK(job.source.type && job.target.type && json_is_object(job.source.conf) &&
                     json_is_object(job.target.conf),
                 "source or target without type/conf");
        fz_connectors(&job);
        vm_job_conf_release(&job);
    }
    json_decref(root);
    json_decref(locs);
    vm_secret_clear();
    return 0;
}

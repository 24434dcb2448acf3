/*
 * fuzz_milvus_sink.c - libFuzzer target for the Milvus REST v2 client's
 * answer parsing (common/sinks/milvus/milvus_client.c: the {code, message,
 * data} envelope and its classification) and for what the sink and the
 * Milvus source build from answers: collections/describe into a schema
 * (common/vm_schema.c), and the schema form job records carry.
 *
 * Input: an answer body; its first byte also picks the HTTP status the
 * envelope is read with (the body is read with status 200 too).
 *
 * Invariants:
 *   - the envelope is OK only for a 2xx status and an integer code 0, and
 *     then gives data (json null when absent); an error is never OK-coded,
 *     a 429 is always rate-limited and retriable;
 *   - a describe that parses into a schema survives the job-record round
 *     trip: schema -> Milvus create form -> schema -> the same form; and
 *     when it validates, so does the copy.
 */
#include "fuzz_util.h"
#include "milvus_client.h"
#include "vm_http.h"
#include "vm_schema.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static void fz_describe(const json_t *data)
{
    vm_err e;
    vm_schema *s1 = NULL, *s2 = NULL;
    int rc = vm_schema_from_milvus_describe(data, &s1, &e);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        FZ_CHECK(!s1, "error but a schema");
        return;
    }
    bool valid = vm_schema_validate(s1, &e) == VM_OK;
    json_t *j1 = vm_schema_to_milvus(s1);
    FZ_CHECK(j1 != NULL, "schema has no create form");
    rc = vm_schema_from_milvus(j1, s1->collection, &s2, &e);
    FZ_CHECK(rc == VM_OK, "create form does not read back: %s", e.msg);
    json_t *j2 = vm_schema_to_milvus(s2);
    if (!json_equal(j1, j2)) {
        char *a = json_dumps(j1, JSON_SORT_KEYS), *b = json_dumps(j2, JSON_SORT_KEYS);
        fprintf(stderr, "form 1: %s\nform 2: %s\n", a, b);
        free(a);
        free(b);
        FZ_CHECK(false, "schema changes on the job-record round trip");
    }
    if (valid)
        FZ_CHECK(vm_schema_validate(s2, &e) == VM_OK, "copy of a valid schema invalid: %s",
                 e.msg);
    json_decref(j1);
    json_decref(j2);
    vm_schema_free(s1);
    vm_schema_free(s2);
}

static void fz_envelope(long status, char *body, size_t n)
{
    vm_http_resp r = {.status = status, .body = body, .body_len = n, .retry_after_ms = -1,
                      .where = "POST http://127.0.0.1:19530/v2/vectordb/collections/describe"};
    json_t *data = NULL;
    vm_err e;
    int rc = vm_milvus_envelope(&r, "collections/describe", &data, &e);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        FZ_CHECK(data == NULL, "error but data");
        if (status == 429)
            FZ_CHECK(rc == VM_ERR_RATE_LIMITED && e.retriable, "429 gave %d", rc);
        return;
    }
    FZ_CHECK(status / 100 == 2, "OK on HTTP %ld", status);
    FZ_CHECK(data != NULL, "OK without data");
    json_error_t je;
    json_t *root = json_loadb(body, n, 0, &je);
    json_t *code = json_object_get(root, "code");
    FZ_CHECK(json_is_integer(code) && json_integer_value(code) == 0, "OK without code 0");
    json_decref(root);
    fz_describe(data);
    json_decref(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 201, 400, 404, 413, 429, 500, 502, 503};
    char *body = fz_cstr((const char *)data, size);
    fz_envelope(200, body, size);
    if (size)
        fz_envelope(statuses[data[0] % 10], body, size);
    free(body);
    return 0;
}

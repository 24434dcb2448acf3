/*
 * fuzz_yaml.c - libFuzzer target for the job-file reader (common/vm_yaml.c:
 * YAML 1.2 / JSON through libyaml's events into a jansson tree, with the
 * position of every node).
 *
 * Invariants:
 *   - every string in the tree is valid UTF-8 without NUL, every real is
 *     finite (the reader promises both);
 *   - the tree written as JSON (which is YAML 1.2) reads back as an equal
 *     tree: no value changes kind or value on the way (integers stay
 *     exact, "1.0" stays a real, strings stay strings); skipped when a key
 *     is longer than YAML's 1024-character limit for implicit keys;
 *   - every recorded position is 1-based and inside the text, and
 *     vm_yaml_loc finds it for its own path and for a path below it.
 */
#include <math.h>

#include "fuzz_util.h"
#include "vm_yaml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

static size_t fz_longest_key;

static size_t fz_tree(const json_t *j, size_t depth)
{
    size_t nodes = 1;
    FZ_CHECK(depth <= VM_YAML_MAX_DEPTH + 1, "tree deeper than the limit");
    switch (json_typeof(j)) {
    case JSON_STRING:
        FZ_CHECK(fz_utf8(json_string_value(j), json_string_length(j)) &&
                     strlen(json_string_value(j)) == json_string_length(j),
                 "string value with invalid UTF-8 or a NUL");
        break;
    case JSON_REAL: FZ_CHECK(isfinite(json_real_value(j)), "non-finite real"); break;
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) nodes += fz_tree(v, depth + 1);
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            FZ_CHECK(fz_utf8(k, strlen(k)), "key with invalid UTF-8");
            if (strlen(k) > fz_longest_key)
                fz_longest_key = strlen(k);
            nodes += fz_tree(v, depth + 1);
        }
        break;
    }
    default: break;
    }
    return nodes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_dup((const char *)data, size);
    json_t *root = NULL, *locs = NULL;
    vm_err e;
    int rc = vm_conf_parse_string_ex(text, size, "fuzz.yaml", &root, &locs, &e);
    fz_err(rc, &e);
    if (rc != VM_OK) {
        FZ_CHECK(!root && !locs, "error but a tree");
        FZ_CHECK(strncmp(e.msg, "fuzz.yaml:", 10) == 0, "message without its position: %s",
                 e.msg);
        free(text);
        return 0;
    }
    FZ_CHECK(root && json_is_object(locs), "success without a tree");
    fz_longest_key = 0;
    size_t nodes = fz_tree(root, 0);

    /* line breaks as YAML counts them: LF, CR, NEL, LS, PS (CRLF is one;
     * counting it twice only loosens the bound) */
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' ||
                 (data[i] == 0xC2 && i + 1 < size && data[i + 1] == 0x85) ||
                 (data[i] == 0xE2 && i + 2 < size && data[i + 1] == 0x80 &&
                  (data[i + 2] == 0xA8 || data[i + 2] == 0xA9));
    const char *path;
    json_t *v;
    json_object_foreach(locs, path, v) {
        int line = 0, col = 0;
        FZ_CHECK(vm_yaml_loc(locs, path, &line, &col) == 0, "no position for '%s'", path);
        FZ_CHECK(line >= 1 && col >= 1 && (size_t)line <= lines + 1,
                 "position %d:%d of '%s' outside %zu lines", line, col, path, lines);
        char below[512];
        if (path[0] && strlen(path) < 400) {
            snprintf(below, sizeof below, "%s.zz_not_there", path);
            if (json_object_get(locs, below))
                continue;
            snprintf(below, sizeof below, "%s.zz_not_there[3]", path);
            int l2 = 0, c2 = 0;
            FZ_CHECK(vm_yaml_loc(locs, below, &l2, &c2) == 0 && l2 == line && c2 == col,
                     "'%s' does not fall back to '%s'", below, path);
        }
    }

    /* JSON is YAML 1.2: the tree written as JSON reads back equal (YAML
     * limits implicit keys, as "k": is in JSON, to 1024 characters) */
    if (nodes < 20000 && fz_longest_key <= 1000) {
        char *js = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
        FZ_CHECK(js != NULL, "jansson cannot write the tree");
        json_t *back = NULL;
        int rc2 = vm_conf_parse_string(js, strlen(js), "dump", &back, &e);
        FZ_CHECK(rc2 == VM_OK, "the tree as JSON does not read back: %s (%.200s)", e.msg, js);
        FZ_CHECK(json_equal(root, back), "the tree as JSON reads back different: %.200s", js);
        json_decref(back);
        free(js);
    }
    json_decref(root);
    json_decref(locs);
    free(text);
    return 0;
}

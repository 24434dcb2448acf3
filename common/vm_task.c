/*
 * vm_task.c - range task: validation, JSON encoding, descriptions.
 */
#include "vm_task.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const vm_range_names[VM_RANGE__COUNT] = {
    "all", "int", "ctid", "key", "slice", "offset",
};

const char *vm_range_kind_name(vm_range_kind k)
{
    return (k >= 0 && k < VM_RANGE__COUNT) ? vm_range_names[k] : "unknown";
}

void vm_task_init(vm_task *t)
{
    memset(t, 0, sizeof *t);
    t->est_rows = -1;
}

void vm_task_release(vm_task *t)
{
    vm_free(t->job_id);
    vm_free(t->key_lo);
    vm_free(t->key_hi);
    vm_free(t->scope);
    vm_task_init(t);
}

static int vm_dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    return src && !(*dst = vm_strdup(src)) ? -1 : 0;
}

int vm_task_copy(vm_task *dst, const vm_task *src, vm_err *err)
{
    *dst = *src;
    dst->job_id = dst->key_lo = dst->key_hi = dst->scope = NULL;
    if (vm_dup_opt(&dst->job_id, src->job_id) || vm_dup_opt(&dst->key_lo, src->key_lo) ||
        vm_dup_opt(&dst->key_hi, src->key_hi) || vm_dup_opt(&dst->scope, src->scope)) {
        vm_task_release(dst);
        return vm_err_setc(err, VM_ERR_NOMEM, "task: out of memory");
    }
    return VM_OK;
}

int vm_task_validate(const vm_task *t, vm_err *err)
{
    if (!t->job_id || !*t->job_id)
        return vm_err_setc(err, VM_ERR_INVALID, "task %" PRIu32 ": no job id", t->id);
    switch (t->kind) {
    case VM_RANGE_INT:
    case VM_RANGE_CTID:
    case VM_RANGE_OFFSET:
        if (t->has_lo && t->has_hi && t->lo >= t->hi)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "task %" PRIu32 ": empty range [%" PRId64 ", %" PRId64 ")", t->id,
                               t->lo, t->hi);
        if ((t->kind != VM_RANGE_INT) && t->has_lo && t->lo < 0)
            return vm_err_setc(err, VM_ERR_INVALID, "task %" PRIu32 ": negative %s bound", t->id,
                               vm_range_kind_name(t->kind));
        break;
    case VM_RANGE_KEY:
        if (t->key_lo && t->key_hi && strcmp(t->key_lo, t->key_hi) >= 0)
            return vm_err_setc(err, VM_ERR_INVALID, "task %" PRIu32 ": empty key range", t->id);
        break;
    case VM_RANGE_SLICE:
        if (t->slices < 1 || t->slice < 0 || t->slice >= t->slices)
            return vm_err_setc(err, VM_ERR_INVALID,
                               "task %" PRIu32 ": slice %" PRId32 " of %" PRId32 " is invalid",
                               t->id, t->slice, t->slices);
        break;
    case VM_RANGE_ALL: break;
    default:
        return vm_err_setc(err, VM_ERR_INVALID, "task %" PRIu32 ": unknown range kind %d", t->id,
                           (int)t->kind);
    }
    return VM_OK;
}

json_t *vm_task_to_json(const vm_task *t)
{
    json_t *j = json_pack("{s:s, s:I, s:s}", "job", t->job_id ? t->job_id : "", "id",
                          (json_int_t)t->id, "kind", vm_range_kind_name(t->kind));
    if (!j)
        return NULL;
    int bad = 0;
    if (t->has_lo)
        bad |= json_object_set_new(j, "lo", json_integer(t->lo));
    if (t->has_hi)
        bad |= json_object_set_new(j, "hi", json_integer(t->hi));
    if (t->key_lo)
        bad |= json_object_set_new(j, "key_lo", json_string(t->key_lo));
    if (t->key_hi)
        bad |= json_object_set_new(j, "key_hi", json_string(t->key_hi));
    if (t->scope)
        bad |= json_object_set_new(j, "scope", json_string(t->scope));
    if (t->kind == VM_RANGE_SLICE) {
        bad |= json_object_set_new(j, "slice", json_integer(t->slice));
        bad |= json_object_set_new(j, "slices", json_integer(t->slices));
    }
    if (t->est_rows >= 0)
        bad |= json_object_set_new(j, "est_rows", json_integer(t->est_rows));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int vm_get_str(const json_t *v, const char *key, char **out, vm_err *err)
{
    if (!json_is_string(v))
        return vm_err_setc(err, VM_ERR_INVALID, "task.%s: expected a string", key);
    if (!(*out = vm_strdup(json_string_value(v))))
        return vm_err_setc(err, VM_ERR_NOMEM, "task: out of memory");
    return VM_OK;
}

static int vm_get_int(const json_t *v, const char *key, int64_t min, int64_t max, int64_t *out,
                      vm_err *err)
{
    if (!json_is_integer(v))
        return vm_err_setc(err, VM_ERR_INVALID, "task.%s: expected an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return vm_err_setc(err, VM_ERR_INVALID, "task.%s: %lld out of range", key, (long long)x);
    *out = x;
    return VM_OK;
}

int vm_task_from_json(const json_t *j, vm_task *t, vm_err *err)
{
    vm_task_init(t);
    if (!json_is_object(j))
        return vm_err_setc(err, VM_ERR_INVALID, "task: expected a JSON object");
    int rc = VM_OK;
    bool have_kind = false, have_id = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        int64_t x = 0;
        if (strcmp(key, "job") == 0) {
            rc = vm_get_str(v, key, &t->job_id, err);
        } else if (strcmp(key, "id") == 0) {
            rc = vm_get_int(v, key, 0, UINT32_MAX, &x, err);
            t->id = (uint32_t)x;
            have_id = true;
        } else if (strcmp(key, "kind") == 0) {
            const char *k = json_string_value(v);
            rc = vm_err_setc(err, VM_ERR_INVALID, "task.kind: unknown range kind '%s'",
                             k ? k : "(not a string)");
            for (int i = 0; k && i < VM_RANGE__COUNT; i++)
                if (strcmp(k, vm_range_names[i]) == 0) {
                    t->kind = (vm_range_kind)i;
                    have_kind = true;
                    rc = VM_OK;
                }
        } else if (strcmp(key, "lo") == 0) {
            rc = vm_get_int(v, key, INT64_MIN, INT64_MAX, &t->lo, err);
            t->has_lo = true;
        } else if (strcmp(key, "hi") == 0) {
            rc = vm_get_int(v, key, INT64_MIN, INT64_MAX, &t->hi, err);
            t->has_hi = true;
        } else if (strcmp(key, "key_lo") == 0) {
            rc = vm_get_str(v, key, &t->key_lo, err);
        } else if (strcmp(key, "key_hi") == 0) {
            rc = vm_get_str(v, key, &t->key_hi, err);
        } else if (strcmp(key, "scope") == 0) {
            rc = vm_get_str(v, key, &t->scope, err);
        } else if (strcmp(key, "slice") == 0) {
            rc = vm_get_int(v, key, 0, INT32_MAX, &x, err);
            t->slice = (int32_t)x;
        } else if (strcmp(key, "slices") == 0) {
            rc = vm_get_int(v, key, 1, INT32_MAX, &x, err);
            t->slices = (int32_t)x;
        } else if (strcmp(key, "est_rows") == 0) {
            rc = vm_get_int(v, key, 0, INT64_MAX, &t->est_rows, err);
        } else {
            rc = vm_err_setc(err, VM_ERR_INVALID, "task.%s: unknown key", key);
        }
        if (rc != VM_OK)
            goto cleanup;
    }
    if (!have_kind || !have_id) {
        rc = vm_err_setc(err, VM_ERR_INVALID, "task: missing '%s'", have_id ? "kind" : "id");
        goto cleanup;
    }
    rc = vm_task_validate(t, err);
cleanup:
    if (rc != VM_OK)
        vm_task_release(t);
    return rc;
}

char *vm_task_encode(const vm_task *t)
{
    json_t *j = vm_task_to_json(t);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

int vm_task_decode(const char *text, size_t len, vm_task *t, vm_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        vm_task_init(t);
        return vm_err_setc(err, VM_ERR_INVALID, "task: not JSON (%s at %d)", je.text, je.position);
    }
    int rc = vm_task_from_json(j, t, err);
    json_decref(j);
    return rc;
}

void vm_task_describe(const vm_task *t, char *buf, size_t size)
{
    char lo[32] = "-inf", hi[32] = "+inf", in[300] = "";
    if (t->has_lo)
        snprintf(lo, sizeof lo, "%" PRId64, t->lo);
    if (t->has_hi)
        snprintf(hi, sizeof hi, "%" PRId64, t->hi);
    if (t->scope)
        snprintf(in, sizeof in, " in '%s'", t->scope);
    switch (t->kind) {
    case VM_RANGE_INT:
    case VM_RANGE_CTID:
    case VM_RANGE_OFFSET:
        snprintf(buf, size, "%s [%s, %s)%s", vm_range_kind_name(t->kind), lo, hi, in);
        break;
    case VM_RANGE_KEY:
        snprintf(buf, size, "key [%s%s%s, %s%s%s)%s", t->key_lo ? "'" : "",
                 t->key_lo ? t->key_lo : "-inf", t->key_lo ? "'" : "", t->key_hi ? "'" : "",
                 t->key_hi ? t->key_hi : "+inf", t->key_hi ? "'" : "", in);
        break;
    case VM_RANGE_SLICE:
        /* a slice's scope is the point in time the slices share: long and opaque */
        snprintf(buf, size, "slice %" PRId32 "/%" PRId32 "%s", t->slice, t->slices,
                 t->scope ? " of a point in time" : "");
        break;
    default: snprintf(buf, size, "all%s", in); break;
    }
}

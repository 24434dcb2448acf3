/*
 * milvus_partition.c - partition names from row values, rows grouped by
 * partition (see milvus_partition.h for the naming rules).
 */
#include "milvus_partition.h"
#include "vm_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int vm_milvus_partition_from_str(const char *v, size_t len, char *out)
{
    out[0] = '\0';
    if (len == 0) {
        snprintf(out, VM_MILVUS_PARTITION_CAP, "%s", VM_MILVUS_PARTITION_DEFAULT);
        return VM_OK;
    }
    /* '-' and '.' -> '_' (vm_name_to_milvus, not strict); a name that is
     * still invalid gets "p_" in front, which helps exactly when the only
     * fault was the first character (a digit). */
    bool digit_first = v[0] >= '0' && v[0] <= '9';
    size_t pre = digit_first ? 2 : 0;
    if (len + pre > VM_MAX_NAME_LEN)
        return VM_ERR_INVALID;
    memcpy(out, "p_", pre);
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == '-' || c == '.')
            c = '_';
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_';
        if (!ok) {
            out[0] = '\0';
            return VM_ERR_INVALID;
        }
        out[pre + i] = c;
    }
    out[pre + len] = '\0';
    return vm_name_valid(out) ? VM_OK : VM_ERR_INVALID;
}

void vm_milvus_partition_from_int(int64_t v, char *out)
{
    if (v < 0) /* |INT64_MIN| does not fit an int64_t */
        snprintf(out, VM_MILVUS_PARTITION_CAP, "p_m%" PRIu64, (uint64_t)0 - (uint64_t)v);
    else
        snprintf(out, VM_MILVUS_PARTITION_CAP, "p_%" PRId64, v);
}

void vm_milvus_groups_release(vm_milvus_groups *g)
{
    vm_free(g->g);
    vm_free(g->rows);
    vm_free(g->of_row);
    memset(g, 0, sizeof *g);
}

/* The value's first 40 bytes, control characters shown as '?'. */
static void vm_part_excerpt(const char *v, size_t len, char *buf, size_t cap)
{
    size_t n = len < 40 ? len : 40;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[n] = '\0';
}

int vm_milvus_group_rows(const vm_schema *s, const vm_batch *b, size_t from, size_t to,
                         vm_milvus_groups *out, vm_err *err)
{
    out->n = 0;
    if (!s->partition_field)
        return vm_err_setc(err, VM_ERR_INTERNAL, "grouping rows without a partition field");
    int c = vm_batch_col(b, s->partition_field);
    if (c < 0)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "partition field '%s' is not among the rows' fields",
                           s->partition_field);
    vm_dtype t = b->cols[c].type;
    bool is_int = t == VM_T_INT8 || t == VM_T_INT16 || t == VM_T_INT32 || t == VM_T_INT64;
    if (!is_int && t != VM_T_VARCHAR)
        return vm_err_setc(err, VM_ERR_INVALID,
                           "partition field '%s' is %s; explicit partitions need an Int64 or "
                           "VarChar field",
                           s->partition_field, vm_dtype_name(t));
    size_t nr = to - from;
    if (vm_grow((void **)&out->of_row, &out->of_row_cap, nr ? nr : 1, sizeof *out->of_row) ||
        vm_grow((void **)&out->rows, &out->rows_cap, nr ? nr : 1, sizeof *out->rows))
        return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");

    /* pass 1: each row's group (linear search from the last hit: a batch
     * usually holds few partitions, and runs of one value are common) */
    size_t last = 0;
    for (size_t r = from; r < to; r++) {
        char name[VM_MILVUS_PARTITION_CAP];
        if (vm_batch_is_null(b, (size_t)c, r)) {
            snprintf(name, sizeof name, "%s", VM_MILVUS_PARTITION_DEFAULT);
        } else if (is_int) {
            vm_milvus_partition_from_int(vm_batch_get_int(b, (size_t)c, r), name);
        } else {
            size_t len;
            const char *v = vm_batch_get_str(b, (size_t)c, r, &len);
            if (vm_milvus_partition_from_str(v, len, name) != VM_OK) {
                char ex[48];
                vm_part_excerpt(v, len, ex, sizeof ex);
                return vm_err_set(err, VM_ERR_INVALID, false,
                                  "partition field '%s' row %zu: value '%s'%s cannot name a "
                                  "Milvus partition (ASCII letters, digits, '_', '-' and '.' "
                                  "only, at most %d bytes)",
                                  s->partition_field, r, ex, len > 40 ? "..." : "",
                                  VM_MAX_NAME_LEN);
            }
        }
        size_t g = out->n;
        if (out->n && strcmp(out->g[last].name, name) == 0) {
            g = last;
        } else {
            for (size_t k = 0; k < out->n; k++)
                if (strcmp(out->g[k].name, name) == 0) {
                    g = k;
                    break;
                }
        }
        if (g == out->n) {
            if (vm_grow((void **)&out->g, &out->cap, out->n + 1, sizeof *out->g))
                return vm_err_setc(err, VM_ERR_NOMEM, "out of memory");
            memcpy(out->g[g].name, name, sizeof name);
            out->g[g].nrows = 0;
            out->n++;
        }
        out->g[g].nrows++;
        out->of_row[r - from] = g;
        last = g;
    }
    /* pass 2: lay the groups out one after another */
    size_t off = 0;
    for (size_t k = 0; k < out->n; k++) {
        out->g[k].rows = out->rows + off;
        off += out->g[k].nrows;
        out->g[k].nrows = 0;
    }
    for (size_t r = from; r < to; r++) {
        vm_milvus_group *g = &out->g[out->of_row[r - from]];
        g->rows[g->nrows++] = r;
    }
    return VM_OK;
}

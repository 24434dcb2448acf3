/*
 * test_mapping.c - the mapping file resolved against a source schema: one
 * test per rule (names, drops, lifts, added fields, type overrides, primary
 * key, nullable/default, partitioning, collection options, indexes,
 * limits), error paths with positions, and the resolved mapping reading
 * back to the same result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_mapping.h"
#include "vm_mem.h"
#include "vm_transform.h"
#include "vm_yaml.h"

/* id Int64 pk; title VarChar(200)?; score Double; n Int32; emb FloatVector(4)
 * COSINE; meta JSON?; my-tag VarChar(64)?; dynamic metadata "payload". */
static vm_schema *src_schema(void)
{
    vm_schema *s = vm_schema_new("docs-v1.2");
    vm_field f[] = {
        {.name = "id", .type = VM_T_INT64, .primary = true},
        {.name = "title", .type = VM_T_VARCHAR, .max_length = 200, .nullable = true},
        {.name = "score", .type = VM_T_DOUBLE},
        {.name = "n", .type = VM_T_INT32},
        {.name = "emb", .type = VM_T_FLOAT_VECTOR, .dim = 4, .metric = "IP"},
        {.name = "meta", .type = VM_T_JSON, .nullable = true},
        {.name = "my-tag", .type = VM_T_VARCHAR, .max_length = 64, .nullable = true},
        {.name = "uid", .type = VM_T_VARCHAR, .max_length = 36},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        assert_int_equal(vm_schema_add(s, &f[i], NULL), VM_OK);
    s->enable_dynamic = true;
    s->dynamic_alias = vm_strdup("payload");
    return s;
}

static const char *metas[] = {
    "{\"author\":{\"name\":\"Ann\",\"age\":31},\"tags\":[\"a\",\"bb\"],\"lang\":\"en\"}",
    "{\"author\":{\"name\":\"Bartholomew\",\"age\":40},\"tags\":[],\"lang\":\"de\"}",
    "{\"author\":{\"name\":\"C\"},\"tags\":[\"ccc\"],\"x\":1.5}",
    NULL,
};

/* Four sampled rows; titles up to 120 bytes. */
static vm_batch *sample(const vm_schema *s)
{
    vm_schema *rs = vm_mapping_read_schema(s, NULL);
    vm_batch *b;
    vm_err e;
    assert_int_equal(vm_batch_new(rs, 8, &b, &e), VM_OK);
    for (int r = 0; r < 4; r++) {
        size_t row;
        assert_int_equal(vm_batch_add_row(b, &row, &e), VM_OK);
        vm_batch_set_int(b, (size_t)vm_batch_col(b, "id"), row, r, &e);
        char title[130];
        memset(title, 'x', sizeof title);
        size_t tl = r == 1 ? 120 : 10;
        if (r != 3)
            vm_batch_set_str(b, (size_t)vm_batch_col(b, "title"), row, title, tl, &e);
        vm_batch_set_double(b, (size_t)vm_batch_col(b, "score"), row, 0.5, &e);
        vm_batch_set_int(b, (size_t)vm_batch_col(b, "n"), row, 7, &e);
        if (metas[r])
            vm_batch_set_str(b, (size_t)vm_batch_col(b, "meta"), row, metas[r], strlen(metas[r]),
                             &e);
        const char *pl = r % 2 ? "{\"color\":\"red\",\"k\":3}" : "{\"color\":\"blue\"}";
        vm_batch_set_str(b, (size_t)vm_batch_col(b, VM_META_FIELD), row, pl, strlen(pl), &e);
        vm_batch_set_str(b, (size_t)vm_batch_col(b, "uid"), row, "u-1", 3, &e);
    }
    vm_schema_free(rs);
    return b;
}

typedef struct env {
    vm_schema *src;
    vm_batch *sample;
    vm_mapping_result r;
    vm_err e;
    json_t *locs;
} env;

static int setup(void **state)
{
    env *v = calloc(1, sizeof *v);
    v->src = src_schema();
    v->sample = sample(v->src);
    *state = v;
    return 0;
}

static int teardown(void **state)
{
    env *v = *state;
    vm_mapping_result_release(&v->r);
    vm_batch_free(v->sample);
    vm_schema_free(v->src);
    json_decref(v->locs);
    free(v);
    return 0;
}

/* Resolve YAML text (a mapping file of its own, origin "map.yaml"). */
static int resolve(env *v, const char *yaml)
{
    vm_mapping_result_release(&v->r);
    json_decref(v->locs);
    v->locs = NULL;
    json_t *doc = NULL;
    if (yaml) {
        vm_err pe;
        if (vm_conf_parse_string_ex(yaml, strlen(yaml), "map.yaml", &doc, &v->locs, &pe) != 0)
            fail_msg("yaml: %s", pe.msg);
    }
    vm_conf_where w = {"map.yaml", v->locs};
    int rc = vm_mapping_resolve(doc, "", &w, v->src, v->sample, &v->r, &v->e);
    json_decref(doc);
    return rc;
}

static void expect_error(env *v, const char *yaml, const char *needle)
{
    int rc = resolve(v, yaml);
    if (rc == VM_OK)
        fail_msg("expected an error containing \"%s\", got success", needle);
    if (!strstr(v->e.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", v->e.msg, needle);
    assert_null(v->r.target);
}

static const vm_field *tf(env *v, const char *name)
{
    const vm_field *f = vm_schema_find(v->r.target, name);
    if (!f)
        fail_msg("target has no field '%s'", name);
    return f;
}

/* The program step that targets `name`. */
static json_t *step(env *v, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(v->r.program, "steps"), i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "target")), name))
            return s;
    }
    return NULL;
}

static const char *op(env *v, const char *name)
{
    json_t *s = step(v, name);
    return s ? json_string_value(json_object_get(s, "op")) : "(none)";
}

static void test_no_mapping(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, NULL), VM_OK);
    assert_string_equal(v->r.target->collection, "docs_v1_2");
    assert_non_null(tf(v, "my_tag"));
    assert_null(vm_schema_find(v->r.target, "my-tag"));
    assert_true(v->r.target->enable_dynamic);
    assert_string_equal(op(v, "title"), "copy");
    assert_string_equal(op(v, VM_META_FIELD), "copy");
    assert_string_equal(tf(v, "emb")->metric, "IP");
    assert_false(json_is_true(json_object_get(v->r.index, "create")));
    assert_int_equal(json_integer_value(json_object_get(v->r.params, "shardsNum")), 1);
    assert_string_equal(json_string_value(json_object_get(v->r.params, "consistencyLevel")),
                        "Bounded");
    assert_int_equal(v->r.sampled, 4);
}

static void test_strict_names(void **state)
{
    env *v = *state;
    expect_error(v, "collection: {strict_names: true}", "collection.name");
    expect_error(v, "collection: {strict_names: true, name: docs}", "my-tag");
    assert_int_equal(resolve(v, "collection: {strict_names: true, name: docs}\n"
                                "fields: [{source: my-tag, name: tag}]"),
                     VM_OK);
    assert_string_equal(v->r.target->collection, "docs");
    assert_non_null(tf(v, "tag"));
    expect_error(v, "collection: {name: 9lives}", "collection.name");
}

static void test_rename_and_collisions(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields:\n  - {source: title, name: headline}\n"), VM_OK);
    assert_non_null(tf(v, "headline"));
    assert_null(vm_schema_find(v->r.target, "title"));
    json_t *s = step(v, "headline");
    assert_string_equal(json_string_value(json_object_get(s, "source")), "title");
    assert_string_equal(op(v, "headline"), "copy");
    expect_error(v, "fields:\n  - {source: title, name: score}\n", "two target fields");
    expect_error(v, "fields:\n  - {source: title, name: bad-name}\n", "fields[0].name");
    expect_error(v, "fields:\n  - {source: nope}\n", "no source field 'nope'");
    expect_error(v, "fields:\n  - {source: title}\n  - {source: title, name: t2}\n",
                 "already mapped by fields[0]");
    expect_error(v, "fields:\n  - {source: title, nmae: x}\n", "did you mean");
}

static void test_drop(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields: [{source: n, drop: true}]"), VM_OK);
    assert_null(vm_schema_find(v->r.target, "n"));
    assert_null(step(v, "n"));
    vm_schema *rs = vm_mapping_read_schema(v->src, v->r.program);
    assert_int_equal(vm_schema_index(rs, "n"), -1); /* not even read */
    assert_true(vm_schema_index(rs, "title") >= 0);
    vm_schema_free(rs);
    assert_int_equal(resolve(v, "unmapped: drop\nfields: [{source: id}, {source: emb}]"), VM_OK);
    assert_int_equal(v->r.target->nfields, 2);
    assert_false(v->r.target->enable_dynamic);
    expect_error(v, "fields: [{source: n, drop: true, type: Int64}]", "fields[0].drop");
}

static void test_lift_nested(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields:\n"
                                "  - {source: meta.author.name, name: author, type: VarChar, "
                                "max_length: 100}\n"),
                     VM_OK);
    const vm_field *a = tf(v, "author");
    assert_int_equal(a->type, VM_T_VARCHAR);
    assert_int_equal(a->max_length, 100);
    assert_true(a->nullable);
    json_t *s = step(v, "author");
    assert_string_equal(json_string_value(json_object_get(s, "op")), "lift");
    assert_string_equal(json_string_value(json_object_get(s, "source")), "meta");
    json_t *want = json_pack("[s,s]", "author", "name");
    assert_true(json_equal(json_object_get(s, "path"), want));
    json_decref(want);
    /* the rest of meta stays, without the lifted key */
    s = step(v, "meta");
    assert_string_equal(json_string_value(json_object_get(s, "op")), "rest");
    assert_int_equal(json_array_size(json_object_get(s, "remove")), 1);
    /* rest: drop removes the JSON field, the lift still reads it */
    assert_int_equal(resolve(v, "fields:\n  - {source: meta, rest: drop}\n"
                                "  - {source: meta.lang, type: VarChar, max_length: 8}\n"),
                     VM_OK);
    assert_null(vm_schema_find(v->r.target, "meta"));
    assert_non_null(tf(v, "lang"));
    vm_schema *rs = vm_mapping_read_schema(v->src, v->r.program);
    assert_true(vm_schema_index(rs, "meta") >= 0);
    vm_schema_free(rs);
    /* path: for keys with dots */
    assert_int_equal(resolve(v, "fields:\n  - {source: meta, path: [\"a.b\"], name: ab, type: "
                                "Int64}\n"),
                     VM_OK);
    assert_int_equal(tf(v, "ab")->type, VM_T_INT64);
    expect_error(v, "fields: [{source: title.x, type: Int64}]", "not JSON");
    expect_error(v, "fields: [{source: meta..x, type: Int64}]", "empty key");
}

static void test_lift_inferred(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields:\n  - {source: meta.author.name}\n"
                                "  - {source: meta.author.age}\n  - {source: meta.tags}\n"
                                "  - {source: meta.x}\n"),
                     VM_OK);
    const vm_field *n = tf(v, "name");
    assert_int_equal(n->type, VM_T_VARCHAR);
    assert_int_equal(n->max_length, 64); /* 2 x 11 bytes, at least 64 */
    assert_int_equal(tf(v, "age")->type, VM_T_INT64);
    assert_true(tf(v, "age")->nullable); /* missing in one sampled row */
    const vm_field *t = tf(v, "tags");
    assert_int_equal(t->type, VM_T_ARRAY);
    assert_int_equal(t->element_type, VM_T_VARCHAR);
    assert_int_equal(t->max_capacity, 4);
    assert_int_equal(tf(v, "x")->type, VM_T_DOUBLE);
    bool noted = false;
    for (size_t i = 0; i < v->r.nrows; i++)
        noted |= strstr(v->r.rows[i].notes, "inferred from 3 sampled rows") != NULL;
    assert_true(noted);
    expect_error(v, "fields: [{source: meta.never}]", "no value in the 4 sampled rows");
    /* the metadata by its alias, and suggestions for what is left */
    assert_int_equal(resolve(v, "fields: [{source: payload.color}]"), VM_OK);
    assert_int_equal(tf(v, "color")->type, VM_T_VARCHAR);
    json_t *s = step(v, VM_META_FIELD);
    assert_string_equal(json_string_value(json_object_get(s, "op")), "rest");
    assert_string_equal(json_string_value(json_object_get(s, "source")), VM_META_FIELD);
    bool sugg_k = false, sugg_color = false;
    size_t i;
    json_t *g;
    json_array_foreach(v->r.suggestions, i, g) {
        const char *p = json_string_value(json_object_get(g, "source"));
        sugg_k |= !strcmp(p, "payload.k");
        sugg_color |= !strcmp(p, "payload.color");
    }
    assert_true(sugg_k);
    assert_false(sugg_color);
}

static void test_dynamic_key_clash(void **state)
{
    env *v = *state;
    /* payload keeps "color" in sampled rows: a field named color clashes ... */
    expect_error(v, "fields: [{source: title, name: color}]", "stays in the dynamic field");
    assert_non_null(strstr(v->e.msg, "payload.color"));
    /* ... unless color is the key lifted out */
    assert_int_equal(resolve(v, "fields: [{source: payload.color}]"), VM_OK);
    /* meta -> dynamic: lifting author.name into "author" leaves author.age */
    expect_error(v, "fields:\n  - {source: payload, rest: drop}\n  - {source: meta, rest: dynamic}\n"
                    "  - {source: meta.author.name, name: author}\n",
                 "'author'");
    assert_int_equal(resolve(v, "fields:\n  - {source: payload, rest: drop}\n"
                                "  - {source: meta, rest: dynamic}\n"
                                "  - {source: meta.author.name, name: author_name}\n"),
                     VM_OK);
}

static void test_rest_to_dynamic(void **state)
{
    env *v = *state;
    expect_error(v, "fields: [{source: meta, rest: dynamic}]", "already fills the dynamic");
    assert_int_equal(resolve(v, "fields:\n  - {source: payload, rest: drop}\n"
                                "  - {source: meta, rest: dynamic}\n"
                                "  - {source: meta.lang, type: VarChar, max_length: 8}\n"),
                     VM_OK);
    assert_true(v->r.target->enable_dynamic);
    json_t *s = step(v, VM_META_FIELD);
    assert_string_equal(json_string_value(json_object_get(s, "source")), "meta");
    assert_string_equal(json_string_value(json_object_get(s, "op")), "rest");
    expect_error(v, "collection: {dynamic_field: false}\nfields:\n  - {source: payload, rest: "
                    "drop}\n  - {source: meta, rest: dynamic}\n",
                 "collection.dynamic_field");
    /* dynamic off: the metadata is dropped, lifts from it still work */
    assert_int_equal(resolve(v, "collection: {dynamic_field: false}\n"
                                "fields: [{source: payload.color, type: VarChar, max_length: 9}]"),
                     VM_OK);
    assert_false(v->r.target->enable_dynamic);
    assert_null(step(v, VM_META_FIELD));
    assert_non_null(step(v, "color"));
    expect_error(v, "fields: [{source: n, rest: drop}]", "only JSON fields");
}

static void test_added_fields(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields:\n  - {name: tenant, type: VarChar, max_length: 16, "
                                "default: acme}\n  - {name: note, type: Int64, nullable: true}\n"),
                     VM_OK);
    const vm_field *t = tf(v, "tenant");
    assert_string_equal(json_string_value(t->default_value), "acme");
    json_t *s = step(v, "tenant");
    assert_string_equal(json_string_value(json_object_get(s, "op")), "const");
    assert_string_equal(json_string_value(json_object_get(s, "value")), "acme");
    assert_true(json_is_null(json_object_get(step(v, "note"), "value")));
    expect_error(v, "fields: [{name: t, type: Int64}]", "needs default");
    expect_error(v, "fields: [{name: t}]", "fields[0].type");
    expect_error(v, "fields: [{type: Int64, default: 1}]", "fields[0].name");
    expect_error(v, "fields: [{name: v2, type: FloatVector, dim: 4}]", "cannot be a vector");
    expect_error(v, "fields: [{name: t, type: Int8, default: 300}]", "default value");
    expect_error(v, "fields: [{name: t, type: Bogus, default: 1}]", "unknown type 'Bogus'");
}

static void test_type_override(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields: [{source: n, type: Int64}]"), VM_OK);
    assert_int_equal(tf(v, "n")->type, VM_T_INT64);
    assert_string_equal(op(v, "n"), "convert");
    assert_false(json_is_true(json_object_get(step(v, "n"), "lossy")));
    expect_error(v, "fields: [{source: score, type: Float}]", "set lossy: true");
    assert_int_equal(resolve(v, "fields: [{source: score, type: Float, lossy: true}]"), VM_OK);
    assert_true(json_is_true(json_object_get(step(v, "score"), "lossy")));
    assert_true(v->r.nwarnings >= 1);
    bool lossy_row = false;
    for (size_t i = 0; i < v->r.nrows; i++)
        lossy_row |= v->r.rows[i].lossy && !strcmp(v->r.rows[i].target, "score");
    assert_true(lossy_row);
    expect_error(v, "fields: [{source: title, type: FloatVector, dim: 4}]", "cannot become");
    expect_error(v, "fields: [{source: emb, dim: 8}]", "cannot become");
    /* the message names the key that asked for the change and both shapes */
    expect_error(v, "fields: [{source: emb, dim: 8}]", "fields[0].dim: source FloatVector(");
    expect_error(v, "fields: [{source: emb, dim: 8}]", "cannot become FloatVector(8): vector");
    /* shorter than the longest sampled value (120 bytes): lossy, cut */
    expect_error(v, "fields: [{source: title, max_length: 50}]", "lossy");
    assert_int_equal(resolve(v, "fields: [{source: title, max_length: 50, lossy: true}]"),
                     VM_OK);
    assert_true(json_is_true(json_object_get(step(v, "title"), "truncate")));
    /* shorter than declared but longer than sampled: checked at run time */
    assert_int_equal(resolve(v, "fields: [{source: title, max_length: 150}]"), VM_OK);
    assert_false(json_is_true(json_object_get(step(v, "title"), "truncate")));
    expect_error(v, "fields: [{source: title, max_length: 70000}]", "max_length");
    expect_error(v, "fields: [{source: n, max_length: 5}]", "only VarChar");
}

static void test_primary_key(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields: [{source: id, name: doc_id}]"), VM_OK);
    assert_string_equal(vm_schema_primary(v->r.target)->name, "doc_id");
    /* from another field */
    assert_int_equal(resolve(v, "primary_key: {field: uid}"), VM_OK);
    assert_string_equal(vm_schema_primary(v->r.target)->name, "uid");
    assert_false(tf(v, "id")->primary);
    expect_error(v, "primary_key: {field: title}", "nullable");
    expect_error(v, "primary_key: {field: score}", "Int64 or VarChar");
    expect_error(v, "primary_key: {field: nope}", "no target field 'nope'");
    expect_error(v, "fields: [{source: id, drop: true}]", "primary_key");
    /* autoID, originals kept */
    assert_int_equal(resolve(v, "primary_key: {auto_id: true, keep_original_as: source_id}"),
                     VM_OK);
    const vm_field *k = &v->r.target->fields[0];
    assert_string_equal(k->name, "id");
    assert_true(k->primary && k->auto_id);
    assert_false(tf(v, "source_id")->primary);
    assert_null(step(v, "id"));
    assert_string_equal(json_string_value(json_object_get(step(v, "source_id"), "source")), "id");
    vm_schema *rs = vm_mapping_read_schema(v->src, v->r.program);
    assert_true(vm_schema_index(rs, "id") >= 0);
    vm_schema_free(rs);
    /* autoID, originals dropped: a warning about retries */
    assert_int_equal(resolve(v, "primary_key: {auto_id: true, field: pk}"), VM_OK);
    assert_string_equal(vm_schema_primary(v->r.target)->name, "pk");
    assert_int_equal(vm_schema_index(v->r.target, "id"), -1);
    assert_true(v->r.nwarnings >= 1);
    assert_non_null(strstr(v->r.warnings[0], "keep_original_as"));
    expect_error(v, "primary_key: {keep_original_as: x}", "auto_id: true");
    expect_error(v, "primary_key: {auto_id: true, field: score}", "already a field");
}

static void test_nullable_default(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields: [{source: n, nullable: true, default: 5}]"), VM_OK);
    assert_true(tf(v, "n")->nullable);
    assert_int_equal(json_integer_value(tf(v, "n")->default_value), 5);
    assert_int_equal(json_integer_value(json_object_get(step(v, "n"), "default")), 5);
    expect_error(v, "fields: [{source: n, default: text}]", "default value");
    expect_error(v, "fields: [{source: n, nullable: maybe}]", "true or false");
    expect_error(v, "fields: [{source: emb, nullable: true}]", "vector");
    /* title has a sampled null: non-nullable without default warns */
    assert_int_equal(resolve(v, "fields: [{source: title, nullable: false}]"), VM_OK);
    bool warned = false;
    for (size_t i = 0; i < v->r.nwarnings; i++)
        warned |= strstr(v->r.warnings[i], "1 of 4 sampled rows are null") != NULL;
    assert_true(warned);
}

static void test_partitions(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "collection: {partition_key: uid, num_partitions: 32}"), VM_OK);
    assert_true(tf(v, "uid")->partition_key);
    assert_int_equal(json_integer_value(json_object_get(v->r.params, "partitionsNum")), 32);
    expect_error(v, "collection: {partition_key: title}", "nullable");
    expect_error(v, "collection: {partition_key: score}", "Int64 or VarChar");
    expect_error(v, "collection: {partition_key: id}", "primary key");
    expect_error(v, "collection: {num_partitions: 4}", "partition_key");
    expect_error(v, "collection: {partition_key: uid, num_partitions: 5000}", "num_partitions");
    /* a lifted key as partition key: nullable by default, so it must say so */
    expect_error(v, "collection: {partition_key: lang}\nfields: [{source: meta.lang}]",
                 "nullable");
    assert_int_equal(resolve(v, "collection: {partition_key: lang}\nfields: [{source: "
                                "meta.lang, nullable: false, default: none}]"),
                     VM_OK);
    assert_int_equal(resolve(v, "collection: {partitions_from: uid}"), VM_OK);
    assert_string_equal(v->r.target->partition_field, "uid");
    expect_error(v, "collection: {partitions_from: uid, partition_key: uid}", "choose one");
    expect_error(v, "collection: {partitions_from: score}", "Int64 or VarChar");
}

/* A source's partition key (a Milvus source) is kept unless the mapping
 * chooses another or explicit partitions. */
static void test_source_partition_key(void **state)
{
    env *v = *state;
    ((vm_field *)vm_schema_find(v->src, "uid"))->partition_key = true;
    assert_int_equal(resolve(v, NULL), VM_OK);
    assert_true(tf(v, "uid")->partition_key);
    assert_int_equal(json_integer_value(json_object_get(v->r.params, "partitionsNum")), 64);
    assert_int_equal(resolve(v, "collection: {num_partitions: 8}"), VM_OK);
    assert_int_equal(json_integer_value(json_object_get(v->r.params, "partitionsNum")), 8);
    assert_int_equal(resolve(v, "collection: {partition_key: my_tag}\n"
                                "fields: [{source: my-tag, nullable: false}]"),
                     VM_OK);
    assert_false(tf(v, "uid")->partition_key);
    assert_true(tf(v, "my_tag")->partition_key);
    assert_int_equal(resolve(v, "collection: {partitions_from: uid}"), VM_OK);
    assert_false(tf(v, "uid")->partition_key);
    assert_null(json_object_get(v->r.params, "partitionsNum"));
}

static void test_collection_options(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "collection: {name: docs, shards: 4, consistency_level: "
                                "Strong, description: hello}"),
                     VM_OK);
    assert_string_equal(v->r.target->collection, "docs");
    assert_string_equal(v->r.target->description, "hello");
    assert_int_equal(json_integer_value(json_object_get(v->r.params, "shardsNum")), 4);
    assert_string_equal(json_string_value(json_object_get(v->r.params, "consistencyLevel")),
                        "Strong");
    expect_error(v, "collection: {shards: 17}", "collection.shards");
    expect_error(v, "collection: {consistency_level: strong}", "collection.consistency_level");
    expect_error(v, "version: 2", "version");
    expect_error(v, "colection: {}", "did you mean");
}

static void test_index(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "collection: {index: true}"), VM_OK);
    assert_true(json_is_true(json_object_get(v->r.index, "create")));
    assert_true(json_is_true(json_object_get(v->r.index, "load")));
    json_t *f = json_object_get(json_object_get(v->r.index, "fields"), "emb");
    assert_string_equal(json_string_value(json_object_get(f, "metric")), "IP"); /* source's */
    assert_int_equal(resolve(v, "collection: {index: {create: true, load: false}}\n"
                                "fields: [{source: emb, metric: L2}]"),
                     VM_OK);
    f = json_object_get(json_object_get(v->r.index, "fields"), "emb");
    assert_string_equal(json_string_value(json_object_get(f, "metric")), "L2");
    assert_false(json_is_true(json_object_get(v->r.index, "load")));
    expect_error(v, "fields: [{source: emb, metric: HAMMING}]", "does not fit");
    expect_error(v, "fields: [{source: n, metric: L2}]", "only vector");
}

static void test_limits(void **state)
{
    env *v = *state;
    /* five vector fields */
    vm_schema_free(v->src);
    v->src = vm_schema_new("many");
    vm_field id = {.name = "id", .type = VM_T_INT64, .primary = true};
    vm_schema_add(v->src, &id, NULL);
    for (int i = 0; i < 5; i++) {
        char n[8];
        snprintf(n, sizeof n, "v%d", i);
        vm_field f = {.name = n, .type = VM_T_FLOAT_VECTOR, .dim = 2};
        vm_schema_add(v->src, &f, NULL);
    }
    vm_batch_free(v->sample);
    v->sample = NULL;
    expect_error(v, NULL, "vector fields");
    assert_int_equal(resolve(v, "fields: [{source: v4, drop: true}]"), VM_OK);
    /* 64 fields is the most */
    char yaml[8192] = "fields:\n";
    for (int i = 0; i < 60; i++) {
        char line[96];
        snprintf(line, sizeof line, "  - {name: a%d, type: Int64, nullable: true}\n", i);
        strcat(yaml, line);
    }
    expect_error(v, yaml, "Milvus allows 64");
}

static void test_positions(void **state)
{
    env *v = *state;
    expect_error(v, "collection:\n  shards: 2\nfields:\n  - source: title\n    type: Bogus\n",
                 "map.yaml:5:");
    assert_non_null(strstr(v->e.msg, "fields[0].type"));
    /* inline in a job: paths start with mapping. */
    json_t *doc = json_pack("{s:[{s:s}]}", "fields", "source", "zzz");
    vm_mapping_result r;
    assert_int_not_equal(vm_mapping_resolve(doc, "mapping", NULL, v->src, NULL, &r, &v->e),
                         VM_OK);
    assert_non_null(strstr(v->e.msg, "mapping.fields[0].source"));
    json_decref(doc);
}

static void test_unsupported_type(void **state)
{
    env *v = *state;
    vm_field loc = {.name = "loc", .type = VM_T_VARCHAR, .max_length = 64, .nullable = true,
                    .unsupported = true, .description = "PostgreSQL point"};
    assert_int_equal(vm_schema_add(v->src, &loc, NULL), VM_OK);
    expect_error(v, NULL, "source field 'loc' has a type Milvus has no counterpart for");
    assert_int_equal(v->e.code, VM_ERR_UNSUPPORTED);
    assert_int_equal(resolve(v, "fields: [{source: loc, drop: true}]"), VM_OK);
    assert_int_equal(vm_schema_index(v->r.target, "loc"), -1);
    assert_int_equal(resolve(v, "fields: [{source: loc, type: VarChar}]"), VM_OK);
    assert_int_equal(tf(v, "loc")->type, VM_T_VARCHAR);
    assert_int_equal(resolve(v, "unmapped: drop\nfields: [{source: id}, {source: emb}]"), VM_OK);
}

/* What --write-mapping writes reads back to the same result. */
static void test_round_trip(void **state)
{
    env *v = *state;
    const char *maps[] = {
        NULL,
        "primary_key: {auto_id: true, keep_original_as: source_id}\n"
        "collection: {name: docs, partition_key: uid, shards: 2, index: true}\n"
        "fields:\n  - {source: meta.author.name, name: author}\n"
        "  - {source: n, type: Int64, default: 0}\n  - {source: title, drop: true}\n"
        "  - {name: tenant, type: VarChar, max_length: 8, default: acme}\n",
        "primary_key: {field: uid}\nfields: [{source: payload.color}, {source: score, type: "
        "Float, lossy: true}]\ncollection: {partitions_from: my_tag}\n",
    };
    for (size_t m = 0; m < sizeof maps / sizeof *maps; m++) {
        assert_int_equal(resolve(v, maps[m]), VM_OK);
        json_t *schema1 = vm_schema_to_milvus(v->r.target);
        json_t *prog1 = json_incref(v->r.program);
        json_t *params1 = json_incref(v->r.params);
        char *pf1 = v->r.target->partition_field ? strdup(v->r.target->partition_field) : NULL;
        char *yaml = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&yaml, &len);
        assert_int_equal(vm_mapping_write_yaml(&v->r, v->src, "job1", f, &v->e), VM_OK);
        fclose(f);
        if (resolve(v, yaml) != VM_OK)
            fail_msg("map %zu: written mapping does not read back: %s\n%s", m, v->e.msg, yaml);
        json_t *schema2 = vm_schema_to_milvus(v->r.target);
        if (!json_equal(schema1, schema2) || !json_equal(prog1, v->r.program) ||
            !json_equal(params1, v->r.params))
        {
            char *a = json_dumps(schema1, JSON_SORT_KEYS), *b = json_dumps(schema2, JSON_SORT_KEYS);
            char *c = json_dumps(prog1, JSON_SORT_KEYS), *d = json_dumps(v->r.program, JSON_SORT_KEYS);
            fprintf(stderr, "%s\n%s\n%s\n%s\n%s\n", yaml, a, b, c, d);
            free(a); free(b); free(c); free(d);
            fail_msg("map %zu: round trip differs", m);
        }
        if (pf1)
            assert_string_equal(v->r.target->partition_field, pf1);
        free(pf1);
        free(yaml);
        json_decref(schema1);
        json_decref(schema2);
        json_decref(prog1);
        json_decref(params1);
    }
}

/* Found by fuzz_mapping: keys with characters YAML cannot hold raw (DEL,
 * C1 controls such as NEL, U+2028) were written raw, and a source name with
 * a line break broke its comment: the written file did not read back. */
static void test_round_trip_unprintable(void **state)
{
    env *v = *state;
    const char *meta = "{\"a\x7f" "b\":1,\"c\xc2\x85" "d\":\"x\",\"e\xe2\x80\xa8" "f\":2}";
    vm_err e;
    assert_int_equal(vm_batch_set_str(v->sample, (size_t)vm_batch_col(v->sample, "meta"), 0, meta,
                                      strlen(meta), &e),
                     VM_OK);
    vm_free(v->src->collection);
    v->src->collection = vm_strdup("docs\nversion: 2 \x7f");
    assert_int_equal(resolve(v, "collection: {name: docs}\n"
                                "fields: [{source: meta, path: [\"a\\u007fb\"], name: ab, "
                                "type: Int64}, {source: meta, path: [\"c\\u0085d\"], name: cd}]\n"),
                     VM_OK);
    json_t *schema1 = vm_schema_to_milvus(v->r.target);
    json_t *prog1 = json_incref(v->r.program);
    char *yaml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&yaml, &len);
    assert_int_equal(vm_mapping_write_yaml(&v->r, v->src, "job1", f, &v->e), VM_OK);
    fclose(f);
    assert_non_null(strstr(yaml, "e\\u2028f")); /* the suggestion, escaped */
    if (resolve(v, yaml) != VM_OK)
        fail_msg("written mapping does not read back: %s\n%s", v->e.msg, yaml);
    json_t *schema2 = vm_schema_to_milvus(v->r.target);
    assert_true(json_equal(schema1, schema2));
    assert_true(json_equal(prog1, v->r.program));
    free(yaml);
    json_decref(schema1);
    json_decref(schema2);
    json_decref(prog1);
}

/* Every program the mapping makes is one vm_transform accepts. */
static void test_program_builds(void **state)
{
    env *v = *state;
    const char *maps[] = {
        NULL,
        "fields:\n  - {source: meta.author.name, name: author}\n  - {source: n, type: Int64}\n"
        "  - {name: tenant, type: VarChar, max_length: 8, default: acme}\n"
        "  - {source: title, max_length: 50, lossy: true}\n",
        "primary_key: {auto_id: true, keep_original_as: source_id}\n"
        "fields: [{source: payload, rest: drop}, {source: meta, rest: dynamic}]\n",
    };
    for (size_t m = 0; m < sizeof maps / sizeof *maps; m++) {
        assert_int_equal(resolve(v, maps[m]), VM_OK);
        vm_schema *rs = vm_mapping_read_schema(v->src, v->r.program);
        vm_transform *t = NULL;
        if (vm_transform_new(v->r.program, rs, v->r.target, &t, &v->e) != VM_OK)
            fail_msg("map %zu: %s", m, v->e.msg);
        vm_transform_free(t);
        vm_schema_free(rs);
    }
}

static void test_print(void **state)
{
    env *v = *state;
    assert_int_equal(resolve(v, "fields: [{source: meta.author.name, name: author}, {source: "
                                "score, type: Float, lossy: true}]"),
                     VM_OK);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    vm_mapping_print(&v->r, f);
    fclose(f);
    assert_non_null(strstr(out, "source field"));
    assert_non_null(strstr(out, "meta.author.name"));
    assert_non_null(strstr(out, "LOSSY"));
    assert_non_null(strstr(out, "warning:"));
    assert_non_null(strstr(out, "4 source rows sampled"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lift_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lift_inferred, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_to_dynamic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dynamic_key_clash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_added_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_primary_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nullable_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_partition_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collection_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_unprintable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_program_builds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

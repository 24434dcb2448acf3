/*
 * vm_yaml.h - job files (YAML 1.2, or JSON) into a jansson tree.
 *
 * Built on libyaml's event API. Plain scalars follow the YAML 1.2 core schema:
 *   null, Null, NULL, ~, (empty)          -> null
 *   true/True/TRUE, false/False/FALSE     -> boolean (yes/no/on/off are strings)
 *   [-+]?[0-9]+, [-+]?0x[0-9a-fA-F]+,
 *   [-+]?0o[0-7]+                         -> integer (int64; out of range is an
 *                                            error, never a silent double)
 *   [-+]?(.5 | 1 | 1. | 1.5)([eE][-+]?[0-9]+)? -> real
 *   .inf / .nan (any sign or case)        -> error: a job file never needs them
 *   anything else                         -> string
 * Quoted and block scalars are always strings. The standard tags !!str,
 * !!int, !!float, !!bool, !!null, !!map and !!seq are understood (!!str
 * forces a string; the others must agree with the value); any other tag is
 * an error. Because integers never pass through a double, a JSON file's
 * {"a": 9007199254740993} stays exact.
 *
 * Mappings become objects (keys must be scalars; duplicate keys are an
 * error naming the key and both lines), sequences become arrays. Anchors
 * and aliases are supported: an alias is a deep copy of the anchored node,
 * and the whole expanded document is capped at VM_YAML_MAX_NODES nodes so an
 * alias bomb fails fast. Merge keys ("<<") are not supported: "<<" is an
 * ordinary key (and so an unknown key to the config tables). Nesting deeper
 * than VM_YAML_MAX_DEPTH and more than one document per file are errors; an
 * empty file is a null document.
 *
 * Every error message starts with "origin:line:column: " (1-based).
 * Scalar values are never quoted in messages (a value may be a secret).
 */
#ifndef VM_YAML_H
#define VM_YAML_H

#include <stddef.h>

#include <jansson.h>

#include "vm_err.h"

#define VM_YAML_MAX_DEPTH 128
#define VM_YAML_MAX_NODES 1000000
#define VM_YAML_MAX_FILE (16u * 1024u * 1024u) /* bytes */

/* Parse text[0, len) (origin names it in messages; NULL -> "<string>").
 * On success *out is a new reference. When locs is not NULL, *locs receives
 * a new object mapping each node's path ("queue.properties.acks",
 * "source.fields[2]") to its position, encoded as line << 32 | column; read
 * it with vm_yaml_loc(). 0, VM_ERR_INVALID or VM_ERR_NOMEM. */
int vm_conf_parse_string_ex(const char *text, size_t len, const char *origin,
                            json_t **out, json_t **locs, vm_err *err);
int vm_conf_parse_string(const char *text, size_t len, const char *origin,
                         json_t **out, vm_err *err);

/* Read and parse a file (at most VM_YAML_MAX_FILE bytes). Besides the codes
 * above: VM_ERR_NOT_FOUND when it does not exist, VM_ERR_IO (not retriable)
 * when it cannot be read. */
int vm_conf_parse_file_ex(const char *path, json_t **out, json_t **locs, vm_err *err);
int vm_conf_parse_file(const char *path, json_t **out, vm_err *err);

/* Position of `path` in locs, or of its nearest recorded ancestor
 * ("a.b[3].c" -> "a.b[3]" -> "a.b" -> "a"; the root, path "", answers only
 * for itself). 0 and *line, *col (1-based), or -1 when nothing is recorded. */
int vm_yaml_loc(const json_t *locs, const char *path, int *line, int *col);

#endif

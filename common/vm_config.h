/*
 * vm_config.h - typed config tables and the job file.
 *
 * A module describes its settings once, as a table of vm_conf_entry (name,
 * type, default, offsetof into its own struct, help, allowed values, flags,
 * range), in the style of fluent-bit's config map and redis's
 * standardConfig. vm_conf_apply() checks a JSON object (from vm_yaml.h)
 * against the table and fills the struct: unknown keys are rejected by name,
 * wrong types, out-of-range values and missing required keys are errors
 * naming the full path ("migration.batch_rows: ..."). Defaults are strings
 * that go through the same parser as user values, so a bad default is caught
 * (as VM_ERR_INTERNAL) the first time the table is used.
 *
 * Value rules per type:
 *   STRING       a string (an unquoted 123 or true is not: quote it)
 *   SECRET       a string, {env: NAME} or {file: PATH} (see below)
 *   INT          an integer (not 1.0, not "1")
 *   BOOL         true or false
 *   DOUBLE       an integer or a real
 *   SIZE         an integer (bytes) or "<number><unit>": B, KB/MB/GB/TB
 *                (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024); units
 *                are case-insensitive, fractions are allowed ("1.5GB") and
 *                rounded down to whole bytes; stored as int64 bytes
 *   DURATION     an integer (seconds) or components like "250ms", "30s",
 *                "5m", "1h", "1h30m" (units ms, s, m, h, case-insensitive,
 *                fractions allowed, rounded down to ms); stored as int64 ms
 *   ENUM         one of enum_values ("a|b|c", exact match); stored as the
 *                int index
 *   STRING_LIST  a sequence of strings, or one string split on commas
 *                ("a:9092, b:9092"); stored as vm_strlist
 *   JSON         anything; stored as a new json_t reference for its owner to
 *                validate with its own table
 * A key whose value is null (e.g. "lease:" with nothing after it) counts as
 * absent: the default applies, or a required key is reported missing.
 * min/max apply when min < max: to the number (INT, DOUBLE), the bytes
 * (SIZE), the milliseconds (DURATION), the length (STRING) or the item count
 * (STRING_LIST).
 *
 * Secrets: {env: NAME} reads the environment variable (unset -> error naming
 * the variable); {file: PATH} reads the file (relative paths are relative to
 * the working directory; one trailing "\n" or "\r\n" is removed; at most
 * 64 KiB). A literal string is accepted with a warning. Every secret is
 * registered with vm_secret_add() as soon as it is read, must be at least
 * VM_SECRET_MIN_LEN characters, and never appears in messages or help.
 * With VM_CF_URL the secret is a URL or a libpq connection string: only
 * its password is the secret (the user-info's scheme://user:PASSWORD@host,
 * a "?password=" query parameter, a conninfo "password=..." keyword); a
 * literal without one is no secret and draws no warning.
 */
#ifndef VM_CONFIG_H
#define VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "vm_err.h"
#include "vm_yaml.h"

typedef enum vm_conf_type {
    VM_CT_STRING,      /* char * */
    VM_CT_SECRET,      /* char * (wiped on release) */
    VM_CT_INT,         /* int64_t */
    VM_CT_BOOL,        /* bool */
    VM_CT_DOUBLE,      /* double */
    VM_CT_SIZE,        /* int64_t bytes */
    VM_CT_DURATION,    /* int64_t milliseconds */
    VM_CT_ENUM,        /* int: index into enum_values */
    VM_CT_STRING_LIST, /* vm_strlist */
    VM_CT_JSON,        /* json_t * (new reference), validated later by its owner */
} vm_conf_type;

/* flags */
#define VM_CF_REQUIRED 0x1 /* absent (or null) is an error */
#define VM_CF_URL 0x2      /* SECRET: a URL or conninfo whose password is the secret */

typedef struct vm_conf_entry {
    const char *name;        /* NULL ends the table */
    vm_conf_type type;
    const char *def;         /* default as text, or NULL (zero / NULL) */
    size_t offset;           /* offsetof(struct, field) */
    const char *help;
    const char *enum_values; /* VM_CT_ENUM: "a|b|c" */
    int flags;
    int64_t min, max;        /* checked when min < max */
} vm_conf_entry;

typedef struct vm_strlist {
    char **v;
    size_t n;
} vm_strlist;

/* Where a tree came from, to put "file:line:col: " in front of messages.
 * Both members may be NULL. */
typedef struct vm_conf_where {
    const char *origin;
    const json_t *locs; /* from vm_conf_parse_*_ex */
} vm_conf_where;

/* Check obj (an object; NULL or null = empty) against table and fill out.
 * `path` is obj's own path ("source", "queue.properties"; NULL or "" for the
 * top level) and prefixes every message. out must be fresh: the fields of
 * the table are overwritten without being freed. On failure nothing is left
 * allocated in out. 0, VM_ERR_INVALID, VM_ERR_NOMEM or VM_ERR_INTERNAL (a
 * bad table or default). */
int vm_conf_apply(const vm_conf_entry *table, const json_t *obj, const char *path, void *out,
                  vm_err *err);
/* Same, with positions in messages. */
int vm_conf_apply_at(const vm_conf_entry *table, const json_t *obj, const char *path,
                     void *out, const vm_conf_where *where, vm_err *err);

/* An error about the key at `path` in the style of the table checks:
 * "file:line:col: path: message" (position when where knows it).
 * Returns code. */
int vm_conf_error(const vm_conf_where *where, vm_err *err, vm_code code, const char *path,
                  const char *fmt, ...) VM_PRINTF(5, 6);

/* Free the strings, lists and JSON references vm_conf_apply set (secrets are
 * wiped first) and zero those fields. Safe on a zeroed struct and twice. */
void vm_conf_release(const vm_conf_entry *table, void *out);

/* One line per entry: full name, type, default (never for secrets), range,
 * allowed values, help. */
void vm_conf_print_help(const vm_conf_entry *table, const char *path, FILE *f);

/* Value parsers used by the table (exposed for flags and tests). The text
 * is never echoed in messages. 0 or VM_ERR_INVALID. */
int vm_conf_parse_size(const char *text, int64_t *bytes, vm_err *err);
int vm_conf_parse_duration(const char *text, int64_t *ms, vm_err *err);

void vm_strlist_release(vm_strlist *l);

/* ---- the job file ------------------------------------------------------ */

typedef enum { VM_QUEUE_EMBEDDED = 0, VM_QUEUE_KAFKA = 1 } vm_queue_type;
typedef enum { VM_STATE_EMBEDDED = 0, VM_STATE_REDIS = 1 } vm_state_type;
typedef enum { VM_ON_EXISTING_FAIL = 0, VM_ON_EXISTING_APPEND = 1 } vm_on_existing;

typedef struct vm_job_ident_conf {
    char *id;   /* [A-Za-z0-9._-]{1,128}; derived from source and target when absent */
    char *name; /* defaults to id */
} vm_job_ident_conf;

/* source: / target: blocks. `conf` is the block without "type" (a new
 * object, never NULL after a successful load): the connector applies its own
 * table to it, e.g. vm_conf_apply_at(tbl, job->source.conf, "source", st,
 * &job->where, err). */
typedef struct vm_job_endpoint_conf {
    char *type;
    json_t *conf;
} vm_job_endpoint_conf;

typedef struct vm_job_queue_conf {
    int type;                 /* vm_queue_type */
    vm_strlist brokers;
    char *topic;
    char *dead_letter_topic;
    char *group;
    json_t *properties;       /* object: librdkafka name -> string, secrets resolved */
    bool insecure_tls;        /* skip the brokers' TLS certificate checks (warns) */
    int64_t partitions;       /* partitions of a task topic vecmig creates; 0: min(tasks, 32) */
} vm_job_queue_conf;

typedef struct vm_job_state_conf {
    int type;                 /* vm_state_type */
    char *url;                /* password in it registered as a secret */
    char *key_prefix;
    char *path;               /* embedded state file */
} vm_job_state_conf;

typedef struct vm_job_migration_conf {
    int64_t task_rows;
    int64_t batch_rows;
    int64_t batch_bytes;
    int64_t workers;          /* 0 = number of cores */
    int64_t max_attempts;
    int64_t lease_ms;
    int64_t heartbeat_ms;
    int on_existing;          /* vm_on_existing */
} vm_job_migration_conf;

typedef struct vm_job_log_conf {
    int level;                /* vm_log_level */
    int format;               /* vm_log_format */
} vm_job_log_conf;

typedef struct vm_job_metrics_conf {
    char *listen;             /* "host:port" for GET /metrics; NULL: off */
} vm_job_metrics_conf;

typedef struct vm_job_http_conf {
    char *listen;             /* "host:port" for the API and Jobs page; NULL: off */
    char *token;              /* bearer token for /api (a secret); NULL: none (loopback only) */
} vm_job_http_conf;

typedef struct vm_job_conf {
    int64_t version;
    vm_job_ident_conf job;
    vm_job_endpoint_conf source;
    vm_job_endpoint_conf target;
    vm_job_queue_conf queue;
    vm_job_state_conf state;
    vm_job_migration_conf migration;
    json_t *mapping;          /* NULL when absent; validated by the mapping module */
    /* where the mapping came from: the job file (path "mapping") or a file
     * of its own (`mapping: file.yaml`, --mapping; path "") */
    const char *mapping_path; /* "mapping" or "" */
    vm_conf_where mapping_where;
    char *mapping_origin;     /* owned, when from a file of its own */
    json_t *mapping_locs;     /* owned, idem */
    vm_job_log_conf log;
    vm_job_metrics_conf metrics;
    vm_job_http_conf http;
    /* positions for connectors' messages; owned */
    char *origin;
    json_t *locs;
    vm_conf_where where;      /* points at origin and locs */
} vm_job_conf;

/* The tables, for `vecmig help config` style output and for tests. */
extern const vm_conf_entry vm_job_ident_table[];
extern const vm_conf_entry vm_job_queue_table[];
extern const vm_conf_entry vm_job_state_table[];
extern const vm_conf_entry vm_job_migration_table[];
extern const vm_conf_entry vm_job_log_table[];
extern const vm_conf_entry vm_job_metrics_table[];
extern const vm_conf_entry vm_job_http_table[];

/* Load and check a job file. On failure *out is left zeroed (nothing to
 * release). Cross-section rules: kafka queue needs brokers and redis state;
 * redis state needs a url; heartbeat must be shorter than lease. */
int vm_job_conf_load(const char *path, vm_job_conf *out, vm_err *err);
/* Same from a tree already parsed (where may be NULL). root is not kept. */
int vm_job_conf_from_json(const json_t *root, const vm_conf_where *where, vm_job_conf *out,
                          vm_err *err);
void vm_job_conf_release(vm_job_conf *c);

/* Use the mapping in file `path` (YAML or JSON) instead of the job's own:
 * what --mapping FILE does. A job whose `mapping:` is a string names such
 * a file, relative to the job file's directory. */
int vm_job_conf_mapping_file(vm_job_conf *c, const char *path, vm_err *err);

/* Print every job-file key with type, default and help. */
void vm_job_conf_print_help(FILE *f);

#endif

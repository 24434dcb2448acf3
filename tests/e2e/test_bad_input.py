"""Bad input, one table: malformed or inconsistent job files, mapping files
and bad source data, each run through `vecmig migrate` (embedded).

For every case:
- the exit code is the documented one: 2 for a bad job or mapping file,
  1 for a migration that failed on its data;
- stderr holds ONE clear line about it, naming the key (with file:line:col
  where the loader knows it), the field or the row (document / point id);
  secrets never appear in it;
- nothing crashed: no sanitizer report, no signal;
- nothing was written that the report does not account for: for job and
  mapping errors no collection exists afterwards (pymilvus has_collection);
  for data errors the report's per-task rows_written add up to what pymilvus
  counts in the target, the failed task is counted in tasks_summary.not_done
  with the same one-line error, and the bad row is not in the target.

Sources of bad data: PostgreSQL tables (NULL vector, a value over the
target's max_length, a row larger than the request ceiling), the Qdrant
protocol fixture seeded with raw point texts through its test-only
/_fixture/raw_points hook (non-numeric, NaN, Infinity and 1e39 elements,
wrong dimensions, a null vector, a truncated payload, invalid UTF-8), and
Elasticsearch / OpenSearch documents whose _source the servers keep
verbatim: the vector field is added to the mapping after the documents were
indexed (so [1,"x",3,4] or a short vector was never checked), and a long
field with ignore_malformed keeps "abc" in _source.
"""
import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from string import Template

import pytest

from conftest import unique

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                                "qdrant"))
import qdrant_launch  # noqa: E402

ROWS = 40
BAD_ROW = 23
QKEY = "bad-input-qdrant-key-7d1e"
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
             "Segmentation fault", "core dumped")

# ---------------------------------------------------------------- the table
#
# job:     (mutation of BASE_JOB, needles in the one error line, [forbidden])
# mapping: (mapping file text, needles, table key)
# data:    (source key, needles in the task's error)
# sample:  (source key, needles): bad data met while sampling at plan time

BASE_JOB = """\
job: {id: $J}
source:
  type: pgvector
  dsn: {env: VECMIG_TEST_PG}
  table: $T
target: {type: milvus, uri: "$M"}
migration: {task_rows: 20, batch_rows: 10}
state: {path: $S}
log: {format: text}
mapping: {collection: {name: $C}}
"""


def rep(old, new):
    def f(text):
        assert old in text, old
        return text.replace(old, new, 1)
    return f


def add(extra):
    return lambda text: text + extra


def drop(line):
    return rep(line + "\n", "")


TARGET = 'target: {type: milvus, uri: "$M"}'
MIG = "migration: {task_rows: 20, batch_rows: 10"

JOB = {
    "yaml_unclosed_flow": (rep(TARGET, TARGET[:-1]),
                           [re.compile(r"job\.yaml:\d+:\d+: "), "did not find expected"]),
    "yaml_tab_indent": (rep("  type: pgvector", "\ttype: pgvector"),
                        ["job.yaml:3:1: ", "cannot start any token"]),
    "yaml_duplicate_key": (add("migration: {task_rows: 5}\n"),
                           ["job.yaml:11:1: ", 'duplicate key "migration"']),
    "empty_file": (lambda t: "", ["job.yaml", "the job file is empty"]),
    "unknown_top_key": (add("migratoin: {task_rows: 5}\n"),
                        ["job.yaml:11:1: ", "migratoin: unknown key", 'did you mean "migration"']),
    "unknown_source_key": (rep("table: $T", "tabel: $T"),
                           ["source.tabel: unknown key", 'did you mean "table"']),
    "unknown_migration_key": (rep(MIG, "migration: {task_rows: 20, batch_row: 10"),
                              ["job.yaml:7:", "migration.batch_row: unknown key",
                               'did you mean "batch_rows"']),
    "int_wrong_type": (rep(MIG, "migration: {task_rows: 20, batch_rows: ten"),
                       ["job.yaml:7:", "migration.batch_rows: expected an integer, got a string"]),
    "duration_bad_unit": (rep(MIG, MIG + ", lease: 5 parsecs"),
                          ["job.yaml:7:", "migration.lease: unknown duration unit"]),
    "bool_wrong_type": (rep(TARGET, TARGET[:-1] + ", insecure_tls: maybe}"),
                        ["target.insecure_tls: expected true or false"]),
    "size_out_of_range": (rep(MIG, MIG + ", batch_bytes: 1GB"),
                          ["job.yaml:7:", "migration.batch_bytes: 1000000000 bytes is out of range"]),
    "batch_rows_zero": (rep(MIG, "migration: {task_rows: 20, batch_rows: 0"),
                        ["job.yaml:7:", "migration.batch_rows: 0 is out of range"]),
    "task_rows_negative": (rep(MIG, "migration: {task_rows: -5, batch_rows: 10"),
                           ["job.yaml:7:", "migration.task_rows: -5 is out of range"]),
    "enum_unknown_value": (rep(MIG, MIG + ", on_existing: overwrite"),
                           ["migration.on_existing", "not one of fail|append"]),
    "version_unsupported": (add("version: 2\n"), ["job.yaml:11:1: ", "version 2"]),
    "job_id_invalid": (rep("job: {id: $J}", 'job: {id: "bad id!"}'), ["job.yaml:1:", "job.id:"]),
    "missing_source_block": (lambda t: re.sub(r"source:\n(  .*\n)+", "", t),
                             ["source: missing required key"]),
    "missing_source_type": (drop("  type: pgvector"), ["source.type: missing required key"]),
    "missing_source_table": (drop("  table: $T"), ["source.table: missing required key"]),
    "missing_target_uri": (rep(TARGET, "target: {type: milvus}"), ["target.uri: missing required key"]),
    "unknown_source_type": (rep("type: pgvector", "type: pgvectr"),
                            ["source.type: unknown source 'pgvectr'", "available:"]),
    "unknown_target_type": (rep("type: milvus", "type: milvuz"),
                            ["target.type: unknown target 'milvuz'"]),
    "secret_env_unset": (rep("{env: VECMIG_TEST_PG}", "{env: VECMIG_BAD_INPUT_UNSET}"),
                         ["source.dsn", "environment variable VECMIG_BAD_INPUT_UNSET is not set"]),
    "secret_file_missing": (rep("{env: VECMIG_TEST_PG}", "{file: /nonexistent/vecmig-dsn.txt}"),
                            ["source.dsn", "cannot read secret file /nonexistent/vecmig-dsn.txt"]),
    "secret_too_short": (rep(TARGET, TARGET[:-1] + ", token: {env: VECMIG_BAD_INPUT_SHORT}}"),
                         ["target.token", "too short"], ["Qz7"]),
    "secret_wrong_form": (rep(TARGET, TARGET[:-1] + ", token: {vault: kv/milvus}}"),
                          ["target.token", 'unknown key "vault"', "env, file"]),
    "secret_wrong_type": (rep(TARGET, TARGET[:-1] + ", token: 87654321}"),
                          ["target.token: expected a string, {env: NAME} or {file: PATH}"],
                          ["87654321"]),
    "url_without_scheme": (rep('uri: "$M"', 'uri: "$MHOST"'),
                           ["target.uri: expected http(s)://host:port"]),
    "kafka_queue_with_embedded_state": (add('queue: {type: kafka, brokers: "$K"}\n'),
                                        ["state.type", "queue.type is kafka"]),
    "heartbeat_not_shorter_than_lease": (rep(MIG, MIG + ", lease: 2s, heartbeat: 5s"),
                                         ["migration.heartbeat", "shorter than migration.lease"]),
    "mapping_file_missing": (rep("mapping: {collection: {name: $C}}", "mapping: nosuch.map.yaml"),
                             ["job.yaml: mapping: ", "nosuch.map.yaml: cannot open"]),
}

NAME = "collection: {name: $C}\n"
MAPPING = {  # mapping file text ($C: the collection name), needles[, table]
    "map_yaml_syntax": (NAME + "fields: [{source: title, name: t2}\n",
                        [re.compile(r"m\.yaml:\d+:\d+: "), "did not find expected"]),
    "map_unknown_key": (NAME + "colection: {name: x}\n",
                        ["m.yaml:2:1: ", "colection: unknown key", 'did you mean "collection"']),
    "map_unknown_field_key": (NAME + "fields: [{source: title, nmae: t2}]\n",
                              ["m.yaml:2:", "fields[0].nmae: unknown key", 'did you mean "name"']),
    "map_unknown_source_field": (NAME + "fields: [{source: titel}]\n",
                                 ["m.yaml:2:", "fields[0].source: no source field 'titel'"]),
    "map_impossible_conversion": (NAME + "fields: [{source: title, type: FloatVector, dim: 4}]\n",
                                  ["fields[0].type: source VarChar(100) cannot become FloatVector(4)"]),
    "map_lossy_without_flag": (NAME + "fields: [{source: score, type: Float}]\n",
                               ["fields[0].type: Double -> Float is lossy", "set lossy: true"]),
    "map_duplicate_target_name": (NAME + "fields: [{source: title, name: doc}]\n",
                                  ["fields[0].name: two target fields are named 'doc'"]),
    "map_invalid_field_name": (NAME + "fields: [{source: title, name: 'has space'}]\n",
                               ["fields[0].name: 'has space' is not a valid Milvus name"]),
    "map_invalid_collection_name": ("collection: {name: 9lives}\n",
                                    ["m.yaml:1:", "collection.name: '9lives' is not a valid Milvus name"]),
    "map_nullable_primary_key": (NAME + "primary_key: {field: title}\n",
                                 ["primary_key.field: 'title' is nullable"]),
    "map_too_many_vector_fields": (NAME, ["5 vector fields, Milvus allows 4"], "v5"),
    "map_partition_key_wrong_type": ("collection: {name: $C, partition_key: doc}\n",
                                     ["collection.partition_key: 'doc' is JSON",
                                      "must be Int64 or VarChar"]),
    "map_varchar_over_65535": (NAME + "fields: [{source: title, max_length: 70000}]\n",
                               ["fields[0].max_length: 70000 is out of range", "65535"]),
    "map_dim_mismatch": (NAME + "fields: [{source: emb, dim: 8}]\n",
                         ["fields[0].dim: source FloatVector(4) cannot become FloatVector(8)"]),
    "map_unknown_type": (NAME + "fields: [{source: title, type: varchar}]\n",
                         ["fields[0].type: unknown type 'varchar'"]),
    "map_added_field_without_default": (NAME + "fields: [{name: extra, type: Int64}]\n",
                                        ["fields[0]: an added field needs default"]),
    "map_default_out_of_range": (NAME + "fields: [{name: extra, type: Int8, default: 300}]\n",
                                 ["field 'extra'", "default value does not fit type Int8"]),
    "map_shards_over_16": ("collection: {name: $C, shards: 64}\n",
                           ["collection.shards: 64 is out of range"]),
    "map_partition_key_and_partitions_from": (
        "collection: {name: $C, partition_key: title, partitions_from: title}\n"
        "fields: [{source: title, nullable: false}]\n",
        ["collection.partitions_from", "not allow explicit partitions with a partition key"]),
}

DATA = {
    # PostgreSQL
    "pg_null_vector": ("pg_nullvec", [f"id = {BAD_ROW}", "'emb'", "cannot be null"]),
    "pg_varchar_over_max_length": ("pg_long", [f"row id={BAD_ROW}", "'title'", "150 bytes",
                                               "max_length 100"]),
    "pg_row_over_request_ceiling": ("pg_big", [f"row id={BAD_ROW} alone is too large to send",
                                               "2048-byte limit", "migration.batch_bytes"]),
    # Qdrant protocol fixture, raw point texts
    "qdrant_non_numeric_element": ("q_nonnum", [f"point {BAD_ROW}", "field 'vector'",
                                                'element 1: not a number: "x"']),
    "qdrant_nan_element": ("q_nan", [f"in or after point {BAD_ROW}", "not valid JSON"]),
    "qdrant_infinity_element": ("q_inf", [f"in or after point {BAD_ROW}", "not valid JSON"]),
    "qdrant_out_of_float32_range": ("q_big", [f"point {BAD_ROW}", "element 1",
                                              "not a finite float32: 1e39"]),
    "qdrant_too_few_elements": ("q_short", [f"point {BAD_ROW}", "3 elements",
                                            "the field has dimension 4"]),
    "qdrant_too_many_elements": ("q_long", [f"point {BAD_ROW}", "5 elements"]),
    "qdrant_null_vector": ("q_nullvec", [f"point {BAD_ROW} has no vector for field 'vector'"]),
    "qdrant_truncated_payload_json": ("q_trunc", [f"in or after point {BAD_ROW}",
                                                  "not valid JSON"]),
    "qdrant_invalid_utf8_payload": ("q_utf8", [f"in or after point {BAD_ROW}",
                                               "invalid UTF-8"]),
    # Elasticsearch / OpenSearch, _source kept verbatim
    "es_non_numeric_element": ("es_nonnum", [f"document 'd{BAD_ROW}'", "field 'vec'",
                                             "element 1 is not a number"]),
    "es_out_of_float32_range": ("es_big", [f"document 'd{BAD_ROW}'", "field 'vec'",
                                           "element 2 is outside the float32 range"]),
    "es_wrong_dimension": ("es_short", [f"document 'd{BAD_ROW}'", "3 elements",
                                        "the dimension is 4"]),
    "es_malformed_integer": ("es_int", [f"document 'd{BAD_ROW}'", "field 'n'",
                                        "not an integer"]),
    "opensearch_wrong_dimension": ("os_short", [f"document 'd{BAD_ROW}'", "field 'vec'",
                                                "3 elements, the dimension is 4"]),
}

SAMPLE = {
    "sampled_pg_null_vector": ("pg_nullvec", [f"id = {BAD_ROW}", "'emb'", "cannot be null"]),
    "sampled_qdrant_non_numeric": ("q_nonnum", [f"point {BAD_ROW}", "not a number"]),
}

TABLE = ([pytest.param("job", k, id=f"job-{k}") for k in JOB]
         + [pytest.param("mapping", k, id=f"mapping-{k}") for k in MAPPING]
         + [pytest.param("data", k, id=f"data-{k}") for k in DATA]
         + [pytest.param("sample", k, id=f"data-{k}") for k in SAMPLE])

# ---------------------------------------------------------------- sources


def _pg_tables(pg):
    n = {k: unique(f"bi_{k}") for k in ("base", "v5", "nullvec", "long", "big")}
    vec = "array_fill(i::real, ARRAY[4])::vector"
    pg.execute(f"""
CREATE TABLE {n['base']} (id bigint PRIMARY KEY, emb vector(4) NOT NULL, title varchar(25),
                          score double precision NOT NULL, doc jsonb);
INSERT INTO {n['base']} SELECT i, {vec}, 't' || i, i / 3.0, jsonb_build_object('a', i)
  FROM generate_series(1, {ROWS}) i;
CREATE TABLE {n['v5']} (id bigint PRIMARY KEY, a vector(2) NOT NULL, b vector(2) NOT NULL,
                        c vector(2) NOT NULL, d vector(2) NOT NULL, e vector(2) NOT NULL);
INSERT INTO {n['v5']} VALUES (1, '[1,2]', '[1,2]', '[1,2]', '[1,2]', '[1,2]');
CREATE TABLE {n['nullvec']} (id bigint PRIMARY KEY, emb vector(4));
INSERT INTO {n['nullvec']} SELECT i, CASE WHEN i = {BAD_ROW} THEN NULL ELSE {vec} END
  FROM generate_series(1, {ROWS}) i;
CREATE TABLE {n['long']} (id bigint PRIMARY KEY, emb vector(4) NOT NULL, title varchar(200));
INSERT INTO {n['long']} SELECT i, {vec}, CASE WHEN i = {BAD_ROW} THEN repeat('x', 150)
                                             ELSE 't' || i END
  FROM generate_series(1, {ROWS}) i;
CREATE TABLE {n['big']} (id bigint PRIMARY KEY, emb vector(4) NOT NULL, doc jsonb);
INSERT INTO {n['big']} SELECT i, {vec}, CASE WHEN i = {BAD_ROW}
    THEN jsonb_build_object('blob', repeat('y', 5000)) ELSE jsonb_build_object('n', i) END
  FROM generate_series(1, {ROWS}) i;
""")
    return n


def _qdrant_seed(url):
    raw = {
        "q_nonnum": {"vector": '[1,"x",3,4]'},
        "q_nan": {"vector": "[1,NaN,3,4]"},
        "q_inf": {"vector": "[1,Infinity,3,4]"},
        "q_big": {"vector": "[1,1e39,3,4]"},
        "q_short": {"vector": "[1,2,3]"},
        "q_long": {"vector": "[1,2,3,4,5]"},
        "q_nullvec": {"vector": "null"},
        "q_trunc": {"vector": "[1,2,3,4]", "payload": '{"a": [1, 2'},
        "q_utf8": {"vector": "[1,2,3,4]",
                   "payload_b64": base64.b64encode(b'{"t": "caf\xc3 au lait"}').decode()},
    }
    names = {}
    for key, point in raw.items():
        name = unique(key)
        names[key] = name
        _post(url, f"/collections/{name}", {"vectors": {"size": 4, "distance": "Euclid"}}, "PUT")
        _post(url, f"/collections/{name}/points",
              {"points": [{"id": i, "vector": [float(i)] * 4, "payload": {"n": i}}
                          for i in range(1, ROWS + 1)]}, "PUT")
        _post(url, "/_fixture/raw_points",
              {"collection": name, "points": [dict(point, id=BAD_ROW)]})
    return names


def _post(base, path, body, method="POST", ndjson=False):
    data = body.encode() if ndjson else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method=method,
        headers={"Content-Type": "application/x-ndjson" if ndjson else "application/json",
                 "api-key": QKEY})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def _search_index(base, flavor, bad):
    """An index whose _source holds `bad` for document d23: the vector field
    is mapped only after the documents were indexed (dynamic: false), so the
    server never checked the value; n is a long with ignore_malformed."""
    name = unique(f"bi_{flavor[:2]}")
    settings = {"number_of_shards": 1}
    if flavor == "opensearch":
        settings["index.knn"] = True
    _post(base, f"/{name}", {"settings": settings, "mappings": {
        "dynamic": False, "properties": {"n": {"type": "long", "ignore_malformed": True}}}},
        "PUT")
    lines = []
    for i in range(1, ROWS + 1):
        doc = {"vec": [float(i)] * 4, "n": i}
        if i == BAD_ROW:
            doc.update(bad)
        lines += [json.dumps({"index": {"_index": name, "_id": f"d{i}"}}), json.dumps(doc)]
    r = _post(base, "/_bulk?refresh=true", "\n".join(lines) + "\n", ndjson=True)
    assert not r["errors"], r
    vec = ({"type": "dense_vector", "dims": 4, "index": True, "similarity": "l2_norm"}
           if flavor == "elasticsearch" else
           {"type": "knn_vector", "dimension": 4,
            "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"}})
    _post(base, f"/{name}/_mapping", {"properties": {"vec": vec}}, "PUT")
    return name


@pytest.fixture(scope="module")
def sources(pg, env, tmp_path_factory):
    tables = _pg_tables(pg)
    log = open(tmp_path_factory.mktemp("qdrant") / "fixture.log", "w")
    proc, qurl = qdrant_launch.start(QKEY, log=log)
    os.environ["VECMIG_BAD_INPUT_QKEY"] = QKEY
    os.environ["VECMIG_BAD_INPUT_SHORT"] = "Qz7"
    es = os.environ.get("VECMIG_TEST_ES", "").rstrip("/")
    osr = os.environ.get("VECMIG_TEST_OPENSEARCH", "").rstrip("/")
    assert es and osr, 'VECMIG_TEST_ES / VECMIG_TEST_OPENSEARCH unset: eval "$(scripts/stack env)"'
    s = {"tables": tables, "qdrant": qurl, "q": _qdrant_seed(qurl), "es": es, "os": osr,
         "idx": {
             "es_nonnum": _search_index(es, "elasticsearch", {"vec": [1, "x", 3, 4]}),
             "es_big": _search_index(es, "elasticsearch", {"vec": [1, 2, 1e39, 4]}),
             "es_short": _search_index(es, "elasticsearch", {"vec": [1, 2, 3]}),
             "es_int": _search_index(es, "elasticsearch", {"n": "abc"}),
             "os_short": _search_index(osr, "opensearch", {"vec": [1, 2, 3]}),
         }}
    yield s
    qdrant_launch.stop(proc)
    log.close()
    for t in tables.values():
        pg.execute(f"DROP TABLE IF EXISTS {t}")
    for k, name in s["idx"].items():
        req = urllib.request.Request((es if k.startswith("es") else osr) + "/" + name,
                                     method="DELETE")
        urllib.request.urlopen(req, timeout=60).read()


def source_block(s, key):
    """The lines under `source:` of a job reading source `key`."""
    if key.startswith("pg_"):
        t = s["tables"][key[3:]]
        return f"  type: pgvector\n  dsn: {{env: VECMIG_TEST_PG}}\n  table: {t}\n"
    if key.startswith("q_"):
        return (f"  type: qdrant\n  url: \"{s['qdrant']}\"\n"
                f"  api_key: {{env: VECMIG_BAD_INPUT_QKEY}}\n  collection: {s['q'][key]}\n"
                f"  split: scan\n")  # an id-only pass: fewer requests than probing
    flavor, base = ("opensearch", s["os"]) if key.startswith("os_") else ("elasticsearch", s["es"])
    return f"  type: {flavor}\n  url: \"{base}\"\n  index: {s['idx'][key]}\n"


# ---------------------------------------------------------------- checks


def run(env, tmp_path, *args):
    r = subprocess.run([env["VECMIG_BIN"], "migrate", *args], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120, errors="replace")
    for bad in SANITIZER:
        assert bad not in r.stderr, r.stderr[-4000:]
    # secrets read by any case (the DSN, the Qdrant key) are never printed
    for secret in (env["VECMIG_TEST_PG"], QKEY):
        assert secret not in r.stderr and secret not in r.stdout, "a secret was printed"
    assert r.returncode >= 0, f"killed by signal {-r.returncode}: {r.stderr[-2000:]}"
    return r


def one_line(stderr):
    """The one line that is not an info/debug log line (a job that fails at
    plan time may log "job X: new job" before it)."""
    lines = [l for l in stderr.splitlines()
             if l.strip() and not re.match(r"\S+Z (info|debug) ", l)]
    assert len(lines) == 1, "expected one line:\n" + stderr
    return lines[0]


def has_needles(line, needles):
    """Every needle (a string, or a compiled pattern) is in the line."""
    for n in needles:
        found = n.search(line) if isinstance(n, re.Pattern) else n in line
        assert found, f"{n!r} not in {line!r}"


@pytest.mark.parametrize("kind,case", TABLE)
def test_bad_input(kind, case, env, milvus, sources, tmp_path):
    coll = unique("bi_never")
    subst = {"J": unique("bi"), "T": sources["tables"]["base"], "C": coll,
             "M": env["VECMIG_TEST_MILVUS"], "MHOST": env["VECMIG_TEST_MILVUS"].split("://")[1],
             "K": env["VECMIG_TEST_KAFKA"], "S": str(tmp_path / "state.db")}
    job = tmp_path / "job.yaml"
    if kind == "job":
        mutate, needles, *forbidden = JOB[case]
        job.write_text(Template(mutate(BASE_JOB)).substitute(subst))
        r = run(env, tmp_path, str(job))
        assert r.returncode == 2, r.stderr
        line = one_line(r.stderr)
        assert line.startswith("vecmig migrate: "), line
        print(f"\n{case}: {line}")
        has_needles(line, needles)
        for f in (forbidden[0] if forbidden else []):
            assert f not in r.stderr and f not in r.stdout, "a secret was printed"
        assert not milvus.has_collection(coll)
    elif kind == "mapping":
        text, needles, *table = MAPPING[case]
        if table:
            subst["T"] = sources["tables"][table[0]]
        job.write_text(Template(BASE_JOB).substitute(subst))
        mfile = tmp_path / "m.yaml"
        mfile.write_text(Template(text).substitute(subst))
        r = run(env, tmp_path, str(job), "--mapping", str(mfile))
        assert r.returncode == 2, r.stderr
        line = one_line(r.stderr)
        assert line.startswith("vecmig migrate: ") and "m.yaml" in line, line
        print(f"\n{case}: {line}")
        has_needles(line, needles)
        assert not milvus.has_collection(coll)
    elif kind == "sample":
        key, needles = SAMPLE[case]
        pg_lines = "  type: pgvector\n  dsn: {env: VECMIG_TEST_PG}\n  table: $T\n"
        job.write_text(Template(BASE_JOB.replace(pg_lines, source_block(sources, key)))
                       .substitute(subst))
        r = run(env, tmp_path, str(job))
        assert r.returncode == 1, r.stderr
        line = one_line(r.stderr)
        assert line.startswith("vecmig migrate: sampling rows for the mapping: "), line
        print(f"\n{case}: {line}")
        has_needles(line, needles)
        assert not milvus.has_collection(coll)
    else:
        data_case(env, milvus, sources, tmp_path, subst, *DATA[case])


def data_case(env, milvus, sources, tmp_path, subst, key, needles):
    """A migration that meets one bad row at run time (sample_rows: 0, so the
    plan does not read it first): exit 1, the failed task counted and named
    with the row, everything else written and accounted for."""
    coll = subst["C"]
    mig = "task_rows: 10, batch_rows: 5, max_attempts: 1"
    mapping = f"sample_rows: 0, collection: {{name: {coll}}}"
    if key == "pg_long":
        mapping += ", fields: [{source: title, max_length: 100}]"
    if key == "pg_big":
        mig += ", batch_bytes: 2KiB"
    job = tmp_path / "job.yaml"
    job.write_text(f"""\
job: {{id: {subst['J']}}}
source:
{source_block(sources, key)}target: {{type: milvus, uri: "{subst['M']}"}}
migration: {{{mig}}}
state: {{path: {subst['S']}}}
log: {{format: text}}
mapping: {{{mapping}}}
""")
    report = tmp_path / "report.json"
    r = run(env, tmp_path, str(job), "--quiet", "--report", str(report))
    assert r.returncode == 1, r.stderr[-3000:]
    rep = json.loads(report.read_text())
    assert rep["verdict"] == "failed", rep["verdict"]
    failed = [t for t in rep["tasks"] if t["state"] != "done"]
    assert len(failed) == 1 and rep["tasks_summary"]["not_done"] == 1, rep["tasks"]
    err = failed[0]["error"]
    assert "\n" not in err
    has_needles(err, needles)
    # one line says it all: the task, its range and the error naming the row
    last = [l for l in r.stderr.splitlines() if "the last:" in l]
    assert len(last) == 1, r.stderr
    assert err in last[0], (err, last[0])
    print(f"\n{key}: {last[0]}")
    # nothing written that the report does not account for
    written = sum(t["rows_written"] for t in rep["tasks"])
    assert written == rep["counts"]["rows_written"] == rep["counts"]["target_rows"]
    have = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert have == written, (have, written)
    assert 0 < written < ROWS
    pk = next(f["name"] for f in milvus.describe_collection(coll)["fields"] if f.get("is_primary"))
    bad = f'"d{BAD_ROW}"' if key[:3] in ("es_", "os_") else (
        f'"{BAD_ROW}"' if key.startswith("q_") else str(BAD_ROW))
    assert milvus.query(coll, filter=f"{pk} == {bad}", output_fields=[pk]) == []
    milvus.drop_collection(coll)

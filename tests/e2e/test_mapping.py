"""Schema control end to end: a non-trivial mapping file applied to a real
pgvector table, the created collection checked with pymilvus describe (and
the bridge's describe for what milvus-lite does not keep: shards,
consistency level) and every row checked with pymilvus query against
psycopg. Also: `plan --write-mapping` writes a file that reads back to the
same plan, bad mappings fail before anything is written, collection names
with '-' and '.', and a name already taken on the target."""
import json
import subprocess
import urllib.request

import numpy as np
import pytest
import yaml

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates

ROWS = 3000
DIM = 16


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_map")
    pg.execute(f"""
CREATE TABLE {t} (
  id bigint PRIMARY KEY, emb vector({DIM}) NOT NULL, title text, "my-tag" varchar(20),
  score double precision NOT NULL, n integer, category text NOT NULL, meta jsonb);
INSERT INTO {t}
SELECT i,
  (SELECT array_agg((((i * 131 + j * 71) % 10007)::real / 10007 - 0.5)::real)
     FROM generate_series(1, {DIM}) j)::vector,
  CASE WHEN i % 9 = 0 THEN NULL ELSE 'Titel größe ' || i END,
  't' || (i % 5),
  i / 3.0,
  CASE WHEN i % 7 = 0 THEN NULL ELSE i * 2 END,
  'cat' || (i % 4),
  CASE WHEN i % 10 = 0 THEN NULL
       ELSE jsonb_build_object('author', CASE WHEN i % 6 = 0 THEN jsonb_build_object('name', 'N' || i)
                                              ELSE jsonb_build_object('name', 'N' || i, 'age', 20 + i % 50) END,
                               'tags', jsonb_build_array('x' || (i % 3), 'y'),
                               'lang', CASE WHEN i % 2 = 0 THEN 'en' ELSE 'de' END,
                               'price', 1.10) END
FROM generate_series(1, {ROWS}) i;
CREATE INDEX ON {t} USING hnsw (emb vector_l2_ops);
ANALYZE {t};""")
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


MAPPING = """
version: 1
sample_rows: 200
collection:
  name: {coll}
  shards: 2
  consistency_level: Strong
  partition_key: category
  num_partitions: 8
  index: {{create: true, load: true}}
primary_key: {{auto_id: true, field: pk, keep_original_as: source_id}}
fields:
  - {{source: title, name: headline, max_length: 300}}
  - {{source: my-tag, name: tag}}
  - {{source: score, type: Float, lossy: true}}
  - {{source: n, type: Int64, nullable: true, default: -1}}
  - {{source: meta.author.name, name: author, type: VarChar, max_length: 64}}
  - {{source: meta.author.age, name: age, type: Int64}}
  - {{source: meta.tags, name: tags}}
  - {{name: tenant, type: VarChar, max_length: 16, default: acme}}
"""


def vecmig(env, *args, cwd=None):
    return subprocess.run([env["VECMIG_BIN"], *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def bridge(env, path, body):
    req = urllib.request.Request(env["VECMIG_TEST_MILVUS"] + "/v2/vectordb/" + path,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    return json.load(urllib.request.urlopen(req, timeout=30))


def job(env, tmp_path, table, distributed=False, extra=""):
    m = {"task_rows": 400, "batch_rows": 100, "lease": "3s", "heartbeat": "1s"}
    path = write_job(tmp_path, env, unique("map"),
                     {"dsn": "{env: VECMIG_TEST_PG}", "table": table}, migration=m,
                     log_level="debug", distributed=distributed)
    if extra:
        path.write_text(path.read_text() + extra)
    return path


def all_rows(milvus, coll):
    rows = milvus.query(coll, filter="source_id >= 0", output_fields=["*"], limit=16384)
    assert len(rows) == milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    return rows


def check_data(pg, milvus, env, coll):
    src = {r[0]: r for r in pg.execute(
        'SELECT id, emb::text, title, "my-tag", score, n, category, meta::text FROM '
        + coll_table[coll])}
    rows = all_rows(milvus, coll)
    by = {}
    for r in rows:
        by.setdefault(r["source_id"], []).append(r)
    assert set(by) == set(src), f"{len(set(src) - set(by))} missing, {len(set(by) - set(src))} extra"
    assert all(len(v) == 1 for v in by.values()), "duplicates"
    assert bridge_duplicates(env, coll) == 0
    assert len({r["pk"] for r in rows}) == len(rows)  # autoID keys are distinct
    bad = []
    for k, s in src.items():
        t = by[k][0]
        want = np.array([np.float32(x) for x in s[1].strip("[]").split(",")], dtype=np.float32)
        if not np.array_equal(want.view(np.uint32), np.array(t["emb"], dtype=np.float32).view(np.uint32)):
            bad.append((k, "emb"))
        meta = json.loads(s[7]) if s[7] else None
        author = (meta or {}).get("author") or {}
        expect = {
            "headline": s[2], "tag": s[3], "n": s[5] if s[5] is not None else -1,
            "category": s[6], "author": author.get("name"), "age": author.get("age"),
            "tags": meta["tags"] if meta else None, "tenant": "acme",
        }
        for name, v in expect.items():
            if t.get(name) != v:
                bad.append((k, name, t.get(name), v))
        if np.float32(t["score"]) != np.float32(s[4]):
            bad.append((k, "score", t["score"], s[4]))
        # the JSON field keeps everything that was not lifted
        got_meta = t["meta"]
        if isinstance(got_meta, str):
            got_meta = json.loads(got_meta)
        if meta is not None:
            rest = {kk: vv for kk, vv in meta.items() if kk != "tags"}
            rest["author"] = {kk: vv for kk, vv in author.items() if kk not in ("name", "age")}
            if not rest["author"]:
                del rest["author"]
            if got_meta != rest:
                bad.append((k, "meta", got_meta, rest))
        elif got_meta is not None:
            bad.append((k, "meta", got_meta, None))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]


coll_table = {}


def check_schema(milvus, env, coll):
    d = milvus.describe_collection(coll)
    f = {x["name"]: x for x in d["fields"]}
    assert list(f)[0] == "pk" and f["pk"]["is_primary"] and d["auto_id"]
    assert not f["source_id"].get("is_primary")
    assert f["headline"]["params"]["max_length"] == 300 and f["headline"].get("nullable")
    assert "my-tag" not in f and "title" not in f
    assert f["score"]["type"].name == "FLOAT"
    assert f["n"]["type"].name == "INT64" and f["n"].get("default_value") is not None
    assert f["category"].get("is_partition_key")
    assert f["author"]["params"]["max_length"] == 64
    assert f["tags"]["type"].name == "ARRAY" and f["tags"]["element_type"].name == "VARCHAR"
    assert f["tenant"]["params"]["max_length"] == 16
    assert f["meta"]["type"].name == "JSON"
    # what milvus-lite does not keep, from the REST describe (the bridge keeps
    # what vecmig asked for)
    rd = bridge(env, "collections/describe", {"collectionName": coll})["data"]
    assert rd["shardsNum"] == 2 and rd["consistencyLevel"] == "Strong"
    assert rd["partitionsNum"] == 8
    idx = {i["fieldName"]: i for i in rd["indexes"]}
    assert idx["emb"]["metricType"] == "L2"  # from the pgvector index's vector_l2_ops
    assert milvus.get_load_state(coll)["state"].name == "Loaded"


def test_mapping_embedded(pg, milvus, env, tmp_path, table):
    coll = unique("mapped")
    coll_table[coll] = table
    mfile = tmp_path / "map.yaml"
    mfile.write_text(MAPPING.format(coll=coll))
    j = job(env, tmp_path, table)
    # plan shows the table and writes nothing
    p = vecmig(env, "plan", str(j), "--mapping", str(mfile), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for needle in ("source field", "meta.author.name", "LOSSY", "headline", "autoID",
                   "partition key", "index vector fields", "200 asked"):
        assert needle in p.stdout, (needle, p.stdout)
    assert not milvus.has_collection(coll)
    m = subprocess.run([env["VECMIG_BIN"], "migrate", str(j), "--mapping", str(mfile), "--quiet",
                        "--workers", "2", "--report", str(tmp_path / "r.json")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert m.returncode == 0, m.stderr[-3000:]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["verdict"] == "ok" and rep["counts"]["target_rows"] == ROWS
    check_schema(milvus, env, coll)
    check_data(pg, milvus, env, coll)
    # the same name again: a clear error naming the ways out
    m2 = vecmig(env, "migrate", str(job(env, tmp_path, table)), "--mapping", str(mfile), cwd=tmp_path)
    assert m2.returncode != 0
    assert "already exists" in m2.stderr and "collection.name" in m2.stderr, m2.stderr


def test_mapping_distributed_with_kill(pg, milvus, env, tmp_path, table):
    """The program travels in the job record to worker processes; a worker
    killed mid-task under autoID is cleaned up through the kept key."""
    coll = unique("mappedd")
    coll_table[coll] = table
    mfile = tmp_path / "map.yaml"
    mfile.write_text(MAPPING.format(coll=coll))
    j = job(env, tmp_path, table, distributed=True, extra="mapping: map.yaml\n")
    run = Run(env, j, tmp_path, 2)
    p = wait_for(run.running_worker_in_task, 180, "a worker in the middle of a task")
    run.kill(p)
    run.start_worker(2)
    rc = run.wait()
    assert rc == 0, run.coordinator_output()[-3000:]
    assert any("removing rows written after the checkpoint" in l.read_text()
               for _, l in run.workers)
    check_schema(milvus, env, coll)
    check_data(pg, milvus, env, coll)


def test_write_mapping_round_trip(env, tmp_path, table):
    j = job(env, tmp_path, table)
    out = tmp_path / "written.yaml"
    p = vecmig(env, "plan", str(j), "--write-mapping", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    doc = yaml.safe_load(out.read_text())
    assert doc["version"] == 1 and doc["unmapped"] == "drop"
    names = [f.get("name") for f in doc["fields"]]
    assert "my_tag" in names  # '-' mapped to '_'
    # the sampled JSON keys are offered as commented entries
    assert "# - {source: \"meta.lang\"" in out.read_text()
    p2 = vecmig(env, "plan", str(j), "--mapping", str(out), cwd=tmp_path)
    assert p2.returncode == 0, p2.stderr
    strip = lambda s: s.split("\ntarget collection")[1]
    assert strip(p.stdout) == strip(p2.stdout)


@pytest.mark.parametrize("mapping,needle", [
    ("fields: [{source: score, type: Float}]", "fields[0].type"),
    ("fields: [{source: nope}]", "no source field 'nope'"),
    ("fields: [{source: title, name: n}]", "two target fields are named 'n'"),
    ("fields: [{source: title, name: 1bad}]", "fields[0].name"),
    ("collection: {partition_key: title}", "nullable"),
    ("collection: {shards: 64}", "collection.shards"),
    ("fields: [{source: emb, type: VarChar}]", "cannot become"),
])
def test_bad_mapping_fails_before_writing(milvus, env, tmp_path, table, mapping, needle):
    coll = unique("never")
    mfile = tmp_path / "bad.yaml"
    mfile.write_text(f"collection: {{name: {coll}}}\n" + mapping if "collection:" not in mapping
                     else mapping.replace("{", "{name: " + coll + ", ", 1))
    j = job(env, tmp_path, table)
    m = vecmig(env, "migrate", str(j), "--mapping", str(mfile), cwd=tmp_path)
    assert m.returncode == 2, m.stderr
    lines = [l for l in m.stderr.splitlines() if l.startswith("vecmig migrate:")]
    assert len(lines) == 1, m.stderr
    assert needle in lines[0] and "bad.yaml" in lines[0], lines[0]
    assert not milvus.has_collection(coll)


def test_collection_names(pg, env, tmp_path):
    t = unique("e2e_Name")
    pg.execute(f'CREATE TABLE "{t}-v1.2" (id bigint PRIMARY KEY, emb vector(2) NOT NULL);'
               f'INSERT INTO "{t}-v1.2" VALUES (1, \'[1,2]\');')
    try:
        j = write_job(tmp_path, env, unique("nm"),
                      {"dsn": "{env: VECMIG_TEST_PG}", "table": f"'\"{t}-v1.2\"'"})
        p = vecmig(env, "plan", str(j), cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert f"target collection {t}_v1_2 " in p.stdout
        j2 = write_job(tmp_path, env, unique("nm"),
                       {"dsn": "{env: VECMIG_TEST_PG}", "table": f"'\"{t}-v1.2\"'"})
        j2.write_text(j2.read_text() + "mapping: {collection: {strict_names: true}}\n")
        p = vecmig(env, "plan", str(j2), cwd=tmp_path)
        assert p.returncode == 2 and "strict_names" in p.stderr and "mapping.collection.name" in p.stderr, p.stderr
    finally:
        pg.execute(f'DROP TABLE IF EXISTS "{t}-v1.2"')


def test_default_leaves_collection_unindexed_and_unloaded(milvus, env, tmp_path, table):
    """As the reference: no index, not loaded after the run; the count still
    comes from an exact count(*) (vecmig loads for it, then undoes that)."""
    coll = unique("plain")
    j = job(env, tmp_path, table, extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
    m = vecmig(env, "migrate", str(j), "--quiet", "--report", str(tmp_path / "r.json"),
               cwd=tmp_path)
    assert m.returncode == 0, m.stderr[-3000:]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["counts"]["target_rows"] == ROWS
    assert rep["collection_setup"] == {"indexed": False, "loaded": False,
                                       "loaded_for_count_only": True, "error": None}
    assert rep["mapping"]["collection"]["name"] == coll
    assert any(f["target"] == "my_tag" for f in rep["mapping_summary"]["fields"])
    assert bridge(env, "indexes/list", {"collectionName": coll})["data"] == []
    st = bridge(env, "collections/get_load_state", {"collectionName": coll})["data"]
    assert st["loadState"] == "LoadStateNotLoad", st


def test_explicit_partitions(milvus, env, tmp_path, table):
    """partitions_from: every row lands in the partition named after its
    value (created on first use), checked per partition with pymilvus."""
    coll = unique("parts")
    j = job(env, tmp_path, table, extra=f"mapping: {{collection: {{name: {coll}, "
                                         f"partitions_from: tag}}, "
                                         f"fields: [{{source: my-tag, name: tag}}]}}\n")
    m = vecmig(env, "migrate", str(j), "--quiet", "--workers", "2", cwd=tmp_path)
    assert m.returncode == 0, m.stderr[-3000:]
    parts = set(milvus.list_partitions(coll))
    assert {f"t{i}" for i in range(5)} <= parts, parts
    total = 0
    for i in range(5):
        rows = milvus.query(coll, filter="id >= 0", output_fields=["tag"],
                            partition_names=[f"t{i}"], limit=16384)
        assert rows and all(r["tag"] == f"t{i}" for r in rows), (i, rows[:3])
        total += len(rows)
    assert total == ROWS

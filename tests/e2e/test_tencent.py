"""Tencent Cloud VectorDB -> Milvus, end to end, against the Tencent Cloud
VectorDB protocol fixture (tests/fixtures/tencent, a test fixture, not
Tencent Cloud VectorDB) seeded with the official SDK (tcvectordb).

Two collections cover both splits: `keyed` has a uint64 filter index `seq`
(not unique: three documents per value), so it is read in keyset ranges;
`plain` has none, so it is read in offset pages. `keyed` is migrated
embedded and with a coordinator and worker processes, one of which is
SIGKILLed in the middle of a task; `plain` with `vecmig migrate` SIGKILLed
in the middle of a task and then resumed; one run lifts metadata keys into typed fields through
a mapping; one runs while the fixture answers 15% of requests with 429
(Retry-After) or 503 (with the filter indexes as typed fields). Every run is verified with pymilvus straight from
milvus-lite: the exact id set, no duplicate (also the bridge's count),
vectors and sparse vectors bit-exact as float32, metadata equal.
"""
import copy
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from tcvectordb.model.enum import FieldType, IndexType, MetricType
from tcvectordb.model.index import FilterIndex, HNSWParams, Index, SparseIndex, VectorIndex

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                                "tencent"))
from tcfixture import Fixture  # noqa: E402

KEY = "e2e-tencent-key-5678"
KEY_ENV = "VECMIG_E2E_TENCENT_KEY"
DB = "e2e-db"
ROWS = 2000
DIM = 16
HUGE = 60


def keyed_doc(i, vec):
    d = {"id": f"k-{i:05d}", "vector": vec.tolist(),
         "sparse_vector": [[1000 + i, float(np.float32(i / 9))], [i % 37, 0.25]],
         "seq": i // 3, "tag": f"t{i % 4}",
         "title": f"Zürich 東京 🚀 {i}", "score": i / 7, "n": i,
         "author": {"name": f"author{i % 10}", "age": i % 90}, "tags": ["x", f"y{i % 3}"],
         "flag": i % 2 == 0}
    if i % 100 == 0:
        del d["author"]  # lifted keys missing in some documents
    return d


def plain_doc(i, vec):
    d = {"id": f"p/{i}-é", "vector": vec.tolist()}
    if i % 50:
        d.update({"n": i, "note": {"deep": {"k": [1, 2.5, "三"]}}, "ok": None})
    if i == 7:
        d["big"] = 2 ** 64 - 1  # above 2^63-1: stays a JSON number in the dynamic field
    return d


@pytest.fixture(scope="module")
def tc():
    f = Fixture(api_key=KEY)
    os.environ[KEY_ENV] = KEY
    c = f.client()
    c.create_database(DB)
    c.create_collection(DB, "keyed", 1, 0, index=Index(
        FilterIndex("id", FieldType.String, IndexType.PRIMARY_KEY),
        VectorIndex("vector", DIM, IndexType.HNSW, MetricType.L2, HNSWParams(16, 200)),
        SparseIndex("sparse_vector", FieldType.SparseVector, IndexType.SPARSE_INVERTED,
                    MetricType.IP),
        FilterIndex("seq", FieldType.Uint64, IndexType.FILTER),
        FilterIndex("tag", FieldType.String, IndexType.FILTER)))
    c.create_collection(DB, "plain", 1, 0, index=Index(
        FilterIndex("id", FieldType.String, IndexType.PRIMARY_KEY),
        VectorIndex("vector", DIM, IndexType.FLAT, MetricType.COSINE)))
    rng = np.random.default_rng(11)
    src = {}
    for name, mk in (("keyed", keyed_doc), ("plain", plain_doc)):
        vec = rng.standard_normal((ROWS, DIM)).astype(np.float32)
        docs = [mk(i, vec[i]) for i in range(ROWS)]
        for a in range(0, ROWS, 1000):
            c.upsert(DB, name, docs[a:a + 1000])
        src[name] = {d["id"]: (d, vec[i]) for i, d in enumerate(docs)}
    assert c.count(DB, "keyed") == c.count(DB, "plain") == ROWS
    # keyset values on both sides of 2^63-1 (three documents per value)
    c.create_collection(DB, "huge", 1, 0, index=Index(
        FilterIndex("id", FieldType.String, IndexType.PRIMARY_KEY),
        VectorIndex("vector", DIM, IndexType.FLAT, MetricType.IP),
        FilterIndex("seq", FieldType.Uint64, IndexType.FILTER)))
    vec = rng.standard_normal((HUGE, DIM)).astype(np.float32)
    docs = [{"id": f"h{i}", "vector": vec[i].tolist(),
             "seq": i // 3 if i < HUGE // 2 else 2 ** 64 - 1 - i // 3} for i in range(HUGE)]
    c.upsert(DB, "huge", docs)
    src["huge"] = {d["id"]: (d, vec[i]) for i, d in enumerate(docs)}
    c.close()
    f.src = src
    yield f
    f.stop()


def job(env, tmp_path, tc, coll, target, distributed=False, kill=False, extra="", batch_rows=100,
        **src):
    source = {"url": tc.url, "api_key": f"{{env: {KEY_ENV}}}", "database": DB,
              "collection": coll}
    source.update(src)
    path = write_job(tmp_path, env, unique("tc"), source, source_type="tencent",
                     migration={"task_rows": 400, "batch_rows": batch_rows, "lease": "3s"},
                     log_level="debug" if kill else "info", distributed=distributed)
    mapping = extra or f"mapping: {{collection: {{name: {target}}}}}\n"
    path.write_text(path.read_text() + mapping)
    return path


def vecmig(env, *args, cwd):
    return subprocess.run([env["VECMIG_BIN"], *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def migrate_embedded(env, tmp_path, path):
    p = vecmig(env, "migrate", str(path), "--quiet", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-2000:]
    report = json.loads(p.stdout)
    assert report["verdict"] == "ok"
    c = report["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == ROWS
    return report


def migrate_distributed(env, tmp_path, path, kill=True):
    run = Run(env, path, tmp_path, 2)
    if kill:
        p = wait_for(run.running_worker_in_task, 120, "a worker in the middle of a task")
        run.kill(p)
    rc = run.wait()
    assert rc == 0, run.coordinator_output()[-3000:]
    report = json.loads(run.report.read_text())
    assert report["verdict"] == "ok"
    c = report["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == ROWS
    return report


def verify(milvus, env, tc, name, target, lifted=(), rows_wanted=ROWS):
    """The target holds exactly the source's documents: ids, vectors and
    sparse vectors bit-exact, metadata (the dynamic field, plus lifted
    fields) equal."""
    src = tc.src[name]
    rows = milvus.query(target, filter='id != ""', output_fields=["*"], limit=16384)
    total = milvus.query(target, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(rows) == rows_wanted
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids read back"
    assert set(ids) == set(src), f"{len(set(src) - set(ids))} missing, {len(set(ids) - set(src))} extra"
    assert bridge_duplicates(env, target) == 0
    bad = []
    for r in rows:
        doc, vec = src[r["id"]]
        have = np.array(r["vector"], dtype=np.float32)
        if not np.array_equal(have.view(np.uint32), vec.view(np.uint32)):
            bad.append((r["id"], "vector"))
        if "sparse_vector" in doc:
            # an explicit 0 score is an absent entry to Milvus (it drops it)
            want = {int(k): np.float32(v) for k, v in doc["sparse_vector"] if v != 0}
            got = {int(k): np.float32(v) for k, v in r["sparse_vector"].items()}
            if got != want:
                bad.append((r["id"], "sparse_vector", got, want))
        # a top-level null key does not reach the target: the REST v2 insert
        # leaves null dynamic keys out (the bridge reproduces this)
        meta = {k: copy.deepcopy(v) for k, v in doc.items()
                if k not in ("id", "vector", "sparse_vector") and v is not None}
        for field, path in lifted:
            cur, node = meta, None
            for p in path[:-1]:
                cur = cur.get(p) if isinstance(cur, dict) else None
            node = cur.pop(path[-1], None) if isinstance(cur, dict) else None
            if isinstance(cur, dict) and not cur and len(path) > 1:
                meta.pop(path[0], None)  # a parent left empty goes too
            if r.get(field) != node:
                bad.append((r["id"], field, r.get(field), node))
        got = {k: v for k, v in r.items()
               if k not in ("id", "vector", "sparse_vector") and k not in dict(lifted)}
        if got != meta:
            bad.append((r["id"], "metadata", got, meta))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]


def test_keyset_embedded_and_plan(env, milvus, tmp_path, tc):
    target = unique("tc_keyed")
    path = job(env, tmp_path, tc, "keyed", target)
    p = vecmig(env, "plan", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "split: keyset ranges on uint64 filter index 'seq'" in p.stdout
    assert "int [-inf, " in p.stdout and "in 'seq'" in p.stdout
    assert "fields" in p.stdout and "$meta" in p.stdout  # the dynamic field's alias
    assert "FloatVector(16)" in p.stdout and "metric L2" in p.stdout
    migrate_embedded(env, tmp_path, path)
    verify(milvus, env, tc, "keyed", target)
    d = milvus.describe_collection(target)
    f = {x["name"]: x for x in d["fields"]}
    assert f["id"]["is_primary"] and f["id"]["params"]["max_length"] == 128
    assert f["vector"]["params"]["dim"] == DIM
    assert f["sparse_vector"]["type"].name == "SPARSE_FLOAT_VECTOR"
    assert d["enable_dynamic_field"]


def test_offset_killed_then_resumed_embedded(env, milvus, tmp_path, tc):
    """Offset pages; `vecmig migrate` SIGKILLed in the middle of a task, then
    the same command again resumes from the checkpoints."""
    target = unique("tc_plain")
    path = job(env, tmp_path, tc, "plain", target, kill=True, batch_rows=50)
    p = vecmig(env, "plan", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "split: offset pages (no uint64 filter index" in p.stdout
    assert "offset [0, 400)" in p.stdout and "offset [1600, +inf)" in p.stdout
    log1 = tmp_path / "kill-1.log"
    m = subprocess.Popen([env["VECMIG_BIN"], "migrate", str(path), "--workers", "2"],
                         stdout=subprocess.DEVNULL, stderr=open(log1, "w"), cwd=tmp_path)

    def in_task():
        if m.poll() is not None:
            pytest.fail("migrate exited early: " + log1.read_text()[-2000:])
        return re.search(r"task \d+(?: \([^)]*\))?: checkpoint", log1.read_text())

    wait_for(in_task, 120, "a checkpoint inside a task")
    m.send_signal(signal.SIGKILL)
    assert m.wait(60) == -signal.SIGKILL
    p2 = vecmig(env, "migrate", str(path), "--json", cwd=tmp_path)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert re.search(r"resuming after", p2.stderr), "no task resumed from its checkpoint"
    report = json.loads(p2.stdout)
    assert report["verdict"] == "ok" and report["counts"]["target_rows"] == ROWS
    verify(milvus, env, tc, "plain", target)
    big = milvus.query(target, filter='id == "p/7-é"', output_fields=["*"])[0]
    assert int(big["big"]) == 2 ** 64 - 1 or big["big"] == float(2 ** 64 - 1)


def test_keyset_distributed_with_killed_worker(env, milvus, tmp_path, tc):
    target = unique("tc_keyed_kill")
    path = job(env, tmp_path, tc, "keyed", target, distributed=True, kill=True)
    migrate_distributed(env, tmp_path, path, kill=True)
    assert any("resuming after" in p.read_text() for p in tmp_path.glob("*-worker*.log"))
    verify(milvus, env, tc, "keyed", target)


def test_lift_through_mapping(env, milvus, tmp_path, tc):
    target = unique("tc_lift")
    mapping = f"""mapping:
  collection: {{name: {target}}}
  fields:
    - {{source: fields.author.name, name: author_name, type: VarChar, max_length: 64}}
    - {{source: fields.n}}
"""
    path = job(env, tmp_path, tc, "keyed", target, extra=mapping)
    p = vecmig(env, "plan", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "fields.author.name" in p.stdout and "fields.n" in p.stdout
    migrate_embedded(env, tmp_path, path)
    d = milvus.describe_collection(target)
    f = {x["name"]: x for x in d["fields"]}
    assert f["author_name"]["type"].name == "VARCHAR"
    assert f["author_name"]["params"]["max_length"] == 64
    assert f["n"]["type"].name == "INT64"  # inferred from the sample: all integers
    verify(milvus, env, tc, "keyed", target, lifted=(("author_name", ["author", "name"]),
                                                     ("n", ["n"])))


def test_typed_fields_through_429_and_503(env, milvus, tmp_path, tc):
    """indexed_fields: typed makes each filter index a typed field; the run
    meets 429 (Retry-After: 0) and 503 on 15% of its requests and retries
    them."""
    target = unique("tc_typed")
    path = job(env, tmp_path, tc, "keyed", target, indexed_fields="typed")
    before = tc.admin("stats")["injected"]
    tc.faults(fail_rate=0.15, codes=[429, 503], retry_after=0)
    try:
        p = vecmig(env, "migrate", str(path), "--json", cwd=tmp_path)
    finally:
        tc.faults(fail_rate=0.0)
    assert p.returncode == 0, p.stderr[-3000:]
    assert tc.admin("stats")["injected"] - before >= 5
    assert "retry 1 of 5" in p.stderr and "HTTP 429" in p.stderr and "HTTP 503" in p.stderr
    report = json.loads(p.stdout)
    assert report["verdict"] == "ok" and report["counts"]["target_rows"] == ROWS
    d = milvus.describe_collection(target)
    f = {x["name"]: x for x in d["fields"]}
    assert f["seq"]["type"].name == "INT64" and f["tag"]["type"].name == "VARCHAR"
    assert f["tag"]["params"]["max_length"] == 64  # 2 x the longest sampled, at least 64
    verify(milvus, env, tc, "keyed", target, lifted=(("seq", ["seq"]), ("tag", ["tag"])))


def test_keyset_values_above_int64(env, milvus, tmp_path, tc):
    """Keyset ranges and cursors over uint64 values above 2^63-1: the last
    task has no upper bound and takes them; the values stay exact JSON
    numbers in the dynamic field."""
    target = unique("tc_huge")
    path = job(env, tmp_path, tc, "huge", target, batch_rows=4)
    path.write_text(path.read_text().replace("task_rows: 400", "task_rows: 20"))
    p = vecmig(env, "migrate", str(path), "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "holds values above 2^63-1" in p.stderr
    r = json.loads(p.stdout)
    assert r["verdict"] == "ok" and r["counts"]["target_rows"] == HUGE
    verify(milvus, env, tc, "huge", target, rows_wanted=HUGE)


def test_retry_after_is_honoured(env, tmp_path, tc):
    tc.faults(fail_next=1, codes=[429], retry_after=2)
    path = job(env, tmp_path, tc, "keyed", unique("tc_ra"))
    p = vecmig(env, "plan", str(path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "HTTP 429" in p.stderr and "retry 1 of 5 in 2000 ms" in p.stderr, p.stderr[-2000:]


@pytest.mark.parametrize("src,needle", [
    ({"api_key": "{env: VECMIG_E2E_TENCENT_BADKEY}"}, "authentication failed"),
    ({"collection": "missing"}, "collection not exist: missing"),
    ({"database": "nodb"}, "database not exist: nodb"),
    ({"split": "keyset", "collection": "plain"}, "keyset ranges need a uint64 filter index"),
    ({"split_field": "tag"}, "split_field: 'tag' is not a uint64 field"),
])
def test_errors_fail_at_plan(env, milvus, tmp_path, tc, src, needle):
    os.environ["VECMIG_E2E_TENCENT_BADKEY"] = "wrong-key-0000"
    coll = src.pop("collection", "keyed")
    target = unique("tc_err")
    path = job(env, tmp_path, tc, coll, target, **src)
    p = vecmig(env, "migrate", str(path), cwd=tmp_path)
    assert p.returncode != 0
    assert needle in p.stderr, p.stderr[-2000:]
    assert KEY not in p.stderr and "wrong-key-0000" not in p.stderr
    assert not milvus.has_collection(target)

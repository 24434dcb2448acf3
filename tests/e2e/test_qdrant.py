"""Qdrant -> Milvus end to end, against the Qdrant protocol fixture (a test
fixture, not Qdrant: tests/fixtures/qdrant) seeded with the official
qdrant-client.

The source truth is what qdrant-client reads back from the fixture (ids,
vectors as float32, sparse vectors, payloads); the target is read with
pymilvus straight from milvus-lite. Checked: the exact id set (integer ids
as decimal text, u64 above 2^63-1 included, and UUIDs), no duplicate (also
the bridge's count), named dense vectors bit-exact, the sparse vector, the
payload as the dynamic field; embedded with 3 threads, distributed with a
worker SIGKILLed mid-task and the id-scan split, a payload lift through a
mapping with 429s injected, plan output and errors.
"""
import json
import os
import random
import subprocess
import sys
import uuid
import warnings

import numpy as np
import pytest
from pymilvus import DataType
from qdrant_client import QdrantClient, models

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates, resumed_somewhere

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                                "qdrant"))
import qdrant_launch  # noqa: E402

KEY = "e2e-qdrant-key-5f2c"
KEY_ENV = "VECMIG_E2E_QDRANT_KEY"
STATIC = {"id", "text", "image", "kw"}


def seed_named(qc, name, rng):
    qc.create_collection(name, vectors_config={
        "text": models.VectorParams(size=16, distance=models.Distance.COSINE),
        "image": models.VectorParams(size=8, distance=models.Distance.MANHATTAN)},
        sparse_vectors_config={"kw": models.SparseVectorParams()})
    ids = [i * 7 for i in range(1200)] + [2**63 + i * 1000003 for i in range(99)] + [2**64 - 1]
    ids += [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(1700)]
    pts = []
    for k, pid in enumerate(ids):
        # every point has sparse terms: a point without any becomes an empty
        # sparse row, which Milvus accepts since 2.4.12 but milvus-lite refuses
        nnz = rng.randrange(1, 6)
        vec = {"text": [rng.uniform(-1, 1) for _ in range(16)],
               "image": [rng.uniform(-100, 100) for _ in range(8)],
               "kw": models.SparseVector(indices=rng.sample(range(30000), nnz),
                                         values=[rng.uniform(0.01, 3) for _ in range(nnz)])}
        payload = {} if k % 50 == 3 else {
            "n": k, "score": k / 8, "title": f"Zürich 東京 🚀 {k}", "ok": k % 2 == 0,
            "tags": ["a", f"t{k % 5}"], "author": {"name": f"author {k % 13}", "x": None}}
        pts.append(models.PointStruct(id=pid, vector=vec, payload=payload))
    for i in range(0, len(pts), 500):
        qc.upsert(name, points=pts[i:i + 500])
    return len(ids)


def read_back(qc, name):
    """Every point as qdrant-client reads it: id text -> (vectors, payload)."""
    out, offset = {}, None
    while True:
        pts, offset = qc.scroll(name, limit=500, offset=offset, with_payload=True,
                                with_vectors=True)
        for p in pts:
            out[str(p.id)] = p
        if offset is None:
            return out


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("qdrant") / "fixture.log", "w")
    proc, url = qdrant_launch.start(KEY, log=log)
    os.environ[KEY_ENV] = KEY
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qc = QdrantClient(url=url, api_key=KEY, prefer_grpc=False, check_compatibility=False,
                          timeout=60)
    rng = random.Random(20261123)
    named = unique("qd_named")
    seed_named(qc, named, rng)
    plain = unique("qd_plain")
    qc.create_collection(plain, vectors_config=models.VectorParams(
        size=8, distance=models.Distance.EUCLID))
    qc.upsert(plain, points=[models.PointStruct(
        id=i, vector=[rng.uniform(-5, 5) for _ in range(8)],
        payload={"author": {"name": f"writer {i % 9}", "born": 1900 + i % 90}, "n": i % 1000 * 3,
                 "keep": "é" * (i % 4)}) for i in list(range(1, 601)) + [2**64 - 1]])
    qc.create_collection(unique("qd_empty"), vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT))
    yield {"url": url, "qc": qc, "named": named, "plain": plain,
           "named_pts": read_back(qc, named), "plain_pts": read_back(qc, plain)}
    qdrant_launch.stop(proc)
    log.close()


def job(env, tmp_path, q, coll, target, distributed=False, extra="", **src):
    s = {"url": q["url"], "api_key": f"{{env: {KEY_ENV}}}", "collection": coll}
    s.update(src)
    mapping = extra or f"mapping: {{collection: {{name: {target}}}}}\n"
    return write_job(tmp_path, env, unique("qd"), s, source_type="qdrant",
                     migration={"task_rows": 500, "batch_rows": 100},
                     log_level="debug" if distributed else "info", distributed=distributed,
                     extra=mapping)


def migrate(env, tmp_path, j, *args):
    r = subprocess.run([env["VECMIG_BIN"], "migrate", str(j), "--workers", "3", "--json", *args],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    (tmp_path / f"{j.stem}-migrate.log").write_text(r.stderr)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "ok", rep
    return rep, r.stderr


def target(milvus, coll):
    rows = milvus.query(coll, filter='id != ""', output_fields=["*"], limit=16384)
    assert len(rows) < 16384
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(rows)
    out = {}
    for r in rows:
        assert r["id"] not in out, f"duplicate id {r['id']}"
        out[r["id"]] = r
    return out


def f32(v):
    return np.array(v, dtype=np.float32).view(np.uint32)


def verify_named(env, milvus, coll, src):
    got = target(milvus, coll)
    assert set(got) == set(src), (f"{len(set(src) - set(got))} missing, "
                                  f"{len(set(got) - set(src))} extra")
    assert bridge_duplicates(env, coll) == 0
    assert str(2**64 - 1) in got and str(2**63) in got  # u64 above 2^63-1 as text
    bad = []
    for k, p in src.items():
        t = got[k]
        for name in ("text", "image"):
            if not np.array_equal(f32(p.vector[name]), f32(t[name])):
                bad.append((k, name))
        want_kw = {}
        if "kw" in p.vector:
            want_kw = {i: np.float32(v) for i, v in zip(p.vector["kw"].indices,
                                                        p.vector["kw"].values)}
        have_kw = {int(i): np.float32(v) for i, v in t["kw"].items()}
        if want_kw != have_kw:
            bad.append((k, "kw", want_kw, have_kw))
        meta = {x: v for x, v in t.items() if x not in STATIC}
        if meta != p.payload:
            bad.append((k, "payload", meta, p.payload))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]


def test_embedded_named_sparse(env, milvus, tmp_path, qdrant):
    coll = unique("qdn")
    rep, _ = migrate(env, tmp_path, job(env, tmp_path, qdrant, qdrant["named"], coll))
    c = rep["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == len(qdrant["named_pts"])
    d = milvus.describe_collection(coll)
    f = {x["name"]: x for x in d["fields"]}
    assert f["id"].get("is_primary") and f["id"]["params"]["max_length"] == 36
    assert f["text"]["params"]["dim"] == 16 and f["image"]["params"]["dim"] == 8
    assert f["kw"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert d.get("enable_dynamic_field")
    verify_named(env, milvus, coll, qdrant["named_pts"])


def test_distributed_kill_resume_scan_split(env, milvus, tmp_path, qdrant):
    coll = unique("qdk")
    j = job(env, tmp_path, qdrant, qdrant["named"], coll, distributed=True, split="scan")
    qdrant_launch.admin(qdrant["url"], "faults", {"latency_ms": 40})
    try:
        run = Run(env, j, tmp_path, 2)
        p = wait_for(run.running_worker_in_task, 120, "a worker in the middle of a task")
        run.kill(p)
        rc = run.wait()
    finally:
        qdrant_launch.admin(qdrant["url"], "faults", {"latency_ms": 0})
    assert rc == 0, run.coordinator_output()[-3000:]
    rep = json.loads(run.report.read_text())
    assert rep["verdict"] == "ok"
    assert resumed_somewhere(tmp_path), "no task was resumed from a checkpoint"
    # split: scan cuts exactly every task_rows ids
    assert len(rep["tasks"]) == (len(qdrant["named_pts"]) + 499) // 500
    verify_named(env, milvus, coll, qdrant["named_pts"])


MAPPING = """mapping:
  collection: {{name: {coll}}}
  fields:
    - {{source: payload.author.name, name: author_name, type: VarChar, max_length: 64}}
    - {{source: payload.n}}
"""


def test_payload_lift_with_429s(env, milvus, tmp_path, qdrant):
    coll = unique("qdl")
    j = job(env, tmp_path, qdrant, qdrant["plain"], coll, extra=MAPPING.format(coll=coll))
    qdrant_launch.admin(qdrant["url"], "faults", {"fail_rate": 0.2, "fail_status": 429,
                                                   "retry_after": "0"})
    try:
        _, log = migrate(env, tmp_path, j)
    finally:
        qdrant_launch.admin(qdrant["url"], "faults", {"fail_rate": 0})
    assert "HTTP 429" in log and "retry" in log
    assert KEY not in log
    f = {x["name"]: x for x in milvus.describe_collection(coll)["fields"]}
    assert f["author_name"]["type"] == DataType.VARCHAR and f["n"]["type"] == DataType.INT64
    assert f["vector"]["type"] == DataType.FLOAT_VECTOR
    got = target(milvus, coll)
    src = qdrant["plain_pts"]
    assert set(got) == set(src) and str(2**64 - 1) in got
    for k, p in src.items():
        t = got[k]
        assert t["author_name"] == p.payload["author"]["name"]
        assert t["n"] == p.payload["n"]
        rest = {x: v for x, v in t.items() if x not in {"id", "vector", "author_name", "n"}}
        want = {"author": {"born": p.payload["author"]["born"]}, "keep": p.payload["keep"]}
        assert rest == want, (k, rest, want)
        assert np.array_equal(f32(p.vector), f32(t["vector"]))


def test_plan_and_errors(env, milvus, tmp_path, qdrant):
    coll = unique("qdp")
    j = job(env, tmp_path, qdrant, qdrant["named"], coll)
    p = subprocess.run([env["VECMIG_BIN"], "plan", str(j)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    for needle in ("Manhattan", "SparseFloatVector", "payload", "key [-inf, 'n:",
                   "'u:", "VarChar(36)"):
        assert needle in p.stdout, (needle, p.stdout)
    assert not milvus.has_collection(coll)

    def plan_fails(jf, needle):
        r = subprocess.run([env["VECMIG_BIN"], "plan", str(jf)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120, env={**os.environ, "BAD_KEY": "nope-nope"})
        assert r.returncode != 0
        assert needle in r.stderr, r.stderr
        assert KEY not in r.stderr and "nope-nope" not in r.stderr
        return r.stderr

    bad = write_job(tmp_path, env, unique("qd"), {"url": qdrant["url"], "api_key": "{env: BAD_KEY}",
                                                  "collection": qdrant["named"]},
                    source_type="qdrant", distributed=False)
    plan_fails(bad, "HTTP 401")
    missing = job(env, tmp_path, qdrant, "no_such_collection", coll)
    plan_fails(missing, "'no_such_collection' not found")
    empty = [c.name for c in qdrant["qc"].get_collections().collections
             if c.name.startswith("qd_empty")][0]
    plan_fails(job(env, tmp_path, qdrant, empty, coll), "is empty")
    unknown = job(env, tmp_path, qdrant, qdrant["named"], coll, page_size=5)
    plan_fails(unknown, "page_size")

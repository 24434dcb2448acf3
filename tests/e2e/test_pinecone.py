"""Pinecone -> Milvus end to end, against the Pinecone protocol fixture (a
test fixture, not Pinecone: tests/fixtures/pinecone) seeded with the official
`pinecone` SDK 9.x.

The source truth is what the SDK reads back from the fixture (list + fetch:
ids per namespace, values as float32, sparse values, metadata); the target is
read with pymilvus straight from milvus-lite. Checked: the exact (namespace,
id) set, no duplicate (also the bridge's count), dense values bit-exact,
sparse values, metadata as the dynamic field; several namespaces with the
default one, prefix-split namespaces (hex ids, a common "doc-" prefix, and
non-ASCII ids found by the sweep task), namespace as partition key with a
worker SIGKILLed mid-task, explicit partitions, a resume whose pagination
token expired, a metadata lift through a mapping, a sparse index, and a
pod-based index refused at plan time.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec
from pymilvus import DataType

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates, resumed_somewhere

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                                "pinecone"))
from fixture_proc import FixtureProc  # noqa: E402

KEY = "e2e-pinecone-key-7d1a"
KEY_ENV = "VECMIG_E2E_PINECONE_KEY"
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
FIXED = {"id", "values", "sparse_values", "namespace"}


def meta(rng, i):
    if i % 17 == 5:
        return None
    m = {"title": f"Zürich 東京 {i}", "n": i, "score": i / 7, "tags": ["a", f"t{i % 3}"],
         "ok": i % 2 == 0}
    if i == 3:
        m["big"] = 2 ** 53 + 1  # float64 in Pinecone: comes back as 2^53
    return m


def seed_dense(idx, rng):
    spaces = {
        "": [f"d-{i:04d}" for i in range(300)],
        # 12-hex ids split on their first character, plus ids at both ends of
        # the ASCII range (ids are ASCII without NUL)
        "alpha": [f"{rng.getrandbits(48):012x}" for _ in range(2600)]
                 + ["\x01ctl", " space", "~tilde", "\x7fdel", "A#1", "Z"],
        # one long common prefix: the split descends to "doc-"; "do" and
        # "doc" are found by the task below "doc-"
        "beta": [f"doc-{i}#chunk{j}" for i in range(500) for j in range(3)] + ["do", "doc"],
        "gamma ü": [f"g{i}" for i in range(40)],
    }
    for ns, ids in spaces.items():
        recs = []
        for i, rid in enumerate(ids):
            r = {"id": rid, "values": [rng.uniform(-1, 1) for _ in range(16)]}
            m = meta(rng, i)
            if m:
                r["metadata"] = m
            recs.append(r)
        for k in range(0, len(recs), 500):
            idx.upsert(vectors=recs[k:k + 500], namespace=ns, show_progress=False)


def seed_hybrid(idx, rng):
    for ns, n in (("s1", 300), ("s2", 200)):
        recs = []
        for i in range(n):
            nnz = rng.randrange(1, 6)
            # every record has sparse values: an empty sparse row is what
            # Milvus accepts since 2.4.12 but milvus-lite refuses
            recs.append({"id": f"{ns}-{i}", "values": [rng.uniform(-2, 2) for _ in range(8)],
                         "sparse_values": {"indices": rng.sample(range(100000), nnz),
                                           "values": [rng.uniform(0.01, 3) for _ in range(nnz)]},
                         "metadata": {"title": f"title {i % 11}", "n": i, "keep": "é" * (i % 3)}})
        idx.upsert(vectors=recs, namespace=ns, show_progress=False)


def seed_sparse(idx, rng):
    recs = [{"id": f"sp{i}", "sparse_values": {"indices": sorted(rng.sample(range(5000), 4)),
                                               "values": [rng.uniform(0.1, 1) for _ in range(4)]},
             "metadata": {"i": i}} for i in range(250)]
    idx.upsert(vectors=recs, namespace="only", show_progress=False)


def read_back(idx):
    """Every record as the SDK reads it: (namespace, id) -> Vector."""
    out = {}
    for ns in idx.describe_index_stats().namespaces:
        ids = [v.id for page in idx.list(namespace=ns) for v in page.vectors]
        for k in range(0, len(ids), 200):
            for rid, v in idx.fetch(ids=ids[k:k + 200], namespace=ns).vectors.items():
                out[(ns, rid)] = v
    return out


@pytest.fixture(scope="module")
def pcx(tmp_path_factory):
    d = tmp_path_factory.mktemp("pinecone")
    fx = FixtureProc(api_key=KEY, log_path=str(d / "fixture.log"))
    os.environ[KEY_ENV] = KEY
    pc = Pinecone(api_key=KEY, host=fx.url)
    rng = random.Random(20261123)
    names = {"dense": unique("dense").replace("_", "-"), "hybrid": unique("hyb").replace("_", "-"),
             "sparse": unique("sp").replace("_", "-"), "shared": unique("sh").replace("_", "-")}
    pc.create_index(name=names["dense"], dimension=16, metric="cosine", spec=SPEC)
    pc.create_index(name=names["shared"], dimension=2, metric="euclidean", spec=SPEC)
    pc.create_index(name=names["hybrid"], dimension=8, metric="dotproduct", spec=SPEC)
    pc.create_index(name=names["sparse"], metric="dotproduct", vector_type="sparse", spec=SPEC)
    idx = {k: pc.index(name=v) for k, v in names.items()}
    seed_dense(idx["dense"], rng)
    seed_hybrid(idx["hybrid"], rng)
    seed_sparse(idx["sparse"], rng)
    for ns in ("t1", "t2"):  # the same ids in two namespaces
        idx["shared"].upsert(vectors=[{"id": f"doc1#c{i}", "values": [i, 1.0]} for i in range(5)],
                             namespace=ns, show_progress=False)
    yield {"fx": fx, "pc": pc, "names": names,
           "src": {k: read_back(i) for k, i in idx.items()}}
    fx.stop()


def job(env, tmp_path, p, kind, distributed=False, extra="", migration=None, **src):
    s = {"api_key": f"{{env: {KEY_ENV}}}", "index": p["names"][kind],
         "control_url": f'"{p["fx"].url}"'}
    s.update(src)
    mig = {"task_rows": 1000, "batch_rows": 250}
    mig.update(migration or {})
    return write_job(tmp_path, env, unique("pc"), s, source_type="pinecone", migration=mig,
                     log_level="debug" if distributed else "info", distributed=distributed,
                     extra=extra)


def migrate(env, tmp_path, j, *args, check=True):
    r = subprocess.run([env["VECMIG_BIN"], "migrate", str(j), "--workers", "3", "--json", *args],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    if not check:
        return r
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "ok", rep
    return rep, r.stderr


def target(milvus, coll, namespaces):
    """(namespace, id) -> row, one query per namespace."""
    out = {}
    for ns in namespaces:
        rows = milvus.query(coll, filter=f"namespace == {json.dumps(ns, ensure_ascii=False)}", output_fields=["*"],
                            limit=16384)
        assert len(rows) < 16384
        for r in rows:
            assert r["namespace"] == ns
            assert (ns, r["id"]) not in out, f"duplicate id {(ns, r['id'])}"
            out[(ns, r["id"])] = r
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(out), "rows outside the namespaces read"
    return out


def f32(v):
    return np.array(v, dtype=np.float32).view(np.uint32)


def verify(env, milvus, coll, src, lifted=None):
    got = target(milvus, coll, {ns for ns, _ in src})
    assert set(got) == set(src), (f"{len(set(src) - set(got))} missing, "
                                  f"{len(set(got) - set(src))} extra")
    assert bridge_duplicates(env, coll) == 0
    bad = []
    for k, v in src.items():
        t = got[k]
        if v.values and not np.array_equal(f32(v.values), f32(t["values"])):
            bad.append((k, "values"))
        if v.sparse_values is not None:
            want = {i: np.float32(x) for i, x in zip(v.sparse_values.indices,
                                                     v.sparse_values.values)}
            have = {int(i): np.float32(x) for i, x in t["sparse_values"].items()}
            if want != have:
                bad.append((k, "sparse", want, have))
        m = {x: y for x, y in t.items() if x not in FIXED and x not in (lifted or {})}
        want_m = dict(v.metadata or {})
        for name, key in (lifted or {}).items():
            if t[name] != want_m.pop(key, None):
                bad.append((k, name, t[name]))
        if m != want_m:
            bad.append((k, "metadata", m, want_m))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]


def test_namespaces_split_embedded(env, milvus, tmp_path, pcx):
    coll = unique("pcd")
    rep, log = migrate(env, tmp_path, job(env, tmp_path, pcx, "dense",
                                          extra=f"mapping: {{collection: {{name: {coll}}}}}\n"))
    src = pcx["src"]["dense"]
    c = rep["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == len(src) == 4448
    # one task each for "" and "gamma ü"; alpha split on its first character
    # into 3, beta on the character after "doc-" into 2 plus the task below
    ranges = [t["range"] for t in rep["tasks"]]
    assert sum("in 'alpha'" in r for r in ranges) == 3, ranges
    assert sum("in 'beta'" in r and "'doc-" in r for r in ranges) == 2 + 1, ranges
    assert len(ranges) == 8, ranges
    assert "metadata key 'big'" in log and "2^53" in log
    assert KEY not in log
    f = {x["name"]: x for x in milvus.describe_collection(coll)["fields"]}
    assert f["id"].get("is_primary") and f["id"]["params"]["max_length"] == 64
    assert f["values"]["params"]["dim"] == 16 and "sparse_values" not in f
    assert f["namespace"]["type"] == DataType.VARCHAR and not f["namespace"].get("is_partition_key")
    verify(env, milvus, coll, src)
    got = milvus.query(coll, filter='id == "d-0003"', output_fields=["big"])
    assert got[0]["big"] == 2 ** 53


def test_partition_key_worker_killed(env, milvus, tmp_path, pcx):
    coll = unique("pck")
    extra = f"mapping: {{collection: {{name: {coll}, partition_key: namespace, num_partitions: 8}}}}\n"
    j = job(env, tmp_path, pcx, "dense", distributed=True, extra=extra,
            migration={"batch_rows": 100})
    try:
        run = Run(env, j, tmp_path, 2)
        # slow the reads down once the tasks are out (the workers wait only
        # 3 s for the job to exist), so that the kill lands inside a task
        wait_for(lambda: "tasks published" in run.coordinator_output(), 60, "the plan")
        pcx["fx"].faults(delay_ms=15)
        p = wait_for(run.running_worker_in_task, 120, "a worker in the middle of a task")
        run.kill(p)
        pcx["fx"].faults(delay_ms=0)
        rc = run.wait()
    finally:
        pcx["fx"].faults(delay_ms=0)
    assert rc == 0, run.coordinator_output()[-3000:]
    assert json.loads(run.report.read_text())["verdict"] == "ok"
    assert resumed_somewhere(tmp_path), "no task was resumed from a checkpoint"
    f = {x["name"]: x for x in milvus.describe_collection(coll)["fields"]}
    assert f["namespace"].get("is_partition_key")
    verify(env, milvus, coll, pcx["src"]["dense"])


def test_resume_with_expired_token(env, milvus, tmp_path, pcx):
    """Killed in the middle of a task, resumed after its pagination token
    expired: the prefix is listed again and ids up to the cursor skipped."""
    coll = unique("pct")
    j = job(env, tmp_path, pcx, "dense", namespaces='["alpha"]', list_limit=20,
            migration={"task_rows": 100000, "batch_rows": 60, "lease": "2s", "heartbeat": "500ms"},
            extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
    fx = pcx["fx"]
    fx.faults(delay_ms=20)
    log = open(tmp_path / "first.log", "w")
    try:
        first = subprocess.Popen([env["VECMIG_BIN"], "migrate", str(j), "--workers", "1"],
                                 stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        wait_for(lambda: milvus.has_collection(coll) and
                 milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"] >= 300,
                 60, "rows in the target")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        log.close()
        fx.faults(delay_ms=0)
    fx.expire_tokens()
    fx.reset_stats()
    rep, err = migrate(env, tmp_path, j)
    assert fx.stats()["token_rejections"] >= 1
    assert "pagination token was refused" in err
    src = {k: v for k, v in pcx["src"]["dense"].items() if k[0] == "alpha"}
    assert rep["counts"]["target_rows"] == len(src)
    verify(env, milvus, coll, src)


MAPPING = """mapping:
  collection: {{name: {coll}, partitions_from: namespace}}
  fields:
    - {{source: metadata.title, name: title, type: VarChar, max_length: 64}}
    - {{source: metadata.n}}
"""


def test_hybrid_lift_and_partitions_with_429s(env, milvus, tmp_path, pcx):
    coll = unique("pch")
    pcx["fx"].faults(rate=0.2, status=429, retry_after="0")
    try:
        _, log = migrate(env, tmp_path, job(env, tmp_path, pcx, "hybrid",
                                            extra=MAPPING.format(coll=coll)))
    finally:
        pcx["fx"].faults(rate=0.0)
    assert "HTTP 429" in log and re.search(r"retry \d+ of \d+ in \d+ ms", log)
    f = {x["name"]: x for x in milvus.describe_collection(coll)["fields"]}
    assert f["sparse_values"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert f["title"]["type"] == DataType.VARCHAR and f["n"]["type"] == DataType.INT64
    parts = set(milvus.list_partitions(coll))
    assert {"s1", "s2"} <= parts
    # (milvus-lite counts a whole collection for an empty filter: give one)
    in_s2 = milvus.query(coll, filter='id != ""', output_fields=["namespace"],
                         partition_names=["s2"], limit=1000)
    assert len(in_s2) == 200 and {r["namespace"] for r in in_s2} == {"s2"}
    verify(env, milvus, coll, pcx["src"]["hybrid"], lifted={"title": "title", "n": "n"})


def test_sparse_index(env, milvus, tmp_path, pcx):
    coll = unique("pcs")
    migrate(env, tmp_path, job(env, tmp_path, pcx, "sparse",
                               extra=f"mapping: {{collection: {{name: {coll}}}}}\n"))
    f = {x["name"]: x for x in milvus.describe_collection(coll)["fields"]}
    assert "values" not in f and f["sparse_values"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    verify(env, milvus, coll, pcx["src"]["sparse"])


def test_plan_and_errors(env, milvus, tmp_path, pcx):
    coll = unique("pcp")
    j = job(env, tmp_path, pcx, "dense", extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
    p = subprocess.run([env["VECMIG_BIN"], "plan", str(j)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    for needle in ("FloatVector(16)", "metric cosine -> COSINE", "metadata", "namespace",
                   "key ['doc-", "in 'gamma ü'", "all in ''"):
        assert needle in p.stdout, (needle, p.stdout)
    assert not milvus.has_collection(coll)

    def plan_fails(jf, needle):
        r = subprocess.run([env["VECMIG_BIN"], "plan", str(jf)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120, env={**os.environ, "BAD_KEY": "nope-nope"})
        assert r.returncode != 0
        assert needle in r.stderr, r.stderr
        assert KEY not in r.stderr and "nope-nope" not in r.stderr
        return r.stderr

    plan_fails(job(env, tmp_path, pcx, "dense", api_key="{env: BAD_KEY}"), "HTTP 401")
    plan_fails(job(env, tmp_path, pcx, "dense", index="no-such-index"), "does not exist")
    plan_fails(job(env, tmp_path, pcx, "dense", namespaces='["nope"]'), "no namespace 'nope'")
    plan_fails(job(env, tmp_path, pcx, "dense", page_size=5), "page_size")


def test_shared_ids_warned_and_counted(env, milvus, tmp_path, pcx):
    """An id in two namespaces is one row under the id key: plan warns, and
    the migration's count check fails instead of passing silently."""
    coll = unique("pcsh")
    j = job(env, tmp_path, pcx, "shared", extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
    p = subprocess.run([env["VECMIG_BIN"], "plan", str(j)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert p.returncode == 0 and "is in namespaces 't1' and 't2' (5 such ids" in p.stderr, p.stderr
    r = migrate(env, tmp_path, j, check=False)
    assert r.returncode == 1
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "mismatch" and rep["counts"]["target_rows"] == 5
    assert rep["counts"]["rows_written"] == 10


def test_default_namespace_called___default__(env, milvus, tmp_path):
    """Newer API versions name the default namespace "__default__" in
    describe_index_stats: it is read under that name and lands as ""."""
    fx = FixtureProc("--default-namespace", "__default__", api_key=KEY)
    try:
        pc = Pinecone(api_key=KEY, host=fx.url)
        pc.create_index(name="dflt", dimension=2, metric="cosine", spec=SPEC)
        idx = pc.index(name="dflt")
        idx.upsert(vectors=[{"id": f"r{i}", "values": [i, 1.0]} for i in range(20)],
                   show_progress=False)
        idx.upsert(vectors=[{"id": f"x{i}", "values": [1.0, i]} for i in range(10)],
                   namespace="x", show_progress=False)
        assert set(idx.describe_index_stats().namespaces) == {"__default__", "x"}
        coll = unique("pcdf")
        j = write_job(tmp_path, env, unique("pc"), {
            "api_key": f"{{env: {KEY_ENV}}}", "index": "dflt", "control_url": f'"{fx.url}"'},
            source_type="pinecone", distributed=False,
            extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
        os.environ[KEY_ENV] = KEY
        migrate(env, tmp_path, j)
        got = target(milvus, coll, {"", "x"})
        assert sorted(k for k in got if k[0] == "") == sorted(("", f"r{i}") for i in range(20))
        assert len(got) == 30
    finally:
        fx.stop()


def test_pod_index_refused(env, milvus, tmp_path):
    fx = FixtureProc("--mode", "pod", api_key=KEY)
    try:
        pc = Pinecone(api_key=KEY, host=fx.url)
        pc.create_index(name="pod-idx", dimension=4, metric="euclidean", spec=SPEC)
        pc.index(name="pod-idx").upsert(vectors=[{"id": "a", "values": [1, 2, 3, 4]}],
                                        show_progress=False)
        coll = unique("pcpod")
        j = write_job(tmp_path, env, unique("pc"), {
            "api_key": f"{{env: {KEY_ENV}}}", "index": "pod-idx", "control_url": f'"{fx.url}"'},
            source_type="pinecone", distributed=False,
            extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
        os.environ[KEY_ENV] = KEY
        for cmd in ("plan", "migrate"):
            r = subprocess.run([env["VECMIG_BIN"], cmd, str(j)], capture_output=True, text=True,
                               cwd=tmp_path, timeout=120)
            assert r.returncode != 0
            lines = [x for x in r.stderr.splitlines() if "pod-based" in x]
            assert len(lines) == 1, r.stderr
            assert "source_collection" in lines[0] and "no list operation" in lines[0]
        assert not milvus.has_collection(coll)
        # a data plane that answers list as a pod index does (not JSON) behind a
        # describe that says serverless is refused just as clearly
        sl = FixtureProc(api_key=KEY)
        try:
            Pinecone(api_key=KEY, host=sl.url).create_index(name="pod-idx", dimension=4,
                                                            metric="euclidean", spec=SPEC)
            j2 = write_job(tmp_path, env, unique("pc"), {
                "api_key": f"{{env: {KEY_ENV}}}", "index": "pod-idx",
                "control_url": f'"{sl.url}"', "host": f'"{pc.describe_index("pod-idx").host}"'},
                source_type="pinecone", distributed=False,
                extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
            r = subprocess.run([env["VECMIG_BIN"], "plan", str(j2)], capture_output=True,
                               text=True, cwd=tmp_path, timeout=120)
            assert r.returncode != 0
            lines = [x for x in r.stderr.splitlines() if "pod-based" in x]
            assert len(lines) == 1 and "/vectors/list answered HTTP 200" in lines[0], r.stderr
        finally:
            sl.stop()
    finally:
        fx.stop()

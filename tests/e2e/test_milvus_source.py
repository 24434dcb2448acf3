"""Milvus -> Milvus end to end: the `milvus` source reads collections through
the REST v2 bridge over milvus-lite (a test fixture, not Milvus:
tests/milvus_bridge) and vecmig writes them back through it.

Source collections are made with pymilvus straight in milvus-lite: an Int64
key with FloatVector + SparseFloatVector, VarChar(max_length), a partition
key, nullable and default fields, Array<VarChar>, Array<Int64>, JSON and the
dynamic field; a VarChar key; and 20,000 small rows so that a task holds
more rows than the 16,384 query window. milvus-lite cannot store Float16 /
BFloat16 / Binary vectors, so those decoders are covered by the unit tests
(tests/unit/test_milvus_source.c) only.

Checked with pymilvus: the exact key set, no duplicate, vectors bit-exact,
every field equal (nulls and defaults included), the target schema equal to
the source's field by field; embedded runs and a distributed run with a
worker SIGKILLed mid-task; an unloaded source is refused unless load: true.
"""
import json
import random
import subprocess

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates, resumed_somewhere

N_MAIN = 3000
N_STR = 1500


def f32bits(v):
    return np.array(v, dtype=np.float32).view(np.uint32).tolist()


def make_main(milvus, name, rng):
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("title", DataType.VARCHAR, max_length=40)
    s.add_field("cat", DataType.VARCHAR, max_length=16, is_partition_key=True)
    s.add_field("score", DataType.FLOAT, nullable=True)
    s.add_field("n", DataType.INT32, nullable=True, default_value=7)
    s.add_field("dbl", DataType.DOUBLE)
    s.add_field("flag", DataType.BOOL, default_value=True)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=5,
                max_length=12)
    s.add_field("nums", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    s.add_field("doc", DataType.JSON, nullable=True)
    ip = milvus.prepare_index_params()
    ip.add_index("vec", index_type="AUTOINDEX", metric_type="L2")
    ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    milvus.create_collection(name, schema=s, index_params=ip, num_partitions=4)
    rows = []
    ids = rng.sample(range(-10**12, 10**12), N_MAIN)
    for k, pid in enumerate(ids):
        r = {"id": pid,
             "vec": [rng.uniform(-1, 1) for _ in range(8)],
             "sp": {i: rng.uniform(0.01, 2) for i in rng.sample(range(5000), rng.randrange(1, 5))},
             "title": f"Zürich \"q\" \\ {k}",
             "cat": f"c{k % 5}",
             "score": None if k % 7 == 0 else rng.uniform(-5, 5),
             "dbl": rng.uniform(-1e10, 1e10),
             "tags": [f"t{j}" for j in range(k % 4)],
             "nums": [k, -k, 2**40 + k][:k % 4],
             "doc": None if k % 11 == 0 else {"k": k, "s": "東京", "a": [1, 2.5, None]}}
        if k % 3:
            r["n"] = k
        if k % 4:
            r["flag"] = k % 2 == 0
        if k % 2:
            r["extra"] = {"x": k, "y": "dyn"}
            r["note"] = f"n{k}"
        rows.append(r)
    for i in range(0, len(rows), 1000):
        milvus.insert(name, rows[i:i + 1000])
    return name


def make_str(milvus, name, rng):
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("i8", DataType.INT8)
    ip = milvus.prepare_index_params()
    ip.add_index("v", index_type="AUTOINDEX", metric_type="COSINE")
    milvus.create_collection(name, schema=s, index_params=ip)
    rows = [{"pk": f"{rng.choice(['a', 'B', 'é', 'z', '0'])}{rng.getrandbits(40):x}-{k}",
             "v": [rng.uniform(-1, 1) for _ in range(4)], "i8": k % 200 - 100}
            for k in range(N_STR)]
    milvus.insert(name, rows)
    return name


def make_big(milvus, name):
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    ip = milvus.prepare_index_params()
    ip.add_index("v", index_type="AUTOINDEX", metric_type="IP")
    milvus.create_collection(name, schema=s, index_params=ip)
    # 18,000 dense keys and 2,000 far away: with task_rows 15000 the first
    # equal-width task holds 18,000 rows, beyond the 16,384 query window
    ids = list(range(18000)) + [10**12 + 7 * i for i in range(2000)]
    rows = [{"id": i, "v": [i * 0.5, -i / 3]} for i in ids]
    for i in range(0, len(rows), 5000):
        milvus.insert(name, rows[i:i + 5000])
    return name, ids


@pytest.fixture(scope="module")
def sources(milvus):
    rng = random.Random(7)
    out = {"main": make_main(milvus, unique("mvs_main"), rng),
           "str": make_str(milvus, unique("mvs_str"), rng)}
    out["big"], out["big_ids"] = make_big(milvus, unique("mvs_big"))
    yield out
    for k in ("main", "str", "big"):
        milvus.drop_collection(out[k])


def job(env, tmp_path, src, target, distributed=False, migration=None, coll_extra="", **extra):
    s = {"uri": f'"{env["VECMIG_TEST_MILVUS"]}"', "collection": src}
    s.update(extra)
    return write_job(tmp_path, env, unique("mvs"), s, source_type="milvus",
                     migration=migration or {"task_rows": 500, "batch_rows": 100},
                     log_level="debug" if distributed else "info", distributed=distributed,
                     extra=f"mapping: {{collection: {{name: {target}{coll_extra}}}}}\n")


def migrate(env, tmp_path, j, ok=True):
    r = subprocess.run([env["VECMIG_BIN"], "migrate", str(j), "--workers", "3", "--json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    (tmp_path / f"{j.stem}-migrate.log").write_text(r.stderr)
    if not ok:
        return r
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "ok", rep
    return rep


def read_all(milvus, coll, pk, bounds):
    """Every row, in key windows below the query window."""
    out = {}
    for f in bounds:
        rows = milvus.query(coll, filter=f, output_fields=["*"], limit=16384)
        assert len(rows) < 16384
        for r in rows:
            assert r[pk] not in out, f"duplicate key {r[pk]}"
            out[r[pk]] = r
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(out)
    return out


def same_schema(milvus, a, b):
    da, db = milvus.describe_collection(a), milvus.describe_collection(b)

    def norm(d):
        return [{k: v for k, v in f.items() if k not in ("field_id",)} for f in d["fields"]]
    fa, fb = norm(da), norm(db)
    assert [f["name"] for f in fa] == [f["name"] for f in fb]
    for x, y in zip(fa, fb):
        assert x == y, (x, y)
    assert da.get("enable_dynamic_field") == db.get("enable_dynamic_field")
    assert da.get("auto_id") == db.get("auto_id")


def compare(env, milvus, src, dst, pk, bounds):
    a, b = read_all(milvus, src, pk, bounds), read_all(milvus, dst, pk, bounds)
    assert set(a) == set(b), f"{len(set(a) - set(b))} missing, {len(set(b) - set(a))} extra"
    assert bridge_duplicates(env, dst) == 0
    bad = []
    for k, ra in a.items():
        rb = b[k]
        if set(ra) != set(rb):
            bad.append((k, "keys", set(ra) ^ set(rb)))
            continue
        for f, va in ra.items():
            vb = rb[f]
            if isinstance(va, list) and va and isinstance(va[0], float) or f in ("vec", "v"):
                ok = f32bits(va) == f32bits(vb)
            elif isinstance(va, dict) and f == "sp":
                ok = {int(i): f32bits([x]) for i, x in va.items()} == \
                     {int(i): f32bits([x]) for i, x in vb.items()}
            elif isinstance(va, float) and f == "score":
                ok = f32bits([va]) == f32bits([vb])
            else:
                ok = va == vb
            if not ok:
                bad.append((k, f, va, vb))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]
    return a


INT_ALL = ["id < 0", "id >= 0"]
PK_MAP = ", num_partitions: 4"


def test_embedded_every_type(env, milvus, tmp_path, sources):
    dst = unique("mvs_t")
    # the source's partition key is copied as it is; the partition count is
    # the mapping's (collection.num_partitions, default 64)
    rep = migrate(env, tmp_path, job(env, tmp_path, sources["main"], dst,
                                     coll_extra=PK_MAP + ", index: true"))
    c = rep["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == N_MAIN
    same_schema(milvus, sources["main"], dst)
    f = {x["name"]: x for x in milvus.describe_collection(dst)["fields"]}
    assert f["title"]["params"]["max_length"] == 40 and f["cat"].get("is_partition_key")
    assert f["n"].get("nullable") and f["n"].get("default_value") is not None
    rows = compare(env, milvus, sources["main"], dst, "id", INT_ALL)
    assert sum(1 for r in rows.values() if r["score"] is None) > 0
    assert sum(1 for r in rows.values() if "extra" in r) > 0
    ix = {i: milvus.describe_index(dst, i) for i in milvus.list_indexes(dst)}
    assert {d["field_name"]: d["metric_type"] for d in ix.values()}.get("vec") == "L2"
    milvus.drop_collection(dst)


def test_varchar_key(env, milvus, tmp_path, sources):
    dst = unique("mvs_s")
    rep = migrate(env, tmp_path, job(env, tmp_path, sources["str"], dst,
                                     migration={"task_rows": 400, "batch_rows": 70}))
    assert len(rep["tasks"]) >= 3
    same_schema(milvus, sources["str"], dst)
    compare(env, milvus, sources["str"], dst, "pk", ['pk != ""'])
    milvus.drop_collection(dst)


def test_beyond_query_window(env, milvus, tmp_path, sources):
    dst = unique("mvs_b")
    rep = migrate(env, tmp_path, job(env, tmp_path, sources["big"], dst,
                                     migration={"task_rows": 15000, "batch_rows": 4000}))
    assert rep["counts"]["target_rows"] == 20000 and len(rep["tasks"]) == 2
    got = compare(env, milvus, sources["big"], dst, "id",
                  ["id < 10000", "id >= 10000 and id < 100000", "id >= 100000"])
    assert sorted(got) == sorted(sources["big_ids"])
    milvus.drop_collection(dst)


def test_distributed_kill_resume(env, milvus, tmp_path, sources):
    dst = unique("mvs_k")
    j = job(env, tmp_path, sources["main"], dst, distributed=True, coll_extra=PK_MAP,
            migration={"task_rows": 600, "batch_rows": 20, "lease": "4s", "heartbeat": "1s"})
    run = Run(env, j, tmp_path, 2)
    p = wait_for(run.running_worker_in_task, 120, "a worker in the middle of a task")
    run.kill(p)
    run.start_worker(2)
    rc = run.wait()
    assert rc == 0, run.coordinator_output()[-3000:]
    assert json.loads(run.report.read_text())["verdict"] == "ok"
    assert resumed_somewhere(tmp_path), "no task was resumed from a checkpoint"
    compare(env, milvus, sources["main"], dst, "id", INT_ALL)
    milvus.drop_collection(dst)


def test_unloaded_source(env, milvus, tmp_path, sources):
    name = sources["str"]
    milvus.release_collection(name)
    try:
        dst = unique("mvs_u")
        r = migrate(env, tmp_path, job(env, tmp_path, name, dst), ok=False)
        assert r.returncode != 0
        assert f"'{name}' is not loaded" in r.stderr and "load: true" in r.stderr
        migrate(env, tmp_path, job(env, tmp_path, name, dst, load="true"))
        compare(env, milvus, name, dst, "pk", ['pk != ""'])
        milvus.drop_collection(dst)
    finally:
        milvus.load_collection(name)

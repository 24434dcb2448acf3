"""pgvector -> Milvus through Kafka workers and Redis state, end to end.

Every check reads the target with pymilvus straight from milvus-lite (never
through vecmig or the REST bridge) and the source with psycopg, and compares
row by row: the exact primary-key set, every vector bit-identical as float32,
every scalar equal, NULLs preserved; plus the bridge's duplicate-insert count
(milvus-lite would silently overwrite a duplicate key that real Milvus keeps).
"""
import json
import os
import re
import signal
import subprocess
import urllib.request

import numpy as np
import pytest

from conftest import Run, unique, wait_for, write_job

ROWS = 20000
DIM = 768

TABLE_SQL = """
CREATE TABLE {t} (
  id bigint PRIMARY KEY,
  emb vector({dim}) NOT NULL,
  half halfvec(8) NOT NULL,
  sp sparsevec(1000) NOT NULL,
  small smallint, i4 integer, f4 real, f8 double precision, flag boolean,
  title text, name varchar(40),
  doc jsonb, meta json,
  tags text[], nums integer[], scores double precision[],
  uid uuid, ts timestamptz, d date, amount numeric(12,4)
);
INSERT INTO {t}
SELECT i,
  (SELECT array_agg((((i * 7919 + j * 104729) % 100003)::real / 100003 - 0.5)::real)
     FROM generate_series(1, {dim}) j)::vector,
  (SELECT array_agg(((i + j) % 97)::real / 32) FROM generate_series(1, 8) j)::halfvec,
  ('{{' || (i % 500) + 1 || ':' || (i % 13 + 1)::real / 7 || ',' || 501 + (i * 7) % 499 || ':0.25}}/1000')::sparsevec,
  CASE WHEN i % 11 = 1 THEN NULL ELSE (i % 30000)::smallint END,
  CASE WHEN i % 11 = 2 THEN NULL ELSE i * 3 END,
  CASE WHEN i % 11 = 3 THEN NULL ELSE (i::real / 3.0)::real END,
  CASE WHEN i % 11 = 4 THEN NULL ELSE i::float8 / 7.0 END,
  CASE WHEN i % 11 = 5 THEN NULL ELSE i % 2 = 0 END,
  CASE WHEN i % 11 = 6 THEN NULL ELSE 'Zürich 東京 🚀 row ' || i END,
  CASE WHEN i % 11 = 7 THEN NULL ELSE 'n' || i END,
  CASE WHEN i % 11 = 8 THEN NULL ELSE jsonb_build_object('k', i, 'tags', jsonb_build_array('a', i % 5), 'txt', 'é' || i) END,
  CASE WHEN i % 11 = 9 THEN NULL ELSE json_build_object('m', i % 3) END,
  CASE WHEN i % 11 = 10 THEN NULL ELSE ARRAY['t' || (i % 7), 'ü' || (i % 3)] END,
  CASE WHEN i % 13 = 0 THEN NULL ELSE ARRAY[i, i + 1, i + 2] END,
  CASE WHEN i % 13 = 1 THEN NULL ELSE ARRAY[i / 3.0, 0.1] END,
  CASE WHEN i % 13 = 2 THEN NULL ELSE md5(i::text)::uuid END,
  CASE WHEN i % 13 = 3 THEN NULL ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' END,
  CASE WHEN i % 13 = 4 THEN NULL ELSE date '2020-01-01' + i END,
  CASE WHEN i % 13 = 5 THEN NULL ELSE (i / 7.0)::numeric(12,4) END
FROM generate_series(1, {rows}) i;
ANALYZE {t};
"""

TEXT_COLS = ["uid", "ts", "d", "amount"]


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_items")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def f32(tokens):
    return np.array([np.float32(x) for x in tokens], dtype=np.float32)


def source_rows(pg, t):
    cols = ("id, emb::text, half::text, sp::text, small, i4, f4::text, f8, flag, title, name, "
            "doc::text, meta::text, tags, nums, scores, uid::text, ts::text, d::text, amount::text")
    out = {}
    for r in pg.execute(f"SELECT {cols} FROM {t}"):
        out[r[0]] = r
    return out


def target_rows(milvus, coll, lo, hi, pk="id", window=5000):
    """Every row with lo <= pk <= hi, by disjoint key windows smaller than the
    query limit (milvus-lite returns pages in segment order, not key order,
    so offset or "greater than the last key" paging would skip rows)."""
    rows = {}
    for a in range(lo, hi + 1, window):
        got = milvus.query(coll, filter=f"{pk} >= {a} and {pk} < {a + window}",
                           output_fields=["*"], limit=16384)
        assert len(got) < 16384
        for r in got:
            rows.setdefault(r[pk], []).append(r)
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == sum(len(v) for v in rows.values()), "rows outside the source key range"
    return rows


def bridge_duplicates(env, coll):
    req = urllib.request.Request(env["VECMIG_TEST_MILVUS"] + "/_bridge/duplicates",
                                 data=json.dumps({"collectionName": coll}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    return json.load(urllib.request.urlopen(req, timeout=30))["data"]["duplicates"]


def parse_sparse(text):
    body, _ = text.split("/")
    out = {}
    for kv in body.strip("{}").split(","):
        if kv:
            k, v = kv.split(":")
            out[int(k) - 1] = np.float32(v)  # text form is 1-based, Milvus 0-based
    return out


def verify(pg, milvus, env, table, coll):
    src = source_rows(pg, table)
    tgt = target_rows(milvus, coll, min(src), max(src))
    assert set(tgt) == set(src), f"PK sets differ: {len(set(src) - set(tgt))} missing, {len(set(tgt) - set(src))} extra"
    dups = [k for k, v in tgt.items() if len(v) != 1]
    assert not dups, f"duplicate keys read back: {dups[:5]}"
    assert bridge_duplicates(env, coll) == 0
    bad = []
    for k, s in src.items():
        t = tgt[k][0]
        want = f32(s[1].strip("[]").split(","))
        have = np.array(t["emb"], dtype=np.float32)
        if not np.array_equal(want.view(np.uint32), have.view(np.uint32)):
            bad.append((k, "emb"))
        # halfvec read as FloatVector (halfvec_as: float): exact half values
        want_h = np.array([np.float16(x) for x in s[2].strip("[]").split(",")]).astype(np.float32)
        if not np.array_equal(want_h, np.array(t["half"], dtype=np.float32)):
            bad.append((k, "half"))
        sp = {int(i): np.float32(v) for i, v in t["sp"].items()}
        if sp != parse_sparse(s[3]):
            bad.append((k, "sp", sp, s[3]))
        checks = [
            ("small", s[4]), ("i4", s[5]), ("f8", s[7]), ("flag", s[8]),
            ("title", s[9]), ("name", s[10]), ("tags", s[13]), ("nums", s[14]),
            ("scores", s[15]), ("uid", s[16]), ("ts", s[17]), ("d", s[18]), ("amount", s[19]),
        ]
        for name, want_v in checks:
            if t[name] != want_v:
                bad.append((k, name, t[name], want_v))
        if (s[6] is None) != (t["f4"] is None) or (s[6] is not None and
                                                   np.float32(s[6]) != np.float32(t["f4"])):
            bad.append((k, "f4", t["f4"], s[6]))
        for name, txt in (("doc", s[11]), ("meta", s[12])):
            want_j = None if txt is None else json.loads(txt)
            got_j = t[name]
            if isinstance(got_j, str):
                got_j = json.loads(got_j)
            if got_j != want_j:
                bad.append((k, name, got_j, want_j))
        if len(bad) > 10:
            break
    assert not bad, f"values differ: {bad[:10]}"
    return len(src)


def resumed_somewhere(tmp_path):
    """Some worker took a task over from its checkpoint."""
    return any("resuming after" in p.read_text() for p in tmp_path.glob("*-worker*.log"))


def migrate(env, tmp_path, table, workers, job_id=None, kill=False):
    job_id = job_id or unique("e2e")
    coll = unique("c")
    job = write_job(tmp_path, env, job_id,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    log_level="debug" if kill else "info")
    run = Run(env, job, tmp_path, workers)
    if kill:
        # wait until a worker checkpointed inside a task, then SIGKILL it there
        p = wait_for(run.running_worker_in_task, 180, "a worker in the middle of a task")
        run.kill(p)
    rc = run.wait()
    out = run.coordinator_output()
    assert rc == 0, out[-3000:]
    report = json.loads(run.report.read_text())
    assert report["verdict"] == "ok"
    c = report["counts"]
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == c["source_rows_end"]
    return coll, report


def test_one_worker(pg, milvus, env, tmp_path, table):
    coll, report = migrate(env, tmp_path, table, 1)
    assert report["counts"]["target_rows"] == ROWS
    assert verify(pg, milvus, env, table, coll) == ROWS
    # the schema was carried over: every field with its type and limits
    d = milvus.describe_collection(coll)
    names = {f["name"]: f for f in d["fields"]}
    assert names["id"].get("is_primary") and not d.get("auto_id")
    assert names["emb"]["params"]["dim"] == DIM
    assert names["name"]["params"]["max_length"] == 160  # varchar(40) x 4 bytes (UTF-8)


def test_three_workers(pg, milvus, env, tmp_path, table):
    coll, report = migrate(env, tmp_path, table, 3)
    owners = {t.get("owner") for t in report["tasks"]}
    assert len(owners) >= 2, f"only {owners} did the work"
    assert verify(pg, milvus, env, table, coll) == ROWS


def test_worker_killed_mid_task(pg, milvus, env, tmp_path, table):
    coll, report = migrate(env, tmp_path, table, 3, kill=True)
    assert report["counts"]["target_rows"] == ROWS
    assert resumed_somewhere(tmp_path), "no task was resumed from a checkpoint"
    assert verify(pg, milvus, env, table, coll) == ROWS


NOPK_ROWS = 6000


@pytest.fixture(scope="module")
def nopk_table(pg):
    t = unique("e2e_nopk")
    pg.execute(f"""
CREATE TABLE {t} (emb vector(64) NOT NULL, label text, n integer);
INSERT INTO {t}
SELECT (SELECT array_agg(((i * 31 + j * 17) % 1009)::real / 1009) FROM generate_series(1, 64) j)::vector,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'ñ' || i END, i
FROM generate_series(1, {NOPK_ROWS}) i;
ANALYZE {t};""")
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def test_no_primary_key_autoid_exact(pg, milvus, env, tmp_path, nopk_table):
    """ctid split, autoID target, a worker killed mid-task: still exactly one
    target row per source row (the resumed task deletes what it wrote after
    its checkpoint, found through pg_ctid, before writing again)."""
    job_id = unique("e2e_nopk")
    coll = unique("c")
    job = write_job(tmp_path, env, job_id,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": nopk_table, "collection": coll},
                    migration={"task_rows": 1500, "batch_rows": 100}, log_level="debug")
    run = Run(env, job, tmp_path, 2)
    p = wait_for(run.running_worker_in_task, 180, "a worker in the middle of a task")
    run.kill(p)
    rc = run.wait()
    assert rc == 0, run.coordinator_output()[-3000:]
    report = json.loads(run.report.read_text())
    assert report["verdict"] == "ok"
    assert report["counts"]["target_rows"] == NOPK_ROWS
    assert report["tasks"][0]["range"].startswith("ctid")
    assert resumed_somewhere(tmp_path), "no task was resumed from a checkpoint"
    assert any("removing rows written after the checkpoint" in p.read_text()
               for p in tmp_path.glob("*-worker*.log"))

    d = milvus.describe_collection(coll)
    assert d["auto_id"]
    src = {}
    for ctid, emb, label, n in pg.execute(f"SELECT ctid::text, emb::text, label, n FROM {nopk_table}"):
        b, o = (int(x) for x in ctid.strip("()").split(","))
        src[b * 65536 + o] = (emb, label, n)
    seen = {}
    maxb = max(src) // 65536
    for b in range(0, maxb + 1, 40):
        got = milvus.query(coll, filter=f"pg_ctid >= {b * 65536} and pg_ctid < {(b + 40) * 65536}",
                           output_fields=["*"], limit=16384)
        for r in got:
            seen.setdefault(r["pg_ctid"], []).append(r)
    dups = [k for k, v in seen.items() if len(v) > 1]
    assert not dups, f"{len(dups)} source rows written twice"
    assert set(seen) == set(src)
    for k, (emb, label, n) in src.items():
        r = seen[k][0]
        want = f32(emb.strip("[]").split(","))
        assert np.array_equal(want.view(np.uint32), np.array(r["emb"], dtype=np.float32).view(np.uint32))
        assert r["label"] == label and r["n"] == n


BAD = {
    "wrong_credentials": (None, "nosuchuser"),
    "missing_table": (None, "no_such_table_e2e"),
    "no_vector_column": ("CREATE TABLE {t} (id int PRIMARY KEY, title text); INSERT INTO {t} VALUES (1, 'a')",
                         "no vector column"),
    "vector_without_dim": ("CREATE TABLE {t} (id int PRIMARY KEY, v vector);"
                           "INSERT INTO {t} VALUES (1, '[1,2]'), (2, '[1,2,3]')", "'v'"),
    "unsupported_type": ("CREATE TABLE {t} (id int PRIMARY KEY, v vector(2), p point);"
                         "INSERT INTO {t} VALUES (1, '[1,2]', '(1,2)')", "'p'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_at_plan_time(pg, milvus, env, tmp_path, case):
    ddl, needle = BAD[case]
    t = unique("e2e_bad")
    coll = unique("c")
    dsn = env["VECMIG_TEST_PG"]
    table = t
    if case == "wrong_credentials":
        dsn = re.sub(r"user=\S+", "user=nosuchuser", dsn)
        pg.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v vector(2))")
    elif case == "missing_table":
        table = "no_such_table_e2e"
    else:
        pg.execute(ddl.format(t=t))
    try:
        job = write_job(tmp_path, env, unique("e2e_bad"),
                        {"dsn": f'"{dsn}"', "table": table, "collection": coll})
        out = subprocess.run([env["VECMIG_BIN"], "coordinator", "start", str(job)],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode != 0
        lines = [l for l in out.stderr.splitlines() if l.startswith("vecmig coordinator:")]
        assert len(lines) == 1, out.stderr
        assert needle in lines[0], lines[0]
        assert not milvus.has_collection(coll), "something was written to the target"
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {t}")


def test_source_changed_is_reported_not_lost(pg, milvus, env, tmp_path):
    """Rows inserted into the source while the job runs: the verdict says the
    source changed (exit 1), not that rows were lost."""
    t = unique("e2e_moving")
    pg.execute(f"""
CREATE TABLE {t} (id bigint PRIMARY KEY, v vector(8) NOT NULL);
INSERT INTO {t} SELECT i, array_fill(i::real, ARRAY[8])::vector FROM generate_series(1, 3000) i;
ANALYZE {t};""")
    try:
        job = write_job(tmp_path, env, unique("e2e_moving"),
                        {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": t, "collection": unique("c")},
                        migration={"task_rows": 500, "batch_rows": 50}, log_level="debug")
        run = Run(env, job, tmp_path, 1)
        wait_for(run.running_worker_in_task, 120, "the job to be running")
        pg.execute(f"INSERT INTO {t} SELECT i, array_fill(0::real, ARRAY[8])::vector "
                   f"FROM generate_series(3001, 3010) i")
        rc = run.wait()
        assert rc == 1
        report = json.loads(run.report.read_text())
        assert report["verdict"] == "source_changed"
        assert report["counts"]["source_rows_start"] == 3000
        assert report["counts"]["source_rows_end"] == 3010
        assert "the source changed during the run" in run.coordinator_output()
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {t}")

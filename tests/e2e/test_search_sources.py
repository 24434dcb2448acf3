"""Elasticsearch and OpenSearch -> Milvus end to end, against the real
servers scripts/stack runs (Elasticsearch 8.19 and OpenSearch 2.19 + k-NN,
Maven Central test distributions; security off, so authentication is
covered by unit tests only).

Each index has 12,000 documents (more than the 10,000 result window) with a
16-d float vector, text with quotes and non-ASCII, integers (some sent as
strings, which the servers coerce and _source keeps), doubles, booleans,
missing fields, keyword fields holding one value or an array, and an
object; Elasticsearch also a byte vector. The index names hold '-' and '.'.

Checked with pymilvus straight from milvus-lite: the exact _id set, no
duplicate, vectors bit-exact as float32 of the numbers in _source, every
field equal to _source. Runs: embedded with one slice (paging past the
result window), distributed with a worker SIGKILLed mid-slice, a slice
resumed after its point in time / scroll expired, and a query plus a
lift out of an object field through a mapping.
"""
import json
import os
import random
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates

N = 12000
DIM = 16


def f32bits(v):
    return np.array(v, dtype=np.float32).view(np.uint32).tolist()


class Server:
    def __init__(self, flavor):
        self.flavor = flavor
        var = "VECMIG_TEST_ES" if flavor == "elasticsearch" else "VECMIG_TEST_OPENSEARCH"
        self.base = os.environ.get(var, "").rstrip("/")
        assert self.base, f'{var} is not set: eval "$(scripts/stack env)"'

    def call(self, method, path, body=None, ndjson=False):
        data = None
        headers = {}
        if body is not None:
            data = body.encode() if ndjson else json.dumps(body).encode()
            headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: HTTP {e.code}: {e.read()[:400]!r}")


def make_docs(rng, es):
    docs = {}
    for i in range(N):
        d = {"vec": [rng.uniform(-1, 1) for _ in range(DIM)],
             "title": f"doc {i} \"q\" Zürich 東京",
             "n": str(i) if i % 50 == 0 else i,
             "flag": i % 2 == 0}
        if i % 7:
            d["price"] = rng.uniform(-1e6, 1e6)
        if i % 3 == 0:
            d["tags"] = [f"t{i % 5}", f"u{i % 11}"]
        elif i % 3 == 1:
            d["tags"] = f"solo{i % 13}"
        d["meta"] = {"a": f"m{i}", "b": {"c": i * 3}}
        if es:
            d["bvec"] = [rng.randrange(-128, 128) for _ in range(4)]
        docs[f"d-{i:05d}"] = d
    return docs


def make_index(server, name, docs):
    es = server.flavor == "elasticsearch"
    props = {"title": {"type": "text"}, "n": {"type": "integer"}, "flag": {"type": "boolean"},
             "price": {"type": "double"}, "tags": {"type": "keyword"},
             "meta": {"properties": {"a": {"type": "keyword"}, "b": {"properties": {"c": {"type": "long"}}}}}}
    settings = {"number_of_shards": 3, "number_of_replicas": 0}
    if es:
        props["vec"] = {"type": "dense_vector", "dims": DIM, "similarity": "cosine"}
        props["bvec"] = {"type": "dense_vector", "dims": 4, "element_type": "byte",
                         "similarity": "l2_norm"}
    else:
        settings["index.knn"] = True
        props["vec"] = {"type": "knn_vector", "dimension": DIM,
                        "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}}
    server.call("PUT", "/" + name, {"settings": settings, "mappings": {"properties": props}})
    ids = list(docs)
    for k in range(0, len(ids), 3000):
        lines = []
        for i in ids[k:k + 3000]:
            lines.append(json.dumps({"index": {"_id": i}}))
            lines.append(json.dumps(docs[i]))
        r = server.call("POST", f"/{name}/_bulk", "\n".join(lines) + "\n", ndjson=True)
        assert r["errors"] is False
    server.call("POST", f"/{name}/_refresh")
    assert server.call("GET", f"/{name}/_count")["count"] == len(docs)


@pytest.fixture(scope="module", params=["elasticsearch", "opensearch"])
def index(request):
    server = Server(request.param)
    name = unique(f"vecmig-e2e.{request.param[:2]}-")
    docs = make_docs(random.Random(11), request.param == "elasticsearch")
    make_index(server, name, docs)
    yield server, name, docs
    try:
        server.call("DELETE", "/" + name)
    except AssertionError:
        pass


def job_for(env, tmp_path, server, name, coll, migration, distributed, extra_source=None,
            fields=None):
    src = {"url": f'"{server.base}"', "index": f'"{name}"'}
    src.update(extra_source or {})
    m = f"collection: {{name: {coll}}}" + (f", fields: [{fields}]" if fields else "")
    return write_job(tmp_path, env, unique("srch"), src, source_type=server.flavor,
                     migration=migration, distributed=distributed,
                     log_level="debug" if distributed else "info",
                     extra=f"mapping: {{{m}}}\n")


def read_all(milvus, coll):
    out = {}
    for lo in "0123456789":  # ids d-00000 .. d-11999: windows below the query window
        rows = milvus.query(coll, filter=f'id like "d-{lo}%"' if lo != "0" else
                            'id like "d-0%"', output_fields=["*"], limit=16384)
        for r in rows:
            assert r["id"] not in out, f"duplicate id {r['id']}"
            out[r["id"]] = r
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(out)
    return out


def check(env, milvus, coll, docs, lifted=False):
    got = read_all(milvus, coll)
    assert set(got) == set(docs), f"{len(set(docs) - set(got))} missing, {len(set(got) - set(docs))} extra"
    assert bridge_duplicates(env, coll) == 0
    bad = []
    for i, d in docs.items():
        r = got[i]
        if f32bits(r["vec"]) != f32bits(d["vec"]):
            bad.append((i, "vec"))
        if "bvec" in d and f32bits(r["bvec"]) != f32bits([float(x) for x in d["bvec"]]):
            bad.append((i, "bvec"))
        exp = {"title": d["title"], "n": int(d["n"]), "flag": d["flag"], "price": d.get("price")}
        tags = d.get("tags")
        exp["tags"] = None if tags is None else tags if isinstance(tags, list) else [tags]
        if lifted:
            exp["meta_a"] = d["meta"]["a"]
            exp["meta"] = {"b": d["meta"]["b"]}
        else:
            exp["meta"] = d["meta"]
        for k, v in exp.items():
            if r.get(k) != v:
                bad.append((i, k, v, r.get(k)))
        if len(bad) > 10:
            break
    assert not bad, bad[:10]


def migrate(env, tmp_path, j):
    r = subprocess.run([env["VECMIG_BIN"], "migrate", str(j), "--workers", "2", "--json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    (tmp_path / f"{j.stem}-migrate.log").write_text(r.stderr)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "ok", rep["counts"]
    return rep, r.stderr


def test_embedded_one_slice_past_the_window(env, milvus, tmp_path, index):
    server, name, docs = index
    coll = unique("srch_one")
    # one slice of 12,000 documents: search_after / scroll pages past 10,000
    j = job_for(env, tmp_path, server, name, coll,
                {"task_rows": 20000, "batch_rows": 1000}, distributed=False)
    rep, log = migrate(env, tmp_path, j)
    assert rep["counts"]["source_rows_start"] == N and len(rep["tasks"]) == 1
    desc = milvus.describe_collection(coll)
    fields = {f["name"]: f for f in desc["fields"]}
    assert fields["id"]["is_primary"] and fields["id"]["params"]["max_length"] == 512
    assert fields["vec"]["params"]["dim"] == DIM
    assert fields["tags"]["element_type"].name == "VARCHAR"
    check(env, milvus, coll, docs)
    # the default collection name: '-' and '.' become '_'
    j2 = write_job(tmp_path, env, unique("srch"),
                   {"url": f'"{server.base}"', "index": f'"{name}"'},
                   source_type=server.flavor, distributed=False,
                   migration={"task_rows": 5000, "batch_rows": 1000})
    r = subprocess.run([env["VECMIG_BIN"], "plan", str(j2)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"target collection {name.replace('-', '_').replace('.', '_')} " in r.stdout
    assert "3 tasks" in r.stdout
    milvus.drop_collection(coll)


def test_distributed_worker_killed_mid_slice(env, milvus, tmp_path, index):
    server, name, docs = index
    coll = unique("srch_kill")
    # 5,000 of the documents (a query) in 4 slices: enough to kill a reader mid-slice
    docs = {i: d for i, d in docs.items() if int(d["n"]) < 5000}
    j = job_for(env, tmp_path, server, name, coll,
                {"task_rows": 1250, "batch_rows": 100, "lease": "4s", "heartbeat": "1s"},
                distributed=True, extra_source={"query": "{range: {n: {lt: 5000}}}"})
    run = Run(env, j, tmp_path, 2)
    p = wait_for(run.running_worker_in_task, 180, "a worker in the middle of a slice")
    run.kill(p)
    run.start_worker(2)
    assert run.wait() == 0, run.coordinator_output()[-3000:]
    rep = json.loads(run.report.read_text())
    # the resumed slice skipped or continued: nothing counted twice
    assert rep["verdict"] == "ok", rep["counts"]
    assert rep["counts"]["rows_read"] == len(docs)
    logs = "".join(p.read_text() for p in tmp_path.glob("*-worker*.log"))
    assert "resuming after" in logs
    if server.flavor == "opensearch":  # sliced scroll: the slice is read again, skipping
        assert "skipping the" in logs
    check(env, milvus, coll, docs)
    milvus.drop_collection(coll)


def test_expired_context_resumes(env, milvus, tmp_path, index):
    """A worker dies; the point in time expires before another worker takes
    its slice over: the slice is read in a new one (the stack reaps expired
    contexts every second)."""
    server, name, docs = index
    coll = unique("srch_exp")
    docs = {i: d for i, d in docs.items() if int(d["n"]) < 4000}
    j = job_for(env, tmp_path, server, name, coll,
                {"task_rows": 2000, "batch_rows": 100, "lease": "3s", "heartbeat": "1s"},
                distributed=True, extra_source={"keep_alive": "2s", "read": "pit",
                                                "query": "{range: {n: {lt: 4000}}}"})
    run = Run(env, j, tmp_path, 1)
    p = wait_for(run.running_worker_in_task, 180, "the worker in the middle of a slice")
    run.kill(p)
    if server.flavor == "opensearch":
        # OpenSearch keeps a PIT at least 30 s whatever keep_alive says:
        # end them all (the servers are the test stack's)
        server.call("DELETE", "/_search/point_in_time/_all")
    else:
        time.sleep(5)  # > keep_alive + the reaper's interval
    run.start_worker(1)
    assert run.wait() == 0, run.coordinator_output()[-3000:]
    rep = json.loads(run.report.read_text())
    assert rep["verdict"] == "ok", rep["counts"]
    logs = "".join(p.read_text() for p in tmp_path.glob("*-worker*.log"))
    assert "point in time expired" in logs
    if server.flavor == "opensearch":  # _id sort values outlive the PIT
        assert "continuing in a new point in time after the last _id" in logs
    else:  # _shard_doc values do not: read again, skip what was written
        assert "skipping the documents already written" in logs
    check(env, milvus, coll, docs)
    milvus.drop_collection(coll)


def test_query_and_lift(env, milvus, tmp_path, index):
    server, name, docs = index
    coll = unique("srch_q")
    want = {i: d for i, d in docs.items() if 1000 <= int(d["n"]) < 3500}
    j = job_for(env, tmp_path, server, name, coll, {"task_rows": 1000, "batch_rows": 500},
                distributed=False,
                extra_source={"query": "{range: {n: {gte: 1000, lt: 3500}}}"},
                fields="{source: meta.a, name: meta_a, type: VarChar, max_length: 32}")
    rep, _ = migrate(env, tmp_path, j)
    assert rep["counts"]["source_rows_start"] == len(want) == 2500
    check(env, milvus, coll, want, lifted=True)
    milvus.drop_collection(coll)


class AuthProxy:
    """An authentication-checking HTTP proxy in front of the test server (a
    test fixture, not Elasticsearch or OpenSearch security, which the test
    distributions lack): every request must carry the expected
    Authorization header, else HTTP 401 with the servers' error shape."""

    def __init__(self, upstream, expect):
        import http.server
        import threading
        proxy = self
        self.upstream, self.expect, self.seen = upstream, expect, []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.command, self.path.split("?")[0],
                                   self.headers.get("Authorization")))
                if self.headers.get("Authorization") != proxy.expect:
                    out = json.dumps({"error": {"root_cause": [{"type": "security_exception",
                                      "reason": "unable to authenticate"}],
                                      "type": "security_exception",
                                      "reason": "unable to authenticate"}, "status": 401}).encode()
                    self.send_response(401)
                else:
                    req = urllib.request.Request(proxy.upstream + self.path, data=body or None,
                                                 method=self.command,
                                                 headers={"Content-Type": "application/json"})
                    try:
                        with urllib.request.urlopen(req, timeout=60) as r:
                            out, code = r.read(), r.status
                    except urllib.error.HTTPError as e:
                        out, code = e.read(), e.code
                    self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Test-Fixture", "auth-checking proxy")
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_auth_headers_reach_the_server(env, milvus, tmp_path, index, monkeypatch):
    """ApiKey (Elasticsearch) and Basic (both) on every request; a wrong
    secret fails at plan in one line naming the key to check."""
    server, name, docs = index
    import base64
    es = server.flavor == "elasticsearch"
    key = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
    expect = f"ApiKey {key}" if es else \
        "Basic " + base64.b64encode(b"migrator:p\xc3\xa4ss:w").decode()
    proxy = AuthProxy(server.base, expect)
    try:
        monkeypatch.setenv("VM_TEST_SECRET", key if es else "päss:w")
        cred = {"api_key": "{env: VM_TEST_SECRET}"} if es else \
            {"username": "migrator", "password": "{env: VM_TEST_SECRET}"}
        coll = unique("srch_auth")
        src = {"url": f'"{proxy.url}"', "index": f'"{name}"', "query": "{range: {n: {lt: 600}}}"}
        src.update(cred)
        j = write_job(tmp_path, env, unique("srch"), src, source_type=server.flavor,
                      distributed=False, migration={"task_rows": 300, "batch_rows": 100},
                      extra=f"mapping: {{collection: {{name: {coll}}}}}\n")
        rep, log = migrate(env, tmp_path, j)
        assert rep["counts"]["rows_written"] == 600
        assert key not in log and "päss" not in log
        paths = {(m, p) for m, p, _ in proxy.seen}
        assert ("POST", f"/{name}/_count") in paths and ("GET", f"/{name}/_mapping") in paths
        assert all(a == expect for _, _, a in proxy.seen), proxy.seen[:3]
        milvus.drop_collection(coll)
        # a wrong secret: one line, naming what to check, nothing created
        monkeypatch.setenv("VM_TEST_SECRET", "wrong")
        r = subprocess.run([env["VECMIG_BIN"], "plan", str(j)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
        assert r.returncode != 0
        line = [ln for ln in r.stderr.splitlines() if "HTTP 401" in ln]
        assert line and ("source.api_key" if es else "source.username") in line[0], r.stderr
        assert "wrong" not in r.stderr
    finally:
        proxy.close()

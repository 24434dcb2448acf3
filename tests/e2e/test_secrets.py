"""Secrets never leave vecmig: one random secret ("s3cr3t-<hex>") is planted
in every credential field a job can have, real migrations run with it, and
every output is searched for it. Zero hits.

Where the secret is, and proof that it is really used (each server refuses
the wrong one, checked first):
  * PostgreSQL: the password of a role of its own, checked by the server
    (a pg_hba.conf line asks for scram-sha-256 for roles named
    vecmig_secret_*, ahead of the stack's `trust` lines; the line stays, it
    concerns no other role); as a URI password, and as source.password.
  * Milvus: the token a private REST bridge (--token) requires, as the
    target's token and the milvus source's token.
  * Redis: a private redis-server with requirepass and an ACL user vecmig
    whose password it is (state.url redis://vecmig:SECRET@...).
  * Kafka: sasl.password in queue.properties, as {env:} and as a literal
    (warned, naming the key). The stack's broker is PLAINTEXT only and a
    second broker with SASL would cost a JVM start, so the property rides
    along in an otherwise working configuration: librdkafka holds it, vecmig
    registers and never shows it.
  * HTTP sources: the api keys the Qdrant, Pinecone and Tencent protocol
    fixtures (--api-key) require; the Elasticsearch api_key and the
    OpenSearch password (security is off in the stack's servers: sent, not
    checked).
  * A target uri with user:SECRET@ pointing at a closed port: a failing
    run whose errors name that URL.
  * A dsn whose password libpq cannot percent-decode: libpq's own message
    quotes it ("invalid percent-encoded token: ...").

Runs: a failing and a succeeding distributed migration (coordinator and a
worker process over Kafka and Redis; the failing one dead-letters a task),
a failing and a succeeding embedded one, the failing target and dsn, and an
embedded migration from each HTTP source and from Milvus, plus `vecmig
plan`.

Searched: the stdout and stderr of every process (log level debug), the
reports, every file the runs wrote (SQLite state file with its WAL, read
both as bytes and row by row), the private Redis (every key and value, by
type, and its append-only file, which holds every write ever made), and
Kafka: every message of the jobs' topics (read with vm_topic_dump) plus the
broker's raw log segments of those topics and of __consumer_offsets; the
jobs' topics found in the broker's data directory must be exactly the two
each job is documented to have. Each search is shown able to find the
secret where it was put on purpose (a canary)."""
import json
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import warnings

import psycopg
import pytest

from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
for sub in ("qdrant", "pinecone", "tencent"):
    sys.path.insert(0, os.path.join(FIX, sub))
import qdrant_launch  # noqa: E402
from fixture_proc import FixtureProc  # noqa: E402
from tcfixture import Fixture as TencentFixture  # noqa: E402

BRIDGE = os.path.join(HERE, "..", "milvus_bridge", "bridge.py")
SECRET = "s3cr3t-" + secrets.token_hex(12)
ROWS = 1200
BAD_ID = 1111
HBA_LINE = "host all /^vecmig_secret_ 127.0.0.1/32 scram-sha-256"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url, body=b"{}", headers=None):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def hits(data: bytes):
    return data.count(SECRET.encode())


# ---------------------------------------------------------------- the stage

def pg_require_password(pg):
    """A scram-sha-256 line for vecmig_secret_* roles ahead of the trust lines."""
    hba = pg.execute("SHOW hba_file").fetchone()[0]
    with open(hba) as f:
        text = f.read()
    if HBA_LINE not in text:
        st = os.stat(hba)
        with open(hba, "w") as f:
            f.write(f"# vecmig tests/e2e/test_secrets.py: these roles need their password\n"
                    f"{HBA_LINE}\n{text}")
        os.chown(hba, st.st_uid, st.st_gid)
    assert pg.execute("SELECT pg_reload_conf()").fetchone()[0]


def start_redis(d, port):
    os.makedirs(d, exist_ok=True)
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                          "--dir", d, "--requirepass", SECRET,
                          "--user", "vecmig", "on", ">" + SECRET, "~*", "&*", "+@all"],
                         stdout=open(os.path.join(d, "..", "redis.log"), "w"),
                         stderr=subprocess.STDOUT)
    wait_for(lambda: redis_cli(port, "PING", auth=False).stdout.strip() != "", 20, "redis")
    return p


def redis_cli(port, *args, auth=True):
    cmd = ["redis-cli", "-p", str(port), "--no-auth-warning"]
    if auth:
        cmd += ["--user", "vecmig", "--pass", SECRET]
    return subprocess.run(cmd + list(args), capture_output=True, timeout=30)


def start_bridge(d, grpc, port):
    os.makedirs(d, exist_ok=True)
    p = subprocess.Popen([sys.executable, BRIDGE, "--host", "127.0.0.1", "--port", str(port),
                          "--milvus-uri", grpc, "--state-dir", d, "--token", SECRET],
                         stdout=open(os.path.join(d, "..", "bridge.log"), "w"),
                         stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v2/vectordb/collections/list"

    def up():
        if p.poll() is not None:
            pytest.fail("the bridge exited")
        try:
            return http_status(url) == 401
        except OSError:
            return False
    wait_for(up, 60, "the bridge")
    return p


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def seed_http_sources(stage):
    """Small collections in the Qdrant, Pinecone and Tencent fixtures, each
    requiring SECRET as its api key."""
    from qdrant_client import QdrantClient, models
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qc = QdrantClient(url=stage["qdrant_url"], api_key=SECRET, prefer_grpc=False,
                          check_compatibility=False, timeout=60)
    qc.create_collection("sec", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE))
    qc.upsert("sec", points=[models.PointStruct(id=i, vector=[i, 1.0, 2.0, 3.0],
                                                payload={"n": i}) for i in range(1, 301)])

    from pinecone import Pinecone, ServerlessSpec
    pc = Pinecone(api_key=SECRET, host=stage["pinecone"].url)
    pc.create_index(name="sec", dimension=4, metric="cosine",
                    spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    pc.index(name="sec").upsert(vectors=[{"id": f"p{i}", "values": [i, 1.0, 2.0, 3.0]}
                                         for i in range(1, 301)], show_progress=False)

    from tcvectordb.model.enum import FieldType, IndexType, MetricType
    from tcvectordb.model.index import FilterIndex, Index, VectorIndex
    c = stage["tencent"].client()
    c.create_database("secdb")
    c.create_collection("secdb", "sec", 1, 0, index=Index(
        FilterIndex("id", FieldType.String, IndexType.PRIMARY_KEY),
        VectorIndex("vector", 4, IndexType.FLAT, MetricType.COSINE)))
    c.upsert("secdb", "sec", [{"id": f"t{i}", "vector": [i, 1.0, 2.0, 3.0]}
                              for i in range(1, 301)])
    c.close()

    for var, flavor in (("VECMIG_TEST_ES", "es"), ("VECMIG_TEST_OPENSEARCH", "os")):
        base = os.environ[var].rstrip("/")
        name = stage[f"{flavor}_index"]
        vec = ({"type": "dense_vector", "dims": 4, "similarity": "cosine"} if flavor == "es" else
               {"type": "knn_vector", "dimension": 4, "method": {
                   "name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}})
        settings = {"number_of_shards": 1, "number_of_replicas": 0}
        if flavor == "os":
            settings["index.knn"] = True
        search_call(base, "PUT", "/" + name, {"settings": settings, "mappings": {
            "properties": {"vec": vec, "n": {"type": "integer"}}}})
        bulk = "".join(json.dumps({"index": {"_id": f"e{i}"}}) + "\n" +
                       json.dumps({"vec": [i, 1.0, 2.0, 3.0], "n": i}) + "\n"
                       for i in range(1, 301))
        assert search_call(base, "POST", f"/{name}/_bulk?refresh=true", bulk)["errors"] is False


def search_call(base, method, path, body=None):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    ctype = "application/x-ndjson" if isinstance(body, str) else "application/json"
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture(scope="module")
def stage(env, pg, tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    st = {"root": root, "inputs": root / "inputs", "out": root / "out",
          "hex": secrets.token_hex(4), "procs": []}
    st["inputs"].mkdir()
    st["out"].mkdir()
    st["role"] = f"vecmig_secret_{st['hex']}"
    st["ok_table"], st["bad_table"] = f"sec_ok_{st['hex']}", f"sec_bad_{st['hex']}"
    st["colls"] = []
    st["es_index"] = f"vecmig-secret-es-{st['hex']}"
    st["os_index"] = f"vecmig-secret-os-{st['hex']}"
    pgdsn = env["VECMIG_TEST_PG"]
    m = re.search(r"port=(\d+)", pgdsn)
    st["pg_port"] = int(m.group(1)) if m else 5432
    try:
        # servers that need the secret
        st["redis_port"], st["bridge_port"] = free_port(), free_port()
        st["procs"].append(start_redis(str(root / "redis" / "data"), st["redis_port"]))
        st["procs"].append(start_bridge(str(root / "bridge" / "state"),
                                        env["VECMIG_TEST_MILVUS_GRPC"], st["bridge_port"]))
        st["bridge"] = f"http://127.0.0.1:{st['bridge_port']}"
        qproc, st["qdrant_url"] = qdrant_launch.start(
            SECRET, log=open(root / "qdrant.log", "w"))
        st["procs"].append(qproc)
        st["pinecone"] = FixtureProc(api_key=SECRET, log_path=str(root / "pinecone.log"))
        st["tencent"] = TencentFixture(api_key=SECRET)
        seed_http_sources(st)

        # PostgreSQL: a role whose password is the secret, checked by the server
        pg_require_password(pg)
        pg.execute(f"CREATE ROLE {st['role']} LOGIN PASSWORD '{SECRET}'")
        for t in (st["ok_table"], st["bad_table"]):
            pg.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, n bigint, title text, "
                       f"v vector(4))")
            pg.execute(f"INSERT INTO {t} SELECT i, CASE WHEN '{t}' = '{st['bad_table']}' "
                       f"AND i = {BAD_ID} THEN 5000000000 ELSE i END, 'row ' || i, "
                       f"ARRAY[i, 1, 2, 3]::vector FROM generate_series(1, {ROWS}) i")
            pg.execute(f"GRANT SELECT ON {t} TO {st['role']}")

        # secrets in the environment and in files, outside every output folder
        sec_dir = st["inputs"] / "secrets"
        sec_dir.mkdir()
        (sec_dir / "milvus_token").write_text(SECRET + "\n")
        (sec_dir / "pinecone_key").write_text(SECRET)
        st["token_file"] = str(sec_dir / "milvus_token")
        st["pinecone_key_file"] = str(sec_dir / "pinecone_key")
        host = f"host=127.0.0.1 port={st['pg_port']} dbname=postgres user={st['role']}"
        st["env"] = dict(os.environ,
                         VM_SEC_PG_URI=f"postgresql://{st['role']}:{SECRET}@127.0.0.1:"
                                       f"{st['pg_port']}/postgres",
                         VM_SEC_PG_DSN=host, VM_SEC_PG_PW=SECRET, VM_SEC_KAFKA=SECRET,
                         # a password libpq refuses to decode, and quotes in its message
                         VM_SEC_PG_BADURI=f"postgresql://{st['role']}:{SECRET}%zz@127.0.0.1:"
                                          f"{st['pg_port']}/postgres",
                         VM_SEC_REDIS_URL=f"redis://vecmig:{SECRET}@127.0.0.1:"
                                          f"{st['redis_port']}/0",
                         VM_SEC_TOKEN=SECRET, VM_SEC_API_KEY=SECRET)
        yield st
    finally:
        for p in st["procs"]:
            stop(p)
        for k in ("pinecone", "tencent"):
            if k in st:
                st[k].stop()
        for var, k in (("VECMIG_TEST_ES", "es_index"), ("VECMIG_TEST_OPENSEARCH", "os_index")):
            try:
                search_call(os.environ[var].rstrip("/"), "DELETE", "/" + st[k])
            except (OSError, KeyError):
                pass
        pg.execute(f"DROP TABLE IF EXISTS {st['ok_table']}, {st['bad_table']}")
        pg.execute(f"DROP ROLE IF EXISTS {st['role']}")


def test_servers_refuse_without_the_secret(env, stage):
    """Each credential really guards something: without it, refused."""
    s = stage
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"host=127.0.0.1 port={s['pg_port']} dbname=postgres "
                        f"user={s['role']} password=wrong-password").close()
    psycopg.connect(s["env"]["VM_SEC_PG_URI"]).close()
    assert b"NOAUTH" in redis_cli(s["redis_port"], "PING", auth=False).stdout
    assert redis_cli(s["redis_port"], "ACL", "WHOAMI").stdout.strip() == b"vecmig"
    coll_list = s["bridge"] + "/v2/vectordb/collections/list"
    assert http_status(coll_list) == 401
    assert http_status(coll_list, headers={"Authorization": "Bearer " + SECRET}) == 200
    assert http_status(s["qdrant_url"] + "/collections", body=None) == 401
    assert http_status(s["qdrant_url"] + "/collections", body=None,
                       headers={"api-key": SECRET}) == 200


# ---------------------------------------------------------------- the runs

def write_job(stage, name, source, target=None, distributed=False, migration=None,
              kafka_password="{env: VM_SEC_KAFKA}", extra=""):
    job_id = f"sec-{name}-{stage['hex']}"
    tgt = target or (f'{{type: milvus, uri: "{stage["bridge"]}", '
                     f'token: {{file: {stage["token_file"]}}}}}')
    mig = {"task_rows": 300, "batch_rows": 100, "lease": "4s", "heartbeat": "1s"}
    mig.update(migration or {})
    src = "\n".join(f"  {k}: {v}" for k, v in source.items())
    control = ""
    if distributed:
        control = (f'queue:\n  type: kafka\n  brokers: "{os.environ["VECMIG_TEST_KAFKA"]}"\n'
                   f'  properties: {{session.timeout.ms: "6000", heartbeat.interval.ms: "1000",'
                   f' sasl.username: vecmig, sasl.password: {kafka_password}}}\n'
                   f'state: {{type: redis, url: {{env: VM_SEC_REDIS_URL}}}}\n')
    path = stage["inputs"] / f"{job_id}.yaml"
    path.write_text(f"job: {{id: {job_id}}}\nsource:\n{src}\ntarget: {tgt}\n{control}"
                    f"migration: {{{', '.join(f'{k}: {v}' for k, v in mig.items())}}}\n"
                    f"log: {{level: debug, format: json}}\n{extra}")
    return job_id, path


def run(stage, name, *args, timeout=180):
    """vecmig with stdout and stderr kept apart in the output folder; its
    working directory (state file, reports) is there too."""
    out = stage["out"]
    with open(out / f"{name}.stdout", "w") as so, open(out / f"{name}.stderr", "w") as se:
        p = subprocess.run([os.environ["VECMIG_BIN"], *args], stdout=so, stderr=se,
                           cwd=out, env=stage["env"], timeout=timeout)
    return p.returncode, (out / f"{name}.stdout").read_text(), (out / f"{name}.stderr").read_text()


def distributed(stage, name, job):
    """One worker process and the coordinator."""
    out = stage["out"]
    wo, we = open(out / f"{name}-worker.stdout", "w"), open(out / f"{name}-worker.stderr", "w")
    worker = subprocess.Popen([os.environ["VECMIG_BIN"], "worker", str(job), "--id", "w0",
                               "--exit-when-idle", "2"], stdout=wo, stderr=we, cwd=out,
                              env=stage["env"])
    try:
        rc, so, se = run(stage, f"{name}-coordinator", "coordinator", "start", str(job),
                         "--report", f"{name}-report.json")
        worker.wait(timeout=60)
    finally:
        stop(worker)
        wo.close()
        we.close()
    return rc, so, se, (out / f"{name}-worker.stderr").read_text()


def coll(stage, name):
    c = f"sec_{name}_{stage['hex']}"
    stage["colls"].append(c)
    return c


@pytest.fixture(scope="module")
def runs(env, stage, milvus):
    """Every migration of this file, run once; the tests below search what
    they left."""
    s, r = stage, {"jobs": {}}
    pgsrc = {"type": "pgvector", "dsn": "{env: VM_SEC_PG_URI}"}
    try:
        # distributed, succeeding: URI password, token from a file, sasl.password and
        # the Redis ACL password from the environment
        jid, job = write_job(s, "dist-ok", {**pgsrc, "table": s["ok_table"]}, distributed=True,
                             extra=f"mapping: {{collection: {{name: {coll(s, 'dist_ok')}, "
                                   f"index: true}}}}\n")  # indexed and loaded: a source below
        r["jobs"]["dist-ok"] = jid
        r["plan"] = run(s, "dist-ok-plan", "plan", str(job))
        r["dist-ok"] = distributed(s, "dist-ok", job)

        # distributed, failing: one row does not fit Int32, its task is dead-lettered;
        # the password as source.password, a literal sasl.password (warned)
        jid, job = write_job(s, "dist-bad", {"type": "pgvector", "dsn": "{env: VM_SEC_PG_DSN}",
                                             "password": "{env: VM_SEC_PG_PW}",
                                             "table": s["bad_table"]},
                             distributed=True, migration={"max_attempts": 1},
                             kafka_password=f"'{SECRET}'",
                             extra=f"mapping: {{collection: {{name: {coll(s, 'dist_bad')}}}, "
                                   f"fields: [{{source: n, type: Int32}}]}}\n")
        r["jobs"]["dist-bad"] = jid
        r["dist-bad"] = distributed(s, "dist-bad", job)

        # embedded, succeeding and failing (the SQLite state file in the output folder)
        _, job = write_job(s, "emb-ok", {"type": "pgvector", "dsn": "{env: VM_SEC_PG_DSN}",
                                         "password": "{env: VM_SEC_PG_PW}",
                                         "table": s["ok_table"],
                                         "collection": coll(s, "emb_ok")},
                           target=f'{{type: milvus, uri: "{s["bridge"]}", '
                                  f'token: {{env: VM_SEC_TOKEN}}}}')
        r["emb-ok"] = run(s, "emb-ok", "migrate", str(job), "--json", "--workers", "2")
        _, job = write_job(s, "emb-bad", {**pgsrc, "table": s["bad_table"]},
                           migration={"max_attempts": 1},
                           extra=f"mapping: {{collection: {{name: {coll(s, 'emb_bad')}}}, "
                                 f"fields: [{{source: n, type: Int32}}]}}\n")
        r["emb-bad"] = run(s, "emb-bad", "migrate", str(job), "--json", "--workers", "2")
        # a target URL with the secret as its password, on a closed port
        _, job = write_job(s, "emb-target", {**pgsrc, "table": s["ok_table"],
                                             "collection": coll(s, "emb_target")},
                           target=f'{{type: milvus, uri: "http://vecmig:{SECRET}@127.0.0.1:'
                                  f'{free_port()}", timeout: 2s}}')
        r["emb-target"] = run(s, "emb-target", "migrate", str(job), "--json")
        # a dsn whose password libpq echoes in its error ("invalid percent-encoded token")
        _, job = write_job(s, "emb-dsn", {"type": "pgvector", "dsn": "{env: VM_SEC_PG_BADURI}",
                                          "table": s["ok_table"]})
        r["emb-dsn"] = run(s, "emb-dsn", "migrate", str(job), "--json")

        # the HTTP sources and the milvus source, each with the secret as its key
        http = {
            "qdrant": {"type": "qdrant", "url": f'"{s["qdrant_url"]}"',
                       "api_key": "{env: VM_SEC_API_KEY}", "collection": "sec"},
            "pinecone": {"type": "pinecone", "control_url": f'"{s["pinecone"].url}"',
                         "api_key": f"{{file: {s['pinecone_key_file']}}}", "index": "sec"},
            "tencent": {"type": "tencent", "url": f'"{s["tencent"].url}"',
                        "api_key": "{env: VM_SEC_API_KEY}", "database": "secdb",
                        "collection": "sec"},
            # security is off in the stack's search servers: the key and the password
            # are sent (and must not leak) but not checked
            "elasticsearch": {"type": "elasticsearch",
                              "url": f'"{os.environ["VECMIG_TEST_ES"]}"',
                              "api_key": "{env: VM_SEC_API_KEY}", "index": s["es_index"]},
            "opensearch": {"type": "opensearch", "url": f'"{os.environ["VECMIG_TEST_OPENSEARCH"]}"',
                           "username": "vecmig", "password": "{env: VM_SEC_PG_PW}",
                           "index": s["os_index"]},
            "milvus": {"type": "milvus", "uri": f'"{s["bridge"]}"',
                       "token": "{env: VM_SEC_TOKEN}", "collection": f"sec_dist_ok_{s['hex']}"},
        }
        for name, src in http.items():
            _, job = write_job(s, f"src-{name}", src,
                               extra=f"mapping: {{collection: {{name: {coll(s, name)}}}}}\n")
            r[f"src-{name}"] = run(s, f"src-{name}", "migrate", str(job), "--json")
        yield r
    finally:
        for c in s["colls"]:
            if milvus.has_collection(c):
                milvus.drop_collection(c)


def report(stdout):
    return json.loads(stdout)


def test_runs_did_what_they_should(stage, runs, milvus):
    """The migrations really ran: otherwise finding no secret proves nothing."""
    rc, so, se = runs["plan"]
    assert rc == 0, se[-2000:]
    assert stage["ok_table"] in so or "tasks" in so

    rc, so, se, we = runs["dist-ok"]
    assert rc == 0, se[-3000:] + we[-3000:]
    rep = json.loads((stage["out"] / "dist-ok-report.json").read_text())
    assert rep["verdict"] == "ok" and rep["counts"]["target_rows"] == ROWS
    assert "claimed" in we  # the worker did the work

    rc, so, se, we = runs["dist-bad"]
    assert rc == 1, se[-3000:]
    rep = json.loads((stage["out"] / "dist-bad-report.json").read_text())
    assert rep["verdict"] == "failed"
    bad = [t for t in rep["tasks"] if t["state"] != "done"]
    assert len(bad) == 1 and str(BAD_ID) in bad[0]["error"]
    assert "sent to the dead-letter topic" in se
    # the literal secret was accepted with a warning naming the key, not the value
    assert "queue.properties.sasl.password: literal secret in job file" in se
    assert "queue.properties.sasl.password: literal secret in job file" in we

    rc, so, se = runs["emb-ok"]
    assert rc == 0, se[-3000:]
    assert report(so)["verdict"] == "ok" and report(so)["counts"]["target_rows"] == ROWS
    rc, so, se = runs["emb-bad"]
    assert rc == 1, se[-3000:]
    assert report(so)["verdict"] == "failed"
    rc, so, se = runs["emb-target"]
    assert rc != 0
    assert "127.0.0.1" in se, se[-2000:]
    rc, so, se = runs["emb-dsn"]
    assert rc != 0, se[-2000:]
    assert "invalid percent-encoded token" in se, se[-2000:]

    for name in ("qdrant", "pinecone", "tencent", "elasticsearch", "opensearch", "milvus"):
        rc, so, se = runs[f"src-{name}"]
        assert rc == 0, f"{name}: {se[-3000:]}"
        rows = ROWS if name == "milvus" else 300
        assert report(so)["counts"]["target_rows"] == rows, name
        assert milvus.query(f"sec_{name}_{stage['hex']}", filter="",
                            output_fields=["count(*)"])[0]["count(*)"] == rows


# ---------------------------------------------------------------- the search

def test_no_secret_in_any_file_the_runs_wrote(stage, runs):
    """Logs (stdout and stderr of every process), reports, the embedded
    state file and its WAL, anything else in the working directory."""
    files = [p for p in stage["out"].rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"dist-ok-report.json", "dist-bad-report.json", "state.db",
            "dist-ok-worker.stderr", "emb-bad.stdout"} <= names, names
    found = {str(p.relative_to(stage["out"])): hits(p.read_bytes()) for p in files}
    assert not {k: v for k, v in found.items() if v}, "the secret was written"
    # canary: the search finds it where it is
    assert hits((stage["inputs"] / "secrets" / "milvus_token").read_bytes()) == 1


def test_no_secret_in_the_sqlite_state(stage, runs):
    """Row by row as well, in case a page is not where a byte search looks."""
    db = stage["out"] / ".vecmig" / "state.db"
    assert db.exists()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        text = []
        for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in con.execute(f'SELECT * FROM "{t}"'):
                text.append(repr(row))
        dump = "\n".join(text)
    finally:
        con.close()
    assert f"sec-emb-bad-{stage['hex']}" in dump and "5000000000" in dump
    assert SECRET not in dump


def test_no_secret_in_redis(stage, runs):
    """Every key and value of the private Redis, and its append-only file
    (every write command ever applied, with its arguments)."""
    port = stage["redis_port"]
    canary = "vecmig-secrets-test:canary"
    assert redis_cli(port, "SET", canary, "x" + SECRET + "x").returncode == 0
    keys = [k for k in redis_cli(port, "--scan").stdout.split(b"\n") if k]
    assert any(stage["hex"].encode() in k for k in keys), keys
    leaked = {}
    for k in keys:
        t = redis_cli(port, "TYPE", k).stdout.strip()
        cmd = {b"string": ["GET"], b"hash": ["HGETALL"], b"set": ["SMEMBERS"],
               b"zset": ["ZRANGE", k, "0", "-1", "WITHSCORES"], b"list": ["LRANGE", k, "0", "-1"],
               b"stream": ["XRANGE", k, "-", "+"]}[t]
        args = cmd if len(cmd) > 1 else cmd + [k]
        v = redis_cli(port, *args).stdout
        if hits(k + v):
            leaked[k] = v[:200]
    assert set(leaked) == {canary.encode()}, leaked
    # the job record and the tasks are there (the search saw real data)
    rec = redis_cli(port, "HGET", f"vecmig:{{sec-dist-ok-{stage['hex']}}}:job", "record").stdout
    assert b"source_schema" in rec
    assert redis_cli(port, "DEL", canary).returncode == 0
    aof = b"".join(p.read_bytes() for p in (stage["root"] / "redis" / "data").rglob("*")
                   if p.is_file())
    assert b"source_schema" in aof
    assert hits(aof) == 1  # the canary's SET, nothing else


def topic_dump(topic):
    d = subprocess.run([os.environ["VECMIG_TOPIC_DUMP"], os.environ["VECMIG_TEST_KAFKA"], topic,
                        "15000"], capture_output=True, timeout=60)
    assert d.returncode == 0, d.stderr
    return d.stdout


def test_no_secret_in_kafka(stage, runs):
    """Every message of each job's topics, and the broker's own files for
    those topics and __consumer_offsets."""
    data_dir = os.path.join(os.environ.get("VECMIG_STACK_DIR", ""), "kafka", "data")
    assert os.path.isdir(data_dir), data_dir
    for name in ("dist-ok", "dist-bad"):
        jid = runs["jobs"][name]
        topics = {d.rsplit("-", 1)[0] for d in os.listdir(data_dir) if jid in d}
        assert topics == {f"vecmig.tasks.{jid}", f"vecmig.dead.{jid}"}, topics
        tasks = topic_dump(f"vecmig.tasks.{jid}")
        dead = topic_dump(f"vecmig.dead.{jid}")
        assert tasks.count(b"\n") >= ROWS // 300, tasks[:500]
        assert (dead.count(b"\n") == 1) == (name == "dist-bad"), dead[:500]
        assert hits(tasks) == hits(dead) == 0
    raw = {}
    for d in os.listdir(data_dir):
        if any(j in d for j in runs["jobs"].values()) or d.startswith("__consumer_offsets-"):
            for f in os.listdir(os.path.join(data_dir, d)):
                p = os.path.join(data_dir, d, f)
                if os.path.isfile(p):
                    with open(p, "rb") as fh:
                        raw[p] = fh.read()
    assert any(f"vecmig.dead.{runs['jobs']['dist-bad']}".encode() in v or b"5000000000" in v
               for v in raw.values())
    assert not [p for p, v in raw.items() if hits(v)]


def test_pg_tls_verified_by_default_for_remote_hosts(stage):
    """A dsn naming a remote host (hostaddr points at the stack's server,
    which has no TLS) and no sslmode: vecmig asks for verify-full, so the
    plan fails saying so; sslmode=disable in the dsn passes through (with a
    warning); insecure_tls: true asks for require (still TLS: refused)."""
    s = stage
    remote = (f"host=pg.example.invalid hostaddr=127.0.0.1 port={s['pg_port']} "
              f"dbname=postgres user={s['role']}")
    src = {"type": "pgvector", "dsn": f'"{remote}"', "password": "{env: VM_SEC_PG_PW}",
           "table": s["ok_table"]}
    _, job = write_job(s, "tls-default", src)
    rc, so, se = run(s, "tls-default", "plan", str(job))
    assert rc != 0
    assert "SSL" in se and "vecmig used sslmode=verify-full for a remote host" in se, se[-2000:]
    _, job = write_job(s, "tls-insecure", {**src, "insecure_tls": "true"})
    rc, so, se = run(s, "tls-insecure", "plan", str(job))
    assert rc != 0
    assert "pg: the certificate of server pg.example.invalid is not verified " \
           "(insecure_tls: true, sslmode=require)" in se, se[-2000:]
    _, job = write_job(s, "tls-disable", {**src, "dsn": f'"{remote} sslmode=disable"'})
    rc, so, se = run(s, "tls-disable", "plan", str(job))
    assert rc == 0, se[-2000:]
    assert "is not verified (sslmode=disable)" in se
    for name in ("tls-default", "tls-insecure", "tls-disable"):
        for ext in ("stdout", "stderr"):
            assert SECRET not in (s["out"] / f"{name}.{ext}").read_text()

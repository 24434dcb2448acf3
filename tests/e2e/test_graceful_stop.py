"""What Kubernetes relies on, end to end against the dev stack's Kafka and
Redis (PostgreSQL + pgvector -> Milvus bridge):

- a worker stopped with SIGTERM (what Kubernetes sends before
  terminationGracePeriodSeconds runs out) finishes the batch in flight,
  checkpoints it, lets its lease go and exits 0; the target then holds
  exactly the rows of the checkpoint, and a second worker finishes the job
  exactly. Its probes: /readyz 200 while serving and 503 once SIGTERM came,
  /healthz 200 throughout;
- two coordinators for one job: one holds the job's leader lock and runs
  it, the other waits (/readyz 503) and, once the leader is SIGKILLed and its
  lease ran out, takes the job over and finishes it exactly.

VECMIG_TEST_BATCH_DELAY_MS slows a worker (common/vm_testhook.h);
VECMIG_TEST_LEADER_LEASE_MS shortens the leader lease, VECMIG_TEST_LEADER_HOST
makes two coordinators of this machine look like two machines (no immediate
takeover of a dead process of the same host).
"""
import json
import re
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import unique, wait_for, write_job
from test_cancel_resume import Proc, milvus_count, vecmig
from test_pg_to_milvus import TABLE_SQL, verify

ROWS = 1200
DIM = 8
GRACE_S = 30  # stands for terminationGracePeriodSeconds: a bound, not a timing


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_gs")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def probe(port, path):
    """(status, body) of GET path on the --metrics server; None when it does
    not answer (the process is gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def metrics_port(proc):
    m = wait_for(lambda: re.search(r"metrics: serving GET /metrics on 127\.0\.0\.1:(\d+)",
                                   proc.text()), 30, "the metrics server")
    return int(m.group(1))


def status(env, tmp_path, job):
    out = vecmig(env, tmp_path, "status", job.stem, "--job-file", str(job), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def report_ok(path):
    rep = json.loads(path.read_text())
    assert rep["verdict"] == "ok", rep
    c = rep["counts"]
    assert c["source_rows_start"] == c["rows_read"] == c["rows_written"] == c["target_rows"] == ROWS


def test_sigterm_stops_after_the_confirmed_batch(pg, milvus, env, tmp_path, table):
    coll = unique("c")
    # one task of 24 batches: the worker is in the middle of it when stopped
    job = write_job(tmp_path, env, unique("gs"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    migration={"task_rows": ROWS, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"},
                    log_level="debug")
    coord = Proc(env, tmp_path, "coordinator",
                 ["coordinator", "start", str(job), "--report", "report.json"])
    w1 = Proc(env, tmp_path, "worker1",
              ["worker", str(job), "--id", "w1", "--metrics", "127.0.0.1:0"],
              {"VECMIG_TEST_BATCH_DELAY_MS": "1000"})
    w2 = None
    try:
        port = metrics_port(w1)
        wait_for(lambda: w1.text().count(": checkpoint") >= 2, 60, "two checkpoints")
        assert probe(port, "/readyz") == (200, "ready\n")
        assert probe(port, "/healthz") == (200, "ok\n")

        # SIGTERM lands in a batch or in the pause after one: that batch is
        # finished and checkpointed, no other one starts
        w1.p.send_signal(signal.SIGTERM)
        # (the signal is handled within moments; the batch pause is 1 s)
        code, body = wait_for(lambda: (r := probe(port, "/readyz")) and r[0] != 200 and r, 10,
                              "/readyz to turn 503")
        assert code == 503 and body.startswith("not ready: stopping"), (code, body)
        # (the worker may be gone by now; if not, it is still alive)
        assert probe(port, "/healthz") in ((200, "ok\n"), None)
        assert w1.wait(GRACE_S) == 0, w1.text()[-3000:]
        log = w1.text()
        assert "stopped after its last confirmed batch" in log, log[-3000:]
        assert "(job cancelled)" not in log

        # the checkpoint is exactly what the target holds: nothing written
        # past it, nothing lost; the lease was let go at once
        st = status(env, tmp_path, job)
        assert len(st["tasks"]) == 1, st
        t = st["tasks"][0]
        # its lease ended at once: expired, or already put back to pending
        # by the coordinator (which publishes it again)
        assert (t["state"] == "running" and t["lease_left_ms"] <= 0) or t["state"] == "pending", t
        assert 0 < t["rows_written"] < ROWS, t
        assert t["rows_written"] % 50 == 0, t
        assert milvus_count(milvus, coll) == t["rows_written"], t
        assert coord.p.poll() is None, coord.text()[-3000:]

        # a second worker takes the task from its checkpoint and finishes it
        w2 = Proc(env, tmp_path, "worker2", ["worker", str(job), "--id", "w2",
                                             "--exit-when-idle", "3"])
        assert coord.wait(90) == 0, coord.text()[-3000:]
        assert w2.wait(60) == 0, w2.text()[-3000:]
    finally:
        for p in (w1, w2, coord):
            if p:
                p.stop()
    assert "resuming after" in w2.text()
    report_ok(tmp_path / "report.json")
    assert verify(pg, milvus, env, table, coll) == ROWS


def test_standby_coordinator_takes_over(pg, milvus, env, tmp_path, table):
    coll = unique("c")
    job = write_job(tmp_path, env, unique("lk"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    migration={"task_rows": 300, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"},
                    log_level="debug")
    jid = job.stem
    lease = {"VECMIG_TEST_LEADER_LEASE_MS": "3000"}
    a = Proc(env, tmp_path, "coord-a", ["coordinator", "start", str(job), "--report", "a.json",
                                        "--metrics", "127.0.0.1:0"],
             {**lease, "VECMIG_TEST_LEADER_HOST": "node-a"})
    b = ws = None
    try:
        wait_for(lambda: "tasks published" in a.text() or a.p.poll() is not None, 60,
                 "the first coordinator to publish")
        assert a.p.poll() is None, a.text()[-3000:]
        b = Proc(env, tmp_path, "coord-b", ["coordinator", "start", str(job), "--report", "b.json",
                                            "--metrics", "127.0.0.1:0"],
                 {**lease, "VECMIG_TEST_LEADER_HOST": "node-b"})
        wait_for(lambda: "holds the job" in b.text() or b.p.poll() is not None, 30,
                 "the second coordinator to wait")
        assert re.search(rf"job {jid}: coordinator node-a/{a.p.pid}/\d+/\w+ holds the job "
                         r"\(lease ends in \d+ s\); waiting", b.text()), b.text()[-3000:]
        assert probe(metrics_port(a), "/readyz") == (200, "ready\n")
        code, body = probe(metrics_port(b), "/readyz")
        assert code == 503 and "standby" in body, body
        assert probe(metrics_port(b), "/healthz") == (200, "ok\n")

        ws = [Proc(env, tmp_path, f"worker{i}", ["worker", str(job), "--id", f"w{i}",
                                                 "--exit-when-idle", "3"],
                   {"VECMIG_TEST_BATCH_DELAY_MS": "300"}) for i in range(2)]
        wait_for(lambda: any(w.text().count(": checkpoint") >= 2 for w in ws), 60,
                 "checkpoints")
        a.kill()
        # the standby takes over once the lease ran out, picks the job up
        # where it is, and finishes it
        assert b.wait(120) == 0, b.text()[-3000:]
        for w in ws:
            assert w.wait(60) == 0, w.text()[-3000:]
    finally:
        for p in [a, b, *(ws or [])]:
            if p:
                p.stop()
    out_a, out_b = a.text(), b.text()
    # exactly one planned and published the job
    assert f"job {jid}: planned" in out_a and re.search(r"created, \d+ tasks published", out_a)
    assert f"job {jid}: planned" not in out_b and not re.search(r"created, \d+ tasks published",
                                                                out_b), out_b[-3000:]
    # it went on with the job as recorded (the unfinished tasks again)
    assert f"job {jid}: continuing (" in out_b
    assert f"job {jid}: this coordinator (node-b/" in out_b and "now holds the job" in out_b
    assert re.search(rf"job {jid}: found in the state store \((running|reconciling|done)\)",
                     out_b), out_b[-3000:]
    # the killed holder's lease had to run out: no shortcut across hosts
    assert "process is gone" not in out_b
    report_ok(tmp_path / "b.json")
    assert verify(pg, milvus, env, table, coll) == ROWS


def test_restart_on_the_same_host_takes_over_at_once(milvus, env, tmp_path, table):
    """A coordinator of this host whose process is gone (SIGKILL) is taken
    over without waiting for its lease: a restart after a crash, or the
    tests that kill coordinators, do not wait."""
    coll = unique("c")
    job = write_job(tmp_path, env, unique("lk"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"}, log_level="debug")
    a = Proc(env, tmp_path, "coord-a", ["coordinator", "start", str(job)],
             {"VECMIG_TEST_PAUSE_AT": "planned", "VECMIG_TEST_LEADER_LEASE_MS": "600000"})
    try:
        wait_for(lambda: "test hook: paused at planned" in a.text() or a.p.poll() is not None,
                 60, "the coordinator at planned")
        assert a.p.poll() is None, a.text()[-3000:]
        a.kill()
        # a second one (no worker runs: it is stopped once it has taken over)
        b = Proc(env, tmp_path, "coord-b", ["coordinator", "start", str(job)],
                 {"VECMIG_TEST_PAUSE_AT": "published"})
        wait_for(lambda: "test hook: paused at published" in b.text() or b.p.poll() is not None,
                 60, "the second coordinator to take over")
        assert re.search(rf"coordinator [^ ]+/{a.p.pid}/\d+/\w+ holds the job but its process "
                         r"is gone; taking over", b.text()), b.text()[-3000:]
        assert "waiting" not in b.text()
        b.kill()
    finally:
        a.stop()
        milvus.drop_collection(coll)


def redis_cmd(env, *args):
    """One command on the dev stack's Redis (RESP over a socket: no client
    library needed); returns the raw reply line."""
    u = urllib.parse.urlparse(env["VECMIG_TEST_REDIS"])
    with socket.create_connection((u.hostname, u.port or 6379), timeout=10) as s:
        req = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        s.sendall(req.encode())
        return s.recv(4096).decode()


def test_coordinator_that_loses_its_lock_exits_at_once(env, tmp_path, table):
    """Another instance took the lock (the holder was paused past its lease,
    say): the holder's next renewal sees it and the process exits 1 at once,
    writing nothing more."""
    coll = unique("c")
    job = write_job(tmp_path, env, unique("lk"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"}, log_level="debug")
    key = f"vecmig:{{{job.stem}}}:job:leader"
    a = Proc(env, tmp_path, "coord-a", ["coordinator", "start", str(job)],
             {"VECMIG_TEST_PAUSE_AT": "planned", "VECMIG_TEST_LEADER_LEASE_MS": "3000"})
    try:
        wait_for(lambda: "test hook: paused at planned" in a.text() or a.p.poll() is not None,
                 60, "the coordinator at planned")
        assert a.p.poll() is None, a.text()[-3000:]
        assert redis_cmd(env, "SET", key, "intruder/1/1/x", "PX", "60000") == "+OK\r\n"
        assert a.wait(30) == 1, a.text()[-3000:]
        assert re.search(r"lost the job's leader lock \(now held by intruder/1/1/x\); exiting at "
                         r"once", a.text()), a.text()[-3000:]
    finally:
        a.stop()
        redis_cmd(env, "DEL", key)

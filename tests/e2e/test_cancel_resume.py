"""`vecmig cancel` and `vecmig resume`, and a coordinator killed in every
phase, end to end: PostgreSQL + pgvector -> Milvus (bridge over milvus-lite)
with Kafka and Redis, and the embedded mode.

Phases are hit deterministically with the test hooks of common/vm_testhook.h:
VECMIG_TEST_PAUSE_AT=<point> makes the coordinator log "test hook: paused at
<point>" and wait there to be SIGKILLed; VECMIG_TEST_BATCH_DELAY_MS slows the
workers so that a small job is still running when it is cancelled.

Every result is checked with pymilvus straight from milvus-lite (the
verification of test_pg_to_milvus.py: exact key set, no duplicate, vectors
bit-exact, every scalar equal, the bridge's duplicate-insert count zero).
"""
import json
import os
import signal
import subprocess
import urllib.request

import pytest

from conftest import unique, wait_for, write_job
from test_pg_to_milvus import TABLE_SQL, verify

ROWS = 3000
DIM = 32
SLOW = {"VECMIG_TEST_BATCH_DELAY_MS": "150"}


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_cr")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def job_for(env, tmp_path, table, distributed):
    coll = unique("c")
    job = write_job(tmp_path, env, unique("cr"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    migration={"task_rows": 300, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"},
                    log_level="debug", distributed=distributed)
    return job, coll


class Proc:
    """A vecmig process with its output (stdout and stderr) in a file."""

    def __init__(self, env, tmp_path, name, args, extra_env=None):
        self.log = tmp_path / f"{name}.log"
        e = dict(os.environ)
        e.update(extra_env or {})
        with open(self.log, "w") as out:
            self.p = subprocess.Popen([env["VECMIG_BIN"], *args], stdout=out,
                                      stderr=subprocess.STDOUT, cwd=tmp_path, env=e)

    def text(self):
        return self.log.read_text()

    def wait(self, timeout=120):
        return self.p.wait(timeout=timeout)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()


def workers(env, tmp_path, job, n, tag, extra_env=None):
    return [Proc(env, tmp_path, f"{tag}-worker{i}",
                 ["worker", str(job), "--id", f"{tag}{i}", "--exit-when-idle", "3"], extra_env)
            for i in range(n)]


def finish(ws):
    """Workers leave by themselves once the job is over (--exit-when-idle)."""
    try:
        for w in ws:
            assert w.wait(60) == 0, w.text()[-2000:]
    finally:
        for w in ws:
            w.stop()


def vecmig(env, tmp_path, *args):
    return subprocess.run([env["VECMIG_BIN"], *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


def milvus_count(milvus, coll):
    return milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]


def load_state(env, coll):
    req = urllib.request.Request(env["VECMIG_TEST_MILVUS"] + "/v2/vectordb/collections/get_load_state",
                                 data=json.dumps({"collectionName": coll}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    return json.load(urllib.request.urlopen(req, timeout=30))["data"]["loadState"]


def check_cancelled(milvus, coll, report_path):
    """The cancelled job's report: verdict cancelled, the rows written so
    far (sum of the checkpoints) exactly what the target holds."""
    rep = json.loads(report_path.read_text())
    assert rep["verdict"] == "cancelled", rep["verdict"]
    c = rep["counts"]
    assert 0 < c["rows_written"] < ROWS, c
    assert c["rows_read"] == c["rows_written"] == c["target_rows"] == milvus_count(milvus, coll), c
    assert rep["tasks_summary"]["not_done"] > 0
    return c["rows_written"]


def check_ok(report_path):
    rep = json.loads(report_path.read_text())
    assert rep["verdict"] == "ok", rep
    c = rep["counts"]
    assert c["source_rows_start"] == c["rows_read"] == c["rows_written"] == c["target_rows"] == ROWS


def test_cancel_then_resume_distributed(pg, milvus, env, tmp_path, table):
    job, coll = job_for(env, tmp_path, table, distributed=True)
    jid = job.stem
    ws = workers(env, tmp_path, job, 2, "a", SLOW)
    try:
        coord = Proc(env, tmp_path, "coordinator", ["coordinator", "start", str(job),
                                                     "--report", "cancelled.json"])
        # both workers in the middle of a task
        wait_for(lambda: all(w.text().count(": checkpoint") >= 2 for w in ws), 90,
                 "checkpoints from both workers")
        out = vecmig(env, tmp_path, "cancel", jid, "--job-file", str(job), "--wait", "90")
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"job {jid}: cancel requested" in out.stdout
        assert f"job {jid}: cancelled after" in out.stdout
        assert coord.wait() == 4, coord.text()[-3000:]
        finish(ws)
    finally:
        for w in ws:
            w.stop()
    written = check_cancelled(milvus, coll, tmp_path / "cancelled.json")
    assert f"job {jid} cancelled after {written} rows written" in coord.text()
    # the tasks in hand were stopped at a batch boundary, no other one started
    assert any("stopped after its last confirmed batch (job cancelled)" in w.text() for w in ws)
    assert any("is cancelled; not started" in w.text() for w in ws)
    # cancelling again: already cancelled; starting the coordinator again does
    # not silently resume it
    again = vecmig(env, tmp_path, "cancel", str(job))
    assert again.returncode == 0 and "already cancelled" in again.stdout, again.stderr
    start = vecmig(env, tmp_path, "coordinator", "start", str(job))
    assert start.returncode == 4, start.stderr
    assert "was cancelled; `vecmig resume` continues it" in start.stderr

    # resume with three workers instead of two
    ws = workers(env, tmp_path, job, 3, "b")
    try:
        res = Proc(env, tmp_path, "resume", ["resume", str(job), "--report", "resumed.json"])
        assert res.wait() == 0, res.text()[-3000:]
        assert "resuming (was cancelled)" in res.text()
        finish(ws)
    finally:
        for w in ws:
            w.stop()
    check_ok(tmp_path / "resumed.json")
    assert verify(pg, milvus, env, table, coll) == ROWS
    # the resumed tasks went on from their checkpoints
    assert any("resuming after" in w.text() for w in ws)


def test_cancel_then_resume_embedded(pg, milvus, env, tmp_path, table):
    job, coll = job_for(env, tmp_path, table, distributed=False)
    jid = job.stem
    m = Proc(env, tmp_path, "migrate", ["migrate", str(job), "--workers", "2",
                                        "--report", "cancelled.json"], SLOW)
    wait_for(lambda: m.text().count(": checkpoint") >= 4, 90, "checkpoints")
    out = vecmig(env, tmp_path, "cancel", str(job))  # the job file names job and state file
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"job {jid}: cancelled after" in out.stdout
    assert m.wait() == 4, m.text()[-3000:]
    check_cancelled(milvus, coll, tmp_path / "cancelled.json")
    # `vecmig migrate` again does not resume a cancelled job by itself
    again = vecmig(env, tmp_path, "migrate", str(job))
    assert again.returncode == 4 and "was cancelled" in again.stderr, again.stderr

    res = vecmig(env, tmp_path, "resume", jid, "--job-file", str(job), "--workers", "3",
                 "--report", "resumed.json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming (was cancelled)" in res.stderr
    check_ok(tmp_path / "resumed.json")
    assert verify(pg, milvus, env, table, coll) == ROWS
    # the job is done: cancelling it now is refused
    late = vecmig(env, tmp_path, "cancel", jid, "--state-file", ".vecmig/state.db")
    assert late.returncode == 1 and "already done" in late.stderr, late.stderr


PHASES = ["planned", "created", "published", "running", "counted"]


def test_coordinator_killed_in_every_phase(pg, milvus, env, tmp_path, table):
    """One job whose coordinator is SIGKILLed in each phase in turn - planning
    before and after the collection is created, after publishing, while
    running, while reconciling (after the target was loaded for counting) -
    each time started again with `vecmig resume`, which takes the job from
    where the killed one left it; the last resume finishes it: exact."""
    job, coll = job_for(env, tmp_path, table, distributed=True)
    ws = workers(env, tmp_path, job, 2, "w", {"VECMIG_TEST_BATCH_DELAY_MS": "30"})
    try:
        for i, phase in enumerate(PHASES):
            args = ["coordinator", "start", str(job)] if i == 0 else ["resume", str(job)]
            coord = Proc(env, tmp_path, f"coordinator{i}-{phase}", args,
                         {"VECMIG_TEST_PAUSE_AT": phase})
            wait_for(lambda: f"test hook: paused at {phase}" in coord.text() or
                     coord.p.poll() is not None, 90, f"the coordinator at {phase}")
            assert coord.p.poll() is None, coord.text()[-3000:]
            # what the coordinator leaves behind when it is killed here
            assert milvus.has_collection(coll) == (phase != "planned"), phase
            if phase == "created":
                # the collection made by the killed run before it could record
                # it is accepted by the next one, not refused as foreign
                assert "creating it or taking the one it created" in coord.text()
            coord.kill()
        res = Proc(env, tmp_path, "resume", ["resume", str(job), "--report", "resumed.json"])
        assert res.wait() == 0, res.text()[-3000:]
        finish(ws)
    finally:
        for w in ws:
            w.stop()
    out = res.text()
    assert "found in the state store (reconciling)" in out
    check_ok(tmp_path / "resumed.json")
    assert verify(pg, milvus, env, table, coll) == ROWS
    # the interrupted count's load and indexes were undone, as the default asks
    assert "loaded by an earlier count of this job that was interrupted" in out
    assert milvus.list_indexes(coll) == []
    assert load_state(env, coll) == "LoadStateNotLoad"


def test_foreign_collection_still_refused(milvus, env, tmp_path, table):
    """Accepting the job's own collection on resume never means accepting one
    that was there before the job."""
    job, coll = job_for(env, tmp_path, table, distributed=True)
    milvus.create_collection(coll, dimension=DIM)
    try:
        for args in (["coordinator", "start", str(job)], ["resume", str(job)]):
            out = vecmig(env, tmp_path, *args)
            assert out.returncode == 1, out.stderr
            assert f"target collection '{coll}' already exists" in out.stderr
        # nothing was recorded for the job
        gone = vecmig(env, tmp_path, "cancel", str(job))
        assert gone.returncode == 2 and "no job" in gone.stderr, gone.stderr
        assert milvus_count(milvus, coll) == 0
    finally:
        milvus.drop_collection(coll)

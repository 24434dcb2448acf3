"""The embedded default: `vecmig migrate` runs the whole migration in one
process (in-process queue, SQLite state file), resumes exactly after Ctrl-C
and after SIGKILL, and produces the same target contents as the
distributed mode (coordinator + worker processes over Kafka and Redis)."""
import json
import re
import signal
import subprocess
import time

import pytest

from conftest import Run, unique, wait_for, write_job
from test_pg_to_milvus import bridge_duplicates, target_rows

ROWS = 6000


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_emb")
    pg.execute(f"""
CREATE TABLE {t} (id bigint PRIMARY KEY, emb vector(96) NOT NULL, title text, n integer,
                  doc jsonb, tags text[]);
INSERT INTO {t}
SELECT i, (SELECT array_agg((((i * 131 + j * 71) % 10007)::real / 10007 - 0.5)::real)
             FROM generate_series(1, 96) j)::vector,
       CASE WHEN i % 9 = 0 THEN NULL ELSE 'größe ' || i END,
       CASE WHEN i % 7 = 0 THEN NULL ELSE i * 2 END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE jsonb_build_object('i', i) END,
       ARRAY['x' || i % 4]
FROM generate_series(1, {ROWS}) i;
ANALYZE {t};""")
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def job_for(env, tmp_path, table, coll, distributed=False, **mig):
    m = {"task_rows": 500, "batch_rows": 100, "lease": "3s", "heartbeat": "1s"}
    m.update(mig)
    return write_job(tmp_path, env, unique("emb"),
                     {"dsn": "{env: VECMIG_TEST_PG}", "table": table, "collection": coll},
                     migration=m, log_level="debug", distributed=distributed)


class Migrate:
    def __init__(self, env, job, tmp_path, *args):
        self.log = tmp_path / f"{job.stem}-migrate-{time.monotonic_ns()}.log"
        self.out = tmp_path / f"{job.stem}-migrate-{time.monotonic_ns()}.json"
        self.p = subprocess.Popen([env["VECMIG_BIN"], "migrate", str(job), "--json", *args],
                                  stdout=open(self.out, "w"), stderr=open(self.log, "w"),
                                  cwd=tmp_path)

    def in_task(self):
        if self.p.poll() is not None:
            pytest.fail("migrate exited early: " + self.log.read_text()[-2000:])
        return re.search(r"task \d+: checkpoint", self.log.read_text())

    def wait(self, timeout=600):
        return self.p.wait(timeout=timeout)

    def report(self):
        return json.loads(self.out.read_text())


def contents(milvus, coll):
    rows = target_rows(milvus, coll, 1, ROWS)
    assert all(len(v) == 1 for v in rows.values()), "duplicate keys"
    return {k: v[0] for k, v in rows.items()}


def check_exact(env, milvus, coll, report):
    assert report["verdict"] == "ok", report
    c = report["counts"]
    assert c["source_rows_start"] == c["rows_read"] == c["rows_written"] == c["target_rows"] == ROWS
    assert bridge_duplicates(env, coll) == 0
    got = contents(milvus, coll)
    assert sorted(got) == list(range(1, ROWS + 1))
    return got


def test_embedded_exact(env, milvus, tmp_path, table):
    coll = unique("c")
    m = Migrate(env, job_for(env, tmp_path, table, coll), tmp_path, "--workers", "3")
    assert m.wait() == 0, m.log.read_text()[-3000:]
    check_exact(env, milvus, coll, m.report())
    assert (tmp_path / ".vecmig" / "state.db").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_then_resumed(env, milvus, tmp_path, table, sig):
    coll = unique("c")
    job = job_for(env, tmp_path, table, coll)
    m = Migrate(env, job, tmp_path, "--workers", "2")
    wait_for(m.in_task, 180, "a checkpoint inside a task")
    m.p.send_signal(sig)
    rc = m.wait(120)
    if sig == signal.SIGINT:
        assert rc == 130, m.log.read_text()[-2000:]
        assert "run the same command again to resume" in m.log.read_text()
    else:
        assert rc == -signal.SIGKILL
    m2 = Migrate(env, job, tmp_path, "--workers", "2")
    assert m2.wait() == 0, m2.log.read_text()[-3000:]
    assert "continuing" in m2.log.read_text()
    assert re.search(r"resuming after", m2.log.read_text()), "no task resumed from its checkpoint"
    check_exact(env, milvus, coll, m2.report())


def test_same_contents_in_both_modes(env, milvus, tmp_path, table):
    c_emb, c_dist = unique("c"), unique("c")
    m = Migrate(env, job_for(env, tmp_path, table, c_emb), tmp_path)
    assert m.wait() == 0, m.log.read_text()[-3000:]
    run = Run(env, job_for(env, tmp_path, table, c_dist, distributed=True), tmp_path, 2)
    assert run.wait() == 0, run.coordinator_output()[-3000:]
    a = check_exact(env, milvus, c_emb, m.report())
    b = contents(milvus, c_dist)
    assert a.keys() == b.keys()
    diff = [k for k in a if a[k] != b[k]]
    assert not diff, f"rows differ between the modes: {diff[:5]}"


def test_plan_changes_nothing(env, milvus, tmp_path, table):
    coll = unique("c")
    job = job_for(env, tmp_path, table, coll)
    out = subprocess.run([env["VECMIG_BIN"], "plan", str(job)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"source {coll}: {ROWS} rows" in text  # the source as the collection it becomes
    assert f"target collection {coll}" in text
    assert re.search(r"emb\s+FloatVector\(96\)", text)
    assert re.search(r"id\s+Int64\s+primary key", text)
    assert re.search(r"12 tasks of about 500 rows", text), text
    assert not milvus.has_collection(coll)
    assert not (tmp_path / ".vecmig").exists()


def test_progress_bar_quiet_and_json(env, milvus, tmp_path, table):
    # on a terminal (script(1) gives the command a pty): one redrawn bar
    coll = unique("c")
    job = job_for(env, tmp_path, table, coll, batch_rows=1000, task_rows=2000)
    cmd = f"{env['VECMIG_BIN']} migrate {job} --workers 2"
    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                         timeout=300, cwd=tmp_path)
    out = tty.stdout.decode()  # bytes: keep the carriage returns that redraw the bar
    assert tty.returncode == 0, out[-2000:]
    assert re.search(r"\[#{30}\] 6000/6000 rows 100%\s+\d+ rows/s\s+ETA 0s\s+tasks 3/3\s+errors 0",
                     out), out[-2000:]
    assert "\r[" in out and "verdict: ok" in out
    # --quiet --json: nothing but the report on stdout, nothing on stderr
    coll2 = unique("c")
    job2 = job_for(env, tmp_path, table, coll2, task_rows=2000)
    q = subprocess.run([env["VECMIG_BIN"], "migrate", str(job2), "--quiet", "--json"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert q.returncode == 0, q.stderr
    assert q.stderr == "", q.stderr
    assert json.loads(q.stdout)["verdict"] == "ok"

"""`vecmig status`: a small distributed migration (coordinator + 2 worker
processes over Kafka and Redis, slowed with VECMIG_TEST_BATCH_DELAY_MS) is
watched with `vecmig status JOB --json` mid-run (running, rows between 0 and
the total, both workers alive in the worker registry with a task and a
recent heartbeat) and after (done, every row); `vecmig status` lists it; the
embedded store (SQLite) is read the same way and is never created by it."""
import json
import re
import subprocess

import pytest

from conftest import unique, wait_for, write_job
from test_cancel_resume import Proc, finish, workers
from test_pg_to_milvus import TABLE_SQL

ROWS = 1200
DIM = 8
SLOW = {"VECMIG_TEST_BATCH_DELAY_MS": "200"}


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_st")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def status(env, tmp_path, *args):
    out = subprocess.run([env["VECMIG_BIN"], "status", *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    return out


def status_json(env, tmp_path, *args):
    out = status(env, tmp_path, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_status_distributed(pg, env, tmp_path, table):
    prefix = f"vmst{unique('')}:"
    job = write_job(tmp_path, env, unique("st"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table,
                     "collection": unique("c"), "halfvec_as": "float"},
                    migration={"task_rows": 200, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"}, log_level="debug")
    # a key prefix of its own: the listing holds this job only
    job.write_text(job.read_text().replace(
        f'url: "{env["VECMIG_TEST_REDIS"]}"}}',
        f'url: "{env["VECMIG_TEST_REDIS"]}", key_prefix: "{prefix}"}}'))
    jid = job.stem
    store = ["--redis", env["VECMIG_TEST_REDIS"], "--key-prefix", prefix]
    ws = workers(env, tmp_path, job, 2, "s", SLOW)
    try:
        coord = Proc(env, tmp_path, "coordinator", ["coordinator", "start", str(job)])
        wait_for(lambda: all(": checkpoint" in w.text() for w in ws), 60, "both workers busy")

        def mid():
            d = status_json(env, tmp_path, str(job))
            busy = [w for w in d["workers"] if w["alive"] and w["task"] is not None]
            return d if d["state"] == "running" and len(busy) == 2 else None

        d = wait_for(mid, 20, "status: running with 2 busy workers")
        assert d["id"] == jid and d["rows_total"] == ROWS
        assert 0 <= d["rows_done"] < ROWS
        assert sorted(w["id"] for w in d["workers"]) == ["s0", "s1"]
        for w in d["workers"]:
            assert 0 <= w["beat_age_ms"] < 3000, w
            assert w["last_beat_ms"] <= d["now_ms"]
            owned = [t for t in d["tasks"] if t["id"] == w["task"]]
            assert owned and owned[0]["owner"] == w["id"], (w, owned)
        running = [t for t in d["tasks"] if t["state"] == "running"]
        assert running and all(t["lease_left_ms"] is not None for t in running)
        assert len(d["tasks"]) == 6 and d["task_counts"]["total"] == 6
        assert sum(t["rows_written"] for t in d["tasks"]) == d["rows_done"]
        assert set(d) >= {"state", "rows_done", "rows_total", "percent", "rows_per_s", "eta_s",
                          "errors", "age_s", "workers", "tasks", "task_counts", "now_ms"}
        # the text view, by job id and store: the bar, the running tasks, the workers
        txt = status(env, tmp_path, jid, *store)
        assert txt.returncode == 0, txt.stderr
        assert f"job {jid}: running" in txt.stdout and "running tasks:" in txt.stdout
        assert re.search(r"\[#*\.*\]", txt.stdout), txt.stdout
        assert re.search(r"^  s0 +alive", txt.stdout, re.M), txt.stdout
        # --watch without a terminal: one line per refresh until the job is over
        watch = status(env, tmp_path, jid, *store, "--watch", "1")
        assert coord.wait(60) == 0, coord.text()[-3000:]
        finish(ws)
    finally:
        for w in ws:
            w.stop()
    assert watch.returncode == 0, watch.stderr
    lines = watch.stdout.splitlines()
    assert len(lines) >= 2 and all(line.startswith(f"{jid}  ") for line in lines), lines
    assert " done " in lines[-1] and f"{ROWS}/{ROWS} rows" in lines[-1], lines[-1]

    d = status_json(env, tmp_path, jid, *store)
    assert d["state"] == "done" and d["rows_done"] == ROWS and d["percent"] == 100
    assert d["eta_s"] is None and d["errors"] == 0 and d["rows_per_s"] > 0
    assert all(t["state"] == "done" for t in d["tasks"])
    # the workers left their tasks
    assert all(w["task"] is None for w in d["workers"]), d["workers"]
    lst = status_json(env, tmp_path, *store)
    assert [j["id"] for j in lst["jobs"]] == [jid]
    assert lst["jobs"][0]["task_counts"] == {"total": 6, "done": 6, "running": 0, "pending": 0,
                                       "failed": 0}
    txt = status(env, tmp_path, *store)
    assert txt.returncode == 0 and txt.stdout.startswith(f"{jid}  done  {ROWS}/{ROWS} rows"), \
        txt.stdout
    # no such job
    bad = status(env, tmp_path, "nope", *store)
    assert bad.returncode == 2 and "no job 'nope'" in bad.stderr


def test_status_embedded(pg, env, tmp_path, table):
    # no state file here: an error, and none is created
    out = status(env, tmp_path)
    assert out.returncode == 1 and "no state file .vecmig/state.db" in out.stderr
    assert not (tmp_path / ".vecmig").exists()
    job = write_job(tmp_path, env, unique("ste"),
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table,
                     "collection": unique("c"), "halfvec_as": "float"},
                    migration={"task_rows": 400, "batch_rows": 200}, distributed=False)
    m = subprocess.run([env["VECMIG_BIN"], "migrate", str(job), "--workers", "2", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert m.returncode == 0, m.stderr[-3000:]
    lst = status_json(env, tmp_path)
    ours = [j for j in lst["jobs"] if j["id"] == job.stem]
    assert ours and ours[0]["state"] == "done" and ours[0]["rows_done"] == ROWS
    d = status_json(env, tmp_path, job.stem)
    assert d["rows_total"] == ROWS and len(d["tasks"]) == 3
    # the in-process workers registered too
    assert 1 <= len(d["workers"]) <= 2, d["workers"]
    assert all(re.search(r"-t[01]$", w["id"]) and w["task"] is None for w in d["workers"])

"""The coordinator's HTTP API and Jobs page end to end: PostgreSQL +
pgvector -> Milvus with Kafka and Redis, workers slowed with
VECMIG_TEST_BATCH_DELAY_MS, the API on a free port (127.0.0.1:0, read back
from the coordinator's log) behind a token from VECMIG_API_TOKEN.

Checks: 401 without or with a wrong token; the job listed with its progress
advancing between two polls; the tasks endpoint; POST cancel ends the job
cancelled (state, report, and pymilvus' count equal to the report's rows);
POST resume clears the mark and says a coordinator must run, and a new
coordinator then finishes the job (verdict ok, every row); GET / serves
the page and its assets with their content types and no external URL.
"""
import json
import re
import time
import urllib.error
import urllib.request

import pytest

from conftest import unique, wait_for, write_job
from test_cancel_resume import Proc, finish, milvus_count, workers
from test_pg_to_milvus import TABLE_SQL

ROWS = 3000
DIM = 16
TOKEN = "e2e-api-" + unique("t")
SLOW = {"VECMIG_TEST_BATCH_DELAY_MS": "150"}


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_api")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def call(base, method, path, token=TOKEN):
    """(status, content type, body bytes)"""
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def api(base, method, path, token=TOKEN):
    status, ctype, body = call(base, method, path, token)
    assert ctype.startswith("application/json"), (path, ctype, body)
    return status, json.loads(body)


def test_jobs_api(pg, milvus, env, tmp_path, table):
    coll = unique("c")
    jid = unique("api")
    job = write_job(tmp_path, env, jid,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    migration={"task_rows": 300, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"},
                    extra='http: {listen: "127.0.0.1:0", token: {env: VECMIG_API_TOKEN}}\n')
    tok = {"VECMIG_API_TOKEN": TOKEN}
    # every process that loads the job file resolves its secrets
    ws = workers(env, tmp_path, job, 2, "a", {**SLOW, **tok})
    coord = None
    try:
        # the API lingers after the run, so that the end can be read from it
        coord = Proc(env, tmp_path, "coordinator",
                     ["coordinator", "start", str(job), "--report", "cancelled.json",
                      "--metrics-linger", "60"], tok)
        m = wait_for(lambda: re.search(r"Jobs page and API on http://127\.0\.0\.1:(\d+)/",
                                       coord.text()), 30, "the API's address in the log")
        base = f"http://127.0.0.1:{m.group(1)}"
        assert TOKEN not in coord.text()

        # the page and its assets: no token needed, no external URL
        for path, ctype in [("/", "text/html"), (f"/jobs/{jid}", "text/html"),
                            ("/app.js", "text/javascript"), ("/app.css", "text/css")]:
            status, ct, body = call(base, "GET", path, token=None)
            assert status == 200 and ct.startswith(ctype), (path, status, ct)
            assert b"http://" not in body and b"https://" not in body, path
        assert b'src="/app.js"' in call(base, "GET", "/", None)[2]

        # the token
        assert api(base, "GET", "/api/jobs", token=None)[0] == 401
        assert api(base, "GET", "/api/jobs", token="wrong")[0] == 401
        assert api(base, "POST", f"/api/jobs/{jid}/cancel", token="wrong")[0] == 401
        assert api(base, "GET", "/api/jobs/no-such-job")[0] == 404

        # listed, with progress advancing between two polls
        def job_now():
            status, doc = api(base, "GET", "/api/jobs")
            assert status == 200, doc
            return next((j for j in doc["jobs"] if j["id"] == jid), None)

        first = wait_for(lambda: (lambda j: j if j and j["rows_written"] > 0 else None)(job_now()),
                         30, "rows written")
        time.sleep(1.0)
        second = job_now()
        assert second["state"] == "running", second
        assert second["rows_total"] == ROWS
        assert second["rows_written"] > first["rows_written"], (first, second)
        assert 0 < second["progress"] < 1 and second["rows_per_second"] > 0
        assert second["tasks"]["total"] == 10 and second["served"] is True

        status, tasks = api(base, "GET", f"/api/jobs/{jid}/tasks")
        assert status == 200 and len(tasks["tasks"]) == 10
        assert {t["state"] for t in tasks["tasks"]} <= {"pending", "running", "done"}
        assert sum(t["rows_written"] for t in tasks["tasks"]) >= second["rows_written"]
        assert api(base, "GET", f"/api/jobs/{jid}/report")[0] == 404  # not yet

        # cancel: the job ends cancelled; report rows = what Milvus holds
        status, doc = api(base, "POST", f"/api/jobs/{jid}/cancel")
        assert status == 202 and doc["applied"] is True, doc
        wait_for(lambda: job_now()["state"] == "cancelled", 60, "the job cancelled")
        assert api(base, "POST", f"/api/jobs/{jid}/cancel")[0] == 409
        status, rep = api(base, "GET", f"/api/jobs/{jid}/report")
        assert status == 200 and rep["verdict"] == "cancelled", rep
        c = rep["counts"]
        assert 0 < c["rows_written"] < ROWS, c
        assert c["rows_written"] == c["target_rows"] == milvus_count(milvus, coll), c
        assert job_now()["rows_written"] == c["rows_written"]
        finish(ws)

        # resume through the API: this coordinator's run is over, so one must run
        status, doc = api(base, "POST", f"/api/jobs/{jid}/resume")
        assert status == 200, doc
        assert doc["previous_state"] == "cancelled" and doc["continues"] is False, doc
        assert "coordinator must run" in doc["message"]
        j = job_now()
        assert j["state"] == "running" and j["cancel_requested"] is False, j
        coord.stop()  # ends the linger
        assert coord.p.returncode == 4, coord.text()[-3000:]

        # a coordinator (not `vecmig resume`) continues the resumed job to done
        ws = workers(env, tmp_path, job, 2, "b", tok)
        coord = Proc(env, tmp_path, "coordinator2",
                     ["coordinator", "start", str(job), "--report", "done.json"], tok)
        assert coord.wait(90) == 0, coord.text()[-3000:]
        finish(ws)
    finally:
        for w in ws:
            w.stop()
        if coord:
            coord.stop()
    rep = json.loads((tmp_path / "done.json").read_text())
    assert rep["verdict"] == "ok", rep["verdict"]
    assert rep["counts"]["target_rows"] == ROWS == milvus_count(milvus, coll)

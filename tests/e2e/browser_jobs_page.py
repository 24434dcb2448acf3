"""Browser test of the Jobs page (ctest `browser_jobs_page`, label
`browser`; not part of the e2e suite, its name does not match test_*.py):
a distributed migration slowed with VECMIG_TEST_BATCH_DELAY_MS, the
coordinator's API on a free port behind a token, and headless Chromium
(Debian's package) driven by playwright-core (installed by scripts/bootstrap
into the cache) through jobs_page_browser.js: the page shows the job's rows
advancing, the Cancel button ends the job cancelled (the page shows the
state and the report), a screenshot is saved in the test's tmp dir. The
outcome is checked against the API and pymilvus.

playwright-core is looked for in $VECMIG_PLAYWRIGHT, else
$VECMIG_CACHE/playwright/node_modules (~/.cache/vecmig by default), Chromium
at $VECMIG_CHROMIUM, else /usr/bin/chromium.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import unique, wait_for, write_job
from test_cancel_resume import Proc, finish, milvus_count, workers
from test_jobs_api import api
from test_pg_to_milvus import TABLE_SQL

ROWS = 3000
DIM = 16
TOKEN = "browser-" + unique("t")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def table(pg):
    t = unique("e2e_browser")
    pg.execute(TABLE_SQL.format(t=t, dim=DIM, rows=ROWS))
    yield t
    pg.execute(f"DROP TABLE IF EXISTS {t}")


def test_jobs_page_in_chromium(pg, milvus, env, tmp_path, table):
    cache = os.environ.get("VECMIG_CACHE") or os.path.expanduser("~/.cache/vecmig")
    modules = os.environ.get("VECMIG_PLAYWRIGHT") or os.path.join(cache, "playwright",
                                                                    "node_modules")
    assert modules and os.path.isdir(os.path.join(modules, "playwright-core")), \
        "VECMIG_PLAYWRIGHT must name the node_modules with playwright-core (scripts/bootstrap)"
    chromium = os.environ.get("VECMIG_CHROMIUM", "/usr/bin/chromium")
    assert os.access(chromium, os.X_OK), f"no Chromium at {chromium} (apt-get install chromium)"
    coll = unique("c")
    jid = unique("page")
    job = write_job(tmp_path, env, jid,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll,
                     "halfvec_as": "float"},
                    migration={"task_rows": 300, "batch_rows": 50, "lease": "4s",
                               "heartbeat": "1s"},
                    extra='http: {listen: "127.0.0.1:0", token: {env: VECMIG_API_TOKEN}}\n')
    tok = {"VECMIG_API_TOKEN": TOKEN}
    ws = workers(env, tmp_path, job, 2, "a", {"VECMIG_TEST_BATCH_DELAY_MS": "250", **tok})
    coord = None
    try:
        coord = Proc(env, tmp_path, "coordinator",
                     ["coordinator", "start", str(job), "--report", "cancelled.json",
                      "--metrics-linger", "60"], tok)
        m = wait_for(lambda: re.search(r"Jobs page and API on http://127\.0\.0\.1:(\d+)/",
                                       coord.text()), 30, "the API's address in the log")
        base = f"http://127.0.0.1:{m.group(1)}"
        e = dict(os.environ, NODE_PATH=modules, VECMIG_CHROMIUM=chromium)
        out = subprocess.run(["node", os.path.join(HERE, "jobs_page_browser.js"), base, TOKEN, jid,
                              str(tmp_path)], capture_output=True, text=True, timeout=150, env=e)
        assert out.returncode == 0, out.stderr[-3000:]
        seen = json.loads(out.stdout.strip().splitlines()[-1])
        assert seen["second"] > seen["first"] > 0, seen
        assert seen["listState"] == "running", seen
        assert seen["prompts"] == 1 and seen["confirms"] == 1, seen  # token asked once
        assert seen["tasksRows"] == 10, seen
        assert seen["finalState"] == "cancelled" and seen["verdict"] == "cancelled", seen
        assert seen["resumeEnabled"], seen
        assert seen["external"] == [], seen
        png = tmp_path / "jobs-page-cancelled.png"
        assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # what the page showed is what the store and Milvus hold
        status, j = api(base, "GET", f"/api/jobs/{jid}", token=TOKEN)
        assert status == 200 and j["state"] == "cancelled", j
        status, rep = api(base, "GET", f"/api/jobs/{jid}/report", token=TOKEN)
        c = rep["counts"]
        assert 0 < c["rows_written"] < ROWS, c
        assert c["rows_written"] == c["target_rows"] == milvus_count(milvus, coll), c
        finish(ws)
        coord.stop()
        assert coord.p.returncode == 4, coord.text()[-3000:]
    finally:
        for w in ws:
            w.stop()
        if coord:
            coord.stop()

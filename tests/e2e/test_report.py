"""The migration report and the structured logs, end to end.

A small distributed migration (coordinator + 2 worker processes, Kafka +
Redis, pgvector source) with JSON logs (stderr is not a terminal): the
report the coordinator kept in Redis (`vecmig report JOB --format json`)
equals the --report file; Markdown and HTML (from the store, and the ones
--report-format wrote next to the file) show the right counts; every task
has a duration and the per-task rows add up to the source rows; every
worker log line is a JSON object with the job and worker ids, and the
lines inside a task carry its id; --log-level on one worker only changes
that worker's level. Then a failing job (embedded, one row that does not
fit the mapping): its report, from the state file, lists the failed task
and its error samples."""
import json
import re
import signal
import subprocess

from conftest import unique, write_job

ROWS = 3000
BAD_ID = 1234


def vecmig(env, *args, cwd=None):
    return subprocess.run([env["VECMIG_BIN"], *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def json_log_lines(path):
    """Every line of a log file, parsed; fails on a line that is not JSON."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}: not a JSON line: {line!r}")
    return out


def make_table(pg, table, bad=False):
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, n bigint, title text, v vector(8))")
    pg.execute(f"INSERT INTO {table} SELECT i,"
               f" CASE WHEN {str(bad).lower()} AND i = {BAD_ID} THEN 5000000000 ELSE i END,"
               f" 'row ' || i, ARRAY[i, 1, 2, 3, 4, 5, 6, 7]::vector"
               f" FROM generate_series(1, {ROWS}) i")
    pg.execute(f"ANALYZE {table}")


def test_report_and_logs_distributed(env, pg, milvus, tmp_path):
    table, coll, job_id = unique("rep"), unique("rep"), unique("rep")
    make_table(pg, table)
    job = write_job(tmp_path, env, job_id,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table, "collection": coll},
                    migration={"task_rows": 500, "batch_rows": 200})
    # the default format: JSON lines, since stderr is a file
    job.write_text(job.read_text().replace("format: text", "format: auto"))
    report = tmp_path / "report.json"
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [subprocess.Popen([env["VECMIG_BIN"], "worker", str(job), "--id", f"w{i}",
                                 "--exit-when-idle", "2", *(["--log-level", "debug"] if i else [])],
                                stdout=open(logs[i], "w"), stderr=subprocess.STDOUT, cwd=tmp_path)
               for i in range(2)]
    coord_log = tmp_path / "coordinator.log"
    try:
        coord = subprocess.run([env["VECMIG_BIN"], "coordinator", "start", str(job), "--report",
                                str(report), "--report-format", "md,html"],
                               stdout=subprocess.DEVNULL, stderr=open(coord_log, "w"),
                               cwd=tmp_path, timeout=120)
        for w in workers:
            w.wait(timeout=60)
        assert coord.returncode == 0, coord_log.read_text()[-3000:]
        assert [w.returncode for w in workers] == [0, 0]

        # the stored report is the report file
        r = vecmig(env, "report", job_id, "--redis", env["VECMIG_TEST_REDIS"], "--format", "json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(report.read_text())
        assert json.loads(r.stdout) == rep
        assert r.stdout.rstrip("\n") == report.read_text().rstrip("\n")
        assert rep["verdict"] == "ok" and rep["verdict_reason"].startswith("all counts agree")

        # per-task rows add up to the source rows; each task took time
        tasks = rep["tasks"]
        assert len(tasks) >= 4
        assert sum(t["rows_written"] for t in tasks) == sum(t["rows_read"] for t in tasks) == ROWS
        assert all(t["duration_ms"] > 0 and t["run_ms"] > 0 for t in tasks), tasks
        assert all(t["first_claim_at"] <= t["finished_at"] for t in tasks)
        assert {t["owner"] for t in tasks} <= {"w0", "w1"}
        assert rep["time"]["seconds"] > 0 and rep["throughput"]["rows_per_second"] > 0
        assert rep["retries"]["task_attempts"] >= len(tasks)
        assert rep["lossy"] == {"values_changed": 0, "values_truncated": 0, "fields": [],
                                "per_field_counts": False}
        assert rep["failures"] == {"tasks": [], "errors": [], "distinct_errors": 0}

        # readable renderings, from the store (job file) and beside the file
        md = vecmig(env, "report", str(job), "--format", "md")
        assert md.returncode == 0, md.stderr
        assert md.stdout.startswith(f"# Migration report: {job_id}\n\n**Verdict: ok** - ")
        assert f"| Rows read / written | {ROWS} / {ROWS} |" in md.stdout
        assert f"| Target rows | {ROWS} |" in md.stdout
        assert f"| Tasks done / not done | {len(tasks)} / 0 |" in md.stdout
        assert (tmp_path / "report.md").read_text() == md.stdout
        html_out = tmp_path / "out.html"
        h = vecmig(env, "report", job_id, "--redis", env["VECMIG_TEST_REDIS"], "--format", "html",
                   "--out", str(html_out))
        assert h.returncode == 0 and h.stdout == "", h.stderr
        html = html_out.read_text()
        assert html == (tmp_path / "report.html").read_text()
        assert html.startswith("<!DOCTYPE html>") and "<script" not in html
        assert f"<tr><td>Rows read / written</td><td>{ROWS} / {ROWS}</td></tr>" in html
        for t in tasks:
            assert (f'<tr><td class="num">{t["id"]}</td><td>{t["range"]}</td><td>done</td>'
                    f'<td class="num">{t["rows_read"]}</td>'
                    f'<td class="num">{t["rows_written"]}</td>') in html
        assert re.search(r'<p class="verdict v-ok">Verdict: <strong>ok</strong>', html)
        assert vecmig(env, "report", "--from", str(report), "--format", "md").stdout == md.stdout

        # structured logs: every worker line is JSON with job and worker;
        # lines about a task inside it carry its id; levels per process
        for i, path in enumerate(logs):
            lines = json_log_lines(path)
            assert lines, path
            for l in lines:
                assert l["job"] == job_id and l["worker"] == f"w{i}", l
                assert l["level"] in ("error", "warn", "info", "debug") and "ts" in l
                m = re.match(r"task (\d+)\b", l["msg"])
                if m:
                    assert l.get("task") == int(m.group(1)), l
            in_task = [l for l in lines if "task" in l]
            assert in_task, f"w{i} logged nothing inside a task"
            debug = [l for l in lines if l["level"] == "debug"]
            assert bool(debug) == (i == 1), f"w{i}: --log-level applies to w1 only"
        coord_json = [json.loads(l) for l in coord_log.read_text().splitlines()
                      if l.startswith("{")]
        assert coord_json and all(l["job"] == job_id for l in coord_json)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGKILL)
                w.wait()
        pg.execute(f"DROP TABLE IF EXISTS {table}")
        if milvus.has_collection(coll):
            milvus.drop_collection(coll)


def test_failed_job_report_lists_errors(env, pg, milvus, tmp_path):
    table, coll, job_id = unique("repf"), unique("repf"), unique("repf")
    make_table(pg, table, bad=True)
    job = write_job(tmp_path, env, job_id,
                    {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table},
                    migration={"task_rows": 1000, "batch_rows": 250, "max_attempts": 1},
                    distributed=False,
                    extra=f"mapping: {{collection: {{name: {coll}}}, "
                          f"fields: [{{source: n, type: Int32}}]}}\n")
    try:
        m = vecmig(env, "migrate", str(job), "--workers", "2", "--report", "f.json",
                   "--report-format", "html", cwd=tmp_path)
        assert m.returncode == 1, m.stderr[-3000:]
        rep = json.loads((tmp_path / "f.json").read_text())
        assert rep["verdict"] == "failed"
        assert re.match(r"1 of \d+ tasks did not finish; first error: ", rep["verdict_reason"])
        failed = rep["failures"]["tasks"]
        assert len(failed) == 1 and failed[0]["state"] == "failed", failed
        assert str(BAD_ID) in failed[0]["error"] and "'n'" in failed[0]["error"]
        errors = rep["failures"]["errors"]
        assert errors and any(str(BAD_ID) in e for e in errors), errors
        # from the embedded state file in the working directory
        md = vecmig(env, "report", job_id, "--format", "md", cwd=tmp_path)
        assert md.returncode == 0, md.stderr
        assert "**Verdict: failed**" in md.stdout and "## Failures" in md.stdout
        samples = md.stdout.split("Error samples", 1)[1]
        assert str(BAD_ID) in samples and "5000000000" in samples
        assert "| failed |" in md.stdout.split("## Failures", 1)[1]
        html = (tmp_path / "f.html").read_text()
        assert "<li>" in html and str(BAD_ID) in html and "v-failed" in html
        # a job that does not exist, and a store without it
        nf = vecmig(env, "report", "no-such-job", cwd=tmp_path)
        assert nf.returncode == 2 and "no job no-such-job" in nf.stderr
    finally:
        pg.execute(f"DROP TABLE IF EXISTS {table}")
        if milvus.has_collection(coll):
            milvus.drop_collection(coll)

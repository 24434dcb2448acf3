"""Prometheus metrics of a real `vecmig migrate` (embedded: 2 worker threads,
the synthetic source into Milvus through the stack's REST v2 bridge).

/metrics is scraped while the migration runs (each batch slowed by the test
hook VECMIG_TEST_BATCH_DELAY_MS) and after it (--metrics-linger keeps the
process serving). Every scrape is parsed with prometheus_client's parser
(written by the Prometheus authors, not by us) and checked line by line by
a strict reader of the 0.0.4 text format here. After the run the counters
must equal what was migrated: rows read and written = the source rows = the
report's counts, batch-write and source-read histogram counts = the batches
the workers logged, tasks completed = the tasks, no retries, no busy
worker; the coordinator's gauges agree with the state store.
A bad --metrics address and a taken port fail before anything runs."""
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import unique, wait_for, write_job

ROWS, DIM, TASK_ROWS, BATCH = 4000, 16, 1000, 200
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(\{{{LABEL}(?:,{LABEL})*\}})? (\S+)$")
VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$")


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read().decode("utf-8")


def strict_check(text):
    """The text format, line by line: HELP and TYPE once per family, before
    its samples; samples only of a declared family (histograms through
    _bucket/_sum/_count); a family's samples together; values parse;
    histograms have le, cumulative buckets, +Inf = _count."""
    assert text.endswith("\n")
    types, helped, done, current = {}, set(), set(), None
    hist = {}
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helped, f"second HELP for {name}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert typ in ("counter", "gauge", "histogram"), line
            assert name in helped and name not in types, line
            types[name] = typ
            if current:
                done.add(current)
            current = name
            continue
        assert not line.startswith("#") and line.strip() == line and line, repr(line)
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        assert VALUE.match(value), line
        fam = name
        if current and types[current] == "histogram" and name in (
                current + "_bucket", current + "_sum", current + "_count"):
            fam = current
        assert fam == current and fam not in done, f"sample outside its family: {line}"
        if types[fam] == "counter":
            assert name.endswith("_total") and float(value) >= 0, line
        if types[fam] == "histogram":
            ls = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
            key = tuple(sorted((k, v) for k, v in ls.items() if k != "le"))
            h = hist.setdefault((fam, key), {"buckets": [], "count": None, "sum": None})
            if name.endswith("_bucket"):
                h["buckets"].append((float(ls["le"]), int(value)))
            elif name.endswith("_count"):
                h["count"] = int(value)
            else:
                h["sum"] = float(value)
    for (fam, key), h in hist.items():
        les = [b[0] for b in h["buckets"]]
        counts = [b[1] for b in h["buckets"]]
        assert les == sorted(les) and les[-1] == math.inf, (fam, key)
        assert counts == sorted(counts), f"{fam}{key}: buckets not cumulative"
        assert counts[-1] == h["count"] and h["sum"] is not None, (fam, key)
    return types


def parse(text):
    """{(sample name, frozenset(labels)): value} through prometheus_client,
    after the strict check."""
    strict_check(text)
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items()
               if n == name and all((k, v2) in ls for k, v2 in labels.items()))


def values(samples, name):
    return {ls: v for (n, ls), v in samples.items() if n == name}


def port_from(log):
    m = re.search(r"metrics: serving GET /metrics on 127\.0\.0\.1:(\d+)", log.read_text())
    return int(m.group(1)) if m else None


def test_metrics_of_a_migration(env, tmp_path, milvus):
    coll = unique("e2e_metrics")
    job = write_job(tmp_path, env, unique("met"),
                    {"rows": ROWS, "dim": DIM, "collection": coll},
                    migration={"task_rows": TASK_ROWS, "batch_rows": BATCH, "workers": 2},
                    distributed=False, source_type="synthetic")
    log, report = tmp_path / "migrate.log", tmp_path / "report.json"
    started = time.time()
    p = subprocess.Popen([env["VECMIG_BIN"], "migrate", str(job), "--report", str(report),
                          "--metrics", "127.0.0.1:0", "--metrics-linger", "120"],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=tmp_path,
                         env={**os.environ, "VECMIG_TEST_BATCH_DELAY_MS": "150"})
    try:
        port = wait_for(lambda: port_from(log), 30, "the metrics address in the log")
        # during the run: rows move, a worker is busy, counters never go back
        seen_busy, seen_mid, last = False, False, 0
        deadline = time.monotonic() + 120
        while "metrics: run over" not in log.read_text():
            assert time.monotonic() < deadline and p.poll() is None, log.read_text()[-2000:]
            s = parse(scrape(port))
            written = total(s, "vecmig_rows_written_total")
            assert written >= last
            last = written
            seen_busy = seen_busy or total(s, "vecmig_worker_busy") >= 1
            seen_mid = seen_mid or 0 < written < ROWS
            time.sleep(0.1)
        assert seen_busy and seen_mid, "no scrape saw the migration in progress"

        # after the run
        s = parse(scrape(port))
        rep = json.loads(report.read_text())
        assert rep["verdict"] == "ok"
        assert rep["counts"]["rows_written"] == ROWS
        ntasks = ROWS // TASK_ROWS
        batches = sum(int(b) for b in re.findall(r"task \d+: done, \d+ rows in (\d+) batches",
                                                 log.read_text()))
        assert batches == ROWS // BATCH  # every batch is full here
        workers = {dict(ls)["worker"] for ls in values(s, "vecmig_rows_written_total")}
        assert len(workers) == 2
        assert {dict(ls)["job_id"] for ls in values(s, "vecmig_rows_written_total")} == {
            rep["job"]}
        assert total(s, "vecmig_rows_read_total") == ROWS
        assert total(s, "vecmig_rows_written_total") == ROWS
        assert total(s, "vecmig_batch_write_seconds_count") == batches
        assert total(s, "vecmig_source_read_seconds_count") == batches
        assert total(s, "vecmig_batch_write_seconds_bucket", le="+Inf") == batches
        # each batch waited for the bridge: the latency sum is real time
        assert 0 < total(s, "vecmig_batch_write_seconds_sum") < 120
        # request bodies: at least two characters per vector component
        assert total(s, "vecmig_bytes_written_total") > ROWS * DIM * 2
        assert total(s, "vecmig_tasks_completed_total") == ntasks
        assert total(s, "vecmig_tasks_failed_total") == 0
        assert total(s, "vecmig_retries_total") == 0
        assert {dict(ls)["cause"] for ls in values(s, "vecmig_retries_total")} == {
            "rate_limited", "unavailable", "timeout", "io", "too_large", "other"}
        assert total(s, "vecmig_worker_busy") == 0
        # the coordinator's view from the state store
        assert total(s, "vecmig_job_source_rows") == ROWS
        assert total(s, "vecmig_job_rows_done") == ROWS
        assert total(s, "vecmig_tasks", state="done") == ntasks
        for st in ("pending", "running", "failed"):
            assert total(s, "vecmig_tasks", state=st) == 0
        assert started - 5 <= total(s, "process_start_time_seconds") <= time.time()
        assert total(s, "vecmig_build_info") == 1
        # SIGTERM ends the linger at once; the exit code is the migration's
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if milvus.has_collection(coll):
            milvus.drop_collection(coll)


def test_metrics_address_errors(env, tmp_path):
    job = write_job(tmp_path, env, unique("met"), {"rows": 10, "collection": unique("e2e_m")},
                    distributed=False, source_type="synthetic")
    for cmd in (["migrate"], ["resume"], ["worker"], ["coordinator", "start"]):
        r = subprocess.run([env["VECMIG_BIN"], *cmd, str(job), "--metrics", "9464"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert r.returncode == 2, (cmd, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"vecmig {cmd[0]}: --metrics: listen address '9464': expected host:port "
            "(e.g. 127.0.0.1:9464 or :9464)"]
        r = subprocess.run([env["VECMIG_BIN"], *cmd, str(job), "--metrics-linger", "soon"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert r.returncode == 2 and "--metrics-linger" in r.stderr, (cmd, r.stderr)
    # a port that is taken, named in the job file: nothing runs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        job.write_text(job.read_text() + f'\nmetrics: {{listen: "127.0.0.1:{taken}"}}\n')
        r = subprocess.run([env["VECMIG_BIN"], "migrate", str(job)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in r.stderr
    assert "new job" not in r.stderr
    assert not (tmp_path / ".vecmig").exists()

#!/usr/bin/env python3
"""bench/planning.py - the coordinator's planning time for sources of 10^6
to 10^9 rows (`bench/run planning`; bench/README.md): it must not grow with
the rows.

The source is memsource (bench/fixtures), a Qdrant protocol fixture whose
collection info and exact count say N points (ids 0..N-1) without holding
them: the catalogue answers are simulated, the id probes real. The qdrant
source plans with `split: space` (common/sources/qdrant/qd_plan.c): the
count, then id-only scrolls of limit 1 that find the smallest and, by
binary search, the largest integer id and UUID (about 2 x 64 probes,
whatever N), then ceil(N / task_rows) equal-width ranges. Two series:

  (a) task_rows = 100,000 (the default): the tasks grow with N (10 to
      10,000), so the time per task is printed;
  (b) task_rows = N / 1000: 1,000 tasks at every size, so any growth is
      growth with the rows themselves.

Per size: `vecmig plan job.yaml` wall time (the median of --repeat runs;
it prints the whole plan, every task included, to /dev/null) and the
scrolls it made (memsource's counter); with Kafka and Redis from the dev
stack (`eval "$(scripts/stack env)"`; --no-coordinator skips it) also one
`vecmig coordinator start` (no workers) timed from its start to the log
lines `planned N tasks` and `... tasks published`: planning, recording the
job and its tasks in Redis, creating the topic and the collection, and
publishing every task to Kafka (one durable publish per task). Its Redis
keys (prefix vecmig-bench-planning:) and Kafka topics
(vecmig-bench-planning.*) are deleted at the end (the topics with
bench/control_plane --delete-topic). Prints the ratios of
10^9 against 10^6.

    bench/run planning [--sizes 1e6,1e7,1e8,1e9] [--repeat 3] [--no-coordinator]

Not a test: timing.
"""
import argparse
import importlib.machinery
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_run = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run")).load_module()
out, note, header, ensure_build, Server = (_run.out, _run.note, _run.header, _run.ensure_build,
                                           _run.Server)
PREFIX = "vecmig-bench-planning"


def stack_env():
    if not (os.environ.get("VECMIG_TEST_KAFKA") and os.environ.get("VECMIG_TEST_REDIS")):
        r = subprocess.run([os.path.join(REPO, "scripts", "stack"), "env"], capture_output=True,
                           text=True)
        for k in ("VECMIG_TEST_KAFKA", "VECMIG_TEST_REDIS"):
            m = re.search(k + r"=(?:'([^']*)'|\"([^\"]*)\"|(\S+))", r.stdout)
            if m:
                os.environ[k] = next(g for g in m.groups() if g)
    return os.environ.get("VECMIG_TEST_KAFKA"), os.environ.get("VECMIG_TEST_REDIS")


def write_job(path, job_id, src, sink, task_rows, kafka=None, redis=None, props=()):
    job = {"version": 1, "job": {"id": job_id},
           "source": {"type": "qdrant", "url": src.url, "collection": "bench"},
           "target": {"type": "milvus", "uri": sink.url},
           "migration": {"task_rows": task_rows, "batch_rows": 1000},
           "log": {"level": "info", "format": "json"}}
    if kafka:
        job["queue"] = {"type": "kafka", "brokers": kafka, "topic": PREFIX,
                        "dead_letter_topic": PREFIX + ".dead",
                        "properties": dict(kv.split("=", 1) for kv in props)}
        job["state"] = {"type": "redis", "url": redis, "key_prefix": PREFIX + ":"}
    with open(path, "w") as f:
        json.dump(job, f, indent=1)


def log_time(line):
    try:
        d = json.loads(line)
        t = datetime.strptime(d["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        return (t - datetime(1970, 1, 1)).total_seconds(), d.get("msg", "")
    except (ValueError, KeyError, TypeError):
        return None, ""


def plan_once(exe, job, d):
    t0 = time.monotonic()
    r = subprocess.run([exe, "plan", job], cwd=d, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench/planning: vecmig plan failed: {r.stderr[-1500:]}")
    return wall


def coordinator_once(exe, job, d, timeout=600):
    """Seconds from start to `planned` and to `published`, and the tasks."""
    log = os.path.join(d, "coordinator.log")
    t0 = time.time()
    p = subprocess.Popen([exe, "coordinator", "start", job, "--report",
                          os.path.join(d, "report.json")], cwd=d, stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"))
    planned = published = None
    ntasks = None
    deadline = time.monotonic() + timeout
    try:
        while published is None and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
            with open(log, errors="replace") as f:
                for line in f:
                    t, msg = log_time(line)
                    m = re.search(r": planned (\d+) tasks", msg)
                    if m and planned is None:
                        planned, ntasks = t, int(m.group(1))
                    if "tasks published" in msg and published is None:
                        published = t
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    if planned is None or published is None:
        with open(log, errors="replace") as f:
            tail = f.read()[-1500:]
        raise SystemExit(f"bench/planning: the coordinator did not publish: {tail}")
    return planned - t0, published - t0, ntasks


def cleanup_stack(build, kafka, redis, topics):
    try:
        subprocess.run(f"redis-cli -u {redis} --scan --pattern '{PREFIX}:*' | "
                       f"xargs -r -n 500 redis-cli -u {redis} DEL >/dev/null",
                       shell=True, check=False, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        note(f"could not delete the Redis keys {PREFIX}:*: {e}")
    cp = os.path.join(build, "bench", "control_plane")
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "control_plane"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if not os.path.exists(cp) or not topics:
        note(f"Kafka topics left: {', '.join(topics)}")
        return
    subprocess.run([cp, "--kafka", kafka, "--delete-topic"] + topics,
                   stdout=subprocess.DEVNULL, check=False, timeout=300)


def main(argv):
    ap = argparse.ArgumentParser(prog="bench/run planning", description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build-bench"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--sizes", default="1e6,1e7,1e8,1e9")
    ap.add_argument("--repeat", type=int, default=3, help="vecmig plan runs per size (median)")
    ap.add_argument("--kafka-prop", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka property for the coordinator (queue.properties)")
    ap.add_argument("--no-coordinator", action="store_true",
                    help="only `vecmig plan` (no Kafka, no Redis)")
    a = ap.parse_args(argv)
    header(["planning"] + argv)
    exes = ensure_build(os.path.abspath(a.build))
    sizes = [int(float(x)) for x in a.sizes.split(",") if x.strip()]
    kafka = redis = None
    if not a.no_coordinator:
        kafka, redis = stack_env()
        if not (kafka and redis):
            raise SystemExit("bench/planning: VECMIG_TEST_KAFKA/_REDIS unset (scripts/stack up "
                             "kafka redis), or pass --no-coordinator")
    tmp = tempfile.mkdtemp(prefix="vecmig-bench-planning-")
    topics = []
    res = {}
    try:
        for series, tr_of in (("fixed_task_rows", lambda n: 100000),
                              ("fixed_tasks", lambda n: max(1, n // 1000))):
            for n in sizes:
                tr = tr_of(n)
                d = tempfile.mkdtemp(prefix=f"{series}-{n}-", dir=tmp)
                src = Server([exes["memsource"], "--rows", str(n), "--dim", "768", "--pool", "16"],
                             os.path.join(d, "memsource.log"))
                sink = Server([exes["memsink"]], os.path.join(d, "memsink.log"))
                try:
                    job = os.path.join(d, "job.yaml")
                    write_job(job, f"plan-{series}-{n}", src, sink, tr)
                    walls = []
                    s0 = src.get("/_fixture/stats")["scrolls"]
                    for _ in range(a.repeat):
                        walls.append(plan_once(exes["vecmig"], job, d))
                    probes = (src.get("/_fixture/stats")["scrolls"] - s0) / a.repeat
                    r = {"plan_s": statistics.median(walls), "probes": probes,
                         "tasks": -(-n // tr)}
                    if not a.no_coordinator:
                        jid = f"plan-{series}-{n}-{os.getpid()}"
                        write_job(job, jid, src, sink, tr, kafka, redis, a.kafka_prop)
                        topics += [f"{PREFIX}.{jid}", f"{PREFIX}.dead.{jid}"]
                        r["coord_planned_s"], r["coord_published_s"], r["tasks"] = \
                            coordinator_once(exes["vecmig"], job, d)
                finally:
                    src.stop()
                    sink.stop()
                res[(series, n)] = r
                p = f"planning.{series}.rows_{n:.0e}".replace("+", "")
                out(f"{p}.task_rows", tr, "rows")
                out(f"{p}.tasks", r["tasks"])
                out(f"{p}.plan_wall", f"{r['plan_s'] * 1000:.1f}", "ms")
                out(f"{p}.source_requests", f"{r['probes']:.0f}", "scrolls")
                if series == "fixed_task_rows":
                    out(f"{p}.plan_wall_per_task", f"{r['plan_s'] * 1e6 / r['tasks']:.1f}", "us")
                if "coord_planned_s" in r:
                    out(f"{p}.coordinator_start_to_planned",
                        f"{r['coord_planned_s'] * 1000:.0f}", "ms")
                    out(f"{p}.coordinator_start_to_published",
                        f"{r['coord_published_s'] * 1000:.0f}", "ms")
                    pub = r["coord_published_s"] - r["coord_planned_s"]
                    out(f"{p}.coordinator_record_and_publish_per_task",
                        f"{pub * 1e6 / r['tasks']:.0f}", "us")
            lo, hi = min(sizes), max(sizes)
            if lo != hi:
                a_, b_ = res[(series, lo)], res[(series, hi)]
                tag = f"{hi:.0e}_over_{lo:.0e}".replace("+", "")
                out(f"ratio.planning.{series}.plan_wall_{tag}",
                    f"{b_['plan_s'] / a_['plan_s']:.2f}", "x")
                out(f"ratio.planning.{series}.rows_{tag}", f"{hi / lo:.0f}", "x")
                out(f"ratio.planning.{series}.tasks_{tag}", f"{b_['tasks'] / a_['tasks']:.0f}", "x")
                if "coord_published_s" in b_:
                    out(f"ratio.planning.{series}.coordinator_to_published_{tag}",
                        f"{b_['coord_published_s'] / a_['coord_published_s']:.2f}", "x")
    finally:
        if not a.no_coordinator:
            cleanup_stack(os.path.abspath(a.build), kafka, redis, topics)
        if a.keep:
            note(f"work directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

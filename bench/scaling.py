#!/usr/bin/env python3
"""bench/scaling.py - throughput of 1, 2, 4, 8, 16 distributed worker
processes when the source and the sink add cloud latency (`bench/run
scaling`; bench/README.md).

One run per worker count N: memsource (bench/fixtures, a Qdrant protocol
fixture answering from memory) with --read-latency-ms 50 per scroll page,
memsink (a Milvus REST v2 fixture that counts rows) with --write-latency-ms
20 per insert, the dev stack's real Kafka and Redis
(`eval "$(scripts/stack env)"`; Redis keys under vecmig-bench-scaling: and
topics vecmig-bench-scaling.*, deleted at the end), N `vecmig worker job.yaml --id wN` started
first, then one `vecmig coordinator start job.yaml`. The qdrant source
splits the id space into ceil(rows / task_rows) range tasks (split: space,
~200 id probes), so rows = N x tasks-per-worker x task_rows gives every
worker the same number of tasks on average and the task topic its 32
partitions (min(tasks, 32)).

Steady state: from the moment every worker has claimed its first task
(the group's rebalance and the planning are over) to the first worker's
last `done` (from then on a worker is out of work: Kafka hands a consumer
only the tasks of its own partitions, and the tasks' key hash does not
spread them evenly). Both from the workers' JSON log lines. Rows come from
memsink's counter, sampled every --sample seconds with the CPU seconds of
every process (workers, coordinator, fixtures, and the stack's Redis and
Kafka, whose CPU includes whatever else uses them). Prints rows/s, ideal =
N x (1-worker rate), efficiency = rate / ideal, how busy the workers were
(time inside tasks / N x window), the mean task time, and the CPU-bound
ceiling: CPU seconds per row x the ideal rate against the machine's cores.

    bench/run scaling [--workers 1,2,4,8,16] [--dim 16] [--batch 100]
                      [--task-rows 2000] [--tasks-per-worker 16]
                      [--read-latency-ms 50] [--write-latency-ms 20]

Needs Kafka and Redis (scripts/stack up kafka redis). Not a test: timing.
"""
import argparse
import importlib.machinery
import json
import os
import re
import shutil
import signal
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
TICK = os.sysconf("SC_CLK_TCK")
PREFIX = "vecmig-bench-scaling"


def cleanup_stack(build, kafka, redis, topics):
    """Delete the runs' Redis keys and Kafka topics (bench/control_plane)."""
    subprocess.run(f"redis-cli -u {redis} --scan --pattern '{PREFIX}:*' | "
                   f"xargs -r -n 500 redis-cli -u {redis} DEL >/dev/null",
                   shell=True, check=False, timeout=120)
    cp = os.path.join(build, "bench", "control_plane")
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "control_plane"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if os.path.exists(cp) and topics:
        subprocess.run([cp, "--kafka", kafka, "--delete-topic"] + topics,
                       stdout=subprocess.DEVNULL, check=False, timeout=300)
    elif topics:
        note(f"Kafka topics left: {', '.join(topics)}")


def stack_env():
    """VECMIG_TEST_KAFKA / _REDIS, and the stack's kafka and redis pids."""
    if not (os.environ.get("VECMIG_TEST_KAFKA") and os.environ.get("VECMIG_TEST_REDIS")):
        r = subprocess.run([os.path.join(REPO, "scripts", "stack"), "env"], capture_output=True,
                           text=True)
        for k in ("VECMIG_TEST_KAFKA", "VECMIG_TEST_REDIS"):
            m = re.search(k + r"=(?:'([^']*)'|\"([^\"]*)\"|(\S+))", r.stdout)
            if m:
                os.environ[k] = next(g for g in m.groups() if g)
    for k in ("VECMIG_TEST_KAFKA", "VECMIG_TEST_REDIS"):
        if not os.environ.get(k):
            raise SystemExit(f"bench/scaling: {k} unset; scripts/stack up kafka redis")
    pids = {}
    r = subprocess.run([os.path.join(REPO, "scripts", "stack"), "status"], capture_output=True,
                       text=True)
    for line in r.stdout.splitlines():
        m = re.match(r"(kafka|redis)\s+up\s+\S+\s+pid (\d+)", line)
        if m:
            pids[m.group(1)] = int(m.group(2))
    return os.environ["VECMIG_TEST_KAFKA"], os.environ["VECMIG_TEST_REDIS"], pids


def cpu_s(pid):
    """utime + stime of a live process (and its reaped children), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in st[11:15]) / TICK
    except (OSError, IndexError, ValueError):
        return None


def ts_of(line):
    """A JSON log line's timestamp (epoch seconds) and message."""
    try:
        d = json.loads(line)
        t = datetime.strptime(d["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        return (t - datetime(1970, 1, 1)).total_seconds(), d.get("msg", "")
    except (ValueError, KeyError, TypeError):
        return None, ""


def worker_tasks(log):
    """[(claimed_at, done_at, rows)] of one worker's log."""
    claimed, tasks = {}, []
    with open(log, errors="replace") as f:
        for line in f:
            t, msg = ts_of(line)
            if t is None:
                continue
            m = re.match(r"task (\d+) \(.*\): claimed", msg)
            if m:
                claimed[m.group(1)] = t
                continue
            m = re.match(r"task (\d+): done, (\d+) rows", msg)
            if m and m.group(1) in claimed:
                tasks.append((claimed.pop(m.group(1)), t, int(m.group(2))))
    return tasks


def coordinator_times(log):
    """When the coordinator had planned and had published (epoch seconds)."""
    planned = published = None
    with open(log, errors="replace") as f:
        for line in f:
            t, msg = ts_of(line)
            if t is None:
                continue
            if planned is None and re.search(r": planned \d+ tasks", msg):
                planned = t
            if published is None and "tasks published" in msg:
                published = t
    return planned, published


def interp(samples, t, k):
    """Field k of the samples [(t, ...)] at time t, linear in between."""
    prev = None
    for s in samples:
        if s[0] >= t:
            if prev is None or s[0] == prev[0]:
                return s[k]
            return prev[k] + (s[k] - prev[k]) * (t - prev[0]) / (s[0] - prev[0])
        prev = s
    return prev[k] if prev else 0.0


def one_run(a, exes, tmp, n, kafka, redis, pids):
    """Run one job with n workers; returns a dict of figures."""
    d = tempfile.mkdtemp(prefix=f"scaling-w{n}-", dir=tmp)
    tasks = n * a.tasks_per_worker
    rows = tasks * a.task_rows
    job_id = f"bench-scaling-w{n}-{os.getpid()}-{int(time.time())}"
    a.topics += [f"{PREFIX}.{job_id}", f"{PREFIX}.dead.{job_id}"]
    src = Server([exes["memsource"], "--rows", str(rows), "--dim", str(a.dim), "--pool", "1024",
                  "--seed", "1", "--read-latency-ms", str(a.read_latency_ms)],
                 os.path.join(d, "memsource.log"))
    sink = Server([exes["memsink"], "--write-latency-ms", str(a.write_latency_ms)],
                  os.path.join(d, "memsink.log"))
    job = os.path.join(d, "job.yaml")
    with open(job, "w") as f:
        json.dump({"version": 1, "job": {"id": job_id},
                   "source": {"type": "qdrant", "url": src.url, "collection": "bench"},
                   "target": {"type": "milvus", "uri": sink.url, "timeout": "60s"},
                   "queue": {"type": "kafka", "brokers": kafka, "topic": PREFIX,
                             "dead_letter_topic": PREFIX + ".dead",
                             "properties": dict({"session.timeout.ms": "6000",
                                                 "heartbeat.interval.ms": "1000"},
                                                **dict(kv.split("=", 1) for kv in a.kafka_prop))},
                   "state": {"type": "redis", "url": redis, "key_prefix": PREFIX + ":"},
                   "migration": {"task_rows": a.task_rows, "batch_rows": a.batch,
                                 "lease": "30s", "heartbeat": "5s"},
                   "log": {"level": "info", "format": "json"}}, f, indent=1)
    procs, logs = [], []
    samples = []  # (t, rows, worker cpu, fixture cpu, coordinator cpu, redis cpu, kafka cpu)
    coord = None
    ru_workers = 0.0
    try:
        for i in range(1, n + 1):
            lg = os.path.join(d, f"worker-w{i}.log")
            logs.append(lg)
            procs.append(subprocess.Popen([exes["vecmig"], "worker", job, "--id", f"w{i}"],
                                          cwd=d, stdout=subprocess.DEVNULL,
                                          stderr=open(lg, "w")))
        time.sleep(a.join_seconds)  # let the consumers subscribe before tasks exist
        clog = os.path.join(d, "coordinator.log")
        t_coord = time.time()
        coord = subprocess.Popen([exes["vecmig"], "coordinator", "start", job, "--report",
                                  os.path.join(d, "report.json")], cwd=d,
                                 stdout=subprocess.DEVNULL, stderr=open(clog, "w"))
        last_cpu = {}

        def pcpu(p):
            c = cpu_s(p.pid) if p.poll() is None else None
            if c is not None:
                last_cpu[p.pid] = c
            return last_cpu.get(p.pid, 0.0)

        deadline = time.monotonic() + a.timeout
        while True:
            done = coord.poll() is not None
            try:
                got = sink.get("/stats")["rows"]
            except OSError:
                got = samples[-1][1] if samples else 0
            samples.append((time.time(), got, sum(pcpu(p) for p in procs),
                            pcpu(src.p) + pcpu(sink.p), pcpu(coord),
                            cpu_s(pids["redis"]) or 0.0 if "redis" in pids else 0.0,
                            cpu_s(pids["kafka"]) or 0.0 if "kafka" in pids else 0.0))
            if done:
                break
            if time.monotonic() > deadline:
                coord.kill()
                coord.wait()
                raise SystemExit(f"bench/scaling: the {n}-worker run took over {a.timeout} s "
                                 f"(logs in {d})")
            time.sleep(a.sample)
        crc = coord.returncode
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            _, _, ru = os.wait4(p.pid, 0)
            p.returncode = 0
            ru_workers += ru.ru_utime + ru.ru_stime
        procs = []
        stats = sink.get("/stats")
        src_stats = src.get("/_fixture/stats")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if coord and coord.poll() is None:
            coord.kill()
            coord.wait()
        src.stop()
        sink.stop()
    if crc != 0 or stats["rows"] != rows:
        raise SystemExit(f"bench/scaling: the {n}-worker run failed: coordinator exit {crc}, "
                         f"sink rows {stats['rows']} of {rows} (logs in {d})")
    per = [worker_tasks(lg) for lg in logs]
    if any(not t for t in per):
        raise SystemExit(f"bench/scaling: a worker ran no task in the {n}-worker run "
                         f"(fewer tasks than workers on its partitions?); logs in {d}")
    planned, published = coordinator_times(os.path.join(d, "coordinator.log"))
    start = max(min(c for c, _, _ in t) for t in per)  # every worker busy
    end = min(max(e for _, e, _ in t) for t in per)    # the first worker out of work
    first = min(min(c for c, _, _ in t) for t in per)
    last = max(max(e for _, e, _ in t) for t in per)
    r = {"workers": n, "rows": rows, "tasks": tasks, "dir": d,
         "window_s": end - start, "batches": stats["insert_requests"],
         "scrolls": src_stats["scrolls"], "copy_s": last - first,
         "rate_whole": rows / (last - first),
         "plan_s": (planned - t_coord) if planned else None,
         "to_all_busy_s": (start - published) if published else None,
         "worker_cpu_total": ru_workers}
    if end - start < 2.0:
        note(f"{n} workers: the steady window is only {end - start:.1f} s; raise "
             "--tasks-per-worker")
    if end <= start:
        r["rate"] = None
        return r
    wr = interp(samples, end, 1) - interp(samples, start, 1)
    r["rate"] = wr / (end - start)
    r["window_rows"] = wr
    # time inside tasks within the window, over n x window
    busy = 0.0
    durs = []
    for t in per:
        for c, e, _ in t:
            busy += max(0.0, min(e, end) - max(c, start))
            if c >= start and e <= end:
                durs.append(e - c)
    r["busy"] = busy / (n * (end - start))
    r["task_s_mean"] = sum(durs) / len(durs) if durs else None
    gaps = []
    for t in per:
        t = sorted(t)
        gaps += [t[i + 1][0] - t[i][1] for i in range(len(t) - 1)
                 if t[i][1] >= start and t[i + 1][0] <= end]
    r["gap_ms_mean"] = sum(gaps) / len(gaps) * 1000 if gaps else None
    for k, name in ((2, "cpu_workers"), (3, "cpu_fixtures"), (4, "cpu_coord"),
                    (5, "cpu_redis"), (6, "cpu_kafka")):
        r[name] = (interp(samples, end, k) - interp(samples, start, k)) / max(wr, 1)
    return r


def main(argv):
    ap = argparse.ArgumentParser(prog="bench/run scaling", description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build-bench"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--task-rows", type=int, default=2000)
    ap.add_argument("--tasks-per-worker", type=int, default=16)
    ap.add_argument("--read-latency-ms", type=int, default=50)
    ap.add_argument("--write-latency-ms", type=int, default=20)
    ap.add_argument("--join-seconds", type=float, default=3.0,
                    help="workers start this long before the coordinator")
    ap.add_argument("--kafka-prop", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka property for every process (queue.properties)")
    ap.add_argument("--sample", type=float, default=0.5, help="sampling period, seconds")
    ap.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    a = ap.parse_args(argv)
    header(["scaling"] + argv)
    exes = ensure_build(os.path.abspath(a.build))
    kafka, redis, pids = stack_env()
    counts = [int(x) for x in a.workers.split(",") if x.strip()]
    cores = os.cpu_count() or 1
    out("scaling.dim", a.dim)
    out("scaling.batch", a.batch, "rows")
    out("scaling.task_rows", a.task_rows, "rows")
    out("scaling.read_latency", a.read_latency_ms, "ms")
    out("scaling.write_latency", a.write_latency_ms, "ms")
    tmp = tempfile.mkdtemp(prefix="vecmig-bench-scaling-")
    a.topics = []
    base = None
    try:
        for n in counts:
            note(f"{n} worker(s): {n * a.tasks_per_worker} tasks")
            r = one_run(a, exes, tmp, n, kafka, redis, pids)
            p = f"scaling.w{n}"
            out(f"{p}.rows", r["rows"], "rows")
            out(f"{p}.tasks", r["tasks"])
            if r["plan_s"] is not None:
                out(f"{p}.coordinator_plan_s", f"{r['plan_s']:.2f}", "s")
            if r["to_all_busy_s"] is not None:
                out(f"{p}.published_to_all_busy_s", f"{r['to_all_busy_s']:.2f}", "s")
            out(f"{p}.window_s", f"{r['window_s']:.1f}", "s")
            if r["rate"] is None:
                out(f"{p}.rows_per_s", "n/a")
                continue
            out(f"{p}.rows_per_s", f"{r['rate']:.0f}", "rows/s")
            out(f"{p}.rows_per_s_whole_copy", f"{r['rate_whole']:.0f}", "rows/s")
            out(f"{p}.busy_fraction", f"{r['busy']:.3f}")
            if r["task_s_mean"] is not None:
                out(f"{p}.task_s_mean", f"{r['task_s_mean']:.3f}", "s")
            if r["gap_ms_mean"] is not None:
                out(f"{p}.gap_between_tasks_ms_mean", f"{r['gap_ms_mean']:.1f}", "ms")
            cpu_row = r["cpu_workers"] + r["cpu_fixtures"] + r["cpu_coord"]
            out(f"{p}.cpu_per_row.workers", f"{r['cpu_workers'] * 1e6:.1f}", "us")
            out(f"{p}.cpu_per_row.fixtures", f"{r['cpu_fixtures'] * 1e6:.1f}", "us")
            out(f"{p}.cpu_per_row.coordinator", f"{r['cpu_coord'] * 1e6:.1f}", "us")
            out(f"{p}.cpu_per_row.redis", f"{r['cpu_redis'] * 1e6:.1f}", "us")
            out(f"{p}.cpu_per_row.kafka", f"{r['cpu_kafka'] * 1e6:.1f}", "us")
            used = (cpu_row + r["cpu_redis"] + r["cpu_kafka"]) * r["rate"]
            out(f"{p}.cpu_cores_used", f"{used:.2f}", "cores")
            if base is None:
                base = r
                cpu_batch = (cpu_row + r["cpu_redis"] + r["cpu_kafka"]) * a.batch
                out("scaling.cpu_per_batch_1worker", f"{cpu_batch * 1000:.2f}", "ms")
                batch_rate = r["rate"] / a.batch
                cap = cores / (cpu_batch * batch_rate) if cpu_batch > 0 else float("inf")
                out("scaling.cpu_ceiling_workers", f"{cap:.1f}",
                    f"workers ({cores} cores / (CPU per batch x batches/s of one worker))")
                base["n"] = n
            ideal = base["rate"] * n / base["n"]
            out(f"{p}.ideal_rows_per_s", f"{ideal:.0f}", "rows/s")
            out(f"{p}.efficiency", f"{r['rate'] / ideal:.3f}")
            cpu_need = (base["cpu_workers"] + base["cpu_fixtures"] + base["cpu_coord"] +
                        base["cpu_redis"] + base["cpu_kafka"]) * ideal
            out(f"{p}.cpu_needed_at_ideal", f"{cpu_need:.2f}", f"cores of {cores}")
    finally:
        cleanup_stack(os.path.abspath(a.build), kafka, redis, a.topics)
        if a.keep:
            note(f"work directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

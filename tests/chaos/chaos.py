#!/usr/bin/env python3
"""The chaos run: a PostgreSQL + pgvector -> Milvus migration with several
worker processes while this harness

  * SIGKILLs a random worker every --kill-every seconds (a new one replaces
    it), at least --kills times, and now and then SIGSTOPs one past its lease
    and resumes it (it must find itself fenced, not write over the worker
    that took its task),
  * restarts Redis once (AOF) and the Kafka broker once,
  * injects network faults between the workers and PostgreSQL, Redis and the
    Milvus REST bridge through Toxiproxy (latency, timeouts that stall and
    close connections, connection resets),
  * and lets the bridge answer --fail-rate of the Milvus requests with HTTP
    429 / 503 / rate-limit code 8,

then checks the target against the source: the exact primary-key set, no
duplicate, every vector bit-identical, and the report's verdict `ok` with
rows read = rows written = source rows. It prints the figures (kills,
restarts, toxics, faults, retries, rows, seconds) and exits non-zero on any
difference.

Private servers: its own Kafka and Redis (scripts/stack with another
VECMIG_STACK_DIR and free ports, so restarting them disturbs nothing
else), its own bridge over the stack's milvus-lite (with faults), its own
Toxiproxy. PostgreSQL and milvus-lite are the stack's (eval "$(scripts/stack
env)"). Needs VECMIG_BIN and VECMIG_TOXIPROXY (scripts/bootstrap builds it
from the Go module proxy).

usage: chaos.py [--rows 200000] [--dim 768] [--workers 4] [--kills 20]
                [--kill-every 3] [--seed 1] [--fail-rate 0.01]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import psycopg
from pymilvus import MilvusClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def log(msg):
    sys.stderr.write(f"[chaos {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
        return json.loads(raw) if raw.strip() else None


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Stack:
    """Private Kafka + Redis through scripts/stack."""

    def __init__(self, tmp):
        self.env = dict(os.environ)
        self.env.update({"VECMIG_STACK_DIR": os.path.join(tmp, "stack"),
                         "VECMIG_KAFKA_PORT": str(free_port()),
                         "VECMIG_KAFKA_CONTROLLER_PORT": str(free_port()),
                         "VECMIG_REDIS_PORT": str(free_port())})
        self.kafka = f"127.0.0.1:{self.env['VECMIG_KAFKA_PORT']}"
        self.redis_port = int(self.env["VECMIG_REDIS_PORT"])

    def run(self, *args):
        r = subprocess.run([os.path.join(ROOT, "scripts", "stack"), *args], env=self.env,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"stack {' '.join(args)}: {r.stderr[-2000:]}")

    def up(self, *svc):
        self.run("up", *svc)

    def restart(self, svc):
        t0 = time.monotonic()
        self.run("down", svc)
        self.run("up", svc)
        return time.monotonic() - t0

    def down(self):
        try:
            self.run("down", "--purge")
        except Exception as e:  # noqa: BLE001 - best effort at the end
            log(f"stack down: {e}")


class Toxiproxy:
    def __init__(self, binary, tmp):
        self.port = free_port()
        self.log = open(os.path.join(tmp, "toxiproxy.log"), "w")
        self.proc = subprocess.Popen([binary, "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        self.api = f"http://127.0.0.1:{self.port}"
        self.applied = {}

    def proxy(self, name, upstream_port):
        listen = free_port()
        http("POST", f"{self.api}/proxies", {"name": name, "listen": f"127.0.0.1:{listen}",
                                             "upstream": f"127.0.0.1:{upstream_port}",
                                             "enabled": True})
        return listen

    def add(self, proxy, kind, attrs, stream="downstream", toxicity=1.0):
        name = f"{kind}_{stream}"
        http("POST", f"{self.api}/proxies/{proxy}/toxics",
             {"name": name, "type": kind, "stream": stream, "toxicity": toxicity,
              "attributes": attrs})
        self.applied[kind] = self.applied.get(kind, 0) + 1
        return name

    def remove(self, proxy, name):
        try:
            http("DELETE", f"{self.api}/proxies/{proxy}/toxics/{name}")
        except Exception:  # noqa: BLE001 - already gone
            pass

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def make_source(pg, table, rows, dim, seed):
    """Deterministic rows: v[k] = sin(id * 0.37 + k * 1.3 + seed) as float4."""
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v vector({dim}), n integer, t text)")
    step = 20000
    for lo in range(1, rows + 1, step):
        hi = min(rows, lo + step - 1)
        pg.execute(
            f"INSERT INTO {table} SELECT i, (SELECT array_agg(sin(i * 0.37 + k * 1.3 + {seed}))"
            f" FROM generate_series(1, {dim}) k)::vector, i % 1000, 'row ' || i"
            f" FROM generate_series({lo}, {hi}) i")


def pg_port(dsn):
    m = re.search(r"port=(\d+)", dsn)
    return int(m.group(1)) if m else 5432


def verify(pg, milvus, table, coll, rows, dim):
    """Exact key set, no duplicate, every vector bit-identical."""
    total = milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
    bad, seen = [], 0
    step = 5000
    for lo in range(1, rows + 1, step):
        hi = lo + step
        got = milvus.query(coll, filter=f"id >= {lo} and id < {hi}",
                           output_fields=["id", "v", "n", "t"], limit=16384)
        ids = [r["id"] for r in got]
        if len(ids) != len(set(ids)):
            bad.append(f"duplicate keys in [{lo}, {hi})")
        src = pg.execute(f"SELECT id, v::real[], n, t FROM {table} WHERE id >= %s AND id < %s"
                         " ORDER BY id", (lo, hi)).fetchall()
        if sorted(ids) != [r[0] for r in src]:
            missing = set(r[0] for r in src) - set(ids)
            extra = set(ids) - set(r[0] for r in src)
            bad.append(f"[{lo}, {hi}): {len(missing)} missing, {len(extra)} extra")
            continue
        by = {r["id"]: r for r in got}
        a = np.array([r[1] for r in src], dtype=np.float32).view(np.uint32)
        b = np.array([by[r[0]]["v"] for r in src], dtype=np.float32).view(np.uint32)
        if a.shape != b.shape or not np.array_equal(a, b):
            bad.append(f"[{lo}, {hi}): vectors differ")
        for r in src:
            if by[r[0]]["n"] != r[2] or by[r[0]]["t"] != r[3]:
                bad.append(f"row {r[0]}: scalars differ")
                break
        seen += len(ids)
    if total != rows or seen != rows:
        bad.append(f"count(*) {total}, keys seen {seen}, source rows {rows}")
    return bad


def main():
    ap = argparse.ArgumentParser(description="vecmig chaos run")
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kills", type=int, default=20, help="at least this many SIGKILLs")
    ap.add_argument("--kill-every", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fail-rate", type=float, default=0.01)
    ap.add_argument("--task-rows", type=int, default=0, help="0: rows / 40")
    ap.add_argument("--batch-rows", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder and the data")
    args = ap.parse_args()
    for v in ("VECMIG_BIN", "VECMIG_TOXIPROXY", "VECMIG_TEST_PG", "VECMIG_TEST_MILVUS_GRPC",
              "VECMIG_PYTHON"):
        if not os.environ.get(v):
            sys.exit(f"chaos: {v} is not set (eval \"$(scripts/stack env)\")")
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix=f"vecmig-chaos-{args.seed}-")
    # a private copy: a rebuild of VECMIG_BIN during a long run must not
    # break the processes this harness keeps starting
    binary = os.path.join(tmp, "vecmig")
    shutil.copy2(os.environ["VECMIG_BIN"], binary)
    tag = f"chaos_{args.seed}_{os.getpid()}"
    table = coll = tag
    pg = psycopg.connect(os.environ["VECMIG_TEST_PG"], autocommit=True)
    milvus = MilvusClient(uri=os.environ["VECMIG_TEST_MILVUS_GRPC"])
    stack, toxi, bridge, coord = None, None, None, None
    workers, logs = [], []
    figures = {"seed": args.seed, "rows": args.rows, "dim": args.dim, "workers": args.workers,
               "kills": 0, "redis_restarts": 0, "kafka_restarts": 0}
    ok = False
    try:
        t0 = time.monotonic()
        make_source(pg, table, args.rows, args.dim, args.seed)
        log(f"source {table}: {args.rows} rows x {args.dim}-d in {time.monotonic() - t0:.1f}s")

        stack = Stack(tmp)
        stack.up("kafka", "redis")
        bport = free_port()
        bridge_log = open(os.path.join(tmp, "bridge.log"), "w")
        bridge = subprocess.Popen(
            [os.environ["VECMIG_PYTHON"], os.path.join(ROOT, "tests", "milvus_bridge", "bridge.py"),
             "--port", str(bport), "--milvus-uri", os.environ["VECMIG_TEST_MILVUS_GRPC"],
             "--state-dir", os.path.join(tmp, "bridge"), "--fail-rate", str(args.fail_rate),
             "--fail-seed", str(args.seed)], stdout=bridge_log, stderr=subprocess.STDOUT)
        wait_port(bport)
        toxi = Toxiproxy(os.environ["VECMIG_TOXIPROXY"], tmp)
        ports = {"pg": toxi.proxy("pg", pg_port(os.environ["VECMIG_TEST_PG"])),
                 "redis": toxi.proxy("redis", stack.redis_port),
                 "milvus": toxi.proxy("milvus", bport)}
        dsn = re.sub(r"port=\d+", f"port={ports['pg']}", os.environ["VECMIG_TEST_PG"])
        task_rows = args.task_rows or max(500, args.rows // 40)
        job = os.path.join(tmp, f"{tag}.yaml")
        with open(job, "w") as f:
            f.write(f"""job: {{id: {tag}}}
source: {{type: pgvector, dsn: "{dsn}", table: {table}}}
target: {{type: milvus, uri: "http://127.0.0.1:{ports['milvus']}", timeout: 20s}}
queue:
  type: kafka
  brokers: "{stack.kafka}"
  properties: {{session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
state: {{type: redis, url: "redis://127.0.0.1:{ports['redis']}"}}
migration: {{task_rows: {task_rows}, batch_rows: {args.batch_rows}, lease: 5s, heartbeat: 1s,
            max_attempts: 1000}}
mapping: {{collection: {{name: {coll}}}}}
log: {{level: info, format: text}}
""")
        report = os.path.join(tmp, "report.json")
        coord_log = open(os.path.join(tmp, "coordinator.log"), "w")
        t_run = time.monotonic()
        coord = subprocess.Popen([binary, "coordinator", "start", job,
                                  "--report", report], stdout=coord_log,
                                 stderr=subprocess.STDOUT, cwd=tmp)

        def start_worker():
            i = len(logs)
            path = os.path.join(tmp, f"worker{i}.log")
            logs.append(path)
            p = subprocess.Popen([binary, "worker", job, "--id", f"w{i}",
                                  "--exit-when-idle", "5"], stdout=open(path, "w"),
                                 stderr=subprocess.STDOUT, cwd=tmp)
            workers.append(p)

        for _ in range(args.workers):
            start_worker()

        def progress():
            text = open(os.path.join(tmp, "coordinator.log")).read()
            m = re.findall(r"progress: (\d+)/(\d+) rows", text)
            return int(m[-1][0]) / max(1, int(m[-1][1])) if m else 0.0

        next_kill = time.monotonic() + args.kill_every
        next_toxic = time.monotonic() + 1.0
        next_pause = time.monotonic() + 4 * args.kill_every
        paused = []  # (process, until): SIGSTOPped past its lease, then resumed
        active = []  # (proxy, name, until)
        while coord.poll() is None:
            now = time.monotonic()
            frac = progress()
            if now >= next_kill:
                live = [p for p in workers if p.poll() is None and
                        all(p is not q for q, _ in paused)]
                if live:
                    victim = rng.choice(live)
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    figures["kills"] += 1
                    start_worker()
                next_kill = now + args.kill_every * rng.uniform(0.5, 1.5)
            # a worker that is only slow: stopped past its lease (5 s), then
            # resumed; another worker has its task by then and it must be fenced
            for item in list(paused):
                if now >= item[1]:
                    if item[0].poll() is None:
                        item[0].send_signal(signal.SIGCONT)
                    paused.remove(item)
            if now >= next_pause and not paused:
                live = [p for p in workers if p.poll() is None]
                if len(live) > 1:
                    p = rng.choice(live)
                    p.send_signal(signal.SIGSTOP)
                    paused.append((p, now + 8.0))
                    figures["pauses"] = figures.get("pauses", 0) + 1
                next_pause = now + 4 * args.kill_every * rng.uniform(0.5, 1.5)
            # keep the fleet at --workers (workers exit when idle)
            live_running = [p for p in workers if p.poll() is None and
                            all(p is not q for q, _ in paused)]
            while len(live_running) < args.workers and frac < 1.0:
                start_worker()
                live_running.append(workers[-1])
            if figures["redis_restarts"] == 0 and frac >= 0.3:
                log(f"restarting Redis at {frac:.0%}")
                figures["redis_restart_s"] = round(stack.restart("redis"), 1)
                figures["redis_restarts"] += 1
            elif figures["kafka_restarts"] == 0 and frac >= 0.6:
                log(f"restarting the Kafka broker at {frac:.0%}")
                figures["kafka_restart_s"] = round(stack.restart("kafka"), 1)
                figures["kafka_restarts"] += 1
            for item in list(active):
                if now >= item[2]:
                    toxi.remove(item[0], item[1])
                    active.remove(item)
            if now >= next_toxic and not active:
                proxy = rng.choice(["pg", "redis", "milvus", "milvus"])
                kind = rng.choice(["latency", "timeout", "reset_peer"])
                if kind == "latency":
                    name = toxi.add(proxy, "latency", {"latency": 150, "jitter": 100})
                    dur = 3.0
                elif kind == "timeout":
                    name = toxi.add(proxy, "timeout", {"timeout": 1500})
                    dur = 2.0
                else:
                    name = toxi.add(proxy, "reset_peer", {"timeout": 0}, toxicity=0.3)
                    dur = 1.0
                active.append((proxy, name, now + dur))
                next_toxic = now + dur + rng.uniform(1.0, 3.0)
            time.sleep(0.2)
        for proxy, name, _ in active:
            toxi.remove(proxy, name)
        for p, _ in paused:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
        rc = coord.returncode
        figures["seconds"] = round(time.monotonic() - t_run, 1)
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        coord_log.close()
        wlogs = "".join(open(p).read() for p in logs)
        clog = open(os.path.join(tmp, "coordinator.log")).read()
        figures["toxics"] = dict(toxi.applied)
        figures["bridge_faults"] = http("POST", f"http://127.0.0.1:{bport}/_bridge/faults", {})["data"]
        figures["write_retries"] = wlogs.count("retrying in")
        figures["request_retries"] = len(re.findall(r"retry \d+ of", wlogs))
        figures["tasks_resumed"] = wlogs.count("resuming after")
        figures["tasks_republished"] = clog.count("publishing it again")
        figures["fenced"] = wlogs.count("another worker took it over")
        figures["worker_processes"] = len(workers)
        problems = []
        if rc != 0:
            problems.append(f"coordinator exit code {rc}: {clog[-1500:]}")
        if os.path.exists(report):
            rep = json.load(open(report))
            c = rep["counts"]
            figures["verdict"] = rep["verdict"]
            figures["rows_read"], figures["rows_written"] = c["rows_read"], c["rows_written"]
            if rep["verdict"] != "ok":
                problems.append(f"verdict {rep['verdict']}: {c}")
        else:
            problems.append("no report")
        if figures["kills"] < args.kills:
            problems.append(f"only {figures['kills']} kills (wanted {args.kills}): the job "
                            "finished too soon; use more rows or a shorter --kill-every")
        if figures["redis_restarts"] < 1 or figures["kafka_restarts"] < 1:
            problems.append("Redis or Kafka was not restarted (the job finished too soon)")
        t_v = time.monotonic()
        try:
            problems += verify(pg, milvus, table, coll, args.rows, args.dim)
        except Exception as e:  # noqa: BLE001 - e.g. no collection: a problem, not a crash
            problems.append(f"verification failed: {type(e).__name__}: {e}")
        figures["verify_seconds"] = round(time.monotonic() - t_v, 1)
        figures["problems"] = problems
        print(json.dumps(figures))
        for k, v in figures.items():
            sys.stderr.write(f"chaos: {k}: {v}\n")
        ok = not problems
        return 0 if ok else 1
    finally:
        if coord and coord.poll() is None:
            coord.kill()
        for p in workers:
            if p.poll() is None:
                p.kill()
        if toxi:
            toxi.stop()
        if bridge:
            bridge.terminate()
            bridge.wait(timeout=10)
        if stack:
            stack.down()
        if not args.keep:
            pg.execute(f"DROP TABLE IF EXISTS {table}")
            if milvus.has_collection(coll):
                milvus.drop_collection(coll)
            if ok:
                shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            log(f"logs kept in {tmp}")


if __name__ == "__main__":
    sys.exit(main())

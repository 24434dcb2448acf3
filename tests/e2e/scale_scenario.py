"""The scale-out scenario shared by tests/e2e/test_scale_out.py and
bench/scale_out.py: a pgvector -> Milvus job run the way Kubernetes runs it.

One coordinator (`vecmig coordinator start`, as a Job) and worker processes
(`vecmig worker JOB --id wN`, one consumer each, as the pods of a
Deployment) that are added and removed while the job runs: the phases are
worker counts (e.g. 1, 4, 2); scaling up starts new processes, scaling down
sends SIGTERM to the newest ones (as a Deployment picks the youngest pods),
which finish their batch in flight and exit 0.

The stack's real Kafka, Redis, PostgreSQL + pgvector and milvus-lite; its
own REST v2 bridge (--write-latency-ms: every insert/upsert waits there, in
parallel across writers) and its own Toxiproxy in front of PostgreSQL with a
`latency` toxic on the downstream (server -> client) stream. Toxiproxy
delays each chunk to `arrival + latency`, so chunks that arrive together
leave together: one query round trip (one keyset page of the source) costs
the latency once, whatever the page's size. So the figures reflect how the
work scales over round trips that wait, not this machine's two cores.

Progress is `vecmig status JOB --json` (`rows_done`: the rows written that
the state store has recorded), sampled every `sample_s`. A phase's rate is
taken from `settle_s` (default 5 s) after its scaling action to its end:
new consumers must join the group and the rebalance must hand them
partitions, which took 3-4 s here, during which the others pause too (the
whole-phase rate, rebalance included, is printed beside it). The last phase
ends when a live worker has had no task for 1.5 s, or none is pending any
more (the worker registry of `status --json`): from then on not every
worker has work (a consumer only gets the tasks of its own partitions), and
that tail is not the rate of N workers. Worker and coordinator memory is the peak
RSS (VmHWM from /proc/PID/status, sampled every `sample_s` and just before
SIGTERM; rusage's maxrss would count the forked Python parent before exec),
CPU is user + system seconds from wait4's rusage.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BRIDGE = os.path.join(ROOT, "tests", "milvus_bridge", "bridge.py")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def http(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
        return json.loads(raw) if raw.strip() else None


def vm_hwm_kb(pid):
    """Peak resident set size (VmHWM) in kB, or 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Proc:
    """A child process reaped with wait4, so that its rusage (CPU seconds,
    maxrss) is kept."""

    def __init__(self, name, argv, log_path, cwd, env=None):
        self.name, self.log_path = name, log_path
        self.log = open(log_path, "w")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd,
                                  env=env)
        self.pid = self.p.pid
        self.started = time.monotonic()
        self.rc = None
        self.cpu_s = 0.0
        self.maxrss_kb = 0
        self.hwm_kb = 0
        self.sigterm_at = None

    def poll(self):
        if self.rc is None:
            self.hwm_kb = max(self.hwm_kb, vm_hwm_kb(self.pid))
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.rc = os.waitstatus_to_exitcode(status)
                self.p.returncode = self.rc  # Popen must not wait for it again
                self.cpu_s = ru.ru_utime + ru.ru_stime
                self.maxrss_kb = ru.ru_maxrss
                self.log.close()
        return self.rc

    def alive(self):
        return self.poll() is None

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return self.rc

    def signal(self, sig):
        if self.poll() is None:
            self.hwm_kb = max(self.hwm_kb, vm_hwm_kb(self.pid))
            if sig == signal.SIGTERM and self.sigterm_at is None:
                self.sigterm_at = time.monotonic()
            self.p.send_signal(sig)

    def kill(self):
        if self.poll() is None:
            self.p.kill()
            self.wait(30)

    def text(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""


def make_source(pg, table, rows, dim):
    """id 1..rows, v[k] = sin(id * 0.37 + k * 1.3) as float4, n = id % 1000."""
    pg.execute(f"DROP TABLE IF EXISTS {table}")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v vector({dim}), n integer)")
    step = 20000
    for lo in range(1, rows + 1, step):
        hi = min(rows, lo + step - 1)
        pg.execute(
            f"INSERT INTO {table} SELECT i, (SELECT array_agg(sin(i * 0.37 + k * 1.3))"
            f" FROM generate_series(1, {dim}) k)::vector, i % 1000"
            f" FROM generate_series({lo}, {hi}) i")
    pg.execute(f"ANALYZE {table}")


class Scenario:
    """One run. `phases`: [(workers, seconds)] or [(workers, seconds,
    fraction)]: a phase ends after `seconds`, or once `fraction` of the rows
    are written (so that a fast machine still reaches the later phases);
    the last phase runs until the job is over."""

    def __init__(self, env, pg, phases, rows, dim, batch_rows, task_rows,
                 read_latency_ms=50, write_latency_ms=20, settle_s=5.0, sample_s=0.5,
                 tmp=None, log=None, binary=None, kafka_props=None, partitions=None):
        self.env, self.pg = env, pg
        self.phases = phases
        self.rows, self.dim = rows, dim
        self.batch_rows, self.task_rows = batch_rows, task_rows
        self.read_latency_ms, self.write_latency_ms = read_latency_ms, write_latency_ms
        self.settle_s, self.sample_s = settle_s, sample_s
        self.tmp = tmp or tempfile.mkdtemp(prefix="vecmig-scale-")
        self.say = log or (lambda m: sys.stderr.write(f"[scale {time.strftime('%H:%M:%S')}] {m}\n"))
        self.binary = binary or env["VECMIG_BIN"]
        self.kafka_props = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
        self.kafka_props.update(kafka_props or {})
        self.partitions = partitions  # queue.partitions; None: the coordinator's min(tasks, 32)
        tag = f"scale_{uuid.uuid4().hex[:8]}"
        self.job_id = self.table = self.coll = tag
        self.bridge = self.toxi = self.coord = None
        self.workers = []
        self.samples = []      # (t, rows_done)
        self.t_drain = None    # last phase: the first sample with a worker out of work
        self.idle_since = {}   # worker id -> first sample that showed it idle
        self.idle_s = 1.5      # idle between two tasks is shorter
        self.events = []       # (t, what, workers after)
        self.result = {}

    # ---- servers

    def start_servers(self):
        tmp = self.tmp
        self.bport = free_port()
        argv = [self.env["VECMIG_PYTHON"], BRIDGE, "--port", str(self.bport),
                "--milvus-uri", self.env["VECMIG_TEST_MILVUS_GRPC"],
                "--state-dir", os.path.join(tmp, "bridge")]
        if self.write_latency_ms > 0:
            argv += ["--write-latency-ms", str(self.write_latency_ms)]
        self.bridge = Proc("bridge", argv, os.path.join(tmp, "bridge.log"), tmp)
        dsn = self.env["VECMIG_TEST_PG"]
        if self.read_latency_ms > 0:
            tport = free_port()
            self.toxi = Proc("toxiproxy", [self.env["VECMIG_TOXIPROXY"], "-host", "127.0.0.1",
                                           "-port", str(tport)],
                             os.path.join(tmp, "toxiproxy.log"), tmp)
            wait_port(tport)
            api = f"http://127.0.0.1:{tport}"
            m = re.search(r"port=(\d+)", dsn)
            listen = free_port()
            http("POST", f"{api}/proxies", {"name": "pg", "listen": f"127.0.0.1:{listen}",
                                            "upstream": f"127.0.0.1:{m.group(1) if m else 5432}",
                                            "enabled": True})
            # server -> client: every reply (one keyset page, one round
            # trip) arrives read_latency_ms later
            http("POST", f"{api}/proxies/pg/toxics",
                 {"name": "latency", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                  "attributes": {"latency": self.read_latency_ms, "jitter": 0}})
            dsn = re.sub(r"port=\d+", f"port={listen}", dsn)
        self.dsn = dsn
        wait_port(self.bport)

    def write_job(self):
        path = os.path.join(self.tmp, f"{self.job_id}.yaml")
        props = ", ".join(f'{k}: "{v}"' for k, v in self.kafka_props.items())
        with open(path, "w") as f:
            f.write(f"""job: {{id: {self.job_id}}}
source: {{type: pgvector, dsn: "{self.dsn}", table: {self.table}}}
target: {{type: milvus, uri: "http://127.0.0.1:{self.bport}", timeout: 60s}}
queue:
  type: kafka
  brokers: "{self.env['VECMIG_TEST_KAFKA']}"
  partitions: {self.partitions or 0}
  properties: {{{props}}}
state: {{type: redis, url: "{self.env['VECMIG_TEST_REDIS']}"}}
migration: {{task_rows: {self.task_rows}, batch_rows: {self.batch_rows}, lease: 5s,
            heartbeat: 1s}}
mapping: {{collection: {{name: {self.coll}}}}}
log: {{level: info, format: text}}
""")
        self.job = path
        return path

    # ---- processes

    def start_worker(self):
        i = len(self.workers) + 1
        w = Proc(f"w{i}", [self.binary, "worker", self.job, "--id", f"w{i}"],
                 os.path.join(self.tmp, f"worker-w{i}.log"), self.tmp)
        self.workers.append(w)
        return w

    def live_workers(self):
        return [w for w in self.workers if w.sigterm_at is None and w.alive()]

    def scale_to(self, n):
        live = self.live_workers()
        while len(live) < n:
            live.append(self.start_worker())
        # scale down: the newest pods go first
        for w in sorted(live, key=lambda w: w.started, reverse=True)[:max(0, len(live) - n)]:
            w.signal(signal.SIGTERM)
        self.events.append((time.monotonic(), f"scale to {n}", n))
        self.say(f"scaled to {n} workers")

    def status(self):
        out = subprocess.run([self.binary, "status", self.job, "--json"], capture_output=True,
                             text=True, timeout=60, cwd=self.tmp)
        if out.returncode != 0:
            return None
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None

    def sample(self):
        st = self.status()
        if st is not None:
            t = time.monotonic()
            self.samples.append((t, int(st.get("rows_done") or 0)))
            # the tail: a live worker without a task for a while (its
            # partitions hold no task any more, or none is pending)
            live = {w.name for w in self.live_workers()}
            for wk in st.get("workers") or []:
                if wk.get("id") not in live or not wk.get("alive"):
                    continue
                if wk.get("task") is None:
                    self.idle_since.setdefault(wk["id"], t)
                else:
                    self.idle_since.pop(wk["id"], None)
            tc = st.get("task_counts") or {}
            idle = any(t - t1 >= self.idle_s for w1, t1 in self.idle_since.items() if w1 in live)
            if (self.t_drain is None and self.samples[-1][1] > 0 and
                    self.events and self.events[-1][0] + self.settle_s < t and
                    len(self.events) == len(self.phases) and
                    (idle or (tc.get("total") and tc.get("pending") == 0 and
                              (tc.get("running") or 0) < len(live)))):
                self.t_drain = t  # from here on not every worker has work
        for w in self.workers:
            w.poll()
        if self.coord:
            self.coord.poll()
        return st

    # ---- the run

    def run(self):
        t_setup = time.monotonic()
        make_source(self.pg, self.table, self.rows, self.dim)
        self.start_servers()
        self.write_job()
        self.say(f"source {self.table}: {self.rows} rows x {self.dim}-d "
                 f"({time.monotonic() - t_setup:.1f} s); tmp {self.tmp}")
        self.report = os.path.join(self.tmp, "report.json")
        self.coord = Proc("coordinator", [self.binary, "coordinator", "start", self.job,
                                          "--report", self.report],
                          os.path.join(self.tmp, "coordinator.log"), self.tmp)
        self.t0 = time.monotonic()
        phase_ends = []
        for i, phase in enumerate(self.phases):
            n, secs = phase[0], phase[1]
            frac = phase[2] if len(phase) > 2 else None
            self.scale_to(n)
            last = i == len(self.phases) - 1
            end = None if last else time.monotonic() + secs
            while self.coord.poll() is None:
                self.sample()
                if end is not None and time.monotonic() >= end:
                    break
                if (not last and frac is not None and self.samples and
                        self.samples[-1][1] >= frac * self.rows):
                    break
                if self.samples and self.samples[-1][1] >= self.rows:
                    break  # every row written: the rest is reconciling
                time.sleep(self.sample_s)
            phase_ends.append(time.monotonic())
            if self.coord.poll() is not None or (self.samples and self.samples[-1][1] >= self.rows):
                break
        self.coord.wait(300)
        if self.coord.rc is None:
            self.coord.kill()
        self.t_end = time.monotonic()
        self.sample()
        # the Deployment is deleted: every worker still running gets SIGTERM
        for w in self.workers:
            w.signal(signal.SIGTERM)
        for w in self.workers:
            if w.wait(60) is None:
                w.kill()
        return self.figures(phase_ends)

    # ---- figures

    def rows_at(self, t):
        """rows_done at time t, interpolated between samples."""
        prev = (self.t0, 0)
        for s in self.samples:
            if s[0] >= t:
                if s[0] == prev[0]:
                    return s[1]
                return prev[1] + (s[1] - prev[1]) * (t - prev[0]) / (s[0] - prev[0])
            prev = s
        return prev[1]

    def t_all_written(self):
        for t, r in self.samples:
            if r >= self.rows:
                return t
        return self.samples[-1][0] if self.samples else self.t_end

    def figures(self, phase_ends):
        f = {"rows": self.rows, "dim": self.dim, "batch_rows": self.batch_rows,
             "partitions": self.partitions or min(32, max(1, -(-self.rows // self.task_rows))),
             "task_rows": self.task_rows, "read_latency_ms": self.read_latency_ms,
             "write_latency_ms": self.write_latency_ms}
        first_rows = next((t for t, r in self.samples if r > 0), self.t0)
        scale_times = [e[0] for e in self.events]
        phases = []
        done_at = self.t_all_written()
        for i, phase in enumerate(self.phases[:len(phase_ends)]):
            n = phase[0]
            start = scale_times[i] + self.settle_s
            if i == 0:
                start = max(start, first_rows)
            end = min(phase_ends[i], done_at)
            if i == len(self.phases) - 1 and self.t_drain is not None:
                # the tail (fewer tasks left than workers) is not the
                # rate of N workers
                end = min(end, max(self.t_drain, scale_times[i] + self.settle_s + 1.0))
            secs = end - start
            rows = self.rows_at(end) - self.rows_at(start) if secs > 0 else 0
            # the whole phase, the group's rebalance included
            a = max(scale_times[i], first_rows) if i == 0 else scale_times[i]
            whole = (self.rows_at(end) - self.rows_at(a)) / (end - a) if end > a else None
            phases.append({"workers": n, "seconds": round(max(0.0, secs), 1),
                           "rows": int(rows), "rows_per_s": rows / secs if secs > 0 else None,
                           "rows_per_s_whole_phase": whole})
        base = phases[0]["rows_per_s"] if phases else None
        for p in phases:
            if base and p["rows_per_s"] is not None:
                p["ideal_rows_per_s"] = base * p["workers"]
                p["efficiency"] = p["rows_per_s"] / p["ideal_rows_per_s"]
        f["phases"] = phases
        f["seconds_total"] = round(self.t_end - self.t0, 1)
        f["copy_seconds"] = round(done_at - first_rows, 1)
        f["tail_seconds"] = round(done_at - self.t_drain, 1) if self.t_drain else None
        # per worker: rows of the tasks it finished (log), exit, memory, CPU
        per = []
        for w in self.workers:
            text = w.text()
            done = [int(x) for x in re.findall(r"task \d+: done, (\d+) rows", text)]
            per.append({"id": w.name, "rc": w.rc, "sigterm": w.sigterm_at is not None,
                        "tasks_done": len(done), "rows_done": sum(done),
                        "stopped_in_task": "stopped after its last confirmed batch" in text,
                        "resumed": text.count("resuming after"),
                        "cpu_s": round(w.cpu_s, 2), "hwm_kb": w.hwm_kb})
        f["workers"] = per
        gaps = []
        for w in self.workers:
            ev = re.findall(r"^(\S+?)T(\d+):(\d+):([\d.]+)Z .*?task \d+(?: \(.*\))?: "
                            r"(claimed|done|stopped)", w.text(), re.M)
            last_done = None
            for _, h, m, sec, what in ev:
                t = int(h) * 3600 + int(m) * 60 + float(sec)
                if what == "claimed" and last_done is not None and t >= last_done:
                    gaps.append(t - last_done)
                last_done = t if what == "done" else None
        f["gap_between_tasks_mean_s"] = sum(gaps) / len(gaps) if gaps else None
        f["gap_between_tasks_max_s"] = max(gaps) if gaps else None
        wcpu = sum(w.cpu_s for w in self.workers)
        f["worker_cpu_s"] = round(wcpu, 2)
        f["worker_cpu_s_per_1000_rows"] = wcpu / max(1, self.rows) * 1000
        f["worker_rss_max_kb"] = max((p["hwm_kb"] for p in per), default=0)
        f["coordinator_rc"] = self.coord.rc
        f["coordinator_rss_max_kb"] = self.coord.hwm_kb
        f["coordinator_cpu_s"] = round(self.coord.cpu_s, 2)
        try:
            rep = json.load(open(self.report))
        except (OSError, ValueError):
            rep = None
        f["report"] = rep
        if rep:
            durs = [t.get("duration_ms") for t in rep.get("tasks", []) if t.get("duration_ms")]
            f["tasks"] = len(rep.get("tasks", []))
            f["task_seconds_mean"] = sum(durs) / len(durs) / 1000 if durs else None
            f["task_seconds_max"] = max(durs) / 1000 if durs else None
        try:
            f["bridge_latency"] = http("POST", f"http://127.0.0.1:{self.bport}/_bridge/latency",
                                       {})["data"]
            f["bridge_duplicates"] = http(
                "POST", f"http://127.0.0.1:{self.bport}/_bridge/duplicates",
                {"collectionName": self.coll})["data"]["duplicates"]
        except Exception as e:  # noqa: BLE001 - reported, checked by the caller
            f["bridge_error"] = f"{type(e).__name__}: {e}"
        self.result = f
        return f

    def target_ids(self, milvus, window=5000):
        """Every primary key in the target, by disjoint key windows (milvus-lite
        pages come in segment order, so offset paging could skip rows)."""
        ids = []
        for a in range(1, self.rows + 1, window):
            got = milvus.query(self.coll, filter=f"id >= {a} and id < {a + window}",
                               output_fields=["id"], limit=16384)
            ids += [r["id"] for r in got]
        total = milvus.query(self.coll, filter="", output_fields=["count(*)"])[0]["count(*)"]
        return ids, total

    def close(self, keep=False):
        for p in [self.coord, *self.workers]:
            if p is not None:
                p.kill()
        if self.toxi:
            self.toxi.signal(signal.SIGTERM)
            if self.toxi.wait(10) is None:
                self.toxi.kill()
        if self.bridge:
            self.bridge.signal(signal.SIGTERM)
            if self.bridge.wait(20) is None:
                self.bridge.kill()
        if not keep:
            try:
                self.pg.execute(f"DROP TABLE IF EXISTS {self.table}")
            except Exception:  # noqa: BLE001 - best effort at the end
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)


def print_figures(f, out=None):
    """`name: value unit` lines."""
    out = out or sys.stdout
    w = out.write
    for p in f["phases"]:
        rate = p["rows_per_s"]
        line = (f"scale-out: workers={p['workers']} rows/s={rate:.0f}" if rate is not None
                else f"scale-out: workers={p['workers']} rows/s=n/a")
        if p.get("ideal_rows_per_s"):
            line += f" ideal={p['ideal_rows_per_s']:.0f} efficiency={p['efficiency']:.0%}"
        line += f" ({p['rows']} rows in {p['seconds']} s"
        if p.get("rows_per_s_whole_phase") is not None:
            line += f"; whole phase with the rebalance {p['rows_per_s_whole_phase']:.0f} rows/s"
        line += ")"
        w(line + "\n")
    w(f"rows: {f['rows']} rows\ndim: {f['dim']}\nbatch_rows: {f['batch_rows']} rows\n")
    w(f"task_rows: {f['task_rows']} rows\ntasks: {f.get('tasks')}\n")
    w(f"partitions: {f['partitions']}\n")
    w(f"read_latency: {f['read_latency_ms']} ms\nwrite_latency: {f['write_latency_ms']} ms\n")
    w(f"copy_time: {f['copy_seconds']} s\nrun_time: {f['seconds_total']} s\n")
    if f.get("tail_seconds") is not None:
        w(f"tail_time: {f['tail_seconds']} s (not every worker busy)\n")
    if f.get("task_seconds_mean") is not None:
        w(f"task_time_mean: {f['task_seconds_mean']:.2f} s\n")
        w(f"task_time_max: {f['task_seconds_max']:.2f} s\n")
    if f.get("gap_between_tasks_mean_s") is not None:
        w(f"gap_between_tasks_mean: {f['gap_between_tasks_mean_s']:.2f} s\n")
        w(f"gap_between_tasks_max: {f['gap_between_tasks_max_s']:.2f} s\n")
    w(f"worker_cpu_per_1000_rows: {f['worker_cpu_s_per_1000_rows']:.3f} s\n")
    w(f"worker_rss_max: {f['worker_rss_max_kb'] / 1024:.1f} MiB\n")
    w(f"coordinator_rss_max: {f['coordinator_rss_max_kb'] / 1024:.1f} MiB\n")
    w(f"coordinator_cpu: {f['coordinator_cpu_s']:.2f} s\n")
    for p in f["workers"]:
        w(f"worker_{p['id']}: rc={p['rc']} sigterm={p['sigterm']} tasks_done={p['tasks_done']} "
          f"rows_done={p['rows_done']} stopped_in_task={p['stopped_in_task']} "
          f"cpu={p['cpu_s']} s rss_max={p['hwm_kb'] / 1024:.1f} MiB\n")
    if "bridge_latency" in f:
        w(f"bridge_write_waits: {f['bridge_latency']['waits']}\n")
        w(f"bridge_write_waits_max_parallel: {f['bridge_latency']['max_parallel']}\n")
    if f.get("report"):
        w(f"verdict: {f['report'].get('verdict')}\n")
    out.flush()

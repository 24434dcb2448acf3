"""Shared helpers for the end-to-end tests: real PostgreSQL + pgvector,
Kafka, Redis and the Milvus REST v2 bridge from `scripts/stack`, the vecmig
binary under test (VECMIG_BIN), and pymilvus straight to milvus-lite for
verification."""
import os
import re
import signal
import subprocess
import time
import uuid

import psycopg
import pytest
from pymilvus import MilvusClient

REQUIRED = ["VECMIG_TEST_PG", "VECMIG_TEST_KAFKA", "VECMIG_TEST_REDIS",
            "VECMIG_TEST_MILVUS", "VECMIG_TEST_MILVUS_GRPC", "VECMIG_BIN"]


@pytest.fixture(scope="session")
def env():
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        pytest.fail(f"missing {missing}: start the stack and eval \"$(scripts/stack env)\"")
    return {k: os.environ[k] for k in REQUIRED}


@pytest.fixture(scope="session")
def pg(env):
    conn = psycopg.connect(env["VECMIG_TEST_PG"], autocommit=True)
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET DateStyle = 'ISO'")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def milvus(env):
    return MilvusClient(uri=env["VECMIG_TEST_MILVUS_GRPC"])


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_job(tmp_path, env, job_id, source, migration=None, log_level="info", distributed=True,
              source_type="pgvector", extra=""):
    """A job file against the local stack: distributed (Kafka + Redis) or,
    without queue/state sections, the embedded default. `source` holds the
    source block's keys (values as YAML text); `extra` is appended as is
    (e.g. a mapping: section)."""
    path = tmp_path / f"{job_id}.yaml"
    src = "\n".join(f"  {k}: {v}" for k, v in source.items())
    mig = {"task_rows": 2000, "batch_rows": 250, "lease": "4s", "heartbeat": "1s"}
    mig.update(migration or {})
    mig_text = ", ".join(f"{k}: {v}" for k, v in mig.items())
    control = f"""queue:
  type: kafka
  brokers: "{env['VECMIG_TEST_KAFKA']}"
  properties: {{session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
state: {{type: redis, url: "{env['VECMIG_TEST_REDIS']}"}}""" if distributed else ""
    path.write_text(f"""
job: {{id: {job_id}}}
source:
  type: {source_type}
{src}
target: {{type: milvus, uri: "{env['VECMIG_TEST_MILVUS']}"}}
{control}
migration: {{{mig_text}}}
log: {{level: {log_level}, format: text}}
{extra}""")
    return path


class Run:
    """A coordinator and N worker processes for one job."""

    def __init__(self, env, job, tmp_path, workers):
        self.env, self.job, self.tmp = env, job, tmp_path
        self.workers = []
        self.killed = set()
        for i in range(workers):
            self.start_worker(i)
        self.report = tmp_path / f"{job.stem}-report.json"
        self.coord_log = open(tmp_path / f"{job.stem}-coordinator.log", "w")
        self.coord = subprocess.Popen(
            [env["VECMIG_BIN"], "coordinator", "start", str(job), "--report", str(self.report)],
            stdout=self.coord_log, stderr=subprocess.STDOUT, cwd=tmp_path)

    def start_worker(self, i):
        log = self.tmp / f"{self.job.stem}-worker{i}-{len(self.workers)}.log"
        p = subprocess.Popen([self.env["VECMIG_BIN"], "worker", str(self.job), "--id", f"w{len(self.workers)}",
                              "--exit-when-idle", "3"],
                             stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=self.tmp)
        self.workers.append((p, log))
        return p, log

    def kill(self, p):
        """SIGKILL a worker (no chance to clean up, as a crash)."""
        self.killed.add(p.pid)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def wait(self, timeout=600):
        try:
            rc = self.coord.wait(timeout=timeout)
        finally:
            for p, _ in self.workers:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p, _ in self.workers:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            self.coord_log.close()
        # a worker stopped with SIGTERM finishes its batch and exits 0 (under
        # ASan a leak would make it exit non-zero)
        bad = [(log.name, p.returncode) for p, log in self.workers
               if p.pid not in self.killed and p.returncode != 0]
        assert not bad, f"workers did not exit cleanly: {bad}"
        return rc

    def running_worker_in_task(self):
        """A worker process that has checkpointed inside a task (debug log);
        fails at once if the coordinator already exited."""
        if self.coord.poll() is not None:
            pytest.fail("coordinator exited early: " + self.coordinator_output()[-2000:])
        for p, log in self.workers:
            if p.poll() is None and log.exists():
                # the worker's latest task event must be a checkpoint: a
                # worker that finished its task is not in the middle of one
                events = re.findall(r"task \d+(?: \([^)]*\))?: (checkpoint|done|claimed|failed)",
                                    log.read_text())
                if events and events[-1] == "checkpoint":
                    return p
        return None

    def coordinator_output(self):
        return (self.tmp / f"{self.job.stem}-coordinator.log").read_text()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")

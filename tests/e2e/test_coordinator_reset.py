"""The coordinator meets a Redis connection reset while it plans: it starts
over from what the state store recorded (every planning step is recorded
and idempotent) and the job finishes exact, with no operator action.

The reset is deterministic: the coordinator reaches a private redis-server
through a TCP proxy (this test's own, a test fixture) that closes the
connection once: the command that carries the client past its first 1,500
bytes (while the job record and its tasks are written) reaches Redis, but
its reply is dropped and the connection reset, and for 3 s every new
connection is closed at once, as during a Redis restart. The worker and
Kafka are the stack's; the worker talks to Redis directly."""
import json
import socket
import subprocess
import threading
import time

from conftest import Run, unique, write_job

ROWS = 2000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class ResetOnceProxy:
    """Forwards TCP to upstream. On the first connection whose client has
    sent more than `after` bytes, the command that crosses the mark goes
    through but its reply is dropped and the connection reset, once: the
    client cannot know whether the command was applied (the hard case)."""

    def __init__(self, upstream, after):
        self.upstream, self.after, self.done = upstream, after, False
        self.down_until = 0.0  # after the reset, new connections are refused for a while
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if time.monotonic() < self.down_until:
                c.close()  # Redis is "restarting": more than the client's own retries
                continue
            u = socket.create_connection(("127.0.0.1", self.upstream))
            conn = {"sent": 0, "cut": False}
            threading.Thread(target=self._pipe, args=(c, u, True, conn), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, False, conn), daemon=True).start()

    def _pipe(self, a, b, from_client, conn):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if from_client:
                    with self.lock:
                        conn["sent"] += len(data)
                        if not self.done and conn["sent"] > self.after:
                            self.done = conn["cut"] = True
                            self.down_until = time.monotonic() + 3.0
                elif conn["cut"]:
                    break  # the reply to the command that crossed the mark: dropped
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.srv.close()


def test_reset_while_planning(env, pg, milvus, tmp_path):
    table, coll = unique("crst"), unique("crst")
    pg.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v vector(4))")
    pg.execute(f"INSERT INTO {table} SELECT i, ARRAY[i, 1, 2, 3]::vector "
               f"FROM generate_series(1, {ROWS}) i")
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", rport), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        proxy = ResetOnceProxy(rport, 1500)
        job_id = unique("crst")
        src = {"dsn": f'"{env["VECMIG_TEST_PG"]}"', "table": table}
        mig = {"task_rows": 500, "batch_rows": 250}
        extra = f"mapping: {{collection: {{name: {coll}}}}}\n"
        # the coordinator's job file goes through the proxy, the worker's not
        env_c = dict(env, VECMIG_TEST_REDIS=f"redis://127.0.0.1:{proxy.port}")
        env_w = dict(env, VECMIG_TEST_REDIS=f"redis://127.0.0.1:{rport}")
        jc = write_job(tmp_path, env_c, job_id, src, migration=mig, extra=extra)
        (tmp_path / "w").mkdir()
        jw = write_job(tmp_path / "w", env_w, job_id, src, migration=mig, extra=extra)
        worker_log = open(tmp_path / "worker.log", "w")
        worker = subprocess.Popen([env["VECMIG_BIN"], "worker", str(jw), "--id", "w0",
                                   "--exit-when-idle", "20"], stdout=worker_log,
                                  stderr=subprocess.STDOUT, cwd=tmp_path)
        report = tmp_path / "report.json"
        r = subprocess.run([env["VECMIG_BIN"], "coordinator", "start", str(jc), "--report",
                            str(report)], capture_output=True, text=True, cwd=tmp_path,
                           timeout=150)
        worker.terminate()  # finishes its batch and exits (it would wait 20 s idle)
        worker.wait(timeout=60)
        worker_log.close()
        out = r.stdout + r.stderr
        assert proxy.done, "the proxy never reset the connection"
        assert r.returncode == 0, out[-3000:]
        assert "starting over from the state store" in out, out[-3000:]
        rep = json.loads(report.read_text())
        assert rep["verdict"] == "ok", rep["counts"]
        assert milvus.query(coll, filter="", output_fields=["count(*)"])[0]["count(*)"] == ROWS
    finally:
        if proxy:
            proxy.close()
        redis.terminate()
        redis.wait(timeout=10)
        pg.execute(f"DROP TABLE IF EXISTS {table}")
        if milvus.has_collection(coll):
            milvus.drop_collection(coll)

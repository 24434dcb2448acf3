"""Fixtures for the conformance tests of the REST v2 bridge over milvus-lite.

Two modes:
  * VECMIG_TEST_MILVUS (bridge URL) and VECMIG_TEST_MILVUS_GRPC (milvus-lite
    URL) set: use that already-running stack (e.g. from scripts/stack).
  * otherwise: start milvus-lite and the bridge on free loopback ports in a
    temporary directory for this test session, and stop them at the end.
Tests that need special bridge options (token, small body limit, restart)
start their own extra bridge process against the same milvus-lite.
All waiting is polling with a deadline, never a fixed sleep.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BRIDGE = os.path.join(HERE, "bridge.py")
PYTHON = sys.executable


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s (last error: "
                       f"{last!r})")


class Api:
    """Tiny HTTP client for the bridge (one keep-alive connection)."""

    def __init__(self, base, token=None):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.token = token
        self.conn = None

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port,
                                                   timeout=120)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def raw(self, method, path, body=b"", headers=None):
        """Returns (status, headers dict, body bytes)."""
        h = {"Content-Type": "application/json"}
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        for attempt in (0, 1):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=h)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, dict(resp.getheaders()), data
            except (http.client.HTTPException, OSError) as e:
                # a fresh connection next time; retry once only when a
                # kept-alive connection was closed by the server
                self.close()
                if attempt or not isinstance(
                        e, (http.client.RemoteDisconnected, BrokenPipeError,
                            ConnectionResetError)):
                    raise

    def post(self, path, obj, headers=None):
        """POST JSON; returns (http status, decoded JSON reply)."""
        if not path.startswith("/"):
            path = "/v2/vectordb/" + path
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        status, _, data = self.raw("POST", path, body, headers)
        return status, json.loads(data)

    def ok(self, path, obj, headers=None):
        status, reply = self.post(path, obj, headers)
        assert status == 200, (path, status, reply)
        assert reply.get("code") == 0, (path, reply)
        return reply.get("data")


class Proc:
    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=15)
        self.log.close()

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")


def start_bridge(tmp, grpc_url, extra=(), state_dir=None, port=None):
    port = port or free_port()
    state_dir = state_dir or tempfile.mkdtemp(prefix="bridge-state-",
                                              dir=tmp)
    log = os.path.join(tmp, f"bridge-{port}-{time.monotonic_ns()}.log")
    proc = Proc([PYTHON, BRIDGE, "--host", "127.0.0.1", "--port", str(port),
                 "--milvus-uri", grpc_url, "--state-dir", state_dir,
                 *extra], log)
    base = f"http://127.0.0.1:{port}"
    api = Api(base)

    def ready():
        if proc.p.poll() is not None:
            raise RuntimeError("bridge exited:\n" + proc.output())
        st, _, _ = api.raw("POST", "/v2/vectordb/collections/list", b"{}")
        return st in (200, 401)

    try:
        wait_until(ready, 60, f"bridge on {base}")
    finally:
        api.close()
    return proc, base, state_dir


@pytest.fixture(scope="session")
def stack():
    """(bridge base URL, milvus-lite gRPC URL, temp dir)."""
    tmp = tempfile.mkdtemp(prefix="milvus-bridge-test-")
    procs = []
    bridge_url = os.environ.get("VECMIG_TEST_MILVUS")
    grpc_url = os.environ.get("VECMIG_TEST_MILVUS_GRPC")
    try:
        if bool(bridge_url) != bool(grpc_url):
            pytest.fail("set both VECMIG_TEST_MILVUS and "
                        "VECMIG_TEST_MILVUS_GRPC, or neither")
        if not bridge_url:
            lport = free_port()
            lite_bin = os.path.join(os.path.dirname(PYTHON), "milvus-lite")
            lite = Proc([lite_bin, "server", "--data-dir",
                         os.path.join(tmp, "lite"), "--host", "127.0.0.1",
                         "--port", str(lport)], os.path.join(tmp, "lite.log"))
            procs.append(lite)
            grpc_url = f"http://127.0.0.1:{lport}"

            def lite_up():
                if lite.p.poll() is not None:
                    raise RuntimeError("milvus-lite exited:\n" +
                                       lite.output())
                with socket.create_connection(("127.0.0.1", lport), 0.5):
                    return True

            wait_until(lite_up, 60, "milvus-lite")
            bridge, bridge_url, _ = start_bridge(tmp, grpc_url)
            procs.append(bridge)
        yield bridge_url, grpc_url, tmp
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def api(stack):
    a = Api(stack[0])
    yield a
    a.close()


@pytest.fixture(scope="session")
def lite(stack):
    """pymilvus client straight to milvus-lite (verification reads)."""
    from pymilvus import MilvusClient
    c = MilvusClient(uri=stack[1])
    yield c
    c.close()

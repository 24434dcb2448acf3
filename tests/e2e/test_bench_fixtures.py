"""The benchmark fixtures (bench/fixtures/) still carry a whole migration:
memsource (a Qdrant protocol fixture for benchmarks) -> vecmig migrate ->
memsink (a Milvus REST v2 fixture for benchmarks), with the final count
verification, every row counted, and the vectors that reached the sink
bit-identical (float32) to those the source served. Also that naive_jansson
runs both baselines. No timing is asserted: bench/run prints figures.
Needs only the build (VECMIG_BIN); no stack server."""
import json
import os
import struct
import subprocess
import urllib.request

import pytest

ROWS = 2500


def bench_exe(name):
    vecmig = os.environ.get("VECMIG_BIN")
    if not vecmig:
        pytest.fail("VECMIG_BIN is not set (ctest sets it)")
    path = os.path.join(os.path.dirname(os.path.dirname(vecmig)), "bench", name)
    assert os.path.exists(path), f"{path} not built"
    return path


class Server:
    def __init__(self, argv, log):
        self.log = open(log, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        assert line.strip().isdigit(), f"{argv[0]} did not print its port (see {log})"
        self.url = f"http://127.0.0.1:{int(line)}"

    def call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.log.close()


def f32(tok):
    return struct.pack("<f", float(tok))


def test_memsource_to_memsink_whole_job(tmp_path):
    src = Server([bench_exe("memsource"), "--rows", str(ROWS), "--pool", "16"],
                 tmp_path / "memsource.log")
    sample = tmp_path / "sample.json"
    sink = Server([bench_exe("memsink"), "--sample", str(sample)], tmp_path / "memsink.log")
    try:
        job = tmp_path / "job.yaml"
        job.write_text(json.dumps({
            "version": 1, "job": {"id": "bench-fixtures"},
            "source": {"type": "qdrant", "url": src.url, "collection": "bench"},
            "target": {"type": "milvus", "uri": sink.url},
            "migration": {"batch_rows": 1000, "task_rows": 1000, "workers": 2},
            "state": {"path": str(tmp_path / "state.db")}}))
        r = subprocess.run([os.environ["VECMIG_BIN"], "migrate", str(job), "--quiet", "--json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        report = json.loads(r.stdout)
        stats = json.loads(sink.call("/stats"))
        assert stats["rows"] == ROWS
        assert stats["insert_requests"] == 3
        assert stats["body_bytes"] > ROWS * 768 * 5
        assert report["verdict"] == "ok", report.get("verdict_reason")
        assert report["target_loaded_for_count"] is True  # index + load + count(*) ran
        # the count(*) the verification used is memsink's count
        count = json.loads(sink.call("/v2/vectordb/entities/query", {
            "collectionName": "bench", "filter": "", "outputFields": ["count(*)"]}))
        assert count == {"code": 0, "data": [{"count(*)": ROWS}]}
        # the first insert body: every row's vector bit-identical to the
        # source's, payload keys carried as dynamic fields
        body = json.loads(sample.read_bytes(), parse_float=str)
        rows = {int(row["id"]): row for row in body["data"]}
        n, first = len(rows), min(rows)
        assert n >= 500 and sorted(rows) == list(range(first, first + n))
        page = json.loads(src.call("/collections/bench/points/scroll", {
            "limit": n, "offset": first, "with_payload": True, "with_vector": True}),
            parse_float=str)
        points = page["result"]["points"]
        assert len(points) == n
        for p in points:
            row = rows[p["id"]]
            assert [f32(x) for x in row["vector"]] == [f32(x) for x in p["vector"]], p["id"]
            for k, v in p["payload"].items():
                assert row[k] == v, (p["id"], k)
    finally:
        src.stop()
        sink.stop()


def test_memsink_counts_rows_not_nested_objects(tmp_path):
    sink = Server([bench_exe("memsink")], tmp_path / "memsink.log")
    try:
        sink.call("/v2/vectordb/collections/create", {
            "collectionName": "c", "schema": {"fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True}]}})
        ans = json.loads(sink.call("/v2/vectordb/entities/insert", {
            "collectionName": "c", "data": [
                {"id": 1, "meta": {"a": [{"b": 1}]}, "s": "data\"[{"},
                {"id": 2}, {"id": 3, "data": [{}]}]}))
        assert ans == {"code": 0, "data": {"insertCount": 3, "insertIds": []}}
        described = json.loads(sink.call("/v2/vectordb/collections/describe",
                                         {"collectionName": "c"}))
        assert described["data"]["fields"][0]["name"] == "id"
        assert described["data"]["fields"][0]["primaryKey"] is True
        missing = json.loads(sink.call("/v2/vectordb/collections/describe",
                                       {"collectionName": "nope"}))
        assert missing["code"] == 100
    finally:
        sink.stop()


@pytest.mark.parametrize("mode", ["jansson", "strtof"])
def test_naive_baseline_runs(mode):
    r = subprocess.run([bench_exe("naive_jansson"), "--mode", mode, "--rows", "300",
                        "--batch", "100", "--pool", "8"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert lines[f"naive_{mode}.cpu_per_row"].endswith(" us")
    per_row = float(lines[f"naive_{mode}.out_bytes_per_row"].split()[0])
    assert per_row > 768 * 5  # every element written

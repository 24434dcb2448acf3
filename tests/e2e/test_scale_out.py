"""Scale-out the way Kubernetes does it (tests/e2e/scale_scenario.py): one
coordinator and worker processes that come and go while the job runs - 1
worker, then 4, then 2 (the two newest get SIGTERM and finish their batch in
flight) - against the stack's real Kafka and Redis, with a Toxiproxy
`latency` toxic of 50 ms on every PostgreSQL reply (one per keyset page) and
20 ms on every insert/upsert in a private Milvus REST bridge, so that the
rates reflect waiting round trips, not this machine's two cores (16-d
vectors, 50-row batches, 25 tasks of 2,000 rows). The job's task topic gets
4 partitions (`queue.partitions: 4` = the most workers, as an operator sets
it for a Deployment), so that each partition holds several tasks: with one task per partition (vecmig's
min(tasks, 32)) a worker whose partitions ran dry idles while another
still has tasks queued, and the rates would measure that imbalance.

Asserted: the coordinator exits 0 with verdict ok and rows read = written =
source; the target holds every source key exactly once (pymilvus straight to
milvus-lite, count(*) too, and no duplicate insert seen by the bridge); each
worker sent SIGTERM exits 0, and so do the rest at the end; each added
worker (w2-w4) finished tasks with rows; the bridge saw writers wait in
parallel. Printed, never asserted: rows/s per worker count, the ideal
(1-worker rate x N) and the efficiency."""
import os
import shutil

import pytest

from scale_scenario import Scenario, print_figures

ROWS = 50000
DIM = 16
# (workers, seconds, or sooner once this share of the rows is written)
PHASES = [(1, 15, 0.2), (4, 15, 0.6), (2, None)]


@pytest.fixture
def toxiproxy():
    path = os.environ.get("VECMIG_TOXIPROXY")
    if not path or not os.path.exists(path):
        pytest.fail("VECMIG_TOXIPROXY is not set: scripts/bootstrap, then eval \"$(scripts/stack env)\"")
    return path


def test_scale_out_1_4_2(env, pg, milvus, tmp_path, toxiproxy, capsys):
    e = dict(env, VECMIG_TOXIPROXY=toxiproxy,
             VECMIG_PYTHON=os.environ.get("VECMIG_PYTHON") or "python3")
    # a private copy: a rebuild during the run must not change the binary
    binary = tmp_path / "vecmig"
    shutil.copy2(env["VECMIG_BIN"], binary)
    sc = Scenario(e, pg, PHASES, ROWS, DIM, batch_rows=50, task_rows=2000,
                  read_latency_ms=50, write_latency_ms=20, tmp=str(tmp_path / "run"),
                  binary=str(binary), partitions=4)
    os.makedirs(sc.tmp)
    try:
        f = sc.run()
        with capsys.disabled():
            print()
            print_figures(f)

        clog = sc.coord.text()
        assert f["coordinator_rc"] == 0, clog[-3000:]
        rep = f["report"]
        assert rep is not None, "no report"
        assert rep["verdict"] == "ok", rep.get("verdict_reason")
        c = rep["counts"]
        assert c["source_rows_start"] == c["rows_read"] == c["rows_written"] == ROWS, c

        ids, total = sc.target_ids(milvus)
        assert len(ids) == len(set(ids)), "a key is in the target twice"
        assert sorted(ids) == list(range(1, ROWS + 1)), \
            f"{ROWS - len(set(ids))} source keys missing from the target"
        assert total == ROWS
        assert f.get("bridge_duplicates") == 0, f.get("bridge_error") or f["bridge_duplicates"]

        # the phases really happened: 1, 4 and 2 workers, the 2 newest stopped
        assert [p["workers"] for p in f["phases"]] == [1, 4, 2], f["phases"]
        by = {w["id"]: w for w in f["workers"]}
        assert sorted(by) == ["w1", "w2", "w3", "w4"], sorted(by)
        assert all(w["sigterm"] for w in f["workers"])
        stopped = [w for w in sc.workers if w.name in ("w3", "w4")]
        assert all(w.sigterm_at < sc.t_end for w in stopped), "scale-down came after the job"
        bad = {w["id"]: w["rc"] for w in f["workers"] if w["rc"] != 0}
        assert not bad, f"workers did not exit 0 after SIGTERM: {bad}"
        for wid in ("w2", "w3", "w4"):
            assert by[wid]["tasks_done"] >= 1 and by[wid]["rows_done"] > 0, \
                f"added worker {wid} wrote nothing: {by[wid]}"
        # the write latency is waited in parallel, not under the bridge's lock
        assert f["bridge_latency"]["max_parallel"] >= 2, f["bridge_latency"]
    finally:
        if milvus.has_collection(sc.coll):
            milvus.drop_collection(sc.coll)
        sc.close(keep=True)
        pg.execute(f"DROP TABLE IF EXISTS {sc.table}")

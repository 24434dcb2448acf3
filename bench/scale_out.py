#!/usr/bin/env python3
"""Scale-out and sizing figures: the scenario of tests/e2e/test_scale_out.py
(tests/e2e/scale_scenario.py: one coordinator, worker processes added and
removed like a Deployment being scaled, a latency proxy in front of
PostgreSQL, write latency in the Milvus REST bridge) with its sizes as
arguments. Prints `name: value unit` lines (and the scale-out lines), and
checks the job like the test does (verdict ok, every key exactly once);
exits 1 if that check fails.

Needs the stack (`scripts/stack up kafka redis postgres milvus`, then
`eval "$(scripts/stack env)"`) and VECMIG_BIN; use a build without
sanitizers for memory and CPU figures (ASan multiplies both):

  cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build-rel --target vecmig
  VECMIG_BIN=build-rel/cli/vecmig $VECMIG_PYTHON bench/scale_out.py \\
      --workers-phases 1,4,2 --phase-seconds 15 --rows 40000 --dim 16 \\
      --batch-rows 50 --task-rows 2000 --read-latency-ms 50 --write-latency-ms 20
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import psycopg
from pymilvus import MilvusClient

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "e2e"))
from scale_scenario import Scenario, print_figures  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="vecmig scale-out and sizing figures")
    ap.add_argument("--workers-phases", default="1,4,2",
                    help="worker counts in turn, comma separated")
    ap.add_argument("--phase-seconds", type=float, default=15.0,
                    help="length of each phase but the last (which runs to the end)")
    ap.add_argument("--rows", type=int, default=40000)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--batch-rows", type=int, default=50)
    ap.add_argument("--task-rows", type=int, default=2000)
    ap.add_argument("--read-latency-ms", type=int, default=50)
    ap.add_argument("--write-latency-ms", type=float, default=20)
    ap.add_argument("--settle-seconds", type=float, default=5.0,
                    help="a phase's rate is measured from this long after its scaling action")
    ap.add_argument("--partitions", type=int, default=0,
                    help="queue.partitions of the job: the task topic's partitions "
                    "(0: the coordinator's min(tasks, 32))")
    ap.add_argument("--kafka-property", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka property for the job's queue.properties (repeatable)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder, table, collection")
    args = ap.parse_args()
    need = ["VECMIG_BIN", "VECMIG_PYTHON", "VECMIG_TEST_PG", "VECMIG_TEST_KAFKA",
            "VECMIG_TEST_REDIS", "VECMIG_TEST_MILVUS_GRPC"]
    if args.read_latency_ms > 0:
        need.append("VECMIG_TOXIPROXY")
    missing = [k for k in need if not os.environ.get(k)]
    if missing:
        sys.exit(f"scale_out: {', '.join(missing)} not set (eval \"$(scripts/stack env)\")")
    env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="vecmig-scale-bench-")
    # a private copy: a rebuild during the run must not change the binary
    binary = os.path.join(tmp, "vecmig")
    shutil.copy2(env["VECMIG_BIN"], binary)
    counts = [int(x) for x in args.workers_phases.split(",") if x.strip()]
    phases = [(n, args.phase_seconds) for n in counts]
    pg = psycopg.connect(env["VECMIG_TEST_PG"], autocommit=True)
    milvus = MilvusClient(uri=env["VECMIG_TEST_MILVUS_GRPC"])
    sc = Scenario(env, pg, phases, args.rows, args.dim, args.batch_rows, args.task_rows,
                  read_latency_ms=args.read_latency_ms, write_latency_ms=args.write_latency_ms,
                  settle_s=args.settle_seconds, tmp=tmp, binary=binary,
                  kafka_props=dict(kv.split("=", 1) for kv in args.kafka_property),
                  partitions=args.partitions or None)
    ok = False
    try:
        f = sc.run()
        ids, total = sc.target_ids(milvus)
        problems = []
        if f["coordinator_rc"] != 0:
            problems.append(f"coordinator exit {f['coordinator_rc']}")
        if not f["report"] or f["report"].get("verdict") != "ok":
            problems.append("verdict not ok")
        if sorted(ids) != list(range(1, args.rows + 1)) or total != args.rows:
            problems.append(f"target keys: {len(ids)} read, {len(set(ids))} distinct, "
                            f"count(*) {total}, source {args.rows}")
        if f.get("bridge_duplicates"):
            problems.append(f"{f['bridge_duplicates']} duplicate inserts")
        print_figures(f)
        print(f"check: {'ok' if not problems else '; '.join(problems)}")
        if args.json:
            g = dict(f)
            g.pop("report", None)
            print(json.dumps(g))
        ok = not problems
        return 0 if ok else 1
    finally:
        if not args.keep and milvus.has_collection(sc.coll):
            milvus.drop_collection(sc.coll)
        sc.close(keep=args.keep or not ok)
        if not ok:
            sys.stderr.write(f"scale_out: logs kept in {tmp}\n")


if __name__ == "__main__":
    sys.exit(main())

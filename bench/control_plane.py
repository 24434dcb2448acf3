#!/usr/bin/env python3
"""bench/control_plane.py - `bench/run control-plane`: builds and runs
bench/control_plane.c (vecmig's real Redis state and Kafka queue calls, in
a worker's order, against the dev stack) and prints its figures after the
usual header (bench/README.md).

    bench/run control-plane [--tasks 100] [--batches-per-task 100]
                            [--dim 768] [--batch 1000]
                            [--datapath-us-per-row X]

Needs Kafka and Redis (scripts/stack up kafka redis; VECMIG_TEST_KAFKA and
VECMIG_TEST_REDIS, from `scripts/stack env` when unset). Not a test: timing.
"""
import argparse
import importlib.machinery
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_run = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run")).load_module()


def main(argv):
    ap = argparse.ArgumentParser(prog="bench/run control-plane",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build-bench"))
    ap.add_argument("--keep", action="store_true", help="(nothing to keep)")
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--batches-per-task", type=int, default=100)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--datapath-us-per-row", type=float,
                    help="data-path CPU per row (e.g. bench/run datapath's "
                         "rest_to_rest.cpu_per_row) instead of the in-process numbers-only figure")
    a = ap.parse_args(argv)
    _run.header(["control-plane"] + argv)
    build = os.path.abspath(a.build)
    _run.ensure_build(build)
    r = subprocess.run(["cmake", "--build", build, "-j2", "--target", "control_plane"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench/run: building control_plane failed:\n{r.stdout[-3000:]}")
    env = {}
    for k in ("VECMIG_TEST_KAFKA", "VECMIG_TEST_REDIS"):
        env[k] = os.environ.get(k)
    if not all(env.values()):
        s = subprocess.run([os.path.join(REPO, "scripts", "stack"), "env"], capture_output=True,
                           text=True).stdout
        for k in env:
            m = re.search(k + r"=(?:'([^']*)'|\"([^\"]*)\"|(\S+))", s)
            if m and not env[k]:
                env[k] = next(g for g in m.groups() if g)
    if not all(env.values()):
        raise SystemExit("bench/run: VECMIG_TEST_KAFKA/_REDIS unset; scripts/stack up kafka redis")
    argv2 = [os.path.join(build, "bench", "control_plane"), "--redis", env["VECMIG_TEST_REDIS"],
             "--kafka", env["VECMIG_TEST_KAFKA"], "--tasks", str(a.tasks),
             "--batches-per-task", str(a.batches_per_task), "--dim", str(a.dim),
             "--batch", str(a.batch)]
    if a.datapath_us_per_row:
        argv2 += ["--datapath-us-per-row", str(a.datapath_us_per_row)]
    sys.stdout.flush()
    sys.exit(subprocess.run(argv2).returncode)


if __name__ == "__main__":
    main(sys.argv[1:])

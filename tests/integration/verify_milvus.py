"""Read a collection written from the synthetic source back with pymilvus,
straight from milvus-lite (not through the REST bridge), and check every row:
ids exactly 0..rows-1, vectors bit-exact against the generator, strings,
doubles and nulls equal; and that the bridge saw no duplicate inserts.

Used by test_milvus_sink; exits non-zero with a message on any difference.
"""
import argparse
import json
import os
import sys
import urllib.request

import numpy as np
from pymilvus import MilvusClient

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def component(seed, k, j):
    """Mirror of vm_synthetic_component() in common/sources/synthetic."""
    h = splitmix64(((seed * 0x100000001B3) & M64) ^ splitmix64((k * 65537 + j) & M64))
    return np.float32(((h >> 40) - (1 << 23)) / float(1 << 23))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    a = ap.parse_args()

    client = MilvusClient(uri=os.environ["VECMIG_TEST_MILVUS_GRPC"])
    got = client.query(a.collection, filter="id >= 0", output_fields=["*"], limit=16384)
    errors = []
    if len(got) != a.rows:
        errors.append(f"{len(got)} rows read back, {a.rows} written")
    by_id = {r["id"]: r for r in got}
    if sorted(by_id) != list(range(a.rows)):
        errors.append("ids are not exactly 0..rows-1")
    for k in range(a.rows):
        r = by_id.get(k)
        if r is None:
            continue
        want = np.array([component(a.seed, k, j) for j in range(a.dim)], dtype=np.float32)
        have = np.array(r["vec"], dtype=np.float32)
        if have.shape != want.shape or not np.array_equal(have.view(np.uint32), want.view(np.uint32)):
            errors.append(f"row {k}: vector differs: {have[:4]} vs {want[:4]}")
        if r["title"] != f"row-{k}":
            errors.append(f"row {k}: title {r['title']!r}")
        if r["score"] != k / 8.0:
            errors.append(f"row {k}: score {r['score']!r}")
        want_tag = None if k % 7 == 3 else k % 1000
        if r["tag"] != want_tag:
            errors.append(f"row {k}: tag {r['tag']!r}, want {want_tag!r}")
        if len(errors) > 10:
            break

    req = urllib.request.Request(
        os.environ["VECMIG_TEST_MILVUS"] + "/_bridge/duplicates",
        data=json.dumps({"collectionName": a.collection}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    dup = json.load(urllib.request.urlopen(req, timeout=30))
    if dup.get("code") != 0 or dup["data"]["duplicates"] != 0:
        errors.append(f"bridge reports duplicate inserts: {dup}")

    if errors:
        print("verify_milvus: " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print(f"verify_milvus: {a.rows} rows of {a.collection} match bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Read a collection written from the synthetic source back with pymilvus,
straight from milvus-lite (not through the REST bridge), and check every row:
ids exactly 0..rows-1, vectors bit-exact against the generator, strings,
doubles and nulls equal; and that the bridge saw no duplicate inserts.

Other checks, each instead of the row check (also pymilvus, straight from
milvus-lite):
  --partitions JSON   {"<partition>": [ids...]}: each partition holds exactly
                      these primary keys (query with partition_names), and the
                      collection has no partition beyond these and _default
  --indexes JSON      {"<index name>": "<METRIC>[/<INDEX_TYPE>]"}: exactly
                      these indexes exist, on the field of the same name, with
                      that metric (and index type)
  --load-state S      Loaded | NotLoad

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


def check_extra(client, a):
    errors = []
    if a.partitions:
        want = json.loads(a.partitions)
        have = set(client.list_partitions(a.collection))
        extra = have - set(want) - {"_default"}
        if extra:
            errors.append(f"unexpected partitions {sorted(extra)}")
        pk = next(f["name"] for f in client.describe_collection(a.collection)["fields"]
                  if f.get("is_primary"))
        loaded = client.get_load_state(a.collection)["state"].name == "Loaded"
        if not loaded:
            client.load_collection(a.collection)
        try:
            for part, ids in want.items():
                if part not in have:
                    errors.append(f"partition {part!r} does not exist")
                    continue
                got = client.query(a.collection, filter=f"{pk} >= -9223372036854775808",
                                   output_fields=[pk], partition_names=[part], limit=16384)
                got_ids = sorted(r[pk] for r in got)
                if got_ids != sorted(ids):
                    errors.append(f"partition {part!r}: ids {got_ids}, want {sorted(ids)}")
        finally:
            if not loaded:
                client.release_collection(a.collection)
    if a.indexes:
        want = json.loads(a.indexes)
        names = sorted(client.list_indexes(a.collection))
        if names != sorted(want):
            errors.append(f"indexes {names}, want {sorted(want)}")
        for name, spec in want.items():
            if name not in names:
                continue
            d = client.describe_index(a.collection, name)
            metric, _, itype = spec.partition("/")
            if d.get("field_name") != name:
                errors.append(f"index {name!r} is on field {d.get('field_name')!r}")
            if d.get("metric_type") != metric:
                errors.append(f"index {name!r}: metric {d.get('metric_type')!r}, want {metric!r}")
            if itype and d.get("index_type") != itype:
                errors.append(f"index {name!r}: type {d.get('index_type')!r}, want {itype!r}")
    if a.load_state:
        st = client.get_load_state(a.collection)["state"].name
        if st != a.load_state:
            errors.append(f"load state {st}, want {a.load_state}")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", required=True)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--dim", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--partitions")
    ap.add_argument("--indexes")
    ap.add_argument("--load-state")
    a = ap.parse_args()

    client = MilvusClient(uri=os.environ["VECMIG_TEST_MILVUS_GRPC"])
    if a.partitions or a.indexes or a.load_state:
        errors = check_extra(client, a)
        if errors:
            print("verify_milvus: " + "\n  ".join(errors), file=sys.stderr)
            return 1
        print(f"verify_milvus: {a.collection}: partitions / indexes / load state as expected")
        return 0
    if a.rows is None or a.dim is None or a.seed is None:
        ap.error("--rows, --dim and --seed are needed for the row check")
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

#!/usr/bin/env python3
"""make_seeds.py - regenerate the seed corpora of tests/fuzz/corpus/ from real
answers: the project's Qdrant, Pinecone and Tencent protocol fixtures
(tests/fixtures/*/server.py, started here on free ports), the Milvus REST v2
bridge and PostgreSQL + pgvector of the running stack (scripts/stack up;
eval "$(scripts/stack env)"), and the job / mapping files of the repository.

    $VECMIG_PYTHON tests/fuzz/make_seeds.py      # rewrites tests/fuzz/corpus/*/

Several inputs in one seed are separated by byte 0xFF (see fuzz_util.h).
Only the standard library and psql are used; seeds are small (a handful
per target, a few KB each).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")
SEP = b"\xff"


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        return e.read()


def start(args):
    p = subprocess.Popen([sys.executable] + args, stdout=subprocess.PIPE,
                         stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = int(p.stdout.readline().decode().split()[0])
    return p, port


# ------------------------------------------------------------------ qdrant
def qdrant():
    p, port = start([os.path.join(ROOT, "tests/fixtures/qdrant/server.py"), "--port", "0"])
    base = f"http://127.0.0.1:{port}/collections"
    try:
        http("PUT", f"{base}/plain", {"vectors": {"size": 4, "distance": "Cosine"}})
        http("PUT", f"{base}/plain/points", {"points": [
            {"id": 1, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"n": 1.10, "s": "caf\u00e9"}},
            {"id": 18446744073709551615, "vector": [1, 0, 0, 0], "payload": {}},
            {"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "vector": [-1e-40, 2, 3, 4]},
        ]})
        http("PUT", f"{base}/named", {"vectors": {"img": {"size": 3, "distance": "Dot"}},
                                     "sparse_vectors": {"text": {"modifier": "idf"}}})
        http("PUT", f"{base}/named/points", {"points": [
            {"id": 7, "vector": {"img": [1.5, -2, 3e-3], "text": {"indices": [9, 2], "values": [0.5, 1]}},
             "payload": {"tags": ["a", "b"], "big": 12345678901234567890}},
            {"id": 8, "vector": {"img": [0, 0, 1]}},
        ]})
        info1 = http("GET", f"{base}/plain")
        info2 = http("GET", f"{base}/named")
        scroll = {"limit": 2, "with_payload": True, "with_vector": True}
        page1 = http("POST", f"{base}/plain/points/scroll", scroll)
        page2 = http("POST", f"{base}/named/points/scroll", dict(scroll, with_vector=["img", "text"]))
        missing = http("GET", f"{base}/missing")
        out("fuzz_qdrant", "plain", info1 + SEP + page1)
        out("fuzz_qdrant", "named_sparse", info2 + SEP + page2)
        out("fuzz_qdrant", "page_only", page1)
        out("fuzz_qdrant", "not_found", missing)
        return [info1, page1, page2]
    finally:
        p.kill()


# ---------------------------------------------------------------- pinecone
def pinecone():
    p, port = start([os.path.join(ROOT, "tests/fixtures/pinecone/server.py"), "--port", "0"])
    h = {"Api-Key": "fixture-api-key", "X-Pinecone-Api-Version": "2025-10"}
    ctl = f"http://127.0.0.1:{port}"
    try:
        spec = {"serverless": {"cloud": "aws", "region": "us-east-1"}}
        http("POST", f"{ctl}/indexes", {"name": "hy", "dimension": 4, "metric": "dotproduct",
                                        "spec": spec}, h)
        host = json.loads(http("GET", f"{ctl}/indexes/hy", None, h))["host"]
        http("POST", f"{host}/vectors/upsert", {"namespace": "ns1", "vectors": [
            {"id": "doc-1", "values": [0.1, 0.2, 0.3, 0.4],
             "sparseValues": {"indices": [10, 3], "values": [0.5, 0.25]},
             "metadata": {"genre": "drama", "year": 2020, "big": 9007199254740993,
                          "tags": ["a", "b"]}},
            {"id": "doc-2", "values": [1, 0, -1, 1e-40], "metadata": {"x": 1.5}},
            {"id": "id-0", "values": [3, 3, 3, 3]},
        ]}, h)
        lst = http("GET", f"{host}/vectors/list?namespace=ns1&limit=2", None, h)
        fetch = http("GET", f"{host}/vectors/fetch?ids=doc-1&ids=doc-2&ids=nope&namespace=ns1",
                     None, h)
        empty = http("GET", f"{host}/vectors/list?namespace=none", None, h)
        cursor = b'{"after":"doc-1","token":"eyJza2lwX3Bhc3QiOiJkb2MtMSJ9"}'
        out("fuzz_pinecone", "list_fetch_cursor", lst + SEP + fetch + SEP + cursor)
        out("fuzz_pinecone", "empty_list", empty)
        out("fuzz_pinecone", "fetch_only", b'{"vectors":{}}' + SEP + fetch)
        out("fuzz_pinecone", "pod_list", b"upstream connect error or disconnect" + SEP + b"{}")
        return [lst, fetch]
    finally:
        p.kill()


# ----------------------------------------------------------------- tencent
def tencent():
    p, port = start([os.path.join(ROOT, "tests/fixtures/tencent/server.py"), "--port", "0",
                     "--api-key", "fixture-api-key", "--quiet"])
    base = f"http://127.0.0.1:{port}"
    h = {"Authorization": "Bearer account=root&api_key=fixture-api-key"}
    try:
        http("POST", f"{base}/database/create", {"database": "db"}, h)
        http("POST", f"{base}/collection/create", {
            "database": "db", "collection": "c", "shardNum": 1, "replicaNum": 0,
            "indexes": [
                {"fieldName": "id", "fieldType": "string", "indexType": "primaryKey"},
                {"fieldName": "vector", "fieldType": "vector", "indexType": "HNSW",
                 "dimension": 3, "metricType": "COSINE", "params": {"M": 16, "efConstruction": 200}},
                {"fieldName": "sparse_vector", "fieldType": "sparseVector", "indexType": "inverted",
                 "metricType": "IP"},
                {"fieldName": "seq", "fieldType": "uint64", "indexType": "filter"},
                {"fieldName": "tag", "fieldType": "string", "indexType": "filter"}]}, h)
        http("POST", f"{base}/document/upsert", {"database": "db", "collection": "c", "documents": [
            {"id": "a1", "vector": [0.1, 0.2, 0.3], "sparse_vector": [[5, 0.5], [1, 0.25]],
             "seq": 1, "tag": "x", "author": {"name": "Ann"}, "n": 1.10},
            {"id": "b\u00e9", "vector": [1, 0, 0], "seq": 18446744073709551615, "tag": "yz"},
            {"id": "c3", "vector": [0, 1e-40, 1], "seq": 3, "misc": [1, 2]},
        ]}, h)
        q = {"database": "db", "collection": "c", "readConsistency": "strongConsistency",
             "query": {"limit": 3, "retrieveVector": True,
                       "sort": [{"fieldName": "seq", "direction": "asc"}]}}
        page = http("POST", f"{base}/document/query", q, h)
        bad = http("POST", f"{base}/document/query", {"database": "db", "collection": "nope",
                                                     "query": {"limit": 1}}, h)
        out("fuzz_tencent", "page", page)
        out("fuzz_tencent", "error_envelope", bad)
        out("fuzz_tencent", "gateway_503", b"\x09upstream timed out")
        return [page]
    finally:
        p.kill()


# ------------------------------------------------------------------ milvus
def check(what, body):
    if json.loads(body).get("code") != 0:
        sys.exit(f"make_seeds: milvus {what}: {body.decode()}")


def milvus():
    base = os.environ.get("VECMIG_TEST_MILVUS")
    if not base:
        print("make_seeds: VECMIG_TEST_MILVUS not set (eval \"$(scripts/stack env)\"): "
              "milvus seeds skipped", file=sys.stderr)
        return
    ep = lambda e: f"{base}/v2/vectordb/{e}"
    c = "fuzz_seed_all_types"
    http("POST", ep("collections/drop"), {"collectionName": c})
    fields = [
        {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "b", "dataType": "Bool"},
        {"fieldName": "i8", "dataType": "Int8"},
        {"fieldName": "i16", "dataType": "Int16"},
        {"fieldName": "i32", "dataType": "Int32"},
        {"fieldName": "f", "dataType": "Float", "nullable": True},
        {"fieldName": "d", "dataType": "Double", "nullable": True},
        {"fieldName": "s", "dataType": "VarChar", "elementTypeParams": {"max_length": 64},
         "nullable": True},
        {"fieldName": "j", "dataType": "JSON", "nullable": True},
        {"fieldName": "a", "dataType": "Array", "elementDataType": "Int64",
         "elementTypeParams": {"max_capacity": 8}, "nullable": True},
        {"fieldName": "fv", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
        {"fieldName": "sp", "dataType": "SparseFloatVector"},
    ]
    check("create", http("POST", ep("collections/create"), {"collectionName": c, "schema": {
        "autoID": False, "enableDynamicField": True, "fields": fields}}))
    import base64
    half = base64.b64encode(struct.pack("<4e", 1, -2, 0.5, 65504)).decode()
    bf = base64.b64encode(b"\x80\x3f\x00\x40\x00\x00\x80\xbf").decode()
    rows = [
        {"pk": 1, "b": True, "i8": -128, "i16": 300, "i32": -7, "f": 0.1, "d": 1e300,
         "s": "caf\u00e9", "j": {"k": [1, 2]}, "a": [1, 2, 3], "fv": [0.1, 0.2, 0.3, 0.4],
         "sp": {"3": 0.5, "10": 1.25}, "extra": "dyn"},
        {"pk": 9007199254740993, "b": False, "i8": 127, "i16": -1, "i32": 2147483647,
         "f": None, "d": None, "s": None, "j": None, "a": None, "fv": [1, 0, 0, 1e-40],
         "sp": {"0": 1.5}},
    ]
    check("insert", http("POST", ep("entities/insert"), {"collectionName": c, "data": rows}))
    describe = http("POST", ep("collections/describe"), {"collectionName": c})
    for f in ("fv", "sp"):
        metric = {"bin": "HAMMING", "sp": "IP"}.get(f, "L2")
        itype = {"bin": "BIN_FLAT", "sp": "SPARSE_INVERTED_INDEX"}.get(f, "FLAT")
        check("index", http("POST", ep("indexes/create"), {"collectionName": c, "indexParams": [
            {"fieldName": f, "indexName": f, "metricType": metric, "indexType": itype}]}))
    check("load", http("POST", ep("collections/load"), {"collectionName": c}))
    query = http("POST", ep("entities/query"), {"collectionName": c, "filter": "pk >= 0",
                                                "outputFields": ["*"], "limit": 10})
    count = http("POST", ep("entities/query"), {"collectionName": c, "filter": "",
                                                "outputFields": ["count(*)"]})
    missing = http("POST", ep("collections/describe"), {"collectionName": "no_such_coll"})
    http("POST", ep("collections/drop"), {"collectionName": c})
    out("fuzz_milvus_source", "query_all_types", query + SEP + b'{"k":42,"x":true}')
    out("fuzz_milvus_source", "cursor_str", b'{"data":[]}' + SEP + b'{"k":"b\\u00e9","x":false}')
    out("fuzz_milvus_source", "array_wrapper",
        b'{"code":0,"data":[{"pk":"5","a":{"Data":{"LongData":{"data":[1,2]}}},'
        b'"j":"{\\"x\\":1}","i8v":"AQID/w==","sp":{"1":2e-3}}]}')
    out("fuzz_milvus_source", "default_wrapper", b'{"Data":{"LongData":5}}')
    # milvus-lite has no half/bfloat16/binary vectors: these values are as
    # Milvus 2.6's REST v2 documents them (base64 of the little-endian bytes)
    out("fuzz_milvus_source", "base64_vectors", json.dumps({"code": 0, "data": [
        {"pk": 3, "b": True, "i8": 1, "i16": 2, "i32": 3, "fv": [1, 2, 3, 4], "f16": half,
         "bf16": bf, "bin": base64.b64encode(b"\xa5\x0f").decode(), "i8v": "AQID/w", "sp": {}}]}))
    out("fuzz_milvus_sink", "describe", describe)
    out("fuzz_milvus_sink", "count", count)
    out("fuzz_milvus_sink", "not_found", missing)
    out("fuzz_milvus_sink", "insert", b'\x06{"code":0,"data":{"insertCount":2,"insertIds":[1,2]}}')
    out("fuzz_milvus_sink", "rate_limited", b'{"code":8,"message":"rate limit exceeded[rate=1]"}')
    return [describe, query]


# ---------------------------------------------------------------- pgvector
def pgvector():
    dsn = os.environ.get("VECMIG_TEST_PG")
    if not dsn or not shutil.which("psql"):
        print("make_seeds: VECMIG_TEST_PG not set or no psql: pgvector seeds skipped",
              file=sys.stderr)
        return
    q = ("SELECT encode(int8send(-5),'hex'), encode(int2send(300::int2),'hex'), "
         "encode(float4send(0.1),'hex'), encode(float8send(-1e300),'hex'), encode(boolsend(true),'hex'), "
         "encode(textsend('caf\u00e9'),'hex'), encode(vector_send('[0.1,2,-3,1e-38]'),'hex'), "
         "encode(halfvec_send('[1,-2,0.5,65504]'),'hex'), "
         "encode(sparsevec_send('{1:0.5,3:2,7:-1}/10'),'hex'), encode(bit_send(B'1010010100001111'),'hex'), "
         "encode(tidsend('(12,3)'::tid),'hex')")
    r = subprocess.run(["psql", dsn, "-XAtq", "-F", " ", "-c", q], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"make_seeds: psql: {r.stderr.strip()}", file=sys.stderr)
        return
    vals = [bytes.fromhex(h) for h in r.stdout.split()]
    # decoders: 0 int, 1 f32, 2 f64, 3 bool, 4 text, 5 vector, 6 half, 7 half->float,
    # 8 sparse, 9 bit, 10 tid (see fuzz_pgvector.c)
    cells = [(0, vals[0]), (0, vals[1]), (1, vals[2]), (2, vals[3]), (3, vals[4]), (4, vals[5]),
             (5, vals[6]), (6, vals[7]), (7, vals[7]), (8, vals[8]), (9, vals[9]), (10, vals[10])]
    enc = lambda cs: b"".join(bytes([d]) + struct.pack("<H", len(v)) + v for d, v in cs)
    out("fuzz_pgvector", "all_types", enc(cells))
    out("fuzz_pgvector", "nulls", b"".join(bytes([d]) + b"\xff\xff" for d in range(11)))
    out("fuzz_pgvector", "wrong_dims", enc([(5, vals[6][:8]), (8, vals[8][:12]), (9, vals[9][:4])]))


# ---------------------------------------------------------- json and text
def text_seeds(bodies):
    for i, b in enumerate(bodies):
        out("fuzz_json_scan", f"answer{i}", b + SEP + b"result.points\nresult\nstatus.error\n")
    out("fuzz_json_scan", "escapes",
        '{"a\\u00e9":{"b":"\\ud83d\\ude00\\n","c":[1,-0.5e+3,true,null]},"a\\u00e9":{},"d":"\\/"}')
    out("fuzz_json_scan", "paths", b'{"meta":{"author":{"name":"x","age":3},"tags":[]},"k":1}'
        + SEP + b"meta.author.name\nmeta.tags\n\nk")
    for i, n in enumerate(["0", "-0.0", "1.10", "12345678901234567890", "9007199254740993",
                           "3.4028235e38", "1e-46", "-1.5e-320", "30e-1", "1e400"]):
        out("fuzz_numbers", f"json{i}", n)
    for i, t in enumerate(["8MiB", "1.5GB", " 42 ", "1h30m", "250ms", "Wed, 21 Oct 2015 07:28:00 GMT",
                           "120"]):
        out("fuzz_numbers", f"text{i}", t)


def yaml_seeds():
    files = {
        "job_full": "tests/unit/data/job_full.yaml",
        "job_kafka_embedded": "tests/unit/data/job_kafka_embedded.yaml",
        "job_min": "tests/unit/data/job_min.json",
        "demo": "examples/demo.yaml",
    }
    for name, path in files.items():
        with open(os.path.join(ROOT, path), "rb") as f:
            data = f.read()
        out("fuzz_yaml", name, data)
        out("fuzz_job", name, data)
    out("fuzz_yaml", "anchors", b"a: &x {k: [1, 0x1f, 0o17, .5, ~, 'q', !!str 12]}\nb: *x\n"
        b"c: !!float 3\nd: |\n  block\n  text\n")
    out("fuzz_job", "secrets",
        b"version: 1\nsource: {type: qdrant, url: 'http://127.0.0.1:6333', collection: c,\n"
        b"  api_key: {file: /x}}\ntarget: {type: milvus, uri: 'http://u:pw@127.0.0.1:19530',\n"
        b"  collection: t, token: {env: VECMIG_FUZZ_SECRET}}\n"
        b"queue: {type: kafka, brokers: 'a:1,b:2', properties: {sasl.password: {env: VECMIG_FUZZ_SECRET}}}\n"
        b"state: {type: redis, url: 'redis://:pw12345@127.0.0.1:1/0'}\nmigration: {lease: 1m, heartbeat: 10s}\n")
    with open(os.path.join(ROOT, "examples/demo.map.yaml"), "rb") as f:
        out("fuzz_mapping", "demo_map", f.read())
    out("fuzz_mapping", "lift_sample",
        b"version: 1\nfields:\n  - {source: meta.author.name, name: author}\n  - {source: meta.tags}\n"
        b"  - {source: score, type: Float, lossy: true}\n  - {source: payload.color}\n"
        b"  - {source: meta, rest: dynamic}\n  - {name: tenant, type: VarChar, max_length: 8, default: acme}\n"
        b"primary_key: {auto_id: true, field: pk, keep_original_as: source_id}\n"
        b"collection: {partition_key: uid, shards: 2}\n"
        + SEP + b'{"author":{"name":"Ann"},"tags":["a","bb"]}\n{"author":{"name":3},"tags":[1]}\n'
        + SEP + b'{"color":"red","k":3}\n')
    out("fuzz_mapping", "partitions",
        b"unmapped: drop\nfields: [{source: id}, {source: emb, metric: L2}, {source: my-tag, name: tag}]\n"
        b"collection: {name: x1, partitions_from: tag, consistency_level: Strong, index: {create: true}}\n")


def main():
    bodies = []
    bodies += qdrant() or []
    bodies += pinecone() or []
    bodies += tencent() or []
    bodies += milvus() or []
    pgvector()
    text_seeds(bodies)
    yaml_seeds()
    for t in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, t)
        if os.path.isdir(d):
            print(f"make_seeds: {t}: {len(os.listdir(d))} seeds")


if __name__ == "__main__":
    main()

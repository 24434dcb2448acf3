# Smoke test of the real Elasticsearch 8.x and OpenSearch 2.x (+ k-NN) servers
# that scripts/stack runs: proves, on these exact builds, the APIs the future
# Elasticsearch / OpenSearch source connectors need (vector mappings, bulk,
# _count, point-in-time, slice + search_after on _shard_doc (ES) / _id
# (OpenSearch 2.x has no _shard_doc)). urllib only.
# Needs VECMIG_TEST_ES and VECMIG_TEST_OPENSEARCH (eval "$(scripts/stack env)");
# fails, not skips, when they are missing.
import json
import os
import random
import urllib.error
import urllib.request
import uuid

import pytest

DIM = 8
NDOCS = 100
SLICES = 3
PAGE = 7


def _env(name):
    url = os.environ.get(name)
    assert url, '%s is not set: eval "$(scripts/stack env)"' % name
    return url.rstrip("/")


def call(base, method, path, body=None, ndjson=False):
    data = None
    headers = {}
    if body is not None:
        if ndjson:
            data = body.encode()
            headers["Content-Type"] = "application/x-ndjson"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        raise AssertionError("%s %s -> HTTP %d: %s" % (method, path, e.code, e.read()[:500]))


class Flavor:
    def __init__(self, name, env, open_pit, close_pit, pit_id_key, sort, vector_mapping,
                 settings, version):
        self.name, self.env, self.sort = name, env, sort
        self.open_pit, self.close_pit, self.pit_id_key = open_pit, close_pit, pit_id_key
        self.vector_mapping, self.settings, self.version = vector_mapping, settings, version


ES = Flavor(
    "elasticsearch", "VECMIG_TEST_ES",
    open_pit="/{idx}/_pit?keep_alive=1m",
    close_pit=("DELETE", "/_pit", lambda pid: {"id": pid}),
    pit_id_key="id",
    sort=[{"_shard_doc": "asc"}],
    vector_mapping={"type": "dense_vector", "dims": DIM, "similarity": "cosine",
                    "element_type": "float", "index": True},
    settings={"number_of_shards": 2, "number_of_replicas": 0},
    version="8.",
)
OS = Flavor(
    "opensearch", "VECMIG_TEST_OPENSEARCH",
    open_pit="/{idx}/_search/point_in_time?keep_alive=1m",
    close_pit=("DELETE", "/_search/point_in_time", lambda pid: {"pit_id": [pid]}),
    pit_id_key="pit_id",
    # OpenSearch 2.x has no _shard_doc: a unique tiebreaker field instead.
    sort=[{"_id": "asc"}],
    vector_mapping={"type": "knn_vector", "dimension": DIM,
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}},
    settings={"number_of_shards": 2, "number_of_replicas": 0, "index.knn": True},
    version="2.",
)


def server_version(base):
    # The integ-test-zip of Elasticsearch has no "GET /" handler: read the
    # version from the node info instead (works on both).
    nodes = call(base, "GET", "/_nodes/_local")["nodes"]
    return next(iter(nodes.values()))["version"]


@pytest.fixture(params=[ES, OS], ids=lambda f: f.name)
def server(request):
    flavor = request.param
    base = _env(flavor.env)
    # Index name with '-' and '.' (the source connectors must cope with both).
    idx = "vecmig-smoke.%s" % uuid.uuid4().hex[:8]
    yield flavor, base, idx
    try:
        call(base, "DELETE", "/" + idx)
    except AssertionError:
        pass


def test_vector_index_bulk_count_pit_slices(server):
    flavor, base, idx = server
    assert server_version(base).startswith(flavor.version)

    call(base, "PUT", "/" + idx, {
        "settings": flavor.settings,
        "mappings": {"properties": {
            "vec": flavor.vector_mapping,
            "title": {"type": "keyword"},
            "n": {"type": "integer"},
        }},
    })
    mapping = call(base, "GET", "/%s/_mapping" % idx)[idx]["mappings"]["properties"]["vec"]
    if flavor is ES:
        assert (mapping["type"], mapping["dims"], mapping["similarity"]) == ("dense_vector", DIM, "cosine")
    else:
        assert (mapping["type"], mapping["dimension"]) == ("knn_vector", DIM)
        assert (mapping["method"]["engine"], mapping["method"]["space_type"]) == ("lucene", "cosinesimil")

    rng = random.Random(7)
    docs = {}
    lines = []
    for i in range(NDOCS):
        doc_id = "doc-%03d" % i
        vec = [rng.uniform(-1, 1) for _ in range(DIM)]
        docs[doc_id] = {"vec": vec, "title": "t%d" % i, "n": i}
        lines.append(json.dumps({"index": {"_id": doc_id}}))
        lines.append(json.dumps(docs[doc_id]))
    res = call(base, "POST", "/%s/_bulk?refresh=true" % idx, "\n".join(lines) + "\n", ndjson=True)
    assert res["errors"] is False
    assert len(res["items"]) == NDOCS

    assert call(base, "GET", "/%s/_count" % idx)["count"] == NDOCS

    # A vector query works (k-NN / dense_vector search is live on this build).
    if flavor is ES:
        q = {"knn": {"field": "vec", "query_vector": docs["doc-042"]["vec"], "k": 1, "num_candidates": 20}}
    else:
        q = {"size": 1, "query": {"knn": {"vec": {"vector": docs["doc-042"]["vec"], "k": 1}}}}
    assert call(base, "POST", "/%s/_search" % idx, q)["hits"]["hits"][0]["_id"] == "doc-042"

    pit = call(base, "POST", flavor.open_pit.format(idx=idx))[flavor.pit_id_key]
    assert pit
    seen = {}
    per_slice = []
    try:
        for sl in range(SLICES):
            after = None
            got = 0
            while True:
                body = {
                    "size": PAGE,
                    "pit": {"id": pit, "keep_alive": "1m"},
                    "slice": {"id": sl, "max": SLICES},
                    "sort": flavor.sort,
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                res = call(base, "POST", "/_search", body)
                hits = res["hits"]["hits"]
                if not hits:
                    break
                for h in hits:
                    assert h["_id"] not in seen, "%s returned by two slices/pages" % h["_id"]
                    seen[h["_id"]] = h["_source"]
                got += len(hits)
                after = hits[-1]["sort"]
                pit = res.get("pit_id", pit)
            per_slice.append(got)
    finally:
        method, path, body = flavor.close_pit
        call(base, method, path, body(pit))

    assert sum(per_slice) == NDOCS
    assert sum(1 for n in per_slice if n > 0) >= 2, per_slice
    assert set(seen) == set(docs)
    for doc_id, src in seen.items():
        assert src["n"] == docs[doc_id]["n"]
        assert src["title"] == docs[doc_id]["title"]
        assert src["vec"] == pytest.approx(docs[doc_id]["vec"], rel=1e-6, abs=1e-6)


def test_sliced_scroll(server):
    # The OpenSearch connector's main read path (sliced scroll); works on both.
    flavor, base, idx = server
    call(base, "PUT", "/" + idx, {"settings": flavor.settings,
                                  "mappings": {"properties": {"vec": flavor.vector_mapping}}})
    lines = []
    for i in range(NDOCS):
        lines.append(json.dumps({"index": {"_id": str(i)}}))
        lines.append(json.dumps({"vec": [float(i + 1)] + [0.5] * (DIM - 1)}))
    assert call(base, "POST", "/%s/_bulk?refresh=true" % idx, "\n".join(lines) + "\n",
                ndjson=True)["errors"] is False
    seen = []
    for sl in range(2):
        res = call(base, "POST", "/%s/_search?scroll=1m" % idx,
                   {"size": PAGE, "slice": {"id": sl, "max": 2}, "sort": ["_doc"]})
        sid = res["_scroll_id"]
        try:
            while res["hits"]["hits"]:
                seen.extend(h["_id"] for h in res["hits"]["hits"])
                res = call(base, "POST", "/_search/scroll", {"scroll": "1m", "scroll_id": sid})
                sid = res["_scroll_id"]
        finally:
            call(base, "DELETE", "/_search/scroll", {"scroll_id": [sid]})
    assert sorted(seen, key=int) == [str(i) for i in range(NDOCS)]

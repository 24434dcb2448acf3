"""Conformance tests for the REST v2 bridge over milvus-lite (a test fixture).

Requests and replies follow the documented Milvus 2.6 REST v2 examples
(milvus-io/web-content API_Reference_MDX/milvus-restful/v2.6.x) and the
handler code (internal/distributed/proxy/httpserver).  Verification reads
that check what was stored go straight to milvus-lite through pymilvus, not
through the bridge.  Run: ~/.cache/vecmig/venv/bin/python -m pytest -q
tests/milvus_bridge
"""

import json
import uuid

import numpy as np
import pytest

from conftest import Api, start_bridge, wait_until


def uname(prefix="c"):
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def vec(dim, seed):
    rng = np.random.default_rng(seed)
    return [float(x) for x in rng.random(dim, dtype=np.float32)]


def simple_schema(dim=4, dynamic=False, extra=()):
    return {"autoID": False, "enableDynamicField": dynamic, "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "emb", "dataType": "FloatVector",
         "elementTypeParams": {"dim": dim}}, *extra]}


INDEX = [{"fieldName": "emb", "indexName": "emb_idx", "metricType": "COSINE",
          "params": {"index_type": "HNSW", "M": 16, "efConstruction": 200}}]


@pytest.fixture
def coll(api):
    """A fresh name; the collection is dropped after the test."""
    names = []

    def make(prefix="c"):
        n = uname(prefix)
        names.append(n)
        return n

    yield make
    for n in names:
        api.post("collections/drop", {"collectionName": n})


def create_loaded(api, name, dim=4, dynamic=False, extra=()):
    api.ok("collections/create", {
        "collectionName": name, "schema": simple_schema(dim, dynamic, extra),
        "params": {"consistencyLevel": "Strong"}, "indexParams": INDEX})


def count(api, name, flt=""):
    data = api.ok("entities/query", {"collectionName": name, "filter": flt,
                                     "outputFields": ["count(*)"],
                                     "consistencyLevel": "Strong"})
    assert len(data) == 1 and set(data[0]) == {"count(*)"}
    return data[0]["count(*)"]


def lite_count(lite, name):
    lite.load_collection(name)
    return lite.query(name, filter="", output_fields=["count(*)"])[0][
        "count(*)"]


# ---------------------------------------------------------------- envelope


def test_list_envelope_and_fixture_header(api, coll):
    name = coll()
    create_loaded(api, name)
    status, headers, body = api.raw("POST", "/v2/vectordb/collections/list",
                                    b"{}")
    assert status == 200
    assert "over milvus-lite for tests" in headers["X-Test-Fixture"]
    reply = json.loads(body)
    assert reply["code"] == 0 and name in reply["data"]
    assert api.ok("collections/has", {"collectionName": name}) == \
        {"has": True}
    assert api.ok("collections/has", {"collectionName": uname()}) == \
        {"has": False}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_post_only(api, method):
    status, headers, body = api.raw(method, "/v2/vectordb/collections/list",
                                    b"{}")
    assert status == 404 and body == b"404 page not found"


def test_unknown_endpoint_is_404(api):
    status, _, body = api.raw("POST", "/v2/vectordb/collections/nope", b"{}")
    assert status == 404 and body == b"404 page not found"


@pytest.mark.parametrize("body", [b"{bad json", b"", b"[1,2]", b"{\"a\":NaN}",
                                  b"\xff\xfe"])
def test_malformed_json_gives_envelope(api, body):
    status, reply = api.post("/v2/vectordb/collections/describe", body)
    assert status == 200
    assert reply["code"] == 1801
    assert reply["message"].startswith("can only accept json format request")


def test_missing_required_parameter(api):
    status, reply = api.post("collections/describe", {"dbName": "default"})
    assert status == 200 and reply["code"] == 1802
    assert "CollectionName" in reply["message"]


def test_collection_not_found(api):
    name = uname()
    status, reply = api.post("collections/describe", {"collectionName": name})
    assert status == 200 and reply["code"] == 100
    assert reply["message"] == \
        f"collection not found[database=default][collection={name}]"
    _, reply = api.post("entities/insert", {"collectionName": name,
                                            "data": [{"id": 1}]})
    assert reply["code"] == 100


# ---------------------------------------------------------------- create


@pytest.mark.parametrize("bad", ["FLOAT_VECTOR", "floatvector", "float_vector",
                                 "Floatvector", "FloatVector "])
def test_datatype_names_are_case_sensitive(api, coll, bad):
    name = coll()
    schema = simple_schema()
    schema["fields"][1]["dataType"] = bad
    status, reply = api.post("collections/create",
                             {"collectionName": name, "schema": schema})
    assert status == 200 and reply["code"] == 1100
    assert f"data type {bad} is invalid(case sensitive)" in reply["message"]
    assert api.ok("collections/has", {"collectionName": name})["has"] is False


def test_element_datatype_is_case_sensitive(api, coll):
    name = coll()
    extra = [{"fieldName": "tags", "dataType": "Array",
              "elementDataType": "varchar",
              "elementTypeParams": {"max_capacity": 4, "max_length": 8}}]
    _, reply = api.post("collections/create", {
        "collectionName": name, "schema": simple_schema(extra=extra)})
    assert reply["code"] == 1100
    assert "element data type varchar is invalid" in reply["message"]


@pytest.mark.parametrize("vtype", ["BinaryVector", "Float16Vector",
                                   "BFloat16Vector", "Int8Vector"])
def test_unsupported_vector_types_are_refused_plainly(api, coll, vtype):
    name = coll()
    schema = simple_schema(dim=16)
    schema["fields"][1]["dataType"] = vtype
    _, reply = api.post("collections/create",
                        {"collectionName": name, "schema": schema})
    assert reply["code"] != 0
    assert "milvus-lite" in reply["message"] and vtype in reply["message"]
    assert "not of Milvus" in reply["message"]
    assert api.ok("collections/has", {"collectionName": name})["has"] is False


@pytest.mark.parametrize("bad", ["bad-name", "1abc", "a.b", "x" * 256, ""])
def test_collection_name_rules(api, bad):
    _, reply = api.post("collections/create", {
        "collectionName": bad, "schema": simple_schema()})
    assert reply["code"] in (1100, 1802), reply


def test_shards_num_from_params_round_trips(api, coll):
    a, b = coll("shards"), coll("shards")
    api.ok("collections/create", {
        "collectionName": a, "schema": simple_schema(),
        "params": {"shardsNum": 3, "consistencyLevel": "Strong"}})
    # top-level shardsNum is not a Milvus option: ignored, default 1
    api.ok("collections/create", {
        "collectionName": b, "schema": simple_schema(), "shardsNum": 5,
        "params": {"consistencyLevel": "Eventually"}})
    da = api.ok("collections/describe", {"collectionName": a})
    db = api.ok("collections/describe", {"collectionName": b})
    assert (da["shardsNum"], da["consistencyLevel"]) == (3, "Strong")
    assert (db["shardsNum"], db["consistencyLevel"]) == (1, "Eventually")
    assert da["load"] == "LoadStateNotLoad"      # no indexParams: not loaded
    assert da["autoId"] is False and da["enableDynamicField"] is False
    by_name = {f["name"]: f for f in da["fields"]}
    assert by_name["id"]["primaryKey"] is True
    assert by_name["id"]["type"] == "Int64"
    assert by_name["emb"]["type"] == "FloatVector"
    assert by_name["emb"]["params"] == [{"key": "dim", "value": "4"}]


def test_string_type_params_and_describe_shape(api, coll):
    name = coll()
    extra = [
        {"fieldName": "title", "dataType": "VarChar",
         "elementTypeParams": {"max_length": "32"}},
        {"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar",
         "elementTypeParams": {"max_capacity": "4", "max_length": 8},
         "nullable": True},
        {"fieldName": "ns", "dataType": "VarChar", "isPartitionKey": True,
         "elementTypeParams": {"max_length": 16}},
        {"fieldName": "n", "dataType": "Int64", "nullable": True,
         "defaultValue": 7}]
    api.ok("collections/create", {
        "collectionName": name, "schema": simple_schema(extra=extra),
        "params": {"shardsNum": 2, "partitionsNum": 8}, "indexParams": INDEX})
    d = api.ok("collections/describe", {"collectionName": name})
    assert d["load"] == "LoadStateLoaded"        # indexParams: loaded
    assert d["partitionsNum"] == 8 and d["shardsNum"] == 2
    assert d["indexes"] == [{"indexName": "emb_idx", "fieldName": "emb",
                             "metricType": "COSINE"}]
    f = {x["name"]: x for x in d["fields"]}
    assert {"key": "max_length", "value": "32"} in f["title"]["params"]
    assert f["tags"]["elementType"] == "VarChar" and f["tags"]["nullable"]
    assert {p["key"]: p["value"] for p in f["tags"]["params"]} == \
        {"max_capacity": "4", "max_length": "8"}
    assert f["ns"]["partitionKey"] is True
    assert f["n"]["defaultValue"] == {"Data": {"LongData": 7}}
    assert [x["id"] for x in d["fields"]] == list(range(100, 106))
    assert api.ok("indexes/list", {"collectionName": name}) == ["emb_idx"]
    ix = api.ok("indexes/describe", {"collectionName": name,
                                     "indexName": "emb_idx"})
    assert ix[0]["indexType"] == "HNSW" and ix[0]["metricType"] == "COSINE"


def test_recreate_identical_is_idempotent_different_is_error(api, coll):
    name = coll()
    req = {"collectionName": name, "schema": simple_schema(),
           "params": {"shardsNum": 2}}
    api.ok("collections/create", req)
    api.ok("collections/create", req)
    req2 = dict(req, schema=simple_schema(dim=8))
    _, reply = api.post("collections/create", req2)
    assert reply["code"] == 65535
    assert reply["message"] == ("create duplicate collection with different "
                                f"parameters, collection: {name}")


def test_quick_create(api, coll):
    name = coll()
    api.ok("collections/create", {"collectionName": name, "dimension": 8})
    d = api.ok("collections/describe", {"collectionName": name})
    assert [(f["name"], f["type"]) for f in d["fields"]] == \
        [("id", "Int64"), ("vector", "FloatVector")]
    assert d["load"] == "LoadStateLoaded" and d["enableDynamicField"] is True
    assert d["indexes"][0]["metricType"] == "COSINE"
    ids = api.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "vector": vec(8, 1), "color": "red"}]})["insertIds"]
    assert ids == [1]
    rows = api.ok("entities/query", {"collectionName": name,
                                     "filter": "id == 1"})
    assert rows[0]["color"] == "red"


# ---------------------------------------------------------------- load state


def test_query_needs_loaded_collection(api, coll):
    name = coll()
    api.ok("collections/create", {"collectionName": name,
                                  "schema": simple_schema()})
    assert api.ok("collections/get_load_state", {"collectionName": name}) == \
        {"loadState": "LoadStateNotLoad"}
    api.ok("entities/insert", {"collectionName": name,
                               "data": [{"id": 1, "emb": vec(4, 1)}]})
    for body in ({"filter": "id > 0"}, {"outputFields": ["count(*)"]}):
        _, reply = api.post("entities/query", dict(collectionName=name,
                                                   **body))
        assert reply["code"] == 101
        assert reply["message"] == f"collection not loaded[collection={name}]"
    _, reply = api.post("collections/load", {"collectionName": name})
    assert reply["code"] == 700 and "no vector index" in reply["message"]
    api.ok("indexes/create", {"collectionName": name, "indexParams": INDEX})
    api.ok("collections/load", {"collectionName": name})
    st = api.ok("collections/get_load_state", {"collectionName": name})
    assert st == {"loadState": "LoadStateLoaded", "loadProgress": 100}
    assert count(api, name) == 1
    api.ok("collections/release", {"collectionName": name})
    _, reply = api.post("entities/query", {"collectionName": name,
                                           "filter": "id > 0"})
    assert reply["code"] == 101


# ---------------------------------------------------------------- data


SCALARS = [
    {"fieldName": "b", "dataType": "Bool"},
    {"fieldName": "i8", "dataType": "Int8"},
    {"fieldName": "i16", "dataType": "Int16"},
    {"fieldName": "i32", "dataType": "Int32"},
    {"fieldName": "i64", "dataType": "Int64"},
    {"fieldName": "f", "dataType": "Float"},
    {"fieldName": "d", "dataType": "Double"},
    {"fieldName": "s", "dataType": "VarChar",
     "elementTypeParams": {"max_length": 16}},
    {"fieldName": "j", "dataType": "JSON", "nullable": True},
    {"fieldName": "ai", "dataType": "Array", "elementDataType": "Int64",
     "elementTypeParams": {"max_capacity": 3}},
    {"fieldName": "as_", "dataType": "Array", "elementDataType": "VarChar",
     "elementTypeParams": {"max_capacity": 2, "max_length": 5},
     "nullable": True},
    {"fieldName": "af", "dataType": "Array", "elementDataType": "Float",
     "elementTypeParams": {"max_capacity": 2}, "nullable": True},
    {"fieldName": "opt", "dataType": "VarChar", "nullable": True,
     "elementTypeParams": {"max_length": 8}},
    {"fieldName": "dflt", "dataType": "Int32", "defaultValue": 42},
    {"fieldName": "dflt_null", "dataType": "Double", "nullable": True,
     "defaultValue": 2.5},
]


def test_every_scalar_type_round_trips(api, lite, coll):
    name = coll()
    create_loaded(api, name, extra=SCALARS)
    big = 2 ** 62 + 3
    rows = [
        {"id": 1, "emb": vec(4, 1), "b": True, "i8": -128, "i16": 32767,
         "i32": -2 ** 31, "i64": big, "f": 0.1, "d": 0.1, "s": "héllo",
         "j": {"k": [1, "x"], "n": None}, "ai": [1, 2, 3],
         "as_": ["ab", "cde"], "af": [0.5, 0.1], "opt": "x",
         "dflt": 1, "dflt_null": 9.5},
        # numeric strings for ints (Milvus accepts), JSON given as text,
        # nullable / default fields omitted or null
        {"id": "2", "emb": vec(4, 2), "b": False, "i8": "5", "i16": 0,
         "i32": 7, "i64": "-9", "f": 3, "d": -1e300, "s": "",
         "j": "[1, 2]", "ai": [], "as_": None, "opt": None,
         "dflt_null": None},
    ]
    res = api.ok("entities/insert", {"collectionName": name, "data": rows})
    assert res == {"insertCount": 2, "insertIds": [1, 2]}
    got = api.ok("entities/query", {"collectionName": name,
                                    "filter": "id in [1, 2]",
                                    "outputFields": ["*"]})
    got = {r["id"]: r for r in got}
    r1, r2 = got[1], got[2]
    assert r1["b"] is True and r1["i8"] == -128 and r1["i16"] == 32767
    assert r1["i32"] == -2 ** 31 and r1["i64"] == big and r2["i64"] == -9
    assert r1["f"] == 0.1 and r1["d"] == 0.1 and r2["f"] == 3.0
    assert r2["d"] == -1e300 and r1["s"] == "héllo" and r2["s"] == ""
    # 2.6: JSON fields come back as a string holding the JSON text
    assert isinstance(r1["j"], str)
    assert json.loads(r1["j"]) == {"k": [1, "x"], "n": None}
    assert json.loads(r2["j"]) == [1, 2]
    # 2.6: Array fields come back in the protobuf wrapper (milvus#52048)
    assert r1["ai"] == {"Data": {"LongData": {"data": [1, 2, 3]}}}
    assert r2["ai"] == {"Data": {"LongData": {}}}
    assert r1["as_"] == {"Data": {"StringData": {"data": ["ab", "cde"]}}}
    assert r1["af"] == {"Data": {"FloatData": {"data": [0.5, 0.1]}}}
    assert r2["as_"] is None and r2["af"] is None
    assert r1["opt"] == "x" and r2["opt"] is None
    assert r1["dflt"] == 1 and r2["dflt"] == 42
    assert r1["dflt_null"] == 9.5 and r2["dflt_null"] == 2.5
    assert count(api, name) == 2
    # what milvus-lite itself stored
    direct = {r["id"]: r for r in lite.query(name, filter="id in [1, 2]",
                                             output_fields=["*"])}
    assert direct[2]["i8"] == 5 and direct[1]["ai"] == [1, 2, 3]
    assert np.float32(direct[1]["f"]) == np.float32(0.1)


def test_int64_as_string_when_client_does_not_allow_int64(api, coll):
    name = coll()
    create_loaded(api, name)
    h = {"Accept-Type-Allow-Int64": "false"}
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": 2 ** 60, "emb": vec(4, 1)}]}, headers=h)
    assert reply["data"]["insertIds"] == [str(2 ** 60)]
    _, reply = api.post("entities/query", {"collectionName": name,
                                           "filter": "id > 0"}, headers=h)
    assert reply["data"][0]["id"] == str(2 ** 60)


def test_dynamic_field(api, coll):
    dyn, static = coll(), coll()
    create_loaded(api, dyn, dynamic=True)
    create_loaded(api, static, dynamic=False)
    api.ok("entities/insert", {"collectionName": dyn, "data": [
        {"id": 1, "emb": vec(4, 1), "color": "red", "meta": {"a": [1]},
         "n": 3}]})
    row = api.ok("entities/query", {"collectionName": dyn,
                                    "filter": "id == 1"})[0]
    assert row["color"] == "red" and row["meta"] == {"a": [1]}
    assert row["n"] == 3
    _, reply = api.post("entities/insert", {"collectionName": static, "data": [
        {"id": 1, "emb": vec(4, 1), "color": "red"}]})
    assert reply["code"] == 1804
    assert "has pass more field without dynamic schema" in reply["message"]


def test_sparse_vectors(api, lite, coll):
    name = coll()
    schema = {"autoID": False, "enableDynamicField": False, "fields": [
        {"fieldName": "id", "dataType": "VarChar", "isPrimary": True,
         "elementTypeParams": {"max_length": 8}},
        {"fieldName": "sp", "dataType": "SparseFloatVector"}]}
    api.ok("collections/create", {
        "collectionName": name, "schema": schema,
        "indexParams": [{"fieldName": "sp", "metricType": "IP",
                         "params": {"index_type": "SPARSE_INVERTED_INDEX"}}]})
    api.ok("entities/insert", {"collectionName": name, "data": [
        {"id": "a", "sp": {"indices": [7, 1], "values": [0.25, 0.5]}},
        {"id": "b", "sp": {"3": 1.0, "4294967294": 0.1}}]})
    rows = {r["id"]: r for r in api.ok("entities/query", {
        "collectionName": name, "filter": 'id in ["a", "b"]'})}
    assert rows["a"]["sp"] == {"1": 0.5, "7": 0.25}
    assert rows["b"]["sp"] == {"3": 1.0, "4294967294": 0.1}
    direct = lite.query(name, filter='id == "a"', output_fields=["sp"])[0]
    assert {int(k): v for k, v in dict(direct["sp"]).items()} == \
        {1: 0.5, 7: 0.25}
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": "c", "sp": {"indices": [1, 2], "values": [0.5]}}]})
    assert reply["code"] == 1804


def test_float32_values_round_trip_bit_exact(api, lite, coll):
    name = coll()
    dim = 64
    create_loaded(api, name, dim=dim)
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2 ** 32, size=40 * dim, dtype=np.uint64)
    vals = bits.astype(np.uint32).view(np.float32)
    vals = np.where(np.isfinite(vals), vals, np.float32(1.5))
    # include edge cases: subnormals, max, min normal, -0, 0.1
    special = np.array([1.4e-45, -1.4e-45, 3.4028235e38, 1.1754944e-38,
                        -0.0, 0.1, 1 / 3], dtype=np.float32)
    vals[:len(special)] = special
    vals = vals.reshape(40, dim)
    # the shortest decimal of each float32, as a C client would print it
    texts = [[str(x) for x in row] for row in vals]
    body = ('{"collectionName":"%s","data":[%s]}' % (name, ",".join(
        '{"id":%d,"emb":[%s]}' % (i, ",".join(t)) for i, t in
        enumerate(texts)))).encode()
    _, reply = api.post("entities/insert", body)
    assert reply["code"] == 0, reply
    # read back with pymilvus straight from milvus-lite
    got = lite.query(name, filter="id >= 0", output_fields=["emb"],
                     limit=100)
    assert len(got) == 40
    stored = np.array([r["emb"] for r in sorted(got, key=lambda r: r["id"])],
                      dtype=np.float64).astype(np.float32)
    assert np.array_equal(stored.view(np.uint32), vals.view(np.uint32))
    # and through the bridge: shortest decimals, parsed as float32
    rows = api.ok("entities/query", {"collectionName": name,
                                     "filter": "id >= 0", "limit": 100,
                                     "outputFields": ["emb"]})
    via = np.array([r["emb"] for r in sorted(rows, key=lambda r: r["id"])],
                   dtype=np.float64).astype(np.float32)
    assert np.array_equal(via.view(np.uint32), vals.view(np.uint32))
    assert rows and all(isinstance(x, float) for x in rows[0]["emb"])


# ---------------------------------------------------------------- validation


def test_varchar_over_max_length_is_rejected_not_truncated(api, lite, coll):
    name = coll()
    create_loaded(api, name, extra=[{"fieldName": "s", "dataType": "VarChar",
                                     "elementTypeParams": {"max_length": 5}}])
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "emb": vec(4, 1), "s": "12345"},
        {"id": 2, "emb": vec(4, 2), "s": "123456"}]})
    assert reply["code"] == 1100
    assert "exceeds max length" in reply["message"]
    assert "length: 6, max length: 5" in reply["message"]
    assert lite_count(lite, name) == 0          # nothing of the batch written


def test_array_over_max_capacity_is_rejected(api, coll):
    name = coll()
    create_loaded(api, name, extra=[
        {"fieldName": "a", "dataType": "Array", "elementDataType": "Int32",
         "elementTypeParams": {"max_capacity": 2}}])
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "emb": vec(4, 1), "a": [1, 2, 3]}]})
    assert reply["code"] == 1100 and "max capacity" in reply["message"]


@pytest.mark.parametrize("row,code,text", [
    ({"id": 1, "emb": [0.1, 0.2, 0.3]}, 1804,
     "[]float32 size 3 doesn't equal to vector dimension 4"),
    ({"id": 1}, 1804, "missing vector field: emb"),
    ({"emb": [0.1, 0.2, 0.3, 0.4]}, 1804, "does not has field id"),
    ({"id": "x1", "emb": [0.1, 0.2, 0.3, 0.4]}, 1804, "expected=Int64"),
    ({"id": 1.5, "emb": [0.1, 0.2, 0.3, 0.4]}, 1804, "expected=Int64"),
    ({"id": 1, "emb": [0.1, 0.2, 0.3, "x"]}, 1804, "FloatVector"),
    ({"id": 1, "emb": [0.1, 0.2, 0.3, 1e39]}, 1804, "float32"),
])
def test_invalid_rows(api, lite, coll, row, code, text):
    name = coll()
    create_loaded(api, name)
    _, reply = api.post("entities/insert", {"collectionName": name,
                                            "data": [row]})
    assert reply["code"] == code, reply
    assert text in reply["message"]
    assert reply["message"].startswith("fail to deal the insert data")
    assert lite_count(lite, name) == 0


def test_insert_without_data_is_missing_parameter(api, coll):
    name = coll()
    create_loaded(api, name)
    _, reply = api.post("entities/insert", {"collectionName": name})
    assert reply["code"] == 1802


def test_json_scalar_is_a_visible_lite_limitation(api, coll):
    name = coll()
    create_loaded(api, name, extra=[{"fieldName": "j", "dataType": "JSON"}])
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "emb": vec(4, 1), "j": 5}]})
    assert reply["code"] == 65535 and "milvus-lite" in reply["message"]


# ---------------------------------------------------------------- query


def test_query_window(api, coll):
    name = coll()
    create_loaded(api, name)
    _, reply = api.post("entities/query", {"collectionName": name,
                                           "filter": "id >= 0",
                                           "limit": 10000, "offset": 6385})
    assert reply["code"] == 65535
    assert reply["message"] == ("invalid max query result window, "
                                "(offset+limit) should be in range [1, 16384],"
                                " but got 16385")
    assert api.ok("entities/query", {"collectionName": name,
                                     "filter": "id >= 0", "limit": 16384}) \
        == []
    # count(*) ignores limit
    assert count(api, name) == 0


def test_query_default_limit_and_output_fields(api, coll):
    name = coll()
    create_loaded(api, name, extra=[{"fieldName": "t", "dataType": "Int32"}])
    rows = [{"id": i, "emb": vec(4, i), "t": i} for i in range(150)]
    api.ok("entities/insert", {"collectionName": name, "data": rows})
    got = api.ok("entities/query", {"collectionName": name,
                                    "filter": "id >= 0"})
    assert len(got) == 100                            # default limit
    assert set(got[0]) == {"id", "emb", "t"}          # default ["*"]
    assert count(api, name) == 150
    assert count(api, name, "t < 10") == 10
    # paging with offset covers everything exactly once (order is lite's)
    seen = []
    for off in range(0, 150, 40):
        seen += [r["id"] for r in api.ok("entities/query", {
            "collectionName": name, "filter": "id >= 0", "limit": 40,
            "offset": off, "outputFields": ["id"]})]
    assert sorted(seen) == list(range(150))
    # pk "in" filters honour limit/offset (milvus-lite alone ignores them)
    got = api.ok("entities/query", {"collectionName": name,
                                    "filter": "id in [1, 2, 3, 4]",
                                    "limit": 2, "outputFields": ["id"]})
    assert len(got) == 2


def test_get_delete_and_stats(api, lite, coll):
    name = coll()
    create_loaded(api, name)
    api.ok("entities/insert", {"collectionName": name, "data": [
        {"id": i, "emb": vec(4, i)} for i in range(10)]})
    got = api.ok("entities/get", {"collectionName": name, "id": [3, 4],
                                  "outputFields": ["id"]})
    assert sorted(r["id"] for r in got) == [3, 4]
    status, reply = api.post("entities/delete", {"collectionName": name,
                                                 "filter": "id < 3"})
    assert reply == {"code": 0, "cost": 0, "data": {}}
    assert count(api, name) == 7 and lite_count(lite, name) == 7
    assert api.ok("collections/get_stats", {"collectionName": name}) == \
        {"rowCount": 7}
    _, reply = api.post("entities/delete", {"collectionName": name})
    assert reply["code"] == 1802


def test_upsert_replaces_the_whole_row(api, coll):
    name = coll()
    create_loaded(api, name, extra=[
        {"fieldName": "opt", "dataType": "VarChar", "nullable": True,
         "elementTypeParams": {"max_length": 8}}])
    api.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "emb": vec(4, 1), "opt": "old"}]})
    res = api.ok("entities/upsert", {"collectionName": name, "data": [
        {"id": 1, "emb": vec(4, 2)}]})
    assert res == {"upsertCount": 1, "upsertIds": [1]}
    row = api.ok("entities/query", {"collectionName": name,
                                    "filter": "id == 1"})[0]
    assert row["opt"] is None                 # Milvus: replaced, not merged
    assert count(api, name) == 1


def test_index_drop_needs_release(api, coll):
    name = coll()
    create_loaded(api, name)
    _, reply = api.post("indexes/drop", {"collectionName": name,
                                         "indexName": "emb_idx"})
    assert reply["code"] == 65535 and "release it first" in reply["message"]
    api.ok("collections/release", {"collectionName": name})
    api.ok("indexes/drop", {"collectionName": name, "indexName": "emb_idx"})
    assert api.ok("indexes/list", {"collectionName": name}) == []
    _, reply = api.post("indexes/describe", {"collectionName": name,
                                             "indexName": "emb_idx"})
    assert reply["code"] == 700
    # Milvus will not load a collection whose vector field has no index
    _, reply = api.post("collections/load", {"collectionName": name})
    assert reply["code"] == 700
    assert api.ok("collections/get_load_state", {"collectionName": name}) == \
        {"loadState": "LoadStateNotLoad"}


def test_partitions(api, coll):
    name = coll()
    create_loaded(api, name)
    assert api.ok("partitions/list", {"collectionName": name}) == ["_default"]
    api.ok("partitions/create", {"collectionName": name,
                                 "partitionName": "p1"})
    assert api.ok("partitions/has", {"collectionName": name,
                                     "partitionName": "p1"}) == {"has": True}
    api.ok("entities/insert", {"collectionName": name, "partitionName": "p1",
                               "data": [{"id": 1, "emb": vec(4, 1)}]})
    got = api.ok("entities/query", {"collectionName": name, "filter": "",
                                    "partitionNames": ["p1"],
                                    "outputFields": ["count(*)"]})
    assert got == [{"count(*)": 1}]
    api.ok("collections/release", {"collectionName": name})
    api.ok("partitions/drop", {"collectionName": name, "partitionName": "p1"})
    assert api.ok("partitions/has", {"collectionName": name,
                                     "partitionName": "p1"}) == {"has": False}


def test_collection_seeded_directly_in_milvus_lite(api, lite, coll):
    """Milvus-as-source tests seed milvus-lite with pymilvus, then read
    through the bridge."""
    from pymilvus import DataType, MilvusClient
    name = coll()
    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=16)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=3)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.INT32,
                max_capacity=4)
    ip = lite.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    lite.create_collection(name, schema=s, index_params=ip)
    lite.insert(name, [{"pk": "k1", "v": [0.5, 0.25, 0.125], "tags": [7],
                        "extra": True}])
    d = api.ok("collections/describe", {"collectionName": name})
    assert d["load"] == "LoadStateLoaded" and d["shardsNum"] == 1
    assert [f["name"] for f in d["fields"]] == ["pk", "v", "tags"]
    rows = api.ok("entities/query", {"collectionName": name,
                                     "filter": 'pk == "k1"'})
    assert rows == [{"pk": "k1", "v": [0.5, 0.25, 0.125],
                     "tags": {"Data": {"IntData": {"data": [7]}}},
                     "extra": True}]


# ---------------------------------------------------------------- duplicates


def test_duplicate_insert_is_counted_like_milvus(api, lite, coll):
    name = coll()
    create_loaded(api, name)
    row = {"id": 1, "emb": vec(4, 1)}
    api.ok("entities/insert", {"collectionName": name, "data": [row]})
    api.ok("entities/insert", {"collectionName": name, "data": [row]})
    # Milvus keeps both entities: count(*) through the bridge is 2 ...
    assert count(api, name) == 2
    assert api.ok("/_bridge/duplicates", {"collectionName": name}) == \
        {"duplicates": 1, "sample": [1]}
    assert api.ok("collections/get_stats", {"collectionName": name}) == \
        {"rowCount": 2}
    # ... while milvus-lite itself overwrote and holds 1 (engine difference)
    assert lite_count(lite, name) == 1
    # repeats inside one request count too; filtered count(*) sees them
    api.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 5, "emb": vec(4, 5)}, {"id": 5, "emb": vec(4, 6)},
        {"id": 6, "emb": vec(4, 6)}]})
    assert count(api, name) == 5
    assert count(api, name, "id >= 5") == 3
    # upsert leaves one entity per key; delete forgets keys
    api.ok("entities/upsert", {"collectionName": name, "data": [row]})
    assert api.ok("/_bridge/duplicates", {"collectionName": name}) == \
        {"duplicates": 1, "sample": [5]}
    api.ok("entities/delete", {"collectionName": name, "filter": "id == 5"})
    assert api.ok("/_bridge/duplicates", {"collectionName": name}) == \
        {"duplicates": 0, "sample": []}
    assert count(api, name) == 2 == lite_count(lite, name)


def test_autoid_collection_has_no_duplicates(api, coll):
    name = coll()
    schema = simple_schema()
    schema["autoID"] = True
    api.ok("collections/create", {"collectionName": name, "schema": schema,
                                  "indexParams": INDEX})
    res = api.ok("entities/insert", {"collectionName": name, "data": [
        {"emb": vec(4, 1)}, {"emb": vec(4, 1)}]})
    assert res["insertCount"] == 2 and len(set(res["insertIds"])) == 2
    assert count(api, name) == 2
    _, reply = api.post("entities/insert", {"collectionName": name, "data": [
        {"id": 5, "emb": vec(4, 1)}]})
    assert reply["code"] == 1804 and "autoid==true" in reply["message"]


def test_duplicates_survive_bridge_restart(stack, coll):
    _, grpc, tmp = stack
    proc, base, state = start_bridge(tmp, grpc)
    name = coll()
    api = Api(base)
    try:
        create_loaded(api, name)
        row = {"id": 9, "emb": vec(4, 9)}
        api.ok("entities/insert", {"collectionName": name, "data": [row]})
        api.ok("entities/insert", {"collectionName": name, "data": [row]})
    finally:
        api.close()
        proc.stop()
    proc, base, _ = start_bridge(tmp, grpc, state_dir=state)
    api = Api(base)
    try:
        assert api.ok("/_bridge/duplicates", {"collectionName": name}) == \
            {"duplicates": 1, "sample": [9]}
        assert count(api, name) == 2
        assert api.ok("collections/describe", {"collectionName": name})[
            "indexes"][0]["indexName"] == "emb_idx"
        api.ok("collections/drop", {"collectionName": name})
    finally:
        api.close()
        proc.stop()


# ---------------------------------------------------------------- auth, size


def test_auth_token(stack):
    _, grpc, tmp = stack
    token = "s3cr3t-" + uuid.uuid4().hex
    proc, base, _ = start_bridge(tmp, grpc, extra=["--token", token])
    try:
        anon = Api(base)
        status, reply = anon.post("collections/list", {})
        assert status == 401
        assert reply == {"code": 1800, "message": "user hasn't authenticated"}
        wrong = Api(base, token="nope")
        status, reply = wrong.post("collections/list", {})
        assert status == 401 and reply["code"] == 1800
        good = Api(base, token=token)
        status, reply = good.post("collections/list", {})
        assert status == 200 and reply["code"] == 0
        for a in (anon, wrong, good):
            a.close()
    finally:
        proc.stop()
    log = proc.output()
    assert "collections/list" in log and token not in log


def test_oversized_body_is_rejected_and_connection_survives(stack, coll):
    _, grpc, tmp = stack
    proc, base, _ = start_bridge(tmp, grpc, extra=["--max-body-bytes",
                                                   "4096"])
    api = Api(base)
    try:
        name = coll()
        create_loaded(api, name, dim=32)
        rows = [{"id": i, "emb": vec(32, i)} for i in range(100)]
        status, reply = api.post("entities/insert", {"collectionName": name,
                                                     "data": rows})
        assert status == 200 and reply["code"] == 1102
        assert "maxInsertSize" in reply["message"]
        # half batches until they fit, as vecmig must
        n, done = len(rows), 0
        while done < len(rows):
            batch = rows[done:done + n]
            status, reply = api.post("entities/insert", {
                "collectionName": name, "data": batch})
            if reply["code"] == 1102:
                n //= 2
                continue
            assert reply["code"] == 0
            done += len(batch)
        assert n < len(rows) and count(api, name) == 100
        api.ok("collections/drop", {"collectionName": name})
    finally:
        api.close()
        proc.stop()


def test_log_has_one_line_per_request(stack):
    _, grpc, tmp = stack
    proc, base, _ = start_bridge(tmp, grpc)
    api = Api(base)
    try:
        for _ in range(3):
            api.ok("collections/list", {})
    finally:
        api.close()
        proc.stop()
    lines = [ln for ln in proc.output().splitlines()
             if "POST /v2/vectordb/collections/list" in ln]
    assert len(lines) >= 4                      # readiness poll + 3
    assert all(ln.startswith("[rest-v2-bridge over milvus-lite]")
               for ln in lines)
    assert "a REST v2 bridge over milvus-lite for tests" in proc.output()

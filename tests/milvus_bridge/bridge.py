#!/usr/bin/env python3
"""A REST v2 bridge over milvus-lite for tests.

This is a TEST FIXTURE of the vecmig project, not Milvus.  No installable
Milvus serves the REST v2 API on this machine; milvus-lite 3.x is a real
Milvus engine but speaks gRPC only.  This program serves the subset of the
Milvus REST v2 API (`POST /v2/vectordb/...`) that vecmig uses and implements
every endpoint with pymilvus 3.0.x against a milvus-lite server.  Every reply
carries the header `X-Test-Fixture: a REST v2 bridge over milvus-lite for
tests` and every log line starts with `[rest-v2-bridge over milvus-lite]`.

Usage:
    bridge.py --host 127.0.0.1 --port P --milvus-uri http://127.0.0.1:M \
              --state-dir DIR [--token TOKEN] [--max-body-bytes N]
              [--array-format milvus-2.6|plain] [--fail-rate R]
              [--write-latency-ms N]

Contract reproduced (read from milvus-io/milvus internal/distributed/proxy/
httpserver/{handler_v2.go,request_v2.go,utils.go}, pkg/util/merr and the
v2.6.x REST reference; behaviour of Milvus 2.6.x):
  * Every endpoint is POST with a JSON body; `dbName` defaults to "default".
    Success: HTTP 200 `{"code":0,"data":...}` (mutations and queries also
    carry `"cost":0`).  Errors: HTTP 200 `{"code":N,"message":"..."}` with the
    real merr codes: 1801 body is not JSON, 1802 missing required parameter,
    1804 insert/upsert row rejected, 1100 invalid parameter, 1102 request too
    large, 100 collection not found, 101 collection not loaded, 700 index not
    found, 65535 generic (e.g. "invalid max query result window", "create
    duplicate collection with different parameters").
  * Unknown path or a method other than POST: HTTP 404, text body
    "404 page not found" (gin's default; Milvus registers POST routes only).
  * `--fail-rate R` (reliability tests; default 0): that share of /v2
    requests is answered, before it takes any effect, with an injected fault
    in turn HTTP 429 + Retry-After: 1, HTTP 503, or HTTP 200 with Milvus's
    rate-limit code 8; `POST /_bridge/faults` -> how many of each.
  * `--write-latency-ms N` (scale-out tests; default 0): every
    entities/insert|upsert request waits N ms before it is carried out, in
    its own request thread and outside the bridge's write lock, so that
    concurrent writers wait in parallel as they would on a remote Milvus
    (a network round trip), while milvus-lite itself still applies the
    writes one at a time.  `POST /_bridge/latency` -> `{"waits": N,
    "max_parallel": M}`: how many requests waited, and the most that waited
    at the same time (M > 1 shows the writers really overlapped).
  * `--token T`: requests need `Authorization: Bearer T`; otherwise HTTP 401
    with `{"code":1800,"message":"user hasn't authenticated"}` (2.6's
    checkAuthorizationV2 answers 401; older releases answered 200).
  * Request bodies above `--max-body-bytes` (default 64 MiB) are drained and
    answered with HTTP 200 `{"code":1102,"message":"parameter too large
    [message=insert request size exceeds maxInsertSize]..."}`: the Milvus 2.6
    HTTP server itself sets no body limit; the proxy rejects oversized inserts
    with ErrParameterTooLarge (1102) once quotaAndLimits.limits.maxInsertSize
    is set.  A client must react to this by halving its batch.
  * collections/create: full schema form and quick form.  `dataType` and
    `elementDataType` are case-sensitive protobuf enum names.  Options are
    read from `params` only (`shardsNum`, `partitionsNum`, `consistencyLevel`
    ...); a top-level `shardsNum` is ignored as in Milvus.  Re-creating an
    existing collection with identical parameters succeeds (Milvus is
    idempotent here); different parameters give code 65535 "create duplicate
    collection with different parameters, collection: X".  With
    `indexParams` (or in the quick form) the indexes are created and the
    collection is loaded; without them it stays unloaded.  shardsNum,
    partitionsNum, consistencyLevel, index names and the collection ID are
    kept in DIR/collections/<db>/<name>.json because milvus-lite ignores them.
  * entities/insert|upsert rows are validated like Milvus before anything is
    written (dim, max_length without truncation, max_capacity, nullable /
    default, dynamic field, Int64 as number or numeric string, sparse as
    {"indices":[...],"values":[...]} or {"<idx>":val}).  Floats go to pymilvus
    as Python doubles and are packed to float32 with round-to-nearest, so the
    shortest decimal of a float32 comes back bit-exact.
  * upsert = delete + insert (Milvus semantics: the whole row is replaced);
    milvus-lite's own Upsert would merge onto the old row.
  * entities/query: outputFields default ["*"], limit default 100,
    offset+limit <= 16384 else 65535 "invalid max query result window,
    (offset+limit) should be in range [1, 16384], but got N"; a query on an
    unloaded collection gives 101 "collection not loaded[collection=X]";
    `["count(*)"]` returns `[{"count(*)":N}]` and ignores limit.
  * Query output encoding (2.6): FloatVector as an array of float32 values
    printed as the shortest decimal; Float16/BFloat16/Binary vectors as base64
    strings; SparseFloatVector as {"idx":val}; Int64 as a JSON number (as a
    string when the request sends `Accept-Type-Allow-Int64: false`); JSON
    fields as a STRING holding the JSON text (2.6 returns
    string(JsonData); 3.0.1 changed this); dynamic keys merged into the row;
    Array fields in the 2.6 protobuf wrapper
    `{"Data":{"LongData":{"data":[...]}}}` (milvus#52048, fixed after 2.6)
    unless `--array-format plain`.

Known differences from real Milvus (made visible, never hidden):
  * Duplicates: Milvus `insert` of an existing primary key ADDS a second
    entity; milvus-lite overwrites.  The bridge records every inserted key
    (SQLite in DIR/pks.sqlite, survives restarts), counts each insert of a key
    that is already present (also repeats within one request), adds that
    count to `count(*)` and `get_stats` so they behave like Milvus, and
    exposes it at `POST /_bridge/duplicates {collectionName}` ->
    `{"code":0,"data":{"duplicates":N,"sample":[pk,...]}}`.  upsert resets a
    key to one entity; delete removes keys.  Plain query results still show
    one entity per key.
  * Query pages come in milvus-lite's segment order, not primary-key order.
    An `id in [...]` filter is sliced by the bridge (lite ignores limit/offset
    on that path).
  * milvus-lite 3.2.2's drop_index drops every index of the collection; the
    bridge drops the one asked for and re-creates the others (same name,
    type, metric, params), as Milvus would have kept them.
  * Binary/Float16/BFloat16/Int8 vector fields and JSON scalar values cannot
    be stored by milvus-lite: the bridge answers with an error that says so
    (code 65535) instead of changing the type.
  * JSON field text is re-serialised compactly (Milvus echoes the bytes it
    received); partition load/release and drop-partition checks are absent;
    get_stats counts live rows (Milvus counts flushed rows, deleted rows
    until compaction).
"""

import argparse
import base64
import collections
import hashlib
import json
import logging
import math
import os
import re
import signal
import sqlite3
import struct
import sys
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BANNER = "a REST v2 bridge over milvus-lite for tests"
LOG_PREFIX = "[rest-v2-bridge over milvus-lite]"

# pymilvus and numpy are imported once at start-up (about 0.8 s).
import numpy as np  # noqa: E402
from pymilvus import DataType, MilvusClient  # noqa: E402
from pymilvus.exceptions import MilvusException  # noqa: E402

for _name in list(logging.root.manager.loggerDict):
    if _name.startswith("pymilvus"):
        logging.getLogger(_name).setLevel(logging.CRITICAL + 1)
logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)

MAX_QUERY_WINDOW = 16384
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME_LEN = 255
# A double rounds to a finite float32 below this (max float32 + half ulp).
FLOAT32_LIMIT = 3.4028235677973366e38
INT_RANGES = {
    "Int8": (-(1 << 7), (1 << 7) - 1),
    "Int16": (-(1 << 15), (1 << 15) - 1),
    "Int32": (-(1 << 31), (1 << 31) - 1),
    "Int64": (-(1 << 63), (1 << 63) - 1),
}
CONSISTENCY_LEVELS = ["Strong", "Session", "Bounded", "Eventually", "Customized"]

# schemapb.DataType enum names (milvus-proto, 2.6): every name Milvus accepts
# as a dataType string.  Anything else is "invalid(case sensitive)".
PROTO_TYPES = [
    "None", "Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double",
    "String", "VarChar", "Array", "JSON", "Geometry", "Text", "Timestamptz",
    "BinaryVector", "FloatVector", "Float16Vector", "BFloat16Vector",
    "SparseFloatVector", "Int8Vector", "ArrayOfVector", "ArrayOfStruct",
    "Struct",
]
TO_PYMILVUS = {
    "Bool": DataType.BOOL, "Int8": DataType.INT8, "Int16": DataType.INT16,
    "Int32": DataType.INT32, "Int64": DataType.INT64,
    "Float": DataType.FLOAT, "Double": DataType.DOUBLE,
    "VarChar": DataType.VARCHAR, "Array": DataType.ARRAY,
    "JSON": DataType.JSON, "FloatVector": DataType.FLOAT_VECTOR,
    "SparseFloatVector": DataType.SPARSE_FLOAT_VECTOR,
}
FROM_PYMILVUS = {v: k for k, v in TO_PYMILVUS.items()}
LITE_UNSUPPORTED_VECTORS = {"BinaryVector", "Float16Vector", "BFloat16Vector",
                            "Int8Vector"}
VECTOR_TYPES = {"FloatVector", "SparseFloatVector"} | LITE_UNSUPPORTED_VECTORS
ARRAY_ELEMENT_TYPES = {"Bool", "Int8", "Int16", "Int32", "Int64", "Float",
                       "Double", "VarChar"}
# Go's encoding/json names for the protobuf oneof wrappers (ScalarField.Data,
# ValueField.Data) that 2.6 leaks into describe/query output.
SCALAR_ONEOF = {"Bool": "BoolData", "Int8": "IntData", "Int16": "IntData",
                "Int32": "IntData", "Int64": "LongData", "Float": "FloatData",
                "Double": "DoubleData", "VarChar": "StringData"}
VALUE_ONEOF = {"bool_data": "BoolData", "int_data": "IntData",
               "long_data": "LongData", "float_data": "FloatData",
               "double_data": "DoubleData", "string_data": "StringData",
               "bytes_data": "BytesData"}


class ApiError(Exception):
    """An error reply: HTTP status, Milvus code and message."""

    def __init__(self, code, message, http_status=200):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def invalid_param(msg):
    # merr.WrapErrParameterInvalidMsg renders as "<msg>: invalid parameter".
    return ApiError(1100, f"{msg}: invalid parameter")


def insert_error(msg):
    return ApiError(1804, f"fail to deal the insert data, error: {msg}")


def missing_required(struct_name, field):
    return ApiError(1802, "missing required parameters, error: Key: "
                    f"'{struct_name}.{field}' Error:Field validation for "
                    f"'{field}' failed on the 'required' tag")


def lite_limitation(msg):
    return ApiError(65535, "the milvus-lite bridge cannot do this (a "
                    "limitation of the test bridge, not of Milvus): " + msg)


def coll_not_found(db, name):
    return ApiError(100, f"collection not found[database={db}]"
                    f"[collection={name}]")


def check_name(kind, name):
    """proxy validateCollectionName & co (internal/proxy/util.go)."""
    if not isinstance(name, str) or name.strip() == "":
        raise invalid_param(f"{kind} name should not be empty")
    if len(name) > MAX_NAME_LEN:
        raise invalid_param(f"Invalid {kind} name: {name}. the length of a "
                            f"{kind} name must be less than {MAX_NAME_LEN} "
                            "characters")
    if not (name[0] == "_" or name[0].isascii() and name[0].isalpha()):
        raise invalid_param(f"Invalid {kind} name: {name}. the first "
                            f"character of a {kind} name must be an "
                            "underscore or letter")
    if not NAME_RE.match(name):
        raise invalid_param(f"Invalid {kind} name: {name}. {kind} name can "
                            "only contain numbers, letters and underscores")


# --------------------------------------------------------------------------
# float32 helpers


def f32_shortest(values):
    """float32 values -> Python floats whose repr is the shortest decimal
    that round-trips the float32 (what Go's json encoder prints)."""
    if len(values) == 0:
        return []
    arr = np.asarray(values, dtype=np.float32)
    return [float(s) for s in arr.astype(str)]


def f32_one(v):
    return float(str(np.float32(v)))


class RawJSON:
    """Pre-rendered JSON text (float32 vectors: rendering them as text in
    one numpy call is ~2x faster than going through Python floats)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def f32_vector_json(values):
    if len(values) == 0:
        return RawJSON("[]")
    arr = np.asarray(values, dtype=np.float32)
    return RawJSON("[" + ",".join(arr.astype(str).tolist()) + "]")


_RAW_NONCE = os.urandom(6).hex()  # a user string can't guess the marker
_RAW_RE = re.compile(r'"\\u0000raw%s:(\d+)\\u0000"' % _RAW_NONCE)


def dumps(payload):
    """json.dumps that splices RawJSON values in verbatim."""
    raws = []

    def default(o):
        if isinstance(o, RawJSON):
            raws.append(o.text)
            return f"\0raw{_RAW_NONCE}:{len(raws) - 1}\0"
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    text = json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      default=default)
    if raws:
        text = _RAW_RE.sub(lambda m: raws[int(m.group(1))], text)
    return text


# --------------------------------------------------------------------------
# persistent state


class PkStore:
    """Every inserted primary key per collection, with its entity count.

    Milvus keeps one entity per insert, so n > 1 means the key was inserted
    n times; milvus-lite keeps only the last.  SQLite (stdlib) keeps this on
    disk so a bridge restart loses nothing; ~1e6 keys are fine."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS pks (coll TEXT NOT NULL,"
                         " pk TEXT NOT NULL, n INTEGER NOT NULL,"
                         " PRIMARY KEY (coll, pk)) WITHOUT ROWID")
        self._db.execute("CREATE INDEX IF NOT EXISTS pks_dup ON pks(coll) "
                         "WHERE n > 1")
        self._db.execute("CREATE TABLE IF NOT EXISTS dups (coll TEXT PRIMARY "
                         "KEY, n INTEGER NOT NULL)")

    def close(self):
        with self._lock:
            self._db.close()

    def _existing(self, coll, keys):
        found = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = ("SELECT pk, n FROM pks WHERE coll=? AND pk IN (%s)"
                 % ",".join("?" * len(chunk)))
            for pk, n in self._db.execute(q, [coll] + chunk):
                found[pk] = n
        return found

    def _add_dups(self, coll, delta):
        if delta:
            self._db.execute("INSERT INTO dups(coll, n) VALUES(?, ?) ON "
                             "CONFLICT(coll) DO UPDATE SET n = n + "
                             "excluded.n", (coll, delta))

    def record_insert(self, coll, keys):
        """Returns how many of `keys` were duplicates."""
        counts = collections.Counter(keys)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                existing = self._existing(coll, counts.keys())
                new_distinct = sum(1 for k in counts if k not in existing)
                added = len(keys) - new_distinct
                self._db.executemany(
                    "INSERT INTO pks(coll, pk, n) VALUES(?, ?, ?) ON "
                    "CONFLICT(coll, pk) DO UPDATE SET n = n + excluded.n",
                    [(coll, k, c) for k, c in counts.items()])
                self._add_dups(coll, added)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return added

    def record_single(self, coll, keys):
        """Upsert: each key is now exactly one entity."""
        keys = set(keys)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                existing = self._existing(coll, keys)
                removed = sum(n - 1 for n in existing.values())
                self._db.executemany(
                    "INSERT INTO pks(coll, pk, n) VALUES(?, ?, 1) ON "
                    "CONFLICT(coll, pk) DO UPDATE SET n = 1",
                    [(coll, k) for k in keys])
                self._add_dups(coll, -removed)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, coll, keys):
        keys = set(keys)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                existing = self._existing(coll, keys)
                removed = sum(n - 1 for n in existing.values())
                self._db.executemany("DELETE FROM pks WHERE coll=? AND pk=?",
                                     [(coll, k) for k in existing])
                self._add_dups(coll, -removed)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def retain(self, coll, present):
        """Forget keys that are no longer in the engine (partition drop)."""
        present = set(present)
        with self._lock:
            rows = self._db.execute("SELECT pk, n FROM pks WHERE coll=?",
                                    (coll,)).fetchall()
            gone = [(pk, n) for pk, n in rows if pk not in present]
        if gone:
            self.delete(coll, [pk for pk, _ in gone])

    def clear(self, coll):
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM pks WHERE coll=?", (coll,))
            self._db.execute("DELETE FROM dups WHERE coll=?", (coll,))
            self._db.execute("COMMIT")

    def total_dups(self, coll):
        with self._lock:
            row = self._db.execute("SELECT n FROM dups WHERE coll=?",
                                   (coll,)).fetchone()
        return row[0] if row else 0

    def dups_for(self, coll, keys):
        with self._lock:
            existing = self._existing(coll, set(keys))
        return sum(n - 1 for n in existing.values())

    def sample(self, coll, limit=20):
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT pk FROM pks WHERE coll=? AND n > 1 ORDER BY pk "
                "LIMIT ?", (coll, limit))]


class MetaStore:
    """What milvus-lite does not keep: one JSON file per collection."""

    def __init__(self, root):
        self.root = os.path.join(root, "collections")
        os.makedirs(self.root, exist_ok=True)

    def _path(self, db, name):
        return os.path.join(self.root, db, name + ".json")

    def get(self, db, name):
        try:
            with open(self._path(db, name), encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None

    def put(self, db, name, meta):
        path = self._path(db, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, sort_keys=True, indent=1)
        os.replace(tmp, path)

    def remove(self, db, name):
        try:
            os.remove(self._path(db, name))
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------
# collection model


class Field:
    __slots__ = ("name", "type", "primary", "auto_id", "partition_key",
                 "nullable", "default", "default_kind", "element", "dim",
                 "max_length", "max_capacity", "params")

    def __init__(self):
        self.primary = self.auto_id = self.partition_key = False
        self.nullable = False
        self.default = None
        self.default_kind = None
        self.element = None
        self.dim = self.max_length = self.max_capacity = None
        self.params = {}


class Model:
    """A collection as milvus-lite describes it, plus bridge metadata."""

    def __init__(self, db, name, desc, meta):
        self.db = db
        self.name = name
        self.key = f"{db}/{name}"
        self.meta = meta or {}
        self.dynamic = bool(desc.get("enable_dynamic_field"))
        self.fields = []
        self.pk = None
        spec_params = {s["fieldName"]: s.get("elementTypeParams", {})
                       for s in self.meta.get("spec", {}).get("fields", [])}
        for fd in desc.get("fields", []):
            f = Field()
            f.name = fd["name"]
            f.type = FROM_PYMILVUS.get(fd["type"], str(fd["type"]))
            f.primary = bool(fd.get("is_primary"))
            f.auto_id = bool(fd.get("auto_id")) or (
                f.primary and bool(desc.get("auto_id")))
            f.partition_key = bool(fd.get("is_partition_key"))
            f.nullable = bool(fd.get("nullable"))
            dv = fd.get("default_value")
            if dv is not None:
                kind = dv.WhichOneof("data")
                if kind:
                    f.default_kind = kind
                    f.default = getattr(dv, kind)
            et = fd.get("element_type")
            if et is not None:
                f.element = FROM_PYMILVUS.get(et, str(et))
            params = dict(fd.get("params") or {})
            # milvus-lite drops some type params (max_length of VarChar
            # array elements); the create request kept them.
            for k, v in spec_params.get(f.name, {}).items():
                params.setdefault(k, v)
            f.params = params
            for key in ("dim", "max_length", "max_capacity"):
                if key in params:
                    setattr(f, key, int(params[key]))
            self.fields.append(f)
            if f.primary:
                self.pk = f
        self.by_name = {f.name: f for f in self.fields}
        self.consistency = desc.get("consistency_level_name") or "Bounded"


# --------------------------------------------------------------------------
# row conversion (REST JSON -> pymilvus rows)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _go_string(v):
    """gjson Result.String() of a JSON value (what Milvus stores)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return json.dumps(v, separators=(",", ":"), allow_nan=False)


def _to_int(fname, ftype, v, row):
    if isinstance(v, bool):
        raise insert_error(f"invalid parameter[expected={ftype}]"
                           f"[actual={_go_string(v)}]")
    if isinstance(v, int):
        iv = v
    elif isinstance(v, str):
        try:
            iv = int(v.strip(), 10)
        except ValueError:
            raise insert_error(f"invalid parameter[expected={ftype}]"
                               f"[actual={v}]") from None
    else:
        raise insert_error(f"invalid parameter[expected={ftype}]"
                           f"[actual={_go_string(v)}]")
    lo, hi = INT_RANGES[ftype]
    if not lo <= iv <= hi:
        raise invalid_param(f"the {row}th value {iv} of field {fname} is out "
                            f"of range for {ftype}")
    return iv


def _to_float(fname, ftype, v, row):
    if isinstance(v, bool):
        raise insert_error(f"invalid parameter[expected={ftype}]"
                           f"[actual={_go_string(v)}]")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise insert_error(f"invalid parameter[expected={ftype}]"
                               f"[actual={v}]") from None
    if not _is_number(v):
        raise insert_error(f"invalid parameter[expected={ftype}]"
                           f"[actual={_go_string(v)}]")
    v = float(v)
    if not math.isfinite(v):
        raise invalid_param(f"value of field {fname} (row {row}) is NaN or "
                            "Inf")
    if ftype == "Float" and abs(v) >= FLOAT32_LIMIT:
        raise insert_error(f"invalid parameter[expected=Float][actual={v}]")
    return v


def _to_bool(ftype, v):
    if isinstance(v, bool):
        return v
    s = _go_string(v)
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise insert_error(f"invalid parameter[expected={ftype}][actual={s}]")


def _to_varchar(f, v, row, max_length):
    s = _go_string(v)
    if max_length is not None and len(s) > max_length:
        raise invalid_param(f"length of varchar field {f} exceeds max length,"
                            f" row number: {row}, length: {len(s)}, max "
                            f"length: {max_length}")
    return s


def _float_vector(f, v, row):
    if not isinstance(v, list):
        raise insert_error(f"invalid parameter[expected=FloatVector]"
                           f"[actual={_go_string(v)}]")
    for x in v:
        if not _is_number(x):
            raise insert_error(f"invalid parameter[expected=FloatVector]"
                               f"[actual={_go_string(v)[:200]}]: json: cannot"
                               " unmarshal into Go value of type float32")
        if abs(x) >= FLOAT32_LIMIT:
            raise insert_error(f"json: cannot unmarshal number {x} into Go "
                               "value of type float32")
    if len(v) != f.dim:
        raise insert_error(f"[]float32 size {len(v)} doesn't equal to vector "
                           f"dimension {f.dim} of FloatVector")
    return v


def _sparse_vector(f, v, row):
    """typeutil.CreateSparseFloatRowFromJSON: two accepted shapes."""
    bad = insert_error("invalid parameter[expected=SparseFloatVector]"
                       f"[actual={_go_string(v)[:200]}]")
    if not isinstance(v, dict):
        raise bad
    pairs = []
    if "indices" in v or "values" in v:
        idx, vals = v.get("indices"), v.get("values")
        if not isinstance(idx, list) or not isinstance(vals, list) or \
                len(idx) != len(vals):
            raise bad
        pairs = list(zip(idx, vals))
    else:
        for k, val in v.items():
            try:
                pairs.append((int(k, 10), val))
            except ValueError:
                raise bad from None
    out = {}
    for i, val in pairs:
        if isinstance(i, bool) or not isinstance(i, int) or \
                isinstance(val, bool) or not _is_number(val):
            raise bad
        if not 0 <= i < 0xFFFFFFFF:
            raise insert_error(f"sparse vector index {i} out of range "
                               "[0, 4294967295)")
        if not math.isfinite(float(val)) or abs(val) >= FLOAT32_LIMIT:
            raise insert_error("sparse vector value out of float32 range")
        if i in out:
            raise insert_error(f"duplicated index {i} in sparse vector")
        out[i] = float(val)
    return out


def _array(f, v, row):
    if not isinstance(v, list):
        raise insert_error(f"invalid parameter[expected=Array of {f.element}]"
                           f"[actual={_go_string(v)}]")
    if f.max_capacity is not None and len(v) > f.max_capacity:
        raise invalid_param(f"the length ({len(v)}) of {row}th array exceeds "
                            f"max capacity ({f.max_capacity}) of field "
                            f"{f.name}")
    et = f.element
    out = []
    for x in v:
        if et == "Bool":
            if not isinstance(x, bool):
                raise insert_error(f"invalid parameter[expected=Array of "
                                   f"Bool][actual={_go_string(v)}]")
            out.append(x)
        elif et in INT_RANGES:
            if isinstance(x, bool) or not isinstance(x, int):
                raise insert_error(f"invalid parameter[expected=Array of "
                                   f"{et}][actual={_go_string(v)}]")
            lo, hi = INT_RANGES[et]
            if not lo <= x <= hi:
                raise invalid_param(f"array element {x} of field {f.name} is "
                                    f"out of range for {et}")
            out.append(x)
        elif et in ("Float", "Double"):
            if not _is_number(x):
                raise insert_error(f"invalid parameter[expected=Array of "
                                   f"{et}][actual={_go_string(v)}]")
            out.append(float(x))
        elif et == "VarChar":
            if not isinstance(x, str):
                raise insert_error(f"invalid parameter[expected=Array of "
                                   f"VarChar][actual={_go_string(v)}]")
            if f.max_length is not None and len(x) > f.max_length:
                raise invalid_param(f"length of Array element of field "
                                    f"{f.name} exceeds max length, row "
                                    f"number: {row}, length: {len(x)}, max "
                                    f"length: {f.max_length}")
            out.append(x)
        else:
            raise lite_limitation(f"Array of {et}")
    return out


def _json_value(f, v, row):
    """2.6: a string is JSON text; anything else is the JSON value itself.
    pymilvus takes JSON text; milvus-lite stores objects and arrays only."""
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except ValueError:
            raise invalid_param(f"invalid JSON value of field {f.name} in row "
                                f"{row}: {v[:100]}") from None
        text = v
    else:
        parsed = v
        text = json.dumps(v, separators=(",", ":"), allow_nan=False)
    if not isinstance(parsed, (dict, list)):
        raise lite_limitation(
            f"JSON field {f.name} (row {row}) holds a JSON scalar "
            f"({text[:50]}); Milvus accepts it but milvus-lite 3.2.2 stores "
            "only JSON objects and arrays")
    return text


def convert_rows(model, data, mode):
    """REST rows -> (pymilvus rows, primary keys as text or None).

    mode: "insert" or "upsert"."""
    if not isinstance(data, list):
        raise ApiError(1801, "can only accept json format request, error: "
                       "json: cannot unmarshal into Go struct field "
                       "CollectionDataReq.data")
    if len(data) == 0:
        raise insert_error("missing required parameters")
    pk = model.pk
    rows, keys = [], []
    for ri, src in enumerate(data):
        if not isinstance(src, dict):
            raise insert_error("invalid parameter[expected=JSON][actual="
                               f"{_go_string(src)[:100]}]: NULL:0, FALSE:1, "
                               "NUMBER:2, STRING:3, TRUE:4, JSON:5")
        out = {}
        for f in model.fields:
            present = f.name in src
            v = src.get(f.name)
            if f.primary and f.auto_id and mode == "insert":
                if present and v is not None:
                    raise insert_error(f"no need to pass pk field({f.name}) "
                                       "when autoid==true in insert: invalid "
                                       "parameter")
                continue
            if v is None:
                if f.nullable or f.default_kind is not None:
                    out[f.name] = None
                    continue
                if f.type in VECTOR_TYPES:
                    raise insert_error(f"missing vector field: {f.name}: "
                                       f"invalid parameter[expected="
                                       f"{f.type}][actual=]")
                if present:
                    raise insert_error(f"row {ri}: field {f.name} is null but"
                                       " the field is neither nullable nor "
                                       "has a default value")
                raise insert_error(f"row {ri} does not has field {f.name}")
            t = f.type
            if t in INT_RANGES:
                out[f.name] = _to_int(f.name, t, v, ri)
            elif t in ("Float", "Double"):
                out[f.name] = _to_float(f.name, t, v, ri)
            elif t == "Bool":
                out[f.name] = _to_bool(t, v)
            elif t == "VarChar":
                out[f.name] = _to_varchar(f.name, v, ri, f.max_length)
            elif t == "FloatVector":
                out[f.name] = _float_vector(f, v, ri)
            elif t == "SparseFloatVector":
                out[f.name] = _sparse_vector(f, v, ri)
            elif t == "Array":
                out[f.name] = _array(f, v, ri)
            elif t == "JSON":
                out[f.name] = _json_value(f, v, ri)
            else:
                raise lite_limitation(f"fields of type {t} ({f.name})")
        for k, v in src.items():
            if k in model.by_name:
                continue
            if not model.dynamic:
                raise insert_error("has pass more field without dynamic "
                                   "schema, please check it: invalid "
                                   "parameter")
            if k == "$meta":
                raise insert_error("use the invalid field name($meta) when "
                                   "enable dynamicField: invalid parameter")
            if v is None:
                continue
            out[k] = v
        rows.append(out)
        if pk is not None and pk.name in out and out[pk.name] is not None:
            keys.append(str(out[pk.name]))
    return rows, keys


# --------------------------------------------------------------------------
# output encoding (pymilvus rows -> REST JSON, as Milvus 2.6 prints them)


def encode_value(f, v, allow_int64, array_format):
    if v is None:
        return None
    t = f.type
    if t == "Int64":
        return int(v) if allow_int64 else str(int(v))
    if t == "Float":
        return f32_one(v)
    if t == "FloatVector":
        return f32_vector_json(v)
    if t in ("Float16Vector", "BFloat16Vector", "BinaryVector"):
        # Go's encoding/json prints []byte as standard base64.
        raw = v if isinstance(v, (bytes, bytearray)) else b"".join(
            x if isinstance(x, (bytes, bytearray)) else bytes(x) for x in v)
        return base64.b64encode(bytes(raw)).decode("ascii")
    if t == "Int8Vector":
        return [int(x) for x in (v if not isinstance(v, (bytes, bytearray))
                                 else struct.unpack(f"{len(v)}b", v))]
    if t == "SparseFloatVector":
        items = sorted((int(k), float(x)) for k, x in dict(v).items())
        vals = f32_shortest([x for _, x in items])
        return {str(k): x for (k, _), x in zip(items, vals)}
    if t == "JSON":
        # 2.6 returns string(JsonData): the JSON text as a string.
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if t == "Array":
        elems = list(v)
        if f.element == "Float":
            elems = f32_shortest(elems)
        if array_format == "plain":
            if f.element == "Int64" and not allow_int64:
                return [str(int(x)) for x in elems]
            return elems
        # Milvus <= 2.6 leaks the protobuf ScalarField (milvus#52048);
        # an empty array loses "data" (omitempty).
        inner = {"data": elems} if elems else {}
        return {"Data": {SCALAR_ONEOF.get(f.element, "StringData"): inner}}
    return v


def encode_rows(model, rows, allow_int64, array_format):
    out = []
    for r in rows:
        o = {}
        for k, v in r.items():
            f = model.by_name.get(k)
            if f is None:
                # dynamic key (already merged by pymilvus) or count(*)
                o[k] = v
            else:
                o[k] = encode_value(f, v, allow_int64, array_format)
        out.append(o)
    return out


# --------------------------------------------------------------------------
# the bridge


def _type_of(v):
    return {dict: "object", list: "array", str: "string", bool: "bool",
            type(None): "null"}.get(type(v), "number")


class Bridge:
    def __init__(self, args):
        self.args = args
        self.uri = args.milvus_uri
        os.makedirs(args.state_dir, exist_ok=True)
        self.meta = MetaStore(args.state_dir)
        self.pks = PkStore(os.path.join(args.state_dir, "pks.sqlite"))
        self.fault_lock = threading.Lock()
        self.fault_rng = random.Random(args.fail_seed)
        self.fault_stats = {"requests": 0, "injected": 0, "http429": 0, "http503": 0,
                            "code8": 0}
        self.latency_stats = {"waits": 0, "max_parallel": 0}
        self._latency_now = 0
        self._clients = {}
        self._clients_lock = threading.Lock()
        # milvus-lite wants writes to one collection serialised, and the
        # duplicate bookkeeping must see inserts in order: one write lock.
        self.write_lock = threading.RLock()

    def close(self):
        with self._clients_lock:
            for c in self._clients.values():
                try:
                    c.close()
                except Exception:  # closing is best effort at exit
                    pass
            self._clients.clear()
        self.pks.close()

    # ---- plumbing

    def client(self, db):
        with self._clients_lock:
            c = self._clients.get(db)
            if c is None:
                try:
                    c = MilvusClient(uri=self.uri, db_name=db, timeout=30)
                except MilvusException as e:
                    raise self.lite_error(e, db, "") from None
                except Exception as e:  # connection refused, timeout
                    raise ApiError(65535, "milvus-lite is not reachable at "
                                   f"{self.uri}: {e}") from None
                self._clients[db] = c
            return c

    @staticmethod
    def lite_error(e, db, name):
        code = getattr(e, "code", 65535)
        msg = getattr(e, "message", str(e))
        if code == 100:
            return coll_not_found(db, name)
        if code == 101:
            return ApiError(101, f"collection not loaded[collection={name}]")
        if code in (200, 700, 800):
            return ApiError(code, msg)
        if "database" in msg and ("not found" in msg or "not exist" in msg):
            return ApiError(800, f"database not found[database={db}]")
        return ApiError(65535, f"milvus-lite: {msg}")

    def call(self, db, name, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except MilvusException as e:
            raise self.lite_error(e, db, name) from None

    def model(self, db, name):
        c = self.client(db)
        try:
            desc = c.describe_collection(name)
        except MilvusException as e:
            raise self.lite_error(e, db, name) from None
        return Model(db, name, desc, self.meta.get(db, name))

    def loaded(self, db, name):
        """Load state as Milvus would report it.  milvus-lite keeps every
        collection without an index 'loaded' and ignores release for it,
        so the bridge's own flag (set by create/load/release) wins."""
        c = self.client(db)
        st = self.call(db, name, c.get_load_state, name)
        state = st.get("state")
        lite_state = getattr(state, "name", str(state))
        if lite_state == "NotExist":
            raise coll_not_found(db, name)
        meta = self.meta.get(db, name)
        if meta is None or "loaded" not in meta:
            return lite_state
        if meta["loaded"] and lite_state != "Loaded":
            # e.g. milvus-lite restarted: Milvus keeps collections loaded
            self.call(db, name, c.load_collection, name)
        return "Loaded" if meta["loaded"] else "NotLoad"

    def set_loaded(self, db, name, loaded):
        meta = self.meta.get(db, name) or {}
        meta["loaded"] = bool(loaded)
        self.meta.put(db, name, meta)

    # ---- request parsing helpers

    @staticmethod
    def req_str(body, key, struct_name, required=True):
        v = body.get(key)
        if v is None or v == "":
            if required:
                raise missing_required(struct_name, key[0].upper() + key[1:])
            return ""
        if not isinstance(v, str):
            raise ApiError(1801, "can only accept json format request, "
                           f"error: json: cannot unmarshal {_type_of(v)} into "
                           f"Go struct field {struct_name}.{key} of type "
                           "string")
        return v

    def db_of(self, body, headers):
        db = self.req_str(body, "dbName", "", required=False)
        return db or headers.get("DB-Name") or "default"

    # ---- collections

    def h_collections_list(self, body, hdr):
        db = self.db_of(body, hdr)
        names = self.call(db, "", self.client(db).list_collections)
        return {"code": 0, "data": list(names)}

    def h_collections_has(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        has = self.call(db, name, self.client(db).has_collection, name)
        return {"code": 0, "data": {"has": bool(has)}}

    def _collection_id(self, db, name):
        h = hashlib.sha256(f"{db}/{name}/{time.time_ns()}".encode()).digest()
        return int.from_bytes(h[:7], "big")

    def h_collections_describe(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        c = self.client(db)
        try:
            desc = c.describe_collection(name)
        except MilvusException as e:
            raise self.lite_error(e, db, name) from None
        model = Model(db, name, desc, self.meta.get(db, name))
        meta = model.meta
        fields = []
        for i, f in enumerate(model.fields):
            d = {"name": f.name, "id": 100 + i, "type": f.type,
                 "primaryKey": f.primary, "partitionKey": f.partition_key,
                 "clusteringKey": False, "autoId": f.auto_id,
                 "description": "", "nullable": f.nullable}
            if f.default_kind is not None:
                val = f.default
                if f.default_kind == "float_data":
                    val = f32_one(val)
                d["defaultValue"] = {"Data": {
                    VALUE_ONEOF.get(f.default_kind, f.default_kind): val}}
            if f.params:
                d["params"] = [{"key": k, "value": str(v)}
                               for k, v in f.params.items()]
            if f.type == "Array":
                d["elementType"] = f.element
            fields.append(d)
        load = "LoadState" + self.loaded(db, name)
        first_vec = next((f.name for f in model.fields
                          if f.type in VECTOR_TYPES), None)
        indexes = [{"indexName": ix["indexName"], "fieldName": ix["fieldName"],
                    "metricType": ix["metricType"]}
                   for ix in self._index_list(db, name, model)
                   if ix["fieldName"] == first_vec]
        part_key = any(f.partition_key for f in model.fields)
        if part_key:
            partitions_num = int(meta.get("partitionsNum") or 16)
        else:
            partitions_num = len(self.call(db, name, c.list_partitions, name))
        data = {
            "collectionName": name,
            "collectionID": meta.get("collectionID", 0),
            "description": meta.get("description", ""),
            "autoId": bool(model.pk and model.pk.auto_id),
            "fields": fields,
            "functions": [],
            "aliases": [],
            "indexes": indexes,
            "load": load,
            "shardsNum": int(meta.get("shardsNum", 1)),
            "partitionsNum": partitions_num,
            "consistencyLevel": meta.get("consistencyLevel",
                                         model.consistency),
            "enableDynamicField": model.dynamic,
            "properties": meta.get("properties", []),
        }
        return {"code": 0, "data": data, "message": ""}

    def _parse_field(self, fd, auto_id):
        if not isinstance(fd, dict):
            raise ApiError(1801, "can only accept json format request, error:"
                           " json: cannot unmarshal into Go struct field "
                           "CollectionSchema.schema.fields")
        name = fd.get("fieldName")
        dtype = fd.get("dataType")
        if not name:
            raise missing_required("FieldSchema", "FieldName")
        if not dtype:
            raise missing_required("FieldSchema", "DataType")
        if dtype not in PROTO_TYPES:
            raise ApiError(1100, f"invalid parameter, data type {dtype} is "
                           "invalid(case sensitive).")
        check_name("field", name)
        if dtype in LITE_UNSUPPORTED_VECTORS:
            raise lite_limitation(
                f"field '{name}' has dataType {dtype}; milvus-lite 3.2.2 "
                "does not support BinaryVector, Float16Vector, BFloat16Vector "
                "or Int8Vector fields. Real Milvus 2.6 accepts this schema; "
                "the bridge refuses rather than change the type")
        if dtype not in TO_PYMILVUS:
            raise lite_limitation(f"field '{name}' has dataType {dtype}, "
                                  "which the milvus-lite bridge does not map")
        spec = {"fieldName": name, "dataType": dtype,
                "isPrimary": bool(fd.get("isPrimary")),
                "isPartitionKey": bool(fd.get("isPartitionKey")),
                "nullable": bool(fd.get("nullable"))}
        kw = {"is_primary": spec["isPrimary"]}
        if spec["isPrimary"]:
            kw["auto_id"] = auto_id
        if spec["isPartitionKey"]:
            kw["is_partition_key"] = True
        if spec["nullable"]:
            kw["nullable"] = True
        if dtype == "Array":
            et = fd.get("elementDataType", "")
            if et not in PROTO_TYPES:
                raise ApiError(1100, f"invalid parameter, element data type "
                               f"{et} is invalid(case sensitive).")
            if et not in ARRAY_ELEMENT_TYPES:
                raise invalid_param(f"element type {et} is not supported")
            spec["elementDataType"] = et
            kw["element_type"] = TO_PYMILVUS[et]
        params = fd.get("elementTypeParams") or {}
        if not isinstance(params, dict):
            raise ApiError(1801, "can only accept json format request, error:"
                           " json: cannot unmarshal into Go struct field "
                           "FieldSchema.elementTypeParams")
        norm = {}
        for k, v in params.items():
            # getElementTypeParams: strings as they are, others JSON text.
            sv = v if isinstance(v, str) else json.dumps(v)
            if k in ("dim", "max_length", "max_capacity"):
                try:
                    iv = int(sv)
                except ValueError:
                    raise invalid_param(f"type param {k} of field {name} "
                                        f"should be an integer, got "
                                        f"{sv}") from None
                if iv <= 0:
                    raise invalid_param(f"type param {k} of field {name} "
                                        "should be positive")
                norm[k] = iv
                kw[k] = iv
            else:
                norm[k] = sv
        spec["elementTypeParams"] = norm
        if dtype == "FloatVector" and "dim" not in norm:
            raise invalid_param(f"dimension is not defined in field type "
                                f"params of field {name}")
        if dtype == "FloatVector" and norm["dim"] > 32768:
            raise invalid_param(f"invalid dimension: {norm['dim']} of field "
                                f"{name}. float vector dimension should be in "
                                "range 2 ~ 32768")
        if (dtype == "VarChar" or spec.get("elementDataType") == "VarChar") \
                and "max_length" not in norm:
            raise invalid_param(f"type param(max_length) should be specified "
                                f"for the field({name})")
        if dtype == "VarChar" and norm["max_length"] > 65535:
            raise invalid_param(f"the maximum length specified for the field"
                                f"({name}) should be in (0, 65535]")
        if dtype == "Array" and "max_capacity" not in norm:
            raise invalid_param(f"type param(max_capacity) should be "
                                f"specified for array field {name}")
        dv = fd.get("defaultValue")
        if dv is not None:
            ok = {"Bool": isinstance(dv, bool),
                  "VarChar": isinstance(dv, str)}.get(
                dtype, _is_number(dv))
            if dtype not in ("Bool", "VarChar", "Int8", "Int16", "Int32",
                             "Int64", "Float", "Double"):
                raise invalid_param(f"Unexpected default value type: {dtype}")
            if not ok:
                raise ApiError(1100, "convert defaultValue fail, err:invalid "
                               f"parameter[expected={dtype}][actual={dv}]")
            if dtype in INT_RANGES:
                dv = int(dv)
            elif dtype in ("Float", "Double"):
                dv = float(dv)
            spec["defaultValue"] = dv
            kw["default_value"] = dv
        return spec, kw

    def _parse_index_params(self, items, field_names=None):
        out = []
        if not isinstance(items, list):
            raise ApiError(1801, "can only accept json format request, error:"
                           " json: cannot unmarshal into Go struct field "
                           "IndexParamReq.indexParams")
        for ip in items:
            if not isinstance(ip, dict) or not ip.get("fieldName"):
                raise missing_required("IndexParam", "FieldName")
            fname = ip["fieldName"]
            if field_names is not None and fname not in field_names:
                raise ApiError(1802, "missing required parameters, error: `"
                               f"{fname}` hasn't defined in schema")
            params = dict(ip.get("params") or {})
            itype = ip.get("indexType") or params.pop("index_type", "") or \
                "AUTOINDEX"
            params.pop("index_type", None)
            params.pop("metric_type", None)
            iname = ip.get("indexName") or fname
            check_name("index", iname)
            out.append({"fieldName": fname, "indexName": iname,
                        "indexType": str(itype),
                        "metricType": ip.get("metricType") or "",
                        "params": params})
        return out

    def _create_indexes(self, db, name, specs):
        c = self.client(db)
        meta = self.meta.get(db, name) or {}
        known = meta.setdefault("indexes", {})
        for s in specs:
            for other, ix in known.items():
                if ix["fieldName"] == s["fieldName"] and other != \
                        s["indexName"]:
                    raise ApiError(65535, "at most one distinct index is "
                                   "allowed per field")
            ip = c.prepare_index_params()
            kwargs = {}
            if s["metricType"]:
                kwargs["metric_type"] = s["metricType"]
            if s["params"]:
                kwargs["params"] = s["params"]
            ip.add_index(s["fieldName"], index_type=s["indexType"],
                         index_name=s["indexName"], **kwargs)
            self.call(db, name, c.create_index, name, ip)
            real = self.call(db, name, c.describe_index, name,
                             s["fieldName"])
            known[s["indexName"]] = {
                "fieldName": s["fieldName"],
                "indexType": real.get("index_type", s["indexType"]),
                "metricType": real.get("metric_type", s["metricType"]),
                "params": s["params"]}
        self.meta.put(db, name, meta)

    def _index_list(self, db, name, model):
        """[{indexName, fieldName, indexType, metricType, liteName}]."""
        c = self.client(db)
        lite_names = self.call(db, name, c.list_indexes, name)
        lite = {}
        for ln in lite_names:
            d = self.call(db, name, c.describe_index, name, ln)
            lite[d.get("field_name", ln)] = dict(d, lite_name=ln)
        known = (model.meta or {}).get("indexes", {})
        out = []
        for iname, ix in known.items():
            d = lite.pop(ix["fieldName"], None)
            if d is None:
                continue
            out.append({"indexName": iname, "fieldName": ix["fieldName"],
                        "indexType": d.get("index_type", ""),
                        "metricType": d.get("metric_type", ""),
                        "liteName": d["lite_name"], "raw": d})
        for fname, d in lite.items():
            out.append({"indexName": d.get("index_name", fname),
                        "fieldName": fname,
                        "indexType": d.get("index_type", ""),
                        "metricType": d.get("metric_type", ""),
                        "liteName": d["lite_name"], "raw": d})
        return out

    def _load(self, db, name, model):
        indexed = {ix["fieldName"] for ix in self._index_list(db, name, model)}
        for f in model.fields:
            if f.type in VECTOR_TYPES and f.name not in indexed:
                raise ApiError(700, f"there is no vector index on field: "
                               f"[{f.name}], please create index firstly: "
                               f"collection={name}: index not found")
        self.call(db, name, self.client(db).load_collection, name)
        self.set_loaded(db, name, True)

    def h_collections_create(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionReq")
        check_name("collection", name)
        schema = body.get("schema") or {}
        params = body.get("params") or {}
        if not isinstance(schema, dict) or not isinstance(params, dict):
            raise ApiError(1801, "can only accept json format request, error:"
                           " json: cannot unmarshal into Go struct field "
                           "CollectionReq.schema/params")
        fields_in = schema.get("fields") or []
        index_in = body.get("indexParams") or []
        quick = len(fields_in) == 0

        # options (params only; top-level shardsNum is ignored like Milvus)
        shards = 1
        if "shardsNum" in params:
            try:
                shards = int(str(params["shardsNum"]))
            except ValueError:
                shards = 1
        level = "Bounded"
        top_level = body.get("consistencyLevel") or ""
        p_level = params.get("consistencyLevel")
        if top_level and p_level is not None and top_level != str(p_level):
            raise ApiError(1100, "top-level consistencyLevel conflicts with "
                           "params.consistencyLevel: invalid parameter")
        want = top_level or (str(p_level) if p_level is not None else "")
        if want:
            if want not in CONSISTENCY_LEVELS:
                raise ApiError(1100, "consistencyLevel can only be [Strong, "
                               "Session, Bounded, Eventually, Customized], "
                               f"default: Bounded: invalid parameter[expected="
                               f"Strong, Session, Bounded, Eventually, "
                               f"Customized][actual={want}]")
            level = want
        properties = []
        if "ttlSeconds" in params:
            properties.append({"key": "collection.ttl.seconds",
                               "value": str(params["ttlSeconds"])})
        if "partitionKeyIsolation" in params:
            properties.append({"key": "partitionkey.isolation",
                               "value": str(params["partitionKeyIsolation"]
                                            ).lower()})

        if quick:
            dim = body.get("dimension") or 0
            if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
                raise ApiError(1100, "invalid parameter[expected=collectionName"
                               " & dimension][actual=collectionName]: "
                               "dimension is required for quickly create "
                               "collection(default metric type: COSINE)")
            id_type = body.get("idType") or "Int64"
            if id_type in ("VarChar", "Varchar"):
                id_type = "VarChar"
            elif id_type in ("Int64", "int64"):
                id_type = "Int64"
            else:
                raise ApiError(1100, "invalid parameter[expected=Int64, "
                               f"Varchar][actual={id_type}]: idType can only "
                               "be [Int64, VarChar], default: Int64")
            pk_name = body.get("primaryFieldName") or "id"
            vec_name = body.get("vectorFieldName") or "vector"
            dynamic = True
            if "enableDynamicField" in params:
                dynamic = str(params["enableDynamicField"]).lower() in (
                    "true", "1", "t")
            pk_fd = {"fieldName": pk_name, "dataType": id_type,
                     "isPrimary": True}
            if id_type == "VarChar":
                pk_fd["elementTypeParams"] = {
                    "max_length": params.get("max_length", 65535)}
            fields_in = [pk_fd, {"fieldName": vec_name,
                                 "dataType": "FloatVector",
                                 "elementTypeParams": {"dim": dim}}]
            auto_id = bool(body.get("autoID"))
            index_in = [{"fieldName": vec_name, "indexName": vec_name,
                         "metricType": body.get("metricType") or "COSINE"}]
        else:
            auto_id = bool(schema.get("autoID"))
            dynamic = bool(schema.get("enableDynamicField"))

        specs, kws = [], []
        names = set()
        for fd in fields_in:
            spec, kw = self._parse_field(fd, auto_id)
            if spec["fieldName"] in names:
                raise invalid_param(f"duplicated field name "
                                    f"{spec['fieldName']} found")
            names.add(spec["fieldName"])
            specs.append(spec)
            kws.append(kw)
        if sum(1 for s in specs if s["isPrimary"]) != 1:
            raise invalid_param("primary key is not specified" if not any(
                s["isPrimary"] for s in specs) else
                "there are more than one primary key")
        pk_spec = next(s for s in specs if s["isPrimary"])
        if pk_spec["dataType"] not in ("Int64", "VarChar"):
            raise invalid_param("the data type of primary key should be Int64"
                                " or VarChar")
        if not any(s["dataType"] in VECTOR_TYPES for s in specs):
            raise invalid_param("schema does not contain vector field")
        part_key = any(s["isPartitionKey"] for s in specs)
        partitions_num = None
        if part_key:
            partitions_num = 16
            if "partitionsNum" in params:
                try:
                    partitions_num = int(str(params["partitionsNum"]))
                except ValueError:
                    pass
        index_specs = self._parse_index_params(index_in, names)

        wanted = {"autoID": auto_id, "enableDynamicField": dynamic,
                  "fields": specs, "shardsNum": shards,
                  "consistencyLevel": level, "partitionsNum": partitions_num,
                  "properties": properties}
        c = self.client(db)
        with self.write_lock:
            if self.call(db, name, c.has_collection, name):
                old = self.meta.get(db, name)
                if old is None or old.get("spec") != wanted:
                    raise ApiError(65535, "create duplicate collection with "
                                   "different parameters, collection: "
                                   f"{name}")
                # identical: Milvus is idempotent, then indexes + load again
            else:
                sch = MilvusClient.create_schema(auto_id=auto_id,
                                                 enable_dynamic_field=dynamic)
                for spec, kw in zip(specs, kws):
                    sch.add_field(spec["fieldName"],
                                  TO_PYMILVUS[spec["dataType"]], **kw)
                ckw = {"consistency_level": level}
                if partitions_num:
                    ckw["num_partitions"] = partitions_num
                self.call(db, name, c.create_collection, name, schema=sch,
                          **ckw)
                # milvus-lite loads at creation; Milvus does not.
                self.call(db, name, c.release_collection, name)
                self.pks.clear(f"{db}/{name}")
                self.meta.put(db, name, {
                    "spec": wanted, "shardsNum": shards,
                    "consistencyLevel": level,
                    "partitionsNum": partitions_num,
                    "collectionID": self._collection_id(db, name),
                    "description": body.get("description") or "",
                    "properties": properties, "indexes": {},
                    "loaded": False})
            if index_specs:
                self._create_indexes(db, name, index_specs)
                self._load(db, name, self.model(db, name))
        return {"code": 0, "data": {}}

    def h_collections_drop(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        c = self.client(db)
        with self.write_lock:
            if self.call(db, name, c.has_collection, name):
                self.call(db, name, c.drop_collection, name)
            # dropping a missing collection succeeds in Milvus 2.6
            self.meta.remove(db, name)
            self.pks.clear(f"{db}/{name}")
        return {"code": 0, "data": {}}

    def h_collections_get_stats(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        st = self.call(db, name, self.client(db).get_collection_stats, name)
        n = int(st.get("row_count", 0)) + self.pks.total_dups(f"{db}/{name}")
        return {"code": 0, "data": {"rowCount": n}}

    def h_collections_load(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        with self.write_lock:
            self._load(db, name, self.model(db, name))
        return {"code": 0, "data": {}}

    def h_collections_release(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        with self.write_lock:
            self.model(db, name)
            self.call(db, name, self.client(db).release_collection, name)
            self.set_loaded(db, name, False)
        return {"code": 0, "data": {}}

    def h_collections_get_load_state(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        if not self.call(db, name, self.client(db).has_collection, name):
            raise coll_not_found(db, name)
        state = self.loaded(db, name)
        if state == "NotLoad":
            return {"code": 0, "data": {"loadState": "LoadStateNotLoad"}}
        if state == "Loaded":
            return {"code": 0, "data": {"loadState": "LoadStateLoaded",
                                        "loadProgress": 100},
                    "message": ""}
        return {"code": 0, "data": {"loadState": "LoadState" + state,
                                    "loadProgress": 0}, "message": ""}

    # ---- indexes

    def h_indexes_create(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "IndexParamReq")
        if body.get("indexParams") is None:
            raise missing_required("IndexParamReq", "IndexParams")
        with self.write_lock:
            model = self.model(db, name)
            specs = self._parse_index_params(body["indexParams"])
            for s in specs:
                if s["fieldName"] not in model.by_name:
                    raise ApiError(1700, f"field not found[field="
                                   f"{s['fieldName']}]")
            self._create_indexes(db, name, specs)
        return {"code": 0, "data": {}}

    def h_indexes_list(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        model = self.model(db, name)
        return {"code": 0, "data": [ix["indexName"] for ix in
                                    self._index_list(db, name, model)]}

    def h_indexes_describe(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "IndexReq")
        iname = self.req_str(body, "indexName", "IndexReq")
        model = self.model(db, name)
        for ix in self._index_list(db, name, model):
            if ix["indexName"] == iname:
                raw = ix["raw"]
                return {"code": 0, "data": [{
                    "indexName": iname, "fieldName": ix["fieldName"],
                    "indexType": ix["indexType"],
                    "metricType": ix["metricType"],
                    "totalRows": raw.get("total_rows", 0),
                    "pendingRows": raw.get("pending_index_rows", 0),
                    "indexedRows": raw.get("indexed_rows", 0),
                    "indexState": raw.get("state", "Finished"),
                    "failReason": ""}]}
        raise ApiError(700, f"index not found[indexName={iname}]")

    def h_indexes_drop(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "IndexReq")
        iname = self.req_str(body, "indexName", "IndexReq")
        with self.write_lock:
            model = self.model(db, name)
            match = [ix for ix in self._index_list(db, name, model)
                     if ix["indexName"] == iname]
            if not match:
                raise ApiError(700, f"index not found[indexName={iname}]")
            if self.loaded(db, name) != "NotLoad":
                raise ApiError(65535, "index cannot be dropped, collection is"
                               " loaded, please release it first")
            c = self.client(db)
            others = [ix for ix in self._index_list(db, name, model)
                      if ix["indexName"] != iname]
            # released as far as Milvus goes; lite may call a collection with
            # an unindexed vector field loaded and refuse the drop
            self.call(db, name, c.release_collection, name)
            self.call(db, name, c.drop_index, name, match[0]["liteName"])
            meta = self.meta.get(db, name)
            if meta and iname in meta.get("indexes", {}):
                del meta["indexes"][iname]
                self.meta.put(db, name, meta)
            # milvus-lite drops every index here; Milvus keeps the others
            left = set(self.call(db, name, c.list_indexes, name))
            known = (meta or {}).get("indexes", {})
            for ix in others:
                if ix["liteName"] in left:
                    continue
                raw = ix["raw"]
                params = known.get(ix["indexName"], {}).get("params")
                if params is None:
                    params = {k: v for k, v in raw.items() if k not in (
                        "field_name", "index_name", "index_type", "metric_type",
                        "total_rows", "indexed_rows", "pending_index_rows",
                        "state")}
                ip = c.prepare_index_params()
                kw = {"metric_type": ix["metricType"]} if ix["metricType"] else {}
                if params:
                    kw["params"] = params
                ip.add_index(ix["fieldName"], index_type=ix["indexType"],
                             index_name=ix["liteName"], **kw)
                self.call(db, name, c.create_index, name, ip)
        return {"code": 0, "data": {}}

    # ---- partitions

    def h_partitions_list(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionNameReq")
        return {"code": 0, "data": list(self.call(
            db, name, self.client(db).list_partitions, name))}

    def h_partitions_has(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "PartitionReq")
        part = self.req_str(body, "partitionName", "PartitionReq")
        has = self.call(db, name, self.client(db).has_partition, name, part)
        return {"code": 0, "data": {"has": bool(has)}}

    def h_partitions_create(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "PartitionReq")
        part = self.req_str(body, "partitionName", "PartitionReq")
        check_name("partition", part)
        with self.write_lock:
            model = self.model(db, name)
            if any(f.partition_key for f in model.fields):
                raise ApiError(1100, "disable create partition if partition "
                               "key mode is used: invalid parameter")
            self.call(db, name, self.client(db).create_partition, name, part)
        return {"code": 0, "data": {}}

    def h_partitions_drop(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "PartitionReq")
        part = self.req_str(body, "partitionName", "PartitionReq")
        if part == "_default":
            raise ApiError(1100, "default partition cannot be deleted: "
                           "invalid parameter")
        with self.write_lock:
            model = self.model(db, name)
            c = self.client(db)
            self.call(db, name, c.drop_partition, name, part)
            if model.pk is not None and not model.pk.auto_id:
                self.pks.retain(model.key, self._all_pks(model))
        return {"code": 0, "data": {}}

    def _all_pks(self, model):
        c = self.client(model.db)
        pk = model.pk.name
        expr = (f'{pk} != ""' if model.pk.type == "VarChar"
                else f"{pk} >= {INT_RANGES['Int64'][0]}")
        st = self.call(model.db, model.name, c.get_load_state, model.name)
        was = getattr(st.get("state"), "name", "")
        if was != "Loaded":
            self.call(model.db, model.name, c.load_collection, model.name)
        try:
            rows = self.call(model.db, model.name, c.query, model.name,
                             filter=expr, output_fields=[pk])
        finally:
            if was != "Loaded":
                self.call(model.db, model.name, c.release_collection,
                          model.name)
        return [str(r[pk]) for r in rows]

    # ---- entities

    def _allow_int64(self, hdr):
        v = (hdr.get("Accept-Type-Allow-Int64") or "").strip().lower()
        if v in ("1", "t", "true"):
            return True
        if v in ("0", "f", "false"):
            return False
        return self.args.int64_default

    def _write(self, body, hdr, mode):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionDataReq")
        if "data" not in body or body["data"] is None:
            raise missing_required("CollectionDataReq", "Data")
        part = self.req_str(body, "partitionName", "CollectionDataReq",
                            required=False)
        if self.args.write_latency_ms > 0:
            # a remote round trip: each request thread waits on its own,
            # never under write_lock (that would serialise the writers)
            with self.fault_lock:
                self.latency_stats["waits"] += 1
                self._latency_now += 1
                self.latency_stats["max_parallel"] = max(
                    self.latency_stats["max_parallel"], self._latency_now)
            try:
                time.sleep(self.args.write_latency_ms / 1000.0)
            finally:
                with self.fault_lock:
                    self._latency_now -= 1
        c = self.client(db)
        with self.write_lock:
            model = self.model(db, name)
            rows, keys = convert_rows(model, body["data"], mode)
            if part and any(f.partition_key for f in model.fields):
                raise ApiError(1100, "not support manually specifying the "
                               "partition names if partition key mode is "
                               "used: invalid parameter")
            kw = {"partition_name": part} if part else {}
            tracked = model.pk is not None and not model.pk.auto_id
            if mode == "insert":
                res = self.call(db, name, c.insert, name, rows, **kw)
                ids = list(res.get("ids", []))
                if tracked:
                    self.pks.record_insert(model.key, keys)
                count = int(res.get("insert_count", len(ids)))
            else:
                if model.pk is None or any(
                        r.get(model.pk.name) is None for r in rows):
                    raise insert_error(f"upsert needs the primary key field "
                                       f"{model.pk.name if model.pk else ''}"
                                       " in every row")
                # Milvus upsert replaces the whole entity (delete + insert);
                # milvus-lite's Upsert would merge onto the old row.
                pkvals = list(dict.fromkeys(r[model.pk.name] for r in rows))
                self.call(db, name, c.delete, name, ids=pkvals, **kw)
                res = self.call(db, name, c.insert, name, rows, **kw)
                ids = list(res.get("ids", []))
                if tracked:
                    self.pks.record_single(model.key, keys)
                count = len(ids)
        if model.pk is not None and model.pk.type == "Int64":
            ids = [int(i) for i in ids]
            if not self._allow_int64(hdr):
                ids = [str(i) for i in ids]
        key = "insert" if mode == "insert" else "upsert"
        return {"code": 0, "cost": 0,
                "data": {f"{key}Count": count, f"{key}Ids": ids}}

    def h_entities_insert(self, body, hdr):
        return self._write(body, hdr, "insert")

    def h_entities_upsert(self, body, hdr):
        return self._write(body, hdr, "upsert")

    def h_entities_delete(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionFilterReq")
        flt = self.req_str(body, "filter", "CollectionFilterReq")
        part = self.req_str(body, "partitionName", "CollectionFilterReq",
                            required=False)
        c = self.client(db)
        with self.write_lock:
            model = self.model(db, name)
            kw = {"partition_name": part} if part else {}
            res = self.call(db, name, c.delete, name, filter=flt, **kw)
            deleted = res if isinstance(res, list) else list(
                (res or {}).get("primary_keys", []))
            if model.pk is not None and not model.pk.auto_id:
                self.pks.delete(model.key, [str(k) for k in deleted])
        return {"code": 0, "cost": 0, "data": {}}

    @staticmethod
    def _consistency(body):
        lvl = body.get("consistencyLevel") or ""
        if not isinstance(lvl, str):
            raise ApiError(1801, "can only accept json format request, error:"
                           " json: cannot unmarshal into Go struct field "
                           "QueryReqV2.consistencyLevel of type string")
        if lvl and lvl not in CONSISTENCY_LEVELS:
            raise ApiError(1100, "consistencyLevel can only be [Strong, "
                           "Session, Bounded, Eventually, Customized], "
                           f"default: Bounded, err:parameter:'{lvl}' is "
                           "incorrect, please check it: invalid parameter")
        return lvl

    @staticmethod
    def _int_param(body, key, default, struct_name):
        v = body.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ApiError(1801, "can only accept json format request, "
                           f"error: json: cannot unmarshal {_type_of(v)} into"
                           f" Go struct field {struct_name}.{key} of type "
                           "int32")
        return v

    def _run_query(self, model, hdr, flt, output_fields, limit, offset,
                   partitions, level):
        db, name = model.db, model.name
        c = self.client(db)
        if self.loaded(db, name) != "Loaded":
            raise ApiError(101, f"collection not loaded[collection={name}]")
        kw = {}
        if partitions:
            kw["partition_names"] = partitions
        if level:
            kw["consistency_level"] = level
        is_count = (len(output_fields) == 1 and
                    output_fields[0].strip().lower() == "count(*)")
        if is_count:
            if not flt.strip() and partitions:
                # milvus-lite's unfiltered count(*) ignores partition_names
                flt = (f'{model.pk.name} != ""' if model.pk.type == "VarChar"
                       else f"{model.pk.name} >= {INT_RANGES['Int64'][0]}")
            if flt.strip():
                pk = model.pk.name
                rows = self.call(db, name, c.query, name, filter=flt,
                                 output_fields=[pk], **kw)
                n = len(rows)
                if not model.pk.auto_id:
                    n += self.pks.dups_for(model.key,
                                           [str(r[pk]) for r in rows])
            else:
                rows = self.call(db, name, c.query, name, filter="",
                                 output_fields=["count(*)"], **kw)
                n = int(rows[0]["count(*)"]) if rows else 0
                if model.pk is not None and not model.pk.auto_id:
                    n += self.pks.total_dups(model.key)
            return [{"count(*)": n}]
        if offset + limit > MAX_QUERY_WINDOW or limit <= 0 or offset < 0:
            raise ApiError(65535, "invalid max query result window, "
                           "(offset+limit) should be in range [1, "
                           f"{MAX_QUERY_WINDOW}], but got {offset + limit}")
        pk_in = model.pk is not None and re.match(
            r"^\s*%s\s+in\s*\[" % re.escape(model.pk.name), flt)
        if pk_in:
            # milvus-lite ignores limit/offset on this path; Milvus does not.
            rows = self.call(db, name, c.query, name, filter=flt,
                             output_fields=output_fields, **kw)
            rows = rows[offset:offset + limit]
        else:
            rows = self.call(db, name, c.query, name, filter=flt,
                             output_fields=output_fields, limit=limit,
                             offset=offset, **kw)
        return encode_rows(model, rows, self._allow_int64(hdr),
                           self.args.array_format)

    def _output_fields(self, body, struct_name):
        of = body.get("outputFields")
        if of is None or of == []:
            return ["*"]
        if not isinstance(of, list) or not all(isinstance(x, str) for x in of):
            raise ApiError(1801, "can only accept json format request, error:"
                           f" json: cannot unmarshal into Go struct field "
                           f"{struct_name}.outputFields of type []string")
        return of

    def _partition_names(self, body, struct_name):
        pn = body.get("partitionNames") or []
        if not isinstance(pn, list) or not all(isinstance(x, str) for x in pn):
            raise ApiError(1801, "can only accept json format request, error:"
                           f" json: cannot unmarshal into Go struct field "
                           f"{struct_name}.partitionNames of type []string")
        return pn

    def h_entities_query(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "QueryReqV2")
        flt = self.req_str(body, "filter", "QueryReqV2", required=False)
        limit = self._int_param(body, "limit", 100, "QueryReqV2")
        offset = self._int_param(body, "offset", 0, "QueryReqV2")
        of = self._output_fields(body, "QueryReqV2")
        level = self._consistency(body)
        parts = self._partition_names(body, "QueryReqV2")
        model = self.model(db, name)
        rows = self._run_query(model, hdr, flt, of, limit, offset, parts,
                               level)
        return {"code": 0, "cost": 0, "data": rows}

    def h_entities_get(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "CollectionIDReq")
        if body.get("id") is None:
            raise missing_required("CollectionIDReq", "ID")
        of = self._output_fields(body, "CollectionIDReq")
        level = self._consistency(body)
        parts = self._partition_names(body, "CollectionIDReq")
        model = self.model(db, name)
        ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
        pk = model.pk
        try:
            if pk.type == "Int64":
                lits = [str(int(str(i), 10)) for i in ids]
            else:
                lits = [json.dumps(str(i)) for i in ids]
        except ValueError:
            raise ApiError(1806, "please check the primary key and its' type "
                           "can only in [int, string], error: invalid id "
                           "value") from None
        flt = f"{pk.name} in [{','.join(lits)}]"
        rows = self._run_query(model, hdr, flt, of, MAX_QUERY_WINDOW, 0,
                               parts, level)
        return {"code": 0, "cost": 0, "data": rows}

    # ---- fault injection (--fail-rate): for the reliability tests

    def fault(self, path, handler):
        """With probability --fail-rate, answer a /v2 request with a fault
        before it has any effect: HTTP 429 with Retry-After, HTTP 503, or
        HTTP 200 with Milvus's rate-limit code 8, in turn. True if one was
        sent."""
        rate = self.args.fail_rate
        if rate <= 0 or not path.startswith("/v2/"):
            return False
        with self.fault_lock:
            self.fault_stats["requests"] += 1
            if self.fault_rng.random() >= rate:
                return False
            kind = ("http429", "http503", "code8")[self.fault_stats["injected"] % 3]
            self.fault_stats["injected"] += 1
            self.fault_stats[kind] += 1
        if kind == "http429":
            handler._fault_status = 429
            data = b'{"code":1807,"message":"request is rejected by limiter (injected fault)"}'
            handler.send_response(429)
            handler.send_header("Retry-After", "1")
        elif kind == "http503":
            handler._fault_status = 503
            data = b"service unavailable (injected fault)"
            handler.send_response(503)
        else:
            handler._fault_status = 200
            data = b'{"code":8,"message":"rate limit exceeded[rate=0.1] (injected fault)"}'
            handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("X-Test-Fixture", BANNER)
        handler.end_headers()
        handler.wfile.write(data)
        return True

    def h_bridge_faults(self, body, hdr):
        with self.fault_lock:
            return {"code": 0, "data": dict(self.fault_stats)}

    def h_bridge_latency(self, body, hdr):
        with self.fault_lock:
            return {"code": 0, "data": dict(self.latency_stats)}

    # ---- bridge-only endpoints (test introspection)

    def h_bridge_duplicates(self, body, hdr):
        db = self.db_of(body, hdr)
        name = self.req_str(body, "collectionName", "DuplicatesReq")
        model = self.model(db, name)
        sample = self.pks.sample(model.key)
        if model.pk is not None and model.pk.type == "Int64":
            sample = [int(s) for s in sample]
        return {"code": 0, "data": {
            "duplicates": self.pks.total_dups(model.key), "sample": sample}}

    def h_bridge_health(self, body, hdr):
        self.client("default").list_collections()
        return {"code": 0, "data": {"bridge": BANNER,
                                    "milvusLite": self.uri}}


ROUTES = {}
for _attr in dir(Bridge):
    if _attr.startswith("h_bridge_"):
        ROUTES["/_bridge/" + _attr[len("h_bridge_"):]] = _attr
    elif _attr.startswith("h_"):
        _cat, _act = _attr[2:].split("_", 1)
        ROUTES[f"/v2/vectordb/{_cat}/{_act}"] = _attr


# --------------------------------------------------------------------------
# HTTP


def _reject_constant(name):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning "
                     "of value")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rest-v2-bridge-over-milvus-lite/1 (" + BANNER + ")"
    sys_version = ""
    bridge = None  # set in main(); one Bridge per process

    def log_message(self, fmt, *args):  # silence the default access log
        pass

    def _log(self, status, code, started, nbytes):
        ms = (time.monotonic() - started) * 1000.0
        sys.stderr.write(f"{LOG_PREFIX} {self.client_address[0]} "
                         f"{self.command} {self.path} http={status} "
                         f"code={code} in={nbytes}B {ms:.1f}ms\n")
        sys.stderr.flush()

    def _send(self, status, payload, content_type="application/json; "
              "charset=utf-8", close=False):
        if isinstance(payload, (bytes, bytearray)):
            data = bytes(payload)
        else:
            data = dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Test-Fixture", BANNER)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _not_found(self):
        started = time.monotonic()
        self._drain_any()
        self._send(404, b"404 page not found", "text/plain")
        self._log(404, "-", started, 0)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = \
        lambda self: self._not_found()

    def do_OPTIONS(self):  # Milvus' CORS middleware answers 204
        started = time.monotonic()
        self._drain_any()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.send_header("X-Test-Fixture", BANNER)
        self.end_headers()
        self._log(204, "-", started, 0)

    def _drain_any(self):
        n = self.headers.get("Content-Length")
        if n and n.isdigit():
            left = int(n)
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)

    def _read_body(self, limit):
        """Returns (bytes or None if over the limit, bytes seen)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total, over = [], 0, False
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    break
                left = size
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    left -= len(chunk)
                    total += len(chunk)
                    if total > limit:
                        over = True
                    elif not over:
                        parts.append(chunk)
                self.rfile.readline(3)
            return (None if over else b"".join(parts)), total
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            left = length
            if length > 4 * limit + (1 << 30):
                self.close_connection = True
                return None, length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            return None, length
        data = self.rfile.read(length) if length else b""
        return data, length

    def do_POST(self):
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        method = ROUTES.get(path)
        if method is None:
            self._drain_any()
            self._send(404, b"404 page not found", "text/plain")
            self._log(404, "-", started, 0)
            return
        bridge = self.bridge
        nbytes = 0
        try:
            if bridge.args.token is not None:
                auth = self.headers.get("Authorization") or ""
                if auth != "Bearer " + bridge.args.token:
                    self._drain_any()
                    raise ApiError(1800, "user hasn't authenticated", 401)
            raw, nbytes = self._read_body(bridge.args.max_body_bytes)
            if raw is None:
                raise ApiError(1102, "parameter too large[message=insert "
                               "request size exceeds maxInsertSize]: request "
                               f"body of {nbytes} bytes exceeds the bridge "
                               f"limit of {bridge.args.max_body_bytes} bytes "
                               "(--max-body-bytes)")
            if bridge.fault(path, self):
                self._log(self._fault_status, "fault", started, nbytes)
                return
            if not raw.strip():
                raise ApiError(1801, "can only accept json format request, "
                               "the request body should be nil, however {} "
                               "is valid")
            try:
                body = json.loads(raw.decode("utf-8"),
                                  parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError) as e:
                raise ApiError(1801, "can only accept json format request, "
                               f"error: {e}") from None
            if not isinstance(body, dict):
                raise ApiError(1801, "can only accept json format request, "
                               f"error: json: cannot unmarshal "
                               f"{_type_of(body)} into Go value of type "
                               "request object")
            headers = {k: v for k, v in self.headers.items()}
            reply = getattr(bridge, method)(body, headers)
            self._send(200, reply)
            self._log(200, reply.get("code"), started, nbytes)
        except ApiError as e:
            self._send(e.http_status, {"code": e.code, "message": e.message})
            self._log(e.http_status, e.code, started, nbytes)
        except Exception as e:  # a bridge bug: still answer in the envelope
            msg = f"bridge internal error: {type(e).__name__}: {e}"
            self._send(200, {"code": 65535, "message": msg})
            self._log(200, 65535, started, nbytes)
            import traceback
            traceback.print_exc(file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=BANNER)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--milvus-uri", required=True,
                    help="milvus-lite gRPC address, http://127.0.0.1:PORT")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--token", default=None,
                    help="require Authorization: Bearer TOKEN")
    ap.add_argument("--max-body-bytes", type=int, default=64 << 20)
    ap.add_argument("--array-format", choices=["milvus-2.6", "plain"],
                    default="milvus-2.6")
    ap.add_argument("--int64-as-string", dest="int64_default",
                    action="store_false",
                    help="without an Accept-Type-Allow-Int64 header, print "
                    "Int64 as strings (proxy.http.acceptTypeAllowInt64=false)")
    ap.add_argument("--fail-rate", type=float, default=0.0,
                    help="answer this share of /v2 requests with an injected "
                    "fault (429 / 503 / code 8) before they take effect")
    ap.add_argument("--fail-seed", type=int, default=1)
    ap.add_argument("--write-latency-ms", type=float, default=0.0,
                    help="wait this long before carrying out each "
                    "entities/insert|upsert request (outside the write lock: "
                    "concurrent writers wait in parallel)")
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the test bridge listens on loopback only")

    Handler.bridge = Bridge(args)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(f"{LOG_PREFIX} {BANNER}: listening on http://"
                     f"{args.host}:{server.server_address[1]} -> milvus-lite "
                     f"{args.milvus_uri}, state {args.state_dir}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        Handler.bridge.close()
        sys.stderr.write(f"{LOG_PREFIX} stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

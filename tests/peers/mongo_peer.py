#!/usr/bin/python3
"""MongoDB wire-protocol test peer for Quarry's mongodb driver tests.

No MongoDB server is packaged for the machines Quarry is tested on, so the
driver (the real mongo-c-driver) talks to this peer on loopback instead. It
speaks OP_MSG (and OP_QUERY for the legacy handshake), serves a read-only
in-memory copy of tests/peers/mongo_fixture.json (MongoDB Extended JSON), and
answers the commands a read-only client sends: hello/isMaster, ping,
buildInfo, endSessions, SCRAM-SHA-256 authentication, listDatabases,
listCollections, listIndexes, count, find, aggregate, getMore, killCursors.
Writes and anything unsupported get an error reply ({ok: 0, errmsg, code}).

Cursors are real: first batches hold 101 documents unless batchSize says
otherwise, the rest comes through getMore. A test hook: a find/aggregate whose
`comment` is {"peerSleepMS": N} sleeps N ms (capped), and answers
MaxTimeMSExpired (code 50) if its maxTimeMS is shorter, as a server would.

Only the standard library and Debian's python3-pymongo (for its bson module)
are used; run it with /usr/bin/python3. It listens on 127.0.0.1 only.
"""

import argparse
import base64
import datetime
import decimal
import functools
import hashlib
import hmac
import itertools
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

import bson
from bson import json_util
from bson.binary import Binary
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.json_util import JSONOptions
from bson.objectid import ObjectId
from bson.regex import Regex

VERSION = "6.0.0-quarry-peer"
MAX_WIRE_VERSION = 17
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48000000
MAX_CONNECTIONS = 128
MAX_CURSORS = 1000
DEFAULT_BATCH = 101
MAX_SLEEP_MS = 10000
SCRAM_ITERATIONS = 15000

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

UTC = datetime.timezone.utc
CODEC = CodecOptions(tz_aware=True, tzinfo=UTC)

WRITE_COMMANDS = {
    "insert", "update", "delete", "findandmodify", "drop", "dropdatabase", "create",
    "createindexes", "dropindexes", "renamecollection", "collmod", "createuser", "dropuser",
    "updateuser", "clonecollectionascapped", "converttocapped", "compact", "applyops",
    "shutdown", "fsync", "reindex", "mapreduce",
}


class CommandError(Exception):
    """A command failure, answered as {ok: 0, errmsg, code, codeName}."""

    def __init__(self, code, code_name, message):
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.message = message


def bad_value(message):
    return CommandError(2, "BadValue", message)


def log(message):
    sys.stderr.write("mongo_peer: %s\n" % message)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Value comparison, as MongoDB orders BSON types
# --------------------------------------------------------------------------

class _Missing:
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


def is_number(v):
    return isinstance(v, (int, float, Decimal128)) and not isinstance(v, bool)


def type_rank(v):
    if v is None or v is MISSING:
        return 1
    if isinstance(v, bool):
        return 8
    if is_number(v):
        return 2
    if isinstance(v, str):
        return 3
    if isinstance(v, dict):
        return 4
    if isinstance(v, list):
        return 5
    if isinstance(v, (bytes, Binary)):
        return 6
    if isinstance(v, ObjectId):
        return 7
    if isinstance(v, datetime.datetime):
        return 9
    if isinstance(v, (Regex, re.Pattern)):
        return 11
    return 12


def to_decimal(v):
    if isinstance(v, Decimal128):
        return v.to_decimal()
    if isinstance(v, float):
        return decimal.Decimal(repr(v)) if v == v else decimal.Decimal("NaN")
    return decimal.Decimal(int(v))


def compare(a, b):
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 1:
        return 0
    if ra == 2:
        da, db = to_decimal(a), to_decimal(b)
        if da.is_nan() or db.is_nan():
            return (0 if db.is_nan() else -1) if da.is_nan() else 1
        return (da > db) - (da < db)
    if ra == 4:
        return compare_seq([(k, x) for k, x in a.items()], [(k, x) for k, x in b.items()],
                           pairs=True)
    if ra == 5:
        return compare_seq(a, b)
    if ra == 6:
        ab, bb = bytes(a), bytes(b)
        return (len(ab) > len(bb)) - (len(ab) < len(bb)) or (ab > bb) - (ab < bb)
    if ra == 7:
        return (a.binary > b.binary) - (a.binary < b.binary)
    if ra in (3, 8, 9):
        return (a > b) - (a < b)
    sa, sb = repr(a), repr(b)
    return (sa > sb) - (sa < sb)


def compare_seq(a, b, pairs=False):
    for x, y in zip(a, b):
        if pairs:
            c = (x[0] > y[0]) - (x[0] < y[0]) or compare(x[1], y[1])
        else:
            c = compare(x, y)
        if c:
            return c
    return (len(a) > len(b)) - (len(a) < len(b))


def canon(v):
    """A hashable key equal for values MongoDB considers equal (1 == 1.0)."""
    if v is None or v is MISSING:
        return ("null",)
    if isinstance(v, bool):
        return ("bool", v)
    if is_number(v):
        d = to_decimal(v)
        return ("num", "NaN" if d.is_nan() else str(d.normalize()))
    if isinstance(v, dict):
        return ("doc", tuple((k, canon(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("arr", tuple(canon(x) for x in v))
    if isinstance(v, ObjectId):
        return ("oid", v.binary)
    if isinstance(v, (bytes, Binary)):
        return ("bin", bytes(v))
    if isinstance(v, (str, datetime.datetime)):
        return (type(v).__name__, v)
    return ("other", repr(v))


# --------------------------------------------------------------------------
# Query matching (find filters and $match)
# --------------------------------------------------------------------------

def path_candidates(doc, path):
    """Values a query path reaches, expanding arrays as MongoDB does."""
    current = [doc]
    for part in path.split("."):
        nxt = []
        for value in current:
            if isinstance(value, dict):
                if part in value:
                    nxt.append(value[part])
            elif isinstance(value, list):
                if part.isdigit() and int(part) < len(value):
                    nxt.append(value[int(part)])
                for element in value:
                    if isinstance(element, dict) and part in element:
                        nxt.append(element[part])
        current = nxt
    out = []
    for value in current:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
    return out


def values_equal(candidates, target):
    if target is None:
        return not candidates or any(c is None for c in candidates)
    if isinstance(target, (Regex, re.Pattern)):
        return regex_match(candidates, target)
    return any(compare(c, target) == 0 for c in candidates)


def regex_match(candidates, pattern, options=""):
    if isinstance(pattern, Regex):
        pattern = pattern.try_compile()
    elif isinstance(pattern, str):
        flags = 0
        for ch in options or "":
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(ch, 0)
        try:
            pattern = re.compile(pattern, flags)
        except re.error as exc:
            raise CommandError(51091, "Location51091", "Regular expression is invalid: %s" % exc)
    return any(isinstance(c, str) and pattern.search(c) for c in candidates)


def comparable(a, b):
    return type_rank(a) == type_rank(b)


def apply_operator(op, arg, candidates, cond):
    if op == "$eq":
        return values_equal(candidates, arg)
    if op == "$ne":
        return not values_equal(candidates, arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        want = {"$gt": lambda c: c > 0, "$gte": lambda c: c >= 0,
                "$lt": lambda c: c < 0, "$lte": lambda c: c <= 0}[op]
        return any(comparable(c, arg) and want(compare(c, arg)) for c in candidates
                   if c is not None or arg is None)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise bad_value("%s needs an array" % op)
        hit = any(values_equal(candidates, x) for x in arg)
        return hit if op == "$in" else not hit
    if op == "$exists":
        return bool(candidates) == bool(arg)
    if op == "$not":
        if isinstance(arg, dict):
            return not all(apply_operator(o, a, candidates, arg) for o, a in arg.items())
        return not values_equal(candidates, arg)
    if op == "$regex":
        return regex_match(candidates, arg, cond.get("$options", ""))
    if op == "$options":
        return True
    if op == "$size":
        return any(isinstance(c, list) and len(c) == arg for c in candidates)
    if op == "$all":
        return all(values_equal(candidates, x) for x in arg)
    if op == "$elemMatch":
        for c in candidates:
            if isinstance(c, list):
                for element in c:
                    if isinstance(element, dict) and not any(k.startswith("$") for k in arg):
                        if match(element, arg):
                            return True
                    elif all(apply_operator(o, a, [element], arg) for o, a in arg.items()):
                        return True
        return False
    raise bad_value("unknown operator: %s" % op)


def is_operator_doc(value):
    return isinstance(value, dict) and value and all(k.startswith("$") for k in value)


def match(doc, flt):
    if not isinstance(flt, dict):
        raise bad_value("filter must be an object")
    for key, cond in flt.items():
        if key == "$and" or key == "$or" or key == "$nor":
            if not isinstance(cond, list) or not cond:
                raise bad_value("%s argument must be a non-empty array" % key)
            results = (match(doc, sub) for sub in cond)
            ok = all(results) if key == "$and" else any(results)
            if key == "$nor":
                ok = not ok
        elif key == "$comment":
            ok = True
        elif key.startswith("$"):
            raise bad_value("unknown top level operator: %s" % key)
        else:
            candidates = path_candidates(doc, key)
            if is_operator_doc(cond):
                ok = all(apply_operator(op, arg, candidates, cond) for op, arg in cond.items())
            else:
                ok = values_equal(candidates, cond)
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------
# Aggregation expressions
# --------------------------------------------------------------------------

def get_path(doc, path):
    """A field path as expressions read it: arrays of documents map over their elements."""
    value = doc
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            value = [e[part] for e in value if isinstance(e, dict) and part in e]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def arith(values, op):
    if any(v is None or v is MISSING for v in values):
        return None
    if isinstance(values[0], datetime.datetime) and op in ("add", "subtract"):
        if op == "subtract" and isinstance(values[1], datetime.datetime):
            return Int64(int((values[0] - values[1]).total_seconds() * 1000))
        ms = sum(int(to_decimal(v)) for v in values[1:])
        sign = -1 if op == "subtract" else 1
        return values[0] + datetime.timedelta(milliseconds=sign * ms)
    if not all(is_number(v) for v in values):
        raise CommandError(16554, "TypeMismatch", "only numbers are supported by $%s" % op)
    return number_result(values, op)


def number_result(values, op):
    if any(isinstance(v, Decimal128) for v in values):
        ds = [to_decimal(v) for v in values]
        return Decimal128(fold(ds, op))
    if any(isinstance(v, float) for v in values) or op == "divide":
        return float(fold([float(v) for v in values], op))
    result = fold([int(v) for v in values], op)
    if any(isinstance(v, Int64) for v in values) or not -2**31 <= result < 2**31:
        return Int64(result)
    return result


def fold(values, op):
    if op == "add":
        return sum(values[1:], values[0])
    if op == "multiply":
        return functools.reduce(lambda a, b: a * b, values)
    if op == "subtract":
        return values[0] - values[1]
    if op == "divide":
        if values[1] == 0:
            raise CommandError(16608, "Location16608", "can't $divide by zero")
        return values[0] / values[1]
    raise bad_value(op)


def expr_args(doc, arg, count=None):
    args = arg if isinstance(arg, list) else [arg]
    if count is not None and len(args) != count:
        raise bad_value("expression takes exactly %d arguments" % count)
    return [evaluate(doc, a) for a in args]


def date_part(doc, arg, part):
    value = evaluate(doc, arg.get("date") if isinstance(arg, dict) else arg)
    if value is None or value is MISSING:
        return None
    if not isinstance(value, datetime.datetime):
        raise CommandError(16006, "Location16006", "can't convert to date")
    return getattr(value.astimezone(UTC), part)


def evaluate(doc, expr):
    if isinstance(expr, str) and expr.startswith("$$"):
        if expr in ("$$ROOT", "$$CURRENT"):
            return doc
        if expr.startswith(("$$ROOT.", "$$CURRENT.")):
            return get_path(doc, expr.split(".", 1)[1])
        raise CommandError(17276, "Location17276", "Use of undefined variable: %s" % expr[2:])
    if isinstance(expr, str) and expr.startswith("$"):
        return get_path(doc, expr[1:])
    if isinstance(expr, list):
        return [None if v is MISSING else v for v in (evaluate(doc, e) for e in expr)]
    if isinstance(expr, dict):
        if len(expr) == 1 and next(iter(expr)).startswith("$"):
            op, arg = next(iter(expr.items()))
            return evaluate_operator(doc, op, arg)
        out = {}
        for key, sub in expr.items():
            value = evaluate(doc, sub)
            if value is not MISSING:
                out[key] = value
        return out
    return expr


def evaluate_operator(doc, op, arg):
    if op == "$literal":
        return arg
    if op in ("$add", "$multiply"):
        return arith(expr_args(doc, arg), op[1:])
    if op in ("$subtract", "$divide"):
        return arith(expr_args(doc, arg, 2), op[1:])
    if op == "$concat":
        parts = expr_args(doc, arg)
        if any(p is None or p is MISSING for p in parts):
            return None
        if not all(isinstance(p, str) for p in parts):
            raise CommandError(16702, "Location16702", "$concat only supports strings")
        return "".join(parts)
    if op in ("$toUpper", "$toLower"):
        (value,) = expr_args(doc, arg, 1)
        text = "" if value is None or value is MISSING else str(value)
        return text.upper() if op == "$toUpper" else text.lower()
    if op == "$size":
        (value,) = expr_args(doc, arg, 1)
        if not isinstance(value, list):
            raise CommandError(17124, "Location17124", "The argument to $size must be an array")
        return len(value)
    if op == "$ifNull":
        for value in expr_args(doc, arg):
            if value is not None and value is not MISSING:
                return value
        return None
    if op == "$cond":
        if isinstance(arg, dict):
            arg = [arg.get("if"), arg.get("then"), arg.get("else")]
        cond, then, other = arg
        return evaluate(doc, then if truthy(evaluate(doc, cond)) else other)
    if op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"):
        a, b = expr_args(doc, arg, 2)
        c = compare(None if a is MISSING else a, None if b is MISSING else b)
        return {"$eq": c == 0, "$ne": c != 0, "$gt": c > 0, "$gte": c >= 0, "$lt": c < 0,
                "$lte": c <= 0, "$cmp": c}[op]
    if op in ("$and", "$or"):
        values = [truthy(v) for v in expr_args(doc, arg)]
        return all(values) if op == "$and" else any(values)
    if op == "$not":
        return not truthy(expr_args(doc, arg)[0])
    if op in ("$sum", "$avg", "$min", "$max"):
        values = expr_args(doc, arg)
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
        acc = Accumulator(op)
        for value in values:
            acc.add(value)
        return acc.result()
    if op in ("$year", "$month", "$dayOfMonth", "$hour", "$minute", "$second"):
        part = {"$year": "year", "$month": "month", "$dayOfMonth": "day", "$hour": "hour",
                "$minute": "minute", "$second": "second"}[op]
        return date_part(doc, arg, part)
    if op == "$toString":
        (value,) = expr_args(doc, arg, 1)
        if value is None or value is MISSING:
            return None
        if isinstance(value, datetime.datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (value.microsecond // 1000)
        return str(value)
    raise CommandError(168, "InvalidPipelineOperator", "Unrecognized expression '%s'" % op)


def truthy(value):
    if value is None or value is MISSING or value is False:
        return False
    if is_number(value):
        return to_decimal(value) != 0
    return True


class Accumulator:
    def __init__(self, op):
        if op not in ("$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet",
                      "$count"):
            raise CommandError(15952, "Location15952", "unknown group operator '%s'" % op)
        self.op = op
        self.values = []
        self.seen = False
        self.first = MISSING
        self.last = MISSING
        self.keys = set()

    def add(self, value):
        if not self.seen:
            self.first = value
            self.seen = True
        self.last = value
        if self.op in ("$sum", "$avg"):
            if is_number(value):
                self.values.append(value)
        elif self.op in ("$min", "$max"):
            if value is not None and value is not MISSING:
                self.values.append(value)
        elif self.op == "$push":
            if value is not MISSING:
                self.values.append(value)
        elif self.op == "$addToSet":
            key = canon(value)
            if value is not MISSING and key not in self.keys:
                self.keys.add(key)
                self.values.append(value)
        elif self.op == "$count":
            self.values.append(1)

    def result(self):
        if self.op in ("$sum", "$count"):
            return number_result(self.values, "add") if self.values else 0
        if self.op == "$avg":
            if not self.values:
                return None
            total = number_result(self.values, "add")
            if isinstance(total, Decimal128):
                return Decimal128(total.to_decimal() / len(self.values))
            return float(total) / len(self.values)
        if self.op in ("$min", "$max"):
            if not self.values:
                return None
            pick = min if self.op == "$min" else max
            return pick(self.values, key=functools.cmp_to_key(compare))
        if self.op in ("$first", "$last"):
            value = self.first if self.op == "$first" else self.last
            return None if value is MISSING else value
        return self.values


# --------------------------------------------------------------------------
# Projection, sorting, pipeline stages
# --------------------------------------------------------------------------

def flatten_projection(spec, prefix=""):
    out = []
    for key, value in spec.items():
        if key.startswith("$"):
            raise bad_value("projection field names may not start with '$': %s" % key)
        path = prefix + key
        if isinstance(value, dict) and value and not is_operator_doc(value):
            out.extend(flatten_projection(value, path + "."))
        else:
            out.append((path, value))
    return out


def is_flag(value):
    return isinstance(value, bool) or (is_number(value) and not isinstance(value, Decimal128))


def project(doc, spec):
    if not isinstance(spec, dict):
        raise bad_value("projection must be an object")
    fields = flatten_projection(spec)
    if not fields:
        return dict(doc)
    include_id = True
    inclusions, exclusions, computed = [], [], []
    for path, value in fields:
        if is_flag(value):
            if path == "_id":
                include_id = bool(value)
                continue
            (inclusions if value else exclusions).append(path)
        else:
            computed.append((path, value))
    if exclusions and (inclusions or computed):
        raise CommandError(31254, "Location31254",
                           "Cannot do exclusion on field %s in inclusion projection" % exclusions[0])
    if exclusions or (not inclusions and not computed):
        out = remove_paths(doc, exclusions + ([] if include_id else ["_id"]))
        return out
    out = {}
    if include_id and "_id" in doc:
        out["_id"] = doc["_id"]
    tree = {}
    for path in inclusions:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is True:
                break
        else:
            node[parts[-1]] = True
    merge_into(out, include_tree(doc, tree))
    for path, expr in computed:
        value = evaluate(doc, expr)
        if value is not MISSING:
            set_path(out, path, value)
    return out


def include_tree(value, tree):
    if isinstance(value, list):
        return [include_tree(e, tree) for e in value if isinstance(e, dict)]
    out = {}
    for key, sub in value.items():
        if key not in tree:
            continue
        if tree[key] is True:
            out[key] = sub
        elif isinstance(sub, (dict, list)):
            out[key] = include_tree(sub, tree[key])
    return out


def merge_into(target, source):
    for key, value in source.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            merge_into(target[key], value)
        else:
            target[key] = value


def remove_paths(doc, paths):
    out = dict(doc)
    for path in paths:
        parts = path.split(".")
        out = remove_path(out, parts)
    return out


def remove_path(value, parts):
    if isinstance(value, list):
        return [remove_path(e, parts) for e in value]
    if not isinstance(value, dict) or parts[0] not in value:
        return value
    out = dict(value)
    if len(parts) == 1:
        del out[parts[0]]
    else:
        out[parts[0]] = remove_path(out[parts[0]], parts[1:])
    return out


def set_path(doc, path, value):
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def sort_docs(docs, spec):
    if not isinstance(spec, dict) or not spec:
        raise bad_value("sort must be a non-empty object")
    keys = []
    for path, direction in spec.items():
        if direction not in (1, -1):
            raise CommandError(15975, "Location15975", "$sort key ordering must be 1 or -1")
        keys.append((path, int(direction)))

    def sort_value(doc, path, direction):
        candidates = [c for c in path_candidates(doc, path) if not isinstance(c, list)]
        if not candidates:
            return None
        pick = min if direction == 1 else max
        return pick(candidates, key=functools.cmp_to_key(compare))

    def cmp(a, b):
        for path, direction in keys:
            c = compare(sort_value(a, path, direction), sort_value(b, path, direction))
            if c:
                return c * direction
        return 0

    return sorted(docs, key=functools.cmp_to_key(cmp))


def nonnegative_int(value, what):
    if not is_number(value) or isinstance(value, Decimal128) or int(value) != value or value < 0:
        raise bad_value("%s must be a non-negative integer" % what)
    return int(value)


def stage_group(docs, spec):
    if not isinstance(spec, dict) or "_id" not in spec:
        raise CommandError(15955, "Location15955", "a group specification must include an _id")
    fields = []
    for name, acc in spec.items():
        if name == "_id":
            continue
        if not isinstance(acc, dict) or len(acc) != 1:
            raise CommandError(40234, "Location40234",
                               "The field '%s' must be an accumulator object" % name)
        op, expr = next(iter(acc.items()))
        Accumulator(op)
        fields.append((name, op, expr))
    groups = {}
    for doc in docs:
        key_value = evaluate(doc, spec["_id"])
        key_value = None if key_value is MISSING else key_value
        key = canon(key_value)
        if key not in groups:
            groups[key] = (key_value, [Accumulator(op) for _, op, _ in fields])
        accs = groups[key][1]
        for (name, op, expr), acc in zip(fields, accs):
            acc.add(None if op == "$count" else evaluate(doc, expr))
    out = []
    for key_value, accs in groups.values():
        row = {"_id": key_value}
        for (name, _, _), acc in zip(fields, accs):
            row[name] = acc.result()
        out.append(row)
    return out


def stage_unwind(docs, spec):
    if isinstance(spec, str):
        spec = {"path": spec}
    path = spec.get("path") if isinstance(spec, dict) else None
    if not isinstance(path, str) or not path.startswith("$"):
        raise CommandError(28808, "Location28808", "$unwind path must start with '$'")
    path = path[1:]
    keep = bool(spec.get("preserveNullAndEmptyArrays", False))
    index_field = spec.get("includeArrayIndex")
    out = []
    for doc in docs:
        value = get_path(doc, path)
        if isinstance(value, list) and value:
            for i, element in enumerate(value):
                copy_doc = remove_paths(doc, [])
                set_path(copy_doc, path, element)
                if index_field:
                    set_path(copy_doc, index_field, Int64(i))
                out.append(copy_doc)
        elif isinstance(value, list) or value is None or value is MISSING:
            if keep:
                copy_doc = remove_paths(doc, [path]) if isinstance(value, list) else dict(doc)
                if index_field:
                    set_path(copy_doc, index_field, None)
                out.append(copy_doc)
        else:
            copy_doc = dict(doc)
            if index_field:
                set_path(copy_doc, index_field, None)
            out.append(copy_doc)
    return out


def stage_lookup(store, db, docs, spec):
    for field in ("from", "localField", "foreignField", "as"):
        if not isinstance(spec.get(field), str):
            raise bad_value("$lookup needs string '%s' (only the equality form is supported)"
                            % field)
    foreign = store.documents(db, spec["from"])
    out = []
    for doc in docs:
        local = path_candidates(doc, spec["localField"]) or [None]
        joined = [f for f in foreign
                  if any(values_equal(path_candidates(f, spec["foreignField"]), v)
                         for v in local)]
        copy_doc = dict(doc)
        set_path(copy_doc, spec["as"], joined)
        out.append(copy_doc)
    return out


def run_pipeline(store, db, docs, pipeline, first_stage_ok=True):
    if not isinstance(pipeline, list):
        raise CommandError(14, "TypeMismatch", "'pipeline' option must be specified as an array")
    for index, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise CommandError(40323, "Location40323",
                               "A pipeline stage specification object must contain exactly one "
                               "field.")
        name, spec = next(iter(stage.items()))
        if name == "$match":
            docs = [d for d in docs if match(d, spec)]
        elif name == "$project":
            docs = [project(d, spec) for d in docs]
        elif name in ("$addFields", "$set"):
            if not isinstance(spec, dict):
                raise bad_value("%s specification must be an object" % name)
            new_docs = []
            for d in docs:
                copy_doc = dict(d)
                for path, expr in flatten_projection(spec):
                    value = evaluate(d, expr)
                    if value is not MISSING:
                        set_path(copy_doc, path, value)
                new_docs.append(copy_doc)
            docs = new_docs
        elif name == "$unset":
            paths = [spec] if isinstance(spec, str) else spec
            docs = [remove_paths(d, paths) for d in docs]
        elif name == "$group":
            docs = stage_group(docs, spec)
        elif name == "$sort":
            docs = sort_docs(docs, spec)
        elif name == "$limit":
            n = nonnegative_int(spec, "$limit")
            if n == 0:
                raise CommandError(15958, "Location15958", "the limit must be positive")
            docs = docs[:n]
        elif name == "$skip":
            docs = docs[nonnegative_int(spec, "$skip"):]
        elif name == "$sample":
            size = nonnegative_int(spec.get("size") if isinstance(spec, dict) else None,
                                   "$sample size")
            docs = random.sample(docs, min(size, len(docs)))
        elif name == "$count":
            if not isinstance(spec, str) or not spec or spec.startswith("$") or "." in spec:
                raise CommandError(40156, "Location40156", "the count field must be a "
                                   "non-empty string without '$' or '.'")
            docs = [{spec: len(docs)}] if docs else []
        elif name == "$unwind":
            docs = stage_unwind(docs, spec)
        elif name == "$replaceRoot" or name == "$replaceWith":
            expr = spec.get("newRoot") if name == "$replaceRoot" else spec
            new_docs = []
            for d in docs:
                value = evaluate(d, expr)
                if not isinstance(value, dict):
                    raise CommandError(40228, "Location40228",
                                       "'newRoot' expression must evaluate to an object")
                new_docs.append(value)
            docs = new_docs
        elif name == "$lookup":
            docs = stage_lookup(store, db, docs, spec)
        elif name == "$collStats":
            raise CommandError(40602, "Location40602",
                               "$collStats is only valid as the first stage in a pipeline")
        elif name in ("$out", "$merge"):
            raise CommandError(13, "Unauthorized",
                               "not authorized on %s to execute command with %s" % (db, name))
        else:
            raise CommandError(40324, "Location40324",
                               "Unrecognized pipeline stage name: '%s'" % name)
    return docs


# --------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------

class Store:
    """The fixture, read-only after load."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            data = json_util.loads(f.read(), json_options=JSONOptions(tz_aware=True,
                                                                      tzinfo=UTC))
        self.databases = {}
        for db_name, db in data["databases"].items():
            collections = {}
            for name, coll in db.get("collections", {}).items():
                indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
                for index in coll.get("indexes", []):
                    entry = {"v": 2, "key": index["key"], "name": index["name"]}
                    if index.get("unique"):
                        entry["unique"] = True
                    indexes.append(entry)
                collections[name] = {"documents": coll.get("documents", []),
                                     "indexes": indexes}
            self.databases[db_name] = {"collections": collections,
                                       "views": db.get("views", {})}
        self.users = {}
        for user in data.get("users", []):
            salt = secrets.token_bytes(28)
            salted = hashlib.pbkdf2_hmac("sha256", user["password"].encode(), salt,
                                         SCRAM_ITERATIONS)
            client_key = hmac.digest(salted, b"Client Key", "sha256")
            self.users[(user["db"], user["user"])] = {
                "salt": salt,
                "stored_key": hashlib.sha256(client_key).digest(),
                "server_key": hmac.digest(salted, b"Server Key", "sha256"),
            }

    def is_view(self, db, name):
        return name in self.databases.get(db, {}).get("views", {})

    def exists(self, db, name):
        d = self.databases.get(db, {})
        return name in d.get("collections", {}) or name in d.get("views", {})

    def documents(self, db, name, depth=0):
        d = self.databases.get(db)
        if d is None:
            return []
        if name in d["collections"]:
            return d["collections"][name]["documents"]
        view = d["views"].get(name)
        if view is None or depth > 10:
            return []
        return run_pipeline(self, db, self.documents(db, view["viewOn"], depth + 1),
                            view["pipeline"])


# --------------------------------------------------------------------------
# Cursors
# --------------------------------------------------------------------------

class Cursors:
    def __init__(self):
        self.lock = threading.Lock()
        self.open = {}

    def batch(self, ns, docs, batch_size, limit_to_one_batch=False):
        """Splits off a first batch; keeps the rest under a new cursor id (0: none)."""
        first, rest = take_batch(docs, batch_size)
        if not rest or limit_to_one_batch:
            return first, 0
        with self.lock:
            while len(self.open) >= MAX_CURSORS:
                self.open.pop(next(iter(self.open)))
            cursor_id = secrets.randbits(62) + 1
            self.open[cursor_id] = {"ns": ns, "docs": rest}
        return first, cursor_id

    def more(self, cursor_id, ns, batch_size):
        with self.lock:
            cursor = self.open.get(cursor_id)
            if cursor is None or cursor["ns"] != ns:
                raise CommandError(43, "CursorNotFound", "cursor id %d not found" % cursor_id)
            batch, rest = take_batch(cursor["docs"], batch_size)
            if rest:
                cursor["docs"] = rest
                return batch, cursor_id
            del self.open[cursor_id]
            return batch, 0

    def kill(self, ids):
        killed, missing = [], []
        with self.lock:
            for cursor_id in ids:
                (killed if self.open.pop(int(cursor_id), None) else missing).append(cursor_id)
        return killed, missing


def take_batch(docs, batch_size):
    """Up to batch_size documents (None: unbounded), never more than ~16 MB."""
    limit = len(docs) if batch_size is None else min(batch_size, len(docs))
    size = 0
    n = 0
    while n < limit:
        size += len(bson.encode(docs[n], codec_options=CODEC))
        if n and size > MAX_BSON_SIZE:
            break
        n += 1
    return docs[:n], docs[n:]


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def ok(**fields):
    fields["ok"] = 1.0
    return fields


class Peer:
    def __init__(self, store):
        self.store = store
        self.cursors = Cursors()
        self.connection_ids = itertools.count(1)

    def run(self, conn, db, body):
        if not body:
            raise CommandError(59, "CommandNotFound", "empty command")
        name = next(iter(body))
        lname = name.lower()
        if lname in ("hello", "ismaster"):
            return self.hello(conn, body, legacy=lname == "ismaster")
        if lname in WRITE_COMMANDS:
            raise CommandError(13, "Unauthorized",
                               "not authorized on %s to execute command { %s: ... }" % (db, name))
        handler = {
            "ping": lambda: ok(),
            "buildinfo": lambda: self.build_info(),
            "endsessions": lambda: ok(),
            "saslstart": lambda: self.sasl_start(conn, db, body),
            "saslcontinue": lambda: self.sasl_continue(conn, body),
            "listdatabases": lambda: self.list_databases(body),
            "listcollections": lambda: self.list_collections(db, body),
            "listindexes": lambda: self.list_indexes(db, body),
            "count": lambda: self.count(db, body),
            "find": lambda: self.find(db, body),
            "aggregate": lambda: self.aggregate(db, body),
            "getmore": lambda: self.get_more(db, body),
            "killcursors": lambda: self.kill_cursors(body),
        }.get(lname)
        if handler is None:
            raise CommandError(59, "CommandNotFound", "no such command: '%s'" % name)
        return handler()

    def hello(self, conn, body, legacy):
        reply = {
            "helloOk": True,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": 100000,
            "localTime": datetime.datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": conn.connection_id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }
        reply["ismaster" if legacy else "isWritablePrimary"] = True
        mechs = body.get("saslSupportedMechs")
        if isinstance(mechs, str) and "." in mechs:
            user_db, user = mechs.split(".", 1)
            if (user_db, user) in self.store.users:
                reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        speculative = body.get("speculativeAuthenticate")
        if isinstance(speculative, dict) and speculative.get("mechanism") == "SCRAM-SHA-256":
            try:
                reply["speculativeAuthenticate"] = self.sasl_start(
                    conn, speculative.get("db", "admin"), speculative)
            except CommandError:
                pass  # the client falls back to a full conversation, which then fails
        return ok(**reply)

    def build_info(self):
        return ok(version=VERSION, versionArray=[6, 0, 0, 0], gitVersion="quarry-peer",
                  bits=64, debug=False, maxBsonObjectSize=MAX_BSON_SIZE, modules=[])

    # SCRAM-SHA-256 (RFC 5802 / 7677), server side.
    def sasl_start(self, conn, db, body):
        if body.get("mechanism") != "SCRAM-SHA-256":
            raise CommandError(2, "BadValue", "Unsupported mechanism %s" % body.get("mechanism"))
        payload = bytes(body.get("payload", b""))
        try:
            text = payload.decode()
            if not text.startswith("n,"):
                raise ValueError("channel binding")
            bare = text.split(",", 2)[2]
            attrs = dict(item.split("=", 1) for item in bare.split(","))
            user, client_nonce = attrs["n"], attrs["r"]
        except (ValueError, KeyError, IndexError, UnicodeDecodeError):
            raise CommandError(17, "ProtocolError", "malformed SCRAM client-first message")
        record = self.store.users.get((db, user.replace("=2C", ",").replace("=3D", "=")))
        nonce = client_nonce + base64.b64encode(secrets.token_bytes(24)).decode()
        salt = record["salt"] if record else secrets.token_bytes(28)
        server_first = "r=%s,s=%s,i=%d" % (nonce, base64.b64encode(salt).decode(),
                                            SCRAM_ITERATIONS)
        options = body.get("options") or {}
        conn.sasl = {"record": record, "nonce": nonce, "auth_prefix": bare + "," + server_first,
                     "skip_empty": bool(options.get("skipEmptyExchange")), "step": 1}
        return ok(conversationId=1, done=False, payload=Binary(server_first.encode()))

    def sasl_continue(self, conn, body):
        state = conn.sasl
        if state is None or body.get("conversationId") != 1:
            raise CommandError(17, "ProtocolError", "No SASL session state found")
        if state["step"] == 2:
            conn.sasl = None
            return ok(conversationId=1, done=True, payload=Binary(b""))
        conn.sasl = None
        try:
            text = bytes(body.get("payload", b"")).decode()
            without_proof, proof_b64 = text.rsplit(",p=", 1)
            attrs = dict(item.split("=", 1) for item in without_proof.split(","))
            proof = base64.b64decode(proof_b64, validate=True)
        except (ValueError, UnicodeDecodeError):
            raise CommandError(17, "ProtocolError", "malformed SCRAM client-final message")
        record = state["record"]
        auth_message = (state["auth_prefix"] + "," + without_proof).encode()
        if record is None or attrs.get("r") != state["nonce"] or len(proof) != 32:
            raise CommandError(18, "AuthenticationFailed", "Authentication failed.")
        signature = hmac.digest(record["stored_key"], auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), record["stored_key"]):
            raise CommandError(18, "AuthenticationFailed", "Authentication failed.")
        server_signature = hmac.digest(record["server_key"], auth_message, "sha256")
        payload = ("v=" + base64.b64encode(server_signature).decode()).encode()
        if not state["skip_empty"]:
            state["step"] = 2
            conn.sasl = state
        return ok(conversationId=1, done=state["skip_empty"], payload=Binary(payload))

    def list_databases(self, body):
        dbs = []
        for name, db in self.store.databases.items():
            size = sum(len(bson.encode(d, codec_options=CODEC))
                       for c in db["collections"].values() for d in c["documents"])
            dbs.append({"name": name, "sizeOnDisk": size, "empty": size == 0})
        flt = body.get("filter")
        if flt:
            dbs = [d for d in dbs if match(d, flt)]
        if body.get("nameOnly"):
            dbs = [{"name": d["name"]} for d in dbs]
        return ok(databases=dbs, totalSize=sum(d.get("sizeOnDisk", 0) for d in dbs))

    def list_collections(self, db, body):
        d = self.store.databases.get(db, {"collections": {}, "views": {}})
        infos = []
        for name in d["collections"]:
            infos.append({"name": name, "type": "collection", "options": {},
                          "info": {"readOnly": False},
                          "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}})
        for name, view in d["views"].items():
            infos.append({"name": name, "type": "view",
                          "options": {"viewOn": view["viewOn"], "pipeline": view["pipeline"]},
                          "info": {"readOnly": True}})
        flt = body.get("filter")
        if flt:
            infos = [i for i in infos if match(i, flt)]
        if body.get("nameOnly"):
            infos = [{"name": i["name"], "type": i["type"]} for i in infos]
        return self.cursor_reply(db + ".$cmd.listCollections", infos, body.get("cursor"))

    def list_indexes(self, db, body):
        name = collection_name(body, "listIndexes")
        d = self.store.databases.get(db, {"collections": {}, "views": {}})
        if name in d["views"]:
            raise CommandError(166, "CommandNotSupportedOnView",
                               "Namespace %s.%s is a view, not a collection" % (db, name))
        coll = d["collections"].get(name)
        if coll is None:
            raise CommandError(26, "NamespaceNotFound", "ns does not exist: %s.%s" % (db, name))
        return self.cursor_reply("%s.%s" % (db, name), coll["indexes"], body.get("cursor"))

    def count(self, db, body):
        name = collection_name(body, "count")
        docs = self.store.documents(db, name)
        query = body.get("query")
        if query:
            docs = [d for d in docs if match(d, query)]
        docs = docs[nonnegative_int(body.get("skip", 0), "skip"):]
        limit = int(abs(body.get("limit", 0) or 0))
        n = min(len(docs), limit) if limit else len(docs)
        return ok(n=n)

    def find(self, db, body):
        name = collection_name(body, "find")
        self.honour_sleep(body)
        docs = list(self.store.documents(db, name))
        flt = body.get("filter")
        if flt is not None:
            docs = [d for d in docs if match(d, flt)]
        if body.get("sort"):
            docs = sort_docs(docs, body["sort"])
        docs = docs[nonnegative_int(body.get("skip", 0), "skip"):]
        limit = body.get("limit", 0)
        if not is_number(limit) or isinstance(limit, Decimal128):
            raise bad_value("limit must be a number")
        single = bool(body.get("singleBatch")) or limit < 0
        limit = int(abs(limit))
        if limit:
            docs = docs[:limit]
        if body.get("projection"):
            docs = [project(d, body["projection"]) for d in docs]
        batch_size = body.get("batchSize")
        if batch_size is not None:
            batch_size = nonnegative_int(batch_size, "batchSize")
        else:
            batch_size = DEFAULT_BATCH
        first, cursor_id = self.cursors.batch("%s.%s" % (db, name), docs, batch_size, single)
        return ok(cursor={"firstBatch": first, "id": Int64(cursor_id), "ns": "%s.%s" % (db, name)})

    def aggregate(self, db, body):
        name = body.get("aggregate")
        if not isinstance(name, str) or not name:
            raise CommandError(73, "InvalidNamespace",
                               "only collection-level aggregations are supported")
        if not isinstance(body.get("cursor"), dict) and not body.get("explain"):
            raise CommandError(9, "FailedToParse",
                               "The 'cursor' option is required, except for aggregate with the "
                               "explain argument")
        self.honour_sleep(body)
        pipeline = body.get("pipeline")
        if not isinstance(pipeline, list):
            raise CommandError(14, "TypeMismatch", "'pipeline' option must be specified as an "
                               "array")
        if pipeline and isinstance(pipeline[0], dict) and "$collStats" in pipeline[0]:
            spec = pipeline[0]["$collStats"]
            stats = {"ns": "%s.%s" % (db, name)}
            if isinstance(spec, dict) and "count" in spec:
                if self.store.is_view(db, name):
                    raise CommandError(166, "CommandNotSupportedOnView",
                                       "Namespace %s.%s is a view, not a collection" % (db, name))
                stats["count"] = len(self.store.documents(db, name))
            docs = run_pipeline(self.store, db, [stats], pipeline[1:])
        else:
            docs = run_pipeline(self.store, db, list(self.store.documents(db, name)), pipeline)
        batch_size = body["cursor"].get("batchSize", DEFAULT_BATCH)
        batch_size = nonnegative_int(batch_size, "batchSize")
        ns = "%s.%s" % (db, name)
        first, cursor_id = self.cursors.batch(ns, docs, batch_size)
        return ok(cursor={"firstBatch": first, "id": Int64(cursor_id), "ns": ns})

    def get_more(self, db, body):
        cursor_id = body.get("getMore")
        if not isinstance(cursor_id, int) or isinstance(cursor_id, bool):
            raise CommandError(14, "TypeMismatch", "getMore must be a long")
        name = collection_name(body, "collection")
        batch_size = body.get("batchSize")
        if batch_size is not None:
            batch_size = nonnegative_int(batch_size, "batchSize") or None
        ns = "%s.%s" % (db, name)
        batch, next_id = self.cursors.more(int(cursor_id), ns, batch_size)
        return ok(cursor={"nextBatch": batch, "id": Int64(next_id), "ns": ns})

    def kill_cursors(self, body):
        ids = body.get("cursors")
        if not isinstance(ids, list):
            raise bad_value("cursors must be an array")
        killed, missing = self.cursors.kill(ids)
        return ok(cursorsKilled=killed, cursorsNotFound=missing, cursorsAlive=[],
                  cursorsUnknown=[])

    def cursor_reply(self, ns, docs, cursor_opts):
        batch_size = DEFAULT_BATCH
        if isinstance(cursor_opts, dict) and "batchSize" in cursor_opts:
            batch_size = nonnegative_int(cursor_opts["batchSize"], "batchSize")
        first, cursor_id = self.cursors.batch(ns, docs, batch_size)
        return ok(cursor={"firstBatch": first, "id": Int64(cursor_id), "ns": ns})

    @staticmethod
    def honour_sleep(body):
        comment = body.get("comment")
        if not isinstance(comment, dict) or "peerSleepMS" not in comment:
            return
        sleep_ms = min(nonnegative_int(comment["peerSleepMS"], "peerSleepMS"), MAX_SLEEP_MS)
        max_time = body.get("maxTimeMS")
        if is_number(max_time) and 0 < max_time < sleep_ms:
            time.sleep(float(max_time) / 1000.0)
            raise CommandError(50, "MaxTimeMSExpired", "operation exceeded time limit")
        time.sleep(sleep_ms / 1000.0)


def collection_name(body, key):
    name = body.get(key)
    if not isinstance(name, str) or not name:
        raise CommandError(73, "InvalidNamespace", "collection name must be a non-empty string")
    return name


# --------------------------------------------------------------------------
# Wire protocol
# --------------------------------------------------------------------------

class ProtocolError(Exception):
    pass


def read_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def decode_doc(data, pos):
    if pos + 4 > len(data):
        raise ProtocolError("truncated document")
    (size,) = struct.unpack_from("<i", data, pos)
    if size < 5 or pos + size > len(data):
        raise ProtocolError("bad document size")
    return bson.decode(data[pos:pos + size], codec_options=CODEC), pos + size


def read_cstring(data, pos):
    end = data.find(b"\0", pos)
    if end < 0:
        raise ProtocolError("unterminated string")
    return data[pos:end].decode("utf-8"), end + 1


def parse_op_msg(data):
    (flags,) = struct.unpack_from("<I", data, 0)
    if flags & ~0x10003:
        raise ProtocolError("unknown required OP_MSG flag bits")
    end = len(data) - 4 if flags & 1 else len(data)
    pos = 4
    body = None
    sequences = {}
    while pos < end:
        kind = data[pos]
        pos += 1
        if kind == 0:
            if body is not None:
                raise ProtocolError("two body sections")
            body, pos = decode_doc(data[:end], pos)
        elif kind == 1:
            if pos + 4 > end:
                raise ProtocolError("truncated sequence")
            (size,) = struct.unpack_from("<i", data, pos)
            stop = pos + size
            if size < 5 or stop > end:
                raise ProtocolError("bad sequence size")
            ident, cur = read_cstring(data[:stop], pos + 4)
            docs = []
            while cur < stop:
                doc, cur = decode_doc(data[:stop], cur)
                docs.append(doc)
            sequences[ident] = docs
            pos = stop
        else:
            raise ProtocolError("unknown section kind %d" % kind)
    if body is None:
        raise ProtocolError("no body section")
    body.update(sequences)
    return flags, body


def parse_op_query(data):
    pos = 4
    full_name, pos = read_cstring(data, pos)
    pos += 8
    query, pos = decode_doc(data, pos)
    if "$query" in query and isinstance(query["$query"], dict):
        query = query["$query"]
    return full_name, query


def frame(request_id, opcode, payload):
    header = struct.pack("<iiii", 16 + len(payload), 0, request_id, opcode)
    return header + payload


class Connection(socketserver.BaseRequestHandler):
    """One client connection; requests are answered in order."""

    active = 0
    active_lock = threading.Lock()

    def setup(self):
        self.sasl = None
        self.connection_id = self.server.peer.connection_ids.__next__()

    def handle(self):
        with Connection.active_lock:
            if Connection.active >= MAX_CONNECTIONS:
                return
            Connection.active += 1
        try:
            self.serve()
        except (EOFError, ConnectionError, socket.timeout):
            pass
        except ProtocolError as exc:
            log("closing connection %d: %s" % (self.connection_id, exc))
        except Exception as exc:  # never let one bad client take the peer down
            log("closing connection %d after %s: %s" % (self.connection_id,
                                                        type(exc).__name__, exc))
        finally:
            with Connection.active_lock:
                Connection.active -= 1

    def serve(self):
        sock = self.request
        sock.settimeout(600)
        while True:
            length, request_id, _, opcode = struct.unpack("<iiii", read_exact(sock, 16))
            if length < 21 or length > MAX_MESSAGE_SIZE:
                raise ProtocolError("bad message length %d" % length)
            data = read_exact(sock, length - 16)
            try:
                if opcode == OP_MSG:
                    flags, body = parse_op_msg(data)
                    db = body.pop("$db", None)
                    reply = self.command(db, body)
                    if flags & 2:  # moreToCome: the client wants no answer
                        continue
                    payload = struct.pack("<I", 0) + b"\0" + bson.encode(reply,
                                                                        codec_options=CODEC)
                    sock.sendall(frame(request_id, OP_MSG, payload))
                elif opcode == OP_QUERY:
                    full_name, query = parse_op_query(data)
                    if full_name.endswith(".$cmd"):
                        reply = self.command(full_name[:-5], query)
                    else:
                        reply = error_reply(CommandError(
                            5739101, "Location5739101", "OP_QUERY is only for commands"))
                    payload = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply,
                                                                           codec_options=CODEC)
                    sock.sendall(frame(request_id, OP_REPLY, payload))
                else:
                    raise ProtocolError("unsupported opcode %d" % opcode)
            except (bson.errors.BSONError, UnicodeDecodeError, struct.error, IndexError) as exc:
                raise ProtocolError("malformed message: %s" % exc)

    def command(self, db, body):
        if not isinstance(db, str) or not db:
            return error_reply(CommandError(40571, "Location40571",
                                            "OP_MSG requests require a $db argument"))
        name = next(iter(body), "")
        if self.server.verbose:
            log("conn %d: %s.%s" % (self.connection_id, db, name))
        try:
            return self.server.peer.run(self, db, body)
        except CommandError as exc:
            return error_reply(exc)
        except RecursionError:
            return error_reply(CommandError(15, "Overflow", "document nested too deeply"))
        except Exception as exc:  # a bug in the peer, reported like a server's internal error
            log("internal error in %s: %s: %s" % (name, type(exc).__name__, exc))
            return error_reply(CommandError(1, "InternalError", "%s: %s" % (
                type(exc).__name__, exc)))


def error_reply(exc):
    return {"ok": 0.0, "errmsg": exc.message, "code": exc.code, "codeName": exc.code_name}


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("QUARRY_MONGO_PORT", "57017")))
    parser.add_argument("--fixture", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "mongo_fixture.json"))
    parser.add_argument("--verbose", action="store_true", help="log every command")
    args = parser.parse_args()

    store = Store(args.fixture)
    server = Server(("127.0.0.1", args.port), Connection)
    server.peer = Peer(store)
    server.verbose = args.verbose

    def stop(signum, frame_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("listening on 127.0.0.1:%d (%s)" % (args.port, VERSION))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        log("stopped")


if __name__ == "__main__":
    main()

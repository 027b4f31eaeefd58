#!/usr/bin/env python3
"""Interop check of Corb's Avro single-object encoding with fastavro, an
independent Avro implementation. Driven by schemas/interop_test.go
(go test -tags integration ./schemas); usable by hand too.

  avro_interop.py --schemas schemas/avsc read FILE...
      For each FILE: check the 0xC3 0x01 marker, find the writer schema by its
      CRC-64-AVRO fingerprint (computed here from the parsing canonical form of
      every .avsc), decode the body with schemaless_reader, check nothing is
      left over, and print one JSON line:
        {"file": FILE, "name": "corb.Frame", "version": 1, "record": {...}}

  avro_interop.py --schemas schemas/avsc write OUTDIR < lines
      For each JSON line {"file", "name", "version", "record"} on stdin, encode
      the record with schemaless_writer and write the single-object encoding
      to OUTDIR/file.

The "record" JSON is neutral, not Avro JSON: timestamps are integer
microseconds since the Unix epoch, bytes are base64 strings, a union holding a
record is {"$type": full name, "value": {...}}, null is null.
"""

import argparse
import base64
import datetime
import glob
import io
import json
import os
import re
import sys

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MICROSECOND = datetime.timedelta(microseconds=1)
FILE_RE = re.compile(r"^(?P<name>.+)\.v(?P<version>\d+)\.avsc$")


def load_schemas(folder):
    """Returns {fingerprint bytes: (name, version, parsed)} and {(name, version): parsed}."""
    by_fp, by_name = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "*.avsc"))):
        m = FILE_RE.match(os.path.basename(path))
        if not m:
            raise SystemExit(f"{path}: file name is not <name>.v<N>.avsc")
        with open(path, encoding="utf-8") as f:
            parsed = parse_schema(json.load(f))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        name, version = m["name"], int(m["version"])
        if parsed["name"] != name:
            raise SystemExit(f"{path}: schema is named {parsed['name']}")
        by_fp[fp] = (name, version, parsed)
        by_name[(name, version)] = parsed
    if not by_fp:
        raise SystemExit(f"no .avsc files in {folder}")
    return by_fp, by_name


def to_neutral(v):
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // MICROSECOND
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, tuple):  # union branch holding a record (return_record_name=True)
        name, value = v
        return {"$type": name, "value": to_neutral(value)}
    if isinstance(v, dict):
        return {k: to_neutral(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_neutral(x) for x in v]
    return v


def from_neutral(v, schema):
    """Converts neutral JSON to what fastavro's writer takes, guided by the schema."""
    if isinstance(schema, list):  # union
        if v is None:
            return None
        if isinstance(v, dict) and "$type" in v:
            for branch in schema:
                if isinstance(branch, dict) and branch.get("name") == v["$type"]:
                    return (v["$type"], from_neutral(v["value"], branch))
            raise SystemExit(f"union has no branch {v['$type']}")
        non_null = [b for b in schema if b != "null"]
        return from_neutral(v, non_null[0])
    if isinstance(schema, dict):
        t = schema["type"]
        if t == "record":
            return {f["name"]: from_neutral(v[f["name"]], f["type"]) for f in schema["fields"]}
        if t == "array":
            return [from_neutral(x, schema["items"]) for x in v]
        if t == "bytes":
            return base64.b64decode(v)
        return from_neutral(v, t)  # enum symbols, logical types on long: the value as is
    if schema == "bytes":
        return base64.b64decode(v)
    return v


def read(files, by_fp):
    for path in files:
        with open(path, "rb") as f:
            b = f.read()
        if len(b) < 10 or b[:2] != MAGIC:
            raise SystemExit(f"{path}: not single-object encoded: {b[:2].hex()}")
        if b[2:10] not in by_fp:
            raise SystemExit(f"{path}: unknown fingerprint {b[2:10].hex()}")
        name, version, parsed = by_fp[b[2:10]]
        body = io.BytesIO(b[10:])
        record = fastavro.schemaless_reader(body, parsed, None, return_record_name=True)
        if body.tell() != len(b) - 10:
            raise SystemExit(f"{path}: {len(b) - 10 - body.tell()} bytes left over")
        print(json.dumps({"file": path, "name": name, "version": version,
                          "record": to_neutral(record)}, ensure_ascii=False))


def write(outdir, by_name):
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        parsed = by_name[(msg["name"], msg["version"])]
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        out = io.BytesIO()
        out.write(MAGIC + fp)
        fastavro.schemaless_writer(out, parsed, from_neutral(msg["record"], parsed))
        with open(os.path.join(outdir, msg["file"]), "wb") as f:
            f.write(out.getvalue())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--schemas", required=True, help="folder of <name>.v<N>.avsc files")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("files", nargs="+")
    w = sub.add_parser("write")
    w.add_argument("outdir")
    args = p.parse_args()
    by_fp, by_name = load_schemas(args.schemas)
    if args.cmd == "read":
        read(args.files, by_fp)
    else:
        write(args.outdir, by_name)


if __name__ == "__main__":
    main()

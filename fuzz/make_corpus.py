"""Write the seed corpus of every harness under ``fuzz/corpus/<name>/`` (small, committed).

Seeds come from the project's own synthetic generator (`stella_signals_dev.synth`) and signing
code, each wrapped in its harness's input format (`make_input`), a few valid and a few
invalid per parser. Deterministic: running it twice writes the same bytes.

    .venv/bin/python fuzz/make_corpus.py
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FUZZ = Path(__file__).resolve().parent
sys.path.insert(0, str(FUZZ))

import fuzz_bundle_archive  # noqa: E402 - after the path set-up above
import fuzz_dsse  # noqa: E402
import fuzz_timeanchor  # noqa: E402
import fuzz_trace  # noqa: E402
from _harness import fuzz_signer, gzip_wrap  # noqa: E402

from stella_signals.attest import (  # noqa: E402
    IN_TOTO_PAYLOAD_TYPE,
    runtime_trace_statement,
    sign_envelope,
    sign_runtime_trace,
    statement_bytes,
)
from stella_signals.canonical import canonical_json  # noqa: E402
from stella_signals.digests import sha256_hex  # noqa: E402
from stella_signals.timeanchor import ANCHOR_FORMAT, RFC3161_FORMAT, mint_anchor  # noqa: E402
from stella_signals.trace import parse_trace  # noqa: E402
from stella_signals_dev.synth import SynthSpec, build_graph, trace_bytes  # noqa: E402

CORPUS = FUZZ / "corpus"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SMALL = {"symbols": 12, "purls": 4, "containers": 2, "pids_per_container": 2}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def trace_seeds() -> dict[str, bytes]:
    good = trace_bytes(SynthSpec(8, seed=1, **SMALL))
    defects = {2: "duplicate_key", 3: "bad_utf8", 4: "missing_pid", 5: "naive_timestamp"}
    bad = trace_bytes(SynthSpec(6, seed=2, defects=defects, **SMALL))
    mixed = {1: "bom", 2: "crlf", 3: "blank_line", 4: "unknown_field", 5: "not_object"}
    odd = trace_bytes(SynthSpec(6, seed=3, defects=mixed, **SMALL))
    make = fuzz_trace.make_input
    return {
        "valid.ndjson": make(good),
        "valid-gzip-by-harness.ndjson": make(good, control=fuzz_trace.GZIP),
        "valid-gzip-in-input.ndjson.gz": make(gzip_wrap(good)),
        "valid-short-lines-1-byte-chunks.ndjson": make(good[:600], control=0b0000_0010),
        "defects.ndjson": make(bad, control=0b0010_0000),
        "bom-crlf-unknown.ndjson": make(odd, control=0b0011_1000),
        "escapes.ndjson": make(good.replace(b"pkg:", b"pkg\\u003a", 2)),
        "truncated-gzip.ndjson.gz": make(gzip_wrap(good)[:-9]),
        "empty.ndjson": make(b"\n\n"),
    }


def graph_seeds() -> dict[str, bytes]:
    doc = build_graph(SynthSpec(0, seed=4, **SMALL))
    doc["nodes"], doc["edges"] = doc["nodes"][:6], doc["edges"][:6]
    known = {node["id"] for node in doc["nodes"]}
    doc["edges"] = [e for e in doc["edges"] if e["from"] in known and e["to"] in known]
    doc["roots"] = [{"id": doc["nodes"][0]["id"], "phase": "runtime", "source": "main"}]
    aliased = json.loads(_json(doc))
    for edge in aliased["edges"]:
        edge["sourceId"], edge["targetId"] = edge.pop("from"), edge.pop("to")
    aliased["graph_hash"] = "blake3:" + "0" * 64
    dangling = json.loads(_json(doc))
    dangling["edges"].append({"from": "nope", "to": doc["nodes"][0]["id"], "confidence": 2})
    return {
        "valid.json": _json(doc),
        "valid-indented.json": json.dumps(doc, indent=1).encode(),
        "aliases-and-claimed-hash.json": _json(aliased),
        "dangling-edge.json": _json(dangling),
        "duplicate-key.json": _json(doc)[:-1] + b',"schema":"richgraph-v1"}',
        "big-number-and-escape.json": _json(doc)[:-1] + b',"x":1e300,"y":"\\ud800"}',
    }


def cgraph_seeds() -> dict[str, bytes]:
    """`fuzz_cgraph`'s inputs: control byte 0 and a graph document; control byte 1, a JSON
    array of node ids, a newline and an edges array."""
    seeds = {f"doc-{name}": b"\x00" + data for name, data in graph_seeds().items()}
    doc = build_graph(SynthSpec(0, seed=4, **SMALL))
    ids = _json(sorted(node["id"] for node in doc["nodes"]))
    seeds["scan-edges.json"] = b"\x01" + ids + b"\n" + _json(doc["edges"])
    odd = [
        {"to": doc["nodes"][0]["id"], "from": doc["nodes"][1]["id"], "evidence": [{"k": "]"}]},
        {"from": doc["nodes"][0]["id"], "to": doc["nodes"][0]["id"], "confidence": 1e-7},
        {"from": doc["nodes"][1]["id"], "to": "unknown", "kind": "call"},
    ]
    seeds["scan-odd.json"] = b"\x01" + ids + b"\n" + json.dumps(odd, indent=1).encode()
    return seeds


def symbols_seeds() -> dict[str, bytes]:
    entry = {
        "image_digest": "sha256:" + "a" * 64,
        "component": "libssl",
        "build_id": "0a1b",
        "file": "usr/lib/debug/x.debug",
        "format": "elf-debug",
        "arch": "x86_64",
        "size": 4096,
        "sha256": "1" * 64,
        "source": {"kind": "ci", "pipeline": "build-42"},
    }
    second = dict(entry, build_id="9c8b", file="App.pdb", format="pdb", source={"kind": "vendor"})
    doc = {
        "schema": "SYMBOL_MANIFEST/v1",
        "generated_at": "2025-11-26T20:23:28+02:00",
        "generator": "stella-symbols 1.4.0",
        "tenant": "acme",
        "entries": [entry, second],
        "x-note": [1, 2.5, None],
    }
    return {
        "valid.json": _json(doc),
        "unsorted.json": _json(dict(doc, entries=[second, entry])),
        "other-tenant.json": _json(dict(doc, tenant="globex")),
        "bad-entry.json": _json(dict(doc, entries=[dict(entry, file="../x", size=-1)])),
        "not-json.json": b'{"schema": "SYMBOL_MANIFEST/v1", ',
    }


def dsse_seeds() -> dict[str, bytes]:
    trace = trace_bytes(SynthSpec(4, seed=5, **SMALL))
    report = parse_trace([trace])
    statement = runtime_trace_statement(
        file_name="runtime-trace.ndjson", report=report, tenant="acme", graph_hash=None
    )
    signed = sign_runtime_trace(statement=statement, signers=[fuzz_signer()]).to_json()
    document = json.loads(signed)
    url_safe = dict(document, payload=document["payload"].replace("+", "-").replace("/", "_"))
    unsigned = dict(document, signatures=[])
    make = fuzz_dsse.make_input
    return {
        "signed-statement.json": make(signed),
        "url-safe-unpadded.json": make(_json(url_safe).replace(b"=", b"")),
        "no-signatures.json": make(_json(unsigned)),
        "statement-to-sign.json": make(statement_bytes(statement), sign=True),
        "other-payload-type.json": make(
            sign_envelope(b"{}", "text/plain", [fuzz_signer()]).to_json()
        ),
        "not-json.json": make(b'{"payload": "AAA', sign=False),
    }


def _tar(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _bundle_manifest(files: Mapping[str, bytes]) -> bytes:
    return _json(
        {
            "schema": "stella.reach.runtime-bundle/v1",
            "tenant": "acme",
            "graph_hash": "blake3:" + "b" * 64,
            "generated_at": "2026-01-01T00:00:00Z",
            "files": [
                {"path": path, "sha256": sha256_hex(data), "size": len(data)}
                for path, data in sorted(files.items())
            ],
        }
    )


def _bundle_files() -> dict[str, bytes]:
    return {"runtime-trace.ndjson.gz": gzip_wrap(trace_bytes(SynthSpec(3, seed=6, **SMALL)))}


def bundle_manifest_seeds() -> dict[str, bytes]:
    files = _bundle_files()
    good = json.loads(_bundle_manifest(files))
    nested = dict(good, files=[dict(good["files"][0], path="sub/dir/trace.gz")])
    return {
        "valid.json": _json(good),
        "nested-path.json": _json(nested),
        "dot-dot.json": _json(dict(good, files=[dict(good["files"][0], path="../x")])),
        "wrong-schema.json": _json(dict(good, schema="v0")),
        "bad-sha.json": _json(dict(good, files=[dict(good["files"][0], sha256="XY")])),
    }


def bundle_archive_seeds() -> dict[str, bytes]:
    files = _bundle_files()
    files["manifest.json"] = _bundle_manifest(files)
    tar = _tar(files)
    make = fuzz_bundle_archive.make_input
    return {
        "valid.tar.gz": make(gzip_wrap(tar)),
        "valid-tar-to-wrap.tar": make(tar, wrap=True),
        "dot-dot-entry.tar": make(_tar({"../evil": b"x"}), wrap=True),
        "truncated.tar.gz": make(gzip_wrap(tar)[:-20]),
    }


def timeanchor_seeds() -> dict[str, bytes]:
    signer = fuzz_signer()
    good = mint_anchor(
        anchor_time=T0, source="roughtime:a", counter=7, valid_for_seconds=86400, signer=signer
    )
    rfc3161 = mint_anchor(
        anchor_time=T0,
        source="tsa.example",
        counter=9,
        valid_for_seconds=3600,
        signer=signer,
        format=RFC3161_FORMAT,
        token_digest="sha256:" + "c" * 64,
    )
    claims = {
        "anchor_time": "2026-01-01T00:00:00.5Z",
        "counter": 3,
        "format": ANCHOR_FORMAT,
        "source": "gps",
        "token_digest": None,
        "valid_for_seconds": 60,
    }
    make = fuzz_timeanchor.make_input
    return {
        "valid.json": make(good),
        "valid-replayed.json": make(good, last_counter=True),
        "valid-rfc3161.json": make(rfc3161),
        "claims-to-sign.json": make(canonical_json(claims), sign=True),
        "claims-not-canonical.json": make(json.dumps(claims).encode(), sign=True),
        "wrong-payload-type.json": make(
            sign_envelope(canonical_json(claims), IN_TOTO_PAYLOAD_TYPE, [signer]).to_json()
        ),
    }


SEEDS = {
    "trace": trace_seeds,
    "ctrace": trace_seeds,  # the same input format (fuzz_ctrace.make_input)
    "graph": graph_seeds,
    "cgraph": cgraph_seeds,  # control-byte-led (fuzz_cgraph)
    "symbols": symbols_seeds,
    "dsse": dsse_seeds,
    "bundle_manifest": bundle_manifest_seeds,
    "bundle_archive": bundle_archive_seeds,
    "timeanchor": timeanchor_seeds,
}


def write_corpus(root: Path = CORPUS) -> int:
    """(Re)write every seed directory; returns the total size in bytes."""
    total = 0
    for name, make in SEEDS.items():
        directory = root / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for file_name, data in make().items():
            (directory / file_name).write_bytes(data)
            total += len(data)
    return total


if __name__ == "__main__":
    print(f"wrote {write_corpus()} bytes of seeds under {CORPUS}")

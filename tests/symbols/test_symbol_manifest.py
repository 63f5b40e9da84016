"""Runbook §5, "Missing symbols: ensure symbol manifest ingested" — the manifest gate (SPEC §4).

A manifest is accepted whole or refused with every problem named by JSON pointer and reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from stella_signals.errors import InvalidInput, LimitExceeded
from stella_signals.symbols import (
    MAX_PROBLEMS,
    InvalidSymbolManifest,
    ManifestProblem,
    ManifestReason,
    SourceKind,
    SymbolEntry,
    SymbolFormat,
    SymbolManifest,
    check_symbol_manifest,
    json_pointer,
    parse_symbol_manifest,
)
from stella_signals.tenancy import TenantId

ACME = TenantId("acme")
IMAGE = "sha256:" + "a" * 64
Doc = dict[str, Any]


def valid_manifest() -> Doc:
    """Three entries, one per format, sorted by (build_id, file)."""
    return {
        "schema": "SYMBOL_MANIFEST/v1",
        "generated_at": "2025-11-26T20:23:28+02:00",
        "generator": "stella-symbols 1.4.0",
        "tenant": "acme",
        "entries": [
            {
                "image_digest": IMAGE,
                "component": "libssl",
                "build_id": "0a1b2c3d",
                "file": "usr/lib/debug/.build-id/0a/1b2c3d.debug",
                "format": "elf-debug",
                "arch": "x86_64",
                "size": 1048576,
                "sha256": "1" * 64,
                "source": {"kind": "ci", "pipeline": "build-42"},
            },
            {
                "image_digest": IMAGE,
                "build_id": "5F2D7E3C4B1A",
                "file": "app.pdb",
                "format": "pdb",
                "arch": "amd64",
                "size": 0,
                "sha256": "2" * 64,
                "source": {"kind": "vendor", "vendor": "Contoso"},
            },
            {
                "image_digest": IMAGE,
                "build_id": "9c8b7a6d",
                "file": "App.app.dSYM/Contents/Resources/DWARF/App",
                "format": "dsym",
                "arch": "arm64",
                "size": 4096,
                "sha256": "3" * 64,
                "source": {"kind": "runtime-capture"},
            },
        ],
    }


def encode(doc: object) -> bytes:
    return json.dumps(doc).encode()


def problems_of(data: bytes, *, tenant: TenantId = ACME) -> list[tuple[str, str]]:
    report = check_symbol_manifest(data, tenant=tenant)
    return [(p.pointer, str(p.reason)) for p in report.problems]


# -- a good manifest ingests ------------------------------------------------------------------


def test_valid_manifest_is_ingested_whole() -> None:
    manifest = parse_symbol_manifest(encode(valid_manifest()), tenant=ACME)

    assert manifest.schema == "SYMBOL_MANIFEST/v1"
    assert manifest.generated_at == datetime(2025, 11, 26, 18, 23, 28, tzinfo=UTC)
    assert manifest.generated_at.tzinfo is UTC
    assert manifest.tenant == "acme"
    assert manifest.generator == "stella-symbols 1.4.0"
    assert [e.format for e in manifest.entries] == [
        SymbolFormat.ELF_DEBUG,
        SymbolFormat.PDB,
        SymbolFormat.DSYM,
    ]
    first, second, _ = manifest.entries
    assert first.component == "libssl"
    assert second.component is None
    assert first.source_kind is SourceKind.CI
    assert first.source == {"kind": "ci", "pipeline": "build-42"}
    assert first.key == ("0a1b2c3d", "usr/lib/debug/.build-id/0a/1b2c3d.debug")


def test_round_trip_through_to_dict_gives_the_same_manifest() -> None:
    doc = valid_manifest()
    manifest = parse_symbol_manifest(encode(doc), tenant=ACME)

    again = parse_symbol_manifest(encode(manifest.to_dict()), tenant=ACME)

    assert again == manifest
    assert manifest.to_dict()["entries"] == doc["entries"]
    assert manifest.to_dict()["generated_at"] == "2025-11-26T18:23:28Z"


def test_check_face_reports_without_raising() -> None:
    good = check_symbol_manifest(encode(valid_manifest()), tenant=ACME)
    bad = check_symbol_manifest(b"[]", tenant=ACME)

    assert good.valid and good.problems == () and good.problem_count == 0
    assert not bad.valid and bad.manifest is None
    assert bad.problems == (
        ManifestProblem("", "not_an_object", "a symbol manifest is a JSON object, got array"),
    )


def test_an_empty_entry_list_is_a_valid_manifest() -> None:
    doc = valid_manifest()
    doc["entries"] = []

    assert parse_symbol_manifest(encode(doc), tenant=ACME).entries == ()


def test_entries_compare_in_code_point_order_not_case_folded() -> None:
    doc = valid_manifest()
    # "B" (U+0042) sorts before "a" (U+0061): this order is correct in code points.
    doc["entries"][0]["build_id"] = "B"
    doc["entries"][1]["build_id"] = "a"
    doc["entries"][2]["build_id"] = "é"

    assert check_symbol_manifest(encode(doc), tenant=ACME).valid


def test_same_build_id_sorts_by_file() -> None:
    doc = valid_manifest()
    for entry, name in zip(doc["entries"], ["a.debug", "b.debug", "c.debug"], strict=True):
        entry["build_id"] = "0a1b2c3d"
        entry["file"] = name

    assert check_symbol_manifest(encode(doc), tenant=ACME).valid


@pytest.mark.parametrize(
    "stamp",
    ["2025-11-26T20:23:28Z", "2025-11-26t20:23:28.123456789z", "2025-11-26T20:23:28-05:30"],
)
def test_generated_at_accepts_rfc3339_with_zone(stamp: str) -> None:
    doc = valid_manifest()
    doc["generated_at"] = stamp

    assert parse_symbol_manifest(encode(doc), tenant=ACME).generated_at.tzinfo is UTC


# -- broken manifests are refused, each for a named reason ------------------------------------

Mutation = Callable[[Doc], object]


def setting(pointer: str, value: object) -> Mutation:
    """Set the value at a simple JSON pointer (no escapes) of the valid manifest."""
    *path, last = pointer.strip("/").split("/")

    def mutate(doc: Doc) -> Doc:
        node: Any = doc
        for token in path:
            node = node[int(token)] if isinstance(node, list) else node[token]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return doc

    return mutate


def deleting(pointer: str) -> Mutation:
    *path, last = pointer.strip("/").split("/")

    def mutate(doc: Doc) -> Doc:
        node: Any = doc
        for token in path:
            node = node[int(token)] if isinstance(node, list) else node[token]
        del node[last]
        return doc

    return mutate


def raw(data: bytes) -> Mutation:
    return lambda _doc: data


def swap_first_two(doc: Doc) -> Doc:
    entries = doc["entries"]
    entries[0], entries[1] = entries[1], entries[0]
    return doc


def repeat_first_entry(doc: Doc) -> Doc:
    doc["entries"].insert(1, copy.deepcopy(doc["entries"][0]))
    return doc


def duplicate_sha256_key(doc: Doc) -> bytes:
    text = encode(doc).decode()
    return text.replace('"sha256": "1111', '"sha256": "x", "sha256": "1111', 1).encode()


def duplicate_escaped_key(doc: Doc) -> bytes:
    return encode(doc).replace(b"{", b'{"a/b~c": 1, "a/b~c": 2, ', 1)


BROKEN: list[Any] = [
    pytest.param(raw(b'{"schema": "SYMBOL_MANIFEST/v1",'), "", "invalid_json", id="truncated-json"),
    pytest.param(raw(b"\xff\xfe{}"), "", "invalid_json", id="not-utf8"),
    pytest.param(setting("/entries/0/size", float("nan")), "", "invalid_json", id="nan-size"),
    pytest.param(raw(b'["SYMBOL_MANIFEST/v1"]'), "", "not_an_object", id="top-level-array"),
    pytest.param(duplicate_sha256_key, "/entries/0/sha256", "duplicate_key", id="dup-key"),
    pytest.param(duplicate_escaped_key, "/a~1b~0c", "duplicate_key", id="dup-key-escaped"),
    pytest.param(deleting("/schema"), "/schema", "missing_field", id="no-schema"),
    pytest.param(setting("/schema", "SYMBOL_MANIFEST/v2"), "/schema", "wrong_schema", id="v2"),
    pytest.param(
        setting("/schema", "symbol_manifest/v1"), "/schema", "wrong_schema", id="schema-case"
    ),
    pytest.param(setting("/schema", 1), "/schema", "wrong_type", id="schema-number"),
    pytest.param(setting("/schema", None), "/schema", "wrong_type", id="schema-null"),
    pytest.param(
        setting("/generated_at", "2025-11-26T20:23:28"),
        "/generated_at",
        "invalid_timestamp",
        id="naive-time",
    ),
    pytest.param(
        setting("/generated_at", "2025-11-26"), "/generated_at", "invalid_timestamp", id="date"
    ),
    pytest.param(
        setting("/generated_at", "2025-02-30T00:00:00Z"),
        "/generated_at",
        "invalid_timestamp",
        id="feb-30",
    ),
    pytest.param(
        setting("/generated_at", "2025-11-26 20:23:28Z"),
        "/generated_at",
        "invalid_timestamp",
        id="space-separator",
    ),
    pytest.param(
        setting("/generated_at", 1764181408), "/generated_at", "wrong_type", id="epoch-number"
    ),
    pytest.param(deleting("/generator"), "/generator", "missing_field", id="no-generator"),
    pytest.param(setting("/generator", ""), "/generator", "empty_field", id="empty-generator"),
    pytest.param(
        setting("/generated_at", "2025-11-26T20:23:28+24:00"),
        "/generated_at",
        "invalid_timestamp",
        id="offset-24h",
    ),
    pytest.param(deleting("/tenant"), "/tenant", "missing_field", id="no-tenant"),
    pytest.param(setting("/tenant", ["acme"]), "/tenant", "wrong_type", id="tenant-array"),
    pytest.param(setting("/tenant", "Acme"), "/tenant", "invalid_tenant", id="tenant-upper"),
    pytest.param(setting("/tenant", "-acme"), "/tenant", "invalid_tenant", id="tenant-dash"),
    pytest.param(setting("/tenant", "globex"), "/tenant", "tenant_mismatch", id="other-tenant"),
    pytest.param(deleting("/entries"), "/entries", "missing_field", id="no-entries"),
    pytest.param(setting("/entries", {}), "/entries", "wrong_type", id="entries-object"),
    pytest.param(setting("/entries/1", "app.pdb"), "/entries/1", "not_an_object", id="entry-str"),
    pytest.param(
        deleting("/entries/0/build_id"), "/entries/0/build_id", "missing_field", id="no-build-id"
    ),
    pytest.param(
        setting("/entries/0/build_id", ""), "/entries/0/build_id", "empty_field", id="empty-bid"
    ),
    pytest.param(setting("/entries/1/arch", ""), "/entries/1/arch", "empty_field", id="empty-arch"),
    pytest.param(setting("/entries/2/file", ""), "/entries/2/file", "empty_field", id="empty-file"),
    pytest.param(
        setting("/entries/0/component", 7), "/entries/0/component", "wrong_type", id="component"
    ),
    pytest.param(
        setting("/entries/0/build_id", 0x0A1B), "/entries/0/build_id", "wrong_type", id="bid-int"
    ),
    pytest.param(
        setting("/entries/0/image_digest", None),
        "/entries/0/image_digest",
        "wrong_type",
        id="image-digest-null",
    ),
    pytest.param(setting("/entries/1/sha256", 2), "/entries/1/sha256", "wrong_type", id="sha-int"),
    pytest.param(setting("/entries/0/format", 1), "/entries/0/format", "wrong_type", id="fmt-int"),
    pytest.param(
        setting("/entries/0/image_digest", "a" * 64),
        "/entries/0/image_digest",
        "invalid_digest",
        id="image-digest-bare-hex",
    ),
    pytest.param(
        setting("/entries/0/image_digest", "sha256:" + "A" * 64),
        "/entries/0/image_digest",
        "invalid_digest",
        id="image-digest-uppercase",
    ),
    pytest.param(
        setting("/entries/0/image_digest", "sha512:" + "a" * 64),
        "/entries/0/image_digest",
        "invalid_digest",
        id="image-digest-sha512",
    ),
    pytest.param(
        setting("/entries/1/sha256", "sha256:" + "2" * 64),
        "/entries/1/sha256",
        "invalid_digest",
        id="sha256-prefixed",
    ),
    pytest.param(
        setting("/entries/1/sha256", "2" * 63), "/entries/1/sha256", "invalid_digest", id="short"
    ),
    pytest.param(
        setting("/entries/0/format", "elf"), "/entries/0/format", "invalid_format", id="elf"
    ),
    pytest.param(
        setting("/entries/2/format", "DSYM"), "/entries/2/format", "invalid_format", id="DSYM"
    ),
    pytest.param(
        setting("/entries/0/size", -1), "/entries/0/size", "out_of_range", id="negative-size"
    ),
    pytest.param(
        setting("/entries/0/size", 2**63), "/entries/0/size", "out_of_range", id="huge-size"
    ),
    pytest.param(setting("/entries/0/size", True), "/entries/0/size", "wrong_type", id="bool"),
    pytest.param(setting("/entries/0/size", 1.5), "/entries/0/size", "wrong_type", id="float"),
    pytest.param(setting("/entries/0/size", "1"), "/entries/0/size", "wrong_type", id="str-size"),
    pytest.param(
        setting("/entries/0/source", "ci"), "/entries/0/source", "wrong_type", id="source-str"
    ),
    pytest.param(
        setting("/entries/0/source", {"pipeline": "build-42"}),
        "/entries/0/source/kind",
        "missing_field",
        id="source-without-kind",
    ),
    pytest.param(
        setting("/entries/1/source/kind", "manual"),
        "/entries/1/source/kind",
        "invalid_source_kind",
        id="source-kind-manual",
    ),
    pytest.param(
        setting("/entries/1/source/kind", ["ci"]),
        "/entries/1/source/kind",
        "wrong_type",
        id="source-kind-array",
    ),
    pytest.param(
        setting("/entries/2/file", "/usr/lib/debug/app.debug"),
        "/entries/2/file",
        "path_not_allowed",
        id="absolute-path",
    ),
    pytest.param(
        setting("/entries/2/file", "C:/symbols/app.pdb"),
        "/entries/2/file",
        "path_not_allowed",
        id="drive-path",
    ),
    pytest.param(
        setting("/entries/2/file", "dsym/../../etc/passwd"),
        "/entries/2/file",
        "path_not_allowed",
        id="dot-dot",
    ),
    pytest.param(
        setting("/entries/2/file", "symbols\\app.pdb"),
        "/entries/2/file",
        "path_not_allowed",
        id="backslash",
    ),
    pytest.param(swap_first_two, "/entries/1", "unsorted_entries", id="unsorted"),
    pytest.param(repeat_first_entry, "/entries/1", "duplicate_entry", id="duplicate-entry"),
]


@pytest.mark.parametrize(("mutate", "pointer", "reason"), BROKEN)
def test_broken_manifest_is_refused_for_one_named_reason(
    mutate: Mutation, pointer: str, reason: str
) -> None:
    result = mutate(valid_manifest())
    data = result if isinstance(result, bytes) else encode(result)

    assert problems_of(data) == [(pointer, reason)]
    with pytest.raises(InvalidSymbolManifest) as caught:
        parse_symbol_manifest(data, tenant=ACME)
    assert caught.value.reason == "schema_invalid"
    assert [(p.pointer, p.reason) for p in caught.value.problems] == [(pointer, reason)]


def test_the_table_covers_every_reason_code() -> None:
    covered = {param.values[2] for param in BROKEN}
    assert covered == {reason.value for reason in ManifestReason}
    assert len(BROKEN) >= 20


# -- operators see every problem at once ------------------------------------------------------


def test_all_problems_are_reported_together() -> None:
    doc = valid_manifest()
    doc["schema"] = "SYMBOL_MANIFEST/v0"
    doc["tenant"] = "globex"
    doc["entries"][0]["sha256"] = "nope"
    doc["entries"][1]["format"] = "coff"
    del doc["entries"][2]["arch"]

    report = check_symbol_manifest(encode(doc), tenant=ACME)

    assert [(p.pointer, p.reason) for p in report.problems] == [
        ("/schema", "wrong_schema"),
        ("/tenant", "tenant_mismatch"),
        ("/entries/0/sha256", "invalid_digest"),
        ("/entries/1/format", "invalid_format"),
        ("/entries/2/arch", "missing_field"),
    ]
    assert report.problem_count == 5
    with pytest.raises(InvalidSymbolManifest, match="5 problem"):
        report.raise_for_problems()


def test_problems_are_capped_but_counted() -> None:
    doc = valid_manifest()
    entry = doc["entries"][0]
    doc["entries"] = [dict(entry, build_id=f"{i:04d}", sha256="bad") for i in range(150)]

    report = check_symbol_manifest(encode(doc), tenant=ACME)

    assert len(report.problems) == MAX_PROBLEMS
    assert report.problem_count == 150
    assert report.problems[-1].pointer == "/entries/99/sha256"


def test_duplicate_keys_are_all_named() -> None:
    data = b'{"tenant": "acme", "tenant": "globex", "entries": [{"file": 1, "file": 2}]}'

    assert problems_of(data) == [("/tenant", "duplicate_key"), ("/entries/0/file", "duplicate_key")]


def test_duplicate_key_before_a_syntax_error_still_names_the_duplicate() -> None:
    assert problems_of(b'[{"a": 1, "a": 2}, ]') == [("", "duplicate_key")]


def test_problems_render_for_operators_and_the_api() -> None:
    (problem,) = check_symbol_manifest(b"7", tenant=ACME).problems

    assert (
        str(problem) == "(document): not_an_object: a symbol manifest is a JSON object, got number"
    )
    assert problem.to_dict() == {
        "line": None,  # SPEC §6's {line, field, reason}; the document as a whole
        "field": None,
        "reason": "not_an_object",
        "pointer": "",
        "message": "a symbol manifest is a JSON object, got number",
    }


def test_deep_nesting_is_invalid_json_not_a_crash() -> None:
    assert problems_of(b"[" * 100_000 + b"]" * 100_000) == [("", "invalid_json")]


# -- the tenant gate --------------------------------------------------------------------------


def test_manifest_for_another_tenant_is_refused() -> None:
    data = encode(valid_manifest())

    with pytest.raises(InvalidSymbolManifest) as caught:
        parse_symbol_manifest(data, tenant=TenantId("globex"))

    assert isinstance(caught.value, InvalidInput)
    (problem,) = caught.value.problems
    assert (problem.pointer, problem.reason) == ("/tenant", "tenant_mismatch")
    assert "acme" in problem.message and "globex" in problem.message
    assert parse_symbol_manifest(data, tenant=ACME).tenant == ACME


# -- unknown fields are kept ------------------------------------------------------------------


def test_unknown_fields_are_kept_read_only() -> None:
    doc = valid_manifest()
    doc["x-build"] = {"run": 42, "tags": ["nightly"]}
    doc["entries"][0]["debuglink"] = "libssl.so.3.debug"
    doc["entries"][0]["source"]["attestation"] = {"uri": "cas://x"}

    manifest = parse_symbol_manifest(encode(doc), tenant=ACME)

    assert manifest.extra == {"x-build": {"run": 42, "tags": ("nightly",)}}
    entry = manifest.entries[0]
    assert entry.extra == {"debuglink": "libssl.so.3.debug"}
    assert entry.source["attestation"] == {"uri": "cas://x"}
    with pytest.raises(TypeError):
        entry.source["kind"] = "vendor"  # type: ignore[index]
    with pytest.raises(TypeError):
        manifest.extra["x-build"]["run"] = 0
    assert manifest.to_dict() == dict(doc, generated_at="2025-11-26T18:23:28Z")


# -- limits -----------------------------------------------------------------------------------


def test_oversized_manifest_is_refused_before_parsing() -> None:
    data = encode(valid_manifest())

    with pytest.raises(LimitExceeded) as caught:
        parse_symbol_manifest(data, tenant=ACME, max_bytes=len(data) - 1)

    assert caught.value.limit == "max_symbol_manifest_bytes"
    assert caught.value.reason == "too_large"
    with pytest.raises(LimitExceeded):
        check_symbol_manifest(b"not even json" * 10, tenant=ACME, max_bytes=16)
    assert parse_symbol_manifest(data, tenant=ACME, max_bytes=len(data)).entries


# -- models are valid by construction ---------------------------------------------------------


def test_entries_built_in_code_are_checked_too() -> None:
    good = parse_symbol_manifest(encode(valid_manifest()), tenant=ACME).entries[0]

    with pytest.raises(InvalidSymbolManifest) as caught:
        SymbolEntry(
            image_digest=good.image_digest,
            component=None,
            build_id="",
            file="../x",
            format=SymbolFormat.PDB,
            arch="x86_64",
            size=1,
            sha256=good.sha256,
            source={"kind": "ci"},
        )
    assert [(p.pointer, p.reason) for p in caught.value.problems] == [
        ("/build_id", "empty_field"),
        ("/file", "path_not_allowed"),
    ]


def test_manifest_built_in_code_keeps_the_order_rule() -> None:
    manifest = parse_symbol_manifest(encode(valid_manifest()), tenant=ACME)

    with pytest.raises(InvalidSymbolManifest) as caught:
        SymbolManifest(
            generated_at=manifest.generated_at,
            generator="g",
            tenant=ACME,
            entries=tuple(reversed(manifest.entries)),
        )
    assert [(p.pointer, p.reason) for p in caught.value.problems] == [
        ("/entries/1", "unsorted_entries")
    ]


def test_manifest_built_in_code_checks_its_fields() -> None:
    with pytest.raises(InvalidSymbolManifest) as caught:
        SymbolManifest(
            schema="SYMBOL_MANIFEST/v2",
            generated_at=datetime(2025, 11, 26),  # naive on purpose
            generator="",
            tenant=TenantId("Acme"),
            entries=(),
        )
    assert [(p.pointer, p.reason) for p in caught.value.problems] == [
        ("/schema", "wrong_schema"),
        ("/generated_at", "invalid_timestamp"),
        ("/generator", "empty_field"),
        ("/tenant", "invalid_tenant"),
    ]


def test_json_pointer_escapes_tilde_before_slash() -> None:
    assert json_pointer("entries", 3, "sha256") == "/entries/3/sha256"
    assert json_pointer("a/b", "~1") == "/a~1b/~01"
    assert json_pointer() == ""

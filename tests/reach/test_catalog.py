"""`stella.vuln-catalog/v1` (SPEC §15): strict parsing, normalisation, the digest, and every
refusal naming its field (JSON pointer) and reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stella_signals.canonical import canonical_json
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidInput, LimitExceeded
from stella_signals.reach import (
    CatalogEntry,
    InvalidCatalog,
    catalog_document,
    check_catalog,
    parse_catalog,
)

ENTRY = {
    "vuln_id": "GHSA-1",
    "aliases": ["CVE-2026-2", "CVE-2026-1"],
    "package": "pkg:pypi/Foo_Bar",
    "affected": ">=1.0, <2.0",
    "fixed": ["2.0.0", "1.9.post1"],
    "symbols": ["foo.bar:Client.send", "foo:"],
}


def doc(*entries: dict[str, Any], **top: Any) -> bytes:
    body: dict[str, Any] = {"schema": "stella.vuln-catalog/v1", "entries": list(entries)}
    body.update(top)
    return json.dumps(body).encode()


def problems(data: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(data)
    assert isinstance(caught.value, InvalidInput) and caught.value.reason == "schema_invalid"
    return [(p.pointer, p.reason) for p in caught.value.problems]


def test_a_catalog_is_parsed_and_normalised() -> None:
    catalog = parse_catalog(doc(ENTRY, {"vuln_id": "A", "package": "pkg:pypi/x", "affected": ""}))
    assert catalog.entries == (
        CatalogEntry("A", "pkg:pypi/x", ""),
        CatalogEntry(
            vuln_id="GHSA-1",
            package="pkg:pypi/foo-bar",
            affected="<2.0,>=1.0",
            aliases=("CVE-2026-1", "CVE-2026-2"),
            fixed=("1.9.post1", "2.0.0"),
            symbols=("foo.bar:Client.send", "foo:"),
        ),
    )
    expected = canonical_json(catalog_document(catalog))
    assert catalog.digest == "sha256:" + sha256_hex(expected)


def test_the_digest_ignores_order_and_spelling_but_not_meaning() -> None:
    a = parse_catalog(doc(ENTRY, {"vuln_id": "A", "package": "pkg:pypi/x", "affected": ""}))
    respelt = dict(ENTRY, package="pkg:pypi/foo.bar", affected="<2.0,>=1.0",
                   aliases=list(reversed(ENTRY["aliases"])))  # fmt: skip
    b = parse_catalog(doc({"vuln_id": "A", "package": "pkg:pypi/x", "affected": ""}, respelt))
    assert a.digest == b.digest
    c = parse_catalog(doc(dict(ENTRY, affected=">=1.0,<2.1")))
    assert c.digest != parse_catalog(doc(ENTRY)).digest


def test_repeated_vuln_and_package_are_a_union_but_an_exact_repeat_is_refused() -> None:
    twice = parse_catalog(doc(ENTRY, dict(ENTRY, affected=">=3,<3.2")))
    assert [e.affected for e in twice.entries] == ["<2.0,>=1.0", "<3.2,>=3"]
    assert problems(doc(ENTRY, dict(ENTRY, affected="<2.0,>=1.0"))) == [
        ("/entries/1", "duplicate_entry")
    ]


@pytest.mark.parametrize(
    ("change", "pointer", "reason"),
    [
        ({"package": "pkg:npm/foo"}, "/entries/0/package", "invalid_package"),
        ({"package": "pkg:pypi/foo@1.0"}, "/entries/0/package", "invalid_package"),
        ({"package": "pkg:pypi/-foo"}, "/entries/0/package", "invalid_package"),
        ({"affected": "~=1"}, "/entries/0/affected", "invalid_specifier"),
        ({"affected": ">=one"}, "/entries/0/affected", "invalid_specifier"),
        ({"affected": 3}, "/entries/0/affected", "wrong_type"),
        ({"fixed": ["2.0", "banana"]}, "/entries/0/fixed/1", "invalid_version"),
        ({"fixed": "2.0"}, "/entries/0/fixed", "wrong_type"),
        ({"symbols": ["foo.bar"]}, "/entries/0/symbols/0", "invalid_symbol"),
        ({"symbols": ["foo:bar baz"]}, "/entries/0/symbols/0", "invalid_symbol"),
        ({"symbols": [":f"]}, "/entries/0/symbols/0", "invalid_symbol"),
        ({"symbols": ["foo:f.<locals>.g"]}, "/entries/0/symbols/0", "invalid_symbol"),
        ({"aliases": [None]}, "/entries/0/aliases/0", "wrong_type"),
        ({"vuln_id": ""}, "/entries/0/vuln_id", "empty_field"),
        ({"vuln_id": 7}, "/entries/0/vuln_id", "wrong_type"),
        ({"severity": "high"}, "/entries/0/severity", "unknown_field"),
    ],
)
def test_a_bad_entry_names_its_field_and_reason(
    change: dict[str, Any], pointer: str, reason: str
) -> None:
    assert problems(doc(dict(ENTRY, **change))) == [(pointer, reason)]


@pytest.mark.parametrize("field", ["vuln_id", "package", "affected"])
def test_required_entry_fields(field: str) -> None:
    entry = {k: v for k, v in ENTRY.items() if k != field}
    assert problems(doc(entry)) == [(f"/entries/0/{field}", "missing_field")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"schema": "stella.vuln-catalog/v1", "entries": [], "schema": "x"}',
         [("/schema", "duplicate_key")]),
        (b'{"schema": "stella.vuln-catalog/v1", "entries": [{"vuln_id": "a", "vuln_id": "b"}]}',
         [("/entries/0/vuln_id", "duplicate_key")]),
        (b"{not json", [("", "invalid_json")]),
        (b'{"schema": "stella.vuln-catalog/v1", "entries": [NaN]}', [("", "invalid_json")]),
        (b"[]", [("", "not_an_object")]),
        (doc(schema="stella.vuln-catalog/v2"), [("/schema", "wrong_schema")]),
        (b'{"entries": []}', [("/schema", "missing_field")]),
        (doc(extra=1), [("/extra", "unknown_field")]),
        (b'{"schema": "stella.vuln-catalog/v1", "entries": {}}', [("/entries", "wrong_type")]),
        (doc("x"), [("/entries/0", "not_an_object")]),
    ],
)  # fmt: skip
def test_bad_documents(data: bytes, expected: list[tuple[str, str]]) -> None:
    assert problems(data) == expected


def test_invalid_json_says_where() -> None:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(b'{"schema": "stella.vuln-catalog/v1",\n "entries": [,]}')
    assert "line 2" in caught.value.problems[0].message


def test_every_problem_is_reported_not_only_the_first() -> None:
    bad = [dict(ENTRY, affected="nope"), dict(ENTRY, package="x", symbols=["?"])]
    catalog, found, total = check_catalog(doc(*bad))
    assert catalog is None and total == 3
    assert [(p.pointer, p.reason) for p in found] == [
        ("/entries/0/affected", "invalid_specifier"),
        ("/entries/1/package", "invalid_package"),
        ("/entries/1/symbols/0", "invalid_symbol"),
    ]
    assert found[0].to_dict()["field"] == "/entries/0/affected"


def test_size_limit() -> None:
    with pytest.raises(LimitExceeded) as caught:
        parse_catalog(doc(ENTRY), max_bytes=10)
    assert caught.value.limit == "max_catalog_bytes"

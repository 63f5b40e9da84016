"""OSV records → catalog (`import_osv`, `stella vuln import-osv`): ranges as PEP 440
specifier sets (one entry per interval), both symbol conventions, skipped ecosystems, and bad
records named by file, record and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from typer.testing import CliRunner

from stella_signals.cli._exit import ExitCode
from stella_signals.cli.stella import app
from stella_signals.reach import InvalidOsv, import_osv, parse_catalog

OSV = Path(__file__).parent / "osv"
FILES = sorted(OSV.glob("*.json"))
runner = CliRunner()


def entries(*records: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    imported = import_osv([("r.json", json.dumps(list(records)).encode())])
    return [(e.vuln_id, e.package, e.affected, e.symbols) for e in imported.catalog.entries]


def record(**affected: Any) -> dict[str, Any]:
    block = {"package": {"ecosystem": "PyPI", "name": "lib"}, **affected}
    return {"id": "R-1", "affected": [block]}


def ranges(*events: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": list(events)}]


def test_the_sample_records() -> None:
    imported = import_osv([(p.name, p.read_bytes()) for p in FILES])
    assert imported.records == 3
    got = {(e.vuln_id, e.affected): e for e in imported.catalog.entries}
    assert sorted(got) == [
        ("GHSA-vl01-aaaa-bbbb", "!=1.1.4,<=1.1.4"),
        ("GHSA-vl01-aaaa-bbbb", "!=1.3,<=1.3,>=1.2.0"),
        ("OSV-2026-77", "!=2.0.1,<=2.0.1,>=2.0"),
        ("OSV-2026-77", ">=2.1.0rc1"),
        ("PYSEC-2026-9001", "<=1.2,>=1.0"),
        ("PYSEC-2026-9001", "==0.9.1"),  # listed in versions, outside the range
    ]
    ghsa = got[("GHSA-vl01-aaaa-bbbb", "!=1.1.4,<=1.1.4")]
    assert ghsa.package == "pkg:pypi/vulnlib"
    assert ghsa.symbols == ("vulnlib.core:Client.send", "vulnlib.core:used")  # Go convention
    assert ghsa.aliases == ("CVE-2026-41001",)
    assert ghsa.fixed == ("1.1.4", "1.3")
    pysec = got[("PYSEC-2026-9001", "<=1.2,>=1.0")]
    assert pysec.symbols == ("vulnlib.core:unused",)  # PyPA advisory-db convention
    assert pysec.aliases == ("CVE-2026-41002", "GHSA-vl02-cccc-dddd")
    multi = got[("OSV-2026-77", "!=2.0.1,<=2.0.1,>=2.0")]
    assert multi.package == "pkg:pypi/shared-parse" and multi.symbols == ()  # package-level
    assert [(s.file, s.record, s.pointer, s.reason) for s in imported.skipped] == [
        ("OSV-2026-multi.json", "OSV-2026-77", "/affected/0/package", "not_pypi"),
        ("OSV-2026-multi.json", "OSV-2026-77", "/affected/1/ranges/0/type", "range_type"),
    ]


@pytest.mark.parametrize(
    ("events", "expected", "inside", "outside"),
    [
        # the pre-releases of the fix come before it: affected (PEP 440's "<1.5" omits them)
        ([{"introduced": "0"}, {"fixed": "1.5"}], ["!=1.5,<=1.5"], ["0.1", "1.5rc1", "1.5.dev0"],
         ["1.5", "1.5.0", "1.5.post1"]),
        ([{"introduced": "0"}, {"fixed": "1.5rc2"}], ["<1.5rc2"], ["1.5rc1"], ["1.5rc2"]),
        ([{"introduced": "1.0"}], [">=1.0"], ["1.0", "9"], ["0.9"]),
        ([{"introduced": "1.0"}, {"last_affected": "1.4"}], ["<=1.4,>=1.0"], ["1.4"], ["1.4.1"]),
        ([{"introduced": "1.0"}, {"limit": "2.0"}], ["!=2.0,<=2.0,>=1.0"], ["1.9"], ["2.0"]),
        # unsorted events, reopened: two intervals, two entries
        ([{"fixed": "1.2"}, {"introduced": "2.0"}, {"introduced": "1.0"}, {"fixed": "2.1"}],
         ["!=1.2,<=1.2,>=1.0", "!=2.1,<=2.1,>=2.0"], ["1.1", "2.0.5"], ["1.5", "2.1"]),
    ],
)  # fmt: skip
def test_events_become_specifier_sets(
    events: list[dict[str, str]], expected: list[str], inside: list[str], outside: list[str]
) -> None:
    specs = [affected for _, _, affected, _ in entries(record(ranges=ranges(*events)))]
    assert specs == expected
    for version in inside:
        assert any(SpecifierSet(s).contains(version, prereleases=True) for s in specs), version
    for version in outside:
        assert not any(SpecifierSet(s).contains(version, prereleases=True) for s in specs)


def test_same_range_in_two_blocks_merges_and_package_level_wins() -> None:
    imports = {"imports": [{"path": "lib.a", "symbols": ["f"]}]}
    base = record(ranges=ranges({"introduced": "0"}, {"fixed": "2"}), ecosystem_specific=imports)
    block = base["affected"][0]
    with_symbols = {**block, "ecosystem_specific": {"imports": [{"path": "lib.b", "symbols": []}]}}
    assert entries({**base, "affected": [block, with_symbols]}) == [
        ("R-1", "pkg:pypi/lib", "!=2,<=2", ("lib.a:f", "lib.b:"))
    ]
    whole = {k: v for k, v in block.items() if k != "ecosystem_specific"}
    assert entries({**base, "affected": [block, whole]}) == [("R-1", "pkg:pypi/lib", "!=2,<=2", ())]


def test_withdrawn_records_are_skipped() -> None:
    imported = import_osv(
        [("w.json", json.dumps({**record(), "withdrawn": "2026-01-01T00:00:00Z"}).encode())]
    )
    assert imported.catalog.entries == ()
    assert [(s.record, s.reason) for s in imported.skipped] == [("R-1", "withdrawn")]


def test_an_osv_api_answer_is_read_too() -> None:
    answer = {"vulns": [record(ranges=ranges({"introduced": "0"}, {"fixed": "1"}))]}
    imported = import_osv([("api.json", json.dumps(answer).encode())])
    assert [e.affected for e in imported.catalog.entries] == ["!=1,<=1"]


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ({"affected": []}, ("/0", "/0/id"), "missing_field"),
        (record(ranges=ranges({"introduced": "0"}, {"fixed": "not a version"})),
         ("R-1", "/0/affected/0/ranges/0/events/1/fixed"), "invalid_version"),
        (record(ranges=ranges({"introduced": "0", "fixed": "1"})),
         ("R-1", "/0/affected/0/ranges/0/events/0"), "invalid_event"),
        (record(ranges=[{"type": "ECOSYSTEM", "events": []}]),
         ("R-1", "/0/affected/0/ranges/0/events"), "wrong_type"),
        (record(versions=["1.0", "x.y"]), ("R-1", "/0/affected/0/versions/1"), "invalid_version"),
        ({"id": "R-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "bad name"}}]},
         ("R-1", "/0/affected/0/package/name"), "invalid_package"),
        (record(ecosystem_specific={"imports": [{"path": "lib", "symbols": ["a-b"]}]}),
         ("R-1", "/0/affected/0/ecosystem_specific/imports/0/symbols/0"), "invalid_symbol"),
        (record(ecosystem_specific={"imports": [{"modules": ["9lib"], "attribute": "f"}]}),
         ("R-1", "/0/affected/0/ecosystem_specific/imports/0/modules/0"), "invalid_symbol"),
        (record(ecosystem_specific={"imports": [{"attribute": "f"}]}),
         ("R-1", "/0/affected/0/ecosystem_specific/imports/0"), "missing_field"),
        ({"id": "R-1", "aliases": "CVE-1", "affected": []}, ("R-1", "/0/aliases"), "wrong_type"),
        ({"id": "R-1"}, ("R-1", "/0/affected"), "missing_field"),
        ("R-1", ("/0", "/0"), "not_an_object"),
    ],
)  # fmt: skip
def test_bad_records_name_file_record_field_and_reason(
    doc: Any, where: tuple[str, str], reason: str
) -> None:
    with pytest.raises(InvalidOsv) as caught:
        import_osv([("bad.json", json.dumps([doc]).encode())])
    first = caught.value.problems[0]
    assert (first.file, first.record, first.pointer, first.reason) == ("bad.json", *where, reason)
    assert str(first).startswith("bad.json: ")


def test_a_record_given_twice_is_refused() -> None:
    one = json.dumps(record()).encode()
    with pytest.raises(InvalidOsv) as caught:
        import_osv([("a.json", one), ("b.json", one)])
    assert [(p.file, p.reason) for p in caught.value.problems] == [("b.json", "duplicate_record")]


def test_duplicate_keys_and_broken_json() -> None:
    with pytest.raises(InvalidOsv) as caught:
        import_osv([("d.json", b'{"id": "a", "id": "b"}'), ("j.json", b'{"id": \n}')])
    got = [(p.file, p.pointer, p.reason) for p in caught.value.problems]
    assert got == [("d.json", "/id", "duplicate_key"), ("j.json", "", "invalid_json")]
    assert "line 2" in caught.value.problems[1].message


def test_cli_writes_a_valid_catalog(tmp_path: Path) -> None:
    out = tmp_path / "catalog.json"
    result = runner.invoke(app, ["vuln", "import-osv", *map(str, FILES), "--out", str(out)])
    assert result.exit_code == 0, result.output
    catalog = parse_catalog(out.read_bytes())
    assert len(catalog.entries) == 6
    assert catalog.digest in result.stderr
    assert (
        f"skipped: {OSV / 'OSV-2026-multi.json'}: OSV-2026-77: /affected/0/package: not_pypi"
        in result.stderr
    )
    again = runner.invoke(app, ["vuln", "import-osv", *map(str, reversed(FILES))])
    assert again.exit_code == 0
    assert again.stdout.encode() == out.read_bytes()  # deterministic, whatever the file order
    valid = runner.invoke(app, ["vuln", "validate", str(out)])
    assert valid.exit_code == 0 and catalog.digest in valid.stdout


def test_cli_bad_record_exits_schema_invalid_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(record(ranges=ranges({"introduced": "zz"}))))
    out = tmp_path / "catalog.json"
    result = runner.invoke(app, ["vuln", "import-osv", str(FILES[0]), str(bad), "--out", str(out)])
    assert result.exit_code == ExitCode.SCHEMA_INVALID
    assert f"{bad}: R-1: /affected/0/ranges/0/events/0/introduced: invalid_version" in result.stderr
    assert not out.exists()
    missing = runner.invoke(app, ["vuln", "import-osv", str(tmp_path / "nope.json")])
    assert missing.exit_code == ExitCode.USAGE


def test_cli_validate_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"schema": "stella.vuln-catalog/v1", "entries": [{"vuln_id": "a"}]}')
    result = runner.invoke(app, ["vuln", "validate", str(bad), "--json"])
    assert result.exit_code == ExitCode.SCHEMA_INVALID
    body = json.loads(result.stdout)
    assert [(p["field"], p["reason"]) for p in body["problems"]] == [
        ("/entries/0/package", "missing_field"),
        ("/entries/0/affected", "missing_field"),
    ]

"""The air-gap bundle check is a core function over typed objects (the CLI only renders)."""

from __future__ import annotations

import gzip

import pytest

from stella_signals.bundle import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    MANIFEST_NAME,
    ArchiveFault,
    ArchiveUnreadable,
    EntryKind,
    FileEntry,
    LayoutProblem,
    attested_trace,
    build_manifest,
    check_bundle_files,
    parse_file_entry,
    parse_manifest,
    read_bundle_archive,
    read_tar_gz,
    write_bundle_archive,
)
from stella_signals.canonical import canonical_json
from stella_signals.errors import InvalidManifest

TRACE = b'{"symbol_id":"s"}\n'
DSSE = b"{}"
GRAPH_HASH = "blake3:" + "0f" * 32


def bundle(*names_and_data: tuple[str, bytes]) -> dict[str, bytes]:
    files = dict(names_and_data)
    files[MANIFEST_NAME] = build_manifest(
        tenant="acme",
        graph_hash=GRAPH_HASH,
        generated_at="2026-01-01T00:00:00Z",
        files=[FileEntry.of(name, data) for name, data in files.items()],
    )
    return files


def test_a_good_bundle_is_ok() -> None:
    report = check_bundle_files(bundle(("runtime-trace.ndjson", TRACE)))
    assert report.ok and not report.hash_mismatch
    assert report.manifest.tenant == "acme"
    assert report.to_dict() == {"ok": True, "problems": []}


def test_unlisted_missing_and_changed_files_are_problems() -> None:
    files = bundle(("runtime-trace.ndjson", TRACE), (BUNDLE_DSSE_NAME, DSSE))
    files["runtime-trace.ndjson"] = TRACE + b"\n"
    del files[BUNDLE_DSSE_NAME]
    files["extra.txt"] = b"x"
    report = check_bundle_files(files)
    assert not report.ok and report.hash_mismatch
    assert [(p.path, p.reason) for p in report.problems] == [
        ("extra.txt", "not_listed"),
        (BUNDLE_DSSE_NAME, "missing"),
        ("runtime-trace.ndjson", "hash_mismatch"),
    ]
    assert str(report.problems[2]).startswith("runtime-trace.ndjson: hash_mismatch: ")


def test_without_a_manifest_there_is_nothing_to_check() -> None:
    with pytest.raises(InvalidManifest, match=r"no manifest\.json"):
        check_bundle_files({"runtime-trace.ndjson": TRACE})


def test_the_envelope_attests_the_one_trace() -> None:
    files = bundle(("t.ndjson", TRACE), (BUNDLE_DSSE_NAME, DSSE), (BUNDLE_GRAPH_NAME, b"{}"))
    assert attested_trace(parse_manifest(files[MANIFEST_NAME])) == FileEntry.of("t.ndjson", TRACE)
    two = bundle(("a.ndjson", TRACE), ("b.ndjson", TRACE), (BUNDLE_DSSE_NAME, DSSE))
    problem = attested_trace(parse_manifest(two[MANIFEST_NAME]))
    assert isinstance(problem, LayoutProblem)
    assert (problem.path, problem.reason) == (BUNDLE_DSSE_NAME, "signature_invalid")


def test_the_air_gap_reader_is_the_lockers_safe_reader() -> None:
    """Both bundle kinds go through bundle.read_tar_gz: an air-gap bundle is now refused
    where an evidence bundle always was (data after the gzip stream or after the tar)."""
    good = write_bundle_archive({"t.ndjson": TRACE})
    assert read_bundle_archive(good) == {"t.ndjson": TRACE}
    with pytest.raises(InvalidManifest, match="data after the end of the gzip stream"):
        read_bundle_archive(good + b"junk")
    tar = gzip.decompress(good)
    with pytest.raises(InvalidManifest, match=r"damaged tar archive .*data after its last entry"):
        read_bundle_archive(gzip.compress(tar + b"x" * 512))
    contents = read_tar_gz(good, max_bytes=1 << 20, max_entries=4)
    assert [(e.name, e.kind, e.data) for e in contents.entries] == [
        ("t.ndjson", EntryKind.FILE, TRACE)
    ]
    assert contents.damage is None
    with pytest.raises(ArchiveUnreadable) as caught:
        read_tar_gz(good, max_bytes=100, max_entries=4)
    assert caught.value.fault is ArchiveFault.TOO_LARGE


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (5, "files[0]: must be an object"),
        ({"path": "", "sha256": "0" * 64, "size": 1}, "files[0].path: must be a non-empty string"),
        ({"path": "a", "sha256": "A" * 64, "size": 1}, "files[0].sha256: must be 64 lowercase hex"),
        # "$" in the old pattern let a trailing newline through, to surface as a hash mismatch
        ({"path": "a", "sha256": "0" * 64 + "\n", "size": 1}, "files[0].sha256: must be 64"),
        ({"path": "a", "sha256": "0" * 64, "size": True}, "files[0].size: must be an integer"),
        ({"path": "a", "sha256": "0" * 64, "size": -1}, "files[0].size: must be an integer"),
    ],
)
def test_one_file_entry_rule_for_both_bundle_kinds(item: object, message: str) -> None:
    with pytest.raises(InvalidManifest) as caught:
        parse_file_entry(item, "files[0]")
    assert str(caught.value).startswith(message)
    document = {
        "schema": "stella.reach.runtime-bundle/v1",
        "tenant": "acme",
        "graph_hash": GRAPH_HASH,
        "generated_at": "2026-01-01T00:00:00Z",
        "files": [item],
    }
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(canonical_json(document))
    assert str(caught.value).startswith(f"manifest.json: {message}")

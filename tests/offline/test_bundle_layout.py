"""A directory bundle obeys exactly the rules of a tarball bundle (SPEC §10, issue 14 item 11):
regular files only — a symlink (to a file outside the bundle, a device, a FIFO, a directory),
a FIFO or a device is refused by name, never followed or skipped — every file listed, every
listed file present. `verify-bundle` answers the same for a directory and for its tarball, and
`ingest-runtime` refuses (and records) what `verify-bundle` refuses."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.bundle import BundleLayout, EntryKind
from stella_signals.cli.offline import app
from stella_signals.errors import InvalidManifest
from stella_signals.tenancy import parse_tenant
from stella_signals.wiring import Services, load_settings
from stella_signals_dev.synth import SynthSpec, trace_bytes
from tests.offline.test_offline_ingest import GRAPH_HASH, ingest_args, offline, tarball

runner = CliRunner()
TRACE = gzip.compress(trace_bytes(SynthSpec(300, seed=3, symbols=40, purls=5)), mtime=0)
TRACE_NAME = "runtime-trace.ndjson.gz"


def write_bundle(root: Path, files: dict[str, bytes], listed: dict[str, bytes]) -> Path:
    """A bundle directory holding ``files`` (paths may have directories) whose manifest
    lists ``listed``."""
    bundle = root / "bundle"
    for path, data in files.items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_bytes(data)
    manifest = {
        "schema": "stella.reach.runtime-bundle/v1",
        "tenant": "acme",
        "graph_hash": GRAPH_HASH,
        "generated_at": "2026-03-01T00:00:00Z",
        "files": [
            {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for p, d in sorted(listed.items())
        ],
    }
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def plain(root: Path) -> Path:
    return write_bundle(root, {TRACE_NAME: TRACE}, {TRACE_NAME: TRACE})


def trace_symlinked_outside(root: Path) -> Path:
    """The listed trace is a symlink to a file outside the bundle, with the right bytes."""
    outside = root / "elsewhere" / TRACE_NAME
    outside.parent.mkdir(parents=True)
    outside.write_bytes(TRACE)
    bundle = write_bundle(root, {}, {TRACE_NAME: TRACE})
    (bundle / TRACE_NAME).symlink_to(outside)
    return bundle


def symlink_to_device(root: Path) -> Path:
    bundle = plain(root)
    (bundle / "null").symlink_to("/dev/null")
    return bundle


def fifo(root: Path) -> Path:
    bundle = plain(root)
    os.mkfifo(bundle / "pipe")
    return bundle


def symlink_to_fifo(root: Path) -> Path:
    bundle = plain(root)
    os.mkfifo(root / "pipe")
    (bundle / "pipe").symlink_to(root / "pipe")
    return bundle


def symlinked_directory(root: Path) -> Path:
    """A listed file reached through a symlink to a directory outside the bundle."""
    notes = root / "outside" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_bytes(b"hi")
    bundle = write_bundle(root, {TRACE_NAME: TRACE}, {TRACE_NAME: TRACE, "docs/notes.txt": b"hi"})
    (bundle / "docs").symlink_to(notes.parent)
    return bundle


def listed_file_in_a_directory(root: Path) -> Path:
    files = {TRACE_NAME: TRACE, "docs/notes.txt": b"hi"}
    return write_bundle(root, files, files)


def unlisted_file_in_a_directory(root: Path) -> Path:
    return write_bundle(root, {TRACE_NAME: TRACE, "docs/notes.txt": b"hi"}, {TRACE_NAME: TRACE})


#: name → (builder, verify-bundle exit code for the directory and for its tarball)
CASES: dict[str, tuple[Callable[[Path], Path], int]] = {
    "plain": (plain, 0),
    "listed-file-in-a-directory": (listed_file_in_a_directory, 0),
    "unlisted-file-in-a-directory": (unlisted_file_in_a_directory, 6),
    "trace-symlinked-outside": (trace_symlinked_outside, 6),
    "symlink-to-device": (symlink_to_device, 6),
    "fifo": (fifo, 6),
    "symlink-to-fifo": (symlink_to_fifo, 6),
    "symlinked-directory": (symlinked_directory, 6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_directory_bundle_obeys_the_rules_of_its_tarball(tmp_path: Path, case: str) -> None:
    build, code = CASES[case]
    bundle = build(tmp_path)
    as_directory = runner.invoke(app, ["verify-bundle", str(bundle)])
    as_tarball = runner.invoke(app, ["verify-bundle", str(tarball(bundle))])
    assert (as_directory.exit_code, as_tarball.exit_code) == (code, code), (
        as_directory.output + as_tarball.output
    )


def test_the_refusal_names_the_entry_and_what_it_is(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify-bundle", str(trace_symlinked_outside(tmp_path))])
    assert result.exit_code == 6
    assert "'runtime-trace.ndjson.gz' is a symbolic link" in " ".join(result.output.split())


def events(data_dir: Path) -> list[tuple[str, str | None]]:
    services = Services.open(load_settings(data_dir=data_dir, environ={}))
    try:
        return [
            (e.event_type, e.attributes.get("reason"))  # type: ignore[misc]
            for e in services.repo.iter_events(parse_tenant("acme"))
        ]
    finally:
        services.close()


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("unlisted-file-in-a-directory", 6, "schema_invalid"),
        ("trace-symlinked-outside", 6, "schema_invalid"),
        ("symlink-to-device", 6, "schema_invalid"),
        ("fifo", 6, "schema_invalid"),
        ("symlinked-directory", 6, "schema_invalid"),
    ],
)
def test_ingest_runtime_refuses_and_records_what_verify_bundle_refuses(
    tmp_path: Path, case: str, code: int, reason: str
) -> None:
    data_dir = tmp_path / "data"
    bundle = CASES[case][0](tmp_path)
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == code, result.output
    assert events(data_dir) == [("runtime.ingest.failed", reason)]
    assert not (data_dir / "cas" / "acme" / "reachability" / "runtime").exists()


def test_ingest_runtime_refuses_a_listed_file_the_bundle_lacks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bundle = write_bundle(tmp_path, {TRACE_NAME: TRACE}, {TRACE_NAME: TRACE, "notes.txt": b"x"})
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 6, result.output
    assert "notes.txt: missing" in " ".join(result.output.split())
    assert events(data_dir) == [("runtime.ingest.failed", "schema_invalid")]


def test_ingest_runtime_checks_every_listed_file_of_the_bundle(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    files = {TRACE_NAME: TRACE, "docs/notes.txt": b"changed"}
    bundle = write_bundle(tmp_path, files, {TRACE_NAME: TRACE, "docs/notes.txt": b"original"})
    result = offline(data_dir, *ingest_args(bundle))
    assert result.exit_code == 3, result.output
    assert events(data_dir) == [("runtime.ingest.failed", "hash_mismatch")]


def test_a_trace_given_from_elsewhere_is_not_missing_from_the_bundle(tmp_path: Path) -> None:
    """SPEC §10: a file given on the command line is matched by its base name."""
    data_dir = tmp_path / "data"
    bundle = write_bundle(tmp_path, {}, {TRACE_NAME: TRACE})
    elsewhere = tmp_path / "carried" / TRACE_NAME
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(TRACE)
    args = ingest_args(bundle)
    args[args.index("--runtime") + 1] = str(elsewhere)
    result = offline(data_dir, *args)
    assert result.exit_code == 7, result.output  # ingested as an orphan: the graph is unknown


@pytest.mark.parametrize(
    ("name", "kind", "error"),
    [
        ("../x", EntryKind.FILE, "leaves the bundle"),
        ("/etc/passwd", EntryKind.FILE, "leaves the bundle"),
        ("a/../../x", EntryKind.DIRECTORY, "leaves the bundle"),
        ("link", EntryKind.SYMLINK, "is a symbolic link"),
        ("link", EntryKind.HARDLINK, "is a hard link"),
        ("dev", EntryKind.DEVICE, "is a device"),
        ("pipe", EntryKind.FIFO, "is a FIFO"),
        ("./", EntryKind.FILE, "has no name"),
    ],
)
def test_the_one_layout_rule(name: str, kind: EntryKind, error: str) -> None:
    with pytest.raises(InvalidManifest, match=error):
        BundleLayout().admit(name, kind)


def test_the_layout_rule_normalises_names_and_refuses_duplicates() -> None:
    layout = BundleLayout(max_bytes=10)
    assert layout.admit("./", EntryKind.DIRECTORY) is None
    assert layout.admit("./docs/", EntryKind.DIRECTORY) is None
    assert layout.admit("./docs/a.txt", EntryKind.FILE, 4) == "docs/a.txt"
    with pytest.raises(InvalidManifest, match="appears twice"):
        layout.admit("docs//a.txt", EntryKind.FILE, 1)
    from stella_signals.errors import LimitExceeded

    with pytest.raises(LimitExceeded):
        layout.admit("b.txt", EntryKind.FILE, 7)

"""Checking an air-gap runtime bundle's files against its manifest (SPEC §10), without I/O.

`check_bundle_files` takes the files a bundle holds (read by `read_bundle_archive` or the
directory reader, one layout rule for both) and answers a `BundleFilesReport`: every file
not listed, every listed file absent, every size or sha256 that differs. Whether the
bundle's runtime.dsse.json attests its trace needs the keys a tenant trusts: that check
stays with the caller, which asks `attested_trace` which file the envelope must be about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from stella_signals.bundle._manifest import (
    BUNDLE_DSSE_NAME,
    BUNDLE_GRAPH_NAME,
    MANIFEST_NAME,
    BundleManifest,
    FileEntry,
    LayoutProblem,
    parse_manifest,
)
from stella_signals.digests import sha256_hex
from stella_signals.errors import HashMismatch, InvalidManifest

__all__ = ["HASH_MISMATCH", "BundleFilesReport", "attested_trace", "check_bundle_files"]

#: `LayoutProblem.reason` of a listed file whose bytes differ from its entry.
HASH_MISMATCH = "hash_mismatch"


@dataclass(frozen=True, slots=True)
class BundleFilesReport:
    """What `check_bundle_files` found: ``ok`` only when there is no problem at all."""

    manifest: BundleManifest
    problems: tuple[LayoutProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def hash_mismatch(self) -> bool:
        """Some listed file's size or sha256 is not what the manifest lists."""
        return any(problem.reason == HASH_MISMATCH for problem in self.problems)

    def with_problem(self, problem: LayoutProblem) -> BundleFilesReport:
        return replace(self, problems=(*self.problems, problem))

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "problems": [problem.to_dict() for problem in self.problems]}


def check_bundle_files(files: Mapping[str, bytes]) -> BundleFilesReport:
    """Check ``files`` (path relative to the bundle → bytes, manifest.json among them)
    against the manifest; `InvalidManifest` when there is no readable manifest.json."""
    if MANIFEST_NAME not in files:
        raise InvalidManifest(f"no {MANIFEST_NAME}")
    manifest = parse_manifest(files[MANIFEST_NAME])
    problems = manifest.layout_problems(files)
    for entry in manifest.files:
        if entry.path not in files:
            continue
        data = files[entry.path]
        try:
            entry.check(sha256=sha256_hex(data), size=len(data))
        except HashMismatch as exc:
            problems.append(LayoutProblem(entry.path, HASH_MISMATCH, str(exc)))
    return BundleFilesReport(manifest, tuple(problems))


def attested_trace(manifest: BundleManifest) -> FileEntry | LayoutProblem:
    """The trace a bundle's runtime.dsse.json must attest: the one file listed besides the
    envelope and the graph, or the problem (``signature_invalid``) when there is not one."""
    others = (BUNDLE_DSSE_NAME, BUNDLE_GRAPH_NAME)
    traces = [entry for entry in manifest.files if entry.path not in others]
    if len(traces) != 1:
        detail = f"the bundle lists {len(traces)} trace files: which one does it attest?"
        return LayoutProblem(BUNDLE_DSSE_NAME, "signature_invalid", detail)
    return traces[0]

"""Evaluations built from the `reach` model directly (the engine is tested on its own)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stella_signals.reach import CONFIDENCE, Evaluation, RuntimeEvidence, State, Verdict

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

GRAPH = "blake3:" + "a1" * 32
CATALOG = "sha256:" + "c3" * 32
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
END = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
COMPUTED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
WHEN = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
PRODUCT = "pkg:oci/shop@sha256:" + "0e" * 32
AUTHOR = "stella-signals service, acme"
JINJA = "pkg:pypi/jinja2@3.1.2"
YAML = "pkg:pypi/pyyaml@5.3"

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "vectors" / "openvex" / "openvex_json_schema.json"
)


def digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


def verdict(
    state: State,
    symbol: str = "jinja2.sandbox:SandboxedEnvironment.call",
    *,
    vuln_id: str = "CVE-2026-0001",
    package: str = JINJA,
    evidence: tuple[str, ...] = (digest(1),),
    fixed: tuple[str, ...] = ("3.1.3", "3.2.0"),
    aliases: tuple[str, ...] = ("GHSA-aaaa-bbbb-cccc",),
    hits: int | None = None,
) -> Verdict:
    observed = state in (State.RO, State.CR, State.X)
    path = ("n0", "n7", "n9") if state in (State.SR, State.CR) else ()
    return Verdict(
        vuln_id=vuln_id,
        package=package,
        symbol=symbol,
        state=state,
        confidence=CONFIDENCE[state],
        graph_hash=GRAPH,
        window_start=START,
        window_end=END,
        computed_at=COMPUTED,
        path=path,
        path_display=tuple(f"mod:f{i}" for i in range(len(path))),
        runtime=RuntimeEvidence(
            hits=(hits if hits is not None else 12) if observed else 0,
            first_seen=START if observed else None,
            last_seen=END if observed else None,
            ingest_ids=("01JF0000000000000000000001",) if observed else (),
        ),
        evidence_digests=evidence,
        aliases=aliases,
        fixed=fixed,
    )


def evaluation(*verdicts: Verdict) -> Evaluation:
    return Evaluation(
        graph_hash=GRAPH,
        catalog_digest=CATALOG,
        window_start=START,
        window_end=END,
        computed_at=COMPUTED,
        verdicts=tuple(verdicts),
        evidence_digests=tuple(sorted({d for v in verdicts for d in v.evidence_digests})),
    )


def one_of_each() -> Evaluation:
    """One vulnerability per state, in a shuffled order."""
    return evaluation(
        *(
            verdict(state, f"jinja2.m{i}:f", vuln_id=f"CVE-2026-{i:04d}", evidence=(digest(i),))
            for i, state in reversed(list(enumerate(State, start=1)))
        )
    )


def with_verdicts(base: Evaluation, *verdicts: Verdict) -> Evaluation:
    return replace(base, verdicts=tuple(verdicts))


def openvex_validator() -> Draft202012Validator:
    # Imported here: importing jsonschema costs about 1 CPU-s (its IRI format checker builds
    # a grammar), which every test worker would otherwise pay while collecting.
    from jsonschema import Draft202012Validator

    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

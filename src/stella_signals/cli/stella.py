"""`stella`: the operator / client command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from stella_signals.cli._common import root_callback, unwrap_help
from stella_signals.cli._lazy import Lazy, lazy_group

__all__ = ["COMMANDS", "app", "main"]


def _ingest() -> Callable[..., Any]:
    from stella_signals.cli._ingest_cmds import ingest_command

    return ingest_command


def _group(module: str, attribute: str = "app") -> Callable[[], typer.Typer]:
    """A loader of ``stella_signals.cli.<module>.<attribute>``, its help unwrapped."""

    def load() -> typer.Typer:
        import importlib

        sub: typer.Typer = getattr(
            importlib.import_module(f"stella_signals.cli.{module}"), attribute
        )
        return unwrap_help(sub)

    return load


def _vex() -> typer.Typer:
    """`stella vex`: the VEX commands, and `export` from the reachability commands."""
    from stella_signals.cli import _reach_cmds, _vex_cmds

    if not any(c.name == "export" for c in _vex_cmds.app.registered_commands):
        _vex_cmds.app.command("export")(_reach_cmds.vex_export_command)
    return unwrap_help(_vex_cmds.app)


#: Every command of `stella`, imported when named (cli/_lazy.py); the help is the one
#: ``stella --help`` prints, equal to the loaded command's (tests/cli/test_lazy_groups.py).
COMMANDS = (
    Lazy(
        "ingest",
        "Post a runtime trace; print the receipt. Exit 0 ingested or duplicate, 7 queued as "
        "orphan, else as SPEC §10 (3 hash mismatch, 4 signature invalid, 6 schema invalid, 2 "
        "usage/auth). With ``--probe-manifest`` or ``--dsse`` the trace goes as multipart part "
        "``runtime`` beside parts ``probe_manifest`` (the receipt then names it, "
        "``probe_manifest_digest``) and ``dsse`` (SPEC §5: checked against the tenant's "
        "trusted keys; the receipt's ``dsse_digest``).",
        _ingest,
    ),
    Lazy("trace", "Runtime traces (runtime-trace.ndjson[.gz]).", _group("_trace_cmds")),
    Lazy(
        "keys",
        "Signing keys (Ed25519 or ECDSA P-256 PEM files).",
        _group("_attest_cmds", "keys_app"),
    ),
    Lazy(
        "attest",
        "DSSE attestations of runtime traces (runtime.dsse.json).",
        _group("_attest_cmds", "attest_app"),
    ),
    Lazy("cas", "The content-addressed store (cas://).", _group("_cas_cmds")),
    Lazy("graph", "Static call graphs (richgraph-v1).", _group("_graph_cmds")),
    Lazy("symbols", "Symbol manifests (SYMBOL_MANIFEST/v1).", _group("_symbols_cmds")),
    Lazy("timeline", "The tenant timeline (hash-chained events).", _group("_timeline_cmds")),
    Lazy("evidence", "Evidence Locker bundles (tar.gz per ingest).", _group("_evidence_cmds")),
    Lazy("bundle", "Air-gap runtime bundles (SPEC §10).", _group("_bundle_cmds")),
    Lazy("vex", "VEX documents (OpenVEX, CycloneDX) signed by the service.", _vex),
    Lazy(
        "reach",
        "Reachability verdicts of a graph (SPEC §15), from the server.",
        _group("_reach_cmds"),
    ),
    Lazy("vuln", "Vulnerability catalogs (stella.vuln-catalog/v1).", _group("_vuln_cmds")),
    Lazy("dev", "Developer tools: fixtures and the demo.", _group("_dev_cmds")),
)

app = typer.Typer(
    name="stella",
    help="Runtime reachability evidence: validate, stage, verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=lazy_group(COMMANDS),
)


root_callback(app, "stella", "stella-signals operator CLI.")


def main() -> None:
    app()

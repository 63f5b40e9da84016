"""`stella dev synth|demo`: deterministic fixtures and the embedded-default demo.

Both need the developer tools (`stella_signals_dev`), which the product wheel leaves out: they
import them when they run and say so in one line when they are missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stella_signals.cli._cas_cmds import stage_trace
from stella_signals.cli._common import DataDirOption, fail, require_dev_tools, run_guarded
from stella_signals.cli._exit import ExitCode
from stella_signals.cli._trace_cmds import validate_trace
from stella_signals.tenancy import parse_tenant
from stella_signals.wiring import local_blob_store

__all__ = ["app"]

app = typer.Typer(help="Developer tools: fixtures and the demo.", no_args_is_help=True)


def _parse_defects(items: list[str]) -> dict[int, str]:
    from stella_signals_dev.synth import DEFECTS

    defects: dict[int, str] = {}
    for item in items:
        line_text, sep, name = item.partition(":")
        if not sep or not line_text.isdigit() or int(line_text) < 1 or name not in DEFECTS:
            known = ", ".join(sorted(DEFECTS))
            fail(f"--defect wants LINE:NAME with NAME one of {known}; got {item!r}", ExitCode.USAGE)
        defects[int(line_text)] = name
    return defects


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Trace file to write")],
    records: Annotated[int, typer.Option("--records", min=1)] = 1000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    symbols: Annotated[int, typer.Option("--symbols", min=1)] = 5000,
    purls: Annotated[int, typer.Option("--purls", min=1)] = 200,
    containers: Annotated[int, typer.Option("--containers", min=1)] = 8,
    plain: Annotated[bool, typer.Option("--plain", help="Write plain NDJSON, not gzip")] = False,
    graph_out: Annotated[
        Path | None, typer.Option("--graph-out", help="Also write the matching richgraph-v1")
    ] = None,
    defect: Annotated[
        list[str] | None,
        typer.Option("--defect", help="Plant a named defect: LINE:NAME (repeatable)"),
    ] = None,
) -> None:
    """Write a deterministic, realistic runtime trace (and optionally its graph)."""
    require_dev_tools("stella dev synth")
    from stella_signals_dev.synth import SynthSpec, write_graph, write_trace

    spec = SynthSpec(
        records,
        seed=seed,
        symbols=symbols,
        purls=purls,
        containers=containers,
        defects=_parse_defects(defect or []),
    )
    info = write_trace(out, spec, gzip=not plain)
    sys.stdout.write(f"{info.path}\t{info.records} records\t{info.size} bytes\t{info.sha256}\n")
    if graph_out is not None:
        graph = write_graph(graph_out, spec)
        sys.stdout.write(f"{graph.path}\t{graph.nodes} nodes\t{graph.edges} edges\n")


@app.command("demo")
def demo_command(
    data_dir: DataDirOption = Path("data"),
    records: Annotated[int, typer.Option("--records", min=1)] = 10_000,
) -> None:
    """The embedded-default demo: generate a trace, validate it, stage it in the CAS."""
    require_dev_tools("stella dev demo")
    from stella_signals_dev.synth import SynthSpec, write_graph, write_trace

    tenant = parse_tenant("demo")
    work = data_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    trace = work / "runtime-trace.ndjson.gz"
    spec = SynthSpec(records, seed=42)
    info = write_trace(trace, spec)
    graph = write_graph(work / "graph.richgraph.json", spec)
    out = sys.stdout
    out.write(f"1. generated {info.path} ({info.records} records, {info.size} bytes)\n")
    out.write(f"   and its static graph {graph.path} ({graph.nodes} nodes, {graph.edges} edges)\n")
    out.write(f"2. stella trace validate {trace}\n")
    code = validate_trace(trace, None, as_json=False)
    if code != ExitCode.OK:
        raise typer.Exit(code)
    store = local_blob_store(data_dir)
    stored = run_guarded(lambda: stage_trace(store, tenant, trace))
    out.write(f"3. stella cas put {trace} --tenant {tenant} --data-dir {data_dir}\n")
    out.write(f"   {stored.uri}\n")
    out.write(f"   (sha256 {stored.sha256}, {'stored' if stored.created else 'already stored'})\n")

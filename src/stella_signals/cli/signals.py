"""`signals`: the Signals service — server, migrations, tokens (SPEC §13)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from stella_signals.cli._common import (
    CasOption,
    ConfigOption,
    DatabaseOption,
    ServiceDataDir,
    open_services,
    require_dev_tools,
    root_callback,
    run_guarded,
    unwrap_help,
)
from stella_signals.cli._lazy import Lazy, lazy_group
from stella_signals.errors import StellaError
from stella_signals.limits import PORT_RANGE

if TYPE_CHECKING:  # the wiring (database, ingest, metrics) loads when a command opens it
    from stella_signals.wiring import Services

__all__ = ["app", "main"]

#: How often `signals worker` sweeps abandoned staging files.
_SWEEP_EVERY_SECONDS = 60.0


def _group(module: str, attribute: str) -> typer.Typer:
    import importlib

    sub: typer.Typer = getattr(importlib.import_module(f"stella_signals.cli.{module}"), attribute)
    return unwrap_help(sub)


#: The command groups, imported when named (cli/_lazy.py): `signals serve` loads neither the
#: token nor the trust commands. The help is the loaded group's (tests/cli/test_lazy_groups.py).
GROUPS = (
    Lazy("tokens", "Bearer tokens.", lambda: _group("_token_cmds", "tokens_app")),
    Lazy(
        "keys",
        "Keys a tenant trusts (DSSE attestations, time anchors, offline sites), and the "
        "deployment's own service key.",
        lambda: _group("_trust_cmds", "keys_app"),
    ),
    Lazy(
        "policy",
        "Per-tenant ingest policy (require DSSE, threshold).",
        lambda: _group("_trust_cmds", "policy_app"),
    ),
)

app = typer.Typer(
    name="signals",
    help="The Signals service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=lazy_group(GROUPS),
)

DataDir = ServiceDataDir
Config = ConfigOption
Database = DatabaseOption
Cas = CasOption


root_callback(app, "signals", "The Signals service.")


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (env STELLA_HOST, config server.host).",
            show_default="127.0.0.1",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=PORT_RANGE.start,
            max=PORT_RANGE.stop - 1,
            help="TCP port to listen on, 1-65535 (env STELLA_PORT, config server.port).",
            show_default="8080",
        ),
    ] = None,
    data_dir: DataDir = None,
    config: Config = None,
    database: Database = None,
    cas: Cas = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also seed a demo tenant (token, graph, trace) and print a curl to ingest it.",
            show_default="off",
        ),
    ] = False,
) -> None:
    """Run the HTTP API (embedded default: SQLite + filesystem CAS under the data dir)."""
    if demo:  # before anything is opened or created
        require_dev_tools("signals serve --demo")
    from stella_signals.wiring import Services, load_settings, tune_allocator

    tune_allocator()
    settings = run_guarded(
        lambda: load_settings(
            config_file=config,
            data_dir=data_dir,
            database_url=database,
            cas_url=cas,
            host=host,
            port=port,
        )
    )
    # The web stack is loaded once the settings are known good: a refusal comes at once.
    import uvicorn

    from stella_signals.api import create_app, uvicorn_options

    server_options = run_guarded(lambda: uvicorn_options(settings))
    with run_guarded(lambda: Services.open(settings)) as services:
        if demo:
            _print_demo(services)
        uvicorn.run(
            create_app(services),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
            **server_options,  # header, connection and slow-client bounds (docs/deploy.md)
        )


@app.command("migrate")
def migrate_command(
    data_dir: DataDir = None, config: Config = None, database: Database = None, cas: Cas = None
) -> None:
    """Create or upgrade the metadata schema."""
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        settings = services.settings
    sys.stderr.write(f"migrated {settings.effective_database_url.split('://')[0]} schema\n")


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Drain the due queue, then exit")] = False,
    data_dir: DataDir = None,
    config: Config = None,
    database: Database = None,
    cas: Cas = None,
) -> None:
    """Retry orphan traces and re-evaluate the verdicts of graphs with new ingests until
    SIGTERM (safe to run several at once); also remove the staging files crashed uploads
    left, at start and every minute."""
    import signal
    import time

    from stella_signals.wiring import OrphanRetrier, sweep_staging, tune_allocator

    tune_allocator()
    with open_services(data_dir, database=database, cas=cas, config=config) as services:
        settings = services.settings
        retrier = OrphanRetrier(services)
        stop = {"now": False}

        def on_term(_signum: int, _frame: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, on_term)
        swept_at: float | None = None
        while True:
            if swept_at is None or time.monotonic() - swept_at >= _SWEEP_EVERY_SECONDS:
                swept_at = time.monotonic()
                try:
                    swept = sweep_staging(services)
                except StellaError as exc:  # a store outage: the next sweep tries again
                    sys.stderr.write(f"staging sweep failed: {exc}\n")
                else:
                    if swept:
                        sys.stderr.write(f"staging: {swept} abandoned file(s) removed\n")
            stats = retrier.run_once()
            busy = stats.ingested + stats.expired + stats.rescheduled
            if busy:
                sys.stderr.write(
                    f"orphans: {stats.ingested} ingested, {stats.rescheduled} rescheduled, "
                    f"{stats.expired} expired\n"
                )
            reevaluated = retrier.reevaluate_once()
            if reevaluated.evaluated or reevaluated.failed:
                busy += reevaluated.evaluated
                sys.stderr.write(
                    f"verdicts: {reevaluated.evaluated} pair(s) re-evaluated, "
                    f"{reevaluated.changed} verdict(s) changed, {reevaluated.failed} failed\n"
                )
            if once and not busy:
                break
            if stop["now"]:
                break
            if not busy:
                deadline = time.monotonic() + max(settings.orphan_retry_seconds, 0.5)
                while time.monotonic() < deadline and not stop["now"]:
                    time.sleep(0.2)


def _print_demo(services: Services) -> None:
    """Seed the demo tenant and print a ready-to-paste ingest (the runbook's curl)."""
    from stella_signals.auth import Scope, TokenRequest
    from stella_signals.ingest import ingest_graph
    from stella_signals.tenancy import parse_tenant
    from stella_signals_dev.synth import SynthSpec, graph_bytes, write_trace

    tenant = parse_tenant("demo")
    spec = SynthSpec(100_000, seed=42)
    graph = ingest_graph(services.ingest_context("signals-demo"), tenant, graph_bytes(spec))
    work = services.settings.data_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    trace = write_trace(work / "runtime-trace.ndjson.gz", spec)
    token = services.issue_token(
        tenants=frozenset({tenant}),
        request=TokenRequest(frozenset({Scope.READ.value, Scope.WRITE.value})),
    ).secret
    token_file = work / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    url = f"http://{services.settings.host}:{services.settings.port}"
    sys.stdout.write(
        f"""
Demo tenant 'demo' is ready: graph {graph.graph_hash} ({graph.nodes} nodes), a
{trace.records}-record trace at {trace.path}, and a token in {token_file}.
Ingest it (runbook §2 step 4):

  curl -sS -H "Authorization: Bearer $(cat {token_file})" -H "X-Stella-Tenant: demo" \\
       -H "Content-Type: application/x-ndjson" --data-binary @{trace.path} \\
       "{url}/api/v1/runtime-facts?graph_hash={graph.graph_hash}"

or with the client:

  .venv/bin/stella ingest {trace.path} --graph-hash {graph.graph_hash} \\
       --server {url} --tenant demo --token-file {token_file}

"""
    )
    sys.stdout.flush()


unwrap_help(app)  # after the last command: help paragraphs without hard line breaks


def main() -> None:
    app()

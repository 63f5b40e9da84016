"""Issue 14 item 15: no traceback for a binary token or config file, the SPEC §10 exit code for
each mistake, ports outside 1-65535 refused, and help text an operator can read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner, Result

from stella_signals.cli.offline import app as offline_app
from stella_signals.cli.signals import app as signals_app
from stella_signals.cli.stella import app as stella_app
from stella_signals.errors import InvalidConfig
from stella_signals.wiring import load_settings, read_text_file

runner = CliRunner()
GRAPH = "blake3:" + "a" * 64
#: Bytes that are no text at all (not UTF-8), and text that is no token (a NUL, two words).
BINARY = bytes(range(256)) * 8


def clean_usage_error(result: Result) -> str:
    """Exit 2 with a one-line error, not a traceback (CliRunner keeps an uncaught exception
    in ``result.exception``; the console script would print it)."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    return error_lines[0]


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "runtime-trace.ndjson"
    path.write_bytes(
        b'{"symbol_id":"s","purl":"pkg:pypi/x@1","timestamp":"2026-01-01T00:00:00Z","count":1}\n'
    )
    return path


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(BINARY, "not UTF-8 text", id="binary"),
        pytest.param(b"abc\x00def\n", "NUL", id="nul-byte"),
        pytest.param(b"two words\n", "not a bearer token", id="two-words"),
        pytest.param(b"\x1b[31mred\n", "not a bearer token", id="control-character"),
        pytest.param(b"\n\n", "a token is needed", id="empty"),
    ],
)
def test_stella_ingest_with_a_bad_token_file_is_a_usage_error(
    tmp_path: Path, trace: Path, content: bytes, says: str
) -> None:
    token = tmp_path / "token"
    token.write_bytes(content)
    result = runner.invoke(
        stella_app,
        ["ingest", str(trace), "--graph-hash", GRAPH, "--tenant", "acme",
         "--server", "http://127.0.0.1:9", "--token-file", str(token)],
    )  # fmt: skip
    assert says in clean_usage_error(result)


def test_a_token_file_that_is_a_directory_is_a_usage_error(tmp_path: Path, trace: Path) -> None:
    result = runner.invoke(
        stella_app,
        ["ingest", str(trace), "--graph-hash", GRAPH, "--tenant", "acme",
         "--server", "http://127.0.0.1:9", "--token-file", str(tmp_path)],
    )  # fmt: skip
    assert str(tmp_path) in clean_usage_error(result)


def test_offline_sync_with_a_binary_token_file_is_a_usage_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(BINARY)
    result = runner.invoke(
        offline_app,
        ["sync", "--tenant", "acme", "--server", "http://127.0.0.1:9",
         "--token-file", str(token), "--data-dir", str(tmp_path / "data")],
    )  # fmt: skip
    assert "token file" in clean_usage_error(result)


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`signals serve` as the console script: a process, so that a regression that serves
    instead of refusing fails on the timeout rather than hanging the suite."""
    signals = Path(sys.executable).with_name("signals")
    return subprocess.run(
        [str(signals), "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 and one line on stderr, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(BINARY, "not UTF-8 text", id="binary"),
        pytest.param(b"port = \x00\n", "NUL", id="nul-byte"),
        pytest.param(b"[server\nport = 1\n", "not TOML", id="not-toml"),
        pytest.param(b"[server]\nport = 80801\n", "port 80801", id="port-too-big"),
        pytest.param(b"[server]\nport = 0\n", "port 0", id="port-zero"),
        pytest.param(b"[server]\nport = [8080]\n", "port must be a number", id="port-a-list"),
    ],
)
@pytest.mark.e2e
def test_signals_serve_with_a_bad_config_file_is_a_usage_error(
    tmp_path: Path, content: bytes, says: str
) -> None:
    config = tmp_path / "signals.toml"
    config.write_bytes(content)
    stderr = refused(serve("--config", str(config), "--data-dir", str(tmp_path / "data")))
    assert says in stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


@pytest.mark.e2e
@pytest.mark.parametrize("port", ["80801", "0", "-1", "65536"])
def test_serve_refuses_a_port_outside_1_to_65535(tmp_path: Path, port: str) -> None:
    """`--port 80801` used to listen on 15265 (80801 mod 65536)."""
    data = ["--data-dir", str(tmp_path / "data")]
    flag = serve("--port", port, *data)
    assert flag.returncode == 2, flag.stderr
    assert "Invalid value for '--port'" in flag.stderr
    assert "STELLA_PORT" in refused(serve(*data, env={"STELLA_PORT": port}))


def test_the_port_range_holds_for_every_source_of_settings(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="80801"):
        load_settings(environ={"STELLA_PORT": "80801"})
    with pytest.raises(InvalidConfig, match="70000"):
        load_settings(port=70000, environ={})
    assert load_settings(port=65535, environ={}).port == 65535
    assert load_settings(port=1, environ={}).port == 1


def test_the_text_file_reader_refuses_oversize_files(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * 100 + b"\n")
    with pytest.raises(InvalidConfig, match="more than 64 bytes"):
        read_text_file(big, what="config file", max_bytes=64)
    assert read_text_file(big, what="config file").startswith("# x")


@pytest.mark.parametrize(
    "uri", ["notauri", "cas://reachability/runtime/xyz", "cas://nope/" + "a" * 64]
)
def test_cas_get_of_a_malformed_uri_is_a_usage_error(tmp_path: Path, uri: str) -> None:
    result = runner.invoke(
        stella_app,
        ["cas", "get", uri, "--tenant", "acme", "--out", str(tmp_path / "x"),
         "--data-dir", str(tmp_path / "data")],
    )  # fmt: skip
    assert "invalid_cas_uri" in clean_usage_error(result)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"], ids=["empty", "blank-lines"])
def test_timeline_verify_of_an_empty_export_is_not_intact(tmp_path: Path, content: bytes) -> None:
    export = tmp_path / "timeline.ndjson"
    export.write_bytes(content)
    result = runner.invoke(stella_app, ["timeline", "verify", str(export)])
    assert "no events" in clean_usage_error(result)
    assert "intact" not in result.stdout


# --- help ---------------------------------------------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


FRONT_DOORS = {"stella": stella_app, "signals": signals_app, "signals-offline": offline_app}
COMMANDS = [
    (" ".join((door, *path)), command)
    for door, app in FRONT_DOORS.items()
    for path, command in _commands(typer.main.get_command(app))
]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_help_has_no_line_break_inside_a_paragraph(name: str, command: Any) -> None:
    """Help paragraphs are single lines that the terminal wraps: a docstring's source line
    breaks used to show up mid-sentence in `--help` and in the command lists."""
    texts = [command.help or "", command.short_help or ""]
    texts += [p.help or "" for p in command.params if isinstance(p, TyperOption)]
    for text in texts:
        for paragraph in text.split("\n\n"):
            assert "\n" not in paragraph.strip() or paragraph.startswith("\b"), paragraph


def test_every_serve_option_has_a_description_and_a_default() -> None:
    serve = typer.main.get_command(signals_app).commands["serve"]  # type: ignore[attr-defined]
    options = [p for p in serve.params if isinstance(p, TyperOption) and p.name != "help"]
    assert {o.opts[0] for o in options} >= {"--host", "--port", "--data-dir", "--config"}
    result = runner.invoke(signals_app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    # One block per option: from its name to the next option's.
    blocks = re.split(r"\n│ (?=--)", result.stdout)
    for option in options:
        assert option.help, f"{option.opts[0]} has no description"
        (block,) = [b for b in blocks if b.startswith(option.opts[0] + " ")]
        assert "[default: " in block, f"{option.opts[0]} shows no default:\n{block}"
    assert "[default: (8080)]" in result.stdout and "[default: (127.0.0.1)]" in result.stdout


def test_help_renders_without_hard_breaks_for_a_wrapped_docstring() -> None:
    """`stella timeline verify`'s docstring is wrapped in the source; its help is not."""
    result = runner.invoke(stella_app, ["timeline", "--help"], env={"COLUMNS": "300"})
    line = next(x for x in result.stdout.splitlines() if "verify" in x and "Recompute" in x)
    assert "link." in line


def test_make_run_takes_port_and_host() -> None:
    repo = Path(__file__).resolve().parents[2]
    # Under `make test` a nested make would print "Entering/Leaving directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=9090", "HOST=0.0.0.0"],
        cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    command = next(line for line in dry.stdout.splitlines() if "signals serve" in line)
    assert "signals serve --demo" in command
    assert "--port 9090" in command and "--host 0.0.0.0" in command
    default = subprocess.run(
        ["make", "-n", "run"], cwd=repo, env=env, capture_output=True, text=True, check=True,
        timeout=60,
    )  # fmt: skip
    assert "--port" not in default.stdout  # STELLA_PORT, the config file or 8080 decide


@pytest.mark.parametrize(
    "args",
    [
        ["export-receipt", "not-a-ulid", "--tenant", "acme"],
        ["ingest-runtime", "--tenant", "acme", "--graph-hash", "blake3:xyz",
         "--runtime", "t.ndjson", "--manifest", "manifest.json"],
        ["export-receipt", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--tenant", "Not_A_Tenant"],
    ],
    ids=["bad-ingest-id", "bad-graph-hash", "bad-tenant"],
)  # fmt: skip
def test_a_malformed_value_typed_on_the_command_line_is_a_usage_error(
    tmp_path: Path, args: list[str]
) -> None:
    result = runner.invoke(offline_app, [*args, "--data-dir", str(tmp_path / "data")])
    clean_usage_error(result)

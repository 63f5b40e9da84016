"""SPEC §2 "every value configurable" and §11 "every setting has a config-file key and a
STELLA_* environment variable": each `Limits` field is `limits.<name>` in the config file and
`STELLA_<NAME>` in the environment."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from stella_signals.errors import InvalidInput
from stella_signals.limits import DEFAULT_LIMITS, Limits, require_count
from stella_signals.wiring import limit_keys, load_settings


def test_a_count_is_a_whole_number_and_not_a_bool() -> None:
    assert require_count(3, "n") == 3
    assert require_count(0, "n", allow_zero=True) == 0
    for value, allow_zero in ((0, False), (-1, True), (True, False), (1.0, False), ("2", True)):
        kind = "non-negative" if allow_zero else "positive"
        with pytest.raises(ValueError, match=f"^n must be a {kind} integer, got "):
            require_count(value, "n", allow_zero=allow_zero)
    with pytest.raises(
        ValueError, match=r"^Limits\.max_compression_ratio must be a positive integer"
    ):
        Limits(max_compression_ratio=0)


@pytest.mark.parametrize("name", [f.name for f in fields(Limits)])
def test_every_limit_has_a_config_key_and_an_environment_variable(
    tmp_path: Path, name: str
) -> None:
    key, variable = limit_keys(name)
    config = tmp_path / "signals.toml"
    config.write_text(f"[limits]\n{key.split('.')[1]} = 7\n")
    assert getattr(load_settings(config_file=config, environ={}).limits, name) == 7
    from_env = load_settings(config_file=config, environ={variable: "9"})
    assert getattr(from_env.limits, name) == 9  # the environment wins over the file
    untouched = {f.name for f in fields(Limits)} - {name}
    assert all(getattr(from_env.limits, n) == getattr(DEFAULT_LIMITS, n) for n in untouched)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ={"STELLA_MAX_LINE_BYTES": value})
    assert caught.value.reason == "config_invalid"
    assert "max_line_bytes" in str(caught.value).lower()


def test_a_float_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "signals.toml"
    config.write_text("[limits]\nmax_records = 1.5\n")
    with pytest.raises(InvalidInput, match=r"limits\.max_records"):
        load_settings(config_file=config, environ={})


def test_the_offline_ingest_obeys_a_configured_limit(tmp_path: Path) -> None:
    import gzip

    from typer.testing import CliRunner

    from stella_signals.cli.offline import app
    from stella_signals_dev.synth import SynthSpec, trace_bytes
    from tests.offline.test_offline_ingest import ingest_args, make_bundle

    bundle = make_bundle(tmp_path, gzip.compress(trace_bytes(SynthSpec(50, seed=1)), mtime=0))
    args = [*ingest_args(bundle), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(app, args, env={"STELLA_MAX_RECORDS": "10"})
    assert result.exit_code == 6, result.output
    assert "max_records" in result.output or "more than 10 records" in result.output

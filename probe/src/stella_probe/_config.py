"""The probe's settings: from the command line or a JSON config file (``STELLA_PROBE``), parsed
once into a frozen `Config`; every refusal names the file, line or key and the reason."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any

from stella_probe._naming import generic_purl

__all__ = ["DEFAULT_SAMPLE", "Config", "ConfigError", "Target", "load_config", "parse_targets"]

#: Discovery's default duty cycle (seconds profiling, seconds idle): one sixth of the time.
DEFAULT_SAMPLE = (10.0, 50.0)


class ConfigError(ValueError):
    """A setting the probe refuses (it then does not start; the application runs unprobed)."""


@dataclass(frozen=True)
class Target:
    """One line of a targets file: ``module:qualname`` or a ``sym:python:`` id."""

    text: str
    module: str = ""
    qualname: str = ""
    symbol_id: str = ""


@dataclass(frozen=True)
class Config:
    mode: str = "targeted"
    targets: tuple[Target, ...] = ()
    out: str = "stella-probe-out"
    window: float = 60.0
    #: (on, off) seconds; None: every window back to back
    sample: tuple[float, float] | None = None
    project_root: str = field(default_factory=os.getcwd)
    purl: str = ""
    include_stdlib: bool = False
    #: distinct (symbol, caller) keys kept per window; beyond, new keys are counted, not kept
    max_keys: int = 200_000
    server: str = ""
    tenant: str = ""
    token_file: str = ""
    graph_hash: str = ""
    upload_retries: int = 5
    upload_backoff: float = 2.0
    process_name: str = ""
    #: private key PEM (Ed25519 or ECDSA P-256): each window's trace gets a DSSE envelope
    sign_key: str = ""

    @property
    def project_purl(self) -> str:
        return self.purl or generic_purl(os.path.basename(os.path.abspath(self.project_root)))

    def check(self) -> Config:
        if self.mode not in ("targeted", "discovery"):
            raise ConfigError(f"mode: {self.mode!r} is neither 'targeted' nor 'discovery'")
        if not self.window > 0:
            raise ConfigError(f"window: {self.window} is not a positive number of seconds")
        if self.sample is not None and not (self.sample[0] > 0 and self.sample[1] >= 0):
            raise ConfigError(f"sample: {self.sample} is not ON/OFF seconds (ON > 0, OFF >= 0)")
        if not 1 <= self.max_keys <= 1_000_000_000:
            raise ConfigError("max_keys: must be between 1 and 1000000000")
        upload = {"tenant": self.tenant, "token_file": self.token_file}
        if self.server and not all(upload.values()):
            missing = [k for k, v in upload.items() if not v]
            raise ConfigError(f"server: uploading needs {', '.join(missing)} as well")
        if self.sign_key:
            from stella_probe._sign import check_tenant, graph_digest

            if not self.tenant:
                raise ConfigError("sign_key: a signed statement names its tenant: give tenant too")
            check_tenant(self.tenant)
            if self.graph_hash:
                graph_digest(self.graph_hash)
        return self


def parse_sample(text: str) -> tuple[float, float]:
    """``ON/OFF`` seconds (``10/50``)."""
    on, sep, off = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return float(on), float(off)
    except ValueError:
        raise ConfigError(f"sample: {text!r} is not ON/OFF seconds, e.g. 10/50") from None


def parse_targets(path: str) -> tuple[Target, ...]:
    """One target a line; ``#`` starts a comment; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read targets: {exc}") from None
    return target_lines(path, lines)


def target_lines(path: str, lines: list[str]) -> tuple[Target, ...]:
    targets: list[Target] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if text.startswith("sym:python:"):
            targets.append(Target(text, symbol_id=text))
            continue
        module, sep, qualname = text.partition(":")
        if not sep or not _dotted(module) or not _dotted(qualname):
            raise ConfigError(
                f"{path}:{number}: {text!r} is neither module:qualname nor a sym:python: id"
            )
        targets.append(Target(text, module=module, qualname=qualname))
    return tuple(targets)


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


_KEYS = {f.name for f in fields(Config)}


def load_config(path: str) -> Config:
    """A JSON object whose keys are `Config`'s fields; ``targets`` names a targets file (or is a
    list of target lines); ``sample`` is ``"ON/OFF"``."""
    try:
        with open(path, encoding="utf-8") as handle:
            data: Any = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the probe config: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the probe config must be a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = dict(data)
    base = os.path.dirname(os.path.abspath(path))
    targets = values.pop("targets", None)
    if isinstance(targets, str):
        values["targets"] = parse_targets(os.path.join(base, targets))
    elif isinstance(targets, list):
        values["targets"] = _targets_from_lines(path, targets)
    elif targets is not None:
        raise ConfigError(f"{path}: targets: a file name or a list of target lines")
    sample = values.pop("sample", None)
    if sample is not None:
        values["sample"] = parse_sample(str(sample))
    for key in ("window", "upload_backoff"):
        if key in values and not isinstance(values[key], (int, float)):
            raise ConfigError(f"{path}: {key}: a number of seconds")
    for key in ("max_keys", "upload_retries"):
        if key in values and not isinstance(values[key], int):
            raise ConfigError(f"{path}: {key}: an integer")
    try:
        return Config(**values).check()
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _targets_from_lines(path: str, lines: list[Any]) -> tuple[Target, ...]:
    if not all(isinstance(line, str) for line in lines):
        raise ConfigError(f"{path}: targets: every entry must be a string")
    return target_lines(f"{path} (targets)", lines)

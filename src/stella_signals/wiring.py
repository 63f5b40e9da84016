"""The composition root: settings (config file, ``STELLA_*`` environment, flags) and the
services built from them. Front doors (`api`, `cli`) build everything through here."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stella_signals.attest import ServiceKey, load_or_create_service_key
from stella_signals.clock import Clock, SystemClock
from stella_signals.errors import InvalidInput
from stella_signals.ingest import GraphCatalog, IngestContext
from stella_signals.limits import DEFAULT_LIMITS, Limits
from stella_signals.storage import FilesystemBlobStore, SqlRepository, sqlite_url

__all__ = ["Services", "Settings", "load_settings"]

#: Settings: name → (config-file key, environment variable).
_KEYS = {
    "data_dir": ("data_dir", "STELLA_DATA_DIR"),
    "database_url": ("database.url", "STELLA_DATABASE_URL"),
    "cas_url": ("cas.url", "STELLA_CAS_URL"),
    "service_key_file": ("service_key_file", "STELLA_SERVICE_KEY_FILE"),
    "host": ("server.host", "STELLA_HOST"),
    "port": ("server.port", "STELLA_PORT"),
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    cas_url: str | None = None
    service_key_file: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    limits: Limits = field(default=DEFAULT_LIMITS)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "signals.db")


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Flags win over the environment, which wins over the config file, over defaults."""
    env = os.environ if environ is None else environ
    doc: dict[str, Any] = {}
    if config_file is not None:
        try:
            doc = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInput(
                f"config file {config_file}: {exc}", reason="config_invalid"
            ) from exc
    values: dict[str, Any] = {}
    for name, (key, variable) in _KEYS.items():
        for candidate in (flags.get(name), env.get(variable), _lookup(doc, key)):
            if candidate is not None:
                values[name] = candidate
                break
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    if "port" in values:
        try:
            values["port"] = int(values["port"])
        except ValueError as exc:
            raise InvalidInput(f"port must be a number: {values['port']!r}") from exc
    return replace(Settings(), **values)


@dataclass(kw_only=True)
class Services:
    """Long-lived services of one process."""

    settings: Settings
    repo: SqlRepository
    blobs: FilesystemBlobStore
    graphs: GraphCatalog
    service_key: ServiceKey
    clock: Clock

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> Services:
        if settings.cas_url is not None:
            raise InvalidInput(
                "an S3 CAS (--cas s3://...) arrives with the scale-out issue; "
                "this version stores blobs under --data-dir",
                reason="config_invalid",
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        repo = SqlRepository(settings.effective_database_url)
        if migrate:
            repo.migrate()
        blobs = FilesystemBlobStore(settings.data_dir / "cas")
        return cls(
            settings=settings,
            repo=repo,
            blobs=blobs,
            graphs=GraphCatalog(blobs, settings.data_dir / "index"),
            service_key=load_or_create_service_key(
                settings.data_dir, env_file=settings.service_key_file
            ),
            clock=clock or SystemClock(),
        )

    def ingest_context(self, source: str) -> IngestContext:
        return IngestContext(
            blobs=self.blobs,
            repo=self.repo,
            graphs=self.graphs,
            clock=self.clock,
            limits=self.settings.limits,
            service_key=self.service_key,
            source=source,
        )

    def close(self) -> None:
        self.repo.close()

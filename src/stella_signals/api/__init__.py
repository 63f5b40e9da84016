"""The Signals HTTP API (FastAPI): SPEC §6."""

from stella_signals.api._app import create_app

__all__ = ["create_app"]

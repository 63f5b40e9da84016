"""The Signals HTTP API (FastAPI): SPEC §6."""

from stella_signals.api._app import create_app
from stella_signals.api._server import uvicorn_options

__all__ = ["create_app", "uvicorn_options"]

"""A package: its __init__ re-exports from a submodule."""

from .core import Engine, run_engine

__all__ = ["Engine", "run_engine", "setup"]


def setup():
    return Engine()

"""stella-signals: runtime reachability evidence, provably tied to static call graphs."""

__version__ = "0.1.0"
__all__ = ["__version__"]

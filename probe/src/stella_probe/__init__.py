"""stella-probe: a runtime probe for Python services (SPEC §14).

Records which functions ran (*targeted* mode: a list of watched functions, nearly free) or
every call with its caller (*discovery* mode), and writes SPEC §2 runtime traces, one gzip file
per window with a ``probe-manifest.json`` beside it. Standard library only, Python >= 3.9.
"""

from __future__ import annotations

__version__ = "0.1.0"

from stella_probe._config import Config, ConfigError, Target, load_config, parse_targets
from stella_probe._probe import Probe, current, start

__all__ = [
    "Config",
    "ConfigError",
    "Probe",
    "Target",
    "__version__",
    "current",
    "load_config",
    "parse_targets",
    "start",
]

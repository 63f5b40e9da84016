"""Imported by ``stella_probe.pth`` at interpreter start-up when ``STELLA_PROBE`` names a
config file: starts the probe in that process. A bad config is reported on stderr and the
application runs unprobed; nothing here may stop the interpreter from starting."""

from __future__ import annotations

import os
import sys


def _activate() -> None:
    path = os.environ.get("STELLA_PROBE", "")
    if not path:
        return
    try:
        from stella_probe import ConfigError, load_config, start

        try:
            start(load_config(path))  # a bad signing key is refused by start
        except ConfigError as exc:
            print(f"stella-probe: not started: {exc}", file=sys.stderr)
    except Exception as exc:  # the application must start whatever happens here
        print(f"stella-probe: not started: {exc!r}", file=sys.stderr)


_activate()

"""The web console (issue 20): server-rendered pages under ``/ui`` of `signals serve`.

A front door like `api` and `cli`: it reads through the services and ports, never the storage
adapters. See docs/console.md.
"""

from stella_signals.console._app import CONTENT_SECURITY_POLICY, create_console

__all__ = ["CONSOLE_PREFIX", "CONTENT_SECURITY_POLICY", "create_console"]

#: Where the API app mounts the console.
CONSOLE_PREFIX = "/ui"

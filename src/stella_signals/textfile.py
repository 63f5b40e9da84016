"""Config and secret files an operator names (a config file, a token file), read whole and
checked: small, UTF-8 text. Its own module, so that the `stella` client commands read a token
file without importing the wiring (and with it the ingest pipeline, the ports and the metrics:
a quarter of a second of CPU at every start, 0.65 -> 0.39 s for `stella ingest`;
tests/cli/test_startup_imports.py)."""

from __future__ import annotations

from pathlib import Path

from stella_signals.errors import InvalidConfig

__all__ = ["MAX_TEXT_FILE_BYTES", "read_text_file"]

#: A config or token file is small: anything larger is not one (and is not read whole).
MAX_TEXT_FILE_BYTES = 1024 * 1024


def read_text_file(path: Path, *, what: str, max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """The text of a config or secret file an operator named (``what``: "config file", "token
    file"). `InvalidConfig` (exit 2), in one line naming ``what`` and the file, when it cannot
    be read, is larger than ``max_bytes``, or is not UTF-8 text (a binary file)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidConfig(
            f"{what} {path}: {exc.strerror or exc}", reason="unreadable_file"
        ) from None
    if len(data) > max_bytes:
        raise InvalidConfig(
            f"{what} {path}: more than {max_bytes} bytes, not a {what}", reason="unreadable_file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidConfig(
            f"{what} {path}: not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}); "
            "is it a binary file?",
            reason="unreadable_file",
        ) from None
    if "\x00" in text:
        raise InvalidConfig(
            f"{what} {path}: holds a NUL byte (at {text.index(chr(0))}); is it a binary file?",
            reason="unreadable_file",
        )
    return text

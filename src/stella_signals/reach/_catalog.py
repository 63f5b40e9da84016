"""The vulnerability catalog (SPEC §15, ``stella.vuln-catalog/v1``): parsed once, strictly,
into a typed, normalised `Catalog`; every refusal is a problem naming the field (an RFC 6901
pointer) and why. See docs/verdicts.md for the format.

Normalisation (so two catalogs that say the same thing have the same digest): package names
are PEP 503-normalised, ``affected`` is written as ``packaging`` writes the specifier set
(sorted), ``fixed`` as PEP 440 normal forms, aliases / fixed / symbols are sorted and
deduplicated, and entries are sorted by (vuln_id, package, affected).

Repeated (vuln_id, package): allowed, with different ``affected`` sets. A specifier set
cannot express a union (``<1.2 || >=2.0,<2.3``), so one advisory with several ranges is
several entries; the engine treats them as one advisory whose ranges are unioned (an
installed version inside any of them is a candidate; the symbols of every matching entry are
targets). The same (vuln_id, package, affected) twice is refused (``duplicate_entry``): it
could only be a mistake or a contradiction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar, Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from stella_signals.canonical import canonical_json
from stella_signals.digests import sha256_hex
from stella_signals.errors import InvalidDocument, LimitExceeded
from stella_signals.pyscan import normalise_dist
from stella_signals.reach._model import CATALOG_SCHEMA, Catalog, CatalogEntry
from stella_signals.wire import (
    DuplicateKeyError,
    Problem,
    ProblemSink,
    duplicate_keys,
    json_pointer,
    json_type,
    loads_strict,
)

__all__ = [
    "DEFAULT_MAX_CATALOG_BYTES",
    "CatalogProblem",
    "InvalidCatalog",
    "catalog_document",
    "check_catalog",
    "make_catalog",
    "parse_catalog",
    "parse_symbol",
    "pypi_package",
]

#: Largest catalog accepted, in bytes (`LimitExceeded`, limit ``max_catalog_bytes``).
DEFAULT_MAX_CATALOG_BYTES: Final = 64 * 1024 * 1024
#: Problems kept per catalog; `InvalidCatalog.problem_count` still counts them all.
MAX_PROBLEMS: Final = 100

_TOP_FIELDS: Final = ("schema", "entries")
_ENTRY_FIELDS: Final = ("vuln_id", "aliases", "package", "affected", "fixed", "symbols")
_REQUIRED_ENTRY_FIELDS: Final = ("vuln_id", "package", "affected")
#: PEP 508 distribution names (the name part of the purl, before normalisation).
_DIST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)
_PURL_PREFIX: Final = "pkg:pypi/"


class CatalogProblem(Problem):
    """One problem in a catalog: where (JSON pointer), what (reason code), why."""

    __slots__ = ()
    ROOT: ClassVar[str] = "/"


class InvalidCatalog(InvalidDocument):
    """A catalog breaks SPEC §15; ``problems`` holds the first `MAX_PROBLEMS`."""

    default_reason = "schema_invalid"
    problems: tuple[CatalogProblem, ...]


def pypi_package(text: str) -> str | None:
    """``pkg:pypi/<name>`` with the name PEP 503-normalised, or None when ``text`` is not a
    versionless PyPI purl (no ``@version``, qualifiers or subpath)."""
    if not text.startswith(_PURL_PREFIX):
        return None
    name = text[len(_PURL_PREFIX) :]
    if not _DIST_NAME.fullmatch(name):
        return None
    return _PURL_PREFIX + normalise_dist(name)


def parse_symbol(text: str) -> tuple[str, str] | None:
    """``module:qualname`` → (module, qualname): the module a dotted name of identifiers, the
    qualname dotted identifiers or empty (module-level code). None when malformed."""
    module, colon, qualname = text.partition(":")
    if not colon or not _dotted(module) or (qualname and not _dotted(qualname)):
        return None
    return module, qualname


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _normal_version(text: str) -> str:
    return str(Version(text))


def make_catalog(entries: Iterable[CatalogEntry]) -> Catalog:
    """A `Catalog` of already-valid entries: normalised, sorted, digested (the OSV importer
    and the parser both end here)."""
    normal = sorted(
        (
            CatalogEntry(
                vuln_id=e.vuln_id,
                package=e.package,
                affected=str(SpecifierSet(e.affected)),
                aliases=tuple(sorted(set(e.aliases) - {e.vuln_id})),
                fixed=tuple(sorted({_normal_version(v) for v in e.fixed}, key=Version)),
                symbols=tuple(sorted(set(e.symbols))),
            )
            for e in entries
        ),
        key=lambda e: (e.vuln_id, e.package, e.affected),
    )
    body = catalog_document(normal)
    return Catalog(entries=tuple(normal), digest="sha256:" + sha256_hex(canonical_json(body)))


def catalog_document(entries: Catalog | Iterable[CatalogEntry]) -> dict[str, Any]:
    """The ``stella.vuln-catalog/v1`` JSON of a catalog (what its digest covers)."""
    items = entries.entries if isinstance(entries, Catalog) else entries
    return {
        "schema": CATALOG_SCHEMA,
        "entries": [
            {
                "vuln_id": e.vuln_id,
                "aliases": list(e.aliases),
                "package": e.package,
                "affected": e.affected,
                "fixed": list(e.fixed),
                "symbols": list(e.symbols),
            }
            for e in items
        ],
    }


class _Parser:
    def __init__(self) -> None:
        self.problems: ProblemSink[CatalogProblem] = ProblemSink(CatalogProblem, MAX_PROBLEMS)

    def add(self, pointer: str, reason: str, message: str) -> None:
        self.problems.add(pointer, reason, message)

    def document(self, doc: object) -> list[CatalogEntry] | None:
        if not isinstance(doc, dict):
            self.add("", "not_an_object", f"a catalog is a JSON object, got {json_type(doc)}")
            return None
        for name in _TOP_FIELDS:
            if name not in doc:
                self.add(json_pointer(name), "missing_field", f"{name} is required")
        for name in sorted(set(doc) - set(_TOP_FIELDS)):
            self.add(json_pointer(name), "unknown_field", f"{name!r} is not a catalog field")
        schema = doc.get("schema", CATALOG_SCHEMA)
        if schema != CATALOG_SCHEMA:
            self.add(
                "/schema", "wrong_schema", f"schema must be {CATALOG_SCHEMA!r}, got {schema!r}"
            )
        raw = doc.get("entries", [])
        if not isinstance(raw, list):
            self.add("/entries", "wrong_type", f"entries must be an array, got {json_type(raw)}")
            return None
        entries: list[CatalogEntry] = []
        first_at: dict[tuple[str, str, str], int] = {}
        for index, item in enumerate(raw):
            entry = self.entry(index, item)
            if entry is None:
                continue
            key = (entry.vuln_id, entry.package, str(SpecifierSet(entry.affected)))
            if key in first_at:
                self.add(
                    json_pointer("entries", index),
                    "duplicate_entry",
                    f"({entry.vuln_id}, {entry.package}, {key[2]!r}) is already listed at "
                    f"{json_pointer('entries', first_at[key])}",
                )
                continue
            first_at[key] = index
            entries.append(entry)
        return entries

    def entry(self, index: int, item: object) -> CatalogEntry | None:
        at = json_pointer("entries", index)
        before = self.problems.total
        if not isinstance(item, dict):
            self.add(at, "not_an_object", f"an entry is a JSON object, got {json_type(item)}")
            return None
        for name in _REQUIRED_ENTRY_FIELDS:
            if name not in item:
                self.add(f"{at}/{name}", "missing_field", f"{name} is required")
        for name in sorted(set(item) - set(_ENTRY_FIELDS)):
            self.add(json_pointer("entries", index, name), "unknown_field",
                     f"{name!r} is not a catalog entry field")  # fmt: skip
        vuln_id = self.text(f"{at}/vuln_id", item.get("vuln_id"))
        package = self.text(f"{at}/package", item.get("package"))
        if package is not None:
            package = pypi_package(package)
            if package is None:
                message = "package must be pkg:pypi/<name> (a PEP 508 name, no version)"
                self.add(f"{at}/package", "invalid_package", message)
        affected = self.affected(f"{at}/affected", item.get("affected"))
        aliases = self.texts(f"{at}/aliases", item.get("aliases", []))
        fixed = self.texts(f"{at}/fixed", item.get("fixed", []))
        for i, version in enumerate(fixed or ()):
            try:
                Version(version)
            except InvalidVersion:
                self.add(f"{at}/fixed/{i}", "invalid_version",
                         f"{version!r} is not a PEP 440 version")  # fmt: skip
        symbols = self.texts(f"{at}/symbols", item.get("symbols", []))
        for i, symbol in enumerate(symbols or ()):
            if parse_symbol(symbol) is None:
                self.add(f"{at}/symbols/{i}", "invalid_symbol",
                         f"{symbol!r} is not module:qualname (dotted identifiers)")  # fmt: skip
        if self.problems.total != before or vuln_id is None or package is None:
            return None
        if affected is None:
            return None
        return CatalogEntry(
            vuln_id=vuln_id,
            package=package,
            affected=affected,
            aliases=tuple(aliases or ()),
            fixed=tuple(fixed or ()),
            symbols=tuple(symbols or ()),
        )

    def text(self, pointer: str, value: object) -> str | None:
        if value is None:
            return None  # missing: reported once, by the caller
        if not isinstance(value, str):
            self.add(pointer, "wrong_type", f"expected a string, got {json_type(value)}")
            return None
        if not value.strip():
            self.add(pointer, "empty_field", "must not be empty")
            return None
        return value

    def texts(self, pointer: str, value: object) -> list[str] | None:
        if not isinstance(value, list):
            self.add(pointer, "wrong_type", f"expected an array of strings, got {json_type(value)}")
            return None
        out = [self.text(f"{pointer}/{i}", item) for i, item in enumerate(value)]
        for i, item in enumerate(value):
            if item is None:
                self.add(f"{pointer}/{i}", "wrong_type", "expected a string, got null")
        return None if any(item is None for item in out) else [s for s in out if s is not None]

    def affected(self, pointer: str, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(pointer, "wrong_type", f"expected a string, got {json_type(value)}")
            return None
        try:
            return str(SpecifierSet(value))
        except InvalidSpecifier as exc:
            self.add(pointer, "invalid_specifier", f"not a PEP 440 specifier set: {exc}")
            return None


def check_catalog(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_CATALOG_BYTES
) -> tuple[Catalog | None, tuple[CatalogProblem, ...], int]:
    """The non-raising face: (catalog or None, the first problems, how many in all).

    `LimitExceeded` (``max_catalog_bytes``) for a document over ``max_bytes``."""
    if len(data) > max_bytes:
        raise LimitExceeded(
            f"catalog is {len(data)} bytes; the limit is {max_bytes}", limit="max_catalog_bytes"
        )
    parser = _Parser()
    entries = None
    try:
        doc = loads_strict(data)
    except DuplicateKeyError as exc:
        for pointer, key in duplicate_keys(data) or [("", exc.key)]:
            parser.add(pointer, "duplicate_key", f"key {key!r} appears twice")
    except ValueError as exc:  # JSONDecodeError (its text gives line and column), UTF-8, NaN
        parser.add("", "invalid_json", f"not a JSON document: {exc}")
    else:
        entries = parser.document(doc)
    problems = tuple(parser.problems.problems)
    if parser.problems.total or entries is None:
        return None, problems, parser.problems.total
    return make_catalog(entries), (), 0


def parse_catalog(data: bytes, *, max_bytes: int = DEFAULT_MAX_CATALOG_BYTES) -> Catalog:
    """Catalog bytes → `Catalog`, or `InvalidCatalog` naming every problem (pointer, reason)."""
    catalog, problems, total = check_catalog(data, max_bytes=max_bytes)
    if catalog is None:
        raise InvalidCatalog(
            f"invalid vulnerability catalog: {problems[0]}", problems=problems, problem_count=total
        )
    return catalog

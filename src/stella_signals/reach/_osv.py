"""OSV records (the format of osv.dev, GitHub and PyPA advisories) → a vulnerability catalog.
Pure: the caller reads the files and hands over their bytes. The mapping is in
docs/verdicts.md; in short:

- one catalog entry per (record, PyPI package, version interval): an OSV ``ECOSYSTEM`` range
  whose events open and close several times, several ranges, or ``versions`` outside every
  range are a union a PEP 440 specifier set cannot express, so each interval is an entry
  (``>=introduced,<=fixed,!=fixed`` — PEP 440's ``<fixed`` would leave out the pre-releases
  of the fix, which OSV counts as affected — ``>=introduced,<=last_affected``, ``limit`` as
  ``fixed``; ``introduced: "0"`` has no lower bound); a version listed in ``versions`` that
  no range covers is ``==version``;
- symbols from ``affected[].ecosystem_specific.imports``, in either convention in use:
  ``{"path": module, "symbols": [qualname...]}`` (Go's vulndb) or ``{"modules": [module...],
  "attribute": qualname}`` (PyPA's advisory-db); none → a package-level entry;
- ``fixed`` from the ``fixed`` events, ``aliases`` from the record's ``aliases``;
- other ecosystems, ``GIT``/``SEMVER`` ranges and withdrawn records are skipped and
  reported; anything malformed is a problem naming the file, the record and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from packaging.version import InvalidVersion, Version

from stella_signals.errors import InvalidDocument
from stella_signals.reach._catalog import make_catalog, parse_symbol, pypi_package
from stella_signals.reach._model import Catalog, CatalogEntry
from stella_signals.wire import (
    DuplicateKeyError,
    Problem,
    duplicate_keys,
    json_pointer,
    json_type,
    loads_strict,
)

__all__ = ["InvalidOsv", "OsvImport", "OsvProblem", "import_osv"]

MAX_PROBLEMS: Final = 100
_EVENT_KINDS: Final = ("introduced", "fixed", "last_affected", "limit")


@dataclass(frozen=True, slots=True)
class OsvProblem(Problem):
    """A problem (or a skipped part) of one OSV file: the file, the record (its ``id``, or
    its pointer when it has none), the field (a JSON pointer in the file) and why."""

    file: str = ""
    record: str = ""

    def to_dict(self) -> dict[str, str | int | None]:
        return {**Problem.to_dict(self), "file": self.file, "record": self.record or None}

    def __str__(self) -> str:
        record = f"{self.record}: " if self.record else ""
        return f"{self.file}: {record}{self.pointer or '/'}: {self.reason}: {self.message}"


class InvalidOsv(InvalidDocument):
    """OSV input that cannot be converted; ``problems`` holds the first `MAX_PROBLEMS`."""

    default_reason = "schema_invalid"
    problems: tuple[OsvProblem, ...]


@dataclass(frozen=True, slots=True)
class OsvImport:
    catalog: Catalog
    records: int
    #: What was left out on purpose (other ecosystems, GIT ranges, withdrawn records).
    skipped: tuple[OsvProblem, ...]


class _Sink:
    def __init__(self) -> None:
        self.problems: list[OsvProblem] = []
        self.skipped: list[OsvProblem] = []
        self.total = 0

    def add(self, file: str, record: str, pointer: str, reason: str, message: str) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(OsvProblem(pointer, reason, message, file, record))

    def skip(self, file: str, record: str, pointer: str, reason: str, message: str) -> None:
        self.skipped.append(OsvProblem(pointer, reason, message, file, record))


@dataclass
class _Record:
    file: str
    name: str  # the record's id, or its pointer
    base: tuple[str | int, ...]  # JSON path of the record in its file
    sink: _Sink

    def at(self, *path: str | int) -> str:
        return json_pointer(*self.base, *path)

    def problem(self, reason: str, message: str, *path: str | int) -> None:
        self.sink.add(self.file, self.name, self.at(*path), reason, message)

    def skip(self, reason: str, message: str, *path: str | int) -> None:
        self.sink.skip(self.file, self.name, self.at(*path), reason, message)


def _records(file: str, data: bytes, sink: _Sink) -> list[tuple[tuple[str | int, ...], Any]]:
    """(path, value) of each record: a file holds one record, an array of them, or an OSV
    API answer ``{"vulns": [...]}``."""
    try:
        doc = loads_strict(data)
    except DuplicateKeyError as exc:
        for pointer, key in duplicate_keys(data) or [("", exc.key)]:
            sink.add(file, "", pointer, "duplicate_key", f"key {key!r} appears twice")
        return []
    except ValueError as exc:  # JSONDecodeError names line and column
        sink.add(file, "", "", "invalid_json", f"not a JSON document: {exc}")
        return []
    if isinstance(doc, list):
        return [((i,), item) for i, item in enumerate(doc)]
    if isinstance(doc, dict) and "vulns" in doc and "id" not in doc:
        vulns = doc["vulns"]
        if not isinstance(vulns, list):
            sink.add(file, "", "/vulns", "wrong_type", f"expected an array, got {json_type(vulns)}")
            return []
        return [(("vulns", i), item) for i, item in enumerate(vulns)]
    return [((), doc)]


def _version(record: _Record, text: object, *path: str | int) -> Version | None:
    if not isinstance(text, str):
        record.problem("wrong_type", f"expected a version string, got {json_type(text)}", *path)
        return None
    try:
        return Version(text)
    except InvalidVersion:
        record.problem("invalid_version", f"{text!r} is not a PEP 440 version", *path)
        return None


def _intervals(
    record: _Record, events: object, *path: str | int
) -> tuple[list[tuple[Version | None, Version | None, bool]], list[str]] | None:
    """([(lower or None, upper or None, upper inclusive)], fixed versions) of one range."""
    if not isinstance(events, list) or not events:
        record.problem("wrong_type", "events must be a non-empty array", *path)
        return None
    parsed: list[tuple[Version, int, str, str]] = []
    ok = True
    for i, event in enumerate(events):
        if not isinstance(event, dict) or len(event) != 1 or next(iter(event)) not in _EVENT_KINDS:
            kinds = ", ".join(_EVENT_KINDS)
            record.problem("invalid_event", f"an event is {{one of {kinds}: value}}", *path, i)
            ok = False
            continue
        kind, text = next(iter(event.items()))
        if kind == "introduced" and text == "0":
            parsed.append((Version("0"), -1, kind, text))
            continue
        version = _version(record, text, *path, i, kind)
        if version is None:
            ok = False
            continue
        # at one version, close before opening: "fixed 1.0, introduced 1.0" reopens
        parsed.append((version, 0 if kind != "introduced" else 1, kind, text))
    if not ok:
        return None
    parsed.sort(key=lambda e: (e[0], e[1]))
    out: list[tuple[Version | None, Version | None, bool]] = []
    fixed: list[str] = []
    lower: Version | None = None
    open_ = False
    for version, order, kind, text in parsed:
        if kind == "introduced":
            if not open_:
                lower, open_ = (None if order == -1 else version), True
            continue
        if kind == "fixed":
            fixed.append(text)
        if open_:
            out.append((lower, version, kind == "last_affected"))
            open_ = False
    if open_:
        out.append((lower, None, False))
    return out, fixed


def _specifier(lower: Version | None, upper: Version | None, inclusive: bool) -> str:
    parts = []
    if lower is not None:
        parts.append(f">={lower}")
    if upper is not None and inclusive:
        parts.append(f"<={upper}")
    elif upper is not None and not upper.is_prerelease:
        # PEP 440's "<1.5" leaves out 1.5rc1, which OSV orders before the fix: it is affected
        parts.append(f"<={upper},!={upper}")
    elif upper is not None:
        parts.append(f"<{upper}")
    return ",".join(parts)


def _covers(interval: tuple[Version | None, Version | None, bool], version: Version) -> bool:
    lower, upper, inclusive = interval
    if lower is not None and version < lower:
        return False
    if upper is None:
        return True
    return version <= upper if inclusive else version < upper


def _symbols(record: _Record, specific: object, *path: str | int) -> list[str] | None:
    if specific is None:
        return []
    if not isinstance(specific, dict):
        record.problem("wrong_type", f"expected an object, got {json_type(specific)}", *path)
        return None
    imports = specific.get("imports")
    if imports is None:
        return []
    if not isinstance(imports, list):
        record.problem("wrong_type", f"expected an array, got {json_type(imports)}",
                       *path, "imports")  # fmt: skip
        return None
    out: list[str] = []
    ok = True
    for i, item in enumerate(imports):
        at = (*path, "imports", i)
        if not isinstance(item, dict):
            record.problem("wrong_type", f"expected an object, got {json_type(item)}", *at)
            ok = False
            continue
        if "path" in item:  # Go vulndb: {"path": module, "symbols": [qualname...]}
            modules, names, names_at = [item["path"]], item.get("symbols", []), "symbols"
            if not isinstance(names, list):
                record.problem("wrong_type", "symbols must be an array", *at, "symbols")
                ok = False
                continue
            if not names:
                names = [""]  # the whole module: its module-level code
        elif "modules" in item:  # PyPA advisory-db: {"modules": [...], "attribute": name}
            modules, names, names_at = item["modules"], [item.get("attribute", "")], "attribute"
            if not isinstance(modules, list):
                record.problem("wrong_type", "modules must be an array", *at, "modules")
                ok = False
                continue
        else:
            record.problem("missing_field", "an import names its module: path or modules", *at)
            ok = False
            continue
        for m, module in enumerate(modules):
            for n, name in enumerate(names):
                where = (*at, "path") if "path" in item else (*at, "modules", m)
                if not isinstance(module, str) or not isinstance(name, str):
                    record.problem("wrong_type", "module and symbol names are strings", *where)
                    ok = False
                    continue
                symbol = f"{module}:{name}"
                if parse_symbol(symbol) is None:
                    field = (*at, names_at, n) if names_at == "symbols" else (*at, names_at)
                    bad = where if not _module_ok(module) else field
                    record.problem("invalid_symbol",
                                   f"{symbol!r} is not module:qualname (dotted identifiers)",
                                   *bad)  # fmt: skip
                    ok = False
                    continue
                out.append(symbol)
    return out if ok else None


def _module_ok(module: str) -> bool:
    return parse_symbol(f"{module}:") is not None


def _affected(record: _Record, vuln_id: str, aliases: tuple[str, ...], i: int,
              item: object) -> list[CatalogEntry]:  # fmt: skip
    if not isinstance(item, dict):
        record.problem("wrong_type", f"expected an object, got {json_type(item)}", "affected", i)
        return []
    package = item.get("package")
    if not isinstance(package, dict):
        record.problem("missing_field", "affected package {ecosystem, name} is required",
                       "affected", i, "package")  # fmt: skip
        return []
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if ecosystem != "PyPI":
        record.skip("not_pypi", f"ecosystem {ecosystem!r} is not PyPI", "affected", i, "package")
        return []
    purl = pypi_package(f"pkg:pypi/{name}") if isinstance(name, str) else None
    if purl is None:
        record.problem("invalid_package", f"{name!r} is not a PyPI distribution name",
                       "affected", i, "package", "name")  # fmt: skip
        return []
    symbols = _symbols(record, item.get("ecosystem_specific"), "affected", i, "ecosystem_specific")
    ranges = item.get("ranges", [])
    versions = item.get("versions", [])
    if not isinstance(ranges, list):
        record.problem("wrong_type", "ranges must be an array", "affected", i, "ranges")
        return []
    if not isinstance(versions, list):
        record.problem("wrong_type", "versions must be an array", "affected", i, "versions")
        return []
    intervals: list[tuple[Version | None, Version | None, bool]] = []
    fixed: list[str] = []
    for r, block in enumerate(ranges):
        if not isinstance(block, dict):
            record.problem("wrong_type", "a range is an object", "affected", i, "ranges", r)
            continue
        kind = block.get("type")
        if kind != "ECOSYSTEM":
            record.skip("range_type", f"range type {kind!r} is not ECOSYSTEM (PEP 440)",
                        "affected", i, "ranges", r, "type")  # fmt: skip
            continue
        found = _intervals(record, block.get("events"), "affected", i, "ranges", r, "events")
        if found is not None:
            intervals.extend(found[0])
            fixed.extend(found[1])
    listed = [_version(record, v, "affected", i, "versions", n) for n, v in enumerate(versions)]
    if symbols is None or any(v is None for v in listed):
        return []
    specifiers = [_specifier(*interval) for interval in intervals]
    for version in listed:
        if version is not None and not any(_covers(iv, version) for iv in intervals):
            specifiers.append(f"=={version}")
    if not specifiers:
        record.skip("no_versions", "no ECOSYSTEM range or version: nothing to match",
                    "affected", i)  # fmt: skip
    return [
        CatalogEntry(vuln_id=vuln_id, package=purl, affected=spec, aliases=aliases,
                     fixed=tuple(fixed), symbols=tuple(symbols))
        for spec in dict.fromkeys(specifiers)
    ]  # fmt: skip


def _record(record: _Record, doc: object) -> list[CatalogEntry]:
    if not isinstance(doc, dict):
        record.problem("not_an_object", f"an OSV record is an object, got {json_type(doc)}")
        return []
    vuln_id = doc.get("id")
    if not isinstance(vuln_id, str) or not vuln_id.strip():
        record.problem("missing_field", "a record needs an id (a non-empty string)", "id")
        return []
    record.name = vuln_id
    if doc.get("withdrawn"):
        record.skip("withdrawn", f"withdrawn {doc['withdrawn']}", "withdrawn")
        return []
    aliases = doc.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        record.problem("wrong_type", "aliases must be an array of strings", "aliases")
        return []
    affected = doc.get("affected")
    if not isinstance(affected, list):
        reason = "missing_field" if affected is None else "wrong_type"
        record.problem(reason, "affected must be an array", "affected")
        return []
    entries: list[CatalogEntry] = []
    for i, item in enumerate(affected):
        entries.extend(_affected(record, vuln_id, tuple(aliases), i, item))
    return entries


def _merge(entries: Iterable[CatalogEntry]) -> list[CatalogEntry]:
    """One entry per (vuln_id, package, affected): two ``affected`` blocks with the same
    range are one advisory; if either is package-level, so is the merge (the wider claim)."""
    merged: dict[tuple[str, str, str], CatalogEntry] = {}
    for entry in entries:
        key = (entry.vuln_id, entry.package, entry.affected)
        seen = merged.get(key)
        if seen is None:
            merged[key] = entry
            continue
        whole = not seen.symbols or not entry.symbols
        merged[key] = replace(
            seen,
            aliases=tuple({*seen.aliases, *entry.aliases}),
            fixed=tuple({*seen.fixed, *entry.fixed}),
            symbols=() if whole else tuple({*seen.symbols, *entry.symbols}),
        )
    return list(merged.values())


def import_osv(files: Sequence[tuple[str, bytes]]) -> OsvImport:
    """OSV files (name, bytes) → a catalog; `InvalidOsv` naming every problem when any is
    malformed (nothing is converted then). A record id seen twice is refused."""
    sink = _Sink()
    entries: list[CatalogEntry] = []
    first: dict[str, str] = {}
    count = 0
    for file, data in files:
        for base, doc in _records(file, data, sink):
            count += 1
            record = _Record(file, json_pointer(*base) or "/", base, sink)
            found = _record(record, doc)
            if isinstance(doc, Mapping) and isinstance(doc.get("id"), str):
                where = f"{file}{json_pointer(*base)}"
                if doc["id"] in first:
                    record.problem("duplicate_record",
                                   f"record {doc['id']} is already given at {first[doc['id']]}",
                                   "id")  # fmt: skip
                    continue
                first[doc["id"]] = where
            entries.extend(found)
    if sink.total:
        raise InvalidOsv(
            f"invalid OSV input: {sink.problems[0]}",
            problems=sink.problems,
            problem_count=sink.total,
        )
    return OsvImport(catalog=make_catalog(_merge(entries)), records=count,
                     skipped=tuple(sink.skipped))  # fmt: skip

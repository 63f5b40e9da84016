"""Symbol manifests ``SYMBOL_MANIFEST/v1`` (SPEC §4), parsed once at the edge.

A manifest lists the debug-symbol files (ELF debug, PDB, dSYM) of an image, one entry per
(``build_id``, ``file``), sorted by that pair. Every problem found is named by an RFC 6901 JSON
pointer and a stable reason code (`ManifestReason`); all of them are collected, not only the
first. Unknown fields are kept in ``extra``, never dropped and never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple

from stella_signals.errors import InvalidDocument, InvalidTenant, LimitExceeded
from stella_signals.strictjson import DuplicateKeyError, loads_strict
from stella_signals.tenancy import TenantId, parse_tenant
from stella_signals.wire import (
    Problem,
    ProblemSink,
    Rfc3339,
    duplicate_keys,
    freeze,
    json_pointer,
    json_type,
    parse_rfc3339,
    thaw,
)

SYMBOL_MANIFEST_SCHEMA: Final = "SYMBOL_MANIFEST/v1"
#: Largest manifest accepted, in bytes (the `max_symbol_manifest_bytes` limit).
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
#: Problems kept per manifest; `SymbolManifestReport.problem_count` still counts them all.
MAX_PROBLEMS: Final = 100
#: Largest ``size`` an entry may declare: a signed 64-bit integer.
MAX_SIZE: Final = 2**63 - 1

_MISSING: Final = object()


class ManifestReason(StrEnum):
    """Stable reason codes of symbol-manifest problems."""

    INVALID_JSON = "invalid_json"  # not JSON, not UTF-8, or NaN/Infinity
    DUPLICATE_KEY = "duplicate_key"  # a key twice in one object (pointer names the second)
    NOT_AN_OBJECT = "not_an_object"  # the document or an item of ``entries``
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"  # a field of the wrong JSON type
    WRONG_SCHEMA = "wrong_schema"  # ``schema`` is not exactly SYMBOL_MANIFEST/v1
    INVALID_TIMESTAMP = "invalid_timestamp"  # not RFC 3339 with Z or an offset
    TENANT_MISMATCH = "tenant_mismatch"  # a valid tenant id, but not the uploader's
    INVALID_TENANT = "invalid_tenant"  # not a tenant id (SPEC §1)
    INVALID_DIGEST = "invalid_digest"  # image_digest: sha256:<hex>; sha256: bare hex
    INVALID_FORMAT = "invalid_format"  # not elf-debug, pdb or dsym
    INVALID_SOURCE_KIND = "invalid_source_kind"  # not ci, vendor or runtime-capture
    OUT_OF_RANGE = "out_of_range"  # size < 0 or > 2^63 - 1
    EMPTY_FIELD = "empty_field"  # build_id, file, arch, generator must not be ""
    UNSORTED_ENTRIES = "unsorted_entries"  # first entry out of (build_id, file) order
    DUPLICATE_ENTRY = "duplicate_entry"  # (build_id, file) listed again
    PATH_NOT_ALLOWED = "path_not_allowed"  # file: absolute, "..", backslash or NUL


class SymbolFormat(StrEnum):
    ELF_DEBUG = "elf-debug"
    PDB = "pdb"
    DSYM = "dsym"


class SourceKind(StrEnum):
    CI = "ci"
    VENDOR = "vendor"
    RUNTIME_CAPTURE = "runtime-capture"


class ManifestProblem(Problem):
    """One problem: where (JSON pointer, ``""`` for the whole document), what, and why."""

    __slots__ = ()


class InvalidSymbolManifest(InvalidDocument):
    """A symbol manifest breaks SPEC §4; ``problems`` holds the first `MAX_PROBLEMS`."""

    default_reason = "schema_invalid"
    problems: tuple[ManifestProblem, ...]


# -- field rules, shared by the parser and the models' own checks ----------------------------


class _Fault(NamedTuple):
    reason: ManifestReason
    message: str
    #: Pointer below the field that is at fault (``/kind`` for ``source``).
    below: str = ""


_HEX64 = re.compile(r"[0-9a-f]{64}")
_DRIVE = re.compile(r"[A-Za-z]:")
_FORMATS = frozenset(f.value for f in SymbolFormat)
_SOURCE_KINDS = frozenset(k.value for k in SourceKind)


def _wrong_type(expected: str, value: object) -> _Fault:
    return _Fault(ManifestReason.WRONG_TYPE, f"expected {expected}, got {json_type(value)}")


def _check_string(value: object) -> _Fault | None:
    return None if isinstance(value, str) else _wrong_type("a string", value)


def _check_non_empty(value: object) -> _Fault | None:
    if not isinstance(value, str):
        return _wrong_type("a string", value)
    return _Fault(ManifestReason.EMPTY_FIELD, "must not be empty") if not value else None


def _check_optional_string(value: object) -> _Fault | None:
    return None if value is None else _check_string(value)


def _check_image_digest(value: object) -> _Fault | None:
    if not isinstance(value, str):
        return _wrong_type("a string", value)
    algorithm, _, hex_part = value.partition(":")
    if algorithm != "sha256" or not _HEX64.fullmatch(hex_part):
        return _Fault(
            ManifestReason.INVALID_DIGEST, f"expected sha256:<64 lowercase hex>, got {value!r}"
        )
    return None


def _check_sha256(value: object) -> _Fault | None:
    if not isinstance(value, str):
        return _wrong_type("a string", value)
    if not _HEX64.fullmatch(value):
        return _Fault(ManifestReason.INVALID_DIGEST, f"expected 64 lowercase hex, got {value!r}")
    return None


def _check_file(value: object) -> _Fault | None:
    fault = _check_non_empty(value)
    if fault is not None or not isinstance(value, str):
        return fault
    if value.startswith("/") or _DRIVE.match(value):
        return _Fault(ManifestReason.PATH_NOT_ALLOWED, f"absolute path {value!r}")
    if "\\" in value or "\0" in value:
        return _Fault(ManifestReason.PATH_NOT_ALLOWED, f"backslash or NUL in path {value!r}")
    if ".." in value.split("/"):
        return _Fault(ManifestReason.PATH_NOT_ALLOWED, f"'..' segment in path {value!r}")
    return None


def _check_format(value: object) -> _Fault | None:
    if not isinstance(value, str):
        return _wrong_type("a string", value)
    if value not in _FORMATS:
        allowed = "|".join(SymbolFormat)
        return _Fault(ManifestReason.INVALID_FORMAT, f"expected {allowed}, got {value!r}")
    return None


def _check_size(value: object) -> _Fault | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return _wrong_type("an integer", value)
    if not 0 <= value <= MAX_SIZE:
        return _Fault(ManifestReason.OUT_OF_RANGE, f"size must be 0..{MAX_SIZE}, got {value}")
    return None


def _check_source(value: object) -> _Fault | None:
    if not isinstance(value, Mapping):
        return _wrong_type("an object", value)
    if "kind" not in value:
        return _Fault(ManifestReason.MISSING_FIELD, "source needs a kind", "/kind")
    kind = value["kind"]
    if not isinstance(kind, str):
        return _wrong_type("a string", kind)._replace(below="/kind")
    if kind not in _SOURCE_KINDS:
        allowed = "|".join(SourceKind)
        return _Fault(
            ManifestReason.INVALID_SOURCE_KIND, f"expected {allowed}, got {kind!r}", "/kind"
        )
    return None


#: Entry field → its rule, in SPEC order. ``component`` is the one optional field.
_ENTRY_RULES: Mapping[str, Callable[[object], _Fault | None]] = {
    "image_digest": _check_image_digest,
    "component": _check_optional_string,
    "build_id": _check_non_empty,
    "file": _check_file,
    "format": _check_format,
    "arch": _check_non_empty,
    "size": _check_size,
    "sha256": _check_sha256,
    "source": _check_source,
}
_OPTIONAL_ENTRY_FIELDS = frozenset({"component"})
_TOP_FIELDS = ("schema", "generated_at", "generator", "tenant", "entries")


def _order_faults(keys: Iterable[tuple[int, tuple[str, str]]]) -> Iterator[tuple[int, _Fault]]:
    """Faults of (index, (build_id, file)) keys: the first step down, and every repeat."""
    first_at: dict[tuple[str, str], int] = {}
    previous: tuple[str, str] | None = None
    reported_unsorted = False
    for index, key in keys:
        if previous is not None and key < previous and not reported_unsorted:
            reported_unsorted = True
            yield (
                index,
                _Fault(
                    ManifestReason.UNSORTED_ENTRIES,
                    f"entries must be sorted by (build_id, file); {key!r} comes after {previous!r}",
                ),
            )
        if key in first_at:
            yield (
                index,
                _Fault(
                    ManifestReason.DUPLICATE_ENTRY,
                    f"(build_id, file) {key!r} is already listed at "
                    f"{json_pointer('entries', first_at[key])}",
                ),
            )
        else:
            first_at[key] = index
        previous = key


def _raise_for(faults: list[ManifestProblem], what: str) -> None:
    if faults:
        raise InvalidSymbolManifest(f"invalid {what}: {faults[0]}", problems=faults)


# -- models -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolEntry:
    """One debug-symbol file. ``source`` is kept whole (unknown keys too), read-only."""

    image_digest: str
    component: str | None
    build_id: str
    file: str
    format: SymbolFormat
    arch: str
    size: int
    sha256: str
    source: Mapping[str, Any]
    #: Fields SPEC §4 does not name, kept as sent (read-only).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        faults = []
        for name, rule in _ENTRY_RULES.items():
            fault = rule(getattr(self, name))
            if fault is not None:
                faults.append(
                    ManifestProblem(json_pointer(name) + fault.below, fault.reason, fault.message)
                )
        _raise_for(faults, "symbol entry")
        object.__setattr__(self, "format", SymbolFormat(self.format))
        object.__setattr__(self, "source", freeze(self.source))
        object.__setattr__(self, "extra", freeze(self.extra))

    @property
    def key(self) -> tuple[str, str]:
        """The sort and uniqueness key, (``build_id``, ``file``)."""
        return (self.build_id, self.file)

    @property
    def source_kind(self) -> SourceKind:
        return SourceKind(self.source["kind"])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; ``component`` is left out when absent."""
        data: dict[str, Any] = {"image_digest": self.image_digest}
        if self.component is not None:
            data["component"] = self.component
        data.update(
            build_id=self.build_id,
            file=self.file,
            format=self.format.value,
            arch=self.arch,
            size=self.size,
            sha256=self.sha256,
            source=thaw(self.source),
        )
        data.update(thaw(self.extra))
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolManifest:
    """A valid ``SYMBOL_MANIFEST/v1``; ``generated_at`` is in UTC, entries in key order."""

    schema: str = SYMBOL_MANIFEST_SCHEMA
    generated_at: datetime
    generator: str
    tenant: TenantId
    entries: tuple[SymbolEntry, ...]
    #: Top-level fields SPEC §4 does not name, kept as sent (read-only).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        faults = []
        if self.schema != SYMBOL_MANIFEST_SCHEMA:
            faults.append(
                ManifestProblem("/schema", ManifestReason.WRONG_SCHEMA, repr(self.schema))
            )
        if self.generated_at.tzinfo is None:
            faults.append(
                ManifestProblem("/generated_at", ManifestReason.INVALID_TIMESTAMP, "naive time")
            )
        if (fault := _check_non_empty(self.generator)) is not None:
            faults.append(ManifestProblem("/generator", fault.reason, fault.message))
        try:
            parse_tenant(self.tenant)
        except InvalidTenant as exc:
            faults.append(ManifestProblem("/tenant", ManifestReason.INVALID_TENANT, exc.message))
        keys = enumerate(entry.key for entry in self.entries)
        for index, fault in _order_faults(keys):
            faults.append(
                ManifestProblem(json_pointer("entries", index), fault.reason, fault.message)
            )
        _raise_for(faults, "symbol manifest")
        object.__setattr__(self, "generated_at", self.generated_at.astimezone(UTC))
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "extra", freeze(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; ``generated_at`` as RFC 3339 with ``Z``."""
        data: dict[str, Any] = {
            "schema": self.schema,
            "generated_at": self.generated_at.isoformat().replace("+00:00", "Z"),
            "generator": self.generator,
            "tenant": self.tenant,
            "entries": [entry.to_dict() for entry in self.entries],
        }
        data.update(thaw(self.extra))
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolManifestReport:
    """What checking one manifest found; ``manifest`` is set exactly when there is no problem."""

    #: The first `MAX_PROBLEMS` problems: top-level fields, then entries, then their order.
    problems: tuple[ManifestProblem, ...]
    #: Every problem found, kept or not.
    problem_count: int
    manifest: SymbolManifest | None

    @property
    def valid(self) -> bool:
        return self.manifest is not None

    def raise_for_problems(self) -> SymbolManifest:
        """The manifest, or `InvalidSymbolManifest` carrying the kept problems."""
        if self.manifest is not None:
            return self.manifest
        first = f"; first: {self.problems[0]}" if self.problems else ""
        raise InvalidSymbolManifest(
            f"symbol manifest has {self.problem_count} problem(s){first}",
            problems=self.problems,
        )


# -- parser -----------------------------------------------------------------------------------


class _Problems(ProblemSink[ManifestProblem]):
    def __init__(self) -> None:
        super().__init__(ManifestProblem, MAX_PROBLEMS)

    def fault(self, pointer: str, fault: _Fault | None) -> bool:
        """Record ``fault`` (if any) at ``pointer``; True when there was none."""
        if fault is None:
            return True
        self.add(pointer + fault.below, fault.reason, fault.message)
        return False


class _Parser:
    def __init__(self, tenant: TenantId) -> None:
        self.tenant = tenant
        self.problems = _Problems()

    def document(self, doc: object) -> SymbolManifest | None:
        if not isinstance(doc, dict):
            self.problems.add(
                "",
                ManifestReason.NOT_AN_OBJECT,
                f"a symbol manifest is a JSON object, got {json_type(doc)}",
            )
            return None
        for name in _TOP_FIELDS:
            if name not in doc:
                self.problems.add(
                    json_pointer(name), ManifestReason.MISSING_FIELD, f"{name} is required"
                )
        schema = self._schema(doc.get("schema", _MISSING))
        generated_at = self._generated_at(doc.get("generated_at", _MISSING))
        generator = self._generator(doc.get("generator", _MISSING))
        tenant = self._tenant(doc.get("tenant", _MISSING))
        entries = self._entries(doc.get("entries", _MISSING))
        if (
            self.problems.total
            or schema is None
            or generated_at is None
            or generator is None
            or tenant is None
            or entries is None
        ):
            return None
        return SymbolManifest(
            schema=schema,
            generated_at=generated_at,
            generator=generator,
            tenant=tenant,
            entries=entries,
            extra={k: v for k, v in doc.items() if k not in _TOP_FIELDS},
        )

    def _string(self, pointer: str, value: object) -> str | None:
        """``value`` if it is a string; else None, with a problem unless it is missing."""
        if isinstance(value, str):
            return value
        if value is not _MISSING:
            self.problems.fault(pointer, _wrong_type("a string", value))
        return None

    def _schema(self, value: object) -> str | None:
        schema = self._string("/schema", value)
        if schema is not None and schema != SYMBOL_MANIFEST_SCHEMA:
            self.problems.add(
                "/schema",
                ManifestReason.WRONG_SCHEMA,
                f"expected {SYMBOL_MANIFEST_SCHEMA!r}, got {schema!r}",
            )
            return None
        return schema

    def _generated_at(self, value: object) -> datetime | None:
        text = self._string("/generated_at", value)
        if text is None:
            return None
        moment = parse_rfc3339(text, Rfc3339.FULL)
        if moment is None:
            self.problems.add(
                "/generated_at",
                ManifestReason.INVALID_TIMESTAMP,
                f"expected an RFC 3339 date-time with Z or an offset, got {text!r}",
            )
        return moment

    def _generator(self, value: object) -> str | None:
        generator = self._string("/generator", value)
        if generator is not None and not self.problems.fault(
            "/generator", _check_non_empty(generator)
        ):
            return None
        return generator

    def _tenant(self, value: object) -> TenantId | None:
        text = self._string("/tenant", value)
        if text is None:
            return None
        try:
            tenant = parse_tenant(text)
        except InvalidTenant as exc:
            self.problems.add("/tenant", ManifestReason.INVALID_TENANT, exc.message)
            return None
        if tenant != self.tenant:
            self.problems.add(
                "/tenant",
                ManifestReason.TENANT_MISMATCH,
                f"manifest is for tenant {tenant!r}, uploaded by tenant {self.tenant!r}",
            )
            return None
        return tenant

    def _entries(self, value: object) -> tuple[SymbolEntry, ...] | None:
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.problems.fault("/entries", _wrong_type("an array", value))
            return None
        checked = [self._entry(index, item) for index, item in enumerate(value)]
        keys = [
            (index, (item["build_id"], item["file"]))
            for index, item in enumerate(value)
            if isinstance(item, dict)
            and isinstance(item.get("build_id"), str)
            and isinstance(item.get("file"), str)
        ]
        for index, fault in _order_faults(keys):
            self.problems.fault(json_pointer("entries", index), fault)
        if self.problems.total:
            return None
        return tuple(entry for entry in checked if entry is not None)

    def _entry(self, index: int, item: object) -> SymbolEntry | None:
        pointer = json_pointer("entries", index)
        if not isinstance(item, dict):
            self.problems.add(
                pointer,
                ManifestReason.NOT_AN_OBJECT,
                f"an entry is a JSON object, got {json_type(item)}",
            )
            return None
        ok = True
        for name, rule in _ENTRY_RULES.items():
            here = f"{pointer}/{name}"
            if name not in item:
                if name not in _OPTIONAL_ENTRY_FIELDS:
                    self.problems.add(here, ManifestReason.MISSING_FIELD, f"{name} is required")
                    ok = False
                continue
            ok = self.problems.fault(here, rule(item[name])) and ok
        if not ok or self.problems.total:
            return None  # the document is rejected anyway; do not build what is not returned
        return SymbolEntry(
            image_digest=item["image_digest"],
            component=item.get("component"),
            build_id=item["build_id"],
            file=item["file"],
            format=SymbolFormat(item["format"]),
            arch=item["arch"],
            size=item["size"],
            sha256=item["sha256"],
            source=item["source"],
            extra={k: v for k, v in item.items() if k not in _ENTRY_RULES},
        )


def check_symbol_manifest(
    data: bytes, *, tenant: TenantId, max_bytes: int = DEFAULT_MAX_BYTES
) -> SymbolManifestReport:
    """Check manifest bytes uploaded by ``tenant``; report every problem, never raise for one.

    Raises `LimitExceeded` (``max_symbol_manifest_bytes``) for documents over ``max_bytes``,
    before parsing anything.
    """
    if len(data) > max_bytes:
        raise LimitExceeded(
            f"symbol manifest is {len(data)} bytes; the limit is {max_bytes}",
            limit="max_symbol_manifest_bytes",
        )
    parser = _Parser(tenant)
    problems = parser.problems
    manifest = None
    try:
        document = loads_strict(data)
    except DuplicateKeyError as exc:
        for pointer, key in duplicate_keys(data) or [("", exc.key)]:
            problems.add(pointer, ManifestReason.DUPLICATE_KEY, f"key {key!r} appears twice")
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, nesting
        problems.add("", ManifestReason.INVALID_JSON, f"not a JSON document: {exc}")
    else:
        manifest = parser.document(document)
    return SymbolManifestReport(
        problems=tuple(problems.problems),
        problem_count=problems.total,
        manifest=manifest if problems.total == 0 else None,
    )


def parse_symbol_manifest(
    data: bytes, *, tenant: TenantId, max_bytes: int = DEFAULT_MAX_BYTES
) -> SymbolManifest:
    """Manifest bytes → `SymbolManifest`, or `InvalidSymbolManifest` naming every problem."""
    return check_symbol_manifest(data, tenant=tenant, max_bytes=max_bytes).raise_for_problems()

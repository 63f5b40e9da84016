"""Streaming runtime-trace parser: one pass, bounded memory, every problem named (SPEC §2).

Three paths give the same answer:

* the compiled core (`_ctrace`, ADR 0008), when built and not switched off by
  ``STELLA_PURE_PYTHON``: C validates and aggregates every line it can prove good and hands
  each other line to the careful path below, one line at a time;
* the fast path decodes each line of a batch straight into a typed `Record` (msgspec) and
  proves, with one quote count over the batch, that no line had a duplicate or unknown key;
* the slow path parses line by line with the standard library, detecting duplicate keys and
  classifying every error; it runs for any batch the fast path cannot vouch for, and is the
  oracle the other two are held equal to by property tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from types import ModuleType
from typing import Any, Literal

import msgspec

from stella_signals.errors import LimitExceeded
from stella_signals.limits import DEFAULT_LIMITS, Limits
from stella_signals.strictjson import DuplicateKeyError, loads_strict
from stella_signals.trace._model import (
    MAX_COUNT,
    MAX_PID,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    SYMBOL_ID_FIELDS,
    WARN_IF_ABSENT,
    Diagnostic,
    Reason,
    Record,
    Severity,
    Tally,
    TraceReport,
    shaped_record,
)
from stella_signals.trace._purl import purl_problem
from stella_signals.trace._stream import (
    DecompressionFailed,
    LineBatch,
    StreamStats,
    decompressed_chunks,
    drain,
    line_batches,
    without_blanks,
    without_bom,
)

_compiled_core: ModuleType | None
try:
    from stella_signals.trace import _ctrace as _compiled_core
except ImportError:  # not built (no compiler at install): the pure-Python paths serve
    _compiled_core = None

__all__ = ["DiagnosticSink", "TraceParser", "parse_trace", "trace_core"]

DiagnosticSink = Callable[[Diagnostic], None]

_decode_record = msgspec.json.Decoder(Record).decode
#: (records, optional fields present, line offsets without pid, without container)
_Decoded = tuple[list[Any], frozenset[str], Sequence[int], Sequence[int]]
_purl_of = attrgetter("purl")
_FIELD_GETTERS = {name: attrgetter(name) for name in OPTIONAL_FIELDS}
_KEY_BYTES = {name: f'"{name}"'.encode() for name in OPTIONAL_FIELDS}
_UNSET = msgspec.UNSET

#: Quotes a record's known fields put on a line: 2 per key, 2 more per string value.
_QUOTES_REQUIRED = sum(2 + (2 if t == "string" else 0) for t in REQUIRED_FIELDS.values())
_QUOTES_OPTIONAL = {name: 2 + (2 if t == "string" else 0) for name, t in OPTIONAL_FIELDS.items()}


@lru_cache(maxsize=64)
def _quotes_of(present: frozenset[str]) -> int:
    return _QUOTES_REQUIRED + sum(_QUOTES_OPTIONAL[name] for name in present)


@lru_cache(maxsize=64)
def _shaped_decoder(present: frozenset[str]) -> Callable[[bytes], Any]:
    return msgspec.json.Decoder(shaped_record(present)).decode


class TraceParser:
    """Parses a trace batch by batch, keeping counts, diagnostics and tallies."""

    def __init__(self, limits: Limits, sink: DiagnosticSink | None, *, fast: bool = True) -> None:
        self.limits = limits
        self.fast = fast
        self.sink = sink
        self.kept: list[Diagnostic] = []
        self.error_count = 0
        self.warning_count = 0
        self.records = 0
        self.lines = 0
        self.tallies: dict[tuple[str, str, object], Tally] = {}
        # Mixed-shape traces skip the single-shape attempt after two misses (retried now and
        # then): a speed choice only, both decoders give the same records.
        self.shaped_misses = 0
        self.batches = 0
        self.code_ids: dict[str, str] = {}
        #: (caller_symbol_id, symbol_id) → summed count; only records with a caller add here.
        self.edges: dict[tuple[str, str], int] = {}
        self.good_purls: set[str] = set()
        # One string object per distinct symbol_id, purl and container among the tally keys:
        # a symbol seen in many containers keeps its bytes once.
        self.strings: dict[Any, Any] = {}
        #: (unique symbols, first seen, last seen) when the compiled core worked them out.
        self.summarised: tuple[int, datetime | None, datetime | None] | None = None

    # -- diagnostics ---------------------------------------------------------------------
    def report(
        self, severity: Severity, line: int | None, field: str | None, reason: Reason, msg: str
    ) -> None:
        diagnostic = Diagnostic(severity, line, field, reason, msg)
        if severity is Severity.ERROR:
            self.error_count += 1
        else:
            self.warning_count += 1
        if len(self.kept) < self.limits.max_kept_diagnostics:
            self.kept.append(diagnostic)
        if self.sink is not None:
            self.sink(diagnostic)

    def error(self, line: int | None, field: str | None, reason: Reason, msg: str) -> None:
        self.report(Severity.ERROR, line, field, reason, msg)

    def warn(self, line: int | None, field: str | None, reason: Reason, msg: str) -> None:
        self.report(Severity.WARNING, line, field, reason, msg)

    # -- batches -------------------------------------------------------------------------
    def feed(self, batch: LineBatch) -> None:
        self.lines += len(batch.lines)
        self.batches += 1
        if batch.overlong or not self.fast:
            self._slow(batch)
        elif not self._fast(batch):
            if b"" in batch.lines or b"\r" in batch.lines:  # blank lines: skip them in bulk
                for stretch in without_blanks(batch):
                    if not self._fast(stretch):
                        self._slow(stretch)
            else:
                self._slow(batch)

    def _fast(self, batch: LineBatch) -> bool:
        """Decode a batch with a typed decoder; False when the slow path must decide."""
        block = batch.block
        if b"\\" in block:
            return False  # escapes could hide quotes from the quote accounting
        decoded = None
        if self.shaped_misses < 2 or self.batches % 16 == 0:
            decoded = self._decode_shaped(batch)
            self.shaped_misses = 0 if decoded is not None else self.shaped_misses + 1
        decoded = decoded or self._decode_mixed(batch)
        if decoded is None:
            return False
        records, present, pid_missing, container_missing = decoded
        if batch.longest > self.limits.max_symbol_id_bytes and any(
            not self._symbol_id_ok(r.symbol_id)
            or (r.caller_symbol_id is not _UNSET and not self._symbol_id_ok(r.caller_symbol_id))
            for r in records
        ):
            return False
        if not self.good_purls.issuperset(map(_purl_of, records)):
            if any(purl_problem(p) for p in set(map(_purl_of, records))):
                return False
            self.good_purls.update(map(_purl_of, records))
        first = batch.first_line
        done = self._aggregate(records)
        if pid_missing or container_missing:
            no_pid, no_container = set(pid_missing), set(container_missing)
            for i in sorted(no_pid | no_container):
                if i >= done:
                    break
                if i in no_pid:
                    self._warn_absent(first + i, "pid")
                if i in no_container:
                    self._warn_absent(first + i, "container")
        if "code_id" in present:
            for record in records[:done]:
                if record.code_id is not _UNSET:
                    self.code_ids.setdefault(record.symbol_id, record.code_id)
        if "caller_symbol_id" in present:
            self._add_edges(records[:done])
        if done < len(records):  # a timestamp out of the UTC range: the careful path names it
            rest = batch.lines[done:]
            self._slow(LineBatch(first + done, rest, b"\n".join(rest)))
        return True

    def _decode_shaped(self, batch: LineBatch) -> _Decoded | None:
        """All lines with the first line's set of fields: one decoder, one quote count."""
        try:
            head = _decode_record(batch.lines[0])
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return None
        present = frozenset(n for n in OPTIONAL_FIELDS if getattr(head, n) is not _UNSET)
        decode = _shaped_decoder(present)
        try:
            records = list(map(decode, batch.lines))
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return None
        # Every quote of a backslash-free line delimits a string, and these records account
        # for all their keys and string values: any surplus is a duplicate key.
        if batch.block.count(b'"') != _quotes_of(present) * len(records):
            return None
        everyone = range(len(records))
        pid_missing = () if "pid" in present else everyone
        container_missing = () if "container" in present else everyone
        return records, present, pid_missing, container_missing

    def _decode_mixed(self, batch: LineBatch) -> _Decoded | None:
        """Lines with differing optional fields: presence is counted record by record."""
        try:
            records = list(map(_decode_record, batch.lines))
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return None
        count = len(records)
        expected = _QUOTES_REQUIRED * count
        present: set[str] = set()
        missing: dict[str, list[int]] = {"pid": [], "container": []}
        for name in OPTIONAL_FIELDS:
            if _KEY_BYTES[name] not in batch.block:
                continue  # no record of this batch can have it
            column = list(map(_FIELD_GETTERS[name], records))
            absent = column.count(_UNSET)
            expected += _QUOTES_OPTIONAL[name] * (count - absent)
            if absent < count:
                present.add(name)
            if absent and name in missing:
                missing[name] = [i for i, value in enumerate(column) if value is _UNSET]
        for name in WARN_IF_ABSENT:
            if _KEY_BYTES[name] not in batch.block:
                missing[name] = list(range(count))
        if batch.block.count(b'"') != expected:
            return None  # a duplicate or unknown key somewhere: the careful path names it
        return records, frozenset(present), missing["pid"], missing["container"]

    def _slow(self, batch: LineBatch) -> None:
        overlong = set(batch.overlong)
        accepted: list[Record] = []
        for offset, line in enumerate(batch.lines):
            number = batch.first_line + offset
            if number in overlong:
                self.error(
                    number,
                    None,
                    Reason.LINE_TOO_LONG,
                    f"line is longer than {self.limits.max_line_bytes} bytes",
                )
                continue
            record = self._parse_line(line, number)
            if record is not None:
                accepted.append(record)
                if record.code_id is not _UNSET:
                    self.code_ids.setdefault(record.symbol_id, record.code_id)
        self._aggregate(accepted)
        self._add_edges(accepted)

    def _warn_absent(self, line: int, field: str) -> None:
        self.warn(line, field, Reason.MISSING_OPTIONAL_FIELD, f"optional field {field} is absent")

    def _symbol_id_ok(self, symbol_id: str) -> bool:
        limit = self.limits.max_symbol_id_bytes
        return len(symbol_id) <= limit // 4 or len(symbol_id.encode("utf-8")) <= limit

    def _aggregate(self, records: Sequence[Any]) -> int:
        """Add ``records`` to the tallies; returns how many it added: all of them, or those
        before the first whose timestamp leaves the datetime range once in UTC.

        Only the fast path can hand over such a record (the careful path refuses it). No
        tally ever holds one, and such a time lies before or after every valid one, so the
        record opens a tally or moves its first or last: the year is looked at only there."""
        tallies = self.tallies
        get = tallies.get
        done = 0
        for record in records:
            key = (record.symbol_id, record.purl, record.container)
            tally = get(key)
            seen = record.timestamp
            if tally is None:
                if not 1 < seen.year < 9999 and not _in_utc_range(seen):
                    break
                tallies[self._interned(key)] = Tally(record.count, seen, seen)
            else:
                if seen < tally.first:
                    if seen.year == 1 and not _in_utc_range(seen):
                        break
                    tally.first = seen
                elif seen > tally.last:
                    if seen.year == 9999 and not _in_utc_range(seen):
                        break
                    tally.last = seen
                tally.count += record.count
            done += 1
        self.records += done
        if self.records > self.limits.max_records:
            raise LimitExceeded(
                f"more than {self.limits.max_records} records in one trace",
                limit="max_records",
            )
        return done

    def _add_edges(self, records: Sequence[Any]) -> None:
        """Sum the counts of ``records`` that name a caller by (caller_symbol_id, symbol_id).

        Called only for batches where some record has a caller (and for careful-path lines):
        traces without callers never reach the loop."""
        edges = self.edges
        get = edges.get
        for record in records:
            caller = record.caller_symbol_id
            if caller is _UNSET:
                continue
            key = (caller, record.symbol_id)
            count = get(key)
            if count is None:
                if len(edges) >= self.limits.max_edges:
                    raise LimitExceeded(
                        f"more than {self.limits.max_edges} distinct caller → callee edges "
                        "in one trace",
                        limit="max_edges",
                    )
                intern = self.strings.setdefault
                edges[(intern(caller, caller), intern(key[1], key[1]))] = record.count
            else:
                edges[key] = count + record.count

    def _interned(self, key: tuple[str, str, object]) -> tuple[str, str, object]:
        intern = self.strings.setdefault
        symbol_id, purl, container = key
        return (intern(symbol_id, symbol_id), intern(purl, purl), intern(container, container))

    # -- one line, carefully -------------------------------------------------------------
    def _parse_line(self, raw: bytes, line: int) -> Record | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.error(
                line,
                None,
                Reason.INVALID_UTF8,
                f"invalid UTF-8 at byte {exc.start + 1}: {exc.reason}",
            )
            return None
        if not text.strip():
            return None  # blank lines are ignored
        try:
            obj = loads_strict(text)
        except DuplicateKeyError as exc:
            self.error(line, exc.key, Reason.DUPLICATE_KEY, f"key {exc.key!r} appears twice")
            return None
        except ValueError as exc:
            self.error(line, None, Reason.INVALID_JSON, f"not valid JSON: {exc}")
            return None
        if not isinstance(obj, dict):
            kind = type(obj).__name__ if obj is not None else "null"
            self.error(line, None, Reason.NOT_AN_OBJECT, f"expected a JSON object, got {kind}")
            return None
        ok = True
        for field, kind in REQUIRED_FIELDS.items():
            if field not in obj:
                self.error(line, field, Reason.MISSING_FIELD, f"required field {field} is absent")
                ok = False
            elif not self._field_ok(line, field, kind, obj[field]):
                ok = False
        for field, kind in OPTIONAL_FIELDS.items():
            if field in obj:
                ok = self._field_ok(line, field, kind, obj[field]) and ok
            elif field in WARN_IF_ABSENT and ok:
                pass  # warned about below, once the line is known to be a record
        for field in obj:
            if field not in REQUIRED_FIELDS and field not in OPTIONAL_FIELDS:
                self.warn(line, field, Reason.UNKNOWN_FIELD, f"unknown field {field} (kept)")
        if not ok:
            return None
        try:
            record = msgspec.convert(obj, Record, strict=True, from_attributes=False)
        except msgspec.ValidationError as exc:  # pragma: no cover - the checks above agree
            self.error(line, None, Reason.WRONG_TYPE, str(exc))
            return None
        for field in WARN_IF_ABSENT:
            if field not in obj:
                self._warn_absent(line, field)
        return record

    def _field_ok(self, line: int, field: str, kind: str, value: Any) -> bool:
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                self.error(line, field, Reason.WRONG_TYPE, f"{field} must be an integer")
                return False
            low = 1 if field == "count" else 0
            high = MAX_COUNT if field == "count" else MAX_PID
            if not low <= value <= high:
                self.error(
                    line, field, Reason.OUT_OF_RANGE, f"{field} must be in {low}..{high}: {value}"
                )
                return False
            return True
        if not isinstance(value, str):
            self.error(line, field, Reason.WRONG_TYPE, f"{field} must be a string")
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.error(line, field, Reason.INVALID_UTF8, f"{field} holds an unpaired surrogate")
            return False
        if field in SYMBOL_ID_FIELDS and (not value or not self._symbol_id_ok(value)):
            self.error(
                line,
                field,
                Reason.INVALID_SYMBOL_ID,
                f"{field} must be 1..{self.limits.max_symbol_id_bytes} bytes of UTF-8",
            )
            return False
        if field == "purl":
            problem = purl_problem(value)
            if problem is not None:
                self.error(line, field, Reason.INVALID_PURL, f"invalid package URL: {problem}")
                return False
        if field == "timestamp":
            return self._timestamp_ok(line, value)
        return True

    def _timestamp_ok(self, line: int, value: str) -> bool:
        try:
            moment = msgspec.convert(value, datetime, strict=True)
        except msgspec.ValidationError:
            self.error(line, "timestamp", Reason.INVALID_TIMESTAMP, f"not RFC 3339: {value!r}")
            return False
        if moment.tzinfo is None:
            self.error(
                line,
                "timestamp",
                Reason.NAIVE_TIMESTAMP,
                f"timestamp needs Z or an offset: {value!r}",
            )
            return False
        if not _in_utc_range(moment):
            self.error(
                line,
                "timestamp",
                Reason.OUT_OF_RANGE,
                f"timestamp is outside 0001-01-01..9999-12-31 once in UTC: {value!r}",
            )
            return False
        return True

    # -- result --------------------------------------------------------------------------
    def summary(self) -> tuple[int, datetime | None, datetime | None]:
        """(unique symbols, first seen, last seen), in UTC."""
        if self.summarised is not None:
            return self.summarised
        tallies = self.tallies.values()
        if not self.tallies:
            return 0, None, None
        first = min(t.first for t in tallies)
        last = max(t.last for t in tallies)
        symbols = len({key[0] for key in self.tallies})
        return symbols, first.astimezone(UTC), last.astimezone(UTC)


def _in_utc_range(moment: datetime) -> bool:
    """Whether ``moment`` (aware) is still a datetime once converted to UTC, as it is stored:
    ``0001-01-01T00:00:00+01:00`` and ``9999-12-31T23:59:59-01:00`` are not."""
    if 1 < moment.year < 9999:
        return True
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def trace_core() -> Literal["compiled", "python"]:
    """Which parser `parse_trace` runs: ``"compiled"`` (the C core, ADR 0008) or ``"python"``
    (the extension was not built, or ``STELLA_PURE_PYTHON`` is set to anything but ``0``)."""
    return "python" if _core() is None else "compiled"


def _core() -> ModuleType | None:
    core = _compiled_core
    if core is None or core.pure_python_forced():
        return None
    return core


def parse_trace(
    chunks: Iterable[bytes],
    *,
    name: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    on_diagnostic: DiagnosticSink | None = None,
    _fast: bool = True,
) -> TraceReport:
    """Parse a runtime trace (gzip sniffed from its magic bytes) in one streaming pass.

    Returns a `TraceReport` for valid and invalid traces alike (``report.valid``); every
    diagnostic also goes to ``on_diagnostic`` as it is found. Raises `LimitExceeded` as soon
    as a stream-wide limit is passed (size, decompressed size, ratio, record count).
    ``_fast=False`` forces the careful path everywhere (tests compare the paths); otherwise
    the compiled core runs when `trace_core` says so.
    """
    stats = StreamStats()
    parser = TraceParser(limits, on_diagnostic, fast=_fast)
    raw = iter(chunks)
    core = _core() if _fast else None
    try:
        if core is not None:
            _parse_compiled(core, decompressed_chunks(raw, stats, limits), stats, parser)
        else:
            _parse_python(line_batches(decompressed_chunks(raw, stats, limits), stats, limits),
                          stats, parser)  # fmt: skip
    except DecompressionFailed as exc:
        line = parser.lines + stats.blank_lines + 1
        parser.error(line, None, Reason.DECOMPRESSION_FAILED, str(exc))
        drain(raw, stats, limits)  # sha256 and size are of the whole trace as sent
    return _report(parser, stats, name)


def _parse_python(batches: Iterator[LineBatch], stats: StreamStats, parser: TraceParser) -> None:
    bom_reported = False
    for batch in batches:
        if stats.bom and not bom_reported:
            bom_reported = True
            parser.warn(1, None, Reason.BOM, "UTF-8 byte order mark at the start (skipped)")
        parser.feed(batch)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Chunks at least this big are scanned while the next one is read and inflated.
_OVERLAP_BYTES = 64 * 1024
_MICROSECOND = timedelta(microseconds=1)
#: Runs of complete lines the compiled core splits between two threads (None: its own
#: default, 256 KiB); the tests make it tiny, so that small traces take the two-lane path.
_SPLIT_MIN_BYTES: int | None = None
#: Distinct keys past which the compiled core merges its second lane and scans on with one
#: (None: its own default, 16,384); the tests make it tiny, so that the merge runs early.
_LANE_MAX_KEYS: int | None = None
_DEFER, _OVERLONG, _MISSING = 0, 1, 2


def _parse_compiled(
    core: ModuleType, chunks: Iterator[bytes], stats: StreamStats, parser: TraceParser
) -> None:
    """The compiled core scans and aggregates; Python checks each new purl once, names every
    problem (the careful path, one deferred line at a time) and builds the report."""
    limits = parser.limits
    scanner = core.Scanner(
        limits.max_line_bytes,
        limits.max_symbol_id_bytes,
        limits.max_records,
        limits.max_edges,
        secrets.randbits(64),  # keys the scanner's hash tables: no precomputed collisions
    )
    if _SPLIT_MIN_BYTES is not None:
        scanner.split_min = _SPLIT_MIN_BYTES
    if _LANE_MAX_KEYS is not None:
        scanner.lane_max_keys = _LANE_MAX_KEYS
    bom = [False]  # reported yet

    def settle(new_purls: list[str] | None) -> None:
        if new_purls is not None:  # None: every line was accepted
            _settle(scanner, new_purls, stats, parser, bom)

    # A big chunk is scanned by a helper thread (the scan runs without the GIL) while this
    # thread reads, hashes and inflates the next one: the caller's chunk iterator is only
    # ever advanced here (the HTTP body bridge must run in its own worker thread). Chunks
    # are settled in order, each before the next is handed to the scanner.
    pool: ThreadPoolExecutor | None = None
    big_seen = False
    scanning: Future[list[str] | None] | None = None
    try:
        try:
            for chunk in without_bom(chunks, stats):
                if scanning is not None:
                    done, scanning = scanning, None
                    settle(done.result())
                if len(chunk) < _OVERLAP_BYTES or not big_seen:
                    # the first big chunk inline: a one-chunk trace (most ingests) has
                    # nothing to overlap and should not pay for a thread
                    big_seen = big_seen or len(chunk) >= _OVERLAP_BYTES
                    settle(scanner.feed(chunk))
                    continue
                if pool is None:
                    pool = ThreadPoolExecutor(1, thread_name_prefix="trace-scan")
                scanning = pool.submit(scanner.feed, chunk)
        finally:  # also when the stream fails: the chunk being scanned is part of the report
            try:
                if scanning is not None:
                    settle(scanning.result())
            finally:
                if pool is not None:
                    pool.shutdown()
        settle(scanner.finish())
    except DecompressionFailed:  # the report covers the lines before the damage
        _collect(scanner, parser, stats, bom)
        raise
    _collect(scanner, parser, stats, bom)


def _bom_warning(scanner: Any, stats: StreamStats, parser: TraceParser, bom: list[bool]) -> None:
    """Once, before the diagnostics of the first line that is not blank (`line_batches`
    yields a batch then), as the pure-Python parser does."""
    if stats.bom and not bom[0] and scanner.nonblank:
        bom[0] = True
        parser.warn(1, None, Reason.BOM, "UTF-8 byte order mark at the start (skipped)")


def _collect(scanner: Any, parser: TraceParser, stats: StreamStats, bom: list[bool]) -> None:
    _bom_warning(scanner, stats, parser, bom)
    parser.warning_count += scanner.suppressed
    parser.lines = scanner.lines
    parser.records = scanner.records
    parser.tallies, parser.edges, parser.code_ids = scanner.result(Tally, _UNSET)
    parser.summarised = scanner.summary()


def _check_limits(scanner: Any, limits: Limits) -> None:
    if scanner.records > limits.max_records:
        raise LimitExceeded(
            f"more than {limits.max_records} records in one trace", limit="max_records"
        )
    if scanner.edge_count > limits.max_edges:
        raise LimitExceeded(
            f"more than {limits.max_edges} distinct caller → callee edges in one trace",
            limit="max_edges",
        )


def _settle(
    scanner: Any, new_purls: list[str], stats: StreamStats, parser: TraceParser, bom: list[bool]
) -> None:
    limits = parser.limits
    _check_limits(scanner, limits)  # the scan stops at the first record past a limit
    if parser.sink is None:  # past the kept diagnostics, missing-field warnings are counted
        scanner.missing_budget = max(0, limits.max_kept_diagnostics - len(parser.kept))
    events = scanner.settle([purl_problem(purl) is None for purl in new_purls])
    _bom_warning(scanner, stats, parser, bom)
    if not events:  # lines that waited on their purl were still counted by settle()
        _check_limits(scanner, limits)
        return
    quiet = parser.sink is None
    for line, kind, payload in events:
        if kind == _MISSING:
            if quiet and len(parser.kept) >= limits.max_kept_diagnostics:
                parser.warning_count += (payload & 1) + (payload >> 1)  # counted, not kept
                continue
            if payload & 1:
                parser._warn_absent(line, "pid")
            if payload & 2:
                parser._warn_absent(line, "container")
        elif kind == _OVERLONG:
            parser.error(
                line,
                None,
                Reason.LINE_TOO_LONG,
                f"line is longer than {limits.max_line_bytes} bytes",
            )
        else:
            record = parser._parse_line(payload, line)
            if record is not None:
                scanner.add(
                    line,
                    record.symbol_id.encode(),
                    record.purl.encode(),
                    None if record.container is _UNSET else record.container.encode(),
                    record.count,
                    (record.timestamp - _EPOCH) // _MICROSECOND,
                    None if record.caller_symbol_id is _UNSET else record.caller_symbol_id.encode(),
                    None if record.code_id is _UNSET else record.code_id.encode(),
                )
    _check_limits(scanner, limits)


def _report(parser: TraceParser, stats: StreamStats, name: str | None) -> TraceReport:
    if name is not None and name.endswith(".gz") and not stats.gzip and stats.compressed_bytes:
        parser.warn(None, None, Reason.NOT_GZIP, f"{name} is named .gz but is plain NDJSON")
    if parser.records == 0 and parser.error_count == 0:
        parser.error(None, None, Reason.EMPTY_TRACE, "the trace holds no records")
    unique_symbols, first_seen, last_seen = parser.summary()
    diagnostics = sorted(parser.kept, key=lambda d: (d.line or 0, d.severity != Severity.ERROR))
    return TraceReport(
        name=name,
        sha256=stats.sha256,
        size=stats.compressed_bytes,
        gzip=stats.gzip,
        lines=parser.lines + stats.blank_lines,
        records=parser.records,
        error_count=parser.error_count,
        warning_count=parser.warning_count,
        diagnostics=tuple(diagnostics),
        unique_symbols=unique_symbols,
        first_seen=first_seen,
        last_seen=last_seen,
        code_ids=dict(parser.code_ids),
        tallies=parser.tallies,
        edges=parser.edges,
    )

"""Many distinct runtime traces for little CPU, for tests and reliability runs that send a
new trace per request.

The generator (`stella_signals_dev.synth`) builds tables of 2^16 slots for each symbol
universe (each ``seed``): about 50 ms of CPU, more than the ingest of a trace of a few
hundred records costs the server. `distinct_trace_spec` draws from a few universes in turn
and makes each trace distinct by its window instead: trace ``n`` spans ``600 + n`` seconds,
so its last record's timestamp grows with ``n``: no two have the same bytes (checked once for
n < 1500 at 200, 300 and 500 records; a clash would fail the tests that use them, which
count every trace as new)."""

from __future__ import annotations

from stella_signals_dev.synth import SynthSpec

#: Symbol universes the traces are drawn from, in turn.
UNIVERSES = 4


def distinct_trace_spec(
    n: int, *, records: int, symbols: int, purls: int, base_seed: int = 0
) -> SynthSpec:
    """The ``n``-th of a series of distinct traces (``n >= 0``)."""
    return SynthSpec(
        records,
        seed=base_seed + n % UNIVERSES,
        symbols=symbols,
        purls=purls,
        duration_seconds=600 + n,
    )

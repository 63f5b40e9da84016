"""How many examples a property-based test searches.

`make test` (every tier) runs each property with its full count, the figure written in its
``@settings``. The unit tier's quick pass (`make test-unit`, hypothesis profile ``unit``,
registered here and loaded by ``--hypothesis-profile=unit``) searches a fifth of them: every
property still runs, on fewer random examples, so that the tier stays under a minute on two
CPUs (docs/testing.md). A property's own figure is written as ``examples(N)``.
"""

from __future__ import annotations

from hypothesis import settings

#: Hypothesis' default ``max_examples``: the profile's figure relative to it scales ``N``.
DEFAULT_EXAMPLES = 100
#: The unit tier searches this share of every property's examples.
UNIT_SHARE = 5

settings.register_profile("unit", max_examples=DEFAULT_EXAMPLES // UNIT_SHARE)


def examples(full: int) -> int:
    """``full`` under the default profile (every run but the quick unit pass); under the
    ``unit`` profile, the same share of it as the profile's ``max_examples`` is of 100."""
    return max(1, full * settings().max_examples // DEFAULT_EXAMPLES)

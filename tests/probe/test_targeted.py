"""Targeted mode on a real service loop: targets are watched from the moment their module is
loaded (or at once when it already was), each records its first hit per window, windows re-arm
them, and the manifest says what was watched for the whole window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stella_probe._naming import symbol_id

from tests.probe._probe import run_probe, windows

SVC = Path(__file__).parent / "programs" / "svc"
BY_ID = symbol_id("", "app.handlers", "by_id")
TARGETS = f"""# handlers of the service
app.handlers:hot
app.handlers:cold
app.handlers:Api.get
app.handlers:outer.inner   # nested: instrumented through outer
app.handlers:decorated
app.handlers:nope
app.late:f
nothere.mod:f
json:dumps                 # already imported when the probe starts
{BY_ID}
"""


def run_service(tmp_path: Path, seconds: float, window: float) -> tuple[str, list[object]]:
    targets = tmp_path / "targets.txt"
    targets.write_text(TARGETS)
    out = tmp_path / "out"
    done = run_probe(
        ["--targets", str(targets), "--out", str(out), "--window", str(window)],
        [str(SVC / "main.py"), str(seconds)],
        cwd=SVC,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, windows(out)  # type: ignore[return-value]


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_targets_record_first_hits_and_rearm(tmp_path: Path) -> None:
    stdout, found = run_service(tmp_path, seconds=1.6, window=0.5)
    assert json.loads(stdout) == [{"key": "a"}, 7, 4, "named by its symbol id", '{"x": 1}', "late"]
    assert len(found) >= 3
    hit = [{r["symbol_id"] for r in w.records} for w in found]
    ids = {t: symbol_id("", *t.split(":")) for t in
           ("app.handlers:hot", "app.handlers:cold", "app.handlers:Api.get", "app.late:f",
            "app.handlers:outer.inner", "app.handlers:decorated", "json:dumps")}  # fmt: skip
    first = hit[0]
    for target in ("app.handlers:Api.get", "app.handlers:outer.inner", "app.handlers:decorated",
                   "json:dumps", "app.handlers:hot"):  # fmt: skip
        assert ids[target] in first, target
    assert BY_ID in first
    assert all(ids["app.handlers:hot"] in h for h in hit[:-1])  # re-armed every window
    assert not any(ids["app.handlers:cold"] in h for h in hit)
    assert any(ids["app.late:f"] in h for h in hit[1:])
    for window in found:
        assert window.manifest["schema"] == "stella.probe-manifest/v1"
        assert window.manifest["mode"] == "targeted"
        assert window.manifest["counts"] == "lower_bound"
        assert window.manifest["targets_total"] == 10
        assert all(r["count"] == 1 for r in window.records)
        assert {r["purl"] for r in window.records} <= {"pkg:generic/svc"}
    last = found[-1].manifest
    assert last["targets_instrumented"] == 8
    assert last["targets_pending"] == 2
    reasons = {t["target"]: t["reason"] for t in last["targets_not_instrumented"]}
    assert reasons == {"app.handlers:nope": "not_a_def_in_source",
                       "nothere.mod:f": "module_not_loaded"}  # fmt: skip
    # watched for the whole window: only targets instrumented before the window began
    assert "app.handlers:cold" not in found[0].manifest["targets_watched_whole_window"]
    assert "json:dumps" in found[0].manifest["targets_watched_whole_window"]
    assert "app.handlers:cold" in found[1].manifest["targets_watched_whole_window"]
    late_window = next(i for i, h in enumerate(hit) if ids["app.late:f"] in h)
    assert "app.late:f" not in found[late_window].manifest["targets_watched_whole_window"]


@pytest.mark.e2e  # starts a Python interpreter (tests/_tiers.py)
def test_without_targets_the_program_is_unchanged(tmp_path: Path) -> None:
    stdout, found = run_service(tmp_path, seconds=0.2, window=10)
    assert json.loads(stdout)[0] == {"key": "a"}
    assert len(found) == 1  # the window flushed at exit

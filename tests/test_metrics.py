"""SPEC §12 metrics: exact names, types and labels; closed label sets; the alert rules use them."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from stella_signals.errors import InvalidTenant
from stella_signals.metrics import DURATION_BUCKETS, INGEST_RESULTS, Metrics
from stella_signals.timeline import FailureReason

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"

#: SPEC §12 series as written in the exposition: name -> (type, label names of its samples).
SPEC_SERIES: dict[str, tuple[str, frozenset[str]]] = {
    "reachability_orphan_traces_total": ("counter", frozenset({"tenant"})),
    "reachability_orphan_queue_depth": ("gauge", frozenset()),
    "signals_runtime_ingest_total": ("counter", frozenset({"result"})),
    "signals_runtime_ingest_records_total": ("counter", frozenset()),
    "signals_runtime_ingest_bytes_total": ("counter", frozenset()),
    "signals_ingest_duration_seconds": ("histogram", frozenset()),
    "signals_time_staleness_seconds": ("gauge", frozenset()),
    "signals_clock_drift_seconds": ("gauge", frozenset()),
    # ours, beyond SPEC §12 (issue 14 item 8; docs/metrics.md)
    "signals_staging_swept_total": ("counter", frozenset()),
}

#: SPEC §6 outcomes and SPEC §7 failure reasons, copied from the SPEC (not from the code).
SPEC_RESULTS = {
    "ingested",
    "duplicate",
    "orphaned",
    "schema_invalid",
    "hash_mismatch",
    "dsse_invalid",
    "dsse_required",
    "stale_time_anchor",
    "clock_drift",
    "too_large",
    "unsupported_media_type",
    "decompression_failed",
    "orphan_expired",
    # issue 14: a field given twice, a client gone mid-body (recorded, not guessed or lost)
    "ambiguous_input",
    "client_disconnected",
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def exposition(metrics: Metrics) -> str:
    body, _ = metrics.render()
    return body.decode("utf-8")


def samples(metrics: Metrics) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(exposition(metrics)):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[name, frozenset(labels.items())]


def series_names(text: str) -> set[str]:
    """Every sample name the families in ``text`` can produce (parser strips ``_total``)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


# --- names, types, labels -------------------------------------------------------------------


def test_render_has_exactly_the_spec_series_and_types() -> None:
    text = exposition(Metrics.create())
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    assert types == {name: kind for name, (kind, _) in SPEC_SERIES.items()}


def test_render_parses_with_the_spec_types() -> None:
    metrics = Metrics.create()
    metrics.orphan_queued("acme")
    families = {f.name: f for f in text_string_to_metric_families(exposition(metrics))}
    expected = {name.removesuffix("_total"): kind for name, (kind, _) in SPEC_SERIES.items()}
    assert {name: f.type for name, f in families.items()} == expected


def test_sample_labels_are_the_spec_labels_and_only_the_orphan_counter_has_tenant() -> None:
    metrics = Metrics.create()
    metrics.orphan_queued("acme")
    metrics.ingest_finished("ingested", records=1, size=1, seconds=0.1)
    for (name, labels), _ in samples(metrics).items():
        base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        series = name if name in SPEC_SERIES else base
        allowed = SPEC_SERIES[series][1] | ({"le"} if name.endswith("_bucket") else set())
        assert {key for key, _ in labels} == allowed, name
        if series != "reachability_orphan_traces_total":
            assert "tenant" not in dict(labels)


def test_render_has_no_created_series_and_a_text_content_type() -> None:
    body, content_type = Metrics.create().render()
    assert b"_created" not in body
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_duration_buckets_cover_1ms_to_10min() -> None:
    assert DURATION_BUCKETS[0] == 0.001
    assert DURATION_BUCKETS[-1] == 600.0
    assert list(DURATION_BUCKETS) == sorted(set(DURATION_BUCKETS))
    text = exposition(Metrics.create())
    les = re.findall(r'^signals_ingest_duration_seconds_bucket\{le="([^"]+)"\}', text, re.M)
    assert les == [repr(b) for b in DURATION_BUCKETS] + ["+Inf"]


# --- registries -----------------------------------------------------------------------------


def test_each_metrics_has_a_fresh_private_registry() -> None:
    first = Metrics.create()
    second = Metrics.create()  # would raise "Duplicated timeseries" on a shared registry
    first.ingest_finished("ingested", records=5, size=10, seconds=0.01)
    first.orphan_queued("acme")
    assert value(first, "signals_runtime_ingest_total", result="ingested") == 1
    assert value(second, "signals_runtime_ingest_total", result="ingested") == 0
    assert "reachability_orphan_traces_total" not in {name for name, _ in samples(second)}
    global_names = {m.name for m in REGISTRY.collect()}
    assert not global_names & {name.removesuffix("_total") for name in SPEC_SERIES}


# --- ingest results -------------------------------------------------------------------------


def test_ingest_results_are_the_spec_outcomes_and_failure_reasons() -> None:
    # plus one of ours: a store outage (503) is counted but is not a refusal of the trace
    assert set(INGEST_RESULTS) == SPEC_RESULTS | {"unavailable"}
    assert {reason.value for reason in FailureReason} <= INGEST_RESULTS


def test_every_result_is_exported_from_the_start() -> None:
    found = samples(Metrics.create())
    for result in SPEC_RESULTS:
        assert found["signals_runtime_ingest_total", frozenset({("result", result)})] == 0


def test_ingest_finished_counts_result_records_bytes_and_duration() -> None:
    metrics = Metrics.create()
    metrics.ingest_finished("ingested", records=120, size=4096, seconds=0.0005)
    metrics.ingest_finished(FailureReason.HASH_MISMATCH, records=0, size=100, seconds=700.0)
    metrics.ingest_finished("duplicate", records=0, size=4096, seconds=0.002)
    assert value(metrics, "signals_runtime_ingest_total", result="ingested") == 1
    assert value(metrics, "signals_runtime_ingest_total", result="hash_mismatch") == 1
    assert value(metrics, "signals_runtime_ingest_total", result="duplicate") == 1
    assert value(metrics, "signals_runtime_ingest_total", result="orphaned") == 0
    assert value(metrics, "signals_runtime_ingest_records_total") == 120
    assert value(metrics, "signals_runtime_ingest_bytes_total") == 8292
    assert value(metrics, "signals_ingest_duration_seconds_count") == 3
    assert value(metrics, "signals_ingest_duration_seconds_sum") == pytest.approx(700.0025)
    bucket = "signals_ingest_duration_seconds_bucket"
    assert value(metrics, bucket, le="0.001") == 1
    assert value(metrics, bucket, le="0.0025") == 2
    assert value(metrics, bucket, le="600.0") == 2
    assert value(metrics, bucket, le="+Inf") == 3


@pytest.mark.parametrize(
    "result", ["", "Ingested", "failed", "ok", "schema-invalid", "limit_exceeded", "401"]
)
def test_unknown_result_is_refused_and_nothing_is_recorded(result: str) -> None:
    metrics = Metrics.create()
    before = exposition(metrics)
    with pytest.raises(ValueError, match="unknown ingest result"):
        metrics.ingest_finished(result, records=1, size=1, seconds=1.0)
    assert exposition(metrics) == before


BAD_AMOUNTS: list[dict[str, Any]] = [
    {"records": -1},
    {"records": 1.5},
    {"records": True},
    {"size": -1},
    {"size": "10"},
    {"seconds": -0.1},
    {"seconds": math.nan},
    {"seconds": math.inf},
]


@pytest.mark.parametrize("bad", BAD_AMOUNTS, ids=[repr(b) for b in BAD_AMOUNTS])
def test_out_of_range_amounts_are_refused_and_nothing_is_recorded(bad: dict[str, Any]) -> None:
    metrics = Metrics.create()
    before = exposition(metrics)
    kwargs: dict[str, Any] = {"records": 1, "size": 1, "seconds": 1.0, **bad}
    with pytest.raises(ValueError):
        metrics.ingest_finished("ingested", **kwargs)
    assert exposition(metrics) == before


# --- orphans ---------------------------------------------------------------------------------


def test_orphans_are_counted_per_tenant() -> None:
    metrics = Metrics.create()
    metrics.orphan_queued("acme")
    metrics.orphan_queued("acme")
    metrics.orphan_queued("globex")
    assert value(metrics, "reachability_orphan_traces_total", tenant="acme") == 2
    assert value(metrics, "reachability_orphan_traces_total", tenant="globex") == 1


@pytest.mark.parametrize("tenant", ["", "Acme", "a" * 64, "-acme", 'x"}', "acme\n"])
def test_orphan_tenant_label_must_be_a_valid_tenant_id(tenant: str) -> None:
    metrics = Metrics.create()
    with pytest.raises(InvalidTenant):
        metrics.orphan_queued(tenant)
    assert "reachability_orphan_traces_total" not in {name for name, _ in samples(metrics)}


def test_orphan_queue_depth_is_set_and_never_negative() -> None:
    metrics = Metrics.create()
    assert value(metrics, "reachability_orphan_queue_depth") == 0
    metrics.set_orphan_queue_depth(42)
    assert value(metrics, "reachability_orphan_queue_depth") == 42
    metrics.set_orphan_queue_depth(0)
    assert value(metrics, "reachability_orphan_queue_depth") == 0
    with pytest.raises(ValueError):
        metrics.set_orphan_queue_depth(-1)
    assert value(metrics, "reachability_orphan_queue_depth") == 0


# --- time -----------------------------------------------------------------------------------


def test_time_gauges_are_seconds_and_drift_is_signed() -> None:
    metrics = Metrics.create()
    metrics.set_time(3600.5, -250.0)
    assert value(metrics, "signals_time_staleness_seconds") == 3600.5
    assert value(metrics, "signals_clock_drift_seconds") == pytest.approx(-0.25)
    metrics.set_time(None, 12)
    assert math.isnan(value(metrics, "signals_time_staleness_seconds"))
    assert value(metrics, "signals_clock_drift_seconds") == pytest.approx(0.012)


def test_time_gauges_start_as_not_applicable() -> None:
    metrics = Metrics.create()
    assert math.isnan(value(metrics, "signals_time_staleness_seconds"))
    assert math.isnan(value(metrics, "signals_clock_drift_seconds"))


# --- alert rules ----------------------------------------------------------------------------

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right"}
PROMQL_FUNCTIONS = {
    "abs", "avg", "count", "deriv", "histogram_quantile", "increase", "max", "min",
    "predict_linear", "rate", "sum", "topk",
}  # fmt: skip
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^}]*)\}")
IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")


def promql_names(expr: str) -> tuple[set[str], set[str], set[str]]:
    """(metric names, function names, label names) used in a PromQL expression."""
    labels: set[str] = set()
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    for match in MATCHERS.finditer(text):
        labels |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", match.group(1)))
    text = MATCHERS.sub(" ", text)
    for match in GROUPING.finditer(text):
        labels |= {name.strip() for name in match.group(1).split(",") if name.strip()}
    text = GROUPING.sub(" ", text)
    metrics: set[str] = set()
    functions: set[str] = set()
    for match in IDENTIFIER.finditer(text):
        name = match.group(0)
        if text[match.end() :].lstrip().startswith("("):
            functions.add(name)
        elif name not in PROMQL_KEYWORDS:
            metrics.add(name)
    return metrics, functions, labels


def test_promql_names_sees_through_selectors_and_grouping() -> None:
    metrics, functions, labels = promql_names(
        'sum by (result) (rate(a_total{result!~"x|y"}[15m])) / ignoring (result) group_left'
        " sum(rate(a_total[15m])) > 1e3 and abs(b) > 0.2"
    )
    assert metrics == {"a_total", "b"}
    assert functions == {"sum", "rate", "abs"}
    assert labels == {"result"}


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    assert set(document) == {"groups"}
    rules: list[dict[str, Any]] = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"}
        assert group["rules"], group["name"]
        rules.extend(group["rules"])
    return rules


RULES = load_rules()


def test_alert_file_is_groups_of_alerting_rules_with_unique_names() -> None:
    names = [rule.get("alert") for rule in RULES]
    assert all(isinstance(name, str) and name for name in names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", RULES, ids=[str(r.get("alert")) for r in RULES])
def test_every_rule_has_for_severity_summary_and_description(rule: dict[str, Any]) -> None:
    assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()


@pytest.mark.parametrize("rule", RULES, ids=[str(r.get("alert")) for r in RULES])
def test_every_rule_uses_only_series_and_labels_that_metrics_exports(rule: dict[str, Any]) -> None:
    exported = series_names(exposition(Metrics.create()))
    used, functions, labels = promql_names(rule["expr"])
    assert used, "an alert must read at least one series"
    assert used <= exported, f"unknown series {used - exported}"
    assert functions <= PROMQL_FUNCTIONS, f"unexpected functions {functions - PROMQL_FUNCTIONS}"
    known_labels = {"le"}.union(*(spec_labels for _, spec_labels in SPEC_SERIES.values()))
    assert labels <= known_labels, f"unknown labels {labels - known_labels}"


def test_alerts_cover_orphans_failures_time_and_latency() -> None:
    exprs = " ".join(rule["expr"] for rule in RULES)
    for needed in [
        "rate(reachability_orphan_traces_total[15m])",
        "reachability_orphan_queue_depth",
        'signals_runtime_ingest_total{result!~"ingested|duplicate|orphaned"}',
        "signals_time_staleness_seconds > 86400",
        "abs(signals_clock_drift_seconds) > 0.2",
        "histogram_quantile(0.99",
    ]:
        assert needed in exprs


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH")


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_fresh_metrics_fire_no_alerts(tmp_path: Path) -> None:
    """A quiet service (the series as a fresh `Metrics` exports them) raises no alert."""
    quiet = 'signals_runtime_ingest_total{result="%s"}'
    series = [{"series": quiet % result, "values": "0x180"} for result in sorted(SPEC_RESULTS)] + [
        {"series": "reachability_orphan_queue_depth", "values": "0x180"},
        {"series": "signals_time_staleness_seconds", "values": " ".join(["NaN"] * 181)},
        {"series": "signals_clock_drift_seconds", "values": " ".join(["NaN"] * 181)},
        {"series": 'signals_ingest_duration_seconds_bucket{le="+Inf"}', "values": "0x180"},
    ]
    unit = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "170m", "alertname": rule["alert"], "exp_alerts": []}
                    for rule in RULES
                ],
            }
        ],
    }
    path = tmp_path / "quiet.test.yml"
    path.write_text(yaml.safe_dump(unit), encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_staging_sweeps_are_counted() -> None:
    metrics = Metrics.create()
    metrics.staging_swept(2)
    metrics.staging_swept(0)
    assert "signals_staging_swept_total 2.0" in exposition(metrics)
    with pytest.raises(ValueError):
        metrics.staging_swept(-1)

"""`stella graph verify` (runbook §2 step 6, SPEC §9): which runtime symbols and edges map
onto the static graph, and what the exit code says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stella_signals.cli.stella import app
from stella_signals.graph import build_index, canonical_graph, map_trace, parse_graph
from stella_signals.ingest import GraphCatalog, parse_graph_hash
from stella_signals.storage import FilesystemBlobStore, FilesystemIndexCache
from stella_signals.tenancy import parse_tenant
from stella_signals.trace import parse_trace
from tests.graph._graphs import BASE, as_bytes, graph
from tests.trace._lines import GOOD, line, ndjson

runner = CliRunner()
ACME = parse_tenant("acme")


def index_of(doc: dict[str, object]):  # type: ignore[no-untyped-def]
    canonical = canonical_graph(parse_graph(as_bytes(doc)))
    return build_index(canonical.document, canonical.hash)


def trace(*lines: bytes):  # type: ignore[no-untyped-def]
    return parse_trace([ndjson(*lines)])


def test_resolution_by_symbol_id_then_node_id_then_code_id() -> None:
    report = map_trace(
        trace(
            line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0"),
            line(symbol_id="n3", purl="pkg:pypi/app@1.0.0"),  # a node id
            line(
                symbol_id="sym:python:renamed",
                code_id="gnu-build-id:aa11",
                purl="pkg:pypi/lib@2.0.0",
            ),
            line(symbol_id="sym:python:nowhere", count=7),
            line(symbol_id="sym:python:nowhere", count=2, container="other"),
        ),
        index_of(BASE),
        graph_hash_ok=True,
    )
    assert report.records == 5
    assert report.unique_symbols == 4
    assert (report.mapped_symbols, report.unmapped_symbols) == (3, 1)
    assert [(u.symbol_id, u.count) for u in report.unmapped] == [("sym:python:nowhere", 9)]
    assert (report.nodes_observed, report.nodes_total) == (3, 3)
    assert (report.edges_confirmed, report.edges_total) == (2, 2)
    assert (report.roots_observed, report.roots_total) == (1, 1)
    assert report.purl_mismatches == ()
    assert not report.all_mapped


def test_purl_mismatch_is_reported_not_an_error() -> None:
    report = map_trace(
        trace(line(symbol_id="sym:python:parse", purl="pkg:pypi/lib@2.0.1")),
        index_of(BASE),
        graph_hash_ok=True,
    )
    assert report.all_mapped
    assert [(m.trace_purl, m.graph_purl) for m in report.purl_mismatches] == [
        ("pkg:pypi/lib@2.0.1", "pkg:pypi/lib@2.0.0")
    ]
    assert (report.edges_confirmed, report.nodes_observed) == (0, 1)


def test_parallel_edges_count_separately() -> None:
    doc = graph()
    doc["edges"].append({"from": "n1", "to": "n2", "kind": "import"})
    report = map_trace(
        trace(line(symbol_id="sym:python:main"), line(symbol_id="sym:python:parse")),
        index_of(doc),
        graph_hash_ok=True,
    )
    assert (report.edges_confirmed, report.edges_total) == (2, 3)


def test_json_report_is_flat_with_spec_fields() -> None:
    report = map_trace(trace(line(symbol_id="x")), index_of(BASE), graph_hash_ok=True)
    assert list(report.to_dict()) == [
        "graph_hash", "graph_hash_ok", "records", "unique_symbols", "mapped_symbols",
        "unmapped_symbols", "unmapped", "purl_mismatches", "nodes_total", "nodes_observed",
        "edges_total", "edges_confirmed", "roots_total", "roots_observed", "edges_observed",
        "unexpected_edges",
    ]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "graph": tmp_path / "graph.json",
        "mapped": tmp_path / "mapped.ndjson",
        "partly": tmp_path / "partly.ndjson",
        "bad": tmp_path / "bad.ndjson",
    }
    paths["graph"].write_bytes(as_bytes(BASE))
    paths["mapped"].write_bytes(
        ndjson(line(symbol_id="sym:python:main", purl="pkg:pypi/app@1.0.0"))
    )
    paths["partly"].write_bytes(ndjson(line(symbol_id="sym:python:main"), line(symbol_id="zz")))
    paths["bad"].write_bytes(ndjson(line(count=0)))
    return paths


def imported(store: Path, files: dict[str, Path]) -> str:
    result = runner.invoke(
        app, ["graph", "import", str(files["graph"]), "--tenant", "acme", "--data-dir", str(store)]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["graph", "verify", *args])
    return result.exit_code, result.stdout


def test_cli_exit_codes(store: Path, files: dict[str, Path]) -> None:
    graph_hash = imported(store, files)
    assert graph_hash.startswith("blake3:")
    common = ["--graph", graph_hash, "--tenant", "acme", "--data-dir", str(store)]
    assert verify("--runtime", str(files["mapped"]), *common)[0] == 0
    code, out = verify("--runtime", str(files["partly"]), *common, "--json")
    assert code == 1
    assert json.loads(out)["unmapped"] == [{"symbol_id": "zz", "purl": GOOD["purl"], "count": 3}]
    assert verify("--runtime", str(files["bad"]), *common)[0] == 2
    assert verify("--runtime", str(files["mapped"]), "--graph", "blake3:" + "0" * 64,
                  "--tenant", "acme", "--data-dir", str(store))[0] == 2  # fmt: skip
    assert (
        verify("--runtime", str(files["mapped"]), "--graph", "nonsense", "--tenant", "acme")[0] == 2
    )


def test_graph_of_another_tenant_is_not_found(store: Path, files: dict[str, Path]) -> None:
    graph_hash = imported(store, files)
    code, _ = verify("--runtime", str(files["mapped"]), "--graph", graph_hash,
                     "--tenant", "globex", "--data-dir", str(store))  # fmt: skip
    assert code == 2


def test_graph_as_a_file_and_its_claimed_hash(files: dict[str, Path], tmp_path: Path) -> None:
    code, out = verify("--runtime", str(files["mapped"]), "--graph", str(files["graph"]), "--json")
    assert code == 0 and json.loads(out)["graph_hash_ok"] is True
    lying = tmp_path / "lying.json"
    lying.write_bytes(as_bytes(graph(graph_hash="blake3:" + "1" * 64)))
    code, out = verify("--runtime", str(files["mapped"]), "--graph", str(lying), "--json")
    assert code == 2 and json.loads(out)["graph_hash_ok"] is False


def test_tampered_graph_in_the_store_is_a_hash_mismatch(
    store: Path, files: dict[str, Path]
) -> None:
    graph_hash = imported(store, files)
    blobs = FilesystemBlobStore(store / "cas")
    from stella_signals.cas import CasUri, Namespace

    path = blobs.path_of(ACME, CasUri(Namespace.GRAPHS, parse_graph_hash(graph_hash)))
    path.chmod(0o640)
    path.write_bytes(path.read_bytes().replace(b"n1", b"n7"))
    code, _ = verify("--runtime", str(files["mapped"]), "--graph", graph_hash,
                     "--tenant", "acme", "--data-dir", str(store))  # fmt: skip
    assert code == 2


def test_invalid_graph_is_never_stored_or_indexed(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(as_bytes(graph(schema="nope")))
    result = runner.invoke(
        app, ["graph", "import", str(bad), "--tenant", "acme", "--data-dir", str(store)]
    )
    assert result.exit_code == 6
    assert "/schema: wrong_schema" in result.output
    assert not list(store.rglob("*.index")) and not (store / "cas" / "acme").exists()


def test_index_is_persisted_reused_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    catalog = GraphCatalog(
        FilesystemBlobStore(tmp_path / "cas"), FilesystemIndexCache(tmp_path / "index")
    )
    result = catalog.import_graph(ACME, as_bytes(BASE))
    index_file = tmp_path / "index" / "acme" / f"{result.graph_hash.hex}.index"
    assert index_file.is_file()
    loaded = catalog.load(ACME, result.graph_hash)
    assert loaded.index.node_ids == result.index.node_ids
    index_file.write_bytes(b"garbage")
    again = catalog.load(ACME, result.graph_hash)
    assert list(again.index.edge_from) == list(result.index.edge_from)
    assert index_file.read_bytes() != b"garbage"
    assert catalog.import_graph(ACME, as_bytes(BASE)).created is False


def test_hash_command(files: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "hash", str(files["graph"])])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(canonical_graph(parse_graph(as_bytes(BASE))).hash)
    bad = tmp_path / "x.json"
    bad.write_bytes(b"{}")
    assert runner.invoke(app, ["graph", "hash", str(bad)]).exit_code == 6


def test_an_index_of_an_older_format_is_rebuilt_with_node_symbols(tmp_path: Path) -> None:
    import msgspec

    catalog = GraphCatalog(
        FilesystemBlobStore(tmp_path / "cas"), FilesystemIndexCache(tmp_path / "index")
    )
    result = catalog.import_graph(ACME, as_bytes(BASE))
    index_file = tmp_path / "index" / "acme" / f"{result.graph_hash.hex}.index"
    v1 = msgspec.msgpack.decode(index_file.read_bytes())
    v1["format"] = "stella.graph-index/v1"
    del v1["node_symbols"]
    index_file.write_bytes(msgspec.msgpack.encode(v1))
    fresh = GraphCatalog(
        FilesystemBlobStore(tmp_path / "cas"), FilesystemIndexCache(tmp_path / "index")
    )
    loaded = fresh.load(ACME, result.graph_hash)
    symbol_of = {node["id"]: node["symbol_id"] for node in BASE["nodes"]}
    assert loaded.index.node_symbols == [symbol_of[n] for n in loaded.index.node_ids]
    assert msgspec.msgpack.decode(index_file.read_bytes())["format"] == "stella.graph-index/v3"


def test_a_v2_index_is_rebuilt_with_node_displays(tmp_path: Path) -> None:
    import msgspec

    catalog = GraphCatalog(
        FilesystemBlobStore(tmp_path / "cas"), FilesystemIndexCache(tmp_path / "index")
    )
    result = catalog.import_graph(ACME, as_bytes(BASE))
    index_file = tmp_path / "index" / "acme" / f"{result.graph_hash.hex}.index"
    v2 = msgspec.msgpack.decode(index_file.read_bytes())
    v2["format"] = "stella.graph-index/v2"
    del v2["node_displays"]
    index_file.write_bytes(msgspec.msgpack.encode(v2))
    fresh = GraphCatalog(
        FilesystemBlobStore(tmp_path / "cas"), FilesystemIndexCache(tmp_path / "index")
    )
    loaded = fresh.load(ACME, result.graph_hash)
    display_of = {node["id"]: node.get("display") or node["id"] for node in BASE["nodes"]}
    assert loaded.index.node_displays == [display_of[n] for n in loaded.index.node_ids]
    assert msgspec.msgpack.decode(index_file.read_bytes())["format"] == "stella.graph-index/v3"

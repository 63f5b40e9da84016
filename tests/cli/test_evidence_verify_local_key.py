"""SPEC §8: "`stella evidence verify BUNDLE` checks it offline" — with no --service-key, on the
operator's machine, against the service keys of the local deployment (current and retired, in
its database; and STELLA_SERVICE_KEY_FILE's). A receipt signed by any other key still fails
(exit 1); with no key to be found at all it is exit 2, asking for --service-key.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stella_signals.cli.stella import app
from stella_signals.wiring import Services, Settings, load_settings
from stella_signals_dev.synth import trace_bytes
from tests.api.conftest import SPEC, make_api

runner = CliRunner()
#: No ambient deployment: every test says which data dir and key file it means.
CLEAN_ENV: dict[str, str | None] = {
    "STELLA_DATA_DIR": None,
    "STELLA_DATABASE_URL": None,
    "STELLA_SERVICE_KEY_FILE": None,
    "STELLA_TENANT": None,
}


@dataclass(frozen=True)
class Deployment:
    """An embedded-default deployment that took one ingest, and that ingest's bundle."""

    data_dir: Path
    bundle: Path
    #: Its service public key as GET /api/v1/keys/service serves it.
    public_key: Path

    @property
    def private_key(self) -> Path:
        return self.data_dir / "keys" / "service.pem"


def deploy(root: Path) -> Deployment:
    root.mkdir(parents=True, exist_ok=True)
    apis = make_api(root)
    api = next(apis)
    try:
        graph_hash = api.post_graph()
        response = api.post_trace(gzip.compress(trace_bytes(SPEC), mtime=0), graph_hash)
        assert response.status_code == 201, response.text
        ingest_id = response.headers["X-Ingest-Id"]
        bundle = api.client.get(f"/api/v1/evidence/{ingest_id}/bundle", headers=api.headers())
        assert bundle.status_code == 200, bundle.text
        keys = api.client.get("/api/v1/keys/service", headers=api.headers()).json()["keys"]
    finally:
        next(apis, None)  # leave the client, close the services
    (root / "evidence.tar.gz").write_bytes(bundle.content)
    [current] = [key for key in keys if key["status"] == "current"]
    (root / "service.pub.pem").write_text(current["public_key_pem"])
    return Deployment(api.data_dir, root / "evidence.tar.gz", root / "service.pub.pem")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return deploy(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Another deployment, with another service key."""
    return deploy(tmp_path_factory.mktemp("elsewhere"))


def verify(bundle: Path, *args: str | Path, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(
        app,
        ["evidence", "verify", str(bundle), *map(str, args)],
        env={**CLEAN_ENV, **(env or {})},
    )


def test_spec_8_verifies_offline_with_the_local_deployments_key(home: Deployment) -> None:
    result = verify(home.bundle, "--data-dir", home.data_dir)
    assert result.exit_code == 0, result.output
    assert "receipt_signature:" in result.stdout and "result: ok" in result.stdout


def test_the_default_data_dir_is_the_local_deployment(
    home: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(home.data_dir.parent)  # ./data
    result = verify(home.bundle)
    assert result.exit_code == 0, result.output


def test_json_report_without_service_key(home: Deployment) -> None:
    result = verify(home.bundle, "--data-dir", home.data_dir, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["exit_code"] == 0


def test_a_bundle_signed_by_another_key_still_fails(
    home: Deployment, elsewhere: Deployment
) -> None:
    result = verify(elsewhere.bundle, "--data-dir", home.data_dir)
    assert result.exit_code == 4, result.output  # SPEC §10: signature invalid
    assert "receipt_signature:" in result.stdout and "FAILED" in result.stdout
    assert "result: FAILED" in result.stdout


def test_the_service_key_file_is_trusted_too(home: Deployment, elsewhere: Deployment) -> None:
    with_key_file = {"STELLA_SERVICE_KEY_FILE": str(elsewhere.private_key)}
    assert verify(elsewhere.bundle, "--data-dir", home.data_dir, env=with_key_file).exit_code == 0
    # ... and alone, with no deployment in the data dir.
    nowhere = home.data_dir.parent / "nowhere"
    result = verify(elsewhere.bundle, "--data-dir", nowhere, env=with_key_file)
    assert result.exit_code == 0, result.output
    assert not nowhere.exists()


def test_an_unusable_service_key_file_is_exit_2(home: Deployment) -> None:
    env = {"STELLA_SERVICE_KEY_FILE": str(home.public_key)}  # a public key: not the key file
    result = verify(home.bundle, "--data-dir", home.data_dir, env=env)
    assert result.exit_code == 2, result.output
    assert "STELLA_SERVICE_KEY_FILE" in result.stderr


def test_a_retired_service_key_still_verifies_old_bundles(tmp_path: Path) -> None:
    """After the deployment moves to a new key (STELLA_SERVICE_KEY_FILE), bundles signed
    before carry the old key's signature: it is listed as retired and still trusted."""
    old = deploy(tmp_path / "rotated")
    keygen = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "new-key")])
    assert keygen.exit_code == 0, keygen.output
    settings = replace(
        load_settings(data_dir=old.data_dir, environ={}),
        service_key_file=str(tmp_path / "new-key" / "key.pem"),
    )
    Services.open(settings).close()  # the new key is now current, the old one retired
    assert retired_and_current(settings) == (1, 1)
    result = verify(old.bundle, "--data-dir", old.data_dir)
    assert result.exit_code == 0, result.output
    # The new key alone does not verify it: the retired key is what the check relied on.
    only_new = verify(old.bundle, "--service-key", tmp_path / "new-key" / "key.pub.pem")
    assert only_new.exit_code == 4, only_new.output


def retired_and_current(settings: Settings) -> tuple[int, int]:
    services = Services.open(settings)
    try:
        keys = services.repo.list_service_keys()
    finally:
        services.close()
    retired = sum(1 for key in keys if key.retired_at is not None)
    return retired, len(keys) - retired


def test_no_key_anywhere_is_exit_2_asking_for_service_key(tmp_path: Path, home: Deployment) -> None:
    nowhere = tmp_path / "nowhere"
    result = verify(home.bundle, "--data-dir", nowhere)
    assert result.exit_code == 2, result.output
    assert "--service-key" in result.stderr
    assert "GET /api/v1/keys/service" in result.stderr
    assert result.stdout == ""
    assert not nowhere.exists()  # verifying creates no deployment


def test_service_key_given_means_only_that_key(home: Deployment, elsewhere: Deployment) -> None:
    """--service-key works as before: the given keys, and the local deployment is not read."""
    theirs = verify(elsewhere.bundle, "--service-key", elsewhere.public_key,
                    "--data-dir", home.data_dir)  # fmt: skip
    assert theirs.exit_code == 0, theirs.output
    ours = verify(home.bundle, "--service-key", elsewhere.public_key, "--data-dir", home.data_dir)
    assert ours.exit_code == 4, ours.output

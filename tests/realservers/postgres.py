"""A real, throwaway PostgreSQL cluster for the tests: Debian's server binaries, `initdb` in a
temporary directory, run as the ``postgres`` user when the tests run as root, listening on a
free loopback port only, with password (SCRAM) authentication.

``make test`` installs the Debian package; nothing here is a mock.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.realservers.signals_process import free_port


def postgres_bindir() -> Path:
    """The newest installed server (``/usr/lib/postgresql/<major>/bin``)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "`make test` installs them (apt-get install postgresql)"
        )
    return candidates[-1].parent


class PostgresServer:
    """One cluster. ``durable=False`` turns fsync off for speed (tests only; benchmarks keep
    the defaults)."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="stella-pg-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.user = "stella"
        self.password = secrets.token_urlsafe(18)
        self.durable = durable
        self._as_postgres = os.geteuid() == 0
        self._counter = 0
        self._template: str | None = None
        self._initdb()

    # -- running commands as the cluster owner ---------------------------------------------
    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def _initdb(self) -> None:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        pwfile.chmod(0o600)
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.datadir),
            "-U", self.user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.root}'",
            "max_connections = 200",
            "shared_buffers = 128MB",
            "log_min_messages = warning",
        ]
        if not self.durable:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- databases -------------------------------------------------------------------------
    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None, *, migrated: bool = False) -> str:
        """A fresh database; returns its ``postgresql://`` URL. Empty, or with ``migrated``
        the schema at head and nothing else: a copy of a template database migrated once
        per cluster (PostgreSQL copies it in about 0.1 s, where running the migrations on
        each new database took about a second of the server's and the test's time). Tests
        of the migrations themselves, and of servers starting together on an empty
        database, take an empty one."""
        self._counter += 1
        name = name or f"t{os.getpid()}_{self._counter}_{secrets.token_hex(3)}"
        template = f' TEMPLATE "{self._migrated_template()}"' if migrated else ""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')  # names are ours, not input
        return self.dsn(name)

    def _migrated_template(self) -> str:
        """A database holding only the schema at head (`SqlRepository.migrate`): no service
        key, token or row of any test. Nobody stays connected to it (PostgreSQL copies a
        template only then)."""
        if self._template is None:
            from stella_signals.storage import SqlRepository

            name = f"template_{os.getpid()}"
            with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, not input
            repository = SqlRepository(self.dsn(name))
            try:
                repository.migrate()
            finally:
                repository.close()
            self._template = name
        return self._template


@contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    server = PostgresServer(durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One cluster for the whole test session; tests take fresh databases from it."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    return postgres.create_database()

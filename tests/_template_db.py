"""A migrated SQLite database, made once per test process and copied for each unit test.

Most unit tests open a fresh embedded deployment (`Services.open` on a new data dir), and
migrating a new SQLite file runs the whole Alembic chain: about 0.05 s of CPU each time, for
hundreds of tests. For a unit test, and for a contract test outside tests/storage/ (the
embedded side of the API and ingest tests that also run on PostgreSQL, whose databases are
already copies of a migrated template there), `SqlDatabase.migrate` on a SQLite file that
does not exist yet, to ``head``, copies a template instead: the file the real `migrate`
made, in this process, from nothing to ``head`` (the same schema, rows and
``alembic_version``). Any other case (an existing file, another revision, PostgreSQL) runs
Alembic as before, and the migrations themselves are tested in tests/storage/ (contract
tier) on fresh databases; its port contract (test_repository_contract.py) starts from a copy
of this template too (`migrated_template`), as it is a test of the ports, not the migrations.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from stella_signals.storage._sql_base import SqlDatabase

Migrate = Callable[[SqlDatabase, str], None]


@functools.cache
def migrated_template(real: Migrate) -> Path:
    """A database migrated to head by the real `migrate`, closed (no WAL file beside it)."""
    folder = Path(tempfile.mkdtemp(prefix="stella-template-db-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # one per test process
    path = folder / "template.sqlite"
    database = SqlDatabase(f"sqlite:///{path}")
    real(database, "head")
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return path


def copying_migrate(real: Migrate) -> Migrate:
    """``real`` (`SqlDatabase.migrate`), except that a new SQLite file migrated to head is a
    copy of `migrated_template`."""

    def migrate(self: SqlDatabase, revision: str = "head") -> None:
        target = sa.engine.make_url(self.url).database if self.dialect == "sqlite" else None
        if revision != "head" or not target or target == ":memory:" or Path(target).exists():
            real(self, revision)
            return
        shutil.copyfile(migrated_template(real), target)

    return migrate

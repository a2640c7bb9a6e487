"""Migrations apply to an empty database and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from app.infra.fulltext import is_search_object
from app.migrate import is_current


def _models_only(name: str | None, type_: str, parent_names: object) -> bool:
    """The full-text index (FTS5 tables and triggers, GIN expression indexes) is
    made by the migration, not by the models: leave it out of the comparison."""
    return not is_search_object(name)


def test_models_and_migrations_do_not_drift(engine: Engine, database_url: str) -> None:
    """The equivalent of `alembic check`: autogenerate finds nothing to add."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_server_default": True, "include_name": _models_only}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], (
        f"models differ from migrations; run `alembic revision --autogenerate`: {diff}"
    )
    assert is_current(database_url)


def test_every_table_exists(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= names


def test_sqlite_runs_in_wal_mode(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        assert engine.dialect.name == "postgresql"
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

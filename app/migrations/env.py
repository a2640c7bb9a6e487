"""Alembic environment: metadata comes from app.models; the URL from the caller
(``app.migrate``) or, when alembic runs by hand, from CG_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table on SQLModel.metadata
from app.config import load_settings
from app.db import make_engine
from app.infra.fulltext import is_search_object

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                compare_server_default=True,
                # the full-text index is the migration's, not the models'
                include_name=lambda name, *_: not is_search_object(name),
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

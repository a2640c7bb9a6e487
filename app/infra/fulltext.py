"""The full-text index the search service reads, kept by the database itself.

SQLite: one FTS5 table per searched table (``search_posts`` …), *external
content* (the text lives only in the row; the index holds tokens), filled by
triggers on insert, update and delete. PostgreSQL: one GIN index per searched
table on the same ``to_tsvector('simple', …)`` expression the queries use. Either
way the index changes in the transaction that changes the row, whatever wrote it
(a member's post, a remote one stored by federation, a bulk insert), and a rolled
back write leaves no trace in it.

The ``simple`` configuration (and FTS5's ``unicode61``, diacritics kept as
``simple`` keeps them) lower-cases and splits on non-word characters without
stemming, so both databases find the same rows.

Every object here is named ``search_*`` / ``ix_search_*``: the migration drift
check leaves them out (they are not SQLModel tables), and ``drop`` lets the
search benchmark measure posting without the index. A migration that rebuilds a
searched table on SQLite (``batch_alter_table``) drops its triggers: call
:func:`create` again after it.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# each searched table and its searched columns
SEARCHED: dict[str, tuple[str, ...]] = {
    "posts": ("title", "text"),
    "artifacts": ("title", "body"),
    "statements": ("text",),
    "communities": ("name", "title", "description"),
    "accounts": ("username", "display_name", "bio"),
}
PREFIX = "search_"


def pg_document(table: str) -> str:
    """On PostgreSQL, the indexed document of a row of ``table``: the expression its
    GIN index holds (a query must repeat it exactly to use the index)."""
    parts = " || ' ' || ".join(f"coalesce({table}.{c}, '')" for c in SEARCHED[table])
    return f"to_tsvector('simple', {parts})"


def _sqlite_statements(table: str) -> list[str]:
    # every name here is one of SEARCHED's, none comes from outside
    cols = SEARCHED[table]
    fts = f"{PREFIX}{table}"
    names = ", ".join(cols)
    new = ", ".join(f"coalesce(new.{c}, '')" for c in cols)
    old = ", ".join(f"coalesce(old.{c}, '')" for c in cols)
    changed = " OR ".join(f"new.{c} IS NOT old.{c}" for c in cols)
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', "
        f"content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "  # noqa: S608
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "  # noqa: S608
        f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE ON {table} WHEN {changed} BEGIN "  # noqa: S608
        f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END",
        # rows written before the index existed
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608
    ]


def create(conn: Connection) -> None:
    """Create the index (and fill it from the rows already there)."""
    for table in SEARCHED:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    f"CREATE INDEX ix_{PREFIX}{table} ON {table} USING gin (({pg_document(table)}))"
                )
            )
        else:
            for statement in _sqlite_statements(table):
                conn.execute(text(statement))


def drop(conn: Connection) -> None:
    """Remove the index (the rows keep their text)."""
    for table in SEARCHED:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"DROP INDEX IF EXISTS ix_{PREFIX}{table}"))
        else:
            for suffix in ("ai", "ad", "au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {PREFIX}{table}_{suffix}"))
            conn.execute(text(f"DROP TABLE IF EXISTS {PREFIX}{table}"))


def is_search_object(name: str | None) -> bool:
    """Whether a table or index belongs to the full-text index (not to the models)."""
    return bool(name) and str(name).startswith((PREFIX, f"ix_{PREFIX}"))

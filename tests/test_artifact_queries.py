"""Artifact lists cost a fixed number of SQL statements, however long they are:
tags, communities and authors are loaded for the whole list at once, not per
artifact (the N+1 this guards against)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.config import Settings
from app.services import Ctx, accounts, artifacts, communities
from tests.conftest import PASSWORD

AUTHORS = 4


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs inside the block."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _community(new_ctx, name: str, n: int) -> None:
    """A community with ``n`` tagged artifacts by up to ``AUTHORS`` members."""
    with new_ctx() as ctx:
        people = [accounts.register(ctx, f"{name}{i}", PASSWORD) for i in range(AUTHORS)]
        group = communities.create(ctx, people[0], name)
        for person in people[1:]:
            communities.join(ctx, person, group)
        for i in range(n):
            author = people[i % AUTHORS]
            artifacts.create(
                ctx, author, name, "idea", f"Idea {i}", f"Do thing {i}.", [f"t{i}", "common"]
            )


def _count(client: TestClient, engine: Engine, path: str) -> tuple[int, list]:
    with statements(engine) as seen:
        r = client.get(path)
    assert r.status_code == 200, r.text
    return len(seen), r.json()


@pytest.mark.parametrize(
    "path", ["/api/cg/v1/communities/{}/artifacts", "/api/cg/v1/communities/{}/artifacts/feed"]
)
def test_an_artifact_list_costs_the_same_for_1_and_20_artifacts(
    path: str,
    client: TestClient,
    engine: Engine,
    new_ctx,
    settings: Settings,
) -> None:
    _community(new_ctx, "one", 1)
    _community(new_ctx, "twenty", 20)
    _count(client, engine, path.format("one"))  # warm up: built-in modules recorded
    few, one = _count(client, engine, path.format("one"))
    many, twenty = _count(client, engine, path.format("twenty"))
    listed = twenty if isinstance(twenty, list) else [i["artifact"] for i in twenty["items"]]
    assert len(listed) == 20
    assert {a["author"]["handle"].split("@")[0] for a in listed} == {
        f"twenty{i}" for i in range(AUTHORS)
    }
    assert all("common" in a["tags"] and len(a["tags"]) == 2 for a in listed)
    assert many == few, f"{few} statements for 1 artifact, {many} for 20"


def test_the_batch_reads_what_one_by_one_reads(ctx: Ctx) -> None:
    """The batched tags agree with the one-artifact read, in the same order."""
    ada = accounts.register(ctx, "ada", PASSWORD)
    communities.create(ctx, ada, "garden")
    a = artifacts.create(ctx, ada, "garden", "idea", "Rain", "Plant.", ["b", "a", "c"])
    b = artifacts.create(ctx, ada, "garden", "idea", "Leaves", "Rake.")
    assert artifacts.tags_for(ctx, [a.id, b.id]) == {a.id: ["a", "b", "c"]}
    assert artifacts.tags_of(ctx, a) == ["a", "b", "c"] and artifacts.tags_of(ctx, b) == []

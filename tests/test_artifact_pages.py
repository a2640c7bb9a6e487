"""Artifact pages: create, edit (with a conflict shown, nothing lost), history,
diff, statements, stances and the map, through forms as a browser would."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services import accounts, artifacts, communities, stances
from tests.conftest import PASSWORD
from tests.test_pages import signup, submit


def test_create_edit_history_and_diff_through_pages(client: TestClient) -> None:
    signup(client, "ada")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    r = submit(
        client,
        "/c/garden/artifacts",
        "/c/garden/artifacts/new",
        {"kind": "problem", "title": "Floods", "body": "The drains overflow.", "tags": "water"},
    )
    assert r.status_code == 303
    url = r.headers["location"]
    page = client.get(url).text
    assert "Floods" in page and "The drains overflow." in page and "#<bdi>water</bdi>" in page
    artifact_id = int(url.rsplit("/", 1)[1])
    base = client.get(f"/api/cg/v1/artifacts/{artifact_id}").json()["revision"]
    edit = {"title": "Floods", "body": "The gutters overflow.", "message": "gutters"}
    r = submit(client, f"{url}/edit", f"{url}/edit", {**edit, "base_revision": str(base)})
    assert r.status_code == 303
    history = client.get(f"{url}/history").text
    assert "gutters" in history and history.count('type="radio" name="from"') == 2
    revs = client.get(f"/api/cg/v1/artifacts/{artifact_id}/revisions").json()
    diff = client.get(f"{url}/diff", params={"from": revs[1]["id"], "to": revs[0]["id"]}).text
    assert "<del>drains</del>" in diff and "<ins>gutters</ins>" in diff


def test_a_conflicting_edit_shows_both_versions_and_keeps_the_text(
    client: TestClient,
    new_ctx,
) -> None:
    signup(client, "ada")
    with new_ctx() as ctx:
        ada = accounts.get_local(ctx, "ada")
        garden = communities.create(ctx, ada, "garden")
        art = artifacts.create(ctx, ada, garden, "idea", "Trees", "Plant oaks.\n")
        base = art.current_revision_id
        artifacts.revise(ctx, ada, art.id, base, "Plant birches.\n")
    page = client.get(f"/artifacts/{art.id}/edit").text
    r = submit(
        client,
        f"/artifacts/{art.id}/edit",
        f"/artifacts/{art.id}/edit",
        {"title": "Trees", "body": "Plant maples.\n", "base_revision": str(base)},
    )
    assert r.status_code == 409
    assert "Plant maples." in r.text and "Plant birches." in r.text
    assert "nothing is lost" in r.text
    assert page  # the form was there
    with new_ctx() as ctx:
        assert artifacts.get(ctx, art.id).body == "Plant birches.\n"


def test_statements_stances_and_map_on_the_page(client: TestClient, new_ctx) -> None:
    signup(client, "ada")
    with new_ctx() as ctx:
        ada = accounts.get_local(ctx, "ada")
        garden = communities.create(ctx, ada, "garden")
        art = artifacts.create(ctx, ada, garden, "idea", "Trees", "Plant oaks.")
        people = []
        for i in range(6):
            p = accounts.register(ctx, f"p{i}", PASSWORD)
            communities.join(ctx, p, garden)
            people.append(p)
        s1 = stances.add_statement(ctx, ada, art.id, "Shade matters")
        s2 = stances.add_statement(ctx, ada, art.id, "Oaks grow too slowly")
        for i, p in enumerate(people):
            stances.take(ctx, p, "agree", statement_id=s1.id)
            stances.take(ctx, p, "agree" if i < 3 else "disagree", statement_id=s2.id)
    url = f"/artifacts/{art.id}"
    r = submit(client, url, f"/statements/{s1.id}/stance", {"stance": "agree"})
    assert r.status_code == 303
    r = submit(client, url, f"{url}/statements", {"text": "Birds need trees"})
    assert r.status_code == 303
    page = client.get(url).text
    assert "Birds need trees" in page and "yours: agree" in page
    assert "<svg" in page and "group-informed consensus" in page
    assert page.index("Shade matters") < page.index("What divides them")


def test_the_community_page_shows_its_top_artifacts_and_why(client: TestClient) -> None:
    signup(client, "ada")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    page = client.get("/c/garden").text
    assert "Shared artifacts" in page and "No artifacts yet" in page
    for title in ("Mill Road floods", "Rain gardens"):
        submit(
            client,
            "/c/garden/artifacts",
            "/c/garden/artifacts/new",
            {"kind": "idea", "title": title, "body": "Text.", "tags": ""},
        )
    page = client.get("/c/garden").text
    assert page.index("Rain gardens") < page.index("Mill Road floods")  # newest first
    assert page.count("Why here?") >= 2 and "Chronological" in page


def test_templates_use_no_inline_styles() -> None:
    """The Content-Security-Policy is ``style-src 'self'``: a browser ignores inline
    ``style`` attributes, so colours set that way silently vanish (they did)."""
    import re
    from pathlib import Path

    from app import middleware

    csp = dict(middleware.SECURITY_HEADERS)[b"content-security-policy"]
    assert b"style-src 'self';" in csp and b"unsafe-inline" not in csp
    templates = Path(__file__).resolve().parent.parent / "app" / "web" / "templates"
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(templates.glob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\sstyle\s*=", line)
    ]
    assert offenders == []

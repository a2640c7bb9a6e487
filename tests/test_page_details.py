"""Small things pages must get right: dates that read as dates, counts with the
right noun, offers made only to those they fit, forms that keep secrets out of
URLs, conflict pages in people's numbers, one error message at a time, a graph
whose labels and arrows show, and a failed lookup explained in words."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from app.main import create_app
from app.services import accounts, artifacts, communities, decisions, governance
from app.services.ranking import choices, registry
from tests.conftest import PASSWORD, make_settings
from tests.test_destructive_actions import log_in
from tests.test_every_page import visible_text
from tests.test_pages import signup, submit

# --- 27: one way to show a date ----------------------------------------------------------

NOW = datetime(2026, 12, 2, 11, 5, tzinfo=UTC)


def test_dates_read_as_dates_with_the_exact_time_on_hover() -> None:
    from app.web.templating import when

    far = when(datetime(2026, 12, 9, 14, 5, 3, 634765, tzinfo=UTC), now=NOW)
    assert far == (
        '<time datetime="2026-12-09T14:05:03+00:00" '
        'title="Wednesday 9 December 2026, 14:05:03 UTC">9 Dec 2026, 14:05 UTC</time>'
    )
    assert ">in 3 hours</time>" in when(NOW + timedelta(hours=3, minutes=1), now=NOW)
    assert ">1 minute ago</time>" in when(NOW - timedelta(seconds=90), now=NOW)
    assert ">just now</time>" in when(NOW, now=NOW)
    assert ">2 Dec 2026</time>" in when(NOW, date_only=True)
    assert "9 Dec 2026, 14:05 UTC" in when("2026-12-09T14:05:03.634765+00:00", now=NOW)
    assert when(None) == ""


def test_counts_agree_with_their_nouns() -> None:
    from app.web.templating import plural

    assert plural(1, "person", "people") == "1 person"
    assert plural(3, "person", "people") == "3 people"
    assert (plural(1, "member"), plural(0, "member")) == ("1 member", "0 members")


def test_proposals_and_the_changelog_name_the_module(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        (first, v1), (second, v2) = registry.list_modules(ctx)[:2]
        choices.set_community_algorithm(ctx, root, garden, v2.id, {}, "try it")
        governance.set_mode(ctx, root, garden, "vote")
        governance.propose(ctx, root, garden, v1.id, {}, reason="back")
        names = first.name, second.name
    page = client.get("/c/garden/algorithm").text
    proposal = re.search(r'<article class="proposal">.*?</article>', page, re.S).group(0)
    assert f"{names[0]}</strong> version 1" in proposal
    changelog = page[page.index("<h2>Changelog</h2>") :]
    assert f"{names[1]}</strong> version 1" in changelog


# --- 29: smaller slips -------------------------------------------------------------------


def test_the_map_counts_one_person_as_a_person(client: TestClient, new_ctx) -> None:
    from app.services import stances

    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        idea = artifacts.create(ctx, root, garden, "idea", "Compost", "Compost bins.")
        for text in ("Bins are cheap", "Bins smell"):
            s = stances.add_statement(ctx, root, idea.id, text)
            stances.take(ctx, root, "agree", statement_id=s.id)
    text = " ".join(visible_text(client.get(f"/artifacts/{idea.id}").text).split())
    assert "1 person, 2 statements" in text and "1 people" not in text


def test_follow_without_joining_is_offered_only_to_non_members(client: TestClient) -> None:
    signup(client, "ada")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    assert "Follow without joining" not in client.get("/c/garden").text  # ada is its admin
    client.cookies.clear()
    signup(client, "ben")
    assert "Follow without joining" in client.get("/c/garden").text
    submit(client, "/c/garden", "/c/garden/follow", {})
    submit(client, "/c/garden", "/c/garden/join", {})
    page = client.get("/c/garden").text
    assert "Follow without joining" not in page and "Unfollow" in page  # can still undo it


def test_a_charter_with_its_own_heading_is_not_headed_twice(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        communities.create(ctx, root, "garden", charter="# Charter\n\nWe share tools.")
        communities.create(ctx, root, "field", charter="We share seeds.")
    headings = re.findall(r"<h[1-6][^>]*>\s*Charter\s*</h[1-6]>", client.get("/c/garden").text)
    assert len(headings) == 1
    assert len(re.findall(r"<h2>Charter</h2>", client.get("/c/field").text)) == 1


def _artifact_with_revisions(new_ctx) -> tuple[int, int, int]:
    """An artifact with three revisions; returns its id and its first and last revision ids."""
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        a = artifacts.create(ctx, root, garden, "problem", "Slugs", "Slugs eat.\n")
        first = a.current_revision_id
        artifacts.revise(ctx, root, a.id, first, "Slugs eat it all.\n", None, "more")
        artifacts.revise(ctx, root, a.id, a.current_revision_id, "Slugs.\n", None, "less")
        return a.id, first, a.current_revision_id


def test_the_compare_form_keeps_the_csrf_token_out_of_its_url(client: TestClient, new_ctx) -> None:
    artifact_id, first, _ = _artifact_with_revisions(new_ctx)
    log_in(client, "root")
    page = client.get(f"/artifacts/{artifact_id}/history").text
    compare = re.search(r'<form method="get".*?</form>', page, re.S).group(0)
    assert "csrf_token" not in compare
    revert = re.search(r'<form id="revert" method="post".*?</form>', page, re.S).group(0)
    assert (
        'name="csrf_token"' in revert and f'form="revert" name="revision" value="{first}"' in page
    )


def test_the_conflict_page_names_the_revision_number_not_its_id(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:  # other artifacts first, so revision ids and numbers differ
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        for title in ("One", "Two", "Three"):
            artifacts.create(ctx, root, garden, "idea", title, "x")
        a = artifacts.create(ctx, root, garden, "problem", "Slugs", "Slugs eat lettuce.\n")
        base = a.current_revision_id
        artifacts.revise(ctx, root, a.id, base, "Slugs eat cabbage.\n", None, "cabbage")
        current = ctx.db.get(artifacts.ArtifactRevision, a.current_revision_id)
        assert current.number == 2 and current.id != 2
        artifact_id = a.id
    log_in(client, "root")
    r = submit(
        client,
        f"/artifacts/{artifact_id}/edit",
        f"/artifacts/{artifact_id}/edit",
        {"base_revision": base, "title": "Slugs", "body": "Slugs eat kale.\n"},
    )
    assert r.status_code == 409
    assert "(revision 2)" in r.text and f"(revision {current.id})" not in r.text


def test_an_error_is_shown_once(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        a = artifacts.create(ctx, root, garden, "idea", "Compost", "Compost bins.")
        for stage in ("open", "proposed"):
            if (a.stage, stage) in artifacts.TRANSITIONS:
                artifacts.transition(ctx, root, a.id, stage)
        d = decisions.open_vote(ctx, root, a.id, "consent", datetime.now(UTC) + timedelta(days=1))
        artifact_id, decision_id = a.id, d.id
    log_in(client, "root")
    r = submit(
        client,
        f"/artifacts/{artifact_id}",
        f"/decisions/{decision_id}/ballots",
        {"choice": "block"},
    )
    assert r.status_code == 422
    alerts = re.findall(r'<p class="error" role="alert">(.*?)</p>', r.text)
    assert len(alerts) == 1 and "reason" in alerts[0].lower()


def test_the_graph_draws_arrowheads_outside_the_nodes_and_labels_inside_the_picture(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        made = [
            artifacts.create(ctx, root, garden, "idea", f"A rather long artifact title {i}", "x")
            for i in range(6)
        ]
        for a, b in zip(made, made[1:], strict=False):
            artifacts.link(ctx, root, a.id, b.id, "builds-on")
    page = client.get("/c/garden/artifacts/graph").text
    width, height = map(float, re.search(r'viewBox="0 0 (\S+) (\S+)"', page).groups())
    nodes = [
        tuple(map(float, m)) for m in re.findall(r'<circle cx="(\S+)" cy="(\S+)" r="(\S+)"', page)
    ]
    lines = re.findall(r'<line x1="\S+" y1="\S+" x2="(\S+)" y2="(\S+)"[^>]*marker-end', page)
    assert len(nodes) == 6 and len(lines) == 5
    for x2, y2 in lines:  # each arrow stops outside every circle, so its head is visible
        nearest = min(((float(x2) - x) ** 2 + (float(y2) - y) ** 2) ** 0.5 - r for x, y, r in nodes)
        assert nearest > 0
    for x, anchor, label in re.findall(
        r'<text x="(\S+)" y="\S+" font-size="12" text-anchor="(\w+)">([^<]*)</text>', page
    ):
        extent = len(label) * 12 * 0.6  # a generous average glyph width
        left = {"start": 0, "middle": extent / 2, "end": extent}[anchor]
        assert float(x) - left >= 0 and float(x) - left + extent <= width, label


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_explained_in_words(settings, engine) -> None:
    loopback = make_settings(settings.data_dir, settings.database_url, allow_private_addresses=True)
    with TestClient(create_app(loopback, engine), base_url="http://127.0.0.1:8000") as c:
        signup(c, "ada")
        target = f"nobody@127.0.0.1:{_free_port()}"  # nothing listens there
        r = submit(c, "/communities", "/follow-remote", {"target": target})
        assert r.status_code == 303
        page = c.get("/communities").text
        assert (
            "We couldn&#39;t reach that server" in page or "We couldn't reach that server" in page
        )
        for raw in ("ConnectError", "Errno", "network:"):
            assert raw not in page

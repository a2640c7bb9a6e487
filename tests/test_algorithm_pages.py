"""Transparency in the pages: every module's source and hash is public, feeds
name their algorithm and link each "why" to the exact version."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.test_pages import signup, submit


def test_algorithm_list_and_source_pages(client: TestClient) -> None:
    page = client.get("/algorithms").text
    assert "Bridging" in page and "Chronological" in page
    module_id = re.search(r'href="/algorithms/(\d+)"><strong><bdi>Bridging', page).group(1)
    detail = client.get(f"/algorithms/{module_id}").text
    assert detail.count('class="highlight"') == 1, detail[-3000:]
    assert '<span class="nf">rank</span>' in detail
    assert "No errors or timeouts." in detail
    digest = re.search(r"SHA-256 <code>([0-9a-f]{64})</code>", detail).group(1)
    assert "Bridging" in client.get(f"/algorithm-hashes/{digest}").text
    assert client.get(f"/algorithm-hashes/{'0' * 64}").status_code == 404


def test_community_admin_switches_and_the_feed_says_so(client: TestClient) -> None:
    signup(client, "alice")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    submit(client, "/c/garden", "/compose", {"community": "garden", "text": "hello?"})
    page = client.get("/c/garden/algorithm").text
    assert "Never changed" in page
    version_id = re.search(r'<option value="(\d+)"[^>]*>Questions that need answers', page).group(1)
    r = submit(
        client,
        "/c/garden/algorithm",
        "/c/garden/algorithm",
        {
            "version_id": version_id,
            "params": '{"question_boost": 5}',
            "reason": "answer newcomers first",
        },
    )
    assert r.status_code == 303
    page = client.get("/c/garden/algorithm").text
    assert "answer newcomers first" in page and "question_boost" in page
    feed = client.get("/c/garden").text
    assert re.search(
        r'Ordered by <a href="/algorithm-hashes/[0-9a-f]{64}"><strong><bdi>Questions that '
        r"need answers</bdi></strong>",
        feed,
    )
    assert "is a question: 1.0" in feed
    r = submit(
        client,
        "/c/garden/algorithm",
        "/c/garden/algorithm",
        {"version_id": version_id, "params": "not json"},
    )
    assert r.status_code == 422


def test_members_choose_their_home_feed_algorithm(client: TestClient) -> None:
    signup(client, "alice")
    settings = client.get("/settings").text
    bridging = re.search(r'<option value="(\d+)"[^>]*>Bridging', settings).group(1)
    r = submit(client, "/settings", "/settings/feed-algorithm", {"version_id": bridging})
    assert r.status_code == 303
    submit(client, "/compose", "/compose", {"text": "my own post"})
    home = client.get("/").text
    assert "<strong><bdi>Bridging</bdi></strong>" in home and "not enough ratings" in home


def test_diff_lineage_and_preview_pages(client: TestClient) -> None:
    signup(client, "alice")
    submit(client, "/compose", "/compose", {"text": "two?"})  # older, but a question
    submit(client, "/compose", "/compose", {"text": "one"})
    page = client.get("/algorithms").text
    ids = dict(re.findall(r'href="/algorithms/(\d+)"><strong><bdi>([^<]+)</bdi></strong>', page))
    by_name = {name: int(i) for i, name in ids.items()}
    chrono = client.get(f"/algorithms/{by_name['Chronological']}").text
    needs = client.get(f"/algorithms/{by_name['Questions that need answers']}").text
    v_chrono = re.search(r'href="/algorithm-versions/(\d+)">version 1', chrono).group(1)
    v_needs = re.search(r'href="/algorithm-versions/(\d+)">version 1', needs).group(1)
    diff = client.get(f"/algorithm-diff?from={v_chrono}&to={v_needs}").text
    assert 'class="add">+NAME = &#34;Questions that need answers&#34;' in diff
    preview = client.get(f"/preview?algorithm={v_needs}").text
    assert "Under <bdi>Questions that need answers</bdi>" in preview
    assert re.search(r'class="move" aria-label="moved ↑1">↑1</span> <a [^>]*><bdi>two\?', preview)


def test_a_module_page_footer_names_the_app_version(client: TestClient) -> None:
    """The page's own ``version`` (a module version) must not replace the app's
    version in the footer (it printed the whole module, source and all)."""
    from app import __version__

    page = client.get("/algorithms").text
    module_id = re.search(r'href="/algorithms/(\d+)"><strong><bdi>Bridging', page).group(1)
    footer = client.get(f"/algorithms/{module_id}").text.rsplit('<footer class="site">', 1)[1]
    assert f"Commonground {__version__} ·" in footer and "source=" not in footer

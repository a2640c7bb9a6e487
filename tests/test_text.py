"""Markdown rendering and HTML sanitising: what members write can't attack readers."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.text import plain_text, render_markdown, sanitize_html

BASE = "https://cg.example"


def known(user: str, domain: str | None) -> str | None:
    return f"{BASE}/@{user}" if user == "alice" and domain in (None, "cg.example") else None


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]


def assert_harmless(html: str) -> None:
    parsed = Elements(html)
    assert not {"script", "img", "iframe", "style", "object"} & set(parsed.tags), parsed.tags
    for name, value in parsed.attrs:
        assert not name.startswith("on"), (name, value)
        assert name != "style"
        if name == "href":
            assert value.startswith(("http://", "https://", "mailto:")), value


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        '<a href="http://x" onclick="evil()">x</a>',
        "<iframe src=http://evil></iframe>",
        "<style>body{display:none}</style>",
        "![img](http://x/a.png)",
        "<svg onload=alert(1)>",
    ],
)
def test_member_html_is_escaped_or_removed(source: str) -> None:
    assert_harmless(render_markdown(source, base_url=BASE).html)


@pytest.mark.parametrize(
    "html, forbidden, kept",
    [
        ('<p onclick="x()">hi</p>', "onclick", "<p>hi</p>"),
        ("<script>alert(1)</script><b>ok</b>", "alert", "ok"),
        ('<a href="javascript:alert(1)">x</a>', "javascript", ">x</a>"),
        ('<a href="https://ok.example/">x</a>', "<script", 'href="https://ok.example/"'),
        ('<span style="color:red">x</span>', "style", "x"),
    ],
)
def test_sanitize_html_for_remote_content(html: str, forbidden: str, kept: str) -> None:
    clean = sanitize_html(html)
    assert forbidden not in clean
    assert kept in clean
    assert_harmless(clean)


def test_links_are_nofollow() -> None:
    html = render_markdown("see https://example.org", base_url=BASE).html
    assert 'href="https://example.org"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_hashtags_are_found_and_linked() -> None:
    r = render_markdown("Let's meet #RiverCleanup and #river_2025 but not #123", base_url=BASE)
    assert r.tags == ["rivercleanup", "river_2025"]
    assert f'href="{BASE}/tags/rivercleanup"' in r.html
    assert "#123" in r.html and "/tags/123" not in r.html


def test_mentions_link_only_known_accounts() -> None:
    r = render_markdown(
        "hi @alice and @nobody and @alice@cg.example", base_url=BASE, resolve_mention=known
    )
    assert r.mentions == [("alice", None), ("alice", "cg.example")]
    assert f'href="{BASE}/@alice"' in r.html
    assert "@nobody" in r.html and "/@nobody" not in r.html


def test_code_and_existing_links_are_left_alone() -> None:
    r = render_markdown("`#notatag` and [#label](https://x.example)", base_url=BASE)
    assert r.tags == []
    assert "<code>#notatag</code>" in r.html


def test_email_addresses_are_not_mentions() -> None:
    r = render_markdown("write to bob@alice.example", base_url=BASE, resolve_mention=known)
    assert r.mentions == []


def test_plain_text_unescapes_and_truncates() -> None:
    assert plain_text("<p>a &amp; b</p>\n<p>c</p>") == "a & b c"
    assert plain_text("<p>abcdef</p>", limit=3) == "abc"

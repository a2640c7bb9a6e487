"""Turning member-written markdown into safe HTML, and finding hashtags and mentions.

Markdown is parsed by markdown-it-py with raw HTML disabled; hashtags and
@mentions become links through a token rule (so code spans and existing links
are left alone); the result then passes through nh3, the same sanitizer that
federation uses for remote HTML (:func:`sanitize_html`).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

HASHTAG_RE = re.compile(r"(?<![\w/#&])#(\w*[^\W\d]\w*)")
MENTION_RE = re.compile(
    r"(?<![\w@/.])@([A-Za-z0-9_]{1,30})(?:@((?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::\d{1,5})?))?"
)
TOKEN_RE = re.compile(f"{HASHTAG_RE.pattern}|{MENTION_RE.pattern}")

ALLOWED_TAGS = {
    "p", "br", "a", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "del", "s", "span",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
ALLOWED_CLASSES = {"a": {"hashtag", "mention", "u-url"}, "span": {"h-card"}}

MentionResolver = Callable[[str, str | None], str | None]


def sanitize_html(html: str) -> str:
    """Strip everything but a small formatting vocabulary: no scripts, no event
    handlers, no styles, only http(s)/mailto links, all links rel=nofollow."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )


@dataclass
class Rendered:
    html: str
    tags: list[str] = field(default_factory=list)
    mentions: list[tuple[str, str | None]] = field(default_factory=list)


def normalize_tag(tag: str) -> str:
    return tag.lower()


def _link_tokens(state: StateCore, href: str, css: str, label: str) -> list[Token]:
    open_ = Token("link_open", "a", 1)
    open_.attrs = {"href": href, "class": css}
    if css == "hashtag":
        open_.attrs["rel"] = "tag"
    text = Token("text", "", 0)
    text.content = label
    return [open_, text, Token("link_close", "a", -1)]


def _make_rule(base_url: str, resolve: MentionResolver, found: Rendered):
    def rule(state: StateCore) -> None:
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            out: list[Token] = []
            link_depth = 0
            for tok in block.children:
                if tok.type == "link_open":
                    link_depth += 1
                elif tok.type == "link_close":
                    link_depth -= 1
                if tok.type != "text" or link_depth > 0 or not TOKEN_RE.search(tok.content):
                    out.append(tok)
                    continue
                pos = 0
                for m in TOKEN_RE.finditer(tok.content):
                    replacement = _replacement(m, base_url, resolve, found, state)
                    if replacement is None:
                        continue
                    if m.start() > pos:
                        plain = Token("text", "", 0)
                        plain.content = tok.content[pos : m.start()]
                        out.append(plain)
                    out.extend(replacement)
                    pos = m.end()
                if pos < len(tok.content):
                    rest = Token("text", "", 0)
                    rest.content = tok.content[pos:]
                    out.append(rest)
            block.children = out

    return rule


def _replacement(
    m: re.Match[str], base_url: str, resolve: MentionResolver, found: Rendered, state: StateCore
) -> list[Token] | None:
    tag, user, domain = m.group(1), m.group(2), m.group(3)
    if tag:
        norm = normalize_tag(tag)
        if norm not in found.tags:
            found.tags.append(norm)
        href = f"{base_url}/tags/{quote(norm)}"
        return _link_tokens(state, href, "hashtag", f"#{tag}")
    href = resolve(user, domain)
    if href is None:
        return None
    key = (user.lower(), domain.lower() if domain else None)
    if key not in found.mentions:
        found.mentions.append(key)
    label = f"@{user}" + (f"@{domain}" if domain else "")
    return _link_tokens(state, href, "mention", label)


def render_markdown(
    text: str, *, base_url: str, resolve_mention: MentionResolver | None = None
) -> Rendered:
    """Render member markdown to sanitized HTML, collecting hashtags and mentions.

    ``resolve_mention(username, domain)`` returns the profile URL of a known
    account, or None to leave the text unlinked.
    """
    found = Rendered(html="")
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["linkify", "strikethrough", "table"])
    md.core.ruler.push(
        "cg_tags_mentions", _make_rule(base_url, resolve_mention or _no_mention, found)
    )
    found.html = sanitize_html(md.render(text))
    return found


def _no_mention(_user: str, _domain: str | None) -> str | None:
    return None


def plain_text(html: str, limit: int | None = None) -> str:
    """Visible text of sanitized HTML, for summaries and ranking modules."""
    text = html_lib.unescape(nh3.clean(html, tags=set()))
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] if limit else text

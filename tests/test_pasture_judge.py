"""The fediverse-pasture (https://pypi.org/project/fediverse-pasture/) as an
independent judge, against one real Commonground server process.

- ``verify_actor``: the pasture's six test actors (alice … frank: with or without
  WebFinger, unsigned or signed inbox POSTs, actors that answer only signed GETs)
  fetch our Person and Group actors and POST to their inboxes; its
  ``ActorVerifier`` reports what worked, and we expect exactly what the pasture
  calls correct (unsigned POSTs refused, signed ones accepted, WebFinger agrees).
- the pasture's input objects (the ``fediverse-pasture-inputs`` data lists): each
  example is sent as its ``ActivitySender`` sends it, a signed ``Create`` of a Note
  from the pasture's one actor, to a member's inbox; then we check what was stored
  and that no unsafe HTML survived.

The pasture's actors, images and assets are served from 127.0.0.1 by its own
Quart blueprints (``http://pasture-one-actor`` in its data is that host).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import judge_missing
from tests.peers import Instance, eventually
from tests.server_process import HOST, free_port

try:
    import aiohttp
    import fediverse_pasture_inputs
    import uvicorn
    from fediverse_pasture.data_provider import DataProvider, bovine_actor_for_actor_data
    from fediverse_pasture.runner import ActivitySender
    from fediverse_pasture.server import BlueprintForActors, assets_blueprint_for_directory
    from fediverse_pasture.server.image_provider_blueprint import image_provider_blueprint
    from fediverse_pasture.server.verify_actor import ActorVerifier
    from fediverse_pasture.types import Message
    from pyld import jsonld
    from quart import Quart
except ImportError as exc:  # reported by the fixture below, as a skip or a failure
    MISSING: str | None = (
        f"fediverse-pasture is not installed ({exc}); `pip install -e '.[dev]'` installs it"
    )
else:
    MISSING = None

pytestmark = pytest.mark.slow

# --- the pasture, on 127.0.0.1 -----------------------------------------------------------

PASTURE_HOST = "http://pasture-one-actor"  # the sender's host in the pasture's data
# Vocabulary URIs in the inputs: names, never fetched, left as they are.
NAMESPACES = ("https://www.w3.org/", "https://w3id.org/", "https://joinpeertube.org/ns")
NAMESPACES += ("https://misskey-hub.net/ns", "https://schema.org/")
TEXT_FIELDS = {"content", "summary", "name", "contentMap", "summaryMap", "nameMap", "@context"}


class Pasture:
    """The pasture's actors (``verify_actor``'s six plus its one actor ``/actor``),
    its generated images (``/images/…``) and the assets its inputs name
    (``/assets/…``), served by its Quart blueprints with uvicorn in a thread."""

    def __init__(self, assets: Path) -> None:
        self.port = free_port()
        self.domain = f"{HOST}:{self.port}"
        self.base = f"http://{self.domain}"
        self.data = DataProvider.generate()
        self.actors = [*self.data.possible_actors, self.data.one_actor]
        # The assets the inputs refer to: a public note by the one actor (replied to,
        # quoted) and a text file (a non-image attachment).
        note = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.base}/assets/note1.jsonap",
            "type": "Note",
            "attributedTo": f"{self.base}/actor",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "content": "<p>the note that inputs reply to and quote</p>",
            "published": "2024-01-01T00:00:00Z",
        }
        (assets / "note1.jsonap").write_text(json.dumps(note))
        (assets / "sample.txt").write_text("a text file")
        app = Quart("pasture")
        app.register_blueprint(BlueprintForActors(self.actors).blueprint)
        app.register_blueprint(image_provider_blueprint, url_prefix="/images")
        app.register_blueprint(assets_blueprint_for_directory(str(assets)))
        config = uvicorn.Config(app, host=HOST, port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Pasture:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "pasture did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def local(self, value: Any, key: str = "") -> Any:
        """An input example with every URL our server might dereference on 127.0.0.1:
        the pasture's own host becomes this server, any other host a path on it that
        answers 404 (so nothing is ever looked up off this machine). HTML text and
        vocabulary URIs stay as they are, apart from the pasture's host."""
        if isinstance(value, dict):
            return {k: self.local(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.local(v, key) for v in value]
        if not isinstance(value, str):
            return value
        value = value.replace(PASTURE_HOST, self.base)
        if key in TEXT_FIELDS or value.startswith(NAMESPACES):
            return value
        return re.sub(
            r"^https?://(?!127\.0\.0\.1[:/])([^/]+)", lambda m: f"{self.base}/offsite/{m[1]}", value
        )


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[None]:
    """Nothing in this process looks a name up off this machine: the pasture
    (through bovine) expands actor documents as JSON-LD and would fetch their
    contexts from the web. It gets the contexts bovine ships, an empty one for
    anything else (bovine's own fallback), and no name but loopback resolves."""
    if MISSING:
        judge_missing(MISSING)
    from bovine import jsonld as bovine_jsonld

    real_getaddrinfo, real_loader = socket.getaddrinfo, jsonld.get_document_loader()
    shipped = {"https://www.w3.org/ns/activitystreams", bovine_jsonld.bovine_context_name}

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host not in LOOPBACK:
            raise socket.gaierror(f"{host}: only loopback is reachable from these tests")
        return real_getaddrinfo(host, *args, **kw)

    def offline_loader(url: str, options: dict, **kw: Any) -> dict:
        if url in shipped or url.startswith("http://joinmastodon.org/ns"):
            return bovine_jsonld.wrapper(url, options, **kw)
        return {"contentType": "application/ld+json", "contextUrl": None,
                "documentUrl": url, "document": {"@context": []}}  # fmt: skip

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    jsonld.set_document_loader(offline_loader)
    try:
        yield
    finally:
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
        jsonld.set_document_loader(real_loader)


@pytest.fixture(scope="module")
def pasture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pasture]:
    if MISSING:
        judge_missing(MISSING)
    with Pasture(tmp_path_factory.mktemp("pasture-assets")) as server:
        yield server


@pytest.fixture(scope="module")
def ours(pasture: Pasture) -> Iterator[Instance]:
    with Instance() as server:
        server.register("alice")
        r = server.api("POST", "/communities", "alice", json={"name": "meadow"})
        assert r.status_code == 201, r.text
        yield server


# --- verify_actor ------------------------------------------------------------------------

# What the pasture calls correct: it warns when alice (or dean, the same without
# WebFinger) gets an unsigned POST in, and when any signing actor cannot fetch the
# actor or POST to its inbox.
EXPECTED = {
    "alice": {"get_actor": True, "post_inbox": False},
    "bob": {"get_actor": True, "post_inbox": True},
    "claire": {"get_actor": True, "post_inbox": True},
    "dean": {"get_actor": True, "post_inbox": False},
    "emily": {"get_actor": True, "post_inbox": True},
    "frank": {"get_actor": True, "post_inbox": True},
    "webfinger": True,
}


@pytest.mark.parametrize("name", ["alice", "meadow"], ids=["Person", "Group"])
async def test_verify_actor_finds_everything_as_expected(
    ours: Instance, pasture: Pasture, name: str
) -> None:
    message = Message()
    verifier = ActorVerifier(
        actor_list=pasture.actors,
        remote_uri=f"acct:{name}@{ours.domain}",
        domain=pasture.domain,
        message=message,
        timeout=20,
    )
    before = {row[0] for row in ours.sql("SELECT activity_id FROM inbox_items")}
    result = await verifier.verify()
    assert result == EXPECTED, "\n".join(map(str, message.steps))
    refused = [s for s in message.steps if str(s).endswith("for unsigned POST")]
    assert refused == ["Got 400 for unsigned POST"] * 2, refused  # alice's and dean's
    path = "users" if name == "alice" else "c"
    assert verifier.remote_actor_uri == f"{ours.url}/{path}/{name}"
    # The signed Likes were stored for processing; the unsigned EchoRequests not.
    stored = {row[0] for row in ours.sql("SELECT activity_id FROM inbox_items")} - before
    senders = {re.sub(r"^.*/([a-z]+?)[A-Za-z0-9_-]{11}$", r"\1", a) for a in stored}
    assert len(stored) == 4 and senders == {"bob", "claire", "emily", "frank"}, stored


# --- the pasture's input objects -------------------------------------------------------


# Ours, sent the same way: the pasture's inputs hold one <script> and no event
# handler or script URL, which a hostile peer would try first.
HOSTILE = [
    {"content": '<a href="javascript:alert(1)" onclick="alert(2)">click</a>'},
    {"content": '<a href=" JaVaScRiPt:alert(1)">spaced</a><img src=x onerror="alert(3)">'},
    {"content": '<p onmouseover="alert(4)" style="x">over</p><svg onload="alert(5)"></svg>'},
    {"content": "<iframe src='javascript:alert(6)'></iframe><form><button>b</button></form>"},
    {"content": "text", "summary": "<script>alert(7)</script><b onclick='x'>warning</b>"},
    {"type": "Page", "name": "<script>alert(8)</script>title", "content": "<p>page</p>"},
    {"content": '<a href="data:text/html;base64,PHNjcmlwdD4=">data</a><object data="x">'},
]


def examples() -> list[tuple[str, int, dict]]:
    """Every example of every input the pasture ships, then ours: (input, index, properties)."""
    if MISSING:
        return []
    return [
        (name, i, example)
        for name, data in sorted(fediverse_pasture_inputs.available.items())
        for i, example in enumerate(data.examples)
    ] + [("hostile", i, example) for i, example in enumerate(HOSTILE)]


class Sent:
    """One example as sent: the Create, our inbox's answer, and what was stored."""

    def __init__(self, name: str, index: int, activity: dict, status: int | None) -> None:
        self.name, self.index, self.activity, self.status = name, index, activity, status
        self.state: str | None = None
        self.error: str | None = None
        self.post: dict[str, Any] | None = None

    @property
    def note(self) -> dict:
        return self.activity["object"]

    def __repr__(self) -> str:
        return f"{self.name}[{self.index}] {self.status} {self.state} {self.error!r}"


async def _send_all(pasture: Pasture, target: str) -> list[Sent]:
    """Each example as the pasture's ActivitySender sends it: its properties over a
    skeleton Note with ``content: "text"`` (what its ModifierBuilder does), wrapped in a
    Create by the one actor, signed, POSTed to the target's inbox."""
    sent: list[Sent] = []
    inboxes: dict[str, str] = {}
    gate = asyncio.Semaphore(8)
    async with aiohttp.ClientSession() as session:
        actor, actor_object = bovine_actor_for_actor_data(
            f"{pasture.base}/actor", pasture.data.one_actor
        )
        await actor.init(session=session)

        async def send(name: str, index: int, example: dict) -> None:
            sender = ActivitySender.for_actor(actor, actor_object)
            sender._inbox_cache = inboxes  # one lookup of the inbox for all
            properties = pasture.local(example)
            sender.init_create_note(lambda note: {**note, "content": "text", **properties})
            async with gate:
                response = await sender.send(target)
            assert sender.activity is not None
            sent.append(Sent(name, index, sender.activity, response and response.status))

        async with asyncio.TaskGroup() as group:
            for name, index, example in examples():
                group.create_task(send(name, index, example))
    return sent


@pytest.fixture(scope="module")
def delivered(ours: Instance, pasture: Pasture) -> list[Sent]:
    """Every example sent to alice, processed, and read back from our database."""
    sent = asyncio.run(_send_all(pasture, f"{ours.url}/users/alice"))
    busy = (
        "SELECT count(*) FROM jobs WHERE kind IN ('ap.inbox', 'media.fetch_remote') "
        "AND state IN ('queued', 'running')"
    )
    eventually(lambda: ours.sql(busy) == [(0,)], what="inbox and media jobs to finish")
    for item in sent:
        rows = ours.sql(
            "SELECT state, error FROM inbox_items WHERE activity_id = :id", id=item.activity["id"]
        )
        if rows:
            item.state, item.error = rows[0]
        posts = ours.sql(
            "SELECT id, html, text, title, content_warning, attachments, object_type, "
            "in_reply_to_id FROM posts WHERE uri = :uri",
            uri=item.note["id"],
        )
        if posts:
            keys = ("id", "html", "text", "title", "content_warning", "attachments", "type")
            item.post = dict(zip((*keys, "in_reply_to_id"), posts[0], strict=True))
    return sent


# What we leave out, and why (docs/federation.md, "Activities we accept").
NOT_STORED = {
    ("attributed_to", 2): "author is not the activity's actor",  # two authors
    ("necessary_properties", 3): "author is not the activity's actor",  # no attributedTo
    ("necessary_properties", 4): "None objects are not stored",  # no type
    **{
        ("object_types", i): f"{kind!r} objects are not stored"
        for i, kind in [(1, "Audio"), (2, "Document"), (3, "Event"), (4, "Image"), (7, "Place")]
        + [(8, "Profile"), (9, "Relationship"), (10, "Tombstone"), (11, "Video"), (13, None)]
    },
}
UNSAFE_TAGS = {"script", "style", "iframe", "object", "embed", "form", "input", "button"}


class Unsafe(HTMLParser):
    """What a page must never get from a remote post: dangerous elements, event
    handler attributes, script URLs. Also collects the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []
        self._hidden = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in UNSAFE_TAGS:
            self.found.append(f"<{tag}>")
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if re.sub(r"[\x00-\x20]", "", value or "").lower().startswith(("javascript:", "data:")):
                self.found.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def visible(html: str) -> str:
    return re.sub(r"\s+", "", "".join(Unsafe(html).text))


def test_every_input_is_accepted_and_processed(delivered: list[Sent]) -> None:
    assert len(delivered) == len(examples()) > 250
    refused = [s for s in delivered if s.status != 202]
    # The one Note without an id: refused at the edge (4xx), nothing stored.
    assert [(s.name, s.index) for s in refused] == [("necessary_properties", 1)], refused
    accepted = [s for s in delivered if s.status == 202]
    assert {s.state for s in accepted} <= {"done", "ignored"}, [
        s for s in accepted if s.state not in ("done", "ignored")
    ]
    ignored = {(s.name, s.index): s.error for s in accepted if s.state == "ignored"}
    assert ignored.keys() == NOT_STORED.keys(), ignored
    for key, reason in NOT_STORED.items():
        assert reason in (ignored[key] or ""), (key, ignored[key])
    stored = [s for s in accepted if s.state == "done"]
    assert all(s.post is not None for s in stored), [s for s in stored if s.post is None]


def test_what_is_stored_is_what_was_sent_and_nothing_unsafe(delivered: list[Sent]) -> None:
    stored = [s for s in delivered if s.post is not None]
    for item in stored:
        post, note = item.post, item.note
        assert post is not None
        for field in ("html", "text", "title", "content_warning"):
            assert Unsafe(post[field] or "").found == [], (item, field, post[field])
        # every word a reader could see in the sent content is kept, nothing added
        assert visible(post["html"]) == visible(note.get("content") or ""), (item, post["html"])
        # of several types, the most specific one we store (docs/federation.md, "type")
        kinds = note["type"] if isinstance(note["type"], list) else [note["type"]]
        sent_type = next(
            (t for t in ("Question", "Article", "Page", "Note") if t in kinds), kinds[0]
        )
        assert post["type"] == ("Note" if sent_type == "Question" else sent_type), item
        summary, sensitive = note.get("summary"), note.get("sensitive") is True
        if sent_type in ("Note", "Question") and (visible(summary or "") or sensitive):
            has_images = bool(note.get("attachment"))
            if visible(summary or "") or not has_images:
                warning = visible(summary or "") or "Sensitivecontent"
                assert visible(post["content_warning"] or "") == warning, item
            else:  # sensitive images and no summary: the images fold, not the text (Mastodon)
                assert not post["content_warning"], item
                links = post["attachments"]
                links = json.loads(links) if isinstance(links, str) else links
                assert links and all(link.get("sensitive") is True for link in links), item
    assert len(stored) > 240


def test_replies_and_images_are_linked_and_fetched(ours: Instance, delivered: list[Sent]) -> None:
    by_key = {(s.name, s.index): s for s in delivered}
    parent = ours.sql("SELECT id FROM posts WHERE uri LIKE '%/assets/note1.jsonap'")
    assert len(parent) == 1  # the note replied to, fetched once from the pasture
    replies = {i: by_key["in_reply_to", i].post["in_reply_to_id"] for i in range(7)}
    # a URL, a one-member list of it and the embedded note name the parent (the one
    # id-or-object rule of federation/vocab); an unknown host (404), two parents, a
    # Link's href or a collection are not followed, and the post is kept without one
    note1 = parent[0][0]
    assert replies == {0: note1, 1: None, 2: note1, 3: None, 4: None, 5: None, 6: note1}
    cached = ours.sql(
        "SELECT p.uri FROM media m JOIN posts p ON p.id = m.post_id WHERE p.uri LIKE :u",
        u="%/object/%",
    )
    formats = {by_key["image_attachments", i].note["id"] for i in (0, 1, 2, 3, 6, 8)}
    assert formats <= {uri for (uri,) in cached}  # png, jpg, gif, webp: fetched and cleaned

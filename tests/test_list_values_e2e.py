"""List-valued ActivityStreams properties, through a real server and its worker.

JSON-LD lets any property hold a list: ``"type": ["Note", "Article"]`` (sent by
software that offers Mastodon a Note and others an Article), ``"type": ["Person"]``
on an actor, ``"actor": ["https://…"]``, ``"inReplyTo": [uri]``. Such documents
once crashed the ``ap.inbox`` job (``unhashable type: 'list'``, the item stuck
``queued``) and the key lookup (HTTP 500). Here a remote instance played by small
HTTP servers on 127.0.0.1 delivers signed activities to a ``commonground serve
--with-worker`` process; each must end as a readable post and a ``done`` inbox
item, or be refused with a clear 4xx.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from federation.httpsig import generate_keypair, sign_request
from federation.vocab import AS_CONTEXT, AS_PUBLIC
from tests.peers import Instance, eventually
from tests.test_inbox_hostile import DocServer, Peer

pytestmark = pytest.mark.slow
_n = itertools.count(1)


@pytest.fixture(scope="module")
def ours() -> Iterator[Instance]:
    with Instance() as instance:
        instance.register("alice")
        yield instance


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[DocServer]:
    server = DocServer()
    yield server
    server.close()


def person(server: DocServer, name: str, **overrides: Any) -> Peer:
    """A remote member whose actor document ``server`` serves (with ``overrides``)."""
    peer = Peer(server, name, generate_keypair())
    return peer.publish(peer.actor(**overrides))


@pytest.fixture(scope="module")
def ann(elsewhere: DocServer) -> Peer:
    return person(elsewhere, "ann")


def deliver(ours: Instance, peer: Peer, activity: dict) -> httpx.Response:
    """POST ``activity`` to our shared inbox, signed with ``peer``'s key."""
    body = json.dumps(activity).encode()
    url = f"{ours.url}/inbox"
    headers = sign_request("POST", url, {}, body, peer.key_id, peer.private_pem)
    return httpx.post(url, content=body, headers=headers, trust_env=False, timeout=20)


def note(peer: Peer, **fields: Any) -> dict:
    n = next(_n)
    return {
        "id": f"{peer.server.base}/notes/{n}",
        "type": "Note",
        "attributedTo": peer.uri,
        "content": f"<p>note {n} from {peer.name}</p>",
        "to": [AS_PUBLIC],
        **fields,
    }


def create(peer: Peer, obj: Any, **fields: Any) -> dict:
    return {
        "@context": AS_CONTEXT,
        "id": f"{peer.server.base}/activities/{next(_n)}",
        "type": "Create",
        "actor": peer.uri,
        "object": obj,
        "to": [AS_PUBLIC],
        **fields,
    }


def processed(ours: Instance, activity_id: str) -> tuple[str, str | None]:
    """The inbox item's final state and error, once the worker has processed it."""

    def state() -> tuple[str, str | None] | None:
        rows = ours.sql(
            "SELECT state, error FROM inbox_items WHERE activity_id = :id", id=activity_id
        )
        return rows[0] if rows and rows[0][0] != "queued" else None

    return eventually(state, what=f"the worker to process {activity_id}")


def readable(ours: Instance, uri: str) -> dict:
    """The stored post with ``uri``, as the API serves it."""
    rows = ours.sql("SELECT id FROM posts WHERE uri = :uri", uri=uri)
    assert len(rows) == 1, f"{uri} was not stored"
    r = ours.api("GET", f"/posts/{rows[0][0]}")
    assert r.status_code == 200, r.text
    return r.json()


def accepted_and_done(ours: Instance, peer: Peer, activity: dict) -> None:
    r = deliver(ours, peer, activity)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    assert processed(ours, activity["id"]) == ("done", None)


def test_a_create_of_a_note_that_is_also_an_article_is_stored_and_readable(
    ours: Instance, ann: Peer
) -> None:
    obj = note(ann, type=["Note", "Article"], name="Two types, one post")
    accepted_and_done(ours, ann, create(ann, obj))
    post = readable(ours, obj["id"])
    assert post["title"] == "Two types, one post"
    assert post["author"]["uri"] == ann.uri
    assert "note" in post["text"]
    # the more specific type is kept (Note is what such senders add for Mastodon)
    assert ours.sql("SELECT object_type FROM posts WHERE uri = :u", u=obj["id"]) == [("Article",)]


def test_an_actor_typed_as_a_list_is_accepted_for_signature_verification(
    ours: Instance, elsewhere: DocServer
) -> None:
    """Our first delivery from ``pat`` makes us fetch pat's actor document to get the
    key: ``"type": ["Person"]`` once answered 500 there."""
    pat = person(elsewhere, "pat", type=["Person"])
    obj = note(pat)
    accepted_and_done(ours, pat, create(pat, obj))
    assert readable(ours, obj["id"])["author"]["uri"] == pat.uri
    assert ours.sql("SELECT actor_type FROM remote_actors WHERE uri = :u", u=pat.uri) == [
        ("Person",)
    ]


def test_an_activity_typed_as_a_list_with_one_known_member_is_processed(
    ours: Instance, ann: Peer
) -> None:
    obj = note(ann)
    activity = create(ann, obj, type=["Create", "https://vocab.example/ns#Extra"])
    accepted_and_done(ours, ann, activity)
    readable(ours, obj["id"])
    assert ours.sql(
        "SELECT activity_type FROM inbox_items WHERE activity_id = :id", id=activity["id"]
    ) == [("Create",)]


def test_a_type_list_with_no_known_member_is_accepted_and_ignored(
    ours: Instance, ann: Peer
) -> None:
    """As Mastodon does: a type we do not know is not an error, only nothing to do."""
    activity = create(ann, note(ann), type=["Foo", "Bar"])
    r = deliver(ours, ann, activity)
    assert r.status_code == 202, r.text
    state, error = processed(ours, activity["id"])
    assert state == "ignored"
    assert error is not None and "not supported" in error


def test_two_known_activity_types_are_ambiguous_and_ignored(ours: Instance, ann: Peer) -> None:
    obj = note(ann)
    activity = create(ann, obj, type=["Create", "Delete"])
    r = deliver(ours, ann, activity)
    assert r.status_code == 202, r.text
    assert processed(ours, activity["id"])[0] == "ignored"
    assert ours.sql("SELECT id FROM posts WHERE uri = :u", u=obj["id"]) == []


@pytest.mark.parametrize("value", [7, None, [], ["Create", 7], {"Create": True}])
def test_a_malformed_type_is_refused(ours: Instance, ann: Peer, value: object) -> None:
    activity = create(ann, note(ann), type=value)
    r = deliver(ours, ann, activity)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_activity"
    assert ours.sql("SELECT id FROM inbox_items WHERE activity_id = :i", i=activity["id"]) == []


def test_an_actor_and_an_object_given_as_one_member_lists_are_processed(
    ours: Instance, ann: Peer
) -> None:
    obj = note(ann, attributedTo=[ann.uri])
    activity = create(ann, [obj], actor=[ann.uri])
    accepted_and_done(ours, ann, activity)
    assert readable(ours, obj["id"])["author"]["uri"] == ann.uri


def test_a_reply_whose_in_reply_to_is_a_list_is_threaded(ours: Instance, ann: Peer) -> None:
    parent = note(ann)
    accepted_and_done(ours, ann, create(ann, parent))
    reply = note(ann, inReplyTo=[parent["id"]], to=AS_PUBLIC)  # `to` as one value too
    accepted_and_done(ours, ann, create(ann, reply))
    assert readable(ours, reply["id"])["in_reply_to"] == readable(ours, parent["id"])["id"]


def test_a_single_tag_object_and_a_list_typed_hashtag_are_kept(ours: Instance, ann: Peer) -> None:
    obj = note(ann, tag={"type": ["Hashtag"], "name": "#teatime"})
    accepted_and_done(ours, ann, create(ann, obj))
    post = readable(ours, obj["id"])
    assert ours.sql("SELECT tag FROM post_tags WHERE post_id = :p", p=post["id"]) == [("teatime",)]


def test_an_author_list_with_a_group_beside_the_person_names_the_person(
    ours: Instance, ann: Peer
) -> None:
    group = {"id": f"{ann.server.base}/groups/g", "type": ["Group"]}
    obj = note(ann, attributedTo=[group, ann.uri])
    accepted_and_done(ours, ann, create(ann, obj))
    assert readable(ours, obj["id"])["author"]["uri"] == ann.uri


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("object", "two objects", "object must be a single object or id"),
        ("actor", "two actors", "An activity has one actor"),
    ],
)
def test_several_objects_or_actors_are_refused_with_the_real_reason(
    ours: Instance, ann: Peer, field: str, value: str, detail: str
) -> None:
    activity = create(ann, note(ann))
    if field == "object":
        activity["object"] = [note(ann), note(ann)]
    else:
        activity["actor"] = [ann.uri, f"{ann.server.base}/users/someone-else"]
    r = deliver(ours, ann, activity)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_activity"
    assert detail in r.json()["detail"], value

"""Origin checks as pure functions: which host a URL belongs to (federation/remote.py) and
which activities may speak for which objects (federation/inbox.py). Fast, so `make
mutation` runs them (docs/quality.md); tests/test_inbox_hostile.py sends the real thing."""

from __future__ import annotations

import pytest

from federation.inbox import Refused, _check_origin
from federation.remote import same_host

ACTOR = "https://a.example/users/ada"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("https://a.example/x", "https://a.example/users/ada", True),
        ("https://A.Example/x", "https://a.example/y", True),  # host names are case-blind
        ("https://a.example:443/x", "https://a.example/y", True),  # the default port
        ("https://a.example/x", "https://b.example/x", False),
        ("https://a.example:8443/x", "https://a.example/x", False),  # ports are peers
        ("https://a.example.evil/x", "https://a.example/x", False),
        ("not a url", "https://a.example/x", False),  # unusable is never the same
        ("https://a.example/x", "not a url", False),
        ("", "", False),
    ],
)
def test_same_host(a: str, b: str, expected: bool) -> None:
    assert same_host(a, b) is expected


def activity(kind: str, obj: object, activity_id: str = "https://a.example/acts/1") -> dict:
    return {"id": activity_id, "type": kind, "actor": ACTOR, "object": obj}


@pytest.mark.parametrize(
    "act",
    [
        activity("Create", "https://a.example/notes/1"),
        activity("Update", {"id": "https://a.example/notes/1", "type": "Note"}),
        activity("Delete", "https://a.example/notes/1"),
        activity("Announce", "https://b.example/notes/9"),  # sharing others' posts is fine
        activity("Like", "https://b.example/notes/9"),
        activity("Follow", "https://b.example/users/ben"),
    ],
)
def test_an_actor_speaks_for_its_own_host(act: dict) -> None:
    _check_origin(act)  # raises nothing


@pytest.mark.parametrize(
    ("act", "what"),
    [
        (activity("Like", "https://b.example/n", "https://b.example/acts/1"), "activity id"),
        (activity("Create", "https://b.example/notes/1"), "object"),
        (activity("Update", {"id": "https://b.example/notes/1"}), "object"),
        (activity("Delete", "https://b.example/notes/1"), "object"),
        (activity("Create", None), "object"),
        (activity("Create", {"type": "Note"}), "object"),  # an object with no id
    ],
)
def test_an_actor_cannot_speak_for_another_host(act: dict, what: str) -> None:
    with pytest.raises(Refused) as refused:
        _check_origin(act)
    assert (refused.value.status, refused.value.code) == (403, "foreign_origin")
    assert f"The {what} is not on the actor's host." == str(refused.value)

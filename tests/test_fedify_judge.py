"""Fedify (https://fedify.dev), the TypeScript ActivityPub framework, as an
independent judge: tests/fedify/judge.mjs, run by Node >= 22 from node_modules (the
npm package ``node``; see package.json), against one real Commonground server.

It looks up our Person, Group (by URL and by ``acct:``) and a post and walks each
collection they name; its own federation on a 127.0.0.1 port follows our member and
our Group and must receive, verified, our Accepts, the member's new thread and the
Group's Announces; and its RFC 9421 and draft-cavage signatures must be accepted by
our inbox (a body changed after signing must not). The server runs behind an https
front (tests/tls_front.py), since Fedify resolves ``acct:`` over https only.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node import node_with
from tests.peers import Instance, eventually
from tests.server_process import HOST, free_port
from tests.tls_front import TlsFront

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "fedify" / "judge.mjs"


@pytest.fixture(scope="module")
def judged() -> Iterator[tuple[Instance, dict[str, Any], dict[str, Any], str]]:
    """One server behind an https front (Fedify resolves ``acct:`` over https only),
    with a member, a community, a post with a reply; the judge's report."""
    node = node_with("@fedify/fedify")
    port = free_port()
    with TlsFront(port) as front:
        env = {"CG_DOMAIN": f"{HOST}:{front.port}", "CG_SCHEME": "https"}
        with Instance(port=port, env=env) as ours:
            ours.register("alice")
            ours.register("bob")
            r = ours.api("POST", "/communities", "alice", json={"name": "meadow"})
            assert r.status_code == 201, r.text
            r = ours.api(
                "POST", "/posts", "alice", json={"text": "A thread", "community": "meadow"}
            )
            assert r.status_code == 201, r.text
            post = r.json()
            assert ours.api("POST", "/communities/meadow/join", "bob").status_code == 200
            reply = {"text": "A reply", "in_reply_to": post["id"]}
            assert ours.api("POST", "/posts", "bob", json=reply).status_code == 201
            r = ours.api("POST", "/follows", "bob", json={"target": "alice"})
            assert r.status_code == 201, r.text
            post_url = f"{front.url}/posts/{post['id']}"
            result = subprocess.run(
                [node, str(SCRIPT), front.url, "alice", "meadow", post_url, ours.tokens["alice"]],
                capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
                env={**os.environ, "NODE_EXTRA_CA_CERTS": str(front.ca_file)},
            )  # fmt: skip
            assert result.returncode == 0, (
                f"{result.stdout}\n{result.stderr}\n{ours.output()[-4000:]}"
            )
            report = json.loads(result.stdout.strip().splitlines()[-1])
            yield ours, report, post, front.url


def test_fedify_reads_our_actors_and_their_collections(judged) -> None:
    ours, report, _, base = judged
    for name, kind, path in [("member", "Person", "users/alice"), ("group", "Group", "c/meadow")]:
        actor = report["lookups"][name]
        uri = f"{base}/{path}"
        assert actor["acct"] == uri  # acct:name@host by WebFinger, over https
        assert (actor["type"], actor["id"], actor["inbox"]) == (kind, uri, f"{uri}/inbox")
        assert actor["sharedInbox"] == f"{base}/inbox"
        assert (actor["keyOwner"], actor["keyId"]) == (uri, f"{uri}#main-key")
        collections = actor["collections"]
        assert set(collections) == {"outbox", "followers", "following"}  # no featured, liked
        for which, collection in collections.items():
            assert collection["type"] == "OrderedCollection"
            assert collection["id"] == f"{uri}/{which}"
            assert collection["totalItems"] == len(collection["items"])
    member, group = report["lookups"]["member"], report["lookups"]["group"]
    assert member["collections"]["outbox"]["items"] == [f"{base}/posts/1/activity"]
    assert member["collections"]["followers"]["items"] == [f"{base}/users/bob"]
    assert group["collections"]["outbox"]["items"] == [
        f"{base}/posts/2/announce",
        f"{base}/posts/1/announce",
    ]


def test_fedify_reads_a_post_and_its_replies(judged) -> None:
    ours, report, post, base = judged
    note = report["lookups"]["post"]
    assert (note["type"], note["id"]) == ("Note", f"{base}/posts/{post['id']}")
    assert note["attributedTo"] == f"{base}/users/alice"
    assert "A thread" in note["content"]
    assert note["replies"]["type"] == "OrderedCollection"
    assert note["replies"]["items"] == [f"{base}/posts/2"]


def test_fedify_follows_and_receives_our_signed_activities(judged) -> None:
    """Fedify runs an inbox listener only for an activity whose signature it verified."""
    ours, report, _, base = judged
    received, origin = report["received"], report["origin"]
    accepts = [(a["actor"], a["object"]) for a in received if a["type"] == "Accept"]
    assert accepts == [
        (f"{base}/users/alice", f"{origin}/follows/1"),
        (f"{base}/c/meadow", f"{origin}/follows/2"),
    ]
    (create,) = [a for a in received if a["type"] == "Create"]
    assert create["actor"] == f"{base}/users/alice"
    assert "Hello from Commonground to Fedify" in create["content"]
    announced = {(a["actor"], a["object"]) for a in received if a["type"] == "Announce"}
    # the Group announces the post, and its Create (docs/federation.md)
    thread = create["object"]
    assert announced == {(f"{base}/c/meadow", thread), (f"{base}/c/meadow", f"{thread}/activity")}
    followers = ours.sql(
        "SELECT a.uri FROM follows f JOIN accounts a ON a.id = f.follower_id "
        "JOIN accounts t ON t.id = f.target_account_id WHERE t.username = 'alice'"
    )
    assert (report["judge"],) in followers
    members = ours.sql(
        "SELECT a.uri FROM memberships m JOIN accounts a ON a.id = m.account_id "
        "JOIN communities c ON c.id = m.community_id WHERE c.name = 'meadow'"
    )
    assert (report["judge"],) in members  # following an open Group is joining it


def test_our_inbox_accepts_both_of_fedifys_signatures(judged) -> None:
    ours, report, _, base = judged
    signed = report["signed"]
    assert signed["rfc9421"]["signature"] == "rfc9421" and signed["rfc9421"]["status"] == 202
    cavage = signed["draft-cavage-http-signatures-12"]
    assert cavage["signature"] == "draft-cavage" and cavage["status"] == 202
    assert signed["tampered"]["status"] == 401
    assert json.loads(signed["tampered"]["body"])["error"] == "invalid_signature"
    eventually(ours.queue_idle, what="the likes to be processed")
    likes = ours.sql(
        "SELECT activity_id, state FROM inbox_items WHERE activity_id LIKE :like",
        like=f"{report['origin']}/likes/%",
    )
    assert sorted(likes) == [
        (f"{report['origin']}/likes/draft-cavage-http-signatures-12", "done"),
        (f"{report['origin']}/likes/rfc9421", "done"),
    ]

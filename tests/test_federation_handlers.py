"""The inbox pipeline's handlers, one activity at a time, on both databases.

Signatures and origins are checked at the edge (tests/test_inbox_hostile.py);
here actors are already known and each handler's rules are exercised directly.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import Community, DeletedObject, Follow, Post, Reaction
from app.services import Ctx, accounts, communities, follows, posts
from federation import handlers, remote
from federation.httpsig import generate_keypair
from federation.vocab import AS_PUBLIC
from tests.conftest import PASSWORD

PEER = "https://peer.example"
_, PUBLIC_PEM = generate_keypair()


def actor_doc(handle: str, kind: str = "Person", **extra: object) -> dict:
    uri = f"{PEER}/users/{handle}" if kind != "Group" else f"{PEER}/c/{handle}"
    return {
        "id": uri,
        "type": kind,
        "preferredUsername": handle,
        "name": handle.title(),
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "endpoints": {"sharedInbox": f"{PEER}/inbox"},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PUBLIC_PEM},
        **extra,
    }


def apply(ctx: Ctx, activity: dict, budget: handlers.Budget | None = None) -> None:
    handlers.process(ctx, activity, budget or handlers.Budget())


def note(n: int, **extra: object) -> dict:
    return {
        "id": f"{PEER}/notes/{n}",
        "type": "Note",
        "attributedTo": f"{PEER}/users/rita",
        "content": f"<p>note {n}</p>",
        "to": [AS_PUBLIC],
        **extra,
    }


def create(n: int, **extra: object) -> dict:
    return {
        "id": f"{PEER}/activities/create-{n}",
        "type": "Create",
        "actor": f"{PEER}/users/rita",
        "object": note(n, **extra),
    }


@pytest.fixture
def rita(ctx: Ctx):
    return remote.store_actor(ctx, actor_doc("rita"))


def test_remote_people_and_groups_become_accounts_and_communities(ctx: Ctx) -> None:
    person = remote.store_actor(ctx, actor_doc("rita", summary="<script>x</script><p>hi</p>"))
    group = remote.store_actor(ctx, actor_doc("garden", "Group", manuallyApprovesFollowers=True))
    assert (person.username, person.domain, person.bio) == ("rita", "peer.example", "<p>hi</p>")
    assert isinstance(group, Community) and group.join_policy == "approval"
    assert remote.inbox_of(ctx, person.uri) == f"{PEER}/inbox"
    assert remote.stored_key(ctx, f"{person.uri}#main-key").owner_uri == person.uri


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"inbox": "https://elsewhere.example/inbox"}, "inbox"),
        ({"endpoints": {"sharedInbox": "https://elsewhere.example/inbox"}}, "sharedInbox"),
        ({"type": "Note"}, "actor type"),
        ({"id": f"{PEER}/users/rita#me"}, "fragment"),
    ],
)
def test_actor_documents_pointing_elsewhere_are_refused(
    ctx: Ctx, change: dict, reason: str
) -> None:
    doc = {**actor_doc("rita"), **change}
    with pytest.raises(remote.InvalidActor, match=reason):
        remote.store_actor(ctx, doc)


def test_a_key_owned_by_someone_else_is_refused(ctx: Ctx) -> None:
    doc = actor_doc("rita")
    doc["publicKey"] = {**doc["publicKey"], "owner": f"{PEER}/users/other"}
    with pytest.raises(remote.InvalidActor, match="owner"):
        remote.store_actor(ctx, doc)


def test_stances_arrive_as_stances_and_undo_takes_them_back(ctx: Ctx, rita) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    post = posts.create(ctx, alice, "Should the park stay open at night?")

    def react(n: int, kind: str, **extra: object) -> dict:
        activity = {
            "id": f"{PEER}/r/{n}",
            "type": kind,
            "actor": rita.uri,
            "object": post.uri,
            **extra,
        }
        apply(ctx, activity)
        return activity

    def kinds() -> list[str]:
        rows = ctx.db.exec(select(Reaction.kind).where(Reaction.post_id == post.id)).all()
        return sorted(rows)

    react(1, "Like")
    assert kinds() == ["like"]
    react(2, "Like", stance="agree")
    assert kinds() == ["agree", "like"]
    react(3, "Dislike", stance="disagree")
    assert kinds() == ["disagree", "like"]  # one current stance
    ignored = react(4, "Ignore", stance="pass")
    assert kinds() == ["like", "pass"]
    apply(ctx, {"id": f"{PEER}/u/1", "type": "Undo", "actor": rita.uri, "object": ignored})
    assert kinds() == ["like"]


def test_a_delete_before_its_create_keeps_the_post_away(ctx: Ctx, rita) -> None:
    apply(
        ctx,
        {"id": f"{PEER}/d/1", "type": "Delete", "actor": rita.uri, "object": f"{PEER}/notes/1"},
    )
    assert ctx.db.exec(select(DeletedObject.uri)).all() == [f"{PEER}/notes/1"]
    with pytest.raises(handlers.Ignored, match="already deleted"):
        apply(ctx, create(1))
    assert ctx.db.exec(select(Post)).all() == []


def test_a_reply_to_an_unknown_post_asks_for_it_then_does_without(ctx: Ctx, rita) -> None:
    parent = f"{PEER}/notes/0"
    budget = handlers.Budget()
    with pytest.raises(handlers.NeedsFetch) as need:
        apply(ctx, create(2, inReplyTo=parent), budget)
    assert (need.value.url, need.value.kind) == (parent, "object")
    budget.failed.add(parent)  # the fetch failed: store the reply on its own
    apply(ctx, create(2, inReplyTo=parent), budget)
    stored = posts.find_by_uri(ctx, f"{PEER}/notes/2")
    assert stored is not None and stored.in_reply_to_id is None


def test_reply_chains_are_fetched_to_a_bounded_depth() -> None:
    budget = handlers.Budget(fetches=100)
    for _ in range(handlers.MAX_REPLY_DEPTH):
        with pytest.raises(handlers.NeedsFetch) as need:
            budget.need("https://peer.example/notes/x", "object")
        budget.spend(need.value)
    budget.need("https://peer.example/notes/x", "object")  # depth used up: no more fetches
    assert budget.depth == 0


def test_only_public_posts_are_stored(ctx: Ctx, rita) -> None:
    with pytest.raises(handlers.Ignored, match="public"):
        apply(ctx, create(3, to=[f"{PEER}/users/rita/followers"]))


def test_posts_to_a_local_community_need_membership(ctx: Ctx, rita) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    garden = communities.create(ctx, alice, "garden")
    with pytest.raises(handlers.Ignored, match="not a member"):
        apply(ctx, create(4, audience=garden.uri))
    follows.follow(ctx, rita, garden)  # a remote actor joins by following the Group
    apply(ctx, create(4, audience=garden.uri))
    assert posts.find_by_uri(ctx, f"{PEER}/notes/4").community_id == garden.id


def test_announces_are_taken_only_from_followed_actors(ctx: Ctx, rita) -> None:
    announce = {
        "id": f"{PEER}/a/1",
        "type": "Announce",
        "actor": rita.uri,
        "object": f"{PEER}/notes/9",
    }
    with pytest.raises(handlers.Ignored, match="follows"):
        apply(ctx, announce)
    alice = accounts.register(ctx, "alice", PASSWORD)
    follow = follows.follow(ctx, alice, rita)
    follows.accepted(ctx, follow)
    with pytest.raises(handlers.NeedsFetch):
        apply(ctx, announce)  # now it fetches the object from its origin


def test_only_the_author_edits_or_deletes(ctx: Ctx, rita) -> None:
    remote.store_actor(ctx, actor_doc("mallory"))
    apply(ctx, create(5))
    forged = {**note(5, content="<p>forged</p>"), "attributedTo": f"{PEER}/users/rita"}
    update = {"id": f"{PEER}/u/5", "type": "Update", "actor": f"{PEER}/users/mallory"}
    with pytest.raises(handlers.Ignored):
        apply(ctx, {**update, "object": forged})
    delete = {"id": f"{PEER}/d/5", "type": "Delete", "actor": f"{PEER}/users/mallory"}
    with pytest.raises(handlers.Ignored):
        apply(ctx, {**delete, "object": f"{PEER}/notes/5"})
    assert "note 5" in posts.find_by_uri(ctx, f"{PEER}/notes/5").html


def test_an_actor_updates_and_deletes_itself(ctx: Ctx, rita) -> None:
    renamed = actor_doc("rita", name="Rita R.")
    apply(ctx, {"id": f"{PEER}/u/r", "type": "Update", "actor": rita.uri, "object": renamed})
    assert remote.known(ctx, rita.uri).display_name == "Rita R."
    apply(ctx, {"id": f"{PEER}/d/r", "type": "Delete", "actor": rita.uri, "object": rita.uri})
    assert remote.known(ctx, rita.uri).is_active is False
    with pytest.raises(handlers.Ignored, match="deleted"):
        apply(ctx, create(6))


def test_a_rejected_follow_is_forgotten(ctx: Ctx, rita) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    follow = follows.follow(ctx, alice, rita)
    assert follow.state == "pending" and follow.activity_uri
    reject = {
        "id": f"{PEER}/rej/1",
        "type": "Reject",
        "actor": rita.uri,
        "object": {"id": follow.activity_uri, "type": "Follow"},
    }
    apply(ctx, reject)
    assert ctx.db.exec(select(Follow)).all() == []


def test_unsupported_activities_are_ignored_with_a_reason(ctx: Ctx, rita) -> None:
    with pytest.raises(handlers.Ignored, match="not supported"):
        apply(ctx, {"id": f"{PEER}/x/1", "type": "Travel", "actor": rita.uri})


def test_a_forged_remote_revision_from_another_host_is_refused(ctx: Ctx, rita) -> None:
    from app.models import ArtifactRevision
    from app.services import artifacts

    alice = accounts.register(ctx, "alice", PASSWORD)
    garden = communities.create(ctx, alice, "garden")
    follows.follow(ctx, rita, garden)  # rita is a member, but writes from her own host only
    art = artifacts.create(ctx, alice, garden, "idea", "Trees", "Plant oaks.\n")
    revision = {
        "type": "Revision",
        "attributedTo": rita.uri,
        "target": art.uri,
        "baseRevision": f"{art.uri}/revisions/{art.current_revision_id}",
        "source": {"content": "Cut them all down.\n"},
    }
    forged = {**revision, "id": "https://elsewhere.example/revision-proposals/1"}
    with pytest.raises(handlers.Ignored, match="author's host"):
        apply(ctx, {"id": f"{PEER}/c/1", "type": "Create", "actor": rita.uri, "object": forged})
    assert ctx.db.exec(select(ArtifactRevision)).all()[-1].body == "Plant oaks.\n"
    genuine = {**revision, "id": f"{PEER}/revision-proposals/1"}
    apply(ctx, {"id": f"{PEER}/c/2", "type": "Create", "actor": rita.uri, "object": genuine})
    assert art.body == "Cut them all down.\n" and art.revision_count == 2


def test_several_types_are_read_as_the_one_we_know(ctx: Ctx, rita) -> None:
    """AS2 lets ``type`` be a list (the fediverse-pasture sends ``["Note", "Article"]``):
    the most specific type we handle is used (docs/federation.md); a list of types we
    don't know is ignored."""
    apply(ctx, create(1, type=["Note", "Article"]))
    stored = posts.find_by_uri(ctx, f"{PEER}/notes/1")
    assert stored is not None and stored.object_type == "Article"
    apply(ctx, {**create(2, type=["Event", "Article"]), "type": ["Create", "Activity"]})
    assert posts.find_by_uri(ctx, f"{PEER}/notes/2").object_type == "Article"
    with pytest.raises(handlers.Ignored, match="not stored"):
        apply(ctx, create(3, type=["Event", 7]))
    with pytest.raises(handlers.Ignored, match="not supported"):
        apply(ctx, {**create(4), "type": [["Create"]]})


def test_a_title_is_kept_as_plain_text(ctx: Ctx, rita) -> None:
    """``name`` is plain text (AS2), as our warnings are: markup in it is dropped, so
    no consumer of the title (API, pages, our own Page) ever meets a remote tag."""
    name = "<script>alert(1)</script><b onclick='x'>Why 3 < 5</b> &amp; more"
    apply(ctx, create(1, type="Page", name=name))
    assert posts.find_by_uri(ctx, f"{PEER}/notes/1").title == "Why 3 < 5 & more"

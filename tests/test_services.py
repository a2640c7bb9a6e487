"""The domain service layer, which pages, API, CLI and federation all call."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotAuthenticated,
    NotFound,
    RateLimited,
)
from app.models import Account, Post, PostMention, PostTag, Reaction
from app.services import Ctx, accounts, communities, follows, posts, reactions
from app.services.ranking import feeds
from tests.conftest import PASSWORD


def member(ctx: Ctx, name: str) -> Account:
    return accounts.register(ctx, name, PASSWORD, name.title())


# --- accounts --------------------------------------------------------------


def test_register_and_authenticate(ctx: Ctx) -> None:
    alice = member(ctx, "Alice")
    assert alice.username_key == "alice" and alice.uri.endswith("/users/Alice")
    assert alice.password_hash.startswith("$argon2id$")
    assert accounts.authenticate(ctx, "ALICE", PASSWORD, "1.2.3.4").id == alice.id


def test_usernames_are_unique_ignoring_case(ctx: Ctx) -> None:
    member(ctx, "alice")
    with pytest.raises(Conflict):
        member(ctx, "ALICE")


def test_members_and_communities_share_one_namespace(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    communities.create(ctx, alice, "garden")
    with pytest.raises(Conflict):
        member(ctx, "Garden")
    with pytest.raises(Conflict):
        communities.create(ctx, alice, "alice")


@pytest.mark.parametrize("name", ["", "a b", "x" * 31, "émile", "al/ice", "a\x00b"])
def test_bad_usernames(ctx: Ctx, name: str) -> None:
    with pytest.raises(Invalid):
        accounts.register(ctx, name, PASSWORD)


def test_short_password_is_refused(ctx: Ctx) -> None:
    with pytest.raises(Invalid, match="8"):
        accounts.register(ctx, "bob", "short")


def test_wrong_password(ctx: Ctx) -> None:
    member(ctx, "alice")
    with pytest.raises(NotAuthenticated):
        accounts.authenticate(ctx, "alice", "wrong password", "1.2.3.4")
    with pytest.raises(NotAuthenticated):
        accounts.authenticate(ctx, "nobody", PASSWORD, "1.2.3.4")


def test_failed_logins_are_rate_limited_and_the_count_survives_rollback(new_ctx) -> None:
    with new_ctx() as ctx:
        member(ctx, "alice")
        limit = ctx.settings.login_max_failures
    for _ in range(limit):
        with pytest.raises(NotAuthenticated), new_ctx() as ctx:  # each failure rolls back
            accounts.authenticate(ctx, "alice", "wrong password", "9.9.9.9")
    with pytest.raises(RateLimited), new_ctx() as ctx:
        accounts.authenticate(ctx, "alice", PASSWORD, "9.9.9.9")
    with new_ctx() as ctx:  # another client is not locked out
        assert accounts.authenticate(ctx, "alice", PASSWORD, "8.8.8.8").username == "alice"


def test_profile_update_validates_avatar_url(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    accounts.update_profile(
        ctx, alice, display_name=" Alice A. ", bio="hi", avatar_url="https://img.example/a.png"
    )
    assert (alice.display_name, alice.avatar_url) == ("Alice A.", "https://img.example/a.png")
    with pytest.raises(Invalid):
        accounts.update_profile(ctx, alice, avatar_url="javascript:alert(1)")


def test_change_password(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    with pytest.raises(Invalid):
        accounts.change_password(ctx, alice, "not it", "new password 1")
    accounts.change_password(ctx, alice, PASSWORD, "new password 1")
    assert accounts.authenticate(ctx, "alice", "new password 1", "x").id == alice.id


# --- communities -----------------------------------------------------------


def test_creator_becomes_admin(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    c = communities.create(ctx, alice, "River-Commons", charter="# Vision\n\nClean water")
    assert c.name == "river-commons"
    assert "<h1>Vision</h1>" in c.charter_html
    assert communities.membership(ctx, alice, c).role == "admin"


def test_open_and_approval_join(ctx: Ctx) -> None:
    alice, bob, carol = member(ctx, "alice"), member(ctx, "bob"), member(ctx, "carol")
    open_c = communities.create(ctx, alice, "open-one")
    closed = communities.create(ctx, alice, "closed-one", join_policy="approval")
    assert communities.join(ctx, bob, open_c).state == "active"
    assert communities.join(ctx, bob, closed).state == "pending"
    assert communities.join(ctx, bob, closed).state == "pending"  # idempotent
    with pytest.raises(Forbidden):
        communities.approve(ctx, carol, closed, "bob")
    assert communities.approve(ctx, alice, closed, "bob").state == "active"


def test_roles_and_removal(ctx: Ctx) -> None:
    alice, bob, carol = member(ctx, "alice"), member(ctx, "bob"), member(ctx, "carol")
    c = communities.create(ctx, alice, "garden")
    communities.join(ctx, bob, c)
    communities.join(ctx, carol, c)
    communities.set_role(ctx, alice, c, "bob", "moderator")
    with pytest.raises(Forbidden):  # moderators can't hand out roles
        communities.set_role(ctx, bob, c, "carol", "moderator")
    with pytest.raises(Forbidden):  # ...nor remove admins
        communities.remove(ctx, bob, c, "alice")
    communities.remove(ctx, bob, c, "carol")
    assert communities.membership(ctx, carol, c) is None


def test_last_admin_cannot_leave_while_others_remain(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    c = communities.create(ctx, alice, "garden")
    communities.join(ctx, bob, c)
    with pytest.raises(Conflict):
        communities.leave(ctx, alice, c)
    with pytest.raises(Conflict):
        communities.set_role(ctx, alice, c, "alice", "member")
    communities.set_role(ctx, alice, c, "bob", "admin")
    communities.leave(ctx, alice, c)
    assert communities.membership(ctx, alice, c) is None


def test_community_update_needs_admin(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    c = communities.create(ctx, alice, "garden")
    communities.join(ctx, bob, c)
    with pytest.raises(Forbidden):
        communities.update(ctx, bob, c, title="Mine now")
    communities.update(ctx, alice, c, title="Gardeners", join_policy="approval", charter="*We*")
    assert (c.title, c.join_policy, c.charter_html.strip()) == (
        "Gardeners",
        "approval",
        "<p><em>We</em></p>",
    )


# --- posts -----------------------------------------------------------------


def test_post_with_tags_and_mentions(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    p = posts.create(ctx, alice, "Hello @bob, see #Rivers and #rivers")
    assert p.uri == f"{ctx.base_url}/posts/{p.id}"
    assert ctx.db.exec(select(PostTag.tag).where(PostTag.post_id == p.id)).all() == ["rivers"]
    assert ctx.db.exec(select(PostMention.account_id).where(PostMention.post_id == p.id)).all() == [
        bob.id
    ]
    assert f'href="{ctx.base_url}/@bob"' in p.html


def test_posting_in_a_community_needs_membership(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    c = communities.create(ctx, alice, "garden", join_policy="approval")
    with pytest.raises(Forbidden):
        posts.create(ctx, bob, "hi", community="garden")
    communities.join(ctx, bob, c)  # pending is not enough
    with pytest.raises(Forbidden):
        posts.create(ctx, bob, "hi", community="garden")
    communities.approve(ctx, alice, c, "bob")
    assert posts.create(ctx, bob, "hi", community="garden").community_id == c.id
    with pytest.raises(NotFound):
        posts.create(ctx, bob, "hi", community="nowhere")


def test_replies_form_threads(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    communities.create(ctx, alice, "garden")
    root = posts.create(ctx, alice, "root", community="garden", title="A thread")
    communities.join(ctx, bob, communities.get(ctx, "garden"))
    r1 = posts.create(ctx, bob, "first", in_reply_to=root.id)
    r2 = posts.create(ctx, alice, "nested", in_reply_to=r1.id)
    assert (r1.root_id, r2.root_id, r2.in_reply_to_id) == (root.id, root.id, r1.id)
    assert r1.community_id == root.community_id and r1.title is None
    ctx.db.refresh(root)
    ctx.db.refresh(r1)
    assert (root.reply_count, r1.reply_count) == (1, 1)
    got_root, replies = posts.thread(ctx, r2)
    assert got_root.id == root.id and [p.id for p in replies] == [r1.id, r2.id]


def test_reply_cannot_move_to_another_community(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    communities.create(ctx, alice, "one")
    communities.create(ctx, alice, "two")
    root = posts.create(ctx, alice, "root", community="one")
    with pytest.raises(Invalid):
        posts.create(ctx, alice, "reply", community="two", in_reply_to=root.id)


@pytest.mark.parametrize("text", ["", "   \n ", None])
def test_empty_posts_are_refused(ctx: Ctx, text: str | None) -> None:
    alice = member(ctx, "alice")
    with pytest.raises(Invalid):
        posts.create(ctx, alice, text)  # type: ignore[arg-type]


def test_oversized_posts_are_refused(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    with pytest.raises(Invalid, match="at most"):
        posts.create(ctx, alice, "x" * (ctx.settings.max_post_chars + 1))


def test_edit_keeps_history_and_updates_tags(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    p = posts.create(ctx, alice, "first #one")
    with pytest.raises(Forbidden):
        posts.edit(ctx, bob, p.id, "hijack")
    posts.edit(ctx, alice, p.id, "second #two")
    posts.edit(ctx, alice, p.id, "third #two")
    assert p.updated_at is not None and p.text == "third #two"
    assert [r.text for r in posts.history(ctx, p)] == ["second #two", "first #one"]
    assert ctx.db.exec(select(PostTag.tag).where(PostTag.post_id == p.id)).all() == ["two"]


def test_delete_leaves_a_tombstone_and_replies_keep_their_place(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    root = posts.create(ctx, alice, "secret #tag")
    reply = posts.create(ctx, bob, "reply", in_reply_to=root.id)
    reactions.react(ctx, bob, root.id, "like")
    posts.edit(ctx, alice, root.id, "secret v2")
    with pytest.raises(Forbidden):
        posts.delete_post(ctx, bob, root.id)
    posts.delete_post(ctx, alice, root.id)
    ctx.db.refresh(root)
    assert root.is_deleted and root.text == "" and root.html == ""
    assert posts.history(ctx, root) == []
    assert ctx.db.exec(select(func.count()).select_from(Reaction)).one() == 0
    _, replies = posts.thread(ctx, root)
    assert [r.id for r in replies] == [reply.id]
    with pytest.raises(Gone):
        posts.create(ctx, bob, "too late", in_reply_to=root.id)


def test_moderators_can_delete_in_their_community(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    c = communities.create(ctx, alice, "garden")
    communities.join(ctx, bob, c)
    p = posts.create(ctx, bob, "spam", community="garden")
    assert posts.delete_post(ctx, alice, p.id).is_deleted


# --- reactions -------------------------------------------------------------


def test_one_like_and_one_current_stance_per_member(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    p = posts.create(ctx, alice, "proposal")
    reactions.react(ctx, bob, p.id, "like")
    reactions.react(ctx, bob, p.id, "like")
    reactions.react(ctx, bob, p.id, "agree")
    reactions.react(ctx, bob, p.id, "disagree")
    reactions.react(ctx, alice, p.id, "pass")
    assert reactions.counts(ctx, [p.id])[p.id] == {"like": 1, "agree": 0, "disagree": 1, "pass": 1}
    assert reactions.mine(ctx, bob, [p.id])[p.id] == {"like", "disagree"}
    reactions.unreact(ctx, bob, p.id, "disagree")
    assert reactions.mine(ctx, bob, [p.id])[p.id] == {"like"}
    with pytest.raises(Invalid):
        reactions.react(ctx, bob, p.id, "love")


# --- follows and feeds -----------------------------------------------------


def test_follow_resolution(ctx: Ctx) -> None:
    alice, bob = member(ctx, "alice"), member(ctx, "bob")
    c = communities.create(ctx, bob, "garden")
    assert follows.resolve_target(ctx, "bob").id == bob.id
    assert follows.resolve_target(ctx, f"@bob@{ctx.settings.domain}").id == bob.id
    assert follows.resolve_target(ctx, c.uri).id == c.id
    assert follows.resolve_target(ctx, "garden").id == c.id
    with pytest.raises(NotFound):
        follows.resolve_target(ctx, "ghost")
    with pytest.raises(Invalid):
        follows.follow(ctx, alice, alice)
    f1 = follows.follow(ctx, alice, bob)
    assert follows.follow(ctx, alice, bob).id == f1.id
    follows.unfollow(ctx, alice, bob)
    with pytest.raises(NotFound):
        follows.unfollow(ctx, alice, bob)


def test_home_feed_has_exactly_the_members_sources(ctx: Ctx) -> None:
    alice, bob, carol, dave = (member(ctx, n) for n in ("alice", "bob", "carol", "dave"))
    joined = communities.create(ctx, bob, "joined")
    followed = communities.create(ctx, carol, "followed")
    communities.create(ctx, dave, "elsewhere")
    communities.join(ctx, alice, joined)
    follows.follow(ctx, alice, followed)
    follows.follow(ctx, alice, dave)
    expected = {
        posts.create(ctx, alice, "mine").id,
        posts.create(ctx, bob, "in joined", community="joined").id,
        posts.create(ctx, carol, "in followed", community="followed").id,
        posts.create(ctx, dave, "by followed person").id,
        posts.create(ctx, dave, "followed person, other community", community="elsewhere").id,
    }
    posts.create(ctx, carol, "carol's profile post")  # carol herself is not followed
    posts.create(ctx, bob, "bob's profile post")
    gone = posts.create(ctx, bob, "deleted", community="joined")
    posts.delete_post(ctx, bob, gone.id)
    page = feeds.home(ctx, alice, limit=50)
    assert {i.post.id for i in page.items} == expected
    assert page.next_cursor is None and page.algorithm == "Chronological"


def test_feed_pagination_is_complete_and_ordered(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    c = communities.create(ctx, alice, "garden")
    made = [posts.create(ctx, alice, f"post {i}", community=c.name).id for i in range(23)]
    seen, cursor = [], None
    while True:
        page = feeds.home(ctx, alice, cursor=cursor, limit=5)
        seen += [i.post.id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert all(i.factors for i in feeds.home(ctx, alice, limit=5).items)


def test_same_timestamp_posts_are_not_skipped(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    made = [posts.create(ctx, alice, f"p{i}") for i in range(6)]
    for p in made:
        p.created_at = made[0].created_at
        ctx.db.add(p)
    ctx.db.flush()
    ids, cursor = [], None
    for _ in range(4):
        page = feeds.home(ctx, alice, cursor=cursor, limit=4)
        ids += [i.post.id for i in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(ids) == sorted(p.id for p in made) and len(ids) == 6


@pytest.mark.parametrize("cursor", ["garbage", "e30", "eyJ0IjogIngiLCAiaSI6IDF9", "!!!"])
def test_invalid_cursor(ctx: Ctx, cursor: str) -> None:
    alice = member(ctx, "alice")
    with pytest.raises(DomainError) as err:
        feeds.home(ctx, alice, cursor=cursor)
    assert err.value.code == "invalid_cursor" and err.value.status == 400


def test_community_feed_lists_threads_only(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    c = communities.create(ctx, alice, "garden")
    root = posts.create(ctx, alice, "thread", community="garden")
    posts.create(ctx, alice, "reply", in_reply_to=root.id)
    assert [i.post.id for i in feeds.community(ctx, c, None).items] == [root.id]


def test_tag_feed(ctx: Ctx) -> None:
    alice = member(ctx, "alice")
    tagged = posts.create(ctx, alice, "about #Water")
    posts.create(ctx, alice, "about nothing")
    assert [i.post.id for i in feeds.tag(ctx, "water", None).items] == [tagged.id]


# --- transactions ----------------------------------------------------------


def test_a_failed_write_leaves_no_partial_rows(new_ctx) -> None:
    with new_ctx() as ctx:
        alice = member(ctx, "alice")
        communities.create(ctx, alice, "garden")
    with pytest.raises(Invalid), new_ctx() as ctx:
        alice = accounts.get_local(ctx, "alice")
        posts.create(ctx, alice, "half #written", community="garden")  # rows are flushed...
        communities.create(ctx, alice, "bad name!")  # ...then the action fails
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(Post)).one() == 0
        assert ctx.db.exec(select(func.count()).select_from(PostTag)).one() == 0

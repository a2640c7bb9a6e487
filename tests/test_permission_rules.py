"""Who may moderate, edit and delete: the permission functions of
app/services/communities.py and app/services/posts.py, rule by rule, with the
refusal each caller gets (its code, which clients act on, and its sentence).
Written to kill the mutants tests/test_services.py left (docs/quality.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlmodel import col, select

from app.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound
from app.infra import events
from app.models import Account, PostMention, PostRevision
from app.services import Ctx, accounts, blocks, communities, posts
from tests.conftest import PASSWORD

LAST_ADMIN = "A community needs at least one admin."


@contextmanager
def refused(kind: type[DomainError], code: str, detail: str) -> Iterator[None]:
    """The call raises ``kind`` with exactly this code and sentence."""
    with pytest.raises(kind) as caught:
        yield
    assert (caught.value.code, caught.value.detail) == (code, detail)


def _member(ctx: Ctx, name: str) -> Account:
    return accounts.register(ctx, name, PASSWORD)


def _remote(ctx: Ctx, name: str, *, is_admin: bool = False) -> Account:
    """An account of another instance (its admin flag means nothing here)."""
    account = Account(
        username=name,
        username_key=name,
        domain="b.example",
        uri=f"https://b.example/users/{name}",
        is_admin=is_admin,
    )
    ctx.db.add(account)
    ctx.db.flush()
    return account


@pytest.fixture
def town(ctx: Ctx) -> dict[str, Any]:
    """ada admins "garden" (approval needed); ben moderates, cara is a member, dan
    asked to join, eve is no member, root is an instance admin, rex is a remote
    account flagged admin on its own instance."""
    people = {n: _member(ctx, n) for n in ("ada", "ben", "cara", "dan", "eve")}
    garden = communities.create(ctx, people["ada"], "garden", join_policy="approval")
    for name in ("ben", "cara"):
        communities.join(ctx, people[name], garden)
        communities.approve(ctx, people["ada"], garden, name)
    communities.set_role(ctx, people["ada"], garden, "ben", "moderator")
    communities.join(ctx, people["dan"], garden)
    root = _member(ctx, "root")
    root.is_admin = True
    people["root"] = root
    people["rex"] = _remote(ctx, "rex", is_admin=True)
    return {**people, "garden": garden}


# --- can_moderate, require_role -------------------------------------------------


@pytest.mark.parametrize(
    ("who", "moderator", "admin"),
    [
        ("ada", True, True),
        ("ben", True, False),
        ("cara", False, False),
        ("dan", False, False),  # pending: no role counts until approved
        ("eve", False, False),
        ("root", True, True),  # instance admins moderate everywhere
        ("rex", False, False),  # another instance's admin is nobody here
        (None, False, False),
    ],
)
def test_who_moderates(ctx: Ctx, town: dict, who: str | None, moderator: bool, admin: bool) -> None:
    account, garden = town[who] if who else None, town["garden"]
    assert communities.can_moderate(ctx, account, garden) is moderator
    assert communities.can_moderate(ctx, account, garden, role="moderator") is moderator
    assert communities.can_moderate(ctx, account, garden, role="admin") is admin
    assert communities.can_moderate(ctx, account, garden, role="member") is (
        who in ("ada", "ben", "cara", "root")
    )


def test_a_pending_admin_membership_does_not_moderate(ctx: Ctx, town: dict) -> None:
    pending = communities.membership(ctx, town["dan"], town["garden"])
    pending.role = "admin"  # only "active" memberships carry their role
    assert not communities.can_moderate(ctx, town["dan"], town["garden"])
    assert not communities.is_active_member(ctx, town["dan"], town["garden"])
    assert communities.is_active_member(ctx, town["cara"], town["garden"])
    assert communities.membership(ctx, None, town["garden"]) is None


def test_require_role_names_the_role(ctx: Ctx, town: dict) -> None:
    communities.require_role(ctx, town["ben"], town["garden"], "moderator")
    with refused(Forbidden, "insufficient_role", "Only the community's admins can do that."):
        communities.require_role(ctx, town["ben"], town["garden"], "admin")


# --- approve, remove, set_role, leave -------------------------------------------


def _approved(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    monkeypatch.setitem(events.LISTENERS, "membership.approved", [lambda c, **d: seen.append(d)])
    return seen


def test_approving_tells_listeners_once(
    ctx: Ctx, town: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _approved(ctx, monkeypatch)
    m = communities.approve(ctx, town["ben"], town["garden"], "dan")
    assert m.state == "active" and seen == [{"membership": m}]
    communities.approve(ctx, town["ben"], town["garden"], "dan")  # already active
    assert len(seen) == 1


def test_moderators_remove_members_and_only_admins_remove_moderators(ctx: Ctx, town: dict) -> None:
    garden = town["garden"]
    communities.set_role(ctx, town["ada"], garden, "cara", "moderator")
    with refused(Forbidden, "insufficient_role", "Only the community's admins can do that."):
        communities.remove(ctx, town["ben"], garden, "cara")
    communities.remove(ctx, town["ada"], garden, "cara")  # an admin removes a moderator
    assert communities.membership(ctx, town["cara"], garden) is None
    with refused(Forbidden, "insufficient_role", "Only the community's moderators can do that."):
        communities.remove(ctx, town["eve"], garden, "dan")
    communities.remove(ctx, town["ben"], garden, "dan")  # rejecting a join request
    assert communities.membership(ctx, town["dan"], garden) is None


def test_the_only_admin_cannot_be_removed(ctx: Ctx, town: dict) -> None:
    garden = town["garden"]
    with refused(Conflict, "last_admin", LAST_ADMIN):
        communities.remove(ctx, town["root"], garden, "ada")  # not even by an instance admin
    with refused(Conflict, "last_admin", LAST_ADMIN):
        communities.remove(ctx, town["ada"], garden, "ada")
    communities.set_role(ctx, town["ada"], garden, "ben", "admin")
    communities.remove(ctx, town["ben"], garden, "ada")  # with two admins, one may go
    assert communities.membership(ctx, town["ada"], garden) is None
    with refused(Conflict, "last_admin", LAST_ADMIN):
        communities.remove(ctx, town["ben"], garden, "ben")


def test_roles_are_given_to_active_members_only_and_never_remove_the_last_admin(
    ctx: Ctx, town: dict
) -> None:
    garden, ada = town["garden"], town["ada"]
    with refused(Invalid, "invalid_role", "Role must be member, moderator or admin."):
        communities.set_role(ctx, ada, garden, "cara", "owner")
    with refused(Conflict, "not_active", "Approve the member before giving them a role."):
        communities.set_role(ctx, ada, garden, "dan", "moderator")
    with refused(NotFound, "not_a_member", "“eve” has not joined or asked to join."):
        communities.set_role(ctx, ada, garden, "eve", "moderator")
    with refused(Conflict, "last_admin", LAST_ADMIN):
        communities.set_role(ctx, ada, garden, "ada", "moderator")
    assert communities.set_role(ctx, ada, garden, "ada", "admin").role == "admin"  # no change
    communities.set_role(ctx, ada, garden, "cara", "admin")
    assert communities.set_role(ctx, ada, garden, "ada", "member").role == "member"
    with refused(Conflict, "last_admin", LAST_ADMIN):
        communities.set_role(ctx, town["cara"], garden, "cara", "member")


def test_admins_are_counted_among_active_admins_of_this_community_only(
    ctx: Ctx, town: dict
) -> None:
    garden = town["garden"]
    other = communities.create(ctx, town["cara"], "orchard")
    assert communities._admin_count(ctx, garden) == 1
    assert communities._admin_count(ctx, other) == 1
    communities.membership(ctx, town["dan"], garden).role = "admin"  # still pending
    ctx.db.flush()
    assert communities._admin_count(ctx, garden) == 1
    communities.set_role(ctx, town["ada"], garden, "ben", "admin")
    assert communities._admin_count(ctx, garden) == 2


def test_leaving(ctx: Ctx, town: dict) -> None:
    garden = town["garden"]
    with refused(NotFound, "not_a_member", "You are not a member of this community."):
        communities.leave(ctx, town["eve"], garden)
    with refused(
        Conflict,
        "last_admin",
        "You are the only admin of “garden”: make another member admin before you "
        "leave, or dissolve the community.",
    ):
        communities.leave(ctx, town["ada"], garden)
    assert communities.is_only_admin(ctx, town["ada"], garden)
    assert not communities.is_only_admin(ctx, town["ben"], garden)  # a moderator
    assert not communities.is_only_admin(ctx, None, garden)
    communities.leave(ctx, town["ben"], garden)
    assert communities.membership(ctx, town["ben"], garden) is None


# --- posts: edit, delete, reply -------------------------------------------------


def _edits(monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    monkeypatch.setitem(events.LISTENERS, "post.edited", [lambda c, **d: seen.append(d)])
    return seen


def _revisions(ctx: Ctx, post_id: int) -> list[tuple[str | None, str]]:
    rows = ctx.db.exec(
        select(PostRevision)
        .where(col(PostRevision.post_id) == post_id)
        .order_by(col(PostRevision.id))
    )
    return [(r.title, r.text) for r in rows]


def test_only_the_author_edits_and_a_deleted_post_not_at_all(ctx: Ctx, town: dict) -> None:
    post = posts.create(ctx, town["cara"], "mine", community="garden")
    for other in ("ada", "ben", "root"):  # not even moderators or instance admins
        with refused(Forbidden, "not_author", "Only the author can edit a post."):
            posts.edit(ctx, town[other], post.id, "theirs")
    posts.delete_post(ctx, town["cara"], post.id)
    with refused(Gone, "post_deleted", "That post was deleted."):
        posts.edit(ctx, town["cara"], post.id, "back")


def test_an_edit_keeps_or_replaces_the_title_and_saves_the_old_one(
    ctx: Ctx, town: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    cara = town["cara"]
    thread = posts.create(ctx, cara, "body", title="Old title")
    seen = _edits(monkeypatch)
    assert posts.edit(ctx, cara, thread.id, "body").title == "Old title"  # title: unchanged
    assert _revisions(ctx, thread.id) == [] and seen == []  # nothing changed, nothing saved
    posts.edit(ctx, cara, thread.id, "body", title="New title")  # the title alone changed
    assert thread.title == "New title"
    assert _revisions(ctx, thread.id) == [("Old title", "body")]
    assert seen == [{"post": thread}]
    posts.edit(ctx, cara, thread.id, "body 2")
    assert (thread.title, thread.text) == ("New title", "body 2")
    assert _revisions(ctx, thread.id)[-1] == ("New title", "body")


def test_a_reply_never_takes_a_title(ctx: Ctx, town: dict) -> None:
    thread = posts.create(ctx, town["ada"], "root", title="Thread")
    reply = posts.create(ctx, town["cara"], "reply", in_reply_to=thread.id)
    posts.edit(ctx, town["cara"], reply.id, "reply, edited", title="Sneaky")
    assert reply.title is None and reply.text == "reply, edited"


def test_an_edit_records_its_new_mentions(ctx: Ctx, town: dict) -> None:
    post = posts.create(ctx, town["cara"], "hello")
    posts.edit(ctx, town["cara"], post.id, "hello @ben")
    mentioned = ctx.db.exec(
        select(col(PostMention.account_id)).where(col(PostMention.post_id) == post.id)
    ).all()
    assert mentioned == [town["ben"].id]


@pytest.mark.parametrize(
    ("who", "where", "allowed"),
    [
        ("cara", "garden", True),  # the author
        ("ben", "garden", True),  # the community's moderator
        ("ada", "garden", True),  # its admin
        ("root", "garden", True),  # an instance admin
        ("dan", "garden", False),  # pending
        ("eve", "garden", False),
        ("rex", "garden", False),
        (None, "garden", False),
        ("cara", None, True),  # outside any community: the author
        ("root", None, True),  # and instance admins
        ("ben", None, False),  # a moderator of some community is nobody here
        ("ada", "orchard", False),  # garden's admin in another community
    ],
)
def test_who_may_delete(
    ctx: Ctx, town: dict, who: str | None, where: str | None, allowed: bool
) -> None:
    if where == "orchard":
        orchard = communities.create(ctx, town["eve"], "orchard")
        communities.join(ctx, town["cara"], orchard)
    post = posts.create(ctx, town["cara"], "a post", community=where)
    actor = town[who] if who else None
    assert posts.can_delete(ctx, actor, post) is allowed
    if actor is None:
        return
    if allowed:
        assert posts.delete_post(ctx, actor, post.id).is_deleted
        assert not posts.can_delete(ctx, actor, post)  # nothing left to delete
        assert posts.delete_post(ctx, actor, post.id).is_deleted  # deleting again: harmless
    else:
        with refused(
            Forbidden, "not_author", "Only the author or a moderator can delete this post."
        ):
            posts.delete_post(ctx, actor, post.id)


def test_a_post_whose_community_is_gone_is_the_authors_alone(ctx: Ctx, town: dict) -> None:
    post = posts.create(ctx, town["cara"], "a post", community="garden")
    post.community_id = None
    assert not posts.can_delete(ctx, town["ben"], post)
    assert posts.can_delete(ctx, town["cara"], post)


def test_whom_an_author_blocked_cannot_reply(ctx: Ctx, town: dict) -> None:
    thread = posts.create(ctx, town["cara"], "root")
    blocks.block(ctx, town["cara"], town["eve"])
    blocks.block(ctx, town["ada"], town["ben"])  # someone else's block does not count
    with refused(
        Forbidden,
        "blocked_by_author",
        "The author of that post has blocked you, so you can't reply to it.",
    ):
        posts.create(ctx, town["eve"], "reply", in_reply_to=thread.id)
    assert posts.create(ctx, town["ben"], "reply", in_reply_to=thread.id).in_reply_to_id == (
        thread.id
    )

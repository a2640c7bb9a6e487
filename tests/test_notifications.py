"""Notifications, every kind, from a local event and (where the protocol carries
one) from the same event arriving through the inbox handlers; grouping, per-kind
preferences, mark-read and cursor pages. On both databases.

Votes, reviews and algorithm changes have no federated form (decisions and
algorithm proposals are taken on the community's own instance), so they come
from local events only; their remote members are simply not notified here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.errors import Invalid
from app.infra import jobs
from app.models import Account, Job, Notification
from app.services import (
    Ctx,
    accounts,
    artifacts,
    communities,
    decisions,
    follows,
    governance,
    notifications,
    posts,
    reactions,
    stances,
)
from app.services.ranking import choices, registry
from federation import remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import PEER, actor_doc, apply

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def said(ctx: Ctx, account: Account, **kw) -> list[tuple[str, str]]:
    items, _ = notifications.listing(ctx, account, **kw)
    return [(i.note.kind, i.summary) for i in items]


@pytest.fixture
def town(ctx: Ctx) -> dict:
    people = {n: accounts.register(ctx, n, PASSWORD) for n in ("ada", "ben", "cara")}
    people["rita"] = remote.store_actor(ctx, actor_doc("rita", name="Rita"))
    return people


def remote_note(n: int, **extra: object) -> dict:
    return {
        "id": f"{PEER}/activities/create-{n}",
        "type": "Create",
        "actor": f"{PEER}/users/rita",
        "object": {
            "id": f"{PEER}/notes/{n}",
            "type": "Note",
            "attributedTo": f"{PEER}/users/rita",
            "content": f"<p>note {n}</p>",
            "to": [AS_PUBLIC],
            **extra,
        },
    }


# --- posts ----------------------------------------------------------------------


def test_a_reply_notifies_the_author_from_here_and_from_elsewhere(ctx: Ctx, town) -> None:
    ada, ben = town["ada"], town["ben"]
    post = posts.create(ctx, ada, "Shall we plant oaks?")
    posts.create(ctx, ada, "I reply to myself", in_reply_to=post.id)
    assert said(ctx, ada) == []  # nobody is told of their own doing
    posts.create(ctx, ben, "Yes!", in_reply_to=post.id)
    assert said(ctx, ada) == [("reply", "ben replied to your post")]
    apply(ctx, remote_note(1, inReplyTo=post.uri))
    assert said(ctx, ada) == [("reply", "Rita and ben replied to your post")]
    [item], _ = notifications.listing(ctx, ada)
    assert item.post is not None and item.post.id == post.id


def test_a_mention_notifies_from_here_and_from_elsewhere(ctx: Ctx, town) -> None:
    ada, ben, cara = town["ada"], town["ben"], town["cara"]
    posts.create(ctx, ben, "Ask @ada about the oaks")
    assert said(ctx, ada) == [("mention", "ben mentioned you")]
    assert said(ctx, cara) == []
    apply(ctx, remote_note(2, tag=[{"type": "Mention", "href": cara.uri, "name": "@cara"}]))
    assert said(ctx, cara) == [("mention", "Rita mentioned you")]


def test_follows_group_and_arrive_from_elsewhere(ctx: Ctx, town) -> None:
    ada, ben, cara, rita = town["ada"], town["ben"], town["cara"], town["rita"]
    follows.follow(ctx, ben, ada)
    follows.follow(ctx, cara, ada)
    apply(ctx, {"id": f"{PEER}/f/1", "type": "Follow", "actor": rita.uri, "object": ada.uri})
    assert said(ctx, ada) == [("follow", "Rita and 2 others followed you")]
    [item], _ = notifications.listing(ctx, ada)
    assert [a.username for a in item.actors] == ["rita", "cara", "ben"]


def test_join_and_follow_requests_reach_moderators_with_who_still_waits(ctx: Ctx, town) -> None:
    ada, ben, cara, rita = town["ada"], town["ben"], town["cara"], town["rita"]
    garden = communities.create(ctx, ada, "garden", join_policy="approval")
    communities.join(ctx, ben, garden)
    assert said(ctx, ada) == [("follow_request", "ben asked to join")]
    assert said(ctx, ben) == []
    apply(ctx, {"id": f"{PEER}/f/2", "type": "Follow", "actor": rita.uri, "object": garden.uri})
    [item], _ = notifications.listing(ctx, ada)
    assert item.summary == "Rita and ben asked to join" and item.community.id == garden.id
    assert item.pending == {ben.id, rita.id}
    communities.approve(ctx, ada, garden, "ben")
    [item], _ = notifications.listing(ctx, ada)
    assert item.pending == {rita.id}
    open_garden = communities.create(ctx, cara, "open-garden")
    communities.join(ctx, ben, open_garden)  # open: no request
    assert said(ctx, cara) == []


def test_likes_and_stances_group_per_verb_from_here_and_elsewhere(ctx: Ctx, town) -> None:
    ada, ben, cara, rita = town["ada"], town["ben"], town["cara"], town["rita"]
    post = posts.create(ctx, ada, "Oaks along the river")
    reactions.react(ctx, ben, post.id, "like")
    reactions.react(ctx, ben, post.id, "agree")
    reactions.react(ctx, cara, post.id, "agree")
    for n, kind in enumerate(("Like", "Dislike")):
        activity = {"id": f"{PEER}/r/{n}", "type": kind, "actor": rita.uri, "object": post.uri}
        apply(ctx, activity)
    assert said(ctx, ada) == [
        ("stance", "Rita disagreed with your post"),
        ("like", "Rita and ben liked your post"),
        ("stance", "cara and ben agreed with your post"),
    ]
    for name in ("dan", "eve", "fay"):
        reactions.react(ctx, accounts.register(ctx, name, PASSWORD), post.id, "agree")
    assert ("stance", "fay and 4 others agreed with your post") in said(ctx, ada)


# --- artifacts ------------------------------------------------------------------


@pytest.fixture
def garden(ctx: Ctx, town) -> dict:
    ada, ben, cara, rita = town["ada"], town["ben"], town["cara"], town["rita"]
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, ben, garden)
    communities.join(ctx, cara, garden)
    follows.follow(ctx, rita, garden)  # rita belongs from elsewhere
    art = artifacts.create(ctx, ada, garden, "idea", "Trees", "Plant oaks.\n")
    return {**town, "garden": garden, "art": art}


def test_revisions_notify_contributors_from_here_and_elsewhere(ctx: Ctx, garden) -> None:
    ada, ben, cara, rita, art = (garden[k] for k in ("ada", "ben", "cara", "rita", "art"))
    artifacts.revise(ctx, ben, art.id, art.current_revision_id, "Plant oaks and elms.\n")
    assert said(ctx, ada) == [("revision", "ben revised an artifact you contributed to")]
    assert said(ctx, cara) == []  # not a contributor
    revision = {
        "id": f"{PEER}/revision-proposals/1",
        "type": "Revision",
        "attributedTo": rita.uri,
        "target": art.uri,
        "baseRevision": f"{art.uri}/revisions/{art.current_revision_id}",
        "source": {"content": "Plant oaks, elms and limes.\n"},
    }
    apply(ctx, {"id": f"{PEER}/c/1", "type": "Create", "actor": rita.uri, "object": revision})
    assert said(ctx, ada) == [("revision", "Rita and ben revised an artifact you contributed to")]
    assert said(ctx, ben) == [("revision", "Rita revised an artifact you contributed to")]
    [item], _ = notifications.listing(ctx, ben)
    assert item.artifact is not None and item.artifact.id == art.id


def test_statements_and_stances_notify_contributors_from_here_and_elsewhere(
    ctx: Ctx, garden
) -> None:
    ada, cara, rita, art = (garden[k] for k in ("ada", "cara", "rita", "art"))
    stances.add_statement(ctx, cara, art.id, "Oaks grow slowly")
    stances.take(ctx, cara, "disagree", artifact_id=art.id)
    assert said(ctx, ada) == [
        ("artifact_stance", "cara disagreed with an artifact you contributed to"),
        ("statement", "cara added a statement to an artifact you contributed to"),
    ]
    statement = {
        "id": f"{PEER}/statements/1",
        "type": "Statement",
        "attributedTo": rita.uri,
        "target": art.uri,
        "content": "Limes feed bees",
        "to": [AS_PUBLIC],
    }
    apply(ctx, {"id": f"{PEER}/c/2", "type": "Create", "actor": rita.uri, "object": statement})
    apply(ctx, {"id": f"{PEER}/s/1", "type": "Dislike", "actor": rita.uri, "object": art.uri})
    assert said(ctx, ada)[:2] == [
        ("artifact_stance", "Rita and cara disagreed with an artifact you contributed to"),
        ("statement", "Rita and cara added a statement to an artifact you contributed to"),
    ]


# --- votes, reviews, algorithms -------------------------------------------------


def test_a_vote_opening_and_closing_reaches_every_member(ctx: Ctx, garden) -> None:
    ada, ben, cara, garden_, art = (garden[k] for k in ("ada", "ben", "cara", "garden", "art"))
    artifacts.transition(ctx, ada, art.id, "open")
    artifacts.transition(ctx, ada, art.id, "proposed")
    closes = notifications.utcnow() + timedelta(hours=25)
    decision = decisions.open_vote(ctx, ada, art.id, "consent", closes)
    assert said(ctx, ben) == said(ctx, cara) == [("vote_opened", "A vote opened")]
    assert said(ctx, ada) == []  # who opened it knows
    decisions.vote(ctx, ben, decision.id, "agree")
    decisions.vote(ctx, cara, decision.id, "agree")
    decisions.close(ctx, decision, now=closes + timedelta(seconds=1))
    assert said(ctx, ada) == [("vote_closed", "A vote closed: adopted")]
    assert said(ctx, ben)[0] == ("vote_closed", "A vote closed: adopted")


def test_algorithm_votes_and_changes_reach_every_member(ctx: Ctx, garden) -> None:
    ada, ben, cara, garden_ = (garden[k] for k in ("ada", "ben", "cara", "garden"))
    bridging = registry.builtin_version(ctx, "bridging").id
    choices.set_community_algorithm(ctx, ada, garden_, bridging, {}, "try bridging")
    assert said(ctx, ben) == [("algorithm_changed", "The ranking algorithm changed (ada)")]
    governance.set_mode(ctx, ada, garden_, "vote")
    proposal = governance.propose(ctx, ben, garden_, bridging, {}, window_hours=24, quorum=2)
    assert said(ctx, cara)[0] == ("vote_opened", "A vote opened")
    governance.vote(ctx, cara, proposal, "yes")
    governance.vote(ctx, ben, proposal, "yes")
    proposal.closes_at = notifications.utcnow() - timedelta(seconds=1)
    governance.close_if_due(ctx, proposal)
    kinds = [k for k, _ in said(ctx, cara)]
    assert kinds[:2] == ["vote_closed", "algorithm_changed"] or kinds[:2] == [
        "algorithm_changed",
        "vote_closed",
    ]
    assert ("vote_closed", "A vote closed: passed") in said(ctx, ada)


def test_an_artifact_due_for_review_tells_its_contributors_on_the_day(
    ctx: Ctx, garden, monkeypatch
) -> None:
    ada, ben, cara, art = (garden[k] for k in ("ada", "ben", "cara", "art"))
    artifacts.revise(ctx, ben, art.id, art.current_revision_id, "Plant oaks and elms.\n")
    artifacts.transition(ctx, ada, art.id, "open")
    artifacts.transition(ctx, ada, art.id, "proposed")
    closes = notifications.utcnow() + timedelta(hours=25)
    decision = decisions.open_vote(ctx, ada, art.id, "consent", closes)
    decisions.close(ctx, decision, now=closes + timedelta(seconds=1))
    review = notifications.utcnow() + timedelta(days=30)
    decisions.record_outcome(ctx, ada, decision.id, "We plant in spring.", review)
    job = ctx.db.exec(select(Job).where(Job.kind == "notifications.review_due")).one()
    assert abs((job.run_at - review).total_seconds()) < 1
    payload = __import__("json").loads(job.payload)
    with pytest.raises(jobs.RetryAt):
        notifications.review_due(ctx, payload)  # too early: nobody is told yet
    later = review + timedelta(minutes=1)
    monkeypatch.setattr(notifications, "utcnow", lambda: later)
    notifications.review_due(ctx, payload)
    assert said(ctx, ben)[0] == ("review_due", "An artifact is due for review")
    assert said(ctx, cara)[0][0] != "review_due"  # not a contributor nor a moderator


# --- preferences, reading, pages ------------------------------------------------


def test_a_kind_switched_off_is_not_recorded(ctx: Ctx, town) -> None:
    ada, ben = town["ada"], town["ben"]
    assert notifications.preferences(ctx, ada)["like"] == "on"
    notifications.set_preferences(ctx, ada, {"like": "off", "reply": "email"})
    post = posts.create(ctx, ada, "Oaks")
    reactions.react(ctx, ben, post.id, "like")
    posts.create(ctx, ben, "Elms", in_reply_to=post.id)
    assert said(ctx, ada) == [("reply", "ben replied to your post")]
    with pytest.raises(Invalid, match="on, off or email"):
        notifications.set_preferences(ctx, ada, {"like": "loud"})
    with pytest.raises(Invalid, match="Unknown notification kind"):
        notifications.set_preferences(ctx, ada, {"gossip": "on"})


def test_a_blocked_actor_notifies_nobody_who_blocked_them(ctx: Ctx, town) -> None:
    from app.services import blocks

    ada, ben = town["ada"], town["ben"]
    post = posts.create(ctx, ada, "Oaks")
    blocks.block(ctx, ada, ben)
    posts.create(ctx, ben, "Hi @ada")
    with pytest.raises(Exception):  # noqa: B017 - replies are refused outright
        reactions.react(ctx, ben, post.id, "like")
    assert said(ctx, ada) == []


def test_read_notifications_start_a_new_group_and_counts_follow(ctx: Ctx, town) -> None:
    ada, ben, cara = town["ada"], town["ben"], town["cara"]
    post = posts.create(ctx, ada, "Oaks")
    reactions.react(ctx, ben, post.id, "like")
    [first], _ = notifications.listing(ctx, ada)
    assert notifications.unread_count(ctx, ada) == 1
    assert notifications.mark_read(ctx, ada, ids=[first.note.id]) == 1
    assert notifications.unread_count(ctx, ada) == 0
    reactions.react(ctx, cara, post.id, "like")
    items, _ = notifications.listing(ctx, ada)
    assert [(i.summary, i.note.read_at is None) for i in items] == [
        ("cara liked your post", True),
        ("ben liked your post", False),
    ]
    assert notifications.mark_read(ctx, ada, up_to=items[0].note.id) == 1
    assert said(ctx, ada, unread_only=True) == []
    with pytest.raises(Invalid):
        notifications.mark_read(ctx, ada)
    assert notifications.mark_read(ctx, ben, ids=[first.note.id]) == 0  # not ben's


def test_pages_follow_a_cursor_and_filter_by_kind(ctx: Ctx, town) -> None:
    ada = town["ada"]
    for n in range(7):
        who = accounts.register(ctx, f"fan{n}", PASSWORD)
        follows.follow(ctx, who, ada)
        notifications.mark_read(ctx, ada, up_to=_latest(ctx, ada))  # one group each
        posts.create(ctx, who, f"Hello @ada {n}")
    seen, cursor = [], None
    while True:
        items, cursor = notifications.listing(ctx, ada, cursor=cursor, limit=3)
        seen += [i.note.id for i in items]
        if cursor is None:
            break
    everything = ctx.db.exec(select(Notification.id).where(Notification.account_id == ada.id))
    assert sorted(seen) == sorted(everything.all()) and len(seen) == len(set(seen)) == 14
    mentions, _ = notifications.listing(ctx, ada, kinds=["mention"], limit=100)
    assert len(mentions) == 7 and {i.note.kind for i in mentions} == {"mention"}
    with pytest.raises(Invalid, match="page link"):
        notifications.listing(ctx, ada, cursor="not-a-cursor")
    with pytest.raises(Invalid, match="kind"):
        notifications.listing(ctx, ada, kinds=["gossip"])


def _latest(ctx: Ctx, account: Account) -> int:
    items, _ = notifications.listing(ctx, account, limit=1)
    return items[0].note.id

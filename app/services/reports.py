"""Reports: a member tells the moderators about a post, an artifact, a statement,
a member or a community, citing rules, with a comment and other posts of the same
account as evidence, optionally asking to tell the remote instance too.

A report waits in the queue of the community its target lives in (``community_id``)
and always in the instance's; the moderation queue and its actions
(app/services/moderation.py) settle it. The reporter sees their reports' state and
when it changed, never who acted. A second report of the same target while the
first is open is refused (``already_reported``): the first is still being looked at.

Reports from other instances (``Flag``) are stored by :func:`record_flag`,
anonymous here as they were there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from app.db import hold
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import events, ratelimit
from app.models import (
    REPORT_TARGETS,
    Account,
    Artifact,
    Community,
    Post,
    Report,
    Rule,
    Statement,
    get_row,
)
from app.services import Ctx, blocks, posts, rules, stances
from app.services import artifacts as artifacts_service

MAX_COMMENT = 1000
MAX_EXTRA_POSTS = 5
EXCERPT = 200
RECENT_POSTS = 10  # the reported account's posts offered as evidence on the form
MAX_MY_REPORTS = 200


@dataclass(frozen=True)
class Target:
    """What a report names, found and checked: the row, whose it is, the community
    whose queue it goes to, its ActivityPub id and a short excerpt to show."""

    type: str
    id: int
    uri: str
    excerpt: str
    account: Account | None
    community: Community | None

    @property
    def remote_domain(self) -> str:
        """The instance the content (or the member, or the community) lives on;
        "" when it is ours (nothing to forward)."""
        if self.type == "community" and self.community is not None:
            return self.community.domain
        return self.account.domain if self.account is not None else ""


@dataclass(frozen=True)
class MyReport:
    """One of a member's reports as they see it: what, its state, when resolved."""

    id: int
    target_type: str
    target_id: int
    excerpt: str
    state: str
    created_at: datetime
    resolved_at: datetime | None


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _handle(ctx: Ctx, account: Account) -> str:
    return f"@{account.username}@{account.domain or ctx.settings.domain}"


def find_target(ctx: Ctx, target_type: str, target_id: int) -> Target:
    """The target, if it exists and may be shown (not deleted, its author not hidden
    from everyone: the same rules as the pages), else :class:`NotFound`."""
    if target_type not in REPORT_TARGETS:
        raise Invalid(
            f"Reports name a {', '.join(REPORT_TARGETS[:-1])} or {REPORT_TARGETS[-1]}.",
            code="invalid_target_type",
        )
    if isinstance(target_id, bool) or not isinstance(target_id, int) or target_id < 1:
        raise NotFound(f"There is no such {target_type}.", code="target_not_found")
    if target_type == "post":
        post = posts.get_visible(ctx, target_id)
        if post.is_deleted:
            raise NotFound("That post was deleted.", code="target_not_found")
        return _content(
            ctx,
            "post",
            post.id,
            post.uri,
            post.title or post.text,
            post.author_id,
            post.community_id,
        )
    if target_type == "artifact":
        artifact = artifacts_service.get(ctx, target_id)
        return _content(
            ctx,
            "artifact",
            artifact.id,
            artifact.uri,
            artifact.title,
            artifact.author_id,
            artifact.community_id,
        )
    if target_type == "statement":
        statement = stances.get_statement(ctx, target_id)
        parent = get_row(ctx.db, Artifact, statement.artifact_id)
        return _content(
            ctx,
            "statement",
            statement.id,
            statement.uri,
            statement.text,
            statement.author_id,
            parent.community_id if parent else None,
        )
    if target_type == "account":
        account = get_row(ctx.db, Account, target_id)
        if account is None or blocks.hidden_from_everyone(ctx, account.id):
            raise NotFound("There is no such member.", code="target_not_found")
        label = f"{account.name} ({_handle(ctx, account)})"
        return Target("account", account.id, account.uri, _excerpt(label), account, None)
    community = get_row(ctx.db, Community, target_id)
    if community is None:
        raise NotFound("There is no such community.", code="target_not_found")
    return Target(
        "community", community.id, community.uri, _excerpt(community.display_title), None, community
    )


def _content(
    ctx: Ctx,
    kind: str,
    row_id: int,
    uri: str,
    text: str,
    author_id: int,
    community_id: int | None,
) -> Target:
    if blocks.hidden_from_everyone(ctx, author_id):
        raise NotFound(f"There is no such {kind}.", code="target_not_found")
    author = get_row(ctx.db, Account, author_id)
    community = get_row(ctx.db, Community, community_id) if community_id else None
    return Target(kind, row_id, uri, _excerpt(text), author, community)


def applicable_rules(ctx: Ctx, target: Target) -> list[Rule]:
    """The rules a report of ``target`` may cite: the instance's, then those of
    the (local) community it lives in, each in its order."""
    found = rules.of(ctx)
    if target.community is not None and not target.community.domain:
        found += rules.of(ctx, target.community)
    return found


def recent_posts(ctx: Ctx, target: Target, limit: int = RECENT_POSTS) -> list[Post]:
    """The reported account's other recent posts, newest first, to add as evidence."""
    if target.account is None:
        return []
    query = (
        select(Post)
        .where(col(Post.author_id) == target.account.id, col(Post.deleted_at).is_(None))
        .order_by(col(Post.created_at).desc(), col(Post.id).desc())
        .limit(limit + 1)
    )
    found = [p for p in ctx.db.exec(query) if not (target.type == "post" and p.id == target.id)]
    return found[:limit]


def _clean_ids(values: list[int] | None, what: str) -> list[int]:
    out: list[int] = []
    for value in values or []:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{what} are named by their ids.", code="invalid_ids")
        if value not in out:
            out.append(value)
    return out


def file_report(
    ctx: Ctx,
    reporter: Account,
    target_type: str,
    target_id: int,
    rule_ids: list[int] | None = None,
    comment: str = "",
    extra_post_ids: list[int] | None = None,
    forward: bool = False,
    *,
    client: str | None = None,
) -> Report:
    """File a member's report; every refusal says why and stores nothing.
    ``client`` (a page's or the API's caller address) makes it rate-limited."""
    if not reporter.is_local or not reporter.is_active:
        raise Forbidden("Only active members of this instance file reports.", code="not_a_member")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid(
            f"The comment can be at most {MAX_COMMENT} characters.", code="comment_too_long"
        )
    rule_ids = _clean_ids(rule_ids, "Rules")
    extra = _clean_ids(extra_post_ids, "Posts")
    if len(extra) > MAX_EXTRA_POSTS:
        raise Invalid(
            f"Add at most {MAX_EXTRA_POSTS} other posts to a report.", code="too_many_posts"
        )
    if target_type not in REPORT_TARGETS:
        find_target(ctx, target_type, target_id)  # raises the clear error
    ratelimit.limit(ctx, "report", account=reporter.id, client=client)
    target = find_target(ctx, target_type, target_id)
    if target.account is not None and target.account.id == reporter.id:
        raise Invalid("You can't report yourself or what you wrote.", code="self_report")
    _check_rules(ctx, target, rule_ids)
    extra = [i for i in extra if not (target.type == "post" and i == target.id)]
    _check_extra_posts(ctx, target, extra)
    if forward and not target.remote_domain:
        raise Invalid(
            "Only what comes from another instance can be forwarded there.",
            code="forward_not_remote",
        )
    hold(ctx.db, f"report:{reporter.id}:{target.type}:{target.id}")
    if open_report_of(ctx, reporter, target) is not None:
        raise Conflict(
            "You already reported this; your report is still open.", code="already_reported"
        )
    report = Report(
        reporter_id=reporter.id,
        target_type=target.type,
        target_id=target.id,
        target_account_id=target.account.id if target.account else None,
        community_id=target.community.id if target.community else None,
        rule_ids=json.dumps(rule_ids),
        comment=comment,
        extra_post_ids=json.dumps(extra),
        forward=forward,
    )
    ctx.db.add(report)
    ctx.db.flush()
    events.emit(ctx, "report.filed", report=report)
    return report


def _check_rules(ctx: Ctx, target: Target, rule_ids: list[int]) -> None:
    allowed = {r.id for r in applicable_rules(ctx, target)}
    for rule_id in rule_ids:
        if rule_id not in allowed:
            where = (
                f"this instance or of “{target.community.display_title}”"
                if target.community is not None and not target.community.domain
                else "this instance"
            )
            raise Invalid(
                f"Rule {rule_id} is not one of the rules of {where}.", code="unknown_rule"
            )


def _check_extra_posts(ctx: Ctx, target: Target, extra: list[int]) -> None:
    if not extra:
        return
    if target.account is None:
        raise Invalid("Only a member's reports carry their other posts.", code="posts_not_theirs")
    found = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(extra)))}
    for post_id in extra:
        post = found.get(post_id)
        if post is None or post.is_deleted:
            raise NotFound(f"There is no post {post_id}.", code="post_not_found")
        if post.author_id != target.account.id:
            raise Invalid(
                f"Post {post_id} is not by {_handle(ctx, target.account)}.",
                code="posts_not_theirs",
            )


def open_report_of(ctx: Ctx, reporter: Account, target: Target) -> Report | None:
    return ctx.db.exec(
        select(Report).where(
            col(Report.reporter_id) == reporter.id,
            col(Report.target_type) == target.type,
            col(Report.target_id) == target.id,
            col(Report.state) == "open",
        )
    ).first()


def my_reports(ctx: Ctx, reporter: Account) -> list[MyReport]:
    """The reporter's reports, newest first, with their state and when they were
    settled; who settled them is not said."""
    rows = ctx.db.exec(
        select(Report)
        .where(col(Report.reporter_id) == reporter.id)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc())
        .limit(MAX_MY_REPORTS)
    ).all()
    out = []
    for row in rows:
        try:
            excerpt = find_target(ctx, row.target_type, row.target_id).excerpt
        except (NotFound, Invalid):
            excerpt = f"a {row.target_type} no longer here"
        out.append(
            MyReport(
                id=row.id,
                target_type=row.target_type,
                target_id=row.target_id,
                excerpt=excerpt,
                state=row.state,
                created_at=row.created_at,
                resolved_at=row.resolved_at,
            )
        )
    return out


def rule_ids_of(report: Report) -> list[int]:
    return [int(i) for i in json.loads(report.rule_ids or "[]")]


def extra_post_ids_of(report: Report) -> list[int]:
    return [int(i) for i in json.loads(report.extra_post_ids or "[]")]


# --- reports from other instances (Flag) ---------------------------------------------


def local_target_by_uri(ctx: Ctx, uri: str) -> Target | None:
    """The local post, artifact, statement, member or community with this
    ActivityPub id, as a report target; None if there is none (or it is gone)."""
    found: tuple[str, int] | None = None
    for kind, model in (
        ("post", Post),
        ("artifact", Artifact),
        ("statement", Statement),
        ("account", Account),
        ("community", Community),
    ):
        row_id = ctx.db.exec(select(col(model.id)).where(col(model.uri) == uri)).first()
        if row_id is not None:
            found = (kind, row_id)
            break
    if found is None:
        return None
    try:
        target = find_target(ctx, *found)
    except (NotFound, Invalid):
        return None
    local = (
        target.community is not None and not target.community.domain
        if target.type == "community"
        else target.account is not None and target.account.is_local
    )
    return target if local else None


def flag_targets(targets: list[Target]) -> list[Target]:
    """What a Flag's objects ask us to look at, one report each: every piece of
    content it names, and a member or community only when none of the content
    named is theirs (a Flag names the account of the posts it carries)."""
    content = [t for t in targets if t.type in ("post", "artifact", "statement")]
    authors = {t.account.id for t in content if t.account is not None}
    out: dict[tuple[str, int], Target] = {}
    for target in content + [t for t in targets if t.type in ("account", "community")]:
        if not (target.type == "account" and target.id in authors):
            out.setdefault((target.type, target.id), target)
    return list(out.values())


def record_flag(
    ctx: Ctx, origin_domain: str, flag_uri: str, targets: list[Target], comment: str
) -> list[Report]:
    """Store another instance's ``Flag`` as open reports with no reporter, one per
    target (:func:`flag_targets`); the first carries the Flag's id, the others
    ``id#2``, ``id#3``…, so a redelivered Flag finds its reports and adds none."""
    hold(ctx.db, f"flag:{flag_uri}")
    if ctx.db.exec(select(Report).where(col(Report.flag_uri) == flag_uri)).first() is not None:
        return []
    comment = comment[:MAX_COMMENT]
    out = []
    for n, target in enumerate(flag_targets(targets), 1):
        report = Report(
            reporter_id=None,
            origin_domain=origin_domain[:255],
            flag_uri=flag_uri if n == 1 else f"{flag_uri}#{n}"[:2048],
            target_type=target.type,
            target_id=target.id,
            target_account_id=target.account.id if target.account else None,
            community_id=target.community.id if target.community else None,
            comment=comment,
        )
        ctx.db.add(report)
        out.append(report)
    ctx.db.flush()
    return out

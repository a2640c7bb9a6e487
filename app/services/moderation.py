"""Moderation actions: what a community's moderators or the instance's admins do
about a report (or on their own), each written as ONE row of the public log
(:class:`ModerationAction`) in the same transaction as its effect.

Scopes: a community (its moderators and admins, and instance admins) or the
instance (its admins). Every action cites a rule of its scope (a community action
may cite the instance's rules too) and gives a reason. Effects reuse the services
that own them: posts are tombstoned through :mod:`app.services.posts` (so a local
post's Delete federates as any deletion), suspensions through
``accounts.set_active``, domain blocks through ``peers.set_blocked``. Bans live in
:class:`CommunityBan`; ``communities.is_banned`` is the one test (joining refuses
a banned member) and ``communities.active_ban_clause`` the feeds' condition."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlmodel import col, select

from app.errors import Forbidden, Invalid, NotFound
from app.infra import events, jobs
from app.models import (
    REPORT_TARGETS,
    Account,
    Appeal,
    Artifact,
    Community,
    CommunityBan,
    ModerationAction,
    PeerDomain,
    Post,
    Report,
    Rule,
    Statement,
    get_row,
    utcnow,
)
from app.services import Ctx, accounts, communities, peers, posts, rules

MAX_REASON = 2000
MAX_EXCERPT = 200
MAX_DURATION_HOURS = 24 * 365 * 10
COMMUNITY_ACTIONS = ("dismiss", "remove", "warn", "ban", "unban")
INSTANCE_ACTIONS = (
    "dismiss",
    "remove",
    "warn",
    "suspend",
    "unsuspend",
    "limit_domain",
    "unlimit_domain",
    "suspend_domain",
    "unsuspend_domain",
)
ACTIONS = tuple(dict.fromkeys(COMMUNITY_ACTIONS + INSTANCE_ACTIONS))
TARGET_TYPES = (*REPORT_TARGETS, "domain")
# the actions that tell the member acted on, and that they may appeal
APPEALABLE = ("remove", "warn", "ban", "suspend")
TIMED = ("ban", "suspend")


@dataclass
class Scope:
    """Where an action or a queue belongs: a community, or the instance (None)."""

    community: Community | None

    @property
    def community_id(self) -> int | None:
        return self.community.id if self.community is not None else None

    @property
    def label(self) -> str:
        return f"community:{self.community.handle}" if self.community else "instance"


def parse_scope(ctx: Ctx, raw: str) -> Scope:
    """``instance`` or ``community:NAME`` (``NAME@domain`` for a remote one)."""
    raw = (raw or "").strip()
    if raw == "instance":
        return Scope(None)
    kind, _, name = raw.partition(":")
    if kind != "community" or not name:
        raise Invalid("The scope is “instance” or “community:NAME”.", code="invalid_scope")
    return Scope(communities.get_by_handle(ctx, name))


def can_moderate(ctx: Ctx, viewer: Account | None, scope: Scope) -> bool:
    """A community's moderators and admins (and instance admins); the instance's admins."""
    if viewer is None:
        return False
    if scope.community is None:
        return viewer.is_admin and viewer.is_local and viewer.is_active
    return communities.can_moderate(ctx, viewer, scope.community)


def require_moderator(ctx: Ctx, viewer: Account | None, scope: Scope) -> None:
    if not can_moderate(ctx, viewer, scope):
        if scope.community is None:
            raise Forbidden("Only instance admins moderate the instance.", code="not_admin")
        raise Forbidden("Only the community's moderators can do that.", code="not_moderator")


def role_of(viewer: Account, scope: Scope) -> str:
    return "admin" if scope.community is None or viewer.is_admin else "moderator"


# --- rules, targets -----------------------------------------------------------


def cited_rule(ctx: Ctx, scope: Scope, rule_id: int | None) -> Rule:
    """The rule an action cites: the instance's, or in a community also its own."""
    rule = get_row(ctx.db, Rule, rule_id)
    allowed = {None} if scope.community is None else {None, scope.community_id}
    if rule is None or rule.community_id not in allowed:
        raise Invalid("Cite one of this scope's rules.", code="invalid_rule")
    return rule


def rule_number(ctx: Ctx, rule_ids: list[int]) -> dict[int, Rule]:
    ids = [i for i in rule_ids if isinstance(i, int)]
    if not ids:
        return {}
    return {r.id: r for r in ctx.db.exec(select(Rule).where(col(Rule.id).in_(ids)))}


@dataclass
class Target:
    """What an action is about, resolved: its row, whose it is, its community."""

    type: str
    id: int | None
    row: Post | Artifact | Statement | Account | Community | None
    account: Account | None
    community_id: int | None
    domain: str = ""


def _handle(ctx: Ctx, account: Account) -> str:
    return f"@{account.username}@{account.domain or ctx.settings.domain}"


def resolve_target(ctx: Ctx, type_: str, ident: int | str | None) -> Target:
    """The target a request names; unknown ones are 404, never a 500."""
    if type_ not in TARGET_TYPES:
        raise Invalid(f"A target is one of: {', '.join(TARGET_TYPES)}.", code="invalid_target")
    if type_ == "domain":
        domain = peers.validate_domain(str(ident or ""))
        return Target("domain", None, None, None, None, domain)
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise Invalid("This target's id is a number.", code="invalid_target")
    model: type[Post | Artifact | Statement | Account | Community] = {  # type: ignore[assignment]
        "post": Post,
        "artifact": Artifact,
        "statement": Statement,
        "account": Account,
        "community": Community,
    }[type_]
    row = get_row(ctx.db, model, ident)
    if row is None:
        raise NotFound("There is no such target.", code="target_not_found")
    if isinstance(row, Account):
        return Target(type_, row.id, row, row, None)
    if isinstance(row, Community):
        return Target(type_, row.id, row, None, row.id)
    community_id = getattr(row, "community_id", None)
    if isinstance(row, Statement):
        artifact = ctx.db.get(Artifact, row.artifact_id)
        community_id = artifact.community_id if artifact is not None else None
    return Target(type_, row.id, row, ctx.db.get(Account, row.author_id), community_id)


def label_of(ctx: Ctx, target: Target) -> str:
    """What the public log shows of a target: never its content."""
    if target.type == "domain":
        return target.domain
    if isinstance(target.row, Community):
        return f"!{target.row.handle}"
    if target.type == "account" and target.account is not None:
        return _handle(ctx, target.account)
    by = f" by {_handle(ctx, target.account)}" if target.account is not None else ""
    return f"{'an' if target.type == 'artifact' else 'a'} {target.type}{by}"


def excerpt_of(target: Target) -> str:
    """A short excerpt of reported content, for moderators only."""
    row = target.row
    if isinstance(row, Post):
        text = " ".join(filter(None, [row.title or "", row.text]))
    elif isinstance(row, Artifact):
        text = row.title
    elif isinstance(row, Statement):
        text = row.text
    else:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 1] + "…"


# --- bans ---------------------------------------------------------------------


def _ban(ctx: Ctx, community: Community, account: Account, until: datetime | None) -> None:
    """Record (or renew) the ban and end the membership."""
    ban = ctx.db.exec(
        select(CommunityBan).where(
            col(CommunityBan.community_id) == community.id,
            col(CommunityBan.account_id) == account.id,
        )
    ).first() or CommunityBan(community_id=community.id, account_id=account.id)
    ban.expires_at, ban.created_at = until, utcnow()
    ctx.db.add(ban)
    membership = communities.membership(ctx, account, community)
    if membership is not None:
        ctx.db.delete(membership)
    ctx.db.flush()


def lift_ban(ctx: Ctx, community: Community, account: Account) -> None:
    for ban in ctx.db.exec(
        select(CommunityBan).where(
            col(CommunityBan.community_id) == community.id,
            col(CommunityBan.account_id) == account.id,
        )
    ):
        ctx.db.delete(ban)
    ctx.db.flush()


def bans(ctx: Ctx, community: Community) -> list[tuple[CommunityBan, Account]]:
    """The bans that still hold, newest first."""
    now = utcnow()
    return list(
        ctx.db.exec(
            select(CommunityBan, Account)
            .join(Account, col(Account.id) == col(CommunityBan.account_id))
            .where(
                col(CommunityBan.community_id) == community.id,
                or_(col(CommunityBan.expires_at).is_(None), col(CommunityBan.expires_at) > now),
            )
            .order_by(col(CommunityBan.created_at).desc())
        )
    )


# --- acting -------------------------------------------------------------------


def check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(
            "Give a reason: the member and the public log read it.", code="reason_required"
        )
    if len(reason) > MAX_REASON:
        raise Invalid(f"Reasons are at most {MAX_REASON:,} characters.", code="reason_too_long")
    return reason


def _until(action: str, duration_hours: float | None) -> datetime | None:
    if duration_hours is None:
        return None
    if action not in TIMED:
        raise Invalid("Only bans and suspensions last for a time.", code="invalid_duration")
    if (
        isinstance(duration_hours, bool)
        or not isinstance(duration_hours, int | float)
        or not 0 < duration_hours <= MAX_DURATION_HOURS
    ):
        raise Invalid(
            f"A duration is more than 0 and at most {MAX_DURATION_HOURS:,} hours.",
            code="invalid_duration",
        )
    return utcnow() + timedelta(hours=duration_hours)


def act(
    ctx: Ctx,
    actor: Account,
    *,
    action: str,
    target_type: str,
    target_id: int | str | None,
    rule_id: int | None,
    reason: str,
    report_id: int | None = None,
    scope: str | None = None,
    duration_hours: float | None = None,
) -> ModerationAction:
    """Take one moderation action: check who may, apply its effect, log it once,
    settle the reports on its target, and tell the member acted on."""
    if action not in ACTIONS:
        raise Invalid(f"An action is one of: {', '.join(ACTIONS)}.", code="invalid_action")
    report = None
    if report_id is not None:
        report = get_row(ctx.db, Report, report_id)
        if report is None:
            raise NotFound("No such report.", code="report_not_found")
    target = resolve_target(ctx, target_type, target_id)
    if report is not None and (report.target_type, report.target_id) != (target.type, target.id):
        raise Invalid("That report is about another target.", code="report_mismatch")
    where = _scope_for(ctx, action, target, scope)
    require_moderator(ctx, actor, where)
    if action not in (INSTANCE_ACTIONS if where.community is None else COMMUNITY_ACTIONS):
        raise Invalid(f"“{action}” is not an action of this scope.", code="invalid_action")
    rule = cited_rule(ctx, where, rule_id)
    reason = check_reason(reason)
    until = _until(action, duration_hours)
    if where.community is not None and target.community_id not in (None, where.community_id):
        raise Forbidden("That is not in this community.", code="not_in_community")
    logged = ModerationAction(
        community_id=where.community_id,
        actor_id=actor.id,
        actor_role=role_of(actor, where),
        action=action,
        target_type=target.type,
        target_id=target.id,
        target_account_id=target.account.id if target.account else None,
        target_label=label_of(ctx, target),
        excerpt=excerpt_of(target),
        rule_id=rule.id,
        rule_text=rule.text,
        reason=reason,
        report_id=report.id if report else None,
        expires_at=until,
    )
    _apply(ctx, actor, where, target, logged)
    ctx.db.add(logged)
    ctx.db.flush()
    _settle_reports(ctx, target, report, "dismissed" if action == "dismiss" else "actioned")
    events.emit(ctx, "moderation.acted", action=logged)
    if action == "suspend" and target.account is not None:
        accounts.set_active(ctx, target.account, False)
    return logged


def _scope_for(ctx: Ctx, action: str, target: Target, raw: str | None) -> Scope:
    """The scope named, or the target's: its community, else the instance."""
    if raw:
        return parse_scope(ctx, raw)
    if action in ("ban", "unban"):
        raise Invalid("A ban names its community: scope “community:NAME”.", code="invalid_scope")
    if action in INSTANCE_ACTIONS and action not in COMMUNITY_ACTIONS:
        return Scope(None)
    community = ctx.db.get(Community, target.community_id) if target.community_id else None
    return Scope(community)


def _member(target: Target) -> Account:
    if target.account is None:
        raise Invalid("This action is taken on a member or their content.", code="invalid_target")
    return target.account


def _apply(
    ctx: Ctx, actor: Account, where: Scope, target: Target, logged: ModerationAction
) -> None:
    action = logged.action
    if action in ("dismiss", "warn"):
        if action == "warn":
            _member(target)
        return
    if action == "remove":
        _remove(ctx, actor, target)
    elif action in ("ban", "unban"):
        assert where.community is not None
        member = _member(target)
        if action == "ban":
            if communities.can_moderate(ctx, member, where.community):
                raise Invalid(
                    "Moderators are not banned; change their role first.", code="ban_moderator"
                )
            _ban(ctx, where.community, member, logged.expires_at)
        else:
            logged.reverses_id = _last_id(ctx, where.community_id, member.id, "ban")
            lift_ban(ctx, where.community, member)
    elif action in ("suspend", "unsuspend"):
        member = _member(target)
        if member.id == actor.id:
            raise Invalid("You can't suspend yourself.", code="self_suspend")
        if action == "unsuspend":
            logged.reverses_id = _last_id(ctx, None, member.id, "suspend")
            accounts.set_active(ctx, member, True)
        # a suspension takes effect after the member is told (see act)
    else:
        domain = _domain_of(ctx, target)
        logged.target_type, logged.target_id, logged.target_label = "domain", None, domain
        logged.target_account_id = None
        if action.endswith("suspend_domain"):
            peers.set_blocked(ctx, actor, domain, action == "suspend_domain", logged.reason[:500])
        else:
            peer = ctx.db.get(PeerDomain, domain) or PeerDomain(domain=domain)
            peer.limited = action == "limit_domain"
            ctx.db.add(peer)


def _domain_of(ctx: Ctx, target: Target) -> str:
    domain = target.domain or (target.account.domain if target.account else "")
    if not domain or domain == ctx.settings.domain:
        raise Invalid("Domain actions are taken on another instance.", code="invalid_target")
    return domain


def _remove(ctx: Ctx, actor: Account, target: Target) -> None:
    """A post is tombstoned (a local one's Delete federates through the posts
    service's own events; a remote one is hidden here). Artifacts and statements
    keep every revision and stance, so removal is not offered for them."""
    if not isinstance(target.row, Post):
        raise Invalid(
            "Only posts are removed; for artifacts and statements warn or ban the member.",
            code="not_removable",
        )
    if target.row.is_deleted:
        return
    author = target.account
    if author is not None and author.is_local:
        posts.delete_post(ctx, actor, target.row.id)
    else:
        posts.delete_remote(ctx, target.row)


def _last_id(ctx: Ctx, community_id: int | None, account_id: int, action: str) -> int | None:
    return ctx.db.exec(
        select(col(ModerationAction.id))
        .where(
            col(ModerationAction.community_id) == community_id
            if community_id is not None
            else col(ModerationAction.community_id).is_(None),
            col(ModerationAction.target_account_id) == account_id,
            col(ModerationAction.action) == action,
        )
        .order_by(col(ModerationAction.id).desc())
    ).first()


def _settle_reports(ctx: Ctx, target: Target, report: Report | None, state: str) -> None:
    now = utcnow()
    q = select(Report).where(col(Report.state) == "open")
    if target.id is not None:
        q = q.where(col(Report.target_type) == target.type, col(Report.target_id) == target.id)
    else:
        q = q.where(col(Report.id) == (report.id if report else 0))
    settled = list(ctx.db.exec(q))
    if report is not None and report.state == "open" and report not in settled:
        settled.append(report)
    for r in settled:
        r.state, r.resolved_at = state, now
        ctx.db.add(r)


@events.on("moderation.acted")
def _schedule_lapse(ctx: Ctx, action: ModerationAction) -> None:
    """A suspension for a time ends by itself: a job lifts it when it lapses."""
    if action.action == "suspend" and action.expires_at is not None:
        jobs.enqueue(ctx, "moderation.lapse", {"action": action.id}, run_at=action.expires_at)


@jobs.handler("moderation.lapse")
def lapse(ctx: Ctx, payload: dict) -> None:
    """Lift a timed suspension, unless it was lifted or replaced since."""
    action = ctx.db.get(ModerationAction, payload.get("action"))
    if action is None or action.expires_at is None or action.target_account_id is None:
        return
    if action.expires_at > utcnow() + timedelta(seconds=1):
        raise jobs.RetryAt(action.expires_at, "not due yet", free=True)
    latest = _last_any(ctx, action.target_account_id)
    member = ctx.db.get(Account, action.target_account_id)
    if latest == action.id and member is not None and not member.is_active:
        accounts.set_active(ctx, member, True)


def _last_any(ctx: Ctx, account_id: int) -> int | None:
    """The newest instance suspension (or its lifting) of this member."""
    return ctx.db.exec(
        select(col(ModerationAction.id))
        .where(
            col(ModerationAction.community_id).is_(None),
            col(ModerationAction.target_account_id) == account_id,
            col(ModerationAction.action).in_(("suspend", "unsuspend", "appeal_granted")),
        )
        .order_by(col(ModerationAction.id).desc())
    ).first()


# --- the queue ----------------------------------------------------------------


@dataclass
class QueueReport:
    report: Report
    rules: list[Rule]
    extra_post_ids: list[int]


@dataclass
class QueueEntry:
    """One reported target with every open report on it and what the log knows."""

    target_type: str
    target_id: int
    label: str
    excerpt: str
    account: Account | None
    community: Community | None
    reports: list[QueueReport]
    prior: list[ModerationAction]

    @property
    def count(self) -> int:
        return len(self.reports)


def _json_ids(raw: str) -> list[int]:
    try:
        found = json.loads(raw or "[]")
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    return [i for i in found if isinstance(i, int) and not isinstance(i, bool)]


def queue(ctx: Ctx, viewer: Account | None, scope: Scope, *, limit: int = 100) -> list[QueueEntry]:
    """Open reports of the scope grouped by target, oldest report first; the
    instance's queue holds every open report, a community's only its own."""
    require_moderator(ctx, viewer, scope)
    q = select(Report).where(col(Report.state) == "open")
    if scope.community is not None:
        q = q.where(col(Report.community_id) == scope.community_id)
    reports = list(ctx.db.exec(q.order_by(col(Report.created_at), col(Report.id)).limit(1000)))
    groups: dict[tuple[str, int], list[Report]] = {}
    for r in reports:
        groups.setdefault((r.target_type, r.target_id), []).append(r)
    rules = rule_number(ctx, [i for r in reports for i in _json_ids(r.rule_ids)])
    out = []
    for (type_, ident), found in list(groups.items())[:limit]:
        try:
            target = resolve_target(ctx, type_, ident)
        except (Invalid, NotFound):
            target = Target(type_, ident, None, None, found[0].community_id)
        if target.account is None and found[0].target_account_id:
            target.account = ctx.db.get(Account, found[0].target_account_id)
        community_id = found[0].community_id
        out.append(
            QueueEntry(
                target_type=type_,
                target_id=ident,
                label=label_of(ctx, target),
                excerpt=excerpt_of(target),
                account=target.account,
                community=ctx.db.get(Community, community_id) if community_id else None,
                reports=[
                    QueueReport(
                        r,
                        [rules[i] for i in _json_ids(r.rule_ids) if i in rules],
                        _json_ids(r.extra_post_ids),
                    )
                    for r in found
                ],
                prior=_prior(ctx, type_, ident, target.account),
            )
        )
    return out


def _prior(ctx: Ctx, type_: str, ident: int, account: Account | None) -> list[ModerationAction]:
    """Earlier actions on this target, and on its member, newest first."""
    on_target = and_(
        col(ModerationAction.target_type) == type_, col(ModerationAction.target_id) == ident
    )
    cond = (
        or_(on_target, col(ModerationAction.target_account_id) == account.id)
        if account is not None
        else on_target
    )
    return list(
        ctx.db.exec(
            select(ModerationAction)
            .where(cond)
            .order_by(col(ModerationAction.created_at).desc(), col(ModerationAction.id).desc())
            .limit(20)
        )
    )


def open_appeals(
    ctx: Ctx, viewer: Account | None, scope: Scope
) -> list[tuple[Appeal, ModerationAction, Account]]:
    """The scope's appeals waiting for a moderator, oldest first."""
    require_moderator(ctx, viewer, scope)
    in_scope = (
        col(ModerationAction.community_id).is_(None)
        if scope.community is None
        else col(ModerationAction.community_id) == scope.community_id
    )
    return list(
        ctx.db.exec(
            select(Appeal, ModerationAction, Account)
            .join(ModerationAction, col(ModerationAction.id) == col(Appeal.action_id))
            .join(Account, col(Account.id) == col(Appeal.account_id))
            .where(col(Appeal.state) == "open", in_scope)
            .order_by(col(Appeal.created_at), col(Appeal.id))
        )
    )


def get_action(ctx: Ctx, action_id: int) -> ModerationAction:
    action = get_row(ctx.db, ModerationAction, action_id)
    if action is None:
        raise NotFound("No such moderation action.", code="action_not_found")
    return action


def scope_of(ctx: Ctx, action: ModerationAction) -> Scope:
    community = ctx.db.get(Community, action.community_id) if action.community_id else None
    return Scope(community)


# --- what a remote community's moderators did (FEP-1b12, see federation/moderation.py)


@dataclass(frozen=True)
class Grounds:
    """Why a remote Group acted, as it said: its reason and the words of the rule it
    cited (plain text, already cut to the log's lengths)."""

    reason: str = ""
    rule_text: str = ""


def _remote_entry(
    ctx: Ctx,
    group: Community,
    action: str,
    target: Target,
    grounds: Grounds,
    until: datetime | None = None,
) -> ModerationAction:
    """Record a remote Group's action in that community's log here."""
    logged = ModerationAction(
        reason=grounds.reason[:MAX_REASON],
        rule_text=grounds.rule_text[: rules.MAX_RULE],
        community_id=group.id,
        actor_role="remote moderator",
        origin_domain=group.domain,
        action=action,
        target_type=target.type,
        target_id=target.id,
        target_account_id=target.account.id if target.account else None,
        target_label=label_of(ctx, target),
        excerpt=excerpt_of(target),
        expires_at=until,
    )
    ctx.db.add(logged)
    ctx.db.flush()
    events.emit(ctx, "moderation.acted", action=logged)
    return logged


def remote_removal(
    ctx: Ctx, group: Community, post: Post, grounds: Grounds
) -> ModerationAction | None:
    """A remote Group removed a post in its own community: tombstone our copy (ours
    too, when one of our members wrote it: the thread is the Group's) and log it.
    A Group moderates only its own threads."""
    if not group.domain or post.community_id != group.id:
        raise Forbidden("A community moderates only its own threads.", code="not_in_community")
    target = resolve_target(ctx, "post", post.id)
    done = ctx.db.exec(
        select(ModerationAction).where(
            col(ModerationAction.community_id) == group.id,
            col(ModerationAction.target_type) == "post",
            col(ModerationAction.target_id) == post.id,
            col(ModerationAction.action) == "remove",
        )
    ).first()
    if done is not None:
        return None  # the same Delete again
    logged = _remote_entry(ctx, group, "remove", target, grounds)
    posts.delete_remote(ctx, post)
    return logged


def remote_ban(
    ctx: Ctx,
    group: Community,
    member: Account,
    until: datetime | None,
    grounds: Grounds,
    *,
    lifted: bool = False,
) -> ModerationAction:
    """A remote Group banned (or, ``lifted``, unbanned) a member: kept here too, so
    our member can't post there through us meanwhile."""
    if not group.domain:
        raise Forbidden("Only a remote community's Group bans from it.", code="not_in_community")
    target = resolve_target(ctx, "account", member.id)
    if lifted:
        lift_ban(ctx, group, member)
        return _remote_entry(ctx, group, "unban", target, grounds)
    _ban(ctx, group, member, until)
    return _remote_entry(ctx, group, "ban", target, grounds, until)

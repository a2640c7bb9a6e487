"""Instance rules and community rules: short numbered texts that sign-up, joining
and (later) reports and moderation actions cite.

Instance admins edit the instance's; a community's moderators (and instance admins)
edit the community's. An edit gives the whole list; a rule keeps its id while its
number stays, so what cited "rule 2" still finds it after a rewording."""

from __future__ import annotations

from sqlmodel import col, select

from app.errors import Forbidden, Invalid
from app.models import Account, Community, Rule, utcnow
from app.services import Ctx, communities

MAX_RULES = 20
MAX_RULE = 500


def of(ctx: Ctx, community: Community | None = None) -> list[Rule]:
    """The rules in order: the instance's (``community`` None) or a community's."""
    where = (
        col(Rule.community_id).is_(None)
        if community is None
        else col(Rule.community_id) == community.id
    )
    return list(ctx.db.exec(select(Rule).where(where).order_by(col(Rule.position))))


def replace(ctx: Ctx, editor: Account, community: Community | None, texts: list[str]) -> list[Rule]:
    """Set the whole list (blank lines of a form are dropped by the caller)."""
    if community is None and not editor.is_admin:
        raise Forbidden("Only instance admins edit the instance's rules.", code="not_admin")
    if community is not None:
        communities.require_role(ctx, editor, community, "moderator")
    texts = [(t or "").strip() for t in texts]
    if len(texts) > MAX_RULES:
        raise Invalid(f"At most {MAX_RULES} rules.", code="too_many_rules")
    for number, text in enumerate(texts, 1):
        if not text:
            raise Invalid(f"Rule {number} is empty.", code="empty_rule")
        if len(text) > MAX_RULE:
            raise Invalid(
                f"Rule {number} is longer than {MAX_RULE} characters.", code="rule_too_long"
            )
    current = of(ctx, community)
    for rule, text in zip(current, texts, strict=False):
        if rule.text != text:
            rule.text, rule.updated_at = text, utcnow()
            ctx.db.add(rule)
    for rule in current[len(texts) :]:
        ctx.db.delete(rule)
    for position in range(len(current) + 1, len(texts) + 1):
        community_id = community.id if community is not None else None
        ctx.db.add(Rule(community_id=community_id, position=position, text=texts[position - 1]))
    ctx.db.flush()
    return of(ctx, community)


def from_lines(text: str) -> list[str]:
    """A form's textarea, one rule per line, blank lines ignored."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]

"""A small instance for the moderation tests: root (instance admin), mod (the
garden's moderator), ada (a member who posts), bob (a member, no moderator), one
instance rule and one garden rule, ada's post in the garden, and helpers to file
reports directly (the report form is another part of the work) and to act."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from app.models import Report
from app.services import accounts, communities, posts, rules
from tests.conftest import PASSWORD


@dataclass
class World:
    tokens: dict[str, dict]
    ids: dict[str, int]  # account ids by name
    instance_rule: int
    garden_rule: int
    post: int  # ada's thread in the garden
    garden: int


def token(client: TestClient, name: str) -> dict:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def make_world(client: TestClient, new_ctx) -> World:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        owner = accounts.register(ctx, "owner", PASSWORD)
        mod = accounts.register(ctx, "mod", PASSWORD)
        ada = accounts.register(ctx, "ada", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        garden = communities.create(ctx, owner, "garden")
        for person in (mod, ada, bob):
            communities.join(ctx, person, garden)
        communities.set_role(ctx, owner, garden, "mod", "moderator")
        (instance_rule,) = rules.replace(ctx, root, None, ["Be kind."])
        (garden_rule,) = rules.replace(ctx, owner, garden, ["Only gardens."])
        post = posts.create(ctx, ada, "Buy my pills", community="garden", title="Pills")
        ids = {a.username: a.id for a in (root, owner, mod, ada, bob)}
        world = World({}, ids, instance_rule.id, garden_rule.id, post.id, garden.id)
    world.tokens = {name: token(client, name) for name in ("root", "mod", "ada", "bob")}
    return world


def report(
    new_ctx,
    world: World,
    *,
    target_type: str = "post",
    target_id: int | None = None,
    account: str = "ada",
    community: bool = True,
    comment: str = "spam",
    reporter: str = "bob",
    origin: str = "",
) -> int:
    """A report row, as the reports service would file it."""
    with new_ctx() as ctx:
        row = Report(
            reporter_id=world.ids[reporter] if not origin else None,
            origin_domain=origin,
            target_type=target_type,
            target_id=target_id or world.post,
            target_account_id=world.ids[account],
            community_id=world.garden if community else None,
            rule_ids=f"[{world.garden_rule}]" if community else f"[{world.instance_rule}]",
            comment=comment,
        )
        ctx.db.add(row)
        ctx.db.flush()
        return row.id


def act(client: TestClient, world: World, who: str, **body):
    body.setdefault("target", {"type": "post", "id": world.post})
    body.setdefault("rule", world.garden_rule)
    body.setdefault("reason", "Spam is not gardening.")
    return client.post("/api/cg/v1/moderation/actions", json=body, headers=world.tokens[who])

"""The module contract and the built-in ranking modules."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import contract
from algorithms.builtin import NAMES, source_of
from algorithms.lint import lint
from algorithms.runner import Module, RunFailed, run

NOW = 1_800_000_000.0


def make_item(i: int, **over: object) -> dict:
    item = {
        "id": f"https://cg.example/posts/{i}",
        "kind": "post",
        "author": f"https://cg.example/users/u{i % 5}",
        "community": None,
        "created_at": NOW - i * 600.0,
        "text": f"post {i}",
        "tags": [],
        "reply_count": 0,
        "repliers": 0,
        "reactions": {"like": 0, "agree": 0, "disagree": 0, "pass": 0},
        "is_reply": False,
        "origin": "cg.example",
    }
    item.update(over)
    return item


def context(ratings: list | None = None) -> dict:
    return {
        "now": NOW,
        "viewer": None,
        "following": [],
        "communities": [],
        "ratings": ratings or [],
        "limit": 20,
    }


items_strategy = st.lists(
    st.builds(
        lambda i, age, replies, repliers, text: make_item(
            i, created_at=NOW - age, reply_count=replies, repliers=min(repliers, replies), text=text
        ),
        st.integers(0, 10_000),
        st.floats(0, 10 * 86400),
        st.integers(0, 50),
        st.integers(0, 50),
        st.text(max_size=40),
    ),
    max_size=60,
    unique_by=lambda it: it["id"],
)


@pytest.mark.parametrize("name", NAMES)
def test_builtins_pass_the_linter(name: str) -> None:
    assert lint(source_of(name)) == []


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(items=items_strategy)
def test_builtins_honour_the_contract(name: str, items: list[dict]) -> None:
    result = run(Module.builtin_module(name), items, context(), {}, None)
    assert {r.item_id for r in result.ranked} <= {it["id"] for it in items}
    scores = [r.score for r in result.ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(r.why for r in result.ranked)


@settings(max_examples=30, deadline=None)
@given(items=items_strategy)
def test_chronological_is_newest_first(items: list[dict]) -> None:
    ranked = run(Module.builtin_module("chronological"), items, context(), {}, None).ranked
    created = [next(it["created_at"] for it in items if it["id"] == r.item_id) for r in ranked]
    assert created == sorted(created, reverse=True) and len(ranked) == len(items)


def test_recent_discussion_rewards_many_repliers() -> None:
    one_voice = make_item(1, reply_count=5, repliers=1)
    many_voices = make_item(2, reply_count=5, repliers=5, created_at=one_voice["created_at"])
    ranked = run(
        Module.builtin_module("recent_discussion"), [one_voice, many_voices], context(), {}, None
    ).ranked
    assert [r.item_id for r in ranked] == [many_voices["id"], one_voice["id"]]
    assert ranked[0].why["distinct repliers"] == 5


def test_needs_answers_puts_open_questions_first() -> None:
    answered = make_item(1, text="Where do we meet?", reply_count=9)
    open_q = make_item(2, text="Who can bring a ladder?", created_at=NOW - 3600)
    statement = make_item(3, text="Meeting went well.", created_at=NOW)
    ranked = run(
        Module.builtin_module("needs_answers"), [answered, open_q, statement], context(), {}, None
    ).ranked
    assert ranked[0].item_id == open_q["id"]


def two_factions(seed: int = 7) -> tuple[list[dict], list[list], dict[str, str]]:
    rng = random.Random(seed)
    left = [f"https://a.example/users/l{i}" for i in range(25)]
    right = [f"https://b.example/users/r{i}" for i in range(25)]
    kinds: dict[str, str] = {}
    ratings: list[list] = []

    def rate(raters: list[str], item: str, value: float) -> None:
        ratings.extend([u, item, value] for u in raters if rng.random() < 0.8)

    items = []
    for _k in range(4):
        for kind in ("bridge", "left", "right", "disliked"):
            item = make_item(len(items))
            items.append(item)
            kinds[item["id"]] = kind
            if kind == "bridge":
                rate(left + right, item["id"], 1)
            elif kind == "left":
                rate(left, item["id"], 1)
                rate(right, item["id"], -1)
            elif kind == "right":
                rate(right, item["id"], 1)
                rate(left, item["id"], -1)
            else:
                rate(left + right, item["id"], -1)
    return items, ratings, kinds


def test_bridging_ranks_cross_faction_items_first() -> None:
    items, ratings, kinds = two_factions()
    ranked = run(Module.builtin_module("bridging"), items, context(ratings), {}, None).ranked
    order = [kinds[r.item_id] for r in ranked]
    bridges = [i for i, k in enumerate(order) if k == "bridge"]
    partisan = [i for i, k in enumerate(order) if k in ("left", "right")]
    disliked = [i for i, k in enumerate(order) if k == "disliked"]
    assert max(bridges) < min(partisan) and max(partisan) < min(disliked), order
    by_id = {r.item_id: r for r in ranked}
    polarity = {kinds[i]: abs(by_id[i].why["polarity"]) for i in by_id}
    assert polarity["left"] > 5 * polarity["bridge"]  # partisanship shows up as polarity
    assert all("intercept (bridging)" in r.why for r in ranked)


def test_bridging_without_ratings_falls_back_to_recency() -> None:
    items = [make_item(i) for i in range(5)]
    ranked = run(Module.builtin_module("bridging"), items, context(), {}, None).ranked
    assert [r.item_id for r in ranked] == [it["id"] for it in items]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"a": 1}, "iterable"),
        ([("x", 1.0, {})], "not one of the candidates"),
        ([("https://cg.example/posts/0", float("nan"), {})], "finite"),
        ([("https://cg.example/posts/0", True, {})], "number"),
        ([("https://cg.example/posts/0", 1.0, {"f": "high"})], "finite number"),
        ([("https://cg.example/posts/0", 1.0)], "triple"),
    ],
)
def test_output_validation(raw: object, message: str) -> None:
    with pytest.raises(contract.ContractError, match=message):
        contract.validate_output(raw, {"https://cg.example/posts/0"})


def test_parameter_overrides_are_checked() -> None:
    defaults = {"half_life_hours": 12.0, "label": "x"}
    assert contract.merge_params(defaults, {"half_life_hours": 3}) == {
        "half_life_hours": 3,
        "label": "x",
    }
    with pytest.raises(contract.ContractError, match="unknown"):
        contract.merge_params(defaults, {"other": 1})
    with pytest.raises(contract.ContractError, match="str"):
        contract.merge_params(defaults, {"label": 3})
    with pytest.raises(contract.ContractError, match="finite"):
        contract.merge_params(defaults, {"half_life_hours": float("inf")})


def test_a_submitted_module_without_a_sandbox_is_refused() -> None:
    module = Module.from_source(source_of("chronological"), "copy")
    with pytest.raises(RunFailed) as failed:
        run(module, [make_item(1)], context(), {}, None)
    assert failed.value.kind == "unavailable"

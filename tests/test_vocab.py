"""The helpers every federation module reads ActivityStreams values through.

JSON-LD lets any property hold one value or a list of them (``"type": ["Note",
"Article"]``, ``"actor": ["https://…"]``), and a link be a string or an object
with an ``id``. Each kind of value has one helper (federation/vocab.py); these
tables pin what each makes of the shapes found in the wild and of hostile ones.
"""

from __future__ import annotations

import pytest

from federation import vocab

A = "https://a.example/users/ann"
B = "https://b.example/users/bob"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "Note"}, {"Note"}),
        ({"type": ["Note", "Article"]}, {"Note", "Article"}),
        ({"type": ["Person"]}, {"Person"}),
        ({"type": ["Note", 7, None, {"x": 1}]}, {"Note"}),  # only strings count
        ({"type": []}, set()),
        ({"type": 7}, set()),
        ({"type": None}, set()),
        ({}, set()),
        ("Note", set()),  # not an object
        (["Note"], set()),
        (None, set()),
    ],
)
def test_types_of_reads_a_string_or_a_list(obj: object, expected: set[str]) -> None:
    assert vocab.types_of(obj) == frozenset(expected)


def test_is_type_is_any_member() -> None:
    assert vocab.is_type({"type": ["Note", "Article"]}, "Article")
    assert vocab.is_type({"type": "Question"}, "Note", "Question")
    assert not vocab.is_type({"type": ["Note"]}, "Article", "Page")
    assert not vocab.is_type({"type": [["Note"]]}, "Note")  # a list in a list is no type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Create", "Create"),
        (["Create"], "Create"),
        (["Create", "cg:Extra"], "Create"),  # one known member: that one
        (["Foo", "Bar"], None),  # none known
        (["Create", "Delete"], None),  # two known: ambiguous, so neither
        ("Foo", None),
        (7, None),
    ],
)
def test_kind_of_is_the_one_known_member(value: object, expected: str | None) -> None:
    assert vocab.kind_of({"type": value}, {"Create", "Delete", "Follow"}) == expected


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Create", True),
        (["Create"], True),
        (["Note", "Article"], True),
        (["Foo"], True),  # unknown types are accepted (and ignored later)
        (7, False),
        (None, False),
        ([], False),
        (["Create", 7], False),
        ([["Create"]], False),
        ("x" * 41, False),
        (["Create", "x" * 41], False),
        (["T"] * 9, False),  # a handful at most
        ("", False),
    ],
)
def test_valid_type(value: object, ok: bool) -> None:
    assert vocab.valid_type(value) is ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (A, A),
        ({"id": A, "type": "Person"}, A),
        ([A], A),
        ([{"id": A}], A),
        ([A, B], None),  # several: not one
        ([], None),
        ({"type": "Person"}, None),  # an object without an id
        ({"id": 7}, None),
        (7, None),
        (None, None),
        ([[A]], None),
    ],
)
def test_id_of_is_one_link(value: object, expected: str | None) -> None:
    assert vocab.id_of(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (A, [A]),
        ({"id": A}, [{"id": A}]),
        ([A, B], [A, B]),
        ([], []),
    ],
)
def test_as_list_makes_one_value_a_list(value: object, expected: list) -> None:
    assert vocab.as_list(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (A, [A]),
        ([A, {"id": B}], [A, B]),
        ({"id": A, "type": "Collection"}, [A]),
        ([A, 7, None, {"name": "x"}], [A]),
    ],
)
def test_ids_of_every_link(value: object, expected: list[str]) -> None:
    assert vocab.ids_of(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"id": "x"}, {"id": "x"}),
        ([{"id": "x"}], {"id": "x"}),
        ("x", "x"),
        (["x"], "x"),
        ([{"id": "x"}, {"id": "y"}], None),
        ([], None),
        (None, None),
    ],
)
def test_one_is_a_single_value_or_none(value: object, expected: object) -> None:
    assert vocab.one(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (A, A),
        ({"type": "Link", "href": A}, A),
        ([{"type": "Link", "href": A}, B], A),
        ([B, A], B),
        ([], None),
        ({"href": 7}, None),
        (7, None),
        (None, None),
    ],
)
def test_href_of_is_the_first_url(value: object, expected: str | None) -> None:
    assert vocab.href_of(value) == expected

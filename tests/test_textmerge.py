"""Word diffs, three-way merges and attribution of artifact texts (app/services/textmerge.py).

Pure functions, so these run in milliseconds; they are the tests `make mutation` runs
against this module (docs/quality.md lists the mutants that survive them, and why)."""

from __future__ import annotations

import pytest

from app.services.textmerge import (
    MAX_BLOCK_WORK,
    Conflict,
    _touch,
    attribute,
    diff_stats,
    merge3,
    token_opcodes,
    tokens,
    word_diff,
)


def runs(old: str, new: str) -> list[tuple[str, str]]:
    return [(op.kind, op.text) for op in word_diff(old, new)]


def rebuilt(old: str, new: str) -> tuple[str, str]:
    """Both texts again from the diff: equal + deleted runs give the old one,
    equal + inserted runs the new one."""
    ops = word_diff(old, new)
    return (
        "".join(op.text for op in ops if op.kind != "insert"),
        "".join(op.text for op in ops if op.kind != "delete"),
    )


# --- word_diff ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("one\ntwo\nthree\n", "one\nTWO\nthree\n"),
        ("keep\nfirst line\nsecond line\nkeep\n", "keep\nfirst LINE\nsecond line!\nkeep\n"),
        ("a\nb\nc\nd\n", "a\nx\ny\nz\nd\n"),  # two lines become three
        ("head\nb\nc\n", "head\nc\n"),
        ("", "all new\ntext\n"),
        ("all gone\n", ""),
        ("no newline at the end", "no newline at all"),
    ],
)
def test_a_word_diff_gives_back_both_texts(old: str, new: str) -> None:
    assert rebuilt(old, new) == (old, new)


def test_an_insertion_is_only_an_insertion() -> None:
    assert runs("the rain falls", "the cold rain falls") == [
        ("equal", "the"),
        ("insert", " cold"),
        ("equal", " rain falls"),
    ]


def test_a_deletion_is_only_a_deletion_and_keeps_every_word_it_removed() -> None:
    assert runs("the very cold rain", "the rain") == [
        ("equal", "the "),
        ("delete", "very cold "),
        ("equal", "rain"),
    ]


def test_runs_of_the_same_kind_across_lines_read_as_one() -> None:
    """Two lines edited in place: the unchanged end of the first and start of the
    second are one equal run, not two."""
    assert runs("one two\nthree four\n", "one TWO\nthree FOUR\n") == [
        ("equal", "one "),
        ("delete", "two"),
        ("insert", "TWO"),
        ("equal", "\nthree "),
        ("delete", "four"),
        ("insert", "FOUR"),
        ("equal", "\n"),
    ]


def long_line(words: int) -> str:
    return " ".join(f"w{i}" for i in range(words))  # 2 * words - 1 tokens


def test_a_block_at_the_work_limit_is_still_compared_word_by_word() -> None:
    old = long_line(250) + "."  # 500 tokens
    new = long_line(250) + "!"
    assert len(tokens(old)) * len(tokens(new)) == MAX_BLOCK_WORK
    assert runs(old, new) == [("equal", long_line(250)), ("delete", "."), ("insert", "!")]


def test_a_block_past_the_work_limit_is_replaced_whole() -> None:
    old = long_line(300) + "."  # 600 tokens: 600 * 600 > MAX_BLOCK_WORK
    new = long_line(300) + "!"
    assert runs(old, new) == [("delete", old), ("insert", new)]


def test_lines_edited_in_place_are_compared_pair_by_pair() -> None:
    """Each pair stays under the work limit, though both lines together would not:
    so the diff is word by word, after an unchanged first line."""
    first, second = long_line(200), long_line(200).replace("w0", "v0")
    old = f"title\n{first}\n{second}\nend\n"
    new = f"title\n{first}.\n{second}!\nend\n"
    ops = runs(old, new)
    assert [op for op in ops if op[0] != "equal"] == [("insert", "."), ("insert", "!")]
    assert rebuilt(old, new) == (old, new)


def test_a_repeated_word_in_a_long_line_is_not_treated_as_noise() -> None:
    """difflib's autojunk would ignore a token making up over 1% of a long sequence
    (here "-" and the spaces) and report the whole line changed."""
    old = "- " * 150 + "end"
    new = "- " * 75 + "new " + "- " * 75 + "end"
    assert [op for op in runs(old, new) if op[0] != "equal"] == [("insert", " new")]
    assert rebuilt(old, new) == (old, new)


def test_a_character_inserted_into_a_long_rule_is_only_an_insertion() -> None:
    """Each "-" is a token of its own: 300 of the same token are still matched."""
    assert runs("-" * 300, "-" * 150 + "x" + "-" * 150) == [
        ("equal", "-" * 150),
        ("insert", "x"),
        ("equal", "-" * 150),
    ]


def test_a_line_inserted_among_many_identical_lines_is_only_an_insertion() -> None:
    old = "- - - - - - - - - -\n" * 300
    new = "- - - - - - - - - -\n" * 150 + "a new line\n" + "- - - - - - - - - -\n" * 150
    ops = runs(old, new)
    assert [op for op in ops if op[0] != "equal"] == [("insert", "a new line\n")]


def test_token_opcodes_speak_difflib() -> None:
    old, new = long_line(300) + ".", long_line(300) + "!"
    a, b, ops = token_opcodes(old, new)
    assert ops == [("replace", 0, len(a), 0, len(b))]
    _, _, ops = token_opcodes("same\nold\n", "same\nnew\n")
    assert ops == [("equal", 0, 2, 0, 2), ("replace", 2, 3, 2, 3), ("equal", 3, 4, 3, 4)]


def test_diff_stats_count_words_not_spaces() -> None:
    ops = word_diff("the rain falls", "the cold, cold rain")
    assert diff_stats(ops) == {"words_added": 3, "words_removed": 1}  # cold , cold / falls
    assert diff_stats(word_diff("same", "same")) == {"words_added": 0, "words_removed": 0}
    two_runs = word_diff("a b c d", "a X b c Y Z d")  # every run counts, not the last
    assert diff_stats(two_runs) == {"words_added": 3, "words_removed": 0}


# --- merge3 ---------------------------------------------------------------------------------

BASE = "title\none\ntwo\nthree\nfour\nend\n"


def test_a_merge_with_no_change_of_mine_takes_theirs() -> None:
    result = merge3(BASE, BASE, BASE.replace("two", "TWO"))
    assert result.text == BASE.replace("two", "TWO") and result.conflicts == []


def test_edits_of_neighbouring_lines_merge() -> None:
    """Adjacent, not overlapping: both keep their change, and every other line stays."""
    mine = BASE.replace("two", "TWO")
    theirs = BASE.replace("three", "THREE")
    result = merge3(BASE, mine, theirs)
    assert result.clean and result.text == "title\none\nTWO\nTHREE\nfour\nend\n"


def test_a_merge_keeps_the_lines_before_the_first_change_and_after_the_last() -> None:
    mine = BASE.replace("one", "ONE")
    theirs = BASE.replace("four", "FOUR")
    assert merge3(BASE, mine, theirs).text == "title\nONE\ntwo\nthree\nFOUR\nend\n"


def test_a_conflict_shows_the_base_and_both_versions_of_the_place() -> None:
    mine = BASE.replace("two\nthree", "2\n3")
    theirs = BASE.replace("two\nthree", "deux\ntrois")
    result = merge3(BASE, mine, theirs)
    assert result.text is None and not result.clean
    assert result.conflicts == [Conflict("two\nthree\n", "2\n3\n", "deux\ntrois\n")]


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (
            "title\none\nmine\ntwo\nthree\nfour\nend\n",
            "title\none\ntheirs\ntwo\nthree\nfour\nend\n",
        ),
        # an insertion at either edge of a line the other side changed: order is ambiguous
        ("title\none\nTWO\nthree\nfour\nend\n", "title\none\nnew\ntwo\nthree\nfour\nend\n"),
        ("title\none\nTWO\nthree\nfour\nend\n", "title\none\ntwo\nnew\nthree\nfour\nend\n"),
        ("title\none\nnew\ntwo\nthree\nfour\nend\n", "title\none\nTWO\nthree\nfour\nend\n"),
        ("title\none\ntwo\nnew\nthree\nfour\nend\n", "title\none\nTWO\nthree\nfour\nend\n"),
    ],
)
def test_insertions_at_the_same_place_conflict(mine: str, theirs: str) -> None:
    assert not merge3(BASE, mine, theirs).clean


def test_a_rewrite_conflicts_with_every_edit_inside_it() -> None:
    """Mine rewrites lines 1-10, theirs edits lines 3 and 6: one conflict, showing
    both of their edits against my rewrite."""
    base = "".join(f"{i}\n" for i in range(12))
    mine = "0\nrewritten\n11\n"
    theirs = base.replace("3\n", "three\n").replace("6\n", "six\n")
    middle = "".join(f"{i}\n" for i in range(1, 11))
    assert merge3(base, mine, theirs).conflicts == [
        Conflict(middle, "rewritten\n", middle.replace("3", "three").replace("6", "six"))
    ]


@pytest.mark.parametrize(
    ("a", "b", "touching"),
    [
        ((2, 2), (2, 2), True),  # two insertions at one point
        ((2, 2), (1, 2), True),  # an insertion at the end of a change
        ((1, 1), (1, 3), True),  # at its start
        ((0, 1), (1, 2), False),  # neighbouring lines
        ((0, 2), (1, 3), True),  # overlapping lines
        ((3, 3), (1, 2), False),
    ],
)
def test_whether_two_changes_touch_does_not_depend_on_which_comes_first(
    a: tuple[int, int], b: tuple[int, int], touching: bool
) -> None:
    assert _touch((*a, []), (*b, [])) is touching
    assert _touch((*b, []), (*a, [])) is touching


def test_changes_one_line_apart_do_not_touch() -> None:
    mine = BASE.replace("one\n", "one\nnew\n")  # an insertion between "one" and "two"
    theirs = BASE.replace("three", "THREE")
    assert merge3(BASE, mine, theirs).text == "title\none\nnew\ntwo\nTHREE\nfour\nend\n"


def test_a_long_text_of_blank_lines_merges_line_by_line() -> None:
    """Many identical lines (blank ones, say) are still lines to match, not noise."""
    base = "x\n" + "\n" * 300
    mine = "x\n" + "\n" * 150 + "mine\n" + "\n" * 150
    theirs = "x\n" + "\n" * 280 + "theirs\n" + "\n" * 20
    result = merge3(base, mine, theirs)
    assert result.text == "x\n" + "\n" * 150 + "mine\n" + "\n" * 130 + "theirs\n" + "\n" * 20


# --- attribute ------------------------------------------------------------------------------


def test_attribution_counts_every_surviving_word_of_each_author() -> None:
    shares = attribute([(1, "one two three"), (2, "one two three four five"), (3, "one two five")])
    assert shares == {1: 2, 2: 1}


def test_no_revisions_credit_nobody() -> None:
    assert attribute([]) == {}

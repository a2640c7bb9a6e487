"""Word-level diffs and line-level three-way merges of artifact texts.

Diffs are shown word by word, so a changed word stands out in a paragraph.
Merges work line by line (paragraphs, list items), as git's do: two people who
edit different lines of a stale base both keep their change; two who change
the same lines differently get a conflict with both versions, never a silent
overwrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


@dataclass(frozen=True)
class Op:
    kind: str  # "equal" | "insert" | "delete"
    text: str


MAX_BLOCK_WORK = 250_000  # tokens × tokens compared word by word in one changed block


def _block_opcodes(a: list[str], b: list[str], ai: int, bj: int) -> list[tuple]:
    """Word-level opcodes for one changed block, offset into the whole token lists;
    a block too big to compare word by word is replaced whole."""
    if len(a) * len(b) > MAX_BLOCK_WORK:
        return [("replace", ai, ai + len(a), bj, bj + len(b))]
    return [
        (tag, ai + i1, ai + i2, bj + j1, bj + j2)
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    ]


def token_opcodes(old: str, new: str) -> tuple[list[str], list[str], list[tuple]]:
    """Opcodes (as difflib's) between the word tokens of two texts, found line by line
    first and then word by word inside changed lines, so that even 50 KB texts with
    changes everywhere compare in milliseconds (a plain word-level comparison is
    quadratic)."""
    a_lines, b_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    a_tok = [tokens(line) for line in a_lines]
    b_tok = [tokens(line) for line in b_lines]
    a_start, b_start = [0], [0]
    for t in a_tok:
        a_start.append(a_start[-1] + len(t))
    for t in b_tok:
        b_start.append(b_start[-1] + len(t))
    ops: list[tuple] = []
    lines = SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in lines.get_opcodes():
        if tag == "equal":
            ops.append(("equal", a_start[i1], a_start[i2], b_start[j1], b_start[j2]))
        elif i2 - i1 == j2 - j1:  # lines edited in place: compare each pair
            for k in range(i2 - i1):
                ops += _block_opcodes(
                    a_tok[i1 + k], b_tok[j1 + k], a_start[i1 + k], b_start[j1 + k]
                )
        else:
            a_block = [t for line in a_tok[i1:i2] for t in line]
            b_block = [t for line in b_tok[j1:j2] for t in line]
            ops += _block_opcodes(a_block, b_block, a_start[i1], b_start[j1])
    flat_a = [t for line in a_tok for t in line]
    flat_b = [t for line in b_tok for t in line]
    return flat_a, flat_b, ops


def word_diff(old: str, new: str) -> list[Op]:
    """The changes from ``old`` to ``new`` as runs of equal, deleted and inserted words."""
    a, b, opcodes = token_opcodes(old, new)
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            if i2 > i1:
                ops.append(Op("equal", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append(Op("delete", "".join(a[i1:i2])))
        if j2 > j1:
            ops.append(Op("insert", "".join(b[j1:j2])))
    merged: list[Op] = []
    for op in ops:  # neighbouring runs of the same kind read as one
        if merged and merged[-1].kind == op.kind:
            merged[-1] = Op(op.kind, merged[-1].text + op.text)
        else:
            merged.append(op)
    return merged


def diff_stats(ops: list[Op]) -> dict[str, int]:
    words = {"insert": 0, "delete": 0}
    for op in ops:
        if op.kind in words:
            words[op.kind] += len([t for t in tokens(op.text) if not t.isspace()])
    return {"words_added": words["insert"], "words_removed": words["delete"]}


@dataclass
class Conflict:
    base: str
    mine: str
    theirs: str


@dataclass
class MergeResult:
    text: str | None  # None when there are conflicts
    conflicts: list[Conflict]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _hunks(base: list[str], other: list[str]) -> list[tuple[int, int, list[str]]]:
    """Changed regions of ``base`` (start, end) and what ``other`` has there instead."""
    matcher = SequenceMatcher(None, base, other, autojunk=False)
    return [
        (i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def _touch(a: tuple[int, int, list[str]], b: tuple[int, int, list[str]]) -> bool:
    """Do two changes concern the same place of the base? Insertions at the same
    point, or at the edge of the other's range, count: their order is ambiguous."""
    (a1, a2, _), (b1, b2, _) = a, b
    if a1 == a2 or b1 == b2:
        return b1 <= a1 <= b2 or a1 <= b1 <= a2
    return a1 < b2 and b1 < a2


def _apply(base: list[str], lo: int, hi: int, hunks: list[tuple[int, int, list[str]]]) -> str:
    out, at = [], lo
    for i1, i2, lines in sorted(hunks, key=lambda h: (h[0], h[1])):
        out.extend(base[at:i1])
        out.extend(lines)
        at = i2
    out.extend(base[at:hi])
    return "".join(out)


def merge3(base: str, mine: str, theirs: str) -> MergeResult:
    """Merge two edits of the same base: ``theirs`` (already saved) and ``mine``."""
    if mine == theirs or base == theirs:
        return MergeResult(mine, [])
    if base == mine:
        return MergeResult(theirs, [])
    b = _lines(base)
    tagged = [(h, "m") for h in _hunks(b, _lines(mine))] + [
        (h, "t") for h in _hunks(b, _lines(theirs))
    ]
    tagged.sort(key=lambda x: (x[0][0], x[0][1]))
    groups: list[list[tuple[tuple[int, int, list[str]], str]]] = []
    for item in tagged:
        if groups and any(_touch(item[0], other[0]) for other in groups[-1]):
            groups[-1].append(item)
        else:
            groups.append([item])
    out: list[str] = []
    conflicts: list[Conflict] = []
    at = 0
    for group in groups:
        lo = min(h[0] for h, _ in group)
        hi = max(h[1] for h, _ in group)
        out.append("".join(b[at:lo]))
        sides = {side for _, side in group}
        mine_text = _apply(b, lo, hi, [h for h, s in group if s == "m"])
        theirs_text = _apply(b, lo, hi, [h for h, s in group if s == "t"])
        if len(sides) == 1 or mine_text == theirs_text:
            out.append(mine_text if "m" in sides else theirs_text)
        else:
            conflicts.append(Conflict("".join(b[lo:hi]), mine_text, theirs_text))
            out.append(theirs_text)
        at = hi
    out.append("".join(b[at:]))
    return MergeResult(None if conflicts else "".join(out), conflicts)


def attribute(texts: list[tuple[int, str]]) -> dict[int, int]:
    """Who wrote the words of the last text: ``texts`` are ``(author, text)`` in
    revision order; every word is credited to the revision that introduced it and
    survived to the end. Returns words per author."""
    owners: list[int] = []
    previous = ""
    current: list[str] = []
    for author, text in texts:
        _, new, opcodes = token_opcodes(previous, text)
        next_owners: list[int] = []
        for tag, i1, i2, j1, j2 in opcodes:
            if tag == "equal":
                next_owners.extend(owners[i1:i2])
            else:
                next_owners.extend([author] * (j2 - j1))
        owners, current, previous = next_owners, new, text
    counts: dict[int, int] = {}
    for owner, token in zip(owners, current, strict=True):
        if not token.isspace():
            counts[owner] = counts.get(owner, 0) + 1
    return counts

"""Ranking modules shipped with Commonground. They follow the same contract as
submitted modules (and pass the same linter), but are trusted and may run in
the server process."""

from pathlib import Path

BUILTIN_DIR = Path(__file__).parent
NAMES = ("chronological", "recent_discussion", "bridging", "needs_answers")


def source_of(name: str) -> str:
    if name not in NAMES:
        raise KeyError(name)
    return (BUILTIN_DIR / f"{name}.py").read_text()

"""Newest first. No signals, no guessing: what you follow, in the order it was written."""

NAME = "Chronological"
PARAMETERS: dict[str, dict] = {}  # nothing to tune


def rank(items, context, params):
    return [
        (it["id"], it["created_at"], {"posted at (unix time)": it["created_at"]}) for it in items
    ]

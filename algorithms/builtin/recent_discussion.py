"""Recent conversations; replies from many different people count most.

score = recency × (1 + distinct repliers), where recency halves every
``half_life_hours``. A thread where five people answered rises above one where a
single person replied five times.
"""

NAME = "Recent discussion"
PARAMETERS = {"half_life_hours": 12.0}


def rank(items, context, params):
    half_life = max(float(params["half_life_hours"]), 0.1)
    out = []
    for it in items:
        age_h = max(context["now"] - it["created_at"], 0) / 3600
        recency = 0.5 ** (age_h / half_life)
        out.append(
            (
                it["id"],
                recency * (1 + it["repliers"]),
                {"recency": recency, "distinct repliers": it["repliers"]},
            )
        )
    return out

"""Questions that need answers: open questions with few replies come first.

An item counts as a question when its text contains "?". Its score falls with
every reply (so answered questions sink) and slowly with age; everything else
keeps a small recency score so the feed is never empty.
"""

NAME = "Questions that need answers"
PARAMETERS = {"half_life_hours": 48.0, "question_boost": 3.0}


def rank(items, context, params):
    half_life = max(float(params["half_life_hours"]), 0.1)
    out = []
    for it in items:
        age_h = max(context["now"] - it["created_at"], 0) / 3600
        recency = 0.5 ** (age_h / half_life)
        is_question = 1.0 if "?" in it["text"] else 0.0
        unanswered = 1.0 / (1 + it["reply_count"])
        score = recency * (1 + params["question_boost"] * is_question * unanswered)
        out.append(
            (
                it["id"],
                score,
                {"recency": recency, "is a question": is_question, "1 / (1 + replies)": unanswered},
            )
        )
    return out

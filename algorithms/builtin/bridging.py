"""Bridging: what people who usually disagree both endorse, as Community Notes does.

Each stance rating (agree = 1, pass = 0, disagree = -1) is modelled as

    r̂(u, n) = μ + i_u + i_n + f_u · f_n

where μ is the overall mean, i_u how positive rater u is, i_n how much item n
is endorsed *beyond what the raters' viewpoints explain*, and f_u · f_n the
part explained by viewpoint: f is a one-dimensional "side" learned from the
data. Fitted by alternating least squares with regularisation 0.15 on the
intercepts and 0.03 on the factors, so a viewpoint explains partisan agreement
before the intercept does.

Items are ranked by their intercept i_n: an item agreed with across sides gets
a high i_n; one agreed with by only one side gets a large |f_n| (its polarity)
instead. Items without enough ratings fall back to a small recency score.
"""

NAME = "Bridging"
PARAMETERS = {
    "iterations": 40,
    "intercept_reg": 0.15,
    "factor_reg": 0.03,
    "min_ratings": 2,
    "half_life_hours": 24.0,
}


def fit(ratings, iterations, reg_i, reg_f):
    users: dict[str, list[tuple[str, float]]] = {}  # rater URI -> [(item id, rating)]
    items: dict[str, list[tuple[str, float]]] = {}  # item id -> [(rater URI, rating)]
    for rater, item, value in ratings:
        users.setdefault(rater, []).append((item, value))
        items.setdefault(item, []).append((rater, value))
    mu = sum(rating[2] for rating in ratings) / len(ratings)
    iu = {u: 0.0 for u in users}
    inn = {n: 0.0 for n in items}
    # deterministic, asymmetric start so the factor can pick a direction
    order = sorted(users)
    fu = {u: (0.1 if k % 2 == 0 else -0.1) * (1 + k % 7 / 10) for k, u in enumerate(order)}
    fn = {n: 0.05 for n in items}
    for step in range(iterations):
        for u, rated in users.items():
            iu[u] = sum(v - mu - inn[n] - fu[u] * fn[n] for n, v in rated) / (len(rated) + reg_i)
        for n, raters in items.items():
            inn[n] = sum(v - mu - iu[u] - fu[u] * fn[n] for u, v in raters) / (len(raters) + reg_i)
        for u, rated in users.items():
            fu[u] = sum((v - mu - iu[u] - inn[n]) * fn[n] for n, v in rated) / (
                sum(fn[n] ** 2 for n, value in rated) + reg_f
            )
        for n, raters in items.items():
            fn[n] = sum((v - mu - iu[u] - inn[n]) * fu[u] for u, v in raters) / (
                sum(fu[u] ** 2 for u, value in raters) + reg_f
            )
        resid = [v - iu[u] - inn[n] - fu[u] * fn[n] for u, n, v in ratings]
        mu = sum(resid) / len(resid)
    return inn, fn, items


def rank(items, context, params):
    ratings = [(r, n, float(v)) for r, n, v in context["ratings"]]
    intercepts, polarity, rated = ({}, {}, {})
    if ratings:
        intercepts, polarity, rated = fit(
            ratings,
            int(params["iterations"]),
            float(params["intercept_reg"]),
            float(params["factor_reg"]),
        )
    half_life = max(float(params["half_life_hours"]), 0.1)
    out = []
    for it in items:
        n = it["id"]
        count = len(rated.get(n, ()))
        if count >= params["min_ratings"]:
            out.append(
                (
                    n,
                    intercepts[n],
                    {
                        "intercept (bridging)": intercepts[n],
                        "polarity": polarity[n],
                        "ratings": count,
                    },
                )
            )
        else:
            age_h = max(context["now"] - it["created_at"], 0) / 3600
            recency = 0.5 ** (age_h / half_life)
            out.append(
                (
                    n,
                    -1.0 + 0.1 * recency,
                    {"not enough ratings; recency": recency, "ratings": count},
                )
            )
    return out

"""Demo data: a few members, communities and threads, so a newcomer sees a
living instance. Idempotent: running it twice adds nothing the second time."""

from __future__ import annotations

from app.models import Account
from app.services import Ctx, accounts, communities, follows, posts, reactions

DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo credential

MEMBERS = [
    ("ada", "Ada Okafor", "Urban gardener, river volunteer."),
    ("ben", "Ben Tanaka", "Cycles everywhere. Skeptical of big plans."),
    ("chloe", "Chloé Martin", "Teacher. Asks the awkward questions."),
    ("dev", "Dev Raman", "Runs the repair café on Saturdays."),
]

COMMUNITIES = [
    (
        "riverside",
        "Riverside Commons",
        "Neighbours looking after the river and the green strip along it.",
        "## Our shared vision\n\nA river everyone can reach, swim in and care for.\n\n"
        "- We listen before we decide.\n- We write down our assumptions.\n",
        "open",
    ),
    (
        "mobility",
        "Getting Around",
        "Buses, bikes, feet and cars: how we move in this town.",
        "We look for changes that drivers, cyclists and walkers can all live with.",
        "open",
    ),
    (
        "repair-cafe",
        "Repair Café",
        "Fix it together instead of throwing it away.",
        "Bring something broken, leave with something working and a new skill.",
        "approval",
    ),
]

THREADS = [
    (
        "ada",
        "riverside",
        "Clean-up day on the 14th?",
        "Shall we do a #cleanup on the 14th? I can bring gloves and bags. @ben could you ask the "
        "council for a skip?",
        [
            ("ben", "I'll ask. Last time they wanted two weeks' notice."),
            ("chloe", "My class would join if it's a weekday morning — it counts as a field trip."),
        ],
    ),
    (
        "ben",
        "mobility",
        "A protected bike lane on Mill Road",
        "Mill Road is the only direct route to the station. A protected lane would make it safe "
        "for kids. What would drivers need to accept it? #bikes",
        [
            ("dev", "Drivers I talk to mostly worry about deliveries. Loading bays at the ends?"),
            ("ada", "And the bus stop needs to stay where it is."),
        ],
    ),
    (
        "chloe",
        "riverside",
        "What do we actually assume about the river?",
        "Before we argue about solutions: I assume the water quality problem is upstream farms. "
        "Is that *known* or just what we all say? #assumptions",
        [("dev", "The 2023 survey pointed at storm overflows, not farms.")],
    ),
    (
        "dev",
        "mobility",
        None,
        "Repair café fixed 14 bikes last Saturday. Cheapest mobility policy there is. #repair",
        [],
    ),
]


def load(ctx: Ctx) -> dict[str, int]:
    """Create the demo members, communities, threads, follows and reactions."""
    if accounts.find_local(ctx, MEMBERS[0][0]) is not None:
        return {"members": 0, "communities": 0, "posts": 0}
    people: dict[str, Account] = {}
    for username, name, bio in MEMBERS:
        person = accounts.register(ctx, username, DEMO_PASSWORD, name)
        accounts.update_profile(ctx, person, bio=bio)
        people[username] = person
    for i, (name, title, description, charter, policy) in enumerate(COMMUNITIES):
        founder = people[MEMBERS[i % len(MEMBERS)][0]]
        group = communities.create(
            ctx,
            founder,
            name,
            title=title,
            description=description,
            charter=charter,
            join_policy=policy,
        )
        for person in people.values():
            membership = communities.join(ctx, person, group)
            if membership.state == "pending":
                communities.approve(ctx, founder, group, person.username)
    n_posts = 0
    for author, community_name, thread_title, text, replies in THREADS:
        root = posts.create(ctx, people[author], text, community=community_name, title=thread_title)
        n_posts += 1
        for replier, reply in replies:
            posts.create(ctx, people[replier], reply, in_reply_to=root.id)
            n_posts += 1
        for person, kind in zip(people.values(), ("like", "agree", "agree", "pass"), strict=False):
            if person.username != author:
                reactions.react(ctx, person, root.id, kind)
    follows.follow(ctx, people["ada"], people["chloe"])
    follows.follow(ctx, people["ben"], people["dev"])
    return {"members": len(people), "communities": len(COMMUNITIES), "posts": n_posts}

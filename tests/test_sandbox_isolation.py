"""Sandbox v2 through the public API and the real sandbox: nothing a module does
survives its one call (globals, lambda defaults, signal handlers), and a
module that forges protocol frames, then sleeps or stops itself, costs only
its own deadline: the feed falls back, the failure is counted, and the next
viewer gets their own answer.

The hostile modules pass the linter: ``typing.sys.modules`` hands them ``os``,
``signal`` and ``time`` (the linter is advice, the process is the boundary).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("sandbox_required")

HEADER = '"""Hostile."""\nNAME = "hostile"\nPARAMETERS = {}\nimport typing\n'
REACH = (
    'os = typing.sys.modules["os"]\n'
    'signal = typing.sys.modules["signal"]\n'
    'time = typing.sys.modules["time"]\n'
)


@pytest.fixture
def garden(api_user):
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    posts = [
        alice.post("/api/cg/v1/posts", {"text": f"post {n}", "community": "garden"}).json()
        for n in range(3)
    ]
    return {"alice": alice, "bob": bob, "posts": posts}


def adopt(garden: dict, source: str) -> int:
    """Alice submits the module and makes it garden's algorithm; its version id."""
    r = garden["alice"].post("/api/cg/v1/algorithms", {"source": source})
    assert r.status_code == 201, r.text
    garden["module_id"] = r.json()["id"]
    version_id = r.json()["latest"]["version_id"]
    r = garden["alice"].put("/api/cg/v1/communities/garden/algorithm", {"algorithm": version_id})
    assert r.status_code == 200, r.text
    return version_id


def home(api, version_id: int) -> dict:
    r = api.get("/api/cg/v1/feed/home", params={"algorithm": version_id})
    assert r.status_code == 200, r.text
    return r.json()


def factors(feed: dict) -> set[str]:
    return {name for item in feed["items"] for name in item["why"]["factors"]}


def test_module_state_does_not_reach_the_next_viewer(garden) -> None:
    """Globals and a lambda's default list remember every viewer in a persistent
    worker; in a fresh child per call each viewer sees only themselves."""
    source = HEADER + (
        "SEEN = []\n"
        "remember = lambda viewer, box=[]: box.append(viewer) or box\n"
        "def rank(items, context, params):\n"
        "    SEEN.append(context['viewer'])\n"
        "    boxed = remember(context['viewer'])\n"
        "    why = {('seen ' + str(v))[:200]: 1 for v in SEEN + boxed if v}\n"
        "    why['calls seen'] = len(SEEN) + len(boxed)\n"
        "    return [(it['id'], 1.0, why) for it in items]\n"
    )
    version_id = adopt(garden, source)
    alice = home(garden["alice"], version_id)
    bob = home(garden["bob"], version_id)
    assert alice["items"] and bob["items"]
    alice_seen = {f for f in factors(alice) if f.startswith("seen ")}
    bob_seen = {f for f in factors(bob) if f.startswith("seen ")}
    assert len(alice_seen) == 1 and len(bob_seen) == 1
    assert alice_seen != bob_seen  # bob's answer names only bob
    assert all(i["why"]["factors"]["calls seen"] == 2 for i in bob["items"])


def test_a_sigalrm_forger_cannot_answer_for_the_next_viewer(garden) -> None:
    """A signal handler installed during one call fires after it and writes a
    well-framed answer to stdout (the old protocol's channel); the next viewer
    still gets the answer of their own call."""
    source = (
        HEADER
        + REACH
        + (
            "import json\n"
            "def forge(*args):\n"
            "    data = json.dumps({'result': [['https://evil.example/1', 9.0, {'forged': 1}]]})\n"
            "    os.write(1, len(data).to_bytes(4, 'big') + data.encode())\n"
            "def rank(items, context, params):\n"
            "    signal.signal(signal.SIGALRM, forge)\n"
            "    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n"
            "    return [(it['id'], 1.0, {('viewer ' + str(context['viewer']))[:200]: 1})\n"
            "            for it in items]\n"
        )
    )
    version_id = adopt(garden, source)
    home(garden["alice"], version_id)
    bob = home(garden["bob"], version_id)
    assert "notice" not in bob or not bob["notice"]
    assert {i["post"]["id"] for i in bob["items"]} == {p["id"] for p in garden["posts"]}
    assert factors(bob) and all("forged" not in f for f in factors(bob))
    assert all("bob" in f for f in factors(bob)), factors(bob)


@pytest.mark.parametrize(
    "stall",
    ["time.sleep(60)", "os.kill(os.getpid(), signal.SIGSTOP)"],
    ids=["forged frames + sleep", "forged frame + SIGSTOP"],
)
def test_a_forger_that_stalls_costs_only_its_deadline(garden, stall: str) -> None:
    """On the fixtures it behaves; for a real viewer it floods every descriptor
    with forged frames, then sleeps or stops itself. The viewer gets the
    fallback, the timeout is counted, and other feeds are served meanwhile."""
    source = (
        HEADER
        + REACH
        + (
            "import json\n"
            "def rank(items, context, params):\n"
            "    if context['viewer']:\n"
            "        data = json.dumps({'result': []}).encode()\n"
            "        for fd in range(0, 12):\n"
            "            for n in range(3):\n"
            "                try:\n"
            "                    os.write(fd, len(data).to_bytes(4, 'big') + data)\n"
            "                except OSError:\n"
            "                    pass\n"
            f"        {stall}\n"
            "    return [(it['id'], 1.0, {}) for it in items]\n"
        )
    )
    version_id = adopt(garden, source)
    alice, bob = garden["alice"], garden["bob"]
    feed = home(alice, version_id)
    assert "could not rank" in feed["notice"]
    assert {i["post"]["id"] for i in feed["items"]} == {p["id"] for p in garden["posts"]}
    assert bob.get("/api/cg/v1/communities/garden/feed").status_code == 200
    assert home(bob, version_id)["items"]  # and the next call is a clean one, not a desync
    stats = alice.get(f"/api/cg/v1/algorithms/{garden['module_id']}").json()["errors"]
    assert stats["last_24h"].get("timeout", 0) >= 1


def test_a_long_import_is_refused_at_submission_with_a_clear_message(garden) -> None:
    """The top level runs on every call, inside the call's deadline: a module whose
    import takes too long is refused when submitted, never a 500 later."""
    source = HEADER + REACH + ("time.sleep(30)\ndef rank(items, context, params):\n    return []\n")
    r = garden["alice"].post("/api/cg/v1/algorithms", {"source": source})
    assert r.status_code == 422, r.text
    assert "while loading" in r.text and "top level" in r.text

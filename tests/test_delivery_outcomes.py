"""What a delivery does with each kind of answer: the rules as a table over the
one pure function, then each rule end to end against a real peer on 127.0.0.1
answering what we tell it, through the real worker code and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.db import transaction
from app.infra import jobs
from app.models import Job, PeerDomain
from federation import delivery
from federation.delivery import Outcome, outcome
from tests.peers import RecordingPeer
from tests.server_process import HOST, free_port
from tests.test_delivery_resilience import _queue_deliveries

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=120)
HTTP_DATE = "Wed, 02 Dec 2026 12:02:00 GMT"  # NOW + 120 s


@pytest.mark.parametrize(
    ("status", "network_error", "headers", "expected"),
    [
        (200, False, {}, Outcome("done", breaker_failure=False)),
        (202, False, {"Retry-After": "120"}, Outcome("done", breaker_failure=False)),
        (None, True, {}, Outcome("retry", breaker_failure=True)),
        (500, False, {}, Outcome("retry", breaker_failure=True)),
        (502, False, {"Retry-After": "120"}, Outcome("retry", breaker_failure=True)),
        (503, False, {}, Outcome("retry", breaker_failure=True)),
        (503, False, {"Retry-After": "120"}, Outcome("retry_at", True, LATER)),
        (503, False, {"retry-after": HTTP_DATE}, Outcome("retry_at", True, LATER)),
        (429, False, {"Retry-After": "120"}, Outcome("retry_at", False, LATER)),
        (429, False, {"Retry-After": "soon"}, Outcome("retry", breaker_failure=False)),
        (429, False, {}, Outcome("retry", breaker_failure=False)),
        (408, False, {}, Outcome("retry", breaker_failure=False)),
        (400, False, {}, Outcome("permanent", breaker_failure=False)),
        (401, False, {}, Outcome("permanent", breaker_failure=False)),
        (404, False, {"Retry-After": "120"}, Outcome("permanent", breaker_failure=False)),
        (410, False, {}, Outcome("permanent", breaker_failure=False)),
        (499, False, {}, Outcome("permanent", breaker_failure=False)),
        (301, False, {}, Outcome("retry", breaker_failure=False)),
        (
            429,
            False,
            {"Retry-After": "9999999"},
            Outcome("retry_at", False, NOW + delivery.MAX_RETRY_AFTER),
        ),
        (
            503,
            False,
            {"Retry-After": "Mon, 01 Dec 2025 00:00:00 GMT"},
            Outcome("retry_at", True, NOW),
        ),
    ],
)
def test_each_answer_has_one_outcome(
    status: int | None, network_error: bool, headers: dict, expected: Outcome
) -> None:
    assert outcome(status, network_error, headers, NOW) == expected


def _deliver_once(engine: Engine, settings: Settings, inbox: str) -> tuple[Job, PeerDomain]:
    """Queue one delivery to ``inbox``, run it once, and read back the job and the peer."""
    _queue_deliveries(engine, settings, inbox, 1)
    job = jobs.run_one(engine, settings, "w1")
    assert job is not None and job.kind == "ap.deliver"
    with transaction(engine) as db:
        row = db.get(Job, job.id)
        domain = inbox.split("/")[2]
        return row, db.get(PeerDomain, domain)


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
def test_a_4xx_answer_is_permanent_and_leaves_the_breaker_closed(
    engine: Engine, local_settings: Settings, peer: RecordingPeer, status: int
) -> None:
    peer.status = status
    job, domain = _deliver_once(engine, local_settings, peer.inbox())
    assert (job.state, job.attempts, job.last_error) == (
        "dead",
        1,
        f"PermanentError: HTTP {status}",
    )
    assert domain.consecutive_failures == 0 and peer.hits == 1


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried_without_counting_against_the_peer(
    engine: Engine, local_settings: Settings, peer: RecordingPeer, status: int
) -> None:
    peer.status = status
    job, domain = _deliver_once(engine, local_settings, peer.inbox())
    assert (job.state, job.attempts) == ("queued", 1)
    assert domain.consecutive_failures == 0


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_sets_the_next_attempt(
    engine: Engine, local_settings: Settings, peer: RecordingPeer, status: int
) -> None:
    """The peer asks for an hour; ordinary backoff after one attempt is under a minute."""
    peer.status, peer.headers = status, {"Retry-After": "3600"}
    before = datetime.now(UTC)
    job, _ = _deliver_once(engine, local_settings, peer.inbox())
    assert job.state == "queued"
    assert before + timedelta(minutes=59) <= job.run_at <= datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_answer_counts_for_the_breaker(
    engine: Engine, local_settings: Settings, peer: RecordingPeer, status: int
) -> None:
    peer.status = status
    job, domain = _deliver_once(engine, local_settings, peer.inbox())
    assert (job.state, domain.consecutive_failures) == ("queued", 1)
    assert domain.last_failure_at is not None


def test_a_network_error_counts_for_the_breaker(engine: Engine, local_settings: Settings) -> None:
    closed = f"http://{HOST}:{free_port()}/inbox"  # nobody listens there
    job, domain = _deliver_once(engine, local_settings, closed)
    assert (job.state, domain.consecutive_failures) == ("queued", 1)
    assert job.last_error.startswith("RuntimeError: ")


def test_an_answer_that_is_not_a_failure_closes_an_open_breaker(
    engine: Engine, local_settings: Settings, peer: RecordingPeer
) -> None:
    """A peer that answers 404 is up: its breaker closes (the delivery itself is dead)."""
    domain_name = peer.inbox().split("/")[2]
    with transaction(engine) as db:
        db.add(PeerDomain(domain=domain_name, consecutive_failures=3))
    peer.status = 404
    job, domain = _deliver_once(engine, local_settings, peer.inbox())
    assert job.state == "dead"
    assert (domain.consecutive_failures, domain.open_until) == (0, None)

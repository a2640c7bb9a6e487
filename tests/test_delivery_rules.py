"""The delivery rules around one answer, function by function (federation/delivery.py):
Retry-After parsing, the circuit breaker's delay, when a success may skip the peer's
row, and what ``record`` writes. Fast, so `make mutation` runs them against this module
(docs/quality.md); tests/test_delivery_outcomes.py has the end-to-end half."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.models import DeliveryAttempt, PeerDomain
from app.services import Ctx
from federation import delivery
from federation.delivery import (
    BREAKER_MAX,
    BREAKER_THRESHOLD,
    MAX_RETRY_AFTER,
    SUCCESS_NOTE,
    Outcome,
    breaker_delay,
    outcome,
    retry_after,
    steady,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DONE = Outcome("done", breaker_failure=False)
DOWN = Outcome("retry", breaker_failure=True)
GONE = Outcome("permanent", breaker_failure=False)
INBOX = "https://peer.example/inbox"


# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", NOW + timedelta(seconds=120)),
        (" 120 ", NOW + timedelta(seconds=120)),
        ("0", NOW),
        ("Wed, 02 Dec 2026 12:02:00 GMT", NOW + timedelta(seconds=120)),
        ("Wed, 02 Dec 2026 12:02:00 +0100", NOW),  # an hour ago: now, never the past
        ("Wed, 02 Dec 2026 12:02:00 -0000", None),  # RFC 5322's "unknown zone": no time
        ("in two minutes", None),
        ("9" * 5000, NOW + MAX_RETRY_AFTER),  # a huge number costs nothing and is capped
        ("00000120", NOW + timedelta(seconds=120)),  # leading zeros are still 120 seconds
        ("0" * 5000 + "7", NOW + timedelta(seconds=7)),
        ("\u00b2", None),  # a superscript two is a digit to str.isdigit, not to HTTP
        ("\u0663", None),  # nor is an Arabic-Indic three
        ("Sat, 02 Jan 2027 00:00:00 GMT", NOW + MAX_RETRY_AFTER),
    ],
)
def test_retry_after_reads_seconds_or_a_date_and_caps_it(
    value: str | None, expected: datetime | None
) -> None:
    assert retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("status", "network_error", "expected"),
    [
        (None, False, DOWN),  # no answer at all, whatever the transport said
        (200, True, DOWN),  # the connection broke after the status line
        (299, False, DONE),
        (300, False, Outcome("retry", breaker_failure=False)),  # a redirect is not a success
    ],
)
def test_the_edges_of_each_outcome(
    status: int | None, network_error: bool, expected: Outcome
) -> None:
    assert outcome(status, network_error, {}, NOW) == expected


# --- the circuit breaker --------------------------------------------------------------------


def test_the_breaker_delay_doubles_from_the_threshold_and_stops_at_a_day() -> None:
    delays = [breaker_delay(BREAKER_THRESHOLD + n, first=60.0) for n in range(4)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert breaker_delay(1, first=60.0) == timedelta(minutes=1)  # below it: the first delay
    assert breaker_delay(BREAKER_THRESHOLD) == timedelta(seconds=120)  # the default first
    assert breaker_delay(BREAKER_THRESHOLD + 20, first=60.0) == BREAKER_MAX
    assert breaker_delay(10**9, first=60.0) == BREAKER_MAX  # no overflow on a long outage


# --- steady: when a success may leave the peer's row alone ----------------------------------


def peer(**fields: object) -> PeerDomain:
    values: dict[str, object] = {"domain": "peer.example", "last_success_at": NOW}
    return PeerDomain(**(values | fields))


@pytest.mark.parametrize(
    ("row", "result", "expected"),
    [
        (peer(), DONE, True),
        (peer(last_success_at=NOW - SUCCESS_NOTE + timedelta(seconds=1)), DONE, True),
        (peer(last_success_at=NOW - SUCCESS_NOTE), DONE, False),  # not fresh any more
        (peer(last_success_at=None), DONE, False),  # never succeeded: note the first
        (peer(consecutive_failures=1), DONE, False),  # failing: the success resets it
        (peer(open_until=NOW + timedelta(minutes=1)), DONE, False),  # open: close it
        (peer(), GONE, False),
        (peer(), DOWN, False),
    ],
)
def test_only_a_success_on_a_healthy_recently_successful_peer_is_steady(
    row: PeerDomain, result: Outcome, expected: bool
) -> None:
    assert steady(row, result, NOW) is expected


# --- record ---------------------------------------------------------------------------------


def domain_row(ctx: Ctx) -> PeerDomain:
    row = ctx.db.get(PeerDomain, "peer.example")
    assert row is not None
    return row


def test_record_logs_the_attempt_as_it_was(ctx: Ctx) -> None:
    delivery.record(ctx, 42, INBOX, 503, "HTTP 503", DOWN)
    ctx.db.flush()
    (attempt,) = ctx.db.exec(select(DeliveryAttempt)).all()
    assert (attempt.job_id, attempt.inbox, attempt.domain) == (42, INBOX, "peer.example")
    assert (attempt.status_code, attempt.error) == (503, "HTTP 503")


def test_a_failure_counts_and_opens_the_breaker_at_the_threshold(ctx: Ctx) -> None:
    ctx = Ctx(ctx.db, ctx.settings.model_copy(update={"breaker_base_seconds": 7.0}))
    for _ in range(BREAKER_THRESHOLD - 1):
        delivery.record(ctx, None, INBOX, None, "refused", DOWN)
    row = domain_row(ctx)
    assert row.consecutive_failures == BREAKER_THRESHOLD - 1 and row.open_until is None
    assert row.last_failure_at is not None and row.last_success_at is None
    delivery.record(ctx, None, INBOX, None, "refused", DOWN)
    row = domain_row(ctx)
    assert row.open_until is not None and row.last_failure_at is not None
    # open for the configured first delay, from the failure that reached the threshold
    assert row.open_until - row.last_failure_at == timedelta(seconds=7)
    delivery.record(ctx, None, INBOX, None, "refused", DOWN)
    row = domain_row(ctx)
    assert row.open_until is not None and row.last_failure_at is not None
    assert row.open_until - row.last_failure_at == timedelta(seconds=14)


def test_an_answer_closes_the_breaker_but_only_a_success_is_noted_as_one(ctx: Ctx) -> None:
    for _ in range(BREAKER_THRESHOLD):
        delivery.record(ctx, None, INBOX, None, "refused", DOWN)
    delivery.record(ctx, None, INBOX, 410, "HTTP 410", GONE)
    row = domain_row(ctx)
    assert (row.consecutive_failures, row.open_until, row.last_success_at) == (0, None, None)
    delivery.record(ctx, None, INBOX, 202, None, DONE)
    assert domain_row(ctx).last_success_at is not None


def test_a_second_success_soon_after_the_first_leaves_the_row_as_it_was(ctx: Ctx) -> None:
    delivery.record(ctx, None, INBOX, 202, None, DONE)
    first = domain_row(ctx).last_success_at
    delivery.record(ctx, None, INBOX, 202, None, DONE)
    assert domain_row(ctx).last_success_at == first
    assert len(ctx.db.exec(select(DeliveryAttempt)).all()) == 2  # both attempts logged

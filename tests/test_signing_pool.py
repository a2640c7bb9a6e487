"""Deliveries' signatures are made in a thread pool, beside the event loop: they
verify like any other, and the loop keeps running while one is being made."""

from __future__ import annotations

import asyncio

import pytest

from federation.httpsig import SignatureError, generate_keypair, load_public_key, verify_request
from federation.signing_pool import SigningPool

URL = "https://peer.example/users/bob/inbox"
KEY_ID = "https://here.example/users/alice#main-key"
BODY = b'{"type": "Create"}'


async def test_a_pooled_signature_verifies() -> None:
    private_pem, public_pem = generate_keypair()
    pool = SigningPool(threads=2)
    try:
        headers = {"Content-Type": "application/activity+json"}
        signed = await pool.sign_request("POST", URL, headers, BODY, KEY_ID, private_pem)
    finally:
        pool.close()

    async def resolver(key_id: str, refresh: bool) -> object:
        assert key_id == KEY_ID
        return load_public_key(public_pem)

    verified = await verify_request(
        "POST",
        "/users/bob/inbox",
        {**headers, **signed},
        BODY,
        key_resolver=resolver,
        base_url="https://peer.example",
    )
    assert verified.key_id == KEY_ID


async def test_the_event_loop_runs_while_a_signature_is_made() -> None:
    """Signed inline, nothing else could run before the signature is done."""
    private_pem, _ = generate_keypair()
    pool = SigningPool(threads=1)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker starts
    before = ticks
    try:
        await pool.sign_request("POST", URL, {}, BODY, KEY_ID, private_pem)
        during = ticks - before
    finally:
        stop.set()
        await task
        pool.close()
    assert during >= 1


async def test_requests_made_together_are_signed_together_each_for_its_caller() -> None:
    """A claimed batch starts its deliveries in one turn of the loop: they go to the
    pool as one batch, and each caller gets its own request's signature; a request
    that cannot be signed fails for its caller alone."""
    private_pem, public_pem = generate_keypair()
    pool = SigningPool(threads=2)

    async def resolver(key_id: str, refresh: bool) -> object:
        return load_public_key(public_pem)

    urls = [f"https://peer.example/users/u{i}/inbox" for i in range(7)]
    try:
        results = await asyncio.gather(
            *(pool.sign_request("POST", url, {}, BODY, KEY_ID, private_pem) for url in urls),
            pool.sign_request("POST", URL, {}, BODY, KEY_ID, "not a key"),
            return_exceptions=True,
        )
    finally:
        pool.close()
    *signed, broken = results
    assert isinstance(broken, ValueError)
    for url, headers in zip(urls, signed, strict=True):
        assert isinstance(headers, dict)
        target = url.removeprefix("https://peer.example")
        verified = await verify_request(
            "POST", target, headers, BODY, key_resolver=resolver, base_url="https://peer.example"
        )
        assert verified.key_id == KEY_ID
    # Another caller's signature does not verify for this request.
    with pytest.raises(SignatureError):
        await verify_request(
            "POST",
            "/users/u0/inbox",
            {**signed[1], "Host": "peer.example"},  # type: ignore[dict-item]
            BODY,
            key_resolver=resolver,
            base_url="https://peer.example",
        )


async def test_closing_the_pool_fails_the_signatures_still_waiting() -> None:
    """A batch still queued when the pool shuts down fails for its callers with a
    clear error instead of leaving them waiting forever."""
    private_pem, _ = generate_keypair()
    pool = SigningPool(threads=1)

    def batch(size: int) -> list[asyncio.Future]:
        return [
            asyncio.ensure_future(pool.sign_request("POST", URL, {}, BODY, KEY_ID, private_pem))
            for _ in range(size)
        ]

    first = batch(300)  # keeps the one thread busy for a while
    for _ in range(3):
        await asyncio.sleep(0)  # the first batch is handed to the pool
    queued = batch(2)  # the next turn's batch queues behind it
    for _ in range(3):
        await asyncio.sleep(0)
    pool.close()
    results = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 30)
    assert [str(r) for r in results] == ["the signing pool was shut down"] * 2
    assert all(isinstance(r, dict) for r in await asyncio.gather(*first))

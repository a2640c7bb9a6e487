"""Signatures for deliveries, made in a few threads beside the event loop.

An RSA-2048 signature costs ~0.3 ms of CPU, the largest single cost of a
delivery. OpenSSL (through ``cryptography``) releases the GIL while it signs, so
signing in a small thread pool keeps the worker's event loop free to send,
receive and record other deliveries meanwhile, and lets a second core sign.

Handing one signature to a thread and back costs about a tenth of the
signature itself, so the requests made in one turn of the event loop (a claimed
batch of deliveries starts together) go to the pool together, split in as many
parts as there are threads.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from federation.httpsig import sign_request

__all__ = ["SigningPool"]

Request = tuple[str, str, dict[str, str], bytes | None, str, str]


def _sign_all(requests: list[Request]) -> list[dict[str, str] | BaseException]:
    """Sign each request; a failure is returned in its place, for its caller alone."""
    signed: list[dict[str, str] | BaseException] = []
    for method, url, headers, body, key_id, pem in requests:
        try:
            signed.append(sign_request(method, url, headers, body, key_id, pem))
        except Exception as exc:  # e.g. a bad key: that delivery's error, not the batch's
            signed.append(exc)
    return signed


class SigningPool:
    """A lazily started pool of ``threads`` signers (default: one per core, 2 to 4)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or min(max(os.cpu_count() or 1, 2), 4)
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: list[tuple[Request, asyncio.Future[dict[str, str]]]] = []

    async def sign_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        key_id: str,
        private_pem: str,
    ) -> dict[str, str]:
        """:func:`federation.httpsig.sign_request`, computed in the pool."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, str]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._dispatch, loop)  # after the others of this turn joined
        self._waiting.append(((method, url, dict(headers), body, key_id, private_pem), future))
        return await future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting, self._waiting = self._waiting, []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="cg-sign")
        size = -(-len(waiting) // self.threads)  # ceiling: at most one part per thread
        for start in range(0, len(waiting), size):
            part = waiting[start : start + size]
            done = loop.run_in_executor(self._pool, partial(_sign_all, [r for r, _ in part]))
            done.add_done_callback(partial(_settle, [f for _, f in part]))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _settle(
    futures: list[asyncio.Future[dict[str, str]]],
    done: asyncio.Future[list[dict[str, str] | BaseException]],
) -> None:
    error: BaseException | None = (
        RuntimeError("the signing pool was shut down") if done.cancelled() else done.exception()
    )
    if error is not None:  # the pool was shut down (or broke): every caller hears it
        for future in futures:
            if not future.done():
                future.set_exception(error)
        return
    for future, result in zip(futures, done.result(), strict=True):
        if future.done():  # its caller gave up waiting
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

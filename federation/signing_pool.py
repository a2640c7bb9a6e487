"""Signatures for deliveries, made in a few threads beside the event loop.

An RSA-2048 signature costs ~0.3 ms of CPU, the largest single cost of a
delivery. OpenSSL (through ``cryptography``) releases the GIL while it signs, so
signing in a small thread pool keeps the worker's event loop free to send,
receive and record other deliveries meanwhile, and lets a second core sign.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from federation.httpsig import sign_request

__all__ = ["SigningPool"]


class SigningPool:
    """A lazily started pool of ``threads`` signers (default: one per core, 2 to 4)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or min(max(os.cpu_count() or 1, 2), 4)
        self._pool: ThreadPoolExecutor | None = None

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
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="cg-sign")
        work = partial(sign_request, method, url, dict(headers), body, key_id, private_pem)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

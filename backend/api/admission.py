"""Admission: at most `limit` requests inside one worker at a time; the others wait at the
door, on the event loop, holding no thread and no database connection.

Why: a worker has 40 threads and a pool of 10 connections (30 with overflow). Without a
door, a burst of 64 clients puts 32 requests in each worker's threads at once. They fight
for the GIL, overflow connections are opened and closed for each of them (a PostgreSQL
connection costs more than a balance read), and a request that holds a connection between
two trips through the thread pool can wait for a thread that waits for its connection (a
stall until the pool's timeout). With at most `limit` requests inside, each holding at most
two connections (its unit of work and an idempotency record), and `2 x limit` within the
pool's 30, no request ever waits for a connection or a thread: the queue is at the door,
where waiting costs nothing. Measured in README (`nongbao bench balance`).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class Admission:
    """`limit`: the setting `max_active_requests` (backend/config.py), at most the pool's size
    (backend/db.py), so that two connections each fit its overflow."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        if limit < 1:
            raise ValueError("admission needs at least one slot")
        self.app, self.limit = app, limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(limit)

    def slots(self) -> asyncio.Semaphore:
        """The slots of the running loop: an app served by one loop and then another (a test
        client opened twice) gets fresh ones, as a semaphore belongs to one loop."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.limit)
        return self._slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan: never queued
            return
        async with self.slots():
            await self.app(scope, receive, send)

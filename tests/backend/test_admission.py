"""The door in front of the app (backend/api/admission.py): at most `limit` requests inside a
worker, the others wait on the event loop and are all answered; lifespan is never queued."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from backend.api.admission import Admission


class Gate:
    """An ASGI app that counts the requests inside it and holds them until opened."""

    def __init__(self) -> None:
        self.inside = self.most = self.served = 0
        self.open = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        await self.open.wait()
        self.inside -= 1
        self.served += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _settle() -> None:
    for _ in range(50):  # let every task run up to where it waits
        await asyncio.sleep(0)


def test_at_most_limit_requests_are_inside_and_all_are_answered() -> None:
    async def scenario() -> None:
        gate = Gate()
        door = Admission(gate, limit=3)
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            calls = [asyncio.create_task(client.get(f"/r/{i}")) for i in range(10)]
            await _settle()
            assert gate.inside == 3  # three inside, seven waiting at the door
            assert gate.served == 0
            gate.open.set()
            answers = await asyncio.gather(*calls)
        assert [a.status_code for a in answers] == [200] * 10
        assert gate.most == 3 and gate.served == 10

    asyncio.run(scenario())


def test_lifespan_passes_the_door_even_when_it_is_full() -> None:
    async def scenario() -> None:
        seen: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])

        door = Admission(app, limit=1)
        async with door.slots():  # the one slot is taken
            await asyncio.wait_for(door({"type": "lifespan"}, _never, _never_send), timeout=5)
        assert seen == ["lifespan"]

    asyncio.run(scenario())


async def _never() -> dict:
    raise AssertionError("not read")


async def _never_send(message: object) -> None:
    raise AssertionError("not sent")


def test_a_second_event_loop_gets_slots_of_its_own() -> None:
    """A test client serves an app on one loop, the next one on another: the door works on both."""
    gate = Gate()
    door = Admission(gate, limit=1)

    async def two_at_once() -> None:
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            calls = [asyncio.create_task(client.get("/")) for _ in range(2)]
            await _settle()
            assert gate.inside == 1
            gate.open.set()
            assert [a.status_code for a in await asyncio.gather(*calls)] == [200, 200]
        gate.open = asyncio.Event()

    asyncio.run(two_at_once())
    asyncio.run(two_at_once())  # a waiter on a semaphore of the first loop would raise here
    assert gate.served == 4


def test_a_door_without_slots_is_refused() -> None:
    with pytest.raises(ValueError):
        Admission(Gate(), limit=0)

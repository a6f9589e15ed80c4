"""16 parallel reversals of one contribution against a real server (two workers): the money
moves once, exactly one caller is told "reversed", the others get 409 `already_reversed`, and
exactly one audit event is written. On both databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

from backend.db import engine_for
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import live_server

CALLERS = 16


def test_parallel_reversals_answer_once(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    with live_server(db_url, tmp_path, workers=2) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        person = httpx.post(
            f"{base}/api/v1/persons",
            headers=headers,
            json={
                "id_number": valid_id("110105", "19700101", "013"),
                "name": "李四",
                "village_code": "V001",
                "enrolled_on": "2010-08-01",
            },
        ).json()["person_id"]
        paid = httpx.post(
            f"{base}/api/v1/contributions",
            headers=headers,
            json={
                "person_id": person,
                "year": 2015,
                "personal_fen": 50000,
                "paid_on": "2015-08-01",
            },
        )
        assert paid.status_code == 201, paid.text
        url = f"{base}/api/v1/contributions/{paid.json()['contribution_id']}/reversal"
        start = threading.Barrier(CALLERS)

        def reverse(_: int) -> httpx.Response:
            with httpx.Client(timeout=120) as client:
                start.wait()  # all at once
                return client.post(url, headers=headers, json={"reason": "wrong year"})

        with ThreadPoolExecutor(CALLERS) as pool:
            proposals = list(pool.map(reverse, range(CALLERS)))
        # four eyes: one proposal waits for a second clerk; the twins are told it already waits
        statuses = sorted(r.status_code for r in proposals)
        assert statuses == [202] + [409] * (CALLERS - 1), [r.text for r in proposals]
        # a twin that lost the race on the database's unique index says so in its own code
        codes = {r.json()["code"] for r in proposals if r.status_code == 409}
        assert codes <= {"already_proposed", "concurrent_change"}, codes
        request_id = next(r for r in proposals if r.status_code == 202).json()["request_id"]
        checker = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "clerk2", "password": PASSWORD}
        ).json()["access_token"]
        confirm_url = f"{base}/api/v1/approvals/{request_id}/confirm"

        def confirm(_: int) -> httpx.Response:
            with httpx.Client(timeout=120) as client:
                start.wait()
                return client.post(
                    confirm_url, headers={"Authorization": f"Bearer {checker}"}, json={}
                )

        with ThreadPoolExecutor(CALLERS) as pool:
            answers = list(pool.map(confirm, range(CALLERS)))
        account = httpx.get(f"{base}/api/v1/persons/{person}/account", headers=headers).json()

    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    first = [r for r in answers if r.headers.get("Idempotent-Replayed") != "true"]
    assert len(first) == 1, [r.text for r in answers]  # one confirmation acted; the rest replay
    assert account["balance_fen"] == 0  # the money moved back once, not 16 times
    with engine_for(db_url).connect() as conn:
        reversals = conn.execute(
            sa.text("SELECT count(*) FROM ledger_posting WHERE reverses IS NOT NULL")
        ).scalar_one()
        events = conn.execute(
            sa.text("SELECT count(*) FROM audit_event WHERE action LIKE '%/reversal'")
        ).scalar_one()
    assert (reversals, events) == (1, 1)

"""Many clients at once against a real server on PostgreSQL: exactly one posting per key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import live_server

pytestmark = pytest.mark.postgres


def test_concurrent_contributions_post_exactly_once_per_key(pg_url: str, tmp_path: Path) -> None:
    bootstrap(pg_url, tmp_path)
    with live_server(pg_url, tmp_path, workers=2) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        persons = []
        for i in range(8):
            r = httpx.post(
                f"{base}/api/v1/persons",
                headers=headers,
                json={
                    "id_number": valid_id("110105", f"197{i}0101", f"01{i}"),
                    "name": f"居民{i}",
                    "village_code": "V001",
                    "enrolled_on": "2010-08-01",
                },
            )
            assert r.status_code == 201, r.text
            persons.append(r.json()["person_id"])

        same_key = {
            "person_id": persons[0],
            "year": 2015,
            "personal_fen": 50000,
            "paid_on": "2015-08-01",
        }
        jobs: list[tuple[str, dict[str, Any], str | None]] = [("idem", same_key, "same-key-1")] * 12
        # different contributions: persons 1..7, years 2016..2018, each once
        jobs += [
            (
                "diff",
                {"person_id": p, "year": y, "personal_fen": 20000, "paid_on": f"{y}-03-01"},
                None,
            )
            for p in persons[1:]
            for y in (2016, 2017, 2018)
        ]
        # the same person-year without a key, 6 times at once: one wins, the rest are conflicts
        race = {
            "person_id": persons[1],
            "year": 2019,
            "personal_fen": 10000,
            "paid_on": "2019-03-01",
        }
        jobs += [("race", race, None)] * 6

        def send(job: tuple) -> tuple[str, int, dict]:
            kind, body, key = job
            h = {**headers, **({"Idempotency-Key": key} if key else {})}
            with httpx.Client(timeout=60) as c:
                r = c.post(f"{base}/api/v1/contributions", json=body, headers=h)
            return kind, r.status_code, r.json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(send, jobs))

        idem = [(s, b) for k, s, b in results if k == "idem"]
        assert {s for s, _ in idem} == {201}
        assert len({b["contribution_id"] for _, b in idem}) == 1
        assert all(s == 201 for k, s, _ in results if k == "diff")
        race_codes = sorted(s for k, s, _ in results if k == "race")
        assert race_codes == [201] + [409] * 5

        admin = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}
        ).json()["access_token"]
        ah = {"Authorization": f"Bearer {admin}"}
        # 2015: 500 yuan, subsidy 60 (2014 set)
        assert (
            httpx.get(f"{base}/api/v1/persons/{persons[0]}/account", headers=ah).json()[
                "balance_fen"
            ]
            == 50000 + 6000
        )
        # person 1: three years of 200 + subsidy 35, plus one 100 + 30
        assert (
            httpx.get(f"{base}/api/v1/persons/{persons[1]}/account", headers=ah).json()[
                "balance_fen"
            ]
            == 3 * 23500 + 13000
        )
        for p in persons[2:]:
            assert (
                httpx.get(f"{base}/api/v1/persons/{p}/account", headers=ah).json()["balance_fen"]
                == 3 * 23500
            )
        check = httpx.get(f"{base}/api/v1/ledger/check", headers=ah).json()
        assert check["ok"] is True, check["breaches"]
        assert check["transfers"] == 2 + 7 * 3 * 2 + 2

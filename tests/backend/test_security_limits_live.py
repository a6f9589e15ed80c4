"""The sign-in and device limits hold against parallel attacks on a real server with two
worker processes, on both databases: the workers count the same attempts (in the database),
and attempts still in flight count, so a burst is cut off before its passwords are checked."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.backend.conftest import PASSWORD, bootstrap
from tests.live import live_server

TOKEN = "/api/v1/auth/token"


def _parallel(n: int, call):
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def _checked(db_url: str) -> Counter[str]:
    """Sign-in attempts whose password was checked, by outcome (a refused one is not written)."""
    from backend.db import engine_for

    with engine_for(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT outcome FROM login_attempt")).all()
    return Counter(str(r[0]) for r in rows)


def test_32_parallel_wrong_passwords_for_one_account_are_not_all_checked(
    db_url: str, tmp_path: Path
) -> None:
    bootstrap(db_url, tmp_path)
    with live_server(db_url, tmp_path, workers=2) as base:

        def guess(i: int) -> httpx.Response:
            return httpx.post(
                f"{base}{TOKEN}", data={"username": "clerk", "password": f"guess {i}"}, timeout=60
            )

        answers = _parallel(32, guess)
        codes = Counter(r.status_code for r in answers)
        assert set(codes) == {401, 429}, codes
        assert codes[401] <= 5  # the account's limit: 5 a minute, counted while in flight
        for r in answers:
            if r.status_code == 429:
                assert r.json()["code"] == "too_many_attempts"
                assert 1 <= int(r.headers["retry-after"]) <= 60
        assert _checked(db_url) == Counter({"failed": codes[401]})
        # the right password, now, is refused too (not checked), on either worker
        later = [httpx.post(f"{base}{TOKEN}", data={"username": "clerk", "password": PASSWORD})]
        later.append(httpx.post(f"{base}{TOKEN}", data={"username": "clerk", "password": PASSWORD}))
        assert [r.status_code for r in later] == [429, 429]


def test_a_rotating_x_forwarded_for_is_still_one_client(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    with live_server(db_url, tmp_path, workers=2) as base:

        def guess(i: int) -> int:
            return httpx.post(
                f"{base}{TOKEN}",
                # a new name each time (no account limit) from a "new address" each time
                data={"username": f"user{i}", "password": "guess"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                timeout=60,
            ).status_code

        codes = Counter(_parallel(40, guess))
        assert set(codes) == {401, 429} and codes[401] <= 10, codes  # 10 a minute per address
        assert sum(_checked(db_url).values()) == codes[401]


def test_x_forwarded_for_from_a_configured_proxy_names_the_client(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The other side of the rule: behind a trusted proxy, clients are told apart."""
    bootstrap(sqlite_url, tmp_path)
    env = {"NONGBAO_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(sqlite_url, tmp_path, workers=1, env=env) as base:
        codes = [
            httpx.post(
                f"{base}{TOKEN}",
                data={"username": f"user{i}", "password": "guess"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            ).status_code
            for i in range(12)
        ]
        assert codes == [401] * 12  # 12 clients, one failure each: none reaches its limit
        # ... and one client rotating its own header behind the proxy is still one client
        spoofed = [
            httpx.post(
                f"{base}{TOKEN}",
                data={"username": f"other{i}", "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{i + 1}, 203.0.113.200"},
            ).status_code
            for i in range(11)
        ]
        assert spoofed == [401] * 10 + [429]


def test_bearer_in_any_letter_case_is_one_device_with_30_certifications_a_minute(
    db_url: str, tmp_path: Path
) -> None:
    bootstrap(db_url, tmp_path)
    with live_server(db_url, tmp_path, workers=2) as base:
        admin = httpx.post(
            f"{base}{TOKEN}", data={"username": "admin", "password": PASSWORD}
        ).json()["access_token"]
        kiosk = httpx.post(
            f"{base}/api/v1/devices",
            headers={"Authorization": f"Bearer {admin}"},
            json={"name": "k", "kind": "kiosk"},
        ).json()["token"]
        spellings = ["Bearer", "bearer", "BEARER", "bEaReR"]

        def submit(i: int) -> httpx.Response:
            # incomplete submissions: each is counted, then refused by validation (422)
            return httpx.post(
                f"{base}/api/v1/certifications",
                headers={"Authorization": f"{spellings[i % 4]} {kiosk}"},
                data={"person_id": "x"},
                timeout=60,
            )

        answers = _parallel(40, submit)
        codes = Counter(r.status_code for r in answers)
        assert codes == Counter({422: 30, 429: 10}), codes
        assert {r.json()["code"] for r in answers if r.status_code == 429} == {"too_many_attempts"}

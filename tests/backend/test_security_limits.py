"""Sign-in limits, the account lockout and its unlock, the bearer scheme in any letter case,
the client address behind proxies, ended kiosk sessions and the database file's mode: from
the attacker's side, through the API, on both databases (the parallel attacks against a real
server with two workers are in test_security_limits_live.py)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.backend.cert_helpers import ENROL_A, SAME_A, device, elder, enrol_face, photo
from tests.backend.conftest import PASSWORD, Api, bootstrap, make_settings, valid_id
from tests.backend.test_cli import nongbao
from tests.conftest import TODAY
from tests.live import server_env

TOKEN = "/api/v1/auth/token"


@pytest.fixture
def lockable(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """An API whose per-minute limits are out of the way, so the lockout (10 failures within
    15 minutes) is reached within one test."""
    from backend.app import create_app

    bootstrap(db_url, tmp_path)
    settings = make_settings(db_url, tmp_path).model_copy(
        update={"login_attempts_per_minute": 100, "login_account_attempts_per_minute": 100}
    )
    with TestClient(create_app(settings, today=lambda: TODAY)) as client:
        yield Api(client)


def sign_in(api: Api, username: str, password: str):
    return api.client.post(TOKEN, data={"username": username, "password": password})


def test_one_account_is_limited_to_5_failed_attempts_a_minute_from_any_address(api: Api) -> None:
    codes = [sign_in(api, "clerk", f"guess {i}").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    # the right password is not even checked while the account's limit stands
    refused = sign_in(api, "clerk", PASSWORD)
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # other accounts are untouched
    assert sign_in(api, "reviewer", PASSWORD).status_code == 200


def test_the_limits_lift_when_the_minute_has_passed(api: Api) -> None:
    from backend import clock

    assert [sign_in(api, "clerk", "wrong").status_code for _ in range(6)][-1] == 429
    with clock.travel(clock.now() + timedelta(seconds=61)):
        assert sign_in(api, "clerk", PASSWORD).status_code == 200


def test_ten_failures_lock_the_account_until_an_admin_unlocks_it(
    lockable: Api, db_url: str
) -> None:
    admin = lockable.auth("admin")
    assert [sign_in(lockable, "clerk", f"guess {i}").status_code for i in range(10)] == [401] * 10
    locked = sign_in(lockable, "clerk", PASSWORD)
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    # only an admin may unlock; the unlock is audited
    clerk_unlock = lockable.client.post(
        "/api/v1/users/clerk/unlock", headers=lockable.auth("reviewer")
    )
    assert clerk_unlock.status_code == 403
    assert lockable.client.post("/api/v1/users/nobody/unlock", headers=admin).status_code == 404
    r = lockable.client.post("/api/v1/users/clerk/unlock", headers=admin)
    assert r.status_code == 200 and r.json()["cleared_attempts"] == 10
    assert sign_in(lockable, "clerk", PASSWORD).status_code == 200
    assert ("POST /api/v1/users/clerk/unlock", "clerk") in _audit(db_url)


def test_a_lockout_lifts_by_itself_when_the_window_has_passed(lockable: Api) -> None:
    from backend import clock

    for i in range(10):
        sign_in(lockable, "clerk", f"guess {i}")
    assert sign_in(lockable, "clerk", PASSWORD).json()["code"] == "account_locked"
    with clock.travel(clock.now() + timedelta(minutes=15, seconds=1)):
        assert sign_in(lockable, "clerk", PASSWORD).status_code == 200


def test_unknown_names_are_locked_like_real_ones(lockable: Api) -> None:
    """The answers do not tell which account names exist."""
    for name in ("clerk", "no-such-user"):
        codes = [sign_in(lockable, name, f"guess {i}").status_code for i in range(11)]
        assert codes == [401] * 10 + [429], name


def test_the_unlock_command_unlocks(lockable: Api, db_url: str, tmp_path: Path) -> None:
    for i in range(10):
        sign_in(lockable, "clerk", f"guess {i}")
    assert sign_in(lockable, "clerk", PASSWORD).status_code == 429
    env = server_env(db_url, tmp_path)
    r = nongbao(["user", "unlock", "clerk"], env)
    assert r.returncode == 0, r.stderr
    assert "unlocked" in r.stdout and "10" in r.stdout
    assert sign_in(lockable, "clerk", PASSWORD).status_code == 200
    unknown = nongbao(["user", "unlock", "nobody"], env)
    assert unknown.returncode != 0 and "no user named" in unknown.stderr
    assert ("user.unlock", "clerk") in _audit(db_url)


def _audit(db_url: str) -> list[tuple[str, str]]:
    from backend.db import engine_for

    with engine_for(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT action, subject FROM audit_event")).all()
    return [(str(a), str(s)) for a, s in rows]


def test_the_console_sign_in_shares_the_account_limit(api: Api) -> None:
    for i in range(5):
        sign_in(api, "reviewer", f"guess {i}")
    page = api.client.post(
        "/console/login",
        data={"username": "reviewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert page.status_code == 429 and "retry-after" in page.headers


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_read_in_any_letter_case(api: Api, scheme: str) -> None:
    token = api.auth("clerk")["Authorization"].split(" ", 1)[1]
    r = api.client.get("/api/v1/villages", headers={"Authorization": f"{scheme}  {token} "})
    assert r.status_code == 200, r.text


def _certify_junk(api: Api, authorization: str) -> int:
    # an incomplete submission: counted by the limit, then refused by validation (422)
    return api.client.post(
        "/api/v1/certifications",
        headers={"Authorization": authorization},
        data={"person_id": "x"},
    ).status_code


def test_a_device_gets_30_certification_requests_a_minute_however_it_spells_bearer(
    api: Api,
) -> None:
    token = device(api)["Authorization"].split(" ", 1)[1]
    other = device(api, name="kiosk-2")["Authorization"]
    spellings = ["Bearer", "bearer", "BEARER", "bEaReR", "BeArEr"]
    codes = [_certify_junk(api, f"{spellings[i % 5]} {token}") for i in range(35)]
    assert codes.count(429) == 5 and 429 not in codes[:30]
    refused = api.client.post(
        "/api/v1/certifications", headers={"Authorization": f"bearer {token}"}, data={}
    )
    assert refused.json()["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _certify_junk(api, other) == 422  # per device: another kiosk is not held back


def test_a_user_gets_one_limit_however_many_tokens_they_sign_in_for(api: Api) -> None:
    tokens = [sign_in(api, "field_worker", PASSWORD).json()["access_token"] for _ in range(3)]
    codes = [_certify_junk(api, f"Bearer {tokens[i % 3]}") for i in range(31)]
    assert codes.count(429) == 1 and codes[-1] == 429


def test_an_invalid_token_is_not_counted_against_anyone(api: Api) -> None:
    codes = {_certify_junk(api, "Bearer nbd_forged") for _ in range(35)}
    assert codes == {401}


def _open_resident_session(api: Api, kiosk: dict[str, str]) -> str:
    opened = api.client.post(
        "/api/v1/kiosk/sessions",
        headers=kiosk,
        data={"id_number": valid_id("110105", "19500101", "011"), "name": "张三"},
        files={"image": ("a.jpg", photo(SAME_A), "image/jpeg")},
    )
    assert opened.status_code == 201, opened.text
    return str(opened.json()["session_token"])


def test_a_deleted_kiosk_session_no_longer_reads_the_account(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk, other_kiosk = device(api), device(api, name="kiosk-2")
    token = _open_resident_session(api, kiosk)
    inside = {**kiosk, "X-Resident-Session": token}
    first = api.client.get(f"/api/v1/persons/{pid}/account", headers=inside)
    assert first.status_code == 200, first.text
    # another kiosk cannot end (or learn about) this kiosk's session
    foreign = api.client.delete(f"/api/v1/kiosk/sessions/{token}", headers=other_kiosk)
    assert foreign.status_code == 404 and foreign.json()["code"] == "kiosk_session_not_found"
    assert api.client.get(f"/api/v1/persons/{pid}/account", headers=inside).status_code == 200
    assert api.client.delete(f"/api/v1/kiosk/sessions/{token}", headers=kiosk).status_code == 204
    for path in (f"/api/v1/persons/{pid}/account", f"/api/v1/persons/{pid}/payments"):
        after = api.client.get(path, headers=inside)
        assert after.status_code == 401, (path, after.text)
        assert after.json()["code"] == "kiosk_session_ended"
    # ending it again is no error; a new card + face opens a new session
    assert api.client.delete(f"/api/v1/kiosk/sessions/{token}", headers=kiosk).status_code == 204
    fresh = {**kiosk, "X-Resident-Session": _open_resident_session(api, kiosk)}
    assert api.client.get(f"/api/v1/persons/{pid}/account", headers=fresh).status_code == 200


def test_a_forged_session_token_cannot_be_ended(api: Api) -> None:
    r = api.client.delete("/api/v1/kiosk/sessions/abc.def", headers=device(api))
    assert r.status_code == 404


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_file_and_its_folder_are_private(tmp_path: Path) -> None:
    from backend.db import make_engine, upgrade

    old = os.umask(0o022)  # the usual umask: without care, files come out 0644
    try:
        data = tmp_path / "data"
        path = data / "nongbao.sqlite3"
        upgrade(f"sqlite:///{path}")
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:  # a write: the -wal and -shm files exist while it is open
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()
            assert (_mode(wal), _mode(shm)) == (0o600, 0o600)
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(data) == 0o700


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    from backend.db import make_engine

    path = tmp_path / "old.sqlite3"
    make_engine(f"sqlite:///{path}").dispose()
    path.chmod(0o644)
    Path(f"{path}-wal").write_bytes(b"")
    Path(f"{path}-wal").chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600 and _mode(Path(f"{path}-wal")) == 0o600


def test_the_app_makes_its_data_folder_private(db_url: str, tmp_path: Path) -> None:
    from backend.app import create_app

    settings = make_settings(db_url, tmp_path)
    settings.data_dir.mkdir(mode=0o755)
    settings.data_dir.chmod(0o755)
    create_app(settings, today=lambda: TODAY)
    assert _mode(settings.data_dir) == 0o700


def _scope(peer: str, *forwarded: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return {"type": "http", "client": (peer, 5000), "headers": headers}


def test_x_forwarded_for_is_believed_only_from_a_configured_proxy() -> None:
    from backend.api.deps import client_address

    assert client_address(_scope("127.0.0.1", "6.6.6.6"), "") == "127.0.0.1"
    assert client_address(_scope("9.9.9.9", "6.6.6.6"), "10.0.0.5") == "9.9.9.9"
    assert client_address(_scope("10.0.0.5", "6.6.6.6"), "10.0.0.5") == "6.6.6.6"
    # a client cannot hide behind a value it writes itself: the right-most untrusted hop counts
    assert client_address(_scope("10.0.0.5", "1.1.1.1, 6.6.6.6"), "10.0.0.5") == "6.6.6.6"
    assert client_address(_scope("10.0.0.5", "6.6.6.6, 10.1.2.3"), "10.0.0.5,10.1.0.0/16") == (
        "6.6.6.6"
    )
    assert client_address(_scope("10.0.0.5"), "10.0.0.5") == "10.0.0.5"


def test_serve_hands_uvicorn_the_same_trusted_proxies() -> None:
    from backend.cli import forwarded_allow_ips

    assert forwarded_allow_ips("") == ""  # then proxy headers are off: nobody is believed
    assert forwarded_allow_ips(" 10.0.0.5 , 10.1.0.0/16") == "10.0.0.5,10.1.0.0/16"


def test_a_name_the_database_cannot_store_is_refused_not_an_error(api: Api) -> None:
    r = sign_in(api, "cl\x00erk", "guess")
    assert r.status_code in (401, 422), r.text

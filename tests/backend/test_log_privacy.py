"""No ID number, token, receipt code or name in any log line: a real server, its real log."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from backend.logs import redact
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import live_server

ID = valid_id("110105", "19500101", "021")
OLD_15 = "110105500101021"
SESSION = "eyJwIjoicDEyMyIsImQiOiJkZXYxIiwiZSI6MTc5OTk5OTk5OX0.c2VjcmV0bWFjMTIzNDU2Nzg5MA"
CODE = "NBR1.c2lnbmVkcmVjZWlwdHBheWxvYWQ.ZXhhbXBsZXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (f'"GET /api/v1/persons?id_number={ID} HTTP/1.1" 200', "id_number=***", ID),
        (f"GET /api/v1/persons/{OLD_15}", "***********1021", OLD_15),
        (f"person {ID} looked up", "110105********021", ID),
        (f"DELETE /api/v1/kiosk/sessions/{SESSION}", "/kiosk/sessions/***", SESSION),
        (f"GET /api/v1/receipts/verify?code={CODE}&x=1", "code=***&x=1", CODE),
        ("Authorization: Bearer abc.def.ghi", "Bearer ***", "abc.def.ghi"),
        ("token nbd_AbCdEf0123456789", "***", "nbd_AbCdEf0123456789"),
        ("GET /x?name=%E5%BC%A0%E4%B8%89", "name=***", "%E5%BC%A0"),
    ],
)
def test_redact_masks_what_must_not_be_logged(line: str, kept: str, gone: str) -> None:
    out = redact(line)
    assert gone not in out and kept in out, out


def test_redact_keeps_ordinary_numbers() -> None:
    line = "paid 1234567 fen in 2026-11 to 36 people, run run_0123456789abcdef"
    assert redact(line) == line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_real_servers_log_holds_no_id_number_token_or_code(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    monkeypatch.setenv("NONGBAO_LOG_FORMAT", log_format)
    bootstrap(sqlite_url, tmp_path)
    with live_server(sqlite_url, tmp_path) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}
        ).json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        r = httpx.post(
            f"{base}/api/v1/persons",
            headers=staff,
            json={
                "id_number": ID,
                "name": "张秀兰",
                "village_code": "V001",
                "enrolled_on": "2010-08-01",
                "phone": "13912345678",
            },
        )
        assert r.status_code == 201, r.text
        assert httpx.get(f"{base}/api/v1/persons?id_number={ID}", headers=staff).status_code == 200
        fullwidth = ID.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
        httpx.get(f"{base}/api/v1/persons?id_number={quote(fullwidth)}", headers=staff)
        httpx.get(f"{base}/api/v1/persons/{OLD_15}", headers=staff)
        httpx.get(f"{base}/api/v1/receipts/verify", params={"code": CODE})
        httpx.delete(f"{base}/api/v1/kiosk/sessions/{SESSION}", headers=staff)
        httpx.get(f"{base}/api/v1/persons/{ID}", headers={"Authorization": f"Bearer {token}x"})
    log = next(tmp_path.glob("server-*.log")).read_text(errors="replace")

    # the requests were logged, by uvicorn's access log and by ours ...
    assert "id_number=***" in log and "/kiosk/sessions/***" in log and "code=***" in log
    assert "nongbao.request" in log or '"logger": "nongbao.request"' in log
    if log_format == "json":
        ours = [json.loads(ln) for ln in log.splitlines() if ln.startswith("{")]
        assert any(line.get("path", "").startswith("/api/v1/persons") for line in ours)
    # ... and nothing that identifies a person or opens a session is in the log
    for secret in (ID, OLD_15, SESSION, CODE, token, quote(fullwidth), "张秀兰", "13912345678"):
        assert secret not in log, f"{secret!r} is in the server log"

"""The whole path with real processes: a live backend, the SMS simulator posting delivery
receipts to the backend's callback, and `nongbao notices send` from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.backend.conftest import PASSWORD, Api
from tests.backend.test_cli import nongbao
from tests.live import live_server, server_env
from tests.notices.helpers import pensioner
from tests.sms_sim import start_sms_sim

TOKEN = "receipt-token-for-tests"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_sends_and_the_gateway_reports_delivery(api: Api, db_url: str, tmp_path: Path) -> None:
    pid = pensioner(api, "011", awarded_on="2025-11-20", name="钱大妈", phone="13800000011")
    with (
        live_server(db_url, tmp_path, env={"NONGBAO_SMS_RECEIPT_TOKEN": TOKEN}) as base,
        start_sms_sim(
            tmp_path, callback=f"{base}/api/v1/sms/receipts", callback_token=TOKEN
        ) as sim,
    ):
        env = server_env(db_url, tmp_path, NONGBAO_SMS_URL=sim.url, NONGBAO_SMS_KEY=sim.key)
        done = nongbao(["notices", "send", "--json"], env)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert (result["planned"]["cert_due"], result["sent"]) == (1, 1)
        [message] = sim.messages()
        assert message["to"] == "13800000011" and message["text"].startswith("钱大妈您好")

        deadline = time.monotonic() + 20
        while sim.stats()["callbacks_accepted"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sim.stats()["callbacks_accepted"] == 1  # the backend took the receipt

        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}
        ).json()["access_token"]
        listed = httpx.get(
            f"{base}/api/v1/persons/{pid}/notices", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [(n["status"], n["phone"]) for n in listed] == [("delivered", "138****0011")]

        again = json.loads(nongbao(["notices", "send", "--json"], env).stdout)
        assert (sum(again["planned"].values()), again["sent"]) == (0, 0)
        assert len(sim.messages()) == 1

        # the callback from the attacker's side: no token, a wrong one, a malformed receipt
        receipt = {
            "message_id": message["message_id"],
            "ref": message["ref"],
            "status": "failed",
            "at": "t",
        }
        url = f"{base}/api/v1/sms/receipts"
        assert httpx.post(url, json=receipt).status_code == 401
        wrong = httpx.post(url, json=receipt, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.json()["code"]
        bad = httpx.post(url, json={"ref": "x"}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 422 and bad.json()["code"]
        stranger = {**receipt, "ref": "sms_not_ours", "message_id": "sim-999"}
        r = httpx.post(url, json=stranger, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.json() == {"applied": False}


def test_cli_without_a_gateway_says_so(tmp_path: Path, sqlite_url: str) -> None:
    done = nongbao(["notices", "send"], server_env(sqlite_url, tmp_path, NONGBAO_SMS_URL=""))
    assert done.returncode != 0 and "NONGBAO_SMS_URL" in done.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_sends_in_the_background(api: Api, db_url: str, tmp_path: Path) -> None:
    """`nongbao serve` with a gateway configured plans and sends on its own (a round at start)."""
    pensioner(api, "011", awarded_on="2025-11-20", name="钱大妈", phone="13800000011")
    with start_sms_sim(tmp_path) as sim:
        env = {"NONGBAO_SMS_URL": sim.url, "NONGBAO_SMS_KEY": sim.key}
        with live_server(db_url, tmp_path, workers=2, env=env):
            deadline = time.monotonic() + 30
            while not sim.messages() and time.monotonic() < deadline:
                time.sleep(0.3)
            time.sleep(1)  # the second worker's round: it must not send the notice again
            [message] = sim.messages()
            assert message["to"] == "13800000011" and "钱大妈" in message["text"]

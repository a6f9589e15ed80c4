"""The person's page in the console shows each notice's delivery, phone numbers masked."""

from __future__ import annotations

from pathlib import Path

from backend.services import notices
from tests.backend.conftest import PASSWORD, Api
from tests.notices.helpers import pensioner, send, service, sync
from tests.sms_sim import SmsSim


def test_person_page_shows_delivery(api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim) -> None:
    pid = pensioner(api, "011", awarded_on="2025-11-20", name="钱大妈", phone="13800000011")
    api.post(
        f"/api/v1/persons/{pid}/family-contacts",
        "clerk",
        json={"name": "钱小红", "relation": "child", "phone": "13900000099"},
    )
    api.post("/api/v1/notices/plan")
    with service(db_url, tmp_path) as ctx:
        notices.notify_payment_returned(ctx, pid, ref="r1", period="2026年11月", amount_fen=100)
    sms_sim.fail("13800000011", "undeliverable")
    send(db_url, tmp_path, sms_sim)
    sync(db_url, tmp_path, sms_sim)

    client = api.client
    assert client.get(f"/console/persons/{pid}", follow_redirects=False).status_code == 303
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get(f"/console/persons/{pid}").text
    assert "钱大妈" in page and "认证即将到期" in page and "银行退回" in page
    assert page.count("未送达") == 2  # the simulator could not deliver to this number
    assert "138****0011" in page and "139****0099" in page and "钱小红" in page
    assert "13800000011" not in page and "13900000099" not in page
    english = client.get(f"/console/persons/{pid}?lang=en").text
    assert "Not delivered" in english and "Certification due" in english
    assert client.get("/console/persons/nobody_here").status_code == 404
    assert client.get("/console/persons/bad%20id").status_code == 422
    due = client.get("/console/due").text
    assert f'href="/console/persons/{pid}"' in due

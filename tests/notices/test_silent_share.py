"""The county director's figure: the share certified without coming in, per village, in the
certification report (JSON, chart) and on the console; the chart is written to artifacts/."""

from __future__ import annotations

from pathlib import Path

from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.notices.helpers import pensioner

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "notices"


def test_share_without_coming_in_per_village(api: Api, db_url: str) -> None:
    silent = pensioner(api, "011", awarded_on="2025-10-10", name="钱大妈")
    pensioner(api, "021", awarded_on="2026-06-01", name="孙大爷")
    pid = api.enrol(
        valid_id("110105", "19450801", "031"),
        name="李奶奶",
        village="V002",
        enrolled_on="2010-07-05",
    )
    assert (
        api.post(
            f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2026-06-01"}
        ).status_code
        == 201
    )
    r = api.post(
        "/api/v1/imports/data-match",
        "clerk",
        data={"source": "hospital_visit"},
        files={
            "file": (
                "h.csv",
                f"身份证号,姓名,就诊日期,结算流水号\n{valid_id('110105', '19450801', '011')},钱大妈,2026-11-20,YB-1\n".encode(),
                "text/csv",
            )
        },
    )
    assert r.json()["results"][0]["person_id"] == silent

    report = api.get("/api/v1/reports/certification?on=2026-11-27").json()
    figure = report["summary"]["without_coming_in"]
    shares = {
        v["village_code"]: (v["pensioners"], v["silent"], v["share"]) for v in figure["villages"]
    }
    assert shares == {"V001": (2, 1, 0.5), "V002": (1, 0, 0.0)}
    assert figure["totals"]["silent"] == 1 and abs(figure["totals"]["share"] - 1 / 3) < 1e-9
    assert "certified-without-coming-in" in [c["name"] for c in report["charts"]]
    pdf = api.get("/api/v1/reports/certification?on=2026-11-27&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    client = api.client
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get("/console/silent").text
    assert "静默认证率" in page and "50.0%" in page and "33.3%" in page
    png = client.get("/console/silent.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "certified-without-coming-in.png").write_bytes(png.content)

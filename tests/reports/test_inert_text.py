"""Text that reaches a spreadsheet is inert, and a bad name breaks no report: a resident named
like a formula, in a village whose stored name holds a control character (as rows written
before the API refused them may), through the real report routes, the bank file and the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from openpyxl import load_workbook

from backend.db import engine_for
from tests.backend.conftest import Api, valid_id

FORMULA_NAME = '=HYPERLINK("http://x","查看")'
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _county(api: Api, db_url: str) -> tuple[str, str]:
    """A pensioner named like a formula, paid once; the village's stored name gets a control
    character behind the API's back. Returns (person_id, run_id)."""
    pid = api.enrol(
        valid_id("110105", "19450801", "003"), name=FORMULA_NAME, enrolled_on="2010-07-05"
    )
    other = api.enrol(
        valid_id("110105", "19440101", "005"), name="@SUM(1+1)", enrolled_on="2010-07-05"
    )
    for who in (pid, other):
        r = api.post(f"/api/v1/persons/{who}/award", "clerk", json={"awarded_on": "2010-07-20"})
        assert r.status_code == 201, r.text
    run = api.post("/api/v1/payroll-runs", json={"period": "2010-08", "run_on": "2010-08-20"})
    assert run.status_code == 201, run.text
    api.approve_run(run.json()["run_id"])  # a second admin releases it: then its bank file
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE village SET name = :n WHERE code = 'V001'"), {"n": "东\x1b村\x07"}
        )
    return pid, run.json()["run_id"]


def _assert_inert_xlsx(content: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    texts = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    return texts


def _assert_inert_csv(content: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    for row in rows:
        for cell in row:
            assert not cell.startswith(TRIGGERS) or _is_number(cell), (row, cell)
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_api_refuses_control_characters_in_a_village_name(api: Api) -> None:
    for name, code in (
        ("东\x1b村", "control_character"),
        ("东\n村", "line_break"),
        ("东\u202e村", "control_character"),
    ):
        r = api.post("/api/v1/villages", json={"code": "V009", "name": name})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code and r.json()["errors"][0]["field"] == "name"


def test_reports_write_formula_names_as_text(api: Api, db_url: str) -> None:
    _, run_id = _county(api, db_url)
    paths = {
        "statement": f"/api/v1/reports/monthly-statement/{run_id}",
        "publicity": "/api/v1/reports/publicity/2010",
        "coverage": "/api/v1/reports/coverage/2010",
        "certification": "/api/v1/reports/certification?on=2010-08-20",
        "fund": "/api/v1/reports/fund/2010",
    }
    for kind, path in paths.items():
        sep = "&" if "?" in path else "?"
        for fmt in ("json", "pdf", "png"):
            r = api.get(f"{path}{sep}format={fmt}")
            assert r.status_code in (200, 404), (kind, fmt, r.text[:300])  # png: charts only
        xlsx = api.get(f"{path}{sep}format=xlsx")
        assert xlsx.status_code == 200, (kind, xlsx.text[:300])
        texts = _assert_inert_xlsx(xlsx.content)
        assert not any("\x1b" in t or "\x07" in t for t in texts)
        rows = _assert_inert_csv(api.get(f"{path}{sep}format=csv").content)
        if kind == "statement":
            assert FORMULA_NAME in texts  # the name is there, as a string cell
            assert "'" + FORMULA_NAME in [c for row in rows for c in row]
    bank = api.get(f"/api/v1/payroll-runs/{run_id}/bank-file?bank=ccb_csv")
    assert bank.status_code == 200, bank.text
    cells = _assert_inert_csv(bank.content)
    assert "'" + FORMULA_NAME in [c for row in cells for c in row]


def test_the_report_cli_writes_inert_files(api: Api, db_url: str, tmp_path: Path) -> None:
    from tests.live import ROOT

    _, run_id = _county(api, db_url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NONGBAO_")},
        "NONGBAO_DATABASE_URL": db_url,
        "NONGBAO_DATA_DIR": str(tmp_path / "data"),
        "NONGBAO_KEY_FILE": str(tmp_path / "keys" / "master.key"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nongbao",
            "report",
            "statement",
            run_id,
            "--format",
            "all",
            "--out",
            str(tmp_path / "r"),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    files = {Path(p).suffix: Path(p) for p in json.loads(out.stdout)["files"]}
    assert FORMULA_NAME in _assert_inert_xlsx(files[".xlsx"].read_bytes())
    _assert_inert_csv(files[".csv"].read_bytes())

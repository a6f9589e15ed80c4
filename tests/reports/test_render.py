"""Every report in every format through the API; PDFs rendered to PNG with pdftoppm into
artifacts/reports/ for people to look at (Chinese must render, tables must fit the page)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

from openpyxl import load_workbook

from tests.backend.conftest import Api
from tests.reports.county import build

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "reports"


def test_every_report_renders_in_every_format(api: Api, db_url: str) -> None:
    c = build(api)
    out = ARTIFACTS / ("postgresql" if db_url.startswith("postgresql") else "sqlite")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    paths = {
        "monthly-statement": f"/api/v1/reports/monthly-statement/{c.runs[0]['run_id']}",
        "fund": "/api/v1/reports/fund/2015",
        "coverage": "/api/v1/reports/coverage/2026",
        "publicity": "/api/v1/reports/publicity/2015",
        "certification": "/api/v1/reports/certification?on=2026-11-27",
    }
    for kind, path in paths.items():
        sep = "&" if "?" in path else "?"
        screen = api.get(path).json()
        pdf = api.get(f"{path}{sep}format=pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", (
            pdf.text[:300]
        )
        assert pdf.content.startswith(b"%PDF")
        (out / f"{kind}.pdf").write_bytes(pdf.content)
        fonts = subprocess.run(
            ["pdffonts", str(out / f"{kind}.pdf")], capture_output=True, text=True, check=True
        ).stdout
        assert "WenQuanYiMicroHei" in fonts and " yes " in fonts  # the CJK font is embedded
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", str(out / f"{kind}.pdf"), str(out / kind)], check=True
        )
        assert sorted(out.glob(f"{kind}-*.png")), kind
        text = subprocess.run(
            ["pdftotext", str(out / f"{kind}.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert screen["title"].split(" / ")[0] in text  # the Chinese title is real text, not boxes
        xlsx = api.get(f"{path}{sep}format=xlsx")
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        assert len(book.sheetnames) == len(screen["sections"])
        assert book.worksheets[0]["A1"].value == screen["title"]
        rows = list(
            csv.reader(io.StringIO(api.get(f"{path}{sep}format=csv").content.decode("utf-8-sig")))
        )
        assert rows[0] == [screen["title"]]
        first = screen["sections"][0]
        assert [col["key"] for col in first["columns"]] in rows
    fund_csv = list(
        csv.reader(
            io.StringIO(api.get("/api/v1/reports/fund/2015?format=csv").content.decode("utf-8-sig"))
        )
    )
    closing = next(r for r in fund_csv if r and r[0].startswith("年末结余"))
    assert int(closing[1]) == api.get("/api/v1/reports/fund/2015").json()["summary"]["closing_fen"]
    for kind in ("coverage", "certification"):
        png = api.get(f"{paths[kind]}{'&' if '?' in paths[kind] else '?'}format=png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        (out / f"{kind}-chart.png").write_bytes(png.content)
    assert api.get(f"{paths['fund']}?format=png").status_code == 404


def test_report_cli_writes_files_and_prints_json(api: Api, db_url: str, tmp_path: Path) -> None:
    import json
    import os
    import sys

    from tests.live import ROOT

    build(api)
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
            "fund",
            "--year",
            "2015",
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
    answer = json.loads(out.stdout)
    assert answer["summary"]["reconciled"] is True
    assert (
        answer["summary"]["closing_fen"]
        == api.get("/api/v1/reports/fund/2015").json()["summary"]["closing_fen"]
    )
    assert sorted(Path(p).suffix for p in answer["files"]) == [".csv", ".json", ".pdf", ".xlsx"]
    cert = subprocess.run(
        [
            sys.executable,
            "-m",
            "nongbao",
            "report",
            "certification",
            "--on",
            "2026-11-27",
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert cert.returncode == 0, cert.stderr
    assert "certification-2026-11-27-certification-status.png" in cert.stdout
    assert (
        (tmp_path / "r" / "certification-2026-11-27-certification-status.png")
        .read_bytes()
        .startswith(b"\x89PNG")
    )
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "nongbao",
            "report",
            "fund",
            "--year",
            "2031",
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert bad.returncode == 1 and "the year must be between 2010 and" in bad.stderr

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
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text[:300]
        assert pdf.content.startswith(b"%PDF")
        (out / f"{kind}.pdf").write_bytes(pdf.content)
        fonts = subprocess.run(["pdffonts", str(out / f"{kind}.pdf")], capture_output=True, text=True, check=True).stdout
        assert "WenQuanYiMicroHei" in fonts and " yes " in fonts  # the CJK font is embedded
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(out / f"{kind}.pdf"), str(out / kind)], check=True)
        assert sorted(out.glob(f"{kind}-*.png")), kind
        text = subprocess.run(["pdftotext", str(out / f"{kind}.pdf"), "-"], capture_output=True, text=True, check=True).stdout
        assert screen["title"].split(" / ")[0] in text  # the Chinese title is real text, not boxes
        xlsx = api.get(f"{path}{sep}format=xlsx")
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        assert len(book.sheetnames) == len(screen["sections"])
        assert book.worksheets[0]["A1"].value == screen["title"]
        rows = list(csv.reader(io.StringIO(api.get(f"{path}{sep}format=csv").content.decode("utf-8-sig"))))
        assert rows[0] == [screen["title"]]
        first = screen["sections"][0]
        assert [col["key"] for col in first["columns"]] in rows
    fund_csv = list(csv.reader(io.StringIO(api.get("/api/v1/reports/fund/2015?format=csv").content.decode("utf-8-sig"))))
    closing = next(r for r in fund_csv if r and r[0].startswith("年末结余"))
    assert int(closing[1]) == api.get("/api/v1/reports/fund/2015").json()["summary"]["closing_fen"]
    for kind in ("coverage", "certification"):
        png = api.get(f"{paths[kind]}{'&' if '?' in paths[kind] else '?'}format=png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        (out / f"{kind}-chart.png").write_bytes(png.content)
    assert api.get(f"{paths['fund']}?format=png").status_code == 404

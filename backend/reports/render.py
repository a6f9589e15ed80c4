"""Renderers: CSV (fen, machine-readable), XLSX (openpyxl) and PDF (ReportLab, CJK font)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import cache
from numbers import Number
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.money import yuan
from backend.reports.model import Column, Report, Section
from backend.spreadsheet import clean_text, csv_cell, make_inert, xlsx_value

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus.doctemplate import BaseDocTemplate

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei
FONT_NAME = "WQYMicroHei"
FORMATS = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Report, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "pdf":
        return to_pdf(report)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def _plain(col: Column, value: Any) -> str:
    if value is None:
        return ""
    if col.kind == "rate":
        return f"{float(value):.4f}"
    return str(value)


def _human(col: Column, value: Any) -> str:
    if value is None:
        return "—" if col.kind == "rate" else ""
    if col.kind == "fen":
        return yuan(int(value))
    if col.kind == "rate":
        return f"{float(value) * 100:.1f}%"
    return str(value)


# --- CSV ----------------------------------------------------------------------------------


def to_csv(report: Report) -> bytes:
    """Money in integer fen, rates as fractions; sections one after another. The BOM lets
    Excel open the Chinese headers correctly."""
    out = io.StringIO()
    raw = csv.writer(out, lineterminator="\n")

    def writerow(cells: list[Any]) -> None:  # every text inert (backend/spreadsheet.py)
        raw.writerow([csv_cell(v) for v in cells])

    writerow([report.title])
    for label, value in report.facts:
        writerow([label, value])
    for s in report.sections:
        writerow([])
        writerow([s.title])
        writerow([c.key for c in s.columns])
        for row in [*s.rows, *([s.totals] if s.totals else [])]:
            raw.writerow([_csv_value(c, row.get(c.key)) for c in s.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_value(col: Column, value: Any) -> Any:
    """Numbers stay numbers (a negative amount is not a formula); any text is made inert."""
    if isinstance(value, Number) and not isinstance(value, bool):
        return _plain(col, value)
    return csv_cell(_plain(col, value))


# --- XLSX ---------------------------------------------------------------------------------

# integer fen shown as yuan: the cell keeps the exact fen, the format inserts the point
FEN_FORMAT = '0"."00'


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.worksheets[0])  # the new workbook's one (active) sheet
    used: set[str] = set()
    for i, s in enumerate(report.sections, start=1):
        ws = wb.create_sheet(_sheet_name(xlsx_value(s.title), i, used))
        ws.append([xlsx_value(report.title)])
        ws["A1"].font = Font(bold=True, size=13)
        for label, value in report.facts:
            ws.append([xlsx_value(label), xlsx_value(value)])
        ws.append([xlsx_value(s.title)])
        ws.append([xlsx_value(c.label) for c in s.columns])
        header_row = ws.max_row
        for cell in ws[header_row]:
            cell.font = Font(bold=True)
        for row in [*s.rows, *([s.totals] if s.totals else [])]:
            ws.append([_xlsx_value(c, row.get(c.key)) for c in s.columns])
            for c, cell in zip(s.columns, ws[ws.max_row], strict=True):
                if c.kind == "fen":
                    cell.number_format = FEN_FORMAT
                elif c.kind == "rate":
                    cell.number_format = "0.0%"
        if s.totals:
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
        for j, c in enumerate(s.columns, start=1):
            ws.column_dimensions[ws.cell(row=header_row, column=j).column_letter].width = max(
                10, 12 * c.width
            )
        ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    if not report.sections:
        wb.create_sheet("report").append([xlsx_value(report.title)])
    for ws in wb.worksheets:  # no text becomes a formula (backend/spreadsheet.py)
        for cells in ws.iter_rows():
            for cell in cells:
                make_inert(cell)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _xlsx_value(col: Column, value: Any) -> Any:
    if value is None or col.kind == "text" or isinstance(value, str):
        return xlsx_value(value)
    return float(value) if col.kind == "rate" else int(value)


def _sheet_name(title: str, i: int, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:28] or f"sheet{i}"
    while name in used:
        name = f"{name[:25]}-{i}"
    used.add(name)
    return name


# --- PDF ----------------------------------------------------------------------------------


@cache
def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if not CJK_FONT.exists():
        raise RuntimeError(
            f"the CJK font {CJK_FONT} is missing: install the Debian package fonts-wqy-microhei"
        )
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(CJK_FONT), subfontIndex=0))
    return FONT_NAME


def to_pdf(report: Report) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    font = _register_font()
    wide = report.landscape or any(len(s.columns) > 7 for s in report.sections)
    page = landscape(A4) if wide else A4
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=report.title,
    )
    title = ParagraphStyle("t", fontName=font, fontSize=15, leading=20, spaceAfter=4)
    h2 = ParagraphStyle("h", fontName=font, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=8.5, leading=11)
    cell = ParagraphStyle("c", fontName=font, fontSize=7.5, leading=9.5)
    story: list[Any] = [Paragraph(_markup(report.title), title)]
    if report.facts:
        story.append(Paragraph(_markup("　".join(f"{k}：{v}" for k, v in report.facts)), body))
    for s in report.sections:
        story.append(Paragraph(_markup(s.title), h2))
        story.append(_pdf_table(s, doc.width, cell, font))
    for note in report.notes:
        story.append(Spacer(1, 3 * mm))
        story.append(Paragraph(note, body))
    for chart in report.charts:
        png = chart.draw()
        img = Image(io.BytesIO(png))
        scale = min(doc.width / img.imageWidth, (doc.height * 0.8) / img.imageHeight)
        img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
        story.append(KeepTogether([Paragraph(chart.title, h2), img]))
    doc.build(story, onFirstPage=_footer(font), onLaterPages=_footer(font))
    return buf.getvalue()


def _pdf_table(s: Section, width: float, cell: Any, font: str) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    total_w = sum(c.width for c in s.columns)
    widths = [width * c.width / total_w for c in s.columns]
    header: list[Paragraph | str] = [Paragraph(_markup(c.label), cell) for c in s.columns]
    data = [header]
    for row in [*s.rows, *([s.totals] if s.totals else [])]:
        # text cells wrap (names, villages); numbers are short and stay plain strings
        data.append(
            [
                Paragraph(_markup(_human(c, row.get(c.key))), cell)
                if c.kind == "text"
                else clean_text(_human(c, row.get(c.key)))
                for c in s.columns
            ]
        )
    if len(data) == 1:
        data.append(["（无）", *[""] * (len(s.columns) - 1)])
    table = LongTable(data, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    for j, c in enumerate(s.columns):
        if c.kind != "text":
            style.append(("ALIGN", (j, 1), (j, -1), "RIGHT"))
    if s.totals:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f3f3")))
    table.setStyle(TableStyle(style))
    return table


def _markup(text: str) -> str:
    """Stored text for ReportLab's Paragraph mini-markup: clean and escaped (a `<` in a name
    must not break the page)."""
    from xml.sax.saxutils import escape

    return escape(clean_text(text)).replace("\n", "<br/>")


def _footer(font: str) -> Callable[[Canvas, BaseDocTemplate], None]:
    def draw(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawRightString(
            doc.pagesize[0] - doc.rightMargin, 8 * 2.83, f"第 {doc.page} 页 / page {doc.page}"
        )
        canvas.restoreState()

    return draw


def record_pdf(title: str, facts: list[tuple[str, str]]) -> bytes:
    """A one-page record of labelled facts (e.g. a field visit's attestation), for the
    document archive. Byte-identical for identical input (ReportLab's invariant mode: no
    creation date, a fixed document id), so a resent record is recognised by its sha256."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    font = _register_font()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        invariant=1,
    )
    head = ParagraphStyle("t", fontName=font, fontSize=15, leading=20, spaceAfter=8)
    body = ParagraphStyle("b", fontName=font, fontSize=10, leading=14)
    # user text goes through Paragraph's mini-markup: escape it, keep its line breaks
    rows = [
        [Paragraph(escape(k), body), Paragraph(escape(v).replace("\n", "<br/>"), body)]
        for k, v in facts
    ]
    table = Table(rows, colWidths=[doc.width * 0.28, doc.width * 0.72])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    doc.build([Paragraph(escape(title), head), table])
    return buf.getvalue()

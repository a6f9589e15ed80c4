"""Receipts: the model, the layout in printer columns, and previews (PNG, PDF).

The layout is computed once, in character cells, the way a Chinese ESC/POS printer
prints: 12 x 24 dots per ASCII character, two cells per Chinese character, 32 columns on
58 mm paper and 48 on 80 mm. The PNG preview draws the same cells, so what the screen and
the archive show is what the printer prints.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from hardware.errors import PrinterError

COLUMNS = {58: 32, 80: 48}
DOTS = {58: 384, 80: 576}  # printable width at 203 dpi
CELL_W, CELL_H, LINE_H = 12, 24, 30  # dots; LINE_H is the printers' default 1/6 inch
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)


@dataclass(frozen=True)
class ReceiptLine:
    label: str
    value: str = ""
    amount: Decimal | None = None


@dataclass(frozen=True)
class Receipt:
    title: str
    lines: Sequence[ReceiptLine | str] = ()  # a plain string prints as is, wrapped
    printed_at: datetime | None = None
    device: str | None = None
    number: str | None = None
    qr: str | None = None
    footer: Sequence[str] = ()
    header: str | None = None  # the issuing centre, above the title
    # body lines printed double height (6 mm, not 3): a receipt older people must read
    tall_body: bool = False

    @property
    def total(self) -> Decimal | None:
        amounts = [
            line.amount
            for line in self.lines
            if isinstance(line, ReceiptLine) and line.amount is not None
        ]
        return sum(amounts, Decimal(0)) if amounts else None


@dataclass(frozen=True)
class Line:
    """One printed line, already padded to the paper's columns."""

    text: str
    double: bool = False  # double width and height (the title)
    bold: bool = False
    tall: bool = False  # double height only: the same columns, letters twice as tall


@dataclass(frozen=True)
class Layout:
    columns: int
    body: list[Line] = field(default_factory=list)
    qr: str | None = None
    footer: list[Line] = field(default_factory=list)


def columns_for(width_mm: int) -> int:
    try:
        return COLUMNS[width_mm]
    except KeyError:
        raise PrinterError(f"paper width {width_mm} mm is not supported (58 or 80)") from None


def cell_width(char: str) -> int:
    """Cells a character takes on the printer: anything beyond ASCII prints double width."""
    return 1 if ord(char) < 0x80 else 2


def text_width(text: str) -> int:
    return sum(cell_width(char) for char in text)


def wrap(text: str, columns: int) -> list[str]:
    """Cuts text into pieces of at most `columns` cells (Chinese has no spaces to wait for)."""
    pieces, current, width = [], "", 0
    for char in text:
        if width + cell_width(char) > columns and current:
            pieces.append(current)
            current, width = "", 0
        current += char
        width += cell_width(char)
    return [*pieces, current] if current or not pieces else pieces


def wrap_words(text: str, columns: int) -> list[str]:
    """Like `wrap`, but a line breaks at a space when there is one, so that words of a
    title ("城乡居民养老保险 生存认证凭条") stay whole; a word too long still wraps."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(lines[-1]) + 1 + text_width(word) <= columns:
            lines[-1] += " " + word
        else:
            lines += wrap(word, columns)
    return lines or [""]


def pad(text: str, columns: int, align: str) -> str:
    space = max(0, columns - text_width(text))
    if align == "right":
        return " " * space + text
    if align == "center":
        return " " * (space // 2) + text
    return text


def format_amount(amount: Decimal) -> str:
    return f"{amount:,.2f}元"


def label_value(label: str, value: str, columns: int, bold: bool = False) -> list[Line]:
    """`label      value` on one line, or the label then the value right-aligned below."""
    if text_width(label) + 1 + text_width(value) <= columns:
        gap = columns - text_width(label) - text_width(value)
        return [Line(label + " " * gap + value, bold=bold)]
    lines = [Line(piece, bold=bold) for piece in wrap(label, columns)]
    return lines + [Line(pad(p, columns, "right"), bold=bold) for p in wrap(value, columns)]


def layout(receipt: Receipt, width_mm: int = 58) -> Layout:
    columns = columns_for(width_mm)
    rule = Line("-" * columns)
    body: list[Line] = []
    if receipt.header:
        body += [Line(pad(p, columns, "center")) for p in wrap(receipt.header, columns)]
    half = columns // 2  # the title prints double width
    body += [Line(pad(p, half, "center"), double=True) for p in wrap_words(receipt.title, half)]
    body.append(rule)
    items: list[Line] = []
    for item in receipt.lines:
        if isinstance(item, str):
            items += [Line(piece) for piece in wrap(item, columns)]
        elif item.amount is None:
            items += label_value(item.label, item.value, columns)
        else:
            label = f"{item.label} {item.value}".strip()
            items += label_value(label, format_amount(item.amount), columns)
    if receipt.tall_body:
        items = [Line(x.text, x.double, x.bold, tall=True) for x in items]
    body += items
    if receipt.total is not None:
        body.append(rule)
        body += label_value("合计", format_amount(receipt.total), columns, bold=True)
    body.append(rule)
    meta = (
        ("时间", receipt.printed_at.strftime("%Y-%m-%d %H:%M") if receipt.printed_at else None),
        ("终端", receipt.device),
        ("编号", receipt.number),
    )
    for label, value in meta:
        if value:
            body += label_value(label, value, columns)
    texts = [receipt.footer] if isinstance(receipt.footer, str) else receipt.footer
    footer = [Line(pad(p, columns, "center")) for text in texts for p in wrap(text, columns)]
    return Layout(columns, body, receipt.qr, footer)


# --------------------------------------------------------------------------- drawing


def font_path() -> Path:
    for path in FONT_PATHS:
        if path.exists():
            return path
    raise PrinterError("no Chinese font found; install fonts-wqy-microhei")


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


def draw_line(line: Line, columns: int) -> Image.Image:
    """One line as a black-on-white greyscale image, drawn cell by cell like the printer."""
    if line.tall:  # printed at double height: the normal line stretched upwards
        flat = draw_line(Line(line.text, bold=line.bold), columns)
        return flat.resize((flat.width, flat.height * 2), Image.Resampling.NEAREST)
    scale = 2 if line.double else 1
    image = Image.new("L", (columns * CELL_W, LINE_H * scale), 255)
    draw = ImageDraw.Draw(image)
    x = 0
    for run in _runs(line.text):
        span = text_width(run) * CELL_W * scale
        if run.strip() and cell_width(run[0]) == 1:
            # an ASCII run ("2027-11-30") as one string, centred in its cells: drawn letter
            # by letter its narrow "-" and ":" would leave gaps that read as spaces. (ASCII
            # glyphs of a CJK font are wider than half a cell at 24 px: shrink them.)
            font = _font((CELL_H - 4) * scale)
            left = x + max(0.0, (span - draw.textlength(run, font=font)) / 2)
            draw.text((left, 4 * scale), run, font=font, fill=0, stroke_width=int(line.bold))
        elif run.strip():
            for i, char in enumerate(run):
                left = x + i * 2 * CELL_W * scale
                font = _font(CELL_H * scale)
                draw.text((left, 2 * scale), char, font=font, fill=0, stroke_width=int(line.bold))
        x += span
    return image


def qr_image(payload: str, width: int) -> Image.Image:
    """A QR code about half the paper wide, with the quiet zone scanners need."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(payload.encode("utf-8"))
    code.make(fit=True)
    modules = code.modules_count + 2 * code.border
    code.box_size = max(2, (width // 2) // modules)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("L")


def render_image(receipt: Receipt, width_mm: int = 58) -> Image.Image:
    plan = layout(receipt, width_mm)
    width = DOTS[width_mm]
    blocks = [draw_line(line, plan.columns) for line in plan.body]
    if plan.qr:
        code = qr_image(plan.qr, width)
        centred = Image.new("L", (width, code.height + LINE_H), 255)
        centred.paste(code, ((width - code.width) // 2, LINE_H // 2))
        blocks.append(centred)
    blocks += [draw_line(line, plan.columns) for line in plan.footer]
    margin = LINE_H
    page = Image.new("L", (width, sum(b.height for b in blocks) + 2 * margin), 255)
    y = margin
    for block in blocks:
        page.paste(block, (0, y))
        y += block.height
    return page


def render_png(receipt: Receipt, width_mm: int = 58) -> bytes:
    """The receipt as the printer would print it, `DOTS[width_mm]` pixels wide."""
    buffer = io.BytesIO()
    render_image(receipt, width_mm).save(buffer, format="PNG")
    return buffer.getvalue()


def render_pdf(receipt: Receipt, width_mm: int = 80) -> bytes:
    """An archivable PDF of the receipt, its text real text (searchable, copyable)."""
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "NongbaoCJK" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("NongbaoCJK", str(font_path()), subfontIndex=0))
    plan = layout(receipt, width_mm)
    cell, leading, margin = (width_mm - 8) * mm / plan.columns, 5.0 * mm, 4 * mm
    qr_side = width_mm * mm / 2 if plan.qr else 0
    lines = plan.body + plan.footer
    tall = len([x for x in lines if x.double or x.tall])
    height = 2 * margin + leading * (len(lines) + tall) + qr_side
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width_mm * mm, height))
    pdf.setTitle(receipt.title)
    y = height - margin

    def write(line: Line) -> None:
        nonlocal y
        scale = 2 if line.double else 1
        high = 2 if line.double or line.tall else 1
        y -= leading * high
        x = margin
        for run in _runs(line.text):
            cells = text_width(run)
            if run.strip():
                # one text run per stretch of same-width characters, spaced to the printer's
                # cells: the PDF's text reads "2027-11-30", not "2027- 11- 30"
                size = 2 * cell * high * 0.95
                text = pdf.beginText(x, y)
                text.setFont("NongbaoCJK", size)
                squeeze = scale / high  # double height only: the letters half as wide
                text.setHorizScale(100 * squeeze)
                natural = pdfmetrics.stringWidth(run, "NongbaoCJK", size) * squeeze
                text.setCharSpace((cells * cell * scale - natural) / len(run))
                text.textOut(run)
                pdf.drawText(text)
            x += cells * cell * scale

    for line in plan.body:
        write(line)
    if plan.qr:
        code = qr_image(plan.qr, 400)
        y -= qr_side
        pdf.drawImage(ImageReader(code), (width_mm * mm - qr_side) / 2, y, qr_side, qr_side)
    for line in plan.footer:
        write(line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _runs(text: str) -> list[str]:
    """The text cut where the cell width changes (ASCII one cell, others two) or at spaces."""
    runs: list[str] = []
    for char in text:
        kind = " " if char == " " else cell_width(char)
        if runs and (" " if runs[-1][-1] == " " else cell_width(runs[-1][-1])) == kind:
            runs[-1] += char
        else:
            runs.append(char)
    return runs

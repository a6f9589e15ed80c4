"""Bank file layouts as policy data (backend/policy/banks.toml).

A layout is fixed-width or CSV, in GB18030 or UTF-8, with a header and a trailer that carry
the count and the control total. The same layout writes a file and reads one back, so the
bank simulator, the return import and the tests all agree on one description of the file.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from backend.errors import InvalidInput
from backend.spreadsheet import csv_text

BANKS_FILE = Path(__file__).resolve().parent.parent / "policy" / "banks.toml"
# fields written right-aligned with leading zeros in a fixed-width file
NUMERIC = frozenset(
    {
        "seq",
        "count",
        "total_fen",
        "amount_fen",
        "persons",
        "paid_count",
        "paid_fen",
        "returned_count",
        "returned_fen",
    }
)
PAID = "paid"
REASONS = ("account_closed", "holder_deceased", "name_mismatch", "ssc_account_inactive", "other")
FieldSpec = tuple[str, int]


class BankFileError(InvalidInput):
    """A file that does not follow its bank's layout: refused whole."""

    def __init__(self, detail: str, code: str = "bank_file_malformed") -> None:
        super().__init__(detail, code=code)


class Layout(BaseModel):
    code: str = ""
    name: str
    format: Literal["fixed", "csv"]
    encoding: Literal["gb18030", "utf-8"]
    newline: str = "\n"
    header: list[FieldSpec]
    detail: list[FieldSpec]
    trailer: list[FieldSpec]
    return_header: list[FieldSpec]
    return_detail: list[FieldSpec]
    return_trailer: list[FieldSpec]
    results: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_results(self) -> Layout:
        unknown = set(self.results.values()) - {PAID, *REASONS}
        if unknown:
            raise ValueError(f"bank {self.code}: unknown result meanings {sorted(unknown)}")
        if PAID not in self.results.values():
            raise ValueError(f"bank {self.code}: no result code means paid")
        if self.format == "fixed" and any(w <= 0 for _, w in self.all_fields()):
            raise ValueError(f"bank {self.code}: a fixed-width field needs a width")
        return self

    def all_fields(self) -> list[FieldSpec]:
        return [
            *self.header,
            *self.detail,
            *self.trailer,
            *self.return_header,
            *self.return_detail,
            *self.return_trailer,
        ]

    def result_code(self, meaning: str) -> str:
        return next(code for code, m in self.results.items() if m == meaning)

    # --- writing ----------------------------------------------------------------------------

    def write(
        self,
        header: Mapping[str, object],
        details: Sequence[Mapping[str, object]],
        trailer: Mapping[str, object],
        *,
        returns: bool = False,
    ) -> bytes:
        specs = self._specs(returns)
        records = [
            self._record(specs[0], header),
            *(self._record(specs[1], d) for d in details),
            self._record(specs[2], trailer),
        ]
        if self.format == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator=self.newline)
            for rec in records:
                # a name is text that reaches a spreadsheet: inert (backend/spreadsheet.py)
                writer.writerow([csv_text(cell) for cell in rec])
            return out.getvalue().encode(self.encoding)
        return b"".join(
            self._fixed_line(spec, rec) + self.newline.encode("ascii")
            for spec, rec in zip(
                [specs[0], *([specs[1]] * len(details)), specs[2]], records, strict=True
            )
        )

    def _specs(self, returns: bool) -> tuple[list[FieldSpec], list[FieldSpec], list[FieldSpec]]:
        if returns:
            return self.return_header, self.return_detail, self.return_trailer
        return self.header, self.detail, self.trailer

    @staticmethod
    def _record(spec: list[FieldSpec], values: Mapping[str, object]) -> list[str]:
        return [name[1:] if name.startswith("=") else _text(values.get(name)) for name, _ in spec]

    def _fixed_line(self, spec: list[FieldSpec], texts: list[str]) -> bytes:
        parts = []
        for (name, width), text in zip(spec, texts, strict=True):
            parts.append(self._fixed_field(name, width, text))
        return b"".join(parts)

    def _fixed_field(self, name: str, width: int, text: str) -> bytes:
        if name in NUMERIC:
            if not text.isdigit() or len(text) > width:
                raise ValueError(f"{name}={text!r} does not fit {width} digits")
            return text.rjust(width, "0").encode("ascii")
        data = text.encode(self.encoding)
        if len(data) > width:
            if name not in ("name", "reason"):  # an account or ID number is never cut short
                raise ValueError(f"{name} is longer than {width} bytes")
            data = _cut(text, width, self.encoding)
        return data + b" " * (width - len(data))

    # --- reading ----------------------------------------------------------------------------

    def read(
        self, data: bytes, *, returns: bool = True
    ) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
        """The header, detail records and trailer of a file; malformed -> BankFileError."""
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise BankFileError(f"the file is not {self.encoding} text ({self.name})") from exc
        specs = self._specs(returns)
        rows: list[Any]
        if self.format == "csv":
            try:
                rows = [r for r in csv.reader(io.StringIO(text)) if r]
            except csv.Error as exc:
                raise BankFileError(f"not a CSV file: {exc}") from exc
        else:
            rows = [line.encode(self.encoding) for line in text.splitlines() if line.strip()]
        if len(rows) < 2:
            raise BankFileError("a bank file has at least a header and a trailer")
        head, body, tail = rows[0], rows[1:-1], rows[-1]
        return (
            self._parse(specs[0], head, "header"),
            [self._parse(specs[1], r, f"line {i + 2}") for i, r in enumerate(body)],
            self._parse(specs[2], tail, "trailer"),
        )

    def _parse(self, spec: list[FieldSpec], row: object, where: str) -> dict[str, str]:
        if self.format == "csv":
            assert isinstance(row, list)
            cells = [str(c) for c in row]
            if len(cells) != len(spec):
                raise BankFileError(f"{where}: {len(cells)} columns, the layout has {len(spec)}")
        else:
            assert isinstance(row, bytes)
            if len(row) != sum(w for _, w in spec):
                raise BankFileError(
                    f"{where}: {len(row)} bytes, the layout has {sum(w for _, w in spec)}"
                )
            cells, at = [], 0
            for name, width in spec:
                try:
                    cells.append(row[at : at + width].decode(self.encoding).strip())
                except UnicodeDecodeError as exc:
                    raise BankFileError(f"{where}: {name} splits a character") from exc
                at += width
        out: dict[str, str] = {}
        for (name, _), cell in zip(spec, cells, strict=True):
            if name.startswith("="):
                if cell.strip() != name[1:]:
                    raise BankFileError(f"{where}: expected {name[1:]!r}, found {cell!r}")
                continue
            cell = cell.strip()
            if name in NUMERIC and not (cell.isascii() and cell.isdigit() and len(cell) <= 18):
                raise BankFileError(f"{where}: {name} must be digits, found {cell!r}")
            out[name] = str(int(cell)) if name in NUMERIC else cell
        return out


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _cut(text: str, width: int, encoding: str) -> bytes:
    """The longest prefix of `text` that fits `width` bytes, never half a character."""
    out = b""
    for ch in text:
        b = ch.encode(encoding)
        if len(out) + len(b) > width:
            break
        out += b
    return out


@dataclass(frozen=True)
class Banks:
    default: str
    layouts: dict[str, Layout]

    def get(self, code: str | None) -> Layout:
        code = code or self.default
        if code not in self.layouts:
            raise InvalidInput(
                f"no agency bank {code!r}; the county's banks are {sorted(self.layouts)}",
                code="unknown_bank",
            )
        return self.layouts[code]


def load_banks(path: Path | None = None) -> Banks:
    return _load(str(path or BANKS_FILE))


@lru_cache(maxsize=4)
def _load(path: str) -> Banks:
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    layouts = {code: Layout(code=code, **spec) for code, spec in raw["banks"].items()}
    if raw["default"] not in layouts:
        raise ValueError(f"the default bank {raw['default']} has no layout")
    return Banks(default=raw["default"], layouts=layouts)

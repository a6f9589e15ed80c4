"""Importing old-scheme (老农保) account balances: all rows or none."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlmodel import select

from backend import idnumber, ledger
from backend.errors import InvalidInput
from backend.ledger import Transfer, bucket_code
from backend.models import ImportBatch, Person
from backend.services.context import Ctx

OLD_SCHEME_COLUMNS = ["id_number", "name", "balance_fen", "as_of"]
MAX_ROWS = 200_000
MAX_ERRORS_SHOWN = 20


@dataclass
class ImportResult:
    batch_id: str
    rows: int
    posted: int
    already_posted: int
    total_fen: int


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the file is neither UTF-8 nor GB18030 text")


def old_scheme(ctx: Ctx, data: bytes, *, source: str = "old_scheme_csv") -> ImportResult:
    text = decode_csv(data)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if header != OLD_SCHEME_COLUMNS:
        raise InvalidInput(
            f"the columns must be exactly {','.join(OLD_SCHEME_COLUMNS)}; got {','.join(header) or 'nothing'}"
        )
    rows, errors = _parse_rows(ctx, reader)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
        raise InvalidInput(
            f"{len(errors)} rows are wrong; nothing was imported{more}", errors=shown
        )
    posted = already = total = 0
    for line_no, person, amount, as_of in rows:
        key = f"old_scheme:{person.id}:{as_of.isoformat()}"
        result = ledger.post(
            ctx.session,
            idempotency_key=key,
            operation="old_scheme_opening",
            on=as_of,
            transfers=[
                Transfer(
                    "source:old_scheme",
                    bucket_code(person.id, "personal"),
                    amount,
                    "old_scheme",
                    as_of,
                )
            ],
            person_id=person.id,
            memo=f"{source} line {line_no}",
            created_by=ctx.actor.label,
        )
        posted += result.created
        already += not result.created
        total += amount if result.created else 0
    batch = ImportBatch(
        id=ledger.new_id("imp")[:40],
        kind="old_scheme",
        digest=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        posted=posted,
        created_by=ctx.actor.label,
    )
    ctx.session.add(batch)
    return ImportResult(batch.id, len(rows), posted, already, total)


def _parse_rows(
    ctx: Ctx, reader: Iterator[list[str]]
) -> tuple[list[tuple[int, Person, int, date]], list[dict[str, str]]]:
    rows: list[tuple[int, Person, int, date]] = []
    errors: list[dict[str, str]] = []
    for line_no, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS} rows per file; split the file")
        field = f"line {line_no}"
        if len(cells) != len(OLD_SCHEME_COLUMNS):
            errors.append(
                {
                    "field": field,
                    "message": f"expected {len(OLD_SCHEME_COLUMNS)} columns, got {len(cells)}",
                }
            )
            continue
        raw_id, name, raw_amount, raw_date = (c.strip() for c in cells)
        try:
            ident = idnumber.parse(raw_id)
            amount = int(raw_amount)
            if amount <= 0 or str(amount) != raw_amount.lstrip("+"):
                raise ValueError
            as_of = date.fromisoformat(raw_date)
        except InvalidInput as exc:
            errors.append({"field": field, "message": exc.detail})
            continue
        except ValueError:
            errors.append(
                {
                    "field": field,
                    "message": "balance_fen must be a positive whole number of fen and as_of a date YYYY-MM-DD",
                }
            )
            continue
        if as_of > ctx.today:
            errors.append({"field": field, "message": "as_of is in the future"})
            continue
        person = ctx.session.exec(
            select(Person).where(
                Person.id_hash == ctx.keyring.lookup_hash(ident.number),
                Person.status != "cancelled",
            )
        ).first()
        if person is None:
            errors.append(
                {
                    "field": field,
                    "message": f"no enrolled person with ID number {idnumber.mask(ident.number)}",
                }
            )
        elif not idnumber.same_name(person.name, name):
            errors.append(
                {
                    "field": field,
                    "message": f"the name {name!r} does not match the registry for {idnumber.mask(ident.number)}",
                }
            )
        else:
            rows.append((line_no, person, amount, as_of))
    return rows, errors

"""The civil registry's death records: matched people get a pending termination for a
second person to confirm (services/terminations), never a settlement on their own.

Its own module, above terminations and settlement, so that neither imports the other back.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date

from sqlmodel import select

from backend import idnumber, ledger
from backend.errors import InvalidInput
from backend.models import Person, ReviewCase
from backend.services import audit, imports, settlement, terminations
from backend.services.context import Ctx

MAX_REGISTRY_ROWS = 50_000
REGISTRY_COLUMNS = ["id_number", "name", "date_of_death"]


@dataclass
class RegistryImport:
    rows: int
    settled: int  # always 0: a match opens a pending termination, never a settlement
    referred: int
    unmatched: int
    already_recorded: int
    pending: int = 0  # matches by ID and name: a pending termination and a review case each


def import_death_registry(ctx: Ctx, data: bytes) -> RegistryImport:
    """Matched by ID number and name: a pending termination (payment held) and a review case,
    for a second person to confirm; never a settlement on its own (data matching that declares
    living people dead is the loudest complaint about such schemes). By ID number only:
    referred to review. No match: counted. The whole file is checked before anything is written."""
    text = imports.decode_csv(data)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if header != REGISTRY_COLUMNS:
        raise InvalidInput(
            f"the columns must be exactly {','.join(REGISTRY_COLUMNS)}; got {','.join(header) or 'nothing'}"
        )
    parsed: list[tuple[str, str, date]] = []
    errors: list[dict[str, str]] = []
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(parsed) + len(errors) >= MAX_REGISTRY_ROWS:
            raise InvalidInput(f"at most {MAX_REGISTRY_ROWS} rows per file; split the file")
        if len(cells) != 3:
            errors.append(
                {"field": f"line {line_no}", "message": f"expected 3 columns, got {len(cells)}"}
            )
            continue
        try:
            ident = idnumber.parse(cells[0])
            died = date.fromisoformat(cells[2].strip())
            if died > ctx.today or died < ident.birth_date:
                raise ValueError("the date of death is in the future or before birth")
        except InvalidInput as exc:
            errors.append({"field": f"line {line_no}", "message": exc.detail})
            continue
        except ValueError as exc:
            errors.append({"field": f"line {line_no}", "message": f"bad date of death: {exc}"})
            continue
        parsed.append((ident.number, cells[1].strip(), died))
    if errors:
        raise InvalidInput(
            f"{len(errors)} rows are wrong; nothing was imported", errors=errors[:20]
        )
    result = RegistryImport(len(parsed), 0, 0, 0, 0)
    for number, name, died in parsed:
        person = ctx.session.exec(
            select(Person).where(
                Person.id_hash == ctx.keyring.lookup_hash(number), Person.status != "cancelled"
            )
        ).first()
        if person is None:
            result.unmatched += 1
        elif settlement.in_force(ctx, person.id) or terminations.open_for(ctx, person.id):
            result.already_recorded += 1
        elif not idnumber.same_name(person.name, name):
            ctx.session.add(
                ReviewCase(
                    id=ledger.new_id("case")[:40],
                    person_id=person.id,
                    reasons=json.dumps(["death_record_found", "name_mismatch"]),
                    first_note=f"civil registry: died {died.isoformat()}, name on record {name}",
                )
            )
            result.referred += 1
        else:
            case = ReviewCase(
                id=ledger.new_id("case")[:40],
                person_id=person.id,
                reasons=json.dumps(["death_record_found"]),
                first_note=f"civil registry: died {died.isoformat()}",
            )
            ctx.session.add(case)
            with ctx.session.begin_nested():
                terminations.report(
                    ctx, person.id, "death", died, "civil_registry", review_case_id=case.id
                )
            result.pending += 1
    audit.record(ctx, "imports.death_registry", "", after=asdict(result))
    return result

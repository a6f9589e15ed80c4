"""County review of what the machines could not decide.

Decisions: approve (the person is certified through channel `review`; for a possible
duplicate, the held-back face is accepted), reject, field_visit (a field worker must go),
suspend (payment stops), terminate (the entitlement ends: `terminate_reason` death or
other_pension, from `effective_on`, the date of death or the urban employee pension's start;
the settlement service reverses the overpaid months and opens the recovery order).

The decisions in FOUR_EYES (suspend, terminate) are serious, so they take two reviewers: the
first proposes (the case waits in `pending_second`, with a termination's reason and date
stored on it and checked then), a different second one confirms the same decision, and only
then does it take effect.

The queue (`list_cases`) is read oldest first a page at a time, at most MAX_LIST cases a page,
by keyset on (created_at, id) with an opaque cursor, so that a county with a long backlog
reaches every case and a case closed meanwhile makes no other one skipped; the filters are
all SQL, before the LIMIT, and the page says how many cases match them in all.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, FromClause, and_, cast, distinct, func, or_, true
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import literal_column
from sqlmodel import col, select

from backend import idnumber
from backend.errors import Conflict, InvalidInput, NotFound, field_error
from backend.ledger import new_id
from backend.models import (
    Certification,
    FaceTemplate,
    Person,
    ReviewCase,
    Suspension,
    Termination,
    utcnow,
)
from backend.rules.suspension import ARREARS_BY_REASON
from backend.services import (
    audit,
    calibrations,
    faces,
    receipts_service,
    registry,
    settlement,
    terminations,
)
from backend.services.certification import out as certification_out
from backend.services.certification_status import record_passed
from backend.services.context import Ctx
from backend.services.maker_checker import SamePerson

DECISIONS = ("approve", "reject", "field_visit", "suspend", "terminate")
FOUR_EYES = ("suspend", "terminate")  # the policy: which decisions need a second reviewer
TERMINATE_REASONS = ("death", "other_pension")
MAX_LIST = 500  # the most cases one page holds; the queue beyond is reached by `after`
DEFAULT_LIMIT = 100
REASON_TEXT = {
    "grey_zone": ("人脸比对不确定", "Face in the grey zone"),
    "repeated_failures": ("多次比对失败", "Repeated face failures"),
    "liveness_failed": ("活体检测未通过", "Liveness failed"),
    "card_mismatch": ("卡与人不符", "Card holder does not match the person"),
    "location_far": ("位置离家太远", "Location far from home"),
    "possible_duplicate": ("疑似重复参保", "Possible duplicate enrolment"),
    "death_record": ("发现死亡记录", "Death record found"),
    "other_pension": ("发现其他养老金", "Other pension found"),
    "no_match": ("人脸不符", "Face does not match"),
    "death_record_found": ("民政死亡数据比对命中", "Civil registry death record found"),
    "name_mismatch": ("姓名与登记不一致", "Name differs from the registry"),
    "field_face_failed": ("上门认证人脸不符", "Face check failed at a home visit"),
    "death_reported_by_family": ("家属报告死亡", "Death reported by the family"),
    "death_signal": (
        "静默认证负面信号（火化/死亡证明）",
        "Negative signal (cremation, death certificate)",
    ),
}


class FourEyes(SamePerson):
    """The reviewer who proposed a decision tried to confirm it too."""


def reason_entries(case: ReviewCase) -> list[dict[str, object]]:
    """Reasons are stored as codes, or as objects with a code and details (duplicates)."""
    raw = json.loads(case.reasons or "[]")
    return [r if isinstance(r, dict) else {"code": str(r)} for r in raw]


def reason_codes(case: ReviewCase) -> list[str]:
    return [str(r.get("code")) for r in reason_entries(case)]


@dataclass
class CasePage:
    """One page of the queue: its rows, how many cases match the filters in all, and the
    cursor of the next page (None on the last one)."""

    rows: list[dict[str, object]]
    total: int
    next_after: str | None


def list_cases(
    ctx: Ctx,
    status: str = "open",
    village: str | None = None,
    reason: str | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> CasePage:
    """Oldest first, a page at a time: keyset on (created_at, id), so a case closed while
    someone pages neither skips nor repeats another, and a deep page costs as little as the
    first. Every filter is in SQL, before the LIMIT."""
    if not 1 <= limit <= MAX_LIST:
        raise field_error("limit", f"a page holds 1 to {MAX_LIST} cases")
    where = _filters(ctx, status, village, reason, min_age, max_age)
    base = select(ReviewCase, Person).join(Person, col(Person.id) == ReviewCase.person_id)
    query = base.where(*where)
    if after is not None:
        at, case_id = decode_cursor(after)
        query = query.where(
            or_(
                col(ReviewCase.created_at) > at,
                and_(col(ReviewCase.created_at) == at, col(ReviewCase.id) > case_id),
            )
        )
    query = query.order_by(col(ReviewCase.created_at), col(ReviewCase.id)).limit(limit + 1)
    found = ctx.session.exec(query).all()
    rows = [_summary(c, p, idnumber.age_on(p.birth_date, ctx.today)) for c, p in found[:limit]]
    last = found[limit - 1][0] if len(found) > limit else None
    return CasePage(rows, _count(ctx, where), encode_cursor(last) if last else None)


def _filters(
    ctx: Ctx,
    status: str,
    village: str | None,
    reason: str | None,
    min_age: int | None,
    max_age: int | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if status == "open":
        where.append(col(ReviewCase.status).in_(("open", "pending_second")))
    elif status != "all":
        where.append(col(ReviewCase.status) == status)
    if village:
        where.append(col(Person.village_code) == village)
    if min_age is not None:  # at least min_age: born on or before today, min_age years ago
        where.append(col(Person.birth_date) <= _years_before(ctx.today, min_age))
    if max_age is not None:  # not yet max_age + 1
        where.append(col(Person.birth_date) > _years_before(ctx.today, max_age + 1))
    if reason:
        elem, code = _reason_rows(ctx)
        where.append(select(code).select_from(elem).where(code == reason).exists())
    return where


def _years_before(today: date, years: int) -> date:
    """The birth date of someone turning `years` today (29 February: the 28th, as age_on)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def _reason_rows(ctx: Ctx) -> tuple[FromClause, ColumnElement[Any]]:
    """A case's reasons as rows, with each one's code. They are stored as a JSON list of codes
    or of objects with a code, so this is the dialect's JSON function, correlated with
    review_case (implicitly lateral on both SQLite and PostgreSQL)."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        pg = func.jsonb_array_elements(cast(ReviewCase.reasons, JSONB)).table_valued("value")
        elem = pg.alias("reason")
        value = elem.c.value
        # ->> on a string element is NULL, #>> '{}' is a string element's text
        code: ColumnElement[Any] = func.coalesce(
            value.op("->>")(literal_column("'code'")), value.op("#>>")(literal_column("'{}'"))
        )
        return elem, code
    elem = func.json_each(ReviewCase.reasons).table_valued("value", "type").alias("reason")
    code = sql_case(
        (elem.c.type == "object", func.json_extract(elem.c.value, "$.code")),
        else_=elem.c.value,
    )
    return elem, code


def _count(ctx: Ctx, where: list[ColumnElement[bool]]) -> int:
    query = (
        select(func.count())
        .select_from(ReviewCase)
        .join(Person, col(Person.id) == ReviewCase.person_id)
        .where(*where)
    )
    return int(ctx.session.exec(query).one())


def count_by_reason(
    ctx: Ctx,
    status: str = "open",
    village: str | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
) -> dict[str, int]:
    """How many matching cases have each reason code (one GROUP BY), for the reason filter."""
    elem, code = _reason_rows(ctx)
    query = (
        select(code, func.count(distinct(col(ReviewCase.id))))
        .select_from(ReviewCase)
        .join(Person, col(Person.id) == ReviewCase.person_id)
        .join(elem, true())
        .where(*_filters(ctx, status, village, None, min_age, max_age))
        .group_by(code)
    )
    return {str(c): int(n) for c, n in ctx.session.exec(query).all() if c is not None}


def encode_cursor(row: ReviewCase) -> str:
    """Opaque to clients: the last row's created_at (UTC) and id, base64url."""
    at = row.created_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    raw = f"{at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, case_id = raw.split("|", 1)
        at = datetime.fromisoformat(stamp)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        raise field_error("after", "not a cursor from this list's Link header") from None
    if at.tzinfo is None or not case_id or len(case_id) > 40:
        raise field_error("after", "not a cursor from this list's Link header")
    # in UTC: SQLite keeps the wall clock without the offset, as the rows were written
    return at.astimezone(UTC), case_id


def _summary(case: ReviewCase, person: Person, age: int) -> dict[str, object]:
    return {
        "case_id": case.id,
        "person_id": person.id,
        "name": person.name,
        "village_code": person.village_code,
        "age": age,
        "reasons": reason_codes(case),
        "status": case.status,
        "pending_decision": case.decision if case.status == "pending_second" else None,
        "terminate_reason": case.terminate_reason,
        "effective_on": case.effective_on.isoformat() if case.effective_on else None,
        "first_reviewer": case.first_reviewer,
        "certification_id": case.certification_id,
        "created_at": case.created_at.isoformat(),
    }


def get_case(ctx: Ctx, case_id: str) -> ReviewCase:
    case = ctx.session.get(ReviewCase, case_id)
    if case is None:
        raise NotFound(f"no review case {case_id}")
    return case


def detail(ctx: Ctx, case_id: str) -> dict[str, object]:
    """Everything a reviewer needs on one page, photos decrypted as data URLs (audited)."""
    case = get_case(ctx, case_id)
    person = registry.get(ctx, case.person_id)
    enrolled = _enrolled_photo(ctx, case)
    captured = (
        faces.open_sealed(ctx, person.id, case.captured_photo_enc)
        if case.captured_photo_enc
        else None
    )
    cert = ctx.session.get(Certification, case.certification_id) if case.certification_id else None
    history = ctx.session.exec(
        select(Certification)
        .where(Certification.person_id == person.id)
        .order_by(col(Certification.created_at).desc())
        .limit(20)
    ).all()
    audit.record(ctx, "review.case.read", person.id, after={"case_id": case.id})
    if captured:  # a face photo of whoever stood at the kiosk or the door: a personal-data read
        audit.record(ctx, "review.captured_photo.read", person.id, after={"case_id": case.id})
    return {
        **_summary(case, person, idnumber.age_on(person.birth_date, ctx.today)),
        "reason_details": reason_entries(case),
        "person_status": person.status,
        "enrolled_photo": _data_url(enrolled),
        "captured_photo": _data_url(captured),
        "certification": certification_out(ctx, cert) if cert else None,
        # the county's thresholds for this person's gallery and its last calibration's figures
        "face_figures": calibrations.for_decision(ctx, person.id),
        "location": {
            "latitude": cert.latitude,
            "longitude": cert.longitude,
            "accuracy_m": cert.accuracy_m,
        }
        if cert and cert.latitude is not None
        else None,
        "history": [certification_out(ctx, c) for c in history],
        "first_note": case.first_note,
        "second_reviewer": case.second_reviewer,
        "second_note": case.second_note,
        "decision": case.decision,
    }


def _enrolled_photo(ctx: Ctx, case: ReviewCase) -> bytes | None:
    held = [r.get("template_id") for r in reason_entries(case) if r.get("template_id")]
    row = (
        ctx.session.get(FaceTemplate, held[0]) if held else faces.enrolled_face(ctx, case.person_id)
    )
    return faces.photo_bytes(ctx, row) if row else None


def _data_url(data: bytes | None) -> str | None:
    if not data:
        return None
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decide(
    ctx: Ctx,
    key: Ed25519PrivateKey,
    case_id: str,
    decision: str,
    note: str,
    terminate_reason: str | None = None,
    effective_on: date | None = None,
) -> dict[str, object]:
    """A reviewer's decision on a case; `terminate_reason` and `effective_on` belong to
    `terminate` only (required when proposing it, optional when confirming it)."""
    if decision not in DECISIONS:
        raise field_error("decision", f"a decision is one of {', '.join(DECISIONS)}")
    if not note.strip():
        raise field_error("note", "a decision needs a note saying why")
    _check_terminate_fields(decision, terminate_reason, effective_on)
    case = ctx.session.exec(
        select(ReviewCase).where(ReviewCase.id == case_id).with_for_update()
    ).first()
    if case is None:
        raise NotFound(f"no review case {case_id}")
    before = {"status": case.status, "decision": case.decision}
    if case.status == "closed":
        raise Conflict("this case is already decided")
    if case.status == "pending_second":
        result = _confirm(ctx, key, case, decision, note, terminate_reason, effective_on)
    elif decision in FOUR_EYES:
        result = _propose(ctx, case, decision, note, terminate_reason, effective_on)
    else:
        case.first_reviewer, case.first_note = ctx.actor.name, note.strip()
        result = _apply(ctx, key, case, decision, note)
    ctx.session.add(case)
    ctx.session.flush()
    audit.record(
        ctx,
        f"review.{decision}",
        case.person_id,
        before=before,
        after={
            "case_id": case.id,
            "status": case.status,
            "decision": case.decision,
            **_termination(case),
        },
    )
    return result


def _check_terminate_fields(decision: str, reason: str | None, on: date | None) -> None:
    """The shape of the input, before anything is read: all field errors at once."""
    if decision != "terminate":
        errors = [
            {"field": field, "message": "only a terminate decision takes this field"}
            for field, value in (("terminate_reason", reason), ("effective_on", on))
            if value is not None
        ]
    elif reason is not None and reason not in TERMINATE_REASONS:
        errors = [
            {
                "field": "terminate_reason",
                "message": f"a reason to terminate is one of {', '.join(TERMINATE_REASONS)}",
            }
        ]
    else:
        errors = []
    if errors:
        raise InvalidInput("; ".join(e["message"] for e in errors), errors=errors)


def _propose(
    ctx: Ctx,
    case: ReviewCase,
    decision: str,
    note: str,
    reason: str | None,
    on: date | None,
) -> dict[str, object]:
    """The first of two reviewers: nothing happens yet, but a termination is checked now,
    so that a proposal the second reviewer could never confirm is refused at once."""
    if decision == "terminate":
        reason, on = _require_termination(reason, on)
        settlement.check_end(ctx, registry.get(ctx, case.person_id), reason, on, "effective_on")
        case.terminate_reason, case.effective_on = reason, on
        _open_termination(ctx, case, reason, on, note)
    case.status, case.decision, case.first_reviewer, case.first_note = (
        "pending_second",
        decision,
        ctx.actor.name,
        note.strip(),
    )
    return {
        "case_id": case.id,
        "status": case.status,
        "decision": decision,
        "needs_second_reviewer": True,
        **_termination(case),
    }


def _require_termination(reason: str | None, on: date | None) -> tuple[str, date]:
    missing = [
        {"field": field, "message": message}
        for field, value, message in (
            (
                "terminate_reason",
                reason,
                f"terminate needs a reason: {' or '.join(TERMINATE_REASONS)}",
            ),
            ("effective_on", on, "terminate needs the date of death or the other pension's start"),
        )
        if value is None
    ]
    if reason is None or on is None:
        raise InvalidInput("; ".join(e["message"] for e in missing), errors=missing)
    return reason, on


def _termination(case: ReviewCase) -> dict[str, object]:
    if case.terminate_reason is None:
        return {}
    return {
        "terminate_reason": case.terminate_reason,
        "effective_on": case.effective_on.isoformat() if case.effective_on else None,
    }


def _confirm(
    ctx: Ctx,
    key: Ed25519PrivateKey,
    case: ReviewCase,
    decision: str,
    note: str,
    reason: str | None,
    on: date | None,
) -> dict[str, object]:
    if case.first_reviewer == ctx.actor.name:  # the console stores the reviewer's name, not label
        raise FourEyes(
            message="four-eyes rule: a second, different reviewer must confirm this decision"
        )
    if decision != case.decision:
        raise Conflict(
            f"this case awaits confirmation of {case.decision!r}; confirm it, or the first reviewer withdraws it"
        )
    # the second reviewer confirms what was proposed; restating it is fine, changing it is not
    if (reason is not None and reason != case.terminate_reason) or (
        on is not None and on != case.effective_on
    ):
        raise Conflict(
            f"the proposal to confirm is {case.terminate_reason} from {case.effective_on}; "
            "confirm it as proposed, or the first reviewer withdraws it"
        )
    case.second_reviewer, case.second_note = ctx.actor.name, note.strip()
    return _apply(ctx, key, case, decision, note)


def _apply(
    ctx: Ctx, key: Ed25519PrivateKey, case: ReviewCase, decision: str, note: str
) -> dict[str, object]:
    case.status, case.decision, case.closed_at = "closed", decision, utcnow()
    result: dict[str, object] = {
        "case_id": case.id,
        "status": "closed",
        "decision": decision,
        "needs_second_reviewer": False,
    }
    if decision == "approve":
        result.update(_approve(ctx, key, case, note))
    elif decision == "suspend":
        _suspend(ctx, case.person_id, note)
    elif decision == "terminate":
        result.update(_terminate(ctx, case))
    return result


def _approve(ctx: Ctx, key: Ed25519PrivateKey, case: ReviewCase, note: str) -> dict[str, object]:
    held = [str(r["template_id"]) for r in reason_entries(case) if r.get("template_id")]
    if held:  # a possible duplicate cleared: the face is the person's after all
        faces.activate(ctx, held[0])
        return {}
    person = registry.get(ctx, case.person_id)
    cert = record_passed(
        ctx,
        person.id,
        "review",
        ctx.today,
        evidence=f"review case {case.id}: {note.strip()}"[:2000],
    )
    receipt = receipts_service.issue(ctx, key, person, "certification", cert.certified_on)
    cert.receipt_id = receipt.id
    ctx.session.add(cert)
    return {
        "certification_id": cert.id,
        "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
        "receipt": {"receipt_id": receipt.id, "code": receipt.code},
    }


def _suspend(ctx: Ctx, person_id: str, note: str) -> None:
    person = registry.lock(ctx, person_id)
    month = date(ctx.today.year, ctx.today.month, 1).strftime("%Y-%m")
    # arrears: if the investigation clears the person, the suspended months are paid back
    ctx.session.add(
        Suspension(
            id=new_id("sus")[:40],
            person_id=person_id,
            reason="investigation",
            from_month=month,
            arrears=ARREARS_BY_REASON["investigation"],
            note=note.strip()[:500],
            created_by=ctx.actor.label,
        )
    )
    if person.status == "receiving":
        person.status = "suspended"
        ctx.session.add(person)


def _open_termination(ctx: Ctx, case: ReviewCase, reason: str, on: date, note: str) -> None:
    """The first reviewer's proposal is a pending termination (payment held), the same one a
    clerk's report opens; a registry match's case already has its own, which is taken over
    if the reviewer proposes what the registry said."""
    linked = _linked_termination(ctx, case)
    if linked is not None:
        if (linked.reason, linked.effective_on) != (reason, on):
            raise Conflict(
                f"this case's pending termination is {linked.reason} from {linked.effective_on}; "
                "reject it first to propose another",
                code="termination_open",
            )
        return
    terminations.report(
        ctx, case.person_id, reason, on, "review", note=note, review_case_id=case.id
    )


def _linked_termination(ctx: Ctx, case: ReviewCase) -> Termination | None:
    return ctx.session.exec(
        select(Termination).where(
            Termination.review_case_id == case.id, Termination.status == "pending"
        )
    ).first()


def _terminate(ctx: Ctx, case: ReviewCase) -> dict[str, object]:
    """The second reviewer confirms the pending termination: the settlement service terminates
    the person, reverses the overpaid months and opens the recovery order, exactly as when a
    second clerk confirms a death report (services/terminations.py, one mechanism)."""
    reason, on = _require_termination(case.terminate_reason, case.effective_on)
    person = registry.lock(ctx, case.person_id)
    settlement.check_end(ctx, person, reason, on, "effective_on")  # in the proposal's words
    linked = _linked_termination(ctx, case)
    if linked is None:  # proposed before pending terminations existed
        linked = terminations.report(ctx, person.id, reason, on, "review", review_case_id=case.id)
        linked.reported_by = f"user:{case.first_reviewer}"
        ctx.session.add(linked)
    _, done = terminations.confirm(ctx, linked.id, case.second_note or "")
    return {**_termination(case), "termination_id": linked.id, "settlement": done.model_dump()}

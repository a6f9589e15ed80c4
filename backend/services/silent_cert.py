"""Scored silent certification (静默认证): typed evidence from other offices, weighed.

An import names its `source` (policy `[silent_certification.sources]`); its CSV header is
that source's own (the policy maps it). The whole file is checked before anything is kept:
one bad row refuses it all. The same file twice changes nothing (its digest is unique), and
a trace already known from another file is not counted twice (each trace's row_key).

Each person with new evidence is then scored: the weights of the distinct sources whose
latest trace is still valid add up. At or above the county's `strong_at` the person is
certified (channel data_match, dated on the latest counted trace, with a receipt); at or
above `medium_at` the person goes on the field work list; below, nothing happens. A valid
negative trace (a cremation, a medical death certificate) outweighs everything: the payment
is held (an investigation suspension) and a review case opened; nothing is terminated here,
a reviewer decides. Each result keeps which evidence counted and why.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend import idnumber, ledger, months
from backend.answers_notices import EvidenceLineOut, SilentCertificationOut, SilentResultOut
from backend.answers_staff import DataMatchOut
from backend.errors import Conflict, DomainError, InvalidInput, field_error
from backend.models import (
    EvidenceImport,
    Person,
    ReviewCase,
    SilentEvidence,
    SilentResult,
    Suspension,
)
from backend.policy.outreach import EvidenceSource
from backend.services import audit, receipts_service, registry, suspensions
from backend.services.certification import open_case
from backend.services.certification_status import latest_valid, record_passed
from backend.services.context import Ctx
from backend.validation import bad_character

MAX_ROWS = 100_000
MAX_ERRORS_SHOWN = 20
PENSIONER_STATUSES = ("receiving", "suspended")
HOLD_REASON = "death_signal"


@dataclass(frozen=True)
class Row:
    line: int
    person: Person
    observed_on: date
    reference: str


def source_of(ctx: Ctx, source: str) -> EvidenceSource:
    known = ctx.policy.silent_certification.sources
    if source not in known:
        raise field_error(
            "source",
            f"unknown evidence source {source[:40]!r}; the policy knows {', '.join(sorted(known))}",
            code="unknown_source",
        )
    return known[source]


def import_evidence(ctx: Ctx, key: Ed25519PrivateKey, source: str, data: bytes) -> DataMatchOut:
    spec = source_of(ctx, source)
    digest = hashlib.sha256(source.encode() + b"\0" + data).hexdigest()
    earlier = ctx.session.exec(
        select(EvidenceImport).where(EvidenceImport.digest == digest)
    ).first()
    if earlier is not None:  # the same file again: the same answer, nothing changed
        return DataMatchOut(**json.loads(earlier.summary), already_imported=True)
    rows = _parse(ctx, spec, data)
    batch = EvidenceImport(
        id=ledger.new_id("evi")[:40],
        source=source,
        digest=digest,
        rows=len(rows),
        new_evidence=0,
        created_by=ctx.actor.label,
    )
    try:
        with ctx.session.begin_nested():  # a parallel import of the same file: one wins
            ctx.session.add(batch)
    except IntegrityError:
        raise Conflict("this file is being imported right now", code="import_in_progress") from None
    fresh = _keep_new(ctx, source, rows, batch.id)
    results = [evaluate(ctx, key, person, batch.id) for person in fresh]
    summary = _summary(batch, source, len(rows), len(fresh), results)
    batch.new_evidence = sum(1 for _ in fresh)
    batch.summary = json.dumps(summary, ensure_ascii=False)
    ctx.session.add(batch)
    audit.record(
        ctx, "silent.import", batch.id, after={k: v for k, v in summary.items() if k != "results"}
    )
    return DataMatchOut(**summary, already_imported=False)


def _summary(
    batch: EvidenceImport, source: str, rows: int, persons: int, results: list[SilentResult]
) -> dict[str, Any]:
    levels = [r.level for r in results]
    return {
        "import_id": batch.id,
        "source": source,
        "rows": rows,
        "persons_with_new_evidence": persons,
        "certified": sum(1 for r in results if r.certification_id),
        "field_list": levels.count("medium"),
        "held": levels.count("hold"),
        "weak": levels.count("weak"),
        "results": [
            {"person_id": r.person_id, "level": r.level, "score": r.score} for r in results
        ],
    }


# --- parsing: all rows or none --------------------------------------------------------------


def _parse(ctx: Ctx, spec: EvidenceSource, data: bytes) -> list[Row]:
    text = _decode(data)
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    wanted = spec.columns.model_dump()
    missing = [h for h in wanted.values() if h not in header]
    if missing:
        raise field_error(
            "file",
            f"this source's header needs the columns {', '.join(wanted.values())}; missing {', '.join(missing)}",
            code="bad_header",
        )
    reader.fieldnames = header
    rows: list[Row] = []
    errors: list[dict[str, str]] = []
    for line, raw in enumerate(reader, start=2):
        if len(rows) + len(errors) >= MAX_ROWS:
            raise field_error("file", f"at most {MAX_ROWS} rows per file; split the file")
        cells = {field: (raw.get(col_name) or "").strip() for field, col_name in wanted.items()}
        if not any(cells.values()):
            continue
        try:
            rows.append(_row(ctx, spec, line, cells))
        except DomainError as exc:
            errors.append({"field": f"row {line}", "message": exc.detail})
        except ValueError:
            errors.append(
                {"field": f"row {line}", "message": f"{wanted['observed_on']} is a date YYYY-MM-DD"}
            )
    if errors:
        raise InvalidInput(
            f"{len(errors)} row(s) refused; nothing was imported",
            errors=errors[:MAX_ERRORS_SHOWN],
        )
    if not rows:
        raise field_error("file", "the file has no rows")
    return rows


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise field_error("file", "the file is neither UTF-8 nor GB18030 text")
    if "\x00" in text:
        raise field_error("file", "the file contains NUL characters: it is not a CSV text file")
    return text


def _row(ctx: Ctx, spec: EvidenceSource, line: int, cells: dict[str, str]) -> Row:
    person = registry.find_by_id_number(ctx, cells["id_number"])
    if not idnumber.same_name(person.name, cells["name"]):
        raise field_error("name", "the name does not match the registry")
    observed_on = date.fromisoformat(cells["observed_on"])
    if observed_on > ctx.today:
        raise field_error("observed_on", "a trace cannot be dated in the future")
    reference = cells["reference"]
    if not reference or len(reference) > 100 or bad_character(reference):
        raise field_error("reference", "each trace needs its reference (1 to 100 characters)")
    return Row(line, person, observed_on, reference)


def _keep_new(ctx: Ctx, source: str, rows: list[Row], import_id: str) -> list[Person]:
    """Keep the traces not known yet; the persons who have new ones, in file order."""
    fresh: dict[str, Person] = {}
    for row in rows:
        material = f"{source}|{row.person.id}|{row.observed_on.isoformat()}|{row.reference}"
        row_key = hashlib.sha256(material.encode()).hexdigest()
        known = ctx.session.exec(
            select(SilentEvidence.id).where(SilentEvidence.row_key == row_key)
        ).first()
        if known is not None:
            continue
        ctx.session.add(
            SilentEvidence(
                id=ledger.new_id("trc")[:40],
                person_id=row.person.id,
                source=source,
                observed_on=row.observed_on,
                reference=row.reference,
                row_key=row_key,
                import_id=import_id,
            )
        )
        ctx.session.flush()
        fresh.setdefault(row.person.id, row.person)
    return list(fresh.values())


# --- scoring --------------------------------------------------------------------------------


def explain(ctx: Ctx, person_id: str) -> tuple[int, list[dict[str, Any]], list[SilentEvidence]]:
    """The score and, for every trace, whether it counted and why."""
    sources = ctx.policy.silent_certification.sources
    traces = ctx.session.exec(
        select(SilentEvidence)
        .where(SilentEvidence.person_id == person_id)
        .order_by(col(SilentEvidence.observed_on).desc(), col(SilentEvidence.id))
    ).all()
    score, counted_sources, lines, negatives = 0, set(), [], []
    for t in traces:
        spec = sources.get(t.source)
        line: dict[str, Any] = {
            "source": t.source,
            "label": spec.label if spec else t.source,
            "observed_on": t.observed_on.isoformat(),
            "reference": t.reference,
            "weight": 0,
            "counted": False,
        }
        if spec is None:
            line["why"] = "source no longer in the policy"
        elif t.observed_on < ctx.today - timedelta(days=spec.validity_days):
            line["why"] = f"older than {spec.validity_days} days"
        elif spec.negative:
            line.update(counted=True, why="negative signal: hold and review")
            negatives.append(t)
        elif t.source in counted_sources:
            line["why"] = "this source counted once already (its latest trace)"
        else:
            counted_sources.add(t.source)
            score += spec.weight
            line.update(weight=spec.weight, counted=True, why="counted")
        lines.append(line)
    return score, lines, negatives


def evaluate(ctx: Ctx, key: Ed25519PrivateKey, person: Person, import_id: str) -> SilentResult:
    score, lines, negatives = explain(ctx, person.id)
    policy = ctx.policy.silent_certification
    result = SilentResult(
        id=ledger.new_id("sil")[:40],
        person_id=person.id,
        import_id=import_id,
        level="weak",
        score=score,
        explanation=json.dumps(lines, ensure_ascii=False),
        evaluated_on=ctx.today,
    )
    if person.status not in PENSIONER_STATUSES:
        result.level = "weak"  # kept as evidence; nothing to certify or hold
    elif negatives:
        result.level = "hold"
        result.review_case_id = _hold(ctx, person, negatives)
    elif score >= policy.strong_at:
        result.level = "strong"
        result.certification_id = _certify(ctx, key, person, lines)
    elif score >= policy.medium_at:
        result.level = "medium"
    ctx.session.add(result)
    ctx.session.flush()
    return result


def _certify(
    ctx: Ctx, key: Ed25519PrivateKey, person: Person, lines: list[dict[str, Any]]
) -> str | None:
    counted = [ln for ln in lines if ln["counted"]]
    on = max(date.fromisoformat(ln["observed_on"]) for ln in counted)
    current = latest_valid(ctx, person.id, ctx.today)
    if current is not None and current.certified_on >= on:
        return None  # certified on or after this evidence already
    evidence = "; ".join(f"{ln['label']} {ln['observed_on']} {ln['reference']}" for ln in counted)
    cert = record_passed(ctx, person.id, "data_match", on, evidence=evidence[:2000])
    receipt = receipts_service.issue(ctx, key, person, "certification", on)
    cert.receipt_id = receipt.id
    ctx.session.add(cert)
    audit.record(
        ctx,
        "certification.data_match",
        person.id,
        after={
            "certification_id": cert.id,
            "certified_on": on.isoformat(),
            "score": sum(ln["weight"] for ln in counted),
        },
    )
    return cert.id


def _hold(ctx: Ctx, person: Person, negatives: list[SilentEvidence]) -> str:
    """Hold the payment (investigation suspension) and open a review; terminate nothing."""
    sources = ctx.policy.silent_certification.sources
    what = "; ".join(
        f"{sources[t.source].label} {t.observed_on.isoformat()} {t.reference}" for t in negatives
    )
    open_hold = ctx.session.exec(
        select(Suspension.id).where(
            Suspension.person_id == person.id,
            Suspension.reason == "investigation",
            col(Suspension.lifted_at).is_(None),
        )
    ).first()
    if open_hold is None:
        suspensions.suspend(
            ctx, person.id, "investigation", months.of(ctx.today), f"静默认证负面信号：{what}"[:500]
        )
    existing = ctx.session.exec(
        select(ReviewCase)
        .where(ReviewCase.person_id == person.id, col(ReviewCase.status) != "closed")
        .order_by(col(ReviewCase.created_at))
    ).all()
    for case in existing:
        if HOLD_REASON in case.reasons:
            return case.id
    return open_case(ctx, person.id, [HOLD_REASON, f"note:{what}"[:300]]).id


# --- reading --------------------------------------------------------------------------------


def results_for(ctx: Ctx, person_id: str) -> SilentCertificationOut:
    registry.get(ctx, person_id)
    score, lines, negatives = explain(ctx, person_id)
    history = ctx.session.exec(
        select(SilentResult)
        .where(SilentResult.person_id == person_id)
        .order_by(col(SilentResult.created_at).desc(), col(SilentResult.id))
        .limit(20)
    ).all()
    return SilentCertificationOut(
        person_id=person_id,
        score_today=score,
        negative_signals=len(negatives),
        evidence=[EvidenceLineOut(**line) for line in lines],
        results=[
            SilentResultOut(
                level=r.level,
                score=r.score,
                evaluated_on=r.evaluated_on.isoformat(),
                import_id=r.import_id,
                certification_id=r.certification_id,
                review_case_id=r.review_case_id,
                explanation=json.loads(r.explanation),
            )
            for r in history
        ],
    )


def field_hint(ctx: Ctx, person_id: str) -> dict[str, Any] | None:
    """A medium result since the person's last certification: what the field worker sees."""
    latest = ctx.session.exec(
        select(SilentResult)
        .where(SilentResult.person_id == person_id)
        .order_by(col(SilentResult.created_at).desc(), col(SilentResult.id))
    ).first()
    if latest is None or latest.level != "medium":
        return None
    counted = [ln for ln in json.loads(latest.explanation) if ln.get("counted")]
    return {
        "score": latest.score,
        "evaluated_on": latest.evaluated_on.isoformat(),
        "evidence": [f"{ln['label']} {ln['observed_on']}" for ln in counted],
    }

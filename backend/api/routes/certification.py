"""Certification: kiosk and field submissions, counter and data-match, status and due lists."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlmodel import Session

from backend.answers import CertificationOut, ChallengeOut
from backend.answers_notices import SilentCertificationOut
from backend.answers_staff import CertificationsDueOut, CertificationStatusOut, DataMatchOut
from backend.api import deps
from backend.api.routes.faces import ID_PATTERN, PersonId, read_files
from backend.api.routes.receipts import signing_key
from backend.db import session_scope
from backend.errors import DomainError, Forbidden
from backend.services import (
    audit,
    captures,
    certification,
    challenges,
    idempotency,
    registry,
    silent_cert,
)
from backend.services.context import Actor
from backend.validation import Line, PlausibleDate, StrictChecked, Text

router = APIRouter(prefix="/api/v1", tags=["certification"])
DEVICES = ("kiosk", "field_device", "field_worker", "family")
MAX_FRAMES = captures.MAX_FRAMES  # the limits live with the other entry checks
KEY_ID_PATTERN = r"^[0-9a-f]{64}$"


class ChallengeIn(StrictChecked):
    person_id: str = Field(min_length=1, max_length=32, pattern=ID_PATTERN)


class ManualIn(StrictChecked):
    person_id: str = Field(min_length=1, max_length=32, pattern=ID_PATTERN)
    channel: Literal["counter"]  # data_match only by the scored import
    certified_on: date
    evidence: Text = Field(min_length=1, max_length=2000)


@router.post("/challenges", status_code=201, response_model=ChallengeOut)
def issue_challenge(
    body: ChallengeIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DEVICES)),
) -> dict[str, object]:
    ctx = deps.ctx_for(request, session, who)
    row = challenges.issue(ctx, body.person_id)
    return challenges.out(row, seconds_per_action=ctx.policy.face.action_seconds)


@router.post("/certifications", status_code=201, response_model=CertificationOut)
def certify(
    request: Request,
    channel: Literal["kiosk", "field", "family"] = Form(...),
    challenge_id: str = Form(..., min_length=1, max_length=40, pattern=ID_PATTERN),
    nonce: str = Form(..., min_length=1, max_length=64, pattern=ID_PATTERN),
    images: list[UploadFile] = File(...),
    frames: list[UploadFile] = File(default=[]),
    evidence: Annotated[Text, Form(max_length=1_000_000)] = "",
    person_id: str | None = Form(default=None, max_length=32, pattern=ID_PATTERN),
    id_number: Annotated[Line | None, Form(max_length=40)] = None,
    name: Annotated[Line | None, Form(max_length=100)] = None,
    latitude: float | None = Form(default=None, ge=-90, le=90),
    longitude: float | None = Form(default=None, ge=-180, le=180),
    accuracy_m: float | None = Form(default=None, ge=0, le=1_000_000),
    client_id: str | None = Form(default=None, min_length=1, max_length=80, pattern=ID_PATTERN),
    listed_on: Annotated[
        PlausibleDate | None, Form(description="field: when the work list was downloaded")
    ] = None,
    signature: str | None = Form(
        default=None,
        max_length=88,
        description="base64 Ed25519 signature of the device over the capture (API.md, Signed captures)",
    ),
    key_id: str | None = Form(
        default=None,
        pattern=KEY_ID_PATTERN,
        description="field worker's phone: SHA-256 (hex) of the registered public key that signed",
    ),
    idempotency_key: str | None = Header(default=None),
    who: Actor = Depends(deps.require(*DEVICES)),
) -> JSONResponse:
    sub = certification.Submission(
        channel=channel,
        challenge_id=challenge_id,
        nonce=nonce,
        images=read_files(images, "images", captures.MAX_IMAGES),
        frames=read_files(frames, "frames", MAX_FRAMES),
        evidence=evidence,
        person_id=person_id,
        id_number=id_number,
        name=name,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        client_id=client_id,
        listed_on=listed_on,
        signature=signature,
        key_id=key_id,
    )
    key = signing_key(request)
    _warm_faces(request, who, sub)

    def work(session: Session) -> idempotency.Reply:
        return idempotency.Reply(
            201, certification.submit(deps.ctx_for(request, session, who), key, sub)
        )

    # listed_on only annotates the answer: left out of the digest, a resend from an app that
    # has started sending it replays the first answer instead of a 409
    payload = {
        **{k: v for k, v in sub.__dict__.items() if k not in ("images", "frames", "listed_on")},
        "files": [hashlib.sha256(b).hexdigest() for b in (*sub.images, *sub.frames)],
    }
    return deps.idempotent(
        request, f"POST /certifications|{who.label}", idempotency_key, payload, work
    )


def _warm_faces(request: Request, who: Actor, sub: certification.Submission) -> None:
    """The face work before the unit of work (`certification.face_work`), once the cheap
    checks pass in a short transaction of their own. A refusal here is not answered: the unit
    of work checks again and answers it, or replays the earlier answer of an Idempotency-Key."""
    st = deps.state(request)
    try:
        with session_scope(st.engine) as session:
            _, replay = certification.precheck(deps.ctx_for(request, session, who), sub)
    except DomainError:
        return
    if replay is None:
        certification.face_work(st.policy, sub)


@router.post("/certifications/manual", status_code=201, response_model=CertificationOut)
def certify_manual(
    body: ManualIn,
    request: Request,
    idempotency_key: str | None = Header(default=None),
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> JSONResponse:
    key = signing_key(request)

    def work(session: Session) -> idempotency.Reply:
        ctx = deps.ctx_for(request, session, who)
        return idempotency.Reply(
            201,
            certification.manual(
                ctx, key, body.person_id, body.channel, body.certified_on, body.evidence
            ),
        )

    return deps.idempotent(
        request,
        f"POST /certifications/manual|{who.label}",
        idempotency_key,
        body.model_dump(mode="json"),
        work,
    )


@router.post("/imports/data-match", response_model=DataMatchOut)
def import_data_match(
    request: Request,
    source: str = Form(..., min_length=1, max_length=30, pattern=r"^[a-z0-9_]+$"),
    file: UploadFile = File(...),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> DataMatchOut:
    """Typed evidence from another office (`source`: one of the policy's
    `[silent_certification.sources]`), in that source's CSV format: scored per person, all
    rows or none, the same file twice changes nothing (docs/notices.md)."""
    return silent_cert.import_evidence(
        deps.ctx_for(request, session, who), signing_key(request), source, file.file.read()
    )


@router.get("/persons/{person_id}/silent-certification", response_model=SilentCertificationOut)
def silent_certification(
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin", "clerk", "reviewer", "auditor")),
) -> SilentCertificationOut:
    """The person's evidence, which of it counts today and why, and each import's result."""
    return silent_cert.results_for(deps.ctx_for(request, session, who), person_id)


@router.get("/persons/{person_id}/certification", response_model=CertificationStatusOut)
def certification_status(
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> CertificationStatusOut:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    audit.record(ctx, "read certification", person_id)
    return certification.status(ctx, person_id)


@router.get("/certifications/due", response_model=CertificationsDueOut)
def due(
    request: Request,
    village: str | None = Query(default=None, max_length=24, pattern=ID_PATTERN),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> CertificationsDueOut:
    ctx = deps.ctx_for(request, session, who)
    if who.role == "field_worker" and village not in who.villages:
        raise Forbidden("field workers see only their own villages: give one as ?village=")
    return certification.due_lists(ctx, village)

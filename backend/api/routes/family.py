"""亲情认证: a family member's phone signs in by SMS code, lists whom it may certify, and
certifies through the same challenge and certification routes as a kiosk (role `family`).
The page itself is served at /m/ (static files, a strict Content-Security-Policy)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from backend.api import deps
from backend.errors import NotFound, ServiceUnavailable
from backend.models import Certification, Receipt
from backend.services import audit, family
from backend.services.context import Actor
from backend.sms import SmsError, SmsGateway
from backend.validation import Line, StrictChecked

router = APIRouter(prefix="/api/v1/family", tags=["family"])
page_router = APIRouter(include_in_schema=False)
WEB = Path(__file__).resolve().parents[2] / "web" / "m"
FamilyPhone = Annotated[Actor, Depends(deps.require("family"))]
# the page runs only its own script and talks only to this server; the camera is its own
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class CodeIn(StrictChecked):
    phone: Line = Field(min_length=5, max_length=40)


class CodeOut(BaseModel):
    sent: bool
    expires_in_seconds: int


class SignInIn(StrictChecked):
    phone: Line = Field(min_length=5, max_length=40)
    code: str = Field(min_length=4, max_length=10, pattern=r"^\s*[0-9０-９]{4,8}\s*$")
    public_key: str = Field(min_length=40, max_length=64)


class Pensioner(BaseModel):
    person_id: str
    name: str
    relation: str
    valid_until: str | None
    may_certify: bool
    refusal_code: str | None
    refusal: str | None


class PensionersOut(BaseModel):
    pensioners: list[Pensioner]


class SignInOut(PensionersOut):
    token: str
    expires_at: str
    device_id: str


@router.post("/codes", status_code=202, response_model=CodeOut)
def request_code(body: CodeIn, request: Request, session: Session = deps.DbSession) -> CodeOut:
    """Send a sign-in code to a registered family number. The answer is the same for a
    number nobody registered (the page does not tell who is registered)."""
    st = deps.state(request)
    ctx = deps.ctx_for(request, session, deps.ANONYMOUS)
    code = family.request_code(ctx, body.phone)
    if code is not None:
        try:
            gateway = SmsGateway(st.settings.sms_url, st.settings.sms_key)
            gateway.send(family.normalise_phone(body.phone), family.code_text(ctx, code), ref=code)
        except SmsError as exc:
            raise ServiceUnavailable(
                "the SMS service cannot send the code now: try again in a few minutes",
                code="sms_unavailable",
            ) from exc
    return CodeOut(sent=True, expires_in_seconds=st.policy.family.code_minutes * 60)


@router.post("/sessions", status_code=201, response_model=SignInOut)
def sign_in(body: SignInIn, request: Request, session: Session = deps.DbSession) -> SignInOut:
    st = deps.state(request)
    # the try is spent in its own transaction first: a wrong code costs a try for good
    code_id = family.count_attempt(
        st.engine, st.keyring, body.phone, st.policy.family.code_attempts
    )
    ctx = deps.ctx_for(request, session, deps.ANONYMOUS)
    done = family.sign_in(ctx, code_id, body.phone, family.ascii_digits(body.code), body.public_key)
    who = Actor(kind="device", name="family", role="family", device_id=done.device_id)
    listed = family.pensioners(deps.ctx_for(request, session, who))
    return SignInOut(
        token=done.token,
        expires_at=done.until.isoformat(),
        device_id=done.device_id,
        pensioners=[Pensioner(**p) for p in listed],
    )


@router.get("/pensioners", response_model=PensionersOut)
def pensioners(
    request: Request, who: FamilyPhone, session: Session = deps.DbSession
) -> PensionersOut:
    listed = family.pensioners(deps.ctx_for(request, session, who))
    return PensionersOut(pensioners=[Pensioner(**p) for p in listed])


@router.delete("/sessions", status_code=204, response_class=Response)
def sign_out(request: Request, who: FamilyPhone, session: Session = deps.DbSession) -> Response:
    family.sign_out(deps.ctx_for(request, session, who))
    return Response(status_code=204)


@router.get(
    "/certifications/{certification_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "the receipt's QR code"}},
)
def receipt_qr(
    certification_id: Annotated[str, Field(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")],
    request: Request,
    who: FamilyPhone,
    session: Session = deps.DbSession,
) -> Response:
    """The receipt of a certification this phone made, as a QR code of its verification
    URL (`{public_url}/r/{code}`), which any phone opens."""
    cert = session.get(Certification, certification_id)
    if cert is None or cert.device_id != who.device_id or cert.receipt_id is None:
        raise NotFound("no receipt of this phone's certification has this id")
    receipt = session.exec(select(Receipt).where(Receipt.id == cert.receipt_id)).one()
    audit.record(deps.ctx_for(request, session, who), "family.receipt", cert.person_id)
    url = f"{deps.state(request).settings.public_url.rstrip('/')}/r/{receipt.code}"
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


@page_router.get("/m")
def page_root() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=308)


@page_router.get("/m/")
def page() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@page_router.get("/m/app.js")
def page_script() -> FileResponse:
    return FileResponse(WEB / "app.js", media_type="text/javascript", headers=PAGE_HEADERS)


@page_router.get("/m/m.css")
def page_style() -> FileResponse:
    return FileResponse(WEB / "m.css", media_type="text/css", headers=PAGE_HEADERS)

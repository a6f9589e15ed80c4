"""Receipt verification (anyone) and the county's public key."""

from __future__ import annotations

import html

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlmodel import Session

from backend import receipts
from backend.answers import ReceiptCheckOut
from backend.api import deps
from backend.services import receipts_service

router = APIRouter(prefix="/api/v1/receipts", tags=["receipts"])
# the receipt's QR code opens this page on any phone: https://<county host>/r/<code>
public = APIRouter(include_in_schema=False)


def signing_key(request: Request) -> Ed25519PrivateKey:
    """The county's receipt key, kept beside the master key."""
    return receipts_service.signing_key(deps.state(request).settings.effective_key_file.parent)


@router.get("/verify", response_model=ReceiptCheckOut, response_model_exclude_unset=True)
def verify(
    request: Request, code: str = Query(default=""), session: Session = deps.DbSession
) -> dict[str, object]:
    # anything that is not a genuine code is `genuine: false`, never an error; a genuine one
    # also says where the person stands now (status: valid | expired | person_deceased | revoked)
    return receipts_service.check(signing_key(request), code, session, deps.state(request).today())


@router.get("/public-key", response_class=PlainTextResponse)
def public_key(request: Request) -> str:
    return receipts.public_pem(signing_key(request).public_key())


STATUS_ZH = {
    "valid": ("真实有效", "认证有效期到"),
    "expired": ("真实，但认证已过期", "认证有效期到"),
    "person_deceased": ("真实，但本人已去世", ""),
    "revoked": ("凭条已作废", ""),
}


@public.get("/r/{code:path}", response_class=HTMLResponse)
def verify_page(
    request: Request, code: str = PathParam(max_length=2000), session: Session = deps.DbSession
) -> HTMLResponse:
    """The receipt's verification as a page a phone shows: genuine or not, and where the
    person stands now. No personal data beyond what the slip itself prints (masked)."""
    check = receipts_service.check(signing_key(request), code, session, deps.state(request).today())
    if not check.get("genuine"):
        words, detail = "不是本县签发的凭条", "请到社保窗口核实"
    else:
        words, until_label = STATUS_ZH.get(str(check.get("status")), ("真实", ""))
        until = check.get("valid_until")
        detail = f"{until_label}{until}" if until_label and until else ""
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>凭条核验</title>"
        "<style>body{font-family:sans-serif;font-size:28px;margin:24px;line-height:1.5}"
        "h1{font-size:36px}</style></head><body>"
        f"<h1>生存认证凭条核验</h1><p id='result'>{html.escape(words)}</p>"
        f"<p id='detail'>{html.escape(detail)}</p>"
        f"<p id='receipt'>凭条号：{html.escape(str(check.get('receipt_id', '')))}</p>"
        "</body></html>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})

"""Receipt verification (anyone) and the county's public key."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlmodel import Session

from backend import receipts
from backend.answers import ReceiptCheckOut
from backend.api import deps
from backend.services import receipts_service

router = APIRouter(prefix="/api/v1/receipts", tags=["receipts"])


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

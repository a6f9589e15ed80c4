"""Sign-in, users and devices."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from backend.api import deps
from backend.errors import NotFound
from backend.schemas import DeviceIn, DeviceOut, TokenOut, UserIn, UserOut
from backend.services import auth, login_limits
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses={429: {"description": "too_many_attempts or account_locked; see Retry-After"}},
)
def token(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> TokenOut:
    st = deps.state(request)
    user = login_limits.sign_in(
        st.engine,
        login_limits.LoginLimits.from_settings(st.settings),
        form.username,
        form.password,
        deps.request_client(request),
    )
    access, expires = auth.issue_token(st.keyring, user, st.settings.token_ttl_minutes)
    return TokenOut(access_token=access, expires_in=expires, role=user.role)


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(
    body: UserIn,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> UserOut:
    user = auth.create_user(session, body.username, body.password, body.role, body.villages)
    return UserOut(username=user.username, role=user.role, villages=json.loads(user.villages))


@router.post("/users/{username}/unlock")
def unlock_user(
    username: str,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> dict[str, object]:
    """Lift a sign-in lockout (the write itself is audited by the router)."""
    if auth.find_user(session, username) is None:
        raise NotFound(f"no user named {username!r}")
    return {"username": username, "cleared_attempts": login_limits.unlock(session, username)}


@router.post("/devices", response_model=DeviceOut, status_code=201)
def add_device(
    body: DeviceIn,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> DeviceOut:
    device, token_ = auth.register_device(session, body.name, body.kind, body.location)
    return DeviceOut(
        device_id=device.id,
        name=device.name,
        kind=device.kind,
        location=device.location,
        token=token_,
    )


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(
    device_id: str,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> DeviceOut:
    device = auth.revoke_device(session, device_id)
    return DeviceOut(
        device_id=device.id, name=device.name, kind=device.kind, location=device.location
    )

"""Sign-in, users and devices."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from backend.api import deps
from backend.errors import NotFound
from backend.models import Device
from backend.schemas import (
    DeviceIn,
    DeviceOut,
    PublicKeyIn,
    TokenOut,
    UnlockOut,
    UserIn,
    UserOut,
)
from backend.services import auth, login_limits
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["auth"])
DeviceId = Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_-]+$")


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


@router.post("/users/{username}/unlock", response_model=UnlockOut)
def unlock_user(
    username: str,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> UnlockOut:
    """Lift a sign-in lockout (the write itself is audited by the router)."""
    if auth.find_user(session, username) is None:
        raise NotFound(f"no user named {username!r}")
    return UnlockOut(username=username, cleared_attempts=login_limits.unlock(session, username))


def _device_out(device: Device, token: str | None = None) -> DeviceOut:
    return DeviceOut(
        device_id=device.id,
        name=device.name,
        kind=device.kind,
        location=device.location,
        active=device.active,
        public_key=device.public_key,
        key_id=device.key_id,
        token=token,
    )


@router.post("/devices", response_model=DeviceOut, status_code=201)
def add_device(
    body: DeviceIn,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> DeviceOut:
    device, token_ = auth.register_device(
        session, body.name, body.kind, body.location, body.public_key
    )
    return _device_out(device, token_)


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(
    device_id: str = DeviceId,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> DeviceOut:
    return _device_out(auth.revoke_device(session, device_id))


@router.put("/devices/{device_id}/public-key", response_model=DeviceOut)
def rotate_device_key(
    body: PublicKeyIn,
    device_id: str = DeviceId,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> DeviceOut:
    """A key newly made on the device replaces the old one; the old key's signatures are
    refused from now on."""
    return _device_out(auth.rotate_device_key(session, device_id, body.public_key))

"""Users, passwords (argon2id), bearer tokens (JWT, expiring) and device tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from backend import clock
from backend.crypto import Keyring
from backend.errors import Conflict, Forbidden, NotFound, Unauthorized, field_error
from backend.ledger import new_id
from backend.models import ROLES, AppUser, Device, Village
from backend.services.context import Actor

_hasher = PasswordHasher()  # argon2id, memory-hard
DEVICE_TOKEN_PREFIX = "nbd_"
DEVICE_KINDS = ("kiosk", "field")
MIN_PASSWORD_LENGTH = 8
# verified against a dummy hash when the user is unknown, so timing does not reveal names
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session, username: str, password: str, role: str, villages: list[str] | None = None
) -> AppUser:
    username = username.strip()
    if not username or len(username) > 64:
        raise field_error("username", "a user name has 1 to 64 characters")
    if role not in ROLES:
        raise field_error("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise field_error("password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    villages = villages or []
    if villages:
        known = set(session.exec(select(Village.code).where(col(Village.code).in_(villages))).all())
        unknown = sorted(set(villages) - known)
        if unknown:
            raise field_error("villages", f"unknown village codes: {', '.join(unknown)}")
    if session.exec(select(AppUser).where(AppUser.username == username)).first():
        raise Conflict(f"a user named {username!r} already exists")
    user = AppUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        villages=json.dumps(villages),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> AppUser:
    user = session.exec(select(AppUser).where(AppUser.username == username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong user name or password") from None
    if user is None or not user.active:
        raise Unauthorized("wrong user name or password")
    return user


def _jwt_secret(keyring: Keyring) -> bytes:
    return hmac.new(keyring.index_key, b"nongbao-jwt-v1", hashlib.sha256).digest()


def issue_token(keyring: Keyring, user: AppUser, ttl_minutes: int) -> tuple[str, int]:
    now = clock.now()
    claims = {
        "sub": user.username,
        "role": user.role,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(claims, _jwt_secret(keyring), algorithm="HS256"), ttl_minutes * 60


def actor_from_token(session: Session, keyring: Keyring, token: str) -> Actor:
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = session.exec(select(Device).where(Device.token_hash == _digest(token))).first()
        if device is None or not device.active:
            raise Unauthorized("unknown or revoked device token")
        role = "kiosk" if device.kind == "kiosk" else "field_device"
        return Actor(kind="device", name=device.name, role=role, device_id=device.id)
    try:
        # the expiry is checked against the product's clock, not PyJWT's own reading of the
        # wall clock, so that a process whose clock is set (tests, a training county) agrees
        # with the tokens it issued
        claims = jwt.decode(
            token,
            _jwt_secret(keyring),
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= clock.timestamp():
        raise Unauthorized("the token has expired; sign in again")
    user = session.exec(select(AppUser).where(AppUser.username == claims["sub"])).first()
    if user is None or not user.active:
        raise Unauthorized("the user of this token no longer exists or is disabled")
    return Actor(
        kind="user", name=user.username, role=user.role, villages=tuple(json.loads(user.villages))
    )


def register_device(
    session: Session, name: str, kind: str, location: str = ""
) -> tuple[Device, str]:
    if kind not in DEVICE_KINDS:
        raise field_error("kind", f"a device is a kiosk or a field device, not {kind!r}")
    if not name.strip():
        raise field_error("name", "a device needs a name")
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = Device(
        id=new_id("dev")[:40],
        name=name.strip(),
        kind=kind,
        location=location,
        token_hash=_digest(token),
    )
    session.add(device)
    session.flush()
    return device, token


def revoke_device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    device.active = False
    session.add(device)
    return device


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(actor: Actor, allowed: tuple[str, ...]) -> None:
    if actor.role not in allowed:
        raise Forbidden(f"the role {actor.role!r} may not do this (allowed: {', '.join(allowed)})")

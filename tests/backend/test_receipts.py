"""Signed receipts: genuine codes verify, anything else is `genuine: false`, offline too."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend import receipts
from tests.backend.cert_helpers import elder
from tests.backend.conftest import Api
from tests.backend.test_cli import nongbao
from tests.live import server_env

PAYLOAD = receipts.Payload(
    receipt_id="rcp_1",
    what="certification",
    on="2026-11-27",
    person="张*",
    person_hash="ab12cd34ef",
)


def _tamper_payload(code: str) -> str:
    prefix, body, sig = code.split(".")
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw["d"] = "2027-11-27"
    forged = (
        base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )
    return f"{prefix}.{forged}.{sig}"


def test_a_signed_code_is_short_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    code = receipts.sign(key, PAYLOAD)
    assert code.startswith("NB1.") and len(code) < 260  # fits a small QR code
    assert receipts.verify(key.public_key(), code) == PAYLOAD


@pytest.mark.parametrize(
    "mangle",
    [
        _tamper_payload,
        lambda c: c[:-6],  # truncated signature
        lambda c: c[: len(c) // 2],  # truncated anywhere
        lambda c: c.replace("NB1.", "NB2.", 1),  # another version
        lambda c: c + ".extra",
        lambda c: "garbage",
        lambda c: "",
        lambda c: "NB1.!!!.???",
        lambda c: "x" * 5000,
    ],
)
def test_any_altered_or_malformed_code_is_not_genuine(mangle) -> None:
    key = Ed25519PrivateKey.generate()
    assert receipts.verify(key.public_key(), mangle(receipts.sign(key, PAYLOAD))) is None


def test_a_code_signed_by_another_key_is_not_genuine() -> None:
    assert (
        receipts.verify(
            Ed25519PrivateKey.generate().public_key(),
            receipts.sign(Ed25519PrivateKey.generate(), PAYLOAD),
        )
        is None
    )


def test_verify_route_answers_200_for_anything_and_publishes_the_public_key(
    api: Api, tmp_path: Path
) -> None:
    pid = elder(api)
    code = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": pid,
            "channel": "counter",
            "certified_on": "2026-11-27",
            "evidence": "柜台",
        },
    ).json()["receipt"]["code"]
    ok = api.client.get("/api/v1/receipts/verify", params={"code": code})
    assert ok.status_code == 200 and ok.json()["genuine"] is True and ok.json()["person"] == "张*"
    for bad in (_tamper_payload(code), code[:-3], "NB1", "%%%", "x" * 20000):
        r = api.client.get("/api/v1/receipts/verify", params={"code": bad})
        assert r.status_code == 200 and r.json() == {"genuine": False}, bad[:40]
    assert api.client.get("/api/v1/receipts/verify").json() == {"genuine": False}
    pem = api.client.get("/api/v1/receipts/public-key")
    assert pem.status_code == 200 and "BEGIN PUBLIC KEY" in pem.text
    assert receipts.verify(receipts.load_public_key(pem.text), code) is not None


def test_cli_verifies_offline_with_only_the_public_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "county.pub"
    pub.write_text(receipts.public_pem(key.public_key()))
    code = receipts.sign(key, PAYLOAD)
    env = server_env("sqlite://", tmp_path)  # no database is needed: offline
    r = nongbao(["receipts", "verify", code, "--public-key", str(pub), "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "genuine": True,
        "receipt_id": "rcp_1",
        "what": "certification",
        "on": "2026-11-27",
        "person": "张*",
    }
    r = nongbao(["receipts", "verify", _tamper_payload(code), "--public-key", str(pub)], env)
    assert r.returncode == 1 and "NOT GENUINE" in r.stdout

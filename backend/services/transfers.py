"""Transfer out to another county and in from one (转移接续).

Out: an enrolled member's account closes. Every bucket's balance moves to `payout:transfers`
(code `transfer_out`) in one posting, the person is cancelled ("transferred to ..."), and a
transfer document is written: machine-readable JSON (format `nongbao-transfer/1`, with a sha256
of its canonical body, signed with the county's Ed25519 key, the one that signs receipts and
audit heads, named by `signing_key_id`) and a one-page PDF of the same facts. In: the
receiving county's `nongbao import transfer-in FILE.json [--public-key FILE]` checks the
checksum and the signature (against the key given, or a key it knows: its own, or one kept in
`<key dir>/transfer_keys/*.pem`), enrols the member (or finds them) and opens the buckets from
`source:transfer_in`, once per document. A document tampered with, unsigned, or signed by a key
other than the one given or known is refused whole.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import select

from backend import idnumber, ledger, receipts
from backend.answers_payments import TransferDocumentOut
from backend.errors import Conflict, InvalidInput, NotFound, RuleRefused, field_error
from backend.ledger import Transfer
from backend.models import BUCKETS, Person, TransferDocument
from backend.services import audit, registry
from backend.services.context import Ctx

FORMAT = "nongbao-transfer/1"
TRUSTED_KEYS_DIR = "transfer_keys"  # other counties' public keys (PEM), beside the key file
UNSIGNED = ("sha256", "signature")  # what the checksum does not cover


def key_dir(ctx: Ctx) -> Path:
    if ctx.key_dir is not None:
        return ctx.key_dir
    from backend.config import get_settings

    return get_settings().effective_key_file.parent


def signing_key(ctx: Ctx) -> Ed25519PrivateKey:
    """The county's Ed25519 key (receipts, audit heads and transfer documents)."""
    from backend.services import receipts_service

    return receipts_service.signing_key(key_dir(ctx))


def check_out_request(ctx: Ctx, person_id: str, to_county: str, reason: str) -> None:
    """What a transfer-out request must satisfy before it is proposed
    (four_eyes.propose_transfer_out)."""
    _check_out(ctx, registry.lock(ctx, person_id), to_county, reason)


def _check_out(ctx: Ctx, person: Person, to_county: str, reason: str) -> None:
    if person.status != "enrolled":
        raise RuleRefused(
            f"only an enrolled member transfers out (this person is {person.status}); "
            "a pensioner's transfer is not handled here"
        )
    if not to_county.strip() or not reason.strip():
        raise field_error("to_county", "name the receiving county and say why")


def out_summary(doc: TransferDocument) -> dict[str, Any]:
    return {
        "document_id": doc.id,
        "person_id": doc.person_id,
        "to_county": doc.county,
        "total_fen": doc.total_fen,
        "sha256": doc.sha256,
    }


def transfer_out(ctx: Ctx, person_id: str, to_county: str, reason: str) -> TransferDocument:
    person = registry.lock(ctx, person_id)
    _check_out(ctx, person, to_county, reason)
    buckets = {b: v for b, v in ledger.person_buckets(ctx.session, person_id).items() if v > 0}
    on = ctx.today
    ledger.ensure_fund_accounts(ctx.session)
    posting_id = None
    if buckets:
        posting_id = ledger.post(
            ctx.session,
            idempotency_key=f"transfer_out:{person_id}",
            operation="transfer_out",
            on=on,
            transfers=[
                Transfer(ledger.bucket_code(person_id, b), "payout:transfers", v, "transfer_out")
                for b, v in buckets.items()
            ],
            person_id=person_id,
            memo=f"transferred to {to_county.strip()}",
            created_by=ctx.actor.label,
        ).posting_id
    registry.cancel(ctx, person_id, on, f"transferred to {to_county.strip()}: {reason.strip()}")
    body = {
        "format": FORMAT,
        "from_county": ctx.policy.county,
        "to_county": to_county.strip(),
        "issued_on": on.isoformat(),
        "person": {
            "id_number": ctx.keyring.decrypt_text(person.id_number_enc, person.id),
            "name": person.name,
            "birth_date": person.birth_date.isoformat(),
            "gender": person.gender,
            "enrolled_on": person.enrolled_on.isoformat() if person.enrolled_on else None,
        },
        "buckets_fen": {b: buckets.get(b, 0) for b in BUCKETS},
        "total_fen": sum(buckets.values()),
        "posting_id": posting_id,
    }
    key = signing_key(ctx)
    body["signing_key_id"] = receipts.public_key_id(key.public_key())
    doc = _store(ctx, person_id, "out", to_county.strip(), sign(key, body))
    audit.record(
        ctx,
        "transfer.out",
        person_id,
        after={"document_id": doc.id, "to_county": doc.county, "total_fen": doc.total_fen},
    )
    return doc


def _canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def seal(body: dict[str, Any]) -> dict[str, Any]:
    """The document with its checksum: sha256 of the canonical JSON (sorted keys, no spaces,
    UTF-8) of everything but the checksum and the signature."""
    plain = {k: v for k, v in body.items() if k not in UNSIGNED}
    return {**plain, "sha256": hashlib.sha256(_canonical(plain)).hexdigest()}


def sign(key: Ed25519PrivateKey, body: dict[str, Any]) -> dict[str, Any]:
    """The sealed document signed: Ed25519 over the canonical JSON of everything but the
    signature (so the checksum and the key id are signed too), base64url without padding."""
    sealed = seal(body)
    signature = base64.urlsafe_b64encode(key.sign(_canonical(sealed))).rstrip(b"=").decode()
    return {**sealed, "signature": signature}


def _refused(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="transfer_signature")


def known_keys(ctx: Ctx) -> dict[str, Ed25519PublicKey]:
    """The public keys this county trusts, by key id: its own and those kept in
    `<key dir>/transfer_keys/` (one PEM file per county)."""
    keys = {}
    own = signing_key(ctx).public_key()
    keys[receipts.public_key_id(own)] = own
    folder = key_dir(ctx) / TRUSTED_KEYS_DIR
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            try:
                public = receipts.load_public_key(path.read_bytes())
            except (ValueError, OSError):
                continue  # not a key: it trusts nothing
            keys[receipts.public_key_id(public)] = public
    return keys


def verify_signature(ctx: Ctx, body: dict[str, Any], public_key_pem: bytes | None = None) -> str:
    """The id of the key that signed the document; refused (`transfer_signature`) when it is
    unsigned, signed by another key than the one given, by a key not known, or not genuine."""
    signature, key_id = body.get("signature"), body.get("signing_key_id")
    if not isinstance(signature, str) or not isinstance(key_id, str) or not signature:
        raise _refused("the transfer document is not signed: ask the sending county to reissue it")
    if public_key_pem is not None:
        try:
            public = receipts.load_public_key(public_key_pem)
        except ValueError as exc:
            raise _refused(f"the public key given is not an Ed25519 PEM key ({exc})") from None
        if receipts.public_key_id(public) != key_id:
            raise _refused(
                f"the document is signed by key {key_id[:16]}, not by the key given "
                f"({receipts.public_key_id(public)})"
            )
    else:
        found = known_keys(ctx).get(key_id)
        if found is None:
            raise _refused(
                f"the document is signed by key {key_id[:16]}, which this county does not know: "
                "give the sending county's public key (--public-key FILE)"
            )
        public = found
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public.verify(raw, _canonical(unsigned))
    except (InvalidSignature, binascii.Error, ValueError):
        raise _refused(
            "the document's signature does not match its content: it was altered or forged"
        ) from None
    return key_id


def _store(
    ctx: Ctx, person_id: str, direction: str, county: str, body: dict[str, Any]
) -> TransferDocument:
    sealed = body if "signature" in body else seal(body)
    doc = TransferDocument(
        id=ledger.new_id("trf")[:40],
        person_id=person_id,
        direction=direction,
        county=county[:120],
        total_fen=int(sealed["total_fen"]),
        document_enc=ctx.keyring.encrypt_text(json.dumps(sealed, ensure_ascii=False), person_id),
        sha256=sealed["sha256"],
        created_by=ctx.actor.label,
    )
    ctx.session.add(doc)
    ctx.session.flush()
    return doc


def document(ctx: Ctx, document_id: str) -> TransferDocumentOut:
    doc = ctx.session.get(TransferDocument, document_id)
    if doc is None:
        raise NotFound(f"no transfer document {document_id}")
    return TransferDocumentOut.model_validate_json(
        ctx.keyring.decrypt_text(doc.document_enc, doc.person_id)
    )


def pdf(body: TransferDocumentOut) -> bytes:
    from backend.reports.render import record_pdf

    p = body.person
    facts = [
        ("转出地 From", body.from_county),
        ("转入地 To", body.to_county),
        ("日期 Issued on", body.issued_on),
        ("姓名 Name", p.name),
        ("身份证号 ID number", p.id_number),
        ("出生日期 Birth date", p.birth_date or ""),
        *((f"账户 {b} (fen)", str(v)) for b, v in body.buckets_fen.items()),
        ("合计 Total (fen)", str(body.total_fen)),
        ("校验 sha256", body.sha256),
        ("签名密钥 Signing key", body.signing_key_id or "(unsigned)"),
        ("签名 Ed25519 signature", (body.signature or "")[:44]),
    ]
    return record_pdf("城乡居民养老保险关系转移接续 / Transfer of a pension account", facts)


# --- in ------------------------------------------------------------------------------------------


def transfer_in(
    ctx: Ctx, data: bytes, village_code: str, public_key_pem: bytes | None = None
) -> dict[str, Any]:
    try:
        return _transfer_in(ctx, data, village_code, public_key_pem)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            f"the transfer document lacks or garbles a field ({type(exc).__name__}: {exc})",
            code="transfer_malformed",
        ) from exc


def _transfer_in(
    ctx: Ctx, data: bytes, village_code: str, public_key_pem: bytes | None
) -> dict[str, Any]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("not a JSON transfer document", code="transfer_malformed") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InvalidInput(f"not a {FORMAT} document", code="transfer_malformed")
    if seal(body).get("sha256") != body.get("sha256"):
        raise InvalidInput(
            "the document's checksum does not match its content", code="transfer_checksum"
        )
    key_id = verify_signature(ctx, body, public_key_pem)
    if body["to_county"] != ctx.policy.county:
        raise RuleRefused(
            f"this document is addressed to {body['to_county']}, not {ctx.policy.county}"
        )
    if ctx.session.exec(
        select(TransferDocument).where(TransferDocument.sha256 == body["sha256"])
    ).first():
        raise Conflict("this transfer document was imported already", code="already_imported")
    buckets = {b: int(body["buckets_fen"].get(b, 0)) for b in BUCKETS}
    if any(v < 0 for v in buckets.values()) or sum(buckets.values()) != int(body["total_fen"]):
        raise InvalidInput("the buckets do not add up to the total", code="transfer_checksum")
    person = _person_for(ctx, body["person"], village_code)
    ledger.ensure_fund_accounts(ctx.session)
    on = date.fromisoformat(body["issued_on"])
    moves = [
        Transfer("source:transfer_in", ledger.bucket_code(person.id, b), v, "transfer_in")
        for b, v in buckets.items()
        if v > 0
    ]
    if moves:
        ledger.post(
            ctx.session,
            idempotency_key=f"transfer_in:{body['sha256']}",
            operation="transfer_in",
            on=on,
            transfers=moves,
            person_id=person.id,
            memo=f"transferred in from {body['from_county']}",
            created_by=ctx.actor.label,
        )
    doc = _store(ctx, person.id, "in", body["from_county"], body)
    out = {
        "person_id": person.id,
        "document_id": doc.id,
        "total_fen": doc.total_fen,
        "buckets_fen": buckets,
        "from_county": body["from_county"],
        "signing_key_id": key_id,
    }
    audit.record(ctx, "transfer.in", person.id, after=out)
    return out


def _person_for(ctx: Ctx, p: dict[str, Any], village_code: str) -> Person:
    number = idnumber.parse(str(p["id_number"])).number
    existing = ctx.session.exec(
        select(Person).where(
            Person.id_hash == ctx.keyring.lookup_hash(number), Person.status != "cancelled"
        )
    ).first()
    if existing is not None:
        return existing
    return registry.enrol(
        ctx,
        registry.Enrolment(
            id_number=number,
            name=str(p["name"]),
            village_code=village_code,
            enrolled_on=date.fromisoformat(str(p.get("enrolled_on") or ctx.today.isoformat())),
        ),
    )

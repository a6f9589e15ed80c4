"""The county's face calibrations (`nongbao faces calibrate PHOTOS --gallery K --record`).

Each records the thresholds the calibration proposed and the error rates measured on the
county's own photos. Reviewers see the last one's figures next to each face decision, so
they read what this county's matcher does, never a figure measured on someone else's faces.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from backend.ledger import new_id
from backend.models import FaceCalibration
from backend.services import audit, faces
from backend.services.context import Ctx
from biometrics.thresholds import size_class


def record(ctx: Ctx, result: dict[str, Any]) -> FaceCalibration:
    proposed = result["proposed"]
    row = FaceCalibration(
        id=new_id("cal")[:40],
        gallery_size=int(result.get("gallery") or 1),
        pass_at=float(proposed["pass_at"]),
        refer_at=float(proposed["refer_at"]),
        fmr_at_pass=result.get("fmr_at_pass"),
        fnmr_at_pass=result.get("fnmr_at_pass"),
        fmr_at_refer=result.get("fmr_at_refer"),
        fnmr_at_refer=result.get("fnmr_at_refer"),
        images=int(result.get("images") or 0),
        identities=int(result.get("identities") or 0),
        genuine_pairs=int(result.get("genuine_pairs") or 0),
        impostor_pairs=int(result.get("impostor_pairs") or 0),
        target_fmr=result.get("target_fmr"),
        source=str(result.get("source", ""))[:255],
        created_by=ctx.actor.label,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, "face.calibration", row.id, after=figures(row))
    return row


def latest(ctx: Ctx, gallery_size: int) -> FaceCalibration | None:
    """The newest calibration for the kind of decision a gallery of this size makes (one
    template, the mean of two, of three or more: `thresholds.size_class`)."""
    size = col(FaceCalibration.gallery_size)
    kind = size_class(gallery_size)
    return ctx.session.exec(
        select(FaceCalibration)
        .where(size <= 1 if kind == 1 else size == 2 if kind == 2 else size >= 3)
        .order_by(col(FaceCalibration.created_at).desc())
    ).first()


def figures(row: FaceCalibration) -> dict[str, object]:
    return {
        "calibration_id": row.id,
        "calibrated_at": row.created_at.isoformat(),
        "gallery_size": row.gallery_size,
        "pass_at": row.pass_at,
        "refer_at": row.refer_at,
        "fmr_at_pass": row.fmr_at_pass,
        "fnmr_at_pass": row.fnmr_at_pass,
        "fmr_at_refer": row.fmr_at_refer,
        "fnmr_at_refer": row.fnmr_at_refer,
        "images": row.images,
        "identities": row.identities,
        "genuine_pairs": row.genuine_pairs,
        "impostor_pairs": row.impostor_pairs,
    }


def for_decision(ctx: Ctx, person_id: str) -> dict[str, object]:
    """What a reviewer reads next to a face decision: the thresholds the county's policy
    applies to this person's gallery and, if the county calibrated, the measured figures
    (None: not calibrated, which the console says plainly)."""
    size = len(faces.gallery_of(ctx, person_id))
    applied = faces.thresholds(ctx).for_size(size)
    found = latest(ctx, size)
    return {
        "gallery_size": size,
        "pass_at": applied.pass_at,
        "refer_at": applied.refer_at,
        "measured": figures(found) if found is not None else None,
    }

"""Face enrolment and the 1:1 check at the counter."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from sqlmodel import Session

from backend.answers import FaceEnrolOut, FaceVerifyOut
from backend.api import deps
from backend.errors import InvalidInput
from backend.services import faces
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["faces"])
MAX_IMAGES = 5
# identifiers are ASCII tokens; free text may be anything but NUL (PostgreSQL refuses it in
# text, which would otherwise surface as a 500 instead of a 422)
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
TEXT_PATTERN = r"^[^\x00]*$"
PersonId = Path(max_length=40, pattern=ID_PATTERN)


def read_files(files: list[UploadFile], field: str, limit: int) -> list[bytes]:
    """Uploaded files as bytes (the body limit middleware has already bounded the total)."""
    if len(files) > limit:
        raise InvalidInput(
            f"at most {limit} files in `{field}`",
            errors=[{"field": field, "message": f"at most {limit} files"}],
            code="too_many_files",
        )
    return [f.file.read() for f in files]


# sync routes: FastAPI runs them in its thread pool, so the face engine does not block the loop
@router.post("/persons/{person_id}/face", status_code=201, response_model=FaceEnrolOut)
def enrol_face(
    request: Request,
    person_id: str = PersonId,
    images: list[UploadFile] = File(...),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> dict[str, object]:
    return faces.enrol(
        deps.ctx_for(request, session, who), person_id, read_files(images, "images", MAX_IMAGES)
    )


@router.post("/persons/{person_id}/face/verify", response_model=FaceVerifyOut)
def verify_face(
    request: Request,
    person_id: str = PersonId,
    image: UploadFile = File(...),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "reviewer")),
) -> dict[str, object]:
    return faces.verify(deps.ctx_for(request, session, who), person_id, image.file.read())

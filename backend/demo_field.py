"""Faces for the demo field worker's work list, so a demo home visit can match.

The demo enrols one public-domain face (skimage's astronaut, `demo.demo_face_png`) for the
demo resident. A field visit needs the person's enrolled template on the phone; without one
the app can only say "certify at the counter". Here every pensioner on the demo field
worker's list (due, overdue or never certified) gets that same template, sealed under their
own id like any enrolled face, so the simulated camera playing the demo face passes at any
of their homes. Written directly, not through `faces.enrol`: one face under many ID numbers
is exactly what enrolment flags as a duplicate, and this is demo data, not an enrolment.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from backend.crypto import Keyring
from backend.db import session_scope
from backend.ledger import new_id
from backend.models import FaceTemplate, Person
from backend.policy import Policy
from backend.services import faces
from backend.services.certification import PENSIONER_STATUSES
from backend.services.certification_status import latest_valid
from backend.services.context import Ctx

DEMO_FACE_BY = "demo:field-list"


def give_worklist_faces(
    engine: Engine, policy: Policy, keyring: Keyring, source_person_id: str, villages: list[str]
) -> int:
    """Copy the source person's active template to everyone on the field list who has no
    face yet; returns how many were given one."""
    with session_scope(engine) as s:
        ctx = Ctx(s, policy, keyring)
        source = faces.template_of(ctx, source_person_id)
        if source is None:
            return 0
        template = faces.template_bytes(ctx, source)
        due_by = ctx.today + timedelta(days=ctx.policy.certification.due_soon_days)
        people = s.exec(
            select(Person).where(
                col(Person.village_code).in_(villages), col(Person.status).in_(PENSIONER_STATUSES)
            )
        ).all()
        given = 0
        for p in people:
            valid = latest_valid(ctx, p.id, ctx.today)
            on_list = valid is None or valid.valid_until is None or valid.valid_until <= due_by
            if not on_list or faces.template_of(ctx, p.id) is not None:
                continue
            s.add(
                FaceTemplate(
                    id=new_id("fce")[:40],
                    person_id=p.id,
                    template_enc=faces.seal(ctx, p.id, template),
                    quality=source.quality,
                    created_by=DEMO_FACE_BY,
                )
            )
            given += 1
        s.flush()
    return given

"""The one maker-checker guard: who proposed an irreversible act may not also decide it.

Every four-eyes step (terminations and reinstatements, four-eyes requests, payroll release,
the review console's decisions) calls `require_second_person`, so the rule and its answer
(403, code `same_person_cannot_confirm`) are written once. docs/internal-control.md lists the
acts. A person is compared by their label (`user:alice`): the system actor and a device never
count as a second person for a user, and vice versa.
"""

from __future__ import annotations

from backend.errors import Forbidden
from backend.services.context import Actor

CODE = "same_person_cannot_confirm"


class SamePerson(Forbidden):
    """The one who proposed an act tried to confirm (or reject) it too."""

    def __init__(self, what: str = "this", message: str | None = None) -> None:
        super().__init__(
            message or f"four eyes: a second, different person must decide {what}", code=CODE
        )


def require_second_person(
    proposer: str | None, actor: Actor, what: str, message: str | None = None
) -> None:
    """Refuse when `actor` is the proposer (`proposer` is an actor label, as stored on the row).

    An empty proposer means nobody proposed yet; that is the caller's state error, not this one.
    """
    if proposer and proposer == actor.label:
        raise SamePerson(what, message)

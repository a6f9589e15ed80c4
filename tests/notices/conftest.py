"""Fixtures of the notices tests: the SMS gateway simulator (a real process), the API client."""

from tests.backend.conftest import api
from tests.sms_sim import sms_sim

__all__ = ["api", "sms_sim"]

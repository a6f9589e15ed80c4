"""The API fixture of the backend tests, for the reports."""

from tests.backend.conftest import api  # noqa: F401

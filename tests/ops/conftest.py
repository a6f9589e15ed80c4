from tests.backend.conftest import api  # noqa: F401

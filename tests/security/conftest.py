from tests.api.conftest import key_for  # noqa: F401 (a fixture)

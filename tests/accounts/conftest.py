from tests.identity_provider import identity_provider  # noqa: F401 (a fixture for the sign-in tests)

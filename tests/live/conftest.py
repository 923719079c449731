from tests.api.conftest import key_for  # noqa: F401 (fixture)
from tests.live.servers import _daphne_pair, live_servers  # noqa: F401 (fixtures)

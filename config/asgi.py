import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.live.auth import HeaderAuthMiddleware, origin_checked_unless_header_auth  # noqa: E402
from apps.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session first (browsers), then an Authorization header (API clients) over it.
        "websocket": origin_checked_unless_header_auth(
            AuthMiddlewareStack(HeaderAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

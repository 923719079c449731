import contextlib
import ipaddress
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402


def client_address_from_proxy(app):
    """Behind the proxy (docker/nginx.conf) the peer is the proxy: the client is the last
    address of X-Forwarded-For, which the proxy sets (replacing whatever the client sent), as
    Daphne's --proxy-headers reads it for the websockets. Audit events, sign-in limits and the
    anonymous API limit key on it. Anything that is not one address leaves REMOTE_ADDR alone."""

    def application(environ, start_response):
        last_hop = environ.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        with contextlib.suppress(ValueError):
            environ["REMOTE_ADDR"] = str(ipaddress.ip_address(last_hop))
        return app(environ, start_response)

    return application


application = (
    client_address_from_proxy(django_application) if settings.TRUST_X_FORWARDED_FOR else django_application
)

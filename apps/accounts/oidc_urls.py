"""The mozilla-django-oidc URLs (same names), answering 404 while no provider is configured."""

from django.urls import path

from apps.accounts import oidc

urlpatterns = [
    path("authenticate/", oidc.sign_in_start, name="oidc_authentication_init"),
    path("callback/", oidc.sign_in_callback, name="oidc_authentication_callback"),
]

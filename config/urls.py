from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.forms import SignInForm
from apps.accounts.oidc import SignOutView
from apps.ops.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("apps.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    # Answers 404 until an identity provider is configured (apps/accounts/oidc.py).
    path("oidc/", include("apps.accounts.oidc_urls")),
    path("oversight/", include("apps.oversight.urls")),
    path("", include("apps.inbox.urls")),
]

# The site's own pages, in its layout (templates/400.html, 403.html, 404.html, 413.html, 500.html).
handler400 = "apps.inbox.error_views.bad_request"
# 503 with Retry-After while the database is out of reach (problem+json for the API), else 500.
handler500 = "apps.core.error_views.server_error"

from django.urls import path

from apps.oversight import views

app_name = "oversight"
urlpatterns = [
    path("", views.instance_search_page, name="search"),
    path("events/", views.event_search_page, name="events"),
    path("events/export.<str:file_format>", views.event_export, name="events_export"),
    path("instances/<int:instance_id>/", views.instance_story_page, name="instance"),
    path("processes/<slug:kind>/", views.process_kind_page, name="kind"),
    path("verification/", views.verification_page, name="verification"),
    path("verification/start/", views.verification_start, name="verification_start"),
    path("verification/<int:verification_id>/", views.verification_detail, name="verification_detail"),
    path("dashboard/", views.dashboard_page, name="dashboard"),
]

from django.urls import path

from apps.inbox import views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox_home, name="home"),
]

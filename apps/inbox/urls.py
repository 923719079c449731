from django.urls import path

from apps.inbox import start_views, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox_home, name="home"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("tasks/<int:task_id>/claim/", views.task_claim, name="task_claim"),
    path("tasks/<int:task_id>/unclaim/", views.task_unclaim, name="task_unclaim"),
    path("tasks/<int:task_id>/decide/", views.task_decide, name="task_decide"),
    path("start/", start_views.start_list, name="start_list"),
    path("start/<slug:kind>/", start_views.start_form, name="start"),
]

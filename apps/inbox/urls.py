from django.urls import path

from apps.inbox import live_views, start_views, views

app_name = "inbox"
urlpatterns = [
    path("", views.inbox_home, name="home"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("tasks/<int:task_id>/claim/", views.task_claim, name="task_claim"),
    path("tasks/<int:task_id>/unclaim/", views.task_unclaim, name="task_unclaim"),
    path("tasks/<int:task_id>/decide/", views.task_decide, name="task_decide"),
    path("start/", start_views.start_list, name="start_list"),
    path("start/<slug:kind>/", start_views.start_form, name="start"),
    path("inbox/rows/<int:task_id>/", live_views.inbox_row, name="inbox_row"),
    path("inbox/counts/", live_views.inbox_counts, name="inbox_counts"),
    path("notifications/", live_views.notifications_page, name="notifications"),
    path("notifications/bell/", live_views.notifications_bell, name="notifications_bell"),
    path("notifications/read-all/", live_views.notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:notification_id>/read/", live_views.notification_read, name="notification_read"),
    path("notifications/preferences/", live_views.notification_preferences, name="notification_preferences"),
]

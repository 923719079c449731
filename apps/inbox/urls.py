from django.urls import path

from apps.inbox import live_views, start_views, views
from apps.inbox.pages import views as pages

app_name = "inbox"
urlpatterns = [
    path("", views.inbox_home, name="home"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("tasks/<int:task_id>/row/", views.task_row, name="task_row"),
    path("tasks/<int:task_id>/claim/", views.task_claim, name="task_claim"),
    path("tasks/<int:task_id>/unclaim/", views.task_unclaim, name="task_unclaim"),
    path("tasks/<int:task_id>/decide/", views.task_decide, name="task_decide"),
    path("start/", start_views.start_list, name="start_list"),
    path("start/<slug:kind>/", start_views.start_form, name="start"),
    path("inbox/counts/", live_views.inbox_counts, name="inbox_counts"),
    path("notifications/", live_views.notifications_page, name="notifications"),
    path("notifications/bell/", live_views.notifications_bell, name="notifications_bell"),
    path("notifications/read-all/", live_views.notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:notification_id>/read/", live_views.notification_read, name="notification_read"),
    path("notifications/preferences/", live_views.notification_preferences, name="notification_preferences"),
    path("tasks/bulk/", pages.tasks_bulk, name="bulk"),
    path("board/", pages.queue_board, name="board"),
    path("views/", pages.saved_views, name="saved_views"),
    path("views/<int:view_id>/edit/", pages.saved_view_edit, name="saved_view_edit"),
    path("views/<int:view_id>/delete/", pages.saved_view_remove, name="saved_view_delete"),
    path("views/<int:view_id>/default/", pages.saved_view_make_default, name="saved_view_default"),
    path("processes/<int:instance_id>/comments/", pages.instance_comment, name="instance_comment"),
    path("processes/<int:instance_id>/attachments/", pages.instance_attach, name="instance_attach"),
    path("attachments/<int:attachment_id>/", pages.attachment_download, name="attachment"),
]

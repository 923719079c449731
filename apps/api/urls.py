from django.urls import path, re_path

from apps.api.views import audit, instances, process_kinds, queues, tasks, webhooks
from apps.api.views.common import NoSuchEndpointView

app_name = "api"

# Ids are matched as any path segment and checked by the views, so a malformed id is a
# problem+json 404 like any other unknown object rather than the site's HTML one.
urlpatterns = [
    path("process-kinds/", process_kinds.ProcessKindListView.as_view(), name="process-kinds"),
    path("process-kinds/<str:name>/", process_kinds.ProcessKindDetailView.as_view(), name="process-kind"),
    path("instances/", instances.InstanceListView.as_view(), name="instances"),
    path("instances/<str:pk>/", instances.InstanceDetailView.as_view(), name="instance"),
    path("instances/<str:pk>/history/", instances.InstanceHistoryView.as_view(), name="instance-history"),
    path(
        "instances/<str:pk>/transitions/",
        instances.InstanceTransitionListView.as_view(),
        name="instance-transitions",
    ),
    path(
        "instances/<str:pk>/transitions/<str:name>/",
        instances.InstanceTransitionView.as_view(),
        name="instance-transition",
    ),
    path("tasks/", tasks.TaskListView.as_view(), name="tasks"),
    path("tasks/bulk/", tasks.TaskBulkView.as_view(), name="tasks-bulk"),
    path("tasks/<str:pk>/", tasks.TaskDetailView.as_view(), name="task"),
    path("tasks/<str:pk>/claim/", tasks.TaskClaimView.as_view(), name="task-claim"),
    path("tasks/<str:pk>/unclaim/", tasks.TaskUnclaimView.as_view(), name="task-unclaim"),
    path("tasks/<str:pk>/complete/", tasks.TaskCompleteView.as_view(), name="task-complete"),
    path("tasks/<str:pk>/reassign/", tasks.TaskReassignView.as_view(), name="task-reassign"),
    path("tasks/<str:pk>/delegate/", tasks.TaskDelegateView.as_view(), name="task-delegate"),
    path("tasks/<str:pk>/priority/", tasks.TaskPriorityView.as_view(), name="task-priority"),
    path("tasks/<str:pk>/due/", tasks.TaskDueView.as_view(), name="task-due"),
    path("queues/", queues.QueueListView.as_view(), name="queues"),
    path("audit-events/", audit.AuditEventListView.as_view(), name="audit-events"),
    path("audit-events/export/", audit.AuditEventExportView.as_view(), name="audit-events-export"),
    path("webhook-endpoints/", webhooks.WebhookEndpointListView.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<str:pk>/", webhooks.WebhookEndpointDetailView.as_view(), name="webhook-endpoint"
    ),
    path(
        "webhook-endpoints/<str:pk>/rotate-secret/",
        webhooks.WebhookSecretRotateView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<str:pk>/ping/", webhooks.WebhookPingView.as_view(), name="webhook-endpoint-ping"
    ),
    path(
        "webhook-endpoints/<str:pk>/redeliver/",
        webhooks.WebhookRedeliverRangeView.as_view(),
        name="webhook-endpoint-redeliver",
    ),
    path(
        "webhook-endpoints/<str:pk>/deliveries/",
        webhooks.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhook-endpoints/<str:pk>/deliveries/<str:delivery>/",
        webhooks.WebhookDeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhook-endpoints/<str:pk>/deliveries/<str:delivery>/redeliver/",
        webhooks.WebhookDeliveryRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
    # Anything else under /api/v1/ is a problem+json 404 too, not the site's HTML page.
    re_path(r"^.*$", NoSuchEndpointView.as_view(), name="no-such-endpoint"),
]

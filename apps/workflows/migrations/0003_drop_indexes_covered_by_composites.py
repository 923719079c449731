"""Foreign-key indexes that a composite index starting with the same column covers, dropped
(apps.core.migration_operations.index_dropped says how and why)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import index_dropped


class Migration(migrations.Migration):
    atomic = False  # index_dropped runs CONCURRENTLY on PostgreSQL
    dependencies = [
        ("workflows", "0002_search_and_dashboard_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="workflowinstance",
                    name="requester",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="requested_instances",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                index_dropped(
                    "workflows_workflowinstance_requester_id_09ef90f5",
                    table="workflows_workflowinstance",
                    column="requester_id",
                ),
            ],
        ),
    ]

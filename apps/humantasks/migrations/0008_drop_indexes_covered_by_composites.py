"""Foreign-key indexes that a composite index starting with the same column covers, dropped
(apps.core.migration_operations.index_dropped says how and why)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import index_dropped


class Migration(migrations.Migration):
    atomic = False  # index_dropped runs CONCURRENTLY on PostgreSQL
    dependencies = [
        ("humantasks", "0007_inbox_assignee_counts_title_search"),
        ("workflows", "0003_drop_indexes_covered_by_composites"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="humantask",
                    name="assignee",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assigned_tasks",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="humantask",
                    name="instance",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tasks",
                        to="workflows.workflowinstance",
                    ),
                ),
                migrations.AlterField(
                    model_name="humantask",
                    name="queue",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tasks",
                        to="humantasks.queue",
                    ),
                ),
            ],
            database_operations=[
                index_dropped(
                    "humantasks_humantask_assignee_id_71006b66",
                    table="humantasks_humantask",
                    column="assignee_id",
                ),
                index_dropped(
                    "humantasks_humantask_instance_id_3bb870ae",
                    table="humantasks_humantask",
                    column="instance_id",
                ),
                index_dropped(
                    "humantasks_humantask_queue_id_d4bfd1e8", table="humantasks_humantask", column="queue_id"
                ),
            ],
        ),
    ]

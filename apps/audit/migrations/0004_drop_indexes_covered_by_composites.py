"""Foreign-key indexes that a composite index starting with the same column covers, dropped
(apps.core.migration_operations.index_dropped says how and why)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.migration_operations import index_dropped


class Migration(migrations.Migration):
    atomic = False  # index_dropped runs CONCURRENTLY on PostgreSQL
    dependencies = [
        ("audit", "0003_search_and_dashboard_indexes"),
        ("workflows", "0003_drop_indexes_covered_by_composites"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="instance",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="workflows.workflowinstance",
                    ),
                ),
            ],
            database_operations=[
                index_dropped(
                    "audit_auditevent_actor_id_270bb4b7", table="audit_auditevent", column="actor_id"
                ),
                index_dropped(
                    "audit_auditevent_instance_id_13c67ea3", table="audit_auditevent", column="instance_id"
                ),
            ],
        ),
    ]
